/*
 * s3/attrs.c — object attributes stored opaquely in the version record.
 *
 * Format (version 1), a sequence after one version byte:
 *   OFFSET SIZE MEANING
 *   0      1    format version (1)
 *   then repeated records:
 *   +0     1    tag (enum below)
 *   +1     2    length L, little-endian
 *   +3     L    bytes
 * Unknown tags are skipped (forward compatible); a record running past the
 * end is corruption.
 */
#include "s3/s3_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"

enum {
	T_CTYPE = 1,
	T_CENC = 2,
	T_CDISP = 3,
	T_CLANG = 4,
	T_CACHE = 5,
	T_EXPIRES = 6,
	T_META = 10,   /* name '\0' value */
	T_CKSUM = 20,  /* alg byte, composite byte, parts u32le, raw bytes */
	T_CKSPEC = 21, /* an upload's: alg byte, type byte (1 composite, 2 full) */
	T_ACL = 30,    /* the object's ACL (s3/acl.h encoding) */
	T_TAGS = 31,   /* the object's tag set (s3/tagging.h encoding) */
	/* an upload's object lock for the version Complete makes: 1 mode,
	 * 1 legal hold, 8 retain-until ns (LE) */
	T_LOCKREQ = 32,
	/* the upload a version was completed from (META_ID_LEN bytes): a
	 * retried Complete of that upload gets the same answer. Encoded only,
	 * never decoded: a copy or a re-encoded version does not carry it. */
	T_UPLOAD = 33,
	T_SSE = 40, /* server-side encryption (s3/sse.h encoding) */
};

/* Write headers whose promise cairn cannot keep yet (website redirects):
 * answering 200 while ignoring them would mislead a client. */
static const char *const not_kept[] = {
	"x-amz-website-redirect-location",
};

int s3_write_headers_check(struct s3_req *r)
{
	const char *sc = s3_header(r, "x-amz-storage-class");
	const char *td = s3_header(r, "x-amz-tagging-directive");

	for (size_t i = 0; i < sizeof(not_kept) / sizeof(not_kept[0]); i++)
		if (s3_header(r, not_kept[i]))
			return CN_ENOTIMPL;
	if (td && strcasecmp(td, "COPY") != 0 && strcasecmp(td, "REPLACE") != 0) {
		r->err_msg = "Unknown tagging directive.";
		return CN_EBADARG;
	}
	/* One storage class; S3 names it STANDARD. */
	if (sc && strcmp(sc, "STANDARD") != 0)
		return CN_EBADSTORAGECLASS;
	return 0;
}

