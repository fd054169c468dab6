/*
 * auth/postpolicy.c — see postpolicy.h. The policy document (AWS "Creating a
 * POST Policy"; UTF-8 JSON, base64 in the form):
 *
 *   { "expiration": "2015-12-30T12:00:00.000Z",
 *     "conditions": [ {"bucket": "b"},                      exact match
 *                     ["eq", "$acl", "public-read"],         exact match
 *                     ["starts-with", "$key", "user/"],      prefix ("" = any)
 *                     ["content-length-range", 1, 1048576] ] file size, inclusive
 *   }
 *
 * Parsing keeps the jansson document alive: the conditions point into it.
 * Everything else is straight-line checks; nothing here keeps state between
 * calls.
 */
#include "auth/postpolicy.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/err.h"

enum cond_op {
	OP_EQ = 1,
	OP_PREFIX,
};

struct cond {
	enum cond_op op;
	const char *name; /* without the '$', borrowed from doc */
	size_t name_len;
	const char *value;
	size_t value_len;
};

struct postpolicy {
	json_t *doc;
	time_t expiration;
	uint64_t min_len, max_len;
	size_t n;
	struct cond c[];
};

static void set_err(char *err, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (!err || cap == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

/* ASCII case-insensitive; every byte counts (no stop at a NUL). */
static int ieq(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return 0;
	for (size_t i = 0; i < alen; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
		if (x != y && !(x >= 'A' && x <= 'Z' && x + 32 == y) &&
		    !(y >= 'A' && y <= 'Z' && y + 32 == x))
			return 0;
	}
	return 1;
}

static int ieq_str(const char *a, size_t alen, const char *lit)
{
	return ieq(a, alen, lit, strlen(lit));
}

static int eq_str(const char *a, size_t alen, const char *lit)
{
	return alen == strlen(lit) && memcmp(a, lit, alen) == 0;
}

/* ---- the document ---- */

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

/* "YYYY-MM-DDTHH:MM:SS[.fraction]Z", UTC; the fraction is dropped. */
static int parse_iso8601(const char *s, size_t len, time_t *out)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	struct tm tm;
	size_t i = 19;
	int y, mo, d, h, mi, se;

	if (len < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':' || s[len - 1] != 'Z')
		return -1;
	y = digits(s, 4);
	mo = digits(s + 5, 2);
	d = digits(s + 8, 2);
	h = digits(s + 11, 2);
	mi = digits(s + 14, 2);
	se = digits(s + 17, 2);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h < 0 || h > 23 ||
	    mi < 0 || mi > 59 || se < 0 || se > 59)
		return -1;
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return -1;
	if (s[i] == '.') {
		if (++i == len - 1)
			return -1; /* a '.' needs digits */
		for (; i < len - 1; i++)
			if (s[i] < '0' || s[i] > '9')
				return -1;
	}
	if (i != len - 1)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	*out = timegm(&tm);
	return 0;
}

/* A content-length-range bound: a JSON integer >= 0, or a string of
 * decimal digits (some SDKs quote them). */
static int bound(const json_t *v, uint64_t *out)
{
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		if (i < 0)
			return -1;
		*out = (uint64_t)i;
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t len = json_string_length(v);
		uint64_t n = 0;
		if (len == 0 || len > 19)
			return -1;
		for (size_t i = 0; i < len; i++) {
			if (s[i] < '0' || s[i] > '9')
				return -1;
			n = n * 10 + (uint64_t)(s[i] - '0');
		}
		*out = n;
		return 0;
	}
	return -1;
}

/* {"name": "value"}: an exact match. */
static int simple_condition(json_t *o, struct cond *c, char *err, size_t errcap)
{
	const char *key;
	json_t *v;

	if (json_object_size(o) != 1) {
		set_err(err, errcap,
			"Invalid Policy: Invalid Simple-Condition: Simple-Conditions must have "
			"exactly one property specified.");
		return CN_EBADPOSTPOLICY;
	}
	json_object_foreach(o, key, v)
	{
		if (!json_is_string(v)) {
			set_err(err, errcap,
				"Invalid Policy: Invalid Simple-Condition: value must be a "
				"string.");
			return CN_EBADPOSTPOLICY;
		}
		c->op = OP_EQ;
		c->name = key;
		c->name_len = strlen(key);
		c->value = json_string_value(v);
		c->value_len = json_string_length(v);
	}
	return 0;
}

