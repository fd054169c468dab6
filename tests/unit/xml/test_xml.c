/*
 * Unit tests for xml/: writer escaping (every special character, every
 * byte value against the rule written out, embedded NULs through the _n
 * variant), numbers and timestamps against printf and strftime, and the
 * bounded reader: tree shape, namespaces stripped, depth and node limits,
 * entity declarations refused (billion laughs), malformed documents, mixed
 * content refused (text and child elements in one element), and
 * memory that stays linear in the input when text arrives in many pieces.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/pool.h"
#include "xml/xml.h"

static char *wstr(struct cn_buf *w)
{
	cn_buf_put(w, "", 1); /* NUL-terminate for comparisons */
	assert_int_equal(w->err, 0);
	return w->s;
}

static void test_escape_specials(void **state)
{
	(void)state;
	struct cn_buf w;
	cn_buf_init(&w);
	xmlw_elem(&w, "Key", "a&b<c>d\"e'f");
	assert_string_equal(wstr(&w), "<Key>a&amp;b&lt;c&gt;d&quot;e&apos;f</Key>");
	cn_buf_release(&w);
}

static void test_escape_controls(void **state)
{
	(void)state;
	struct cn_buf w;
	cn_buf_init(&w);
	xmlw_elem(&w, "K", "t\tn\nr\rx\x01y");
	char *s = wstr(&w);
	/* tab and newline are legal as-is; CR must be a reference or a
	 * parser would normalise it away; other controls never appear raw. */
	assert_non_null(strstr(s, "t\tn\n"));
	assert_non_null(strstr(s, "r&#13;x"));
	assert_null(strchr(s, '\r'));
	assert_null(strchr(s, '\x01'));
	cn_buf_release(&w);
}

/* Every byte value, alone and inside text, against the rule written out
 * byte by byte: the five markup characters as entities, CR and the
 * controls but tab and LF as decimal references, every other byte as is. */
/* The escaping rule written out byte by byte: the reference for texts. */
static void ref_escape(struct cn_buf *b, const unsigned char *in, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned c = in[i];
		switch (c) {
		case '&': cn_buf_puts(b, "&amp;"); break;
		case '<': cn_buf_puts(b, "&lt;"); break;
		case '>': cn_buf_puts(b, "&gt;"); break;
		case '"': cn_buf_puts(b, "&quot;"); break;
		case '\'': cn_buf_puts(b, "&apos;"); break;
		default:
			if (c < 0x20 && c != '\t' && c != '\n')
				cn_buf_printf(b, "&#%u;", c);
			else
				cn_buf_putc(b, (char)c);
		}
	}
}

static void check_escape(const unsigned char *in, size_t n)
{
	struct cn_buf w, want;

	cn_buf_init(&w);
	cn_buf_init(&want);
	xmlw_text(&w, (const char *)in, n);
	ref_escape(&want, in, n);
	assert_int_equal(w.err, 0);
	assert_int_equal(w.len, want.len);
	assert_memory_equal(w.s ? w.s : "", want.s ? want.s : "", w.len);
	cn_buf_release(&w);
	cn_buf_release(&want);
}

/* Long texts (the escaper scans sixteen bytes a step where it can): every
 * byte value at every position of a 48-byte text, around UTF-8 bytes, and
 * random texts of every length up to 100 bytes. */
static void test_escape_long_texts(void **state)
{
	(void)state;
	unsigned char in[128];
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (int c = 0; c < 256; c++)
		for (size_t pos = 0; pos < 48; pos++) {
			for (size_t i = 0; i < 48; i++)
				in[i] = (unsigned char)(i % 3 == 0   ? 0xc3
							: i % 3 == 1 ? 0xa9
								     : 'k');
			in[pos] = (unsigned char)c;
			check_escape(in, 48);
			check_escape(in, pos + 1); /* the byte last */
		}
	for (int r = 0; r < 20000; r++) {
		size_t n = (size_t)r % 101;
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			/* mostly plain, now and then any byte */
			in[i] = (unsigned char)(x % 16 == 0 ? (x >> 8) & 0xff
							    : 'a' + (x >> 8) % 26);
		}
		check_escape(in, n);
	}
}