int s3_attrs_from_request(struct s3_req *r, struct s3_attrs *a)
{
	struct http_request *h = r->http;
	const char **strs[6] = {&a->content_type,     &a->content_encoding, &a->content_disposition,
				&a->content_language, &a->cache_control,    &a->expires};
	size_t meta_bytes = 0;
	int n = 0;

	memset(a, 0, sizeof(*a));
	a->content_type = s3_header(r, "content-type");
	a->content_encoding = s3_header(r, "content-encoding");
	a->content_disposition = s3_header(r, "content-disposition");
	a->content_language = s3_header(r, "content-language");
	a->cache_control = s3_header(r, "cache-control");
	a->expires = s3_header(r, "expires");
	/* aws-chunked is a transfer detail, not the object's encoding. */
	if (a->content_encoding) {
		const char *ce = a->content_encoding;
		if (strcasecmp(ce, "aws-chunked") == 0)
			a->content_encoding = NULL;
		else if (strncasecmp(ce, "aws-chunked,", 12) == 0) {
			ce += 12;
			while (*ce == ' ')
				ce++;
			a->content_encoding = ce;
		}
	}
	/* Every stored value goes back out as a response header. */
	for (int i = 0; i < 6; i++)
		if (*strs[i] && !s3_hdr_value_ok(*strs[i], strlen(*strs[i])))
			goto bad_value;
	for (int i = 0; i < h->n_headers; i++) {
		const struct http_header *hd = &h->headers[i];
		if (hd->name_len > 11 && strncasecmp(hd->name, "x-amz-meta-", 11) == 0) {
			meta_bytes += hd->name_len - 11 + hd->value_len;
			if (meta_bytes > S3_MAX_USER_META)
				return CN_EMETATOOBIG;
			if (!s3_hdr_value_ok(hd->value, hd->value_len))
				goto bad_value;
			n++;
		}
	}
	if (n == 0)
		goto out;
	a->meta_names = cn_pool_alloc(r->pool, sizeof(*a->meta_names) * (size_t)n);
	a->meta_values = cn_pool_alloc(r->pool, sizeof(*a->meta_values) * (size_t)n);
	if (!a->meta_names || !a->meta_values)
		return CN_ENOMEM;
	for (int i = 0; i < h->n_headers; i++) {
		const struct http_header *hd = &h->headers[i];
		if (hd->name_len > 11 && strncasecmp(hd->name, "x-amz-meta-", 11) == 0) {
			char *nm = cn_pool_strndup(r->pool, hd->name + 11, hd->name_len - 11);
			if (!nm)
				return CN_ENOMEM;
			for (char *p = nm; *p; p++)
				if (*p >= 'A' && *p <= 'Z')
					*p = (char)(*p - 'A' + 'a');
			a->meta_names[a->n_meta] = nm;
			a->meta_values[a->n_meta] = hd->value;
			a->n_meta++;
		}
	}
out:;
	int rc = s3_tags_for_write(r, a);
	return rc ? rc : s3_acl_for_write(r, a);
bad_value:
	r->err_msg = "A header value holds a control character; stored values are returned as "
		     "response headers, so they must be printable";
	return CN_EBADARG;
}

static size_t put_rec(uint8_t *buf, size_t off, int tag, const void *p, size_t len)
{
	buf[off] = (uint8_t)tag;
	buf[off + 1] = (uint8_t)(len & 0xff);
	buf[off + 2] = (uint8_t)(len >> 8);
	memcpy(buf + off + 3, p, len);
	return off + 3 + len;
}

int s3_attrs_encode(struct s3_req *r, const struct s3_attrs *a, uint8_t **out, size_t *len)
{
	const char *strs[6] = {a->content_type,	    a->content_encoding, a->content_disposition,
			       a->content_language, a->cache_control,	 a->expires};
	size_t cap = 1, off = 0;
	uint8_t *buf;

	for (int i = 0; i < 6; i++)
		if (strs[i])
			cap += 3 + strlen(strs[i]);
	for (int i = 0; i < a->n_meta; i++)
		cap += 4 + strlen(a->meta_names[i]) + strlen(a->meta_values[i]);
	cap += 3 + 6 + 32 + 3 + 2;
	if (a->acl_len)
		cap += 3 + a->acl_len;
	if (a->tags_len)
		cap += 3 + a->tags_len;
	cap += 3 + 10;
	if (a->sse_len)
		cap += 3 + a->sse_len;
	if (a->upload_id)
		cap += 3 + META_ID_LEN;
	if (cap > META_ATTRS_MAX)
		return CN_EMETATOOBIG;
	buf = cn_pool_alloc(r->pool, cap);
	if (!buf)
		return CN_ENOMEM;
	buf[off++] = 1;
	for (int i = 0; i < 6; i++) {
		size_t l;
		if (!strs[i])
			continue;
		l = strlen(strs[i]);
		if (l > 0xffff)
			return CN_EMETATOOBIG;
		off = put_rec(buf, off, T_CTYPE + i, strs[i], l);
	}
	for (int i = 0; i < a->n_meta; i++) {
		size_t nl = strlen(a->meta_names[i]), vl = strlen(a->meta_values[i]);
		uint8_t tmp[S3_MAX_USER_META + 2];
		if (nl + vl + 1 > sizeof(tmp))
			return CN_EMETATOOBIG;
		memcpy(tmp, a->meta_names[i], nl);
		tmp[nl] = 0;
		memcpy(tmp + nl + 1, a->meta_values[i], vl);
		off = put_rec(buf, off, T_META, tmp, nl + 1 + vl);
	}
	if (a->ck_alg != CN_CK_NONE && a->ck_len) {
		uint8_t tmp[6 + 32];
		tmp[0] = (uint8_t)a->ck_alg;
		tmp[1] = (uint8_t)a->ck_composite;
		for (int i = 0; i < 4; i++)
			tmp[2 + i] = (uint8_t)(a->ck_parts >> (8 * i));
		memcpy(tmp + 6, a->ck_raw, a->ck_len);
		off = put_rec(buf, off, T_CKSUM, tmp, 6 + a->ck_len);
	}
	if (a->mp_ck_alg != CN_CK_NONE) {
		uint8_t tmp[2] = {(uint8_t)a->mp_ck_alg, (uint8_t)a->mp_ck_type};
		off = put_rec(buf, off, T_CKSPEC, tmp, 2);
	}
	if (a->acl_len)
		off = put_rec(buf, off, T_ACL, a->acl, a->acl_len);
	if (a->tags_len)
		off = put_rec(buf, off, T_TAGS, a->tags, a->tags_len);
	if (a->lock_mode || a->lock_hold) {
		uint8_t tmp[10] = {a->lock_mode, a->lock_hold};
		for (int i = 0; i < 8; i++)
			tmp[2 + i] = (uint8_t)((uint64_t)a->lock_until >> (8 * i));
		off = put_rec(buf, off, T_LOCKREQ, tmp, sizeof(tmp));
	}
	if (a->sse_len)
		off = put_rec(buf, off, T_SSE, a->sse, a->sse_len);
	if (a->upload_id)
		off = put_rec(buf, off, T_UPLOAD, a->upload_id, META_ID_LEN);
	*out = buf;
	*len = off;
	return 0;
}

