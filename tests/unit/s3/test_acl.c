/*
 * Unit tests for s3/acl: every canned ACL in its bucket and object forms;
 * x-amz-grant-* headers (several grantees, quoting and whitespace, group
 * uris, unknown ids, emailAddress, malformed values, the 100-grant limit);
 * AccessControlPolicy bodies as the AWS docs, the aws CLI and boto3 write
 * them (namespaced and not), malformed ones, a foreign owner, 101 grants,
 * unknown permissions and grantee kinds; the one-form-per-request rule;
 * GetBucketAcl XML byte for byte; the binary encoding (round trips, every
 * truncation, trailing bytes, bad versions and enums); the acl_allows()
 * matrix and acl_is_public().
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
#include "s3/acl.h"
#include "s3/s3err.h"

/* The canonical id of the AWS docs' examples, and three more. */
#define OWNER "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
#define OTHER "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define BOWNER "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0"
#define THIRD "3333333333333333333333333333333333333333333333333333333333333333"
/* Well-formed but unknown to the lookup. */
#define NOBODY "dead00000000000000000000000000000000000000000000000000000000beef"
#define XSI "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\""
#define NS "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""

static int exists_calls;

static int user_exists(void *arg, const char *id)
{
	(void)arg;
	exists_calls++;
	assert_true(acl_id_valid(id)); /* only well-formed ids are asked about */
	return strcmp(id, OWNER) == 0 || strcmp(id, OTHER) == 0 || strcmp(id, BOWNER) == 0 ||
	       strcmp(id, THIRD) == 0;
}

static int display_name(void *arg, const char *id, char *out, size_t cap)
{
	(void)arg;
	if (strcmp(id, OWNER) == 0)
		snprintf(out, cap, "owner");
	else if (strcmp(id, OTHER) == 0)
		snprintf(out, cap, "other & <co>");
	else
		return 0;
	return 1;
}

static const struct acl_lookup lk = {user_exists, display_name, NULL};

/* ---- helpers ---- */

static void set_grant(struct acl *a, int type, int perm, const char *id)
{
	struct acl_grant *g = &a->g[a->n++];

	g->type = (uint8_t)type;
	g->perm = (uint8_t)perm;
	if (id)
		snprintf(g->id, sizeof(g->id), "%s", id);
}

static void new_acl(struct acl *a, const char *owner)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->owner, sizeof(a->owner), "%s", owner);
}

static void acl_eq(const struct acl *got, const struct acl *want, const char *what)
{
	if (strcmp(got->owner, want->owner) != 0)
		fail_msg("%s: owner %s, want %s", what, got->owner, want->owner);
	if (got->n != want->n)
		fail_msg("%s: %u grants, want %u", what, got->n, want->n);
	for (unsigned i = 0; i < got->n; i++) {
		const struct acl_grant *g = &got->g[i], *w = &want->g[i];
		if (g->type != w->type || g->perm != w->perm || strcmp(g->id, w->id) != 0)
			fail_msg("%s: grant %u is (%d, %d, '%s'), want (%d, %d, '%s')", what, i,
				 g->type, g->perm, g->id, w->type, w->perm, w->id);
	}
	/* Whatever fills a struct acl leaves the unused bytes zero, so
	 * records built the same way compare (and encode) the same. */
	assert_memory_equal(got, want, sizeof(*got));
}

/* Returns a heap copy of s with every `from` replaced by `to`. */
static char *subst(const char *s, const char *from, const char *to)
{
	struct cn_buf b;
	const char *p;
	size_t fl = strlen(from);

	cn_buf_init(&b);
	while ((p = strstr(s, from)) != NULL) {
		cn_buf_put(&b, s, (size_t)(p - s));
		cn_buf_puts(&b, to);
		s = p + fl;
	}
	cn_buf_puts(&b, s);
	assert_int_equal(b.err, 0);
	return cn_buf_take(&b);
}

static int from_xml(const char *body, struct acl *out)
{
	char err[128] = "";
	int rc = acl_from_xml(body, strlen(body), OWNER, &lk, out, err, sizeof(err));

	if (rc)
		assert_true(err[0] != 0); /* every error says why */
	return rc;
}

/* ---- canned ACLs ---- */

static void test_canned_bucket(void **state)
{
	struct acl got, want;
	(void)state;

	new_acl(&want, OWNER);
	set_grant(&want, ACL_GRANTEE_USER, ACL_FULL_CONTROL, OWNER);
	/* private, aws-exec-read (no EC2 principal here), and the two
	 * bucket-owner-* ACLs, which AWS ignores on buckets */
	const char *owner_only[] = {"private", "aws-exec-read", "bucket-owner-read",
				    "bucket-owner-full-control"};
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(acl_canned(owner_only[i], OWNER, NULL, 1, &got), 0);
		acl_eq(&got, &want, owner_only[i]);
	}

	assert_int_equal(acl_canned("public-read", OWNER, NULL, 1, &got), 0);
	new_acl(&want, OWNER);
	set_grant(&want, ACL_GRANTEE_USER, ACL_FULL_CONTROL, OWNER);
	set_grant(&want, ACL_GRANTEE_ALL_USERS, ACL_READ, NULL);
	acl_eq(&got, &want, "public-read");

	assert_int_equal(acl_canned("public-read-write", OWNER, NULL, 1, &got), 0);
	new_acl(&want, OWNER);
	set_grant(&want, ACL_GRANTEE_USER, ACL_FULL_CONTROL, OWNER);
	set_grant(&want, ACL_GRANTEE_ALL_USERS, ACL_READ, NULL);
	set_grant(&want, ACL_GRANTEE_ALL_USERS, ACL_WRITE, NULL);
	acl_eq(&got, &want, "public-read-write");

	assert_int_equal(acl_canned("authenticated-read", OWNER, NULL, 1, &got), 0);
	new_acl(&want, OWNER);
	set_grant(&want, ACL_GRANTEE_USER, ACL_FULL_CONTROL, OWNER);
	set_grant(&want, ACL_GRANTEE_AUTH_USERS, ACL_READ, NULL);
	acl_eq(&got, &want, "authenticated-read");

	assert_int_equal(acl_canned("log-delivery-write", OWNER, NULL, 1, &got), 0);
	new_acl(&want, OWNER);
	set_grant(&want, ACL_GRANTEE_USER, ACL_FULL_CONTROL, OWNER);
	set_grant(&want, ACL_GRANTEE_LOG_DELIVERY, ACL_WRITE, NULL);
	set_grant(&want, ACL_GRANTEE_LOG_DELIVERY, ACL_READ_ACP, NULL);
	acl_eq(&got, &want, "log-delivery-write");
}

