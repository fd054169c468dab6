/*
 * Unit tests for auth/sigv4: the worked examples of the AWS S3 SigV4
 * documentation (GET object with Range, PUT object, GET lifecycle, list
 * objects, presigned GET), canonicalisation rules, every rejection path,
 * the signing-key cache (also under threads) and the client-side signer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/sigv4.h"
#include "core/digest.h"
#include "core/err.h"

#define AKID "AKIAIOSFODNN7EXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define EMPTY SIGV4_EMPTY_SHA256
#define T0 ((time_t)1369353600) /* 20130524T000000Z */
#define HOST "examplebucket.s3.amazonaws.com"

static const char *secret_for_test = SECRET;

static int get_secret(void *arg, const char *ak, char *out, size_t cap)
{
	int *calls = arg;
	if (calls)
		(*calls)++;
	if (strcmp(ak, AKID) != 0)
		return CN_EBADKEYID;
	snprintf(out, cap, "%s", secret_for_test);
	return 0;
}

/* A request under construction: headers as (name, value) C strings. */
struct treq {
	struct sigv4_request r;
	struct sigv4_header h[16];
	size_t n;
};

static void treq_init(struct treq *t, const char *method, const char *path, const char *query)
{
	memset(t, 0, sizeof(*t));
	t->r.method = method;
	t->r.path = path;
	t->r.path_len = strlen(path);
	t->r.query = query;
	t->r.query_len = query ? strlen(query) : 0;
	t->r.headers = t->h;
	t->r.now = T0;
}

static void treq_add(struct treq *t, const char *name, const char *value)
{
	assert_true(t->n < 16);
	t->h[t->n].name = name;
	t->h[t->n].name_len = strlen(name);
	t->h[t->n].value = value;
	t->h[t->n].value_len = strlen(value);
	t->n++;
	t->r.n_headers = t->n;
}

static void sha_hex(const char *s, size_t len, char out[65])
{
	uint8_t h[32];
	cn_sha256(s, len, h);
	cn_hex(h, 32, out);
}

static void check_canonical(const struct sigv4_request *r, const char *sh, const char *ph,
			    const char *want, const char *want_hash)
{
	char *canon;
	size_t len;
	char hex[65];
	assert_int_equal(
		sigv4_canonical_request(r, sh, strlen(sh), ph, strlen(ph), 0, &canon, &len), 0);
	assert_string_equal(canon, want);
	assert_int_equal(len, strlen(want));
	sha_hex(canon, len, hex);
	if (want_hash)
		assert_string_equal(hex, want_hash);
	free(canon);
}

/* Example 1: GET Object with a Range header. */
static void get_object_req(struct treq *t, const char *auth)
{
	treq_init(t, "GET", "/test.txt", NULL);
	treq_add(t, "Host", HOST);
	treq_add(t, "Range", "bytes=0-9");
	treq_add(t, "x-amz-content-sha256", EMPTY);
	treq_add(t, "x-amz-date", "20130524T000000Z");
	if (auth)
		treq_add(t, "Authorization", auth);
}

#define GET_AUTH                                                                                   \
	"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"     \
	"SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"                                \
	"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"

static void test_doc_get_object(void **state)
{
	(void)state;
	struct treq t;
	struct sigv4_result res;
	get_object_req(&t, GET_AUTH);
	check_canonical(&t.r, "host;range;x-amz-content-sha256;x-amz-date", EMPTY,
			"GET\n/test.txt\n\n"
			"host:examplebucket.s3.amazonaws.com\n"
			"range:bytes=0-9\n"
			"x-amz-content-sha256:" EMPTY "\n"
			"x-amz-date:20130524T000000Z\n\n"
			"host;range;x-amz-content-sha256;x-amz-date\n" EMPTY,
			"7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), 0);
	assert_int_equal(res.kind, SIGV4_KIND_HEADER);
	assert_string_equal(res.access_key, AKID);
	assert_string_equal(res.region, "us-east-1");
	assert_string_equal(res.date, "20130524");
	assert_string_equal(res.amz_date, "20130524T000000Z");
	assert_string_equal(res.scope, "20130524/us-east-1/s3/aws4_request");
	assert_string_equal(res.seed_signature,
			    "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	assert_int_equal(res.payload, SIGV4_PAYLOAD_SIGNED);
	assert_true(res.decoded_len == UINT64_MAX);
	uint8_t empty[32];
	cn_sha256("", 0, empty);
	assert_int_equal(sigv4_payload_check(&res, empty), 0);

	/* The signing key is the documented derivation of the example secret. */
	uint8_t key[32];
	sigv4_signing_key(AKID, SECRET, "20130524", "us-east-1", key);
	assert_memory_equal(key, res.signing_key, 32);

	/* The client signer produces the same header. */
	struct treq c;
	char auth[512];
	get_object_req(&c, NULL);
	assert_int_equal(sigv4_sign_header(&c.r, &(struct sigv4_creds){AKID, SECRET, "us-east-1"},
					   "20130524T000000Z",
					   "host;range;x-amz-content-sha256;x-amz-date", EMPTY,
					   auth, sizeof(auth), NULL),
			 0);
	assert_string_equal(auth, GET_AUTH);
}

/* Example 2: PUT Object; the key has a '$' the canonical URI encodes, and
 * both Date and x-amz-date are present (x-amz-date is the one signed). */
static void put_object_req(struct treq *t, const char *path, const char *auth)
{
	treq_init(t, "PUT", path, NULL);
	treq_add(t, "Host", HOST);
	treq_add(t, "Date", "Fri, 24 May 2013 00:00:00 GMT");
	treq_add(t, "x-amz-date", "20130524T000000Z");
	treq_add(t, "x-amz-storage-class", "REDUCED_REDUNDANCY");
	treq_add(t, "x-amz-content-sha256",
		 "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
	if (auth)
		treq_add(t, "Authorization", auth);
}

#define PUT_AUTH                                                                                   \
	"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"     \
	"SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,"             \
	"Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"

static void test_doc_put_object(void **state)
{
	(void)state;
	struct treq t;
	struct sigv4_result res;
	const char *body = "Welcome to Amazon S3.";
	uint8_t h[32];

	put_object_req(&t, "/test$file.text", PUT_AUTH);
	check_canonical(&t.r, "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
			"44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
			"PUT\n/test%24file.text\n\n"
			"date:Fri, 24 May 2013 00:00:00 GMT\n"
			"host:examplebucket.s3.amazonaws.com\n"
			"x-amz-content-sha256:"
			"44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
			"x-amz-date:20130524T000000Z\n"
			"x-amz-storage-class:REDUCED_REDUNDANCY\n\n"
			"date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
			"44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
			"9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d");
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), 0);
	assert_int_equal(res.payload, SIGV4_PAYLOAD_SIGNED);
	cn_sha256(body, strlen(body), h);
	assert_int_equal(sigv4_payload_check(&res, h), 0);
	cn_sha256("Welcome to Amazon S3!", 21, h);
	assert_int_equal(sigv4_payload_check(&res, h), CN_ESHAMISMATCH);

	/* The same request with the '$' already percent-encoded on the wire. */
	put_object_req(&t, "/test%24file.text", PUT_AUTH);
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), 0);
	/* A different key is a different canonical URI. */
	put_object_req(&t, "/test%25file.text", PUT_AUTH);
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EBADSIG);
}

