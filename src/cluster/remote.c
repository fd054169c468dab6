/*
 * cluster/remote.c — reading shards that live on other nodes' drives (the
 * data layer's struct data_remote), over the internal API.
 *
 * Which node has a drive is learnt from the nodes' own status (each lists
 * its drive ids) and kept in a small table: one entry per drive in the
 * cluster, never per object. A drive not in the table makes it ask every
 * configured node again, at most once a second. Part 2 of cluster mode puts
 * this map into the replicated metadata; until then a blob stays on the
 * node that wrote it and every other node reads it from there.
 *
 * Nothing read here is trusted: the data layer verifies the shard header
 * and every piece's checksum, exactly as for a local file.
 *
 * A node that failed a shard stream is skipped by new writes (its shard is
 * dropped and healed later) until a prober thread sees it answer its
 * status again, probing each such node every PROBE_EVERY_NS, and for at
 * most BAD_COOLDOWN_NS. Skipping spares every write the wait for a dead
 * node; the probe ends it as soon as the node is back, because a write that
 * drops a shard of a k+1 layout has no redundancy until the backfill.
 *
 * Every node stores every metadata record, so a body bound for the
 * metadata stores waits until every node has room: a poller thread asks the
 * other nodes' status every FULL_POLL_NS and remembers whether one said
 * meta_full (cluster_remote_meta_full).
 *
 * Threads: any (blocking calls, meant for the thread pool); one prober,
 * one poller.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cluster/cluster.h"
#include "core/clock.h"
#include "core/digest.h"
#include "core/err.h"
#include "core/log.h"
#include "core/thread.h"
#include "data/data.h"
#include "meta/meta.h"

#define REMOTE_DRIVES_MAX 256
#define REMOTE_REFRESH_NS (1000ll * 1000 * 1000)
#define REMOTE_TIMEOUT_MS 10000
#define STATUS_TIMEOUT_MS 1500
#define BAD_COOLDOWN_NS (10000ll * 1000 * 1000)
#define BAD_MAX 16
#define PROBE_EVERY_NS (500ll * 1000 * 1000)
#define PROBE_TIMEOUT_MS 1000
#define FULL_POLL_NS (2000ll * 1000 * 1000)
#define FULL_STALE_NS (10000ll * 1000 * 1000)

struct remote_drive {
	uint8_t id[DATA_ID_LEN];
	char address[CLUSTER_ADDR_MAX + 1];
};

struct cluster_remote {
	struct cluster *c;
	struct meta_store *meta; /* the cluster map; NULL: status only */
	pthread_mutex_t mu;
	struct {
		char address[CLUSTER_ADDR_MAX + 1];
		int64_t marked_ns; /* monotonic, of the last failure */
		int64_t until_ns;  /* 0: not skipped (or answered a probe) */
	} bad[BAD_MAX];		   /* nodes new writes skip for now */
	struct remote_drive drives[REMOTE_DRIVES_MAX];
	int n;
	int64_t refreshed_ns; /* monotonic; 0: never */
	pthread_cond_t cv;    /* the prober's: a node marked, or stop */
	pthread_t prober;
	atomic_int stop; /* read by the prober between probes, without mu */
	/* the poller's: which other nodes said their metadata drive is down to
	 * its reserve (each stores every record: cluster_remote_meta_full) */
	pthread_cond_t pcv; /* stop */
	pthread_t poller;
	atomic_int peer_full;		      /* the last round's answer */
	char full_addr[CLUSTER_ADDR_MAX + 1]; /* poller only: who said so last */
	int64_t full_seen_ns;		      /* poller only: and when */
};

static void *probe_main(void *arg);
static void *poll_main(void *arg);

