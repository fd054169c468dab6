/*
 * s3/multipart.c — multipart upload: CreateMultipartUpload, UploadPart,
 * UploadPartCopy, CompleteMultipartUpload, AbortMultipartUpload, ListParts.
 *
 * Upload state machine (the records live in meta's `uploads` and `parts`
 * dbs; every arrow is one metadata command applied atomically):
 *
 *   (none) --UPLOAD_CREATE (s3_op_create_multipart)--> OPEN
 *   OPEN --PART_PUT (s3_op_upload_part / _part_copy)--> OPEN
 *        (a replaced part's blob goes to gc in the same transaction)
 *   OPEN --UPLOAD_COMPLETE (s3_op_complete_multipart)--> (none) + version
 *        (parts not named go to gc)
 *   OPEN --UPLOAD_ABORT (s3_op_abort_multipart)--> (none), all parts to gc
 *
 * Parts are always blobs (never inline), each written durably before its
 * PART_PUT is submitted; a part whose command fails is deleted before the
 * answer. Validation of the part list (InvalidPart, InvalidPartOrder,
 * EntityTooSmall) and the "md5-of-md5s-N" ETag happen inside apply.
 */
#include "s3/copy_int.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/err.h"

#define COMPLETE_BODY_MAX (4u << 20) /* 10000 parts with checksums fit */
#define LIST_PARTS_MAX 1000

/* Parses the uploadId query parameter. A malformed id names no upload. */
static int upload_id_param(struct s3_req *r, uint8_t id[META_ID_LEN])
{
	const char *s = s3_route_param(&r->route, "uploadId");

	if (!s || meta_id_from_text(s, strlen(s), id) != 0)
		return CN_ENOUPLOAD;
	return 0;
}

/* Parses a decimal in [lo, hi]; returns 0 or CN_EBADARG. */
static int parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	unsigned long long v = 0;

	if (!s || !*s || strlen(s) > 10)
		return CN_EBADARG;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return CN_EBADARG;
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (v < lo || v > hi)
		return CN_EBADARG;
	*out = (uint32_t)v;
	return 0;
}

/* The upload must exist (and belong to this bucket/key) before a body is
 * read for it. */
static int upload_exists(struct s3_req *r, const uint8_t id[META_ID_LEN])
{
	struct meta_upload u;
	int rc = meta_upload_get(r->srv->meta, r->route.bucket, r->route.key, r->route.key_len, id,
				 &u);

	if (rc == CN_ENOTFOUND || rc == CN_ENOKEY)
		return CN_ENOUPLOAD;
	if (!rc)
		meta_upload_release(&u);
	return rc;
}

static void fill_key(struct s3_req *r, struct meta_cmd *c, int type)
{
	c->type = (uint8_t)type;
	c->now = cn_now_ns();
	c->bucket = r->route.bucket;
	c->bucket_len = strlen(r->route.bucket);
	c->key = r->route.key;
	c->key_len = r->route.key_len;
}

/* ---- CreateMultipartUpload ---- */

struct create_op {
	struct meta_cmd cmd;
	struct s3_attrs attrs;
	uint8_t *attrs_enc;
	size_t attrs_len;
	char id_text[META_ID_TEXT];
	enum cn_checksum_alg ck_alg;
};

static void create_committed(struct meta_cmd *cmd, int rc, void *arg)
{
	struct s3_req *r = arg;
	struct create_op *op = (struct create_op *)cmd;
	struct s3_hdrs h = {.n = 0};
	struct cn_buf w;

	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	if (op->ck_alg != CN_CK_NONE)
		s3_hdr_add(r, &h, "x-amz-checksum-algorithm", cn_checksum_alg_name(op->ck_alg));
	cn_buf_init(&w);
	xmlw_decl(&w);
	xmlw_open(&w, "InitiateMultipartUploadResult", S3_NS);
	xmlw_elem(&w, "Bucket", r->route.bucket);
	xmlw_elem_n(&w, "Key", r->route.key, r->route.key_len);
	xmlw_elem(&w, "UploadId", op->id_text);
	xmlw_close(&w, "InitiateMultipartUploadResult");
	s3_send_xml(r, 200, &h, &w);
}

