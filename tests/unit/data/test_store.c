/* Unit tests for data drives and failure handling: format markers, foreign,
 * missing, unformatted, locked and unmounted drives, free-space checks,
 * injected I/O faults on every disk call of a write (SQLite-style: fail the
 * Nth call, check nothing is visible, repeat until the write passes), read
 * faults, and a writer killed with SIGKILL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "data_test.h"
#include "data/data_int.h"

#include "core/clock.h"
#include "core/digest.h"
#include "core/err.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

static int put_blob(struct data_store *s, const uint8_t *data, size_t len, uint64_t seed,
		    struct blob_layout *l)
{
	struct blob_info info = {.bucket = "b", .key = "k", .size_hint = len};
	struct blob_writer *w;
	fill(info.id, DATA_ID_LEN, seed);
	int rc = blob_writer_new(s, &info, &w);
	if (rc)
		return rc;
	for (size_t off = 0; off < len; off += 10000) {
		size_t n = len - off < 10000 ? len - off : 10000;
		if ((rc = blob_writer_append(w, data + off, n)) != 0) {
			blob_writer_abort(w);
			return rc;
		}
	}
	return blob_writer_finish(w, l);
}

static int check_blob(struct data_store *s, const struct blob_layout *l, const uint8_t *data)
{
	struct blob_reader *r;
	uint8_t *back = malloc(l->size + 1);
	size_t got = 0;
	int rc = blob_reader_open(s, l, &r);
	if (rc == 0) {
		rc = blob_reader_read(r, 0, back, l->size + 1, &got);
		blob_reader_close(r);
	}
	if (rc == 0 && (got != l->size || memcmp(back, data, got) != 0))
		rc = CN_ECORRUPT;
	free(back);
	return rc;
}

static int open_store(struct tdirs *t, int n, struct data_options *o, struct data_store **s)
{
	return data_store_open((const char *const *)t->paths, n, o, s);
}

static void test_format_and_reopen(void **state)
{
	(void)state;
	struct tdirs t;
	struct data_store *s;
	uint8_t dep1[16], dep2[16];
	struct data_drive_stat st[4];
	tdirs_make(&t, 3);
	assert_int_equal(open_store(&t, 3, NULL, &s), 0);
	data_store_deployment(s, dep1);
	assert_int_equal(data_store_stats(s, st, 4), 3);
	uint8_t ids[3][16];
	for (int i = 0; i < 3; i++) {
		assert_true(st[i].online);
		assert_true(st[i].total > 0);
		memcpy(ids[i], st[i].id, 16);
	}
	assert_memory_not_equal(ids[0], ids[1], 16);
	/* A second open of the same drives is refused while the first holds them. */
	struct data_store *s2;
	assert_int_equal(open_store(&t, 3, NULL, &s2), CN_EDRIVE);
	data_store_close(s);
	assert_int_equal(open_store(&t, 3, NULL, &s), 0);
	data_store_deployment(s, dep2);
	assert_memory_equal(dep1, dep2, 16);
	data_store_stats(s, st, 4);
	for (int i = 0; i < 3; i++)
		assert_memory_equal(st[i].id, ids[i], 16);
	data_store_close(s);
	/* The same drive twice is refused. */
	char *two[2] = {t.paths[0], t.paths[0]};
	assert_int_equal(data_store_open((const char *const *)two, 2, NULL, &s), CN_EINVAL);
	tdirs_free(&t);
}

static void test_foreign_and_bad_markers(void **state)
{
	(void)state;
	struct tdirs t;
	struct data_store *s;
	tdirs_make(&t, 2);
	assert_int_equal(data_store_open((const char *const *)&t.paths[0], 1, NULL, &s), 0);
	data_store_close(s);
	assert_int_equal(data_store_open((const char *const *)&t.paths[1], 1, NULL, &s), 0);
	data_store_close(s);
	assert_int_equal(open_store(&t, 2, NULL, &s), CN_EDRIVE); /* two deployments */
	/* An unknown format version (valid checksum) refuses the start. */
	char p[256];
	snprintf(p, sizeof(p), "%s/.cairn-format", t.paths[1]);
	size_t len = 0;
	uint8_t *b = read_file(p, &len);
	assert_int_equal(len, 48 + 24 + 20 + 4); /* v1 marker + a one-drive set */
	b[8] = 2;
	uint32_t c = cn_crc32c(0, b, 44);
	for (int i = 0; i < 4; i++)
		b[44 + i] = (uint8_t)(c >> (8 * i));
	FILE *f = fopen(p, "wb");
	fwrite(b, 1, len, f);
	fclose(f);
	assert_int_equal(data_store_open((const char *const *)&t.paths[1], 1, NULL, &s),
			 CN_EFORMAT);
	/* A garbled marker: that drive stays offline; alone, nothing is online. */
	b[8] = 1;
	b[20] ^= 1;
	f = fopen(p, "wb");
	fwrite(b, 1, len, f);
	fclose(f);
	free(b);
	assert_int_equal(data_store_open((const char *const *)&t.paths[1], 1, NULL, &s), CN_EDRIVE);
	assert_int_equal(open_store(&t, 2, NULL, &s), 0);
	struct data_drive_stat st[2];
	data_store_stats(s, st, 2);
	assert_true(st[0].online);
	assert_false(st[1].online);
	data_store_close(s);
	tdirs_free(&t);
}

