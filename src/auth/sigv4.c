/*
 * auth/sigv4.c — AWS Signature Version 4 for S3 (header and presigned forms).
 *
 * Layer: auth. Steps follow the AWS S3 "Signature Calculations for the
 * Authorization Header" and "Authenticating Requests: Using Query Parameters"
 * documents; each is named where it is implemented.
 *
 * Invariants: every byte of the request is untrusted — lengths are bounded,
 * parse failures are error codes, never asserts. The canonical request is
 * built in one struct cn_buf bounded by CANON_MAX. The secret lives on the
 * stack only while the signing key is derived and is wiped afterwards.
 */
#include "auth/sigv4.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/digest.h"
#include "core/err.h"
#include "core/fmt.h"

#define ALGO "AWS4-HMAC-SHA256"
#define CANON_MAX (1u << 20)   /* far above anything a sane request produces */
#define MAX_SIGNED_HEADERS 128 /* as many as the HTTP layer takes */
#define MAX_QUERY_PARAMS 1024

/* ---- the canonical request is built in a struct cn_buf ---- */

static int sb_put(struct cn_buf *b, const void *s, size_t len)
{
	cn_buf_put(b, s, len);
	return b->err;
}

static int sb_str(struct cn_buf *b, const char *s)
{
	return sb_put(b, s, strlen(s));
}

static int sb_chr(struct cn_buf *b, char c)
{
	return sb_put(b, &c, 1);
}

/* ---- character helpers ---- */

static int lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

static int is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

static int ieqn(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return 0;
	for (size_t i = 0; i < alen; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return 0;
	return 1;
}

static int ieq(const char *a, size_t alen, const char *b)
{
	return ieqn(a, alen, b, strlen(b));
}

static int is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Parses 2*n hex digits into n bytes. Returns 0 or -1. */
static int unhex(const char *s, size_t len, uint8_t *out, size_t n)
{
	if (len != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int hi = cn_hexval((unsigned char)s[2 * i]),
		    lo = cn_hexval((unsigned char)s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* SigV4 UriEncode(): every byte but the unreserved set (and '/' when
 * keep_slash) becomes %XX with upper-case hex. Runs that stay as they are
 * go in one write: a key is mostly such a run. */
static int uri_encode(struct cn_buf *b, const uint8_t *s, size_t len, int keep_slash)
{
	static const char hx[] = "0123456789ABCDEF";
	size_t i = 0, j;
	int rc;

	while (i < len) {
		for (j = i; j < len && (is_unreserved(s[j]) || (keep_slash && s[j] == '/')); j++)
			;
		if (j > i && (rc = sb_put(b, s + i, j - i)))
			return rc;
		if (j == len)
			break;
		char e[3] = {'%', hx[s[j] >> 4], hx[s[j] & 15]};
		if ((rc = sb_put(b, e, 3)))
			return rc;
		i = j + 1;
	}
	return 0;
}

/* Percent-decodes s into out (at least len bytes). plus_is_space applies to
 * query components (form encoding). Returns the decoded length or -1. */
static long pct_decode(const char *s, size_t len, uint8_t *out, int plus_is_space)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%') {
			if (i + 2 >= len)
				return -1;
			int hi = cn_hexval((unsigned char)s[i + 1]),
			    lo = cn_hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			out[o++] = (uint8_t)(hi << 4 | lo);
			i += 2;
		} else if (plus_is_space && s[i] == '+') {
			out[o++] = ' ';
		} else {
			out[o++] = (uint8_t)s[i];
		}
	}
	return (long)o;
}

/* Decodes then re-encodes one component into b. */
static int reencode(struct cn_buf *b, const char *s, size_t len, int is_query)
{
	uint8_t stackbuf[512];
	uint8_t *tmp;
	int rc;

	/* nothing to decode: encode it as it is */
	if (!memchr(s, '%', len) && (!is_query || !memchr(s, '+', len)))
		return uri_encode(b, (const uint8_t *)s, len, !is_query);
	tmp = len <= sizeof(stackbuf) ? stackbuf : malloc(len);
	if (!tmp)
		return CN_ENOMEM;
	long n = pct_decode(s, len, tmp, is_query);
	rc = n < 0 ? CN_EBADREQ : uri_encode(b, tmp, (size_t)n, !is_query);
	if (tmp != stackbuf)
		free(tmp);
	return rc;
}

/* ---- dates ---- */

static int digits(const char *s, size_t n, int *out)
{
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static int mk_time(int y, int mo, int d, int h, int mi, int s, time_t *t)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
	    mi > 59 || s > 60)
		return CN_EBADDATE;
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (mo == 2 && d == 29 && !leap)
		return CN_EBADDATE;
	/* not timegm: its time-zone machinery was ~1.4k instructions of every
	 * request's ~60k (callgrind); a leap second 60 runs into the next
	 * minute, as timegm normalizes it */
	*t = (time_t)(cn_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s);
	return 0;
}

int sigv4_parse_amz_date(const char *s, size_t len, time_t *t)
{
	int y, mo, d, h, mi, sec;
	if (len != 16 || s[8] != 'T' || s[15] != 'Z')
		return CN_EBADDATE;
	if (digits(s, 4, &y) || digits(s + 4, 2, &mo) || digits(s + 6, 2, &d) ||
	    digits(s + 9, 2, &h) || digits(s + 11, 2, &mi) || digits(s + 13, 2, &sec))
		return CN_EBADDATE;
	return mk_time(y, mo, d, h, mi, sec, t);
}

void sigv4_format_amz_date(time_t t, char out[17])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	if (strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
		memcpy(out, "19700101T000000Z", 17); /* years past 9999 */
}

/* RFC 1123 "Fri, 24 May 2013 00:00:00 GMT", the only Date form SigV4
 * clients send. */
