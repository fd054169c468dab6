/*
 * meta/apply.c — deterministic apply of one metadata command (DESIGN §1.2-3).
 *
 * Layer: meta. apply() reads only the write transaction and the decoded
 * command: ids, timestamps and blob placement arrive inside the command, and
 * every precondition (If-Match, If-None-Match, bucket-not-empty, part lists)
 * is checked here, in the transaction that writes, before the command's
 * first write. A command that fails after writing is rolled back by the
 * caller (store.c re-applies its batch with nested transactions).
 *
 * Invariants kept in every command (store format 2 and later):
 *  - index holds an entry for a key iff its newest version is not a delete
 *    marker, and that entry is the newest version's full record; versions
 *    holds every other version of the key (so an unversioned put writes one
 *    tree, and a GET is one lookup);
 *  - at most one version per key carries META_VF_NULL;
 *  - stats equal a recount (objects/bytes from index, versions from both);
 *  - a blob that stops being referenced goes to gc in the same transaction.
 *  - the cluster map's epoch rises by one in every command that changes a
 *    map record, and only then (a same-value re-registration writes nothing).
 *
 * Versioning state machine (META_CMD_BUCKET_VERSIONING):
 *   OFF --Enabled--> ENABLED <--Enabled/Suspended--> SUSPENDED <--Suspended-- OFF
 *   nothing leads back to OFF. OFF and SUSPENDED write null versions.
 *
 * LMDB pointers are invalidated by the next write: values are decoded into
 * owned memory before any write in the same function.
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/digest.h"
#include "core/err.h"
#include "meta/meta_int.h"

struct actx {
	struct kv_txn *t;
	const struct meta_cmd *c;
	struct meta_cmd_result *res;
	struct cn_buf w;
	uint8_t kenc[KEY_ENC_MAX]; /* bucket prefix + encoded key */
	size_t kn;
	const uint8_t *fk; /* full key stored in values (long keys) */
	size_t fklen;
	struct stats_rec st;
	int versioning;
	unsigned flags;	 /* META_APPLY_* */
	int map_changed; /* a map record was written: one epoch bump */
	meta_layout_drives_fn drives;
};

static int64_t gc_due(const struct actx *a)
{
	return a->c->now + META_GC_GRACE_NS;
}

static int gc_put(struct actx *a, const uint8_t blob_id[META_ID_LEN], const uint8_t *layout,
		  size_t layout_len)
{
	uint8_t k[8 + META_ID_LEN];
	struct cn_buf w;
	int rc;

	be64_put(k, (uint64_t)gc_due(a));
	memcpy(k + 8, blob_id, META_ID_LEN);
	cn_buf_init(&w);
	rc = blobref_encode(&w, a->c->now, layout, layout_len);
	if (!rc)
		rc = kv_put(a->t, KV_GC, k, sizeof(k), w.p, w.len);
	cn_buf_release(&w);
	return rc;
}

static int gc_add(struct actx *a, const uint8_t blob_id[META_ID_LEN], const uint8_t *layout,
		  size_t layout_len)
{
	int rc = gc_put(a, blob_id, layout, layout_len);

	/* A retired blob is GC's: a healer must not write a shard of it
	 * that GC may already have deleted elsewhere (it would leak). */
	if (!rc && (rc = kv_del(a->t, KV_HEAL, blob_id, META_ID_LEN)) == CN_ENOTFOUND)
		rc = 0;
	return rc;
}

/* The command committed a blob with shards missing: record them. */
static int heal_add(struct actx *a)
{
	const struct meta_cmd *c = a->c;
	struct cn_buf w;
	int rc;

	if (!c->heal_mask)
		return 0;
	cn_buf_init(&w);
	rc = healrec_encode(&w, c->heal_mask, c->layout, c->layout_len);
	if (!rc)
		rc = kv_put(a->t, KV_HEAL, c->blob_id, META_ID_LEN, w.p, w.len);
	cn_buf_release(&w);
	return rc;
}

static int do_heal_done(struct actx *a)
{
	const struct meta_cmd *c = a->c;
	const uint8_t *v, *layout;
	size_t vlen, llen;
	uint16_t mask;
	int rc = kv_get(a->t, KV_HEAL, c->blob_id, META_ID_LEN, &v, &vlen);

	if (rc == CN_ENOTFOUND)
		return 0; /* retired meanwhile, or healed by an earlier command */
	if (rc || (rc = healrec_decode(v, vlen, &mask, &layout, &llen)) != 0)
		return rc;
	mask &= (uint16_t)~c->heal_mask;
	if (!mask)
		return kv_del(a->t, KV_HEAL, c->blob_id, META_ID_LEN);
	uint8_t copy[META_LAYOUT_MAX];
	memcpy(copy, layout, llen); /* layout points into the txn */
	cn_buf_reset(&a->w);
	rc = healrec_encode(&a->w, mask, copy, llen);
	if (!rc)
		rc = kv_put(a->t, KV_HEAL, c->blob_id, META_ID_LEN, a->w.p, a->w.len);
	return rc;
}

/* In a cluster a blob is committed only while its intent stands (see
 * META_APPLY_REPLICATED). Reads only: fails before the command writes. */
static int intent_check(struct actx *a, const uint8_t blob_id[META_ID_LEN])
{
	const uint8_t *v;
	size_t vlen;
	int rc;

	if (!(a->flags & META_APPLY_REPLICATED))
		return 0;
	rc = kv_get(a->t, KV_INTENTS, blob_id, META_ID_LEN, &v, &vlen);
	return rc == CN_ENOTFOUND ? CN_EABANDONED : rc;
}

static int intent_clear(struct actx *a, const uint8_t blob_id[META_ID_LEN])
{
	int rc = kv_del(a->t, KV_INTENTS, blob_id, META_ID_LEN);
	return rc == CN_ENOTFOUND ? 0 : rc;
}

int stats_load(struct kv_txn *t, const char *bucket, size_t blen, struct stats_rec *s)
{
	const uint8_t *v;
	size_t vlen;
	int rc = kv_get(t, KV_STATS, bucket, blen, &v, &vlen);

	memset(s, 0, sizeof(*s));
	if (rc == CN_ENOTFOUND)
		return 0;
	return rc ? rc : stats_decode(v, vlen, s);
}

static int stats_store(struct actx *a)
{
	struct cn_buf w;
	int rc;

	cn_buf_init(&w);
	rc = stats_encode(&w, &a->st);
	if (!rc)
		rc = kv_put(a->t, KV_STATS, a->c->bucket, a->c->bucket_len, w.p, w.len);
	cn_buf_release(&w);
	return rc;
}

/* Loads the bucket (versioning state, stats) or fails with CN_ENOBUCKET. */
static int bucket_open(struct actx *a)
{
	const uint8_t *v;
	size_t vlen;
	uint8_t state;
	int rc;

	if (!bucket_name_valid(a->c->bucket, a->c->bucket_len))
		return CN_ENOBUCKET;
	rc = kv_get(a->t, KV_BUCKETS, a->c->bucket, a->c->bucket_len, &v, &vlen);
	if (rc == CN_ENOTFOUND)
		return CN_ENOBUCKET;
	if (rc)
		return rc;
	/* the state only: no copy of the bucket's attrs per write */
	rc = bucket_versioning_of(v, vlen, &state);
	if (rc)
		return rc;
	a->versioning = state;
	return stats_load(a->t, a->c->bucket, a->c->bucket_len, &a->st);
}

static int key_open(struct actx *a)
{
	if (a->c->key_len < 1 || a->c->key_len > META_KEY_MAX)
		return CN_EKEYTOOLONG;
	a->kn = key_encode(a->kenc, a->c->bucket, a->c->bucket_len, (const uint8_t *)a->c->key,
			   a->c->key_len);
	a->fk = a->c->key_len > KEY_HEAD ? (const uint8_t *)a->c->key : NULL;
	a->fklen = a->fk ? a->c->key_len : 0;
	return 0;
}

/* Long keys: the value must name our key (else a 128-bit hash collision). */
static int same_key(struct actx *a, const uint8_t *v, size_t vlen)
{
	const uint8_t *fk;
	size_t fklen;

	if (!a->fk)
		return 0;
	if (val_fullkey(v, vlen, &fk, &fklen))
		return CN_ECORRUPT;
	if (fklen != a->fklen || memcmp(fk, a->fk, fklen) != 0)
		return CN_ECONFLICT;
	return 0;
}

static void vraw(struct actx *a, uint8_t *out, const uint8_t vid[META_ID_LEN])
{
	memcpy(out, a->kenc, a->kn);
	for (int i = 0; i < META_ID_LEN; i++)
		out[a->kn + i] = (uint8_t)~vid[i];
}

/* Where a key's versions live (format 2): the newest version, unless it is a
 * delete marker, is in index (its full record); every other version is in
 * versions under key + inverted id. A bucket that was never versioned (OFF)
 * keeps at most one version per key, never a marker: all in index, so its
 * commands never touch versions. */
static bool has_history(const struct actx *a)
{
	return a->versioning != META_VERSIONING_OFF;
}

/* The index entry's summary (no copy; valid until the next write).
 * CN_ENOTFOUND if the key has none. */
