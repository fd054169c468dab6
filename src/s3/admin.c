/*
 * s3/admin.c — cairn's own admin endpoints under /_cairn/admin/, signed with
 * the root credentials (SigV4, like any S3 request). They read the live
 * server's state; `cairn admin ...` (cli/) is their client.
 *
 *   GET  /_cairn/admin/status                 drives, buckets + stats, gc, scrub
 *   GET  /_cairn/admin/object?bucket=B&key=K  every version, layout, shard health
 *   POST /_cairn/admin/scrub                  start a full scrub pass
 *   GET  /_cairn/admin/scrub                  scrub progress
 *   POST /_cairn/admin/heal                   drain the heal queue now
 *   POST /_cairn/admin/gc                     run garbage collection now
 *   POST /_cairn/admin/drive?op=replace&path=DIR[&force=1]
 *                                             adopt the empty directory of an
 *                                             offline drive as its replacement
 *   GET  /_cairn/admin/cluster                every node's view: role, term,
 *                                             commit/applied index, reachability;
 *                                             the cluster map (epoch, nodes,
 *                                             drives) in this node's store
 *   POST /_cairn/admin/cluster?op=add&address=A     membership change, run by
 *   POST /_cairn/admin/cluster?op=remove&address=A  the leader (any node asks it)
 *   /_cairn/admin/user, /group, /policy       identity (admin_iam.c)
 *   GET  /_cairn/admin/backup                 metadata backup file (admin_backup.c)
 *   GET|POST /_cairn/admin/kms/key[?op=add&name=N]  the KMS key ring (sse.c)
 *
 * Answers are JSON, built with jansson (DESIGN §2). Shard health in /object is computed on the
 * thread pool by reading and verifying every piece of every shard (read-only).
 */
#include "s3/s3_int.h"
#include "s3/sse.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <pthread.h>

#include "bg/gc.h"
#include "bg/rebalance.h"
#include "bg/scrub.h"
#include "cluster/cluster.h"
#include "core/clock.h"
#include "core/crypt.h"
#include "core/err.h"
#include "core/log.h"
#include "core/thread.h"

/* A JSON string of s, or of a placeholder when s is not UTF-8 (drive paths
 * come from the command line); never NULL unless memory ran out. */
static json_t *jstr(const char *s, size_t len)
{
	json_t *j = json_stringn(s, len);
	return j ? j : json_string("(not UTF-8)");
}

