/*
 * s3/object.c — PutObject, GetObject/HeadObject (ranges, conditionals,
 * partNumber, response-* overrides), DeleteObject.
 *
 * Write order (DESIGN §1): body -> blob durable (or inline bytes in the
 * command) -> PUT_VERSION committed -> 200. A PUT that fails after its blob
 * became durable deletes the blob before answering.
 *
 * GET streams a version's bytes with two buffers: one being read from the
 * data path on the thread pool while the other is written to the socket, so
 * a slow reader holds at most 2 x STREAM_BUF per request and stops disk reads.
 */
#include "s3/s3_int.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bg/vpin.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/fmt.h"
#include "core/log.h"
#include "core/metrics.h"
#include "s3/sse.h"

#define STREAM_BUF (1u << 20)
_Static_assert(STREAM_BUF <= S3_BIGBUF, "GET buffers come from the big-buffer cache");

const char *s3_quote_etag(struct s3_req *r, const char *etag)
{
	size_t n = strlen(etag);
	char *q = cn_pool_alloc(r->pool, n + 3);

	if (q) {
		q[0] = '"';
		memcpy(q + 1, etag, n);
		memcpy(q + 1 + n, "\"", 2);
	}
	return q;
}

void s3_unquote_etag(const char *in, char *out, size_t cap)
{
	size_t n;

	if (cap == 0)
		return;
	while (*in == ' ')
		in++;
	if (strncmp(in, "W/", 2) == 0)
		in += 2;
	if (*in == '"')
		in++;
	n = strlen(in);
	while (n && (in[n - 1] == '"' || in[n - 1] == ' '))
		n--;
	if (n >= cap)
		n = cap - 1;
	memcpy(out, in, n);
	out[n] = 0;
}

