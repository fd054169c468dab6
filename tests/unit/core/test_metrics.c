/*
 * Unit tests for core/metrics: per-thread tables summed exactly at scrape
 * time (with a scraper running alongside the writers), one series for one
 * name at two addresses, cumulative histogram text, and the render sizing
 * contract. The tables are process-wide and never reset, so every test uses
 * op names of its own and checks byte/connection totals as deltas.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"

#define NTHREADS 4
#define PER_THREAD 100000

static char *render(void)
{
	size_t need = cn_metrics_render(NULL, 0);
	char *buf = malloc(need + 1);

	assert_non_null(buf);
	assert_int_equal(cn_metrics_render(buf, need + 1), need);
	return buf;
}

static int occurrences(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* The value on the one line "<series> <value>". */
static unsigned long long value(const char *text, const char *series)
{
	char pat[256];
	const char *p;

	snprintf(pat, sizeof(pat), "\n%s ", series);
	assert_int_equal(occurrences(text, pat), 1);
	p = strstr(text, pat);
	return strtoull(p + strlen(pat), NULL, 10);
}

/* ---- 1: counts from several threads sum exactly ---- */

static const char *const ops1[] = {"MtGet", "MtPut", "MtHead"};
static const int status1[] = {200, 404};
static atomic_int writers_done;

static void *writer(void *arg)
{
	(void)arg;
	for (int i = 0; i < PER_THREAD; i++)
		cn_metrics_request(ops1[i % 3], status1[(i / 3) % 2], (uint64_t)i % 3000, 1, 2);
	atomic_fetch_add(&writers_done, 1);
	return NULL;
}

/* Renders while the writers run, so sanitizers see reads racing writes. */
static void *scraper(void *arg)
{
	int *renders = arg;

	while (atomic_load(&writers_done) < NTHREADS) {
		size_t need = cn_metrics_render(NULL, 0);
		char *buf = malloc(need + 4096);

		if (buf)
			cn_metrics_render(buf, need + 4096);
		free(buf);
		(*renders)++;
	}
	return NULL;
}

static void test_threads_sum_exactly(void **state)
{
	(void)state;
	pthread_t th[NTHREADS], sc;
	unsigned long long want[3][2] = {{0}};
	unsigned long long in0, out0, in1, out1;
	int renders = 0;
	char *t, series[128];

	t = render();
	in0 = value(t, "cairn_bytes_received_total");
	out0 = value(t, "cairn_bytes_sent_total");
	free(t);
	for (int i = 0; i < PER_THREAD; i++)
		want[i % 3][(i / 3) % 2] += NTHREADS;

	atomic_store(&writers_done, 0);
	assert_int_equal(pthread_create(&sc, NULL, scraper, &renders), 0);
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, writer, NULL), 0);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	pthread_join(sc, NULL);

	/* The writers have exited: their counts must still be there. */
	t = render();
	for (int o = 0; o < 3; o++) {
		unsigned long long total = 0;
		for (int s = 0; s < 2; s++) {
			snprintf(series, sizeof(series),
				 "cairn_requests_total{op=\"%s\",status=\"%d\"}", ops1[o],
				 status1[s]);
			assert_int_equal(value(t, series), want[o][s]);
			total += want[o][s];
		}
		snprintf(series, sizeof(series), "cairn_request_duration_seconds_count{op=\"%s\"}",
			 ops1[o]);
		assert_int_equal(value(t, series), total);
		snprintf(series, sizeof(series),
			 "cairn_request_duration_seconds_bucket{op=\"%s\",le=\"+Inf\"}", ops1[o]);
		assert_int_equal(value(t, series), total);
	}
	in1 = value(t, "cairn_bytes_received_total");
	out1 = value(t, "cairn_bytes_sent_total");
	assert_int_equal(in1 - in0, (unsigned long long)NTHREADS * PER_THREAD);
	assert_int_equal(out1 - out0, 2ull * NTHREADS * PER_THREAD);
	free(t);
}

/* ---- 2: one name at two addresses is one series ---- */

static char alias_copy[] = "MtAlias"; /* same text, its own address */

