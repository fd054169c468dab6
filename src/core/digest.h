/*
 * core/digest.h — whole-body digests computed in one streaming pass:
 * MD5 (the S3 ETag), SHA-256, and the S3 additional checksums CRC32, CRC32C,
 * CRC64NVME and SHA-1. Also base64 and hex helpers used by S3 headers.
 *
 * Layer: core (OpenSSL for MD5/SHA, ISA-L for CRC32/CRC32C; CRC64NVME is
 * computed here because Debian 12's ISA-L 2.30 lacks it: carry-less-multiply
 * folding on x86-64 CPUs with PCLMULQDQ and AVX, slice-by-8 tables elsewhere
 * and for short buffers).
 *
 * Ownership: struct cn_digest is embedded by the caller (_init/_release);
 * it owns OpenSSL contexts until cn_digest_release(). Thread rules: one
 * digest is used by one thread at a time. Global state is set up once under
 * pthread_once (CRC tables, the fetched hash algorithms); the one-shot
 * helpers reuse one OpenSSL context per calling thread, freed when the
 * thread exits.
 */
#ifndef CAIRN_CORE_DIGEST_H
#define CAIRN_CORE_DIGEST_H

#include <stddef.h>
#include <stdint.h>

/* Bit set of algorithms to compute. */
enum cn_digest_alg {
	CN_DIG_MD5 = 1 << 0,
	CN_DIG_SHA256 = 1 << 1,
	CN_DIG_CRC32 = 1 << 2,
	CN_DIG_CRC32C = 1 << 3,
	CN_DIG_CRC64NVME = 1 << 4,
	CN_DIG_SHA1 = 1 << 5,
};

/* The S3 checksum algorithm names, as in x-amz-checksum-<name>. */
enum cn_checksum_alg {
	CN_CK_NONE = 0,
	CN_CK_CRC32,
	CN_CK_CRC32C,
	CN_CK_CRC64NVME,
	CN_CK_SHA1,
	CN_CK_SHA256,
};

/* The longest raw checksum (SHA-256). */
#define CN_CHECKSUM_MAX 32

struct cn_digest {
	unsigned algs;
	void *md5; /* EVP_MD_CTX */
	void *sha256;
	void *sha1;
	uint32_t crc32;
	uint32_t crc32c;
	uint64_t crc64;
	uint64_t len;
};

struct cn_digest_result {
	unsigned algs;
	uint8_t md5[16];
	uint8_t sha256[32];
	uint8_t sha1[20];
	uint32_t crc32;
	uint32_t crc32c;
	uint64_t crc64nvme;
	uint64_t len;
};

/* Starts a digest computing `algs`. Returns 0 or CN_ENOMEM. */
int cn_digest_init(struct cn_digest *d, unsigned algs);
void cn_digest_update(struct cn_digest *d, const void *buf, size_t len);
/* Finishes into *out; the digest may then only be released. */
void cn_digest_final(struct cn_digest *d, struct cn_digest_result *out);
void cn_digest_release(struct cn_digest *d);

/* One-shot helpers. */
void cn_md5(const void *buf, size_t len, uint8_t out[16]);
void cn_sha256(const void *buf, size_t len, uint8_t out[32]);
void cn_hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen, uint8_t out[32]);
/* HMAC-SHA1: only for SigV2 (auth/sigv2.c, POST forms), which AWS defines
 * over SHA-1. */
void cn_hmac_sha1(const void *key, size_t klen, const void *msg, size_t mlen, uint8_t out[20]);
uint32_t cn_crc32(uint32_t crc, const void *buf, size_t len);
uint32_t cn_crc32c(uint32_t crc, const void *buf, size_t len);
uint64_t cn_crc64nvme(uint64_t crc, const void *buf, size_t len);

/* Maps "CRC32", "crc32c", "CRC64NVME", "SHA1", "SHA256" (any case) to an alg;
 * CN_CK_NONE when unknown. */
enum cn_checksum_alg cn_checksum_alg_parse(const char *name, size_t len);
/* Lower-case header suffix ("crc32c") and upper-case API name ("CRC32C"). */
const char *cn_checksum_alg_header(enum cn_checksum_alg a);
const char *cn_checksum_alg_name(enum cn_checksum_alg a);
/* The CN_DIG_* bit an S3 checksum algorithm needs. */
unsigned cn_checksum_alg_digest(enum cn_checksum_alg a);
/* Length in bytes of a raw checksum of `a` (4, 8, 20 or 32; 0 for NONE). */
size_t cn_checksum_alg_len(enum cn_checksum_alg a);
/* Writes the raw big-endian checksum bytes of `a` from `r` into out (up to
 * CN_CHECKSUM_MAX bytes); returns the length. */
size_t cn_checksum_raw(enum cn_checksum_alg a, const struct cn_digest_result *r, uint8_t *out);
/* The raw checksum of `a` over one buffer (up to CN_CHECKSUM_MAX bytes into
 * out); returns its length, 0 for NONE or when memory runs out. */
size_t cn_checksum_buf(enum cn_checksum_alg a, const void *buf, size_t len, uint8_t *out);
/* CRC combination: given the raw checksum of A in acc and the raw checksum
 * of B with B's length, leaves the checksum of A||B in acc (the zlib
 * crc32_combine method, for every reflected CRC here: CRC32, CRC32C,
 * CRC64NVME). Returns 0, or -1 for an algorithm that is no CRC. */
int cn_checksum_combine(enum cn_checksum_alg a, uint8_t *acc, const uint8_t *b, uint64_t b_len);

/* Base64 (standard alphabet, padded). cn_b64_len is the encoded length
 * without the NUL. Encode writes a NUL-terminated string into out (cap
 * bytes) and returns its length, or returns 0 and writes "" (when cap > 0)
 * if cap < cn_b64_len(len) + 1. Decode writes at most cap bytes and returns
 * the decoded length, or -1 on malformed input or when the decoded bytes
 * would not fit in cap: untrusted input can never write past out. */
size_t cn_b64_len(size_t len);
size_t cn_b64_encode(const uint8_t *in, size_t len, char *out, size_t cap);
long cn_b64_decode(const char *in, size_t len, uint8_t *out, size_t cap);
/* Value of one hex digit (either case), or -1. */
int cn_hexval(int c);
/* Lower-case hex, NUL-terminated (2*len+1 bytes). */
void cn_hex(const uint8_t *in, size_t len, char *out);
/* Returns 0 if the two buffers are equal, in time independent of content. */
int cn_memcmp_ct(const void *a, const void *b, size_t len);

#endif
