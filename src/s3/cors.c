/*
 * s3/cors.c — see cors.h.
 *
 * Layer: s3, pure. Both ways in (a PutBucketCors body, a record read back
 * from disk) first become raw rules — slices of the source — which one
 * validator checks and one packer copies into the config's single block:
 *
 *   struct cors_config | struct cors_rule[n] | const char *[lists] | chars
 *
 * so what the XML accepts and what a record may hold cannot drift apart,
 * and cors_encode() output always decodes again.
 *
 * Binary encoding, format version 1 (cors_encode / cors_decode), integers
 * big-endian:
 *
 *   OFFSET  SIZE  MEANING
 *   0       1     format version (1)
 *   1       1     n, the number of rules (1..100)
 *   2       ...   n rules, each:
 *                 1   flags: bit 0 an ID follows, bit 1 a MaxAgeSeconds
 *                     follows; the other bits 0
 *                 1   m, the number of methods (1..5)
 *                 m   the methods (enum cors_method), distinct, in order
 *                 2+k bit 0 only: the ID's length k, then its k bytes
 *                 4   bit 1 only: MaxAgeSeconds (0..2^31-1)
 *                 then three string lists: AllowedOrigin (count >= 1),
 *                 AllowedHeader, ExposeHeader; each a 2-byte count, then
 *                 per string a 2-byte length and its bytes (no NUL)
 *
 * Nothing follows the last rule. Every string must satisfy cors.h's
 * invariants, as a parsed one does. A rule {origin "*", GET} is 12 bytes
 * after the 2-byte head.
 */
#include "s3/cors.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/pool.h"
#include "s3/s3_int.h" /* S3_NS */
#include "xml/xml.h"

#define CORS_FORMAT 1
#define F_ID 1
#define F_MAX_AGE 2
#define VARY "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"

/* The string lists of a raw rule; methods arrive as strings from XML. */
enum { L_ORIGIN, L_METHOD, L_HEADER, L_EXPOSE, N_LISTS };

struct slice {
	const char *p;
	size_t len;
};

/* A rule as its source spells it: slices into the XML tree or the record. */
struct raw_rule {
	int has_id;
	struct slice id;
	int32_t max_age; /* -1: none */
	uint8_t methods[CORS_N_METHODS];
	unsigned n_methods;
	struct slice *list[N_LISTS];
	unsigned n[N_LISTS];
};

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

static const char *const method_names[CORS_N_METHODS + 1] = {NULL,   "GET",    "PUT",
							     "POST", "DELETE", "HEAD"};

const char *cors_method_name(int m)
{
	return m >= CORS_GET && m <= CORS_HEAD ? method_names[m] : NULL;
}

static int method_from(const char *s, size_t len)
{
	for (int m = CORS_GET; m <= CORS_HEAD; m++)
		if (strlen(method_names[m]) == len && memcmp(method_names[m], s, len) == 0)
			return m;
	return 0;
}

int cors_method_parse(const char *s)
{
	return s ? method_from(s, strlen(s)) : 0;
}

/* ---- values ---- */

enum problem { P_OK, P_UTF8, P_CONTROL, P_WILDCARDS, P_ID_LEN, P_SPACE };
enum kind { K_ORIGIN, K_HEADER, K_EXPOSE, K_ID };

/* Counts the code points of valid UTF-8 (no overlong forms, surrogates,
 * U+FFFE/U+FFFF or values past U+10FFFF: what XML can carry). Returns 1,
 * or 0 when s is not such UTF-8. */
static int utf8_chars(const unsigned char *s, size_t len, size_t *chars)
{
	size_t i = 0, n = 0;

	while (i < len) {
		unsigned c = s[i];
		uint32_t cp;
		size_t k;

		if (c < 0x80)
			cp = c, k = 1;
		else if (c >= 0xc2 && c <= 0xdf)
			cp = c & 0x1f, k = 2;
		else if (c >= 0xe0 && c <= 0xef)
			cp = c & 0x0f, k = 3;
		else if (c >= 0xf0 && c <= 0xf4)
			cp = c & 0x07, k = 4;
		else
			return 0;
		if (len - i < k)
			return 0;
		for (size_t j = 1; j < k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff)
			return 0;
		i += k;
		n++;
	}
	*chars = n;
	return 1;
}

