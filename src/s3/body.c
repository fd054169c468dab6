/*
 * s3/body.c — request bodies as the S3 handlers see them: aws-chunked
 * framing removed (chunk signatures and trailers verified by auth/chunked),
 * the declared length enforced, and the client's integrity claims
 * (Content-MD5, signed SHA-256, x-amz-checksum-*) checked against digests
 * the consumer computed in its single pass over the bytes.
 *
 * Delivery is push-style from the HTTP parser; a consumer that cannot keep
 * up pauses the HTTP request (backpressure) and resumes it later.
 */
#include "s3/s3_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/chunked.h"
#include "core/err.h"

static int deliver(struct s3_req *r, const char *data, size_t len)
{
	struct s3_body *b = &r->body;
	int rc;

	if (b->finished)
		return -1;
	if (b->expected != UINT64_MAX && len > b->expected - b->received) {
		b->err = CN_EBADCHUNK;
		return -1;
	}
	b->received += len;
	rc = b->sink(r, data, len);
	if (rc) {
		b->err = rc;
		return -1;
	}
	return 0;
}

static int chunk_cb(void *arg, const char *data, size_t len)
{
	return deliver(arg, data, len);
}

static void finish(struct s3_req *r, int err)
{
	struct s3_body *b = &r->body;

	if (b->finished)
		return;
	b->finished = 1;
	b->done(r, err);
}

static int on_body(struct http_request *h, const char *data, size_t len)
{
	struct s3_req *r = h->data;
	struct s3_body *b = &r->body;
	int rc;

	if (b->finished || r->done || (b->aws_chunked && !b->dec))
		return -1;
	if (b->aws_chunked)
		rc = awschunked_feed(b->dec, data, len, chunk_cb, r);
	else
		rc = deliver(r, data, len);
	if (rc) {
		finish(r, b->err ? b->err : (rc < 0 && rc != -1 ? rc : CN_EBADCHUNK));
		return -1;
	}
	return 0;
}

static void on_body_end(struct http_request *h, int err)
{
	struct s3_req *r = h->data;
	struct s3_body *b = &r->body;

	if (b->finished)
		return;
	if (err) {
		finish(r, err == CN_EBADREQ ? CN_EBADCHUNK : CN_EINCOMPLETE);
		return;
	}
	if (b->aws_chunked) {
		int rc = awschunked_finish(b->dec);
		if (rc) {
			finish(r, rc);
			return;
		}
	}
	if (b->expected != UINT64_MAX && b->received != b->expected) {
		finish(r, CN_EINCOMPLETE);
		return;
	}
	finish(r, 0);
}

void s3_body_release(struct s3_req *r)
{
	if (r->body.dec) {
		awschunked_release(r->body.dec);
		free(r->body.dec);
		r->body.dec = NULL;
	}
}

/* An InvalidArgument that says which integrity header was wrong. */
static int bad_header(struct s3_req *r, const char *msg)
{
	r->err_msg = msg;
	return CN_EBADARG;
}

