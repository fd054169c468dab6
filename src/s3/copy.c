/*
 * s3/copy.c — CopyObject and the server-side copy engine it shares with
 * UploadPartCopy (see copy_int.h).
 *
 * CopyObject order (DESIGN §1): source metadata read -> copy-source
 * conditions -> data copied (inline bytes go into the command; blob and
 * multipart sources are streamed into a new durable blob on the thread
 * pool) -> PUT_VERSION committed with the destination's If-Match /
 * If-None-Match evaluated inside apply -> 200 CopyObjectResult. A copy that
 * fails after its blob became durable deletes the blob before answering.
 *
 * Invariant: a copy never references the source's blobs; every version owns
 * its blobs, so deleting either side cannot break the other.
 */
#include "s3/copy_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bg/vpin.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "s3/sse.h"

#define COPY_BUF (1u << 20)

/* ---- copy source ---- */

int s3_copy_source_parse(struct s3_req *r, struct s3_copy_src *src)
{
	const char *h = s3_header(r, "x-amz-copy-source");
	const char *q, *slash;
	size_t plen;
	char *dec;
	long n;

	memset(src, 0, sizeof(*src));
	if (!h || !*h)
		return CN_EBADCOPYSRC;
	/* A literal '?' ends the (percent-encoded) path: a '?' inside a key
	 * arrives as %3F. */
	q = strchr(h, '?');
	plen = q ? (size_t)(q - h) : strlen(h);
	if (q) {
		if (strncmp(q + 1, "versionId=", 10) != 0)
			return CN_EBADCOPYSRC;
		src->vid = q + 11;
		if (!*src->vid)
			return CN_EBADVERSIONID;
	}
	dec = cn_pool_alloc(r->pool, plen + 1);
	if (!dec)
		return CN_ENOMEM;
	n = s3_percent_decode(h, plen, dec, 0);
	if (n < 0 || !s3_utf8_valid(dec, (size_t)n))
		return CN_EBADCOPYSRC;
	if (n > 0 && dec[0] == '/') {
		dec++;
		n--;
	}
	slash = memchr(dec, '/', (size_t)n);
	if (!slash || slash == dec || slash == dec + n - 1)
		return CN_EBADCOPYSRC;
	src->bucket = cn_pool_strndup(r->pool, dec, (size_t)(slash - dec));
	src->key_len = (size_t)(dec + n - slash - 1);
	if (src->key_len > S3_MAX_KEY)
		return CN_EKEYTOOLONG;
	src->key = cn_pool_strndup(r->pool, slash + 1, src->key_len);
	if (!src->bucket || !src->key)
		return CN_ENOMEM;
	if (strlen(src->bucket) > META_BUCKET_MAX || memchr(src->key, 0, src->key_len))
		return CN_EBADCOPYSRC;
	return 0;
}

int s3_copy_source_open(struct s3_req *r, struct s3_copy_src *src)
{
	int rc = meta_object_get(r->srv->meta, src->bucket, src->key, src->key_len, src->vid,
				 META_GET_INLINE, &src->v);
	int arc;

	if (rc) {
		if (src->v.flags & META_VF_DELETE_MARKER)
			meta_version_release(&src->v);
		/* who may not read the source learns nothing about it */
		arc = s3_authz_source(r, src->bucket, src->key, src->key_len, src->vid != NULL,
				      NULL, 0, 0);
		if (arc)
			return arc;
	}
	if (rc == CN_EDELMARKER) {
		r->err_msg = "The source of a copy request may not specifically refer to a delete "
			     "marker by version id.";
		return CN_EBADARG;
	}
	if (rc)
		return rc;
	src->have_v = 1;
	arc = s3_authz_source(r, src->bucket, src->key, src->key_len, src->vid != NULL,
			      src->v.attrs, src->v.attrs_len, 1);
	if (arc) {
		s3_copy_source_close(src);
		return arc;
	}
	if (src->v.loc == META_LOC_INLINE &&
	    (!src->v.inline_data || src->v.inline_len != src->v.size)) {
		s3_copy_source_close(src);
		return CN_ECORRUPT;
	}
	if (src->v.loc != META_LOC_INLINE && src->v.loc != META_LOC_BLOB &&
	    src->v.loc != META_LOC_PARTS) {
		s3_copy_source_close(src);
		return CN_ECORRUPT;
	}
	/* A long copy must not lose its source to GC half-way. */
	if (version_pin(r->srv->data, &src->v)) {
		s3_copy_source_close(src);
		return CN_ENOMEM;
	}
	src->pinned = r->srv->data;
	return 0;
}

