/*
 * data/reader.c — range reads of a blob with on-the-fly reconstruction.
 *
 * A read loads only the blocks the range covers. For each block it reads
 * data shards first and verifies every piece; a missing file, bad header,
 * short record or checksum mismatch makes it read parity pieces until it has
 * k good ones, rebuilds the missing data pieces, and reports the blob to the
 * store's heal queue. Fewer than k good pieces is CN_EDATALOST: wrong bytes
 * are never returned. The last decoded block stays cached, so sequential
 * small reads cost one disk read per block.
 *
 * In no-wait mode (blob_reader_nowait, for a caller on an event loop) a read
 * takes only this node's data pieces and only from the kernel's caches;
 * whatever would wait or go wrong is CN_EWOULDBLOCK with nothing recorded,
 * and the caller repeats the read in normal mode on a thread.
 *
 * Thread rules: one reader per thread at a time; the store may be shared.
 */
#include "data/data_int.h"

#include "core/digest.h"
#include "core/err.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

struct blob_reader {
	struct data_store *s;
	struct blob_layout l;
	struct data_ec ec;
	int n;
	struct shard_src src[DATA_MAX_SHARDS];
	uint32_t ck, piece;
	/* shard i's own fetch_rec_cap buffer, swapped with a remote fetch's
	 * (fetch.c); its record (checksum, piece) in it; the piece */
	uint8_t *mem[DATA_MAX_SHARDS];
	uint8_t *pc_rec[DATA_MAX_SHARDS];
	uint8_t *pc[DATA_MAX_SHARDS];
	int64_t cached;	   /* block whose data pieces are valid, or -1 */
	uint32_t cached_p; /* its piece length */
	unsigned bad;	   /* shards found bad */
	unsigned slow;	   /* remote shards that did not answer in time */
	unsigned reported; /* bad shards already pushed to the heal queue */
	int nowait;	   /* blob_reader_nowait */
};

void shard_src_init(struct shard_src *src)
{
	src->drive = -1;
	src->fd = -1;
	src->remote = 0;
	src->bad = 0;
	src->hdr_len = 0;
}

int shard_src_open(struct data_store *s, const struct blob_layout *l, int i, struct shard_src *src,
		   struct shard_header *hdr)
{
	const struct data_io *io = s->io;
	char path[DATA_PATH_MAX];
	uint8_t hbuf[SHARD_HDR_MAX];
	struct shard_header tmp;
	int rc;

	if (!hdr)
		hdr = &tmp;
	src->drive = store_drive_index(s, l->drive[i]);
	if (src->drive < 0 && s->remote.pread) {
		/* another node's drive */
		ssize_t n = s->remote.pread(s->remote.ctx, l->drive[i], l->id, i, hbuf,
					    sizeof(hbuf), 0);
		if (n < 0) {
			rc = (int)n;
			goto bad;
		}
		src->remote = 1;
		rc = shard_header_decode(hbuf, (size_t)n, hdr);
		goto check;
	}
	if (!store_drive_online(s, src->drive)) {
		rc = CN_EDRIVE;
		goto bad;
	}
	if ((rc = store_shard_path(s, src->drive, l->id, i, path, sizeof(path))) != 0)
		goto bad;
	src->fd = io->open(io->ctx, path, O_RDONLY, 0);
	if (src->fd < 0) {
		rc = store_fault(s, src->drive, src->fd);
		src->fd = -1;
		goto bad;
	}
	ssize_t n = dio_read_full(io, src->fd, hbuf, sizeof(hbuf), 0);
	if (n < 0) {
		rc = store_fault(s, src->drive, (int)n);
		goto bad;
	}
	rc = shard_header_decode(hbuf, (size_t)n, hdr);
check:
	if (rc == 0 && !shard_header_matches(hdr, l, i))
		rc = CN_ECORRUPT;
	if (rc != 0) {
		rc = CN_ECORRUPT; /* includes a header cut short (CN_EAGAIN) */
		goto bad;
	}
	src->hdr_len = hdr->hdr_len;
	return 0;
bad:
	src->bad = 1;
	return rc;
}

