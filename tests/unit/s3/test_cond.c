/*
 * Unit tests for the conditional request headers' parsers in s3/frontend.c
 * and s3/object.c: s3_parse_http_date() takes the HTTP date (and its two
 * obsolete forms) and the ISO 8601 form (a fraction and Z allowed) and
 * nothing after them, so a date with
 * trailing bytes is invalid and its header ignored, as RFC 9110 asks;
 * s3_unquote_etag() writes within its capacity, including none;
 * s3_http_date() writes what strftime would.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "s3/s3_int.h"

#define S (1000000000LL)

static void test_http_date(void **state)
{
	int64_t ns = 0;
	char out[40];

	(void)state;
	assert_int_equal(s3_parse_http_date("Wed, 02 Dec 2026 06:51:44 GMT", &ns), 0);
	assert_int_equal(ns, 1796194304LL * S);
	s3_http_date(ns, out);
	assert_string_equal(out, "Wed, 02 Dec 2026 06:51:44 GMT");
	/* the obsolete forms RFC 9110 5.6.7 has recipients accept */
	ns = 0;
	assert_int_equal(s3_parse_http_date("Wednesday, 02-Dec-26 06:51:44 GMT", &ns), 0);
	assert_int_equal(ns, 1796194304LL * S);
	ns = 0;
	assert_int_equal(s3_parse_http_date("Wed Dec  2 06:51:44 2026", &ns), 0);
	assert_int_equal(ns, 1796194304LL * S);
	assert_int_equal(s3_parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", &ns), 0);
	assert_int_equal(ns, 784111777LL * S);
	assert_int_equal(s3_parse_http_date("2026-12-02T06:51:44", &ns), 0);
	assert_int_equal(ns, 1796194304LL * S);
	assert_int_equal(s3_parse_http_date("2026-12-02T06:51:44Z", &ns), 0);
	assert_int_equal(ns, 1796194304LL * S);
	assert_int_equal(s3_parse_http_date("2026-12-02T06:51:44.123Z", &ns), 0);
	assert_int_equal(ns, 1796194304LL * S);
	assert_int_equal(s3_parse_http_date("2026-12-02T06:51:44.5", &ns), 0);
	assert_int_equal(ns, 1796194304LL * S);

	const char *bad[] = {"",
			     "yesterday",
			     "Wed, 02 Dec 2026 06:51:44 GMT garbage",
			     "Wednesday, 02-Dec-26 06:51:44 GMT x",
			     "Wed Dec  2 06:51:44 2026 GMT",
			     "2026-12-02T06:51:44garbage",
			     "2026-12-02T06:51:44ZZ",
			     "2026-12-02T06:51:44.Z",
			     "2026-12-02T06:51:44.12x",
			     "2026-12-02T06:51:44 ",
			     "2026-12-02"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ns = 42;
		assert_int_equal(s3_parse_http_date(bad[i], &ns), -1);
		assert_int_equal(ns, 42);
	}
}

static void test_unquote_etag(void **state)
{
	char out[8];

	(void)state;
	memset(out, 'x', sizeof(out));
	s3_unquote_etag("\"abc\"", out, 0);
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], 'x');
	s3_unquote_etag("\"abc\"", out, 1);
	assert_string_equal(out, "");
	assert_int_equal(out[1], 'x');
	s3_unquote_etag(" W/\"abcdef\" ", out, 4);
	assert_string_equal(out, "abc");
	assert_int_equal(out[4], 'x');
	s3_unquote_etag("\"abc\"", out, sizeof(out));
	assert_string_equal(out, "abc");
}

/* s3_http_date writes what strftime's IMF-fixdate gives in the C locale,
 * on every day of the week and month across 1970-2554. */
static void test_http_date_matches_strftime(void **state)
{
	(void)state;
	uint64_t x = 0x853c49e6748fea9bull;
	char out[40], want[40];

	for (int i = 0; i < 100000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		int64_t ns = i == 0 ? 0 : (int64_t)(x % (uint64_t)INT64_MAX);
		time_t t = (time_t)(ns / S);
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(want, sizeof(want), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		s3_http_date(ns, out);
		assert_string_equal(out, want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http_date),
		cmocka_unit_test(test_http_date_matches_strftime),
		cmocka_unit_test(test_unquote_etag),
	};

	unit_filter_from_env();
	return cmocka_run_group_tests_name("s3/test_cond", tests, NULL, NULL);
}
