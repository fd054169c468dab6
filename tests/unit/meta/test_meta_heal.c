/* Unit tests for meta's heal entries (meta.h, "heal entries"): the u16 heal
 * mask at the end of PUT_VERSION / PART_PUT / HEAL_DONE commands (codec),
 * and their apply on a real store: created by the committing command,
 * shrunk and removed by HEAL_DONE, removed whenever the blob is retired to
 * gc (overwrite, delete, part replacement, abort, complete) and by
 * GC_DONE; meta_heal_each's `after` / `max`. */
#include "meta_test.h"

static const char ET[] = "0123456789abcdef0123456789abcdef";

/* ---- codec ---- */

static void blob_put_cmd(struct meta_cmd *c, uint16_t mask)
{
	memset(c, 0, sizeof(*c));
	c->type = META_CMD_PUT_VERSION;
	c->now = 1700000000123456789LL;
	c->bucket = "bkt";
	c->bucket_len = 3;
	c->key = "a/key";
	c->key_len = 5;
	memset(c->vid, 0x11, META_ID_LEN);
	c->size = 3u << 20;
	c->etag = ET;
	c->etag_len = 32;
	c->loc = META_LOC_BLOB;
	memset(c->blob_id, 0x22, META_ID_LEN);
	c->layout = "\x01\x02\x00layout";
	c->layout_len = 9;
	c->heal_mask = mask;
}

/* Encodes c, decodes it, checks the fields heal entries depend on and that
 * the decoded command re-encodes to the same bytes. Returns the length. */
static size_t roundtrip(const struct meta_cmd *c)
{
	uint8_t *enc, *enc2;
	size_t len, len2;
	struct meta_cmd d;

	assert_int_equal(meta_cmd_encode(c, &enc, &len), 0);
	assert_int_equal(meta_cmd_decode(enc, len, &d), 0);
	assert_int_equal(d.type, c->type);
	assert_true(d.now == c->now);
	assert_int_equal(d.heal_mask, c->heal_mask);
	assert_memory_equal(d.blob_id, c->blob_id, META_ID_LEN);
	assert_int_equal(d.layout_len, c->layout_len);
	if (c->layout_len)
		assert_memory_equal(d.layout, c->layout, c->layout_len);
	assert_int_equal(d.bucket_len, c->bucket_len);
	if (c->bucket_len)
		assert_memory_equal(d.bucket, c->bucket, c->bucket_len);
	assert_int_equal(d.key_len, c->key_len);
	if (c->key_len)
		assert_memory_equal(d.key, c->key, c->key_len);
	assert_memory_equal(d.upload_id, c->upload_id, META_ID_LEN);
	assert_int_equal(d.part_no, c->part_no);
	assert_true(d.size == c->size);
	assert_int_equal(d.loc, c->loc);
	assert_int_equal(meta_cmd_encode(&d, &enc2, &len2), 0);
	assert_int_equal(len2, len);
	assert_memory_equal(enc2, enc, len);
	meta_cmd_release(&d);
	free(enc);
	free(enc2);
	return len;
}

static void test_codec_roundtrip(void **state)
{
	(void)state;
	struct meta_cmd c;

	blob_put_cmd(&c, 0x5);
	roundtrip(&c);
	blob_put_cmd(&c, 0xffff);
	roundtrip(&c);

	blob_put_cmd(&c, 0x8001);
	c.type = META_CMD_PART_PUT;
	memset(c.upload_id, 0x33, META_ID_LEN);
	c.part_no = 42;
	memset(c.vid, 0, META_ID_LEN);
	roundtrip(&c);

	memset(&c, 0, sizeof(c));
	c.type = META_CMD_HEAL_DONE;
	c.now = 99;
	memset(c.blob_id, 0x44, META_ID_LEN);
	c.heal_mask = 0x3;
	size_t hd = roundtrip(&c);
	/* HEAL_DONE always carries its mask, even a zero one */
	c.heal_mask = 0;
	assert_int_equal(roundtrip(&c), hd);
}

static void test_codec_zero_mask_unchanged(void **state)
{
	(void)state;
	struct meta_cmd c, d;
	uint8_t *e0, *e1;
	size_t n0, n1;

	/* A command without a heal mask ends after the gc array exactly as
	 * before heal entries existed; with one it is 2 bytes longer. */
	blob_put_cmd(&c, 0);
	assert_int_equal(meta_cmd_encode(&c, &e0, &n0), 0);
	blob_put_cmd(&c, 0x0105);
	assert_int_equal(meta_cmd_encode(&c, &e1, &n1), 0);
	assert_int_equal(n1, n0 + 2);
	assert_memory_equal(e0, e1, n0);
	assert_int_equal(e1[n0], 0x05); /* little-endian u16 */
	assert_int_equal(e1[n0 + 1], 0x01);
	/* the gc array's (zero) count is the last thing in the old form */
	assert_int_equal(e0[n0 - 4] | e0[n0 - 3] | e0[n0 - 2] | e0[n0 - 1], 0);
	assert_int_equal(meta_cmd_decode(e0, n0, &d), 0);
	assert_int_equal(d.heal_mask, 0);
	meta_cmd_release(&d);
	assert_int_equal(meta_cmd_decode(e1, n1, &d), 0);
	assert_int_equal(d.heal_mask, 0x0105);
	meta_cmd_release(&d);
	free(e0);
	free(e1);

	/* the same for PART_PUT, and a gc array before the mask */
	struct meta_gc_ref g[2] = {{.due = 5}, {.due = 6}};
	memset(g[0].blob_id, 7, META_ID_LEN);
	memset(g[1].blob_id, 8, META_ID_LEN);
	blob_put_cmd(&c, 0);
	c.type = META_CMD_PART_PUT;
	c.part_no = 3;
	c.gc = g;
	c.n_gc = 2;
	assert_int_equal(meta_cmd_encode(&c, &e0, &n0), 0);
	c.heal_mask = 0x2;
	assert_int_equal(meta_cmd_encode(&c, &e1, &n1), 0);
	assert_int_equal(n1, n0 + 2);
	assert_memory_equal(e0, e1, n0);
	assert_int_equal(meta_cmd_decode(e1, n1, &d), 0);
	assert_int_equal(d.heal_mask, 0x2);
	assert_int_equal(d.n_gc, 2);
	assert_true(d.gc[1].due == 6);
	assert_int_equal(d.gc[1].blob_id[0], 8);
	meta_cmd_release(&d);
	free(e0);
	free(e1);
}

