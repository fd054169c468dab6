/*
 * tests/fuzz/fuzz_tagging.c — libFuzzer target for s3/tagging.c: the ways
 * untrusted bytes become a tag set. The first input byte picks one (modulo
 * 4), the rest is its input:
 *
 *   0  tagging_from_xml() with an object's limits;
 *   1  tagging_from_xml() with a bucket's;
 *   2  tagging_from_header(): an x-amz-tagging value (a NUL ends it early,
 *      as it would a C string);
 *   3  tagging_decode(): a stored record.
 *
 * Invariants (abort): whatever is accepted holds tagging.h's invariants
 * (checked here independently of the module: lengths, NULs, key order,
 * the limits for its kind) and encodes; the encoding decodes to the same
 * set; the XML the writer makes of it reads back to the same set, and so
 * does the header form when the set fits an object; tagging_get() finds
 * every key with its value and a key just past one is absent; a decoded
 * record re-encodes to exactly its input bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/err.h"
#include "s3/tagging.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const struct tag_set *a, const struct tag_set *b)
{
	if (a->n != b->n)
		return 0;
	for (unsigned i = 0; i < a->n; i++) {
		const struct tagging_tag *x = &a->t[i], *y = &b->t[i];
		if (x->key_len != y->key_len || x->value_len != y->value_len ||
		    memcmp(x->key, y->key, x->key_len + 1u) != 0 ||
		    memcmp(x->value, y->value, x->value_len + 1u) != 0)
			return 0;
	}
	return 1;
}

static int cmp_keys(const struct tagging_tag *a, const struct tagging_tag *b)
{
	size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
	int c = memcmp(a->key, b->key, n);

	return c ? c : (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

static void check_shape(const struct tag_set *t, unsigned max)
{
	if (t->n > max)
		abort();
	for (unsigned i = 0; i < t->n; i++) {
		const struct tagging_tag *g = &t->t[i];
		if (g->key_len < 1 || g->key_len > TAGGING_KEY_MAX_BYTES ||
		    g->value_len > TAGGING_VALUE_MAX_BYTES)
			abort();
		if (g->key[g->key_len] != 0 || g->value[g->value_len] != 0)
			abort();
		if (memchr(g->key, 0, g->key_len) || memchr(g->value, 0, g->value_len))
			abort();
		if (g->key_len >= 4 && memcmp(g->key, "aws:", 4) == 0)
			abort();
		if (i > 0 && cmp_keys(&t->t[i - 1], g) >= 0)
			abort();
	}
}

/* The kind whose limits t meets, for reading its XML back: an object's
 * when it has at most 10 tags, else a bucket's unless a key starts with
 * "aws:" in another case (objects allow that, buckets do not): -1. */
static int kind_of(const struct tag_set *t)
{
	if (t->n <= TAGGING_MAX_OBJECT)
		return 0;
	for (unsigned i = 0; i < t->n; i++)
		if (t->t[i].key_len >= 4 && strncasecmp(t->t[i].key, "aws:", 4) == 0)
			return -1;
	return 1;
}

/* for_bucket: the kind t was accepted as (0, 1), or -1 for a record. */
static void check_accepted(const struct tag_set *t, int for_bucket, struct tag_set *scratch)
{
	static char hdr[TAGGING_HEADER_CAP];
	struct cn_buf w;
	const char *v;
	size_t len;
	int kind = for_bucket >= 0 ? for_bucket : kind_of(t);

	check_shape(t, for_bucket == 0 ? TAGGING_MAX_OBJECT : TAGGING_MAX_BUCKET);
	cn_buf_init(&w);
	if (tagging_encode(t, &w) != 0 || tagging_decode(w.p, w.len, scratch) != 0 ||
	    !same(t, scratch))
		abort();
	cn_buf_reset(&w);
	tagging_to_xml(t, &w);
	if (w.err || (kind >= 0 && (tagging_from_xml(w.s, w.len, kind, scratch, NULL, 0) != 0 ||
				    !same(t, scratch))))
		abort();
	cn_buf_release(&w);
	if (t->n <= TAGGING_MAX_OBJECT) {
		if (tagging_to_header(t, hdr, sizeof(hdr)) != 0 ||
		    tagging_from_header(hdr, scratch, NULL, 0) != 0 || !same(t, scratch))
			abort();
	}
	for (unsigned i = 0; i < t->n; i++) {
		char key[TAGGING_KEY_MAX_BYTES + 2];
		const struct tagging_tag *g = &t->t[i];
		if (tagging_get(t, g->key, &v, &len) != 0 || v != g->value || len != g->value_len)
			abort();
		/* the key plus a byte no key may hold is absent */
		memcpy(key, g->key, g->key_len);
		key[g->key_len] = '\x01';
		key[g->key_len + 1] = 0;
		if (tagging_get(t, key, NULL, NULL) != CN_ENOTFOUND)
			abort();
	}
}

static void fuzz_xml(const uint8_t *in, size_t len, int for_bucket, struct tag_set *t,
		     struct tag_set *scratch)
{
	char err[256];

	if (tagging_from_xml((const char *)in, len, for_bucket, t, err, sizeof(err)) == 0)
		check_accepted(t, for_bucket, scratch);
	else if (err[0] == 0)
		abort(); /* every error says why */
}

static void fuzz_header(const uint8_t *in, size_t len, struct tag_set *t, struct tag_set *scratch)
{
	char *copy = malloc(len + 1), err[256];

	if (!copy)
		return;
	memcpy(copy, in, len);
	copy[len] = 0;
	if (tagging_from_header(copy, t, err, sizeof(err)) == 0)
		check_accepted(t, 0, scratch);
	else if (err[0] == 0)
		abort();
	free(copy);
}

static void fuzz_record(const uint8_t *in, size_t len, struct tag_set *t, struct tag_set *scratch)
{
	struct cn_buf w;

	if (tagging_decode(in, len, t) != 0)
		return;
	cn_buf_init(&w);
	if (tagging_encode(t, &w) != 0 || w.len != len || memcmp(w.p, in, len) != 0)
		abort();
	cn_buf_release(&w);
	check_accepted(t, -1, scratch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* two sets of ~75 KiB each: static, not on the stack */
	static struct tag_set t, scratch;

	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0: fuzz_xml(data + 1, size - 1, 0, &t, &scratch); break;
	case 1: fuzz_xml(data + 1, size - 1, 1, &t, &scratch); break;
	case 2: fuzz_header(data + 1, size - 1, &t, &scratch); break;
	default: fuzz_record(data + 1, size - 1, &t, &scratch); break;
	}
	return 0;
}