static int parse_http_date(const char *s, size_t len, time_t *t)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	int d, y, h, mi, sec, mo = 0;
	if (len != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
	    s[16] != ' ' || s[19] != ':' || s[22] != ':' || s[25] != ' ' ||
	    memcmp(s + 26, "GMT", 3) != 0)
		return CN_EBADDATE;
	for (int i = 0; i < 12; i++)
		if (memcmp(s + 8, months + 3 * i, 3) == 0)
			mo = i + 1;
	if (!mo || digits(s + 5, 2, &d) || digits(s + 12, 4, &y) || digits(s + 17, 2, &h) ||
	    digits(s + 20, 2, &mi) || digits(s + 23, 2, &sec))
		return CN_EBADDATE;
	return mk_time(y, mo, d, h, mi, sec, t);
}

/* ---- signing-key cache ---- */

struct keyslot {
	int used;
	uint64_t last_use;
	char access_key[SIGV4_MAX_ACCESS_KEY + 1];
	char date[9];
	char region[SIGV4_MAX_REGION + 1];
	uint8_t secret_fp[32]; /* SHA-256 of the secret: a rotated secret misses */
	uint8_t key[32];
};

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct keyslot cache[SIGV4_CACHE_SLOTS];
static uint64_t cache_tick, cache_hits, cache_misses;

static void derive_key(const char *secret, const char *date, const char *region, uint8_t key[32])
{
	char k0[4 + SIGV4_MAX_SECRET + 1];
	size_t slen = strnlen(secret, SIGV4_MAX_SECRET);
	uint8_t a[32], b[32];
	memcpy(k0, "AWS4", 4);
	memcpy(k0 + 4, secret, slen);
	/* SigV4 task 3: kDate, kRegion, kService, kSigning */
	cn_hmac_sha256(k0, 4 + slen, date, strlen(date), a);
	cn_hmac_sha256(a, 32, region, strlen(region), b);
	cn_hmac_sha256(b, 32, "s3", 2, a);
	cn_hmac_sha256(a, 32, "aws4_request", 12, key);
	explicit_bzero(k0, sizeof(k0));
	explicit_bzero(a, sizeof(a));
	explicit_bzero(b, sizeof(b));
}

void sigv4_signing_key(const char *access_key, const char *secret, const char *date,
		       const char *region, uint8_t key[32])
{
	uint8_t fp[32];
	struct keyslot *victim = &cache[0];
	int cacheable = strlen(access_key) <= SIGV4_MAX_ACCESS_KEY && strlen(date) == 8 &&
			strlen(region) <= SIGV4_MAX_REGION;

	cn_sha256(secret, strnlen(secret, SIGV4_MAX_SECRET), fp);
	if (cacheable) {
		pthread_mutex_lock(&cache_mu);
		for (int i = 0; i < SIGV4_CACHE_SLOTS; i++) {
			struct keyslot *s = &cache[i];
			if (s->used && strcmp(s->access_key, access_key) == 0 &&
			    strcmp(s->date, date) == 0 && strcmp(s->region, region) == 0 &&
			    cn_memcmp_ct(s->secret_fp, fp, 32) == 0) {
				s->last_use = ++cache_tick;
				memcpy(key, s->key, 32);
				cache_hits++;
				pthread_mutex_unlock(&cache_mu);
				return;
			}
		}
		cache_misses++;
		pthread_mutex_unlock(&cache_mu);
	}
	derive_key(secret, date, region, key);
	if (!cacheable)
		return;
	pthread_mutex_lock(&cache_mu);
	for (int i = 0; i < SIGV4_CACHE_SLOTS; i++) {
		if (!cache[i].used) {
			victim = &cache[i];
			break;
		}
		if (cache[i].last_use < victim->last_use)
			victim = &cache[i];
	}
	victim->used = 1;
	victim->last_use = ++cache_tick;
	strcpy(victim->access_key, access_key);
	strcpy(victim->date, date);
	strcpy(victim->region, region);
	memcpy(victim->secret_fp, fp, 32);
	memcpy(victim->key, key, 32);
	pthread_mutex_unlock(&cache_mu);
}

void sigv4_cache_stats(uint64_t *hits, uint64_t *misses)
{
	pthread_mutex_lock(&cache_mu);
	*hits = cache_hits;
	*misses = cache_misses;
	pthread_mutex_unlock(&cache_mu);
}

void sigv4_cache_clear(void)
{
	pthread_mutex_lock(&cache_mu);
	explicit_bzero(cache, sizeof(cache));
	cache_hits = cache_misses = cache_tick = 0;
	pthread_mutex_unlock(&cache_mu);
}

/* ---- request helpers ---- */

static const struct sigv4_header *find_header(const struct sigv4_request *req, const char *name)
{
	size_t nlen = strlen(name);

	for (size_t i = 0; i < req->n_headers; i++)
		if (ieqn(req->headers[i].name, req->headers[i].name_len, name, nlen))
			return &req->headers[i];
	return NULL;
}

