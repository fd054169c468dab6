/*
 * data/fetch.c — reading pieces of shards on other nodes in parallel, with
 * hedging (data_int.h, "remote fetches").
 *
 * A reader that needs k pieces of a block from other nodes hands them to
 * the store's fetch threads at once (and this node's parity pieces, as
 * candidates after the remote data pieces), so a block costs one round trip, not
 * k. If they are not all back within FETCH_HEDGE_MS it asks one more shard
 * (parity) per interval, and takes the first k good pieces: a slow or
 * stopped node delays a read by the hedge interval, not by its timeout.
 * A reader that needs just one piece asks for it on its own thread
 * (fetch_inline_*: no hand-off), and comes here only if that one fails or
 * has not begun to answer within the same interval.
 *
 * A fetch that is still running when the reader has what it needs is
 * abandoned, not cancelled: the batch holds everything a fetch touches
 * (layout copy, its own record buffer), is reference-counted, and is freed
 * by whoever lets go of it last. Fetches never touch the reader.
 *
 * Threads: FETCH_THREADS workers per store, started with the remote and
 * stopped by data_store_remote_stop.
 */
#include "data/data_int.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/thread.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FETCH_THREADS 8
#define FETCH_HEDGE_MS 300

struct fetch_job {
	struct fetch_batch *bt;
	int shard;
	uint32_t hdr_len; /* in: known header length, 0: read the header first */
	int rc;		  /* out */
	int done;
	uint8_t *mem; /* fetch_rec_cap bytes */
	uint8_t *rec; /* the record in mem: ck + piece */
	struct fetch_job *next;
};

struct fetch_batch {
	struct data_store *s;
	struct blob_layout l;
	uint64_t b;
	int refs; /* the reader + every queued or running job */
	unsigned done;
	int order[DATA_MAX_SHARDS], n_order, next;
	size_t rec_cap;
	int64_t hedge_at;
	/* a job of this batch finished: its reader's alone, so a finish wakes
	 * one thread, not every reader waiting on any batch */
	pthread_cond_t fin;
	struct fetch_job job[DATA_MAX_SHARDS];
};

struct data_fetch {
	pthread_mutex_t mu;
	pthread_cond_t work; /* a job was queued, or stop */
	struct fetch_job *head, *tail;
	int stop;
	int n_threads;
	pthread_t th[FETCH_THREADS];
};

void *rec_buf_get(struct data_store *s, size_t len)
{
	void *p = NULL;

	pthread_mutex_lock(&s->rec_lock);
	for (int i = s->n_rec_free - 1; i >= 0; i--)
		if (s->rec_len[i] == len) {
			p = s->rec_free[i];
			s->n_rec_free--;
			s->rec_free[i] = s->rec_free[s->n_rec_free];
			s->rec_len[i] = s->rec_len[s->n_rec_free];
			break;
		}
	pthread_mutex_unlock(&s->rec_lock);
	return p ? p : malloc(len);
}

void rec_buf_put(struct data_store *s, void *p, size_t len)
{
	if (!p)
		return;
	if (len <= REC_CACHE_MAX) {
		pthread_mutex_lock(&s->rec_lock);
		if (s->n_rec_free < REC_CACHE) {
			s->rec_free[s->n_rec_free] = p;
			s->rec_len[s->n_rec_free++] = len;
			p = NULL;
		}
		pthread_mutex_unlock(&s->rec_lock);
	}
	free(p);
}

void rec_bufs_release(struct data_store *s)
{
	while (s->n_rec_free > 0)
		free(s->rec_free[--s->n_rec_free]);
}

static void batch_unref(struct data_fetch *f, struct fetch_batch *bt)
{
	/* called with f->mu held */
	if (--bt->refs > 0)
		return;
	for (int i = 0; i < DATA_MAX_SHARDS; i++)
		rec_buf_put(bt->s, bt->job[i].mem, bt->rec_cap);
	pthread_cond_destroy(&bt->fin);
	free(bt);
	(void)f;
}

/* A piece of a shard on this node's drive (a parity piece the reader
 * needs because a remote one is slow or gone): the reader's own path,
 * with a file of its own. */
static int fetch_local(struct data_store *s, const struct blob_layout *l, uint64_t b,
		       struct fetch_job *j)
{
	struct shard_src src;
	int rc;

	shard_src_init(&src);
	rc = shard_src_open(s, l, j->shard, &src, NULL);
	if (rc == 0)
		rc = shard_src_read(s, l, j->shard, &src, b, j->rec);
	shard_src_close(s, &src);
	return rc;
}

/* What a read of shard's piece of block b from another node asks for: the
 * header with it while the header's length is unknown and b is 0 (one round
 * trip: the record follows a header of at most SHARD_HDR_MAX bytes, and a
 * fetch_rec_cap buffer has room for both), else the record alone. */
