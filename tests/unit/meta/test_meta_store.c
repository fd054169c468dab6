/* Unit tests for meta: every command, its preconditions, the versioning state
 * machine, multipart, gc/intents, the async pipeline and the format check. */
#include "meta_test.h"

#include <lmdb.h>
#include <pthread.h>
#include <sys/stat.h>
#include <uv.h>

static void test_bucket_create_delete(void **state)
{
	(void)state;
	struct tstore t;
	struct meta_bucket b;
	struct meta_bucket *all;
	size_t n;

	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "alpha"), 0);
	assert_int_equal(mk_bucket(t.s, "alpha"), CN_EBUCKETEXISTS);
	assert_int_equal(mk_bucket(t.s, "Bad_Name"), CN_EBADBUCKETNAME);
	assert_int_equal(mk_bucket(t.s, "ab"), CN_EBADBUCKETNAME);
	assert_int_equal(mk_bucket(t.s, "beta"), 0);
	assert_int_equal(meta_bucket_get(t.s, "alpha", &b), 0);
	assert_string_equal(b.name, "alpha");
	assert_int_equal(b.versioning, META_VERSIONING_OFF);
	meta_bucket_release(&b);
	assert_int_equal(meta_bucket_get(t.s, "gamma", &b), CN_ENOBUCKET);
	assert_int_equal(meta_bucket_list(t.s, &all, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(all[0].name, "alpha");
	assert_string_equal(all[1].name, "beta");
	meta_bucket_list_release(all, n);

	/* not empty: an object, then only a delete marker, then only an upload */
	assert_int_equal(put_obj(t.s, "alpha", "k", 1, "v", NULL), 0);
	struct meta_cmd d = {.type = META_CMD_BUCKET_DELETE, .bucket = "alpha", .bucket_len = 5};
	assert_int_equal(meta_submit_sync(t.s, &d), CN_ENOTEMPTY);
	assert_int_equal(set_versioning(t.s, "alpha", META_VERSIONING_ENABLED), 0);
	struct meta_cmd_result r;
	assert_int_equal(del_obj(t.s, "alpha", "k", 1, NULL, &r), 0);
	assert_true(r.delete_marker);
	assert_int_equal(del_obj(t.s, "alpha", "k", 1, "null", NULL), 0);
	assert_int_equal(meta_submit_sync(t.s, &d), CN_ENOTEMPTY); /* marker remains */
	assert_int_equal(del_obj(t.s, "alpha", "k", 1, r.vid_text, NULL), 0);
	struct meta_cmd u = {.type = META_CMD_UPLOAD_CREATE,
			     .bucket = "alpha",
			     .bucket_len = 5,
			     .key = "mp",
			     .key_len = 2,
			     .now = t_now()};
	meta_upload_id_new(t.s, u.upload_id);
	assert_int_equal(meta_submit_sync(t.s, &u), 0);
	assert_int_equal(meta_submit_sync(t.s, &d), CN_ENOTEMPTY);
	u.type = META_CMD_UPLOAD_ABORT;
	assert_int_equal(meta_submit_sync(t.s, &u), 0);
	assert_int_equal(meta_submit_sync(t.s, &u), CN_ENOUPLOAD);
	assert_int_equal(meta_submit_sync(t.s, &d), 0);
	assert_int_equal(meta_submit_sync(t.s, &d), CN_ENOBUCKET);
	assert_int_equal(meta_bucket_get(t.s, "alpha", &b), CN_ENOBUCKET);
	ts_close(&t);
}

static void test_put_get_overwrite_unversioned(void **state)
{
	(void)state;
	struct tstore t;
	struct meta_version v;
	struct meta_cmd_result r1, r2;
	uint64_t ngc = 0;

	ts_open(&t);
	assert_int_equal(put_obj(t.s, "nob", "k", 1, "x", NULL), CN_ENOBUCKET);
	assert_int_equal(mk_bucket(t.s, "bk1"), 0);
	assert_int_equal(put_obj(t.s, "bk1", "k", 1, "hello", &r1), 0);
	assert_string_equal(r1.vid_text, "null");
	assert_int_equal(meta_object_get(t.s, "bk1", "k", 1, NULL, META_GET_INLINE, &v), 0);
	assert_int_equal(v.size, 5);
	assert_int_equal(v.loc, META_LOC_INLINE);
	assert_memory_equal(v.inline_data, "hello", 5);
	assert_true(v.flags & META_VF_NULL);
	assert_true(v.flags & META_VF_LATEST);
	assert_string_equal(v.vid_text, "null");
	meta_version_release(&v);
	/* overwrite keeps one null version */
	assert_int_equal(put_obj(t.s, "bk1", "k", 1, "bye", &r2), 0);
	assert_int_equal(meta_object_get(t.s, "bk1", "k", 1, "null", META_GET_INLINE, &v), 0);
	assert_memory_equal(v.inline_data, "bye", 3);
	meta_version_release(&v);
	struct meta_stats st;
	assert_int_equal(meta_stats_get(t.s, "bk1", &st), 0);
	assert_int_equal(st.objects, 1);
	assert_int_equal(st.bytes, 3);
	assert_int_equal(st.versions, 1);
	check_stats(t.s, "bk1");
	/* a blob overwrite sends the old blob to gc */
	struct meta_cmd c = {.type = META_CMD_PUT_VERSION,
			     .bucket = "bk1",
			     .bucket_len = 3,
			     .key = "big",
			     .key_len = 3,
			     .now = t_now(),
			     .size = 1 << 20,
			     .etag = "0123456789abcdef0123456789abcdef",
			     .etag_len = 32,
			     .loc = META_LOC_BLOB,
			     .layout = "L1",
			     .layout_len = 2};
	meta_version_id_new(t.s, c.vid);
	memset(c.blob_id, 1, 16);
	assert_int_equal(meta_submit_sync(t.s, &c), 0);
	meta_version_id_new(t.s, c.vid);
	memset(c.blob_id, 2, 16);
	assert_int_equal(meta_submit_sync(t.s, &c), 0);
	assert_int_equal(meta_object_get(t.s, "bk1", "big", 3, NULL, 0, &v), 0);
	assert_int_equal(v.loc, META_LOC_BLOB);
	assert_int_equal(v.blob_id[0], 2);
	assert_int_equal(v.layout_len, 2);
	meta_version_release(&v);
	assert_int_equal(meta_intent_count(t.s, &ngc), 0);
	ts_close(&t);
}

static int count_gc(const struct meta_gc_ref *ref, const uint8_t *layout, size_t len, void *arg)
{
	(void)ref;
	(void)layout;
	(void)len;
	(*(int *)arg)++;
	return 0;
}

static void test_preconditions(void **state)
{
	(void)state;
	struct tstore t;
	char et[33];

	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "bk1"), 0);
	struct meta_cmd c = {.type = META_CMD_PUT_VERSION,
			     .bucket = "bk1",
			     .bucket_len = 3,
			     .key = "k",
			     .key_len = 1,
			     .now = t_now(),
			     .size = 1,
			     .loc = META_LOC_INLINE,
			     .inline_data = "a",
			     .inline_len = 1};
	etag_of("a", 1, et);
	c.etag = et;
	c.etag_len = 32;
	c.cond = META_COND_IF_NONE_MATCH_STAR;
	meta_version_id_new(t.s, c.vid);
	assert_int_equal(meta_submit_sync(t.s, &c), 0);
	assert_int_equal(meta_submit_sync(t.s, &c), CN_EPRECOND);
	c.cond = 0;
	c.if_match = "00000000000000000000000000000000";
	c.if_match_len = 32;
	assert_int_equal(meta_submit_sync(t.s, &c), CN_EPRECOND);
	c.if_match = et;
	assert_int_equal(meta_submit_sync(t.s, &c), 0);
	c.key = "missing";
	c.key_len = 7;
	assert_int_equal(meta_submit_sync(t.s, &c), CN_ENOKEY);
	/* too-large attrs and bad etags are refused */
	static char attrs[META_ATTRS_MAX + 1];
	c.if_match = NULL;
	c.if_match_len = 0;
	c.attrs = attrs;
	c.attrs_len = sizeof(attrs);
	assert_int_equal(meta_submit_sync(t.s, &c), CN_EMETATOOBIG);
	c.attrs_len = 0;
	c.etag = "bad\"etag";
	c.etag_len = 8;
	assert_int_equal(meta_submit_sync(t.s, &c), CN_EINVAL);
	check_stats(t.s, "bk1");
	ts_close(&t);
}

