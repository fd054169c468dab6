/*
 * Unit tests for the web console's embedded files (tools/embed.c's table,
 * s3/console_assets.h): every file of console/ is in the binary byte for
 * byte and nothing else is; each has the content type of its extension; the
 * ETag is the quoted XXH3-128 of the bytes (so it changes exactly when the
 * file does) and no two files share one; the bytes end with a NUL not
 * counted; lookup by name is exact. Run from the repository root (as
 * scripts/run-tests.sh does), where console/ is.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "s3/console_assets.h"

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *b;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	b = malloc((size_t)n + 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return b;
}

static int served_ext(const char *name)
{
	size_t n = strlen(name);
	return (n > 5 && strcmp(name + n - 5, ".html") == 0) ||
	       (n > 3 && strcmp(name + n - 3, ".js") == 0) ||
	       (n > 4 && strcmp(name + n - 4, ".css") == 0);
}

static void test_every_file_embedded(void **state)
{
	DIR *d = opendir("console");
	struct dirent *e;
	size_t files = 0;

	(void)state;
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		char path[512];
		size_t len;
		if (!served_ext(e->d_name))
			continue;
		snprintf(path, sizeof(path), "console/%s", e->d_name);
		unsigned char *b = slurp(path, &len);
		const struct s3_console_asset *a =
			s3_console_asset_find(e->d_name, strlen(e->d_name));
		assert_non_null(a);
		assert_int_equal(a->len, len);
		assert_memory_equal(a->data, b, len);
		assert_int_equal(a->data[a->len], 0);
		free(b);
		files++;
	}
	closedir(d);
	/* the page needs these three; nothing stale is left in the table */
	assert_true(files >= 3);
	assert_int_equal(s3_console_n_assets, files);
	assert_non_null(s3_console_asset_find("index.html", 10));
	assert_non_null(s3_console_asset_find("app.js", 6));
	assert_non_null(s3_console_asset_find("style.css", 9));
}

static void test_content_types(void **state)
{
	(void)state;
	assert_string_equal(s3_console_asset_find("index.html", 10)->ctype,
			    "text/html; charset=utf-8");
	assert_string_equal(s3_console_asset_find("app.js", 6)->ctype,
			    "text/javascript; charset=utf-8");
	assert_string_equal(s3_console_asset_find("style.css", 9)->ctype,
			    "text/css; charset=utf-8");
}

static void test_etags(void **state)
{
	(void)state;
	for (size_t i = 0; i < s3_console_n_assets; i++) {
		const struct s3_console_asset *a = &s3_console_assets[i];
		XXH128_hash_t h = XXH3_128bits(a->data, a->len);
		char want[40];
		snprintf(want, sizeof(want), "\"%016llx%016llx\"", (unsigned long long)h.high64,
			 (unsigned long long)h.low64);
		assert_string_equal(a->etag, want);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(a->etag, s3_console_assets[j].etag);
	}
}

static void test_find_is_exact(void **state)
{
	(void)state;
	assert_null(s3_console_asset_find("app.j", 5));
	assert_null(s3_console_asset_find("app.jsx", 7));
	assert_null(s3_console_asset_find("", 0));
	assert_null(s3_console_asset_find("APP.JS", 6));
	/* the length counts, not a NUL: "app.js" inside a longer buffer */
	assert_non_null(s3_console_asset_find("app.js/../x", 6));
	assert_null(s3_console_asset_find("app.js/", 7));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_file_embedded),
		cmocka_unit_test(test_content_types),
		cmocka_unit_test(test_etags),
		cmocka_unit_test(test_find_is_exact),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
