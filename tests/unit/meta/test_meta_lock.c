/* Unit tests for object lock in meta (meta.h, "Object lock"): the version
 * record's lock section and the command's (codec.c: round trips, every
 * field's limits refused by decode and encode), the bucket rules that keep
 * an object-lock bucket versioned (apply.c, iam.c), enforcement whenever a
 * version would be removed (GOVERNANCE / COMPLIANCE / legal hold x bypass x
 * expiry, at the exact boundary), and META_CMD_VERSION_LOCK's retention and
 * legal hold rules. Every time a rule reads is the command's own `now`, set
 * here explicitly where it matters, so each case is exact. Stats are
 * recounted after each store case. */
#include "meta_test.h"

#include <xxhash.h>

#include "meta/meta_int.h"

#define HOUR 3600000000000LL
#define CMD_LOCK_LEN 13 /* 'L', what, mode, hold, bypass, u64 until */
#define VER_LOCK_LEN 10 /* mode, u64 until, hold */
#define ET "0123456789abcdef0123456789abcdef"
#define OL_DOC "{\"ObjectLockEnabled\":\"Enabled\"}"

static int sub(struct meta_store *s, struct meta_cmd c)
{
	return meta_submit_sync(s, &c);
}

static struct meta_cmd bconf(const char *b, const char *name, const char *value)
{
	struct meta_cmd c = {.type = META_CMD_BUCKET_CONF, .now = t_now()};
	c.bucket = b;
	c.bucket_len = strlen(b);
	c.key = name;
	c.key_len = strlen(name);
	c.inline_data = value;
	c.inline_len = strlen(value);
	return c;
}

/* A versioned bucket with object lock enabled. */
static void mk_lock_bucket(struct meta_store *s, const char *b)
{
	assert_int_equal(mk_bucket(s, b), 0);
	assert_int_equal(set_versioning(s, b, META_VERSIONING_ENABLED), 0);
	assert_int_equal(sub(s, bconf(b, META_BCONF_OBJECT_LOCK, OL_DOC)), 0);
}

/* PUT of inline "abc" carrying a lock; the new version's id text into vid
 * (may be NULL). now 0: t_now(). */
static int put_lock(struct meta_store *s, const char *b, const char *k, uint8_t mode, int64_t until,
		    uint8_t hold, int64_t now, char vid[META_ID_TEXT])
{
	struct meta_cmd c = {.type = META_CMD_PUT_VERSION, .now = now ? now : t_now()};
	char et[33];
	int rc;

	c.bucket = b;
	c.bucket_len = strlen(b);
	c.key = k;
	c.key_len = strlen(k);
	meta_version_id_new(s, c.vid);
	c.size = 3;
	etag_of("abc", 3, et);
	c.etag = et;
	c.etag_len = 32;
	c.loc = META_LOC_INLINE;
	c.inline_data = "abc";
	c.inline_len = 3;
	c.lock.mode = mode;
	c.lock.until = until;
	c.lock.hold = hold;
	rc = meta_submit_sync(s, &c);
	if (vid)
		strcpy(vid, rc ? "" : c.res.vid_text);
	return rc;
}

/* DELETE_OBJECT of version vid (NULL: no target, a marker) at now (0:
 * t_now()); the result into *res when not NULL. */
static int del_at(struct meta_store *s, const char *b, const char *k, const char *vid,
		  uint8_t bypass, int64_t now, struct meta_cmd_result *res)
{
	struct meta_cmd c = {.type = META_CMD_DELETE_OBJECT, .now = now ? now : t_now()};
	int rc;

	c.bucket = b;
	c.bucket_len = strlen(b);
	c.key = k;
	c.key_len = strlen(k);
	meta_version_id_new(s, c.vid);
	if (vid) {
		c.has_target = 1;
		assert_int_equal(meta_id_from_text(vid, strlen(vid), c.target_vid), 0);
	}
	c.lock.bypass = bypass;
	rc = meta_submit_sync(s, &c);
	if (res)
		*res = c.res;
	return rc;
}

/* VERSION_LOCK of version vid (NULL: no target) at now (0: t_now()). */
static int vlock(struct meta_store *s, const char *b, const char *k, const char *vid, uint8_t what,
		 uint8_t mode, int64_t until, uint8_t hold, uint8_t bypass, int64_t now)
{
	struct meta_cmd c = {.type = META_CMD_VERSION_LOCK, .now = now ? now : t_now()};
	int rc;

	c.bucket = b;
	c.bucket_len = strlen(b);
	c.key = k;
	c.key_len = strlen(k);
	if (vid) {
		c.has_target = 1;
		assert_int_equal(meta_id_from_text(vid, strlen(vid), c.target_vid), 0);
	}
	c.lock.what = what;
	c.lock.mode = mode;
	c.lock.until = until;
	c.lock.hold = hold;
	c.lock.bypass = bypass;
	rc = meta_submit_sync(s, &c);
	if (!rc && vid)
		assert_string_equal(c.res.vid_text, vid);
	return rc;
}

static int retain(struct meta_store *s, const char *b, const char *k, const char *vid, uint8_t mode,
		  int64_t until, uint8_t bypass)
{
	return vlock(s, b, k, vid, META_LOCKSET_RETENTION, mode, until, 0, bypass, 0);
}

static int hold(struct meta_store *s, const char *b, const char *k, const char *vid, uint8_t h)
{
	return vlock(s, b, k, vid, META_LOCKSET_HOLD, 0, 0, h, 0, 0);
}

/* Asserts version vid (NULL: the latest) of k carries exactly this lock. */
static void expect_lock(struct meta_store *s, const char *b, const char *k, const char *vid,
			uint8_t mode, int64_t until, uint8_t h)
{
	struct meta_version v;

	assert_int_equal(meta_object_get(s, b, k, strlen(k), vid, 0, &v), 0);
	assert_int_equal(v.lock_mode, mode);
	assert_true(v.lock_until == until);
	assert_int_equal(v.legal_hold, h);
	assert_int_equal(v.flags & META_VF_LOCK, 0); /* stored only */
	meta_version_release(&v);
}

static int version_rc(struct meta_store *s, const char *b, const char *k, const char *vid)
{
	struct meta_version v;
	int rc = meta_object_get(s, b, k, strlen(k), vid, 0, &v);

	if (rc == 0)
		meta_version_release(&v);
	return rc;
}

/* ---- version record codec ---- */

static void rec_version(struct meta_version *v)
{
	memset(v, 0, sizeof(*v));
	memset(v->vid, 0x5a, META_ID_LEN);
	v->mtime = 1700000000000000000LL;
	v->size = 3;
	strcpy(v->etag, ET);
	v->loc = META_LOC_INLINE;
	v->inline_len = 3;
}

static int rec_decode(const uint8_t *p, size_t len, struct meta_version *out)
{
	int rc = ver_decode(p, len, (const uint8_t *)"k", 1, out);

	meta_version_release(out);
	return rc;
}

