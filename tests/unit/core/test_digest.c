/* Unit tests for core/digest: known check values, HMAC vectors and base64 edge cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/digest.h"

static void test_crc_check_values(void **state)
{
	(void)state;
	const char *s = "123456789";
	assert_int_equal(cn_crc32(0, s, 9), 0xCBF43926u);
	assert_int_equal(cn_crc32c(0, s, 9), 0xE3069283u);
	assert_true(cn_crc64nvme(0, s, 9) == 0xAE8B14860A799888ULL);
}

static void test_crc_streaming_equals_oneshot(void **state)
{
	(void)state;
	uint8_t buf[1000];
	for (int i = 0; i < 1000; i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	for (size_t cut = 0; cut <= 1000; cut += 37) {
		assert_int_equal(cn_crc32(cn_crc32(0, buf, cut), buf + cut, 1000 - cut),
				 cn_crc32(0, buf, 1000));
		assert_int_equal(cn_crc32c(cn_crc32c(0, buf, cut), buf + cut, 1000 - cut),
				 cn_crc32c(0, buf, 1000));
		assert_true(cn_crc64nvme(cn_crc64nvme(0, buf, cut), buf + cut, 1000 - cut) ==
			    cn_crc64nvme(0, buf, 1000));
	}
}

/* Bit-at-a-time CRC-64/NVME straight from its definition, to check the fast
 * paths (the carry-less-multiply folding takes buffers of 256 bytes and up,
 * the table the rest) at every length around their edges and alignment. */
static uint64_t crc64nvme_ref(const uint8_t *p, size_t len)
{
	uint64_t crc = ~0ULL;
	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int b = 0; b < 8; b++)
			crc = (crc & 1) ? (crc >> 1) ^ 0x9a6c9329ac4bc9b5ULL : crc >> 1;
	}
	return ~crc;
}

static void test_crc64nvme_lengths_and_alignment(void **state)
{
	(void)state;
	static uint8_t buf[4096 + 16];
	uint32_t seed = 12345;
	for (size_t i = 0; i < sizeof(buf); i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (uint8_t)(seed >> 16);
	}
	for (size_t off = 0; off < 16; off += 5)
		for (size_t len = 0; len <= 1100; len++)
			assert_true(cn_crc64nvme(0, buf + off, len) ==
				    crc64nvme_ref(buf + off, len));
	for (size_t len = 1100; len <= 4096; len += 127)
		assert_true(cn_crc64nvme(0, buf + 3, len) == crc64nvme_ref(buf + 3, len));
	/* a running CRC carried into the fast path */
	for (size_t cut = 0; cut <= 4096; cut += 301)
		assert_true(cn_crc64nvme(cn_crc64nvme(0, buf, cut), buf + cut, 4096 - cut) ==
			    crc64nvme_ref(buf, 4096));
	memset(buf, 0, sizeof(buf));
	assert_true(cn_crc64nvme(0, buf, 4096) == crc64nvme_ref(buf, 4096));
	memset(buf, 0xff, sizeof(buf));
	assert_true(cn_crc64nvme(0, buf, 4096) == crc64nvme_ref(buf, 4096));
}

/* crc(A||B) from crc(A), crc(B) and len(B), for every cut and algorithm. */
static void test_checksum_combine(void **state)
{
	(void)state;
	static const enum cn_checksum_alg algs[] = {CN_CK_CRC32, CN_CK_CRC32C, CN_CK_CRC64NVME};
	uint8_t buf[1000];
	for (int i = 0; i < 1000; i++)
		buf[i] = (uint8_t)(i * 13 + 1);
	for (size_t k = 0; k < 3; k++)
		for (size_t cut = 0; cut <= 1000; cut += 37) {
			uint8_t acc[CN_CHECKSUM_MAX], b[CN_CHECKSUM_MAX], whole[CN_CHECKSUM_MAX];
			size_t n = cn_checksum_buf(algs[k], buf, cut, acc);
			assert_int_equal(cn_checksum_buf(algs[k], buf + cut, 1000 - cut, b), n);
			assert_int_equal(cn_checksum_buf(algs[k], buf, 1000, whole), n);
			assert_int_equal(cn_checksum_combine(algs[k], acc, b, 1000 - cut), 0);
			assert_memory_equal(acc, whole, n);
		}
	uint8_t x[32] = {0};
	assert_int_equal(cn_checksum_combine(CN_CK_SHA256, x, x, 1), -1);
}

