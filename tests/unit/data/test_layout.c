/* Unit tests for data/layout.c and data/ec.c: the blob layout codec, the
 * shard header codec, geometry, and every erasure pattern of RS decode. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "data_test.h"

#include "core/err.h"
#include "data/data_int.h"

static void sample_layout(struct blob_layout *l, int k, int m)
{
	memset(l, 0, sizeof(*l));
	fill(l->id, DATA_ID_LEN, 7);
	l->k = (uint8_t)k;
	l->m = (uint8_t)m;
	l->cksum = DATA_CK_CRC32C;
	l->block_size = 1 << 20;
	l->size = 123456789;
	for (int i = 0; i < k + m; i++)
		fill(l->drive[i], DATA_ID_LEN, 100 + i);
}

static void test_layout_roundtrip(void **state)
{
	(void)state;
	int km[][2] = {{1, 0}, {1, 1}, {1, 2}, {2, 2}, {4, 2}, {6, 2}, {12, 4}};
	for (size_t t = 0; t < sizeof(km) / sizeof(km[0]); t++) {
		struct blob_layout l, d;
		uint8_t buf[DATA_LAYOUT_MAX];
		sample_layout(&l, km[t][0], km[t][1]);
		int n = blob_layout_encode(&l, buf, sizeof(buf));
		assert_true(n > 0 && n <= DATA_LAYOUT_MAX);
		assert_int_equal(n, 36 + 16 * (km[t][0] + km[t][1]));
		assert_int_equal(blob_layout_decode(buf, (size_t)n, &d), 0);
		assert_memory_equal(&l, &d, sizeof(l));
		/* Every truncation and extension is refused. */
		for (int cut = 0; cut < n; cut++)
			assert_int_not_equal(blob_layout_decode(buf, (size_t)cut, &d), 0);
		assert_int_not_equal(blob_layout_decode(buf, (size_t)n + 1, &d), 0);
		/* Every single bit flip is refused (CRC or version). */
		for (int i = 0; i < n; i++) {
			for (int bit = 0; bit < 8; bit++) {
				buf[i] ^= (uint8_t)(1 << bit);
				assert_int_not_equal(blob_layout_decode(buf, (size_t)n, &d), 0);
				buf[i] ^= (uint8_t)(1 << bit);
			}
		}
		assert_int_equal(blob_layout_encode(&l, buf, (size_t)n - 1), CN_ETOOBIG);
	}
}

static void test_layout_version_and_limits(void **state)
{
	(void)state;
	struct blob_layout l, d;
	uint8_t buf[DATA_LAYOUT_MAX];
	sample_layout(&l, 2, 2);
	int n = blob_layout_encode(&l, buf, sizeof(buf));
	buf[0] = 2;
	assert_int_equal(blob_layout_decode(buf, (size_t)n, &d), CN_EFORMAT);
	l.k = 0;
	assert_int_equal(blob_layout_encode(&l, buf, sizeof(buf)), CN_EINVAL);
	l.k = 15;
	l.m = 2;
	assert_int_equal(blob_layout_encode(&l, buf, sizeof(buf)), CN_EINVAL);
	l.k = 2;
	l.cksum = 9;
	assert_int_equal(blob_layout_encode(&l, buf, sizeof(buf)), CN_EINVAL);
	assert_int_equal(blob_layout_decode(buf, 0, &d), CN_ECORRUPT);
}

static void test_shard_header(void **state)
{
	(void)state;
	struct shard_header h, d;
	uint8_t buf[SHARD_HDR_MAX];
	memset(&h, 0, sizeof(h));
	fill(h.blob_id, 16, 3);
	h.shard = 3;
	h.k = 4;
	h.m = 2;
	h.cksum = DATA_CK_XXH3;
	h.block_size = 65536;
	h.size = 1000000;
	h.part_number = 7;
	strcpy(h.bucket, "bucket");
	h.bucket_len = 6;
	memset(h.key, 'k', DATA_KEY_MAX);
	h.key_len = DATA_KEY_MAX;
	strcpy(h.version, "v1");
	h.version_len = 2;
	int n = shard_header_encode(&h, buf, sizeof(buf));
	assert_int_equal(n, SHARD_HDR_FIXED + 6 + DATA_KEY_MAX + 2 + 4);
	assert_int_equal(shard_header_decode(buf, (size_t)n, &d), 0);
	assert_int_equal(d.hdr_len, n);
	assert_string_equal(d.bucket, "bucket");
	assert_int_equal(d.key_len, DATA_KEY_MAX);
	assert_memory_equal(d.key, h.key, DATA_KEY_MAX);
	assert_string_equal(d.version, "v1");
	assert_int_equal(d.part_number, 7);
	assert_int_equal(d.size, 1000000);
	assert_int_equal(d.shard, 3);
	for (int cut = 0; cut < n; cut++)
		assert_int_not_equal(shard_header_decode(buf, (size_t)cut, &d), 0);
	for (int i = 0; i < n; i += 7) {
		buf[i] ^= 0x40;
		assert_int_not_equal(shard_header_decode(buf, (size_t)n, &d), 0);
		buf[i] ^= 0x40;
	}
	/* Shard index out of range, even with a valid CRC, is refused. */
	h.shard = 6;
	n = shard_header_encode(&h, buf, sizeof(buf));
	assert_int_equal(shard_header_decode(buf, (size_t)n, &d), CN_ECORRUPT);
}

