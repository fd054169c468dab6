/*
 * core/thread.c — see thread.h.
 */
#include "core/thread.h"

#include <pthread.h>
#include <stdio.h>
#include <uv.h>

/* pthread_setname_np's limit: 16 bytes with the NUL */
#define NAME_CAP 16

/* Names th "cairn-" what, with n after it unless n < 0. */
static void set_name(pthread_t th, const char *what, int n)
{
	char name[NAME_CAP];
	/* a longer name is cut: what Linux would keep anyway */
	int len = n < 0 ? snprintf(name, sizeof(name), "cairn-%s", what)
			: snprintf(name, sizeof(name), "cairn-%s%d", what, n);

	if (len < 0)
		return;
	(void)pthread_setname_np(th, name);
}

void cn_thread_name(const char *what)
{
	set_name(pthread_self(), what, -1);
}

void cn_thread_name_n(const char *what, int n)
{
	set_name(pthread_self(), what, n);
}

int cn_thread_create(pthread_t *th, const char *what, void *(*fn)(void *), void *arg)
{
	int rc = pthread_create(th, NULL, fn, arg);

	if (rc)
		return rc;
	set_name(*th, what, -1);
	return 0;
}

static void no_work(uv_work_t *w)
{
	(void)w;
}

int cn_thread_pool_start(void)
{
	char was[NAME_CAP];
	uv_loop_t loop;
	uv_work_t w;
	int rc;

	if (pthread_getname_np(pthread_self(), was, sizeof(was)) != 0)
		snprintf(was, sizeof(was), "cairn");
	rc = uv_loop_init(&loop);
	if (rc)
		return rc;
	cn_thread_name("pool");
	/* the pool's threads are created inside this call */
	rc = uv_queue_work(&loop, &w, no_work, NULL);
	(void)pthread_setname_np(pthread_self(), was);
	if (!rc)
		rc = uv_run(&loop, UV_RUN_DEFAULT) < 0 ? -1 : 0;
	uv_loop_close(&loop);
	return rc;
}
