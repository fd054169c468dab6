/*
 * auth/chunked.c — aws-chunked body decoder: a byte-exact state machine.
 *
 * Layer: auth. Format in chunked.h. Each state names what the next input
 * byte must be:
 *
 *   HEADER --CRLF, size>0--> DATA --all bytes--> DATA_CR --\r--> DATA_LF --\n--> HEADER
 *   HEADER --CRLF, size=0--> TRAILER --empty line, all verified--> DONE
 *   any --bad input--> error (sticky)
 *
 * Chunk signatures are checked the moment a chunk's data is complete (for
 * the final chunk: when its header line ends), the trailer checksum and
 * trailer signature when the empty line ends the trailer.
 */
#include "auth/chunked.h"

#include <string.h>
#include <strings.h>

#include "core/digest.h"
#include "core/err.h"

enum {
	ST_HEADER,
	ST_DATA,
	ST_DATA_CR,
	ST_DATA_LF,
	ST_TRAILER,
	ST_DONE,
};

#define SIG_EXT ";chunk-signature="
#define CK_PREFIX "x-amz-checksum-"
#define TRAILER_SIG "x-amz-trailer-signature"

static int lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

/* Copies 64 hex digits, lower-cased, into out. Returns 0 or -1. */
static int take_sig(const char *s, size_t len, char out[65])
{
	if (len != 64)
		return -1;
	for (size_t i = 0; i < 64; i++) {
		if (cn_hexval((unsigned char)s[i]) < 0)
			return -1;
		out[i] = (char)lower((unsigned char)s[i]);
	}
	out[64] = '\0';
	return 0;
}

static enum cn_checksum_alg checksum_name(const char *s, size_t len)
{
	size_t plen = sizeof(CK_PREFIX) - 1;
	if (len <= plen)
		return CN_CK_NONE;
	for (size_t i = 0; i < plen; i++)
		if (lower((unsigned char)s[i]) != CK_PREFIX[i])
			return CN_CK_NONE;
	return cn_checksum_alg_parse(s + plen, len - plen);
}

int awschunked_init(struct awschunked *d, const struct sigv4_result *auth, uint64_t decoded_len,
		    const char *expected_trailer)
{
	int rc;
	memset(d, 0, sizeof(*d));
	d->decoded_len = decoded_len;
	d->state = ST_HEADER;
	if (expected_trailer) {
		const char *t = expected_trailer;
		size_t tlen = strlen(t);
		while (tlen && (*t == ' ' || *t == '\t')) {
			t++;
			tlen--;
		}
		while (tlen && (t[tlen - 1] == ' ' || t[tlen - 1] == '\t'))
			tlen--;
		if (tlen) {
			d->want = checksum_name(t, tlen);
			if (d->want == CN_CK_NONE)
				return CN_EBADARG;
		}
	}
	d->trailer_mode = d->want ? AWSCHUNKED_TRAILER_UNSIGNED : AWSCHUNKED_TRAILER_NONE;
	if (auth) {
		switch (auth->payload) {
		case SIGV4_PAYLOAD_STREAMING:
			if (d->want)
				return CN_EBADARG;
			d->sign_chunks = 1;
			break;
		case SIGV4_PAYLOAD_STREAMING_TRAILER:
			d->sign_chunks = 1;
			d->trailer_mode = AWSCHUNKED_TRAILER_SIGNED;
			break;
		case SIGV4_PAYLOAD_STREAMING_UNSIGNED_TRAILER:
			d->trailer_mode = AWSCHUNKED_TRAILER_UNSIGNED;
			break;
		default: break; /* aws-chunked framing without chunk signatures */
		}
		if (d->sign_chunks) {
			d->auth = *auth;
			memcpy(d->prev_sig, auth->seed_signature, 65);
		}
	}
	if (d->want) {
		rc = cn_digest_init(&d->payload_hash, cn_checksum_alg_digest(d->want));
		if (rc)
			return rc;
		d->payload_hash_live = 1;
	}
	if (d->trailer_mode == AWSCHUNKED_TRAILER_SIGNED) {
		rc = cn_digest_init(&d->trailer_hash, CN_DIG_SHA256);
		if (rc) {
			awschunked_release(d);
			return rc;
		}
		d->trailer_hash_live = 1;
	}
	return 0;
}