static void test_canned_object(void **state)
{
	struct acl got, want;
	(void)state;

	/* the object's owner (OTHER) is not the bucket's (BOWNER) */
	const char *owner_only[] = {"private", "aws-exec-read"};
	new_acl(&want, OTHER);
	set_grant(&want, ACL_GRANTEE_USER, ACL_FULL_CONTROL, OTHER);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(acl_canned(owner_only[i], OTHER, BOWNER, 0, &got), 0);
		acl_eq(&got, &want, owner_only[i]);
	}

	assert_int_equal(acl_canned("public-read", OTHER, BOWNER, 0, &got), 0);
	new_acl(&want, OTHER);
	set_grant(&want, ACL_GRANTEE_USER, ACL_FULL_CONTROL, OTHER);
	set_grant(&want, ACL_GRANTEE_ALL_USERS, ACL_READ, NULL);
	acl_eq(&got, &want, "public-read");

	assert_int_equal(acl_canned("public-read-write", OTHER, BOWNER, 0, &got), 0);
	set_grant(&want, ACL_GRANTEE_ALL_USERS, ACL_WRITE, NULL);
	acl_eq(&got, &want, "public-read-write");

	assert_int_equal(acl_canned("authenticated-read", OTHER, BOWNER, 0, &got), 0);
	new_acl(&want, OTHER);
	set_grant(&want, ACL_GRANTEE_USER, ACL_FULL_CONTROL, OTHER);
	set_grant(&want, ACL_GRANTEE_AUTH_USERS, ACL_READ, NULL);
	acl_eq(&got, &want, "authenticated-read");

	assert_int_equal(acl_canned("bucket-owner-read", OTHER, BOWNER, 0, &got), 0);
	new_acl(&want, OTHER);
	set_grant(&want, ACL_GRANTEE_USER, ACL_FULL_CONTROL, OTHER);
	set_grant(&want, ACL_GRANTEE_USER, ACL_READ, BOWNER);
	acl_eq(&got, &want, "bucket-owner-read");

	assert_int_equal(acl_canned("bucket-owner-full-control", OTHER, BOWNER, 0, &got), 0);
	new_acl(&want, OTHER);
	set_grant(&want, ACL_GRANTEE_USER, ACL_FULL_CONTROL, OTHER);
	set_grant(&want, ACL_GRANTEE_USER, ACL_FULL_CONTROL, BOWNER);
	acl_eq(&got, &want, "bucket-owner-full-control");

	assert_int_equal(acl_canned("log-delivery-write", OTHER, BOWNER, 0, &got), 0);
	new_acl(&want, OTHER);
	set_grant(&want, ACL_GRANTEE_USER, ACL_FULL_CONTROL, OTHER);
	set_grant(&want, ACL_GRANTEE_LOG_DELIVERY, ACL_WRITE, NULL);
	set_grant(&want, ACL_GRANTEE_LOG_DELIVERY, ACL_READ_ACP, NULL);
	acl_eq(&got, &want, "log-delivery-write");

	/* object and bucket owned by the same user: no second grant */
	new_acl(&want, OWNER);
	set_grant(&want, ACL_GRANTEE_USER, ACL_FULL_CONTROL, OWNER);
	assert_int_equal(acl_canned("bucket-owner-read", OWNER, OWNER, 0, &got), 0);
	acl_eq(&got, &want, "bucket-owner-read, same owner");
	assert_int_equal(acl_canned("bucket-owner-full-control", OWNER, OWNER, 0, &got), 0);
	acl_eq(&got, &want, "bucket-owner-full-control, same owner");
}

static void test_canned_errors(void **state)
{
	struct acl got;
	(void)state;

	assert_int_equal(acl_canned("Public-Read", OWNER, NULL, 1, &got), CN_EBADARG);
	assert_int_equal(acl_canned("public-read ", OWNER, NULL, 1, &got), CN_EBADARG);
	assert_int_equal(acl_canned("", OWNER, NULL, 1, &got), CN_EBADARG);
	assert_int_equal(acl_canned("bucket-owner", OWNER, BOWNER, 0, &got), CN_EBADARG);
	assert_int_equal(acl_canned(NULL, OWNER, NULL, 1, &got), CN_EBADARG);
	/* owner ids are canonical ids */
	assert_int_equal(acl_canned("private", "AKIDEXAMPLE", NULL, 1, &got), CN_EINVAL);
	assert_int_equal(acl_canned("private", NULL, NULL, 1, &got), CN_EINVAL);
	/* an object's bucket-owner-* needs the bucket owner; others do not */
	assert_int_equal(acl_canned("bucket-owner-read", OWNER, NULL, 0, &got), CN_EINVAL);
	assert_int_equal(acl_canned("bucket-owner-full-control", OWNER, "x", 0, &got), CN_EINVAL);
	assert_int_equal(acl_canned("public-read", OWNER, NULL, 0, &got), 0);
}

/* ---- grant headers ---- */

static int from_headers(const struct acl_headers *h, struct acl *out)
{
	char err[128] = "";
	int rc = acl_from_headers(h, OWNER, &lk, out, err, sizeof(err));

	if (rc)
		assert_true(err[0] != 0);
	return rc;
}

static void test_headers(void **state)
{
	struct acl got, want;
	struct acl_headers h;
	(void)state;

	/* several grantees per header, quoted, unquoted, odd spacing, upper-case
	 * hex and type names in any case; headers taken in a fixed order */
	memset(&h, 0, sizeof(h));
	h.full_control = "id=\"" OWNER "\"";
	h.read = "  uri=\"" ACL_URI_ALL_USERS "\" ,id=" OTHER ",\tID = \"" THIRD "\"  ";
	h.write_acp = "Uri=" ACL_URI_LOG_DELIVERY;
	h.read_acp = "id=\"0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\","
		     "uri=\"" ACL_URI_AUTH_USERS "\"";
	h.write = "uri=\"" ACL_URI_AUTH_USERS "\"";
	assert_int_equal(from_headers(&h, &got), 0);
	new_acl(&want, OWNER);
	set_grant(&want, ACL_GRANTEE_ALL_USERS, ACL_READ, NULL);
	set_grant(&want, ACL_GRANTEE_USER, ACL_READ, OTHER);
	set_grant(&want, ACL_GRANTEE_USER, ACL_READ, THIRD);
	set_grant(&want, ACL_GRANTEE_AUTH_USERS, ACL_WRITE, NULL);
	set_grant(&want, ACL_GRANTEE_USER, ACL_READ_ACP, OTHER);
	set_grant(&want, ACL_GRANTEE_AUTH_USERS, ACL_READ_ACP, NULL);
	set_grant(&want, ACL_GRANTEE_LOG_DELIVERY, ACL_WRITE_ACP, NULL);
	set_grant(&want, ACL_GRANTEE_USER, ACL_FULL_CONTROL, OWNER);
	acl_eq(&got, &want, "headers");

	/* the owner gets no grant it did not name (it keeps READ_ACP and
	 * WRITE_ACP through acl_allows) */
	memset(&h, 0, sizeof(h));
	h.read = "id=\"" OTHER "\"";
	assert_int_equal(from_headers(&h, &got), 0);
	new_acl(&want, OWNER);
	set_grant(&want, ACL_GRANTEE_USER, ACL_READ, OTHER);
	acl_eq(&got, &want, "read only");

	/* the AWS docs' second PutBucketAcl example, its email grantee aside */
	memset(&h, 0, sizeof(h));
	h.write = "uri=\"http://acs.amazonaws.com/groups/s3/LogDelivery\"";
	h.read = "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"";
	assert_int_equal(from_headers(&h, &got), 0);
	new_acl(&want, OWNER);
	set_grant(&want, ACL_GRANTEE_ALL_USERS, ACL_READ, NULL);
	set_grant(&want, ACL_GRANTEE_LOG_DELIVERY, ACL_WRITE, NULL);
	acl_eq(&got, &want, "aws docs headers");
}

