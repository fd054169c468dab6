/* Small bodies kept in their version record (codec loc 4) instead of the
 * inline db: which bodies go where, that every path that moves, rewrites or
 * removes a version carries or frees them, and that a store written before
 * embedding (bodies in the inline db) reads, overwrites and deletes the same.
 * The inline db's entry count is read with raw LMDB to see where bytes went.
 * Also split bodies (codec loc 5): the first bytes of a body in the record
 * so that the rest fills its overflow pages exactly (the page count too). */
#include "meta_test.h"

#include <lmdb.h>
#include <xxhash.h>

#include "meta/meta_int.h"

/* Entries in the inline db (the store is closed for the raw look and
 * reopened: one process must not open an environment twice); pages, when
 * not NULL, gets the db's overflow pages. */
static size_t inline_stat(struct tstore *t, size_t *pages)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_stat st;

	meta_store_close(t->s);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
	assert_int_equal(mdb_env_open(env, t->dir, MDB_RDONLY, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "inline", 0, &dbi), 0);
	assert_int_equal(mdb_stat(txn, dbi, &st), 0);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	struct meta_options o = {.map_size = 1ull << 30, .node_id = 7};
	assert_int_equal(meta_store_open(t->dir, &o, &t->s), 0);
	if (pages)
		*pages = st.ms_overflow_pages;
	return st.ms_entries;
}

static size_t inline_entries(struct tstore *t)
{
	return inline_stat(t, NULL);
}

/* The store's format number, read and written with raw LMDB while the store
 * is closed; the store is reopened after (set_format: through its upgrade). */
static uint32_t raw_format(struct tstore *t, int set)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = {6, "format"}, v;
	uint8_t b[4] = {(uint8_t)set, 0, 0, 0};
	uint32_t f;

	meta_store_close(t->s);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
	assert_int_equal(mdb_env_open(env, t->dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "system", 0, &dbi), 0);
	if (set) {
		v.mv_size = 4;
		v.mv_data = b;
		assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	}
	assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
	assert_int_equal(v.mv_size, 4);
	memcpy(b, v.mv_data, 4);
	f = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	struct meta_options o = {.map_size = 1ull << 30, .node_id = 7};
	assert_int_equal(meta_store_open(t->dir, &o, &t->s), 0);
	return f;
}

static void set_format(struct tstore *t, int f)
{
	assert_int_equal(raw_format(t, f), (uint32_t)f);
}

static uint32_t format_of(struct tstore *t)
{
	return raw_format(t, 0);
}

/* GET (the version vid, or the latest when NULL) returns exactly body. */
static void expect_body(struct meta_store *s, const char *b, const char *k, const char *vid,
			const char *body)
{
	struct meta_version v;
	size_t n = strlen(body);

	assert_int_equal(meta_object_get(s, b, k, strlen(k), vid, META_GET_INLINE, &v), 0);
	assert_int_equal(v.loc, META_LOC_INLINE);
	assert_int_equal(v.size, n);
	assert_int_equal(v.inline_len, n);
	assert_non_null(v.inline_data);
	assert_memory_equal(v.inline_data, body, n);
	meta_version_release(&v);
}

static char *filled(size_t n, char c)
{
	char *p = malloc(n + 1);
	assert_non_null(p);
	memset(p, c, n);
	p[n] = 0;
	return p;
}

