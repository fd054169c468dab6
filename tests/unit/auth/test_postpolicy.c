/*
 * Unit tests for auth/postpolicy: the AWS documentation's SigV4 POST example
 * (its policy, base64 form, credentials and signature) parsed, verified and
 * checked against the example form, also end to end through
 * http/formdata; a SigV2 form signature (HMAC-SHA1 over the SigV2
 * documentation's example policy, computed with Python's hmac); every
 * condition type passing and failing with S3's messages; extra and missing
 * fields; expiry; content-length-range bounds; ${filename}; and every way a
 * policy document can be malformed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/postpolicy.h"
#include "core/digest.h"
#include "core/err.h"
#include "http/formdata.h"

#define AKID "AKIAIOSFODNN7EXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
/* The SigV2 POST documentation's example credentials. */
#define AKID2 "15B4D3461F177624206A"
#define SECRET2 "uV3F3YluFJax1cknvbcGwgjvx4QpvB+leU8dUj2o"

#define T_DOC ((time_t)1451347200) /* 20151229T000000Z */
#define T_EXP ((time_t)1451476800) /* 2015-12-30T12:00:00Z */

/* "Example: Browser-Based Upload using HTTP POST (Using AWS Signature
 * Version 4)": the policy exactly as the page base64-encodes it (CRLF line
 * ends), and the signature the page gives. */
#define DOC_POLICY                                                                                 \
	"eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAg" \
	"ICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAi" \
	"dXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25f" \
	"cmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxf" \
	"dXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQog" \
	"ICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRl" \
	"LWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAi" \
	"Il0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMt" \
	"ZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEy" \
	"NTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9"
#define DOC_SIG "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e"
#define DOC_CRED AKID "/20151229/us-east-1/s3/aws4_request"

/* The SigV2 documentation's example policy (note its trailing commas) and
 * base64(HMAC-SHA1(SECRET2, it)), computed with Python's hmac module. */
#define V2_POLICY                                                                                  \
	"eyAiZXhwaXJhdGlvbiI6ICIyMDA3LTEyLTAxVDEyOjAwOjAwLjAwMFoiLAogICJjb25kaXRpb25zIjogWwogICAg" \
	"eyJidWNrZXQiOiAiam9obnNtaXRoIiB9LAogICAgWyJzdGFydHMtd2l0aCIsICIka2V5IiwgInVzZXIvZXJpYy8i" \
	"XSwKICAgIHsiYWNsIjogInB1YmxpYy1yZWFkIiB9LAogICAgeyJyZWRpcmVjdCI6ICJodHRwOi8vam9obnNtaXRo" \
	"LnMzLmFtYXpvbmF3cy5jb20vc3VjY2Vzc2Z1bF91cGxvYWQuaHRtbCIgfSwKICAgIFsic3RhcnRzLXdpdGgiLCAi" \
	"JENvbnRlbnQtVHlwZSIsICJpbWFnZS8iXSwKICAgIHsieC1hbXotbWV0YS11dWlkIjogIjE0MzY1MTIzNjUxMjc0" \
	"In0sCiAgICBbInN0YXJ0cy13aXRoIiwgIiR4LWFtei1tZXRhLXRhZyIsICIiXSwKICBdCn0K"
#define V2_SIG "2qCp0odXe7A9IYyUVqn0w2adtCA="

static int get_secret(void *arg, const char *ak, char *out, size_t cap)
{
	int *calls = arg;
	if (calls)
		(*calls)++;
	if (strcmp(ak, AKID) == 0)
		snprintf(out, cap, "%s", SECRET);
	else if (strcmp(ak, AKID2) == 0)
		snprintf(out, cap, "%s", SECRET2);
	else if (strcmp(ak, "BROKEN") == 0)
		return CN_EIO;
	else
		return CN_EBADKEYID;
	return 0;
}

#define F(n, v)                                                                                    \
	{                                                                                          \
		n, sizeof(n) - 1, v, sizeof(v) - 1                                                 \
	}

/* The example page's form, ${filename} already replaced, plus the bucket
 * the request addresses. */
