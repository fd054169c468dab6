/*
 * meta/kv.h — the ordered key-value seam under the metadata engine (private).
 *
 * Layer: the only place that knows LMDB (mdb_* lives in kv.c alone). Keys are
 * compared bytewise (memcmp order), at most kv_key_max() bytes. Foreign codes
 * are translated here: MDB_NOTFOUND -> CN_ENOTFOUND, MDB_MAP_FULL ->
 * CN_ENOSPACE, corruption -> CN_ECORRUPT, version mismatch -> CN_EFORMAT.
 *
 * Durability: the environment is opened without NOSYNC/NOMETASYNC/WRITEMAP,
 * so a returned kv_txn_commit() is on stable storage. MDB_NOTLS lets a read
 * transaction be used from any thread (one thread at a time).
 *
 * Pointers returned by get/cursor calls stay valid until the transaction
 * ends, or in a write transaction until its next write.
 */
#ifndef CAIRN_META_KV_H
#define CAIRN_META_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum kv_db {
	KV_SYSTEM,
	KV_BUCKETS,
	KV_INDEX,
	KV_VERSIONS,
	KV_INLINE,
	KV_UPLOADS,
	KV_PARTS,
	KV_GC,
	KV_INTENTS,
	KV_STATS,
	KV_MAP,	  /* cluster map; created on open, so older stores gain it empty */
	KV_HEAL,  /* blobs written with shards missing (cluster); same */
	KV_IAM,	  /* users, keys, groups, policies; same */
	KV_BCONF, /* bucket configuration documents; same */
	KV_NDB
};

struct kv_env;

struct kv_txn {
	void *t; /* MDB_txn */
	struct kv_env *env;
	/* write calls attempted (put, del, cursor del): a failed one leaves an
	 * LMDB txn unusable, so callers check whether a failing step wrote */
	unsigned long writes;
	int rdlocked; /* a read txn: holds the env's swap lock shared */
};

struct kv_cursor {
	void *c; /* MDB_cursor */
	struct kv_txn *t;
};

struct kv_item {
	const uint8_t *k;
	size_t klen;
	const uint8_t *v;
	size_t vlen;
};

/* Opens/creates the environment in dir with all named dbs. flags:
 * KV_NOMETASYNC commits without syncing the meta page (a crash may lose
 * the last commits, never corrupt): only for a store whose commits a log
 * can replay; kv_env_sync makes everything durable. KV_REPLACEABLE lets
 * kv_env_replace swap the files: read txns then take a shared lock (a
 * shared cache line), so only a store that is replaced asks for it. */
#define KV_NOMETASYNC 1u
#define KV_REPLACEABLE 2u
int kv_env_open(const char *dir, uint64_t map_size, unsigned flags, struct kv_env **out);
void kv_env_close(struct kv_env *e);
int kv_env_copy(struct kv_env *e, const char *path);
/* Writes a compacting copy of the environment to fd (a file or a pipe),
 * from one read snapshot. Any thread. */
int kv_env_copy_fd(struct kv_env *e, int fd);
/* Forces committed data to disk. Any thread. */
int kv_env_sync(struct kv_env *e);
/* Replaces the environment's files by newdir/data.mdb (a complete copy, made
 * durable by the caller) while readers wait: the same struct kv_env then
 * reads the new store. Owner thread, with no write txn open. Aborts the
 * process if no store can be reopened. */
int kv_env_replace(struct kv_env *e, const char *newdir);
size_t kv_key_max(struct kv_env *e);
/* A value of len bytes bigger than a page lives in a run of overflow pages,
 * the last one partly empty: how many bytes (0: none) to keep elsewhere
 * so that the rest fills its pages exactly. 4096 bytes on 4 KiB pages: 16
 * (one page for the other 4080, not two). Any thread. */
size_t kv_overflow_slack(const struct kv_env *e, size_t len);

/* rdonly: read txn. parent: nested write txn (NULL for top level). */
int kv_txn_begin(struct kv_env *e, struct kv_txn *parent, int rdonly, struct kv_txn *out);
int kv_txn_commit(struct kv_txn *t);
void kv_txn_abort(struct kv_txn *t);

/* Read txns from a pool of reset transactions (no snapshot pinned while
 * pooled). Pair kv_read_begin with kv_read_end. Any thread. */
int kv_read_begin(struct kv_env *e, struct kv_txn *out);
void kv_read_end(struct kv_txn *t);

/* Fault seam for tests (SQLite-style anomaly testing): the n-th write call
 * (put, del, cursor del, commit) from now fails with CN_EIO; 0 disables. */
void kv_fault_after(long n);

int kv_get(struct kv_txn *t, enum kv_db db, const void *k, size_t klen, const uint8_t **v,
	   size_t *vlen);
int kv_put(struct kv_txn *t, enum kv_db db, const void *k, size_t klen, const void *v, size_t vlen);
/* CN_ENOTFOUND if absent. */
int kv_del(struct kv_txn *t, enum kv_db db, const void *k, size_t klen);

int kv_cursor_open(struct kv_txn *t, enum kv_db db, struct kv_cursor *out);
void kv_cursor_close(struct kv_cursor *c);
/* First item with key >= k (klen 0: the first item). CN_ENOTFOUND at end. */
int kv_cursor_seek(struct kv_cursor *c, const void *k, size_t klen, struct kv_item *it);
int kv_cursor_next(struct kv_cursor *c, struct kv_item *it);
/* Deletes the item under the cursor. */
int kv_cursor_del(struct kv_cursor *c);

#endif
