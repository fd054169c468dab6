/*
 * s3/internal.c — the internal API: node-to-node calls on the cluster address
 * (--node / --node-bind), served by a second HTTP server. Every call is
 * signed with the cluster secret (cluster/auth.c); anything else gets 403.
 *
 *   POST /_cairn/internal/raft       Upgrade: cairn-raft -> 101, then the
 *                                    socket is a Raft connection
 *   POST /_cairn/internal/propose    body: encoded commands, each framed by
 *                                    its u32 LE length; the leader appends
 *                                    and applies them: 200 + a result line
 *                                    each (CN_ENOTLEADER: not appended)
 *   POST /_cairn/internal/barrier    the leader's read barrier: 200 + index
 *        [?known=N]                   a follower's read index (N: its commit index)
 *   POST /_cairn/internal/follows?term=T  a leader's read round: 200 if T
 *                                    is this node's current term, else 503
 *                                    (cluster/raft.c, struct read_round)
 *   GET  /_cairn/internal/status     this node's view (JSON)
 *   GET  /_cairn/internal/snapshot?min=N  a compacting store copy at an
 *                                    applied index >= N (503 if behind)
 *   POST /_cairn/internal/member?op=add&id=ID&address=A | op=remove&id=ID
 *                                    membership change on the leader
 *   GET  /_cairn/internal/shard?drive=HEX&blob=HEX&shard=I&off=O&len=L[&term=T]
 *                                    raw bytes of a shard on this node's drive
 *                                    (the reader verifies them): 200 (short
 *                                    at end of file), 404 no such shard;
 *                                    with term, X-Cairn-Follows: 1 if this
 *                                    node follows T (cluster/ticket.h)
 *   POST /_cairn/internal/gc         body: (u16 LE length, encoded layout)...;
 *                                    deletes each blob's shards on this
 *                                    node's drives: 200 + one character per
 *                                    blob (0 done, B pinned by a reader, D
 *                                    drive offline, E other)
 *   POST /_cairn/internal/shard-put?blob=&drive=&shard=&k=&m=&ck=&bs=&hdr=
 *                                    Upgrade: cairn-shard -> 101, then a
 *                                    shard stream (cluster/shard.c)
 *
 * Layer: s3 (it needs the HTTP layer); the work is cluster/'s.
 */
#include "s3/s3_int.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bg/rebalance.h"
#include "cluster/cluster.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/metrics.h"

/* an added node catches up (a store copy of any size) before it votes */
#define MEMBER_WAIT_MS (10 * 60 * 1000)
/* a batch, and one command that may cross its size */
#define PROPOSE_MAX_BODY ((size_t)CLUSTER_PROPOSE_BATCH_BYTES + META_INLINE_MAX + 64 * 1024)

/* Is the request signed with the cluster secret over this body? */
static int check_auth(struct s3_req *r, const void *body, size_t len)
{
	struct cluster *c = r->srv->cluster;
	size_t slen;
	const char *secret = cluster_secret(c, &slen);
	uint8_t sha[32];

	cn_sha256(body ? body : "", len, sha);
	return cluster_auth_verify(secret, slen, r->http->method_str, r->http->url,
				   s3_header(r, "x-cairn-node"), s3_header(r, "x-cairn-date"),
				   s3_header(r, "x-cairn-auth"), sha, cn_now_ns() / 1000000000LL);
}

static void send_text(struct s3_req *r, int status, const char *text)
{
	struct s3_hdrs h = {0};
	s3_hdr_add(r, &h, "Content-Type", "text/plain");
	s3_send(r, status, &h, text, strlen(text));
}

/* Errors of the internal API: 503 when another node should be asked, 403
 * for a bad signature, else 500; the text says which. */
static void send_err(struct s3_req *r, int rc)
{
	int status =
		rc == CN_ENOTLEADER || rc == CN_ENOLEADER || rc == CN_EAGAIN || rc == CN_ESHUTDOWN
			? 503
		: rc == CN_EACCESS					  ? 403
		: rc == CN_EBADREQ || rc == CN_EINVAL || rc == CN_EBADXML ? 400
									  : 500;
	send_text(r, status, cn_errname(rc));
}

/* ---- raft ---- */

static void raft_upgraded(struct http_request *h, int fd, void *arg)
{
	struct s3_req *r = h->data;
	uint64_t id = (uint64_t)(uintptr_t)arg;
	const char *node = s3_header(r, "x-cairn-node");

	if (fd >= 0)
		cluster_raft_accept(r->srv->cluster, fd, id, node);
	s3_end(r);
}

static void raft_body(struct s3_req *r, int err, char *buf, size_t len);

/* The upgrade answers once the (empty) request body is complete. */
static void op_raft(struct s3_req *r)
{
	s3_body_read_small(r, 0, raft_body);
}

