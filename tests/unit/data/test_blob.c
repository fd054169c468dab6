/* Unit tests for the data module's blob path on real temporary drives:
 * write/read round trips for many sizes and k+m, every range of a small
 * blob, corruption and loss of shards, heal, delete and the heal queue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "data_test.h"

#include "core/err.h"

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

struct env {
	struct tdirs t;
	struct data_store *s;
	struct data_options o;
};

static void env_open(struct env *e, int ndrives, int k, int m, uint32_t bs)
{
	memset(e, 0, sizeof(*e));
	tdirs_make(&e->t, ndrives);
	e->o.k = (uint8_t)k;
	e->o.m = (uint8_t)m;
	e->o.block_size = bs;
	assert_int_equal(data_store_open((const char *const *)e->t.paths, ndrives, &e->o, &e->s),
			 0);
}

static void env_close(struct env *e)
{
	data_store_close(e->s);
	tdirs_free(&e->t);
}

/* Writes `len` bytes of pattern `seed` in irregular chunks. */
static int put_blob(struct data_store *s, const uint8_t *data, size_t len, uint64_t seed,
		    struct blob_layout *l)
{
	struct blob_info info = {.bucket = "bkt",
				 .key = "some/key",
				 .version_id = "v1",
				 .part_number = 0,
				 .size_hint = len};
	struct blob_writer *w;
	fill(info.id, DATA_ID_LEN, seed);
	int rc = blob_writer_new(s, &info, &w);
	if (rc)
		return rc;
	uint64_t st = seed + 1;
	size_t off = 0;
	while (off < len) {
		size_t n = 1 + prng(&st) % 100000;
		if (n > len - off)
			n = len - off;
		if ((rc = blob_writer_append(w, data + off, n)) != 0) {
			blob_writer_abort(w);
			return rc;
		}
		off += n;
	}
	return blob_writer_finish(w, l);
}

/* Reads the whole blob back with buffers of `chunk` bytes, in no-wait mode
 * if asked. */
static int get_blob_mode(struct data_store *s, const struct blob_layout *l, uint8_t *out,
			 size_t chunk, unsigned *bad, int nowait)
{
	struct blob_reader *r;
	int rc = blob_reader_open(s, l, &r);
	if (rc)
		return rc;
	blob_reader_nowait(r, nowait);
	uint64_t off = 0;
	for (;;) {
		size_t got;
		rc = blob_reader_read(r, off, out + off, chunk, &got);
		if (rc || got == 0)
			break;
		off += got;
	}
	if (rc == 0 && off != l->size)
		rc = CN_EINTERNAL;
	if (bad)
		*bad = blob_reader_bad_mask(r);
	blob_reader_close(r);
	return rc;
}

static int get_blob(struct data_store *s, const struct blob_layout *l, uint8_t *out, size_t chunk,
		    unsigned *bad)
{
	return get_blob_mode(s, l, out, chunk, bad, 0);
}

static void test_roundtrip_sizes(void **state)
{
	(void)state;
	const uint32_t bs = 256 * 1024;
	int km[][2] = {{1, 0}, {1, 1}, {2, 1}, {2, 2}, {4, 2}};
	size_t sizes[] = {0, 1, bs - 1, bs, bs + 1, 3 * 1024 * 1024 + 12345};
	uint8_t *data = malloc(sizes[5]), *back = malloc(sizes[5] + 1);
	for (size_t t = 0; t < 5; t++) {
		struct env e;
		int n = km[t][0] + km[t][1];
		env_open(&e, n, km[t][0], km[t][1], bs);
		for (size_t z = 0; z < 6; z++) {
			struct blob_layout l;
			fill(data, sizes[z], t * 10 + z);
			assert_int_equal(put_blob(e.s, data, sizes[z], t * 10 + z, &l), 0);
			assert_int_equal(l.k, km[t][0]);
			assert_int_equal(l.m, km[t][1]);
			assert_int_equal(l.size, sizes[z]);
			size_t chunks[] = {1000, 256 * 1024, 1 << 20};
			for (int c = 0; c < 3; c++) {
				unsigned bad = 99;
				memset(back, 0, sizes[z] + 1);
				assert_int_equal(get_blob(e.s, &l, back, chunks[c], &bad), 0);
				assert_int_equal(bad, 0);
				assert_memory_equal(back, data, sizes[z]);
			}
			/* Every shard file is in place on its own drive; no temp left. */
			for (int i = 0; i < n; i++) {
				char p[512];
				int found = 0;
				for (int d = 0; d < n; d++) {
					shard_file(e.t.paths[d], l.id, i, p, sizeof(p));
					found += access(p, F_OK) == 0;
				}
				assert_int_equal(found, 1);
			}
		}
		assert_int_equal(count_files(&e.t, "blobs"), 6 * n);
		assert_int_equal(count_files(&e.t, "tmp"), 0);
		env_close(&e);
	}
	free(data);
	free(back);
}

static void test_every_range(void **state)
{
	(void)state;
	struct env e;
	struct blob_layout l;
	const size_t len = 333;
	uint8_t data[333], buf[340];
	env_open(&e, 3, 2, 1, 64);
	fill(data, len, 5);
	assert_int_equal(put_blob(e.s, data, len, 5, &l), 0);
	struct blob_reader *r;
	assert_int_equal(blob_reader_open(e.s, &l, &r), 0);
	for (size_t off = 0; off <= len + 2; off++) {
		for (size_t n = 0; n <= len + 2 - off; n++) {
			size_t got = 12345;
			memset(buf, 0xa5, sizeof(buf));
			assert_int_equal(blob_reader_read(r, off, buf, n, &got), 0);
			size_t want = off >= len ? 0 : (n < len - off ? n : len - off);
			assert_int_equal(got, want);
			if (want)
				assert_memory_equal(buf, data + off, want);
			assert_int_equal(buf[want], 0xa5); /* nothing past got */
		}
	}
	blob_reader_close(r);
	env_close(&e);
}

