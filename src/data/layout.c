/*
 * data/layout.c — the two on-disk/metadata formats of the data module, both
 * little-endian and bounds-checked, plus blob geometry and piece checksums.
 *
 * Blob layout (stored opaquely in metadata), format version 1:
 *   OFFSET      SIZE   MEANING
 *   0           1      format version (1)
 *   1           1      k (data shards, >= 1)
 *   2           1      m (parity shards); k + m <= 16
 *   3           1      piece checksum alg (1 CRC32C, 2 XXH3-64)
 *   4           4      block size in bytes (64 .. 64 MiB)
 *   8           8      blob size in bytes (< 2^50)
 *   16          16     blob id
 *   32          16*n   drive id of shard i, n = k + m
 *   32+16n      4      CRC32C of bytes [0, 32+16n)
 *
 * Shard file, format version 1: header, then one record per block b:
 *   [checksum (4 or 8 bytes)] [piece of ceil(len(b)/k) bytes]
 * at offset hdr_len + b * (cklen + ceil(block_size/k)). Header:
 *   OFFSET      SIZE   MEANING
 *   0           8      magic "CAIRNSHD"
 *   8           2      format version (1)
 *   10          2      header length H
 *   12          16     blob id
 *   28          1      shard index
 *   29          1      k
 *   30          1      m
 *   31          1      checksum alg
 *   32          4      block size
 *   36          8      blob size
 *   44          4      part number
 *   48          2      bucket length B (<= 255)
 *   50          2      key length K (<= 1024)
 *   52          2      version id length V (<= 255)
 *   54          B+K+V  bucket, key, version id (no NULs)
 *   H-4         4      CRC32C of bytes [0, H-4)
 * A piece checksum is seeded with (block, shard) so a piece written to the
 * wrong place never verifies. Pieces of the last block are zero-padded.
 */
#include "data/data_int.h"

#include "core/digest.h"
#include "core/err.h"

#include <string.h>
#include <xxhash.h>

#define LAYOUT_VERSION 1
#define LAYOUT_FIXED 32
#define BLOCK_MIN 64u
#define SIZE_MAX_BLOB (1ULL << 50)

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* The geometry fields every format shares; 0 if sane. */
static int check_geometry(unsigned k, unsigned m, unsigned ck, uint32_t bs, uint64_t size)
{
	if (k < 1 || k + m > DATA_MAX_SHARDS)
		return CN_ECORRUPT;
	if (ck != DATA_CK_CRC32C && ck != DATA_CK_XXH3)
		return CN_ECORRUPT;
	if (bs < BLOCK_MIN || bs > DATA_BLOCK_MAX || size >= SIZE_MAX_BLOB)
		return CN_ECORRUPT;
	return 0;
}

int blob_layout_encode(const struct blob_layout *l, uint8_t *buf, size_t cap)
{
	if (check_geometry(l->k, l->m, l->cksum, l->block_size, l->size) != 0)
		return CN_EINVAL;
	size_t n = (size_t)l->k + l->m;
	size_t len = LAYOUT_FIXED + 16 * n + 4;
	if (len > cap)
		return CN_ETOOBIG;
	buf[0] = LAYOUT_VERSION;
	buf[1] = l->k;
	buf[2] = l->m;
	buf[3] = l->cksum;
	put32(buf + 4, l->block_size);
	put64(buf + 8, l->size);
	memcpy(buf + 16, l->id, DATA_ID_LEN);
	for (size_t i = 0; i < n; i++)
		memcpy(buf + LAYOUT_FIXED + 16 * i, l->drive[i], DATA_ID_LEN);
	put32(buf + len - 4, cn_crc32c(0, buf, len - 4));
	return (int)len;
}

