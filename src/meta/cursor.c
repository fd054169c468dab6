/*
 * meta/cursor.c — the logical cursor: walks index / versions / uploads of one
 * bucket in exact (full key, suffix) order, hiding the long-key encoding.
 *
 * Layer: meta, above kv. A raw entry whose key ends in a group marker (see
 * keys.c) starts a long-key group: the cursor reads the whole group, sorts it
 * by (full key, suffix) and yields it from memory, then seeks to the group's
 * successor. Invariant: seeks only move forward; pointers in the current
 * entry stay valid until the next call or the end of the read transaction.
 * Used in read transactions only (group entries point into the map).
 * Cost: a page that meets a long-key group reads the whole group (keys that
 * share their first 200 bytes), so such groups cost O(group) per page.
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "meta/meta_int.h"

int lc_open(struct lcur *lc, struct kv_txn *t, enum kv_db db, const char *bucket, size_t blen,
	    size_t sfxlen)
{
	memset(lc, 0, offsetof(struct lcur, kbuf));
	lc->ingroup = 0;
	lc->g = NULL;
	lc->gn = lc->gi = lc->gcap = 0;
	if (blen > META_BUCKET_MAX)
		return CN_EINVAL;
	memcpy(lc->bucket, bucket, blen);
	lc->bucket[blen] = 0;
	lc->blen = blen;
	lc->bplen = key_bucket_prefix(lc->bp, bucket, blen);
	lc->sfxlen = sfxlen;
	return kv_cursor_open(t, db, &lc->cur);
}

void lc_close(struct lcur *lc)
{
	kv_cursor_close(&lc->cur);
	free(lc->g);
	lc->g = NULL;
}

static int keycmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n ? memcmp(a, b, n) : 0;
	if (c)
		return c;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static int gent_cmp(const void *a, const void *b, void *arg)
{
	const struct gent *x = a, *y = b;
	size_t sfxlen = *(const size_t *)arg;
	int c = keycmp(x->key, x->klen, y->key, y->klen);
	if (c || !sfxlen)
		return c;
	return memcmp(x->sfx, y->sfx, sfxlen);
}

static bool satisfies(const struct lcur *lc, const struct lbound *b)
{
	int c = keycmp(lc->key, lc->klen, b->key, b->klen);
	if (c)
		return c > 0;
	if (!b->sfx)
		return !b->excl;
	c = lc->sfxlen ? memcmp(lc->sfx, b->sfx, lc->sfxlen) : 0;
	return b->excl ? c > 0 : c >= 0;
}

static void set_gent(struct lcur *lc)
{
	struct gent *e = &lc->g[lc->gi];
	lc->key = e->key;
	lc->klen = e->klen;
	lc->sfx = e->sfx;
	lc->val = e->val;
	lc->vlen = e->vlen;
}

static int load_group(struct lcur *lc, struct kv_item *it, size_t glen)
{
	uint8_t g0[KEY_ENC_MAX];
	int rc;

	memcpy(g0, it->k, glen);
	memcpy(lc->ghead, lc->kbuf, KEY_HEAD);
	memcpy(lc->gsucc, g0, glen);
	lc->gsucc[glen - 1]++; /* marker 00 01 -> 00 02: just past the group */
	lc->gsucclen = glen;
	lc->gn = lc->gi = 0;
	for (;;) {
		const uint8_t *fk;
		size_t fklen;
		if (it->klen != glen + KEY_HASH + lc->sfxlen)
			return CN_ECORRUPT;
		rc = val_fullkey(it->v, it->vlen, &fk, &fklen);
		if (rc || fklen <= KEY_HEAD || memcmp(fk, lc->ghead, KEY_HEAD) != 0)
			return CN_ECORRUPT;
		if (lc->gn == lc->gcap) {
			size_t cap = lc->gcap ? lc->gcap * 2 : 16;
			struct gent *g = realloc(lc->g, cap * sizeof(*g));
			if (!g)
				return CN_ENOMEM;
			lc->g = g;
			lc->gcap = cap;
		}
		lc->g[lc->gn++] =
			(struct gent){fk, fklen, it->k + glen + KEY_HASH, it->v, it->vlen};
		rc = kv_cursor_next(&lc->cur, it);
		lc->steps++;
		if (rc == CN_ENOTFOUND)
			break;
		if (rc)
			return rc;
		if (it->klen < glen || memcmp(it->k, g0, glen) != 0)
			break;
	}
	qsort_r(lc->g, lc->gn, sizeof(*lc->g), gent_cmp, &lc->sfxlen);
	lc->ingroup = 1;
	set_gent(lc);
	return 0;
}

