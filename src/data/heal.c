/*
 * data/heal.c — heal and delete one blob (called by the background healer
 * and the garbage collector).
 *
 *   verify all shards ──> bad = {} ─────────────────────────> done
 *          │
 *          └─> choose targets (same drive, or another online drive)
 *              ──> rebuild every block into tmp files ──> fsync ──> rename
 *              ──> fsync dirs ──> re-verify the rebuilt shards ──> done
 *
 * A rebuilt shard is byte-identical to the original: the header is re-encoded
 * from a good shard's header with the shard index changed, and the pieces are
 * the same Reed-Solomon code words. Thread rules: thread-pool thread; two
 * heals of the same blob must not run at once (the healer de-duplicates).
 */
#include "data/data_int.h"

#include "core/digest.h"
#include "core/err.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

struct heal {
	struct data_store *s;
	struct blob_layout l; /* the layout being written (targets relocated) */
	const struct blob_layout *orig;
	struct data_ec ec;
	int n;
	struct shard_src src[DATA_MAX_SHARDS];
	int tdrive[DATA_MAX_SHARDS]; /* target drive of a rebuilt shard */
	int tfd[DATA_MAX_SHARDS];
	char *tmp[DATA_MAX_SHARDS];
	uint8_t *buf; /* n records */
	uint8_t *pc[DATA_MAX_SHARDS];
	uint32_t ck;
};

/* Pass 1: open and verify every piece of every shard. Returns the bad mask
 * and fills *hdr from a good shard. */
static unsigned verify_all(struct heal *h, struct shard_header *hdr, int *have_hdr)
{
	unsigned bad = 0;
	uint64_t nb = layout_nblocks(h->orig);

	*have_hdr = 0;
	for (int i = 0; i < h->n; i++) {
		struct shard_header tmp;
		if (shard_src_open(h->s, h->orig, i, &h->src[i], &tmp) != 0) {
			bad |= 1u << i;
			continue;
		}
		if (!*have_hdr) {
			*hdr = tmp;
			*have_hdr = 1;
		}
	}
	for (uint64_t b = 0; b < nb; b++)
		for (int i = 0; i < h->n; i++)
			if (!(bad & (1u << i)) &&
			    shard_src_read(h->s, h->orig, i, &h->src[i], b, h->pc[i] - h->ck) != 0)
				bad |= 1u << i;
	return bad;
}

/* A drive for shard i: its own if online, else an online drive that holds
 * no other shard of this blob. -1 if none; -2 if the shard is another
 * node's (cluster): that node heals it, and a shard is never moved onto
 * this node, where it would put two shards of a blob on one node under a
 * layout nobody committed. */
static int pick_target(struct heal *h, int i)
{
	struct data_store *s = h->s;
	int d = store_drive_index(s, h->l.drive[i]);
	if (d >= 0 && store_drive_check(s, d) == 0)
		return d;
	if (s->remote.pread)
		return d < 0 ? -2 : -1;
	for (int c = 0; c < s->n; c++) {
		int used = 0;
		for (int j = 0; j < h->n; j++)
			used |= store_drive_index(s, h->l.drive[j]) == c;
		if (!used && store_drive_check(s, c) == 0)
			return c;
	}
	return -1;
}

static void heal_release(struct heal *h)
{
	for (int i = 0; i < DATA_MAX_SHARDS; i++) {
		shard_src_close(h->s, &h->src[i]);
		if (h->tfd[i] >= 0)
			h->s->io->close(h->s->io->ctx, h->tfd[i]);
		if (h->tmp[i]) {
			h->s->io->unlink(h->s->io->ctx, h->tmp[i]);
			free(h->tmp[i]);
		}
	}
	data_ec_release(&h->ec);
	free(h->buf);
}