static void remote_req(const struct blob_layout *l, uint64_t b, uint32_t hdr_len, size_t *len,
		       uint64_t *off)
{
	uint32_t ck = layout_ck_len(l), p = layout_piece_len(l, b);

	*len = hdr_len ? ck + p : SHARD_HDR_MAX + ck + p;
	*off = hdr_len ? layout_piece_off(l, b, hdr_len) : 0;
}

/* Checks what such a read returned into mem (n bytes, or an error): the
 * header when it came along, the record's length and checksum. Sets
 * *hdr_len and *rec (where the record is in mem; it stays there). */
static int remote_check(const struct blob_layout *l, uint64_t b, int shard, uint8_t *mem, ssize_t n,
			uint32_t *hdr_len, uint8_t **rec)
{
	uint32_t ck = layout_ck_len(l), p = layout_piece_len(l, b);

	if (n < 0)
		return (int)n;
	if (!*hdr_len) {
		struct shard_header h;
		if (shard_header_decode(mem, (size_t)n, &h) != 0 ||
		    !shard_header_matches(&h, l, shard) || (size_t)n < h.hdr_len + ck + p)
			return CN_ECORRUPT;
		*hdr_len = h.hdr_len;
		*rec = mem + h.hdr_len;
	} else {
		if ((size_t)n != ck + p)
			return CN_ECORRUPT;
		*rec = mem;
	}
	if (piece_cksum_get(l->cksum, *rec) != piece_cksum(l->cksum, b, shard, *rec + ck, p))
		return CN_ECORRUPT;
	return 0;
}

/* Reads (and checks) one piece of another node's shard into j->rec. */
static int fetch_one(struct data_store *s, const struct blob_layout *l, uint64_t b,
		     struct fetch_job *j)
{
	size_t len;
	uint64_t off;
	ssize_t n;

	if (store_drive_index(s, l->drive[j->shard]) >= 0)
		return fetch_local(s, l, b, j);

	if (!j->hdr_len && b != 0) {
		uint8_t hbuf[SHARD_HDR_MAX];
		struct shard_header h;
		n = s->remote.pread(s->remote.ctx, l->drive[j->shard], l->id, j->shard, hbuf,
				    sizeof(hbuf), 0);
		if (n < 0)
			return (int)n;
		if (shard_header_decode(hbuf, (size_t)n, &h) != 0 ||
		    !shard_header_matches(&h, l, j->shard))
			return CN_ECORRUPT;
		j->hdr_len = h.hdr_len;
	}
	remote_req(l, b, j->hdr_len, &len, &off);
	n = s->remote.pread(s->remote.ctx, l->drive[j->shard], l->id, j->shard, j->mem, len, off);
	return remote_check(l, b, j->shard, j->mem, n, &j->hdr_len, &j->rec);
}

int fetch_inline_start(struct data_store *s, const struct blob_layout *l, uint64_t b, int shard,
		       uint32_t hdr_len, uint8_t *mem, void **h)
{
	size_t len;
	uint64_t off;

	*h = NULL;
	if (!s->remote.rstart || (!hdr_len && b != 0))
		return CN_EAGAIN;
	remote_req(l, b, hdr_len, &len, &off);
	return s->remote.rstart(s->remote.ctx, l->drive[shard], l->id, shard, mem, len, off,
				FETCH_HEDGE_MS, h);
}

int fetch_inline_finish(struct data_store *s, const struct blob_layout *l, uint64_t b, int shard,
			uint8_t *mem, void *h, uint32_t *hdr_len, uint8_t **rec)
{
	ssize_t n = s->remote.rfinish(h, FETCH_HEDGE_MS);

	s->remote.rfree(h);
	if (n == CN_ETIMEOUT)
		return CN_ETIMEOUT;
	return remote_check(l, b, shard, mem, n, hdr_len, rec);
}

static void *fetch_main(void *arg)
{
	struct data_store *s = arg;
	struct data_fetch *f = s->fetch;

	cn_thread_name("fetch");
	pthread_mutex_lock(&f->mu);
	for (;;) {
		while (!f->stop && !f->head)
			pthread_cond_wait(&f->work, &f->mu);
		if (!f->head)
			break; /* stop, and nothing queued */
		struct fetch_job *j = f->head;
		f->head = j->next;
		if (!f->head)
			f->tail = NULL;
		pthread_mutex_unlock(&f->mu);
		int rc = f->stop ? CN_ESHUTDOWN : fetch_one(s, &j->bt->l, j->bt->b, j);
		pthread_mutex_lock(&f->mu);
		j->rc = rc;
		j->done = 1;
		j->bt->done |= 1u << j->shard;
		pthread_cond_signal(&j->bt->fin);
		batch_unref(f, j->bt);
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

int fetch_start(struct data_store *s)
{
	struct data_fetch *f = calloc(1, sizeof(*f));

	if (!f)
		return CN_ENOMEM;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->work, NULL);
	s->fetch = f;
	for (int i = 0; i < FETCH_THREADS; i++) {
		if (pthread_create(&f->th[i], NULL, fetch_main, s) != 0)
			break;
		f->n_threads++;
	}
	return 0;
}

void data_store_remote_stop(struct data_store *s)
{
	struct data_fetch *f = s ? s->fetch : NULL;

	if (!f)
		return;
	pthread_mutex_lock(&f->mu);
	f->stop = 1;
	pthread_cond_broadcast(&f->work);
	pthread_mutex_unlock(&f->mu);
	for (int i = 0; i < f->n_threads; i++)
		pthread_join(f->th[i], NULL);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->work);
	free(f);
	s->fetch = NULL;
	memset(&s->remote, 0, sizeof(s->remote));
}