int shard_src_read(struct data_store *s, const struct blob_layout *l, int i, struct shard_src *src,
		   uint64_t b, uint8_t *rec)
{
	uint32_t ck = layout_ck_len(l), p = layout_piece_len(l, b);
	off_t off = (off_t)layout_piece_off(l, b, src->hdr_len);

	ssize_t n = src->remote ? s->remote.pread(s->remote.ctx, l->drive[i], l->id, i, rec, ck + p,
						  (uint64_t)off)
				: dio_read_full(s->io, src->fd, rec, ck + p, off);
	if (n < 0 && src->remote) {
		src->bad = 1;
		return (int)n;
	}
	if (n < 0) {
		if (dio_is_drive_fault((int)n)) {
			store_fault(s, src->drive, (int)n);
			src->bad = 1;
		}
		return (int)n;
	}
	if ((size_t)n != ck + p)
		return CN_ECORRUPT;
	if (piece_cksum_get(l->cksum, rec) != piece_cksum(l->cksum, b, i, rec + ck, p))
		return CN_ECORRUPT;
	return 0;
}

void shard_src_close(struct data_store *s, struct shard_src *src)
{
	if (src->fd >= 0)
		s->io->close(s->io->ctx, src->fd);
	src->fd = -1;
}

int blob_reader_open(struct data_store *s, const struct blob_layout *l, struct blob_reader **out)
{
	struct blob_reader *r;
	int rc;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return CN_ENOMEM;
	r->s = s;
	r->l = *l;
	r->n = l->k + l->m;
	r->cached = -1;
	for (int i = 0; i < DATA_MAX_SHARDS; i++)
		shard_src_init(&r->src[i]);
	if ((rc = data_ec_init(&r->ec, l->k, l->m)) != 0)
		goto fail;
	r->ck = layout_ck_len(l);
	r->piece = (l->block_size + l->k - 1) / l->k;
	for (int i = 0; i < r->n; i++) {
		if (!(r->mem[i] = r->pc_rec[i] = rec_buf_get(s, fetch_rec_cap(l)))) {
			rc = CN_ENOMEM;
			goto fail;
		}
		r->pc[i] = r->pc_rec[i] + r->ck;
	}
	*out = r;
	return 0;
fail:
	blob_reader_close(r);
	return rc;
}

static int popcount(unsigned v)
{
	return __builtin_popcount(v);
}

/* ---- no-wait mode ----
 * Local shards only, opened and read from the kernel's caches, every piece
 * verified. A shard on another node, a drive offline, a file or page not
 * cached, a short read or a bad checksum all give CN_EWOULDBLOCK and record
 * nothing: the read on a thread finds the same trouble again and does what
 * it does with it (record, reconstruct, queue the heal). */

/* Is shard i on another node's drive? */
static int is_remote(struct blob_reader *r, int i)
{
	return r->s->fetch && store_drive_index(r->s, r->l.drive[i]) < 0;
}

/* Can shard i's piece be read here without waiting: known good, and on one of
 * this node's drives? */
static int piece_here(struct blob_reader *r, int i)
{
	return !r->src[i].bad && !r->src[i].remote && !is_remote(r, i);
}

static int src_open_cached(struct blob_reader *r, int i)
{
	const struct data_io *io = r->s->io;
	struct shard_src *src = &r->src[i];
	struct shard_header hdr;
	uint8_t hbuf[SHARD_HDR_MAX];
	char path[DATA_PATH_MAX];
	int drive = store_drive_index(r->s, r->l.drive[i]), fd;
	ssize_t n;

	if (!io->open_cached || drive < 0 || !store_drive_online(r->s, drive) ||
	    store_shard_path(r->s, drive, r->l.id, i, path, sizeof(path)) != 0)
		return CN_EWOULDBLOCK;
	fd = io->open_cached(io->ctx, path, O_RDONLY);
	if (fd < 0)
		return CN_EWOULDBLOCK;
	n = dio_read_cached(io, fd, hbuf, sizeof(hbuf), 0);
	if (n < 0 || shard_header_decode(hbuf, (size_t)n, &hdr) != 0 ||
	    !shard_header_matches(&hdr, &r->l, i)) {
		io->close(io->ctx, fd);
		return CN_EWOULDBLOCK;
	}
	src->drive = drive;
	src->fd = fd;
	src->hdr_len = hdr.hdr_len;
	return 0;
}

/* Shard i's piece of block b: its checksum into ckb, its bytes into out
 * (one read when out follows ckb), verified. */
