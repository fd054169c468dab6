/*
 * auth/policy.c — AWS policy documents: JSON (jansson) -> struct policy ->
 * policy_eval(). Layer: auth; no I/O, no clocks.
 *
 * Parsing compiles everything evaluation needs into the policy's arena:
 * action patterns; resource and condition-value templates split into text,
 * ${*}/${?}/${$} escapes and ${key, 'default'} variables; principals; and
 * condition values already read as numbers, dates (ms since the epoch),
 * CIDRs, booleans or bytes, so a malformed value fails at parse time.
 *
 * Matching walks "pieces" (a template resolved for one request) in place:
 * only text from the policy itself carries the * and ? wildcards; values
 * substituted from the request and the escapes match literally. Invariants:
 * a parsed policy is read-only; evaluation allocates only for a key with
 * more than POLICY_MAX_VALUES values.
 */
#include "auth/policy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/digest.h"
#include "core/err.h"
#include "core/pool.h"

#define MAX_PARTS 32 /* template parts in one value: keeps resolution on the stack */
#define BUCKET_ARN "arn:aws:s3:::"

/* ---- compiled form ---- */

enum part_kind {
	PART_TEXT, /* policy text: * and ? are wildcards where the operator allows */
	PART_CHAR, /* ${*} ${?} ${$}: one literal character */
	PART_VAR,  /* ${key} or ${key, 'default'} */
};

struct part {
	enum part_kind kind;
	const char *s; /* TEXT: the text; CHAR: the character; VAR: the key (NUL-terminated) */
	size_t len;
	const char *def; /* VAR: the default value, or NULL */
	size_t def_len;
};

struct tmpl {
	struct part *parts;
	int n;
	int has_var;
};

/* A resolved run of a template: wild says whether * and ? in it are wildcards. */
struct piece {
	const char *s;
	size_t len;
	int wild;
};

enum vtype { T_STR, T_STR_IC, T_LIKE, T_NUM, T_DATE, T_BOOL, T_BIN, T_IP, T_ARN, T_NULL };
enum cmp { CMP_EQ, CMP_LT, CMP_LE, CMP_GT, CMP_GE };

struct opdef {
	const char *name;
	enum vtype type;
	enum cmp cmp;
	int negate; /* the request value must match none of the policy values */
};

/* IAM JSON policy elements: Condition operators. */
static const struct opdef ops[] = {
	{"StringEquals", T_STR, CMP_EQ, 0},
	{"StringNotEquals", T_STR, CMP_EQ, 1},
	{"StringEqualsIgnoreCase", T_STR_IC, CMP_EQ, 0},
	{"StringNotEqualsIgnoreCase", T_STR_IC, CMP_EQ, 1},
	{"StringLike", T_LIKE, CMP_EQ, 0},
	{"StringNotLike", T_LIKE, CMP_EQ, 1},
	{"NumericEquals", T_NUM, CMP_EQ, 0},
	{"NumericNotEquals", T_NUM, CMP_EQ, 1},
	{"NumericLessThan", T_NUM, CMP_LT, 0},
	{"NumericLessThanEquals", T_NUM, CMP_LE, 0},
	{"NumericGreaterThan", T_NUM, CMP_GT, 0},
	{"NumericGreaterThanEquals", T_NUM, CMP_GE, 0},
	{"DateEquals", T_DATE, CMP_EQ, 0},
	{"DateNotEquals", T_DATE, CMP_EQ, 1},
	{"DateLessThan", T_DATE, CMP_LT, 0},
	{"DateLessThanEquals", T_DATE, CMP_LE, 0},
	{"DateGreaterThan", T_DATE, CMP_GT, 0},
	{"DateGreaterThanEquals", T_DATE, CMP_GE, 0},
	{"Bool", T_BOOL, CMP_EQ, 0},
	{"BinaryEquals", T_BIN, CMP_EQ, 0},
	{"IpAddress", T_IP, CMP_EQ, 0},
	{"NotIpAddress", T_IP, CMP_EQ, 1},
	{"ArnEquals", T_ARN, CMP_EQ, 0},
	{"ArnLike", T_ARN, CMP_EQ, 0},
	{"ArnNotEquals", T_ARN, CMP_EQ, 1},
	{"ArnNotLike", T_ARN, CMP_EQ, 1},
	{"Null", T_NULL, CMP_EQ, 0},
};

struct cidr {
	int fam; /* 4 or 6 */
	int bits;
	uint8_t a[16];
};

/* One policy value of a condition, in the form its operator compares. */
struct cval {
	struct tmpl t; /* T_STR, T_STR_IC, T_LIKE, T_ARN */
	double num;
	int64_t ms;
	struct cidr ip;
	int b; /* T_BOOL, T_NULL */
	const uint8_t *bin;
	size_t bin_len;
};

enum setq { SET_NONE, SET_ANY, SET_ALL };

struct cond {
	const struct opdef *op;
	int ifexists;
	enum setq set;
	const char *key;
	struct cval *v;
	int n;
};

enum pkind { PR_ANY, PR_ACCOUNT, PR_USER, PR_CANON, PR_SERVICE };

struct prin {
	enum pkind kind;
	const char *acct; /* PR_ACCOUNT, PR_USER */
	const char *name; /* PR_USER: user name; PR_CANON: canonical id */
};

struct stmt {
	int deny;
	const char *sid;
	int not_action;
	const char **act;
	size_t *act_len;
	int n_act;
	int not_res;
	struct tmpl *res;
	int n_res;
	int has_prin, not_prin;
	struct prin *prin;
	int n_prin;
	struct cond *cond;
	int n_cond;
};

struct policy {
	struct cn_pool pool;
	enum policy_kind kind;
	int vars; /* Version 2012-10-17: ${...} are variables */
	int is_public;
	struct stmt *st;
	int n_st;
};

/* ---- tables ---- */

/* Every S3 action of the Service Authorization Reference we know of, with
 * the resource it is about: an object, a bucket, or neither (0: the
 * account, access points, jobs, Storage Lens, Multi-Region Access Points),
 * which no bucket policy's resource names. The tagging of resources counts
 * for buckets (buckets are among its resources). */
