/*
 * cluster/placement.h — placement groups: which k+m drives hold the shards
 * of a blob (DESIGN §6 "cluster map and placement, recorded not recomputed").
 *
 * Layer: cluster, pure logic (no I/O, no clock, no globals). A blob id hashes
 * to one of pg_count placement groups (placement_pg_of); a placement table
 * maps every group to k+m drives, slot s holding shard s. The table is
 * computed from a snapshot of the cluster map when the map changes and is
 * then committed as a layout version (epoch + digest); readers use the
 * drives recorded in each blob, never a recomputed table.
 *
 * Rules kept by placement_compute (the why is in placement.c):
 *  - only drives in state UP with weight > 0 on nodes in state UP are chosen;
 *  - at most one drive per node in a group;
 *  - with zones (any node has a non-empty zone) a group spans as many zones
 *    as it can, and the shards per zone differ by at most one except where a
 *    zone has run out of eligible nodes;
 *  - weighted rendezvous hashing: a node is chosen with probability
 *    proportional to the sum of its eligible drives' weights, and within a
 *    node a drive with probability proportional to its weight;
 *  - the result depends on the map's content (and the previous table), never
 *    on the order of the arrays;
 *  - with a previous table of the same shape, a drive still chosen keeps its
 *    slot, so only the slots whose drive changed move.
 *
 * Thread rules: every function is reentrant; a table may be read by any
 * number of threads once computed.
 */
#ifndef CAIRN_CLUSTER_PLACEMENT_H
#define CAIRN_CLUSTER_PLACEMENT_H

#include <stdint.h>

#include "data/data.h"

#define PLACEMENT_PG_DEFAULT 256u
#define PLACEMENT_PG_MAX (1u << 16)
#define PLACEMENT_ZONE_MAX 63 /* bytes, without the NUL */

/* State of a node or a drive. Only UP is eligible for new placement; any
 * other value (0 included) is not. Same values as meta's map records. */
enum placement_state {
	PLACEMENT_UP = 1,
	PLACEMENT_DOWN = 2,
	PLACEMENT_DRAINING = 3, /* keeps its data for now, receives nothing new */
	PLACEMENT_REMOVED = 4,
};

struct placement_node {
	uint64_t id;
	char zone[PLACEMENT_ZONE_MAX + 1]; /* NUL-terminated; "" = no zone */
	enum placement_state state;
};

struct placement_drive {
	uint8_t id[DATA_ID_LEN];
	uint64_t node;	 /* id of the owning node (must be in the map) */
	uint32_t weight; /* e.g. capacity in GiB; 0 = never chosen */
	enum placement_state state;
};

/* A snapshot of the cluster map. Plain value; the arrays are borrowed. */
struct placement_map {
	const struct placement_node *nodes;
	int n_nodes;
	const struct placement_drive *drives;
	int n_drives;
};

/* A computed layout. slot[pg * (k + m) + s] is the drive id of shard s of
 * placement group pg. */
struct placement_table {
	uint64_t epoch;	   /* the map epoch it was computed from */
	uint32_t pg_count; /* a power of two */
	uint8_t k, m;
	uint8_t digest[16]; /* XXH3-128 of (pg_count, k, m, slots); not of epoch */
	uint8_t (*slot)[DATA_ID_LEN];
};

/* One slot that changes between two tables. */
typedef int (*placement_move_cb)(void *arg, uint32_t pg, unsigned slot,
				 const uint8_t from[DATA_ID_LEN], const uint8_t to[DATA_ID_LEN]);

/* The default erasure width for n eligible nodes (table in placement.c;
 * 2+1 on 3, 2+2 on 4, 4+2 on 6). n <= 1 gives 1+0: a single node keeps the
 * data layer's own per-drive choice (data_layout_default). Any thread. */
void placement_default_ec(int n_nodes, uint8_t *k, uint8_t *m);

/* Parses `--ec K+M` ("4+2": decimal, no spaces) and checks it against the
 * data layer (k >= 1, m >= 0, k + m <= DATA_MAX_SHARDS) and the cluster
 * (k + m <= n_nodes, the number of eligible nodes). Returns 0, or CN_EBADARG
 * with *why set to a static sentence saying what is wrong (why may be NULL).
 * Borrows s. Any thread. */
int placement_ec_parse(const char *s, int n_nodes, uint8_t *k, uint8_t *m, const char **why);

/* Nodes that could receive a shard: UP, with at least one UP drive of
 * weight > 0. Returns the count, or CN_EINVAL for an inconsistent map,
 * CN_ENOMEM. Borrows map. Any thread. */
int placement_eligible_nodes(const struct placement_map *map);

/* The placement group of a blob: XXH3-64 of the id (seeded) masked to
 * pg_count, which must be a power of two. Stable: part of the format. */
uint32_t placement_pg_of(const uint8_t blob_id[DATA_ID_LEN], uint32_t pg_count);

/* Computes the table for every group of the map (k + m drives each) into
 * *out, which returns owned (placement_table_release). prev, if not NULL and
 * of the same pg_count, k and m, is the table in force: drives it had that
 * are still chosen keep their slots. Borrows map and prev for the call.
 * Returns 0; CN_EINVAL for bad arguments, an inconsistent map (duplicate
 * ids, a drive of an unknown node, an unterminated zone) or fewer eligible
 * nodes than k + m; CN_ENOMEM. On error *out is untouched. Any thread;
 * allocates scratch of O(nodes + drives) for the call. */
int placement_compute(const struct placement_map *map, uint8_t k, uint8_t m, uint32_t pg_count,
		      uint64_t epoch, const struct placement_table *prev,
		      struct placement_table *out);

/* Frees the slots of a computed table; t itself is the caller's. Safe on a
 * zeroed table. */
void placement_table_release(struct placement_table *t);

/* The k + m drive ids of group pg (pg < t->pg_count). Borrowed from t, valid
 * until it is released. */
const uint8_t (*placement_table_pg(const struct placement_table *t, uint32_t pg))[DATA_ID_LEN];

/* Calls cb(arg, pg, slot, from, to) for every slot whose drive differs from
 * old to new, in (pg, slot) order; cb returns 0 to go on or a negative code
 * to stop, and may be NULL to only count. Returns the number of moves (>= 0),
 * CN_EINVAL if the tables differ in pg_count, k or m, or the code cb stopped
 * with. Borrows both tables. Any thread. */
int placement_diff(const struct placement_table *old_t, const struct placement_table *new_t,
		   placement_move_cb cb, void *arg);

#endif