static void raft_body(struct s3_req *r, int err, char *buf, size_t len)
{
	const char *id = s3_header(r, "x-cairn-id");
	const char *up = s3_header(r, "upgrade");
	static const struct http_header hdrs[] = {
		{"Upgrade", 7, "cairn-raft", 10},
		{"Connection", 10, "Upgrade", 7},
	};
	uint64_t n;
	char *end;
	int rc;

	(void)buf;
	if (err || len) {
		send_err(r, err ? err : CN_EBADREQ);
		return;
	}
	if (!id || !up || strcasecmp(up, "cairn-raft") != 0) {
		send_err(r, CN_EBADREQ);
		return;
	}
	n = strtoull(id, &end, 10);
	if (*end || !n) {
		send_err(r, CN_EBADREQ);
		return;
	}
	rc = http_request_upgrade(r->http, hdrs, 2, raft_upgraded, (void *)(uintptr_t)n);
	if (rc)
		send_err(r, rc);
}

/* ---- propose / barrier ---- */

/* A forwarded batch: frames of (u32 LE length, encoded command); each is
 * proposed here and the answer has one result line per command, in order:
 * "<rc> <index> <vid|-> <delete_marker> <size> <etag|-> <entry term>" (the
 * term 0 when the entry did not commit here: cluster/ticket.h). */
struct prop_batch;
struct prop_op {
	struct meta_cmd cmd;
	struct prop_batch *b;
	char line[192];
};

struct prop_batch {
	struct s3_req *r;
	struct prop_op *ops;
	int n, left;
};

static void prop_line(struct prop_op *op, int rc)
{
	const struct meta_cmd_result *res = &op->cmd.res;

	snprintf(op->line, sizeof(op->line), "%d %" PRIu64 " %s %d %" PRIu64 " %.64s %" PRIu64 "\n",
		 rc, res->index, res->vid_text[0] ? res->vid_text : "-", res->delete_marker,
		 res->size, res->etag[0] ? res->etag : "-", op->cmd.entry_term);
}

static void batch_finish(struct prop_batch *b)
{
	struct s3_req *r = b->r;
	struct cn_buf out;

	cn_buf_init(&out);
	for (int i = 0; i < b->n; i++) {
		cn_buf_puts(&out, b->ops[i].line);
		meta_cmd_release(&b->ops[i].cmd);
	}
	if (out.err) {
		cn_buf_release(&out);
		send_err(r, CN_ENOMEM);
		return;
	}
	struct s3_hdrs h = {0};
	s3_hdr_add(r, &h, "Content-Type", "text/plain");
	s3_send(r, 200, &h, out.p, out.len);
	cn_buf_release(&out);
}

static void propose_done(struct meta_cmd *cmd, int rc, void *arg)
{
	struct prop_op *op = (struct prop_op *)((char *)cmd - offsetof(struct prop_op, cmd));
	(void)arg;

	prop_line(op, rc);
	if (--op->b->left == 0)
		batch_finish(op->b);
}

static void propose_body(struct s3_req *r, int err, char *buf, size_t len)
{
	struct prop_batch *b;
	size_t off;
	int rc, n = 0;

	if (err) {
		send_err(r, err);
		return;
	}
	rc = check_auth(r, buf, len);
	if (rc) {
		send_err(r, rc);
		return;
	}
	for (off = 0; off + 4 <= len; n++) {
		size_t l = (size_t)(uint8_t)buf[off] | (size_t)(uint8_t)buf[off + 1] << 8 |
			   (size_t)(uint8_t)buf[off + 2] << 16 |
			   (size_t)(uint8_t)buf[off + 3] << 24;
		if (l > len - off - 4)
			break;
		off += 4 + l;
	}
	if (off != len || n == 0) {
		send_err(r, CN_EBADREQ);
		return;
	}
	b = cn_pool_zalloc(r->pool, sizeof(*b));
	if (b)
		b->ops = cn_pool_zalloc(r->pool, (size_t)n * sizeof(*b->ops));
	if (!b || !b->ops) {
		send_err(r, CN_ENOMEM);
		return;
	}
	b->r = r;
	b->n = n;
	off = 0;
	for (int i = 0; i < n; i++) {
		size_t l = (size_t)(uint8_t)buf[off] | (size_t)(uint8_t)buf[off + 1] << 8 |
			   (size_t)(uint8_t)buf[off + 2] << 16 |
			   (size_t)(uint8_t)buf[off + 3] << 24;
		b->ops[i].b = b;
		/* the commands borrow buf (the request's pool) until answered */
		rc = meta_cmd_decode(buf + off + 4, l, &b->ops[i].cmd);
		off += 4 + l;
		if (rc) {
			for (int k = 0; k < i; k++)
				meta_cmd_release(&b->ops[k].cmd);
			send_err(r, CN_EBADREQ);
			return;
		}
		b->ops[i].cmd.local_only = 1; /* forwarded once already */
	}
	/* every callback runs on this loop, after this function returns */
	b->left = n;
	for (int i = 0; i < n; i++) {
		rc = s3_meta_submit(r, &b->ops[i].cmd, propose_done, r);
		if (rc)
			propose_done(&b->ops[i].cmd, rc, r);
	}
}

