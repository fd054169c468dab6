/*
 * Unit tests for s3/sse's T_SSE record (format 1 in sse.h): each mode's
 * record decodes and s3_sse_record() writes it back byte for byte; every
 * truncation and a trailing byte are corruption; a KMS key name holding a
 * NUL is corruption (found by tests/fuzz/fuzz_s3conf.c: it decoded to a
 * shorter name that a record could not hold).
 */
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/pool.h"
#include "s3/s3_int.h"
#include "s3/sse.h"

#define MAXREC 256

/* The record of mode with a KMS name and context (KMS only); flags as
 * stored. Returns its length. */
static size_t make(uint8_t *b, int mode, int flags, const char *name, size_t nl, const char *ctx)
{
	size_t n = 0, cl = ctx ? strlen(ctx) : 0;

	b[n++] = 1;
	b[n++] = (uint8_t)mode;
	b[n++] = (uint8_t)flags;
	if (mode == S3_SSE_C) {
		for (int i = 0; i < 48; i++)
			b[n++] = (uint8_t)(0x80 + i);
	} else {
		for (int i = 0; i < CN_WRAP_LEN; i++)
			b[n++] = (uint8_t)i;
		if (mode == S3_SSE_KMS) {
			b[n++] = (uint8_t)nl;
			memcpy(b + n, name, nl);
			n += nl;
			b[n++] = (uint8_t)(cl & 0xff);
			b[n++] = (uint8_t)(cl >> 8);
			if (cl)
				memcpy(b + n, ctx, cl);
			n += cl;
		}
	}
	if (flags & 2)
		for (int i = 0; i < CN_SEAL_HDR + CN_SEAL_TAG; i++)
			b[n++] = (uint8_t)(0x40 + i);
	return n;
}

static void test_round_trip(void **state)
{
	static struct s3_req r; /* decode and record use only its pool */
	struct cn_pool pool;
	uint8_t b[MAXREC];
	const uint8_t *out;
	size_t n, on;
	struct s3_sse s;

	(void)state;
	cn_pool_init(&pool);
	r.pool = &pool;
	for (int mode = S3_SSE_S3; mode <= S3_SSE_C; mode++) {
		for (int flags = 0; flags < 4; flags++) {
			n = make(b, mode, flags, "aws/s3", 6, "{\"a\":\"b\"}");
			assert_int_equal(s3_sse_decode(&r, b, n, &s), 0);
			assert_int_equal(s.mode, mode);
			assert_int_equal(s.bucket_key, flags & 1);
			assert_int_equal(s.has_inline, !!(flags & 2));
			assert_int_equal(s3_sse_record(&r, &s, &out, &on), 0);
			assert_int_equal(on, n);
			assert_memory_equal(out, b, n);
			for (size_t k = 0; k < n; k++)
				assert_int_equal(s3_sse_decode(&r, b, k, &s), k ? CN_ECORRUPT : 0);
			b[n] = 0;
			assert_int_equal(s3_sse_decode(&r, b, n + 1, &s), CN_ECORRUPT);
		}
	}
	assert_int_equal(s3_sse_decode(&r, NULL, 0, &s), 0);
	assert_int_equal(s.mode, S3_SSE_NONE);
	cn_pool_release(&pool);
}

static void test_kms_name(void **state)
{
	static struct s3_req r;
	struct cn_pool pool;
	uint8_t b[MAXREC];
	struct s3_sse s;
	size_t n;

	(void)state;
	cn_pool_init(&pool);
	r.pool = &pool;
	n = make(b, S3_SSE_KMS, 0, "k", 1, NULL);
	assert_int_equal(s3_sse_decode(&r, b, n, &s), 0);
	assert_string_equal(s.kms_name, "k");
	/* a NUL anywhere in the name */
	n = make(b, S3_SSE_KMS, 0, "\0\0\0", 3, NULL);
	assert_int_equal(s3_sse_decode(&r, b, n, &s), CN_ECORRUPT);
	n = make(b, S3_SSE_KMS, 0, "aws/s3\0x", 8, NULL);
	assert_int_equal(s3_sse_decode(&r, b, n, &s), CN_ECORRUPT);
	/* empty, and one past the longest */
	n = make(b, S3_SSE_KMS, 0, "", 0, NULL);
	assert_int_equal(s3_sse_decode(&r, b, n, &s), CN_ECORRUPT);
	n = make(b, S3_SSE_KMS, 0, "12345678901234567890123456789", S3_KMS_NAME_MAX + 1, NULL);
	assert_int_equal(s3_sse_decode(&r, b, n, &s), CN_ECORRUPT);
	n = make(b, S3_SSE_KMS, 0, "1234567890123456789012345678", S3_KMS_NAME_MAX, NULL);
	assert_int_equal(s3_sse_decode(&r, b, n, &s), 0);
	cn_pool_release(&pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_kms_name),
	};

	unit_filter_from_env();
	return cmocka_run_group_tests_name("s3/test_sse", tests, NULL, NULL);
}
