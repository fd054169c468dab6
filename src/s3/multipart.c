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
 *
 * Checksums: CreateMultipartUpload's algorithm and type (COMPOSITE or
 * FULL_OBJECT) stay in the upload's attrs; every part then carries that
 * checksum (verified when sent, computed when not) in its part record.
 * Complete checks the per-part checksums the client names, derives the
 * object's (checksum of the part checksums "-N", or the part CRCs
 * combined) and hands the version's attrs to UPLOAD_COMPLETE. An upload
 * created without an algorithm gets S3's default: each part a CRC64NVME
 * unless the client sends its own, the object their combination.
 */
#include "s3/copy_int.h"

#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/err.h"
#include "s3/sse.h"

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

/* The upload's stored attributes (its checksum choice), decoded into pool
 * memory; CN_ENOUPLOAD when there is no such upload. */
static int upload_attrs(struct s3_req *r, const uint8_t id[META_ID_LEN], struct s3_attrs *a)
{
	struct meta_upload u;
	int rc = meta_upload_get(r->srv->meta, r->route.bucket, r->route.key, r->route.key_len, id,
				 &u);

	if (rc == CN_ENOTFOUND || rc == CN_ENOKEY)
		return CN_ENOUPLOAD;
	if (rc)
		return rc;
	rc = s3_attrs_decode(r, u.attrs, u.attrs_len, a);
	meta_upload_release(&u);
	return rc;
}

static const char *ck_type_name(int type)
{
	return type == 2 ? "FULL_OBJECT" : "COMPOSITE";
}

/* A part's checksum as PART_PUT's attrs: 1 alg, raw bytes. */
static void part_ck_attrs(struct meta_cmd *c, uint8_t *enc, enum cn_checksum_alg a,
			  const uint8_t *raw, size_t len)
{
	if (a == CN_CK_NONE || !len)
		return;
	enc[0] = (uint8_t)a;
	memcpy(enc + 1, raw, len);
	c->attrs = enc;
	c->attrs_len = 1 + len;
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
	int ck_type;
	struct s3_sse sse;
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
	if (op->ck_alg != CN_CK_NONE) {
		s3_hdr_add(r, &h, "x-amz-checksum-algorithm", cn_checksum_alg_name(op->ck_alg));
		s3_hdr_add(r, &h, "x-amz-checksum-type", ck_type_name(op->ck_type));
	}
	s3_sse_headers(r, &op->sse, &h);
	s3_abort_date_headers(r, &h, r->route.key, r->route.key_len, cmd->now);
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
	const char *type = s3_header(r, "x-amz-checksum-type");
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
			r->err_msg = S3_MSG_CK_UNSUPPORTED;
			rc = CN_EBADARG;
			goto fail;
		}
		/* S3's defaults: CRC64NVME is full-object only, the others composite */
		op->ck_type = op->ck_alg == CN_CK_CRC64NVME ? 2 : 1;
	}
	if (type) {
		if (strcasecmp(type, "COMPOSITE") == 0 && op->ck_alg)
			op->ck_type = 1;
		else if (strcasecmp(type, "FULL_OBJECT") == 0 && op->ck_alg)
			op->ck_type = 2;
		else {
			rc = CN_ECKMISMATCH; /* unknown, or a type without an algorithm */
			goto fail;
		}
	}
	/* What S3 refuses too: SHA full-object checksums cannot be combined
	 * from parts, and CRC64NVME has no composite form. */
	if ((op->ck_type == 2 && (op->ck_alg == CN_CK_SHA1 || op->ck_alg == CN_CK_SHA256)) ||
	    (op->ck_type == 1 && op->ck_alg == CN_CK_CRC64NVME)) {
		rc = CN_ECKMISMATCH;
		goto fail;
	}
	op->attrs.mp_ck_alg = op->ck_alg;
	op->attrs.mp_ck_type = op->ck_type;
	/* the lock asked for now; a bucket default is applied at Complete */
	rc = s3_lock_for_write(r);
	if (rc)
		goto fail;
	if (s3_header(r, "x-amz-object-lock-mode")) {
		op->attrs.lock_mode = r->wlock.mode;
		op->attrs.lock_until = r->wlock.until;
	}
	op->attrs.lock_hold = r->wlock.hold;
	/* the upload's data key: every part is sealed with it (each part
	 * blob has its own salt, so its own blob key) */
	rc = s3_sse_for_write(r, &op->sse);
	if (!rc)
		rc = s3_sse_record(r, &op->sse, &op->attrs.sse, &op->attrs.sse_len);
	if (rc)
		goto fail;
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
	uint8_t ck_enc[1 + CN_CHECKSUM_MAX];
	struct s3_sse sse;
};

