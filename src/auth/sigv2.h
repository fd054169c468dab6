/*
 * auth/sigv2.h — AWS Signature Version 2 for S3 (the legacy "AWS AKID:sig"
 * scheme of aws CLI v1 with signature_version = s3, s3cmd with
 * signature_v2 = True, boto2 and old SDKs): verification of the
 * Authorization header and of presigned (query string) URLs, and a client
 * side signer for tests and tools. The sibling of auth/sigv4.h; it reuses
 * that header's request description and secret lookup callback.
 *
 * Layer: auth (below s3/, above core/). Pure logic; no sockets, no clocks
 * (the caller passes "now" in req->now).
 *
 * StringToSign = Method "\n" Content-MD5 "\n" Content-Type "\n" Date "\n"
 *                CanonicalizedAmzHeaders CanonicalizedResource
 * Signature    = base64(HMAC-SHA1(secret, StringToSign))
 *
 * Invariants: a struct sigv2_result is only filled when verification
 * returned 0; signatures are compared in constant time; every x-amz-*
 * header of an accepted request was signed (SigV2 signs them all); the
 * string to sign is bounded by SIGV2_MAX_STRING_TO_SIGN.
 *
 * Thread rules: every function may be called from any thread; there is no
 * shared state.
 */
#ifndef CAIRN_AUTH_SIGV2_H
#define CAIRN_AUTH_SIGV2_H

#include <stddef.h>
#include <time.h>

#include "auth/sigv4.h"

/* The longest string to sign built (bytes); longer requests get
 * CN_ETOOBIG. Far above what the HTTP layer's header limit lets through. */
#define SIGV2_MAX_STRING_TO_SIGN (1u << 20)
/* Presigned URLs may expire at most this far after now (plus
 * SIGV4_MAX_SKEW for the signer's clock): the same week SigV4 allows, so
 * SigV2 is no way around that limit. AWS itself sets no bound for SigV2. */
#define SIGV2_MAX_EXPIRES SIGV4_MAX_EXPIRES
/* base64 of a 20-byte HMAC-SHA1, without the NUL. */
#define SIGV2_SIGNATURE_LEN 28

/* The outcome of a successful verification; plain data, embed or copy it. */
struct sigv2_result {
	int presigned; /* 1: query string (AWSAccessKeyId/Expires/Signature) */
	char access_key[SIGV4_MAX_ACCESS_KEY + 1];
	time_t expires; /* presigned: last valid second (the Expires value); else 0 */
};

/* 1 when the request carries a SigV2 Authorization header ("AWS" followed
 * by a space, or "AWS" alone) or both SigV2 query parameters
 * (AWSAccessKeyId and Signature), so the caller can pick sigv2_verify()
 * over sigv4_verify(); else 0. Borrows req. Any thread. */
int sigv2_present(const struct sigv4_request *req);

/* Verifies the SigV2 form the request carries.
 *
 * bucket_vhost: the bucket name when the request used virtual-host
 * addressing (the Host header named the bucket), else NULL; the
 * CanonicalizedResource is then "/" bucket_vhost + path, else the path.
 * req->path is the raw path as sent (its percent-encoding is signed as is).
 * req->region is ignored (SigV2 names no region).
 *
 * Header form: the timestamp is x-amz-date when present, else Date (RFC
 * 1123 with GMT/UTC or a numeric zone, RFC 850, asctime, or the SigV4
 * basic ISO 8601 form); it must be within SIGV4_MAX_SKEW of req->now.
 * Presigned form: valid while req->now <= Expires, and Expires at most
 * SIGV2_MAX_EXPIRES + SIGV4_MAX_SKEW after req->now; x-amz-* query
 * parameters are signed as x-amz-* headers (botocore moves them there).
 *
 * Besides the documented string to sign, the verifier accepts two forms
 * real signers produce for the same request (each binds as much as the
 * documented one): a bucket-only path-style request "/bucket" signed as
 * "/bucket/" (botocore), and, when x-amz-date is present, the Date line
 * holding the Date header (botocore, MinIO) or the x-amz-date value with
 * x-amz-date left out of the amz headers (the AWS documentation's DELETE
 * example).
 *
 * Borrows req, bucket_vhost; fills *out (caller owned) on success only.
 * Returns 0, CN_EACCESS (no SigV2 authentication at all), CN_EBADAUTH (a
 * malformed Authorization header, or more than one authentication
 * mechanism), CN_EBADQUERYAUTH (malformed, missing or repeated presigned
 * parameters, Expires too far ahead), CN_EBADDATE (no or unparseable
 * timestamp), CN_ESKEW, CN_EEXPIRED, CN_EBADKEYID (from get_secret),
 * CN_EBADSIG (also for a signature that is not 28 base64 characters: S3
 * compares signature strings, so such a one does not match), CN_EBADREQ (undecodable query, a path
 * not starting with '/', a signed sub-resource value holding '&'), CN_ETOOBIG, CN_ENOMEM, CN_EINVAL
 * (bucket_vhost is ""), or another error get_secret returns. get_secret is
 * called at most once, on this thread. Any thread. */
int sigv2_verify(const struct sigv4_request *req, const char *bucket_vhost,
		 sigv4_secret_cb get_secret, void *arg, struct sigv2_result *out);

/* Builds the documented StringToSign of req. expires NULL: the header
 * form (Date line: empty when x-amz-date is present, else the Date
 * header). expires not NULL: the presigned form (Date line: expires, which
 * is the decimal Expires value; x-amz-* query parameters join the amz
 * headers). Borrows all; returns 0 and *out (owned, NUL-terminated, free()
 * it) with *out_len, or CN_EBADREQ, CN_ETOOBIG, CN_ENOMEM, CN_EINVAL. Any
 * thread. */
int sigv2_string_to_sign(const struct sigv4_request *req, const char *bucket_vhost,
			 const char *expires, char **out, size_t *out_len);

/* ---- client side ---- */

/* The signature a client computes for req: base64 HMAC-SHA1 of
 * sigv2_string_to_sign(req, bucket_vhost, expires_or_null) under secret,
 * written NUL-terminated into out (cap bytes, at least
 * SIGV2_SIGNATURE_LEN + 1). The header form sends it as
 * "Authorization: AWS " access_key ":" out. Borrows all. Returns 0,
 * CN_EINVAL (no secret, or one longer than SIGV4_MAX_SECRET), CN_ETOOBIG
 * (cap too small) or an error of sigv2_string_to_sign(). Any thread. */
int sigv2_sign(const struct sigv4_request *req, const char *bucket_vhost, const char *secret,
	       const char *expires_or_null, char *out, size_t cap);

/* Presigns req until `expires` (epoch seconds): writes the query string to
 * send (req's own query, if any, then AWSAccessKeyId, Expires and the
 * percent-encoded Signature; without '?') NUL-terminated into query_out
 * (cap bytes). Borrows all. Returns 0, CN_EINVAL (bad credentials,
 * expires < 1, or req's query already holds a SigV2 parameter), CN_ETOOBIG
 * or an error of sigv2_sign(). Any thread. */
int sigv2_presign(const struct sigv4_request *req, const char *bucket_vhost, const char *access_key,
		  const char *secret, time_t expires, char *query_out, size_t cap);

#endif