static void test_escape_every_byte(void **state)
{
	(void)state;
	struct cn_buf w, want;

	for (int c = 0; c < 256; c++) {
		char in[3] = {'a', (char)c, 'b'};

		cn_buf_init(&want);
		cn_buf_puts(&want, "<K>a");
		ref_escape(&want, (const unsigned char *)in + 1, 1);
		cn_buf_puts(&want, "b</K>");
		cn_buf_init(&w);
		xmlw_elem_n(&w, "K", in, 3);
		assert_int_equal(w.err, 0);
		assert_int_equal(w.len, want.len);
		assert_memory_equal(w.s, want.s, w.len);
		cn_buf_release(&w);
		/* alone, at the start and end of the text */
		cn_buf_init(&w);
		xmlw_text(&w, in + 1, 1);
		assert_int_equal(w.len, want.len - 9);
		assert_memory_equal(w.s, want.s + 4, w.len);
		cn_buf_release(&w);
		cn_buf_release(&want);
	}
}

/* Numbers and times are written without the escaper: every digit count,
 * and the ISO time of instants across leap years against strftime. */
static void test_numbers_and_times(void **state)
{
	(void)state;
	struct cn_buf w;
	char want[64], b[32];
	uint64_t v = 1, x = 0x2545f4914f6cdd1dull;

	for (int i = 0; i < 21; i++, v *= 10) {
		uint64_t n = i == 20 ? UINT64_MAX : v - 1;
		cn_buf_init(&w);
		xmlw_elem_u64(&w, "Size", n);
		snprintf(want, sizeof(want), "<Size>%llu</Size>", (unsigned long long)n);
		assert_string_equal(wstr(&w), want);
		cn_buf_release(&w);
	}
	for (int i = 0; i < 100000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		/* up to 2554, where uint64_t nanoseconds end */
		uint64_t ns = i == 0 ? UINT64_MAX : i == 1 ? 951782400999999999ull : x;
		time_t t = (time_t)(ns / 1000000000u);
		struct tm tm;
		size_t n;

		gmtime_r(&t, &tm);
		n = strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(want + n, sizeof(want) - n, ".%03uZ", (unsigned)(ns / 1000000u % 1000u));
		xml_time_iso(ns, b);
		assert_string_equal(b, want);
	}
	cn_buf_init(&w);
	xmlw_elem_time(&w, "LastModified", 951782400999999999ull); /* 2000-02-29 */
	assert_string_equal(wstr(&w), "<LastModified>2000-02-29T00:00:00.999Z</LastModified>");
	cn_buf_release(&w);
}

/* reserve makes room without writing: the bytes and the NUL stay. */
static void test_buf_reserve(void **state)
{
	(void)state;
	struct cn_buf w;

	cn_buf_init(&w);
	cn_buf_reserve(&w, 100000);
	assert_int_equal(w.err, 0);
	assert_int_equal(w.len, 0);
	assert_true(w.cap > 100000);
	assert_string_equal(w.s, "");
	cn_buf_puts(&w, "ab");
	char *p = w.s;
	cn_buf_reserve(&w, 1000);
	assert_ptr_equal(w.s, p); /* room already there: no move */
	assert_string_equal(w.s, "ab");
	cn_buf_release(&w);
	cn_buf_init_max(&w, 10);
	cn_buf_reserve(&w, 11);
	assert_int_equal(w.err, CN_ETOOBIG);
	cn_buf_release(&w);
}

static void test_elem_n_and_utf8(void **state)
{
	(void)state;
	struct cn_buf w;
	cn_buf_init(&w);
	xmlw_elem_n(&w, "K", "caf\xc3\xa9/\xe2\x82\xac&", 10);
	assert_string_equal(wstr(&w), "<K>caf\xc3\xa9/\xe2\x82\xac&amp;</K>");
	cn_buf_release(&w);
	cn_buf_init(&w);
	xmlw_elem(&w, "Empty", NULL);
	assert_string_equal(wstr(&w), "<Empty></Empty>");
	cn_buf_release(&w);
}

static void test_document_roundtrip(void **state)
{
	(void)state;
	struct cn_buf w;
	struct cn_pool pool;
	struct xml_node *root;
	const char *keys[] = {"plain", "a&b", "<tag>", "quote\"s'", "tab\there", "cr\rlf\n"};

	cn_buf_init(&w);
	xmlw_decl(&w);
	xmlw_open(&w, "ListBucketResult", "http://s3.amazonaws.com/doc/2006-03-01/");
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		xmlw_open(&w, "Contents", NULL);
		xmlw_elem(&w, "Key", keys[i]);
		xmlw_elem_u64(&w, "Size", 18446744073709551615ull);
		xmlw_close(&w, "Contents");
	}
	xmlw_close(&w, "ListBucketResult");
	assert_int_equal(w.err, 0);

	cn_pool_init(&pool);
	assert_int_equal(xml_parse(&pool, w.s, w.len, &root), 0);
	assert_string_equal(root->name, "ListBucketResult");
	size_t i = 0;
	for (struct xml_node *c = root->child; c; c = c->next, i++) {
		assert_true(i < sizeof(keys) / sizeof(keys[0]));
		assert_string_equal(c->name, "Contents");
		assert_string_equal(xml_child_text(c, "Key"), keys[i]);
		assert_string_equal(xml_child_text(c, "Size"), "18446744073709551615");
	}
	assert_int_equal(i, sizeof(keys) / sizeof(keys[0]));
	cn_pool_release(&pool);
	cn_buf_release(&w);
}