static json_t *jint(uint64_t v)
{
	return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

/* Sends doc (taken) as the JSON answer, one line. */
void s3_send_json(struct s3_req *r, int status, json_t *doc)
{
	struct s3_hdrs h = {0};
	char *s = doc ? json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	char *body = s ? cn_pool_printf(r->pool, "%s\n", s) : NULL;

	json_decref(doc);
	free(s);
	if (!body) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	s3_hdr_add(r, &h, "Content-Type", "application/json");
	s3_send(r, status, &h, body, strlen(body));
}

static void hex_id(const uint8_t *id, char out[33])
{
	cn_hex(id, 16, out);
}

static json_t *scrub_json(const struct scrub_progress *p)
{
	return json_pack(
		"{s:b,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "running", p->running,
		"passes", jint(p->passes), "blobs_checked", jint(p->blobs_checked), "bytes_checked",
		jint(p->bytes_checked), "blobs_bad", jint(p->blobs_bad), "shards_rebuilt",
		jint(p->shards_rebuilt), "unrecoverable", jint(p->unrecoverable), "queue_healed",
		jint(p->queue_healed), "heal_queue", jint(p->heal_queue_len), "backfill_shards",
		jint(p->backfill_shards), "backfill_failed", jint(p->backfill_failed), "interval_s",
		jint(p->interval_s), "rate_bytes_per_sec", jint(p->bytes_per_sec), "next_pass_s",
		jint((uint64_t)(p->next_pass_ns / 1000000000LL)));
}

/* A replaced drive's rebuild: what is done, what is left, how fast. */
static json_t *rebuild_json(const struct scrub_rebuild *p, const struct data_drive_stat *ds, int nd)
{
	int run = p->drive >= 0 && p->drive < nd;
	char id[33] = "";
	uint64_t left = p->bytes_total > p->bytes_done ? p->bytes_total - p->bytes_done : 0;
	uint64_t sleft = p->shards_total > p->shards_done ? p->shards_total - p->shards_done : 0;

	if (run)
		hex_id(ds[p->drive].id, id);
	return json_pack(
		"{s:b,s:o,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:o,s:o,"
		"s:f}",
		"running", run, "drive",
		run ? jstr(ds[p->drive].path, strlen(ds[p->drive].path)) : json_null(), "drive_id",
		id, "shards_total", jint(p->shards_total), "shards_done", jint(p->shards_done),
		"shards_remaining", jint(sleft), "shards_rebuilt", jint(p->shards_rebuilt),
		"bytes_total", jint(p->bytes_total), "bytes_done", jint(p->bytes_done),
		"bytes_remaining", jint(left), "bytes_per_sec", jint(p->bytes_per_sec),
		"unrecoverable", jint(p->lost), "failed", jint(p->failed), "completed",
		jint(p->completed), "eta_s", (json_int_t)p->eta_s, "last_bytes",
		jint(p->last_bytes), "last_bytes_per_sec",
		jint(p->last_seconds > 0 ? (uint64_t)((double)p->last_bytes / p->last_seconds) : 0),
		"last_seconds", p->last_seconds);
}

static void admin_status(struct s3_req *r)
{
	struct data_drive_stat ds[64];
	struct meta_bucket *bk;
	size_t nb;
	json_t *doc, *drives, *buckets;
	int nd, rc;
	char id[33];

	rc = meta_bucket_list(r->srv->meta, &bk, &nb);
	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	nd = data_store_stats(r->srv->data, ds, 64);
	doc = json_object();
	drives = json_array();
	buckets = json_array();
	for (int i = 0; i < nd && i < 64; i++) {
		hex_id(ds[i].id, id);
		json_t *dj = json_pack("{s:o,s:s,s:b,s:b,s:i,s:i,s:o,s:o,s:o}", "path",
				       jstr(ds[i].path, strlen(ds[i].path)), "id", id, "online",
				       ds[i].online, "rebuilding", ds[i].rebuilding, "position",
				       ds[i].pos, "incarnation", (int)ds[i].incarnation, "total",
				       jint(ds[i].total), "used", jint(ds[i].used), "free",
				       jint(ds[i].free));
		if (dj && ds[i].problem)
			json_object_set_new(dj, "problem", json_string(ds[i].problem));
		json_array_append_new(drives, dj);
	}
	{
		/* the drive set as a whole: what the operator must act on */
		struct data_set_health h;
		const char *pb[64];
		json_t *pj = json_array();
		data_store_health(r->srv->data, &h);
		int np = data_store_problems(r->srv->data, pb, 64);
		for (int i = 0; i < np && i < 64; i++)
			json_array_append_new(pj, jstr(pb[i], strlen(pb[i])));
		json_object_set_new(doc, "drive_set",
				    json_pack("{s:i,s:i,s:i,s:b,s:o}", "size", h.set_n, "online",
					      h.online, "missing", h.missing, "degraded",
					      h.degraded, "problems", pj));
	}
	for (size_t i = 0; i < nb; i++) {
		struct meta_stats st;
		memset(&st, 0, sizeof(st));
		meta_stats_get(r->srv->meta, bk[i].name, &st);
		json_array_append_new(
			buckets,
			json_pack("{s:o,s:s,s:o,s:o,s:o,s:o}", "name",
				  jstr(bk[i].name, strlen(bk[i].name)), "versioning",
				  bk[i].versioning == META_VERSIONING_ENABLED	  ? "Enabled"
				  : bk[i].versioning == META_VERSIONING_SUSPENDED ? "Suspended"
										  : "Off",
				  "objects", jint(st.objects), "bytes", jint(st.bytes), "versions",
				  jint(st.versions), "version_bytes", jint(st.version_bytes)));
	}
	meta_bucket_list_release(bk, nb);
	/* the account every bucket belongs to: x-amz-expected-bucket-owner
	 * takes the id, ACL grants name the canonical id */
	json_object_set_new(doc, "account",
			    json_pack("{s:s,s:s}", "id", r->srv->account_id, "canonical_id",
				      r->srv->account_canonical));
	{
		/* every node of a cluster must show the same one */
		char fp[CN_FP_LEN + 1];
		cn_key_fingerprint(r->srv->cfg.master_key, fp);
		json_object_set_new(doc, "master_key_fingerprint", json_string(fp));
	}
	if (r->srv->lifecycle) {
		struct s3_lifecycle_progress lp;
		s3_lifecycle_progress(r->srv->lifecycle, &lp);
		json_object_set_new(
			doc, "lifecycle",
			json_pack("{s:b,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "running", lp.running,
				  "bucket", lp.bucket, "passes", jint(lp.passes), "last_pass_end_s",
				  jint((uint64_t)(lp.last_pass_end_ns / 1000000000LL)),
				  "objects_expired", jint(lp.objects_expired), "versions_expired",
				  jint(lp.versions_expired), "delete_markers_removed",
				  jint(lp.markers_removed), "uploads_aborted",
				  jint(lp.uploads_aborted), "failed", jint(lp.failed)));
	}
	json_object_set_new(doc, "drives", drives);
	json_object_set_new(doc, "buckets", buckets);
	json_object_set_new(doc, "heal_queue", jint(data_heal_queue_len(r->srv->data)));
	if (r->srv->gc) {
		uint64_t del, fail, deferred;
		gc_stats(r->srv->gc, &del, &fail, &deferred);
		json_object_set_new(doc, "gc",
				    json_pack("{s:o,s:o,s:o}", "deleted", jint(del), "failed",
					      jint(fail), "deferred", jint(deferred)));
	}
	if (r->srv->scrub) {
		struct scrub_progress p;
		scrub_progress(r->srv->scrub, &p);
		json_object_set_new(doc, "scrub", scrub_json(&p));
		/* status shows the queue at the top level already */
		json_object_del(json_object_get(doc, "scrub"), "heal_queue");
		json_object_set_new(doc, "rebuild", rebuild_json(&p.rebuild, ds, nd));
	}
	s3_send_json(r, 200, doc);
}

static void admin_scrub(struct s3_req *r)
{
	struct scrub_progress p;

	if (!r->srv->scrub) {
		s3_send_error(r, CN_ENOTIMPL);
		return;
	}
	if (strcmp(r->http->method_str, "POST") == 0)
		scrub_trigger(r->srv->scrub);
	scrub_progress(r->srv->scrub, &p);
	s3_send_json(r, 200, scrub_json(&p));
}

/* ---- /object: versions, layouts and shard health ---- */

struct obj_op {
	struct meta_version *v;
	size_t n, cap;
	json_t *doc;
};

static const char *loc_name(enum meta_loc l)
{
	switch (l) {
	case META_LOC_INLINE: return "inline";
	case META_LOC_BLOB: return "blob";
	case META_LOC_PARTS: return "parts";
	default: return "none";
	}
}

/* A blob's layout and the health of each shard (reads every piece). */
static json_t *blob_json(struct s3_req *r, const uint8_t *lay, size_t lay_len)
{
	struct blob_layout l;
	struct data_drive_stat ds[64];
	int nd = data_store_stats(r->srv->data, ds, 64);
	unsigned bad = 0, missing = 0;
	json_t *shards;
	char id[33];

	if (blob_layout_decode(lay, lay_len, &l) != 0)
		return json_pack("{s:s}", "error", "undecodable layout");
	(void)blob_verify(r->srv->data, &l, &bad, &missing);
	hex_id(l.id, id);
	shards = json_array();
	for (int i = 0; i < l.k + l.m; i++) {
		const char *path = "?";
		for (int d = 0; d < nd && d < 64; d++)
			if (memcmp(ds[d].id, l.drive[i], 16) == 0)
				path = ds[d].path;
		json_array_append_new(shards, json_pack("{s:i,s:o,s:s}", "index", i, "drive",
							jstr(path, strlen(path)), "health",
							missing & (1u << i) ? "missing"
							: bad & (1u << i)   ? "corrupt"
									    : "ok"));
	}
	return json_pack("{s:s,s:i,s:i,s:i,s:o,s:o}", "blob", id, "k", l.k, "m", l.m, "block_size",
			 (int)l.block_size, "size", jint(l.size), "shards", shards);
}

static void obj_work(struct s3_req *r, void *arg)
{
	struct obj_op *o = arg;
	json_t *versions = json_array();

	for (size_t i = 0; i < o->n; i++) {
		struct meta_version *v = &o->v[i];
		struct s3_attrs a;
		json_t *jv;
		char t[32];

		xml_time_iso((uint64_t)v->mtime, t);
		jv = json_pack("{s:s,s:b,s:b,s:o,s:s,s:o,s:s}", "version_id", v->vid_text, "latest",
			       (v->flags & META_VF_LATEST) != 0, "delete_marker",
			       (v->flags & META_VF_DELETE_MARKER) != 0, "size", jint(v->size),
			       "created", t, "etag", jstr(v->etag, strlen(v->etag)), "storage",
			       loc_name(v->loc));
		if (s3_attrs_decode(r, v->attrs, v->attrs_len, &a) == 0 && a.ck_alg) {
			char b64[64];
			cn_b64_encode(a.ck_raw, a.ck_len, b64, sizeof(b64));
			json_object_set_new(jv, "checksum",
					    json_pack("{s:s,s:s}", "algorithm",
						      cn_checksum_alg_name(a.ck_alg), "value",
						      b64));
		}
		if (v->loc == META_LOC_BLOB) {
			json_object_set_new(jv, "layout", blob_json(r, v->layout, v->layout_len));
		} else if (v->loc == META_LOC_PARTS) {
			json_t *parts = json_array();
			for (uint32_t p = 0; p < v->n_parts; p++)
				json_array_append_new(
					parts,
					json_pack("{s:i,s:o,s:o,s:o}", "part",
						  (int)v->parts[p].part_no, "size",
						  jint(v->parts[p].size), "etag",
						  jstr(v->parts[p].etag, strlen(v->parts[p].etag)),
						  "layout",
						  blob_json(r, v->parts[p].layout,
							    v->parts[p].layout_len)));
			json_object_set_new(jv, "parts", parts);
		}
		json_array_append_new(versions, jv);
	}
	json_object_set_new(o->doc, "versions", versions);
}

static void obj_after(struct s3_req *r, int status, void *arg)
{
	struct obj_op *o = arg;

	for (size_t i = 0; i < o->n; i++)
		meta_version_release(&o->v[i]);
	free(o->v);
	if (status) {
		json_decref(o->doc);
		s3_send_error(r, CN_EINTERNAL);
		return;
	}
	s3_send_json(r, 200, o->doc);
}

static void admin_object(struct s3_req *r)
{
	const char *bucket = s3_route_param(&r->route, "bucket");
	const char *key = s3_route_param(&r->route, "key");
	struct meta_list_params lp;
	struct obj_op *o;
	char id_marker[META_ID_TEXT] = "";
	int rc;

	if (!bucket || !key || !*key) {
		s3_send_error(r, CN_EBADARG);
		return;
	}
	o = cn_pool_zalloc(r->pool, sizeof(*o));
	if (!o) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	/* All versions of exactly this key: list with the key as prefix and
	 * keep the exact matches, page by page. */
	for (;;) {
		struct meta_list_result res;
		memset(&lp, 0, sizeof(lp));
		lp.prefix = key;
		lp.prefix_len = strlen(key);
		lp.max = 1000;
		if (id_marker[0]) {
			lp.start = key;
			lp.start_len = strlen(key);
			lp.id_marker = id_marker;
		}
		rc = meta_list_versions(r->srv->meta, bucket, &lp, &res);
		if (rc)
			break;
		int more = 0;
		for (size_t i = 0; i < res.n; i++) {
			const struct meta_entry *e = &res.entries[i];
			if (e->key_len != strlen(key) || memcmp(e->key, key, e->key_len) != 0)
				continue;
			if (o->n == o->cap) {
				size_t nc = o->cap ? o->cap * 2 : 8;
				struct meta_version *nv = realloc(o->v, nc * sizeof(*nv));
				if (!nv) {
					rc = CN_ENOMEM;
					break;
				}
				o->v = nv;
				o->cap = nc;
			}
			memset(&o->v[o->n], 0, sizeof(o->v[o->n]));
			int grc = meta_object_get(r->srv->meta, bucket, key, strlen(key),
						  e->vid_text, 0, &o->v[o->n]);
			if (grc == 0) {
				if (e->flags & META_VF_LATEST)
					o->v[o->n].flags |= META_VF_LATEST;
				o->n++;
			} else if (grc == CN_EDELMARKER || grc == CN_ENOKEY) {
				/* A delete marker: record it without data. */
				o->v[o->n].flags =
					META_VF_DELETE_MARKER | (e->flags & META_VF_LATEST);
				memcpy(o->v[o->n].vid_text, e->vid_text, sizeof(e->vid_text));
				o->v[o->n].mtime = e->mtime;
				o->v[o->n].mem = NULL;
				o->n++;
			}
			more = 1;
		}
		int truncated = res.truncated && more;
		if (truncated)
			memcpy(id_marker, res.next_id, sizeof(id_marker));
		meta_list_result_release(&res);
		if (!truncated || rc)
			break;
	}
	if (rc) {
		for (size_t i = 0; i < o->n; i++)
			meta_version_release(&o->v[i]);
		free(o->v);
		s3_send_error(r, rc);
		return;
	}
	if (o->n == 0) {
		free(o->v);
		s3_send_error(r, CN_ENOKEY);
		return;
	}
	o->doc = json_pack("{s:o,s:o}", "bucket", jstr(bucket, strlen(bucket)), "key",
			   jstr(key, strlen(key)));
	rc = s3_work(r, obj_work, obj_after, o);
	if (rc) {
		obj_after(r, 1, o);
	}
}

/* ---- cluster ---- */

#define PEER_STATUS_TIMEOUT_MS 1500
#define MEMBER_TIMEOUT_MS (10 * 60 * 1000 + 10000) /* the leader waits 10 min */

struct peer_probe {
	struct cluster *c;
	const struct cluster_node *n;
	json_t *doc; /* its status, or NULL */
	char err[64];
	pthread_t t;
	int started;
};

/* A node's own view, asked over the internal API (its status JSON). */
static int peer_status(struct cluster *c, const char *address, json_t **out, char *err, size_t cap)
{
	struct rpc_resp resp;
	json_t *doc;
	int rc;

	*out = NULL;
	rc = rpc_call(cluster_rpc(c), address, "GET", "/_cairn/internal/status", NULL, 0, -1,
		      PEER_STATUS_TIMEOUT_MS, 1, &resp);
	if (rc) {
		snprintf(err, cap, "%s", cn_strerror(rc));
		return rc;
	}
	doc = resp.status == 200 && resp.body ? json_loads(resp.body, 0, NULL) : NULL;
	if (!doc || !json_is_object(doc))
		snprintf(err, cap, "HTTP %d", resp.status);
	rpc_resp_release(&resp);
	if (!doc || !json_is_object(doc)) {
		json_decref(doc);
		return CN_EINTERNAL;
	}
	*out = doc;
	return 0;
}

static void *probe_thread(void *arg)
{
	struct peer_probe *p = arg;

	peer_status(p->c, p->n->address, &p->doc, p->err, sizeof(p->err));
	return NULL;
}

/* The cluster map as this node's store has it: {epoch, nodes, drives}. */
static json_t *map_json(struct meta_store *m)
{
	struct meta_map map;
	json_t *nodes, *drives;
	char hex[META_ID_TEXT];

	if (meta_map_get(m, &map))
		return NULL;
	nodes = json_array();
	drives = json_array();
	for (size_t i = 0; i < map.n_nodes; i++) {
		const struct meta_node *n = &map.nodes[i];
		json_array_append_new(nodes,
				      json_pack("{s:I,s:s,s:s,s:s,s:I}", "id", (json_int_t)n->id,
						"address", n->address, "zone", n->zone, "state",
						meta_map_state_name(n->state), "weight",
						(json_int_t)n->weight));
	}
	for (size_t i = 0; i < map.n_drives; i++) {
		const struct meta_drive *d = &map.drives[i];
		hex_id(d->id, hex);
		json_array_append_new(drives,
				      json_pack("{s:s,s:I,s:o,s:I,s:s}", "id", hex, "node",
						(json_int_t)d->node, "capacity", jint(d->capacity),
						"weight", (json_int_t)d->weight, "state",
						meta_map_state_name(d->state)));
	}
	json_t *doc = json_pack("{s:o,s:o,s:o}", "epoch", jint(map.epoch), "nodes", nodes, "drives",
				drives);
	meta_map_release(&map);
	return doc;
}

struct cluster_op {
	int op; /* 0 status, 1 add, 2 remove, 3 rebalance control */
	const char *rb_op;
	enum rebalance_op rb_code;
	const char *address;
	json_t *doc;
	int rc;
	int force;     /* remove: even a shrink below a blob's width */
	char why[768]; /* add: why the new node's status could not be read;
			  remove: what the shrink would strand */
};

json_t *s3_rebalance_json(struct rebalance *rb)
{
	struct rebalance_progress p;

	rebalance_progress(rb, &p);
	return json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:I}", "state",
			 rebalance_state_name(p.state), "epoch", jint(p.epoch), "balanced_epoch",
			 jint(p.balanced_epoch), "passes", jint(p.passes), "versions_total",
			 jint(p.versions_total), "versions_done", jint(p.versions_done),
			 "blobs_checked", jint(p.blobs_checked), "blobs_moved", jint(p.blobs_moved),
			 "shards_moved", jint(p.shards_moved), "bytes_moved", jint(p.bytes_moved),
			 "conflicts", jint(p.conflicts), "failed", jint(p.failed), "unplaced",
			 jint(p.unplaced), "bytes_per_sec", jint(p.bytes_per_sec), "eta_s",
			 (json_int_t)p.eta_s);
}

