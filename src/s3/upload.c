/*
 * s3/upload.c — receiving an object or part body: into an inline buffer when
 * its declared size is at most the inline threshold, otherwise streamed into
 * a blob through the thread pool with bounded memory.
 *
 * Blob state machine (loop thread; "work" runs on the pool):
 *
 *   start --work: blob_writer_new--> READY --(resume body)-->
 *   sink fills buf[cur]; full -> work: digest || work: blob_writer_append
 *        (in parallel on a full buffer; two buffers: one filling, one
 *        being hashed and written; both busy -> pause)
 *   body done -> last partial buffer -> work: blob_writer_finish
 *   -> verify digests -> done(0)            any error -> abort/delete -> done(err)
 *
 * Memory per upload: two UPLOAD_BUF buffers, whatever the object size.
 * Data is durable (fsync by the data path's policy) before done(0) runs, so
 * the caller commits metadata only after the data is on disk.
 */
#include "s3/s3_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "s3/sse.h"

#define UPLOAD_BUF (1u << 20)
/* + one HTTP read buffer of overflow, see blob_sink() */
#define UPLOAD_CAP (UPLOAD_BUF + 64 * 1024)
_Static_assert(UPLOAD_CAP <= S3_BIGBUF, "upload buffers come from the big-buffer cache");

struct up {
	struct s3_upload *u;
	struct s3_req *r;
	struct cn_digest dig;
	int dig_init;
	int is_blob;
	struct blob_writer *w;
	char *buf[2];
	size_t fill[2];
	int cur;     /* buffer being filled */
	int busy;    /* index of the buffer being written, -1 none */
	int pending; /* index of a full buffer waiting, -1 none */
	int work;    /* a work item is in flight */
	int work_rc;
	int ready; /* writer created */
	int body_done;
	int body_err;
	int failed;
	int finished;
	int reported;
	uint64_t limit;
	/* The blob's intent: committed while the body streams, before its
	 * shards are renamed into place (intent.c). */
	struct s3_intent intent;
	size_t work_len;
	int work_buf;
	struct blob_info info;
	/* an encrypted blob: plaintext is hashed, then sealed into the writer */
	int sealing;
	struct s3_sse_writer sw;
};

static void report(struct up *p, int err);

static struct up *intent_up(struct s3_intent *in)
{
	return (struct up *)((char *)in - offsetof(struct up, intent));
}

static void drop_done(struct s3_req *r, struct s3_intent *in, int rc)
{
	struct up *p = intent_up(in);
	(void)r, (void)rc;
	report(p, p->failed ? p->failed : CN_EINTERNAL);
}

static void report(struct up *p, int err)
{
	if (p->reported)
		return;
	if (err && p->intent.state == S3_INTENT_ADDED) {
		/* The blob will never commit: turn its intent into garbage now
		 * rather than at the next restart. */
		if (!p->failed)
			p->failed = err;
		if (s3_intent_drop(p->r, &p->intent, drop_done) == 0)
			return;
	}
	p->reported = 1;
	if (p->dig_init) {
		cn_digest_release(&p->dig);
		p->dig_init = 0;
	}
	s3_bigbuf_put(p->r, p->buf[0]);
	s3_bigbuf_put(p->r, p->buf[1]);
	p->buf[0] = p->buf[1] = NULL;
	s3_sse_writer_release(&p->sw);
	p->u->done(p->r, p->u, err);
}

/* ---- inline ---- */

static int inline_sink(struct s3_req *r, const char *data, size_t len)
{
	struct up *p = r->op;
	struct s3_upload *u = p->u;

	if (len > u->size - p->fill[0])
		return CN_EINCOMPLETE;
	memcpy(u->inline_buf + p->fill[0], data, len);
	p->fill[0] += len;
	return 0;
}

