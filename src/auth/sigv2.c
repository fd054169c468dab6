/*
 * auth/sigv2.c — AWS Signature Version 2 for S3 (header and query string
 * forms); the contract is in sigv2.h.
 *
 * Layer: auth. Steps follow the S3 "Signing and authenticating REST
 * requests" document (RESTAuthentication) and are named where they are
 * implemented; where real clients depart from it (botocore's HmacV1Auth,
 * s3cmd's sign_request_v2, MinIO) the departure is named with the client.
 *
 * Invariants: every byte of the request is untrusted — lengths are bounded,
 * parse failures are error codes, never asserts. The string to sign is
 * built in one struct cn_buf bounded by SIGV2_MAX_STRING_TO_SIGN. The
 * secret lives on the stack only while signatures are computed and is wiped
 * afterwards. The StringToSign is a function of the request alone (no
 * clock, no state), so the client signer and the verifier share it.
 */
#include "auth/sigv2.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/digest.h"
#include "core/err.h"
#include "core/fmt.h"

#define MAX_QUERY_PARAMS 1024 /* as sigv4.c */
#define MAC_LEN 20	      /* HMAC-SHA1 */
#define MAX_EXPIRES_DIGITS 12
#define MAX_FORMS 6 /* date lines (3) x bucket slash (2) */

/*
 * Sub-resources signed in the CanonicalizedResource, sorted. The AWS
 * document lists acl, delete, lifecycle, location, logging, notification,
 * partNumber, policy, requestPayment, the six response-* overrides,
 * torrent, uploadId, uploads, versionId, versioning, versions and website.
 * Clients sign more: botocore adds accelerate, analytics, cors,
 * defaultObjectAcl, inventory, metrics, object-lock, replication, restore,
 * select, select-type, storageClass and tagging; MinIO and Ceph RGW add
 * encryption, legal-hold, policyStatus, publicAccessBlock and retention.
 * Every parameter that selects an operation in s3/route.c is here too
 * (attributes, intelligent-tiering, ownershipControls, renameObject,
 * session): a parameter that picks the operation but is not signed would
 * let a captured signature be replayed as another operation. The cost is
 * that a SigV2 client which leaves one of those unsigned fails with
 * SignatureDoesNotMatch (cairn answers NotImplemented for all of them
 * today). list-type is not here: it only picks the listing format and no
 * client signs it. Keep this in step with s3/route.c.
 */
static const char *const subresources[] = {
	"accelerate",
	"acl",
	"analytics",
	"attributes",
	"cors",
	"defaultObjectAcl",
	"delete",
	"encryption",
	"intelligent-tiering",
	"inventory",
	"legal-hold",
	"lifecycle",
	"location",
	"logging",
	"metrics",
	"notification",
	"object-lock",
	"ownershipControls",
	"partNumber",
	"policy",
	"policyStatus",
	"publicAccessBlock",
	"renameObject",
	"replication",
	"requestPayment",
	"response-cache-control",
	"response-content-disposition",
	"response-content-encoding",
	"response-content-language",
	"response-content-type",
	"response-expires",
	"restore",
	"retention",
	"select",
	"select-type",
	"session",
	"storageClass",
	"tagging",
	"torrent",
	"uploadId",
	"uploads",
	"versionId",
	"versioning",
	"versions",
	"website",
};

/* ---- character helpers ---- */

static int lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Does (s, len) equal the NUL-terminated b, ignoring ASCII case? */
static int ieq(const char *s, size_t len, const char *b)
{
	size_t blen = strlen(b);
	if (len != blen)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (lower((unsigned char)s[i]) != lower((unsigned char)b[i]))
			return 0;
	return 1;
}

static int eq(const char *s, size_t len, const char *b)
{
	return len == strlen(b) && memcmp(s, b, len) == 0;
}

static void trim(const char **s, size_t *len)
{
	while (*len && is_ws(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len && is_ws((*s)[*len - 1]))
		(*len)--;
}

/* Percent-decodes s into out (at least len bytes); '+' is a space, as
 * s3/route.c reads query components, so what is signed is what the
 * request acts on. Returns the decoded length or -1. */
static long pct_decode(const char *s, size_t len, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%') {
			if (i + 2 >= len)
				return -1;
			int hi = cn_hexval((unsigned char)s[i + 1]),
			    lo = cn_hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[o++] = s[i] == '+' ? ' ' : s[i];
		}
	}
	return (long)o;
}

/* Every byte but A-Z a-z 0-9 - . _ ~ becomes %XX. */
static void pct_encode(struct cn_buf *b, const char *s, size_t len)
{
	static const char hx[] = "0123456789ABCDEF";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			cn_buf_putc(b, (char)c);
		} else {
			char e[3] = {'%', hx[c >> 4], hx[c & 15]};
			cn_buf_put(b, e, 3);
		}
	}
}