/* Rebalance control: a replicated setting (bg/rebalance.h), so this node
 * commits it and every node, the leader's rebalancer first, follows it.
 * Pool thread. */
static void cluster_rebalance_work(struct s3_req *r, struct cluster_op *op)
{
	op->rc = rebalance_control(r->srv->rebalance, op->rb_code);
	if (op->rc == CN_EINVAL) {
		op->doc = json_pack("{s:s,s:s}", "error", "InvalidState", "message",
				    op->rb_code == REBALANCE_RESUME ? "the rebalance is not paused"
								    : "the rebalance is stopped");
		return;
	}
	if (!op->rc) {
		op->doc = json_pack("{s:s}", "rebalance", op->rb_op);
		op->rc = op->doc ? 0 : CN_ENOMEM;
	}
}

/* Every configured node's own view, asked in parallel (a dead node costs one
 * timeout, not one per node). Pool thread. */
static void cluster_status_work(struct s3_req *r, struct cluster_op *op)
{
	struct cluster *c = r->srv->cluster;
	struct cluster_status st;
	struct peer_probe pr[CLUSTER_MAX_NODES];
	json_t *nodes = json_array(), *self;

	cluster_status(c, &st);
	self = s3_cluster_status_json(&st);
	if (self && r->srv->rebalance)
		json_object_set_new(self, "rebalance", s3_rebalance_json(r->srv->rebalance));
	memset(pr, 0, sizeof(pr));
	for (int i = 0; i < st.n_nodes; i++) {
		pr[i].c = c;
		pr[i].n = &st.nodes[i];
		if (st.nodes[i].id != st.id)
			pr[i].started =
				cn_thread_create(&pr[i].t, "probe", probe_thread, &pr[i]) == 0;
		if (st.nodes[i].id != st.id && !pr[i].started)
			probe_thread(&pr[i]);
	}
	for (int i = 0; i < st.n_nodes; i++) {
		json_t *n;
		if (pr[i].started)
			pthread_join(pr[i].t, NULL);
		n = json_pack("{s:I,s:s,s:s}", "id", (json_int_t)st.nodes[i].id, "address",
			      st.nodes[i].address, "membership",
			      st.nodes[i].voter ? "voter" : "standby");
		if (st.nodes[i].id == st.id) {
			json_object_set_new(n, "reachable", json_true());
			json_object_update(n, self);
		} else if (pr[i].doc) {
			json_object_set_new(n, "reachable", json_true());
			/* its own view, except what the configuration says */
			json_object_del(pr[i].doc, "configuration");
			json_object_update(n, pr[i].doc);
			json_decref(pr[i].doc);
		} else {
			json_object_set_new(n, "reachable", json_false());
			json_object_set_new(n, "error", json_string(pr[i].err));
		}
		json_object_del(n, "configuration");
		json_array_append_new(nodes, n);
	}
	op->doc = json_pack("{s:I,s:s,s:I,s:s,s:I,s:o,s:o}", "node_id", (json_int_t)st.id, "node",
			    st.address, "leader_id", (json_int_t)st.leader_id, "leader_address",
			    st.leader_address, "term", (json_int_t)st.term, "ready",
			    json_boolean(st.ready), "nodes", nodes);
	if (op->doc) {
		json_t *map = map_json(r->srv->meta);
		uint64_t heal = 0;
		json_object_set_new(op->doc, "map",
				    map ? map : json_pack("{s:s}", "error", "cannot read the map"));
		/* blobs with shards still missing since their node was down */
		if (meta_heal_count(r->srv->meta, &heal) == 0)
			json_object_set_new(op->doc, "heal_entries", jint(heal));
		/* the rebalance the leader runs, as the leader reports it */
		size_t i;
		json_t *n;
		json_array_foreach(nodes, i, n)
		{
			if (json_integer_value(json_object_get(n, "id")) ==
				    (json_int_t)st.leader_id &&
			    json_object_get(n, "rebalance"))
				json_object_set(op->doc, "rebalance",
						json_object_get(n, "rebalance"));
		}
	}
	json_decref(self);
	op->rc = op->doc ? 0 : CN_ENOMEM;
}

