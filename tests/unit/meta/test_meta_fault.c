/* Anomaly tests for meta (SQLite style): through the kv fault seam, fail the
 * Nth write call (put, delete, commit) for N = 1, 2, ... until the command
 * passes. After every failure the store must be exactly as before (the
 * command's nested transaction left no trace, or the batch commit failed as
 * a whole); after success, stats must equal a recount. */
#include "meta_test.h"

#include "meta/kv.h"

struct snap {
	uint8_t buf[1 << 16];
	size_t len;
};

static void snap_add(struct snap *s, const void *p, size_t n)
{
	assert_true(s->len + n <= sizeof(s->buf));
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static int gc_snap(const struct meta_gc_ref *ref, const uint8_t *layout, size_t len, void *arg)
{
	snap_add(arg, ref, sizeof(*ref));
	snap_add(arg, layout, len);
	return 0;
}

static void take(struct meta_store *st, const char *bucket, struct snap *s)
{
	struct meta_list_result r;
	struct meta_list_params p = {.max = 1000};
	struct meta_stats stats;
	uint64_t n;

	s->len = 0;
	int rc = meta_list_versions(st, bucket, &p, &r);
	snap_add(s, &rc, sizeof(rc));
	if (rc == 0) {
		for (size_t i = 0; i < r.n; i++) {
			snap_add(s, r.entries[i].key, r.entries[i].key_len);
			snap_add(s, r.entries[i].vid_text, 33);
			snap_add(s, &r.entries[i].flags, sizeof(uint32_t));
			snap_add(s, &r.entries[i].size, sizeof(uint64_t));
			snap_add(s, r.entries[i].etag, strlen(r.entries[i].etag));
		}
		meta_list_result_release(&r);
		assert_int_equal(meta_list_uploads(st, bucket, &p, &r), 0);
		for (size_t i = 0; i < r.n; i++)
			snap_add(s, r.entries[i].vid, 16);
		meta_list_result_release(&r);
		assert_int_equal(meta_stats_get(st, bucket, &stats), 0);
		snap_add(s, &stats, sizeof(stats));
		check_stats(st, bucket);
	}
	struct meta_bucket b;
	if (meta_bucket_get(st, bucket, &b) == 0) {
		snap_add(s, &b.versioning, sizeof(b.versioning));
		meta_bucket_release(&b);
	}
	assert_int_equal(meta_gc_fetch(st, INT64_MAX, 1000, gc_snap, s), 0);
	assert_int_equal(meta_intent_count(st, &n), 0);
	snap_add(s, &n, sizeof(n));
}

typedef int (*op_fn)(struct meta_store *s, void *arg);

/* Runs op with the Nth write failing, N = 1.., until it passes. */
static int anomaly_loop(struct meta_store *st, const char *bucket, op_fn op, void *arg)
{
	static struct snap before, after;
	int n;

	take(st, bucket, &before);
	for (n = 1; n < 1000; n++) {
		kv_fault_after(n);
		int rc = op(st, arg);
		kv_fault_after(0);
		if (rc == 0)
			break;
		assert_int_equal(rc, CN_EIO);
		take(st, bucket, &after);
		assert_int_equal(after.len, before.len);
		assert_memory_equal(after.buf, before.buf, before.len);
	}
	assert_true(n > 1); /* at least one write was failed */
	take(st, bucket, &after);
	assert_true(after.len != before.len || memcmp(after.buf, before.buf, before.len) != 0);
	return n;
}

static const char *E1 = "11111111111111111111111111111111";
static const char *E2 = "22222222222222222222222222222222";

static int op_complete(struct meta_store *s, void *arg)
{
	const uint8_t *up = arg;
	struct meta_part_ref refs[2] = {{1, E1, 32}, {3, E2, 32}};
	struct meta_cmd c = {.type = META_CMD_UPLOAD_COMPLETE,
			     .bucket = "flt",
			     .bucket_len = 3,
			     .key = "obj",
			     .key_len = 3,
			     .now = t_now(),
			     .parts = refs,
			     .n_parts = 2,
			     .min_part_size = 1};
	memcpy(c.upload_id, up, 16);
	meta_version_id_new(s, c.vid);
	return meta_submit_sync(s, &c);
}

static int op_put_blob(struct meta_store *s, void *arg)
{
	(void)arg;
	struct meta_cmd c = {.type = META_CMD_PUT_VERSION,
			     .bucket = "flt",
			     .bucket_len = 3,
			     .key = "obj",
			     .key_len = 3,
			     .now = t_now(),
			     .size = 10,
			     .etag = E1,
			     .etag_len = 32,
			     .loc = META_LOC_BLOB,
			     .layout = "L",
			     .layout_len = 1};
	meta_version_id_new(s, c.vid);
	memset(c.blob_id, 0x77, 16);
	return meta_submit_sync(s, &c);
}

static int op_delete(struct meta_store *s, void *arg)
{
	return del_obj(s, "flt", "obj", 3, arg, NULL);
}

static int op_versioning(struct meta_store *s, void *arg)
{
	return set_versioning(s, "flt", *(int *)arg);
}

static int op_abort(struct meta_store *s, void *arg)
{
	struct meta_cmd c = {.type = META_CMD_UPLOAD_ABORT,
			     .bucket = "flt",
			     .bucket_len = 3,
			     .key = "obj",
			     .key_len = 3,
			     .now = t_now()};
	memcpy(c.upload_id, arg, 16);
	return meta_submit_sync(s, &c);
}

static void add_upload(struct meta_store *s, uint8_t up[16])
{
	struct meta_cmd u = {.type = META_CMD_UPLOAD_CREATE,
			     .bucket = "flt",
			     .bucket_len = 3,
			     .key = "obj",
			     .key_len = 3,
			     .now = t_now()};
	meta_upload_id_new(s, up);
	memcpy(u.upload_id, up, 16);
	assert_int_equal(meta_submit_sync(s, &u), 0);
	for (uint32_t no = 1; no <= 3; no++) {
		struct meta_cmd in = {.type = META_CMD_INTENT_ADD,
				      .now = t_now(),
				      .layout = "l",
				      .layout_len = 1};
		struct meta_cmd p = {.type = META_CMD_PART_PUT,
				     .bucket = "flt",
				     .bucket_len = 3,
				     .key = "obj",
				     .key_len = 3,
				     .now = t_now(),
				     .part_no = no,
				     .size = 100,
				     .etag = no == 1 ? E1 : E2,
				     .etag_len = 32,
				     .layout = "l",
				     .layout_len = 1};
		memcpy(p.upload_id, up, 16);
		memset(p.blob_id, (int)(no + up[15]), 16);
		memcpy(in.blob_id, p.blob_id, 16);
		assert_int_equal(meta_submit_sync(s, &in), 0);
		assert_int_equal(meta_submit_sync(s, &p), 0);
	}
}

static void test_anomalies(void **state)
{
	(void)state;
	struct tstore t;
	uint8_t up[16];
	int on = META_VERSIONING_ENABLED, susp = META_VERSIONING_SUSPENDED;

	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "flt"), 0);
	assert_int_equal(put_obj(t.s, "flt", "obj", 3, "first", NULL), 0);
	/* unversioned overwrite with a blob: null version replaced, inline dropped */
	anomaly_loop(t.s, "flt", op_put_blob, NULL);
	/* complete over an existing object; part 2 to gc, old blob to gc */
	add_upload(t.s, up);
	int n = anomaly_loop(t.s, "flt", op_complete, up);
	print_message("complete passed after %d injected failures\n", n - 1);
	anomaly_loop(t.s, "flt", op_versioning, &on);
	anomaly_loop(t.s, "flt", op_put_blob, NULL);
	anomaly_loop(t.s, "flt", op_delete, NULL); /* delete marker */
	anomaly_loop(t.s, "flt", op_versioning, &susp);
	anomaly_loop(t.s, "flt", op_put_blob, NULL); /* replaces the null version */
	anomaly_loop(t.s, "flt", op_delete, "null");
	add_upload(t.s, up);
	anomaly_loop(t.s, "flt", op_abort, up);
	ts_close(&t);
}

