/*
 * meta/read.c — reads and S3 listings (DESIGN §4 "Listing").
 *
 * Layer: meta. Every call runs in one short read transaction (MDB_NOTLS, so
 * any thread) and copies what it returns into owned memory before the
 * transaction ends: no read transaction outlives a call, so LMDB can reuse
 * freed pages. Listings walk the logical cursor from max(prefix, start); with
 * a delimiter, a key that has the delimiter after the prefix yields a common
 * prefix and the cursor seeks past every key under it, so a page costs about
 * one cursor step or seek per result.
 *
 * Continuation token (ListObjectsV2), version 1: base64 of
 *   OFFSET SIZE  MEANING
 *   0      1     token version (1)
 *   1      n     last key or common prefix returned (exclusive start)
 * Stable under concurrent writes: it names a position, not an entry.
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/digest.h"
#include "core/err.h"

#include "meta/meta_int.h"

#define LIST_MAX 1000

static int rtxn(struct meta_store *s, struct kv_txn *t)
{
	return kv_read_begin(meta_store_env(s), t);
}

static int bucket_exists(struct kv_txn *t, const char *bucket, size_t blen)
{
	const uint8_t *v;
	size_t vlen;
	int rc;

	if (!bucket_name_valid(bucket, blen))
		return CN_ENOBUCKET;
	rc = kv_get(t, KV_BUCKETS, bucket, blen, &v, &vlen);
	return rc == CN_ENOTFOUND ? CN_ENOBUCKET : rc;
}

static bool fullkey_is(const uint8_t *v, size_t vlen, const char *key, size_t klen)
{
	const uint8_t *fk;
	size_t fklen;

	if (klen <= KEY_HEAD)
		return true;
	return val_fullkey(v, vlen, &fk, &fklen) == 0 && fklen == klen &&
	       memcmp(fk, key, klen) == 0;
}

/* ---- objects ---- */

/* The part of v's inline body outside its record, which holds the first
 * v->embed_len bytes (all of them when inline_embedded): none, or its
 * `inline` db value (key raw), which must make up the rest. */
static int inline_rest(struct kv_txn *t, const uint8_t *raw, size_t rawlen,
		       const struct meta_version *v, const uint8_t **rest, size_t *n)
{
	int rc;

	*rest = NULL;
	*n = 0;
	if (v->inline_embedded)
		return 0;
	rc = kv_get(t, KV_INLINE, raw, rawlen, rest, n);
	if (!rc && v->embed_len + *n != v->inline_len)
		rc = CN_ECORRUPT;
	return rc;
}

/* Copies v's inline body (its head in the record, then rest) into out. */
static void inline_join(const struct meta_version *v, const uint8_t *rest, size_t n, uint8_t *out)
{
	if (v->embed_len)
		memcpy(out, v->embed, v->embed_len);
	if (n)
		memcpy(out + v->embed_len, rest, n);
}

/* In versions (format 2: every version but the index entry), the version of
 * key wanted: vid want, the null one (want NULL, want_null), or the newest.
 * *first: it is the newest entry there. CN_ENOTFOUND if none. */
static int hist_find(struct kv_txn *t, const uint8_t *kenc, size_t kn, const char *key,
		     size_t key_len, const uint8_t *want, int want_null, const uint8_t **v,
		     size_t *vlen, int *first)
{
	uint8_t raw[KEY_ENC_MAX];
	struct kv_cursor c;
	struct kv_item it;
	int rc = kv_cursor_open(t, KV_VERSIONS, &c);

	*first = 1;
	if (rc)
		return rc;
	for (rc = kv_cursor_seek(&c, kenc, kn, &it); !rc; rc = kv_cursor_next(&c, &it)) {
		if (it.klen != kn + META_ID_LEN || memcmp(it.k, kenc, kn) != 0) {
			rc = CN_ENOTFOUND;
			break;
		}
		if (!fullkey_is(it.v, it.vlen, key, key_len))
			continue; /* a colliding long key's version; never in practice */
		if (want) {
			/* one lookup: is it the newest, then seek to it */
			memcpy(raw, kenc, kn);
			for (int i = 0; i < META_ID_LEN; i++)
				raw[kn + i] = (uint8_t)~want[i];
			*first = memcmp(it.k, raw, kn + META_ID_LEN) == 0;
			rc = kv_cursor_seek(&c, raw, kn + META_ID_LEN, &it);
			if (!rc &&
			    (it.klen != kn + META_ID_LEN || memcmp(it.k, raw, it.klen) != 0 ||
			     !fullkey_is(it.v, it.vlen, key, key_len)))
				rc = CN_ENOTFOUND;
			break;
		}
		if (want_null) {
			struct idx_rec sum;
			rc = idx_decode_ex(it.v, it.vlen, &sum, 0);
			if (rc || (sum.flags & META_VF_NULL))
				break;
			*first = 0;
			continue;
		}
		break;
	}
	if (!rc) {
		*v = it.v;
		*vlen = it.vlen;
	}
	kv_cursor_close(&c);
	return rc;
}

