/*
 * meta/meta_int.h — private declarations shared inside src/meta/.
 *
 * Layer: meta. Holds the bounds-checked byte buffers, record codecs (format in
 * codec.c), the key encoding (keys.c), the logical cursor that hides long-key
 * groups from listings (cursor.c) and the apply entry point (apply.c).
 */
#ifndef CAIRN_META_META_INT_H
#define CAIRN_META_META_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "meta/kv.h"
#include "meta/meta.h"

/* ---- byte buffers (writers append to a struct cn_buf) ---- */

struct rbuf {
	const uint8_t *p;
	size_t len, off;
	int bad; /* sticky: read past the end or a bad value */
};

void wb_u8(struct cn_buf *w, uint8_t v);
void wb_u16(struct cn_buf *w, uint16_t v);
void wb_u32(struct cn_buf *w, uint32_t v);
void wb_u64(struct cn_buf *w, uint64_t v);

static inline void rb_init(struct rbuf *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
	r->bad = 0;
}

/* Readers are inline: listings decode a record per entry, and the calls
 * were a fifth of a 1000-key page. Little-endian, bounds-checked. */
static inline const uint8_t *rb_bytes(struct rbuf *r, size_t n)
{
	if (r->bad || n > r->len - r->off) {
		r->bad = 1;
		return NULL;
	}
	const uint8_t *p = r->p + r->off;
	r->off += n;
	return p;
}

static inline uint8_t rb_u8(struct rbuf *r)
{
	const uint8_t *p = rb_bytes(r, 1);
	return p ? p[0] : 0;
}

static inline uint16_t rb_u16(struct rbuf *r)
{
	const uint8_t *p = rb_bytes(r, 2);
	return p ? (uint16_t)(p[0] | (p[1] << 8)) : 0;
}

static inline uint32_t rb_u32(struct rbuf *r)
{
	const uint8_t *p = rb_bytes(r, 4);
	return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
			       (uint32_t)p[3] << 24
		 : 0;
}

static inline uint64_t rb_u64(struct rbuf *r)
{
	const uint8_t *p = rb_bytes(r, 8);
	uint64_t v = 0;
	if (p)
		for (int i = 7; i >= 0; i--)
			v = (v << 8) | p[i];
	return v;
}
uint64_t be64_get(const uint8_t *p);
void be64_put(uint8_t *p, uint64_t v);

/* ---- records (codec.c) ---- */

/* index value: the current version summary. */
struct idx_rec {
	const uint8_t *fkey; /* full key if long, else NULL */
	size_t fklen;
	uint8_t vid[META_ID_LEN];
	uint32_t flags;
	int64_t mtime;
	uint64_t size;
	char etag[META_ETAG_MAX + 1];
};

struct stats_rec {
	uint64_t objects, bytes, versions, version_bytes;
};

int idx_encode(struct cn_buf *w, const uint8_t *fkey, size_t fklen, const struct meta_version *v);
int idx_decode(const uint8_t *p, size_t len, struct idx_rec *out);
int idx_decode_ex(const uint8_t *p, size_t len, struct idx_rec *out, int exact);
struct kv_env *meta_store_env(struct meta_store *s);

/* The store (private to meta/). */
struct meta_store {
	struct kv_env *env;
	struct meta_options opt;
	pthread_t thr;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct meta_cmd *qhead, *qtail;
	int stopping;
	int started;
	pthread_mutex_t idmu;
	uint64_t hlc_last;
	uint64_t rng; /* under idmu */
	struct meta_proposer proposer;
	/* replicated mode (repl.c), all on the owner (Raft) thread except
	 * `applied`, published for readers */
	struct kv_txn repl_txn;
	int repl_open;
	uint64_t repl_index;	       /* last entry applied in repl_txn */
	_Atomic uint64_t repl_applied; /* committed */
	int repl_batches;	       /* the log has held a batch entry (system db) */
	int repl_touch;		       /* META_TOUCH_* of the last apply */
	uint64_t repl_touch_hash;
	struct cn_buf repl_scratch;
	/* the ballast (meta.h), after open only the thread that commits: the
	 * metadata thread, or the Raft thread (replicated mode) */
	char *ballast_path, *ballast_dir;
	/* halves held: 2 (all), 1 (replicated mode gave up one), 0 (none);
	 * written there, read by meta_ballast_released */
	_Atomic int ballast_held;
	int64_t ballast_checked; /* cn_mono_ns of the last look for room */
};

