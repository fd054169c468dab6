/*
 * s3/bucket.c — bucket operations: ListBuckets, CreateBucket, HeadBucket,
 * DeleteBucket, GetBucketLocation, Get/PutBucketVersioning.
 */
#include "s3/s3_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"

int s3_bucket_name_check(const char *n)
{
	size_t len = strlen(n);
	int dots_only_digits = 1, labels = 1;

	if (len < 3 || len > 63)
		return CN_EBADBUCKETNAME;
	if (!islower((unsigned char)n[0]) && !isdigit((unsigned char)n[0]))
		return CN_EBADBUCKETNAME;
	if (!islower((unsigned char)n[len - 1]) && !isdigit((unsigned char)n[len - 1]))
		return CN_EBADBUCKETNAME;
	for (size_t i = 0; i < len; i++) {
		char c = n[i];
		if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || c == '.' ||
		      c == '-'))
			return CN_EBADBUCKETNAME;
		if (c == '.') {
			labels++;
			if (n[i + 1] == '.' || n[i + 1] == '-' || (i && n[i - 1] == '-'))
				return CN_EBADBUCKETNAME;
		} else if (!isdigit((unsigned char)c)) {
			dots_only_digits = 0;
		}
	}
	/* Not formatted like an IP address. */
	if (dots_only_digits && labels == 4)
		return CN_EBADBUCKETNAME;
	/* Prefixes and suffixes S3 reserves: SDKs read meaning into some
	 * (a "--x-s3" name is a directory bucket to boto3, which then asks
	 * for an S3 Express session), so such a bucket would not work. */
	static const char *const prefix[] = {"xn--", "sthree-", "amzn-s3-demo-"};
	static const char *const suffix[] = {"-s3alias", "--ol-s3", ".mrap", "--x-s3",
					     "--table-s3"};
	for (size_t i = 0; i < sizeof(prefix) / sizeof(prefix[0]); i++)
		if (strncmp(n, prefix[i], strlen(prefix[i])) == 0)
			return CN_EBADBUCKETNAME;
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		size_t sl = strlen(suffix[i]);
		if (len > sl && strcmp(n + len - sl, suffix[i]) == 0)
			return CN_EBADBUCKETNAME;
	}
	return 0;
}

void s3_op_list_buckets(struct s3_req *r)
{
	struct meta_bucket *b;
	size_t n;
	struct cn_buf w;
	int rc;

	const char *maxp = s3_route_param(&r->route, "max-buckets");
	const char *token = s3_route_param(&r->route, "continuation-token");
	const char *prefix = s3_route_param(&r->route, "prefix");
	const char *region = s3_route_param(&r->route, "bucket-region");
	char after[META_BUCKET_MAX + 1] = "";
	unsigned long max = 10000, shown = 0;
	size_t plen = prefix ? strlen(prefix) : 0, i;

	/* max-buckets 1..10000; the token is the last name answered, hex */
	if (maxp) {
		char *end;
		max = strtoul(maxp, &end, 10);
		if (!*maxp || *end || max < 1 || max > 10000) {
			r->err_msg = "Argument max-buckets must be an integer between 1 and 10000";
			s3_send_error(r, CN_EBADARG);
			return;
		}
	}
	if (prefix && !s3_utf8_valid(prefix, plen)) {
		r->err_msg = "The prefix is not valid UTF-8"; /* echoed below */
		s3_send_error(r, CN_EBADARG);
		return;
	}
	if (token) {
		size_t tl = strlen(token);
		if (!tl || tl % 2 || tl / 2 > META_BUCKET_MAX) {
			s3_send_error(r, CN_EBADTOKEN);
			return;
		}
		for (i = 0; i < tl / 2; i++) {
			int hi = cn_hexval(token[2 * i]), lo = cn_hexval(token[2 * i + 1]);
			if (hi < 0 || lo < 0) {
				s3_send_error(r, CN_EBADTOKEN);
				return;
			}
			after[i] = (char)(hi << 4 | lo);
		}
		after[tl / 2] = 0;
	}
	rc = meta_bucket_list(r->srv->meta, &b, &n);
	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	cn_buf_init(&w);
	xmlw_decl(&w);
	xmlw_open(&w, "ListAllMyBucketsResult", S3_NS);
	xmlw_open(&w, "Owner", NULL);
	xmlw_elem(&w, "ID", r->srv->account_canonical);
	if (r->ident.kind != S3_PRINCIPAL_ANON)
		xmlw_elem(&w, "DisplayName", r->srv->cfg.access_key);
	xmlw_close(&w, "Owner");
	xmlw_open(&w, "Buckets", NULL);
	/* every bucket lives in this server's region */
	int other_region = region && strcmp(region, r->srv->cfg.region) != 0;
	const char *last = NULL;
	int truncated = 0;
	for (i = 0; i < n && !other_region; i++) {
		if (after[0] && strcmp(b[i].name, after) <= 0)
			continue;
		if (plen && strncmp(b[i].name, prefix, plen) != 0)
			continue;
		if (shown == max) {
			truncated = 1;
			break;
		}
		xmlw_open(&w, "Bucket", NULL);
		xmlw_elem(&w, "Name", b[i].name);
		xmlw_elem_time(&w, "CreationDate", (uint64_t)b[i].created);
		xmlw_elem(&w, "BucketRegion", r->srv->cfg.region);
		xmlw_close(&w, "Bucket");
		last = b[i].name;
		shown++;
	}
	xmlw_close(&w, "Buckets");
	if (truncated && last) {
		char hex[2 * META_BUCKET_MAX + 1];
		cn_hex((const uint8_t *)last, strlen(last), hex);
		xmlw_elem(&w, "ContinuationToken", hex);
	}
	if (prefix)
		xmlw_elem(&w, "Prefix", prefix);
	xmlw_close(&w, "ListAllMyBucketsResult");
	meta_bucket_list_release(b, n);
	s3_send_xml(r, 200, NULL, &w);
}

