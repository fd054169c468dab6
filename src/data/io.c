/*
 * data/io.c — the POSIX implementation of struct data_io and small helpers
 * built on any data_io (full reads/writes, mkdir -p with parent fsync,
 * directory fsync, error mapping).
 *
 * Layer: data. Every disk call of the data module goes through a data_io so
 * the fault layer in tests sees it. Thread rules: any thread; the one piece
 * of state is an atomic flag set when the kernel lacks the no-wait calls.
 */
#include "data/data_int.h"

#include "core/err.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

static int px_open(void *ctx, const char *path, int flags, int mode)
{
	(void)ctx;
	int fd = open(path, flags | O_CLOEXEC, mode);
	return fd < 0 ? -errno : fd;
}

static int px_close(void *ctx, int fd)
{
	(void)ctx;
	return close(fd) < 0 ? -errno : 0;
}

static ssize_t px_pwrite(void *ctx, int fd, const void *buf, size_t len, off_t off)
{
	(void)ctx;
	ssize_t n = pwrite(fd, buf, len, off);
	return n < 0 ? -errno : n;
}

static ssize_t px_pread(void *ctx, int fd, void *buf, size_t len, off_t off)
{
	(void)ctx;
	ssize_t n = pread(fd, buf, len, off);
	return n < 0 ? -errno : n;
}

static int px_fsync(void *ctx, int fd)
{
	(void)ctx;
	return fsync(fd) < 0 ? -errno : 0;
}

static int px_rename(void *ctx, const char *from, const char *to)
{
	(void)ctx;
	return rename(from, to) < 0 ? -errno : 0;
}

static int px_unlink(void *ctx, const char *path)
{
	(void)ctx;
	return unlink(path) < 0 ? -errno : 0;
}

static int px_mkdir(void *ctx, const char *path, int mode)
{
	(void)ctx;
	return mkdir(path, (mode_t)mode) < 0 ? -errno : 0;
}

static int px_statvfs(void *ctx, const char *path, struct statvfs *st)
{
	(void)ctx;
	return statvfs(path, st) < 0 ? -errno : 0;
}

/* Set once the kernel has refused either no-wait call as unknown, so a
 * GET on an older kernel (before 5.12) costs no failing syscall after the
 * first. Relaxed: a stale 0 costs one more refusal. */
static _Atomic int nowait_unsupported;

static int nowait_refused(int err)
{
	if (err == -ENOSYS || err == -EINVAL || err == -EOPNOTSUPP) {
		atomic_store_explicit(&nowait_unsupported, 1, memory_order_relaxed);
		return -EOPNOTSUPP;
	}
	return err;
}

/* RESOLVE_CACHED fails with EAGAIN where the lookup would need the disk
 * (a dentry or inode not in memory). O_NOATIME because an atime update
 * dirties the inode, which can wait on the journal; a file this process
 * does not own refuses it (EPERM), and is opened without. EPERM again is
 * no file's answer (that is EACCES) but a seccomp filter's that does not
 * know openat2: unsupported. */
static int px_open_cached(void *ctx, const char *path, int flags)
{
	struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC | O_NOATIME),
			       .resolve = RESOLVE_CACHED};
	long fd;

	(void)ctx;
	if (atomic_load_explicit(&nowait_unsupported, memory_order_relaxed))
		return -EOPNOTSUPP;
	fd = syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
	if (fd < 0 && errno == EPERM) {
		how.flags &= ~(uint64_t)O_NOATIME;
		fd = syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
		if (fd < 0 && errno == EPERM)
			errno = ENOSYS;
	}
	return fd < 0 ? nowait_refused(-errno) : (int)fd;
}

static ssize_t px_pread_nowait(void *ctx, int fd, void *buf, size_t len, off_t off)
{
	struct iovec iov = {.iov_base = buf, .iov_len = len};

	(void)ctx;
	if (atomic_load_explicit(&nowait_unsupported, memory_order_relaxed))
		return -EOPNOTSUPP;
	ssize_t n = preadv2(fd, &iov, 1, off, RWF_NOWAIT);
	return n < 0 ? nowait_refused(-errno) : n;
}

/* fstat for the length, then mincore(2) of a mapping of the range: the
 * mapping is never touched, so it costs no page fault. Since Linux 5.0
 * mincore reports every page as resident for a file the caller neither owns
 * nor may write (a side-channel fix), so such a file, which this server did
 * not create, is never taken as cached. */