/* On entering a new LMDB page, ask for all of it at once: a listing walks
 * every entry of the page, and fetching its cache lines one dependent miss
 * at a time was most of a 1000-key page. Assumes 4 KiB pages (LMDB's on
 * x86-64 Linux); a wrong guess only wastes prefetches. */
static void prefetch_page(struct lcur *lc, const uint8_t *p)
{
	uintptr_t pg = (uintptr_t)p & ~(uintptr_t)4095;

	if (pg == lc->last_page)
		return;
	lc->last_page = pg;
	for (uintptr_t a = pg; a < pg + 4096; a += 64)
		__builtin_prefetch((const void *)a);
}

/* Makes the raw entry (result of a raw seek/next) current. stepped: it came
 * from a step, so the rest of its page is likely next (after a seek it is
 * often one entry, as in a delimiter listing: prefetching there costs a
 * page of memory traffic per common prefix). */
static int set_from_raw(struct lcur *lc, int rc, struct kv_item *it, int stepped)
{
	enum key_kind kind;
	size_t klen, glen, hdr;

	lc->ingroup = 0;
	if (rc == CN_ENOTFOUND) {
		lc->eof = 1;
		return 0;
	}
	if (rc)
		return rc;
	if (it->klen < lc->bplen || memcmp(it->k, lc->bp, lc->bplen) != 0) {
		lc->eof = 1;
		return 0;
	}
	rc = key_decode(it->k, it->klen, lc->bplen, lc->kbuf, &klen, &kind, &glen, &hdr);
	if (rc)
		return rc;
	if (kind == KEY_GROUP)
		return load_group(lc, it, glen);
	if (stepped)
		prefetch_page(lc, it->k);
	if (it->klen != hdr + lc->sfxlen)
		return CN_ECORRUPT;
	lc->key = lc->kbuf;
	lc->klen = klen;
	lc->sfx = it->k + hdr;
	lc->val = it->v;
	lc->vlen = it->vlen;
	return 0;
}

static int raw_seek(struct lcur *lc, const uint8_t *k, size_t klen)
{
	struct kv_item it;
	int rc = kv_cursor_seek(&lc->cur, k, klen, &it);
	lc->steps++;
	return set_from_raw(lc, rc, &it, 0);
}

int lc_next(struct lcur *lc)
{
	struct kv_item it;
	int rc;

	if (lc->eof)
		return 0;
	if (lc->ingroup) {
		if (++lc->gi < lc->gn) {
			set_gent(lc);
			return 0;
		}
		return raw_seek(lc, lc->gsucc, lc->gsucclen);
	}
	rc = kv_cursor_next(&lc->cur, &it);
	lc->steps++;
	return set_from_raw(lc, rc, &it, 1);
}

int lc_seek(struct lcur *lc, const struct lbound *b)
{
	uint8_t raw[KEY_ENC_MAX];
	size_t n;
	int rc;

	if (lc->eof)
		return 0;
	if (lc->ingroup && b->klen > KEY_HEAD && memcmp(b->key, lc->ghead, KEY_HEAD) == 0) {
		/* the bound falls inside the group in memory: move forward in it */
		while (lc->gi < lc->gn) {
			set_gent(lc);
			if (satisfies(lc, b))
				return 0;
			lc->gi++;
		}
		rc = raw_seek(lc, lc->gsucc, lc->gsucclen);
	} else if (b->klen <= KEY_HEAD && b->sfx) {
		n = key_encode(raw, lc->bucket, lc->blen, b->key, b->klen);
		memcpy(raw + n, b->sfx, lc->sfxlen);
		rc = raw_seek(lc, raw, n + lc->sfxlen);
	} else if (b->klen <= KEY_HEAD && b->excl) {
		/* after every suffix of this key: terminator 00 00 -> 00 01 */
		n = key_encode(raw, lc->bucket, lc->blen, b->key, b->klen);
		raw[n - 1] = 1;
		rc = raw_seek(lc, raw, n);
	} else {
		n = key_encode_seek(raw, lc->bucket, lc->blen, b->key, b->klen);
		rc = raw_seek(lc, raw, n);
	}
	while (!rc && !lc->eof && !satisfies(lc, b))
		rc = lc_next(lc);
	return rc;
}

int lc_seek_past(struct lcur *lc, const uint8_t *p, size_t plen)
{
	uint8_t succ[META_KEY_MAX];
	size_t n = key_prefix_succ(succ, p, plen);
	struct lbound b = {succ, n, NULL, 0};

	if (n == 0) {
		lc->eof = 1;
		return 0;
	}
	return lc_seek(lc, &b);
}
