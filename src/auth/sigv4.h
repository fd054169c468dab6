/*
 * auth/sigv4.h — AWS Signature Version 4 for S3: verification of the
 * Authorization header and of presigned URLs, the payload mode a request
 * declares, a cache of derived signing keys, and a client-side signer (used
 * by tests and by the load generator).
 *
 * Layer: auth (below s3/, above core/). Pure logic over a request
 * description the HTTP layer fills in; no sockets, no clocks (the caller
 * passes "now").
 *
 * Invariants: a struct sigv4_result is only filled when verification
 * returned 0 (except the two diagnostics fields named below); signatures are
 * compared in constant time; every x-amz-* header of an accepted request was
 * signed (x-amz-content-sha256 is bound as the payload hash instead); the
 * signing-key cache is bounded (SIGV4_CACHE_SLOTS) and thread-safe.
 *
 * Thread rules: every function may be called from any thread; the only
 * shared state is the signing-key cache, guarded by a mutex.
 */
#ifndef CAIRN_AUTH_SIGV4_H
#define CAIRN_AUTH_SIGV4_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SIGV4_MAX_ACCESS_KEY 128 /* bytes, without the NUL */
#define SIGV4_MAX_SECRET 128
#define SIGV4_MAX_REGION 64
/* "YYYYMMDD/" region "/s3/aws4_request" */
#define SIGV4_MAX_SCOPE (9 + SIGV4_MAX_REGION + 16)
#define SIGV4_MAX_SKEW 900	 /* seconds between x-amz-date and now */
#define SIGV4_MAX_EXPIRES 604800 /* presigned URLs: 7 days at most */
#define SIGV4_CACHE_SLOTS 64

/* Lower-case hex SHA-256 of the empty string. */
#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define SIGV4_STREAMING_PAYLOAD "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
#define SIGV4_STREAMING_PAYLOAD_TRAILER "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
#define SIGV4_STREAMING_UNSIGNED_TRAILER "STREAMING-UNSIGNED-PAYLOAD-TRAILER"

/* One request header exactly as received: the name in any case, the value
 * untrimmed. Repeated headers appear as repeated entries. */