static int xml_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* What is wrong with a value of kind k, if anything. Origins and header
 * names reach response headers (or are matched against what does), so no
 * control character; an ID only ever goes back into XML, which carries
 * TAB, LF and CR but no other C0 character. XML whitespace around a value
 * is dropped when parsing, so a value that begins or ends with some could
 * not have been parsed (only a record can hold one). */
static enum problem value_problem(enum kind k, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t chars, stars = 0;

	if (!utf8_chars(u, len, &chars))
		return P_UTF8;
	if (len && (xml_ws(s[0]) || xml_ws(s[len - 1])))
		return P_SPACE;
	for (size_t i = 0; i < len; i++) {
		if (k == K_ID ? u[i] < 0x20 && u[i] != '\t' && u[i] != '\n' && u[i] != '\r'
			      : is_control(u[i]))
			return P_CONTROL;
		stars += u[i] == '*';
	}
	if ((k == K_ORIGIN || k == K_HEADER) && stars > 1)
		return P_WILDCARDS;
	if (k == K_ID && chars > CORS_MAX_ID)
		return P_ID_LEN;
	return P_OK;
}

static const char *const kind_names[] = {"AllowedOrigin", "AllowedHeader", "ExposeHeader", "ID"};

/* Turns a raw rule's method strings into codes (duplicates dropped), then
 * checks every value. Returns 0 or CN_EBADCORS with AWS's message where
 * AWS has one. */
static int validate(struct raw_rule *r, char *err, size_t errcap)
{
	static const struct {
		int list;
		enum kind k;
	} lists[] = {{L_ORIGIN, K_ORIGIN}, {L_HEADER, K_HEADER}, {L_EXPOSE, K_EXPOSE}};

	for (unsigned i = 0; i < r->n[L_METHOD]; i++) {
		const struct slice *v = &r->list[L_METHOD][i];
		int m = method_from(v->p, v->len);
		unsigned j;

		if (!m)
			return fail(CN_EBADCORS, err, errcap,
				    "Found unsupported HTTP method in CORS config. Unsupported "
				    "method is %.*s",
				    (int)v->len, v->p);
		for (j = 0; j < r->n_methods && r->methods[j] != m; j++)
			;
		if (j == r->n_methods)
			r->methods[r->n_methods++] = (uint8_t)m;
	}
	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
		const char *name = kind_names[lists[l].k];

		for (unsigned i = 0; i < r->n[lists[l].list]; i++) {
			const struct slice *v = &r->list[lists[l].list][i];

			switch (value_problem(lists[l].k, v->p, v->len)) {
			case P_OK: break;
			case P_WILDCARDS:
				return fail(CN_EBADCORS, err, errcap,
					    "%s \"%.*s\" can not have more than one wildcard.",
					    name, (int)v->len, v->p);
			case P_CONTROL:
				return fail(CN_EBADCORS, err, errcap,
					    "%s can not contain control characters.", name);
			default:
				/* UTF-8 or spacing: only a record can be wrong so */
				return fail(CN_EBADCORS, err, errcap, "%s is not valid.", name);
			}
		}
	}
	if (r->has_id) {
		switch (value_problem(K_ID, r->id.p, r->id.len)) {
		case P_OK: break;
		case P_ID_LEN:
			return fail(CN_EBADCORS, err, errcap,
				    "The ID of a CORSRule can not be longer than %d characters.",
				    CORS_MAX_ID);
		default: return fail(CN_EBADCORS, err, errcap, "The ID is not valid.");
		}
	}
	return 0;
}

/* ---- packing raw rules into one block ---- */

/* Copies len bytes and a NUL at *at, advancing it; returns the copy. */
static const char *put_str(char **at, const char *s, size_t len)
{
	char *d = *at;

	if (len)
		memcpy(d, s, len);
	d[len] = 0;
	*at = d + len + 1;
	return d;
}

static size_t methods_len(const struct raw_rule *r)
{
	size_t len = 0;

	for (unsigned i = 0; i < r->n_methods; i++)
		len += strlen(method_names[r->methods[i]]) + (i ? 2 : 0);
	return len;
}

/* The non-empty expose headers joined by ", ": the length, 0 for none. */
static size_t expose_len(const struct raw_rule *r)
{
	size_t len = 0;

	for (unsigned i = 0; i < r->n[L_EXPOSE]; i++)
		if (r->list[L_EXPOSE][i].len)
			len += r->list[L_EXPOSE][i].len + (len ? 2 : 0);
	return len;
}

