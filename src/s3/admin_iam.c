/*
 * s3/admin_iam.c — users, access keys, groups and policies through the
 * admin API (root only, like every /_cairn/admin/ endpoint); `cairn admin
 * user|group|policy ...` is the client.
 *
 *   GET  /_cairn/admin/user                      users, their keys (never
 *                                                secrets), groups, policies
 *   POST /_cairn/admin/user?op=add&name=U        body {"access_key","secret_key"}
 *                                                optional: generated if absent;
 *                                                answers both (the only time
 *                                                the secret is shown)
 *   POST /_cairn/admin/user?op=remove|enable|disable&name=U
 *   POST /_cairn/admin/user?op=key-add&name=U    body as for add
 *   POST /_cairn/admin/user?op=key-remove|key-enable|key-disable&name=U&access_key=K
 *   GET  /_cairn/admin/group
 *   POST /_cairn/admin/group?op=add|remove&name=G
 *   POST /_cairn/admin/group?op=member-add|member-remove&name=G&user=U
 *   GET  /_cairn/admin/policy                    stored and built-in policies
 *   POST /_cairn/admin/policy?op=add&name=P      body: the JSON document
 *   POST /_cairn/admin/policy?op=remove&name=P
 *   POST /_cairn/admin/policy?op=attach|detach&name=P&user=U | &group=G
 *                                                | &target=T (a user, else a group)
 *
 * Secrets travel in request bodies and answers only: the access log shows
 * URLs, so none goes into a query string. Each change is one metadata
 * command (replicated in a cluster; every node sees it before its next
 * request, through the read barrier). Errors answer JSON {error, message}
 * with IAM's codes: EntityAlreadyExists 409, NoSuchEntity 404,
 * DeleteConflict 409, LimitExceeded 409, MalformedPolicyDocument 400,
 * InvalidInput 400.
 */
#include "s3/s3_int.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "auth/policy.h"
#include "core/clock.h"
#include "core/err.h"

#define ADMIN_BODY_MAX (META_IAM_POLICY_MAX + 4096)

struct iam_op {
	char what; /* 'u' user, 'g' group, 'p' policy */
	const char *op;
	char *body;
	size_t body_len;
	struct meta_cmd cmd;
	json_t *doc; /* answer */
	int rc;
	char msg[200];
	char access_key[META_IAM_KEY_MAX + 1];
	char secret[META_IAM_SECRET_MAX + 1];
};

static void rand_chars(char *out, size_t n, const char *alphabet)
{
	size_t an = strlen(alphabet);
	uint8_t b[64];

	while (n) {
		size_t k = n < sizeof(b) ? n : sizeof(b);
		if (getrandom(b, k, 0) != (ssize_t)k)
			memset(b, 0, k); /* never short for small reads after boot */
		for (size_t i = 0; i < k; i++)
			*out++ = alphabet[b[i] % an]; /* 256 % an bias is < 1/7 bit */
		n -= k;
	}
	*out = 0;
}

static int submit(struct s3_server *s, struct meta_cmd *c)
{
	c->now = cn_now_ns();
	return meta_submit_sync(s->meta, c);
}

static struct meta_cmd iam_cmd(uint8_t op, const char *name, const char *name2)
{
	struct meta_cmd c = {.type = META_CMD_IAM};
	c.iam.op = op;
	if (name)
		snprintf(c.iam.name, sizeof(c.iam.name), "%s", name);
	if (name2)
		snprintf(c.iam.name2, sizeof(c.iam.name2), "%s", name2);
	return c;
}

static int fail(struct iam_op *op, int rc, const char *msg)
{
	op->rc = rc;
	snprintf(op->msg, sizeof(op->msg), "%s", msg);
	return rc;
}

/* The access key and secret of a body {"access_key","secret_key"}, each
 * generated when absent. */
