/*
 * s3/lifecycle.c — see lifecycle.h.
 *
 * Layer: s3, pure. Invariant: a struct lifecycle_config leaves this file
 * only through lifecycle_from_xml() and lifecycle_decode(), both of which
 * check it with config_valid() (the invariants lifecycle.h lists), and
 * lifecycle_encode() refuses one that fails it, so what is stored decodes
 * again and what is rendered parses again.
 *
 * Binary encoding, format version 1 (lifecycle_encode / lifecycle_decode).
 * VAR is an unsigned LEB128 number, minimal (no 0x80 padding), at most 10
 * bytes; a string is VAR length, then its bytes (no NUL).
 *
 *   OFFSET  SIZE  MEANING
 *   0       1     format version (1)
 *   1       VAR   n, the number of rules (1..1000)
 *   ...     ...   n rules, each:
 *                 1    flags: bit 0 enabled, bit 1 the filter has a Prefix
 *                      element, bit 2 size_gt set, bit 3 size_lt set;
 *                      other bits 0
 *                 1    filter form (enum lifecycle_filter_form, 0..7)
 *                 str  id
 *                 str  prefix
 *                 VAR  size_gt (bit 2 only)
 *                 VAR  size_lt (bit 3 only)
 *                 VAR  n_tags (0..10), then n_tags of: str key, str value
 *                 1    expiration: 0 none, 1 days, 2 date, 3 marker false,
 *                      4 marker true
 *                 VAR  1: days; 2: the date's day number since 1970-01-01,
 *                      zigzag (2d for d >= 0, -2d - 1 below)
 *                 VAR  noncurrent days (0: no noncurrent expiration)
 *                 VAR  newer noncurrent versions (0: not set)
 *                 VAR  abort-upload days (0: none)
 *
 * Nothing follows the last rule. A rule with a 10-byte id, a 6-byte prefix
 * and Days takes 26 bytes.
 */
#include "s3/lifecycle.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "s3/s3_int.h" /* S3_NS */
#include "xml/xml.h"

#define LC_FORMAT 1
#define SEC_NS INT64_C(1000000000)
#define DAY_SEC INT64_C(86400)
#define UTF8_MAX 4 /* bytes of one character */
#define LIFECYCLE_INVARIANT_MSG "internal: the configuration breaks an invariant"

