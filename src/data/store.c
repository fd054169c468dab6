/*
 * data/store.c — drives and the store: format markers, the recorded drive
 * set, open/close, adoption of replacement drives, the online/offline state
 * of each drive, free-space checks, shard paths, and the heal queue.
 *
 * Drive format marker <drive>/.cairn-format, format version 1:
 *   OFFSET  SIZE  MEANING
 *   0       8     magic "CAIRNDRV"
 *   8       4     format version (1)
 *   12      16    deployment id (the same on every drive of a store)
 *   28      16    drive id (unique; recorded in blob layouts)
 *   44      4     CRC32C of bytes [0, 44)
 * followed (since drive sets; older binaries read only the 48 bytes above,
 * so the format version stays 1) by the drive set, n = drives in the set:
 *   48      8     magic "CAIRNSET"
 *   56      8     set epoch (bumped by every replacement; highest wins)
 *   64      2     position of this drive in the set
 *   66      2     n
 *   68      4     this drive's flags: bit 0 REBUILD (adopted, shards still
 *                 being rebuilt onto it)
 *   72      20*n  per position: drive id (16), incarnation (2), flags (2:
 *                 bit 0 = its root was a mount point when it was formatted)
 *   72+20n  4     CRC32C of bytes [48, 72+20n)
 * A marker without a valid set section is a drive of a store made before
 * drive sets; the set is recorded once every drive is online.
 *
 * Rules: the first start (no drive has a marker) creates the directories and
 * formats all drives with a new deployment id and records the set. A later
 * start never formats a drive silently: a missing directory, or one without a
 * marker, stays offline unless opt->format_new is set and all of these hold
 * (else it is logged why, and `cairn admin drive replace` may adopt it):
 *  - the directory is empty (a lone lost+found or marker temp file allowed);
 *  - the store has a recorded set and the set's drive at this position
 *    (same id and incarnation) is on none of the given directories: the store
 *    positively knows a member is missing here;
 *  - at least half of the set's drives are present (a start with most drives
 *    empty is a wrong command line or unmounted disks, not a replacement);
 *  - it is not dirs[0] when opt->keep_first (the metadata lives there);
 *  - if the missing drive was a mount point, the directory is one too (an
 *    empty plain directory there is most likely an unmounted disk).
 * An adopted directory gets the missing drive's id with the next incarnation
 * and the REBUILD flag, so blob layouts stay valid and their shards are
 * rebuilt in place; the other drives' markers are rewritten with the new
 * epoch. A drive whose id is in the set with an older incarnation (the
 * replaced disk, come back) or not at all is stale: it stays offline and
 * nothing is written to it. A marker of another deployment (the minority
 * one: the store is the deployment most drives belong to) refuses the
 * start. An open drive is locked (flock on its marker) so two processes never
 * share it, and its root (st_dev, st_ino) is remembered: if it changes, the
 * drive was unmounted under us and is marked offline.
 *
 * Every check runs before the first write (check_set, judge, apply_set).
 * Each mismatch is a "problem", logged with the drive and kept for the
 * status: a drive missing, empty and not adoptable, unreadable, of another
 * deployment, stale, not a member, in another position than the set's
 * (swapped), or a set member on no given directory. opt->set_check decides:
 * LENIENT leaves such drives offline (another deployment still refuses),
 * STRICT (the server) refuses the start, DEGRADED (--allow-degraded) opens
 * without them and writes nothing to them, unless the problem is dirs[0]
 * under keep_first (the metadata lives there).
 */
#include "data/data_int.h"

#include "core/clock.h"
#include "core/digest.h"
#include "core/err.h"
#include "core/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define MARKER_MAGIC "CAIRNDRV"
#define MARKER_VERSION 1
#define MARKER_LEN 48
#define MAX_DRIVES 256
#define SET_MAGIC "CAIRNSET"
#define SET_FIXED 24
#define SET_ENTRY 20
#define MARKER_MAX (MARKER_LEN + SET_FIXED + SET_ENTRY * MAX_DRIVES + 4)
#define DRIVE_F_REBUILD 1u /* own flags */
#define SLOT_F_MOUNT 1u	   /* set entry flags */
#define REBUILD_FILE ".cairn-rebuild"
#define REBUILD_MAX (64u << 10)

enum mstate { M_OK, M_NONE, M_NODIR, M_BAD, M_FORMAT, M_STALE };

struct probe {
	enum mstate st;
	uint8_t dep[DATA_ID_LEN];
	uint8_t id[DATA_ID_LEN];
	struct drive_set set; /* n = 0: no set section */
	int pos;
	uint32_t flags;
	int member; /* matched the winning set (id, incarnation, position) */
	int adopt;  /* an empty directory to adopt once every check passed */
	int setpos; /* check_set: position of its id in the set, -1: none */
	int hole;   /* check_set: no usable drive here, reported as such */
};