/* A removal that would leave blobs wider than the nodes left, with a shard
 * on the leaving node: the rebalance cannot re-place them on distinct nodes,
 * so the node would still hold shards they need once "removed" (stopping
 * it degrades them; below k of their nodes they are lost). Refused unless
 * forced. CN_ECONFLICT with why filled, 0, or an error.
 *
 * The node is marked draining first, so no new blob is placed on it, and
 * the walk then reads everything committed before: every blob, and every
 * write in flight by its intent. A write placed on it earlier whose intent
 * commits after that is refused by apply (CN_ELEAVING: the client retries
 * and is placed elsewhere), so none is missed. *was gets the state to put
 * back if the removal does not go ahead (0: nothing to put back). */
static int shrink_refused(struct meta_store *m, uint64_t id, char *why, size_t cap, uint8_t *was)
{
	struct meta_map map;
	struct rebalance_stranded *sd = malloc(sizeof(*sd));
	uint8_t(*drives)[16] = NULL;
	size_t nd = 0;
	unsigned left = 0;
	int rc, found = 0;

	if (!sd)
		return CN_ENOMEM;
	rc = cluster_map_set_state(m, id, META_MAP_DRAINING, was);
	if (rc)
		goto out;
	/* this node's replica sees every write acknowledged before the command
	 * (a follower may lag: a blob written just now would be missed) */
	struct meta_cmd barrier = {.type = META_CMD_BARRIER};
	rc = meta_submit_sync(m, &barrier);
	if (rc)
		goto out;
	rc = meta_map_get(m, &map);
	if (rc)
		goto out;
	drives = calloc(map.n_drives + 1, 16);
	if (!drives) {
		meta_map_release(&map);
		rc = CN_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < map.n_nodes; i++)
		if (map.nodes[i].id != id && map.nodes[i].state != META_MAP_REMOVED)
			left++;
	for (size_t i = 0; i < map.n_drives; i++)
		if (map.drives[i].node == id)
			memcpy(drives[nd++], map.drives[i].id, 16);
	meta_map_release(&map);
	rc = rebalance_shrink_check(m, (const uint8_t(*)[16])drives, nd, left, &found, sd);
	if (!rc && found && sd->upload == 2) {
		snprintf(
			why, cap,
			"removing it would leave %u node(s), and a blob being written now (since "
			"%lld s ago, blob %s) is wider (%u+%u) with a shard on it: it could not be "
			"re-placed on distinct nodes; retry when the write is done, add a node "
			"first, or remove it with --force and keep it running",
			left, (long long)((cn_now_ns() - sd->created) / 1000000000LL), sd->vid,
			sd->k, sd->m);
		rc = CN_ECONFLICT;
	} else if (!rc && found) {
		snprintf(why, cap,
			 "removing it would leave %u node(s), and blobs with a shard on it are "
			 "wider (%u+%u: %s%s/%.200s, %s %s): they cannot be re-placed on "
			 "distinct nodes and would stay on it; add a node first, or remove it "
			 "with --force and keep it running",
			 left, sd->k, sd->m, sd->upload ? "a part of " : "", sd->bucket, sd->key,
			 sd->upload ? "upload" : "version", sd->vid);
		rc = CN_ECONFLICT;
	}
out:
	free(drives);
	free(sd);
	return rc;
}