static int cur_peek(struct actx *a, struct idx_rec *out, const uint8_t **v, size_t *vlen)
{
	int rc = kv_get(a->t, KV_INDEX, a->kenc, a->kn, v, vlen);

	if (!rc)
		rc = same_key(a, *v, *vlen);
	if (!rc)
		rc = idx_decode_ex(*v, *vlen, out, 0);
	return rc;
}

static int cur_get(struct actx *a, struct meta_version *out)
{
	const uint8_t *v;
	size_t vlen;
	int rc = kv_get(a->t, KV_INDEX, a->kenc, a->kn, &v, &vlen);

	memset(out, 0, sizeof(*out));
	if (!rc)
		rc = same_key(a, v, vlen);
	if (!rc)
		rc = ver_decode(v, vlen, (const uint8_t *)a->c->key, a->c->key_len, out);
	return rc;
}

/* Opens c on versions at the key's newest entry there (*it), checked to be
 * this key's; CN_ENOTFOUND if it has none. The caller closes c, also on
 * error (kv_cursor_close is harmless on a cursor that failed to open). */
static int hist_first(struct actx *a, struct kv_cursor *c, struct kv_item *it)
{
	int rc = kv_cursor_open(a->t, KV_VERSIONS, c);

	if (!rc)
		rc = kv_cursor_seek(c, a->kenc, a->kn, it);
	if (!rc && (it->klen != a->kn + META_ID_LEN || memcmp(it->k, a->kenc, a->kn) != 0))
		rc = CN_ENOTFOUND;
	if (!rc)
		rc = same_key(a, it->v, it->vlen);
	return rc;
}

/* Newest version in versions (owned *out), CN_ENOTFOUND if none. */
static int hist_newest(struct actx *a, struct meta_version *out)
{
	struct kv_cursor c;
	struct kv_item it;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!has_history(a))
		return CN_ENOTFOUND;
	rc = hist_first(a, &c, &it);
	if (!rc)
		rc = ver_decode(it.v, it.vlen, (const uint8_t *)a->c->key, a->c->key_len, out);
	kv_cursor_close(&c);
	return rc;
}

/* The version with META_VF_NULL (owned *out), CN_ENOTFOUND if none;
 * *in_index says where it is. */
static int version_find_null(struct actx *a, struct meta_version *out, int *in_index)
{
	struct kv_cursor c;
	struct kv_item it;
	struct idx_rec cur;
	const uint8_t *v;
	size_t vlen;
	int rc = cur_peek(a, &cur, &v, &vlen);

	memset(out, 0, sizeof(*out));
	*in_index = 0;
	if (rc && rc != CN_ENOTFOUND)
		return rc;
	if (!rc && (cur.flags & META_VF_NULL)) {
		*in_index = 1;
		return cur_get(a, out);
	}
	if (!has_history(a))
		return CN_ENOTFOUND;
	rc = kv_cursor_open(a->t, KV_VERSIONS, &c);
	if (rc)
		return rc;
	for (rc = kv_cursor_seek(&c, a->kenc, a->kn, &it); !rc; rc = kv_cursor_next(&c, &it)) {
		if (it.klen != a->kn + META_ID_LEN || memcmp(it.k, a->kenc, a->kn) != 0) {
			rc = CN_ENOTFOUND;
			break;
		}
		rc = idx_decode_ex(it.v, it.vlen, &cur, 0);
		if (rc)
			break;
		if (!(cur.flags & META_VF_NULL))
			continue;
		rc = same_key(a, it.v, it.vlen);
		if (!rc)
			rc = ver_decode(it.v, it.vlen, (const uint8_t *)a->c->key, a->c->key_len,
					out);
		break;
	}
	kv_cursor_close(&c);
	return rc;
}

/* Version vid (owned *out) wherever it is. */
static int version_get(struct actx *a, const uint8_t vid[META_ID_LEN], struct meta_version *out,
		       int *in_index)
{
	uint8_t raw[KEY_ENC_MAX];
	struct idx_rec cur;
	const uint8_t *v;
	size_t vlen;
	int rc = cur_peek(a, &cur, &v, &vlen);

	memset(out, 0, sizeof(*out));
	*in_index = 0;
	if (rc && rc != CN_ENOTFOUND)
		return rc;
	if (!rc && memcmp(cur.vid, vid, META_ID_LEN) == 0) {
		*in_index = 1;
		return cur_get(a, out);
	}
	if (!has_history(a))
		return CN_ENOTFOUND;
	vraw(a, raw, vid);
	rc = kv_get(a->t, KV_VERSIONS, raw, a->kn + META_ID_LEN, &v, &vlen);
	if (!rc)
		rc = same_key(a, v, vlen);
	if (!rc)
		rc = ver_decode(v, vlen, (const uint8_t *)a->c->key, a->c->key_len, out);
	return rc;
}

/* Deletes version v (and its inline bytes); its blobs go to gc. The caller
 * restores the index invariant (index_fill). */
static int version_remove(struct actx *a, const struct meta_version *v, int in_index)
{
	uint8_t raw[KEY_ENC_MAX];
	int rc;

	vraw(a, raw, v->vid);
	if (in_index) {
		rc = kv_del(a->t, KV_INDEX, a->kenc, a->kn);
		a->st.objects--;
		a->st.bytes -= v->size;
	} else {
		rc = kv_del(a->t, KV_VERSIONS, raw, a->kn + META_ID_LEN);
	}
	if (rc)
		return rc;
	switch (v->loc) {
	case META_LOC_INLINE:
		if (v->inline_embedded)
			break; /* went with the record */
		rc = kv_del(a->t, KV_INLINE, raw, a->kn + META_ID_LEN);
		if (rc == CN_ENOTFOUND)
			rc = CN_ECORRUPT;
		break;
	case META_LOC_BLOB: rc = gc_add(a, v->blob_id, v->layout, v->layout_len); break;
	case META_LOC_PARTS:
		for (uint32_t i = 0; i < v->n_parts && !rc; i++)
			rc = gc_add(a, v->parts[i].blob_id, v->parts[i].layout,
				    v->parts[i].layout_len);
		break;
	default: break;
	}
	a->st.versions--;
	a->st.version_bytes -= v->size;
	return rc;
}

/* Moves the index entry (if any) into versions: a newer version is coming.
 * The raw record is moved as is (both dbs store the same format). */