static void test_headers_errors(void **state)
{
	struct acl got;
	struct acl_headers h;
	static const char *const bad[] = {
		"",
		"   ",
		"id",
		"id=",
		"id=\"\"",
		"=\"" OTHER "\"",
		"id=\"" OTHER,
		"id=\"" OTHER "\" id=\"" THIRD "\"",
		"id=\"" OTHER "\",",
		",id=\"" OTHER "\"",
		"id=\"" OTHER "\",,id=\"" THIRD "\"",
		"id:\"" OTHER "\"",
		"id=\"" OTHER "\"x",
		"user=\"" OTHER "\"",
		"i d=\"" OTHER "\"",
		"id=\"" NOBODY "\"",
		"id=\"" OTHER "0\"",
		"id=\"" OTHER "\"\"",
		"id=\"0123\"",
		"id=\"g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"",
		"id=\"123456789012\"", /* an account id is not a canonical id */
		"uri=\"http://acs.amazonaws.com/groups/global/allusers\"",
		"uri=\"https://acs.amazonaws.com/groups/global/AllUsers\"",
		"uri=\"http://acs.amazonaws.com/groups/global/AllUsers/\"",
		"uri=AllUsers",
	};
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&h, 0, sizeof(h));
		h.read_acp = bad[i];
		if (from_headers(&h, &got) != CN_EBADARG)
			fail_msg("accepted or misjudged: '%s'", bad[i]);
	}
	/* emailAddress: its own code, wherever it stands in the list */
	memset(&h, 0, sizeof(h));
	h.write = "uri=\"http://acs.amazonaws.com/groups/s3/LogDelivery\", "
		  "emailAddress=\"xyz@amazon.com\"";
	assert_int_equal(from_headers(&h, &got), CN_EEMAILGRANT);
	h.write = "emailaddress=xyz@amazon.com";
	assert_int_equal(from_headers(&h, &got), CN_EEMAILGRANT);
	/* a bad header fails the request even when the others are good */
	memset(&h, 0, sizeof(h));
	h.read = "id=\"" OTHER "\"";
	h.full_control = "id=\"" NOBODY "\"";
	assert_int_equal(from_headers(&h, &got), CN_EBADARG);
	/* no header, or an owner that is not a canonical id: caller errors */
	memset(&h, 0, sizeof(h));
	assert_int_equal(from_headers(&h, &got), CN_EINVAL);
	h.read = "id=\"" OTHER "\"";
	assert_int_equal(acl_from_headers(&h, "owner", &lk, &got, NULL, 0), CN_EINVAL);
	/* without a lookup every well-formed id passes */
	h.read = "id=\"" NOBODY "\"";
	assert_int_equal(acl_from_headers(&h, OWNER, NULL, &got, NULL, 0), 0);
	assert_string_equal(got.g[0].id, NOBODY);
}

static void test_headers_limit(void **state)
{
	struct acl got;
	struct acl_headers h;
	struct cn_buf r, w;
	(void)state;

	/* 100 grantees across two headers pass, a 101st fails */
	cn_buf_init(&r);
	cn_buf_init(&w);
	for (int i = 0; i < 60; i++)
		cn_buf_printf(&r, "%suri=\"%s\"", i ? ", " : "", ACL_URI_ALL_USERS);
	for (int i = 0; i < 40; i++)
		cn_buf_printf(&w, "%sid=%s", i ? "," : "", OTHER);
	memset(&h, 0, sizeof(h));
	h.read = r.s;
	h.write = w.s;
	assert_int_equal(from_headers(&h, &got), 0);
	assert_int_equal(got.n, ACL_MAX_GRANTS);
	cn_buf_puts(&w, ",id=" OTHER);
	h.write = w.s;
	assert_int_equal(from_headers(&h, &got), CN_EBADARG);
	cn_buf_release(&w);
	cn_buf_release(&r);
}

/* ---- AccessControlPolicy bodies ---- */

/* The body of the AWS docs' PutBucketAcl example "access permissions
 * specified in the body", verbatim: its ids are placeholders. */
static const char aws_docs_sample[] =
	"<AccessControlPolicy xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
	"  <Owner>\n"
	"    <ID>852b113e7a2f25102679df27bb0ae12b3f85be6BucketOwnerCanonicalUserID</ID>\n"
	"    <DisplayName>OwnerDisplayName</DisplayName>\n"
	"  </Owner>\n"
	"  <AccessControlList>\n"
	"    <Grant>\n"
	"      <Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
	"xsi:type=\"CanonicalUser\">\n"
	"        <ID>852b113e7a2f25102679df27bb0ae12b3f85be6BucketOwnerCanonicalUserID</ID>\n"
	"        <DisplayName>OwnerDisplayName</DisplayName>\n"
	"      </Grantee>\n"
	"      <Permission>FULL_CONTROL</Permission>\n"
	"    </Grant>\n"
	"    <Grant>\n"
	"      <Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
	"xsi:type=\"Group\">\n"
	"        <URI xmlns=\"\">http://acs.amazonaws.com/groups/global/AllUsers</URI>\n"
	"      </Grantee>\n"
	"      <Permission xmlns=\"\">READ</Permission>\n"
	"    </Grant>\n"
	"    <Grant>\n"
	"      <Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
	"xsi:type=\"Group\">\n"
	"        <URI xmlns=\"\">http://acs.amazonaws.com/groups/s3/LogDelivery</URI>\n"
	"      </Grantee>\n"
	"      <Permission xmlns=\"\">WRITE</Permission>\n"
	"    </Grant>\n"
	"    <Grant>\n"
	"      <Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
	"xsi:type=\"AmazonCustomerByEmail\">\n"
	"        <EmailAddress xmlns=\"\">xyz@amazon.com</EmailAddress>\n"
	"      </Grantee>\n"
	"      <Permission xmlns=\"\">WRITE_ACP</Permission>\n"
	"    </Grant>\n"
	"    <Grant>\n"
	"      <Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
	"xsi:type=\"CanonicalUser\">\n"
	"        <ID "
	"xmlns=\"\">f30716ab7115dcb44a5ef76e9d74b8e20567f63TestAccountCanonicalUserID</ID>\n"
	"      </Grantee>\n"
	"      <Permission xmlns=\"\">READ_ACP</Permission>\n"
	"    </Grant>\n"
	"  </AccessControlList>\n"
	"</AccessControlPolicy>\n";

static void test_xml_aws_docs_sample(void **state)
{
	struct acl got, want;
	char *s1, *s2, *s3;
	(void)state;

	/* verbatim: its owner is not ours */
	assert_int_equal(from_xml(aws_docs_sample, &got), CN_EACCESS);
	/* with real ids: the email grantee is all that stands in the way */
	s1 = subst(aws_docs_sample,
		   "852b113e7a2f25102679df27bb0ae12b3f85be6BucketOwnerCanonicalUserID", OWNER);
	s2 = subst(s1, "f30716ab7115dcb44a5ef76e9d74b8e20567f63TestAccountCanonicalUserID", OTHER);
	assert_int_equal(from_xml(s2, &got), CN_EEMAILGRANT);
	s3 = subst(s2, "<EmailAddress xmlns=\"\">xyz@amazon.com</EmailAddress>",
		   "<URI>" ACL_URI_AUTH_USERS "</URI>");
	assert_int_equal(from_xml(s3, &got), 0);
	new_acl(&want, OWNER);
	set_grant(&want, ACL_GRANTEE_USER, ACL_FULL_CONTROL, OWNER);
	set_grant(&want, ACL_GRANTEE_ALL_USERS, ACL_READ, NULL);
	set_grant(&want, ACL_GRANTEE_LOG_DELIVERY, ACL_WRITE, NULL);
	set_grant(&want, ACL_GRANTEE_AUTH_USERS, ACL_WRITE_ACP, NULL);
	set_grant(&want, ACL_GRANTEE_USER, ACL_READ_ACP, OTHER);
	acl_eq(&got, &want, "aws docs sample");
	free(s1);
	free(s2);
	free(s3);
}

/* What botocore (boto3, and the aws CLI's put-bucket-acl / put-object-acl
 * --access-control-policy) serialises: no XML declaration, the list before
 * the owner, DisplayName before ID, xmlns:xsi then xsi:type. */