static void test_embed_unversioned(void **state)
{
	(void)state;
	struct tstore t;
	struct meta_version v;
	struct meta_stats st;
	char *b64 = filled(64, 'a'), *bmax = filled(META_EMBED_MAX, 'm');
	char *bbig = filled(META_EMBED_MAX + 1, 'g');
	char buf[16];
	size_t n;

	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "emb"), 0);
	assert_int_equal(put_obj(t.s, "emb", "k", 1, b64, NULL), 0);
	expect_body(t.s, "emb", "k", NULL, b64);
	assert_int_equal(inline_entries(&t), 0);
	/* at the threshold: still in the record */
	assert_int_equal(put_obj(t.s, "emb", "k", 1, bmax, NULL), 0);
	expect_body(t.s, "emb", "k", NULL, bmax);
	assert_int_equal(inline_entries(&t), 0);
	/* one byte over: the inline db */
	assert_int_equal(put_obj(t.s, "emb", "k", 1, bbig, NULL), 0);
	expect_body(t.s, "emb", "k", NULL, bbig);
	assert_int_equal(inline_entries(&t), 1);
	/* back to small: the replaced body leaves the inline db */
	assert_int_equal(put_obj(t.s, "emb", "k", 1, "tiny", NULL), 0);
	expect_body(t.s, "emb", "k", NULL, "tiny");
	assert_int_equal(inline_entries(&t), 0);
	assert_int_equal(put_obj(t.s, "emb", "empty", 5, "", NULL), 0);
	expect_body(t.s, "emb", "empty", NULL, "");
	/* the HEAD-style get leaves the bytes out */
	assert_int_equal(meta_object_get(t.s, "emb", "k", 1, NULL, 0, &v), 0);
	assert_null(v.inline_data);
	assert_int_equal(meta_object_read_inline(t.s, "emb", "k", 1, v.vid, buf, sizeof(buf), &n),
			 0);
	assert_int_equal(n, 4);
	assert_memory_equal(buf, "tiny", 4);
	assert_int_equal(meta_object_read_inline(t.s, "emb", "k", 1, v.vid, buf, 3, &n),
			 CN_ETOOBIG);
	meta_version_release(&v);
	assert_int_equal(meta_stats_get(t.s, "emb", &st), 0);
	assert_int_equal(st.objects, 2);
	assert_int_equal(st.bytes, 4);
	check_stats(t.s, "emb");
	assert_int_equal(del_obj(t.s, "emb", "k", 1, NULL, NULL), 0);
	assert_int_equal(meta_object_get(t.s, "emb", "k", 1, NULL, META_GET_INLINE, &v), CN_ENOKEY);
	ts_reopen(&t);
	expect_body(t.s, "emb", "empty", NULL, "");
	check_stats(t.s, "emb");
	assert_int_equal(inline_entries(&t), 0);
	free(b64);
	free(bmax);
	free(bbig);
	ts_close(&t);
}

static void set_attrs(struct meta_store *s, const char *b, const char *k, const char *vid,
		      const char *attrs)
{
	struct meta_version v;
	struct meta_cmd a = {.type = META_CMD_VERSION_ATTRS, .now = t_now()};

	assert_int_equal(meta_object_get(s, b, k, strlen(k), vid, 0, &v), 0);
	a.bucket = b;
	a.bucket_len = strlen(b);
	a.key = k;
	a.key_len = strlen(k);
	a.has_target = 1;
	memcpy(a.target_vid, v.vid, META_ID_LEN);
	a.attrs = attrs;
	a.attrs_len = strlen(attrs);
	a.size = XXH64(v.attrs, v.attrs_len, 0);
	meta_version_release(&v);
	assert_int_equal(meta_submit_sync(s, &a), 0);
}

static void expect_attrs(struct meta_store *s, const char *b, const char *k, const char *vid,
			 const char *attrs)
{
	struct meta_version v;

	assert_int_equal(meta_object_get(s, b, k, strlen(k), vid, 0, &v), 0);
	assert_int_equal(v.attrs_len, strlen(attrs));
	assert_memory_equal(v.attrs, attrs, v.attrs_len);
	meta_version_release(&v);
}