/* Finds the drive holding shard i. */
static int shard_drive(struct env *e, const struct blob_layout *l, int i, char *p, size_t cap)
{
	for (int d = 0; d < e->t.n; d++) {
		shard_file(e->t.paths[d], l->id, i, p, cap);
		if (access(p, F_OK) == 0)
			return d;
	}
	return -1;
}

enum damage { D_FLIP, D_TRUNC, D_DELETE, D_HEADER, D_ZERO_TAIL };

static void damage(struct env *e, const struct blob_layout *l, int i, enum damage how,
		   uint64_t seed)
{
	char p[512];
	assert_true(shard_drive(e, l, i, p, sizeof(p)) >= 0);
	size_t len = 0;
	uint8_t *b = read_file(p, &len);
	assert_non_null(b);
	uint64_t st = seed + 17;
	FILE *f;
	switch (how) {
	case D_FLIP:
		for (int j = 0; j < 5; j++) {
			size_t at = 1200 + prng(&st) % (len - 1200); /* past the header */
			b[at] ^= (uint8_t)(1 + prng(&st) % 255);
		}
		break;
	case D_HEADER:
		b[20] ^= 0x01; /* inside the blob id */
		break;
	case D_TRUNC: len = len / 2; break;
	case D_ZERO_TAIL: memset(b + len - 100, 0, 100); break;
	case D_DELETE:
		assert_int_equal(unlink(p), 0);
		free(b);
		return;
	}
	f = fopen(p, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, len, f), len);
	fclose(f);
	free(b);
}

static void test_corruption_reconstructs(void **state)
{
	(void)state;
	const size_t len = 5 * 65536 + 777;
	uint8_t *data = malloc(len), *back = malloc(len);
	int km[][2] = {{1, 1}, {2, 1}, {2, 2}, {4, 2}, {1, 2}};
	for (int t = 0; t < 5; t++) {
		int k = km[t][0], m = km[t][1], n = k + m;
		struct env e;
		env_open(&e, n, k, m, 65536);
		/* Every set of at most m damaged shards, each with each damage kind. */
		for (unsigned set = 1; set < (1u << n); set++) {
			if (__builtin_popcount(set) > m)
				continue;
			for (int how = 0; how < 5; how++) {
				struct blob_layout l, popped;
				uint64_t seed = set * 31 + (unsigned)how + (uint64_t)t * 1000;
				fill(data, len, seed);
				assert_int_equal(put_blob(e.s, data, len, seed, &l), 0);
				for (int i = 0; i < n; i++)
					if (set & (1u << i))
						damage(&e, &l, i, (enum damage)how, seed + i);
				unsigned bad = 0;
				memset(back, 0, len);
				assert_int_equal(get_blob(e.s, &l, back, 100000, &bad), 0);
				assert_memory_equal(back, data, len);
				/* Data shards are read first, so damaged parity may go
				 * unnoticed; damaged data shards are always reported. */
				assert_int_equal(bad & ~set, 0);
				assert_int_equal(bad & set & ((1u << k) - 1),
						 set & ((1u << k) - 1));
				if (bad) {
					assert_int_equal(data_heal_queue_pop(e.s, &popped), 0);
					assert_memory_equal(popped.id, l.id, DATA_ID_LEN);
					/* popped pinned: a delete waits for the healer */
					assert_int_equal(blob_delete(e.s, &l), CN_EBUSY);
					data_unpin(e.s, popped.id);
				}
				assert_int_equal(data_heal_queue_pop(e.s, &popped), CN_ENOTFOUND);
				assert_int_equal(blob_delete(e.s, &l), 0);
			}
		}
		env_close(&e);
	}
	free(data);
	free(back);
}

/* Gathers a view's pieces into out. */
static size_t gather_view(const struct iovec *iov, int n, uint8_t *out)
{
	size_t at = 0;
	for (int i = 0; i < n; i++) {
		memcpy(out + at, iov[i].iov_base, iov[i].iov_len);
		at += iov[i].iov_len;
	}
	return at;
}

/* blob_reader_view: every range of a small blob, against the bytes; it
 * applies exactly to non-empty ranges inside one block of a k > 1 blob, and
 * interleaves with blob_reader_read on the same reader (the block cache). */