static void test_versioning_state_machine(void **state)
{
	(void)state;
	struct tstore t;
	struct meta_version v;
	struct meta_cmd_result r[6];
	struct meta_bucket b;

	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "vbk"), 0);
	assert_int_equal(set_versioning(t.s, "vbk", META_VERSIONING_OFF), CN_EBADARG);
	assert_int_equal(set_versioning(t.s, "nob", META_VERSIONING_ENABLED), CN_ENOBUCKET);
	/* a null version from the unversioned era survives enabling */
	assert_int_equal(put_obj(t.s, "vbk", "k", 1, "v0", &r[0]), 0);
	assert_int_equal(set_versioning(t.s, "vbk", META_VERSIONING_ENABLED), 0);
	assert_int_equal(meta_bucket_get(t.s, "vbk", &b), 0);
	assert_int_equal(b.versioning, META_VERSIONING_ENABLED);
	meta_bucket_release(&b);
	assert_int_equal(put_obj(t.s, "vbk", "k", 1, "v1", &r[1]), 0);
	assert_int_equal(put_obj(t.s, "vbk", "k", 1, "v2", &r[2]), 0);
	assert_string_not_equal(r[1].vid_text, "null");
	assert_true(memcmp(r[1].vid, r[2].vid, 16) < 0);
	assert_int_equal(meta_object_get(t.s, "vbk", "k", 1, NULL, META_GET_INLINE, &v), 0);
	assert_memory_equal(v.inline_data, "v2", 2);
	meta_version_release(&v);
	assert_int_equal(meta_object_get(t.s, "vbk", "k", 1, r[1].vid_text, META_GET_INLINE, &v),
			 0);
	assert_memory_equal(v.inline_data, "v1", 2);
	assert_false(v.flags & META_VF_LATEST);
	meta_version_release(&v);
	assert_int_equal(meta_object_get(t.s, "vbk", "k", 1, "null", META_GET_INLINE, &v), 0);
	assert_memory_equal(v.inline_data, "v0", 2);
	meta_version_release(&v);
	assert_int_equal(meta_object_get(t.s, "vbk", "k", 1, "zz", 0, &v), CN_EBADVERSIONID);
	assert_int_equal(
		meta_object_get(t.s, "vbk", "k", 1, "0123456789abcdef0123456789abcdef", 0, &v),
		CN_ENOVERSION);
	/* delete -> marker; GET 404 with marker info; version GET of marker */
	assert_int_equal(del_obj(t.s, "vbk", "k", 1, NULL, &r[3]), 0);
	assert_true(r[3].delete_marker);
	assert_int_equal(meta_object_get(t.s, "vbk", "k", 1, NULL, 0, &v), CN_ENOKEY);
	assert_true(v.flags & META_VF_DELETE_MARKER);
	assert_string_equal(v.vid_text, r[3].vid_text);
	meta_version_release(&v);
	assert_int_equal(meta_object_get(t.s, "vbk", "k", 1, r[3].vid_text, 0, &v), CN_EDELMARKER);
	meta_version_release(&v);
	struct meta_stats st;
	assert_int_equal(meta_stats_get(t.s, "vbk", &st), 0);
	assert_int_equal(st.objects, 0);
	assert_int_equal(st.versions, 4);
	check_stats(t.s, "vbk");
	/* deleting the marker brings v2 back */
	assert_int_equal(del_obj(t.s, "vbk", "k", 1, r[3].vid_text, &r[4]), 0);
	assert_true(r[4].delete_marker);
	assert_int_equal(meta_object_get(t.s, "vbk", "k", 1, NULL, META_GET_INLINE, &v), 0);
	assert_memory_equal(v.inline_data, "v2", 2);
	meta_version_release(&v);
	/* deleting the latest version makes v1 current */
	assert_int_equal(del_obj(t.s, "vbk", "k", 1, r[2].vid_text, NULL), 0);
	assert_int_equal(meta_object_get(t.s, "vbk", "k", 1, NULL, META_GET_INLINE, &v), 0);
	assert_memory_equal(v.inline_data, "v1", 2);
	meta_version_release(&v);
	assert_int_equal(del_obj(t.s, "vbk", "k", 1, r[2].vid_text, NULL), CN_ENOVERSION);
	check_stats(t.s, "vbk");

	/* suspended: puts replace the null version, keep real versions */
	assert_int_equal(set_versioning(t.s, "vbk", META_VERSIONING_SUSPENDED), 0);
	assert_int_equal(put_obj(t.s, "vbk", "k", 1, "s1", &r[5]), 0);
	assert_string_equal(r[5].vid_text, "null");
	assert_int_equal(meta_object_get(t.s, "vbk", "k", 1, "null", META_GET_INLINE, &v), 0);
	assert_memory_equal(v.inline_data, "s1", 2);
	assert_true(v.flags & META_VF_LATEST);
	meta_version_release(&v);
	assert_int_equal(meta_stats_get(t.s, "vbk", &st), 0);
	assert_int_equal(st.versions, 2); /* v1 + null(s1): v0 was replaced */
	/* suspended delete: null delete marker replaces the null version */
	assert_int_equal(del_obj(t.s, "vbk", "k", 1, NULL, &r[0]), 0);
	assert_true(r[0].delete_marker);
	assert_string_equal(r[0].vid_text, "null");
	assert_int_equal(meta_object_get(t.s, "vbk", "k", 1, NULL, 0, &v), CN_ENOKEY);
	assert_int_equal(meta_stats_get(t.s, "vbk", &st), 0);
	assert_int_equal(st.versions, 2); /* v1 + null marker */
	assert_int_equal(st.objects, 0);
	check_stats(t.s, "vbk");
	/* re-enable: still the same versions */
	assert_int_equal(set_versioning(t.s, "vbk", META_VERSIONING_ENABLED), 0);
	assert_int_equal(meta_object_get(t.s, "vbk", "k", 1, r[1].vid_text, 0, &v), 0);
	meta_version_release(&v);
	ts_close(&t);
}

