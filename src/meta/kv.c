/*
 * meta/kv.c — the kv seam implemented over LMDB (the only mdb_* user).
 *
 * Layer: meta, bottom. Invariants: the env is opened MDB_NOTLS |
 * MDB_NOSUBDIR-free (a directory holding data.mdb/lock.mdb) with default
 * durable sync flags; all named dbs are opened once at open, in one write
 * transaction, so dbi handles are valid for every later transaction.
 */
#include "meta/kv.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"

#define READ_POOL 64

struct kv_env {
	MDB_env *env;
	MDB_dbi dbi[KV_NDB];
	/* reset read txns, renewed by kv_read_begin: no snapshot is pinned while
	 * pooled, and renew skips the reader-table lock and an allocation */
	pthread_mutex_t pool_mu;
	MDB_txn *pool[READ_POOL];
	int npool;
	/* Read txns hold it shared; kv_env_replace takes it exclusive to swap
	 * the files under a live environment (a cluster snapshot install).
	 * Writer-preferring, so a stream of reads cannot starve the swap. */
	pthread_rwlock_t swap;
	char *dir;
	int nometasync;	 /* KV_NOMETASYNC */
	size_t psize;	 /* LMDB's page size (kv_overflow_slack) */
	int replaceable; /* KV_REPLACEABLE: readers take swap */
	uint64_t map_size;
};

static atomic_long fault_n;

void kv_fault_after(long n)
{
	atomic_store(&fault_n, n);
}

/* Test seam: true when this write call is the one chosen to fail. */
static bool fault_hit(void)
{
	long n = atomic_load(&fault_n);
	while (n > 0) {
		if (atomic_compare_exchange_weak(&fault_n, &n, n - 1))
			return n == 1;
	}
	return false;
}

static const char *const db_names[KV_NDB] = {
	[KV_SYSTEM] = "system",	    [KV_BUCKETS] = "buckets", [KV_INDEX] = "index",
	[KV_VERSIONS] = "versions", [KV_INLINE] = "inline",   [KV_UPLOADS] = "uploads",
	[KV_PARTS] = "parts",	    [KV_GC] = "gc",	      [KV_INTENTS] = "intents",
	[KV_STATS] = "stats",	    [KV_MAP] = "map",	      [KV_HEAL] = "heal",
	[KV_IAM] = "iam",	    [KV_BCONF] = "bconf",
};

/* LMDB code -> cairn code, at the module boundary. */
static int xlate(int rc)
{
	switch (rc) {
	case MDB_SUCCESS: return 0;
	case MDB_NOTFOUND: return CN_ENOTFOUND;
	case MDB_KEYEXIST: return CN_EEXIST;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL: return CN_ENOSPACE;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID: return CN_ECORRUPT; /* not an LMDB file (any more): damage */
	case MDB_VERSION_MISMATCH: return CN_EFORMAT;
	case MDB_BAD_VALSIZE: return CN_ETOOBIG;
	case MDB_READERS_FULL:
	case MDB_MAP_RESIZED: return CN_EAGAIN;
	default:
		if (rc > 0)
			return -rc;
		return CN_EINTERNAL;
	}
}

