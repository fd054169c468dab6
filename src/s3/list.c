/*
 * s3/list.c — the listing operations: ListObjectsV2, ListObjects (v1),
 * ListObjectVersions and ListMultipartUploads.
 *
 * Layer: s3 handler over meta's listings (DESIGN §4): each request is one
 * short LMDB read (a cursor walk that seeks past common prefixes), run on
 * the loop, then one XML response. Nothing here touches object data.
 *
 * Invariants: query parameters are validated before the store is read
 * (max-keys an integer 0..2^31-1, clamped to 1000; encoding-type absent or
 * "url"; markers at most S3_MAX_KEY bytes). With encoding-type=url every
 * key-like value in the response (Key, Prefix, Delimiter, markers) is
 * percent-encoded, so keys with bytes XML 1.0 cannot carry still list.
 */
#include "s3/s3_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define LIST_MAX 1000u

/* A listing request's parameters after validation. */
struct lq {
	struct meta_list_params p;
	unsigned max;	  /* effective, 0..1000 */
	int url;	  /* encoding-type=url */
	int has_delim;	  /* a delimiter parameter was given */
	int owner;	  /* emit Owner in entries */
	const char *name; /* bucket */
};

/* Parses a max-keys style value: decimal digits only. Absent -> 1000. */
static int parse_max(const char *s, unsigned *out)
{
	unsigned long v = 0;

	if (!s) {
		*out = LIST_MAX;
		return 0;
	}
	if (!*s)
		return CN_EBADARG;
	for (const char *c = s; *c; c++) {
		if (*c < '0' || *c > '9')
			return CN_EBADARG; /* also catches a minus sign */
		v = v * 10 + (unsigned long)(*c - '0');
		if (v > 0x7fffffffUL)
			return CN_EBADARG;
	}
	*out = v > LIST_MAX ? LIST_MAX : (unsigned)v;
	return 0;
}

/* A key-like parameter: present or not, at most S3_MAX_KEY bytes. */
static int key_param(struct s3_req *r, const char *name, const char **out, size_t *len)
{
	const char *v = s3_route_param(&r->route, name);

	*out = v;
	*len = v ? strlen(v) : 0;
	if (*len > S3_MAX_KEY) {
		char msg[64];
		snprintf(msg, sizeof(msg), "The %s is longer than %d bytes", name, S3_MAX_KEY);
		r->err_msg = cn_pool_strndup(r->pool, msg, strlen(msg));
		return CN_EBADARG;
	}
	/* echoed into the XML answer, which cannot hold bytes that are not
	 * UTF-8 (and no key is such: route.c refuses them) */
	if (v && !s3_utf8_valid(v, *len)) {
		char msg[64];
		snprintf(msg, sizeof(msg), "The %s is not valid UTF-8", name);
		r->err_msg = cn_pool_strndup(r->pool, msg, strlen(msg));
		return CN_EBADARG;
	}
	return 0;
}

/* Fills the parts all listings share: prefix, delimiter, encoding-type and
 * the limit named by max_name. */
static int parse_common(struct s3_req *r, struct lq *q, const char *max_name)
{
	const char *enc = s3_route_param(&r->route, "encoding-type");
	int rc;

	memset(q, 0, sizeof(*q));
	q->name = r->route.bucket;
	if (enc) {
		if (strcmp(enc, "url") != 0) {
			r->err_msg = "Invalid Encoding Method specified in Request";
			return CN_EBADARG;
		}
		q->url = 1;
	}
	rc = parse_max(s3_route_param(&r->route, max_name), &q->max);
	if (rc) {
		char msg[80];
		snprintf(msg, sizeof(msg), "Provided %s not an integer or within integer range",
			 max_name);
		r->err_msg = cn_pool_strndup(r->pool, msg, strlen(msg));
		return rc;
	}
	q->p.max = q->max;
	q->p.peek = s3_attrs_ck_peek;
	rc = key_param(r, "prefix", &q->p.prefix, &q->p.prefix_len);
	if (rc)
		return rc;
	rc = key_param(r, "delimiter", &q->p.delimiter, &q->p.delimiter_len);
	if (rc)
		return rc;
	q->has_delim = q->p.delimiter != NULL;
	return 0;
}

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~' || c == '/';
}

/* <tag>s</tag>, percent-encoded when url (what clients undo with
 * unquote_plus / QueryUnescape). */