void awschunked_release(struct awschunked *d)
{
	if (d->chunk_hash_live)
		cn_digest_release(&d->chunk_hash);
	if (d->payload_hash_live)
		cn_digest_release(&d->payload_hash);
	if (d->trailer_hash_live)
		cn_digest_release(&d->trailer_hash);
	d->chunk_hash_live = d->payload_hash_live = d->trailer_hash_live = 0;
	explicit_bzero(&d->auth, sizeof(d->auth));
}

/* Ends the current chunk: compares its signature with the one computed over
 * the data just seen, then chains it. */
static int end_chunk(struct awschunked *d)
{
	struct cn_digest_result r;
	char want[65];
	if (!d->sign_chunks)
		return 0;
	cn_digest_final(&d->chunk_hash, &r);
	cn_digest_release(&d->chunk_hash);
	d->chunk_hash_live = 0;
	sigv4_chunk_sign(&d->auth, d->prev_sig, r.sha256, want);
	if (cn_memcmp_ct(want, d->claimed_sig, 64) != 0)
		return CN_EBADSIG;
	memcpy(d->prev_sig, d->claimed_sig, 65);
	return 0;
}

/* "hex-size[;ext]" — the CRLF is already stripped. */
static int chunk_header(struct awschunked *d, const char *s, size_t len)
{
	uint64_t size = 0;
	size_t i = 0;
	int rc;

	for (; i < len && cn_hexval((unsigned char)s[i]) >= 0; i++) {
		if (i == 16)
			return CN_EBADCHUNK; /* beyond 64 bits */
		size = size << 4 | (uint64_t)cn_hexval((unsigned char)s[i]);
	}
	if (i == 0 || (i < len && s[i] != ';'))
		return CN_EBADCHUNK;
	if (d->sign_chunks) {
		size_t elen = sizeof(SIG_EXT) - 1;
		if (len - i != elen + 64 || memcmp(s + i, SIG_EXT, elen) != 0 ||
		    take_sig(s + i + elen, 64, d->claimed_sig))
			return CN_EBADCHUNK;
	} /* unsigned chunks: extensions carry nothing we check */
	if (size > UINT64_MAX - d->total)
		return CN_EBADCHUNK;
	if (d->decoded_len != UINT64_MAX && d->total + size > d->decoded_len)
		return CN_EBADCHUNK; /* more data than declared */
	if (d->sign_chunks) {
		if ((rc = cn_digest_init(&d->chunk_hash, CN_DIG_SHA256)))
			return rc;
		d->chunk_hash_live = 1;
	}
	if (size == 0) {
		if ((rc = end_chunk(d)))
			return rc;
		if (d->decoded_len != UINT64_MAX && d->total != d->decoded_len)
			return CN_EINCOMPLETE;
		d->state = ST_TRAILER;
		return 0;
	}
	d->chunk_left = size;
	d->state = ST_DATA;
	return 0;
}

/* The empty line after the trailers: everything declared must have come
 * and must verify. */
static int end_trailer(struct awschunked *d)
{
	struct cn_digest_result r;
	uint8_t raw[32];
	if (d->want && d->checksum_alg == CN_CK_NONE)
		return CN_EBADCHUNK; /* x-amz-trailer promised a checksum */
	if (d->trailer_mode == AWSCHUNKED_TRAILER_SIGNED) {
		char want[65];
		if (!d->got_trailer_sig)
			return CN_EBADSIG;
		cn_digest_final(&d->trailer_hash, &r);
		cn_digest_release(&d->trailer_hash);
		d->trailer_hash_live = 0;
		sigv4_trailer_sign(&d->auth, d->prev_sig, r.sha256, want);
		if (cn_memcmp_ct(want, d->claimed_sig, 64) != 0)
			return CN_EBADSIG;
	}
	if (d->want) {
		cn_digest_final(&d->payload_hash, &r);
		cn_digest_release(&d->payload_hash);
		d->payload_hash_live = 0;
		size_t n = cn_checksum_raw(d->want, &r, raw);
		if (n != d->checksum_len || memcmp(raw, d->checksum_raw, n) != 0)
			return CN_EBADCHECKSUM;
	}
	d->state = ST_DONE;
	return 0;
}

