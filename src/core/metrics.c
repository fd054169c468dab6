/*
 * core/metrics.c — see metrics.h. Operation names are few (tens), so a small
 * linear table keyed by (op, status) is enough.
 */
#include "core/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define MAX_SERIES 512
static const uint64_t bucket_us[] = {100, 250, 500, 1000, 2500, 5000, 10000,
				     25000, 50000, 100000, 250000, 500000,
				     1000000, 2500000, 5000000, 10000000};
#define NBUCKETS (sizeof(bucket_us) / sizeof(bucket_us[0]))

struct series {
	const char *op;
	int status;
	uint64_t count;
};

struct latency {
	const char *op;
	uint64_t buckets[NBUCKETS];
	uint64_t count;
	uint64_t sum_us;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct series series[MAX_SERIES];
static int n_series;
static struct latency lat[128];
static int n_lat;
static atomic_uint_fast64_t bytes_in_total, bytes_out_total;
static atomic_int open_conns;
static atomic_uint_fast64_t conns_total;
static atomic_uint_fast64_t conns_refused, conns_evicted;

void cn_metrics_request(const char *op, int status, uint64_t usec, uint64_t bytes_in,
			uint64_t bytes_out)
{
	int i;

	if (!op)
		op = "Unknown";
	atomic_fetch_add(&bytes_in_total, bytes_in);
	atomic_fetch_add(&bytes_out_total, bytes_out);
	pthread_mutex_lock(&mu);
	for (i = 0; i < n_series; i++)
		if (series[i].status == status &&
		    (series[i].op == op || strcmp(series[i].op, op) == 0))
			break;
	if (i == n_series && n_series < MAX_SERIES) {
		series[i].op = op;
		series[i].status = status;
		series[i].count = 0;
		n_series++;
	}
	if (i < n_series)
		series[i].count++;
	for (i = 0; i < n_lat; i++)
		if (lat[i].op == op || strcmp(lat[i].op, op) == 0)
			break;
	if (i == n_lat && n_lat < (int)(sizeof(lat) / sizeof(lat[0]))) {
		memset(&lat[i], 0, sizeof(lat[i]));
		lat[i].op = op;
		n_lat++;
	}
	if (i < n_lat) {
		for (size_t b = 0; b < NBUCKETS; b++)
			if (usec <= bucket_us[b])
				lat[i].buckets[b]++;
		lat[i].count++;
		lat[i].sum_us += usec;
	}
	pthread_mutex_unlock(&mu);
}

void cn_metrics_refused(void)
{
	atomic_fetch_add(&conns_refused, 1);
}

void cn_metrics_evicted(void)
{
	atomic_fetch_add(&conns_evicted, 1);
}

void cn_metrics_conn(int delta)
{
	atomic_fetch_add(&open_conns, delta);
	if (delta > 0)
		atomic_fetch_add(&conns_total, (uint64_t)delta);
}

struct out {
	char *buf;
	size_t cap, len;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->len < o->cap ? o->buf + o->len : NULL,
		      o->len < o->cap ? o->cap - o->len : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n;
}

size_t cn_metrics_render(char *buf, size_t cap)
{
	struct out o = {buf, cap, 0};

	put(&o, "# HELP cairn_requests_total S3 requests by operation and status.\n"
		"# TYPE cairn_requests_total counter\n");
	pthread_mutex_lock(&mu);
	for (int i = 0; i < n_series; i++)
		put(&o, "cairn_requests_total{op=\"%s\",status=\"%d\"} %llu\n",
		    series[i].op, series[i].status, (unsigned long long)series[i].count);
	put(&o, "# HELP cairn_request_duration_seconds Request latency.\n"
		"# TYPE cairn_request_duration_seconds histogram\n");
	for (int i = 0; i < n_lat; i++) {
		for (size_t b = 0; b < NBUCKETS; b++)
			put(&o, "cairn_request_duration_seconds_bucket{op=\"%s\",le=\"%g\"} %llu\n",
			    lat[i].op, bucket_us[b] / 1e6,
			    (unsigned long long)lat[i].buckets[b]);
		put(&o, "cairn_request_duration_seconds_bucket{op=\"%s\",le=\"+Inf\"} %llu\n",
		    lat[i].op, (unsigned long long)lat[i].count);
		put(&o, "cairn_request_duration_seconds_sum{op=\"%s\"} %.6f\n", lat[i].op,
		    lat[i].sum_us / 1e6);
		put(&o, "cairn_request_duration_seconds_count{op=\"%s\"} %llu\n", lat[i].op,
		    (unsigned long long)lat[i].count);
	}
	pthread_mutex_unlock(&mu);
	put(&o, "# HELP cairn_bytes_received_total Request body bytes received.\n"
		"# TYPE cairn_bytes_received_total counter\n"
		"cairn_bytes_received_total %llu\n",
	    (unsigned long long)atomic_load(&bytes_in_total));
	put(&o, "# HELP cairn_bytes_sent_total Response bytes sent.\n"
		"# TYPE cairn_bytes_sent_total counter\n"
		"cairn_bytes_sent_total %llu\n",
	    (unsigned long long)atomic_load(&bytes_out_total));
	put(&o, "# HELP cairn_open_connections Open client connections.\n"
		"# TYPE cairn_open_connections gauge\n"
		"cairn_open_connections %d\n",
	    atomic_load(&open_conns));
	put(&o, "# HELP cairn_connections_total Accepted client connections.\n"
		"# TYPE cairn_connections_total counter\n"
		"cairn_connections_total %llu\n",
	    (unsigned long long)atomic_load(&conns_total));
	put(&o, "# HELP cairn_connections_refused_total Connections answered 503 at the connection cap.\n"
		"# TYPE cairn_connections_refused_total counter\n"
		"cairn_connections_refused_total %llu\n",
	    (unsigned long long)atomic_load(&conns_refused));
	put(&o, "# HELP cairn_connections_evicted_total Idle connections closed to make room at the cap.\n"
		"# TYPE cairn_connections_evicted_total counter\n"
		"cairn_connections_evicted_total %llu\n",
	    (unsigned long long)atomic_load(&conns_evicted));
	return o.len;
}
