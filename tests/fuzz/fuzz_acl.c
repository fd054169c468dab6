/*
 * tests/fuzz/fuzz_acl.c — libFuzzer target for s3/acl.c: the three ways
 * untrusted bytes become an ACL. The first input byte picks one (modulo 3),
 * the rest is its input:
 *
 *   0  acl_from_xml(): an AccessControlPolicy body, owner OWNER;
 *   1  acl_from_headers(): up to five x-amz-grant-* values (read, write,
 *      read-acp, write-acp, full-control) separated by '\n' — a missing one
 *      is an absent header, an empty one an empty header; NULs are kept
 *      and end the value early, as a C string would;
 *   2  acl_decode(): a stored record.
 *
 * Invariants (abort): whatever is accepted satisfies acl.h's invariants,
 * encodes, and decodes back to the same struct; what the XML writer makes of
 * it parses back to the same struct; a decoded record re-encodes to exactly
 * its input bytes; acl_allows() and acl_is_public() agree with each other.
 * The lookup knows the canonical ids whose first digit is below 'd'.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "s3/acl.h"

#define OWNER "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int user_exists(void *arg, const char *id)
{
	(void)arg;
	if (!acl_id_valid(id))
		abort(); /* only well-formed ids are looked up */
	return id[0] < 'd';
}

static int display_name(void *arg, const char *id, char *out, size_t cap)
{
	(void)arg;
	if (id[1] == 'f')
		return 0;
	/* characters the writer must escape */
	strncpy(out, "<name & \"co\">\r\t", cap);
	return 1;
}

static const struct acl_lookup lk = {user_exists, display_name, NULL};
/* For reading back what was accepted: a decoded record names any id. */
static const struct acl_lookup lk_any = {NULL, display_name, NULL};

static void check_invariants(const struct acl *a)
{
	if (!acl_id_valid(a->owner) || a->n > ACL_MAX_GRANTS)
		abort();
	for (unsigned i = 0; i < a->n; i++) {
		const struct acl_grant *g = &a->g[i];
		if (!acl_perm_name(g->perm))
			abort();
		if (g->type == ACL_GRANTEE_USER
			    ? !acl_id_valid(g->id)
			    : g->type < ACL_GRANTEE_ALL_USERS ||
				      g->type > ACL_GRANTEE_LOG_DELIVERY || g->id[0] != 0)
			abort();
	}
}

/* An accepted ACL encodes, decodes and prints back to itself. */
static void check_accepted(const struct acl *a)
{
	struct cn_buf w;
	struct acl b;
	char err[128];
	int pub = 0;

	check_invariants(a);
	cn_buf_init(&w);
	if (acl_encode(a, &w) != 0 || acl_decode(w.p, w.len, &b) != 0 ||
	    memcmp(a, &b, sizeof(b)) != 0)
		abort();
	cn_buf_reset(&w);
	acl_to_xml(a, &w, &lk);
	if (w.err || acl_from_xml(w.s, w.len, a->owner, &lk_any, &b, err, sizeof(err)) != 0 ||
	    memcmp(a, &b, sizeof(b)) != 0)
		abort();
	cn_buf_release(&w);
	/* anonymous reaches only what the public groups hold */
	for (int p = 1; p <= ACL_FULL_CONTROL; p++)
		if (acl_allows(a, NULL, 0, (enum acl_perm)p) ||
		    acl_allows(a, NULL, 1, (enum acl_perm)p))
			pub = 1;
	if (pub && !acl_is_public(a))
		abort();
	/* the owner always reaches its ACL */
	if (!acl_allows(a, a->owner, 1, ACL_READ_ACP) || !acl_allows(a, a->owner, 1, ACL_WRITE_ACP))
		abort();
}

static void fuzz_xml(const uint8_t *in, size_t len)
{
	struct acl a;
	char err[128];

	if (acl_from_xml((const char *)in, len, OWNER, &lk, &a, err, sizeof(err)) == 0)
		check_accepted(&a);
}

static void fuzz_headers(const uint8_t *in, size_t len)
{
	char *copy = malloc(len + 1), *v[5] = {NULL, NULL, NULL, NULL, NULL}, *p;
	struct acl_headers h;
	struct acl a;
	char err[128];
	int n = 0;

	if (!copy)
		return;
	memcpy(copy, in, len);
	copy[len] = 0;
	p = copy;
	while (n < 5) {
		char *nl = memchr(p, '\n', (size_t)(copy + len - p));
		v[n++] = p;
		if (!nl)
			break;
		*nl = 0;
		p = nl + 1;
	}
	h.read = v[0];
	h.write = v[1];
	h.read_acp = v[2];
	h.write_acp = v[3];
	h.full_control = v[4];
	if (acl_from_headers(&h, OWNER, &lk, &a, err, sizeof(err)) == 0)
		check_accepted(&a);
	free(copy);
}

static void fuzz_record(const uint8_t *in, size_t len)
{
	struct acl a;
	struct cn_buf w;

	if (acl_decode(in, len, &a) != 0)
		return;
	cn_buf_init(&w);
	if (acl_encode(&a, &w) != 0 || w.len != len || memcmp(w.p, in, len) != 0)
		abort();
	cn_buf_release(&w);
	check_accepted(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0: fuzz_xml(data + 1, size - 1); break;
	case 1: fuzz_headers(data + 1, size - 1); break;
	default: fuzz_record(data + 1, size - 1); break;
	}
	return 0;
}