void s3_op_create_multipart(struct s3_req *r)
{
	struct create_op *op = cn_pool_zalloc(r->pool, sizeof(*op));
	const char *alg = s3_header(r, "x-amz-checksum-algorithm");
	struct meta_bucket b;
	int rc;

	if (!op) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	rc = meta_bucket_get(r->srv->meta, r->route.bucket, &b);
	if (rc)
		goto fail;
	meta_bucket_release(&b);
	rc = s3_write_headers_check(r);
	if (rc)
		goto fail;
	rc = s3_attrs_from_request(r, &op->attrs);
	if (rc)
		goto fail;
	if (alg) {
		op->ck_alg = cn_checksum_alg_parse(alg, strlen(alg));
		if (op->ck_alg == CN_CK_NONE) {
			rc = CN_EBADARG;
			goto fail;
		}
	}
	rc = s3_attrs_encode(r, &op->attrs, &op->attrs_enc, &op->attrs_len);
	if (rc)
		goto fail;
	fill_key(r, &op->cmd, META_CMD_UPLOAD_CREATE);
	meta_upload_id_new(r->srv->meta, op->cmd.upload_id);
	meta_id_to_text(op->cmd.upload_id, op->id_text);
	op->cmd.attrs = op->attrs_enc;
	op->cmd.attrs_len = op->attrs_len;
	rc = s3_meta_submit(r, &op->cmd, create_committed, r);
	if (rc)
		goto fail;
	return;
fail:
	s3_send_error(r, rc);
}

/* ---- UploadPart ---- */

struct part_op {
	struct s3_upload u; /* first: upload.c hands back &u */
	struct meta_cmd cmd;
	char id_text[META_ID_TEXT];
	char etag[33];
	enum cn_checksum_alg ck_alg;
	uint8_t ck_raw[32];
	size_t ck_len;
};

static void part_committed(struct meta_cmd *cmd, int rc, void *arg)
{
	struct s3_req *r = arg;
	struct part_op *op = (struct part_op *)((char *)cmd - offsetof(struct part_op, cmd));
	struct s3_hdrs h = {.n = 0};

	if (rc) {
		s3_upload_discard(r, &op->u);
		s3_send_error(r, rc);
		return;
	}
	s3_hdr_add(r, &h, "ETag", s3_quote_etag(r, op->etag));
	if (op->ck_alg != CN_CK_NONE) {
		char b64[64];
		cn_b64_encode(op->ck_raw, op->ck_len, b64, sizeof(b64));
		s3_hdr_add(r, &h,
			   cn_pool_printf(r->pool, "x-amz-checksum-%s",
					  cn_checksum_alg_header(op->ck_alg)),
			   cn_pool_strndup(r->pool, b64, strlen(b64)));
	}
	s3_send(r, 200, &h, NULL, 0);
}

static void part_received(struct s3_req *r, struct s3_upload *u, int err)
{
	struct part_op *op = (struct part_op *)u;
	struct meta_cmd *c = &op->cmd;
	int rc;

	if (err) {
		s3_send_error(r, err);
		return;
	}
	assert(!u->is_inline); /* parts set force_blob */
	cn_hex(u->dig.md5, 16, op->etag);
	if (r->body.ck_alg) {
		op->ck_alg = r->body.ck_alg;
		op->ck_len = cn_checksum_raw(r->body.ck_alg, &u->dig, op->ck_raw);
	}
	c->now = cn_now_ns();
	c->size = u->size;
	c->etag = op->etag;
	c->etag_len = 32;
	memcpy(c->blob_id, u->layout.id, META_ID_LEN);
	c->layout = u->layout_enc;
	c->layout_len = u->layout_len;
	c->heal_mask = u->layout.missing; /* shards to heal (cluster) */
	rc = s3_meta_submit(r, c, part_committed, r);
	if (rc) {
		s3_upload_discard(r, u);
		s3_send_error(r, rc);
	}
}

/* The PART_PUT command's key, part number (1..10000) and upload id, shared
 * by UploadPart and UploadPartCopy. */
