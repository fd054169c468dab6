/*
 * s3/authz.c — who asks, and may they (DESIGN §8).
 *
 * Identity. A request is signed by the root user (the configured
 * credentials), by a user's access key (db iam), or not at all (anonymous).
 * All users belong to one account, the root's: its canonical id and 12-digit
 * account id are derived from the root access key, so every node computes
 * the same ones. A user also has a canonical id of its own, which ACL grants
 * may name.
 *
 * Authorization, after authentication and (in a cluster) after the read
 * barrier, so a key disabled on any node is refused on every node from the
 * next request on. The root user may do anything. Anyone else, AWS's
 * evaluation for one account: an explicit Deny in an identity policy (the
 * user's and its groups') or in the bucket policy refuses; else an Allow in
 * either permits; else an ACL grant permits (unless the bucket's object
 * ownership is BucketOwnerEnforced, which disables ACLs); else refused.
 * Public Access Block: IgnorePublicAcls drops grants to AllUsers and
 * AuthenticatedUsers; RestrictPublicBuckets makes a public bucket policy
 * grant nothing to anonymous requests; BlockPublicAcls / BlockPublicPolicy
 * are checked where ACLs and policies are written (bucket.c, acl paths).
 *
 * Object ACLs live in the version's attrs: when nothing but an object ACL
 * could allow a GET/HEAD/Get-/PutObjectAcl, the decision is deferred to the
 * handler, which has read the version (s3_authz_object).
 *
 * Compiled policies are cached (a small LRU with reference counts): identity
 * policies by name and identity generation, bucket policies by bucket and a
 * hash of the document; the built-in policies are compiled once.
 *
 * Thread rules: s3_authorize/s3_authz_* on the request's loop thread
 * (metadata reads are LMDB reads); the cache is shared and locked.
 */
#include "s3/s3_int.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <xxhash.h>

#include "auth/policy.h"
#include "core/clock.h"
#include "core/digest.h"
#include "core/err.h"
#include "core/log.h"
#include "s3/acl.h"
#include "s3/objlock.h"
#include "s3/tagging.h"
#include "xml/xml.h"

#define CACHE_SLOTS 128

struct pent {
	char key[META_BUCKET_MAX + META_IAM_NAME_MAX + 4];
	uint64_t tag;
	struct policy *p;
	int refs;
	int used;
	uint64_t last;
};

struct s3_authz {
	pthread_mutex_t mu;
	struct pent e[CACHE_SLOTS];
	uint64_t tick;
	struct policy *builtin[3]; /* readonly, readwrite, writeonly */
};

static const char *const builtin_names[3] = {"readonly", "readwrite", "writeonly"};
static const char *const builtin_docs[3] = {
	"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"s3:Get*\","
	"\"s3:List*\"],\"Resource\":[\"arn:aws:s3:::*\"]}]}",
	"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"s3:*\"],"
	"\"Resource\":[\"arn:aws:s3:::*\"]}]}",
	"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"s3:"
	"PutObject\","
	"\"s3:AbortMultipartUpload\",\"s3:ListBucketMultipartUploads\",\"s3:"
	"ListMultipartUploadParts\"]"
	",\"Resource\":[\"arn:aws:s3:::*\"]}]}",
};

int s3_authz_new(const char *root_key, struct s3_authz **out, char account_id[13],
		 char canonical[65])
{
	struct s3_authz *a = calloc(1, sizeof(*a));
	uint8_t md[32];
	char seed[256];
	int rc = 0;

	if (!a)
		return CN_ENOMEM;
	pthread_mutex_init(&a->mu, NULL);
	for (int i = 0; i < 3 && !rc; i++) {
		char err[128];
		rc = policy_parse(builtin_docs[i], strlen(builtin_docs[i]), POLICY_IDENTITY, NULL,
				  &a->builtin[i], err, sizeof(err));
		if (rc)
			log_error("authz: built-in policy %s: %s", builtin_names[i], err);
	}
	if (rc) {
		s3_authz_free(a);
		return CN_EINTERNAL;
	}
	/* the account: the same on every node, from the root key */
	snprintf(seed, sizeof(seed), "cairn account %s", root_key);
	cn_sha256(seed, strlen(seed), md);
	cn_hex(md, 32, canonical);
	uint64_t n = 0;
	for (int i = 0; i < 8; i++)
		n = (n << 8) | md[i];
	snprintf(account_id, 13, "%012" PRIu64, (uint64_t)(n % 1000000000000ull));
	*out = a;
	return 0;
}