static int index_demote(struct actx *a, int *had)
{
	uint8_t raw[KEY_ENC_MAX];
	struct idx_rec cur;
	const uint8_t *v;
	size_t vlen;
	int rc = cur_peek(a, &cur, &v, &vlen);

	*had = 0;
	if (rc == CN_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	*had = 1;
	cn_buf_reset(&a->w);
	cn_buf_put(&a->w, v, vlen); /* own it: the put below may move pages */
	if (a->w.err)
		return a->w.err;
	vraw(a, raw, cur.vid);
	rc = kv_put(a->t, KV_VERSIONS, raw, a->kn + META_ID_LEN, a->w.p, a->w.len);
	a->st.objects--;
	a->st.bytes -= cur.size;
	return rc;
}

/* After the index entry went away: the newest remaining version moves from
 * versions into index, unless it is a delete marker (then the key has no
 * index entry and does not list). */
static int index_fill(struct actx *a)
{
	struct kv_cursor c;
	struct kv_item it;
	struct idx_rec nv;
	const uint8_t *v;
	size_t vlen;
	int rc;

	if (!has_history(a))
		return 0;
	rc = kv_get(a->t, KV_INDEX, a->kenc, a->kn, &v, &vlen);
	if (rc != CN_ENOTFOUND)
		return rc;
	rc = hist_first(a, &c, &it);
	if (!rc)
		rc = idx_decode_ex(it.v, it.vlen, &nv, 0);
	if (!rc && !(nv.flags & META_VF_DELETE_MARKER)) {
		cn_buf_reset(&a->w);
		cn_buf_put(&a->w, it.v, it.vlen);
		rc = a->w.err;
		if (!rc)
			rc = kv_cursor_del(&c);
		if (!rc)
			rc = kv_put(a->t, KV_INDEX, a->kenc, a->kn, a->w.p, a->w.len);
		a->st.objects++;
		a->st.bytes += nv.size;
	}
	kv_cursor_close(&c);
	return rc == CN_ENOTFOUND ? 0 : rc;
}

long meta_embed_max = META_EMBED_MAX;

/* Writes v: into index if it is not a marker (the caller demoted the old
 * entry), else into versions. A small body goes into the record itself; of
 * a larger one the first few bytes may (kv_overflow_slack). */
static int version_insert(struct actx *a, struct meta_version *v, const void *inline_data)
{
	uint8_t raw[KEY_ENC_MAX];
	int marker = !!(v->flags & META_VF_DELETE_MARKER);
	int rc;

	if (v->loc == META_LOC_INLINE && meta_embed_max >= 0 &&
	    v->inline_len <= (uint64_t)meta_embed_max) {
		v->inline_embedded = 1;
		v->embed = inline_data;
		v->embed_len = (uint32_t)v->inline_len;
	} else if (v->loc == META_LOC_INLINE && meta_embed_max >= 0) {
		/* The `inline` db keeps a body bigger than a page in overflow
		 * pages, the last partly empty: a 4 KiB body took two (one
		 * 16-byte page header too many). Its first bytes go into the
		 * record when that makes the rest fill its pages exactly, so
		 * such a PUT writes a page less and the store holds one less. */
		size_t head = kv_overflow_slack(a->t->env, (size_t)v->inline_len);
		if (head && head <= (size_t)meta_embed_max) {
			v->embed = inline_data;
			v->embed_len = (uint32_t)head;
		}
	}
	vraw(a, raw, v->vid);
	cn_buf_reset(&a->w);
	rc = ver_encode(&a->w, a->fk, a->fklen, v);
	if (!rc && marker)
		rc = kv_put(a->t, KV_VERSIONS, raw, a->kn + META_ID_LEN, a->w.p, a->w.len);
	else if (!rc)
		rc = kv_put(a->t, KV_INDEX, a->kenc, a->kn, a->w.p, a->w.len);
	if (!rc && v->loc == META_LOC_INLINE && !v->inline_embedded)
		rc = kv_put(a->t, KV_INLINE, raw, a->kn + META_ID_LEN,
			    (const uint8_t *)inline_data + v->embed_len,
			    v->inline_len - v->embed_len);
	if (!marker) {
		a->st.objects++;
		a->st.bytes += v->size;
	}
	a->st.versions++;
	a->st.version_bytes += v->size;
	return rc;
}

static int check_conditions(struct actx *a)
{
	const struct meta_cmd *c = a->c;
	const uint8_t *v;
	size_t vlen;
	struct idx_rec cur;
	int rc;

	if (!(c->cond & META_COND_IF_NONE_MATCH_STAR) && !c->if_match)
		return 0;
	rc = cur_peek(a, &cur, &v, &vlen);
	if (rc && rc != CN_ENOTFOUND)
		return rc;
	if (c->cond & META_COND_IF_NONE_MATCH_ETAG) {
		/* fails only on a current version with that very ETag */
		if (!rc && c->if_match && strlen(cur.etag) == c->if_match_len &&
		    memcmp(cur.etag, c->if_match, c->if_match_len) == 0)
			return CN_EPRECOND;
		return 0;
	}
	if (!rc) {
		if (c->cond & META_COND_IF_NONE_MATCH_STAR)
			return CN_EPRECOND;
		if (c->if_match_len == 1 && c->if_match[0] == '*')
			return 0; /* If-Match: * asks only for a current version */
		if (strlen(cur.etag) != c->if_match_len ||
		    memcmp(cur.etag, c->if_match, c->if_match_len) != 0)
			return CN_EPRECOND;
		return 0;
	}
	return c->if_match ? CN_ENOKEY : 0;
}

/* 16-byte big-endian increment: the deterministic "just newer" id. */
static void id_inc(uint8_t id[META_ID_LEN])
{
	for (int i = META_ID_LEN - 1; i >= 0; i--)
		if (++id[i] != 0)
			break;
}

/* Chooses the id of a new version: the command's, or newest+1 when the
 * command's is not newer (clock skew, or reordering in the queue), so the
 * version written last is always the latest. */
static int choose_vid(struct actx *a, uint8_t out[META_ID_LEN])
{
	struct idx_rec cur;
	const uint8_t *v;
	size_t vlen;
	uint8_t newest[META_ID_LEN];
	int rc = cur_peek(a, &cur, &v, &vlen);

	memcpy(out, a->c->vid, META_ID_LEN);
	if (!rc) {
		memcpy(newest, cur.vid, META_ID_LEN);
	} else if (rc == CN_ENOTFOUND) {
		struct meta_version nv;
		rc = hist_newest(a, &nv);
		if (rc == CN_ENOTFOUND)
			return 0;
		if (rc)
			return rc;
		memcpy(newest, nv.vid, META_ID_LEN);
		meta_version_release(&nv);
	} else {
		return rc;
	}
	if (memcmp(out, newest, META_ID_LEN) <= 0) {
		memcpy(out, newest, META_ID_LEN);
		id_inc(out);
	}
	return 0;
}

/* Whether this command may remove or replace version v: not while its
 * legal hold is on or its retention is in force (GOVERNANCE yields to
 * bypass, COMPLIANCE to nothing). Time is the command's, so every replica
 * decides the same. */
static int lock_check(const struct actx *a, const struct meta_version *v)
{
	if (v->legal_hold == META_HOLD_ON)
		return CN_ELOCKED;
	if (v->lock_mode != META_LOCK_NONE && v->lock_until > a->c->now &&
	    (v->lock_mode == META_LOCK_COMPLIANCE || !a->c->lock.bypass))
		return CN_ELOCKED;
	return 0;
}

/* A new version's lock from the command: only in a bucket with object
 * lock, and a retention must end in the future. */
static int lock_from_cmd(struct actx *a, struct meta_version *v)
{
	const struct meta_cmd *c = a->c;
	int rc;

	if (!c->lock.mode && !c->lock.hold)
		return 0;
	rc = bconf_has(a->t, c->bucket, c->bucket_len, META_BCONF_OBJECT_LOCK);
	if (rc <= 0)
		return rc ? rc : CN_ELOCKNOTENABLED;
	if (c->lock.mode && c->lock.until <= c->now)
		return CN_EBADARG;
	v->lock_mode = c->lock.mode;
	v->lock_until = c->lock.until;
	v->legal_hold = c->lock.hold;
	return 0;
}

/* Writes v as the new latest version per the bucket's versioning state. */
static int put_latest(struct actx *a, struct meta_version *v, const void *inline_data)
{
	struct idx_rec cur;
	const uint8_t *cv;
	size_t cvlen;
	int rc, had = 0;

	v->flags &= META_VF_DELETE_MARKER;
	rc = cur_peek(a, &cur, &cv, &cvlen);
	if (rc && rc != CN_ENOTFOUND)
		return rc;
	if (rc == CN_ENOTFOUND && !has_history(a)) {
		/* the common case, a new key in a never-versioned bucket: no
		 * version to replace, none newer; skip the lookups below */
		v->flags |= META_VF_NULL;
		memcpy(v->vid, a->c->vid, META_ID_LEN);
		rc = version_insert(a, v, inline_data);
		goto out;
	}
	if (a->versioning != META_VERSIONING_ENABLED) {
		struct meta_version old;
		int in_index;
		rc = version_find_null(a, &old, &in_index);
		if (rc && rc != CN_ENOTFOUND)
			return rc;
		if (!rc) {
			rc = lock_check(a, &old);
			if (!rc)
				rc = version_remove(a, &old, in_index);
			meta_version_release(&old);
			if (rc)
				return rc;
		}
		v->flags |= META_VF_NULL;
	}
	rc = choose_vid(a, v->vid);
	if (!rc)
		rc = index_demote(a, &had);
	if (!rc)
		rc = version_insert(a, v, inline_data);
	if (!rc && had && (v->flags & META_VF_DELETE_MARKER))
		rc = kv_del(a->t, KV_INDEX, a->kenc, a->kn);
out:
	if (rc)
		return rc;
	memcpy(a->res->vid, v->vid, META_ID_LEN);
	if (v->flags & META_VF_NULL)
		strcpy(a->res->vid_text, "null");
	else
		meta_id_to_text(v->vid, a->res->vid_text);
	a->res->delete_marker = !!(v->flags & META_VF_DELETE_MARKER);
	return 0;
}

static int copy_etag(char out[META_ETAG_MAX + 1], const char *s, size_t len)
{
	/* tolerate surrounding quotes from a client */
	if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
		s++;
		len -= 2;
	}
	if (!etag_valid(s, len))
		return CN_EINVAL;
	memcpy(out, s, len);
	out[len] = 0;
	return 0;
}

static int do_put_version(struct actx *a)
{
	const struct meta_cmd *c = a->c;
	struct meta_version v;
	int rc;

	memset(&v, 0, sizeof(v));
	if (c->attrs_len > META_ATTRS_MAX || c->layout_len > META_LAYOUT_MAX)
		return CN_EMETATOOBIG;
	rc = copy_etag(v.etag, c->etag, c->etag_len);
	if (rc)
		return rc;
	v.mtime = c->now;
	v.size = c->size;
	v.attrs = c->attrs;
	v.attrs_len = c->attrs_len;
	v.loc = c->loc;
	switch (c->loc) {
	case META_LOC_INLINE:
		if (c->inline_len != c->size || c->inline_len > META_INLINE_MAX)
			return CN_EINVAL;
		v.inline_len = c->inline_len;
		break;
	case META_LOC_BLOB:
		memcpy(v.blob_id, c->blob_id, META_ID_LEN);
		v.layout = c->layout;
		v.layout_len = c->layout_len;
		break;
	default: return CN_EINVAL;
	}
	rc = c->loc == META_LOC_BLOB ? intent_check(a, c->blob_id) : 0;
	if (!rc)
		rc = check_conditions(a);
	if (!rc)
		rc = lock_from_cmd(a, &v);
	if (!rc)
		rc = put_latest(a, &v, c->inline_data);
	if (!rc && c->loc == META_LOC_BLOB)
		rc = intent_clear(a, c->blob_id);
	if (!rc && c->loc == META_LOC_BLOB)
		rc = heal_add(a);
	return rc;
}

