/*
 * data/sink.c — writing one shard file: the receiving side of a remote
 * shard write (data.h) and, as a shard output (data_int.h), this node's own
 * writers' local shards; a shard output on another node's drive is a
 * stream (s->remote) behind the same calls.
 *
 * The records arrive in block order, each a piece checksum then the piece;
 * every one is checked before it touches the disk, so a damaged stream
 * fails at the first bad piece. The header comes last because it holds the
 * blob's final size; only then can the sink tell whether it got every
 * block with the right lengths. Same durability as a local writer: the
 * header is written, the file fsynced, renamed from tmp/ to its place under
 * blobs/ and the directory fsynced, all before seal returns 0.
 */
#include "data/data_int.h"

#include "core/err.h"
#include "core/thread.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* A big shard is flushed in steps of this many bytes while the rest
 * arrives (see sink_put). */
#define SINK_FLUSH_STEP (8u << 20)

struct shard_sink {
	struct data_store *s;
	struct blob_layout l; /* size unknown until the header */
	int shard, drive, fd;
	char tmp[DATA_PATH_MAX];
	uint32_t hdr_len, ck, full; /* full: piece length of a full block */
	uint64_t nrec;		    /* records received */
	uint32_t last;		    /* piece length of the last record */
	uint64_t flush_off;	    /* the last background flush began at this size */
	pthread_t flush_th;
	int flushing; /* flush_th was started and is not joined yet */
	int flush_rc; /* its fsync's result, read after the join */
	int sealed;
	int trusted;		   /* this node's own writer: pieces are not re-checked */
	char final[DATA_PATH_MAX]; /* where seal put it */
};

size_t data_shard_record_max(const struct blob_layout *l)
{
	return layout_ck_len(l) + (l->block_size + l->k - 1) / l->k;
}

int data_shard_sink_open(struct data_store *s, const uint8_t drive_id[DATA_ID_LEN],
			 const struct blob_layout *l, int shard, uint32_t hdr_len,
			 struct shard_sink **out)
{
	struct shard_sink *k;
	int d = store_drive_index(s, drive_id), rc;

