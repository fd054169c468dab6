/* Unit tests for meta's codec and key encoding: round trips, rejection of
 * every truncation and of flipped bytes, exact key order (0x00-0xFF, long
 * keys), bucket names. With CAIRN_WRITE_CORPUS=dir it also writes the seed
 * corpus of tests/fuzz/fuzz_meta_codec.c (selector byte + encoding). */
#include "meta_test.h"

#include "meta/meta_int.h"

static uint32_t rng = 777;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

static void seed(const char *name, uint8_t sel, const void *p, size_t n)
{
	const char *dir = getenv("CAIRN_WRITE_CORPUS");
	char path[512];
	FILE *f;

	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	fputc(sel, f);
	fwrite(p, 1, n, f);
	fclose(f);
}

static void full_cmd(struct meta_cmd *c, struct meta_part_ref *parts, struct meta_gc_ref *gc)
{
	memset(c, 0, sizeof(*c));
	c->type = META_CMD_UPLOAD_COMPLETE;
	c->now = 1234567890123LL;
	c->bucket = "bucket";
	c->bucket_len = 6;
	c->key = "a/\x00\xff key";
	c->key_len = 8;
	memset(c->vid, 1, 16);
	c->has_target = 1;
	memset(c->target_vid, 2, 16);
	memset(c->upload_id, 3, 16);
	c->cond = META_COND_IF_NONE_MATCH_STAR;
	c->if_match = "abc";
	c->if_match_len = 3;
	c->versioning = 1;
	c->attrs = "attrs";
	c->attrs_len = 5;
	c->size = 99;
	c->etag = "0123456789abcdef0123456789abcdef";
	c->etag_len = 32;
	c->loc = META_LOC_BLOB;
	c->inline_data = "inline";
	c->inline_len = 6;
	memset(c->blob_id, 4, 16);
	c->layout = "layout";
	c->layout_len = 6;
	c->part_no = 7;
	c->min_part_size = 5 << 20;
	parts[0] = (struct meta_part_ref){1, "e1", 2};
	parts[1] = (struct meta_part_ref){3, "e3", 2};
	c->parts = parts;
	c->n_parts = 2;
	gc[0].due = 42;
	memset(gc[0].blob_id, 5, 16);
	c->gc = gc;
	c->n_gc = 1;
}

static void test_cmd_round_trip_and_truncation(void **state)
{
	(void)state;
	struct meta_cmd c, d;
	struct meta_part_ref parts[2];
	struct meta_gc_ref gc[1];
	uint8_t *enc, *enc2;
	size_t len, len2;

	full_cmd(&c, parts, gc);
	assert_int_equal(meta_cmd_encode(&c, &enc, &len), 0);
	seed("cmd_complete", 0, enc, len);
	assert_int_equal(meta_cmd_decode(enc, len, &d), 0);
	assert_int_equal(d.type, c.type);
	assert_true(d.now == c.now);
	assert_memory_equal(d.key, c.key, 8);
	assert_int_equal(d.n_parts, 2);
	assert_int_equal(d.parts[1].part_no, 3);
	assert_memory_equal(d.parts[1].etag, "e3", 2);
	assert_int_equal(d.n_gc, 1);
	assert_true(d.gc[0].due == 42);
	assert_int_equal(d.if_match_len, 3);
	assert_int_equal(meta_cmd_encode(&d, &enc2, &len2), 0);
	assert_int_equal(len, len2);
	assert_memory_equal(enc, enc2, len);
	free(enc2);
	meta_cmd_release(&d);
	/* every truncation and every extension is rejected */
	for (size_t n = 0; n < len; n++) {
		uint8_t *cut = malloc(n ? n : 1);
		memcpy(cut, enc, n);
		assert_int_equal(meta_cmd_decode(cut, n, &d), CN_ECORRUPT);
		free(cut);
	}
	uint8_t *ext = malloc(len + 1);
	memcpy(ext, enc, len);
	ext[len] = 0;
	assert_int_equal(meta_cmd_decode(ext, len + 1, &d), CN_ECORRUPT);
	/* random byte flips: decode never crashes; what decodes re-encodes */
	for (int i = 0; i < 20000; i++) {
		memcpy(ext, enc, len);
		for (int j = 0; j < 3; j++)
			ext[rnd() % len] = (uint8_t)rnd();
		if (meta_cmd_decode(ext, len, &d) == 0) {
			assert_int_equal(meta_cmd_encode(&d, &enc2, &len2), 0);
			assert_int_equal(len2, len);
			assert_memory_equal(enc2, ext, len);
			free(enc2);
			meta_cmd_release(&d);
		}
	}
	free(ext);
	free(enc);
	/* simple commands as seeds */
	struct meta_cmd p = {.type = META_CMD_PUT_VERSION,
			     .bucket = "bkt",
			     .bucket_len = 3,
			     .key = "k",
			     .key_len = 1,
			     .etag = "e",
			     .etag_len = 1,
			     .loc = META_LOC_INLINE,
			     .size = 2,
			     .inline_data = "hi",
			     .inline_len = 2};
	assert_int_equal(meta_cmd_encode(&p, &enc, &len), 0);
	seed("cmd_put_inline", 0, enc, len);
	free(enc);
	char big[META_KEY_MAX + 1];
	p.key = big;
	p.key_len = sizeof(big);
	assert_int_equal(meta_cmd_encode(&p, &enc, &len), CN_EKEYTOOLONG);
}

