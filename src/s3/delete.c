/*
 * s3/delete.c — DeleteObjects (POST /bucket?delete): up to 1000 keys in one
 * XML request, each deleted by its own META_CMD_DELETE_OBJECT (with an
 * <ETag>, conditional on the current version having it, as If-Match).
 *
 * Layer: s3 handler. Flow (loop thread):
 *   s3_op_delete_objects -> body read (Content-MD5 / x-amz-checksum-*
 *   required, verified by body.c) -> parse (s3_delete_from_xml, pure) ->
 *   submit every command -> one_done per command -> respond when the last
 *   one is back.
 * The commands travel together through group commit, so a request of 1000
 * keys costs about one metadata fsync. The request is ended only after every
 * submitted command's callback has run: the commands live in r->pool.
 */
#include "s3/s3_int.h"

#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/err.h"
#include "s3/s3err.h"

#define DEL_MAX_BODY (2u << 20)

struct del_multi;

/* One <Object> of the request. */
struct del_obj {
	struct del_multi *m;
	const char *key;
	size_t key_len;
	const char *vid; /* as given, or NULL */
	char *etag;	 /* <ETag> unquoted (the current version must have it), or NULL */
	int rc;		 /* outcome: 0 or an error code */
	struct meta_cmd cmd;
};

struct del_multi {
	struct s3_req *r;
	struct del_obj *o;
	size_t n;
	size_t pending; /* commands submitted, callback not yet run */
	int submitting; /* still in the submit loop: do not respond yet */
	int quiet;
};

static void deleted_out(struct cn_buf *w, const struct del_obj *o)
{
	const struct meta_cmd_result *res = &o->cmd.res;

	xmlw_open(w, "Deleted", NULL);
	xmlw_elem_n(w, "Key", o->key, o->key_len);
	if (o->vid) {
		xmlw_elem(w, "VersionId", o->vid);
		/* Deleting a delete marker by id names it again. */
		if (res->delete_marker) {
			xmlw_elem(w, "DeleteMarker", "true");
			xmlw_elem(w, "DeleteMarkerVersionId", o->vid);
		}
	} else if (res->delete_marker) {
		/* A versioned bucket: the delete wrote a marker. */
		xmlw_elem(w, "DeleteMarker", "true");
		xmlw_elem(w, "DeleteMarkerVersionId", res->vid_text);
	}
	xmlw_close(w, "Deleted");
}

static void error_out(struct cn_buf *w, const struct del_obj *o)
{
	const struct s3_error *e = s3_error_lookup(o->rc);

	xmlw_open(w, "Error", NULL);
	xmlw_elem_n(w, "Key", o->key, o->key_len);
	if (o->vid)
		xmlw_elem(w, "VersionId", o->vid);
	xmlw_elem(w, "Code", e->code);
	xmlw_elem(w, "Message", e->message);
	xmlw_close(w, "Error");
}

static void respond(struct del_multi *m)
{
	struct cn_buf w;

	cn_buf_init(&w);
	xmlw_decl(&w);
	xmlw_open(&w, "DeleteResult", S3_NS);
	for (size_t i = 0; i < m->n; i++) {
		const struct del_obj *o = &m->o[i];
		if (o->rc)
			error_out(&w, o);
		else if (!m->quiet)
			deleted_out(&w, o);
	}
	xmlw_close(&w, "DeleteResult");
	s3_send_xml(m->r, 200, NULL, &w);
}

static void one_done(struct meta_cmd *cmd, int rc, void *arg)
{
	struct del_obj *o = arg;
	struct del_multi *m = o->m;

	/* Deleting what is not there succeeds, as in S3, unless an <ETag>
	 * asked for a current version. */
	if ((rc == CN_ENOKEY && !cmd->if_match) || rc == CN_ENOVERSION)
		rc = 0;
	o->rc = rc;
	m->pending--;
	if (m->pending == 0 && !m->submitting)
		respond(m);
}

/* Fills o's command; a bad version id or key is that object's error. */
static int prepare(struct s3_req *r, struct del_obj *o, int64_t now)
{
	struct meta_cmd *c = &o->cmd;

	if (o->key_len > S3_MAX_KEY)
		return CN_EKEYTOOLONG;
	/* each key is its own decision, as S3 makes it */
	int rc = s3_authz_check(r, o->vid ? "s3:DeleteObjectVersion" : "s3:DeleteObject",
				r->route.bucket, o->key, o->key_len, ACL_WRITE);
	if (rc)
		return rc;
	c->type = META_CMD_DELETE_OBJECT;
	c->now = now;
	c->bucket = r->route.bucket;
	c->bucket_len = strlen(r->route.bucket);
	c->key = o->key;
	c->key_len = o->key_len;
	meta_version_id_new(r->srv->meta, c->vid);
	if (o->vid) {
		if (strcmp(o->vid, "null") == 0)
			c->target_null = 1;
		else if (meta_id_from_text(o->vid, strlen(o->vid), c->target_vid) == 0)
			c->has_target = 1;
		else
			return CN_EBADVERSIONID;
	}
	if (o->etag) {
		c->if_match = o->etag;
		c->if_match_len = strlen(o->etag);
		rc = s3_authz_delete_etag(r, o->key, o->key_len, o->etag);
		if (rc)
			return rc;
	}
	c->lock.bypass = (uint8_t)s3_lock_bypass(r, o->key, o->key_len);
	return 0;
}