__attribute__((format(printf, 4, 5))) static int fail(int rc, char *err, size_t errcap,
						      const char *fmt, ...)
{
	va_list ap;

	if (err && errcap > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errcap, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* ---- text ---- */

/* 1 when s (len bytes) is well-formed UTF-8 made of characters XML 1.0 can
 * carry (no NUL or C0 control but TAB, LF, CR; no surrogate, U+FFFE or
 * U+FFFF), with the character count in *chars; else 0. */
static int xml_chars(const char *s, size_t len, size_t *chars)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n = 0;

	while (i < len) {
		unsigned c = p[i], need, min;
		uint32_t cp;

		if (c < 0x80) {
			if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
				return 0;
			i++;
			n++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			need = 1, min = 0x80, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			need = 2, min = 0x800, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			need = 3, min = 0x10000, cp = c & 0x07;
		else
			return 0;
		if (len - i <= need)
			return 0;
		for (unsigned k = 1; k <= need; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe ||
		    cp == 0xffff)
			return 0;
		i += need + 1;
		n++;
	}
	*chars = n;
	return 1;
}

/* The characters of s, or SIZE_MAX when xml_chars() refuses it. */
static size_t nchars(const char *s, size_t len)
{
	size_t chars;

	return xml_chars(s, len, &chars) ? chars : SIZE_MAX;
}

static int xml_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* n's text without surrounding XML whitespace. */
static const char *trimmed(const struct xml_node *n, size_t *len)
{
	const char *s = n->text;
	size_t l = n->text_len;

	while (l && xml_ws(s[0]))
		s++, l--;
	while (l && xml_ws(s[l - 1]))
		l--;
	*len = l;
	return s;
}

static int text_is(const char *s, size_t len, const char *lit)
{
	return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

/* An xsd integer: an optional sign and decimal digits. 1 with the value in
 * *v, or 0 when s is not one or leaves the int64 range. */
static int parse_int(const char *s, size_t len, int64_t *v)
{
	int neg = 0;
	uint64_t acc = 0, lim;
	size_t i = 0;

	if (len && (s[0] == '-' || s[0] == '+'))
		neg = s[0] == '-', i = 1;
	if (i == len)
		return 0;
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		if (acc > (lim - (uint64_t)(s[i] - '0')) / 10)
			return 0;
		acc = acc * 10 + (uint64_t)(s[i] - '0');
	}
	*v = neg ? (acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc) : (int64_t)acc;
	return 1;
}

/* ---- time ---- */

static int64_t floordiv(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if (a % b != 0 && (a < 0) != (b < 0))
		q--;
	return q;
}

static int month_days(int64_t y, int m)
{
	static const int md[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : md[m - 1];
}

/* n decimal digits at s (n <= 4); -1 when one is not a digit. */
static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

enum { DATE_BAD, DATE_OK, DATE_NOT_MIDNIGHT, DATE_RANGE };

/* An ISO 8601 date as S3 takes it: YYYY-MM-DD, optionally followed by
 * Thh:mm:ss, an optional fraction, and Z or a +hh:mm / -hh:mm offset (none:
 * UTC). DATE_OK with *ns when it is a UTC midnight in the int64 ns range. */
static int parse_date(const char *s, size_t len, int64_t *ns)
{
	int y, mo, d, h = 0, mi = 0, se = 0, frac = 0;
	int64_t secs, off = 0, days;
	size_t i = 10;

	if (len < 10 || s[4] != '-' || s[7] != '-')
		return DATE_BAD;
	y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo))
		return DATE_BAD;
	if (i < len) {
		if (len - i < 9 || s[i] != 'T' || s[i + 3] != ':' || s[i + 6] != ':')
			return DATE_BAD;
		h = digits(s + i + 1, 2), mi = digits(s + i + 4, 2), se = digits(s + i + 7, 2);
		if (h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 59)
			return DATE_BAD;
		i += 9;
		if (i < len && s[i] == '.') {
			size_t f = ++i;
			for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
				frac |= s[i] != '0';
			if (i == f)
				return DATE_BAD;
		}
		if (i < len && s[i] == 'Z') {
			i++;
		} else if (i < len && (s[i] == '+' || s[i] == '-')) {
			int oh, om;
			if (len - i < 6 || s[i + 3] != ':')
				return DATE_BAD;
			oh = digits(s + i + 1, 2), om = digits(s + i + 4, 2);
			if (oh < 0 || oh > 23 || om < 0 || om > 59)
				return DATE_BAD;
			off = (s[i] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
			i += 6;
		}
		if (i != len)
			return DATE_BAD;
	}
	days = cn_days_from_civil(y, mo, d);
	secs = days * DAY_SEC + h * 3600 + mi * 60 + se - off;
	if (frac || floordiv(secs, DAY_SEC) * DAY_SEC != secs)
		return DATE_NOT_MIDNIGHT;
	if (__builtin_mul_overflow(secs, SEC_NS, ns))
		return DATE_RANGE;
	return DATE_OK;
}

/* "2023-01-01T00:00:00.000Z" for a midnight (ns since the epoch). */
static void format_date(int64_t ns, char out[40])
{
	struct cn_utc t;

	cn_utc_of(floordiv(ns, LIFECYCLE_DAY_NS) * DAY_SEC, &t);
	snprintf(out, 40, "%04" PRId64 "-%02u-%02uT00:00:00.000Z", t.year, t.mon, t.day);
}

/* t + days * day_ns, moved on to the next multiple of day_ns strictly
 * after it; INT64_MAX past the range. day_ns > 0. */
static int64_t after_days(int64_t t, uint32_t days, int64_t day_ns)
{
	int64_t span, sum, r;

	if (__builtin_mul_overflow((int64_t)days, day_ns, &span) ||
	    __builtin_add_overflow(t, span, &sum) ||
	    __builtin_mul_overflow(floordiv(sum, day_ns) + 1, day_ns, &r))
		return INT64_MAX;
	return r;
}

/* ---- invariants ---- */

static int str_ok(const char *s, size_t len, size_t min_chars, size_t max_chars)
{
	size_t chars;

	return s && s[len] == 0 && xml_chars(s, len, &chars) && chars >= min_chars &&
	       chars <= max_chars;
}

static int filter_valid(const struct lifecycle_filter *f)
{
	unsigned preds = f->has_prefix + f->n_tags + f->has_gt + f->has_lt;
	int only_prefix = !f->has_gt && !f->has_lt && f->n_tags == 0;

	if (f->has_prefix > 1 || f->has_gt > 1 || f->has_lt > 1)
		return 0;
	if (f->prefix_len > LIFECYCLE_PREFIX_MAX || !str_ok(f->prefix, f->prefix_len, 0, SIZE_MAX))
		return 0;
	if ((!f->has_prefix && f->prefix_len) || (!f->has_gt && f->size_gt) ||
	    (!f->has_lt && f->size_lt))
		return 0;
	if (f->size_gt > INT64_MAX || f->size_lt > INT64_MAX || (f->has_lt && f->size_lt < 1) ||
	    (f->has_gt && f->has_lt && f->size_gt >= f->size_lt))
		return 0;
	if (f->n_tags > LIFECYCLE_MAX_TAGS || (f->n_tags && !f->tags))
		return 0;
	for (uint32_t i = 0; i < f->n_tags; i++) {
		const struct lifecycle_tag *t = &f->tags[i];
		if (!str_ok(t->key, t->key_len, 1, LIFECYCLE_TAG_KEY_MAX) ||
		    !str_ok(t->value, t->value_len, 0, LIFECYCLE_TAG_VALUE_MAX))
			return 0;
		for (uint32_t j = 0; j < i; j++)
			if (f->tags[j].key_len == t->key_len &&
			    memcmp(f->tags[j].key, t->key, t->key_len) == 0)
				return 0;
	}
	switch (f->form) {
	case LIFECYCLE_FILTER_NONE:
	case LIFECYCLE_FILTER_EMPTY: return preds == 0;
	case LIFECYCLE_FILTER_LEGACY:
	case LIFECYCLE_FILTER_PREFIX: return f->has_prefix && only_prefix;
	case LIFECYCLE_FILTER_TAG: return f->n_tags == 1 && preds == 1;
	case LIFECYCLE_FILTER_GT: return f->has_gt && preds == 1;
	case LIFECYCLE_FILTER_LT: return f->has_lt && preds == 1;
	case LIFECYCLE_FILTER_AND: return preds >= 2;
	default: return 0;
	}
}

static int rule_valid(const struct lifecycle_rule *r)
{
	const struct lifecycle_filter *f = &r->filter;

	if (r->id_len == 0 || !str_ok(r->id, r->id_len, 1, LIFECYCLE_ID_MAX) || r->enabled > 1 ||
	    !filter_valid(f))
		return 0;
	switch (r->expiration.kind) {
	case LIFECYCLE_EXP_NONE:
		if (r->expiration.days || r->expiration.date_ns || r->expiration.marker)
			return 0;
		break;
	case LIFECYCLE_EXP_DAYS:
		if (r->expiration.days < 1 || r->expiration.days > INT32_MAX ||
		    r->expiration.date_ns || r->expiration.marker)
			return 0;
		break;
	case LIFECYCLE_EXP_DATE:
		if (r->expiration.date_ns % LIFECYCLE_DAY_NS != 0 || r->expiration.days ||
		    r->expiration.marker)
			return 0;
		break;
	case LIFECYCLE_EXP_MARKER:
		if (r->expiration.marker > 1 || r->expiration.days || r->expiration.date_ns)
			return 0;
		break;
	default: return 0;
	}
	if (r->noncurrent.days > INT32_MAX || r->abort_mpu_days > INT32_MAX ||
	    r->noncurrent.newer_versions > LIFECYCLE_NEWER_MAX)
		return 0;
	if (r->noncurrent.newer_versions &&
	    (!r->noncurrent.days || f->form == LIFECYCLE_FILTER_NONE ||
	     f->form == LIFECYCLE_FILTER_LEGACY))
		return 0;
	if (r->expiration.kind == LIFECYCLE_EXP_NONE && !r->noncurrent.days && !r->abort_mpu_days)
		return 0;
	if (f->n_tags && (r->abort_mpu_days || r->expiration.kind == LIFECYCLE_EXP_MARKER))
		return 0;
	return 1;
}

static int same_id(const struct lifecycle_rule *a, const struct lifecycle_rule *b)
{
	return a->id_len == b->id_len && memcmp(a->id, b->id, a->id_len) == 0;
}

static int config_valid(const struct lifecycle_config *c)
{
	if (c->n < 1 || c->n > LIFECYCLE_MAX_RULES || !c->rules)
		return 0;
	for (uint32_t i = 0; i < c->n; i++) {
		if (!rule_valid(&c->rules[i]))
			return 0;
		for (uint32_t j = 0; j < i; j++)
			if (same_id(&c->rules[j], &c->rules[i]))
				return 0;
	}
	return 1;
}

static struct lifecycle_config *config_new(void)
{
	struct lifecycle_config *c = calloc(1, sizeof(*c));

	if (c)
		cn_pool_init(&c->pool);
	return c;
}

void lifecycle_config_free(struct lifecycle_config *c)
{
	if (!c)
		return;
	cn_pool_release(&c->pool);
	free(c);
}

/* ---- LifecycleConfiguration XML in ---- */

struct parse {
	struct lifecycle_config *c; /* strings go to c->pool */
	char *err;
	size_t errcap;
};

#define BAD_XML(ps, ...) fail(CN_EBADXML, (ps)->err, (ps)->errcap, __VA_ARGS__)
#define BAD_ARG(ps, ...) fail(CN_EBADARG, (ps)->err, (ps)->errcap, __VA_ARGS__)
#define BAD_REQ(ps, ...) fail(CN_EBADLIFECYCLE, (ps)->err, (ps)->errcap, __VA_ARGS__)

/* A container holds elements and whitespace only. */
static int container(struct parse *ps, const struct xml_node *n)
{
	size_t len;

	trimmed(n, &len);
	return len ? BAD_XML(ps, "<%s> holds text", n->name) : 0;
}

/* A leaf holds text only. */
static int leaf(struct parse *ps, const struct xml_node *n)
{
	return n->child ? BAD_XML(ps, "<%s> holds elements", n->name) : 0;
}

/* Files child c of parent in the first of names[] it is called, at the
 * same index of slots[]; an unknown or repeated name is MalformedXML. */
static int sort_child(struct parse *ps, const struct xml_node *parent, struct xml_node *c,
		      const char *const *names, struct xml_node **slots, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(c->name, names[i]) != 0)
			continue;
		if (slots[i])
			return BAD_XML(ps, "more than one <%s> in <%s>", c->name, parent->name);
		slots[i] = c;
		return 0;
	}
	return BAD_XML(ps, "unexpected <%s> in <%s>", c->name, parent->name);
}