/* Builds the config from validated raw rules. Returns 0 or CN_ENOMEM. */
static int pack(const struct raw_rule *rr, unsigned n, struct cors_config **out)
{
	static const int lists[] = {L_ORIGIN, L_HEADER, L_EXPOSE};
	size_t n_ptrs = 0, chars = 0;
	struct cors_config *c;
	struct cors_rule *rules;
	const char **ptrs;
	char *at;

	for (unsigned i = 0; i < n; i++) {
		const struct raw_rule *r = &rr[i];
		for (size_t l = 0; l < 3; l++)
			for (unsigned j = 0; j < r->n[lists[l]]; j++) {
				n_ptrs++;
				chars += r->list[lists[l]][j].len + 1;
			}
		chars += (r->has_id ? r->id.len + 1 : 0) + methods_len(r) + 1 + expose_len(r) + 1;
	}
	/* The struct sizes are multiples of their (pointer) alignment. */
	c = malloc(sizeof(*c) + n * sizeof(*rules) + n_ptrs * sizeof(*ptrs) + chars);
	if (!c)
		return CN_ENOMEM;
	rules = (struct cors_rule *)(c + 1);
	ptrs = (const char **)(rules + n);
	at = (char *)(ptrs + n_ptrs);
	memset(rules, 0, n * sizeof(*rules));
	c->n_rules = n;
	c->rules = rules;
	for (unsigned i = 0; i < n; i++) {
		const struct raw_rule *r = &rr[i];
		struct cors_rule *o = &rules[i];
		const char **dst[3];
		unsigned *cnt[3] = {&o->n_origins, &o->n_allowed_headers, &o->n_expose_headers};
		char *s;

		dst[0] = ptrs;
		o->origins = ptrs;
		ptrs += r->n[L_ORIGIN];
		dst[1] = ptrs;
		o->allowed_headers = ptrs;
		ptrs += r->n[L_HEADER];
		dst[2] = ptrs;
		o->expose_headers = ptrs;
		ptrs += r->n[L_EXPOSE];
		for (size_t l = 0; l < 3; l++) {
			*cnt[l] = r->n[lists[l]];
			for (unsigned j = 0; j < r->n[lists[l]]; j++)
				dst[l][j] = put_str(&at, r->list[lists[l]][j].p,
						    r->list[lists[l]][j].len);
		}
		o->id = r->has_id ? put_str(&at, r->id.p, r->id.len) : NULL;
		o->max_age = r->max_age;
		memcpy(o->methods, r->methods, sizeof(o->methods));
		o->n_methods = r->n_methods;
		s = at;
		for (unsigned j = 0; j < r->n_methods; j++) {
			const char *name = method_names[r->methods[j]];
			if (j)
				*at++ = ',', *at++ = ' ';
			memcpy(at, name, strlen(name));
			at += strlen(name);
		}
		*at++ = 0;
		o->allow_methods = s;
		if (expose_len(r)) {
			s = at;
			for (unsigned j = 0; j < r->n[L_EXPOSE]; j++) {
				const struct slice *v = &r->list[L_EXPOSE][j];
				if (!v->len)
					continue;
				if (at != s)
					*at++ = ',', *at++ = ' ';
				memcpy(at, v->p, v->len);
				at += v->len;
			}
			*at++ = 0;
			o->expose = s;
		}
	}
	*out = c;
	return 0;
}

void cors_config_free(struct cors_config *c)
{
	free(c);
}

/* ---- CORSConfiguration XML in ---- */

static struct slice trimmed(const struct xml_node *n)
{
	struct slice v = {n->text, n->text_len};

	while (v.len && xml_ws(v.p[0]))
		v.p++, v.len--;
	while (v.len && xml_ws(v.p[v.len - 1]))
		v.len--;
	return v;
}

/* A container holds elements and whitespace only; a value, text only. */
static int container_ok(const struct xml_node *n)
{
	return trimmed(n).len == 0;
}

static int list_of(const char *name)
{
	static const char *const names[N_LISTS] = {"AllowedOrigin", "AllowedMethod",
						   "AllowedHeader", "ExposeHeader"};

	for (int l = 0; l < N_LISTS; l++)
		if (strcmp(name, names[l]) == 0)
			return l;
	return -1;
}