/* d (decoded from w, key "k") encodes back to exactly w, and is released;
 * every truncation of w is corrupt. */
static void reencodes_whole(const struct cn_buf *w, struct meta_version *d)
{
	struct cn_buf w2;
	cn_buf_init(&w2);
	assert_int_equal(ver_encode(&w2, NULL, 0, d), 0);
	assert_int_equal(w2.len, w->len);
	assert_memory_equal(w2.p, w->p, w->len);
	cn_buf_release(&w2);
	meta_version_release(d);
	for (size_t n = 0; n < w->len; n++)
		assert_int_equal(ver_decode(w->p, n, (const uint8_t *)"k", 1, d), CN_ECORRUPT);
}

static void test_version_codec(void **state)
{
	(void)state;
	struct meta_version v, d;
	struct meta_part parts[3];
	struct cn_buf w;
	uint8_t longkey[600];

	memset(&v, 0, sizeof(v));
	memset(longkey, 'L', sizeof(longkey));
	memset(v.vid, 9, 16);
	v.flags = META_VF_NULL;
	v.mtime = 5;
	v.size = 300;
	strcpy(v.etag, "abcdef-3");
	v.attrs = (const uint8_t *)"attr";
	v.attrs_len = 4;
	v.loc = META_LOC_PARTS;
	for (int i = 0; i < 3; i++) {
		memset(&parts[i], 0, sizeof(parts[i]));
		parts[i].part_no = (uint32_t)(i * 2 + 1);
		parts[i].size = 100;
		strcpy(parts[i].etag, "0123456789abcdef0123456789abcdef");
		parts[i].blob_id[0] = (uint8_t)i;
		parts[i].layout = (const uint8_t *)"lay";
		parts[i].layout_len = 3;
	}
	v.parts = parts;
	v.n_parts = 3;
	cn_buf_init(&w);
	assert_int_equal(ver_encode(&w, longkey, sizeof(longkey), &v), 0);
	seed("version_parts", 1, w.p, w.len);
	assert_int_equal(ver_decode(w.p, w.len, longkey, sizeof(longkey), &d), 0);
	assert_string_equal(d.vid_text, "null");
	assert_int_equal(d.n_parts, 3);
	assert_int_equal(d.parts[2].part_no, 5);
	assert_memory_equal(d.parts[2].layout, "lay", 3);
	assert_string_equal(d.etag, "abcdef-3");
	meta_version_release(&d);
	const uint8_t *fk;
	size_t fklen;
	assert_int_equal(val_fullkey(w.p, w.len, &fk, &fklen), 0);
	assert_int_equal(fklen, sizeof(longkey));
	for (size_t n = 0; n < w.len; n++)
		assert_int_equal(ver_decode(w.p, n, longkey, 10, &d), CN_ECORRUPT);
	/* part checksums: a section after the parts, only when some part has one */
	size_t plain_len = w.len;
	parts[0].ck_alg = 1;
	parts[0].ck_len = 4;
	memcpy(parts[0].ck, "\x01\x02\x03\x04", 4);
	parts[2].ck_alg = 5;
	parts[2].ck_len = 32;
	memset(parts[2].ck, 0xAB, 32);
	cn_buf_reset(&w);
	assert_int_equal(ver_encode(&w, longkey, sizeof(longkey), &v), 0);
	seed("version_parts_ck", 1, w.p, w.len);
	assert_int_equal(w.len, plain_len + 6 + 2 + 34);
	assert_int_equal(ver_decode(w.p, w.len, longkey, sizeof(longkey), &d), 0);
	assert_int_equal(d.parts[0].ck_alg, 1);
	assert_memory_equal(d.parts[0].ck, "\x01\x02\x03\x04", 4);
	assert_int_equal(d.parts[1].ck_len, 0);
	assert_int_equal(d.parts[2].ck_len, 32);
	meta_version_release(&d);
	for (size_t n = plain_len + 1; n < w.len; n++)
		assert_int_equal(ver_decode(w.p, n, longkey, sizeof(longkey), &d), CN_ECORRUPT);
	cn_buf_reset(&w);
	assert_int_equal(part_encode(&w, &parts[2]), 0);
	seed("part_ck", 4, w.p, w.len);
	{
		struct meta_part pc;
		assert_int_equal(part_decode(w.p, w.len, &pc), 0);
		assert_int_equal(pc.ck_alg, 5);
		assert_memory_equal(pc.ck, parts[2].ck, 32);
		for (size_t n = 0; n < w.len; n++)
			if (n != w.len - 34) /* a part record without the checksum */
				assert_int_equal(part_decode(w.p, n, &pc), CN_ECORRUPT);
	}
	for (int i = 0; i < 3; i++)
		parts[i].ck_alg = parts[i].ck_len = 0;
	/* parts out of order are corrupt */
	parts[1].part_no = 9;
	cn_buf_reset(&w);
	assert_int_equal(ver_encode(&w, NULL, 0, &v), 0);
	assert_int_equal(ver_decode(w.p, w.len, longkey, 1, &d), CN_ECORRUPT);
	/* a short key must not carry a full key of <= 200 bytes */
	parts[1].part_no = 3;
	cn_buf_reset(&w);
	assert_int_equal(ver_encode(&w, longkey, 100, &v), 0);
	assert_int_equal(ver_decode(w.p, w.len, longkey, 1, &d), CN_ECORRUPT);
	/* inline and marker */
	memset(&v, 0, sizeof(v));
	v.loc = META_LOC_INLINE;
	v.size = v.inline_len = 3;
	strcpy(v.etag, "e");
	cn_buf_reset(&w);
	assert_int_equal(ver_encode(&w, NULL, 0, &v), 0);
	seed("version_inline", 1, w.p, w.len);
	assert_int_equal(ver_decode(w.p, w.len, (const uint8_t *)"k", 1, &d), 0);
	assert_int_equal(d.inline_len, 3);
	assert_false(d.inline_embedded);
	meta_version_release(&d);
	/* the bytes in the record itself (loc 4): decoded as LOC_INLINE */
	size_t ref_len = w.len;
	v.inline_embedded = 1;
	v.embed = (const uint8_t *)"abc";
	cn_buf_reset(&w);
	assert_int_equal(ver_encode(&w, NULL, 0, &v), 0);
	seed("version_embedded", 1, w.p, w.len);
	assert_int_equal(w.len, ref_len + 3);
	assert_int_equal(w.p[w.len - 8], 4); /* the loc byte */
	assert_int_equal(ver_decode(w.p, w.len, (const uint8_t *)"k", 1, &d), 0);
	assert_int_equal(d.loc, META_LOC_INLINE);
	assert_true(d.inline_embedded);
	assert_int_equal(d.inline_len, 3);
	assert_memory_equal(d.embed, "abc", 3);
	/* re-encoding a decoded record keeps the bytes in it */
	reencodes_whole(&w, &d);
	w.p[w.len - 7] = 2; /* length != size */
	assert_int_equal(ver_decode(w.p, w.len, (const uint8_t *)"k", 1, &d), CN_ECORRUPT);
	w.p[w.len - 7] = 3;
	w.p[w.len - 8] = 6; /* no such loc */
	assert_int_equal(ver_decode(w.p, w.len, (const uint8_t *)"k", 1, &d), CN_ECORRUPT);
	/* an empty body embeds as a length of 0 */
	v.size = v.inline_len = 0;
	v.embed = NULL;
	cn_buf_reset(&w);
	assert_int_equal(ver_encode(&w, NULL, 0, &v), 0);
	assert_int_equal(ver_decode(w.p, w.len, (const uint8_t *)"k", 1, &d), 0);
	assert_true(d.inline_embedded);
	assert_int_equal(d.inline_len, 0);
	meta_version_release(&d);
	/* embedded with bytes to write but no pointer: refused, not a crash */
	v.size = v.inline_len = 3;
	assert_int_equal(ver_encode(&w, NULL, 0, &v), CN_EINVAL);
	v.inline_embedded = 0;
	/* the body's head in the record, the rest in the inline db (loc 5) */
	{
		static uint8_t body[4096];
		for (size_t i = 0; i < sizeof(body); i++)
			body[i] = (uint8_t)(i * 7 + 1);
		v.size = v.inline_len = sizeof(body);
		v.embed = body;
		v.embed_len = 16;
		cn_buf_reset(&w);
		assert_int_equal(ver_encode(&w, NULL, 0, &v), 0);
		seed("version_split", 1, w.p, w.len);
		assert_int_equal(w.len, ref_len + 2 + 16);
		/* the loc byte, then 4 length, 2 head length, the head */
		assert_int_equal(w.p[w.len - 23], 5);
		assert_int_equal(ver_decode(w.p, w.len, (const uint8_t *)"k", 1, &d), 0);
		assert_int_equal(d.loc, META_LOC_INLINE);
		assert_false(d.inline_embedded);
		assert_int_equal(d.inline_len, sizeof(body));
		assert_int_equal(d.embed_len, 16);
		assert_memory_equal(d.embed, body, 16);
		reencodes_whole(&w, &d);
		/* a head of 0, over META_EMBED_MAX, or all of the body: corrupt */
		w.p[w.len - 18] = 0;
		assert_int_equal(ver_decode(w.p, w.len, (const uint8_t *)"k", 1, &d), CN_ECORRUPT);
		w.p[w.len - 18] = (uint8_t)(META_EMBED_MAX + 1);
		w.p[w.len - 17] = (uint8_t)((META_EMBED_MAX + 1) >> 8);
		assert_int_equal(ver_decode(w.p, w.len, (const uint8_t *)"k", 1, &d), CN_ECORRUPT);
		v.size = v.inline_len = 16;
		cn_buf_reset(&w);
		assert_int_equal(ver_encode(&w, NULL, 0, &v), CN_EINVAL);
		v.size = v.inline_len = 32;
		cn_buf_reset(&w);
		assert_int_equal(ver_encode(&w, NULL, 0, &v), 0);
		w.p[w.len - 21] = 16; /* length 16 == head: corrupt */
		assert_int_equal(ver_decode(w.p, w.len, (const uint8_t *)"k", 1, &d), CN_ECORRUPT);
		/* and the encoder refuses what the decoder would */
		v.embed_len = META_EMBED_MAX + 1;
		v.size = v.inline_len = sizeof(body);
		assert_int_equal(ver_encode(&w, NULL, 0, &v), CN_EINVAL);
		v.embed_len = 16;
		v.embed = NULL;
		assert_int_equal(ver_encode(&w, NULL, 0, &v), CN_EINVAL);
		v.embed_len = 0;
		v.size = v.inline_len = 3;
	}
	v.flags = META_VF_DELETE_MARKER;
	cn_buf_reset(&w);
	assert_int_equal(ver_encode(&w, NULL, 0, &v), 0);
	assert_int_equal(ver_decode(w.p, w.len, (const uint8_t *)"k", 1, &d), CN_ECORRUPT);
	v.loc = META_LOC_NONE;
	v.size = 0;
	cn_buf_reset(&w);
	assert_int_equal(ver_encode(&w, NULL, 0, &v), 0);
	seed("version_marker", 1, w.p, w.len);
	assert_int_equal(ver_decode(w.p, w.len, (const uint8_t *)"k", 1, &d), 0);
	meta_version_release(&d);
	/* other records: round trip + seeds */
	struct idx_rec ir;
	memset(&v, 0, sizeof(v));
	v.size = 7;
	strcpy(v.etag, "etag");
	cn_buf_reset(&w);
	assert_int_equal(idx_encode(&w, NULL, 0, &v), 0);
	seed("index", 2, w.p, w.len);
	assert_int_equal(idx_decode(w.p, w.len, &ir), 0);
	assert_int_equal(ir.size, 7);
	assert_int_equal(idx_decode(w.p, w.len - 1, &ir), CN_ECORRUPT);
	cn_buf_reset(&w);
	assert_int_equal(upload_encode(&w, NULL, 0, v.vid, 3, "a", 1), 0);
	seed("upload", 3, w.p, w.len);
	struct meta_upload u;
	assert_int_equal(upload_decode(w.p, w.len, (const uint8_t *)"k", 1, &u), 0);
	assert_int_equal(u.initiated, 3);
	meta_upload_release(&u);
	cn_buf_reset(&w);
	assert_int_equal(part_encode(&w, &parts[0]), 0);
	seed("part", 4, w.p, w.len);
	struct meta_part pt;
	assert_int_equal(part_decode(w.p, w.len, &pt), 0);
	assert_int_equal(pt.size, 100);
	cn_buf_reset(&w);
	assert_int_equal(bucket_encode(&w, 11, 2, "cfg", 3), 0);
	seed("bucket", 5, w.p, w.len);
	struct meta_bucket b;
	assert_int_equal(bucket_decode(w.p, w.len, "bucket", 6, &b), 0);
	assert_int_equal(b.versioning, META_VERSIONING_SUSPENDED);
	assert_memory_equal(b.attrs, "cfg", 3);
	meta_bucket_release(&b);
	uint8_t vst = 0; /* the header-only read agrees, and refuses what decode does */
	assert_int_equal(bucket_versioning_of(w.p, w.len, &vst), 0);
	assert_int_equal(vst, META_VERSIONING_SUSPENDED);
	for (size_t cut = 0; cut < 10; cut++)
		assert_int_equal(bucket_versioning_of(w.p, cut, &vst), CN_ECORRUPT);
	w.p[9] = 3; /* versioning out of range */
	assert_int_equal(bucket_decode(w.p, w.len, "bucket", 6, &b), CN_ECORRUPT);
	assert_int_equal(bucket_versioning_of(w.p, w.len, &vst), CN_ECORRUPT);
	cn_buf_reset(&w);
	struct stats_rec st = {1, 2, 3, 4}, st2;
	assert_int_equal(stats_encode(&w, &st), 0);
	seed("stats", 6, w.p, w.len);
	assert_int_equal(stats_decode(w.p, w.len, &st2), 0);
	assert_true(st2.version_bytes == 4);
	cn_buf_reset(&w);
	assert_int_equal(blobref_encode(&w, 5, "lay", 3), 0);
	seed("blobref", 6, w.p, w.len);
	cn_buf_release(&w);
}

