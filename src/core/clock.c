/*
 * core/clock.c — see clock.h.
 */
#include "core/clock.h"

#include "core/err.h"

#include <errno.h>
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

int cn_cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t a;
	int rc = CN_ENOMEM;

	if (pthread_condattr_init(&a) != 0)
		return CN_ENOMEM;
	if (pthread_condattr_setclock(&a, CLOCK_MONOTONIC) == 0 && pthread_cond_init(cv, &a) == 0)
		rc = 0;
	pthread_condattr_destroy(&a);
	return rc;
}

int cn_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t deadline_ns)
{
	struct timespec ts;

	if (deadline_ns < 0)
		deadline_ns = 0;
	ts.tv_sec = (time_t)(deadline_ns / 1000000000LL);
	ts.tv_nsec = (long)(deadline_ns % 1000000000LL);
	return pthread_cond_timedwait(cv, mu, &ts) == ETIMEDOUT ? CN_ETIMEOUT : 0;
}

void cn_clock_set(cn_clock_fn fn)
{
	atomic_store(&wall_override, fn);
}