/* MaxAgeSeconds: decimal digits, 0..INT32_MAX. */
static int max_age_from(struct slice v, int32_t *out)
{
	int64_t x = 0;

	if (v.len == 0)
		return 0;
	for (size_t i = 0; i < v.len; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			return 0;
		x = x * 10 + (v.p[i] - '0');
		if (x > INT32_MAX)
			return 0;
	}
	*out = (int32_t)x;
	return 1;
}

/* Checks one CORSRule's shape and fills r with slices of its values. */
static int shape_rule(struct cn_pool *pool, struct xml_node *rn, unsigned idx, struct raw_rule *r,
		      char *err, size_t errcap)
{
	struct xml_node *c;
	int have_age = 0;

	memset(r, 0, sizeof(*r));
	r->max_age = -1;
	if (!container_ok(rn))
		return fail(CN_EBADXML, err, errcap, "CORSRule %u holds text", idx + 1);
	for (c = rn->child; c; c = c->next) {
		int l = list_of(c->name);

		if (c->child)
			return fail(CN_EBADXML, err, errcap, "CORSRule %u: <%s> holds elements",
				    idx + 1, c->name);
		if (l >= 0) {
			r->n[l]++;
		} else if (strcmp(c->name, "ID") == 0) {
			if (r->has_id)
				return fail(CN_EBADXML, err, errcap, "CORSRule %u: two IDs",
					    idx + 1);
			r->has_id = 1;
			r->id = trimmed(c);
		} else if (strcmp(c->name, "MaxAgeSeconds") == 0) {
			if (have_age)
				return fail(CN_EBADXML, err, errcap,
					    "CORSRule %u: two MaxAgeSeconds", idx + 1);
			have_age = 1;
			if (!max_age_from(trimmed(c), &r->max_age))
				return fail(CN_EBADXML, err, errcap,
					    "CORSRule %u: MaxAgeSeconds is not 0..2147483647",
					    idx + 1);
		} else {
			return fail(CN_EBADXML, err, errcap, "CORSRule %u: unexpected <%s>",
				    idx + 1, c->name);
		}
	}
	if (!r->n[L_ORIGIN] || !r->n[L_METHOD])
		return fail(CN_EBADXML, err, errcap,
			    "CORSRule %u needs an AllowedOrigin and an AllowedMethod", idx + 1);
	for (int l = 0; l < N_LISTS; l++) {
		if (!r->n[l])
			continue;
		r->list[l] = cn_pool_alloc(pool, r->n[l] * sizeof(struct slice));
		if (!r->list[l])
			return fail(CN_ENOMEM, err, errcap, "out of memory");
		r->n[l] = 0;
	}
	for (c = rn->child; c; c = c->next) {
		int l = list_of(c->name);
		if (l >= 0)
			r->list[l][r->n[l]++] = trimmed(c);
	}
	return 0;
}

static int config_from_tree(struct cn_pool *pool, struct xml_node *root, struct cors_config **out,
			    char *err, size_t errcap)
{
	struct raw_rule *rr;
	struct xml_node *c;
	unsigned n = 0, i = 0;
	int rc;

	if (strcmp(root->name, "CORSConfiguration") != 0 || !container_ok(root))
		return fail(CN_EBADXML, err, errcap, "the root is not CORSConfiguration");
	for (c = root->child; c; c = c->next, n++)
		if (strcmp(c->name, "CORSRule") != 0)
			return fail(CN_EBADXML, err, errcap, "unexpected <%s>", c->name);
	if (n == 0)
		return fail(CN_EBADXML, err, errcap, "no CORSRule");
	rr = cn_pool_alloc(pool, n * sizeof(*rr));
	if (!rr)
		return fail(CN_ENOMEM, err, errcap, "out of memory");
	for (c = root->child; c; c = c->next, i++) {
		rc = shape_rule(pool, c, i, &rr[i], err, errcap);
		if (rc)
			return rc;
	}
	if (n > CORS_MAX_RULES)
		return fail(CN_EBADCORS, err, errcap,
			    "The CORS configuration can not have more than %d rules.",
			    CORS_MAX_RULES);
	for (i = 0; i < n; i++) {
		rc = validate(&rr[i], err, errcap);
		if (rc)
			return rc;
	}
	rc = pack(rr, n, out);
	return rc ? fail(rc, err, errcap, "out of memory") : 0;
}