static void test_every_view(void **state)
{
	(void)state;
	const size_t len = 333;
	uint8_t data[333], buf[340];
	struct iovec iov[DATA_MAX_SHARDS];
	int km[][2] = {{2, 1}, {3, 1}, {1, 1}};
	for (int t = 0; t < 3; t++) {
		struct env e;
		struct blob_layout l;
		struct blob_reader *r;
		const uint64_t bs = 96;
		env_open(&e, km[t][0] + km[t][1], km[t][0], km[t][1], (uint32_t)bs);
		fill(data, len, 7 + (uint64_t)t);
		assert_int_equal(put_blob(e.s, data, len, 7 + (uint64_t)t, &l), 0);
		assert_int_equal(blob_reader_open(e.s, &l, &r), 0);
		for (size_t off = 0; off <= len + 2; off++) {
			for (size_t n = 0; n <= len + 2 - off; n++) {
				size_t got = 12345;
				int niov = -1;
				int applies = km[t][0] > 1 && n > 0 && off + n <= len &&
					      off / bs == (off + n - 1) / bs;
				int rc = blob_reader_view(r, off, n, iov, DATA_MAX_SHARDS, &niov,
							  &got);
				if (!applies) {
					assert_int_equal(rc, CN_EAGAIN);
					continue;
				}
				assert_int_equal(rc, 0);
				assert_int_equal(got, n);
				assert_true(niov >= 1 && niov <= km[t][0]);
				assert_int_equal(gather_view(iov, niov, buf), n);
				assert_memory_equal(buf, data + off, n);
				if ((off + n) % 7 == 0) { /* a copy read in between */
					size_t at = (off * 31) % len;
					assert_int_equal(blob_reader_read(r, at, buf, 50, &got), 0);
					assert_memory_equal(buf, data + at, got);
				}
			}
		}
		/* too few iovecs for the pieces the range touches */
		if (km[t][0] > 1) {
			size_t got;
			int niov;
			assert_int_equal(blob_reader_view(r, 0, bs, iov, 1, &niov, &got),
					 CN_EAGAIN);
		}
		blob_reader_close(r);
		env_close(&e);
	}
}

/* A view of a block with a damaged data shard is reconstructed, and the
 * shard is reported; with too many lost, CN_EDATALOST and nothing viewed. */
static void test_view_reconstructs(void **state)
{
	(void)state;
	const uint32_t bs = 65536;
	const size_t len = 3 * bs + 500;
	uint8_t *data = malloc(len), *back = malloc(bs);
	struct iovec iov[DATA_MAX_SHARDS];
	struct env e;
	struct blob_layout l;
	struct blob_reader *r;
	size_t got;
	int n;
	env_open(&e, 4, 2, 2, bs);
	fill(data, len, 21);
	assert_int_equal(put_blob(e.s, data, len, 21, &l), 0);
	damage(&e, &l, 0, D_FLIP, 3);
	assert_int_equal(blob_reader_open(e.s, &l, &r), 0);
	for (uint64_t b = 0; b * bs < len; b++) {
		size_t want = len - b * bs < bs ? len - b * bs : bs;
		assert_int_equal(blob_reader_view(r, b * bs, want, iov, DATA_MAX_SHARDS, &n, &got),
				 0);
		assert_int_equal(got, want);
		assert_int_equal(gather_view(iov, n, back), want);
		assert_memory_equal(back, data + b * bs, want);
	}
	assert_true(blob_reader_bad_mask(r) & 1u);
	blob_reader_close(r);
	damage(&e, &l, 1, D_DELETE, 4);
	damage(&e, &l, 2, D_DELETE, 5);
	assert_int_equal(blob_reader_open(e.s, &l, &r), 0);
	n = -1;
	assert_int_equal(blob_reader_view(r, 0, 100, iov, DATA_MAX_SHARDS, &n, &got), CN_EDATALOST);
	assert_int_equal(n, 0);
	assert_int_equal(got, 0);
	blob_reader_close(r);
	env_close(&e);
	free(data);
	free(back);
}

/* ---- no-wait mode (blob_reader_nowait) ---- */

/* Asks the kernel to drop shard i's pages from its cache; returns 1 if none
 * is resident after (tmpfs keeps them all: the caller skips what needs a
 * cold file). */
static int drop_cache(struct env *e, const struct blob_layout *l, int i)
{
	char p[512];
	struct stat st;
	int fd, cold;
	assert_true(shard_drive(e, l, i, p, sizeof(p)) >= 0);
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), np = ((size_t)st.st_size + pg - 1) / pg;
	unsigned char *vec = malloc(np);
	void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	cold = m != MAP_FAILED && mincore(m, (size_t)st.st_size, vec) == 0;
	for (size_t j = 0; cold && j < np; j++)
		if (vec[j] & 1)
			cold = 0;
	if (m != MAP_FAILED)
		munmap(m, (size_t)st.st_size);
	free(vec);
	close(fd);
	return cold;
}

static void assert_nothing_recorded(struct env *e, unsigned bad)
{
	struct blob_layout popped;
	struct data_set_health h;
	assert_int_equal(bad, 0);
	assert_int_equal(data_heal_queue_pop(e->s, &popped), CN_ENOTFOUND);
	data_store_health(e->s, &h);
	assert_int_equal(h.online, e->t.n);
}

/* A blob just written is in the page cache: no-wait reads and views return
 * its bytes for every k + m. Once its data shards' pages are dropped, a
 * no-wait read is CN_EWOULDBLOCK and records nothing; a normal read then
 * brings them back and the no-wait read works again.
 *
 * The kernel only promises that RWF_NOWAIT *may* refuse: a page can come
 * back between the drop and the read (a CI machine's ASan run saw a no-wait
 * read succeed there once), and memory pressure can evict one again after
 * the normal read. Here (Linux 6.18, ext4) a refused RWF_NOWAIT read still
 * starts read-ahead of what it wanted, which can finish before the kernel
 * looks again. So a cold no-wait read gives CN_EWOULDBLOCK or the exact
 * bytes, never anything else and never a record, and at least one of the
 * cold (k, m) runs must be refused: a no-wait read that does not ask the
 * cache fails that. The warm read gets a few tries, each after a normal
 * read. test_nowait_faults checks the refusal path deterministically. */