/* A leaf's raw text copied into the config. */
static int copy_text(struct parse *ps, const struct xml_node *n, const char **s, size_t *len)
{
	int rc = leaf(ps, n);

	if (rc)
		return rc;
	*s = cn_pool_strndup(&ps->c->pool, n->text, n->text_len);
	*len = n->text_len;
	return *s ? 0 : fail(CN_ENOMEM, ps->err, ps->errcap, "out of memory");
}

/* A leaf's integer in [lo, hi]; not an integer in the schema's type
 * (int or long) is MalformedXML, out of [lo, hi] InvalidArgument with msg. */
static int leaf_int(struct parse *ps, const struct xml_node *n, int64_t type_max, int64_t lo,
		    int64_t hi, const char *msg, int64_t *v)
{
	const char *s;
	size_t len;
	int rc = leaf(ps, n);

	if (rc)
		return rc;
	s = trimmed(n, &len);
	if (!parse_int(s, len, v) || *v > type_max || *v < -type_max - 1)
		return BAD_XML(ps, "<%s> is not an integer", n->name);
	return *v < lo || *v > hi ? BAD_ARG(ps, "%s", msg) : 0;
}

static int parse_prefix(struct parse *ps, const struct xml_node *n, struct lifecycle_filter *f)
{
	int rc = copy_text(ps, n, &f->prefix, &f->prefix_len);

	if (rc)
		return rc;
	f->has_prefix = 1;
	if (f->prefix_len > LIFECYCLE_PREFIX_MAX)
		return BAD_ARG(ps,
			       "Specified prefix is longer than maximum allowed key length of %d",
			       LIFECYCLE_PREFIX_MAX);
	return 0;
}

static int parse_tag(struct parse *ps, struct xml_node *n, struct lifecycle_tag *t)
{
	static const char *const names[] = {"Key", "Value"};
	struct xml_node *slot[2] = {NULL, NULL};
	size_t chars;
	int rc = container(ps, n);

	for (struct xml_node *c = n->child; c && !rc; c = c->next)
		rc = sort_child(ps, n, c, names, slot, 2);
	if (rc)
		return rc;
	if (!slot[0])
		return BAD_XML(ps, "<Tag> without <Key>");
	rc = copy_text(ps, slot[0], &t->key, &t->key_len);
	if (!rc && slot[1])
		rc = copy_text(ps, slot[1], &t->value, &t->value_len);
	else if (!rc)
		t->value = "", t->value_len = 0;
	if (rc)
		return rc;
	chars = nchars(t->key, t->key_len);
	if (chars < 1 || chars > LIFECYCLE_TAG_KEY_MAX)
		return BAD_ARG(ps, "The TagKey you have provided is invalid");
	if (nchars(t->value, t->value_len) > LIFECYCLE_TAG_VALUE_MAX)
		return BAD_ARG(ps, "The TagValue you have provided is invalid");
	return 0;
}

static int parse_size(struct parse *ps, const struct xml_node *n, int less, uint64_t *v)
{
	int64_t x = 0;
	int rc = leaf_int(ps, n, INT64_MAX, less, INT64_MAX,
			  less ? "'ObjectSizeLessThan' must be a positive integer"
			       : "'ObjectSizeGreaterThan' must be a non-negative integer",
			  &x);

	*v = (uint64_t)x;
	return rc;
}

/* Tag nodes in an And or a Filter, parsed into a new array. */
static int parse_tags(struct parse *ps, struct xml_node **tn, uint32_t n,
		      struct lifecycle_filter *f)
{
	struct lifecycle_tag *t;
	int rc;

	if (n > LIFECYCLE_MAX_TAGS)
		return BAD_ARG(ps, "Object tags cannot be greater than %d", LIFECYCLE_MAX_TAGS);
	t = cn_pool_zalloc(&ps->c->pool, n * sizeof(*t));
	if (!t)
		return fail(CN_ENOMEM, ps->err, ps->errcap, "out of memory");
	for (uint32_t i = 0; i < n; i++) {
		rc = parse_tag(ps, tn[i], &t[i]);
		if (rc)
			return rc;
		for (uint32_t j = 0; j < i; j++)
			if (t[j].key_len == t[i].key_len &&
			    memcmp(t[j].key, t[i].key, t[i].key_len) == 0)
				return BAD_ARG(ps, "Duplicate Tag Keys are not allowed.");
	}
	f->tags = t;
	f->n_tags = n;
	return 0;
}

static int parse_and(struct parse *ps, struct xml_node *n, struct lifecycle_filter *f)
{
	static const char *const names[] = {"Prefix", "ObjectSizeGreaterThan",
					    "ObjectSizeLessThan"};
	struct xml_node *slot[3] = {NULL, NULL, NULL};
	struct xml_node *tn[LIFECYCLE_MAX_TAGS + 1];
	uint32_t nt = 0;
	int rc = container(ps, n);

	for (struct xml_node *c = n->child; c && !rc; c = c->next) {
		if (strcmp(c->name, "Tag") != 0)
			rc = sort_child(ps, n, c, names, slot, 3);
		else if (nt <= LIFECYCLE_MAX_TAGS)
			tn[nt++] = c;
		else
			rc = BAD_ARG(ps, "Object tags cannot be greater than %d",
				     LIFECYCLE_MAX_TAGS);
	}
	if (rc)
		return rc;
	if (!!slot[0] + nt + !!slot[1] + !!slot[2] < 2)
		return BAD_XML(ps, "<And> must combine at least two of Prefix, Tag, "
				   "ObjectSizeGreaterThan, ObjectSizeLessThan");
	f->form = LIFECYCLE_FILTER_AND;
	if (slot[0] && (rc = parse_prefix(ps, slot[0], f)) != 0)
		return rc;
	if ((rc = parse_tags(ps, tn, nt, f)) != 0)
		return rc;
	if (slot[1] && (rc = parse_size(ps, slot[1], 0, &f->size_gt)) != 0)
		return rc;
	f->has_gt = !!slot[1];
	if (slot[2] && (rc = parse_size(ps, slot[2], 1, &f->size_lt)) != 0)
		return rc;
	f->has_lt = !!slot[2];
	if (f->has_gt && f->has_lt && f->size_gt >= f->size_lt)
		return BAD_ARG(ps,
			       "'ObjectSizeGreaterThan' must be less than 'ObjectSizeLessThan'");
	return 0;
}

