/*
 * Unit tests for auth/chunked: the AWS "Transferring Payload in Multiple
 * Chunks" example (seed and chunk signatures), signed and unsigned trailers
 * with checksums, input split at every byte boundary, and every way a body
 * can be wrong (bad signature, bad checksum, truncation, oversized sizes,
 * garbage framing).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/chunked.h"
#include "auth/sigv4.h"
#include "core/digest.h"
#include "core/err.h"

#define AKID "AKIAIOSFODNN7EXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define T0 ((time_t)1369353600) /* 20130524T000000Z */

static const char *const doc_sigs[3] = {
	"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
	"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
	"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
};

static int get_secret(void *arg, const char *ak, char *out, size_t cap)
{
	(void)arg;
	if (strcmp(ak, AKID) != 0)
		return CN_EBADKEYID;
	snprintf(out, cap, "%s", SECRET);
	return 0;
}

/* Collects the decoded payload. */
struct sink {
	char *p;
	size_t len, cap;
	int fail_with; /* nonzero: the callback returns this */
};

static int sink_cb(void *arg, const char *buf, size_t len)
{
	struct sink *s = arg;
	if (s->fail_with)
		return s->fail_with;
	if (s->len + len > s->cap) {
		s->cap = (s->len + len) * 2;
		s->p = realloc(s->p, s->cap);
		assert_non_null(s->p);
	}
	memcpy(s->p + s->len, buf, len);
	s->len += len;
	return 0;
}