struct tkey {
	uint8_t b[META_KEY_MAX];
	size_t n;
};

static void rand_key(struct tkey *k)
{
	static const uint8_t alpha[] = {0x00, 0x01, 'a', 'b', 0xFE, 0xFF, '/'};
	size_t base = rnd() % 3 == 0 ? 195 + rnd() % 20 : 0;
	k->n = base + rnd() % 8;
	if (k->n == 0)
		k->n = 1;
	for (size_t i = 0; i < k->n; i++)
		k->b[i] = i < base ? (uint8_t)(i % 2 ? 0 : 'x') : alpha[rnd() % sizeof(alpha)];
}

static int sgn(int x)
{
	return (x > 0) - (x < 0);
}

static void test_key_order(void **state)
{
	(void)state;
	uint8_t ea[KEY_ENC_MAX], eb[KEY_ENC_MAX], kbuf[META_KEY_MAX];

	for (int i = 0; i < 200000; i++) {
		struct tkey a, b;
		rand_key(&a);
		rand_key(&b);
		if (rnd() % 4 == 0) { /* b extends a */
			b = a;
			b.n = a.n + rnd() % 3;
			for (size_t j = a.n; j < b.n; j++)
				b.b[j] = (uint8_t)(rnd() % 2 ? 0 : 0xFF);
		}
		size_t na = key_encode(ea, "bkt", 3, a.b, a.n);
		size_t nb = key_encode(eb, "bkt", 3, b.b, b.n);
		size_t m = a.n < b.n ? a.n : b.n;
		int want = memcmp(a.b, b.b, m);
		want = want ? sgn(want) : (a.n < b.n ? -1 : a.n > b.n);
		int sameg = a.n > KEY_HEAD && b.n > KEY_HEAD && memcmp(a.b, b.b, KEY_HEAD) == 0;
		size_t mm = na < nb ? na : nb;
		int got = memcmp(ea, eb, mm);
		got = got ? sgn(got) : (na < nb ? -1 : na > nb);
		if (sameg) {
			/* one group: same prefix through the marker */
			size_t g = na - KEY_HASH;
			assert_memory_equal(ea, eb, g);
			assert_int_equal(got == 0, want == 0);
		} else {
			assert_int_equal(got, want);
		}
		/* a suffix after the key does not change the order */
		assert_true(na <= KEY_ENC_MAX - META_ID_LEN - 4);
		/* decode */
		size_t klen, glen, hdr;
		enum key_kind kind;
		assert_int_equal(key_decode(ea, na, 4, kbuf, &klen, &kind, &glen, &hdr), 0);
		assert_int_equal(hdr, na);
		if (a.n <= KEY_HEAD) {
			assert_int_equal(kind, KEY_SHORT);
			assert_int_equal(klen, a.n);
			assert_memory_equal(kbuf, a.b, a.n);
		} else {
			assert_int_equal(kind, KEY_GROUP);
			assert_memory_equal(kbuf, a.b, KEY_HEAD);
		}
		if (i < 3)
			seed(i == 0 ? "key0" : i == 1 ? "key1" : "key2", 7, ea, na);
	}
	/* worst case: 1024 NUL bytes in a 63-byte bucket still fits LMDB */
	uint8_t zeros[META_KEY_MAX] = {0};
	char b63[64];
	memset(b63, 'b', 63);
	assert_true(key_encode(ea, b63, 63, zeros, sizeof(zeros)) + META_ID_LEN <= 511);
	/* malformed raw keys */
	size_t klen, glen, hdr;
	enum key_kind kind;
	const uint8_t bad1[] = {'b', 'k', 't', 0, 'a', 0, 7};
	assert_int_equal(key_decode(bad1, sizeof(bad1), 4, kbuf, &klen, &kind, &glen, &hdr),
			 CN_ECORRUPT);
	const uint8_t bad2[] = {'b', 'k', 't', 0, 'a', 0, 1}; /* group marker, short head */
	assert_int_equal(key_decode(bad2, sizeof(bad2), 4, kbuf, &klen, &kind, &glen, &hdr),
			 CN_ECORRUPT);
	const uint8_t bad3[] = {'b', 'k', 't', 0, 'a'}; /* no terminator */
	assert_int_equal(key_decode(bad3, sizeof(bad3), 4, kbuf, &klen, &kind, &glen, &hdr),
			 CN_ECORRUPT);
	/* prefix successor */
	uint8_t out[8];
	assert_int_equal(key_prefix_succ(out, (const uint8_t *)"a\xff\xff", 3), 1);
	assert_int_equal(out[0], 'b');
	assert_int_equal(key_prefix_succ(out, (const uint8_t *)"\xff", 1), 0);
}

