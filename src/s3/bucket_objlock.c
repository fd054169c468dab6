/*
 * s3/bucket_objlock.c — S3 Object Lock through the API: the bucket's
 * configuration (Put/GetObjectLockConfiguration), a version's retention
 * and legal hold (Put/GetObjectRetention, Put/GetObjectLegalHold), the
 * x-amz-object-lock-* headers of writes and reads, and bypass.
 *
 * What is checked here is what the request says (shapes, dates, rights);
 * what protects data is checked in meta/apply.c, inside the transaction
 * that would delete or replace a version, so no race gets past it.
 *
 * Thread rules: loop thread.
 */
#include "s3/s3_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/err.h"
#include "s3/objlock.h"
#include "xml/xml.h"

/* The bucket's configuration: 0, CN_ENOTFOUND (no object lock), or an
 * error. found: the request has found its bucket (meta_bucket_conf_read). */
static int conf_load(struct s3_req *r, const char *bucket, int found, struct objlock_conf *c)
{
	char *v;
	size_t len;
	int rc = meta_bucket_conf_read(r->srv->meta, bucket, META_BCONF_OBJECT_LOCK, found, &v,
				       &len);

	if (rc)
		return rc;
	rc = objlock_conf_decode(v, len, c) ? CN_ECORRUPT : 0;
	free(v);
	return rc;
}

static int lock_missing(struct s3_req *r)
{
	r->err_msg = "Bucket is missing Object Lock Configuration";
	return CN_ELOCKNOTENABLED;
}

/* ---- writes ---- */

int s3_lock_for_write(struct s3_req *r)
{
	const char *mode = s3_header(r, "x-amz-object-lock-mode");
	const char *date = s3_header(r, "x-amz-object-lock-retain-until-date");
	const char *hold = s3_header(r, "x-amz-object-lock-legal-hold");
	struct objlock_conf c;
	int64_t now = cn_now_ns();
	int rc;

	memset(&r->wlock, 0, sizeof(r->wlock));
	rc = conf_load(r, r->route.bucket, 1, &c); /* every writer checked its bucket */
	if (rc == CN_ENOTFOUND) {
		/* nothing to apply; asking for it is an error */
		return mode || date || hold ? lock_missing(r) : 0;
	}
	if (rc)
		return rc;
	if (mode || date || hold) {
		if (!s3_body_declares_digest(r) && r->route.op != S3_OP_CREATE_MULTIPART &&
		    r->route.op != S3_OP_COPY_OBJECT) {
			r->err_msg =
				"Content-MD5 OR x-amz-checksum- HTTP header is required for Put "
				"Object requests with Object Lock parameters";
			return CN_EMISSINGMD5;
		}
		if (!mode != !date) {
			r->err_msg =
				"x-amz-object-lock-retain-until-date and x-amz-object-lock-mode "
				"must both be supplied";
			return CN_EBADARG;
		}
		if (mode) {
			r->wlock.mode = objlock_mode_parse(mode);
			if (!r->wlock.mode) {
				r->err_msg = "Unknown wormMode directive.";
				return CN_EBADARG;
			}
			if (objlock_parse_date(date, strlen(date), &r->wlock.until)) {
				r->err_msg =
					"The retain until date must be provided in ISO 8601 format";
				return CN_EBADARG;
			}
			if (r->wlock.until <= now) {
				r->err_msg = "The retain until date must be in the future!";
				return CN_EBADARG;
			}
			rc = s3_authz_check(r, "s3:PutObjectRetention", r->route.bucket,
					    r->route.key, r->route.key_len, 0);
			if (rc)
				return rc;
		}
		if (hold) {
			r->wlock.hold = objlock_hold_parse(hold);
			if (!r->wlock.hold) {
				r->err_msg = "Legal Hold must be either of 'ON' or 'OFF'";
				return CN_EBADARG;
			}
			rc = s3_authz_check(r, "s3:PutObjectLegalHold", r->route.bucket,
					    r->route.key, r->route.key_len, 0);
			if (rc)
				return rc;
		}
	}
	if (!r->wlock.mode && c.mode) {
		/* the bucket's default retention, counted from now; a body
		 * kept that long must be the one sent (S3 asks for a digest
		 * here too) */
		if (r->route.op == S3_OP_PUT_OBJECT && !s3_body_declares_digest(r)) {
			r->err_msg =
				"Content-MD5 OR x-amz-checksum- HTTP header is required for Put "
				"Object requests with Object Lock parameters";
			return CN_EMISSINGMD5;
		}
		r->wlock.mode = c.mode;
		r->wlock.until = objlock_default_until(&c, now);
	}
	return 0;
}

int s3_lock_part_check(struct s3_req *r, const struct s3_attrs *ua)
{
	struct objlock_conf c;
	int locked = ua->lock_mode || ua->lock_hold, rc;

	if (s3_body_declares_digest(r))
		return 0;
	if (!locked) {
		rc = conf_load(r, r->route.bucket, 0, &c);
		if (rc && rc != CN_ENOTFOUND)
			return rc;
		locked = !rc && c.mode;
	}
	if (!locked)
		return 0;
	r->err_msg = "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Part "
		     "requests with Object Lock parameters";
	return CN_EMISSINGMD5;
}