/* The upload's encryption, unlocked for a part (SSE-C: the part's key
 * headers must name the upload's key). */
static int upload_sse(struct s3_req *r, const struct s3_attrs *ua, int copy_src, struct s3_sse *out)
{
	int rc = s3_sse_decode(r, ua->sse, ua->sse_len, out);
	(void)copy_src;

	return rc ? rc : s3_sse_unlock(r, out, 0, 1);
}

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
	s3_sse_headers(r, &op->sse, &h);
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
	cn_hex(s3_sse_etag_sealed(&op->sse) ? u->sealed_md5 : u->dig.md5, 16, op->etag);
	if (r->body.ck_alg) {
		op->ck_alg = r->body.ck_alg;
		op->ck_len = cn_checksum_raw(r->body.ck_alg, &u->dig, op->ck_raw);
		part_ck_attrs(c, op->ck_enc, op->ck_alg, op->ck_raw, op->ck_len);
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
	if (rc) {
		r->err_msg = "Part number must be an integer between 1 and 10000, inclusive";
		return rc;
	}
	return upload_id_param(r, c->upload_id);
}

void s3_op_upload_part(struct s3_req *r)
{
	struct part_op *op = cn_pool_zalloc(r->pool, sizeof(*op));
	struct s3_attrs ua;
	int rc;

	if (!op) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	rc = part_target(r, &op->cmd);
	if (rc)
		goto fail;
	rc = upload_attrs(r, op->cmd.upload_id, &ua);
	if (!rc)
		rc = s3_lock_part_check(r, &ua);
	if (rc)
		goto fail;
	op->u.ck_need = ua.mp_ck_alg;
	op->u.ck_sent_only = ua.mp_ck_type == 1;
	op->u.ck_default = ua.mp_ck_alg == CN_CK_NONE;
	rc = upload_sse(r, &ua, 0, &op->sse);
	if (rc)
		goto fail;
	op->u.sse = &op->sse;
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
	uint8_t ck_enc[1 + CN_CHECKSUM_MAX];
	struct s3_sse src_sse, sse;
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
	s3_sse_headers(r, &op->sse, &h);
	s3_copy_source_close(&op->src);
	cn_buf_init(&w);
	xmlw_decl(&w);
	xmlw_open(&w, "CopyPartResult", S3_NS);
	xmlw_elem(&w, "ETag", s3_quote_etag(r, op->etag));
	xmlw_elem_time(&w, "LastModified", (uint64_t)cmd->now);
	s3_checksum_xml(&w, op->cb.ck_alg, op->cb.ck_raw, op->cb.ck_len, 0);
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
	cn_hex(s3_sse_etag_sealed(&op->sse) ? cb->sealed_md5 : cb->md5, 16, op->etag);
	c->now = cn_now_ns();
	c->size = cb->len;
	c->etag = op->etag;
	c->etag_len = 32;
	memcpy(c->blob_id, cb->layout.id, META_ID_LEN);
	c->layout = cb->layout_enc;
	c->layout_len = cb->layout_len;
	c->heal_mask = cb->layout.missing; /* shards to heal (cluster) */
	part_ck_attrs(c, op->ck_enc, cb->ck_alg, cb->ck_raw, cb->ck_len);
	rc = s3_meta_submit(r, c, pcopy_committed, r);
	if (rc) {
		s3_copy_blob_discard(r, cb);
		s3_copy_source_close(&op->src);
		s3_send_error(r, rc);
	}
}

