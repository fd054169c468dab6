/* Unit tests for core/crypt: key wrapping, sealed streams (round trips at
 * every size around a frame, tamper, truncation and reorder detection),
 * the inline form and fingerprints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/crypt.h"
#include "core/err.h"

#define F CN_SEAL_FRAME

static const uint8_t ID[CN_SEAL_ID] = "blob-id-0123456";

struct sink {
	uint8_t *p;
	size_t len, cap;
};

static int emit(void *arg, const void *p, size_t len)
{
	struct sink *s = arg;
	if (s->len + len > s->cap)
		return CN_ETOOBIG;
	memcpy(s->p + s->len, p, len);
	s->len += len;
	return 0;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 131u + seed * 7u) >> 3);
}

/* Seals n bytes fed in chunks of `chunk`; returns the sealed stream. */
static uint8_t *seal(const uint8_t dk[32], const uint8_t *pt, size_t n, size_t chunk,
		     size_t *out_len)
{
	struct cn_sealer s;
	struct sink k = {.cap = cn_seal_size(n)};
	k.p = malloc(k.cap ? k.cap : 1);
	assert_non_null(k.p);
	assert_int_equal(cn_sealer_init(&s, dk, ID), 0);
	for (size_t off = 0; off < n; off += chunk)
		assert_int_equal(
			cn_sealer_update(&s, pt + off, n - off < chunk ? n - off : chunk, emit, &k),
			0);
	assert_int_equal(cn_sealer_final(&s, emit, &k), 0);
	cn_sealer_release(&s);
	assert_int_equal(k.len, cn_seal_size(n));
	*out_len = k.len;
	return k.p;
}

/* Opens frames [first, last] of a sealed copy of blob id; returns the rc. */
static int open_id(const uint8_t dk[32], const uint8_t *id, const uint8_t *ct, size_t ct_len,
		   uint64_t size, uint64_t first, uint64_t last, uint8_t *out, size_t *got)
{
	struct cn_opener o;
	uint64_t a = cn_seal_frame_off(first);
	uint64_t b = last + 1 >= cn_seal_frames(size) ? ct_len : cn_seal_frame_off(last + 1);
	uint8_t *buf = malloc(b - a + 1);
	int rc;

	assert_non_null(buf);
	memcpy(buf, ct + a, b - a);
	rc = cn_opener_init(&o, dk, id, size);
	if (!rc)
		rc = cn_opener_frames(&o, first, buf, b - a, got);
	if (!rc)
		memcpy(out, buf, *got);
	cn_opener_release(&o);
	free(buf);
	return rc;
}

static int open_range(const uint8_t dk[32], const uint8_t *ct, size_t ct_len, uint64_t size,
		      uint64_t first, uint64_t last, uint8_t *out, size_t *got)
{
	return open_id(dk, ID, ct, ct_len, size, first, last, out, got);
}

static void test_wrap_roundtrip_and_tamper(void **state)
{
	uint8_t kek[32], k[32], w[CN_WRAP_LEN], back[32], other[32];
	(void)state;

	fill(kek, 32, 1);
	fill(k, 32, 2);
	assert_int_equal(cn_key_wrap(kek, "p", 1, k, w), 0);
	assert_int_equal(cn_key_unwrap(kek, "p", 1, w, back), 0);
	assert_memory_equal(back, k, 32);
	/* another purpose, another kek, any flipped bit: refused */
	assert_int_equal(cn_key_unwrap(kek, "q", 1, w, back), CN_EDECRYPT);
	memcpy(other, kek, 32);
	other[0] ^= 1;
	assert_int_equal(cn_key_unwrap(other, "p", 1, w, back), CN_EDECRYPT);
	for (int i = 0; i < CN_WRAP_LEN; i++) {
		w[i] ^= 0x20;
		assert_int_equal(cn_key_unwrap(kek, "p", 1, w, back), CN_EDECRYPT);
		w[i] ^= 0x20;
	}
	/* two wraps of one key differ (random nonce) */
	{
		uint8_t w2[CN_WRAP_LEN];
		assert_int_equal(cn_key_wrap(kek, "p", 1, k, w2), 0);
		assert_memory_not_equal(w, w2, CN_WRAP_LEN);
	}
}