static void inline_done(struct s3_req *r, int err)
{
	struct up *p = r->op;
	struct s3_upload *u = p->u;

	if (!err) {
		cn_digest_update(&p->dig, u->inline_buf, p->fill[0]);
		cn_digest_final(&p->dig, &u->dig);
		u->size = p->fill[0];
		err = s3_body_verify(r, &u->dig);
		/* stored sealed: the same length, header and tag kept apart */
		if (!err && u->sse && u->sse->mode != S3_SSE_NONE)
			err = s3_sse_seal_inline(u->sse, (uint8_t *)u->inline_buf, u->size,
						 u->sealed_md5);
	}
	report(p, err);
}

/* ---- blob ---- */

static void advance(struct up *p);

static void w_new(struct s3_req *r, void *arg)
{
	struct up *p = arg;
	(void)r;
	p->work_rc = blob_writer_new(p->r->srv->data, &p->info, &p->w);
}

static void intent_done(struct s3_req *r, struct s3_intent *in, int rc)
{
	struct up *p = intent_up(in);
	(void)r;

	if (rc && !p->failed)
		p->failed = rc;
	advance(p);
}

static void w_new_after(struct s3_req *r, int status, void *arg)
{
	struct up *p = arg;

	p->work = 0;
	if (status || p->work_rc) {
		p->failed = p->work_rc ? p->work_rc : CN_EINTERNAL;
		p->w = NULL;
	} else {
		struct blob_layout l;
		int rc;
		p->ready = 1;
		p->sw.w = p->w;
		/* The intent commits while the body streams into temp files. */
		blob_writer_layout(p->w, &l);
		rc = s3_intent_add(r, &p->intent, &l, intent_done);
		if (rc)
			p->failed = rc;
	}
	if (!r->aborted)
		http_request_resume(r->http);
	advance(p);
}

static void w_append(struct s3_req *r, void *arg)
{
	struct up *p = arg;
	(void)r;
	cn_digest_update(&p->dig, p->buf[p->work_buf], p->work_len);
	if (p->sealing)
		p->work_rc = s3_sse_writer_append(&p->sw, p->buf[p->work_buf], p->work_len);
	else
		p->work_rc = blob_writer_append(p->w, p->buf[p->work_buf], p->work_len);
}

/* A full buffer is hashed and written by two work items at once, on two
 * pool threads: the digest (MD5 runs at ~0.7 GB/s per core) and the write
 * (erasure code, piece checksums, sealing, the page-cache copy) cost about
 * the same, so one stream no longer pays for both in turn. Both only read
 * the buffer; the next one is dispatched when both are done, which keeps
 * the digest and the blob in order. */
static void w_hash(struct s3_req *r, void *arg)
{
	struct up *p = arg;
	(void)r;
	cn_digest_update(&p->dig, p->buf[p->work_buf], p->work_len);
}

static void w_write(struct s3_req *r, void *arg)
{
	struct up *p = arg;
	(void)r;
	if (p->sealing)
		p->work_rc = s3_sse_writer_append(&p->sw, p->buf[p->work_buf], p->work_len);
	else
		p->work_rc = blob_writer_append(p->w, p->buf[p->work_buf], p->work_len);
}

static void w_append_after(struct s3_req *r, int status, void *arg)
{
	struct up *p = arg;

	if (status && !p->work_rc)
		p->work_rc = CN_EINTERNAL;
	if (--p->work > 0)
		return; /* the other half of the buffer's work is still running */
	p->fill[p->work_buf] = 0;
	p->busy = -1;
	if (p->work_rc)
		p->failed = p->work_rc;
	if (!r->aborted && r->http->paused && p->pending < 0)
		http_request_resume(r->http);
	advance(p);
}

static void w_finish(struct s3_req *r, void *arg)
{
	struct up *p = arg;
	(void)r;
	p->work_rc = p->sealing ? s3_sse_writer_final(&p->sw, p->u->sealed_md5) : 0;
	if (p->work_rc)
		blob_writer_abort(p->w);
	else
		p->work_rc = blob_writer_finish(p->w, &p->u->layout);
	p->w = NULL; /* finish frees the writer, even on error */
	cn_digest_final(&p->dig, &p->u->dig);
}

