/*
 * tests/fuzz/fuzz_lifecycle.c — libFuzzer target for s3/lifecycle.c: the two
 * ways untrusted bytes become a lifecycle configuration. The first input
 * byte picks one (even: XML, odd: record), the rest is its input:
 *
 *   even  lifecycle_from_xml(): a PutBucketLifecycleConfiguration body;
 *   odd   lifecycle_decode(): a stored record.
 *
 * Invariants (abort): a refused body says why, and never because the
 * parser let through a config that breaks the invariants ("internal:");
 * an accepted config encodes, decodes and re-encodes to the same bytes;
 * its XML parses back and renders to the same bytes; a decoded record
 * re-encodes to exactly its input; the prefix set is sorted, has no
 * prefix of another, and covers every enabled rule's prefix; a decision
 * names an enabled rule, and a Days expiry comes after the version's time
 * on a day boundary; every x-amz-expiration value fits and carries no
 * control byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "s3/lifecycle.h"

#define DAY 10 /* a 10 ns day */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every object carries the tag k=v. */
static int get_tag(void *arg, const char *key, size_t key_len, const char **value,
		   size_t *value_len)
{
	(void)arg;
	if (key_len != 1 || key[0] != 'k')
		return 0;
	*value = "v";
	*value_len = 1;
	return 1;
}

static const struct lifecycle_tags tags = {get_tag, NULL};

static const struct lifecycle_rule *rule_named(const struct lifecycle_config *c, const char *id)
{
	for (uint32_t i = 0; i < c->n; i++)
		if (c->rules[i].id == id)
			return &c->rules[i];
	abort(); /* the id of no rule */
}

static void check_header(int64_t at, const char *id)
{
	char h[LIFECYCLE_HEADER_CAP];
	int n = lifecycle_expiration_header(at, id, h);

	if (n < 0 || n >= LIFECYCLE_HEADER_CAP || (size_t)n != strlen(h))
		abort();
	for (int i = 0; i < n; i++)
		if ((unsigned char)h[i] < 0x20 || h[i] == 0x7f)
			abort();
}

static void check_prefixes(const struct lifecycle_config *c)
{
	struct lifecycle_prefix *p = malloc((c->n + 1) * sizeof(*p));
	size_t n = 0;

	if (!p || lifecycle_prefixes(c, p, c->n, &n) != 0 || n > c->n)
		abort();
	for (size_t i = 1; i < n; i++) {
		size_t m = p[i - 1].len < p[i].len ? p[i - 1].len : p[i].len;
		int r = m ? memcmp(p[i - 1].s, p[i].s, m) : 0;
		if (r > 0 || (r == 0 && p[i - 1].len >= p[i].len))
			abort(); /* not ascending */
		if (p[i].len >= p[i - 1].len && memcmp(p[i].s, p[i - 1].s, p[i - 1].len) == 0)
			abort(); /* covered by the one before */
	}
	for (uint32_t i = 0; i < c->n; i++) {
		const struct lifecycle_filter *f = &c->rules[i].filter;
		size_t j;
		if (!c->rules[i].enabled)
			continue;
		for (j = 0; j < n; j++)
			if (f->prefix_len >= p[j].len && memcmp(f->prefix, p[j].s, p[j].len) == 0)
				break;
		if (j == n)
			abort(); /* a rule's objects left out */
	}
	free(p);
}