static int do_delete_object(struct actx *a)
{
	const struct meta_cmd *c = a->c;
	struct meta_version v;
	int rc, in_index;

	rc = check_conditions(a);
	if (rc)
		return rc;
	if (c->has_target || c->target_null) {
		/* delete one version permanently */
		rc = c->target_null ? version_find_null(a, &v, &in_index)
				    : version_get(a, c->target_vid, &v, &in_index);
		if (rc == CN_ENOTFOUND)
			return CN_ENOVERSION;
		if (rc)
			return rc;
		rc = lock_check(a, &v);
		if (!rc)
			rc = version_remove(a, &v, in_index);
		if (!rc)
			rc = index_fill(a);
		if (!rc) {
			memcpy(a->res->vid, v.vid, META_ID_LEN);
			memcpy(a->res->vid_text, v.vid_text, META_ID_TEXT);
			a->res->delete_marker = !!(v.flags & META_VF_DELETE_MARKER);
		}
		meta_version_release(&v);
		return rc;
	}
	if (a->versioning == META_VERSIONING_OFF) {
		rc = version_find_null(a, &v, &in_index);
		if (rc == CN_ENOTFOUND)
			return 0; /* S3: deleting a missing key succeeds */
		if (rc)
			return rc;
		rc = lock_check(a, &v);
		if (!rc)
			rc = version_remove(a, &v, in_index);
		meta_version_release(&v);
		if (!rc)
			strcpy(a->res->vid_text, "");
		return rc;
	}
	/* enabled or suspended: a delete marker becomes the latest version */
	memset(&v, 0, sizeof(v));
	v.flags = META_VF_DELETE_MARKER;
	v.mtime = c->now;
	v.loc = META_LOC_NONE;
	return put_latest(a, &v, NULL);
}

static int do_bucket_create(struct actx *a)
{
	const struct meta_cmd *c = a->c;
	const uint8_t *v;
	size_t vlen;
	int rc;

	if (!bucket_name_valid(c->bucket, c->bucket_len))
		return CN_EBADBUCKETNAME;
	rc = kv_get(a->t, KV_BUCKETS, c->bucket, c->bucket_len, &v, &vlen);
	if (rc == 0)
		return CN_EBUCKETEXISTS;
	if (rc != CN_ENOTFOUND)
		return rc;
	/* a bucket created with object lock is versioned from the start */
	rc = bucket_encode(&a->w, c->now,
			   c->inline_len && bconf_packed_has(c->inline_data, c->inline_len,
							     META_BCONF_OBJECT_LOCK)
				   ? META_VERSIONING_ENABLED
				   : META_VERSIONING_OFF,
			   c->attrs, c->attrs_len);
	if (!rc)
		rc = kv_put(a->t, KV_BUCKETS, c->bucket, c->bucket_len, a->w.p, a->w.len);
	if (!rc && c->inline_len)
		rc = bconf_put_packed(a->t, c->bucket, c->bucket_len, c->inline_data,
				      c->inline_len);
	memset(&a->st, 0, sizeof(a->st));
	if (!rc)
		rc = stats_store(a);
	return rc;
}

/* Any raw key in db starting with prefix? */
static int any_with_prefix(struct kv_txn *t, enum kv_db db, const uint8_t *p, size_t plen)
{
	struct kv_cursor c;
	struct kv_item it;
	int rc = kv_cursor_open(t, db, &c);

	if (rc)
		return rc;
	rc = kv_cursor_seek(&c, p, plen, &it);
	if (rc == CN_ENOTFOUND)
		rc = 0;
	else if (!rc)
		rc = (it.klen >= plen && memcmp(it.k, p, plen) == 0) ? 1 : 0;
	kv_cursor_close(&c);
	return rc;
}

static int do_bucket_delete(struct actx *a)
{
	uint8_t bp[META_BUCKET_MAX + 2];
	size_t n = key_bucket_prefix(bp, a->c->bucket, a->c->bucket_len);
	int rc;

	/* BucketNotEmpty counts every version (markers too) and every upload */
	rc = any_with_prefix(a->t, KV_INDEX, bp, n);
	if (rc == 0)
		rc = any_with_prefix(a->t, KV_VERSIONS, bp, n);
	if (rc == 0)
		rc = any_with_prefix(a->t, KV_UPLOADS, bp, n);
	if (rc > 0)
		return CN_ENOTEMPTY;
	if (rc)
		return rc;
	rc = kv_del(a->t, KV_BUCKETS, a->c->bucket, a->c->bucket_len);
	if (!rc) {
		rc = kv_del(a->t, KV_STATS, a->c->bucket, a->c->bucket_len);
		if (rc == CN_ENOTFOUND)
			rc = 0;
	}
	if (!rc)
		rc = bconf_drop_bucket(a->t, a->c->bucket, a->c->bucket_len);
	return rc;
}

static int bucket_rewrite(struct actx *a, int versioning, int set_attrs)
{
	const struct meta_cmd *c = a->c;
	const uint8_t *v;
	size_t vlen;
	struct meta_bucket b;
	int rc;

	rc = kv_get(a->t, KV_BUCKETS, c->bucket, c->bucket_len, &v, &vlen);
	if (rc)
		return rc == CN_ENOTFOUND ? CN_ENOBUCKET : rc;
	rc = bucket_decode(v, vlen, c->bucket, c->bucket_len, &b);
	if (rc)
		return rc;
	rc = bucket_encode(&a->w, b.created,
			   (uint8_t)(versioning >= 0 ? versioning : (int)b.versioning),
			   set_attrs ? c->attrs : b.attrs, set_attrs ? c->attrs_len : b.attrs_len);
	if (!rc)
		rc = kv_put(a->t, KV_BUCKETS, c->bucket, c->bucket_len, a->w.p, a->w.len);
	meta_bucket_release(&b);
	return rc;
}

static int upload_raw(struct actx *a, uint8_t *out)
{
	memcpy(out, a->kenc, a->kn);
	memcpy(out + a->kn, a->c->upload_id, META_ID_LEN);
	return (int)(a->kn + META_ID_LEN);
}

static int upload_check(struct actx *a)
{
	uint8_t raw[KEY_ENC_MAX];
	const uint8_t *v;
	size_t vlen;
	int n = upload_raw(a, raw);
	int rc = kv_get(a->t, KV_UPLOADS, raw, (size_t)n, &v, &vlen);

	if (rc == CN_ENOTFOUND)
		return CN_ENOUPLOAD;
	if (!rc)
		rc = same_key(a, v, vlen);
	return rc == CN_ECONFLICT ? CN_ENOUPLOAD : rc;
}

static int do_upload_create(struct actx *a)
{
	uint8_t raw[KEY_ENC_MAX];
	int n = upload_raw(a, raw);
	int rc = upload_encode(&a->w, a->fk, a->fklen, a->c->upload_id, a->c->now, a->c->attrs,
			       a->c->attrs_len);

	if (!rc)
		rc = kv_put(a->t, KV_UPLOADS, raw, (size_t)n, a->w.p, a->w.len);
	return rc;
}

static void part_key(uint8_t out[META_ID_LEN + 2], const uint8_t upload_id[META_ID_LEN],
		     uint32_t part_no)
{
	memcpy(out, upload_id, META_ID_LEN);
	out[META_ID_LEN] = (uint8_t)(part_no >> 8);
	out[META_ID_LEN + 1] = (uint8_t)part_no;
}

/* Removes every part of the upload; blobs go to gc unless keep(part) says the
 * completed version now references them. */
static int parts_drop(struct actx *a, const struct meta_part_ref *keep, uint32_t n_keep)
{
	struct kv_cursor c;
	struct kv_item it;
	struct meta_part pt;
	uint8_t layout[META_LAYOUT_MAX];
	int rc = kv_cursor_open(a->t, KV_PARTS, &c);

	if (rc)
		return rc;
	for (rc = kv_cursor_seek(&c, a->c->upload_id, META_ID_LEN, &it); !rc;
	     rc = kv_cursor_seek(&c, a->c->upload_id, META_ID_LEN, &it)) {
		if (it.klen != META_ID_LEN + 2 || memcmp(it.k, a->c->upload_id, META_ID_LEN) != 0)
			break;
		rc = part_decode(it.v, it.vlen, &pt);
		if (rc)
			break;
		int kept = 0;
		for (uint32_t i = 0; i < n_keep && !kept; i++)
			kept = keep[i].part_no == pt.part_no;
		memcpy(layout, pt.layout, pt.layout_len);
		rc = kv_cursor_del(&c);
		if (!rc && !kept)
			rc = gc_add(a, pt.blob_id, layout, pt.layout_len);
		if (rc)
			break;
	}
	kv_cursor_close(&c);
	return rc == CN_ENOTFOUND ? 0 : rc;
}

static int upload_remove(struct actx *a)
{
	uint8_t raw[KEY_ENC_MAX];
	int n = upload_raw(a, raw);
	return kv_del(a->t, KV_UPLOADS, raw, (size_t)n);
}

