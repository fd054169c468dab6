/*
 * s3/objattrs.c — GetObjectAttributes (GET /bucket/key?attributes): what
 * HeadObject and ListParts would tell about one version, in one XML answer.
 *
 * Layer: s3. Reads one version record in a short read transaction; the
 * parts of a multipart version (sizes, stored checksums) come from that
 * record, so the answer describes exactly the version named. The requested
 * attributes (x-amz-object-attributes) must all be known names; parts are
 * paged by x-amz-part-number-marker / x-amz-max-parts (at most 1000).
 */
#include "s3/s3_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "s3/sse.h"

#define MAX_PARTS 1000

enum {
	A_ETAG = 1 << 0,
	A_CHECKSUM = 1 << 1,
	A_PARTS = 1 << 2,
	A_CLASS = 1 << 3,
	A_SIZE = 1 << 4,
};

/* "ETag, Checksum,ObjectParts" -> bits; 0 when empty or a name is unknown. */
static unsigned parse_attrs(const char *s)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = {{"ETag", A_ETAG},
		     {"Checksum", A_CHECKSUM},
		     {"ObjectParts", A_PARTS},
		     {"StorageClass", A_CLASS},
		     {"ObjectSize", A_SIZE}};
	unsigned bits = 0;

	while (s && *s) {
		size_t n;
		unsigned bit = 0;
		while (*s == ' ' || *s == ',')
			s++;
		n = strcspn(s, ", ");
		if (!n)
			break;
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strlen(names[i].name) == n && strncmp(s, names[i].name, n) == 0)
				bit = names[i].bit;
		if (!bit)
			return 0;
		bits |= bit;
		s += n;
	}
	return bits;
}

/* A decimal header in [0, max]; absent: dflt. */
static int header_u32(struct s3_req *r, const char *name, uint32_t dflt, uint32_t *out)
{
	const char *s = s3_header(r, name);
	uint64_t v = 0;

	*out = dflt;
	if (!s)
		return 0;
	if (!*s || strlen(s) > 10)
		return CN_EBADARG;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return CN_EBADARG;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (v > UINT32_MAX)
		return CN_EBADARG;
	*out = (uint32_t)v;
	return 0;
}

/* with_parts: the object has an additional checksum. Without one S3 lists
 * no Part (API reference, GetObjectAttributesParts: "the response doesn't
 * return the Part element"), only the count. */
static void write_parts(struct cn_buf *w, const struct meta_version *v, uint32_t marker,
			uint32_t max, int with_parts)
{
	uint32_t shown = 0, last = 0, i = 0;
	int truncated = 0;

	xmlw_open(w, "ObjectParts", NULL);
	xmlw_elem_u64(w, "PartsCount", v->n_parts); /* the API model's TotalPartsCount */
	if (!with_parts) {
		xmlw_close(w, "ObjectParts");
		return;
	}
	xmlw_elem_u64(w, "PartNumberMarker", marker);
	while (i < v->n_parts && v->parts[i].part_no <= marker)
		i++;
	for (uint32_t j = i; j < v->n_parts; j++) {
		if (shown == max) {
			truncated = 1;
			break;
		}
		shown++;
		last = v->parts[j].part_no;
	}
	if (shown)
		xmlw_elem_u64(w, "NextPartNumberMarker", last);
	xmlw_elem_u64(w, "MaxParts", max);
	xmlw_elem(w, "IsTruncated", truncated ? "true" : "false");
	for (uint32_t j = i; j < i + shown; j++) {
		const struct meta_part *p = &v->parts[j];
		xmlw_open(w, "Part", NULL);
		xmlw_elem_u64(w, "PartNumber", p->part_no);
		xmlw_elem_u64(w, "Size", p->size);
		s3_checksum_xml(w, (enum cn_checksum_alg)p->ck_alg, p->ck, p->ck_len, 0);
		xmlw_close(w, "Part");
	}
	xmlw_close(w, "ObjectParts");
}

/* A missing version or a delete marker: 404 as S3 answers it, with the
 * marker's headers; 403 to whom may not list the bucket. */
