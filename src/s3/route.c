/*
 * s3/route.c — see route.h. Sub-resources are matched by name the way S3
 * does: a request naming one we do not implement (?acl, ?policy, ?tagging,
 * ...) answers NotImplemented rather than silently acting as a plain GET/PUT.
 */
#include "s3/route.h"

#include <string.h>
#include <strings.h>

#include "core/digest.h"
#include "core/err.h"

static const char *op_names[] = {
#define S3_X(name, str) str,
	S3_OPS(S3_X)
#undef S3_X
};

long s3_percent_decode(const char *src, size_t len, char *dst, int plus_space)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = src[i];
		if (c == '%') {
			int h, l;
			if (i + 2 >= len)
				return -1;
			h = cn_hexval((unsigned char)src[i + 1]);
			l = cn_hexval((unsigned char)src[i + 2]);
			if (h < 0 || l < 0)
				return -1;
			dst[o++] = (char)(h << 4 | l);
			i += 2;
		} else if (c == '+' && plus_space) {
			dst[o++] = ' ';
		} else {
			dst[o++] = c;
		}
	}
	dst[o] = 0;
	return (long)o;
}

int s3_utf8_valid(const char *buf, size_t len)
{
	const unsigned char *s = (const unsigned char *)buf;
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i];
		size_t n;
		unsigned cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (i + n >= len)
			return 0;
		for (size_t j = 1; j <= n; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}

static int parse_query(struct cn_pool *pool, const char *q, size_t len, struct s3_route *out)
{
	int n = 1;
	size_t i, start;

	for (i = 0; i < len; i++)
		if (q[i] == '&')
			n++;
	out->params = cn_pool_zalloc(pool, sizeof(*out->params) * (size_t)n);
	if (!out->params)
		return CN_ENOMEM;
	out->n_params = 0;
	for (start = 0; start <= len; start = i + 1) {
		const char *seg = q + start, *eq;
		size_t sl;
		struct s3_param *p;
		for (i = start; i < len && q[i] != '&'; i++)
			;
		sl = i - start;
		if (sl == 0)
			continue;
		p = &out->params[out->n_params];
		eq = memchr(seg, '=', sl);
		size_t nl = eq ? (size_t)(eq - seg) : sl;
		p->name = cn_pool_alloc(pool, nl + 1);
		if (!p->name || s3_percent_decode(seg, nl, p->name, 1) < 0)
			return p->name ? CN_EBADREQ : CN_ENOMEM;
		if (eq) {
			size_t vl = sl - nl - 1;
			p->value = cn_pool_alloc(pool, vl + 1);
			if (!p->value || s3_percent_decode(eq + 1, vl, p->value, 1) < 0)
				return p->value ? CN_EBADREQ : CN_ENOMEM;
			p->has_value = 1;
		} else {
			p->value = "";
		}
		out->n_params++;
	}
	return 0;
}

const char *s3_route_param(const struct s3_route *r, const char *name)
{
	for (int i = 0; i < r->n_params; i++)
		if (strcmp(r->params[i].name, name) == 0)
			return r->params[i].value;
	return NULL;
}

int s3_route_has(const struct s3_route *r, const char *name)
{
	return s3_route_param(r, name) != NULL;
}

/* Sub-resources S3 defines that cairn does not implement yet. A bucket GET of
 * requestPayment, logging, notification, accelerate, website or replication
 * is answered all the same (bucket_op): none of them is configured, or can
 * be, and tools that read a bucket's whole configuration ask for each. */
static const char *const unimplemented[] = {
	"website",    "logging",	"notification",	       "replication",
	"encryption", "requestPayment", "accelerate",	       "analytics",
	"inventory",  "metrics",	"intelligent-tiering", "restore",
	"select",     "torrent",	"renameObject",	       "session",
};

static int has_unimplemented(const struct s3_route *r)
{
	for (size_t i = 0; i < sizeof(unimplemented) / sizeof(unimplemented[0]); i++)
		if (s3_route_has(r, unimplemented[i]))
			return 1;
	return 0;
}