static int parse_filter(struct parse *ps, struct xml_node *n, struct lifecycle_filter *f)
{
	struct xml_node *c = n->child;
	int rc = container(ps, n);

	if (rc)
		return rc;
	if (!c) {
		f->form = LIFECYCLE_FILTER_EMPTY;
		return 0;
	}
	if (c->next)
		return BAD_XML(ps, "Filter element can only have one of Prefix, Tag, "
				   "ObjectSizeGreaterThan, ObjectSizeLessThan or And");
	if (strcmp(c->name, "Prefix") == 0) {
		f->form = LIFECYCLE_FILTER_PREFIX;
		return parse_prefix(ps, c, f);
	}
	if (strcmp(c->name, "Tag") == 0) {
		f->form = LIFECYCLE_FILTER_TAG;
		return parse_tags(ps, &c, 1, f);
	}
	if (strcmp(c->name, "ObjectSizeGreaterThan") == 0) {
		f->form = LIFECYCLE_FILTER_GT;
		f->has_gt = 1;
		return parse_size(ps, c, 0, &f->size_gt);
	}
	if (strcmp(c->name, "ObjectSizeLessThan") == 0) {
		f->form = LIFECYCLE_FILTER_LT;
		f->has_lt = 1;
		return parse_size(ps, c, 1, &f->size_lt);
	}
	if (strcmp(c->name, "And") == 0)
		return parse_and(ps, c, f);
	return BAD_XML(ps, "unexpected <%s> in <Filter>", c->name);
}

static int parse_expiration(struct parse *ps, struct xml_node *n, struct lifecycle_rule *r)
{
	static const char *const names[] = {"Days", "Date", "ExpiredObjectDeleteMarker"};
	struct xml_node *slot[3] = {NULL, NULL, NULL};
	const char *s;
	size_t len;
	int64_t v = 0;
	int rc = container(ps, n);

	for (struct xml_node *c = n->child; c && !rc; c = c->next)
		rc = sort_child(ps, n, c, names, slot, 3);
	if (rc)
		return rc;
	if (slot[2] && (slot[0] || slot[1]))
		return BAD_XML(ps,
			       "ExpiredObjectDeleteMarker cannot be specified with Days or Date "
			       "in a Lifecycle Expiration Policy");
	if (slot[0] && slot[1])
		return BAD_XML(ps, "<Expiration> can have only one of Days and Date");
	if (slot[0]) {
		rc = leaf_int(ps, slot[0], INT32_MAX, 1, INT32_MAX,
			      "'Days' for Expiration action must be a positive integer", &v);
		r->expiration.kind = LIFECYCLE_EXP_DAYS;
		r->expiration.days = (uint32_t)v;
		return rc;
	}
	if (slot[1]) {
		if ((rc = leaf(ps, slot[1])) != 0)
			return rc;
		s = trimmed(slot[1], &len);
		switch (parse_date(s, len, &r->expiration.date_ns)) {
		case DATE_OK: r->expiration.kind = LIFECYCLE_EXP_DATE; return 0;
		case DATE_NOT_MIDNIGHT: return BAD_ARG(ps, "'Date' must be at midnight GMT");
		case DATE_RANGE: return BAD_ARG(ps, "'Date' is out of range");
		default: return BAD_XML(ps, "'Date' is not an ISO 8601 date");
		}
	}
	if (!slot[2])
		return BAD_XML(ps, "<Expiration> needs Days, Date or ExpiredObjectDeleteMarker");
	if ((rc = leaf(ps, slot[2])) != 0)
		return rc;
	s = trimmed(slot[2], &len);
	r->expiration.kind = LIFECYCLE_EXP_MARKER;
	if (text_is(s, len, "true") || text_is(s, len, "1"))
		r->expiration.marker = 1;
	else if (!text_is(s, len, "false") && !text_is(s, len, "0"))
		return BAD_XML(ps, "<ExpiredObjectDeleteMarker> is not true or false");
	return 0;
}

static int parse_noncurrent(struct parse *ps, struct xml_node *n, struct lifecycle_rule *r)
{
	static const char *const names[] = {"NoncurrentDays", "NewerNoncurrentVersions"};
	static const char days_msg[] = "'NoncurrentDays' for NoncurrentVersionExpiration action "
				       "must be a positive integer";
	struct xml_node *slot[2] = {NULL, NULL};
	int64_t v = 0;
	int rc = container(ps, n);

	for (struct xml_node *c = n->child; c && !rc; c = c->next)
		rc = sort_child(ps, n, c, names, slot, 2);
	if (rc)
		return rc;
	if (!slot[0])
		return BAD_ARG(ps, "%s", days_msg);
	if ((rc = leaf_int(ps, slot[0], INT32_MAX, 1, INT32_MAX, days_msg, &v)) != 0)
		return rc;
	r->noncurrent.days = (uint32_t)v;
	if (slot[1]) {
		rc = leaf_int(ps, slot[1], INT32_MAX, 1, LIFECYCLE_NEWER_MAX,
			      "'NewerNoncurrentVersions' for NoncurrentVersionExpiration action "
			      "must be a positive integer up to 100",
			      &v);
		r->noncurrent.newer_versions = (uint32_t)v;
	}
	return rc;
}

static int parse_abort(struct parse *ps, struct xml_node *n, struct lifecycle_rule *r)
{
	static const char *const names[] = {"DaysAfterInitiation"};
	static const char msg[] = "'DaysAfterInitiation' for AbortIncompleteMultipartUpload "
				  "action must be a positive integer";
	struct xml_node *slot[1] = {NULL};
	int64_t v = 0;
	int rc = container(ps, n);

	for (struct xml_node *c = n->child; c && !rc; c = c->next)
		rc = sort_child(ps, n, c, names, slot, 1);
	if (rc)
		return rc;
	if (!slot[0])
		return BAD_ARG(ps, "%s", msg);
	rc = leaf_int(ps, slot[0], INT32_MAX, 1, INT32_MAX, msg, &v);
	r->abort_mpu_days = (uint32_t)v;
	return rc;
}

enum {
	R_ID,
	R_STATUS,
	R_FILTER,
	R_PREFIX,
	R_EXPIRATION,
	R_NONCURRENT,
	R_ABORT,
	R_TRANSITION,
	R_NC_TRANSITION,
	R_N
};

