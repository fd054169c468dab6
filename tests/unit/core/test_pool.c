/*
 * Unit tests for core/pool: allocations are 16-byte aligned, hold their
 * bytes until the release, and a big one gets a block of its own without
 * costing the head its room. Under AddressSanitizer (make asan) the byte
 * after every allocation and a block's unused room are poisoned, so a
 * decoder that writes one byte past what it allocated is reported.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/pool.h"

#if defined(__SANITIZE_ADDRESS__)
#define ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN 1
#endif
#endif
#ifdef ASAN
#include <sanitizer/asan_interface.h>
#endif

static void test_alloc(void **state)
{
	struct cn_pool p;
	unsigned char *a[64];

	(void)state;
	cn_pool_init(&p);
	for (size_t i = 0; i < 64; i++) {
		a[i] = cn_pool_alloc(&p, i * 37 + 1);
		assert_non_null(a[i]);
		assert_int_equal((uintptr_t)a[i] & 15, 0);
		memset(a[i], (int)i, i * 37 + 1);
	}
	unsigned char *big = cn_pool_alloc(&p, 1 << 20);
	assert_non_null(big);
	memset(big, 0xee, 1 << 20);
	for (size_t i = 0; i < 64; i++)
		for (size_t j = 0; j < i * 37 + 1; j++)
			assert_int_equal(a[i][j], i);
	unsigned char *z = cn_pool_zalloc(&p, 100);
	for (size_t j = 0; j < 100; j++)
		assert_int_equal(z[j], 0);
	assert_string_equal(cn_pool_strndup(&p, "abcdef", 3), "abc");
	assert_string_equal(cn_pool_printf(&p, "%s-%d", "x", 42), "x-42");
	assert_null(cn_pool_alloc(&p, SIZE_MAX - 4));
	cn_pool_release(&p);
	/* reusable after a release */
	assert_non_null(cn_pool_alloc(&p, 10));
	cn_pool_release(&p);
}

static void test_red_zones(void **state)
{
	(void)state;
#ifdef ASAN
	struct cn_pool p;
	size_t lens[] = {1, 7, 8, 15, 16, 17, 31, 32, 100, 4000, 5000, 300000};

	cn_pool_init(&p);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		char *r = cn_pool_alloc(&p, lens[i]);
		assert_non_null(r);
		assert_null(__asan_region_is_poisoned(r, lens[i]));
		assert_true(__asan_address_is_poisoned(r + lens[i]));
	}
	char *s = cn_pool_strndup(&p, "abc", 3);
	assert_true(__asan_address_is_poisoned(s + 4));
	cn_pool_release(&p);
#else
	print_message("not built with AddressSanitizer: red zones not checked\n");
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc),
		cmocka_unit_test(test_red_zones),
	};

	unit_filter_from_env();
	return cmocka_run_group_tests_name("core/test_pool", tests, NULL, NULL);
}