void s3_copy_source_close(struct s3_copy_src *src)
{
	if (src->pinned) {
		version_unpin(src->pinned, &src->v);
		src->pinned = NULL;
	}
	if (src->have_v) {
		meta_version_release(&src->v);
		src->have_v = 0;
	}
}

/* Does a comma-separated If-Match style list name etag (or "*")? */
static int etag_in_list(const char *list, const char *etag)
{
	const char *p = list;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		char tmp[META_ETAG_MAX + 8], one[META_ETAG_MAX + 8];

		if (n < sizeof(tmp)) {
			memcpy(tmp, p, n);
			tmp[n] = 0;
			s3_unquote_etag(tmp, one, sizeof(one));
			if (strcmp(one, "*") == 0 || strcmp(one, etag) == 0)
				return 1;
		}
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

int s3_copy_source_check(struct s3_req *r, const struct s3_copy_src *src)
{
	const char *im = s3_header(r, "x-amz-copy-source-if-match");
	const char *inm = s3_header(r, "x-amz-copy-source-if-none-match");
	const char *ims = s3_header(r, "x-amz-copy-source-if-modified-since");
	const char *ius = s3_header(r, "x-amz-copy-source-if-unmodified-since");
	int64_t mtime_s = src->v.mtime / 1000000000LL, t;

	/* S3 precedence: a true if-match overrides a false
	 * if-unmodified-since; a false if-none-match overrides a true
	 * if-modified-since. */
	if (im) {
		if (!etag_in_list(im, src->v.etag))
			return CN_EPRECOND;
	} else if (ius && s3_parse_http_date(ius, &t) == 0 && mtime_s > t / 1000000000LL) {
		return CN_EPRECOND;
	}
	if (inm) {
		if (etag_in_list(inm, src->v.etag))
			return CN_EPRECOND;
	} else if (ims && s3_parse_http_date(ims, &t) == 0 && mtime_s <= t / 1000000000LL) {
		return CN_EPRECOND;
	}
	return 0;
}

int s3_write_conditions(struct s3_req *r, struct meta_cmd *c, char *buf, size_t cap)
{
	const char *inm = s3_header(r, "if-none-match");
	const char *im = s3_header(r, "if-match");

	if (inm) {
		char t[8];
		s3_unquote_etag(inm, t, sizeof(t));
		if (strcmp(t, "*") != 0) {
			/* an ETag: write unless the current version has it */
			if (im)
				return CN_ENOTIMPL; /* both at once: not kept */
			s3_unquote_etag(inm, buf, cap);
			c->cond |= META_COND_IF_NONE_MATCH_ETAG;
			c->if_match = buf;
			c->if_match_len = strlen(buf);
			return 0;
		}
		c->cond |= META_COND_IF_NONE_MATCH_STAR;
	}
	if (im) {
		s3_unquote_etag(im, buf, cap);
		c->if_match = buf;
		c->if_match_len = strlen(buf);
	}
	return 0;
}

/* ---- copy engine (thread pool) ---- */

/* A copy into a new blob, in steps (loop thread unless noted):
 *
 *   copy_work (pool: writer_new, copy the range into temp shards)
 *   -> copy_after: s3_intent_add          (the intent commits)
 *   -> copy_intent_added: copy_finish     (pool: fsync, rename into place)
 *   -> copy_finish_after: done(0), or s3_intent_drop then done(err)
 *
 * Any failure before the rename aborts the writer (temp files go); after
 * it, the intent is dropped so GC takes what reached the drives. */
struct copy_job {
	struct s3_copy_blob *cb;
	struct blob_info info;
	struct data_store *data;
	struct blob_writer *w; /* between copy_work and copy_finish */
	struct s3_intent intent;
	int rc;
};

static int enc(const struct s3_sse *s)
{
	return s && s->mode != S3_SSE_NONE;
}

/* Reads [pos, pos+want) of v into buf (COPY_BUF bytes) through *rd,
 * reopening it when the range moves into another blob; an encrypted
 * source is opened through sr and its plaintext starts at buf + *skip.
 * *part caches the current part index. */
static int source_read(struct data_store *data, const struct meta_version *v, uint64_t pos,
		       char *buf, size_t want, size_t *got, size_t *skip, struct blob_reader **rd,
		       struct s3_sse_reader *sr, int *rd_part, uint32_t *part, uint64_t *part_start)
{
	const uint8_t *lay = v->layout;
	size_t lay_len = v->layout_len;
	uint64_t base = 0, plen = v->size;
	int idx = 0;
	struct blob_layout l;
	int rc;

	if (v->loc == META_LOC_PARTS) {
		while (*part < v->n_parts && pos >= *part_start + v->parts[*part].size) {
			*part_start += v->parts[*part].size;
			(*part)++;
		}
		if (*part >= v->n_parts)
			return CN_ECORRUPT;
		idx = (int)*part;
		base = *part_start;
		plen = v->parts[*part].size;
		lay = v->parts[*part].layout;
		lay_len = v->parts[*part].layout_len;
	}
	if (!*rd || *rd_part != idx) {
		blob_reader_close(*rd);
		*rd = NULL;
		s3_sse_reader_reset(sr);
		rc = blob_layout_decode(lay, lay_len, &l);
		if (rc)
			return rc;
		rc = blob_reader_open(data, &l, rd);
		if (rc)
			return rc;
		memcpy(sr->id, l.id, sizeof(sr->id));
		*rd_part = idx;
	}
	if (base + plen - pos < want)
		want = (size_t)(base + plen - pos);
	*skip = 0;
	if (enc(sr->s))
		return s3_sse_read(sr, *rd, plen, pos - base, (uint8_t *)buf, COPY_BUF, want, skip,
				   got);
	rc = blob_reader_read(*rd, pos - base, buf, want, got);
	if (rc == 0 && *got == 0)
		rc = CN_ECORRUPT; /* metadata says there is more */
	return rc;
}

static void copy_work(struct s3_req *r, void *arg)
{
	struct copy_job *j = arg;
	struct s3_copy_blob *cb = j->cb;
	const struct meta_version *v = cb->v;
	struct blob_reader *rd = NULL;
	struct s3_sse_reader sr = {.s = cb->src_sse};
	struct s3_sse_writer sw = {.init = 0};
	struct cn_digest d;
	struct cn_digest_result dr;
	int rd_part = -1, rc;
	uint32_t part = 0;
	uint64_t part_start = 0, pos = cb->start, end = cb->start + cb->len;
	char *buf = NULL;
	uint8_t *plain = NULL; /* an encrypted inline source, opened */
	(void)r;

	rc = cn_digest_init(&d, CN_DIG_MD5 | (cb->ck_alg ? cn_checksum_alg_digest(cb->ck_alg) : 0));
	if (rc)
		goto out;
	if (v->loc != META_LOC_INLINE) {
		buf = malloc(COPY_BUF);
		if (!buf) {
			rc = CN_ENOMEM;
			goto out_dig;
		}
	} else if (enc(cb->src_sse)) {
		plain = malloc(v->size ? (size_t)v->size : 1);
		rc = plain ? s3_sse_open_inline(cb->src_sse, v->inline_data, (size_t)v->size, plain)
			   : CN_ENOMEM;
		if (rc)
			goto out_buf;
	}
	rc = blob_writer_new(j->data, &j->info, &j->w);
	if (rc)
		goto out_buf;
	if (enc(cb->dst_sse)) {
		rc = s3_sse_writer_init(&sw, cb->dst_sse, j->info.id);
		sw.w = j->w;
	}
	while (!rc && pos < end) {
		size_t want = end - pos < COPY_BUF ? (size_t)(end - pos) : COPY_BUF, got, skip;
		const char *p;

		if (v->loc == META_LOC_INLINE) {
			p = (const char *)(plain ? plain : v->inline_data) + pos;
			got = want;
		} else {
			rc = source_read(j->data, v, pos, buf, want, &got, &skip, &rd, &sr,
					 &rd_part, &part, &part_start);
			if (rc)
				break;
			p = buf + skip;
		}
		cn_digest_update(&d, p, got);
		rc = sw.init ? s3_sse_writer_append(&sw, p, got) : blob_writer_append(j->w, p, got);
		if (rc)
			break;
		pos += got;
	}
	if (!rc && sw.init)
		rc = s3_sse_writer_final(&sw, cb->sealed_md5);
	if (rc) {
		blob_writer_abort(j->w);
		j->w = NULL;
	}
out_buf:
	s3_sse_writer_release(&sw);
	s3_sse_reader_reset(&sr);
	blob_reader_close(rd);
	free(buf);
	free(plain);
	cn_digest_final(&d, &dr);
	memcpy(cb->md5, dr.md5, 16);
	cb->ck_len = cb->ck_alg ? cn_checksum_raw(cb->ck_alg, &dr, cb->ck_raw) : 0;
out_dig:
	cn_digest_release(&d);
out:
	j->rc = rc;
}

static void copy_end(struct s3_req *r, struct copy_job *j, int rc)
{
	if (rc)
		log_warn("copy into %s/%.*s: %s", r->route.bucket, (int)r->route.key_len,
			 r->route.key, cn_strerror(rc));
	j->cb->done(r, j->cb, rc);
}

static struct copy_job *intent_job(struct s3_intent *in)
{
	return (struct copy_job *)((char *)in - offsetof(struct copy_job, intent));
}

static void copy_dropped(struct s3_req *r, struct s3_intent *in, int rc)
{
	(void)rc;
	copy_end(r, intent_job(in), intent_job(in)->rc);
}

static void copy_finish(struct s3_req *r, void *arg)
{
	struct copy_job *j = arg;
	struct s3_copy_blob *cb = j->cb;
	int rc;
	(void)r;

	rc = blob_writer_finish(j->w, &cb->layout);
	j->w = NULL; /* finish frees the writer, even on error */
	if (rc == 0) {
		rc = blob_layout_encode(&cb->layout, cb->layout_enc, sizeof(cb->layout_enc));
		if (rc >= 0) {
			cb->layout_len = (size_t)rc;
			rc = 0;
		}
	}
	j->rc = rc;
}

static void copy_finish_after(struct s3_req *r, int status, void *arg)
{
	struct copy_job *j = arg;

	if (status && !j->rc)
		j->rc = CN_EINTERNAL;
	if (j->rc) {
		/* Whatever reached the drives is garbage: GC takes it. */
		if (s3_intent_drop(r, &j->intent, copy_dropped) == 0)
			return;
		copy_end(r, j, j->rc);
		return;
	}
	j->cb->have_blob = 1;
	copy_end(r, j, 0);
}

static void copy_abort(struct s3_req *r, void *arg)
{
	struct copy_job *j = arg;
	(void)r;
	blob_writer_abort(j->w);
	j->w = NULL;
}

static void copy_aborted(struct s3_req *r, int status, void *arg)
{
	struct copy_job *j = arg;
	(void)status;
	copy_end(r, j, j->rc);
}

/* The intent is durable (or failed): shards may go into place. */
static void copy_intent_added(struct s3_req *r, struct s3_intent *in, int rc)
{
	struct copy_job *j = intent_job(in);
	int qrc;

	if (rc) {
		j->rc = rc;
		qrc = s3_work(r, copy_abort, copy_aborted, j);
	} else {
		qrc = s3_work(r, copy_finish, copy_finish_after, j);
	}
	if (qrc) {
		/* No pool slot: abort here (a few unlinks) rather than leak. */
		blob_writer_abort(j->w);
		j->w = NULL;
		copy_end(r, j, j->rc ? j->rc : qrc);
	}
}

static void copy_after(struct s3_req *r, int status, void *arg)
{
	struct copy_job *j = arg;
	struct blob_layout l;
	int rc = status ? CN_EINTERNAL : j->rc;

	if (rc == 0) {
		blob_writer_layout(j->w, &l);
		rc = s3_intent_add(r, &j->intent, &l, copy_intent_added);
		if (rc == 0)
			return;
	}
	if (j->w) {
		blob_writer_abort(j->w);
		j->w = NULL;
	}
	copy_end(r, j, rc);
}

int s3_copy_blob_start(struct s3_req *r, struct s3_copy_blob *cb)
{
	struct copy_job *j = cn_pool_zalloc(r->pool, sizeof(*j));

	if (!j)
		return CN_ENOMEM;
	if (cb->start > cb->v->size || cb->len > cb->v->size - cb->start)
		return CN_EBADRANGE;
	j->cb = cb;
	j->data = r->srv->data;
	s3_blob_id_new(r->srv, j->info.id);
	/* pool memory is taken here, on the loop: the pool is not thread-safe */
	j->info.bucket = r->route.bucket;
	j->info.key = r->route.key;
	j->info.key_len = r->route.key_len;
	if (!j->info.key)
		return CN_ENOMEM;
	j->info.version_id = cb->version_text;
	j->info.part_number = cb->part_no;
	j->info.size_hint = cb->len;
	cb->rc = 0;
	cb->have_blob = 0;
	return s3_work(r, copy_work, copy_after, j);
}

void s3_copy_blob_discard(struct s3_req *r, struct s3_copy_blob *cb)
{
	if (!cb->have_blob)
		return;
	cb->have_blob = 0;
	s3_blob_drop(r, cb->layout.id);
}

/* ---- CopyObject ---- */

struct cobj_op {
	struct s3_copy_src src;
	struct s3_copy_blob cb;
	struct s3_attrs attrs;
	uint8_t *attrs_enc;
	size_t attrs_len;
	struct meta_cmd cmd;
	char vid_text[META_ID_TEXT];
	char etag[META_ETAG_MAX + 1];
	char if_match[META_ETAG_MAX + 1];
	struct s3_sse src_sse, dst_sse;
	enum cn_checksum_alg ck_want; /* x-amz-checksum-algorithm, or NONE */
};

static void cobj_committed(struct meta_cmd *cmd, int rc, void *arg)
{
	struct s3_req *r = arg;
	struct cobj_op *op = (struct cobj_op *)((char *)cmd - offsetof(struct cobj_op, cmd));
	struct s3_hdrs h = {.n = 0};
	struct cn_buf w;

	if (rc) {
		s3_copy_blob_discard(r, &op->cb);
		s3_copy_source_close(&op->src);
		s3_send_error(r, rc);
		return;
	}
	if (cmd->res.vid_text[0] && strcmp(cmd->res.vid_text, "null") != 0)
		s3_hdr_add(r, &h, "x-amz-version-id",
			   cn_pool_strndup(r->pool, cmd->res.vid_text, strlen(cmd->res.vid_text)));
	if (!(op->src.v.flags & META_VF_NULL) && op->src.v.vid_text[0])
		s3_hdr_add(
			r, &h, "x-amz-copy-source-version-id",
			cn_pool_strndup(r->pool, op->src.v.vid_text, strlen(op->src.v.vid_text)));
	s3_sse_headers(r, &op->dst_sse, &h);
	s3_expiration_header(r, &h, r->route.key, r->route.key_len, cmd->size, cmd->now,
			     op->attrs.tags, op->attrs.tags_len);
	s3_copy_source_close(&op->src);
	cn_buf_init(&w);
	xmlw_decl(&w);
	xmlw_open(&w, "CopyObjectResult", S3_NS);
	xmlw_elem(&w, "ETag", s3_quote_etag(r, op->etag));
	xmlw_elem_time(&w, "LastModified", (uint64_t)cmd->now);
	if (op->attrs.ck_alg != CN_CK_NONE && op->attrs.ck_len) {
		xmlw_elem(&w, "ChecksumType", "FULL_OBJECT");
		s3_checksum_xml(&w, op->attrs.ck_alg, op->attrs.ck_raw, op->attrs.ck_len, 0);
	}
	xmlw_close(&w, "CopyObjectResult");
	s3_send_xml(r, 200, &h, &w);
}

/* The checksum the request asked for, computed over the copied bytes,
 * replaces whatever the source had. */
static void cobj_checksum(struct cobj_op *op, const uint8_t *raw, size_t len)
{
	if (op->ck_want == CN_CK_NONE)
		return;
	op->attrs.ck_alg = op->ck_want;
	op->attrs.ck_len = len;
	op->attrs.ck_composite = 0;
	op->attrs.ck_parts = 0;
	memcpy(op->attrs.ck_raw, raw, len);
}

/* The destination's attrs, with its encryption record (known once an
 * inline copy is sealed), into the command. */
static int cobj_encode(struct s3_req *r, struct cobj_op *op)
{
	int rc = s3_sse_record(r, &op->dst_sse, &op->attrs.sse, &op->attrs.sse_len);

	if (!rc)
		rc = s3_attrs_encode(r, &op->attrs, &op->attrs_enc, &op->attrs_len);
	op->cmd.attrs = op->attrs_enc;
	op->cmd.attrs_len = op->attrs_len;
	return rc;
}

static void cobj_submit(struct s3_req *r, struct cobj_op *op)
{
	int rc = cobj_encode(r, op);

	if (!rc)
		rc = s3_meta_submit(r, &op->cmd, cobj_committed, r);

	if (rc) {
		s3_copy_blob_discard(r, &op->cb);
		s3_copy_source_close(&op->src);
		s3_send_error(r, rc);
	}
}

static void cobj_copied(struct s3_req *r, struct s3_copy_blob *cb, int err)
{
	struct cobj_op *op = (struct cobj_op *)((char *)cb - offsetof(struct cobj_op, cb));
	struct meta_cmd *c = &op->cmd;

	if (err) {
		s3_copy_source_close(&op->src);
		s3_send_error(r, err);
		return;
	}
	cn_hex(s3_sse_etag_sealed(&op->dst_sse) ? cb->sealed_md5 : cb->md5, 16, op->etag);
	c->etag = op->etag;
	c->etag_len = 32;
	c->loc = META_LOC_BLOB;
	memcpy(c->blob_id, cb->layout.id, META_ID_LEN);
	c->layout = cb->layout_enc;
	c->layout_len = cb->layout_len;
	c->heal_mask = cb->layout.missing; /* shards to heal (cluster) */
	cobj_checksum(op, cb->ck_raw, cb->ck_len);
	cobj_submit(r, op);
}

/* The destination's attributes: the source's (COPY) or the request's
 * (REPLACE). The data is unchanged, so the source's full-object checksum
 * stays true; a composite (multipart) one does not describe a single-part
 * copy, so its algorithm is computed over the whole while copying (S3
 * carries the source's algorithm over). x-amz-checksum-algorithm replaces
 * either with one computed while copying (cobj_checksum). */
static int cobj_attrs(struct s3_req *r, struct cobj_op *op, int replace)
{
	struct s3_attrs srca;
	int rc = s3_attrs_decode(r, op->src.v.attrs, op->src.v.attrs_len, &srca);

	if (rc)
		return rc;
	if (replace) {
		rc = s3_attrs_from_request(r, &op->attrs);
		if (rc)
			return rc;
	} else {
		op->attrs = srca;
		/* the copy's ACL is the request's (or private), never the source's */
		rc = s3_acl_for_write(r, &op->attrs);
		if (rc)
			return rc;
	}
	/* tags: the source's, unless x-amz-tagging-directive REPLACE asks for
	 * the request's x-amz-tagging (or none) */
	{
		const char *td = s3_header(r, "x-amz-tagging-directive");
		if (td && strcasecmp(td, "REPLACE") == 0) {
			rc = s3_tags_for_write(r, &op->attrs);
			if (rc)
				return rc;
		} else {
			op->attrs.tags = srca.tags;
			op->attrs.tags_len = srca.tags_len;
		}
	}
	op->attrs.ck_alg = CN_CK_NONE;
	op->attrs.ck_len = 0;
	op->attrs.ck_composite = 0;
	op->attrs.ck_parts = 0;
	if (srca.ck_alg != CN_CK_NONE && !srca.ck_composite) {
		op->attrs.ck_alg = srca.ck_alg;
		op->attrs.ck_len = srca.ck_len;
		memcpy(op->attrs.ck_raw, srca.ck_raw, srca.ck_len);
	} else if (srca.ck_alg != CN_CK_NONE && op->ck_want == CN_CK_NONE) {
		op->ck_want = srca.ck_alg;
	}
	return 0;
}

/* The requested checksum of an inline copy's plaintext. */
static int cobj_inline_checksum(struct cobj_op *op, const void *p, size_t n)
{
	struct cn_digest d;
	struct cn_digest_result dr;
	uint8_t raw[CN_CHECKSUM_MAX];
	int rc = cn_digest_init(&d, cn_checksum_alg_digest(op->ck_want));

	if (rc)
		return rc;
	cn_digest_update(&d, p, n);
	cn_digest_final(&d, &dr);
	cn_digest_release(&d);
	cobj_checksum(op, raw, cn_checksum_raw(op->ck_want, &dr, raw));
	return 0;
}

/* An inline source copied inline: its bytes opened (an encrypted source)
 * and sealed again (an encrypted destination) in pool memory, with the
 * ETag of what is stored. Small (at most the inline threshold): on the
 * loop. */
static int cobj_inline(struct s3_req *r, struct cobj_op *op)
{
	const struct meta_version *v = &op->src.v;
	struct meta_cmd *c = &op->cmd;
	size_t n = (size_t)v->size, el;
	uint8_t *b, md5[16];
	int rc;

	if (op->ck_want != CN_CK_NONE && op->src_sse.mode == S3_SSE_NONE &&
	    (rc = cobj_inline_checksum(op, v->inline_data, n)) != 0)
		return rc;
	if (op->src_sse.mode == S3_SSE_NONE && op->dst_sse.mode == S3_SSE_NONE) {
		/* the bytes travel in the command, borrowed from src.v which
		 * stays open until the commit callback */
		el = strlen(v->etag);
		memcpy(op->etag, v->etag, el + 1);
		c->inline_data = v->inline_data;
		c->inline_len = v->inline_len;
		c->etag = op->etag;
		c->etag_len = el;
		return 0;
	}
	b = cn_pool_alloc(r->pool, n ? n : 1);
	if (!b)
		return CN_ENOMEM;
	if (op->src_sse.mode != S3_SSE_NONE)
		rc = s3_sse_open_inline(&op->src_sse, v->inline_data, n, b);
	else
		rc = (memcpy(b, v->inline_data, n), 0);
	if (!rc && op->ck_want != CN_CK_NONE && op->src_sse.mode != S3_SSE_NONE)
		rc = cobj_inline_checksum(op, b, n);
	if (rc)
		return rc;
	cn_md5(b, n, md5);
	if (op->dst_sse.mode != S3_SSE_NONE) {
		uint8_t smd5[16];
		rc = s3_sse_seal_inline(&op->dst_sse, b, n, smd5);
		if (rc)
			return rc;
		if (s3_sse_etag_sealed(&op->dst_sse))
			memcpy(md5, smd5, 16);
	}
	cn_hex(md5, 16, op->etag);
	c->inline_data = b;
	c->inline_len = n;
	c->etag = op->etag;
	c->etag_len = 32;
	return 0;
}

void s3_op_copy_object(struct s3_req *r)
{
	struct cobj_op *op = cn_pool_zalloc(r->pool, sizeof(*op));
	const char *dir = s3_header(r, "x-amz-metadata-directive");
	const char *ckalg = s3_header(r, "x-amz-checksum-algorithm");
	struct meta_bucket b;
	struct meta_cmd *c;
	int replace = 0, rc;

	if (!op) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	c = &op->cmd;
	rc = s3_write_headers_check(r);
	if (rc)
		goto fail;
	if (ckalg) {
		op->ck_want = cn_checksum_alg_parse(ckalg, strlen(ckalg));
		if (op->ck_want == CN_CK_NONE) {
			r->err_msg = S3_MSG_CK_UNSUPPORTED;
			rc = CN_EBADARG;
			goto fail;
		}
	}
	if (dir) {
		if (strcasecmp(dir, "REPLACE") == 0)
			replace = 1;
		else if (strcasecmp(dir, "COPY") != 0) {
			r->err_msg = "Unknown metadata directive.";
			rc = CN_EBADARG;
			goto fail;
		}
	}
	rc = s3_copy_source_parse(r, &op->src);
	if (rc)
		goto fail;
	rc = meta_bucket_get(r->srv->meta, r->route.bucket, &b);
	if (rc)
		goto fail;
	meta_bucket_release(&b);
	rc = s3_copy_source_open(r, &op->src);
	if (rc)
		goto fail;
	rc = s3_copy_source_check(r, &op->src);
	if (rc)
		goto fail_src;
	/* The source's data key (SSE-C: the copy-source key headers), then
	 * the destination's encryption: the request's or the bucket's
	 * default, never the source's. */
	rc = s3_sse_for_read(r, op->src.v.attrs, op->src.v.attrs_len, 1, &op->src_sse);
	if (rc)
		goto fail_src;
	rc = s3_sse_for_write(r, &op->dst_sse);
	if (rc)
		goto fail_src;
	/* Copying an object onto itself must change something (naming an
	 * older version restores it; naming an encryption re-encrypts it;
	 * naming a checksum algorithm computes that checksum). */
	if (!replace && !op->src.vid && !s3_sse_requested(r) && op->ck_want == CN_CK_NONE &&
	    strcmp(op->src.bucket, r->route.bucket) == 0 && op->src.key_len == r->route.key_len &&
	    memcmp(op->src.key, r->route.key, r->route.key_len) == 0) {
		rc = CN_ECOPYSELF;
		goto fail_src;
	}
	if (op->src.v.size > r->srv->cfg.max_put_size) {
		rc = CN_ETOOBIG;
		goto fail_src;
	}
	rc = cobj_attrs(r, op, replace);
	if (!rc)
		rc = s3_lock_for_write(r); /* the source's lock is not copied */
	if (rc)
		goto fail_src;
	rc = s3_write_conditions(r, c, op->if_match, sizeof(op->if_match));
	if (rc)
		goto fail_src;
	c->type = META_CMD_PUT_VERSION;
	c->now = cn_now_ns();
	c->bucket = r->route.bucket;
	c->bucket_len = strlen(r->route.bucket);
	c->key = r->route.key;
	c->key_len = r->route.key_len;
	meta_version_id_new(r->srv->meta, c->vid);
	meta_id_to_text(c->vid, op->vid_text);
	c->size = op->src.v.size;
	s3_lock_to_cmd(r, c);
	if (op->src.v.loc == META_LOC_INLINE) {
		c->loc = META_LOC_INLINE;
		/* new bytes for the metadata store: the reserve, as a PUT's */
		rc = data_store_check_meta_space(r->srv->data, op->src.v.size);
		if (!rc)
			rc = cobj_inline(r, op);
		if (rc)
			goto fail_src;
		cobj_submit(r, op);
		return;
	}
	op->cb.src_sse = &op->src_sse;
	op->cb.dst_sse = &op->dst_sse;
	op->cb.v = &op->src.v;
	op->cb.start = 0;
	op->cb.len = op->src.v.size;
	op->cb.part_no = 0;
	op->cb.version_text = op->vid_text;
	op->cb.ck_alg = op->ck_want;
	op->cb.done = cobj_copied;
	rc = s3_copy_blob_start(r, &op->cb);
	if (rc)
		goto fail_src;
	return;
fail_src:
	s3_copy_source_close(&op->src);
fail:
	s3_send_error(r, rc);
}