void s3_authz_free(struct s3_authz *a)
{
	if (!a)
		return;
	for (int i = 0; i < CACHE_SLOTS; i++)
		policy_free(a->e[i].p);
	for (int i = 0; i < 3; i++)
		policy_free(a->builtin[i]);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

/* ---- the compiled-policy cache ---- */

/* A held entry, or NULL with *p set to a policy the caller frees. */
struct held {
	struct pent *e;
	struct policy *p;
};

static int cache_get(struct s3_authz *a, const char *key, uint64_t tag, struct held *h)
{
	pthread_mutex_lock(&a->mu);
	for (int i = 0; i < CACHE_SLOTS; i++) {
		struct pent *e = &a->e[i];
		if (e->used && e->tag == tag && strcmp(e->key, key) == 0) {
			e->refs++;
			e->last = ++a->tick;
			h->e = e;
			h->p = e->p;
			pthread_mutex_unlock(&a->mu);
			return 1;
		}
	}
	pthread_mutex_unlock(&a->mu);
	return 0;
}

/* Keeps p (taken) under key/tag when a slot is free of holders; *h holds it. */
static void cache_put(struct s3_authz *a, const char *key, uint64_t tag, struct policy *p,
		      struct held *h)
{
	struct pent *victim = NULL;

	h->e = NULL;
	h->p = p;
	if (strlen(key) >= sizeof(a->e[0].key))
		return;
	pthread_mutex_lock(&a->mu);
	for (int i = 0; i < CACHE_SLOTS; i++) {
		struct pent *e = &a->e[i];
		if (e->refs)
			continue;
		if (!e->used) {
			victim = e;
			break;
		}
		if (!victim || e->last < victim->last)
			victim = e;
	}
	if (victim) {
		struct policy *old = victim->used ? victim->p : NULL;
		snprintf(victim->key, sizeof(victim->key), "%s", key);
		victim->tag = tag;
		victim->p = p;
		victim->used = 1;
		victim->refs = 1;
		victim->last = ++a->tick;
		h->e = victim;
		pthread_mutex_unlock(&a->mu);
		policy_free(old);
		return;
	}
	pthread_mutex_unlock(&a->mu);
}

static void release(struct s3_authz *a, struct held *h)
{
	if (h->e) {
		pthread_mutex_lock(&a->mu);
		h->e->refs--;
		pthread_mutex_unlock(&a->mu);
	} else {
		policy_free(h->p);
	}
	h->e = NULL;
	h->p = NULL;
}

/* A held built-in policy: owned by the server, nothing to release. */
#define BUILTIN ((struct pent *)(uintptr_t)1)

/* ---- identity ---- */

int s3_ident_secret(void *arg, const char *access_key, char *secret_out, size_t cap)
{
	struct s3_req *r = arg;
	struct s3_server *s = r->srv;
	struct meta_iam_key k;
	struct meta_iam_user u;
	uint64_t gen;
	int rc;

	if (strcmp(access_key, s->cfg.access_key) == 0) {
		if (strlen(s->cfg.secret_key) + 1 > cap)
			return CN_EINTERNAL;
		strcpy(secret_out, s->cfg.secret_key);
		r->ident.kind = S3_PRINCIPAL_ROOT;
		return 0;
	}
	rc = meta_iam_key_get(s->meta, access_key, &k, &u, &gen);
	if (rc == CN_ENOTFOUND)
		return CN_EBADKEYID;
	if (rc)
		return rc;
	/* a disabled key or user is as good as an unknown one (AWS answers
	 * InvalidAccessKeyId for an inactive key) */
	if (k.status != META_IAM_ENABLED || u.status != META_IAM_ENABLED) {
		explicit_bzero(&k, sizeof(k));
		return CN_EBADKEYID;
	}
	if (strlen(k.secret) + 1 > cap) {
		explicit_bzero(&k, sizeof(k));
		return CN_EINTERNAL;
	}
	strcpy(secret_out, k.secret);
	r->ident.kind = S3_PRINCIPAL_USER;
	snprintf(r->ident.user, sizeof(r->ident.user), "%s", u.name);
	snprintf(r->ident.canonical, sizeof(r->ident.canonical), "%s", u.canonical);
	snprintf(r->ident.access_key, sizeof(r->ident.access_key), "%s", k.id);
	cn_sha256(k.secret, strlen(k.secret), r->ident.secret_fp);
	explicit_bzero(&k, sizeof(k));
	return 0;
}

/* ---- bucket access configuration ---- */

static int load_bucket(struct s3_req *r, const char *bucket)
{
	struct s3_baccess *b = r->bacc;
	char *v;
	size_t len;

	if (!b && !(b = r->bacc = cn_pool_zalloc(r->pool, sizeof(*b))))
		return CN_ENOMEM;
	if (b->loaded && strcmp(b->bucket, bucket) == 0)
		return 0;
	memset(b, 0, sizeof(*b));
	snprintf(b->bucket, sizeof(b->bucket), "%s", bucket);
	b->loaded = 1;
	if (meta_bucket_conf_get(r->srv->meta, bucket, "policy", &v, &len) == 0) {
		b->policy = cn_pool_alloc(r->pool, len + 1);
		if (b->policy) {
			memcpy(b->policy, v, len + 1);
			b->policy_len = len;
		}
		free(v);
	}
	if (meta_bucket_conf_get(r->srv->meta, bucket, "acl", &v, &len) == 0) {
		b->has_acl = acl_decode(v, len, &b->acl) == 0;
		free(v);
	}
	if (meta_bucket_conf_get(r->srv->meta, bucket, "pab", &v, &len) == 0) {
		s3_pab_parse(v, len, &b->pab);
		free(v);
	}
	b->ownership = S3_OWN_OBJECT_WRITER; /* buckets from before ownership controls */
	if (meta_bucket_conf_get(r->srv->meta, bucket, "ownership", &v, &len) == 0) {
		b->ownership = s3_ownership_parse(v);
		free(v);
	}
	return 0;
}

struct s3_baccess *s3_bucket_access(struct s3_req *r, const char *bucket)
{
	return load_bucket(r, bucket) ? NULL : r->bacc;
}

int s3_pab_parse(const char *v, size_t len, struct s3_pab *out)
{
	memset(out, 0, sizeof(*out));
	if (len != 4)
		return CN_ECORRUPT;
	out->block_public_acls = v[0] == '1';
	out->ignore_public_acls = v[1] == '1';
	out->block_public_policy = v[2] == '1';
	out->restrict_public_buckets = v[3] == '1';
	return 0;
}

enum s3_ownership s3_ownership_parse(const char *v)
{
	if (strcmp(v, "BucketOwnerEnforced") == 0)
		return S3_OWN_ENFORCED;
	if (strcmp(v, "BucketOwnerPreferred") == 0)
		return S3_OWN_PREFERRED;
	return S3_OWN_OBJECT_WRITER;
}

const char *s3_ownership_name(enum s3_ownership o)
{
	return o == S3_OWN_ENFORCED    ? "BucketOwnerEnforced"
	       : o == S3_OWN_PREFERRED ? "BucketOwnerPreferred"
				       : "ObjectWriter";
}

/* ---- condition keys ---- */

struct ctx {
	struct s3_req *r;
	char now_iso[32], now_epoch[24];
	char sig_age[24];      /* s3:signatureAge, once asked */
	char days[24];	       /* s3:object-lock-remaining-retention-days */
	struct tag_set *rtags; /* the x-amz-tagging header's set, once asked */
	int rtags_read;
};

/* The tag set the request asks to store (its x-amz-tagging header: PutObject,
 * CopyObject, CreateMultipartUpload; PutObjectTagging's body), for s3:RequestObjectTag/<key> and
 * s3:RequestObjectTagKeys; NULL when none or malformed (the handler refuses
 * a malformed one). */
static const struct tag_set *request_tags(struct ctx *c)
{
	const char *h;
	char err[8];

	if (c->r->route.op == S3_OP_PUT_OBJECT_TAGGING) {
		/* the body's set, once read; until then the decision waits */
		if (!c->r->body_tags)
			c->r->tags_asked = 1;
		return c->r->body_tags;
	}
	if (c->rtags_read)
		return c->rtags;
	c->rtags_read = 1;
	h = c->r->post_form ? c->r->form_tagging : s3_header(c->r, "x-amz-tagging");
	if (!h || !(c->rtags = cn_pool_alloc(c->r->pool, sizeof(*c->rtags))))
		return NULL;
	if ((c->r->post_form ? tagging_from_xml(h, strlen(h), 0, c->rtags, err, sizeof(err))
			     : tagging_from_header(h, c->rtags, err, sizeof(err))) != 0)
		c->rtags = NULL;
	return c->rtags;
}

/* s3:object-lock-remaining-retention-days: whole days from now until the
 * retention the request sets (PutObjectRetention's body, a write's
 * x-amz-object-lock-retain-until-date), a part of a day counting as one
 * (a cap of N days refuses N days and a second); NULL when it sets none. */
static const char *remaining_days(struct ctx *c)
{
	struct s3_req *r = c->r;
	const char *h = s3_header(r, "x-amz-object-lock-retain-until-date");
	int64_t until = r->cond_until, now = cn_now_ns(), day = 86400LL * 1000000000LL;

	if (r->route.op != S3_OP_PUT_OBJECT_RETENTION && h &&
	    objlock_parse_date(h, strlen(h), &until) != 0)
		return NULL;
	if (until == 0)
		return NULL;
	snprintf(c->days, sizeof(c->days), "%" PRId64,
		 until <= now ? (int64_t)0 : (until - now + day - 1) / day);
	return c->days;
}

static int one(const char *v, const char **vals, size_t *lens, int max)
{
	if (!v)
		return 0;
	if (max >= 1) {
		vals[0] = v;
		lens[0] = strlen(v);
	}
	return 1;
}

static int is_list(const struct s3_req *r)
{
	enum s3_op op = r->route.op;
	return op == S3_OP_LIST_OBJECTS || op == S3_OP_LIST_OBJECTS_V2 ||
	       op == S3_OP_LIST_OBJECT_VERSIONS;
}

static int lookup(void *arg, const char *key, const char **vals, size_t *lens, int max)
{
	struct ctx *c = arg;
	struct s3_req *r = c->r;

	if (strcasecmp(key, "aws:SourceIp") == 0) {
		const char *p = http_request_peer(r->http);
		return one(p && *p ? p : NULL, vals, lens, max);
	}
	if (strcasecmp(key, "aws:SecureTransport") == 0)
		return one(r->http->tls ? "true" : "false", vals, lens, max);
	if (strcasecmp(key, "aws:CurrentTime") == 0)
		return one(c->now_iso, vals, lens, max);
	if (strcasecmp(key, "aws:EpochTime") == 0)
		return one(c->now_epoch, vals, lens, max);
	if (strcasecmp(key, "aws:UserAgent") == 0)
		return one(s3_header(r, "user-agent"), vals, lens, max);
	if (strcasecmp(key, "aws:Referer") == 0)
		return one(s3_header(r, "referer"), vals, lens, max);
	if (strcasecmp(key, "aws:principaltype") == 0)
		return one(r->ident.kind == S3_PRINCIPAL_ROOT	? "Account"
			   : r->ident.kind == S3_PRINCIPAL_USER ? "User"
								: "Anonymous",
			   vals, lens, max);
	if (strcasecmp(key, "aws:userid") == 0)
		return one(r->ident.kind == S3_PRINCIPAL_USER	? r->ident.canonical
			   : r->ident.kind == S3_PRINCIPAL_ROOT ? r->srv->account_id
								: NULL,
			   vals, lens, max);
	if (is_list(r) &&
	    (strcasecmp(key, "s3:prefix") == 0 || strcasecmp(key, "s3:delimiter") == 0 ||
	     strcasecmp(key, "s3:max-keys") == 0))
		return one(s3_route_param(&r->route, key + 3), vals, lens, max);
	if (strcasecmp(key, "s3:VersionId") == 0)
		return one(s3_route_param(&r->route, "versionId"), vals, lens, max);
	/* conditional writes (S3 user guide, "Enforce conditional writes") */
	if (strcasecmp(key, "s3:if-match") == 0 || strcasecmp(key, "s3:if-none-match") == 0)
		return one(
			s3_header(r, key[6] == 'm' || key[6] == 'M' ? "if-match" : "if-none-match"),
			vals, lens, max);
	/* every bucket is the account's */
	if (strcasecmp(key, "s3:ResourceAccount") == 0 ||
	    strcasecmp(key, "aws:ResourceAccount") == 0)
		return one(r->srv->account_id, vals, lens, max);
	/* the lock a write asks for */
	if (strcasecmp(key, "s3:object-lock-mode") == 0)
		return one(s3_header(r, "x-amz-object-lock-mode"), vals, lens, max);
	if (strcasecmp(key, "s3:object-lock-retain-until-date") == 0)
		return one(s3_header(r, "x-amz-object-lock-retain-until-date"), vals, lens, max);
	if (strcasecmp(key, "s3:object-lock-remaining-retention-days") == 0)
		return one(remaining_days(c), vals, lens, max);
	if (strcasecmp(key, "s3:LocationConstraint") == 0)
		return one(r->cond_location, vals, lens, max);
	if (strcasecmp(key, "s3:object-lock-legal-hold") == 0)
		return one(s3_header(r, "x-amz-object-lock-legal-hold"), vals, lens, max);
	if (strcasecmp(key, "s3:RequestObjectTagKeys") == 0) {
		const struct tag_set *t = request_tags(c);
		int n = t ? (int)t->n : 0;
		for (int i = 0; i < n && i < max; i++) {
			vals[i] = t->t[i].key;
			lens[i] = t->t[i].key_len;
		}
		return n;
	}
	if (strncasecmp(key, "s3:RequestObjectTag/", 20) == 0) {
		const struct tag_set *t = request_tags(c);
		const char *v;
		size_t vl;
		if (!t || tagging_get(t, key + 20, &v, &vl) != 0)
			return 0;
		if (max >= 1) {
			vals[0] = v;
			lens[0] = vl;
		}
		return 1;
	}
	if (strcasecmp(key, "s3:signatureversion") == 0)
		return one(r->ident.kind == S3_PRINCIPAL_ANON ? NULL
			   : r->sigv2			      ? "AWS"
							      : "AWS4-HMAC-SHA256",
			   vals, lens, max);
	/* milliseconds since the SigV4 signing time (x-amz-date, or a
	 * presigned URL's X-Amz-Date): a policy caps how old a presigned URL
	 * may be */
	if (strcasecmp(key, "s3:signatureAge") == 0) {
		time_t t;
		if (r->ident.kind == S3_PRINCIPAL_ANON || r->sigv2 || !r->auth.amz_date[0] ||
		    sigv4_parse_amz_date(r->auth.amz_date, strlen(r->auth.amz_date), &t) != 0)
			return 0;
		int64_t age = cn_now_ns() / 1000000LL - (int64_t)t * 1000;
		snprintf(c->sig_age, sizeof(c->sig_age), "%lld", (long long)(age > 0 ? age : 0));
		return one(c->sig_age, vals, lens, max);
	}
	/* true for the writes that make an object (PutObject, a form upload,
	 * CopyObject, CompleteMultipartUpload), false for the multipart steps
	 * that do not (they take no conditional headers): AWS's "enforce
	 * conditional writes" policies exempt those with it */
	if (strcasecmp(key, "s3:ObjectCreationOperation") == 0) {
		enum s3_op op = r->route.op;
		return one(op == S3_OP_PUT_OBJECT || op == S3_OP_POST_OBJECT ||
					   op == S3_OP_COPY_OBJECT || op == S3_OP_COMPLETE_MULTIPART
				   ? "true"
			   : op == S3_OP_CREATE_MULTIPART || op == S3_OP_UPLOAD_PART ||
					   op == S3_OP_UPLOAD_PART_COPY
				   ? "false"
				   : NULL,
			   vals, lens, max);
	}
	if (strcasecmp(key, "s3:TlsVersion") == 0)
		return one(r->http->tls_version, vals, lens, max);
	if (strcasecmp(key, "s3:authType") == 0)
		return one(r->ident.kind == S3_PRINCIPAL_ANON ? NULL
			   : r->post_form		      ? "POST"
			   : r->presigned		      ? "REST-QUERY-STRING"
							      : "REST-HEADER",
			   vals, lens, max);
	if (strncasecmp(key, "s3:x-amz-", 9) == 0) {
		char h[64];
		size_t n = strlen(key + 3);
		if (n >= sizeof(h))
			return 0;
		for (size_t i = 0; i <= n; i++)
			h[i] = (char)((key[3 + i] >= 'A' && key[3 + i] <= 'Z') ? key[3 + i] + 32
									       : key[3 + i]);
		return one(s3_header(r, h), vals, lens, max);
	}
	if (strncasecmp(key, "s3:ExistingObjectTag/", 21) == 0) {
		const char *v;
		size_t vl;
		if (!r->vtags) {
			/* the object is not read yet: the handler decides again
			 * once it has its tags (s3_authz_version) */
			r->tags_asked = 1;
			return 0;
		}
		if (tagging_get(r->vtags, key + 21, &v, &vl) != 0)
			return 0;
		if (max >= 1) {
			vals[0] = v;
			lens[0] = vl;
		}
		return 1;
	}
	return 0;
}

/* ---- evaluation ---- */

/* The union of the user's and its groups' policies, compiled; `hs` gets
 * each held policy (release after use). */
static int identity_policies(struct s3_req *r, struct held *hs, int cap, int *n)
{
	struct s3_authz *a = r->srv->authz;
	struct meta_iam_key k;
	struct meta_iam_user u;
	uint64_t gen;
	char names[META_IAM_LIST_MAX * (1 + META_IAM_LIST_MAX)][META_IAM_NAME_MAX + 1];
	int nn = 0, rc;
	uint8_t fp[32];

	*n = 0;
	rc = meta_iam_key_get(r->srv->meta, r->ident.access_key, &k, &u, &gen);
	if (rc == CN_ENOTFOUND)
		return CN_EBADKEYID;
	if (rc)
		return rc;
	/* re-checked after the read barrier: a key disabled or replaced since
	 * the signature was checked is refused now */
	cn_sha256(k.secret, strlen(k.secret), fp);
	explicit_bzero(&k.secret, sizeof(k.secret));
	if (k.status != META_IAM_ENABLED || u.status != META_IAM_ENABLED ||
	    memcmp(fp, r->ident.secret_fp, 32) != 0)
		return CN_EBADKEYID;
	for (int i = 0; i < u.n_policies; i++)
		snprintf(names[nn++], META_IAM_NAME_MAX + 1, "%s", u.policies[i]);
	for (int g = 0; g < u.n_groups; g++) {
		struct meta_iam_group gr;
		if (meta_iam_group_get(r->srv->meta, u.groups[g], &gr))
			continue; /* removed meanwhile */
		for (int i = 0; i < gr.n_policies; i++) {
			int dup = 0;
			for (int j = 0; j < nn; j++)
				dup |= strcmp(names[j], gr.policies[i]) == 0;
			if (!dup)
				snprintf(names[nn++], META_IAM_NAME_MAX + 1, "%s", gr.policies[i]);
		}
	}
	for (int i = 0; i < nn && *n < cap; i++) {
		char key[META_IAM_NAME_MAX + 4], *doc;
		size_t len;
		int b = -1;
		for (int j = 0; j < 3; j++)
			if (strcmp(names[i], builtin_names[j]) == 0)
				b = j;
		if (b >= 0) {
			hs[*n].e = BUILTIN;
			hs[*n].p = a->builtin[b];
			(*n)++;
			continue;
		}
		key[0] = 'p';
		key[1] = ':';
		memcpy(key + 2, names[i], strnlen(names[i], META_IAM_NAME_MAX) + 1);
		key[2 + META_IAM_NAME_MAX] = 0;
		if (cache_get(a, key, gen, &hs[*n])) {
			(*n)++;
			continue;
		}
		if (meta_iam_policy_get(r->srv->meta, names[i], &doc, &len, NULL))
			continue; /* removed meanwhile: grants nothing */
		struct policy *p = NULL;
		char err[128];
		rc = policy_parse(doc, len, POLICY_IDENTITY, NULL, &p, err, sizeof(err));
		free(doc);
		if (rc) {
			log_warn("authz: policy %s does not parse (%s); it grants nothing",
				 names[i], err);
			continue;
		}
		cache_put(a, key, gen, p, &hs[(*n)++]);
	}
	return 0;
}

static void release_all(struct s3_authz *a, struct held *hs, int n)
{
	for (int i = 0; i < n; i++)
		if (hs[i].e != BUILTIN)
			release(a, &hs[i]);
}

static int bucket_policy(struct s3_req *r, struct held *h)
{
	struct s3_baccess *b = r->bacc;
	struct s3_authz *a = r->srv->authz;
	char key[META_BUCKET_MAX + 4], err[128];
	uint64_t tag;
	struct policy *p = NULL;

	h->e = NULL;
	h->p = NULL;
	if (!b->policy)
		return 0;
	tag = XXH64(b->policy, b->policy_len, 0);
	snprintf(key, sizeof(key), "b:%s", b->bucket);
	if (cache_get(a, key, tag, h))
		return 1;
	if (policy_parse(b->policy, b->policy_len, POLICY_BUCKET, b->bucket, &p, err,
			 sizeof(err))) {
		log_warn("authz: the policy of bucket %s does not parse (%s)", b->bucket, err);
		return 0;
	}
	cache_put(a, key, tag, p, h);
	return 1;
}

static void resource(char *out, size_t cap, const char *bucket, const char *key, size_t klen)
{
	if (!bucket)
		snprintf(out, cap, "arn:aws:s3:::");
	else if (!key)
		snprintf(out, cap, "arn:aws:s3:::%s", bucket);
	else
		snprintf(out, cap, "arn:aws:s3:::%s/%.*s", bucket, (int)klen, key);
}

/* The policies' verdict on one action/resource: POLICY_DENY / ALLOW /
 * NONE, or a negative error. */
static int policies(struct s3_req *r, const char *action, const char *bucket, const char *key,
		    size_t klen)
{
	struct s3_authz *a = r->srv->authz;
	struct held hs[META_IAM_LIST_MAX * (1 + META_IAM_LIST_MAX)], bh;
	struct policy_request pr;
	struct ctx c = {.r = r};
	char res[S3_MAX_KEY + META_BUCKET_MAX + 32];
	int n = 0, rc, eff = POLICY_NONE;
	time_t now = (time_t)(cn_now_ns() / 1000000000LL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(c.now_iso, sizeof(c.now_iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(c.now_epoch, sizeof(c.now_epoch), "%lld", (long long)now);
	resource(res, sizeof(res), bucket, key, klen);
	memset(&pr, 0, sizeof(pr));
	pr.action = action;
	pr.resource = res;
	pr.anonymous = r->ident.kind == S3_PRINCIPAL_ANON;
	pr.account_id = r->srv->account_id;
	pr.user = pr.anonymous ? NULL : r->ident.user;
	pr.canonical_id = pr.anonymous ? NULL : r->ident.canonical;
	pr.lookup = lookup;
	pr.arg = &c;
	if (r->ident.kind == S3_PRINCIPAL_USER) {
		rc = identity_policies(r, hs, (int)(sizeof(hs) / sizeof(hs[0])), &n);
		if (rc)
			return rc;
		for (int i = 0; i < n && eff != POLICY_DENY; i++) {
			int e = policy_eval(hs[i].p, &pr);
			if (e != POLICY_NONE)
				eff = e;
		}
		release_all(a, hs, n);
	}
	if (eff != POLICY_DENY && bucket && bucket_policy(r, &bh)) {
		int e = policy_eval(bh.p, &pr);
		/* RestrictPublicBuckets: a public policy grants nothing to
		 * anyone outside the account, here: to anonymous requests */
		if (e == POLICY_ALLOW && pr.anonymous && r->bacc->pab.restrict_public_buckets &&
		    policy_is_public(bh.p))
			e = POLICY_NONE;
		if (e == POLICY_DENY || (e == POLICY_ALLOW && eff == POLICY_NONE))
			eff = e;
		release(a, &bh);
	}
	return eff;
}

/* Does the ACL a grant perm to this requester (public grants dropped under
 * IgnorePublicAcls)? */
static int acl_grants(struct s3_req *r, const struct acl *a, int perm)
{
	const struct acl *use = a;
	struct acl *f = NULL;
	int ok;

	if (r->bacc && r->bacc->pab.ignore_public_acls && acl_is_public(a)) {
		f = malloc(sizeof(*f));
		if (!f)
			return 0;
		*f = *a;
		f->n = 0;
		for (int i = 0; i < a->n; i++)
			if (a->g[i].type == ACL_GRANTEE_USER)
				f->g[f->n++] = a->g[i];
		use = f;
	}
	ok = acl_allows(use, r->ident.kind == S3_PRINCIPAL_ANON ? NULL : r->ident.canonical,
			r->ident.kind != S3_PRINCIPAL_ANON, (enum acl_perm)perm);
	free(f);
	return ok;
}

/* A bucket without a stored ACL has the canned "private" one: the
 * account owns it. */
static const struct acl *bucket_acl(struct s3_req *r)
{
	if (!r->bacc->has_acl) {
		acl_canned("private", r->srv->account_canonical, r->srv->account_canonical, 1,
			   &r->bacc->acl);
		r->bacc->has_acl = 1;
	}
	return &r->bacc->acl;
}

int s3_authz_check(struct s3_req *r, const char *action, const char *bucket, const char *key,
		   size_t klen, int bucket_perm)
{
	int eff;

	if (r->ident.kind == S3_PRINCIPAL_ROOT)
		return 0;
	if (bucket && load_bucket(r, bucket))
		return CN_ENOMEM;
	eff = policies(r, action, bucket, key, klen);
	if (eff < 0)
		return eff;
	if (eff == POLICY_DENY)
		return CN_EACCESS;
	if (eff == POLICY_ALLOW)
		return 0;
	if (bucket && bucket_perm && r->bacc->ownership != S3_OWN_ENFORCED &&
	    acl_grants(r, bucket_acl(r), bucket_perm))
		return 0;
	return CN_EACCESS;
}

/* What an operation asks for. */
struct need {
	const char *action;
	int bucket_perm; /* an ACL permission on the bucket that also allows it */
	int object_perm; /* an ACL permission on the object that also allows it */
	int versioned;	 /* with versionId, the *Version action */
};

static struct need need_of(struct s3_req *r)
{
	struct need n = {0};
	const char *vid = s3_route_param(&r->route, "versionId");

	switch (r->route.op) {
	case S3_OP_LIST_BUCKETS: n.action = "s3:ListAllMyBuckets"; break;
	case S3_OP_CREATE_BUCKET: n.action = "s3:CreateBucket"; break;
	case S3_OP_DELETE_BUCKET: n.action = "s3:DeleteBucket"; break;
	case S3_OP_HEAD_BUCKET:
	case S3_OP_LIST_OBJECTS:
	case S3_OP_LIST_OBJECTS_V2:
		n.action = "s3:ListBucket";
		n.bucket_perm = ACL_READ;
		break;
	case S3_OP_GET_BUCKET_LOCATION: n.action = "s3:GetBucketLocation"; break;
	case S3_OP_GET_BUCKET_VERSIONING: n.action = "s3:GetBucketVersioning"; break;
	case S3_OP_PUT_BUCKET_VERSIONING: n.action = "s3:PutBucketVersioning"; break;
	case S3_OP_LIST_OBJECT_VERSIONS:
		n.action = "s3:ListBucketVersions";
		n.bucket_perm = ACL_READ;
		break;
	case S3_OP_LIST_MULTIPART_UPLOADS:
		n.action = "s3:ListBucketMultipartUploads";
		n.bucket_perm = ACL_READ;
		break;
	case S3_OP_PUT_OBJECT:
	case S3_OP_COPY_OBJECT:
	case S3_OP_CREATE_MULTIPART:
	case S3_OP_UPLOAD_PART:
	case S3_OP_UPLOAD_PART_COPY:
	case S3_OP_COMPLETE_MULTIPART:
		n.action = "s3:PutObject";
		n.bucket_perm = ACL_WRITE;
		break;
	case S3_OP_GET_OBJECT:
	case S3_OP_HEAD_OBJECT:
		n.action = vid ? "s3:GetObjectVersion" : "s3:GetObject";
		n.object_perm = ACL_READ;
		break;
	case S3_OP_DELETE_OBJECT:
		n.action = vid ? "s3:DeleteObjectVersion" : "s3:DeleteObject";
		n.bucket_perm = ACL_WRITE;
		break;
	case S3_OP_ABORT_MULTIPART:
		n.action = "s3:AbortMultipartUpload";
		n.bucket_perm = ACL_WRITE;
		break;
	case S3_OP_LIST_PARTS:
		n.action = "s3:ListMultipartUploadParts";
		n.bucket_perm = ACL_READ;
		break;
	case S3_OP_DELETE_OBJECTS: break; /* each key, in the handler */
	case S3_OP_GET_BUCKET_POLICY: n.action = "s3:GetBucketPolicy"; break;
	case S3_OP_PUT_BUCKET_POLICY: n.action = "s3:PutBucketPolicy"; break;
	case S3_OP_DELETE_BUCKET_POLICY: n.action = "s3:DeleteBucketPolicy"; break;
	case S3_OP_GET_BUCKET_POLICY_STATUS: n.action = "s3:GetBucketPolicyStatus"; break;
	case S3_OP_GET_PUBLIC_ACCESS_BLOCK: n.action = "s3:GetBucketPublicAccessBlock"; break;
	case S3_OP_PUT_PUBLIC_ACCESS_BLOCK:
	case S3_OP_DELETE_PUBLIC_ACCESS_BLOCK: n.action = "s3:PutBucketPublicAccessBlock"; break;
	case S3_OP_GET_OWNERSHIP_CONTROLS: n.action = "s3:GetBucketOwnershipControls"; break;
	case S3_OP_PUT_OWNERSHIP_CONTROLS:
	case S3_OP_DELETE_OWNERSHIP_CONTROLS: n.action = "s3:PutBucketOwnershipControls"; break;
	case S3_OP_GET_BUCKET_ACL:
		n.action = "s3:GetBucketAcl";
		n.bucket_perm = ACL_READ_ACP;
		break;
	case S3_OP_PUT_BUCKET_ACL:
		n.action = "s3:PutBucketAcl";
		n.bucket_perm = ACL_WRITE_ACP;
		break;
	case S3_OP_GET_OBJECT_TAGGING:
		n.action = vid ? "s3:GetObjectVersionTagging" : "s3:GetObjectTagging";
		break;
	case S3_OP_GET_OBJECT_ATTRIBUTES:
		n.action = vid ? "s3:GetObjectVersionAttributes" : "s3:GetObjectAttributes";
		n.object_perm = ACL_READ;
		break;
	case S3_OP_PUT_OBJECT_TAGGING:
		n.action = vid ? "s3:PutObjectVersionTagging" : "s3:PutObjectTagging";
		break;
	case S3_OP_DELETE_OBJECT_TAGGING:
		n.action = vid ? "s3:DeleteObjectVersionTagging" : "s3:DeleteObjectTagging";
		break;
	case S3_OP_GET_BUCKET_TAGGING: n.action = "s3:GetBucketTagging"; break;
	case S3_OP_GET_BUCKET_CORS: n.action = "s3:GetBucketCORS"; break;
	case S3_OP_GET_BUCKET_LIFECYCLE: n.action = "s3:GetLifecycleConfiguration"; break;
	case S3_OP_PUT_BUCKET_LIFECYCLE:
	case S3_OP_DELETE_BUCKET_LIFECYCLE: n.action = "s3:PutLifecycleConfiguration"; break;
	case S3_OP_PUT_BUCKET_CORS:
	case S3_OP_DELETE_BUCKET_CORS: n.action = "s3:PutBucketCORS"; break;
	case S3_OP_GET_OBJECT_LOCK_CONFIG: n.action = "s3:GetBucketObjectLockConfiguration"; break;
	case S3_OP_PUT_OBJECT_LOCK_CONFIG: n.action = "s3:PutBucketObjectLockConfiguration"; break;
	case S3_OP_GET_OBJECT_RETENTION: n.action = "s3:GetObjectRetention"; break;
	case S3_OP_PUT_OBJECT_RETENTION: n.action = "s3:PutObjectRetention"; break;
	case S3_OP_GET_OBJECT_LEGAL_HOLD: n.action = "s3:GetObjectLegalHold"; break;
	case S3_OP_PUT_OBJECT_LEGAL_HOLD: n.action = "s3:PutObjectLegalHold"; break;
	case S3_OP_GET_BUCKET_ENCRYPTION: n.action = "s3:GetEncryptionConfiguration"; break;
	case S3_OP_GET_BUCKET_REQUEST_PAYMENT: n.action = "s3:GetBucketRequestPayment"; break;
	case S3_OP_GET_BUCKET_LOGGING: n.action = "s3:GetBucketLogging"; break;
	case S3_OP_GET_BUCKET_NOTIFICATION: n.action = "s3:GetBucketNotification"; break;
	case S3_OP_GET_BUCKET_ACCELERATE: n.action = "s3:GetAccelerateConfiguration"; break;
	case S3_OP_GET_BUCKET_WEBSITE: n.action = "s3:GetBucketWebsite"; break;
	case S3_OP_GET_BUCKET_REPLICATION: n.action = "s3:GetReplicationConfiguration"; break;
	case S3_OP_PUT_BUCKET_ENCRYPTION:
	case S3_OP_DELETE_BUCKET_ENCRYPTION: n.action = "s3:PutEncryptionConfiguration"; break;
	case S3_OP_PUT_BUCKET_TAGGING:
	case S3_OP_DELETE_BUCKET_TAGGING: n.action = "s3:PutBucketTagging"; break;
	case S3_OP_GET_OBJECT_ACL:
		n.action = vid ? "s3:GetObjectVersionAcl" : "s3:GetObjectAcl";
		n.object_perm = ACL_READ_ACP;
		break;
	case S3_OP_PUT_OBJECT_ACL:
		n.action = vid ? "s3:PutObjectVersionAcl" : "s3:PutObjectAcl";
		n.object_perm = ACL_WRITE_ACP;
		break;
	default: n.action = NULL; break;
	}
	return n;
}

/* Operations on one version, whose handler reads it before answering
 * (and calls s3_authz_version). */
static int version_op(enum s3_op op)
{
	return op == S3_OP_GET_OBJECT || op == S3_OP_HEAD_OBJECT ||
	       op == S3_OP_GET_OBJECT_TAGGING || op == S3_OP_PUT_OBJECT_TAGGING ||
	       op == S3_OP_DELETE_OBJECT_TAGGING || op == S3_OP_GET_OBJECT_ACL ||
	       op == S3_OP_PUT_OBJECT_ACL || op == S3_OP_GET_OBJECT_ATTRIBUTES ||
	       op == S3_OP_GET_OBJECT_RETENTION || op == S3_OP_PUT_OBJECT_RETENTION ||
	       op == S3_OP_GET_OBJECT_LEGAL_HOLD || op == S3_OP_PUT_OBJECT_LEGAL_HOLD;
}

size_t s3_authz_body_max(const struct s3_req *r)
{
	if (r->ident.kind == S3_PRINCIPAL_ROOT)
		return 0;
	if (r->route.op == S3_OP_CREATE_BUCKET)
		return S3_CREATE_BUCKET_BODY_MAX;
	if (r->route.op == S3_OP_PUT_OBJECT_RETENTION)
		return S3_OBJLOCK_BODY_MAX;
	return 0;
}

void s3_authz_body_keys(struct s3_req *r, const char *buf, size_t len)
{
	struct xml_node *root;
	uint8_t mode;
	int64_t until;

	if (r->route.op == S3_OP_CREATE_BUCKET) {
		const char *l;
		if (len && xml_parse(r->pool, buf, len, &root) == 0 &&
		    strcmp(root->name, "CreateBucketConfiguration") == 0 &&
		    (l = xml_child_text(root, "LocationConstraint")) != NULL && *l)
			r->cond_location = l;
	} else if (r->route.op == S3_OP_PUT_OBJECT_RETENTION) {
		if (objlock_retention_from_xml(r->pool, buf, len, &mode, &until) == 0 && mode)
			r->cond_until = until;
	}
}

int s3_authorize(struct s3_req *r)
{
	const char *exp = s3_header(r, "x-amz-expected-bucket-owner");
	const char *src_exp = s3_header(r, "x-amz-source-expected-bucket-owner");
	struct need n;
	int eff;

	/* a bucket owned by another account than the one the caller expects:
	 * 403, for the root user too; the same for a copy's source bucket
	 * (every bucket here is the one account's) */
	if (exp && r->route.bucket && strcmp(exp, r->srv->account_id) != 0)
		return CN_EACCESS;
	if (src_exp && s3_header(r, "x-amz-copy-source") &&
	    strcmp(src_exp, r->srv->account_id) != 0)
		return CN_EACCESS;
	if (r->ident.kind == S3_PRINCIPAL_ROOT || r->route.op == S3_OP_POST_OBJECT)
		return 0; /* a form is authorized by its own signature (post.c) */
	n = need_of(r);
	if (!n.action)
		return r->route.op == S3_OP_DELETE_OBJECTS ? 0 : CN_EACCESS;
	if (r->route.bucket && load_bucket(r, r->route.bucket))
		return CN_ENOMEM;
	r->tags_asked = 0;
	eff = policies(r, n.action, r->route.bucket, r->route.key, r->route.key_len);
	if (eff < 0)
		return eff;
	if (r->tags_asked && version_op(r->route.op)) {
		/* a condition on the object's tags (or the tags a PutObjectTagging
		 * body asks for) that are not read yet: the whole decision, a Deny
		 * too, is made again with them (s3_authz_version). Decided on an
		 * absent tag, a negated condition (StringNotEquals) denied every
		 * object. */
		r->recheck_action = n.action;
		r->authz_object_perm = n.object_perm;
		return 0;
	}
	if (eff == POLICY_DENY)
		return CN_EACCESS;
	if (eff == POLICY_ALLOW)
		return 0;
	if (r->route.bucket && r->bacc->ownership != S3_OWN_ENFORCED) {
		if (n.bucket_perm && acl_grants(r, bucket_acl(r), n.bucket_perm))
			return 0;
		if (n.object_perm) {
			/* only the object's ACL can allow it: the handler decides */
			r->authz_object_perm = n.object_perm;
			return 0;
		}
	}
	return CN_EACCESS;
}

int s3_authz_object(struct s3_req *r, const void *acl, size_t acl_len)
{
	struct acl *a;
	int ok;

	if (!r->authz_object_perm)
		return 0;
	a = malloc(sizeof(*a));
	if (!a)
		return CN_ENOMEM;
	if (!acl_len || acl_decode(acl, acl_len, a) != 0)
		acl_canned("private", r->srv->account_canonical, r->srv->account_canonical, 0, a);
	ok = acl_grants(r, a, r->authz_object_perm);
	free(a);
	return ok ? 0 : CN_EACCESS;
}

int s3_authz_delete_etag(struct s3_req *r, const char *key, size_t klen, const char *etag)
{
	struct meta_version v;
	int rc, found;

	if (!etag || strcmp(etag, "*") == 0 || r->ident.kind == S3_PRINCIPAL_ROOT)
		return 0;
	rc = meta_object_get(r->srv->meta, r->route.bucket, key, klen, NULL, 0, &v);
	if (rc && rc != CN_ENOKEY) {
		meta_version_release(&v);
		return rc == CN_EKEYTOOLONG ? 0 : rc; /* the delete answers that */
	}
	found = rc == 0;
	rc = s3_authz_source(r, r->route.bucket, key, klen, 0, v.attrs, v.attrs_len, found);
	meta_version_release(&v);
	return rc;
}

int s3_authz_source(struct s3_req *r, const char *bucket, const char *key, size_t klen,
		    int versioned, const uint8_t *attrs, size_t attrs_len, int found)
{
	const uint8_t *acl;
	size_t acl_len;
	struct acl *a;
	int eff, ok;

	if (r->ident.kind == S3_PRINCIPAL_ROOT)
		return 0;
	if (load_bucket(r, bucket))
		return CN_ENOMEM;
	{
		/* the source's own tags decide s3:ExistingObjectTag, as they do
		 * for its GET (a copy is a read of it): a tag-based Deny is not
		 * bypassed by copying. The request's own set is put back. */
		struct tag_set *keep = r->vtags;
		const uint8_t *tags = NULL;
		size_t tags_len = 0;
		if (found && s3_attrs_tags(attrs, attrs_len, &tags, &tags_len) != 0)
			return CN_ECORRUPT;
		r->vtags = cn_pool_zalloc(r->pool, sizeof(*r->vtags));
		if (!r->vtags) {
			r->vtags = keep;
			return CN_ENOMEM;
		}
		if (tags_len && tagging_decode(tags, tags_len, r->vtags) != 0) {
			r->vtags = keep;
			return CN_ECORRUPT;
		}
		eff = policies(r, versioned ? "s3:GetObjectVersion" : "s3:GetObject", bucket, key,
			       klen);
		r->vtags = keep;
	}
	if (eff < 0)
		return eff;
	if (eff == POLICY_ALLOW)
		return 0;
	if (eff == POLICY_DENY || !found || r->bacc->ownership == S3_OWN_ENFORCED)
		return CN_EACCESS;
	if (s3_attrs_acl(attrs, attrs_len, &acl, &acl_len))
		return CN_EACCESS;
	a = malloc(sizeof(*a));
	if (!a)
		return CN_ENOMEM;
	if (!acl_len || acl_decode(acl, acl_len, a) != 0)
		acl_canned("private", r->srv->account_canonical, r->srv->account_canonical, 0, a);
	ok = acl_grants(r, a, ACL_READ);
	free(a);
	return ok ? 0 : CN_EACCESS;
}

int s3_authz_version(struct s3_req *r, const uint8_t *attrs, size_t attrs_len)
{
	const uint8_t *acl, *tags;
	size_t acl_len, tags_len;
	int rc, eff;

	if (!r->recheck_action) {
		if (!r->authz_object_perm)
			return 0;
		rc = s3_attrs_acl(attrs, attrs_len, &acl, &acl_len);
		return rc ? rc : s3_authz_object(r, acl, acl_len);
	}
	/* the policies again, now with the version's tags */
	rc = s3_attrs_tags(attrs, attrs_len, &tags, &tags_len);
	if (rc)
		return rc;
	r->vtags = cn_pool_zalloc(r->pool, sizeof(*r->vtags));
	if (!r->vtags)
		return CN_ENOMEM;
	if (tags_len && tagging_decode(tags, tags_len, r->vtags) != 0)
		return CN_ECORRUPT;
	eff = policies(r, r->recheck_action, r->route.bucket, r->route.key, r->route.key_len);
	r->recheck_action = NULL;
	if (eff < 0)
		return eff;
	if (eff == POLICY_DENY)
		return CN_EACCESS;
	if (eff == POLICY_ALLOW)
		return 0;
	if (!r->authz_object_perm || r->bacc->ownership == S3_OWN_ENFORCED)
		return CN_EACCESS;
	rc = s3_attrs_acl(attrs, attrs_len, &acl, &acl_len);
	return rc ? rc : s3_authz_object(r, acl, acl_len);
}
