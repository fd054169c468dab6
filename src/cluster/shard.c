/*
 * cluster/shard.c — shard writes between nodes over the internal API: the
 * data layer's remote write stream (struct data_remote w*) and its
 * receiving end.
 *
 * Protocol. The writer sends a signed request (cluster/auth.c)
 *
 *   POST /_cairn/internal/shard-put?blob=HEX&drive=HEX&shard=I&k=K&m=M
 *        &ck=C&bs=BLOCK&hdr=HDRLEN       Upgrade: cairn-shard
 *
 * so the signature covers which shard of which blob goes to which drive
 * and its geometry. After 101 the socket carries frames (u8 type, u32 LE
 * length, payload): 'R' one piece record (checksum, piece), in block
 * order; 'H' the shard header; 'E' 32 bytes: HMAC-SHA256(secret,
 * "cairn-shard-v1\n" <request auth hex> "\n" <hex SHA-256 of every frame
 * before E>), which binds the streamed bytes to the signed request as a
 * body hash binds a propose. The receiver checks each piece's checksum
 * as it arrives (data/sink.c) and the MAC before it seals; it answers one
 * line, "ok" once the shard is durable and in place, else the error name.
 *
 * Backpressure is TCP's: the writer's blocking sends wait for the
 * receiver, which reads a frame only after writing the previous one.
 * Memory: one record buffer per stream on each side. A node that refuses
 * or times out is skipped by new streams until it answers a probe again
 * (cluster/remote.c), so writes with a node down do not each wait for it.
 *
 * Threads: client calls block (thread pool); each accepted stream runs on
 * its own detached thread, at most SHARD_RECV_MAX at once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/digest.h"
#include "core/err.h"
#include "core/log.h"
#include "core/thread.h"
#include "data/data.h"

/* Timeouts: a stalled peer (SIGSTOP, partition) fails the stream; a live
 * one answers the upgrade at once, and may take a while to fsync a big
 * shard. The receiver waits long for a writer whose client sends slowly. */
#define SHARD_CONNECT_MS 2000
#define SHARD_HEAD_S 3
#define SHARD_SEND_S 10
#define SHARD_ACK_S 120
#define SHARD_RECV_IDLE_S 300
#define SHARD_RECV_MAX 64

struct shard_stream {
	struct cluster_remote *r;
	char addr[CLUSTER_ADDR_MAX + 1];
	int fd;
	char auth[65];
	struct cn_digest sha;
	int err; /* sticky */
};

static void put32le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void stream_mac(struct cluster *c, const char *auth, struct cn_digest *sha, uint8_t mac[32])
{
	struct cn_digest_result d;
	char hex[65], msg[160];
	size_t slen;
	const char *secret = cluster_secret(c, &slen);

	cn_digest_final(sha, &d);
	cn_hex(d.sha256, 32, hex);
	int n = snprintf(msg, sizeof(msg), "cairn-shard-v1\n%s\n%s", auth, hex);
	cn_hmac_sha256(secret, slen, msg, (size_t)n, mac);
}

static void set_timeouts(int fd, int recv_s, int send_s)
{
	struct timeval rt = {.tv_sec = recv_s}, st = {.tv_sec = send_s};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rt, sizeof(rt));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &st, sizeof(st));
}

static int set_blocking(int fd, int recv_s, int send_s)
{
	int fl = fcntl(fd, F_GETFL), one = 1, idle = 10, intvl = 5, cnt = 3;

	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return -errno;
	set_timeouts(fd, recv_s, send_s);
	/* a peer that vanishes without a word is noticed within a minute */
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	return 0;
}

static int send_iov(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
		ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? CN_ETIMEOUT : -errno;
		}
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

static int recv_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len) {
		ssize_t n = recv(fd, p, len, 0);
		if (n == 0)
			return CN_EINCOMPLETE;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? CN_ETIMEOUT : -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int dial_blocking(struct cluster *c, const char *addr, int *out)
{
	int fd, rc = cluster_connect(cluster_tls(c), addr,
				     cn_mono_ns() + SHARD_CONNECT_MS * 1000000LL, &fd);

	if (rc)
		return rc;
	if ((rc = set_blocking(fd, SHARD_HEAD_S, SHARD_SEND_S)) != 0) {
		close(fd);
		return rc;
	}
	*out = fd;
	return 0;
}

/* Reads an HTTP response head (up to the blank line) into buf. */
static int read_head(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	while (n + 1 < cap) {
		int rc = recv_all(fd, buf + n, 1);
		if (rc)
			return rc;
		n++;
		buf[n] = 0;
		if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0)
			return 0;
	}
	return CN_EBADREQ;
}

static int stream_fail(struct shard_stream *st, int rc)
{
	if (!st->err) {
		st->err = rc;
		cluster_remote_mark_bad(st->r, st->addr);
	}
	return CN_EDRIVE;
}