/* Pass 2: writes shards in `want` from the good ones into tmp files. */
static int rebuild(struct heal *h, unsigned good, unsigned want, struct shard_header *hdr)
{
	struct data_store *s = h->s;
	const struct data_io *io = s->io;
	uint8_t hbuf[SHARD_HDR_MAX];
	uint64_t nb = layout_nblocks(h->orig);
	int rc;

	for (int i = 0; i < h->n; i++) {
		if (!(want & (1u << i)))
			continue;
		char path[DATA_PATH_MAX];
		if ((rc = store_tmp_path(s, h->tdrive[i], h->l.id, i, path, sizeof(path))) != 0)
			return rc;
		int fd = io->open(io->ctx, path, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd < 0)
			return store_fault(s, h->tdrive[i], dio_err(fd));
		h->tfd[i] = fd;
		if (!(h->tmp[i] = strdup(path)))
			return CN_ENOMEM;
		hdr->shard = (uint8_t)i;
		if ((rc = shard_header_encode(hdr, hbuf, sizeof(hbuf))) < 0)
			return rc;
		if ((rc = dio_write_all(io, fd, hbuf, hdr->hdr_len, 0)) != 0)
			return store_fault(s, h->tdrive[i], dio_err(rc));
	}
	for (uint64_t b = 0; b < nb; b++) {
		uint32_t p = layout_piece_len(h->orig, b);
		unsigned present = 0;
		for (int i = 0; i < h->n && __builtin_popcount(present) < h->l.k; i++) {
			if (!(good & (1u << i)))
				continue;
			rc = shard_src_read(s, h->orig, i, &h->src[i], b, h->pc[i] - h->ck);
			if (rc != 0)
				return rc == CN_ECORRUPT ? CN_EAGAIN : rc; /* changed under us */
			present |= 1u << i;
		}
		if ((rc = data_ec_rebuild(&h->ec, p, h->pc, present, want)) != 0)
			return rc;
		for (int i = 0; i < h->n; i++) {
			if (!(want & (1u << i)))
				continue;
			uint8_t *rec = h->pc[i] - h->ck;
			piece_cksum_put(h->l.cksum, piece_cksum(h->l.cksum, b, i, h->pc[i], p),
					rec);
			off_t off = (off_t)layout_piece_off(&h->l, b, hdr->hdr_len);
			if ((rc = dio_write_all(io, h->tfd[i], rec, h->ck + p, off)) != 0)
				return store_fault(s, h->tdrive[i], dio_err(rc));
		}
	}
	return 0;
}

/* fsync, rename into place, fsync the directory; then, if verify, read the
 * shards back through the normal path. */
static int commit(struct heal *h, unsigned want, int verify)
{
	struct data_store *s = h->s;
	const struct data_io *io = s->io;
	int sync = s->opt.fsync == DATA_FSYNC_ALWAYS;
	char path[DATA_PATH_MAX];
	int rc;

	for (int i = 0; i < h->n; i++) {
		if (!(want & (1u << i)))
			continue;
		int d = h->tdrive[i];
		rc = sync ? io->fsync(io->ctx, h->tfd[i]) : 0;
		if (rc == 0)
			rc = io->close(io->ctx, h->tfd[i]);
		h->tfd[i] = -1;
		if (rc == 0)
			rc = store_shard_path(s, d, h->l.id, i, path, sizeof(path));
		if (rc == 0)
			rc = dio_mkdirs(io, s->drives[d].path, path, sync);
		if (rc == 0)
			rc = io->rename(io->ctx, h->tmp[i], path);
		if (rc == 0 && sync) {
			*strrchr(path, '/') = '\0';
			rc = dio_fsync_dir(io, path);
		}
		if (rc != 0)
			return store_fault(s, d, dio_err(rc));
		free(h->tmp[i]);
		h->tmp[i] = NULL;
	}
	/* Verify what we wrote by reading it back through the normal path. */
	for (int i = 0; verify && i < h->n; i++) {
		if (!(want & (1u << i)))
			continue;
		struct shard_src v;
		shard_src_init(&v);
		rc = shard_src_open(s, &h->l, i, &v, NULL);
		for (uint64_t b = 0; rc == 0 && b < layout_nblocks(&h->l); b++)
			rc = shard_src_read(s, &h->l, i, &v, b, h->pc[i] - h->ck);
		shard_src_close(s, &v);
		if (rc != 0)
			return rc == CN_ECORRUPT ? CN_EIO : rc;
	}
	return 0;
}

