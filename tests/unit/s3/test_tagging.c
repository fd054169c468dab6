/*
 * Unit tests for s3/tagging: Tagging bodies as the AWS docs and boto3
 * write them (namespaced and not), malformed ones; every limit at and one
 * past its boundary (10/11 object tags, 50/51 bucket tags, 128/129-character
 * keys and 256/257-character values written with multibyte characters, so
 * characters are not bytes, and characters above U+FFFF counting two);
 * repeated keys; every disallowed ASCII character and a set of non-ASCII
 * ones; empty keys and values; invalid UTF-8; the aws: prefix; the order
 * S3 reports errors in; the x-amz-tagging header (percent-encoding, '+',
 * `k=`, `k`, empty pairs, repeated keys, bad escapes, a second '='); the
 * response XML byte for byte, escaping included; the header written back;
 * the binary encoding (round trips, every truncation, trailing bytes, each
 * broken invariant); tagging_get(); the error mapping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "s3/s3err.h"
#include "s3/tagging.h"

#define NS "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""
#define DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"

#define MSG_KEY "The TagKey you have provided is invalid"
#define MSG_VALUE "The TagValue you have provided is invalid"
#define MSG_DUP "Cannot provide multiple Tags with the same key"
#define MSG_COUNT_OBJECT "Object tags cannot be greater than 10"
#define MSG_COUNT_BUCKET "Bucket tag count cannot be greater than 50"
#define MSG_AWS_OBJECT "Your TagKey cannot be prefixed with aws:"
#define MSG_AWS_BUCKET "System tags cannot be added/updated by requester"
#define MSG_HEADER                                                                                 \
	"The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query "          \
	"parameters without tag name duplicates."
#define MSG_MALFORMED                                                                              \
	"The XML you provided was not well-formed or did not validate against our published "      \
	"schema"

/* Characters of 2, 3 and 4 UTF-8 bytes: é (U+00E9, Ll), 中 (U+4E2D, Lo),
 * 𠀀 (U+20000, Lo: two UTF-16 code units). */
#define E2 "\xc3\xa9"
#define C3 "\xe4\xb8\xad"
#define A4 "\xf0\xa0\x80\x80"

/* ---- helpers ---- */

static struct tag_set *set_new(void)
{
	struct tag_set *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	return t;
}

/* Returns a heap string of n copies of unit. */
static char *rep(const char *unit, size_t n)
{
	struct cn_buf b;

	cn_buf_init(&b);
	for (size_t i = 0; i < n; i++)
		cn_buf_puts(&b, unit);
	cn_buf_putc(&b, 0);
	assert_int_equal(b.err, 0);
	return cn_buf_take(&b);
}

/* A heap string: first, then n - 1 copies of unit (n characters when
 * unit is one). */
static char *lead(char first, const char *unit, size_t n)
{
	char *tail = rep(unit, n - 1), *s = malloc(strlen(tail) + 2);

	assert_non_null(s);
	s[0] = first;
	strcpy(s + 1, tail);
	free(tail);
	return s;
}

/* A Tagging body of n tags from kv (key, value pairs, already XML text). */
static char *doc(const char *const *kv, size_t n, int ns)
{
	struct cn_buf b;

	cn_buf_init(&b);
	cn_buf_puts(&b, ns ? "<Tagging " NS "><TagSet>" : "<Tagging><TagSet>");
	for (size_t i = 0; i < n; i++)
		cn_buf_printf(&b, "<Tag><Key>%s</Key><Value>%s</Value></Tag>", kv[2 * i],
			      kv[2 * i + 1]);
	cn_buf_puts(&b, "</TagSet></Tagging>");
	assert_int_equal(b.err, 0);
	return cn_buf_take(&b);
}

/* A body of n tags k0..k<n-1> with empty values. */
static char *doc_n(size_t n)
{
	struct cn_buf b;

	cn_buf_init(&b);
	cn_buf_puts(&b, "<Tagging><TagSet>");
	for (size_t i = 0; i < n; i++)
		cn_buf_printf(&b, "<Tag><Key>k%zu</Key><Value></Value></Tag>", i);
	cn_buf_puts(&b, "</TagSet></Tagging>");
	assert_int_equal(b.err, 0);
	return cn_buf_take(&b);
}

/* Runs tagging_from_xml(); an error must say why. */
static int xml_in(const char *body, int for_bucket, struct tag_set *out, char *err, size_t cap)
{
	char local[256] = "";
	int rc;

	if (!err) {
		err = local;
		cap = sizeof(local);
	}
	err[0] = 0;
	rc = tagging_from_xml(body, strlen(body), for_bucket, out, err, cap);
	if (rc)
		assert_true(err[0] != 0);
	return rc;
}

static int hdr_in(const char *value, struct tag_set *out, char *err, size_t cap)
{
	char local[256] = "";
	int rc;

	if (!err) {
		err = local;
		cap = sizeof(local);
	}
	err[0] = 0;
	rc = tagging_from_header(value, out, err, cap);
	if (rc)
		assert_true(err[0] != 0);
	return rc;
}

/* Expects rc and S3's message from a body. */
static void xml_fails(const char *body, int for_bucket, int rc, const char *msg)
{
	struct tag_set *t = set_new();
	char err[256];

	if (xml_in(body, for_bucket, t, err, sizeof(err)) != rc)
		fail_msg("%.200s: want %s, got %s", body, cn_errname(rc),
			 cn_errname(tagging_from_xml(body, strlen(body), for_bucket, t, NULL, 0)));
	assert_string_equal(err, msg);
	free(t);
}

static void hdr_fails(const char *value, int rc, const char *msg)
{
	struct tag_set *t = set_new();
	char err[256];
	int got = hdr_in(value, t, err, sizeof(err));

	if (got != rc)
		fail_msg("'%.200s': want %s, got %s", value, cn_errname(rc), cn_errname(got));
	assert_string_equal(err, msg);
	free(t);
}

/* Expects t to hold exactly the NULL-terminated key, value pairs. */
static void expect_tags(const struct tag_set *t, ...)
{
	va_list ap;
	unsigned i = 0;
	const char *k;

	va_start(ap, t);
	while ((k = va_arg(ap, const char *)) != NULL) {
		const char *v = va_arg(ap, const char *);
		if (i >= t->n)
			fail_msg("only %u tags, want '%s' too", t->n, k);
		assert_int_equal(t->t[i].key_len, strlen(k));
		assert_string_equal(t->t[i].key, k);
		assert_int_equal(t->t[i].value_len, strlen(v));
		assert_string_equal(t->t[i].value, v);
		i++;
	}
	va_end(ap);
	assert_int_equal(t->n, i);
}

static void set_eq(const struct tag_set *a, const struct tag_set *b)
{
	assert_int_equal(a->n, b->n);
	for (unsigned i = 0; i < a->n; i++) {
		assert_int_equal(a->t[i].key_len, b->t[i].key_len);
		assert_int_equal(a->t[i].value_len, b->t[i].value_len);
		assert_memory_equal(a->t[i].key, b->t[i].key, a->t[i].key_len + 1);
		assert_memory_equal(a->t[i].value, b->t[i].value, a->t[i].value_len + 1);
	}
}

