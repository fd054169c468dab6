/*
 * fuzz_http.c — libFuzzer target for the HTTP front door: raw bytes through
 * http-parser with the callbacks and limits http/server.c uses (URL and
 * headers gathered into one bounded buffer, at most 128 headers, pipelined
 * messages), then every parsed request through s3_route_parse() exactly as
 * s3/frontend.c feeds it (path/query split at the first '?', Host header,
 * x-amz-copy-source).
 *
 * Input: byte 0 selects the mode and a split point.
 *   mode even: the rest is a byte stream of HTTP requests, fed in two
 *              pieces split at a fuzzer-chosen offset (as TCP may split it);
 *   mode odd:  the rest is "path\nquery\nhost" handed to s3_route_parse()
 *              directly, reaching bytes http-parser would reject.
 * Invariants checked (abort on violation): a successful route has a known
 * op and name, a key only with a bucket, a bucket of at most 63 bytes,
 * key_len <= S3_MAX_KEY, a key that
 * is valid UTF-8, and every parsed parameter is found by s3_route_param().
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>

#include "core/err.h"
#include "core/pool.h"
#include "s3/route.h"

#define MAX_HEADER_BYTES (16 * 1024)
#define MAX_HEADERS 128

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const domains[] = {"localhost", "s3.example.com"};

struct hdr {
	size_t name_off, name_len, value_off, value_len;
};

struct conn {
	char buf[MAX_HEADER_BYTES];
	size_t len;
	size_t url_off, url_len;
	struct hdr hdr[MAX_HEADERS];
	int n_hdr, last_was_value;
	int n_messages;
};

static void check(int cond)
{
	if (!cond)
		abort();
}

static int append(struct conn *c, const char *at, size_t len)
{
	if (len > sizeof(c->buf) - c->len)
		return -1; /* the server answers 431 here */
	memcpy(c->buf + c->len, at, len);
	c->len += len;
	return 0;
}

static void route_one(enum s3_method m, const char *path, size_t path_len, const char *query,
		      size_t query_len, const char *host, int copy_source)
{
	struct cn_pool pool;
	struct s3_route_input in;
	struct s3_route out;
	int rc;

	cn_pool_init(&pool);
	memset(&in, 0, sizeof(in));
	in.method = m;
	in.path = path;
	in.path_len = path_len;
	in.query = query;
	in.query_len = query_len;
	in.host = host;
	in.domains = domains;
	in.n_domains = 2;
	in.has_copy_source = copy_source;
	rc = s3_route_parse(&pool, &in, &out);
	check(out.op_name != NULL);
	if (rc == 0) {
		check(out.op != S3_OP_UNKNOWN);
		check(!out.key || out.bucket);
		/* every later buffer is sized on the bucket bound */
		check(!out.bucket || strlen(out.bucket) <= S3_MAX_BUCKET);
		if (out.key) {
			check(out.key_len <= S3_MAX_KEY);
			check(s3_utf8_valid(out.key, out.key_len));
		}
		for (int i = 0; i < out.n_params; i++)
			check(s3_route_param(&out, out.params[i].name) != NULL);
	} else {
		check(rc == CN_EKEYTOOLONG || rc == CN_EBADREQ || rc == CN_EBADMETHOD ||
		      rc == CN_EBADBUCKETNAME || rc == CN_ENOMEM);
	}
	cn_pool_release(&pool);
}

static enum s3_method map_method(const char *m)
{
	static const struct {
		const char *name;
		enum s3_method m;
	} tab[] = {{"GET", S3_GET},
		   {"PUT", S3_PUT},
		   {"POST", S3_POST},
		   {"DELETE", S3_DELETE},
		   {"HEAD", S3_HEAD}};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (strcmp(m, tab[i].name) == 0)
			return tab[i].m;
	return S3_OTHER;
}

