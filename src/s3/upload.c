/*
 * s3/upload.c — receiving an object or part body: into an inline buffer when
 * its declared size is at most the inline threshold, otherwise streamed into
 * a blob through the thread pool with bounded memory.
 *
 * Blob pipeline (loop thread; "work" runs on the pool):
 *
 *   start --work: blob_writer_new--> ready --(resume body)-->
 *   the sink fills buf[cur]; full -> queued to two chains, the digest's and
 *   the write's (chain_run), which take queued buffers in order on pool
 *   threads for as long as there are any; one freed -> p->note -> the loop
 *   refills it. Neither buffer free: the body pauses (what the parser hands
 *   over past the pause waits in spill).
 *   body done -> the last partial buffer -> both chains done ->
 *   work: blob_writer_finish -> verify digests -> done(0)
 *   any error -> the chains stop -> abort/delete -> done(err)
 *
 * Memory per upload: two UPLOAD_BUF buffers and a spill of UPLOAD_SPILL,
 * whatever the object size. Data is durable (fsync by the data path's
 * policy) before done(0) runs, so the caller commits metadata only after
 * the data is on disk.
 */
#include "s3/s3_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "s3/sse.h"

#define UPLOAD_BUF (1u << 20)
/* one HTTP read buffer: what the parser hands over past a pause */
#define UPLOAD_SPILL (64u * 1024)
_Static_assert(UPLOAD_BUF <= S3_BIGBUF, "upload buffers come from the big-buffer cache");

struct up {
	struct s3_upload *u;
	struct s3_req *r;
	struct cn_digest dig;
	int dig_init;
	/* a blob's CRC checksums, computed by the write chain so that the
	 * digest chain (MD5, the longest) carries only the hashes */
	struct cn_digest cks;
	int cks_init;
	int is_blob;
	struct blob_writer *w;
	char *buf[2];
	size_t fill[2]; /* the loop's, while it fills the buffer */
	int cur;	/* buffer being filled */
	int stalled;	/* neither buffer free (or no writer yet): body paused */
	char *spill;	/* UPLOAD_SPILL bytes that came while stalled */
	size_t spill_len, spill_off;
	uint64_t received;
	int work; /* work items in flight (chains included) */
	int work_rc;
	int finishing; /* finish or abort dispatched */
	int ready;     /* writer created */
	/* the chains' state, under mu; bit i of a mask is buf[i] */
	pthread_mutex_t mu;
	unsigned queued, hashed, written;
	size_t qlen[2];
	int h_next, w_next; /* the next buffer each chain takes */
	int h_run, w_run;   /* a chain's work item is queued or running */
	int chain_rc;	    /* set: both chains stop */
	uv_async_t note;    /* a buffer is free again; data: this */
	int note_open;
	int body_done;
	int body_err;
	int failed;
	int reported;
	uint64_t limit;
	/* The blob's intent: committed while the body streams, before its
	 * shards are renamed into place (intent.c). */
	struct s3_intent intent;
	struct blob_info info;
	/* an encrypted blob: plaintext is hashed, then sealed into the writer */
	int sealing;
	struct s3_sse_writer sw;
};

static void report(struct up *p, int err);
static void note_close(struct up *p);

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
	if (p->cks_init) {
		cn_digest_release(&p->cks);
		p->cks_init = 0;
	}
	if (p->dig_init) {
		cn_digest_release(&p->dig);
		p->dig_init = 0;
	}
	s3_bigbuf_put(p->r, p->buf[0]);
	s3_bigbuf_put(p->r, p->buf[1]);
	p->buf[0] = p->buf[1] = NULL;
	s3_sse_writer_release(&p->sw);
	note_close(p);
	p->u->done(p->r, p->u, err);
}

static void note_closed(uv_handle_t *h)
{
	struct up *p = h->data;

	pthread_mutex_destroy(&p->mu);
	s3_release(p->r);
}