static int part_target(struct s3_req *r, struct meta_cmd *c)
{
	int rc;

	fill_key(r, c, META_CMD_PART_PUT);
	rc = parse_u32(s3_route_param(&r->route, "partNumber"), 1, META_PARTS_MAX, &c->part_no);
	if (rc)
		return rc;
	return upload_id_param(r, c->upload_id);
}

void s3_op_upload_part(struct s3_req *r)
{
	struct part_op *op = cn_pool_zalloc(r->pool, sizeof(*op));
	int rc;

	if (!op) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	rc = part_target(r, &op->cmd);
	if (rc)
		goto fail;
	rc = upload_exists(r, op->cmd.upload_id);
	if (rc)
		goto fail;
	meta_id_to_text(op->cmd.upload_id, op->id_text);
	op->u.version_text = op->id_text;
	op->u.force_blob = 1;
	op->u.done = part_received;
	rc = s3_upload_start(r, &op->u, op->cmd.part_no);
	if (rc)
		goto fail;
	return;
fail:
	s3_send_error(r, rc);
}

/* ---- UploadPartCopy ---- */

struct pcopy_op {
	struct s3_copy_src src;
	struct s3_copy_blob cb;
	struct meta_cmd cmd;
	char id_text[META_ID_TEXT];
	char etag[33];
};

static void pcopy_committed(struct meta_cmd *cmd, int rc, void *arg)
{
	struct s3_req *r = arg;
	struct pcopy_op *op = (struct pcopy_op *)((char *)cmd - offsetof(struct pcopy_op, cmd));
	struct s3_hdrs h = {.n = 0};
	struct cn_buf w;

	if (rc) {
		s3_copy_blob_discard(r, &op->cb);
		s3_copy_source_close(&op->src);
		s3_send_error(r, rc);
		return;
	}
	if (!(op->src.v.flags & META_VF_NULL) && op->src.v.vid_text[0])
		s3_hdr_add(
			r, &h, "x-amz-copy-source-version-id",
			cn_pool_strndup(r->pool, op->src.v.vid_text, strlen(op->src.v.vid_text)));
	s3_copy_source_close(&op->src);
	cn_buf_init(&w);
	xmlw_decl(&w);
	xmlw_open(&w, "CopyPartResult", S3_NS);
	xmlw_elem(&w, "ETag", s3_quote_etag(r, op->etag));
	xmlw_elem_time(&w, "LastModified", (uint64_t)cmd->now);
	xmlw_close(&w, "CopyPartResult");
	s3_send_xml(r, 200, &h, &w);
}

static void pcopy_copied(struct s3_req *r, struct s3_copy_blob *cb, int err)
{
	struct pcopy_op *op = (struct pcopy_op *)((char *)cb - offsetof(struct pcopy_op, cb));
	struct meta_cmd *c = &op->cmd;
	int rc;

	if (err) {
		s3_copy_source_close(&op->src);
		s3_send_error(r, err);
		return;
	}
	cn_hex(cb->md5, 16, op->etag);
	c->now = cn_now_ns();
	c->size = cb->len;
	c->etag = op->etag;
	c->etag_len = 32;
	memcpy(c->blob_id, cb->layout.id, META_ID_LEN);
	c->layout = cb->layout_enc;
	c->layout_len = cb->layout_len;
	c->heal_mask = cb->layout.missing; /* shards to heal (cluster) */
	rc = s3_meta_submit(r, c, pcopy_committed, r);
	if (rc) {
		s3_copy_blob_discard(r, cb);
		s3_copy_source_close(&op->src);
		s3_send_error(r, rc);
	}
}

/* x-amz-copy-source-range: "bytes=first-last", both required, inclusive,
 * inside the source. */
static int copy_range(const char *h, uint64_t size, uint64_t *start, uint64_t *len)
{
	unsigned long long a, b;
	char *end;

	if (!h) {
		*start = 0;
		*len = size;
		return 0;
	}
	if (strncmp(h, "bytes=", 6) != 0 || h[6] < '0' || h[6] > '9')
		return CN_EBADARG;
	a = strtoull(h + 6, &end, 10);
	if (*end != '-' || end[1] < '0' || end[1] > '9')
		return CN_EBADARG;
	b = strtoull(end + 1, &end, 10);
	if (*end || b < a || b >= size)
		return CN_EBADARG;
	*start = a;
	*len = b - a + 1;
	return 0;
}