/* Adds a tag to a hand-built set, unchecked. */
static void put_tag(struct tag_set *t, const char *k, const char *v)
{
	struct tagging_tag *g = &t->t[t->n++];

	g->key_len = (uint16_t)strlen(k);
	g->value_len = (uint16_t)strlen(v);
	memcpy(g->key, k, g->key_len + 1u);
	memcpy(g->value, v, g->value_len + 1u);
}

/* Percent-encodes every byte of s but letters and digits (heap). */
static char *pct(const char *s)
{
	struct cn_buf b;

	cn_buf_init(&b);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
			cn_buf_putc(&b, (char)c);
		else
			cn_buf_printf(&b, "%%%02X", c);
	}
	cn_buf_putc(&b, 0);
	assert_int_equal(b.err, 0);
	return cn_buf_take(&b);
}

/* ---- the Tagging document ---- */

static void test_xml_aws_docs(void **state)
{
	struct tag_set *t = set_new();
	(void)state;

	/* PutObjectTagging's sample request */
	assert_int_equal(xml_in("<Tagging>\n"
				"  <TagSet>\n"
				"     <Tag>\n"
				"       <Key>tag1</Key>\n"
				"       <Value>val1</Value>\n"
				"     </Tag>\n"
				"     <Tag>\n"
				"       <Key>tag2</Key>\n"
				"       <Value>val2</Value>\n"
				"     </Tag>\n"
				"  </TagSet>\n"
				"</Tagging>\n",
				0, t, NULL, 0),
			 0);
	expect_tags(t, "tag1", "val1", "tag2", "val2", NULL);

	/* PutBucketTagging's sample request: a value with a space */
	assert_int_equal(xml_in("<Tagging>\n"
				"  <TagSet>\n"
				"    <Tag>\n"
				"      <Key>Project</Key>\n"
				"      <Value>Project One</Value>\n"
				"    </Tag>\n"
				"    <Tag>\n"
				"      <Key>User</Key>\n"
				"      <Value>jsmith</Value>\n"
				"    </Tag>\n"
				"  </TagSet>\n"
				"</Tagging>",
				1, t, NULL, 0),
			 0);
	expect_tags(t, "Project", "Project One", "User", "jsmith", NULL);

	/* GetObjectTagging's sample response, read back: declaration, namespace */
	assert_int_equal(xml_in(DECL "<Tagging " NS ">\n"
				     "  <TagSet>\n"
				     "     <Tag>\n"
				     "       <Key>tag2</Key>\n"
				     "       <Value>vaL2</Value>\n"
				     "     </Tag>\n"
				     "     <Tag>\n"
				     "       <Key>tag1</Key>\n"
				     "       <Value>val1</Value>\n"
				     "     </Tag>\n"
				     "  </TagSet>\n"
				     "</Tagging>",
				0, t, NULL, 0),
			 0);
	/* kept in key order, whatever the body's */
	expect_tags(t, "tag1", "val1", "tag2", "vaL2", NULL);
	free(t);
}

static void test_xml_clients(void **state)
{
	struct tag_set *t = set_new();
	(void)state;

	/* boto3: one line, namespaced, no declaration; Value before Key is
	 * fine (the schema's order is not enforced) */
	assert_int_equal(xml_in("<Tagging " NS "><TagSet><Tag><Value>b</Value><Key>a</Key></Tag>"
				"<Tag><Key>Z</Key><Value>z</Value></Tag></TagSet></Tagging>",
				0, t, NULL, 0),
			 0);
	expect_tags(t, "Z", "z", "a", "b", NULL);

	/* the empty set (PutObjectTagging with it removes every tag) */
	assert_int_equal(xml_in("<Tagging><TagSet/></Tagging>", 0, t, NULL, 0), 0);
	assert_int_equal(t->n, 0);
	assert_int_equal(xml_in("<Tagging " NS "><TagSet>\n</TagSet></Tagging>", 1, t, NULL, 0), 0);
	assert_int_equal(t->n, 0);

	/* empty values, written either way; spaces kept, nothing trimmed */
	assert_int_equal(xml_in("<Tagging><TagSet><Tag><Key>a</Key><Value/></Tag>"
				"<Tag><Key> b </Key><Value></Value></Tag>"
				"<Tag><Key>c</Key><Value>  </Value></Tag></TagSet></Tagging>",
				0, t, NULL, 0),
			 0);
	expect_tags(t, " b ", "", "a", "", "c", "  ", NULL);

	/* character references and CDATA are text like any other */
	assert_int_equal(xml_in("<Tagging><TagSet><Tag><Key>&#x4E2D;&#233;</Key>"
				"<Value><![CDATA[a:b/c]]></Value></Tag></TagSet></Tagging>",
				0, t, NULL, 0),
			 0);
	expect_tags(t, C3 E2, "a:b/c", NULL);

	/* a prefixed namespace */
	assert_int_equal(xml_in("<s3:Tagging xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
				"<s3:TagSet><s3:Tag><s3:Key>k</s3:Key><s3:Value>v</s3:Value>"
				"</s3:Tag></s3:TagSet></s3:Tagging>",
				0, t, NULL, 0),
			 0);
	expect_tags(t, "k", "v", NULL);
	free(t);
}

static void test_xml_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"not xml",
		"<Tagging><TagSet>",
		"<Tagging></Tagging>",
		"<Tagging/>",
		"<Tags><TagSet></TagSet></Tags>",
		"<TagSet></TagSet>",
		"<Tagging><TagSet/><TagSet/></Tagging>",
		"<Tagging><TagSet/><Other/></Tagging>",
		"<Tagging>text<TagSet/></Tagging>",
		"<Tagging><TagSet>text</TagSet></Tagging>",
		"<Tagging><TagSet><Key>a</Key></TagSet></Tagging>",
		"<Tagging><TagSet><Tag><Key>a</Key></Tag></TagSet></Tagging>",
		"<Tagging><TagSet><Tag><Value>a</Value></Tag></TagSet></Tagging>",
		"<Tagging><TagSet><Tag/></TagSet></Tagging>",
		"<Tagging><TagSet><Tag><Key>a</Key><Key>b</Key><Value/></Tag></TagSet></Tagging>",
		"<Tagging><TagSet><Tag><Key>a</Key><Value/><Value/></Tag></TagSet></Tagging>",
		"<Tagging><TagSet><Tag><Key>a</Key><Value/><Extra/></Tag></TagSet></Tagging>",
		"<Tagging><TagSet><Tag><Key><b>a</b></Key><Value/></Tag></TagSet></Tagging>",
		"<Tagging><TagSet><Tag><Key>a</Key><Value>v<i/></Value></Tag></TagSet></Tagging>",
		"<Tagging><TagSet><Tag>x<Key>a</Key><Value/></Tag></TagSet></Tagging>",
		"<Tagging><TagSet><Tag><Key>a</Key><Value/></Tag><Tag><Key>b</Key></Tag>"
		"</TagSet></Tagging>",
		"<Tagging><TagSet><Tag><Key>a</Key><Value/></Tag></TagSet></Tagging><x/>",
		/* not UTF-8: expat refuses it */
		"<Tagging><TagSet><Tag><Key>\xff</Key><Value/></Tag></TagSet></Tagging>",
		/* entities are refused (no DTD) */
		"<!DOCTYPE t [<!ENTITY e \"x\">]><Tagging><TagSet/></Tagging>",
	};
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		xml_fails(bad[i], 0, CN_EBADXML, MSG_MALFORMED);
		xml_fails(bad[i], 1, CN_EBADXML, MSG_MALFORMED);
	}
	/* a shape error wins over bad tags and too many of them */
	{
		char *d = doc_n(11);
		char *both = malloc(strlen(d) + 16);
		assert_non_null(both);
		strcpy(both, d);
		strcpy(strstr(both, "</TagSet>"), "<Tag/></TagSet></Tagging>");
		xml_fails(both, 0, CN_EBADXML, MSG_MALFORMED);
		free(both);
		free(d);
	}
	/* the size bound */
	{
		char *big = rep(" ", TAGGING_MAX_XML + 1);
		struct tag_set *t = set_new();
		char err[128];
		assert_int_equal(tagging_from_xml(big, strlen(big), 0, t, err, sizeof(err)),
				 CN_ETOOBIG);
		free(t);
		free(big);
	}
}

