/*
 * cli/backup.c — `cairn admin backup DEST`: receives the server's metadata
 * backup (format in meta/backup.h) and writes it to DEST.
 *
 * The body streams through a 64 KiB buffer into DEST.partial while its
 * SHA-256 is computed; only a complete file whose checksum matches is
 * fsynced and renamed to DEST (then the directory is fsynced), so DEST is
 * either a whole verified backup or absent. An existing DEST is never
 * overwritten.
 */
#include "cli/cli_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/digest.h"
#include "core/err.h"
#include "meta/backup.h"

#define RBUF (64 * 1024)
#define HDR_MAX (16 * 1024)

struct recv {
	int out;		      /* DEST.partial */
	uint64_t total, off;	      /* Content-Length, bytes received */
	struct cn_digest sha;	      /* over [0, total - 32) */
	uint8_t sum[META_BACKUP_SUM]; /* the trailer, as received */
	uint8_t *meta;		      /* head + manifest, for the summary */
	size_t meta_cap, meta_len;
};

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

/* Takes body bytes at r->off: hashed and written, or kept as the trailer. */
static int take(struct recv *r, const uint8_t *p, size_t n)
{
	uint64_t body_end = r->total - META_BACKUP_SUM;

	if (n > r->total - r->off)
		return CN_ECORRUPT; /* more than announced */
	if (r->off < body_end) {
		size_t h = n < body_end - r->off ? n : (size_t)(body_end - r->off);
		cn_digest_update(&r->sha, p, h);
		if (r->meta_len < r->meta_cap) {
			size_t c = h < r->meta_cap - r->meta_len ? h : r->meta_cap - r->meta_len;
			memcpy(r->meta + r->meta_len, p, c);
			r->meta_len += c;
		}
	}
	if (r->off + n > body_end) {
		size_t skip = r->off < body_end ? (size_t)(body_end - r->off) : 0;
		memcpy(r->sum + (r->off + skip - body_end), p + skip, n - skip);
	}
	r->off += n;
	return write_all(r->out, p, n);
}

