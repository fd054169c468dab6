/*
 * cluster/place.c — where a new blob's shards go (cluster.h, "placement of
 * new blobs"): the placement table of the replicated cluster map
 * (placement.c), recomputed when the map epoch moves.
 *
 * The table is a pure function of the map (no previous table is fed in:
 * every node computes the same one from the same replicated records, so
 * any node placing a blob picks the drives every other node would). A
 * blob records the drives it was written to, so a table change never
 * moves or hides existing data; moving old blobs is rebalance's job.
 *
 * Threads: place() may run on any number of threads; the table is
 * swapped under a mutex and copied out per call (k+m ids).
 */
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include "cluster/cluster.h"
#include "cluster/placement.h"
#include "core/err.h"
#include "core/log.h"
#include "meta/meta.h"

struct cluster_placer {
	struct meta_store *meta;
	uint8_t ec_k, ec_m;
	pthread_mutex_t mu;
	int have;		  /* a table for `epoch` */
	uint64_t epoch;		  /* map epoch last looked at */
	struct placement_table t; /* valid when have */
};

int cluster_placer_new(struct meta_store *m, uint8_t ec_k, uint8_t ec_m,
		       struct cluster_placer **out)
{
	struct cluster_placer *p = calloc(1, sizeof(*p));

	if (!p)
		return CN_ENOMEM;
	p->meta = m;
	p->ec_k = ec_k;
	p->ec_m = ec_m;
	p->epoch = UINT64_MAX;
	pthread_mutex_init(&p->mu, NULL);
	*out = p;
	return 0;
}

void cluster_placer_free(struct cluster_placer *p)
{
	if (!p)
		return;
	placement_table_release(&p->t);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

static enum placement_state pstate(uint8_t s)
{
	return s == META_MAP_UP		? PLACEMENT_UP
	       : s == META_MAP_DOWN	? PLACEMENT_DOWN
	       : s == META_MAP_DRAINING ? PLACEMENT_DRAINING
					: PLACEMENT_REMOVED;
}

/* Recomputes the table from the map; called with mu held. */
static void recompute(struct cluster_placer *p, uint64_t epoch)
{
	struct meta_map map;
	struct placement_node *nodes = NULL;
	struct placement_drive *drives = NULL;
	struct placement_table t = {0};
	uint8_t k, m;
	int eligible, rc;

	p->epoch = epoch;
	if (meta_map_get(p->meta, &map) != 0)
		return;
	nodes = calloc(map.n_nodes + 1, sizeof(*nodes));
	drives = calloc(map.n_drives + 1, sizeof(*drives));
	if (!nodes || !drives)
		goto out;
	for (size_t i = 0; i < map.n_nodes; i++) {
		nodes[i].id = map.nodes[i].id;
		memcpy(nodes[i].zone, map.nodes[i].zone, sizeof(nodes[i].zone));
		nodes[i].state = pstate(map.nodes[i].state);
	}
	for (size_t i = 0; i < map.n_drives; i++) {
		memcpy(drives[i].id, map.drives[i].id, DATA_ID_LEN);
		drives[i].node = map.drives[i].node;
		drives[i].weight = map.drives[i].weight;
		drives[i].state = pstate(map.drives[i].state);
	}
	struct placement_map pm = {nodes, (int)map.n_nodes, drives, (int)map.n_drives};
	eligible = placement_eligible_nodes(&pm);
	if (eligible < 2) {
		if (p->have)
			log_info("cluster: %d eligible node(s): new blobs stay on the node that "
				 "writes them",
				 eligible < 0 ? 0 : eligible);
		placement_table_release(&p->t);
		p->have = 0;
		goto out;
	}
	if (p->ec_k) {
		k = p->ec_k;
		m = p->ec_m;
	} else {
		placement_default_ec(eligible, &k, &m);
	}
	rc = placement_compute(&pm, k, m, PLACEMENT_PG_DEFAULT, epoch, NULL, &t);
	if (rc) {
		log_warn("cluster: no %u+%u layout over %d eligible node(s): %s", k, m, eligible,
			 cn_strerror(rc));
		goto out; /* keep the table in force, if any */
	}
	if (!p->have || p->t.k != t.k || p->t.m != t.m ||
	    memcmp(p->t.digest, t.digest, sizeof(t.digest)) != 0)
		log_info("cluster: layout of map epoch %llu: %u+%u over %d node(s)",
			 (unsigned long long)epoch, k, m, eligible);
	placement_table_release(&p->t);
	p->t = t;
	p->have = 1;
out:
	free(nodes);
	free(drives);
	meta_map_release(&map);
}

int cluster_placer_place(void *ctx, const uint8_t blob_id[16], uint8_t *k, uint8_t *m,
			 uint8_t (*drive)[16])
{
	struct cluster_placer *p = ctx;
	uint64_t epoch;
	int rc = meta_map_epoch(p->meta, &epoch);

	if (rc)
		return rc;
	pthread_mutex_lock(&p->mu);
	if (epoch != p->epoch)
		recompute(p, epoch);
	if (!p->have) {
		rc = CN_ENOTFOUND;
	} else {
		const uint8_t(*slot)[DATA_ID_LEN] =
			placement_table_pg(&p->t, placement_pg_of(blob_id, p->t.pg_count));
		*k = p->t.k;
		*m = p->t.m;
		memcpy(drive, slot, (size_t)(p->t.k + p->t.m) * DATA_ID_LEN);
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

int cluster_placer_info(struct cluster_placer *p, uint64_t *epoch, uint8_t *k, uint8_t *m,
			uint8_t digest[16])
{
	int rc = CN_ENOTFOUND;

	pthread_mutex_lock(&p->mu);
	if (p->have) {
		*epoch = p->t.epoch;
		*k = p->t.k;
		*m = p->t.m;
		memcpy(digest, p->t.digest, 16);
		rc = 0;
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}