/* Examples 3 and 4: GET bucket lifecycle and list objects (query strings). */
static void bucket_req(struct treq *t, const char *query, const char *sig)
{
	static char auth[512];
	snprintf(auth, sizeof(auth),
		 "AWS4-HMAC-SHA256 Credential=" AKID "/20130524/us-east-1/s3/aws4_request,"
		 "SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=%s",
		 sig);
	treq_init(t, "GET", "/", query);
	treq_add(t, "Host", HOST);
	treq_add(t, "x-amz-date", "20130524T000000Z");
	treq_add(t, "x-amz-content-sha256", EMPTY);
	treq_add(t, "Authorization", auth);
}

static void test_doc_lifecycle_and_list(void **state)
{
	(void)state;
	struct treq t;
	struct sigv4_result res;
	const char *lc = "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543";
	const char *ls = "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7";

	bucket_req(&t, "lifecycle", lc);
	check_canonical(&t.r, "host;x-amz-content-sha256;x-amz-date", EMPTY,
			"GET\n/\nlifecycle=\n"
			"host:examplebucket.s3.amazonaws.com\n"
			"x-amz-content-sha256:" EMPTY "\n"
			"x-amz-date:20130524T000000Z\n\n"
			"host;x-amz-content-sha256;x-amz-date\n" EMPTY,
			"9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca");
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), 0);
	bucket_req(&t, "lifecycle=", lc);
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), 0);

	bucket_req(&t, "max-keys=2&prefix=J", ls);
	check_canonical(&t.r, "host;x-amz-content-sha256;x-amz-date", EMPTY,
			"GET\n/\nmax-keys=2&prefix=J\n"
			"host:examplebucket.s3.amazonaws.com\n"
			"x-amz-content-sha256:" EMPTY "\n"
			"x-amz-date:20130524T000000Z\n\n"
			"host;x-amz-content-sha256;x-amz-date\n" EMPTY,
			"df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7");
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), 0);
	/* Parameter order on the wire does not matter; values do. */
	bucket_req(&t, "prefix=J&max-keys=2", ls);
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), 0);
	bucket_req(&t, "prefix=K&max-keys=2", ls);
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EBADSIG);
}

/* The presigned GET example: expires in 86400 s, only host signed. */
#define PRESIGN_Q                                                                                  \
	"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F"                \
	"20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&"                    \
	"X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature="                            \
	"aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"