static void w_delete(struct s3_req *r, void *arg)
{
	struct up *p = arg;
	(void)r;
	blob_delete(p->r->srv->data, &p->u->layout);
}

static void w_deleted_after(struct s3_req *r, int status, void *arg)
{
	struct up *p = arg;
	(void)r, (void)status;
	p->work = 0;
	report(p, p->failed);
}

static void w_finish_after(struct s3_req *r, int status, void *arg)
{
	struct up *p = arg;
	struct s3_upload *u = p->u;
	int rc;

	p->work = 0;
	p->finished = 1;
	if (status || p->work_rc) {
		p->failed = p->work_rc ? p->work_rc : CN_EINTERNAL;
		report(p, p->failed);
		return;
	}
	u->size = u->dig.len;
	rc = s3_body_verify(r, &u->dig);
	if (rc == 0) {
		rc = blob_layout_encode(&u->layout, u->layout_enc, sizeof(u->layout_enc));
		if (rc >= 0) {
			u->layout_len = (size_t)rc;
			rc = 0;
		}
	}
	if (rc) {
		/* Durable but unwanted: remove it before answering. */
		p->failed = rc;
		p->work = 1;
		if (s3_work(r, w_delete, w_deleted_after, p)) {
			p->work = 0;
			report(p, rc);
		}
		return;
	}
	report(p, 0);
}

static void w_abort(struct s3_req *r, void *arg)
{
	struct up *p = arg;
	(void)r;
	blob_writer_abort(p->w);
	p->w = NULL;
}

static void w_abort_after(struct s3_req *r, int status, void *arg)
{
	struct up *p = arg;
	(void)r, (void)status;
	p->work = 0;
	report(p, p->failed);
}

/* Below this a buffer is hashed and written by one work item: splitting
 * costs two thread hand-offs, more than it saves on a short buffer. */
#define UPLOAD_SPLIT_MIN (256u << 10)

static int dispatch_append(struct up *p, int idx)
{
	int split = p->fill[idx] >= UPLOAD_SPLIT_MIN;

	p->busy = idx;
	p->work_buf = idx;
	p->work_len = p->fill[idx];
	p->work_rc = 0;
	p->work = 1;
	if (s3_work(p->r, split ? w_hash : w_append, w_append_after, p)) {
		p->work = 0;
		p->busy = -1;
		return CN_ENOMEM;
	}
	if (!split)
		return 0;
	p->work = 2;
	if (s3_work(p->r, w_write, w_append_after, p)) {
		/* the hash is queued: it reports the failure when it returns */
		p->work = 1;
		p->work_rc = CN_ENOMEM;
	}
	return 0;
}

/* Moves the state machine on; called after every event. */
static void advance(struct up *p)
{
	if (p->work || p->reported)
		return;
	if (p->failed || p->body_err) {
		/* The intent command holds p until its callback: wait for it. */
		if (p->intent.state == S3_INTENT_ADDING || p->intent.state == S3_INTENT_DROPPING)
			return;
		if (!p->failed)
			p->failed = p->body_err;
		if (!p->body_done) {
			/* The sink stops the body with the error at its next
			 * bytes. A body paused for a full buffer would bring none
			 * and hold the request (and its temp files) until the
			 * body timeout: let it flow. */
			if (!p->r->aborted && p->r->http->paused)
				http_request_resume(p->r->http);
			return;
		}
		if (p->w) {
			p->work = 1;
			if (s3_work(p->r, w_abort, w_abort_after, p) == 0)
				return;
			p->work = 0;
			blob_writer_abort(p->w); /* cannot queue: do it here */
			p->w = NULL;
		}
		report(p, p->failed);
		return;
	}
	if (!p->ready)
		return;
	if (p->pending >= 0) {
		int idx = p->pending;
		p->pending = -1;
		if (dispatch_append(p, idx)) {
			p->failed = CN_ENOMEM;
			advance(p);
			return;
		}
		p->cur = idx ^ 1;
		if (!p->r->aborted && p->r->http->paused)
			http_request_resume(p->r->http);
		return;
	}
	if (!p->body_done)
		return;
	if (p->fill[p->cur] > 0) {
		if (dispatch_append(p, p->cur)) {
			p->failed = CN_ENOMEM;
			advance(p);
		}
		return;
	}
	if (p->intent.state != S3_INTENT_ADDED)
		return; /* shards are renamed into place only once the intent is durable */
	p->work = 1;
	if (s3_work(p->r, w_finish, w_finish_after, p)) {
		p->work = 0;
		p->failed = CN_ENOMEM;
		advance(p);
	}
}

