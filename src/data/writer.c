/*
 * data/writer.c — the streaming blob writer.
 *
 *   blob_writer_new ──> OPEN ──append──> OPEN ──finish──> (shards renamed, freed)
 *                        │                 │
 *                        └──abort──────────┴──error──> FAILED ──abort/finish──> freed
 *
 * new() picks the layout and drives and opens one shard output per shard
 * (data_int.h: a temporary file in <drive>/tmp/ on this node's drives, a
 * stream to the node that has the drive otherwise). append() fills a block
 * buffer; each full block is split into k pieces, m parity pieces are
 * computed, and every piece goes with its checksum to its shard (sequential
 * pwrite per drive: page-cache writes are cheap, the expensive part is the
 * fsync at the end). finish() writes the last partial block and seals every
 * shard with its header (which holds the final size): remote ones first, so
 * their nodes fsync while this one does, local ones in parallel (fsync,
 * rename to blobs/ab/cd/<id>.<i>, directory fsync), then waits for the
 * remote acknowledgements. On a single node any failure removes every
 * temporary and already-renamed file: a failed write leaves nothing
 * visible. Memory: one block plus its parity.
 *
 * Cluster mode (a placer is installed): the placement names k+m drives on
 * distinct nodes; a slow node slows the writer (backpressure) and nothing
 * is buffered beyond one block. A shard whose node cannot be
 * reached or fails mid-way is dropped and reported in layout.missing; the
 * write succeeds while data_write_quorum() shards are durable. Remote
 * shards are renamed into place by their node when sealed; a write that
 * fails after that leaves them to GC through the blob's intent, which
 * names every drive of the placement.
 */
#include "data/data_int.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/thread.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

struct blob_writer {
	struct data_store *s;
	struct blob_layout l; /* l.size counts bytes appended */
	struct data_ec ec;
	int n;			    /* k + m */
	int drive[DATA_MAX_SHARDS]; /* store index; -1: remote */
	struct shard_out *out[DATA_MAX_SHARDS];
	int placed;	  /* drives chosen by the cluster placer */
	uint16_t missing; /* shards dropped (placed blobs only) */
	int nospace;	  /* a dropped shard's drive was full */
	struct shard_header hdr;
	uint32_t ck;	/* checksum length */
	uint32_t piece; /* piece length of a full block */
	uint8_t *blk;	/* k * piece bytes: the block being filled */
	uint32_t pos;	/* bytes in blk */
	uint8_t *par;	/* m records of ck + piece bytes */
	uint64_t nblk;	/* blocks written */
	int err;	/* first append error: the writer is FAILED */
};

int data_write_quorum(int k, int m)
{
	return k + (m >= 2 ? 1 : 0);
}

static int live_shards(const struct blob_writer *w)
{
	int n = 0;
	for (int i = 0; i < w->n; i++)
		n += !(w->missing & (1u << i));
	return n;
}

/* Drops shard i of a placed blob (its node or drive failed); fails the
 * write once fewer than the quorum are left. */
static int drop_shard(struct blob_writer *w, int i, int err)
{
	if (!w->placed)
		return err;
	if (!(w->missing & (1u << i)))
		log_warn("data: shard %d of a blob dropped: %s", i, cn_strerror(err));
	w->missing |= (uint16_t)(1u << i);
	w->nospace |= err == CN_ENOSPACE;
	shard_out_free(w->out[i], 1);
	w->out[i] = NULL;
	if (live_shards(w) >= data_write_quorum(w->l.k, w->l.m))
		return 0;
	/* a full drive among the causes is what the client must hear (507, not
	 * retried): retrying brings no room */
	return w->nospace ? CN_ENOSPACE : err;
}

/* The cluster placer's drives; 1 if it has none for us (use our own). */
static int place_drives(struct blob_writer *w)
{
	struct data_store *s = w->s;
	uint8_t k, m;

	if (!s->placer.place || s->placer.place(s->placer.ctx, w->l.id, &k, &m, w->l.drive) != 0)
		return 1;
	w->l.k = k;
	w->l.m = m;
	w->n = k + m;
	w->placed = 1;
	for (int i = 0; i < w->n; i++) {
		int d = store_drive_index(s, w->l.drive[i]);
		w->drive[i] = d;
		if (d < 0 && !s->remote.wopen)
			w->missing |= (uint16_t)(1u << i);
		else if (d >= 0 && store_drive_check(s, d) != 0)
			w->missing |= (uint16_t)(1u << i);
	}
	if (live_shards(w) < data_write_quorum(k, m)) {
		log_warn("data: %d of a %d+%d blob's drives usable, the write quorum is %d",
			 live_shards(w), k, m, data_write_quorum(k, m));
		return CN_EDRIVE;
	}
	return 0;
}