int s3_body_prepare(struct s3_req *r, uint64_t *len_out)
{
	struct s3_body *b = &r->body;
	struct http_request *h = r->http;
	const char *trailer, *ce;
	int rc;

	memset(b, 0, sizeof(*b));
	b->expected = UINT64_MAX;
	ce = s3_header(r, "content-encoding");
	switch (r->auth.payload) {
	case SIGV4_PAYLOAD_STREAMING:
	case SIGV4_PAYLOAD_STREAMING_TRAILER:
	case SIGV4_PAYLOAD_STREAMING_UNSIGNED_TRAILER: b->aws_chunked = 1; break;
	default:
		/* Some clients send aws-chunked with UNSIGNED-PAYLOAD semantics
		 * only through Content-Encoding; the trailer mode names it. */
		if (ce && strncasecmp(ce, "aws-chunked", 11) == 0 && s3_header(r, "x-amz-trailer"))
			b->aws_chunked = 1;
		break;
	}
	if (b->aws_chunked) {
		const char *dl = s3_header(r, "x-amz-decoded-content-length");
		char *end;
		if (!dl)
			return CN_EMISSINGLEN;
		b->expected = strtoull(dl, &end, 10);
		if (*end || end == dl)
			return bad_header(r, "x-amz-decoded-content-length must be a decimal "
					     "number of bytes");
	} else if (h->has_content_length) {
		b->expected = h->content_length;
	} else if (!h->chunked) {
		b->expected = 0; /* no body */
	}
	/* Integrity headers are decoded into fixed buffers here, before any
	 * body byte is read: a value of the wrong shape is refused at once
	 * and can never write past its buffer. */
	const char *md5 = s3_header(r, "content-md5");
	if (md5) {
		if (cn_b64_decode(md5, strlen(md5), b->md5, sizeof(b->md5)) != 16)
			return CN_EBADMD5HDR;
		b->has_md5 = 1;
	}
	/* Additional checksum: a header value now, or a trailer later.
	 * CompleteMultipartUpload's x-amz-checksum-<alg> header is the whole
	 * object's (multipart.c checks it), not the XML body's. */
	for (int i = 0; i < h->n_headers && r->route.op != S3_OP_COMPLETE_MULTIPART; i++) {
		const struct http_header *hd = &h->headers[i];
		if (hd->name_len > 15 && strncasecmp(hd->name, "x-amz-checksum-", 15) == 0 &&
		    strcasecmp(hd->name, "x-amz-checksum-type") != 0 &&
		    strcasecmp(hd->name, "x-amz-checksum-algorithm") != 0) {
			enum cn_checksum_alg a =
				cn_checksum_alg_parse(hd->name + 15, hd->name_len - 15);
			long n;
			if (a == CN_CK_NONE)
				return bad_header(r, S3_MSG_CK_UNSUPPORTED);
			/* S3 takes exactly one checksum; verifying only the last of
			 * several would silently skip the others. */
			if (b->ck_alg)
				return bad_header(r, "Expecting a single x-amz-checksum- header. "
						     "Multiple checksum Types are not allowed.");
			n = cn_b64_decode(hd->value, hd->value_len, b->ck_want, sizeof(b->ck_want));
			if (n < 0 || (size_t)n != cn_checksum_alg_len(a))
				return CN_EBADCKVALUE;
			b->ck_alg = a;
			b->ck_have = 1;
		}
	}
	trailer = s3_header(r, "x-amz-trailer");
	if (trailer && b->ck_alg && strncasecmp(trailer, "x-amz-checksum-", 15) == 0)
		return bad_header(r, "Expecting a single x-amz-checksum- header or trailer, "
				     "not both");
	if (trailer && !b->ck_alg) {
		if (strncasecmp(trailer, "x-amz-checksum-", 15) != 0)
			return bad_header(r, "x-amz-trailer may only name an x-amz-checksum- "
					     "trailer");
		b->ck_alg = cn_checksum_alg_parse(trailer + 15, strlen(trailer + 15));
		if (b->ck_alg == CN_CK_NONE)
			return bad_header(r, S3_MSG_CK_UNSUPPORTED);
		b->ck_trailer = 1;
	}
	/* The SDK's announcement of the algorithm it uses must name the one
	 * its header or trailer carries (as S3: a checksum announced and not
	 * sent would go unchecked, and one sent under another name is a
	 * client bug that storing would hide). */
	const char *sdk = s3_header(r, "x-amz-sdk-checksum-algorithm");
	if (sdk && r->route.op != S3_OP_COMPLETE_MULTIPART) {
		enum cn_checksum_alg a = cn_checksum_alg_parse(sdk, strlen(sdk));
		if (a == CN_CK_NONE)
			return bad_header(r, S3_MSG_CK_UNSUPPORTED);
		if (!b->ck_alg) {
			r->err_msg = "x-amz-sdk-checksum-algorithm specified, but no corresponding "
				     "x-amz-checksum-* or x-amz-trailer headers were found.";
			return CN_ECKMISMATCH;
		}
		if (a != b->ck_alg) {
			r->err_msg = "Value for x-amz-sdk-checksum-algorithm header is invalid.";
			return CN_ECKMISMATCH;
		}
	}
	/* S3 gives an object uploaded without a checksum its default one,
	 * CRC64NVME, computed as the body arrives: every object can then be
	 * checked end to end by a client that asks (x-amz-checksum-mode). */
	if (!b->ck_alg && r->route.op == S3_OP_PUT_OBJECT)
		b->ck_alg = CN_CK_CRC64NVME;
	if (b->aws_chunked) {
		b->dec = calloc(1, sizeof(*b->dec));
		if (!b->dec)
			return CN_ENOMEM;
		rc = awschunked_init(b->dec, &r->auth, b->expected, trailer);
		if (rc) {
			free(b->dec);
			b->dec = NULL;
			return rc;
		}
	}
	*len_out = b->expected;
	return 0;
}

void s3_body_start(struct s3_req *r, s3_sink_fn sink, s3_body_done_fn done)
{
	struct s3_body *b = &r->body;

	b->sink = sink;
	b->done = done;
	r->http->on_body = on_body;
	r->http->on_body_end = on_body_end;
	if (r->http->body_done && !b->finished) {
		/* The body was empty and already complete. */
		on_body_end(r->http, 0);
	}
}

