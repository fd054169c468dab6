/*
 * s3/access.c — the bucket's access configuration through the S3 API:
 * bucket policy (+ status), Public Access Block, object ownership controls,
 * bucket and object ACLs; and the ACL a write request asks for.
 *
 * Stored as bucket configuration documents (META_CMD_BUCKET_CONF):
 *   "policy"     the policy JSON as sent (validated: auth/policy.c)
 *   "pab"        four characters '0'/'1': BlockPublicAcls, IgnorePublicAcls,
 *                BlockPublicPolicy, RestrictPublicBuckets
 *   "ownership"  "BucketOwnerEnforced" | "BucketOwnerPreferred" | "ObjectWriter"
 *   "acl"        the bucket ACL (acl_encode); absent = private
 * An object's ACL is in its version's attrs (attrs.c), absent = private.
 *
 * New buckets get AWS's defaults: ownership BucketOwnerEnforced (ACLs
 * disabled) unless x-amz-object-ownership says otherwise, and every Public
 * Access Block setting on. Buckets from before these existed have neither:
 * ACLs enabled (ObjectWriter), nothing blocked.
 *
 * Thread rules: loop thread (handlers), metadata reads inline.
 */
#include "s3/s3_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <xxhash.h>

#include "auth/policy.h"
#include "core/clock.h"
#include "core/err.h"
#include "s3/objlock.h"

#define POLICY_BODY_MAX (20 * 1024)

/* ---- lookups an ACL needs ---- */

struct idfind {
	const char *id;
	char name[META_IAM_NAME_MAX + 1];
	int found;
};

static int find_canonical(void *arg, const struct meta_iam_user *u)
{
	struct idfind *f = arg;
	if (strcmp(u->canonical, f->id) != 0)
		return 0;
	snprintf(f->name, sizeof(f->name), "%s", u->name);
	f->found = 1;
	return 1;
}

static int user_exists(void *arg, const char *id)
{
	struct s3_req *r = arg;
	struct idfind f = {.id = id};

	if (strcmp(id, r->srv->account_canonical) == 0)
		return 1;
	meta_iam_users_each(r->srv->meta, find_canonical, &f);
	return f.found;
}

static int display_name(void *arg, const char *id, char *out, size_t cap)
{
	struct s3_req *r = arg;
	struct idfind f = {.id = id};

	if (strcmp(id, r->srv->account_canonical) == 0) {
		snprintf(out, cap, "%s", r->srv->cfg.access_key);
		return 1;
	}
	meta_iam_users_each(r->srv->meta, find_canonical, &f);
	if (!f.found)
		return 0;
	snprintf(out, cap, "%s", f.name);
	return 1;
}

static struct acl_lookup lookups(struct s3_req *r)
{
	return (struct acl_lookup){
		.user_exists = user_exists, .display_name = display_name, .arg = r};
}

static struct acl_headers grant_headers(struct s3_req *r)
{
	return (struct acl_headers){
		.read = s3_header(r, "x-amz-grant-read"),
		.write = s3_header(r, "x-amz-grant-write"),
		.read_acp = s3_header(r, "x-amz-grant-read-acp"),
		.write_acp = s3_header(r, "x-amz-grant-write-acp"),
		.full_control = s3_header(r, "x-amz-grant-full-control"),
	};
}

/* Does a grant anything to anyone but the owner? */
static int grants_others(const struct acl *a)
{
	for (int i = 0; i < a->n; i++)
		if (a->g[i].type != ACL_GRANTEE_USER || strcmp(a->g[i].id, a->owner) != 0)
			return 1;
	return 0;
}

static int acl_error(struct s3_req *r, int rc, const char *err)
{
	if (err[0] && (rc == CN_EBADARG || rc == CN_EBADACL))
		r->err_msg = cn_pool_strndup(r->pool, err, strlen(err));
	return rc;
}

/* ---- the ACL of a write (PutObject, CopyObject, CreateMultipartUpload) ---- */