static void *alias_writer(void *arg)
{
	(void)arg;
	for (int i = 0; i < 7; i++)
		cn_metrics_request(alias_copy, 200, 10, 0, 0);
	for (int i = 0; i < 2; i++)
		cn_metrics_request("MtAlias", 200, 10, 0, 0);
	return NULL;
}

static void test_alias_is_one_series(void **state)
{
	(void)state;
	pthread_t th;
	char *t;

	assert_ptr_not_equal(alias_copy, "MtAlias");
	/* Both orders in one thread: literal first here, the copy first there. */
	for (int i = 0; i < 3; i++)
		cn_metrics_request("MtAlias", 200, 10, 0, 0);
	for (int i = 0; i < 5; i++)
		cn_metrics_request(alias_copy, 200, 10, 0, 0);
	assert_int_equal(pthread_create(&th, NULL, alias_writer, NULL), 0);
	pthread_join(th, NULL);

	t = render();
	assert_int_equal(occurrences(t, "op=\"MtAlias\",status="), 1);
	assert_int_equal(value(t, "cairn_requests_total{op=\"MtAlias\",status=\"200\"}"), 17);
	assert_int_equal(occurrences(t, "cairn_request_duration_seconds_count{op=\"MtAlias\"}"), 1);
	assert_int_equal(value(t, "cairn_request_duration_seconds_count{op=\"MtAlias\"}"), 17);
	free(t);
}

/* ---- 3: histogram text ---- */

static void *hist_writer(void *arg)
{
	(void)arg;
	cn_metrics_request("MtHist", 200, 1000, 0, 0);	   /* on a bound: le 0.001 */
	cn_metrics_request("MtHist", 500, 20000000, 0, 0); /* past the last bound */
	return NULL;
}

static void test_histogram_cumulative(void **state)
{
	(void)state;
	static const char want[] =
		"cairn_request_duration_seconds_bucket{op=\"MtHist\",le=\"0.0001\"} 2\n"
		"cairn_request_duration_seconds_bucket{op=\"MtHist\",le=\"0.00025\"} 3\n"
		"cairn_request_duration_seconds_bucket{op=\"MtHist\",le=\"0.0005\"} 3\n"
		"cairn_request_duration_seconds_bucket{op=\"MtHist\",le=\"0.001\"} 4\n"
		"cairn_request_duration_seconds_bucket{op=\"MtHist\",le=\"0.0025\"} 4\n"
		"cairn_request_duration_seconds_bucket{op=\"MtHist\",le=\"0.005\"} 4\n"
		"cairn_request_duration_seconds_bucket{op=\"MtHist\",le=\"0.01\"} 4\n"
		"cairn_request_duration_seconds_bucket{op=\"MtHist\",le=\"0.025\"} 4\n"
		"cairn_request_duration_seconds_bucket{op=\"MtHist\",le=\"0.05\"} 4\n"
		"cairn_request_duration_seconds_bucket{op=\"MtHist\",le=\"0.1\"} 4\n"
		"cairn_request_duration_seconds_bucket{op=\"MtHist\",le=\"0.25\"} 4\n"
		"cairn_request_duration_seconds_bucket{op=\"MtHist\",le=\"0.5\"} 4\n"
		"cairn_request_duration_seconds_bucket{op=\"MtHist\",le=\"1\"} 4\n"
		"cairn_request_duration_seconds_bucket{op=\"MtHist\",le=\"2.5\"} 4\n"
		"cairn_request_duration_seconds_bucket{op=\"MtHist\",le=\"5\"} 4\n"
		"cairn_request_duration_seconds_bucket{op=\"MtHist\",le=\"10\"} 4\n"
		"cairn_request_duration_seconds_bucket{op=\"MtHist\",le=\"+Inf\"} 5\n"
		"cairn_request_duration_seconds_sum{op=\"MtHist\"} 20.001251\n"
		"cairn_request_duration_seconds_count{op=\"MtHist\"} 5\n";
	pthread_t th;
	char *t;

	cn_metrics_request("MtHist", 200, 50, 0, 0);
	cn_metrics_request("MtHist", 200, 100, 0, 0); /* on a bound: le 0.0001 */
	cn_metrics_request("MtHist", 404, 101, 0, 0);
	assert_int_equal(pthread_create(&th, NULL, hist_writer, NULL), 0);
	pthread_join(th, NULL);

	t = render();
	assert_non_null(strstr(t, "\n# HELP cairn_request_duration_seconds Request latency.\n"
				  "# TYPE cairn_request_duration_seconds histogram\n"));
	assert_non_null(strstr(t, want));
	assert_int_equal(occurrences(t, "op=\"MtHist\""), 19 + 3);
	free(t);
}