static void barrier_done(struct meta_cmd *cmd, int rc, void *arg)
{
	struct s3_req *r = arg;
	char line[32];

	if (rc) {
		send_err(r, rc);
		return;
	}
	/* the term the index was given in, when that was asked for: a
	 * ticket's, or the round's of a term */
	if (cmd->ticket_term || cmd->leader_term)
		snprintf(line, sizeof(line), "%" PRIu64 " %" PRIu64 "\n", cmd->res.index,
			 cmd->ticket_term ? cmd->ticket_term : cmd->leader_term);
	else
		snprintf(line, sizeof(line), "%" PRIu64 "\n", cmd->res.index);
	send_text(r, 200, line);
}

/* An unsigned decimal query value (no sign, no spaces), or CN_EBADREQ. */
static int query_u64(const char *v, uint64_t *out)
{
	char *end = NULL;

	if (!*v || !isdigit((unsigned char)*v))
		return CN_EBADREQ;
	errno = 0;
	*out = strtoull(v, &end, 10);
	return *end || errno ? CN_EBADREQ : 0;
}

static void op_barrier(struct s3_req *r)
{
	struct meta_cmd *cmd = cn_pool_zalloc(r->pool, sizeof(*cmd));
	const char *known = s3_route_param(&r->route, "known");
	const char *ticket = s3_route_param(&r->route, "ticket");
	const char *term = s3_route_param(&r->route, "term");
	int rc;

	if (!cmd) {
		send_err(r, CN_ENOMEM);
		return;
	}
	cmd->type = META_CMD_BARRIER;
	cmd->local_only = 1;
	if (known) {
		/* a follower that waits for the index itself: a read round
		 * (without it, a node of an earlier version: a barrier entry);
		 * ticket=1: its writes alone, which need no round when this
		 * node is the ready leader (cluster/ticket.h); term=T: a round
		 * of term T only, confirming writes that went ahead on a
		 * ticket of T */
		if (query_u64(known, &cmd->known_commit) || (ticket && strcmp(ticket, "1") != 0) ||
		    (term && (query_u64(term, &cmd->leader_term) || !cmd->leader_term))) {
			send_err(r, CN_EBADREQ);
			return;
		}
		cmd->read_index = 1;
		cmd->ticket_ok = ticket && !term;
	}
	rc = s3_meta_submit(r, cmd, barrier_done, r);
	if (rc)
		send_err(r, rc);
}

/* A leader's read round: is this node still in the leader's term? Answered
 * here, on the loop, from the term Raft published before voting in it. */
static void op_follows(struct s3_req *r)
{
	const char *term = s3_route_param(&r->route, "term");
	char *end = NULL;
	uint64_t t;

	if (!term || !*term || *term == '-') {
		send_err(r, CN_EBADREQ);
		return;
	}
	t = strtoull(term, &end, 10);
	if (*end) {
		send_err(r, CN_EBADREQ);
		return;
	}
	if (cluster_follows(r->srv->cluster, t))
		send_text(r, 200, CLUSTER_FOLLOWS_BATCHES "\n");
	else
		send_err(r, CN_ENOTLEADER);
}

/* ---- status ---- */

json_t *s3_cluster_status_json(const struct cluster_status *st)
{
	json_t *nodes = json_array();
	static const char *const roles[] = {"unavailable", "follower", "candidate", "leader"};

	for (int i = 0; i < st->n_nodes; i++)
		json_array_append_new(nodes,
				      json_pack("{s:I,s:s,s:s}", "id", (json_int_t)st->nodes[i].id,
						"address", st->nodes[i].address, "role",
						st->nodes[i].voter ? "voter" : "standby"));
	return json_pack(
		"{s:I,s:s,s:s,s:I,s:s,s:I,s:I,s:I,s:I,s:b,s:o,s:{s:I,s:I,s:I},s:{s:I,s:I},s:I,"
		"s:{s:I,s:f},s:{s:i,s:i,s:I}}",
		"id", (json_int_t)st->id, "address", st->address, "state", roles[st->role],
		"leader_id", (json_int_t)st->leader_id, "leader_address", st->leader_address,
		"term", (json_int_t)st->term, "commit", (json_int_t)st->commit, "applied",
		(json_int_t)st->applied, "last_index", (json_int_t)st->last_index, "ready",
		st->ready, "configuration", nodes, "read_rounds", "started",
		(json_int_t)st->read_rounds, "reads", (json_int_t)st->read_round_reads, "paced",
		(json_int_t)st->read_rounds_paced, "proposals", "entries",
		(json_int_t)st->entries_proposed, "commands", (json_int_t)st->cmds_proposed,
		"store_commits", (json_int_t)st->store_commits, "log_aio", "destroys_deferred",
		(json_int_t)st->log_aio_destroys, "destroy_max_ms",
		st->log_aio_destroy_max_ns / 1e6, "snapshot", "threshold",
		(int)st->snapshot_threshold, "trailing", (int)st->snapshot_trailing,
		"entry_mean_bytes", (json_int_t)st->entry_mean_bytes);
}