	*out = NULL;
	if (d < 0 || store_drive_check(s, d) != 0)
		return CN_EDRIVE;
	if (l->k < 1 || l->k + l->m > DATA_MAX_SHARDS || shard < 0 || shard >= l->k + l->m ||
	    l->block_size < 64 || l->block_size > DATA_BLOCK_MAX || /* layout.c's bounds */
	    (l->cksum != DATA_CK_CRC32C && l->cksum != DATA_CK_XXH3) || hdr_len < SHARD_HDR_FIXED ||
	    hdr_len > SHARD_HDR_MAX)
		return CN_EINVAL;
	if ((rc = data_store_check_space(s, d, 0)) != 0)
		return rc;
	k = calloc(1, sizeof(*k));
	if (!k)
		return CN_ENOMEM;
	k->fd = -1;
	k->s = s;
	k->l = *l;
	k->shard = shard;
	k->drive = d;
	k->hdr_len = hdr_len;
	k->ck = layout_ck_len(l);
	k->full = (l->block_size + l->k - 1) / l->k;
	if ((rc = store_tmp_path(s, d, l->id, shard, k->tmp, sizeof(k->tmp))) != 0)
		goto fail;
	k->fd = s->io->open(s->io->ctx, k->tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (k->fd < 0) {
		rc = store_fault(s, d, dio_err(k->fd));
		k->tmp[0] = 0;
		goto fail;
	}
	*out = k;
	return 0;
fail:
	data_shard_sink_free(k);
	return rc;
}

static void *flush_main(void *arg)
{
	struct shard_sink *k = arg;

	k->flush_rc = k->s->io->fsync(k->s->io->ctx, k->fd);
	return NULL;
}

/* Waits for the background flush, if one runs; its result. A failed flush
 * fails the shard: the kernel reports a writeback error to one fsync of
 * the open file only, so the seal's own fsync could then return 0. */
static int flush_join(struct shard_sink *k)
{
	if (!k->flushing)
		return 0;
	pthread_join(k->flush_th, NULL);
	k->flushing = 0;
	return k->flush_rc;
}

/* The next record: checksum ck (k->ck bytes), then the piece. */
static int sink_put(struct shard_sink *k, const uint8_t *ck, const uint8_t *piece, size_t p)
{
	off_t off;
	int rc;

	if (k->sealed || p == 0 || p > k->full)
		return CN_ECORRUPT;
	if (k->nrec && k->last != k->full)
		return CN_ECORRUPT; /* only the last block may be short */
	if (!k->trusted &&
	    piece_cksum(k->l.cksum, k->nrec, k->shard, piece, p) != piece_cksum_get(k->l.cksum, ck))
		return CN_ECORRUPT;
	off = (off_t)layout_piece_off(&k->l, k->nrec, k->hdr_len);
	/* A big shard is flushed while the rest arrives, on a thread of its
	 * own, one flush at a time. The seal's fsync then waits for the last
	 * step only: on this kind of disk a flush's cost grows with the bytes
	 * written since the one before (a 64 MiB file's fsync took ~45 ms at
	 * the end, ~6 ms after steps of 8 MiB). A flush starts only when a
	 * record follows the step, so a shard of exactly one step (an 8 MiB
	 * part) is synced once, by the seal. The number of flushes depends on
	 * the records alone, so a test that fails the nth fsync hits the same
	 * call every run. Without a thread the seal's fsync does it all. */
	if (k->s->opt.fsync == DATA_FSYNC_ALWAYS &&
	    (uint64_t)off - k->flush_off >= SINK_FLUSH_STEP) {
		if ((rc = flush_join(k)) != 0)
			return store_fault(k->s, k->drive, dio_err(rc));
		k->flush_off = (uint64_t)off;
		if (cn_thread_create(&k->flush_th, "flush", flush_main, k) == 0)
			k->flushing = 1;
	}
	rc = dio_write_all(k->s->io, k->fd, ck, k->ck, off);
	if (rc == 0)
		rc = dio_write_all(k->s->io, k->fd, piece, p, off + (off_t)k->ck);
	if (rc)
		return store_fault(k->s, k->drive, dio_err(rc));
	k->nrec++;
	k->last = (uint32_t)p;
	return 0;
}

int data_shard_sink_put(struct shard_sink *k, const void *rec, size_t len)
{
	const uint8_t *r = rec;

	if (len <= k->ck)
		return CN_ECORRUPT;
	return sink_put(k, r, r + k->ck, len - k->ck);
}

int data_shard_sink_seal(struct shard_sink *k, const void *hdr, size_t len)
{
	struct data_store *s = k->s;
	const struct data_io *io = s->io;
	struct shard_header h;
	char path[DATA_PATH_MAX];
	int sync = s->opt.fsync == DATA_FSYNC_ALWAYS, rc;

	if (k->sealed || len != k->hdr_len || shard_header_decode(hdr, len, &h) != 0 ||
	    h.hdr_len != len)
		return CN_ECORRUPT;
	if ((rc = flush_join(k)) != 0)
		return store_fault(s, k->drive, dio_err(rc));
	k->l.size = h.size;
	if (!shard_header_matches(&h, &k->l, k->shard) || layout_nblocks(&k->l) != k->nrec ||
	    (k->nrec && layout_piece_len(&k->l, k->nrec - 1) != k->last))
		return CN_ECORRUPT;
	if ((rc = dio_write_all(io, k->fd, hdr, len, 0)) != 0 ||
	    (sync && (rc = io->fsync(io->ctx, k->fd)) != 0))
		return store_fault(s, k->drive, dio_err(rc));
	rc = io->close(io->ctx, k->fd);
	k->fd = -1;
	if (rc)
		return store_fault(s, k->drive, dio_err(rc));
	if ((rc = store_shard_path(s, k->drive, k->l.id, k->shard, path, sizeof(path))) != 0 ||
	    (rc = dio_mkdirs(io, s->drives[k->drive].path, path, sync)) != 0 ||
	    (rc = io->rename(io->ctx, k->tmp, path)) != 0)
		return store_fault(s, k->drive, dio_err(rc));
	k->tmp[0] = 0;
	k->sealed = 1;
	memcpy(k->final, path, sizeof(k->final));
	if (sync) {
		*strrchr(path, '/') = '\0';
		if ((rc = dio_fsync_dir(io, path)) != 0)
			return store_fault(s, k->drive, dio_err(rc));
	}
	return 0;
}

/* ---- this node's own shards (data_int.h, "shard outputs") ---- */

struct shard_out {
	struct data_store *s;
	struct shard_sink *sink; /* a drive of this store */
	void *rh;		 /* another node's drive: a stream */
	uint32_t ck;		 /* checksum length */
};

int shard_out_open(struct data_store *s, const uint8_t drive[DATA_ID_LEN],
		   const struct blob_layout *l, int shard, uint32_t hdr_len, struct shard_out **out)
{
	struct shard_out *o = calloc(1, sizeof(*o));
	int rc;

	*out = NULL;
	if (!o)
		return CN_ENOMEM;
	o->s = s;
	o->ck = layout_ck_len(l);
	if (data_store_has_drive(s, drive)) {
		rc = data_shard_sink_open(s, drive, l, shard, hdr_len, &o->sink);
		if (rc == 0)
			o->sink->trusted = 1; /* we computed the checksums */
	} else if (s->remote.wopen) {
		rc = s->remote.wopen(s->remote.ctx, drive, l, shard, hdr_len, &o->rh);
	} else {
		rc = CN_EDRIVE;
	}
	if (rc) {
		free(o);
		return rc;
	}
	*out = o;
	return 0;
}

int shard_out_local(const struct shard_out *o)
{
	return o->sink != NULL;
}

int shard_out_put(struct shard_out *o, const uint8_t *ck, const uint8_t *piece, uint32_t len)
{
	if (o->sink)
		return sink_put(o->sink, ck, piece, len);
	return o->s->remote.wput(o->rh, ck, o->ck, piece, len);
}

int shard_out_seal(struct shard_out *o, const uint8_t *hdr, size_t len)
{
	return o->sink ? data_shard_sink_seal(o->sink, hdr, len)
		       : o->s->remote.wseal(o->rh, hdr, len);
}

int shard_out_wait(struct shard_out *o)
{
	return o->sink ? 0 : o->s->remote.wwait(o->rh);
}

int shard_out_fd(const struct shard_out *o)
{
	return o->sink || !o->s->remote.wfd ? -1 : o->s->remote.wfd(o->rh);
}

void shard_out_free(struct shard_out *o, int discard)
{
	if (!o)
		return;
	if (o->sink && o->sink->sealed && discard)
		o->s->io->unlink(o->s->io->ctx, o->sink->final);
	data_shard_sink_free(o->sink);
	if (o->rh)
		o->s->remote.wfree(o->rh);
	free(o);
}

void data_shard_sink_free(struct shard_sink *k)
{
	if (!k)
		return;
	const struct data_io *io = k->s->io;
	(void)flush_join(k); /* it uses fd */
	if (k->fd >= 0)
		io->close(io->ctx, k->fd);
	if (k->tmp[0])
		io->unlink(io->ctx, k->tmp);
	free(k);
}