int s3_acl_for_write(struct s3_req *r, struct s3_attrs *a)
{
	struct acl_request rq;
	struct s3_baccess *b;
	struct acl *acl;
	struct cn_buf w;
	char err[160] = "";
	int rc;

	a->acl = NULL;
	a->acl_len = 0;
	memset(&rq, 0, sizeof(rq));
	rq.canned = r->post_form ? r->form_acl : s3_header(r, "x-amz-acl");
	if (!r->post_form)
		rq.grants = grant_headers(r);
	if (!rq.canned && !rq.grants.read && !rq.grants.write && !rq.grants.read_acp &&
	    !rq.grants.write_acp && !rq.grants.full_control)
		return 0;
	struct acl_lookup lk = lookups(r);
	rq.owner_id = r->srv->account_canonical;
	rq.bucket_owner_id = r->srv->account_canonical;
	rq.for_bucket = 0;
	rq.lk = &lk;
	acl = cn_pool_alloc(r->pool, sizeof(*acl));
	if (!acl)
		return CN_ENOMEM;
	rc = acl_from_request(&rq, acl, err, sizeof(err));
	if (rc)
		return acl_error(r, rc, err);
	b = s3_bucket_access(r, r->route.bucket);
	if (!b)
		return CN_ENOMEM;
	if (b->ownership == S3_OWN_ENFORCED) {
		/* ACLs are off: only one that gives the owner everything, and
		 * nobody else anything, is accepted (and means nothing) */
		return grants_others(acl) ? CN_EACLNOTSUPP : 0;
	}
	if (b->pab.block_public_acls && acl_is_public(acl))
		return CN_EACCESS;
	/* setting an ACL is an ACL write of its own */
	rc = s3_authz_check(r, "s3:PutObjectAcl", r->route.bucket, r->route.key, r->route.key_len,
			    0);
	if (rc)
		return rc;
	cn_buf_init(&w);
	rc = acl_encode(acl, &w);
	if (!rc) {
		uint8_t *p = cn_pool_alloc(r->pool, w.len);
		if (p) {
			memcpy(p, w.p, w.len);
			a->acl = p;
			a->acl_len = w.len;
		} else {
			rc = CN_ENOMEM;
		}
	}
	cn_buf_release(&w);
	return rc;
}

/* ---- CreateBucket's first configuration ---- */

static int pack(struct cn_buf *w, const char *name, const void *v, size_t len)
{
	uint8_t n = (uint8_t)strlen(name), l[4] = {(uint8_t)len, (uint8_t)(len >> 8),
						   (uint8_t)(len >> 16), (uint8_t)(len >> 24)};
	cn_buf_put(w, &n, 1);
	cn_buf_put(w, name, n);
	cn_buf_put(w, l, 4);
	cn_buf_put(w, v, len);
	return w->err;
}

int s3_bucket_initial_conf(struct s3_req *r, void **out, size_t *len)
{
	const char *own = s3_header(r, "x-amz-object-ownership");
	enum s3_ownership o = S3_OWN_ENFORCED;
	struct acl_request rq;
	struct acl *acl;
	struct cn_buf w;
	char err[160] = "";
	int rc;

	if (own) {
		if (strcmp(own, "BucketOwnerEnforced") && strcmp(own, "BucketOwnerPreferred") &&
		    strcmp(own, "ObjectWriter")) {
			r->err_msg = "Invalid x-amz-object-ownership header";
			return CN_EBADARG;
		}
		o = s3_ownership_parse(own);
	}
	acl = cn_pool_alloc(r->pool, sizeof(*acl));
	if (!acl)
		return CN_ENOMEM;
	memset(&rq, 0, sizeof(rq));
	rq.canned = s3_header(r, "x-amz-acl");
	rq.grants = grant_headers(r);
	struct acl_lookup lk = lookups(r);
	rq.owner_id = r->srv->account_canonical;
	rq.bucket_owner_id = r->srv->account_canonical;
	rq.for_bucket = 1;
	rq.lk = &lk;
	rc = acl_from_request(&rq, acl, err, sizeof(err));
	if (rc == CN_ENOTFOUND)
		acl = NULL;
	else if (rc)
		return acl_error(r, rc, err);
	if (acl && grants_others(acl)) {
		if (o == S3_OWN_ENFORCED)
			return CN_EACLOWNERSHIP;
		/* every Public Access Block setting starts on */
		if (acl_is_public(acl))
			return CN_EACCESS;
	}
	cn_buf_init(&w);
	rc = pack(&w, "ownership", s3_ownership_name(o), strlen(s3_ownership_name(o)));
	if (!rc)
		rc = pack(&w, "pab", "1111", 4);
	if (!rc && acl && grants_others(acl)) {
		struct cn_buf e;
		cn_buf_init(&e);
		rc = acl_encode(acl, &e);
		if (!rc)
			rc = pack(&w, "acl", e.p, e.len);
		cn_buf_release(&e);
	}
	if (!rc) {
		/* x-amz-bucket-object-lock-enabled: the bucket starts with object
		 * lock (and so versioned: apply.c), no default retention */
		const char *ol = s3_header(r, "x-amz-bucket-object-lock-enabled");
		if (ol && strcasecmp(ol, "true") == 0) {
			struct objlock_conf oc = {0};
			uint8_t enc[OBJLOCK_CONF_LEN];
			objlock_conf_encode(&oc, enc);
			rc = pack(&w, META_BCONF_OBJECT_LOCK, enc, sizeof(enc));
		} else if (ol && strcasecmp(ol, "false") != 0) {
			r->err_msg = "Invalid x-amz-bucket-object-lock-enabled header";
			rc = CN_EBADARG;
		}
	}
	if (!rc) {
		*out = cn_pool_alloc(r->pool, w.len);
		if (*out) {
			memcpy(*out, w.p, w.len);
			*len = w.len;
		} else {
			rc = CN_ENOMEM;
		}
	}
	cn_buf_release(&w);
	return rc;
}

