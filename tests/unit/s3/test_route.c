/*
 * Unit tests for s3/route: addressing style (path and virtual host, with
 * and without port, several domains), bucket/key split, sub-resources to
 * operations (including NotImplemented ones), percent-decoding of path and
 * query, key length 1024/1025, invalid UTF-8 and bad escapes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/pool.h"
#include "s3/route.h"

static const char *const domains[] = {"localhost", "s3.example.com"};

struct fx {
	struct cn_pool pool;
	struct s3_route r;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	cn_pool_init(&f->pool);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	cn_pool_release(&f->pool);
	free(f);
	return 0;
}

/* Routes "METHOD-less" url (path?query) with host; returns the rc. */
static int route(struct fx *f, enum s3_method m, const char *url, const char *host, int copy)
{
	struct s3_route_input in;
	const char *q = strchr(url, '?');

	memset(&in, 0, sizeof(in));
	in.method = m;
	in.path = url;
	in.path_len = q ? (size_t)(q - url) : strlen(url);
	in.query = q ? q + 1 : "";
	in.query_len = q ? strlen(q + 1) : 0;
	in.host = host;
	in.domains = domains;
	in.n_domains = 2;
	in.has_copy_source = copy;
	return s3_route_parse(&f->pool, &in, &f->r);
}

static void expect_op(struct fx *f, enum s3_method m, const char *url, const char *host, int copy,
		      enum s3_op op, const char *name)
{
	int rc = route(f, m, url, host, copy);
	if (rc != 0 || f->r.op != op)
		fail_msg("%s: rc=%d op=%s, want %s", url, rc, f->r.op_name, name);
	assert_string_equal(f->r.op_name, name);
}

static void test_path_style(void **state)
{
	struct fx *f = *state;

	expect_op(f, S3_GET, "/", "127.0.0.1:9000", 0, S3_OP_LIST_BUCKETS, "ListBuckets");
	assert_null(f->r.bucket);
	expect_op(f, S3_PUT, "/bkt", "127.0.0.1:9000", 0, S3_OP_CREATE_BUCKET, "CreateBucket");
	assert_string_equal(f->r.bucket, "bkt");
	assert_null(f->r.key);
	assert_false(f->r.virtual_host);
	expect_op(f, S3_PUT, "/bkt/", "h", 0, S3_OP_CREATE_BUCKET, "CreateBucket");
	assert_null(f->r.key);
	expect_op(f, S3_GET, "/bkt/dir/sub/file.txt", "h", 0, S3_OP_GET_OBJECT, "GetObject");
	assert_string_equal(f->r.bucket, "bkt");
	assert_string_equal(f->r.key, "dir/sub/file.txt");
	assert_int_equal(f->r.key_len, 16);
	/* keys keep leading, doubled and trailing slashes */
	expect_op(f, S3_PUT, "/bkt//a//b/", "h", 0, S3_OP_PUT_OBJECT, "PutObject");
	assert_string_equal(f->r.key, "/a//b/");
	/* an IP host or an unknown domain is not virtual-host style */
	expect_op(f, S3_GET, "/b/k", "10.0.0.1", 0, S3_OP_GET_OBJECT, "GetObject");
	assert_string_equal(f->r.bucket, "b");
	expect_op(f, S3_GET, "/b/k", "bucket.other.org", 0, S3_OP_GET_OBJECT, "GetObject");
	assert_string_equal(f->r.bucket, "b");
	expect_op(f, S3_GET, "/b/k", NULL, 0, S3_OP_GET_OBJECT, "GetObject");
	/* the bare domain itself is path style */
	expect_op(f, S3_GET, "/b/k", "localhost:9000", 0, S3_OP_GET_OBJECT, "GetObject");
	assert_string_equal(f->r.bucket, "b");
	assert_false(f->r.virtual_host);
}

