/*
 * s3/admin_backup.c — GET /_cairn/admin/backup: a consistent online copy of
 * the metadata, streamed as a backup file (format in meta/backup.h).
 *
 *   [cluster: read barrier] -> copy_work (pool: compacting copy into an
 *   unlinked temp file beside the store) -> copied (loop: head + manifest)
 *   -> chunk_work (pool: pread + SHA-256) -> chunk_after (loop: write) ...
 *   -> the SHA-256 trailer -> s3_end
 *
 * Why a temporary file and not a pipe: responses always carry a length, and
 * the length of a compacted copy is known only once it is made. The copy
 * holds one LMDB read snapshot, so writers go on; memory stays one
 * S3_BIGBUF per backup. One backup at a time per process: each costs a copy
 * of the store on disk while it runs.
 *
 * In a cluster the copy is this node's replica after a read barrier: every
 * write acknowledged before the request is in it (the cluster's metadata as
 * of that point, at least as new as "applied" in the manifest).
 */
#include "s3/s3_int.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "meta/backup.h"

static atomic_int backup_running;

struct backup_op {
	struct meta_cmd barrier; /* first: the barrier's callback finds the op */
	char tmpdir[4200];
	int fd;
	int rc;
	uint64_t len, off, applied;
	struct cn_digest sha; /* one thread at a time: pool, then loop, ... */
	int sha_init;
	char *buf;
	size_t got;
};

/* Releases everything the op holds; the running flag goes last. Loop. */
static void op_end(struct s3_req *r, struct backup_op *op)
{
	if (op->fd >= 0)
		close(op->fd);
	op->fd = -1;
	if (op->buf)
		s3_bigbuf_put(r, op->buf);
	op->buf = NULL;
	if (op->sha_init)
		cn_digest_release(&op->sha);
	op->sha_init = 0;
	atomic_store(&backup_running, 0);
}

/* Mid-body failure: the client sees a short body (its length check fails). */
static void abort_stream(struct s3_req *r, struct backup_op *op)
{
	http_request_close_after(r->http);
	op_end(r, op);
	s3_end(r);
}

static void copy_work(struct s3_req *r, void *arg)
{
	struct backup_op *op = arg;

	if (r->srv->cluster)
		op->applied = meta_repl_applied(r->srv->meta); /* the copy is at least this */
	op->rc = meta_backup_copy(r->srv->meta, op->tmpdir, &op->fd, &op->len);
}

static void chunk_work(struct s3_req *r, void *arg)
{
	struct backup_op *op = arg;
	size_t want = op->len - op->off < S3_BIGBUF ? (size_t)(op->len - op->off) : S3_BIGBUF;
	ssize_t n;
	(void)r;

	n = pread(op->fd, op->buf, want, (off_t)op->off);
	op->got = n > 0 ? (size_t)n : 0;
	op->rc = n > 0 ? 0 : n == 0 ? CN_EINCOMPLETE : -errno;
	if (!op->rc)
		cn_digest_update(&op->sha, op->buf, op->got);
}

static void chunk_after(struct s3_req *r, int status, void *arg);

/* The copy is all written: the checksum ends the file. */
static void send_trailer(struct s3_req *r, struct backup_op *op)
{
	struct cn_digest_result res;

	cn_digest_final(&op->sha, &res);
	if (http_response_write_copy(r->http, res.sha256, META_BACKUP_SUM)) {
		abort_stream(r, op);
		return;
	}
	op_end(r, op);
	s3_end(r);
}

static void chunk_written(struct http_request *h, int err, void *arg)
{
	struct s3_req *r = h->data;
	struct backup_op *op = arg;

	if (err || r->aborted) {
		abort_stream(r, op);
		return;
	}
	if (op->off >= op->len) {
		send_trailer(r, op);
		return;
	}
	if (s3_work(r, chunk_work, chunk_after, op))
		abort_stream(r, op);
}

static void chunk_after(struct s3_req *r, int status, void *arg)
{
	struct backup_op *op = arg;

	if (status || op->rc || r->aborted ||
	    http_response_write(r->http, op->buf, op->got, chunk_written, op)) {
		if (op->rc)
			log_error("backup: reading the store copy: %s", cn_strerror(op->rc));
		abort_stream(r, op);
		return;
	}
	op->off += op->got;
}