int s3_lock_default(struct s3_req *r)
{
	struct objlock_conf c;
	int rc = conf_load(r, r->route.bucket, 0, &c);

	memset(&r->wlock, 0, sizeof(r->wlock));
	if (rc == CN_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (c.mode) {
		r->wlock.mode = c.mode;
		r->wlock.until = objlock_default_until(&c, cn_now_ns());
	}
	return 0;
}

void s3_lock_to_cmd(const struct s3_req *r, struct meta_cmd *c)
{
	c->lock.mode = r->wlock.mode;
	c->lock.until = r->wlock.mode ? r->wlock.until : 0;
	c->lock.hold = r->wlock.hold;
}

int s3_lock_bypass(struct s3_req *r, const char *key, size_t klen)
{
	const char *b = s3_header(r, "x-amz-bypass-governance-retention");

	if (!b || strcasecmp(b, "true") != 0)
		return 0;
	return s3_authz_check(r, "s3:BypassGovernanceRetention", r->route.bucket, key, klen, 0) ==
	       0;
}

void s3_lock_headers(struct s3_req *r, const struct meta_version *v, struct s3_hdrs *h)
{
	if (v->lock_mode && s3_authz_check(r, "s3:GetObjectRetention", r->route.bucket,
					   r->route.key, r->route.key_len, 0) == 0) {
		char *d = cn_pool_alloc(r->pool, 32);
		if (d) {
			xml_time_iso((uint64_t)v->lock_until, d);
			s3_hdr_add(r, h, "x-amz-object-lock-mode", objlock_mode_name(v->lock_mode));
			s3_hdr_add(r, h, "x-amz-object-lock-retain-until-date", d);
		}
	}
	if (v->legal_hold && s3_authz_check(r, "s3:GetObjectLegalHold", r->route.bucket,
					    r->route.key, r->route.key_len, 0) == 0)
		s3_hdr_add(r, h, "x-amz-object-lock-legal-hold",
			   v->legal_hold == META_HOLD_ON ? "ON" : "OFF");
}

/* ---- the bucket's configuration ---- */

struct lock_op {
	struct meta_cmd cmd;
	uint8_t enc[OBJLOCK_CONF_LEN];
};

static void conf_done(struct meta_cmd *cmd, int rc, void *arg)
{
	struct s3_req *r = arg;

	(void)cmd;
	if (rc == CN_EBUCKETSTATE)
		r->err_msg = "Versioning must be 'Enabled' on the bucket to apply a Object Lock "
			     "configuration";
	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	s3_send(r, 200, NULL, NULL, 0);
}

static void conf_body(struct s3_req *r, int err, char *buf, size_t len)
{
	struct lock_op *op;
	struct objlock_conf c;
	char msg[160] = "";
	int rc;

	if (err) {
		s3_send_error(r, err);
		return;
	}
	rc = objlock_conf_from_xml(r->pool, buf, len, &c, msg, sizeof(msg));
	if (rc) {
		if (msg[0])
			r->err_msg = cn_pool_strndup(r->pool, msg, strlen(msg));
		s3_send_error(r, rc);
		return;
	}
	op = cn_pool_zalloc(r->pool, sizeof(*op));
	if (!op) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	objlock_conf_encode(&c, op->enc);
	op->cmd.type = META_CMD_BUCKET_CONF;
	op->cmd.now = cn_now_ns();
	op->cmd.bucket = r->route.bucket;
	op->cmd.bucket_len = strlen(r->route.bucket);
	op->cmd.key = META_BCONF_OBJECT_LOCK;
	op->cmd.key_len = strlen(META_BCONF_OBJECT_LOCK);
	op->cmd.inline_data = op->enc;
	op->cmd.inline_len = sizeof(op->enc);
	rc = s3_meta_submit(r, &op->cmd, conf_done, r);
	if (rc)
		s3_send_error(r, rc);
}

void s3_op_put_object_lock_config(struct s3_req *r)
{
	struct meta_bucket b;
	int rc = meta_bucket_get(r->srv->meta, r->route.bucket, &b);

	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	meta_bucket_release(&b);
	/* S3 insists on an integrity check for this body */
	if (!s3_body_declares_digest(r)) {
		s3_send_error(r, CN_EMISSINGMD5);
		return;
	}
	s3_body_read_small(r, S3_OBJLOCK_BODY_MAX, conf_body);
}

void s3_op_get_object_lock_config(struct s3_req *r)
{
	struct objlock_conf c;
	struct cn_buf w;
	int rc = conf_load(r, r->route.bucket, 0, &c);

	if (rc) {
		s3_send_error(r, rc == CN_ENOTFOUND ? CN_ENOLOCKCONF : rc);
		return;
	}
	cn_buf_init(&w);
	objlock_conf_to_xml(&c, &w);
	s3_send_xml(r, 200, NULL, &w);
}

/* ---- a version's retention and legal hold ---- */

/* The version the request names, in a bucket with object lock, as its
 * ACL and tags allow. 0, or an answer sent. */
static int lock_version(struct s3_req *r, struct meta_version *v)
{
	struct objlock_conf c;
	int rc = conf_load(r, r->route.bucket, 0, &c);

	if (rc == CN_ENOTFOUND)
		rc = lock_missing(r);
	if (!rc)
		rc = s3_version_for_request(r, v);
	if (rc) {
		s3_send_error(r, rc);
		return rc;
	}
	rc = s3_authz_version(r, v->attrs, v->attrs_len);
	if (rc) {
		meta_version_release(v);
		s3_send_error(r, rc);
	}
	return rc;
}

void s3_op_get_object_retention(struct s3_req *r)
{
	struct meta_version v;
	struct cn_buf w;

	if (lock_version(r, &v))
		return;
	if (!v.lock_mode) {
		meta_version_release(&v);
		s3_send_error(r, CN_ENORETENTION);
		return;
	}
	cn_buf_init(&w);
	objlock_retention_to_xml(v.lock_mode, v.lock_until, &w);
	meta_version_release(&v);
	s3_send_xml(r, 200, NULL, &w);
}

void s3_op_get_object_legal_hold(struct s3_req *r)
{
	struct meta_version v;
	struct cn_buf w;

	if (lock_version(r, &v))
		return;
	if (!v.legal_hold) {
		meta_version_release(&v);
		s3_send_error(r, CN_ENORETENTION);
		return;
	}
	cn_buf_init(&w);
	objlock_hold_to_xml(v.legal_hold, &w);
	meta_version_release(&v);
	s3_send_xml(r, 200, NULL, &w);
}

static void set_done(struct meta_cmd *cmd, int rc, void *arg)
{
	struct s3_req *r = arg;

	(void)cmd;
	if (rc == CN_EBADARG)
		r->err_msg = "The retain until date must be in the future!";
	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	s3_send(r, 200, NULL, NULL, 0);
}

/* Proposes the change to the version the request names. */
static void lock_set(struct s3_req *r, uint8_t what, uint8_t mode, int64_t until, uint8_t hold)
{
	struct lock_op *op;
	struct meta_version v;
	int rc;

	if (lock_version(r, &v))
		return;
	op = cn_pool_zalloc(r->pool, sizeof(*op));
	if (!op) {
		meta_version_release(&v);
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	op->cmd.type = META_CMD_VERSION_LOCK;
	op->cmd.now = cn_now_ns();
	op->cmd.bucket = r->route.bucket;
	op->cmd.bucket_len = strlen(r->route.bucket);
	op->cmd.key = r->route.key;
	op->cmd.key_len = r->route.key_len;
	if (v.flags & META_VF_NULL) {
		op->cmd.target_null = 1;
	} else {
		op->cmd.has_target = 1;
		memcpy(op->cmd.target_vid, v.vid, META_ID_LEN);
	}
	meta_version_release(&v);
	op->cmd.lock.what = what;
	op->cmd.lock.mode = mode;
	op->cmd.lock.until = until;
	op->cmd.lock.hold = hold;
	op->cmd.lock.bypass = (uint8_t)s3_lock_bypass(r, r->route.key, r->route.key_len);
	rc = s3_meta_submit(r, &op->cmd, set_done, r);
	if (rc)
		s3_send_error(r, rc);
}

static void retention_body(struct s3_req *r, int err, char *buf, size_t len)
{
	uint8_t mode;
	int64_t until;
	int rc;

	if (err) {
		s3_send_error(r, err);
		return;
	}
	rc = objlock_retention_from_xml(r->pool, buf, len, &mode, &until);
	if (!rc && mode && until <= cn_now_ns()) {
		r->err_msg = "The retain until date must be in the future!";
		rc = CN_EBADARG;
	}
	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	lock_set(r, META_LOCKSET_RETENTION, mode, until, 0);
}

void s3_op_put_object_retention(struct s3_req *r)
{
	if (!s3_body_declares_digest(r)) {
		s3_send_error(r, CN_EMISSINGMD5);
		return;
	}
	s3_body_read_small(r, S3_OBJLOCK_BODY_MAX, retention_body);
}

static void hold_body(struct s3_req *r, int err, char *buf, size_t len)
{
	uint8_t hold;
	int rc;

	if (err) {
		s3_send_error(r, err);
		return;
	}
	rc = objlock_hold_from_xml(r->pool, buf, len, &hold);
	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	lock_set(r, META_LOCKSET_HOLD, 0, 0, hold);
}

void s3_op_put_object_legal_hold(struct s3_req *r)
{
	if (!s3_body_declares_digest(r)) {
		s3_send_error(r, CN_EMISSINGMD5);
		return;
	}
	s3_body_read_small(r, S3_OBJLOCK_BODY_MAX, hold_body);
}
