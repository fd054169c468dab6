/* Upgrade of a format-1 store (index held summaries, versions every full
 * record) to format 2 at open. The format-1 store is written here directly
 * through the kv seam and the record codecs, as format 1 laid it out: more
 * keys than one upgrade chunk, a long key, a key with older versions, and a
 * key whose newest version is a delete marker. A second case runs the
 * upgrade twice over the same records first (a crash before the format
 * number was written) to check it is idempotent. */
#include "meta_test.h"

#include "meta/kv.h"
#include "meta/meta_int.h"

#define NKEYS 25000 /* > UPGRADE_CHUNK (10000) */

static void put_v1(struct kv_txn *t, const char *key, size_t klen, uint64_t seq, int marker,
		   int newest, struct stats_rec *st)
{
	uint8_t kenc[KEY_ENC_MAX], raw[KEY_ENC_MAX];
	size_t kn = key_encode(kenc, "upg", 3, (const uint8_t *)key, klen);
	const uint8_t *fk = klen > KEY_HEAD ? (const uint8_t *)key : NULL;
	size_t fklen = fk ? klen : 0;
	static const uint8_t layout[20] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
	struct meta_version v;
	struct cn_buf w;
	char data[32];

	memset(&v, 0, sizeof(v));
	be64_put(v.vid, 0x0100000000000000ull + seq);
	v.vid[15] = 1;
	v.flags = marker ? META_VF_DELETE_MARKER : 0;
	v.mtime = 1700000000000000000LL + (int64_t)seq;
	if (!marker) {
		snprintf(data, sizeof(data), "data-%llu", (unsigned long long)seq);
		etag_of(data, strlen(data), v.etag);
		v.size = 1000 + seq;
		v.loc = META_LOC_BLOB;
		memcpy(v.blob_id, v.vid, META_ID_LEN);
		v.layout = layout;
		v.layout_len = sizeof(layout);
	}
	memcpy(raw, kenc, kn);
	for (int i = 0; i < META_ID_LEN; i++)
		raw[kn + i] = (uint8_t)~v.vid[i];
	cn_buf_init(&w);
	assert_int_equal(ver_encode(&w, fk, fklen, &v), 0);
	assert_int_equal(kv_put(t, KV_VERSIONS, raw, kn + META_ID_LEN, w.p, w.len), 0);
	if (newest && !marker) {
		cn_buf_reset(&w);
		assert_int_equal(idx_encode(&w, fk, fklen, &v), 0);
		assert_int_equal(kv_put(t, KV_INDEX, kenc, kn, w.p, w.len), 0);
		st->objects++;
		st->bytes += v.size;
	}
	st->versions++;
	st->version_bytes += v.size;
	cn_buf_release(&w);
}

static void make_v1_store(const char *dir)
{
	struct kv_env *env;
	struct kv_txn t;
	struct cn_buf w;
	struct stats_rec st = {0};
	char key[1100];
	uint64_t seq = 1;
	uint8_t fmt[4] = {1, 0, 0, 0};

	assert_int_equal(kv_env_open(dir, 1ull << 30, 0, &env), 0);
	assert_int_equal(kv_txn_begin(env, NULL, 0, &t), 0);
	assert_int_equal(kv_put(&t, KV_SYSTEM, "format", 6, fmt, 4), 0);
	cn_buf_init(&w);
	assert_int_equal(bucket_encode(&w, 1, META_VERSIONING_ENABLED, NULL, 0), 0);
	assert_int_equal(kv_put(&t, KV_BUCKETS, "upg", 3, w.p, w.len), 0);
	for (int i = 0; i < NKEYS; i++) {
		int n = snprintf(key, sizeof(key), "k/%06d", i);
		put_v1(&t, key, (size_t)n, seq++, 0, 1, &st);
	}
	/* older versions: written before the newest, smaller ids */
	put_v1(&t, "multi", 5, seq++, 0, 0, &st);
	put_v1(&t, "multi", 5, seq++, 1, 0, &st);
	put_v1(&t, "multi", 5, seq++, 0, 1, &st);
	/* newest is a delete marker: no index entry */
	put_v1(&t, "gone", 4, seq++, 0, 0, &st);
	put_v1(&t, "gone", 4, seq++, 1, 1, &st);
	memset(key, 'L', 600);
	key[600] = 'z';
	put_v1(&t, key, 601, seq++, 0, 0, &st);
	put_v1(&t, key, 601, seq++, 0, 1, &st);
	cn_buf_reset(&w);
	assert_int_equal(stats_encode(&w, &st), 0);
	assert_int_equal(kv_put(&t, KV_STATS, "upg", 3, w.p, w.len), 0);
	cn_buf_release(&w);
	assert_int_equal(kv_txn_commit(&t), 0);
	kv_env_close(env);
}