static void test_virtual_host(void **state)
{
	struct fx *f = *state;

	expect_op(f, S3_GET, "/dir/k", "mybucket.localhost:9000", 0, S3_OP_GET_OBJECT, "GetObject");
	assert_true(f->r.virtual_host);
	assert_string_equal(f->r.bucket, "mybucket");
	assert_string_equal(f->r.key, "dir/k");
	expect_op(f, S3_GET, "/", "my.dotted.bucket.s3.example.com", 0, S3_OP_LIST_OBJECTS,
		  "ListObjects");
	assert_string_equal(f->r.bucket, "my.dotted.bucket");
	assert_null(f->r.key);
	expect_op(f, S3_GET, "/?list-type=2", "b.S3.EXAMPLE.COM", 0, S3_OP_LIST_OBJECTS_V2,
		  "ListObjectsV2");
	assert_string_equal(f->r.bucket, "b");
	expect_op(f, S3_PUT, "/", "newb.localhost", 0, S3_OP_CREATE_BUCKET, "CreateBucket");
	assert_string_equal(f->r.bucket, "newb");
	/* in virtual-host style the whole path is the key */
	expect_op(f, S3_GET, "/b2/k", "b.localhost", 0, S3_OP_GET_OBJECT, "GetObject");
	assert_string_equal(f->r.bucket, "b");
	assert_string_equal(f->r.key, "b2/k");
}