static void put32le(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put16le(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static uint16_t get16le(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void put64le(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64le(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static int random_id(uint8_t out[DATA_ID_LEN])
{
	size_t got = 0;
	while (got < DATA_ID_LEN) {
		ssize_t n = getrandom(out + got, DATA_ID_LEN - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	return 0;
}

static int join(char *out, size_t cap, const char *a, const char *b)
{
	int n = snprintf(out, cap, "%s/%s", a, b);
	return (n < 0 || (size_t)n >= cap) ? CN_ETOOBIG : 0;
}

/* Parses the set section of a marker (buf[0..len), len > MARKER_LEN); a
 * missing or damaged section leaves p->set.n at 0 (a pre-set marker). */
static void parse_set(const uint8_t *buf, size_t len, struct probe *p)
{
	const uint8_t *x = buf + MARKER_LEN;
	size_t avail = len - MARKER_LEN;

	if (avail < SET_FIXED + 4 || memcmp(x, SET_MAGIC, 8) != 0)
		return;
	int n = get16le(x + 18), pos = get16le(x + 16);
	size_t need = SET_FIXED + (size_t)SET_ENTRY * (size_t)n + 4;
	if (n < 1 || n > MAX_DRIVES || pos >= n || avail < need ||
	    get32le(x + need - 4) != cn_crc32c(0, x, need - 4))
		return;
	p->set.e = calloc((size_t)n, sizeof(*p->set.e));
	if (!p->set.e)
		return;
	p->set.epoch = get64le(x + 8);
	p->set.n = n;
	p->pos = pos;
	p->flags = get32le(x + 20);
	for (int i = 0; i < n; i++) {
		const uint8_t *e = x + SET_FIXED + (size_t)SET_ENTRY * (size_t)i;
		memcpy(p->set.e[i].id, e, DATA_ID_LEN);
		p->set.e[i].inc = get16le(e + 16);
		p->set.e[i].flags = get16le(e + 18);
	}
}

static void probe_release(struct probe *p)
{
	free(p->set.e);
	p->set.e = NULL;
	p->set.n = 0;
}

static void probe_drive(const struct data_io *io, const char *dir, struct probe *p)
{
	char path[DATA_PATH_MAX];
	uint8_t *buf = NULL;
	struct stat st;

	memset(p, 0, sizeof(*p));
	p->pos = -1;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		p->st = M_NODIR;
		return;
	}
	if (join(path, sizeof(path), dir, DATA_MARKER)) {
		p->st = M_BAD;
		return;
	}
	int fd = io->open(io->ctx, path, O_RDONLY, 0);
	if (fd < 0) {
		p->st = fd == -ENOENT ? M_NONE : M_BAD;
		return;
	}
	buf = malloc(MARKER_MAX);
	ssize_t n = buf ? dio_read_full(io, fd, buf, MARKER_MAX, 0) : CN_ENOMEM;
	io->close(io->ctx, fd);
	if (n < MARKER_LEN || memcmp(buf, MARKER_MAGIC, 8) != 0 ||
	    get32le(buf + 44) != cn_crc32c(0, buf, 44)) {
		p->st = M_BAD;
		goto out;
	}
	if (get32le(buf + 8) != MARKER_VERSION) {
		p->st = M_FORMAT;
		goto out;
	}
	memcpy(p->dep, buf + 12, DATA_ID_LEN);
	memcpy(p->id, buf + 28, DATA_ID_LEN);
	if (n > MARKER_LEN)
		parse_set(buf, (size_t)n, p);
	p->st = M_OK;
out:
	free(buf);
}

/* A mount point's root is on another device than its parent (or is /). */
static int is_mount_point(const char *dir)
{
	char parent[DATA_PATH_MAX];
	struct stat a, b;

	if (snprintf(parent, sizeof(parent), "%s/..", dir) >= (int)sizeof(parent) ||
	    stat(dir, &a) != 0 || stat(parent, &b) != 0)
		return 0;
	return a.st_dev != b.st_dev || a.st_ino == b.st_ino;
}

/* Writes drive `d`'s marker with the store's set (tmp + fsync + rename +
 * dir fsync): deployment, its id, its position and its own flags. */
static int write_marker(const struct data_io *io, const char *dir, const uint8_t dep[DATA_ID_LEN],
			const uint8_t id[DATA_ID_LEN], const struct drive_set *set, int pos,
			uint32_t flags)
{
	char path[DATA_PATH_MAX], tmp[DATA_PATH_MAX];
	size_t len = MARKER_LEN;
	uint8_t *buf = malloc(MARKER_MAX);
	int rc, fd;

	if (!buf)
		return CN_ENOMEM;
	memcpy(buf, MARKER_MAGIC, 8);
	put32le(buf + 8, MARKER_VERSION);
	memcpy(buf + 12, dep, DATA_ID_LEN);
	memcpy(buf + 28, id, DATA_ID_LEN);
	put32le(buf + 44, cn_crc32c(0, buf, 44));
	if (set && set->n > 0) {
		uint8_t *x = buf + MARKER_LEN;
		memcpy(x, SET_MAGIC, 8);
		put64le(x + 8, set->epoch);
		put16le(x + 16, (uint16_t)pos);
		put16le(x + 18, (uint16_t)set->n);
		put32le(x + 20, flags);
		for (int i = 0; i < set->n; i++) {
			uint8_t *e = x + SET_FIXED + (size_t)SET_ENTRY * (size_t)i;
			memcpy(e, set->e[i].id, DATA_ID_LEN);
			put16le(e + 16, set->e[i].inc);
			put16le(e + 18, set->e[i].flags);
		}
		size_t sl = SET_FIXED + (size_t)SET_ENTRY * (size_t)set->n;
		put32le(x + sl, cn_crc32c(0, x, sl));
		len += sl + 4;
	}
	if ((rc = join(path, sizeof(path), dir, DATA_MARKER)) != 0 ||
	    (rc = join(tmp, sizeof(tmp), dir, DATA_MARKER ".tmp")) != 0)
		goto out;
	fd = io->open(io->ctx, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		rc = fd;
		goto out;
	}
	rc = dio_write_all(io, fd, buf, len, 0);
	if (rc == 0)
		rc = io->fsync(io->ctx, fd);
	io->close(io->ctx, fd);
	if (rc == 0)
		rc = io->rename(io->ctx, tmp, path);
	if (rc == 0)
		rc = dio_fsync_dir(io, dir);
	if (rc != 0)
		io->unlink(io->ctx, tmp);
out:
	free(buf);
	return dio_err(rc);
}

/* A new drive: a random id, then its marker. */
static int format_drive(const struct data_io *io, const char *dir, const uint8_t dep[DATA_ID_LEN],
			uint8_t id_out[DATA_ID_LEN])
{
	int rc = random_id(id_out);
	return rc ? rc : write_marker(io, dir, dep, id_out, NULL, 0, 0);
}

/* Empty, but for what a fresh file system or an interrupted format leaves:
 * an empty lost+found and a marker temp file. */
static int dir_is_empty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int empty = 1;

	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    strcmp(e->d_name, DATA_MARKER ".tmp") == 0)
			continue;
		if (strcmp(e->d_name, "lost+found") == 0) {
			char sub[DATA_PATH_MAX];
			if (join(sub, sizeof(sub), dir, e->d_name) == 0 && dir_is_empty(sub))
				continue;
		}
		empty = 0;
		break;
	}
	closedir(d);
	return empty;
}

/* mkdir -p for a drive directory on first start. */
static int mkdir_p(const char *dir)
{
	char buf[DATA_PATH_MAX];
	size_t len = strlen(dir);

	if (len >= sizeof(buf))
		return CN_ETOOBIG;
	memcpy(buf, dir, len + 1);
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char save = *p;
		*p = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return -errno;
		*p = save;
		if (!save)
			break;
	}
	return 0;
}

/* Removes leftover temporary shard files of crashed writers. */
static void clean_tmp(const struct data_io *io, const char *dir)
{
	char tdir[DATA_PATH_MAX], path[DATA_PATH_MAX];
	if (join(tdir, sizeof(tdir), dir, DATA_TMP))
		return;
	DIR *d = opendir(tdir);
	if (!d)
		return;
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (join(path, sizeof(path), tdir, e->d_name) == 0 &&
		    io->unlink(io->ctx, path) == 0)
			n++;
	}
	closedir(d);
	if (n > 0)
		log_info("data: removed %d temporary file(s) in %s", n, tdir);
}

/* Takes the lock, records the root identity, creates tmp/ and blobs/. */
static int attach_drive(struct data_store *s, struct data_drive *d)
{
	char path[DATA_PATH_MAX];
	const struct data_io *io = s->io;
	struct stat st;
	int rc;

	if ((rc = join(path, sizeof(path), d->path, DATA_MARKER)) != 0)
		return rc;
	int fd = io->open(io->ctx, path, O_RDONLY, 0);
	if (fd < 0)
		return fd;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		io->close(io->ctx, fd);
		log_error("data: drive %s is in use by another process", d->path);
		return CN_EDRIVE;
	}
	d->lock_fd = fd;
	if (stat(d->path, &st) != 0)
		return -errno;
	d->dev = st.st_dev;
	d->ino = st.st_ino;
	const char *subs[] = {DATA_TMP, DATA_BLOBS};
	for (int i = 0; i < 2; i++) {
		if ((rc = join(path, sizeof(path), d->path, subs[i])) != 0)
			return rc;
		rc = io->mkdir(io->ctx, path, 0700);
		if (rc == 0) {
			rc = dio_fsync_dir(io, d->path);
		} else if (rc == -EEXIST) {
			/* Stores made before 0.1.1 used 0755/0644: closing the
			 * top directories closes everything beneath them, without
			 * a walk over every shard. */
			rc = chmod(path, 0700) == 0 ? 0 : -errno;
		}
		if (rc != 0)
			return dio_err(rc);
	}
	clean_tmp(io, d->path);
	atomic_store(&d->online, 1);
	return 0;
}

static uint32_t own_flags(const struct data_drive *d)
{
	return atomic_load(&d->rebuild) ? DRIVE_F_REBUILD : 0;
}

/* Rewrites drive d's marker with the store's set and moves the lock to the
 * new file (the rename left the old lock on the old inode). */