int blob_layout_decode(const uint8_t *buf, size_t len, struct blob_layout *out)
{
	if (len < 1)
		return CN_ECORRUPT;
	if (buf[0] != LAYOUT_VERSION)
		return CN_EFORMAT;
	if (len < LAYOUT_FIXED + 4)
		return CN_ECORRUPT;
	unsigned k = buf[1], m = buf[2];
	if (k + m > DATA_MAX_SHARDS || len != LAYOUT_FIXED + 16 * (size_t)(k + m) + 4)
		return CN_ECORRUPT;
	if (get32(buf + len - 4) != cn_crc32c(0, buf, len - 4))
		return CN_ECORRUPT;
	uint32_t bs = get32(buf + 4);
	uint64_t size = get64(buf + 8);
	int rc = check_geometry(k, m, buf[3], bs, size);
	if (rc)
		return rc;
	memset(out, 0, sizeof(*out));
	out->k = (uint8_t)k;
	out->m = (uint8_t)m;
	out->cksum = buf[3];
	out->block_size = bs;
	out->size = size;
	memcpy(out->id, buf + 16, DATA_ID_LEN);
	for (unsigned i = 0; i < k + m; i++)
		memcpy(out->drive[i], buf + LAYOUT_FIXED + 16 * i, DATA_ID_LEN);
	return 0;
}

int blob_layout_drives(const uint8_t *buf, size_t len, uint8_t (*drive)[DATA_ID_LEN], int cap)
{
	struct blob_layout l;
	int n, rc = blob_layout_decode(buf, len, &l);

	if (rc)
		return rc;
	n = l.k + l.m;
	for (int i = 0; i < n && i < cap; i++)
		memcpy(drive[i], l.drive[i], DATA_ID_LEN);
	return n;
}

int shard_header_encode(struct shard_header *h, uint8_t *buf, size_t cap)
{
	if (h->bucket_len > DATA_BUCKET_MAX || h->key_len > DATA_KEY_MAX ||
	    h->version_len > DATA_VERSION_MAX)
		return CN_EINVAL;
	size_t len = SHARD_HDR_FIXED + (size_t)h->bucket_len + h->key_len + h->version_len + 4;
	if (len > cap)
		return CN_ETOOBIG;
	memcpy(buf, SHARD_MAGIC, 8);
	put16(buf + 8, SHARD_VERSION);
	put16(buf + 10, (uint16_t)len);
	memcpy(buf + 12, h->blob_id, DATA_ID_LEN);
	buf[28] = h->shard;
	buf[29] = h->k;
	buf[30] = h->m;
	buf[31] = h->cksum;
	put32(buf + 32, h->block_size);
	put64(buf + 36, h->size);
	put32(buf + 44, h->part_number);
	put16(buf + 48, h->bucket_len);
	put16(buf + 50, h->key_len);
	put16(buf + 52, h->version_len);
	uint8_t *p = buf + SHARD_HDR_FIXED;
	memcpy(p, h->bucket, h->bucket_len);
	p += h->bucket_len;
	memcpy(p, h->key, h->key_len);
	p += h->key_len;
	memcpy(p, h->version, h->version_len);
	put32(buf + len - 4, cn_crc32c(0, buf, len - 4));
	h->hdr_len = (uint16_t)len;
	return (int)len;
}

