/*
 * Unit tests for auth/policy: a matrix of (policy, request, expected effect)
 * rows over every condition operator (negated, ...IfExists, set qualifiers,
 * absent keys), actions, resources, principals and policy variables; a table
 * of parse rejections with their reasons; policy_is_public(); and one
 * policy evaluated from several threads at once.
 *
 * Policies are written with ' for " to stay readable; \' stands for a real '.
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
#include <strings.h>

#include "auth/policy.h"
#include "core/err.h"

#define ACCT "111122223333"
#define OTHER "444455556666"
#define CANON_ALICE "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
#define CANON_BOB "0000000000000000000000000000000000000000000000000000000000000b0b"
#define BUCKET "photos"
#define ARN "arn:aws:s3:::photos"

/* ---- helpers ---- */

/* ' -> ", \' -> ' (owned, free() it). */
static char *js(const char *s)
{
	size_t n = strlen(s), o = 0;
	char *out = malloc(n + 1);
	assert_non_null(out);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\' && s[i + 1] == '\'')
			out[o++] = s[++i];
		else
			out[o++] = s[i] == '\'' ? '"' : s[i];
	}
	out[o] = '\0';
	return out;
}

static int parse(const char *doc, enum policy_kind kind, struct policy **p, char *err,
		 size_t errcap)
{
	char *j = js(doc);
	int rc = policy_parse(j, strlen(j), kind, BUCKET, p, err, errcap);
	free(j);
	return rc;
}

struct kv {
	const char *k, *v;
};

#define MAX_CTX 6

/* One request: the action, the object key (NULL: the bucket itself), who
 * asks (NULL: anonymous) and its condition keys (a key may repeat). */
struct treq {
	const char *action;
	const char *key;
	const char *who;
	struct kv ctx[MAX_CTX];
};

static int tlookup(void *arg, const char *key, const char **vals, size_t *lens, int max)
{
	const struct treq *t = arg;
	int n = 0;

	for (int i = 0; i < MAX_CTX && t->ctx[i].k; i++) {
		if (strcasecmp(t->ctx[i].k, key) != 0)
			continue;
		if (n < max) {
			vals[n] = t->ctx[i].v;
			lens[n] = strlen(t->ctx[i].v);
		}
		n++;
	}
	return n;
}

static void make_req(const struct treq *t, char *res, size_t cap, struct policy_request *r)
{
	if (t->key)
		snprintf(res, cap, ARN "/%s", t->key);
	else
		snprintf(res, cap, ARN);
	memset(r, 0, sizeof(*r));
	r->action = t->action;
	r->resource = res;
	r->anonymous = t->who == NULL;
	r->account_id = ACCT;
	r->user = t->who;
	if (t->who)
		r->canonical_id = strcmp(t->who, "alice") == 0 ? CANON_ALICE : CANON_BOB;
	r->lookup = tlookup;
	r->arg = (void *)t;
}

/* ---- the evaluation matrix ---- */

#define N POLICY_NONE
#define A POLICY_ALLOW
#define D POLICY_DENY
#define I POLICY_IDENTITY
#define B POLICY_BUCKET

/* DOC(st...) : a 2012-10-17 document of one to three statements, joined by "," */
#define JOIN1(a) a
#define JOIN2(a, b) a "," b
#define JOIN3(a, b, c) a "," b "," c
#define PICK(_1, _2, _3, name, ...) name
#define DOC(...)                                                                                   \
	"{'Version':'2012-10-17','Statement':[" PICK(__VA_ARGS__, JOIN3, JOIN2,                    \
						     JOIN1)(__VA_ARGS__) "]}"
#define OBJS "'" ARN "/*'"
#define GET "'Action':'s3:GetObject','Resource':" OBJS
#define COND(...) ",'Condition':{" __VA_ARGS__ "}"
/* identity policy: allow (deny) GetObject on every object when cond holds */
#define ALLOW_IF(...) "{'Effect':'Allow'," GET COND(__VA_ARGS__) "}"
#define DENY_IF(...) "{'Effect':'Deny'," GET COND(__VA_ARGS__) "}"
#define ALLOW_GET "{'Effect':'Allow'," GET "}"
/* bucket policy statement for principal pr (JSON text) */
#define BSTMT(eff, pr) "{'Effect':'" eff "','Principal':" pr "," GET "}"
#define GETO(key, who, ...)                                                                        \
	{                                                                                          \
		"s3:GetObject", key, who,                                                          \
		{                                                                                  \
			__VA_ARGS__                                                                \
		}                                                                                  \
	}
#define GETK(...) GETO("k", "alice", __VA_ARGS__)

struct row {
	const char *name;
	enum policy_kind kind;
	const char *doc;
	struct treq req;
	enum policy_effect want;
};