/* Does an If-Match / If-None-Match list (comma separated) match etag? */
static int etag_list_match(const char *list, const char *etag)
{
	char one[META_ETAG_MAX + 8];
	const char *p = list;

	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		char tmp[META_ETAG_MAX + 8];
		if (n < sizeof(tmp)) {
			memcpy(tmp, p, n);
			tmp[n] = 0;
			s3_unquote_etag(tmp, one, sizeof(one));
			if (strcmp(one, "*") == 0 || strcmp(one, etag) == 0)
				return 1;
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	return 0;
}

/* ---- PutObject ---- */

struct put_op {
	struct s3_upload u;
	struct s3_attrs attrs;
	uint8_t *attrs_enc;
	size_t attrs_len;
	struct meta_cmd cmd;
	uint8_t vid[META_ID_LEN];
	char vid_text[META_ID_TEXT];
	char etag[33];
	char if_match[META_ETAG_MAX + 1];
	struct s3_sse sse;
};

static void put_committed(struct meta_cmd *cmd, int rc, void *arg)
{
	struct s3_req *r = arg;
	struct put_op *op = (struct put_op *)((char *)cmd - offsetof(struct put_op, cmd));
	struct s3_hdrs h = {.n = 0};

	s3_entry_confirms(r, cmd);
	if (rc) {
		s3_upload_discard(r, &op->u);
		s3_send_error(r, rc);
		return;
	}
	s3_hdr_add(r, &h, "ETag", s3_quote_etag(r, op->etag));
	s3_sse_headers(r, &op->sse, &h);
	s3_expiration_header(r, &h, r->route.key, r->route.key_len, op->u.size, cmd->now,
			     op->attrs.tags, op->attrs.tags_len);
	if (strcmp(cmd->res.vid_text, "null") != 0 && cmd->res.vid_text[0])
		s3_hdr_add(r, &h, "x-amz-version-id",
			   cn_pool_strndup(r->pool, cmd->res.vid_text, strlen(cmd->res.vid_text)));
	if (op->attrs.ck_alg) {
		char b64[64];
		cn_b64_encode(op->attrs.ck_raw, op->attrs.ck_len, b64, sizeof(b64));
		s3_hdr_add(r, &h,
			   cn_pool_printf(r->pool, "x-amz-checksum-%s",
					  cn_checksum_alg_header(op->attrs.ck_alg)),
			   cn_pool_strndup(r->pool, b64, strlen(b64)));
		s3_hdr_add(r, &h, "x-amz-checksum-type", "FULL_OBJECT");
	}
	s3_send(r, 200, &h, NULL, 0);
}

static void put_received(struct s3_req *r, struct s3_upload *u, int err)
{
	struct put_op *op = (struct put_op *)u;
	struct meta_cmd *c = &op->cmd;
	int rc;

	if (err) {
		s3_send_error(r, err);
		return;
	}
	/* S3: an SSE-KMS or SSE-C ETag is not the MD5 of the plaintext */
	cn_hex(s3_sse_etag_sealed(&op->sse) ? u->sealed_md5 : u->dig.md5, 16, op->etag);
	if (r->body.ck_alg) {
		op->attrs.ck_alg = r->body.ck_alg;
		op->attrs.ck_len = cn_checksum_raw(r->body.ck_alg, &u->dig, op->attrs.ck_raw);
	}
	rc = s3_sse_record(r, &op->sse, &op->attrs.sse, &op->attrs.sse_len);
	if (rc)
		goto fail;
	rc = s3_attrs_encode(r, &op->attrs, &op->attrs_enc, &op->attrs_len);
	if (rc)
		goto fail;
	c->type = META_CMD_PUT_VERSION;
	c->now = cn_now_ns();
	c->bucket = r->route.bucket;
	c->bucket_len = strlen(r->route.bucket);
	c->key = r->route.key;
	c->key_len = r->route.key_len;
	memcpy(c->vid, op->vid, META_ID_LEN);
	c->attrs = op->attrs_enc;
	c->attrs_len = op->attrs_len;
	c->size = u->size;
	c->etag = op->etag;
	c->etag_len = 32;
	s3_lock_to_cmd(r, c);
	if (u->is_inline) {
		c->loc = META_LOC_INLINE;
		c->inline_data = u->inline_buf;
		c->inline_len = u->size;
	} else {
		c->loc = META_LOC_BLOB;
		memcpy(c->blob_id, u->layout.id, META_ID_LEN);
		c->layout = u->layout_enc;
		c->layout_len = u->layout_len;
		c->heal_mask = u->layout.missing; /* shards to heal (cluster) */
	}
	rc = s3_meta_submit(r, c, put_committed, r);
	if (rc)
		goto fail;
	return;
fail:
	s3_upload_discard(r, u);
	s3_send_error(r, rc);
}

void s3_op_put_object(struct s3_req *r)
{
	struct put_op *op;
	struct meta_bucket b;
	int rc;

	op = cn_pool_zalloc(r->pool, sizeof(*op));
	if (!op) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	/* Fail fast, before the body is read. */
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
	rc = s3_lock_for_write(r);
	if (rc)
		goto fail;
	rc = s3_write_conditions(r, &op->cmd, op->if_match, sizeof(op->if_match));
	if (rc)
		goto fail;
	rc = s3_sse_for_write(r, &op->sse);
	if (rc)
		goto fail;
	meta_version_id_new(r->srv->meta, op->vid);
	meta_id_to_text(op->vid, op->vid_text);
	op->u.version_text = op->vid_text;
	op->u.sse = &op->sse;
	op->u.done = put_received;
	rc = s3_upload_start(r, &op->u, 0);
	if (rc)
		goto fail;
	return;
fail:
	s3_send_error(r, rc);
}

/* ---- GetObject / HeadObject ----
 *
 * In stages, each returning 0 or an error (with the headers and fields the
 * error answer carries in g->err_h / g->err_f), one exit path:
 *
 *   get_lookup -> get_conditions -> get_range -> get_headers -> get_send
 *                                                               |
 *   inline / HEAD / empty: one write         blob(s): get_stream (pinned)
 *
 * Streaming uses two buffers: one is read from the data path while the other
 * is written to the socket, so a slow reader holds at most 2 x STREAM_BUF
 * per request and stops disk reads. A read is first tried on the loop in the
 * reader's no-wait mode (only what the kernel's caches hold, never waiting:
 * a hot object costs no hand-off to a thread and back); whatever that cannot
 * do goes to the thread pool:
 *
 *   FREE --get_pump: get_read_at, else s3_work(get_read)--> READING
 *   READING --get_read_after--> READY
 *   READY --get_pump: http_response_write--> WRITING --get_written--> FREE
 */

enum buf_state { BUF_FREE, BUF_READING, BUF_READY, BUF_WRITING };
_Static_assert(DATA_MAX_SHARDS <= HTTP_WRITEV_MAX, "a block's pieces go out in one writev");

struct get_op {
	struct s3_req *r;
	struct meta_version v;
	int have_v;
	int pinned;	     /* v's blobs are pinned against GC */
	int partial;	     /* a range or a part: 206 */
	uint64_t start, end; /* inclusive byte range of the object to send */
	uint64_t body_len;
	uint64_t *part_off; /* multipart: offset of each part, n_parts + 1 */
	uint32_t part_no;   /* multipart read by ?partNumber: that part, else 0 */
	struct s3_hdrs h;   /* the answer's headers */
	/* an error answer's extras (delete marker, 304, 416) */
	struct s3_hdrs err_h;
	struct s3_err_field err_f[2];
	int n_err_f;
	/* streaming */
	uint64_t pos; /* next byte to read */
	struct blob_reader *reader;
	int reader_part;
	char *buf[2];
	size_t len[2];
	enum buf_state state[2];
	int next_read; /* buffer index for the next read */
	int next_write;
	int reading;
	int writing;
	int err;
	int headers_sent;
	int rd_rc;
	size_t rd_got;
	int rd_idx;
	/* encryption: the data key, the blob being opened, and where each
	 * buffer's plaintext starts (a read starts at a frame boundary) */
	struct s3_sse sse;
	struct s3_sse_reader sr;
	size_t rd_skip;
	size_t off[2];
	/* the rest of the range in one block of a blob with k > 1: sent from
	 * the reader's buffers (blob_reader_view), not copied into buf[view] */
	int view;    /* -1, or the buffer index standing for it (loop only) */
	int rd_view; /* the read in flight was such a view (its thread's) */
	int n_viov;
	struct iovec viov[DATA_MAX_SHARDS];
};

static void get_cleanup(struct get_op *g)
{
	s3_sse_reader_reset(&g->sr);
	if (g->reader) {
		blob_reader_close(g->reader);
		g->reader = NULL;
	}
	s3_bigbuf_put(g->r, g->buf[0]);
	s3_bigbuf_put(g->r, g->buf[1]);
	g->buf[0] = g->buf[1] = NULL;
	if (g->pinned) {
		version_unpin(g->r->srv->data, &g->v);
		g->pinned = 0;
	}
	if (g->have_v) {
		meta_version_release(&g->v);
		g->have_v = 0;
	}
}

static void get_pump(struct s3_req *r, struct get_op *g);

/* Reads the next piece of the range into buf[rd_idx], or points viov at it:
 * on a pool thread, or (cached) on the loop, where rd_rc CN_EWOULDBLOCK
 * means the read must go to the pool. */
static void get_read_at(struct s3_req *r, struct get_op *g, int cached)
{
	struct blob_layout l;
	uint64_t part_start = 0, part_len = g->v.size;
	const uint8_t *lay = g->v.layout;
	size_t lay_len = g->v.layout_len;
	int part = 0;
	size_t want;

	if (g->v.loc == META_LOC_PARTS) {
		while (part < (int)g->v.n_parts - 1 && g->pos >= g->part_off[part + 1])
			part++;
		part_start = g->part_off[part];
		part_len = g->v.parts[part].size;
		lay = g->v.parts[part].layout;
		lay_len = g->v.parts[part].layout_len;
	}
	if (!g->reader || g->reader_part != part) {
		if (g->reader)
			blob_reader_close(g->reader);
		g->reader = NULL;
		s3_sse_reader_reset(&g->sr);
		g->rd_rc = blob_layout_decode(lay, lay_len, &l);
		if (g->rd_rc)
			return;
		g->rd_rc = blob_reader_open(r->srv->data, &l, &g->reader);
		if (g->rd_rc)
			return;
		memcpy(g->sr.id, l.id, sizeof(g->sr.id));
		g->reader_part = part;
	}
	blob_reader_nowait(g->reader, cached);
	assert(g->pos >= part_start && g->pos <= g->end);
	want = STREAM_BUF;
	if (g->end + 1 - g->pos < want)
		want = (size_t)(g->end + 1 - g->pos);
	if (part_start + part_len - g->pos < want)
		want = (size_t)(part_start + part_len - g->pos);
	g->rd_skip = 0;
	g->rd_view = 0;
	if (g->sse.mode == S3_SSE_NONE && g->end + 1 - g->pos <= part_start + part_len - g->pos) {
		/* the rest of the range is in this part: if it is in one block
		 * too, it goes out from the reader's buffers; this is the last
		 * read, so the reader is not touched again before the write */
		g->rd_rc = blob_reader_view(
			g->reader, g->pos - part_start, (size_t)(g->end + 1 - g->pos), g->viov,
			(int)(sizeof(g->viov) / sizeof(g->viov[0])), &g->n_viov, &g->rd_got);
		if (g->rd_rc != CN_EAGAIN) {
			/* get_read_after sets view, on the loop: the loop reads
			 * it for the buffer it writes while this read runs */
			g->rd_view = g->rd_rc == 0;
			return;
		}
	}
	if (g->sse.mode != S3_SSE_NONE)
		g->rd_rc = s3_sse_read(&g->sr, g->reader, part_len, g->pos - part_start,
				       (uint8_t *)g->buf[g->rd_idx], S3_BIGBUF, want, &g->rd_skip,
				       &g->rd_got);
	else
		g->rd_rc = blob_reader_read(g->reader, g->pos - part_start, g->buf[g->rd_idx], want,
					    &g->rd_got);
	if (g->rd_rc == 0 && g->rd_got == 0)
		g->rd_rc = CN_ECORRUPT; /* metadata says there is more */
}

/* Pool thread. */
static void get_read(struct s3_req *r, void *arg)
{
	get_read_at(r, arg, 0);
}

static void get_read_after(struct s3_req *r, int status, void *arg)
{
	struct get_op *g = arg;

	assert(g->reading && g->state[g->rd_idx] == BUF_READING);
	g->reading = 0;
	if (status || g->rd_rc) {
		if (!g->err)
			g->err = g->rd_rc ? g->rd_rc : CN_EINTERNAL;
		g->state[g->rd_idx] = BUF_FREE;
		if (g->err != CN_EDATALOST || g->headers_sent)
			log_warn("get %s/%.*s: %s", r->route.bucket, (int)r->route.key_len,
				 r->route.key, cn_strerror(g->err));
	} else {
		g->len[g->rd_idx] = g->rd_got;
		g->off[g->rd_idx] = g->rd_skip;
		if (g->rd_view)
			g->view = g->rd_idx;
		g->state[g->rd_idx] = BUF_READY;
		g->pos += g->rd_got;
	}
	get_pump(r, g);
}

static void get_written(struct http_request *h, int err, void *arg)
{
	struct s3_req *r = h->data;
	struct get_op *g = arg;
	int idx = g->next_write ^ 1; /* the buffer that was being written */

	assert(g->writing && g->state[idx] == BUF_WRITING);
	g->writing = 0;
	g->state[idx] = BUF_FREE;
	if (err && !g->err)
		g->err = err;
	get_pump(r, g);
}

/* Moves the two buffers along; ends the request when the range is out or
 * after an error, once nothing is in flight. */
static void get_pump(struct s3_req *r, struct get_op *g)
{
	if (r->aborted && !g->err)
		g->err = -EPIPE;
	if (g->err) {
		if (g->reading || g->writing)
			return;
		get_cleanup(g);
		if (!g->headers_sent) {
			s3_send_error(r, g->err);
			return;
		}
		/* Mid-body: the client must see a short response, not bad bytes. */
		http_request_close_after(r->http);
		s3_end(r);
		return;
	}
	if (!g->reading && g->pos <= g->end && g->state[g->next_read] == BUF_FREE) {
		g->rd_idx = g->next_read;
		g->state[g->rd_idx] = BUF_READING;
		g->next_read ^= 1;
		g->reading = 1;
		if (g->sse.mode == S3_SSE_NONE) {
			/* decryption is CPU enough to keep to the pool */
			get_read_at(r, g, 1);
			if (g->rd_rc != CN_EWOULDBLOCK) {
				cn_metrics_object_read(1);
				get_read_after(r, 0, g); /* pumps on */
				return;
			}
		}
		cn_metrics_object_read(0);
		if (s3_work(r, get_read, get_read_after, g)) {
			g->reading = 0;
			g->state[g->rd_idx] = BUF_FREE;
			g->err = CN_ENOMEM;
			get_pump(r, g);
			return;
		}
	}
	if (!g->writing && g->state[g->next_write] == BUF_READY) {
		int idx = g->next_write;
		if (!g->headers_sent) {
			g->headers_sent = 1;
			if (s3_send_begin(r, g->partial ? 206 : 200, &g->h, g->body_len)) {
				g->err = -EPIPE;
				get_pump(r, g);
				return;
			}
		}
		g->state[idx] = BUF_WRITING;
		g->writing = 1;
		g->next_write ^= 1;
		if (g->view == idx
			    ? http_response_writev(r->http, g->viov, g->n_viov, get_written, g)
			    : http_response_write(r->http, g->buf[idx] + g->off[idx], g->len[idx],
						  get_written, g)) {
			g->writing = 0;
			g->state[idx] = BUF_FREE;
			g->err = -EPIPE;
			get_pump(r, g);
			return;
		}
	}
	if (!g->reading && !g->writing && g->pos > g->end && g->state[0] == BUF_FREE &&
	    g->state[1] == BUF_FREE) {
		get_cleanup(g);
		s3_end(r);
	}
}

/* Strict decimal: digits only, no sign or space (strtoull takes "-3" and
 * negates it), no overflow. Returns the end or NULL. */
static const char *dec_u64(const char *p, uint64_t *out)
{
	uint64_t v = 0;
	const char *s = p;

	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return NULL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (p == s)
		return NULL;
	*out = v;
	return p;
}

/* Parses "bytes=a-b" / "bytes=a-" / "bytes=-n" against size. Returns 0 and the
 * inclusive range, 1 to ignore the header (malformed or multiple ranges: S3
 * serves the whole object with 200), or CN_EBADRANGE. */
static int parse_range(const char *h, uint64_t size, uint64_t *s, uint64_t *e)
{
	const char *p;
	uint64_t a, b;

	if (strncasecmp(h, "bytes=", 6) != 0)
		return 1;
	p = h + 6;
	if (*p == '-') {
		p = dec_u64(p + 1, &b);
		if (!p || *p)
			return 1;
		if (b == 0 || size == 0)
			return CN_EBADRANGE;
		*s = b >= size ? 0 : size - b;
		*e = size - 1;
		return 0;
	}
	p = dec_u64(p, &a);
	if (!p || *p != '-')
		return 1;
	p++;
	if (*p == 0) {
		b = UINT64_MAX;
	} else {
		p = dec_u64(p, &b);
		if (!p || *p || b < a)
			return 1;
	}
	if (a >= size)
		return CN_EBADRANGE;
	*s = a;
	*e = b >= size ? size - 1 : b;
	return 0;
}

/* response-* query parameters override stored headers. Signed requests
 * only, as S3: on an anonymous GET of a public object they would let anyone
 * serve an upload as, say, text/html from the store's origin. */
static const struct {
	const char *param, *header;
} overrides[] = {
	{"response-content-type", "Content-Type"},
	{"response-content-language", "Content-Language"},
	{"response-expires", "Expires"},
	{"response-cache-control", "Cache-Control"},
	{"response-content-disposition", "Content-Disposition"},
	{"response-content-encoding", "Content-Encoding"},
};

void s3_version_header(struct s3_req *r, struct s3_hdrs *h, const struct meta_version *v)
{
	const char *asked = s3_route_param(&r->route, "versionId");

	if (!(v->flags & META_VF_NULL)) {
		if (v->vid_text[0])
			s3_hdr_add(r, h, "x-amz-version-id",
				   cn_pool_strndup(r->pool, v->vid_text, strlen(v->vid_text)));
	} else if ((v->flags & (META_VF_VERSIONED | META_VF_DELETE_MARKER)) ||
		   (asked && strcmp(asked, "null") == 0)) {
		s3_hdr_add(r, h, "x-amz-version-id", "null");
	}
}

static void add_last_modified(struct s3_req *r, struct s3_hdrs *h, int64_t mtime)
{
	char *date = cn_pool_alloc(r->pool, CN_FMT_HTTP_DATE_LEN + 1);

	if (date)
		*cn_fmt_http_date(date, mtime) = 0;
	s3_hdr_add(r, h, "Last-Modified", date);
}

/* Stage 1: request checks that need no metadata, then the version. A delete
 * marker answers with its own headers (S3 dates it on the 405). */
static int get_lookup(struct s3_req *r, struct get_op *g)
{
	const char *vid = s3_route_param(&r->route, "versionId");
	int rc;

	if (vid && !*vid)
		return CN_EBADVERSIONID;
	/* A value with CR/LF or another control character would split the
	 * response (S3: 400 InvalidArgument): refused before anything else. */
	for (size_t i = 0; i < sizeof(overrides) / sizeof(overrides[0]); i++) {
		const char *v = s3_route_param(&r->route, overrides[i].param);
		if (v && !s3_hdr_value_ok(v, strlen(v))) {
			r->err_msg = "A response header override holds a control character";
			return CN_EBADARG;
		}
		if (v && r->ident.kind == S3_PRINCIPAL_ANON)
			return CN_EANONOVERRIDE;
	}
	rc = meta_object_get(r->srv->meta, r->route.bucket, r->route.key, r->route.key_len, vid,
			     META_GET_VSTATE | (r->is_head ? 0 : META_GET_INLINE), &g->v);
	if (rc == 0) {
		g->have_v = 1;
		/* its ACL, or a policy on its tags, may decide */
		rc = s3_authz_version(r, g->v.attrs, g->v.attrs_len);
		/* then the data key (SSE-C: the request must bring it) */
		g->sr.s = &g->sse;
		return rc ? rc : s3_sse_for_read(r, g->v.attrs, g->v.attrs_len, 0, &g->sse);
	}
	if ((rc == CN_ENOKEY || rc == CN_ENOVERSION) &&
	    s3_authz_check(r, "s3:ListBucket", r->route.bucket, NULL, 0, ACL_READ)) {
		/* a requester who may not list learns nothing of what exists */
		if (g->v.flags & META_VF_DELETE_MARKER)
			meta_version_release(&g->v);
		return CN_EACCESS;
	}
	if ((rc == CN_ENOKEY || rc == CN_EDELMARKER) && (g->v.flags & META_VF_DELETE_MARKER)) {
		s3_hdr_add(r, &g->err_h, "x-amz-delete-marker", "true");
		s3_version_header(r, &g->err_h, &g->v);
		if (rc == CN_EDELMARKER) {
			add_last_modified(r, &g->err_h, g->v.mtime);
			s3_hdr_add(r, &g->err_h, "Allow", "DELETE");
		}
		meta_version_release(&g->v);
	}
	return rc;
}

int s3_version_for_request(struct s3_req *r, struct meta_version *v)
{
	const char *vid = s3_route_param(&r->route, "versionId");
	int rc;

	if (vid && !*vid)
		return CN_EBADVERSIONID;
	rc = meta_object_get(r->srv->meta, r->route.bucket, r->route.key, r->route.key_len, vid,
			     META_GET_VSTATE, v);
	if (rc && (v->flags & META_VF_DELETE_MARKER))
		meta_version_release(v);
	/* S3: a missing key is 404 only to whom may list the bucket */
	if ((rc == CN_ENOKEY || rc == CN_ENOVERSION) &&
	    s3_authz_check(r, "s3:ListBucket", r->route.bucket, NULL, 0, ACL_READ))
		return CN_EACCESS;
	return rc;
}

/* Stage 2: If-Match / If-None-Match / If-(Un)Modified-Since (RFC 7232
 * order: If-Match wins over If-Unmodified-Since, If-None-Match over
 * If-Modified-Since). A 304 carries the ETag and Last-Modified. A date
 * later than now is not a valid If-Modified-Since and is ignored (RFC 7232
 * section 3.3), as S3 does. */
static int get_conditions(struct s3_req *r, struct get_op *g)
{
	const char *im = s3_header(r, "if-match");
	const char *inm = s3_header(r, "if-none-match");
	const char *ims = s3_header(r, "if-modified-since");
	const char *ius = s3_header(r, "if-unmodified-since");
	int64_t t, mtime_s = g->v.mtime / 1000000000LL;

	if (im) {
		if (!etag_list_match(im, g->v.etag))
			return CN_EPRECOND;
	} else if (ius && s3_parse_http_date(ius, &t) == 0 && mtime_s > t / 1000000000LL) {
		return CN_EPRECOND;
	}
	if ((inm && etag_list_match(inm, g->v.etag)) ||
	    (!inm && ims && s3_parse_http_date(ims, &t) == 0 && t <= cn_now_ns() &&
	     mtime_s <= t / 1000000000LL)) {
		s3_hdr_add(r, &g->err_h, "ETag", s3_quote_etag(r, g->v.etag));
		add_last_modified(r, &g->err_h, g->v.mtime);
		return CN_ENOTMODIFIED;
	}
	return 0;
}

/* Stage 3: the byte range to send, from partNumber or Range (not both). */
static int get_range(struct s3_req *r, struct get_op *g)
{
	const char *range = s3_header(r, "range");
	const char *pn = s3_route_param(&r->route, "partNumber");
	uint64_t size = g->v.size;
	int rc;

	g->start = 0;
	g->end = size ? size - 1 : 0;
	if (g->v.loc == META_LOC_PARTS) {
		g->part_off = cn_pool_alloc(r->pool, sizeof(uint64_t) * (g->v.n_parts + 1));
		if (!g->part_off)
			return CN_ENOMEM;
		g->part_off[0] = 0;
		for (uint32_t i = 0; i < g->v.n_parts; i++)
			g->part_off[i + 1] = g->part_off[i] + g->v.parts[i].size;
		assert(g->part_off[g->v.n_parts] == size);
	}
	if (pn) {
		uint64_t n;
		const char *end = dec_u64(pn, &n);
		if (range) {
			r->err_msg =
				"Cannot specify both Range header and partNumber query parameter";
			return CN_EBADARG;
		}
		if (!end || *end || n < 1 || n > 10000) {
			r->err_msg =
				"Part number must be an integer between 1 and 10000, inclusive";
			return CN_EBADARG;
		}
		if (g->v.loc == META_LOC_PARTS) {
			if (n > g->v.n_parts)
				return CN_EBADPARTNUM;
			g->part_no = (uint32_t)n;
			g->start = g->part_off[n - 1];
			if (g->part_off[n] == g->start) {
				/* an empty (last) part: no byte range names it,
				 * the answer is 200 with no body */
				g->end = g->start;
				g->body_len = 0;
				return 0;
			}
			g->end = g->part_off[n] - 1;
			g->partial = 1;
		} else if (n != 1) {
			return CN_EBADPARTNUM;
		}
	} else if (range) {
		rc = parse_range(range, size, &g->start, &g->end);
		if (rc < 0) {
			/* InvalidRange with the object size, as S3 answers. */
			char *sz = cn_pool_printf(r->pool, "%" PRIu64, size);
			g->err_f[g->n_err_f++] =
				(struct s3_err_field){"RangeRequested", range, strlen(range)};
			if (sz)
				g->err_f[g->n_err_f++] =
					(struct s3_err_field){"ActualObjectSize", sz, strlen(sz)};
			s3_hdr_addf(r, &g->err_h, "Content-Range", "bytes */%" PRIu64, size);
			return rc;
		}
		g->partial = rc == 0;
	}
	g->body_len = size ? g->end - g->start + 1 : 0;
	return 0;
}

/* Stage 4: the answer's headers (stored attributes, then what describes
 * this answer, then the response-* overrides). */
static int get_headers(struct s3_req *r, struct get_op *g)
{
	const char *cm = s3_header(r, "x-amz-checksum-mode");
	struct s3_attrs a;
	int rc = s3_attrs_decode(r, g->v.attrs, g->v.attrs_len, &a);

	if (rc)
		return rc;
	int want_ck = cm && strcasecmp(cm, "ENABLED") == 0;

	/* A whole-object checksum does not describe a range or a part; a
	 * composite object's part has its own (S3 answers it). */
	s3_attrs_to_headers(r, &a, &g->h, want_ck && !g->partial && !g->part_no);
	if (want_ck && g->part_no && a.ck_composite) {
		const struct meta_part *pt = &g->v.parts[g->part_no - 1];
		char b64[64];
		if (pt->ck_len && pt->ck_alg == (uint8_t)a.ck_alg &&
		    cn_b64_encode(pt->ck, pt->ck_len, b64, sizeof(b64))) {
			s3_hdr_add(r, &g->h,
				   cn_pool_printf(r->pool, "x-amz-checksum-%s",
						  cn_checksum_alg_header(a.ck_alg)),
				   cn_pool_strndup(r->pool, b64, strlen(b64)));
			s3_hdr_add(r, &g->h, "x-amz-checksum-type", "COMPOSITE");
		}
	}
	s3_hdr_add(r, &g->h, "ETag", s3_quote_etag(r, g->v.etag));
	add_last_modified(r, &g->h, g->v.mtime);
	s3_hdr_add(r, &g->h, "Accept-Ranges", "bytes");
	s3_sse_headers(r, &g->sse, &g->h);
	s3_version_header(r, &g->h, &g->v);
	if (a.tags_len >= 2 && a.tags[1])
		s3_hdr_addf(r, &g->h, "x-amz-tagging-count", "%u", (unsigned)a.tags[1]);
	s3_lock_headers(r, &g->v, &g->h);
	s3_expiration_header(r, &g->h, r->route.key, r->route.key_len, g->v.size, g->v.mtime,
			     a.tags, a.tags_len);
	if (g->v.loc == META_LOC_PARTS && s3_route_param(&r->route, "partNumber"))
		s3_hdr_addf(r, &g->h, "x-amz-mp-parts-count", "%u", g->v.n_parts);
	for (size_t i = 0; i < sizeof(overrides) / sizeof(overrides[0]); i++) {
		const char *v = s3_route_param(&r->route, overrides[i].param);
		if (v)
			s3_hdr_set(r, &g->h, overrides[i].header, v);
	}
	if (g->partial)
		s3_hdr_addf(r, &g->h, "Content-Range", "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64,
			    g->start, g->end, g->v.size);
	return 0;
}

/* Stage 5: the body. Inline bytes, HEAD and empty objects go out in one
 * write; blobs stream with their blobs pinned (the version may be
 * overwritten while a slow client reads it: its blobs stay until the last
 * byte is out). Returns an error only before anything was sent. */
static int get_send(struct s3_req *r, struct get_op *g)
{
	if (r->is_head || g->body_len == 0 || g->v.loc == META_LOC_INLINE) {
		const void *data = NULL;
		if (!r->is_head && g->v.size && g->v.loc == META_LOC_INLINE) {
			if (!g->v.inline_data || g->v.inline_len != g->v.size)
				return CN_ECORRUPT;
			data = g->v.inline_data + g->start;
			if (g->sse.mode != S3_SSE_NONE) {
				uint8_t *pt = cn_pool_alloc(r->pool, (size_t)g->v.size);
				int rc;
				if (!pt)
					return CN_ENOMEM;
				rc = s3_sse_open_inline(&g->sse, g->v.inline_data,
							(size_t)g->v.size, pt);
				if (rc)
					return rc;
				data = pt + g->start;
			}
		}
		if (s3_send_begin(r, g->partial ? 206 : 200, &g->h, g->body_len) == 0 && data &&
		    g->body_len)
			http_response_write_copy(r->http, data, (size_t)g->body_len);
		get_cleanup(g);
		s3_end(r);
		return 0;
	}
	if (version_pin(r->srv->data, &g->v))
		return CN_ENOMEM;
	g->pinned = 1;
	g->pos = g->start;
	g->buf[0] = s3_bigbuf_get(r);
	g->buf[1] = s3_bigbuf_get(r);
	if (!g->buf[0] || !g->buf[1])
		return CN_ENOMEM;
	g->reader_part = -1;
	g->view = -1;
	r->op = g;
	get_pump(r, g);
	return 0;
}

void s3_op_get_object(struct s3_req *r)
{
	struct get_op *g = cn_pool_zalloc(r->pool, sizeof(*g));
	int rc;

	if (!g) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	g->r = r;
	/* S3 refuses it: a read cannot choose how the object was encrypted */
	if (s3_header(r, "x-amz-server-side-encryption") ||
	    s3_header(r, "x-amz-server-side-encryption-aws-kms-key-id")) {
		r->err_msg =
			"Requests specifying Server Side Encryption with AWS KMS managed keys or "
			"AES256 are not supported for GET or HEAD requests";
		rc = CN_EBADARG;
		goto fail;
	}
	if ((rc = get_lookup(r, g)) || (rc = get_conditions(r, g)) || (rc = get_range(r, g)) ||
	    (rc = get_headers(r, g)) || (rc = get_send(r, g)))
		goto fail;
	return;
fail:
	get_cleanup(g);
	s3_send_error_ex(r, rc, &g->err_h, g->err_f, g->n_err_f);
}

/* ---- DeleteObject ---- */

struct del_op {
	struct meta_cmd cmd;
	char if_match[META_ETAG_MAX + 1];
};

static void del_committed(struct meta_cmd *cmd, int rc, void *arg)
{
	struct s3_req *r = arg;
	struct s3_hdrs h = {.n = 0};

	s3_entry_confirms(r, cmd);
	/* deleting what is not there succeeds, as in S3, unless If-Match
	 * asked for a current version: then it is NoSuchKey */
	if ((rc == CN_ENOKEY && !cmd->if_match) || rc == CN_ENOVERSION)
		rc = 0;
	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	if (cmd->res.delete_marker)
		s3_hdr_add(r, &h, "x-amz-delete-marker", "true");
	if (cmd->res.vid_text[0] && (strcmp(cmd->res.vid_text, "null") != 0 || cmd->has_target ||
				     cmd->target_null || cmd->res.delete_marker))
		s3_hdr_add(r, &h, "x-amz-version-id",
			   cn_pool_strndup(r->pool, cmd->res.vid_text, strlen(cmd->res.vid_text)));
	s3_send(r, 204, &h, NULL, 0);
}

void s3_op_delete_object(struct s3_req *r)
{
	struct del_op *op = cn_pool_zalloc(r->pool, sizeof(*op));
	const char *vid = s3_route_param(&r->route, "versionId");
	struct meta_cmd *c;
	int rc;

	if (!op) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	c = &op->cmd;
	c->type = META_CMD_DELETE_OBJECT;
	c->now = cn_now_ns();
	c->bucket = r->route.bucket;
	c->bucket_len = strlen(r->route.bucket);
	c->key = r->route.key;
	c->key_len = r->route.key_len;
	meta_version_id_new(r->srv->meta, c->vid);
	if (vid) {
		if (strcmp(vid, "null") == 0) {
			c->target_null = 1;
		} else if (meta_id_from_text(vid, strlen(vid), c->target_vid) == 0) {
			c->has_target = 1;
		} else {
			s3_send_error(r, CN_EBADVERSIONID);
			return;
		}
	}
	{
		const char *im = s3_header(r, "if-match");
		if (im) {
			s3_unquote_etag(im, op->if_match, sizeof(op->if_match));
			c->if_match = op->if_match;
			c->if_match_len = strlen(op->if_match);
			rc = s3_authz_delete_etag(r, c->key, c->key_len, op->if_match);
			if (rc) {
				s3_send_error(r, rc);
				return;
			}
		}
	}
	c->lock.bypass = (uint8_t)s3_lock_bypass(r, r->route.key, r->route.key_len);
	rc = s3_meta_submit(r, c, del_committed, r);
	if (rc)
		s3_send_error(r, rc);
}