/* Loads the applied index of a replicated store (open). */
int repl_load(struct meta_store *s);
/* The ballast (store.c): make it if there is room; give it up (0 if there
 * was one); give up half of it (replicated mode: the rest when half is
 * left; 0 if there was any); bytes free on its filesystem (UINT64_MAX if
 * unknown). */
void ballast_make(struct meta_store *s);
int ballast_release(struct meta_store *s);
int ballast_release_half(struct meta_store *s);
uint64_t ballast_room(const struct meta_store *s);
/* A body of up to this many bytes is stored inside its version record
 * rather than in the inline db: an overwrite of a small object then changes
 * one B+tree instead of two (at 10^7 keys each tree is four levels deep and
 * every random key dirties its own branch pages). Larger bodies stay out of
 * the record so that index leaves keep their fan-out for listings. */
#define META_EMBED_MAX 256
/* The threshold apply uses: META_EMBED_MAX. Tests set -1 to write records
 * the way a build before embedding did (the store then holds both kinds, as
 * an upgraded one does); every replica must apply with the same value. */
extern long meta_embed_max;
/* Version value. fkey: stored for long keys only (NULL, 0 otherwise).
 * A LOC_INLINE version with inline_embedded carries its bytes (embed). */
int ver_encode(struct cn_buf *w, const uint8_t *fkey, size_t fklen, const struct meta_version *v);
/* Decodes into owned *out; key (the user key) is copied in. */
int ver_decode(const uint8_t *p, size_t len, const uint8_t *key, size_t klen,
	       struct meta_version *out);
int upload_encode(struct cn_buf *w, const uint8_t *fkey, size_t fklen,
		  const uint8_t id[META_ID_LEN], int64_t initiated, const void *attrs,
		  size_t attrs_len);
int upload_decode(const uint8_t *p, size_t len, const uint8_t *key, size_t klen,
		  struct meta_upload *out);
int part_encode(struct cn_buf *w, const struct meta_part *pt);
/* Borrows p for pt->layout. */
int part_decode(const uint8_t *p, size_t len, struct meta_part *pt);
int bucket_encode(struct cn_buf *w, int64_t created, uint8_t versioning, const void *attrs,
		  size_t attrs_len);
/* The versioning state of an encoded bucket record, read from its header
 * only (a GET's null version: no allocation, no attrs). */
int bucket_versioning_of(const uint8_t *p, size_t len, uint8_t *state);
int bucket_decode(const uint8_t *p, size_t len, const char *name, size_t nlen,
		  struct meta_bucket *out);
int stats_encode(struct cn_buf *w, const struct stats_rec *s);
int stats_decode(const uint8_t *p, size_t len, struct stats_rec *s);
int blobref_encode(struct cn_buf *w, int64_t created, const void *layout, size_t layout_len);
int healrec_encode(struct cn_buf *w, uint16_t mask, const void *layout, size_t layout_len);
int healrec_decode(const uint8_t *p, size_t len, uint16_t *mask, const uint8_t **layout,
		   size_t *layout_len);
int blobref_decode(const uint8_t *p, size_t len, int64_t *created, const uint8_t **layout,
		   size_t *layout_len);
/* Cluster map records (db map; formats in codec.c, keys in keys.c). */
int node_rec_encode(struct cn_buf *w, const struct meta_node *n);
int node_rec_decode(const uint8_t *p, size_t len, uint64_t id, struct meta_node *out);
int drive_rec_encode(struct cn_buf *w, const struct meta_drive *d);
int drive_rec_decode(const uint8_t *p, size_t len, const uint8_t id[META_ID_LEN],
		     struct meta_drive *out);