/* ---- limits ---- */

static void test_count_limits(void **state)
{
	struct tag_set *t = set_new();
	char *d;
	(void)state;

	d = doc_n(10);
	assert_int_equal(xml_in(d, 0, t, NULL, 0), 0);
	assert_int_equal(t->n, 10);
	free(d);
	d = doc_n(11);
	xml_fails(d, 0, CN_ETAGCOUNT, MSG_COUNT_OBJECT);
	assert_int_equal(xml_in(d, 1, t, NULL, 0), 0); /* a bucket may */
	assert_int_equal(t->n, 11);
	free(d);
	d = doc_n(50);
	assert_int_equal(xml_in(d, 1, t, NULL, 0), 0);
	assert_int_equal(t->n, 50);
	/* in key order: k0 k1 k10 k11 ... */
	assert_string_equal(t->t[0].key, "k0");
	assert_string_equal(t->t[1].key, "k1");
	assert_string_equal(t->t[2].key, "k10");
	assert_string_equal(t->t[49].key, "k9");
	free(d);
	d = doc_n(51);
	xml_fails(d, 1, CN_ETAGCOUNT, MSG_COUNT_BUCKET);
	free(d);
	/* thousands of tags are refused quickly (no quadratic duplicate check) */
	d = doc_n(5000);
	xml_fails(d, 1, CN_ETAGCOUNT, MSG_COUNT_BUCKET);
	free(d);
	free(t);
}

/* One tag (key k, value v) from a body; returns rc. */
static int one(const char *k, const char *v, int for_bucket, struct tag_set *t, char *err)
{
	const char *kv[2] = {k, v};
	char *d = doc(kv, 1, 0);
	int rc = xml_in(d, for_bucket, t, err, 256);

	free(d);
	return rc;
}

static void expect_key_len(const char *unit, size_t n, int ok)
{
	struct tag_set *t = set_new();
	char err[256];
	char *k = rep(unit, n);

	for (int b = 0; b <= 1; b++) {
		int rc = one(k, "v", b, t, err);
		if (ok) {
			assert_int_equal(rc, 0);
			assert_int_equal(t->t[0].key_len, strlen(k));
			assert_string_equal(t->t[0].key, k);
		} else {
			assert_int_equal(rc, CN_EBADTAG);
			assert_string_equal(err, MSG_KEY);
		}
	}
	free(k);
	free(t);
}

static void expect_value_len(const char *unit, size_t n, int ok)
{
	struct tag_set *t = set_new();
	char err[256];
	char *v = rep(unit, n);

	for (int b = 0; b <= 1; b++) {
		int rc = one("k", v, b, t, err);
		if (ok) {
			assert_int_equal(rc, 0);
			assert_int_equal(t->t[0].value_len, strlen(v));
			assert_string_equal(t->t[0].value, v);
		} else {
			assert_int_equal(rc, CN_EBADTAG);
			assert_string_equal(err, MSG_VALUE);
		}
	}
	free(v);
	free(t);
}

static void test_length_limits(void **state)
{
	(void)state;

	/* 128 / 129 characters of 1, 2 and 3 bytes: the limit is characters */
	expect_key_len("k", 128, 1);
	expect_key_len("k", 129, 0);
	expect_key_len(E2, 128, 1); /* 256 bytes */
	expect_key_len(E2, 129, 0);
	expect_key_len(C3, 128, 1); /* 384 bytes */
	expect_key_len(C3, 129, 0);
	/* above U+FFFF a character is two UTF-16 units, as S3 counts */
	expect_key_len(A4, 64, 1);
	expect_key_len(A4, 65, 0);
	expect_key_len(E2 A4, 42, 1);	   /* 126 units */
	expect_key_len(E2 A4 "x", 32, 1);  /* 128 */
	expect_key_len(E2 A4 "xy", 26, 0); /* 130 */
	expect_key_len(A4, 128, 0);	   /* 128 code points, 256 units */
	expect_value_len("v", 256, 1);
	expect_value_len("v", 257, 0);
	expect_value_len(E2, 256, 1); /* 512 bytes */
	expect_value_len(E2, 257, 0);
	expect_value_len(C3, 256, 1); /* 768 bytes */
	expect_value_len(C3, 257, 0);
	expect_value_len(A4, 128, 1);
	expect_value_len(A4, 129, 0);
	/* far past the byte bound too */
	expect_key_len(C3, 1000, 0);
	expect_value_len(C3, 2000, 0);
}

/* The empty key is refused; the empty value is a value. */
static void test_empty_key_value(void **state)
{
	struct tag_set *t = set_new();
	char err[256];
	(void)state;

	assert_int_equal(one("", "v", 0, t, err), CN_EBADTAG);
	assert_string_equal(err, MSG_KEY);
	xml_fails("<Tagging><TagSet><Tag><Key/><Value/></Tag></TagSet></Tagging>", 1, CN_EBADTAG,
		  MSG_KEY);
	assert_int_equal(one("k", "", 0, t, err), 0);
	expect_tags(t, "k", "", NULL);
	/* a key of spaces only is letters-numbers-spaces */
	assert_int_equal(one(" ", "", 0, t, err), 0);
	expect_tags(t, " ", "", NULL);
	free(t);
}