static void test_time_iso(void **state)
{
	(void)state;
	char b[32];
	xml_time_iso(0, b);
	assert_string_equal(b, "1970-01-01T00:00:00.000Z");
	xml_time_iso(1700000000123456789ull, b);
	assert_string_equal(b, "2023-11-14T22:13:20.123Z");
}

static int parse(struct cn_pool *pool, const char *s, struct xml_node **root)
{
	return xml_parse(pool, s, strlen(s), root);
}

static void test_parse_tree(void **state)
{
	(void)state;
	struct cn_pool pool;
	struct xml_node *root;
	const char *doc = "<?xml version=\"1.0\"?>\n"
			  "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			  "<Quiet>true</Quiet>"
			  "<Object><Key>a&amp;b &#x20AC;</Key><VersionId>v1</VersionId></Object>"
			  "<Object><Key><![CDATA[<raw>]]></Key></Object>"
			  "</Delete>";

	cn_pool_init(&pool);
	assert_int_equal(parse(&pool, doc, &root), 0);
	assert_string_equal(root->name, "Delete"); /* namespace stripped */
	assert_string_equal(xml_child_text(root, "Quiet"), "true");
	struct xml_node *o = xml_child(root, "Object");
	assert_non_null(o);
	assert_string_equal(xml_child_text(o, "Key"), "a&b \xe2\x82\xac");
	assert_string_equal(xml_child_text(o, "VersionId"), "v1");
	assert_non_null(o->next);
	assert_string_equal(xml_child_text(o->next, "Key"), "<raw>");
	assert_null(xml_child_text(o->next, "VersionId"));
	assert_null(o->next->next);
	assert_null(xml_child(NULL, "x"));
	cn_pool_release(&pool);
}

static void test_parse_malformed(void **state)
{
	(void)state;
	struct cn_pool pool;
	struct xml_node *root;
	const char *bad[] = {
		"",
		"   ",
		"<a>",
		"<a></b>",
		"<a><b></a></b>",
		"text only",
		"<a>&undefined;</a>",
		"<a></a><b></b>",
		"<a>\x01</a>",
		"<a>\xff\xfe</a>",
		"<<a/>",
	};

	cn_pool_init(&pool);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		root = NULL;
		assert_int_equal(parse(&pool, bad[i], &root), CN_EBADXML);
	}
	/* an embedded NUL is not XML either */
	assert_int_equal(xml_parse(&pool, "<a>x\0y</a>", 10, &root), CN_EBADXML);
	cn_pool_release(&pool);
}

/* Text and child elements in one element: `<Key>a<x/>b</Key>` would read
 * as "ab". Whitespace around children, comments and CDATA inside text stay
 * fine. */
static void test_mixed_content_refused(void **state)
{
	(void)state;
	struct cn_pool pool;
	struct xml_node *root;
	const char *bad[] = {
		"<a>x<b/></a>",
		"<a><b/>x</a>",
		"<a> x <b>1</b></a>",
		"<a><b>1</b>\n x</a>",
		"<Key>a<x/>b</Key>",
		"<r><Key>a<x/>b</Key></r>",
		"<r><Key>a<x>b</x></Key></r>",
		"<a>&#x41;<b/></a>",
		"<a><![CDATA[x]]><b/></a>",
	};
	const char *good = "<r>\n\t<Key>a<!-- c -->b</Key>\r\n <V><![CDATA[x]]>y</V> \n</r>";

	cn_pool_init(&pool);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		root = NULL;
		assert_int_equal(parse(&pool, bad[i], &root), CN_EBADXML);
	}
	assert_int_equal(parse(&pool, good, &root), 0);
	assert_string_equal(xml_child_text(root, "Key"), "ab");
	assert_string_equal(xml_child_text(root, "V"), "xy");
	cn_pool_release(&pool);
}