/* Sets h up for l; heal_release it whatever this returns. */
static int heal_init(struct heal *h, struct data_store *s, const struct blob_layout *l)
{
	int rc;

	memset(h, 0, sizeof(*h));
	h->s = s;
	h->l = *l;
	h->orig = l;
	h->n = l->k + l->m;
	for (int i = 0; i < DATA_MAX_SHARDS; i++) {
		shard_src_init(&h->src[i]);
		h->tfd[i] = -1;
		h->tdrive[i] = -1;
	}
	if ((rc = data_ec_init(&h->ec, l->k, l->m)) != 0)
		return rc;
	h->ck = layout_ck_len(l);
	uint32_t piece = (l->block_size + l->k - 1) / l->k;
	h->buf = malloc((size_t)h->n * (h->ck + piece));
	if (!h->buf)
		return CN_ENOMEM;
	for (int i = 0; i < h->n; i++)
		h->pc[i] = h->buf + (size_t)i * (h->ck + piece) + h->ck;
	return 0;
}

int blob_heal(struct data_store *s, const struct blob_layout *l, struct blob_layout *out,
	      unsigned *rebuilt)
{
	struct heal h;
	struct shard_header hdr;
	int have_hdr, rc;
	unsigned bad, want = 0;

	if (rebuilt)
		*rebuilt = 0;
	*out = *l;
	if ((rc = heal_init(&h, s, l)) != 0)
		goto out;

	bad = verify_all(&h, &hdr, &have_hdr);
	if (bad == 0)
		goto out;
	if (h.n - __builtin_popcount(bad) < l->k || !have_hdr) {
		rc = CN_EDATALOST;
		goto out;
	}
	for (int i = 0; i < h.n; i++) {
		if (!(bad & (1u << i)))
			continue;
		int d = pick_target(&h, i);
		if (d == -2)
			continue;
		if (d < 0) {
			rc = CN_EDRIVE; /* heal what we can; report the rest */
			continue;
		}
		h.tdrive[i] = d;
		memcpy(h.l.drive[i], s->drives[d].id, DATA_ID_LEN);
		want |= 1u << i;
	}
	if (want == 0)
		goto out;
	int rc2 = rebuild(&h, ~bad & ((1u << h.n) - 1), want, &hdr);
	if (rc2 == 0)
		rc2 = commit(&h, want, 1);
	if (rc2 != 0) {
		rc = rc2;
		goto out;
	}
	*out = h.l;
	if (rebuilt)
		*rebuilt = want;
	char hex[2 * DATA_ID_LEN + 1];
	cn_hex(l->id, DATA_ID_LEN, hex);
	log_info("data: healed blob %s shard(s) 0x%x", hex, want);
out:
	heal_release(&h);
	return rc;
}

/* The fast path of a drive rebuild: shard `shard` has no file on its
 * (online) drive, so nothing needs proving about it. Reads k shards per
 * block, each piece checked against its checksum as it is read (rebuild),
 * instead of verifying every shard in full first and reading the rebuilt one
 * back: 2 shard-reads per shard written instead of 6 at 2+2. Anything
 * unexpected (the file exists, a shard turns out bad, too few can be
 * opened) goes to blob_heal, which proves and repairs everything. */
int blob_rebuild_shard(struct data_store *s, const struct blob_layout *l, int shard,
		       struct blob_layout *out, unsigned *rebuilt)
{
	const struct data_io *io = s->io;
	char path[DATA_PATH_MAX];
	struct heal h;
	struct shard_header hdr;
	unsigned bad = 1u << shard, want = 1u << shard;
	int have_hdr = 0, rc, d;

	if (shard < 0 || shard >= l->k + l->m)
		return CN_EINVAL;
	d = store_drive_index(s, l->drive[shard]);
	if (d < 0 || store_drive_check(s, d) != 0 ||
	    store_shard_path(s, d, l->id, shard, path, sizeof(path)) != 0)
		return blob_heal(s, l, out, rebuilt);
	int fd = io->open(io->ctx, path, O_RDONLY, 0);
	if (fd >= 0)
		io->close(io->ctx, fd);
	if (fd != -ENOENT)
		return blob_heal(s, l, out, rebuilt);