static struct postpolicy_field doc_fields[] = {
	F("key", "user/user1/photo.jpg"),
	F("acl", "public-read"),
	F("success_action_redirect",
	  "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html"),
	F("Content-Type", "image/jpeg"),
	F("x-amz-meta-uuid", "14365123651274"),
	F("x-amz-server-side-encryption", "AES256"),
	F("X-Amz-Credential", DOC_CRED),
	F("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
	F("X-Amz-Date", "20151229T000000Z"),
	F("x-amz-meta-tag", ""),
	F("Policy", DOC_POLICY),
	F("X-Amz-Signature", DOC_SIG),
	F("bucket", "sigv4examplebucket"),
};
#define N_DOC (sizeof(doc_fields) / sizeof(doc_fields[0]))

/* base64 of a JSON text (owned, free() it) */
static char *enc(const char *json)
{
	size_t len = strlen(json);
	char *out = malloc(cn_b64_len(len) + 1);
	assert_non_null(out);
	assert_int_equal(cn_b64_encode((const uint8_t *)json, len, out, cn_b64_len(len) + 1),
			 cn_b64_len(len));
	return out;
}

/* Parses a JSON policy at T_DOC; returns the code, *p on success. */
static int parse_json(const char *json, struct postpolicy **p, char *err, size_t cap)
{
	char *b = enc(json);
	int rc = postpolicy_parse(b, strlen(b), T_DOC, p, err, cap);
	free(b);
	return rc;
}

#define EXP "\"expiration\": \"2015-12-30T12:00:00.000Z\""

/* ---- the documentation's example ---- */

static void test_doc_example_v4(void **state)
{
	(void)state;
	struct postpolicy_auth a;
	struct postpolicy *p;
	char err[256], ak[SIGV4_MAX_ACCESS_KEY + 1];
	uint64_t lo, hi;
	int calls = 0;

	assert_int_equal(postpolicy_auth_from_fields(doc_fields, N_DOC, &a, err, sizeof(err)), 0);
	assert_int_equal(a.kind, POSTPOLICY_V4);
	assert_int_equal(
		postpolicy_verify_v4(&a, "us-east-1", get_secret, &calls, ak, err, sizeof(err)), 0);
	assert_string_equal(ak, AKID);
	assert_int_equal(calls, 1);
	assert_int_equal(postpolicy_verify_v4(&a, NULL, get_secret, NULL, ak, err, sizeof(err)), 0);

	assert_int_equal(
		postpolicy_parse(DOC_POLICY, strlen(DOC_POLICY), T_DOC, &p, err, sizeof(err)), 0);
	assert_int_equal(postpolicy_expiration(p), T_EXP);
	postpolicy_length_range(p, &lo, &hi);
	assert_int_equal(lo, 0);
	assert_true(hi == UINT64_MAX);
	assert_int_equal(postpolicy_length_ok(p, 0), 0);
	assert_int_equal(postpolicy_length_ok(p, UINT64_MAX), 0);
	assert_int_equal(postpolicy_check(p, doc_fields, N_DOC, err, sizeof(err)), 0);

	/* the bucket of the request is matched too */
	struct postpolicy_field f[N_DOC];
	memcpy(f, doc_fields, sizeof(f));
	f[N_DOC - 1].value = "otherbucket";
	f[N_DOC - 1].value_len = 11;
	assert_int_equal(postpolicy_check(p, f, N_DOC, err, sizeof(err)), CN_EACCESS);
	assert_string_equal(err, "Invalid according to Policy: Policy Condition failed: "
				 "[\"eq\", \"$bucket\", \"sigv4examplebucket\"]");
	/* a key outside user/user1/ */
	memcpy(f, doc_fields, sizeof(f));
	f[0].value = "user/user2/photo.jpg";
	assert_int_equal(postpolicy_check(p, f, N_DOC, err, sizeof(err)), CN_EACCESS);
	assert_string_equal(err, "Invalid according to Policy: Policy Condition failed: "
				 "[\"starts-with\", \"$key\", \"user/user1/\"]");
	/* a field the policy does not name */
	struct postpolicy_field more[N_DOC + 1];
	memcpy(more, doc_fields, sizeof(doc_fields));
	more[N_DOC] = (struct postpolicy_field)F("X-Amz-Meta-Color", "red");
	assert_int_equal(postpolicy_check(p, more, N_DOC + 1, err, sizeof(err)), CN_EACCESS);
	assert_string_equal(err,
			    "Invalid according to Policy: Extra input fields: X-Amz-Meta-Color");
	/* the same policy a day and a half later */
	postpolicy_free(p);
	assert_int_equal(
		postpolicy_parse(DOC_POLICY, strlen(DOC_POLICY), T_EXP, &p, err, sizeof(err)),
		CN_EEXPIRED);
	assert_null(p);
	assert_string_equal(err, "Invalid according to Policy: Policy expired.");
}

static void test_v4_rejections(void **state)
{
	(void)state;
	struct postpolicy_auth a, good;
	char err[256], ak[SIGV4_MAX_ACCESS_KEY + 1];
	char sig[65], pol[sizeof(DOC_POLICY)];

	assert_int_equal(postpolicy_auth_from_fields(doc_fields, N_DOC, &good, err, sizeof(err)),
			 0);
#define V4(region) postpolicy_verify_v4(&a, region, get_secret, NULL, ak, err, sizeof(err))
	/* the signature: one digit off, short, not hex; upper case is the same number */
	a = good;
	memcpy(sig, DOC_SIG, 65);
	sig[63] = '0';
	a.signature = sig;
	assert_int_equal(V4("us-east-1"), CN_EBADSIG);
	assert_non_null(strstr(err, "signature we calculated does not match"));
	a.signature_len = 63;
	assert_int_equal(V4("us-east-1"), CN_EBADSIG);
	memcpy(sig, DOC_SIG, 65);
	sig[0] = 'g';
	a.signature_len = 64;
	assert_int_equal(V4("us-east-1"), CN_EBADSIG);
	for (int i = 0; i < 64; i++)
		sig[i] = (char)(DOC_SIG[i] >= 'a' ? DOC_SIG[i] - 32 : DOC_SIG[i]);
	assert_int_equal(V4("us-east-1"), 0);
	/* the policy is what is signed: one byte of it changed */
	a = good;
	memcpy(pol, DOC_POLICY, sizeof(pol));
	pol[10] = pol[10] == 'A' ? 'B' : 'A';
	a.policy = pol;
	assert_int_equal(V4("us-east-1"), CN_EBADSIG);
	/* region, key, secret lookup failing */
	a = good;
	assert_int_equal(V4("eu-west-1"), CN_EBADREGION);
	assert_string_equal(err, "the region 'us-east-1' is wrong; expecting 'eu-west-1'");
	a.credential = "AKIAUNKNOWN/20151229/us-east-1/s3/aws4_request";
	a.credential_len = strlen(a.credential);
	assert_int_equal(V4("us-east-1"), CN_EBADKEYID);
	a.credential = "BROKEN/20151229/us-east-1/s3/aws4_request";
	a.credential_len = strlen(a.credential);
	assert_int_equal(V4("us-east-1"), CN_EIO);
	/* malformed credentials */
	static const char *const creds[] = {
		"/20151229/us-east-1/s3/aws4_request",
		AKID "/2015122/us-east-1/s3/aws4_request",
		AKID "/20151229//s3/aws4_request",
		AKID "/20151229/us-east-1/ec2/aws4_request",
		AKID "/20151229/us-east-1/S3/aws4_request",
		AKID "/20151229/us-east-1/s3/aws4_requesT",
		AKID "/20151229/us-east-1/s3",
		AKID "/20151229/us-east-1/s3/aws4_request/",
		"AKIA IOSF/20151229/us-east-1/s3/aws4_request",
		"",
	};
	for (size_t i = 0; i < sizeof(creds) / sizeof(creds[0]); i++) {
		a = good;
		a.credential = creds[i];
		a.credential_len = strlen(creds[i]);
		assert_int_equal(V4("us-east-1"), CN_EBADAUTH);
		assert_non_null(strstr(err, "Credential is mal-formed"));
	}
	/* the credential's day must be x-amz-date's */
	a = good;
	a.credential = AKID "/20151228/us-east-1/s3/aws4_request";
	a.credential_len = strlen(a.credential);
	assert_int_equal(V4("us-east-1"), CN_EBADAUTH);
	a = good;
	a.date = "2015-12-29T00:00:00Z";
	a.date_len = strlen(a.date);
	assert_int_equal(V4("us-east-1"), CN_EBADDATE);
	a = good;
	a.algorithm = "AWS4-HMAC-SHA1";
	a.algorithm_len = strlen(a.algorithm);
	assert_int_equal(V4("us-east-1"), CN_EBADAUTH);
	a.algorithm = "aws4-hmac-sha256";
	assert_int_equal(V4("us-east-1"), CN_EBADAUTH);
	/* each required field missing */
	static const struct {
		size_t off;
		const char *name;
	} req[] = {
		{offsetof(struct postpolicy_auth, policy), "'policy'"},
		{offsetof(struct postpolicy_auth, algorithm), "'x-amz-algorithm'"},
		{offsetof(struct postpolicy_auth, credential), "'x-amz-credential'"},
		{offsetof(struct postpolicy_auth, date), "'x-amz-date'"},
		{offsetof(struct postpolicy_auth, signature), "'x-amz-signature'"},
	};
	for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++) {
		a = good;
		*(const char **)((char *)&a + req[i].off) = NULL;
		assert_int_equal(V4("us-east-1"), CN_EBADAUTH);
		assert_non_null(strstr(err, req[i].name));
		assert_non_null(strstr(err, "Bucket POST must contain a field named"));
	}
#undef V4
}