static void test_version_record_codec(void **state)
{
	(void)state;
	struct meta_version v, d;
	struct cn_buf w0, w1, w2;
	uint8_t *bad;
	size_t sec;

	cn_buf_init(&w0);
	cn_buf_init(&w1);
	cn_buf_init(&w2);
	rec_version(&v);
	assert_int_equal(ver_encode(&w0, NULL, 0, &v), 0);
	v.lock_mode = META_LOCK_COMPLIANCE;
	v.lock_until = 1800000000123456789LL;
	v.legal_hold = META_HOLD_ON;
	v.flags = META_VF_LOCK; /* ignored: the encoder sets it from the fields */
	assert_int_equal(ver_encode(&w1, NULL, 0, &v), 0);
	/* head (3) + vid (16), then flags: LOCK set only with a lock section */
	assert_int_equal(w1.len, w0.len + VER_LOCK_LEN);
	assert_int_equal(w0.p[3 + META_ID_LEN], 0);
	assert_int_equal(w1.p[3 + META_ID_LEN], META_VF_LOCK);
	assert_int_equal(ver_decode(w1.p, w1.len, (const uint8_t *)"k", 1, &d), 0);
	assert_int_equal(d.lock_mode, META_LOCK_COMPLIANCE);
	assert_true(d.lock_until == 1800000000123456789LL);
	assert_int_equal(d.legal_hold, META_HOLD_ON);
	assert_int_equal(d.flags, 0);
	assert_int_equal(ver_encode(&w2, NULL, 0, &d), 0);
	assert_int_equal(w2.len, w1.len);
	assert_memory_equal(w2.p, w1.p, w1.len);
	meta_version_release(&d);
	assert_int_equal(ver_decode(w0.p, w0.len, (const uint8_t *)"k", 1, &d), 0);
	assert_int_equal(d.lock_mode, 0);
	assert_true(d.lock_until == 0);
	assert_int_equal(d.legal_hold, 0);
	meta_version_release(&d);

	/* a hold alone is a lock section too */
	rec_version(&v);
	v.legal_hold = META_HOLD_OFF;
	cn_buf_reset(&w2);
	assert_int_equal(ver_encode(&w2, NULL, 0, &v), 0);
	assert_int_equal(w2.len, w0.len + VER_LOCK_LEN);
	assert_int_equal(ver_decode(w2.p, w2.len, (const uint8_t *)"k", 1, &d), 0);
	assert_int_equal(d.legal_hold, META_HOLD_OFF);
	assert_int_equal(d.lock_mode, 0);
	meta_version_release(&d);

	/* stored bytes are validated: the section sits before loc (1) and the
	 * inline length (4) */
	sec = w1.len - 5 - VER_LOCK_LEN;
	bad = malloc(w1.len);
	memcpy(bad, w1.p, w1.len);
	bad[sec] = 3; /* mode */
	assert_int_equal(rec_decode(bad, w1.len, &d), CN_ECORRUPT);
	memcpy(bad, w1.p, w1.len);
	bad[sec + 9] = 3; /* hold */
	assert_int_equal(rec_decode(bad, w1.len, &d), CN_ECORRUPT);
	memcpy(bad, w1.p, w1.len);
	memset(bad + sec + 1, 0, 8); /* a mode without a date */
	assert_int_equal(rec_decode(bad, w1.len, &d), CN_ECORRUPT);
	memcpy(bad, w1.p, w1.len);
	bad[sec] = 0; /* a date without a mode */
	assert_int_equal(rec_decode(bad, w1.len, &d), CN_ECORRUPT);
	memcpy(bad, w1.p, w1.len);
	memset(bad + sec, 0, VER_LOCK_LEN); /* all zero: never written */
	assert_int_equal(rec_decode(bad, w1.len, &d), CN_ECORRUPT);
	memcpy(bad, w1.p, w1.len);
	bad[sec + 8] |= 0x80; /* a negative date */
	assert_int_equal(rec_decode(bad, w1.len, &d), CN_ECORRUPT);
	memcpy(bad, w1.p, w1.len);
	bad[3 + META_ID_LEN] = 0; /* the flag gone: the section is read as loc */
	assert_int_equal(rec_decode(bad, w1.len, &d), CN_ECORRUPT);
	memcpy(bad, w1.p, w1.len);
	bad[3 + META_ID_LEN] = META_VF_LOCK | 0x10; /* an unknown flag */
	assert_int_equal(rec_decode(bad, w1.len, &d), CN_ECORRUPT);
	for (size_t n = 0; n < w1.len; n++)
		assert_int_equal(rec_decode(w1.p, n, &d), CN_ECORRUPT);
	free(bad);

	/* the encoder refuses what the decoder would */
	rec_version(&v);
	v.lock_mode = 3;
	v.lock_until = 5;
	cn_buf_reset(&w2);
	assert_int_equal(ver_encode(&w2, NULL, 0, &v), CN_EINVAL);
	rec_version(&v);
	v.lock_mode = META_LOCK_GOVERNANCE;
	cn_buf_reset(&w2);
	assert_int_equal(ver_encode(&w2, NULL, 0, &v), CN_EINVAL);
	rec_version(&v);
	v.lock_until = 5;
	cn_buf_reset(&w2);
	assert_int_equal(ver_encode(&w2, NULL, 0, &v), CN_EINVAL);
	rec_version(&v);
	v.lock_mode = META_LOCK_GOVERNANCE;
	v.lock_until = -5;
	cn_buf_reset(&w2);
	assert_int_equal(ver_encode(&w2, NULL, 0, &v), CN_EINVAL);
	rec_version(&v);
	v.legal_hold = 3;
	cn_buf_reset(&w2);
	assert_int_equal(ver_encode(&w2, NULL, 0, &v), CN_EINVAL);
	cn_buf_release(&w0);
	cn_buf_release(&w1);
	cn_buf_release(&w2);
}

static void test_version_lock_stored(void **state)
{
	(void)state;
	struct tstore t;
	struct meta_list_result lr;
	struct meta_list_params p = {.max = 1000};
	struct meta_version v;
	char v1[META_ID_TEXT], v2[META_ID_TEXT], v3[META_ID_TEXT], v4[META_ID_TEXT];
	int64_t u1 = t_now() + HOUR, u2 = t_now() + 2 * HOUR;

	ts_open(&t);
	mk_lock_bucket(t.s, "lkg");
	assert_int_equal(put_lock(t.s, "lkg", "k1", META_LOCK_GOVERNANCE, u1, 0, 0, v1), 0);
	assert_int_equal(put_lock(t.s, "lkg", "k2", META_LOCK_COMPLIANCE, u2, META_HOLD_ON, 0, v2),
			 0);
	assert_int_equal(put_lock(t.s, "lkg", "k3", 0, 0, META_HOLD_OFF, 0, v3), 0);
	assert_int_equal(put_lock(t.s, "lkg", "k4", 0, 0, 0, 0, v4), 0);
	expect_lock(t.s, "lkg", "k1", NULL, META_LOCK_GOVERNANCE, u1, 0);
	expect_lock(t.s, "lkg", "k2", v2, META_LOCK_COMPLIANCE, u2, META_HOLD_ON);
	expect_lock(t.s, "lkg", "k3", NULL, 0, 0, META_HOLD_OFF);
	expect_lock(t.s, "lkg", "k4", NULL, 0, 0, 0);

	/* listings never show the stored-only flag */
	assert_int_equal(meta_list_versions(t.s, "lkg", &p, &lr), 0);
	assert_int_equal(lr.n, 4);
	for (size_t i = 0; i < lr.n; i++)
		assert_int_equal(lr.entries[i].flags, META_VF_LATEST);
	meta_list_result_release(&lr);
	assert_int_equal(meta_list_objects(t.s, "lkg", &p, &lr), 0);
	assert_int_equal(lr.n, 4);
	meta_list_result_release(&lr);

	/* replacing a locked version's attrs keeps its lock */
	assert_int_equal(meta_object_get(t.s, "lkg", "k2", 2, NULL, 0, &v), 0);
	struct meta_cmd a = {.type = META_CMD_VERSION_ATTRS, .now = t_now()};
	a.bucket = "lkg";
	a.bucket_len = 3;
	a.key = "k2";
	a.key_len = 2;
	a.has_target = 1;
	memcpy(a.target_vid, v.vid, META_ID_LEN);
	a.attrs = "acl";
	a.attrs_len = 3;
	a.size = XXH64(v.attrs, v.attrs_len, 0);
	meta_version_release(&v);
	assert_int_equal(meta_submit_sync(t.s, &a), 0);
	expect_lock(t.s, "lkg", "k2", v2, META_LOCK_COMPLIANCE, u2, META_HOLD_ON);

	/* a newer version moves the locked one out of the index, lock and all */
	assert_int_equal(put_obj(t.s, "lkg", "k1", 2, "new", NULL), 0);
	expect_lock(t.s, "lkg", "k1", NULL, 0, 0, 0);
	expect_lock(t.s, "lkg", "k1", v1, META_LOCK_GOVERNANCE, u1, 0);

	ts_reopen(&t);
	expect_lock(t.s, "lkg", "k1", v1, META_LOCK_GOVERNANCE, u1, 0);
	expect_lock(t.s, "lkg", "k2", NULL, META_LOCK_COMPLIANCE, u2, META_HOLD_ON);
	expect_lock(t.s, "lkg", "k3", v3, 0, 0, META_HOLD_OFF);
	check_stats(t.s, "lkg");
	ts_close(&t);
}