/* The receiver's answer line ("ok" or an error name), without its newline. */
static int read_answer(int fd, char *line, size_t cap)
{
	size_t n = 0;
	int rc = 0;

	while (n + 1 < cap && (rc = recv_all(fd, line + n, 1)) == 0 && line[n] != '\n')
		n++;
	line[n] = 0;
	return rc;
}

/* What a stream that failed earlier answers from then on. */
static int sticky_err(const struct shard_stream *st)
{
	return st->err == CN_ENOSPACE ? CN_ENOSPACE : CN_EDRIVE;
}

/* A send failed: the receiver may have stopped the stream on purpose, after
 * its answer line (a full drive closes the socket with our frames unread,
 * so we see a reset, but its line is still queued here). A full drive is
 * the node answering, not failing: no mark, and the write reports 507. */
static int send_fail(struct shard_stream *st, int rc)
{
	char line[64];

	if (st->err)
		return sticky_err(st);
	if (rc != -EPIPE && rc != -ECONNRESET)
		return stream_fail(st, rc); /* a timeout: no answer is coming */
	set_timeouts(st->fd, 1, SHARD_SEND_S);
	read_answer(st->fd, line, sizeof(line));
	if (strcmp(line, cn_errname(CN_ENOSPACE)) == 0) {
		st->err = CN_ENOSPACE;
		log_warn("cluster: shard write to %s failed there: %s", st->addr, line);
		return CN_ENOSPACE;
	}
	return stream_fail(st, rc);
}

int cluster_shard_wopen(void *ctx, const uint8_t drive_id[DATA_ID_LEN], const struct blob_layout *l,
			int shard, uint32_t hdr_len, void **h)
{
	struct cluster_remote *r = ctx;
	struct cluster *c = cluster_remote_cluster(r);
	struct cluster_status st;
	struct shard_stream *s;
	char target[320], dhex[2 * DATA_ID_LEN + 1], bhex[2 * DATA_ID_LEN + 1], head[1024];
	uint8_t sha[32];
	size_t slen;
	const char *secret = cluster_secret(c, &slen);
	int64_t date = cn_now_ns() / 1000000000LL;
	struct cn_buf req;
	int rc;

	*h = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return CN_ENOMEM;
	s->r = r;
	s->fd = -1;
	if ((rc = cluster_remote_address(r, drive_id, 1, s->addr)) != 0)
		goto fail;
	if ((rc = cn_digest_init(&s->sha, CN_DIG_SHA256)) != 0)
		goto fail;
	cn_hex(drive_id, DATA_ID_LEN, dhex);
	cn_hex(l->id, DATA_ID_LEN, bhex);
	snprintf(target, sizeof(target),
		 "/_cairn/internal/shard-put?blob=%s&bs=%" PRIu32 "&ck=%u&drive=%s&hdr=%" PRIu32
		 "&k=%u&m=%u&shard=%d",
		 bhex, l->block_size, l->cksum, dhex, hdr_len, l->k, l->m, shard);
	cluster_status(c, &st);
	cn_sha256("", 0, sha);
	if ((rc = cluster_auth_sign(secret, slen, "POST", target, st.address, date, sha,
				    s->auth)) != 0)
		goto fail;
	if ((rc = dial_blocking(c, s->addr, &s->fd)) != 0) {
		stream_fail(s, rc);
		rc = CN_EDRIVE;
		goto fail;
	}
	cn_buf_init(&req);
	cn_buf_printf(
		&req,
		"POST %s HTTP/1.1\r\nHost: x\r\nUpgrade: cairn-shard\r\nConnection: Upgrade\r\n"
		"X-Cairn-Node: %s\r\nX-Cairn-Date: %lld\r\nX-Cairn-Auth: %s\r\n"
		"Content-Length: 0\r\n\r\n",
		target, st.address, (long long)date, s->auth);
	rc = req.err;
	if (!rc) {
		struct iovec iov = {req.s, req.len};
		rc = send_iov(s->fd, &iov, 1);
	}
	cn_buf_release(&req);
	if (!rc)
		rc = read_head(s->fd, head, sizeof(head));
	if (rc) {
		stream_fail(s, rc);
		rc = CN_EDRIVE;
		goto fail;
	}
	set_timeouts(s->fd, SHARD_ACK_S, SHARD_SEND_S);
	if (strncmp(head, "HTTP/1.1 101", 12) != 0) {
		int status = atoi(head + 9);
		log_warn("cluster: shard write to %s refused: %.12s", s->addr, head + 9);
		rc = status == 507 ? CN_ENOSPACE : CN_EDRIVE;
		goto fail;
	}
	*h = s;
	return 0;
fail:
	cluster_shard_wfree(s);
	return rc;
}