static void test_missing_and_new_drives(void **state)
{
	(void)state;
	struct tdirs t;
	struct data_store *s;
	struct data_drive_stat st[3];
	struct blob_layout l;
	uint8_t data[5000];
	char p[256];
	tdirs_make(&t, 3);
	assert_int_equal(open_store(&t, 3, NULL, &s), 0);
	data_store_close(s);
	/* d2 vanishes (an unmounted disk whose mount point is gone): it is not
	 * recreated, and blobs go to the two drives left. */
	snprintf(p, sizeof(p), "rm -rf %s", t.paths[2]);
	assert_int_equal(system(p), 0);
	assert_int_equal(open_store(&t, 3, NULL, &s), 0);
	assert_int_equal(access(t.paths[2], F_OK), -1);
	data_store_stats(s, st, 3);
	assert_false(st[2].online);
	fill(data, sizeof(data), 1);
	assert_int_equal(put_blob(s, data, sizeof(data), 1, &l), 0);
	assert_int_equal(l.k + l.m, 2);
	assert_int_equal(check_blob(s, &l, data), 0);
	data_store_close(s);
	/* An empty directory in its place stays offline without format_new. */
	assert_int_equal(mkdir(t.paths[2], 0755), 0);
	assert_int_equal(open_store(&t, 3, NULL, &s), 0);
	data_store_stats(s, st, 3);
	assert_false(st[2].online);
	data_store_close(s);
	struct data_options o = {.format_new = 1};
	assert_int_equal(open_store(&t, 3, &o, &s), 0);
	data_store_stats(s, st, 3);
	assert_true(st[2].online);
	assert_int_equal(check_blob(s, &l, data), 0);
	data_store_close(s);
	tdirs_free(&t);
}

/* Lookups of one drive id on another thread while it is replaced: each
 * finds the drive's slot or nothing, never another drive. */
struct lookups {
	struct data_store *s;
	const uint8_t *id;
	int want;
	atomic_int stop;
	long n, found, wrong;
};

static void *lookup_loop(void *arg)
{
	struct lookups *lk = arg;
	uint8_t ids[4][16];

	for (;;) {
		/* the pass that sees stop still runs: the last one starts
		 * after the replacement returned */
		int last = atomic_load(&lk->stop);
		int i = store_drive_index(lk->s, lk->id);
		lk->n++;
		lk->found += i == lk->want;
		lk->wrong += i != lk->want && i != -1;
		/* (the status listing reads every drive's id the same way) */
		data_store_drive_ids(lk->s, ids, 4);
		if (last)
			return NULL;
	}
}

/* Drive replacement: an empty directory in the place of a drive the recorded
 * set misses is adopted with that drive's id and the next incarnation; the
 * old disk coming back is stale; adoption is refused for dirs[0] with
 * keep_first, without a present half of the set, and without format_new
 * (where data_store_drive_replace does it at run time). */