/* Once no chain runs: nothing sends on p->note any more. */
static void note_close(struct up *p)
{
	if (!p->note_open)
		return;
	p->note_open = 0;
	uv_close((uv_handle_t *)&p->note, note_closed);
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

	p->work--;
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
	if (!r->aborted && !p->stalled)
		http_request_resume(r->http);
	advance(p);
}

/* A queued buffer that both chains are done with is free again: the loop
 * hears of it through p->note. Called with p->mu held. */
static void chain_done_with(struct up *p, int i)
{
	unsigned bit = 1u << i;

	if ((p->hashed & bit) && (p->written & bit)) {
		p->queued &= ~bit;
		p->hashed &= ~bit;
		p->written &= ~bit;
		uv_async_send(&p->note);
	}
}

/* The two chains (pool threads): each takes the queued buffers in the
 * order they were filled, for as long as there are any, so that hashing
 * one buffer follows the last without a hand-off through the loop (each
 * costs ~0.4 ms on this kind of guest, against ~1.5 ms of MD5 per MiB).
 * The digest (MD5 at ~0.7 GB/s per core) and the write (erasure code,
 * piece checksums, sealing, the page-cache copy) run side by side; both
 * only read a buffer, and it is refilled once both are done with it. A
 * write that fails stops both. */
static void chain_run(struct up *p, int hash)
{
	int *next = hash ? &p->h_next : &p->w_next;
	unsigned *done = hash ? &p->hashed : &p->written;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		int i = *next, rc = 0;
		unsigned bit = 1u << i;
		if (p->chain_rc || !(p->queued & bit) || (*done & bit))
			break;
		size_t len = p->qlen[i];
		pthread_mutex_unlock(&p->mu);
		if (hash) {
			cn_digest_update(&p->dig, p->buf[i], len);
		} else {
			if (p->cks_init)
				cn_digest_update(&p->cks, p->buf[i], len);
			rc = p->sealing ? s3_sse_writer_append(&p->sw, p->buf[i], len)
					: blob_writer_append(p->w, p->buf[i], len);
		}
		pthread_mutex_lock(&p->mu);
		if (rc) {
			p->chain_rc = rc;
			break;
		}
		*done |= bit;
		*next ^= 1;
		chain_done_with(p, i);
	}
	if (hash)
		p->h_run = 0;
	else
		p->w_run = 0;
	pthread_mutex_unlock(&p->mu);
}

static void w_hash(struct s3_req *r, void *arg)
{
	(void)r;
	chain_run(arg, 1);
}

static void w_write(struct s3_req *r, void *arg)
{
	(void)r;
	chain_run(arg, 0);
}

/* A short buffer with nothing else queued (a small blob's only one): both
 * chains on one thread, which costs less than a second hand-off. */
static void w_both(struct s3_req *r, void *arg)
{
	(void)r;
	chain_run(arg, 1);
	chain_run(arg, 0);
}

static void chain_after(struct s3_req *r, int status, void *arg)
{
	struct up *p = arg;
	(void)r;

	p->work--;
	if (status && !p->failed)
		p->failed = CN_EINTERNAL;
	pthread_mutex_lock(&p->mu);
	if (p->chain_rc && !p->failed)
		p->failed = p->chain_rc;
	pthread_mutex_unlock(&p->mu);
	advance(p);
}

static void note_cb(uv_async_t *a)
{
	advance(a->data);
}

/* Below this a buffer queued alone is hashed and written by one work item
 * (w_both). */
#define UPLOAD_SPLIT_MIN (256u << 10)

static int start_chain(struct up *p, s3_work_fn fn)
{
	if (s3_work(p->r, fn, chain_after, p))
		return CN_ENOMEM;
	p->work++;
	return 0;
}