static const struct row rows[] = {
	/* effects and actions */
	{"allow exact action", I, DOC(ALLOW_GET), GETO("a", "alice"), A},
	{"other action: none", I, DOC(ALLOW_GET), {"s3:PutObject", "a", "alice", {}}, N},
	{"deny beats allow", I, DOC(ALLOW_GET, "{'Effect':'Deny','Action':'s3:*','Resource':'*'}"),
	 GETO("a", "alice"), D},
	{"deny not matching: allow stays", I,
	 DOC(ALLOW_GET, "{'Effect':'Deny','Action':'s3:PutObject','Resource':'*'}"),
	 GETO("a", "alice"), A},
	{"deny alone", I, DOC("{'Effect':'Deny','Action':'s3:*','Resource':'*'}"),
	 GETO("a", "alice"), D},
	{"action wildcard Get*",
	 I,
	 DOC("{'Effect':'Allow','Action':'s3:Get*','Resource':" OBJS "}"),
	 {"s3:GetObjectAcl", "a", "alice", {}},
	 A},
	{"action ? wildcard", I,
	 DOC("{'Effect':'Allow','Action':'s3:?etObject','Resource':" OBJS "}"), GETO("a", "alice"),
	 A},
	{"action case-insensitive", I,
	 DOC("{'Effect':'Allow','Action':'S3:getobject','Resource':" OBJS "}"), GETO("a", "alice"),
	 A},
	{"action *",
	 I,
	 DOC("{'Effect':'Allow','Action':'*','Resource':" OBJS "}"),
	 {"s3:PutObject", "a", "alice", {}},
	 A},
	{"action list", I,
	 DOC("{'Effect':'Allow','Action':['s3:PutObject','s3:GetObject'],'Resource':" OBJS "}"),
	 GETO("a", "alice"), A},
	{"NotAction: others allowed", I,
	 DOC("{'Effect':'Allow','NotAction':'s3:Delete*','Resource':" OBJS "}"), GETO("a", "alice"),
	 A},
	{"NotAction: listed excluded",
	 I,
	 DOC("{'Effect':'Allow','NotAction':'s3:Delete*','Resource':" OBJS "}"),
	 {"s3:DeleteObject", "a", "alice", {}},
	 N},
	{"other service never matches s3", I,
	 DOC("{'Effect':'Allow','Action':'iam:*','Resource':'*'}"), GETO("a", "alice"), N},

	/* resources */
	{"resource * crosses /", I, DOC(ALLOW_GET), GETO("a/b/c.jpg", "alice"), A},
	{"resource ? crosses /", I,
	 DOC("{'Effect':'Allow','Action':'s3:GetObject','Resource':'" ARN "/a?c'}"),
	 GETO("a/c", "alice"), A},
	{"resource ? is one char", I,
	 DOC("{'Effect':'Allow','Action':'s3:GetObject','Resource':'" ARN "/a?c'}"),
	 GETO("abbc", "alice"), N},
	{"bucket ARN is not its objects", I,
	 DOC("{'Effect':'Allow','Action':'s3:GetObject','Resource':'" ARN "'}"), GETO("a", "alice"),
	 N},
	{"bucket ARN matches the bucket",
	 I,
	 DOC("{'Effect':'Allow','Action':'s3:ListBucket','Resource':'" ARN "'}"),
	 {"s3:ListBucket", NULL, "alice", {}},
	 A},
	{"resource case-sensitive", I,
	 DOC("{'Effect':'Allow','Action':'s3:GetObject','Resource':'" ARN "/Key'}"),
	 GETO("key", "alice"), N},
	{"resource * alone", I, DOC("{'Effect':'Allow','Action':'s3:GetObject','Resource':'*'}"),
	 GETO("x", "alice"), A},
	{"resource of another bucket", I,
	 DOC("{'Effect':'Allow','Action':'s3:GetObject','Resource':'arn:aws:s3:::other/*'}"),
	 GETO("x", "alice"), N},
	{"raw key with spaces and %", I,
	 DOC("{'Effect':'Allow','Action':'s3:GetObject','Resource':'" ARN "/a b+c%20'}"),
	 GETO("a b+c%20", "alice"), A},
	{"NotResource: others", I,
	 DOC("{'Effect':'Allow','Action':'s3:GetObject','NotResource':'" ARN "/private/*'}"),
	 GETO("public/x", "alice"), A},
	{"NotResource: listed excluded", I,
	 DOC("{'Effect':'Allow','Action':'s3:GetObject','NotResource':'" ARN "/private/*'}"),
	 GETO("private/x", "alice"), N},

	/* principals (bucket policies) */
	{"principal * anonymous", B, DOC(BSTMT("Allow", "'*'")), GETO("a", NULL), A},
	{"principal AWS:* anonymous", B, DOC(BSTMT("Allow", "{'AWS':'*'}")), GETO("a", NULL), A},
	{"principal AWS:[*] user", B, DOC(BSTMT("Allow", "{'AWS':['*']}")), GETO("a", "bob"), A},
	/* an account principal delegates to the account: an Allow is no grant
	 * to its users (they need an identity policy), a Deny reaches them */
	{"account root: no grant to a user of the account", B,
	 DOC(BSTMT("Allow", "{'AWS':'arn:aws:iam::" ACCT ":root'}")), GETO("a", "alice"), N},
	{"account root: a Deny reaches its users", B,
	 DOC(BSTMT("Allow", "'*'"), BSTMT("Deny", "{'AWS':'arn:aws:iam::" ACCT ":root'}")),
	 GETO("a", "alice"), D},
	{"account root: not anonymous", B,
	 DOC(BSTMT("Allow", "{'AWS':'arn:aws:iam::" ACCT ":root'}")), GETO("a", NULL), N},
	{"bare account id", B, DOC(BSTMT("Allow", "{'AWS':'" ACCT "'}")), GETO("a", "bob"), N},
	{"bare account id in a Deny", B,
	 DOC(BSTMT("Allow", "'*'"), BSTMT("Deny", "{'AWS':'" ACCT "'}")), GETO("a", "bob"), D},
	{"user ARN: that user", B,
	 DOC(BSTMT("Allow", "{'AWS':'arn:aws:iam::" ACCT ":user/alice'}")), GETO("a", "alice"), A},
	{"user ARN: another user", B,
	 DOC(BSTMT("Allow", "{'AWS':'arn:aws:iam::" ACCT ":user/alice'}")), GETO("a", "bob"), N},
	{"user ARN: anonymous", B,
	 DOC(BSTMT("Allow", "{'AWS':'arn:aws:iam::" ACCT ":user/alice'}")), GETO("a", NULL), N},
	{"canonical user", B, DOC(BSTMT("Allow", "{'CanonicalUser':'" CANON_ALICE "'}")),
	 GETO("a", "alice"), A},
	{"canonical user: other", B, DOC(BSTMT("Allow", "{'CanonicalUser':'" CANON_ALICE "'}")),
	 GETO("a", "bob"), N},
	{"other account root never matches", B,
	 DOC(BSTMT("Allow", "{'AWS':'arn:aws:iam::" OTHER ":root'}")), GETO("a", "alice"), N},
	{"other account's user never matches", B,
	 DOC(BSTMT("Allow", "{'AWS':['arn:aws:iam::" OTHER ":user/alice','" OTHER "']}")),
	 GETO("a", "alice"), N},
	{"service principal never matches", B,
	 DOC(BSTMT("Allow", "{'Service':'logging.s3.amazonaws.com'}")), GETO("a", "alice"), N},
	{"NotPrincipal deny: others denied", B,
	 DOC(BSTMT("Allow", "'*'"),
	     "{'Effect':'Deny','NotPrincipal':{'AWS':'arn:aws:iam::" ACCT ":user/alice'}," GET "}"),
	 GETO("a", "bob"), D},
	{"NotPrincipal deny: listed spared", B,
	 DOC(BSTMT("Allow", "'*'"),
	     "{'Effect':'Deny','NotPrincipal':{'AWS':'arn:aws:iam::" ACCT ":user/alice'}," GET "}"),
	 GETO("a", "alice"), A},
	{"NotPrincipal deny: anonymous denied", B,
	 DOC(BSTMT("Allow", "'*'"), "{'Effect':'Deny','NotPrincipal':{'AWS':'" ACCT "'}," GET "}"),
	 GETO("a", NULL), D},

	/* policy variables */
	{"${aws:username} in resource", I,
	 DOC("{'Effect':'Allow','Action':'s3:GetObject','Resource':'" ARN
	     "/home/${aws:username}/*'}"),
	 GETO("home/alice/x", "alice"), A},
	{"${aws:username}: someone else's home", I,
	 DOC("{'Effect':'Allow','Action':'s3:GetObject','Resource':'" ARN
	     "/home/${aws:username}/*'}"),
	 GETO("home/bob/x", "alice"), N},
	{"${aws:username}: anonymous has none", B,
	 DOC("{'Effect':'Allow','Principal':'*','Action':'s3:GetObject','Resource':'" ARN
	     "/home/${aws:username}/*'}"),
	 GETO("home//x", NULL), N},
	{"absent variable: no match", I,
	 DOC("{'Effect':'Allow','Action':'s3:GetObject','Resource':'" ARN "/u/${aws:userid}'}"),
	 GETO("u/", "alice"), N},
	{"variable from lookup", I,
	 DOC("{'Effect':'Allow','Action':'s3:GetObject','Resource':'" ARN "/u/${aws:userid}'}"),
	 GETO("u/AIDA1", "alice", {"aws:userid", "AIDA1"}), A},
	{"variable default value", I,
	 DOC("{'Effect':'Allow','Action':'s3:GetObject','Resource':'" ARN
	     "/u/${aws:userid, \\'no\\'\\'body\\'}'}"),
	 GETO("u/no'body", "alice"), A},
	{"substituted value is literal", I,
	 DOC("{'Effect':'Allow','Action':'s3:GetObject','Resource':'" ARN "/u/${aws:userid}'}"),
	 GETO("u/anything", "alice", {"aws:userid", "*"}), N},
	{"${*} is a literal star", I,
	 DOC("{'Effect':'Allow','Action':'s3:GetObject','Resource':'" ARN "/star${*}'}"),
	 GETO("star*", "alice"), A},
	{"${*} is not a wildcard", I,
	 DOC("{'Effect':'Allow','Action':'s3:GetObject','Resource':'" ARN "/star${*}'}"),
	 GETO("starX", "alice"), N},
	{"Version 2008: ${} is text", I,
	 "{'Version':'2008-10-17','Statement':{'Effect':'Allow','Action':'s3:GetObject',"
	 "'Resource':'" ARN "/home/${aws:username}'}}",
	 GETO("home/${aws:username}", "alice"), A},
	{"no Version: ${} is text", I,
	 "{'Statement':{'Effect':'Allow','Action':'s3:GetObject','Resource':'" ARN
	 "/home/${aws:username}'}}",
	 GETO("home/alice", "alice"), N},
	{"variable in condition value", I,
	 DOC(ALLOW_IF("'StringLike':{'s3:prefix':'home/${aws:username}/*'}")),
	 GETK({"s3:prefix", "home/alice/docs"}), A},

	/* string operators */
	{"StringEquals", I, DOC(ALLOW_IF("'StringEquals':{'s3:prefix':'docs/'}")),
	 GETK({"s3:prefix", "docs/"}), A},
	{"StringEquals mismatch", I, DOC(ALLOW_IF("'StringEquals':{'s3:prefix':'docs/'}")),
	 GETK({"s3:prefix", "docs"}), N},
	{"StringEquals no wildcards", I, DOC(ALLOW_IF("'StringEquals':{'s3:prefix':'d*'}")),
	 GETK({"s3:prefix", "docs"}), N},
	{"StringEquals absent key", I, DOC(ALLOW_IF("'StringEquals':{'s3:prefix':'docs/'}")),
	 GETK(), N},
	{"StringEquals one of values", I,
	 DOC(ALLOW_IF("'StringEquals':{'s3:prefix':['a/','docs/']}")), GETK({"s3:prefix", "docs/"}),
	 A},
	{"StringNotEquals absent key", I, DOC(ALLOW_IF("'StringNotEquals':{'s3:prefix':'docs/'}")),
	 GETK(), A},
	{"StringNotEquals equal", I, DOC(ALLOW_IF("'StringNotEquals':{'s3:prefix':'docs/'}")),
	 GETK({"s3:prefix", "docs/"}), N},
	{"StringNotEquals none of values", I,
	 DOC(ALLOW_IF("'StringNotEquals':{'s3:prefix':['a/','b/']}")), GETK({"s3:prefix", "c/"}),
	 A},
	{"StringNotEquals one of values", I,
	 DOC(ALLOW_IF("'StringNotEquals':{'s3:prefix':['a/','b/']}")), GETK({"s3:prefix", "b/"}),
	 N},
	{"StringEqualsIgnoreCase", I,
	 DOC(ALLOW_IF("'StringEqualsIgnoreCase':{'s3:prefix':'DOCS/'}")),
	 GETK({"s3:prefix", "docs/"}), A},
	{"StringNotEqualsIgnoreCase", I,
	 DOC(ALLOW_IF("'StringNotEqualsIgnoreCase':{'s3:prefix':'DOCS/'}")),
	 GETK({"s3:prefix", "docs/"}), N},
	{"StringLike", I, DOC(ALLOW_IF("'StringLike':{'s3:prefix':'docs/*'}")),
	 GETK({"s3:prefix", "docs/2024/x"}), A},
	{"StringLike ?", I, DOC(ALLOW_IF("'StringLike':{'s3:prefix':'doc?/'}")),
	 GETK({"s3:prefix", "docs/"}), A},
	{"StringLike case-sensitive", I, DOC(ALLOW_IF("'StringLike':{'s3:prefix':'DOCS/*'}")),
	 GETK({"s3:prefix", "docs/x"}), N},
	{"StringNotLike", I, DOC(ALLOW_IF("'StringNotLike':{'s3:prefix':'private/*'}")),
	 GETK({"s3:prefix", "docs/x"}), A},
	{"StringNotLike matching", I, DOC(ALLOW_IF("'StringNotLike':{'s3:prefix':'private/*'}")),
	 GETK({"s3:prefix", "private/x"}), N},
	{"StringEqualsIfExists absent", I,
	 DOC(ALLOW_IF("'StringEqualsIfExists':{'s3:prefix':'docs/'}")), GETK(), A},
	{"StringEqualsIfExists present, mismatch", I,
	 DOC(ALLOW_IF("'StringEqualsIfExists':{'s3:prefix':'docs/'}")), GETK({"s3:prefix", "x"}),
	 N},
	{"StringLikeIfExists present", I,
	 DOC(ALLOW_IF("'StringLikeIfExists':{'s3:prefix':'docs/*'}")),
	 GETK({"s3:prefix", "docs/x"}), A},
	{"keys under one operator AND", I,
	 DOC(ALLOW_IF("'StringEquals':{'s3:prefix':'docs/','s3:delimiter':'/'}")),
	 GETK({"s3:prefix", "docs/"}, {"s3:delimiter", "-"}), N},
	{"keys under one operator AND, all true", I,
	 DOC(ALLOW_IF("'StringEquals':{'s3:prefix':'docs/','s3:delimiter':'/'}")),
	 GETK({"s3:prefix", "docs/"}, {"s3:delimiter", "/"}), A},
	{"operators AND", I,
	 DOC(ALLOW_IF(
		 "'StringLike':{'s3:prefix':'docs/*'},'NumericLessThan':{'s3:max-keys':'100'}")),
	 GETK({"s3:prefix", "docs/a"}, {"s3:max-keys", "500"}), N},
	{"condition key name case-insensitive", I,
	 DOC(ALLOW_IF("'StringEquals':{'S3:PREFIX':'docs/'}")), GETK({"s3:prefix", "docs/"}), A},
	{"condition values case-sensitive", I,
	 DOC(ALLOW_IF("'StringEquals':{'s3:prefix':'Docs/'}")), GETK({"s3:prefix", "docs/"}), N},
	{"tag key", I, DOC(ALLOW_IF("'StringEquals':{'s3:ExistingObjectTag/Project':'blue'}")),
	 GETK({"s3:ExistingObjectTag/Project", "blue"}), A},

	/* numbers */
	{"NumericLessThanEquals equal", I,
	 DOC(ALLOW_IF("'NumericLessThanEquals':{'s3:max-keys':'10'}")), GETK({"s3:max-keys", "10"}),
	 A},
	{"NumericLessThanEquals above", I,
	 DOC(ALLOW_IF("'NumericLessThanEquals':{'s3:max-keys':'10'}")), GETK({"s3:max-keys", "11"}),
	 N},
	{"NumericLessThan", I, DOC(ALLOW_IF("'NumericLessThan':{'s3:max-keys':10}")),
	 GETK({"s3:max-keys", "9"}), A},
	{"NumericEquals JSON number", I, DOC(ALLOW_IF("'NumericEquals':{'s3:max-keys':100}")),
	 GETK({"s3:max-keys", "100"}), A},
	{"NumericEquals decimal", I, DOC(ALLOW_IF("'NumericEquals':{'s3:max-keys':'1.5'}")),
	 GETK({"s3:max-keys", "1.50"}), A},
	{"NumericNotEquals", I, DOC(ALLOW_IF("'NumericNotEquals':{'s3:max-keys':100}")),
	 GETK({"s3:max-keys", "99"}), A},
	{"NumericNotEquals equal", I, DOC(ALLOW_IF("'NumericNotEquals':{'s3:max-keys':100}")),
	 GETK({"s3:max-keys", "100"}), N},
	{"NumericGreaterThan", I, DOC(ALLOW_IF("'NumericGreaterThan':{'s3:max-keys':5}")),
	 GETK({"s3:max-keys", "6"}), A},
	{"NumericGreaterThanEquals below", I,
	 DOC(ALLOW_IF("'NumericGreaterThanEquals':{'s3:max-keys':5}")), GETK({"s3:max-keys", "4"}),
	 N},
	{"Numeric: request not a number", I,
	 DOC(ALLOW_IF("'NumericGreaterThan':{'s3:max-keys':5}")), GETK({"s3:max-keys", "0x10"}), N},
	{"NumericLessThanIfExists absent", I,
	 DOC(ALLOW_IF("'NumericLessThanIfExists':{'s3:max-keys':5}")), GETK(), A},

	/* dates */
	{"DateLessThan ISO", I,
	 DOC(ALLOW_IF("'DateLessThan':{'aws:CurrentTime':'2026-01-01T00:00:00Z'}")),
	 GETK({"aws:CurrentTime", "2025-06-01T12:00:00Z"}), A},
	{"DateLessThan after", I,
	 DOC(ALLOW_IF("'DateLessThan':{'aws:CurrentTime':'2026-01-01T00:00:00Z'}")),
	 GETK({"aws:CurrentTime", "2026-01-01T00:00:00Z"}), N},
	{"DateGreaterThan epoch request", I,
	 DOC(ALLOW_IF("'DateGreaterThan':{'aws:EpochTime':'2026-01-01T00:00:00Z'}")),
	 GETK({"aws:EpochTime", "1767225601"}), A},
	{"DateEquals epoch policy vs ISO", I,
	 DOC(ALLOW_IF("'DateEquals':{'aws:CurrentTime':1767225600}")),
	 GETK({"aws:CurrentTime", "2026-01-01T00:00:00Z"}), A},
	{"DateNotEquals", I, DOC(ALLOW_IF("'DateNotEquals':{'aws:CurrentTime':'2026-01-01'}")),
	 GETK({"aws:CurrentTime", "2026-01-01T00:00:01Z"}), A},
	{"DateLessThanEquals with offset", I,
	 DOC(ALLOW_IF("'DateLessThanEquals':{'aws:CurrentTime':'2026-01-01T01:00:00+01:00'}")),
	 GETK({"aws:CurrentTime", "2026-01-01T00:00:00Z"}), A},
	{"DateGreaterThanEquals fractional", I,
	 DOC(ALLOW_IF("'DateGreaterThanEquals':{'aws:CurrentTime':'2026-01-01T00:00:00.500Z'}")),
	 GETK({"aws:CurrentTime", "2026-01-01T00:00:00.250Z"}), N},
	{"Date absent key", I,
	 DOC(ALLOW_IF("'DateGreaterThan':{'aws:CurrentTime':'2020-01-01T00:00:00Z'}")), GETK(), N},
	{"DateNotEquals absent key", I,
	 DOC(ALLOW_IF("'DateNotEquals':{'aws:CurrentTime':'2020-01-01T00:00:00Z'}")), GETK(), A},

	/* booleans */
	{"Bool deny insecure transport", I,
	 DOC(ALLOW_GET, DENY_IF("'Bool':{'aws:SecureTransport':'false'}")),
	 GETK({"aws:SecureTransport", "false"}), D},
	{"Bool secure transport passes", I,
	 DOC(ALLOW_GET, DENY_IF("'Bool':{'aws:SecureTransport':'false'}")),
	 GETK({"aws:SecureTransport", "true"}), A},
	{"Bool JSON true, value in caps", I, DOC(ALLOW_IF("'Bool':{'aws:SecureTransport':true}")),
	 GETK({"aws:SecureTransport", "TRUE"}), A},
	{"Bool absent key", I, DOC(ALLOW_IF("'Bool':{'aws:SecureTransport':'true'}")), GETK(), N},
	{"BoolIfExists absent key", I,
	 DOC(ALLOW_IF("'BoolIfExists':{'aws:MultiFactorAuthPresent':'true'}")), GETK(), A},

	/* IP addresses */
	{"IpAddress v4 CIDR", I, DOC(ALLOW_IF("'IpAddress':{'aws:SourceIp':'192.0.2.0/24'}")),
	 GETK({"aws:SourceIp", "192.0.2.77"}), A},
	{"IpAddress v4 outside", I, DOC(ALLOW_IF("'IpAddress':{'aws:SourceIp':'192.0.2.0/24'}")),
	 GETK({"aws:SourceIp", "198.51.100.1"}), N},
	{"IpAddress host bits in policy", I,
	 DOC(ALLOW_IF("'IpAddress':{'aws:SourceIp':'192.0.2.9/28'}")),
	 GETK({"aws:SourceIp", "192.0.2.15"}), A},
	{"NotIpAddress outside", I,
	 DOC(ALLOW_IF("'NotIpAddress':{'aws:SourceIp':['192.0.2.0/24','203.0.113.0/24']}")),
	 GETK({"aws:SourceIp", "198.51.100.1"}), A},
	{"NotIpAddress inside one", I,
	 DOC(ALLOW_IF("'NotIpAddress':{'aws:SourceIp':['192.0.2.0/24','203.0.113.0/24']}")),
	 GETK({"aws:SourceIp", "203.0.113.200"}), N},
	{"NotIpAddress absent", I, DOC(ALLOW_IF("'NotIpAddress':{'aws:SourceIp':'192.0.2.0/24'}")),
	 GETK(), A},
	{"IpAddress single address", I, DOC(ALLOW_IF("'IpAddress':{'aws:SourceIp':'203.0.113.5'}")),
	 GETK({"aws:SourceIp", "203.0.113.5"}), A},
	{"IpAddress v6 CIDR", I, DOC(ALLOW_IF("'IpAddress':{'aws:SourceIp':'2001:db8::/32'}")),
	 GETK({"aws:SourceIp", "2001:db8:1::5"}), A},
	{"IpAddress v6 outside", I, DOC(ALLOW_IF("'IpAddress':{'aws:SourceIp':'2001:db8::/32'}")),
	 GETK({"aws:SourceIp", "2001:db9::1"}), N},
	{"IpAddress v6 vs v4 CIDR", I, DOC(ALLOW_IF("'IpAddress':{'aws:SourceIp':'0.0.0.0/0'}")),
	 GETK({"aws:SourceIp", "2001:db8::1"}), N},
	{"IpAddress v4-mapped request", I,
	 DOC(ALLOW_IF("'IpAddress':{'aws:SourceIp':'192.0.2.0/24'}")),
	 GETK({"aws:SourceIp", "::ffff:192.0.2.9"}), A},
	{"IpAddress garbage request", I, DOC(ALLOW_IF("'IpAddress':{'aws:SourceIp':'0.0.0.0/0'}")),
	 GETK({"aws:SourceIp", "not-an-ip"}), N},

	/* Null */
	{"Null true: absent header denied", I,
	 DOC(ALLOW_GET, DENY_IF("'Null':{'s3:x-amz-server-side-encryption':'true'}")), GETK(), D},
	{"Null true: present header passes", I,
	 DOC(ALLOW_GET, DENY_IF("'Null':{'s3:x-amz-server-side-encryption':'true'}")),
	 GETK({"s3:x-amz-server-side-encryption", "AES256"}), A},
	{"Null false: present", I, DOC(ALLOW_IF("'Null':{'aws:TokenIssueTime':false}")),
	 GETK({"aws:TokenIssueTime", "2026-01-01T00:00:00Z"}), A},
	{"Null false: absent", I, DOC(ALLOW_IF("'Null':{'aws:TokenIssueTime':false}")), GETK(), N},

	/* ARNs */
	{"ArnLike per component", I,
	 DOC(ALLOW_IF("'ArnLike':{'aws:SourceArn':'arn:aws:sns:*:" ACCT ":topic-*'}")),
	 GETK({"aws:SourceArn", "arn:aws:sns:us-east-1:" ACCT ":topic-a"}), A},
	{"ArnLike * stays in its component", I,
	 DOC(ALLOW_IF("'ArnLike':{'aws:SourceArn':'arn:aws:sns:*:" ACCT ":t'}")),
	 GETK({"aws:SourceArn", "arn:aws:sns:us-east-1:x:" ACCT ":t"}), N},
	{"ArnEquals", I, DOC(ALLOW_IF("'ArnEquals':{'aws:SourceArn':'arn:aws:s3:::photos'}")),
	 GETK({"aws:SourceArn", "arn:aws:s3:::photos"}), A},
	{"ArnNotLike", I, DOC(ALLOW_IF("'ArnNotLike':{'aws:SourceArn':'arn:aws:s3:::secret*'}")),
	 GETK({"aws:SourceArn", "arn:aws:s3:::photos"}), A},
	{"ArnNotEquals absent", I,
	 DOC(ALLOW_IF("'ArnNotEquals':{'aws:SourceArn':'arn:aws:s3:::photos'}")), GETK(), A},

	/* binary */
	{"BinaryEquals", I, DOC(ALLOW_IF("'BinaryEquals':{'s3:x-amz-content-sha256':'aGVsbG8='}")),
	 GETK({"s3:x-amz-content-sha256", "hello"}), A},
	{"BinaryEquals mismatch", I,
	 DOC(ALLOW_IF("'BinaryEquals':{'s3:x-amz-content-sha256':'aGVsbG8='}")),
	 GETK({"s3:x-amz-content-sha256", "hellO"}), N},

	/* set qualifiers over multi-valued keys */
	{"ForAnyValue overlap", I,
	 DOC(ALLOW_IF("'ForAnyValue:StringEquals':{'aws:TagKeys':['b','z']}")),
	 GETK({"aws:TagKeys", "a"}, {"aws:TagKeys", "b"}), A},
	{"ForAnyValue no overlap", I,
	 DOC(ALLOW_IF("'ForAnyValue:StringEquals':{'aws:TagKeys':['y','z']}")),
	 GETK({"aws:TagKeys", "a"}, {"aws:TagKeys", "b"}), N},
	{"ForAnyValue absent", I,
	 DOC(ALLOW_IF("'ForAnyValue:StringEquals':{'aws:TagKeys':['y','z']}")), GETK(), N},
	{"ForAnyValue IfExists absent", I,
	 DOC(ALLOW_IF("'ForAnyValue:StringEqualsIfExists':{'aws:TagKeys':'team'}")), GETK(), N},
	{"ForAllValues subset", I,
	 DOC(ALLOW_IF("'ForAllValues:StringEquals':{'aws:TagKeys':['a','b','c']}")),
	 GETK({"aws:TagKeys", "a"}, {"aws:TagKeys", "b"}), A},
	{"ForAllValues not subset", I,
	 DOC(ALLOW_IF("'ForAllValues:StringEquals':{'aws:TagKeys':['a','b','c']}")),
	 GETK({"aws:TagKeys", "a"}, {"aws:TagKeys", "x"}), N},
	{"ForAllValues absent", I,
	 DOC(ALLOW_IF("'ForAllValues:StringEquals':{'aws:TagKeys':['a']}")), GETK(), A},
	{"ForAllValues:StringLike", I,
	 DOC(ALLOW_IF("'ForAllValues:StringLike':{'aws:TagKeys':'proj-*'}")),
	 GETK({"aws:TagKeys", "proj-a"}, {"aws:TagKeys", "proj-b"}), A},
	{"ForAllValues:StringNotLike deny, none listed", I,
	 DOC(ALLOW_GET, DENY_IF("'ForAllValues:StringNotLike':{'aws:TagKeys':'key1*'}")),
	 GETK({"aws:TagKeys", "key2:audit"}), D},
	{"ForAllValues:StringNotLike deny, one listed", I,
	 DOC(ALLOW_GET, DENY_IF("'ForAllValues:StringNotLike':{'aws:TagKeys':'key1*'}")),
	 GETK({"aws:TagKeys", "key1:hr"}, {"aws:TagKeys", "key2:x"}), A},
	{"ForAnyValue:StringNotEquals", I,
	 DOC(ALLOW_IF("'ForAnyValue:StringNotEquals':{'aws:TagKeys':'a'}")),
	 GETK({"aws:TagKeys", "a"}, {"aws:TagKeys", "x"}), A},
	{"ForAnyValue:StringNotEquals all listed", I,
	 DOC(ALLOW_IF("'ForAnyValue:StringNotEquals':{'aws:TagKeys':['a','x']}")),
	 GETK({"aws:TagKeys", "a"}, {"aws:TagKeys", "x"}), N},
	{"ForAnyValue:NumericGreaterThan", I,
	 DOC(ALLOW_IF("'ForAnyValue:NumericGreaterThan':{'s3:ExistingObjectTag/n':5}")),
	 GETK({"s3:ExistingObjectTag/n", "1"}, {"s3:ExistingObjectTag/n", "7"}), A},
	{"unqualified multi-valued: any matches", I,
	 DOC(ALLOW_IF("'StringEquals':{'aws:TagKeys':'b'}")),
	 GETK({"aws:TagKeys", "a"}, {"aws:TagKeys", "b"}), A},
	{"unqualified negated multi-valued: one matches", I,
	 DOC(ALLOW_IF("'StringNotEquals':{'aws:TagKeys':'b'}")),
	 GETK({"aws:TagKeys", "a"}, {"aws:TagKeys", "b"}), N},

	/* bucket policies with conditions */
	{"bucket: public read from one network", B,
	 DOC("{'Effect':'Allow','Principal':'*'," GET
	     ",'Condition':{'IpAddress':{'aws:SourceIp':'10.0.0.0/8'}}}"),
	 GETO("a", NULL, {"aws:SourceIp", "10.1.2.3"}), A},
	{"bucket: deny http for everyone", B,
	 DOC(BSTMT("Allow", "{'AWS':'" ACCT "'}"),
	     "{'Effect':'Deny','Principal':'*','Action':'s3:*','Resource':['" ARN "','" ARN
	     "/*'],'Condition':{'Bool':{'aws:SecureTransport':'false'}}}"),
	 GETO("a", "alice", {"aws:SecureTransport", "false"}), D},
	{"bucket: aws:username built in", B,
	 DOC("{'Effect':'Allow','Principal':'*'," GET
	     ",'Condition':{'StringEquals':{'aws:username':'alice'}}}"),
	 GETO("a", "alice"), A},
	{"bucket: aws:PrincipalAccount built in", B,
	 DOC("{'Effect':'Allow','Principal':'*'," GET
	     ",'Condition':{'StringEquals':{'aws:PrincipalAccount':'" ACCT "'}}}"),
	 GETO("a", NULL), N},
};