enum { RT_BUCKET = 1, RT_OBJECT = 2 };
static const struct {
	const char *name;
	int rt;
} s3_actions[] = {
	{"AbortMultipartUpload", RT_OBJECT},
	{"BypassGovernanceRetention", RT_OBJECT},
	{"CreateAccessPoint", 0},
	{"CreateAccessPointForObjectLambda", 0},
	{"CreateBucket", RT_BUCKET},
	{"CreateJob", 0},
	{"CreateMultiRegionAccessPoint", 0},
	{"CreateSession", 0},
	{"DeleteAccessPoint", 0},
	{"DeleteAccessPointForObjectLambda", 0},
	{"DeleteAccessPointPolicy", 0},
	{"DeleteAccessPointPolicyForObjectLambda", 0},
	{"DeleteBucket", RT_BUCKET},
	{"DeleteBucketOwnershipControls", RT_BUCKET},
	{"DeleteBucketPolicy", RT_BUCKET},
	{"DeleteBucketWebsite", RT_BUCKET},
	{"DeleteJobTagging", 0},
	{"DeleteMultiRegionAccessPoint", 0},
	{"DeleteObject", RT_OBJECT},
	{"DeleteObjectTagging", RT_OBJECT},
	{"DeleteObjectVersion", RT_OBJECT},
	{"DeleteObjectVersionTagging", RT_OBJECT},
	{"DeleteStorageLensConfiguration", 0},
	{"DeleteStorageLensConfigurationTagging", 0},
	{"DescribeJob", 0},
	{"DescribeMultiRegionAccessPointOperation", 0},
	{"GetAccelerateConfiguration", RT_BUCKET},
	{"GetAccessPoint", 0},
	{"GetAccessPointConfigurationForObjectLambda", 0},
	{"GetAccessPointForObjectLambda", 0},
	{"GetAccessPointPolicy", 0},
	{"GetAccessPointPolicyForObjectLambda", 0},
	{"GetAccessPointPolicyStatus", 0},
	{"GetAccessPointPolicyStatusForObjectLambda", 0},
	{"GetAccountPublicAccessBlock", 0},
	{"GetAnalyticsConfiguration", RT_BUCKET},
	{"GetBucketAcl", RT_BUCKET},
	{"GetBucketCORS", RT_BUCKET},
	{"GetBucketLocation", RT_BUCKET},
	{"GetBucketLogging", RT_BUCKET},
	{"GetBucketNotification", RT_BUCKET},
	{"GetBucketObjectLockConfiguration", RT_BUCKET},
	{"GetBucketOwnershipControls", RT_BUCKET},
	{"GetBucketPolicy", RT_BUCKET},
	{"GetBucketPolicyStatus", RT_BUCKET},
	{"GetBucketPublicAccessBlock", RT_BUCKET},
	{"GetBucketRequestPayment", RT_BUCKET},
	{"GetBucketTagging", RT_BUCKET},
	{"GetBucketVersioning", RT_BUCKET},
	{"GetBucketWebsite", RT_BUCKET},
	{"GetEncryptionConfiguration", RT_BUCKET},
	{"GetIntelligentTieringConfiguration", RT_BUCKET},
	{"GetInventoryConfiguration", RT_BUCKET},
	{"GetJobTagging", 0},
	{"GetLifecycleConfiguration", RT_BUCKET},
	{"GetMetricsConfiguration", RT_BUCKET},
	{"GetMultiRegionAccessPoint", 0},
	{"GetMultiRegionAccessPointPolicy", 0},
	{"GetMultiRegionAccessPointPolicyStatus", 0},
	{"GetMultiRegionAccessPointRoutes", 0},
	{"GetObject", RT_OBJECT},
	{"GetObjectAcl", RT_OBJECT},
	{"GetObjectAttributes", RT_OBJECT},
	{"GetObjectLegalHold", RT_OBJECT},
	{"GetObjectRetention", RT_OBJECT},
	{"GetObjectTagging", RT_OBJECT},
	{"GetObjectTorrent", RT_OBJECT},
	{"GetObjectVersion", RT_OBJECT},
	{"GetObjectVersionAcl", RT_OBJECT},
	{"GetObjectVersionAttributes", RT_OBJECT},
	{"GetObjectVersionForReplication", RT_OBJECT},
	{"GetObjectVersionTagging", RT_OBJECT},
	{"GetObjectVersionTorrent", RT_OBJECT},
	{"GetReplicationConfiguration", RT_BUCKET},
	{"GetStorageLensConfiguration", 0},
	{"GetStorageLensConfigurationTagging", 0},
	{"GetStorageLensDashboard", 0},
	{"InitiateReplication", RT_OBJECT},
	{"ListAccessPoints", 0},
	{"ListAccessPointsForObjectLambda", 0},
	{"ListAllMyBuckets", 0},
	{"ListBucket", RT_BUCKET},
	{"ListBucketMultipartUploads", RT_BUCKET},
	{"ListBucketVersions", RT_BUCKET},
	{"ListJobs", 0},
	{"ListMultiRegionAccessPoints", 0},
	{"ListMultipartUploadParts", RT_OBJECT},
	{"ListStorageLensConfigurations", 0},
	{"ListTagsForResource", RT_BUCKET},
	{"ObjectOwnerOverrideToBucketOwner", RT_OBJECT},
	{"PutAccelerateConfiguration", RT_BUCKET},
	{"PutAccessPointConfigurationForObjectLambda", 0},
	{"PutAccessPointPolicy", 0},
	{"PutAccessPointPolicyForObjectLambda", 0},
	{"PutAccessPointPublicAccessBlock", 0},
	{"PutAccountPublicAccessBlock", 0},
	{"PutAnalyticsConfiguration", RT_BUCKET},
	{"PutBucketAcl", RT_BUCKET},
	{"PutBucketCORS", RT_BUCKET},
	{"PutBucketLogging", RT_BUCKET},
	{"PutBucketNotification", RT_BUCKET},
	{"PutBucketObjectLockConfiguration", RT_BUCKET},
	{"PutBucketOwnershipControls", RT_BUCKET},
	{"PutBucketPolicy", RT_BUCKET},
	{"PutBucketPublicAccessBlock", RT_BUCKET},
	{"PutBucketRequestPayment", RT_BUCKET},
	{"PutBucketTagging", RT_BUCKET},
	{"PutBucketVersioning", RT_BUCKET},
	{"PutBucketWebsite", RT_BUCKET},
	{"PutEncryptionConfiguration", RT_BUCKET},
	{"PutIntelligentTieringConfiguration", RT_BUCKET},
	{"PutInventoryConfiguration", RT_BUCKET},
	{"PutJobTagging", 0},
	{"PutLifecycleConfiguration", RT_BUCKET},
	{"PutMetricsConfiguration", RT_BUCKET},
	{"PutMultiRegionAccessPointPolicy", 0},
	{"PutObject", RT_OBJECT},
	{"PutObjectAcl", RT_OBJECT},
	{"PutObjectLegalHold", RT_OBJECT},
	{"PutObjectRetention", RT_OBJECT},
	{"PutObjectTagging", RT_OBJECT},
	{"PutObjectVersionAcl", RT_OBJECT},
	{"PutObjectVersionTagging", RT_OBJECT},
	{"PutReplicationConfiguration", RT_BUCKET},
	{"PutStorageLensConfiguration", 0},
	{"PutStorageLensConfigurationTagging", 0},
	{"ReplicateDelete", RT_OBJECT},
	{"ReplicateObject", RT_OBJECT},
	{"ReplicateTags", RT_OBJECT},
	{"RestoreObject", RT_OBJECT},
	{"SubmitMultiRegionAccessPointRoutes", 0},
	{"TagResource", RT_BUCKET},
	{"UntagResource", RT_BUCKET},
	{"UpdateJobPriority", 0},
	{"UpdateJobStatus", 0},
};

/* Condition keys a bucket policy may name (S3 refuses others, as AWS does). */
static const char *const known_keys[] = {
	"aws:CalledVia",
	"aws:CalledViaFirst",
	"aws:CalledViaLast",
	"aws:CurrentTime",
	"aws:EpochTime",
	"aws:FederatedProvider",
	"aws:MultiFactorAuthAge",
	"aws:MultiFactorAuthPresent",
	"aws:PrincipalAccount",
	"aws:PrincipalArn",
	"aws:PrincipalIsAWSService",
	"aws:PrincipalOrgID",
	"aws:PrincipalOrgPaths",
	"aws:PrincipalServiceName",
	"aws:PrincipalServiceNamesList",
	"aws:PrincipalType",
	"aws:referer",
	"aws:RequestedRegion",
	"aws:ResourceAccount",
	"aws:ResourceOrgID",
	"aws:ResourceOrgPaths",
	"aws:SecureTransport",
	"aws:SourceAccount",
	"aws:SourceArn",
	"aws:SourceIdentity",
	"aws:SourceIp",
	"aws:SourceOrgID",
	"aws:SourceOrgPaths",
	"aws:SourceOwner",
	"aws:SourceVpc",
	"aws:SourceVpce",
	"aws:TagKeys",
	"aws:TokenIssueTime",
	"aws:UserAgent",
	"aws:userid",
	"aws:username",
	"aws:ViaAWSService",
	"aws:VpcSourceIp",
	"s3:AccessPointNetworkOrigin",
	"s3:authType",
	"s3:DataAccessPointAccount",
	"s3:DataAccessPointArn",
	"s3:delimiter",
	"s3:ExistingJobOperation",
	"s3:ExistingJobPriority",
	"s3:if-match",
	"s3:if-none-match",
	"s3:JobSuspendedCause",
	"s3:LocationConstraint",
	"s3:max-keys",
	"s3:ObjectCreationOperation",
	"s3:object-lock-legal-hold",
	"s3:object-lock-mode",
	"s3:object-lock-remaining-retention-days",
	"s3:object-lock-retain-until-date",
	"s3:prefix",
	"s3:RequestJobOperation",
	"s3:RequestJobPriority",
	"s3:RequestObjectTagKeys",
	"s3:ResourceAccount",
	"s3:signatureAge",
	"s3:signatureversion",
	"s3:TlsVersion",
	"s3:versionid",
	"s3:x-amz-acl",
	"s3:x-amz-content-sha256",
	"s3:x-amz-copy-source",
	"s3:x-amz-grant-full-control",
	"s3:x-amz-grant-read",
	"s3:x-amz-grant-read-acp",
	"s3:x-amz-grant-write",
	"s3:x-amz-grant-write-acp",
	"s3:x-amz-metadata-directive",
	"s3:x-amz-object-ownership",
	"s3:x-amz-server-side-encryption",
	"s3:x-amz-server-side-encryption-aws-kms-key-id",
	"s3:x-amz-server-side-encryption-customer-algorithm",
	"s3:x-amz-storage-class",
	"s3:x-amz-website-redirect-location",
};