static void test_embed_versioned(void **state)
{
	(void)state;
	struct tstore t;
	struct meta_cmd_result r1, r2, r3;
	char *bbig = filled(META_EMBED_MAX + 1, 'b');
	char buf[8];
	size_t n;
	struct meta_version v;

	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "ver"), 0);
	assert_int_equal(set_versioning(t.s, "ver", META_VERSIONING_ENABLED), 0);
	assert_int_equal(put_obj(t.s, "ver", "k", 1, "one", &r1), 0);
	assert_int_equal(put_obj(t.s, "ver", "k", 1, bbig, &r2), 0);
	assert_int_equal(put_obj(t.s, "ver", "k", 1, "three", &r3), 0);
	assert_int_equal(inline_entries(&t), 1);
	/* the older versions moved to the versions db with their bytes */
	expect_body(t.s, "ver", "k", r1.vid_text, "one");
	expect_body(t.s, "ver", "k", r2.vid_text, bbig);
	expect_body(t.s, "ver", "k", r3.vid_text, "three");
	expect_body(t.s, "ver", "k", NULL, "three");
	assert_int_equal(meta_object_read_inline(t.s, "ver", "k", 1, r1.vid, buf, sizeof(buf), &n),
			 0);
	assert_int_equal(n, 3);
	assert_memory_equal(buf, "one", 3);
	/* rewriting a record (new attrs) keeps the bytes in it */
	set_attrs(t.s, "ver", "k", r1.vid_text, "tagged");
	set_attrs(t.s, "ver", "k", NULL, "latest");
	expect_attrs(t.s, "ver", "k", r1.vid_text, "tagged");
	expect_body(t.s, "ver", "k", r1.vid_text, "one");
	expect_body(t.s, "ver", "k", NULL, "three");
	/* deleting the latest brings the one below (in the inline db) back */
	assert_int_equal(del_obj(t.s, "ver", "k", 1, r3.vid_text, NULL), 0);
	expect_body(t.s, "ver", "k", NULL, bbig);
	assert_int_equal(inline_entries(&t), 1);
	assert_int_equal(del_obj(t.s, "ver", "k", 1, r2.vid_text, NULL), 0);
	assert_int_equal(inline_entries(&t), 0);
	expect_body(t.s, "ver", "k", NULL, "one");
	expect_attrs(t.s, "ver", "k", NULL, "tagged");
	/* a delete marker on top, then removing it, brings it back again */
	struct meta_cmd_result dm;
	assert_int_equal(del_obj(t.s, "ver", "k", 1, NULL, &dm), 0);
	assert_true(dm.delete_marker);
	assert_int_equal(meta_object_get(t.s, "ver", "k", 1, NULL, META_GET_INLINE, &v), CN_ENOKEY);
	expect_body(t.s, "ver", "k", r1.vid_text, "one");
	assert_int_equal(del_obj(t.s, "ver", "k", 1, dm.vid_text, NULL), 0);
	expect_body(t.s, "ver", "k", NULL, "one");
	check_stats(t.s, "ver");
	assert_int_equal(del_obj(t.s, "ver", "k", 1, r1.vid_text, NULL), 0);
	assert_int_equal(meta_object_read_inline(t.s, "ver", "k", 1, r1.vid, buf, sizeof(buf), &n),
			 CN_ENOVERSION);
	check_stats(t.s, "ver");
	free(bbig);
	ts_close(&t);
}

/* A store whose small bodies sit in the inline db (written with embedding
 * off, as builds before it did), used by a build that embeds. */
