/*
 * auth/postpolicy.h — S3 POST Object (browser uploads): the POST policy
 * document, the check of a form against it, and the form's signature
 * (SigV4: x-amz-signature; SigV2: AWSAccessKeyId + signature).
 *
 * Layer: auth (below s3/, above core/). Pure logic over values the s3/ POST
 * handler took from the form (http/formdata.h); no sockets, no clock (the
 * caller passes "now"). jansson parses the policy.
 *
 * The handler's order, as S3 does it: collect the fields before the file
 * part; verify the signature (postpolicy_verify_v4/_v2) over the policy
 * exactly as sent; postpolicy_parse() it; substitute ${filename} into the
 * fields (postpolicy_key_subst()); postpolicy_check() the fields; stream the
 * file and keep postpolicy_length_ok() true for its size.
 *
 * Error texts (the err buffers) are S3's own messages, ready for the
 * <Message> of the error response: "Invalid Policy: ..." for
 * InvalidPolicyDocument, "Invalid according to Policy: ..." for
 * AccessDenied.
 *
 * Invariants: signatures are compared in constant time; a struct postpolicy
 * is immutable once parsed (any thread may check against it).
 */
#ifndef CAIRN_AUTH_POSTPOLICY_H
#define CAIRN_AUTH_POSTPOLICY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "auth/sigv4.h"

#define POSTPOLICY_ALGORITHM "AWS4-HMAC-SHA256"

/* A parsed policy; opaque. */
struct postpolicy;

/* One form field as received: the name in any case, the value as sent (may
 * hold any byte). Pointers are borrowed for the duration of a call. */