static void test_codec_truncation_and_trailing(void **state)
{
	(void)state;
	struct meta_cmd c, d;
	uint8_t *enc, *big;
	size_t len;

	memset(&c, 0, sizeof(c));
	c.type = META_CMD_HEAL_DONE;
	c.now = 12345;
	memset(c.blob_id, 0xAB, META_ID_LEN);
	c.heal_mask = 0x4;
	assert_int_equal(meta_cmd_encode(&c, &enc, &len), 0);
	for (size_t n = 0; n < len; n++) {
		int rc = meta_cmd_decode(enc, n, &d);
		if (rc == 0) {
			meta_cmd_release(&d);
			fail_msg("HEAL_DONE cut to %zu of %zu bytes decoded", n, len);
		}
	}
	big = malloc(len + 2);
	memcpy(big, enc, len);
	big[len] = 0;
	big[len + 1] = 0;
	assert_int_not_equal(meta_cmd_decode(big, len + 1, &d), 0);
	assert_int_not_equal(meta_cmd_decode(big, len + 2, &d), 0);
	assert_int_equal(meta_cmd_decode(big, len, &d), 0);
	assert_int_equal(d.heal_mask, 0x4);
	meta_cmd_release(&d);
	free(big);
	free(enc);

	/* PUT_VERSION with a mask: one trailing byte fails, as does cutting
	 * one byte of the mask */
	blob_put_cmd(&c, 0x5);
	assert_int_equal(meta_cmd_encode(&c, &enc, &len), 0);
	big = malloc(len + 1);
	memcpy(big, enc, len);
	big[len] = 0x7;
	assert_int_not_equal(meta_cmd_decode(big, len + 1, &d), 0);
	assert_int_not_equal(meta_cmd_decode(big, len - 1, &d), 0);
	free(big);
	free(enc);

	/* PUT_VERSION without a mask: a single trailing byte is not a mask */
	blob_put_cmd(&c, 0);
	assert_int_equal(meta_cmd_encode(&c, &enc, &len), 0);
	big = malloc(len + 1);
	memcpy(big, enc, len);
	big[len] = 0x1;
	assert_int_not_equal(meta_cmd_decode(big, len + 1, &d), 0);
	free(big);
	free(enc);
}

/* ---- apply ---- */

#define MAXH 32
struct heal_seen {
	int n;
	int stop_after; /* 0: never stop */
	uint8_t id[MAXH][META_ID_LEN];
	uint16_t mask[MAXH];
	uint8_t layout[MAXH][64];
	size_t llen[MAXH];
};

static int collect_heal(const uint8_t blob_id[META_ID_LEN], uint16_t mask, const uint8_t *layout,
			size_t layout_len, void *arg)
{
	struct heal_seen *h = arg;
	assert_true(h->n < MAXH);
	assert_true(layout_len <= sizeof(h->layout[0]));
	memcpy(h->id[h->n], blob_id, META_ID_LEN);
	h->mask[h->n] = mask;
	memcpy(h->layout[h->n], layout, layout_len);
	h->llen[h->n] = layout_len;
	h->n++;
	return h->stop_after && h->n >= h->stop_after;
}

static uint64_t heal_count(struct meta_store *s)
{
	uint64_t n = 99;
	assert_int_equal(meta_heal_count(s, &n), 0);
	return n;
}

/* The mask of blob b's heal entry (blob id = 16 bytes of b), -1 if none.
 * Also checks that the entry's layout is "lay-<b>". */
static int heal_mask_of(struct meta_store *s, uint8_t b)
{
	struct heal_seen h = {0};
	char want[16];
	int rc = meta_heal_each(s, NULL, 1000, collect_heal, &h);

	assert_int_equal(rc, h.n);
	assert_true((uint64_t)h.n == heal_count(s));
	snprintf(want, sizeof(want), "lay-%02x", b);
	for (int i = 0; i < h.n; i++) {
		uint8_t id[META_ID_LEN];
		memset(id, b, META_ID_LEN);
		if (memcmp(h.id[i], id, META_ID_LEN) != 0)
			continue;
		assert_int_equal(h.llen[i], strlen(want));
		assert_memory_equal(h.layout[i], want, strlen(want));
		return h.mask[i];
	}
	return -1;
}

struct putargs {
	const char *bucket, *key;
	uint8_t blob; /* blob id = 16 bytes of this; layout "lay-<blob>" */
	uint16_t mask;
	uint32_t cond;
	struct meta_cmd_result res;
};

static int put_blob(struct meta_store *s, struct putargs *p)
{
	char lay[16];
	struct meta_cmd c = {.type = META_CMD_PUT_VERSION, .now = t_now()};

	snprintf(lay, sizeof(lay), "lay-%02x", p->blob);
	c.bucket = p->bucket;
	c.bucket_len = strlen(p->bucket);
	c.key = p->key;
	c.key_len = strlen(p->key);
	meta_version_id_new(s, c.vid);
	c.size = 1u << 20;
	c.etag = ET;
	c.etag_len = 32;
	c.loc = META_LOC_BLOB;
	memset(c.blob_id, p->blob, META_ID_LEN);
	c.layout = lay;
	c.layout_len = strlen(lay);
	c.heal_mask = p->mask;
	c.cond = p->cond;
	int rc = meta_submit_sync(s, &c);
	p->res = c.res;
	return rc;
}