/* The decisions for a key under each rule's prefix. */
static void check_decisions(const struct lifecycle_config *c, int64_t t)
{
	for (uint32_t i = 0; i < c->n; i++) {
		const struct lifecycle_filter *f = &c->rules[i].filter;
		const struct lifecycle_rule *r;
		const char *id = NULL;
		int64_t at = 0;
		char key[LIFECYCLE_PREFIX_MAX + 1];
		size_t klen = f->prefix_len;
		int rc;

		memcpy(key, f->prefix, klen);
		key[klen++] = 'x';
		rc = lifecycle_current_expiry(c, key, klen, 15, &tags, t, DAY, &at, &id);
		if (rc < 0 || rc > 1)
			abort();
		if (rc == 1) {
			r = rule_named(c, id);
			if (!r->enabled)
				abort();
			if (r->expiration.kind == LIFECYCLE_EXP_DAYS &&
			    (at <= t || (at != INT64_MAX && at % DAY != 0)))
				abort();
			if (r->expiration.kind == LIFECYCLE_EXP_DATE && at != r->expiration.date_ns)
				abort();
			check_header(at, id);
		}
		rc = lifecycle_noncurrent_expired(c, key, klen, 15, &tags, t, 2, INT64_MAX, DAY,
						  &id);
		if (rc < 0 || rc > 1 || (rc && !rule_named(c, id)->noncurrent.days))
			abort();
		rc = lifecycle_marker_expired(c, key, klen, 0, t, INT64_MAX, DAY, &id);
		if (rc < 0 || rc > 1 || (rc && !rule_named(c, id)->enabled))
			abort();
		rc = lifecycle_upload_expired(c, key, klen, t, INT64_MAX, DAY, &id);
		if (rc < 0 || rc > 1 || (rc && !rule_named(c, id)->abort_mpu_days))
			abort();
	}
}

/* enc: c's encoding. Its XML parses back to a config with the same encoding
 * (when within the body limit), and the checks above hold. */
static void check_accepted(const struct lifecycle_config *c, const struct cn_buf *enc)
{
	struct lifecycle_config *d = NULL;
	struct cn_buf x, x2, e2;
	char err[256];

	cn_buf_init(&x);
	cn_buf_init(&x2);
	cn_buf_init(&e2);
	lifecycle_to_xml(c, &x);
	if (x.err)
		abort();
	if (x.len <= LIFECYCLE_MAX_XML) {
		if (lifecycle_from_xml(x.s, x.len, &d, err, sizeof(err)) != 0)
			abort();
		lifecycle_to_xml(d, &x2);
		if (lifecycle_encode(d, &e2) != 0 || e2.len != enc->len ||
		    memcmp(e2.p, enc->p, enc->len) != 0 || x2.len != x.len ||
		    memcmp(x2.s, x.s, x.len) != 0)
			abort();
		lifecycle_config_free(d);
	}
	check_prefixes(c);
	check_decisions(c, (int64_t)enc->len * 7 - 50);
	cn_buf_release(&x);
	cn_buf_release(&x2);
	cn_buf_release(&e2);
}

static void fuzz_xml(const uint8_t *in, size_t len)
{
	struct lifecycle_config *c = NULL, *d = NULL;
	struct cn_buf w, w2;
	char err[256] = "";
	int rc = lifecycle_from_xml((const char *)in, len, &c, err, sizeof(err));

	if (rc) {
		if (err[0] == 0 || strncmp(err, "internal:", 9) == 0 || c)
			abort();
		return;
	}
	cn_buf_init(&w);
	cn_buf_init(&w2);
	if (lifecycle_encode(c, &w) != 0 || lifecycle_decode(w.p, w.len, &d) != 0 ||
	    lifecycle_encode(d, &w2) != 0 || w2.len != w.len || memcmp(w.p, w2.p, w.len) != 0)
		abort();
	check_accepted(c, &w);
	lifecycle_config_free(d);
	lifecycle_config_free(c);
	cn_buf_release(&w);
	cn_buf_release(&w2);
}

static void fuzz_record(const uint8_t *in, size_t len)
{
	struct lifecycle_config *c = NULL;
	struct cn_buf w;

	if (lifecycle_decode(in, len, &c) != 0) {
		if (c)
			abort();
		return;
	}
	cn_buf_init(&w);
	if (lifecycle_encode(c, &w) != 0 || w.len != len || memcmp(w.p, in, len) != 0)
		abort();
	check_accepted(c, &w);
	lifecycle_config_free(c);
	cn_buf_release(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] % 2 == 0)
		fuzz_xml(data + 1, size - 1);
	else
		fuzz_record(data + 1, size - 1);
	return 0;
}