/* ---- command codec ---- */

static void lock_put_cmd(struct meta_cmd *c)
{
	memset(c, 0, sizeof(*c));
	c->type = META_CMD_PUT_VERSION;
	c->now = 1700000000123456789LL;
	c->bucket = "bkt";
	c->bucket_len = 3;
	c->key = "a/key";
	c->key_len = 5;
	memset(c->vid, 0x11, META_ID_LEN);
	c->size = 3;
	c->etag = ET;
	c->etag_len = 32;
	c->loc = META_LOC_INLINE;
	c->inline_data = "abc";
	c->inline_len = 3;
}

static void target_cmd(struct meta_cmd *c, uint8_t type)
{
	lock_put_cmd(c);
	c->type = type;
	c->size = 0;
	c->etag = NULL;
	c->etag_len = 0;
	c->loc = 0;
	c->inline_data = NULL;
	c->inline_len = 0;
	c->has_target = 1;
	memset(c->target_vid, 0x22, META_ID_LEN);
}

/* Encodes c, decodes it, checks the lock and the fields around it, and that
 * the decoded command re-encodes to the same bytes. *out: the encoding
 * (owned), returns its length. */
static size_t roundtrip(const struct meta_cmd *c, uint8_t **out)
{
	uint8_t *enc, *enc2;
	size_t len, len2;
	struct meta_cmd d;

	assert_int_equal(meta_cmd_encode(c, &enc, &len), 0);
	assert_int_equal(meta_cmd_decode(enc, len, &d), 0);
	assert_int_equal(d.type, c->type);
	assert_true(d.now == c->now);
	assert_int_equal(d.lock.what, c->lock.what);
	assert_int_equal(d.lock.mode, c->lock.mode);
	assert_int_equal(d.lock.hold, c->lock.hold);
	assert_int_equal(d.lock.bypass, c->lock.bypass);
	assert_true(d.lock.until == c->lock.until);
	assert_int_equal(d.heal_mask, c->heal_mask);
	assert_int_equal(d.has_target, c->has_target);
	assert_memory_equal(d.target_vid, c->target_vid, META_ID_LEN);
	assert_int_equal(d.key_len, c->key_len);
	assert_memory_equal(d.key, c->key, c->key_len);
	assert_int_equal(d.inline_len, c->inline_len);
	assert_int_equal(meta_cmd_encode(&d, &enc2, &len2), 0);
	assert_int_equal(len2, len);
	assert_memory_equal(enc2, enc, len);
	meta_cmd_release(&d);
	free(enc2);
	*out = enc;
	return len;
}

static void roundtrip_only(const struct meta_cmd *c)
{
	uint8_t *enc;

	roundtrip(c, &enc);
	free(enc);
}

/* Whatever a cut of enc decodes to must re-encode to exactly those bytes
 * (one encoding per command); cuts in (strict, len) must fail. */
static void cuts(const uint8_t *enc, size_t len, size_t strict)
{
	struct meta_cmd d;
	uint8_t *enc2, *more;
	size_t len2;

	for (size_t n = 0; n < len; n++) {
		int rc = meta_cmd_decode(enc, n, &d);
		if (n > strict)
			assert_int_equal(rc, CN_ECORRUPT);
		if (rc)
			continue;
		assert_int_equal(meta_cmd_encode(&d, &enc2, &len2), 0);
		assert_int_equal(len2, n);
		assert_memory_equal(enc2, enc, n);
		free(enc2);
		meta_cmd_release(&d);
	}
	more = malloc(len + 1);
	memcpy(more, enc, len);
	more[len] = 0;
	assert_int_equal(meta_cmd_decode(more, len + 1, &d), CN_ECORRUPT);
	free(more);
}

static void test_cmd_codec_round_trip(void **state)
{
	(void)state;
	struct meta_cmd c;
	struct meta_cmd d;
	uint8_t *e0, *e1, *e2;
	size_t n0, n1, n2;

	/* PUT_VERSION: no lock; lock; lock after a heal mask */
	lock_put_cmd(&c);
	n0 = roundtrip(&c, &e0);
	c.lock.mode = META_LOCK_GOVERNANCE;
	c.lock.until = 1700000000123456789LL + HOUR;
	c.lock.hold = META_HOLD_ON;
	n1 = roundtrip(&c, &e1);
	assert_int_equal(n1, n0 + CMD_LOCK_LEN);
	assert_memory_equal(e1, e0, n0);
	assert_int_equal(e1[n0], 'L');
	assert_int_equal(e1[n0 + 1], 0);
	assert_int_equal(e1[n0 + 2], META_LOCK_GOVERNANCE);
	assert_int_equal(e1[n0 + 3], META_HOLD_ON);
	assert_int_equal(e1[n0 + 4], 0);
	cuts(e1, n1, n0 + 2);
	c.heal_mask = 0x0105;
	n2 = roundtrip(&c, &e2);
	assert_int_equal(n2, n0 + 2 + CMD_LOCK_LEN);
	assert_int_equal(e2[n0], 0x05);
	assert_int_equal(e2[n0 + 1], 0x01);
	assert_memory_equal(e2 + n0 + 2, e1 + n0, CMD_LOCK_LEN);
	cuts(e2, n2, n0 + 2);
	/* a heal mask whose low byte is 'L' is still a mask */
	c.heal_mask = 'L';
	roundtrip_only(&c);
	free(e0);
	free(e1);
	free(e2);
	c.lock.mode = 0;
	c.lock.until = 0;
	c.lock.hold = META_HOLD_OFF;
	roundtrip_only(&c);
	c.heal_mask = 0;
	c.lock.hold = 0;
	c.lock.mode = META_LOCK_COMPLIANCE;
	c.lock.until = 1;
	roundtrip_only(&c);

	/* DELETE_OBJECT of a version with bypass */
	target_cmd(&c, META_CMD_DELETE_OBJECT);
	n0 = roundtrip(&c, &e0);
	c.lock.bypass = 1;
	n1 = roundtrip(&c, &e1);
	assert_int_equal(n1, n0 + CMD_LOCK_LEN);
	assert_int_equal(e1[n1 - 9], 1);
	cuts(e1, n1, n0);
	free(e0);
	free(e1);

	/* UPLOAD_COMPLETE with a lock */
	target_cmd(&c, META_CMD_UPLOAD_COMPLETE);
	c.has_target = 0;
	memset(c.target_vid, 0, META_ID_LEN);
	memset(c.upload_id, 0x33, META_ID_LEN);
	c.lock.mode = META_LOCK_COMPLIANCE;
	c.lock.until = 42;
	c.lock.bypass = 1;
	roundtrip_only(&c);

	/* VERSION_LOCK: retention, its removal, hold; the section is mandatory */
	target_cmd(&c, META_CMD_VERSION_LOCK);
	c.lock.what = META_LOCKSET_RETENTION;
	c.lock.mode = META_LOCK_COMPLIANCE;
	c.lock.until = INT64_MAX;
	c.lock.bypass = 1;
	n1 = roundtrip(&c, &e1);
	cuts(e1, n1, 0);
	free(e1);
	c.lock.mode = 0;
	c.lock.until = 0;
	c.lock.bypass = 0;
	n1 = roundtrip(&c, &e1); /* all zero but what: still carried */
	assert_int_equal(e1[n1 - CMD_LOCK_LEN], 'L');
	assert_int_equal(meta_cmd_decode(e1, n1 - CMD_LOCK_LEN, &d), CN_ECORRUPT);
	free(e1);
	c.lock.what = META_LOCKSET_HOLD;
	c.lock.hold = META_HOLD_OFF;
	roundtrip_only(&c);
	c.target_null = 1;
	c.has_target = 0;
	memset(c.target_vid, 0, META_ID_LEN);
	c.lock.hold = META_HOLD_ON;
	roundtrip_only(&c);
}

/* enc with its byte at off (from the end when negative) set to val must not
 * decode. */
static void patched_refused(const uint8_t *enc, size_t len, long off, uint8_t val)
{
	struct meta_cmd d;
	uint8_t *p = malloc(len);
	size_t at = off < 0 ? len - (size_t)-off : (size_t)off;

	memcpy(p, enc, len);
	p[at] = val;
	assert_int_equal(meta_cmd_decode(p, len, &d), CN_ECORRUPT);
	free(p);
}