static int parse_rule(struct parse *ps, struct xml_node *n, struct lifecycle_rule *r)
{
	static const char *const names[R_N] = {
		"ID",
		"Status",
		"Filter",
		"Prefix",
		"Expiration",
		"NoncurrentVersionExpiration",
		"AbortIncompleteMultipartUpload",
		"Transition",
		"NoncurrentVersionTransition",
	};
	struct xml_node *slot[R_N] = {NULL};
	const char *s;
	size_t len;
	int rc = container(ps, n);

	for (struct xml_node *c = n->child; c && !rc; c = c->next) {
		/* several transitions are allowed (each is refused below) */
		if (strcmp(c->name, "Transition") == 0)
			slot[R_TRANSITION] = c;
		else if (strcmp(c->name, "NoncurrentVersionTransition") == 0)
			slot[R_NC_TRANSITION] = c;
		else
			rc = sort_child(ps, n, c, names, slot, R_N);
	}
	if (rc)
		return rc;
	r->filter.prefix = "";
	if (!slot[R_STATUS])
		return BAD_XML(ps, "<Rule> without <Status>");
	if ((rc = leaf(ps, slot[R_STATUS])) != 0)
		return rc;
	s = trimmed(slot[R_STATUS], &len);
	if (!text_is(s, len, "Enabled") && !text_is(s, len, "Disabled"))
		return BAD_XML(ps, "<Status> is neither Enabled nor Disabled");
	r->enabled = text_is(s, len, "Enabled");
	if (slot[R_FILTER] && slot[R_PREFIX])
		return BAD_XML(ps, "<Rule> can have only one of Filter and Prefix");
	if (slot[R_PREFIX]) {
		r->filter.form = LIFECYCLE_FILTER_LEGACY;
		rc = parse_prefix(ps, slot[R_PREFIX], &r->filter);
	} else if (slot[R_FILTER]) {
		rc = parse_filter(ps, slot[R_FILTER], &r->filter);
	}
	if (!rc && slot[R_EXPIRATION])
		rc = parse_expiration(ps, slot[R_EXPIRATION], r);
	if (!rc && slot[R_NONCURRENT])
		rc = parse_noncurrent(ps, slot[R_NONCURRENT], r);
	if (!rc && slot[R_ABORT])
		rc = parse_abort(ps, slot[R_ABORT], r);
	if (rc)
		return rc;
	if (slot[R_TRANSITION] || slot[R_NC_TRANSITION])
		return BAD_ARG(ps,
			       "%s actions are not supported: cairn keeps every object in one "
			       "storage class (STANDARD)",
			       slot[R_TRANSITION] ? "Transition" : "NoncurrentVersionTransition");
	if (r->expiration.kind == LIFECYCLE_EXP_NONE && !r->noncurrent.days && !r->abort_mpu_days)
		return BAD_REQ(ps, "At least one action needs to be specified in a rule");
	if (r->filter.n_tags && r->abort_mpu_days)
		return BAD_REQ(ps, "AbortIncompleteMultipartUpload cannot be specified with Tags.");
	if (r->filter.n_tags && r->expiration.kind == LIFECYCLE_EXP_MARKER)
		return BAD_REQ(ps, "ExpiredObjectDeleteMarker cannot be specified with Tags.");
	if (r->noncurrent.newer_versions && !slot[R_FILTER])
		return BAD_REQ(ps, "NewerNoncurrentVersions requires a Filter element in the rule");
	if (slot[R_ID] && (rc = copy_text(ps, slot[R_ID], &r->id, &r->id_len)) != 0)
		return rc;
	if (r->id && nchars(r->id, r->id_len) > LIFECYCLE_ID_MAX)
		return BAD_ARG(ps, "ID length should not exceed allowed limit of %d",
			       LIFECYCLE_ID_MAX);
	return 0;
}

/* Rules put without an ID (or with an empty one) get "rule-<n>", n their
 * position from 1, or "rule-<n>-<k>" when a rule already has that id. */
static int name_rules(struct parse *ps, struct lifecycle_rule *rules, uint32_t n)
{
	char id[48];

	for (uint32_t i = 0; i < n; i++) {
		struct lifecycle_rule *r = &rules[i], probe;
		uint32_t k = 0, j;

		if (r->id_len)
			continue;
		for (;;) {
			if (k == 0)
				snprintf(id, sizeof(id), "rule-%" PRIu32, i + 1);
			else
				snprintf(id, sizeof(id), "rule-%" PRIu32 "-%" PRIu32, i + 1, k);
			probe.id = id;
			probe.id_len = strlen(id);
			for (j = 0; j < n; j++)
				if (rules[j].id_len && same_id(&rules[j], &probe))
					break;
			if (j == n)
				break;
			k++;
		}
		r->id = cn_pool_strndup(&ps->c->pool, id, strlen(id));
		if (!r->id)
			return fail(CN_ENOMEM, ps->err, ps->errcap, "out of memory");
		r->id_len = strlen(id);
	}
	return 0;
}

static int parse_config(struct parse *ps, struct xml_node *root)
{
	struct lifecycle_rule *rules;
	uint32_t n = 0;
	int rc;

	if (strcmp(root->name, "LifecycleConfiguration") != 0)
		return BAD_XML(ps, "the root is not LifecycleConfiguration");
	if ((rc = container(ps, root)) != 0)
		return rc;
	for (struct xml_node *c = root->child; c; c = c->next) {
		if (strcmp(c->name, "Rule") != 0)
			return BAD_XML(ps, "unexpected <%s> in <LifecycleConfiguration>", c->name);
		if (++n > LIFECYCLE_MAX_RULES)
			return BAD_XML(ps, "more than %d rules", LIFECYCLE_MAX_RULES);
	}
	if (n == 0)
		return BAD_XML(ps, "no <Rule>");
	rules = cn_pool_zalloc(&ps->c->pool, n * sizeof(*rules));
	if (!rules)
		return fail(CN_ENOMEM, ps->err, ps->errcap, "out of memory");
	n = 0;
	for (struct xml_node *c = root->child; c; c = c->next, n++)
		if ((rc = parse_rule(ps, c, &rules[n])) != 0)
			return rc;
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t j = 0; j < i && rules[i].id_len; j++)
			if (same_id(&rules[j], &rules[i]))
				return BAD_ARG(ps, "Rule ID must be unique. Found same ID for more "
						   "than one rule");
	if ((rc = name_rules(ps, rules, n)) != 0)
		return rc;
	ps->c->rules = rules;
	ps->c->n = n;
	return 0;
}