static int pick_drives(struct blob_writer *w, const struct data_options *o)
{
	struct data_store *s = w->s;
	int online[256], no = 0;
	int rc = place_drives(w);

	if (rc <= 0)
		return rc;

	for (int i = 0; i < s->n && no < 256; i++)
		if (store_drive_check(s, i) == 0)
			online[no++] = i;
	if (o->k) {
		w->l.k = o->k;
		w->l.m = o->m;
	} else {
		data_layout_default(no, &w->l.k, &w->l.m);
	}
	w->n = w->l.k + w->l.m;
	if (no < w->n) {
		log_warn("data: %d drive(s) online, a %d+%d blob needs %d", no, w->l.k, w->l.m,
			 w->n);
		return CN_EDRIVE;
	}
	/* Spread blobs over drives: start at a position taken from the id. */
	int start = (int)(XXH3_64bits(w->l.id, DATA_ID_LEN) % (uint64_t)no);
	for (int i = 0; i < w->n; i++) {
		w->drive[i] = online[(start + i) % no];
		memcpy(w->l.drive[i], s->drives[w->drive[i]].id, DATA_ID_LEN);
	}
	return 0;
}

/* n == SIZE_MAX: src is NUL-terminated (keys may hold NULs: pass n). */
static int set_str(char *dst, uint16_t *dlen, const char *src, size_t n, size_t max)
{
	if (n == SIZE_MAX)
		n = src ? strlen(src) : 0;
	if (n > max)
		return CN_EINVAL;
	if (n)
		memcpy(dst, src, n);
	dst[n] = 0;
	*dlen = (uint16_t)n;
	return 0;
}

int blob_writer_new(struct data_store *s, const struct blob_info *info, struct blob_writer **out)
{
	const struct data_options *o = &s->opt;
	struct blob_writer *w;
	uint8_t hbuf[SHARD_HDR_MAX];
	int rc;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return CN_ENOMEM;
	w->s = s;
	memcpy(w->l.id, info->id, DATA_ID_LEN);
	w->l.cksum = (uint8_t)o->cksum;
	w->l.block_size = o->block_size;
	if ((rc = set_str(w->hdr.bucket, &w->hdr.bucket_len, info->bucket, SIZE_MAX,
			  DATA_BUCKET_MAX)) ||
	    (rc = set_str(w->hdr.key, &w->hdr.key_len, info->key,
			  info->key_len ? info->key_len : SIZE_MAX, DATA_KEY_MAX)) ||
	    (rc = set_str(w->hdr.version, &w->hdr.version_len, info->version_id, SIZE_MAX,
			  DATA_VERSION_MAX)))
		goto fail;
	if ((rc = pick_drives(w, o)) != 0)
		goto fail;
	if ((rc = data_ec_init(&w->ec, w->l.k, w->l.m)) != 0)
		goto fail;
	memcpy(w->hdr.blob_id, info->id, DATA_ID_LEN);
	w->hdr.k = w->l.k;
	w->hdr.m = w->l.m;
	w->hdr.cksum = w->l.cksum;
	w->hdr.block_size = w->l.block_size;
	w->hdr.part_number = info->part_number;
	if ((rc = shard_header_encode(&w->hdr, hbuf, sizeof(hbuf))) < 0)
		goto fail;
	rc = 0;
	w->ck = layout_ck_len(&w->l);
	w->piece = (w->l.block_size + w->l.k - 1) / w->l.k;
	w->blk = calloc(w->l.k, w->piece);
	w->par = w->l.m ? malloc((size_t)w->l.m * (w->ck + w->piece)) : NULL;
	if (!w->blk || (w->l.m && !w->par)) {
		rc = CN_ENOMEM;
		goto fail;
	}
	/* Free space for the expected size (its pieces plus the header). */
	uint64_t nb = (info->size_hint + w->l.block_size - 1) / w->l.block_size;
	uint64_t need = w->hdr.hdr_len + nb * (w->ck + w->piece);
	for (int i = 0; i < w->n; i++)
		if (w->drive[i] >= 0 && !(w->missing & (1u << i)) &&
		    (rc = data_store_check_space(s, w->drive[i], need)) != 0 &&
		    (rc = drop_shard(w, i, rc)) != 0)
			goto fail;
	for (int i = 0; i < w->n; i++) {
		if (w->missing & (1u << i))
			continue;
		rc = shard_out_open(s, w->l.drive[i], &w->l, i, w->hdr.hdr_len, &w->out[i]);
		if (rc && (rc = drop_shard(w, i, rc)) != 0)
			goto fail;
	}
	*out = w;
	return 0;
fail:
	blob_writer_abort(w);
	return rc;
}

