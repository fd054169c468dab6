/*
 * Unit tests for core/log: the access record as text and as JSON (escaping
 * of quotes, backslashes, control characters and bytes that are not UTF-8;
 * "-" for an anonymous user), and the server log as JSON. stdout and stderr
 * are captured through a pipe for each call.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

/* Runs fn with fd (1 or 2) redirected into a pipe; returns what it wrote. */
static char *capture(int fd, void (*fn)(const void *), const void *arg)
{
	static char out[32768];
	int p[2], saved = dup(fd);
	ssize_t n;

	assert_int_equal(pipe(p), 0);
	assert_int_equal(dup2(p[1], fd), fd);
	fn(arg);
	assert_int_equal(dup2(saved, fd), fd);
	close(saved);
	close(p[1]);
	n = read(p[0], out, sizeof(out) - 1);
	close(p[0]);
	assert_true(n > 0);
	out[n] = 0;
	return out;
}

static void do_access(const void *a)
{
	cn_log_access(a);
}

static const char KEY[] = "a\"b\\c\nd\te\x01"
			  "f\x7f"
			  "g \xc3\xa9 \xff!";

static struct cn_access rec(void)
{
	struct cn_access a = {.client = "127.0.0.1",
			      .request_id = "00000000000000A3",
			      .user = "",
			      .method = "GET",
			      .url = "/bkt/a%22b",
			      .op = "GetObject",
			      .bucket = "bkt",
			      .key = KEY,
			      .key_len = sizeof(KEY) - 1,
			      .status = 200,
			      .bytes_in = 0,
			      .bytes_out = 42,
			      .duration_us = 7};
	return a;
}

static void test_access_text(void **state)
{
	(void)state;
	struct cn_access a = rec();
	cn_log_set_format(CN_LOG_TEXT);
	char *out = capture(1, do_access, &a);

	assert_int_equal(strlen(out), 24 + strlen(strchr(out, ' ')));
	assert_true(out[4] == '-' && out[10] == 'T' && out[19] == '.' && out[23] == 'Z');
	assert_string_equal(out + 24, " access GET /bkt/a%22b 200 in=0 out=42 us=7 op=GetObject "
				      "client=127.0.0.1 id=00000000000000A3 user=-\n");
}

static void test_access_json_escapes(void **state)
{
	(void)state;
	struct cn_access a = rec();
	a.user = "AKIDEXAMPLE";
	a.aborted = 1;
	cn_log_set_format(CN_LOG_JSON);
	char *out = capture(1, do_access, &a);
	cn_log_set_format(CN_LOG_TEXT);

	assert_int_equal(strncmp(out, "{\"time\":\"", 9), 0);
	assert_non_null(strstr(out,
			       "\",\"type\":\"access\",\"client\":\"127.0.0.1\","
			       "\"request_id\":\"00000000000000A3\",\"user\":\"AKIDEXAMPLE\","
			       "\"op\":\"GetObject\",\"method\":\"GET\",\"url\":\"/bkt/a%22b\","
			       "\"bucket\":\"bkt\","));
	assert_non_null(strstr(out, "\"key\":\"a\\\"b\\\\c\\u000ad\\u0009e\\u0001f\\u007fg "
				    "\xc3\xa9 ?!\","));
	assert_non_null(strstr(out, "\"status\":200,\"bytes_in\":0,\"bytes_out\":42,"
				    "\"duration_us\":7,\"aborted\":true}\n"));
	assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1); /* one line */
}

static void do_log(const void *msg)
{
	log_warn("%s", (const char *)msg);
}

static void test_server_log_json(void **state)
{
	(void)state;
	cn_log_set_format(CN_LOG_JSON);
	char *out = capture(2, do_log, "drive \"d1\"\nis gone");
	cn_log_set_format(CN_LOG_TEXT);

	assert_int_equal(strncmp(out, "{\"time\":\"", 9), 0);
	assert_non_null(strstr(out, "\",\"level\":\"warn\",\"msg\":\"drive \\\"d1\\\"\\u000ais "
				    "gone\"}\n"));
	out = capture(2, do_log, "line\nforged");
	assert_non_null(strstr(out, " warn line?forged\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_access_text),
		cmocka_unit_test(test_access_json_escapes),
		cmocka_unit_test(test_server_log_json),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests_name("core/log", tests, NULL, NULL);
}