static void trim(const char **s, size_t *len)
{
	while (*len && is_space(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len && is_space((*s)[*len - 1]))
		(*len)--;
}

/* Appends a header value trimmed, with inner runs of spaces collapsed
 * (each run of other bytes in one write). */
static int put_header_value(struct cn_buf *b, const char *v, size_t len)
{
	size_t i = 0, j;
	int rc;

	trim(&v, &len);
	while (i < len) {
		for (j = i; j < len && !is_space(v[j]); j++)
			;
		if ((rc = sb_put(b, v + i, j - i)))
			return rc;
		if (j == len)
			break;
		while (j + 1 < len && is_space(v[j + 1]))
			j++;
		if ((rc = sb_chr(b, ' ')))
			return rc;
		i = j + 1;
	}
	return 0;
}

/* SigV4 task 1: canonical headers, one "name:value\n" per signed name. */
static int put_canonical_headers(struct cn_buf *b, const struct sigv4_request *req, const char *sh,
				 size_t sh_len)
{
	size_t pos = 0, n = 0;
	int rc;
	if (sh_len == 0)
		return CN_EBADAUTH;
	while (pos <= sh_len) {
		size_t end = pos;
		while (end < sh_len && sh[end] != ';')
			end++;
		size_t nlen = end - pos;
		if (nlen == 0 || ++n > MAX_SIGNED_HEADERS)
			return CN_EBADAUTH;
		for (size_t i = pos; i < end; i++) {
			unsigned char c = (unsigned char)sh[i];
			if (c <= ' ' || c >= 127 || c == ':' || (c >= 'A' && c <= 'Z'))
				return CN_EBADAUTH;
		}
		if ((rc = sb_put(b, sh + pos, nlen)) || (rc = sb_chr(b, ':')))
			return rc;
		int found = 0;
		for (size_t i = 0; i < req->n_headers; i++) {
			const struct sigv4_header *h = &req->headers[i];
			if (h->name_len != nlen)
				continue;
			size_t k = 0;
			while (k < nlen && lower((unsigned char)h->name[k]) == sh[pos + k])
				k++;
			if (k != nlen)
				continue;
			if (found++ && (rc = sb_chr(b, ',')))
				return rc;
			if ((rc = put_header_value(b, h->value, h->value_len)))
				return rc;
		}
		if (!found)
			return CN_EBADAUTH; /* SignedHeaders names a header not sent */
		if ((rc = sb_chr(b, '\n')))
			return rc;
		pos = end + 1;
	}
	return 0;
}

struct qparam {
	char *name; /* encoded, NUL-terminated, both in one allocation */
	char *value;
};

static int qparam_cmp(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->value, y->value);
}

/* SigV4 task 1: canonical query string — decode each name and value,
 * re-encode ('/' too), sort by name then value, join with '&'. as_sent keeps
 * each name and value as on the wire (see check_signature). */
static int put_canonical_query(struct cn_buf *b, const char *q, size_t qlen, int skip_signature,
			       int as_sent)
{
	struct qparam *params = NULL;
	size_t n = 0, pos = 0;
	int rc = 0;

	if (!q || qlen == 0)
		return 0;
	while (pos <= qlen && !rc) {
		size_t end = pos, eq;
		while (end < qlen && q[end] != '&')
			end++;
		eq = pos;
		while (eq < end && q[eq] != '=')
			eq++;
		if (end == pos)
			goto next; /* "a=1&&b=2" */
		if (skip_signature && eq - pos == 15 && memcmp(q + pos, "X-Amz-Signature", 15) == 0)
			goto next;
		if (n == MAX_QUERY_PARAMS) {
			rc = CN_EBADREQ;
			break;
		}
		if (n % 16 == 0) {
			struct qparam *np = realloc(params, (n + 16) * sizeof(*np));
			if (!np) {
				rc = CN_ENOMEM;
				break;
			}
			params = np;
		}
		struct cn_buf nb = {.max = CANON_MAX};
		rc = as_sent ? sb_put(&nb, q + pos, eq - pos) : reencode(&nb, q + pos, eq - pos, 1);
		size_t nlen = nb.len;
		if (!rc)
			rc = sb_chr(&nb, '\0');
		if (!rc && eq < end)
			rc = as_sent ? sb_put(&nb, q + eq + 1, end - eq - 1)
				     : reencode(&nb, q + eq + 1, end - eq - 1, 1);
		if (!rc)
			rc = sb_chr(&nb, '\0'); /* also makes p non-NULL for empty names */
		if (rc) {
			free(nb.s);
			break;
		}
		params[n].name = nb.s;
		params[n].value = nb.s + nlen + 1;
		n++;
	next:
		pos = end + 1;
	}
	if (!rc && n)
		qsort(params, n, sizeof(*params), qparam_cmp);
	for (size_t i = 0; i < n && !rc; i++) {
		if (i)
			rc = sb_chr(b, '&');
		if (!rc)
			rc = sb_str(b, params[i].name);
		if (!rc)
			rc = sb_chr(b, '=');
		if (!rc)
			rc = sb_str(b, params[i].value);
	}
	for (size_t i = 0; i < n; i++)
		free(params[i].name);
	free(params);
	return rc;
}

/* as_sent: the path, and each query name and value, exactly as on the wire,
 * not decoded and encoded again (see check_signature). */
static int canonical_request(const struct sigv4_request *req, const char *signed_headers,
			     size_t signed_headers_len, const char *payload_hash,
			     size_t payload_hash_len, int skip_signature, int as_sent, char **out,
			     size_t *out_len)
{
	struct cn_buf b = {.max = CANON_MAX};
	int rc;

	*out = NULL;
	*out_len = 0;
	if (!req->method || !req->method[0])
		return CN_EBADREQ;
	/* HTTPMethod */
	if ((rc = sb_str(&b, req->method)) || (rc = sb_chr(&b, '\n')))
		goto fail;
	/* CanonicalURI: S3 neither normalises nor double-encodes the path */
	if (req->path_len == 0) {
		rc = sb_chr(&b, '/');
	} else if (req->path[0] != '/') {
		rc = CN_EBADREQ;
	} else if (as_sent) {
		rc = sb_put(&b, req->path, req->path_len);
	} else {
		rc = reencode(&b, req->path, req->path_len, 0);
	}
	if (rc || (rc = sb_chr(&b, '\n')))
		goto fail;
	/* CanonicalQueryString */
	if ((rc = put_canonical_query(&b, req->query, req->query_len, skip_signature, as_sent)) ||
	    (rc = sb_chr(&b, '\n')))
		goto fail;
	/* CanonicalHeaders, then a blank line, SignedHeaders, HashedPayload */
	if ((rc = put_canonical_headers(&b, req, signed_headers, signed_headers_len)) ||
	    (rc = sb_chr(&b, '\n')) || (rc = sb_put(&b, signed_headers, signed_headers_len)) ||
	    (rc = sb_chr(&b, '\n')) || (rc = sb_put(&b, payload_hash, payload_hash_len)))
		goto fail;
	*out = b.s;
	*out_len = b.len;
	return 0;
fail:
	free(b.s);
	return rc;
}