/* Bucket sub-resources that name no object operation. */
static const char *const bucket_only[] = {
	"policy", "policyStatus", "ownershipControls", "publicAccessBlock",
	"cors",	  "lifecycle",	  "object-lock"};

static enum s3_op bucket_op(const struct s3_route_input *in, const struct s3_route *r)
{
	switch (in->method) {
	case S3_GET:
		if (s3_route_has(r, "policy"))
			return S3_OP_GET_BUCKET_POLICY;
		if (s3_route_has(r, "policyStatus"))
			return S3_OP_GET_BUCKET_POLICY_STATUS;
		if (s3_route_has(r, "publicAccessBlock"))
			return S3_OP_GET_PUBLIC_ACCESS_BLOCK;
		if (s3_route_has(r, "ownershipControls"))
			return S3_OP_GET_OWNERSHIP_CONTROLS;
		if (s3_route_has(r, "acl"))
			return S3_OP_GET_BUCKET_ACL;
		if (s3_route_has(r, "tagging"))
			return S3_OP_GET_BUCKET_TAGGING;
		if (s3_route_has(r, "cors"))
			return S3_OP_GET_BUCKET_CORS;
		if (s3_route_has(r, "encryption"))
			return S3_OP_GET_BUCKET_ENCRYPTION;
		if (s3_route_has(r, "lifecycle"))
			return S3_OP_GET_BUCKET_LIFECYCLE;
		if (s3_route_has(r, "object-lock"))
			return S3_OP_GET_OBJECT_LOCK_CONFIG;
		if (s3_route_has(r, "location"))
			return S3_OP_GET_BUCKET_LOCATION;
		if (s3_route_has(r, "versioning"))
			return S3_OP_GET_BUCKET_VERSIONING;
		if (s3_route_has(r, "versions"))
			return S3_OP_LIST_OBJECT_VERSIONS;
		if (s3_route_has(r, "uploads"))
			return S3_OP_LIST_MULTIPART_UPLOADS;
		if (s3_route_has(r, "requestPayment"))
			return S3_OP_GET_BUCKET_REQUEST_PAYMENT;
		if (s3_route_has(r, "logging"))
			return S3_OP_GET_BUCKET_LOGGING;
		if (s3_route_has(r, "notification"))
			return S3_OP_GET_BUCKET_NOTIFICATION;
		if (s3_route_has(r, "accelerate"))
			return S3_OP_GET_BUCKET_ACCELERATE;
		if (s3_route_has(r, "website"))
			return S3_OP_GET_BUCKET_WEBSITE;
		if (s3_route_has(r, "replication"))
			return S3_OP_GET_BUCKET_REPLICATION;
		if (has_unimplemented(r))
			return S3_OP_NOT_IMPLEMENTED;
		{
			const char *lt = s3_route_param(r, "list-type");
			if (lt && strcmp(lt, "2") == 0)
				return S3_OP_LIST_OBJECTS_V2;
		}
		return S3_OP_LIST_OBJECTS;
	case S3_PUT:
		if (s3_route_has(r, "versioning"))
			return S3_OP_PUT_BUCKET_VERSIONING;
		if (s3_route_has(r, "policy"))
			return S3_OP_PUT_BUCKET_POLICY;
		if (s3_route_has(r, "publicAccessBlock"))
			return S3_OP_PUT_PUBLIC_ACCESS_BLOCK;
		if (s3_route_has(r, "ownershipControls"))
			return S3_OP_PUT_OWNERSHIP_CONTROLS;
		if (s3_route_has(r, "acl"))
			return S3_OP_PUT_BUCKET_ACL;
		if (s3_route_has(r, "tagging"))
			return S3_OP_PUT_BUCKET_TAGGING;
		if (s3_route_has(r, "cors"))
			return S3_OP_PUT_BUCKET_CORS;
		if (s3_route_has(r, "encryption"))
			return S3_OP_PUT_BUCKET_ENCRYPTION;
		if (s3_route_has(r, "lifecycle"))
			return S3_OP_PUT_BUCKET_LIFECYCLE;
		if (s3_route_has(r, "object-lock"))
			return S3_OP_PUT_OBJECT_LOCK_CONFIG;
		if (has_unimplemented(r))
			return S3_OP_NOT_IMPLEMENTED;
		return S3_OP_CREATE_BUCKET;
	case S3_HEAD: return S3_OP_HEAD_BUCKET;
	case S3_DELETE:
		if (s3_route_has(r, "policy"))
			return S3_OP_DELETE_BUCKET_POLICY;
		if (s3_route_has(r, "publicAccessBlock"))
			return S3_OP_DELETE_PUBLIC_ACCESS_BLOCK;
		if (s3_route_has(r, "ownershipControls"))
			return S3_OP_DELETE_OWNERSHIP_CONTROLS;
		if (s3_route_has(r, "tagging"))
			return S3_OP_DELETE_BUCKET_TAGGING;
		if (s3_route_has(r, "cors"))
			return S3_OP_DELETE_BUCKET_CORS;
		if (s3_route_has(r, "encryption"))
			return S3_OP_DELETE_BUCKET_ENCRYPTION;
		if (s3_route_has(r, "lifecycle"))
			return S3_OP_DELETE_BUCKET_LIFECYCLE;
		if (has_unimplemented(r) || s3_route_has(r, "acl") ||
		    s3_route_has(r, "object-lock"))
			return S3_OP_NOT_IMPLEMENTED;
		return S3_OP_DELETE_BUCKET;
	case S3_POST:
		if (s3_route_has(r, "delete"))
			return S3_OP_DELETE_OBJECTS;
		if (has_unimplemented(r) || r->n_params)
			return S3_OP_NOT_IMPLEMENTED;
		return S3_OP_POST_OBJECT; /* a browser form upload */
	default: return S3_OP_UNKNOWN;
	}
}

