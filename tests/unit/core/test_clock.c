/*
 * Unit tests for core/clock: timed waits count the monotonic clock. A
 * condition variable left on CLOCK_REALTIME takes a monotonic deadline (a few
 * hours or days since boot) as an instant decades ago and returns at once,
 * which the first case catches; the test wall clock (cn_clock_set), set far
 * back or ahead, must not move a wait either. The calendar (cn_utc_of)
 * agrees with gmtime_r on every second tried.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <time.h>

#include "core/clock.h"
#include "core/err.h"

#define MS 1000000LL

/* Waits on a fresh monotonic condition variable until deadline; returns the
 * monotonic nanoseconds it took. Spurious wake-ups wait again. */
static int64_t wait_until(int64_t deadline)
{
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cv;
	int64_t t0 = cn_mono_ns();
	int rc;

	assert_int_equal(cn_cond_init_mono(&cv), 0);
	pthread_mutex_lock(&mu);
	do
		rc = cn_cond_wait_until(&cv, &mu, deadline);
	while (rc == 0);
	pthread_mutex_unlock(&mu);
	assert_int_equal(rc, CN_ETIMEOUT);
	pthread_cond_destroy(&cv);
	return cn_mono_ns() - t0;
}

static void test_wait_until_counts_monotonic(void **state)
{
	(void)state;
	int64_t took = wait_until(cn_mono_ns() + 100 * MS);

	assert_true(took >= 100 * MS);
	assert_true(took < 5000 * MS);
}

static void test_past_deadline_returns_at_once(void **state)
{
	(void)state;
	assert_true(wait_until(cn_mono_ns() - 1000 * MS) < 1000 * MS);
	assert_true(wait_until(0) < 1000 * MS);
	assert_true(wait_until(-5) < 1000 * MS); /* clamped, not an EINVAL loop */
}

static int64_t wall_far_back(void)
{
	return 0; /* 1970 */
}

static int64_t wall_far_ahead(void)
{
	return (int64_t)4000000000LL * 1000000000LL; /* year 2096 */
}

static void test_wall_clock_does_not_move_a_wait(void **state)
{
	(void)state;
	cn_clock_set(wall_far_back);
	assert_int_equal(cn_now_ns(), 0);
	int64_t back = wait_until(cn_mono_ns() + 50 * MS);
	cn_clock_set(wall_far_ahead);
	int64_t ahead = wait_until(cn_mono_ns() + 50 * MS);
	cn_clock_set(NULL);

	assert_true(back >= 50 * MS && back < 5000 * MS);
	assert_true(ahead >= 50 * MS && ahead < 5000 * MS);
}

struct waker {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
};

static void *wake_later(void *arg)
{
	struct waker *w = arg;
	struct timespec ts = {.tv_sec = 0, .tv_nsec = 20 * MS};

	nanosleep(&ts, NULL);
	pthread_mutex_lock(&w->mu);
	w->done = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void test_signal_wakes_before_deadline(void **state)
{
	(void)state;
	struct waker w = {.mu = PTHREAD_MUTEX_INITIALIZER};
	pthread_t t;
	int64_t t0 = cn_mono_ns(), deadline = t0 + 10000 * MS;
	int rc = 0;

	assert_int_equal(cn_cond_init_mono(&w.cv), 0);
	assert_int_equal(pthread_create(&t, NULL, wake_later, &w), 0);
	pthread_mutex_lock(&w.mu);
	while (!w.done && rc == 0)
		rc = cn_cond_wait_until(&w.cv, &w.mu, deadline);
	pthread_mutex_unlock(&w.mu);
	pthread_join(t, NULL);
	pthread_cond_destroy(&w.cv);

	assert_int_equal(rc, 0);
	assert_int_equal(w.done, 1);
	assert_true(cn_mono_ns() - t0 < 5000 * MS);
}

/* cn_utc_of against the C library's gmtime_r: the epoch, leap days
 * (2000 is a leap year, 1900 and 2100 are not), the days around them,
 * instants before 1970, and a spread of seconds across 1600-2600. */
static void check_utc(int64_t secs)
{
	time_t tt = (time_t)secs;
	struct cn_utc u;
	struct tm tm;

	assert_non_null(gmtime_r(&tt, &tm));
	cn_utc_of(secs, &u);
	if (u.year != tm.tm_year + 1900LL || u.mon != (unsigned)tm.tm_mon + 1 ||
	    u.day != (unsigned)tm.tm_mday || u.wday != (unsigned)tm.tm_wday ||
	    u.hour != (unsigned)tm.tm_hour || u.min != (unsigned)tm.tm_min ||
	    u.sec != (unsigned)tm.tm_sec)
		fail_msg("%lld: %lld-%u-%u w%u %u:%u:%u, gmtime %d-%d-%d w%d %d:%d:%d",
			 (long long)secs, (long long)u.year, u.mon, u.day, u.wday, u.hour, u.min,
			 u.sec, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_wday,
			 tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void test_utc_matches_gmtime(void **state)
{
	(void)state;
	/* 1900-02-28, 1970-01-01, 2000-02-29, 2100-02-28, each +- a day */
	const int64_t days[] = {-25509, 0, 11016, 47540};
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (size_t i = 0; i < sizeof(days) / sizeof(days[0]); i++)
		for (int64_t d = days[i] - 2; d <= days[i] + 2; d++)
			for (int64_t s = -1; s <= 1; s++)
				check_utc(d * 86400 + s);
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		/* 1600-01-01 .. 2600-01-01 */
		check_utc(-11676096000LL + (int64_t)(x % 31556952000ull));
	}
}

/* cn_days_from_civil undoes cn_utc_of's date, either side of 1970 */
static void test_days_from_civil_inverts_utc(void **state)
{
	(void)state;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	struct cn_utc u;

	for (int i = 0; i < 200000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		/* days of 1600-01-01 .. 2600-01-01, then every day around 1970 */
		int64_t d = i < 199000 ? -135140 + (int64_t)(x % 365242) : i - 199500;
		cn_utc_of(d * 86400 + 43200, &u);
		if (cn_days_from_civil(u.year, (int)u.mon, (int)u.day) != d)
			fail_msg("day %lld: %lld-%u-%u gives %lld", (long long)d, (long long)u.year,
				 u.mon, u.day,
				 (long long)cn_days_from_civil(u.year, (int)u.mon, (int)u.day));
	}
	assert_int_equal(cn_days_from_civil(1970, 1, 1), 0);
	assert_int_equal(cn_days_from_civil(2000, 3, 1), 11017);
	assert_int_equal(cn_days_from_civil(1969, 12, 31), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wait_until_counts_monotonic),
		cmocka_unit_test(test_past_deadline_returns_at_once),
		cmocka_unit_test(test_wall_clock_does_not_move_a_wait),
		cmocka_unit_test(test_signal_wakes_before_deadline),
		cmocka_unit_test(test_utc_matches_gmtime),
		cmocka_unit_test(test_days_from_civil_inverts_utc),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests_name("core/clock", tests, NULL, NULL);
}