static void test_bucket_subresources(void **state)
{
	struct fx *f = *state;
	static const struct {
		enum s3_method m;
		const char *url;
		enum s3_op op;
		const char *name;
	} cases[] = {
		{S3_GET, "/b?location", S3_OP_GET_BUCKET_LOCATION, "GetBucketLocation"},
		{S3_GET, "/b?versioning", S3_OP_GET_BUCKET_VERSIONING, "GetBucketVersioning"},
		{S3_PUT, "/b?versioning", S3_OP_PUT_BUCKET_VERSIONING, "PutBucketVersioning"},
		{S3_GET, "/b?versions&prefix=a", S3_OP_LIST_OBJECT_VERSIONS, "ListObjectVersions"},
		{S3_GET, "/b?uploads", S3_OP_LIST_MULTIPART_UPLOADS, "ListMultipartUploads"},
		{S3_GET, "/b?list-type=2&prefix=x", S3_OP_LIST_OBJECTS_V2, "ListObjectsV2"},
		{S3_GET, "/b?list-type=1", S3_OP_LIST_OBJECTS, "ListObjects"},
		{S3_GET, "/b?prefix=x&marker=y", S3_OP_LIST_OBJECTS, "ListObjects"},
		{S3_POST, "/b?delete", S3_OP_DELETE_OBJECTS, "DeleteObjects"},
		{S3_POST, "/b?delete=", S3_OP_DELETE_OBJECTS, "DeleteObjects"},
		{S3_HEAD, "/b", S3_OP_HEAD_BUCKET, "HeadBucket"},
		{S3_DELETE, "/b", S3_OP_DELETE_BUCKET, "DeleteBucket"},
		{S3_GET, "/b?acl", S3_OP_GET_BUCKET_ACL, "GetBucketAcl"},
		{S3_PUT, "/b?acl", S3_OP_PUT_BUCKET_ACL, "PutBucketAcl"},
		{S3_DELETE, "/b?acl", S3_OP_NOT_IMPLEMENTED, "NotImplemented"},
		{S3_PUT, "/b?policy", S3_OP_PUT_BUCKET_POLICY, "PutBucketPolicy"},
		{S3_GET, "/b?policy", S3_OP_GET_BUCKET_POLICY, "GetBucketPolicy"},
		{S3_DELETE, "/b?policy", S3_OP_DELETE_BUCKET_POLICY, "DeleteBucketPolicy"},
		{S3_GET, "/b?policyStatus", S3_OP_GET_BUCKET_POLICY_STATUS,
		 "GetBucketPolicyStatus"},
		{S3_PUT, "/b?publicAccessBlock", S3_OP_PUT_PUBLIC_ACCESS_BLOCK,
		 "PutPublicAccessBlock"},
		{S3_DELETE, "/b?ownershipControls", S3_OP_DELETE_OWNERSHIP_CONTROLS,
		 "DeleteBucketOwnershipControls"},
		{S3_DELETE, "/b?cors", S3_OP_DELETE_BUCKET_CORS, "DeleteBucketCors"},
		{S3_PUT, "/b?cors", S3_OP_PUT_BUCKET_CORS, "PutBucketCors"},
		{S3_GET, "/b?tagging", S3_OP_GET_BUCKET_TAGGING, "GetBucketTagging"},
		{S3_DELETE, "/b?tagging", S3_OP_DELETE_BUCKET_TAGGING, "DeleteBucketTagging"},
		{S3_GET, "/b?lifecycle", S3_OP_GET_BUCKET_LIFECYCLE,
		 "GetBucketLifecycleConfiguration"},
		{S3_DELETE, "/b?lifecycle", S3_OP_DELETE_BUCKET_LIFECYCLE, "DeleteBucketLifecycle"},
		{S3_GET, "/b?website", S3_OP_GET_BUCKET_WEBSITE, "GetBucketWebsite"},
		{S3_PUT, "/b?website", S3_OP_NOT_IMPLEMENTED, "NotImplemented"},
		{S3_DELETE, "/b?website", S3_OP_NOT_IMPLEMENTED, "NotImplemented"},
		{S3_GET, "/b?requestPayment", S3_OP_GET_BUCKET_REQUEST_PAYMENT,
		 "GetBucketRequestPayment"},
		{S3_PUT, "/b?requestPayment", S3_OP_NOT_IMPLEMENTED, "NotImplemented"},
		{S3_GET, "/b?logging", S3_OP_GET_BUCKET_LOGGING, "GetBucketLogging"},
		{S3_PUT, "/b?logging", S3_OP_NOT_IMPLEMENTED, "NotImplemented"},
		{S3_GET, "/b?notification", S3_OP_GET_BUCKET_NOTIFICATION,
		 "GetBucketNotificationConfiguration"},
		{S3_GET, "/b?accelerate", S3_OP_GET_BUCKET_ACCELERATE,
		 "GetBucketAccelerateConfiguration"},
		{S3_GET, "/b?replication", S3_OP_GET_BUCKET_REPLICATION, "GetBucketReplication"},
		{S3_PUT, "/b?replication", S3_OP_NOT_IMPLEMENTED, "NotImplemented"},
		{S3_GET, "/b?inventory", S3_OP_NOT_IMPLEMENTED, "NotImplemented"},
		{S3_POST, "/b", S3_OP_POST_OBJECT, "PostObject"},
		{S3_POST, "/b?foo", S3_OP_NOT_IMPLEMENTED, "NotImplemented"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_op(f, cases[i].m, cases[i].url, "h", 0, cases[i].op, cases[i].name);
}

static void test_object_subresources(void **state)
{
	struct fx *f = *state;
	static const struct {
		enum s3_method m;
		const char *url;
		int copy;
		enum s3_op op;
		const char *name;
	} cases[] = {
		{S3_GET, "/b/k", 0, S3_OP_GET_OBJECT, "GetObject"},
		{S3_GET, "/b/k?versionId=v1", 0, S3_OP_GET_OBJECT, "GetObject"},
		{S3_HEAD, "/b/k", 0, S3_OP_HEAD_OBJECT, "HeadObject"},
		{S3_PUT, "/b/k", 0, S3_OP_PUT_OBJECT, "PutObject"},
		{S3_PUT, "/b/k", 1, S3_OP_COPY_OBJECT, "CopyObject"},
		{S3_DELETE, "/b/k", 0, S3_OP_DELETE_OBJECT, "DeleteObject"},
		{S3_POST, "/b/k?uploads", 0, S3_OP_CREATE_MULTIPART, "CreateMultipartUpload"},
		{S3_PUT, "/b/k?partNumber=1&uploadId=u", 0, S3_OP_UPLOAD_PART, "UploadPart"},
		{S3_PUT, "/b/k?partNumber=1&uploadId=u", 1, S3_OP_UPLOAD_PART_COPY,
		 "UploadPartCopy"},
		{S3_POST, "/b/k?uploadId=u", 0, S3_OP_COMPLETE_MULTIPART,
		 "CompleteMultipartUpload"},
		{S3_DELETE, "/b/k?uploadId=u", 0, S3_OP_ABORT_MULTIPART, "AbortMultipartUpload"},
		{S3_GET, "/b/k?uploadId=u&max-parts=2", 0, S3_OP_LIST_PARTS, "ListParts"},
		{S3_GET, "/b/k?acl", 0, S3_OP_GET_OBJECT_ACL, "GetObjectAcl"},
		{S3_PUT, "/b/k?acl&versionId=v", 0, S3_OP_PUT_OBJECT_ACL, "PutObjectAcl"},
		{S3_DELETE, "/b/k?acl", 0, S3_OP_NOT_IMPLEMENTED, "NotImplemented"},
		{S3_GET, "/b/k?policy", 0, S3_OP_NOT_IMPLEMENTED, "NotImplemented"},
		{S3_GET, "/b/k?website", 0, S3_OP_NOT_IMPLEMENTED, "NotImplemented"},
		{S3_GET, "/b/k?logging", 0, S3_OP_NOT_IMPLEMENTED, "NotImplemented"},
		{S3_PUT, "/b/k?tagging", 0, S3_OP_PUT_OBJECT_TAGGING, "PutObjectTagging"},
		{S3_GET, "/b/k?tagging&versionId=v", 0, S3_OP_GET_OBJECT_TAGGING,
		 "GetObjectTagging"},
		{S3_DELETE, "/b/k?tagging", 0, S3_OP_DELETE_OBJECT_TAGGING, "DeleteObjectTagging"},
		{S3_POST, "/b/k?tagging", 0, S3_OP_NOT_IMPLEMENTED, "NotImplemented"},
		{S3_GET, "/b/k?cors", 0, S3_OP_NOT_IMPLEMENTED, "NotImplemented"},
		{S3_PUT, "/b/k?retention", 0, S3_OP_PUT_OBJECT_RETENTION, "PutObjectRetention"},
		{S3_GET, "/b/k?retention&versionId=v", 0, S3_OP_GET_OBJECT_RETENTION,
		 "GetObjectRetention"},
		{S3_DELETE, "/b/k?retention", 0, S3_OP_NOT_IMPLEMENTED, "NotImplemented"},
		{S3_PUT, "/b/k?legal-hold", 0, S3_OP_PUT_OBJECT_LEGAL_HOLD, "PutObjectLegalHold"},
		{S3_GET, "/b/k?legal-hold", 0, S3_OP_GET_OBJECT_LEGAL_HOLD, "GetObjectLegalHold"},
		{S3_POST, "/b/k?legal-hold", 0, S3_OP_NOT_IMPLEMENTED, "NotImplemented"},
		{S3_GET, "/b/k?object-lock", 0, S3_OP_NOT_IMPLEMENTED, "NotImplemented"},
		{S3_GET, "/b?object-lock", 0, S3_OP_GET_OBJECT_LOCK_CONFIG,
		 "GetObjectLockConfiguration"},
		{S3_PUT, "/b?object-lock", 0, S3_OP_PUT_OBJECT_LOCK_CONFIG,
		 "PutObjectLockConfiguration"},
		{S3_DELETE, "/b?object-lock", 0, S3_OP_NOT_IMPLEMENTED, "NotImplemented"},
		{S3_POST, "/b/k?select&select-type=2", 0, S3_OP_NOT_IMPLEMENTED, "NotImplemented"},
		{S3_POST, "/b/k?restore", 0, S3_OP_NOT_IMPLEMENTED, "NotImplemented"},
		{S3_PUT, "/b/k?uploadId=u", 0, S3_OP_NOT_IMPLEMENTED, "NotImplemented"},
		{S3_POST, "/b/k", 0, S3_OP_NOT_IMPLEMENTED, "NotImplemented"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_op(f, cases[i].m, cases[i].url, "h", cases[i].copy, cases[i].op,
			  cases[i].name);
}

static void test_unknown_method(void **state)
{
	struct fx *f = *state;

	assert_int_equal(route(f, S3_OTHER, "/b/k", "h", 0), CN_EBADMETHOD);
	assert_int_equal(route(f, S3_OTHER, "/b", "h", 0), CN_EBADMETHOD);
	assert_int_equal(route(f, S3_PUT, "/", "h", 0), CN_EBADMETHOD);
	assert_int_equal(route(f, S3_DELETE, "/", "h", 0), CN_EBADMETHOD);
	assert_non_null(f->r.op_name);
}

static void test_percent_decoding(void **state)
{
	struct fx *f = *state;

	expect_op(f, S3_GET, "/b/a%20b%2Fc%25d+e", "h", 0, S3_OP_GET_OBJECT, "GetObject");
	/* '+' in a path is a plus, not a space */
	assert_string_equal(f->r.key, "a b/c%d+e");
	expect_op(f, S3_GET, "/b/caf%C3%A9", "h", 0, S3_OP_GET_OBJECT, "GetObject");
	assert_string_equal(f->r.key, "caf\xc3\xa9");
	/* an encoded slash still splits bucket from key after decoding */
	expect_op(f, S3_GET, "/b%2Fk", "h", 0, S3_OP_GET_OBJECT, "GetObject");
	assert_string_equal(f->r.bucket, "b");
	assert_string_equal(f->r.key, "k");
	/* query: '+' is a space, escapes decoded, order kept, empty values */
	expect_op(f, S3_GET, "/b?list-type=2&prefix=a+b%2Fc&delimiter=%2F&start-after=&fetch-owner",
		  "h", 0, S3_OP_LIST_OBJECTS_V2, "ListObjectsV2");
	assert_string_equal(s3_route_param(&f->r, "prefix"), "a b/c");
	assert_string_equal(s3_route_param(&f->r, "delimiter"), "/");
	assert_string_equal(s3_route_param(&f->r, "start-after"), "");
	assert_string_equal(s3_route_param(&f->r, "fetch-owner"), "");
	assert_true(s3_route_has(&f->r, "fetch-owner"));
	assert_false(s3_route_has(&f->r, "marker"));
	assert_null(s3_route_param(&f->r, "max-keys"));
	/* decoded parameter names */
	expect_op(f, S3_GET, "/b/k?version%49d=x%3Dy", "h", 0, S3_OP_GET_OBJECT, "GetObject");
	assert_string_equal(s3_route_param(&f->r, "versionId"), "x=y");
	/* a NUL in a key is data, key_len is authoritative */
	expect_op(f, S3_GET, "/b/a%00b", "h", 0, S3_OP_GET_OBJECT, "GetObject");
	assert_int_equal(f->r.key_len, 3);
	assert_memory_equal(f->r.key, "a\0b", 3);
}

static void test_percent_decode_function(void **state)
{
	(void)state;
	char out[32];

	assert_int_equal(s3_percent_decode("a%41%62", 7, out, 0), 3);
	assert_string_equal(out, "aAb");
	assert_int_equal(s3_percent_decode("a+b", 3, out, 1), 3);
	assert_string_equal(out, "a b");
	assert_int_equal(s3_percent_decode("a+b", 3, out, 0), 3);
	assert_string_equal(out, "a+b");
	assert_int_equal(s3_percent_decode("", 0, out, 0), 0);
	assert_int_equal(s3_percent_decode("%", 1, out, 0), -1);
	assert_int_equal(s3_percent_decode("%4", 2, out, 0), -1);
	assert_int_equal(s3_percent_decode("%4g", 3, out, 0), -1);
	assert_int_equal(s3_percent_decode("%g4", 3, out, 0), -1);
	assert_int_equal(s3_percent_decode("ab%", 3, out, 0), -1);
	/* the length bounds the read: "%41" cut to "%4" is bad */
	assert_int_equal(s3_percent_decode("%41", 2, out, 0), -1);
}

static void test_bad_escapes(void **state)
{
	struct fx *f = *state;

	assert_int_equal(route(f, S3_GET, "/b/k%zz", "h", 0), CN_EBADREQ);
	assert_int_equal(route(f, S3_GET, "/b/k%2", "h", 0), CN_EBADREQ);
	assert_int_equal(route(f, S3_GET, "/b/k%", "h", 0), CN_EBADREQ);
	assert_int_equal(route(f, S3_GET, "/b/k?prefix=%G0", "h", 0), CN_EBADREQ);
	assert_int_equal(route(f, S3_GET, "/b/k?%=x", "h", 0), CN_EBADREQ);
	assert_int_equal(route(f, S3_GET, "b/k", "h", 0), CN_EBADREQ);
	assert_int_equal(route(f, S3_GET, "", "h", 0), CN_EBADREQ);
	assert_non_null(f->r.op_name);
}

static void test_utf8(void **state)
{
	struct fx *f = *state;
	static const char *const bad[] = {
		"/b/%C3%28",	   /* bad continuation */
		"/b/%C3",	   /* truncated */
		"/b/%C0%AF",	   /* overlong '/' */
		"/b/%E0%80%AF",	   /* overlong 3-byte */
		"/b/%ED%A0%80",	   /* surrogate D800 */
		"/b/%F4%90%80%80", /* > U+10FFFF */
		"/b/%FF",	   /* never valid */
		"/b/%80abc",	   /* lone continuation */
		"/b/ok%F0%9F%98",  /* truncated 4-byte at the end */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = route(f, S3_GET, bad[i], "h", 0);
		if (rc != CN_EBADREQ)
			fail_msg("%s: rc=%d, want CN_EBADREQ", bad[i], rc);
	}
	expect_op(f, S3_GET, "/b/%F0%9F%98%80%E2%82%AC%C2%A9%EF%BF%BF", "h", 0, S3_OP_GET_OBJECT,
		  "GetObject");
	assert_int_equal(f->r.key_len, 4 + 3 + 2 + 3);
	assert_true(s3_utf8_valid("", 0));
	assert_true(s3_utf8_valid("\xf4\x8f\xbf\xbf", 4)); /* U+10FFFF */
	assert_false(s3_utf8_valid("\xf8\x88\x80\x80\x80", 5));
}

static void test_key_length(void **state)
{
	struct fx *f = *state;
	char url[4 * 1100];
	size_t o;

	/* 1024 bytes: the S3 maximum */
	o = (size_t)sprintf(url, "/b/");
	memset(url + o, 'k', 1024);
	url[o + 1024] = 0;
	expect_op(f, S3_PUT, url, "h", 0, S3_OP_PUT_OBJECT, "PutObject");
	assert_int_equal(f->r.key_len, 1024);
	/* 1025: too long */
	url[o + 1024] = 'k';
	url[o + 1025] = 0;
	assert_int_equal(route(f, S3_PUT, url, "h", 0), CN_EKEYTOOLONG);
	/* length is counted after decoding: 1024 escaped bytes are fine ... */
	o = (size_t)sprintf(url, "/b/");
	for (int i = 0; i < 1024; i++)
		o += (size_t)sprintf(url + o, "%%41");
	expect_op(f, S3_GET, url, "h", 0, S3_OP_GET_OBJECT, "GetObject");
	assert_int_equal(f->r.key_len, 1024);
	/* ... and a 2-byte character pushing it to 1025 is not */
	sprintf(url + 3 + 3 * 1023, "%%C3%%A9");
	assert_int_equal(route(f, S3_GET, url, "h", 0), CN_EKEYTOOLONG);
	/* virtual-host style counts the same key */
	o = 0;
	url[o++] = '/';
	memset(url + o, 'v', 1025);
	url[o + 1025] = 0;
	assert_int_equal(route(f, S3_GET, url, "b.localhost", 0), CN_EKEYTOOLONG);
	url[o + 1024] = 0;
	expect_op(f, S3_GET, url, "b.localhost", 0, S3_OP_GET_OBJECT, "GetObject");
}

/* A bucket name is at most 63 bytes and holds no NUL, however it arrives:
 * every later buffer (the metadata key encoding) is sized on that bound. */
static void test_bucket_length(void **state)
{
	struct fx *f = *state;
	char url[1200], host[1200];

	memset(url, 0, sizeof(url));
	url[0] = '/';
	memset(url + 1, 'b', 63);
	strcat(url, "/k");
	expect_op(f, S3_GET, url, "h", 0, S3_OP_GET_OBJECT, "GetObject");
	url[0] = '/';
	memset(url + 1, 'b', 64);
	strcpy(url + 65, "/k");
	assert_int_equal(route(f, S3_GET, url, "h", 0), CN_EBADBUCKETNAME);
	memset(url + 1, 'b', 600);
	strcpy(url + 601, "/k");
	assert_int_equal(route(f, S3_HEAD, url, "h", 0), CN_EBADBUCKETNAME);
	url[601] = 0; /* bucket operation, no key */
	assert_int_equal(route(f, S3_GET, url, "h", 0), CN_EBADBUCKETNAME);
	assert_int_equal(route(f, S3_GET, "/a%00b/k", "h", 0), CN_EBADBUCKETNAME);
	/* virtual host */
	memset(host, 'v', 600);
	strcpy(host + 600, ".localhost");
	assert_int_equal(route(f, S3_GET, "/k", host, 0), CN_EBADBUCKETNAME);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_path_style, setup, teardown),
		cmocka_unit_test_setup_teardown(test_virtual_host, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bucket_subresources, setup, teardown),
		cmocka_unit_test_setup_teardown(test_object_subresources, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_method, setup, teardown),
		cmocka_unit_test_setup_teardown(test_percent_decoding, setup, teardown),
		cmocka_unit_test(test_percent_decode_function),
		cmocka_unit_test_setup_teardown(test_bad_escapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_utf8, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bucket_length, setup, teardown),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests_name("s3/route", tests, NULL, NULL);
}
