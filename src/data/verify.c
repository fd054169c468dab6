/*
 * data/verify.c — read-only verification of one blob: every piece of every
 * shard is read and checked, nothing is written. Used to show shard health
 * (`cairn admin object`) without repairing anything.
 */
#include "data/data_int.h"

#include <stdlib.h>

#include "core/err.h"

int blob_verify(struct data_store *s, const struct blob_layout *l, unsigned *bad, unsigned *missing)
{
	struct shard_src src[DATA_MAX_SHARDS];
	uint32_t ck = layout_ck_len(l);
	uint32_t piece = layout_piece_len(l, 0);
	uint64_t nb = layout_nblocks(l);
	int n = l->k + l->m;
	uint8_t *rec;

	*bad = *missing = 0;
	if (n < 1 || n > DATA_MAX_SHARDS)
		return CN_EINVAL;
	rec = malloc((size_t)ck + piece + 1);
	if (!rec)
		return CN_ENOMEM;
	for (int i = 0; i < n; i++) {
		shard_src_init(&src[i]);
		if (shard_src_open(s, l, i, &src[i], NULL) != 0) {
			*missing |= 1u << i;
			continue;
		}
		for (uint64_t b = 0; b < nb; b++)
			if (shard_src_read(s, l, i, &src[i], b, rec) != 0) {
				*bad |= 1u << i;
				break;
			}
		shard_src_close(s, &src[i]);
	}
	free(rec);
	return __builtin_popcount(*bad | *missing) > l->m ? CN_EDATALOST : 0;
}