/* The manifest (backup.h), JSON; NULL when memory ran out. Loop. */
static char *manifest(struct s3_req *r, struct backup_op *op)
{
	struct data_drive_stat ds[64];
	int nd = data_store_stats(r->srv->data, ds, 64);
	uint8_t dep[DATA_ID_LEN];
	char hex[2 * DATA_ID_LEN + 1], when[32];
	int64_t now = cn_now_ns();
	time_t secs = (time_t)(now / 1000000000);
	struct tm tm;
	json_t *drives = json_array(), *doc;
	uint64_t node_id = 0;
	char *s;

	data_store_deployment(r->srv->data, dep);
	cn_hex(dep, DATA_ID_LEN, hex);
	for (int i = 0; i < nd && i < 64; i++) {
		char id[2 * DATA_ID_LEN + 1];
		cn_hex(ds[i].id, DATA_ID_LEN, id);
		json_array_append_new(drives, json_pack("{s:s,s:i}", "id", id, "pos", ds[i].pos));
	}
	if (r->srv->cluster) {
		struct cluster_status *st = malloc(sizeof(*st));
		if (st) {
			cluster_status(r->srv->cluster, st);
			node_id = st->id;
			free(st);
		}
	}
	gmtime_r(&secs, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	doc = json_pack("{s:i,s:s,s:o,s:I,s:b,s:I,s:s,s:I,s:I}", "format", (int)META_FORMAT_VERSION,
			"deployment", hex, "drives", drives, "node_id", (json_int_t)node_id,
			"cluster", r->srv->cluster != NULL, "applied", (json_int_t)op->applied,
			"time", when, "time_ns", (json_int_t)now, "bytes", (json_int_t)op->len);
	s = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(doc);
	return s;
}

static void copied(struct s3_req *r, int status, void *arg)
{
	struct backup_op *op = arg;
	uint8_t head[META_BACKUP_HEAD];
	struct s3_hdrs h = {0};
	char *m;
	size_t mlen;

	if (status || op->rc) {
		int rc = status ? CN_EINTERNAL : op->rc;
		log_error("backup: copying the metadata store: %s", cn_strerror(rc));
		op_end(r, op);
		s3_send_json(r, 500,
			     json_pack("{s:s,s:s}", "error", cn_errname(rc), "message",
				       cn_strerror(rc)));
		return;
	}
	m = manifest(r, op);
	mlen = m ? strlen(m) : 0;
	if (!m || mlen > META_BACKUP_MANIFEST_MAX || cn_digest_init(&op->sha, CN_DIG_SHA256)) {
		free(m);
		op_end(r, op);
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	op->sha_init = 1;
	meta_backup_head_encode(head, (uint32_t)mlen, op->len);
	cn_digest_update(&op->sha, head, sizeof(head));
	cn_digest_update(&op->sha, m, mlen);
	s3_hdr_add(r, &h, "Content-Type", "application/octet-stream");
	if (s3_send_begin(r, 200, &h, sizeof(head) + mlen + op->len + META_BACKUP_SUM) ||
	    http_response_write_copy(r->http, head, sizeof(head)) ||
	    http_response_write_copy(r->http, m, mlen)) {
		free(m);
		abort_stream(r, op);
		return;
	}
	free(m);
	log_info("backup: streaming a metadata copy of %" PRIu64 " bytes", op->len);
	if (op->len == 0) {
		send_trailer(r, op);
		return;
	}
	op->buf = s3_bigbuf_get(r);
	if (!op->buf || s3_work(r, chunk_work, chunk_after, op))
		abort_stream(r, op);
}

static void start_copy(struct s3_req *r, struct backup_op *op)
{
	if (s3_work(r, copy_work, copied, op)) {
		op_end(r, op);
		s3_send_error(r, CN_ENOMEM);
	}
}

static void barrier_passed(struct meta_cmd *cmd, int rc, void *arg)
{
	struct s3_req *r = arg;
	struct backup_op *op = (struct backup_op *)cmd;

	if (rc || r->aborted) {
		op_end(r, op);
		s3_send_error(r, rc ? rc : CN_EINCOMPLETE);
		return;
	}
	start_copy(r, op);
}

void s3_admin_backup(struct s3_req *r)
{
	struct data_drive_stat ds[1];
	struct backup_op *op;
	int expect = 0;

	if (strcmp(r->http->method_str, "GET") != 0) {
		s3_send_error(r, CN_EBADMETHOD);
		return;
	}
	if (!atomic_compare_exchange_strong(&backup_running, &expect, 1)) {
		s3_send_json(r, 409,
			     json_pack("{s:s,s:s}", "error", "BackupRunning", "message",
				       "a backup is already running on this server"));
		return;
	}
	op = cn_pool_zalloc(r->pool, sizeof(*op));
	if (!op) {
		atomic_store(&backup_running, 0);
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	op->fd = -1;
	/* the store lives in the first directory's .cairn/ (main.c) */
	data_store_stats(r->srv->data, ds, 1);
	snprintf(op->tmpdir, sizeof(op->tmpdir), "%s/.cairn", ds[0].path);
	if (r->srv->cluster) {
		/* every write acknowledged before this request is in the copy */
		int rc;
		op->barrier.type = META_CMD_BARRIER;
		rc = s3_meta_submit(r, &op->barrier, barrier_passed, r);
		if (rc) {
			op_end(r, op);
			s3_send_error(r, rc);
		}
		return;
	}
	start_copy(r, op);
}