static int piece_cached(struct blob_reader *r, int i, uint64_t b, uint8_t *ckb, uint8_t *out)
{
	const struct data_io *io = r->s->io;
	struct shard_src *src = &r->src[i];
	uint32_t p = layout_piece_len(&r->l, b);
	off_t off;

	if (!piece_here(r, i))
		return CN_EWOULDBLOCK;
	if (src->fd < 0 && src_open_cached(r, i) != 0)
		return CN_EWOULDBLOCK;
	off = (off_t)layout_piece_off(&r->l, b, src->hdr_len);
	if (out == ckb + r->ck) {
		if (dio_read_cached(io, src->fd, ckb, r->ck + p, off) != (ssize_t)(r->ck + p))
			return CN_EWOULDBLOCK;
	} else if (dio_read_cached(io, src->fd, ckb, r->ck, off) != (ssize_t)r->ck ||
		   dio_read_cached(io, src->fd, out, p, off + (off_t)r->ck) != (ssize_t)p) {
		return CN_EWOULDBLOCK;
	}
	if (piece_cksum_get(r->l.cksum, ckb) != piece_cksum(r->l.cksum, b, i, out, p))
		return CN_EWOULDBLOCK;
	return 0;
}

void blob_reader_nowait(struct blob_reader *r, int on)
{
	r->nowait = on;
}

/* Reads and verifies shard i's piece of block b; records a bad shard. */
static int get_piece(struct blob_reader *r, int i, uint64_t b)
{
	struct shard_src *src = &r->src[i];
	int rc;

	if (src->bad)
		return CN_EDRIVE;
	if (src->fd < 0 && !src->remote && (rc = shard_src_open(r->s, &r->l, i, src, NULL)) != 0)
		goto bad;
	if ((rc = shard_src_read(r->s, &r->l, i, src, b, r->pc[i] - r->ck)) != 0)
		goto bad;
	return 0;
bad:
	r->bad |= 1u << i;
	return rc;
}

/* The order other nodes' pieces are asked in: their data shards first,
 * then this node's own that are not in skip (parity it did not read), then
 * other nodes' parity, slow shards last; never a bad one. */
static int remote_order(struct blob_reader *r, unsigned skip, int *order)
{
	int k = r->l.k, n_order = 0;

	for (int pass = 0; pass < 4; pass++)
		for (int i = 0; i < r->n; i++) {
			int rem = is_remote(r, i), sl = !!(r->slow & (1u << i));
			int want = pass == 3   ? sl
				   : pass == 0 ? rem && i < k && !sl
				   : pass == 1 ? !rem
					       : rem && i >= k && !sl;
			if (want && !r->src[i].bad && !(skip & (1u << i)))
				order[n_order++] = i;
		}
	return n_order;
}

/* Cluster: this node's own pieces come first, parity included (decoding
 * costs less than moving a piece between nodes: a read, a send, a receive
 * and a checksum), up to k of them. The rest are asked for before those are
 * read, so both travel at once: one missing piece by this thread itself
 * (fetch_inline_*), more by the fetch threads (parallel and hedged,
 * fetch.c), which then wait for as many as are still missing. A piece the
 * thread asked for itself that fails or is slow goes to the fetch threads'
 * order like any other. */