/* The reference for long lengths: zlib's original GF(2) matrix method,
 * one bit of len at a time (slow, independent of the code under test). */
static uint64_t ref_times(const uint64_t *mat, uint64_t vec)
{
	uint64_t sum = 0;
	for (; vec; vec >>= 1, mat++)
		if (vec & 1)
			sum ^= *mat;
	return sum;
}

static uint64_t ref_combine(uint64_t crc1, uint64_t crc2, uint64_t len2, uint64_t poly, int width)
{
	uint64_t op[64], sq[64], row = 1;

	op[0] = poly; /* one zero bit */
	for (int n = 1; n < width; n++, row <<= 1)
		op[n] = row;
	for (int s = 0; s < 3; s++) { /* eight zero bits */
		for (int n = 0; n < width; n++)
			sq[n] = ref_times(op, op[n]);
		memcpy(op, sq, sizeof(op));
	}
	for (; len2; len2 >>= 1) {
		if (len2 & 1)
			crc1 = ref_times(op, crc1);
		for (int n = 0; n < width; n++)
			sq[n] = ref_times(op, op[n]);
		memcpy(op, sq, sizeof(op));
	}
	return crc1 ^ crc2;
}

/* Lengths of parts up to S3's 5 GiB and objects up to 5 TiB and past. */
static void test_checksum_combine_long(void **state)
{
	(void)state;
	static const struct {
		enum cn_checksum_alg alg;
		uint64_t poly;
		int width;
	} a[] = {{CN_CK_CRC32, 0xEDB88320u, 32},
		 {CN_CK_CRC32C, 0x82F63B78u, 32},
		 {CN_CK_CRC64NVME, 0x9A6C9329AC4BC9B5ull, 64}};
	static const uint64_t lens[] = {
		1, 7, 8ull << 20, (5ull << 30) + 3, 5ull << 40, UINT64_MAX / 8};
	for (size_t k = 0; k < 3; k++)
		for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
			uint64_t c1 = 0x0123456789abcdefull * (k + 1) + l, c2 = ~c1 * 31;
			uint8_t acc[8], b[8];
			int w = a[k].width / 8;
			if (w == 4) {
				c1 &= 0xffffffffu;
				c2 &= 0xffffffffu;
			}
			for (int i = 0; i < w; i++) {
				acc[i] = (uint8_t)(c1 >> (a[k].width - 8 - 8 * i));
				b[i] = (uint8_t)(c2 >> (a[k].width - 8 - 8 * i));
			}
			assert_int_equal(cn_checksum_combine(a[k].alg, acc, b, lens[l]), 0);
			uint64_t got = 0,
				 want = ref_combine(c1, c2, lens[l], a[k].poly, a[k].width);
			for (int i = 0; i < w; i++)
				got = got << 8 | acc[i];
			assert_true(got == want);
		}
}