bool iam_cmd_valid(const struct meta_iam *m);
int iam_user_encode(struct cn_buf *w, const struct meta_iam_user *u);
int iam_user_decode(const uint8_t *p, size_t len, const char *name, struct meta_iam_user *u);
int iam_key_encode(struct cn_buf *w, const struct meta_iam_key *k);
int iam_key_decode(const uint8_t *p, size_t len, const char *id, struct meta_iam_key *k);
int iam_group_encode(struct cn_buf *w, const struct meta_iam_group *g);
int iam_group_decode(const uint8_t *p, size_t len, const char *name, struct meta_iam_group *g);
int iam_policy_encode(struct cn_buf *w, int64_t updated, const char *doc, size_t len);
int iam_policy_decode(const uint8_t *p, size_t len, int64_t *updated, const char **doc,
		      size_t *doc_len);
/* iam.c */
int iam_apply(struct kv_txn *t, const struct meta_cmd *c, struct cn_buf *w);
int bconf_apply(struct kv_txn *t, const struct meta_cmd *c);
/* 1 when the bucket has configuration document name, 0 when not. */
int bconf_has(struct kv_txn *t, const char *bucket, size_t blen, const char *name);
/* 1 when packed documents (META_CMD_BUCKET_CREATE's) include name. */
int bconf_packed_has(const uint8_t *p, size_t len, const char *name);
int bconf_drop_bucket(struct kv_txn *t, const char *bucket, size_t blen);
int bconf_put_packed(struct kv_txn *t, const char *bucket, size_t blen, const uint8_t *p,
		     size_t len);
#define IAM_KEY_GEN "G"
int epoch_rec_encode(struct cn_buf *w, uint64_t epoch);
int epoch_rec_decode(const uint8_t *p, size_t len, uint64_t *epoch);
#define MAP_KEY_EPOCH "epoch"
#define MAP_KEY_NODE 'n'  /* + 8 id, big-endian */
#define MAP_KEY_DRIVE 'd' /* + 16 id */
/* Every index/versions/uploads value starts with: u8 rec version, u16 fklen,
 * fkey. Returns the full key stored in a long-key value (CN_ECORRUPT if none). */
int val_fullkey(const uint8_t *p, size_t len, const uint8_t **fk, size_t *fklen);
bool etag_valid(const char *s, size_t len);

/* ---- key encoding (keys.c) ---- */

/* Object keys longer than this many raw bytes are "long": stored under their
 * first KEY_HEAD bytes + a group marker + a 128-bit hash (format in keys.c). */
#define KEY_HEAD 200
#define KEY_HASH 16
/* Max encoded length: bucket 63 + 1 + 2*200 + 2 + 16 (+ suffix 16) */
#define KEY_ENC_MAX (META_BUCKET_MAX + 1 + 2 * KEY_HEAD + 2 + KEY_HASH + META_ID_LEN + 4)

enum key_kind { KEY_SHORT = 0, KEY_GROUP = 1 };

/* bucket + 0x00. Returns length. */
size_t key_bucket_prefix(uint8_t *out, const char *bucket, size_t blen);
/* bucket prefix + encoded object key (no suffix). Returns length. */
size_t key_encode(uint8_t *out, const char *bucket, size_t blen, const uint8_t *key, size_t klen);
/* Seek position: first encoding >= every key k >= key (key <= KEY_HEAD) or
 * the group start (key > KEY_HEAD). */
size_t key_encode_seek(uint8_t *out, const char *bucket, size_t blen, const uint8_t *key,
		       size_t klen);
/* Parses the object-key part of raw (after the bucket prefix of bplen bytes).
 * Short: unescapes into kbuf (META_KEY_MAX), *klen set. Group: *grp_len is
 * the length of the group prefix (through the marker). *hdr_len is the
 * offset where the suffix starts. CN_ECORRUPT on malformed bytes. */