static void test_stream_sizes(void **state)
{
	static const size_t sizes[] = {0, 1, 15, 16, 17, F - 1, F, F + 1, 2 * F, 3 * F + 5};
	static const size_t chunks[] = {1, 7, 4096, F, F + 3, 1 << 20};
	uint8_t dk[32];
	(void)state;

	fill(dk, 32, 9);
	for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		size_t n = sizes[si];
		uint8_t *pt = malloc(n + 1), *back = malloc(n + 1);
		fill(pt, n, (unsigned)si);
		for (size_t ci = 0; ci < sizeof(chunks) / sizeof(chunks[0]); ci++) {
			size_t clen, got = 0;
			if (n > 100000 && chunks[ci] < 4096)
				continue;
			uint8_t *ct = seal(dk, pt, n, chunks[ci], &clen);
			uint64_t nf = cn_seal_frames(n);
			assert_int_equal(open_range(dk, ct, clen, n, 0, nf - 1, back, &got), 0);
			assert_int_equal(got, n);
			if (n)
				assert_memory_equal(back, pt, n);
			/* every single frame alone */
			for (uint64_t i = 0; i < nf; i++) {
				assert_int_equal(open_range(dk, ct, clen, n, i, i, back, &got), 0);
				size_t want = n - i * F < F ? n - i * F : F;
				assert_int_equal(got, want);
				if (want)
					assert_memory_equal(back, pt + i * F, want);
			}
			free(ct);
		}
		free(pt);
		free(back);
	}
}

static void test_stream_tamper_truncate_reorder(void **state)
{
	uint8_t dk[32], *pt, *out;
	size_t n = 3 * F + 100, clen, got;
	(void)state;

	fill(dk, 32, 3);
	pt = malloc(n);
	out = malloc(n);
	fill(pt, n, 5);
	uint8_t *ct = seal(dk, pt, n, 1000, &clen);

	/* frames fill 64 KiB slots: the data path's blocks hold whole frames */
	assert_int_equal(cn_seal_frame_off(16), 1u << 20);
	assert_int_equal(clen, n + 4 * CN_SEAL_TAG);
	/* a flipped byte anywhere in a frame or its tag */
	for (size_t pos = 0; pos < clen; pos += 4099) {
		ct[pos] ^= 1;
		assert_int_equal(open_range(dk, ct, clen, n, 0, 3, out, &got), CN_EDECRYPT);
		ct[pos] ^= 1;
	}
	/* the same bytes under another blob id: another stream key */
	{
		uint8_t other[CN_SEAL_ID];
		memcpy(other, ID, sizeof(other));
		other[3] ^= 1;
		assert_int_equal(open_id(dk, other, ct, clen, n, 0, 0, out, &got), CN_EDECRYPT);
		assert_int_equal(open_id(dk, ID, ct, clen, n, 0, 0, out, &got), 0);
	}
	/* another data key */
	{
		uint8_t bad[32];
		memcpy(bad, dk, 32);
		bad[31] ^= 0x80;
		assert_int_equal(open_range(bad, ct, clen, n, 0, 0, out, &got), CN_EDECRYPT);
	}
	/* truncation: the stream cut after whole frames claims the smaller size;
	 * its last frame was not sealed as the last */
	assert_int_equal(open_range(dk, ct, cn_seal_frame_off(2), 2 * F, 0, 1, out, &got),
			 CN_EDECRYPT);
	/* reorder: frame 1 presented as frame 0 */
	{
		uint8_t *sw = malloc(clen);
		memcpy(sw, ct, clen);
		memcpy(sw + cn_seal_frame_off(0), ct + cn_seal_frame_off(1), F + CN_SEAL_TAG);
		memcpy(sw + cn_seal_frame_off(1), ct + cn_seal_frame_off(0), F + CN_SEAL_TAG);
		assert_int_equal(open_range(dk, sw, clen, n, 0, 0, out, &got), CN_EDECRYPT);
		assert_int_equal(open_range(dk, sw, clen, n, 1, 1, out, &got), CN_EDECRYPT);
		free(sw);
	}
	/* a frame presented with the wrong size claim (last flag moved) */
	assert_int_equal(open_range(dk, ct, clen, n + 1, 3, 3, out, &got), CN_EINVAL);
	free(ct);
	free(pt);
	free(out);
}