/* Creates and opens e->env on e->dir and opens every named db. */
static int env_open_files(struct kv_env *e)
{
	MDB_txn *txn = NULL;
	int rc = xlate(mdb_env_create(&e->env));
	if (rc)
		return rc;
	rc = xlate(mdb_env_set_maxdbs(e->env, KV_NDB + 2));
	if (!rc)
		rc = xlate(mdb_env_set_mapsize(e->env, (size_t)e->map_size));
	if (!rc)
		rc = xlate(mdb_env_set_maxreaders(e->env, 1024));
	if (rc)
		goto fail_env;
	/* NOTLS: read txns are not tied to threads. No NOSYNC or WRITEMAP (a
	 * system crash could corrupt the store); NOMETASYNC only when asked
	 * (a replicated store: a crash may undo the last commits, which the
	 * Raft log replays). */
	rc = xlate(mdb_env_open(e->env, e->dir, MDB_NOTLS | (e->nometasync ? MDB_NOMETASYNC : 0),
				0600));
	if (rc) {
		log_error("meta: cannot open LMDB environment in %s: %s", e->dir, cn_strerror(rc));
		goto fail_env;
	}
	{
		MDB_stat st;
		rc = xlate(mdb_env_stat(e->env, &st));
		if (rc)
			goto fail_env;
		e->psize = st.ms_psize;
	}
	rc = xlate(mdb_txn_begin(e->env, NULL, 0, &txn));
	if (rc)
		goto fail_env;
	for (int i = 0; i < KV_NDB; i++) {
		rc = xlate(mdb_dbi_open(txn, db_names[i], MDB_CREATE, &e->dbi[i]));
		if (rc) {
			mdb_txn_abort(txn);
			goto fail_env;
		}
	}
	rc = xlate(mdb_txn_commit(txn));
	if (rc)
		goto fail_env;
	return 0;
fail_env:
	mdb_env_close(e->env);
	e->env = NULL;
	return rc;
}

int kv_env_open(const char *dir, uint64_t map_size, unsigned flags, struct kv_env **out)
{
	struct kv_env *e = calloc(1, sizeof(*e));
	pthread_rwlockattr_t ra;
	int rc;

	if (!e)
		return CN_ENOMEM;
	e->dir = strdup(dir);
	e->map_size = map_size;
	e->nometasync = !!(flags & KV_NOMETASYNC);
	e->replaceable = !!(flags & KV_REPLACEABLE);
	if (!e->dir) {
		free(e);
		return CN_ENOMEM;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		rc = -errno;
		free(e->dir);
		free(e);
		return rc;
	}
	pthread_mutex_init(&e->pool_mu, NULL);
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&e->swap, &ra);
	pthread_rwlockattr_destroy(&ra);
	rc = env_open_files(e);
	if (rc) {
		pthread_mutex_destroy(&e->pool_mu);
		pthread_rwlock_destroy(&e->swap);
		free(e->dir);
		free(e);
		return rc;
	}
	*out = e;
	return 0;
}

int kv_env_replace(struct kv_env *e, const char *newdir)
{
	char from[4096], to[4096], lock[4096];
	int rc = 0;

	if (!e->replaceable)
		return CN_EINVAL; /* its readers do not take the lock */
	if ((size_t)snprintf(from, sizeof(from), "%s/data.mdb", newdir) >= sizeof(from) ||
	    (size_t)snprintf(to, sizeof(to), "%s/data.mdb", e->dir) >= sizeof(to) ||
	    (size_t)snprintf(lock, sizeof(lock), "%s/lock.mdb", e->dir) >= sizeof(lock))
		return CN_ETOOBIG;
	pthread_rwlock_wrlock(&e->swap);
	pthread_mutex_lock(&e->pool_mu);
	for (int i = 0; i < e->npool; i++)
		mdb_txn_abort(e->pool[i]);
	e->npool = 0;
	pthread_mutex_unlock(&e->pool_mu);
	mdb_env_close(e->env);
	e->env = NULL;
	/* rename is atomic: a crash leaves the old store or the new one */
	if (rename(from, to) != 0)
		rc = -errno;
	unlink(lock);
	if (rc == 0) {
		int fd = open(e->dir, O_RDONLY | O_DIRECTORY);
		if (fd >= 0) {
			if (fsync(fd) != 0)
				rc = -errno;
			close(fd);
		}
	}
	/* The old store if the rename failed, else the new one; without an
	 * environment nothing can go on. */
	int orc = env_open_files(e);
	if (!rc)
		rc = orc;
	pthread_rwlock_unlock(&e->swap);
	if (orc) {
		log_error("meta: cannot reopen the store after replacing it: %s", cn_strerror(orc));
		abort();
	}
	return rc;
}

