/*
 * cluster/map.c — a node's registration in the cluster map (DESIGN §6
 * "Cluster map and placement"): at start-up a ready node proposes itself
 * (META_CMD_NODE_SET) and each of its drives (META_CMD_DRIVE_SET) through
 * the log, like any metadata change. The map itself lives in meta/ (records,
 * epoch, the self-registration rules in meta.h).
 *
 * Layer: cluster, over meta/ and data/. Registration is self-registration
 * (META_MAP_SELF): repeating it is a no-op, a changed capacity or address
 * updates the record, and what an operator set (weight, draining, removed)
 * stays. Everything a command carries is filled in here, before proposing.
 */
#include <stdio.h>
#include <string.h>

#include "cluster/cluster.h"
#include "core/err.h"
#include "core/log.h"
#include "data/data.h"
#include "meta/meta.h"

#define MAP_MAX_DRIVES 64

_Static_assert(DATA_ID_LEN == META_ID_LEN, "a drive id is a map id");

/* A member of the drive set, and not the stale twin (same id, offline) of
 * a replacement that is online. */
static int registrable(const struct data_drive_stat *ds, int n, int i)
{
	static const uint8_t zero[DATA_ID_LEN];

	if (ds[i].pos < 0 || memcmp(ds[i].id, zero, DATA_ID_LEN) == 0)
		return 0;
	for (int j = 0; j < n && !ds[i].online; j++)
		if (j != i && ds[j].online && memcmp(ds[j].id, ds[i].id, DATA_ID_LEN) == 0)
			return 0;
	return 1;
}

int cluster_map_register(struct cluster *c, struct meta_store *m, struct data_store *d,
			 const char *zone)
{
	struct data_drive_stat ds[MAP_MAX_DRIVES];
	struct cluster_status st;
	struct meta_cmd cmd;
	int n, rc;

	if (strlen(zone) > META_ZONE_MAX)
		return CN_EINVAL;
	cluster_status(c, &st);
	if (strlen(st.address) > META_ADDR_MAX)
		return CN_EINVAL;
	memset(&cmd, 0, sizeof(cmd));
	cmd.type = META_CMD_NODE_SET;
	cmd.map_flags = META_MAP_SELF;
	cmd.node.id = st.id;
	snprintf(cmd.node.address, sizeof(cmd.node.address), "%s", st.address);
	snprintf(cmd.node.zone, sizeof(cmd.node.zone), "%s", zone);
	cmd.node.state = META_MAP_UP;
	cmd.node.weight = META_MAP_WEIGHT_DEFAULT;
	rc = meta_submit_sync(m, &cmd);
	if (rc)
		return rc;
	n = data_store_stats(d, ds, MAP_MAX_DRIVES);
	if (n > MAP_MAX_DRIVES)
		n = MAP_MAX_DRIVES;
	for (int i = 0; i < n && !rc; i++) {
		if (!registrable(ds, n, i))
			continue;
		memset(&cmd, 0, sizeof(cmd));
		cmd.type = META_CMD_DRIVE_SET;
		cmd.map_flags = META_MAP_SELF;
		memcpy(cmd.drive.id, ds[i].id, META_ID_LEN);
		cmd.drive.node = st.id;
		/* an offline drive's capacity is unknown (0): the map keeps its last */
		cmd.drive.capacity = ds[i].online ? ds[i].total : 0;
		cmd.drive.state = ds[i].online ? META_MAP_UP : META_MAP_DOWN;
		cmd.drive.weight = META_MAP_WEIGHT_DEFAULT;
		rc = meta_submit_sync(m, &cmd);
	}
	if (!rc)
		log_info("cluster: registered in the cluster map (node %llu, %d drive%s)",
			 (unsigned long long)st.id, n, n == 1 ? "" : "s");
	return rc;
}

/* Node id's record into *out (id 0 when the map has none). */
static int node_record(struct meta_store *m, uint64_t id, struct meta_node *out)
{
	struct meta_map map;
	int rc = meta_map_get(m, &map);

	if (rc)
		return rc;
	for (size_t i = 0; i < map.n_nodes; i++)
		if (map.nodes[i].id == id)
			*out = map.nodes[i];
	meta_map_release(&map);
	return 0;
}

int cluster_map_set_state(struct meta_store *m, uint64_t id, uint8_t state, uint8_t *was)
{
	struct meta_cmd cmd;
	int rc;

	memset(&cmd, 0, sizeof(cmd));
	if (was)
		*was = 0;
	rc = node_record(m, id, &cmd.node);
	if (rc || !cmd.node.id)
		return rc;
	if (was)
		*was = cmd.node.state;
	if (cmd.node.state == state || cmd.node.state == META_MAP_REMOVED)
		return 0;
	cmd.type = META_CMD_NODE_SET;
	cmd.node.state = state;
	return meta_submit_sync(m, &cmd);
}

int cluster_map_remove_node(struct meta_store *m, uint64_t id, const char *address)
{
	struct meta_cmd cmd;
	int rc;

	memset(&cmd, 0, sizeof(cmd));
	cmd.type = META_CMD_NODE_SET;
	cmd.node.id = id;
	cmd.node.weight = META_MAP_WEIGHT_DEFAULT;
	rc = node_record(m, id, &cmd.node);
	if (rc)
		return rc;
	if (cmd.node.state == META_MAP_REMOVED)
		return 0;
	/* a record even for a node that never registered: a registration
	 * still on its way is then refused, never revived */
	if (!cmd.node.address[0])
		snprintf(cmd.node.address, sizeof(cmd.node.address), "%s", address);
	cmd.node.state = META_MAP_REMOVED;
	rc = meta_submit_sync(m, &cmd); /* its drives go with it (apply) */
	if (rc == CN_EREMOVED)
		rc = 0;
	if (!rc)
		log_info("cluster: node %llu marked removed in the cluster map",
			 (unsigned long long)id);
	return rc;
}