static void test_nowait_cached(void **state)
{
	(void)state;
	const uint32_t bs = 65536;
	const size_t len = 3 * bs + 777;
	int km[][2] = {{1, 0}, {1, 1}, {2, 1}, {4, 2}};
	size_t chunks[] = {bs, 100000, 777};
	uint8_t *data = malloc(len), *back = malloc(len);
	struct iovec iov[DATA_MAX_SHARDS];
	int cold_runs = 0, refused = 0;
	for (int t = 0; t < 4; t++) {
		int k = km[t][0], m = km[t][1];
		struct env e;
		struct blob_layout l;
		struct blob_reader *r;
		unsigned bad = 1;
		env_open(&e, k + m, k, m, bs);
		fill(data, len, 40 + (uint64_t)t);
		assert_int_equal(put_blob(e.s, data, len, 40 + (uint64_t)t, &l), 0);
		for (int c = 0; c < 3; c++) {
			memset(back, 0, len);
			assert_int_equal(get_blob_mode(e.s, &l, back, chunks[c], &bad, 1), 0);
			assert_memory_equal(back, data, len);
			assert_nothing_recorded(&e, bad);
		}
		if (k > 1) {
			assert_int_equal(blob_reader_open(e.s, &l, &r), 0);
			blob_reader_nowait(r, 1);
			for (uint64_t b = 0; b * bs < len; b++) {
				size_t want = len - b * bs < bs ? len - b * bs : bs, got;
				int n;
				assert_int_equal(blob_reader_view(r, b * bs, want, iov,
								  DATA_MAX_SHARDS, &n, &got),
						 0);
				assert_int_equal(gather_view(iov, n, back), want);
				assert_memory_equal(back, data + b * bs, want);
			}
			blob_reader_close(r);
		}
		int cold = 1;
		for (int i = 0; i < k; i++)
			cold &= drop_cache(&e, &l, i);
		if (cold) {
			memset(back, 0, len);
			int rc = get_blob_mode(e.s, &l, back, bs, &bad, 1);
			if (rc == CN_EWOULDBLOCK) {
				refused++;
			} else {
				assert_int_equal(rc, 0);
				assert_memory_equal(back, data, len);
			}
			assert_nothing_recorded(&e, bad);
			if (k > 1) {
				size_t got = 1;
				int n = -1;
				assert_int_equal(blob_reader_open(e.s, &l, &r), 0);
				blob_reader_nowait(r, 1);
				rc = blob_reader_view(r, 0, 100, iov, DATA_MAX_SHARDS, &n, &got);
				if (rc == CN_EWOULDBLOCK) {
					assert_int_equal(n, 0);
					assert_int_equal(got, 0);
				} else {
					assert_int_equal(rc, 0);
					assert_int_equal(got, 100);
					assert_int_equal(gather_view(iov, n, back), 100);
					assert_memory_equal(back, data, 100);
				}
				blob_reader_close(r);
			}
			cold_runs++;
			for (int try = 0;; try++) {
				memset(back, 0, len);
				assert_int_equal(get_blob(e.s, &l, back, bs, &bad), 0);
				assert_memory_equal(back, data, len);
				memset(back, 0, len);
				rc = get_blob_mode(e.s, &l, back, bs, &bad, 1);
				assert_nothing_recorded(&e, bad);
				if (rc == 0 || try == 4)
					break;
			}
			assert_int_equal(rc, 0);
			assert_memory_equal(back, data, len);
		}
		assert_int_equal(blob_delete(e.s, &l), 0);
		env_close(&e);
	}
	if (!cold_runs)
		print_message(
			"page cache not droppable here (tmpfs?): cold no-wait reads skipped\n");
	else /* every (k, m) racing its own read-ahead home is not a kernel's doing */
		assert_true(refused > 0);
	free(data);
	free(back);
}

/* Damage is the thread's business: a no-wait read of a blob with a bad,
 * missing or foreign data shard is CN_EWOULDBLOCK, records nothing and does
 * not reconstruct; the normal read then reconstructs and queues the heal. */
static void test_nowait_damage(void **state)
{
	(void)state;
	const uint32_t bs = 65536;
	const size_t len = 2 * bs + 99;
	uint8_t *data = malloc(len), *back = malloc(len);
	enum damage hows[] = {D_FLIP, D_DELETE, D_HEADER, D_TRUNC};
	struct env e;
	env_open(&e, 3, 2, 1, bs);
	for (int h = 0; h < 4; h++) {
		struct blob_layout l, popped;
		unsigned bad = 0;
		fill(data, len, 60 + (uint64_t)h);
		assert_int_equal(put_blob(e.s, data, len, 60 + (uint64_t)h, &l), 0);
		damage(&e, &l, h & 1, hows[h], 61 + (uint64_t)h);
		assert_int_equal(get_blob_mode(e.s, &l, back, bs, &bad, 1), CN_EWOULDBLOCK);
		assert_nothing_recorded(&e, bad);
		memset(back, 0, len);
		assert_int_equal(get_blob(e.s, &l, back, bs, &bad), 0);
		assert_memory_equal(back, data, len);
		assert_int_equal(bad, 1u << (h & 1));
		assert_int_equal(data_heal_queue_pop(e.s, &popped), 0);
		assert_memory_equal(popped.id, l.id, DATA_ID_LEN);
		data_unpin(e.s, popped.id);
		assert_int_equal(blob_delete(e.s, &l), 0);
	}
	env_close(&e);
	free(data);
	free(back);
}

/* Every no-wait call that fails (would block, or an I/O error) makes the
 * read CN_EWOULDBLOCK with no drive taken offline and nothing recorded; the
 * normal read after it returns the bytes. An io without the no-wait pair
 * never reads in no-wait mode. */