int meta_object_get(struct meta_store *s, const char *bucket, const char *key, size_t key_len,
		    const char *vid, unsigned flags, struct meta_version *out)
{
	size_t blen = strlen(bucket);
	uint8_t kenc[KEY_ENC_MAX];
	uint8_t want[META_ID_LEN];
	int want_null = 0, have_vid = 0, latest = 0, found = 0, in_index = 0, rc;
	const uint8_t *v = NULL;
	size_t vlen = 0;
	struct kv_txn t;
	size_t kn;

	memset(out, 0, sizeof(*out));
	if (key_len < 1 || key_len > META_KEY_MAX)
		return key_len ? CN_EKEYTOOLONG : CN_ENOKEY;
	/* No bucket has a longer name; the key encoding's buffer is sized on
	 * that bound (this lookup skips the bucket record, see below). */
	if (blen == 0 || blen > META_BUCKET_MAX)
		return CN_ENOBUCKET;
	if (vid && vid[0]) {
		if (strcmp(vid, "null") == 0)
			want_null = 1;
		else if (meta_id_from_text(vid, strlen(vid), want))
			return CN_EBADVERSIONID;
		have_vid = !want_null;
	}
	rc = rtxn(s, &t);
	if (rc)
		return rc;
	/* The bucket is only looked up when no version is found: a version
	 * cannot outlive its bucket (delete requires an empty bucket), and one
	 * read transaction sees one snapshot. Saves a B-tree walk per GET. */
	kn = key_encode(kenc, bucket, blen, (const uint8_t *)key, key_len);
	rc = kv_get(&t, KV_INDEX, kenc, kn, &v, &vlen);
	if (!rc && fullkey_is(v, vlen, key, key_len)) {
		struct idx_rec sum;
		in_index = 1;
		if (have_vid || want_null) {
			rc = idx_decode_ex(v, vlen, &sum, 0);
			found = !rc && ((have_vid && memcmp(sum.vid, want, META_ID_LEN) == 0) ||
					(want_null && (sum.flags & META_VF_NULL)));
		} else {
			found = 1; /* the common GET: one lookup, one decode */
		}
		latest = found;
	} else if (!rc || rc == CN_ENOTFOUND) {
		rc = 0;
	}
	if (!rc && !found && (have_vid || want_null || !in_index)) {
		/* an older version, or the newest when it is a delete marker */
		int first;
		rc = hist_find(&t, kenc, kn, key, key_len, have_vid ? want : NULL, want_null, &v,
			       &vlen, &first);
		found = !rc;
		latest = found && first && !in_index;
		if (rc == CN_ENOTFOUND)
			rc = 0;
	}
	if (!rc && found)
		rc = ver_decode(v, vlen, (const uint8_t *)key, key_len, out);
	if (!rc && found && latest)
		out->flags |= META_VF_LATEST;
	if (!rc && found && (flags & META_GET_VSTATE) && (out->flags & META_VF_NULL)) {
		uint8_t state;
		rc = kv_get(&t, KV_BUCKETS, bucket, blen, &v, &vlen);
		if (!rc)
			rc = bucket_versioning_of(v, vlen, &state);
		if (!rc && state != META_VERSIONING_OFF)
			out->flags |= META_VF_VERSIONED;
		if (rc == CN_ENOTFOUND)
			rc = CN_ECORRUPT; /* a version outlived its bucket */
	}
	if (!rc && found && out->loc == META_LOC_INLINE && (flags & META_GET_INLINE)) {
		uint8_t raw[KEY_ENC_MAX];
		const uint8_t *rest;
		size_t n;
		memcpy(raw, kenc, kn);
		for (int i = 0; i < META_ID_LEN; i++)
			raw[kn + i] = (uint8_t)~out->vid[i];
		rc = inline_rest(&t, raw, kn + META_ID_LEN, out, &rest, &n);
		if (rc == CN_ENOTFOUND)
			rc = CN_ECORRUPT;
		if (!rc) {
			uint8_t *copy = malloc(out->inline_len ? (size_t)out->inline_len : 1);
			if (!copy)
				rc = CN_ENOMEM;
			else
				inline_join(out, rest, n, copy);
			out->inline_data = copy;
		}
	}
	if (rc) {
		meta_version_release(out);
		goto out;
	}
	if (!found) {
		rc = bucket_exists(&t, bucket, blen);
		if (!rc)
			rc = (have_vid || want_null) ? CN_ENOVERSION : CN_ENOKEY;
		goto out;
	}
	if (out->flags & META_VF_DELETE_MARKER) {
		/* report the marker (flags, id, mtime) but own nothing */
		uint32_t fl = out->flags;
		int64_t mt = out->mtime;
		uint8_t vb[META_ID_LEN];
		char vt[META_ID_TEXT];
		memcpy(vb, out->vid, sizeof(vb));
		memcpy(vt, out->vid_text, sizeof(vt));
		meta_version_release(out);
		out->flags = fl;
		out->mtime = mt;
		memcpy(out->vid, vb, sizeof(vb));
		memcpy(out->vid_text, vt, sizeof(vt));
		rc = (have_vid || want_null) ? CN_EDELMARKER : CN_ENOKEY;
	}
out:
	kv_read_end(&t);
	return rc;
}

int meta_object_read_inline(struct meta_store *s, const char *bucket, const char *key,
			    size_t key_len, const uint8_t vid[META_ID_LEN], void *buf, size_t cap,
			    size_t *len)
{
	uint8_t raw[KEY_ENC_MAX];
	const uint8_t *v;
	size_t vlen, kn;
	struct kv_txn t;
	struct meta_version mv;
	int rc;

	*len = 0;
	memset(&mv, 0, sizeof(mv));
	if (key_len < 1 || key_len > META_KEY_MAX || !bucket_name_valid(bucket, strlen(bucket)))
		return CN_ENOVERSION;
	kn = key_encode(raw, bucket, strlen(bucket), (const uint8_t *)key, key_len);
	rc = rtxn(s, &t);
	if (rc)
		return rc;
	/* the version must still exist (in index or versions) and name the key
	 * (long keys share a hash slot) */
	rc = kv_get(&t, KV_INDEX, raw, kn, &v, &vlen);
	if (!rc) {
		struct idx_rec sum;
		rc = idx_decode_ex(v, vlen, &sum, 0);
		if (!rc &&
		    (memcmp(sum.vid, vid, META_ID_LEN) != 0 || !fullkey_is(v, vlen, key, key_len)))
			rc = CN_ENOTFOUND;
	}
	for (int i = 0; i < META_ID_LEN; i++)
		raw[kn + i] = (uint8_t)~vid[i];
	if (rc == CN_ENOTFOUND) {
		rc = kv_get(&t, KV_VERSIONS, raw, kn + META_ID_LEN, &v, &vlen);
		if (!rc && !fullkey_is(v, vlen, key, key_len))
			rc = CN_ENOTFOUND;
	}
	if (!rc)
		rc = ver_decode(v, vlen, (const uint8_t *)key, key_len, &mv);
	if (!rc && mv.loc != META_LOC_INLINE)
		rc = CN_ENOTFOUND;
	if (!rc)
		rc = inline_rest(&t, raw, kn + META_ID_LEN, &mv, &v, &vlen);
	if (rc == CN_ENOTFOUND)
		rc = CN_ENOVERSION;
	if (!rc && mv.inline_len > cap)
		rc = CN_ETOOBIG;
	if (!rc) {
		inline_join(&mv, v, vlen, buf);
		*len = (size_t)mv.inline_len;
	}
	meta_version_release(&mv);
	kv_read_end(&t);
	return rc;
}

/* ---- buckets, uploads, stats ---- */

int meta_bucket_get(struct meta_store *s, const char *bucket, struct meta_bucket *out)
{
	size_t blen = strlen(bucket);
	const uint8_t *v;
	size_t vlen;
	struct kv_txn t;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!bucket_name_valid(bucket, blen))
		return CN_ENOBUCKET;
	rc = rtxn(s, &t);
	if (rc)
		return rc;
	rc = kv_get(&t, KV_BUCKETS, bucket, blen, &v, &vlen);
	if (rc == CN_ENOTFOUND)
		rc = CN_ENOBUCKET;
	if (!rc)
		rc = bucket_decode(v, vlen, bucket, blen, out);
	kv_read_end(&t);
	return rc;
}