int cors_from_xml(const char *body, size_t len, struct cors_config **out, char *err, size_t errcap)
{
	struct cn_pool pool;
	struct xml_node *root;
	int rc;

	if (len > CORS_MAX_XML)
		return fail(CN_EBADCORS, err, errcap,
			    "The CORS configuration can not be larger than %d bytes.",
			    CORS_MAX_XML);
	cn_pool_init(&pool);
	rc = xml_parse(&pool, body, len, &root);
	if (rc == CN_EBADXML)
		rc = fail(rc, err, errcap, "not well-formed XML");
	else if (rc)
		rc = fail(rc, err, errcap, "%s", cn_strerror(rc));
	else
		rc = config_from_tree(&pool, root, out, err, errcap);
	cn_pool_release(&pool);
	return rc;
}

/* ---- CORSConfiguration XML out ---- */

static void elems(struct cn_buf *w, const char *tag, const char *const *v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		xmlw_elem(w, tag, v[i]);
}

void cors_to_xml(const struct cors_config *c, struct cn_buf *w)
{
	xmlw_decl(w);
	xmlw_open(w, "CORSConfiguration", S3_NS);
	for (unsigned i = 0; i < c->n_rules; i++) {
		const struct cors_rule *r = &c->rules[i];

		xmlw_open(w, "CORSRule", NULL);
		if (r->id)
			xmlw_elem(w, "ID", r->id);
		elems(w, "AllowedHeader", r->allowed_headers, r->n_allowed_headers);
		for (unsigned j = 0; j < r->n_methods; j++)
			xmlw_elem(w, "AllowedMethod", cors_method_name(r->methods[j]));
		elems(w, "AllowedOrigin", r->origins, r->n_origins);
		elems(w, "ExposeHeader", r->expose_headers, r->n_expose_headers);
		if (r->max_age >= 0)
			xmlw_elem_u64(w, "MaxAgeSeconds", (uint64_t)r->max_age);
		xmlw_close(w, "CORSRule");
	}
	xmlw_close(w, "CORSConfiguration");
}

/* ---- binary encoding ---- */

static void put_u16(struct cn_buf *w, size_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	cn_buf_put(w, b, 2);
}

static int list_encodable(const char *const *v, unsigned n, enum kind k)
{
	if (n > UINT16_MAX)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		size_t len = strlen(v[i]);
		if (len > UINT16_MAX || value_problem(k, v[i], len) != P_OK)
			return 0;
	}
	return 1;
}

static int rule_encodable(const struct cors_rule *r)
{
	uint8_t seen = 0;

	if (r->n_methods < 1 || r->n_methods > CORS_N_METHODS || r->n_origins < 1 ||
	    r->max_age < -1)
		return 0;
	for (unsigned i = 0; i < r->n_methods; i++) {
		if (!cors_method_name(r->methods[i]) || seen & (1u << r->methods[i]))
			return 0;
		seen |= (uint8_t)(1u << r->methods[i]);
	}
	if (r->id &&
	    (strlen(r->id) > UINT16_MAX || value_problem(K_ID, r->id, strlen(r->id)) != P_OK))
		return 0;
	return list_encodable(r->origins, r->n_origins, K_ORIGIN) &&
	       list_encodable(r->allowed_headers, r->n_allowed_headers, K_HEADER) &&
	       list_encodable(r->expose_headers, r->n_expose_headers, K_EXPOSE);
}

static void put_list(struct cn_buf *w, const char *const *v, unsigned n)
{
	put_u16(w, n);
	for (unsigned i = 0; i < n; i++) {
		size_t len = strlen(v[i]);
		put_u16(w, len);
		cn_buf_put(w, v[i], len);
	}
}

int cors_encode(const struct cors_config *c, struct cn_buf *w)
{
	uint8_t head[2] = {CORS_FORMAT, 0};

	if (c->n_rules < 1 || c->n_rules > CORS_MAX_RULES)
		return CN_EINVAL;
	for (unsigned i = 0; i < c->n_rules; i++)
		if (!rule_encodable(&c->rules[i]))
			return CN_EINVAL;
	head[1] = (uint8_t)c->n_rules;
	cn_buf_put(w, head, 2);
	for (unsigned i = 0; i < c->n_rules; i++) {
		const struct cors_rule *r = &c->rules[i];
		uint8_t b[2] = {(uint8_t)((r->id ? F_ID : 0) | (r->max_age >= 0 ? F_MAX_AGE : 0)),
				(uint8_t)r->n_methods};

		cn_buf_put(w, b, 2);
		cn_buf_put(w, r->methods, r->n_methods);
		if (r->id) {
			put_u16(w, strlen(r->id));
			cn_buf_puts(w, r->id);
		}
		if (r->max_age >= 0) {
			uint32_t v = (uint32_t)r->max_age;
			uint8_t a[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
					(uint8_t)v};
			cn_buf_put(w, a, 4);
		}
		put_list(w, r->origins, r->n_origins);
		put_list(w, r->allowed_headers, r->n_allowed_headers);
		put_list(w, r->expose_headers, r->n_expose_headers);
	}
	return w->err;
}