static void test_matrix(void **state)
{
	(void)state;
	int failed = 0;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct policy *p = NULL;
		struct policy_request req;
		char err[256], res[512];
		int rc = parse(r->doc, r->kind, &p, err, sizeof(err));
		if (rc != 0) {
			print_error("row %zu \"%s\": parse failed: %s (%s)\n", i, r->name,
				    cn_errname(rc), err);
			failed++;
			continue;
		}
		make_req(&r->req, res, sizeof(res), &req);
		enum policy_effect got = policy_eval(p, &req);
		if (got != r->want) {
			print_error("row %zu \"%s\": effect %d, want %d\n", i, r->name, got,
				    r->want);
			failed++;
		}
		policy_free(p);
	}
	print_message("%zu evaluation rows\n", sizeof(rows) / sizeof(rows[0]));
	assert_int_equal(failed, 0);
}

/* ---- parse rejections ---- */

struct bad {
	const char *name;
	enum policy_kind kind;
	const char *doc;
	const char *reason; /* expected err, a prefix */
};

#define BADST(...) DOC("{'Effect':'Allow'," __VA_ARGS__ "}")

static const struct bad bads[] = {
	{"bad JSON", I, "{'Statement':", "This policy contains invalid Json"},
	{"trailing garbage", I, DOC(ALLOW_GET) " x", "This policy contains invalid Json"},
	{"not an object", I, "['Statement']", "This policy contains invalid Json"},
	{"duplicate JSON key", I,
	 "{'Statement':{'Effect':'Allow','Effect':'Deny','Action':'s3:*','Resource':'*'}}",
	 "This policy contains invalid Json"},
	{"missing Statement", I, "{'Version':'2012-10-17'}", "Missing required field Statement"},
	{"empty Statement", I, "{'Version':'2012-10-17','Statement':[]}",
	 "Missing required field Statement"},
	{"Statement not an object", I, "{'Statement':['x']}", "Policy has an invalid Statement"},
	{"bad Version", I, "{'Version':'2020-01-01','Statement':" ALLOW_GET "}",
	 "The policy must contain a valid version string"},
	{"unknown top-level field", I, "{'Statement':" ALLOW_GET ",'Foo':1}", "Unknown field Foo"},
	{"unknown statement field", I, DOC("{'Effect':'Allow','Effects':'x'," GET "}"),
	 "Unknown field Effects"},
	{"bad Effect", I, DOC("{'Effect':'allow'," GET "}"), "Invalid effect: allow"},
	{"missing Effect", I, DOC("{" GET "}"), "Missing required field Effect"},
	{"duplicate Sid", I,
	 DOC("{'Sid':'a','Effect':'Allow'," GET "}", "{'Sid':'a','Effect':'Deny'," GET "}"),
	 "Statement IDs (SID) in a single policy must be unique"},
	{"Action and NotAction", I,
	 BADST("'Action':'s3:GetObject','NotAction':'s3:PutObject','Resource':'*'"),
	 "Statement has both Action and NotAction"},
	{"missing Action", I, BADST("'Resource':'*'"), "Missing required field Action"},
	{"unknown action", I, BADST("'Action':'s3:Foo','Resource':'*'"), "Unknown action s3:Foo"},
	{"unknown action pattern", I, BADST("'Action':'s3:Foo*','Resource':'*'"),
	 "Unknown action s3:Foo*"},
	{"action without service", I, BADST("'Action':'GetObject','Resource':'*'"),
	 "Policy has invalid action"},
	{"empty action list", I, BADST("'Action':[],'Resource':'*'"), "Policy has invalid action"},
	{"non-s3 action in bucket policy", B,
	 BADST("'Principal':'*','Action':'iam:CreateUser','Resource':" OBJS),
	 "Policy has invalid action"},
	{"missing Resource", I, BADST("'Action':'s3:GetObject'"),
	 "Missing required field Resource"},
	{"Resource and NotResource", I,
	 BADST("'Action':'s3:GetObject','Resource':'*','NotResource':'*'"),
	 "Statement has both Resource and NotResource"},
	{"identity resource not an ARN", I, BADST("'Action':'s3:GetObject','Resource':'photos/*'"),
	 "Policy has invalid resource"},
	{"bucket resource in another bucket", B,
	 BADST("'Principal':'*','Action':'s3:GetObject','Resource':'arn:aws:s3:::other/*'"),
	 "Policy has invalid resource"},
	{"bucket resource: longer bucket name", B,
	 BADST("'Principal':'*','Action':'s3:GetObject','Resource':'arn:aws:s3:::photosX/*'"),
	 "Policy has invalid resource"},
	{"bucket resource: wildcard bucket", B,
	 BADST("'Principal':'*','Action':'s3:GetObject','Resource':'arn:aws:s3:::photo*'"),
	 "Policy has invalid resource"},
	{"bucket resource: *", B, BADST("'Principal':'*','Action':'s3:GetObject','Resource':'*'"),
	 "Policy has invalid resource"},
	{"bucket NotResource in another bucket", B,
	 BADST("'Principal':'*','Action':'s3:GetObject','NotResource':'arn:aws:s3:::other'"),
	 "Policy has invalid resource"},
	{"missing Principal in bucket policy", B, BADST(GET), "Missing required field Principal"},
	{"Principal in identity policy", I, BADST("'Principal':'*'," GET),
	 "Policy document should not specify a principal"},
	{"NotPrincipal in identity policy", I, BADST("'NotPrincipal':{'AWS':'" ACCT "'}," GET),
	 "Policy document should not specify a principal"},
	{"principal plain name", B, BADST("'Principal':'alice'," GET),
	 "Invalid principal in policy"},
	{"principal wildcard in ARN", B, BADST("'Principal':{'AWS':'arn:aws:iam::*:root'}," GET),
	 "Invalid principal in policy"},
	{"principal user ARN wildcard", B,
	 BADST("'Principal':{'AWS':'arn:aws:iam::" ACCT ":user/a*'}," GET),
	 "Invalid principal in policy"},
	{"principal Federated", B, BADST("'Principal':{'Federated':'cognito'}," GET),
	 "Invalid principal in policy"},
	{"principal bad canonical id", B, BADST("'Principal':{'CanonicalUser':'abc'}," GET),
	 "Invalid principal in policy"},
	{"principal empty object", B, BADST("'Principal':{}," GET), "Invalid principal in policy"},
	{"bad CIDR prefix", I, DOC(ALLOW_IF("'IpAddress':{'aws:SourceIp':'10.0.0.0/33'}")),
	 "Invalid IP address in condition: 10.0.0.0/33"},
	{"bad IPv4 address", I, DOC(ALLOW_IF("'IpAddress':{'aws:SourceIp':'300.1.1.1'}")),
	 "Invalid IP address in condition: 300.1.1.1"},
	{"bad IPv6 prefix", I, DOC(ALLOW_IF("'NotIpAddress':{'aws:SourceIp':'2001:db8::/129'}")),
	 "Invalid IP address in condition"},
	{"bad date", I, DOC(ALLOW_IF("'DateLessThan':{'aws:CurrentTime':'2026-13-01'}")),
	 "Invalid date in condition: 2026-13-01"},
	{"bad date day", I,
	 DOC(ALLOW_IF("'DateLessThan':{'aws:CurrentTime':'2025-02-29T00:00:00Z'}")),
	 "Invalid date in condition"},
	{"bad number", I, DOC(ALLOW_IF("'NumericLessThan':{'s3:max-keys':'ten'}")),
	 "Invalid number in condition: ten"},
	{"bad boolean", I, DOC(ALLOW_IF("'Bool':{'aws:SecureTransport':'yes'}")),
	 "Invalid boolean in condition: yes"},
	{"bad base64", I, DOC(ALLOW_IF("'BinaryEquals':{'s3:x-amz-content-sha256':'!!'}")),
	 "Invalid base64 in condition"},
	{"unknown operator", I, DOC(ALLOW_IF("'StringEqualsFoo':{'s3:prefix':'a'}")),
	 "Invalid Condition type : StringEqualsFoo"},
	{"operator case", I, DOC(ALLOW_IF("'stringequals':{'s3:prefix':'a'}")),
	 "Invalid Condition type : stringequals"},
	{"NullIfExists", I, DOC(ALLOW_IF("'NullIfExists':{'s3:prefix':'true'}")),
	 "Invalid Condition type : NullIfExists"},
	{"unknown operator, empty block", I, DOC(ALLOW_IF("'Foo':{}")),
	 "Invalid Condition type : Foo"},
	{"bad qualifier", I, DOC(ALLOW_IF("'ForSomeValues:StringEquals':{'s3:prefix':'a'}")),
	 "Invalid Condition type : ForSomeValues:StringEquals"},
	{"unknown condition key in bucket policy", B,
	 DOC("{'Effect':'Allow','Principal':'*'," GET
	     ",'Condition':{'StringEquals':{'s3:Foo':'a'}}}"),
	 "Policy has an invalid condition key"},
	{"condition key without service", I, DOC(ALLOW_IF("'StringEquals':{'prefix':'a'}")),
	 "Policy has an invalid condition key"},
	{"empty condition values", I, DOC(ALLOW_IF("'StringEquals':{'s3:prefix':[]}")),
	 "Policy has an invalid condition value"},
	{"null condition value", I, DOC(ALLOW_IF("'StringEquals':{'s3:prefix':null}")),
	 "Policy has an invalid condition value"},
	{"condition not an object", I, DOC("{'Effect':'Allow'," GET ",'Condition':'x'}"),
	 "Policy has an invalid condition"},
	{"bucket action on objects", B,
	 BADST("'Principal':'*','Action':'s3:ListBucket','Resource':" OBJS),
	 "Action does not apply to any resource(s) in statement"},
	{"object action on the bucket", B,
	 BADST("'Principal':'*','Action':'s3:GetObject','Resource':'" ARN "'"),
	 "Action does not apply to any resource(s) in statement"},
	{"one action of two applies", B,
	 BADST("'Principal':'*','Action':['s3:GetObject','s3:ListBucket'],'Resource':" OBJS),
	 "Action does not apply to any resource(s) in statement"},
	{"account action in a bucket policy", B,
	 BADST("'Principal':'*','Action':'s3:ListAllMyBuckets','Resource':['" ARN "'," OBJS "]"),
	 "Action does not apply to any resource(s) in statement"},
	{"object pattern on the bucket", B,
	 BADST("'Principal':'*','Action':'s3:*Object','Resource':'" ARN "'"),
	 "Action does not apply to any resource(s) in statement"},
};

