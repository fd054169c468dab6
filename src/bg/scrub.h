/*
 * bg/scrub.h — the scrubber and healer: one background thread that
 *  - drains the data path's heal queue (shards readers found bad), and
 *  - on demand or every `interval_s`, walks every version of every bucket
 *    in the metadata and re-verifies every shard of its blobs (blob_heal
 *    checks every piece and rebuilds bad or missing shards), throttled to
 *    `bytes_per_sec`, and
 *  - rebuilds every shard of a drive adopted as a replacement (the data
 *    store flags it): a walk of the metadata that heals each blob with a
 *    shard on that drive, throttled to `rebuild_bytes_per_sec` of shard
 *    bytes, its cursor and counters saved on the drive every second so a
 *    restart resumes it; done, the drive's flag is cleared, and
 *  - in a cluster, every second, backfills shards recorded missing in the
 *    metadata's heal entries (written while their node was down) that
 *    belong on this node's drives, at the rebuild rate.
 * All healing runs on this one thread, so two heals of a blob never overlap.
 *
 * Thread rules: scrub_start/scrub_stop on the owner thread; scrub_trigger,
 * scrub_progress, scrub_heal_now from any thread.
 */
#ifndef CAIRN_BG_SCRUB_H
#define CAIRN_BG_SCRUB_H

#include <stdint.h>

struct meta_store;
struct data_store;
struct scrub;

struct scrub_options {
	uint64_t bytes_per_sec;		/* verify rate; 0 = 16 MiB/s */
	unsigned interval_s;		/* periodic full pass; 0 = only on demand */
	uint64_t rebuild_bytes_per_sec; /* shard bytes rebuilt; 0 = 256 MiB/s */
	/* cluster: walks of the metadata (passes, rebuilds, backfill) wait
	 * until this says the local replica is caught up; NULL: always */
	int (*ready)(void *ctx);
	void *ready_ctx;
};

/* A replaced drive's rebuild. Shards and bytes count the shards (files) that
 * belong on the drive; done includes shards found intact (healed earlier by
 * a read), rebuilt only those written by the rebuild. */
struct scrub_rebuild {
	int drive;	       /* index in the data store; -1: none running */
	uint64_t shards_total; /* done + remaining at the last (re)start */
	uint64_t shards_done;
	uint64_t shards_rebuilt;
	uint64_t bytes_total;
	uint64_t bytes_done;
	uint64_t lost;		/* blobs with more than m bad shards */
	uint64_t failed;	/* heals that failed otherwise (retried by scrub) */
	uint64_t bytes_per_sec; /* since this process (re)started the rebuild */
	int64_t eta_s;		/* -1: unknown */
	uint64_t completed;	/* rebuilds finished by this process */
	uint64_t last_bytes;	/* the last finished one (this process's share) */
	double last_seconds;
};

struct scrub_progress {
	int running;		/* a full pass is in progress */
	uint64_t passes;	/* full passes completed */
	uint64_t blobs_checked; /* in the current (or last) pass */
	uint64_t bytes_checked;
	uint64_t blobs_bad; /* blobs with at least one bad shard found */
	uint64_t shards_rebuilt;
	uint64_t unrecoverable; /* blobs with more than m bad shards */
	uint64_t queue_healed;	/* blobs healed from the readers' queue */
	uint64_t heal_queue_len;
	int64_t last_pass_end_ns;
	uint64_t backfill_shards; /* missing shards rebuilt from heal entries */
	uint64_t backfill_failed; /* attempts that failed (retried) */
	unsigned interval_s;	  /* the schedule: options in effect */
	uint64_t bytes_per_sec;
	int64_t next_pass_ns; /* wall clock of the next periodic pass; 0: none */
	struct scrub_rebuild rebuild;
};

int scrub_start(struct meta_store *m, struct data_store *d, const struct scrub_options *opt,
		struct scrub **out);
/* Starts a full pass now (no-op when one is running). */
void scrub_trigger(struct scrub *s);
/* Wakes the thread to drain the heal queue now. */
void scrub_heal_now(struct scrub *s);
void scrub_progress(struct scrub *s, struct scrub_progress *out);
void scrub_stop(struct scrub *s);

#endif