static void test_auth_fields(void **state)
{
	(void)state;
	struct postpolicy_auth a;
	char err[256];
	struct postpolicy_field anon[] = {F("key", "k"), F("policy", "p"), F("bucket", "b")};
	assert_int_equal(postpolicy_auth_from_fields(anon, 3, &a, err, sizeof(err)), 0);
	assert_int_equal(a.kind, POSTPOLICY_ANONYMOUS);
	assert_memory_equal(a.policy, "p", 1);
	assert_null(a.signature);

	struct postpolicy_field v2[] = {F("AWSACCESSKEYID", AKID2), F("Signature", V2_SIG),
					F("Policy", V2_POLICY)};
	assert_int_equal(postpolicy_auth_from_fields(v2, 3, &a, err, sizeof(err)), 0);
	assert_int_equal(a.kind, POSTPOLICY_V2);
	assert_int_equal(a.access_key_len, strlen(AKID2));
	assert_int_equal(a.signature_len, strlen(V2_SIG));

	struct postpolicy_field only_cred[] = {F("x-amz-credential", DOC_CRED)};
	assert_int_equal(postpolicy_auth_from_fields(only_cred, 1, &a, err, sizeof(err)), 0);
	assert_int_equal(a.kind, POSTPOLICY_V4);

	struct postpolicy_field twice[] = {F("x-amz-signature", "a"), F("X-Amz-Signature", "b")};
	assert_int_equal(postpolicy_auth_from_fields(twice, 2, &a, err, sizeof(err)), CN_EBADAUTH);
	assert_string_equal(err, "Bucket POST has more than one 'x-amz-signature' field.");
	struct postpolicy_field mixed[] = {F("x-amz-signature", "a"), F("AWSAccessKeyId", "b")};
	assert_int_equal(postpolicy_auth_from_fields(mixed, 2, &a, err, sizeof(err)), CN_EBADAUTH);
}

static void test_v2_signature(void **state)
{
	(void)state;
	struct postpolicy_auth a;
	struct postpolicy *p = NULL;
	char err[256], ak[SIGV4_MAX_ACCESS_KEY + 1];
	struct postpolicy_field v2[] = {F("AWSAccessKeyId", AKID2), F("signature", V2_SIG),
					F("policy", V2_POLICY)};
	assert_int_equal(postpolicy_auth_from_fields(v2, 3, &a, err, sizeof(err)), 0);
	assert_int_equal(postpolicy_verify_v2(&a, get_secret, NULL, ak, err, sizeof(err)), 0);
	assert_string_equal(ak, AKID2);
	/* the documented policy has trailing commas, which JSON refuses */
	assert_int_equal(postpolicy_parse(V2_POLICY, strlen(V2_POLICY), (time_t)1196467200, &p, err,
					  sizeof(err)),
			 CN_EBADPOSTPOLICY);
	assert_string_equal(err, "Invalid Policy: Invalid JSON.");

	struct postpolicy_auth b = a;
	b.signature = "2qCp0odXe7A9IYyUVqn0w2adtCB=";
	assert_int_equal(postpolicy_verify_v2(&b, get_secret, NULL, ak, err, sizeof(err)),
			 CN_EBADSIG);
	b.signature = "2qCp0odXe7A9IYyUVqn0w2adtCA";
	b.signature_len = 27;
	assert_int_equal(postpolicy_verify_v2(&b, get_secret, NULL, ak, err, sizeof(err)),
			 CN_EBADSIG);
	b = a;
	b.policy_len--;
	assert_int_equal(postpolicy_verify_v2(&b, get_secret, NULL, ak, err, sizeof(err)),
			 CN_EBADSIG);
	b = a;
	b.access_key = AKID;
	b.access_key_len = strlen(AKID);
	assert_int_equal(postpolicy_verify_v2(&b, get_secret, NULL, ak, err, sizeof(err)),
			 CN_EBADSIG); /* another key's secret */
	b.access_key = "NOBODY";
	b.access_key_len = 6;
	assert_int_equal(postpolicy_verify_v2(&b, get_secret, NULL, ak, err, sizeof(err)),
			 CN_EBADKEYID);
	b.access_key = "NO BODY";
	b.access_key_len = 7;
	assert_int_equal(postpolicy_verify_v2(&b, get_secret, NULL, ak, err, sizeof(err)),
			 CN_EBADAUTH);
	b = a;
	b.signature = NULL;
	assert_int_equal(postpolicy_verify_v2(&b, get_secret, NULL, ak, err, sizeof(err)),
			 CN_EBADAUTH);
	assert_non_null(strstr(err, "'signature'"));
	b = a;
	b.access_key = NULL;
	assert_int_equal(postpolicy_verify_v2(&b, get_secret, NULL, ak, err, sizeof(err)),
			 CN_EBADAUTH);
	assert_non_null(strstr(err, "'AWSAccessKeyId'"));
	b = a;
	b.policy = NULL;
	assert_int_equal(postpolicy_verify_v2(&b, get_secret, NULL, ak, err, sizeof(err)),
			 CN_EBADAUTH);
	/* a V2 form of a policy we can parse, signed the V2 way */
	const char *json = "{" EXP ", \"conditions\": [{\"bucket\": \"b\"}]}";
	char *pol = enc(json), sigb64[29];
	uint8_t mac[20];
	cn_hmac_sha1(SECRET, strlen(SECRET), pol, strlen(pol), mac);
	cn_b64_encode(mac, 20, sigb64, sizeof(sigb64));
	struct postpolicy_field f2[] = {
		{"AWSAccessKeyId", 14, AKID, strlen(AKID)},
		{"signature", 9, sigb64, strlen(sigb64)},
		{"policy", 6, pol, strlen(pol)},
		{"bucket", 6, "b", 1},
	};
	assert_int_equal(postpolicy_auth_from_fields(f2, 4, &a, err, sizeof(err)), 0);
	assert_int_equal(postpolicy_verify_v2(&a, get_secret, NULL, ak, err, sizeof(err)), 0);
	assert_int_equal(postpolicy_parse(pol, strlen(pol), T_DOC, &p, err, sizeof(err)), 0);
	assert_int_equal(postpolicy_check(p, f2, 4, err, sizeof(err)), 0);
	postpolicy_free(p);
	free(pol);
}

