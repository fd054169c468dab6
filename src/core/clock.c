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

/* Floor division: instants before 1970 fall in the day they lie in. */
static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

int64_t cn_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	/* H. Hinnant's days_from_civil: eras of 400 years from 0000-03-01 */
	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void cn_utc_of(int64_t secs, struct cn_utc *t)
{
	/* the last day asked for on this thread: a listing's entries were
	 * mostly written on a few days */
	static __thread int64_t last_days = INT64_MIN;
	static __thread struct cn_utc last;
	int64_t days = floor_div(secs, 86400);
	int64_t sod = secs - days * 86400;

	t->hour = (unsigned)(sod / 3600);
	t->min = (unsigned)(sod / 60 % 60);
	t->sec = (unsigned)(sod % 60);
	if (days == last_days) {
		t->year = last.year;
		t->mon = last.mon;
		t->day = last.day;
		t->wday = last.wday;
		return;
	}
	/* Days to civil date (H. Hinnant's algorithm): eras of 400 years
	 * starting 0000-03-01, so the leap day ends each year. */
	int64_t z = days + 719468;
	int64_t era = floor_div(z, 146097);
	unsigned doe = (unsigned)(z - era * 146097);			      /* [0, 146096] */
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);		      /* [0, 365] */
	unsigned mp = (5 * doy + 2) / 153;				      /* March = 0 */

	t->day = doy - (153 * mp + 2) / 5 + 1;
	t->mon = mp < 10 ? mp + 3 : mp - 9;
	t->year = (int64_t)yoe + era * 400 + (t->mon <= 2);
	t->wday = (unsigned)(days + 4 - floor_div(days + 4, 7) * 7); /* 1970-01-01: Thursday */
	last = *t;
	last_days = days;
}