/* ---- a fault inside a batch of many commands ---- */

#define NBATCH 40

struct bctx {
	int done;
};

static void batch_cb(struct meta_cmd *cmd, int rc, void *arg)
{
	(void)cmd;
	(void)rc;
	((struct bctx *)arg)->done++;
}

static void batch_waiter_closed(struct meta_waiter *w)
{
	(void)w;
}

/* NBATCH puts queued at once (so the metadata thread takes most of them in
 * one batch, applied straight in the batch txn) with the Nth write failing:
 * the command it hits fails with CN_EIO and leaves no trace, its batch-mates
 * are re-applied and commit, unless the fault hit the commit itself (then
 * the whole batch fails). Every acknowledged put is visible, no other. */
static void test_fault_in_batch(void **state)
{
	(void)state;
	struct tstore t;
	uv_loop_t loop;
	struct meta_waiter w;
	static struct meta_cmd cmds[NBATCH];
	static char keys[NBATCH][40];
	uint64_t expect = 0;
	int rounds_with_redo = 0;

	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "fib"), 0);
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(meta_waiter_init(&w, &loop), 0);
	for (int n = 1; n <= 3 * NBATCH; n += 2) {
		struct bctx b = {0};
		int ok = 0, failed = 0;
		kv_fault_after(n);
		for (int i = 0; i < NBATCH; i++) {
			struct meta_cmd *c = &cmds[i];
			memset(c, 0, sizeof(*c));
			snprintf(keys[i], sizeof(keys[i]), "r%03d/k%02d", n, i);
			c->type = META_CMD_PUT_VERSION;
			c->bucket = "fib";
			c->bucket_len = 3;
			c->key = keys[i];
			c->key_len = strlen(keys[i]);
			c->now = t_now();
			meta_version_id_new(t.s, c->vid);
			c->etag = E1;
			c->etag_len = 32;
			c->loc = META_LOC_INLINE;
			c->size = c->inline_len = 2;
			c->inline_data = "xy";
			assert_int_equal(meta_submit(t.s, c, &w, batch_cb, &b), 0);
		}
		while (b.done < NBATCH)
			uv_run(&loop, UV_RUN_ONCE);
		kv_fault_after(0);
		for (int i = 0; i < NBATCH; i++) {
			struct meta_version v;
			int rc = meta_object_get(t.s, "fib", keys[i], strlen(keys[i]), NULL,
						 META_GET_INLINE, &v);
			if (cmds[i].rc_ == 0) {
				assert_int_equal(rc, 0);
				assert_memory_equal(v.inline_data, "xy", 2);
				ok++;
			} else {
				assert_int_equal(cmds[i].rc_, CN_EIO);
				assert_int_equal(rc, CN_ENOKEY);
				failed++;
			}
			meta_version_release(&v);
		}
		expect += (uint64_t)ok;
		if (failed == 1 && ok > 1)
			rounds_with_redo++;
		struct meta_stats st;
		assert_int_equal(meta_stats_get(t.s, "fib", &st), 0);
		assert_true(st.objects == expect);
		check_stats(t.s, "fib");
	}
	/* the fault hit a command mid-batch and its batch-mates survived */
	print_message("rounds where one command failed alone: %d\n", rounds_with_redo);
	assert_true(rounds_with_redo > 0);
	meta_waiter_close(&w, batch_waiter_closed);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	ts_close(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_anomalies),
		cmocka_unit_test(test_fault_in_batch),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests_name("meta_fault", tests, NULL, NULL);
}