/* ---- order: by op name, then status, whatever the recording order ---- */

static void test_series_order(void **state)
{
	(void)state;
	const char *lines[] = {
		"cairn_requests_total{op=\"MtOrdA\",status=\"200\"} 1\n",
		"cairn_requests_total{op=\"MtOrdA\",status=\"404\"} 1\n",
		"cairn_requests_total{op=\"MtOrdA\",status=\"1000\"} 1\n",
		"cairn_requests_total{op=\"MtOrdB\",status=\"200\"} 1\n",
	};
	char *t;
	const char *prev;

	cn_metrics_request("MtOrdB", 200, 1, 0, 0);
	cn_metrics_request("MtOrdA", 1000, 1, 0, 0);
	cn_metrics_request("MtOrdA", 404, 1, 0, 0);
	cn_metrics_request("MtOrdA", 200, 1, 0, 0);
	t = render();
	prev = t;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		const char *p = strstr(t, lines[i]);
		assert_non_null(p);
		assert_true(p > prev);
		prev = p;
	}
	assert_true(strstr(t, "_count{op=\"MtOrdA\"}") < strstr(t, "_count{op=\"MtOrdB\"}"));
	free(t);
}

/* ---- connection counters, summed over threads ---- */

static void *conn_closer(void *arg)
{
	(void)arg;
	cn_metrics_conn(1);
	cn_metrics_conn(-1);
	cn_metrics_refused();
	return NULL;
}

static void test_connections(void **state)
{
	(void)state;
	unsigned long long open0, total0, ref0, ev0;
	pthread_t th;
	char *t;

	t = render();
	open0 = value(t, "cairn_open_connections");
	total0 = value(t, "cairn_connections_total");
	ref0 = value(t, "cairn_connections_refused_total");
	ev0 = value(t, "cairn_connections_evicted_total");
	free(t);
	cn_metrics_conn(3);
	cn_metrics_conn(-1);
	cn_metrics_evicted();
	assert_int_equal(pthread_create(&th, NULL, conn_closer, NULL), 0);
	pthread_join(th, NULL);
	t = render();
	assert_int_equal(value(t, "cairn_open_connections") - open0, 2);
	assert_int_equal(value(t, "cairn_connections_total") - total0, 4);
	assert_int_equal(value(t, "cairn_connections_refused_total") - ref0, 1);
	assert_int_equal(value(t, "cairn_connections_evicted_total") - ev0, 1);
	free(t);
}

/* ---- 4: sizing contract ---- */

static void test_render_sizing(void **state)
{
	(void)state;
	char small[16];
	size_t need, n;
	char *exact, *full;

	cn_metrics_request("MtSize", 200, 1, 0, 0);
	need = cn_metrics_render(NULL, 0);
	assert_true(need > sizeof(small));
	assert_int_equal(cn_metrics_render(small, sizeof(small)), need);
	assert_int_equal(cn_metrics_render(small, 1), need);

	/* Exactly the size asked for, no byte spare for a NUL: still whole. */
	exact = malloc(need);
	assert_non_null(exact);
	n = cn_metrics_render(exact, need);
	assert_int_equal(n, need);
	full = render();
	assert_int_equal(strlen(full), need);
	assert_memory_equal(exact, full, need);
	assert_int_equal(exact[need - 1], '\n');
	assert_non_null(strstr(full, "cairn_connections_evicted_total "));
	free(exact);
	free(full);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threads_sum_exactly),
		cmocka_unit_test(test_alias_is_one_series),
		cmocka_unit_test(test_histogram_cumulative),
		cmocka_unit_test(test_series_order),
		cmocka_unit_test(test_connections),
		cmocka_unit_test(test_render_sizing),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests_name("core/metrics", tests, NULL, NULL);
}