	if (rebuilt)
		*rebuilt = 0;
	*out = *l;
	if ((rc = heal_init(&h, s, l)) != 0)
		goto out;
	for (int i = 0; i < h.n; i++) {
		struct shard_header tmp;
		if (i == shard)
			continue;
		if (shard_src_open(s, l, i, &h.src[i], &tmp) != 0) {
			bad |= 1u << i;
			continue;
		}
		if (!have_hdr) {
			hdr = tmp;
			have_hdr = 1;
		}
	}
	if (h.n - __builtin_popcount(bad) < l->k || !have_hdr)
		goto slow;
	h.tdrive[shard] = d;
	rc = rebuild(&h, ~bad & ((1u << h.n) - 1), want, &hdr);
	if (rc == CN_EAGAIN)
		goto slow; /* a shard we read from is bad too */
	if (rc == 0)
		rc = commit(&h, want, 0);
	if (rc == 0 && rebuilt)
		*rebuilt = want;
	goto out;
slow:
	heal_release(&h);
	return blob_heal(s, l, out, rebuilt);
out:
	heal_release(&h);
	return rc;
}

/* Reads and checks every piece of shard i: 0, or the reason it is bad. */
static int verify_shard(struct data_store *s, const struct blob_layout *l, int i)
{
	struct shard_src src;
	uint32_t ck = layout_ck_len(l), piece = layout_piece_len(l, 0);
	uint8_t *rec = malloc((size_t)ck + piece + 1);
	int rc;

	if (!rec)
		return CN_ENOMEM;
	shard_src_init(&src);
	rc = shard_src_open(s, l, i, &src, NULL);
	for (uint64_t b = 0; rc == 0 && b < layout_nblocks(l); b++)
		rc = shard_src_read(s, l, i, &src, b, rec);
	shard_src_close(s, &src);
	free(rec);
	return rc;
}

int blob_scrub(struct data_store *s, const struct blob_layout *l, struct blob_layout *out,
	       unsigned *rebuilt)
{
	int rc = 0;

	if (!s->remote.pread)
		return blob_heal(s, l, out, rebuilt);
	*out = *l;
	if (rebuilt)
		*rebuilt = 0;
	for (int i = 0; i < l->k + l->m && i < DATA_MAX_SHARDS; i++) {
		unsigned r = 0;
		int d = store_drive_index(s, l->drive[i]), rc2;
		if (d < 0 || verify_shard(s, l, i) == 0)
			continue;
		rc2 = blob_rebuild_shard(s, l, i, out, &r);
		if (rebuilt)
			*rebuilt |= r;
		if (rc2 && !rc)
			rc = rc2;
	}
	return rc;
}

int data_store_has_drive(struct data_store *s, const uint8_t id[DATA_ID_LEN])
{
	return store_drive_index(s, id) >= 0;
}

int blob_is_local(struct data_store *s, const struct blob_layout *l)
{
	for (int i = 0; i < l->k + l->m && i < DATA_MAX_SHARDS; i++)
		if (store_drive_index(s, l->drive[i]) >= 0)
			return 1;
	return 0;
}

int blob_delete(struct data_store *s, const struct blob_layout *l)
{
	char path[DATA_PATH_MAX];
	int rc = 0;

	if ((rc = store_claim_for_delete(s, l->id)) != 0)
		return rc;
	for (int i = 0; i < l->k + l->m && i < DATA_MAX_SHARDS; i++) {
		int d = store_drive_index(s, l->drive[i]);
		if (d < 0)
			continue; /* drive no longer part of the store: nothing to free */
		if (!store_drive_online(s, d)) {
			rc = CN_EDRIVE;
			continue;
		}
		int r = store_shard_path(s, d, l->id, i, path, sizeof(path));
		if (r == 0)
			r = s->io->unlink(s->io->ctx, path);
		if (r != 0 && r != -ENOENT && rc == 0)
			rc = store_fault(s, d, r);
	}
	return rc;
}