/* enc plus a well-formed lock section (bypass only) must not decode. */
static void appended_refused(const struct meta_cmd *c)
{
	static const uint8_t sec[CMD_LOCK_LEN] = {'L', 0, 0, 0, 1};
	struct meta_cmd d;
	uint8_t *enc, *p;
	size_t len;

	assert_int_equal(meta_cmd_encode(c, &enc, &len), 0);
	p = malloc(len + CMD_LOCK_LEN);
	memcpy(p, enc, len);
	memcpy(p + len, sec, CMD_LOCK_LEN);
	assert_int_equal(meta_cmd_decode(p, len + CMD_LOCK_LEN, &d), CN_ECORRUPT);
	free(p);
	free(enc);
}

static void test_cmd_decode_refuses(void **state)
{
	(void)state;
	struct meta_cmd c;
	uint8_t *enc;
	size_t len;

	/* a lock section on a type that may not carry one */
	target_cmd(&c, META_CMD_VERSION_ATTRS);
	c.attrs = "x";
	c.attrs_len = 1;
	appended_refused(&c);
	lock_put_cmd(&c);
	c.type = META_CMD_PART_PUT;
	memset(c.upload_id, 0x33, META_ID_LEN);
	c.part_no = 2;
	c.loc = META_LOC_BLOB;
	c.inline_data = NULL;
	c.inline_len = 0;
	appended_refused(&c);
	c.heal_mask = 3;
	appended_refused(&c);
	memset(&c, 0, sizeof(c));
	c.type = META_CMD_BUCKET_CREATE;
	c.bucket = "bkt";
	c.bucket_len = 3;
	appended_refused(&c);
	c.type = META_CMD_BUCKET_CONF;
	c.key = "policy";
	c.key_len = 6;
	appended_refused(&c);

	/* DELETE_OBJECT with bypass: a bad tag, bypass 2, fields it is valid
	 * without, an all-zero section (not one encoding) */
	target_cmd(&c, META_CMD_DELETE_OBJECT);
	c.lock.bypass = 1;
	assert_int_equal(meta_cmd_encode(&c, &enc, &len), 0);
	patched_refused(enc, len, -CMD_LOCK_LEN, 'M');
	patched_refused(enc, len, -CMD_LOCK_LEN, 0);
	patched_refused(enc, len, -9, 2);
	patched_refused(enc, len, -9, 0);			/* all zero */
	patched_refused(enc, len, -12, META_LOCKSET_RETENTION); /* what off VERSION_LOCK */
	free(enc);

	/* VERSION_LOCK retention: mode 3, hold 3, what 0 / 3, the date */
	target_cmd(&c, META_CMD_VERSION_LOCK);
	c.lock.what = META_LOCKSET_RETENTION;
	c.lock.mode = META_LOCK_GOVERNANCE;
	c.lock.until = 0x0102030405060708LL;
	assert_int_equal(meta_cmd_encode(&c, &enc, &len), 0);
	patched_refused(enc, len, -11, 3);
	patched_refused(enc, len, -11, 0xff);
	patched_refused(enc, len, -10, 3);
	patched_refused(enc, len, -12, 0);
	patched_refused(enc, len, -12, 3);
	patched_refused(enc, len, -1, 0x81); /* negative */
	{
		/* a mode with the date 0 */
		struct meta_cmd d;
		uint8_t *p = malloc(len);
		memcpy(p, enc, len);
		memset(p + len - 8, 0, 8);
		assert_int_equal(meta_cmd_decode(p, len, &d), CN_ECORRUPT);
		/* and a date without a mode */
		memcpy(p, enc, len);
		p[len - 11] = 0;
		assert_int_equal(meta_cmd_decode(p, len, &d), CN_ECORRUPT);
		/* the unpatched bytes do decode */
		memcpy(p, enc, len);
		assert_int_equal(meta_cmd_decode(p, len, &d), 0);
		meta_cmd_release(&d);
		free(p);
	}
	free(enc);

	/* PUT_VERSION with a lock: a bad tag; after a heal mask too */
	lock_put_cmd(&c);
	c.lock.mode = META_LOCK_COMPLIANCE;
	c.lock.until = 99;
	assert_int_equal(meta_cmd_encode(&c, &enc, &len), 0);
	patched_refused(enc, len, -CMD_LOCK_LEN, 'l');
	patched_refused(enc, len, -11, 3);
	free(enc);
	c.heal_mask = 7;
	assert_int_equal(meta_cmd_encode(&c, &enc, &len), 0);
	patched_refused(enc, len, -CMD_LOCK_LEN, 'K');
	patched_refused(enc, len, -11, 3);
	free(enc);
}

static void encode_refused(const struct meta_cmd *c)
{
	uint8_t *enc = NULL;
	size_t len;

	assert_int_equal(meta_cmd_encode(c, &enc, &len), CN_EINVAL);
	assert_null(enc);
}

static void test_cmd_encode_refuses(void **state)
{
	(void)state;
	struct meta_cmd c;

	lock_put_cmd(&c);
	c.lock.mode = 3;
	c.lock.until = 5;
	encode_refused(&c);
	lock_put_cmd(&c);
	c.lock.mode = META_LOCK_GOVERNANCE; /* no date */
	encode_refused(&c);
	lock_put_cmd(&c);
	c.lock.until = 5; /* a date without a mode */
	encode_refused(&c);
	lock_put_cmd(&c);
	c.lock.mode = META_LOCK_GOVERNANCE;
	c.lock.until = -5;
	encode_refused(&c);
	lock_put_cmd(&c);
	c.lock.hold = 3;
	encode_refused(&c);
	lock_put_cmd(&c);
	c.lock.bypass = 2;
	encode_refused(&c);
	lock_put_cmd(&c);
	c.lock.what = META_LOCKSET_HOLD; /* only VERSION_LOCK says what */
	c.lock.hold = META_HOLD_ON;
	encode_refused(&c);

	target_cmd(&c, META_CMD_VERSION_LOCK); /* what is mandatory */
	encode_refused(&c);
	c.lock.what = 3;
	c.lock.hold = META_HOLD_ON;
	encode_refused(&c);
	c.lock.what = META_LOCKSET_RETENTION;
	c.lock.mode = META_LOCK_COMPLIANCE;
	encode_refused(&c); /* no date */

	/* fields a command does not use: one encoding per meaning */
	target_cmd(&c, META_CMD_VERSION_LOCK);
	c.lock.what = META_LOCKSET_RETENTION;
	c.lock.mode = META_LOCK_COMPLIANCE;
	c.lock.until = 5;
	c.lock.hold = META_HOLD_ON;
	encode_refused(&c);
	target_cmd(&c, META_CMD_VERSION_LOCK);
	c.lock.what = META_LOCKSET_HOLD;
	c.lock.hold = META_HOLD_ON;
	c.lock.until = 5;
	encode_refused(&c);
	target_cmd(&c, META_CMD_DELETE_OBJECT);
	c.lock.bypass = 1;
	c.lock.hold = META_HOLD_OFF;
	encode_refused(&c);

	target_cmd(&c, META_CMD_VERSION_ATTRS);
	c.lock.bypass = 1;
	encode_refused(&c);
	lock_put_cmd(&c);
	c.type = META_CMD_PART_PUT;
	c.lock.mode = META_LOCK_GOVERNANCE;
	c.lock.until = 5;
	encode_refused(&c);
	memset(&c, 0, sizeof(c));
	c.type = META_CMD_BUCKET_CREATE;
	c.bucket = "bkt";
	c.bucket_len = 3;
	c.lock.hold = META_HOLD_ON;
	encode_refused(&c);

	/* and the store refuses them at submit, before apply */
	struct tstore t;
	ts_open(&t);
	mk_lock_bucket(t.s, "enc");
	assert_int_equal(put_lock(t.s, "enc", "k", META_LOCK_GOVERNANCE, 0, 0, 0, NULL), CN_EINVAL);
	assert_int_equal(put_lock(t.s, "enc", "k", 3, t_now() + HOUR, 0, 0, NULL), CN_EINVAL);
	assert_int_equal(version_rc(t.s, "enc", "k", NULL), CN_ENOKEY);
	ts_close(&t);
}