#define BOTO_BODY(ns)                                                                              \
	"<AccessControlPolicy" ns "><AccessControlList>"                                           \
	"<Grant><Grantee " XSI " xsi:type=\"CanonicalUser\"><DisplayName>owner</DisplayName>"      \
	"<ID>" OWNER "</ID></Grantee><Permission>FULL_CONTROL</Permission></Grant>"                \
	"<Grant><Grantee " XSI " xsi:type=\"Group\"><URI>" ACL_URI_ALL_USERS "</URI></Grantee>"    \
	"<Permission>READ</Permission></Grant>"                                                    \
	"<Grant><Grantee " XSI " xsi:type=\"CanonicalUser\"><ID>" OTHER "</ID></Grantee>"          \
	"<Permission>WRITE</Permission></Grant>"                                                   \
	"</AccessControlList><Owner><DisplayName>owner</DisplayName><ID>" OWNER "</ID></Owner>"    \
	"</AccessControlPolicy>"

static void test_xml_clients(void **state)
{
	struct acl got, want;
	static const char *const bodies[] = {
		BOTO_BODY(" " NS),
		BOTO_BODY(""),
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" BOTO_BODY(" " NS),
		/* a prefixed namespace, as some SDKs write it */
		"<s3:AccessControlPolicy xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<s3:Owner><s3:ID>" OWNER "</s3:ID></s3:Owner><s3:AccessControlList>"
		"<s3:Grant><s3:Grantee " XSI " xsi:type=\"CanonicalUser\"><s3:ID>" OWNER
		"</s3:ID></s3:Grantee><s3:Permission>FULL_CONTROL</s3:Permission></s3:Grant>"
		"<s3:Grant><s3:Grantee " XSI " xsi:type=\"Group\"><s3:URI>" ACL_URI_ALL_USERS
		"</s3:URI></s3:Grantee><s3:Permission>READ</s3:Permission></s3:Grant>"
		"<s3:Grant><s3:Grantee " XSI " xsi:type=\"CanonicalUser\"><s3:ID>" OTHER
		"</s3:ID></s3:Grantee><s3:Permission>WRITE</s3:Permission></s3:Grant>"
		"</s3:AccessControlList></s3:AccessControlPolicy>",
		/* pretty-printed, values padded, upper-case hex */
		"<AccessControlPolicy>\n <Owner>\n  <ID>\n   " OWNER "\n  </ID>\n </Owner>\n"
		" <AccessControlList>\n  <Grant>\n   <Grantee " XSI " xsi:type=\"CanonicalUser\">\n"
		"    <ID> " OWNER
		" </ID>\n   </Grantee>\n   <Permission> FULL_CONTROL </Permission>\n"
		"  </Grant>\n  <Grant>\n   <Grantee " XSI
		" xsi:type=\"Group\">\n    <URI>\n" ACL_URI_ALL_USERS
		"\n</URI>\n   </Grantee>\n   <Permission>READ</Permission>\n"
		"  </Grant>\n  <Grant>\n   <Permission>WRITE</Permission>\n"
		"   <Grantee " XSI " xsi:type=\"CanonicalUser\">\n"
		"    <ID>0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF</ID>\n"
		"    <DisplayName>ignored</DisplayName>\n   </Grantee>\n  </Grant>\n"
		" </AccessControlList>\n</AccessControlPolicy>\n",
	};
	(void)state;

	new_acl(&want, OWNER);
	set_grant(&want, ACL_GRANTEE_USER, ACL_FULL_CONTROL, OWNER);
	set_grant(&want, ACL_GRANTEE_ALL_USERS, ACL_READ, NULL);
	set_grant(&want, ACL_GRANTEE_USER, ACL_WRITE, OTHER);
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		char what[32];
		snprintf(what, sizeof(what), "body %zu", i);
		if (from_xml(bodies[i], &got) != 0)
			fail_msg("%s refused", what);
		acl_eq(&got, &want, what);
	}

	/* an empty list, or none at all: no grants (the owner keeps its ACP) */
	new_acl(&want, OWNER);
	assert_int_equal(from_xml("<AccessControlPolicy><Owner><ID>" OWNER "</ID></Owner>"
				  "<AccessControlList/></AccessControlPolicy>",
				  &got),
			 0);
	acl_eq(&got, &want, "empty list");
	assert_int_equal(from_xml("<AccessControlPolicy><Owner><ID>" OWNER
				  "</ID></Owner></AccessControlPolicy>",
				  &got),
			 0);
	acl_eq(&got, &want, "no list");
}

#define POLICY(grants)                                                                             \
	"<AccessControlPolicy><Owner><ID>" OWNER "</ID></Owner><AccessControlList>" grants         \
	"</AccessControlList></AccessControlPolicy>"
#define GRANT(grantee, perm)                                                                       \
	"<Grant><Grantee " XSI " xsi:type=\"CanonicalUser\">" grantee "</Grantee>"                 \
	"<Permission>" perm "</Permission></Grant>"
#define USER(id) "<ID>" id "</ID>"

static void test_xml_malformed(void **state)
{
	struct acl got;
	static const char *const bad[] = {
		/* not well-formed */
		"",
		"garbage",
		"<AccessControlPolicy>",
		"<AccessControlPolicy><Owner><ID>" OWNER "</ID></Owner></AccessControlPolicyX>",
		"<AccessControlPolicy xmlns:xsi=\"x\"><Owner><ID>" OWNER
		"</ID></Owner><Grantee xsi:type=\"Group\" bad:type=\"x\"/></AccessControlPolicy>",
		/* entities are refused (no billion laughs) */
		"<!DOCTYPE a [<!ENTITY e \"" OWNER "\">]><AccessControlPolicy><Owner><ID>&e;</ID>"
		"</Owner></AccessControlPolicy>",
		/* the wrong root, no owner, no owner id, repeated owner */
		"<AccessControlList><Owner><ID>" OWNER "</ID></Owner></AccessControlList>",
		"<AccessControlPolicy><AccessControlList/></AccessControlPolicy>",
		"<AccessControlPolicy><Owner><DisplayName>x</DisplayName></Owner></"
		"AccessControlPolicy>",
		"<AccessControlPolicy><Owner><ID>" OWNER "</ID></Owner><Owner><ID>" OWNER
		"</ID></Owner></AccessControlPolicy>",
		"<AccessControlPolicy><Owner><ID>" OWNER "</ID><ID>" OWNER
		"</ID></Owner></AccessControlPolicy>",
		/* unknown elements, text where elements belong, elements in text */
		"<AccessControlPolicy><Owner><ID>" OWNER
		"</ID></Owner><Extra/></AccessControlPolicy>",
		"<AccessControlPolicy><Owner><ID>" OWNER "</ID><Email>x</Email></Owner>"
		"</AccessControlPolicy>",
		"<AccessControlPolicy>text<Owner><ID>" OWNER "</ID></Owner></AccessControlPolicy>",
		"<AccessControlPolicy><Owner><ID>" OWNER "<X/></ID></Owner></AccessControlPolicy>",
		POLICY("<Grant2/>"),
		POLICY("<AccessControlList/>"),
		POLICY("<Grant>x" USER(OTHER) "</Grant>"),
		POLICY("<Grant><Grantee>" USER(OTHER) "</Grantee><Permission>READ</Permission>"
						      "<Delivered>false</Delivered></Grant>"),
		POLICY(GRANT(USER(OTHER) "<Type>CanonicalUser</Type>", "READ")),
		POLICY(GRANT(USER(OTHER), "READ<X/>")),
		POLICY(GRANT("<ID>" OTHER "<X/></ID>", "READ")),
		POLICY("<AccessControlList>" GRANT(USER(OTHER), "READ") "</AccessControlList>"),
		/* a grant without grantee or permission, or with two */
		POLICY("<Grant><Permission>READ</Permission></Grant>"),
		POLICY("<Grant><Grantee " XSI
		       " xsi:type=\"CanonicalUser\">" USER(OTHER) "</Grantee></Grant>"),
		POLICY("<Grant><Grantee>" USER(OTHER) "</Grantee><Grantee>" USER(
			OTHER) "</Grantee><Permission>READ</Permission></Grant>"),
		POLICY("<Grant><Grantee>" USER(OTHER) "</Grantee><Permission>READ</Permission>"
						      "<Permission>WRITE</Permission></Grant>"),
		/* unknown permissions */
		POLICY(GRANT(USER(OTHER), "read")),
		POLICY(GRANT(USER(OTHER), "READ_WRITE")),
		POLICY(GRANT(USER(OTHER), "")),
		POLICY(GRANT(USER(OTHER), "FULL_CONTROL2")),
		POLICY(GRANT(USER(OTHER), "READ,WRITE")),
		/* unknown grantee kinds: none of ID / URI / EmailAddress, two of them,
		 * a repeated one, an element no kind has */
		POLICY(GRANT("", "READ")),
		POLICY(GRANT("<DisplayName>other</DisplayName>", "READ")),
		POLICY(GRANT(USER(OTHER) "<URI>" ACL_URI_ALL_USERS "</URI>", "READ")),
		POLICY(GRANT(USER(OTHER) "<EmailAddress>a@b</EmailAddress>", "READ")),
		POLICY(GRANT(USER(OTHER) USER(OTHER), "READ")),
		POLICY(GRANT("<CanonicalUser>" OTHER "</CanonicalUser>", "READ")),
		POLICY(GRANT("<Group>" ACL_URI_ALL_USERS "</Group>", "READ")),
	};
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (from_xml(bad[i], &got) != CN_EBADACL)
			fail_msg("not MalformedACLError: %s", bad[i]);
	/* a shape error wins over a foreign owner */
	assert_int_equal(from_xml("<AccessControlPolicy><Owner><ID>" OTHER
				  "</ID></Owner><X/></AccessControlPolicy>",
				  &got),
			 CN_EBADACL);
}

