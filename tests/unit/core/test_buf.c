/*
 * Unit tests for core/buf: the growth paths (inline and slow) keep the
 * bytes, the NUL after them and the max, whichever path takes a write.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"

/* A byte at a time up to max: the writes past the first allocation take the
 * inline path, and the one past max must still be refused there. */
static void test_max_refused_on_the_inline_path(void **state)
{
	(void)state;
	struct cn_buf b;
	char want[300];

	cn_buf_init_max(&b, sizeof(want));
	for (size_t i = 0; i < sizeof(want); i++) {
		want[i] = (char)('a' + i % 26);
		cn_buf_putc(&b, want[i]);
		assert_int_equal(b.err, 0);
	}
	assert_true(b.cap > sizeof(want)); /* the next byte would fit in memory */
	assert_int_equal(b.len, sizeof(want));
	cn_buf_putc(&b, 'x');
	assert_int_equal(b.err, CN_ETOOBIG);
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.s, want, sizeof(want));
	assert_int_equal(b.s[b.len], 0);
	/* reset clears the error and keeps the memory */
	cn_buf_reset(&b);
	assert_int_equal(b.err, 0);
	cn_buf_puts(&b, "ok");
	assert_string_equal(b.s, "ok");
	cn_buf_release(&b);
}

/* A reserve past max with room to spare must not let a write pass max. */
static void test_max_with_reserved_room(void **state)
{
	(void)state;
	struct cn_buf b;

	cn_buf_init_max(&b, 10);
	cn_buf_reserve(&b, 8);
	assert_int_equal(b.err, 0);
	assert_int_equal(b.len, 0);
	cn_buf_put(&b, "0123456789", 10); /* exactly max */
	assert_int_equal(b.err, 0);
	cn_buf_put(&b, "", 0);
	assert_int_equal(b.err, 0);
	cn_buf_put(&b, "a", 1);
	assert_int_equal(b.err, CN_ETOOBIG);
	assert_string_equal(b.s, "0123456789");
	cn_buf_release(&b);

	cn_buf_init_max(&b, 10);
	cn_buf_put(&b, "01234", 5);
	cn_buf_put(&b, "567890", 6); /* one past, in one write */
	assert_int_equal(b.err, CN_ETOOBIG);
	assert_string_equal(b.s, "01234");
	cn_buf_release(&b);
}

static void test_unbounded_growth_keeps_bytes(void **state)
{
	(void)state;
	struct cn_buf b;
	char *s;

	cn_buf_init(&b);
	for (int i = 0; i < 10000; i++)
		cn_buf_putc(&b, (char)('0' + i % 10));
	assert_int_equal(b.err, 0);
	assert_int_equal(b.len, 10000);
	assert_int_equal(strlen(b.s), 10000);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(b.s[i], '0' + i % 10);
	s = cn_buf_take(&b);
	assert_non_null(s);
	assert_int_equal(b.len, 0);
	free(s);
	cn_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_max_refused_on_the_inline_path),
		cmocka_unit_test(test_max_with_reserved_room),
		cmocka_unit_test(test_unbounded_growth_keeps_bytes),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests_name("core/buf", tests, NULL, NULL);
}