/* ---- storing a document ---- */

struct conf_op {
	struct meta_cmd cmd;
	int status; /* answer on success */
};

static void conf_done(struct meta_cmd *cmd, int rc, void *arg)
{
	struct s3_req *r = arg;
	struct conf_op *op = (struct conf_op *)cmd;

	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	s3_send(r, op->status, NULL, NULL, 0);
}

void s3_bucket_conf_put(struct s3_req *r, const char *name, const void *v, size_t len, int status)
{
	struct conf_op *op = cn_pool_zalloc(r->pool, sizeof(*op));
	int rc;

	if (!op) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	op->status = status;
	op->cmd.type = META_CMD_BUCKET_CONF;
	op->cmd.now = cn_now_ns();
	op->cmd.bucket = r->route.bucket;
	op->cmd.bucket_len = strlen(r->route.bucket);
	op->cmd.key = name;
	op->cmd.key_len = strlen(name);
	op->cmd.inline_data = v;
	op->cmd.inline_len = len;
	rc = s3_meta_submit(r, &op->cmd, conf_done, r);
	if (rc)
		s3_send_error(r, rc);
}

/* The document, or an answer sent (0 = sent). */
static char *conf_get(struct s3_req *r, const char *name, int missing, size_t *len)
{
	char *v;
	int rc = meta_bucket_conf_get(r->srv->meta, r->route.bucket, name, &v, len);

	if (rc) {
		s3_send_error(r, rc == CN_ENOTFOUND ? missing : rc);
		return NULL;
	}
	char *p = cn_pool_alloc(r->pool, *len + 1);
	if (p)
		memcpy(p, v, *len + 1);
	free(v);
	if (!p)
		s3_send_error(r, CN_ENOMEM);
	return p;
}

int s3_bucket_exists(struct s3_req *r)
{
	struct meta_bucket b;
	int rc = meta_bucket_get(r->srv->meta, r->route.bucket, &b);

	if (rc) {
		s3_send_error(r, rc);
		return 0;
	}
	meta_bucket_release(&b);
	return 1;
}

/* ---- bucket policy ---- */

void s3_op_get_bucket_policy(struct s3_req *r)
{
	size_t len;
	char *p = conf_get(r, "policy", CN_ENOPOLICY, &len);
	struct s3_hdrs h = {0};

	if (!p)
		return;
	s3_hdr_add(r, &h, "Content-Type", "application/json");
	s3_send(r, 200, &h, p, len);
}