static void test_unversioned_delete(void **state)
{
	(void)state;
	struct tstore t;
	struct meta_version v;
	struct meta_cmd_result r;
	int n = 0;

	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "ubk"), 0);
	assert_int_equal(del_obj(t.s, "ubk", "nokey", 5, NULL, &r), 0); /* S3: 204 */
	assert_int_equal(put_obj(t.s, "ubk", "k", 1, "data", NULL), 0);
	assert_int_equal(del_obj(t.s, "ubk", "k", 1, NULL, &r), 0);
	assert_false(r.delete_marker);
	assert_int_equal(meta_object_get(t.s, "ubk", "k", 1, NULL, 0, &v), CN_ENOKEY);
	assert_false(v.flags & META_VF_DELETE_MARKER);
	struct meta_stats st;
	assert_int_equal(meta_stats_get(t.s, "ubk", &st), 0);
	assert_int_equal(st.versions, 0);
	assert_int_equal(st.objects, 0);
	/* inline data was not sent to gc (it lives in metadata) */
	assert_int_equal(meta_gc_fetch(t.s, INT64_MAX, 100, count_gc, &n), 0);
	assert_int_equal(n, 0);
	ts_close(&t);
}

static int put_part(struct meta_store *s, const uint8_t up[16], uint32_t no, uint64_t size,
		    const char *etag, uint8_t blob)
{
	struct meta_cmd c = {.type = META_CMD_PART_PUT,
			     .bucket = "mpb",
			     .bucket_len = 3,
			     .key = "obj",
			     .key_len = 3,
			     .now = t_now(),
			     .part_no = no,
			     .size = size,
			     .etag = etag,
			     .etag_len = strlen(etag),
			     .layout = "lay",
			     .layout_len = 3};
	memcpy(c.upload_id, up, 16);
	memset(c.blob_id, blob, 16);
	struct meta_cmd in = {
		.type = META_CMD_INTENT_ADD, .now = t_now(), .layout = "lay", .layout_len = 3};
	memcpy(in.blob_id, c.blob_id, 16);
	assert_int_equal(meta_submit_sync(s, &in), 0);
	return meta_submit_sync(s, &c);
}