static int blob_sink(struct s3_req *r, const char *data, size_t len)
{
	struct up *p = r->op;

	if (p->failed)
		return p->failed;
	if (p->dig.len + len > p->limit || r->body.received > p->limit)
		return CN_ETOOBIG;
	while (len > 0) {
		/* A buffer waiting for the other to be written may overflow by
		 * one parser callback's worth (the HTTP read buffer): the parser
		 * hands over whole callbacks and pauses only after them. */
		size_t cap = p->pending == p->cur ? UPLOAD_CAP : UPLOAD_BUF;
		size_t room = cap - p->fill[p->cur];
		size_t n = len < room ? len : room;

		/* The parser hands at most one read buffer past a pause, and
		 * UPLOAD_CAP leaves room for exactly that. */
		assert(room > 0 && p->busy != p->cur);
		memcpy(p->buf[p->cur] + p->fill[p->cur], data, n);
		p->fill[p->cur] += n;
		data += n;
		len -= n;
		if (p->pending != p->cur && p->fill[p->cur] >= UPLOAD_BUF) {
			if (!p->work && p->ready) {
				if (dispatch_append(p, p->cur))
					return CN_ENOMEM;
				p->cur ^= 1;
			} else {
				p->pending = p->cur;
				http_request_pause(r->http);
			}
		}
	}
	return 0;
}

static void blob_done(struct s3_req *r, int err)
{
	struct up *p = r->op;

	p->body_done = 1;
	if (err)
		p->body_err = err;
	advance(p);
}

static int upload_begin(struct s3_req *r, struct s3_upload *u, uint32_t part_no, uint64_t len,
			int fed);

int s3_upload_start(struct s3_req *r, struct s3_upload *u, uint32_t part_no)
{
	uint64_t len;
	int rc;

	/* An upload that declares no length is 411, as in S3: HTTP gives it
	 * no body, and `curl -X PUT URL` must not replace an object with an
	 * empty one. */
	if (!r->http->has_content_length && !r->http->chunked)
		return CN_EMISSINGLEN;
	rc = s3_body_prepare(r, &len);
	if (rc)
		return rc;
	if (u->ck_need != CN_CK_NONE) {
		/* S3: a part of an upload with a checksum algorithm carries that
		 * algorithm's checksum. A COMPOSITE one is made of the checksums
		 * the client computed, so it must send one; for FULL_OBJECT it is
		 * computed here when the client sent none. */
		if (r->body.ck_alg == CN_CK_NONE && !u->ck_sent_only) {
			r->body.ck_alg = u->ck_need;
		} else if (r->body.ck_alg != u->ck_need) {
			r->err_msg =
				cn_pool_printf(r->pool,
					       "Checksum Type mismatch occurred, expected checksum "
					       "Type: %s, actual "
					       "checksum Type: %s",
					       cn_checksum_alg_header(u->ck_need),
					       r->body.ck_alg == CN_CK_NONE
						       ? "null"
						       : cn_checksum_alg_header(r->body.ck_alg));
			s3_body_release(r);
			return CN_ECKMISMATCH;
		}
	} else if (u->ck_default && r->body.ck_alg == CN_CK_NONE) {
		/* a part of an upload created without an algorithm gets S3's
		 * default, so that Complete can combine the parts' CRCs into
		 * the object's (as a PutObject gets it in body.c) */
		r->body.ck_alg = CN_CK_CRC64NVME;
	}
	return upload_begin(r, u, part_no, len, 0);
}