static void test_rejections(void **state)
{
	(void)state;
	int failed = 0;

	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		const struct bad *b = &bads[i];
		struct policy *p = NULL;
		char err[256] = "unset";
		int rc = parse(b->doc, b->kind, &p, err, sizeof(err));
		if (rc != CN_EBADARG || p != NULL ||
		    strncmp(err, b->reason, strlen(b->reason)) != 0) {
			print_error("bad %zu \"%s\": rc %s err \"%s\", want \"%s\"\n", i, b->name,
				    cn_errname(rc), err, b->reason);
			failed++;
		}
		policy_free(p);
	}
	print_message("%zu rejection rows\n", sizeof(bads) / sizeof(bads[0]));
	assert_int_equal(failed, 0);
}

/* Bucket policies whose every action applies to one of the statement's
 * resources parse; identity policies are not checked (IAM accepts them). */
static void test_applicability(void **state)
{
	static const struct {
		enum policy_kind kind;
		const char *doc;
	} goods[] = {
		{B,
		 BADST("'Principal':'*','Action':['s3:GetObject','s3:ListBucket'],'Resource':['" ARN
		       "'," OBJS "]")},
		{B, BADST("'Principal':'*','Action':'s3:Get*','Resource':'" ARN "'")},
		{B, BADST("'Principal':'*','Action':'s3:Get*','Resource':" OBJS)},
		{B, BADST("'Principal':'*','Action':'s3:*','Resource':" OBJS)},
		{B, BADST("'Principal':'*','Action':'*','Resource':'" ARN "'")},
		{B, BADST("'Principal':'*','Action':'s3:PutBucketTagging','Resource':'" ARN "'")},
		{B, BADST("'Principal':'*','Action':'s3:AbortMultipartUpload','Resource':'" ARN
			  "/k'")},
		{B, BADST("'Principal':'*','NotAction':'s3:ListBucket','Resource':" OBJS)},
		{B, BADST("'Principal':'*','Action':'s3:ListBucket','NotResource':" OBJS)},
		{I, BADST("'Action':'s3:ListBucket','Resource':" OBJS)},
		{I, BADST("'Action':'s3:ListAllMyBuckets','Resource':'*'")},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		struct policy *p = NULL;
		char err[256] = "";
		int rc = parse(goods[i].doc, goods[i].kind, &p, err, sizeof(err));
		if (rc != 0)
			print_error("good %zu: %s: %s\n", i, cn_errname(rc), err);
		assert_int_equal(rc, 0);
		policy_free(p);
	}
}