int meta_bucket_list(struct meta_store *s, struct meta_bucket **out, size_t *n)
{
	struct kv_txn t;
	struct kv_cursor c;
	struct kv_item it;
	struct meta_bucket *arr = NULL;
	size_t cnt = 0, cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	rc = rtxn(s, &t);
	if (rc)
		return rc;
	rc = kv_cursor_open(&t, KV_BUCKETS, &c);
	for (rc = rc ? rc : kv_cursor_seek(&c, NULL, 0, &it); !rc; rc = kv_cursor_next(&c, &it)) {
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct meta_bucket *na = realloc(arr, ncap * sizeof(*na));
			if (!na) {
				rc = CN_ENOMEM;
				break;
			}
			arr = na;
			cap = ncap;
		}
		if (it.klen == 0 || it.klen > META_BUCKET_MAX) {
			rc = CN_ECORRUPT;
			break;
		}
		rc = bucket_decode(it.v, it.vlen, (const char *)it.k, it.klen, &arr[cnt]);
		if (rc)
			break;
		cnt++;
	}
	kv_cursor_close(&c);
	kv_read_end(&t);
	if (rc == CN_ENOTFOUND)
		rc = 0;
	if (rc) {
		meta_bucket_list_release(arr, cnt);
		return rc;
	}
	*out = arr;
	*n = cnt;
	return 0;
}

void meta_bucket_list_release(struct meta_bucket *b, size_t n)
{
	for (size_t i = 0; b && i < n; i++)
		meta_bucket_release(&b[i]);
	free(b);
}

int meta_upload_get(struct meta_store *s, const char *bucket, const char *key, size_t key_len,
		    const uint8_t upload_id[META_ID_LEN], struct meta_upload *out)
{
	size_t blen = strlen(bucket), kn;
	uint8_t raw[KEY_ENC_MAX];
	const uint8_t *v;
	size_t vlen;
	struct kv_txn t;
	int rc;

	memset(out, 0, sizeof(*out));
	if (key_len < 1 || key_len > META_KEY_MAX)
		return CN_ENOUPLOAD;
	rc = rtxn(s, &t);
	if (rc)
		return rc;
	rc = bucket_exists(&t, bucket, blen);
	if (rc)
		goto out;
	kn = key_encode(raw, bucket, blen, (const uint8_t *)key, key_len);
	memcpy(raw + kn, upload_id, META_ID_LEN);
	rc = kv_get(&t, KV_UPLOADS, raw, kn + META_ID_LEN, &v, &vlen);
	if (rc == CN_ENOTFOUND || (!rc && !fullkey_is(v, vlen, key, key_len)))
		rc = CN_ENOUPLOAD;
	if (!rc)
		rc = upload_decode(v, vlen, (const uint8_t *)key, key_len, out);
out:
	kv_read_end(&t);
	return rc;
}

int meta_stats_get(struct meta_store *s, const char *bucket, struct meta_stats *out)
{
	struct kv_txn t;
	struct stats_rec st;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = rtxn(s, &t);
	if (rc)
		return rc;
	rc = bucket_exists(&t, bucket, strlen(bucket));
	if (!rc)
		rc = stats_load(&t, bucket, strlen(bucket), &st);
	kv_read_end(&t);
	if (!rc) {
		out->objects = st.objects;
		out->bytes = st.bytes;
		out->versions = st.versions;
		out->version_bytes = st.version_bytes;
	}
	return rc;
}

static int recount_db(struct kv_txn *t, enum kv_db db, const uint8_t *bp, size_t bplen, uint64_t *n,
		      uint64_t *bytes, int skip_markers)
{
	struct kv_cursor c;
	struct kv_item it;
	struct idx_rec sum;
	int rc = kv_cursor_open(t, db, &c);

	if (rc)
		return rc;
	for (rc = kv_cursor_seek(&c, bp, bplen, &it); !rc; rc = kv_cursor_next(&c, &it)) {
		if (it.klen < bplen || memcmp(it.k, bp, bplen) != 0)
			break;
		rc = idx_decode_ex(it.v, it.vlen, &sum, 0);
		if (rc)
			break;
		if (skip_markers && (sum.flags & META_VF_DELETE_MARKER))
			continue;
		(*n)++;
		*bytes += sum.size;
	}
	kv_cursor_close(&c);
	return rc == CN_ENOTFOUND ? 0 : rc;
}

int meta_stats_recount(struct meta_store *s, const char *bucket, struct meta_stats *out)
{
	uint8_t bp[META_BUCKET_MAX + 2];
	size_t blen = strlen(bucket), bplen;
	struct kv_txn t;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = rtxn(s, &t);
	if (rc)
		return rc;
	rc = bucket_exists(&t, bucket, blen);
	if (rc)
		goto out;
	bplen = key_bucket_prefix(bp, bucket, blen);
	/* format 2: index holds each key's newest version unless it is a marker,
	 * versions every other version */
	rc = recount_db(&t, KV_INDEX, bp, bplen, &out->objects, &out->bytes, 1);
	if (!rc)
		rc = recount_db(&t, KV_VERSIONS, bp, bplen, &out->versions, &out->version_bytes, 0);
	out->versions += out->objects;
	out->version_bytes += out->bytes;
out:
	kv_read_end(&t);
	return rc;
}

/* ---- listing ---- */

enum lkind { LK_OBJECTS, LK_VERSIONS, LK_UPLOADS };

struct lbuild {
	struct cn_buf arena; /* key and prefix bytes */
	struct meta_entry *e;
	size_t n, cap;
	struct meta_prefix *p;
	size_t np, pcap;
	size_t last_off, last_len;
	int last_set;
};

static int lb_key(struct lbuild *b, const uint8_t *k, size_t klen, size_t *off)
{
	*off = b->arena.len;
	cn_buf_put(&b->arena, k, klen);
	b->last_off = *off;
	b->last_len = klen;
	b->last_set = 1;
	return b->arena.err;
}

/* Adds the entry already decoded into the next slot, b->e[b->n]. */
static int lb_entry(struct lbuild *b, const uint8_t *k, size_t klen)
{
	size_t off;
	int rc = lb_key(b, k, klen, &off);

	if (rc)
		return rc;
	b->e[b->n].key = (const char *)(uintptr_t)off;
	b->e[b->n].key_len = klen;
	b->n++;
	return 0;
}

static int lb_prefix(struct lbuild *b, const uint8_t *k, size_t klen)
{
	size_t off;
	if (b->np == b->pcap) {
		size_t cap = b->pcap ? b->pcap * 2 : 16;
		struct meta_prefix *np = realloc(b->p, cap * sizeof(*np));
		if (!np)
			return CN_ENOMEM;
		b->p = np;
		b->pcap = cap;
	}
	int rc = lb_key(b, k, klen, &off);
	if (rc)
		return rc;
	b->p[b->np].p = (const char *)(uintptr_t)off;
	b->p[b->np].len = klen;
	b->np++;
	return 0;
}