int s3_attrs_decode(struct s3_req *r, const uint8_t *buf, size_t len, struct s3_attrs *a)
{
	size_t off = 1;
	const char **strs[6] = {&a->content_type,     &a->content_encoding, &a->content_disposition,
				&a->content_language, &a->cache_control,    &a->expires};
	int n = 0;

	memset(a, 0, sizeof(*a));
	if (len == 0)
		return 0;
	if (buf[0] != 1)
		return CN_ECORRUPT;
	/* First pass: check the framing and count the metadata records. */
	while (off < len) {
		size_t l;
		if (len - off < 3)
			return CN_ECORRUPT;
		l = (size_t)buf[off + 1] | (size_t)buf[off + 2] << 8;
		if (l > len - off - 3)
			return CN_ECORRUPT;
		n += buf[off] == T_META;
		off += 3 + l;
	}
	if (n) {
		a->meta_names = cn_pool_alloc(r->pool, sizeof(*a->meta_names) * (size_t)n);
		a->meta_values = cn_pool_alloc(r->pool, sizeof(*a->meta_values) * (size_t)n);
		if (!a->meta_names || !a->meta_values)
			return CN_ENOMEM;
	}
	off = 1;
	while (off < len) {
		int tag = buf[off];
		size_t l = (size_t)buf[off + 1] | (size_t)buf[off + 2] << 8;
		const uint8_t *p = buf + off + 3;
		off += 3 + l;
		if (tag >= T_CTYPE && tag <= T_EXPIRES) {
			*strs[tag - T_CTYPE] = cn_pool_strndup(r->pool, (const char *)p, l);
			if (!*strs[tag - T_CTYPE])
				return CN_ENOMEM;
		} else if (tag == T_META) {
			const uint8_t *z = memchr(p, 0, l);
			const char *nm, *v;
			if (!z)
				return CN_ECORRUPT;
			nm = cn_pool_strndup(r->pool, (const char *)p, (size_t)(z - p));
			v = cn_pool_strndup(r->pool, (const char *)z + 1, l - (size_t)(z - p) - 1);
			if (!nm || !v)
				return CN_ENOMEM;
			a->meta_names[a->n_meta] = nm;
			a->meta_values[a->n_meta] = v;
			a->n_meta++;
		} else if (tag == T_ACL || tag == T_TAGS || tag == T_SSE) {
			uint8_t *c = cn_pool_alloc(r->pool, l ? l : 1);
			if (!c)
				return CN_ENOMEM;
			memcpy(c, p, l); /* outlives the version record */
			if (tag == T_ACL) {
				a->acl = c;
				a->acl_len = l;
			} else if (tag == T_SSE) {
				a->sse = c;
				a->sse_len = l;
			} else {
				a->tags = c;
				a->tags_len = l;
			}
		} else if (tag == T_CKSUM) {
			if (l < 6 || l - 6 > sizeof(a->ck_raw))
				return CN_ECORRUPT;
			a->ck_alg = (enum cn_checksum_alg)p[0];
			a->ck_composite = p[1];
			a->ck_parts = (uint32_t)p[2] | (uint32_t)p[3] << 8 | (uint32_t)p[4] << 16 |
				      (uint32_t)p[5] << 24;
			a->ck_len = l - 6;
			if (a->ck_len != cn_checksum_alg_len(a->ck_alg))
				return CN_ECORRUPT; /* unknown algorithm or wrong length */
			memcpy(a->ck_raw, p + 6, a->ck_len);
		} else if (tag == T_CKSPEC) {
			if (l != 2 || !cn_checksum_alg_len((enum cn_checksum_alg)p[0]) ||
			    p[1] < 1 || p[1] > 2)
				return CN_ECORRUPT;
			a->mp_ck_alg = (enum cn_checksum_alg)p[0];
			a->mp_ck_type = p[1];
		} else if (tag == T_LOCKREQ) {
			uint64_t u = 0;
			if (l != 10 || p[0] > META_LOCK_COMPLIANCE || p[1] > META_HOLD_ON)
				return CN_ECORRUPT;
			for (int i = 0; i < 8; i++)
				u |= (uint64_t)p[2 + i] << (8 * i);
			a->lock_mode = p[0];
			a->lock_hold = p[1];
			a->lock_until = (int64_t)u;
		}
	}
	return 0;
}