static int send_frame(struct shard_stream *s, char type, const void *a, size_t alen, const void *b,
		      size_t blen)
{
	uint8_t fh[5];
	struct iovec iov[3] = {{fh, 5}, {(void *)a, alen}, {(void *)b, blen}};
	int rc;

	if (s->err)
		return sticky_err(s);
	fh[0] = (uint8_t)type;
	put32le(fh + 1, (uint32_t)(alen + blen));
	cn_digest_update(&s->sha, fh, 5);
	if (alen)
		cn_digest_update(&s->sha, a, alen);
	if (blen)
		cn_digest_update(&s->sha, b, blen);
	rc = send_iov(s->fd, iov, blen ? 3 : alen ? 2 : 1);
	return rc ? send_fail(s, rc) : 0;
}

int cluster_shard_wput(void *h, const void *ck, size_t ck_len, const void *piece, size_t len)
{
	return send_frame(h, 'R', ck, ck_len, piece, len);
}

int cluster_shard_wseal(void *h, const void *hdr, size_t hdr_len)
{
	struct shard_stream *s = h;
	uint8_t mac[32];
	int rc = send_frame(s, 'H', hdr, hdr_len, NULL, 0);

	if (rc)
		return rc;
	stream_mac(cluster_remote_cluster(s->r), s->auth, &s->sha, mac);
	uint8_t fh[5] = {'E'};
	put32le(fh + 1, 32);
	struct iovec iov[2] = {{fh, 5}, {mac, 32}};
	rc = send_iov(s->fd, iov, 2);
	return rc ? send_fail(s, rc) : 0;
}

int cluster_shard_wwait(void *h)
{
	struct shard_stream *s = h;
	char line[64];
	int rc;

	if (s->err)
		return sticky_err(s);
	if ((rc = read_answer(s->fd, line, sizeof(line))) != 0)
		return stream_fail(s, rc);
	if (strcmp(line, "ok") == 0)
		return 0;
	log_warn("cluster: shard write to %s failed there: %s", s->addr, line);
	return strcmp(line, cn_errname(CN_ENOSPACE)) == 0 ? CN_ENOSPACE : CN_EDRIVE;
}

int cluster_shard_wfd(void *h)
{
	const struct shard_stream *s = h;

	return s->err ? -1 : s->fd;
}

void cluster_shard_wfree(void *h)
{
	struct shard_stream *s = h;

	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	cn_digest_release(&s->sha);
	free(s);
}

/* ---- receiving ---- */

static atomic_int receivers;

struct recv_job {
	struct cluster *c;
	struct data_store *d;
	int fd;
	uint8_t drive[DATA_ID_LEN];
	struct blob_layout l;
	int shard;
	uint32_t hdr_len;
	char auth[65];
};

static int recv_stream(struct recv_job *j, struct shard_sink *k)
{
	size_t cap = data_shard_record_max(&j->l);
	uint8_t *buf = malloc(cap > 4096 ? cap : 4096);
	uint8_t fh[5], mac[32];
	struct cn_digest sha;
	int rc, sealed_hdr = 0;
	uint8_t hdr[4096];

	if (!buf)
		return CN_ENOMEM;
	if ((rc = cn_digest_init(&sha, CN_DIG_SHA256)) != 0) {
		free(buf);
		return rc;
	}
	for (;;) {
		uint32_t len;
		if ((rc = recv_all(j->fd, fh, 5)) != 0)
			break;
		len = get32le(fh + 1);
		if (fh[0] == 'E') {
			if (len != 32 || !sealed_hdr || (rc = recv_all(j->fd, buf, 32)) != 0) {
				rc = rc ? rc : CN_EBADREQ;
				break;
			}
			stream_mac(j->c, j->auth, &sha, mac);
			if (cn_memcmp_ct(mac, buf, 32) != 0) {
				rc = CN_EACCESS;
				break;
			}
			rc = data_shard_sink_seal(k, hdr, j->hdr_len);
			break;
		}
		/* a header may be longer than a record (small blocks, long key) */
		if ((fh[0] != 'R' && fh[0] != 'H') || sealed_hdr || (fh[0] == 'R' && len > cap) ||
		    (fh[0] == 'H' && len != j->hdr_len)) {
			rc = CN_EBADREQ;
			break;
		}
		if ((rc = recv_all(j->fd, buf, len)) != 0)
			break;
		cn_digest_update(&sha, fh, 5);
		cn_digest_update(&sha, buf, len);
		if (fh[0] == 'H') {
			memcpy(hdr, buf, len);
			sealed_hdr = 1;
		} else if ((rc = data_shard_sink_put(k, buf, len)) != 0) {
			break;
		}
	}
	cn_digest_release(&sha);
	free(buf);
	return rc;
}

