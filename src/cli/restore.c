/*
 * cli/restore.c — `cairn restore BACKUP --dir DIR... [--force]`: puts a
 * metadata backup (meta/backup.h) back in place of DIR/.cairn/meta, offline.
 *
 * Order, so that a refusal or a crash at any step leaves a store that starts:
 *  1. lock every drive's marker as a server does (a running server: refused)
 *     and read its deployment and drive id;
 *  2. check the file: head, exact length (a truncated backup is refused),
 *     manifest, format version (newer than this build: refused), single-node
 *     (a cluster node's replica is not restored this way), drive-set identity
 *     against the markers (a mismatch is refused unless --force);
 *  3. stream the store copy into DIR/.cairn/restore-XXXXXX/data.mdb while
 *     hashing: a checksum mismatch removes it and refuses;
 *  4. fsync it and its directory, open it (LMDB accepts it, its format
 *     matches the manifest);
 *  5. keep the old store: hard link DIR/.cairn/meta/data.mdb to
 *     DIR/.cairn/meta-before-restore-<time>.mdb, fsync;
 *  6. rename the copy over DIR/.cairn/meta/data.mdb (atomic), drop the stale
 *     lock.mdb, fsync the directories.
 * Nothing in the data directories (blobs) changes: see README "Backups and
 * restore" for what old metadata over newer blobs means.
 *
 * A lost first drive (the metadata's) replaced by an empty directory: its
 * marker is gone, so step 1 claims the others only, step 2 checks them, and
 * the whole file is verified before anything is written; then the empty
 * directory is adopted as the set's first drive, flagged for rebuild, as a
 * server adopts any other replaced drive (data_store_open, keep_first off),
 * and the restore goes on from step 1 with every marker in place. The
 * server rebuilds the drive's shards from the others once it runs.
 */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/digest.h"
#include "core/err.h"
#include "data/data.h"
#include "meta/backup.h"
#include "meta/meta.h"

#define MAX_DIRS 64
#define CHUNK (1u << 20)

struct drive {
	const char *dir;
	uint8_t dep[DATA_ID_LEN], id[DATA_ID_LEN];
	int lock_fd;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cairn restore BACKUP --dir DIR [DIR...] [--force]\n"
		"  Offline: stop the server first. DIR... are the server's data directories,\n"
		"  in the server's order (the metadata lives in the first). The store in\n"
		"  DIR/.cairn/meta is replaced by the backup's; the old one is kept beside it.\n"
		"  --force  restore even though the drives' identity differs from the backup's\n");
}

