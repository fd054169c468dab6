/*
 * s3/tags.c — object and bucket tags through the S3 API: Put/Get/
 * DeleteObjectTagging (per version), Put/Get/DeleteBucketTagging, and the
 * x-amz-tagging header of PutObject, CopyObject (with
 * x-amz-tagging-directive REPLACE) and CreateMultipartUpload.
 *
 * An object's tag set is a record of its version's attrs (attrs.c),
 * replaced by META_CMD_VERSION_ATTRS like its ACL; a bucket's is the
 * bucket configuration document "tagging". Both use s3/tagging.c's
 * encoding. GET/HEAD answer x-amz-tagging-count (object.c).
 *
 * Thread rules: loop thread.
 */
#include "s3/s3_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "s3/tagging.h"

static int encode_pool(struct s3_req *r, const struct tag_set *t, const uint8_t **out, size_t *len)
{
	struct cn_buf w;
	uint8_t *p = NULL;
	int rc;

	cn_buf_init(&w);
	rc = tagging_encode(t, &w);
	if (!rc && !(p = cn_pool_alloc(r->pool, w.len ? w.len : 1)))
		rc = CN_ENOMEM;
	if (!rc) {
		memcpy(p, w.p, w.len);
		*out = p;
		*len = w.len;
	}
	cn_buf_release(&w);
	return rc;
}

static int tag_error(struct s3_req *r, int rc, const char *err)
{
	if (err[0])
		r->err_msg = cn_pool_strndup(r->pool, err, strlen(err));
	return rc;
}

int s3_tags_for_write(struct s3_req *r, struct s3_attrs *a)
{
	/* a form carries the Tagging XML document in a field, as S3 has it */
	const char *h = r->post_form ? r->form_tagging : s3_header(r, "x-amz-tagging");
	struct tag_set *t;
	char err[200] = "";
	int rc;

	a->tags = NULL;
	a->tags_len = 0;
	if (!h)
		return 0;
	t = cn_pool_alloc(r->pool, sizeof(*t));
	if (!t)
		return CN_ENOMEM;
	rc = r->post_form ? tagging_from_xml(h, strlen(h), 0, t, err, sizeof(err))
			  : tagging_from_header(h, t, err, sizeof(err));
	if (rc)
		return tag_error(r, rc, err);
	/* tagging an object is an action of its own */
	rc = s3_authz_check(r, "s3:PutObjectTagging", r->route.bucket, r->route.key,
			    r->route.key_len, 0);
	if (rc)
		return rc;
	return t->n ? encode_pool(r, t, &a->tags, &a->tags_len) : 0;
}

/* ---- objects ---- */

static void send_tags(struct s3_req *r, const struct tag_set *t, const struct meta_version *v)
{
	struct s3_hdrs h = {0};
	struct cn_buf w;

	s3_version_header(r, &h, v);
	cn_buf_init(&w);
	tagging_to_xml(t, &w);
	s3_send_xml(r, 200, &h, &w);
}

/* The version the request names and its attributes, authorized as the
 * version (object ACL, tag conditions) allows. 0 or an answer sent. */
static int version_of(struct s3_req *r, struct meta_version *v, struct s3_attrs *at)
{
	int rc = s3_version_for_request(r, v);

	if (rc) {
		s3_send_error(r, rc);
		return rc;
	}
	rc = s3_attrs_decode(r, v->attrs, v->attrs_len, at);
	if (!rc)
		rc = s3_authz_version(r, v->attrs, v->attrs_len);
	if (rc) {
		meta_version_release(v);
		s3_send_error(r, rc);
	}
	return rc;
}

void s3_op_get_object_tagging(struct s3_req *r)
{
	struct meta_version v;
	struct s3_attrs at;
	struct tag_set *t = cn_pool_zalloc(r->pool, sizeof(*t));

	if (!t) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	if (version_of(r, &v, &at))
		return;
	if (at.tags_len && tagging_decode(at.tags, at.tags_len, t) != 0) {
		meta_version_release(&v);
		s3_send_error(r, CN_ECORRUPT);
		return;
	}
	send_tags(r, t, &v);
	meta_version_release(&v);
}