static void test_adopt_replacement(void **state)
{
	(void)state;
	struct tdirs t;
	struct data_store *s;
	struct data_drive_stat st[4];
	struct blob_layout l, out;
	uint8_t data[50000], id[16], old_id[16], cur[16];
	char p[600], old[600];
	unsigned rebuilt;
	size_t len;
	struct data_options o = {.format_new = 1, .keep_first = 1};

	tdirs_make(&t, 4);
	assert_int_equal(open_store(&t, 4, &o, &s), 0);
	fill(data, sizeof(data), 7);
	assert_int_equal(put_blob(s, data, sizeof(data), 7, &l), 0);
	data_store_stats(s, st, 4);
	memcpy(old_id, st[2].id, 16);
	assert_int_equal(st[2].pos, 2);
	assert_int_equal(st[2].incarnation, 0);
	assert_int_equal(data_store_rebuild_pending(s, 0, id), -1);
	data_store_close(s);
	/* d2 fails: an empty directory takes its place (the old disk is kept). */
	snprintf(old, sizeof(old), "%s.old", t.paths[2]);
	assert_int_equal(rename(t.paths[2], old), 0);
	assert_int_equal(mkdir(t.paths[2], 0755), 0);
	/* Without format_new it stays offline... */
	assert_int_equal(open_store(&t, 4, NULL, &s), 0);
	data_store_stats(s, st, 4);
	assert_false(st[2].online);
	data_store_close(s);
	/* ...with it, it is adopted under the old id and flagged for rebuild. */
	assert_int_equal(open_store(&t, 4, &o, &s), 0);
	data_store_stats(s, st, 4);
	assert_true(st[2].online);
	assert_true(st[2].rebuilding);
	assert_int_equal(st[2].incarnation, 1);
	assert_memory_equal(st[2].id, old_id, 16);
	assert_int_equal(data_store_rebuild_pending(s, 0, id), 2);
	assert_memory_equal(id, old_id, 16);
	assert_int_equal(check_blob(s, &l, data), 0); /* reconstructed around it */
	assert_int_equal(blob_heal(s, &l, &out, &rebuilt), 0);
	assert_int_equal(rebuilt, 1u << blob_shard_on(&l, old_id));
	assert_memory_equal(&out, &l, sizeof(l)); /* same layout: no metadata change */
	/* The cursor round-trips; done clears flag and cursor. */
	assert_int_equal(data_store_rebuild_load(s, 2, cur, sizeof(cur), &len), CN_ENOTFOUND);
	assert_int_equal(data_store_rebuild_save(s, 2, "cursor", 6), 0);
	assert_int_equal(data_store_rebuild_load(s, 2, cur, sizeof(cur), &len), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(cur, "cursor", 6);
	data_store_close(s);
	/* A restart before the rebuild finished keeps the flag. */
	assert_int_equal(open_store(&t, 4, &o, &s), 0);
	assert_int_equal(data_store_rebuild_pending(s, 0, id), 2);
	assert_int_equal(data_store_rebuild_done(s, 2), 0);
	assert_int_equal(data_store_rebuild_pending(s, 0, id), -1);
	snprintf(p, sizeof(p), "%s/.cairn-rebuild", t.paths[2]);
	assert_int_equal(access(p, F_OK), -1);
	data_store_close(s);
	assert_int_equal(open_store(&t, 4, &o, &s), 0);
	data_store_stats(s, st, 4);
	assert_false(st[2].rebuilding);
	assert_true(st[2].online);
	data_store_close(s);
	/* The old disk back in its place is stale: offline, untouched. */
	snprintf(p, sizeof(p), "%s.new", t.paths[2]);
	assert_int_equal(rename(t.paths[2], p), 0);
	assert_int_equal(rename(old, t.paths[2]), 0);
	snprintf(p, sizeof(p), "%s/.cairn-format", t.paths[2]);
	size_t mlen = 0;
	uint8_t *before = read_file(p, &mlen);
	assert_int_equal(open_store(&t, 4, &o, &s), 0);
	data_store_stats(s, st, 4);
	assert_false(st[2].online);
	assert_int_equal(check_blob(s, &l, data), 0);
	data_store_close(s);
	size_t mlen2 = 0;
	uint8_t *after = read_file(p, &mlen2);
	assert_int_equal(mlen, mlen2);
	assert_memory_equal(before, after, mlen);
	free(before);
	free(after);
	/* keep_first: an empty first directory is never adopted. */
	snprintf(p, sizeof(p), "rm -rf %s && mkdir %s", t.paths[0], t.paths[0]);
	assert_int_equal(system(p), 0);
	assert_int_equal(open_store(&t, 4, &o, &s), 0);
	data_store_stats(s, st, 4);
	assert_false(st[0].online);
	data_store_close(s);
	/* Explicit replacement at run time (format_new off). */
	struct data_options o2 = {.keep_first = 1};
	snprintf(p, sizeof(p), "rm -rf %s && mkdir %s", t.paths[2], t.paths[2]);
	assert_int_equal(system(p), 0);
	assert_int_equal(open_store(&t, 4, &o2, &s), 0);
	char why[512];
	assert_int_equal(data_store_drive_replace(s, 1, 0, why, sizeof(why)), CN_EBUSY);
	assert_int_equal(data_store_drive_replace(s, 0, 0, why, sizeof(why)), CN_EINVAL);
	struct lookups lk = {.s = s, .id = old_id, .want = 2};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, lookup_loop, &lk), 0);
	assert_int_equal(data_store_drive_replace(s, 2, 0, why, sizeof(why)), 0);
	atomic_store(&lk.stop, 1);
	pthread_join(th, NULL);
	assert_true(lk.n >= 1);
	assert_int_equal(lk.wrong, 0);
	assert_true(lk.found >= 1); /* the pass after the replacement found it */
	assert_int_equal(store_drive_index(s, old_id), 2);
	data_store_stats(s, st, 4);
	assert_true(st[2].online && st[2].rebuilding);
	assert_int_equal(st[2].incarnation, 2);
	assert_memory_equal(st[2].id, old_id, 16);
	data_store_close(s);
	tdirs_free(&t);
	/* Three of four drives empty: a wrong command line or unmounted disks,
	 * not a replacement; nothing is adopted or written. */
	tdirs_make(&t, 4);
	assert_int_equal(open_store(&t, 4, &o, &s), 0);
	data_store_close(s);
	for (int i = 1; i < 4; i++) {
		snprintf(p, sizeof(p), "rm -rf %s && mkdir %s", t.paths[i], t.paths[i]);
		assert_int_equal(system(p), 0);
	}
	assert_int_equal(open_store(&t, 4, &o, &s), 0);
	data_store_stats(s, st, 4);
	for (int i = 1; i < 4; i++)
		assert_false(st[i].online);
	data_store_close(s);
	snprintf(p, sizeof(p), "%s/.cairn-format", t.paths[1]);
	assert_int_equal(access(p, F_OK), -1);
	tdirs_free(&t);
}