/* ---- apply: the bucket ---- */

static void test_lock_needs_object_lock(void **state)
{
	(void)state;
	struct tstore t;
	char vid[META_ID_TEXT];
	int64_t now;

	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "plain"), 0);
	assert_int_equal(set_versioning(t.s, "plain", META_VERSIONING_ENABLED), 0);
	assert_int_equal(
		put_lock(t.s, "plain", "k", META_LOCK_GOVERNANCE, t_now() + HOUR, 0, 0, NULL),
		CN_ELOCKNOTENABLED);
	assert_int_equal(put_lock(t.s, "plain", "k", 0, 0, META_HOLD_ON, 0, NULL),
			 CN_ELOCKNOTENABLED);
	assert_int_equal(put_lock(t.s, "plain", "k", 0, 0, META_HOLD_OFF, 0, NULL),
			 CN_ELOCKNOTENABLED);
	assert_int_equal(version_rc(t.s, "plain", "k", NULL), CN_ENOKEY);
	assert_int_equal(put_lock(t.s, "plain", "k", 0, 0, 0, 0, vid), 0);
	assert_int_equal(retain(t.s, "plain", "k", vid, META_LOCK_GOVERNANCE, t_now() + HOUR, 0),
			 CN_ELOCKNOTENABLED);
	assert_int_equal(hold(t.s, "plain", "k", vid, META_HOLD_ON), CN_ELOCKNOTENABLED);
	expect_lock(t.s, "plain", "k", vid, 0, 0, 0);
	/* unversioned too */
	assert_int_equal(mk_bucket(t.s, "unver"), 0);
	assert_int_equal(
		put_lock(t.s, "unver", "k", META_LOCK_COMPLIANCE, t_now() + HOUR, 0, 0, NULL),
		CN_ELOCKNOTENABLED);
	assert_int_equal(retain(t.s, "nobkt", "k", vid, META_LOCK_GOVERNANCE, t_now() + HOUR, 0),
			 CN_ENOBUCKET);

	/* with object lock: a retention must end after the command's now */
	mk_lock_bucket(t.s, "lkd");
	now = t_now();
	assert_int_equal(put_lock(t.s, "lkd", "k", META_LOCK_GOVERNANCE, now, 0, now, NULL),
			 CN_EBADARG);
	assert_int_equal(put_lock(t.s, "lkd", "k", META_LOCK_COMPLIANCE, now - 1, 0, now, NULL),
			 CN_EBADARG);
	assert_int_equal(version_rc(t.s, "lkd", "k", NULL), CN_ENOKEY);
	assert_int_equal(put_lock(t.s, "lkd", "k", META_LOCK_GOVERNANCE, now + 1, 0, now, vid), 0);
	expect_lock(t.s, "lkd", "k", vid, META_LOCK_GOVERNANCE, now + 1, 0);
	assert_int_equal(put_lock(t.s, "lkd", "h", 0, 0, META_HOLD_ON, 0, vid), 0);
	expect_lock(t.s, "lkd", "h", vid, 0, 0, META_HOLD_ON);
	check_stats(t.s, "plain");
	check_stats(t.s, "lkd");
	ts_close(&t);
}

static void test_bucket_conf_object_lock(void **state)
{
	(void)state;
	struct tstore t;
	struct meta_bucket b;
	char *v;
	size_t len;

	ts_open(&t);
	assert_int_equal(sub(t.s, bconf("nobkt", META_BCONF_OBJECT_LOCK, OL_DOC)), CN_ENOBUCKET);
	assert_int_equal(mk_bucket(t.s, "bcl"), 0);
	assert_int_equal(sub(t.s, bconf("bcl", META_BCONF_OBJECT_LOCK, OL_DOC)), CN_EBUCKETSTATE);
	assert_int_equal(meta_bucket_conf_get(t.s, "bcl", META_BCONF_OBJECT_LOCK, &v, &len),
			 CN_ENOTFOUND);
	assert_int_equal(set_versioning(t.s, "bcl", META_VERSIONING_SUSPENDED), 0);
	assert_int_equal(sub(t.s, bconf("bcl", META_BCONF_OBJECT_LOCK, OL_DOC)), CN_EBUCKETSTATE);
	/* a bucket without object lock may still leave Enabled */
	assert_int_equal(set_versioning(t.s, "bcl", META_VERSIONING_ENABLED), 0);
	assert_int_equal(set_versioning(t.s, "bcl", META_VERSIONING_SUSPENDED), 0);
	assert_int_equal(set_versioning(t.s, "bcl", META_VERSIONING_ENABLED), 0);
	assert_int_equal(sub(t.s, bconf("bcl", META_BCONF_OBJECT_LOCK, OL_DOC)), 0);
	assert_int_equal(meta_bucket_conf_get(t.s, "bcl", META_BCONF_OBJECT_LOCK, &v, &len), 0);
	assert_string_equal(v, OL_DOC);
	free(v);
	/* once enabled it stays: no deleting it, no suspending */
	assert_int_equal(sub(t.s, bconf("bcl", META_BCONF_OBJECT_LOCK, "")), CN_EBUCKETSTATE);
	assert_int_equal(meta_bucket_conf_get(t.s, "bcl", META_BCONF_OBJECT_LOCK, &v, &len), 0);
	free(v);
	assert_int_equal(set_versioning(t.s, "bcl", META_VERSIONING_SUSPENDED), CN_EBUCKETSTATE);
	assert_int_equal(meta_bucket_get(t.s, "bcl", &b), 0);
	assert_int_equal(b.versioning, META_VERSIONING_ENABLED);
	meta_bucket_release(&b);
	assert_int_equal(set_versioning(t.s, "bcl", META_VERSIONING_ENABLED), 0);
	assert_int_equal(set_versioning(t.s, "bcl", META_VERSIONING_OFF), CN_EBADARG);
	/* replacing it (a default retention) is fine, other documents as before */
	assert_int_equal(sub(t.s, bconf("bcl", META_BCONF_OBJECT_LOCK, "{\"Rule\":1}")), 0);
	assert_int_equal(sub(t.s, bconf("bcl", "policy", "{}")), 0);
	assert_int_equal(sub(t.s, bconf("bcl", "policy", "")), 0);
	assert_int_equal(meta_bucket_conf_get(t.s, "bcl", "policy", &v, &len), CN_ENOTFOUND);
	/* deleting a missing one is refused the same way */
	assert_int_equal(mk_bucket(t.s, "bcl2"), 0);
	assert_int_equal(sub(t.s, bconf("bcl2", META_BCONF_OBJECT_LOCK, "")), CN_EBUCKETSTATE);
	ts_reopen(&t);
	assert_int_equal(set_versioning(t.s, "bcl", META_VERSIONING_SUSPENDED), CN_EBUCKETSTATE);
	ts_close(&t);
}

/* Appends one packed configuration document (META_CMD_BUCKET_CREATE). */
static size_t pack(uint8_t *p, size_t off, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);

	p[off++] = (uint8_t)nl;
	memcpy(p + off, name, nl);
	off += nl;
	for (int i = 0; i < 4; i++)
		p[off++] = (uint8_t)(vl >> (8 * i));
	memcpy(p + off, value, vl);
	return off + vl;
}

static int create_with(struct meta_store *s, const char *b, const uint8_t *docs, size_t len)
{
	struct meta_cmd c = {.type = META_CMD_BUCKET_CREATE, .now = t_now()};

	c.bucket = b;
	c.bucket_len = strlen(b);
	c.inline_data = docs;
	c.inline_len = len;
	return meta_submit_sync(s, &c);
}

static int versioning_of(struct meta_store *s, const char *bucket)
{
	struct meta_bucket b;
	int v;

	assert_int_equal(meta_bucket_get(s, bucket, &b), 0);
	v = b.versioning;
	meta_bucket_release(&b);
	return v;
}