/* ---- conditions ---- */

static int check1(const char *conds, const struct postpolicy_field *f, size_t n, char *err,
		  size_t cap)
{
	char json[2048];
	struct postpolicy *p;
	int rc;
	snprintf(json, sizeof(json), "{" EXP ", \"conditions\": [%s]}", conds);
	rc = parse_json(json, &p, err, cap);
	if (rc) {
		print_error("parse %s: %s\n", conds, err);
		return rc;
	}
	rc = postpolicy_check(p, f, n, err, cap);
	postpolicy_free(p);
	return rc;
}

static void test_condition_types(void **state)
{
	(void)state;
	char err[512];
	struct postpolicy_field acl[] = {F("acl", "public-read")};
	struct postpolicy_field ACL[] = {F("ACL", "public-read")};

	/* exact match, both spellings; names case-insensitive, values not */
	assert_int_equal(check1("{\"acl\": \"public-read\"}", acl, 1, err, sizeof(err)), 0);
	assert_int_equal(check1("{\"Acl\": \"public-read\"}", ACL, 1, err, sizeof(err)), 0);
	assert_int_equal(check1("[\"eq\", \"$acl\", \"public-read\"]", acl, 1, err, sizeof(err)),
			 0);
	assert_int_equal(check1("[\"eq\", \"$ACL\", \"public-read\"]", acl, 1, err, sizeof(err)),
			 0);
	assert_int_equal(check1("[\"EQ\", \"$acl\", \"public-read\"]", acl, 1, err, sizeof(err)),
			 0);
	assert_int_equal(check1("{\"acl\": \"Public-Read\"}", acl, 1, err, sizeof(err)),
			 CN_EACCESS);
	assert_string_equal(err, "Invalid according to Policy: Policy Condition failed: "
				 "[\"eq\", \"$acl\", \"Public-Read\"]");
	assert_int_equal(
		check1("[\"eq\", \"$acl\", \"public-read-write\"]", acl, 1, err, sizeof(err)),
		CN_EACCESS);
	assert_string_equal(err, "Invalid according to Policy: Policy Condition failed: "
				 "[\"eq\", \"$acl\", \"public-read-write\"]");
	assert_int_equal(check1("[\"eq\", \"$acl\", \"public\"]", acl, 1, err, sizeof(err)),
			 CN_EACCESS);

	/* starts-with */
	struct postpolicy_field key[] = {F("key", "user/eric/a.txt")};
	assert_int_equal(
		check1("[\"starts-with\", \"$key\", \"user/eric/\"]", key, 1, err, sizeof(err)), 0);
	assert_int_equal(check1("[\"starts-with\", \"$key\", \"user/eric/a.txt\"]", key, 1, err,
				sizeof(err)),
			 0);
	assert_int_equal(
		check1("[\"starts-with\", \"$key\", \"user/bob/\"]", key, 1, err, sizeof(err)),
		CN_EACCESS);
	assert_string_equal(err, "Invalid according to Policy: Policy Condition failed: "
				 "[\"starts-with\", \"$key\", \"user/bob/\"]");
	assert_int_equal(check1("[\"starts-with\", \"$key\", \"user/eric/a.txt2\"]", key, 1, err,
				sizeof(err)),
			 CN_EACCESS);
	assert_int_equal(check1("[\"starts-with\", \"$key\", \"\"]", key, 1, err, sizeof(err)), 0);
	/* JSON escapes in the policy, and in the message */
	struct postpolicy_field q[] = {F("key", "a\"b\\c\xc3\xa9")};
	assert_int_equal(
		check1("[\"eq\", \"$key\", \"a\\\"b\\\\c\\u00e9\"]", q, 1, err, sizeof(err)), 0);
	assert_int_equal(check1("[\"eq\", \"$key\", \"a\\\"b\"]", q, 1, err, sizeof(err)),
			 CN_EACCESS);
	assert_string_equal(err, "Invalid according to Policy: Policy Condition failed: "
				 "[\"eq\", \"$key\", \"a\\\"b\"]");

	/* Content-Type: a comma-separated list, each must start with it */
	struct postpolicy_field ct1[] = {F("Content-Type", "image/jpeg,image/png, image/gif")};
	struct postpolicy_field ct2[] = {F("content-type", "image/jpeg, text/plain")};
	struct postpolicy_field ct3[] = {F("Content-Type", "IMAGE/png")};
	struct postpolicy_field ct4[] = {F("Content-Type", "image/png,")};
	const char *sw = "[\"starts-with\", \"$Content-Type\", \"image/\"]";
	assert_int_equal(check1(sw, ct1, 1, err, sizeof(err)), 0);
	assert_int_equal(check1(sw, ct2, 1, err, sizeof(err)), CN_EACCESS);
	assert_string_equal(err, "Invalid according to Policy: Policy Condition failed: "
				 "[\"starts-with\", \"$Content-Type\", \"image/\"]");
	assert_int_equal(check1(sw, ct3, 1, err, sizeof(err)), CN_EACCESS);
	assert_int_equal(check1(sw, ct4, 1, err, sizeof(err)), CN_EACCESS);
	assert_int_equal(
		check1("[\"starts-with\", \"$Content-Type\", \"\"]", ct4, 1, err, sizeof(err)), 0);
	/* ... only for Content-Type, and only for starts-with */
	struct postpolicy_field meta[] = {F("x-amz-meta-list", "a/1,b/2")};
	assert_int_equal(check1("[\"starts-with\", \"$x-amz-meta-list\", \"a/\"]", meta, 1, err,
				sizeof(err)),
			 0);
	assert_int_equal(check1("{\"Content-Type\": \"image/jpeg\"}", ct1, 1, err, sizeof(err)),
			 CN_EACCESS);

	/* names compare whole, NUL bytes included */
	struct postpolicy_field nul[] = {{"acl\0x", 5, "public-read", 11}};
	assert_int_equal(check1("[\"starts-with\", \"$acl\", \"\"]", nul, 1, err, sizeof(err)),
			 CN_EACCESS);
	assert_int_equal(strncmp(err, "Invalid according to Policy: Extra input fields: acl", 52),
			 0);

	/* a repeated field: every occurrence must hold */
	struct postpolicy_field two[] = {F("key", "user/a"), F("key", "other/b")};
	assert_int_equal(check1("[\"starts-with\", \"$key\", \"user/\"]", two, 2, err, sizeof(err)),
			 CN_EACCESS);
	two[1].value = "user/b";
	assert_int_equal(check1("[\"starts-with\", \"$key\", \"user/\"]", two, 2, err, sizeof(err)),
			 0);

	/* several conditions on one field all hold; the first failing is named */
	assert_int_equal(check1("[\"starts-with\", \"$key\", \"user/\"], [\"starts-with\", "
				"\"$key\", \"user/eric\"], [\"eq\", \"$key\", \"user/eric/a.txt\"]",
				key, 1, err, sizeof(err)),
			 0);
	assert_int_equal(check1("[\"starts-with\", \"$key\", \"user/\"], [\"eq\", \"$key\", "
				"\"x\"], [\"starts-with\", \"$key\", \"y\"]",
				key, 1, err, sizeof(err)),
			 CN_EACCESS);
	assert_string_equal(err, "Invalid according to Policy: Policy Condition failed: "
				 "[\"eq\", \"$key\", \"x\"]");
}