static bool has_prefix(const uint8_t *k, size_t klen, const char *p, size_t plen)
{
	return klen >= plen && (plen == 0 || memcmp(k, p, plen) == 0);
}

static int bytes_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n ? memcmp(a, b, n) : 0;
	return c ? c : (alen < blen ? -1 : alen > blen);
}

/* First occurrence of the delimiter in k at or after from. */
static const uint8_t *find_delim(const uint8_t *k, size_t klen, size_t from, const char *d,
				 size_t dlen)
{
	if (klen < from + dlen)
		return NULL;
	return memmem(k + from, klen - from, d, dlen);
}

/* Decodes the current entry straight into its result slot (a listing
 * decodes one per key: no temporaries, no copies of the etag). */
static int entry_from(enum lkind kind, struct lcur *lc, struct meta_entry *e,
		      const struct meta_list_params *p)
{
	struct rbuf r;
	const uint8_t *id;

	e->peek[0] = e->peek[1] = 0;
	e->flags = 0;
	e->size = 0;
	e->etag[0] = 0;
	rb_init(&r, lc->val, lc->vlen);
	if (rb_u8(&r) != 1)
		return CN_ECORRUPT;
	if (kind == LK_UPLOADS) {
		/* value: head, upload id, initiated */
		rb_bytes(&r, rb_u16(&r));
		id = rb_bytes(&r, META_ID_LEN);
		e->mtime = (int64_t)rb_u64(&r);
		if (r.bad || memcmp(id, lc->sfx, META_ID_LEN) != 0)
			return CN_ECORRUPT;
		memcpy(e->vid, id, META_ID_LEN);
		meta_id_to_text(e->vid, e->vid_text);
		return 0;
	}
	/* version record prefix (codec.c): head, vid, flags, mtime, size, etag */
	uint16_t fkl = rb_u16(&r);
	if (fkl > META_KEY_MAX || (fkl != 0 && fkl <= KEY_HEAD))
		return CN_ECORRUPT;
	rb_bytes(&r, fkl);
	id = rb_bytes(&r, META_ID_LEN);
	e->flags = rb_u8(&r);
	e->mtime = (int64_t)rb_u64(&r);
	e->size = rb_u64(&r);
	uint8_t n = rb_u8(&r);
	const uint8_t *et = rb_bytes(&r, n);
	if (r.bad || n > META_ETAG_MAX || !etag_valid((const char *)et, n) ||
	    (e->flags & ~META_VF_STORED))
		return CN_ECORRUPT;
	e->flags &= ~META_VF_LOCK;
	memcpy(e->etag, et, n);
	e->etag[n] = 0;
	if (p && p->peek) {
		uint16_t al = rb_u16(&r);
		const uint8_t *a = rb_bytes(&r, al);
		if (r.bad)
			return CN_ECORRUPT;
		p->peek(a, al, e->peek);
	}
	memcpy(e->vid, id, META_ID_LEN);
	if (e->flags & META_VF_NULL) {
		memset(e->vid_text, 0, sizeof(e->vid_text));
		memcpy(e->vid_text, "null", 4);
	} else
		meta_id_to_text(e->vid, e->vid_text);
	return 0;
}

/* Internal id of key's null version, for version-id-marker=null: the index
 * entry's if that is the null version, else one in versions. */
static int null_sfx(struct kv_txn *t, const char *bucket, size_t blen, const char *key, size_t klen,
		    uint8_t sfx[META_ID_LEN])
{
	uint8_t kenc[KEY_ENC_MAX];
	size_t kn = key_encode(kenc, bucket, blen, (const uint8_t *)key, klen);
	struct kv_cursor c;
	struct kv_item it;
	struct idx_rec sum;
	int rc = kv_get(t, KV_INDEX, kenc, kn, &it.v, &it.vlen);

	if (!rc && fullkey_is(it.v, it.vlen, key, klen)) {
		rc = idx_decode_ex(it.v, it.vlen, &sum, 0);
		if (rc)
			return rc;
		if (sum.flags & META_VF_NULL) {
			for (int i = 0; i < META_ID_LEN; i++)
				sfx[i] = (uint8_t)~sum.vid[i];
			return 0;
		}
	} else if (rc && rc != CN_ENOTFOUND) {
		return rc;
	}
	rc = kv_cursor_open(t, KV_VERSIONS, &c);
	if (rc)
		return rc;
	for (rc = kv_cursor_seek(&c, kenc, kn, &it); !rc; rc = kv_cursor_next(&c, &it)) {
		if (it.klen != kn + META_ID_LEN || memcmp(it.k, kenc, kn) != 0) {
			rc = CN_ENOTFOUND;
			break;
		}
		if (!fullkey_is(it.v, it.vlen, key, klen))
			continue;
		rc = idx_decode_ex(it.v, it.vlen, &sum, 0);
		if (rc)
			break;
		if (sum.flags & META_VF_NULL) {
			memcpy(sfx, it.k + kn, META_ID_LEN);
			break;
		}
	}
	kv_cursor_close(&c);
	return rc;
}

/* A listing walks one logical cursor, or for ListObjectVersions two at once
 * (format 2): index (each key's newest version unless it is a marker) and
 * versions (every other version). Within one key the index entry is the
 * newest, so on equal keys it comes first. */
struct mcur {
	struct lcur a; /* index / uploads */
	struct lcur b; /* versions (two only) */
	int two, opened;
	struct lcur *cur; /* whose entry is current; NULL at the end */
};

static void mc_pick(struct mcur *m)
{
	if (!m->two || m->b.eof)
		m->cur = m->a.eof ? NULL : &m->a;
	else if (m->a.eof)
		m->cur = &m->b;
	else
		m->cur = bytes_cmp(m->a.key, m->a.klen, m->b.key, m->b.klen) <= 0 ? &m->a : &m->b;
}

static int mc_open(struct mcur *m, struct kv_txn *t, enum lkind kind, const char *bucket,
		   size_t blen)
{
	int rc;

	m->two = kind == LK_VERSIONS;
	m->opened = 0;
	rc = lc_open(&m->a, t, kind == LK_UPLOADS ? KV_UPLOADS : KV_INDEX, bucket, blen,
		     kind == LK_UPLOADS ? META_ID_LEN : 0);
	if (rc)
		return rc;
	m->opened = 1;
	if (m->two) {
		rc = lc_open(&m->b, t, KV_VERSIONS, bucket, blen, META_ID_LEN);
		if (rc)
			return rc;
		m->opened = 2;
	}
	return 0;
}

static void mc_close(struct mcur *m)
{
	if (m->opened > 0)
		lc_close(&m->a);
	if (m->opened > 1)
		lc_close(&m->b);
	m->opened = 0;
}

/* ba bounds index / uploads, bb versions. */
static int mc_seek(struct mcur *m, const struct lbound *ba, const struct lbound *bb)
{
	int rc = lc_seek(&m->a, ba);
	if (!rc && m->two)
		rc = lc_seek(&m->b, bb);
	mc_pick(m);
	return rc;
}