/* Encodes and writes the block in blk[0..pos) as block number nblk. */
static int flush_block(struct blob_writer *w)
{
	uint32_t k = w->l.k, m = w->l.m;
	uint32_t p = (w->pos + k - 1) / k; /* piece length of this block */
	uint8_t *data[DATA_MAX_SHARDS], *par[DATA_MAX_SHARDS];
	int rc;

	memset(w->blk + w->pos, 0, (size_t)k * p - w->pos); /* pad the last piece */
	for (uint32_t i = 0; i < k; i++)
		data[i] = w->blk + (size_t)i * p;
	for (uint32_t j = 0; j < m; j++)
		par[j] = w->par + (size_t)j * (w->ck + w->piece) + w->ck;
	data_ec_encode(&w->ec, p, data, par);
	for (int i = 0; i < w->n; i++) {
		/* Data pieces go out from the block buffer as they are, the
		 * checksum beside them: copying a whole piece behind its checksum
		 * was a sixth of a blob write's CPU. */
		uint8_t ckb[8];
		const uint8_t *pc = i < (int)k ? data[i] : par[i - k];
		if (!w->out[i])
			continue; /* dropped */
		piece_cksum_put(w->l.cksum, piece_cksum(w->l.cksum, w->nblk, i, pc, p), ckb);
		rc = shard_out_put(w->out[i], ckb, pc, p);
		if (rc && (rc = drop_shard(w, i, rc)) != 0)
			return rc;
	}
	w->nblk++;
	w->pos = 0;
	return 0;
}

int blob_writer_append(struct blob_writer *w, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	int rc;

	if (w->err)
		return w->err;
	if (w->l.size + len >= (1ULL << 50)) {
		return w->err = CN_ETOOBIG;
	}
	while (len > 0) {
		size_t n = w->l.block_size - w->pos;
		if (n > len)
			n = len;
		memcpy(w->blk + w->pos, p, n);
		w->pos += (uint32_t)n;
		w->l.size += n;
		p += n;
		len -= n;
		if (w->pos == w->l.block_size && (rc = flush_block(w)) != 0) {
			return w->err = rc;
		}
	}
	return 0;
}

/* One local shard's final step: header, fsync, rename, directory fsync. */
struct seal_job {
	struct shard_out *o;
	int rc;
	uint8_t hdr[SHARD_HDR_MAX];
	size_t len;
	pthread_t th;
	int started;
};

static void *seal_one(void *arg)
{
	struct seal_job *j = arg;

	j->rc = shard_out_seal(j->o, j->hdr, j->len);
	return NULL;
}

/* How long the last remote shards may take once the quorum is durable:
 * twice what the quorum took, at least ACK_GRACE_MIN_NS; and how long a
 * write waits for its quorum at all. */
#define ACK_GRACE_MIN_NS (2000 * INT64_C(1000000))
#define ACK_QUORUM_MAX_NS (120 * INT64_C(1000000000))

/* One remote shard's answer is in (or will not come): take it. */
static int take_answer(struct blob_writer *w, int *pend, int *np, int p)
{
	int i = pend[p], r = shard_out_wait(w->out[i]);

	pend[p] = pend[--*np];
	return r ? drop_shard(w, i, r) : 0;
}

/* Waits for the remote shards' acknowledgements, all nodes at once. Once
 * data_write_quorum() shards are durable the others get a grace, then are
 * dropped as missing (healed later, like a node that could not be reached
 * at open): a node that stops answering (SIGSTOP, a hung disk) must not
 * hold every write in flight for the socket's ack timeout, which outlasts
 * the client's own (60 s in the SDKs): its retry, and the writes after,
 * would then race a commit that comes minutes late. */