static void test_missing_and_extra_fields(void **state)
{
	(void)state;
	char err[512];
	struct postpolicy_field key[] = {F("key", "k")};

	/* a condition on an absent field sees "" */
	assert_int_equal(check1("{\"key\": \"k\"}, {\"x-amz-meta-uuid\": \"14365123651274\"}", key,
				1, err, sizeof(err)),
			 CN_EACCESS);
	assert_string_equal(err, "Invalid according to Policy: Policy Condition failed: "
				 "[\"eq\", \"$x-amz-meta-uuid\", \"14365123651274\"]");
	assert_int_equal(check1("{\"key\": \"k\"}, [\"starts-with\", \"$x-amz-meta-tag\", \"\"]",
				key, 1, err, sizeof(err)),
			 0);
	assert_int_equal(
		check1("{\"key\": \"k\"}, {\"x-amz-meta-tag\": \"\"}", key, 1, err, sizeof(err)),
		0);
	assert_int_equal(check1("{\"key\": \"k\"}, [\"starts-with\", \"$success_action_redirect\", "
				"\"http://\"]",
				key, 1, err, sizeof(err)),
			 CN_EACCESS);

	/* every form field needs a condition, but these */
	struct postpolicy_field exempt[] = {
		F("key", "k"),
		F("Policy", "x"),
		F("X-Amz-Signature", "x"),
		F("awsaccesskeyid", "x"),
		F("Signature", "x"),
		F("file", "x"),
		F("bucket", "b"),
		F("x-ignore-anything", "x"),
		F("X-Ignore-Other", "x"),
	};
	assert_int_equal(check1("{\"key\": \"k\"}", exempt, sizeof(exempt) / sizeof(exempt[0]), err,
				sizeof(err)),
			 0);
	static const char *const extras[] = {
		"x-amz-meta-foo", "success_action_status", "x-amz-date",	  "x-ignore",
		"submit",	  "Content-Type",	   "x-amz-security-token"};
	for (size_t i = 0; i < sizeof(extras) / sizeof(extras[0]); i++) {
		struct postpolicy_field f[] = {F("key", "k"),
					       {extras[i], strlen(extras[i]), "1", 1}};
		char want[128];
		assert_int_equal(check1("{\"key\": \"k\"}", f, 2, err, sizeof(err)), CN_EACCESS);
		snprintf(want, sizeof(want), "Invalid according to Policy: Extra input fields: %s",
			 extras[i]);
		assert_string_equal(err, want);
	}
	/* a condition of any type names a field; a range names none */
	struct postpolicy_field st[] = {F("key", "k"), F("success_action_status", "201")};
	assert_int_equal(check1("[\"starts-with\", \"$key\", \"\"], [\"starts-with\", "
				"\"$success_action_status\", \"\"]",
				st, 2, err, sizeof(err)),
			 0);
	assert_int_equal(check1("[\"starts-with\", \"$key\", \"\"], [\"content-length-range\", 0, "
				"10]",
				st, 2, err, sizeof(err)),
			 CN_EACCESS);
	/* conditions are checked before extra fields */
	struct postpolicy_field both[] = {F("key", "bad"), F("extra", "1")};
	assert_int_equal(check1("{\"key\": \"k\"}", both, 2, err, sizeof(err)), CN_EACCESS);
	assert_non_null(strstr(err, "Policy Condition failed"));
	/* a small err buffer truncates, never overflows */
	char small[16];
	assert_int_equal(check1("{\"key\": \"k\"}", both, 2, small, sizeof(small)), CN_EACCESS);
	assert_int_equal(strlen(small), 15);
	assert_int_equal(check1("{\"key\": \"k\"}", both, 2, NULL, 0), CN_EACCESS);
}