/* An access key id: 1..SIGV4_MAX_ACCESS_KEY visible ASCII bytes, no ':'. */
static int valid_access_key(const char *s, size_t len)
{
	if (len == 0 || len > SIGV4_MAX_ACCESS_KEY)
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 127 || s[i] == ':')
			return 0;
	return 1;
}

/* The 28 base64 characters of a signature into its 20 bytes; 1 when they
 * are not that (S3 compares signatures as strings: such a one simply does
 * not match, SignatureDoesNotMatch rather than a malformed request). */
static int decode_signature(const char *s, size_t len, uint8_t mac[MAC_LEN])
{
	memset(mac, 0, MAC_LEN);
	if (len != SIGV2_SIGNATURE_LEN)
		return 1;
	return cn_b64_decode(s, len, mac, MAC_LEN) == MAC_LEN ? 0 : 1;
}

/* ---- the request ---- */

static const struct sigv4_header *find_header(const struct sigv4_request *req, const char *name)
{
	for (size_t i = 0; i < req->n_headers; i++)
		if (ieq(req->headers[i].name, req->headers[i].name_len, name))
			return &req->headers[i];
	return NULL;
}

/* "AWS" alone or followed by a space: SigV2 ("AWS4-HMAC-SHA256" is not). */
static int is_v2_authorization(const struct sigv4_header *h)
{
	const char *v = h->value;
	size_t len = h->value_len;
	trim(&v, &len);
	return len >= 3 && memcmp(v, "AWS", 3) == 0 && (len == 3 || v[3] == ' ');
}

/* Is there a query parameter whose decoded name is `name`? No allocation:
 * a raw name longer than three times `name` cannot decode to it. */
static int has_param(const struct sigv4_request *req, const char *name)
{
	const char *q = req->query;
	size_t qlen = q ? req->query_len : 0, want = strlen(name);
	char buf[64];
	for (size_t pos = 0; pos < qlen;) {
		size_t end = pos, e;
		while (end < qlen && q[end] != '&')
			end++;
		e = pos;
		while (e < end && q[e] != '=')
			e++;
		if (e - pos <= 3 * want && e - pos <= sizeof(buf)) {
			long n = pct_decode(q + pos, e - pos, buf);
			if (n >= 0 && eq(buf, (size_t)n, name))
				return 1;
		}
		pos = end + 1;
	}
	return 0;
}

struct qparam {
	const char *name; /* decoded, into the arena; not NUL-terminated */
	size_t name_len;
	const char *value;
	size_t value_len;
	int has_value; /* a '=' followed the name */
};

struct query {
	struct qparam *p;
	size_t n;
	char *arena; /* every decoded name and value; no longer than the raw query */
};

static void query_release(struct query *q)
{
	free(q->p);
	free(q->arena);
	memset(q, 0, sizeof(*q));
}

/* Splits the raw query at '&' and '=' and decodes each part. Empty
 * segments ("a&&b") are skipped. Returns 0, CN_EBADREQ or CN_ENOMEM. */
static int query_parse(const char *s, size_t len, struct query *q)
{
	size_t n = 1, o = 0;

	memset(q, 0, sizeof(*q));
	if (!s || len == 0)
		return 0;
	for (size_t i = 0; i < len; i++)
		n += s[i] == '&';
	if (n > MAX_QUERY_PARAMS)
		return CN_EBADREQ;
	q->p = calloc(n, sizeof(*q->p));
	q->arena = malloc(len);
	if (!q->p || !q->arena) {
		query_release(q);
		return CN_ENOMEM;
	}
	for (size_t pos = 0; pos <= len;) {
		size_t end = pos, e;
		while (end < len && s[end] != '&')
			end++;
		e = pos;
		while (e < end && s[e] != '=')
			e++;
		if (end > pos) {
			struct qparam *p = &q->p[q->n++];
			long k = pct_decode(s + pos, e - pos, q->arena + o);
			if (k < 0)
				goto bad;
			p->name = q->arena + o;
			p->name_len = (size_t)k;
			o += (size_t)k;
			k = 0;
			if (e < end) {
				p->has_value = 1;
				k = pct_decode(s + e + 1, end - e - 1, q->arena + o);
				if (k < 0)
					goto bad;
			}
			p->value = q->arena + o;
			p->value_len = (size_t)k;
			o += (size_t)k;
		}
		pos = end + 1;
	}
	return 0;
bad:
	query_release(q);
	return CN_EBADREQ;
}