static void policy_body(struct s3_req *r, int err, char *buf, size_t len)
{
	struct s3_baccess *b;
	struct policy *p = NULL;
	char msg[160] = "";
	int rc;

	if (err) {
		s3_send_error(r, err == CN_ETOOBIG ? CN_EBADPOLICY : err);
		return;
	}
	if (!s3_bucket_exists(r))
		return;
	rc = policy_parse(buf, len, POLICY_BUCKET, r->route.bucket, &p, msg, sizeof(msg));
	if (rc) {
		if (msg[0])
			r->err_msg = cn_pool_strndup(r->pool, msg, strlen(msg));
		s3_send_error(r, rc == CN_EBADARG ? CN_EBADPOLICY : rc);
		return;
	}
	int pub = policy_is_public(p);
	policy_free(p);
	b = s3_bucket_access(r, r->route.bucket);
	if (!b) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	if (pub && b->pab.block_public_policy) {
		s3_send_error(r, CN_EACCESS);
		return;
	}
	s3_bucket_conf_put(r, "policy", buf, len, 204);
}

void s3_op_put_bucket_policy(struct s3_req *r)
{
	s3_body_read_small(r, POLICY_BODY_MAX, policy_body);
}

void s3_op_delete_bucket_policy(struct s3_req *r)
{
	if (s3_bucket_exists(r))
		s3_bucket_conf_put(r, "policy", "", 0, 204);
}

void s3_op_get_bucket_policy_status(struct s3_req *r)
{
	size_t len;
	char *doc = conf_get(r, "policy", CN_ENOPOLICY, &len), err[64];
	struct policy *p = NULL;
	struct cn_buf w;
	int pub = 0;

	if (!doc)
		return;
	if (policy_parse(doc, len, POLICY_BUCKET, r->route.bucket, &p, err, sizeof(err)) == 0)
		pub = policy_is_public(p);
	policy_free(p);
	cn_buf_init(&w);
	xmlw_decl(&w);
	xmlw_open(&w, "PolicyStatus", S3_NS);
	xmlw_elem(&w, "IsPublic", pub ? "true" : "false");
	xmlw_close(&w, "PolicyStatus");
	s3_send_xml(r, 200, NULL, &w);
}

/* ---- Public Access Block ---- */

static const char *const pab_names[4] = {"BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
					 "RestrictPublicBuckets"};

void s3_op_get_public_access_block(struct s3_req *r)
{
	size_t len;
	char *v = conf_get(r, "pab", CN_ENOPAB, &len);
	struct cn_buf w;

	if (!v)
		return;
	if (len != 4) {
		s3_send_error(r, CN_ECORRUPT);
		return;
	}
	cn_buf_init(&w);
	s3_pab_to_xml(v, &w);
	s3_send_xml(r, 200, NULL, &w);
}

void s3_pab_to_xml(const char *v, struct cn_buf *w)
{
	xmlw_decl(w);
	xmlw_open(w, "PublicAccessBlockConfiguration", S3_NS);
	for (int i = 0; i < 4; i++)
		xmlw_elem(w, pab_names[i], v[i] == '1' ? "true" : "false");
	xmlw_close(w, "PublicAccessBlockConfiguration");
}

int s3_pab_from_xml(struct cn_pool *pool, const char *body, size_t len, char **out)
{
	struct xml_node *root;
	char *v;

	*out = NULL;
	if (xml_parse(pool, body, len, &root) ||
	    strcmp(root->name, "PublicAccessBlockConfiguration") != 0)
		return CN_EBADXML;
	v = cn_pool_alloc(pool, 4);
	if (!v)
		return CN_ENOMEM;
	for (int i = 0; i < 4; i++) {
		const char *t = xml_child_text(root, pab_names[i]);
		if (t && strcasecmp(t, "true") && strcasecmp(t, "false"))
			return CN_EBADXML;
		v[i] = t && strcasecmp(t, "true") == 0 ? '1' : '0';
	}
	*out = v;
	return 0;
}

static void pab_body(struct s3_req *r, int err, char *buf, size_t len)
{
	char *v;
	int rc;

	if (err) {
		s3_send_error(r, err);
		return;
	}
	if (!s3_bucket_exists(r))
		return;
	rc = s3_pab_from_xml(r->pool, buf, len, &v);
	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	s3_bucket_conf_put(r, "pab", v, 4, 200);
}

void s3_op_put_public_access_block(struct s3_req *r)
{
	s3_body_read_small(r, 64 * 1024, pab_body);
}

