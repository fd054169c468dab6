/*
 * s3/acl.h — S3 access control lists: the in-memory form, canned ACLs, the
 * x-amz-grant-* headers, the AccessControlPolicy XML (both ways), a compact
 * binary encoding for bucket and version records, and the access checks.
 *
 * Layer: s3 (uses xml/ and core/ only). Pure: no metadata or store access;
 * the two lookups an ACL needs (does a canonical user exist, what is its
 * display name) are callbacks the caller supplies (struct acl_lookup).
 *
 * Invariants of every struct acl this module fills: owner is a canonical
 * user id (ACL_ID_LEN lower-case hex digits); n <= ACL_MAX_GRANTS; each
 * grant's type is an enum acl_grantee_type, its perm exactly one of the
 * five enum acl_perm values, and its id a canonical id for
 * ACL_GRANTEE_USER and "" otherwise.
 *
 * Thread rules: every function is pure and may be called from any thread;
 * the callbacks run on the calling thread, during the call.
 */
#ifndef CAIRN_S3_ACL_H
#define CAIRN_S3_ACL_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define ACL_MAX_GRANTS 100
#define ACL_ID_LEN 64 /* canonical user id: 64 lower-case hex */
/* Largest AccessControlPolicy body acl_from_xml() reads: 100 grants with
 * display names and indentation stay far below it. */
#define ACL_MAX_XML (128 * 1024)
/* Longest display name acl_to_xml() asks a callback for (NUL included). */
#define ACL_NAME_CAP 256

#define ACL_URI_ALL_USERS "http://acs.amazonaws.com/groups/global/AllUsers"
#define ACL_URI_AUTH_USERS "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
#define ACL_URI_LOG_DELIVERY "http://acs.amazonaws.com/groups/s3/LogDelivery"

/* What a grant allows. On a bucket: READ lists it, WRITE creates, replaces
 * and deletes its objects; on an object READ gets data and metadata and
 * WRITE means nothing. READ_ACP / WRITE_ACP read / replace the ACL itself.
 * FULL_CONTROL is all four. */
enum acl_perm {
	ACL_READ = 1,
	ACL_WRITE = 2,
	ACL_READ_ACP = 4,
	ACL_WRITE_ACP = 8,
	ACL_FULL_CONTROL = 15,
};

enum acl_grantee_type {
	ACL_GRANTEE_USER = 1,	  /* a canonical user (xsi:type CanonicalUser) */
	ACL_GRANTEE_ALL_USERS,	  /* everyone, anonymous included */
	ACL_GRANTEE_AUTH_USERS,	  /* every authenticated requester */
	ACL_GRANTEE_LOG_DELIVERY, /* the log-delivery group (no cairn requester is in it) */
};

struct acl_grant {
	uint8_t type;		 /* enum acl_grantee_type */
	uint8_t perm;		 /* enum acl_perm */
	char id[ACL_ID_LEN + 1]; /* USER only, else "" */
};

/* Plain data (about 6.7 KiB): embed or copy it, nothing to release. */
struct acl {
	char owner[ACL_ID_LEN + 1];
	uint16_t n;
	struct acl_grant g[ACL_MAX_GRANTS];
};

/* The lookups an ACL needs; arg is passed back untouched. Either callback
 * may be NULL: user_exists == NULL accepts every well-formed id,
 * display_name == NULL leaves DisplayName out. The struct itself may be
 * NULL where it is taken, meaning both NULL. */
struct acl_lookup {
	/* 1 when id (ACL_ID_LEN lower-case hex, NUL-terminated) names an
	 * existing canonical user, else 0. */
	int (*user_exists)(void *arg, const char *id);
	/* Writes id's display name, NUL-terminated, into out (cap bytes) and
	 * returns 1; returns 0 when it has none (no DisplayName then). */
	int (*display_name)(void *arg, const char *id, char *out, size_t cap);
	void *arg;
};

/* The x-amz-grant-* header values as received (NUL-terminated); NULL
 * when the header is absent. Each is a comma-separated list of
 * type=value grantees, type one of id, uri, emailAddress, value quoted or
 * not: `id="<canonical id>", uri="http://acs.amazonaws.com/groups/..."`. */
struct acl_headers {
	const char *read, *write, *read_acp, *write_acp, *full_control;
};

/* 1 when s is a canonical id: exactly ACL_ID_LEN lower-case hex digits and
 * a NUL. Borrows s. */
int acl_id_valid(const char *s);

/* "READ", "WRITE", "READ_ACP", "WRITE_ACP", "FULL_CONTROL"; NULL for any
 * other value. Static string. */
const char *acl_perm_name(int perm);

/* Fills *out with the canned ACL `name` (x-amz-acl) for a bucket
 * (for_bucket) or an object owned by owner_id. bucket_owner_id is the
 * owner of the object's bucket, read for bucket-owner-read and
 * bucket-owner-full-control on objects (those two mean "private" on a
 * bucket, as AWS ignores them there; a grant to the bucket owner is left
 * out when it is the object owner too). Borrows the strings. Returns 0,
 * CN_EBADARG for an unknown name, CN_EINVAL for an owner id (or a needed
 * bucket owner id) that is not a canonical id. */
int acl_canned(const char *name, const char *owner_id, const char *bucket_owner_id, int for_bucket,
	       struct acl *out);