/* ---- dates ---- */

struct cur {
	const char *s;
	size_t len, pos;
};

static int take_num(struct cur *c, size_t min, size_t max, int *out)
{
	size_t n = 0;
	int v = 0;
	while (n < max && c->pos < c->len && c->s[c->pos] >= '0' && c->s[c->pos] <= '9') {
		v = v * 10 + (c->s[c->pos++] - '0');
		n++;
	}
	*out = v;
	return n >= min ? 0 : -1;
}

static int take_chr(struct cur *c, char ch)
{
	if (c->pos < c->len && c->s[c->pos] == ch) {
		c->pos++;
		return 0;
	}
	return -1;
}

static int take_word(struct cur *c, const char *w)
{
	size_t n = strlen(w);
	if (c->len - c->pos < n || memcmp(c->s + c->pos, w, n) != 0)
		return -1;
	c->pos += n;
	return 0;
}

static int take_month(struct cur *c, int *mo)
{
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	for (int i = 0; i < 12; i++)
		if (take_word(c, months[i]) == 0) {
			*mo = i + 1;
			return 0;
		}
	return -1;
}

/* "Tue" or "Tuesday" (not checked against the date, as HTTP allows). */
static int take_weekday(struct cur *c)
{
	static const char *const days[] = {"Monday", "Tuesday",	 "Wednesday", "Thursday",
					   "Friday", "Saturday", "Sunday"};
	for (int i = 0; i < 7; i++) {
		if (take_word(c, days[i]) == 0)
			return 0;
		char abbr[4] = {days[i][0], days[i][1], days[i][2], '\0'};
		if (take_word(c, abbr) == 0)
			return 0;
	}
	return -1;
}

static int take_time(struct cur *c, int *h, int *mi, int *s)
{
	return take_num(c, 2, 2, h) || take_chr(c, ':') || take_num(c, 2, 2, mi) ||
			       take_chr(c, ':') || take_num(c, 2, 2, s)
		       ? -1
		       : 0;
}

/* "GMT", "UTC", "UT", "Z" or a numeric "+hhmm"/"-hhmm" into seconds east. */
static int take_zone(struct cur *c, int *off)
{
	int sign = 0, hhmm;
	*off = 0;
	if (take_word(c, "GMT") == 0 || take_word(c, "UTC") == 0 || take_word(c, "UT") == 0 ||
	    take_word(c, "Z") == 0)
		return 0;
	if (take_chr(c, '+') == 0)
		sign = 1;
	else if (take_chr(c, '-') == 0)
		sign = -1;
	if (!sign || take_num(c, 4, 4, &hhmm) || hhmm / 100 > 23 || hhmm % 100 > 59)
		return -1;
	*off = sign * (hhmm / 100 * 3600 + hhmm % 100 * 60);
	return 0;
}

/* The HTTP dates of RFC 2616 section 3.3.1, which SigV2 takes in Date and
 * x-amz-date, and the ISO 8601 basic form some clients put in x-amz-date:
 *   RFC 1123  "Tue, 27 Mar 2007 19:36:42 +0000" (or GMT; day 1 or 2 digits)
 *   RFC 850   "Tuesday, 27-Mar-07 19:36:42 GMT"
 *   asctime   "Tue Mar 27 19:36:42 2007" (day space-padded)
 *   ISO 8601  "20070327T193642Z"
 * Returns 0 or CN_EBADDATE. */