static int on_message_begin(http_parser *p)
{
	struct conn *c = p->data;

	c->len = 0;
	c->url_len = 0;
	c->n_hdr = 0;
	c->last_was_value = 0;
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;

	if (c->url_len == 0)
		c->url_off = c->len;
	if (append(c, at, len))
		return -1;
	c->url_len += len;
	return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;

	if (c->last_was_value || c->n_hdr == 0) {
		if (c->n_hdr == MAX_HEADERS)
			return -1;
		c->hdr[c->n_hdr].name_off = c->len;
		c->hdr[c->n_hdr].name_len = 0;
		c->hdr[c->n_hdr].value_off = c->len;
		c->hdr[c->n_hdr].value_len = 0;
		c->n_hdr++;
		c->last_was_value = 0;
	}
	if (append(c, at, len))
		return -1;
	c->hdr[c->n_hdr - 1].name_len += len;
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;

	if (c->n_hdr == 0)
		return -1;
	if (!c->last_was_value) {
		c->hdr[c->n_hdr - 1].value_off = c->len;
		c->last_was_value = 1;
	}
	if (append(c, at, len))
		return -1;
	c->hdr[c->n_hdr - 1].value_len += len;
	return 0;
}

/* Copy of header `name`'s trimmed value into out (NUL-terminated), or NULL. */
static const char *header(struct conn *c, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);

	for (int i = 0; i < c->n_hdr; i++) {
		struct hdr *h = &c->hdr[i];
		if (h->name_len != nl || strncasecmp(c->buf + h->name_off, name, nl) != 0)
			continue;
		const char *v = c->buf + h->value_off;
		size_t vl = h->value_len;
		while (vl && (*v == ' ' || *v == '\t')) {
			v++;
			vl--;
		}
		while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
			vl--;
		if (vl >= cap)
			vl = cap - 1;
		memcpy(out, v, vl);
		out[vl] = 0;
		return out;
	}
	return NULL;
}

static int on_headers_complete(http_parser *p)
{
	struct conn *c = p->data;
	static char url[MAX_HEADER_BYTES + 1], host[MAX_HEADER_BYTES + 1], tmp[8];
	const char *h, *q;
	size_t path_len, query_len;

	/* The server keeps the URL NUL-terminated in its pool; so do we. */
	memcpy(url, c->buf + c->url_off, c->url_len);
	url[c->url_len] = 0;
	q = memchr(url, '?', c->url_len);
	path_len = q ? (size_t)(q - url) : c->url_len;
	query_len = q ? c->url_len - path_len - 1 : 0;
	h = header(c, "host", host, sizeof(host));
	route_one(map_method(http_method_str(p->method)), url, path_len, q ? q + 1 : "", query_len,
		  h, header(c, "x-amz-copy-source", tmp, sizeof(tmp)) != NULL);
	(void)http_should_keep_alive(p);
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	(void)p;
	(void)at;
	(void)len;
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct conn *c = p->data;

	c->n_messages++;
	return 0;
}

static const http_parser_settings settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

static void fuzz_stream(const char *buf, size_t len, size_t split)
{
	static struct conn c;
	http_parser parser;
	size_t n;

	memset(&c, 0, sizeof(c));
	http_parser_init(&parser, HTTP_REQUEST);
	parser.data = &c;
	if (split > len)
		split = len;
	n = http_parser_execute(&parser, &settings, buf, split);
	check(n <= split);
	if (n != split || HTTP_PARSER_ERRNO(&parser) != HPE_OK)
		return;
	if (len == split)
		return; /* execute(len 0) means EOF to http-parser; the server never calls it */
	n = http_parser_execute(&parser, &settings, buf + split, len - split);
	check(n <= len - split);
	(void)http_errno_name(HTTP_PARSER_ERRNO(&parser));
}

static void fuzz_route(const char *buf, size_t len, enum s3_method m)
{
	char *copy = malloc(len + 1);
	char *path, *query = "", *host = NULL, *nl;

	if (!copy)
		return;
	memcpy(copy, buf, len);
	copy[len] = 0;
	path = copy;
	nl = memchr(path, '\n', len);
	size_t path_len = nl ? (size_t)(nl - path) : len;
	size_t query_len = 0;
	if (nl) {
		*nl = 0;
		query = nl + 1;
		char *nl2 = strchr(query, '\n');
		query_len = nl2 ? (size_t)(nl2 - query) : strlen(query);
		if (nl2) {
			*nl2 = 0;
			host = nl2 + 1;
		}
	}
	route_one(m, path, path_len, query, query_len, host, (int)(len & 1));
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	const char *buf = (const char *)data + 1;
	size_t len = size - 1;

	if (mode & 1)
		fuzz_route(buf, len, (enum s3_method)((mode >> 1) % 6));
	else
		fuzz_stream(buf, len, len ? (size_t)(mode >> 1) * len / 127 : 0);
	return 0;
}