int sigv4_canonical_request(const struct sigv4_request *req, const char *signed_headers,
			    size_t signed_headers_len, const char *payload_hash,
			    size_t payload_hash_len, int skip_signature, char **out,
			    size_t *out_len)
{
	return canonical_request(req, signed_headers, signed_headers_len, payload_hash,
				 payload_hash_len, skip_signature, 0, out, out_len);
}

/* out = "date/region/s3/aws4_request" (SIGV4_MAX_SCOPE + 1 bytes: date is
 * 8 characters, region at most SIGV4_MAX_REGION). */
static void scope_of(char *out, const char *date, const char *region, size_t region_len)
{
	char *d = cn_fmt_mem(out, date, strnlen(date, 8));
	*d++ = '/';
	d = cn_fmt_mem(d, region, region_len < SIGV4_MAX_REGION ? region_len : SIGV4_MAX_REGION);
	d = cn_fmt_lit(d, "/s3/aws4_request");
	*d = 0;
}

/* SigV4 task 2 + 4: string to sign, then HMAC with the signing key. */
static void sign_canonical(const uint8_t key[32], const char *amz_date, const char *scope,
			   const char *canon, size_t canon_len, uint8_t sig[32])
{
	uint8_t h[32];
	char sts[sizeof(ALGO) + 17 + SIGV4_MAX_SCOPE + 65 + 4];
	char hex[65];
	cn_sha256(canon, canon_len, h);
	cn_hex(h, 32, hex);
	char *d = cn_fmt_lit(sts, ALGO "\n");
	d = cn_fmt_lit(cn_fmt_mem(d, amz_date, strnlen(amz_date, 16)), "\n");
	d = cn_fmt_lit(cn_fmt_mem(d, scope, strnlen(scope, SIGV4_MAX_SCOPE)), "\n");
	d = cn_fmt_mem(d, hex, 64);
	cn_hmac_sha256(key, 32, sts, (size_t)(d - sts), sig);
}

static void sign_chain(const struct sigv4_result *r, const char *kind, const char *prev_sig,
		       const char *mid, const uint8_t h[32], char out[65])
{
	char sts[64 + 17 + SIGV4_MAX_SCOPE + 65 * 3 + 8];
	char hex[65];
	uint8_t sig[32];
	cn_hex(h, 32, hex);
	int n = snprintf(sts, sizeof(sts), "%s\n%s\n%s\n%s\n%s%s", kind, r->amz_date, r->scope,
			 prev_sig, mid, hex);
	cn_hmac_sha256(r->signing_key, 32, sts, (size_t)n, sig);
	cn_hex(sig, 32, out);
}

void sigv4_chunk_sign(const struct sigv4_result *r, const char *prev_sig,
		      const uint8_t chunk_sha256[32], char out[65])
{
	sign_chain(r, "AWS4-HMAC-SHA256-PAYLOAD", prev_sig, SIGV4_EMPTY_SHA256 "\n", chunk_sha256,
		   out);
}

void sigv4_trailer_sign(const struct sigv4_result *r, const char *prev_sig,
			const uint8_t trailer_sha256[32], char out[65])
{
	sign_chain(r, "AWS4-HMAC-SHA256-TRAILER", prev_sig, "", trailer_sha256, out);
}

/* ---- shared verification ---- */

/* Credential scope "AKID/YYYYMMDD/region/s3/aws4_request" into out. */
static int parse_credential(const char *s, size_t len, struct sigv4_result *out)
{
	const char *part[5];
	size_t plen[5], n = 0, start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '/') {
			if (n == 5)
				return CN_EBADAUTH;
			part[n] = s + start;
			plen[n++] = i - start;
			start = i + 1;
		}
	}
	if (n != 5 || plen[0] == 0 || plen[0] > SIGV4_MAX_ACCESS_KEY || plen[1] != 8 ||
	    plen[2] == 0 || plen[2] > SIGV4_MAX_REGION || plen[4] != 12 ||
	    memcmp(part[4], "aws4_request", 12) != 0 || plen[3] != 2 ||
	    memcmp(part[3], "s3", 2) != 0)
		return CN_EBADAUTH;
	for (size_t i = 0; i < 3; i++)
		for (size_t k = 0; k < plen[i]; k++) {
			unsigned char c = (unsigned char)part[i][k];
			if (c <= ' ' || c >= 127)
				return CN_EBADAUTH;
		}
	int y;
	time_t t;
	if (digits(part[1], 8, &y))
		return CN_EBADAUTH;
	char d16[16];
	memcpy(d16, part[1], 8);
	memcpy(d16 + 8, "T000000Z", 8);
	if (sigv4_parse_amz_date(d16, 16, &t))
		return CN_EBADAUTH;
	memcpy(out->access_key, part[0], plen[0]);
	out->access_key[plen[0]] = '\0';
	memcpy(out->date, part[1], 8);
	out->date[8] = '\0';
	memcpy(out->region, part[2], plen[2]);
	out->region[plen[2]] = '\0';
	scope_of(out->scope, out->date, out->region, plen[2]);
	return 0;
}

/* x-amz-content-sha256 into the payload mode. */
static int parse_payload(const char *v, size_t len, struct sigv4_result *out)
{
	static const struct {
		const char *s;
		enum sigv4_payload p;
	} modes[] = {
		{SIGV4_UNSIGNED_PAYLOAD, SIGV4_PAYLOAD_UNSIGNED},
		{SIGV4_STREAMING_PAYLOAD, SIGV4_PAYLOAD_STREAMING},
		{SIGV4_STREAMING_PAYLOAD_TRAILER, SIGV4_PAYLOAD_STREAMING_TRAILER},
		{SIGV4_STREAMING_UNSIGNED_TRAILER, SIGV4_PAYLOAD_STREAMING_UNSIGNED_TRAILER},
	};
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (len == strlen(modes[i].s) && memcmp(v, modes[i].s, len) == 0) {
			out->payload = modes[i].p;
			return 0;
		}
	if (unhex(v, len, out->payload_sha256, 32) == 0) {
		out->payload = SIGV4_PAYLOAD_SIGNED;
		return 0;
	}
	return CN_EBADSHAHDR;
}