/* Fills *out from the x-amz-grant-* headers: owner = owner_id and, for
 * each present header in the order read, write, read-acp, write-acp,
 * full-control, its grantees left to right. The owner gets no implicit
 * grant (as on AWS; it keeps READ_ACP/WRITE_ACP through acl_allows()).
 * Borrows h, owner_id and lk. Returns 0; CN_EBADARG for a malformed value,
 * an id that is not a canonical id or that lk->user_exists denies, an
 * unknown group uri, or more than ACL_MAX_GRANTS grantees in all;
 * CN_EEMAILGRANT for an emailAddress grantee (cairn has no addresses);
 * CN_EINVAL when owner_id is not a canonical id or no header is present.
 * On error a reason (NUL-terminated, truncated to errcap) goes to err when
 * errcap > 0, and *out is undefined. */
int acl_from_headers(const struct acl_headers *h, const char *owner_id, const struct acl_lookup *lk,
		     struct acl *out, char *err, size_t errcap);

/* Fills *out from an AccessControlPolicy body (namespaced or not; element
 * order free; the grantee kind is told by its ID / URI / EmailAddress
 * child: the xml reader keeps no attributes, so xsi:type is not read).
 * The body's Owner/ID must be owner_id (the current owner: an ACL write
 * cannot hand a resource over). Borrows body (len bytes, no NUL needed),
 * owner_id and lk. Returns 0;
 *   CN_ETOOBIG      len > ACL_MAX_XML;
 *   CN_EBADACL      not well-formed, or not the schema's shape: another
 *                   root, no Owner or Owner/ID, an unknown or repeated
 *                   element, a Grant without one Grantee and one
 *                   Permission, a Grantee with not exactly one of ID / URI
 *                   / EmailAddress, an unknown Permission, more than
 *                   ACL_MAX_GRANTS grants (MalformedACLError);
 *   CN_EACCESS      Owner/ID is not owner_id (AccessDenied, as on AWS);
 *   CN_EBADARG      a grantee ID that is not a known canonical id, an
 *                   unknown group URI;
 *   CN_EEMAILGRANT  an EmailAddress grantee;
 *   CN_ENOMEM; CN_EINVAL when owner_id is not a canonical id.
 * Shape errors win over the owner check, which wins over grantee errors.
 * err and *out as for acl_from_headers(). */
int acl_from_xml(const char *body, size_t len, const char *owner_id, const struct acl_lookup *lk,
		 struct acl *out, char *err, size_t errcap);

/* One request's ACL inputs (PutObject, CreateBucket, CreateMultipartUpload,
 * CopyObject, Put{Bucket,Object}Acl). Every pointer borrowed for the call;
 * body is the ACL body of Put*Acl only (NULL or body_len 0: none). */
struct acl_request {
	const char *canned; /* x-amz-acl, NULL when absent */
	struct acl_headers grants;
	const char *body;
	size_t body_len;
	const char *owner_id;	     /* owner of the bucket or object the ACL is for */
	const char *bucket_owner_id; /* objects: their bucket's owner; buckets: unused */
	int for_bucket;
	const struct acl_lookup *lk; /* may be NULL */
};

/* Fills *out from whichever one form rq carries: the canned ACL, the grant
 * headers, or the body. Returns 0; CN_EACLCONFLICT when a canned ACL comes
 * with grant headers, or either with a body (InvalidRequest);
 * CN_ENOTFOUND when rq carries none of them (the caller's default:
 * "private" on creation; Put*Acl answers MissingSecurityHeader); else the
 * errors of acl_canned(), acl_from_headers(), acl_from_xml(). */
int acl_from_request(const struct acl_request *rq, struct acl *out, char *err, size_t errcap);

/* Appends the GetBucketAcl / GetObjectAcl response document to w: the XML
 * declaration, then AccessControlPolicy (S3 namespace) with Owner (ID,
 * DisplayName) and an AccessControlList of Grant elements, each Grantee
 * carrying xmlns:xsi and xsi:type CanonicalUser (ID, DisplayName) or Group
 * (URI), in grant order. DisplayName appears when lk->display_name gives
 * one. Borrows a and lk; allocation failure is sticky in w->err. */
void acl_to_xml(const struct acl *a, struct cn_buf *w, const struct acl_lookup *lk);

/* Appends a's binary encoding (format in acl.c) to w. Returns 0,
 * CN_EINVAL when a breaks the invariants above (nothing is appended), or
 * w->err. Borrows a. */
int acl_encode(const struct acl *a, struct cn_buf *w);
/* Decodes exactly len bytes at p into *out. Never trusts its input:
 * returns 0, CN_EFORMAT for an unknown format version, CN_ECORRUPT for a
 * truncation, a bad count or enum, or trailing bytes (*out undefined on
 * error). Borrows p. */
int acl_decode(const void *p, size_t len, struct acl *out);

/* 1 when a grants every bit of perm (a single permission, or several
 * OR-ed) to the requester through the union of its matching grants, else
 * 0. The requester is canonical_id when authenticated, anonymous when not
 * (canonical_id is then ignored). AllUsers grants match everyone,
 * AuthenticatedUsers grants every authenticated requester, user grants
 * their id; LogDelivery grants match no requester. The owner always holds
 * READ_ACP and WRITE_ACP (AWS), READ and WRITE only when granted. perm
 * outside 1..15 gives 0. Borrows all. */
int acl_allows(const struct acl *a, const char *canonical_id, int authenticated,
	       enum acl_perm perm);

/* 1 when a grants anything to AllUsers or AuthenticatedUsers (what Block
 * Public Access and the policy-status checks call public), else 0. */
int acl_is_public(const struct acl *a);

#endif