static unsigned gather(struct blob_reader *r, uint64_t b)
{
	int k = r->l.k, order[DATA_MAX_SHARDS], n_order, local[DATA_MAX_SHARDS], n_local = 0;
	int in = -1, in_rc = 0;
	uint32_t hdr[DATA_MAX_SHARDS];
	unsigned present = 0, good, failed, slow, mine = 0;
	struct fetch_batch *bt = NULL;
	void *h = NULL;

	for (int i = 0; i < r->n && n_local < k; i++) /* data shards first */
		if (!is_remote(r, i) && !r->src[i].bad) {
			local[n_local++] = i;
			mine |= 1u << i;
		}
	n_order = remote_order(r, mine, order);
	for (int i = 0; i < r->n; i++)
		hdr[i] = r->src[i].hdr_len;
	if (n_local < k && n_order) {
		if (n_local == k - 1 && is_remote(r, order[0]) &&
		    (in_rc = fetch_inline_start(r->s, &r->l, b, order[0], hdr[order[0]],
						r->mem[order[0]], &h)) != CN_EAGAIN)
			in = order[0];
		else
			fetch_begin(r->s, &r->l, b, order, n_order, k - n_local, hdr, &bt);
	}
	for (int i = 0; i < n_local; i++) /* this node's pieces, while those travel */
		if (get_piece(r, local[i], b) == 0)
			present |= 1u << local[i];
	if (in >= 0) {
		unsigned bit = 1u << in;
		if (in_rc == 0)
			in_rc = fetch_inline_finish(r->s, &r->l, b, in, r->mem[in], h, &hdr[in],
						    &r->pc_rec[in]);
		if (in_rc == 0) {
			r->pc[in] = r->pc_rec[in] + r->ck;
			r->src[in].remote = 1;
			r->src[in].hdr_len = hdr[in];
			r->slow &= ~bit;
			present |= bit;
		} else if (in_rc == CN_ETIMEOUT) {
			r->slow |= bit;
		} else {
			r->src[in].bad = 1;
			r->bad |= bit;
		}
		n_order = remote_order(r, mine | present, order);
	}
	if (popcount(present) < k && n_order && !bt)
		fetch_begin(r->s, &r->l, b, order, n_order, 0, hdr, &bt);
	if (bt && fetch_finish(bt, k - popcount(present), hdr, r->mem, r->pc_rec, &good, &failed,
			       &slow) == 0) {
		for (int i = 0; i < r->n; i++) {
			r->pc[i] = r->pc_rec[i] + r->ck;
			if (good & (1u << i)) {
				r->src[i].remote = 1;
				r->src[i].hdr_len = hdr[i];
			}
			if (failed & (1u << i)) {
				r->src[i].bad = 1;
				r->bad |= 1u << i;
			}
		}
		r->slow = (r->slow & ~good) | slow;
		present |= good;
	}
	return present;
}

static int load_block(struct blob_reader *r, uint64_t b)
{
	int k = r->l.k;
	unsigned present = 0, datamask = (1u << k) - 1;
	uint32_t p = layout_piece_len(&r->l, b);
	int rc = 0;

	r->cached = -1;
	if (r->nowait) {
		/* the data pieces as they are: no reconstruction on a loop.
		 * One on another node sends the read to a thread before any
		 * local piece is read and verified here, only to be read and
		 * verified there again (a 2+1 cluster's GET: 1 in 3 of them) */
		for (int i = 0; i < k; i++)
			if (!piece_here(r, i))
				return CN_EWOULDBLOCK;
		for (int i = 0; i < k; i++)
			if ((rc = piece_cached(r, i, b, r->pc[i] - r->ck, r->pc[i])) != 0)
				return rc;
		r->cached = (int64_t)b;
		r->cached_p = p;
		return 0;
	}
	int remote = 0;
	for (int i = 0; i < r->n; i++)
		remote |= is_remote(r, i);
	if (remote) {
		present = gather(r, b);
	} else {
		for (int i = 0; i < r->n && popcount(present) < k; i++)
			if (get_piece(r, i, b) == 0)
				present |= 1u << i;
	}
	if (r->bad & ~r->reported) {
		char hex[2 * DATA_ID_LEN + 1];
		r->reported |= r->bad;
		cn_hex(r->l.id, DATA_ID_LEN, hex);
		log_warn("data: blob %s has bad shard(s) 0x%x; queued for heal", hex, r->bad);
		data_heal_queue_push(r->s, &r->l);
	}
	if (popcount(present) < k) {
		char hex[2 * DATA_ID_LEN + 1];
		cn_hex(r->l.id, DATA_ID_LEN, hex);
		log_error("data: blob %s block %llu: only %d of %d pieces readable", hex,
			  (unsigned long long)b, popcount(present), k);
		return CN_EDATALOST;
	}
	if ((present & datamask) != datamask &&
	    (rc = data_ec_rebuild(&r->ec, p, r->pc, present, datamask)) != 0)
		return rc;
	r->cached = (int64_t)b;
	r->cached_p = p;
	return 0;
}

/* k = 1 and the caller wants all of block b: read shard 0's piece straight
 * into its buffer and verify it there, skipping the block cache and a copy.
 * Any trouble returns non-zero and the caller takes the general path (which
 * re-reads, records the bad shard and reconstructs), overwriting whatever
 * landed in out: unverified bytes are never reported as read. */