static void elem_key(struct cn_buf *w, const char *tag, const char *s, size_t len, int url)
{
	static const char hex[] = "0123456789ABCDEF";
	char buf[3 * 256];
	size_t n = 0;

	if (!url) {
		xmlw_elem_n(w, tag, s ? s : "", s ? len : 0);
		return;
	}
	cn_buf_put(w, "<", 1);
	cn_buf_put(w, tag, strlen(tag));
	cn_buf_put(w, ">", 1);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (n + 3 > sizeof(buf)) {
			cn_buf_put(w, buf, n);
			n = 0;
		}
		if (unreserved(c)) {
			buf[n++] = (char)c;
		} else {
			buf[n++] = '%';
			buf[n++] = hex[c >> 4];
			buf[n++] = hex[c & 15];
		}
	}
	cn_buf_put(w, buf, n);
	xmlw_close(w, tag);
}

static void elem_bool(struct cn_buf *w, const char *tag, int v)
{
	xmlw_elem(w, tag, v ? "true" : "false");
}

static void elem_owner(struct s3_req *r, struct cn_buf *w, const char *tag)
{
	xmlw_open(w, tag, NULL);
	xmlw_elem(w, "ID", r->srv->account_canonical);
	if (r->ident.kind != S3_PRINCIPAL_ANON) /* the root user's name */
		xmlw_elem(w, "DisplayName", r->srv->cfg.access_key);
	xmlw_close(w, tag);
}

static void elem_etag(struct cn_buf *w, const char *etag)
{
	/* the quotes, escaped as xmlw_text would */
	cn_buf_puts(w, "<ETag>&quot;");
	xmlw_text(w, etag, strlen(etag));
	cn_buf_puts(w, "&quot;</ETag>");
}

static void prefixes_out(struct cn_buf *w, const struct meta_list_result *res, int url)
{
	for (size_t i = 0; i < res->n_prefixes; i++) {
		xmlw_open(w, "CommonPrefixes", NULL);
		elem_key(w, "Prefix", res->prefixes[i].p, res->prefixes[i].len, url);
		xmlw_close(w, "CommonPrefixes");
	}
}

/* ChecksumAlgorithm and ChecksumType of a version that has a checksum (S3
 * lists them; the default CRC64NVME gives most objects one). */
static void elem_checksum(struct cn_buf *w, const struct meta_entry *e)
{
	if (!e->peek[0])
		return;
	xmlw_elem(w, "ChecksumAlgorithm", cn_checksum_alg_name((enum cn_checksum_alg)e->peek[0]));
	xmlw_elem(w, "ChecksumType", e->peek[1] == 2 ? "COMPOSITE" : "FULL_OBJECT");
}

static void contents_out(struct s3_req *r, struct cn_buf *w, const struct lq *q,
			 const struct meta_list_result *res)
{
	for (size_t i = 0; i < res->n; i++) {
		const struct meta_entry *e = &res->entries[i];
		xmlw_open(w, "Contents", NULL);
		elem_key(w, "Key", e->key, e->key_len, q->url);
		xmlw_elem_time(w, "LastModified", (uint64_t)e->mtime);
		elem_etag(w, e->etag);
		elem_checksum(w, e);
		xmlw_elem_u64(w, "Size", e->size);
		if (q->owner)
			elem_owner(r, w, "Owner");
		xmlw_elem(w, "StorageClass", "STANDARD");
		xmlw_close(w, "Contents");
	}
}

/* Room for the page up front (an entry with its elements is ~300 bytes
 * plus its key), so a page of 1,000 is not copied by each doubling. */
static void reserve_page(struct cn_buf *w, const struct meta_list_result *res)
{
	size_t n = 1024;

	for (size_t i = 0; i < res->n; i++)
		n += 360 + res->entries[i].key_len;
	for (size_t i = 0; i < res->n_prefixes; i++)
		n += 64 + res->prefixes[i].len;
	cn_buf_reserve(w, n);
}

/* enc_prefix: ListObjects v1 leaves Prefix plain (S3 encodes Delimiter,
 * Marker, NextMarker and Key there; clients decode exactly those). */
static void head_out(struct cn_buf *w, const char *root, const struct lq *q, int enc_prefix)
{
	xmlw_decl(w);
	xmlw_open(w, root, S3_NS);
	xmlw_elem(w, "Name", q->name);
	elem_key(w, "Prefix", q->p.prefix, q->p.prefix_len, q->url && enc_prefix);
}

/* ListObjectsV2 (list-type=2) and ListObjects (v1). Like every handler
 * here: runs on r's loop, borrows r, ends it exactly once before returning;
 * the listing result is owned and released here. */