/* ["eq" | "starts-with", "$name", "value"] or ["content-length-range", min,
 * max]. A range narrows p's and leaves c->op 0. */
static int list_condition(json_t *a, struct postpolicy *p, struct cond *c, char *err, size_t errcap)
{
	json_t *op = json_array_get(a, 0), *name, *val;
	const char *ops;
	size_t oplen;
	uint64_t lo, hi;

	if (!json_is_string(op)) {
		set_err(err, errcap,
			"Invalid Policy: Invalid Condition: missing operation identifier.");
		return CN_EBADPOSTPOLICY;
	}
	ops = json_string_value(op);
	oplen = json_string_length(op);
	if (ieq_str(ops, oplen, "eq")) {
		c->op = OP_EQ;
	} else if (ieq_str(ops, oplen, "starts-with")) {
		c->op = OP_PREFIX;
	} else if (!ieq_str(ops, oplen, "content-length-range")) {
		set_err(err, errcap, "Invalid Policy: Invalid Condition: unknown operation '%.*s'.",
			(int)(oplen > 64 ? 64 : oplen), ops);
		return CN_EBADPOSTPOLICY;
	}
	if (json_array_size(a) != 3) {
		set_err(err, errcap, "Invalid Policy: Invalid %.*s: wrong number of arguments.",
			(int)oplen, ops);
		return CN_EBADPOSTPOLICY;
	}
	name = json_array_get(a, 1);
	val = json_array_get(a, 2);
	if (c->op == 0) {
		if (bound(name, &lo) || bound(val, &hi) || lo > hi) {
			set_err(err, errcap,
				"Invalid Policy: Invalid content-length-range: the bounds must be "
				"integers, 0 <= min <= max.");
			return CN_EBADPOSTPOLICY;
		}
		p->min_len = lo > p->min_len ? lo : p->min_len;
		p->max_len = hi < p->max_len ? hi : p->max_len;
		return 0;
	}
	if (!json_is_string(name) || json_string_value(name)[0] != '$') {
		set_err(err, errcap,
			"Invalid Policy: Invalid %.*s: the field name must be a string starting "
			"with "
			"'$'.",
			(int)oplen, ops);
		return CN_EBADPOSTPOLICY;
	}
	if (!json_is_string(val)) {
		set_err(err, errcap, "Invalid Policy: Invalid %.*s: value must be a string.",
			(int)oplen, ops);
		return CN_EBADPOSTPOLICY;
	}
	c->name = json_string_value(name) + 1;
	c->name_len = json_string_length(name) - 1;
	c->value = json_string_value(val);
	c->value_len = json_string_length(val);
	return 0;
}