int key_decode(const uint8_t *raw, size_t rlen, size_t bplen, uint8_t *kbuf, size_t *klen,
	       enum key_kind *kind, size_t *grp_len, size_t *hdr_len);
/* Smallest string greater than every string with prefix p; 0 if none. */
size_t key_prefix_succ(uint8_t *out, const uint8_t *p, size_t plen);
bool bucket_name_valid(const char *b, size_t len);

/* ---- logical cursor over index/versions/uploads (cursor.c) ---- */

struct gent {
	const uint8_t *key;
	size_t klen;
	const uint8_t *sfx;
	const uint8_t *val;
	size_t vlen;
};

struct lcur {
	struct kv_cursor cur;
	uint8_t bp[META_BUCKET_MAX + 2];
	size_t bplen;
	char bucket[META_BUCKET_MAX + 1];
	size_t blen;
	size_t sfxlen;
	int eof;
	int err;
	unsigned long steps; /* raw seeks + steps, for tests and metrics */
	uintptr_t last_page; /* LMDB page of the last raw entry (prefetch) */
	const uint8_t *key;
	size_t klen;
	const uint8_t *sfx;
	const uint8_t *val;
	size_t vlen;
	uint8_t kbuf[META_KEY_MAX];
	/* group mode: a long-key group read whole and sorted by (key, sfx) */
	int ingroup;
	struct gent *g;
	size_t gn, gi, gcap;
	uint8_t ghead[KEY_HEAD];
	uint8_t gsucc[KEY_ENC_MAX];
	size_t gsucclen;
};

struct lbound {
	const uint8_t *key;
	size_t klen;
	const uint8_t *sfx; /* NULL: before (excl=0) / after (excl=1) all suffixes */
	int excl;
};

int lc_open(struct lcur *lc, struct kv_txn *t, enum kv_db db, const char *bucket, size_t blen,
	    size_t sfxlen);
void lc_close(struct lcur *lc);
/* Positions at the first entry satisfying the bound. Returns 0 (check eof). */
int lc_seek(struct lcur *lc, const struct lbound *b);
int lc_next(struct lcur *lc);
/* Skips every key that starts with p. */
int lc_seek_past(struct lcur *lc, const uint8_t *p, size_t plen);

/* ---- apply (apply.c) ---- */

/* Applies one decoded command in (nested) write txn t. Deterministic: reads
 * only t, cmd and flags. Writes results into *res. scratch: an encode buffer
 * the caller keeps across commands (reset here; saves a malloc per command).
 * META_APPLY_REPLICATED (every node of a cluster applies with it): a command
 * committing a blob (PUT of a blob version, a part) fails with CN_EABANDONED
 * unless the blob's intent is still there. A node that restarts reclaims its
 * unfinished blobs by dropping their intents through the log, and a proposal
 * of its previous life may still be on its way to the leader: whichever the
 * log orders first wins, and a blob is never both collected and referenced. */
#define META_APPLY_REPLICATED 1u
/* drives (NULL: none): how an INTENT_ADD's layout is read for the leaving
 * node rule (meta_options.layout_drives). */
int meta_apply(struct kv_txn *t, const struct meta_cmd *cmd, struct meta_cmd_result *res,
	       struct cn_buf *scratch, unsigned flags, meta_layout_drives_fn drives);
/* Appends cmd's encoding (meta_cmd_encode's format) to w. */
int cmd_encode_into(const struct meta_cmd *c, struct cn_buf *w);
/* Turns every intent into a gc entry due at now (startup orphan sweep). */
int meta_intents_to_gc(struct kv_txn *t, int64_t now, uint64_t *n);
int stats_load(struct kv_txn *t, const char *bucket, size_t blen, struct stats_rec *s);

/* ---- upgrade (upgrade.c) ---- */

/* Rewrites a format-1 store's records as format 2 in chunked, idempotent
 * transactions (the caller then writes the format number). Owner only. */
int meta_upgrade_v1(struct kv_env *env, uint64_t *moved);

/* stats key = bucket name bytes. */

#endif