static int parse_date(const char *s, size_t len, time_t *t)
{
	struct cur c = {s, len, 0};
	int d, mo, y, h, mi, sec, off = 0;
	char iso[16];

	if (len == 16 && s[8] == 'T')
		return sigv4_parse_amz_date(s, len, t);
	if (take_weekday(&c))
		return CN_EBADDATE;
	if (take_chr(&c, ',') == 0) {
		if (take_chr(&c, ' ') || take_num(&c, 1, 2, &d))
			return CN_EBADDATE;
		if (take_chr(&c, '-') == 0) { /* RFC 850 */
			if (take_month(&c, &mo) || take_chr(&c, '-') || take_num(&c, 2, 2, &y))
				return CN_EBADDATE;
			y += y < 70 ? 2000 : 1900;
		} else if (take_chr(&c, ' ') || take_month(&c, &mo) || take_chr(&c, ' ') ||
			   take_num(&c, 4, 4, &y)) {
			return CN_EBADDATE;
		}
		if (take_chr(&c, ' ') || take_time(&c, &h, &mi, &sec) || take_chr(&c, ' ') ||
		    take_zone(&c, &off))
			return CN_EBADDATE;
	} else { /* asctime */
		if (take_chr(&c, ' ') || take_month(&c, &mo) || take_chr(&c, ' '))
			return CN_EBADDATE;
		(void)take_chr(&c, ' ');
		if (take_num(&c, 1, 2, &d) || take_chr(&c, ' ') || take_time(&c, &h, &mi, &sec) ||
		    take_chr(&c, ' ') || take_num(&c, 4, 4, &y))
			return CN_EBADDATE;
	}
	if (c.pos != len)
		return CN_EBADDATE;
	/* sigv4_parse_amz_date() owns the range checks and the conversion;
	 * every field holds no more digits than it is given here. */
	cn_fmt_dec(iso, (uint64_t)y, 4);
	cn_fmt_dec(iso + 4, (uint64_t)mo, 2);
	cn_fmt_dec(iso + 6, (uint64_t)d, 2);
	iso[8] = 'T';
	cn_fmt_dec(iso + 9, (uint64_t)h, 2);
	cn_fmt_dec(iso + 11, (uint64_t)mi, 2);
	cn_fmt_dec(iso + 13, (uint64_t)sec, 2);
	iso[15] = 'Z';
	if (sigv4_parse_amz_date(iso, 16, t))
		return CN_EBADDATE;
	*t -= off;
	return 0;
}

/* ---- the string to sign ---- */

/* What the Date line holds. */
enum date_line {
	DATE_DOC,     /* the document: "" when x-amz-date is present, else Date */
	DATE_HEADER,  /* Date even beside x-amz-date (botocore, MinIO) */
	DATE_AMZ,     /* x-amz-date's value, x-amz-date left out of the amz
			 headers (the document's DELETE example signs this) */
	DATE_EXPIRES, /* presigned: the Expires parameter */
};

struct form {
	enum date_line date;
	const char *expires; /* DATE_EXPIRES */
	int bucket_slash;    /* path-style "/bucket" signed as "/bucket/" */
};

/* A header value: surrounding whitespace trimmed, and each line fold (a
 * run of whitespace holding CR or LF) replaced by one space, as the
 * CanonicalizedAmzHeaders process says. Runs of plain spaces inside are
 * kept: botocore signs them as they are. */
static void put_value(struct cn_buf *b, const char *v, size_t len)
{
	trim(&v, &len);
	for (size_t i = 0; i < len; i++) {
		if (v[i] == '\r' || v[i] == '\n') {
			while (i + 1 < len && is_ws(v[i + 1]))
				i++;
			cn_buf_putc(b, ' ');
		} else {
			cn_buf_putc(b, v[i]);
		}
	}
}

static void put_header(struct cn_buf *b, const struct sigv4_request *req, const char *name)
{
	const struct sigv4_header *h = find_header(req, name);
	if (h)
		put_value(b, h->value, h->value_len);
}

struct amz {
	const char *name; /* any case */
	size_t name_len;
	const char *value;
	size_t value_len;
	size_t ord; /* headers first, then query parameters, each in order */
};

static int amz_name_cmp(const struct amz *x, const struct amz *y)
{
	size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
	for (size_t i = 0; i < n; i++) {
		int c = lower((unsigned char)x->name[i]) - lower((unsigned char)y->name[i]);
		if (c)
			return c;
	}
	return x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}

static int amz_cmp(const void *a, const void *b)
{
	const struct amz *x = a, *y = b;
	int c = amz_name_cmp(x, y);
	return c ? c : x->ord < y->ord ? -1 : x->ord > y->ord;
}

static int is_amz(const char *name, size_t len)
{
	return len >= 6 && ieq(name, 6, "x-amz-");
}

/* CanonicalizedAmzHeaders: every x-amz-* header (and, presigned, x-amz-*
 * query parameter) lower-cased, sorted by name, repeated names merged with
 * ',' in the order sent, each "name:value\n". */
static int put_amz_headers(struct cn_buf *b, const struct sigv4_request *req, const struct query *q,
			   int skip_amz_date)
{
	struct amz *a;
	size_t n = 0, qn = q ? q->n : 0;

	a = malloc((req->n_headers + qn + 1) * sizeof(*a));
	if (!a)
		return CN_ENOMEM;
	for (size_t i = 0; i < req->n_headers; i++) {
		const struct sigv4_header *h = &req->headers[i];
		if (!is_amz(h->name, h->name_len) ||
		    (skip_amz_date && ieq(h->name, h->name_len, "x-amz-date")))
			continue;
		a[n] = (struct amz){h->name, h->name_len, h->value, h->value_len, n};
		n++;
	}
	for (size_t i = 0; i < qn; i++) {
		const struct qparam *p = &q->p[i];
		if (!is_amz(p->name, p->name_len))
			continue;
		a[n] = (struct amz){p->name, p->name_len, p->value, p->value_len, n};
		n++;
	}
	qsort(a, n, sizeof(*a), amz_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || amz_name_cmp(&a[i - 1], &a[i]) != 0) {
			if (i)
				cn_buf_putc(b, '\n');
			for (size_t k = 0; k < a[i].name_len; k++)
				cn_buf_putc(b, (char)lower((unsigned char)a[i].name[k]));
			cn_buf_putc(b, ':');
		} else {
			cn_buf_putc(b, ',');
		}
		put_value(b, a[i].value, a[i].value_len);
	}
	if (n)
		cn_buf_putc(b, '\n');
	free(a);
	return 0;
}