static void test_doc_presigned(void **state)
{
	(void)state;
	struct treq t;
	struct sigv4_result res;
	char q[1024];

	treq_init(&t, "GET", "/test.txt", PRESIGN_Q);
	treq_add(&t, "Host", HOST);
	t.r.now = T0 + 3600;
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), 0);
	assert_int_equal(res.kind, SIGV4_KIND_PRESIGNED);
	assert_int_equal(res.payload, SIGV4_PAYLOAD_UNSIGNED);
	assert_true(res.expires == T0 + 86400);
	assert_string_equal(res.seed_signature,
			    "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
	t.r.now = T0 + 86400;
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), 0);
	t.r.now = T0 + 86401;
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EEXPIRED);
	t.r.now = T0 - 3600; /* signed an hour in the future */
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_ENOTYETVALID);
	t.r.now = T0 - SIGV4_MAX_SKEW; /* a client clock ahead by the allowed skew */
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), 0);
	t.r.now = T0 - SIGV4_MAX_SKEW - 1;
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_ENOTYETVALID);

	/* The client presigner reproduces the documented query. */
	struct treq c;
	treq_init(&c, "GET", "/test.txt", NULL);
	treq_add(&c, "Host", HOST);
	assert_int_equal(sigv4_presign(&c.r, &(struct sigv4_creds){AKID, SECRET, "us-east-1"},
				       "20130524T000000Z", 86400, q, sizeof(q)),
			 0);
	assert_string_equal(q, PRESIGN_Q);
	assert_int_equal(sigv4_presign(&c.r, &(struct sigv4_creds){AKID, SECRET, "us-east-1"},
				       "20130524T000000Z", 86400, q, 100),
			 CN_ETOOBIG);

	/* Expires bounds: 1..604800. */
	const char *bad_expires[] = {"0", "604801", "-1", "1e3", ""};
	for (size_t i = 0; i < sizeof(bad_expires) / sizeof(*bad_expires); i++) {
		char qq[1024];
		snprintf(
			qq, sizeof(qq),
			"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%%2F"
			"20130524%%2Fus-east-1%%2Fs3%%2Faws4_request&X-Amz-Date=20130524T000000Z&"
			"X-Amz-Expires=%s&X-Amz-SignedHeaders=host&X-Amz-Signature="
			"aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
			bad_expires[i]);
		treq_init(&t, "GET", "/test.txt", qq);
		treq_add(&t, "Host", HOST);
		/* S3's AuthorizationQueryParametersError, not a header error */
		assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EQUERYEXPIRES);
	}
	/* A tampered path, a missing parameter, a wrong key. */
	treq_init(&t, "GET", "/test2.txt", PRESIGN_Q);
	treq_add(&t, "Host", HOST);
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EBADSIG);
	treq_init(&t, "GET", "/test.txt",
		  "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20130524T000000Z");
	treq_add(&t, "Host", HOST);
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EQUERYPARAMS);
	secret_for_test = "not-the-secret";
	treq_init(&t, "GET", "/test.txt", PRESIGN_Q);
	treq_add(&t, "Host", HOST);
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EBADSIG);
	secret_for_test = SECRET;
	/* Both mechanisms at once are refused (S3: InvalidArgument). */
	treq_add(&t, "Authorization", GET_AUTH);
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_ETWOAUTH);
}

/* Signed + presigned round trip through the client presigner with extra
 * query parameters (kept, and covered by the signature). */
static void test_presign_roundtrip(void **state)
{
	(void)state;
	struct treq c, t;
	struct sigv4_result res;
	char q[2048];
	treq_init(&c, "PUT", "/bucket/some%20key/with~tilde", "partNumber=3&uploadId=a%2Bb");
	treq_add(&c, "host", "localhost:9000");
	assert_int_equal(sigv4_presign(&c.r, &(struct sigv4_creds){AKID, SECRET, "eu-west-1"},
				       "20130524T000000Z", 60, q, sizeof(q)),
			 0);
	treq_init(&t, "PUT", "/bucket/some%20key/with~tilde", q);
	treq_add(&t, "Host", "localhost:9000");
	t.r.now = T0 + 60;
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), 0);
	assert_string_equal(res.region, "eu-west-1");
	t.r.now = T0 + 61;
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EEXPIRED);
	/* The host is signed. */
	t.h[0].value = "evil:9000";
	t.h[0].value_len = 9;
	t.r.now = T0;
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EBADSIG);
}

/* Every x-amz-* header must be signed: a correctly signed request that also
 * carries an unsigned one is refused (CN_EUNSIGNEDHDR, naming it), in both
 * forms; x-amz-content-sha256 is exempt (it is the payload hash). */
static void test_unsigned_amz_headers(void **state)
{
	(void)state;
	struct treq c, t;
	struct sigv4_result res;
	char q[2048], auth[512];
	treq_init(&c, "PUT", "/b/k", NULL);
	treq_add(&c, "host", "h");
	assert_int_equal(sigv4_presign(&c.r, &(struct sigv4_creds){AKID, SECRET, "us-east-1"},
				       "20130524T000000Z", 60, q, sizeof(q)),
			 0);
	treq_init(&t, "PUT", "/b/k", q);
	treq_add(&t, "Host", "h");
	treq_add(&t, "Content-MD5", "ignored-here"); /* not x-amz-*: may be unsigned */
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), 0);
	treq_add(&t, "X-Amz-Copy-Source", "/b/secret");
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EUNSIGNEDHDR);
	assert_int_equal(res.unsigned_header_len, 17);
	assert_memory_equal(res.unsigned_header, "X-Amz-Copy-Source", 17);
	/* "x-amzn-" is another prefix (SDKs leave x-amzn-trace-id unsigned) */
	treq_init(&t, "PUT", "/b/k", q);
	treq_add(&t, "Host", "h");
	treq_add(&t, "x-amzn-trace-id", "Root=1");
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), 0);

	treq_init(&t, "PUT", "/b/k", NULL);
	treq_add(&t, "host", "h");
	treq_add(&t, "x-amz-date", "20130524T000000Z");
	treq_add(&t, "x-amz-content-sha256", "UNSIGNED-PAYLOAD");
	treq_add(&t, "x-amz-meta-a", "1");
	assert_int_equal(sigv4_sign_header(&t.r, &(struct sigv4_creds){AKID, SECRET, "us-east-1"},
					   "20130524T000000Z", "host;x-amz-date;x-amz-meta-a",
					   "UNSIGNED-PAYLOAD", auth, sizeof(auth), NULL),
			 0);
	treq_add(&t, "Authorization", auth);
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), 0); /* sha256 unsigned: ok */
	treq_add(&t, "x-amz-meta-b", "2");
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EUNSIGNEDHDR);
	assert_memory_equal(res.unsigned_header, "x-amz-meta-b", 12);
}