void s3_op_upload_part_copy(struct s3_req *r)
{
	struct pcopy_op *op = cn_pool_zalloc(r->pool, sizeof(*op));
	int rc;

	if (!op) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	rc = part_target(r, &op->cmd);
	if (rc)
		goto fail;
	rc = s3_copy_source_parse(r, &op->src);
	if (rc)
		goto fail;
	rc = upload_exists(r, op->cmd.upload_id);
	if (rc)
		goto fail;
	rc = s3_copy_source_open(r, &op->src);
	if (rc)
		goto fail;
	rc = s3_copy_source_check(r, &op->src);
	if (rc)
		goto fail_src;
	rc = copy_range(s3_header(r, "x-amz-copy-source-range"), op->src.v.size, &op->cb.start,
			&op->cb.len);
	if (rc)
		goto fail_src;
	if (op->cb.len > r->srv->cfg.max_put_size) {
		rc = CN_ETOOBIG;
		goto fail_src;
	}
	meta_id_to_text(op->cmd.upload_id, op->id_text);
	op->cb.v = &op->src.v;
	op->cb.part_no = op->cmd.part_no;
	op->cb.version_text = op->id_text;
	op->cb.done = pcopy_copied;
	rc = s3_copy_blob_start(r, &op->cb);
	if (rc)
		goto fail_src;
	return;
fail_src:
	s3_copy_source_close(&op->src);
fail:
	s3_send_error(r, rc);
}

/* ---- CompleteMultipartUpload ---- */

struct complete_op {
	struct meta_cmd cmd;
	struct meta_part_ref *parts;
	char if_match[META_ETAG_MAX + 1];
};

/* A Complete of an upload that is gone: was it completed into the current
 * version with exactly these parts? Clients retry a Complete whose answer
 * they lost, and S3 answers it again. Fills cmd->res as the first did. */
static int already_completed(struct s3_req *r, struct meta_cmd *cmd)
{
	struct meta_version v;
	int same;

	if (meta_object_get(r->srv->meta, r->route.bucket, r->route.key, r->route.key_len, NULL, 0,
			    &v) != 0)
		return 0;
	same = v.loc == META_LOC_PARTS && v.n_parts == cmd->n_parts;
	for (uint32_t i = 0; same && i < v.n_parts; i++)
		same = v.parts[i].part_no == cmd->parts[i].part_no &&
		       strlen(v.parts[i].etag) == cmd->parts[i].etag_len &&
		       memcmp(v.parts[i].etag, cmd->parts[i].etag, cmd->parts[i].etag_len) == 0;
	if (same) {
		snprintf(cmd->res.etag, sizeof(cmd->res.etag), "%s", v.etag);
		memcpy(cmd->res.vid_text, v.vid_text, META_ID_TEXT);
	}
	meta_version_release(&v);
	return same;
}

static void complete_committed(struct meta_cmd *cmd, int rc, void *arg)
{
	struct s3_req *r = arg;
	struct s3_hdrs h = {.n = 0};
	struct cn_buf w;
	const char *host = s3_header(r, "host");

	if (rc == CN_ENOUPLOAD && already_completed(r, cmd))
		rc = 0; /* a retried Complete of what just completed: the same answer */
	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	if (cmd->res.vid_text[0] && strcmp(cmd->res.vid_text, "null") != 0)
		s3_hdr_add(r, &h, "x-amz-version-id",
			   cn_pool_strndup(r->pool, cmd->res.vid_text, strlen(cmd->res.vid_text)));
	cn_buf_init(&w);
	xmlw_decl(&w);
	xmlw_open(&w, "CompleteMultipartUploadResult", S3_NS);
	xmlw_open(&w, "Location", NULL);
	xmlw_text(&w, "http://", 7);
	if (host)
		xmlw_text(&w, host, strlen(host));
	xmlw_text(&w, r->http->path, strlen(r->http->path));
	xmlw_close(&w, "Location");
	xmlw_elem(&w, "Bucket", r->route.bucket);
	xmlw_elem_n(&w, "Key", r->route.key, r->route.key_len);
	xmlw_elem(&w, "ETag", s3_quote_etag(r, cmd->res.etag));
	xmlw_close(&w, "CompleteMultipartUploadResult");
	s3_send_xml(r, 200, &h, &w);
}