void s3_op_list_objects(struct s3_req *r)
{
	int v2 = r->route.op == S3_OP_LIST_OBJECTS_V2;
	struct meta_list_result res;
	const char *token = NULL;
	struct cn_buf w;
	struct lq q;
	int rc;

	rc = parse_common(r, &q, "max-keys");
	if (rc)
		goto fail;
	rc = key_param(r, v2 ? "start-after" : "marker", &q.p.start, &q.p.start_len);
	if (rc)
		goto fail;
	if (v2) {
		const char *fo = s3_route_param(&r->route, "fetch-owner");
		q.owner = fo && strcmp(fo, "true") == 0;
		token = s3_route_param(&r->route, "continuation-token");
		if (token && !*token) {
			rc = CN_EBADTOKEN;
			goto fail;
		}
		q.p.token = token;
	} else {
		q.owner = 1;
	}
	rc = meta_list_objects(r->srv->meta, r->route.bucket, &q.p, &res);
	if (rc)
		goto fail;

	cn_buf_init(&w);
	reserve_page(&w, &res);
	head_out(&w, "ListBucketResult", &q, v2);
	if (v2) {
		if (q.p.start)
			elem_key(&w, "StartAfter", q.p.start, q.p.start_len, q.url);
		if (token)
			xmlw_elem(&w, "ContinuationToken", token);
		if (res.truncated && res.next_token)
			xmlw_elem(&w, "NextContinuationToken", res.next_token);
		xmlw_elem_u64(&w, "KeyCount", res.n + res.n_prefixes);
	} else {
		elem_key(&w, "Marker", q.p.start, q.p.start_len, q.url);
		/* S3 sends NextMarker only with a delimiter; without one the
		 * client continues from the last Key. */
		if (res.truncated && q.has_delim && res.next_marker)
			elem_key(&w, "NextMarker", res.next_marker, res.next_marker_len, q.url);
	}
	xmlw_elem_u64(&w, "MaxKeys", q.max);
	if (q.has_delim)
		elem_key(&w, "Delimiter", q.p.delimiter, q.p.delimiter_len, q.url);
	if (q.url)
		xmlw_elem(&w, "EncodingType", "url");
	elem_bool(&w, "IsTruncated", res.truncated);
	contents_out(r, &w, &q, &res);
	prefixes_out(&w, &res, q.url);
	xmlw_close(&w, "ListBucketResult");
	meta_list_result_release(&res);
	s3_send_xml(r, 200, NULL, &w);
	return;
fail:
	s3_send_error(r, rc);
}

/* A version-id / upload-id marker: "null" (versions only) or 32 hex. */
static int id_marker_check(struct s3_req *r, const char *s, int allow_null)
{
	uint8_t id[META_ID_LEN];

	if (!s || !*s)
		return 0;
	if (allow_null && strcmp(s, "null") == 0)
		return 0;
	if (meta_id_from_text(s, strlen(s), id) == 0)
		return 0;
	r->err_msg = allow_null ? "Invalid version id specified" : "Invalid upload id marker";
	return CN_EBADARG;
}

/* ListObjectVersions (GET /bucket?versions). Loop thread; ends r. */
void s3_op_list_object_versions(struct s3_req *r)
{
	struct meta_list_result res;
	struct cn_buf w;
	struct lq q;
	int rc;

	rc = parse_common(r, &q, "max-keys");
	if (rc)
		goto fail;
	rc = key_param(r, "key-marker", &q.p.start, &q.p.start_len);
	if (rc)
		goto fail;
	q.p.id_marker = s3_route_param(&r->route, "version-id-marker");
	if (q.p.id_marker && *q.p.id_marker && !q.p.start_len) {
		r->err_msg = "A version-id marker cannot be specified without a key marker.";
		rc = CN_EBADARG;
		goto fail;
	}
	rc = id_marker_check(r, q.p.id_marker, 1);
	if (rc)
		goto fail;
	rc = meta_list_versions(r->srv->meta, r->route.bucket, &q.p, &res);
	if (rc)
		goto fail;

	cn_buf_init(&w);
	reserve_page(&w, &res);
	head_out(&w, "ListVersionsResult", &q, 1);
	elem_key(&w, "KeyMarker", q.p.start, q.p.start_len, q.url);
	xmlw_elem(&w, "VersionIdMarker", q.p.id_marker ? q.p.id_marker : "");
	if (res.truncated && res.next_marker) {
		elem_key(&w, "NextKeyMarker", res.next_marker, res.next_marker_len, q.url);
		xmlw_elem(&w, "NextVersionIdMarker", res.next_id);
	}
	xmlw_elem_u64(&w, "MaxKeys", q.max);
	if (q.has_delim)
		elem_key(&w, "Delimiter", q.p.delimiter, q.p.delimiter_len, q.url);
	if (q.url)
		xmlw_elem(&w, "EncodingType", "url");
	elem_bool(&w, "IsTruncated", res.truncated);
	/* Versions and delete markers interleave in listing order. */
	for (size_t i = 0; i < res.n; i++) {
		const struct meta_entry *e = &res.entries[i];
		int dm = !!(e->flags & META_VF_DELETE_MARKER);
		const char *tag = dm ? "DeleteMarker" : "Version";
		xmlw_open(&w, tag, NULL);
		elem_key(&w, "Key", e->key, e->key_len, q.url);
		xmlw_elem(&w, "VersionId", e->vid_text);
		elem_bool(&w, "IsLatest", e->flags & META_VF_LATEST);
		xmlw_elem_time(&w, "LastModified", (uint64_t)e->mtime);
		if (!dm) {
			elem_etag(&w, e->etag);
			elem_checksum(&w, e);
			xmlw_elem_u64(&w, "Size", e->size);
			xmlw_elem(&w, "StorageClass", "STANDARD");
		}
		elem_owner(r, &w, "Owner");
		xmlw_close(&w, tag);
	}
	prefixes_out(&w, &res, q.url);
	xmlw_close(&w, "ListVersionsResult");
	meta_list_result_release(&res);
	s3_send_xml(r, 200, NULL, &w);
	return;
fail:
	s3_send_error(r, rc);
}