int kv_env_copy_fd(struct kv_env *e, int fd)
{
	pthread_rwlock_rdlock(&e->swap);
	int rc = xlate(mdb_env_copyfd2(e->env, fd, MDB_CP_COMPACT));
	pthread_rwlock_unlock(&e->swap);
	return rc;
}

int kv_env_sync(struct kv_env *e)
{
	return xlate(mdb_env_sync(e->env, 1));
}

void kv_env_close(struct kv_env *e)
{
	if (!e)
		return;
	for (int i = 0; i < e->npool; i++)
		mdb_txn_abort(e->pool[i]);
	mdb_env_close(e->env);
	pthread_mutex_destroy(&e->pool_mu);
	pthread_rwlock_destroy(&e->swap);
	free(e->dir);
	free(e);
}

int kv_read_begin(struct kv_env *e, struct kv_txn *out)
{
	MDB_txn *t = NULL;

	if (e->replaceable)
		pthread_rwlock_rdlock(&e->swap);
	pthread_mutex_lock(&e->pool_mu);
	if (e->npool)
		t = e->pool[--e->npool];
	pthread_mutex_unlock(&e->pool_mu);
	if (t) {
		int rc = xlate(mdb_txn_renew(t));
		if (rc) {
			mdb_txn_abort(t);
			if (e->replaceable)
				pthread_rwlock_unlock(&e->swap);
			return rc;
		}
		out->t = t;
		out->env = e;
		out->writes = 0;
		out->rdlocked = e->replaceable;
		return 0;
	}
	if (e->replaceable)
		pthread_rwlock_unlock(&e->swap);
	return kv_txn_begin(e, NULL, 1, out);
}

void kv_read_end(struct kv_txn *t)
{
	struct kv_env *e = t->env;

	if (!t->t)
		return;
	mdb_txn_reset(t->t);
	pthread_mutex_lock(&e->pool_mu);
	if (e->npool < READ_POOL) {
		e->pool[e->npool++] = t->t;
		t->t = NULL;
	}
	pthread_mutex_unlock(&e->pool_mu);
	if (t->t)
		mdb_txn_abort(t->t);
	t->t = NULL;
	if (t->rdlocked) {
		t->rdlocked = 0;
		pthread_rwlock_unlock(&e->swap);
	}
}

int kv_env_copy(struct kv_env *e, const char *path)
{
	return xlate(mdb_env_copy2(e->env, path, MDB_CP_COMPACT));
}

size_t kv_key_max(struct kv_env *e)
{
	return (size_t)mdb_env_get_maxkeysize(e->env);
}

/* LMDB's page header (PAGEHDRSZ in mdb.c, not exported): a run of n
 * overflow pages holds one value of up to n * psize - 16 bytes. */
#define LMDB_PAGE_HEADER 16

size_t kv_overflow_slack(const struct kv_env *e, size_t len)
{
	if (len + LMDB_PAGE_HEADER <= e->psize)
		return 0; /* in a leaf, or one overflow page */
	return (len + LMDB_PAGE_HEADER) % e->psize;
}

int kv_txn_begin(struct kv_env *e, struct kv_txn *parent, int rdonly, struct kv_txn *out)
{
	MDB_txn *t = NULL;
	int rc;

	/* Write txns belong to the store's owner thread, which is also the
	 * only one that replaces the files: only readers take the lock. */
	int lock = rdonly && e->replaceable;

	if (lock)
		pthread_rwlock_rdlock(&e->swap);
	rc = xlate(mdb_txn_begin(e->env, parent ? parent->t : NULL, rdonly ? MDB_RDONLY : 0, &t));
	if (rc) {
		if (lock)
			pthread_rwlock_unlock(&e->swap);
		return rc;
	}
	out->t = t;
	out->env = e;
	out->writes = 0;
	out->rdlocked = lock;
	return 0;
}