/* Headers that describe the body: decoded length and declared trailer. */
static int parse_body_headers(const struct sigv4_request *req, struct sigv4_result *out)
{
	const struct sigv4_header *h;
	out->decoded_len = UINT64_MAX;
	out->trailer[0] = '\0';
	if ((h = find_header(req, "x-amz-decoded-content-length"))) {
		const char *v = h->value;
		size_t len = h->value_len;
		uint64_t n = 0;
		trim(&v, &len);
		if (len == 0 || len > 19)
			return CN_EBADREQ;
		for (size_t i = 0; i < len; i++) {
			if (v[i] < '0' || v[i] > '9')
				return CN_EBADREQ;
			n = n * 10 + (uint64_t)(v[i] - '0');
		}
		out->decoded_len = n;
	}
	if ((h = find_header(req, "x-amz-trailer"))) {
		const char *v = h->value;
		size_t len = h->value_len;
		trim(&v, &len);
		if (len >= sizeof(out->trailer))
			return CN_EBADREQ;
		for (size_t i = 0; i < len; i++)
			out->trailer[i] = (char)lower((unsigned char)v[i]);
		out->trailer[len] = '\0';
	}
	return 0;
}

/* Looks up the secret, derives the key, builds and signs the canonical
 * request and compares with the claimed signature in constant time.
 *
 * S3's CanonicalURI is the path encoded once, as the client sent it. Clients
 * differ in how they encode a key or a query value (one sends "a%2Fb", "%7E"
 * or "prefix=a/" where another sends "a/b", "~" or "prefix=a%2F") and sign
 * what they send (botocore does, path and query); others sign the canonical
 * form and send something else. So the canonical form (decoded, encoded
 * again) is tried first, then, if that fails and differs, the form as sent
 * (query parameters still sorted). Both are functions of what is on the
 * wire, which alone names the object and the parameters: either signature
 * covers the same request. */
static int check_signature(const struct sigv4_request *req, sigv4_secret_cb get_secret, void *arg,
			   const char *sh, size_t sh_len, const char *payload_hash,
			   int skip_signature, const uint8_t claimed[32], struct sigv4_result *out)
{
	char secret[SIGV4_MAX_SECRET + 1];
	char *canon = NULL;
	size_t canon_len;
	uint8_t sig[32];
	int rc;

	secret[0] = '\0';
	rc = get_secret(arg, out->access_key, secret, sizeof(secret));
	if (rc)
		goto out;
	secret[SIGV4_MAX_SECRET] = '\0';
	sigv4_signing_key(out->access_key, secret, out->date, out->region, out->signing_key);
	rc = canonical_request(req, sh, sh_len, payload_hash, strlen(payload_hash), skip_signature,
			       0, &canon, &canon_len);
	if (rc)
		goto out;
	sign_canonical(out->signing_key, out->amz_date, out->scope, canon, canon_len, sig);
	if (cn_memcmp_ct(sig, claimed, 32) != 0) {
		char *raw = NULL;
		size_t raw_len;

		/* the canonical form already failed: so does this one when it
		 * cannot be built (too long, say) */
		rc = CN_EBADSIG;
		if (canonical_request(req, sh, sh_len, payload_hash, strlen(payload_hash),
				      skip_signature, 1, &raw, &raw_len) == 0 &&
		    (raw_len != canon_len || memcmp(raw, canon, raw_len) != 0)) {
			sign_canonical(out->signing_key, out->amz_date, out->scope, raw, raw_len,
				       sig);
			if (cn_memcmp_ct(sig, claimed, 32) == 0)
				rc = 0;
		}
		free(raw);
		if (rc)
			goto out;
	}
	cn_hex(sig, 32, out->seed_signature);
out:
	free(canon);
	explicit_bzero(secret, sizeof(secret));
	if (rc)
		explicit_bzero(out->signing_key, 32);
	return rc;
}

/* ---- header form ---- */

struct authparts {
	const char *cred, *sh, *sig;
	size_t cred_len, sh_len, sig_len;
};

/* "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..." */
static int parse_authorization(const char *v, size_t len, struct authparts *a)
{
	size_t alen = sizeof(ALGO) - 1, pos;
	memset(a, 0, sizeof(*a));
	trim(&v, &len);
	if (len <= alen || memcmp(v, ALGO, alen) != 0 || !is_space(v[alen]))
		return CN_EBADAUTH;
	pos = alen;
	while (pos < len) {
		while (pos < len && (is_space(v[pos]) || v[pos] == ','))
			pos++;
		if (pos == len)
			break;
		size_t end = pos, eq;
		while (end < len && v[end] != ',')
			end++;
		eq = pos;
		while (eq < end && v[eq] != '=')
			eq++;
		if (eq == end)
			return CN_EBADAUTH;
		const char *val = v + eq + 1;
		size_t vlen = end - eq - 1;
		trim(&val, &vlen);
		const char **slot;
		size_t *slot_len;
		if (eq - pos == 10 && memcmp(v + pos, "Credential", 10) == 0) {
			slot = &a->cred;
			slot_len = &a->cred_len;
		} else if (eq - pos == 13 && memcmp(v + pos, "SignedHeaders", 13) == 0) {
			slot = &a->sh;
			slot_len = &a->sh_len;
		} else if (eq - pos == 9 && memcmp(v + pos, "Signature", 9) == 0) {
			slot = &a->sig;
			slot_len = &a->sig_len;
		} else {
			return CN_EBADAUTH;
		}
		if (*slot)
			return CN_EBADAUTH; /* repeated component */
		*slot = val;
		*slot_len = vlen;
		pos = end;
	}
	if (!a->cred || !a->sh || !a->sig)
		return CN_EBADAUTH;
	return 0;
}