static int put_b(struct meta_store *s, const char *bucket, const char *key, uint8_t blob,
		 uint16_t mask)
{
	struct putargs p = {.bucket = bucket, .key = key, .blob = blob, .mask = mask};
	return put_blob(s, &p);
}

static int heal_done(struct meta_store *s, uint8_t blob, uint16_t mask)
{
	struct meta_cmd c = {.type = META_CMD_HEAL_DONE, .now = t_now(), .heal_mask = mask};
	memset(c.blob_id, blob, META_ID_LEN);
	return meta_submit_sync(s, &c);
}

struct gc_seen {
	struct meta_gc_ref refs[MAXH];
	int n;
};

static int collect_gc(const struct meta_gc_ref *ref, const uint8_t *layout, size_t len, void *arg)
{
	struct gc_seen *g = arg;
	(void)layout;
	(void)len;
	assert_true(g->n < MAXH);
	g->refs[g->n++] = *ref;
	return 0;
}

/* Is blob b in gc? */
static int in_gc(struct meta_store *s, uint8_t b)
{
	struct gc_seen g = {.n = 0};
	uint8_t id[META_ID_LEN];

	memset(id, b, META_ID_LEN);
	assert_int_equal(meta_gc_fetch(s, INT64_MAX, MAXH, collect_gc, &g), 0);
	for (int i = 0; i < g.n; i++)
		if (memcmp(g.refs[i].blob_id, id, META_ID_LEN) == 0)
			return 1;
	return 0;
}

static void test_put_version_creates_entry(void **state)
{
	(void)state;
	struct tstore t;
	struct heal_seen h = {0};

	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "hb1"), 0);
	assert_int_equal(heal_count(t.s), 0);
	assert_int_equal(meta_heal_each(t.s, NULL, 10, collect_heal, &h), 0);
	/* no mask: no entry */
	assert_int_equal(put_b(t.s, "hb1", "plain", 0x10, 0), 0);
	assert_int_equal(heal_count(t.s), 0);
	/* mask 0x5: one entry with that mask and the version's layout */
	assert_int_equal(put_b(t.s, "hb1", "k", 0x20, 0x5), 0);
	assert_int_equal(heal_count(t.s), 1);
	assert_int_equal(meta_heal_each(t.s, NULL, 10, collect_heal, &h), 1);
	assert_int_equal(h.n, 1);
	assert_int_equal(h.mask[0], 0x5);
	assert_int_equal(h.id[0][0], 0x20);
	assert_int_equal(h.id[0][15], 0x20);
	assert_int_equal(h.llen[0], 6);
	assert_memory_equal(h.layout[0], "lay-20", 6);
	assert_int_equal(heal_mask_of(t.s, 0x20), 0x5);
	assert_int_equal(heal_mask_of(t.s, 0x10), -1);
	/* the version itself is an ordinary blob version */
	struct meta_version v;
	assert_int_equal(meta_object_get(t.s, "hb1", "k", 1, NULL, 0, &v), 0);
	assert_int_equal(v.loc, META_LOC_BLOB);
	assert_int_equal(v.blob_id[0], 0x20);
	meta_version_release(&v);
	/* a failed command (If-None-Match: * on an existing key) leaves no entry */
	struct putargs p = {.bucket = "hb1",
			    .key = "k",
			    .blob = 0x21,
			    .mask = 0x2,
			    .cond = META_COND_IF_NONE_MATCH_STAR};
	assert_int_equal(put_blob(t.s, &p), CN_EPRECOND);
	assert_int_equal(heal_count(t.s), 1);
	assert_int_equal(heal_mask_of(t.s, 0x21), -1);
	/* an inline put carries no blob: its mask is ignored */
	struct meta_cmd c = {.type = META_CMD_PUT_VERSION,
			     .now = t_now(),
			     .bucket = "hb1",
			     .bucket_len = 3,
			     .key = "inl",
			     .key_len = 3,
			     .size = 2,
			     .etag = ET,
			     .etag_len = 32,
			     .loc = META_LOC_INLINE,
			     .inline_data = "hi",
			     .inline_len = 2,
			     .heal_mask = 0x1};
	meta_version_id_new(t.s, c.vid);
	memset(c.blob_id, 0x22, META_ID_LEN);
	assert_int_equal(meta_submit_sync(t.s, &c), 0);
	assert_int_equal(heal_count(t.s), 1);
	/* entries survive a restart */
	ts_reopen(&t);
	assert_int_equal(heal_mask_of(t.s, 0x20), 0x5);
	check_stats(t.s, "hb1");
	ts_close(&t);
}

static void test_heal_done(void **state)
{
	(void)state;
	struct tstore t;

	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "hb2"), 0);
	assert_int_equal(put_b(t.s, "hb2", "k", 0x30, 0x5), 0);
	assert_int_equal(put_b(t.s, "hb2", "k2", 0x31, 0x3), 0);
	/* 0x5 & ~0x1 = 0x4; the layout is kept */
	assert_int_equal(heal_done(t.s, 0x30, 0x1), 0);
	assert_int_equal(heal_mask_of(t.s, 0x30), 0x4);
	assert_int_equal(heal_count(t.s), 2);
	/* healing a bit that is not missing changes nothing */
	assert_int_equal(heal_done(t.s, 0x30, 0x2), 0);
	assert_int_equal(heal_mask_of(t.s, 0x30), 0x4);
	/* the last bit removes the entry; the other blob's is untouched */
	assert_int_equal(heal_done(t.s, 0x30, 0x4), 0);
	assert_int_equal(heal_mask_of(t.s, 0x30), -1);
	assert_int_equal(heal_mask_of(t.s, 0x31), 0x3);
	assert_int_equal(heal_count(t.s), 1);
	/* again, and for a blob never seen: no-op successes */
	assert_int_equal(heal_done(t.s, 0x30, 0x4), 0);
	assert_int_equal(heal_done(t.s, 0x99, 0xffff), 0);
	assert_int_equal(heal_count(t.s), 1);
	/* a mask covering more than is missing removes the entry too */
	assert_int_equal(heal_done(t.s, 0x31, 0xff), 0);
	assert_int_equal(heal_count(t.s), 0);
	/* healing touches nothing but heal entries: the versions stand */
	struct meta_version v;
	assert_int_equal(meta_object_get(t.s, "hb2", "k", 1, NULL, 0, &v), 0);
	assert_int_equal(v.blob_id[0], 0x30);
	meta_version_release(&v);
	assert_int_equal(in_gc(t.s, 0x30), 0);
	check_stats(t.s, "hb2");
	ts_close(&t);
}