/* Verifies the documented seed request and returns its result. */
static void doc_seed(struct sigv4_result *res)
{
	const struct sigv4_header h[] = {
#define H(n, v) {n, sizeof(n) - 1, v, sizeof(v) - 1}
		H("Host", "s3.amazonaws.com"),
		H("x-amz-date", "20130524T000000Z"),
		H("x-amz-storage-class", "REDUCED_REDUNDANCY"),
		H("Authorization",
		  "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
		  "aws4_request,SignedHeaders=content-encoding;content-length;host;"
		  "x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;"
		  "x-amz-storage-class,Signature="
		  "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"),
		H("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
		H("Content-Encoding", "aws-chunked"),
		H("x-amz-decoded-content-length", "66560"),
		H("Content-Length", "66824"),
#undef H
	};
	struct sigv4_request req = {
		.method = "PUT",
		.path = "/examplebucket/chunkObject.txt",
		.path_len = strlen("/examplebucket/chunkObject.txt"),
		.headers = h,
		.n_headers = sizeof(h) / sizeof(h[0]),
		.now = T0 + 5,
	};
	assert_int_equal(sigv4_verify(&req, get_secret, NULL, res), 0);
}

/* The documented body: 65536 + 1024 bytes of 'a', then the final chunk. */
static char *doc_body(size_t *len, const char *const sigs[3])
{
	static const size_t sizes[3] = {65536, 1024, 0};
	char *b = malloc(70000);
	size_t o = 0;
	assert_non_null(b);
	for (int i = 0; i < 3; i++) {
		o += (size_t)sprintf(b + o, "%zx;chunk-signature=%s\r\n", sizes[i], sigs[i]);
		memset(b + o, 'a', sizes[i]);
		o += sizes[i];
		memcpy(b + o, "\r\n", 2);
		o += 2;
	}
	*len = o;
	return b;
}

static int decode(const struct sigv4_result *auth, uint64_t dlen, const char *trailer,
		  const char *body, size_t len, const size_t *cuts, size_t ncuts, struct sink *out,
		  struct awschunked *keep)
{
	struct awschunked d;
	size_t pos = 0;
	int rc = awschunked_init(&d, auth, dlen, trailer);
	if (rc)
		return rc;
	for (size_t i = 0; i <= ncuts && !rc; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		rc = awschunked_feed(&d, body + pos, end - pos, sink_cb, out);
		pos = end;
	}
	if (!rc)
		rc = awschunked_finish(&d);
	/* errors are sticky */
	if (rc)
		assert_int_equal(awschunked_finish(&d), rc);
	if (keep)
		*keep = d;
	awschunked_release(&d);
	return rc;
}

static void test_doc_example(void **state)
{
	(void)state;
	struct sigv4_result res;
	uint8_t h[32];
	char sig[65], *data;

	doc_seed(&res);
	assert_int_equal(res.payload, SIGV4_PAYLOAD_STREAMING);
	assert_true(res.decoded_len == 66560);
	assert_string_equal(res.seed_signature,
			    "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9");

	/* The chunk signatures the documentation lists. */
	data = malloc(65536);
	memset(data, 'a', 65536);
	cn_sha256(data, 65536, h);
	sigv4_chunk_sign(&res, res.seed_signature, h, sig);
	assert_string_equal(sig, doc_sigs[0]);
	cn_sha256(data, 1024, h);
	sigv4_chunk_sign(&res, doc_sigs[0], h, sig);
	assert_string_equal(sig, doc_sigs[1]);
	cn_sha256("", 0, h);
	sigv4_chunk_sign(&res, doc_sigs[1], h, sig);
	assert_string_equal(sig, doc_sigs[2]);
	free(data);

	size_t len;
	char *body = doc_body(&len, doc_sigs);
	assert_int_equal(len, 66824); /* the documented Content-Length */
	struct sink s = {0};
	struct awschunked d;
	assert_int_equal(decode(&res, res.decoded_len, NULL, body, len, NULL, 0, &s, &d), 0);
	assert_int_equal(s.len, 66560);
	for (size_t i = 0; i < s.len; i++)
		if (s.p[i] != 'a')
			fail_msg("byte %zu", i);
	assert_true(d.total == 66560);
	assert_int_equal(d.checksum_alg, CN_CK_NONE);
	free(s.p);
	free(body);
}

/* The documented body split into two reads at every offset in the regions
 * where framing lives, and fed one byte at a time. */
static void test_doc_example_splits(void **state)
{
	(void)state;
	struct sigv4_result res;
	size_t len;
	char *body;
	doc_seed(&res);
	body = doc_body(&len, doc_sigs);
	for (size_t cut = 0; cut <= len; cut++) {
		if (cut == 200)
			cut = 65600; /* the 65536-byte data run has nothing new */
		if (cut == 65800)
			cut = len - 200;
		struct sink s = {0};
		assert_int_equal(decode(&res, 66560, NULL, body, len, &cut, 1, &s, NULL), 0);
		assert_int_equal(s.len, 66560);
		free(s.p);
	}
	/* one byte per call */
	size_t *cuts = malloc(len * sizeof(*cuts));
	for (size_t i = 0; i < len; i++)
		cuts[i] = i;
	struct sink s = {0};
	assert_int_equal(decode(&res, 66560, NULL, body, len, cuts, len, &s, NULL), 0);
	assert_int_equal(s.len, 66560);
	free(s.p);
	free(cuts);
	free(body);
}

static void test_doc_example_tampered(void **state)
{
	(void)state;
	struct sigv4_result res;
	size_t len;
	char *body;
	struct sink s = {0};
	doc_seed(&res);

	/* A wrong second chunk signature: the first chunk was delivered (and is
	 * provisional), then the error. */
	const char *bad[3] = {doc_sigs[0], doc_sigs[0], doc_sigs[2]};
	body = doc_body(&len, bad);
	assert_int_equal(decode(&res, 66560, NULL, body, len, NULL, 0, &s, NULL), CN_EBADSIG);
	assert_int_equal(s.len, 66560); /* data precedes its signature check */
	free(body);
	free(s.p);

	/* One payload byte changed. */
	body = doc_body(&len, doc_sigs);
	body[100] = 'b';
	memset(&s, 0, sizeof(s));
	assert_int_equal(decode(&res, 66560, NULL, body, len, NULL, 0, &s, NULL), CN_EBADSIG);
	assert_true(s.len <= 65536);
	free(s.p);
	body[100] = 'a';

	/* Chunk signatures in a different chain (another seed). */
	struct sigv4_result other = res;
	other.seed_signature[0] = '5';
	memset(&s, 0, sizeof(s));
	assert_int_equal(decode(&other, 66560, NULL, body, len, NULL, 0, &s, NULL), CN_EBADSIG);
	free(s.p);

	/* Truncated anywhere: incomplete (never success). */
	size_t cuts[] = {0, 1, 50, 88, 65624, 65626, 65700, len - 86, len - 3, len - 1};
	for (size_t i = 0; i < sizeof(cuts) / sizeof(*cuts); i++) {
		memset(&s, 0, sizeof(s));
		assert_int_equal(decode(&res, 66560, NULL, body, cuts[i], NULL, 0, &s, NULL),
				 CN_EINCOMPLETE);
		free(s.p);
	}
	/* Declared length that disagrees with the body. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(decode(&res, 66561, NULL, body, len, NULL, 0, &s, NULL), CN_EINCOMPLETE);
	free(s.p);
	memset(&s, 0, sizeof(s));
	assert_int_equal(decode(&res, 66000, NULL, body, len, NULL, 0, &s, NULL), CN_EBADCHUNK);
	free(s.p);
	/* Missing chunk signature in a signed stream. */
	const char *nosig = "400\r\n";
	memset(&s, 0, sizeof(s));
	assert_int_equal(decode(&res, UINT64_MAX, NULL, nosig, 5, NULL, 0, &s, NULL), CN_EBADCHUNK);
	free(s.p);
	free(body);
}

/* ---- a client-built body with a trailer, small enough for exhaustive splits ---- */

struct built {
	char buf[4096];
	size_t len;
	char payload[1024];
	size_t plen;
};

/* Encodes `sizes` chunks of a deterministic payload; signs chunks when
 * chain is given; appends the checksum trailer (alg) and, when sign_trailer,
 * the trailer signature. */
static void build(struct built *b, const struct sigv4_result *chain, const size_t *sizes, size_t n,
		  enum cn_checksum_alg alg, int sign_trailer, int corrupt_checksum)
{
	char prev[65];
	size_t pp = 0;
	uint8_t h[32];
	b->len = 0;
	if (chain)
		memcpy(prev, chain->seed_signature, 65);
	for (size_t i = 0; i <= n; i++) {
		size_t sz = i < n ? sizes[i] : 0;
		char *data = b->payload + pp;
		for (size_t k = 0; k < sz; k++)
			data[k] = (char)('A' + (pp + k) % 57);
		b->len += (size_t)sprintf(b->buf + b->len, "%zx", sz);
		if (chain) {
			char sig[65];
			cn_sha256(data, sz, h);
			sigv4_chunk_sign(chain, prev, h, sig);
			memcpy(prev, sig, 65);
			b->len += (size_t)sprintf(b->buf + b->len, ";chunk-signature=%s", sig);
		}
		b->len += (size_t)sprintf(b->buf + b->len, "\r\n");
		if (i < n) {
			memcpy(b->buf + b->len, data, sz);
			b->len += sz;
			b->len += (size_t)sprintf(b->buf + b->len, "\r\n");
		}
		pp += sz;
	}
	b->plen = pp;
	if (alg != CN_CK_NONE) {
		struct cn_digest d;
		struct cn_digest_result r;
		uint8_t raw[32];
		char b64[64], line[128];
		assert_int_equal(cn_digest_init(&d, cn_checksum_alg_digest(alg)), 0);
		cn_digest_update(&d, b->payload, b->plen);
		cn_digest_final(&d, &r);
		cn_digest_release(&d);
		size_t rl = cn_checksum_raw(alg, &r, raw);
		raw[0] ^= (uint8_t)corrupt_checksum;
		cn_b64_encode(raw, rl, b64, sizeof(b64));
		int ll = sprintf(line, "x-amz-checksum-%s:%s", cn_checksum_alg_header(alg), b64);
		b->len += (size_t)sprintf(b->buf + b->len, "%s\r\n", line);
		if (sign_trailer) {
			char sig[65];
			strcat(line, "\n");
			cn_sha256(line, (size_t)ll + 1, h);
			sigv4_trailer_sign(chain, prev, h, sig);
			b->len += (size_t)sprintf(b->buf + b->len, "x-amz-trailer-signature:%s\r\n",
						  sig);
		}
	}
	b->len += (size_t)sprintf(b->buf + b->len, "\r\n");
}

static void client_chain(struct sigv4_result *r, const char *payload_mode)
{
	const struct sigv4_header h[] = {
		{"host", 4, "localhost", 9},
		{"x-amz-date", 10, "20130524T000000Z", 16},
		{"x-amz-content-sha256", 20, payload_mode, strlen(payload_mode)},
	};
	struct sigv4_request req = {.method = "PUT",
				    .path = "/b/k",
				    .path_len = 4,
				    .headers = h,
				    .n_headers = 3,
				    .now = T0};
	char auth[512];
	assert_int_equal(sigv4_sign_header(&req, &(struct sigv4_creds){AKID, SECRET, "us-east-1"},
					   "20130524T000000Z",
					   "host;x-amz-content-sha256;x-amz-date", payload_mode,
					   auth, sizeof(auth), r),
			 0);
	/* The server side agrees with the client's chain start. */
	struct sigv4_header h2[4];
	memcpy(h2, h, sizeof(h));
	h2[3] = (struct sigv4_header){"authorization", 13, auth, strlen(auth)};
	req.headers = h2;
	req.n_headers = 4;
	struct sigv4_result v;
	assert_int_equal(sigv4_verify(&req, get_secret, NULL, &v), 0);
	assert_string_equal(v.seed_signature, r->seed_signature);
	assert_int_equal(v.payload, r->payload);
}

static void test_signed_trailer_all_splits(void **state)
{
	(void)state;
	struct sigv4_result chain;
	struct built b;
	const size_t sizes[] = {17, 1, 40};
	client_chain(&chain, SIGV4_STREAMING_PAYLOAD_TRAILER);
	assert_int_equal(chain.payload, SIGV4_PAYLOAD_STREAMING_TRAILER);
	build(&b, &chain, sizes, 3, CN_CK_CRC32C, 1, 0);

	for (size_t i = 0; i <= b.len; i++) {
		for (size_t j = i; j <= b.len; j += 7) {
			size_t cuts[2] = {i, j};
			struct sink s = {0};
			struct awschunked d;
			int rc = decode(&chain, b.plen, "x-amz-checksum-crc32c", b.buf, b.len, cuts,
					2, &s, &d);
			if (rc)
				fail_msg("split %zu,%zu: %s", i, j, cn_errname(rc));
			assert_int_equal(s.len, b.plen);
			assert_memory_equal(s.p, b.payload, b.plen);
			assert_int_equal(d.checksum_alg, CN_CK_CRC32C);
			assert_int_equal(d.checksum_len, 4);
			free(s.p);
		}
	}
	/* Every strict prefix is incomplete, never accepted. */
	for (size_t i = 0; i < b.len; i++) {
		struct sink s = {0};
		int rc = decode(&chain, b.plen, "x-amz-checksum-crc32c", b.buf, i, NULL, 0, &s,
				NULL);
		if (rc != CN_EINCOMPLETE)
			fail_msg("prefix %zu: %s", i, cn_errname(rc));
		free(s.p);
	}
	/* Anything after the final CRLF is garbage. */
	memcpy(b.buf + b.len, "0\r\n", 3);
	struct sink s = {0};
	assert_int_equal(decode(&chain, b.plen, "x-amz-checksum-crc32c", b.buf, b.len + 3, NULL, 0,
				&s, NULL),
			 CN_EBADCHUNK);
	free(s.p);
}

static void test_trailer_failures(void **state)
{
	(void)state;
	struct sigv4_result chain;
	struct built b;
	struct sink s = {0};
	const size_t sizes[] = {100, 23};
	client_chain(&chain, SIGV4_STREAMING_PAYLOAD_TRAILER);

	/* Every algorithm verifies. */
	const enum cn_checksum_alg algs[] = {CN_CK_CRC32, CN_CK_CRC32C, CN_CK_CRC64NVME, CN_CK_SHA1,
					     CN_CK_SHA256};
	for (size_t i = 0; i < 5; i++) {
		char name[64];
		struct awschunked d;
		build(&b, &chain, sizes, 2, algs[i], 1, 0);
		snprintf(name, sizeof(name), "X-Amz-Checksum-%s", cn_checksum_alg_name(algs[i]));
		memset(&s, 0, sizeof(s));
		assert_int_equal(decode(&chain, 123, name, b.buf, b.len, NULL, 0, &s, &d), 0);
		assert_int_equal(d.checksum_alg, algs[i]);
		free(s.p);
		/* A checksum that does not match the data. */
		build(&b, &chain, sizes, 2, algs[i], 1, 0x40);
		memset(&s, 0, sizeof(s));
		assert_int_equal(decode(&chain, 123, name, b.buf, b.len, NULL, 0, &s, NULL),
				 CN_EBADCHECKSUM);
		free(s.p);
	}
	/* A trailer other than the declared one. */
	build(&b, &chain, sizes, 2, CN_CK_CRC32, 1, 0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(
		decode(&chain, 123, "x-amz-checksum-crc32c", b.buf, b.len, NULL, 0, &s, NULL),
		CN_EBADCHUNK);
	free(s.p);
	/* Declared trailer missing entirely (signature present). */
	build(&b, &chain, sizes, 2, CN_CK_NONE, 0, 0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(
		decode(&chain, 123, "x-amz-checksum-crc32", b.buf, b.len, NULL, 0, &s, NULL),
		CN_EBADCHUNK);
	free(s.p);
	/* Signed-trailer mode without the trailer signature. */
	build(&b, &chain, sizes, 2, CN_CK_CRC32, 0, 0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(
		decode(&chain, 123, "x-amz-checksum-crc32", b.buf, b.len, NULL, 0, &s, NULL),
		CN_EBADSIG);
	free(s.p);
	/* A wrong trailer signature (the checksum line changed after signing). */
	build(&b, &chain, sizes, 2, CN_CK_SHA256, 1, 0);
	char *ck = strstr(b.buf, "x-amz-checksum-sha256:") + 22;
	memset(&s, 0, sizeof(s));
	ck[0] = ck[0] == 'A' ? 'B' : 'A';
	assert_int_equal(
		decode(&chain, 123, "x-amz-checksum-sha256", b.buf, b.len, NULL, 0, &s, NULL),
		CN_EBADSIG);
	free(s.p);
	/* Unknown trailer name at init. */
	struct awschunked d;
	assert_int_equal(awschunked_init(&d, &chain, 1, "x-amz-checksum-md5"), CN_EBADARG);
	assert_int_equal(awschunked_init(&d, &chain, 1, "content-md5"), CN_EBADARG);
}

static void test_unsigned_trailer(void **state)
{
	(void)state;
	struct sigv4_result chain;
	struct awschunked d;
	struct sink s = {0};
	client_chain(&chain, SIGV4_STREAMING_UNSIGNED_TRAILER);

	/* Literal, as an SDK sends it: CRC32("hello") = 0x3610a686. */
	const char *body = "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n";
	assert_int_equal(
		decode(&chain, 5, "x-amz-checksum-crc32", body, strlen(body), NULL, 0, &s, &d), 0);
	assert_int_equal(s.len, 5);
	assert_memory_equal(s.p, "hello", 5);
	assert_string_equal(d.checksum_b64, "NhCmhg==");
	free(s.p);
	/* The declared name as a header value may carry spaces and any case. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(
		decode(&chain, 5, " X-Amz-Checksum-CRC32 ", body, strlen(body), NULL, 0, &s, NULL),
		0);
	free(s.p);
	const char *bad = "5\r\nhellp\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n";
	memset(&s, 0, sizeof(s));
	assert_int_equal(
		decode(&chain, 5, "x-amz-checksum-crc32", bad, strlen(bad), NULL, 0, &s, NULL),
		CN_EBADCHECKSUM);
	free(s.p);
	/* A trailer signature has no place in an unsigned trailer. */
	const char *withsig = "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n"
			      "x-amz-trailer-signature:"
			      "0000000000000000000000000000000000000000000000000000000000000000"
			      "\r\n\r\n";
	memset(&s, 0, sizeof(s));
	assert_int_equal(decode(&chain, 5, "x-amz-checksum-crc32", withsig, strlen(withsig), NULL,
				0, &s, NULL),
			 CN_EBADCHUNK);
	free(s.p);
	/* Malformed base64; a value longer than the checksum (48 characters
	 * once overran the 32-byte raw buffer); a repeated checksum line; a
	 * trailer nobody declared. */
	const char *b64 = "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhC!hg==\r\n\r\n";
	memset(&s, 0, sizeof(s));
	assert_int_equal(
		decode(&chain, 5, "x-amz-checksum-crc32", b64, strlen(b64), NULL, 0, &s, NULL),
		CN_EBADCKVALUE);
	free(s.p);
	const char *longck = "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:"
			     "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\r\n\r\n";
	memset(&s, 0, sizeof(s));
	assert_int_equal(decode(&chain, 5, "x-amz-checksum-crc32", longck, strlen(longck), NULL, 0,
				&s, NULL),
			 CN_EBADCKVALUE);
	free(s.p);
	const char *twice = "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n"
			    "x-amz-checksum-crc32:NhCmhg==\r\n\r\n";
	memset(&s, 0, sizeof(s));
	assert_int_equal(
		decode(&chain, 5, "x-amz-checksum-crc32", twice, strlen(twice), NULL, 0, &s, NULL),
		CN_EBADCHUNK);
	free(s.p);
	memset(&s, 0, sizeof(s));
	assert_int_equal(decode(&chain, 5, NULL, body, strlen(body), NULL, 0, &s, NULL),
			 CN_EBADCHUNK);
	free(s.p);
	/* No auth at all: plain aws-chunked framing, no trailer. */
	const char *plain = "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n";
	memset(&s, 0, sizeof(s));
	assert_int_equal(decode(NULL, UINT64_MAX, NULL, plain, strlen(plain), NULL, 0, &s, NULL),
			 0);
	assert_int_equal(s.len, 5);
	assert_memory_equal(s.p, "abcde", 5);
	free(s.p);
}

static void test_garbage(void **state)
{
	(void)state;
	struct sigv4_result chain;
	client_chain(&chain, SIGV4_STREAMING_PAYLOAD);
	static const char *const unsigned_bad[] = {
		"zz\r\n",
		"\r\n",
		";a\r\n",
		"3\nabc\r\n0\r\n\r\n",	  /* bare LF */
		"3\r\nabc\n0\r\n\r\n",	  /* data not followed by CRLF */
		"3\r\nabcd\r\n0\r\n\r\n", /* more data than the size */
		"3 \r\nabc\r\n0\r\n\r\n", /* space after the size */
		" 3\r\nabc\r\n0\r\n\r\n",
		"-3\r\nabc\r\n0\r\n\r\n",
		"0x3\r\nabc\r\n0\r\n\r\n",
		"3\r\r\nabc\r\n0\r\n\r\n",
		"11111111111111111\r\n", /* 17 hex digits: beyond 64 bits */
		"0\r\nfoo\r\n\r\n",	 /* trailer line without a colon */
		"0\r\nx-amz-meta:1\r\n\r\n",
		"0\r\n\r\n\r\n", /* bytes after the end */
	};
	for (size_t i = 0; i < sizeof(unsigned_bad) / sizeof(*unsigned_bad); i++) {
		struct sink s = {0};
		int rc = decode(NULL, UINT64_MAX, NULL, unsigned_bad[i], strlen(unsigned_bad[i]),
				NULL, 0, &s, NULL);
		if (rc != CN_EBADCHUNK)
			fail_msg("case %zu: %s", i, cn_errname(rc));
		free(s.p);
	}
	/* Sizes beyond the declared length are refused before any data. */
	const char *huge = "ffffffffffffffff\r\n";
	struct sink s = {0};
	assert_int_equal(decode(NULL, 1000, NULL, huge, strlen(huge), NULL, 0, &s, NULL),
			 CN_EBADCHUNK);
	/* Without a declared length a huge size is only incomplete... */
	assert_int_equal(decode(NULL, UINT64_MAX, NULL, huge, strlen(huge), NULL, 0, &s, NULL),
			 CN_EINCOMPLETE);
	/* ...until the running total would wrap. */
	const char *wrap = "1\r\na\r\nffffffffffffffff\r\n";
	assert_int_equal(decode(NULL, UINT64_MAX, NULL, wrap, strlen(wrap), NULL, 0, &s, NULL),
			 CN_EBADCHUNK);
	free(s.p);
	/* A header line longer than the bound. */
	char longline[400];
	memset(longline, '0', sizeof(longline));
	memset(&s, 0, sizeof(s));
	assert_int_equal(
		decode(NULL, UINT64_MAX, NULL, longline, sizeof(longline), NULL, 0, &s, NULL),
		CN_EBADCHUNK);
	/* Signed streams: the signature extension must be exact. */
	static const char *const signed_bad[] = {
		"3;chunk-signature=abc\r\n",
		"3;chunk-signatur="
		"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n",
		"3;chunk-signature="
		"zd80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n",
		"3;chunk-signature="
		"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648;"
		"x=1\r\n",
	};
	for (size_t i = 0; i < sizeof(signed_bad) / sizeof(*signed_bad); i++) {
		memset(&s, 0, sizeof(s));
		int rc = decode(&chain, UINT64_MAX, NULL, signed_bad[i], strlen(signed_bad[i]),
				NULL, 0, &s, NULL);
		if (rc != CN_EBADCHUNK)
			fail_msg("signed case %zu: %s", i, cn_errname(rc));
	}
	/* A plain streaming mode cannot carry a trailer. */
	struct awschunked d;
	assert_int_equal(awschunked_init(&d, &chain, 1, "x-amz-checksum-crc32"), CN_EBADARG);
}

static void test_callback_abort(void **state)
{
	(void)state;
	const char *plain = "3\r\nabc\r\n0\r\n\r\n";
	struct awschunked d;
	struct sink s = {.fail_with = CN_ENOSPACE};
	assert_int_equal(awschunked_init(&d, NULL, 3, NULL), 0);
	assert_int_equal(awschunked_feed(&d, plain, strlen(plain), sink_cb, &s), CN_ENOSPACE);
	assert_int_equal(awschunked_feed(&d, "", 0, sink_cb, &s), CN_ENOSPACE);
	assert_int_equal(awschunked_finish(&d), CN_ENOSPACE);
	awschunked_release(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doc_example),
		cmocka_unit_test(test_doc_example_splits),
		cmocka_unit_test(test_doc_example_tampered),
		cmocka_unit_test(test_signed_trailer_all_splits),
		cmocka_unit_test(test_trailer_failures),
		cmocka_unit_test(test_unsigned_trailer),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_callback_abort),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests_name("auth/chunked", tests, NULL, NULL);
}