/* add/remove: resolved here (the new node's id from its own status; the
 * leaving node's from the configuration), run by the leader. Pool thread. */
static void cluster_member_work(struct s3_req *r, struct cluster_op *op)
{
	struct cluster *c = r->srv->cluster;
	struct cluster_status st;
	struct rpc_resp resp;
	uint64_t id = 0;
	uint8_t was = 0; /* remove: the node's state before draining */
	char target[256], err[64];
	int rc;

	cluster_status(c, &st);
	if (op->op == 1) {
		json_t *doc;
		rc = peer_status(c, op->address, &doc, err, sizeof(err));
		if (rc) {
			op->rc = CN_EINVAL; /* nobody answers there, or not as a peer */
			if (strcmp(err, "HTTP 403") == 0)
				snprintf(op->why, sizeof(op->why),
					 "the node at that address refused this cluster's "
					 "secret (HTTP 403): start it with the same "
					 "CAIRN_CLUSTER_SECRET");
			else
				snprintf(op->why, sizeof(op->why),
					 "no cairn node answers at that address (%s)", err);
			return;
		}
		id = (uint64_t)json_integer_value(json_object_get(doc, "id"));
		json_decref(doc);
		for (int i = 0; i < st.n_nodes; i++)
			if (st.nodes[i].id == id && st.nodes[i].voter) {
				op->rc = 0; /* already a voter: done */
				goto out;
			}
	} else {
		for (int i = 0; i < st.n_nodes; i++)
			if (strcmp(st.nodes[i].address, op->address) == 0)
				id = st.nodes[i].id;
	}
	if (!id) {
		op->rc = CN_EINVAL;
		return;
	}
	if (op->op == 2 && !op->force) {
		/* only a node that still answers: a dead one's shards are gone
		 * already, and removing it then adding a fresh node is how it
		 * is replaced (the new node gets them rebuilt) */
		json_t *doc;
		if (peer_status(c, op->address, &doc, err, sizeof(err)) == 0) {
			json_decref(doc);
			op->rc = shrink_refused(r->srv->meta, id, op->why, sizeof(op->why), &was);
			if (op->rc)
				goto out;
		}
	}
	if (!st.leader_id || !st.leader_address[0]) {
		op->rc = CN_ENOLEADER;
		goto out;
	}
	if (op->op == 1)
		snprintf(target, sizeof(target),
			 "/_cairn/internal/member?op=add&id=%" PRIu64 "&address=%s", id,
			 op->address);
	else
		snprintf(target, sizeof(target), "/_cairn/internal/member?op=remove&id=%" PRIu64,
			 id);
	rc = rpc_call(cluster_rpc(c), st.leader_address, "POST", target, NULL, 0, -1,
		      MEMBER_TIMEOUT_MS, 0, &resp);
	if (rc) {
		op->rc = rc == -ECONNREFUSED ? CN_ENOLEADER : CN_EUNCERTAIN;
		goto out;
	}
	op->rc = resp.status == 200 ? 0 : resp.status == 503 ? CN_ENOLEADER : CN_EINTERNAL;
	rpc_resp_release(&resp);
out:
	/* a removal that did not happen: the node takes new blobs again. When
	 * unsure whether it happened, it stays draining, and running the
	 * command again finishes either way (draining comes only from here:
	 * such a node is given back "up") */
	if (op->rc && op->rc != CN_EUNCERTAIN && was &&
	    cluster_map_set_state(r->srv->meta, id, was == META_MAP_DRAINING ? META_MAP_UP : was,
				  NULL) != 0)
		log_warn("cluster: node %llu stays draining after a removal that did not "
			 "happen: run the command again",
			 (unsigned long long)id);
	if (!op->rc)
		op->doc = json_pack("{s:s,s:I,s:s}", "op", op->op == 1 ? "add" : "remove", "id",
				    (json_int_t)id, "address", op->address);
}