static void test_retire_removes_entry(void **state)
{
	(void)state;
	struct tstore t;

	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "hb3"), 0);
	/* unversioned overwrite: the old blob goes to gc with its heal entry,
	 * the new blob gets its own, in the same command */
	assert_int_equal(put_b(t.s, "hb3", "k", 0x40, 0x1), 0);
	assert_int_equal(put_b(t.s, "hb3", "other", 0x4f, 0x8), 0);
	assert_int_equal(put_b(t.s, "hb3", "k", 0x41, 0x2), 0);
	assert_int_equal(heal_mask_of(t.s, 0x40), -1);
	assert_int_equal(heal_mask_of(t.s, 0x41), 0x2);
	assert_int_equal(in_gc(t.s, 0x40), 1);
	assert_int_equal(heal_count(t.s), 2);
	/* an overwrite without a mask retires the old entry, adds none */
	assert_int_equal(put_b(t.s, "hb3", "k", 0x42, 0), 0);
	assert_int_equal(heal_mask_of(t.s, 0x41), -1);
	assert_int_equal(in_gc(t.s, 0x41), 1);
	assert_int_equal(heal_count(t.s), 1);
	/* unversioned DELETE */
	assert_int_equal(put_b(t.s, "hb3", "k", 0x43, 0x3), 0);
	assert_int_equal(heal_mask_of(t.s, 0x43), 0x3);
	assert_int_equal(del_obj(t.s, "hb3", "k", 1, NULL, NULL), 0);
	assert_int_equal(heal_mask_of(t.s, 0x43), -1);
	assert_int_equal(in_gc(t.s, 0x43), 1);
	assert_int_equal(heal_mask_of(t.s, 0x4f), 0x8);
	assert_int_equal(heal_count(t.s), 1);
	check_stats(t.s, "hb3");

	/* versioned: an overwrite keeps both versions and both entries;
	 * deleting one version retires its blob and its entry only, and a
	 * delete marker retires nothing */
	assert_int_equal(mk_bucket(t.s, "hb4"), 0);
	assert_int_equal(set_versioning(t.s, "hb4", META_VERSIONING_ENABLED), 0);
	struct putargs p1 = {.bucket = "hb4", .key = "v", .blob = 0x50, .mask = 0x1};
	struct putargs p2 = {.bucket = "hb4", .key = "v", .blob = 0x51, .mask = 0x4};
	assert_int_equal(put_blob(t.s, &p1), 0);
	assert_int_equal(put_blob(t.s, &p2), 0);
	assert_int_equal(heal_mask_of(t.s, 0x50), 0x1);
	assert_int_equal(heal_mask_of(t.s, 0x51), 0x4);
	assert_int_equal(del_obj(t.s, "hb4", "v", 1, NULL, NULL), 0); /* marker */
	assert_int_equal(heal_mask_of(t.s, 0x50), 0x1);
	assert_int_equal(heal_mask_of(t.s, 0x51), 0x4);
	assert_int_equal(del_obj(t.s, "hb4", "v", 1, p1.res.vid_text, NULL), 0);
	assert_int_equal(heal_mask_of(t.s, 0x50), -1);
	assert_int_equal(heal_mask_of(t.s, 0x51), 0x4);
	assert_int_equal(in_gc(t.s, 0x50), 1);
	assert_int_equal(in_gc(t.s, 0x51), 0);
	check_stats(t.s, "hb4");
	ts_close(&t);
}

static int put_part(struct meta_store *s, const uint8_t up[META_ID_LEN], uint32_t no,
		    const char *etag, uint8_t blob, uint16_t mask)
{
	char lay[16];
	struct meta_cmd c = {.type = META_CMD_PART_PUT,
			     .bucket = "mph",
			     .bucket_len = 3,
			     .key = "obj",
			     .key_len = 3,
			     .now = t_now(),
			     .part_no = no,
			     .size = 100,
			     .etag = etag,
			     .etag_len = strlen(etag),
			     .heal_mask = mask};
	snprintf(lay, sizeof(lay), "lay-%02x", blob);
	c.layout = lay;
	c.layout_len = strlen(lay);
	memcpy(c.upload_id, up, META_ID_LEN);
	memset(c.blob_id, blob, META_ID_LEN);
	return meta_submit_sync(s, &c);
}

static void upload_new(struct meta_store *s, uint8_t up[META_ID_LEN])
{
	struct meta_cmd u = {.type = META_CMD_UPLOAD_CREATE,
			     .bucket = "mph",
			     .bucket_len = 3,
			     .key = "obj",
			     .key_len = 3,
			     .now = t_now()};
	meta_upload_id_new(s, up);
	memcpy(u.upload_id, up, META_ID_LEN);
	assert_int_equal(meta_submit_sync(s, &u), 0);
}