/* x-amz-copy-source-range: "bytes=first-last", both required, inclusive,
 * inside the source; InvalidArgument otherwise, with S3's messages. */
static int copy_range(struct s3_req *r, const char *h, uint64_t size, uint64_t *start,
		      uint64_t *len)
{
	unsigned long long a, b;
	char *end;

	if (!h) {
		*start = 0;
		*len = size;
		return 0;
	}
	if (strncmp(h, "bytes=", 6) != 0 || h[6] < '0' || h[6] > '9')
		goto syntax;
	a = strtoull(h + 6, &end, 10);
	if (*end != '-' || end[1] < '0' || end[1] > '9')
		goto syntax;
	b = strtoull(end + 1, &end, 10);
	if (*end)
		goto syntax;
	if (b < a || b >= size) {
		char msg[96];
		snprintf(msg, sizeof(msg),
			 "Range specified is not valid for source object of size: %llu",
			 (unsigned long long)size);
		r->err_msg = cn_pool_strndup(r->pool, msg, strlen(msg));
		return CN_EBADARG;
	}
	*start = a;
	*len = b - a + 1;
	return 0;
syntax:
	r->err_msg =
		"The x-amz-copy-source-range value must be of the form bytes=first-last where "
		"first and last are the zero-based offsets of the first and last bytes to copy";
	return CN_EBADARG;
}