/* A bounded reader over the record: every get fails once past the end. */
struct rd {
	const uint8_t *p;
	size_t len, off;
};

static int get(struct rd *d, size_t n, const uint8_t **out)
{
	if (d->len - d->off < n)
		return 0;
	*out = d->p + d->off;
	d->off += n;
	return 1;
}

static int get_u16(struct rd *d, size_t *v)
{
	const uint8_t *b;

	if (!get(d, 2, &b))
		return 0;
	*v = (size_t)b[0] << 8 | b[1];
	return 1;
}

static int get_str(struct rd *d, struct slice *s)
{
	const uint8_t *b;

	if (!get_u16(d, &s->len) || !get(d, s->len, &b))
		return 0;
	s->p = (const char *)b;
	return 1;
}

static int get_list(struct cn_pool *pool, struct rd *d, struct raw_rule *r, int l)
{
	size_t n;

	if (!get_u16(d, &n))
		return CN_ECORRUPT;
	/* every string needs its 2-byte length: a count beyond that is a lie,
	 * refused before it sizes an allocation */
	if (n > (d->len - d->off) / 2)
		return CN_ECORRUPT;
	r->n[l] = (unsigned)n;
	if (!n)
		return 0;
	r->list[l] = cn_pool_alloc(pool, n * sizeof(struct slice));
	if (!r->list[l])
		return CN_ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (!get_str(d, &r->list[l][i]))
			return CN_ECORRUPT;
	return 0;
}

static int get_rule(struct cn_pool *pool, struct rd *d, struct raw_rule *r)
{
	const uint8_t *b;
	unsigned seen = 0;
	uint8_t flags;
	int rc;

	memset(r, 0, sizeof(*r));
	r->max_age = -1;
	if (!get(d, 2, &b) || (b[0] & ~(F_ID | F_MAX_AGE)) || b[1] < 1 || b[1] > CORS_N_METHODS)
		return CN_ECORRUPT;
	flags = b[0];
	r->n_methods = b[1];
	if (!get(d, r->n_methods, &b))
		return CN_ECORRUPT;
	for (unsigned i = 0; i < r->n_methods; i++) {
		if (!cors_method_name(b[i]) || seen & (1u << b[i]))
			return CN_ECORRUPT;
		seen |= 1u << b[i];
		r->methods[i] = b[i];
	}
	r->has_id = flags & F_ID;
	if (r->has_id && !get_str(d, &r->id))
		return CN_ECORRUPT;
	if (flags & F_MAX_AGE) {
		uint32_t v;

		if (!get(d, 4, &b))
			return CN_ECORRUPT;
		v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
		if (v > INT32_MAX)
			return CN_ECORRUPT;
		r->max_age = (int32_t)v;
	}
	if ((rc = get_list(pool, d, r, L_ORIGIN)) || (rc = get_list(pool, d, r, L_HEADER)) ||
	    (rc = get_list(pool, d, r, L_EXPOSE)))
		return rc;
	/* the same checks as a parsed rule: what decodes could have been put */
	if (r->n[L_ORIGIN] == 0 || validate(r, NULL, 0))
		return CN_ECORRUPT;
	return 0;
}

int cors_decode(const void *p, size_t len, struct cors_config **out)
{
	struct rd d = {p, len, 0};
	struct raw_rule rr[CORS_MAX_RULES];
	struct cn_pool pool;
	const uint8_t *b;
	unsigned n;
	int rc = 0;

	if (!get(&d, 1, &b))
		return CN_ECORRUPT;
	if (b[0] != CORS_FORMAT)
		return CN_EFORMAT;
	if (!get(&d, 1, &b) || b[0] < 1 || b[0] > CORS_MAX_RULES)
		return CN_ECORRUPT;
	n = b[0];
	cn_pool_init(&pool);
	for (unsigned i = 0; i < n && !rc; i++)
		rc = get_rule(&pool, &d, &rr[i]);
	if (!rc && d.off != len)
		rc = CN_ECORRUPT;
	if (!rc)
		rc = pack(rr, n, out);
	cn_pool_release(&pool);
	return rc;
}