static int wait_remote(struct blob_writer *w, int64_t t0)
{
	int pend[DATA_MAX_SHARDS], np = 0, rc = 0;
	int q = data_write_quorum(w->l.k, w->l.m);
	int64_t quorum_at = 0;

	for (int i = 0; i < w->n; i++)
		if (w->out[i] && !shard_out_local(w->out[i]))
			pend[np++] = i;
	while (np > 0 && !rc) {
		struct pollfd pf[DATA_MAX_SHARDS];
		int64_t now = cn_mono_ns(), until;
		int n, nofd = -1;

		if (live_shards(w) - np >= q) {
			int64_t grace;
			if (!quorum_at)
				quorum_at = now;
			grace = 2 * (quorum_at - t0);
			if (grace < ACK_GRACE_MIN_NS)
				grace = ACK_GRACE_MIN_NS;
			until = quorum_at + grace;
		} else {
			until = t0 + ACK_QUORUM_MAX_NS;
		}
		if (now >= until) {
			while (np > 0 && !rc) {
				int i = pend[--np];
				log_warn("data: no answer from the node of shard %d in %lld ms", i,
					 (long long)((now - t0) / 1000000));
				rc = drop_shard(w, i, CN_ETIMEOUT);
			}
			break;
		}
		for (int p = 0; p < np; p++) {
			pf[p].fd = shard_out_fd(w->out[pend[p]]);
			pf[p].events = POLLIN;
			pf[p].revents = 0;
			if (pf[p].fd < 0)
				nofd = p;
		}
		if (nofd >= 0) { /* answers without a descriptor: in turn */
			rc = take_answer(w, pend, &np, nofd);
			continue;
		}
		n = poll(pf, (nfds_t)np, (int)((until - now + 999999) / 1000000));
		if (n < 0 && errno != EINTR)
			return CN_EIO;
		for (int p = np - 1; n > 0 && p >= 0 && !rc; p--)
			if (pf[p].revents)
				rc = take_answer(w, pend, &np, p);
	}
	return rc;
}

/* Seals every shard: the remote ones first (their nodes fsync while this
 * one does), the local ones in parallel (one thread each but the last: the
 * drives work at once, so the latency is one fsync, not k + m), then waits
 * for the remote acknowledgements. A shard that fails is dropped (cluster)
 * or fails the write. */
static int seal_shards(struct blob_writer *w)
{
	struct seal_job *jobs = calloc((size_t)w->n, sizeof(*jobs));
	int64_t t0 = cn_mono_ns();
	int rc = 0, last = -1;

	if (!jobs)
		return CN_ENOMEM;
	for (int i = 0; i < w->n; i++) {
		struct seal_job *j = &jobs[i];
		int n;
		w->hdr.shard = (uint8_t)i;
		if ((n = shard_header_encode(&w->hdr, j->hdr, sizeof(j->hdr))) < 0) {
			rc = n;
			goto out;
		}
		j->len = (size_t)n;
		j->o = w->out[i];
		if (j->o && !shard_out_local(j->o)) {
			int r = shard_out_seal(j->o, j->hdr, j->len);
			if (r && (rc = drop_shard(w, i, r)) != 0)
				goto out;
		} else if (j->o) {
			last = i;
		}
	}
	for (int i = 0; i < w->n; i++) {
		struct seal_job *j = &jobs[i];
		if (!w->out[i] || !shard_out_local(w->out[i]))
			continue;
		if (i != last && w->s->opt.fsync == DATA_FSYNC_ALWAYS &&
		    cn_thread_create(&j->th, "seal", seal_one, j) == 0)
			j->started = 1;
		else
			seal_one(j);
	}
	for (int i = 0; i < w->n; i++) {
		struct seal_job *j = &jobs[i];
		int r;
		if (!w->out[i] || !shard_out_local(w->out[i]))
			continue;
		if (j->started)
			pthread_join(j->th, NULL);
		if ((r = j->rc) != 0 && (r = drop_shard(w, i, r)) != 0 && rc == 0)
			rc = r;
	}
	if (!rc)
		rc = wait_remote(w, t0);
out:
	free(jobs);
	return rc;
}

int blob_writer_finish(struct blob_writer *w, struct blob_layout *out)
{
	int rc = 0;

	if (w->err) {
		rc = w->err;
		goto fail;
	}
	if (w->pos > 0 && (rc = flush_block(w)) != 0)
		goto fail;
	w->hdr.size = w->l.size;
	if ((rc = seal_shards(w)) != 0)
		goto fail;
	w->l.missing = w->missing;
	*out = w->l;
	for (int i = 0; i < w->n; i++) {
		shard_out_free(w->out[i], 0); /* in place: keep */
		w->out[i] = NULL;
	}
	blob_writer_abort(w); /* nothing left to remove: frees */
	return 0;
fail:
	blob_writer_abort(w);
	return rc;
}

void blob_writer_abort(struct blob_writer *w)
{
	if (!w)
		return;
	/* temporary files go, and so do local shards already in place (a
	 * failed write leaves nothing); remote ones are GC's (the intent) */
	for (int i = 0; i < DATA_MAX_SHARDS; i++)
		shard_out_free(w->out[i], 1);
	data_ec_release(&w->ec);
	free(w->blk);
	free(w->par);
	free(w);
}

void blob_writer_layout(const struct blob_writer *w, struct blob_layout *out)
{
	*out = w->l;
}