static void test_embed_older_records(void **state)
{
	(void)state;
	struct tstore t;
	struct meta_cmd_result l1, l2, n3;

	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "old"), 0);
	assert_int_equal(mk_bucket(t.s, "ver"), 0);
	assert_int_equal(set_versioning(t.s, "ver", META_VERSIONING_ENABLED), 0);
	meta_embed_max = -1;
	assert_int_equal(put_obj(t.s, "old", "k", 1, "legacy", NULL), 0);
	assert_int_equal(put_obj(t.s, "old", "e", 1, "", NULL), 0);
	assert_int_equal(put_obj(t.s, "ver", "k", 1, "l1", &l1), 0);
	assert_int_equal(put_obj(t.s, "ver", "k", 1, "l2", &l2), 0);
	meta_embed_max = META_EMBED_MAX;
	set_format(&t, 2); /* as a build before embedding left it */
	assert_int_equal(format_of(&t), META_FORMAT_VERSION);
	set_format(&t, 3); /* as a build before split bodies left it */
	assert_int_equal(format_of(&t), META_FORMAT_VERSION);
	assert_int_equal(inline_entries(&t), 4);
	expect_body(t.s, "old", "k", NULL, "legacy");
	expect_body(t.s, "old", "e", NULL, "");
	expect_body(t.s, "ver", "k", NULL, "l2");
	/* overwrite: the old body leaves the inline db, the new one embeds */
	assert_int_equal(put_obj(t.s, "old", "k", 1, "new", NULL), 0);
	expect_body(t.s, "old", "k", NULL, "new");
	assert_int_equal(inline_entries(&t), 3);
	assert_int_equal(del_obj(t.s, "old", "e", 1, NULL, NULL), 0);
	assert_int_equal(inline_entries(&t), 2);
	/* a rewritten older record stays an older record */
	set_attrs(t.s, "ver", "k", l2.vid_text, "acl");
	expect_body(t.s, "ver", "k", l2.vid_text, "l2");
	assert_int_equal(put_obj(t.s, "ver", "k", 1, "n3", &n3), 0);
	expect_body(t.s, "ver", "k", l1.vid_text, "l1");
	expect_body(t.s, "ver", "k", l2.vid_text, "l2");
	expect_attrs(t.s, "ver", "k", l2.vid_text, "acl");
	expect_body(t.s, "ver", "k", NULL, "n3");
	assert_int_equal(del_obj(t.s, "ver", "k", 1, l2.vid_text, NULL), 0);
	assert_int_equal(inline_entries(&t), 1);
	assert_int_equal(del_obj(t.s, "ver", "k", 1, n3.vid_text, NULL), 0);
	expect_body(t.s, "ver", "k", NULL, "l1"); /* back in the index, from the inline db */
	assert_int_equal(del_obj(t.s, "ver", "k", 1, l1.vid_text, NULL), 0);
	assert_int_equal(inline_entries(&t), 0);
	check_stats(t.s, "old");
	check_stats(t.s, "ver");
	ts_close(&t);
}

/* n printable bytes that differ from their neighbours (a head stored
 * after its tail, or shifted by a byte, reads back different) */
static char *patterned(size_t n, unsigned seed)
{
	char *p = malloc(n + 1);
	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (char)('A' + (i * 7 + i / 26 + seed) % 26);
	p[n] = 0;
	return p;
}

