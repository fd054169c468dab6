/*
 * data/store.c — drives and the store: format markers, open/close, the
 * online/offline state of each drive, free-space checks, shard paths, and
 * the heal queue.
 *
 * Drive format marker <drive>/.cairn-format, format version 1:
 *   OFFSET  SIZE  MEANING
 *   0       8     magic "CAIRNDRV"
 *   8       4     format version (1)
 *   12      16    deployment id (the same on every drive of a store)
 *   28      16    drive id (unique; recorded in blob layouts)
 *   44      4     CRC32C of bytes [0, 44)
 *
 * Rules: the first start (no drive has a marker) creates the directories and
 * formats all drives with a new deployment id. A later start never formats a
 * drive silently: a missing directory, or one without a marker (e.g. a mount
 * point whose disk is not mounted), stays offline unless opt->format_new is
 * set and the directory is empty. A marker of another deployment refuses the
 * start. An open drive is locked (flock on its marker) so two processes never
 * share it, and its root (st_dev, st_ino) is remembered: if it changes, the
 * drive was unmounted under us and is marked offline.
 */
#include "data/data_int.h"

#include "core/digest.h"
#include "core/err.h"
#include "core/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

enum mstate { M_OK, M_NONE, M_NODIR, M_BAD, M_FORMAT };

struct probe {
	enum mstate st;
	uint8_t dep[DATA_ID_LEN];
	uint8_t id[DATA_ID_LEN];
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

static void probe_drive(const struct data_io *io, const char *dir, struct probe *p)
{
	char path[DATA_PATH_MAX];
	uint8_t buf[MARKER_LEN];
	struct stat st;

	memset(p, 0, sizeof(*p));
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
	ssize_t n = dio_read_full(io, fd, buf, sizeof(buf), 0);
	io->close(io->ctx, fd);
	if (n != MARKER_LEN || memcmp(buf, MARKER_MAGIC, 8) != 0 ||
	    get32le(buf + 44) != cn_crc32c(0, buf, 44)) {
		p->st = M_BAD;
		return;
	}
	if (get32le(buf + 8) != MARKER_VERSION) {
		p->st = M_FORMAT;
		return;
	}
	memcpy(p->dep, buf + 12, DATA_ID_LEN);
	memcpy(p->id, buf + 28, DATA_ID_LEN);
	p->st = M_OK;
}

/* Writes a new marker (tmp + fsync + rename + dir fsync). */
static int format_drive(const struct data_io *io, const char *dir, const uint8_t dep[DATA_ID_LEN],
			uint8_t id_out[DATA_ID_LEN])
{
	char path[DATA_PATH_MAX], tmp[DATA_PATH_MAX];
	uint8_t buf[MARKER_LEN];
	int rc, fd;

	if ((rc = random_id(id_out)) != 0)
		return rc;
	memcpy(buf, MARKER_MAGIC, 8);
	put32le(buf + 8, MARKER_VERSION);
	memcpy(buf + 12, dep, DATA_ID_LEN);
	memcpy(buf + 28, id_out, DATA_ID_LEN);
	put32le(buf + 44, cn_crc32c(0, buf, 44));
	if ((rc = join(path, sizeof(path), dir, DATA_MARKER)) != 0 ||
	    (rc = join(tmp, sizeof(tmp), dir, DATA_MARKER ".tmp")) != 0)
		return rc;
	fd = io->open(io->ctx, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return dio_err(fd);
	rc = dio_write_all(io, fd, buf, sizeof(buf), 0);
	if (rc == 0)
		rc = io->fsync(io->ctx, fd);
	io->close(io->ctx, fd);
	if (rc == 0)
		rc = io->rename(io->ctx, tmp, path);
	if (rc == 0)
		rc = dio_fsync_dir(io, dir);
	if (rc != 0)
		io->unlink(io->ctx, tmp);
	return dio_err(rc);
}

static int dir_is_empty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int empty = 1;

	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			empty = 0;
			break;
		}
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
	int rc = 0, have_marker = 0, have_dep = 0;

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
		if (pr[i].st != M_OK)
			continue;
		if (!have_dep) {
			memcpy(s->deployment, pr[i].dep, DATA_ID_LEN);
			have_dep = 1;
		} else if (memcmp(s->deployment, pr[i].dep, DATA_ID_LEN) != 0) {
			log_error("data: drive %s belongs to another deployment", d->path);
			rc = CN_EDRIVE;
			goto fail;
		}
		for (int j = 0; j < i; j++) {
			if (pr[j].st == M_OK && memcmp(pr[j].id, pr[i].id, DATA_ID_LEN) == 0) {
				log_error("data: drives %s and %s are the same drive",
					  s->drives[j].path, d->path);
				rc = CN_EINVAL;
				goto fail;
			}
		}
		memcpy(d->id, pr[i].id, DATA_ID_LEN);
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
			pr[i].st = M_OK;
		}
	} else {
		for (int i = 0; i < n; i++) {
			struct data_drive *d = &s->drives[i];
			if (pr[i].st == M_NONE && s->opt.format_new && have_dep &&
			    dir_is_empty(d->path)) {
				if ((rc = format_drive(s->io, d->path, s->deployment, d->id)) != 0)
					goto fail;
				log_info("data: formatted new drive %s", d->path);
				pr[i].st = M_OK;
			} else if (pr[i].st != M_OK) {
				log_warn("data: drive %s is %s; it stays offline", d->path,
					 pr[i].st == M_NODIR ? "missing" : "not formatted");
			}
		}
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
	free(pr);
	*out = s;
	return 0;
fail:
	free(pr);
	data_store_close(s);
	return rc;
}