/* Copies a string field, refusing embedded NULs (they would truncate it). */
static int get_str(const uint8_t *p, uint16_t n, char *out)
{
	if (memchr(p, 0, n))
		return CN_ECORRUPT;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

int shard_header_decode(const uint8_t *buf, size_t len, struct shard_header *h)
{
	if (len < SHARD_HDR_FIXED + 4 || memcmp(buf, SHARD_MAGIC, 8) != 0)
		return CN_ECORRUPT;
	if (get16(buf + 8) != SHARD_VERSION)
		return CN_EFORMAT;
	memset(h, 0, sizeof(*h));
	uint16_t hl = get16(buf + 10);
	h->bucket_len = get16(buf + 48);
	h->key_len = get16(buf + 50);
	h->version_len = get16(buf + 52);
	if (h->bucket_len > DATA_BUCKET_MAX || h->key_len > DATA_KEY_MAX ||
	    h->version_len > DATA_VERSION_MAX)
		return CN_ECORRUPT;
	if (hl != SHARD_HDR_FIXED + (size_t)h->bucket_len + h->key_len + h->version_len + 4)
		return CN_ECORRUPT;
	h->hdr_len = hl;
	if (len < hl)
		return CN_EAGAIN;
	if (get32(buf + hl - 4) != cn_crc32c(0, buf, (size_t)hl - 4))
		return CN_ECORRUPT;
	memcpy(h->blob_id, buf + 12, DATA_ID_LEN);
	h->shard = buf[28];
	h->k = buf[29];
	h->m = buf[30];
	h->cksum = buf[31];
	h->block_size = get32(buf + 32);
	h->size = get64(buf + 36);
	h->part_number = get32(buf + 44);
	if (check_geometry(h->k, h->m, h->cksum, h->block_size, h->size) != 0 ||
	    h->shard >= h->k + h->m)
		return CN_ECORRUPT;
	const uint8_t *p = buf + SHARD_HDR_FIXED;
	if (get_str(p, h->bucket_len, h->bucket) ||
	    get_str(p + h->bucket_len, h->key_len, h->key) ||
	    get_str(p + h->bucket_len + h->key_len, h->version_len, h->version))
		return CN_ECORRUPT;
	return 0;
}

int shard_header_matches(const struct shard_header *h, const struct blob_layout *l, int shard)
{
	return memcmp(h->blob_id, l->id, DATA_ID_LEN) == 0 && h->shard == shard && h->k == l->k &&
	       h->m == l->m && h->cksum == l->cksum && h->block_size == l->block_size &&
	       h->size == l->size;
}

uint32_t layout_ck_len(const struct blob_layout *l)
{
	return l->cksum == DATA_CK_XXH3 ? 8 : 4;
}

uint64_t layout_nblocks(const struct blob_layout *l)
{
	return (l->size + l->block_size - 1) / l->block_size;
}

uint32_t layout_block_len(const struct blob_layout *l, uint64_t b)
{
	uint64_t start = b * l->block_size;
	if (start >= l->size)
		return 0;
	uint64_t rest = l->size - start;
	return rest < l->block_size ? (uint32_t)rest : l->block_size;
}

uint32_t layout_piece_len(const struct blob_layout *l, uint64_t b)
{
	uint32_t bl = layout_block_len(l, b);
	return (bl + l->k - 1) / l->k;
}

uint64_t layout_piece_off(const struct blob_layout *l, uint64_t b, uint32_t hdr_len)
{
	uint64_t full = (l->block_size + l->k - 1) / l->k;
	return hdr_len + b * (layout_ck_len(l) + full);
}

uint64_t piece_cksum(int alg, uint64_t block, int shard, const void *buf, size_t len)
{
	uint64_t seed = block * 0x9E3779B97F4A7C15ULL + (uint64_t)shard + 1;
	if (alg == DATA_CK_XXH3)
		return XXH3_64bits_withSeed(buf, len, seed);
	return cn_crc32c((uint32_t)(seed ^ (seed >> 32)), buf, len);
}

void piece_cksum_put(int alg, uint64_t v, uint8_t *out)
{
	if (alg == DATA_CK_XXH3)
		put64(out, v);
	else
		put32(out, (uint32_t)v);
}

uint64_t piece_cksum_get(int alg, const uint8_t *in)
{
	return alg == DATA_CK_XXH3 ? get64(in) : get32(in);
}

void data_layout_default(int n, uint8_t *k, uint8_t *m)
{
	static const uint8_t tab[][2] = {{1, 0}, {1, 0}, {1, 1}, {1, 2}, {2, 2},
					 {3, 2}, {4, 2}, {4, 2}, {6, 2}};
	if (n < 1)
		n = 1;
	if (n > 8)
		n = 8;
	*k = tab[n][0];
	*m = tab[n][1];
}

uint64_t blob_shard_bytes(const struct blob_layout *l)
{
	uint64_t nb = layout_nblocks(l), bytes = 0;
	if (nb == 0)
		return 0;
	/* every block but the last is full */
	bytes = (nb - 1) * (layout_ck_len(l) + (uint64_t)layout_piece_len(l, 0));
	return bytes + layout_ck_len(l) + layout_piece_len(l, nb - 1);
}

int blob_shard_on(const struct blob_layout *l, const uint8_t id[DATA_ID_LEN])
{
	for (int i = 0; i < l->k + l->m && i < DATA_MAX_SHARDS; i++)
		if (memcmp(l->drive[i], id, DATA_ID_LEN) == 0)
			return i;
	return -1;
}