/* Keys that take a name after the slash (tag keys). */
static const char *const known_key_prefixes[] = {
	"aws:PrincipalTag/",	 "aws:RequestTag/",	 "aws:ResourceTag/",
	"s3:ExistingObjectTag/", "s3:RequestObjectTag/",
};

/* Keys that, compared to fixed values, keep a "*" grant from being public
 * (S3 Block Public Access, "The meaning of public"); aws:SourceIp counts
 * through IpAddress only. */
static const char *const pinning_keys[] = {
	"aws:PrincipalAccount",
	"aws:PrincipalArn",
	"aws:PrincipalOrgID",
	"aws:SourceAccount",
	"aws:SourceArn",
	"aws:SourceOwner",
	"aws:SourceVpc",
	"aws:SourceVpce",
	"aws:userid",
	"aws:username",
	"s3:DataAccessPointAccount",
	"s3:DataAccessPointArn",
	"s3:x-amz-server-side-encryption-aws-kms-key-id",
};

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

static int in_list(const char *const *list, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (strcasecmp(list[i], s) == 0)
			return 1;
	return 0;
}

/* ---- matching ---- */

static int fold(int ch, int icase)
{
	ch = (unsigned char)ch;
	return icase ? tolower(ch) : ch;
}

struct cur {
	int i;
	size_t off;
};

static void cur_norm(const struct piece *p, int np, struct cur *c)
{
	while (c->i < np && c->off >= p[c->i].len) {
		c->i++;
		c->off = 0;
	}
}

/* Wildcard match over pieces: * any run (crossing '/' and ':'), ? one byte, both only
 * in wild pieces. Iterative with one backtrack point, so linear memory and
 * O(pattern * subject) time at worst. */
static int wild_match(const struct piece *p, int np, const char *s, size_t n, int icase)
{
	struct cur c = {0, 0}, star = {-1, 0};
	size_t si = 0, star_si = 0;

	for (;;) {
		cur_norm(p, np, &c);
		if (c.i < np) {
			const struct piece *pc = &p[c.i];
			char ch = pc->s[c.off];
			if (pc->wild && ch == '*') {
				c.off++;
				star = c;
				star_si = si;
				continue;
			}
			if (si < n &&
			    ((pc->wild && ch == '?') || fold(ch, icase) == fold(s[si], icase))) {
				c.off++;
				si++;
				continue;
			}
		} else if (si == n) {
			return 1;
		}
		if (star.i < 0 || star_si >= n)
			return 0;
		si = ++star_si;
		c = star;
	}
}

/* Splits pieces at their first five ':' into the six ARN components:
 * component k is out[start[k] .. start[k+1]). 0 when there are fewer. */
static int arn_split(const struct piece *p, int np, struct piece *out, int start[7])
{
	int k = 0, no = 0;

	start[0] = 0;
	for (int i = 0; i < np; i++) {
		size_t from = 0;
		for (size_t j = 0; j < p[i].len && k < 5; j++) {
			if (p[i].s[j] != ':')
				continue;
			out[no++] = (struct piece){p[i].s + from, j - from, p[i].wild};
			start[++k] = no;
			from = j + 1;
		}
		out[no++] = (struct piece){p[i].s + from, p[i].len - from, p[i].wild};
	}
	start[6] = no;
	return k == 5;
}

/* ArnEquals/ArnLike: each of the six components is matched on its own, so a
 * wildcard never spans a ':' of the first five. A pattern that is not an
 * ARN ("*") is matched as a whole. */
static int arn_match(const struct piece *p, int np, const char *s, size_t n)
{
	struct piece sp[MAX_PARTS + 5];
	int st[7];
	size_t vb[6];
	int k = 0;

	if (!arn_split(p, np, sp, st))
		return wild_match(p, np, s, n, 0);
	vb[0] = 0;
	for (size_t j = 0; j < n && k < 5; j++)
		if (s[j] == ':')
			vb[++k] = j + 1;
	if (k < 5)
		return 0;
	for (int i = 0; i < 6; i++) {
		size_t b = vb[i], e = i < 5 ? vb[i + 1] - 1 : n;
		if (!wild_match(sp + st[i], st[i + 1] - st[i], s + b, e - b, 0))
			return 0;
	}
	return 1;
}

/* ---- request context ---- */

/* The values of key for req: aws:username and aws:PrincipalAccount come
 * from the request's identity, the rest from the caller's lookup. Returns
 * the count (may exceed max). */
static int ctx_get(const struct policy_request *req, const char *key, const char **vals,
		   size_t *lens, int max)
{
	const char *fixed;
	int n;

	if (strcasecmp(key, "aws:username") == 0)
		fixed = req->anonymous ? NULL : req->user;
	else if (strcasecmp(key, "aws:PrincipalAccount") == 0)
		fixed = req->anonymous ? NULL : req->account_id;
	else {
		n = req->lookup ? req->lookup(req->arg, key, vals, lens, max) : 0;
		return n < 0 ? 0 : n;
	}
	if (fixed == NULL)
		return 0;
	if (max > 0) {
		vals[0] = fixed;
		lens[0] = strlen(fixed);
	}
	return 1;
}

/* Resolves t for req into pieces (out has MAX_PARTS slots). Variables need
 * exactly one value (AWS: multivalued keys are no variables) or a default.
 * Returns the piece count, or -1 when a variable stays unresolved: the
 * value then matches nothing. */
static int resolve(const struct tmpl *t, const struct policy_request *req, int wild,
		   struct piece *out)
{
	for (int i = 0; i < t->n; i++) {
		const struct part *pt = &t->parts[i];
		const char *v;
		size_t vl;
		switch (pt->kind) {
		case PART_TEXT: out[i] = (struct piece){pt->s, pt->len, wild}; break;
		case PART_CHAR: out[i] = (struct piece){pt->s, 1, 0}; break;
		case PART_VAR:
			if (ctx_get(req, pt->s, &v, &vl, 1) == 1)
				out[i] = (struct piece){v, vl, 0};
			else if (pt->def != NULL)
				out[i] = (struct piece){pt->def, pt->def_len, 0};
			else
				return -1;
			break;
		}
	}
	return t->n;
}

/* ---- value syntax shared by parse and eval ---- */

/* A decimal number: [+-]digits[.digits][e[+-]digits]. strtod is only
 * reached with that syntax (no hex, inf, nan; cairn keeps the C locale). */
static int parse_num(const char *s, size_t n, double *out)
{
	char buf[64];
	size_t i = 0, d = 0;

	if (n == 0 || n >= sizeof(buf))
		return -1;
	if (s[i] == '+' || s[i] == '-')
		i++;
	for (; i < n && isdigit((unsigned char)s[i]); i++)
		d++;
	if (i < n && s[i] == '.')
		for (i++; i < n && isdigit((unsigned char)s[i]); i++)
			d++;
	if (d == 0)
		return -1;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t e = 0;
		if (++i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		for (; i < n && isdigit((unsigned char)s[i]); i++)
			e++;
		if (e == 0)
			return -1;
	}
	if (i != n)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	*out = strtod(buf, NULL);
	return isfinite(*out) ? 0 : -1;
}

static int get_digits(const char *s, size_t n, size_t *i, int k, int *out)
{
	int v = 0;

	if (*i + (size_t)k > n)
		return -1;
	for (int j = 0; j < k; j++) {
		char ch = s[*i + j];
		if (!isdigit((unsigned char)ch))
			return -1;
		v = v * 10 + (ch - '0');
	}
	*i += k;
	*out = v;
	return 0;
}

static int days_in_month(int y, int m)
{
	static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : dm[m - 1];
}

/* A date as the Date operators take it: epoch seconds (digits only), ISO
 * 8601 "YYYY-MM-DD[Thh:mm[:ss[.fff]]][Z|+hh:mm|+hhmm]" (UTC when no zone)
 * or the compact "YYYYMMDDThhmmssZ" of x-amz-date. Milliseconds since the
 * epoch into *ms. */