static enum s3_op object_op(const struct s3_route_input *in, const struct s3_route *r)
{
	int upload = s3_route_has(r, "uploadId");

	if (has_unimplemented(r))
		return S3_OP_NOT_IMPLEMENTED;
	for (size_t i = 0; i < sizeof(bucket_only) / sizeof(bucket_only[0]); i++)
		if (s3_route_has(r, bucket_only[i]))
			return S3_OP_NOT_IMPLEMENTED;
	if (s3_route_has(r, "tagging")) {
		if (in->method == S3_GET)
			return S3_OP_GET_OBJECT_TAGGING;
		if (in->method == S3_PUT)
			return S3_OP_PUT_OBJECT_TAGGING;
		if (in->method == S3_DELETE)
			return S3_OP_DELETE_OBJECT_TAGGING;
		return S3_OP_NOT_IMPLEMENTED;
	}
	if (s3_route_has(r, "attributes"))
		return in->method == S3_GET ? S3_OP_GET_OBJECT_ATTRIBUTES : S3_OP_NOT_IMPLEMENTED;
	if (s3_route_has(r, "retention")) {
		if (in->method == S3_GET)
			return S3_OP_GET_OBJECT_RETENTION;
		if (in->method == S3_PUT)
			return S3_OP_PUT_OBJECT_RETENTION;
		return S3_OP_NOT_IMPLEMENTED;
	}
	if (s3_route_has(r, "legal-hold")) {
		if (in->method == S3_GET)
			return S3_OP_GET_OBJECT_LEGAL_HOLD;
		if (in->method == S3_PUT)
			return S3_OP_PUT_OBJECT_LEGAL_HOLD;
		return S3_OP_NOT_IMPLEMENTED;
	}
	if (s3_route_has(r, "acl")) {
		if (in->method == S3_GET)
			return S3_OP_GET_OBJECT_ACL;
		if (in->method == S3_PUT)
			return S3_OP_PUT_OBJECT_ACL;
		return S3_OP_NOT_IMPLEMENTED;
	}
	switch (in->method) {
	case S3_GET: return upload ? S3_OP_LIST_PARTS : S3_OP_GET_OBJECT;
	case S3_HEAD: return S3_OP_HEAD_OBJECT;
	case S3_PUT:
		if (upload && s3_route_has(r, "partNumber"))
			return in->has_copy_source ? S3_OP_UPLOAD_PART_COPY : S3_OP_UPLOAD_PART;
		if (upload)
			return S3_OP_NOT_IMPLEMENTED;
		return in->has_copy_source ? S3_OP_COPY_OBJECT : S3_OP_PUT_OBJECT;
	case S3_DELETE: return upload ? S3_OP_ABORT_MULTIPART : S3_OP_DELETE_OBJECT;
	case S3_POST:
		if (s3_route_has(r, "uploads"))
			return S3_OP_CREATE_MULTIPART;
		if (upload)
			return S3_OP_COMPLETE_MULTIPART;
		return S3_OP_NOT_IMPLEMENTED;
	default: return S3_OP_UNKNOWN;
	}
}