static void test_multipart(void **state)
{
	(void)state;
	struct tstore t;
	uint8_t up[16];
	const char *e1 = "11111111111111111111111111111111",
		   *e2 = "22222222222222222222222222222222",
		   *e3 = "33333333333333333333333333333333";
	uint64_t nint;
	int ngc = 0;

	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "mpb"), 0);
	struct meta_cmd u = {.type = META_CMD_UPLOAD_CREATE,
			     .bucket = "mpb",
			     .bucket_len = 3,
			     .key = "obj",
			     .key_len = 3,
			     .now = t_now(),
			     .attrs = "ct=x",
			     .attrs_len = 4};
	meta_upload_id_new(t.s, up);
	memcpy(u.upload_id, up, 16);
	assert_int_equal(meta_submit_sync(t.s, &u), 0);
	struct meta_upload mu;
	assert_int_equal(meta_upload_get(t.s, "mpb", "obj", 3, up, &mu), 0);
	assert_int_equal(mu.attrs_len, 4);
	meta_upload_release(&mu);
	uint8_t bogus[16] = {0};
	assert_int_equal(put_part(t.s, bogus, 1, 1, e1, 9), CN_ENOUPLOAD);
	assert_int_equal(put_part(t.s, up, 0, 1, e1, 9), CN_EBADARG);
	assert_int_equal(put_part(t.s, up, 1, 5 << 20, e1, 1), 0);
	assert_int_equal(put_part(t.s, up, 2, 100, e2, 2), 0);
	assert_int_equal(put_part(t.s, up, 3, 10, e3, 3), 0);
	assert_int_equal(put_part(t.s, up, 3, 10, e3, 4), 0); /* replaced: blob 3 -> gc */
	assert_int_equal(meta_intent_count(t.s, &nint), 0);
	assert_int_equal(meta_gc_fetch(t.s, INT64_MAX, 100, count_gc, &ngc), 0);
	assert_int_equal(ngc, 1);
	struct meta_part_list pl;
	assert_int_equal(meta_list_parts(t.s, "mpb", "obj", 3, up, 0, 2, &pl), 0);
	assert_int_equal(pl.n, 2);
	assert_true(pl.truncated);
	assert_int_equal(pl.next_marker, 2);
	assert_int_equal(pl.parts[1].size, 100);
	assert_memory_equal(pl.parts[1].layout, "lay", 3);
	meta_part_list_release(&pl);
	assert_int_equal(meta_list_parts(t.s, "mpb", "obj", 3, up, 2, 10, &pl), 0);
	assert_int_equal(pl.n, 1);
	assert_false(pl.truncated);
	assert_int_equal(pl.parts[0].part_no, 3);
	meta_part_list_release(&pl);

	struct meta_part_ref refs[3] = {{1, e1, 32}, {2, e2, 32}, {3, e3, 32}};
	struct meta_cmd c = {.type = META_CMD_UPLOAD_COMPLETE,
			     .bucket = "mpb",
			     .bucket_len = 3,
			     .key = "obj",
			     .key_len = 3,
			     .now = t_now(),
			     .parts = refs,
			     .n_parts = 3};
	memcpy(c.upload_id, up, 16);
	meta_version_id_new(t.s, c.vid);
	/* order */
	struct meta_part_ref bad[2] = {{2, e2, 32}, {1, e1, 32}};
	c.parts = bad;
	c.n_parts = 2;
	assert_int_equal(meta_submit_sync(t.s, &c), CN_EBADPARTORDER);
	/* wrong etag, missing part */
	struct meta_part_ref bad2[2] = {{1, e2, 32}, {2, e2, 32}};
	c.parts = bad2;
	assert_int_equal(meta_submit_sync(t.s, &c), CN_EBADPART);
	struct meta_part_ref bad3[2] = {{1, e1, 32}, {7, e2, 32}};
	c.parts = bad3;
	assert_int_equal(meta_submit_sync(t.s, &c), CN_EBADPART);
	/* part 2 (100 bytes) is not last: too small */
	c.parts = refs;
	c.n_parts = 3;
	assert_int_equal(meta_submit_sync(t.s, &c), CN_ETOOSMALL);
	/* complete with parts 1 and 3 (quotes tolerated); part 2 goes to gc */
	struct meta_part_ref ok[2] = {{1, "\"11111111111111111111111111111111\"", 34}, {3, e3, 32}};
	c.parts = ok;
	c.n_parts = 2;
	assert_int_equal(meta_submit_sync(t.s, &c), 0);
	/* ETag of ETags */
	uint8_t bin[32];
	memset(bin, 0x11, 16);
	memset(bin + 16, 0x33, 16);
	char want[40];
	etag_of(bin, 32, want);
	strcat(want, "-2");
	assert_string_equal(c.res.etag, want);
	assert_int_equal(c.res.size, (5 << 20) + 10);
	struct meta_version v;
	assert_int_equal(meta_object_get(t.s, "mpb", "obj", 3, NULL, 0, &v), 0);
	assert_int_equal(v.loc, META_LOC_PARTS);
	assert_int_equal(v.n_parts, 2);
	assert_int_equal(v.parts[1].part_no, 3);
	assert_int_equal(v.parts[1].size, 10);
	assert_int_equal(v.parts[1].blob_id[0], 4);
	assert_string_equal(v.etag, want);
	assert_int_equal(v.attrs_len, 4);
	assert_memory_equal(v.attrs, "ct=x", 4);
	meta_version_release(&v);
	ngc = 0;
	assert_int_equal(meta_gc_fetch(t.s, INT64_MAX, 100, count_gc, &ngc), 0);
	assert_int_equal(ngc, 2); /* replaced part 3 blob + unlisted part 2 */
	/* upload is gone */
	assert_int_equal(meta_submit_sync(t.s, &c), CN_ENOUPLOAD);
	assert_int_equal(meta_upload_get(t.s, "mpb", "obj", 3, up, &mu), CN_ENOUPLOAD);
	check_stats(t.s, "mpb");
	/* overwrite the multipart object: both part blobs go to gc */
	assert_int_equal(put_obj(t.s, "mpb", "obj", 3, "small", NULL), 0);
	ngc = 0;
	assert_int_equal(meta_gc_fetch(t.s, INT64_MAX, 100, count_gc, &ngc), 0);
	assert_int_equal(ngc, 4);
	check_stats(t.s, "mpb");
	ts_close(&t);
}