/* out = a + b; CN_ETOOBIG when it does not fit. */
static int join(char *out, size_t cap, const char *a, const char *b)
{
	int n = snprintf(out, cap, "%s%s", a, b);
	return n < 0 || (size_t)n >= cap ? CN_ETOOBIG : 0;
}

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) != 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int read_exact(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : CN_EINCOMPLETE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Step 2: the manifest against this build and the drives. 0, or 1 with a
 * message printed (refused). */
static int check_manifest(json_t *m, const struct drive *d, int nd, int from, int force,
			  uint32_t *format)
{
	json_t *drives = json_object_get(m, "drives");
	const char *dep = json_string_value(json_object_get(m, "deployment"));
	json_int_t f = json_integer_value(json_object_get(m, "format"));
	int bad = 0;

	if (!json_is_integer(json_object_get(m, "format")) || !dep || !json_is_array(drives)) {
		fprintf(stderr, "cairn restore: the backup's manifest is incomplete\n");
		return 1;
	}
	if (f < 1 || f > (json_int_t)META_FORMAT_VERSION) {
		fprintf(stderr,
			"cairn restore: the backup holds metadata format %" JSON_INTEGER_FORMAT
			"; this build reads formats 1..%u (restore it with a newer cairn)\n",
			f, META_FORMAT_VERSION);
		return 1;
	}
	*format = (uint32_t)f;
	if (json_is_true(json_object_get(m, "cluster"))) {
		fprintf(stderr, "cairn restore: this is a cluster node's backup; restoring a "
				"cluster's metadata is not supported by `cairn restore`\n");
		return 1;
	}
	if ((size_t)nd != json_array_size(drives)) {
		fprintf(stderr,
			"cairn restore: the backup's drive set has %zu drives, %d given (give "
			"every directory, in the server's order)\n",
			json_array_size(drives), nd);
		bad = 1;
	}
	for (int i = from; i < nd; i++) {
		char dh[2 * DATA_ID_LEN + 1], ih[2 * DATA_ID_LEN + 1];
		int member = 0;
		size_t j;
		json_t *x;

		cn_hex(d[i].dep, DATA_ID_LEN, dh);
		cn_hex(d[i].id, DATA_ID_LEN, ih);
		if (strcmp(dh, dep) != 0) {
			fprintf(stderr,
				"cairn restore: %s belongs to deployment %s, the backup to %s\n",
				d[i].dir, dh, dep);
			bad = 1;
			continue;
		}
		json_array_foreach(drives, j, x)
		{
			const char *id = json_string_value(json_object_get(x, "id"));
			json_t *pos = json_object_get(x, "pos");
			if (!id || strcmp(id, ih) != 0)
				continue;
			member = 1;
			/* the metadata goes into the first directory: in another
			 * order it lands where the server never reads it */
			if (json_is_integer(pos) && json_integer_value(pos) != i) {
				fprintf(stderr,
					"cairn restore: %s is drive %" JSON_INTEGER_FORMAT
					" of the set, given as %d: give the directories in the "
					"server's order\n",
					d[i].dir, json_integer_value(pos), i);
				return 1;
			}
		}
		if (!member) {
			fprintf(stderr,
				"cairn restore: drive %s (id %s) is not in the backup's drive "
				"set\n",
				d[i].dir, ih);
			bad = 1;
		}
	}
	if (bad && !force) {
		fprintf(stderr,
			"cairn restore: refused: the drives are not the ones the backup was "
			"taken from (--force restores anyway: objects whose shards are not "
			"on these drives will not read)\n");
		return 1;
	}
	if (bad)
		fprintf(stderr, "cairn restore: --force: restoring despite the mismatch\n");
	return 0;
}

/* Before a first drive is adopted: the whole file against its checksum,
 * read once without writing; in is left where the store copy starts. 0, or
 * 1 with a message printed (refused). */
static int verify_file(int in, const char *backup, const uint8_t *head, const char *man,
		       uint32_t mlen, uint64_t len)
{
	uint8_t sum[META_BACKUP_SUM];
	struct cn_digest sha;
	struct cn_digest_result res;
	char *buf = malloc(CHUNK);
	int rc = buf ? cn_digest_init(&sha, CN_DIG_SHA256) : CN_ENOMEM;

	if (rc) {
		free(buf);
		fprintf(stderr, "cairn restore: %s\n", cn_strerror(rc));
		return 1;
	}
	cn_digest_update(&sha, head, META_BACKUP_HEAD);
	cn_digest_update(&sha, man, mlen);
	for (uint64_t left = len; !rc && left;) {
		size_t n = left < CHUNK ? (size_t)left : CHUNK;
		rc = read_exact(in, buf, n);
		if (!rc)
			cn_digest_update(&sha, buf, n);
		left -= n;
	}
	if (!rc)
		rc = read_exact(in, sum, sizeof(sum));
	cn_digest_final(&sha, &res);
	cn_digest_release(&sha);
	free(buf);
	if (!rc && lseek(in, (off_t)META_BACKUP_HEAD + mlen, SEEK_SET) < 0)
		rc = -errno;
	if (rc) {
		fprintf(stderr, "cairn restore: reading %s: %s\n", backup, cn_strerror(rc));
		return 1;
	}
	if (memcmp(res.sha256, sum, sizeof(sum)) != 0) {
		fprintf(stderr,
			"cairn restore: %s: checksum mismatch, the backup is corrupt: "
			"refused (nothing was changed)\n",
			backup);
		return 1;
	}
	return 0;
}

/* The empty first directory becomes the set's first drive (next
 * incarnation, flagged for rebuild), the drives unlocked meanwhile: the
 * store's open takes their locks. 0, or 1 with a message printed. */
static int adopt_first(struct drive *d, int nd)
{
	const char *dirs[MAX_DIRS];
	struct data_options opt = {0};
	struct data_store *s = NULL;
	int rc;

	for (int i = 0; i < nd; i++) {
		dirs[i] = d[i].dir;
		if (d[i].lock_fd >= 0)
			close(d[i].lock_fd);
		d[i].lock_fd = -1;
	}
	opt.format_new = 1; /* adopt the empty directory... */
	opt.keep_first = 0; /* ...though it is the first */
	opt.set_check = DATA_SET_STRICT;
	rc = data_store_open(dirs, nd, &opt, &s);
	if (rc) {
		fprintf(stderr,
			"cairn restore: %s cannot be adopted as the set's first drive (%s; the "
			"reason is logged above): refused\n",
			d[0].dir, cn_strerror(rc));
		return 1;
	}
	data_store_close(s);
	printf("cairn restore: %s adopted as the replacement of the set's first drive; the "
	       "server rebuilds its shards from the other drives once started (`cairn admin "
	       "status` shows the rebuild)\n"
	       "cairn restore: the lost drive also held .cairn/master.key (unless the key comes "
	       "from CAIRN_KMS_MASTER_KEY) and .cairn/credentials, which a backup does not "
	       "carry: put your copy of master.key back in %s/.cairn/ before starting, or "
	       "encrypted objects will not read\n",
	       d[0].dir, d[0].dir);
	return 0;
}

/* Step 1: every drive's marker, locked. *first_missing: dirs[0] has none
 * (checked later as a replacement). 0, or 1 with a message printed. */
static int claim_all(struct drive *d, int nd, int *first_missing)
{
	*first_missing = 0;
	for (int i = 0; i < nd; i++) {
		int rc = data_drive_claim(d[i].dir, d[i].dep, d[i].id, &d[i].lock_fd);
		if (rc == CN_ENOTFOUND && i == 0 && nd > 1) {
			*first_missing = 1;
			memset(d[0].dep, 0, sizeof(d[0].dep));
			memset(d[0].id, 0, sizeof(d[0].id));
			continue;
		}
		if (rc == CN_EBUSY) {
			fprintf(stderr,
				"cairn restore: %s is in use by a running server; stop it "
				"first (restore is offline)\n",
				d[i].dir);
			return 1;
		}
		if (rc) {
			fprintf(stderr, "cairn restore: %s: not a usable cairn drive (%s)\n",
				d[i].dir, cn_strerror(rc));
			return 1;
		}
	}
	return 0;
}

/* Step 3: copies len bytes of the store copy from in to out, hashing. */
static int copy_store(int in, int out, uint64_t len, struct cn_digest *sha)
{
	char *buf = malloc(CHUNK);
	int rc = buf ? 0 : CN_ENOMEM;

	while (!rc && len) {
		size_t n = len < CHUNK ? (size_t)len : CHUNK;
		rc = read_exact(in, buf, n);
		if (!rc) {
			cn_digest_update(sha, buf, n);
			rc = write_all(out, buf, n);
		}
		len -= n;
	}
	free(buf);
	return rc;
}

/* Steps 5 and 6. meta: DIR/.cairn/meta; aside: the verified copy's dir. */
static int swap_in(const char *cdir, const char *meta, const char *aside, char *kept, size_t cap)
{
	char from[4300], to[4300], lock[4300];
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	struct stat st;
	int rc;

	kept[0] = 0;
	if (mkdir(meta, 0700) != 0 && errno != EEXIST)
		return -errno;
	if (join(from, sizeof(from), aside, "/data.mdb") ||
	    join(to, sizeof(to), meta, "/data.mdb") || join(lock, sizeof(lock), meta, "/lock.mdb"))
		return CN_ETOOBIG;
	if (stat(to, &st) == 0) {
		gmtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
		snprintf(kept, cap, "%s/meta-before-restore-%s.mdb", cdir, stamp);
		/* a second name for the old store, not a copy: nothing is ever
		 * without a complete store under meta/ */
		if (link(to, kept) != 0)
			return -errno;
		if ((rc = fsync_path(cdir)) != 0)
			return rc;
	}
	if (rename(from, to) != 0)
		return -errno;
	/* the reader table of the old store's last server; LMDB makes a new one */
	unlink(lock);
	if ((rc = fsync_path(meta)) != 0)
		return rc;
	rmdir(aside);
	return fsync_path(cdir);
}

int cli_restore(int argc, char **argv)
{
	struct drive d[MAX_DIRS];
	const char *backup = NULL;
	int nd = 0, force = 0, in = -1, out = -1, ret = 1, rc = 0, dirs = 0, sha_init = 0;
	int first_missing = 0, adopted = 0;
	uint8_t head[META_BACKUP_HEAD], sum[META_BACKUP_SUM];
	char *man = NULL, cdir[4200], meta[4200], aside[4200] = "", path[4300], kept[4300];
	uint32_t mlen = 0, format = 0, got_format = 0;
	uint64_t len = 0;
	struct cn_digest sha;
	struct cn_digest_result res;
	json_t *m = NULL;
	struct stat st;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0) {
			force = 1;
		} else if (strcmp(argv[i], "--dir") == 0) {
			dirs = 1;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (argv[i][0] == '-') {
			usage(stderr);
			return 2;
		} else if (dirs) {
			if (nd == MAX_DIRS) {
				usage(stderr);
				return 2;
			}
			d[nd].dir = argv[i];
			d[nd++].lock_fd = -1;
		} else if (!backup) {
			backup = argv[i];
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (!backup || nd == 0) {
		usage(stderr);
		return 2;
	}
	/* 1. the drives, locked until the end */
again:
	if (claim_all(d, nd, &first_missing))
		goto out;
	if (first_missing && adopted) {
		fprintf(stderr, "cairn restore: %s has no marker after its adoption\n", d[0].dir);
		goto out;
	}
	if (join(cdir, sizeof(cdir), d[0].dir, "/.cairn") ||
	    join(meta, sizeof(meta), d[0].dir, "/.cairn/meta") ||
	    join(path, sizeof(path), d[0].dir, "/.cairn/raft")) {
		fprintf(stderr, "cairn restore: path too long: %s\n", d[0].dir);
		goto out;
	}
	if (stat(path, &st) == 0) {
		fprintf(stderr,
			"cairn restore: %s is a cluster node (%s exists); restoring a "
			"cluster's metadata is not supported by `cairn restore`\n",
			d[0].dir, path);
		goto out;
	}
	/* 2. the file */
	in = open(backup, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &st) != 0) {
		fprintf(stderr, "cairn restore: %s: %s\n", backup, strerror(errno));
		goto out;
	}
	rc = read_exact(in, head, sizeof(head));
	if (!rc)
		rc = meta_backup_head_decode(head, &mlen, &len);
	if (!rc && (uint64_t)st.st_size != META_BACKUP_HEAD + mlen + len + META_BACKUP_SUM)
		rc = CN_EINCOMPLETE;
	if (rc) {
		fprintf(stderr, "cairn restore: %s is not a complete cairn backup (%s): refused\n",
			backup, rc == CN_EINCOMPLETE ? "truncated or extended" : cn_strerror(rc));
		goto out;
	}
	man = malloc(mlen);
	if (!man || read_exact(in, man, mlen) || !(m = json_loadb(man, mlen, 0, NULL)) ||
	    !json_is_object(m)) {
		fprintf(stderr, "cairn restore: %s: unreadable manifest: refused\n", backup);
		goto out;
	}
	if (check_manifest(m, d, nd, first_missing, force, &format))
		goto out;
	if (first_missing) {
		/* nothing is written before the file proved whole */
		if (verify_file(in, backup, head, man, mlen, len) || adopt_first(d, nd))
			goto out;
		adopted = 1;
		json_decref(m);
		m = NULL;
		free(man);
		man = NULL;
		close(in);
		in = -1;
		goto again;
	}
	/* 3. the copy, aside, verified */
	if (mkdir(cdir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "cairn restore: %s: %s\n", cdir, strerror(errno));
		goto out;
	}
	if (join(aside, sizeof(aside), cdir, "/restore-XXXXXX") || !mkdtemp(aside)) {
		fprintf(stderr, "cairn restore: %s: %s\n", cdir, strerror(errno));
		aside[0] = 0;
		goto out;
	}
	join(path, sizeof(path), aside, "/data.mdb"); /* fits: path is the larger */
	out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	rc = out < 0 ? -errno : cn_digest_init(&sha, CN_DIG_SHA256);
	if (rc) {
		fprintf(stderr, "cairn restore: %s: %s\n", path, cn_strerror(rc));
		goto out;
	}
	sha_init = 1;
	cn_digest_update(&sha, head, sizeof(head));
	cn_digest_update(&sha, man, mlen);
	rc = copy_store(in, out, len, &sha);
	if (!rc)
		rc = read_exact(in, sum, sizeof(sum));
	if (rc) {
		fprintf(stderr, "cairn restore: copying the store: %s\n", cn_strerror(rc));
		goto out;
	}
	cn_digest_final(&sha, &res);
	if (memcmp(res.sha256, sum, sizeof(sum)) != 0) {
		fprintf(stderr,
			"cairn restore: %s: checksum mismatch, the backup is corrupt: "
			"refused (nothing was changed)\n",
			backup);
		goto out;
	}
	/* 4. durable, and LMDB agrees it is a store of that format */
	rc = fsync(out) == 0 ? 0 : -errno;
	close(out);
	out = -1;
	if (!rc)
		rc = fsync_path(aside);
	if (!rc)
		rc = meta_backup_inspect(aside, &got_format);
	join(path, sizeof(path), aside, "/lock.mdb");
	unlink(path);
	if (!rc && got_format != format)
		rc = CN_ECORRUPT;
	if (rc) {
		fprintf(stderr, "cairn restore: the restored store does not open: %s: refused\n",
			cn_strerror(rc));
		goto out;
	}
	/* 5, 6 */
	rc = swap_in(cdir, meta, aside, kept, sizeof(kept));
	if (rc) {
		fprintf(stderr, "cairn restore: replacing %s: %s\n", meta, cn_strerror(rc));
		goto out;
	}
	aside[0] = 0;
	printf("cairn restore: metadata of %s (format %u) restored into %s\n",
	       json_string_value(json_object_get(m, "time")), format, meta);
	if (kept[0])
		printf("cairn restore: the previous store is kept as %s (delete it when done)\n",
		       kept);
	ret = 0;
out:
	if (aside[0]) {
		join(path, sizeof(path), aside, "/data.mdb");
		unlink(path);
		rmdir(aside);
	}
	if (sha_init)
		cn_digest_release(&sha);
	if (out >= 0)
		close(out);
	if (in >= 0)
		close(in);
	json_decref(m);
	free(man);
	for (int i = 0; i < nd; i++)
		if (d[i].lock_fd >= 0)
			close(d[i].lock_fd);
	return ret;
}
