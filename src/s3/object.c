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

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bg/vpin.h"
#include "core/err.h"
#include "core/log.h"

#define STREAM_BUF (1u << 20)
_Static_assert(STREAM_BUF <= S3_BIGBUF, "GET buffers come from the big-buffer cache");

const char *s3_quote_etag(struct s3_req *r, const char *etag)
{
	return cn_pool_printf(r->pool, "\"%s\"", etag);
}

void s3_unquote_etag(const char *in, char *out, size_t cap)
{
	size_t n;

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
};

static void put_committed(struct meta_cmd *cmd, int rc, void *arg)
{
	struct s3_req *r = arg;
	struct put_op *op = (struct put_op *)((char *)cmd - offsetof(struct put_op, cmd));
	struct s3_hdrs h = {.n = 0};

	if (rc) {
		s3_upload_discard(r, &op->u);
		s3_send_error(r, rc);
		return;
	}
	s3_hdr_add(r, &h, "ETag", s3_quote_etag(r, op->etag));
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
	cn_hex(u->dig.md5, 16, op->etag);
	if (r->body.ck_alg) {
		op->attrs.ck_alg = r->body.ck_alg;
		op->attrs.ck_len = cn_checksum_raw(r->body.ck_alg, &u->dig, op->attrs.ck_raw);
	}
	rc = s3_attrs_encode(r, &op->attrs, &op->attrs_enc, &op->attrs_len);
	if (rc)
		goto fail;
	c->type = META_CMD_PUT_VERSION;
	c->now = s3_now_ns();
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
	if (u->is_inline) {
		c->loc = META_LOC_INLINE;
		c->inline_data = u->inline_buf;
		c->inline_len = u->size;
	} else {
		c->loc = META_LOC_BLOB;
		memcpy(c->blob_id, u->layout.id, META_ID_LEN);
		c->layout = u->layout_enc;
		c->layout_len = u->layout_len;
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
	rc = s3_write_conditions(r, &op->cmd, op->if_match, sizeof(op->if_match));
	if (rc)
		goto fail;
	meta_version_id_new(r->srv->meta, op->vid);
	meta_id_to_text(op->vid, op->vid_text);
	op->u.version_text = op->vid_text;
	op->u.done = put_received;
	rc = s3_upload_start(r, &op->u, 0);
	if (rc)
		goto fail;
	return;
fail:
	s3_send_error(r, rc);
}

/* ---- GetObject / HeadObject ---- */

struct get_op {
	struct s3_req *r;
	struct meta_version v;
	int have_v;
	int pinned; /* v's blobs are pinned against GC */
	uint64_t start, end; /* inclusive byte range of the object to send */
	uint64_t pos;        /* next byte to read */
	uint64_t sent;
	/* multipart: cumulative offsets */
	uint64_t *part_off;
	int cur_part;
	struct blob_reader *reader;
	int reader_part;
	char *buf[2];
	size_t len[2];
	int state[2]; /* 0 free, 1 reading, 2 ready, 3 writing */
	int next_read; /* buffer index for the next read */
	int next_write;
	int reading;
	int writing;
	int err;
	int headers_sent;
	int status;
	struct s3_hdrs h;
	uint64_t body_len;
	int rd_rc;
	size_t rd_got;
	int rd_idx;
};

static void get_cleanup(struct get_op *g)
{
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

/* Pool thread: read the next piece of the range into buf[rd_idx]. */
static void get_read(struct s3_req *r, void *arg)
{
	struct get_op *g = arg;
	struct blob_layout l;
	uint64_t part_start = 0, part_len = g->v.size;
	const uint8_t *lay = g->v.layout;
	size_t lay_len = g->v.layout_len;
	int part = 0;
	size_t want;
	(void)r;

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
		g->rd_rc = blob_layout_decode(lay, lay_len, &l);
		if (g->rd_rc)
			return;
		g->rd_rc = blob_reader_open(r->srv->data, &l, &g->reader);
		if (g->rd_rc)
			return;
		g->reader_part = part;
	}
	want = STREAM_BUF;
	if (g->end + 1 - g->pos < want)
		want = (size_t)(g->end + 1 - g->pos);
	if (part_start + part_len - g->pos < want)
		want = (size_t)(part_start + part_len - g->pos);
	g->rd_rc = blob_reader_read(g->reader, g->pos - part_start, g->buf[g->rd_idx], want,
				    &g->rd_got);
	if (g->rd_rc == 0 && g->rd_got == 0)
		g->rd_rc = CN_ECORRUPT; /* metadata says there is more */
}

static void get_read_after(struct s3_req *r, int status, void *arg)
{
	struct get_op *g = arg;

	g->reading = 0;
	if (status || g->rd_rc) {
		if (!g->err)
			g->err = g->rd_rc ? g->rd_rc : CN_EINTERNAL;
		if (g->err != CN_EDATALOST || g->headers_sent)
			log_warn("get %s/%.*s: %s", r->route.bucket, (int)r->route.key_len,
				 r->route.key, cn_strerror(g->err));
	} else {
		g->len[g->rd_idx] = g->rd_got;
		g->state[g->rd_idx] = 2;
		g->pos += g->rd_got;
	}
	get_pump(r, g);
}

static void get_written(struct http_request *h, int err, void *arg)
{
	struct s3_req *r = h->data;
	struct get_op *g = arg;
	int idx = g->next_write ^ 1;

	g->writing = 0;
	g->state[idx] = 0;
	if (err && !g->err)
		g->err = err;
	get_pump(r, g);
}

static void get_pump(struct s3_req *r, struct get_op *g)
{
	if (r->aborted && !g->err)
		g->err = -EPIPE;
	if (g->err) {
		if (g->reading || g->writing)
			return;
		if (!g->headers_sent) {
			get_cleanup(g);
			s3_send_error(r, g->err);
			return;
		}
		/* Mid-body: the client must see a short response, not bad bytes. */
		http_request_close_after(r->http);
		get_cleanup(g);
		s3_end(r);
		return;
	}
	/* Start a read into a free buffer. */
	if (!g->reading && g->pos <= g->end && g->state[g->next_read] == 0) {
		g->rd_idx = g->next_read;
		g->state[g->rd_idx] = 1;
		g->next_read ^= 1;
		g->reading = 1;
		if (s3_work(r, get_read, get_read_after, g)) {
			g->reading = 0;
			g->err = CN_ENOMEM;
			get_pump(r, g);
			return;
		}
	}
	/* Write a ready buffer. */
	if (!g->writing && g->state[g->next_write] == 2) {
		int idx = g->next_write;
		if (!g->headers_sent) {
			g->headers_sent = 1;
			if (s3_send_begin(r, g->status, &g->h, g->body_len)) {
				g->err = -EPIPE;
				get_pump(r, g);
				return;
			}
		}
		g->state[idx] = 3;
		g->writing = 1;
		g->next_write ^= 1;
		if (http_response_write(r->http, g->buf[idx], g->len[idx], get_written, g)) {
			g->writing = 0;
			g->err = -EPIPE;
			get_pump(r, g);
			return;
		}
		g->sent += g->len[idx];
	}
	if (!g->reading && !g->writing && g->pos > g->end && g->state[0] == 0 &&
	    g->state[1] == 0) {
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

static int check_read_conditions(struct s3_req *r, const struct meta_version *v)
{
	const char *im = s3_header(r, "if-match");
	const char *inm = s3_header(r, "if-none-match");
	const char *ims = s3_header(r, "if-modified-since");
	const char *ius = s3_header(r, "if-unmodified-since");
	int64_t t;
	int64_t mtime_s = v->mtime / 1000000000LL;

	if (im) {
		if (!etag_list_match(im, v->etag))
			return CN_EPRECOND;
	} else if (ius && s3_parse_http_date(ius, &t) == 0 && mtime_s > t / 1000000000LL) {
		return CN_EPRECOND;
	}
	if (inm) {
		if (etag_list_match(inm, v->etag))
			return CN_ENOTMODIFIED;
	} else if (ims && s3_parse_http_date(ims, &t) == 0 && mtime_s <= t / 1000000000LL) {
		return CN_ENOTMODIFIED;
	}
	return 0;
}

/* response-* query parameters override stored headers (S3 allows them on
 * signed requests only; every request here is signed). */
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

/* Checked before anything is read: a value with CR/LF or another control
 * character would split the response (S3: 400 InvalidArgument). */
static int check_overrides(struct s3_req *r)
{
	for (size_t i = 0; i < sizeof(overrides) / sizeof(overrides[0]); i++) {
		const char *v = s3_route_param(&r->route, overrides[i].param);
		if (v && !s3_hdr_value_ok(v, strlen(v)))
			return CN_EBADARG;
	}
	return 0;
}

static void add_overrides(struct s3_req *r, struct s3_hdrs *h)
{
	for (size_t i = 0; i < sizeof(overrides) / sizeof(overrides[0]); i++) {
		const char *v = s3_route_param(&r->route, overrides[i].param);
		if (v)
			s3_hdr_set(r, h, overrides[i].header, v);
	}
}

static void add_version_headers(struct s3_req *r, struct s3_hdrs *h, const struct meta_version *v)
{
	if (!(v->flags & META_VF_NULL) && v->vid_text[0])
		s3_hdr_add(r, h, "x-amz-version-id",
			   cn_pool_strndup(r->pool, v->vid_text, strlen(v->vid_text)));
}

void s3_op_get_object(struct s3_req *r)
{
	struct get_op *g;
	struct s3_attrs a;
	const char *vid = s3_route_param(&r->route, "versionId");
	const char *range = s3_header(r, "range");
	const char *pn = s3_route_param(&r->route, "partNumber");
	char date[40];
	int rc, partial = 0;
	uint64_t size;

	g = cn_pool_zalloc(r->pool, sizeof(*g));
	if (!g) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	g->r = r;
	if (vid && !*vid) {
		s3_send_error(r, CN_EBADVERSIONID);
		return;
	}
	rc = check_overrides(r);
	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	rc = meta_object_get(r->srv->meta, r->route.bucket, r->route.key, r->route.key_len, vid,
			     r->is_head ? 0 : META_GET_INLINE, &g->v);
	if (rc) {
		struct s3_hdrs h = {0};
		if ((rc == CN_ENOKEY || rc == CN_EDELMARKER) &&
		    (g->v.flags & META_VF_DELETE_MARKER)) {
			s3_hdr_add(r, &h, "x-amz-delete-marker", "true");
			add_version_headers(r, &h, &g->v);
			if (rc == CN_EDELMARKER) {
				/* S3 dates the marker on the 405 answer. */
				s3_http_date(g->v.mtime, date);
				s3_hdr_add(r, &h, "Last-Modified",
					   cn_pool_strndup(r->pool, date, strlen(date)));
				s3_hdr_add(r, &h, "Allow", "DELETE");
			}
			meta_version_release(&g->v);
		}
		s3_send_error_ex(r, rc, &h, NULL, 0);
		return;
	}
	g->have_v = 1;
	size = g->v.size;
	g->start = 0;
	g->end = size ? size - 1 : 0;
	rc = check_read_conditions(r, &g->v);
	if (rc) {
		struct s3_hdrs h = {0};
		if (rc == CN_ENOTMODIFIED) {
			s3_hdr_add(r, &h, "ETag", s3_quote_etag(r, g->v.etag));
			s3_http_date(g->v.mtime, date);
			s3_hdr_add(r, &h, "Last-Modified", cn_pool_strndup(r->pool, date, strlen(date)));
			get_cleanup(g);
			s3_send(r, 304, &h, NULL, 0);
			return;
		}
		get_cleanup(g);
		s3_send_error(r, rc);
		return;
	}
	if (g->v.loc == META_LOC_PARTS) {
		g->part_off = cn_pool_alloc(r->pool, sizeof(uint64_t) * (g->v.n_parts + 1));
		if (!g->part_off) {
			get_cleanup(g);
			s3_send_error(r, CN_ENOMEM);
			return;
		}
		g->part_off[0] = 0;
		for (uint32_t i = 0; i < g->v.n_parts; i++)
			g->part_off[i + 1] = g->part_off[i] + g->v.parts[i].size;
	}
	if (pn) {
		char *end;
		unsigned long n = strtoul(pn, &end, 10);
		if (*end || n < 1 || n > 10000 || range) {
			get_cleanup(g);
			s3_send_error(r, CN_EBADARG);
			return;
		}
		if (g->v.loc == META_LOC_PARTS) {
			if (n > g->v.n_parts) {
				get_cleanup(g);
				s3_send_error(r, CN_EBADRANGE);
				return;
			}
			g->start = g->part_off[n - 1];
			g->end = g->part_off[n] - 1;
			partial = 1;
		} else if (n != 1) {
			get_cleanup(g);
			s3_send_error(r, CN_EBADRANGE);
			return;
		}
	} else if (range) {
		rc = parse_range(range, size, &g->start, &g->end);
		if (rc < 0) {
			/* InvalidRange with the object size, as S3 answers. */
			struct s3_hdrs h = {0};
			char *sz = cn_pool_printf(r->pool, "%" PRIu64, size);
			struct s3_err_field f[2] = {
				{"RangeRequested", range, strlen(range)},
				{"ActualObjectSize", sz, sz ? strlen(sz) : 0},
			};
			s3_hdr_addf(r, &h, "Content-Range", "bytes */%" PRIu64, size);
			get_cleanup(g);
			s3_send_error_ex(r, rc, &h, f, sz ? 2 : 1);
			return;
		}
		partial = rc == 0;
	}
	if (s3_attrs_decode(r, g->v.attrs, g->v.attrs_len, &a)) {
		get_cleanup(g);
		s3_send_error(r, CN_ECORRUPT);
		return;
	}
	{
		const char *cm = s3_header(r, "x-amz-checksum-mode");
		int want_ck = cm && strcasecmp(cm, "ENABLED") == 0 && !partial;
		s3_attrs_to_headers(r, &a, &g->h, want_ck);
	}
	s3_hdr_add(r, &g->h, "ETag", s3_quote_etag(r, g->v.etag));
	s3_http_date(g->v.mtime, date);
	s3_hdr_add(r, &g->h, "Last-Modified", cn_pool_strndup(r->pool, date, strlen(date)));
	s3_hdr_add(r, &g->h, "Accept-Ranges", "bytes");
	add_version_headers(r, &g->h, &g->v);
	if (g->v.loc == META_LOC_PARTS && pn)
		s3_hdr_addf(r, &g->h, "x-amz-mp-parts-count", "%u", g->v.n_parts);
	add_overrides(r, &g->h);
	g->status = partial ? 206 : 200;
	g->body_len = size ? g->end - g->start + 1 : 0;
	if (partial)
		s3_hdr_addf(r, &g->h, "Content-Range", "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64,
			    g->start, g->end, size);
	if (r->is_head || size == 0 || g->v.loc == META_LOC_INLINE) {
		const void *data = NULL;
		if (!r->is_head && size && g->v.loc == META_LOC_INLINE) {
			if (!g->v.inline_data || g->v.inline_len != size) {
				get_cleanup(g);
				s3_send_error(r, CN_ECORRUPT);
				return;
			}
			data = g->v.inline_data + g->start;
		}
		if (s3_send_begin(r, g->status, &g->h, g->body_len) == 0 && data)
			http_response_write_copy(r->http, data, (size_t)g->body_len);
		get_cleanup(g);
		s3_end(r);
		return;
	}
	/* The version may be overwritten while a slow client reads it: its
	 * blobs stay until the last byte is out. */
	if (version_pin(r->srv->data, &g->v)) {
		get_cleanup(g);
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	g->pinned = 1;
	g->pos = g->start;
	g->buf[0] = s3_bigbuf_get(r);
	g->buf[1] = s3_bigbuf_get(r);
	if (!g->buf[0] || !g->buf[1]) {
		get_cleanup(g);
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	g->reader_part = -1;
	r->op = g;
	get_pump(r, g);
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

	if (rc == CN_ENOKEY || rc == CN_ENOVERSION)
		rc = 0; /* deleting what is not there succeeds, as in S3 */
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
	c->now = s3_now_ns();
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
		}
	}
	rc = s3_meta_submit(r, c, del_committed, r);
	if (rc)
		s3_send_error(r, rc);
}