static void cluster_work(struct s3_req *r, void *arg)
{
	struct cluster_op *op = arg;

	if (op->op == 0)
		cluster_status_work(r, op);
	else if (op->op == 3)
		cluster_rebalance_work(r, op);
	else
		cluster_member_work(r, op);
}

static void cluster_after(struct s3_req *r, int status, void *arg)
{
	struct cluster_op *op = arg;

	if (!status && op->op == 3 && op->rc == CN_EINVAL) {
		s3_send_json(r, 409, op->doc);
		return;
	}
	if (status || op->rc) {
		int rc = status ? CN_EINTERNAL : op->rc;
		const char *why =
			rc == CN_ECONFLICT    ? op->why
			: rc == CN_EINVAL     ? (op->why[0]    ? op->why
						 : op->op == 1 ? "no cairn node answers at that address"
							       : "no such member")
			: rc == CN_ENOLEADER  ? "no leader now; try again"
			: rc == CN_EUNCERTAIN ? "the leader did not answer; the change may "
						"or may not have happened"
					      : cn_strerror(rc);
		json_decref(op->doc);
		s3_send_json(r,
			     rc == CN_EINVAL	  ? 400
			     : rc == CN_ECONFLICT ? 409
			     : rc == CN_ENOLEADER ? 503
						  : 500,
			     json_pack("{s:s,s:s}", "error", cn_errname(rc), "message", why));
		return;
	}
	s3_send_json(r, 200, op->doc);
}