static void object_tags_body(struct s3_req *r, int err, char *buf, size_t len)
{
	struct tag_set *t = cn_pool_alloc(r->pool, sizeof(*t));
	struct meta_version v;
	struct s3_attrs at;
	const uint8_t *enc = NULL;
	size_t enc_len = 0;
	char msg[200] = "";
	int rc;

	if (err) {
		s3_send_error(r, err);
		return;
	}
	if (!t) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	rc = tagging_from_xml(buf, len, 0, t, msg, sizeof(msg));
	if (rc == CN_ETOOBIG)
		rc = CN_EBADXML;
	if (!rc && t->n)
		rc = encode_pool(r, t, &enc, &enc_len);
	if (rc) {
		s3_send_error(r, tag_error(r, rc, msg));
		return;
	}
	r->body_tags = t; /* s3:RequestObjectTag/ in the decision version_of makes */
	if (version_of(r, &v, &at))
		return;
	s3_put_version_tags(r, &v, &at, enc, enc_len, 200);
}

void s3_op_put_object_tagging(struct s3_req *r)
{
	s3_body_read_small(r, TAGGING_MAX_XML, object_tags_body);
}

void s3_op_delete_object_tagging(struct s3_req *r)
{
	struct meta_version v;
	struct s3_attrs at;

	if (version_of(r, &v, &at))
		return;
	s3_put_version_tags(r, &v, &at, NULL, 0, 204);
}

/* ---- buckets ---- */

void s3_op_get_bucket_tagging(struct s3_req *r)
{
	struct tag_set *t = cn_pool_zalloc(r->pool, sizeof(*t));
	struct cn_buf w;
	char *v;
	size_t len;
	int rc;

	if (!t) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	rc = meta_bucket_conf_get(r->srv->meta, r->route.bucket, "tagging", &v, &len);
	if (rc) {
		s3_send_error(r, rc == CN_ENOTFOUND ? CN_ENOTAGSET : rc);
		return;
	}
	rc = tagging_decode(v, len, t);
	free(v);
	if (rc) {
		s3_send_error(r, CN_ECORRUPT);
		return;
	}
	cn_buf_init(&w);
	tagging_to_xml(t, &w);
	s3_send_xml(r, 200, NULL, &w);
}

static void bucket_tags_body(struct s3_req *r, int err, char *buf, size_t len)
{
	struct tag_set *t = cn_pool_alloc(r->pool, sizeof(*t));
	const uint8_t *enc;
	size_t enc_len;
	char msg[200] = "";
	int rc;

	if (err) {
		s3_send_error(r, err);
		return;
	}
	if (!t) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	rc = tagging_from_xml(buf, len, 1, t, msg, sizeof(msg));
	if (rc == CN_ETOOBIG)
		rc = CN_EBADXML;
	if (rc == CN_ETAGCOUNT)
		r->err_msg = "Bucket tag count cannot be greater than 50";
	else if (rc)
		tag_error(r, rc, msg);
	if (!rc)
		rc = encode_pool(r, t, &enc, &enc_len);
	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	/* an empty tag set is stored as none, as S3 answers NoSuchTagSet then */
	s3_bucket_conf_put(r, "tagging", enc, t->n ? enc_len : 0, 204);
}

void s3_op_put_bucket_tagging(struct s3_req *r)
{
	struct meta_bucket b;
	int rc = meta_bucket_get(r->srv->meta, r->route.bucket, &b);

	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	meta_bucket_release(&b);
	s3_body_read_small(r, TAGGING_MAX_XML, bucket_tags_body);
}

void s3_op_delete_bucket_tagging(struct s3_req *r)
{
	struct meta_bucket b;
	int rc = meta_bucket_get(r->srv->meta, r->route.bucket, &b);

	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	meta_bucket_release(&b);
	s3_bucket_conf_put(r, "tagging", "", 0, 204);
}
