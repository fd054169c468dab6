/*
 * data/sink.c — receiving one shard of a blob written by another node
 * (data.h, "the receiving side of a remote shard write").
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

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

struct shard_sink {
	struct data_store *s;
	struct blob_layout l; /* size unknown until the header */
	int shard, drive, fd;
	char tmp[DATA_PATH_MAX];
	uint32_t hdr_len, ck, full; /* full: piece length of a full block */
	uint64_t nrec;		    /* records received */
	uint32_t last;		    /* piece length of the last record */
	int sealed;
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
	if ((rc = store_check_space(s, d, 0)) != 0)
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

int data_shard_sink_put(struct shard_sink *k, const void *rec, size_t len)
{
	const uint8_t *r = rec;
	size_t p;
	int rc;

	if (k->sealed || len <= k->ck || len - k->ck > k->full)
		return CN_ECORRUPT;
	if (k->nrec && k->last != k->full)
		return CN_ECORRUPT; /* only the last block may be short */
	p = len - k->ck;
	if (piece_cksum(k->l.cksum, k->nrec, k->shard, r + k->ck, p) !=
	    piece_cksum_get(k->l.cksum, r))
		return CN_ECORRUPT;
	rc = dio_write_all(k->s->io, k->fd, r, len,
			   (off_t)layout_piece_off(&k->l, k->nrec, k->hdr_len));
	if (rc)
		return store_fault(k->s, k->drive, dio_err(rc));
	k->nrec++;
	k->last = (uint32_t)p;
	return 0;
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
	k->l.size = h.size;
	if (!shard_header_matches(&h, &k->l, k->shard) || layout_nblocks(&k->l) != k->nrec ||
	    (k->nrec && layout_piece_len(&k->l, k->nrec - 1) != k->last))
		return CN_ECORRUPT;
	if ((rc = dio_write_all(io, k->fd, hdr, len, 0)) != 0 ||
	    (sync && (rc = io->fsync(io->ctx, k->fd)) != 0))
		return store_fault(s, k->drive, dio_err(rc));
	io->close(io->ctx, k->fd);
	k->fd = -1;
	if ((rc = store_shard_path(s, k->drive, k->l.id, k->shard, path, sizeof(path))) != 0 ||
	    (rc = dio_mkdirs(io, s->drives[k->drive].path, path, sync)) != 0 ||
	    (rc = io->rename(io->ctx, k->tmp, path)) != 0)
		return store_fault(s, k->drive, dio_err(rc));
	k->tmp[0] = 0;
	k->sealed = 1;
	if (sync) {
		*strrchr(path, '/') = '\0';
		if ((rc = dio_fsync_dir(io, path)) != 0)
			return store_fault(s, k->drive, dio_err(rc));
	}
	return 0;
}

void data_shard_sink_free(struct shard_sink *k)
{
	if (!k)
		return;
	const struct data_io *io = k->s->io;
	if (k->fd >= 0)
		io->close(io->ctx, k->fd);
	if (k->tmp[0])
		io->unlink(io->ctx, k->tmp);
	free(k);
}
