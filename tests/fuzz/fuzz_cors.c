/*
 * tests/fuzz/fuzz_cors.c — libFuzzer target for s3/cors.c: the two ways
 * untrusted bytes become a CORS configuration, and the evaluation of a
 * browser's request. The first input byte picks one (modulo 3), the rest is
 * its input:
 *
 *   0  cors_from_xml(): a PutBucketCors body;
 *   1  cors_decode(): a stored record;
 *   2  cors_match() against a fixed configuration: origin, method and
 *      Access-Control-Request-Headers separated by '\n' (a missing one is
 *      NULL), preflight when the input's last byte is odd.
 *
 * Invariants (abort): whatever is accepted satisfies cors.h's invariants,
 * encodes, decodes back to the same encoding, and renders to XML that parses
 * back to the same encoding and the same bytes; a decoded record re-encodes
 * to exactly its input; cors_match() agrees with a naive reference matcher
 * built on fnmatch(3), and what it answers is safe to put in a header.
 */
#include <fnmatch.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "s3/cors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fixed_xml[] =
	"<CORSConfiguration>"
	"<CORSRule><AllowedOrigin>https://www.example.com</AllowedOrigin>"
	"<AllowedMethod>GET</AllowedMethod><AllowedHeader>range</AllowedHeader>"
	"<AllowedHeader>x-amz-*</AllowedHeader><MaxAgeSeconds>10</MaxAgeSeconds></CORSRule>"
	"<CORSRule><AllowedOrigin>https://*.example.com</AllowedOrigin>"
	"<AllowedOrigin>[x]?\\*</AllowedOrigin>"
	"<AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod>"
	"<AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader></CORSRule>"
	"<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>HEAD</AllowedMethod>"
	"<AllowedHeader>Content-*</AllowedHeader></CORSRule>"
	"</CORSConfiguration>";

static int is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* fnmatch with only '*' special, ASCII case ignored. */
static int ref_wild(const char *pattern, const char *s)
{
	size_t n = strlen(pattern);
	char *p = malloc(2 * n + 1), *q = p;
	int ok;

	if (!p)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (strchr("?[]\\", pattern[i]))
			*q++ = '\\';
		*q++ = pattern[i];
	}
	*q = 0;
	ok = fnmatch(p, s, FNM_CASEFOLD) == 0;
	free(p);
	return ok;
}

/* The requested names, lower-cased, ", "-joined, into out (cap bytes);
 * 0 when a name is not a token or the answer does not fit. */
static int ref_names(const char *v, char *out, size_t cap)
{
	char *copy = strdup(v), *save = NULL, *tok;
	size_t o = 0;
	int ok = 1;

	if (!copy)
		abort();
	out[0] = 0;
	/* strtok_r would merge empty elements, which is what is wanted */
	for (tok = strtok_r(copy, ",", &save); tok && ok; tok = strtok_r(NULL, ",", &save)) {
		size_t n;

		while (*tok == ' ' || *tok == '\t')
			tok++;
		n = strlen(tok);
		while (n && (tok[n - 1] == ' ' || tok[n - 1] == '\t'))
			n--;
		if (!n)
			continue;
		for (size_t i = 0; i < n; i++)
			if (!is_tchar((unsigned char)tok[i]))
				ok = 0;
		if (!ok || o + (o ? 2 : 0) + n + 1 > cap) {
			ok = 0;
			break;
		}
		if (o)
			out[o++] = ',', out[o++] = ' ';
		for (size_t i = 0; i < n; i++)
			out[o++] = (char)(tok[i] >= 'A' && tok[i] <= 'Z' ? tok[i] + 32 : tok[i]);
		out[o] = 0;
	}
	free(copy);
	return ok;
}