static void test_bucket_create_with_object_lock(void **state)
{
	(void)state;
	struct tstore t;
	struct meta_bucket b;
	uint8_t docs[512];
	size_t n;
	char *v, vid[META_ID_TEXT];
	size_t len;

	ts_open(&t);
	n = pack(docs, 0, META_BCONF_OBJECT_LOCK, OL_DOC);
	assert_int_equal(create_with(t.s, "cwl", docs, n), 0);
	assert_int_equal(versioning_of(t.s, "cwl"), META_VERSIONING_ENABLED);
	assert_int_equal(meta_bucket_conf_get(t.s, "cwl", META_BCONF_OBJECT_LOCK, &v, &len), 0);
	assert_string_equal(v, OL_DOC);
	free(v);
	assert_int_equal(set_versioning(t.s, "cwl", META_VERSIONING_SUSPENDED), CN_EBUCKETSTATE);
	assert_int_equal(versioning_of(t.s, "cwl"), META_VERSIONING_ENABLED);
	assert_int_equal(put_lock(t.s, "cwl", "k", META_LOCK_COMPLIANCE, t_now() + HOUR, 0, 0, vid),
			 0);
	assert_true(strcmp(vid, "null") != 0); /* a real version id */

	/* found after another document, not fooled by a longer name */
	n = pack(docs, 0, "policy", "{}");
	n = pack(docs, n, META_BCONF_OBJECT_LOCK, OL_DOC);
	assert_int_equal(create_with(t.s, "cwl2", docs, n), 0);
	assert_int_equal(versioning_of(t.s, "cwl2"), META_VERSIONING_ENABLED);
	n = pack(docs, 0, "object-lockx", OL_DOC);
	n = pack(docs, n, "policy", "{}");
	assert_int_equal(create_with(t.s, "cwl3", docs, n), 0);
	assert_int_equal(versioning_of(t.s, "cwl3"), META_VERSIONING_OFF);
	n = pack(docs, 0, "policy", "{}");
	assert_int_equal(create_with(t.s, "cwl4", docs, n), 0);
	assert_int_equal(versioning_of(t.s, "cwl4"), META_VERSIONING_OFF);
	assert_int_equal(set_versioning(t.s, "cwl4", META_VERSIONING_SUSPENDED), 0);
	assert_int_equal(
		put_lock(t.s, "cwl4", "k", META_LOCK_COMPLIANCE, t_now() + HOUR, 0, 0, NULL),
		CN_ELOCKNOTENABLED);
	/* a bad packing fails the whole create */
	n = pack(docs, 0, META_BCONF_OBJECT_LOCK, OL_DOC);
	docs[n - 1 - strlen(OL_DOC)] = 0xff; /* value length past the end */
	assert_int_equal(create_with(t.s, "cwl5", docs, n), CN_EBADARG);
	assert_int_equal(meta_bucket_get(t.s, "cwl5", &b), CN_ENOBUCKET);
	check_stats(t.s, "cwl");
	ts_close(&t);
}

/* ---- apply: enforcement on removal ---- */

static void test_delete_matrix(void **state)
{
	(void)state;
	struct tstore t;
	struct meta_cmd_result r;
	char g[META_ID_TEXT], c[META_ID_TEXT], ge[META_ID_TEXT], ce[META_ID_TEXT];
	char h[META_ID_TEXT], hg[META_ID_TEXT], ho[META_ID_TEXT], hc[META_ID_TEXT];
	char old[META_ID_TEXT];
	int64_t u = t_now() + HOUR;

	ts_open(&t);
	mk_lock_bucket(t.s, "mtx");

	/* GOVERNANCE in force: only bypass removes it */
	assert_int_equal(put_lock(t.s, "mtx", "g", META_LOCK_GOVERNANCE, u, 0, 0, g), 0);
	assert_int_equal(del_at(t.s, "mtx", "g", g, 0, 0, NULL), CN_ELOCKED);
	assert_int_equal(version_rc(t.s, "mtx", "g", g), 0);
	assert_int_equal(del_at(t.s, "mtx", "g", g, 1, 0, &r), 0);
	assert_string_equal(r.vid_text, g);
	assert_int_equal(r.delete_marker, 0);
	assert_int_equal(version_rc(t.s, "mtx", "g", g), CN_ENOVERSION);
	assert_int_equal(version_rc(t.s, "mtx", "g", NULL), CN_ENOKEY);

	/* COMPLIANCE in force: nothing removes it */
	assert_int_equal(put_lock(t.s, "mtx", "c", META_LOCK_COMPLIANCE, u, 0, 0, c), 0);
	assert_int_equal(del_at(t.s, "mtx", "c", c, 0, 0, NULL), CN_ELOCKED);
	assert_int_equal(del_at(t.s, "mtx", "c", c, 1, 0, NULL), CN_ELOCKED);
	assert_int_equal(del_at(t.s, "mtx", "c", c, 1, u - 1, NULL), CN_ELOCKED);
	expect_lock(t.s, "mtx", "c", c, META_LOCK_COMPLIANCE, u, 0);

	/* expired (until <= now): removable without bypass, at the boundary */
	assert_int_equal(put_lock(t.s, "mtx", "ge", META_LOCK_GOVERNANCE, u, 0, 0, ge), 0);
	assert_int_equal(del_at(t.s, "mtx", "ge", ge, 0, u - 1, NULL), CN_ELOCKED);
	assert_int_equal(del_at(t.s, "mtx", "ge", ge, 0, u, NULL), 0);
	assert_int_equal(version_rc(t.s, "mtx", "ge", ge), CN_ENOVERSION);
	assert_int_equal(put_lock(t.s, "mtx", "ce", META_LOCK_COMPLIANCE, u, 0, 0, ce), 0);
	assert_int_equal(del_at(t.s, "mtx", "ce", ce, 0, u + 1, NULL), 0);
	assert_int_equal(version_rc(t.s, "mtx", "ce", ce), CN_ENOVERSION);

	/* legal hold ON: nothing removes it, bypass or expiry; OFF is no lock */
	assert_int_equal(put_lock(t.s, "mtx", "h", 0, 0, META_HOLD_ON, 0, h), 0);
	assert_int_equal(del_at(t.s, "mtx", "h", h, 0, 0, NULL), CN_ELOCKED);
	assert_int_equal(del_at(t.s, "mtx", "h", h, 1, 0, NULL), CN_ELOCKED);
	assert_int_equal(put_lock(t.s, "mtx", "hg", META_LOCK_GOVERNANCE, u, META_HOLD_ON, 0, hg),
			 0);
	assert_int_equal(del_at(t.s, "mtx", "hg", hg, 1, 0, NULL), CN_ELOCKED);
	assert_int_equal(del_at(t.s, "mtx", "hg", hg, 1, u + 1, NULL), CN_ELOCKED);
	expect_lock(t.s, "mtx", "hg", hg, META_LOCK_GOVERNANCE, u, META_HOLD_ON);
	assert_int_equal(put_lock(t.s, "mtx", "ho", 0, 0, META_HOLD_OFF, 0, ho), 0);
	assert_int_equal(del_at(t.s, "mtx", "ho", ho, 0, 0, NULL), 0);
	assert_int_equal(version_rc(t.s, "mtx", "ho", ho), CN_ENOVERSION);
	assert_int_equal(put_lock(t.s, "mtx", "hc", META_LOCK_COMPLIANCE, u, META_HOLD_OFF, 0, hc),
			 0);
	assert_int_equal(del_at(t.s, "mtx", "hc", hc, 1, 0, NULL), CN_ELOCKED);

	/* a locked version below the latest (in versions, not the index) */
	assert_int_equal(put_lock(t.s, "mtx", "c", 0, 0, 0, 0, NULL), 0);
	assert_int_equal(del_at(t.s, "mtx", "c", c, 1, 0, NULL), CN_ELOCKED);
	expect_lock(t.s, "mtx", "c", c, META_LOCK_COMPLIANCE, u, 0);

	/* a delete without a target only adds a marker: allowed */
	assert_int_equal(del_at(t.s, "mtx", "h", NULL, 0, 0, &r), 0);
	assert_int_equal(r.delete_marker, 1);
	assert_true(r.vid_text[0] && strcmp(r.vid_text, h) != 0);
	assert_int_equal(version_rc(t.s, "mtx", "h", NULL), CN_ENOKEY);
	expect_lock(t.s, "mtx", "h", h, 0, 0, META_HOLD_ON);
	assert_int_equal(del_at(t.s, "mtx", "h", h, 1, 0, NULL), CN_ELOCKED);
	strcpy(old, r.vid_text);
	assert_int_equal(del_at(t.s, "mtx", "h", old, 0, 0, NULL), 0); /* the marker itself */
	expect_lock(t.s, "mtx", "h", NULL, 0, 0, META_HOLD_ON);
	assert_int_equal(del_at(t.s, "mtx", "hg", NULL, 0, 0, NULL), 0);
	assert_int_equal(del_at(t.s, "mtx", "hc", NULL, 0, 0, NULL), 0);

	check_stats(t.s, "mtx");
	ts_reopen(&t);
	assert_int_equal(del_at(t.s, "mtx", "c", c, 1, 0, NULL), CN_ELOCKED);
	assert_int_equal(del_at(t.s, "mtx", "c", c, 0, u, NULL), 0);
	check_stats(t.s, "mtx");
	ts_close(&t);
}

