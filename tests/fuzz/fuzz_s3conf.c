/*
 * tests/fuzz/fuzz_s3conf.c — libFuzzer target for the small s3/ parsers of
 * untrusted bytes that need no server: request header values, bucket
 * names, and the stored per-bucket settings and records a handler decodes.
 * (The XML request bodies, such as PutBucketEncryption or
 * PutPublicAccessBlock, have their own target: fuzz_bodies.c.) The first
 * input byte picks one (modulo 5), the rest is its input:
 *
 *   0  s3_parse_http_date(): If-Modified-Since and friends (NUL-terminated);
 *   1  s3_unquote_etag(): an If-Match list member, into a buffer of 1..32
 *      bytes (bits 3-7 of byte 0, plus one);
 *   2  s3_bucket_name_check(): a bucket name from the request line;
 *   3  s3_pab_parse() and s3_ownership_parse(): the stored "pab" and
 *      "ownership" bucket settings;
 *   4  s3_sse_decode(): a stored T_SSE record.
 *
 * Invariants (abort): an HTTP date that is not clamped prints (s3_http_date)
 * to a date that reads back to the same instant; an unquoted ETag is a
 * NUL-terminated run of the input that fits its buffer, with nothing
 * written past it; an accepted bucket name is 3..63 bytes of [a-z0-9.-],
 * starts and ends with a letter or digit and has no "..", ".-" or "-.";
 * a PublicAccessBlock value is 4 bytes or CN_ECORRUPT; an ownership
 * reads back from its name; a decoded T_SSE record encodes
 * (s3_sse_record) to a record that decodes to the same fields, and to
 * exactly the input when its flags have no unknown bit.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/pool.h"
#include "s3/s3_int.h"
#include "s3/sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CANARY 0x3c

static char *cstr(const uint8_t *in, size_t len)
{
	char *s = malloc(len + 1);

	if (s) {
		memcpy(s, in, len);
		s[len] = 0;
	}
	return s;
}

static void fuzz_http_date(const char *s)
{
	char out[40];
	int64_t ns, ns2;

	if (s3_parse_http_date(s, &ns) != 0)
		return;
	if (ns == INT64_MAX || ns == INT64_MIN)
		return; /* clamped: no date prints as it */
	if (ns % 1000000000LL != 0)
		abort();
	s3_http_date(ns, out);
	if (s3_parse_http_date(out, &ns2) != 0 || ns2 != ns)
		abort();
}

static void fuzz_etag(const char *s, size_t cap)
{
	char out[32 + 16];
	size_t n;

	memset(out, CANARY, sizeof(out));
	s3_unquote_etag(s, out, cap);
	for (size_t i = cap; i < sizeof(out); i++)
		if ((uint8_t)out[i] != CANARY)
			abort();
	n = strnlen(out, cap);
	if (n == cap || (n > 0 && strstr(s, out) == NULL))
		abort();
}

static void fuzz_bucket_name(const char *s)
{
	size_t n = strlen(s);

	if (s3_bucket_name_check(s) != 0)
		return;
	if (n < 3 || n > 63 || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789.-") != n ||
	    strchr(".-", s[0]) || strchr(".-", s[n - 1]) || strstr(s, "..") || strstr(s, ".-") ||
	    strstr(s, "-."))
		abort();
}

static void fuzz_settings(const uint8_t *in, size_t len, const char *s)
{
	struct s3_pab pab;
	int rc = s3_pab_parse((const char *)in, len, &pab);
	enum s3_ownership o = s3_ownership_parse(s);

	if (len == 4 ? rc != 0 : rc != CN_ECORRUPT)
		abort();
	if (s3_ownership_parse(s3_ownership_name(o)) != o)
		abort();
}

static int same_sse(const struct s3_sse *a, const struct s3_sse *b)
{
	return a->mode == b->mode && a->bucket_key == b->bucket_key &&
	       a->has_inline == b->has_inline && memcmp(a->wrapped, b->wrapped, CN_WRAP_LEN) == 0 &&
	       strcmp(a->kms_name, b->kms_name) == 0 && a->ctx_len == b->ctx_len &&
	       (a->ctx_len == 0 || memcmp(a->ctx, b->ctx, a->ctx_len) == 0) &&
	       memcmp(a->c_salt, b->c_salt, 16) == 0 && memcmp(a->c_mac, b->c_mac, 32) == 0 &&
	       memcmp(a->ihdr, b->ihdr, CN_SEAL_HDR) == 0 &&
	       memcmp(a->itag, b->itag, CN_SEAL_TAG) == 0;
}

static void fuzz_sse(const uint8_t *in, size_t len)
{
	/* s3_sse_decode() and s3_sse_record() only use the request's pool */
	static struct s3_req r;
	struct s3_sse s, s2;
	struct cn_pool pool;
	const uint8_t *rec;
	size_t rl;

	cn_pool_init(&pool);
	r.pool = &pool;
	if (s3_sse_decode(&r, in, len, &s) != 0)
		goto out;
	if (s3_sse_record(&r, &s, &rec, &rl) != 0)
		abort();
	if (s.mode == S3_SSE_NONE) {
		if (len != 0 || rl != 0)
			abort();
		goto out;
	}
	if (s3_sse_decode(&r, rec, rl, &s2) != 0 || !same_sse(&s, &s2))
		abort();
	/* flag bits cairn does not know are not written back */
	if ((in[2] & ~3u) == 0 && (rl != len || memcmp(rec, in, len) != 0))
		abort();
out:
	r.pool = NULL;
	cn_pool_release(&pool);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *in = data + 1;
	size_t len = size - 1;
	char *s;

	if (size < 1)
		return 0;
	if (data[0] % 5 == 4) {
		fuzz_sse(in, len);
		return 0;
	}
	if ((s = cstr(in, len)) == NULL)
		return 0;
	switch (data[0] % 5) {
	case 0: fuzz_http_date(s); break;
	case 1: fuzz_etag(s, (size_t)(data[0] >> 3) + 1); break;
	case 2: fuzz_bucket_name(s); break;
	default: fuzz_settings(in, len, s); break;
	}
	free(s);
	return 0;
}
