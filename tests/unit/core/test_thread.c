/*
 * Unit tests for core/thread: the names a thread is given, as the kernel
 * reports them (what top -H, perf and /proc show), including the cut at
 * Linux's 15 bytes, and a helper thread named by its creator.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/thread.h"

struct probe {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int go;
	char name[16];
};

/* Waits until the creator says it is done, then reads its own name. */
static void *probe_main(void *arg)
{
	struct probe *p = arg;

	pthread_mutex_lock(&p->mu);
	while (!p->go)
		pthread_cond_wait(&p->cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
	pthread_getname_np(pthread_self(), p->name, sizeof(p->name));
	return NULL;
}

struct names {
	char numbered[16], long_one[16];
};

static void *named_main(void *arg)
{
	struct names *n = arg;

	cn_thread_name_n("http", 7);
	pthread_getname_np(pthread_self(), n->numbered, sizeof(n->numbered));
	cn_thread_name("a-name-too-long-to-keep");
	pthread_getname_np(pthread_self(), n->long_one, sizeof(n->long_one));
	return NULL;
}

static void test_create_names_the_new_thread(void **state)
{
	(void)state;
	struct probe p = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
	pthread_t th;

	assert_int_equal(cn_thread_create(&th, "seal", probe_main, &p), 0);
	pthread_mutex_lock(&p.mu);
	p.go = 1;
	pthread_cond_signal(&p.cv);
	pthread_mutex_unlock(&p.mu);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_string_equal(p.name, "cairn-seal");
}

static void test_name_and_number_and_cut(void **state)
{
	(void)state;
	struct names n;
	pthread_t th;

	memset(&n, 0, sizeof(n));

	assert_int_equal(pthread_create(&th, NULL, named_main, &n), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_string_equal(n.numbered, "cairn-http7");
	/* cut to the 15 bytes Linux keeps, not refused */
	assert_string_equal(n.long_one, "cairn-a-name-to");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_names_the_new_thread),
		cmocka_unit_test(test_name_and_number_and_cut),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