void s3_op_upload_part_copy(struct s3_req *r)
{
	struct pcopy_op *op = cn_pool_zalloc(r->pool, sizeof(*op));
	struct s3_attrs ua;
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
	rc = upload_attrs(r, op->cmd.upload_id, &ua);
	if (rc)
		goto fail;
	/* S3 computes the part's checksum: the upload's algorithm, else its
	 * default (see s3_upload_start) */
	op->cb.ck_alg = ua.mp_ck_alg ? ua.mp_ck_alg : CN_CK_CRC64NVME;
	rc = upload_sse(r, &ua, 0, &op->sse);
	if (rc)
		goto fail;
	rc = s3_copy_source_open(r, &op->src);
	if (rc)
		goto fail;
	rc = s3_copy_source_check(r, &op->src);
	if (!rc)
		rc = s3_sse_for_read(r, op->src.v.attrs, op->src.v.attrs_len, 1, &op->src_sse);
	if (rc)
		goto fail_src;
	op->cb.src_sse = &op->src_sse;
	op->cb.dst_sse = &op->sse;
	rc = copy_range(r, s3_header(r, "x-amz-copy-source-range"), op->src.v.size, &op->cb.start,
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
	struct meta_cmd barrier; /* before a gone upload's read (complete_committed) */
	struct meta_part_ref *parts;
	struct s3_part_claim *claims; /* one per parts[] entry */
	char if_match[META_ETAG_MAX + 1];
	struct s3_attrs attrs;	  /* the upload's, then the version's */
	struct meta_part *stored; /* the parts as stored, once read; in r->pool */
};

/* A Complete of an upload that is gone: was it completed into the current
 * version with exactly these parts? Clients retry a Complete whose answer
 * they lost, and S3 answers it again. Fills cmd->res as the first did. */
static int already_completed(struct s3_req *r, struct meta_cmd *cmd)
{
	struct complete_op *op = (struct complete_op *)cmd;
	struct meta_version v;
	int same;

	if (meta_object_get(r->srv->meta, r->route.bucket, r->route.key, r->route.key_len, NULL, 0,
			    &v) != 0)
		return 0;
	/* made by this upload (not an aborted one, or none, that listed the
	 * same parts) */
	same = v.loc == META_LOC_PARTS && v.n_parts == cmd->n_parts &&
	       s3_attrs_completed_from(v.attrs, v.attrs_len, cmd->upload_id);
	for (uint32_t i = 0; same && i < v.n_parts; i++)
		same = v.parts[i].part_no == cmd->parts[i].part_no &&
		       strlen(v.parts[i].etag) == cmd->parts[i].etag_len &&
		       memcmp(v.parts[i].etag, cmd->parts[i].etag, cmd->parts[i].etag_len) == 0;
	if (same) {
		snprintf(cmd->res.etag, sizeof(cmd->res.etag), "%s", v.etag);
		memcpy(cmd->res.vid_text, v.vid_text, META_ID_TEXT);
		cmd->res.size = v.size; /* the answer's x-amz-expiration */
		cmd->now = v.mtime;
		/* the checksum and encryption the first answer had (pool copies) */
		if (s3_attrs_decode(r, v.attrs, v.attrs_len, &op->attrs) != 0)
			memset(&op->attrs, 0, sizeof(op->attrs));
	}
	meta_version_release(&v);
	return same;
}

static void complete_answer(struct s3_req *r, struct meta_cmd *cmd, int rc);

/* The barrier has passed: this node's store shows every write acknowledged
 * before it, the Complete that took the upload too. */
static void complete_reread(struct meta_cmd *barrier, int rc, void *arg)
{
	struct s3_req *r = arg;
	struct complete_op *op =
		(struct complete_op *)((char *)barrier - offsetof(struct complete_op, barrier));

	if (rc == 0)
		/* a retried Complete of what just completed: the same answer */
		rc = already_completed(r, &op->cmd) ? 0 : CN_ENOUPLOAD;
	complete_answer(r, &op->cmd, rc);
}

static void complete_committed(struct meta_cmd *cmd, int rc, void *arg)
{
	struct s3_req *r = arg;
	struct complete_op *op = (struct complete_op *)cmd;

	if (rc == CN_ENOUPLOAD) {
		/* The upload is gone: did a Complete of the same parts take it
		 * (a client sending its Complete again)? In a cluster this
		 * result can come before this node's store shows that other
		 * Complete (a follower applies the entry later; a leader gives
		 * out a turn's results before it commits them), so the read
		 * waits for a barrier. One node: the barrier passes at once. */
		memset(&op->barrier, 0, sizeof(op->barrier));
		op->barrier.type = META_CMD_BARRIER;
		if (s3_meta_submit(r, &op->barrier, complete_reread, r) == 0)
			return;
	}
	complete_answer(r, cmd, rc);
}

static void complete_answer(struct s3_req *r, struct meta_cmd *cmd, int rc)
{
	struct s3_hdrs h = {.n = 0};
	struct cn_buf w;
	const char *host = s3_header(r, "host");

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
	xmlw_text(&w, r->http->tls ? "https://" : "http://", r->http->tls ? 8 : 7);
	if (host)
		xmlw_text(&w, host, strlen(host));
	xmlw_text(&w, r->http->path, strlen(r->http->path));
	xmlw_close(&w, "Location");
	xmlw_elem(&w, "Bucket", r->route.bucket);
	xmlw_elem_n(&w, "Key", r->route.key, r->route.key_len);
	xmlw_elem(&w, "ETag", s3_quote_etag(r, cmd->res.etag));
	{
		const struct s3_attrs *a = &((struct complete_op *)cmd)->attrs;
		struct s3_sse sse;
		if (s3_sse_decode(r, a->sse, a->sse_len, &sse) == 0)
			s3_sse_headers(r, &sse, &h);
		s3_expiration_header(r, &h, r->route.key, r->route.key_len, cmd->res.size, cmd->now,
				     a->tags, a->tags_len);
		if (a->ck_len) {
			s3_checksum_xml(&w, a->ck_alg, a->ck_raw, a->ck_len,
					a->ck_composite ? a->ck_parts : 0);
			xmlw_elem(&w, "ChecksumType", ck_type_name(a->ck_composite ? 1 : 2));
		}
	}
	xmlw_close(&w, "CompleteMultipartUploadResult");
	s3_send_xml(r, 200, &h, &w);
}

int s3_complete_from_xml(struct cn_pool *pool, const char *body, size_t len,
			 struct s3_complete_body *out)
{
	struct xml_node *root, *n;
	uint32_t count = 0, i = 0;

	memset(out, 0, sizeof(*out));
	if (xml_parse(pool, body, len, &root) != 0 ||
	    strcmp(root->name, "CompleteMultipartUpload") != 0)
		return CN_EBADXML;
	for (n = root->child; n; n = n->next)
		if (strcmp(n->name, "Part") == 0)
			count++;
	if (count == 0 || count > META_PARTS_MAX)
		return CN_EBADXML;
	out->parts = cn_pool_zalloc(pool, sizeof(*out->parts) * count);
	out->claims = cn_pool_zalloc(pool, sizeof(*out->claims) * count);
	if (!out->parts || !out->claims)
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
		out->parts[i].part_no = no;
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
		out->parts[i].etag = etag;
		out->parts[i].etag_len = el;
		for (struct xml_node *c = n->child; c; c = c->next) {
			struct s3_part_claim *pc = &out->claims[i];
			enum cn_checksum_alg a;
			const char *t;
			long dl;
			if (strncmp(c->name, "Checksum", 8) != 0 || !c->name[8])
				continue;
			a = cn_checksum_alg_parse(c->name + 8, strlen(c->name + 8));
			if (a == CN_CK_NONE)
				continue; /* not a checksum element */
			t = xml_child_text(n, c->name);
			if (!t || pc->alg != CN_CK_NONE)
				return CN_EBADXML;
			dl = cn_b64_decode(t, strlen(t), pc->raw, sizeof(pc->raw));
			if (dl < 0 || (size_t)dl != cn_checksum_alg_len(a))
				return CN_EBADPART; /* cannot be the part's checksum */
			pc->alg = a;
			pc->len = (size_t)dl;
		}
		i++;
	}
	out->n = count;
	return 0;
}

