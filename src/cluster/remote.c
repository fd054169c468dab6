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
 * Threads: any (blocking calls, meant for the thread pool).
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"
#include "core/clock.h"
#include "core/digest.h"
#include "core/err.h"
#include "core/log.h"
#include "data/data.h"

#define REMOTE_DRIVES_MAX 256
#define REMOTE_REFRESH_NS (1000ll * 1000 * 1000)
#define REMOTE_TIMEOUT_MS 10000
#define STATUS_TIMEOUT_MS 1500

struct remote_drive {
	uint8_t id[DATA_ID_LEN];
	char address[CLUSTER_ADDR_MAX + 1];
};

struct cluster_remote {
	struct cluster *c;
	pthread_mutex_t mu;
	struct remote_drive drives[REMOTE_DRIVES_MAX];
	int n;
	int64_t refreshed_ns; /* monotonic; 0: never */
};

int cluster_remote_new(struct cluster *c, struct cluster_remote **out)
{
	struct cluster_remote *r = calloc(1, sizeof(*r));

	if (!r)
		return CN_ENOMEM;
	r->c = c;
	pthread_mutex_init(&r->mu, NULL);
	*out = r;
	return 0;
}

void cluster_remote_free(struct cluster_remote *r)
{
	if (!r)
		return;
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

/* Asks every configured node which drives it has. Called with mu held. */
static void refresh(struct cluster_remote *r)
{
	struct cluster_status st;

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
	if (rc && (!r->refreshed_ns || cn_mono_ns() - r->refreshed_ns > REMOTE_REFRESH_NS)) {
		refresh(r);
		rc = lookup(r, id, addr);
	}
	pthread_mutex_unlock(&r->mu);
	return rc ? CN_EDRIVE : 0;
}

ssize_t cluster_remote_pread(void *ctx, const uint8_t drive_id[DATA_ID_LEN],
			     const uint8_t blob_id[DATA_ID_LEN], int shard, void *buf, size_t len,
			     uint64_t off)
{
	struct cluster_remote *r = ctx;
	char addr[CLUSTER_ADDR_MAX + 1], target[256], dhex[2 * DATA_ID_LEN + 1],
		bhex[2 * DATA_ID_LEN + 1];
	struct rpc_resp resp;
	ssize_t got;
	int rc;

	if (drive_address(r, drive_id, addr))
		return CN_EDRIVE;
	cn_hex(drive_id, DATA_ID_LEN, dhex);
	cn_hex(blob_id, DATA_ID_LEN, bhex);
	snprintf(target, sizeof(target),
		 "/_cairn/internal/shard?blob=%s&drive=%s&len=%zu&off=%" PRIu64 "&shard=%d", bhex,
		 dhex, len, off, shard);
	rc = rpc_call(cluster_rpc(r->c), addr, "GET", target, NULL, 0, -1, REMOTE_TIMEOUT_MS, 1,
		      &resp);
	if (rc)
		return CN_EDRIVE; /* unreachable: as good as an offline drive */
	if (resp.status == 200 && resp.len <= len) {
		if (resp.len)
			memcpy(buf, resp.body, resp.len);
		got = (ssize_t)resp.len;
	} else {
		got = resp.status == 404 ? CN_ENOTFOUND : CN_EDRIVE;
	}
	rpc_resp_release(&resp);
	return got;
}