/* Signed header lists must name "host": the request target is only bound
 * to the signature through it. */
static int names_host(const char *sh, size_t len)
{
	size_t pos = 0;
	while (pos <= len) {
		size_t end = pos;
		while (end < len && sh[end] != ';')
			end++;
		if (end - pos == 4 && memcmp(sh + pos, "host", 4) == 0)
			return 1;
		pos = end + 1;
	}
	return 0;
}

/* Is the header name (any case) one of the ';'-separated lower-case names? */
static int listed(const char *sh, size_t sh_len, const char *name, size_t nlen)
{
	size_t pos = 0;
	while (pos <= sh_len) {
		size_t end = pos;
		while (end < sh_len && sh[end] != ';')
			end++;
		if (end - pos == nlen) {
			size_t k = 0;
			while (k < nlen && lower((unsigned char)name[k]) == sh[pos + k])
				k++;
			if (k == nlen)
				return 1;
		}
		pos = end + 1;
	}
	return 0;
}

/* SigV4 requires every x-amz-* header of the request to be signed: an
 * unsigned one (x-amz-copy-source on a presigned PUT) would steer the
 * request beyond what the signer granted. x-amz-content-sha256 is exempt,
 * as in S3: its value is the payload hash of the canonical request, so a
 * changed value already fails the signature. Returns the first offender or
 * NULL. */
static const struct sigv4_header *unsigned_amz_header(const struct sigv4_request *req,
						      const char *sh, size_t sh_len)
{
	for (size_t i = 0; i < req->n_headers; i++) {
		const struct sigv4_header *h = &req->headers[i];
		if (h->name_len < 6 || !ieq(h->name, 6, "x-amz-") ||
		    ieq(h->name, h->name_len, "x-amz-content-sha256"))
			continue;
		if (!listed(sh, sh_len, h->name, h->name_len))
			return h;
	}
	return NULL;
}

static int check_all_signed(const struct sigv4_request *req, const char *sh, size_t sh_len,
			    struct sigv4_result *out)
{
	const struct sigv4_header *h = unsigned_amz_header(req, sh, sh_len);
	if (!h)
		return 0;
	explicit_bzero(out->signing_key, sizeof(out->signing_key));
	out->unsigned_header = h->name;
	out->unsigned_header_len = h->name_len;
	return CN_EUNSIGNEDHDR;
}

/* The credential scope's region must be ours (S3 answers
 * AuthorizationHeaderMalformed, naming the region it expected). */
static int check_region(const struct sigv4_request *req, const struct sigv4_result *out)
{
	if (req->region && strcmp(req->region, out->region) != 0)
		return out->kind == SIGV4_KIND_PRESIGNED ? CN_EBADQUERYAUTH : CN_EBADREGION;
	return 0;
}

static int time_skewed(time_t a, time_t b)
{
	return a > b ? a - b > SIGV4_MAX_SKEW : b - a > SIGV4_MAX_SKEW;
}

int sigv4_verify_header(const struct sigv4_request *req, sigv4_secret_cb get_secret, void *arg,
			struct sigv4_result *out)
{
	const struct sigv4_header *auth, *h;
	struct authparts a;
	uint8_t claimed[32];
	char payload_hash[80];
	time_t t;
	int rc;

	memset(out, 0, sizeof(*out));
	out->kind = SIGV4_KIND_HEADER;
	auth = find_header(req, "authorization");
	if (!auth)
		return CN_EACCESS;
	if ((rc = parse_authorization(auth->value, auth->value_len, &a)))
		return rc;
	if ((rc = parse_credential(a.cred, a.cred_len, out)) || (rc = check_region(req, out)))
		return rc;
	if (!names_host(a.sh, a.sh_len) || unhex(a.sig, a.sig_len, claimed, 32))
		return CN_EBADAUTH;

	/* The signed timestamp: x-amz-date wins over Date. */
	if ((h = find_header(req, "x-amz-date"))) {
		const char *v = h->value;
		size_t len = h->value_len;
		trim(&v, &len);
		if ((rc = sigv4_parse_amz_date(v, len, &t)))
			return rc;
		memcpy(out->amz_date, v, 16);
	} else if ((h = find_header(req, "date"))) {
		const char *v = h->value;
		size_t len = h->value_len;
		trim(&v, &len);
		if ((rc = parse_http_date(v, len, &t)))
			return rc;
		sigv4_format_amz_date(t, out->amz_date);
	} else {
		return CN_EBADDATE;
	}
	if (memcmp(out->amz_date, out->date, 8) != 0)
		return CN_EBADAUTH; /* scope date must be the request's day */
	if (time_skewed(t, req->now))
		return CN_ESKEW;

	h = find_header(req, "x-amz-content-sha256");
	if (!h)
		return CN_ENOSHAHDR;
	{
		const char *v = h->value;
		size_t len = h->value_len;
		trim(&v, &len);
		if (len >= sizeof(payload_hash) || (rc = parse_payload(v, len, out)))
			return CN_EBADSHAHDR;
		memcpy(payload_hash, v, len);
		payload_hash[len] = '\0';
	}
	if ((rc = parse_body_headers(req, out)))
		return rc;
	rc = check_signature(req, get_secret, arg, a.sh, a.sh_len, payload_hash, 0, claimed, out);
	if (rc == 0)
		rc = check_all_signed(req, a.sh, a.sh_len, out);
	return rc;
}

/* ---- presigned form ---- */

