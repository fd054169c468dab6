/*
 * data/move.c — writing shards of an existing blob on other drives
 * (rebalance after the cluster map changed, re-placement of a removed
 * node's shards).
 *
 * The moved shards are produced from the blob's content, read through an
 * ordinary reader: a source shard that is gone (its node removed) or
 * unreachable is reconstructed like any read, and every piece is checked.
 * Each block is split and encoded again; the code words are the same as
 * the writer's, so a moved shard is byte-identical to the original. A
 * target on this node is written through a sink (data/sink.c), a target on
 * another node through a shard stream; either way it is durable and in
 * place when this returns 0. Nothing is deleted here: the caller commits
 * the new layout (or hands the new copies to GC) through the metadata.
 */
#include "data/data_int.h"

#include "core/err.h"

#include <stdlib.h>
#include <string.h>

int blob_move_shards(struct data_store *s, const struct blob_layout *l,
		     const uint8_t (*target)[DATA_ID_LEN], unsigned mask, struct blob_layout *out)
{
	int n = l->k + l->m, rc, have_hdr = 0;
	struct shard_out *o[DATA_MAX_SHARDS];
	struct shard_header hdr;
	struct blob_reader *rd = NULL;
	struct data_ec ec;
	uint32_t full = (l->block_size + l->k - 1) / l->k;
	uint8_t *blk = NULL, *par = NULL, hbuf[SHARD_HDR_MAX];
	uint8_t *data[DATA_MAX_SHARDS], *parity[DATA_MAX_SHARDS];

	memset(o, 0, sizeof(o));
	memset(&ec, 0, sizeof(ec));
	*out = *l;
	if (n < 1 || n > DATA_MAX_SHARDS || !mask || (mask >> n))
		return CN_EINVAL;
	/* who the blob belongs to, for the headers: any readable shard's */
	for (int i = 0; i < n && !have_hdr; i++) {
		struct shard_src src;
		shard_src_init(&src);
		have_hdr = shard_src_open(s, l, i, &src, &hdr) == 0;
		shard_src_close(s, &src);
	}
	if (!have_hdr)
		return CN_EDATALOST;
	if ((rc = data_ec_init(&ec, l->k, l->m)) != 0 || (rc = blob_reader_open(s, l, &rd)) != 0)
		goto done;
	blk = calloc(l->k, full);
	par = l->m ? malloc((size_t)l->m * full) : NULL;
	if (!blk || (l->m && !par)) {
		rc = CN_ENOMEM;
		goto done;
	}
	for (int i = 0; i < n; i++)
		if ((mask & (1u << i)) &&
		    (rc = shard_out_open(s, target[i], l, i, hdr.hdr_len, &o[i])) != 0)
			goto done;
	for (uint64_t b = 0; b < layout_nblocks(l); b++) {
		uint32_t blen = layout_block_len(l, b), p = layout_piece_len(l, b);
		size_t got;
		if ((rc = blob_reader_read(rd, b * l->block_size, blk, blen, &got)) != 0)
			goto done;
		if (got != blen) {
			rc = CN_EDATALOST;
			goto done;
		}
		memset(blk + blen, 0, (size_t)l->k * p - blen);
		for (int i = 0; i < l->k; i++)
			data[i] = blk + (size_t)i * p;
		for (int j = 0; j < l->m; j++)
			parity[j] = par + (size_t)j * full;
		if (mask >> l->k)
			data_ec_encode(&ec, p, data, parity);
		for (int i = 0; i < n; i++) {
			if (!(mask & (1u << i)))
				continue;
			const uint8_t *pc = i < l->k ? data[i] : parity[i - l->k];
			uint8_t ckb[8];
			piece_cksum_put(l->cksum, piece_cksum(l->cksum, b, i, pc, p), ckb);
			if ((rc = shard_out_put(o[i], ckb, pc, p)) != 0)
				goto done;
		}
	}
	for (int i = 0; i < n; i++) {
		if (!(mask & (1u << i)))
			continue;
		hdr.shard = (uint8_t)i;
		if ((rc = shard_header_encode(&hdr, hbuf, sizeof(hbuf))) < 0)
			goto done;
		if ((rc = shard_out_seal(o[i], hbuf, hdr.hdr_len)) != 0 ||
		    (rc = shard_out_wait(o[i])) != 0)
			goto done;
		memcpy(out->drive[i], target[i], DATA_ID_LEN);
	}
	rc = 0;
done:
	for (int i = 0; i < n; i++)
		shard_out_free(o[i], 0); /* copies in place stay: the intent covers them */
	blob_reader_close(rd);
	data_ec_release(&ec);
	free(blk);
	free(par);
	if (rc)
		*out = *l;
	return rc;
}