static int do_upload_abort(struct actx *a)
{
	int rc = upload_check(a);
	if (!rc)
		rc = parts_drop(a, NULL, 0);
	if (!rc)
		rc = upload_remove(a);
	return rc;
}

static int do_part_put(struct actx *a)
{
	const struct meta_cmd *c = a->c;
	uint8_t pk[META_ID_LEN + 2];
	const uint8_t *v;
	size_t vlen;
	struct meta_part pt, old;
	int rc;

	if (c->part_no < 1 || c->part_no > META_PARTS_MAX)
		return CN_EBADARG;
	rc = upload_check(a);
	if (rc)
		return rc;
	memset(&pt, 0, sizeof(pt));
	pt.part_no = c->part_no;
	pt.size = c->size;
	rc = copy_etag(pt.etag, c->etag, c->etag_len);
	if (rc)
		return rc;
	rc = intent_check(a, c->blob_id);
	if (rc)
		return rc;
	memcpy(pt.blob_id, c->blob_id, META_ID_LEN);
	pt.layout = c->layout;
	pt.layout_len = c->layout_len;
	pt.mtime = c->now;
	/* attrs: the part's checksum (1 alg, raw bytes), opaque here */
	if (c->attrs_len) {
		if (c->attrs_len < 2 || c->attrs_len - 1 > META_PART_CK_MAX ||
		    !((const uint8_t *)c->attrs)[0])
			return CN_EBADARG;
		pt.ck_alg = ((const uint8_t *)c->attrs)[0];
		pt.ck_len = (uint8_t)(c->attrs_len - 1);
		memcpy(pt.ck, (const uint8_t *)c->attrs + 1, pt.ck_len);
	}
	part_key(pk, c->upload_id, c->part_no);
	rc = kv_get(a->t, KV_PARTS, pk, sizeof(pk), &v, &vlen);
	if (!rc) {
		uint8_t layout[META_LAYOUT_MAX];
		rc = part_decode(v, vlen, &old);
		if (rc)
			return rc;
		memcpy(layout, old.layout, old.layout_len);
		if (memcmp(old.blob_id, pt.blob_id, META_ID_LEN) != 0)
			rc = gc_add(a, old.blob_id, layout, old.layout_len);
	} else if (rc == CN_ENOTFOUND) {
		rc = 0;
	}
	if (!rc)
		rc = part_encode(&a->w, &pt);
	if (!rc)
		rc = kv_put(a->t, KV_PARTS, pk, sizeof(pk), a->w.p, a->w.len);
	if (!rc)
		rc = intent_clear(a, c->blob_id);
	if (!rc)
		rc = heal_add(a);
	return rc;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static int do_upload_complete(struct actx *a)
{
	const struct meta_cmd *c = a->c;
	uint64_t min = c->min_part_size ? c->min_part_size : 5ull << 20;
	struct meta_version v;
	struct meta_part *parts = NULL;
	uint8_t *md5s = NULL, *layouts = NULL;
	uint8_t digest[16];
	char hex[33];
	int rc;

	memset(&v, 0, sizeof(v));
	rc = upload_check(a);
	if (rc)
		return rc;
	if (c->n_parts == 0 || c->n_parts > META_PARTS_MAX)
		return CN_EBADPART;
	for (uint32_t i = 1; i < c->n_parts; i++)
		if (c->parts[i].part_no <= c->parts[i - 1].part_no)
			return CN_EBADPARTORDER;
	parts = calloc(c->n_parts, sizeof(*parts));
	md5s = malloc((size_t)c->n_parts * 16);
	size_t lcap = (size_t)c->n_parts * 64 + 64, lused = 0;
	layouts = malloc(lcap);
	if (!parts || !md5s || !layouts) {
		rc = CN_ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < c->n_parts; i++) {
		uint8_t pk[META_ID_LEN + 2];
		const uint8_t *pv;
		size_t pvlen;
		char want[META_ETAG_MAX + 1];
		if (c->parts[i].part_no < 1 || c->parts[i].part_no > META_PARTS_MAX) {
			rc = CN_EBADPART;
			goto out;
		}
		part_key(pk, c->upload_id, c->parts[i].part_no);
		rc = kv_get(a->t, KV_PARTS, pk, sizeof(pk), &pv, &pvlen);
		if (rc == CN_ENOTFOUND)
			rc = CN_EBADPART;
		if (!rc)
			rc = part_decode(pv, pvlen, &parts[i]);
		if (!rc && copy_etag(want, c->parts[i].etag, c->parts[i].etag_len))
			rc = CN_EBADPART;
		if (rc)
			goto out;
		if (strcasecmp(want, parts[i].etag) != 0 || strlen(parts[i].etag) != 32) {
			rc = CN_EBADPART;
			goto out;
		}
		if (i + 1 < c->n_parts && parts[i].size < min) {
			rc = CN_ETOOSMALL;
			goto out;
		}
		for (int j = 0; j < 16; j++) {
			int hi = hexval(parts[i].etag[2 * j]),
			    lo = hexval(parts[i].etag[2 * j + 1]);
			if (hi < 0 || lo < 0) {
				rc = CN_EBADPART;
				goto out;
			}
			md5s[16 * i + j] = (uint8_t)(hi << 4 | lo);
		}
		/* own the layout bytes: later writes invalidate LMDB pointers */
		if (lused + parts[i].layout_len > lcap) {
			size_t ncap = (lcap + parts[i].layout_len) * 2;
			uint8_t *nl = realloc(layouts, ncap);
			if (!nl) {
				rc = CN_ENOMEM;
				goto out;
			}
			layouts = nl;
			lcap = ncap;
		}
		memcpy(layouts + lused, parts[i].layout, parts[i].layout_len);
		parts[i].layout = (const uint8_t *)(uintptr_t)lused; /* offset; fixed below */
		lused += parts[i].layout_len;
		v.size += parts[i].size;
	}
	for (uint32_t i = 0; i < c->n_parts; i++) {
		parts[i].layout = layouts + (uintptr_t)parts[i].layout;
		parts[i].mtime = 0;
	}
	/* S3 multipart ETag: md5 of the concatenated binary part md5s, "-N" */
	cn_md5(md5s, (size_t)c->n_parts * 16, digest);
	cn_hex(digest, 16, hex);
	snprintf(v.etag, sizeof(v.etag), "%s-%u", hex, c->n_parts);
	v.mtime = c->now;
	v.attrs = NULL;
	v.loc = META_LOC_PARTS;
	v.parts = parts;
	v.n_parts = c->n_parts;
	{
		/* the upload's attrs become the version's attrs */
		uint8_t raw[KEY_ENC_MAX];
		const uint8_t *uv;
		size_t uvlen;
		int n = upload_raw(a, raw);
		struct meta_upload up;
		rc = kv_get(a->t, KV_UPLOADS, raw, (size_t)n, &uv, &uvlen);
		if (!rc)
			rc = upload_decode(uv, uvlen, (const uint8_t *)c->key, c->key_len, &up);
		if (rc)
			goto out;
		rc = check_conditions(a);
		if (!rc)
			rc = lock_from_cmd(a, &v);
		if (!rc) {
			/* or the ones the command brings: the upload's plus the
			 * object checksum the s3 layer derived from these parts */
			v.attrs = c->attrs_len ? c->attrs : up.attrs;
			v.attrs_len = c->attrs_len ? c->attrs_len : up.attrs_len;
			rc = put_latest(a, &v, NULL);
		}
		meta_upload_release(&up);
		if (rc)
			goto out;
	}
	rc = parts_drop(a, c->parts, c->n_parts);
	if (!rc)
		rc = upload_remove(a);
	if (!rc) {
		a->res->size = v.size;
		strcpy(a->res->etag, v.etag);
	}
out:
	free(parts);
	free(md5s);
	free(layouts);
	return rc;
}

static int node_load(struct actx *a, uint64_t id, struct meta_node *out);

#define INTENT_SHARDS_MAX 16 /* k + m of a blob (data.h: DATA_MAX_SHARDS) */

static int leaving_state(uint8_t s)
{
	return s == META_MAP_DRAINING || s == META_MAP_REMOVED;
}

/* Whether a new blob's shards stay on a node that leaves: a shard on a
 * draining or removed node, in a blob wider than the nodes left, which no
 * rebalance can re-place on distinct nodes. `cluster remove` marks the node
 * draining (new placements avoid it), then reads every blob and intent
 * committed before; an intent placed earlier but committed after comes
 * through here and is refused, so the check misses none. CN_ELEAVING, 0,
 * or an error. */
static int intent_leaving(struct actx *a)
{
	uint8_t drive[INTENT_SHARDS_MAX][META_ID_LEN];
	uint8_t k[1 + META_ID_LEN];
	const uint8_t pfx = MAP_KEY_NODE;
	struct kv_cursor cur;
	struct kv_item it;
	unsigned left = 0, leaving = 0;
	int n, rc, on = 0;

	if (!a->drives)
		return 0;
	/* the nodes left, and whether any leaves (a few records) */
	rc = kv_cursor_open(a->t, KV_MAP, &cur);
	if (rc)
		return rc;
	for (rc = kv_cursor_seek(&cur, &pfx, 1, &it); rc == 0; rc = kv_cursor_next(&cur, &it)) {
		struct meta_node nd;
		if (it.klen != 1 + 8 || it.k[0] != MAP_KEY_NODE)
			break;
		rc = node_rec_decode(it.v, it.vlen, be64_get(it.k + 1), &nd);
		if (rc)
			break;
		if (leaving_state(nd.state))
			leaving++;
		else
			left++;
	}
	kv_cursor_close(&cur);
	if (rc && rc != CN_ENOTFOUND)
		return rc;
	if (!leaving)
		return 0;
	n = a->drives(a->c->layout, a->c->layout_len, drive, INTENT_SHARDS_MAX);
	if (n < 0 || (unsigned)n <= left)
		return 0; /* fits: the rebalance moves it off (or a layout of a
			     format this build cannot judge: as before the rule) */
	for (int i = 0; i < n && i < INTENT_SHARDS_MAX && !on; i++) {
		const uint8_t *v;
		size_t vlen;
		struct meta_drive d;
		struct meta_node nd;
		k[0] = MAP_KEY_DRIVE;
		memcpy(k + 1, drive[i], META_ID_LEN);
		rc = kv_get(a->t, KV_MAP, k, sizeof(k), &v, &vlen);
		if (rc == CN_ENOTFOUND)
			continue; /* a drive the map does not know: the node's own */
		if (!rc)
			rc = drive_rec_decode(v, vlen, drive[i], &d);
		if (!rc)
			rc = node_load(a, d.node, &nd);
		if (rc == CN_ENOTFOUND)
			continue;
		if (rc)
			return rc;
		on = d.state == META_MAP_REMOVED || leaving_state(nd.state);
	}
	return on ? CN_ELEAVING : 0;
}

static int do_intent_add(struct actx *a)
{
	int rc = intent_leaving(a);
	if (rc)
		return rc;
	rc = blobref_encode(&a->w, a->c->now, a->c->layout, a->c->layout_len);
	if (!rc)
		rc = kv_put(a->t, KV_INTENTS, a->c->blob_id, META_ID_LEN, a->w.p, a->w.len);
	return rc;
}

/* A blob whose upload failed: whatever of it reached the drives is garbage
 * now, due at once (no reader can hold a version that never committed). */
static int do_intent_drop(struct actx *a)
{
	const uint8_t *v;
	size_t vlen;
	uint8_t k[8 + META_ID_LEN];
	uint8_t val[META_LAYOUT_MAX + 16];
	int rc = kv_get(a->t, KV_INTENTS, a->c->blob_id, META_ID_LEN, &v, &vlen);

	if (rc == CN_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (vlen > sizeof(val))
		return CN_ECORRUPT;
	memcpy(val, v, vlen); /* v points into the txn: copy before writing */
	be64_put(k, (uint64_t)a->c->now);
	memcpy(k + 8, a->c->blob_id, META_ID_LEN);
	rc = kv_put(a->t, KV_GC, k, sizeof(k), val, vlen);
	if (!rc)
		rc = intent_clear(a, a->c->blob_id);
	return rc;
}

/* A move rewrote shards c->heal_mask from the blob's content: they are no
 * longer missing, and the blob's heal entry (if any) names its new
 * layout, so a backfill reads the shards where they are now. */
static int heal_moved(struct actx *a)
{
	const struct meta_cmd *c = a->c;
	const uint8_t *v, *hl;
	size_t vlen, hl_len;
	uint16_t mask;
	int rc = kv_get(a->t, KV_HEAL, c->blob_id, META_ID_LEN, &v, &vlen);

	if (rc)
		return rc == CN_ENOTFOUND ? 0 : rc;
	if ((rc = healrec_decode(v, vlen, &mask, &hl, &hl_len)) != 0)
		return rc;
	mask &= (uint16_t)~c->heal_mask;
	if (!mask)
		return kv_del(a->t, KV_HEAL, c->blob_id, META_ID_LEN);
	cn_buf_reset(&a->w);
	rc = healrec_encode(&a->w, mask, c->layout, c->layout_len);
	if (!rc)
		rc = kv_put(a->t, KV_HEAL, c->blob_id, META_ID_LEN, a->w.p, a->w.len);
	return rc;
}

static const uint8_t no_upload[META_ID_LEN];

/* A move's layout is swapped: the old copies of the moved shards only
 * become garbage (the blob lives on), the heal entry follows, the move's
 * intent is done. */
static int move_done(struct actx *a)
{
	const struct meta_cmd *c = a->c;
	int rc = gc_put(a, c->blob_id, c->layout_gc, c->layout_gc_len);

	if (!rc)
		rc = heal_moved(a);
	if (!rc)
		rc = intent_clear(a, c->blob_id);
	return rc;
}

/* A BLOB_MOVE of an open upload's part: the part record takes the new
 * layout, as a version would. */
static int part_move(struct actx *a)
{
	const struct meta_cmd *c = a->c;
	uint8_t pk[META_ID_LEN + 2];
	const uint8_t *v;
	size_t vlen;
	struct meta_part pt;
	int rc = upload_check(a);

	if (rc)
		return rc == CN_ENOUPLOAD ? CN_EPRECOND : rc; /* completed or aborted */
	part_key(pk, c->upload_id, c->part_no);
	rc = kv_get(a->t, KV_PARTS, pk, sizeof(pk), &v, &vlen);
	if (rc)
		return rc == CN_ENOTFOUND ? CN_EPRECOND : rc;
	rc = part_decode(v, vlen, &pt);
	if (rc)
		return rc;
	if (memcmp(pt.blob_id, c->blob_id, META_ID_LEN) != 0 ||
	    pt.layout_len != c->layout_old_len ||
	    memcmp(pt.layout, c->layout_old, pt.layout_len) != 0)
		return CN_EPRECOND; /* uploaded again since the mover read it */
	pt.layout = c->layout;
	pt.layout_len = c->layout_len;
	cn_buf_reset(&a->w);
	rc = part_encode(&a->w, &pt); /* (copies out of the txn before the put) */
	if (!rc)
		rc = kv_put(a->t, KV_PARTS, pk, sizeof(pk), a->w.p, a->w.len);
	return rc ? rc : move_done(a);
}

/* Rebalance moved shards of a committed blob (semantics in meta.h). */
static int do_blob_move(struct actx *a)
{
	const struct meta_cmd *c = a->c;
	struct meta_version v;
	const uint8_t **lp = NULL;
	size_t *llen = NULL;
	uint8_t raw[KEY_ENC_MAX];
	int in_index, rc;

	if (!c->layout_len || !c->layout_old_len || !c->layout_gc_len)
		return CN_EINVAL;
	if ((rc = intent_check(a, c->blob_id)) != 0)
		return rc;
	if (memcmp(c->upload_id, no_upload, META_ID_LEN) != 0)
		return part_move(a);
	rc = version_get(a, c->target_vid, &v, &in_index);
	if (rc)
		return rc == CN_ENOTFOUND ? CN_EPRECOND : rc;
	if (v.loc == META_LOC_BLOB && c->part_no == 0 &&
	    memcmp(v.blob_id, c->blob_id, META_ID_LEN) == 0) {
		lp = &v.layout;
		llen = &v.layout_len;
	}
	for (uint32_t i = 0; v.loc == META_LOC_PARTS && i < v.n_parts; i++)
		if (v.parts[i].part_no == c->part_no &&
		    memcmp(v.parts[i].blob_id, c->blob_id, META_ID_LEN) == 0) {
			lp = &v.parts[i].layout;
			llen = &v.parts[i].layout_len;
		}
	if (!lp || *llen != c->layout_old_len || memcmp(*lp, c->layout_old, *llen) != 0) {
		rc = CN_EPRECOND; /* changed since the mover read it */
		goto out;
	}
	*lp = c->layout;
	*llen = c->layout_len;
	cn_buf_reset(&a->w);
	rc = ver_encode(&a->w, a->fk, a->fklen, &v);
	if (!rc && in_index) {
		rc = kv_put(a->t, KV_INDEX, a->kenc, a->kn, a->w.p, a->w.len);
	} else if (!rc) {
		vraw(a, raw, v.vid);
		rc = kv_put(a->t, KV_VERSIONS, raw, a->kn + META_ID_LEN, a->w.p, a->w.len);
	}
	if (!rc)
		rc = move_done(a);
out:
	meta_version_release(&v);
	return rc;
}

static int do_version_attrs(struct actx *a)
{
	const struct meta_cmd *c = a->c;
	struct meta_version v;
	uint8_t raw[KEY_ENC_MAX];
	int in_index, rc;

	if (c->has_target)
		rc = version_get(a, c->target_vid, &v, &in_index);
	else if (c->target_null)
		rc = version_find_null(a, &v, &in_index);
	else
		return CN_EINVAL;
	if (rc)
		return rc == CN_ENOTFOUND ? CN_ENOVERSION : rc;
	if (v.flags & META_VF_DELETE_MARKER) {
		rc = CN_EDELMARKER;
		goto out;
	}
	if (XXH64(v.attrs, v.attrs_len, 0) != c->size) {
		rc = CN_ECONFLICT; /* changed since the writer read it */
		goto out;
	}
	v.attrs = c->attrs;
	v.attrs_len = c->attrs_len;
	cn_buf_reset(&a->w);
	rc = ver_encode(&a->w, a->fk, a->fklen, &v);
	if (!rc && in_index) {
		rc = kv_put(a->t, KV_INDEX, a->kenc, a->kn, a->w.p, a->w.len);
	} else if (!rc) {
		vraw(a, raw, v.vid);
		rc = kv_put(a->t, KV_VERSIONS, raw, a->kn + META_ID_LEN, a->w.p, a->w.len);
	}
out:
	meta_version_release(&v);
	return rc;
}

/* May a retention in force (mode, until) become (nm, nu)? Keeping or
 * extending it is always allowed, and so is GOVERNANCE -> COMPLIANCE;
 * the rest (shorter, removed, COMPLIANCE -> GOVERNANCE) only for a
 * GOVERNANCE retention and with bypass. */
static int retention_change_ok(const struct actx *a, const struct meta_version *v)
{
	const struct meta_cmd *c = a->c;

	if (v->lock_mode == META_LOCK_NONE || v->lock_until <= c->now)
		return 0; /* none in force */
	if (c->lock.mode != META_LOCK_NONE && c->lock.until >= v->lock_until &&
	    c->lock.mode >= v->lock_mode)
		return 0;
	if (v->lock_mode == META_LOCK_GOVERNANCE && c->lock.bypass)
		return 0;
	return CN_ELOCKED;
}

static int do_version_lock(struct actx *a)
{
	const struct meta_cmd *c = a->c;
	struct meta_version v;
	uint8_t raw[KEY_ENC_MAX];
	int in_index, rc;

	rc = bconf_has(a->t, c->bucket, c->bucket_len, META_BCONF_OBJECT_LOCK);
	if (rc <= 0)
		return rc ? rc : CN_ELOCKNOTENABLED;
	if (c->has_target)
		rc = version_get(a, c->target_vid, &v, &in_index);
	else if (c->target_null)
		rc = version_find_null(a, &v, &in_index);
	else
		return CN_EINVAL;
	if (rc)
		return rc == CN_ENOTFOUND ? CN_ENOVERSION : rc;
	if (v.flags & META_VF_DELETE_MARKER) {
		rc = CN_EDELMARKER;
		goto out;
	}
	if (c->lock.what == META_LOCKSET_RETENTION) {
		rc = retention_change_ok(a, &v);
		if (!rc && c->lock.mode && c->lock.until <= c->now)
			rc = CN_EBADARG; /* a new date must lie ahead */
		if (rc)
			goto out;
		v.lock_mode = c->lock.mode;
		v.lock_until = c->lock.until;
	} else {
		if (c->lock.hold != META_HOLD_ON && c->lock.hold != META_HOLD_OFF) {
			rc = CN_EINVAL;
			goto out;
		}
		v.legal_hold = c->lock.hold;
	}
	cn_buf_reset(&a->w);
	rc = ver_encode(&a->w, a->fk, a->fklen, &v);
	if (!rc && in_index) {
		rc = kv_put(a->t, KV_INDEX, a->kenc, a->kn, a->w.p, a->w.len);
	} else if (!rc) {
		vraw(a, raw, v.vid);
		rc = kv_put(a->t, KV_VERSIONS, raw, a->kn + META_ID_LEN, a->w.p, a->w.len);
	}
	if (!rc) {
		memcpy(a->res->vid_text, v.vid_text, META_ID_TEXT);
		memcpy(a->res->vid, v.vid, META_ID_LEN);
	}
out:
	meta_version_release(&v);
	return rc;
}

/* A heal entry goes with its blob: only when the gc entry is that blob's
 * whole layout (a retired blob), not the old copies a move left. */
static int heal_drop_if_same(struct actx *a, const uint8_t id[META_ID_LEN], const uint8_t *gl,
			     size_t gl_len)
{
	const uint8_t *v, *hl;
	size_t vlen, hl_len;
	uint16_t mask;
	int rc = kv_get(a->t, KV_HEAL, id, META_ID_LEN, &v, &vlen);

	if (rc)
		return rc == CN_ENOTFOUND ? 0 : rc;
	if (healrec_decode(v, vlen, &mask, &hl, &hl_len) != 0 ||
	    (hl_len == gl_len && memcmp(hl, gl, gl_len) == 0))
		return kv_del(a->t, KV_HEAL, id, META_ID_LEN);
	return 0;
}

static int do_gc_done(struct actx *a)
{
	for (uint32_t i = 0; i < a->c->n_gc; i++) {
		uint8_t k[8 + META_ID_LEN], lay[META_LAYOUT_MAX];
		const uint8_t *v, *l;
		size_t vlen, llen = 0;
		int64_t created;
		int rc;

		be64_put(k, (uint64_t)a->c->gc[i].due);
		memcpy(k + 8, a->c->gc[i].blob_id, META_ID_LEN);
		rc = kv_get(a->t, KV_GC, k, sizeof(k), &v, &vlen);
		if (rc == CN_ENOTFOUND)
			continue;
		if (rc)
			return rc;
		if (blobref_decode(v, vlen, &created, &l, &llen) == 0 && llen <= sizeof(lay))
			memcpy(lay, l, llen); /* v points into the txn */
		else
			llen = 0;
		rc = kv_del(a->t, KV_GC, k, sizeof(k));
		if (!rc)
			rc = heal_drop_if_same(a, a->c->gc[i].blob_id, lay, llen);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- cluster map (semantics in meta.h) ---- */

static int map_epoch_bump(struct actx *a)
{
	const uint8_t *v;
	size_t vlen;
	uint64_t epoch = 0;
	int rc = kv_get(a->t, KV_MAP, MAP_KEY_EPOCH, sizeof(MAP_KEY_EPOCH) - 1, &v, &vlen);

	if (rc == 0)
		rc = epoch_rec_decode(v, vlen, &epoch);
	else if (rc == CN_ENOTFOUND)
		rc = 0;
	if (rc)
		return rc;
	cn_buf_reset(&a->w);
	rc = epoch_rec_encode(&a->w, epoch + 1);
	if (!rc)
		rc = kv_put(a->t, KV_MAP, MAP_KEY_EPOCH, sizeof(MAP_KEY_EPOCH) - 1, a->w.p,
			    a->w.len);
	return rc;
}

/* Writes the record encoded in a->w under k unless the stored value is the
 * same bytes (then nothing changes, the epoch included). */
static int map_put(struct actx *a, const uint8_t *k, size_t klen)
{
	const uint8_t *v;
	size_t vlen;
	int rc = kv_get(a->t, KV_MAP, k, klen, &v, &vlen);

	if (rc == 0 && vlen == a->w.len && memcmp(v, a->w.p, vlen) == 0)
		return 0;
	if (rc && rc != CN_ENOTFOUND)
		return rc;
	rc = kv_put(a->t, KV_MAP, k, klen, a->w.p, a->w.len);
	if (!rc)
		a->map_changed = 1; /* one epoch per command: meta_apply bumps it */
	return rc;
}

static void node_key(uint8_t k[9], uint64_t id)
{
	k[0] = MAP_KEY_NODE;
	be64_put(k + 1, id);
}

/* The stored node (CN_ENOTFOUND if none). */
static int node_load(struct actx *a, uint64_t id, struct meta_node *out)
{
	uint8_t k[9];
	const uint8_t *v;
	size_t vlen;
	int rc;

	node_key(k, id);
	rc = kv_get(a->t, KV_MAP, k, sizeof(k), &v, &vlen);
	return rc ? rc : node_rec_decode(v, vlen, id, out);
}

/* Self-registration keeps what the operator set: weight and draining. */
static uint8_t self_state(uint8_t old, uint8_t asked)
{
	return old == META_MAP_DRAINING ? old : asked;
}

/* A node that is removed takes its drives with it, in the same command:
 * no drive registration can land in between (a removed node's drives are
 * refused from then on). */
static int drives_remove_of(struct actx *a, uint64_t node)
{
	struct drv {
		uint8_t k[1 + META_ID_LEN];
		struct meta_drive d;
	} *v = NULL, *nv;
	size_t n = 0, cap = 0;
	struct kv_cursor cur;
	struct kv_item it;
	const uint8_t pfx = MAP_KEY_DRIVE;
	int rc;

	rc = kv_cursor_open(a->t, KV_MAP, &cur);
	if (rc)
		return rc;
	for (rc = kv_cursor_seek(&cur, &pfx, 1, &it); rc == 0; rc = kv_cursor_next(&cur, &it)) {
		struct meta_drive d;
		if (it.klen != 1 + META_ID_LEN || it.k[0] != MAP_KEY_DRIVE)
			break;
		rc = drive_rec_decode(it.v, it.vlen, it.k + 1, &d);
		if (rc)
			break;
		if (d.node != node || d.state == META_MAP_REMOVED)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 8;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				rc = CN_ENOMEM;
				break;
			}
			v = nv;
		}
		memcpy(v[n].k, it.k, sizeof(v[n].k));
		v[n++].d = d;
	}
	kv_cursor_close(&cur);
	if (rc == CN_ENOTFOUND)
		rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		v[i].d.state = META_MAP_REMOVED;
		cn_buf_reset(&a->w);
		rc = drive_rec_encode(&a->w, &v[i].d);
		if (!rc)
			rc = map_put(a, v[i].k, sizeof(v[i].k));
	}
	free(v);
	return rc;
}

static int do_node_set(struct actx *a)
{
	const struct meta_cmd *c = a->c;
	struct meta_node n = c->node, old;
	uint8_t k[9];
	int self = !!(c->map_flags & META_MAP_SELF);
	int rc;

	if (n.id == 0 || (self && n.state != META_MAP_UP && n.state != META_MAP_DOWN))
		return CN_EBADARG;
	rc = node_load(a, n.id, &old);
	if (rc == 0 && old.state == META_MAP_REMOVED)
		return CN_EREMOVED;
	if (rc == 0 && self) {
		n.weight = old.weight;
		n.state = self_state(old.state, n.state);
	} else if (rc != CN_ENOTFOUND && rc) {
		return rc;
	}
	node_key(k, n.id);
	cn_buf_reset(&a->w);
	rc = node_rec_encode(&a->w, &n);
	if (!rc)
		rc = map_put(a, k, sizeof(k));
	if (!rc && n.state == META_MAP_REMOVED)
		rc = drives_remove_of(a, n.id);
	return rc;
}

static int do_drive_set(struct actx *a)
{
	const struct meta_cmd *c = a->c;
	struct meta_drive d = c->drive, old;
	struct meta_node owner;
	uint8_t k[1 + META_ID_LEN];
	const uint8_t *v;
	size_t vlen;
	int self = !!(c->map_flags & META_MAP_SELF);
	int rc;

	if (self && d.state != META_MAP_UP && d.state != META_MAP_DOWN)
		return CN_EBADARG;
	rc = d.node ? node_load(a, d.node, &owner) : CN_ENOTFOUND;
	if (rc == CN_ENOTFOUND)
		return CN_EBADARG; /* a drive belongs to a node of the map */
	if (rc)
		return rc;
	if (owner.state == META_MAP_REMOVED)
		return CN_EREMOVED;
	k[0] = MAP_KEY_DRIVE;
	memcpy(k + 1, d.id, META_ID_LEN);
	rc = kv_get(a->t, KV_MAP, k, sizeof(k), &v, &vlen);
	if (rc == 0)
		rc = drive_rec_decode(v, vlen, d.id, &old);
	if (rc == 0 && old.state == META_MAP_REMOVED)
		return CN_EREMOVED;
	if (rc == 0 && self) {
		d.weight = old.weight;
		d.state = self_state(old.state, d.state);
		if (d.capacity == 0)
			d.capacity = old.capacity; /* unknown now (drive offline) */
	} else if (rc != CN_ENOTFOUND && rc) {
		return rc;
	}
	cn_buf_reset(&a->w);
	rc = drive_rec_encode(&a->w, &d);
	return rc ? rc : map_put(a, k, sizeof(k));
}

/* Settings live in the system db as "setting:<name>". */
static int do_setting(struct actx *a)
{
	const struct meta_cmd *c = a->c;
	char k[8 + META_SETTING_NAME_MAX];

	if (!c->key_len || c->key_len > META_SETTING_NAME_MAX)
		return CN_EBADARG;
	for (size_t i = 0; i < c->key_len; i++) {
		char ch = c->key[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' ||
		      ch == '_' || ch == '-'))
			return CN_EBADARG;
	}
	if (c->attrs_len > META_SETTING_MAX)
		return CN_EMETATOOBIG;
	memcpy(k, "setting:", 8);
	memcpy(k + 8, c->key, c->key_len);
	if (!c->attrs_len) {
		int rc = kv_del(a->t, KV_SYSTEM, k, 8 + c->key_len);
		return rc == CN_ENOTFOUND ? 0 : rc;
	}
	return kv_put(a->t, KV_SYSTEM, k, 8 + c->key_len, c->attrs, c->attrs_len);
}