/* The stored parts the request names, found by number (NULL: none). The
 * returned array is pool memory, one entry per op->parts[]. */
static int complete_stored(struct s3_req *r, struct complete_op *op, struct meta_part **out)
{
	uint32_t n = op->cmd.n_parts, marker = 0;
	struct meta_part *st = cn_pool_zalloc(r->pool, sizeof(*st) * n);
	int32_t *idx = cn_pool_alloc(r->pool, sizeof(*idx) * (META_PARTS_MAX + 1));
	uint8_t *seen = cn_pool_zalloc(r->pool, n);
	int rc;

	if (!st || !idx || !seen)
		return CN_ENOMEM;
	/* apply's order check, first: a part named twice is out of order,
	 * not missing */
	for (uint32_t i = 1; i < n; i++)
		if (op->parts[i].part_no <= op->parts[i - 1].part_no)
			return CN_EBADPARTORDER;
	for (uint32_t i = 0; i <= META_PARTS_MAX; i++)
		idx[i] = -1;
	for (uint32_t i = 0; i < n; i++)
		idx[op->parts[i].part_no] = (int32_t)i;
	for (;;) {
		struct meta_part_list l;
		rc = meta_list_parts(r->srv->meta, r->route.bucket, r->route.key, r->route.key_len,
				     op->cmd.upload_id, marker, LIST_PARTS_MAX, &l);
		if (rc == CN_ENOTFOUND || rc == CN_ENOKEY)
			rc = CN_ENOUPLOAD;
		if (rc)
			return rc;
		for (size_t i = 0; i < l.n; i++) {
			uint32_t no = l.parts[i].part_no;
			if (no <= META_PARTS_MAX && idx[no] >= 0) {
				st[idx[no]] = l.parts[i];
				st[idx[no]].layout = NULL; /* not kept past the list */
				st[idx[no]].layout_len = 0;
				seen[idx[no]] = 1;
			}
		}
		marker = l.n ? l.parts[l.n - 1].part_no : marker;
		int more = l.truncated && l.n;
		meta_part_list_release(&l);
		if (!more)
			break;
	}
	for (uint32_t i = 0; i < n; i++)
		if (!seen[i])
			return CN_EBADPART;
	*out = st;
	return 0;
}