static int rewrite_marker(struct data_store *s, struct data_drive *d)
{
	char path[DATA_PATH_MAX];
	int rc = write_marker(s->io, d->path, s->deployment, d->id, &s->set, d->pos, own_flags(d));
	if (rc != 0 || d->lock_fd < 0)
		return rc;
	if ((rc = join(path, sizeof(path), d->path, DATA_MARKER)) != 0)
		return rc;
	int fd = s->io->open(s->io->ctx, path, O_RDONLY, 0);
	if (fd < 0)
		return fd;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		s->io->close(s->io->ctx, fd);
		return CN_EDRIVE;
	}
	s->io->close(s->io->ctx, d->lock_fd);
	d->lock_fd = fd;
	return 0;
}

/* Set position `pos` is the place of drive i: may the (offline, marker-less)
 * directory of drive i be adopted as the replacement of the set's drive
 * there? `present`: members found (at open) or online (at run time). On
 * refusal writes why and returns an error. Caller holds set_lock or is the
 * only thread. */
static int may_adopt(struct data_store *s, int i, int present, int force, char *why, size_t cap)
{
	struct data_drive *d = &s->drives[i];

	if (s->set.n == 0) {
		snprintf(why, cap,
			 "this store has no recorded drive set yet (made by an older cairn, "
			 "and not all drives were online since); it cannot tell which drive "
			 "is missing");
		return CN_EINVAL;
	}
	if (i >= s->set.n) {
		snprintf(why, cap, "position %d is beyond the recorded drive set of %d drives", i,
			 s->set.n);
		return CN_EINVAL;
	}
	for (int j = 0; j < s->n; j++) {
		if (j != i && s->drives[j].pos == i) {
			snprintf(why, cap, "the set's drive at position %d is %s", i,
				 s->drives[j].path);
			return CN_EINVAL;
		}
	}
	if (i == 0 && s->opt.keep_first) {
		snprintf(why, cap,
			 "it is the first directory, which held the metadata; the other "
			 "drives cannot rebuild that");
		return CN_EINVAL;
	}
	if (!dir_is_empty(d->path)) {
		snprintf(why, cap, "it is not empty");
		return CN_EEXIST;
	}
	if (present * 2 < s->set.n || present == 0) {
		snprintf(why, cap,
			 "only %d of the set's %d drives are present; refusing to adopt "
			 "(wrong directories or unmounted disks?)",
			 present, s->set.n);
		return CN_EDRIVE;
	}
	if (!force && (s->set.e[i].flags & SLOT_F_MOUNT) && !is_mount_point(d->path)) {
		snprintf(why, cap,
			 "the missing drive was a mount point but this is a plain directory: "
			 "probably an unmounted disk. Mount the new disk there, or run "
			 "`cairn admin drive replace %s --force` to adopt it anyway",
			 d->path);
		return CN_EDRIVE;
	}
	return 0;
}

/* Sets drive d's id. Lookups on other threads read the words, never d->id:
 * a lookup during the change sees each word old or new, and a mix names no
 * drive (ids are random). */
static void set_id(struct data_drive *d, const uint8_t id[DATA_ID_LEN])
{
	if (id != d->id)
		memcpy(d->id, id, DATA_ID_LEN);
	for (int w = 0; w < DATA_ID_LEN / 8; w++) {
		uint64_t v;
		memcpy(&v, d->id + 8 * w, 8);
		atomic_store_explicit(&d->id_word[w], v, memory_order_relaxed);
	}
}

static void load_id(const struct data_drive *d, uint8_t out[DATA_ID_LEN])
{
	for (int w = 0; w < DATA_ID_LEN / 8; w++) {
		uint64_t v = atomic_load_explicit(&d->id_word[w], memory_order_relaxed);
		memcpy(out + 8 * w, &v, 8);
	}
}

/* Formats drive i's directory as the next incarnation of the set's drive at
 * position i, flagged for rebuild. The other drives' markers still name the
 * old incarnation until the caller rewrites them; a crash in between is
 * repaired at the next start (the highest epoch wins). */
static int adopt(struct data_store *s, int i)
{
	struct data_drive *d = &s->drives[i];
	struct set_entry *e = &s->set.e[i];
	char hex[2 * DATA_ID_LEN + 1];
	int rc;

	e->inc++;
	e->flags = is_mount_point(d->path) ? SLOT_F_MOUNT : 0;
	s->set.epoch++;
	rc = write_marker(s->io, d->path, s->deployment, e->id, &s->set, i, DRIVE_F_REBUILD);
	if (rc != 0) {
		e->inc--;
		log_error("data: cannot format replacement drive %s: %s", d->path, cn_strerror(rc));
		return rc;
	}
	/* (a lookup during the change finds neither the old id nor the new
	 * one, as it would after it for the old id; nothing names the new one
	 * yet) */
	set_id(d, e->id);
	d->pos = i;
	atomic_store(&d->rebuild, 1);
	cn_hex(e->id, DATA_ID_LEN, hex);
	log_warn("data: ADOPTED %s as the replacement of drive %s (position %d, incarnation "
		 "%u -> %u): every shard that was on that drive will be rebuilt onto it",
		 d->path, hex, i, (unsigned)e->inc - 1, (unsigned)e->inc);
	return 0;
}

/* Records the set of a store whose drives are all present (first start, or
 * the first start of a store made before drive sets). */
static int record_set(struct data_store *s)
{
	int rc;

	s->set.e = calloc((size_t)s->n, sizeof(*s->set.e));
	if (!s->set.e)
		return CN_ENOMEM;
	s->set.n = s->n;
	s->set.epoch = 1;
	for (int i = 0; i < s->n; i++) {
		memcpy(s->set.e[i].id, s->drives[i].id, DATA_ID_LEN);
		s->set.e[i].flags = is_mount_point(s->drives[i].path) ? SLOT_F_MOUNT : 0;
		s->drives[i].pos = i;
	}
	for (int i = 0; i < s->n; i++)
		if ((rc = rewrite_marker(s, &s->drives[i])) != 0)
			return rc;
	return 0;
}

/* Records a drive-set problem found at open: logged now, kept for the
 * status. Drive i (-1: a set member with no directory) stays offline and
 * nothing is written to it; `what` is its state in one word. */