static void test_part_put(void **state)
{
	(void)state;
	struct tstore t;
	uint8_t up[META_ID_LEN], up2[META_ID_LEN];
	const char *e1 = "11111111111111111111111111111111",
		   *e2 = "22222222222222222222222222222222",
		   *e3 = "33333333333333333333333333333333";

	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "mph"), 0);
	upload_new(t.s, up);
	assert_int_equal(put_part(t.s, up, 1, e1, 0x61, 0x1), 0);
	assert_int_equal(heal_mask_of(t.s, 0x61), 0x1);
	assert_int_equal(put_part(t.s, up, 2, e2, 0x62, 0), 0);
	assert_int_equal(heal_mask_of(t.s, 0x62), -1);
	assert_int_equal(heal_count(t.s), 1);
	/* a part that fails (no such upload) records nothing */
	uint8_t bogus[META_ID_LEN] = {0};
	assert_int_equal(put_part(t.s, bogus, 1, e1, 0x6f, 0x1), CN_ENOUPLOAD);
	assert_int_equal(heal_mask_of(t.s, 0x6f), -1);
	/* re-uploading part 1 retires its old blob with its entry */
	assert_int_equal(put_part(t.s, up, 1, e1, 0x63, 0x6), 0);
	assert_int_equal(heal_mask_of(t.s, 0x61), -1);
	assert_int_equal(heal_mask_of(t.s, 0x63), 0x6);
	assert_int_equal(in_gc(t.s, 0x61), 1);
	assert_int_equal(heal_count(t.s), 1);
	assert_int_equal(put_part(t.s, up, 2, e2, 0x64, 0x2), 0); /* 0x62 had none */
	assert_int_equal(put_part(t.s, up, 3, e3, 0x65, 0x4), 0);
	assert_int_equal(heal_count(t.s), 3);
	/* complete with parts 1 and 3: part 2's blob is retired with its
	 * entry, the kept parts' entries stay (the version references them) */
	struct meta_part_ref refs[2] = {{1, e1, 32}, {3, e3, 32}};
	struct meta_cmd cc = {.type = META_CMD_UPLOAD_COMPLETE,
			      .bucket = "mph",
			      .bucket_len = 3,
			      .key = "obj",
			      .key_len = 3,
			      .now = t_now(),
			      .parts = refs,
			      .n_parts = 2,
			      .min_part_size = 1};
	memcpy(cc.upload_id, up, META_ID_LEN);
	meta_version_id_new(t.s, cc.vid);
	assert_int_equal(meta_submit_sync(t.s, &cc), 0);
	assert_int_equal(heal_mask_of(t.s, 0x64), -1);
	assert_int_equal(in_gc(t.s, 0x64), 1);
	assert_int_equal(heal_mask_of(t.s, 0x63), 0x6);
	assert_int_equal(heal_mask_of(t.s, 0x65), 0x4);
	/* overwriting the multipart object retires every part with its entry */
	assert_int_equal(put_obj(t.s, "mph", "obj", 3, "inline now", NULL), 0);
	assert_int_equal(heal_mask_of(t.s, 0x63), -1);
	assert_int_equal(heal_mask_of(t.s, 0x65), -1);
	assert_int_equal(heal_count(t.s), 0);
	/* aborting an upload retires its parts' entries */
	upload_new(t.s, up2);
	assert_int_equal(put_part(t.s, up2, 1, e1, 0x66, 0x1), 0);
	assert_int_equal(put_part(t.s, up2, 2, e2, 0x67, 0x2), 0);
	assert_int_equal(heal_count(t.s), 2);
	struct meta_cmd ab = {.type = META_CMD_UPLOAD_ABORT,
			      .bucket = "mph",
			      .bucket_len = 3,
			      .key = "obj",
			      .key_len = 3,
			      .now = t_now()};
	memcpy(ab.upload_id, up2, META_ID_LEN);
	assert_int_equal(meta_submit_sync(t.s, &ab), 0);
	assert_int_equal(heal_count(t.s), 0);
	assert_int_equal(in_gc(t.s, 0x66), 1);
	assert_int_equal(in_gc(t.s, 0x67), 1);
	check_stats(t.s, "mph");
	ts_close(&t);
}

static void test_gc_done_removes_entry(void **state)
{
	(void)state;
	struct tstore t;
	struct gc_seen g = {.n = 0};

	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "hb5"), 0);
	/* The normal flow: the overwrite already removed the old blob's
	 * entry; GC_DONE of the old blob leaves the new blob's entry alone. */
	assert_int_equal(put_b(t.s, "hb5", "k", 0x70, 0x1), 0);
	assert_int_equal(put_b(t.s, "hb5", "k", 0x71, 0x2), 0);
	assert_int_equal(meta_gc_fetch(t.s, INT64_MAX, MAXH, collect_gc, &g), 0);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.refs[0].blob_id[0], 0x70);
	struct meta_cmd done = {.type = META_CMD_GC_DONE, .now = t_now(), .gc = g.refs, .n_gc = 1};
	assert_int_equal(meta_submit_sync(t.s, &done), 0);
	assert_int_equal(in_gc(t.s, 0x70), 0);
	assert_int_equal(heal_mask_of(t.s, 0x71), 0x2);

	/* A blob whose gc entry exists while it has a heal entry (its intent
	 * was dropped, then it was committed anyway: a single-node store does
	 * not check intents): the GC_DONE that says the blob is deleted
	 * removes the heal entry in the same command. */
	struct meta_cmd in = {
		.type = META_CMD_INTENT_ADD, .now = t_now(), .layout = "lay-72", .layout_len = 6};
	memset(in.blob_id, 0x72, META_ID_LEN);
	assert_int_equal(meta_submit_sync(t.s, &in), 0);
	in.type = META_CMD_INTENT_DROP;
	in.now = t_now();
	assert_int_equal(meta_submit_sync(t.s, &in), 0);
	assert_int_equal(put_b(t.s, "hb5", "k2", 0x72, 0x9), 0);
	assert_int_equal(heal_mask_of(t.s, 0x72), 0x9);
	g.n = 0;
	assert_int_equal(meta_gc_fetch(t.s, INT64_MAX, MAXH, collect_gc, &g), 0);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.refs[0].blob_id[0], 0x72);
	done.now = t_now();
	assert_int_equal(meta_submit_sync(t.s, &done), 0);
	assert_int_equal(heal_mask_of(t.s, 0x72), -1);
	assert_int_equal(heal_mask_of(t.s, 0x71), 0x2);
	assert_int_equal(heal_count(t.s), 1);
	g.n = 0;
	assert_int_equal(meta_gc_fetch(t.s, INT64_MAX, MAXH, collect_gc, &g), 0);
	assert_int_equal(g.n, 0);

	/* GC_DONE naming a gc key that is not there changes nothing: the heal
	 * entry belongs to a live blob (and nothing fails) */
	struct meta_gc_ref ref = {.due = 1};
	memset(ref.blob_id, 0x71, META_ID_LEN);
	struct meta_cmd d2 = {.type = META_CMD_GC_DONE, .now = t_now(), .gc = &ref, .n_gc = 1};
	assert_int_equal(meta_submit_sync(t.s, &d2), 0);
	assert_int_equal(heal_mask_of(t.s, 0x71), 0x2);
	assert_int_equal(heal_count(t.s), 1);
	ts_close(&t);
}