struct sigv4_header {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/* What the HTTP layer knows about a request. All pointers are borrowed for
 * the duration of one call. */
struct sigv4_request {
	const char *method; /* NUL-terminated, e.g. "GET" */
	const char *path;   /* raw path as on the wire, percent-encoded, no query */
	size_t path_len;
	const char *query; /* raw query string without '?', may be NULL */
	size_t query_len;
	const struct sigv4_header *headers;
	size_t n_headers;
	time_t now;	    /* the server's current time */
	const char *region; /* the server's region; the credential scope must name it
			       (NULL accepts any) */
};

/* Looks up the secret of access_key (NUL-terminated) and writes it,
 * NUL-terminated, into secret_out (cap bytes). Returns 0, CN_EBADKEYID when
 * the key is unknown, or another error which verification passes through.
 * Called on the verifying thread. */
typedef int (*sigv4_secret_cb)(void *arg, const char *access_key, char *secret_out, size_t cap);

enum sigv4_kind {
	SIGV4_KIND_HEADER = 1, /* Authorization: AWS4-HMAC-SHA256 ... */
	SIGV4_KIND_PRESIGNED,  /* X-Amz-* query parameters */
};

/* How the body is protected (x-amz-content-sha256). */
enum sigv4_payload {
	SIGV4_PAYLOAD_UNSIGNED = 1,		  /* UNSIGNED-PAYLOAD */
	SIGV4_PAYLOAD_SIGNED,			  /* sha256 hex: check with sigv4_payload_check() */
	SIGV4_PAYLOAD_STREAMING,		  /* aws-chunked, signed chunks */
	SIGV4_PAYLOAD_STREAMING_TRAILER,	  /* aws-chunked, signed chunks + signed trailer */
	SIGV4_PAYLOAD_STREAMING_UNSIGNED_TRAILER, /* aws-chunked, unsigned + trailer */
};

/* The outcome of a successful verification; plain data, embed or copy it.
 * Chunked bodies (auth/chunked.h) continue the signature chain from here. */
struct sigv4_result {
	enum sigv4_kind kind;
	enum sigv4_payload payload;
	char access_key[SIGV4_MAX_ACCESS_KEY + 1];
	char region[SIGV4_MAX_REGION + 1];
	char date[9];			 /* YYYYMMDD of the credential scope */
	char amz_date[17];		 /* YYYYMMDDTHHMMSSZ that was signed */
	char scope[SIGV4_MAX_SCOPE + 1]; /* date/region/s3/aws4_request */
	uint8_t signing_key[32];
	char seed_signature[65];    /* the request's signature, lower-case hex */
	uint8_t payload_sha256[32]; /* valid when payload == SIGNED */
	uint64_t decoded_len;	    /* x-amz-decoded-content-length, or UINT64_MAX */
	char trailer[40];	    /* x-amz-trailer value, lower-case, or "" */
	time_t expires;		    /* presigned: last valid second; else 0 */
	/* Diagnostics, set also on failure: the unsigned x-amz-* header behind
	 * CN_EUNSIGNEDHDR (borrowed from the request, valid while it lives),
	 * and whether the malformed part was a query parameter (presigned). */
	const char *unsigned_header;
	size_t unsigned_header_len;
};

/* Verifies whichever SigV4 form the request carries: the Authorization
 * header, or presigned query parameters. Borrows req; fills *out (caller
 * owned) on success. Returns 0, CN_EACCESS (no authentication at all),
 * CN_EBADAUTH, CN_EBADREGION (the scope names another region than
 * req->region; CN_EBADQUERYAUTH when presigned), CN_EQUERYPARAMS (a presigned
 * parameter missing or malformed), CN_EQUERYEXPIRES (X-Amz-Expires not
 * 1..604800), CN_ETWOAUTH (header and query auth in one request),
 * CN_EBADDATE, CN_ESKEW, CN_EEXPIRED, CN_ENOTYETVALID (presigned with an
 * X-Amz-Date more than the allowed skew ahead), CN_EBADSHAHDR, CN_ENOSHAHDR
 * (header auth without x-amz-content-sha256),
 * CN_EBADKEYID, CN_EBADSIG, CN_EUNSIGNEDHDR (a correctly signed request
 * carries an x-amz-* header the signature does not cover), CN_EBADREQ
 * (undecodable path/query), CN_ENOMEM, or an error from get_secret. The
 * path may be signed as sent or in canonical form (decoded, encoded again).
 * Any thread. */
int sigv4_verify(const struct sigv4_request *req, sigv4_secret_cb get_secret, void *arg,
		 struct sigv4_result *out);
/* The two forms on their own; same contract as sigv4_verify(). */
int sigv4_verify_header(const struct sigv4_request *req, sigv4_secret_cb get_secret, void *arg,
			struct sigv4_result *out);
int sigv4_verify_presigned(const struct sigv4_request *req, sigv4_secret_cb get_secret, void *arg,
			   struct sigv4_result *out);

/* For payload == SIGNED: compares the SHA-256 the caller computed over the
 * body with the declared one. Returns 0 or CN_ESHAMISMATCH; 0 for every
 * other payload mode. Borrows both. Any thread. */
int sigv4_payload_check(const struct sigv4_result *r, const uint8_t sha256[32]);

/* Derives the signing key for (secret, date YYYYMMDD, region), through the
 * bounded shared cache. Borrows the strings. Any thread. */
void sigv4_signing_key(const char *access_key, const char *secret, const char *date,
		       const char *region, uint8_t key[32]);
/* Cache counters (for tests and metrics) and a reset that empties it. */
void sigv4_cache_stats(uint64_t *hits, uint64_t *misses);
void sigv4_cache_clear(void);

/* Builds the canonical request (SigV4 task 1) for req with the given
 * ';'-separated lower-case signed header names and payload hash string.
 * With skip_signature, an X-Amz-Signature query parameter is left out (the
 * presigned form). Returns 0 and *out (owned, NUL-terminated, free() it)
 * with *out_len, or CN_EBADREQ, CN_EBADAUTH (a signed header is absent),
 * CN_ETOOBIG, CN_ENOMEM. Any thread. */
int sigv4_canonical_request(const struct sigv4_request *req, const char *signed_headers,
			    size_t signed_headers_len, const char *payload_hash,
			    size_t payload_hash_len, int skip_signature, char **out,
			    size_t *out_len);

/* ---- client side ---- */

struct sigv4_creds {
	const char *access_key;
	const char *secret;
	const char *region;
};

/* Signs req as a client would. req must already carry every header named in
 * signed_headers (";"-separated, sorted, lower-case; must include "host").
 * amz_date is "YYYYMMDDTHHMMSSZ"; payload_hash is what x-amz-content-sha256
 * says. Writes the Authorization header value into auth_out (cap bytes,
 * NUL-terminated) and, when chain is not NULL, fills it like a verified
 * result so chunk signatures can follow (sigv4_chunk_sign()). Returns 0,
 * CN_EINVAL, CN_ETOOBIG (auth_out too small) or an error of
 * sigv4_canonical_request(). Any thread. */
int sigv4_sign_header(const struct sigv4_request *req, const struct sigv4_creds *c,
		      const char *amz_date, const char *signed_headers, const char *payload_hash,
		      char *auth_out, size_t cap, struct sigv4_result *chain);

/* Presigns req (its query, if any, is kept) for `expires` seconds with only
 * "host" signed; req must carry a Host header. Writes the complete query
 * string to send (the original parameters plus the X-Amz-* ones, without
 * '?') into query_out (cap bytes, NUL-terminated). Returns 0, CN_EINVAL,
 * CN_ETOOBIG, CN_ENOMEM, CN_EBADREQ. Any thread. */
int sigv4_presign(const struct sigv4_request *req, const struct sigv4_creds *c,
		  const char *amz_date, unsigned expires, char *query_out, size_t cap);

/* Chunk signature (aws-chunked): HMAC over "AWS4-HMAC-SHA256-PAYLOAD\n" +
 * amz_date + scope + prev_sig + sha256("") + hex(chunk_sha256). Borrows all;
 * writes 64 hex digits + NUL. Any thread. */
void sigv4_chunk_sign(const struct sigv4_result *r, const char *prev_sig,
		      const uint8_t chunk_sha256[32], char out[65]);
/* Trailer signature: "AWS4-HMAC-SHA256-TRAILER\n" + amz_date + scope +
 * prev_sig + hex(trailer_sha256), trailer_sha256 being the SHA-256 of the
 * trailer lines, each "name:value\n". Any thread. */
void sigv4_trailer_sign(const struct sigv4_result *r, const char *prev_sig,
			const uint8_t trailer_sha256[32], char out[65]);

/* Parses "YYYYMMDDTHHMMSSZ" (exactly 16 bytes) into *t. Returns 0 or
 * CN_EBADDATE. Any thread. */
int sigv4_parse_amz_date(const char *s, size_t len, time_t *t);
/* Formats t as "YYYYMMDDTHHMMSSZ" into out (17 bytes). Any thread. */
void sigv4_format_amz_date(time_t t, char out[17]);

#endif