enum { Q_ALGO, Q_CRED, Q_DATE, Q_EXPIRES, Q_SH, Q_SIG, Q_N };
static const char *const qnames[Q_N] = {"X-Amz-Algorithm",     "X-Amz-Credential",
					"X-Amz-Date",	       "X-Amz-Expires",
					"X-Amz-SignedHeaders", "X-Amz-Signature"};

/* Finds the X-Amz-* parameters; values are decoded into vals[i] (heap,
 * owned by the caller). Returns 0, CN_EBADAUTH, CN_EBADREQ or CN_ENOMEM. */
static int find_presign_params(const char *q, size_t qlen, char *vals[Q_N], size_t lens[Q_N])
{
	size_t pos = 0;
	while (q && pos < qlen) {
		size_t end = pos, eq;
		while (end < qlen && q[end] != '&')
			end++;
		eq = pos;
		while (eq < end && q[eq] != '=')
			eq++;
		for (int i = 0; i < Q_N; i++) {
			if (eq - pos != strlen(qnames[i]) || memcmp(q + pos, qnames[i], eq - pos))
				continue;
			if (vals[i])
				return CN_EBADAUTH;
			size_t raw = eq < end ? end - eq - 1 : 0;
			vals[i] = malloc(raw + 1);
			if (!vals[i])
				return CN_ENOMEM;
			long n = pct_decode(q + eq + 1, raw, (uint8_t *)vals[i], 1);
			if (n < 0)
				return CN_EBADREQ;
			vals[i][n] = '\0';
			lens[i] = (size_t)n;
			if (memchr(vals[i], '\0', (size_t)n))
				return CN_EBADAUTH;
		}
		pos = end + 1;
	}
	return 0;
}

int sigv4_verify_presigned(const struct sigv4_request *req, sigv4_secret_cb get_secret, void *arg,
			   struct sigv4_result *out)
{
	char *vals[Q_N] = {0};
	size_t lens[Q_N] = {0};
	char payload_hash[80] = SIGV4_UNSIGNED_PAYLOAD;
	uint8_t claimed[32];
	const struct sigv4_header *h;
	time_t t;
	int rc;

	memset(out, 0, sizeof(*out));
	out->kind = SIGV4_KIND_PRESIGNED;
	out->payload = SIGV4_PAYLOAD_UNSIGNED;
	if ((rc = find_presign_params(req->query, req->query_len, vals, lens)))
		goto out;
	if (!vals[Q_ALGO]) {
		rc = CN_EACCESS;
		goto out;
	}
	/* a parameter missing or malformed is S3's
	 * AuthorizationQueryParametersError, not a malformed header */
	rc = CN_EQUERYPARAMS;
	for (int i = 0; i < Q_N; i++)
		if (!vals[i])
			goto out;
	if (strcmp(vals[Q_ALGO], ALGO) != 0 || parse_credential(vals[Q_CRED], lens[Q_CRED], out) ||
	    !names_host(vals[Q_SH], lens[Q_SH]) || unhex(vals[Q_SIG], lens[Q_SIG], claimed, 32))
		goto out;
	if ((rc = check_region(req, out)))
		goto out;
	rc = CN_EQUERYEXPIRES;
	/* X-Amz-Expires: 1..604800 seconds, plain decimal */
	long expires = 0;
	if (lens[Q_EXPIRES] == 0 || lens[Q_EXPIRES] > 6)
		goto out;
	for (size_t i = 0; i < lens[Q_EXPIRES]; i++) {
		if (vals[Q_EXPIRES][i] < '0' || vals[Q_EXPIRES][i] > '9')
			goto out;
		expires = expires * 10 + (vals[Q_EXPIRES][i] - '0');
	}
	if (expires < 1 || expires > SIGV4_MAX_EXPIRES)
		goto out;
	if ((rc = sigv4_parse_amz_date(vals[Q_DATE], lens[Q_DATE], &t)))
		goto out;
	memcpy(out->amz_date, vals[Q_DATE], 16);
	if (memcmp(out->amz_date, out->date, 8) != 0) {
		rc = CN_EQUERYPARAMS; /* the credential's date is not X-Amz-Date's */
		goto out;
	}
	out->expires = t + expires;
	if (req->now > out->expires) {
		rc = CN_EEXPIRED;
		goto out;
	}
	if (t > req->now + SIGV4_MAX_SKEW) {
		rc = CN_ENOTYETVALID; /* signed in the future */
		goto out;
	}
	if ((h = find_header(req, "x-amz-content-sha256"))) {
		const char *v = h->value;
		size_t len = h->value_len;
		trim(&v, &len);
		if (len >= sizeof(payload_hash) || parse_payload(v, len, out)) {
			rc = CN_EBADSHAHDR;
			goto out;
		}
		memcpy(payload_hash, v, len);
		payload_hash[len] = '\0';
	}
	if ((rc = parse_body_headers(req, out)))
		goto out;
	rc = check_signature(req, get_secret, arg, vals[Q_SH], lens[Q_SH], payload_hash, 1, claimed,
			     out);
	if (rc == 0)
		rc = check_all_signed(req, vals[Q_SH], lens[Q_SH], out);
out:
	for (int i = 0; i < Q_N; i++)
		free(vals[i]);
	return rc;
}

int sigv4_verify(const struct sigv4_request *req, sigv4_secret_cb get_secret, void *arg,
		 struct sigv4_result *out)
{
	int has_header = find_header(req, "authorization") != NULL;
	int has_query = 0;
	/* Look for X-Amz-Algorithm= or X-Amz-Signature= as a parameter name. */
	for (size_t pos = 0; req->query && pos < req->query_len;) {
		size_t end = pos;
		while (end < req->query_len && req->query[end] != '&')
			end++;
		if ((end - pos >= 16 && memcmp(req->query + pos, "X-Amz-Algorithm=", 16) == 0) ||
		    (end - pos >= 16 && memcmp(req->query + pos, "X-Amz-Signature=", 16) == 0))
			has_query = 1;
		pos = end + 1;
	}
	if (has_header && has_query) {
		memset(out, 0, sizeof(*out));
		return CN_ETWOAUTH; /* only one mechanism per request */
	}
	if (has_header)
		return sigv4_verify_header(req, get_secret, arg, out);
	if (has_query)
		return sigv4_verify_presigned(req, get_secret, arg, out);
	memset(out, 0, sizeof(*out));
	return CN_EACCESS;
}