int lifecycle_from_xml(const char *body, size_t len, struct lifecycle_config **out, char *err,
		       size_t errcap)
{
	struct cn_pool tree;
	struct xml_node *root;
	struct parse ps = {NULL, err, errcap};
	int rc;

	if (len > LIFECYCLE_MAX_XML)
		return fail(CN_ETOOBIG, err, errcap, "lifecycle configuration over %d bytes",
			    LIFECYCLE_MAX_XML);
	ps.c = config_new();
	if (!ps.c)
		return fail(CN_ENOMEM, err, errcap, "out of memory");
	cn_pool_init(&tree);
	rc = xml_parse(&tree, body, len, &root);
	if (rc == CN_EBADXML)
		rc = fail(rc, err, errcap, "not well-formed XML");
	else if (rc)
		rc = fail(rc, err, errcap, "%s", cn_strerror(rc));
	else
		rc = parse_config(&ps, root);
	cn_pool_release(&tree);
	/* Parsing checks all the invariants say; this catches a gap (the fuzz
	 * target aborts on LIFECYCLE_INVARIANT_MSG) without trusting it. */
	if (!rc && !config_valid(ps.c))
		rc = fail(CN_EBADXML, err, errcap, LIFECYCLE_INVARIANT_MSG);
	if (rc) {
		lifecycle_config_free(ps.c);
		return rc;
	}
	*out = ps.c;
	return 0;
}

/* ---- LifecycleConfiguration XML out ---- */

static void put_tag(struct cn_buf *w, const struct lifecycle_tag *t)
{
	xmlw_open(w, "Tag", NULL);
	xmlw_elem_n(w, "Key", t->key, t->key_len);
	xmlw_elem_n(w, "Value", t->value, t->value_len);
	xmlw_close(w, "Tag");
}

static void put_filter(struct cn_buf *w, const struct lifecycle_filter *f)
{
	switch (f->form) {
	case LIFECYCLE_FILTER_NONE: return;
	case LIFECYCLE_FILTER_LEGACY: xmlw_elem_n(w, "Prefix", f->prefix, f->prefix_len); return;
	default: break;
	}
	xmlw_open(w, "Filter", NULL);
	if (f->form == LIFECYCLE_FILTER_AND)
		xmlw_open(w, "And", NULL);
	if (f->has_prefix)
		xmlw_elem_n(w, "Prefix", f->prefix, f->prefix_len);
	for (uint32_t i = 0; i < f->n_tags; i++)
		put_tag(w, &f->tags[i]);
	if (f->has_gt)
		xmlw_elem_u64(w, "ObjectSizeGreaterThan", f->size_gt);
	if (f->has_lt)
		xmlw_elem_u64(w, "ObjectSizeLessThan", f->size_lt);
	if (f->form == LIFECYCLE_FILTER_AND)
		xmlw_close(w, "And");
	xmlw_close(w, "Filter");
}

static void put_rule(struct cn_buf *w, const struct lifecycle_rule *r)
{
	char date[40];

	xmlw_open(w, "Rule", NULL);
	xmlw_elem_n(w, "ID", r->id, r->id_len);
	put_filter(w, &r->filter);
	xmlw_elem(w, "Status", r->enabled ? "Enabled" : "Disabled");
	if (r->expiration.kind != LIFECYCLE_EXP_NONE) {
		xmlw_open(w, "Expiration", NULL);
		switch (r->expiration.kind) {
		case LIFECYCLE_EXP_DAYS: xmlw_elem_u64(w, "Days", r->expiration.days); break;
		case LIFECYCLE_EXP_DATE:
			format_date(r->expiration.date_ns, date);
			xmlw_elem(w, "Date", date);
			break;
		default:
			xmlw_elem(w, "ExpiredObjectDeleteMarker",
				  r->expiration.marker ? "true" : "false");
			break;
		}
		xmlw_close(w, "Expiration");
	}
	if (r->noncurrent.days) {
		xmlw_open(w, "NoncurrentVersionExpiration", NULL);
		xmlw_elem_u64(w, "NoncurrentDays", r->noncurrent.days);
		if (r->noncurrent.newer_versions)
			xmlw_elem_u64(w, "NewerNoncurrentVersions", r->noncurrent.newer_versions);
		xmlw_close(w, "NoncurrentVersionExpiration");
	}
	if (r->abort_mpu_days) {
		xmlw_open(w, "AbortIncompleteMultipartUpload", NULL);
		xmlw_elem_u64(w, "DaysAfterInitiation", r->abort_mpu_days);
		xmlw_close(w, "AbortIncompleteMultipartUpload");
	}
	xmlw_close(w, "Rule");
}

void lifecycle_to_xml(const struct lifecycle_config *c, struct cn_buf *w)
{
	xmlw_decl(w);
	xmlw_open(w, "LifecycleConfiguration", S3_NS);
	for (uint32_t i = 0; i < c->n; i++)
		put_rule(w, &c->rules[i]);
	xmlw_close(w, "LifecycleConfiguration");
}

/* ---- binary encoding ---- */

enum { F_ENABLED = 1, F_PREFIX = 2, F_GT = 4, F_LT = 8 };
enum { X_NONE, X_DAYS, X_DATE, X_MARKER_FALSE, X_MARKER_TRUE };

static void put_u8(struct cn_buf *w, unsigned v)
{
	uint8_t b = (uint8_t)v;

	cn_buf_put(w, &b, 1);
}

static void put_var(struct cn_buf *w, uint64_t v)
{
	uint8_t b[10];
	size_t n = 0;

	do {
		b[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			b[n] |= 0x80;
		n++;
	} while (v);
	cn_buf_put(w, b, n);
}

static void put_str(struct cn_buf *w, const char *s, size_t len)
{
	put_var(w, len);
	cn_buf_put(w, s, len);
}

static void put_enc_rule(struct cn_buf *w, const struct lifecycle_rule *r)
{
	const struct lifecycle_filter *f = &r->filter;
	int64_t day;

	put_u8(w, (r->enabled ? F_ENABLED : 0) | (f->has_prefix ? F_PREFIX : 0) |
			  (f->has_gt ? F_GT : 0) | (f->has_lt ? F_LT : 0));
	put_u8(w, f->form);
	put_str(w, r->id, r->id_len);
	put_str(w, f->prefix, f->prefix_len);
	if (f->has_gt)
		put_var(w, f->size_gt);
	if (f->has_lt)
		put_var(w, f->size_lt);
	put_var(w, f->n_tags);
	for (uint32_t i = 0; i < f->n_tags; i++) {
		put_str(w, f->tags[i].key, f->tags[i].key_len);
		put_str(w, f->tags[i].value, f->tags[i].value_len);
	}
	switch (r->expiration.kind) {
	case LIFECYCLE_EXP_DAYS:
		put_u8(w, X_DAYS);
		put_var(w, r->expiration.days);
		break;
	case LIFECYCLE_EXP_DATE:
		day = r->expiration.date_ns / LIFECYCLE_DAY_NS;
		put_u8(w, X_DATE);
		put_var(w, day >= 0 ? (uint64_t)day * 2 : (uint64_t)(-(day + 1)) * 2 + 1);
		break;
	case LIFECYCLE_EXP_MARKER:
		put_u8(w, r->expiration.marker ? X_MARKER_TRUE : X_MARKER_FALSE);
		break;
	default: put_u8(w, X_NONE); break;
	}
	put_var(w, r->noncurrent.days);
	put_var(w, r->noncurrent.newer_versions);
	put_var(w, r->abort_mpu_days);
}

int lifecycle_encode(const struct lifecycle_config *c, struct cn_buf *w)
{
	if (!config_valid(c))
		return CN_EINVAL;
	put_u8(w, LC_FORMAT);
	put_var(w, c->n);
	for (uint32_t i = 0; i < c->n; i++)
		put_enc_rule(w, &c->rules[i]);
	return w->err;
}

struct rd {
	const uint8_t *p;
	size_t len, off;
	int bad;
};

static unsigned get_u8(struct rd *r)
{
	if (r->off >= r->len) {
		r->bad = 1;
		return 0;
	}
	return r->p[r->off++];
}

/* A minimal LEB128 number (what put_var() writes and nothing else). */
static uint64_t get_var(struct rd *r)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < 10; i++) {
		unsigned b = get_u8(r);
		if (r->bad)
			return 0;
		if (i == 9 && b > 1) /* bits past 64 */
			break;
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			if (b == 0 && i > 0) /* a padded, non-minimal form */
				break;
			return v;
		}
	}
	r->bad = 1;
	return 0;
}