struct gc_collect {
	struct meta_gc_ref refs[16];
	int n;
};

static int collect_gc(const struct meta_gc_ref *ref, const uint8_t *layout, size_t len, void *arg)
{
	struct gc_collect *g = arg;
	(void)layout;
	(void)len;
	g->refs[g->n++] = *ref;
	return 0;
}

static void test_gc_and_intents(void **state)
{
	(void)state;
	struct tstore t;
	struct gc_collect g = {.n = 0};
	uint64_t n;

	ts_open(&t);
	struct meta_cmd in = {
		.type = META_CMD_INTENT_ADD, .now = t_now(), .layout = "x", .layout_len = 1};
	memset(in.blob_id, 0xAB, 16);
	assert_int_equal(meta_submit_sync(t.s, &in), 0);
	memset(in.blob_id, 0xCD, 16);
	assert_int_equal(meta_submit_sync(t.s, &in), 0);
	assert_int_equal(meta_intent_count(t.s, &n), 0);
	assert_int_equal(n, 2);
	/* restart: stale intents become orphans in gc */
	ts_reopen(&t);
	assert_int_equal(meta_intent_count(t.s, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(meta_gc_fetch(t.s, 0, 100, collect_gc, &g), 0);
	assert_int_equal(g.n, 0); /* not due at time 0 */
	assert_int_equal(meta_gc_fetch(t.s, INT64_MAX, 1, collect_gc, &g), 0);
	assert_int_equal(g.n, 1); /* max respected */
	g.n = 0;
	assert_int_equal(meta_gc_fetch(t.s, INT64_MAX, 100, collect_gc, &g), 0);
	assert_int_equal(g.n, 2);
	struct meta_cmd done = {.type = META_CMD_GC_DONE, .gc = g.refs, .n_gc = 2};
	assert_int_equal(meta_submit_sync(t.s, &done), 0);
	g.n = 0;
	assert_int_equal(meta_gc_fetch(t.s, INT64_MAX, 100, collect_gc, &g), 0);
	assert_int_equal(g.n, 0);
	/* A failed upload drops its intent: a gc entry due at once, no intent. */
	in.now = 1000;
	memset(in.blob_id, 0xEF, 16);
	assert_int_equal(meta_submit_sync(t.s, &in), 0);
	struct meta_cmd drop = {.type = META_CMD_INTENT_DROP, .now = 1000};
	memcpy(drop.blob_id, in.blob_id, 16);
	assert_int_equal(meta_submit_sync(t.s, &drop), 0);
	assert_int_equal(meta_intent_count(t.s, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(meta_gc_fetch(t.s, 1000, 100, collect_gc, &g), 0);
	assert_int_equal(g.n, 1);
	assert_memory_equal(g.refs[0].blob_id, in.blob_id, 16);
	/* Dropping an unknown intent is a no-op. */
	assert_int_equal(meta_submit_sync(t.s, &drop), 0);
	ts_close(&t);
}

/* ---- async pipeline ---- */

#define NASYNC 200
struct async_ctx {
	int done;
	int failed;
	uv_loop_t *loop;
	unsigned long thread_ok;
	pthread_t loop_thread;
};

static void async_cb(struct meta_cmd *cmd, int rc, void *arg)
{
	struct async_ctx *a = arg;
	(void)cmd;
	if (pthread_equal(pthread_self(), a->loop_thread))
		a->thread_ok++;
	if (rc)
		a->failed++;
	a->done++;
}

static void waiter_closed(struct meta_waiter *w)
{
	(void)w;
}

static void test_async_submit_group_commit(void **state)
{
	(void)state;
	struct tstore t;
	uv_loop_t loop;
	struct meta_waiter w;
	static struct meta_cmd cmds[NASYNC];
	static char keys[NASYNC][16];
	struct async_ctx a = {0};

	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "asb"), 0);
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(meta_waiter_init(&w, &loop), 0);
	a.loop_thread = pthread_self();
	for (int i = 0; i < NASYNC; i++) {
		struct meta_cmd *c = &cmds[i];
		memset(c, 0, sizeof(*c));
		snprintf(keys[i], sizeof(keys[i]), "k%04d", i);
		c->type = META_CMD_PUT_VERSION;
		c->bucket = "asb";
		c->bucket_len = 3;
		c->key = keys[i];
		c->key_len = strlen(keys[i]);
		c->now = t_now();
		meta_version_id_new(t.s, c->vid);
		c->etag = "0123456789abcdef0123456789abcdef";
		c->etag_len = 32;
		c->loc = META_LOC_INLINE;
		c->size = c->inline_len = 1;
		c->inline_data = "x";
		/* every 10th has a failing precondition: it must not fail the batch */
		if (i % 10 == 9) {
			c->if_match = "ffffffffffffffffffffffffffffffff";
			c->if_match_len = 32;
		}
		assert_int_equal(meta_submit(t.s, c, &w, async_cb, &a), 0);
	}
	while (a.done < NASYNC)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(a.failed, NASYNC / 10);
	assert_int_equal(a.thread_ok, NASYNC);
	for (int i = 0; i < NASYNC; i++)
		assert_int_equal(cmds[i].rc_, i % 10 == 9 ? CN_ENOKEY : 0);
	struct meta_stats st;
	assert_int_equal(meta_stats_get(t.s, "asb", &st), 0);
	assert_int_equal(st.objects, NASYNC - NASYNC / 10);
	check_stats(t.s, "asb");
	meta_waiter_close(&w, waiter_closed);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	ts_close(&t);
}

/* Many threads submitting sync commands at once: all land, stats exact. */
struct thr_arg {
	struct meta_store *s;
	int id;
};

static void *sync_worker(void *p)
{
	struct thr_arg *ta = p;
	char key[32];
	for (int i = 0; i < 50; i++) {
		snprintf(key, sizeof(key), "t%d/%d", ta->id, i);
		if (put_obj(ta->s, "thb", key, strlen(key), "abc", NULL) != 0)
			return (void *)1;
	}
	return NULL;
}

static void test_concurrent_sync_submitters(void **state)
{
	(void)state;
	struct tstore t;
	pthread_t th[8];
	struct thr_arg ta[8];

	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "thb"), 0);
	for (int i = 0; i < 8; i++) {
		ta[i] = (struct thr_arg){t.s, i};
		assert_int_equal(pthread_create(&th[i], NULL, sync_worker, &ta[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		void *r;
		pthread_join(th[i], &r);
		assert_null(r);
	}
	struct meta_stats st;
	assert_int_equal(meta_stats_get(t.s, "thb", &st), 0);
	assert_int_equal(st.objects, 400);
	assert_int_equal(st.bytes, 1200);
	check_stats(t.s, "thb");
	ts_close(&t);
}

/* A barrier on one node: every committed command is already visible, so
 * it completes at once, both ways (the scrub's rebuild takes one on every
 * node, cluster or not). */
static void test_barrier_one_node(void **state)
{
	(void)state;
	struct tstore t;
	uv_loop_t loop;
	struct meta_waiter w;
	struct meta_cmd c;
	struct async_ctx a = {0};

	ts_open(&t);
	memset(&c, 0, sizeof(c));
	c.type = META_CMD_BARRIER;
	assert_int_equal(meta_submit_sync(t.s, &c), 0);
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(meta_waiter_init(&w, &loop), 0);
	a.loop_thread = pthread_self();
	memset(&c, 0, sizeof(c));
	c.type = META_CMD_BARRIER;
	assert_int_equal(meta_submit(t.s, &c, &w, async_cb, &a), 0);
	while (a.done < 1)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(a.failed, 0);
	assert_int_equal(c.rc_, 0);
	meta_waiter_close(&w, waiter_closed);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	ts_close(&t);
}

static void test_version_ids(void **state)
{
	(void)state;
	struct tstore t;
	uint8_t a[16], b[16], c[16];
	char txt[33];

	ts_open(&t);
	meta_version_id_new(t.s, a);
	meta_version_id_new(t.s, b);
	assert_true(memcmp(a, b, 16) < 0);
	meta_id_to_text(b, txt);
	assert_int_equal(strlen(txt), 32);
	assert_int_equal(meta_id_from_text(txt, 32, c), 0);
	assert_memory_equal(b, c, 16);
	assert_int_equal(meta_id_from_text("null", 4, c), CN_EBADVERSIONID);
	assert_int_equal(meta_id_from_text("0123456789ABCDEF0123456789abcdef", 32, c),
			 CN_EBADVERSIONID);
	assert_int_equal(b[8] << 8 | b[9], 7); /* node id */
	/* a stale id (older than the newest version) is bumped, so the later
	 * commit is still the latest */
	assert_int_equal(mk_bucket(t.s, "idb"), 0);
	struct meta_cmd p = {.type = META_CMD_PUT_VERSION,
			     .bucket = "idb",
			     .bucket_len = 3,
			     .key = "k",
			     .key_len = 1,
			     .now = t_now(),
			     .etag = "",
			     .etag_len = 0,
			     .loc = META_LOC_INLINE,
			     .size = 1,
			     .inline_len = 1,
			     .inline_data = "1"};
	assert_int_equal(set_versioning(t.s, "idb", META_VERSIONING_ENABLED), 0);
	memcpy(p.vid, b, 16);
	assert_int_equal(meta_submit_sync(t.s, &p), 0);
	memcpy(p.vid, a, 16);
	p.inline_data = "2";
	assert_int_equal(meta_submit_sync(t.s, &p), 0);
	assert_true(memcmp(p.res.vid, b, 16) > 0);
	struct meta_version v;
	assert_int_equal(meta_object_get(t.s, "idb", "k", 1, NULL, META_GET_INLINE, &v), 0);
	assert_memory_equal(v.inline_data, "2", 1);
	meta_version_release(&v);
	ts_close(&t);
}

static void test_format_version(void **state)
{
	(void)state;
	struct tstore t;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	struct meta_store *s2;

	ts_open(&t);
	meta_store_close(t.s);
	/* forge a future format version with raw LMDB */
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_open(env, t.dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "system", 0, &dbi), 0);
	uint8_t f[4] = {99, 0, 0, 0};
	MDB_val k = {6, "format"}, v = {4, f};
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	assert_int_equal(meta_store_open(t.dir, NULL, &s2), CN_EFORMAT);
	/* a data file whose header was overwritten is damage, not a format
	 * the build does not read: the operator is told so */
	{
		char path[512];
		uint8_t junk[8192];
		FILE *fp;
		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (uint8_t)(i * 131 + 7);
		snprintf(path, sizeof(path), "%s/data.mdb", t.dir);
		fp = fopen(path, "r+b");
		assert_non_null(fp);
		assert_int_equal(fwrite(junk, 1, sizeof(junk), fp), sizeof(junk));
		fclose(fp);
		assert_int_equal(meta_store_open(t.dir, NULL, &s2), CN_ECORRUPT);
	}
	t.s = NULL;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", t.dir);
	assert_int_equal(system(cmd), 0);
}

static void test_persistence_and_copy(void **state)
{
	(void)state;
	struct tstore t;
	struct meta_version v;
	char snap[80];

	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "psb"), 0);
	assert_int_equal(put_obj(t.s, "psb", "a/b", 3, "persist", NULL), 0);
	ts_reopen(&t);
	assert_int_equal(meta_object_get(t.s, "psb", "a/b", 3, NULL, META_GET_INLINE, &v), 0);
	assert_memory_equal(v.inline_data, "persist", 7);
	meta_version_release(&v);
	snprintf(snap, sizeof(snap), "%s/snap", t.dir);
	assert_int_equal(mkdir(snap, 0700), 0);
	assert_int_equal(meta_store_copy(t.s, snap), 0);
	struct meta_store *s2;
	assert_int_equal(meta_store_open(snap, NULL, &s2), 0);
	assert_int_equal(meta_object_get(s2, "psb", "a/b", 3, NULL, 0, &v), 0);
	meta_version_release(&v);
	meta_store_close(s2);
	ts_close(&t);
}