static void admin_cluster(struct s3_req *r, int post)
{
	struct cluster_op *op = cn_pool_zalloc(r->pool, sizeof(*op));
	const char *o = s3_route_param(&r->route, "op");
	struct sockaddr_in sa;

	if (!op) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	if (!r->srv->cluster) {
		s3_send_json(r, 400,
			     json_pack("{s:s}", "error", "single node: no cluster (--peers)"));
		return;
	}
	if (post && o && strncmp(o, "rebalance-", 10) == 0) {
		const char *w = o + 10;
		if (strcmp(w, "pause") && strcmp(w, "resume") && strcmp(w, "stop") &&
		    strcmp(w, "start")) {
			s3_send_json(r, 400,
				     json_pack("{s:s}", "error",
					       "expected op=rebalance-pause|resume|stop|start"));
			return;
		}
		op->op = 3;
		op->rb_op = w;
		op->rb_code = strcmp(w, "pause") == 0	 ? REBALANCE_PAUSE
			      : strcmp(w, "resume") == 0 ? REBALANCE_RESUME
			      : strcmp(w, "stop") == 0	 ? REBALANCE_STOP
							 : REBALANCE_START;
		if (!r->srv->rebalance) {
			s3_send_error(r, CN_EINTERNAL);
			return;
		}
	} else if (post) {
		op->op = o && strcmp(o, "add") == 0 ? 1 : o && strcmp(o, "remove") == 0 ? 2 : -1;
		op->address = s3_route_param(&r->route, "address");
		const char *f = s3_route_param(&r->route, "force");
		op->force = f && strcmp(f, "1") == 0;
		if (op->op < 0 || !op->address || strlen(op->address) > CLUSTER_ADDR_MAX ||
		    cluster_addr_parse(op->address, &sa)) {
			s3_send_json(r, 400,
				     json_pack("{s:s}", "error",
					       "expected op=add|remove and address=HOST:PORT"));
			return;
		}
	}
	if (s3_work(r, cluster_work, cluster_after, op))
		s3_send_error(r, CN_ENOMEM);
}