/* The credential scope's region must be the server's when it names one. */
static void test_region(void **state)
{
	(void)state;
	struct treq c, t;
	struct sigv4_result res;
	char q[2048];
	treq_init(&c, "GET", "/b/k", NULL);
	treq_add(&c, "host", "h");
	assert_int_equal(sigv4_presign(&c.r, &(struct sigv4_creds){AKID, SECRET, "eu-west-9"},
				       "20130524T000000Z", 60, q, sizeof(q)),
			 0);
	treq_init(&t, "GET", "/b/k", q);
	treq_add(&t, "Host", "h");
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), 0);
	t.r.region = "eu-west-9";
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), 0);
	t.r.region = "us-east-1";
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EBADQUERYAUTH);
	get_object_req(&t, GET_AUTH);
	t.r.region = "eu-west-9";
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EBADREGION);
	t.r.region = "us-east-1";
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), 0);
}

static void test_canonical_uri_and_query(void **state)
{
	(void)state;
	struct treq t;
	treq_init(&t, "GET", "/%7Euser/a+b/%2f/caf%C3%A9/a%20b/./..//x",
		  "b=2&a=1&a=0&c&&d=%2F+%7e&e=a/b&X-Amz-Signature=zz");
	treq_add(&t, "host", "h");
	check_canonical(&t.r, "host", "UNSIGNED-PAYLOAD",
			"GET\n/~user/a%2Bb///caf%C3%A9/a%20b/./..//x\n"
			"X-Amz-Signature=zz&a=0&a=1&b=2&c=&d=%2F%20~&e=a%2Fb\n"
			"host:h\n\nhost\nUNSIGNED-PAYLOAD",
			NULL);
}

/* Components with nothing to decode are encoded as they are (no '%', and
 * in a query no '+'), runs of plain bytes in one write: every byte that
 * needs it is still escaped, at the start, the end and side by side. */
static void test_canonical_plain_components(void **state)
{
	(void)state;
	struct treq t;

	treq_init(&t, "GET", "/b/\xc3\xa9k!*'()$,;=:@ +x/~a-b_c.d/ /", "a=1&b=x/y&c=~!&d");
	treq_add(&t, "host", "h");
	treq_add(&t, "x-amz-meta-a", "\tone  \t two   three\t ");
	treq_add(&t, "x-amz-meta-b", "   ");
	treq_add(&t, "x-amz-meta-c", "z");
	check_canonical(&t.r, "host;x-amz-meta-a;x-amz-meta-b;x-amz-meta-c", "UNSIGNED-PAYLOAD",
			"GET\n/b/%C3%A9k%21%2A%27%28%29%24%2C%3B%3D%3A%40%20%2Bx/~a-b_c.d/%20/\n"
			"a=1&b=x%2Fy&c=~%21&d=\n"
			"host:h\nx-amz-meta-a:one two three\nx-amz-meta-b:\nx-amz-meta-c:z\n\n"
			"host;x-amz-meta-a;x-amz-meta-b;x-amz-meta-c\nUNSIGNED-PAYLOAD",
			NULL);
	/* the same with a '+' in the query: decoded as a space there */
	treq_init(&t, "GET", "/%41", "k=a+b");
	treq_add(&t, "host", "h");
	check_canonical(&t.r, "host", "UNSIGNED-PAYLOAD",
			"GET\n/A\nk=a%20b\nhost:h\n\nhost\nUNSIGNED-PAYLOAD", NULL);
}

/* Signs, as a client would, the canonical request whose CanonicalURI is uri
 * and CanonicalQueryString cq (both given as is) and returns the
 * Authorization value for put_req()'s headers. */
static void sign_as(const char *uri, const char *cq, char *auth, size_t cap)
{
	char canon[1024], sts[512], hex[65];
	uint8_t key[32], sig[32];
	int n = snprintf(canon, sizeof(canon),
			 "PUT\n%s\n%s\nhost:h\nx-amz-content-sha256:UNSIGNED-PAYLOAD\n"
			 "x-amz-date:20130524T000000Z\n\nhost;x-amz-content-sha256;x-amz-date\n"
			 "UNSIGNED-PAYLOAD",
			 uri, cq);
	sha_hex(canon, (size_t)n, hex);
	n = snprintf(sts, sizeof(sts),
		     "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n%s",
		     hex);
	sigv4_signing_key(AKID, SECRET, "20130524", "us-east-1", key);
	cn_hmac_sha256(key, 32, sts, (size_t)n, sig);
	cn_hex(sig, 32, hex);
	snprintf(auth, cap,
		 "AWS4-HMAC-SHA256 Credential=" AKID "/20130524/us-east-1/s3/aws4_request,"
		 "SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=%s",
		 hex);
}