int sigv4_payload_check(const struct sigv4_result *r, const uint8_t sha256[32])
{
	if (r->payload != SIGV4_PAYLOAD_SIGNED)
		return 0;
	return cn_memcmp_ct(r->payload_sha256, sha256, 32) ? CN_ESHAMISMATCH : 0;
}

/* ---- client side ---- */

static int chain_init(struct sigv4_result *r, const struct sigv4_creds *c, const char *amz_date)
{
	time_t t;
	memset(r, 0, sizeof(*r));
	if (!c || !c->access_key || !c->secret || !c->region || !amz_date ||
	    strlen(c->access_key) == 0 || strlen(c->access_key) > SIGV4_MAX_ACCESS_KEY ||
	    strlen(c->secret) > SIGV4_MAX_SECRET || strlen(c->region) == 0 ||
	    strlen(c->region) > SIGV4_MAX_REGION ||
	    sigv4_parse_amz_date(amz_date, strlen(amz_date), &t))
		return CN_EINVAL;
	strcpy(r->access_key, c->access_key);
	strcpy(r->region, c->region);
	memcpy(r->amz_date, amz_date, 16);
	memcpy(r->date, amz_date, 8);
	scope_of(r->scope, r->date, r->region, strlen(r->region));
	sigv4_signing_key(c->access_key, c->secret, r->date, r->region, r->signing_key);
	r->decoded_len = UINT64_MAX;
	return 0;
}

int sigv4_sign_header(const struct sigv4_request *req, const struct sigv4_creds *c,
		      const char *amz_date, const char *signed_headers, const char *payload_hash,
		      char *auth_out, size_t cap, struct sigv4_result *chain)
{
	struct sigv4_result r;
	char *canon = NULL;
	size_t canon_len;
	uint8_t sig[32];
	int rc;

	if (!signed_headers || !payload_hash || !names_host(signed_headers, strlen(signed_headers)))
		return CN_EINVAL;
	if ((rc = chain_init(&r, c, amz_date)))
		return rc;
	rc = sigv4_canonical_request(req, signed_headers, strlen(signed_headers), payload_hash,
				     strlen(payload_hash), 0, &canon, &canon_len);
	if (rc)
		goto out;
	sign_canonical(r.signing_key, r.amz_date, r.scope, canon, canon_len, sig);
	cn_hex(sig, 32, r.seed_signature);
	int n = snprintf(auth_out, cap, ALGO " Credential=%s/%s,SignedHeaders=%s,Signature=%s",
			 r.access_key, r.scope, signed_headers, r.seed_signature);
	if (n < 0 || (size_t)n >= cap) {
		rc = CN_ETOOBIG;
		goto out;
	}
	r.kind = SIGV4_KIND_HEADER;
	parse_payload(payload_hash, strlen(payload_hash), &r);
	if (chain)
		*chain = r;
out:
	free(canon);
	explicit_bzero(&r, sizeof(r));
	return rc;
}

int sigv4_presign(const struct sigv4_request *req, const struct sigv4_creds *c,
		  const char *amz_date, unsigned expires, char *query_out, size_t cap)
{
	struct sigv4_result r;
	struct cn_buf q = {.max = CANON_MAX};
	struct sigv4_request pre;
	char *canon = NULL;
	size_t canon_len;
	uint8_t sig[32];
	char num[16], hex[65];
	int rc;

	if (expires < 1 || expires > SIGV4_MAX_EXPIRES || !find_header(req, "host"))
		return CN_EINVAL;
	if ((rc = chain_init(&r, c, amz_date)))
		return rc;
	if (req->query && req->query_len)
		if ((rc = sb_put(&q, req->query, req->query_len)) || (rc = sb_chr(&q, '&')))
			goto out;
	snprintf(num, sizeof(num), "%u", expires);
	struct cn_buf cred = {.max = CANON_MAX};
	rc = sb_str(&cred, r.access_key);
	if (!rc)
		rc = sb_chr(&cred, '/');
	if (!rc)
		rc = sb_str(&cred, r.scope);
	if (!rc && !(rc = sb_str(&q, "X-Amz-Algorithm=" ALGO "&X-Amz-Credential=")))
		rc = uri_encode(&q, (const uint8_t *)cred.s, cred.len, 0);
	free(cred.s);
	if (rc || (rc = sb_str(&q, "&X-Amz-Date=")) || (rc = sb_str(&q, r.amz_date)) ||
	    (rc = sb_str(&q, "&X-Amz-Expires=")) || (rc = sb_str(&q, num)) ||
	    (rc = sb_str(&q, "&X-Amz-SignedHeaders=host")))
		goto out;
	pre = *req;
	pre.query = q.s;
	pre.query_len = q.len;
	rc = sigv4_canonical_request(&pre, "host", 4, SIGV4_UNSIGNED_PAYLOAD,
				     strlen(SIGV4_UNSIGNED_PAYLOAD), 1, &canon, &canon_len);
	if (rc)
		goto out;
	sign_canonical(r.signing_key, r.amz_date, r.scope, canon, canon_len, sig);
	cn_hex(sig, 32, hex);
	if ((rc = sb_str(&q, "&X-Amz-Signature=")) || (rc = sb_str(&q, hex)))
		goto out;
	if (q.len + 1 > cap) {
		rc = CN_ETOOBIG;
		goto out;
	}
	memcpy(query_out, q.s, q.len + 1);
out:
	free(canon);
	free(q.s);
	explicit_bzero(&r, sizeof(r));
	return rc;
}