static int is_subresource(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(subresources) / sizeof(subresources[0]); i++)
		if (eq(name, len, subresources[i]))
			return 1;
	return 0;
}

struct sub {
	const struct qparam *p;
	size_t ord;
};

static int sub_cmp(const void *a, const void *b)
{
	const struct sub *x = a, *y = b;
	size_t n = x->p->name_len < y->p->name_len ? x->p->name_len : y->p->name_len;
	int c = memcmp(x->p->name, y->p->name, n);
	if (c)
		return c;
	if (x->p->name_len != y->p->name_len)
		return x->p->name_len < y->p->name_len ? -1 : 1;
	return x->ord < y->ord ? -1 : x->ord > y->ord;
}

/* CanonicalizedResource. Step 2: "/" bucket for virtual-host requests.
 * Step 3: the path exactly as sent, percent-encoding included (the
 * document's unicode example keeps even lower-case hex). Step 4: the
 * sub-resources, sorted by name (repeats in the order sent), "name" or
 * "name=value" with the value decoded (the document: response-* values
 * are signed unencoded; botocore unquotes every value), after '?' and
 * joined by '&'. An empty value signs as the bare name (MinIO, Ceph RGW;
 * botocore and the AWS SDKs never send "name="). A decoded value holding
 * '&' is refused: "?partNumber=1%26uploadId%3DU" would sign exactly as
 * "?partNumber=1&uploadId=U" yet mean another operation. */
static int put_resource(struct cn_buf *b, const struct sigv4_request *req, const char *vhost,
			const struct query *q, int bucket_slash)
{
	struct sub *s;
	size_t n = 0;

	if (vhost) {
		cn_buf_putc(b, '/');
		cn_buf_puts(b, vhost);
	}
	if (req->path_len == 0)
		cn_buf_putc(b, '/');
	else if (req->path[0] != '/')
		return CN_EBADREQ;
	else
		cn_buf_put(b, req->path, req->path_len);
	if (bucket_slash)
		cn_buf_putc(b, '/');
	if (q->n == 0)
		return 0;
	s = malloc(q->n * sizeof(*s));
	if (!s)
		return CN_ENOMEM;
	for (size_t i = 0; i < q->n; i++) {
		const struct qparam *p = &q->p[i];
		if (!is_subresource(p->name, p->name_len))
			continue;
		if (memchr(p->value, '&', p->value_len)) {
			free(s);
			return CN_EBADREQ;
		}
		s[n].p = p;
		s[n].ord = i;
		n++;
	}
	qsort(s, n, sizeof(*s), sub_cmp);
	for (size_t i = 0; i < n; i++) {
		cn_buf_putc(b, i ? '&' : '?');
		cn_buf_put(b, s[i].p->name, s[i].p->name_len);
		if (s[i].p->value_len) {
			cn_buf_putc(b, '=');
			cn_buf_put(b, s[i].p->value, s[i].p->value_len);
		}
	}
	free(s);
	return 0;
}

/* StringToSign = Method \n Content-MD5 \n Content-Type \n Date \n
 * CanonicalizedAmzHeaders CanonicalizedResource, into b (reset first). */
static int build(struct cn_buf *b, const struct sigv4_request *req, const char *vhost,
		 const struct query *q, const struct form *f)
{
	int rc;

	cn_buf_reset(b);
	if (!req->method || !req->method[0])
		return CN_EBADREQ;
	cn_buf_puts(b, req->method);
	cn_buf_putc(b, '\n');
	put_header(b, req, "content-md5");
	cn_buf_putc(b, '\n');
	put_header(b, req, "content-type");
	cn_buf_putc(b, '\n');
	switch (f->date) {
	case DATE_DOC:
		if (!find_header(req, "x-amz-date"))
			put_header(b, req, "date");
		break;
	case DATE_HEADER: put_header(b, req, "date"); break;
	case DATE_AMZ: put_header(b, req, "x-amz-date"); break;
	case DATE_EXPIRES: cn_buf_puts(b, f->expires); break;
	}
	cn_buf_putc(b, '\n');
	rc = put_amz_headers(b, req, f->date == DATE_EXPIRES ? q : NULL, f->date == DATE_AMZ);
	if (!rc)
		rc = put_resource(b, req, vhost, q, f->bucket_slash);
	return rc ? rc : b->err;
}