void data_store_close(struct data_store *s)
{
	if (!s)
		return;
	for (int i = 0; s->drives && i < s->n; i++) {
		if (s->drives[i].lock_fd >= 0)
			s->io->close(s->io->ctx, s->drives[i].lock_fd);
		free(s->drives[i].path);
	}
	if (s->hq)
		pthread_mutex_destroy(&s->hq_lock);
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
		if (p.st != M_OK || memcmp(p.dep, s->deployment, DATA_ID_LEN) != 0)
			continue;
		static const uint8_t zero[DATA_ID_LEN];
		if (memcmp(d->id, zero, DATA_ID_LEN) != 0 && memcmp(d->id, p.id, DATA_ID_LEN) != 0)
			continue;
		int dup = 0;
		for (int j = 0; j < s->n; j++)
			dup |= j != i && memcmp(s->drives[j].id, p.id, DATA_ID_LEN) == 0;
		if (dup)
			continue;
		/* Recheck runs on one thread; readers only look at `online`. */
		memcpy(d->id, p.id, DATA_ID_LEN);
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
		memcpy(o->id, d->id, DATA_ID_LEN);
		o->online = atomic_load(&d->online);
		if (o->online && s->io->statvfs(s->io->ctx, d->path, &st) == 0) {
			o->total = (uint64_t)st.f_blocks * st.f_frsize;
			o->free = (uint64_t)st.f_bavail * st.f_frsize;
			o->used = (uint64_t)(st.f_blocks - st.f_bfree) * st.f_frsize;
		}
	}
	return s->n;
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
	for (int i = 0; i < s->n; i++)
		if (memcmp(s->drives[i].id, id, DATA_ID_LEN) == 0)
			return i;
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

int store_check_space(struct data_store *s, int i, uint64_t need)
{
	struct statvfs st;
	int rc = s->io->statvfs(s->io->ctx, s->drives[i].path, &st);
	if (rc != 0)
		return store_fault(s, i, dio_err(rc));
	uint64_t avail = (uint64_t)st.f_bavail * st.f_frsize;
	if (avail < need || avail - need < s->opt.reserve_bytes)
		return CN_ENOSPACE;
	return 0;
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
}

int data_store_drive_ids(struct data_store *s, uint8_t (*ids)[DATA_ID_LEN], int max)
{
	int n = 0;
	for (int i = 0; i < s->n && n < max; i++)
		memcpy(ids[n++], s->drives[i].id, DATA_ID_LEN);
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