/* Hands buf[i] (fill[i] bytes) to the chains, starting those not running. */
static int queue_buf(struct up *p, int i)
{
	int start_h, start_w, solo;

	pthread_mutex_lock(&p->mu);
	p->qlen[i] = p->fill[i];
	solo = p->fill[i] < UPLOAD_SPLIT_MIN && !p->queued && !p->h_run && !p->w_run;
	p->queued |= 1u << i;
	start_h = !p->h_run;
	start_w = !p->w_run && !solo;
	p->h_run = p->w_run = 1;
	pthread_mutex_unlock(&p->mu);
	p->fill[i] = 0;
	if (start_h && start_chain(p, solo ? w_both : w_hash) == 0)
		start_h = 0;
	if (!start_h && start_w && start_chain(p, w_write) == 0)
		start_w = 0;
	if (!start_h && !start_w)
		return 0;
	/* not started: a running chain stops at its next buffer */
	pthread_mutex_lock(&p->mu);
	p->chain_rc = CN_ENOMEM;
	if (start_h)
		p->h_run = 0;
	if (start_w || (start_h && solo))
		p->w_run = 0;
	pthread_mutex_unlock(&p->mu);
	return CN_ENOMEM;
}

/* Queues buf[cur] and moves on to the other buffer; CN_ENOMEM (and
 * p->failed) when a chain could not start. */
static int queue_cur(struct up *p)
{
	if (queue_buf(p, p->cur)) {
		p->failed = CN_ENOMEM;
		return CN_ENOMEM;
	}
	p->cur ^= 1;
	return 0;
}

static int buf_free(struct up *p, int i)
{
	int f;

	pthread_mutex_lock(&p->mu);
	f = !(p->queued & (1u << i));
	pthread_mutex_unlock(&p->mu);
	return f;
}

/* Takes up to len bytes into buf[cur], queueing it when full and moving on
 * to the other buffer; stalls (pauses the body) when that one is still in
 * the chains. Returns the bytes taken. */
static size_t take(struct up *p, const char *data, size_t len)
{
	size_t room = UPLOAD_BUF - p->fill[p->cur], n = len < room ? len : room;

	memcpy(p->buf[p->cur] + p->fill[p->cur], data, n);
	p->fill[p->cur] += n;
	if (p->fill[p->cur] == UPLOAD_BUF && p->ready && queue_cur(p))
		return n;
	if (p->fill[p->cur] == UPLOAD_BUF || !buf_free(p, p->cur)) {
		/* (full before the writer exists: queued once it does) */
		p->stalled = 1;
		if (!p->r->aborted)
			http_request_pause(p->r->http);
	}
	return n;
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
	if (p->cks_init) {
		struct cn_digest_result c, *d = &p->u->dig;
		cn_digest_final(&p->cks, &c);
		d->algs |= c.algs;
		d->crc32 = c.crc32;
		d->crc32c = c.crc32c;
		d->crc64nvme = c.crc64nvme;
	}
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
	p->work--;
	report(p, p->failed);
}