/* x-amz-checksum-<alg> on the Complete request: the client's claim for the
 * whole object ("value" or, composite, "value-N"). */
static int complete_claim(struct s3_req *r, const struct s3_attrs *a)
{
	struct http_request *h = r->http;
	const char *ty = s3_header(r, "x-amz-checksum-type");

	if (ty &&
	    (a->mp_ck_alg == CN_CK_NONE || strcasecmp(ty, ck_type_name(a->mp_ck_type)) != 0)) {
		/* S3 answers BadDigest for a type other than the upload's */
		r->err_msg = "The checksum type does not match the one the multipart upload was "
			     "created with.";
		return CN_EBADCHECKSUM;
	}
	for (int i = 0; i < h->n_headers; i++) {
		const struct http_header *hd = &h->headers[i];
		enum cn_checksum_alg alg;
		uint8_t raw[CN_CHECKSUM_MAX];
		const char *dash;
		size_t vl = hd->value_len;
		long dl;
		if (hd->name_len <= 15 || strncasecmp(hd->name, "x-amz-checksum-", 15) != 0)
			continue;
		alg = cn_checksum_alg_parse(hd->name + 15, hd->name_len - 15);
		if (alg == CN_CK_NONE)
			continue; /* -type, -algorithm, -mode */
		if (alg != a->ck_alg || !a->ck_len)
			return CN_ECKMISMATCH;
		dash = memchr(hd->value, '-', vl);
		if (dash) {
			char want[16];
			if (!a->ck_composite)
				return CN_EBADCHECKSUM;
			snprintf(want, sizeof(want), "%u", a->ck_parts);
			if ((size_t)(hd->value + vl - dash - 1) != strlen(want) ||
			    memcmp(dash + 1, want, strlen(want)) != 0)
				return CN_EBADCHECKSUM;
			vl = (size_t)(dash - hd->value);
		}
		dl = cn_b64_decode(hd->value, vl, raw, sizeof(raw));
		if (dl < 0 || (size_t)dl != a->ck_len)
			return CN_EBADCKVALUE;
		if (memcmp(raw, a->ck_raw, a->ck_len) != 0)
			return CN_EBADCHECKSUM;
	}
	return 0;
}

/* The whole object's CRC from its n >= 1 parts' (a FULL_OBJECT checksum):
 * the first part's, extended by each next part's over that part's length.
 * Every part carries a CRC of alg (the caller checked). */
static int combine_crcs(enum cn_checksum_alg alg, const struct meta_part *st, uint32_t n,
			uint8_t *out)
{
	memcpy(out, st[0].ck, cn_checksum_alg_len(alg));
	for (uint32_t i = 1; i < n; i++)
		if (cn_checksum_combine(alg, out, st[i].ck, st[i].size))
			return CN_ECKMISMATCH;
	return 0;
}

/* An upload created without an algorithm: its parts got S3's default,
 * CRC64NVME (s3_upload_start), and the object gets their combination, a
 * FULL_OBJECT checksum, as a PutObject gets its own. A part without one
 * (uploaded with another algorithm the client chose, or by an older
 * build) leaves the object without a checksum: nothing else describes it
 * whole. */
static void complete_default(struct s3_attrs *a, const struct meta_part *st, uint32_t n)
{
	const size_t ckl = cn_checksum_alg_len(CN_CK_CRC64NVME);

	for (uint32_t i = 0; i < n; i++)
		if (st[i].ck_alg != CN_CK_CRC64NVME || st[i].ck_len != ckl)
			return;
	if (combine_crcs(CN_CK_CRC64NVME, st, n, a->ck_raw))
		return; /* ck_len stays 0: no checksum */
	a->ck_alg = CN_CK_CRC64NVME;
	a->ck_len = ckl;
	a->ck_parts = n;
	a->ck_composite = 0;
}

