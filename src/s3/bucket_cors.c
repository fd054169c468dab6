/*
 * s3/bucket_cors.c — a bucket's CORS configuration through the S3 API
 * (Put/Get/DeleteBucketCors), preflights (OPTIONS) evaluated against it,
 * and the CORS headers of actual cross-origin requests.
 *
 * The configuration is the bucket configuration document "cors"
 * (s3/cors.c's encoding); the first rule that matches wins (s3/cors.c).
 * An actual request carries an Origin: its answer (success or error) gets
 * Access-Control-Allow-Origin and the rest when a rule matches its method.
 *
 * Thread rules: loop thread.
 */
#include "s3/s3_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "s3/cors.h"

#define CORS_BODY_MAX (64 * 1024)

/* The bucket's configuration, or NULL (none, or an error: *rc). */
static struct cors_config *load(struct s3_req *r, const char *bucket, int *rc)
{
	struct cors_config *c = NULL;
	char *v;
	size_t len;

	*rc = meta_bucket_conf_get(r->srv->meta, bucket, "cors", &v, &len);
	if (*rc)
		return NULL;
	*rc = cors_decode(v, len, &c);
	free(v);
	if (*rc)
		*rc = CN_ECORRUPT;
	return c;
}

static void add_result(struct s3_req *r, struct s3_hdrs *h, const struct cors_result *m)
{
	s3_hdr_add(r, h, "Access-Control-Allow-Origin",
		   cn_pool_strndup(r->pool, m->allow_origin, strlen(m->allow_origin)));
	if (m->allow_methods)
		s3_hdr_add(r, h, "Access-Control-Allow-Methods",
			   cn_pool_strndup(r->pool, m->allow_methods, strlen(m->allow_methods)));
	if (m->allow_headers)
		s3_hdr_add(r, h, "Access-Control-Allow-Headers",
			   cn_pool_strndup(r->pool, m->allow_headers, strlen(m->allow_headers)));
	if (m->expose_headers)
		s3_hdr_add(r, h, "Access-Control-Expose-Headers",
			   cn_pool_strndup(r->pool, m->expose_headers, strlen(m->expose_headers)));
	if (m->max_age >= 0)
		s3_hdr_addf(r, h, "Access-Control-Max-Age", "%d", (int)m->max_age);
	if (m->allow_credentials)
		s3_hdr_add(r, h, "Access-Control-Allow-Credentials", "true");
	if (m->vary)
		s3_hdr_add(r, h, "Vary", m->vary);
}

int s3_cors_preflight(struct s3_req *r, const char *origin, const char *method)
{
	struct cors_config *c;
	struct cors_result *m = cn_pool_alloc(r->pool, sizeof(*m));
	struct s3_hdrs h = {0};
	int rc, ok;

	if (!m)
		return CN_ENOMEM;
	c = load(r, r->route.bucket, &rc);
	if (!c)
		return rc == CN_ENOTFOUND ? CN_ECORSOFF : rc;
	ok = cors_match(c, origin, method, s3_header(r, "access-control-request-headers"), 1, m);
	if (ok)
		add_result(r, &h, m);
	cors_config_free(c);
	if (!ok) {
		r->err_msg = "CORSResponse: This CORS request is not allowed. This is usually "
			     "because the evalution of Origin, request method / "
			     "Access-Control-Request-Method or Access-Control-Request-Headers are "
			     "not whitelisted by the resource's CORS spec.";
		return CN_ECORSOFF;
	}
	s3_send(r, 200, &h, NULL, 0);
	return 0;
}

void s3_cors_actual(struct s3_req *r)
{
	const char *origin = s3_header(r, "origin");
	const char *acrm = s3_header(r, "access-control-request-method");
	struct cors_config *c;
	struct cors_result *m;
	int rc;

	if (!origin || !r->route.bucket)
		return;
	c = load(r, r->route.bucket, &rc);
	if (!c)
		return;
	m = cn_pool_alloc(r->pool, sizeof(*m));
	r->cors = cn_pool_zalloc(r->pool, sizeof(*r->cors));
	/* S3 matches by Access-Control-Request-Method when a request has one */
	if (m && r->cors && cors_match(c, origin, acrm ? acrm : r->http->method_str, NULL, 0, m))
		add_result(r, r->cors, m);
	cors_config_free(c);
}

/* ---- the configuration ---- */

void s3_op_get_bucket_cors(struct s3_req *r)
{
	struct cors_config *c;
	struct cn_buf w;
	int rc;

	c = load(r, r->route.bucket, &rc);
	if (!c) {
		s3_send_error(r, rc == CN_ENOTFOUND ? CN_ENOCORS : rc);
		return;
	}
	cn_buf_init(&w);
	cors_to_xml(c, &w);
	cors_config_free(c);
	s3_send_xml(r, 200, NULL, &w);
}

static void cors_body(struct s3_req *r, int err, char *buf, size_t len)
{
	struct cors_config *c = NULL;
	struct meta_bucket b;
	struct cn_buf w;
	char msg[200] = "";
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
	rc = cors_from_xml(buf, len, &c, msg, sizeof(msg));
	if (rc) {
		if (msg[0] && rc == CN_EBADCORS)
			r->err_msg = cn_pool_strndup(r->pool, msg, strlen(msg));
		s3_send_error(r, rc);
		return;
	}
	cn_buf_init(&w);
	rc = cors_encode(c, &w);
	cors_config_free(c);
	if (!rc && !(p = cn_pool_alloc(r->pool, w.len ? w.len : 1)))
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
	s3_bucket_conf_put(r, "cors", p, n, 200);
}

void s3_op_put_bucket_cors(struct s3_req *r)
{
	s3_body_read_small(r, CORS_BODY_MAX, cors_body);
}

void s3_op_delete_bucket_cors(struct s3_req *r)
{
	struct meta_bucket b;
	int rc = meta_bucket_get(r->srv->meta, r->route.bucket, &b);

	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	meta_bucket_release(&b);
	s3_bucket_conf_put(r, "cors", "", 0, 204);
}