static void op_status(struct s3_req *r)
{
	struct cluster_status st;
	json_t *j;
	char *s;

	cluster_status(r->srv->cluster, &st);
	j = s3_cluster_status_json(&st);
	if (j) {
		/* which drives this node has: other nodes read their shards here */
		uint8_t ids[64][DATA_ID_LEN];
		int n = data_store_drive_ids(r->srv->data, ids, 64);
		json_t *d = json_array();
		for (int i = 0; i < n; i++) {
			char hex[2 * DATA_ID_LEN + 1];
			cn_hex(ids[i], DATA_ID_LEN, hex);
			json_array_append_new(d, json_string(hex));
		}
		json_object_set_new(j, "drives", d);
		/* down to the reserve where the metadata lives: the other nodes
		 * refuse bodies bound for every node's store (data.h) */
		json_object_set_new(
			j, "meta_full",
			json_boolean(data_store_check_space(r->srv->data, 0, 0) == CN_ENOSPACE));
		if (r->srv->rebalance)
			json_object_set_new(j, "rebalance", s3_rebalance_json(r->srv->rebalance));
	}
	s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!s) {
		send_err(r, CN_ENOMEM);
		return;
	}
	struct s3_hdrs h = {0};
	s3_hdr_add(r, &h, "Content-Type", "application/json");
	s3_send(r, 200, &h, s, strlen(s));
	free(s);
}

/* ---- snapshot: a store copy, streamed from an unlinked temp file ---- */

struct snap_op {
	uint64_t min, applied, size, off;
	int fd;
	int rc;
	char *buf;
	size_t got;
};

static void snap_copy(struct s3_req *r, void *arg)
{
	struct snap_op *op = arg;
	struct stat st;

	op->rc = cluster_snapshot_copy(r->srv->cluster, op->min, op->fd, &op->applied);
	if (!op->rc && fstat(op->fd, &st) != 0)
		op->rc = -errno;
	op->size = op->rc ? 0 : (uint64_t)st.st_size;
}

static void snap_read(struct s3_req *r, void *arg)
{
	struct snap_op *op = arg;
	size_t want = op->size - op->off < S3_BIGBUF ? (size_t)(op->size - op->off) : S3_BIGBUF;
	ssize_t n;
	(void)r;

	n = pread(op->fd, op->buf, want, (off_t)op->off);
	op->got = n > 0 ? (size_t)n : 0;
	op->rc = n > 0 ? 0 : n == 0 ? CN_EINCOMPLETE : -errno;
}

static void snap_end(struct s3_req *r, struct snap_op *op)
{
	if (op->fd >= 0)
		close(op->fd);
	op->fd = -1;
	s3_bigbuf_put(r, op->buf);
	op->buf = NULL;
}

static void snap_read_after(struct s3_req *r, int status, void *arg);

static void snap_written(struct http_request *h, int err, void *arg)
{
	struct s3_req *r = h->data;
	struct snap_op *op = arg;

	if (err || r->aborted || op->off >= op->size) {
		if (err || r->aborted)
			http_request_close_after(r->http);
		snap_end(r, op);
		s3_end(r);
		return;
	}
	if (s3_work(r, snap_read, snap_read_after, op)) {
		http_request_close_after(r->http);
		snap_end(r, op);
		s3_end(r);
	}
}

static void snap_read_after(struct s3_req *r, int status, void *arg)
{
	struct snap_op *op = arg;

	if (status || op->rc || r->aborted ||
	    http_response_write(r->http, op->buf, op->got, snap_written, op)) {
		/* mid-body: the reader sees a short body and tries again */
		http_request_close_after(r->http);
		snap_end(r, op);
		s3_end(r);
		return;
	}
	op->off += op->got;
}

static void snap_copied(struct s3_req *r, int status, void *arg)
{
	struct snap_op *op = arg;
	struct s3_hdrs h = {0};

	if (status || op->rc) {
		snap_end(r, op);
		send_err(r, status ? CN_EINTERNAL : op->rc);
		return;
	}
	s3_hdr_add(r, &h, "Content-Type", "application/octet-stream");
	s3_hdr_addf(r, &h, "X-Cairn-Applied", "%" PRIu64, op->applied);
	if (s3_send_begin(r, 200, &h, op->size) || op->size == 0) {
		snap_end(r, op);
		s3_end(r);
		return;
	}
	op->buf = s3_bigbuf_get(r);
	if (!op->buf || s3_work(r, snap_read, snap_read_after, op)) {
		http_request_close_after(r->http);
		snap_end(r, op);
		s3_end(r);
	}
}

