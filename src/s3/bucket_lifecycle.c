/*
 * s3/bucket_lifecycle.c — a bucket's lifecycle configuration through the S3
 * API (Put/Get/DeleteBucketLifecycleConfiguration) and the x-amz-expiration
 * header of PUT/GET/HEAD. The configuration is the bucket document
 * "lifecycle" (s3/lifecycle.c's encoding); the worker that applies it is
 * s3/lifecycle_worker.c.
 *
 * Thread rules: loop thread.
 */
#include "s3/s3_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "s3/lifecycle.h"
#include "s3/tagging.h"

struct lifecycle_config *s3_lifecycle_load(struct meta_store *m, const char *bucket, int found,
					   int *rc)
{
	struct lifecycle_config *c = NULL;
	char *v;
	size_t len;

	*rc = meta_bucket_conf_read(m, bucket, "lifecycle", found, &v, &len);
	if (*rc)
		return NULL;
	*rc = lifecycle_decode(v, len, &c);
	free(v);
	if (*rc)
		*rc = CN_ECORRUPT;
	return c;
}

void s3_op_get_bucket_lifecycle(struct s3_req *r)
{
	struct lifecycle_config *c;
	struct cn_buf w;
	int rc;

	c = s3_lifecycle_load(r->srv->meta, r->route.bucket, 0, &rc);
	if (!c) {
		s3_send_error(r, rc == CN_ENOTFOUND ? CN_ENOLIFECYCLE : rc);
		return;
	}
	cn_buf_init(&w);
	lifecycle_to_xml(c, &w);
	lifecycle_config_free(c);
	s3_send_xml(r, 200, NULL, &w);
}

static void lc_body(struct s3_req *r, int err, char *buf, size_t len)
{
	struct lifecycle_config *c = NULL;
	struct meta_bucket b;
	struct cn_buf w;
	char msg[256] = "";
	void *p = NULL;
	size_t n = 0;
	int rc;

	if (err) {
		s3_send_error(r, err);
		return;
	}
	rc = meta_bucket_get(r->srv->meta, r->route.bucket, &b);
	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	meta_bucket_release(&b);
	rc = lifecycle_from_xml(buf, len, &c, msg, sizeof(msg));
	if (rc) {
		if (msg[0] && rc != CN_ENOMEM)
			r->err_msg = cn_pool_strndup(r->pool, msg, strlen(msg));
		s3_send_error(r, rc == CN_ETOOBIG ? CN_EBADXML : rc);
		return;
	}
	cn_buf_init(&w);
	rc = lifecycle_encode(c, &w);
	lifecycle_config_free(c);
	if (!rc && w.len > META_BCONF_MAX) {
		r->err_msg = "The lifecycle configuration is too large.";
		rc = CN_EBADARG;
	}
	if (!rc && !(p = cn_pool_alloc(r->pool, w.len)))
		rc = CN_ENOMEM;
	if (!rc) {
		memcpy(p, w.p, w.len);
		n = w.len;
	}
	cn_buf_release(&w);
	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	s3_bucket_conf_put(r, "lifecycle", p, n, 200);
}

void s3_op_put_bucket_lifecycle(struct s3_req *r)
{
	s3_body_read_small(r, LIFECYCLE_MAX_XML, lc_body);
}

void s3_op_delete_bucket_lifecycle(struct s3_req *r)
{
	struct meta_bucket b;
	int rc = meta_bucket_get(r->srv->meta, r->route.bucket, &b);

	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	meta_bucket_release(&b);
	s3_bucket_conf_put(r, "lifecycle", "", 0, 204);
}

/* ---- x-amz-expiration ---- */

struct tagsrc {
	const uint8_t *enc;
	size_t len;
	struct tag_set *set; /* decoded on first use */
	struct s3_req *r;
};

static int tag_get(void *arg, const char *key, size_t key_len, const char **value,
		   size_t *value_len)
{
	struct tagsrc *t = arg;
	char k[TAGGING_KEY_MAX_BYTES + 1];

	if (!t->len || key_len > TAGGING_KEY_MAX_BYTES)
		return 0;
	if (!t->set) {
		t->set = cn_pool_alloc(t->r->pool, sizeof(*t->set));
		if (!t->set)
			return CN_ENOMEM;
		if (tagging_decode(t->enc, t->len, t->set) != 0) {
			t->len = 0;
			return 0;
		}
	}
	memcpy(k, key, key_len);
	k[key_len] = 0;
	return tagging_get(t->set, k, value, value_len) == 0;
}

/* The lifecycle configuration of the request's bucket (owned), or NULL:
 * no bucket, none configured, or unreadable (a header is then left out). */
static struct lifecycle_config *route_lifecycle(struct s3_req *r)
{
	int rc;

	/* its callers' requests found their bucket (an object, an upload) */
	return r->route.bucket ? s3_lifecycle_load(r->srv->meta, r->route.bucket, 1, &rc) : NULL;
}

void s3_expiration_header(struct s3_req *r, struct s3_hdrs *h, const char *key, size_t klen,
			  uint64_t size, int64_t mtime_ns, const uint8_t *tags, size_t tags_len)
{
	struct lifecycle_config *c = route_lifecycle(r);
	struct tagsrc ts = {.enc = tags, .len = tags_len, .r = r};
	struct lifecycle_tags lt = {.get = tag_get, .arg = &ts};
	char *out;
	int64_t at;
	const char *rule;

	if (!c)
		return;
	out = cn_pool_alloc(r->pool, LIFECYCLE_HEADER_CAP);
	if (out &&
	    lifecycle_current_expiry(c, key, klen, size, &lt, mtime_ns, r->srv->lifecycle_day_ns,
				     &at, &rule) == 1 &&
	    lifecycle_expiration_header(at, rule, out) > 0 && s3_hdr_value_ok(out, strlen(out)))
		s3_hdr_add(r, h, "x-amz-expiration", out);
	lifecycle_config_free(c);
}

void s3_abort_date_headers(struct s3_req *r, struct s3_hdrs *h, const char *key, size_t klen,
			   int64_t initiated_ns)
{
	struct lifecycle_config *c = route_lifecycle(r);
	char date[40];
	int64_t at;
	const char *rule;

	if (!c)
		return;
	if (lifecycle_upload_abort_at(c, key, klen, initiated_ns, r->srv->lifecycle_day_ns, &at,
				      &rule) == 1) {
		s3_http_date(at, date);
		s3_hdr_add(r, h, "x-amz-abort-date", cn_pool_strndup(r->pool, date, strlen(date)));
		/* a rule id is any text: sent when it is printable ASCII */
		int ok = rule && *rule;
		for (const char *p = rule; ok && *p; p++)
			ok = *p >= 0x20 && *p < 0x7f;
		if (ok)
			s3_hdr_add(r, h, "x-amz-abort-rule-id",
				   cn_pool_strndup(r->pool, rule, strlen(rule)));
	}
	lifecycle_config_free(c);
}
