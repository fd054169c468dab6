/*
 * auth/policy.h — AWS access policy documents (IAM identity policies and S3
 * bucket policies): parse and validate a JSON document into a compiled,
 * immutable struct policy, evaluate it against one request, and tell whether
 * a bucket policy is "public" as S3 Block Public Access defines it.
 *
 * Layer: auth (below s3/, above core/). Pure logic: no I/O, no clocks (the
 * caller passes aws:CurrentTime / aws:EpochTime like every other condition
 * key, through policy_request.lookup). JSON is read with jansson, here only.
 *
 * Invariants: a struct policy is never changed after policy_parse() returned
 * it; every string it holds lives in its own arena; evaluation allocates
 * nothing unless a condition key has more than POLICY_MAX_VALUES values.
 *
 * Thread rules: policy_parse()/policy_free() from any thread; a parsed policy
 * may be evaluated from any number of threads at once (it is read-only).
 */
#ifndef CAIRN_AUTH_POLICY_H
#define CAIRN_AUTH_POLICY_H

#include <stddef.h>

#define POLICY_MAX_BUCKET_DOC 20480  /* bytes of a bucket policy document */
#define POLICY_MAX_IDENTITY_DOC 6144 /* non-whitespace bytes of an identity policy */
#define POLICY_MAX_VALUES 64	     /* key values fetched without allocating */

/* A compiled document: immutable after parse, evaluate from any thread. */
struct policy;

enum policy_kind { POLICY_IDENTITY = 1, POLICY_BUCKET = 2 };

/* Parses and validates a policy document. For POLICY_BUCKET: every statement
 * needs Principal or NotPrincipal, and every Resource/NotResource must be
 * arn:aws:s3:::BUCKET or arn:aws:s3:::BUCKET/... (wildcards allowed after the
 * bucket name) for the given bucket; for POLICY_IDENTITY, Principal is
 * refused. Borrows json (len bytes, need not be NUL-terminated) and bucket.
 * Returns 0 and *out (owned: free with policy_free), or CN_EBADARG with a
 * short AWS-style reason in err (NUL-terminated, truncated to errcap bytes;
 * err may be NULL), e.g. "Policy has invalid resource", "Invalid principal
 * in policy", "Unknown action s3:Foo", "Policy has an invalid condition key",
 * "Missing required field Statement"; or CN_ENOMEM; or CN_EINVAL (out NULL,
 * or a bucket policy without a bucket). *out is only set on success. Any
 * thread. */
int policy_parse(const char *json, size_t len, enum policy_kind kind, const char *bucket,
		 struct policy **out, char *err, size_t errcap);
/* Frees p and everything it holds; NULL is a no-op. No evaluation of p may
 * be running. Any thread. */
void policy_free(struct policy *p);

enum policy_effect { POLICY_NONE = 0, POLICY_ALLOW = 1, POLICY_DENY = 2 };

/* One request as the policy sees it. Every pointer is borrowed for the
 * duration of one policy_eval() call. */
struct policy_request {
	const char *action;   /* "s3:GetObject" (the caller passes the canonical name) */
	const char *resource; /* "arn:aws:s3:::bucket" or "arn:aws:s3:::bucket/key"
				 (key raw, not encoded) */
	/* who asks: anonymous, or a user of the one account */
	int anonymous;
	const char *account_id;	  /* 12 digits, the account every user belongs to */
	const char *user;	  /* user name; NULL when anonymous; "root" style name
				     for the root user */
	const char *canonical_id; /* the user's canonical id (64 hex); NULL when anonymous */
	/* Condition keys: returns the number of values of key (NUL-terminated,
	 * case-insensitive name as the policy spells it, e.g. "aws:SourceIp",
	 * "s3:prefix", "s3:ExistingObjectTag/Project"), writing up to max of
	 * them into vals/lens (borrowed by the policy until policy_eval()
	 * returns; need not be NUL-terminated); 0 = the key is absent from the
	 * request context. May return more than max: it is then called again
	 * with room for all. NULL = every key absent. aws:username and
	 * aws:PrincipalAccount are answered from user/account_id without
	 * calling it. Called on the evaluating thread. */
	int (*lookup)(void *arg, const char *key, const char **vals, size_t *lens, int max);
	void *arg;
};

/* The effect of p for req: DENY if any matching statement denies, else ALLOW
 * if any matching statement allows, else NONE. A statement matches when its
 * action, resource, principal (bucket policies) and every condition match.
 * Fails closed: DENY if memory for a many-valued key cannot be had. Borrows
 * both. Any thread, concurrently on the same p. */
enum policy_effect policy_eval(const struct policy *p, const struct policy_request *req);

/* 1 when a bucket policy grants access to anyone ("public" as S3 Block
 * Public Access defines it): an Allow statement whose principal is "*" /
 * {"AWS":"*"} (or a NotPrincipal) without a condition that pins the caller
 * to fixed values (no wildcard, no variable, not negated, not ...IfExists,
 * not ForAllValues), e.g. aws:SourceIp with fixed non-/0 CIDRs,
 * aws:SourceArn, aws:SourceVpc(e), aws:SourceAccount, aws:SourceOwner,
 * aws:PrincipalAccount, aws:PrincipalArn, aws:PrincipalOrgID, aws:userid,
 * aws:username. 0 otherwise (always 0 for identity policies). Any thread. */
int policy_is_public(const struct policy *p);

#endif