static void test_digest_md5_sha256(void **state)
{
	(void)state;
	struct cn_digest d;
	struct cn_digest_result r;
	char hex[65];
	assert_int_equal(cn_digest_init(&d, CN_DIG_MD5 | CN_DIG_SHA256 | CN_DIG_CRC32), 0);
	cn_digest_update(&d, "ab", 2);
	cn_digest_update(&d, "c", 1);
	cn_digest_final(&d, &r);
	cn_digest_release(&d);
	cn_hex(r.md5, 16, hex);
	assert_string_equal(hex, "900150983cd24fb0d6963f7d28e17f72");
	cn_hex(r.sha256, 32, hex);
	assert_string_equal(hex,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(r.len, 3);
	uint8_t raw[8];
	assert_int_equal(cn_checksum_raw(CN_CK_CRC32, &r, raw), 4);
	assert_int_equal(raw[0], (r.crc32 >> 24) & 0xff);
}

/* RFC 2202 test case 2 (HMAC-SHA1) and RFC 4231 test case 2 (HMAC-SHA256). */
static void test_hmac(void **state)
{
	(void)state;
	const char *key = "Jefe", *msg = "what do ya want for nothing?";
	uint8_t mac[32];
	char hex[65];
	cn_hmac_sha1(key, strlen(key), msg, strlen(msg), mac);
	cn_hex(mac, 20, hex);
	assert_string_equal(hex, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
	cn_hmac_sha256(key, strlen(key), msg, strlen(msg), mac);
	cn_hex(mac, 32, hex);
	assert_string_equal(hex,
			    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

/* RFC 2202 test cases 1 and 2. */
static void test_hmac_sha1(void **state)
{
	(void)state;
	uint8_t key[20], mac[20];
	char hex[41];
	memset(key, 0x0b, sizeof(key));
	cn_hmac_sha1(key, sizeof(key), "Hi There", 8, mac);
	cn_hex(mac, 20, hex);
	assert_string_equal(hex, "b617318655057264e28bc0b6fb378c8ef146be00");
	cn_hmac_sha1("Jefe", 4, "what do ya want for nothing?", 28, mac);
	cn_hex(mac, 20, hex);
	assert_string_equal(hex, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
}

/* Keys longer than the 64-byte block are hashed first: RFC 4231 test case 6
 * (HMAC-SHA256) and RFC 2202 test case 6 (HMAC-SHA1). */
static void test_hmac_long_key(void **state)
{
	(void)state;
	uint8_t key[131], mac[32];
	char hex[65];
	const char *msg = "Test Using Larger Than Block-Size Key - Hash Key First";
	memset(key, 0xaa, sizeof(key));
	cn_hmac_sha256(key, 131, msg, strlen(msg), mac);
	cn_hex(mac, 32, hex);
	assert_string_equal(hex,
			    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
	cn_hmac_sha1(key, 80, msg, strlen(msg), mac);
	cn_hex(mac, 20, hex);
	assert_string_equal(hex, "aa4ae5e15272d00e95705637ce8a3b55ed402112");
}

/* The helpers against OpenSSL's own one-shot calls, across the key lengths
 * around the block size and message lengths around it. */
static void test_oneshot_match_openssl(void **state)
{
	(void)state;
	uint8_t buf[300], a[32], b[32];
	unsigned int n;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 31 + 7);
	for (size_t klen = 0; klen <= 130; klen++) {
		for (size_t mlen = 0; mlen <= 140; mlen += 7) {
			cn_hmac_sha256(buf + 5, klen, buf + 150, mlen, a);
			HMAC(EVP_sha256(), buf + 5, (int)klen, buf + 150, mlen, b, &n);
			assert_memory_equal(a, b, 32);
			cn_hmac_sha1(buf + 5, klen, buf + 150, mlen, a);
			HMAC(EVP_sha1(), buf + 5, (int)klen, buf + 150, mlen, b, &n);
			assert_memory_equal(a, b, 20);
		}
	}
	for (size_t len = 0; len <= sizeof(buf); len += 13) {
		cn_sha256(buf, len, a);
		EVP_Digest(buf, len, b, &n, EVP_sha256(), NULL);
		assert_memory_equal(a, b, 32);
		cn_md5(buf, len, a);
		EVP_Digest(buf, len, b, &n, EVP_md5(), NULL);
		assert_memory_equal(a, b, 16);
	}
}

/* Each thread hashes with its own context; a thread that exits frees its
 * context (AddressSanitizer's leak check runs over these). */
static void *hash_thread(void *arg)
{
	uint8_t mac[32], want[32];
	unsigned int n;
	int *bad = arg;
	char key[] = "per-thread key";
	for (int i = 0; i < 2000; i++) {
		char msg[32];
		int len = snprintf(msg, sizeof(msg), "message %d", i);
		cn_hmac_sha256(key, strlen(key), msg, (size_t)len, mac);
		HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)msg, (size_t)len,
		     want, &n);
		if (memcmp(mac, want, 32) != 0)
			(*bad)++;
	}
	return NULL;
}

static void test_oneshot_threads(void **state)
{
	(void)state;
	pthread_t t[4];
	int bad[4] = {0};
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hash_thread, &bad[i]), 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(bad[i], 0);
	}
}

static void test_base64(void **state)
{
	(void)state;
	const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	const char *want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	char out[32];
	uint8_t dec[32];
	for (int i = 0; i < 7; i++) {
		assert_int_equal(
			cn_b64_encode((const uint8_t *)in[i], strlen(in[i]), out, sizeof(out)),
			strlen(want[i]));
		assert_string_equal(out, want[i]);
		long n = cn_b64_decode(want[i], strlen(want[i]), dec, sizeof(dec));
		assert_int_equal(n, strlen(in[i]));
		assert_memory_equal(dec, in[i], n);
	}
	assert_int_equal(cn_b64_decode("Zm9", 3, dec, sizeof(dec)), -1);
	assert_int_equal(cn_b64_decode("Zm=v", 4, dec, sizeof(dec)), -1);
	assert_int_equal(cn_b64_decode("Z!9v", 4, dec, sizeof(dec)), -1);
	assert_int_equal(cn_b64_decode("A===", 4, dec, sizeof(dec)), -1);
	assert_int_equal(cn_checksum_alg_parse("CRC64NVME", 9), CN_CK_CRC64NVME);
	assert_int_equal(cn_checksum_alg_parse("crc32c", 6), CN_CK_CRC32C);
	assert_int_equal(cn_checksum_alg_parse("md5", 3), CN_CK_NONE);
}

/* The decoder never writes past its capacity, whatever the input length:
 * the security review's crash was a 4000-byte Content-MD5 decoded into 24
 * bytes of stack. Guard bytes around the output catch any overrun. */
static void test_base64_capacity(void **state)
{
	(void)state;
	uint8_t buf[16 + 32];
	char big[4001], enc[16];
	memset(big, 'Q', 4000);
	big[4000] = 0;
	memset(buf, 0xAB, sizeof(buf));
	assert_int_equal(cn_b64_decode(big, 4000, buf, 16), -1);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0xAB); /* nothing written at all */
	/* exactly fitting, one byte over, padded forms at the boundary */
	assert_int_equal(cn_b64_decode("AAAAAA==", 8, buf, 4), 4);
	assert_int_equal(cn_b64_decode("AAAAAAA=", 8, buf, 4), -1);
	assert_int_equal(cn_b64_decode("AAAAAAA=", 8, buf, 5), 5);
	assert_int_equal(buf[5], 0xAB);
	assert_int_equal(cn_b64_decode("", 0, buf, 0), 0);
	/* encode refuses a short buffer and leaves it a valid empty string */
	assert_int_equal(cn_b64_encode((const uint8_t *)"foobar", 6, enc, 8), 0); /* needs 9 */
	assert_string_equal(enc, "");
	assert_int_equal(cn_b64_encode((const uint8_t *)"foob", 4, enc, 9), 8);
	assert_int_equal(cn_checksum_alg_len(CN_CK_CRC32), 4);
	assert_int_equal(cn_checksum_alg_len(CN_CK_CRC64NVME), 8);
	assert_int_equal(cn_checksum_alg_len(CN_CK_SHA256), CN_CHECKSUM_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc_check_values),
		cmocka_unit_test(test_crc_streaming_equals_oneshot),
		cmocka_unit_test(test_crc64nvme_lengths_and_alignment),
		cmocka_unit_test(test_checksum_combine),
		cmocka_unit_test(test_checksum_combine_long),
		cmocka_unit_test(test_digest_md5_sha256),
		cmocka_unit_test(test_hmac),
		cmocka_unit_test(test_hmac_sha1),
		cmocka_unit_test(test_hmac_long_key),
		cmocka_unit_test(test_oneshot_match_openssl),
		cmocka_unit_test(test_oneshot_threads),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_base64_capacity),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests_name("core/digest", tests, NULL, NULL);
}