static void test_unmount_detected(void **state)
{
	(void)state;
	struct tdirs t;
	struct data_store *s;
	struct data_drive_stat st[4];
	struct blob_layout l;
	uint8_t data[3000];
	char p[300];
	tdirs_make(&t, 4);
	assert_int_equal(open_store(&t, 4, NULL, &s), 0);
	/* Replace d1 under the store by a fresh directory (what an unmount of a
	 * mount point looks like): the next write must not go there. */
	snprintf(p, sizeof(p), "%s.old", t.paths[1]);
	assert_int_equal(rename(t.paths[1], p), 0);
	assert_int_equal(mkdir(t.paths[1], 0755), 0);
	fill(data, sizeof(data), 4);
	assert_int_equal(put_blob(s, data, sizeof(data), 4, &l), 0);
	assert_int_equal(l.k, 1); /* three drives left: 1+2 */
	assert_int_equal(l.m, 2);
	data_store_stats(s, st, 4);
	assert_false(st[1].online);
	snprintf(p, sizeof(p), "%s/blobs", t.paths[1]);
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(check_blob(s, &l, data), 0);
	data_store_close(s);
	snprintf(p, sizeof(p), "rm -rf %s.old", t.paths[1]);
	assert_int_equal(system(p), 0);
	tdirs_free(&t);
}

static void test_free_space(void **state)
{
	(void)state;
	struct tdirs t;
	struct data_store *s;
	struct fault f;
	struct blob_layout l;
	uint8_t data[100000];
	fault_init(&f);
	f.avail = 1 << 20;
	struct data_options o = {.io = &f.io, .block_size = 65536};
	tdirs_make(&t, 2);
	assert_int_equal(open_store(&t, 2, &o, &s), 0);
	struct blob_info info = {.bucket = "b", .key = "k", .size_hint = 10 << 20};
	struct blob_writer *w;
	assert_int_equal(blob_writer_new(s, &info, &w), CN_ENOSPACE);
	assert_int_equal(count_files(&t, "tmp"), 0);
	fill(data, sizeof(data), 2);
	assert_int_equal(put_blob(s, data, sizeof(data), 2, &l), 0);
	assert_int_equal(check_blob(s, &l, data), 0);
	/* A disk that fills during the body: append fails, then finish repeats
	 * the error and leaves nothing behind. */
	struct blob_layout l2;
	fill(info.id, 16, 77);
	info.size_hint = 0;
	assert_int_equal(blob_writer_new(s, &info, &w), 0);
	f.ops = F_PWRITE;
	f.calls = 0;
	f.nth = 2; /* the second shard of the first block */
	f.err = ENOSPC;
	assert_int_equal(blob_writer_append(w, data, sizeof(data)), CN_ENOSPACE);
	f.nth = 0;
	assert_int_equal(blob_writer_append(w, data, 10), CN_ENOSPACE);
	assert_int_equal(blob_writer_finish(w, &l2), CN_ENOSPACE);
	assert_int_equal(count_files(&t, "tmp"), 0);
	assert_int_equal(blob_delete(s, &l), 0);
	assert_int_equal(count_files(&t, "blobs"), 0);
	data_store_close(s);
	o.reserve_bytes = 2 << 20; /* keep more free than there is */
	assert_int_equal(open_store(&t, 2, &o, &s), 0);
	assert_int_equal(put_blob(s, data, sizeof(data), 3, &l), CN_ENOSPACE);
	assert_int_equal(count_files(&t, "tmp"), 0);
	data_store_close(s);
	tdirs_free(&t);
}

/* A free-space reading stands for 50 ms while it left more than 256 MiB
 * above the reserve (store.c, SPACE_FRESH_NS): checks for less make no
 * statvfs then. A check for more, a reading nearer the reserve, and an old
 * reading all read again. */
