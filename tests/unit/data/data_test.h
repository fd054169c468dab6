/*
 * tests/unit/data/data_test.h — helpers shared by the data module's tests:
 * temporary drive directories, a deterministic PRNG, file helpers, and a
 * fault-injecting struct data_io that fails the Nth matching disk call.
 */
#ifndef CAIRN_TEST_DATA_TEST_H
#define CAIRN_TEST_DATA_TEST_H

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/data.h"

struct tdirs {
	char root[64];
	char *paths[DATA_MAX_SHARDS + 4];
	int n;
};

static inline void tdirs_make(struct tdirs *t, int n)
{
	strcpy(t->root, "/tmp/cairn-data-XXXXXX");
	if (!mkdtemp(t->root))
		abort();
	t->n = n;
	for (int i = 0; i < n; i++) {
		t->paths[i] = malloc(128);
		snprintf(t->paths[i], 128, "%s/d%d", t->root, i);
	}
}

static inline int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static inline void tdirs_free(struct tdirs *t)
{
	nftw(t->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	for (int i = 0; i < t->n; i++)
		free(t->paths[i]);
}

static int count_n;
static inline int count_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)p;
	(void)st;
	(void)f;
	if (flag == FTW_F)
		count_n++;
	return 0;
}

/* Regular files under <drive>/<sub> summed over all drives. */
static inline int count_files(struct tdirs *t, const char *sub)
{
	char p[256];
	count_n = 0;
	for (int i = 0; i < t->n; i++) {
		snprintf(p, sizeof(p), "%s/%s", t->paths[i], sub);
		nftw(p, count_one, 16, FTW_PHYS);
	}
	return count_n;
}

static inline uint64_t prng(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static inline void fill(uint8_t *buf, size_t len, uint64_t seed)
{
	uint64_t s = seed * 2654435761u + 88172645463325252ULL;
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(prng(&s) >> 24);
}

static inline uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
	if (n > 0 && fread(b, 1, (size_t)n, f) != (size_t)n)
		abort();
	fclose(f);
	*len = (size_t)n;
	return b;
}

/* Path of shard i of blob id (layout l) on the drive with the given path. */
static inline void shard_file(const char *drive, const uint8_t *id, int i, char *out, size_t cap)
{
	char hex[33];
	for (int j = 0; j < 16; j++)
		sprintf(hex + 2 * j, "%02x", id[j]);
	snprintf(out, cap, "%s/blobs/%.2s/%.2s/%s.%d", drive, hex, hex + 2, hex, i);
}

/* --- fault injection --- */
enum {
	F_OPEN = 1,
	F_PWRITE = 2,
	F_PREAD = 4,
	F_FSYNC = 8,
	F_RENAME = 16,
	F_UNLINK = 32,
	F_MKDIR = 64,
	F_STATVFS = 128,
	F_CLOSE = 256,
	F_OPEN_CACHED = 512, /* the no-wait pair, when fault_nowait gave them */
	F_PREAD_NOWAIT = 1024
};

struct fault {
	struct data_io io;
	unsigned ops;	 /* which calls count */
	long nth;	 /* fail the nth counted call (1-based); 0: never */
	int err;	 /* errno to fail with */
	int short_write; /* a failing pwrite first writes half (then errors) */
	long calls;
	int fired;
	uint64_t avail; /* fake free bytes for statvfs; 0: real */
	uint64_t total; /* fake size for statvfs (with avail); 0: real */
};

static inline int fault_hit(struct fault *f, unsigned op)
{
	if (!(f->ops & op))
		return 0;
	/* Atomic: the writer fsyncs shards from several threads. */
	long c = __atomic_add_fetch(&f->calls, 1, __ATOMIC_SEQ_CST);
	if (f->nth && c == f->nth) {
		f->fired = 1;
		return 1;
	}
	return 0;
}

static inline int fo_open(void *c, const char *p, int fl, int mode)
{
	struct fault *f = c;
	if (fault_hit(f, F_OPEN))
		return -f->err;
	return data_io_posix()->open(NULL, p, fl, mode);
}
static inline int fo_close(void *c, int fd)
{
	struct fault *f = c;
	int rc = data_io_posix()->close(NULL, fd);
	if (fault_hit(f, F_CLOSE))
		return -f->err;
	return rc;
}
static inline ssize_t fo_pwrite(void *c, int fd, const void *b, size_t len, off_t off)
{
	struct fault *f = c;
	if (fault_hit(f, F_PWRITE)) {
		if (f->short_write && len > 1)
			return data_io_posix()->pwrite(NULL, fd, b, len / 2, off);
		return -f->err;
	}
	return data_io_posix()->pwrite(NULL, fd, b, len, off);
}
static inline ssize_t fo_pread(void *c, int fd, void *b, size_t len, off_t off)
{
	struct fault *f = c;
	if (fault_hit(f, F_PREAD))
		return -f->err;
	return data_io_posix()->pread(NULL, fd, b, len, off);
}
static inline int fo_fsync(void *c, int fd)
{
	struct fault *f = c;
	if (fault_hit(f, F_FSYNC))
		return -f->err;
	return data_io_posix()->fsync(NULL, fd);
}
static inline int fo_rename(void *c, const char *a, const char *b)
{
	struct fault *f = c;
	if (fault_hit(f, F_RENAME))
		return -f->err;
	return data_io_posix()->rename(NULL, a, b);
}
static inline int fo_unlink(void *c, const char *p)
{
	struct fault *f = c;
	if (fault_hit(f, F_UNLINK))
		return -f->err;
	return data_io_posix()->unlink(NULL, p);
}
static inline int fo_mkdir(void *c, const char *p, int mode)
{
	struct fault *f = c;
	if (fault_hit(f, F_MKDIR))
		return -f->err;
	return data_io_posix()->mkdir(NULL, p, mode);
}
static inline int fo_statvfs(void *c, const char *p, struct statvfs *st)
{
	struct fault *f = c;
	if (fault_hit(f, F_STATVFS))
		return -f->err;
	int rc = data_io_posix()->statvfs(NULL, p, st);
	if (rc == 0 && f->avail) {
		st->f_frsize = 4096;
		st->f_bavail = f->avail / 4096;
		if (f->total)
			st->f_blocks = f->total / 4096;
	}
	return rc;
}

static inline int fo_open_cached(void *c, const char *p, int fl)
{
	struct fault *f = c;
	if (fault_hit(f, F_OPEN_CACHED))
		return -f->err;
	return data_io_posix()->open_cached(NULL, p, fl);
}
static inline ssize_t fo_pread_nowait(void *c, int fd, void *b, size_t len, off_t off)
{
	struct fault *f = c;
	if (fault_hit(f, F_PREAD_NOWAIT))
		return -f->err;
	return data_io_posix()->pread_nowait(NULL, fd, b, len, off);
}

/* Without the no-wait pair, as an io may be. */
static inline void fault_init(struct fault *f)
{
	memset(f, 0, sizeof(*f));
	f->io = (struct data_io){.open = fo_open,
				 .close = fo_close,
				 .pwrite = fo_pwrite,
				 .pread = fo_pread,
				 .fsync = fo_fsync,
				 .rename = fo_rename,
				 .unlink = fo_unlink,
				 .mkdir = fo_mkdir,
				 .statvfs = fo_statvfs,
				 .ctx = f};
}

/* Gives f the no-wait pair too (through the POSIX one). */
static inline void fault_nowait(struct fault *f)
{
	f->io.open_cached = fo_open_cached;
	f->io.pread_nowait = fo_pread_nowait;
}

#endif
