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
 *
 * Answers are JSON, built with jansson (DESIGN §2). Shard health in /object is computed on the
 * thread pool by reading and verifying every piece of every shard (read-only).
 */
#include "s3/s3_int.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bg/gc.h"
#include "bg/scrub.h"
#include "core/err.h"

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
static void send_json(struct s3_req *r, int status, json_t *doc)
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
	return json_pack("{s:b,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "running", p->running, "passes",
			 jint(p->passes), "blobs_checked", jint(p->blobs_checked), "bytes_checked",
			 jint(p->bytes_checked), "blobs_bad", jint(p->blobs_bad), "shards_rebuilt",
			 jint(p->shards_rebuilt), "unrecoverable", jint(p->unrecoverable),
			 "queue_healed", jint(p->queue_healed), "heal_queue",
			 jint(p->heal_queue_len));
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
		json_array_append_new(drives, json_pack("{s:o,s:s,s:b,s:o,s:o,s:o}", "path",
							jstr(ds[i].path, strlen(ds[i].path)), "id",
							id, "online", ds[i].online, "total",
							jint(ds[i].total), "used", jint(ds[i].used),
							"free", jint(ds[i].free)));
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
	}
	send_json(r, 200, doc);
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
	send_json(r, 200, scrub_json(&p));
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
	send_json(r, 200, o->doc);
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
		send_json(r, 200, json_pack("{s:s}", "gc", "started"));
	} else {
		s3_send_error(r, CN_ENOTIMPL);
	}
}