/* Per-part checksums named in the body against the stored ones
 * (InvalidPart when they differ), then the object's checksum from the
 * parts' when the upload has an algorithm: composite = the checksum of the
 * concatenated raw part checksums, "-N"; full object = the part CRCs
 * combined. The version's attrs then carry it (UPLOAD_COMPLETE's attrs).
 * Apply checks the part ETags again in its transaction; a part replaced
 * since by other bytes fails there (its MD5 differs). */
static int complete_checksums(struct s3_req *r, struct complete_op *op)
{
	struct s3_attrs *a = &op->attrs;
	uint32_t n = op->cmd.n_parts;
	struct meta_part *st = NULL;
	int rc;

	rc = upload_attrs(r, op->cmd.upload_id, a);
	if (rc)
		return rc;
	rc = complete_stored(r, op, &st);
	if (rc)
		return rc;
	op->stored = st;
	for (uint32_t i = 0; i < n; i++) {
		const struct s3_part_claim *pc = &op->claims[i];
		if (pc->alg == CN_CK_NONE && a->mp_ck_type == 1) {
			/* a composite checksum is made of the ones the client
			 * names here (S3: InvalidRequest) */
			r->err_msg = cn_pool_printf(
				r->pool,
				"The upload was created using a %s checksum. The complete request "
				"must include the checksum for each part. It was missing for part "
				"%u "
				"in the request.",
				cn_checksum_alg_header(a->mp_ck_alg), op->cmd.parts[i].part_no);
			return CN_ECKMISMATCH;
		}
		if (pc->alg == CN_CK_NONE)
			continue;
		if (st[i].ck_alg != pc->alg || st[i].ck_len != pc->len ||
		    memcmp(st[i].ck, pc->raw, pc->len) != 0)
			return CN_EBADPART;
	}
	if (a->mp_ck_alg == CN_CK_NONE) {
		complete_default(a, st, n);
		return complete_claim(r, a);
	}
	size_t ckl = cn_checksum_alg_len(a->mp_ck_alg);
	uint8_t *cat = cn_pool_alloc(r->pool, ckl * n);
	if (!cat)
		return CN_ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		/* every part of such an upload got one at UploadPart(Copy) */
		if (st[i].ck_alg != a->mp_ck_alg || st[i].ck_len != ckl)
			return CN_ECKMISMATCH;
		memcpy(cat + ckl * i, st[i].ck, ckl);
	}
	a->ck_alg = a->mp_ck_alg;
	a->ck_len = ckl;
	a->ck_parts = n;
	if (a->mp_ck_type == 2) {
		rc = combine_crcs(a->ck_alg, st, n, a->ck_raw);
		if (rc)
			return rc;
		a->ck_composite = 0;
	} else {
		if (cn_checksum_buf(a->ck_alg, cat, ckl * n, a->ck_raw) != ckl)
			return CN_ENOMEM;
		a->ck_composite = 1;
	}
	return complete_claim(r, a);
}

/* x-amz-mp-object-size, when sent: the listed parts must add up to it
 * (S3: 400 InvalidRequest). The sizes are those stored now; a part
 * replaced before apply by other bytes fails there on its ETag. */
static int complete_size(struct s3_req *r, struct complete_op *op)
{
	const char *s = s3_header(r, "x-amz-mp-object-size");
	uint64_t want = 0, sum = 0;
	int rc;

	if (!s)
		return 0;
	if (!*s || strlen(s) > 19) /* 19 digits cannot overflow */
		goto bad;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			goto bad;
		want = want * 10 + (uint64_t)(*p - '0');
	}
	if (!op->stored && (rc = complete_stored(r, op, &op->stored)))
		return rc;
	for (uint32_t i = 0; i < op->cmd.n_parts; i++)
		sum += op->stored[i].size;
	return sum == want ? 0 : CN_EMPSIZE;
bad:
	r->err_msg = "x-amz-mp-object-size must be a decimal number of bytes";
	return CN_EBADARG;
}

/* The version's object lock: the upload's, else the bucket's default as
 * it stands now (the object is created now), handed to the write; the
 * caller leaves the upload's request out of the version's attrs. */