int cluster_remote_new(struct cluster *c, struct cluster_remote **out)
{
	struct cluster_remote *r = calloc(1, sizeof(*r));

	if (!r)
		return CN_ENOMEM;
	r->c = c;
	pthread_mutex_init(&r->mu, NULL);
	if (cn_cond_init_mono(&r->cv) != 0)
		goto fail_mu;
	if (cn_cond_init_mono(&r->pcv) != 0)
		goto fail_cv;
	if (pthread_create(&r->prober, NULL, probe_main, r) != 0)
		goto fail_pcv;
	if (pthread_create(&r->poller, NULL, poll_main, r) != 0) {
		pthread_mutex_lock(&r->mu);
		atomic_store(&r->stop, 1);
		pthread_cond_signal(&r->cv);
		pthread_mutex_unlock(&r->mu);
		pthread_join(r->prober, NULL);
		goto fail_pcv;
	}
	*out = r;
	return 0;
fail_pcv:
	pthread_cond_destroy(&r->pcv);
fail_cv:
	pthread_cond_destroy(&r->cv);
fail_mu:
	pthread_mutex_destroy(&r->mu);
	free(r);
	return CN_ENOMEM;
}

void cluster_remote_free(struct cluster_remote *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	atomic_store(&r->stop, 1);
	pthread_cond_signal(&r->cv);
	pthread_cond_signal(&r->pcv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->prober, NULL);
	pthread_join(r->poller, NULL);
	pthread_cond_destroy(&r->pcv);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

static int lookup(struct cluster_remote *r, const uint8_t id[DATA_ID_LEN], char *addr)
{
	for (int i = 0; i < r->n; i++)
		if (memcmp(r->drives[i].id, id, DATA_ID_LEN) == 0) {
			strcpy(addr, r->drives[i].address);
			return 0;
		}
	return CN_ENOTFOUND;
}

static void learn(struct cluster_remote *r, const char *address, json_t *drives)
{
	size_t i;
	json_t *v;

	json_array_foreach(drives, i, v)
	{
		const char *hex = json_string_value(v);
		uint8_t id[DATA_ID_LEN];
		int j, ok = hex && strlen(hex) == 2 * DATA_ID_LEN;
		for (j = 0; ok && j < DATA_ID_LEN; j++) {
			int hi = cn_hexval(hex[2 * j]), lo = cn_hexval(hex[2 * j + 1]);
			ok = hi >= 0 && lo >= 0;
			id[j] = (uint8_t)(hi << 4 | (lo & 15));
		}
		if (!ok)
			continue;
		for (j = 0; j < r->n; j++)
			if (memcmp(r->drives[j].id, id, DATA_ID_LEN) == 0)
				break;
		if (j == r->n && r->n == REMOTE_DRIVES_MAX)
			continue;
		if (j == r->n)
			r->n++;
		memcpy(r->drives[j].id, id, DATA_ID_LEN);
		snprintf(r->drives[j].address, sizeof(r->drives[j].address), "%s", address);
	}
}

static void learn_one(struct cluster_remote *r, const uint8_t id[DATA_ID_LEN], const char *address)
{
	int j;
	for (j = 0; j < r->n; j++)
		if (memcmp(r->drives[j].id, id, DATA_ID_LEN) == 0)
			break;
	if (j == r->n && r->n == REMOTE_DRIVES_MAX)
		return;
	if (j == r->n)
		r->n++;
	memcpy(r->drives[j].id, id, DATA_ID_LEN);
	snprintf(r->drives[j].address, sizeof(r->drives[j].address), "%s", address);
}

/* The replicated cluster map: every registered drive's node address. */
static void refresh_map(struct cluster_remote *r)
{
	struct meta_map map;

	if (!r->meta || meta_map_get(r->meta, &map) != 0)
		return;
	for (size_t i = 0; i < map.n_drives; i++) {
		if (map.drives[i].state == META_MAP_REMOVED)
			continue;
		for (size_t n = 0; n < map.n_nodes; n++)
			if (map.nodes[n].id == map.drives[i].node &&
			    map.nodes[n].state != META_MAP_REMOVED)
				learn_one(r, map.drives[i].id, map.nodes[n].address);
	}
	meta_map_release(&map);
}

/* Asks every configured node which drives it has. Called with mu held. */
static void refresh(struct cluster_remote *r)
{
	struct cluster_status st;

	refresh_map(r);

	cluster_status(r->c, &st);
	for (int i = 0; i < st.n_nodes; i++) {
		struct rpc_resp resp;
		json_t *doc;
		if (st.nodes[i].id == st.id)
			continue;
		if (rpc_call(cluster_rpc(r->c), st.nodes[i].address, "GET",
			     "/_cairn/internal/status", NULL, 0, -1, STATUS_TIMEOUT_MS, 1, &resp))
			continue;
		doc = resp.status == 200 && resp.body ? json_loads(resp.body, 0, NULL) : NULL;
		if (doc)
			learn(r, st.nodes[i].address, json_object_get(doc, "drives"));
		json_decref(doc);
		rpc_resp_release(&resp);
	}
	r->refreshed_ns = cn_mono_ns();
}

static int drive_address(struct cluster_remote *r, const uint8_t id[DATA_ID_LEN], char *addr)
{
	int rc;

	pthread_mutex_lock(&r->mu);
	rc = lookup(r, id, addr);
	if (rc) {
		refresh_map(r); /* local and cheap: a drive registered since */
		rc = lookup(r, id, addr);
	}
	if (rc && (!r->refreshed_ns || cn_mono_ns() - r->refreshed_ns > REMOTE_REFRESH_NS)) {
		refresh(r);
		rc = lookup(r, id, addr);
	}
	pthread_mutex_unlock(&r->mu);
	return rc ? CN_EDRIVE : 0;
}

struct cluster *cluster_remote_cluster(struct cluster_remote *r)
{
	return r->c;
}

void cluster_remote_set_meta(struct cluster_remote *r, struct meta_store *m)
{
	r->meta = m;
}

int cluster_remote_address(struct cluster_remote *r, const uint8_t id[16], int for_write,
			   char *addr)
{
	int rc = drive_address(r, id, addr);
	int64_t now = cn_mono_ns();

	if (rc || !for_write)
		return rc;
	pthread_mutex_lock(&r->mu);
	for (int i = 0; i < BAD_MAX; i++)
		if (r->bad[i].until_ns > now && strcmp(r->bad[i].address, addr) == 0)
			rc = CN_EDRIVE;
	pthread_mutex_unlock(&r->mu);
	return rc;
}

void cluster_remote_mark_bad(struct cluster_remote *r, const char *addr)
{
	int64_t now = cn_mono_ns();
	int at = 0;

	pthread_mutex_lock(&r->mu);
	for (int i = 0; i < BAD_MAX; i++) {
		if (strcmp(r->bad[i].address, addr) == 0) {
			at = i;
			break;
		}
		if (r->bad[i].until_ns < r->bad[at].until_ns)
			at = i;
	}
	snprintf(r->bad[at].address, sizeof(r->bad[at].address), "%s", addr);
	r->bad[at].marked_ns = now;
	r->bad[at].until_ns = now + BAD_COOLDOWN_NS;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	log_warn("cluster: node %s failed a shard stream; new writes skip it until it answers "
		 "(at most %llds)",
		 addr, (long long)(BAD_COOLDOWN_NS / 1000000000));
}

/* 1 when the node at addr answers its status now. */
static int probe(struct cluster_remote *r, const char *addr)
{
	struct rpc_resp resp;
	int ok;

	if (rpc_call(cluster_rpc(r->c), addr, "GET", "/_cairn/internal/status", NULL, 0, -1,
		     PROBE_TIMEOUT_MS, 1, &resp) != 0)
		return 0;
	ok = resp.status == 200;
	rpc_resp_release(&resp);
	return ok;
}

/* addr answered a probe sent at t0: writes may use it again, unless a
 * stream to it failed since. */
static void answered(struct cluster_remote *r, const char *addr, int64_t t0)
{
	pthread_mutex_lock(&r->mu);
	for (int i = 0; i < BAD_MAX; i++)
		if (r->bad[i].until_ns > 0 && r->bad[i].marked_ns < t0 &&
		    strcmp(r->bad[i].address, addr) == 0) {
			r->bad[i].until_ns = 0;
			log_info("cluster: node %s answers again; new writes use it", addr);
		}
	pthread_mutex_unlock(&r->mu);
}

/* The prober: while some node is skipped, asks each such node for its
 * status every PROBE_EVERY_NS and lets writes use it again once it
 * answers. A failure marked while its probe was out stands. */
static void *probe_main(void *arg)
{
	struct cluster_remote *r = arg;

	cn_thread_name("probe");
	pthread_mutex_lock(&r->mu);
	while (!atomic_load(&r->stop)) {
		char addrs[BAD_MAX][CLUSTER_ADDR_MAX + 1];
		int64_t now = cn_mono_ns(), t0;
		int n = 0;

		for (int i = 0; i < BAD_MAX; i++)
			if (r->bad[i].until_ns > now)
				memcpy(addrs[n++], r->bad[i].address, sizeof(addrs[0]));
		if (n == 0) {
			pthread_cond_wait(&r->cv, &r->mu);
			continue;
		}
		pthread_mutex_unlock(&r->mu);
		t0 = cn_mono_ns();
		for (int j = 0; j < n && !atomic_load(&r->stop); j++)
			if (probe(r, addrs[j]))
				answered(r, addrs[j], t0);
		pthread_mutex_lock(&r->mu);
		if (!atomic_load(&r->stop))
			cn_cond_wait_until(&r->cv, &r->mu, t0 + PROBE_EVERY_NS);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* One round: asks every other configured node for its status; 1 if one
 * says meta_full (its address into full_addr). The node that said so last
 * stays full while it does not answer (a busy node's status can take more
 * than the timeout), for at most FULL_STALE_NS: a node that is down is
 * not committing either. */
static int poll_round(struct cluster_remote *r)
{
	struct cluster_status st;
	int full = 0, silent = 0;
	int64_t now = cn_mono_ns();

	cluster_status(r->c, &st);
	for (int i = 0; i < st.n_nodes && !full && !atomic_load(&r->stop); i++) {
		struct rpc_resp resp;
		json_t *doc;
		if (st.nodes[i].id == st.id)
			continue;
		if (rpc_call(cluster_rpc(r->c), st.nodes[i].address, "GET",
			     "/_cairn/internal/status", NULL, 0, -1, PROBE_TIMEOUT_MS, 1, &resp)) {
			silent |= strcmp(st.nodes[i].address, r->full_addr) == 0;
			continue;
		}
		doc = resp.status == 200 && resp.body ? json_loads(resp.body, 0, NULL) : NULL;
		if (doc && json_is_true(json_object_get(doc, "meta_full"))) {
			full = 1;
			snprintf(r->full_addr, sizeof(r->full_addr), "%s", st.nodes[i].address);
			r->full_seen_ns = now;
		}
		json_decref(doc);
		rpc_resp_release(&resp);
	}
	return full ||
	       (silent && atomic_load(&r->peer_full) && now - r->full_seen_ns < FULL_STALE_NS);
}

/* The poller: a round every FULL_POLL_NS; logs each change. */
static void *poll_main(void *arg)
{
	struct cluster_remote *r = arg;

	cn_thread_name("poll");
	while (!atomic_load(&r->stop)) {
		int64_t t0 = cn_mono_ns();
		int full = poll_round(r), was = atomic_exchange(&r->peer_full, full);
		if (full && !was)
			log_warn("cluster: node %s is down to its metadata reserve: bodies bound "
				 "for the metadata stores are refused (507) until it has room",
				 r->full_addr);
		else if (!full && was)
			log_info("cluster: no node is down to its metadata reserve now");
		pthread_mutex_lock(&r->mu);
		if (!atomic_load(&r->stop))
			cn_cond_wait_until(&r->pcv, &r->mu, t0 + FULL_POLL_NS);
		pthread_mutex_unlock(&r->mu);
	}
	return NULL;
}

int cluster_remote_meta_full(void *ctx)
{
	struct cluster_remote *r = ctx;
	return atomic_load(&r->peer_full);
}

/* One shard request: where it goes, and the term it asks the node about
 * (ticket.h: on a leader, its answer confirms the reads waiting for it). */
struct shard_req {
	struct cluster *c;
	char addr[CLUSTER_ADDR_MAX + 1];
	char target[256];
	uint64_t term, seq; /* term 0: asks nothing */
	struct rpc_call *k; /* cluster_remote_rstart's call */
};

/* The internal request for len bytes at off of a shard. 0 or CN_EDRIVE (no
 * node known to have it). */
static int shard_request(struct cluster_remote *r, const uint8_t drive_id[DATA_ID_LEN],
			 const uint8_t blob_id[DATA_ID_LEN], int shard, size_t len, uint64_t off,
			 struct shard_req *q)
{
	char dhex[2 * DATA_ID_LEN + 1], bhex[2 * DATA_ID_LEN + 1];
	int n;

	q->c = r->c;
	q->k = NULL;
	if (drive_address(r, drive_id, q->addr))
		return CN_EDRIVE;
	cn_hex(drive_id, DATA_ID_LEN, dhex);
	cn_hex(blob_id, DATA_ID_LEN, bhex);
	n = snprintf(q->target, sizeof(q->target),
		     "/_cairn/internal/shard?blob=%s&drive=%s&len=%zu&off=%" PRIu64 "&shard=%d",
		     bhex, dhex, len, off, shard);
	/* numbered only now: the call is made after every read waiting */
	q->term = cluster_confirm_ask(r->c, &q->seq);
	if (q->term)
		snprintf(q->target + n, sizeof(q->target) - (size_t)n, "&term=%" PRIu64, q->term);
	return 0;
}

/* What pread returns for the outcome rc, resp of q. */
static ssize_t shard_result(const struct shard_req *q, int rc, struct rpc_resp *resp)
{
	ssize_t got;

	if (rc)
		return CN_EDRIVE; /* unreachable, or more than asked for */
	if (resp->status == 200) {
		got = (ssize_t)resp->len;
		for (int i = 0; q->term && i < resp->n_hdr; i++)
			if (strcasecmp(resp->hdr[i].name, "x-cairn-follows") == 0 &&
			    strcmp(resp->hdr[i].value, "1") == 0)
				cluster_confirm_yes(q->c, q->addr, q->term, q->seq);
	} else {
		got = resp->status == 404 ? CN_ENOTFOUND : CN_EDRIVE;
	}
	rpc_resp_release(resp);
	return got;
}

ssize_t cluster_remote_pread(void *ctx, const uint8_t drive_id[DATA_ID_LEN],
			     const uint8_t blob_id[DATA_ID_LEN], int shard, void *buf, size_t len,
			     uint64_t off)
{
	struct cluster_remote *r = ctx;
	struct shard_req q;
	struct rpc_resp resp;
	int rc;

	if (shard_request(r, drive_id, blob_id, shard, len, off, &q))
		return CN_EDRIVE;
	/* straight into buf: a piece is read once, not copied from a response */
	rc = rpc_call_into(cluster_rpc(r->c), q.addr, "GET", q.target, buf, len, REMOTE_TIMEOUT_MS,
			   &resp);
	return shard_result(&q, rc, &resp);
}

int cluster_remote_rstart(void *ctx, const uint8_t drive_id[DATA_ID_LEN],
			  const uint8_t blob_id[DATA_ID_LEN], int shard, void *buf, size_t len,
			  uint64_t off, unsigned wait_ms, void **h)
{
	struct cluster_remote *r = ctx;
	struct shard_req *q = malloc(sizeof(*q));
	int rc;

	*h = NULL;
	if (!q)
		return CN_ENOMEM;
	if (shard_request(r, drive_id, blob_id, shard, len, off, q)) {
		free(q);
		return CN_EDRIVE;
	}
	rc = rpc_start_into(cluster_rpc(r->c), q->addr, q->target, buf, len, wait_ms,
			    REMOTE_TIMEOUT_MS, &q->k);
	if (rc) {
		free(q);
		return rc == CN_ETIMEOUT ? CN_ETIMEOUT : CN_EDRIVE;
	}
	*h = q;
	return 0;
}

ssize_t cluster_remote_rfinish(void *h, unsigned wait_ms)
{
	struct shard_req *q = h;
	struct rpc_resp resp;
	int rc = rpc_wait(q->k, wait_ms);

	if (rc == CN_ETIMEOUT)
		return CN_ETIMEOUT;
	if (rc)
		return CN_EDRIVE;
	return shard_result(q, rpc_finish(q->k, &resp), &resp);
}

void cluster_remote_rfree(void *h)
{
	struct shard_req *q = h;

	if (!q)
		return;
	rpc_call_free(q->k);
	free(q);
}