void s3_op_delete_public_access_block(struct s3_req *r)
{
	if (s3_bucket_exists(r))
		s3_bucket_conf_put(r, "pab", "", 0, 204);
}

/* ---- ownership controls ---- */

void s3_op_get_ownership_controls(struct s3_req *r)
{
	size_t len;
	char *v = conf_get(r, "ownership", CN_ENOOWNERSHIP, &len);
	struct cn_buf w;

	if (!v)
		return;
	cn_buf_init(&w);
	s3_ownership_to_xml(s3_ownership_parse(v), &w);
	s3_send_xml(r, 200, NULL, &w);
}

void s3_ownership_to_xml(enum s3_ownership o, struct cn_buf *w)
{
	xmlw_decl(w);
	xmlw_open(w, "OwnershipControls", S3_NS);
	xmlw_open(w, "Rule", NULL);
	xmlw_elem(w, "ObjectOwnership", s3_ownership_name(o));
	xmlw_close(w, "Rule");
	xmlw_close(w, "OwnershipControls");
}

int s3_ownership_from_xml(struct cn_pool *pool, const char *body, size_t len,
			  enum s3_ownership *out)
{
	struct xml_node *root, *rule;
	const char *o;

	*out = S3_OWN_OBJECT_WRITER;
	if (xml_parse(pool, body, len, &root) || strcmp(root->name, "OwnershipControls") != 0 ||
	    !(rule = xml_child(root, "Rule")) || !(o = xml_child_text(rule, "ObjectOwnership")) ||
	    (strcmp(o, "BucketOwnerEnforced") && strcmp(o, "BucketOwnerPreferred") &&
	     strcmp(o, "ObjectWriter")))
		return CN_EBADXML;
	*out = s3_ownership_parse(o);
	return 0;
}

static void ownership_body(struct s3_req *r, int err, char *buf, size_t len)
{
	enum s3_ownership o;
	struct s3_baccess *b;
	const char *name;
	int rc;

	if (err) {
		s3_send_error(r, err);
		return;
	}
	if (!s3_bucket_exists(r))
		return;
	rc = s3_ownership_from_xml(r->pool, buf, len, &o);
	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	b = s3_bucket_access(r, r->route.bucket);
	if (!b) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	/* ACLs cannot be turned off while the bucket's ACL grants others */
	if (o == S3_OWN_ENFORCED && b->has_acl && grants_others(&b->acl)) {
		s3_send_error(r, CN_EACLOWNERSHIP);
		return;
	}
	/* the name as sent: the three are exactly s3_ownership_name's */
	name = s3_ownership_name(o);
	s3_bucket_conf_put(r, "ownership", name, strlen(name), 200);
}

void s3_op_put_ownership_controls(struct s3_req *r)
{
	s3_body_read_small(r, 64 * 1024, ownership_body);
}

void s3_op_delete_ownership_controls(struct s3_req *r)
{
	if (s3_bucket_exists(r))
		s3_bucket_conf_put(r, "ownership", "", 0, 204);
}

/* ---- ACLs ---- */

static void send_acl(struct s3_req *r, const struct acl *a)
{
	struct acl_lookup lk = lookups(r);
	struct cn_buf w;

	cn_buf_init(&w);
	acl_to_xml(a, &w, &lk);
	s3_send_xml(r, 200, NULL, &w);
}

void s3_op_get_bucket_acl(struct s3_req *r)
{
	struct s3_baccess *b;
	struct acl *a;

	if (!s3_bucket_exists(r))
		return;
	b = s3_bucket_access(r, r->route.bucket);
	a = cn_pool_alloc(r->pool, sizeof(*a));
	if (!b || !a) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	/* with ACLs disabled the answer is always "the owner has everything" */
	if (b->has_acl && b->ownership != S3_OWN_ENFORCED)
		*a = b->acl;
	else
		acl_canned("private", r->srv->account_canonical, r->srv->account_canonical, 1, a);
	send_acl(r, a);
}

/* The ACL a Put*Acl asks for: from x-amz-acl, x-amz-grant-* or the body. */
static int acl_of_put(struct s3_req *r, const char *body, size_t len, int for_bucket,
		      struct acl *out)
{
	struct acl_request rq;
	struct acl_lookup lk = lookups(r);
	char err[160] = "";
	int rc;