static void test_bucket_attrs_and_read_inline(void **state)
{
	(void)state;
	struct tstore t;
	struct meta_bucket b;
	struct meta_version v;
	struct meta_cmd_result r;
	char buf[16];
	size_t n;

	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "atr"), 0);
	struct meta_cmd c = {.type = META_CMD_BUCKET_SET_ATTRS,
			     .bucket = "atr",
			     .bucket_len = 3,
			     .attrs = "policy",
			     .attrs_len = 6};
	assert_int_equal(meta_submit_sync(t.s, &c), 0);
	assert_int_equal(set_versioning(t.s, "atr", META_VERSIONING_ENABLED), 0);
	assert_int_equal(meta_bucket_get(t.s, "atr", &b), 0);
	assert_int_equal(b.attrs_len, 6);
	assert_memory_equal(b.attrs, "policy", 6);
	assert_int_equal(b.versioning, META_VERSIONING_ENABLED);
	meta_bucket_release(&b);
	c.bucket = "nob";
	assert_int_equal(meta_submit_sync(t.s, &c), CN_ENOBUCKET);
	assert_int_equal(put_obj(t.s, "atr", "k", 1, "inline!", &r), 0);
	assert_int_equal(meta_object_get(t.s, "atr", "k", 1, NULL, 0, &v), 0);
	assert_null(v.inline_data);
	assert_int_equal(meta_object_read_inline(t.s, "atr", "k", 1, v.vid, buf, sizeof(buf), &n),
			 0);
	assert_int_equal(n, 7);
	assert_memory_equal(buf, "inline!", 7);
	assert_int_equal(meta_object_read_inline(t.s, "atr", "k", 1, v.vid, buf, 3, &n),
			 CN_ETOOBIG);
	assert_int_equal(del_obj(t.s, "atr", "k", 1, v.vid_text, NULL), 0);
	assert_int_equal(meta_object_read_inline(t.s, "atr", "k", 1, v.vid, buf, sizeof(buf), &n),
			 CN_ENOVERSION);
	meta_version_release(&v);
	ts_close(&t);
}