static void put_req(struct treq *t, const char *path, const char *query, const char *auth)
{
	treq_init(t, "PUT", path, query);
	treq_add(t, "host", "h");
	treq_add(t, "x-amz-content-sha256", "UNSIGNED-PAYLOAD");
	treq_add(t, "x-amz-date", "20130524T000000Z");
	treq_add(t, "Authorization", auth);
}

/* A path or query encoded other than canonically ("%2F", "%7E", lower-case
 * hex, an unreserved byte escaped, a raw '/' in a value) verifies when the
 * client signed it as sent (what botocore does) and when it signed the
 * canonical form; any other request fails. */
static void test_signed_as_sent(void **state)
{
	(void)state;
	static const struct {
		const char *path, *query;	 /* on the wire */
		const char *sent_uri, *sent_q;	 /* signed as sent (query sorted) */
		const char *canon_uri, *canon_q; /* signed canonically */
	} cases[] = {
		{"/b/a%2Fb", "", "/b/a%2Fb", "", "/b/a/b", ""},
		{"/b/%7Euser", "", "/b/%7Euser", "", "/b/~user", ""},
		{"/b/c%2fd%c3%a9", "", "/b/c%2fd%c3%a9", "", "/b/c/d%C3%A9", ""},
		{"/b/e%41f", "", "/b/e%41f", "", "/b/eAf", ""},
		{"/b/a(b)!*'", "", "/b/a(b)!*'", "", "/b/a%28b%29%21%2A%27", ""},
		{"/b", "prefix=a/b&list-type=2", "/b", "list-type=2&prefix=a/b", "/b",
		 "list-type=2&prefix=a%2Fb"},
		{"/b", "prefix=a%2fb%7e&delimiter", "/b", "delimiter=&prefix=a%2fb%7e", "/b",
		 "delimiter=&prefix=a%2Fb~"},
		{"/b/%7E", "uploadId=x%2by", "/b/%7E", "uploadId=x%2by", "/b/~", "uploadId=x%2By"},
	};
	struct treq t;
	struct sigv4_result res;
	char auth[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sign_as(cases[i].sent_uri, cases[i].sent_q, auth, sizeof(auth));
		put_req(&t, cases[i].path, cases[i].query, auth);
		assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), 0);
		/* the signature is bound to path and query */
		put_req(&t, "/b/other", cases[i].query, auth);
		assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EBADSIG);
		put_req(&t, cases[i].path, "x=1", auth);
		assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EBADSIG);
		sign_as(cases[i].canon_uri, cases[i].canon_q, auth, sizeof(auth));
		put_req(&t, cases[i].path, cases[i].query, auth);
		assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), 0);
		put_req(&t, "/b/other", cases[i].query, auth);
		assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EBADSIG);
	}
	/* signed as sent, then sent otherwise encoded: refused, as by S3 (neither
	 * the new wire form nor its canonical form was signed) */
	sign_as("/b/a%2Fb", "", auth, sizeof(auth));
	put_req(&t, "/b/a%2fb", "", auth);
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EBADSIG);
	/* a canonical request with a wrong signature: still refused */
	sign_as("/b/x", "", auth, sizeof(auth));
	put_req(&t, "/b/y", "", auth);
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EBADSIG);
}

static void test_canonical_errors(void **state)
{
	(void)state;
	struct treq t;
	char *canon = (char *)1;
	size_t len;
	const char *bad_paths[] = {"/a%", "/a%2", "/a%zz", "noslash"};
	for (size_t i = 0; i < 4; i++) {
		treq_init(&t, "GET", bad_paths[i], NULL);
		treq_add(&t, "host", "h");
		assert_int_equal(sigv4_canonical_request(&t.r, "host", 4, "x", 1, 0, &canon, &len),
				 CN_EBADREQ);
		assert_null(canon);
	}
	treq_init(&t, "GET", "/", "a=%G0");
	treq_add(&t, "host", "h");
	assert_int_equal(sigv4_canonical_request(&t.r, "host", 4, "x", 1, 0, &canon, &len),
			 CN_EBADREQ);
	/* A signed header the request does not carry; bad names. */
	treq_init(&t, "GET", "/", NULL);
	treq_add(&t, "host", "h");
	assert_int_equal(
		sigv4_canonical_request(&t.r, "host;x-amz-date", 15, "x", 1, 0, &canon, &len),
		CN_EBADAUTH);
	assert_int_equal(sigv4_canonical_request(&t.r, "Host", 4, "x", 1, 0, &canon, &len),
			 CN_EBADAUTH);
	assert_int_equal(sigv4_canonical_request(&t.r, "host;", 5, "x", 1, 0, &canon, &len),
			 CN_EBADAUTH);
	assert_int_equal(sigv4_canonical_request(&t.r, "", 0, "x", 1, 0, &canon, &len),
			 CN_EBADAUTH);
}