static void test_free_space_reading_kept(void **state)
{
	(void)state;
	struct tdirs t;
	struct data_store *s;
	struct fault f;
	const uint64_t MiB = 1 << 20;

	fault_init(&f);
	f.total = 400 * 1024 * MiB;
	f.avail = 200 * 1024 * MiB;
	struct data_options o = {.io = &f.io, .block_size = 65536, .reserve_bytes = 64 * MiB};
	tdirs_make(&t, 1);
	assert_int_equal(open_store(&t, 1, &o, &s), 0);
	f.ops = F_STATVFS; /* counted, never failed (nth 0) */
	f.calls = 0;
	uint64_t t0 = cn_mono_ns();
	assert_int_equal(data_store_check_space(s, 0, 4096), 0);
	assert_int_equal(f.calls, 1);
	for (int i = 0; i < 100; i++)
		assert_int_equal(data_store_check_space(s, 0, 16384), 0);
	/* (unless this machine stalled the test past the 50 ms) */
	if (cn_mono_ns() - t0 < 40 * 1000000ull)
		assert_int_equal(f.calls, 1);
	/* more than the reading leaves room for, slack included: read again */
	f.calls = 1;
	assert_int_equal(data_store_check_space(s, 0, 200 * 1024 * MiB), CN_ENOSPACE);
	assert_int_equal(f.calls, 2);
	/* the disk fills: a fresh reading still stands (what any check misses
	 * between reading and writing), an old one does not */
	t0 = cn_mono_ns();
	f.avail = 64 * MiB + 8192;
	assert_int_equal(data_store_check_space(s, 0, 4096), 0);
	if (cn_mono_ns() - t0 < 40 * 1000000ull)
		assert_int_equal(f.calls, 2);
	f.calls = 2;
	usleep(60 * 1000);
	assert_int_equal(data_store_check_space(s, 0, 4096), 0);
	assert_int_equal(f.calls, 3);
	/* near the reserve every check reads */
	assert_int_equal(data_store_check_space(s, 0, 16384), CN_ENOSPACE);
	assert_int_equal(data_store_check_space(s, 0, 4096), 0);
	assert_int_equal(f.calls, 5);
	f.avail = 64 * MiB - 4096;
	assert_int_equal(data_store_check_space(s, 0, 0), CN_ENOSPACE);
	assert_int_equal(f.calls, 6);
	f.ops = 0;
	data_store_close(s);
	tdirs_free(&t);
}

/* reserve_auto: 1% of the drive, within [8 MiB, 64 MiB] and at most a
 * quarter of it, kept free below new shards and asked for directly by the
 * front end (bodies kept in the metadata store). */
static void test_auto_reserve(void **state)
{
	(void)state;
	struct tdirs t;
	struct data_store *s;
	struct fault f;
	struct blob_writer *w;
	struct blob_info info = {.bucket = "b", .key = "k"};
	const uint64_t MiB = 1 << 20;
	struct {
		uint64_t total, reserve;
	} c[] = {
		{100 * 1024 * MiB, 64 * MiB}, /* 1% is 1 GiB: capped */
		{3 * 1024 * MiB, 3 * 1024 * MiB / 100},
		{200 * MiB, 8 * MiB}, /* 1% is 2 MiB: the floor */
		{16 * MiB, 4 * MiB},  /* the floor is more than a quarter */
	};

	fault_init(&f);
	struct data_options o = {.io = &f.io, .block_size = 65536, .reserve_auto = 1};
	tdirs_make(&t, 1);
	assert_int_equal(open_store(&t, 1, &o, &s), 0);
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		uint64_t r = (c[i].reserve + 4095) / 4096 * 4096; /* whole blocks */
		f.total = c[i].total;
		f.avail = r + 4096;
		assert_int_equal(data_store_check_space(s, 0, 4096), 0);
		assert_int_equal(data_store_check_space(s, 0, 8192), CN_ENOSPACE);
		f.avail = r;
		assert_int_equal(data_store_check_space(s, 0, 0), 0);
		f.avail = r - 4096;
		assert_int_equal(data_store_check_space(s, 0, 0), CN_ENOSPACE);
		/* a writer whose expected size would cut into the reserve */
		f.avail = r + 4 * MiB;
		fill(info.id, 16, (int)i);
		info.size_hint = 5 * MiB;
		assert_int_equal(blob_writer_new(s, &info, &w), CN_ENOSPACE);
		info.size_hint = 2 * MiB;
		assert_int_equal(blob_writer_new(s, &info, &w), 0);
		blob_writer_abort(w);
		assert_int_equal(count_files(&t, "tmp"), 0);
	}
	data_store_close(s);
	/* without reserve_auto nothing is kept back */
	o.reserve_auto = 0;
	f.avail = f.total = 0;
	assert_int_equal(open_store(&t, 1, &o, &s), 0);
	f.avail = 4096;
	assert_int_equal(data_store_check_space(s, 0, 4096), 0);
	assert_int_equal(data_store_check_space(s, 1, 0), CN_EINVAL);
	data_store_close(s);
	tdirs_free(&t);
}