static void unlock_read(struct kv_txn *t)
{
	if (t->rdlocked) {
		t->rdlocked = 0;
		pthread_rwlock_unlock(&t->env->swap);
	}
}

/* LMDB reports a short write as EIO, and at the end of a filesystem a write
 * comes back short: a commit's EIO with (next to) no space left is the full
 * disk, which the client is told as such (507), not as a server fault. */
#define KV_FULL_SLACK (4u << 20)
static int fs_full(struct kv_env *e)
{
	struct statvfs st;
	return statvfs(e->dir, &st) == 0 && (uint64_t)st.f_bavail * st.f_frsize < KV_FULL_SLACK;
}

int kv_txn_commit(struct kv_txn *t)
{
	if (fault_hit()) {
		mdb_txn_abort(t->t);
		t->t = NULL;
		unlock_read(t);
		return CN_EIO;
	}
	int rc = mdb_txn_commit(t->t);

	t->t = NULL;
	unlock_read(t);
	if (rc == EIO && fs_full(t->env))
		rc = ENOSPC;
	return xlate(rc);
}

void kv_txn_abort(struct kv_txn *t)
{
	if (t->t)
		mdb_txn_abort(t->t);
	t->t = NULL;
	unlock_read(t);
}

int kv_get(struct kv_txn *t, enum kv_db db, const void *k, size_t klen, const uint8_t **v,
	   size_t *vlen)
{
	MDB_val key = {klen, (void *)k}, val;
	int rc = xlate(mdb_get(t->t, t->env->dbi[db], &key, &val));

	if (rc)
		return rc;
	*v = val.mv_data;
	*vlen = val.mv_size;
	return 0;
}

int kv_put(struct kv_txn *t, enum kv_db db, const void *k, size_t klen, const void *v, size_t vlen)
{
	MDB_val key = {klen, (void *)k}, val = {vlen, (void *)v};

	t->writes++;
	if (fault_hit())
		return CN_EIO;
	return xlate(mdb_put(t->t, t->env->dbi[db], &key, &val, 0));
}

int kv_del(struct kv_txn *t, enum kv_db db, const void *k, size_t klen)
{
	MDB_val key = {klen, (void *)k};

	t->writes++;
	if (fault_hit())
		return CN_EIO;
	return xlate(mdb_del(t->t, t->env->dbi[db], &key, NULL));
}

int kv_cursor_open(struct kv_txn *t, enum kv_db db, struct kv_cursor *out)
{
	MDB_cursor *c = NULL;
	int rc = xlate(mdb_cursor_open(t->t, t->env->dbi[db], &c));

	out->c = rc ? NULL : c;
	out->t = t;
	return rc;
}

void kv_cursor_close(struct kv_cursor *c)
{
	if (c->c)
		mdb_cursor_close(c->c);
	c->c = NULL;
}

static int cursor_get(struct kv_cursor *c, MDB_val *key, MDB_cursor_op op, struct kv_item *it)
{
	MDB_val val;
	int rc = xlate(mdb_cursor_get(c->c, key, &val, op));

	if (rc)
		return rc;
	it->k = key->mv_data;
	it->klen = key->mv_size;
	it->v = val.mv_data;
	it->vlen = val.mv_size;
	return 0;
}

int kv_cursor_seek(struct kv_cursor *c, const void *k, size_t klen, struct kv_item *it)
{
	MDB_val key = {klen, (void *)k};

	if (klen == 0)
		return cursor_get(c, &key, MDB_FIRST, it);
	return cursor_get(c, &key, MDB_SET_RANGE, it);
}

int kv_cursor_next(struct kv_cursor *c, struct kv_item *it)
{
	MDB_val key = {0, NULL};

	return cursor_get(c, &key, MDB_NEXT, it);
}

int kv_cursor_del(struct kv_cursor *c)
{
	c->t->writes++;
	if (fault_hit())
		return CN_EIO;
	return xlate(mdb_cursor_del(c->c, 0));
}