/* Header values are trimmed, inner spaces collapsed, repeats joined. */
static void test_header_canonicalisation(void **state)
{
	(void)state;
	struct treq t;
	struct sigv4_result res;
	char auth[512];
	treq_init(&t, "PUT", "/b/k", NULL);
	treq_add(&t, "HOST", "  h  ");
	treq_add(&t, "X-Amz-Meta-A", "  one   two\t three ");
	treq_add(&t, "x-amz-meta-list", "x");
	treq_add(&t, "X-AMZ-META-LIST", " y  z");
	treq_add(&t, "x-amz-date", "20130524T000000Z");
	treq_add(&t, "x-amz-content-sha256", "UNSIGNED-PAYLOAD");
	char *canon;
	size_t len;
	assert_int_equal(sigv4_canonical_request(&t.r, "host;x-amz-meta-a;x-amz-meta-list", 33,
						 "UNSIGNED-PAYLOAD", 16, 0, &canon, &len),
			 0);
	assert_string_equal(canon, "PUT\n/b/k\n\nhost:h\nx-amz-meta-a:one two three\n"
				   "x-amz-meta-list:x,y z\n\nhost;x-amz-meta-a;x-amz-meta-list\n"
				   "UNSIGNED-PAYLOAD");
	free(canon);
	const char *sh = "host;x-amz-content-sha256;x-amz-date;x-amz-meta-a;x-amz-meta-list";
	assert_int_equal(sigv4_sign_header(&t.r, &(struct sigv4_creds){AKID, SECRET, "us-east-1"},
					   "20130524T000000Z", sh, "UNSIGNED-PAYLOAD", auth,
					   sizeof(auth), NULL),
			 0);
	treq_add(&t, "authorization", auth);
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), 0);
	assert_int_equal(res.payload, SIGV4_PAYLOAD_UNSIGNED);
	assert_int_equal(sigv4_payload_check(&res, (uint8_t[32]){0}), 0);
	/* Changing a signed value, or the order of repeated headers, breaks it. */
	t.h[2].value = "y  z";
	t.h[2].value_len = 4;
	t.h[3].value = "x";
	t.h[3].value_len = 1;
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EBADSIG);
}

static void test_rejections(void **state)
{
	(void)state;
	struct treq t;
	struct sigv4_result res;
	int calls = 0;

	/* No authentication at all. */
	treq_init(&t, "GET", "/test.txt", "foo=bar");
	treq_add(&t, "Host", HOST);
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EACCESS);

	/* Clock skew: 15 minutes either way is fine, one second more is not. */
	get_object_req(&t, GET_AUTH);
	t.r.now = T0 + 900;
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), 0);
	t.r.now = T0 - 900;
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), 0);
	t.r.now = T0 + 901;
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_ESKEW);
	t.r.now = T0 - 901;
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_ESKEW);

	/* Unknown key, wrong secret, altered signature (first and last digit). */
	const char *other =
		"AWS4-HMAC-SHA256 Credential=AKIAOTHERKEY/20130524/us-east-1/s3/aws4_request,"
		"SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
		"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
	get_object_req(&t, other);
	assert_int_equal(sigv4_verify(&t.r, get_secret, &calls, &res), CN_EBADKEYID);
	assert_int_equal(calls, 1);
	secret_for_test = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEZ";
	get_object_req(&t, GET_AUTH);
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EBADSIG);
	secret_for_test = SECRET;
	char auth[512];
	strcpy(auth, GET_AUTH);
	char *sig = strstr(auth, "Signature=") + 10;
	sig[0] = 'e';
	get_object_req(&t, auth);
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EBADSIG);
	sig[0] = 'f';
	sig[63] = '0';
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EBADSIG);
	sig[63] = '1';
	/* Upper-case hex in the claimed signature is the same signature. */
	for (int i = 0; i < 64; i++)
		if (sig[i] >= 'a' && sig[i] <= 'f')
			sig[i] = (char)(sig[i] - 32);
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), 0);

	/* The request is bound to method, range and body hash. */
	get_object_req(&t, GET_AUTH);
	t.r.method = "HEAD";
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EBADSIG);
	get_object_req(&t, GET_AUTH);
	t.h[1].value = "bytes=0-10";
	t.h[1].value_len = 10;
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EBADSIG);

	/* Malformed Authorization headers. */
	static const char *const malformed[] = {
		"AWS4-HMAC-SHA256",
		"AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=",
		"AWS4-HMAC-SHA1 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
		"aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
		"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
		"aws4_request,Signature="
		"f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s4/"
		"aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
		"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
		"aws5_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
		"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3,"
		"SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
		"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130525/us-east-1/s3/"
		"aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
		"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/2013052x/us-east-1/s3/"
		"aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
		"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
		"aws4_request,SignedHeaders=range;x-amz-content-sha256;x-amz-date,"
		"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
		"aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
		"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb4",
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
		"aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
		"Signature=g0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
		"aws4_request,Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
		"SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
		"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
		"aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
		"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41,Foo=1",
		"AWS4-HMAC-SHA256 Credential=/20130524/us-east-1/s3/"
		"aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
		"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524//s3/"
		"aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
		"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
		/* signs a header the request does not carry */
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
		"aws4_request,SignedHeaders=content-md5;host;range;x-amz-content-sha256;x-amz-date,"
		"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
	};
	for (size_t i = 0; i < sizeof(malformed) / sizeof(*malformed); i++) {
		get_object_req(&t, malformed[i]);
		calls = 0;
		int rc = sigv4_verify(&t.r, get_secret, &calls, &res);
		if (rc != CN_EBADAUTH)
			fail_msg("case %zu: got %s", i, cn_errname(rc));
	}
	/* Spaces after commas, as some clients send, are fine. */
	get_object_req(
		&t, "AWS4-HMAC-SHA256  Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
		    "aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
		    "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), 0);

	/* Dates. */
	const char *bad_dates[] = {"20130524T000000",
				   "20130524 000000Z",
				   "2013-05-24T00:00:00Z",
				   "20131324T000000Z",
				   "20130230T000000Z",
				   "20130524T250000Z",
				   ""};
	for (size_t i = 0; i < sizeof(bad_dates) / sizeof(*bad_dates); i++) {
		get_object_req(&t, GET_AUTH);
		t.h[3].value = bad_dates[i];
		t.h[3].value_len = strlen(bad_dates[i]);
		assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EBADDATE);
	}
	/* x-amz-date on another day than the credential scope. */
	get_object_req(&t, GET_AUTH);
	t.h[3].value = "20130525T000000Z";
	t.h[3].value_len = 16;
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EBADAUTH);
	/* No date at all. */
	get_object_req(&t, GET_AUTH);
	t.h[3].name = "x-amz-datf";
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EBADDATE);

	/* x-amz-content-sha256: required for header auth, and well-formed. */
	const char *bad_sha[] = {
		"", "UNSIGNED", "e3b0c44298fc1c149afbf4c8996fb92427ae41e46",
		"STREAMING-AWS4-HMAC-SHA256-EVENTS",
		"z3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"};
	for (size_t i = 0; i < sizeof(bad_sha) / sizeof(*bad_sha); i++) {
		get_object_req(&t, GET_AUTH);
		t.h[2].value = bad_sha[i];
		t.h[2].value_len = strlen(bad_sha[i]);
		assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EBADSHAHDR);
	}
	get_object_req(&t, GET_AUTH);
	t.h[2].name = "x-amz-content-sha255";
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_ENOSHAHDR);
}