static int mc_next(struct mcur *m)
{
	int rc = m->cur ? lc_next(m->cur) : 0;
	mc_pick(m);
	return rc;
}

static int mc_seek_past(struct mcur *m, const uint8_t *p, size_t plen)
{
	int rc = lc_seek_past(&m->a, p, plen);
	if (!rc && m->two)
		rc = lc_seek_past(&m->b, p, plen);
	mc_pick(m);
	return rc;
}

static unsigned long mc_steps(const struct mcur *m)
{
	return m->a.steps + (m->two ? m->b.steps : 0);
}

static void lb_release(struct lbuild *b)
{
	cn_buf_release(&b->arena);
	free(b->e);
	free(b->p);
}

static int list_core(struct meta_store *s, const char *bucket, const struct meta_list_params *p,
		     enum lkind kind, struct meta_list_result *out)
{
	size_t blen = strlen(bucket);
	const char *prefix = p->prefix ? p->prefix : "";
	size_t plen = p->prefix ? p->prefix_len : 0;
	const char *delim = p->delimiter_len ? p->delimiter : NULL;
	size_t dlen = delim ? p->delimiter_len : 0;
	const uint8_t *start = (const uint8_t *)p->start;
	size_t start_len = p->start ? p->start_len : 0;
	uint8_t tokbuf[META_KEY_MAX + 8];
	uint8_t idsfx[META_ID_LEN];
	const uint8_t *prev_key = NULL;
	size_t prev_len = 0;
	uint8_t prevbuf[META_KEY_MAX];
	unsigned max = p->max > LIST_MAX ? LIST_MAX : p->max;
	struct lbuild b;
	struct kv_txn t;
	struct mcur m;
	struct lcur *lc;
	struct lbound bound, ibound;
	int rc, have_id = 0, last_entry = 0;

	memset(out, 0, sizeof(*out));
	memset(&b, 0, sizeof(b));
	m.opened = 0;
	cn_buf_init(&b.arena);
	if (plen > META_KEY_MAX || start_len > META_KEY_MAX || dlen > META_KEY_MAX)
		return CN_EINVAL;
	if (kind == LK_OBJECTS && p->token && p->token[0]) {
		size_t tl = strlen(p->token);
		long n;
		if (tl > cn_b64_len(META_KEY_MAX + 1))
			return CN_EBADTOKEN;
		n = cn_b64_decode(p->token, tl, tokbuf, sizeof(tokbuf));
		if (n < 1 || tokbuf[0] != 1 || n - 1 > META_KEY_MAX)
			return CN_EBADTOKEN;
		start = tokbuf + 1;
		start_len = (size_t)n - 1;
	}
	rc = rtxn(s, &t);
	if (rc)
		return rc;
	rc = bucket_exists(&t, bucket, blen);
	if (rc)
		goto out;
	if (kind != LK_OBJECTS && p->id_marker && p->id_marker[0]) {
		if (!start_len) {
			rc = CN_EBADARG; /* an id marker needs a key marker */
			goto out;
		}
		if (kind == LK_VERSIONS && strcmp(p->id_marker, "null") == 0) {
			rc = null_sfx(&t, bucket, blen, (const char *)start, start_len, idsfx);
			if (rc && rc != CN_ENOTFOUND)
				goto out;
			have_id = rc == 0;
			rc = 0;
		} else {
			uint8_t id[META_ID_LEN];
			rc = meta_id_from_text(p->id_marker, strlen(p->id_marker), id);
			if (rc)
				goto out;
			for (int i = 0; i < META_ID_LEN; i++)
				idsfx[i] = kind == LK_VERSIONS ? (uint8_t)~id[i] : id[i];
			have_id = 1;
		}
	}
	rc = mc_open(&m, &t, kind, bucket, blen);
	if (rc)
		goto out;
	if (max == 0)
		goto done;
	/* one allocation for the page instead of doubling through it */
	b.e = malloc(max * sizeof(*b.e));
	if (!b.e) {
		rc = CN_ENOMEM;
		goto out;
	}
	b.cap = max;
	if (start_len && bytes_cmp(start, start_len, (const uint8_t *)prefix, plen) >= 0) {
		/* A "null" marker whose null version is gone names no place
		 * among start's versions: list them all again rather than
		 * skip any (a page may repeat some; none is lost). */
		int again = kind == LK_VERSIONS && !have_id && p->id_marker && p->id_marker[0];
		bound = (struct lbound){start, start_len, have_id ? idsfx : NULL, !again};
		/* versions with an id marker: the index entry of start is
		 * looked at below, it may be older than the marker */
		ibound = kind == LK_VERSIONS && !again
				 ? (struct lbound){start, start_len, NULL, !have_id}
				 : bound;
		if (have_id) {
			/* the rest of start's versions are not the latest */
			memcpy(prevbuf, start, start_len);
			prev_key = prevbuf;
			prev_len = start_len;
		}
	} else {
		bound = (struct lbound){(const uint8_t *)prefix, plen, NULL, 0};
		ibound = bound;
		start_len = 0;
	}
	rc = mc_seek(&m, &ibound, &bound);
	if (!rc && kind == LK_VERSIONS && have_id && !m.a.eof &&
	    bytes_cmp(m.a.key, m.a.klen, start, start_len) == 0) {
		/* start's newest version. Returned already unless the versions
		 * newer than the marker were deleted since and an older one
		 * became the newest: then it comes now, as the latest (a
		 * list-delete-list loop emptying a versioned bucket relies on
		 * it). Ids sort newest first as ~vid, like the marker. */
		struct meta_entry cur;
		uint8_t csfx[META_ID_LEN];
		rc = entry_from(kind, &m.a, &cur, NULL);
		for (int i = 0; !rc && i < META_ID_LEN; i++)
			csfx[i] = (uint8_t)~cur.vid[i];
		if (!rc && memcmp(csfx, idsfx, META_ID_LEN) > 0) {
			prev_key = NULL;
		} else if (!rc) {
			rc = lc_next(&m.a);
			mc_pick(&m);
		}
	}
	while (!rc && (lc = m.cur) != NULL) {
		const uint8_t *d;
		if (!has_prefix(lc->key, lc->klen, prefix, plen))
			break;
		d = delim ? find_delim(lc->key, lc->klen, plen, delim, dlen) : NULL;
		if (d) {
			size_t cplen = (size_t)(d - lc->key) + dlen;
			uint8_t cp[META_KEY_MAX];
			memcpy(cp, lc->key, cplen);
			/* a prefix at or before the start was returned by an earlier page */
			if (!(start_len && bytes_cmp(cp, cplen, start, start_len) <= 0)) {
				if (b.n + b.np == max) {
					out->truncated = 1;
					break;
				}
				rc = lb_prefix(&b, cp, cplen);
				if (rc)
					break;
				last_entry = 0;
			}
			rc = mc_seek_past(&m, cp, cplen);
			continue;
		}
		if (b.n + b.np == max) {
			out->truncated = 1;
			break;
		}
		struct meta_entry *e = &b.e[b.n]; /* b.cap == max > b.n */
		rc = entry_from(kind, lc, e, p);
		if (rc)
			break;
		if (kind == LK_VERSIONS) {
			if (!prev_key || bytes_cmp(prev_key, prev_len, lc->key, lc->klen) != 0)
				e->flags |= META_VF_LATEST;
			memcpy(prevbuf, lc->key, lc->klen);
			prev_key = prevbuf;
			prev_len = lc->klen;
		}
		rc = lb_entry(&b, lc->key, lc->klen);
		if (rc)
			break;
		last_entry = 1;
		rc = mc_next(&m);
	}
done:
	if (rc)
		goto out;
	if (last_entry)
		memcpy(out->next_id, b.e[b.n - 1].vid_text, META_ID_TEXT);
	/* fix up pointers into the arena, build the token */
	for (size_t i = 0; i < b.n; i++)
		b.e[i].key = (const char *)b.arena.p + (uintptr_t)b.e[i].key;
	for (size_t i = 0; i < b.np; i++)
		b.p[i].p = (const char *)b.arena.p + (uintptr_t)b.p[i].p;
	if (b.last_set) {
		out->next_marker = (const char *)b.arena.p + b.last_off;
		out->next_marker_len = b.last_len;
	}
	if (out->truncated && b.last_set) {
		uint8_t raw[META_KEY_MAX + 1];
		size_t tcap = cn_b64_len(b.last_len + 1) + 1;
		char *tok = b.last_len <= META_KEY_MAX ? malloc(tcap) : NULL;
		if (!tok) {
			rc = CN_ENOMEM;
			goto out;
		}
		raw[0] = 1;
		memcpy(raw + 1, b.arena.p + b.last_off, b.last_len);
		cn_b64_encode(raw, b.last_len + 1, tok, tcap);
		out->next_token = tok;
	}
	out->entries = b.e;
	out->n = b.n;
	out->prefixes = b.p;
	out->n_prefixes = b.np;
	out->mem = b.arena.p;
	out->steps = mc_steps(&m);
	memset(&b, 0, sizeof(b));
out:
	mc_close(&m);
	kv_read_end(&t);
	if (rc) {
		lb_release(&b);
		memset(out, 0, sizeof(*out));
	}
	return rc;
}