static void test_nowait_faults(void **state)
{
	(void)state;
	struct tdirs t;
	struct data_store *s;
	struct fault f;
	const size_t len = 5 * 4096 + 10;
	uint8_t data[5 * 4096 + 10], back[5 * 4096 + 10];
	struct blob_layout l;
	unsigned bad;
	fault_init(&f);
	struct data_options o = {.io = &f.io, .block_size = 4096, .k = 2, .m = 1};
	tdirs_make(&t, 3);
	assert_int_equal(data_store_open((const char *const *)t.paths, 3, &o, &s), 0);
	fill(data, len, 70);
	assert_int_equal(put_blob(s, data, len, 70, &l), 0);
	struct env e = {.t = t, .s = s};
	/* no pair: every no-wait read goes to the thread */
	assert_int_equal(get_blob_mode(s, &l, back, 4096, &bad, 1), CN_EWOULDBLOCK);
	assert_nothing_recorded(&e, bad);
	fault_nowait(&f);
	assert_int_equal(get_blob_mode(s, &l, back, 4096, &bad, 1), 0);
	assert_memory_equal(back, data, len);
	int errs[] = {EAGAIN, EIO}, fired = 0;
	for (int x = 0; x < 2; x++)
		for (long nth = 1; nth < 200; nth++) {
			f.ops = F_OPEN_CACHED | F_PREAD_NOWAIT;
			f.calls = 0;
			f.nth = nth;
			f.err = errs[x];
			f.fired = 0;
			memset(back, 0, len);
			int rc = get_blob_mode(s, &l, back, 4096, &bad, 1);
			f.nth = 0;
			if (!f.fired) {
				assert_int_equal(rc, 0);
				assert_memory_equal(back, data, len);
				break;
			}
			fired++;
			assert_int_equal(rc, CN_EWOULDBLOCK);
			assert_nothing_recorded(&e, bad);
			assert_int_equal(get_blob(s, &l, back, 4096, &bad), 0);
			assert_memory_equal(back, data, len);
			assert_int_equal(bad, 0);
		}
	/* each block: an open and a header read per data shard once, then a
	 * piece read per data shard */
	assert_true(fired >= 2 * (2 * 2 + 6 * 2));
	data_store_close(s);
	tdirs_free(&t);
}

/* The child's half of test_nowait_unsupported: openat2 answers err (a
 * seccomp filter stands in for a kernel before 5.6, ENOSYS, or a container
 * profile that does not know the call, EPERM). Returns 0 or the failed
 * step. */
static int unsupported_child(int err)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};
	const size_t len = 3 * 4096 + 5;
	static uint8_t data[3 * 4096 + 5], back[3 * 4096 + 5];
	struct tdirs t;
	struct data_store *s;
	struct data_options o = {.block_size = 4096, .k = 2, .m = 1};
	struct blob_layout l;
	char path[512];
	unsigned bad;
	int rc = 0;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
		return 10;
	tdirs_make(&t, 3);
	if (data_store_open((const char *const *)t.paths, 3, &o, &s) != 0)
		return 11;
	fill(data, len, 80);
	if (put_blob(s, data, len, 80, &l) != 0)
		rc = 12;
	else if (get_blob_mode(s, &l, back, 4096, &bad, 1) != CN_EWOULDBLOCK)
		rc = 13; /* refused: the thread's turn */
	else if (get_blob(s, &l, back, 4096, &bad) != 0 || memcmp(back, data, len) != 0 || bad)
		rc = 14; /* the normal read is untouched */
	else if (get_blob_mode(s, &l, back, 4096, &bad, 1) != CN_EWOULDBLOCK)
		rc = 15;
	shard_file(t.paths[0], l.id, 0, path, sizeof(path));
	if (!rc && data_io_posix()->open_cached(NULL, path, O_RDONLY) != -EOPNOTSUPP)
		rc = 16; /* switched off, not failing anew each time */
	data_store_close(s);
	tdirs_free(&t);
	return rc;
}

/* A kernel or a seccomp profile without openat2: no-wait reads give
 * CN_EWOULDBLOCK (so every read goes to the thread) and the pair switches
 * itself off. In a child, whose filter the rest of the tests do not see. */
static void test_nowait_unsupported(void **state)
{
	(void)state;
	int errs[] = {ENOSYS, EPERM};
	for (int i = 0; i < 2; i++) {
		int st;
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			_exit(unsupported_child(errs[i]));
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st));
		if (WEXITSTATUS(st) == 10) {
			print_message("seccomp filters refused here: skipped\n");
			return;
		}
		if (WEXITSTATUS(st) != 0)
			fail_msg("openat2 answering %d: step %d failed", errs[i], WEXITSTATUS(st));
	}
}