static void problem(struct data_store *s, struct probe *pr, int i, const char *what,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void problem(struct data_store *s, struct probe *pr, int i, const char *what,
		    const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("data: %s", msg);
	if (i >= 0) {
		s->drives[i].problem = what;
		pr[i].st = M_STALE;
		pr[i].member = 0;
	}
	char **np = realloc(s->problems, (size_t)(s->n_problems + 1) * sizeof(*np));
	if (!np)
		return;
	s->problems = np;
	int *nd = realloc(s->problem_drive, (size_t)(s->n_problems + 1) * sizeof(*nd));
	if (!nd)
		return;
	s->problem_drive = nd;
	nd[s->n_problems] = i;
	if ((np[s->n_problems] = strdup(msg)) != NULL)
		s->n_problems++;
}

/* A problem about a drive that is online now (replaced and adopted) is
 * resolved: status stops listing it. */
static int problem_open(struct data_store *s, int k)
{
	int i = s->problem_drive[k];
	return i < 0 || i >= s->n || !atomic_load(&s->drives[i].online);
}

/* With a recorded set, before anything is written: which given drives are
 * members in their position, which empty directories are to be adopted
 * (pr[i].adopt), and every problem. A member found in another position is
 * a problem too (a wrong command line), and is not used. */
static void check_set(struct data_store *s, struct probe *pr)
{
	char why[512], hex[2 * DATA_ID_LEN + 1];
	int present = 0;

	for (int i = 0; i < s->n; i++)
		pr[i].setpos = -1;
	for (int i = 0; i < s->n; i++) {
		struct data_drive *d = &s->drives[i];
		if (pr[i].st != M_OK)
			continue;
		int p = -1;
		for (int j = 0; j < s->set.n; j++)
			if (memcmp(s->set.e[j].id, pr[i].id, DATA_ID_LEN) == 0)
				p = j;
		unsigned inc = pr[i].set.n ? pr[i].set.e[pr[i].pos].inc : 0;
		cn_hex(pr[i].id, DATA_ID_LEN, hex);
		pr[i].setpos = p;
		if (p < 0) {
			problem(s, pr, i, "unknown",
				"drive %s (id %s) is not a member of this store's drive set",
				d->path, hex);
		} else if (s->set.e[p].inc != inc) {
			problem(s, pr, i, "stale",
				"drive %s (id %s, incarnation %u) was replaced by incarnation %u "
				"(wipe it to reuse the disk)",
				d->path, hex, inc, (unsigned)s->set.e[p].inc);
		} else if (p != i) {
			problem(s, pr, i, "swapped",
				"drive %s is directory %d of the drive set but was given as "
				"directory %d: give the directories in the set's order",
				d->path, p + 1, i + 1);
		} else {
			d->pos = p;
			atomic_store(&d->rebuild, pr[i].set.n && (pr[i].flags & DRIVE_F_REBUILD));
			pr[i].member = 1;
			present++;
		}
	}
	for (int i = 0; i < s->n; i++) {
		const char *path = s->drives[i].path;
		pr[i].hole = pr[i].st == M_NONE || pr[i].st == M_NODIR || pr[i].st == M_BAD;
		if (pr[i].st == M_NONE && s->opt.format_new) {
			if (may_adopt(s, i, present, 0, why, sizeof(why)) == 0)
				pr[i].adopt = 1;
			else
				problem(s, pr, i, "not-adopted",
					"drive %s is empty but is not adopted as a replacement: %s",
					path, why);
		} else if (pr[i].st == M_NONE) {
			problem(s, pr, i, "unformatted", "drive %s has no format marker", path);
		} else if (pr[i].st == M_NODIR) {
			problem(s, pr, i, "missing",
				"drive %s does not exist (or is not a directory)", path);
		} else if (pr[i].st == M_BAD) {
			problem(s, pr, i, "unreadable", "drive %s has an unreadable format marker",
				path);
		}
	}
	for (int j = 0; j < s->set.n; j++) {
		int found = j < s->n && pr[j].hole; /* reported above */
		for (int i = 0; i < s->n; i++)
			found |= pr[i].setpos == j;
		if (found)
			continue;
		cn_hex(s->set.e[j].id, DATA_ID_LEN, hex);
		problem(s, pr, -1, NULL,
			"drive %d of the %d-drive set (id %s) is on none of the given directories "
			"(left out of the command line?)",
			j + 1, s->set.n, hex);
	}
}

/* A store made before drive sets with a drive not present: which drive an
 * empty directory replaces is unknown, so none is adopted (the set is
 * recorded once all drives are online). */
static void check_unrecorded(struct data_store *s, struct probe *pr)
{
	for (int i = 0; i < s->n; i++) {
		const char *path = s->drives[i].path;
		if (pr[i].st == M_NONE)
			problem(s, pr, i, "unformatted",
				"drive %s has no format marker, and this store has no recorded "
				"drive set yet (made by an older cairn, not all drives online "
				"since), so it cannot be adopted as a replacement",
				path);
		else if (pr[i].st == M_NODIR)
			problem(s, pr, i, "missing",
				"drive %s does not exist (or is not a directory)", path);
		else if (pr[i].st == M_BAD)
			problem(s, pr, i, "unreadable", "drive %s has an unreadable format marker",
				path);
	}
}

/* After every check and before the first write: refuse, or go on without
 * the drives that have a problem. */
static int judge(struct data_store *s, int foreign)
{
	int first =
		s->opt.keep_first && s->drives[0].problem && s->opt.set_check != DATA_SET_LENIENT;

	if (s->n_problems == 0)
		return 0;
	if (s->opt.set_check == DATA_SET_STRICT || first ||
	    (foreign && s->opt.set_check != DATA_SET_DEGRADED)) {
		log_error("data: refusing to start: the directories given do not match the store's "
			  "drive set (%d problem%s above); nothing was written. To proceed: give "
			  "every drive's directory, in the set's order; to replace a failed drive, "
			  "put an EMPTY directory (a new, empty, mounted disk) in its place and it "
			  "is rebuilt; or start with --allow-degraded to serve without it%s",
			  s->n_problems, s->n_problems > 1 ? "s" : "",
			  first ? " (not when the first directory is the one missing: it holds the "
				  "metadata)"
				: "");
		return CN_EDRIVE;
	}
	if (s->opt.set_check == DATA_SET_DEGRADED)
		log_warn("data: DEGRADED: serving with %d drive-set problem%s (--allow-degraded); "
			 "those drives stay offline and redundancy is reduced until fixed",
			 s->n_problems, s->n_problems > 1 ? "s" : "");
	return 0;
}

/* After the checks passed: adopt the empty directories chosen, then every
 * member's marker carries the newest set. */
static int apply_set(struct data_store *s, struct probe *pr)
{
	int rc;

	for (int i = 0; i < s->n; i++) {
		if (!pr[i].adopt)
			continue;
		if ((rc = adopt(s, i)) != 0)
			return rc;
		pr[i].st = M_OK;
		pr[i].member = 1; /* rewritten below if a later adoption moves the epoch */
	}
	for (int i = 0; i < s->n; i++) {
		if (!pr[i].member)
			continue;
		if (pr[i].set.n && pr[i].set.epoch == s->set.epoch && pr[i].pos == s->drives[i].pos)
			continue;
		if ((rc = rewrite_marker(s, &s->drives[i])) != 0) {
			log_error("data: cannot update the marker of %s: %s", s->drives[i].path,
				  cn_strerror(rc));
			return rc;
		}
	}
	return 0;
}

static void fill_defaults(struct data_options *o)
{
	if (o->block_size == 0)
		o->block_size = DATA_BLOCK_DEFAULT;
	if (o->cksum == 0)
		o->cksum = DATA_CK_CRC32C;
	if (o->heal_queue_cap == 0)
		o->heal_queue_cap = 1024;
	if (!o->io)
		o->io = data_io_posix();
}

int data_store_open(const char *const *dirs, int n, const struct data_options *opt,
		    struct data_store **out)
{
	struct data_store *s = NULL;
	struct probe *pr = NULL;
	int rc = 0, have_marker = 0, have_dep = 0, win = -1, foreign = 0;

	*out = NULL;
	if (n < 1 || n > MAX_DRIVES)
		return CN_EINVAL;
	s = calloc(1, sizeof(*s));
	pr = calloc((size_t)n, sizeof(*pr));
	if (!s || !pr) {
		rc = CN_ENOMEM;
		goto fail;
	}
	if (opt)
		s->opt = *opt;
	fill_defaults(&s->opt);
	s->io = s->opt.io;
	if (s->opt.block_size < 64 || s->opt.block_size > DATA_BLOCK_MAX ||
	    (s->opt.cksum != DATA_CK_CRC32C && s->opt.cksum != DATA_CK_XXH3) ||
	    (s->opt.k == 0 && s->opt.m != 0) || s->opt.k + s->opt.m > DATA_MAX_SHARDS) {
		rc = CN_EINVAL;
		goto fail;
	}
	pthread_mutex_init(&s->hq_lock, NULL);
	pthread_mutex_init(&s->set_lock, NULL);
	pthread_mutex_init(&s->rec_lock, NULL);
	s->hq_cap = s->opt.heal_queue_cap;
	s->hq = calloc(s->hq_cap, sizeof(*s->hq));
	s->drives = calloc((size_t)n, sizeof(*s->drives));
	if (!s->hq || !s->drives || pins_init(s)) {
		rc = CN_ENOMEM;
		goto fail;
	}
	s->n = n;
	for (int i = 0; i < n; i++) {
		struct data_drive *d = &s->drives[i];
		d->lock_fd = -1;
		d->pos = -1;
		size_t len = strlen(dirs[i]);
		while (len > 1 && dirs[i][len - 1] == '/')
			len--;
		if (len == 0 || len > DATA_PATH_MAX - 128) {
			rc = CN_EINVAL;
			goto fail;
		}
		d->path = strndup(dirs[i], len);
		if (!d->path) {
			rc = CN_ENOMEM;
			goto fail;
		}
		probe_drive(s->io, d->path, &pr[i]);
		if (pr[i].st == M_FORMAT) {
			log_error("data: drive %s has an unsupported format version", d->path);
			rc = CN_EFORMAT;
			goto fail;
		}
		if (pr[i].st == M_BAD)
			log_warn("data: drive %s has an unreadable format marker", d->path);
		if (pr[i].st == M_OK || pr[i].st == M_BAD)
			have_marker = 1;
	}
	/* The store is the deployment most drives belong to (the first on a
	 * tie): one stray directory, even given first, is the foreign one. */
	for (int i = 0, best = 0; i < n; i++) {
		int votes = 0;
		for (int j = 0; j < n && pr[i].st == M_OK; j++)
			votes += pr[j].st == M_OK && memcmp(pr[j].dep, pr[i].dep, DATA_ID_LEN) == 0;
		if (votes > best) {
			best = votes;
			memcpy(s->deployment, pr[i].dep, DATA_ID_LEN);
			have_dep = 1;
		}
	}
	for (int i = 0; i < n && have_dep; i++) {
		struct data_drive *d = &s->drives[i];
		if (pr[i].st != M_OK)
			continue;
		if (memcmp(s->deployment, pr[i].dep, DATA_ID_LEN) != 0) {
			char a[2 * DATA_ID_LEN + 1], b[2 * DATA_ID_LEN + 1];
			cn_hex(pr[i].dep, DATA_ID_LEN, a);
			cn_hex(s->deployment, DATA_ID_LEN, b);
			problem(s, pr, i, "foreign",
				"drive %s belongs to another cairn store (deployment %s; this "
				"store is %s); give the right directory, or wipe it to use it as "
				"a replacement",
				d->path, a, b);
			foreign = 1;
			continue;
		}
		for (int j = 0; j < i; j++) {
			if (pr[j].st == M_OK && memcmp(pr[j].id, pr[i].id, DATA_ID_LEN) == 0) {
				log_error("data: drives %s and %s are the same drive",
					  s->drives[j].path, d->path);
				rc = CN_EINVAL;
				goto fail;
			}
		}
		set_id(d, pr[i].id);
		if (pr[i].set.n && (win < 0 || pr[i].set.epoch > pr[win].set.epoch))
			win = i;
	}
	if (!have_marker) {
		/* First start: create and format every drive. */
		if ((rc = random_id(s->deployment)) != 0)
			goto fail;
		for (int i = 0; i < n; i++) {
			struct data_drive *d = &s->drives[i];
			if ((rc = mkdir_p(d->path)) != 0 ||
			    (rc = format_drive(s->io, d->path, s->deployment, d->id)) != 0) {
				log_error("data: cannot format drive %s: %s", d->path,
					  cn_strerror(rc));
				goto fail;
			}
			set_id(d, d->id);
			pr[i].st = M_OK;
		}
	} else {
		if (win >= 0) {
			/* The newest recorded set wins: an interrupted replacement
			 * wrote it to the new drive first. */
			s->set.e = calloc((size_t)pr[win].set.n, sizeof(*s->set.e));
			if (!s->set.e) {
				rc = CN_ENOMEM;
				goto fail;
			}
			s->set.n = pr[win].set.n;
			s->set.epoch = pr[win].set.epoch;
			memcpy(s->set.e, pr[win].set.e, (size_t)s->set.n * sizeof(*s->set.e));
			check_set(s, pr);
		} else {
			check_unrecorded(s, pr);
		}
		/* Nothing has been written to any drive up to here. */
		if ((rc = judge(s, foreign)) != 0 || (win >= 0 && (rc = apply_set(s, pr)) != 0))
			goto fail;
	}
	int online = 0;
	for (int i = 0; i < n; i++) {
		if (pr[i].st != M_OK)
			continue;
		rc = attach_drive(s, &s->drives[i]);
		if (rc == CN_EDRIVE)
			goto fail;
		if (rc != 0) {
			log_warn("data: drive %s offline: %s", s->drives[i].path, cn_strerror(rc));
			rc = 0;
			continue;
		}
		online++;
	}
	if (online == 0) {
		log_error("data: no drive online");
		rc = CN_EDRIVE;
		goto fail;
	}
	if (s->set.n == 0 && online == n) {
		if ((rc = record_set(s)) != 0) {
			log_error("data: cannot record the drive set: %s", cn_strerror(rc));
			goto fail;
		}
		if (have_marker)
			log_info("data: recorded the drive set (%d drives) in every drive's marker",
				 n);
	}
	for (int i = 0; i < n; i++)
		probe_release(&pr[i]);
	free(pr);
	*out = s;
	return 0;
fail:
	for (int i = 0; pr && i < n; i++)
		probe_release(&pr[i]);
	free(pr);
	data_store_close(s);
	return rc;
}

void data_store_close(struct data_store *s)
{
	if (!s)
		return;
	data_store_remote_stop(s);
	for (int i = 0; s->drives && i < s->n; i++) {
		if (s->drives[i].lock_fd >= 0)
			s->io->close(s->io->ctx, s->drives[i].lock_fd);
		free(s->drives[i].path);
	}
	if (s->hq) {
		rec_bufs_release(s);
		pthread_mutex_destroy(&s->hq_lock);
		pthread_mutex_destroy(&s->set_lock);
		pthread_mutex_destroy(&s->rec_lock);
	}
	free(s->set.e);
	for (int i = 0; i < s->n_problems; i++)
		free(s->problems[i]);
	free(s->problem_drive);
	free(s->problems);
	pins_release(s);
	free(s->drives);
	free(s->hq);
	free(s);
}

int data_store_recheck(struct data_store *s)
{
	int online = 0;
	for (int i = 0; i < s->n; i++) {
		struct data_drive *d = &s->drives[i];
		if (atomic_load(&d->online)) {
			online += store_drive_check(s, i) == 0;
			continue;
		}
		struct probe p;
		probe_drive(s->io, d->path, &p);
		if (p.st != M_OK || memcmp(p.dep, s->deployment, DATA_ID_LEN) != 0) {
			probe_release(&p);
			continue;
		}
		static const uint8_t zero[DATA_ID_LEN];
		unsigned inc = p.set.n ? p.set.e[p.pos].inc : 0;
		int stale = memcmp(d->id, zero, DATA_ID_LEN) != 0 &&
			    memcmp(d->id, p.id, DATA_ID_LEN) != 0;
		pthread_mutex_lock(&s->set_lock);
		stale |= s->set.n && (d->pos < 0 || s->set.e[d->pos].inc != inc ||
				      memcmp(s->set.e[d->pos].id, p.id, DATA_ID_LEN) != 0);
		pthread_mutex_unlock(&s->set_lock);
		probe_release(&p);
		if (stale)
			continue;
		int dup = 0;
		for (int j = 0; j < s->n; j++) {
			uint8_t other[DATA_ID_LEN];
			load_id(&s->drives[j], other);
			dup |= j != i && memcmp(other, p.id, DATA_ID_LEN) == 0;
		}
		if (dup)
			continue;
		/* Recheck runs on one thread; readers only look at `online`,
		 * lookups at the words. */
		set_id(d, p.id);
		if (d->lock_fd >= 0) {
			s->io->close(s->io->ctx, d->lock_fd);
			d->lock_fd = -1;
		}
		if (attach_drive(s, d) == 0) {
			log_info("data: drive %s is back online", d->path);
			online++;
		}
	}
	return online;
}

void data_store_drive_offline(struct data_store *s, int i)
{
	if (i < 0 || i >= s->n)
		return;
	if (atomic_exchange(&s->drives[i].online, 0))
		log_warn("data: drive %s marked offline", s->drives[i].path);
}

int data_store_stats(struct data_store *s, struct data_drive_stat *out, int cap)
{
	for (int i = 0; i < s->n && i < cap; i++) {
		struct data_drive *d = &s->drives[i];
		struct data_drive_stat *o = &out[i];
		struct statvfs st;
		memset(o, 0, sizeof(*o));
		o->path = d->path;
		load_id(d, o->id);
		o->online = atomic_load(&d->online);
		o->rebuilding = atomic_load(&d->rebuild);
		o->problem = o->online ? NULL : d->problem;
		pthread_mutex_lock(&s->set_lock);
		o->pos = d->pos;
		o->incarnation = d->pos >= 0 && d->pos < s->set.n ? s->set.e[d->pos].inc : 0;
		pthread_mutex_unlock(&s->set_lock);
		if (o->online && s->io->statvfs(s->io->ctx, d->path, &st) == 0) {
			o->total = (uint64_t)st.f_blocks * st.f_frsize;
			o->free = (uint64_t)st.f_bavail * st.f_frsize;
			o->used = (uint64_t)(st.f_blocks - st.f_bfree) * st.f_frsize;
		}
	}
	return s->n;
}

void data_store_health(struct data_store *s, struct data_set_health *out)
{
	int unresolved = 0;

	memset(out, 0, sizeof(*out));
	out->drives = s->n;
	for (int k = 0; k < s->n_problems; k++)
		out->problems += problem_open(s, k);
	for (int i = 0; i < s->n; i++) {
		int on = atomic_load(&s->drives[i].online);
		out->online += on;
		unresolved |= !on && s->drives[i].problem; /* a replace resolves it */
	}
	pthread_mutex_lock(&s->set_lock);
	out->set_n = s->set.n;
	for (int j = 0; j < s->set.n; j++) {
		int found = 0;
		for (int i = 0; i < s->n && !found; i++)
			found = s->drives[i].pos == j && atomic_load(&s->drives[i].online);
		out->missing += !found;
	}
	pthread_mutex_unlock(&s->set_lock);
	if (s->set.n == 0)
		out->missing = s->n - out->online;
	out->degraded = out->missing > 0 || unresolved;
}

int data_store_problems(struct data_store *s, const char **out, int cap)
{
	int n = 0;

	for (int k = 0; k < s->n_problems; k++) {
		if (!problem_open(s, k))
			continue;
		if (n < cap)
			out[n] = s->problems[k];
		n++;
	}
	return n;
}

int data_store_drive_replace(struct data_store *s, int i, int force, char *why, size_t cap)
{
	struct data_drive *d;
	struct probe p;
	int rc, present = 0;

	if (i < 0 || i >= s->n) {
		snprintf(why, cap, "no drive %d (the server has %d)", i, s->n);
		return CN_EINVAL;
	}
	d = &s->drives[i];
	pthread_mutex_lock(&s->set_lock);
	if (atomic_load(&d->online)) {
		snprintf(why, cap, "drive %s is online", d->path);
		rc = CN_EBUSY;
		goto out;
	}
	probe_drive(s->io, d->path, &p);
	rc = p.st == M_NONE ? 0 : p.st == M_NODIR ? CN_EINVAL : CN_EEXIST;
	probe_release(&p);
	if (rc != 0) {
		snprintf(why, cap, "%s %s", d->path,
			 rc == CN_EINVAL
				 ? "is not a directory"
				 : "has a format marker (a drive of a store); wipe it first");
		goto out;
	}
	for (int j = 0; j < s->n; j++)
		present += j != i && s->drives[j].pos >= 0 && atomic_load(&s->drives[j].online);
	if ((rc = may_adopt(s, i, present, force, why, cap)) != 0)
		goto out;
	if (d->lock_fd >= 0) {
		s->io->close(s->io->ctx, d->lock_fd);
		d->lock_fd = -1;
	}
	if ((rc = adopt(s, i)) != 0) {
		snprintf(why, cap, "cannot format %s: %s", d->path, cn_strerror(rc));
		goto out;
	}
	for (int j = 0; j < s->n; j++) {
		if (j == i || s->drives[j].pos < 0 || !atomic_load(&s->drives[j].online))
			continue;
		int r = rewrite_marker(s, &s->drives[j]);
		if (r != 0) /* repaired at the next start: the new drive has the newest set */
			log_warn("data: cannot update the marker of %s: %s", s->drives[j].path,
				 cn_strerror(r));
	}
	if ((rc = attach_drive(s, d)) != 0)
		snprintf(why, cap, "adopted %s but cannot open it: %s", d->path, cn_strerror(rc));
out:
	pthread_mutex_unlock(&s->set_lock);
	return rc;
}

int data_store_rebuild_pending(struct data_store *s, int from, uint8_t id[DATA_ID_LEN])
{
	for (int i = from < 0 ? 0 : from; i < s->n; i++) {
		struct data_drive *d = &s->drives[i];
		if (atomic_load(&d->rebuild) && atomic_load(&d->online)) {
			load_id(d, id);
			return i;
		}
	}
	return -1;
}

/* Cursor file: "CRBD", length (4), bytes, CRC32C of everything before. */
int data_store_rebuild_save(struct data_store *s, int i, const void *buf, size_t len)
{
	const struct data_io *io = s->io;
	char path[DATA_PATH_MAX], tmp[DATA_PATH_MAX];
	uint8_t *b;
	int rc, fd;

	if (i < 0 || i >= s->n || len > REBUILD_MAX)
		return CN_EINVAL;
	if ((rc = join(path, sizeof(path), s->drives[i].path, REBUILD_FILE)) != 0 ||
	    (rc = join(tmp, sizeof(tmp), s->drives[i].path, REBUILD_FILE ".tmp")) != 0)
		return rc;
	if (!(b = malloc(len + 12)))
		return CN_ENOMEM;
	memcpy(b, "CRBD", 4);
	put32le(b + 4, (uint32_t)len);
	memcpy(b + 8, buf, len);
	put32le(b + 8 + len, cn_crc32c(0, b, 8 + len));
	fd = io->open(io->ctx, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		rc = fd;
		goto out;
	}
	rc = dio_write_all(io, fd, b, len + 12, 0);
	if (rc == 0)
		rc = io->fsync(io->ctx, fd);
	io->close(io->ctx, fd);
	if (rc == 0)
		rc = io->rename(io->ctx, tmp, path);
	if (rc != 0)
		io->unlink(io->ctx, tmp);
out:
	free(b);
	return store_fault(s, i, dio_err(rc));
}

int data_store_rebuild_load(struct data_store *s, int i, void *buf, size_t cap, size_t *len)
{
	const struct data_io *io = s->io;
	char path[DATA_PATH_MAX];
	uint8_t *b = NULL;
	int rc, fd;

	if (i < 0 || i >= s->n)
		return CN_EINVAL;
	if ((rc = join(path, sizeof(path), s->drives[i].path, REBUILD_FILE)) != 0)
		return rc;
	fd = io->open(io->ctx, path, O_RDONLY, 0);
	if (fd < 0)
		return fd == -ENOENT ? CN_ENOTFOUND : fd;
	b = malloc(REBUILD_MAX + 12);
	ssize_t n = b ? dio_read_full(io, fd, b, REBUILD_MAX + 12, 0) : CN_ENOMEM;
	io->close(io->ctx, fd);
	if (n < 0) {
		rc = (int)n;
		goto out;
	}
	uint32_t l = n >= 12 ? get32le(b + 4) : 0;
	if (n < 12 || memcmp(b, "CRBD", 4) != 0 || l != (size_t)n - 12 ||
	    get32le(b + 8 + l) != cn_crc32c(0, b, 8 + l)) {
		rc = CN_ECORRUPT;
		goto out;
	}
	if (l > cap) {
		rc = CN_ETOOBIG;
		goto out;
	}
	memcpy(buf, b + 8, l);
	*len = l;
	rc = 0;
out:
	free(b);
	return rc;
}

int data_store_rebuild_done(struct data_store *s, int i)
{
	char path[DATA_PATH_MAX];
	int rc;

	if (i < 0 || i >= s->n)
		return CN_EINVAL;
	pthread_mutex_lock(&s->set_lock);
	atomic_store(&s->drives[i].rebuild, 0);
	rc = rewrite_marker(s, &s->drives[i]);
	if (rc != 0)
		atomic_store(&s->drives[i].rebuild, 1);
	pthread_mutex_unlock(&s->set_lock);
	if (rc == 0 && join(path, sizeof(path), s->drives[i].path, REBUILD_FILE) == 0)
		s->io->unlink(s->io->ctx, path);
	return rc;
}

void data_store_deployment(const struct data_store *s, uint8_t out[DATA_ID_LEN])
{
	memcpy(out, s->deployment, DATA_ID_LEN);
}

int store_drive_index(const struct data_store *s, const uint8_t id[DATA_ID_LEN])
{
	static const uint8_t zero[DATA_ID_LEN];
	if (memcmp(id, zero, DATA_ID_LEN) == 0)
		return -1;
	for (int i = 0; i < s->n; i++) {
		uint8_t have[DATA_ID_LEN];
		load_id(&s->drives[i], have);
		if (memcmp(have, id, DATA_ID_LEN) == 0)
			return i;
	}
	return -1;
}

int store_drive_online(struct data_store *s, int i)
{
	return i >= 0 && i < s->n && atomic_load(&s->drives[i].online);
}

int store_fault(struct data_store *s, int i, int err)
{
	if (dio_is_drive_fault(err))
		data_store_drive_offline(s, i);
	return err;
}

int store_drive_check(struct data_store *s, int i)
{
	struct data_drive *d = &s->drives[i];
	struct stat st;

	if (!atomic_load(&d->online))
		return CN_EDRIVE;
	if (stat(d->path, &st) != 0 || st.st_dev != d->dev || st.st_ino != d->ino) {
		log_error("data: drive %s changed under us (unmounted?)", d->path);
		data_store_drive_offline(s, i);
		return CN_EDRIVE;
	}
	return 0;
}

int store_shard_path(const struct data_store *s, int drive, const uint8_t id[DATA_ID_LEN],
		     int shard, char *out, size_t cap)
{
	char hex[2 * DATA_ID_LEN + 1];
	cn_hex(id, DATA_ID_LEN, hex);
	int n = snprintf(out, cap, "%s/" DATA_BLOBS "/%.2s/%.2s/%s.%d", s->drives[drive].path, hex,
			 hex + 2, hex, shard);
	return (n < 0 || (size_t)n >= cap) ? CN_ETOOBIG : 0;
}

int store_tmp_path(struct data_store *s, int drive, const uint8_t id[DATA_ID_LEN], int shard,
		   char *out, size_t cap)
{
	char hex[2 * DATA_ID_LEN + 1];
	cn_hex(id, DATA_ID_LEN, hex);
	unsigned seq = atomic_fetch_add(&s->tmp_seq, 1);
	int n = snprintf(out, cap, "%s/" DATA_TMP "/%s.%d.%u.%ld", s->drives[drive].path, hex,
			 shard, seq, (long)getpid());
	return (n < 0 || (size_t)n >= cap) ? CN_ETOOBIG : 0;
}

/* A reading of a drive's free space stands for SPACE_FRESH_NS while it left
 * more than SPACE_SLACK above the reserve: then a check for less than that
 * makes no statvfs (one per small PUT was 4-5% of an HTTP thread's CPU on
 * this machine's virtual disk). Nearer the reserve every check reads again.
 * What a reading can miss in that time is what any check misses between
 * reading and writing (another writer's bytes); a write that still meets a
 * full disk fails with 507 as before. */
#define SPACE_FRESH_NS (50ull * 1000000)
#define SPACE_SLACK (256ull << 20)

int data_store_check_space(struct data_store *s, int i, uint64_t need)
{
	struct statvfs st;
	uint64_t avail, reserve = s->opt.reserve_bytes, now;

	if (i < 0 || i >= s->n)
		return CN_EINVAL;
	struct data_drive *d = &s->drives[i];
	now = cn_mono_ns();
	uint64_t at = atomic_load_explicit(&d->space_at, memory_order_acquire);
	if (at && now - at < SPACE_FRESH_NS && need < UINT64_MAX - SPACE_SLACK &&
	    atomic_load_explicit(&d->space_room, memory_order_relaxed) >= need + SPACE_SLACK)
		return 0;
	int rc = s->io->statvfs(s->io->ctx, d->path, &st);
	if (rc != 0)
		return store_fault(s, i, dio_err(rc));
	avail = (uint64_t)st.f_bavail * st.f_frsize;
	if (s->opt.reserve_auto) {
		uint64_t size = (uint64_t)st.f_blocks * st.f_frsize;
		uint64_t r = size / 100 * DATA_RESERVE_PCT;
		r = r < DATA_RESERVE_MIN ? DATA_RESERVE_MIN : r;
		r = r > DATA_RESERVE_MAX ? DATA_RESERVE_MAX : r;
		r = r > size / 4 ? size / 4 : r;
		reserve = r > reserve ? r : reserve;
	}
	atomic_store_explicit(&d->space_room, avail > reserve ? avail - reserve : 0,
			      memory_order_relaxed);
	atomic_store_explicit(&d->space_at, now ? now : 1, memory_order_release);
	if (avail < need || avail - need < reserve)
		return CN_ENOSPACE;
	return 0;
}

int data_store_check_meta_space(struct data_store *s, uint64_t need)
{
	int rc = data_store_check_space(s, 0, need);

	if (rc == CN_ENOSPACE)
		return rc;
	/* another failure is the drive's, reported by it: not "full" */
	return s->remote.meta_full && s->remote.meta_full(s->remote.ctx) ? CN_ENOSPACE : 0;
}

int data_heal_queue_push(struct data_store *s, const struct blob_layout *l)
{
	int rc = 0;
	if (!data_store_owns(s, l))
		return 0; /* another node's blob: that node heals it */
	pthread_mutex_lock(&s->hq_lock);
	for (size_t i = 0; i < s->hq_len; i++) {
		if (memcmp(s->hq[(s->hq_head + i) % s->hq_cap].id, l->id, DATA_ID_LEN) == 0)
			goto out; /* already queued */
	}
	if (s->hq_len == s->hq_cap) {
		/* Dropped, not lost: a scrub finds the blob again. */
		s->hq_dropped++;
		rc = CN_EAGAIN;
		goto out;
	}
	s->hq[(s->hq_head + s->hq_len) % s->hq_cap] = *l;
	s->hq_len++;
out:
	pthread_mutex_unlock(&s->hq_lock);
	return rc;
}

int data_heal_queue_pop(struct data_store *s, struct blob_layout *out)
{
	int rc = CN_ENOTFOUND;
	pthread_mutex_lock(&s->hq_lock);
	if (s->hq_len > 0) {
		/* Pinned under the queue lock: blob_delete, which takes it too,
		 * either dropped the entry before this pop or finds the pin. */
		rc = data_pin(s, s->hq[s->hq_head].id);
		if (rc == 0) {
			*out = s->hq[s->hq_head];
			s->hq_head = (s->hq_head + 1) % s->hq_cap;
			s->hq_len--;
		}
	}
	pthread_mutex_unlock(&s->hq_lock);
	return rc;
}

int store_claim_for_delete(struct data_store *s, const uint8_t id[DATA_ID_LEN])
{
	int rc = 0;

	pthread_mutex_lock(&s->hq_lock);
	if (data_pinned(s, id)) {
		rc = CN_EBUSY;
		goto out;
	}
	for (size_t i = 0; i < s->hq_len; i++) {
		size_t at = (s->hq_head + i) % s->hq_cap;
		if (memcmp(s->hq[at].id, id, DATA_ID_LEN) != 0)
			continue;
		/* Close the gap: later entries move one slot towards the head. */
		for (size_t j = i; j + 1 < s->hq_len; j++)
			s->hq[(s->hq_head + j) % s->hq_cap] =
				s->hq[(s->hq_head + j + 1) % s->hq_cap];
		s->hq_len--;
		break;
	}
out:
	pthread_mutex_unlock(&s->hq_lock);
	return rc;
}

size_t data_heal_queue_len(struct data_store *s)
{
	pthread_mutex_lock(&s->hq_lock);
	size_t n = s->hq_len;
	pthread_mutex_unlock(&s->hq_lock);
	return n;
}

int data_store_owns(struct data_store *s, const struct blob_layout *l)
{
	return !s->remote.pread || blob_is_local(s, l);
}

void data_store_set_remote(struct data_store *s, const struct data_remote *r)
{
	s->remote = *r;
	if (r->pread && !s->fetch && fetch_start(s) != 0)
		log_warn("data: no remote fetch threads: reads of other nodes' shards run one "
			 "at a time");
}

void data_store_set_placer(struct data_store *s, const struct data_placer *p)
{
	s->placer = *p;
}

int data_store_drive_ids(struct data_store *s, uint8_t (*ids)[DATA_ID_LEN], int max)
{
	int n = 0;
	for (int i = 0; i < s->n && n < max; i++)
		load_id(&s->drives[i], ids[n++]);
	return n;
}

ssize_t data_shard_pread(struct data_store *s, const uint8_t drive_id[DATA_ID_LEN],
			 const uint8_t blob_id[DATA_ID_LEN], int shard, void *buf, size_t len,
			 uint64_t off)
{
	char path[DATA_PATH_MAX];
	int d = store_drive_index(s, drive_id), fd, rc;
	ssize_t n;

	if (shard < 0 || shard >= DATA_MAX_SHARDS || off > INT64_MAX)
		return CN_EINVAL;
	if (!store_drive_online(s, d))
		return CN_EDRIVE;
	rc = store_shard_path(s, d, blob_id, shard, path, sizeof(path));
	if (rc)
		return rc;
	fd = s->io->open(s->io->ctx, path, O_RDONLY, 0);
	if (fd < 0)
		return fd == -ENOENT ? CN_ENOTFOUND : store_fault(s, d, fd);
	n = dio_read_full(s->io, fd, buf, len, (off_t)off);
	s->io->close(s->io->ctx, fd);
	if (n < 0 && dio_is_drive_fault((int)n))
		store_fault(s, d, (int)n);
	return n;
}

/* Shard `shard` of blob_id on drive_id, opened from the kernel's caches
 * (data_io open_cached): the fd, CN_EINVAL for a bad argument, or
 * CN_EWOULDBLOCK for anything else (no such io, drive, path or cached
 * file), recording nothing. */
static int shard_open_cached(struct data_store *s, const uint8_t drive_id[DATA_ID_LEN],
			     const uint8_t blob_id[DATA_ID_LEN], int shard, uint64_t off)
{
	char path[DATA_PATH_MAX];
	int d = store_drive_index(s, drive_id), fd;

	if (shard < 0 || shard >= DATA_MAX_SHARDS || off > INT64_MAX)
		return CN_EINVAL;
	if (!s->io->open_cached || !store_drive_online(s, d) ||
	    store_shard_path(s, d, blob_id, shard, path, sizeof(path)) != 0)
		return CN_EWOULDBLOCK;
	fd = s->io->open_cached(s->io->ctx, path, O_RDONLY);
	return fd < 0 ? CN_EWOULDBLOCK : fd;
}

ssize_t data_shard_pread_cached(struct data_store *s, const uint8_t drive_id[DATA_ID_LEN],
				const uint8_t blob_id[DATA_ID_LEN], int shard, void *buf,
				size_t len, uint64_t off)
{
	int fd = shard_open_cached(s, drive_id, blob_id, shard, off);
	ssize_t n;

	if (fd < 0)
		return fd;
	n = dio_read_cached(s->io, fd, buf, len, (off_t)off);
	s->io->close(s->io->ctx, fd);
	return n < 0 ? CN_EWOULDBLOCK : n;
}

int data_shard_open_resident(struct data_store *s, const uint8_t drive_id[DATA_ID_LEN],
			     const uint8_t blob_id[DATA_ID_LEN], int shard, uint64_t off,
			     size_t len, size_t *avail)
{
	int fd = shard_open_cached(s, drive_id, blob_id, shard, off);
	ssize_t n;

	if (fd < 0)
		return fd;
	n = s->io->resident ? s->io->resident(s->io->ctx, fd, (off_t)off, len) : -EAGAIN;
	if (n < 0) {
		s->io->close(s->io->ctx, fd);
		return CN_EWOULDBLOCK;
	}
	*avail = (size_t)n;
	return fd;
}

void data_shard_close(struct data_store *s, int fd)
{
	if (fd >= 0)
		s->io->close(s->io->ctx, fd);
}

int data_drive_claim(const char *dir, uint8_t dep[DATA_ID_LEN], uint8_t id[DATA_ID_LEN],
		     int *lock_fd)
{
	const struct data_io *io = data_io_posix();
	char path[DATA_PATH_MAX];
	struct probe p;
	int fd, rc;

	if ((rc = join(path, sizeof(path), dir, DATA_MARKER)) != 0)
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? CN_ENOTFOUND : -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		close(fd);
		return CN_EBUSY;
	}
	/* read under the lock: a server that held it may have rewritten it */
	probe_drive(io, dir, &p);
	switch (p.st) {
	case M_OK: rc = 0; break;
	case M_NONE: rc = CN_ENOTFOUND; break;
	case M_FORMAT: rc = CN_EFORMAT; break;
	default: rc = CN_ECORRUPT;
	}
	if (!rc) {
		memcpy(dep, p.dep, DATA_ID_LEN);
		memcpy(id, p.id, DATA_ID_LEN);
		*lock_fd = fd;
	} else {
		close(fd);
	}
	probe_release(&p);
	return rc;
}