static void test_xml_owner(void **state)
{
	struct acl got;
	char err[128];
	(void)state;

	/* the owner cannot be changed through the ACL: AccessDenied */
	assert_int_equal(from_xml("<AccessControlPolicy><Owner><ID>" OTHER
				  "</ID></Owner></AccessControlPolicy>",
				  &got),
			 CN_EACCESS);
	assert_int_equal(
		from_xml("<AccessControlPolicy><Owner><ID></ID></Owner></AccessControlPolicy>",
			 &got),
		CN_EACCESS);
	assert_int_equal(from_xml("<AccessControlPolicy><Owner><ID>" OWNER
				  "0</ID></Owner></AccessControlPolicy>",
				  &got),
			 CN_EACCESS);
	/* the same id in upper case is the same owner */
	assert_int_equal(from_xml("<AccessControlPolicy><Owner><ID>"
				  "79A59DF900B949E55D96A1E698FBACEDFD6E09D98EACF8F8D5218E7CD47EF2BE"
				  "</ID></Owner></AccessControlPolicy>",
				  &got),
			 0);
	assert_string_equal(got.owner, OWNER);
	/* a foreign owner wins over a bad grantee */
	assert_int_equal(
		from_xml("<AccessControlPolicy><Owner><ID>" OTHER "</ID></Owner>"
			 "<AccessControlList>" GRANT(
				 USER(NOBODY), "READ") "</AccessControlList></AccessControlPolicy>",
			 &got),
		CN_EACCESS);
	/* the caller's owner must be a canonical id */
	assert_int_equal(acl_from_xml("<a/>", 4, "someone", &lk, &got, err, sizeof(err)),
			 CN_EINVAL);
}

static void test_xml_grantees(void **state)
{
	struct acl got, want;
	struct cn_buf b;
	char err[128];
	(void)state;

	/* unknown and malformed ids, unknown groups: InvalidArgument */
	assert_int_equal(from_xml(POLICY(GRANT(USER(NOBODY), "READ")), &got), CN_EBADARG);
	assert_int_equal(from_xml(POLICY(GRANT(USER("123456789012"), "READ")), &got), CN_EBADARG);
	assert_int_equal(from_xml(POLICY(GRANT(USER(""), "READ")), &got), CN_EBADARG);
	assert_int_equal(
		from_xml(POLICY(GRANT("<URI>http://acs.amazonaws.com/groups/global/Nobody</URI>",
				      "READ")),
			 &got),
		CN_EBADARG);
	/* email grantees: UnresolvableGrantByEmailAddress */
	assert_int_equal(
		from_xml(POLICY(GRANT("<EmailAddress>xyz@amazon.com</EmailAddress>", "READ")),
			 &got),
		CN_EEMAILGRANT);
	/* every group, every permission */
	assert_int_equal(from_xml(POLICY(GRANT("<URI>" ACL_URI_ALL_USERS "</URI>", "READ") GRANT(
					  "<URI>" ACL_URI_AUTH_USERS "</URI>", "WRITE")
						 GRANT("<URI>" ACL_URI_LOG_DELIVERY "</URI>",
						       "READ_ACP") GRANT(USER(THIRD), "WRITE_ACP")
							 GRANT(USER(BOWNER), "FULL_CONTROL")),
				  &got),
			 0);
	new_acl(&want, OWNER);
	set_grant(&want, ACL_GRANTEE_ALL_USERS, ACL_READ, NULL);
	set_grant(&want, ACL_GRANTEE_AUTH_USERS, ACL_WRITE, NULL);
	set_grant(&want, ACL_GRANTEE_LOG_DELIVERY, ACL_READ_ACP, NULL);
	set_grant(&want, ACL_GRANTEE_USER, ACL_WRITE_ACP, THIRD);
	set_grant(&want, ACL_GRANTEE_USER, ACL_FULL_CONTROL, BOWNER);
	acl_eq(&got, &want, "every group and permission");

	/* bigger than ACL_MAX_XML: refused before parsing */
	cn_buf_init(&b);
	cn_buf_puts(&b, "<AccessControlPolicy><Owner><ID>" OWNER "</ID></Owner>");
	while (b.len <= ACL_MAX_XML)
		cn_buf_puts(&b, "<!-- padding padding padding padding padding padding -->");
	cn_buf_puts(&b, "</AccessControlPolicy>");
	assert_int_equal(acl_from_xml(b.s, b.len, OWNER, &lk, &got, err, sizeof(err)), CN_ETOOBIG);
	/* the body need not be NUL-terminated: a length short of the end fails */
	assert_int_equal(acl_from_xml(POLICY(""), strlen(POLICY("")) - 1, OWNER, &lk, &got, err,
				      sizeof(err)),
			 CN_EBADACL);
	cn_buf_release(&b);
}

static void test_xml_grant_limit(void **state)
{
	struct acl got;
	struct cn_buf b;
	size_t mark;
	(void)state;

	cn_buf_init(&b);
	cn_buf_puts(&b,
		    "<AccessControlPolicy><Owner><ID>" OWNER "</ID></Owner><AccessControlList>");
	for (int i = 0; i < ACL_MAX_GRANTS; i++)
		cn_buf_puts(&b, GRANT(USER(OTHER), "READ"));
	mark = b.len;
	cn_buf_puts(&b, "</AccessControlList></AccessControlPolicy>");
	assert_int_equal(from_xml(b.s, &got), 0);
	assert_int_equal(got.n, ACL_MAX_GRANTS);

	b.len = mark;
	cn_buf_puts(&b, GRANT(USER(OTHER), "READ") "</AccessControlList></AccessControlPolicy>");
	assert_int_equal(from_xml(b.s, &got), CN_EBADACL);
	/* ... even when the 101st would also be bad in another way */
	b.len = mark;
	cn_buf_puts(&b, GRANT(USER(NOBODY), "READ") "</AccessControlList></AccessControlPolicy>");
	assert_int_equal(from_xml(b.s, &got), CN_EBADACL);
	cn_buf_release(&b);
}