/* ---- apply: VERSION_LOCK ---- */

static void test_version_lock_retention(void **state)
{
	(void)state;
	struct tstore t;
	struct meta_cmd_result r;
	char g[META_ID_TEXT], g2[META_ID_TEXT], g3[META_ID_TEXT], c[META_ID_TEXT];
	char x[META_ID_TEXT], missing[META_ID_TEXT];
	uint8_t id[META_ID_LEN];
	int64_t u = t_now() + HOUR, now;

	ts_open(&t);
	mk_lock_bucket(t.s, "ret");

	/* GOVERNANCE: keep / extend freely; shorten or remove with bypass */
	assert_int_equal(put_lock(t.s, "ret", "g", META_LOCK_GOVERNANCE, u, 0, 0, g), 0);
	assert_int_equal(retain(t.s, "ret", "g", g, META_LOCK_GOVERNANCE, u, 0), 0);
	assert_int_equal(retain(t.s, "ret", "g", g, META_LOCK_GOVERNANCE, u + HOUR, 0), 0);
	expect_lock(t.s, "ret", "g", g, META_LOCK_GOVERNANCE, u + HOUR, 0);
	assert_int_equal(retain(t.s, "ret", "g", g, META_LOCK_GOVERNANCE, u, 0), CN_ELOCKED);
	expect_lock(t.s, "ret", "g", g, META_LOCK_GOVERNANCE, u + HOUR, 0);
	assert_int_equal(retain(t.s, "ret", "g", g, META_LOCK_GOVERNANCE, u, 1), 0);
	expect_lock(t.s, "ret", "g", g, META_LOCK_GOVERNANCE, u, 0);
	assert_int_equal(retain(t.s, "ret", "g", g, 0, 0, 0), CN_ELOCKED);
	expect_lock(t.s, "ret", "g", g, META_LOCK_GOVERNANCE, u, 0);
	assert_int_equal(retain(t.s, "ret", "g", g, 0, 0, 1), 0);
	expect_lock(t.s, "ret", "g", g, 0, 0, 0);
	assert_int_equal(del_at(t.s, "ret", "g", g, 0, 0, NULL), 0); /* nothing left */

	/* GOVERNANCE -> COMPLIANCE at the same or a later date; earlier needs bypass */
	assert_int_equal(put_lock(t.s, "ret", "g2", META_LOCK_GOVERNANCE, u, 0, 0, g2), 0);
	assert_int_equal(retain(t.s, "ret", "g2", g2, META_LOCK_COMPLIANCE, u, 0), 0);
	expect_lock(t.s, "ret", "g2", g2, META_LOCK_COMPLIANCE, u, 0);
	assert_int_equal(put_lock(t.s, "ret", "g3", META_LOCK_GOVERNANCE, u, 0, 0, g3), 0);
	assert_int_equal(retain(t.s, "ret", "g3", g3, META_LOCK_COMPLIANCE, u - 1, 0), CN_ELOCKED);
	assert_int_equal(retain(t.s, "ret", "g3", g3, META_LOCK_COMPLIANCE, u + HOUR, 0), 0);
	expect_lock(t.s, "ret", "g3", g3, META_LOCK_COMPLIANCE, u + HOUR, 0);

	/* COMPLIANCE: extend only, bypass or not */
	assert_int_equal(put_lock(t.s, "ret", "c", META_LOCK_COMPLIANCE, u, 0, 0, c), 0);
	assert_int_equal(retain(t.s, "ret", "c", c, META_LOCK_COMPLIANCE, u - 1, 0), CN_ELOCKED);
	assert_int_equal(retain(t.s, "ret", "c", c, META_LOCK_COMPLIANCE, u - 1, 1), CN_ELOCKED);
	assert_int_equal(retain(t.s, "ret", "c", c, 0, 0, 0), CN_ELOCKED);
	assert_int_equal(retain(t.s, "ret", "c", c, 0, 0, 1), CN_ELOCKED);
	assert_int_equal(retain(t.s, "ret", "c", c, META_LOCK_GOVERNANCE, u, 1), CN_ELOCKED);
	assert_int_equal(retain(t.s, "ret", "c", c, META_LOCK_GOVERNANCE, u + HOUR, 1), CN_ELOCKED);
	expect_lock(t.s, "ret", "c", c, META_LOCK_COMPLIANCE, u, 0);
	assert_int_equal(retain(t.s, "ret", "c", c, META_LOCK_COMPLIANCE, u + 2 * HOUR, 0), 0);
	expect_lock(t.s, "ret", "c", c, META_LOCK_COMPLIANCE, u + 2 * HOUR, 0);
	/* once expired it is no longer in force: it may go */
	assert_int_equal(
		vlock(t.s, "ret", "c", c, META_LOCKSET_RETENTION, 0, 0, 0, 0, u + 2 * HOUR), 0);
	expect_lock(t.s, "ret", "c", c, 0, 0, 0);

	/* a new date must lie ahead of the command's now, bypass or not */
	assert_int_equal(put_lock(t.s, "ret", "x", 0, 0, 0, 0, x), 0);
	now = t_now();
	assert_int_equal(vlock(t.s, "ret", "x", x, META_LOCKSET_RETENTION, META_LOCK_GOVERNANCE,
			       now - 1, 0, 0, now),
			 CN_EBADARG);
	assert_int_equal(vlock(t.s, "ret", "x", x, META_LOCKSET_RETENTION, META_LOCK_COMPLIANCE,
			       now, 0, 1, now),
			 CN_EBADARG);
	expect_lock(t.s, "ret", "x", x, 0, 0, 0);
	assert_int_equal(vlock(t.s, "ret", "g2", g2, META_LOCKSET_RETENTION, META_LOCK_COMPLIANCE,
			       u - 1, 0, 1, u - 2),
			 CN_ELOCKED);
	assert_int_equal(put_lock(t.s, "ret", "x", META_LOCK_GOVERNANCE, u, 0, 0, x), 0);
	assert_int_equal(vlock(t.s, "ret", "x", x, META_LOCKSET_RETENTION, META_LOCK_GOVERNANCE,
			       u - 2 * HOUR, 0, 1, u - HOUR),
			 CN_EBADARG);
	expect_lock(t.s, "ret", "x", x, META_LOCK_GOVERNANCE, u, 0);

	/* what it applies to */
	assert_int_equal(del_at(t.s, "ret", "x", NULL, 0, 0, &r), 0);
	assert_int_equal(r.delete_marker, 1);
	assert_int_equal(retain(t.s, "ret", "x", r.vid_text, META_LOCK_GOVERNANCE, u, 0),
			 CN_EDELMARKER);
	assert_int_equal(hold(t.s, "ret", "x", r.vid_text, META_HOLD_ON), CN_EDELMARKER);
	meta_version_id_new(t.s, id);
	meta_id_to_text(id, missing);
	assert_int_equal(retain(t.s, "ret", "x", missing, META_LOCK_GOVERNANCE, u, 0),
			 CN_ENOVERSION);
	assert_int_equal(retain(t.s, "ret", "nokey", missing, META_LOCK_GOVERNANCE, u, 0),
			 CN_ENOVERSION);
	assert_int_equal(hold(t.s, "ret", "x", missing, META_HOLD_ON), CN_ENOVERSION);
	assert_int_equal(retain(t.s, "ret", "x", NULL, META_LOCK_GOVERNANCE, u, 0), CN_EINVAL);
	check_stats(t.s, "ret");
	ts_close(&t);
}