/* Fails the Nth disk call of one blob write, for every N, until the write
 * passes; after each failure nothing of the blob may be visible. */
static void fault_loop(int err, int short_write, unsigned ops)
{
	struct tdirs t;
	struct data_store *s;
	struct fault f;
	const size_t len = 3 * 4096 + 100;
	uint8_t data[3 * 4096 + 100];
	fault_init(&f);
	struct data_options o = {.io = &f.io, .block_size = 4096, .k = 2, .m = 1};
	tdirs_make(&t, 3);
	assert_int_equal(open_store(&t, 3, &o, &s), 0);
	fill(data, len, 11);
	int failures = 0;
	for (long nth = 1; nth < 1000; nth++) {
		struct blob_layout l;
		f.ops = ops;
		f.calls = 0;
		f.nth = nth;
		f.err = err;
		f.short_write = short_write;
		f.fired = 0;
		int rc = put_blob(s, data, len, (uint64_t)nth, &l);
		f.nth = 0;
		if (!f.fired || short_write) {
			assert_int_equal(rc, 0);
			assert_int_equal(check_blob(s, &l, data), 0);
			assert_int_equal(count_files(&t, "tmp"), 0);
			assert_int_equal(blob_delete(s, &l), 0);
			if (!f.fired)
				break;
			continue;
		}
		failures++;
		assert_int_not_equal(rc, 0);
		if (err == ENOSPC)
			assert_int_equal(rc, CN_ENOSPACE);
		assert_int_equal(count_files(&t, "tmp"), 0);
		assert_int_equal(count_files(&t, "blobs"), 0);
		/* EIO took a drive offline; it is healthy, so recheck restores it. */
		assert_int_equal(data_store_recheck(s), 3);
	}
	assert_true(short_write || failures > 10);
	data_store_close(s);
	tdirs_free(&t);
}

static void test_write_faults_enospc(void **state)
{
	(void)state;
	fault_loop(ENOSPC, 0, F_OPEN | F_PWRITE | F_FSYNC | F_RENAME | F_MKDIR | F_STATVFS);
}

static void test_write_faults_eio(void **state)
{
	(void)state;
	fault_loop(EIO, 0, F_OPEN | F_PWRITE | F_FSYNC | F_RENAME | F_MKDIR | F_STATVFS | F_CLOSE);
}

static void test_write_short_writes(void **state)
{
	(void)state;
	fault_loop(ENOSPC, 1, F_PWRITE);
}

static void test_read_faults(void **state)
{
	(void)state;
	struct tdirs t;
	struct data_store *s;
	struct fault f;
	const size_t len = 5 * 4096;
	uint8_t data[5 * 4096];
	struct blob_layout l;
	fault_init(&f);
	struct data_options o = {.io = &f.io, .block_size = 4096, .k = 2, .m = 2};
	tdirs_make(&t, 4);
	assert_int_equal(open_store(&t, 4, &o, &s), 0);
	fill(data, len, 12);
	assert_int_equal(put_blob(s, data, len, 12, &l), 0);
	/* Any single failing pread or open during a read is survived. */
	for (long nth = 1; nth < 100; nth++) {
		f.ops = F_PREAD | F_OPEN;
		f.calls = 0;
		f.nth = nth;
		f.err = EIO;
		f.fired = 0;
		assert_int_equal(check_blob(s, &l, data), 0);
		f.nth = 0;
		if (!f.fired)
			break;
		assert_int_equal(data_store_recheck(s), 4);
	}
	data_store_close(s);
	tdirs_free(&t);
}

static void test_killed_writer_leaves_nothing(void **state)
{
	(void)state;
	struct tdirs t;
	struct data_store *s;
	struct data_options o = {.block_size = 65536, .k = 2, .m = 1};
	tdirs_make(&t, 3);
	assert_int_equal(open_store(&t, 3, &o, &s), 0);
	data_store_close(s);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct blob_info info = {.bucket = "b", .key = "k"};
		struct blob_writer *w;
		static uint8_t buf[65536 * 3 + 10];
		fill(info.id, 16, 99);
		if (open_store(&t, 3, &o, &s) || blob_writer_new(s, &info, &w) ||
		    blob_writer_append(w, buf, sizeof(buf)))
			_exit(1);
		raise(SIGKILL);
		_exit(2);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_int_equal(count_files(&t, "tmp"), 3);
	assert_int_equal(count_files(&t, "blobs"), 0);
	assert_int_equal(open_store(&t, 3, &o, &s), 0);
	assert_int_equal(count_files(&t, "tmp"), 0);
	assert_int_equal(count_files(&t, "blobs"), 0);
	data_store_close(s);
	tdirs_free(&t);
}

