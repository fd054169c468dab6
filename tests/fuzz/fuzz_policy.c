/*
 * tests/fuzz/fuzz_policy.c — libFuzzer target for auth/policy.c: a policy
 * document (PutBucketPolicy body, an IAM identity policy) parsed, then
 * evaluated against fixed requests.
 *
 * Input: byte 0 picks the mode, the rest is the JSON document.
 *   bit 0     kind: 0 POLICY_IDENTITY, 1 POLICY_BUCKET (bucket "bkt")
 *   bits 1-3  err buffer: NULL, errcap 0, 1, 2, 8, 32, 256, 256
 *   bits 4-5  lookup: NULL callback, always 0 values, one value, many
 *             (more than POLICY_MAX_VALUES: the re-call path)
 *   bits 6-7  which of the document's string literals the values are
 *             taken from (an offset), and how many past the maximum
 * Lookup values are the contents of the document's "..." literals, so a
 * condition's own values come back as request values.
 *
 * Invariants (abort): the result is 0, CN_EBADARG or CN_ENOMEM; a refusal
 * leaves *out alone, writes no byte past errcap, NUL-terminates err and
 * gives a non-empty reason when errcap allows one, a prefix of the reason a
 * 256-byte buffer gets; the err buffer never changes the outcome; an
 * accepted policy evaluates every fixed request to a valid effect, the same
 * twice and the same for a second parse of the document; identity policies
 * are never public. Leaks (policy_free, the many-values buffers) are
 * LeakSanitizer's.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/policy.h"
#include "core/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BUCKET "bkt"
#define ACCT "111122223333"
#define CANON "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
#define MAX_LIT 64
#define CANARY 0xa5

enum { LK_NULL, LK_NONE, LK_ONE, LK_MANY };

struct lits {
	const char *s[MAX_LIT];
	size_t len[MAX_LIT];
	int n;
	int mode, skew;
};

static const size_t errcaps[8] = {0, 0, 1, 2, 8, 32, 256, 256};

static const char *const actions[] = {"s3:GetObject", "s3:PutObject", "s3:ListBucket",
				      "s3:DeleteObjectVersion", ""};
static const char *const resources[] = {"arn:aws:s3:::" BUCKET, "arn:aws:s3:::" BUCKET "/a/b.txt",
					"arn:aws:s3:::" BUCKET "/${x}*?", "arn:aws:s3:::other/k",
					""};

/* The bodies of the "..." literals of the document (escapes left as is). */
static void find_lits(const char *j, size_t len, struct lits *l)
{
	size_t i = 0;

	l->n = 0;
	while (i < len && l->n < MAX_LIT) {
		const char *q = memchr(j + i, '"', len - i);
		size_t b, e;
		if (!q)
			break;
		b = (size_t)(q - j) + 1;
		for (e = b; e < len && j[e] != '"'; e++)
			if (j[e] == '\\')
				e++;
		if (e >= len)
			break;
		l->s[l->n] = j + b;
		l->len[l->n++] = e - b;
		i = e + 1;
	}
}

static unsigned hash(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* policy_request.lookup: honours max, as the contract asks of callers. */
static int lookup(void *arg, const char *key, const char **vals, size_t *lens, int max)
{
	const struct lits *l = arg;
	unsigned h = hash(key) + (unsigned)l->skew;
	int n;

	if (max < 0 || (max > 0 && (!vals || !lens)))
		abort();
	if (l->mode == LK_NONE || l->n == 0)
		return 0;
	if (l->mode == LK_ONE)
		n = 1;
	else
		n = POLICY_MAX_VALUES + 1 + l->skew * 5 - (int)(h % 3);
	for (int i = 0; i < n && i < max; i++) {
		int k = (int)((h + (unsigned)i) % (unsigned)l->n);
		vals[i] = l->s[k];
		lens[i] = l->len[k];
	}
	return n;
}

static void eval_all(const struct policy *p, struct lits *l, int lk_null, uint8_t *out)
{
	int k = 0;

	for (size_t a = 0; a < sizeof(actions) / sizeof(actions[0]); a++)
		for (size_t r = 0; r < sizeof(resources) / sizeof(resources[0]); r++)
			for (int who = 0; who < 3; who++) {
				struct policy_request q = {
					.action = actions[a],
					.resource = resources[r],
					.anonymous = who == 0,
					.account_id = ACCT,
					.user = who == 0   ? NULL
						: who == 1 ? "alice"
							   : "root",
					.canonical_id = who == 0 ? NULL : CANON,
					.lookup = lk_null ? NULL : lookup,
					.arg = l,
				};
				enum policy_effect e1 = policy_eval(p, &q);
				enum policy_effect e2 = policy_eval(p, &q);
				if (e1 != e2 ||
				    (e1 != POLICY_NONE && e1 != POLICY_ALLOW && e1 != POLICY_DENY))
					abort();
				out[k++] = (uint8_t)e1;
			}
}

#define N_EVAL (5 * 5 * 3)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t eff1[N_EVAL], eff2[N_EVAL];
	static char sentinel; /* what *out holds until policy_parse() sets it */
	struct policy *p = (struct policy *)&sentinel, *p2 = NULL;
	enum policy_kind kind;
	char full[256], small[256 + 16], *err;
	size_t errcap, len;
	const char *json;
	struct lits l;
	int mode, rc, rc2;

	if (size < 1)
		return 0;
	mode = data[0];
	json = (const char *)data + 1;
	len = size - 1;
	kind = mode & 1 ? POLICY_BUCKET : POLICY_IDENTITY;
	errcap = errcaps[(mode >> 1) & 7];
	err = ((mode >> 1) & 7) == 0 ? NULL : small;
	memset(small, CANARY, sizeof(small));

	rc = policy_parse(json, len, kind, BUCKET, &p, err, errcap);
	for (size_t i = errcap; i < sizeof(small); i++)
		if ((uint8_t)small[i] != CANARY)
			abort(); /* wrote past errcap */
	rc2 = policy_parse(json, len, kind, BUCKET, &p2, full, sizeof(full));
	if (rc != rc2 && rc != CN_ENOMEM && rc2 != CN_ENOMEM)
		abort(); /* the err buffer changed the outcome */
	if (rc != 0) {
		if (rc != CN_EBADARG && rc != CN_ENOMEM)
			abort();
		if (p != (struct policy *)&sentinel || (rc2 != 0 && p2 != NULL))
			abort(); /* *out is only set on success */
		if (rc == CN_EBADARG && rc2 == CN_EBADARG) {
			if (full[0] == '\0' || !memchr(full, '\0', sizeof(full)))
				abort(); /* every refusal says why */
			if (err && errcap > 0) {
				size_t n = strnlen(err, errcap);
				if (n == errcap || (errcap >= 2 && n == 0) ||
				    strncmp(err, full, n) != 0)
					abort(); /* truncated, NUL-terminated reason */
			}
		}
		goto out;
	}
	if (p == NULL || p == (struct policy *)&sentinel || rc2 != 0 || p2 == NULL)
		abort();
	if (kind == POLICY_IDENTITY && policy_is_public(p))
		abort();
	if (policy_is_public(p) != policy_is_public(p2))
		abort();

	find_lits(json, len, &l);
	l.mode = (mode >> 4) & 3;
	l.skew = mode >> 6;
	eval_all(p, &l, l.mode == LK_NULL, eff1);
	eval_all(p2, &l, l.mode == LK_NULL, eff2);
	if (memcmp(eff1, eff2, sizeof(eff1)) != 0)
		abort(); /* a second parse compiles the same policy */
	policy_free(p);
out:
	policy_free(p2);
	return 0;
}