/* ---- one form per request ---- */

static void test_request(void **state)
{
	struct acl got, want;
	struct acl_request rq;
	const char *body = POLICY(GRANT(USER(OTHER), "READ"));
	char err[128];
	(void)state;

	memset(&rq, 0, sizeof(rq));
	rq.owner_id = OWNER;
	rq.bucket_owner_id = BOWNER;
	rq.lk = &lk;

	/* nothing: the caller's default */
	assert_int_equal(acl_from_request(&rq, &got, err, sizeof(err)), CN_ENOTFOUND);
	rq.body = "";
	assert_int_equal(acl_from_request(&rq, &got, err, sizeof(err)), CN_ENOTFOUND);

	/* each form alone */
	rq.canned = "bucket-owner-read";
	assert_int_equal(acl_from_request(&rq, &got, err, sizeof(err)), 0);
	new_acl(&want, OWNER);
	set_grant(&want, ACL_GRANTEE_USER, ACL_FULL_CONTROL, OWNER);
	set_grant(&want, ACL_GRANTEE_USER, ACL_READ, BOWNER);
	acl_eq(&got, &want, "canned");
	rq.for_bucket = 1;
	assert_int_equal(acl_from_request(&rq, &got, err, sizeof(err)), 0);
	assert_int_equal(got.n, 1);
	rq.canned = "nope";
	assert_int_equal(acl_from_request(&rq, &got, err, sizeof(err)), CN_EBADARG);
	rq.canned = NULL;

	new_acl(&want, OWNER);
	set_grant(&want, ACL_GRANTEE_USER, ACL_READ, OTHER);
	rq.grants.read = "id=\"" OTHER "\"";
	assert_int_equal(acl_from_request(&rq, &got, err, sizeof(err)), 0);
	acl_eq(&got, &want, "headers");
	rq.grants.read = NULL;

	rq.body = body;
	rq.body_len = strlen(body);
	assert_int_equal(acl_from_request(&rq, &got, err, sizeof(err)), 0);
	acl_eq(&got, &want, "body");

	/* two forms: InvalidRequest */
	rq.canned = "private";
	assert_int_equal(acl_from_request(&rq, &got, err, sizeof(err)), CN_EACLCONFLICT);
	rq.body = NULL;
	rq.body_len = 0;
	rq.grants.write_acp = "id=\"" OTHER "\"";
	assert_int_equal(acl_from_request(&rq, &got, err, sizeof(err)), CN_EACLCONFLICT);
	assert_string_equal(err, "Specifying both Canned ACLs and Header Grants is not allowed");
	rq.canned = NULL;
	rq.body = body;
	rq.body_len = strlen(body);
	assert_int_equal(acl_from_request(&rq, &got, err, sizeof(err)), CN_EACLCONFLICT);
	/* ... whether or not each would be valid alone */
	rq.grants.write_acp = "garbage";
	assert_int_equal(acl_from_request(&rq, &got, err, sizeof(err)), CN_EACLCONFLICT);
}

/* ---- XML out ---- */

