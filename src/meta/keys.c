/*
 * meta/keys.c — order-preserving encoding of (bucket, object key) into LMDB
 * keys, and the long-key scheme.
 *
 * Layer: meta. Invariant: for keys a, b of one bucket, a < b (bytewise, the
 * S3 listing order) implies enc(a) < enc(b) in memcmp order, except inside one
 * long-key group, which the logical cursor (cursor.c) reads whole and sorts.
 *
 * Format (version 1), raw LMDB key of index / versions / uploads:
 *   OFFSET   SIZE   MEANING
 *   0        blen   bucket name (3..63 bytes, never contains 0x00)
 *   blen     1      0x00
 *   then, for a short key (len <= KEY_HEAD = 200 bytes):
 *            <=400  key with every 0x00 written as 0x00 0xFF
 *            2      terminator 0x00 0x00
 *   or, for a long key (201..1024 bytes):
 *            <=400  the first 200 key bytes, escaped as above
 *            2      group marker 0x00 0x01
 *            16     XXH3-128 of the whole key, big-endian (full key in value)
 *   then a fixed suffix: none (index), 16-byte inverted version id
 *   (versions: bitwise NOT, so newer sorts first), 16-byte upload id (uploads).
 * The maximum, 64 + 400 + 2 + 16 + 16 = 498 bytes, fits LMDB's 511.
 * The inline db uses the versions key of the version it belongs to.
 *
 * Keys of the other dbs (version 1):
 *   buckets, stats  bucket name bytes
 *   parts           16 upload id, 2 part number (big-endian)
 *   gc              8 due time ns (big-endian), 16 blob id: oldest first
 *   intents         16 blob id
 *   system          ASCII name ("format")
 *   map             "epoch"; 'n' + 8 node id (big-endian); 'd' + 16 drive id
 *
 * Why the cut is at a fixed raw length: a short key is then never longer than
 * a group's head, so comparing it with a group entry is decided inside the
 * head or by "prefix sorts first" (terminator 00 00 < marker 00 01 < escaped
 * NUL 00 FF), exactly as the full keys compare.
 */
#include <assert.h>
#include <string.h>
#include <xxhash.h>

#include "core/err.h"
#include "meta/meta_int.h"

size_t key_bucket_prefix(uint8_t *out, const char *bucket, size_t blen)
{
	/* Callers validate the bucket first: every buffer is KEY_ENC_MAX. */
	assert(blen <= META_BUCKET_MAX);
	memcpy(out, bucket, blen);
	out[blen] = 0;
	return blen + 1;
}

static size_t esc(uint8_t *out, const uint8_t *k, size_t n)
{
	size_t o = 0, i = 0;

	/* copy runs between NULs at once: every lookup encodes a key */
	while (i < n) {
		const uint8_t *z = memchr(k + i, 0, n - i);
		size_t run = z ? (size_t)(z - (k + i)) : n - i;
		memcpy(out + o, k + i, run);
		o += run;
		i += run;
		if (z) {
			out[o++] = 0;
			out[o++] = 0xFF;
			i++;
		}
	}
	return o;
}

size_t key_encode(uint8_t *out, const char *bucket, size_t blen, const uint8_t *key, size_t klen)
{
	size_t o = key_bucket_prefix(out, bucket, blen);

	if (klen <= KEY_HEAD) {
		o += esc(out + o, key, klen);
		out[o++] = 0;
		out[o++] = 0;
		return o;
	}
	o += esc(out + o, key, KEY_HEAD);
	out[o++] = 0;
	out[o++] = 1;
	XXH128_hash_t h = XXH3_128bits(key, klen);
	be64_put(out + o, h.high64);
	be64_put(out + o + 8, h.low64);
	return o + KEY_HASH;
}

size_t key_encode_seek(uint8_t *out, const char *bucket, size_t blen, const uint8_t *key,
		       size_t klen)
{
	size_t o = key_bucket_prefix(out, bucket, blen);

	if (klen <= KEY_HEAD)
		return o + esc(out + o, key, klen);
	o += esc(out + o, key, KEY_HEAD);
	out[o++] = 0;
	out[o++] = 1;
	return o;
}

int key_decode(const uint8_t *raw, size_t rlen, size_t bplen, uint8_t *kbuf, size_t *klen,
	       enum key_kind *kind, size_t *grp_len, size_t *hdr_len)
{
	size_t i = bplen, n = 0;

	while (i < rlen) {
		/* copy the run up to the next 0x00 at once (memchr): listings
		 * decode a key per entry */
		const uint8_t *z = memchr(raw + i, 0, rlen - i);
		size_t run = z ? (size_t)(z - (raw + i)) : rlen - i;
		if (run) {
			if (run > KEY_HEAD - n)
				return CN_ECORRUPT;
			memcpy(kbuf + n, raw + i, run);
			n += run;
			i += run;
			continue;
		}
		if (i + 1 >= rlen)
			return CN_ECORRUPT;
		switch (raw[i + 1]) {
		case 0xFF:
			if (n >= KEY_HEAD)
				return CN_ECORRUPT;
			kbuf[n++] = 0;
			i += 2;
			continue;
		case 0x00:
			*kind = KEY_SHORT;
			*klen = n;
			*grp_len = 0;
			*hdr_len = i + 2;
			return 0;
		case 0x01:
			if (n != KEY_HEAD || i + 2 + KEY_HASH > rlen)
				return CN_ECORRUPT;
			*kind = KEY_GROUP;
			*klen = n;
			*grp_len = i + 2;
			*hdr_len = i + 2 + KEY_HASH;
			return 0;
		default: return CN_ECORRUPT;
		}
	}
	return CN_ECORRUPT;
}

size_t key_prefix_succ(uint8_t *out, const uint8_t *p, size_t plen)
{
	while (plen > 0 && p[plen - 1] == 0xFF)
		plen--;
	if (plen == 0)
		return 0;
	memcpy(out, p, plen);
	out[plen - 1]++;
	return plen;
}

/* AWS rules: 3..63 of [a-z0-9.-], starting and ending with a letter or digit,
 * no "..". */
bool bucket_name_valid(const char *b, size_t len)
{
	if (len < 3 || len > META_BUCKET_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = b[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && c != '.' && c != '-')
			return false;
		if ((i == 0 || i == len - 1) && !alnum)
			return false;
		if (c == '.' && b[i - 1] == '.')
			return false;
	}
	return true;
}