/* An upload's ChecksumAlgorithm and ChecksumType, as S3 lists them (one
 * short read of the upload record; an upload gone meanwhile shows none). */
static void upload_checksum_out(struct s3_req *r, struct cn_buf *w, const struct meta_entry *e)
{
	struct meta_upload u;
	enum cn_checksum_alg alg;
	int type;

	if (meta_upload_get(r->srv->meta, r->route.bucket, e->key, e->key_len, e->vid, &u) != 0)
		return;
	if (s3_attrs_ckspec(u.attrs, u.attrs_len, &alg, &type) == 0 && alg != CN_CK_NONE) {
		xmlw_elem(w, "ChecksumAlgorithm", cn_checksum_alg_name(alg));
		xmlw_elem(w, "ChecksumType", type == 2 ? "FULL_OBJECT" : "COMPOSITE");
	}
	meta_upload_release(&u);
}

/* ListMultipartUploads (GET /bucket?uploads). Loop thread; ends r. */
void s3_op_list_multipart_uploads(struct s3_req *r)
{
	struct meta_list_result res;
	struct cn_buf w;
	struct lq q;
	int rc;

	rc = parse_common(r, &q, "max-uploads");
	if (rc)
		goto fail;
	rc = key_param(r, "key-marker", &q.p.start, &q.p.start_len);
	if (rc)
		goto fail;
	/* S3 ignores upload-id-marker without key-marker. */
	if (q.p.start_len)
		q.p.id_marker = s3_route_param(&r->route, "upload-id-marker");
	rc = id_marker_check(r, q.p.id_marker, 0);
	if (rc)
		goto fail;
	rc = meta_list_uploads(r->srv->meta, r->route.bucket, &q.p, &res);
	if (rc)
		goto fail;

	cn_buf_init(&w);
	reserve_page(&w, &res);
	xmlw_decl(&w);
	xmlw_open(&w, "ListMultipartUploadsResult", S3_NS);
	xmlw_elem(&w, "Bucket", q.name);
	elem_key(&w, "KeyMarker", q.p.start, q.p.start_len, q.url);
	xmlw_elem(&w, "UploadIdMarker", q.p.id_marker ? q.p.id_marker : "");
	if (res.truncated && res.next_marker) {
		elem_key(&w, "NextKeyMarker", res.next_marker, res.next_marker_len, q.url);
		xmlw_elem(&w, "NextUploadIdMarker", res.next_id);
	}
	elem_key(&w, "Prefix", q.p.prefix, q.p.prefix_len, q.url);
	if (q.has_delim)
		elem_key(&w, "Delimiter", q.p.delimiter, q.p.delimiter_len, q.url);
	xmlw_elem_u64(&w, "MaxUploads", q.max);
	if (q.url)
		xmlw_elem(&w, "EncodingType", "url");
	elem_bool(&w, "IsTruncated", res.truncated);
	for (size_t i = 0; i < res.n; i++) {
		const struct meta_entry *e = &res.entries[i];
		xmlw_open(&w, "Upload", NULL);
		elem_key(&w, "Key", e->key, e->key_len, q.url);
		xmlw_elem(&w, "UploadId", e->vid_text);
		elem_owner(r, &w, "Initiator");
		elem_owner(r, &w, "Owner");
		xmlw_elem(&w, "StorageClass", "STANDARD");
		xmlw_elem_time(&w, "Initiated", (uint64_t)e->mtime);
		upload_checksum_out(r, &w, e);
		xmlw_close(&w, "Upload");
	}
	prefixes_out(&w, &res, q.url);
	xmlw_close(&w, "ListMultipartUploadsResult");
	meta_list_result_release(&res);
	s3_send_xml(r, 200, NULL, &w);
	return;
fail:
	s3_send_error(r, rc);
}