struct bucket_op {
	struct meta_cmd cmd;
};

/* Submits a bucket command (type, and versioning for BUCKET_VERSIONING);
 * done ends the request. */
static void bucket_cmd(struct s3_req *r, uint8_t type, uint8_t versioning, meta_cmd_cb done)
{
	struct bucket_op *op = cn_pool_zalloc(r->pool, sizeof(*op));
	int rc;

	if (!op) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	op->cmd.type = type;
	op->cmd.versioning = versioning;
	op->cmd.now = cn_now_ns();
	op->cmd.bucket = r->route.bucket;
	op->cmd.bucket_len = strlen(r->route.bucket);
	rc = s3_meta_submit(r, &op->cmd, done, r);
	if (rc)
		s3_send_error(r, rc);
}

static void create_done(struct meta_cmd *cmd, int rc, void *arg)
{
	struct s3_req *r = arg;
	struct s3_hdrs h = {.n = 0};
	(void)cmd;

	/* S3 in us-east-1 answers 200 to the owner re-creating its bucket */
	if (rc == CN_EBUCKETEXISTS && strcmp(r->srv->cfg.region, "us-east-1") == 0)
		rc = 0;
	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	s3_hdr_add(r, &h, "Location", cn_pool_printf(r->pool, "/%s", r->route.bucket));
	s3_send(r, 200, &h, NULL, 0);
}

int s3_create_bucket_from_xml(struct cn_pool *pool, const char *body, size_t len,
			      const char *region, const char **loc)
{
	struct xml_node *root;
	const char *l;

	if (len == 0)
		return 0;
	if (xml_parse(pool, body, len, &root) ||
	    strcmp(root->name, "CreateBucketConfiguration") != 0)
		return CN_EBADXML;
	/* LocationConstraint must name our region (or be empty). */
	l = xml_child_text(root, "LocationConstraint");
	if (l && *l && strcmp(l, region) != 0) {
		if (loc)
			*loc = l;
		return CN_EBADLOCATION;
	}
	return 0;
}

/* S3 names the region asked for in the message; only a region-shaped
 * name is echoed (it comes from the body, unchecked otherwise). */
static const char *location_msg(struct s3_req *r, const char *loc)
{
	size_t n = strlen(loc);

	if (n > 64 || strspn(loc, "abcdefghijklmnopqrstuvwxyz0123456789-") != n)
		return NULL;
	return cn_pool_printf(r->pool,
			      "The %s location constraint is incompatible for the region specific "
			      "endpoint this request was sent to.",
			      loc);
}

static void create_body(struct s3_req *r, int err, char *buf, size_t len)
{
	struct bucket_op *op;
	const char *loc = NULL;
	void *conf;
	size_t conf_len;
	int rc;

	if (err) {
		s3_send_error(r, err);
		return;
	}
	rc = s3_create_bucket_from_xml(r->pool, buf, len, r->srv->cfg.region, &loc);
	if (rc) {
		if (rc == CN_EBADLOCATION)
			r->err_msg = location_msg(r, loc);
		s3_send_error(r, rc);
		return;
	}
	op = cn_pool_zalloc(r->pool, sizeof(*op));
	if (!op) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	/* ownership controls, Public Access Block and the ACL asked for go
	 * with the bucket, in its one command */
	rc = s3_bucket_initial_conf(r, &conf, &conf_len);
	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	op->cmd.type = META_CMD_BUCKET_CREATE;
	op->cmd.now = cn_now_ns();
	op->cmd.bucket = r->route.bucket;
	op->cmd.bucket_len = strlen(r->route.bucket);
	op->cmd.inline_data = conf;
	op->cmd.inline_len = conf_len;
	rc = s3_meta_submit(r, &op->cmd, create_done, r);
	if (rc)
		s3_send_error(r, rc);
}

void s3_op_create_bucket(struct s3_req *r)
{
	int rc = s3_bucket_name_check(r->route.bucket);

	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	s3_body_read_small(r, S3_CREATE_BUCKET_BODY_MAX, create_body);
}