/* The heal entry of blob b as stored: mask and layout (-1: none). */
static int heal_of(struct meta_store *s, uint8_t b, char *layout, size_t cap)
{
	struct heal_seen h = {0};
	uint8_t id[META_ID_LEN];

	memset(id, b, META_ID_LEN);
	assert_true(meta_heal_each(s, NULL, 1000, collect_heal, &h) >= 0);
	for (int i = 0; i < h.n; i++) {
		if (memcmp(h.id[i], id, META_ID_LEN) != 0)
			continue;
		assert_true(h.llen[i] < cap);
		memcpy(layout, h.layout[i], h.llen[i]);
		layout[h.llen[i]] = 0;
		return h.mask[i];
	}
	return -1;
}

static int blob_move(struct meta_store *s, const char *bucket, const char *key,
		     const uint8_t vid[META_ID_LEN], uint8_t blob, const char *nl, const char *ol,
		     const char *gl, uint16_t moved)
{
	struct meta_cmd c = {.type = META_CMD_BLOB_MOVE, .now = t_now()};

	c.bucket = bucket;
	c.bucket_len = strlen(bucket);
	c.key = key;
	c.key_len = strlen(key);
	c.has_target = 1;
	memcpy(c.target_vid, vid, META_ID_LEN);
	memset(c.blob_id, blob, META_ID_LEN);
	c.layout = nl;
	c.layout_len = strlen(nl);
	c.layout_old = ol;
	c.layout_old_len = strlen(ol);
	c.layout_gc = gl;
	c.layout_gc_len = strlen(gl);
	c.heal_mask = moved;
	return meta_submit_sync(s, &c);
}

/* BLOB_MOVE: a compare-and-set on the blob's layout; the old copies of the
 * moved shards become a gc entry whose GC_DONE leaves the live blob's heal
 * entry alone; the heal entry loses the moved shards and takes the new
 * layout. */
static void test_blob_move(void **state)
{
	(void)state;
	struct tstore t;
	struct putargs p = {.bucket = "hb9", .key = "m", .blob = 0x90, .mask = 0x3};
	struct meta_version v;
	struct gc_seen g = {.n = 0};
	char lay[64];
	uint8_t other[META_ID_LEN];

	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "hb9"), 0);
	assert_int_equal(put_blob(t.s, &p), 0);
	assert_int_equal(
		blob_move(t.s, "hb9", "m", p.res.vid, 0x90, "new-90", "lay-90", "gc-90", 0x1), 0);
	assert_int_equal(meta_object_get(t.s, "hb9", "m", 1, NULL, 0, &v), 0);
	assert_int_equal(v.layout_len, 6);
	assert_memory_equal(v.layout, "new-90", 6);
	meta_version_release(&v);
	assert_int_equal(heal_of(t.s, 0x90, lay, sizeof(lay)), 0x2);
	assert_string_equal(lay, "new-90");
	assert_true(in_gc(t.s, 0x90));

	/* the layout moved on: a second move from the old one is refused */
	assert_int_equal(
		blob_move(t.s, "hb9", "m", p.res.vid, 0x90, "x-90", "lay-90", "gc-90", 0x2),
		CN_EPRECOND);
	assert_int_equal(heal_of(t.s, 0x90, lay, sizeof(lay)), 0x2);
	/* another blob id or version: refused too */
	assert_int_equal(blob_move(t.s, "hb9", "m", p.res.vid, 0x91, "x-91", "new-90", "g", 0x2),
			 CN_EPRECOND);
	memset(other, 0x11, META_ID_LEN);
	assert_int_equal(blob_move(t.s, "hb9", "m", other, 0x90, "x-90", "new-90", "g", 0x2),
			 CN_EPRECOND);

	/* GC of the moved copies: the live blob keeps its heal entry */
	assert_int_equal(meta_gc_fetch(t.s, INT64_MAX, MAXH, collect_gc, &g), 0);
	assert_int_equal(g.n, 1);
	struct meta_cmd done = {.type = META_CMD_GC_DONE, .now = t_now(), .gc = g.refs, .n_gc = 1};
	assert_int_equal(meta_submit_sync(t.s, &done), 0);
	assert_int_equal(heal_of(t.s, 0x90, lay, sizeof(lay)), 0x2);

	/* moving the last missing shard clears the entry */
	assert_int_equal(blob_move(t.s, "hb9", "m", p.res.vid, 0x90, "n2-90", "new-90", "g2", 0x2),
			 0);
	assert_int_equal(heal_of(t.s, 0x90, lay, sizeof(lay)), -1);
	assert_int_equal(heal_count(t.s), 0);

	/* codec: a move round-trips with both extra layouts */
	struct meta_cmd c = {.type = META_CMD_BLOB_MOVE,
			     .now = 5,
			     .bucket = "hb9",
			     .bucket_len = 3,
			     .key = "m",
			     .key_len = 1,
			     .layout = "aa",
			     .layout_len = 2,
			     .layout_old = "bbb",
			     .layout_old_len = 3,
			     .layout_gc = "c",
			     .layout_gc_len = 1,
			     .heal_mask = 0x4,
			     .part_no = 7};
	struct meta_cmd d;
	uint8_t *enc;
	size_t len;
	assert_int_equal(meta_cmd_encode(&c, &enc, &len), 0);
	assert_int_equal(meta_cmd_decode(enc, len, &d), 0);
	assert_int_equal(d.type, META_CMD_BLOB_MOVE);
	assert_int_equal(d.layout_old_len, 3);
	assert_memory_equal(d.layout_old, "bbb", 3);
	assert_int_equal(d.layout_gc_len, 1);
	assert_int_equal(d.heal_mask, 0x4);
	assert_int_equal(d.part_no, 7);
	meta_cmd_release(&d);
	for (size_t cut = 0; cut < len; cut++)
		assert_int_not_equal(meta_cmd_decode(enc, cut, &d), 0);
	free(enc);
	ts_close(&t);
}