static void test_too_few_drives(void **state)
{
	(void)state;
	struct tdirs t;
	struct data_store *s;
	struct blob_layout l;
	uint8_t data[10];
	struct data_options o = {.k = 2, .m = 2};
	tdirs_make(&t, 4);
	assert_int_equal(open_store(&t, 4, &o, &s), 0);
	data_store_drive_offline(s, 3);
	assert_int_equal(put_blob(s, data, sizeof(data), 1, &l), CN_EDRIVE);
	assert_int_equal(data_store_recheck(s), 4);
	assert_int_equal(put_blob(s, data, sizeof(data), 1, &l), 0);
	data_store_close(s);
	tdirs_free(&t);
}

/* fsync policy: always = every shard file and its directory before finish
 * returns; never = no fsync at all. Blobs survive a reopen either way. */
static void test_fsync_policy(void **state)
{
	(void)state;
	struct tdirs t;
	struct data_store *s;
	struct fault f;
	struct blob_layout l;
	uint8_t data[50000];
	fault_init(&f);
	struct data_options o = {.io = &f.io, .block_size = 4096, .k = 2, .m = 1};
	tdirs_make(&t, 3);
	fill(data, sizeof(data), 21);
	for (int never = 0; never < 2; never++) {
		o.fsync = never ? DATA_FSYNC_NEVER : DATA_FSYNC_ALWAYS;
		assert_int_equal(open_store(&t, 3, &o, &s), 0);
		f.ops = F_FSYNC;
		f.calls = 0;
		assert_int_equal(put_blob(s, data, sizeof(data), 30 + (uint64_t)never, &l), 0);
		if (never)
			assert_int_equal(f.calls, 0);
		else
			assert_true(f.calls >= 6); /* 3 files + 3 directories, at least */
		data_store_close(s);
		f.ops = 0;
		assert_int_equal(open_store(&t, 3, &o, &s), 0);
		assert_int_equal(check_blob(s, &l, data), 0);
		data_store_close(s);
	}
	tdirs_free(&t);
}

/* A shard past 8 MiB is flushed in steps while it is written (sink.c): a
 * 20 MiB blob on one drive fsyncs exactly twice more than a 4 MiB one (at
 * 8 and 16 MiB; none after the last record, the seal does that), and a
 * failure of any of its fsyncs, the background ones included, fails the
 * write and leaves nothing. The kernel reports a writeback error to one
 * fsync of a file only, so a failed flush whose error the seal ignored
 * would let a blob with lost pages commit. */
static void test_big_shard_flushes(void **state)
{
	(void)state;
	struct tdirs t;
	struct data_store *s;
	struct fault f;
	struct blob_layout l;
	const size_t big = 20u << 20, small = 4u << 20;
	uint8_t *data = malloc(big);
	long c_small, c_big, failures = 0;

	assert_non_null(data);
	fault_init(&f);
	struct data_options o = {.io = &f.io, .block_size = 1u << 20, .k = 1, .m = 0};
	tdirs_make(&t, 1);
	assert_int_equal(open_store(&t, 1, &o, &s), 0);
	fill(data, big, 41);
	/* once first: the blob's directories are made (and their parents
	 * fsynced) by the first write only */
	assert_int_equal(put_blob(s, data, small, 41, &l), 0);
	assert_int_equal(blob_delete(s, &l), 0);
	f.ops = F_FSYNC;
	f.calls = 0;
	assert_int_equal(put_blob(s, data, small, 41, &l), 0);
	c_small = f.calls;
	assert_int_equal(blob_delete(s, &l), 0);
	f.calls = 0;
	assert_int_equal(put_blob(s, data, big, 41, &l), 0);
	c_big = f.calls;
	assert_int_equal(c_big, c_small + 2);
	assert_int_equal(check_blob(s, &l, data), 0);
	assert_int_equal(blob_delete(s, &l), 0);
	for (long nth = 1; nth <= c_big + 1; nth++) {
		int rc;
		f.calls = 0;
		f.nth = nth;
		f.err = EIO;
		f.fired = 0;
		rc = put_blob(s, data, big, 41, &l);
		f.nth = 0;
		if (!f.fired) {
			assert_int_equal(rc, 0);
			assert_int_equal(check_blob(s, &l, data), 0);
			assert_int_equal(blob_delete(s, &l), 0);
			break;
		}
		failures++;
		assert_int_not_equal(rc, 0);
		assert_int_equal(count_files(&t, "tmp"), 0);
		assert_int_equal(count_files(&t, "blobs"), 0);
		assert_int_equal(data_store_recheck(s), 1);
	}
	assert_int_equal(failures, c_big);
	data_store_close(s);
	tdirs_free(&t);
	free(data);
}

/* Marker bytes of every drive, to prove a refused open wrote nothing. */
static void markers(struct tdirs *t, int n, char (*out)[512])
{
	for (int i = 0; i < n; i++) {
		char p[256];
		snprintf(p, sizeof(p), "%s/.cairn-format", t->paths[i]);
		memset(out[i], 0, 512);
		FILE *f = fopen(p, "rb");
		if (f) {
			assert_true(fread(out[i], 1, 512, f) > 0);
			fclose(f);
		}
	}
}