int meta_list_objects(struct meta_store *s, const char *bucket, const struct meta_list_params *p,
		      struct meta_list_result *out)
{
	return list_core(s, bucket, p, LK_OBJECTS, out);
}

int meta_list_versions(struct meta_store *s, const char *bucket, const struct meta_list_params *p,
		       struct meta_list_result *out)
{
	return list_core(s, bucket, p, LK_VERSIONS, out);
}

int meta_list_uploads(struct meta_store *s, const char *bucket, const struct meta_list_params *p,
		      struct meta_list_result *out)
{
	return list_core(s, bucket, p, LK_UPLOADS, out);
}

void meta_list_result_release(struct meta_list_result *r)
{
	if (!r)
		return;
	free(r->entries);
	free(r->prefixes);
	free(r->mem);
	free((void *)r->next_token);
	memset(r, 0, sizeof(*r));
}

/* ---- parts ---- */

int meta_list_parts(struct meta_store *s, const char *bucket, const char *key, size_t key_len,
		    const uint8_t upload_id[META_ID_LEN], uint32_t marker, unsigned max,
		    struct meta_part_list *out)
{
	struct meta_upload up;
	struct kv_txn t;
	struct kv_cursor c;
	struct kv_item it;
	struct cn_buf arena;
	uint8_t pk[META_ID_LEN + 2];
	size_t *offs = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (max > LIST_MAX)
		max = LIST_MAX;
	rc = meta_upload_get(s, bucket, key, key_len, upload_id, &up);
	if (rc)
		return rc;
	meta_upload_release(&up);
	if (marker >= META_PARTS_MAX || max == 0)
		return 0;
	rc = rtxn(s, &t);
	if (rc)
		return rc;
	cn_buf_init(&arena);
	out->parts = calloc(max, sizeof(*out->parts));
	offs = calloc(max, sizeof(*offs));
	if (!out->parts || !offs) {
		rc = CN_ENOMEM;
		goto out_txn;
	}
	memcpy(pk, upload_id, META_ID_LEN);
	pk[META_ID_LEN] = (uint8_t)((marker + 1) >> 8);
	pk[META_ID_LEN + 1] = (uint8_t)(marker + 1);
	rc = kv_cursor_open(&t, KV_PARTS, &c);
	if (rc)
		goto out_txn;
	for (rc = kv_cursor_seek(&c, pk, sizeof(pk), &it); !rc; rc = kv_cursor_next(&c, &it)) {
		struct meta_part pt;
		if (it.klen != sizeof(pk) || memcmp(it.k, upload_id, META_ID_LEN) != 0)
			break;
		if (out->n == max) {
			out->truncated = 1;
			break;
		}
		rc = part_decode(it.v, it.vlen, &pt);
		if (rc)
			break;
		offs[out->n] = arena.len;
		cn_buf_put(&arena, pt.layout, pt.layout_len);
		out->parts[out->n++] = pt;
	}
	kv_cursor_close(&c);
	if (rc == CN_ENOTFOUND)
		rc = 0;
	if (!rc)
		rc = arena.err;
out_txn:
	kv_read_end(&t);
	if (rc) {
		free(out->parts);
		cn_buf_release(&arena);
		memset(out, 0, sizeof(*out));
	} else {
		for (size_t i = 0; i < out->n; i++)
			out->parts[i].layout = arena.p + offs[i];
		out->mem = arena.p;
		if (out->n)
			out->next_marker = out->parts[out->n - 1].part_no;
	}
	free(offs);
	return rc;
}

void meta_part_list_release(struct meta_part_list *l)
{
	if (!l)
		return;
	free(l->parts);
	free(l->mem);
	memset(l, 0, sizeof(*l));
}

/* ---- gc / intents ---- */