static void test_too_many_lost(void **state)
{
	(void)state;
	const size_t len = 200000;
	uint8_t *data = malloc(len), *back = malloc(len);
	struct env e;
	struct blob_layout l;
	env_open(&e, 6, 4, 2, 65536);
	fill(data, len, 9);
	assert_int_equal(put_blob(e.s, data, len, 9, &l), 0);
	damage(&e, &l, 0, D_DELETE, 1);
	damage(&e, &l, 4, D_FLIP, 2);
	damage(&e, &l, 2, D_TRUNC, 3);
	struct blob_reader *r;
	size_t got = 0;
	assert_int_equal(blob_reader_open(e.s, &l, &r), 0);
	/* Block 0 survives the truncation of shard 2 (it cuts later blocks)? No:
	 * flips can hit any block; read from the start until the error. */
	int rc = 0;
	uint64_t off = 0;
	while (off < len) {
		rc = blob_reader_read(r, off, back, 65536, &got);
		if (rc)
			break;
		assert_memory_equal(back, data + off, got);
		off += got;
	}
	assert_int_equal(rc, CN_EDATALOST);
	blob_reader_close(r);
	/* Losing m + 1 whole shards: the very first read fails. */
	damage(&e, &l, 1, D_DELETE, 4);
	damage(&e, &l, 3, D_DELETE, 4);
	assert_int_equal(blob_reader_open(e.s, &l, &r), 0);
	assert_int_equal(blob_reader_read(r, 0, back, 10, &got), CN_EDATALOST);
	blob_reader_close(r);
	struct blob_layout out;
	assert_int_equal(blob_heal(e.s, &l, &out, NULL), CN_EDATALOST);
	env_close(&e);
	free(data);
	free(back);
}

static void test_heal_byte_identical(void **state)
{
	(void)state;
	const size_t len = 3 * 65536 + 5;
	uint8_t *data = malloc(len), *back = malloc(len);
	int km[][2] = {{1, 1}, {1, 2}, {2, 1}, {2, 2}, {4, 2}};
	for (int t = 0; t < 5; t++) {
		int k = km[t][0], m = km[t][1], n = k + m;
		struct env e;
		env_open(&e, n, k, m, 65536);
		for (unsigned set = 0; set < (1u << n); set++) {
			if (__builtin_popcount(set) > m)
				continue;
			struct blob_layout l, out;
			uint8_t *orig[DATA_MAX_SHARDS];
			size_t olen[DATA_MAX_SHARDS];
			char p[512];
			fill(data, len, set + 50);
			assert_int_equal(put_blob(e.s, data, len, set + 50 + t * 100, &l), 0);
			for (int i = 0; i < n; i++) {
				assert_true(shard_drive(&e, &l, i, p, sizeof(p)) >= 0);
				orig[i] = read_file(p, &olen[i]);
			}
			for (int i = 0; i < n; i++)
				if (set & (1u << i))
					damage(&e, &l, i, (enum damage)((i + set) % 5), set);
			unsigned rebuilt = 99;
			assert_int_equal(blob_heal(e.s, &l, &out, &rebuilt), 0);
			assert_int_equal(rebuilt, set);
			assert_memory_equal(&out, &l, sizeof(l)); /* healed in place */
			for (int i = 0; i < n; i++) {
				size_t nl;
				assert_true(shard_drive(&e, &l, i, p, sizeof(p)) >= 0);
				uint8_t *now = read_file(p, &nl);
				assert_int_equal(nl, olen[i]);
				assert_memory_equal(now, orig[i], nl);
				free(now);
				free(orig[i]);
			}
			/* A second heal finds nothing to do. */
			assert_int_equal(blob_heal(e.s, &l, &out, &rebuilt), 0);
			assert_int_equal(rebuilt, 0);
			unsigned bad = 1;
			assert_int_equal(get_blob(e.s, &l, back, 70000, &bad), 0);
			assert_int_equal(bad, 0);
			assert_memory_equal(back, data, len);
		}
		assert_int_equal(count_files(&e.t, "tmp"), 0);
		env_close(&e);
	}
	free(data);
	free(back);
}

/* A drive rebuild's fast path: the missing shard comes back byte-identical;
 * a second damaged shard is repaired by blob_heal, at once when the fast
 * path reads from it, else at the next call (the file is then present). */
static void test_rebuild_shard(void **state)
{
	(void)state;
	const size_t len = 5 * 65536 + 77;
	uint8_t *data = malloc(len), *back = malloc(len);
	int km[][2] = {{2, 1}, {2, 2}, {4, 2}};
	for (int t = 0; t < 3; t++) {
		int k = km[t][0], m = km[t][1], n = k + m;
		struct env e;
		env_open(&e, n, k, m, 65536);
		for (int miss = 0; miss < n; miss++) {
			for (int extra = -1; extra < n; extra++) {
				struct blob_layout l, out;
				uint8_t *orig[DATA_MAX_SHARDS];
				size_t olen[DATA_MAX_SHARDS];
				char p[512];
				if (extra == miss || (extra >= 0 && m < 2))
					continue;
				fill(data, len, (uint64_t)(miss * 31 + extra + 7));
				assert_int_equal(
					put_blob(e.s, data, len,
						 (uint64_t)(t * 1000 + miss * 50 + extra + 3), &l),
					0);
				for (int i = 0; i < n; i++) {
					assert_true(shard_drive(&e, &l, i, p, sizeof(p)) >= 0);
					orig[i] = read_file(p, &olen[i]);
				}
				damage(&e, &l, miss, D_DELETE, 1);
				if (extra >= 0)
					damage(&e, &l, extra, D_FLIP, (uint64_t)extra + 5);
				unsigned rebuilt = 99, want = 1u << miss;
				if (extra >= 0)
					want |= 1u << extra;
				assert_int_equal(blob_rebuild_shard(e.s, &l, miss, &out, &rebuilt),
						 0);
				/* the missing shard, and the damaged one only if it was
				 * read from (then blob_heal took over) */
				assert_true(rebuilt & (1u << miss));
				assert_int_equal(rebuilt & ~want, 0);
				assert_memory_equal(&out, &l, sizeof(l));
				unsigned first = rebuilt;
				/* the missing shard is present now: blob_heal verifies
				 * everything and repairs what the fast path did not read */
				assert_int_equal(blob_rebuild_shard(e.s, &l, miss, &out, &rebuilt),
						 0);
				assert_int_equal(rebuilt, want & ~first);
				for (int i = 0; i < n; i++) {
					size_t nl;
					assert_true(shard_drive(&e, &l, i, p, sizeof(p)) >= 0);
					uint8_t *now = read_file(p, &nl);
					assert_int_equal(nl, olen[i]);
					assert_memory_equal(now, orig[i], nl);
					free(now);
					free(orig[i]);
				}
				assert_int_equal(blob_rebuild_shard(e.s, &l, miss, &out, &rebuilt),
						 0);
				assert_int_equal(rebuilt, 0);
				unsigned bad = 1;
				assert_int_equal(get_blob(e.s, &l, back, 70000, &bad), 0);
				assert_int_equal(bad, 0);
				assert_memory_equal(back, data, len);
			}
		}
		assert_int_equal(count_files(&e.t, "tmp"), 0);
		env_close(&e);
	}
	free(data);
	free(back);
}