static void test_entity_declarations_refused(void **state)
{
	(void)state;
	struct cn_pool pool;
	struct xml_node *root;
	const char *laughs = "<?xml version=\"1.0\"?>"
			     "<!DOCTYPE lolz [<!ENTITY lol \"lol\">"
			     "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
			     "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>"
			     "<lolz>&lol3;</lolz>";
	const char *external = "<?xml version=\"1.0\"?>"
			       "<!DOCTYPE d [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><d>&x;</d>";
	const char *param = "<!DOCTYPE d [<!ENTITY % p \"x\">]><d/>";

	cn_pool_init(&pool);
	assert_int_equal(parse(&pool, laughs, &root), CN_EBADXML);
	assert_int_equal(parse(&pool, external, &root), CN_EBADXML);
	assert_int_equal(parse(&pool, param, &root), CN_EBADXML);
	cn_pool_release(&pool);
}

static void test_depth_limit(void **state)
{
	(void)state;
	struct cn_pool pool;
	struct xml_node *root;
	char doc[4096];
	size_t o;

	cn_pool_init(&pool);
	for (int depth = 1; depth <= 40; depth++) {
		o = 0;
		for (int i = 0; i < depth; i++)
			o += (size_t)snprintf(doc + o, sizeof(doc) - o, "<d%d>", i);
		for (int i = depth - 1; i >= 0; i--)
			o += (size_t)snprintf(doc + o, sizeof(doc) - o, "</d%d>", i);
		int rc = xml_parse(&pool, doc, o, &root);
		if (depth <= 16)
			assert_int_equal(rc, 0);
		else
			assert_int_equal(rc, CN_EBADXML);
	}
	cn_pool_release(&pool);
}

static void test_node_limit(void **state)
{
	(void)state;
	struct cn_pool pool;
	struct xml_node *root;
	size_t n = 100000, cap = n * 4 + 16, o = 0; /* past the 80000-node cap */
	char *doc = malloc(cap);

	assert_non_null(doc);
	o += (size_t)snprintf(doc, cap, "<r>");
	for (size_t i = 0; i < n; i++) {
		memcpy(doc + o, "<x/>", 4);
		o += 4;
	}
	memcpy(doc + o, "</r>", 4);
	o += 4;
	cn_pool_init(&pool);
	assert_int_equal(xml_parse(&pool, doc, o, &root), CN_EBADXML);
	/* 1000 siblings are fine (DeleteObjects sends up to 1000 keys) */
	assert_int_equal(xml_parse(&pool, doc, 3 + 4 * 1000, &root), CN_EBADXML); /* unclosed */
	memcpy(doc + 3 + 4 * 1000, "</r>", 4);
	assert_int_equal(xml_parse(&pool, doc, 3 + 4 * 1000 + 4, &root), 0);
	size_t count = 0;
	for (struct xml_node *c = root->child; c; c = c->next)
		count++;
	assert_int_equal(count, 1000);
	cn_pool_release(&pool);
	free(doc);
}

/* Text delivered in many small pieces (each entity reference is its own
 * expat callback) must cost memory linear in the text, not quadratic. */
static void test_fragmented_text_memory_linear(void **state)
{
	(void)state;
	struct cn_pool pool;
	struct xml_node *root;
	size_t n = 50000, cap = n * 5 + 32, o = 0;
	char *doc = malloc(cap);

	assert_non_null(doc);
	o += (size_t)snprintf(doc, cap, "<Key>");
	for (size_t i = 0; i < n; i++) {
		memcpy(doc + o, "&amp;", 5);
		o += 5;
	}
	memcpy(doc + o, "</Key>", 6);
	o += 6;
	cn_pool_init(&pool);
	assert_int_equal(xml_parse(&pool, doc, o, &root), 0);
	assert_int_equal(root->text_len, n);
	for (size_t i = 0; i < n; i++)
		assert_true(root->text[i] == '&');
	assert_int_equal(root->text[n], 0);
	/* quadratic growth would be ~n^2/2 = 1.25 GB here */
	assert_true(pool.total < 64 * o + (1u << 20));
	cn_pool_release(&pool);
	free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_specials),
		cmocka_unit_test(test_escape_controls),
		cmocka_unit_test(test_escape_every_byte),
		cmocka_unit_test(test_escape_long_texts),
		cmocka_unit_test(test_numbers_and_times),
		cmocka_unit_test(test_buf_reserve),
		cmocka_unit_test(test_elem_n_and_utf8),
		cmocka_unit_test(test_document_roundtrip),
		cmocka_unit_test(test_time_iso),
		cmocka_unit_test(test_parse_tree),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_mixed_content_refused),
		cmocka_unit_test(test_entity_declarations_refused),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_node_limit),
		cmocka_unit_test(test_fragmented_text_memory_linear),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests_name("xml", tests, NULL, NULL);
}