static void test_whole(void **state)
{
	uint8_t dk[32], hdr[CN_SEAL_HDR], tag[CN_SEAL_TAG], pt[1000], buf[1000];
	(void)state;

	fill(dk, 32, 11);
	fill(pt, sizeof(pt), 12);
	for (size_t n = 0; n <= sizeof(pt); n += 333) {
		memcpy(buf, pt, n);
		assert_int_equal(cn_seal_whole(dk, buf, n, buf, hdr, tag), 0);
		if (n)
			assert_memory_not_equal(buf, pt, n);
		assert_int_equal(cn_open_whole(dk, buf, n, buf, hdr, tag), 0);
		if (n)
			assert_memory_equal(buf, pt, n);
		assert_int_equal(cn_seal_whole(dk, buf, n, buf, hdr, tag), 0);
		tag[3] ^= 1;
		assert_int_equal(cn_open_whole(dk, buf, n, buf, hdr, tag), CN_EDECRYPT);
		tag[3] ^= 1;
		if (n) {
			buf[n - 1] ^= 1;
			assert_int_equal(cn_open_whole(dk, buf, n, buf, hdr, tag), CN_EDECRYPT);
		}
	}
}

static void test_fingerprint_and_master_key(void **state)
{
	uint8_t k[32], k2[32];
	char fp[CN_FP_LEN + 1], fp2[CN_FP_LEN + 1];
	char dir[] = "/tmp/cairn-crypt-XXXXXX", sub[256], path[300];
	struct stat st;
	int src;
	(void)state;

	/* a known fingerprint: stable across builds and releases */
	memset(k, 0, 32);
	cn_key_fingerprint(k, fp);
	assert_int_equal(strlen(fp), CN_FP_LEN);
	cn_key_fingerprint(k, fp2);
	assert_string_equal(fp, fp2);
	k[0] = 1;
	cn_key_fingerprint(k, fp2);
	assert_string_not_equal(fp, fp2);

	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/.cairn", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	unsetenv("CAIRN_KMS_MASTER_KEY");
	assert_int_equal(cn_master_key_load(dir, k, &src), 0);
	assert_int_equal(src, 2);
	snprintf(path, sizeof(path), "%s/master.key", sub);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(cn_master_key_load(dir, k2, &src), 0);
	assert_int_equal(src, 1);
	assert_memory_equal(k, k2, 32);
	/* the environment wins */
	setenv("CAIRN_KMS_MASTER_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", 1);
	assert_int_equal(cn_master_key_load(dir, k2, &src), 0);
	assert_int_equal(src, 0);
	for (int i = 0; i < 32; i++)
		assert_int_equal(k2[i], i);
	setenv("CAIRN_KMS_MASTER_KEY", "c2hvcnQ=", 1);
	assert_int_equal(cn_master_key_load(dir, k2, &src), CN_EINVAL);
	unsetenv("CAIRN_KMS_MASTER_KEY");
	unlink(path);
	rmdir(sub);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wrap_roundtrip_and_tamper),
		cmocka_unit_test(test_stream_sizes),
		cmocka_unit_test(test_stream_tamper_truncate_reorder),
		cmocka_unit_test(test_whole),
		cmocka_unit_test(test_fingerprint_and_master_key),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