/* One "name:value" trailer line (CRLF stripped). */
static int trailer_line(struct awschunked *d, const char *s, size_t len)
{
	const char *colon = memchr(s, ':', len);
	size_t nlen, vlen;
	const char *v;
	if (!colon || d->got_trailer_sig)
		return CN_EBADCHUNK; /* the signature must be the last line */
	nlen = (size_t)(colon - s);
	v = colon + 1;
	vlen = len - nlen - 1;
	while (vlen && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;

	if (nlen == sizeof(TRAILER_SIG) - 1 && strncasecmp(s, TRAILER_SIG, nlen) == 0) {
		if (d->trailer_mode != AWSCHUNKED_TRAILER_SIGNED ||
		    take_sig(v, vlen, d->claimed_sig))
			return CN_EBADCHUNK;
		d->got_trailer_sig = 1;
		return 0;
	}
	enum cn_checksum_alg a = checksum_name(s, nlen);
	if (a == CN_CK_NONE || a != d->want || d->checksum_alg != CN_CK_NONE)
		return CN_EBADCHUNK; /* undeclared, unknown or repeated trailer */
	if (vlen == 0 || vlen >= sizeof(d->checksum_b64))
		return CN_EBADCKVALUE;
	long n = cn_b64_decode(v, vlen, d->checksum_raw, sizeof(d->checksum_raw));
	if (n < 0 || (size_t)n != cn_checksum_alg_len(a))
		return CN_EBADCKVALUE;
	d->checksum_len = (size_t)n;
	memcpy(d->checksum_b64, v, vlen);
	d->checksum_b64[vlen] = '\0';
	d->checksum_alg = a;
	if (d->trailer_hash_live) {
		cn_digest_update(&d->trailer_hash, s, len);
		cn_digest_update(&d->trailer_hash, "\n", 1);
	}
	return 0;
}

/* A complete line (CRLF stripped) in HEADER or TRAILER state. */
static int line_done(struct awschunked *d)
{
	const char *s = d->line;
	size_t len = d->line_len;
	d->line_len = 0;
	if (d->state == ST_HEADER)
		return chunk_header(d, s, len);
	if (len == 0)
		return end_trailer(d);
	return trailer_line(d, s, len);
}

static int feed(struct awschunked *d, const char *buf, size_t len, awschunked_data_cb cb, void *arg)
{
	size_t i = 0;
	int rc;
	while (i < len) {
		switch (d->state) {
		case ST_HEADER:
		case ST_TRAILER: {
			/* Lines end in CRLF; a bare LF or CR is malformed. */
			char c = buf[i++];
			if (c == '\n') {
				if (d->line_len == 0 || d->line[d->line_len - 1] != '\r')
					return CN_EBADCHUNK;
				d->line_len--;
				if ((rc = line_done(d)))
					return rc;
				break;
			}
			if (d->line_len && d->line[d->line_len - 1] == '\r')
				return CN_EBADCHUNK;
			if (d->line_len == sizeof(d->line))
				return CN_EBADCHUNK;
			d->line[d->line_len++] = c;
			break;
		}
		case ST_DATA: {
			size_t n = len - i;
			if (n > d->chunk_left)
				n = (size_t)d->chunk_left;
			if (d->chunk_hash_live)
				cn_digest_update(&d->chunk_hash, buf + i, n);
			if (d->payload_hash_live)
				cn_digest_update(&d->payload_hash, buf + i, n);
			d->chunk_left -= n;
			d->total += n;
			if (cb && (rc = cb(arg, buf + i, n)))
				return rc < 0 ? rc : CN_EINTERNAL;
			i += n;
			if (d->chunk_left == 0) {
				if ((rc = end_chunk(d)))
					return rc;
				d->state = ST_DATA_CR;
			}
			break;
		}
		case ST_DATA_CR:
			if (buf[i++] != '\r')
				return CN_EBADCHUNK;
			d->state = ST_DATA_LF;
			break;
		case ST_DATA_LF:
			if (buf[i++] != '\n')
				return CN_EBADCHUNK;
			d->state = ST_HEADER;
			break;
		default: /* ST_DONE: nothing may follow the body */ return CN_EBADCHUNK;
		}
	}
	return 0;
}

int awschunked_feed(struct awschunked *d, const char *buf, size_t len, awschunked_data_cb cb,
		    void *arg)
{
	if (d->err)
		return d->err;
	d->err = feed(d, buf, len, cb, arg);
	return d->err;
}

int awschunked_finish(struct awschunked *d)
{
	if (d->err)
		return d->err;
	if (d->state != ST_DONE)
		d->err = CN_EINCOMPLETE;
	return d->err;
}