int s3_delete_from_xml(struct cn_pool *pool, const char *body, size_t len,
		       struct s3_delete_body *out)
{
	struct xml_node *root, *n;
	const char *quiet;
	size_t count = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = xml_parse(pool, body, len, &root);
	if (rc)
		return rc == CN_ENOMEM ? rc : CN_EBADXML;
	if (strcmp(root->name, "Delete") != 0)
		return CN_EBADXML;
	quiet = xml_child_text(root, "Quiet");
	out->quiet = quiet && strcasecmp(quiet, "true") == 0;
	for (n = root->child; n; n = n->next)
		if (strcmp(n->name, "Object") == 0)
			count++;
	if (count == 0 || count > S3_DELETE_MAX_OBJECTS)
		return CN_EBADXML;
	out->keys = cn_pool_zalloc(pool, count * sizeof(*out->keys));
	if (!out->keys)
		return CN_ENOMEM;
	for (n = root->child; n; n = n->next) {
		struct xml_node *k;
		struct s3_delete_key *o;
		if (strcmp(n->name, "Object") != 0)
			continue;
		k = xml_child(n, "Key");
		if (!k || k->text_len == 0)
			return CN_EBADXML;
		o = &out->keys[out->n++];
		o->key = k->text;
		o->key_len = k->text_len;
		o->vid = xml_child_text(n, "VersionId");
		if (o->vid && !*o->vid)
			o->vid = NULL;
		/* a conditional delete: as If-Match of DeleteObject */
		const char *etag = xml_child_text(n, "ETag");
		if (etag && *etag) {
			o->etag = cn_pool_alloc(pool, META_ETAG_MAX + 1);
			if (!o->etag)
				return CN_ENOMEM;
			s3_unquote_etag(etag, o->etag, META_ETAG_MAX + 1);
		}
	}
	return 0;
}

static void got_body(struct s3_req *r, int err, char *buf, size_t len)
{
	struct s3_delete_body body;
	struct del_multi *m;
	int64_t now = cn_now_ns();
	int rc = err;

	if (rc)
		goto fail;
	m = cn_pool_zalloc(r->pool, sizeof(*m));
	if (!m) {
		rc = CN_ENOMEM;
		goto fail;
	}
	m->r = r;
	rc = s3_delete_from_xml(r->pool, buf, len, &body);
	if (rc)
		goto fail;
	m->quiet = body.quiet;
	m->o = cn_pool_zalloc(r->pool, body.n * sizeof(*m->o));
	if (!m->o) {
		rc = CN_ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < body.n; i++) {
		struct del_obj *o = &m->o[m->n++];
		o->m = m;
		o->key = body.keys[i].key;
		o->key_len = body.keys[i].key_len;
		o->vid = body.keys[i].vid;
		o->etag = body.keys[i].etag;
	}
	m->submitting = 1;
	for (size_t i = 0; i < m->n; i++) {
		struct del_obj *o = &m->o[i];
		o->rc = prepare(r, o, now);
		if (o->rc)
			continue;
		o->rc = s3_meta_submit(r, &o->cmd, one_done, o);
		if (o->rc == 0)
			m->pending++;
	}
	m->submitting = 0;
	if (m->pending == 0)
		respond(m);
	return;
fail:
	s3_send_error(r, rc);
}

/* DeleteObjects. Loop thread; borrows r and ends it exactly once, after the
 * last submitted command's callback (all state lives in r->pool). */
void s3_op_delete_objects(struct s3_req *r)
{
	struct meta_bucket b;
	int rc;

	/* Fail fast, before the body is read. */
	rc = meta_bucket_get(r->srv->meta, r->route.bucket, &b);
	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	meta_bucket_release(&b);
	/* S3 insists on an integrity check for a request that deletes up to
	 * 1000 keys: a corrupted key list must not delete the wrong ones. */
	if (!s3_body_declares_digest(r)) {
		s3_send_error(r, CN_EMISSINGMD5);
		return;
	}
	s3_body_read_small(r, DEL_MAX_BODY, got_body);
}