static int parse_date(const char *s, size_t n, int64_t *ms)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0;
	size_t i = 0, j;
	int64_t off = 0;

	for (j = 0; j < n && isdigit((unsigned char)s[j]); j++)
		;
	if (j == n) { /* epoch seconds */
		int64_t v = 0;
		if (n == 0 || n > 15)
			return -1;
		for (j = 0; j < n; j++)
			v = v * 10 + (s[j] - '0');
		*ms = v * 1000;
		return 0;
	}
	if (n == 16 && s[8] == 'T' && s[15] == 'Z') { /* YYYYMMDDThhmmssZ */
		if (get_digits(s, n, &i, 4, &y) || get_digits(s, n, &i, 2, &mo) ||
		    get_digits(s, n, &i, 2, &d) || s[i++] != 'T' || get_digits(s, n, &i, 2, &h) ||
		    get_digits(s, n, &i, 2, &mi) || get_digits(s, n, &i, 2, &sec))
			return -1;
		i++;
	} else {
		if (get_digits(s, n, &i, 4, &y) || i >= n || s[i++] != '-' ||
		    get_digits(s, n, &i, 2, &mo) || i >= n || s[i++] != '-' ||
		    get_digits(s, n, &i, 2, &d))
			return -1;
		if (i < n && s[i] == 'T') {
			i++;
			if (get_digits(s, n, &i, 2, &h) || i >= n || s[i++] != ':' ||
			    get_digits(s, n, &i, 2, &mi))
				return -1;
			if (i < n && s[i] == ':') {
				i++;
				if (get_digits(s, n, &i, 2, &sec))
					return -1;
				if (i < n && s[i] == '.') {
					int k = 0, dig;
					for (i++; i < n && isdigit((unsigned char)s[i]); i++, k++)
						if (k < 3)
							frac = frac * 10 + (s[i] - '0');
					if (k == 0)
						return -1;
					for (dig = k; dig < 3; dig++)
						frac *= 10;
				}
			}
		}
		if (i < n && s[i] == 'Z') {
			i++;
		} else if (i < n && (s[i] == '+' || s[i] == '-')) {
			int sign = s[i++] == '-' ? -1 : 1, oh, om;
			if (get_digits(s, n, &i, 2, &oh))
				return -1;
			if (i < n && s[i] == ':')
				i++;
			if (get_digits(s, n, &i, 2, &om) || oh > 23 || om > 59)
				return -1;
			off = sign * (int64_t)(oh * 3600 + om * 60);
		}
	}
	if (i != n || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
	    sec > 59)
		return -1;
	*ms = ((cn_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) - off) * 1000 +
	      frac;
	return 0;
}

/* "a.b.c.d", "x:y::z", optionally "/bits" when allow_prefix. Host bits are
 * cleared; an IPv4-mapped IPv6 address becomes IPv4 so either spelling of
 * a client address matches an IPv4 CIDR. */
static int parse_cidr(const char *s, size_t n, int allow_prefix, struct cidr *out)
{
	char buf[INET6_ADDRSTRLEN + 8];
	char *slash;
	int max;

	if (n == 0 || n >= sizeof(buf) || memchr(s, '\0', n) != NULL)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(out, 0, sizeof(*out));
	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash++ = '\0';
	if (strchr(buf, ':') != NULL) {
		if (inet_pton(AF_INET6, buf, out->a) != 1)
			return -1;
		out->fam = 6;
		max = 128;
	} else {
		if (inet_pton(AF_INET, buf, out->a) != 1)
			return -1;
		out->fam = 4;
		max = 32;
	}
	out->bits = max;
	if (slash != NULL) {
		size_t k = strlen(slash);
		if (!allow_prefix || k == 0 || k > 3 || strspn(slash, "0123456789") != k)
			return -1;
		out->bits = atoi(slash);
		if (out->bits > max)
			return -1;
	}
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (out->fam == 6 && out->bits >= 96 && memcmp(out->a, mapped, 12) == 0) {
		memmove(out->a, out->a + 12, 4);
		memset(out->a + 4, 0, 12);
		out->fam = 4;
		out->bits -= 96;
	}
	for (int b = out->bits; b < max; b++)
		out->a[b / 8] &= (uint8_t) ~(0x80u >> (b % 8));
	return 0;
}