int meta_gc_fetch(struct meta_store *s, int64_t now, unsigned max, meta_gc_cb cb, void *arg)
{
	struct kv_txn t;
	struct kv_cursor c;
	struct kv_item it;
	unsigned n = 0;
	int rc = rtxn(s, &t);

	if (rc)
		return rc;
	rc = kv_cursor_open(&t, KV_GC, &c);
	for (rc = rc ? rc : kv_cursor_seek(&c, NULL, 0, &it); !rc && n < max;
	     rc = kv_cursor_next(&c, &it)) {
		struct meta_gc_ref ref;
		const uint8_t *layout;
		size_t llen;
		int64_t created;
		if (it.klen != 8 + META_ID_LEN) {
			rc = CN_ECORRUPT;
			break;
		}
		ref.due = (int64_t)be64_get(it.k);
		if (ref.due > now)
			break;
		memcpy(ref.blob_id, it.k + 8, META_ID_LEN);
		rc = blobref_decode(it.v, it.vlen, &created, &layout, &llen);
		if (rc)
			break;
		n++;
		if (cb(&ref, layout, llen, arg))
			break;
	}
	kv_cursor_close(&c);
	kv_read_end(&t);
	return rc == CN_ENOTFOUND ? 0 : rc;
}

int meta_heal_each(struct meta_store *s, const uint8_t *after, unsigned max, meta_heal_cb cb,
		   void *arg)
{
	struct kv_txn t;
	struct kv_cursor c;
	struct kv_item it;
	unsigned n = 0;
	int rc = rtxn(s, &t);

	if (rc)
		return rc;
	rc = kv_cursor_open(&t, KV_HEAL, &c);
	for (rc = rc ? rc : kv_cursor_seek(&c, after, after ? META_ID_LEN : 0, &it); !rc && n < max;
	     rc = kv_cursor_next(&c, &it)) {
		const uint8_t *layout;
		size_t llen;
		uint16_t mask;
		if (it.klen != META_ID_LEN) {
			rc = CN_ECORRUPT;
			break;
		}
		if (after && memcmp(it.k, after, META_ID_LEN) == 0)
			continue;
		if ((rc = healrec_decode(it.v, it.vlen, &mask, &layout, &llen)) != 0)
			break;
		n++;
		if (cb(it.k, mask, layout, llen, arg))
			break;
	}
	kv_cursor_close(&c);
	kv_read_end(&t);
	return rc && rc != CN_ENOTFOUND ? rc : (int)n;
}

int meta_heal_has(struct meta_store *s, const uint8_t blob_id[META_ID_LEN])
{
	struct kv_txn t;
	const uint8_t *v;
	size_t vlen;
	int rc = rtxn(s, &t);

	if (rc)
		return rc;
	rc = kv_get(&t, KV_HEAL, blob_id, META_ID_LEN, &v, &vlen);
	kv_read_end(&t);
	return rc == 0 ? 1 : rc == CN_ENOTFOUND ? 0 : rc;
}

/* Number of entries in db, in one read transaction. */
static int count_db(struct meta_store *s, enum kv_db db, uint64_t *n)
{
	struct kv_txn t;
	struct kv_cursor c;
	struct kv_item it;
	int rc = rtxn(s, &t);

	*n = 0;
	if (rc)
		return rc;
	rc = kv_cursor_open(&t, db, &c);
	for (rc = rc ? rc : kv_cursor_seek(&c, NULL, 0, &it); !rc; rc = kv_cursor_next(&c, &it))
		(*n)++;
	kv_cursor_close(&c);
	kv_read_end(&t);
	return rc == CN_ENOTFOUND ? 0 : rc;
}

int meta_heal_count(struct meta_store *s, uint64_t *n)
{
	return count_db(s, KV_HEAL, n);
}

int meta_intent_count(struct meta_store *s, uint64_t *n)
{
	return count_db(s, KV_INTENTS, n);
}

int meta_intent_each(struct meta_store *s, meta_intent_cb cb, void *arg)
{
	struct kv_txn t;
	struct kv_cursor c;
	struct kv_item it;
	int rc = rtxn(s, &t);

	if (rc)
		return rc;
	rc = kv_cursor_open(&t, KV_INTENTS, &c);
	for (rc = rc ? rc : kv_cursor_seek(&c, NULL, 0, &it); !rc; rc = kv_cursor_next(&c, &it)) {
		const uint8_t *layout;
		size_t llen;
		int64_t created;
		if (it.klen != META_ID_LEN) {
			rc = CN_ECORRUPT;
			break;
		}
		rc = blobref_decode(it.v, it.vlen, &created, &layout, &llen);
		if (rc || cb(it.k, created, layout, llen, arg))
			break;
	}
	kv_cursor_close(&c);
	kv_read_end(&t);
	return rc == CN_ENOTFOUND ? 0 : rc;
}

/* ---- cluster map ---- */

static int epoch_read(struct kv_txn *t, uint64_t *epoch)
{
	const uint8_t *v;
	size_t vlen;
	int rc = kv_get(t, KV_MAP, MAP_KEY_EPOCH, sizeof(MAP_KEY_EPOCH) - 1, &v, &vlen);

	*epoch = 0;
	if (rc == CN_ENOTFOUND)
		return 0;
	return rc ? rc : epoch_rec_decode(v, vlen, epoch);
}

int meta_setting_get(struct meta_store *s, const char *name, char *out, size_t cap)
{
	char k[8 + META_SETTING_NAME_MAX];
	size_t n = strlen(name), vlen;
	const uint8_t *v;
	struct kv_txn t;
	int rc;

	if (!n || n > META_SETTING_NAME_MAX || !cap)
		return CN_EINVAL;
	memcpy(k, "setting:", 8);
	memcpy(k + 8, name, n);
	rc = rtxn(s, &t);
	if (rc)
		return rc;
	rc = kv_get(&t, KV_SYSTEM, k, 8 + n, &v, &vlen);
	if (!rc && vlen >= cap)
		rc = CN_ETOOBIG;
	if (!rc) {
		memcpy(out, v, vlen);
		out[vlen] = 0;
	}
	kv_read_end(&t);
	return rc;
}

int meta_setting_each(struct meta_store *s, const char *prefix,
		      int (*cb)(void *arg, const char *name, const char *value), void *arg)
{
	char k[8 + META_SETTING_NAME_MAX], name[META_SETTING_NAME_MAX + 1];
	char val[META_SETTING_MAX + 1];
	size_t n = strlen(prefix);
	struct kv_cursor c;
	struct kv_item it;
	struct kv_txn t;
	int rc;

	if (n > META_SETTING_NAME_MAX)
		return CN_EINVAL;
	memcpy(k, "setting:", 8);
	memcpy(k + 8, prefix, n);
	rc = rtxn(s, &t);
	if (rc)
		return rc;
	rc = kv_cursor_open(&t, KV_SYSTEM, &c);
	if (rc) {
		kv_read_end(&t);
		return rc;
	}
	for (rc = kv_cursor_seek(&c, k, 8 + n, &it); !rc; rc = kv_cursor_next(&c, &it)) {
		if (it.klen < 8 + n || memcmp(it.k, k, 8 + n) != 0)
			break;
		if (it.klen - 8 > META_SETTING_NAME_MAX || it.vlen > META_SETTING_MAX) {
			rc = CN_ECORRUPT;
			break;
		}
		memcpy(name, it.k + 8, it.klen - 8);
		name[it.klen - 8] = 0;
		memcpy(val, it.v, it.vlen);
		val[it.vlen] = 0;
		rc = cb(arg, name, val);
		if (rc)
			break;
	}
	if (rc == CN_ENOTFOUND)
		rc = 0;
	kv_cursor_close(&c);
	kv_read_end(&t);
	return rc;
}

