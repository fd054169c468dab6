/*
 * s3/sse.c — see sse.h: which encryption a write gets, the T_SSE record,
 * getting a data key back for a read, the sealed-blob reader and writer,
 * bucket default encryption and the KMS key ring.
 *
 * KMS keys: "aws/s3" (the default, as AWS's) is derived from the master
 * key, so it needs no record; a named key's material is random, wrapped by
 * the master key and kept in the replicated setting "kms.<name>" (text:
 * "1 <base64 of the wrapped material>"), so every node of a cluster with
 * the same master key can use it. Key names: 1..28 of [a-z0-9._-].
 */
#include "s3/sse.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>

#include "core/clock.h"
#include "core/err.h"

#define H_SSE "x-amz-server-side-encryption"
#define H_KID "x-amz-server-side-encryption-aws-kms-key-id"
#define H_CTX "x-amz-server-side-encryption-context"
#define H_BK "x-amz-server-side-encryption-bucket-key-enabled"
#define H_C "x-amz-server-side-encryption-customer-"
#define H_CSRC "x-amz-copy-source-server-side-encryption-customer-"
#define DEFAULT_KMS "aws/s3"
#define ENC_BODY_MAX (16 * 1024)

_Static_assert(CN_SEAL_ID == DATA_ID_LEN, "blob ids key sealed streams");

static const char AAD_S3[] = "cairn sse-s3";

static int fail(struct s3_req *r, int err, const char *msg)
{
	r->err_msg = msg;
	return err;
}

/* ---- KMS keys ---- */

static int kms_name_ok(const char *n, size_t len)
{
	if (len == 0 || len > S3_KMS_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= '0' && n[i] <= '9') || n[i] == '.' ||
		      n[i] == '_' || n[i] == '-'))
			return 0;
	return 1;
}

/* A key id as S3 clients give it: a name, "alias/<name>", or an ARN ending
 * in ":key/<name>" or ":alias/<name>". */
static int kms_parse_id(const char *id, char out[S3_KMS_NAME_MAX + 1])
{
	const char *n = id;

	if (strncmp(id, "arn:", 4) == 0) {
		const char *k = strstr(id, ":key/"), *a = strstr(id, ":alias/");
		if (k)
			n = k + 5;
		else if (a)
			n = a + 7;
		else
			return CN_EKMSNOKEY;
	} else if (strncmp(id, "alias/", 6) == 0) {
		n = id + 6;
	}
	if (strcmp(n, DEFAULT_KMS) == 0 || kms_name_ok(n, strlen(n))) {
		snprintf(out, S3_KMS_NAME_MAX + 1, "%s", n);
		return 0;
	}
	return CN_EKMSNOKEY;
}

static void kms_aad(const char *name, char *aad, size_t cap)
{
	snprintf(aad, cap, "cairn kms key %s", name);
}

/* The material of KMS key `name` (unwrapped). CN_EKMSNOKEY when absent. */
static int kms_material(struct s3_server *srv, const char *name, uint8_t out[CN_KEY_LEN])
{
	char setting[8 + S3_KMS_NAME_MAX], val[META_SETTING_MAX + 1], aad[64];
	uint8_t w[CN_WRAP_LEN + 4];
	long n;
	int rc;

	if (strcmp(name, DEFAULT_KMS) == 0) {
		cn_key_derive(srv->cfg.master_key, "cairn kms default key ", name, strlen(name),
			      out);
		return 0;
	}
	snprintf(setting, sizeof(setting), "kms.%s", name);
	rc = meta_setting_get(srv->meta, setting, val, sizeof(val));
	if (rc == CN_ENOTFOUND)
		return CN_EKMSNOKEY;
	if (rc)
		return rc;
	if (strncmp(val, "1 ", 2) != 0)
		return CN_ECORRUPT;
	n = cn_b64_decode(val + 2, strlen(val + 2), w, sizeof(w));
	if (n != CN_WRAP_LEN)
		return CN_ECORRUPT;
	kms_aad(name, aad, sizeof(aad));
	return cn_key_unwrap(srv->cfg.master_key, aad, strlen(aad), w, out);
}

static void kms_arn(struct s3_req *r, const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "arn:aws:kms:%s:%s:key/%s", r->srv->cfg.region, r->srv->account_id,
		 name);
}

/* The AAD an SSE-KMS data key is wrapped with: the encryption context is
 * bound to the key, as KMS does. */
static char *kms_dk_aad(struct s3_req *r, const struct s3_sse *s, size_t *len)
{
	char *a = cn_pool_alloc(r->pool, 16 + s->ctx_len);

	if (!a)
		return NULL;
	memcpy(a, "cairn sse-kms", 14); /* with its NUL: a separator */
	if (s->ctx_len)
		memcpy(a + 14, s->ctx, s->ctx_len);
	*len = 14 + s->ctx_len;
	return a;
}