static void test_characters(void **state)
{
	struct tag_set *t = set_new();
	char err[256], k[64], v[64];
	/* every printable ASCII character is a letter, a digit, a space, one
	 * of + - = . _ : / @, or refused */
	const char *specials = " +-=._:/@";
	(void)state;

	for (int c = 0x20; c < 0x7f; c++) {
		int ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
			 (c >= 'a' && c <= 'z') || strchr(specials, c) != NULL;
		const char *esc = c == '&' ? "&amp;" : c == '<' ? "&lt;" : NULL;
		snprintf(k, sizeof(k), "a%sb", esc ? esc : (char[]){(char)c, 0});
		if (c == '&' || c == '<')
			snprintf(v, sizeof(v), "%s", k);
		else
			snprintf(v, sizeof(v), "a%cb", c);
		assert_int_equal(one(k, "v", 0, t, err), ok ? 0 : CN_EBADTAG);
		if (!ok)
			assert_string_equal(err, MSG_KEY);
		assert_int_equal(one("k", v, 1, t, err), ok ? 0 : CN_EBADTAG);
		if (!ok)
			assert_string_equal(err, MSG_VALUE);
		if (ok)
			assert_int_equal(t->t[0].value[1], c);
	}
	/* control characters, written as references where XML needs one */
	static const char *const controls[] = {"&#9;",	 "\t",	 "\n",	  "&#13;",
					       "&#127;", "\x7f", "&#x85;"};
	for (size_t i = 0; i < sizeof(controls) / sizeof(controls[0]); i++) {
		snprintf(k, sizeof(k), "a%sb", controls[i]);
		assert_int_equal(one(k, "v", 0, t, err), CN_EBADTAG);
		assert_string_equal(err, MSG_KEY);
		assert_int_equal(one("k", k, 0, t, err), CN_EBADTAG);
		assert_string_equal(err, MSG_VALUE);
	}
	/* Unicode letters, numbers and separators of several scripts */
	static const char *const good[] = {
		"\xce\xb1\xce\xb2\xce\xb3", /* Greek (Ll) */
		"\xd0\x96",		    /* Cyrillic (Lu) */
		"\xd9\xa1\xd9\xa2",	    /* Arabic-Indic digits (Nd) */
		"\xe2\x85\xab",		    /* Roman numeral twelve (Nl) */
		"\xc2\xbd",		    /* vulgar fraction one half (No) */
		"x\xc2\xa0y",		    /* no-break space (Zs) */
		"x\xe3\x80\x80y",	    /* ideographic space (Zs) */
		"x\xe2\x80\xa8y",	    /* line separator (Zl) */
		"\xe3\x81\x82\xe3\x82\xa2", /* Hiragana, Katakana (Lo) */
		"\xea\xb0\x80",		    /* Hangul (Lo) */
		"\xca\xb0",		    /* modifier letter (Lm) */
		"\xf0\x9d\x90\x80",	    /* mathematical bold A, U+1D400 (Lu) */
		"\xc7\x85",		    /* titlecase Dz (Lt) */
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(one(good[i], good[i], 0, t, err), 0);
		expect_tags(t, good[i], good[i], NULL);
	}
	/* symbols, marks, format and private-use characters are not */
	static const char *const refused[] = {
		"\xf0\x9f\x98\x80", /* grinning face, U+1F600 (So) */
		"\xe2\x82\xac",	    /* euro sign (Sc) */
		"\xc2\xa9",	    /* copyright sign (So) */
		"e\xcc\x81",	    /* e + combining acute (Mn) */
		"x\xe2\x80\x8by",   /* zero-width space (Cf) */
		"\xef\xbb\xbfz",    /* byte order mark (Cf) */
		"x\xc2\xady",	    /* soft hyphen (Cf) */
		"\xee\x80\x80",	    /* private use, U+E000 (Co) */
		"\xef\xbf\xbd",	    /* replacement character (So) */
		"\xe3\x80\x81",	    /* ideographic comma (Po) */
		"x\xef\xbc\x8cy",   /* fullwidth comma (Po) */
		"\xf3\xa0\x80\x81", /* language tag, U+E0001 (Cf) */
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		assert_int_equal(one(refused[i], "v", 0, t, err), CN_EBADTAG);
		assert_string_equal(err, MSG_KEY);
		assert_int_equal(one("k", refused[i], 0, t, err), CN_EBADTAG);
		assert_string_equal(err, MSG_VALUE);
	}
	free(t);
}

static void test_duplicates(void **state)
{
	static const char *const dup[] = {"a", "1", "b", "2", "a", "3"};
	static const char *const cased[] = {"a", "1", "A", "2"};
	static const char *const spaced[] = {"a", "1", "a ", "2"};
	struct tag_set *t = set_new();
	char *d;
	(void)state;

	d = doc(dup, 3, 1);
	xml_fails(d, 0, CN_EBADTAG, MSG_DUP);
	xml_fails(d, 1, CN_EBADTAG, MSG_DUP);
	free(d);
	/* keys are case-sensitive and compared byte for byte */
	d = doc(cased, 2, 0);
	assert_int_equal(xml_in(d, 0, t, NULL, 0), 0);
	expect_tags(t, "A", "2", "a", "1", NULL);
	free(d);
	d = doc(spaced, 2, 0);
	assert_int_equal(xml_in(d, 0, t, NULL, 0), 0);
	expect_tags(t, "a", "1", "a ", "2", NULL);
	free(d);
	/* the same key spelled two ways in XML */
	xml_fails("<Tagging><TagSet><Tag><Key>&#x61;</Key><Value/></Tag><Tag><Key>a</Key><Value/>"
		  "</Tag></TagSet></Tagging>",
		  0, CN_EBADTAG, MSG_DUP);
	free(t);
}

static void test_aws_prefix(void **state)
{
	struct tag_set *t = set_new();
	char err[256];
	(void)state;

	/* objects: "aws:" as written */
	assert_int_equal(one("aws:cost", "v", 0, t, err), CN_EBADTAG);
	assert_string_equal(err, MSG_AWS_OBJECT);
	assert_int_equal(one("aws:", "v", 0, t, err), CN_EBADTAG);
	assert_string_equal(err, MSG_AWS_OBJECT);
	assert_int_equal(one("AWS:cost", "v", 0, t, err), 0);
	assert_int_equal(one("Aws:cost", "v", 0, t, err), 0);
	/* buckets: in any case */
	assert_int_equal(one("aws:cost", "v", 1, t, err), CN_EBADTAG);
	assert_string_equal(err, MSG_AWS_BUCKET);
	assert_int_equal(one("AWS:cost", "v", 1, t, err), CN_EBADTAG);
	assert_string_equal(err, MSG_AWS_BUCKET);
	assert_int_equal(one("aWs:", "v", 1, t, err), CN_EBADTAG);
	/* only a key's prefix is reserved */
	for (int b = 0; b <= 1; b++) {
		assert_int_equal(one("aws", "v", b, t, err), 0);
		assert_int_equal(one("aws-cost", "v", b, t, err), 0);
		assert_int_equal(one("x:aws:y", "v", b, t, err), 0);
		assert_int_equal(one(" aws:", "v", b, t, err), 0);
		assert_int_equal(one("k", "aws:v", b, t, err), 0);
	}
	free(t);
}

/* S3 reports the first bad tag in document order (its key, then its
 * value, a repeat, a reserved key), then the count. */
