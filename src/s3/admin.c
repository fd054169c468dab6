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
 * Answers are JSON. Shard health in /object is computed on the thread pool
 * by reading and verifying every piece of every shard (read-only).
 */
#include "s3/s3_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bg/gc.h"
#include "bg/scrub.h"
#include "core/err.h"

/* A tiny JSON writer over the XML writer's growable buffer. */
static void js_str(struct xmlw *w, const char *s, size_t len)
{
	xmlw_raw(w, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			xmlw_raw(w, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			xmlw_raw(w, esc, 6);
		} else {
			xmlw_raw(w, (const char *)&c, 1);
		}
	}
	xmlw_raw(w, "\"", 1);
}

__attribute__((format(printf, 2, 3))) static void js(struct xmlw *w, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		xmlw_raw(w, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static void send_json(struct s3_req *r, int status, struct xmlw *w)
{
	struct s3_hdrs h = {.n = 0};

	if (w->err) {
		xmlw_release(w);
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	s3_hdr_add(r, &h, "Content-Type", "application/json");
	s3_send(r, status, &h, w->buf, w->len);
	xmlw_release(w);
}

static void hex_id(const uint8_t *id, char out[33])
{
	cn_hex(id, 16, out);
}

static void admin_status(struct s3_req *r)
{
	struct data_drive_stat ds[64];
	struct meta_bucket *bk;
	size_t nb;
	struct xmlw w;
	int nd, rc;
	char id[33];

	rc = meta_bucket_list(r->srv->meta, &bk, &nb);
	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	nd = data_store_stats(r->srv->data, ds, 64);
	xmlw_init(&w);
	js(&w, "{\"drives\":[");
	for (int i = 0; i < nd && i < 64; i++) {
		hex_id(ds[i].id, id);
		js(&w, "%s{\"path\":", i ? "," : "");
		js_str(&w, ds[i].path, strlen(ds[i].path));
		js(&w, ",\"id\":\"%s\",\"online\":%s,\"total\":%" PRIu64 ",\"used\":%" PRIu64
		       ",\"free\":%" PRIu64 "}",
		   id, ds[i].online ? "true" : "false", ds[i].total, ds[i].used, ds[i].free);
	}
	js(&w, "],\"buckets\":[");
	for (size_t i = 0; i < nb; i++) {
		struct meta_stats st;
		memset(&st, 0, sizeof(st));
		meta_stats_get(r->srv->meta, bk[i].name, &st);
		js(&w, "%s{\"name\":", i ? "," : "");
		js_str(&w, bk[i].name, strlen(bk[i].name));
		js(&w, ",\"versioning\":\"%s\",\"objects\":%" PRIu64 ",\"bytes\":%" PRIu64
		       ",\"versions\":%" PRIu64 ",\"version_bytes\":%" PRIu64 "}",
		   bk[i].versioning == META_VERSIONING_ENABLED     ? "Enabled"
		   : bk[i].versioning == META_VERSIONING_SUSPENDED ? "Suspended"
								   : "Off",
		   st.objects, st.bytes, st.versions, st.version_bytes);
	}
	meta_bucket_list_release(bk, nb);
	js(&w, "],\"heal_queue\":%zu", data_heal_queue_len(r->srv->data));
	if (r->srv->gc) {
		uint64_t del, fail, deferred;
		gc_stats(r->srv->gc, &del, &fail, &deferred);
		js(&w, ",\"gc\":{\"deleted\":%" PRIu64 ",\"failed\":%" PRIu64
		       ",\"deferred\":%" PRIu64 "}",
		   del, fail, deferred);
	}
	if (r->srv->scrub) {
		struct scrub_progress p;
		scrub_progress(r->srv->scrub, &p);
		js(&w,
		   ",\"scrub\":{\"running\":%s,\"passes\":%" PRIu64 ",\"blobs_checked\":%" PRIu64
		   ",\"bytes_checked\":%" PRIu64 ",\"blobs_bad\":%" PRIu64
		   ",\"shards_rebuilt\":%" PRIu64 ",\"unrecoverable\":%" PRIu64
		   ",\"queue_healed\":%" PRIu64 "}",
		   p.running ? "true" : "false", p.passes, p.blobs_checked, p.bytes_checked,
		   p.blobs_bad, p.shards_rebuilt, p.unrecoverable, p.queue_healed);
	}
	js(&w, "}\n");
	send_json(r, 200, &w);
}

static void admin_scrub(struct s3_req *r)
{
	struct scrub_progress p;
	struct xmlw w;

	if (!r->srv->scrub) {
		s3_send_error(r, CN_ENOTIMPL);
		return;
	}
	if (strcmp(r->http->method_str, "POST") == 0)
		scrub_trigger(r->srv->scrub);
	scrub_progress(r->srv->scrub, &p);
	xmlw_init(&w);
	js(&w,
	   "{\"running\":%s,\"passes\":%" PRIu64 ",\"blobs_checked\":%" PRIu64
	   ",\"bytes_checked\":%" PRIu64 ",\"blobs_bad\":%" PRIu64 ",\"shards_rebuilt\":%" PRIu64
	   ",\"unrecoverable\":%" PRIu64 ",\"queue_healed\":%" PRIu64 ",\"heal_queue\":%" PRIu64
	   "}\n",
	   p.running ? "true" : "false", p.passes, p.blobs_checked, p.bytes_checked, p.blobs_bad,
	   p.shards_rebuilt, p.unrecoverable, p.queue_healed, p.heal_queue_len);
	send_json(r, 200, &w);
}

/* ---- /object: versions, layouts and shard health ---- */

struct obj_op {
	struct meta_version *v;
	size_t n, cap;
	struct xmlw w;
	int rc;
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

static void blob_json(struct s3_req *r, struct xmlw *w, const uint8_t *lay, size_t lay_len)
{
	struct blob_layout l;
	struct data_drive_stat ds[64];
	int nd = data_store_stats(r->srv->data, ds, 64);
	unsigned bad = 0, missing = 0;
	char id[33];

	if (blob_layout_decode(lay, lay_len, &l) != 0) {
		js(w, "{\"error\":\"undecodable layout\"}");
		return;
	}
	(void)blob_verify(r->srv->data, &l, &bad, &missing);
	hex_id(l.id, id);
	js(w, "{\"blob\":\"%s\",\"k\":%u,\"m\":%u,\"block_size\":%u,\"size\":%" PRIu64
	      ",\"shards\":[",
	   id, l.k, l.m, l.block_size, l.size);
	for (int i = 0; i < l.k + l.m; i++) {
		const char *path = "?";
		for (int d = 0; d < nd && d < 64; d++)
			if (memcmp(ds[d].id, l.drive[i], 16) == 0)
				path = ds[d].path;
		js(w, "%s{\"index\":%d,\"drive\":", i ? "," : "", i);
		js_str(w, path, strlen(path));
		js(w, ",\"health\":\"%s\"}",
		   missing & (1u << i) ? "missing" : bad & (1u << i) ? "corrupt" : "ok");
	}
	js(w, "]}");
}

static void obj_work(struct s3_req *r, void *arg)
{
	struct obj_op *o = arg;
	struct xmlw *w = &o->w;

	js(w, "\"versions\":[");
	for (size_t i = 0; i < o->n; i++) {
		struct meta_version *v = &o->v[i];
		char t[32];
		xml_time_iso((uint64_t)v->mtime, t);
		js(w, "%s{\"version_id\":\"%s\",\"latest\":%s,\"delete_marker\":%s,\"size\":%" PRIu64
		      ",\"created\":\"%s\",\"etag\":",
		   i ? "," : "", v->vid_text, v->flags & META_VF_LATEST ? "true" : "false",
		   v->flags & META_VF_DELETE_MARKER ? "true" : "false", v->size, t);
		js_str(w, v->etag, strlen(v->etag));
		{
			struct s3_attrs a;
			if (s3_attrs_decode(r, v->attrs, v->attrs_len, &a) == 0 && a.ck_alg) {
				char b64[64];
				cn_b64_encode(a.ck_raw, a.ck_len, b64, sizeof(b64));
				js(w, ",\"checksum\":{\"algorithm\":\"%s\",\"value\":\"%s\"}",
				   cn_checksum_alg_name(a.ck_alg), b64);
			}
		}
		js(w, ",\"storage\":\"%s\"", loc_name(v->loc));
		if (v->loc == META_LOC_BLOB) {
			js(w, ",\"layout\":");
			blob_json(r, w, v->layout, v->layout_len);
		} else if (v->loc == META_LOC_PARTS) {
			js(w, ",\"parts\":[");
			for (uint32_t p = 0; p < v->n_parts; p++) {
				js(w, "%s{\"part\":%u,\"size\":%" PRIu64 ",\"etag\":", p ? "," : "",
				   v->parts[p].part_no, v->parts[p].size);
				js_str(w, v->parts[p].etag, strlen(v->parts[p].etag));
				js(w, ",\"layout\":");
				blob_json(r, w, v->parts[p].layout, v->parts[p].layout_len);
				js(w, "}");
			}
			js(w, "]");
		}
		js(w, "}");
	}
	js(w, "]}\n");
}

static void obj_after(struct s3_req *r, int status, void *arg)
{
	struct obj_op *o = arg;

	for (size_t i = 0; i < o->n; i++)
		meta_version_release(&o->v[i]);
	free(o->v);
	if (status) {
		xmlw_release(&o->w);
		s3_send_error(r, CN_EINTERNAL);
		return;
	}
	send_json(r, 200, &o->w);
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
			int grc = meta_object_get(r->srv->meta, bucket, key, strlen(key), e->vid_text,
						  0, &o->v[o->n]);
			if (grc == 0) {
				if (e->flags & META_VF_LATEST)
					o->v[o->n].flags |= META_VF_LATEST;
				o->n++;
			} else if (grc == CN_EDELMARKER || grc == CN_ENOKEY) {
				/* A delete marker: record it without data. */
				o->v[o->n].flags = META_VF_DELETE_MARKER | (e->flags & META_VF_LATEST);
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
	xmlw_init(&o->w);
	/* Names go first, written here where the strings are at hand. */
	js(&o->w, "{\"bucket\":");
	js_str(&o->w, bucket, strlen(bucket));
	js(&o->w, ",\"key\":");
	js_str(&o->w, key, strlen(key));
	js(&o->w, ",");
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
		struct xmlw w;
		if (r->srv->gc)
			gc_kick(r->srv->gc);
		xmlw_init(&w);
		js(&w, "{\"gc\":\"started\"}\n");
		send_json(r, 200, &w);
	} else {
		s3_send_error(r, CN_ENOTIMPL);
	}
}