static void test_split_bodies(void **state)
{
	(void)state;
	/* size, overflow pages its inline db value takes: on 4 KiB pages a run
	 * of n holds n * 4096 - 16 bytes; a head of up to META_EMBED_MAX moves
	 * into the record when that saves the last page */
	static const struct {
		size_t size, pages;
	} c[] = {
		{4096, 1},  /* head 16: 4080 fill one page (two without it) */
		{8192, 2},  /* head 16 */
		{4300, 1},  /* head 220 */
		{4336, 1},  /* head 256 = META_EMBED_MAX */
		{4337, 2},  /* head 257: too big for the record, two pages */
		{4080, 1},  /* fills one page as it is */
		{4000, 1},  /* no page to save */
		{1500, 0},  /* a leaf value, no overflow page */
		{65536, 16} /* head 16 (17 pages without it) */
	};
	const size_t n = sizeof(c) / sizeof(c[0]);
	char *body[sizeof(c) / sizeof(c[0])];
	char key[16];
	size_t pages, want = 0;
	struct tstore t;
	struct meta_version v;
	struct meta_cmd_result r1, r2;
	char *buf = malloc(65536);

	assert_non_null(buf);
	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "spl"), 0);
	for (size_t i = 0; i < n; i++) {
		body[i] = patterned(c[i].size, (unsigned)i);
		snprintf(key, sizeof(key), "k%zu", i);
		assert_int_equal(put_obj(t.s, "spl", key, strlen(key), body[i], NULL), 0);
		want += c[i].pages;
	}
	for (int pass = 0; pass < 2; pass++) {
		assert_int_equal(inline_stat(&t, &pages), n);
		assert_int_equal(pages, want);
		for (size_t i = 0; i < n; i++) {
			snprintf(key, sizeof(key), "k%zu", i);
			expect_body(t.s, "spl", key, NULL, body[i]);
			assert_int_equal(meta_object_get(t.s, "spl", key, strlen(key), NULL, 0, &v),
					 0);
			size_t got;
			assert_int_equal(meta_object_read_inline(t.s, "spl", key, strlen(key),
								 v.vid, buf, c[i].size, &got),
					 0);
			assert_int_equal(got, c[i].size);
			assert_memory_equal(buf, body[i], got);
			assert_int_equal(meta_object_read_inline(t.s, "spl", key, strlen(key),
								 v.vid, buf, c[i].size - 1, &got),
					 CN_ETOOBIG);
			meta_version_release(&v);
		}
		check_stats(t.s, "spl");
		ts_reopen(&t);
	}
	/* a rewritten record (new attrs) keeps its head */
	set_attrs(t.s, "spl", "k0", NULL, "acl");
	expect_body(t.s, "spl", "k0", NULL, body[0]);
	/* versions: the older one moves to the versions db with its head */
	assert_int_equal(mk_bucket(t.s, "svr"), 0);
	assert_int_equal(set_versioning(t.s, "svr", META_VERSIONING_ENABLED), 0);
	assert_int_equal(put_obj(t.s, "svr", "k", 1, body[0], &r1), 0);
	assert_int_equal(put_obj(t.s, "svr", "k", 1, body[1], &r2), 0);
	expect_body(t.s, "svr", "k", r1.vid_text, body[0]);
	expect_body(t.s, "svr", "k", NULL, body[1]);
	set_attrs(t.s, "svr", "k", r1.vid_text, "tagged");
	expect_body(t.s, "svr", "k", r1.vid_text, body[0]);
	assert_int_equal(del_obj(t.s, "svr", "k", 1, r2.vid_text, NULL), 0);
	expect_body(t.s, "svr", "k", NULL, body[0]); /* back in the index */
	assert_int_equal(inline_entries(&t), n + 1);
	/* overwrites and deletes free the tails: nothing left behind */
	assert_int_equal(del_obj(t.s, "svr", "k", 1, r1.vid_text, NULL), 0);
	assert_int_equal(put_obj(t.s, "spl", "k0", 2, "small", NULL), 0);
	expect_body(t.s, "spl", "k0", NULL, "small");
	for (size_t i = 1; i < n; i++) {
		snprintf(key, sizeof(key), "k%zu", i);
		assert_int_equal(del_obj(t.s, "spl", key, strlen(key), NULL, NULL), 0);
	}
	assert_int_equal(inline_stat(&t, &pages), 0);
	assert_int_equal(pages, 0);
	check_stats(t.s, "spl");
	check_stats(t.s, "svr");
	/* embedding off (as a build before it): no split, the whole body in
	 * the inline db, read the same */
	meta_embed_max = -1;
	assert_int_equal(put_obj(t.s, "spl", "old", 3, body[0], NULL), 0);
	meta_embed_max = META_EMBED_MAX;
	assert_int_equal(inline_stat(&t, &pages), 1);
	assert_int_equal(pages, 2);
	expect_body(t.s, "spl", "old", NULL, body[0]);
	for (size_t i = 0; i < n; i++)
		free(body[i]);
	free(buf);
	ts_close(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_embed_unversioned),
		cmocka_unit_test(test_embed_versioned),
		cmocka_unit_test(test_embed_older_records),
		cmocka_unit_test(test_split_bodies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