static void simple_done(struct meta_cmd *cmd, int rc, void *arg)
{
	struct s3_req *r = arg;
	(void)cmd;

	if (rc == CN_EBUCKETSTATE)
		r->err_msg = "An Object Lock configuration is present on this bucket, so the "
			     "versioning state cannot be changed.";
	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	s3_send(r, r->route.op == S3_OP_DELETE_BUCKET ? 204 : 200, NULL, NULL, 0);
}

void s3_op_delete_bucket(struct s3_req *r)
{
	bucket_cmd(r, META_CMD_BUCKET_DELETE, 0, simple_done);
}

void s3_op_head_bucket(struct s3_req *r)
{
	struct meta_bucket b;
	struct s3_hdrs h = {.n = 0};
	int rc = meta_bucket_get(r->srv->meta, r->route.bucket, &b);

	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	meta_bucket_release(&b);
	s3_hdr_add(r, &h, "x-amz-bucket-region", r->srv->cfg.region);
	s3_send(r, 200, &h, NULL, 0);
}

void s3_op_get_bucket_location(struct s3_req *r)
{
	struct cn_buf w;

	if (!s3_bucket_exists(r))
		return;
	cn_buf_init(&w);
	xmlw_decl(&w);
	xmlw_open(&w, "LocationConstraint", S3_NS);
	/* us-east-1 is reported as an empty constraint, as S3 does. */
	if (strcmp(r->srv->cfg.region, "us-east-1") != 0)
		xmlw_text(&w, r->srv->cfg.region, strlen(r->srv->cfg.region));
	xmlw_close(&w, "LocationConstraint");
	s3_send_xml(r, 200, NULL, &w);
}

void s3_op_get_bucket_unconfigured(struct s3_req *r)
{
	struct cn_buf w;
	const char *doc = NULL;

	if (!s3_bucket_exists(r))
		return;
	switch (r->route.op) {
	case S3_OP_GET_BUCKET_REQUEST_PAYMENT: doc = "RequestPaymentConfiguration"; break;
	case S3_OP_GET_BUCKET_LOGGING: doc = "BucketLoggingStatus"; break; /* empty: off */
	case S3_OP_GET_BUCKET_NOTIFICATION: doc = "NotificationConfiguration"; break;
	case S3_OP_GET_BUCKET_ACCELERATE: doc = "AccelerateConfiguration"; break; /* never set */
	case S3_OP_GET_BUCKET_WEBSITE: s3_send_error(r, CN_ENOWEBSITE); return;
	case S3_OP_GET_BUCKET_REPLICATION: s3_send_error(r, CN_ENOREPLICATION); return;
	default: s3_send_error(r, CN_EINTERNAL); return;
	}
	cn_buf_init(&w);
	xmlw_decl(&w);
	xmlw_open(&w, doc, S3_NS);
	if (r->route.op == S3_OP_GET_BUCKET_REQUEST_PAYMENT)
		xmlw_elem(&w, "Payer", "BucketOwner");
	xmlw_close(&w, doc);
	s3_send_xml(r, 200, NULL, &w);
}

void s3_versioning_to_xml(uint8_t state, struct cn_buf *w)
{
	xmlw_decl(w);
	xmlw_open(w, "VersioningConfiguration", S3_NS);
	if (state == META_VERSIONING_ENABLED)
		xmlw_elem(w, "Status", "Enabled");
	else if (state == META_VERSIONING_SUSPENDED)
		xmlw_elem(w, "Status", "Suspended");
	xmlw_close(w, "VersioningConfiguration");
}

void s3_op_get_bucket_versioning(struct s3_req *r)
{
	struct meta_bucket b;
	struct cn_buf w;
	int rc = meta_bucket_get(r->srv->meta, r->route.bucket, &b);

	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	cn_buf_init(&w);
	s3_versioning_to_xml(b.versioning, &w);
	meta_bucket_release(&b);
	s3_send_xml(r, 200, NULL, &w);
}

int s3_versioning_from_xml(struct cn_pool *pool, const char *body, size_t len, uint8_t *state)
{
	struct xml_node *root;
	const char *st, *mfa;

	*state = META_VERSIONING_OFF;
	if (xml_parse(pool, body, len, &root) || strcmp(root->name, "VersioningConfiguration") != 0)
		return CN_EBADXML;
	st = xml_child_text(root, "Status");
	mfa = xml_child_text(root, "MfaDelete");
	if (mfa && strcmp(mfa, "Enabled") == 0)
		return CN_ENOTIMPL;
	if (st && strcmp(st, "Enabled") == 0)
		*state = META_VERSIONING_ENABLED;
	else if (st && strcmp(st, "Suspended") == 0)
		*state = META_VERSIONING_SUSPENDED;
	else
		return CN_EBADXML;
	return 0;
}

static void versioning_body(struct s3_req *r, int err, char *buf, size_t len)
{
	uint8_t state;
	int rc;

	if (err) {
		s3_send_error(r, err);
		return;
	}
	rc = s3_versioning_from_xml(r->pool, buf, len, &state);
	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	bucket_cmd(r, META_CMD_BUCKET_VERSIONING, state, simple_done);
}

void s3_op_put_bucket_versioning(struct s3_req *r)
{
	s3_body_read_small(r, 64 * 1024, versioning_body);
}