size_t fetch_rec_cap(const struct blob_layout *l)
{
	return SHARD_HDR_MAX + layout_ck_len(l) + (l->block_size + l->k - 1) / l->k;
}

/* Queues job i of bt; called with f->mu held. */
static int submit(struct data_fetch *f, struct fetch_batch *bt, int i, uint32_t hdr_len)
{
	struct fetch_job *j = &bt->job[i];

	if (!(j->mem = j->rec = rec_buf_get(bt->s, bt->rec_cap)))
		return CN_ENOMEM;
	j->bt = bt;
	j->shard = i;
	j->hdr_len = hdr_len;
	j->next = NULL;
	bt->refs++;
	if (f->tail)
		f->tail->next = j;
	else
		f->head = j;
	f->tail = j;
	pthread_cond_signal(&f->work);
	return 0;
}

int fetch_begin(struct data_store *s, const struct blob_layout *l, uint64_t b, const int *order,
		int n_order, int need, const uint32_t *hdr_len, struct fetch_batch **out)
{
	struct data_fetch *f = s->fetch;
	struct fetch_batch *bt;
	int rc = 0;

	*out = NULL;
	if (!f)
		return CN_EDRIVE;
	if (!(bt = calloc(1, sizeof(*bt))))
		return CN_ENOMEM;
	if (cn_cond_init_mono(&bt->fin) != 0) {
		free(bt);
		return CN_ENOMEM;
	}
	bt->s = s;
	bt->l = *l;
	bt->b = b;
	bt->refs = 1;
	bt->rec_cap = fetch_rec_cap(l);
	bt->n_order = n_order < DATA_MAX_SHARDS ? n_order : DATA_MAX_SHARDS;
	memcpy(bt->order, order, (size_t)bt->n_order * sizeof(int));
	pthread_mutex_lock(&f->mu);
	for (; bt->next < bt->n_order && bt->next < need; bt->next++)
		if ((rc = submit(f, bt, order[bt->next], hdr_len[order[bt->next]])) != 0)
			break;
	bt->hedge_at = cn_mono_ns() + FETCH_HEDGE_MS * 1000000LL;
	if (rc) {
		/* the queued ones run and let go of bt themselves */
		batch_unref(f, bt);
		pthread_mutex_unlock(&f->mu);
		return rc;
	}
	pthread_mutex_unlock(&f->mu);
	*out = bt;
	return 0;
}

int fetch_finish(struct fetch_batch *bt, int need, uint32_t *hdr_len, uint8_t **mem, uint8_t **rec,
		 unsigned *good, unsigned *failed, unsigned *slow)
{
	struct data_fetch *f = bt->s->fetch;
	const int *order = bt->order;
	int rc = 0;

	*good = *failed = *slow = 0;
	pthread_mutex_lock(&f->mu);
	for (;;) {
		int n_good = 0, n_done = 0;
		for (int i = 0; i < bt->next; i++) {
			struct fetch_job *j = &bt->job[order[i]];
			n_done += j->done;
			n_good += j->done && j->rc == 0;
		}
		if (n_good >= need || (n_done == bt->next && bt->next == bt->n_order))
			break;
		if (n_done == bt->next || cn_mono_ns() >= bt->hedge_at) {
			/* too few asked (a local piece failed), failed ones (ask as
			 * many more), or a slow one (hedge with one more per
			 * interval) */
			int add = n_done == bt->next ? need - n_good : 1;
			for (; add > 0 && bt->next < bt->n_order; add--, bt->next++)
				if ((rc = submit(f, bt, order[bt->next],
						 hdr_len[order[bt->next]])) != 0)
					goto out;
			bt->hedge_at = cn_mono_ns() + FETCH_HEDGE_MS * 1000000LL;
			continue;
		}
		cn_cond_wait_until(&bt->fin, &f->mu, bt->hedge_at);
	}
	for (int i = 0; i < bt->next; i++) {
		struct fetch_job *j = &bt->job[order[i]];
		int sh = j->shard;
		if (!j->done) {
			*slow |= 1u << sh;
		} else if (j->rc == 0) {
			/* swap buffers, not bytes: the batch frees the caller's old one */
			uint8_t *t = mem[sh];
			mem[sh] = j->mem;
			rec[sh] = j->rec;
			j->mem = t;
			hdr_len[sh] = j->hdr_len;
			*good |= 1u << sh;
		} else {
			*failed |= 1u << sh;
		}
	}
out:
	batch_unref(f, bt);
	pthread_mutex_unlock(&f->mu);
	return rc;
}