static int cidr_contains(const struct cidr *net, const struct cidr *a)
{
	int full = net->bits / 8, rest = net->bits % 8;

	if (net->fam != a->fam || memcmp(net->a, a->a, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	uint8_t mask = (uint8_t)(0xffu << (8 - rest));
	return (net->a[full] & mask) == (a->a[full] & mask);
}

/* "true"/"false" in any case: 1, 0, or -1. */
static int parse_bool(const char *s, size_t n)
{
	if (n == 4 && strncasecmp(s, "true", 4) == 0)
		return 1;
	if (n == 5 && strncasecmp(s, "false", 5) == 0)
		return 0;
	return -1;
}

/* ---- evaluation ---- */

static int cmp_ok(enum cmp c, double x, double y)
{
	switch (c) {
	case CMP_EQ: return x == y;
	case CMP_LT: return x < y;
	case CMP_LE: return x <= y;
	case CMP_GT: return x > y;
	case CMP_GE: return x >= y;
	}
	return 0;
}

static int cmp_ok_i(enum cmp c, int64_t x, int64_t y)
{
	switch (c) {
	case CMP_EQ: return x == y;
	case CMP_LT: return x < y;
	case CMP_LE: return x <= y;
	case CMP_GT: return x > y;
	case CMP_GE: return x >= y;
	}
	return 0;
}

/* 1 when the request value v matches at least one of c's policy values,
 * in the operator's positive sense (negation is applied by the caller). A
 * request value of the wrong shape (not a number, date, address) matches
 * nothing. */
static int value_match(const struct cond *c, const struct policy_request *req, const char *v,
		       size_t vl)
{
	struct piece pc[MAX_PARTS];
	enum vtype t = c->op->type;
	double x;
	int64_t ms;
	struct cidr ip;
	int b, np;

	switch (t) {
	case T_STR:
	case T_STR_IC:
	case T_LIKE:
	case T_ARN:
		for (int i = 0; i < c->n; i++) {
			np = resolve(&c->v[i].t, req, t == T_LIKE || t == T_ARN, pc);
			if (np < 0)
				continue;
			if (t == T_ARN ? arn_match(pc, np, v, vl)
				       : wild_match(pc, np, v, vl, t == T_STR_IC))
				return 1;
		}
		return 0;
	case T_NUM:
		if (parse_num(v, vl, &x) != 0)
			return 0;
		for (int i = 0; i < c->n; i++)
			if (cmp_ok(c->op->cmp, x, c->v[i].num))
				return 1;
		return 0;
	case T_DATE:
		if (parse_date(v, vl, &ms) != 0)
			return 0;
		for (int i = 0; i < c->n; i++)
			if (cmp_ok_i(c->op->cmp, ms, c->v[i].ms))
				return 1;
		return 0;
	case T_BOOL:
		b = parse_bool(v, vl);
		for (int i = 0; i < c->n && b >= 0; i++)
			if (c->v[i].b == b)
				return 1;
		return 0;
	case T_IP:
		if (parse_cidr(v, vl, 0, &ip) != 0)
			return 0;
		for (int i = 0; i < c->n; i++)
			if (cidr_contains(&c->v[i].ip, &ip))
				return 1;
		return 0;
	case T_BIN:
		for (int i = 0; i < c->n; i++)
			if (c->v[i].bin_len == vl && memcmp(c->v[i].bin, v, vl) == 0)
				return 1;
		return 0;
	case T_NULL: break; /* decided on presence alone, in cond_values() */
	}
	return 0;
}

/* AWS condition rules over the n request values of c's key. */
static int cond_values(const struct cond *c, const struct policy_request *req, const char **vals,
		       const size_t *lens, int n)
{
	int neg = c->op->negate;

	if (c->op->type == T_NULL) { /* "true": the key must be absent */
		for (int i = 0; i < c->n; i++)
			if (c->v[i].b == (n == 0))
				return 1;
		return 0;
	}
	if (n == 0) {
		if (c->set == SET_ALL)
			return 1; /* vacuously: every one of no values */
		if (c->set == SET_ANY)
			return 0; /* AWS: even with IfExists */
		return c->ifexists || neg;
	}
	if (c->set == SET_ALL) { /* every value passes the (negated) operator */
		for (int i = 0; i < n; i++)
			if (value_match(c, req, vals[i], lens[i]) == neg)
				return 0;
		return 1;
	}
	if (c->set == SET_ANY) { /* one value passes the (negated) operator */
		for (int i = 0; i < n; i++)
			if (value_match(c, req, vals[i], lens[i]) != neg)
				return 1;
		return 0;
	}
	/* no qualifier: a positive operator wants one value to match, a
	 * negated one wants no value to match any policy value */
	for (int i = 0; i < n; i++)
		if (value_match(c, req, vals[i], lens[i]))
			return !neg;
	return neg;
}

/* 1/0, or -1 when the values of a many-valued key cannot be held. */
static int cond_eval(const struct cond *c, const struct policy_request *req)
{
	const char *vbuf[POLICY_MAX_VALUES];
	size_t lbuf[POLICY_MAX_VALUES];
	const char **vals = vbuf;
	size_t *lens = lbuf;
	int n, rc;

	n = ctx_get(req, c->key, vals, lens, POLICY_MAX_VALUES);
	if (n > POLICY_MAX_VALUES) {
		int m;
		vals = malloc((size_t)n * sizeof(*vals));
		lens = malloc((size_t)n * sizeof(*lens));
		if (vals == NULL || lens == NULL) {
			rc = -1;
			goto out;
		}
		m = ctx_get(req, c->key, vals, lens, n);
		n = m < n ? m : n;
	}
	rc = cond_values(c, req, vals, lens, n);
out:
	if (vals != vbuf) {
		free(vals);
		free(lens);
	}
	return rc;
}

static int action_match(const struct stmt *s, const char *action)
{
	size_t n = strlen(action);

	for (int i = 0; i < s->n_act; i++) {
		struct piece pc = {s->act[i], s->act_len[i], 1};
		if (wild_match(&pc, 1, action, n, 1))
			return !s->not_action;
	}
	return s->not_action;
}

static int resource_match(const struct stmt *s, const struct policy_request *req)
{
	struct piece pc[MAX_PARTS];
	size_t n = strlen(req->resource);

	for (int i = 0; i < s->n_res; i++) {
		int np = resolve(&s->res[i], req, 1, pc);
		if (np >= 0 && wild_match(pc, np, req->resource, n, 0))
			return !s->not_res;
	}
	return s->not_res;
}

static int prin_hit(const struct prin *pr, const struct policy_request *req)
{
	if (pr->kind == PR_ANY)
		return 1;
	if (req->anonymous)
		return 0;
	switch (pr->kind) {
	case PR_ACCOUNT: return req->account_id && strcmp(pr->acct, req->account_id) == 0;
	case PR_USER:
		return req->account_id && req->user && strcmp(pr->acct, req->account_id) == 0 &&
		       strcmp(pr->name, req->user) == 0;
	case PR_CANON: return req->canonical_id && strcasecmp(pr->name, req->canonical_id) == 0;
	case PR_ANY:
	case PR_SERVICE: break;
	}
	return 0;
}

static int principal_match(const struct stmt *s, const struct policy_request *req)
{
	for (int i = 0; i < s->n_prin; i++) {
		/* An account as the principal of an Allow delegates to the
		 * account: its users still need an identity policy of their own
		 * (IAM: a resource policy grants a user directly only when it
		 * names that user). So the Allow reaches the account's root
		 * alone; a Deny naming the account reaches everyone in it. */
		if (s->prin[i].kind == PR_ACCOUNT && !s->deny && !s->not_prin && req->user)
			continue;
		if (prin_hit(&s->prin[i], req))
			return !s->not_prin;
	}
	return s->not_prin;
}

/* 1 when s applies to req, 0 when not, -1 on allocation failure. */
static int stmt_match(const struct stmt *s, const struct policy_request *req)
{
	if (!action_match(s, req->action) || !resource_match(s, req))
		return 0;
	if (s->has_prin && !principal_match(s, req))
		return 0;
	for (int i = 0; i < s->n_cond; i++) {
		int rc = cond_eval(&s->cond[i], req);
		if (rc <= 0)
			return rc;
	}
	return 1;
}

enum policy_effect policy_eval(const struct policy *p, const struct policy_request *req)
{
	struct policy_request r = *req;
	int allow = 0;

	if (r.action == NULL)
		r.action = "";
	if (r.resource == NULL)
		r.resource = "";
	/* policy evaluation logic: an explicit deny wins, then any allow */
	for (int i = 0; i < p->n_st; i++) {
		int rc = stmt_match(&p->st[i], &r);
		if (rc < 0 || (rc > 0 && p->st[i].deny))
			return POLICY_DENY;
		allow |= rc;
	}
	return allow ? POLICY_ALLOW : POLICY_NONE;
}

/* ---- public-ness (S3 Block Public Access, "The meaning of public") ---- */

static int tmpl_fixed(const struct tmpl *t)
{
	if (t->has_var)
		return 0;
	for (int i = 0; i < t->n; i++)
		if (t->parts[i].kind == PART_TEXT && (memchr(t->parts[i].s, '*', t->parts[i].len) ||
						      memchr(t->parts[i].s, '?', t->parts[i].len)))
			return 0;
	return 1;
}

/* Whether c restricts every caller to fixed values: a positive operator that
 * is false when the key is absent, over fixed values of a pinning key. */
static int cond_pins(const struct cond *c)
{
	enum vtype t = c->op->type;

	if (c->op->negate || c->ifexists || c->set == SET_ALL)
		return 0;
	if (strcasecmp(c->key, "aws:SourceIp") == 0) {
		if (t != T_IP)
			return 0;
		for (int i = 0; i < c->n; i++)
			if (c->v[i].ip.bits == 0)
				return 0;
		return 1;
	}
	if (!in_list(pinning_keys, NELEM(pinning_keys), c->key))
		return 0;
	if (t != T_STR && t != T_STR_IC && t != T_LIKE && t != T_ARN)
		return 0;
	for (int i = 0; i < c->n; i++)
		if (!tmpl_fixed(&c->v[i].t))
			return 0;
	return 1;
}

static int stmt_public(const struct stmt *s)
{
	int star = 0;

	if (s->deny || !s->has_prin)
		return 0;
	for (int i = 0; i < s->n_prin; i++)
		star |= s->prin[i].kind == PR_ANY;
	/* NotPrincipal grants everyone but a few, unless it excludes "*" */
	if (s->not_prin ? star : !star)
		return 0;
	for (int i = 0; i < s->n_cond; i++)
		if (cond_pins(&s->cond[i]))
			return 0;
	return 1;
}

int policy_is_public(const struct policy *p)
{
	return p->is_public;
}

/* ---- parsing ---- */

struct pctx {
	struct policy *p;
	const char *bucket;
	char *err;
	size_t errcap;
};

static int fail(struct pctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct pctx *c, const char *fmt, ...)
{
	va_list ap;

	if (c->err != NULL && c->errcap > 0) {
		va_start(ap, fmt);
		vsnprintf(c->err, c->errcap, fmt, ap);
		va_end(ap);
	}
	return CN_EBADARG;
}

/* Element values: a string (or other scalar) alone, or an array of them. */
static size_t list_n(json_t *v)
{
	return json_is_array(v) ? json_array_size(v) : 1;
}

static json_t *list_at(json_t *v, size_t i)
{
	return json_is_array(v) ? json_array_get(v, i) : v;
}

static void *palloc(struct pctx *c, size_t n, size_t size)
{
	return cn_pool_zalloc(&c->p->pool, n * size);
}

static char *pdup(struct pctx *c, const char *s, size_t len)
{
	return cn_pool_strndup(&c->p->pool, s, len);
}

/* Scans "${" at s[0..] (n bytes from there) and returns the length of the
 * whole "${...}" construct, or 0 when it is not one (kept as text). */
static size_t var_len(const char *s, size_t n)
{
	int quoted = 0;

	for (size_t i = 2; i < n; i++) {
		if (s[i] == '\'')
			quoted = !quoted;
		else if (s[i] == '}' && !quoted)
			return i + 1;
	}
	return 0;
}

/* strchr() would find the terminator for ch == 0. */
static int in_set(int ch, const char *set)
{
	return ch != '\0' && strchr(set, ch) != NULL;
}

static int key_char(int ch)
{
	return isalnum(ch) || in_set(ch, ":_-./+=@");
}

/* Fills *pt from the inside of "${...}": an escape, or a key with an
 * optional quoted default ('' is a quote). 0, -1 when malformed (the text
 * is then kept literally), or CN_ENOMEM. */
static int var_parse(struct pctx *c, const char *s, size_t n, struct part *pt)
{
	size_t b = 0, e, k;

	while (b < n && s[b] == ' ')
		b++;
	while (n > b && s[n - 1] == ' ')
		n--;
	if (n - b == 1 && in_set(s[b], "*?$")) {
		pt->kind = PART_CHAR;
		pt->s = s + b;
		pt->len = 1;
		return 0;
	}
	for (e = b; e < n && key_char((unsigned char)s[e]); e++)
		;
	if (e == b || memchr(s + b, ':', e - b) == NULL)
		return -1;
	pt->kind = PART_VAR;
	pt->len = e - b;
	pt->s = pdup(c, s + b, e - b);
	if (pt->s == NULL)
		return CN_ENOMEM;
	for (k = e; k < n && s[k] == ' '; k++)
		;
	if (k == n)
		return 0;
	if (s[k] != ',')
		return -1;
	for (k++; k < n && s[k] == ' '; k++)
		;
	if (n - k < 2 || s[k] != '\'' || s[n - 1] != '\'')
		return -1;
	char *d = palloc(c, n - k, 1);
	size_t dl = 0;
	if (d == NULL)
		return CN_ENOMEM;
	for (size_t i = k + 1; i < n - 1; i++) {
		if (s[i] == '\'') {
			if (i + 1 >= n - 1 || s[i + 1] != '\'')
				return -1;
			i++;
		}
		d[dl++] = s[i];
	}
	pt->def = d;
	pt->def_len = dl;
	return 0;
}

/* Compiles a string of the policy into a template. Variables are only
 * recognised in Version 2012-10-17 documents; before, "${" is text. */
static int tmpl_compile(struct pctx *c, const char *str, size_t len, struct tmpl *t)
{
	struct part tmp[MAX_PARTS];
	const char *s = pdup(c, str, len);
	size_t i = 0, lit = 0;
	int n = 0, rc;

	if (s == NULL)
		return CN_ENOMEM;
	memset(t, 0, sizeof(*t));
	while (c->p->vars && i + 1 < len) {
		size_t vl;
		struct part pt = {0};
		if (s[i] != '$' || s[i + 1] != '{' || (vl = var_len(s + i, len - i)) == 0) {
			i++;
			continue;
		}
		rc = var_parse(c, s + i + 2, vl - 3, &pt);
		if (rc == CN_ENOMEM)
			return rc;
		if (rc != 0) {
			i += 2;
			continue;
		}
		if (n + 3 > MAX_PARTS) /* room for this, a text before, a text after */
			return fail(c, "Policy has too many variables in one value");
		if (i > lit)
			tmp[n++] = (struct part){PART_TEXT, s + lit, i - lit, NULL, 0};
		tmp[n++] = pt;
		t->has_var |= pt.kind == PART_VAR;
		i += vl;
		lit = i;
	}
	if (len > lit || n == 0)
		tmp[n++] = (struct part){PART_TEXT, s + lit, len - lit, NULL, 0};
	t->parts = palloc(c, (size_t)n, sizeof(*t->parts));
	if (t->parts == NULL)
		return CN_ENOMEM;
	memcpy(t->parts, tmp, (size_t)n * sizeof(*tmp));
	t->n = n;
	return 0;
}

static int is_digits(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

static int parse_action(struct pctx *c, const char *a, size_t len)
{
	const char *colon = memchr(a, ':', len);
	const char *name;
	size_t sl, nl;

	if (len == 1 && a[0] == '*')
		return 0;
	if (colon == NULL || memchr(a, '\0', len) != NULL)
		return fail(c, "Policy has invalid action");
	sl = (size_t)(colon - a);
	name = colon + 1;
	nl = len - sl - 1;
	if (sl == 0 || nl == 0)
		return fail(c, "Policy has invalid action");
	for (size_t i = 0; i < sl; i++)
		if (!isalnum((unsigned char)a[i]) && a[i] != '-')
			return fail(c, "Policy has invalid action");
	for (size_t i = 0; i < nl; i++)
		if (!isalnum((unsigned char)name[i]) && !in_set(name[i], "*?-_"))
			return fail(c, "Policy has invalid action");
	if (sl != 2 || strncasecmp(a, "s3", 2) != 0) {
		/* other services never match an S3 request; only IAM takes them */
		if (c->p->kind == POLICY_BUCKET)
			return fail(c, "Policy has invalid action");
		return 0;
	}
	/* a pattern must name at least one action we know */
	struct piece pc = {name, nl, 1};
	for (int i = 0; i < NELEM(s3_actions); i++)
		if (wild_match(&pc, 1, s3_actions[i].name, strlen(s3_actions[i].name), 1))
			return 0;
	return fail(c, "Unknown action %.*s", (int)len, a);
}

/* RT_* bits of the resources the actions an action pattern names are
 * about ("*" and "s3:*": every kind). */
static int action_types(const char *a, size_t len)
{
	const char *colon = memchr(a, ':', len);
	int t = 0;

	if (!colon)
		return RT_BUCKET | RT_OBJECT;
	struct piece pc = {colon + 1, len - (size_t)(colon + 1 - a), 1};
	for (int i = 0; i < NELEM(s3_actions); i++) {
		if (wild_match(&pc, 1, s3_actions[i].name, strlen(s3_actions[i].name), 1))
			t |= s3_actions[i].rt;
	}
	return t;
}

/* A bucket policy's statement whose action applies to none of its
 * resources (s3:ListBucket on objects, s3:GetObject on the bucket, an
 * account action) can never match: S3 refuses it rather than store a rule
 * that silently does nothing. */
static int check_applies(struct pctx *c, const struct stmt *s, int res_types)
{
	if (c->p->kind != POLICY_BUCKET || s->not_action || s->not_res)
		return 0;
	for (int i = 0; i < s->n_act; i++)
		if (!(action_types(s->act[i], s->act_len[i]) & res_types))
			return fail(c, "Action does not apply to any resource(s) in statement");
	return 0;
}

static int parse_actions(struct pctx *c, json_t *v, struct stmt *s)
{
	size_t n = list_n(v);
	int rc;

	if (n == 0)
		return fail(c, "Policy has invalid action");
	s->act = palloc(c, n, sizeof(*s->act));
	s->act_len = palloc(c, n, sizeof(*s->act_len));
	if (s->act == NULL || s->act_len == NULL)
		return CN_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *it = list_at(v, i);
		if (!json_is_string(it))
			return fail(c, "Policy has invalid action");
		const char *a = json_string_value(it);
		size_t al = json_string_length(it);
		if ((rc = parse_action(c, a, al)) != 0)
			return rc;
		if ((s->act[i] = pdup(c, a, al)) == NULL)
			return CN_ENOMEM;
		s->act_len[i] = al;
	}
	s->n_act = (int)n;
	return 0;
}

static int resource_ok(struct pctx *c, const char *r, size_t len)
{
	size_t pl = strlen(BUCKET_ARN), bl;
	int colons = 0;

	if (memchr(r, '\0', len) != NULL)
		return 0;
	if (c->p->kind == POLICY_BUCKET) {
		bl = strlen(c->bucket);
		return len >= pl + bl && memcmp(r, BUCKET_ARN, pl) == 0 &&
		       memcmp(r + pl, c->bucket, bl) == 0 && (len == pl + bl || r[pl + bl] == '/');
	}
	if (len == 1 && r[0] == '*')
		return 1;
	for (size_t i = 0; i < len; i++)
		colons += r[i] == ':';
	return len > 4 && memcmp(r, "arn:", 4) == 0 && colons >= 5;
}

/* *types: RT_* bits of the resources named (a bucket policy's resources
 * are its bucket, or objects in it: resource_ok). */
static int parse_resources(struct pctx *c, json_t *v, struct stmt *s, int *types)
{
	size_t n = list_n(v);
	int rc;

	*types = 0;
	if (n == 0)
		return fail(c, "Policy has invalid resource");
	s->res = palloc(c, n, sizeof(*s->res));
	if (s->res == NULL)
		return CN_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *it = list_at(v, i);
		if (!json_is_string(it) ||
		    !resource_ok(c, json_string_value(it), json_string_length(it)))
			return fail(c, "Policy has invalid resource");
		rc = tmpl_compile(c, json_string_value(it), json_string_length(it), &s->res[i]);
		if (rc != 0)
			return rc;
		*types |= memchr(json_string_value(it), '/', json_string_length(it)) ? RT_OBJECT
										     : RT_BUCKET;
	}
	s->n_res = (int)n;
	return 0;
}

/* One "AWS" principal: "*", an account id, its root ARN, or a user ARN. */
static int parse_aws_principal(struct pctx *c, const char *v, size_t len, struct prin *pr)
{
	static const char iam[] = "arn:aws:iam::";
	size_t il = sizeof(iam) - 1;

	if (len == 1 && v[0] == '*') {
		pr->kind = PR_ANY;
		return 0;
	}
	if (len == 12 && is_digits(v, 12)) {
		pr->kind = PR_ACCOUNT;
		pr->acct = pdup(c, v, 12);
		return pr->acct ? 0 : CN_ENOMEM;
	}
	if (len < il + 13 || memcmp(v, iam, il) != 0 || !is_digits(v + il, 12) || v[il + 12] != ':')
		return fail(c, "Invalid principal in policy");
	const char *rest = v + il + 13;
	size_t rl = len - il - 13;
	if ((pr->acct = pdup(c, v + il, 12)) == NULL)
		return CN_ENOMEM;
	if (rl == 4 && memcmp(rest, "root", 4) == 0) {
		pr->kind = PR_ACCOUNT;
		return 0;
	}
	if (rl <= 5 || memcmp(rest, "user/", 5) != 0)
		return fail(c, "Invalid principal in policy");
	for (size_t i = 5; i < rl; i++)
		if (!isalnum((unsigned char)rest[i]) && !in_set(rest[i], "+=,.@_/-"))
			return fail(c, "Invalid principal in policy");
	pr->kind = PR_USER;
	pr->name = pdup(c, rest + 5, rl - 5);
	return pr->name ? 0 : CN_ENOMEM;
}

static int parse_principal(struct pctx *c, json_t *v, struct stmt *s)
{
	const char *k;
	json_t *vals;
	size_t n = 0;
	int rc;

	if (json_is_string(v)) {
		if (strcmp(json_string_value(v), "*") != 0)
			return fail(c, "Invalid principal in policy");
		if ((s->prin = palloc(c, 1, sizeof(*s->prin))) == NULL)
			return CN_ENOMEM;
		s->prin[0].kind = PR_ANY;
		s->n_prin = 1;
		return 0;
	}
	if (!json_is_object(v) || json_object_size(v) == 0)
		return fail(c, "Invalid principal in policy");
	json_object_foreach(v, k, vals)
	{
		if (list_n(vals) == 0)
			return fail(c, "Invalid principal in policy");
		n += list_n(vals);
	}
	if ((s->prin = palloc(c, n, sizeof(*s->prin))) == NULL)
		return CN_ENOMEM;
	json_object_foreach(v, k, vals)
	{
		for (size_t i = 0; i < list_n(vals); i++) {
			json_t *it = list_at(vals, i);
			struct prin *pr = &s->prin[s->n_prin++];
			if (!json_is_string(it))
				return fail(c, "Invalid principal in policy");
			const char *sv = json_string_value(it);
			size_t sl = json_string_length(it);
			if (strcmp(k, "AWS") == 0) {
				if ((rc = parse_aws_principal(c, sv, sl, pr)) != 0)
					return rc;
			} else if (strcmp(k, "CanonicalUser") == 0) {
				if (sl != 64 || strspn(sv, "0123456789abcdefABCDEF") != 64)
					return fail(c, "Invalid principal in policy");
				pr->kind = PR_CANON;
				if ((pr->name = pdup(c, sv, sl)) == NULL)
					return CN_ENOMEM;
			} else if (strcmp(k, "Service") == 0) {
				/* AWS services never call cairn: valid, never matches */
				if (sl == 0 || strpbrk(sv, "*?") != NULL)
					return fail(c, "Invalid principal in policy");
				pr->kind = PR_SERVICE;
			} else {
				return fail(c, "Invalid principal in policy");
			}
		}
	}
	return 0;
}

/* "ForAnyValue:" / "ForAllValues:" + operator + "IfExists" (not on Null). */
static int parse_opname(struct pctx *c, const char *name, struct cond *cd)
{
	const char *o = name;
	size_t len;

	cd->set = SET_NONE;
	if (strncmp(o, "ForAnyValue:", 12) == 0) {
		cd->set = SET_ANY;
		o += 12;
	} else if (strncmp(o, "ForAllValues:", 13) == 0) {
		cd->set = SET_ALL;
		o += 13;
	}
	len = strlen(o);
	cd->ifexists = len > 8 && strcmp(o + len - 8, "IfExists") == 0;
	if (cd->ifexists)
		len -= 8;
	for (int i = 0; i < NELEM(ops); i++) {
		if (strlen(ops[i].name) != len || strncmp(ops[i].name, o, len) != 0)
			continue;
		if (ops[i].type == T_NULL && (cd->ifexists || cd->set != SET_NONE))
			break;
		cd->op = &ops[i];
		return 0;
	}
	return fail(c, "Invalid Condition type : %s", name);
}

static int condition_key_ok(struct pctx *c, const char *k)
{
	const char *colon = strchr(k, ':');

	if (colon == NULL || colon == k || colon[1] == '\0')
		return 0;
	for (const char *q = k; q < colon; q++)
		if (!isalnum((unsigned char)*q) && *q != '-')
			return 0;
	for (const char *q = colon + 1; *q; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			return 0;
	/* IAM takes any service's keys; S3 checks a bucket policy's */
	if (c->p->kind != POLICY_BUCKET)
		return 1;
	if (in_list(known_keys, NELEM(known_keys), k))
		return 1;
	for (int i = 0; i < NELEM(known_key_prefixes); i++) {
		size_t pl = strlen(known_key_prefixes[i]);
		if (strncasecmp(k, known_key_prefixes[i], pl) == 0 && k[pl] != '\0')
			return 1;
	}
	return 0;
}

/* The text of a scalar condition value, for the string-like operators. */
static const char *scalar_text(json_t *it, char *buf, size_t cap, size_t *len)
{
	if (json_is_string(it)) {
		*len = json_string_length(it);
		return json_string_value(it);
	}
	if (json_is_integer(it))
		snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(it));
	else if (json_is_real(it))
		snprintf(buf, cap, "%.17g", json_real_value(it));
	else if (json_is_boolean(it))
		snprintf(buf, cap, "%s", json_is_true(it) ? "true" : "false");
	else
		return NULL;
	*len = strlen(buf);
	return buf;
}

static int parse_cval(struct pctx *c, const struct cond *cd, json_t *it, struct cval *cv)
{
	char buf[64];
	size_t len;
	const char *s = scalar_text(it, buf, sizeof(buf), &len);
	long dl;

	if (s == NULL)
		return fail(c, "Policy has an invalid condition value for %s", cd->key);
	switch (cd->op->type) {
	case T_STR:
	case T_STR_IC:
	case T_LIKE:
	case T_ARN: return tmpl_compile(c, s, len, &cv->t);
	case T_NUM:
		if (json_is_boolean(it) || parse_num(s, len, &cv->num) != 0)
			return fail(c, "Invalid number in condition: %s", s);
		return 0;
	case T_DATE:
		if (!json_is_string(it) && !json_is_integer(it))
			return fail(c, "Invalid date in condition: %s", s);
		if (parse_date(s, len, &cv->ms) != 0)
			return fail(c, "Invalid date in condition: %s", s);
		return 0;
	case T_BOOL:
	case T_NULL:
		if ((!json_is_string(it) && !json_is_boolean(it)) ||
		    (cv->b = parse_bool(s, len)) < 0)
			return fail(c, "Invalid boolean in condition: %s", s);
		return 0;
	case T_IP:
		if (!json_is_string(it) || parse_cidr(s, len, 1, &cv->ip) != 0)
			return fail(c, "Invalid IP address in condition: %s", s);
		return 0;
	case T_BIN: {
		uint8_t *bin = palloc(c, len / 4 * 3 + 3, 1);
		if (bin == NULL)
			return CN_ENOMEM;
		dl = json_is_string(it) ? cn_b64_decode(s, len, bin, len / 4 * 3 + 3) : -1;
		if (dl < 0)
			return fail(c, "Invalid base64 in condition: %s", s);
		cv->bin = bin;
		cv->bin_len = (size_t)dl;
		return 0;
	}
	}
	return 0;
}

static int parse_conditions(struct pctx *c, json_t *v, struct stmt *s)
{
	const char *opname, *key;
	json_t *block, *vals;
	size_t n = 0;
	int rc;

	if (!json_is_object(v))
		return fail(c, "Policy has an invalid condition");
	json_object_foreach(v, opname, block)
	{
		if (!json_is_object(block))
			return fail(c, "Policy has an invalid condition");
		n += json_object_size(block);
	}
	if ((s->cond = palloc(c, n, sizeof(*s->cond))) == NULL && n > 0)
		return CN_ENOMEM;
	json_object_foreach(v, opname, block)
	{
		json_object_foreach(block, key, vals)
		{
			struct cond *cd = &s->cond[s->n_cond++];
			size_t nv = list_n(vals);
			if ((rc = parse_opname(c, opname, cd)) != 0)
				return rc;
			if (!condition_key_ok(c, key))
				return fail(c, "Policy has an invalid condition key");
			if ((cd->key = pdup(c, key, strlen(key))) == NULL)
				return CN_ENOMEM;
			if (nv == 0)
				return fail(c, "Policy has an invalid condition value for %s", key);
			if ((cd->v = palloc(c, nv, sizeof(*cd->v))) == NULL)
				return CN_ENOMEM;
			for (size_t i = 0; i < nv; i++)
				if ((rc = parse_cval(c, cd, list_at(vals, i), &cd->v[i])) != 0)
					return rc;
			cd->n = (int)nv;
		}
		/* an empty operator block still names its operator: check it */
		if (json_object_size(block) == 0) {
			struct cond tmp;
			if ((rc = parse_opname(c, opname, &tmp)) != 0)
				return rc;
		}
	}
	return 0;
}

static const char *const stmt_fields[] = {
	"Sid",	     "Effect",	 "Principal",	"NotPrincipal", "Action",
	"NotAction", "Resource", "NotResource", "Condition",
};

static int parse_stmt(struct pctx *c, json_t *js, int idx)
{
	struct stmt *s = &c->p->st[idx];
	const char *k;
	json_t *v, *sid, *eff, *act, *nact, *res, *nres, *pr, *npr, *cond;
	int rtypes = 0;
	int rc;

	if (!json_is_object(js))
		return fail(c, "Policy has an invalid Statement");
	json_object_foreach(js, k, v)
	{
		int known = 0;
		for (int i = 0; i < NELEM(stmt_fields); i++)
			known |= strcmp(k, stmt_fields[i]) == 0;
		if (!known)
			return fail(c, "Unknown field %s", k);
	}
	sid = json_object_get(js, "Sid");
	if (sid != NULL) {
		if (!json_is_string(sid))
			return fail(c, "Policy has an invalid Sid");
		for (int i = 0; i < idx; i++)
			if (c->p->st[i].sid && strcmp(c->p->st[i].sid, json_string_value(sid)) == 0)
				return fail(
					c, "Statement IDs (SID) in a single policy must be unique");
		if ((s->sid = pdup(c, json_string_value(sid), json_string_length(sid))) == NULL)
			return CN_ENOMEM;
	}

	eff = json_object_get(js, "Effect");
	if (eff == NULL)
		return fail(c, "Missing required field Effect");
	if (json_is_string(eff) && strcmp(json_string_value(eff), "Allow") == 0)
		s->deny = 0;
	else if (json_is_string(eff) && strcmp(json_string_value(eff), "Deny") == 0)
		s->deny = 1;
	else
		return fail(c, "Invalid effect: %s",
			    json_is_string(eff) ? json_string_value(eff) : "(not a string)");

	act = json_object_get(js, "Action");
	nact = json_object_get(js, "NotAction");
	if (act && nact)
		return fail(c, "Statement has both Action and NotAction");
	if (!act && !nact)
		return fail(c, "Missing required field Action");
	s->not_action = nact != NULL;
	if ((rc = parse_actions(c, act ? act : nact, s)) != 0)
		return rc;

	res = json_object_get(js, "Resource");
	nres = json_object_get(js, "NotResource");
	if (res && nres)
		return fail(c, "Statement has both Resource and NotResource");
	if (!res && !nres)
		return fail(c, "Missing required field Resource");
	s->not_res = nres != NULL;
	if ((rc = parse_resources(c, res ? res : nres, s, &rtypes)) != 0 ||
	    (rc = check_applies(c, s, rtypes)) != 0)
		return rc;

	pr = json_object_get(js, "Principal");
	npr = json_object_get(js, "NotPrincipal");
	if (c->p->kind == POLICY_IDENTITY) {
		if (pr || npr)
			return fail(c, "Policy document should not specify a principal");
	} else {
		if (pr && npr)
			return fail(c, "Statement has both Principal and NotPrincipal");
		if (!pr && !npr)
			return fail(c, "Missing required field Principal");
		s->has_prin = 1;
		s->not_prin = npr != NULL;
		if ((rc = parse_principal(c, pr ? pr : npr, s)) != 0)
			return rc;
	}

	cond = json_object_get(js, "Condition");
	if (cond != NULL && (rc = parse_conditions(c, cond, s)) != 0)
		return rc;
	return 0;
}

static int parse_doc(struct pctx *c, json_t *doc)
{
	struct policy *p = c->p;
	const char *k;
	json_t *v, *stmts;
	size_t n;
	int rc;

	if (!json_is_object(doc))
		return fail(c, "This policy contains invalid Json");
	json_object_foreach(doc, k, v)
	{
		if (strcmp(k, "Version") != 0 && strcmp(k, "Id") != 0 &&
		    strcmp(k, "Statement") != 0)
			return fail(c, "Unknown field %s", k);
	}
	v = json_object_get(doc, "Version");
	if (v != NULL) {
		if (json_is_string(v) && strcmp(json_string_value(v), "2012-10-17") == 0)
			p->vars = 1;
		else if (!json_is_string(v) || strcmp(json_string_value(v), "2008-10-17") != 0)
			return fail(c, "The policy must contain a valid version string");
	}
	v = json_object_get(doc, "Id");
	if (v != NULL && !json_is_string(v))
		return fail(c, "Policy has an invalid Id");

	stmts = json_object_get(doc, "Statement");
	if (stmts == NULL || (json_is_array(stmts) && json_array_size(stmts) == 0))
		return fail(c, "Missing required field Statement");
	if (!json_is_array(stmts) && !json_is_object(stmts))
		return fail(c, "Policy has an invalid Statement");
	n = list_n(stmts);
	if ((p->st = palloc(c, n, sizeof(*p->st))) == NULL)
		return CN_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if ((rc = parse_stmt(c, list_at(stmts, i), (int)i)) != 0)
			return rc;
		p->n_st++;
	}
	for (int i = 0; i < p->n_st; i++)
		p->is_public |= stmt_public(&p->st[i]);
	return 0;
}