static int complete_lock(struct s3_req *r, struct complete_op *op)
{
	struct s3_attrs *a = &op->attrs;
	int rc = s3_lock_default(r);

	if (rc || (!a->lock_mode && !a->lock_hold))
		return rc;
	if (a->lock_mode) {
		r->wlock.mode = a->lock_mode;
		r->wlock.until = a->lock_until;
	}
	r->wlock.hold = a->lock_hold;
	return 0;
}

static void complete_body(struct s3_req *r, int err, char *buf, size_t len)
{
	struct complete_op *op = cn_pool_zalloc(r->pool, sizeof(*op));
	struct s3_complete_body body;
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
	rc = s3_complete_from_xml(r->pool, buf, len, &body);
	if (rc)
		goto fail;
	op->parts = body.parts;
	op->claims = body.claims;
	op->cmd.parts = body.parts;
	op->cmd.n_parts = body.n;
	rc = complete_checksums(r, op);
	if (rc == CN_ENOUPLOAD && already_completed(r, &op->cmd)) {
		/* a retried Complete of what just completed: the same answer */
		complete_committed(&op->cmd, 0, r);
		return;
	}
	if (!rc)
		rc = complete_size(r, op);
	if (!rc)
		rc = complete_lock(r, op);
	if (!rc) {
		/* the version's attrs: the upload's as the steps above left
		 * them (its checksum choice and lock request are not the
		 * version's), and the upload id, for a retried Complete */
		op->attrs.mp_ck_alg = CN_CK_NONE;
		op->attrs.lock_mode = op->attrs.lock_hold = 0;
		op->attrs.lock_until = 0;
		uint8_t *enc;
		op->attrs.upload_id = op->cmd.upload_id;
		rc = s3_attrs_encode(r, &op->attrs, &enc, &op->cmd.attrs_len);
		op->cmd.attrs = enc;
	}
	if (rc)
		goto fail;
	s3_lock_to_cmd(r, &op->cmd);
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
	struct s3_attrs ua;
	struct s3_hdrs h = {.n = 0};
	struct cn_buf w;
	char idt[META_ID_TEXT];
	int64_t initiated;
	int rc;

	rc = upload_id_param(r, id);
	if (rc)
		goto fail;
	if (ms) {
		rc = parse_u32(ms, 0, UINT32_MAX, &max);
		if (rc) {
			r->err_msg = "Provided max-parts not an integer or within integer range";
			goto fail;
		}
		if (max > LIST_PARTS_MAX)
			max = LIST_PARTS_MAX;
	}
	if (mk) {
		rc = parse_u32(mk, 0, UINT32_MAX, &marker);
		if (rc) {
			r->err_msg = "Provided part-number-marker not an integer or within integer "
				     "range";
			goto fail;
		}
	}
	rc = meta_upload_get(r->srv->meta, r->route.bucket, r->route.key, r->route.key_len, id, &u);
	if (rc == CN_ENOTFOUND || rc == CN_ENOKEY)
		rc = CN_ENOUPLOAD;
	if (rc)
		goto fail;
	rc = s3_attrs_decode(r, u.attrs, u.attrs_len, &ua);
	initiated = u.initiated;
	meta_upload_release(&u);
	if (rc)
		goto fail;
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
	if (ua.mp_ck_alg != CN_CK_NONE) {
		xmlw_elem(&w, "ChecksumAlgorithm", cn_checksum_alg_name(ua.mp_ck_alg));
		xmlw_elem(&w, "ChecksumType", ck_type_name(ua.mp_ck_type));
	}
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
		s3_checksum_xml(&w, (enum cn_checksum_alg)l.parts[i].ck_alg, l.parts[i].ck,
				l.parts[i].ck_len, 0);
		xmlw_close(&w, "Part");
	}
	xmlw_close(&w, "ListPartsResult");
	meta_part_list_release(&l);
	s3_abort_date_headers(r, &h, r->route.key, r->route.key_len, initiated);
	s3_send_xml(r, 200, &h, &w);
	return;
fail:
	s3_send_error(r, rc);
}