static void test_heal_relocates_from_offline_drive(void **state)
{
	(void)state;
	const size_t len = 150000;
	uint8_t *data = malloc(len), *back = malloc(len);
	struct env e;
	struct blob_layout l, out;
	env_open(&e, 5, 2, 2, 65536);
	fill(data, len, 77);
	assert_int_equal(put_blob(e.s, data, len, 77, &l), 0);
	char p[512];
	int d1 = shard_drive(&e, &l, 1, p, sizeof(p));
	data_store_drive_offline(e.s, d1);
	unsigned bad = 0, rebuilt = 0;
	assert_int_equal(get_blob(e.s, &l, back, 1 << 20, &bad), 0);
	assert_int_equal(bad, 1u << 1);
	assert_memory_equal(back, data, len);
	assert_int_equal(blob_heal(e.s, &l, &out, &rebuilt), 0);
	assert_int_equal(rebuilt, 1u << 1);
	assert_memory_not_equal(out.drive[1], l.drive[1], DATA_ID_LEN);
	for (int i = 0; i < 4; i++)
		if (i != 1)
			assert_memory_equal(out.drive[i], l.drive[i], DATA_ID_LEN);
	assert_int_equal(get_blob(e.s, &out, back, 1 << 20, &bad), 0);
	assert_int_equal(bad, 0);
	assert_memory_equal(back, data, len);
	/* The drive comes back: recheck brings it online. */
	assert_int_equal(data_store_recheck(e.s), 5);
	env_close(&e);
	free(data);
	free(back);
}

static void test_delete_idempotent(void **state)
{
	(void)state;
	struct env e;
	struct blob_layout l;
	uint8_t data[1000];
	env_open(&e, 4, 0, 0, 65536); /* default layout for 4 drives: 2+2 */
	fill(data, sizeof(data), 3);
	assert_int_equal(put_blob(e.s, data, sizeof(data), 3, &l), 0);
	assert_int_equal(l.k, 2);
	assert_int_equal(l.m, 2);
	assert_int_equal(count_files(&e.t, "blobs"), 4);
	assert_int_equal(blob_delete(e.s, &l), 0);
	assert_int_equal(count_files(&e.t, "blobs"), 0);
	assert_int_equal(blob_delete(e.s, &l), 0);
	struct blob_reader *r;
	size_t got;
	uint8_t buf[10];
	assert_int_equal(blob_reader_open(e.s, &l, &r), 0);
	assert_int_equal(blob_reader_read(r, 0, buf, 10, &got), CN_EDATALOST);
	blob_reader_close(r);
	env_close(&e);
}

static void test_heal_queue(void **state)
{
	(void)state;
	struct tdirs t;
	struct data_store *s;
	struct data_options o = {.heal_queue_cap = 3};
	struct blob_layout a, b;
	tdirs_make(&t, 1);
	assert_int_equal(data_store_open((const char *const *)t.paths, 1, &o, &s), 0);
	memset(&a, 0, sizeof(a));
	assert_int_equal(data_heal_queue_pop(s, &b), CN_ENOTFOUND);
	for (int i = 0; i < 5; i++) {
		a.id[0] = (uint8_t)i;
		assert_int_equal(data_heal_queue_push(s, &a), i < 3 ? 0 : CN_EAGAIN);
		assert_int_equal(data_heal_queue_push(s, &a), i < 3 ? 0 : CN_EAGAIN); /* dup */
	}
	assert_int_equal(data_heal_queue_len(s), 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(data_heal_queue_pop(s, &b), 0);
		assert_int_equal(b.id[0], i);
		assert_true(data_pinned(s, b.id));
		data_unpin(s, b.id);
		assert_false(data_pinned(s, b.id));
	}
	assert_int_equal(data_heal_queue_len(s), 0);
	data_store_close(s);
	tdirs_free(&t);
}

/* Read pins: counted; a pinned blob is not deleted (CN_EBUSY, GC retries),
 * its files stay; once unpinned it goes, and its heal-queue entry with it. */