static void test_expiration(void **state)
{
	(void)state;
	struct postpolicy *p;
	char err[256];
	const char *json = "{\"conditions\": [], \"expiration\": \"2015-12-30T12:00:00Z\"}";
	char *b = enc(json);
	assert_int_equal(postpolicy_parse(b, strlen(b), T_EXP - 1, &p, err, sizeof(err)), 0);
	assert_int_equal(postpolicy_expiration(p), T_EXP);
	postpolicy_free(p);
	assert_int_equal(postpolicy_parse(b, strlen(b), T_EXP, &p, err, sizeof(err)), CN_EEXPIRED);
	assert_string_equal(err, "Invalid according to Policy: Policy expired.");
	assert_int_equal(postpolicy_parse(b, strlen(b), T_EXP + 86400 * 365, &p, NULL, 0),
			 CN_EEXPIRED);
	free(b);
	/* fractions are dropped: .999 still ends at the second */
	b = enc("{\"expiration\": \"2015-12-30T12:00:00.999Z\", \"conditions\": []}");
	assert_int_equal(postpolicy_parse(b, strlen(b), T_EXP, &p, err, sizeof(err)), CN_EEXPIRED);
	free(b);
	b = enc("{\"expiration\": \"2016-02-29T00:00:00.1Z\", \"conditions\": []}");
	assert_int_equal(postpolicy_parse(b, strlen(b), T_DOC, &p, err, sizeof(err)), 0);
	assert_int_equal(postpolicy_expiration(p), (time_t)1456704000);
	postpolicy_free(p);
	free(b);
	/* a malformed document is refused as such even when expired too */
	b = enc("{\"expiration\": \"2000-01-01T00:00:00Z\", \"conditions\": [1]}");
	assert_int_equal(postpolicy_parse(b, strlen(b), T_DOC, &p, err, sizeof(err)),
			 CN_EBADPOSTPOLICY);
	free(b);
}

static void test_content_length_range(void **state)
{
	(void)state;
	struct postpolicy *p;
	char err[256];
	uint64_t lo, hi;

	assert_int_equal(parse_json("{" EXP ", \"conditions\": [[\"content-length-range\", 1, "
				    "10]]}",
				    &p, err, sizeof(err)),
			 0);
	assert_int_equal(postpolicy_length_ok(p, 0), CN_ETOOSMALL);
	assert_int_equal(postpolicy_length_ok(p, 1), 0);
	assert_int_equal(postpolicy_length_ok(p, 10), 0);
	assert_int_equal(postpolicy_length_ok(p, 11), CN_ETOOBIG);
	postpolicy_length_range(p, &lo, &hi);
	assert_int_equal(lo, 1);
	assert_int_equal(hi, 10);
	/* the range names no field, and needs none */
	struct postpolicy_field none[] = {F("bucket", "b")};
	assert_int_equal(postpolicy_check(p, none, 1, err, sizeof(err)), 0);
	postpolicy_free(p);

	/* quoted bounds, several ranges intersect, 0..0, big values */
	assert_int_equal(parse_json("{" EXP ", \"conditions\": [[\"content-length-range\", "
				    "\"1048576\", \"10485760\"], [\"CONTENT-LENGTH-RANGE\", 0, "
				    "5242880]]}",
				    &p, err, sizeof(err)),
			 0);
	postpolicy_length_range(p, &lo, &hi);
	assert_int_equal(lo, 1048576);
	assert_int_equal(hi, 5242880);
	assert_int_equal(postpolicy_length_ok(p, 1048575), CN_ETOOSMALL);
	assert_int_equal(postpolicy_length_ok(p, 5242881), CN_ETOOBIG);
	postpolicy_free(p);
	assert_int_equal(parse_json("{" EXP ", \"conditions\": [[\"content-length-range\", 0, 0]]}",
				    &p, err, sizeof(err)),
			 0);
	assert_int_equal(postpolicy_length_ok(p, 0), 0);
	assert_int_equal(postpolicy_length_ok(p, 1), CN_ETOOBIG);
	postpolicy_free(p);
	assert_int_equal(parse_json("{" EXP ", \"conditions\": [[\"content-length-range\", 0, "
				    "9223372036854775807]]}",
				    &p, err, sizeof(err)),
			 0);
	assert_int_equal(postpolicy_length_ok(p, (uint64_t)1 << 62), 0);
	postpolicy_free(p);

	static const char *const bad[] = {
		"[\"content-length-range\", 10, 1]",
		"[\"content-length-range\", -1, 10]",
		"[\"content-length-range\", 1.5, 10]",
		"[\"content-length-range\", \"1k\", 10]",
		"[\"content-length-range\", \"\", 10]",
		"[\"content-length-range\", 1, \"99999999999999999999\"]",
		"[\"content-length-range\", null, 10]",
		"[\"content-length-range\", 1]",
		"[\"content-length-range\", 1, 2, 3]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char json[256];
		snprintf(json, sizeof(json), "{" EXP ", \"conditions\": [%s]}", bad[i]);
		p = NULL;
		assert_int_equal(parse_json(json, &p, err, sizeof(err)), CN_EBADPOSTPOLICY);
		assert_null(p);
		assert_int_equal(strncmp(err, "Invalid Policy: ", 16), 0);
	}
}