static void check_upgraded(struct meta_store *s)
{
	struct meta_version v;
	struct meta_list_result lr;
	struct meta_list_params p = {.max = 1000, .prefix = "k/0000", .prefix_len = 6};
	struct meta_stats st;
	char key[1100];
	char et[33], data[32];

	/* a sample of the plain keys: current version found with its etag */
	for (int i = 0; i < NKEYS; i += 997) {
		int n = snprintf(key, sizeof(key), "k/%06d", i);
		assert_int_equal(meta_object_get(s, "upg", key, (size_t)n, NULL, 0, &v), 0);
		snprintf(data, sizeof(data), "data-%d", i + 1);
		etag_of(data, strlen(data), et);
		assert_string_equal(v.etag, et);
		assert_int_equal(v.loc, META_LOC_BLOB);
		assert_int_equal(v.layout_len, 20);
		assert_true(v.flags & META_VF_LATEST);
		meta_version_release(&v);
	}
	assert_int_equal(meta_list_objects(s, "upg", &p, &lr), 0);
	assert_int_equal(lr.n, 100);
	meta_list_result_release(&lr);
	/* multi: newest, marker, oldest */
	struct meta_list_params q = {.max = 1000, .prefix = "multi", .prefix_len = 5};
	assert_int_equal(meta_list_versions(s, "upg", &q, &lr), 0);
	assert_int_equal(lr.n, 3);
	assert_true(lr.entries[0].flags & META_VF_LATEST);
	assert_false(lr.entries[0].flags & META_VF_DELETE_MARKER);
	assert_true(lr.entries[1].flags & META_VF_DELETE_MARKER);
	meta_list_result_release(&lr);
	assert_int_equal(meta_object_get(s, "upg", "gone", 4, NULL, 0, &v), CN_ENOKEY);
	assert_true(v.flags & META_VF_DELETE_MARKER);
	memset(key, 'L', 600);
	key[600] = 'z';
	assert_int_equal(meta_object_get(s, "upg", key, 601, NULL, 0, &v), 0);
	meta_version_release(&v);
	assert_int_equal(meta_stats_get(s, "upg", &st), 0);
	assert_true(st.objects == NKEYS + 2);
	assert_true(st.versions == NKEYS + 7);
	check_stats(s, "upg");
	/* and it keeps working as a format-2 store */
	assert_int_equal(put_obj(s, "upg", "multi", 5, "again", NULL), 0);
	check_stats(s, "upg");
}

static void test_upgrade_v1(void **state)
{
	(void)state;
	struct tstore t;

	strcpy(t.dir, "/tmp/cairn-meta-XXXXXX");
	assert_non_null(mkdtemp(t.dir));
	make_v1_store(t.dir);
	struct meta_options o = {.map_size = 1ull << 30, .node_id = 7};
	assert_int_equal(meta_store_open(t.dir, &o, &t.s), 0);
	check_upgraded(t.s);
	ts_reopen(&t); /* format 2 now: opens without upgrading */
	struct meta_version v;
	assert_int_equal(meta_object_get(t.s, "upg", "multi", 5, NULL, META_GET_INLINE, &v), 0);
	assert_int_equal(v.loc, META_LOC_INLINE);
	meta_version_release(&v);
	ts_close(&t);
}

static void test_upgrade_idempotent(void **state)
{
	(void)state;
	struct tstore t;
	struct kv_env *env;
	uint64_t moved = 0;

	strcpy(t.dir, "/tmp/cairn-meta-XXXXXX");
	assert_non_null(mkdtemp(t.dir));
	make_v1_store(t.dir);
	/* a first run that "crashed" before writing the format number */
	assert_int_equal(kv_env_open(t.dir, 1ull << 30, 0, &env), 0);
	assert_int_equal(meta_upgrade_v1(env, &moved), 0);
	if (moved != NKEYS + 2) /* every index entry; "gone" has none */
		fail_msg("moved %llu, want %d", (unsigned long long)moved, NKEYS + 2);
	assert_int_equal(meta_upgrade_v1(env, &moved), 0);
	assert_true(moved == 0);
	kv_env_close(env);
	struct meta_options o = {.map_size = 1ull << 30, .node_id = 7};
	assert_int_equal(meta_store_open(t.dir, &o, &t.s), 0);
	check_upgraded(t.s);
	ts_close(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_upgrade_v1),
		cmocka_unit_test(test_upgrade_idempotent),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