/* A document of about len bytes: one statement, padded by a long Sid. */
static char *sized_doc(size_t len, int spaces)
{
	const char *head = "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\","
			   "\"Resource\":\"*\",\"Sid\":\"";
	const char *tail = "\"}}";
	size_t hl = strlen(head), tl = strlen(tail);
	char *d = malloc(len + 1);
	assert_non_null(d);
	memcpy(d, head, hl);
	memset(d + hl, 'x', len - hl - tl);
	memcpy(d + len - tl, tail, tl + 1);
	if (spaces) { /* whitespace between tokens, which IAM does not count */
		char *ws = malloc(len + spaces + 1);
		assert_non_null(ws);
		memset(ws, ' ', (size_t)spaces);
		memcpy(ws + spaces, d, len + 1);
		free(d);
		d = ws;
	}
	return d;
}

static void test_sizes(void **state)
{
	(void)state;
	struct policy *p = NULL;
	char err[128];
	char *d;

	d = sized_doc(POLICY_MAX_IDENTITY_DOC, 3000);
	assert_int_equal(policy_parse(d, strlen(d), I, NULL, &p, err, sizeof(err)), 0);
	policy_free(p);
	free(d);
	p = NULL;

	d = sized_doc(POLICY_MAX_IDENTITY_DOC + 1, 0);
	assert_int_equal(policy_parse(d, strlen(d), I, NULL, &p, err, sizeof(err)), CN_EBADARG);
	assert_string_equal(err, "Policy exceeds the maximum allowed document size");
	assert_null(p);
	free(d);

	/* bucket documents: 20 KiB, whitespace included */
	char *big = malloc(POLICY_MAX_BUCKET_DOC + 2);
	char *j = js(DOC(BSTMT("Allow", "'*'")));
	size_t jl = strlen(j);
	assert_non_null(big);
	memcpy(big, j, jl);
	memset(big + jl, ' ', POLICY_MAX_BUCKET_DOC - jl);
	assert_int_equal(policy_parse(big, POLICY_MAX_BUCKET_DOC, B, BUCKET, &p, err, sizeof(err)),
			 0);
	policy_free(p);
	p = NULL;
	big[POLICY_MAX_BUCKET_DOC] = ' ';
	assert_int_equal(
		policy_parse(big, POLICY_MAX_BUCKET_DOC + 1, B, BUCKET, &p, err, sizeof(err)),
		CN_EBADARG);
	assert_string_equal(err, "Policy exceeds the maximum allowed document size");
	free(big);
	free(j);
}