/* A user metadata value as S3 returns it: as stored when it is US-ASCII,
 * else one RFC 2047 encoded-word over its bytes ("=?UTF-8?B?...?="), so
 * that no raw non-ASCII byte goes out in a header. NULL on ENOMEM (the
 * header is then left out, as s3_hdr_add does with NULL). */
static const char *meta_value_out(struct s3_req *r, const char *v)
{
	size_t n = strlen(v), cap;
	char *out;

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] >= 0x80)
			goto encode;
	return v;
encode:
	cap = 10 + cn_b64_len(n) + 3; /* "=?UTF-8?B?", the base64, "?=" and NUL */
	out = cn_pool_alloc(r->pool, cap);
	if (!out)
		return NULL;
	memcpy(out, "=?UTF-8?B?", 10);
	n = 10 + cn_b64_encode((const uint8_t *)v, n, out + 10, cap - 10);
	memcpy(out + n, "?=", 3);
	return out;
}

void s3_attrs_to_headers(struct s3_req *r, const struct s3_attrs *a, struct s3_hdrs *h, int want_ck)
{
	s3_hdr_add(r, h, "Content-Type", a->content_type ? a->content_type : "binary/octet-stream");
	s3_hdr_add(r, h, "Content-Encoding", a->content_encoding);
	s3_hdr_add(r, h, "Content-Disposition", a->content_disposition);
	s3_hdr_add(r, h, "Content-Language", a->content_language);
	s3_hdr_add(r, h, "Cache-Control", a->cache_control);
	s3_hdr_add(r, h, "Expires", a->expires);
	for (int i = 0; i < a->n_meta; i++)
		s3_hdr_add(r, h, cn_pool_printf(r->pool, "x-amz-meta-%s", a->meta_names[i]),
			   meta_value_out(r, a->meta_values[i]));
	if (want_ck && a->ck_alg != CN_CK_NONE && a->ck_len) {
		char b64[64];
		cn_b64_encode(a->ck_raw, a->ck_len, b64, sizeof(b64));
		if (a->ck_composite)
			s3_hdr_add(r, h,
				   cn_pool_printf(r->pool, "x-amz-checksum-%s",
						  cn_checksum_alg_header(a->ck_alg)),
				   cn_pool_printf(r->pool, "%s-%u", b64, a->ck_parts));
		else
			s3_hdr_add(r, h,
				   cn_pool_printf(r->pool, "x-amz-checksum-%s",
						  cn_checksum_alg_header(a->ck_alg)),
				   cn_pool_strndup(r->pool, b64, strlen(b64)));
		s3_hdr_add(r, h, "x-amz-checksum-type",
			   a->ck_composite ? "COMPOSITE" : "FULL_OBJECT");
	}
}