static int parse_doc(json_t *doc, time_t now, struct postpolicy **out, char *err, size_t errcap)
{
	const char *key;
	json_t *v, *exp = NULL, *conds = NULL;
	struct postpolicy *p;
	size_t n;
	time_t t;
	int rc;

	if (!json_is_object(doc)) {
		set_err(err, errcap, "Invalid Policy: Invalid JSON.");
		return CN_EBADPOSTPOLICY;
	}
	json_object_foreach(doc, key, v)
	{
		if (strcmp(key, "expiration") == 0) {
			exp = v;
		} else if (strcmp(key, "conditions") == 0) {
			conds = v;
		} else {
			set_err(err, errcap, "Invalid Policy: Unexpected: \"%.64s\"", key);
			return CN_EBADPOSTPOLICY;
		}
	}
	if (!exp) {
		set_err(err, errcap, "Invalid Policy: Policy missing expiration.");
		return CN_EBADPOSTPOLICY;
	}
	if (!json_is_string(exp) ||
	    parse_iso8601(json_string_value(exp), json_string_length(exp), &t)) {
		if (json_is_string(exp))
			set_err(err, errcap, "Invalid Policy: Invalid 'expiration' value: '%.64s'",
				json_string_value(exp));
		else
			set_err(err, errcap, "Invalid Policy: Invalid 'expiration' value.");
		return CN_EBADPOSTPOLICY;
	}
	if (!conds) {
		set_err(err, errcap, "Invalid Policy: Policy missing conditions.");
		return CN_EBADPOSTPOLICY;
	}
	if (!json_is_array(conds)) {
		set_err(err, errcap, "Invalid Policy: Invalid 'conditions' value: must be a List.");
		return CN_EBADPOSTPOLICY;
	}
	n = json_array_size(conds);
	p = calloc(1, sizeof(*p) + n * sizeof(p->c[0]));
	if (!p) {
		set_err(err, errcap, "out of memory");
		return CN_ENOMEM;
	}
	p->expiration = t;
	p->max_len = UINT64_MAX;
	for (size_t i = 0; i < n; i++) {
		json_t *c = json_array_get(conds, i);
		struct cond *pc = &p->c[p->n];
		if (json_is_object(c)) {
			rc = simple_condition(c, pc, err, errcap);
		} else if (json_is_array(c)) {
			rc = list_condition(c, p, pc, err, errcap);
		} else {
			set_err(err, errcap,
				"Invalid Policy: Invalid condition test: must be a List or "
				"Object.");
			rc = CN_EBADPOSTPOLICY;
		}
		if (rc) {
			free(p);
			return rc;
		}
		if (pc->op)
			p->n++;
	}
	/* Checked last: a malformed document says so even when it is old. */
	if (now >= t) {
		set_err(err, errcap, "Invalid according to Policy: Policy expired.");
		free(p);
		return CN_EEXPIRED;
	}
	*out = p;
	return 0;
}

int postpolicy_parse(const char *b64, size_t len, time_t now, struct postpolicy **out, char *err,
		     size_t errcap)
{
	uint8_t *raw;
	long n;
	json_t *doc;
	int rc;

	*out = NULL;
	raw = malloc(len / 4 * 3 + 1);
	if (!raw) {
		set_err(err, errcap, "out of memory");
		return CN_ENOMEM;
	}
	n = cn_b64_decode(b64, len, raw, len / 4 * 3);
	if (n < 0) {
		free(raw);
		set_err(err, errcap, "Invalid Policy: invalid Base64 encoding.");
		return CN_EBADPOSTPOLICY;
	}
	doc = json_loadb((const char *)raw, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
	free(raw);
	if (!doc) {
		set_err(err, errcap, "Invalid Policy: Invalid JSON.");
		return CN_EBADPOSTPOLICY;
	}
	rc = parse_doc(doc, now, out, err, errcap);
	if (rc) {
		json_decref(doc);
		return rc;
	}
	(*out)->doc = doc;
	return 0;
}

void postpolicy_free(struct postpolicy *p)
{
	if (!p)
		return;
	json_decref(p->doc);
	free(p);
}

time_t postpolicy_expiration(const struct postpolicy *p)
{
	return p->expiration;
}

void postpolicy_length_range(const struct postpolicy *p, uint64_t *min, uint64_t *max)
{
	*min = p->min_len;
	*max = p->max_len;
}

int postpolicy_length_ok(const struct postpolicy *p, uint64_t size)
{
	if (size < p->min_len)
		return CN_ETOOSMALL;
	return size > p->max_len ? CN_ETOOBIG : 0;
}

/* ---- the form against the policy ---- */

static int has_prefix(const char *v, size_t len, const char *pre, size_t plen)
{
	return len >= plen && memcmp(v, pre, plen) == 0;
}

/* Does value satisfy c? */
static int holds(const struct cond *c, const char *v, size_t len)
{
	if (c->op == OP_EQ)
		return len == c->value_len && memcmp(v, c->value, len) == 0;
	if (!ieq_str(c->name, c->name_len, "content-type"))
		return has_prefix(v, len, c->value, c->value_len);
	/* AWS: a Content-Type with commas is a list; each must match. */
	for (size_t i = 0;;) {
		size_t start, end;
		while (i < len && (v[i] == ' ' || v[i] == '\t'))
			i++;
		start = i;
		while (i < len && v[i] != ',')
			i++;
		end = i;
		if (!has_prefix(v + start, end - start, c->value, c->value_len))
			return 0;
		if (i == len)
			return 1;
		i++;
	}
}

static void condition_failed(const struct cond *c, char *err, size_t errcap)
{
	json_t *a = json_array();
	char *name = malloc(c->name_len + 2), *s = NULL;

	if (a && name) {
		name[0] = '$';
		memcpy(name + 1, c->name, c->name_len);
		json_array_append_new(a, json_string(c->op == OP_EQ ? "eq" : "starts-with"));
		json_array_append_new(a, json_stringn(name, c->name_len + 1));
		json_array_append_new(a, json_stringn(c->value, c->value_len));
		s = json_dumps(a, 0); /* ["eq", "$key", "v"]: S3's spacing */
	}
	set_err(err, errcap, "Invalid according to Policy: Policy Condition failed: %s",
		s ? s : "");
	free(s);
	free(name);
	json_decref(a);
}

/* Fields S3 never asks a condition for ("bucket" is the request's own). */
static int exempt(const char *name, size_t len)
{
	static const char *const names[] = {
		"policy", "x-amz-signature", "awsaccesskeyid", "signature", "file", "bucket",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (ieq_str(name, len, names[i]))
			return 1;
	return len >= 9 && ieq(name, 9, "x-ignore-", 9);
}

int postpolicy_check(const struct postpolicy *p, const struct postpolicy_field *fields, size_t n,
		     char *err, size_t errcap)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct cond *c = &p->c[i];
		int seen = 0, ok = 1;
		for (size_t k = 0; k < n && ok; k++) {
			const struct postpolicy_field *f = &fields[k];
			if (!ieq(f->name, f->name_len, c->name, c->name_len))
				continue;
			seen = 1;
			ok = holds(c, f->value, f->value_len);
		}
		if (!seen)
			ok = holds(c, "", 0);
		if (!ok) {
			condition_failed(c, err, errcap);
			return CN_EACCESS;
		}
	}
	for (size_t k = 0; k < n; k++) {
		const struct postpolicy_field *f = &fields[k];
		size_t i = 0;
		if (exempt(f->name, f->name_len))
			continue;
		while (i < p->n && !ieq(f->name, f->name_len, p->c[i].name, p->c[i].name_len))
			i++;
		if (i == p->n) {
			set_err(err, errcap,
				"Invalid according to Policy: Extra input fields: %.*s",
				(int)(f->name_len > 256 ? 256 : f->name_len), f->name);
			return CN_EACCESS;
		}
	}
	return 0;
}