/* A path-style request on a bucket alone ("/bucket"): botocore sends that
 * path but signs "/bucket/" (its auth_path). Both name the same bucket. */
static int bucket_only_path(const struct sigv4_request *req, const char *vhost)
{
	return !vhost && req->path_len > 1 && req->path[0] == '/' &&
	       !memchr(req->path + 1, '/', req->path_len - 1);
}

/* Looks up the secret, then signs each form in turn until one matches the
 * claimed signature (compared in constant time). */
static int check_signature(const struct sigv4_request *req, const char *vhost,
			   const struct query *q, const struct form *forms, size_t n_forms,
			   const char *access_key, const uint8_t claimed[MAC_LEN], int bogus,
			   sigv4_secret_cb get_secret, void *arg)
{
	char secret[SIGV4_MAX_SECRET + 1];
	struct cn_buf b;
	uint8_t mac[MAC_LEN];
	int rc, match = 0;

	cn_buf_init_max(&b, SIGV2_MAX_STRING_TO_SIGN);
	secret[0] = '\0';
	rc = get_secret(arg, access_key, secret, sizeof(secret));
	if (rc)
		goto out;
	secret[SIGV4_MAX_SECRET] = '\0';
	for (size_t i = 0; i < n_forms && !match && !bogus; i++) {
		if ((rc = build(&b, req, vhost, q, &forms[i])))
			goto out;
		cn_hmac_sha1(secret, strlen(secret), b.s, b.len, mac);
		match = cn_memcmp_ct(mac, claimed, MAC_LEN) == 0;
	}
	rc = match ? 0 : CN_EBADSIG;
out:
	explicit_bzero(secret, sizeof(secret));
	explicit_bzero(mac, sizeof(mac));
	cn_buf_release(&b);
	return rc;
}

/* Each form with and, for a bucket-only path-style request, without the
 * trailing slash botocore signs. Returns the count. */
static size_t add_form(struct form *forms, size_t n, enum date_line date, const char *expires,
		       int slash_too)
{
	forms[n++] = (struct form){date, expires, 0};
	if (slash_too)
		forms[n++] = (struct form){date, expires, 1};
	return n;
}

/* ---- header form ---- */

/* Authorization = "AWS" SP AWSAccessKeyId ":" base64(Signature) */
static int parse_authorization(const struct sigv4_header *h, char *access_key,
			       uint8_t claimed[MAC_LEN], int *bogus)
{
	const char *v = h->value, *colon;
	size_t len = h->value_len, pos = 3, klen;

	trim(&v, &len);
	if (len <= 3 || memcmp(v, "AWS ", 4) != 0)
		return CN_EBADAUTH;
	while (pos < len && v[pos] == ' ')
		pos++;
	colon = memchr(v + pos, ':', len - pos);
	if (!colon)
		return CN_EBADAUTH;
	klen = (size_t)(colon - (v + pos));
	if (!valid_access_key(v + pos, klen))
		return CN_EBADAUTH;
	if (colon + 1 == v + len)
		return CN_EBADAUTH; /* no signature at all */
	*bogus = decode_signature(colon + 1, (size_t)(v + len - colon - 1), claimed);
	memcpy(access_key, v + pos, klen);
	access_key[klen] = '\0';
	return 0;
}

static int verify_header(const struct sigv4_request *req, const char *vhost, const struct query *q,
			 const struct sigv4_header *auth, sigv4_secret_cb get_secret, void *arg,
			 struct sigv2_result *out)
{
	char access_key[SIGV4_MAX_ACCESS_KEY + 1];
	uint8_t claimed[MAC_LEN];
	int bogus = 0;
	const struct sigv4_header *amz_date = find_header(req, "x-amz-date"),
				  *date = find_header(req, "date"), *stamp;
	struct form forms[MAX_FORMS];
	size_t n = 0;
	int slash = bucket_only_path(req, vhost), rc;
	time_t t;

