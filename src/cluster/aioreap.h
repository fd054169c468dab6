/*
 * cluster/aioreap.h — libraft's kernel AIO contexts destroyed off the Raft
 * loop (internal to the cluster module).
 *
 * libraft 0.22.1's log writer (raft_uv) gives every open segment its own
 * kernel AIO context and, when the segment fills, calls io_destroy(2) on it
 * from the Raft loop thread. io_destroy waits for an RCU grace period: 38-66
 * ms here (bench/RESULTS.md, 2026-12-06 22:00), during which the loop handles
 * no message, no write completion and no result. Every node rolls its segment
 * at the same log position, so the whole cluster stalls at once, about once
 * a second under load: that was the 3-node PUT's p99.
 *
 * The process defines syscall(2) (libraft calls the kernel through glibc's
 * syscall(), and a definition in the executable comes first in symbol
 * lookup). While the reaper runs, an io_destroy is handed to its thread and
 * reported done at once; every other call goes to glibc's syscall().
 * Deferring is safe because libraft closes a writer only after its writes
 * completed, closes the segment's fd and event fd first, and never names the
 * context again; a context not yet destroyed costs the kernel one ring page.
 * With the reaper stopped, or its queue full, io_destroy runs in the caller.
 *
 * Threads: start and stop from any thread (counted: each start is matched by
 * a stop; the last stop destroys what is queued and joins the reaper);
 * syscall() from any thread.
 */
#ifndef CAIRN_CLUSTER_AIOREAP_H
#define CAIRN_CLUSTER_AIOREAP_H

#include <stdint.h>

/* 0 or CN_ENOMEM / CN_EIO (the thread could not start: io_destroy then
 * stays synchronous, and the caller may go on). */
int aioreap_start(void);
void aioreap_stop(void);

struct aioreap_stats {
	uint64_t deferred;  /* io_destroy calls handed to the reaper */
	uint64_t destroyed; /* of those, destroyed by it */
	uint64_t max_ns;    /* the longest io_destroy it waited for */
};
void aioreap_stats(struct aioreap_stats *out);

#endif