struct postpolicy_field {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/* Decodes base64 policy b64 (len bytes, borrowed; padded, no whitespace),
 * parses its JSON with jansson and checks its shape: an object with exactly
 * "expiration" (ISO 8601 UTC, "YYYY-MM-DDTHH:MM:SS[.fff]Z") and
 * "conditions" (an array of {"name": "value"} objects with one string
 * member, ["eq"|"starts-with", "$name", "value"] and
 * ["content-length-range", min, max] with min <= max non-negative integers,
 * or decimal strings). Returns 0 and *out (owned: postpolicy_free()),
 * CN_EBADPOSTPOLICY (err says why, "Invalid Policy: ..."), CN_EEXPIRED
 * (now >= expiration; err is "Invalid according to Policy: Policy
 * expired."), or CN_ENOMEM. err (errcap bytes) is written on every error
 * and may be NULL. Any thread. */
int postpolicy_parse(const char *b64, size_t len, time_t now, struct postpolicy **out, char *err,
		     size_t errcap);

/* Frees p (NULL is fine). Any thread. */
void postpolicy_free(struct postpolicy *p);

/* The expiration, in seconds since the epoch (fraction dropped). */
time_t postpolicy_expiration(const struct postpolicy *p);

/* The allowed file sizes, inclusive: content-length-range, or 0 and
 * UINT64_MAX without one (several ranges intersect). Lets a handler stop a
 * file stream as soon as it is too large. */
void postpolicy_length_range(const struct postpolicy *p, uint64_t *min, uint64_t *max);

/* Returns 0 when size is within content-length-range (or there is none),
 * CN_ETOOSMALL (EntityTooSmall) or CN_ETOOBIG (EntityTooLarge). */
int postpolicy_length_ok(const struct postpolicy *p, uint64_t size);

/* Checks the form against the policy. fields: every field before the file
 * (names in any case; ${filename} already substituted) plus one named
 * "bucket" whose value is the bucket the request addresses (S3 matches the
 * bucket condition against that). Rules:
 *  - every eq / starts-with condition holds for every field of its name
 *    (names compare case-insensitively, values exactly; an absent field
 *    reads as ""); starts-with "" holds for anything; a starts-with on
 *    Content-Type holds when each comma-separated type starts with the
 *    prefix;
 *  - every field is named by some condition, except policy,
 *    x-amz-signature, AWSAccessKeyId, signature, file, bucket and names
 *    starting x-ignore-.
 * Returns 0 or CN_EACCESS with err "Invalid according to Policy: Policy
 * Condition failed: [\"eq\", \"$key\", \"v\"]" (the first failing condition,
 * in policy order) or "Invalid according to Policy: Extra input fields:
 * NAME" (the first such field, as sent). content-length-range is not
 * checked here (postpolicy_length_ok()). Borrows all. Any thread. */
int postpolicy_check(const struct postpolicy *p, const struct postpolicy_field *fields, size_t n,
		     char *err, size_t errcap);

/* Replaces every "${filename}" in value (len bytes) by the last path
 * component of filename (after the last '/' or '\\'; NULL or "" when the
 * form gave no file name), as S3 does for every form field. Writes the
 * result NUL-terminated into out (cap bytes) and its length into *out_len
 * (may be NULL). Returns 0 or CN_ETOOBIG (out too small). Borrows all. Any
 * thread. */
int postpolicy_key_subst(const char *value, size_t len, const char *filename, size_t filename_len,
			 char *out, size_t cap, size_t *out_len);

enum postpolicy_kind {
	POSTPOLICY_ANONYMOUS = 0, /* no signature field: an anonymous upload */
	POSTPOLICY_V4 = 1,	  /* x-amz-signature, x-amz-credential or x-amz-algorithm */
	POSTPOLICY_V2 = 2,	  /* signature or AWSAccessKeyId */
};

/* The authentication fields of a form, pointers borrowed from it; a NULL
 * pointer is a field the form lacks. */
struct postpolicy_auth {
	enum postpolicy_kind kind;
	const char *policy; /* "policy": the base64 policy exactly as sent */
	size_t policy_len;
	const char *algorithm; /* x-amz-algorithm (V4) */
	size_t algorithm_len;
	const char *credential; /* x-amz-credential: AKID/YYYYMMDD/region/s3/aws4_request */
	size_t credential_len;
	const char *date; /* x-amz-date: YYYYMMDDTHHMMSSZ */
	size_t date_len;
	const char *signature; /* x-amz-signature (V4, hex) or signature (V2, base64) */
	size_t signature_len;
	const char *access_key; /* AWSAccessKeyId (V2) */
	size_t access_key_len;
};

/* Finds the authentication fields among fields (names case-insensitive) and
 * fills *out, kind included (which signature the form claims; the fields it
 * needs are checked by the verify functions). Returns 0, or CN_EBADAUTH when
 * a field of them is repeated or fields of both versions are present (err
 * says which). Borrows fields; *out points into them. Any thread. */
int postpolicy_auth_from_fields(const struct postpolicy_field *fields, size_t n,
				struct postpolicy_auth *out, char *err, size_t errcap);

/* SigV4: x-amz-algorithm is AWS4-HMAC-SHA256, x-amz-credential a scope of
 * region (NULL accepts any), and x-amz-signature (hex, either case) ==
 * hex(HMAC-SHA256(sigv4_signing_key(secret, date, region), policy)) where
 * date is the credential's, which must be x-amz-date's day. Writes the access
 * key (NUL-terminated) into access_key_out (SIGV4_MAX_ACCESS_KEY + 1 bytes)
 * on success. Returns 0, CN_EBADAUTH (a field missing or malformed; err
 * says which), CN_EBADDATE (x-amz-date unparsable), CN_EBADREGION,
 * CN_EBADKEYID, CN_EBADSIG, or an error of get_secret. Borrows a. Any
 * thread. */
int postpolicy_verify_v4(const struct postpolicy_auth *a, const char *region,
			 sigv4_secret_cb get_secret, void *arg, char *access_key_out, char *err,
			 size_t errcap);

/* SigV2: signature == base64(HMAC-SHA1(secret of AWSAccessKeyId, policy)).
 * Same outputs and codes as postpolicy_verify_v4() (no region or date).
 * Any thread. */
int postpolicy_verify_v2(const struct postpolicy_auth *a, sigv4_secret_cb get_secret, void *arg,
			 char *access_key_out, char *err, size_t errcap);

#endif