/* Only the Date header (RFC 1123) dates the request. */
static void test_date_header_only(void **state)
{
	(void)state;
	struct treq t;
	struct sigv4_result res;
	char auth[512];
	treq_init(&t, "GET", "/b/k", NULL);
	treq_add(&t, "host", "h");
	treq_add(&t, "date", "Fri, 24 May 2013 00:00:00 GMT");
	treq_add(&t, "x-amz-content-sha256", EMPTY);
	assert_int_equal(sigv4_sign_header(&t.r, &(struct sigv4_creds){AKID, SECRET, "us-east-1"},
					   "20130524T000000Z", "date;host;x-amz-content-sha256",
					   EMPTY, auth, sizeof(auth), NULL),
			 0);
	treq_add(&t, "Authorization", auth);
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), 0);
	assert_string_equal(res.amz_date, "20130524T000000Z");
	t.h[1].value = "Fri, 24 May 2013 00:00:00 UTC";
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EBADDATE);
	t.h[1].value = "Fri, 24 Mai 2013 00:00:00 GMT";
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EBADDATE);
}

static void test_amz_date_roundtrip(void **state)
{
	(void)state;
	time_t t;
	char s[17];
	assert_int_equal(sigv4_parse_amz_date("20130524T000000Z", 16, &t), 0);
	assert_true(t == T0);
	sigv4_format_amz_date(T0 + 86399, s);
	assert_string_equal(s, "20130524T235959Z");
	assert_int_equal(sigv4_parse_amz_date("20240229T120000Z", 16, &t), 0);
	assert_int_equal(sigv4_parse_amz_date("20230229T120000Z", 16, &t), CN_EBADDATE);
	assert_int_equal(sigv4_parse_amz_date("20130524T000000Z", 15, &t), CN_EBADDATE);
}

/* The date arithmetic against the C library's timegm, which it replaced:
 * every month's last day, leap days, a leap second, random instants up to
 * 9999. */