static void test_filename_subst(void **state)
{
	(void)state;
	char out[64];
	size_t len;
	static const struct {
		const char *value, *filename, *want;
	} cases[] = {
		{"user/user1/${filename}", "photo.jpg", "user/user1/photo.jpg"},
		{"user/${filename}", "C:\\Documents and Settings\\u\\photo.jpg", "user/photo.jpg"},
		{"user/${filename}", "/home/u/a/b.txt", "user/b.txt"},
		{"user/${filename}", "dir/", "user/"},
		{"user/${filename}", NULL, "user/"},
		{"${filename}-${filename}", "x", "x-x"},
		{"${filename}", "", ""},
		{"${filenam}/${FILENAME}/$filename", "x", "${filenam}/${FILENAME}/$filename"},
		{"plain", "x", "plain"},
		{"", "x", ""},
		{"a${filename}${filename", "y", "ay${filename"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *fn = cases[i].filename;
		assert_int_equal(postpolicy_key_subst(cases[i].value, strlen(cases[i].value), fn,
						      fn ? strlen(fn) : 0, out, sizeof(out), &len),
				 0);
		assert_string_equal(out, cases[i].want);
		assert_int_equal(len, strlen(cases[i].want));
	}
	/* exactly enough room, one byte short, none */
	assert_int_equal(postpolicy_key_subst("k/${filename}", 13, "abc", 3, out, 6, &len), 0);
	assert_string_equal(out, "k/abc");
	assert_int_equal(postpolicy_key_subst("k/${filename}", 13, "abc", 3, out, 5, &len),
			 CN_ETOOBIG);
	assert_int_equal(postpolicy_key_subst("", 0, "abc", 3, out, 0, NULL), CN_ETOOBIG);
	assert_int_equal(postpolicy_key_subst("", 0, "abc", 3, out, 1, NULL), 0);
	assert_string_equal(out, "");
}

static void test_bad_documents(void **state)
{
	(void)state;
	struct postpolicy *p;
	char err[256];
	static const struct {
		const char *b64; /* NULL: base64 of json */
		const char *json;
		const char *msg; /* err starts with it */
	} cases[] = {
		{"eyJhIjoxfQ", NULL, "Invalid Policy: invalid Base64 encoding."},     /* unpadded */
		{"eyJhIjo*fQ==", NULL, "Invalid Policy: invalid Base64 encoding."},   /* bad char */
		{"eyJh\nIjoxfQ==", NULL, "Invalid Policy: invalid Base64 encoding."}, /* newline */
		{"", NULL, "Invalid Policy: Invalid JSON."},
		{NULL, "not json", "Invalid Policy: Invalid JSON."},
		{NULL, "[]", "Invalid Policy: Invalid JSON."},
		{NULL, "{" EXP ", \"conditions\": []} trailing", "Invalid Policy: Invalid JSON."},
		{NULL, "{" EXP ", " EXP ", \"conditions\": []}", "Invalid Policy: Invalid JSON."},
		{NULL, "{" EXP ", \"conditions\": [{\"a\": \"b\"},]}",
		 "Invalid Policy: Invalid JSON."},
		{NULL, "{" EXP ", \"conditions\": [], \"x\": 1}",
		 "Invalid Policy: Unexpected: \"x\""},
		{NULL, "{\"conditions\": []}", "Invalid Policy: Policy missing expiration."},
		{NULL, "{\"expiration\": 1, \"conditions\": []}",
		 "Invalid Policy: Invalid 'expiration' value."},
		{NULL, "{\"expiration\": \"2015-12-30\", \"conditions\": []}",
		 "Invalid Policy: Invalid 'expiration' value: '2015-12-30'"},
		{NULL, "{\"expiration\": \"2015-12-30T12:00:00\", \"conditions\": []}",
		 "Invalid Policy: Invalid 'expiration' value"},
		{NULL, "{\"expiration\": \"2015-12-30 12:00:00Z\", \"conditions\": []}",
		 "Invalid Policy: Invalid 'expiration' value"},
		{NULL, "{\"expiration\": \"2015-02-29T12:00:00Z\", \"conditions\": []}",
		 "Invalid Policy: Invalid 'expiration' value"},
		{NULL, "{\"expiration\": \"2015-12-30T24:00:00Z\", \"conditions\": []}",
		 "Invalid Policy: Invalid 'expiration' value"},
		{NULL, "{\"expiration\": \"2015-12-30T12:00:00.Z\", \"conditions\": []}",
		 "Invalid Policy: Invalid 'expiration' value"},
		{NULL, "{\"expiration\": \"2015-12-30T12:00:00.1xZ\", \"conditions\": []}",
		 "Invalid Policy: Invalid 'expiration' value"},
		{NULL, "{\"expiration\": \"2015-12-30T12:00:00+01:00\", \"conditions\": []}",
		 "Invalid Policy: Invalid 'expiration' value"},
		{NULL, "{" EXP "}", "Invalid Policy: Policy missing conditions."},
		{NULL, "{" EXP ", \"conditions\": {}}",
		 "Invalid Policy: Invalid 'conditions' value: must be a List."},
		{NULL, "{" EXP ", \"conditions\": [\"acl\"]}",
		 "Invalid Policy: Invalid condition test: must be a List or Object."},
		{NULL, "{" EXP ", \"conditions\": [{}]}",
		 "Invalid Policy: Invalid Simple-Condition: Simple-Conditions must have exactly "
		 "one "
		 "property specified."},
		{NULL, "{" EXP ", \"conditions\": [{\"a\": \"1\", \"b\": \"2\"}]}",
		 "Invalid Policy: Invalid Simple-Condition: Simple-Conditions must have exactly "
		 "one"},
		{NULL, "{" EXP ", \"conditions\": [{\"a\": 1}]}",
		 "Invalid Policy: Invalid Simple-Condition: value must be a string."},
		{NULL, "{" EXP ", \"conditions\": [[]]}",
		 "Invalid Policy: Invalid Condition: missing operation identifier."},
		{NULL, "{" EXP ", \"conditions\": [[1, \"$key\", \"a\"]]}",
		 "Invalid Policy: Invalid Condition: missing operation identifier."},
		{NULL, "{" EXP ", \"conditions\": [[\"ends-with\", \"$key\", \"a\"]]}",
		 "Invalid Policy: Invalid Condition: unknown operation 'ends-with'."},
		{NULL, "{" EXP ", \"conditions\": [[\"eq\", \"$key\"]]}",
		 "Invalid Policy: Invalid eq: wrong number of arguments."},
		{NULL, "{" EXP ", \"conditions\": [[\"starts-with\", \"$key\", \"a\", \"b\"]]}",
		 "Invalid Policy: Invalid starts-with: wrong number of arguments."},
		{NULL, "{" EXP ", \"conditions\": [[\"eq\", \"key\", \"a\"]]}",
		 "Invalid Policy: Invalid eq: the field name must be a string starting with '$'."},
		{NULL, "{" EXP ", \"conditions\": [[\"eq\", 5, \"a\"]]}",
		 "Invalid Policy: Invalid eq: the field name"},
		{NULL, "{" EXP ", \"conditions\": [[\"starts-with\", \"$key\", 5]]}",
		 "Invalid Policy: Invalid starts-with: value must be a string."},
		{NULL, "{" EXP ", \"conditions\": [[\"eq\", \"$key\", null]]}",
		 "Invalid Policy: Invalid eq: value must be a string."},
		{NULL, "{" EXP ", \"conditions\": [{\"a\": \"\\u0000\"}]}",
		 "Invalid Policy: Invalid JSON."},
		{NULL, "{" EXP ", \"conditions\": [{\"a\": \"\xff\"}]}",
		 "Invalid Policy: Invalid JSON."},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *b = cases[i].b64 ? strdup(cases[i].b64) : enc(cases[i].json);
		assert_non_null(b);
		p = (struct postpolicy *)1;
		err[0] = '\0';
		int rc = postpolicy_parse(b, strlen(b), T_DOC, &p, err, sizeof(err));
		if (rc != CN_EBADPOSTPOLICY ||
		    strncmp(err, cases[i].msg, strlen(cases[i].msg)) != 0)
			print_error("case %zu: rc %d err '%s'\n", i, rc, err);
		assert_int_equal(rc, CN_EBADPOSTPOLICY);
		assert_null(p);
		assert_int_equal(strncmp(err, cases[i].msg, strlen(cases[i].msg)), 0);
		free(b);
	}
	/* err may be NULL */
	assert_int_equal(postpolicy_parse("!!!!", 4, T_DOC, &p, NULL, 0), CN_EBADPOSTPOLICY);
	postpolicy_free(NULL);
}

/* ---- the example form end to end, through the form parser ---- */

#define BND "----WebKitFormBoundary7MA4YWxkTrZu0gW"

struct form {
	struct postpolicy_field f[32];
	char *mem[32];
	size_t n;
	char filename[64];
	uint64_t file_len;
};

static int fb(void *arg, const struct formdata_part *part)
{
	struct form *fm = arg;
	if (strcmp(part->name, "file") != 0)
		return FORMDATA_BUFFER;
	snprintf(fm->filename, sizeof(fm->filename), "%s", part->filename ? part->filename : "");
	return FORMDATA_STREAM;
}

static int fdata(void *arg, const void *p, size_t len)
{
	struct form *fm = arg;
	(void)p;
	fm->file_len += len;
	return 0;
}

static int fend(void *arg, const struct formdata_part *part, const char *v, size_t len)
{
	struct form *fm = arg;
	if (strcmp(part->name, "file") == 0)
		return FORMDATA_STOP;
	assert_true(fm->n < 32);
	char *name = strdup(part->name), *val = malloc(len + 1);
	assert_non_null(name);
	assert_non_null(val);
	memcpy(val, v, len);
	fm->f[fm->n] = (struct postpolicy_field){name, part->name_len, val, len};
	fm->mem[fm->n++] = val;
	return 0;
}

static void test_doc_form_end_to_end(void **state)
{
	(void)state;
	static const char *const fields[][2] = {
		{"key", "user/user1/${filename}"},
		{"acl", "public-read"},
		{"success_action_redirect",
		 "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html"},
		{"Content-Type", "image/jpeg"},
		{"x-amz-meta-uuid", "14365123651274"},
		{"x-amz-server-side-encryption", "AES256"},
		{"X-Amz-Credential", DOC_CRED},
		{"X-Amz-Algorithm", "AWS4-HMAC-SHA256"},
		{"X-Amz-Date", "20151229T000000Z"},
		{"x-amz-meta-tag", ""},
		{"Policy", DOC_POLICY},
		{"X-Amz-Signature", DOC_SIG},
	};
	const struct formdata_cb cb = {fb, fdata, fend};
	char body[8192], boundary[FORMDATA_MAX_BOUNDARY + 1], err[256];
	char ak[SIGV4_MAX_ACCESS_KEY + 1], key[256];
	const char *ct = "multipart/form-data; boundary=" BND;
	struct form fm = {0};
	struct formdata fd;
	struct postpolicy_auth a;
	struct postpolicy *p;
	size_t n = 0, key_len;

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		n += (size_t)snprintf(body + n, sizeof(body) - n,
				      "--" BND "\r\nContent-Disposition: form-data; name=\"%s\"\r\n"
				      "\r\n%s\r\n",
				      fields[i][0], fields[i][1]);
	n += (size_t)snprintf(
		body + n, sizeof(body) - n,
		"--" BND "\r\nContent-Disposition: form-data; name=\"file\"; "
		"filename=\"C:\\Users\\me\\photo.jpg\"\r\nContent-Type: image/jpeg\r\n"
		"\r\n0123456789\r\n--" BND "\r\nContent-Disposition: form-data; "
		"name=\"submit\"\r\n\r\nUpload to Amazon S3\r\n--" BND "--\r\n");
	assert_int_equal(formdata_boundary(ct, strlen(ct), boundary, sizeof(boundary)), 0);
	assert_int_equal(formdata_init(&fd, boundary, strlen(boundary), NULL, &cb, &fm), 0);
	for (size_t off = 0; off < n; off += 100)
		assert_true(formdata_feed(&fd, body + off, n - off < 100 ? n - off : 100) >= 0);
	assert_int_equal(formdata_finish(&fd), 0);
	formdata_release(&fd);
	assert_int_equal(fm.n, 12);
	assert_string_equal(fm.filename, "C:\\Users\\me\\photo.jpg");
	assert_int_equal(fm.file_len, 10);

	/* what the handler does with them */
	assert_int_equal(postpolicy_auth_from_fields(fm.f, fm.n, &a, err, sizeof(err)), 0);
	assert_int_equal(a.kind, POSTPOLICY_V4);
	assert_int_equal(
		postpolicy_verify_v4(&a, "us-east-1", get_secret, NULL, ak, err, sizeof(err)), 0);
	assert_int_equal(postpolicy_parse(a.policy, a.policy_len, T_DOC + 60, &p, err, sizeof(err)),
			 0);
	assert_int_equal(postpolicy_key_subst(fm.f[0].value, fm.f[0].value_len, fm.filename,
					      strlen(fm.filename), key, sizeof(key), &key_len),
			 0);
	assert_string_equal(key, "user/user1/photo.jpg");
	fm.f[0].value = key;
	fm.f[0].value_len = key_len;
	fm.f[fm.n++] = (struct postpolicy_field)F("bucket", "sigv4examplebucket");
	assert_int_equal(postpolicy_check(p, fm.f, fm.n, err, sizeof(err)), 0);
	assert_int_equal(postpolicy_length_ok(p, fm.file_len), 0);
	postpolicy_free(p);
	for (size_t i = 0; i < 12; i++) {
		free((char *)fm.f[i].name);
		free(fm.mem[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doc_example_v4),
		cmocka_unit_test(test_v4_rejections),
		cmocka_unit_test(test_auth_fields),
		cmocka_unit_test(test_v2_signature),
		cmocka_unit_test(test_condition_types),
		cmocka_unit_test(test_missing_and_extra_fields),
		cmocka_unit_test(test_expiration),
		cmocka_unit_test(test_content_length_range),
		cmocka_unit_test(test_filename_subst),
		cmocka_unit_test(test_bad_documents),
		cmocka_unit_test(test_doc_form_end_to_end),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests_name("auth/postpolicy", tests, NULL, NULL);
}
