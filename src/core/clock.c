/*
 * core/clock.c — see clock.h.
 */
#include "core/clock.h"

#include <stdatomic.h>
#include <time.h>

static _Atomic(cn_clock_fn) wall_override;

static int64_t ts_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t cn_now_ns(void)
{
	cn_clock_fn fn = atomic_load_explicit(&wall_override, memory_order_relaxed);
	return fn ? fn() : ts_ns(CLOCK_REALTIME);
}

int64_t cn_mono_ns(void)
{
	return ts_ns(CLOCK_MONOTONIC);
}

void cn_clock_set(cn_clock_fn fn)
{
	atomic_store(&wall_override, fn);
}