static void op_snapshot(struct s3_req *r)
{
	const char *min = s3_route_param(&r->route, "min");
	struct snap_op *op = cn_pool_zalloc(r->pool, sizeof(*op));
	char *path;

	if (!op) {
		send_err(r, CN_ENOMEM);
		return;
	}
	op->min = min ? strtoull(min, NULL, 10) : 0;
	/* An unlinked file beside the store (the copy is as big as the store):
	 * its space goes back when it is closed, whatever happens to this
	 * request. */
	path = cn_pool_printf(r->pool, "%s/outgoing-XXXXXX", cluster_dir(r->srv->cluster));
	op->fd = path ? mkostemp(path, O_CLOEXEC) : -1;
	if (op->fd < 0) {
		send_err(r, path ? -errno : CN_ENOMEM);
		return;
	}
	unlink(path);
	if (s3_work(r, snap_copy, snap_copied, op)) {
		snap_end(r, op);
		send_err(r, CN_ENOMEM);
	}
}

/* ---- membership ---- */

struct member_op {
	int add;
	uint64_t id;
	const char *address;
	int rc;
};

static void member_work(struct s3_req *r, void *arg)
{
	struct member_op *op = arg;
	struct cluster *c = r->srv->cluster;

	char addr[CLUSTER_ADDR_MAX + 1] = "";

	if (!op->add) {
		struct cluster_status *st = malloc(sizeof(*st));
		if (st) {
			cluster_status(c, st);
			for (int i = 0; i < st->n_nodes; i++)
				if (st->nodes[i].id == op->id)
					snprintf(addr, sizeof(addr), "%s", st->nodes[i].address);
			free(st);
		}
	}
	if (!op->add && addr[0] && op->id == cluster_id(c)) {
		/* The leader removes itself: once out of the configuration it
		 * reaches no leader to mark the map with, and nobody else
		 * would. Mark it first, while it still leads (placement stops
		 * choosing it a moment early, which is harmless). */
		int rc = cluster_map_remove_node(r->srv->meta, op->id, addr);
		if (rc) {
			op->rc = rc;
			return;
		}
	}
	op->rc = op->add ? cluster_member_add(c, op->id, op->address, MEMBER_WAIT_MS)
			 : cluster_member_remove(c, op->id, MEMBER_WAIT_MS);
	if (!op->add && !op->rc && addr[0]) {
		/* out of the configuration: placement must stop choosing it.
		 * Removing the leader leaves no leader for an election's time:
		 * retry while there is none. */
		int rc, tries = 0;
		while ((rc = cluster_map_remove_node(r->srv->meta, op->id, addr)) != 0 &&
		       (rc == CN_ENOLEADER || rc == CN_ENOTLEADER || rc == CN_EAGAIN ||
			rc == CN_EUNCERTAIN) &&
		       ++tries < 300)
			usleep(100 * 1000);
		if (rc)
			log_warn("cluster: node %llu removed, but not marked in the map: %s",
				 (unsigned long long)op->id, cn_strerror(rc));
	}
}

static void member_after(struct s3_req *r, int status, void *arg)
{
	struct member_op *op = arg;

	if (status || op->rc)
		send_err(r, status ? CN_EINTERNAL : op->rc);
	else
		send_text(r, 200, "ok\n");
}

static void op_member(struct s3_req *r)
{
	const char *o = s3_route_param(&r->route, "op");
	const char *id = s3_route_param(&r->route, "id");
	struct member_op *op = cn_pool_zalloc(r->pool, sizeof(*op));

	if (!op || !o || !id) {
		send_err(r, op ? CN_EBADREQ : CN_ENOMEM);
		return;
	}
	op->add = strcmp(o, "add") == 0;
	op->id = strtoull(id, NULL, 10);
	op->address = s3_route_param(&r->route, "address");
	if ((!op->add && strcmp(o, "remove") != 0) || !op->id || (op->add && !op->address)) {
		send_err(r, CN_EBADREQ);
		return;
	}
	if (s3_work(r, member_work, member_after, op))
		send_err(r, CN_ENOMEM);
}

/* ---- shard reads for other nodes ---- */

#define SHARD_READ_MAX ((size_t)DATA_BLOCK_MAX + 64)

struct shard_op {
	uint8_t drive[DATA_ID_LEN], blob[DATA_ID_LEN];
	int shard;
	uint64_t off;
	size_t len;
	uint8_t *buf;
	ssize_t got;
	int begun;     /* the headers and len bytes are promised (after a sendfile) */
	uint64_t term; /* a leader asks whether this node follows it (0: no) */
};