/* ---- /drive: explicit replacement ---- */

struct drive_op {
	int index, force, rc;
	char why[512];
	char path[4096];
};

static void drive_work(struct s3_req *r, void *arg)
{
	struct drive_op *op = arg;
	op->rc = data_store_drive_replace(r->srv->data, op->index, op->force, op->why,
					  sizeof(op->why));
}

static void drive_after(struct s3_req *r, int status, void *arg)
{
	struct drive_op *op = arg;

	if (status || op->rc) {
		int rc = status ? CN_EINTERNAL : op->rc;
		s3_send_json(r, rc == CN_EINTERNAL || rc == CN_ENOMEM ? 500 : 409,
			     json_pack("{s:s,s:s}", "error", cn_errname(rc), "message",
				       op->why[0] ? op->why : cn_strerror(rc)));
		return;
	}
	if (r->srv->scrub)
		scrub_heal_now(r->srv->scrub); /* the rebuild starts now */
	s3_send_json(r, 200,
		     json_pack("{s:s,s:o,s:s}", "replaced", "ok", "drive",
			       jstr(op->path, strlen(op->path)), "rebuild", "started"));
}

static void admin_drive(struct s3_req *r)
{
	struct drive_op *op = cn_pool_zalloc(r->pool, sizeof(*op));
	const char *o = s3_route_param(&r->route, "op");
	const char *path = s3_route_param(&r->route, "path");
	const char *force = s3_route_param(&r->route, "force");
	struct data_drive_stat ds[64];
	int nd;

	if (!op) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	if (!o || strcmp(o, "replace") != 0 || !path) {
		s3_send_json(r, 400,
			     json_pack("{s:s}", "error", "expected op=replace and path=DIR"));
		return;
	}
	nd = data_store_stats(r->srv->data, ds, 64);
	size_t pl = strlen(path);
	while (pl > 1 && path[pl - 1] == '/')
		pl--;
	op->index = -1;
	for (int i = 0; i < nd && i < 64; i++)
		if (strlen(ds[i].path) == pl && memcmp(ds[i].path, path, pl) == 0)
			op->index = i;
	if (op->index < 0) {
		s3_send_json(r, 404,
			     json_pack("{s:s,s:s}", "error", "NoSuchDrive", "message",
				       "no drive of this server has that path (give it exactly as "
				       "on the server's command line)"));
		return;
	}
	snprintf(op->path, sizeof(op->path), "%.*s", (int)pl, path);
	op->force = force && strcmp(force, "0") != 0;
	if (s3_work(r, drive_work, drive_after, op))
		s3_send_error(r, CN_ENOMEM);
}

void s3_admin(struct s3_req *r)
{
	const char *p = r->http->path + strlen("/_cairn/admin/");
	struct s3_route_input in;
	int post = strcmp(r->http->method_str, "POST") == 0;
	int rc;

	memset(&in, 0, sizeof(in));
	in.method = S3_GET;
	in.path = "/";
	in.path_len = 1;
	in.query = r->http->query;
	in.query_len = r->http->query_len;
	rc = s3_route_parse(r->pool, &in, &r->route);
	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	if (strcmp(p, "status") == 0) {
		admin_status(r);
	} else if (strcmp(p, "object") == 0) {
		admin_object(r);
	} else if (strcmp(p, "scrub") == 0) {
		admin_scrub(r);
	} else if (strcmp(p, "heal") == 0 && post) {
		if (r->srv->scrub)
			scrub_heal_now(r->srv->scrub);
		admin_scrub(r);
	} else if (strcmp(p, "gc") == 0 && post) {
		if (r->srv->gc)
			gc_kick(r->srv->gc);
		s3_send_json(r, 200, json_pack("{s:s}", "gc", "started"));
	} else if (strcmp(p, "cluster") == 0) {
		admin_cluster(r, post);
	} else if (strcmp(p, "drive") == 0 && post) {
		admin_drive(r);
	} else if (strcmp(p, "backup") == 0) {
		s3_admin_backup(r);
	} else if (strcmp(p, "user") == 0 || strcmp(p, "group") == 0 || strcmp(p, "policy") == 0) {
		s3_admin_iam(r, p[0], post);
	} else if (strcmp(p, "kms/key") == 0) {
		s3_admin_kms(r, post);
	} else {
		s3_send_error(r, CN_ENOTIMPL);
	}
}
