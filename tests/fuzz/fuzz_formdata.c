/*
 * fuzz_formdata.c — libFuzzer target for POST Object's parsing halves:
 * http/formdata (the multipart/form-data push parser) and, on what it
 * yields, auth/postpolicy (the base64 policy field parsed, ${filename}
 * substituted, the fields checked and their signature verified).
 *
 * Input:
 *   OFFSET SIZE MEANING
 *   0      1    seed of the random chunk sizes of the second parse
 *   1      1    bits 0-1 boundary (bnds[]); bit 2 stream every part; bit 3
 *               stop after the part named "file"; bits 4-5 limits (lims[]);
 *               bit 6 the body is a Content-Type header value instead
 *   2      ...  the body
 * Invariants checked (abort() otherwise): the body parsed in one feed and
 * in random chunks gives the same callbacks (names, file names, types,
 * every value byte, where the parts end) and the same result and failure;
 * no buffered value exceeds the cap; no callback after an error or a stop.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/postpolicy.h"
#include "core/err.h"
#include "http/formdata.h"

#define AKID "AKIAIOSFODNN7EXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define T0 ((time_t)1451347200) /* 20151229T000000Z */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const bnds[] = {"b", "----WebKitFormBoundary7MA4YWxkTrZu0gW", "a b", "--"};
static const struct formdata_limits lims[] = {{0, 0}, {2, 8}, {1, 1}, {5, 300}};

#define MAX_FIELDS 16

/* What one parse saw: a rolling hash of every event and value byte, and
 * the buffered fields (for the policy stage). */
struct seen {
	uint64_t h;
	unsigned flags;
	size_t value_cap;
	int stopped, failed;
	int in_part;
	struct postpolicy_field f[MAX_FIELDS];
	char *mem[MAX_FIELDS];
	size_t n;
	char filename[256];
	size_t filename_len;
	int have_file;
	uint64_t file_len;
};

static void mix(struct seen *s, const void *p, size_t len)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < len; i++)
		s->h = (s->h ^ b[i]) * 0x100000001b3ull;
}

static void mix_str(struct seen *s, const char *p, size_t len)
{
	mix(s, &len, sizeof(len));
	if (p)
		mix(s, p, len);
	else
		mix(s, "\xff", 1);
}

static int on_begin(void *arg, const struct formdata_part *part)
{
	struct seen *s = arg;
	if (s->stopped || s->failed || s->in_part)
		abort();
	s->in_part = 1;
	mix(s, "B", 1);
	mix_str(s, part->name, part->name_len);
	mix_str(s, part->filename, part->filename_len);
	mix_str(s, part->content_type, part->content_type_len);
	if (strlen(part->name) != part->name_len)
		abort();
	if (strcmp(part->name, "file") == 0 && !s->have_file) {
		s->have_file = 1;
		s->filename_len = part->filename ? part->filename_len : 0;
		if (s->filename_len > sizeof(s->filename))
			s->filename_len = sizeof(s->filename);
		if (part->filename)
			memcpy(s->filename, part->filename, s->filename_len);
		return FORMDATA_STREAM;
	}
	return (s->flags & 4) ? FORMDATA_STREAM : FORMDATA_BUFFER;
}

static int on_data(void *arg, const void *p, size_t len)
{
	struct seen *s = arg;
	if (s->stopped || s->failed || !s->in_part || len == 0)
		abort();
	mix(s, p, len); /* the bytes, not where the calls split them */
	s->file_len += len;
	return 0;
}

static int on_end(void *arg, const struct formdata_part *part, const char *v, size_t len)
{
	struct seen *s = arg;
	if (s->stopped || s->failed || !s->in_part)
		abort();
	s->in_part = 0;
	if (v) {
		if (len > s->value_cap)
			abort();
		mix(s, v, len);
		if (s->n < MAX_FIELDS) {
			char *m = malloc(len + part->name_len + 2);
			if (!m)
				abort();
			memcpy(m, part->name, part->name_len + 1);
			memcpy(m + part->name_len + 1, v, len);
			s->f[s->n] = (struct postpolicy_field){m, part->name_len,
							       m + part->name_len + 1, len};
			s->mem[s->n++] = m;
		}
	}
	mix(s, "E", 1);
	if ((s->flags & 8) && strcmp(part->name, "file") == 0) {
		s->stopped = 1;
		return FORMDATA_STOP;
	}
	return 0;
}