/* ---- the bucket's default ---- */

int s3_enc_conf_decode(const char *doc, size_t len, struct s3_enc_conf *c)
{
	/* a NUL ends the document, as the stored one's terminator does */
	const char *end = doc + strnlen(doc, len), *p, *q;

	memset(c, 0, sizeof(*c));
	if (end - doc < 2 || memcmp(doc, "1\n", 2) != 0)
		return CN_ECORRUPT;
	p = doc + 2;
	q = memchr(p, '\n', (size_t)(end - p));
	if (!q || (size_t)(q - p) >= sizeof(c->alg))
		return CN_ECORRUPT;
	memcpy(c->alg, p, (size_t)(q - p));
	p = q + 1;
	q = memchr(p, '\n', (size_t)(end - p));
	if (!q || (size_t)(q - p) >= sizeof(c->kid))
		return CN_ECORRUPT;
	memcpy(c->kid, p, (size_t)(q - p));
	c->bucket_key = q + 1 < end && q[1] == '1';
	return 0;
}

/* The bucket's document "encryption" (sse.h), decoded. found: the request
 * has found its bucket (meta_bucket_conf_read). */
static int conf_load(struct s3_req *r, const char *bucket, int found, struct s3_enc_conf *c)
{
	char *v;
	size_t len;
	int rc = meta_bucket_conf_read(r->srv->meta, bucket, "encryption", found, &v, &len);

	memset(c, 0, sizeof(*c));
	if (rc)
		return rc;
	rc = s3_enc_conf_decode(v, len, c);
	free(v);
	return rc;
}

/* ---- writes ---- */

/* The SSE-C headers of a request [0] and of a copy's source [1]: algorithm,
 * key, key-MD5. Spelled out, not formatted: every GET asks for them. */
enum { C_ALG, C_KEY, C_MD5 };
static const char *const c_names[2][3] = {
	{H_C "algorithm", H_C "key", H_C "key-MD5"},
	{H_CSRC "algorithm", H_CSRC "key", H_CSRC "key-MD5"},
};

static int any_header(struct s3_req *r, int copy_src)
{
	for (int i = 0; i < 3; i++)
		if (s3_header(r, c_names[!!copy_src][i]))
			return 1;
	return 0;
}

int s3_sse_requested(struct s3_req *r)
{
	return s3_header(r, H_SSE) || any_header(r, 0);
}

/* The customer's key from the request's SSE-C headers (the copy source's
 * with copy_src) into s->dk. */
static int customer_key(struct s3_req *r, int copy_src, struct s3_sse *s)
{
	const char *alg, *key, *md5;
	uint8_t raw[CN_KEY_LEN + 8], want[16], got[16];
	long kl;

	/* the key travels in a header: only over TLS, unless told otherwise */
	if (!r->http->tls && !r->srv->cfg.allow_insecure_ssec)
		return fail(r, CN_EBADSSE,
			    "Requests specifying Server Side Encryption with Customer provided "
			    "keys must be made over a secure connection.");
	alg = s3_header(r, c_names[!!copy_src][C_ALG]);
	key = s3_header(r, c_names[!!copy_src][C_KEY]);
	md5 = s3_header(r, c_names[!!copy_src][C_MD5]);
	if (!alg)
		return fail(r, CN_EBADARG,
			    "Requests specifying Server Side Encryption with Customer provided "
			    "keys must provide a valid encryption algorithm.");
	if (strcmp(alg, "AES256") != 0)
		return fail(r, CN_EBADARG, "The encryption algorithm specified is not valid.");
	if (!key)
		return fail(r, CN_EBADARG,
			    "Requests specifying Server Side Encryption with Customer provided "
			    "keys must provide an appropriate secret key.");
	if (!md5)
		return fail(r, CN_EBADARG,
			    "Requests specifying Server Side Encryption with Customer provided "
			    "keys must provide the client calculated MD5 of the secret key.");
	kl = cn_b64_decode(key, strlen(key), raw, sizeof(raw));
	if (kl != CN_KEY_LEN) {
		explicit_bzero(raw, sizeof(raw));
		return fail(r, CN_EBADARG,
			    "The secret key was invalid for the specified algorithm.");
	}
	cn_md5(raw, CN_KEY_LEN, got);
	if (cn_b64_decode(md5, strlen(md5), want, sizeof(want)) != 16 ||
	    memcmp(want, got, 16) != 0) {
		explicit_bzero(raw, sizeof(raw));
		return fail(r, CN_EBADARG,
			    "The calculated MD5 hash of the key did not match the hash that was "
			    "provided.");
	}
	memcpy(s->dk, raw, CN_KEY_LEN);
	explicit_bzero(raw, sizeof(raw));
	s->c_md5 = md5;
	s->unlocked = 1;
	return 0;
}

