/*
 * s3/s3.h — the S3 service: an http_handler that routes, authenticates and
 * runs S3 operations against the metadata engine (meta/) and the data path
 * (data/).
 *
 * Ownership: s3_server_new borrows the stores and the config strings until
 * s3_server_free. Thread rules: new/free on the main thread; the handler runs
 * on the HTTP worker loops.
 */
#ifndef CAIRN_S3_S3_H
#define CAIRN_S3_S3_H

#include <stdint.h>

#include "http/http.h"

struct meta_store;
struct data_store;

struct s3_config {
	const char *access_key; /* root credentials */
	const char *secret_key;
	const char *region;	    /* default "us-east-1" */
	const char *const *domains; /* virtual-host suffixes, e.g. "localhost" */
	int n_domains;
	uint64_t max_object_size;	/* default 5 TiB */
	uint64_t max_put_size;		/* single PUT, default 5 GiB */
	uint64_t min_part_size;		/* default 5 MiB */
	uint32_t inline_threshold;	/* default 64 KiB */
	int no_sigv2;			/* refuse Signature Version 2 */
	uint32_t lifecycle_day_seconds; /* a lifecycle "day" for tests; 0: a real day */
	uint8_t master_key[32];		/* wraps SSE-S3 data keys and KMS keys */
	int allow_insecure_ssec;	/* SSE-C over plain HTTP (tests, TLS proxies) */
	int no_console;			/* /_cairn/console/ answers 404 */
};

struct s3_server;

int s3_server_new(const struct s3_config *cfg, struct meta_store *meta, struct data_store *data,
		  struct s3_server **out);
void s3_server_free(struct s3_server *s);
/* The handler to pass to http_server_start (arg is the server). */
void s3_server_handler(struct s3_server *s, struct http_handler *out);
struct gc;
struct scrub;
/* Background workers the admin endpoints drive (either may be NULL). */
void s3_server_set_bg(struct s3_server *s, struct gc *gc, struct scrub *scrub);
/* Readiness: 1 when stores are open and the server accepts requests. */
void s3_server_set_ready(struct s3_server *s, int ready);
struct cluster;
/* Cluster mode: every request waits for a read barrier, readiness follows
 * the cluster, the admin API shows it. Before serving. */
void s3_server_set_cluster(struct s3_server *s, struct cluster *c);
struct rebalance;
/* Cluster mode: the rebalancer, for status and operator control. */
void s3_server_set_rebalance(struct s3_server *s, struct rebalance *r);
/* Lifecycle rules: starts the worker that applies them; active(ctx) says
 * whether this node may (1 on one node; the leader's, in a cluster).
 * Stopped by s3_server_lifecycle_stop (before the stores close). Main
 * thread. */
int s3_server_lifecycle_start(struct s3_server *s, int (*active)(void *ctx), void *ctx);
void s3_server_lifecycle_stop(struct s3_server *s);
/* The handler of the internal API server (on the cluster address). */
void s3_server_internal_handler(struct s3_server *s, struct http_handler *out);

#endif