static void test_amz_date_matches_timegm(void **state)
{
	(void)state;
	static const int mlen[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	uint64_t x = 0x2545f4914f6cdd1dull;
	char s[32];
	time_t t;

	for (int i = 0; i < 100000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		int y = 1970 + (int)(x % 8030), mo = 1 + (int)((x >> 16) % 12);
		int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
		int last = mlen[mo - 1] + (mo == 2 && leap);
		int d = i % 3 ? 1 + (int)((x >> 24) % (uint64_t)last) : last;
		int h = (int)((x >> 32) % 24), mi = (int)((x >> 40) % 60);
		int sec = i % 97 ? (int)((x >> 48) % 60) : 60;
		struct tm tm = {.tm_year = y - 1900,
				.tm_mon = mo - 1,
				.tm_mday = d,
				.tm_hour = h,
				.tm_min = mi,
				.tm_sec = sec};
		snprintf(s, sizeof(s), "%04d%02d%02dT%02d%02d%02dZ", y, mo, d, h, mi, sec);
		assert_int_equal(sigv4_parse_amz_date(s, 16, &t), 0);
		if (t != timegm(&tm))
			fail_msg("%s: %lld, timegm %lld", s, (long long)t, (long long)timegm(&tm));
	}
	assert_int_equal(sigv4_parse_amz_date("19700101T000000Z", 16, &t), 0);
	assert_true(t == 0);
	assert_int_equal(sigv4_parse_amz_date("99991231T235959Z", 16, &t), 0);
	assert_true(t == 253402300799);
	assert_int_equal(sigv4_parse_amz_date("21000229T000000Z", 16, &t), CN_EBADDATE);
	assert_int_equal(sigv4_parse_amz_date("20000229T000000Z", 16, &t), 0);
	assert_int_equal(sigv4_parse_amz_date("20240431T000000Z", 16, &t), CN_EBADDATE);
	assert_int_equal(sigv4_parse_amz_date("20241301T000000Z", 16, &t), CN_EBADDATE);
	assert_int_equal(sigv4_parse_amz_date("20241201T240000Z", 16, &t), CN_EBADDATE);
}

/* Body headers: decoded length and the declared trailer. */
static void test_streaming_modes(void **state)
{
	(void)state;
	static const struct {
		const char *v;
		enum sigv4_payload p;
	} modes[] = {
		{"STREAMING-AWS4-HMAC-SHA256-PAYLOAD", SIGV4_PAYLOAD_STREAMING},
		{"STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", SIGV4_PAYLOAD_STREAMING_TRAILER},
		{"STREAMING-UNSIGNED-PAYLOAD-TRAILER", SIGV4_PAYLOAD_STREAMING_UNSIGNED_TRAILER},
		{"UNSIGNED-PAYLOAD", SIGV4_PAYLOAD_UNSIGNED},
	};
	for (size_t i = 0; i < 4; i++) {
		struct treq t;
		struct sigv4_result res;
		char auth[512];
		treq_init(&t, "PUT", "/b/k", NULL);
		treq_add(&t, "host", "h");
		treq_add(&t, "x-amz-date", "20130524T000000Z");
		treq_add(&t, "x-amz-content-sha256", modes[i].v);
		treq_add(&t, "x-amz-decoded-content-length", "66560");
		treq_add(&t, "x-amz-trailer", " X-Amz-Checksum-CRC32C ");
		assert_int_equal(sigv4_sign_header(&t.r,
						   &(struct sigv4_creds){AKID, SECRET, "us-east-1"},
						   "20130524T000000Z",
						   "host;x-amz-content-sha256;x-amz-date;"
						   "x-amz-decoded-content-length;x-amz-trailer",
						   modes[i].v, auth, sizeof(auth), NULL),
				 0);
		treq_add(&t, "Authorization", auth);
		assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), 0);
		assert_int_equal(res.payload, modes[i].p);
		assert_true(res.decoded_len == 66560);
		assert_string_equal(res.trailer, "x-amz-checksum-crc32c");
		t.h[3].value = "12a";
		t.h[3].value_len = 3;
		assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EBADREQ);
	}
}

static void test_cache(void **state)
{
	(void)state;
	struct treq t;
	struct sigv4_result res;
	uint64_t hits, misses;

	sigv4_cache_clear();
	get_object_req(&t, GET_AUTH);
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), 0);
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), 0);
	sigv4_cache_stats(&hits, &misses);
	assert_int_equal(misses, 1);
	assert_int_equal(hits, 1);
	/* A rotated secret must not be served from the cache. */
	secret_for_test = "another-secret";
	assert_int_equal(sigv4_verify(&t.r, get_secret, NULL, &res), CN_EBADSIG);
	sigv4_cache_stats(&hits, &misses);
	assert_int_equal(misses, 2);
	secret_for_test = SECRET;
	/* Bounded: far more (region) entries than slots still work. */
	for (int i = 0; i < 3 * SIGV4_CACHE_SLOTS; i++) {
		char region[16];
		uint8_t k1[32], k2[32];
		snprintf(region, sizeof(region), "r-%d", i);
		sigv4_signing_key(AKID, SECRET, "20130524", region, k1);
		sigv4_signing_key(AKID, SECRET, "20130524", region, k2);
		assert_memory_equal(k1, k2, 32);
	}
	sigv4_cache_stats(&hits, &misses);
	assert_int_equal(misses, 2 + 3 * SIGV4_CACHE_SLOTS);
}

static void *verify_loop(void *arg)
{
	long ok = 0;
	(void)arg;
	for (int i = 0; i < 300; i++) {
		struct treq t;
		struct sigv4_result res;
		if (i % 3 == 0) {
			char region[16];
			uint8_t k[32];
			snprintf(region, sizeof(region), "t%d", i % 100);
			sigv4_signing_key(AKID, SECRET, "20130524", region, k);
		}
		get_object_req(&t, GET_AUTH);
		if (sigv4_verify(&t.r, get_secret, NULL, &res) == 0 &&
		    strcmp(res.seed_signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd"
					       "91039c6036bdb41") == 0)
			ok++;
	}
	return (void *)ok;
}

static void test_cache_threads(void **state)
{
	(void)state;
	pthread_t th[4];
	sigv4_cache_clear();
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, verify_loop, NULL), 0);
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(th[i], &r);
		assert_int_equal((long)r, 300);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doc_get_object),
		cmocka_unit_test(test_doc_put_object),
		cmocka_unit_test(test_doc_lifecycle_and_list),
		cmocka_unit_test(test_doc_presigned),
		cmocka_unit_test(test_presign_roundtrip),
		cmocka_unit_test(test_unsigned_amz_headers),
		cmocka_unit_test(test_region),
		cmocka_unit_test(test_canonical_uri_and_query),
		cmocka_unit_test(test_canonical_plain_components),
		cmocka_unit_test(test_signed_as_sent),
		cmocka_unit_test(test_canonical_errors),
		cmocka_unit_test(test_header_canonicalisation),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_date_header_only),
		cmocka_unit_test(test_amz_date_roundtrip),
		cmocka_unit_test(test_amz_date_matches_timegm),
		cmocka_unit_test(test_streaming_modes),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_cache_threads),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests_name("auth/sigv4", tests, NULL, NULL);
}
