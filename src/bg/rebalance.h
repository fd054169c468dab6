/*
 * bg/rebalance.h — moving shards to where the cluster map now puts them
 * (DESIGN §6: after a node is added, removed or reweighted).
 *
 * One background thread per node; only the leader's works (hooks.active).
 * When the map epoch differs from the last one fully balanced, it walks
 * every version of every bucket (pages, short read transactions) and, for
 * each blob whose drives differ from its placement under the current map
 * (as a set: a drive still chosen keeps its shard), copies the shards that
 * must move to their new drives (blob_move_shards: reconstructed when the
 * old copy is gone), then commits META_CMD_BLOB_MOVE, which succeeds only
 * if the blob's layout is still the one it read; the old copies become a
 * gc entry. The new copies are covered by an intent while they are
 * written, so a move that fails or loses the race is collected.
 *
 * A blob with a heal entry moves like any other (the moved shards are
 * written from its content, so they are no longer missing; the entry takes
 * the new layout for the backfill of the rest). Throttled to
 * `bytes_per_sec` of moved shard bytes; the cursor is saved to a file
 * every second, so a restarted leader resumes where it was (a new leader
 * starts over: blobs already in place cost a metadata read each). Pause,
 * resume, stop and start are operator commands, kept as a replicated
 * setting (META_CMD_SETTING "rebalance"), so every node, the next leader
 * and a restarted one agree on them; a stop holds until the map epoch
 * moves on. Status never lies: it says what the thread is doing now.
 *
 * Thread rules: rebalance_start/_stop on the owner thread;
 * rebalance_control blocks on a metadata command (not on a libuv loop);
 * the rest from any thread.
 */
#ifndef CAIRN_BG_REBALANCE_H
#define CAIRN_BG_REBALANCE_H

#include <stdint.h>

#include "meta/meta.h"

struct meta_store;
struct data_store;
struct rebalance;

struct rebalance_hooks {
	int (*active)(void *ctx); /* this node leads */
	/* the drives blob_id's k+m shards belong on now, and the map epoch */
	int (*target)(void *ctx, const uint8_t blob_id[16], uint8_t k, uint8_t m,
		      uint8_t (*drive)[16], uint64_t *epoch);
	void *ctx;
};

struct rebalance_options {
	uint64_t bytes_per_sec;	 /* moved shard bytes; 0 = 128 MiB/s */
	const char *cursor_path; /* node-local file for the cursor; NULL: none */
};

enum rebalance_state {
	REBALANCE_STANDBY = 0, /* not the leader */
	REBALANCE_IDLE,	       /* balanced for the map epoch in force */
	REBALANCE_RUNNING,
	REBALANCE_PAUSED,
	REBALANCE_STOPPED, /* by the operator, until start or a new map epoch */
};

struct rebalance_progress {
	enum rebalance_state state;
	uint64_t epoch;		 /* map epoch of the current (or last) pass */
	uint64_t balanced_epoch; /* last epoch a pass completed for */
	uint64_t passes;
	uint64_t versions_total; /* estimate at the start of the pass */
	uint64_t versions_done;
	uint64_t blobs_checked;
	uint64_t blobs_moved;
	uint64_t shards_moved;
	uint64_t bytes_moved;
	uint64_t conflicts; /* moves whose blob changed meanwhile */
	uint64_t failed;    /* moves that failed (retried next pass) */
	/* blobs this pass could not place on distinct nodes (a cluster smaller
	 * than their width): left where they are, so their shards on removed
	 * nodes are still needed there */
	uint64_t unplaced;
	uint64_t bytes_per_sec; /* this pass */
	int64_t eta_s;		/* -1 unknown */
};

enum rebalance_op { REBALANCE_PAUSE, REBALANCE_RESUME, REBALANCE_STOP, REBALANCE_START };

int rebalance_start(struct meta_store *m, struct data_store *d, const struct rebalance_hooks *h,
		    const struct rebalance_options *opt, struct rebalance **out);
/* Operator control, committed as a replicated setting. Returns 0, CN_EINVAL
 * for an op that makes no sense in the current state (resume when not
 * paused...), or the command's error (CN_ENOLEADER...). Blocks. */
int rebalance_control(struct rebalance *r, enum rebalance_op op);
void rebalance_progress(struct rebalance *r, struct rebalance_progress *out);
const char *rebalance_state_name(enum rebalance_state s);
void rebalance_stop(struct rebalance *r);

/* A blob that removing a node would strand, and whose it is. */
struct rebalance_stranded {
	char bucket[META_BUCKET_MAX + 1];
	char key[META_KEY_MAX + 1]; /* NUL-terminated copy (keys have no NUL) */
	char vid[META_ID_TEXT];	    /* the version, or the upload id */
	int upload;		    /* 1: a part of an open multipart upload;
				       2: a blob being written (an intent: no key
				       yet; vid holds the blob id) */
	int64_t created;	    /* upload 2: when its write began (ns) */
	uint8_t k, m;
};

/* Before a node is removed: is there a blob with a shard on one of its
 * drives (drives[0..n_drives)) that is wider than the nodes_left nodes that
 * would remain? The rebalance could not re-place it on distinct nodes, so
 * the removed node would still hold a shard it needs. Walks every version,
 * every open upload's parts and every blob being written (its intent),
 * stopping at the first such blob: 0 with
 * *found = 1 and *out filled, 0 with *found = 0 when there is none, or the
 * walk's error. Reads only (one lookup per version); any thread. */
int rebalance_shrink_check(struct meta_store *m, const uint8_t (*drives)[16], size_t n_drives,
			   unsigned nodes_left, int *found, struct rebalance_stranded *out);

#endif