	if ((rc = parse_authorization(auth, access_key, claimed, &bogus)))
		return rc;
	/* Time stamp requirement: x-amz-date wins over Date; 15 minutes. */
	stamp = amz_date ? amz_date : date;
	if (!stamp)
		return CN_EBADDATE;
	{
		const char *v = stamp->value;
		size_t len = stamp->value_len;
		trim(&v, &len);
		if ((rc = parse_date(v, len, &t)))
			return rc;
	}
	if (t > req->now ? t - req->now > SIGV4_MAX_SKEW : req->now - t > SIGV4_MAX_SKEW)
		return CN_ESKEW;
	n = add_form(forms, n, DATE_DOC, NULL, slash);
	if (amz_date) {
		if (date)
			n = add_form(forms, n, DATE_HEADER, NULL, slash);
		n = add_form(forms, n, DATE_AMZ, NULL, slash);
	}
	rc = check_signature(req, vhost, q, forms, n, access_key, claimed, bogus, get_secret, arg);
	if (rc)
		return rc;
	out->presigned = 0;
	memcpy(out->access_key, access_key, sizeof(access_key));
	out->expires = 0;
	return 0;
}

/* ---- query string form ---- */

static int verify_presigned(const struct sigv4_request *req, const char *vhost,
			    const struct query *q, sigv4_secret_cb get_secret, void *arg,
			    struct sigv2_result *out)
{
	const struct qparam *ak = NULL, *sig = NULL, *ex = NULL;
	char access_key[SIGV4_MAX_ACCESS_KEY + 1];
	char sigbuf[SIGV2_SIGNATURE_LEN], expires[MAX_EXPIRES_DIGITS + 1];
	uint8_t claimed[MAC_LEN];
	int bogus = 0;
	struct form forms[MAX_FORMS];
	size_t n;
	time_t t = 0;
	int rc;

	for (size_t i = 0; i < q->n; i++) {
		const struct qparam *p = &q->p[i], **slot;
		if (eq(p->name, p->name_len, "AWSAccessKeyId"))
			slot = &ak;
		else if (eq(p->name, p->name_len, "Signature"))
			slot = &sig;
		else if (eq(p->name, p->name_len, "Expires"))
			slot = &ex;
		else
			continue;
		if (*slot)
			return CN_EBADQUERYAUTH; /* repeated */
		*slot = p;
	}
	if (!ak || !sig || !ex || !valid_access_key(ak->value, ak->value_len))
		return CN_EBADQUERYAUTH;
	/* A '+' the client forgot to encode arrives as a space; base64 has
	 * no spaces, so take it back. */
	if (sig->value_len == SIGV2_SIGNATURE_LEN) {
		for (size_t i = 0; i < SIGV2_SIGNATURE_LEN; i++)
			sigbuf[i] = sig->value[i] == ' ' ? '+' : sig->value[i];
		bogus = decode_signature(sigbuf, sizeof(sigbuf), claimed);
	} else {
		bogus = 1;
		memset(claimed, 0, MAC_LEN);
	}
	/* Expires: epoch seconds, plain decimal. */
	if (ex->value_len == 0 || ex->value_len > MAX_EXPIRES_DIGITS)
		return CN_EBADQUERYAUTH;
	for (size_t i = 0; i < ex->value_len; i++) {
		if (ex->value[i] < '0' || ex->value[i] > '9')
			return CN_EBADQUERYAUTH;
		t = t * 10 + (ex->value[i] - '0');
	}
	if (req->now > t)
		return CN_EEXPIRED;
	if (t - req->now > SIGV2_MAX_EXPIRES + SIGV4_MAX_SKEW)
		return CN_EBADQUERYAUTH;
	memcpy(expires, ex->value, ex->value_len);
	expires[ex->value_len] = '\0';
	memcpy(access_key, ak->value, ak->value_len);
	access_key[ak->value_len] = '\0';
	n = add_form(forms, 0, DATE_EXPIRES, expires, bucket_only_path(req, vhost));
	rc = check_signature(req, vhost, q, forms, n, access_key, claimed, bogus, get_secret, arg);
	if (rc)
		return rc;
	out->presigned = 1;
	memcpy(out->access_key, access_key, sizeof(access_key));
	out->expires = t;
	return 0;
}

/* ---- entry points ---- */

int sigv2_present(const struct sigv4_request *req)
{
	const struct sigv4_header *auth = find_header(req, "authorization");
	if (auth && is_v2_authorization(auth))
		return 1;
	return has_param(req, "AWSAccessKeyId") && has_param(req, "Signature");
}