static void w_finish_after(struct s3_req *r, int status, void *arg)
{
	struct up *p = arg;
	struct s3_upload *u = p->u;
	int rc;

	p->work--;
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
		p->work++;
		if (s3_work(r, w_delete, w_deleted_after, p)) {
			p->work--;
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
	p->work--;
	report(p, p->failed);
}

/* Moves the state machine on; called after every event. */
static void advance(struct up *p)
{
	if (p->reported || p->finishing)
		return;
	if (p->failed || p->body_err) {
		if (!p->failed)
			p->failed = p->body_err;
		pthread_mutex_lock(&p->mu);
		if (!p->chain_rc)
			p->chain_rc = p->failed; /* the chains stop at their next buffer */
		pthread_mutex_unlock(&p->mu);
		if (p->work)
			return;
		/* The intent command holds p until its callback: wait for it. */
		if (p->intent.state == S3_INTENT_ADDING || p->intent.state == S3_INTENT_DROPPING)
			return;
		if (!p->body_done) {
			/* The sink stops the body with the error at its next
			 * bytes. A body paused for a full buffer would bring none
			 * and hold the request (and its temp files) until the
			 * body timeout: let it flow. */
			p->stalled = 0;
			if (!p->r->aborted && p->r->http->paused)
				http_request_resume(p->r->http);
			return;
		}
		p->finishing = 1;
		if (p->w) {
			p->work++;
			if (s3_work(p->r, w_abort, w_abort_after, p) == 0)
				return;
			p->work--;
			blob_writer_abort(p->w); /* cannot queue: do it here */
			p->w = NULL;
		}
		report(p, p->failed);
		return;
	}
	if (!p->ready)
		return;
	if (p->stalled) {
		/* a buffer came back, or the writer is ready: go on where the
		 * body stopped */
		if (p->fill[p->cur] == UPLOAD_BUF && queue_cur(p)) {
			advance(p);
			return;
		}
		if (!buf_free(p, p->cur))
			return;
		p->stalled = 0;
		while (p->spill_len > p->spill_off && !p->stalled) {
			size_t n = take(p, p->spill + p->spill_off, p->spill_len - p->spill_off);
			p->spill_off += n;
		}
		if (p->failed) {
			advance(p);
			return;
		}
		if (p->spill_off == p->spill_len)
			p->spill_off = p->spill_len = 0;
		if (p->stalled)
			return;
		if (!p->r->aborted && p->r->http->paused && !p->body_done)
			http_request_resume(p->r->http);
	}
	if (!p->body_done)
		return;
	if (p->fill[p->cur] > 0) {
		/* the last, partial buffer */
		if (!buf_free(p, p->cur))
			return;
		if (queue_cur(p)) {
			advance(p);
			return;
		}
	}
	if (p->work || !buf_free(p, 0) || !buf_free(p, 1))
		return;
	if (p->intent.state != S3_INTENT_ADDED)
		return; /* shards are renamed into place only once the intent is durable */
	p->finishing = 1;
	p->work++;
	if (s3_work(p->r, w_finish, w_finish_after, p)) {
		p->work--;
		p->finishing = 0;
		p->failed = CN_ENOMEM;
		advance(p);
	}
}

static int blob_sink(struct s3_req *r, const char *data, size_t len)
{
	struct up *p = r->op;

	if (p->failed)
		return p->failed;
	p->received += len;
	if (p->received > p->limit || r->body.received > p->limit)
		return CN_ETOOBIG;
	while (len > 0) {
		if (p->stalled) {
			/* The parser hands at most one read buffer past a pause:
			 * it waits here until a buffer is free. */
			if (len > UPLOAD_SPILL - p->spill_len)
				return CN_EINTERNAL;
			memcpy(p->spill + p->spill_len, data, len);
			p->spill_len += len;
			return 0;
		}
		size_t n = take(p, data, len);
		if (p->failed)
			return p->failed;
		data += n;
		len -= n;
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
	unsigned algs, crcs;
	int rc;

	u->size = len;
	u->part_no = part_no;
	p = cn_pool_zalloc(r->pool, sizeof(*p));
	if (!p)
		return CN_ENOMEM;
	p->u = u;
	p->r = r;
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
	algs = s3_body_digests(r);
	crcs = algs & (CN_DIG_CRC32 | CN_DIG_CRC32C | CN_DIG_CRC64NVME);
	if (crcs && crcs != algs) {
		cn_digest_release(&p->dig);
		p->dig_init = 0;
		if ((rc = cn_digest_init(&p->dig, algs & ~crcs)) != 0)
			goto fail;
		p->dig_init = 1;
		if ((rc = cn_digest_init(&p->cks, crcs)) != 0)
			goto fail;
		p->cks_init = 1;
	}
	p->buf[0] = s3_bigbuf_get(r);
	p->buf[1] = s3_bigbuf_get(r);
	p->spill = cn_pool_alloc(r->pool, UPLOAD_SPILL);
	if (!p->buf[0] || !p->buf[1] || !p->spill)
		goto nomem;
	if (pthread_mutex_init(&p->mu, NULL) != 0)
		goto nomem;
	if (uv_async_init(r->wk->loop, &p->note, note_cb) != 0) {
		pthread_mutex_destroy(&p->mu);
		goto nomem;
	}
	p->note.data = p;
	p->note_open = 1;
	s3_hold(r); /* until the note is closed */
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
	if (p->dig_init)
		cn_digest_release(&p->dig);
	if (p->cks_init)
		cn_digest_release(&p->cks);
	note_close(p);
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