static uint32_t get_u32(struct rd *r)
{
	uint64_t v = get_var(r);

	if (v > UINT32_MAX)
		r->bad = 1;
	return (uint32_t)v;
}

/* A string copied into pool with a NUL; its contents are checked later. */
static const char *get_str(struct rd *r, struct cn_pool *pool, size_t *len)
{
	uint64_t n = get_var(r);
	char *s;

	if (r->bad || n > r->len - r->off) {
		r->bad = 1;
		return "";
	}
	s = cn_pool_strndup(pool, (const char *)r->p + r->off, (size_t)n);
	if (!s)
		return NULL;
	r->off += (size_t)n;
	*len = (size_t)n;
	return s;
}

/* One rule; 0, CN_ECORRUPT (a broken encoding) or CN_ENOMEM. What the
 * fields say is checked by config_valid() afterwards. */
static int get_rule(struct rd *rd, struct cn_pool *pool, struct lifecycle_rule *r)
{
	struct lifecycle_filter *f = &r->filter;
	struct lifecycle_tag *t = NULL;
	unsigned flags = get_u8(rd), kind;
	uint64_t nt, zz;

	f->form = (uint8_t)get_u8(rd);
	if (flags & ~(unsigned)(F_ENABLED | F_PREFIX | F_GT | F_LT))
		return CN_ECORRUPT;
	r->enabled = !!(flags & F_ENABLED);
	f->has_prefix = !!(flags & F_PREFIX);
	f->has_gt = !!(flags & F_GT);
	f->has_lt = !!(flags & F_LT);
	if (!(r->id = get_str(rd, pool, &r->id_len)) ||
	    !(f->prefix = get_str(rd, pool, &f->prefix_len)))
		return CN_ENOMEM;
	if (f->has_gt)
		f->size_gt = get_var(rd);
	if (f->has_lt)
		f->size_lt = get_var(rd);
	nt = get_var(rd);
	if (rd->bad || nt > LIFECYCLE_MAX_TAGS)
		return CN_ECORRUPT;
	if (nt && !(t = cn_pool_zalloc(pool, (size_t)nt * sizeof(*t))))
		return CN_ENOMEM;
	for (uint64_t i = 0; i < nt; i++)
		if (!(t[i].key = get_str(rd, pool, &t[i].key_len)) ||
		    !(t[i].value = get_str(rd, pool, &t[i].value_len)))
			return CN_ENOMEM;
	f->tags = t;
	f->n_tags = (uint32_t)nt;
	kind = get_u8(rd);
	switch (kind) {
	case X_NONE: break;
	case X_DAYS:
		r->expiration.kind = LIFECYCLE_EXP_DAYS;
		r->expiration.days = get_u32(rd);
		break;
	case X_DATE:
		zz = get_var(rd);
		r->expiration.kind = LIFECYCLE_EXP_DATE;
		if (__builtin_mul_overflow(zz & 1 ? -(int64_t)(zz >> 1) - 1 : (int64_t)(zz >> 1),
					   LIFECYCLE_DAY_NS, &r->expiration.date_ns))
			return CN_ECORRUPT;
		break;
	case X_MARKER_FALSE:
	case X_MARKER_TRUE:
		r->expiration.kind = LIFECYCLE_EXP_MARKER;
		r->expiration.marker = kind == X_MARKER_TRUE;
		break;
	default: return CN_ECORRUPT;
	}
	r->noncurrent.days = get_u32(rd);
	r->noncurrent.newer_versions = get_u32(rd);
	r->abort_mpu_days = get_u32(rd);
	return rd->bad ? CN_ECORRUPT : 0;
}