int sigv2_verify(const struct sigv4_request *req, const char *bucket_vhost,
		 sigv4_secret_cb get_secret, void *arg, struct sigv2_result *out)
{
	const struct sigv4_header *auth = find_header(req, "authorization");
	struct query q;
	int v2_header, v2_query, v4_query, rc;

	memset(out, 0, sizeof(*out));
	if (bucket_vhost && !bucket_vhost[0])
		return CN_EINVAL;
	v2_header = auth && is_v2_authorization(auth);
	v2_query = has_param(req, "AWSAccessKeyId") || has_param(req, "Signature");
	v4_query = has_param(req, "X-Amz-Algorithm") || has_param(req, "X-Amz-Credential") ||
		   has_param(req, "X-Amz-Signature");
	if (!v2_header && !v2_query)
		return CN_EACCESS;
	/* Only one mechanism per request. */
	if ((v2_header && (v2_query || v4_query)) || (v2_query && (auth || v4_query)))
		return CN_EBADAUTH;
	if ((rc = query_parse(req->query, req->query_len, &q)))
		return rc;
	if (v2_header)
		rc = verify_header(req, bucket_vhost, &q, auth, get_secret, arg, out);
	else
		rc = verify_presigned(req, bucket_vhost, &q, get_secret, arg, out);
	query_release(&q);
	return rc;
}

/* The documented form, into b (bounded, caller releases). */
static int string_to_sign(struct cn_buf *b, const struct sigv4_request *req,
			  const char *bucket_vhost, const char *expires)
{
	struct form f = {expires ? DATE_EXPIRES : DATE_DOC, expires, 0};
	struct query q;
	int rc;

	if (bucket_vhost && !bucket_vhost[0])
		return CN_EINVAL;
	if ((rc = query_parse(req->query, req->query_len, &q)))
		return rc;
	rc = build(b, req, bucket_vhost, &q, &f);
	query_release(&q);
	return rc;
}

int sigv2_string_to_sign(const struct sigv4_request *req, const char *bucket_vhost,
			 const char *expires, char **out, size_t *out_len)
{
	struct cn_buf b;
	int rc;

	*out = NULL;
	*out_len = 0;
	cn_buf_init_max(&b, SIGV2_MAX_STRING_TO_SIGN);
	rc = string_to_sign(&b, req, bucket_vhost, expires);
	if (rc) {
		cn_buf_release(&b);
		return rc;
	}
	*out_len = b.len;
	*out = cn_buf_take(&b);
	return 0;
}

int sigv2_sign(const struct sigv4_request *req, const char *bucket_vhost, const char *secret,
	       const char *expires_or_null, char *out, size_t cap)
{
	struct cn_buf b;
	uint8_t mac[MAC_LEN];
	int rc;

	if (!secret || strnlen(secret, SIGV4_MAX_SECRET + 1) > SIGV4_MAX_SECRET)
		return CN_EINVAL;
	if (cap < SIGV2_SIGNATURE_LEN + 1)
		return CN_ETOOBIG;
	cn_buf_init_max(&b, SIGV2_MAX_STRING_TO_SIGN);
	rc = string_to_sign(&b, req, bucket_vhost, expires_or_null);
	if (rc == 0) {
		cn_hmac_sha1(secret, strlen(secret), b.s, b.len, mac);
		cn_b64_encode(mac, MAC_LEN, out, cap);
		explicit_bzero(mac, sizeof(mac));
	}
	cn_buf_release(&b);
	return rc;
}

int sigv2_presign(const struct sigv4_request *req, const char *bucket_vhost, const char *access_key,
		  const char *secret, time_t expires, char *query_out, size_t cap)
{
	struct cn_buf q;
	char num[24], sig[SIGV2_SIGNATURE_LEN + 1];
	int rc;

	if (!access_key || !valid_access_key(access_key, strlen(access_key)) || expires < 1 ||
	    has_param(req, "AWSAccessKeyId") || has_param(req, "Signature") ||
	    has_param(req, "Expires"))
		return CN_EINVAL;
	snprintf(num, sizeof(num), "%lld", (long long)expires);
	if ((rc = sigv2_sign(req, bucket_vhost, secret, num, sig, sizeof(sig))))
		return rc;
	cn_buf_init_max(&q, SIGV2_MAX_STRING_TO_SIGN);
	if (req->query && req->query_len) {
		cn_buf_put(&q, req->query, req->query_len);
		cn_buf_putc(&q, '&');
	}
	cn_buf_puts(&q, "AWSAccessKeyId=");
	pct_encode(&q, access_key, strlen(access_key));
	cn_buf_puts(&q, "&Expires=");
	cn_buf_puts(&q, num);
	cn_buf_puts(&q, "&Signature=");
	pct_encode(&q, sig, strlen(sig));
	rc = q.err;
	if (!rc && q.len + 1 > cap)
		rc = CN_ETOOBIG;
	if (!rc)
		memcpy(query_out, q.s, q.len + 1);
	cn_buf_release(&q);
	return rc;
}