int postpolicy_key_subst(const char *value, size_t len, const char *filename, size_t filename_len,
			 char *out, size_t cap, size_t *out_len)
{
	static const char var[] = "${filename}";
	const size_t vlen = sizeof(var) - 1;
	size_t o = 0, base = 0;

	if (!filename) {
		filename = "";
		filename_len = 0;
	}
	for (size_t i = 0; i < filename_len; i++)
		if (filename[i] == '/' || filename[i] == '\\')
			base = i + 1;
	for (size_t i = 0; i < len;) {
		const char *add = value + i;
		size_t n = 1;
		if (len - i >= vlen && memcmp(value + i, var, vlen) == 0) {
			add = filename + base;
			n = filename_len - base;
			i += vlen;
		} else {
			i++;
		}
		if (n >= cap - o)
			return CN_ETOOBIG;
		memcpy(out + o, add, n);
		o += n;
	}
	if (cap == 0)
		return CN_ETOOBIG;
	out[o] = '\0';
	if (out_len)
		*out_len = o;
	return 0;
}

/* ---- signatures ---- */

int postpolicy_auth_from_fields(const struct postpolicy_field *fields, size_t n,
				struct postpolicy_auth *out, char *err, size_t errcap)
{
	static const struct {
		const char *name;
		size_t off, len_off;
		enum postpolicy_kind kind; /* ANONYMOUS: either version's */
	} tab[] = {
#define AUTH_FIELD(name, member, kind)                                                             \
	{name, offsetof(struct postpolicy_auth, member),                                           \
	 offsetof(struct postpolicy_auth, member##_len), kind}
		AUTH_FIELD("policy", policy, POSTPOLICY_ANONYMOUS),
		AUTH_FIELD("x-amz-algorithm", algorithm, POSTPOLICY_V4),
		AUTH_FIELD("x-amz-credential", credential, POSTPOLICY_V4),
		AUTH_FIELD("x-amz-date", date, POSTPOLICY_ANONYMOUS),
		AUTH_FIELD("x-amz-signature", signature, POSTPOLICY_V4),
		AUTH_FIELD("signature", signature, POSTPOLICY_V2),
		AUTH_FIELD("awsaccesskeyid", access_key, POSTPOLICY_V2),
#undef AUTH_FIELD
	};
	int v4 = 0, v2 = 0;

	memset(out, 0, sizeof(*out));
	for (size_t k = 0; k < n; k++) {
		const struct postpolicy_field *f = &fields[k];
		for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
			const char **slot = (const char **)((char *)out + tab[i].off);
			if (!ieq_str(f->name, f->name_len, tab[i].name))
				continue;
			if (*slot) {
				set_err(err, errcap, "Bucket POST has more than one '%s' field.",
					tab[i].name);
				return CN_EBADAUTH;
			}
			*slot = f->value;
			*(size_t *)((char *)out + tab[i].len_off) = f->value_len;
			v4 |= tab[i].kind == POSTPOLICY_V4;
			v2 |= tab[i].kind == POSTPOLICY_V2;
		}
	}
	if (v4 && v2) {
		set_err(err, errcap, "Bucket POST mixes Signature Version 2 and 4 fields.");
		return CN_EBADAUTH;
	}
	out->kind = v4 ? POSTPOLICY_V4 : v2 ? POSTPOLICY_V2 : POSTPOLICY_ANONYMOUS;
	return 0;
}

static int missing(const char *field, char *err, size_t errcap)
{
	set_err(err, errcap,
		"Bucket POST must contain a field named '%s'.  If it is specified, please check "
		"the order of the fields.",
		field);
	return CN_EBADAUTH;
}

/* Printable ASCII without spaces: what an access key, date or region is. */
static int plain(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 127)
			return 0;
	return 1;
}