static int fsync_dir_of(const char *path)
{
	char *copy = strdup(path);
	int fd, rc = 0;

	if (!copy)
		return CN_ENOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
	free(copy);
	if (fd < 0)
		return -errno;
	if (fsync(fd) != 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* Prints what the backup holds (from its manifest). */
static void summary(const struct recv *r, const char *dest)
{
	uint32_t mlen;
	uint64_t len;
	json_t *m = NULL;

	if (r->meta_len >= META_BACKUP_HEAD && !meta_backup_head_decode(r->meta, &mlen, &len) &&
	    r->meta_len >= META_BACKUP_HEAD + mlen)
		m = json_loadb((const char *)r->meta + META_BACKUP_HEAD, mlen, 0, NULL);
	printf("cairn admin: backup written to %s (%" PRIu64 " bytes)\n", dest, r->total);
	if (m) {
		printf("  taken      %s\n", json_string_value(json_object_get(m, "time")));
		printf("  format     %" JSON_INTEGER_FORMAT "\n",
		       json_integer_value(json_object_get(m, "format")));
		printf("  deployment %s\n", json_string_value(json_object_get(m, "deployment")));
		printf("  drives     %zu\n", json_array_size(json_object_get(m, "drives")));
		if (json_is_true(json_object_get(m, "cluster")))
			printf("  cluster    node %" JSON_INTEGER_FORMAT
			       ", applied index >= %" JSON_INTEGER_FORMAT "\n",
			       json_integer_value(json_object_get(m, "node_id")),
			       json_integer_value(json_object_get(m, "applied")));
	}
	json_decref(m);
}

/* Reads the status line and headers; leaves the body bytes read with them in
 * buf[*body_at, *have). */
static int read_head(int fd, char *buf, size_t cap, size_t *have, size_t *body_at, int *status,
		     uint64_t *clen)
{
	char *end = NULL;

	*have = 0;
	while (!end) {
		ssize_t n;
		if (*have + 1 >= cap)
			return CN_EHDRTOOBIG;
		n = read(fd, buf + *have, cap - 1 - *have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : CN_EINCOMPLETE;
		*have += (size_t)n;
		buf[*have] = 0;
		end = strstr(buf, "\r\n\r\n");
	}
	*body_at = (size_t)(end + 4 - buf);
	if (sscanf(buf, "HTTP/1.1 %d", status) != 1)
		return CN_EBADREQ;
	*clen = UINT64_MAX;
	for (char *l = strstr(buf, "\r\n"); l && l < end; l = strstr(l + 2, "\r\n"))
		if (strncasecmp(l + 2, "Content-Length:", 15) == 0)
			*clen = strtoull(l + 17, NULL, 10);
	return 0;
}

int cli_backup(const struct endpoint *e, const char *user, const char *pass, const char *dest)
{
	char partial[4200];
	char *buf = NULL;
	struct recv r = {.out = -1};
	struct cn_digest_result res;
	size_t have = 0, at = 0;
	int fd = -1, rc, status = 0, ret = 1, sha_init = 0;
	struct stat st;

	if (stat(dest, &st) == 0) {
		fprintf(stderr, "cairn admin: %s exists; backups are never overwritten\n", dest);
		return 2;
	}
	if ((size_t)snprintf(partial, sizeof(partial), "%s.partial", dest) >= sizeof(partial)) {
		fprintf(stderr, "cairn admin: path too long: %s\n", dest);
		return 2;
	}
	buf = malloc(RBUF + 1);
	r.meta_cap = META_BACKUP_HEAD + META_BACKUP_MANIFEST_MAX;
	r.meta = malloc(r.meta_cap);
	if (!buf || !r.meta || cn_digest_init(&r.sha, CN_DIG_SHA256)) {
		rc = CN_ENOMEM;
		goto fail;
	}
	sha_init = 1;
	rc = cli_request_send(e, user, pass, "GET", "/_cairn/admin/backup", "", "", 0, &fd);
	if (rc)
		goto fail;
	rc = read_head(fd, buf, RBUF + 1, &have, &at, &status, &r.total);
	if (rc)
		goto fail;
	if (status != 200) {
		/* an error answer is a short JSON document */
		fprintf(stderr, "cairn admin: HTTP %d\n%.*s\n", status, (int)(have - at), buf + at);
		goto out;
	}
	if (r.total == UINT64_MAX || r.total < META_BACKUP_HEAD + META_BACKUP_SUM) {
		rc = CN_EBADREQ;
		goto fail;
	}
	r.out = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (r.out < 0) {
		rc = -errno;
		fprintf(stderr, "cairn admin: %s: %s\n", partial, cn_strerror(rc));
		goto out;
	}
	rc = take(&r, (const uint8_t *)buf + at, have - at);
	while (!rc && r.off < r.total) {
		ssize_t n = read(fd, buf, RBUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : CN_EINCOMPLETE;
			break;
		}
		rc = take(&r, (const uint8_t *)buf, (size_t)n);
	}
	if (rc)
		goto fail;
	cn_digest_final(&r.sha, &res);
	if (memcmp(res.sha256, r.sum, META_BACKUP_SUM) != 0) {
		rc = CN_EBADCHECKSUM;
		goto fail;
	}
	/* durable before it has its name: DEST is whole or absent */
	if (fsync(r.out) != 0) {
		rc = -errno;
		goto fail;
	}
	if (rename(partial, dest) != 0) {
		rc = -errno;
		goto fail;
	}
	rc = fsync_dir_of(dest);
	if (rc)
		goto fail;
	summary(&r, dest);
	ret = 0;
	goto out;
fail:
	fprintf(stderr, "cairn admin: backup failed: %s\n", cn_strerror(rc));
out:
	if (r.out >= 0) {
		close(r.out);
		if (ret)
			unlink(partial);
	}
	if (fd >= 0)
		close(fd);
	if (sha_init)
		cn_digest_release(&r.sha);
	free(r.meta);
	free(buf);
	return ret;
}
