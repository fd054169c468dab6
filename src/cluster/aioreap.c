/*
 * cluster/aioreap.c — io_destroy(2) off the Raft loop (see aioreap.h).
 */
#include "cluster/aioreap.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/thread.h"

/* Segments roll about once a second under load and a destroy takes tens of
 * milliseconds: a few are ever queued. */
#define REAP_QUEUE 64

typedef long (*syscall_fn)(long, ...);

static _Atomic(syscall_fn) next_syscall;

/* start and stop, one at a time (a stop joins the thread outside R.mu) */
static pthread_mutex_t life = PTHREAD_MUTEX_INITIALIZER;
static unsigned users; /* under life: starts not yet stopped */

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int running; /* the thread takes work */
	unsigned long q[REAP_QUEUE];
	unsigned head, n;
	pthread_t th;
	uint64_t deferred, destroyed, max_ns;
} R = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* glibc's syscall(), the one this file's definition hides. */
static syscall_fn resolve(void)
{
	syscall_fn f = atomic_load_explicit(&next_syscall, memory_order_acquire);

	if (!f) {
		/* (two threads may both look it up: the same answer) */
		*(void **)&f = dlsym(RTLD_NEXT, "syscall");
		if (!f)
			abort(); /* no libc below us: nothing can run */
		atomic_store_explicit(&next_syscall, f, memory_order_release);
	}
	return f;
}

__attribute__((constructor)) static void aioreap_init(void)
{
	(void)resolve();
}

/* 1 if ctx was queued for the reaper. */
static int defer(unsigned long ctx)
{
	int queued = 0;

	pthread_mutex_lock(&R.mu);
	if (R.running && R.n < REAP_QUEUE) {
		R.q[(R.head + R.n) % REAP_QUEUE] = ctx;
		R.n++;
		R.deferred++;
		queued = 1;
		pthread_cond_signal(&R.cv);
	}
	pthread_mutex_unlock(&R.mu);
	return queued;
}

/* Every argument slot is read as a long, as glibc's own syscall() does:
 * the kernel takes six and ignores the ones a call does not use. On x86-64
 * the sixth comes from the caller's stack whether or not it passed one (in
 * its frame: mapped memory), which AddressSanitizer would report as an
 * underflow of the caller's locals; glibc's assembly reads it unchecked. */
__attribute__((no_sanitize_address)) long syscall(long nr, ...)
{
	long a[6];
	va_list ap;

	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (nr == SYS_io_destroy && defer((unsigned long)a[0]))
		return 0;
	return resolve()(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

static void *reaper(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&R.mu);
	for (;;) {
		unsigned long ctx;
		uint64_t t0, took;

		while (R.n == 0 && R.running)
			pthread_cond_wait(&R.cv, &R.mu);
		if (R.n == 0)
			break; /* stopped, and nothing left */
		ctx = R.q[R.head];
		R.head = (R.head + 1) % REAP_QUEUE;
		R.n--;
		pthread_mutex_unlock(&R.mu);
		t0 = cn_mono_ns();
		if (resolve()(SYS_io_destroy, ctx) != 0)
			log_warn("cluster: io_destroy of a Raft log writer's context failed: %s",
				 cn_strerror(-errno));
		took = cn_mono_ns() - t0;
		pthread_mutex_lock(&R.mu);
		R.destroyed++;
		if (took > R.max_ns)
			R.max_ns = took;
	}
	pthread_mutex_unlock(&R.mu);
	return NULL;
}

int aioreap_start(void)
{
	int rc = 0;

	pthread_mutex_lock(&life);
	if (users == 0) {
		pthread_mutex_lock(&R.mu);
		R.running = 1;
		pthread_mutex_unlock(&R.mu);
		rc = cn_thread_create(&R.th, "aioreap", reaper, NULL);
		if (rc) {
			pthread_mutex_lock(&R.mu);
			R.running = 0;
			pthread_mutex_unlock(&R.mu);
			rc = rc == ENOMEM ? CN_ENOMEM : CN_EIO;
		}
	}
	if (!rc)
		users++;
	pthread_mutex_unlock(&life);
	return rc;
}

void aioreap_stop(void)
{
	pthread_mutex_lock(&life);
	if (users > 0 && --users == 0) {
		/* the thread destroys what is queued before it ends */
		pthread_mutex_lock(&R.mu);
		R.running = 0;
		pthread_cond_signal(&R.cv);
		pthread_mutex_unlock(&R.mu);
		pthread_join(R.th, NULL);
	}
	pthread_mutex_unlock(&life);
}

void aioreap_stats(struct aioreap_stats *out)
{
	pthread_mutex_lock(&R.mu);
	out->deferred = R.deferred;
	out->destroyed = R.destroyed;
	out->max_ns = R.max_ns;
	pthread_mutex_unlock(&R.mu);
}
