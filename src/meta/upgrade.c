/*
 * meta/upgrade.c — in-place upgrade of an older store format at open.
 *
 * Layer: meta, called by store.c before the metadata thread starts (so it
 * owns the environment alone). Format 1 kept a summary of each key's newest
 * non-marker version in index and every version's full record in versions;
 * format 2 keeps that newest version's full record in index only (apply.c).
 * The upgrade moves each such record from versions into index.
 *
 * Crash safety: it commits every UPGRADE_CHUNK keys and only then, in a last
 * transaction, writes the new format number. Each step is idempotent: a
 * format-1 index value is exactly a summary (idx_decode with exact=1), a
 * format-2 value never is (it carries attrs and a location after the summary
 * fields), so a rerun after a crash skips what was moved and continues.
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "meta/meta_int.h"

#define UPGRADE_CHUNK 10000

/* Moves up to UPGRADE_CHUNK records starting at raw index key from (len
 * *fromlen, updated to resume). *done = 1 at the end of index. */
static int upgrade_chunk(struct kv_env *env, uint8_t *from, size_t *fromlen, uint64_t *moved,
			 int *done)
{
	struct kv_txn t;
	struct kv_cursor c;
	struct kv_item it;
	struct cn_buf val;
	uint8_t raw[KEY_ENC_MAX];
	unsigned n = 0;
	int rc;

	*done = 0;
	rc = kv_txn_begin(env, NULL, 0, &t);
	if (rc)
		return rc;
	cn_buf_init(&val);
	rc = kv_cursor_open(&t, KV_INDEX, &c);
	if (rc)
		goto out;
	for (rc = kv_cursor_seek(&c, from, *fromlen, &it); !rc && n < UPGRADE_CHUNK;
	     rc = kv_cursor_next(&c, &it), n++) {
		struct idx_rec sum;
		const uint8_t *v;
		size_t vlen, klen = it.klen;

		if (klen + META_ID_LEN > sizeof(raw)) {
			rc = CN_ECORRUPT;
			break;
		}
		memcpy(from, it.k, klen);
		*fromlen = klen;
		if (idx_decode(it.v, it.vlen, &sum) != 0)
			continue; /* already a format-2 record */
		memcpy(raw, it.k, klen);
		for (int i = 0; i < META_ID_LEN; i++)
			raw[klen + i] = (uint8_t)~sum.vid[i];
		rc = kv_get(&t, KV_VERSIONS, raw, klen + META_ID_LEN, &v, &vlen);
		if (rc) {
			if (rc == CN_ENOTFOUND) {
				log_error("meta: upgrade: index entry without its version record");
				rc = CN_ECORRUPT;
			}
			break;
		}
		cn_buf_reset(&val);
		cn_buf_put(&val, v, vlen);
		rc = val.err;
		if (!rc)
			rc = kv_put(&t, KV_INDEX, raw, klen, val.p, val.len);
		if (!rc)
			rc = kv_del(&t, KV_VERSIONS, raw, klen + META_ID_LEN);
		if (rc)
			break;
		(*moved)++;
		/* the puts above may have moved the cursor's page: seek back */
		rc = kv_cursor_seek(&c, raw, klen, &it);
		if (rc)
			break;
	}
	if (rc == CN_ENOTFOUND) {
		*done = 1;
		rc = 0;
	}
	kv_cursor_close(&c);
out:
	cn_buf_release(&val);
	if (rc) {
		kv_txn_abort(&t);
		return rc;
	}
	return kv_txn_commit(&t);
}

int meta_upgrade_v1(struct kv_env *env, uint64_t *moved)
{
	uint8_t from[KEY_ENC_MAX];
	size_t fromlen = 0;
	int done = 0, rc = 0;

	*moved = 0;
	while (!done && !rc)
		rc = upgrade_chunk(env, from, &fromlen, moved, &done);
	return rc;
}