int meta_apply(struct kv_txn *t, const struct meta_cmd *c, struct meta_cmd_result *res,
	       struct cn_buf *scratch, unsigned flags, meta_layout_drives_fn drives)
{
	struct actx a;
	int rc;

	memset(&a, 0, sizeof(a));
	memset(res, 0, sizeof(*res));
	a.t = t;
	a.c = c;
	a.res = res;
	a.flags = flags;
	a.drives = drives;
	a.w = *scratch; /* borrowed; handed back below */
	cn_buf_reset(&a.w);
	switch (c->type) {
	case META_CMD_BUCKET_CREATE: rc = do_bucket_create(&a); break;
	case META_CMD_BUCKET_DELETE:
		rc = bucket_open(&a);
		if (!rc)
			rc = do_bucket_delete(&a);
		break;
	case META_CMD_BUCKET_VERSIONING:
		if (c->versioning != META_VERSIONING_ENABLED &&
		    c->versioning != META_VERSIONING_SUSPENDED)
			rc = CN_EBADARG; /* never back to unversioned */
		else if (c->versioning == META_VERSIONING_SUSPENDED &&
			 (rc = bconf_has(t, c->bucket, c->bucket_len, META_BCONF_OBJECT_LOCK)) != 0)
			rc = rc > 0 ? CN_EBUCKETSTATE : rc; /* object lock keeps it versioned */
		else
			rc = bucket_rewrite(&a, c->versioning, 0);
		break;
	case META_CMD_BUCKET_SET_ATTRS:
		rc = c->attrs_len > META_ATTRS_MAX ? CN_EMETATOOBIG : bucket_rewrite(&a, -1, 1);
		break;
	case META_CMD_PUT_VERSION:
	case META_CMD_DELETE_OBJECT:
	case META_CMD_UPLOAD_CREATE:
	case META_CMD_UPLOAD_ABORT:
	case META_CMD_PART_PUT:
	case META_CMD_UPLOAD_COMPLETE:
	case META_CMD_BLOB_MOVE:
	case META_CMD_VERSION_ATTRS:
	case META_CMD_VERSION_LOCK:
		rc = bucket_open(&a);
		if (!rc)
			rc = key_open(&a);
		if (rc)
			break;
		if (c->type == META_CMD_PUT_VERSION)
			rc = do_put_version(&a);
		else if (c->type == META_CMD_DELETE_OBJECT)
			rc = do_delete_object(&a);
		else if (c->type == META_CMD_UPLOAD_CREATE)
			rc = do_upload_create(&a);
		else if (c->type == META_CMD_UPLOAD_ABORT)
			rc = do_upload_abort(&a);
		else if (c->type == META_CMD_PART_PUT)
			rc = do_part_put(&a);
		else if (c->type == META_CMD_BLOB_MOVE)
			rc = do_blob_move(&a);
		else if (c->type == META_CMD_VERSION_ATTRS)
			rc = do_version_attrs(&a);
		else if (c->type == META_CMD_VERSION_LOCK)
			rc = do_version_lock(&a);
		else
			rc = do_upload_complete(&a);
		if (!rc)
			rc = stats_store(&a);
		break;
	case META_CMD_INTENT_ADD: rc = do_intent_add(&a); break;
	case META_CMD_GC_DONE: rc = do_gc_done(&a); break;
	case META_CMD_HEAL_DONE: rc = do_heal_done(&a); break;
	case META_CMD_INTENT_DROP: rc = do_intent_drop(&a); break;
	case META_CMD_SETTING: rc = do_setting(&a); break;
	case META_CMD_IAM: rc = iam_apply(t, c, &a.w); break;
	case META_CMD_BUCKET_CONF: rc = bconf_apply(t, c); break;
	case META_CMD_NODE_SET:
	case META_CMD_DRIVE_SET:
		rc = c->type == META_CMD_NODE_SET ? do_node_set(&a) : do_drive_set(&a);
		if (!rc && a.map_changed)
			rc = map_epoch_bump(&a);
		break;
	default: rc = CN_EINVAL; break;
	}
	*scratch = a.w;
	return rc;
}

int meta_intents_to_gc(struct kv_txn *t, int64_t now, uint64_t *n)
{
	struct kv_cursor c;
	struct kv_item it;
	int rc = kv_cursor_open(t, KV_INTENTS, &c);

	*n = 0;
	if (rc)
		return rc;
	for (rc = kv_cursor_seek(&c, NULL, 0, &it); !rc; rc = kv_cursor_seek(&c, NULL, 0, &it)) {
		uint8_t k[8 + META_ID_LEN];
		uint8_t val[META_LAYOUT_MAX + 16];
		size_t vlen = it.vlen;
		if (it.klen != META_ID_LEN || vlen > sizeof(val)) {
			rc = CN_ECORRUPT;
			break;
		}
		be64_put(k, (uint64_t)now);
		memcpy(k + 8, it.k, META_ID_LEN);
		memcpy(val, it.v, vlen);
		rc = kv_cursor_del(&c);
		if (!rc)
			rc = kv_put(t, KV_GC, k, sizeof(k), val, vlen);
		if (rc)
			break;
		(*n)++;
	}
	kv_cursor_close(&c);
	return rc == CN_ENOTFOUND ? 0 : rc;
}