static void test_version_lock_hold(void **state)
{
	(void)state;
	struct tstore t;
	char a[META_ID_TEXT], c[META_ID_TEXT];
	int64_t u = t_now() + HOUR;

	ts_open(&t);
	mk_lock_bucket(t.s, "hld");
	assert_int_equal(put_lock(t.s, "hld", "a", 0, 0, 0, 0, a), 0);
	expect_lock(t.s, "hld", "a", a, 0, 0, META_HOLD_NONE);
	assert_int_equal(hold(t.s, "hld", "a", a, META_HOLD_ON), 0);
	expect_lock(t.s, "hld", "a", a, 0, 0, META_HOLD_ON);
	assert_int_equal(del_at(t.s, "hld", "a", a, 1, 0, NULL), CN_ELOCKED);
	assert_int_equal(hold(t.s, "hld", "a", a, META_HOLD_OFF), 0);
	expect_lock(t.s, "hld", "a", a, 0, 0, META_HOLD_OFF);
	assert_int_equal(hold(t.s, "hld", "a", a, META_HOLD_NONE), CN_EINVAL);
	expect_lock(t.s, "hld", "a", a, 0, 0, META_HOLD_OFF);
	ts_reopen(&t);
	expect_lock(t.s, "hld", "a", a, 0, 0, META_HOLD_OFF);
	assert_int_equal(del_at(t.s, "hld", "a", a, 0, 0, NULL), 0);
	assert_int_equal(version_rc(t.s, "hld", "a", a), CN_ENOVERSION);

	/* a hold and a retention are independent; a hold needs no bypass */
	assert_int_equal(put_lock(t.s, "hld", "c", META_LOCK_COMPLIANCE, u, 0, 0, c), 0);
	assert_int_equal(hold(t.s, "hld", "c", c, META_HOLD_ON), 0);
	expect_lock(t.s, "hld", "c", c, META_LOCK_COMPLIANCE, u, META_HOLD_ON);
	assert_int_equal(retain(t.s, "hld", "c", c, META_LOCK_COMPLIANCE, u + HOUR, 0), 0);
	expect_lock(t.s, "hld", "c", c, META_LOCK_COMPLIANCE, u + HOUR, META_HOLD_ON);
	assert_int_equal(del_at(t.s, "hld", "c", c, 0, u + 2 * HOUR, NULL), CN_ELOCKED);
	assert_int_equal(hold(t.s, "hld", "c", c, META_HOLD_OFF), 0);
	expect_lock(t.s, "hld", "c", c, META_LOCK_COMPLIANCE, u + HOUR, META_HOLD_OFF);
	assert_int_equal(del_at(t.s, "hld", "c", c, 1, 0, NULL), CN_ELOCKED);
	assert_int_equal(del_at(t.s, "hld", "c", c, 0, u + 2 * HOUR, NULL), 0);
	check_stats(t.s, "hld");
	ts_close(&t);
}

/* An upload of key k with one part (blob fill), ready to complete. */
static void upload_one(struct meta_store *s, const char *b, const char *k, uint8_t fill,
		       uint8_t up[META_ID_LEN])
{
	struct meta_cmd u = {.type = META_CMD_UPLOAD_CREATE, .now = t_now()};
	struct meta_cmd p = {.type = META_CMD_PART_PUT, .now = t_now()};

	u.bucket = p.bucket = b;
	u.bucket_len = p.bucket_len = strlen(b);
	u.key = p.key = k;
	u.key_len = p.key_len = strlen(k);
	meta_upload_id_new(s, up);
	memcpy(u.upload_id, up, META_ID_LEN);
	assert_int_equal(meta_submit_sync(s, &u), 0);
	memcpy(p.upload_id, up, META_ID_LEN);
	p.part_no = 1;
	p.size = 10;
	p.etag = ET;
	p.etag_len = 32;
	memset(p.blob_id, fill, META_ID_LEN);
	p.layout = "lay";
	p.layout_len = 3;
	assert_int_equal(meta_submit_sync(s, &p), 0);
}

static int complete_lock(struct meta_store *s, const char *b, const char *k,
			 const uint8_t up[META_ID_LEN], uint8_t mode, int64_t until, uint8_t h,
			 char vid[META_ID_TEXT])
{
	struct meta_part_ref ref = {1, ET, 32};
	struct meta_cmd c = {.type = META_CMD_UPLOAD_COMPLETE, .now = t_now()};
	int rc;

	c.bucket = b;
	c.bucket_len = strlen(b);
	c.key = k;
	c.key_len = strlen(k);
	memcpy(c.upload_id, up, META_ID_LEN);
	meta_version_id_new(s, c.vid);
	c.parts = &ref;
	c.n_parts = 1;
	c.lock.mode = mode;
	c.lock.until = until;
	c.lock.hold = h;
	rc = meta_submit_sync(s, &c);
	if (vid)
		strcpy(vid, rc ? "" : c.res.vid_text);
	return rc;
}

static void test_upload_complete_lock(void **state)
{
	(void)state;
	struct tstore t;
	struct meta_upload mu;
	uint8_t up[META_ID_LEN];
	char vid[META_ID_TEXT];
	int64_t u = t_now() + HOUR;

	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "mpp"), 0);
	assert_int_equal(set_versioning(t.s, "mpp", META_VERSIONING_ENABLED), 0);
	upload_one(t.s, "mpp", "k", 1, up);
	assert_int_equal(complete_lock(t.s, "mpp", "k", up, META_LOCK_GOVERNANCE, u, 0, NULL),
			 CN_ELOCKNOTENABLED);
	assert_int_equal(complete_lock(t.s, "mpp", "k", up, 0, 0, META_HOLD_ON, NULL),
			 CN_ELOCKNOTENABLED);
	assert_int_equal(meta_upload_get(t.s, "mpp", "k", 1, up, &mu), 0); /* still open */
	meta_upload_release(&mu);
	assert_int_equal(version_rc(t.s, "mpp", "k", NULL), CN_ENOKEY);

	mk_lock_bucket(t.s, "mpl");
	upload_one(t.s, "mpl", "k", 2, up);
	assert_int_equal(complete_lock(t.s, "mpl", "k", up, META_LOCK_COMPLIANCE, 1, 0, NULL),
			 CN_EBADARG); /* a date long past */
	assert_int_equal(
		complete_lock(t.s, "mpl", "k", up, META_LOCK_COMPLIANCE, u, META_HOLD_ON, vid), 0);
	assert_int_equal(meta_upload_get(t.s, "mpl", "k", 1, up, &mu), CN_ENOUPLOAD);
	expect_lock(t.s, "mpl", "k", vid, META_LOCK_COMPLIANCE, u, META_HOLD_ON);
	assert_int_equal(del_at(t.s, "mpl", "k", vid, 1, u + 1, NULL), CN_ELOCKED); /* the hold */
	assert_int_equal(hold(t.s, "mpl", "k", vid, META_HOLD_OFF), 0);
	assert_int_equal(del_at(t.s, "mpl", "k", vid, 1, 0, NULL), CN_ELOCKED);
	assert_int_equal(del_at(t.s, "mpl", "k", vid, 0, u + 1, NULL), 0);
	check_stats(t.s, "mpp");
	check_stats(t.s, "mpl");
	ts_close(&t);
}

int main(void)
{
	unit_filter_from_env();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_record_codec),
		cmocka_unit_test(test_version_lock_stored),
		cmocka_unit_test(test_cmd_codec_round_trip),
		cmocka_unit_test(test_cmd_decode_refuses),
		cmocka_unit_test(test_cmd_encode_refuses),
		cmocka_unit_test(test_lock_needs_object_lock),
		cmocka_unit_test(test_bucket_conf_object_lock),
		cmocka_unit_test(test_bucket_create_with_object_lock),
		cmocka_unit_test(test_delete_matrix),
		cmocka_unit_test(test_version_lock_retention),
		cmocka_unit_test(test_version_lock_hold),
		cmocka_unit_test(test_upload_complete_lock),
	};
	return cmocka_run_group_tests_name("meta_lock", tests, NULL, NULL);
}