static int key_material(struct s3_req *r, struct iam_op *op)
{
	const char *ak = NULL, *sk = NULL;
	json_t *j = NULL;

	if (op->body_len) {
		j = json_loadb(op->body, op->body_len, 0, NULL);
		if (!json_is_object(j)) {
			json_decref(j);
			return fail(op, CN_EBADARG, "the body must be a JSON object");
		}
		ak = json_string_value(json_object_get(j, "access_key"));
		sk = json_string_value(json_object_get(j, "secret_key"));
	}
	if (ak)
		snprintf(op->access_key, sizeof(op->access_key), "%s", ak);
	else
		rand_chars(op->access_key, 20, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
	if (sk)
		snprintf(op->secret, sizeof(op->secret), "%s", sk);
	else
		rand_chars(op->secret, 40,
			   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
	int too_long = (ak && strlen(ak) >= sizeof(op->access_key)) ||
		       (sk && strlen(sk) >= sizeof(op->secret));
	json_decref(j); /* ak and sk point into it */
	if (too_long)
		return fail(op, CN_EBADARG, "access key or secret too long");
	if (strcmp(op->access_key, r->srv->cfg.access_key) == 0)
		return fail(op, CN_EEXIST, "that access key is the root user's");
	return 0;
}

static int add_key(struct s3_req *r, struct iam_op *op, const char *user)
{
	struct meta_cmd c = iam_cmd(META_IAM_KEY_ADD, op->access_key, user);
	int rc;

	c.iam.status = META_IAM_ENABLED;
	snprintf(c.iam.secret, sizeof(c.iam.secret), "%s", op->secret);
	rc = submit(r->srv, &c);
	explicit_bzero(c.iam.secret, sizeof(c.iam.secret));
	if (rc == CN_EBADARG)
		return fail(op, rc,
			    "access keys are 3-128 of A-Z a-z 0-9 . _ -; secrets 8-128 printable "
			    "characters without spaces");
	if (rc == CN_ETOOBIG)
		return fail(op, rc, "a user has at most 10 access keys");
	return rc ? fail(op, rc, rc == CN_EEXIST ? "that access key exists" : cn_strerror(rc)) : 0;
}

static json_t *key_answer(const char *user, struct iam_op *op)
{
	return json_pack("{s:s,s:s,s:s}", "user", user, "access_key", op->access_key, "secret_key",
			 op->secret);
}

/* ---- users ---- */

static void user_work(struct s3_req *r, struct iam_op *op)
{
	const char *name = s3_route_param(&r->route, "name");
	const char *o = op->op;
	int rc;

	if (!name)
		return (void)fail(op, CN_EBADARG, "name= is required");
	if (strcmp(o, "add") == 0) {
		struct meta_cmd c = iam_cmd(META_IAM_USER_ADD, name, NULL);
		if (key_material(r, op))
			return;
		c.iam.status = META_IAM_ENABLED;
		rand_chars(c.iam.canonical, META_IAM_CANON_LEN, "0123456789abcdef");
		rc = submit(r->srv, &c);
		if (rc)
			return (void)fail(op, rc,
					  rc == CN_EEXIST    ? "that user exists"
					  : rc == CN_EBADARG ? "user names are 1-64 of A-Z a-z 0-9 "
							       "+=,.@_-"
							     : cn_strerror(rc));
		if (add_key(r, op, name)) {
			/* no user without its key: take it back */
			struct meta_cmd u = iam_cmd(META_IAM_USER_REMOVE, name, NULL);
			submit(r->srv, &u);
			return;
		}
		op->doc = key_answer(name, op);
		json_object_set_new(op->doc, "canonical_id", json_string(c.iam.canonical));
		return;
	}
	if (strcmp(o, "key-add") == 0) {
		if (!key_material(r, op) && !add_key(r, op, name))
			op->doc = key_answer(name, op);
		return;
	}
	struct meta_cmd c;
	if (strcmp(o, "remove") == 0) {
		c = iam_cmd(META_IAM_USER_REMOVE, name, NULL);
	} else if (strcmp(o, "enable") == 0 || strcmp(o, "disable") == 0) {
		c = iam_cmd(META_IAM_USER_STATUS, name, NULL);
		c.iam.status = o[0] == 'e' ? META_IAM_ENABLED : META_IAM_DISABLED;
	} else if (strncmp(o, "key-", 4) == 0) {
		const char *ak = s3_route_param(&r->route, "access_key");
		if (!ak || strlen(ak) > META_IAM_KEY_MAX)
			return (void)fail(op, CN_EBADARG, "access_key= is required");
		if (strcmp(o, "key-remove") == 0) {
			c = iam_cmd(META_IAM_KEY_REMOVE, ak, name);
		} else if (strcmp(o, "key-enable") == 0 || strcmp(o, "key-disable") == 0) {
			c = iam_cmd(META_IAM_KEY_STATUS, ak, name);
			c.iam.status = o[4] == 'e' ? META_IAM_ENABLED : META_IAM_DISABLED;
		} else {
			return (void)fail(op, CN_EBADARG, "unknown op");
		}
	} else {
		return (void)fail(op, CN_EBADARG, "unknown op");
	}
	rc = submit(r->srv, &c);
	if (rc)
		return (void)fail(op, rc,
				  rc == CN_ENOTFOUND ? "no such user or access key"
						     : cn_strerror(rc));
	op->doc = json_pack("{s:s,s:s}", "user", name, "done", o);
}

struct lister {
	json_t *arr;
	struct meta_store *meta;
	const char *group; /* members of */
};

static int list_key(void *arg, const struct meta_iam_key *k)
{
	json_array_append_new(arg, json_pack("{s:s,s:s,s:I}", "access_key", k->id, "status",
					     k->status == META_IAM_ENABLED ? "enabled" : "disabled",
					     "created", (json_int_t)(k->created / 1000000000)));
	return 0;
}

static json_t *names(const char (*l)[META_IAM_NAME_MAX + 1], int n)
{
	json_t *a = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(a, json_string(l[i]));
	return a;
}

static int list_user(void *arg, const struct meta_iam_user *u)
{
	struct lister *l = arg;
	json_t *keys = json_array();

	meta_iam_keys_each(l->meta, u->name, list_key, keys);
	json_array_append_new(l->arr,
			      json_pack("{s:s,s:s,s:s,s:I,s:o,s:o,s:o}", "name", u->name, "status",
					u->status == META_IAM_ENABLED ? "enabled" : "disabled",
					"canonical_id", u->canonical, "created",
					(json_int_t)(u->created / 1000000000), "groups",
					names(u->groups, u->n_groups), "policies",
					names(u->policies, u->n_policies), "keys", keys));
	return 0;
}

/* ---- groups ---- */

static int member_of(void *arg, const struct meta_iam_user *u)
{
	struct lister *l = arg;
	for (int i = 0; i < u->n_groups; i++)
		if (strcmp(u->groups[i], l->group) == 0)
			json_array_append_new(l->arr, json_string(u->name));
	return 0;
}

static int list_group(void *arg, const struct meta_iam_group *g)
{
	struct lister *l = arg;
	struct lister m = {.arr = json_array(), .meta = l->meta, .group = g->name};

	meta_iam_users_each(l->meta, member_of, &m);
	json_array_append_new(l->arr,
			      json_pack("{s:s,s:I,s:o,s:o}", "name", g->name, "created",
					(json_int_t)(g->created / 1000000000), "members", m.arr,
					"policies", names(g->policies, g->n_policies)));
	return 0;
}

static void group_work(struct s3_req *r, struct iam_op *op)
{
	const char *name = s3_route_param(&r->route, "name");
	const char *user = s3_route_param(&r->route, "user");
	const char *o = op->op;
	struct meta_cmd c;
	int rc;

	if (!name)
		return (void)fail(op, CN_EBADARG, "name= is required");
	if (strcmp(o, "add") == 0)
		c = iam_cmd(META_IAM_GROUP_ADD, name, NULL);
	else if (strcmp(o, "remove") == 0)
		c = iam_cmd(META_IAM_GROUP_REMOVE, name, NULL);
	else if ((strcmp(o, "member-add") == 0 || strcmp(o, "member-remove") == 0) && user)
		c = iam_cmd(o[7] == 'a' ? META_IAM_GROUP_MEMBER_ADD : META_IAM_GROUP_MEMBER_REMOVE,
			    name, user);
	else
		return (void)fail(op, CN_EBADARG, "unknown op (or user= missing)");
	rc = submit(r->srv, &c);
	if (rc)
		return (void)fail(op, rc,
				  rc == CN_EEXIST      ? "that group exists"
				  : rc == CN_ENOTFOUND ? "no such group or user (or not a member)"
				  : rc == CN_ETOOBIG   ? "a user is in at most 16 groups"
				  : rc == CN_EBADARG   ? "names are 1-64 of A-Z a-z 0-9 +=,.@_-"
						       : cn_strerror(rc));
	op->doc = json_pack("{s:s,s:s}", "group", name, "done", o);
}

/* ---- policies ---- */

static int list_policy(void *arg, const char *name, const char *doc, size_t len, int64_t up)
{
	json_t *d = json_loadb(doc, len, 0, NULL);
	json_array_append_new(arg, json_pack("{s:s,s:b,s:I,s:o}", "name", name, "builtin", 0,
					     "updated", (json_int_t)(up / 1000000000), "document",
					     d ? d : json_stringn(doc, len)));
	return 0;
}

static void policy_work(struct s3_req *r, struct iam_op *op)
{
	const char *name = s3_route_param(&r->route, "name");
	const char *o = op->op;
	struct meta_cmd c;
	int rc;

	if (!name)
		return (void)fail(op, CN_EBADARG, "name= is required");
	if (strcmp(o, "add") == 0) {
		struct policy *p = NULL;
		char err[160];
		if (meta_iam_builtin(name))
			return (void)fail(op, CN_EEXIST, "that name is a built-in policy's");
		rc = policy_parse(op->body, op->body_len, POLICY_IDENTITY, NULL, &p, err,
				  sizeof(err));
		policy_free(p);
		if (rc)
			return (void)fail(op, CN_EBADXML, rc == CN_EBADARG ? err : cn_strerror(rc));
		c = iam_cmd(META_IAM_POLICY_PUT, name, NULL);
		c.iam.doc = op->body;
		c.iam.doc_len = op->body_len;
	} else if (strcmp(o, "remove") == 0) {
		c = iam_cmd(META_IAM_POLICY_REMOVE, name, NULL);
	} else if (strcmp(o, "attach") == 0 || strcmp(o, "detach") == 0) {
		const char *user = s3_route_param(&r->route, "user");
		const char *group = s3_route_param(&r->route, "group");
		const char *target = s3_route_param(&r->route, "target");
		int to_group = group != NULL;
		if (target && !user && !group) {
			struct meta_iam_user u;
			to_group = meta_iam_user_get(r->srv->meta, target, &u) != 0;
		}
		const char *t = user ? user : group ? group : target;
		if (!t)
			return (void)fail(op, CN_EBADARG, "user=, group= or target= is required");
		c = iam_cmd(o[0] == 'a' ? META_IAM_POLICY_ATTACH : META_IAM_POLICY_DETACH, t, name);
		c.iam.to_group = (uint8_t)to_group;
	} else {
		return (void)fail(op, CN_EBADARG, "unknown op");
	}
	rc = submit(r->srv, &c);
	if (rc)
		return (void)fail(op, rc,
				  rc == CN_ENOTFOUND ? "no such policy, user or group (or not "
						       "attached)"
				  : rc == CN_EBUSY   ? "the policy is attached; detach it first"
				  : rc == CN_ETOOBIG ? "at most 16 policies per user or group"
				  : rc == CN_EBADARG ? "bad name or document size"
						     : cn_strerror(rc));
	op->doc = json_pack("{s:s,s:s}", "policy", name, "done", o);
}

static void list_work(struct s3_req *r, struct iam_op *op)
{
	struct lister l = {.arr = json_array(), .meta = r->srv->meta};
	int rc;

	if (op->what == 'u') {
		rc = meta_iam_users_each(r->srv->meta, list_user, &l);
		op->doc = json_pack("{s:o}", "users", l.arr);
	} else if (op->what == 'g') {
		rc = meta_iam_groups_each(r->srv->meta, list_group, &l);
		op->doc = json_pack("{s:o}", "groups", l.arr);
	} else {
		static const char *const builtin[] = {"readonly", "readwrite", "writeonly"};
		for (int i = 0; i < 3; i++)
			json_array_append_new(
				l.arr, json_pack("{s:s,s:b}", "name", builtin[i], "builtin", 1));
		rc = meta_iam_policies_each(r->srv->meta, list_policy, l.arr);
		op->doc = json_pack("{s:o}", "policies", l.arr);
	}
	if (rc)
		fail(op, rc, cn_strerror(rc));
}

static void work(struct s3_req *r, void *arg)
{
	struct iam_op *op = arg;

	if (!op->op)
		list_work(r, op);
	else if (op->what == 'u')
		user_work(r, op);
	else if (op->what == 'g')
		group_work(r, op);
	else
		policy_work(r, op);
	explicit_bzero(op->secret, sizeof(op->secret));
	if (op->body)
		explicit_bzero(op->body, op->body_len);
}

static void after(struct s3_req *r, int status, void *arg)
{
	struct iam_op *op = arg;
	int rc = status ? CN_EINTERNAL : op->rc;

	if (!rc && op->doc) {
		s3_send_json(r, 200, op->doc);
		return;
	}
	json_decref(op->doc);
	if (!rc)
		rc = CN_ENOMEM;
	const char *code = rc == CN_EEXIST	? "EntityAlreadyExists"
			   : rc == CN_ENOTFOUND ? "NoSuchEntity"
			   : rc == CN_EBUSY	? "DeleteConflict"
			   : rc == CN_ETOOBIG	? "LimitExceeded"
			   : rc == CN_EBADXML	? "MalformedPolicyDocument"
			   : rc == CN_EBADARG	? "InvalidInput"
						: cn_errname(rc);
	int st = rc == CN_EEXIST || rc == CN_EBUSY || rc == CN_ETOOBIG ? 409
		 : rc == CN_ENOTFOUND				       ? 404
		 : rc == CN_EBADXML || rc == CN_EBADARG		       ? 400
		 : rc == CN_ENOLEADER				       ? 503
								       : 500;
	s3_send_json(r, st,
		     json_pack("{s:s,s:s}", "error", code, "message",
			       op->msg[0] ? op->msg : cn_strerror(rc)));
}

static void with_body(struct s3_req *r, int err, char *buf, size_t len)
{
	struct iam_op *op = r->aux;

	if (err) {
		s3_send_error(r, err);
		return;
	}
	op->body = buf;
	op->body_len = len;
	if (s3_work(r, work, after, op))
		s3_send_error(r, CN_ENOMEM);
}

void s3_admin_iam(struct s3_req *r, char what, int post)
{
	struct iam_op *op = cn_pool_zalloc(r->pool, sizeof(*op));

	if (!op) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	op->what = what;
	if (post) {
		op->op = s3_route_param(&r->route, "op");
		if (!op->op) {
			s3_send_json(r, 400,
				     json_pack("{s:s,s:s}", "error", "InvalidInput", "message",
					       "op= is required"));
			return;
		}
		r->aux = op;
		s3_body_read_small(r, ADMIN_BODY_MAX, with_body);
		return;
	}
	if (s3_work(r, work, after, op))
		s3_send_error(r, CN_ENOMEM);
}
