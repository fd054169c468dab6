/*
 * bg/gc.h — the garbage collector: a background thread that deletes the blobs
 * of overwritten and deleted versions, aborted/replaced parts and orphans,
 * once their gc entry is due, then removes the entries with one metadata
 * command per batch.
 *
 * Nothing referenced is deleted: an entry only exists once the metadata
 * that pointed at the blob has been changed in a committed transaction, and
 * its due time leaves in-flight readers a grace period.
 *
 * Thread rules: gc_start/gc_stop/gc_free on the owner thread; gc_kick and
 * gc_run_once from any thread.
 */
#ifndef CAIRN_BG_GC_H
#define CAIRN_BG_GC_H

#include <stdint.h>

struct meta_store;
struct data_store;
struct gc;

struct blob_layout;

/* Cluster: a blob's shards live on several nodes. One node collects (the
 * leader: active); it deletes what is on its own drives and asks every
 * other node of the configuration to do the same. An entry is done only
 * when every node deleted its part (and none had the blob pinned by a
 * reader), so a node that is down keeps the entry until it is back: its
 * shards are collected then, and nothing deleted comes back. */
struct gc_peers {
	int (*active)(void *ctx);
	/* ok[i] = 1 when every other node deleted blob l[i] (or never had
	 * it); 0 when one could not (busy, offline, unreachable). Returns 0 or
	 * an error (then ok is all 0). Blocking. */
	int (*remove)(void *ctx, const struct blob_layout *l, unsigned n, uint8_t *ok);
	void *ctx;
};

struct gc_options {
	unsigned interval_ms;	      /* pause between passes (default 1000) */
	int64_t grace_ns;	      /* min age of an entry; < 0: META_GC_GRACE_NS */
	unsigned batch;		      /* entries per pass (default 256) */
	const struct gc_peers *peers; /* cluster (borrowed until gc_stop); NULL: one node */
};

int gc_start(struct meta_store *m, struct data_store *d, const struct gc_options *opt,
	     struct gc **out);
/* Wakes the thread for an immediate pass. */
void gc_kick(struct gc *g);
/* Runs one pass on the calling thread; returns blobs deleted or an error. */
int gc_run_once(struct gc *g);
void gc_stop(struct gc *g);
/* Totals since start: blobs deleted, deletions that failed (drive offline),
 * and deletions deferred because a reader had the blob pinned. */
void gc_stats(struct gc *g, uint64_t *deleted, uint64_t *failed, uint64_t *deferred);

/* Cluster start-up: the intents of blobs this node was writing belong to
 * uploads its previous life never finished (this one has served nothing
 * yet): those whose id starts with the 4-byte writer tag (NULL: those with
 * a shard on this node's drives, as blobs were before shards spread). Waits for a read barrier,
 * then drops each through the log (its blob becomes a gc entry). Returns how many, or an error (no
 * leader: retry). Blocks; call before the node serves S3. Any thread but a loop's. */
int gc_reclaim_local_intents(struct meta_store *m, struct data_store *d, const uint8_t *tag);

#endif