static ssize_t px_resident(void *ctx, int fd, off_t off, size_t len)
{
	long page = sysconf(_SC_PAGESIZE);
	struct stat st;
	unsigned char vec[256];
	uid_t me = geteuid();
	int ok = 1;

	(void)ctx;
	if (off < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (me != 0 && st.st_uid != me))
		return -EAGAIN;
	if (off >= st.st_size)
		return 0;
	if ((uint64_t)(st.st_size - off) < len)
		len = (size_t)(st.st_size - off);
	off_t start = off & ~(off_t)(page - 1);
	size_t span = (size_t)(off - start) + len;
	uint8_t *m = mmap(NULL, span, PROT_READ, MAP_SHARED, fd, start);
	if (m == MAP_FAILED)
		return -EAGAIN;
	for (size_t done = 0; ok && done < span;) {
		size_t n = span - done, pages;
		if (n > sizeof(vec) * (size_t)page)
			n = sizeof(vec) * (size_t)page;
		pages = (n + (size_t)page - 1) / (size_t)page;
		if (mincore(m + done, n, vec) != 0)
			ok = 0;
		for (size_t i = 0; ok && i < pages; i++)
			ok = vec[i] & 1;
		done += n;
	}
	munmap(m, span);
	return ok ? (ssize_t)len : -EAGAIN;
}

static const struct data_io posix_io = {
	.open = px_open,
	.close = px_close,
	.pwrite = px_pwrite,
	.pread = px_pread,
	.fsync = px_fsync,
	.rename = px_rename,
	.unlink = px_unlink,
	.mkdir = px_mkdir,
	.statvfs = px_statvfs,
	.open_cached = px_open_cached,
	.pread_nowait = px_pread_nowait,
	.resident = px_resident,
	.ctx = NULL,
};

const struct data_io *data_io_posix(void)
{
	return &posix_io;
}

int dio_write_all(const struct data_io *io, int fd, const void *buf, size_t len, off_t off)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = io->pwrite(io->ctx, fd, p, len, off);
		if (n < 0) {
			if (n == -EINTR)
				continue;
			return (int)n;
		}
		if (n == 0)
			return -EIO; /* no progress: treat as a device error */
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* Reads until len, end of file or an error, through rd (pread or
 * pread_nowait): the one loop both helpers share. */
static ssize_t read_loop(const struct data_io *io,
			 ssize_t (*rd)(void *ctx, int fd, void *buf, size_t len, off_t off), int fd,
			 void *buf, size_t len, off_t off)
{
	uint8_t *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = rd(io->ctx, fd, p + got, len - got, off + (off_t)got);
		if (n < 0) {
			if (n == -EINTR)
				continue;
			return n;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

ssize_t dio_read_full(const struct data_io *io, int fd, void *buf, size_t len, off_t off)
{
	return read_loop(io, io->pread, fd, buf, len, off);
}

ssize_t dio_read_cached(const struct data_io *io, int fd, void *buf, size_t len, off_t off)
{
	if (!io->pread_nowait)
		return -EOPNOTSUPP;
	return read_loop(io, io->pread_nowait, fd, buf, len, off);
}

int dio_fsync_dir(const struct data_io *io, const char *path)
{
	int fd = io->open(io->ctx, path, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return fd;
	int rc = io->fsync(io->ctx, fd);
	int rc2 = io->close(io->ctx, fd);
	return rc ? rc : rc2;
}

int dio_mkdirs(const struct data_io *io, const char *root, const char *path, int sync)
{
	char buf[DATA_PATH_MAX];
	size_t rl = strlen(root);
	size_t pl = strlen(path);

	if (pl >= sizeof(buf) || pl <= rl || strncmp(root, path, rl) != 0)
		return CN_EINVAL;
	memcpy(buf, path, pl + 1);
	char *last = strrchr(buf, '/');
	if (!last || (size_t)(last - buf) <= rl)
		return 0;
	*last = '\0';
	/* Walk the components after root, creating each that is missing. */
	for (char *p = buf + rl + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char save = *p;
		*p = '\0';
		int rc = io->mkdir(io->ctx, buf, 0700);
		if (rc == 0 && sync) {
			/* New entry: make it durable in its parent. */
			char *sl = strrchr(buf, '/');
			*sl = '\0';
			rc = dio_fsync_dir(io, buf);
			*sl = '/';
			if (rc < 0)
				return rc;
		} else if (rc != 0 && rc != -EEXIST) {
			return rc;
		}
		*p = save;
		if (save == '\0')
			break;
	}
	return 0;
}

int dio_err(int err)
{
	if (err == -ENOSPC || err == -EDQUOT)
		return CN_ENOSPACE;
	return err;
}

int dio_is_drive_fault(int err)
{
	return err == -EIO || err == -ENXIO || err == -ENODEV || err == -EROFS ||
	       err == -ENOTCONN || err == -ESTALE;
}