/* Drive-set checks: STRICT refuses a missing, left-out or swapped drive
 * before writing anything; DEGRADED opens without it and reports it;
 * LENIENT (the library default) keeps the drive offline as before; an empty
 * directory at a known position is adopted in every mode. */
static void test_set_checks(void **state)
{
	(void)state;
	struct tdirs t;
	struct data_store *s;
	struct data_set_health h;
	struct data_drive_stat st[4];
	char before[4][512], after[4][512], cmd[256];
	const char *pb[4];
	struct data_options strict = {
		.format_new = 1, .keep_first = 1, .set_check = DATA_SET_STRICT};
	struct data_options degraded = strict;
	degraded.set_check = DATA_SET_DEGRADED;

	tdirs_make(&t, 4);
	assert_int_equal(open_store(&t, 4, &strict, &s), 0);
	data_store_health(s, &h);
	assert_int_equal(h.set_n, 4);
	assert_int_equal(h.online, 4);
	assert_false(h.degraded);
	assert_int_equal(data_store_problems(s, pb, 4), 0);
	data_store_close(s);

	/* Left out: 3 of 4 directories. */
	markers(&t, 4, before);
	assert_int_equal(open_store(&t, 3, &strict, &s), CN_EDRIVE);
	markers(&t, 4, after);
	assert_memory_equal(before, after, sizeof(before));
	assert_int_equal(open_store(&t, 3, &degraded, &s), 0);
	data_store_health(s, &h);
	assert_true(h.degraded);
	assert_int_equal(h.missing, 1);
	assert_int_equal(h.online, 3);
	assert_int_equal(data_store_problems(s, pb, 4), 1);
	assert_non_null(strstr(pb[0], "drive 4 of the 4-drive set"));
	data_store_close(s);

	/* Swapped: d1 and d2 exchanged. */
	char *tmp = t.paths[1];
	t.paths[1] = t.paths[2];
	t.paths[2] = tmp;
	markers(&t, 4, before);
	assert_int_equal(open_store(&t, 4, &strict, &s), CN_EDRIVE);
	markers(&t, 4, after);
	assert_memory_equal(before, after, sizeof(before));
	assert_int_equal(open_store(&t, 4, &degraded, &s), 0);
	data_store_stats(s, st, 4);
	assert_false(st[1].online);
	assert_false(st[2].online);
	assert_string_equal(st[1].problem, "swapped");
	data_store_close(s);
	t.paths[2] = t.paths[1];
	t.paths[1] = tmp;

	/* Missing directory: refused in STRICT, offline in LENIENT. */
	snprintf(cmd, sizeof(cmd), "mv %s %s.gone", t.paths[3], t.paths[3]);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(open_store(&t, 4, &strict, &s), CN_EDRIVE);
	assert_int_equal(access(t.paths[3], F_OK), -1); /* not created */
	assert_int_equal(open_store(&t, 4, NULL, &s), 0);
	data_store_stats(s, st, 4);
	assert_false(st[3].online);
	assert_string_equal(st[3].problem, "missing");
	data_store_close(s);

	/* An empty directory there is a replacement, even in STRICT. */
	assert_int_equal(mkdir(t.paths[3], 0700), 0);
	assert_int_equal(open_store(&t, 4, &strict, &s), 0);
	data_store_health(s, &h);
	assert_false(h.degraded);
	data_store_stats(s, st, 4);
	assert_true(st[3].online && st[3].rebuilding);
	data_store_close(s);

	/* The first directory is never served without, even DEGRADED. */
	snprintf(cmd, sizeof(cmd), "rm -rf %s", t.paths[0]);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(open_store(&t, 4, &degraded, &s), CN_EDRIVE);
	tdirs_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_and_reopen),
		cmocka_unit_test(test_foreign_and_bad_markers),
		cmocka_unit_test(test_missing_and_new_drives),
		cmocka_unit_test(test_set_checks),
		cmocka_unit_test(test_adopt_replacement),
		cmocka_unit_test(test_unmount_detected),
		cmocka_unit_test(test_free_space),
		cmocka_unit_test(test_auto_reserve),
		cmocka_unit_test(test_free_space_reading_kept),
		cmocka_unit_test(test_write_faults_enospc),
		cmocka_unit_test(test_write_faults_eio),
		cmocka_unit_test(test_write_short_writes),
		cmocka_unit_test(test_read_faults),
		cmocka_unit_test(test_killed_writer_leaves_nothing),
		cmocka_unit_test(test_too_few_drives),
		cmocka_unit_test(test_fsync_policy),
		cmocka_unit_test(test_big_shard_flushes),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests_name("data_store", tests, NULL, NULL);
}