int meta_map_epoch(struct meta_store *s, uint64_t *epoch)
{
	struct kv_txn t;
	int rc = rtxn(s, &t);

	*epoch = 0;
	if (rc)
		return rc;
	rc = epoch_read(&t, epoch);
	kv_read_end(&t);
	return rc;
}

/* Room for one more element in a growable array of n items. */
static int grow(void **p, size_t n, size_t *cap, size_t size)
{
	void *np;
	size_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 8;
	np = realloc(*p, ncap * size);
	if (!np)
		return CN_ENOMEM;
	*p = np;
	*cap = ncap;
	return 0;
}

int meta_map_get(struct meta_store *s, struct meta_map *out)
{
	struct kv_txn t;
	struct kv_cursor c;
	struct kv_item it;
	size_t ncap = 0, dcap = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = rtxn(s, &t);
	if (rc)
		return rc;
	rc = epoch_read(&t, &out->epoch);
	if (!rc)
		rc = kv_cursor_open(&t, KV_MAP, &c);
	if (rc) {
		kv_read_end(&t);
		return rc;
	}
	/* keys sort 'd' < "epoch" < 'n': drives, then nodes, each by id */
	for (rc = kv_cursor_seek(&c, NULL, 0, &it); !rc; rc = kv_cursor_next(&c, &it)) {
		if (it.klen == 9 && it.k[0] == MAP_KEY_NODE) {
			rc = grow((void **)&out->nodes, out->n_nodes, &ncap, sizeof(*out->nodes));
			if (!rc)
				rc = node_rec_decode(it.v, it.vlen, be64_get(it.k + 1),
						     &out->nodes[out->n_nodes]);
			if (rc)
				break;
			out->n_nodes++;
		} else if (it.klen == 1 + META_ID_LEN && it.k[0] == MAP_KEY_DRIVE) {
			rc = grow((void **)&out->drives, out->n_drives, &dcap,
				  sizeof(*out->drives));
			if (!rc)
				rc = drive_rec_decode(it.v, it.vlen, it.k + 1,
						      &out->drives[out->n_drives]);
			if (rc)
				break;
			out->n_drives++;
		} else if (it.klen != sizeof(MAP_KEY_EPOCH) - 1 ||
			   memcmp(it.k, MAP_KEY_EPOCH, it.klen) != 0) {
			rc = CN_ECORRUPT;
			break;
		}
	}
	kv_cursor_close(&c);
	kv_read_end(&t);
	if (rc == CN_ENOTFOUND)
		rc = 0;
	if (rc)
		meta_map_release(out);
	return rc;
}

void meta_map_release(struct meta_map *m)
{
	if (!m)
		return;
	free(m->nodes);
	free(m->drives);
	memset(m, 0, sizeof(*m));
}

int meta_store_digest(struct meta_store *s, uint8_t out[16])
{
	struct kv_txn t;
	XXH3_state_t *h = XXH3_createState();
	int rc = h ? rtxn(s, &t) : CN_ENOMEM;

	if (rc) {
		XXH3_freeState(h);
		return rc;
	}
	XXH3_128bits_reset(h);
	for (int db = 0; db < KV_NDB && !rc; db++) {
		struct kv_cursor c;
		struct kv_item it;
		rc = kv_cursor_open(&t, (enum kv_db)db, &c);
		for (rc = rc ? rc : kv_cursor_seek(&c, NULL, 0, &it); !rc;
		     rc = kv_cursor_next(&c, &it)) {
			uint64_t len[3] = {(uint64_t)db, it.klen, it.vlen};
			XXH3_128bits_update(h, len, sizeof(len));
			XXH3_128bits_update(h, it.k, it.klen);
			XXH3_128bits_update(h, it.v, it.vlen);
		}
		kv_cursor_close(&c);
		if (rc == CN_ENOTFOUND)
			rc = 0;
	}
	kv_read_end(&t);
	if (!rc) {
		XXH128_hash_t d = XXH3_128bits_digest(h);
		XXH128_canonical_t cn;
		XXH128_canonicalFromHash(&cn, d);
		memcpy(out, cn.digest, 16);
	}
	XXH3_freeState(h);
	return rc;
}

/* ---- walks ---- */

struct meta_list_params meta_page_params(const char *key_marker, size_t km_len,
					 const char *id_marker, unsigned max)
{
	struct meta_list_params lp;

	memset(&lp, 0, sizeof(lp));
	lp.start = km_len ? key_marker : NULL;
	lp.start_len = km_len;
	lp.id_marker = id_marker[0] ? id_marker : NULL;
	lp.max = max;
	return lp;
}

int meta_next_page(const struct meta_list_result *res, char *key_marker, size_t *km_len,
		   char *id_marker)
{
	if (!res->truncated || !res->next_marker || res->next_marker_len > META_KEY_MAX)
		return 0;
	memcpy(key_marker, res->next_marker, res->next_marker_len);
	*km_len = res->next_marker_len;
	memcpy(id_marker, res->next_id, META_ID_TEXT);
	return 1;
}

int meta_upload_parts_each(struct meta_store *s, const char *bucket, meta_part_fn fn, void *arg)
{
	char key_marker[META_KEY_MAX + 1], id_marker[META_ID_TEXT] = "";
	size_t km_len = 0;
	int stop = 0;

	for (;;) {
		struct meta_list_params lp = meta_page_params(key_marker, km_len, id_marker, 100);
		struct meta_list_result res;
		if (meta_list_uploads(s, bucket, &lp, &res) != 0)
			return 0; /* the bucket is gone */
		for (size_t i = 0; i < res.n && !stop; i++) {
			const struct meta_entry *e = &res.entries[i];
			uint32_t marker = 0;
			for (;;) {
				struct meta_part_list pl;
				if (meta_list_parts(s, bucket, e->key, e->key_len, e->vid, marker,
						    1000, &pl) != 0)
					break; /* completed or aborted meanwhile */
				for (size_t j = 0; j < pl.n && !stop; j++)
					stop = fn(arg, bucket, e, &pl.parts[j]);
				int more = !stop && pl.truncated;
				marker = pl.next_marker;
				meta_part_list_release(&pl);
				if (!more)
					break;
			}
		}
		int more = !stop && meta_next_page(&res, key_marker, &km_len, id_marker);
		meta_list_result_release(&res);
		if (!more)
			return stop;
	}
}