int s3_upload_start_fed(struct s3_req *r, struct s3_upload *u)
{
	u->force_blob = 1; /* the length is unknown until the end */
	return upload_begin(r, u, 0, UINT64_MAX, 1);
}

int s3_upload_feed(struct s3_req *r, const char *data, size_t len)
{
	return blob_sink(r, data, len);
}

void s3_upload_end(struct s3_req *r, int err)
{
	blob_done(r, err);
}

/* The common start; fed: the caller, not the HTTP body, brings the bytes
 * (it keeps the HTTP body flowing; this pauses and resumes it). */
static int upload_begin(struct s3_req *r, struct s3_upload *u, uint32_t part_no, uint64_t len,
			int fed)
{
	struct up *p;
	int rc;

	u->size = len;
	u->part_no = part_no;
	p = cn_pool_zalloc(r->pool, sizeof(*p));
	if (!p)
		return CN_ENOMEM;
	p->u = u;
	p->r = r;
	p->busy = p->pending = -1;
	p->limit = r->srv->cfg.max_put_size;
	if (len != UINT64_MAX && len > p->limit)
		return CN_ETOOBIG;
	/* A body kept in the metadata store stops at drive 0's reserve (in a
	 * cluster, at any node's), as a blob's shards stop at theirs (data.h):
	 * the reserve is what lets a delete commit on a disk that uploads
	 * filled. */
	if (!u->force_blob && len <= r->srv->cfg.inline_threshold &&
	    data_store_check_meta_space(r->srv->data, len))
		return CN_ENOSPACE;
	rc = cn_digest_init(&p->dig, s3_body_digests(r));
	if (rc)
		return rc;
	p->dig_init = 1;
	u->priv = p;
	r->op = p;
	if (!u->force_blob && len != UINT64_MAX && len <= r->srv->cfg.inline_threshold) {
		u->is_inline = 1;
		u->inline_buf = cn_pool_alloc(r->pool, len ? len : 1);
		if (!u->inline_buf)
			goto nomem;
		s3_body_start(r, inline_sink, inline_done);
		return 0;
	}
	p->is_blob = 1;
	p->buf[0] = s3_bigbuf_get(r);
	p->buf[1] = s3_bigbuf_get(r);
	if (!p->buf[0] || !p->buf[1])
		goto nomem;
	s3_blob_id_new(r->srv, p->info.id);
	if (u->sse && u->sse->mode != S3_SSE_NONE) {
		/* the blob id keys the stream: it must be this blob's */
		rc = s3_sse_writer_init(&p->sw, u->sse, p->info.id);
		if (rc)
			goto fail;
		p->sealing = 1;
	}
	p->info.bucket = r->route.bucket;
	p->info.key = r->route.key;
	p->info.key_len = r->route.key_len;
	p->info.version_id = u->version_text;
	p->info.part_number = part_no;
	p->info.size_hint = len == UINT64_MAX ? 0 : len;
	/* Hold the body until the writer exists. */
	http_request_pause(r->http);
	p->work = 1;
	rc = s3_work(r, w_new, w_new_after, p);
	if (rc) {
		p->work = 0;
		http_request_resume(r->http);
		goto fail;
	}
	if (!fed)
		s3_body_start(r, blob_sink, blob_done);
	return 0;
nomem:
	rc = CN_ENOMEM;
fail:
	s3_bigbuf_put(r, p->buf[0]);
	s3_bigbuf_put(r, p->buf[1]);
	s3_sse_writer_release(&p->sw);
	cn_digest_release(&p->dig);
	r->op = NULL;
	return rc;
}

void s3_upload_discard(struct s3_req *r, struct s3_upload *u)
{
	if (u->is_inline)
		return;
	/* GC deletes the blob: its intent becomes a gc entry due now. */
	s3_blob_drop(r, u->layout.id);
}