/* Bucket from "bucket.domain[:port]" when the host ends in a known domain. */
static int vhost_bucket(struct cn_pool *pool, const struct s3_route_input *in, char **bucket)
{
	const char *h = in->host;
	size_t hl;

	*bucket = NULL;
	if (!h)
		return 0;
	hl = strlen(h);
	{
		const char *colon = memchr(h, ':', hl);
		if (colon && h[0] != '[')
			hl = (size_t)(colon - h);
	}
	for (int i = 0; i < in->n_domains; i++) {
		size_t dl = strlen(in->domains[i]);
		if (hl > dl + 1 && h[hl - dl - 1] == '.' &&
		    strncasecmp(h + hl - dl, in->domains[i], dl) == 0) {
			*bucket = cn_pool_strndup(pool, h, hl - dl - 1);
			return *bucket ? 0 : CN_ENOMEM;
		}
	}
	return 0;
}

int s3_route_parse(struct cn_pool *pool, const struct s3_route_input *in, struct s3_route *out)
{
	char *path, *vb;
	long plen;
	size_t blen = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	out->op = S3_OP_UNKNOWN;
	out->op_name = op_names[S3_OP_UNKNOWN];
	if (in->path_len == 0 || in->path[0] != '/')
		return CN_EBADREQ;
	rc = parse_query(pool, in->query, in->query_len, out);
	if (rc)
		return rc;
	path = cn_pool_alloc(pool, in->path_len + 1);
	if (!path)
		return CN_ENOMEM;
	plen = s3_percent_decode(in->path, in->path_len, path, 0);
	if (plen < 0)
		return CN_EBADREQ;
	rc = vhost_bucket(pool, in, &vb);
	if (rc)
		return rc;
	if (vb) {
		out->virtual_host = 1;
		out->bucket = vb;
		blen = strlen(vb);
		if (plen > 1) {
			out->key = path + 1;
			out->key_len = (size_t)plen - 1;
		}
	} else if (plen > 1) {
		char *slash = memchr(path + 1, '/', (size_t)plen - 1);
		if (slash) {
			blen = (size_t)(slash - path - 1);
			out->bucket = cn_pool_strndup(pool, path + 1, blen);
			if (!out->bucket)
				return CN_ENOMEM;
			if (slash + 1 < path + plen) {
				out->key = slash + 1;
				out->key_len = (size_t)(path + plen - slash - 1);
			}
		} else {
			out->bucket = path + 1;
			blen = (size_t)plen - 1;
		}
	}
	/* No bucket name is longer than 63 bytes or holds a NUL; refusing
	 * here keeps every later buffer sized on that bound. */
	if (out->bucket && (strlen(out->bucket) > S3_MAX_BUCKET || blen != strlen(out->bucket)))
		return CN_EBADBUCKETNAME; /* too long, or a NUL inside */
	if (out->key) {
		if (out->key_len > S3_MAX_KEY)
			return CN_EKEYTOOLONG;
		if (!s3_utf8_valid(out->key, out->key_len))
			return CN_EBADREQ;
	}
	if (!out->bucket) {
		out->op = in->method == S3_GET ? S3_OP_LIST_BUCKETS : S3_OP_UNKNOWN;
	} else if (!out->key) {
		out->op = bucket_op(in, out);
	} else {
		out->op = object_op(in, out);
	}
	out->op_name = op_names[out->op];
	if (out->op == S3_OP_UNKNOWN)
		return CN_EBADMETHOD;
	return 0;
}