static void test_parse_forms(void **state)
{
	(void)state;
	struct policy *p = NULL;
	char err[16];
	const char *ok[] = {
		/* single statement object, no Version, Id, Sid */
		"{'Id':'x','Statement':{'Sid':'s1','Effect':'Allow','Action':'s3:GetObject',"
		"'Resource':'arn:aws:s3:::photos/*'}}",
		/* other services' actions and keys in identity policies */
		DOC("{'Effect':'Allow','Action':['iam:*','sts:AssumeRole'],'Resource':'*',"
		    "'Condition':{'StringEquals':{'ec2:Region':'x'}}}"),
		/* every condition value type */
		DOC(ALLOW_IF("'StringEquals':{'s3:prefix':[1,2.5,true,'x']}")),
		/* empty Condition */
		DOC("{'Effect':'Allow'," GET ",'Condition':{}}"),
		/* malformed variable syntax stays text */
		DOC("{'Effect':'Allow','Action':'s3:GetObject','Resource':'" ARN "/${oops'}"),
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int rc = parse(ok[i], I, &p, err, sizeof(err));
		if (rc != 0)
			print_error("ok %zu: %s\n", i, err);
		assert_int_equal(rc, 0);
		policy_free(p);
		p = NULL;
	}
	/* bucket policies: Principal forms */
	assert_int_equal(parse(DOC(BSTMT("Allow", "{'AWS':['*','" ACCT "','arn:aws:iam::" ACCT
						  ":user/a.b@c','arn:aws:iam::" OTHER ":root'],"
						  "'CanonicalUser':'" CANON_BOB "'}")),
			       B, &p, err, sizeof(err)),
			 0);
	policy_free(p);
	p = NULL;

	/* err truncated to errcap, NULL err accepted */
	assert_int_equal(parse("{", I, &p, err, 8), CN_EBADARG);
	assert_string_equal(err, "This po");
	assert_int_equal(parse("{", I, &p, NULL, 0), CN_EBADARG);
	/* misuse */
	assert_int_equal(policy_parse("{}", 2, B, NULL, &p, err, sizeof(err)), CN_EINVAL);
	assert_int_equal(policy_parse("{}", 2, I, NULL, NULL, err, sizeof(err)), CN_EINVAL);
	assert_int_equal(policy_parse("{}", 2, (enum policy_kind)7, NULL, &p, err, sizeof(err)),
			 CN_EINVAL);
	assert_null(p);
	policy_free(NULL);
}