/* ---- evaluation ---- */

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int eq_nocase(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return 0;
	return 1;
}

/* s (len bytes) matches pattern p (at most one '*', standing for any run
 * of characters, the empty one included), ignoring ASCII case. */
static int wild_match(const char *p, const char *s, size_t len)
{
	const char *star = strchr(p, '*');
	size_t plen = strlen(p), pre, suf;

	if (!star)
		return plen == len && eq_nocase(p, s, len);
	pre = (size_t)(star - p);
	suf = plen - pre - 1;
	return len >= pre + suf && eq_nocase(p, s, pre) && eq_nocase(star + 1, s + len - suf, suf);
}

/* RFC 9110 tchar */
static int is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Writes the requested names of an Access-Control-Request-Headers value,
 * lower-cased and joined by ", ", to buf (cap bytes, NUL-terminated).
 * Returns the length, or -1 for a name that is not a token or a list that
 * does not fit. */
static long requested_names(const char *v, char *buf, size_t cap)
{
	size_t o = 0;

	for (;;) {
		const char *s, *e;

		while (*v == ' ' || *v == '\t')
			v++;
		for (s = v; *v && *v != ','; v++)
			;
		for (e = v; e > s && (e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		if (e > s) {
			size_t n = (size_t)(e - s);

			if (o + (o ? 2 : 0) + n + 1 > cap)
				return -1;
			if (o)
				buf[o++] = ',', buf[o++] = ' ';
			for (size_t i = 0; i < n; i++) {
				if (!is_tchar((unsigned char)s[i]))
					return -1;
				buf[o++] = (char)lower((unsigned char)s[i]);
			}
		}
		if (!*v)
			break;
		v++;
	}
	buf[o] = 0;
	return (long)o;
}

static int origin_ok(const struct cors_rule *r, const char *origin, size_t len, int *star)
{
	int match = 0;

	*star = 0;
	for (unsigned i = 0; i < r->n_origins; i++) {
		if (strcmp(r->origins[i], "*") == 0)
			*star = match = 1;
		else if (wild_match(r->origins[i], origin, len))
			match = 1;
	}
	return match;
}

/* Every name of names (", "-joined tokens) matches an AllowedHeader. */
static int headers_ok(const struct cors_rule *r, const char *names)
{
	while (*names) {
		size_t n = strcspn(names, ",");
		unsigned i;

		for (i = 0; i < r->n_allowed_headers; i++)
			if (wild_match(r->allowed_headers[i], names, n))
				break;
		if (i == r->n_allowed_headers)
			return 0;
		names += n;
		if (*names)
			names += 2;
	}
	return 1;
}

int cors_match(const struct cors_config *c, const char *origin, const char *method,
	       const char *request_headers, int preflight, struct cors_result *out)
{
	int m = cors_method_parse(method), star;
	size_t olen;

	if (!c || !origin || !m || !out)
		return 0;
	olen = strlen(origin);
	for (size_t i = 0; i < olen; i++)
		if (is_control((unsigned char)origin[i]))
			return 0;
	out->headers_buf[0] = 0;
	if (preflight && request_headers &&
	    requested_names(request_headers, out->headers_buf, sizeof(out->headers_buf)) < 0)
		return 0;
	for (unsigned i = 0; i < c->n_rules; i++) {
		const struct cors_rule *r = &c->rules[i];
		unsigned j;

		for (j = 0; j < r->n_methods && r->methods[j] != m; j++)
			;
		if (j == r->n_methods || !origin_ok(r, origin, olen, &star) ||
		    !headers_ok(r, out->headers_buf))
			continue;
		out->allow_origin = star ? "*" : origin;
		out->allow_credentials = !star;
		out->allow_methods = r->allow_methods;
		out->allow_headers = out->headers_buf[0] ? out->headers_buf : NULL;
		out->expose_headers = r->expose;
		out->max_age = r->max_age;
		out->vary = VARY;
		out->rule = i;
		return 1;
	}
	return 0;
}