int lifecycle_decode(const void *p, size_t len, struct lifecycle_config **out)
{
	struct rd rd = {p, len, 0, 0};
	struct lifecycle_config *c;
	struct lifecycle_rule *rules;
	uint64_t n;
	int rc = 0;

	if (len < 1)
		return CN_ECORRUPT;
	if (get_u8(&rd) != LC_FORMAT)
		return CN_EFORMAT;
	n = get_var(&rd);
	if (rd.bad || n < 1 || n > LIFECYCLE_MAX_RULES)
		return CN_ECORRUPT;
	c = config_new();
	if (!c)
		return CN_ENOMEM;
	rules = cn_pool_zalloc(&c->pool, (size_t)n * sizeof(*rules));
	if (!rules)
		rc = CN_ENOMEM;
	for (uint64_t i = 0; i < n && !rc; i++)
		rc = get_rule(&rd, &c->pool, &rules[i]);
	c->rules = rules;
	c->n = (uint32_t)n;
	if (!rc && (rd.off != len || !config_valid(c)))
		rc = CN_ECORRUPT;
	if (rc) {
		lifecycle_config_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

/* ---- decisions ---- */

static int prefix_match(const struct lifecycle_filter *f, const char *key, size_t klen)
{
	return klen >= f->prefix_len && memcmp(key, f->prefix, f->prefix_len) == 0;
}

/* 1 when the object matches f, 0 when not, or the callback's error. */
static int filter_match(const struct lifecycle_filter *f, const char *key, size_t klen,
			uint64_t size, const struct lifecycle_tags *tags)
{
	if (!prefix_match(f, key, klen) || (f->has_gt && size <= f->size_gt) ||
	    (f->has_lt && size >= f->size_lt))
		return 0;
	for (uint32_t i = 0; i < f->n_tags; i++) {
		const struct lifecycle_tag *t = &f->tags[i];
		const char *v = NULL;
		size_t vlen = 0;
		int rc;

		if (!tags || !tags->get)
			return 0;
		rc = tags->get(tags->arg, t->key, t->key_len, &v, &vlen);
		if (rc <= 0)
			return rc;
		if (vlen != t->value_len || (vlen && memcmp(v, t->value, vlen) != 0))
			return 0;
	}
	return 1;
}

int lifecycle_current_expiry(const struct lifecycle_config *c, const char *key, size_t klen,
			     uint64_t size, const struct lifecycle_tags *tags, int64_t mtime_ns,
			     int64_t day_ns, int64_t *expire_at_ns, const char **rule_id)
{
	const struct lifecycle_rule *best = NULL;
	int64_t best_at = 0, at;
	int m;

	if (day_ns <= 0)
		return CN_EINVAL;
	for (uint32_t i = 0; i < c->n; i++) {
		const struct lifecycle_rule *r = &c->rules[i];

		if (!r->enabled || (r->expiration.kind != LIFECYCLE_EXP_DAYS &&
				    r->expiration.kind != LIFECYCLE_EXP_DATE))
			continue;
		m = filter_match(&r->filter, key, klen, size, tags);
		if (m < 0)
			return m;
		if (!m)
			continue;
		at = r->expiration.kind == LIFECYCLE_EXP_DAYS
			     ? after_days(mtime_ns, r->expiration.days, day_ns)
			     : r->expiration.date_ns;
		if (!best || at < best_at)
			best = r, best_at = at;
	}
	if (!best)
		return 0;
	*expire_at_ns = best_at;
	if (rule_id)
		*rule_id = best->id;
	return 1;
}

int lifecycle_expiration_header(int64_t expire_at_ns, const char *rule_id,
				char out[LIFECYCLE_HEADER_CAP])
{
	size_t len = strlen(rule_id), chars = 0, o;
	char date[40];

	for (size_t i = 0; i < len; i++)
		chars += ((unsigned char)rule_id[i] & 0xc0) != 0x80;
	if (chars > LIFECYCLE_ID_MAX || len > LIFECYCLE_ID_MAX * UTF8_MAX)
		return CN_EINVAL;
	s3_http_date(expire_at_ns, date);
	o = (size_t)snprintf(out, LIFECYCLE_HEADER_CAP, "expiry-date=\"%s\", rule-id=\"", date);
	/* at most 64 bytes so far, and three per id byte below */
	for (size_t i = 0; i < len; i++) {
		static const char hex[] = "0123456789ABCDEF";
		unsigned char ch = (unsigned char)rule_id[i];
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o++] = '"';
	out[o] = 0;
	return (int)o;
}

int lifecycle_noncurrent_expired(const struct lifecycle_config *c, const char *key, size_t klen,
				 uint64_t size, const struct lifecycle_tags *tags,
				 int64_t became_noncurrent_ns, unsigned newer_count, int64_t now,
				 int64_t day_ns, const char **rule_id)
{
	int m;

	if (day_ns <= 0)
		return CN_EINVAL;
	for (uint32_t i = 0; i < c->n; i++) {
		const struct lifecycle_rule *r = &c->rules[i];

		if (!r->enabled || !r->noncurrent.days ||
		    now < after_days(became_noncurrent_ns, r->noncurrent.days, day_ns) ||
		    newer_count < r->noncurrent.newer_versions)
			continue;
		m = filter_match(&r->filter, key, klen, size, tags);
		if (m < 0)
			return m;
		if (m) {
			if (rule_id)
				*rule_id = r->id;
			return 1;
		}
	}
	return 0;
}

int lifecycle_marker_expired(const struct lifecycle_config *c, const char *key, size_t klen,
			     unsigned noncurrent_count, int64_t marker_mtime_ns, int64_t now,
			     int64_t day_ns, const char **rule_id)
{
	if (day_ns <= 0)
		return CN_EINVAL;
	if (noncurrent_count > 0)
		return 0;
	for (uint32_t i = 0; i < c->n; i++) {
		const struct lifecycle_rule *r = &c->rules[i];
		int due;

		if (!r->enabled || r->filter.n_tags || !prefix_match(&r->filter, key, klen))
			continue;
		switch (r->expiration.kind) {
		case LIFECYCLE_EXP_MARKER: due = r->expiration.marker; break;
		case LIFECYCLE_EXP_DAYS:
			due = now >= after_days(marker_mtime_ns, r->expiration.days, day_ns);
			break;
		case LIFECYCLE_EXP_DATE: due = now >= r->expiration.date_ns; break;
		default: due = 0; break;
		}
		if (due) {
			if (rule_id)
				*rule_id = r->id;
			return 1;
		}
	}
	return 0;
}

int lifecycle_upload_abort_at(const struct lifecycle_config *c, const char *key, size_t klen,
			      int64_t initiated_ns, int64_t day_ns, int64_t *abort_at_ns,
			      const char **rule_id)
{
	const struct lifecycle_rule *best = NULL;
	int64_t best_at = 0, at;

	if (day_ns <= 0)
		return CN_EINVAL;
	for (uint32_t i = 0; i < c->n; i++) {
		const struct lifecycle_rule *r = &c->rules[i];

		if (!r->enabled || !r->abort_mpu_days || r->filter.n_tags ||
		    !prefix_match(&r->filter, key, klen))
			continue;
		at = after_days(initiated_ns, r->abort_mpu_days, day_ns);
		if (!best || at < best_at)
			best = r, best_at = at;
	}
	if (!best)
		return 0;
	*abort_at_ns = best_at;
	if (rule_id)
		*rule_id = best->id;
	return 1;
}

int lifecycle_upload_expired(const struct lifecycle_config *c, const char *key, size_t klen,
			     int64_t initiated_ns, int64_t now, int64_t day_ns,
			     const char **rule_id)
{
	int64_t at;
	int rc = lifecycle_upload_abort_at(c, key, klen, initiated_ns, day_ns, &at, rule_id);

	return rc <= 0 ? rc : now >= at;
}

static int prefix_cmp(const void *a, const void *b)
{
	const struct lifecycle_prefix *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int r = n ? memcmp(x->s, y->s, n) : 0;

	return r ? r : (x->len > y->len) - (x->len < y->len);
}

int lifecycle_prefixes(const struct lifecycle_config *c, struct lifecycle_prefix *out, size_t cap,
		       size_t *n)
{
	struct lifecycle_prefix *all = malloc((c->n ? c->n : 1) * sizeof(*all));
	size_t m = 0, k = 0;

	if (!all)
		return CN_ENOMEM;
	for (uint32_t i = 0; i < c->n; i++)
		if (c->rules[i].enabled)
			all[m++] = (struct lifecycle_prefix){c->rules[i].filter.prefix,
							     c->rules[i].filter.prefix_len};
	qsort(all, m, sizeof(*all), prefix_cmp);
	/* Sorted, every key a kept prefix covers follows it directly, so
	 * comparing with the last kept one is enough. */
	for (size_t i = 0; i < m; i++) {
		if (k && all[i].len >= all[k - 1].len &&
		    memcmp(all[i].s, all[k - 1].s, all[k - 1].len) == 0)
			continue;
		all[k++] = all[i];
	}
	if (k && cap)
		memcpy(out, all, (k < cap ? k : cap) * sizeof(*all));
	free(all);
	*n = k;
	return k > cap ? CN_ETOOBIG : 0;
}