/* Fills op->parts from <CompleteMultipartUpload><Part>... */
static int complete_parse(struct s3_req *r, struct complete_op *op, char *buf, size_t len)
{
	struct xml_node *root, *n;
	uint32_t count = 0, i = 0;

	if (xml_parse(r->pool, buf, len, &root) != 0 ||
	    strcmp(root->name, "CompleteMultipartUpload") != 0)
		return CN_EBADXML;
	for (n = root->child; n; n = n->next)
		if (strcmp(n->name, "Part") == 0)
			count++;
	if (count == 0 || count > META_PARTS_MAX)
		return CN_EBADXML;
	op->parts = cn_pool_zalloc(r->pool, sizeof(*op->parts) * count);
	if (!op->parts)
		return CN_ENOMEM;
	for (n = root->child; n; n = n->next) {
		const char *pn, *etag;
		uint32_t no;
		if (strcmp(n->name, "Part") != 0)
			continue;
		pn = xml_child_text(n, "PartNumber");
		etag = xml_child_text(n, "ETag");
		if (!pn || !etag)
			return CN_EBADXML;
		/* out-of-range numbers name no part */
		if (parse_u32(pn, 0, UINT32_MAX, &no))
			return CN_EBADXML;
		if (no < 1 || no > META_PARTS_MAX)
			return CN_EBADPART;
		op->parts[i].part_no = no;
		/* quotes (also as &quot;) are part of what clients send */
		while (*etag == ' ' || *etag == '\n' || *etag == '\t' || *etag == '\r')
			etag++;
		size_t el = strlen(etag);
		while (el && (etag[el - 1] == ' ' || etag[el - 1] == '\n' || etag[el - 1] == '\t' ||
			      etag[el - 1] == '\r'))
			el--;
		if (el >= 2 && etag[0] == '"' && etag[el - 1] == '"') {
			etag++;
			el -= 2;
		}
		if (el == 0 || el > META_ETAG_MAX)
			return CN_EBADPART;
		op->parts[i].etag = etag;
		op->parts[i].etag_len = el;
		i++;
	}
	op->cmd.parts = op->parts;
	op->cmd.n_parts = count;
	return 0;
}

static void complete_body(struct s3_req *r, int err, char *buf, size_t len)
{
	struct complete_op *op = cn_pool_zalloc(r->pool, sizeof(*op));
	int rc;

	if (err) {
		s3_send_error(r, err);
		return;
	}
	if (!op) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	fill_key(r, &op->cmd, META_CMD_UPLOAD_COMPLETE);
	rc = upload_id_param(r, op->cmd.upload_id);
	if (rc)
		goto fail;
	rc = complete_parse(r, op, buf, len);
	if (rc)
		goto fail;
	rc = s3_write_conditions(r, &op->cmd, op->if_match, sizeof(op->if_match));
	if (rc)
		goto fail;
	meta_version_id_new(r->srv->meta, op->cmd.vid);
	op->cmd.min_part_size = r->srv->cfg.min_part_size;
	rc = s3_meta_submit(r, &op->cmd, complete_committed, r);
	if (rc)
		goto fail;
	return;
fail:
	s3_send_error(r, rc);
}

void s3_op_complete_multipart(struct s3_req *r)
{
	uint8_t id[META_ID_LEN];
	int rc = upload_id_param(r, id);

	if (!rc)
		rc = upload_exists(r, id);
	/* a gone upload may be a retried Complete: its parts tell
	 * (complete_committed) */
	if (rc && rc != CN_ENOUPLOAD) {
		s3_send_error(r, rc);
		return;
	}
	s3_body_read_small(r, COMPLETE_BODY_MAX, complete_body);
}

/* ---- AbortMultipartUpload ---- */

struct abort_op {
	struct meta_cmd cmd;
};

static void abort_committed(struct meta_cmd *cmd, int rc, void *arg)
{
	struct s3_req *r = arg;
	(void)cmd;

	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	s3_send(r, 204, NULL, NULL, 0);
}

