/*
 * core/metrics.h — process-wide counters rendered in Prometheus text format:
 * requests by S3 operation and status, a latency histogram, bytes in/out and
 * open connections.
 *
 * Thread rules: every function may be called from any thread. Recording takes
 * no shared lock: each thread counts into its own table (made on its first
 * call, kept after it exits) and cn_metrics_render sums them all, taking the
 * one mutex that also guards registering a new thread's table.
 */
#ifndef CAIRN_CORE_METRICS_H
#define CAIRN_CORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* `op` must be a string with static lifetime (e.g. "GetObject"); it is kept
 * by pointer. The same text at two addresses is still one series. */
void cn_metrics_request(const char *op, int status, uint64_t usec, uint64_t bytes_in,
			uint64_t bytes_out);
void cn_metrics_conn(int delta);
/* A connection refused, or an idle one closed, at the connection cap. */
void cn_metrics_refused(void);
void cn_metrics_evicted(void);
/* One read of an object's body for a GET: on an event loop from the
 * kernel's caches (on_loop), or on the thread pool. */
void cn_metrics_object_read(int on_loop);
/* How a shard read for another node was answered. */
enum cn_shard_serve {
	CN_SHARD_SENDFILE, /* all of it by sendfile(2) from the page cache */
	CN_SHARD_PARTIAL,  /* sendfile until the socket was full, the rest copied */
	CN_SHARD_LOOP,	   /* copied from the page cache on the loop */
	CN_SHARD_POOL,	   /* read on the thread pool */
	CN_SHARD_NHOW
};
void cn_metrics_shard_serve(enum cn_shard_serve how);
/* How a cluster leader's GET was confirmed (cluster/ticket.h). */
enum cn_leader_read {
	CN_READ_SHARD,	 /* by its own shard reads to other voters */
	CN_READ_ROUND,	 /* by a read round after its answer was ready */
	CN_READ_REFUSED, /* by neither: its answer was not given (503) */
	CN_READ_NHOW
};
void cn_metrics_leader_read(enum cn_leader_read how);
/* How a PutObject/DeleteObject that went ahead before a read round, on a
 * write ticket (a leader's own, or one it gave a follower), was confirmed
 * (s3_entry_confirms). */
enum cn_leader_write {
	CN_WRITE_ENTRY,	  /* by its own log entry, committed in the ticket's term */
	CN_WRITE_ROUND,	  /* by a read round (an error answered without an entry) */
	CN_WRITE_REFUSED, /* by neither: its answer was not given (503) */
	CN_WRITE_NHOW
};
void cn_metrics_leader_write(enum cn_leader_write how);
/* Renders the exposition text into buf; returns the length it needs (which
 * may exceed cap: call again with a larger buffer). When the return is <= cap
 * buf holds the whole text, NUL-terminated only if it is < cap. Series are
 * ordered by op name, then status. */
size_t cn_metrics_render(char *buf, size_t cap);

#endif