/* AWS counts an identity policy's size without whitespace. */
static size_t nonspace_len(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += !(s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r');
	return n;
}

int policy_parse(const char *json, size_t len, enum policy_kind kind, const char *bucket,
		 struct policy **out, char *err, size_t errcap)
{
	struct pctx c = {NULL, bucket, err, errcap};
	json_error_t je;
	json_t *doc = NULL;
	int rc;

	if (err != NULL && errcap > 0)
		err[0] = '\0';
	if (out == NULL || (json == NULL && len > 0) ||
	    (kind != POLICY_IDENTITY && kind != POLICY_BUCKET) ||
	    (kind == POLICY_BUCKET && bucket == NULL))
		return CN_EINVAL;
	if (kind == POLICY_BUCKET ? len > POLICY_MAX_BUCKET_DOC
				  : nonspace_len(json, len) > POLICY_MAX_IDENTITY_DOC)
		return fail(&c, "Policy exceeds the maximum allowed document size");
	/* duplicate keys would make "which Effect?" ambiguous: refuse them */
	doc = json_loadb(json ? json : "", len, JSON_REJECT_DUPLICATES, &je);
	if (doc == NULL)
		return json_error_code(&je) == json_error_out_of_memory
			       ? CN_ENOMEM
			       : fail(&c, "This policy contains invalid Json");
	if ((c.p = calloc(1, sizeof(*c.p))) == NULL) {
		rc = CN_ENOMEM;
		goto out;
	}
	cn_pool_init(&c.p->pool);
	c.p->kind = kind;
	rc = parse_doc(&c, doc);
	if (rc != 0) {
		policy_free(c.p);
		goto out;
	}
	*out = c.p;
out:
	json_decref(doc);
	return rc;
}

void policy_free(struct policy *p)
{
	if (p == NULL)
		return;
	cn_pool_release(&p->pool);
	free(p);
}