static void test_check_order(void **state)
{
	static const char *const value_first[] = {"a", "b,", "b,", "v"};
	static const char *const dup_late[] = {"a", "1", "b", "2", "c", "x;", "a", "3"};
	static const char *const key_then_value[] = {"k;", "v;"};
	static const char *const aws_dup[] = {"aws:x", "1", "aws:x", "2"};
	static const char *const dup_then_aws[] = {"a", "1", "a", "2", "aws:x", "3"};
	struct cn_buf b;
	char *d;
	(void)state;

	d = doc(value_first, 2, 0);
	xml_fails(d, 0, CN_EBADTAG, MSG_VALUE);
	free(d);
	d = doc(dup_late, 4, 0);
	xml_fails(d, 1, CN_EBADTAG, MSG_VALUE);
	free(d);
	d = doc(key_then_value, 1, 0);
	xml_fails(d, 0, CN_EBADTAG, MSG_KEY);
	free(d);
	d = doc(aws_dup, 2, 0);
	xml_fails(d, 0, CN_EBADTAG, MSG_AWS_OBJECT);
	free(d);
	d = doc(dup_then_aws, 3, 0);
	xml_fails(d, 0, CN_EBADTAG, MSG_DUP);
	free(d);
	/* a bad eleventh tag is reported, not the count */
	cn_buf_init(&b);
	cn_buf_puts(&b, "<Tagging><TagSet>");
	for (int i = 0; i < 10; i++)
		cn_buf_printf(&b, "<Tag><Key>k%d</Key><Value/></Tag>", i);
	cn_buf_puts(&b, "<Tag><Key>k!</Key><Value/></Tag></TagSet></Tagging>");
	assert_int_equal(b.err, 0);
	xml_fails(b.s, 0, CN_EBADTAG, MSG_KEY);
	/* and so is a repeat past the 50th */
	cn_buf_reset(&b);
	cn_buf_puts(&b, "<Tagging><TagSet>");
	for (int i = 0; i < 60; i++)
		cn_buf_printf(&b, "<Tag><Key>k%d</Key><Value/></Tag>", i);
	cn_buf_puts(&b, "<Tag><Key>k7</Key><Value/></Tag></TagSet></Tagging>");
	assert_int_equal(b.err, 0);
	xml_fails(b.s, 1, CN_EBADTAG, MSG_DUP);
	cn_buf_release(&b);
}

/* err is truncated to errcap and always terminated; NULL or 0 is fine. */
static void test_err_buffer(void **state)
{
	struct tag_set *t = set_new();
	char err[8];
	const char *body = "<Tagging><TagSet><Tag><Key>a!</Key><Value/></Tag></TagSet></Tagging>";
	(void)state;

	memset(err, 'x', sizeof(err));
	assert_int_equal(tagging_from_xml(body, strlen(body), 0, t, err, sizeof(err)), CN_EBADTAG);
	assert_string_equal(err, "The Tag");
	assert_int_equal(tagging_from_xml(body, strlen(body), 0, t, NULL, 0), CN_EBADTAG);
	err[0] = 'x';
	assert_int_equal(tagging_from_xml(body, strlen(body), 0, t, err, 0), CN_EBADTAG);
	assert_int_equal(err[0], 'x');
	assert_int_equal(tagging_from_header("a=%", t, NULL, 0), CN_EBADTAGHDR);
	free(t);
}

/* ---- the x-amz-tagging header ---- */

static void test_header(void **state)
{
	struct tag_set *t = set_new();
	(void)state;

	/* PutObject's sample */
	assert_int_equal(hdr_in("tag1=value1&tag2=value2", t, NULL, 0), 0);
	expect_tags(t, "tag1", "value1", "tag2", "value2", NULL);
	/* kept in key order */
	assert_int_equal(hdr_in("foo=bar&bar", t, NULL, 0), 0);
	expect_tags(t, "bar", "", "foo", "bar", NULL);
	/* percent-encoding in either case, '+' as a space, %2B as '+' */
	assert_int_equal(hdr_in("a+b=c%20d&%2B=%2b&x%3Ay=%2F%40%3d%2d", t, NULL, 0), 0);
	expect_tags(t, "+", "+", "a b", "c d", "x:y", "/@=-", NULL);
	/* multibyte characters, encoded or raw */
	assert_int_equal(hdr_in("%E4%B8%AD=%c3%a9&" C3 E2 "=" A4, t, NULL, 0), 0);
	expect_tags(t, C3, E2, C3 E2, A4, NULL);
	/* empty values two ways; empty pairs skipped */
	assert_int_equal(hdr_in("&&k=&&j&", t, NULL, 0), 0);
	expect_tags(t, "j", "", "k", "", NULL);
	assert_int_equal(hdr_in("", t, NULL, 0), 0);
	assert_int_equal(t->n, 0);
	assert_int_equal(hdr_in("&", t, NULL, 0), 0);
	assert_int_equal(t->n, 0);
	/* a key of a space */
	assert_int_equal(hdr_in("+=v", t, NULL, 0), 0);
	expect_tags(t, " ", "v", NULL);
	assert_int_equal(tagging_from_header(NULL, t, NULL, 0), CN_EINVAL);
	free(t);
}

static void test_header_errors(void **state)
{
	static const char *const bad[] = {
		"=1",				      /* no key */
		"a=1&=2",			      /* no key, second pair */
		"=",				      /* no key, no value */
		"a=b=c",			      /* a second '=' */
		"a==",				      /* likewise */
		"TagSet=[{Key=string,Value=string}]", /* the aws CLI's shorthand, sent raw */
		"a=%",				      /* escapes cut short */
		"a=%4",				      /* ... */
		"%=a",				      /* ... */
		"a%2=b",			      /* ... */
		"a=%zz",			      /* not hex */
		"a=%G0",			      /* ... */
		"a=% 1",			      /* ... */
		"a=%FF",			      /* not UTF-8 */
		"a=%C3",			      /* a sequence cut short */
		"%C3=b",			      /* ... in a key */
		"a=%C0%AF",			      /* an overlong form */
		"a=%ED%A0%80",			      /* a surrogate */
		"a=%F4%90%80%80",		      /* above U+10FFFF */
		"a=\xff",			      /* raw bytes that are not UTF-8 */
		"a=1&a=2",			      /* a key given twice */
		"a=1&b&a",			      /* ... */
		"a=1&%61=2",			      /* ... once decoded */
		"a+b=1&a%20b=2",		      /* ... */
	};
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		hdr_fails(bad[i], CN_EBADTAGHDR, MSG_HEADER);
	/* the header's errors come before the tags' */
	hdr_fails("a,b=1&a=%", CN_EBADTAGHDR, MSG_HEADER);
	hdr_fails("k!=1&k!=2", CN_EBADTAGHDR, MSG_HEADER);
	/* tags that decode but break the limits */
	hdr_fails("a,b=1", CN_EBADTAG, MSG_KEY);
	hdr_fails("a=1,2", CN_EBADTAG, MSG_VALUE);
	hdr_fails("a=%09", CN_EBADTAG, MSG_VALUE);
	hdr_fails("a%00=1", CN_EBADTAG, MSG_KEY);
	hdr_fails("a%1F=1", CN_EBADTAG, MSG_KEY); /* XML cannot even carry these */
	hdr_fails("a=%7F", CN_EBADTAG, MSG_VALUE);
	hdr_fails("a=%C2%85", CN_EBADTAG, MSG_VALUE);
	hdr_fails("aws:cost=1", CN_EBADTAG, MSG_AWS_OBJECT);
	hdr_fails("TagSet%3D%5B%7BKey%3Dstring%2CValue%3Dstring%7D%5D", CN_EBADTAG, MSG_KEY);
	{
		struct tag_set *t = set_new();
		assert_int_equal(hdr_in("AWS:cost=1", t, NULL, 0), 0);
		free(t);
	}
}