	memset(&rq, 0, sizeof(rq));
	rq.canned = s3_header(r, "x-amz-acl");
	rq.grants = grant_headers(r);
	rq.body = len ? body : NULL;
	rq.body_len = len;
	rq.owner_id = r->srv->account_canonical;
	rq.bucket_owner_id = r->srv->account_canonical;
	rq.for_bucket = for_bucket;
	rq.lk = &lk;
	rc = acl_from_request(&rq, out, err, sizeof(err));
	if (rc == CN_ENOTFOUND)
		return CN_EMISSINGSECHDR;
	return rc ? acl_error(r, rc, err) : 0;
}

static void bucket_acl_body(struct s3_req *r, int err, char *buf, size_t len)
{
	struct s3_baccess *b;
	struct acl *a = cn_pool_alloc(r->pool, sizeof(*a));
	struct cn_buf w;
	int rc;

	if (err) {
		s3_send_error(r, err);
		return;
	}
	if (!s3_bucket_exists(r))
		return;
	b = s3_bucket_access(r, r->route.bucket);
	if (!a || !b) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	rc = acl_of_put(r, buf, len, 1, a);
	if (!rc && b->ownership == S3_OWN_ENFORCED && grants_others(a))
		rc = CN_EACLNOTSUPP;
	if (!rc && b->pab.block_public_acls && acl_is_public(a))
		rc = CN_EACCESS;
	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	cn_buf_init(&w);
	rc = acl_encode(a, &w);
	void *p = rc ? NULL : cn_pool_alloc(r->pool, w.len);
	size_t n = w.len;
	if (p)
		memcpy(p, w.p, n);
	cn_buf_release(&w);
	if (!p) {
		s3_send_error(r, rc ? rc : CN_ENOMEM);
		return;
	}
	s3_bucket_conf_put(r, "acl", p, n, 200);
}

void s3_op_put_bucket_acl(struct s3_req *r)
{
	s3_body_read_small(r, ACL_MAX_XML, bucket_acl_body);
}

/* Object ACLs: the version's, read like a HEAD would. */
void s3_op_get_object_acl(struct s3_req *r)
{
	struct meta_version v;
	struct s3_attrs at;
	struct acl *a = cn_pool_alloc(r->pool, sizeof(*a));
	int rc;

	if (!a) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	rc = s3_version_for_request(r, &v);
	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	rc = s3_attrs_decode(r, v.attrs, v.attrs_len, &at);
	if (!rc)
		rc = s3_authz_version(r, v.attrs, v.attrs_len);
	meta_version_release(&v);
	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	struct s3_baccess *b = s3_bucket_access(r, r->route.bucket);
	if (!b) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	if (!at.acl_len || b->ownership == S3_OWN_ENFORCED ||
	    acl_decode(at.acl, at.acl_len, a) != 0)
		acl_canned("private", r->srv->account_canonical, r->srv->account_canonical, 0, a);
	send_acl(r, a);
}

static void object_acl_body(struct s3_req *r, int err, char *buf, size_t len)
{
	struct s3_baccess *b;
	struct acl *a = cn_pool_alloc(r->pool, sizeof(*a));
	struct meta_version v;
	struct s3_attrs at;
	int rc;

	if (err) {
		s3_send_error(r, err);
		return;
	}
	b = s3_bucket_access(r, r->route.bucket);
	if (!a || !b) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	rc = s3_version_for_request(r, &v);
	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	rc = s3_attrs_decode(r, v.attrs, v.attrs_len, &at);
	if (!rc)
		rc = s3_authz_version(r, v.attrs, v.attrs_len);
	if (!rc)
		rc = acl_of_put(r, buf, len, 0, a);
	if (!rc && b->ownership == S3_OWN_ENFORCED && grants_others(a))
		rc = CN_EACLNOTSUPP;
	if (!rc && b->pab.block_public_acls && acl_is_public(a))
		rc = CN_EACCESS;
	if (rc) {
		meta_version_release(&v);
		s3_send_error(r, rc);
		return;
	}
	s3_put_version_acl(r, &v, &at, a);
}