/* Looks up the secret of ak (NUL-terminated) into secret (cap bytes). */
static int secret_of(sigv4_secret_cb get_secret, void *arg, const char *ak, char *secret,
		     size_t cap, char *err, size_t errcap)
{
	int rc;

	secret[0] = '\0';
	rc = get_secret(arg, ak, secret, cap);
	secret[cap - 1] = '\0';
	if (rc == CN_EBADKEYID)
		set_err(err, errcap,
			"The AWS Access Key Id you provided does not exist in our records.");
	else if (rc)
		set_err(err, errcap, "%s", cn_strerror(rc));
	return rc;
}

static int bad_signature(char *err, size_t errcap)
{
	set_err(err, errcap,
		"The request signature we calculated does not match the signature you provided. "
		"Check your key and signing method.");
	return CN_EBADSIG;
}

int postpolicy_verify_v4(const struct postpolicy_auth *a, const char *region,
			 sigv4_secret_cb get_secret, void *arg, char *access_key_out, char *err,
			 size_t errcap)
{
	const char *part[5];
	size_t plen[5], np = 0, start = 0;
	char ak[SIGV4_MAX_ACCESS_KEY + 1], date[9], reg[SIGV4_MAX_REGION + 1];
	char secret[SIGV4_MAX_SECRET + 1];
	uint8_t key[32], mac[32], claimed[32];
	time_t t;
	int rc;

	if (!a->policy)
		return missing("policy", err, errcap);
	if (!a->algorithm)
		return missing("x-amz-algorithm", err, errcap);
	if (!a->credential)
		return missing("x-amz-credential", err, errcap);
	if (!a->date)
		return missing("x-amz-date", err, errcap);
	if (!a->signature)
		return missing("x-amz-signature", err, errcap);
	if (!eq_str(a->algorithm, a->algorithm_len, POSTPOLICY_ALGORITHM)) {
		set_err(err, errcap, "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"");
		return CN_EBADAUTH;
	}
	/* AKID/YYYYMMDD/region/s3/aws4_request */
	for (size_t i = 0; i <= a->credential_len && np <= 5; i++) {
		if (i == a->credential_len || a->credential[i] == '/') {
			if (np < 5) {
				part[np] = a->credential + start;
				plen[np] = i - start;
			}
			np++;
			start = i + 1;
		}
	}
	if (np != 5 || plen[0] == 0 || plen[0] > SIGV4_MAX_ACCESS_KEY || plen[1] != 8 ||
	    plen[2] == 0 || plen[2] > SIGV4_MAX_REGION || !plain(part[0], plen[0]) ||
	    !plain(part[2], plen[2]) || !eq_str(part[3], plen[3], "s3") ||
	    !eq_str(part[4], plen[4], "aws4_request")) {
		set_err(err, errcap,
			"the Credential is mal-formed; expecting "
			"\"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".");
		return CN_EBADAUTH;
	}
	if (sigv4_parse_amz_date(a->date, a->date_len, &t)) {
		set_err(err, errcap,
			"X-Amz-Date must be in the ISO8601 Long Format "
			"\"yyyyMMdd'T'HHmmss'Z'\"");
		return CN_EBADDATE;
	}
	if (memcmp(part[1], a->date, 8) != 0) {
		set_err(err, errcap, "the date in the credential \"%.8s\" is not x-amz-date's day.",
			part[1]);
		return CN_EBADAUTH;
	}
	memcpy(ak, part[0], plen[0]);
	ak[plen[0]] = '\0';
	memcpy(date, part[1], 8);
	date[8] = '\0';
	memcpy(reg, part[2], plen[2]);
	reg[plen[2]] = '\0';
	if (region && strcmp(region, reg) != 0) {
		set_err(err, errcap, "the region '%s' is wrong; expecting '%s'", reg, region);
		return CN_EBADREGION;
	}
	if (a->signature_len != 64)
		return bad_signature(err, errcap);
	for (size_t i = 0; i < 32; i++) {
		int hi = cn_hexval((unsigned char)a->signature[2 * i]);
		int lo = cn_hexval((unsigned char)a->signature[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return bad_signature(err, errcap);
		claimed[i] = (uint8_t)(hi << 4 | lo);
	}
	rc = secret_of(get_secret, arg, ak, secret, sizeof(secret), err, errcap);
	if (rc)
		goto out;
	/* SigV4 POST: the string to sign is the base64 policy as sent. */
	sigv4_signing_key(ak, secret, date, reg, key);
	cn_hmac_sha256(key, sizeof(key), a->policy, a->policy_len, mac);
	if (cn_memcmp_ct(mac, claimed, sizeof(mac)) != 0) {
		rc = bad_signature(err, errcap);
		goto out;
	}
	memcpy(access_key_out, ak, plen[0] + 1);
out:
	explicit_bzero(secret, sizeof(secret));
	explicit_bzero(key, sizeof(key));
	return rc;
}

int postpolicy_verify_v2(const struct postpolicy_auth *a, sigv4_secret_cb get_secret, void *arg,
			 char *access_key_out, char *err, size_t errcap)
{
	char ak[SIGV4_MAX_ACCESS_KEY + 1], secret[SIGV4_MAX_SECRET + 1], want[29];
	uint8_t mac[20];
	int rc;

	if (!a->policy)
		return missing("policy", err, errcap);
	if (!a->access_key)
		return missing("AWSAccessKeyId", err, errcap);
	if (!a->signature)
		return missing("signature", err, errcap);
	if (a->access_key_len == 0 || a->access_key_len > SIGV4_MAX_ACCESS_KEY ||
	    !plain(a->access_key, a->access_key_len)) {
		set_err(err, errcap, "The AWS Access Key Id you provided is malformed.");
		return CN_EBADAUTH;
	}
	memcpy(ak, a->access_key, a->access_key_len);
	ak[a->access_key_len] = '\0';
	rc = secret_of(get_secret, arg, ak, secret, sizeof(secret), err, errcap);
	if (rc)
		goto out;
	/* SigV2 POST: base64(HMAC-SHA1(secret, base64 policy as sent)). */
	cn_hmac_sha1(secret, strlen(secret), a->policy, a->policy_len, mac);
	cn_b64_encode(mac, sizeof(mac), want, sizeof(want));
	if (a->signature_len != 28 || cn_memcmp_ct(want, a->signature, 28) != 0) {
		rc = bad_signature(err, errcap);
		goto out;
	}
	memcpy(access_key_out, ak, a->access_key_len + 1);
out:
	explicit_bzero(secret, sizeof(secret));
	explicit_bzero(mac, sizeof(mac));
	return rc;
}