static void test_header_limits(void **state)
{
	struct tag_set *t = set_new();
	struct cn_buf b;
	char *k, *ke, *h;
	(void)state;

	cn_buf_init(&b);
	for (int i = 0; i < 10; i++)
		cn_buf_printf(&b, "%sk%d=", i ? "&" : "", i);
	assert_int_equal(hdr_in(b.s, t, NULL, 0), 0);
	assert_int_equal(t->n, 10);
	cn_buf_puts(&b, "&k10=");
	hdr_fails(b.s, CN_ETAGCOUNT, MSG_COUNT_OBJECT);
	/* a bad eleventh tag is reported, not the count */
	cn_buf_puts(&b, "&k!=");
	hdr_fails(b.s, CN_EBADTAG, MSG_KEY);
	cn_buf_release(&b);

	/* 128 / 129 characters of two bytes, percent-encoded */
	k = rep(E2, 128);
	ke = pct(k);
	h = malloc(strlen(ke) + 8);
	assert_non_null(h);
	sprintf(h, "%s=v", ke);
	assert_int_equal(hdr_in(h, t, NULL, 0), 0);
	expect_tags(t, k, "v", NULL);
	free(h), free(ke), free(k);
	k = rep(E2, 129);
	ke = pct(k);
	h = malloc(strlen(ke) + 8);
	assert_non_null(h);
	sprintf(h, "%s=v", ke);
	hdr_fails(h, CN_EBADTAG, MSG_KEY);
	free(h), free(ke), free(k);
	/* 256 / 257 characters of three bytes in a value */
	k = rep(C3, 256);
	ke = pct(k);
	h = malloc(strlen(ke) + 8);
	assert_non_null(h);
	sprintf(h, "k=%s", ke);
	assert_int_equal(hdr_in(h, t, NULL, 0), 0);
	expect_tags(t, "k", k, NULL);
	free(h), free(ke), free(k);
	k = rep(C3, 257);
	ke = pct(k);
	h = malloc(strlen(ke) + 8);
	assert_non_null(h);
	sprintf(h, "k=%s", ke);
	hdr_fails(h, CN_EBADTAG, MSG_VALUE);
	free(h), free(ke), free(k);
	/* thousands of pairs are refused quickly */
	h = rep("a&", 20000);
	hdr_fails(h, CN_EBADTAGHDR, MSG_HEADER);
	free(h);
	cn_buf_init(&b);
	for (int i = 0; i < 20000; i++)
		cn_buf_printf(&b, "k%d&", i);
	hdr_fails(b.s, CN_ETAGCOUNT, MSG_COUNT_OBJECT);
	cn_buf_release(&b);
	free(t);
}

/* ---- out ---- */

static void test_to_xml(void **state)
{
	struct tag_set *t = set_new();
	struct cn_buf w;
	(void)state;

	cn_buf_init(&w);
	tagging_to_xml(t, &w);
	assert_int_equal(w.err, 0);
	assert_string_equal(w.s, DECL "<Tagging " NS "><TagSet></TagSet></Tagging>");

	assert_int_equal(hdr_in("tag2=val2&tag1=val1", t, NULL, 0), 0);
	cn_buf_reset(&w);
	tagging_to_xml(t, &w);
	assert_string_equal(w.s, DECL "<Tagging " NS "><TagSet>"
				      "<Tag><Key>tag1</Key><Value>val1</Value></Tag>"
				      "<Tag><Key>tag2</Key><Value>val2</Value></Tag>"
				      "</TagSet></Tagging>");

	/* multibyte text as it is; an empty value as an empty element */
	assert_int_equal(hdr_in("%E4%B8%AD=&a+b=" E2, t, NULL, 0), 0);
	cn_buf_reset(&w);
	tagging_to_xml(t, &w);
	assert_string_equal(w.s, DECL "<Tagging " NS "><TagSet>"
				      "<Tag><Key>a b</Key><Value>" E2 "</Value></Tag>"
				      "<Tag><Key>" C3 "</Key><Value></Value></Tag>"
				      "</TagSet></Tagging>");

	/* no valid tag needs escaping; what t holds is escaped all the same */
	memset(t, 0, sizeof(*t));
	put_tag(t, "a&b<c>", "\"q\" 'a' \r");
	cn_buf_reset(&w);
	tagging_to_xml(t, &w);
	assert_string_equal(w.s, DECL "<Tagging " NS "><TagSet>"
				      "<Tag><Key>a&amp;b&lt;c&gt;</Key>"
				      "<Value>&quot;q&quot; &apos;a&apos; &#13;</Value></Tag>"
				      "</TagSet></Tagging>");
	cn_buf_release(&w);
	free(t);
}

/* What tagging_to_xml() writes reads back to the same set. */
static void test_xml_round_trip(void **state)
{
	static const char *const headers[] = {
		"",
		"a=",
		"k0=&k1=1&k2=22&k3=333&k4=&k5=5&k6=&k7=7&k8=&k9=9",
		"%2B%2D%3D%2E%5F%3A%2F%40=%20%20&x=" A4 C3 E2,
	};
	struct tag_set *t = set_new(), *u = set_new();
	struct cn_buf w;
	(void)state;

	cn_buf_init(&w);
	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		assert_int_equal(hdr_in(headers[i], t, NULL, 0), 0);
		cn_buf_reset(&w);
		tagging_to_xml(t, &w);
		assert_int_equal(w.err, 0);
		assert_int_equal(tagging_from_xml(w.s, w.len, 0, u, NULL, 0), 0);
		set_eq(t, u);
	}
	cn_buf_release(&w);
	free(u);
	free(t);
}