static void test_to_xml(void **state)
{
	struct acl a;
	struct cn_buf w;
	static const char want[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<AccessControlPolicy xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<Owner><ID>" OWNER "</ID><DisplayName>owner</DisplayName></Owner>"
		"<AccessControlList>"
		"<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
		"xsi:type=\"CanonicalUser\"><ID>" OWNER "</ID><DisplayName>owner</DisplayName>"
		"</Grantee><Permission>FULL_CONTROL</Permission></Grant>"
		"<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
		"xsi:type=\"Group\"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI>"
		"</Grantee><Permission>READ</Permission></Grant>"
		"<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
		"xsi:type=\"Group\"><URI>http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
		"</URI></Grantee><Permission>WRITE</Permission></Grant>"
		"<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
		"xsi:type=\"Group\"><URI>http://acs.amazonaws.com/groups/s3/LogDelivery</URI>"
		"</Grantee><Permission>READ_ACP</Permission></Grant>"
		"<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
		"xsi:type=\"CanonicalUser\"><ID>" OTHER "</ID>"
		"<DisplayName>other &amp; &lt;co&gt;</DisplayName>"
		"</Grantee><Permission>WRITE_ACP</Permission></Grant>"
		"<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
		"xsi:type=\"CanonicalUser\"><ID>" BOWNER "</ID>"
		"</Grantee><Permission>READ</Permission></Grant>"
		"</AccessControlList></AccessControlPolicy>";
	static const char want_anon[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<AccessControlPolicy xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<Owner><ID>" OWNER "</ID></Owner><AccessControlList>"
		"<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
		"xsi:type=\"CanonicalUser\"><ID>" OWNER "</ID></Grantee>"
		"<Permission>FULL_CONTROL</Permission></Grant>"
		"</AccessControlList></AccessControlPolicy>";
	static const char want_empty[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<AccessControlPolicy xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<Owner><ID>" OWNER "</ID><DisplayName>owner</DisplayName></Owner>"
		"<AccessControlList></AccessControlList></AccessControlPolicy>";
	(void)state;

	new_acl(&a, OWNER);
	set_grant(&a, ACL_GRANTEE_USER, ACL_FULL_CONTROL, OWNER);
	set_grant(&a, ACL_GRANTEE_ALL_USERS, ACL_READ, NULL);
	set_grant(&a, ACL_GRANTEE_AUTH_USERS, ACL_WRITE, NULL);
	set_grant(&a, ACL_GRANTEE_LOG_DELIVERY, ACL_READ_ACP, NULL);
	set_grant(&a, ACL_GRANTEE_USER, ACL_WRITE_ACP, OTHER);
	set_grant(&a, ACL_GRANTEE_USER, ACL_READ, BOWNER); /* no display name */
	cn_buf_init(&w);
	acl_to_xml(&a, &w, &lk);
	assert_int_equal(w.err, 0);
	assert_string_equal(w.s, want);
	assert_int_equal(w.len, strlen(want));

	/* no lookup: no DisplayName anywhere */
	cn_buf_reset(&w);
	assert_int_equal(acl_canned("private", OWNER, NULL, 1, &a), 0);
	acl_to_xml(&a, &w, NULL);
	assert_string_equal(w.s, want_anon);

	cn_buf_reset(&w);
	new_acl(&a, OWNER);
	acl_to_xml(&a, &w, &lk);
	assert_string_equal(w.s, want_empty);
	cn_buf_release(&w);
}

/* What GetBucketAcl returns, PutBucketAcl takes back unchanged (as
 * `aws s3api get-bucket-acl` piped into put-bucket-acl does). */
static void test_xml_round_trip(void **state)
{
	static const char *const canned[] = {"private",
					     "public-read",
					     "public-read-write",
					     "authenticated-read",
					     "log-delivery-write",
					     "bucket-owner-full-control"};
	struct acl a, b;
	struct cn_buf w;
	(void)state;

	cn_buf_init(&w);
	for (size_t i = 0; i < sizeof(canned) / sizeof(canned[0]); i++) {
		assert_int_equal(acl_canned(canned[i], OWNER, OTHER, 0, &a), 0);
		cn_buf_reset(&w);
		acl_to_xml(&a, &w, &lk);
		assert_int_equal(from_xml(w.s, &b), 0);
		acl_eq(&b, &a, canned[i]);
	}
	cn_buf_release(&w);
}

/* ---- binary encoding ---- */

static void round_trip(const struct acl *a, size_t want_len)
{
	struct cn_buf w;
	struct acl b;
	uint8_t *copy;

	cn_buf_init(&w);
	assert_int_equal(acl_encode(a, &w), 0);
	assert_int_equal(w.len, want_len);
	assert_int_equal(acl_decode(w.p, w.len, &b), 0);
	acl_eq(&b, a, "decoded");

	/* every truncation is refused (copied, so ASan sees reads past it) */
	for (size_t n = 0; n < w.len; n++) {
		copy = malloc(n ? n : 1);
		assert_non_null(copy);
		memcpy(copy, w.p, n);
		if (acl_decode(copy, n, &b) != CN_ECORRUPT)
			fail_msg("truncation to %zu of %zu bytes accepted", n, w.len);
		free(copy);
	}
	/* ... and so is any trailing byte */
	for (int extra = 0; extra < 256; extra += 51) {
		copy = malloc(w.len + 1);
		assert_non_null(copy);
		memcpy(copy, w.p, w.len);
		copy[w.len] = (uint8_t)extra;
		assert_int_equal(acl_decode(copy, w.len + 1, &b), CN_ECORRUPT);
		free(copy);
	}
	cn_buf_release(&w);
}

static void test_encode_round_trip(void **state)
{
	struct acl a;
	(void)state;

	new_acl(&a, OWNER);
	round_trip(&a, 34);
	assert_int_equal(acl_canned("private", OWNER, NULL, 1, &a), 0);
	round_trip(&a, 35 + 32);
	assert_int_equal(acl_canned("public-read-write", OWNER, NULL, 1, &a), 0);
	round_trip(&a, 34 + 33 + 2);
	assert_int_equal(acl_canned("log-delivery-write", OWNER, NULL, 1, &a), 0);
	round_trip(&a, 34 + 33 + 2);
	assert_int_equal(acl_canned("bucket-owner-read", OTHER, BOWNER, 0, &a), 0);
	round_trip(&a, 34 + 2 * 33);

	new_acl(&a, OWNER);
	for (int i = 0; i < ACL_MAX_GRANTS; i++) {
		static const int perms[] = {ACL_READ, ACL_WRITE, ACL_READ_ACP, ACL_WRITE_ACP,
					    ACL_FULL_CONTROL};
		char id[ACL_ID_LEN + 1];
		snprintf(id, sizeof(id), "%064x", i * 7919);
		if (i % 3 == 0)
			set_grant(&a, ACL_GRANTEE_USER, perms[i % 5], id);
		else
			set_grant(&a, 2 + i % 3, perms[i % 5], NULL);
	}
	round_trip(&a, 34 + 100 + 34 * 32);
	/* every kind of id byte survives */
	new_acl(&a, "00ff7f80a5c3e10fedcba98765432100123456789abcdef0f0f0f0ffffffffff");
	set_grant(&a, ACL_GRANTEE_USER, ACL_READ,
		  "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
	set_grant(&a, ACL_GRANTEE_USER, ACL_READ,
		  "0000000000000000000000000000000000000000000000000000000000000000");
	round_trip(&a, 34 + 2 * 33);
}

static void test_decode_rejects(void **state)
{
	struct acl a, b;
	struct cn_buf w;
	uint8_t *p;
	(void)state;

	assert_int_equal(acl_canned("public-read", OWNER, NULL, 1, &a), 0);
	cn_buf_init(&w);
	assert_int_equal(acl_encode(&a, &w), 0);
	p = w.p; /* 0: version, 1..32: owner, 33: n, 34: user grant, 67: group grant */
	assert_int_equal(w.len, 68);

	/* an unknown format version */
	for (int v = 0; v < 256; v++) {
		if (v == 1)
			continue;
		p[0] = (uint8_t)v;
		assert_int_equal(acl_decode(p, w.len, &b), CN_EFORMAT);
	}
	p[0] = 1;
	/* a count over the limit, or one that disagrees with the bytes */
	for (int n = 0; n < 256; n++) {
		if (n == 2)
			continue;
		p[33] = (uint8_t)n;
		assert_int_equal(acl_decode(p, w.len, &b), CN_ECORRUPT);
	}
	p[33] = 2;
	/* every grant byte but the valid (type, perm) pairs */
	for (int x = 0; x < 256; x++) {
		int type = x >> 4, perm = x & 15, ok;
		p[67] = (uint8_t)x;
		ok = type >= 2 && type <= 4 &&
		     (perm == 1 || perm == 2 || perm == 4 || perm == 8 || perm == 15);
		if (type == 1) /* a user grant wants 32 more bytes than remain */
			ok = 0;
		if ((acl_decode(p, w.len, &b) == 0) != ok)
			fail_msg("grant byte 0x%02x misjudged", x);
	}
	p[67] = 0x21;
	assert_int_equal(acl_decode(p, w.len, &b), 0);
	acl_eq(&b, &a, "restored");
	cn_buf_release(&w);

	/* nothing at all */
	assert_int_equal(acl_decode("", 0, &b), CN_ECORRUPT);
}

static void test_encode_rejects(void **state)
{
	struct acl a, good;
	struct cn_buf w;
	(void)state;

	assert_int_equal(acl_canned("public-read", OWNER, NULL, 1, &good), 0);
	cn_buf_init(&w);

	a = good;
	a.owner[3] = 'G';
	assert_int_equal(acl_encode(&a, &w), CN_EINVAL);
	a = good;
	a.owner[0] = 'A'; /* canonical ids are lower-case */
	assert_int_equal(acl_encode(&a, &w), CN_EINVAL);
	a = good;
	a.n = ACL_MAX_GRANTS + 1;
	assert_int_equal(acl_encode(&a, &w), CN_EINVAL);
	a = good;
	a.g[1].perm = 3;
	assert_int_equal(acl_encode(&a, &w), CN_EINVAL);
	a = good;
	a.g[1].type = 5;
	assert_int_equal(acl_encode(&a, &w), CN_EINVAL);
	a = good;
	a.g[1].type = 0;
	assert_int_equal(acl_encode(&a, &w), CN_EINVAL);
	a = good;
	a.g[0].id[10] = 0;
	assert_int_equal(acl_encode(&a, &w), CN_EINVAL);
	a = good;
	snprintf(a.g[1].id, sizeof(a.g[1].id), "%s", OTHER); /* a group with an id */
	assert_int_equal(acl_encode(&a, &w), CN_EINVAL);
	assert_int_equal(w.len, 0); /* nothing was appended */
	cn_buf_release(&w);
}

/* ---- checks ---- */

enum { R = 1, W = 2, RA = 4, WA = 8 };

/* The requesters of the matrix. */
static const struct {
	const char *name, *id;
	int authenticated;
} who[] = {
	{"owner", OWNER, 1},
	{"other user", OTHER, 1},
	{"anonymous", NULL, 0},
	{"authenticated", THIRD, 1},
};

static void expect_matrix(const struct acl *a, const char *what, const int want[4])
{
	static const int perms[] = {ACL_READ, ACL_WRITE, ACL_READ_ACP, ACL_WRITE_ACP};

	for (int i = 0; i < 4; i++)
		for (int p = 0; p < 4; p++) {
			int got = acl_allows(a, who[i].id, who[i].authenticated, perms[p]);
			int exp = (want[i] & perms[p]) != 0;
			if (got != exp)
				fail_msg("%s: %s %s: got %d, want %d", what, who[i].name,
					 acl_perm_name(perms[p]), got, exp);
		}
}

static void test_allows_matrix(void **state)
{
	struct acl a;
	struct acl_headers h;
	(void)state;

	/*                                   owner         other      anon   auth */
	static const int pub_read[4] = {R | W | RA | WA, R, R, R};
	static const int pub_rw[4] = {R | W | RA | WA, R | W, R | W, R | W};
	static const int auth_read[4] = {R | W | RA | WA, R, 0, R};
	static const int priv[4] = {R | W | RA | WA, 0, 0, 0};
	static const int full_other[4] = {R | W | RA | WA, R | W | RA | WA, 0, 0};
	static const int no_owner_grant[4] = {RA | WA, R | RA, 0, 0};
	static const int log_write[4] = {R | W | RA | WA, 0, 0, 0};

	assert_int_equal(acl_canned("public-read", OWNER, NULL, 1, &a), 0);
	expect_matrix(&a, "public-read", pub_read);
	assert_int_equal(acl_canned("public-read-write", OWNER, NULL, 1, &a), 0);
	expect_matrix(&a, "public-read-write", pub_rw);
	assert_int_equal(acl_canned("authenticated-read", OWNER, NULL, 1, &a), 0);
	expect_matrix(&a, "authenticated-read", auth_read);
	assert_int_equal(acl_canned("private", OWNER, NULL, 1, &a), 0);
	expect_matrix(&a, "private", priv);
	assert_int_equal(acl_canned("log-delivery-write", OWNER, NULL, 1, &a), 0);
	expect_matrix(&a, "log-delivery-write", log_write);
	/* FULL_CONTROL to another user, the owner's own grant kept */
	assert_int_equal(acl_canned("private", OWNER, NULL, 1, &a), 0);
	set_grant(&a, ACL_GRANTEE_USER, ACL_FULL_CONTROL, OTHER);
	expect_matrix(&a, "full control to other", full_other);
	/* the owner granted itself nothing: it keeps READ_ACP and WRITE_ACP
	 * only; the other user's READ and READ_ACP come from two grants */
	memset(&h, 0, sizeof(h));
	h.read = "id=\"" OTHER "\"";
	h.read_acp = "id=\"" OTHER "\"";
	assert_int_equal(acl_from_headers(&h, OWNER, &lk, &a, NULL, 0), 0);
	expect_matrix(&a, "no owner grant", no_owner_grant);
}

static void test_allows_edges(void **state)
{
	struct acl a;
	(void)state;

	assert_int_equal(acl_canned("private", OWNER, NULL, 1, &a), 0);
	set_grant(&a, ACL_GRANTEE_USER, ACL_READ, OTHER);
	set_grant(&a, ACL_GRANTEE_ALL_USERS, ACL_WRITE, NULL);
	/* an id without authentication is anonymous: not the owner, not OTHER */
	assert_int_equal(acl_allows(&a, OWNER, 0, ACL_READ_ACP), 0);
	assert_int_equal(acl_allows(&a, OTHER, 0, ACL_READ), 0);
	assert_int_equal(acl_allows(&a, OTHER, 0, ACL_WRITE), 1);
	/* authenticated without a canonical id: groups only */
	assert_int_equal(acl_allows(&a, NULL, 1, ACL_WRITE), 1);
	assert_int_equal(acl_allows(&a, NULL, 1, ACL_READ), 0);
	/* several bits: all must be granted, from any mix of grants */
	assert_int_equal(acl_allows(&a, OTHER, 1, ACL_READ | ACL_WRITE), 1);
	assert_int_equal(acl_allows(&a, OTHER, 1, ACL_FULL_CONTROL), 0);
	assert_int_equal(acl_allows(&a, OWNER, 1, ACL_FULL_CONTROL), 1);
	/* out of range */
	assert_int_equal(acl_allows(&a, OWNER, 1, (enum acl_perm)0), 0);
	assert_int_equal(acl_allows(&a, OWNER, 1, (enum acl_perm)16), 0);
	assert_int_equal(acl_allows(&a, OWNER, 1, (enum acl_perm) - 1), 0);
	/* an id is matched whole */
	assert_int_equal(acl_allows(&a, "0123456789abcdef", 1, ACL_READ), 0);
}

static void test_is_public(void **state)
{
	static const struct {
		const char *canned;
		int is_public;
	} cases[] = {
		{"private", 0},
		{"public-read", 1},
		{"public-read-write", 1},
		{"authenticated-read", 1},
		{"aws-exec-read", 0},
		{"bucket-owner-read", 0},
		{"bucket-owner-full-control", 0},
		{"log-delivery-write", 0},
	};
	struct acl a;
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(acl_canned(cases[i].canned, OWNER, BOWNER, 0, &a), 0);
		if (acl_is_public(&a) != cases[i].is_public)
			fail_msg("%s: acl_is_public is %d", cases[i].canned, !cases[i].is_public);
	}
	/* any permission to a public group counts, WRITE_ACP included */
	new_acl(&a, OWNER);
	assert_int_equal(acl_is_public(&a), 0);
	set_grant(&a, ACL_GRANTEE_USER, ACL_FULL_CONTROL, OTHER);
	set_grant(&a, ACL_GRANTEE_LOG_DELIVERY, ACL_FULL_CONTROL, NULL);
	assert_int_equal(acl_is_public(&a), 0);
	set_grant(&a, ACL_GRANTEE_AUTH_USERS, ACL_WRITE_ACP, NULL);
	assert_int_equal(acl_is_public(&a), 1);
}

static void test_helpers(void **state)
{
	(void)state;
	assert_true(acl_id_valid(OWNER));
	assert_false(acl_id_valid(NULL));
	assert_false(acl_id_valid(""));
	assert_false(acl_id_valid(OWNER "0"));
	assert_false(
		acl_id_valid("79A59DF900B949E55D96A1E698FBACEDFD6E09D98EACF8F8D5218E7CD47EF2BE"));
	assert_string_equal(acl_perm_name(ACL_READ_ACP), "READ_ACP");
	assert_string_equal(acl_perm_name(ACL_FULL_CONTROL), "FULL_CONTROL");
	assert_null(acl_perm_name(3));
	assert_null(acl_perm_name(0));
	/* the lookup is asked only about well-formed ids (checked inside it) */
	exists_calls = 0;
	{
		struct acl a;
		struct acl_headers h = {.read = "id=\"nothex\""};
		assert_int_equal(acl_from_headers(&h, OWNER, &lk, &a, NULL, 0), CN_EBADARG);
		assert_int_equal(exists_calls, 0);
	}
}

/* The codes this module adds reach clients as AWS names them. */
static void test_error_mapping(void **state)
{
	const struct s3_error *e;
	(void)state;

	e = s3_error_lookup(CN_EBADACL);
	assert_int_equal(e->status, 400);
	assert_string_equal(e->code, "MalformedACLError");
	e = s3_error_lookup(CN_EEMAILGRANT);
	assert_int_equal(e->status, 400);
	assert_string_equal(e->code, "UnresolvableGrantByEmailAddress");
	e = s3_error_lookup(CN_EACLCONFLICT);
	assert_int_equal(e->status, 400);
	assert_string_equal(e->code, "InvalidRequest");
	assert_string_equal(s3_error_lookup(CN_EBADARG)->code, "InvalidArgument");
	assert_string_equal(s3_error_lookup(CN_EACCESS)->code, "AccessDenied");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canned_bucket),
		cmocka_unit_test(test_canned_object),
		cmocka_unit_test(test_canned_errors),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_headers_errors),
		cmocka_unit_test(test_headers_limit),
		cmocka_unit_test(test_xml_aws_docs_sample),
		cmocka_unit_test(test_xml_clients),
		cmocka_unit_test(test_xml_malformed),
		cmocka_unit_test(test_xml_owner),
		cmocka_unit_test(test_xml_grantees),
		cmocka_unit_test(test_xml_grant_limit),
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_to_xml),
		cmocka_unit_test(test_xml_round_trip),
		cmocka_unit_test(test_encode_round_trip),
		cmocka_unit_test(test_decode_rejects),
		cmocka_unit_test(test_encode_rejects),
		cmocka_unit_test(test_allows_matrix),
		cmocka_unit_test(test_allows_edges),
		cmocka_unit_test(test_is_public),
		cmocka_unit_test(test_helpers),
		cmocka_unit_test(test_error_mapping),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests_name("s3/test_acl", tests, NULL, NULL);
}