void s3_op_abort_multipart(struct s3_req *r)
{
	struct abort_op *op = cn_pool_zalloc(r->pool, sizeof(*op));
	int rc;

	if (!op) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	fill_key(r, &op->cmd, META_CMD_UPLOAD_ABORT);
	rc = upload_id_param(r, op->cmd.upload_id);
	if (!rc)
		rc = s3_meta_submit(r, &op->cmd, abort_committed, r);
	if (rc)
		s3_send_error(r, rc);
}

/* ---- ListParts ---- */

void s3_op_list_parts(struct s3_req *r)
{
	const char *ms = s3_route_param(&r->route, "max-parts");
	const char *mk = s3_route_param(&r->route, "part-number-marker");
	uint8_t id[META_ID_LEN];
	uint32_t max = LIST_PARTS_MAX, marker = 0;
	struct meta_upload u;
	struct meta_part_list l;
	struct cn_buf w;
	char idt[META_ID_TEXT];
	int rc;

	rc = upload_id_param(r, id);
	if (rc)
		goto fail;
	if (ms) {
		rc = parse_u32(ms, 0, UINT32_MAX, &max);
		if (rc)
			goto fail;
		if (max > LIST_PARTS_MAX)
			max = LIST_PARTS_MAX;
	}
	if (mk) {
		rc = parse_u32(mk, 0, UINT32_MAX, &marker);
		if (rc)
			goto fail;
	}
	rc = meta_upload_get(r->srv->meta, r->route.bucket, r->route.key, r->route.key_len, id, &u);
	if (rc == CN_ENOTFOUND || rc == CN_ENOKEY)
		rc = CN_ENOUPLOAD;
	if (rc)
		goto fail;
	meta_upload_release(&u);
	rc = meta_list_parts(r->srv->meta, r->route.bucket, r->route.key, r->route.key_len, id,
			     marker, max, &l);
	if (rc == CN_ENOTFOUND || rc == CN_ENOKEY)
		rc = CN_ENOUPLOAD;
	if (rc)
		goto fail;
	meta_id_to_text(id, idt);
	cn_buf_init(&w);
	xmlw_decl(&w);
	xmlw_open(&w, "ListPartsResult", S3_NS);
	xmlw_elem(&w, "Bucket", r->route.bucket);
	xmlw_elem_n(&w, "Key", r->route.key, r->route.key_len);
	xmlw_elem(&w, "UploadId", idt);
	xmlw_open(&w, "Initiator", NULL);
	xmlw_elem(&w, "ID", r->srv->account_canonical);
	if (r->ident.kind != S3_PRINCIPAL_ANON)
		xmlw_elem(&w, "DisplayName", r->srv->cfg.access_key);
	xmlw_close(&w, "Initiator");
	xmlw_open(&w, "Owner", NULL);
	xmlw_elem(&w, "ID", r->srv->account_canonical);
	if (r->ident.kind != S3_PRINCIPAL_ANON)
		xmlw_elem(&w, "DisplayName", r->srv->cfg.access_key);
	xmlw_close(&w, "Owner");
	xmlw_elem(&w, "StorageClass", "STANDARD");
	xmlw_elem_u64(&w, "PartNumberMarker", marker);
	if (l.n)
		xmlw_elem_u64(&w, "NextPartNumberMarker",
			      l.truncated ? l.next_marker : l.parts[l.n - 1].part_no);
	xmlw_elem_u64(&w, "MaxParts", max);
	xmlw_elem(&w, "IsTruncated", l.truncated ? "true" : "false");
	for (size_t i = 0; i < l.n; i++) {
		xmlw_open(&w, "Part", NULL);
		xmlw_elem_u64(&w, "PartNumber", l.parts[i].part_no);
		xmlw_elem_time(&w, "LastModified", (uint64_t)l.parts[i].mtime);
		xmlw_elem(&w, "ETag", s3_quote_etag(r, l.parts[i].etag));
		xmlw_elem_u64(&w, "Size", l.parts[i].size);
		xmlw_close(&w, "Part");
	}
	xmlw_close(&w, "ListPartsResult");
	meta_part_list_release(&l);
	s3_send_xml(r, 200, NULL, &w);
	return;
fail:
	s3_send_error(r, rc);
}
