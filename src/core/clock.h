/*
 * core/clock.h — the one clock. Wall time (CLOCK_REALTIME) for what is
 * stored or compared with clients (mtimes, version ids, gc due times, SigV4
 * skew); monotonic time for durations and deadlines, which must not jump
 * when the wall clock is set.
 *
 * Tests may replace the wall clock (cn_clock_set) to move time without
 * sleeping: a lifecycle "day", an expired presigned URL, a GC grace period.
 *
 * Thread rules: the readers are callable from any thread; cn_clock_set is
 * called before the threads that read the clock start (or while they are
 * quiescent) — the pointer itself is read atomically.
 */
#ifndef CAIRN_CORE_CLOCK_H
#define CAIRN_CORE_CLOCK_H

#include <pthread.h>
#include <stdint.h>

/* Nanoseconds since the Unix epoch (wall clock, or the test override). */
int64_t cn_now_ns(void);
/* Nanoseconds of CLOCK_MONOTONIC: for intervals only. */
int64_t cn_mono_ns(void);

/* Initializes *cv so that its timed waits count CLOCK_MONOTONIC: a wall
 * clock set back an hour must not stretch a one-second wait to an hour, nor
 * one set forward cut it to nothing. Returns 0 or CN_ENOMEM. Every condition
 * variable waited on with cn_cond_wait_until comes from here. */
int cn_cond_init_mono(pthread_cond_t *cv);
/* Waits on cv (from cn_cond_init_mono, mu held) until it is signalled or
 * cn_mono_ns() reaches deadline_ns. Returns 0 when woken (or spuriously:
 * callers re-check their condition), CN_ETIMEOUT once the deadline passed. */
int cn_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t deadline_ns);

/* The UTC calendar of a second since the epoch, computed without the C
 * library's gmtime/strftime (their time-zone and locale machinery cost a
 * listing ~1 µs per entry). Proleptic Gregorian, any int64_t second. */
struct cn_utc {
	int64_t year;
	unsigned mon;  /* 1-12 */
	unsigned day;  /* 1-31 */
	unsigned wday; /* 0 = Sunday */
	unsigned hour, min, sec;
};
void cn_utc_of(int64_t secs, struct cn_utc *t);
/* Its inverse for the date: days since 1970-01-01 of a proleptic Gregorian
 * year, month (1-12) and day (1-31; not checked against the month). */
int64_t cn_days_from_civil(int64_t y, int m, int d);

/* Replaces the wall clock with fn (NULL restores the system clock). For
 * tests. */
typedef int64_t (*cn_clock_fn)(void);
void cn_clock_set(cn_clock_fn fn);

#endif