static int read_direct(struct blob_reader *r, uint64_t b, uint8_t *out, uint32_t p)
{
	struct shard_src *src = &r->src[0];
	uint8_t ckb[8];
	off_t off;
	ssize_t n;

	if (r->nowait)
		return piece_cached(r, 0, b, ckb, out);
	if (src->bad)
		return CN_EDRIVE;
	if (is_remote(r, 0))
		return CN_EAGAIN; /* fetched with its checksum (and block 0 with the header) */
	if (src->fd < 0 && !src->remote && shard_src_open(r->s, &r->l, 0, src, NULL) != 0) {
		r->bad |= 1u; /* src->bad is set now: get_piece will skip it */
		return CN_EDRIVE;
	}
	if (src->remote)
		return CN_EAGAIN; /* no fetch threads: the general path reads it */
	off = (off_t)layout_piece_off(&r->l, b, src->hdr_len);
	n = dio_read_full(r->s->io, src->fd, ckb, r->ck, off);
	if (n != (ssize_t)r->ck)
		return CN_ECORRUPT;
	n = dio_read_full(r->s->io, src->fd, out, p, off + (off_t)r->ck);
	if (n != (ssize_t)p)
		return CN_ECORRUPT;
	if (piece_cksum_get(r->l.cksum, ckb) != piece_cksum(r->l.cksum, b, 0, out, p))
		return CN_ECORRUPT;
	return 0;
}

int blob_reader_read(struct blob_reader *r, uint64_t offset, void *buf, size_t len, size_t *got)
{
	uint8_t *out = buf;
	size_t done = 0;
	int rc = 0;

	while (done < len && offset < r->l.size) {
		uint64_t b = offset / r->l.block_size;
		if (r->l.k == 1 && offset == b * r->l.block_size && r->cached != (int64_t)b) {
			uint32_t blen = layout_block_len(&r->l, b);
			if (len - done >= blen) {
				rc = read_direct(r, b, out + done, blen);
				if (rc == 0) {
					done += blen;
					offset += blen;
					continue;
				}
				if (r->nowait)
					break; /* the general path would read the same piece */
			}
		}
		if (r->cached != (int64_t)b && (rc = load_block(r, b)) != 0)
			break;
		uint32_t in = (uint32_t)(offset - b * r->l.block_size);
		uint32_t blen = layout_block_len(&r->l, b);
		/* Copy piece by piece up to the end of the block or of buf. */
		while (in < blen && done < len) {
			uint32_t pi = in / r->cached_p, po = in % r->cached_p;
			size_t n = r->cached_p - po;
			if (n > blen - in)
				n = blen - in;
			if (n > len - done)
				n = len - done;
			memcpy(out + done, r->pc[pi] + po, n);
			done += n;
			in += (uint32_t)n;
			offset += n;
		}
	}
	*got = done;
	return rc;
}

int blob_reader_view(struct blob_reader *r, uint64_t offset, size_t len, struct iovec *iov, int max,
		     int *n, size_t *got)
{
	uint64_t b = offset / r->l.block_size;
	uint32_t in, blen;
	int rc;

	*n = 0;
	*got = 0;
	if (r->l.k < 2 || len == 0 || offset >= r->l.size || len > r->l.size - offset ||
	    (offset + len - 1) / r->l.block_size != b)
		return CN_EAGAIN;
	blen = layout_block_len(&r->l, b);
	in = (uint32_t)(offset - b * r->l.block_size);
	if (r->cached != (int64_t)b) {
		/* pieces of the block the range touches, at most */
		uint32_t p = layout_piece_len(&r->l, b);
		if ((in + len - 1) / p - in / p + 1 > (uint32_t)max)
			return CN_EAGAIN;
		if ((rc = load_block(r, b)) != 0)
			return rc;
	}
	if ((in + len - 1) / r->cached_p - in / r->cached_p + 1 > (uint32_t)max)
		return CN_EAGAIN;
	while (*got < len) {
		uint32_t pi = in / r->cached_p, po = in % r->cached_p;
		size_t take = r->cached_p - po;
		if (take > blen - in)
			take = blen - in;
		if (take > len - *got)
			take = len - *got;
		iov[*n].iov_base = r->pc[pi] + po;
		iov[*n].iov_len = take;
		(*n)++;
		*got += take;
		in += (uint32_t)take;
	}
	return 0;
}

unsigned blob_reader_bad_mask(const struct blob_reader *r)
{
	return r->bad;
}

void blob_reader_close(struct blob_reader *r)
{
	if (!r)
		return;
	for (int i = 0; i < DATA_MAX_SHARDS; i++)
		shard_src_close(r->s, &r->src[i]);
	data_ec_release(&r->ec);
	for (int i = 0; i < DATA_MAX_SHARDS; i++)
		rec_buf_put(r->s, r->mem[i], fetch_rec_cap(&r->l));
	free(r);
}