void s3_checksum_xml(struct cn_buf *w, enum cn_checksum_alg a, const uint8_t *raw, size_t len,
		     uint32_t parts)
{
	char tag[32], val[64 + 12];
	size_t n;

	if (a == CN_CK_NONE || !len)
		return;
	snprintf(tag, sizeof(tag), "Checksum%s", cn_checksum_alg_name(a));
	n = cn_b64_encode(raw, len, val, sizeof(val));
	if (parts)
		snprintf(val + n, sizeof(val) - n, "-%u", parts);
	xmlw_elem(w, tag, val);
}

/* The record of one tag, without decoding the rest. */
static int find_rec(const uint8_t *buf, size_t len, int want, const uint8_t **out, size_t *out_len)
{
	size_t off = 1;

	*out = NULL;
	*out_len = 0;
	if (len == 0)
		return 0;
	if (buf[0] != 1)
		return CN_ECORRUPT;
	while (off < len) {
		size_t l;
		if (len - off < 3)
			return CN_ECORRUPT;
		l = (size_t)buf[off + 1] | (size_t)buf[off + 2] << 8;
		if (l > len - off - 3)
			return CN_ECORRUPT;
		if (buf[off] == want) {
			*out = buf + off + 3;
			*out_len = l;
		}
		off += 3 + l;
	}
	return 0;
}

int s3_attrs_tags(const uint8_t *buf, size_t len, const uint8_t **tags, size_t *tags_len)
{
	return find_rec(buf, len, T_TAGS, tags, tags_len);
}

int s3_attrs_ckspec(const uint8_t *buf, size_t len, enum cn_checksum_alg *alg, int *type)
{
	const uint8_t *p;
	size_t l;
	int rc = find_rec(buf, len, T_CKSPEC, &p, &l);

	*alg = CN_CK_NONE;
	*type = 0;
	if (rc || !p)
		return rc;
	if (l != 2 || !cn_checksum_alg_len((enum cn_checksum_alg)p[0]) || p[1] < 1 || p[1] > 2)
		return CN_ECORRUPT;
	*alg = (enum cn_checksum_alg)p[0];
	*type = p[1];
	return 0;
}

void s3_attrs_ck_peek(const uint8_t *buf, size_t len, uint8_t out[2])
{
	const uint8_t *p;
	size_t l;

	out[0] = out[1] = 0;
	if (find_rec(buf, len, T_CKSUM, &p, &l) || !p || l < 6 ||
	    cn_checksum_alg_len((enum cn_checksum_alg)p[0]) != l - 6)
		return; /* none (or not readable: listed without) */
	out[0] = p[0];
	out[1] = p[1] ? 2 : 1;
}

int s3_attrs_acl(const uint8_t *buf, size_t len, const uint8_t **acl, size_t *acl_len)
{
	return find_rec(buf, len, T_ACL, acl, acl_len);
}

int s3_attrs_sse(const uint8_t *buf, size_t len, const uint8_t **sse, size_t *sse_len)
{
	return find_rec(buf, len, T_SSE, sse, sse_len);
}

int s3_attrs_completed_from(const uint8_t *buf, size_t len, const uint8_t id[META_ID_LEN])
{
	const uint8_t *p;
	size_t l;

	return find_rec(buf, len, T_UPLOAD, &p, &l) == 0 && p && l == META_ID_LEN &&
	       memcmp(p, id, META_ID_LEN) == 0;
}