/* The answer to a leader's question carried by its shard read: yes if
 * this node has voted in no term after it, now, after the request came
 * (cluster/ticket.h). No answer is a no. */
static void shard_follows(struct s3_req *r, const struct shard_op *op, struct s3_hdrs *h)
{
	if (op->term && cluster_follows(r->srv->cluster, op->term))
		s3_hdr_add(r, h, "X-Cairn-Follows", "1");
}

static int unhex16(const char *s, uint8_t out[DATA_ID_LEN])
{
	if (!s || strlen(s) != 2 * DATA_ID_LEN)
		return CN_EINVAL;
	for (int i = 0; i < DATA_ID_LEN; i++) {
		int hi = cn_hexval(s[2 * i]), lo = cn_hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return CN_EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static void shard_work(struct s3_req *r, void *arg)
{
	struct shard_op *op = arg;
	op->got = data_shard_pread(r->srv->data, op->drive, op->blob, op->shard, op->buf, op->len,
				   op->off);
}

static void shard_written(struct http_request *h, int err, void *arg)
{
	(void)err;
	(void)arg;
	s3_end(h->data);
}

static void shard_after(struct s3_req *r, int status, void *arg)
{
	struct shard_op *op = arg;
	struct s3_hdrs h = {0};

	if (op->begun) {
		/* the rest of a piece whose length has gone out: anything less
		 * can only end the connection, which the other node sees as a
		 * short answer */
		if (status || op->got != (ssize_t)op->len ||
		    http_response_write(r->http, op->buf, op->len, shard_written, op)) {
			http_request_close_after(r->http);
			s3_end(r);
		}
		return;
	}
	if (status || op->got < 0) {
		int rc = status ? CN_EINTERNAL : (int)op->got;
		send_text(r,
			  rc == CN_ENOTFOUND ? 404
			  : rc == CN_EDRIVE  ? 503
					     : 500,
			  cn_errname(rc));
		return;
	}
	s3_hdr_add(r, &h, "Content-Type", "application/octet-stream");
	shard_follows(r, op, &h);
	if (s3_send_begin(r, 200, &h, (uint64_t)op->got) || op->got == 0 ||
	    http_response_write(r->http, op->buf, (size_t)op->got, shard_written, op))
		s3_end(r);
}

/* A piece in the page cache leaves by sendfile(2): no copy into a buffer and
 * out of it again. Nothing is checked here either way, since the reading
 * node verifies every piece. A socket that fills first gets the rest copied
 * (from the cache here, else on a thread). Returns 0 if the request is not
 * answered (nothing cached, an empty range, TLS): then the buffer path. */
static int shard_sendfile(struct s3_req *r, struct shard_op *op)
{
	struct s3_hdrs h = {0};
	size_t avail;
	ssize_t sent;
	int fd;

	if (r->http->tls)
		return 0;
	fd = data_shard_open_resident(r->srv->data, op->drive, op->blob, op->shard, op->off,
				      op->len, &avail);
	if (fd < 0)
		return 0;
	if (avail == 0) {
		data_shard_close(r->srv->data, fd);
		return 0;
	}
	s3_hdr_add(r, &h, "Content-Type", "application/octet-stream");
	shard_follows(r, op, &h);
	if (s3_send_begin(r, 200, &h, (uint64_t)avail)) {
		data_shard_close(r->srv->data, fd);
		s3_end(r);
		return 1;
	}
	sent = http_response_sendfile(r->http, fd, op->off, avail);
	data_shard_close(r->srv->data, fd);
	if (sent < 0) {
		http_request_close_after(r->http);
		s3_end(r);
		return 1;
	}
	if ((size_t)sent == avail) {
		cn_metrics_shard_serve(CN_SHARD_SENDFILE);
		s3_end(r);
		return 1;
	}
	cn_metrics_shard_serve(CN_SHARD_PARTIAL);
	op->begun = 1;
	op->off += (uint64_t)sent;
	op->len = avail - (size_t)sent;
	op->buf = cn_pool_alloc(r->pool, op->len);
	if (!op->buf) {
		http_request_close_after(r->http);
		s3_end(r);
		return 1;
	}
	op->got = data_shard_pread_cached(r->srv->data, op->drive, op->blob, op->shard, op->buf,
					  op->len, op->off);
	if (op->got != CN_EWOULDBLOCK)
		shard_after(r, 0, op);
	else if (s3_work(r, shard_work, shard_after, op))
		shard_after(r, CN_ENOMEM, op);
	return 1;
}

static void op_shard(struct s3_req *r)
{
	struct shard_op *op = cn_pool_zalloc(r->pool, sizeof(*op));
	const char *sh = s3_route_param(&r->route, "shard");
	const char *off = s3_route_param(&r->route, "off");
	const char *len = s3_route_param(&r->route, "len");
	const char *term = s3_route_param(&r->route, "term");
	char *end = NULL;

	if (!op || unhex16(s3_route_param(&r->route, "drive"), op->drive) ||
	    unhex16(s3_route_param(&r->route, "blob"), op->blob) || !sh || !off || !len) {
		send_err(r, op ? CN_EBADREQ : CN_ENOMEM);
		return;
	}
	if (term) {
		if (*term < '0' || *term > '9' || (op->term = strtoull(term, &end, 10), *end)) {
			send_err(r, CN_EBADREQ);
			return;
		}
	}
	op->shard = atoi(sh);
	op->off = strtoull(off, NULL, 10);
	op->len = strtoull(len, NULL, 10);
	if (op->shard < 0 || op->shard >= DATA_MAX_SHARDS || op->len > SHARD_READ_MAX) {
		send_err(r, CN_EBADREQ);
		return;
	}
	if (shard_sendfile(r, op))
		return;
	op->buf = cn_pool_alloc(r->pool, op->len ? op->len : 1);
	if (!op->buf) {
		send_err(r, CN_ENOMEM);
		return;
	}
	/* from the page cache on the loop if it is all there: two thread
	 * hand-offs fewer per piece another node reads */
	op->got = data_shard_pread_cached(r->srv->data, op->drive, op->blob, op->shard, op->buf,
					  op->len, op->off);
	if (op->got != CN_EWOULDBLOCK) {
		cn_metrics_shard_serve(CN_SHARD_LOOP);
		shard_after(r, 0, op);
		return;
	}
	cn_metrics_shard_serve(CN_SHARD_POOL);
	if (s3_work(r, shard_work, shard_after, op))
		send_err(r, CN_ENOMEM);
}

/* ---- shard-put: another node streams a shard of a blob it writes ---- */

static int num_param(struct s3_req *r, const char *name, unsigned long max, unsigned long *out)
{
	const char *v = s3_route_param(&r->route, name);
	char *end;

	if (!v || !*v || *v == '-')
		return CN_EBADREQ;
	*out = strtoul(v, &end, 10);
	return *end || *out > max ? CN_EBADREQ : 0;
}

static void shard_put_upgraded(struct http_request *h, int fd, void *arg)
{
	struct s3_req *r = h->data;
	struct cluster_shard_params *p = arg;

	if (fd >= 0)
		cluster_shard_accept(r->srv->cluster, r->srv->data, fd, p);
	else
		cluster_shard_recv_unreserve();
	s3_end(r);
}

/* Parses what the signed target names into p. */
static int shard_put_params(struct s3_req *r, struct cluster_shard_params *p)
{
	const char *up = s3_header(r, "upgrade");
	unsigned long k, m, ck, bs, hdr, shard;

	if (!up || strcasecmp(up, "cairn-shard") != 0 ||
	    unhex16(s3_route_param(&r->route, "drive"), p->drive) ||
	    unhex16(s3_route_param(&r->route, "blob"), p->blob) ||
	    num_param(r, "k", DATA_MAX_SHARDS, &k) || num_param(r, "m", DATA_MAX_SHARDS, &m) ||
	    num_param(r, "ck", 255, &ck) || num_param(r, "bs", DATA_BLOCK_MAX, &bs) ||
	    num_param(r, "hdr", 65535, &hdr) || num_param(r, "shard", DATA_MAX_SHARDS, &shard))
		return CN_EBADREQ;
	p->k = (uint8_t)k;
	p->m = (uint8_t)m;
	p->cksum = (uint8_t)ck;
	p->block_size = (uint32_t)bs;
	p->hdr_len = (uint32_t)hdr;
	p->shard = (int)shard;
	snprintf(p->auth, sizeof(p->auth), "%s", s3_header(r, "x-cairn-auth"));
	return 0;
}

/* The upgrade answers once the (empty) request body is complete. */
static void shard_put_body(struct s3_req *r, int err, char *buf, size_t len)
{
	struct cluster_shard_params *p = cn_pool_zalloc(r->pool, sizeof(*p));
	static const struct http_header hdrs[] = {
		{"Upgrade", 7, "cairn-shard", 11},
		{"Connection", 10, "Upgrade", 7},
	};
	int rc;

	(void)buf;
	if (err || len || !p) {
		send_err(r, err ? err : p ? CN_EBADREQ : CN_ENOMEM);
		return;
	}
	if ((rc = shard_put_params(r, p)) != 0 || (rc = cluster_shard_recv_reserve()) != 0) {
		send_err(r, rc);
		return;
	}
	rc = http_request_upgrade(r->http, hdrs, 2, shard_put_upgraded, p);
	if (rc) {
		cluster_shard_recv_unreserve();
		send_err(r, rc);
	}
}

static void op_shard_put(struct s3_req *r)
{
	s3_body_read_small(r, 0, shard_put_body);
}

/* ---- gc: the leader's collector asks every node to delete blobs ---- */

/* At most this many layouts per call (the collector sends up to 256). */
#define GC_MAX_BLOBS 512
#define GC_MAX_BODY ((size_t)GC_MAX_BLOBS * (2 + DATA_LAYOUT_MAX))

struct gc_op {
	const uint8_t *buf;
	size_t len;
	char *res; /* one character per blob: 0 deleted, B busy, D drive, E bad */
	unsigned n;
};

static void gc_work(struct s3_req *r, void *arg)
{
	struct gc_op *op = arg;
	size_t off = 0;

	for (unsigned i = 0; i < op->n; i++) {
		size_t l = (size_t)op->buf[off] | (size_t)op->buf[off + 1] << 8;
		struct blob_layout bl;
		int rc = blob_layout_decode(op->buf + off + 2, l, &bl);
		off += 2 + l;
		if (rc == 0)
			rc = blob_delete(r->srv->data, &bl);
		op->res[i] = rc == 0 ? '0' : rc == CN_EBUSY ? 'B' : rc == CN_EDRIVE ? 'D' : 'E';
	}
}

static void gc_after(struct s3_req *r, int status, void *arg)
{
	struct gc_op *op = arg;
	struct s3_hdrs h = {0};

	if (status) {
		send_err(r, CN_EINTERNAL);
		return;
	}
	s3_hdr_add(r, &h, "Content-Type", "text/plain");
	s3_send(r, 200, &h, op->res, op->n);
}

static void gc_body(struct s3_req *r, int err, char *buf, size_t len)
{
	struct gc_op *op;
	size_t off = 0;
	unsigned n = 0;
	int rc;

	if (err) {
		send_err(r, err);
		return;
	}
	if ((rc = check_auth(r, buf, len)) != 0) {
		send_err(r, rc);
		return;
	}
	while (off + 2 <= len) { /* count, and check every frame fits */
		size_t l = (size_t)(uint8_t)buf[off] | (size_t)(uint8_t)buf[off + 1] << 8;
		if (l > len - off - 2)
			break;
		off += 2 + l;
		n++;
	}
	op = cn_pool_zalloc(r->pool, sizeof(*op));
	if (off != len || n > GC_MAX_BLOBS || !op || !(op->res = cn_pool_alloc(r->pool, n + 1))) {
		send_err(r, op ? CN_EBADREQ : CN_ENOMEM);
		return;
	}
	op->buf = (const uint8_t *)buf;
	op->len = len;
	op->n = n;
	if (s3_work(r, gc_work, gc_after, op))
		send_err(r, CN_ENOMEM);
}

/* ---- dispatch ---- */

void s3_internal(struct s3_req *r)
{
	const char *p = r->http->path;
	int post = strcmp(r->http->method_str, "POST") == 0;
	struct s3_route_input in;
	int rc;

	r->http->op = "Internal";
	if (!r->srv->cluster || strncmp(p, "/_cairn/internal/", 17) != 0) {
		send_err(r, r->srv->cluster ? CN_EBADREQ : CN_ESHUTDOWN);
		return;
	}
	p += 17;
	memset(&in, 0, sizeof(in));
	in.method = S3_GET;
	in.path = "/";
	in.path_len = 1;
	in.query = r->http->query;
	in.query_len = r->http->query_len;
	rc = s3_route_parse(r->pool, &in, &r->route);
	if (rc) {
		send_err(r, rc);
		return;
	}
	if (post && strcmp(p, "propose") == 0) {
		/* signed over the body: checked once it is read */
		s3_body_read_small(r, PROPOSE_MAX_BODY, propose_body);
		return;
	}
	if (post && strcmp(p, "gc") == 0) {
		s3_body_read_small(r, GC_MAX_BODY, gc_body); /* signed over the body */
		return;
	}
	rc = check_auth(r, NULL, 0);
	if (rc) {
		log_warn("internal: refused %s %s from %s: bad signature", r->http->method_str,
			 r->http->path,
			 s3_header(r, "x-cairn-node") ? s3_header(r, "x-cairn-node") : "-");
		send_err(r, rc);
		return;
	}
	if (post && strcmp(p, "raft") == 0)
		op_raft(r);
	else if (post && strcmp(p, "barrier") == 0)
		op_barrier(r);
	else if (post && strcmp(p, "follows") == 0)
		op_follows(r);
	else if (strcmp(p, "status") == 0)
		op_status(r);
	else if (strcmp(p, "snapshot") == 0)
		op_snapshot(r);
	else if (strcmp(p, "shard") == 0)
		op_shard(r);
	else if (post && strcmp(p, "shard-put") == 0)
		op_shard_put(r);
	else if (post && strcmp(p, "member") == 0)
		op_member(r);
	else
		send_err(r, CN_EBADREQ);
}