int s3_body_declares_digest(struct s3_req *r)
{
	const char *t = s3_header(r, "x-amz-trailer");
	struct http_request *h = r->http;

	if (s3_header(r, "content-md5"))
		return 1;
	if (t && strncasecmp(t, "x-amz-checksum-", 15) == 0)
		return 1;
	for (int i = 0; i < h->n_headers; i++) {
		const struct http_header *hd = &h->headers[i];
		if (hd->name_len > 15 && strncasecmp(hd->name, "x-amz-checksum-", 15) == 0 &&
		    cn_checksum_alg_parse(hd->name + 15, hd->name_len - 15) != CN_CK_NONE)
			return 1;
	}
	return 0;
}

unsigned s3_body_digests(struct s3_req *r)
{
	unsigned d = CN_DIG_MD5;

	if (r->auth.payload == SIGV4_PAYLOAD_SIGNED)
		d |= CN_DIG_SHA256;
	if (r->body.ck_alg)
		d |= cn_checksum_alg_digest(r->body.ck_alg);
	return d;
}

int s3_body_verify(struct s3_req *r, const struct cn_digest_result *d)
{
	struct s3_body *b = &r->body;
	int rc;

	if (b->has_md5 && memcmp(b->md5, d->md5, 16) != 0)
		return CN_EBADDIGEST;
	rc = sigv4_payload_check(&r->auth, d->sha256);
	if (rc)
		return rc;
	if (b->ck_alg) {
		uint8_t got[CN_CHECKSUM_MAX];
		size_t gl = cn_checksum_raw(b->ck_alg, d, got);
		const uint8_t *want = b->ck_have ? b->ck_want : NULL;
		size_t wl = gl;
		if (b->ck_trailer && b->dec) {
			/* the trailer is mandatory once announced */
			if (b->dec->checksum_alg == CN_CK_NONE)
				return CN_EBADCHECKSUM;
			want = b->dec->checksum_raw;
			wl = b->dec->checksum_len;
		}
		if (want && (wl != gl || memcmp(want, got, gl) != 0))
			return CN_EBADCHECKSUM;
	}
	s3_body_release(r);
	return 0;
}

/* ---- small bodies (XML requests) ---- */

struct small {
	char *buf;
	size_t len, max;
	s3_small_body_fn cb;
	struct cn_digest dig;
};

static int small_sink(struct s3_req *r, const char *data, size_t len)
{
	struct small *s = r->op;
	if (len > s->max - s->len)
		return CN_ETOOBIG;
	memcpy(s->buf + s->len, data, len);
	s->len += len;
	return 0;
}

static void small_done(struct s3_req *r, int err)
{
	struct small *s = r->op;
	struct cn_digest_result d;

	if (!err) {
		if (cn_digest_init(&s->dig, s3_body_digests(r)) == 0) {
			cn_digest_update(&s->dig, s->buf, s->len);
			cn_digest_final(&s->dig, &d);
			cn_digest_release(&s->dig);
			err = s3_body_verify(r, &d);
		} else {
			err = CN_ENOMEM;
		}
	}
	s3_body_release(r);
	s->buf[s->len] = 0;
	r->op = NULL;
	s->cb(r, err == CN_ETOOBIG ? CN_EBADXML : err, s->buf, s->len);
}

void s3_body_read_small(struct s3_req *r, size_t max, s3_small_body_fn cb)
{
	struct small *s;
	uint64_t len;
	int rc;

	if (r->has_pre_body) {
		r->has_pre_body = 0;
		if (r->pre_len > max)
			cb(r, CN_EBADXML, NULL, 0);
		else
			cb(r, 0, r->pre_body, r->pre_len);
		return;
	}
	rc = s3_body_prepare(r, &len);
	if (rc) {
		cb(r, rc, NULL, 0);
		return;
	}
	if (len != UINT64_MAX && len > max) {
		s3_body_release(r);
		cb(r, CN_EBADXML, NULL, 0);
		return;
	}
	s = cn_pool_zalloc(r->pool, sizeof(*s));
	if (s)
		s->buf = cn_pool_alloc(r->pool, max + 1);
	if (!s || !s->buf) {
		s3_body_release(r);
		cb(r, CN_ENOMEM, NULL, 0);
		return;
	}
	s->max = max;
	s->cb = cb;
	r->op = s;
	s3_body_start(r, small_sink, small_done);
}