/* ---- policy_is_public ---- */

struct pub {
	const char *name;
	enum policy_kind kind;
	const char *doc;
	int want;
};

#define PUBST(pr, ...) "{'Effect':'Allow','Principal':" pr "," GET __VA_ARGS__ "}"

static const struct pub pubs[] = {
	{"principal *", B, DOC(PUBST("'*'")), 1},
	{"AWS *", B, DOC(PUBST("{'AWS':'*'}")), 1},
	{"AWS * in a list", B, DOC(PUBST("{'AWS':['" ACCT "','*']}")), 1},
	{"own account", B, DOC(PUBST("{'AWS':'" ACCT "'}")), 0},
	{"user", B, DOC(PUBST("{'AWS':'arn:aws:iam::" ACCT ":user/alice'}")), 0},
	{"deny *", B, DOC("{'Effect':'Deny','Principal':'*'," GET "}"), 0},
	{"NotPrincipal allow", B,
	 DOC("{'Effect':'Allow','NotPrincipal':{'AWS':'" ACCT "'}," GET "}"), 1},
	{"NotPrincipal *", B, DOC("{'Effect':'Allow','NotPrincipal':'*'," GET "}"), 0},
	{"* with fixed CIDR", B,
	 DOC(PUBST("'*'", COND("'IpAddress':{'aws:SourceIp':'10.0.0.0/8'}"))), 0},
	{"* with v6 CIDR", B,
	 DOC(PUBST("'*'", COND("'IpAddress':{'aws:SourceIp':['2001:db8::/32','10.0.0.1']}"))), 0},
	{"* with /0", B, DOC(PUBST("'*'", COND("'IpAddress':{'aws:SourceIp':'0.0.0.0/0'}"))), 1},
	{"* with one /0 among CIDRs", B,
	 DOC(PUBST("'*'", COND("'IpAddress':{'aws:SourceIp':['10.0.0.0/8','::/0']}"))), 1},
	{"* with NotIpAddress", B,
	 DOC(PUBST("'*'", COND("'NotIpAddress':{'aws:SourceIp':'10.0.0.0/8'}"))), 1},
	{"* with fixed SourceArn", B,
	 DOC(PUBST("'*'",
		   COND("'ArnEquals':{'aws:SourceArn':'arn:aws:sns:us-east-1:" OTHER ":t'}"))),
	 0},
	{"* with wildcard SourceArn", B,
	 DOC(PUBST("'*'", COND("'ArnLike':{'aws:SourceArn':'arn:aws:sns:*:" OTHER ":t'}"))), 1},
	{"* with SourceAccount", B,
	 DOC(PUBST("'*'", COND("'StringEquals':{'aws:SourceAccount':'" OTHER "'}"))), 0},
	{"* with SourceAccount IfExists", B,
	 DOC(PUBST("'*'", COND("'StringEqualsIfExists':{'aws:SourceAccount':'" OTHER "'}"))), 1},
	{"* with SourceVpce", B,
	 DOC(PUBST("'*'", COND("'StringEquals':{'aws:SourceVpce':'vpce-1a2b3c4d'}"))), 0},
	{"* with PrincipalOrgID", B,
	 DOC(PUBST("'*'", COND("'StringEquals':{'aws:PrincipalOrgID':'o-abc123'}"))), 0},
	{"* with PrincipalAccount", B,
	 DOC(PUBST("'*'", COND("'StringEquals':{'aws:PrincipalAccount':'" ACCT "'}"))), 0},
	{"* with userid wildcard", B,
	 DOC(PUBST("'*'", COND("'StringLike':{'aws:userid':'AIDA*'}"))), 1},
	{"* with username variable", B,
	 DOC(PUBST("'*'", COND("'StringEquals':{'aws:username':'${aws:username}'}"))), 1},
	{"* with negated SourceVpc", B,
	 DOC(PUBST("'*'", COND("'StringNotEquals':{'aws:SourceVpc':'vpc-1'}"))), 1},
	{"* with ForAllValues SourceVpc", B,
	 DOC(PUBST("'*'", COND("'ForAllValues:StringEquals':{'aws:SourceVpc':'vpc-1'}"))), 1},
	{"* with SecureTransport only", B,
	 DOC(PUBST("'*'", COND("'Bool':{'aws:SecureTransport':'true'}"))), 1},
	{"* with prefix only", B, DOC(PUBST("'*'", COND("'StringLike':{'s3:prefix':'pub/*'}"))), 1},
	{"* pinned among other conditions", B,
	 DOC(PUBST("'*'", COND("'Bool':{'aws:SecureTransport':'true'},"
			       "'StringEquals':{'aws:SourceAccount':'" OTHER "'}"))),
	 0},
	{"one public statement among private", B, DOC(PUBST("{'AWS':'" ACCT "'}"), PUBST("'*'")),
	 1},
	{"identity policy", I, DOC(ALLOW_GET), 0},
};