static void *recv_main(void *arg)
{
	struct recv_job *j = arg;
	struct shard_sink *k = NULL;
	int rc = set_blocking(j->fd, SHARD_RECV_IDLE_S, SHARD_SEND_S);

	cn_thread_name("shard-in");
	if (!rc)
		rc = data_shard_sink_open(j->d, j->drive, &j->l, j->shard, j->hdr_len, &k);
	if (!rc)
		rc = recv_stream(j, k);
	data_shard_sink_free(k); /* removes the temporary file unless sealed */
	{
		char line[64];
		int n = snprintf(line, sizeof(line), "%s\n", rc ? cn_errname(rc) : "ok");
		struct iovec iov = {line, (size_t)n};
		send_iov(j->fd, &iov, 1);
	}
	if (rc)
		log_warn("cluster: receiving shard %d of a blob failed: %s", j->shard,
			 cn_strerror(rc));
	close(j->fd);
	free(j);
	atomic_fetch_sub(&receivers, 1);
	return NULL;
}

int cluster_shard_recv_reserve(void)
{
	if (atomic_fetch_add(&receivers, 1) >= SHARD_RECV_MAX) {
		atomic_fetch_sub(&receivers, 1);
		return CN_EAGAIN;
	}
	return 0;
}

int cluster_shard_recv_drain(unsigned timeout_ms)
{
	int64_t until = cn_mono_ns() + (int64_t)timeout_ms * 1000000;
	while (atomic_load(&receivers) > 0 && cn_mono_ns() < until)
		usleep(10000);
	return atomic_load(&receivers);
}

void cluster_shard_recv_unreserve(void)
{
	atomic_fetch_sub(&receivers, 1);
}

void cluster_shard_accept(struct cluster *c, struct data_store *d, int fd,
			  const struct cluster_shard_params *p)
{
	struct recv_job *j = calloc(1, sizeof(*j));
	pthread_attr_t at;
	pthread_t th;

	if (!j)
		goto fail;
	j->c = c;
	j->d = d;
	j->fd = fd;
	memcpy(j->drive, p->drive, DATA_ID_LEN);
	memset(&j->l, 0, sizeof(j->l));
	memcpy(j->l.id, p->blob, DATA_ID_LEN);
	j->l.k = p->k;
	j->l.m = p->m;
	j->l.cksum = p->cksum;
	j->l.block_size = p->block_size;
	j->shard = p->shard;
	j->hdr_len = p->hdr_len;
	snprintf(j->auth, sizeof(j->auth), "%s", p->auth);
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &at, recv_main, j) != 0) {
		pthread_attr_destroy(&at);
		free(j);
		goto fail;
	}
	pthread_attr_destroy(&at);
	return;
fail:
	close(fd);
	atomic_fetch_sub(&receivers, 1);
}

/* ---- deleting blobs on the other nodes (GC) ---- */

#define GC_TIMEOUT_MS 20000

int cluster_gc_active(void *ctx)
{
	struct cluster_status st;

	cluster_status(cluster_remote_cluster(ctx), &st);
	return st.role == CLUSTER_LEADER;
}

int cluster_gc_remove(void *ctx, const struct blob_layout *l, unsigned n, uint8_t *ok)
{
	struct cluster_remote *r = ctx;
	struct cluster *c = cluster_remote_cluster(r);
	struct cluster_status st;
	struct cn_buf body;
	uint8_t enc[DATA_LAYOUT_MAX];
	int rc = 0;

	memset(ok, 1, n);
	cn_buf_init(&body);
	for (unsigned i = 0; i < n; i++) {
		int len = blob_layout_encode(&l[i], enc, sizeof(enc));
		if (len < 0) {
			len = 0; /* the node answers "not done" for an empty one */
			ok[i] = 0;
		}
		uint8_t lb[2] = {(uint8_t)len, (uint8_t)(len >> 8)};
		cn_buf_put(&body, lb, 2);
		cn_buf_put(&body, enc, (size_t)len);
	}
	if (body.err) {
		rc = body.err;
		goto out;
	}
	cluster_status(c, &st);
	for (int i = 0; i < st.n_nodes; i++) {
		struct rpc_resp resp;
		if (st.nodes[i].id == st.id)
			continue;
		memset(&resp, 0, sizeof(resp));
		rc = rpc_call(cluster_rpc(c), st.nodes[i].address, "POST", "/_cairn/internal/gc",
			      body.p, body.len, -1, GC_TIMEOUT_MS, 1, &resp);
		if (rc == 0) {
			if (resp.status != 200 || resp.len != n || !resp.body)
				rc = CN_EDRIVE;
			for (unsigned j = 0; rc == 0 && j < n; j++)
				if (resp.body[j] != '0')
					ok[j] = 0;
			rpc_resp_release(&resp);
		}
		if (rc) /* a node we cannot ask: every entry waits for it */
			goto out;
	}
out:
	if (rc)
		memset(ok, 0, n);
	cn_buf_release(&body);
	return rc;
}