static void test_to_header(void **state)
{
	struct tag_set *t = set_new(), *u = set_new();
	char out[TAGGING_HEADER_CAP];
	size_t need;
	(void)state;

	assert_int_equal(tagging_to_header(t, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(hdr_in("b=2&a+b=c+d&%2B=%2F&k=&x=" E2, t, NULL, 0), 0);
	assert_int_equal(tagging_to_header(t, out, sizeof(out)), 0);
	assert_string_equal(out, "%2B=%2F&a%20b=c%20d&b=2&k=&x=%C3%A9");
	assert_int_equal(hdr_in(out, u, NULL, 0), 0);
	set_eq(t, u);
	/* every cap short of the need fails and leaves "" */
	need = strlen(out) + 1;
	for (size_t cap = 0; cap < need; cap++) {
		char small[64];
		memset(small, 'x', sizeof(small));
		assert_int_equal(tagging_to_header(t, small, cap), CN_ETOOBIG);
		if (cap > 0)
			assert_int_equal(small[0], 0);
		else
			assert_int_equal(small[0], 'x');
	}
	assert_int_equal(tagging_to_header(t, out, need), 0);

	/* the largest object set fits TAGGING_HEADER_CAP, and reads back */
	memset(t, 0, sizeof(*t));
	for (int i = 0; i < TAGGING_MAX_OBJECT; i++) {
		/* keys differ and stay in order */
		char *k = lead((char)('a' + i), C3, TAGGING_KEY_MAX_CHARS);
		char *v = rep(C3, TAGGING_VALUE_MAX_CHARS);
		put_tag(t, k, v);
		free(k), free(v);
	}
	assert_int_equal(tagging_to_header(t, out, sizeof(out)), 0);
	assert_int_equal(hdr_in(out, u, NULL, 0), 0);
	set_eq(t, u);
	free(u);
	free(t);
}

static void test_get(void **state)
{
	struct tag_set *t = set_new();
	const char *v = NULL;
	size_t len = 99;
	(void)state;

	assert_int_equal(tagging_get(t, "a", &v, &len), CN_ENOTFOUND);
	assert_int_equal(xml_in("<Tagging><TagSet><Tag><Key>Project</Key><Value>One</Value></Tag>"
				"<Tag><Key>a</Key><Value/></Tag><Tag><Key>ab</Key><Value>2</Value>"
				"</Tag><Tag><Key>" C3 "</Key><Value>" E2 "</Value></Tag>"
				"<Tag><Key>b</Key><Value>x y</Value></Tag></TagSet></Tagging>",
				1, t, NULL, 0),
			 0);
	assert_int_equal(tagging_get(t, "Project", &v, &len), 0);
	assert_string_equal(v, "One");
	assert_int_equal(len, 3);
	assert_int_equal(tagging_get(t, "a", &v, &len), 0);
	assert_string_equal(v, "");
	assert_int_equal(len, 0);
	assert_int_equal(tagging_get(t, "ab", &v, &len), 0);
	assert_string_equal(v, "2");
	assert_int_equal(tagging_get(t, "b", &v, NULL), 0);
	assert_string_equal(v, "x y");
	assert_int_equal(tagging_get(t, C3, NULL, &len), 0);
	assert_int_equal(len, 2);
	assert_int_equal(tagging_get(t, C3, NULL, NULL), 0);
	/* case-sensitive, whole keys only */
	assert_int_equal(tagging_get(t, "project", &v, &len), CN_ENOTFOUND);
	assert_int_equal(tagging_get(t, "Proj", &v, &len), CN_ENOTFOUND);
	assert_int_equal(tagging_get(t, "abc", &v, &len), CN_ENOTFOUND);
	assert_int_equal(tagging_get(t, "", &v, &len), CN_ENOTFOUND);
	assert_int_equal(tagging_get(t, "zzz", &v, &len), CN_ENOTFOUND);
	assert_int_equal(tagging_get(t, "A", &v, &len), CN_ENOTFOUND);
	/* every key of a full bucket set is found */
	{
		char *d = doc_n(50);
		assert_int_equal(xml_in(d, 1, t, NULL, 0), 0);
		for (int i = 0; i < 50; i++) {
			char k[16];
			snprintf(k, sizeof(k), "k%d", i);
			assert_int_equal(tagging_get(t, k, &v, &len), 0);
			assert_int_equal(len, 0);
		}
		assert_int_equal(tagging_get(t, "k50", &v, &len), CN_ENOTFOUND);
		free(d);
	}
	free(t);
}

/* ---- binary encoding ---- */

static void test_encode_exact(void **state)
{
	struct tag_set *t = set_new();
	struct cn_buf w;
	static const uint8_t empty[] = {1, 0};
	static const uint8_t ab[] = {1, 1, 1, 0, 1, 0, 'a', 'b'};
	static const uint8_t two[] = {1, 2, 1, 0, 0, 0, 'k', 2, 0, 3, 0, 0xc3, 0xa9, '1', '2', '3'};
	(void)state;

	cn_buf_init(&w);
	assert_int_equal(tagging_encode(t, &w), 0);
	assert_int_equal(w.len, sizeof(empty));
	assert_memory_equal(w.p, empty, sizeof(empty));
	assert_int_equal(hdr_in("a=b", t, NULL, 0), 0);
	cn_buf_reset(&w);
	assert_int_equal(tagging_encode(t, &w), 0);
	assert_int_equal(w.len, sizeof(ab));
	assert_memory_equal(w.p, ab, sizeof(ab));
	assert_int_equal(hdr_in("%C3%A9=123&k", t, NULL, 0), 0);
	cn_buf_reset(&w);
	assert_int_equal(tagging_encode(t, &w), 0);
	assert_int_equal(w.len, sizeof(two));
	assert_memory_equal(w.p, two, sizeof(two));
	cn_buf_release(&w);
	free(t);
}

/* Encodes t, decodes it back, and checks every truncation and a trailing
 * byte are refused. */
static void round_trip(const struct tag_set *t)
{
	struct tag_set *u = set_new();
	struct cn_buf w;

	cn_buf_init(&w);
	assert_int_equal(tagging_encode(t, &w), 0);
	assert_int_equal(tagging_decode(w.p, w.len, u), 0);
	set_eq(t, u);
	for (size_t cut = 0; cut < w.len; cut++)
		assert_int_equal(tagging_decode(w.p, cut, u), CN_ECORRUPT);
	cn_buf_putc(&w, 0);
	assert_int_equal(tagging_decode(w.p, w.len, u), CN_ECORRUPT);
	w.p[w.len - 1] = 1;
	assert_int_equal(tagging_decode(w.p, w.len, u), CN_ECORRUPT);
	cn_buf_release(&w);
	free(u);
}

static void test_encode_round_trip(void **state)
{
	struct tag_set *t = set_new();
	char *d;
	(void)state;

	round_trip(t); /* empty */
	assert_int_equal(hdr_in("a=b", t, NULL, 0), 0);
	round_trip(t);
	assert_int_equal(hdr_in("Project=Project+One&User=jsmith&empty=&" C3 "=" A4, t, NULL, 0),
			 0);
	round_trip(t);
	d = doc_n(50);
	assert_int_equal(xml_in(d, 1, t, NULL, 0), 0);
	round_trip(t);
	free(d);
	/* the largest record: 50 tags of the longest keys and values */
	memset(t, 0, sizeof(*t));
	for (int i = 0; i < TAGGING_MAX_BUCKET; i++) {
		/* A..Z then a..x: in order */
		char *k = lead((char)(i < 26 ? 'A' + i : 'a' + i - 26), C3, TAGGING_KEY_MAX_CHARS);
		char *v = rep(C3, TAGGING_VALUE_MAX_CHARS);
		put_tag(t, k, v);
		free(k), free(v);
	}
	round_trip(t);
	free(t);
}

static void test_decode_rejects(void **state)
{
	struct tag_set *t = set_new();
	(void)state;

	/* versions */
	assert_int_equal(tagging_decode((const uint8_t[]){0, 0}, 2, t), CN_EFORMAT);
	assert_int_equal(tagging_decode((const uint8_t[]){2, 0}, 2, t), CN_EFORMAT);
	assert_int_equal(tagging_decode((const uint8_t[]){2}, 1, t), CN_EFORMAT);
	assert_int_equal(tagging_decode("", 0, t), CN_ECORRUPT);
	/* a count past 50 */
	assert_int_equal(tagging_decode((const uint8_t[]){1, 51}, 2, t), CN_ECORRUPT);
	assert_int_equal(tagging_decode((const uint8_t[]){1, 255}, 2, t), CN_ECORRUPT);
	/* an empty key; lengths past the bounds */
	assert_int_equal(tagging_decode((const uint8_t[]){1, 1, 0, 0, 1, 0, 'v'}, 7, t),
			 CN_ECORRUPT);
	assert_int_equal(tagging_decode((const uint8_t[]){1, 1, 0x01, 0x02, 0, 0}, 6, t),
			 CN_ECORRUPT); /* 513 */
	assert_int_equal(tagging_decode((const uint8_t[]){1, 1, 1, 0, 0x01, 0x04, 'k'}, 7, t),
			 CN_ECORRUPT); /* 1025 */
	assert_int_equal(tagging_decode((const uint8_t[]){1, 1, 0xff, 0xff, 0xff, 0xff}, 6, t),
			 CN_ECORRUPT);
	/* characters: not allowed, not UTF-8, overlong, NUL */
	assert_int_equal(tagging_decode((const uint8_t[]){1, 1, 1, 0, 0, 0, '!'}, 7, t),
			 CN_ECORRUPT);
	assert_int_equal(tagging_decode((const uint8_t[]){1, 1, 1, 0, 1, 0, 'k', 0xff}, 8, t),
			 CN_ECORRUPT);
	assert_int_equal(tagging_decode((const uint8_t[]){1, 1, 2, 0, 0, 0, 0xc1, 0x81}, 8, t),
			 CN_ECORRUPT);
	assert_int_equal(tagging_decode((const uint8_t[]){1, 1, 1, 0, 1, 0, 'k', 0}, 8, t),
			 CN_ECORRUPT);
	/* a key too long in characters though within the bytes (129 x 'k') */
	{
		uint8_t rec[6 + 129];
		memcpy(rec, (const uint8_t[]){1, 1, 129, 0, 0, 0}, 6);
		memset(rec + 6, 'k', 129);
		assert_int_equal(tagging_decode(rec, sizeof(rec), t), CN_ECORRUPT);
		rec[2] = 128;
		assert_int_equal(tagging_decode(rec, sizeof(rec) - 1, t), 0);
	}
	/* keys out of order, repeated; a reserved key */
	assert_int_equal(
		tagging_decode((const uint8_t[]){1, 2, 1, 0, 0, 0, 'b', 1, 0, 0, 0, 'a'}, 12, t),
		CN_ECORRUPT);
	assert_int_equal(
		tagging_decode((const uint8_t[]){1, 2, 1, 0, 0, 0, 'a', 1, 0, 0, 0, 'a'}, 12, t),
		CN_ECORRUPT);
	assert_int_equal(
		tagging_decode((const uint8_t[]){1, 2, 2, 0, 0, 0, 'a', 'a', 1, 0, 0, 0, 'a'}, 13,
			       t),
		CN_ECORRUPT);
	assert_int_equal(
		tagging_decode((const uint8_t[]){1, 2, 1, 0, 0, 0, 'a', 2, 0, 0, 0, 'a', 'a'}, 13,
			       t),
		0);
	assert_int_equal(
		tagging_decode((const uint8_t[]){1, 1, 4, 0, 0, 0, 'a', 'w', 's', ':'}, 10, t),
		CN_ECORRUPT);
	assert_int_equal(
		tagging_decode((const uint8_t[]){1, 1, 4, 0, 0, 0, 'A', 'W', 'S', ':'}, 10, t), 0);
	free(t);
}

static void test_encode_rejects(void **state)
{
	struct tag_set *t = set_new();
	struct cn_buf w;
	(void)state;

	cn_buf_init(&w);
	t->n = TAGGING_MAX_BUCKET + 1;
	assert_int_equal(tagging_encode(t, &w), CN_EINVAL);
	memset(t, 0, sizeof(*t));
	put_tag(t, "b", "1");
	put_tag(t, "a", "2"); /* out of order */
	assert_int_equal(tagging_encode(t, &w), CN_EINVAL);
	memset(t, 0, sizeof(*t));
	put_tag(t, "a", "1");
	put_tag(t, "a", "2"); /* repeated */
	assert_int_equal(tagging_encode(t, &w), CN_EINVAL);
	memset(t, 0, sizeof(*t));
	put_tag(t, "", "1");
	assert_int_equal(tagging_encode(t, &w), CN_EINVAL);
	memset(t, 0, sizeof(*t));
	put_tag(t, "a&b", "1");
	assert_int_equal(tagging_encode(t, &w), CN_EINVAL);
	memset(t, 0, sizeof(*t));
	put_tag(t, "k", "\xff");
	assert_int_equal(tagging_encode(t, &w), CN_EINVAL);
	memset(t, 0, sizeof(*t));
	put_tag(t, "aws:k", "v");
	assert_int_equal(tagging_encode(t, &w), CN_EINVAL);
	memset(t, 0, sizeof(*t));
	put_tag(t, "k", "v");
	t->t[0].key_len = TAGGING_KEY_MAX_BYTES + 1;
	assert_int_equal(tagging_encode(t, &w), CN_EINVAL);
	t->t[0].key_len = 1;
	t->t[0].value_len = TAGGING_VALUE_MAX_BYTES + 1;
	assert_int_equal(tagging_encode(t, &w), CN_EINVAL);
	assert_int_equal(w.len, 0); /* nothing appended */
	t->t[0].value_len = 1;
	assert_int_equal(tagging_encode(t, &w), 0);
	assert_int_equal(w.len, 8);
	cn_buf_release(&w);
	free(t);
}

/* The codes this module adds reach clients as S3 names them. */
static void test_error_mapping(void **state)
{
	const struct s3_error *e;
	(void)state;

	e = s3_error_lookup(CN_EBADTAG);
	assert_int_equal(e->status, 400);
	assert_string_equal(e->code, "InvalidTag");
	e = s3_error_lookup(CN_ETAGCOUNT);
	assert_int_equal(e->status, 400);
	assert_string_equal(e->code, "BadRequest");
	assert_string_equal(e->message, MSG_COUNT_OBJECT);
	e = s3_error_lookup(CN_EBADTAGHDR);
	assert_int_equal(e->status, 400);
	assert_string_equal(e->code, "InvalidArgument");
	assert_string_equal(e->message, MSG_HEADER);
	e = s3_error_lookup(CN_ENOTAGSET);
	assert_int_equal(e->status, 404);
	assert_string_equal(e->code, "NoSuchTagSet");
	assert_string_equal(s3_error_lookup(CN_EBADXML)->code, "MalformedXML");
	assert_string_equal(cn_errname(CN_EBADTAG), "CN_EBADTAG");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xml_aws_docs),   cmocka_unit_test(test_xml_clients),
		cmocka_unit_test(test_xml_malformed),  cmocka_unit_test(test_count_limits),
		cmocka_unit_test(test_length_limits),  cmocka_unit_test(test_empty_key_value),
		cmocka_unit_test(test_characters),     cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_aws_prefix),     cmocka_unit_test(test_check_order),
		cmocka_unit_test(test_err_buffer),     cmocka_unit_test(test_header),
		cmocka_unit_test(test_header_errors),  cmocka_unit_test(test_header_limits),
		cmocka_unit_test(test_to_xml),	       cmocka_unit_test(test_xml_round_trip),
		cmocka_unit_test(test_to_header),      cmocka_unit_test(test_get),
		cmocka_unit_test(test_encode_exact),   cmocka_unit_test(test_encode_round_trip),
		cmocka_unit_test(test_decode_rejects), cmocka_unit_test(test_encode_rejects),
		cmocka_unit_test(test_error_mapping),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests_name("s3/test_tagging", tests, NULL, NULL);
}