static void test_map_full(void **state)
{
	(void)state;
	char dir[] = "/tmp/cairn-meta-XXXXXX";
	struct meta_store *s;
	struct meta_options o = {.map_size = 4u << 20};
	static char data[60000];
	char key[32];
	int i, rc = 0;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(meta_store_open(dir, &o, &s), 0);
	assert_int_equal(mk_bucket(s, "full"), 0);
	memset(data, 'd', sizeof(data) - 1);
	for (i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "k%04d", i);
		data[0] = (char)('a' + i % 26);
		rc = put_obj(s, "full", key, strlen(key), data, NULL);
		if (rc)
			break;
	}
	assert_int_equal(rc, CN_ENOSPACE);
	assert_true(i > 10);
	/* everything acknowledged is still there and consistent */
	for (int j = 0; j < i; j++) {
		struct meta_version v;
		snprintf(key, sizeof(key), "k%04d", j);
		assert_int_equal(
			meta_object_get(s, "full", key, strlen(key), NULL, META_GET_INLINE, &v), 0);
		assert_int_equal(v.inline_data[0], 'a' + j % 26);
		meta_version_release(&v);
	}
	check_stats(s, "full");
	meta_store_close(s);
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_create_delete),
		cmocka_unit_test(test_put_get_overwrite_unversioned),
		cmocka_unit_test(test_preconditions),
		cmocka_unit_test(test_versioning_state_machine),
		cmocka_unit_test(test_unversioned_delete),
		cmocka_unit_test(test_multipart),
		cmocka_unit_test(test_gc_and_intents),
		cmocka_unit_test(test_async_submit_group_commit),
		cmocka_unit_test(test_concurrent_sync_submitters),
		cmocka_unit_test(test_barrier_one_node),
		cmocka_unit_test(test_version_ids),
		cmocka_unit_test(test_format_version),
		cmocka_unit_test(test_persistence_and_copy),
		cmocka_unit_test(test_bucket_attrs_and_read_inline),
		cmocka_unit_test(test_map_full),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests_name("meta_store", tests, NULL, NULL);
}
