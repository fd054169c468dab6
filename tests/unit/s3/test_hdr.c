/*
 * Unit tests for s3_hdr_value_ok (s3/frontend.c), the check every response
 * header value passes: no control byte but a tab, no DEL. Against a byte by
 * byte reference: every byte value at every position of values long enough
 * to take the eight-byte path and its tail, and random values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "s3/s3_int.h"

static int reference(const unsigned char *v, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f)
			return 0;
	return 1;
}

static void check(const unsigned char *v, size_t len)
{
	if (s3_hdr_value_ok((const char *)v, len) != reference(v, len))
		fail_msg("length %zu: got %d, want %d", len, s3_hdr_value_ok((const char *)v, len),
			 reference(v, len));
}

static void test_every_byte_at_every_position(void **state)
{
	(void)state;
	/* the clean fill: printable ASCII and UTF-8 bytes, which must pass */
	static const unsigned char fills[] = {'a', ' ', '~', 0x80, 0xff, 0x9f, 0x20, 0x7e};
	unsigned char v[40];

	for (size_t f = 0; f < sizeof(fills); f++)
		for (size_t len = 0; len <= sizeof(v); len++) {
			memset(v, fills[f], sizeof(v));
			assert_int_equal(s3_hdr_value_ok((const char *)v, len), 1);
			for (size_t pos = 0; pos < len; pos++)
				for (int b = 0; b < 256; b++) {
					v[pos] = (unsigned char)b;
					check(v, len);
					v[pos] = fills[f];
				}
		}
}

static void test_random_values(void **state)
{
	(void)state;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	unsigned char v[64];

	for (int n = 0; n < 200000; n++) {
		size_t len = (size_t)(n % 65);
		for (size_t i = 0; i < len; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			/* mostly clean bytes, now and then a control byte or DEL */
			v[i] = (x & 0xff) < 4	? (unsigned char)((x >> 8) % 0x21)
			       : (x & 0xff) < 6 ? 0x7f
						: (unsigned char)(0x20 + (x >> 8) % 0xe0);
		}
		check(v, len);
	}
	assert_int_equal(s3_hdr_value_ok("a\tb\tc\td\te\tf\tg\th", 15), 1);
	assert_int_equal(s3_hdr_value_ok("abcdefgh\r\nX-Injected: 1", 23), 0);
	assert_int_equal(s3_hdr_value_ok("abcdefghijklmno\n", 16), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_byte_at_every_position),
		cmocka_unit_test(test_random_values),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests_name("s3/hdr", tests, NULL, NULL);
}