static void customer_mac(const uint8_t salt[16], const uint8_t key[CN_KEY_LEN], uint8_t out[32])
{
	cn_hmac_sha256(salt, 16, key, CN_KEY_LEN, out);
}

/* x-amz-server-side-encryption-context: base64 of a JSON object whose
 * values are strings. */
static int kms_context(struct s3_req *r, const char *v, struct s3_sse *s)
{
	size_t vl = strlen(v);
	char *raw = cn_pool_alloc(r->pool, vl + 1);
	json_t *doc, *val;
	const char *k;
	long n;
	int ok;

	if (!raw)
		return CN_ENOMEM;
	n = cn_b64_decode(v, vl, (uint8_t *)raw, vl);
	if (n <= 0 || n > S3_KMS_CTX_MAX)
		return fail(r, CN_EBADARG, "The encryption context is not valid base64 JSON.");
	raw[n] = 0;
	doc = json_loadb(raw, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
	ok = doc && json_is_object(doc);
	if (ok)
		json_object_foreach(doc, k, val) ok &= json_is_string(val);
	json_decref(doc);
	if (!ok)
		return fail(r, CN_EBADARG,
			    "The encryption context must be a JSON object of string values.");
	s->ctx = raw;
	s->ctx_len = (size_t)n;
	return 0;
}

int s3_sse_for_write(struct s3_req *r, struct s3_sse *s)
{
	const char *alg = s3_header(r, H_SSE), *kid = s3_header(r, H_KID);
	const char *ctx = s3_header(r, H_CTX), *bk = s3_header(r, H_BK);
	struct s3_enc_conf conf;
	int rc;

	memset(s, 0, sizeof(*s));
	if (any_header(r, 0)) {
		if (alg || kid || ctx)
			return fail(r, CN_EBADARG,
				    "Server Side Encryption with Customer provided key is "
				    "incompatible with the encryption method specified");
		rc = customer_key(r, 0, s);
		if (rc)
			return rc;
		s->mode = S3_SSE_C;
		if (RAND_bytes(s->c_salt, sizeof(s->c_salt)) != 1)
			return CN_EINTERNAL;
		customer_mac(s->c_salt, s->dk, s->c_mac);
		return 0;
	}
	if (!alg) {
		if (kid || ctx)
			return fail(r, CN_EBADARG,
				    "Server Side Encryption with AWS KMS managed key requires "
				    "HTTP header x-amz-server-side-encryption : aws:kms");
		/* every writer checked its bucket first */
		rc = conf_load(r, r->route.bucket, 1, &conf);
		if (rc == CN_ENOTFOUND)
			return 0; /* no default: not encrypted */
		if (rc)
			return rc;
		alg = conf.alg;
		kid = conf.kid[0] ? conf.kid : NULL;
		if (!bk && conf.bucket_key)
			bk = "true";
	}
	s->bucket_key = bk && strcasecmp(bk, "true") == 0;
	if (RAND_bytes(s->dk, CN_KEY_LEN) != 1)
		return CN_EINTERNAL;
	s->unlocked = 1;
	if (strcmp(alg, "AES256") == 0) {
		if (kid || ctx)
			return fail(r, CN_EBADARG,
				    "Server Side Encryption with AWS KMS managed key requires "
				    "HTTP header x-amz-server-side-encryption : aws:kms");
		s->mode = S3_SSE_S3;
		return cn_key_wrap(r->srv->cfg.master_key, AAD_S3, sizeof(AAD_S3) - 1, s->dk,
				   s->wrapped);
	}
	if (strcmp(alg, "aws:kms") == 0) {
		uint8_t kek[CN_KEY_LEN];
		char *aad;
		size_t aad_len;
		s->mode = S3_SSE_KMS;
		rc = kms_parse_id(kid ? kid : DEFAULT_KMS, s->kms_name);
		if (!rc && ctx)
			rc = kms_context(r, ctx, s);
		if (!rc)
			rc = kms_material(r->srv, s->kms_name, kek);
		if (rc == CN_EKMSNOKEY)
			r->err_msg = cn_pool_printf(r->pool, "Invalid keyId %s",
						    kid ? kid : DEFAULT_KMS);
		if (rc)
			return rc;
		aad = kms_dk_aad(r, s, &aad_len);
		rc = aad ? cn_key_wrap(kek, aad, aad_len, s->dk, s->wrapped) : CN_ENOMEM;
		explicit_bzero(kek, sizeof(kek));
		return rc;
	}
	return fail(r, CN_EBADARG, "The encryption method specified is not supported");
}

/* ---- the record ---- */

int s3_sse_record(struct s3_req *r, const struct s3_sse *s, const uint8_t **out, size_t *len)
{
	size_t cap = 3 + CN_WRAP_LEN + 1 + S3_KMS_NAME_MAX + 2 + s->ctx_len + CN_SEAL_HDR +
		     CN_SEAL_TAG + 48;
	uint8_t *b, *p;

	*out = NULL;
	*len = 0;
	if (s->mode == S3_SSE_NONE)
		return 0;
	b = p = cn_pool_alloc(r->pool, cap);
	if (!b)
		return CN_ENOMEM;
	*p++ = 1;
	*p++ = (uint8_t)s->mode;
	*p++ = (uint8_t)((s->bucket_key ? 1 : 0) | (s->has_inline ? 2 : 0));
	if (s->mode == S3_SSE_C) {
		memcpy(p, s->c_salt, 16);
		memcpy(p + 16, s->c_mac, 32);
		p += 48;
	} else {
		memcpy(p, s->wrapped, CN_WRAP_LEN);
		p += CN_WRAP_LEN;
		if (s->mode == S3_SSE_KMS) {
			size_t nl = strlen(s->kms_name);
			*p++ = (uint8_t)nl;
			memcpy(p, s->kms_name, nl);
			p += nl;
			*p++ = (uint8_t)(s->ctx_len & 0xff);
			*p++ = (uint8_t)(s->ctx_len >> 8);
			if (s->ctx_len)
				memcpy(p, s->ctx, s->ctx_len);
			p += s->ctx_len;
		}
	}
	if (s->has_inline) {
		memcpy(p, s->ihdr, CN_SEAL_HDR);
		memcpy(p + CN_SEAL_HDR, s->itag, CN_SEAL_TAG);
		p += CN_SEAL_HDR + CN_SEAL_TAG;
	}
	*out = b;
	*len = (size_t)(p - b);
	return 0;
}

int s3_sse_decode(struct s3_req *r, const uint8_t *rec, size_t len, struct s3_sse *s)
{
	const uint8_t *p = rec, *end;

	memset(s, 0, sizeof(*s));
	if (len == 0) /* rec may be NULL then: no arithmetic on it */
		return 0;
	end = rec + len;
	if (len < 3 || p[0] != 1 || p[1] < S3_SSE_S3 || p[1] > S3_SSE_C)
		return CN_ECORRUPT;
	s->mode = (enum s3_sse_mode)p[1];
	s->bucket_key = p[2] & 1;
	s->has_inline = (p[2] & 2) != 0;
	p += 3;
	if (s->mode == S3_SSE_C) {
		if (end - p < 48)
			return CN_ECORRUPT;
		memcpy(s->c_salt, p, 16);
		memcpy(s->c_mac, p + 16, 32);
		p += 48;
	} else {
		if (end - p < CN_WRAP_LEN)
			return CN_ECORRUPT;
		memcpy(s->wrapped, p, CN_WRAP_LEN);
		p += CN_WRAP_LEN;
		if (s->mode == S3_SSE_KMS) {
			size_t nl, cl;
			if (end - p < 1)
				return CN_ECORRUPT;
			nl = *p++;
			/* a NUL would cut the name short: s3_sse_record() could not
			 * write it back, and the key looked up would be another */
			if (nl == 0 || nl > S3_KMS_NAME_MAX || (size_t)(end - p) < nl + 2 ||
			    memchr(p, 0, nl) != NULL)
				return CN_ECORRUPT;
			memcpy(s->kms_name, p, nl);
			s->kms_name[nl] = 0;
			p += nl;
			cl = (size_t)p[0] | (size_t)p[1] << 8;
			p += 2;
			if ((size_t)(end - p) < cl)
				return CN_ECORRUPT;
			if (cl) {
				char *c = cn_pool_strndup(r->pool, (const char *)p, cl);
				if (!c)
					return CN_ENOMEM;
				s->ctx = c;
				s->ctx_len = cl;
			}
			p += cl;
		}
	}
	if (s->has_inline) {
		if (end - p < CN_SEAL_HDR + CN_SEAL_TAG)
			return CN_ECORRUPT;
		memcpy(s->ihdr, p, CN_SEAL_HDR);
		memcpy(s->itag, p + CN_SEAL_HDR, CN_SEAL_TAG);
		p += CN_SEAL_HDR + CN_SEAL_TAG;
	}
	return p == end ? 0 : CN_ECORRUPT;
}

int s3_sse_unlock(struct s3_req *r, struct s3_sse *s, int copy_src, int part)
{
	uint8_t mac[32];
	int rc;

	if (s->mode != S3_SSE_C) {
		if (any_header(r, copy_src))
			return fail(r, CN_EBADSSE,
				    "The encryption parameters are not applicable to this object.");
	}
	switch (s->mode) {
	case S3_SSE_NONE: return 0;
	case S3_SSE_S3:
		rc = cn_key_unwrap(r->srv->cfg.master_key, AAD_S3, sizeof(AAD_S3) - 1, s->wrapped,
				   s->dk);
		break;
	case S3_SSE_KMS: {
		uint8_t kek[CN_KEY_LEN];
		size_t aad_len;
		char *aad = kms_dk_aad(r, s, &aad_len);
		if (!aad)
			return CN_ENOMEM;
		rc = kms_material(r->srv, s->kms_name, kek);
		if (!rc)
			rc = cn_key_unwrap(kek, aad, aad_len, s->wrapped, s->dk);
		explicit_bzero(kek, sizeof(kek));
		if (rc == CN_EKMSNOKEY)
			rc = CN_EDECRYPT; /* the key it was written with is gone */
		break;
	}
	case S3_SSE_C:
		if (!any_header(r, copy_src))
			return fail(r, CN_EBADSSE,
				    "The object was stored using a form of Server Side Encryption. "
				    "The correct parameters must be provided to retrieve the "
				    "object.");
		rc = customer_key(r, copy_src, s);
		if (rc)
			return rc;
		customer_mac(s->c_salt, s->dk, mac);
		if (CRYPTO_memcmp(mac, s->c_mac, 32) != 0) {
			explicit_bzero(s->dk, sizeof(s->dk));
			s->unlocked = 0;
			if (part)
				return fail(r, CN_EBADARG,
					    "The provided encryption parameters did not match the "
					    "ones used originally.");
			return CN_EACCESS;
		}
		break;
	default: return CN_ECORRUPT;
	}
	if (rc)
		return rc;
	s->unlocked = 1;
	return 0;
}

int s3_sse_for_read(struct s3_req *r, const uint8_t *attrs, size_t attrs_len, int copy_src,
		    struct s3_sse *out)
{
	const uint8_t *rec;
	size_t len;
	int rc = s3_attrs_sse(attrs, attrs_len, &rec, &len);

	if (!rc)
		rc = s3_sse_decode(r, rec, len, out);
	if (!rc)
		rc = s3_sse_unlock(r, out, copy_src, 0);
	return rc;
}

void s3_sse_headers(struct s3_req *r, const struct s3_sse *s, struct s3_hdrs *h)
{
	char arn[160];

	switch (s->mode) {
	case S3_SSE_NONE: break;
	case S3_SSE_S3: s3_hdr_add(r, h, H_SSE, "AES256"); break;
	case S3_SSE_KMS:
		s3_hdr_add(r, h, H_SSE, "aws:kms");
		kms_arn(r, s->kms_name, arn, sizeof(arn));
		s3_hdr_add(r, h, H_KID, cn_pool_strndup(r->pool, arn, strlen(arn)));
		if (s->bucket_key)
			s3_hdr_add(r, h, H_BK, "true");
		/* a write that gave an encryption context gets it back (PutObject,
		 * CopyObject, CreateMultipartUpload answer it, as S3); it passed
		 * kms_context(), so it is base64 */
		if (!r->is_head && strcmp(r->http->method_str, "GET") != 0) {
			const char *ctx = s3_header(r, H_CTX);
			if (ctx && s3_hdr_value_ok(ctx, strlen(ctx)))
				s3_hdr_add(r, h, H_CTX, ctx);
		}
		break;
	case S3_SSE_C:
		s3_hdr_add(r, h, H_C "algorithm", "AES256");
		if (s->c_md5)
			s3_hdr_add(r, h, H_C "key-MD5", s->c_md5);
		break;
	}
}

int s3_sse_etag_sealed(const struct s3_sse *s)
{
	return s && (s->mode == S3_SSE_KMS || s->mode == S3_SSE_C);
}

/* ---- data ---- */

int s3_sse_seal_inline(struct s3_sse *s, uint8_t *buf, size_t len, uint8_t md5[16])
{
	struct cn_digest d;
	struct cn_digest_result dr;
	int rc = cn_seal_whole(s->dk, buf, len, buf, s->ihdr, s->itag);

	if (rc)
		return rc;
	s->has_inline = 1;
	/* the whole sealed form, header and tag included: an empty object's
	 * ETag must not be the MD5 of nothing either */
	rc = cn_digest_init(&d, CN_DIG_MD5);
	if (rc)
		return rc;
	cn_digest_update(&d, s->ihdr, CN_SEAL_HDR);
	cn_digest_update(&d, buf, len);
	cn_digest_update(&d, s->itag, CN_SEAL_TAG);
	cn_digest_final(&d, &dr);
	cn_digest_release(&d);
	memcpy(md5, dr.md5, 16);
	return 0;
}

int s3_sse_open_inline(const struct s3_sse *s, const uint8_t *in, size_t len, uint8_t *out)
{
	if (!s->has_inline || !s->unlocked)
		return CN_ECORRUPT;
	return cn_open_whole(s->dk, in, len, out, s->ihdr, s->itag);
}

void s3_sse_reader_reset(struct s3_sse_reader *sr)
{
	if (sr->open)
		cn_opener_release(&sr->o);
	sr->open = 0;
}

/* Exactly len bytes at off, or an error. */
static int read_full(struct blob_reader *br, uint64_t off, uint8_t *buf, size_t len)
{
	while (len > 0) {
		size_t got = 0;
		int rc = blob_reader_read(br, off, buf, len, &got);
		if (rc)
			return rc;
		if (got == 0)
			return CN_ECORRUPT; /* shorter than its size says */
		off += got;
		buf += got;
		len -= got;
	}
	return 0;
}

int s3_sse_read(struct s3_sse_reader *sr, struct blob_reader *br, uint64_t size, uint64_t off,
		uint8_t *buf, size_t cap, size_t want, size_t *skip, size_t *got)
{
	uint64_t first, last, nf = cn_seal_frames(size), a, b;
	size_t max_frames = cap / CN_SEAL_SLOT, plen;
	int rc;

	*skip = *got = 0;
	if (off >= size || want == 0 || max_frames == 0)
		return CN_EINVAL;
	if (!sr->open) {
		rc = cn_opener_init(&sr->o, sr->s->dk, sr->id, size);
		if (rc)
			return rc;
		sr->open = 1;
	}
	if (want > size - off)
		want = (size_t)(size - off);
	first = off / CN_SEAL_FRAME;
	last = (off + want - 1) / CN_SEAL_FRAME;
	if (last - first + 1 > max_frames)
		last = first + max_frames - 1;
	if (last / 16 != first / 16)
		last = first | 15; /* up to a block boundary: whole-block reads */
	if (last + 2 == nf && last - first + 2 <= max_frames && off + want > last * CN_SEAL_FRAME)
		last++; /* and the object's last frame with it (a 1 MiB object's
			   256-byte tail), rather than a read of its own */
	a = cn_seal_frame_off(first);
	b = last + 1 >= nf ? cn_seal_size(size) : cn_seal_frame_off(last + 1);
	rc = read_full(br, a, buf, (size_t)(b - a));
	if (!rc)
		rc = cn_opener_frames(&sr->o, first, buf, (size_t)(b - a), &plen);
	if (rc)
		return rc;
	*skip = (size_t)(off - first * CN_SEAL_FRAME);
	if (plen <= *skip)
		return CN_ECORRUPT;
	*got = plen - *skip < want ? plen - *skip : want;
	return 0;
}

static int to_writer(void *arg, const void *p, size_t len)
{
	struct s3_sse_writer *sw = arg;

	if (sw->want_md5)
		cn_digest_update(&sw->md5, p, len);
	return blob_writer_append(sw->w, p, len);
}

int s3_sse_writer_init(struct s3_sse_writer *sw, const struct s3_sse *s,
		       const uint8_t id[CN_SEAL_ID])
{
	int rc;

	memset(sw, 0, sizeof(*sw));
	/* MD5 costs more than AES-GCM: only when it is the ETag */
	sw->want_md5 = s3_sse_etag_sealed(s);
	rc = cn_digest_init(&sw->md5, sw->want_md5 ? CN_DIG_MD5 : 0);
	if (rc)
		return rc;
	rc = cn_sealer_init(&sw->seal, s->dk, id);
	if (rc) {
		cn_digest_release(&sw->md5);
		return rc;
	}
	sw->init = 1;
	return 0;
}

int s3_sse_writer_append(struct s3_sse_writer *sw, const void *p, size_t len)
{
	return cn_sealer_update(&sw->seal, p, len, to_writer, sw);
}

int s3_sse_writer_final(struct s3_sse_writer *sw, uint8_t md5[16])
{
	struct cn_digest_result d;
	int rc = cn_sealer_final(&sw->seal, to_writer, sw);

	cn_digest_final(&sw->md5, &d);
	memcpy(md5, d.md5, 16); /* zeros unless want_md5 */
	return rc;
}

void s3_sse_writer_release(struct s3_sse_writer *sw)
{
	if (!sw->init)
		return;
	cn_sealer_release(&sw->seal);
	cn_digest_release(&sw->md5);
	sw->init = 0;
}

/* ---- bucket default encryption ---- */

void s3_enc_conf_to_xml(const struct s3_enc_conf *c, struct cn_buf *w)
{
	xmlw_decl(w);
	xmlw_open(w, "ServerSideEncryptionConfiguration", S3_NS);
	xmlw_open(w, "Rule", NULL);
	xmlw_open(w, "ApplyServerSideEncryptionByDefault", NULL);
	xmlw_elem(w, "SSEAlgorithm", c->alg);
	if (c->kid[0])
		xmlw_elem(w, "KMSMasterKeyID", c->kid);
	xmlw_close(w, "ApplyServerSideEncryptionByDefault");
	xmlw_elem(w, "BucketKeyEnabled", c->bucket_key ? "true" : "false");
	xmlw_close(w, "Rule");
	xmlw_close(w, "ServerSideEncryptionConfiguration");
}

void s3_op_get_bucket_encryption(struct s3_req *r)
{
	struct s3_enc_conf c;
	struct cn_buf w;
	int rc = conf_load(r, r->route.bucket, 0, &c);

	if (rc) {
		s3_send_error(r, rc == CN_ENOTFOUND ? CN_ENOSSECONF : rc);
		return;
	}
	cn_buf_init(&w);
	s3_enc_conf_to_xml(&c, &w);
	s3_send_xml(r, 200, NULL, &w);
}

_Static_assert(S3_ENC_MSG_CAP >=
		       sizeof("Invalid keyId ") + sizeof(((struct s3_enc_conf *)0)->kid) - 1,
	       "the longest message fits");

/* msg (cap bytes): why, when the answer replaces S3's standard message. */
static int bad_conf(int err, char *msg, size_t cap, const char *why, const char *arg)
{
	if (cap)
		snprintf(msg, cap, "%s%s", why, arg ? arg : "");
	return err;
}

int s3_enc_conf_from_xml(struct cn_pool *pool, const char *body, size_t len,
			 struct s3_enc_conf *conf, char **doc, char *msg, size_t cap)
{
	struct xml_node *root, *rule, *def;
	const char *alg, *kid, *bk;

	memset(conf, 0, sizeof(*conf));
	*doc = NULL;
	if (cap)
		msg[0] = '\0';
	if (xml_parse(pool, body, len, &root) != 0 ||
	    strcmp(root->name, "ServerSideEncryptionConfiguration") != 0 ||
	    !(rule = xml_child(root, "Rule")) ||
	    !(def = xml_child(rule, "ApplyServerSideEncryptionByDefault")) ||
	    !(alg = xml_child_text(def, "SSEAlgorithm")))
		return CN_EBADXML;
	kid = xml_child_text(def, "KMSMasterKeyID");
	bk = xml_child_text(rule, "BucketKeyEnabled");
	if (strcmp(alg, "AES256") != 0 && strcmp(alg, "aws:kms") != 0)
		return bad_conf(CN_EBADARG, msg, cap,
				"The encryption method specified is not supported", NULL);
	/* the stored document is lines: no newline in a value */
	if (kid &&
	    (strcmp(alg, "aws:kms") != 0 || strlen(kid) >= sizeof(conf->kid) || strchr(kid, '\n')))
		return bad_conf(CN_EBADARG, msg, cap,
				"a KMSMasterKeyID is allowed only if SSEAlgorithm is set to "
				"aws:kms.",
				NULL);
	if (kid) {
		char name[S3_KMS_NAME_MAX + 1];
		if (kms_parse_id(kid, name) != 0)
			return bad_conf(CN_EKMSNOKEY, msg, cap, "Invalid keyId ", kid);
	}
	snprintf(conf->alg, sizeof(conf->alg), "%s", alg);
	snprintf(conf->kid, sizeof(conf->kid), "%s", kid ? kid : "");
	conf->bucket_key = bk && strcmp(bk, "true") == 0;
	*doc = cn_pool_printf(pool, "1\n%s\n%s\n%d", conf->alg, conf->kid, conf->bucket_key);
	return *doc ? 0 : CN_ENOMEM;
}

static void enc_body(struct s3_req *r, int err, char *buf, size_t len)
{
	struct s3_enc_conf conf;
	struct meta_bucket b;
	char msg[S3_ENC_MSG_CAP], *doc;
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
	rc = s3_enc_conf_from_xml(r->pool, buf, len, &conf, &doc, msg, sizeof(msg));
	if (rc) {
		if (msg[0])
			r->err_msg = cn_pool_strndup(r->pool, msg, strlen(msg));
		s3_send_error(r, rc);
		return;
	}
	s3_bucket_conf_put(r, "encryption", doc, strlen(doc), 200);
}

void s3_op_put_bucket_encryption(struct s3_req *r)
{
	s3_body_read_small(r, ENC_BODY_MAX, enc_body);
}

void s3_op_delete_bucket_encryption(struct s3_req *r)
{
	struct meta_bucket b;
	int rc = meta_bucket_get(r->srv->meta, r->route.bucket, &b);

	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	meta_bucket_release(&b);
	s3_bucket_conf_put(r, "encryption", "", 0, 204);
}

/* ---- the KMS key ring (admin API) ---- */

struct kms_list {
	json_t *arr;
	struct s3_req *r;
};

static int kms_list_one(void *arg, const char *name, const char *val)
{
	struct kms_list *l = arg;
	char arn[160];
	(void)val;

	kms_arn(l->r, name + 4, arn, sizeof(arn));
	json_array_append_new(l->arr, json_pack("{s:s,s:s}", "name", name + 4, "arn", arn));
	return 0;
}

struct kms_op {
	struct meta_cmd cmd;
	char name[S3_KMS_NAME_MAX + 1];
	char setting[8 + S3_KMS_NAME_MAX];
	char val[8 + 2 * CN_WRAP_LEN];
};

static void kms_added(struct meta_cmd *cmd, int rc, void *arg)
{
	struct s3_req *r = arg;
	struct kms_op *op = (struct kms_op *)cmd;
	char arn[160];

	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	kms_arn(r, op->name, arn, sizeof(arn));
	s3_send_json(r, 200, json_pack("{s:s,s:s}", "name", op->name, "arn", arn));
}

void s3_admin_kms(struct s3_req *r, int post)
{
	const char *o = s3_route_param(&r->route, "op");
	const char *name = s3_route_param(&r->route, "name");
	struct kms_op *op;
	uint8_t mat[CN_KEY_LEN], w[CN_WRAP_LEN], tmp[CN_KEY_LEN];
	char aad[64];
	int rc;

	if (!post) {
		struct kms_list l = {json_array(), r};
		char arn[160];
		kms_arn(r, DEFAULT_KMS, arn, sizeof(arn));
		json_array_append_new(l.arr, json_pack("{s:s,s:s,s:b}", "name", DEFAULT_KMS, "arn",
						       arn, "default", 1));
		rc = meta_setting_each(r->srv->meta, "kms.", kms_list_one, &l);
		if (rc) {
			json_decref(l.arr);
			s3_send_error(r, rc);
			return;
		}
		s3_send_json(r, 200, json_pack("{s:o}", "keys", l.arr));
		return;
	}
	if (!o || strcmp(o, "add") != 0 || !name || !kms_name_ok(name, strlen(name))) {
		s3_send_json(r, 400,
			     json_pack("{s:s,s:s}", "error", "InvalidInput", "message",
				       "want op=add and a name of 1-28 characters [a-z0-9._-]"));
		return;
	}
	/* Never replace a key: every object it protects would be lost. */
	rc = kms_material(r->srv, name, tmp);
	explicit_bzero(tmp, sizeof(tmp));
	if (rc != CN_EKMSNOKEY) {
		if (rc == 0)
			s3_send_json(r, 409,
				     json_pack("{s:s,s:s}", "error", "AlreadyExists", "message",
					       "a KMS key with this name exists"));
		else
			s3_send_error(r, rc);
		return;
	}
	op = cn_pool_zalloc(r->pool, sizeof(*op));
	if (!op) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	snprintf(op->name, sizeof(op->name), "%s", name);
	snprintf(op->setting, sizeof(op->setting), "kms.%s", name);
	kms_aad(name, aad, sizeof(aad));
	if (RAND_bytes(mat, sizeof(mat)) != 1 ||
	    cn_key_wrap(r->srv->cfg.master_key, aad, strlen(aad), mat, w) != 0) {
		explicit_bzero(mat, sizeof(mat));
		s3_send_error(r, CN_EINTERNAL);
		return;
	}
	explicit_bzero(mat, sizeof(mat));
	memcpy(op->val, "1 ", 2);
	cn_b64_encode(w, CN_WRAP_LEN, op->val + 2, sizeof(op->val) - 2);
	op->cmd.type = META_CMD_SETTING;
	op->cmd.now = cn_now_ns();
	op->cmd.key = op->setting;
	op->cmd.key_len = strlen(op->setting);
	op->cmd.attrs = (const uint8_t *)op->val;
	op->cmd.attrs_len = strlen(op->val);
	rc = s3_meta_submit(r, &op->cmd, kms_added, r);
	if (rc)
		s3_send_error(r, rc);
}