static void test_pins(void **state)
{
	(void)state;
	struct env e;
	struct blob_layout l, other;
	uint8_t data[5000], back[5000];
	unsigned bad;
	env_open(&e, 2, 1, 1, 4096);
	fill(data, sizeof(data), 77);
	assert_int_equal(put_blob(e.s, data, sizeof(data), 77, &l), 0);
	assert_int_equal(data_pin(e.s, l.id), 0);
	assert_int_equal(data_pin(e.s, l.id), 0);
	assert_int_equal(blob_delete(e.s, &l), CN_EBUSY);
	data_unpin(e.s, l.id);
	assert_int_equal(blob_delete(e.s, &l), CN_EBUSY); /* still one pin */
	assert_int_equal(get_blob(e.s, &l, back, 1000, &bad), 0);
	assert_memory_equal(back, data, sizeof(data));
	/* queued for heal, then deleted: the entry goes too */
	assert_int_equal(data_heal_queue_push(e.s, &l), 0);
	memset(&other, 0, sizeof(other));
	other.id[0] = 0xEE;
	assert_int_equal(data_heal_queue_push(e.s, &other), 0);
	data_unpin(e.s, l.id);
	assert_false(data_pinned(e.s, l.id));
	assert_int_equal(blob_delete(e.s, &l), 0);
	assert_int_equal(count_files(&e.t, "blobs"), 0);
	assert_int_equal(data_heal_queue_len(e.s), 1);
	assert_int_equal(data_heal_queue_pop(e.s, &other), 0);
	assert_int_equal(other.id[0], 0xEE);
	data_unpin(e.s, other.id);
	data_unpin(e.s, other.id); /* unpinning what is not pinned is harmless */
	env_close(&e);
}

static void test_xxh3_and_mirror_layouts(void **state)
{
	(void)state;
	struct tdirs t;
	struct data_store *s;
	struct data_options o = {.cksum = DATA_CK_XXH3, .block_size = 4096};
	struct blob_layout l;
	uint8_t data[20000], back[20000];
	tdirs_make(&t, 3);
	assert_int_equal(data_store_open((const char *const *)t.paths, 3, &o, &s), 0);
	fill(data, sizeof(data), 8);
	struct env e = {.t = t, .s = s};
	assert_int_equal(put_blob(s, data, sizeof(data), 8, &l), 0);
	assert_int_equal(l.k, 1); /* 3 drives: 1+2 mirrors */
	assert_int_equal(l.m, 2);
	assert_int_equal(l.cksum, DATA_CK_XXH3);
	/* Mirrors: shard payloads equal apart from the header's shard index. */
	damage(&e, &l, 0, D_FLIP, 1);
	damage(&e, &l, 1, D_DELETE, 1);
	unsigned bad = 0;
	assert_int_equal(get_blob(s, &l, back, 5000, &bad), 0);
	assert_int_equal(bad, 3);
	assert_memory_equal(back, data, sizeof(data));
	data_store_close(s);
	tdirs_free(&t);
}

struct conc {
	struct env *e;
	int id;
	int failures;
};

static void *conc_worker(void *arg)
{
	struct conc *c = arg;
	size_t len = 70000 + (size_t)c->id * 1000;
	uint8_t *data = malloc(len), *back = malloc(len);
	for (int j = 0; j < 15; j++) {
		struct blob_layout l;
		uint64_t seed = (uint64_t)c->id * 1000 + (uint64_t)j + 5000;
		unsigned bad;
		fill(data, len, seed);
		if (put_blob(c->e->s, data, len, seed, &l) != 0) {
			c->failures++;
			continue;
		}
		if (j % 3 == 0) { /* lose a data shard: readers rebuild and report */
			char p[512];
			for (int d = 0; d < c->e->t.n; d++) {
				shard_file(c->e->t.paths[d], l.id, 0, p, sizeof(p));
				unlink(p);
			}
		}
		if (get_blob(c->e->s, &l, back, 30000, &bad) != 0 || memcmp(back, data, len) != 0)
			c->failures++;
		if (blob_delete(c->e->s, &l) != 0)
			c->failures++;
	}
	free(data);
	free(back);
	return NULL;
}

/* Many threads writing, reading, damaging and deleting different blobs on
 * one store at once (run under TSan too). */
static void test_concurrent_blobs(void **state)
{
	(void)state;
	struct env e;
	pthread_t th[4];
	struct conc c[4];
	env_open(&e, 4, 2, 2, 16384);
	for (int i = 0; i < 4; i++) {
		c[i] = (struct conc){.e = &e, .id = i};
		assert_int_equal(pthread_create(&th[i], NULL, conc_worker, &c[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(c[i].failures, 0);
	}
	/* Every damaged blob was queued and then deleted: a deleted blob
	 * leaves the heal queue, so a healer never reports it as lost. */
	assert_int_equal(data_heal_queue_len(e.s), 0);
	assert_int_equal(count_files(&e.t, "blobs"), 0);
	assert_int_equal(count_files(&e.t, "tmp"), 0);
	env_close(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_sizes),
		cmocka_unit_test(test_every_range),
		cmocka_unit_test(test_corruption_reconstructs),
		cmocka_unit_test(test_every_view),
		cmocka_unit_test(test_view_reconstructs),
		cmocka_unit_test(test_rebuild_shard),
		cmocka_unit_test(test_too_many_lost),
		cmocka_unit_test(test_heal_byte_identical),
		cmocka_unit_test(test_heal_relocates_from_offline_drive),
		cmocka_unit_test(test_delete_idempotent),
		cmocka_unit_test(test_heal_queue),
		cmocka_unit_test(test_xxh3_and_mirror_layouts),
		cmocka_unit_test(test_concurrent_blobs),
		cmocka_unit_test(test_pins),
		cmocka_unit_test(test_nowait_cached),
		cmocka_unit_test(test_nowait_damage),
		cmocka_unit_test(test_nowait_faults),
		cmocka_unit_test(test_nowait_unsupported),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests_name("data_blob", tests, NULL, NULL);
}