static void send_missing(struct s3_req *r, int rc, struct meta_version *v)
{
	struct s3_hdrs h = {.n = 0};

	if ((rc == CN_ENOKEY || rc == CN_ENOVERSION) &&
	    s3_authz_check(r, "s3:ListBucket", r->route.bucket, NULL, 0, ACL_READ))
		rc = CN_EACCESS;
	else if ((rc == CN_ENOKEY || rc == CN_EDELMARKER) && (v->flags & META_VF_DELETE_MARKER)) {
		s3_hdr_add(r, &h, "x-amz-delete-marker", "true");
		s3_version_header(r, &h, v);
		/* S3 answers GetObjectAttributes on a marker with 404 */
		rc = CN_ENOKEY;
	}
	if (v->flags & META_VF_DELETE_MARKER)
		meta_version_release(v);
	s3_send_error_ex(r, rc, &h, NULL, 0);
}

void s3_op_get_object_attributes(struct s3_req *r)
{
	const char *vid = s3_route_param(&r->route, "versionId");
	unsigned want = parse_attrs(s3_header(r, "x-amz-object-attributes"));
	struct meta_version v;
	struct s3_attrs a;
	struct s3_sse sse;
	struct s3_hdrs h = {.n = 0};
	struct cn_buf w;
	uint32_t max, marker;
	char date[40];
	int rc;

	if (!want) {
		s3_send_error(r, CN_EBADARG); /* missing, empty or unknown */
		return;
	}
	if (vid && !*vid) {
		s3_send_error(r, CN_EBADVERSIONID);
		return;
	}
	rc = header_u32(r, "x-amz-max-parts", MAX_PARTS, &max);
	if (!rc)
		rc = header_u32(r, "x-amz-part-number-marker", 0, &marker);
	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	if (max > MAX_PARTS)
		max = MAX_PARTS;
	memset(&v, 0, sizeof(v));
	rc = meta_object_get(r->srv->meta, r->route.bucket, r->route.key, r->route.key_len, vid,
			     META_GET_VSTATE, &v);
	if (rc) {
		send_missing(r, rc, &v);
		return;
	}
	rc = s3_authz_version(r, v.attrs, v.attrs_len);
	/* an SSE-C object's metadata needs its key, as HEAD does (S3) */
	if (!rc) {
		rc = s3_sse_for_read(r, v.attrs, v.attrs_len, 0, &sse);
		explicit_bzero(&sse, sizeof(sse)); /* only the key check was wanted */
	}
	if (!rc)
		rc = s3_attrs_decode(r, v.attrs, v.attrs_len, &a);
	if (rc) {
		meta_version_release(&v);
		s3_send_error(r, rc);
		return;
	}
	s3_http_date(v.mtime, date);
	s3_hdr_add(r, &h, "Last-Modified", cn_pool_strndup(r->pool, date, strlen(date)));
	s3_version_header(r, &h, &v);
	cn_buf_init(&w);
	xmlw_decl(&w);
	xmlw_open(&w, "GetObjectAttributesResponse", S3_NS);
	if (want & A_ETAG)
		xmlw_elem(&w, "ETag", v.etag); /* S3: without quotes here */
	if ((want & A_CHECKSUM) && a.ck_len) {
		/* the part count is ObjectParts/PartsCount, not a suffix */
		xmlw_open(&w, "Checksum", NULL);
		s3_checksum_xml(&w, a.ck_alg, a.ck_raw, a.ck_len, 0);
		xmlw_elem(&w, "ChecksumType", a.ck_composite ? "COMPOSITE" : "FULL_OBJECT");
		xmlw_close(&w, "Checksum");
	}
	if ((want & A_PARTS) && v.loc == META_LOC_PARTS)
		write_parts(&w, &v, marker, max, a.ck_len != 0);
	if (want & A_CLASS)
		xmlw_elem(&w, "StorageClass", "STANDARD");
	if (want & A_SIZE)
		xmlw_elem_u64(&w, "ObjectSize", v.size);
	xmlw_close(&w, "GetObjectAttributesResponse");
	meta_version_release(&v);
	s3_send_xml(r, 200, &h, &w);
}