void s3_op_put_object_acl(struct s3_req *r)
{
	s3_body_read_small(r, ACL_MAX_XML, object_acl_body);
}

/* ---- storing an object's ACL ---- */

struct vacl_op {
	struct meta_cmd cmd;
	int is_tags; /* else the ACL */
	struct acl acl;
	const uint8_t *tags;
	size_t tags_len;
	int status;
	int tries;
};

static void vacl_submit(struct s3_req *r, struct vacl_op *op, struct meta_version *v,
			struct s3_attrs *at);

static void vacl_done(struct meta_cmd *cmd, int rc, void *arg)
{
	struct s3_req *r = arg;
	struct vacl_op *op = (struct vacl_op *)cmd;
	struct meta_version v;
	struct s3_attrs at;
	struct s3_hdrs h = {0};

	if (rc == CN_ECONFLICT && ++op->tries < 5) {
		/* the version's attrs changed meanwhile (another ACL or tag
		 * write): read them again and put the ACL into the new ones */
		rc = s3_version_for_request(r, &v);
		if (!rc)
			rc = s3_attrs_decode(r, v.attrs, v.attrs_len, &at);
		if (!rc) {
			vacl_submit(r, op, &v, &at);
			return;
		}
	}
	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	if (op->cmd.has_target && strcmp(cmd->res.vid_text, "null") != 0) {
		char *t = cn_pool_alloc(r->pool, META_ID_TEXT);
		if (t) {
			meta_id_to_text(op->cmd.target_vid, t);
			s3_hdr_add(r, &h, "x-amz-version-id", t);
		}
	}
	s3_send(r, op->status, &h, NULL, 0);
}

static void vacl_submit(struct s3_req *r, struct vacl_op *op, struct meta_version *v,
			struct s3_attrs *at)
{
	struct meta_cmd *c = &op->cmd;
	struct cn_buf w;
	uint8_t *enc;
	size_t len;
	int rc;

	cn_buf_init(&w);
	if (op->is_tags) {
		at->tags = op->tags;
		at->tags_len = op->tags_len;
		rc = 0;
	} else {
		rc = acl_encode(&op->acl, &w);
		if (!rc) {
			uint8_t *p = cn_pool_alloc(r->pool, w.len);
			if (p) {
				memcpy(p, w.p, w.len);
				at->acl = p;
				at->acl_len = w.len;
			} else {
				rc = CN_ENOMEM;
			}
		}
	}
	cn_buf_release(&w);
	if (!rc)
		rc = s3_attrs_encode(r, at, &enc, &len);
	if (rc) {
		meta_version_release(v);
		s3_send_error(r, rc);
		return;
	}
	memset(c, 0, sizeof(*c));
	c->type = META_CMD_VERSION_ATTRS;
	c->now = cn_now_ns();
	c->bucket = r->route.bucket;
	c->bucket_len = strlen(r->route.bucket);
	c->key = r->route.key;
	c->key_len = r->route.key_len;
	if (v->flags & META_VF_NULL) {
		c->target_null = 1;
	} else {
		c->has_target = 1;
		memcpy(c->target_vid, v->vid, META_ID_LEN);
	}
	c->size = XXH64(v->attrs, v->attrs_len, 0);
	c->attrs = enc;
	c->attrs_len = len;
	meta_version_release(v);
	rc = s3_meta_submit(r, c, vacl_done, r);
	if (rc)
		s3_send_error(r, rc);
}

void s3_put_version_acl(struct s3_req *r, struct meta_version *v, struct s3_attrs *at,
			const struct acl *acl)
{
	struct vacl_op *op = cn_pool_zalloc(r->pool, sizeof(*op));

	if (!op) {
		meta_version_release(v);
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	op->acl = *acl;
	op->status = 200;
	vacl_submit(r, op, v, at);
}

void s3_put_version_tags(struct s3_req *r, struct meta_version *v, struct s3_attrs *at,
			 const uint8_t *tags, size_t tags_len, int status)
{
	struct vacl_op *op = cn_pool_zalloc(r->pool, sizeof(*op));

	if (!op) {
		meta_version_release(v);
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	op->is_tags = 1;
	op->tags = tags;
	op->tags_len = tags_len;
	op->status = status;
	vacl_submit(r, op, v, at);
}