/* BLOB_MOVE of an open upload's part (upload_id set): the part record
 * takes the new layout under the same compare-and-set; once the upload is
 * gone (completed or aborted) the move is refused and changes nothing. */
static void test_part_move(void **state)
{
	(void)state;
	struct tstore t;
	struct meta_part_list pl;
	uint8_t up[META_ID_LEN];
	char lay[64];
	struct meta_cmd c = {.type = META_CMD_BLOB_MOVE,
			     .bucket = "mph",
			     .bucket_len = 3,
			     .key = "obj",
			     .key_len = 3,
			     .part_no = 2,
			     .layout = "new-a2",
			     .layout_len = 6,
			     .layout_old = "lay-a2",
			     .layout_old_len = 6,
			     .layout_gc = "gc-a2",
			     .layout_gc_len = 5,
			     .heal_mask = 0x1};

	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "mph"), 0);
	upload_new(t.s, up);
	assert_int_equal(put_part(t.s, up, 1, ET, 0xa1, 0), 0);
	assert_int_equal(put_part(t.s, up, 2, ET, 0xa2, 0x1), 0);
	memcpy(c.upload_id, up, META_ID_LEN);
	memset(c.blob_id, 0xa2, META_ID_LEN);
	c.now = t_now();
	assert_int_equal(meta_submit_sync(t.s, &c), 0);
	assert_int_equal(meta_list_parts(t.s, "mph", "obj", 3, up, 0, 10, &pl), 0);
	assert_int_equal(pl.n, 2);
	assert_int_equal(pl.parts[0].layout_len, 6);
	assert_memory_equal(pl.parts[0].layout, "lay-a1", 6); /* the other part untouched */
	assert_int_equal(pl.parts[1].layout_len, 6);
	assert_memory_equal(pl.parts[1].layout, "new-a2", 6);
	assert_int_equal(pl.parts[1].size, 100);
	meta_part_list_release(&pl);
	assert_true(in_gc(t.s, 0xa2));
	assert_int_equal(heal_of(t.s, 0xa2, lay, sizeof(lay)), -1); /* moved: not missing */
	/* from a stale layout, of another blob, or of a part that is not there */
	c.now = t_now();
	assert_int_equal(meta_submit_sync(t.s, &c), CN_EPRECOND);
	c.layout_old = "new-a2";
	memset(c.blob_id, 0xa1, META_ID_LEN);
	assert_int_equal(meta_submit_sync(t.s, &c), CN_EPRECOND);
	memset(c.blob_id, 0xa2, META_ID_LEN);
	c.part_no = 3;
	assert_int_equal(meta_submit_sync(t.s, &c), CN_EPRECOND);
	/* the upload aborted: refused */
	struct meta_cmd ab = {.type = META_CMD_UPLOAD_ABORT,
			      .bucket = "mph",
			      .bucket_len = 3,
			      .key = "obj",
			      .key_len = 3,
			      .now = t_now()};
	memcpy(ab.upload_id, up, META_ID_LEN);
	assert_int_equal(meta_submit_sync(t.s, &ab), 0);
	c.part_no = 2;
	c.layout = "x-a2";
	c.layout_len = 4;
	assert_int_equal(meta_submit_sync(t.s, &c), CN_EPRECOND);
	ts_close(&t);
}