static void test_geometry(void **state)
{
	(void)state;
	struct blob_layout l;
	sample_layout(&l, 4, 2);
	l.block_size = 1000;
	l.size = 2501;
	assert_int_equal(layout_nblocks(&l), 3);
	assert_int_equal(layout_block_len(&l, 0), 1000);
	assert_int_equal(layout_block_len(&l, 2), 501);
	assert_int_equal(layout_piece_len(&l, 0), 250);
	assert_int_equal(layout_piece_len(&l, 2), 126);
	assert_int_equal(layout_piece_off(&l, 2, 100), 100 + 2 * (4 + 250));
	l.size = 0;
	assert_int_equal(layout_nblocks(&l), 0);
	/* A piece checksum depends on the position. */
	uint8_t p[64];
	fill(p, sizeof(p), 1);
	assert_true(piece_cksum(DATA_CK_CRC32C, 0, 0, p, 64) !=
		    piece_cksum(DATA_CK_CRC32C, 1, 0, p, 64));
	assert_true(piece_cksum(DATA_CK_XXH3, 0, 0, p, 64) !=
		    piece_cksum(DATA_CK_XXH3, 0, 1, p, 64));
}

static void test_default_layouts(void **state)
{
	(void)state;
	int want[][2] = {{1, 0}, {1, 0}, {1, 1}, {1, 2}, {2, 2},
			 {3, 2}, {4, 2}, {4, 2}, {6, 2}, {6, 2}};
	for (int n = 0; n < 10; n++) {
		uint8_t k, m;
		data_layout_default(n, &k, &m);
		assert_int_equal(k, want[n][0]);
		assert_int_equal(m, want[n][1]);
	}
}

/* Encodes random data and rebuilds it from every subset of at most m
 * erasures; m + 1 erasures fail cleanly. */
static void check_all_erasures(int k, int m, size_t len)
{
	struct data_ec ec;
	int n = k + m;
	uint8_t *orig[DATA_MAX_SHARDS], *work[DATA_MAX_SHARDS];
	assert_int_equal(data_ec_init(&ec, k, m), 0);
	for (int i = 0; i < n; i++) {
		orig[i] = malloc(len + 1);
		work[i] = malloc(len + 1);
		if (i < k)
			fill(orig[i], len, (uint64_t)(k * 100 + i));
	}
	data_ec_encode(&ec, len, orig, orig + k);
	if (k == 1)
		for (int j = 1; j < n; j++)
			assert_memory_equal(orig[0], orig[j], len); /* true mirrors */
	int tested = 0;
	for (unsigned lost = 0; lost < (1u << n); lost++) {
		int nl = __builtin_popcount(lost);
		for (int i = 0; i < n; i++) {
			memcpy(work[i], orig[i], len);
			if (lost & (1u << i))
				memset(work[i], 0xee, len);
		}
		unsigned present = ((1u << n) - 1) & ~lost;
		int rc = data_ec_rebuild(&ec, len, work, present, lost);
		if (nl > m) {
			assert_int_equal(rc, CN_EDATALOST);
			continue;
		}
		assert_int_equal(rc, 0);
		for (int i = 0; i < n; i++)
			assert_memory_equal(work[i], orig[i], len);
		tested++;
	}
	assert_true(tested > 0);
	for (int i = 0; i < n; i++) {
		free(orig[i]);
		free(work[i]);
	}
	data_ec_release(&ec);
}

static void test_ec_every_erasure(void **state)
{
	(void)state;
	int km[][2] = {{1, 0}, {1, 1}, {1, 2}, {2, 1}, {2, 2}, {3, 2}, {4, 2}, {6, 2}, {8, 4}};
	size_t lens[] = {1, 15, 64, 1000, 4099};
	for (size_t t = 0; t < sizeof(km) / sizeof(km[0]); t++)
		for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++)
			check_all_erasures(km[t][0], km[t][1], lens[j]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_roundtrip),
		cmocka_unit_test(test_layout_version_and_limits),
		cmocka_unit_test(test_shard_header),
		cmocka_unit_test(test_geometry),
		cmocka_unit_test(test_default_layouts),
		cmocka_unit_test(test_ec_every_erasure),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests_name("data_layout", tests, NULL, NULL);
}