/* The index of the rule that should match, or -1. */
static int ref_match(const struct cors_config *c, const char *origin, const char *method,
		     const char *hdrs, int preflight, char *names, size_t cap)
{
	int m = cors_method_parse(method);

	names[0] = 0;
	if (!origin || !m)
		return -1;
	for (const char *p = origin; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return -1;
	if (preflight && hdrs && !ref_names(hdrs, names, cap))
		return -1;
	for (unsigned i = 0; i < c->n_rules; i++) {
		const struct cors_rule *r = &c->rules[i];
		int ok = 0;

		for (unsigned j = 0; j < r->n_methods; j++)
			ok |= r->methods[j] == m;
		if (!ok)
			continue;
		ok = 0;
		for (unsigned j = 0; j < r->n_origins; j++)
			ok |= ref_wild(r->origins[j], origin);
		if (!ok)
			continue;
		/* each name must match an AllowedHeader */
		if (names[0]) {
			char *copy = strdup(names), *save = NULL, *tok;
			if (!copy)
				abort();
			for (tok = strtok_r(copy, ", ", &save); tok && ok;
			     tok = strtok_r(NULL, ", ", &save)) {
				int any = 0;
				for (unsigned j = 0; j < r->n_allowed_headers; j++)
					any |= ref_wild(r->allowed_headers[j], tok);
				ok = any;
			}
			free(copy);
		}
		if (ok)
			return (int)i;
	}
	return -1;
}

static int header_safe(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

static void check_match(const struct cors_config *c, const char *origin, const char *method,
			const char *hdrs, int preflight)
{
	struct cors_result *out = malloc(sizeof(*out));
	char *names = malloc(CORS_ALLOW_HEADERS_CAP);
	int got, want;

	if (!out || !names)
		abort();
	got = cors_match(c, origin, method, hdrs, preflight, out);
	want = ref_match(c, origin, method, hdrs, preflight, names, CORS_ALLOW_HEADERS_CAP);
	if (got != (want >= 0))
		abort();
	if (got) {
		const struct cors_rule *r = &c->rules[out->rule];
		int star = 0;

		if ((int)out->rule != want)
			abort();
		for (unsigned j = 0; j < r->n_origins; j++)
			star |= strcmp(r->origins[j], "*") == 0;
		if (star ? strcmp(out->allow_origin, "*") != 0 || out->allow_credentials
			 : out->allow_origin != origin || !out->allow_credentials)
			abort();
		if (out->allow_methods != r->allow_methods || out->expose_headers != r->expose ||
		    out->max_age != r->max_age || !out->vary)
			abort();
		if (names[0] ? !out->allow_headers || strcmp(out->allow_headers, names) != 0
			     : out->allow_headers != NULL)
			abort();
		if (!header_safe(out->allow_origin) || !header_safe(out->allow_methods) ||
		    (out->allow_headers && !header_safe(out->allow_headers)) ||
		    (out->expose_headers && !header_safe(out->expose_headers)))
			abort();
	}
	free(out);
	free(names);
}

static void check_invariants(const struct cors_config *c)
{
	if (c->n_rules < 1 || c->n_rules > CORS_MAX_RULES)
		abort();
	for (unsigned i = 0; i < c->n_rules; i++) {
		const struct cors_rule *r = &c->rules[i];
		unsigned seen = 0;

		if (r->n_methods < 1 || r->n_methods > CORS_N_METHODS || r->n_origins < 1 ||
		    r->max_age < -1 || !r->allow_methods)
			abort();
		for (unsigned j = 0; j < r->n_methods; j++) {
			if (!cors_method_name(r->methods[j]) || (seen & (1u << r->methods[j])))
				abort();
			seen |= 1u << r->methods[j];
		}
		for (unsigned j = 0; j < r->n_origins; j++)
			if (!header_safe(r->origins[j]) ||
			    (strchr(r->origins[j], '*') &&
			     strchr(strchr(r->origins[j], '*') + 1, '*')))
				abort();
		for (unsigned j = 0; j < r->n_allowed_headers; j++)
			if (!header_safe(r->allowed_headers[j]))
				abort();
		if (r->expose && !header_safe(r->expose))
			abort();
	}
}

/* Requests built from the config itself: each rule's first origin and
 * method, its allowed headers as names; they match that rule or an
 * earlier one, and agree with the reference. */
static void probe(const struct cors_config *c)
{
	for (unsigned i = 0; i < c->n_rules; i++) {
		const struct cors_rule *r = &c->rules[i];
		struct cn_buf o, h;

		cn_buf_init(&o);
		cn_buf_init(&h);
		for (const char *p = r->origins[0]; *p; p++)
			cn_buf_putc(&o, *p == '*' ? 'x' : *p);
		for (unsigned j = 0; j < r->n_allowed_headers && j < 8; j++) {
			if (j)
				cn_buf_putc(&h, ',');
			for (const char *p = r->allowed_headers[j]; *p; p++)
				cn_buf_putc(&h, *p == '*' ? 'Y' : *p);
		}
		cn_buf_putc(&o, 0);
		cn_buf_putc(&h, 0);
		if (o.err || h.err)
			abort();
		check_match(c, o.s, cors_method_name(r->methods[0]), NULL, 0);
		check_match(c, o.s, cors_method_name(r->methods[0]), h.s, 1);
		{
			struct cors_result *out = malloc(sizeof(*out));
			if (!out)
				abort();
			if (cors_match(c, o.s, cors_method_name(r->methods[0]), NULL, 1, out) !=
				    1 ||
			    out->rule > i)
				abort();
			free(out);
		}
		cn_buf_release(&o);
		cn_buf_release(&h);
	}
}

/* An accepted config encodes, decodes and renders back to itself. */
static void check_accepted(const struct cors_config *c)
{
	struct cn_buf e1, e2, x1, x2;
	struct cors_config *d = NULL, *p = NULL;
	char err[256];

	check_invariants(c);
	cn_buf_init(&e1);
	cn_buf_init(&e2);
	cn_buf_init(&x1);
	cn_buf_init(&x2);
	if (cors_encode(c, &e1) != 0 || cors_decode(e1.p, e1.len, &d) != 0 ||
	    cors_encode(d, &e2) != 0 || e1.len != e2.len || memcmp(e1.p, e2.p, e1.len) != 0)
		abort();
	cors_to_xml(c, &x1);
	if (x1.err)
		abort();
	/* escaping may grow a document past 64 KB; smaller ones re-parse */
	if (x1.len <= CORS_MAX_XML) {
		cn_buf_reset(&e2);
		if (cors_from_xml(x1.s, x1.len, &p, err, sizeof(err)) != 0 ||
		    cors_encode(p, &e2) != 0 || e1.len != e2.len || memcmp(e1.p, e2.p, e1.len) != 0)
			abort();
		cors_to_xml(p, &x2);
		if (x2.err || x1.len != x2.len || memcmp(x1.p, x2.p, x1.len) != 0)
			abort();
	}
	probe(c);
	cors_config_free(d);
	cors_config_free(p);
	cn_buf_release(&e1);
	cn_buf_release(&e2);
	cn_buf_release(&x1);
	cn_buf_release(&x2);
}

static void fuzz_xml(const uint8_t *in, size_t len)
{
	struct cors_config *c = NULL;
	char err[256];
	int rc = cors_from_xml((const char *)in, len, &c, err, sizeof(err));

	if (rc == 0)
		check_accepted(c);
	else if (c || (rc != CN_EBADXML && rc != CN_EBADCORS && rc != CN_ENOMEM) ||
		 !memchr(err, 0, sizeof(err)) || !err[0])
		abort();
	cors_config_free(c);
}

static void fuzz_record(const uint8_t *in, size_t len)
{
	struct cors_config *c = NULL;
	struct cn_buf w;

	if (cors_decode(in, len, &c) != 0) {
		if (c)
			abort();
		return;
	}
	cn_buf_init(&w);
	if (cors_encode(c, &w) != 0 || w.len != len || memcmp(w.p, in, len) != 0)
		abort();
	cn_buf_release(&w);
	check_accepted(c);
	cors_config_free(c);
}

static void fuzz_match(const uint8_t *in, size_t len)
{
	static struct cors_config *fixed;
	char *copy = malloc(len + 1), *v[3] = {NULL, NULL, NULL}, *p;
	int n = 0, preflight = len && (in[len - 1] & 1);

	if (!fixed && cors_from_xml(fixed_xml, strlen(fixed_xml), &fixed, NULL, 0) != 0)
		abort();
	if (!copy)
		return;
	memcpy(copy, in, len);
	copy[len] = 0;
	p = copy;
	while (n < 3) {
		char *nl = memchr(p, '\n', (size_t)(copy + len - p));
		v[n++] = p;
		if (!nl)
			break;
		*nl = 0;
		p = nl + 1;
	}
	check_match(fixed, v[0], v[1], v[2], preflight);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0: fuzz_xml(data + 1, size - 1); break;
	case 1: fuzz_record(data + 1, size - 1); break;
	default: fuzz_match(data + 1, size - 1); break;
	}
	return 0;
}