static const struct formdata_cb cb = {on_begin, on_data, on_end};

static void seen_free(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->mem[i]);
	s->n = 0;
}

/* One parse; chunk_seed 0 feeds everything at once. */
static int parse(struct seen *s, const char *bnd, const struct formdata_limits *lim,
		 const uint8_t *p, size_t len, unsigned chunk_seed, enum formdata_fail *fail)
{
	struct formdata fd;
	size_t off = 0;
	int rc = 0;

	if (formdata_init(&fd, bnd, strlen(bnd), lim, &cb, s) != 0)
		abort();
	s->value_cap = fd.value_cap;
	while (off < len && rc == 0) {
		size_t n = len - off;
		if (chunk_seed) {
			chunk_seed = chunk_seed * 1103515245u + 12345u;
			size_t k = 1 + (chunk_seed >> 16) % 17;
			n = n < k ? n : k;
		}
		rc = formdata_feed(&fd, p + off, n);
		off += n;
	}
	if (rc < 0)
		s->failed = 1;
	if (rc >= 0)
		rc = formdata_finish(&fd);
	/* sticky: more bytes change nothing */
	if (rc < 0 && formdata_feed(&fd, "x", 1) != rc)
		abort();
	*fail = fd.fail;
	formdata_release(&fd);
	return rc;
}

static int get_secret(void *arg, const char *ak, char *out, size_t cap)
{
	(void)arg;
	if (strcmp(ak, AKID) != 0)
		return CN_EBADKEYID;
	strncpy(out, SECRET, cap - 1);
	out[cap - 1] = '\0';
	return 0;
}

/* What a handler does with the fields before the file. */
static void policy_stage(struct seen *s)
{
	struct postpolicy_auth a;
	struct postpolicy *pp = NULL;
	char err[256], ak[SIGV4_MAX_ACCESS_KEY + 1], key[1024];
	size_t key_len;

	if (postpolicy_auth_from_fields(s->f, s->n, &a, err, sizeof(err)) != 0)
		return;
	if (a.kind == POSTPOLICY_V4)
		postpolicy_verify_v4(&a, "us-east-1", get_secret, NULL, ak, err, sizeof(err));
	else if (a.kind == POSTPOLICY_V2)
		postpolicy_verify_v2(&a, get_secret, NULL, ak, err, sizeof(err));
	if (!a.policy || postpolicy_parse(a.policy, a.policy_len, T0, &pp, err, sizeof(err)) != 0)
		return;
	for (size_t i = 0; i < s->n; i++) {
		if (s->f[i].name_len != 3 || memcmp(s->f[i].name, "key", 3) != 0)
			continue;
		if (postpolicy_key_subst(s->f[i].value, s->f[i].value_len, s->filename,
					 s->filename_len, key, sizeof(key), &key_len) == 0) {
			if (key[key_len] != '\0')
				abort();
			s->f[i].value = key;
			s->f[i].value_len = key_len;
		}
		break;
	}
	postpolicy_check(pp, s->f, s->n, err, sizeof(err));
	postpolicy_length_ok(pp, s->file_len);
	postpolicy_free(pp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	unsigned seed = data[0] | 0x100u, flags = data[1];
	const char *bnd = bnds[flags & 3];
	const struct formdata_limits *lim = &lims[(flags >> 4) & 3];
	const uint8_t *p = data + 2;
	size_t len = size - 2;
	struct seen one = {.h = 14695981039346656037ull, .flags = flags};
	struct seen many = one;
	enum formdata_fail f1, f2;
	int rc1, rc2;

	if (flags & 0x40) {
		char out[FORMDATA_MAX_BOUNDARY + 1];
		if (formdata_boundary((const char *)p, len, out, sizeof(out)) == 0) {
			struct formdata fd;
			if (strlen(out) == 0 || strlen(out) > FORMDATA_MAX_BOUNDARY ||
			    formdata_init(&fd, out, strlen(out), NULL, &cb, &one) != 0)
				abort(); /* what it extracts, init takes */
			formdata_release(&fd);
		}
		return 0;
	}
	rc1 = parse(&one, bnd, lim, p, len, 0, &f1);
	rc2 = parse(&many, bnd, lim, p, len, seed, &f2);
	if (rc1 != rc2 || f1 != f2 || one.h != many.h || one.n != many.n ||
	    one.file_len != many.file_len)
		abort();
	policy_stage(&one);
	seen_free(&one);
	seen_free(&many);
	return 0;
}