static void test_heal_each_after_max(void **state)
{
	(void)state;
	struct tstore t;
	struct heal_seen h;
	char key[8];
	/* committed out of order; visited in blob id order */
	const uint8_t blobs[6] = {0x85, 0x81, 0x83, 0x82, 0x86, 0x84};
	uint8_t after[META_ID_LEN];

	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "hb6"), 0);
	for (int i = 0; i < 6; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(put_b(t.s, "hb6", key, blobs[i], (uint16_t)(1u << i)), 0);
	}
	assert_int_equal(heal_count(t.s), 6);
	memset(&h, 0, sizeof(h));
	assert_int_equal(meta_heal_each(t.s, NULL, 100, collect_heal, &h), 6);
	for (int i = 0; i < 6; i++)
		assert_int_equal(h.id[i][0], 0x81 + i);
	/* max */
	memset(&h, 0, sizeof(h));
	assert_int_equal(meta_heal_each(t.s, NULL, 2, collect_heal, &h), 2);
	assert_int_equal(h.n, 2);
	assert_int_equal(h.id[1][0], 0x82);
	memset(&h, 0, sizeof(h));
	assert_int_equal(meta_heal_each(t.s, NULL, 0, collect_heal, &h), 0);
	assert_int_equal(h.n, 0);
	/* after an existing id: strictly greater ones */
	memset(after, 0x82, META_ID_LEN);
	memset(&h, 0, sizeof(h));
	assert_int_equal(meta_heal_each(t.s, after, 100, collect_heal, &h), 4);
	assert_int_equal(h.id[0][0], 0x83);
	assert_int_equal(h.id[3][0], 0x86);
	memset(&h, 0, sizeof(h));
	assert_int_equal(meta_heal_each(t.s, after, 2, collect_heal, &h), 2);
	assert_int_equal(h.id[0][0], 0x83);
	assert_int_equal(h.id[1][0], 0x84);
	assert_int_equal(h.mask[1], 1u << 5);
	/* after an id between entries, before all, after all */
	memset(after, 0x83, META_ID_LEN);
	after[15] = 0x84; /* 83..83 84 > 0x83 entry, < 0x84 entry */
	memset(&h, 0, sizeof(h));
	assert_int_equal(meta_heal_each(t.s, after, 100, collect_heal, &h), 3);
	assert_int_equal(h.id[0][0], 0x84);
	memset(after, 0, META_ID_LEN);
	memset(&h, 0, sizeof(h));
	assert_int_equal(meta_heal_each(t.s, after, 100, collect_heal, &h), 6);
	memset(after, 0x86, META_ID_LEN);
	memset(&h, 0, sizeof(h));
	assert_int_equal(meta_heal_each(t.s, after, 100, collect_heal, &h), 0);
	memset(after, 0xff, META_ID_LEN);
	assert_int_equal(meta_heal_each(t.s, after, 100, collect_heal, &h), 0);
	/* paging with after = the last id seen visits each entry once */
	int seen = 0;
	const uint8_t *cur = NULL;
	uint8_t last[META_ID_LEN];
	for (;;) {
		memset(&h, 0, sizeof(h));
		int n = meta_heal_each(t.s, cur, 4, collect_heal, &h);
		assert_true(n >= 0);
		if (n == 0)
			break;
		for (int i = 0; i < n; i++)
			assert_int_equal(h.id[i][0], 0x81 + seen + i);
		seen += n;
		memcpy(last, h.id[n - 1], META_ID_LEN);
		cur = last;
	}
	assert_int_equal(seen, 6);
	/* the callback stops the walk */
	memset(&h, 0, sizeof(h));
	h.stop_after = 3;
	assert_int_equal(meta_heal_each(t.s, NULL, 100, collect_heal, &h), 3);
	assert_int_equal(h.n, 3);
	ts_close(&t);
}

/* A replicated store fed encoded log entries as Raft would: the mask
 * travels through the log, and there a blob is committed only with its
 * intent standing (no entry for an abandoned blob). */
static void test_replicated_apply(void **state)
{
	(void)state;
	struct meta_options o = {.map_size = 1ull << 30, .node_id = 1, .replicated = 1};
	char dir[64], cmd[128];
	struct meta_store *s;
	uint64_t idx = 0;
	int result;

	strcpy(dir, "/tmp/cairn-heal-XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(meta_store_open(dir, &o, &s), 0);

	struct meta_cmd cmds[6];
	memset(cmds, 0, sizeof(cmds));
	cmds[0] = (struct meta_cmd){
		.type = META_CMD_BUCKET_CREATE, .now = t_now(), .bucket = "rb1", .bucket_len = 3};
	cmds[1] = (struct meta_cmd){
		.type = META_CMD_INTENT_ADD, .now = t_now(), .layout = "lay-90", .layout_len = 6};
	memset(cmds[1].blob_id, 0x90, META_ID_LEN);
	blob_put_cmd(&cmds[2], 0x3);
	cmds[2].bucket = "rb1";
	cmds[2].layout = "lay-90";
	cmds[2].layout_len = 6;
	memset(cmds[2].blob_id, 0x90, META_ID_LEN);
	blob_put_cmd(&cmds[3], 0x1); /* no intent for blob 0x91 */
	cmds[3].bucket = "rb1";
	cmds[3].key = "b";
	cmds[3].key_len = 1;
	cmds[3].layout = "lay-91";
	cmds[3].layout_len = 6;
	memset(cmds[3].blob_id, 0x91, META_ID_LEN);
	cmds[4] = (struct meta_cmd){.type = META_CMD_HEAL_DONE, .now = t_now(), .heal_mask = 0x1};
	memset(cmds[4].blob_id, 0x90, META_ID_LEN);
	const int want[5] = {0, 0, 0, CN_EABANDONED, 0};
	for (int i = 0; i < 5; i++) {
		uint8_t *enc;
		size_t len;
		assert_int_equal(meta_cmd_encode(&cmds[i], &enc, &len), 0);
		assert_int_equal(meta_repl_apply(s, ++idx, enc, len, &result, NULL), 0);
		assert_int_equal(result, want[i]);
		free(enc);
		if (i == 2) {
			assert_int_equal(meta_repl_commit(s), 0);
			assert_int_equal(heal_mask_of(s, 0x90), 0x3);
		}
	}
	assert_int_equal(meta_repl_commit(s), 0);
	assert_int_equal(heal_mask_of(s, 0x90), 0x2);
	assert_int_equal(heal_mask_of(s, 0x91), -1);
	assert_int_equal(heal_count(s), 1);
	meta_store_close(s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codec_roundtrip),
		cmocka_unit_test(test_codec_zero_mask_unchanged),
		cmocka_unit_test(test_codec_truncation_and_trailing),
		cmocka_unit_test(test_put_version_creates_entry),
		cmocka_unit_test(test_heal_done),
		cmocka_unit_test(test_retire_removes_entry),
		cmocka_unit_test(test_part_put),
		cmocka_unit_test(test_gc_done_removes_entry),
		cmocka_unit_test(test_blob_move),
		cmocka_unit_test(test_part_move),
		cmocka_unit_test(test_heal_each_after_max),
		cmocka_unit_test(test_replicated_apply),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests_name("meta_heal", tests, NULL, NULL);
}