static void test_is_public(void **state)
{
	(void)state;
	int failed = 0;

	for (size_t i = 0; i < sizeof(pubs) / sizeof(pubs[0]); i++) {
		struct policy *p = NULL;
		char err[256];
		int rc = parse(pubs[i].doc, pubs[i].kind, &p, err, sizeof(err));
		if (rc != 0) {
			print_error("pub %zu \"%s\": parse: %s\n", i, pubs[i].name, err);
			failed++;
			continue;
		}
		if (policy_is_public(p) != pubs[i].want) {
			print_error("pub %zu \"%s\": got %d\n", i, pubs[i].name,
				    policy_is_public(p));
			failed++;
		}
		policy_free(p);
	}
	print_message("%zu public-ness rows\n", sizeof(pubs) / sizeof(pubs[0]));
	assert_int_equal(failed, 0);
}

/* ---- many values, no lookup ---- */

static int many_lookup(void *arg, const char *key, const char **vals, size_t *lens, int max)
{
	int *calls = arg;
	int n = 3 * POLICY_MAX_VALUES;

	(void)key;
	(*calls)++;
	for (int i = 0; i < n && i < max; i++) {
		vals[i] = i == n - 1 ? "last" : "tag";
		lens[i] = strlen(vals[i]);
	}
	return n;
}

static void test_many_values(void **state)
{
	(void)state;
	struct policy *p = NULL;
	struct policy_request r = {0};
	char err[128];
	int calls = 0;

	r.action = "s3:GetObject";
	r.resource = ARN "/k";
	r.account_id = ACCT;
	r.user = "alice";
	r.lookup = many_lookup;
	r.arg = &calls;
	/* the value past POLICY_MAX_VALUES decides: every one must be seen */
	assert_int_equal(parse(DOC(ALLOW_IF("'ForAllValues:StringEquals':{'aws:TagKeys':'tag'}")),
			       I, &p, err, sizeof(err)),
			 0);
	assert_int_equal(policy_eval(p, &r), POLICY_NONE);
	assert_int_equal(calls, 2);
	policy_free(p);
	p = NULL;
	assert_int_equal(parse(DOC(ALLOW_IF("'ForAnyValue:StringEquals':{'aws:TagKeys':'last'}")),
			       I, &p, err, sizeof(err)),
			 0);
	assert_int_equal(policy_eval(p, &r), POLICY_ALLOW);
	policy_free(p);
	p = NULL;

	/* no lookup at all: every key absent */
	r.lookup = NULL;
	assert_int_equal(parse(DOC(ALLOW_IF("'StringNotEquals':{'s3:prefix':'x'}")), I, &p, err,
			       sizeof(err)),
			 0);
	assert_int_equal(policy_eval(p, &r), POLICY_ALLOW);
	policy_free(p);
}

/* ---- concurrency ---- */

#define THREADS 4
#define ROUNDS 2000

static const char *shared_doc =
	DOC(BSTMT("Allow", "'*'"),
	    "{'Effect':'Deny','Principal':'*','Action':'s3:GetObject','Resource':'" ARN
	    "/home/${aws:username}/secret/*'}",
	    "{'Effect':'Allow','Principal':'*','Action':'s3:PutObject',"
	    "'Resource':'" ARN "/home/${aws:username}/*','Condition':{'IpAddress':"
	    "{'aws:SourceIp':['10.0.0.0/8','2001:db8::/32']},'ForAllValues:StringLike':"
	    "{'aws:TagKeys':'proj-*'}}}");

static const struct {
	struct treq req;
	enum policy_effect want;
} shared_cases[] = {
	{GETO("a", NULL), A},
	{GETO("home/alice/secret/x", "alice"), D},
	{GETO("home/alice/secret/x", "bob"), A},
	{{"s3:PutObject",
	  "home/bob/x",
	  "bob",
	  {{"aws:SourceIp", "10.9.8.7"}, {"aws:TagKeys", "proj-a"}, {"aws:TagKeys", "proj-b"}}},
	 A},
	{{"s3:PutObject", "home/bob/x", "bob", {{"aws:SourceIp", "2001:db8::9"}}}, A},
	{{"s3:PutObject", "home/bob/x", "alice", {{"aws:SourceIp", "10.9.8.7"}}}, N},
	{{"s3:PutObject", "home/bob/x", "bob", {{"aws:SourceIp", "11.0.0.1"}}}, N},
	{{"s3:PutObject",
	  "home/bob/x",
	  "bob",
	  {{"aws:SourceIp", "10.0.0.1"}, {"aws:TagKeys", "proj-a"}, {"aws:TagKeys", "other"}}},
	 N},
};

static void *eval_loop(void *arg)
{
	const struct policy *p = arg;
	long ok = 0;
	size_t nc = sizeof(shared_cases) / sizeof(shared_cases[0]);

	for (int i = 0; i < ROUNDS; i++) {
		size_t k = (size_t)i % nc;
		struct policy_request r;
		char res[256];
		make_req(&shared_cases[k].req, res, sizeof(res), &r);
		ok += policy_eval(p, &r) == shared_cases[k].want;
	}
	return (void *)ok;
}

static void test_threads(void **state)
{
	(void)state;
	struct policy *p = NULL;
	pthread_t th[THREADS];
	char err[128];

	assert_int_equal(parse(shared_doc, B, &p, err, sizeof(err)), 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, eval_loop, p), 0);
	for (int i = 0; i < THREADS; i++) {
		void *r;
		pthread_join(th[i], &r);
		assert_int_equal((long)r, ROUNDS);
	}
	policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matrix),	  cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_sizes),	  cmocka_unit_test(test_parse_forms),
		cmocka_unit_test(test_is_public), cmocka_unit_test(test_many_values),
		cmocka_unit_test(test_threads),	  cmocka_unit_test(test_applicability),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests_name("auth/policy", tests, NULL, NULL);
}
