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

#define PLACER_WIDTHS 4 /* tables kept per epoch: the default and old widths */

struct width_table {
	int have;
	struct placement_table t;
};

struct cluster_placer {
	struct meta_store *meta;
	uint8_t ec_k, ec_m;
	pthread_mutex_t mu;
	uint64_t epoch;		      /* map epoch last looked at */
	struct placement_node *nodes; /* that epoch's map, for more widths */
	struct placement_drive *drives;
	int n_nodes, n_drives, eligible;
	uint8_t k, m;			     /* the width of new blobs (0: none) */
	struct width_table w[PLACER_WIDTHS]; /* w[0]: k+m of new blobs */
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

static void drop_tables(struct cluster_placer *p)
{
	for (int i = 0; i < PLACER_WIDTHS; i++) {
		placement_table_release(&p->w[i].t);
		p->w[i].have = 0;
	}
}

void cluster_placer_free(struct cluster_placer *p)
{
	if (!p)
		return;
	drop_tables(p);
	free(p->nodes);
	free(p->drives);
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

/* The table of width k+m for the epoch in force (computed on first use);
 * NULL if the map cannot hold it. Called with mu held. */
static const struct placement_table *table_for(struct cluster_placer *p, uint8_t k, uint8_t m)
{
	struct placement_map pm = {p->nodes, p->n_nodes, p->drives, p->n_drives};
	int free_slot = -1, rc;

	for (int i = 0; i < PLACER_WIDTHS; i++) {
		if (p->w[i].have && p->w[i].t.k == k && p->w[i].t.m == m)
			return &p->w[i].t;
		if (!p->w[i].have && free_slot < 0 && (i > 0 || (k == p->k && m == p->m)))
			free_slot = i;
	}
	if (free_slot < 0 || p->eligible < 2 || k + m > p->eligible)
		return NULL;
	rc = placement_compute(&pm, k, m, PLACEMENT_PG_DEFAULT, p->epoch, NULL, &p->w[free_slot].t);
	if (rc) {
		log_warn("cluster: no %u+%u layout over %d eligible node(s): %s", k, m, p->eligible,
			 cn_strerror(rc));
		return NULL;
	}
	p->w[free_slot].have = 1;
	return &p->w[free_slot].t;
}

/* Loads the map of a new epoch; called with mu held. */
static void recompute(struct cluster_placer *p, uint64_t epoch)
{
	struct meta_map map;
	uint8_t old_k = p->k, old_m = p->m;

	p->epoch = epoch;
	drop_tables(p);
	free(p->nodes);
	free(p->drives);
	p->nodes = NULL;
	p->drives = NULL;
	p->n_nodes = p->n_drives = p->eligible = 0;
	p->k = p->m = 0;
	if (meta_map_get(p->meta, &map) != 0)
		return;
	p->nodes = calloc(map.n_nodes + 1, sizeof(*p->nodes));
	p->drives = calloc(map.n_drives + 1, sizeof(*p->drives));
	if (!p->nodes || !p->drives)
		goto out;
	for (size_t i = 0; i < map.n_nodes; i++) {
		p->nodes[i].id = map.nodes[i].id;
		memcpy(p->nodes[i].zone, map.nodes[i].zone, sizeof(p->nodes[i].zone));
		p->nodes[i].state = pstate(map.nodes[i].state);
	}
	for (size_t i = 0; i < map.n_drives; i++) {
		memcpy(p->drives[i].id, map.drives[i].id, DATA_ID_LEN);
		p->drives[i].node = map.drives[i].node;
		p->drives[i].weight = map.drives[i].weight;
		p->drives[i].state = pstate(map.drives[i].state);
	}
	p->n_nodes = (int)map.n_nodes;
	p->n_drives = (int)map.n_drives;
	struct placement_map pm = {p->nodes, p->n_nodes, p->drives, p->n_drives};
	p->eligible = placement_eligible_nodes(&pm);
	if (p->eligible < 2) {
		if (old_k)
			log_info("cluster: %d eligible node(s): new blobs stay on the node that "
				 "writes them",
				 p->eligible < 0 ? 0 : p->eligible);
		goto out;
	}
	if (p->ec_k) {
		p->k = p->ec_k;
		p->m = p->ec_m;
	} else {
		placement_default_ec(p->eligible, &p->k, &p->m);
	}
	if (!table_for(p, p->k, p->m)) {
		p->k = p->m = 0;
		goto out;
	}
	if (old_k != p->k || old_m != p->m)
		log_info("cluster: layout of map epoch %llu: %u+%u over %d node(s)",
			 (unsigned long long)epoch, p->k, p->m, p->eligible);
out:
	meta_map_release(&map);
}

/* Brings the placer to the map's epoch; called with mu held. */
static int refresh(struct cluster_placer *p)
{
	uint64_t epoch;
	int rc = meta_map_epoch(p->meta, &epoch);

	if (!rc && epoch != p->epoch)
		recompute(p, epoch);
	return rc;
}

int cluster_placer_place(void *ctx, const uint8_t blob_id[16], uint8_t *k, uint8_t *m,
			 uint8_t (*drive)[16])
{
	struct cluster_placer *p = ctx;
	int rc;

	pthread_mutex_lock(&p->mu);
	rc = refresh(p);
	if (!rc && !p->k)
		rc = CN_ENOTFOUND;
	if (!rc) {
		const struct placement_table *t = &p->w[0].t;
		*k = t->k;
		*m = t->m;
		memcpy(drive, placement_table_pg(t, placement_pg_of(blob_id, t->pg_count)),
		       (size_t)(t->k + t->m) * DATA_ID_LEN);
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

int cluster_placer_target(struct cluster_placer *p, const uint8_t blob_id[16], uint8_t k, uint8_t m,
			  uint8_t (*drive)[16], uint64_t *epoch)
{
	const struct placement_table *t;
	int rc;

	pthread_mutex_lock(&p->mu);
	rc = refresh(p);
	t = rc ? NULL : table_for(p, k, m);
	if (!rc && !t)
		rc = CN_ENOTFOUND;
	if (!rc) {
		memcpy(drive, placement_table_pg(t, placement_pg_of(blob_id, t->pg_count)),
		       (size_t)(k + m) * DATA_ID_LEN);
		*epoch = p->epoch;
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

int cluster_placer_info(struct cluster_placer *p, uint64_t *epoch, uint8_t *k, uint8_t *m,
			uint8_t digest[16])
{
	int rc = CN_ENOTFOUND;

	pthread_mutex_lock(&p->mu);
	refresh(p);
	if (p->k) {
		*epoch = p->epoch;
		*k = p->k;
		*m = p->m;
		memcpy(digest, p->w[0].t.digest, 16);
		rc = 0;
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}
