/*
 * Unit tests for core/fmt: every writer against the printf or strftime call
 * it replaces on the request path, its length exactly what it returned, and
 * nothing written past that (a canary byte after it).
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <time.h>

#include "core/fmt.h"

#define CANARY 0x5a

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
	return *x;
}

/* Checks that [b, end) is want and the byte after it untouched. */
static void check_out(const char *b, const char *end, const char *want)
{
	size_t n = strlen(want);

	assert_int_equal((size_t)(end - b), n);
	assert_memory_equal(b, want, n);
	assert_int_equal((unsigned char)b[n], CANARY);
}

static void check_u64(uint64_t v)
{
	char b[CN_FMT_U64_MAX + 1], want[32];

	memset(b, CANARY, sizeof(b));
	snprintf(want, sizeof(want), "%" PRIu64, v);
	check_out(b, cn_fmt_u64(b, v), want);
}

static void test_u64_every_width(void **state)
{
	(void)state;
	uint64_t p = 1, x = 0x9e3779b97f4a7c15ull;

	check_u64(0);
	check_u64(UINT64_MAX);
	for (int k = 1; k <= 19; k++) {
		p *= 10;
		check_u64(p - 1);
		check_u64(p);
		check_u64(p + 1);
	}
	for (int i = 0; i < 100000; i++)
		check_u64(xorshift(&x) >> (i % 64));
}

static void test_dec_pads_and_keeps_the_low_digits(void **state)
{
	(void)state;
	uint64_t x = 0x853c49e6748fea9bull;
	char b[24], want[32];

	for (int i = 0; i < 20000; i++) {
		int n = 1 + i % 20;
		uint64_t v = xorshift(&x) >> (i % 64), m = 1;
		for (int k = 0; k < n && k < 19; k++)
			m *= 10;
		memset(b, CANARY, sizeof(b));
		/* n digits: v itself zero-padded when it fits, else its low n */
		snprintf(want, sizeof(want), "%0*" PRIu64, n, n >= 20 ? v : v % m);
		check_out(b, cn_fmt_dec(b, v, n), want);
	}
}

static void test_hex16(void **state)
{
	(void)state;
	uint64_t x = 0x2545f4914f6cdd1dull;
	char b[17], want[20];
	const uint64_t fixed[] = {0, 1, 0xff, 0xabcdef, UINT64_MAX, 1ull << 63};

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]) + 10000; i++) {
		uint64_t v = i < sizeof(fixed) / sizeof(fixed[0]) ? fixed[i] : xorshift(&x);
		memset(b, CANARY, sizeof(b));
		snprintf(want, sizeof(want), "%016" PRIX64, v);
		check_out(b, cn_fmt_hex16(b, v), want);
	}
}

static void check_date(int64_t ns)
{
	/* floored: the second that contains ns */
	time_t t = (time_t)(ns / 1000000000LL - (ns % 1000000000LL < 0));
	struct tm tm;
	char b[CN_FMT_HTTP_DATE_LEN + 1], want[64];

	assert_non_null(gmtime_r(&t, &tm));
	strftime(want, sizeof(want), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	memset(b, CANARY, sizeof(b));
	check_out(b, cn_fmt_http_date(b, ns), want);
}

static void test_http_date_any_int64(void **state)
{
	(void)state;
	const int64_t fixed[] = {INT64_MIN, INT64_MIN + 1, -1000000001LL, -1000000000LL, -1, 0, 1,
				 999999999LL, 1000000000LL,
				 /* 2000-02-29 12:00:00, 1900-03-01 */
				 951825600LL * 1000000000LL, -2203891200LL * 1000000000LL,
				 INT64_MAX};
	uint64_t x = 0xd1b54a32d192ed03ull;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		check_date(fixed[i]);
	for (int i = 0; i < 100000; i++)
		check_date((int64_t)xorshift(&x));
}

static void test_chain(void **state)
{
	(void)state;
	char b[64];
	char *d;

	memset(b, CANARY, sizeof(b));
	d = cn_fmt_lit(b, "bytes ");
	d = cn_fmt_u64(d, 0);
	*d++ = '-';
	d = cn_fmt_u64(d, 4095);
	*d++ = '/';
	d = cn_fmt_mem(cn_fmt_u64(d, 4096), "", 0);
	check_out(b, d, "bytes 0-4095/4096");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_u64_every_width),
		cmocka_unit_test(test_dec_pads_and_keeps_the_low_digits),
		cmocka_unit_test(test_hex16),
		cmocka_unit_test(test_http_date_any_int64),
		cmocka_unit_test(test_chain),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests_name("core/fmt", tests, NULL, NULL);
}