static void test_bucket_names(void **state)
{
	(void)state;
	assert_true(bucket_name_valid("abc", 3));
	assert_true(bucket_name_valid("my.bucket-1", 11));
	assert_false(bucket_name_valid("ab", 2));
	assert_false(bucket_name_valid("-abc", 4));
	assert_false(bucket_name_valid("abc.", 4));
	assert_false(bucket_name_valid("a..b", 4));
	assert_false(bucket_name_valid("ABC", 3));
	assert_false(bucket_name_valid("a_b", 3));
	char b64[65];
	memset(b64, 'a', 64);
	assert_false(bucket_name_valid(b64, 64));
	assert_true(bucket_name_valid(b64, 63));
}

/* etag_valid (it checks sixteen bytes a step where it can) against its
 * rule written out: printable ASCII but the double quote, at most
 * META_ETAG_MAX bytes. Every byte value at every position of every length
 * up to the maximum, and one byte over it. */
static void test_etag_valid_every_byte(void **state)
{
	(void)state;
	char s[META_ETAG_MAX + 2];

	for (size_t len = 0; len <= META_ETAG_MAX + 1; len++) {
		memset(s, 'a', sizeof(s));
		assert_int_equal(etag_valid(s, len), len <= META_ETAG_MAX);
		for (size_t pos = 0; pos < len && len <= META_ETAG_MAX; pos++)
			for (int c = 0; c < 256; c++) {
				s[pos] = (char)c;
				bool want = c >= 0x21 && c <= 0x7e && c != '"';
				assert_int_equal(etag_valid(s, len), want);
				s[pos] = 'a';
			}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cmd_round_trip_and_truncation),
		cmocka_unit_test(test_version_codec),
		cmocka_unit_test(test_etag_valid_every_byte),
		cmocka_unit_test(test_key_order),
		cmocka_unit_test(test_bucket_names),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests_name("meta_codec", tests, NULL, NULL);
}
