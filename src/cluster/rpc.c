/*
 * cluster/rpc.c — the blocking HTTP/1.1 client of the internal API (see
 * cluster.h "rpc"): authenticated requests to other nodes over kept-alive
 * connections, one pool per client, responses parsed with http-parser.
 *
 * Threads: calls block (connect, send, receive, each bounded by the call's
 * timeout) and are made from the cluster's forwarding threads, the data
 * layer's readers and fetch threads (shard reads, rpc_start_into and the
 * calls after it for a read split around its round trip), and the Raft
 * thread while it installs a snapshot. The idle pool is shared under a
 * mutex; a connection is used by one call at a time.
 *
 * A pooled connection may have been closed by its server meanwhile (idle
 * timeout, restart): idle connections older than RPC_IDLE_MAX_MS are never
 * reused, and an idempotent call that fails before any response byte on a
 * reused connection is retried once on a new one. A non-idempotent call
 * (a propose) is never resent: the caller must report the outcome as
 * unknown.
 */
#include "cluster/cluster.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/digest.h"
#include "core/err.h"
#include "core/log.h"
#include "http/relay.h"

#define RPC_IDLE_MAX_MS 5000
#define RPC_IDLE_PER_ADDR 8
#define RPC_MAX_BODY (64u << 20) /* in memory; snapshots go to a file */

struct idle {
	struct idle *next;
	char addr[CLUSTER_ADDR_MAX + 1];
	int fd;
	int64_t since_ns;
};

struct rpc_client {
	char *secret;
	size_t slen;
	char node[CLUSTER_ADDR_MAX + 1];
	struct tls_client *tls; /* NULL: plain TCP */
	pthread_mutex_t mu;
	struct idle *idle;
};

int rpc_client_new(const char *secret, size_t slen, const char *node, struct tls_client *tls,
		   struct rpc_client **out)
{
	struct rpc_client *c = calloc(1, sizeof(*c));

	if (!c || strlen(node) > CLUSTER_ADDR_MAX || !(c->secret = malloc(slen + 1))) {
		free(c);
		return CN_ENOMEM;
	}
	memcpy(c->secret, secret, slen);
	c->secret[slen] = 0;
	c->slen = slen;
	strcpy(c->node, node);
	c->tls = tls;
	pthread_mutex_init(&c->mu, NULL);
	*out = c;
	return 0;
}

void rpc_client_free(struct rpc_client *c)
{
	struct idle *i, *n;

	if (!c)
		return;
	for (i = c->idle; i; i = n) {
		n = i->next;
		close(i->fd);
		free(i);
	}
	explicit_bzero(c->secret, c->slen);
	free(c->secret);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

int cluster_addr_parse(const char *addr, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(addr, ':');
	char *end;
	long port;

	if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof(host))
		return CN_EINVAL;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = 0;
	port = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port < 1 || port > 65535)
		return CN_EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return CN_EINVAL;
	return 0;
}

static int64_t deadline_left(int64_t deadline_ns)
{
	int64_t left = (deadline_ns - cn_mono_ns()) / 1000000;
	return left < 0 ? 0 : left;
}

int cluster_dial(const char *addr, int64_t deadline_ns, int *out)
{
	struct sockaddr_in sa;
	struct pollfd p;
	int fd, rc, one = 1, err = 0;
	socklen_t el = sizeof(err);

	rc = cluster_addr_parse(addr, &sa);
	if (rc)
		return rc;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno != EINPROGRESS) {
		rc = -errno;
		close(fd);
		return rc;
	}
	p.fd = fd;
	p.events = POLLOUT;
	rc = poll(&p, 1, (int)deadline_left(deadline_ns));
	if (rc <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err) {
		close(fd);
		return rc == 0 ? CN_ETIMEOUT : err ? -err : -errno;
	}
	*out = fd;
	return 0;
}

int cluster_tls_wrap(struct tls_client *tls, const char *addr, int fd, int *out)
{
	const char *colon = strrchr(addr, ':');
	struct tls_conn *t;
	char host[64];
	int rc;

	if (!colon || (size_t)(colon - addr) >= sizeof(host)) {
		close(fd);
		return CN_EINVAL;
	}
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = 0;
	rc = tls_conn_new_client(tls, host, &t);
	if (rc) {
		close(fd);
		return rc;
	}
	return tls_relay_start(t, fd, addr, out);
}

int cluster_connect(struct tls_client *tls, const char *addr, int64_t deadline_ns, int *out)
{
	int fd, rc = cluster_dial(addr, deadline_ns, &fd);

	if (rc || !tls) {
		if (!rc)
			*out = fd;
		return rc;
	}
	return cluster_tls_wrap(tls, addr, fd, out);
}

/* Writes all of buf before the deadline. */
static int send_all(int fd, const void *buf, size_t len, int64_t deadline_ns)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		struct pollfd pf = {.fd = fd, .events = POLLOUT};
		int r = poll(&pf, 1, (int)deadline_left(deadline_ns));
		if (r == 0)
			return CN_ETIMEOUT;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
	return 0;
}

/* ---- response parsing ---- */

struct parse {
	struct rpc_resp *resp;
	int body_fd;  /* >= 0: body goes there */
	uint8_t *dst; /* else non-NULL: body goes there, at most cap bytes */
	size_t cap;
	int hdr_done;
	int64_t deadline; /* for writes to body_fd? (files: no) */
	char field[64];
	size_t field_len;
	int in_value, capture; /* capture: index+1 into resp->hdr */
	int done;
	int err;
	struct cn_buf body;
};

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct parse *s = p->data;

	if (s->in_value) {
		s->in_value = 0;
		s->field_len = 0;
	}
	if (len > sizeof(s->field) - 1 - s->field_len)
		len = sizeof(s->field) - 1 - s->field_len;
	memcpy(s->field + s->field_len, at, len);
	s->field_len += len;
	s->field[s->field_len] = 0;
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct parse *s = p->data;
	struct rpc_resp *r = s->resp;

	if (!s->in_value) {
		s->in_value = 1;
		s->capture = 0;
		if (strncasecmp(s->field, "x-cairn-", 8) == 0 && r->n_hdr < RPC_MAX_HDRS) {
			r->hdr[r->n_hdr].name[0] = 0;
			snprintf(r->hdr[r->n_hdr].name, sizeof(r->hdr[0].name), "%s", s->field);
			r->hdr[r->n_hdr].value[0] = 0;
			s->capture = ++r->n_hdr;
		}
	}
	if (s->capture) {
		char *v = r->hdr[s->capture - 1].value;
		size_t have = strlen(v), room = sizeof(r->hdr[0].value) - 1 - have;
		if (len > room)
			len = room; /* our own headers are short; a long one is cut, never overrun
				     */
		memcpy(v + have, at, len);
		v[have + len] = 0;
	}
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct parse *s = p->data;

	if (s->body_fd >= 0) {
		while (len) {
			ssize_t n = write(s->body_fd, at, len);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				s->err = -errno;
				return -1;
			}
			at += n;
			len -= (size_t)n;
			s->resp->len += (size_t)n;
		}
		return 0;
	}
	if (s->dst) {
		if (len > s->cap - s->resp->len) {
			s->err = CN_ETOOBIG;
			return -1;
		}
		memcpy(s->dst + s->resp->len, at, len);
		s->resp->len += len;
		return 0;
	}
	if (s->body.len + len > RPC_MAX_BODY) {
		s->err = CN_ETOOBIG;
		return -1;
	}
	cn_buf_put(&s->body, at, len);
	return s->body.err ? -1 : 0;
}

static int on_headers_complete(http_parser *p)
{
	struct parse *s = p->data;
	s->hdr_done = 1;
	if (p->status_code / 100 != 2)
		s->dst = NULL; /* an error's text goes to resp->body, as for rpc_call */
	return 0;
}

static int on_complete(http_parser *p)
{
	struct parse *s = p->data;

	s->done = 1;
	s->resp->status = (int)p->status_code;
	s->resp->keep_alive = http_should_keep_alive(p);
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings psettings = {
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_complete,
};

/* One recv of up to len bytes, waiting for some until the deadline: the
 * count (0 at EOF), CN_ETIMEOUT or -errno. */
static ssize_t recv_by(int fd, void *buf, size_t len, int64_t deadline_ns)
{
	for (;;) {
		ssize_t n = recv(fd, buf, len, 0);
		if (n >= 0)
			return n;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		int r = poll(&pf, 1, (int)deadline_left(deadline_ns));
		if (r == 0)
			return CN_ETIMEOUT;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

/* Receives the remaining p->content_length body bytes straight into s->dst
 * and completes the response as on_complete would. */
static int read_direct(int fd, struct parse *s, http_parser *p, int64_t deadline_ns, size_t *got)
{
	uint64_t left = p->content_length;

	if (left > s->cap - s->resp->len) {
		s->err = CN_ETOOBIG;
		return CN_ETOOBIG;
	}
	while (left > 0) {
		ssize_t n = recv_by(fd, s->dst + s->resp->len, (size_t)left, deadline_ns);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return CN_EINCOMPLETE; /* EOF inside the body */
		*got += (size_t)n;
		s->resp->len += (size_t)n;
		left -= (uint64_t)n;
	}
	s->done = 1;
	s->resp->status = (int)p->status_code;
	s->resp->keep_alive = http_should_keep_alive(p);
	return 0;
}

/* Reads one response. *got: response bytes seen (0 = nothing came). */
static int read_response(int fd, struct parse *s, int64_t deadline_ns, size_t *got)
{
	http_parser p;
	char buf[16384];

	http_parser_init(&p, HTTP_RESPONSE);
	p.data = s;
	*got = 0;
	while (!s->done) {
		if (s->dst && s->hdr_done && !(p.flags & F_CHUNKED) && p.content_length > 0 &&
		    p.content_length != ULLONG_MAX) {
			/* The rest is a body of known length going to the caller's
			 * buffer: receive it there, not through buf and the parser
			 * (a 512 KiB piece is 32 reads and two copies otherwise). */
			int rc = read_direct(fd, s, &p, deadline_ns, got);
			if (rc)
				return rc;
			continue;
		}
		ssize_t n = recv_by(fd, buf, sizeof(buf), deadline_ns);
		if (n < 0)
			return (int)n;
		*got += (size_t)n;
		size_t used = http_parser_execute(&p, &psettings, buf, (size_t)n);
		if (n == 0)
			return s->done ? 0 : CN_EINCOMPLETE; /* EOF */
		if (HTTP_PARSER_ERRNO(&p) != HPE_OK && HTTP_PARSER_ERRNO(&p) != HPE_PAUSED)
			return s->err ? s->err : CN_EBADREQ;
		if (s->done && used != (size_t)n)
			s->resp->keep_alive = 0; /* bytes past the response: do not reuse */
	}
	return 0;
}

/* ---- pool ---- */

static int pool_take(struct rpc_client *c, const char *addr)
{
	struct idle **pp, *i;
	int fd = -1;
	int64_t now = cn_mono_ns();

	pthread_mutex_lock(&c->mu);
	for (pp = &c->idle; (i = *pp) != NULL;) {
		if (now - i->since_ns > (int64_t)RPC_IDLE_MAX_MS * 1000000) {
			*pp = i->next;
			close(i->fd);
			free(i);
			continue;
		}
		if (fd < 0 && strcmp(i->addr, addr) == 0) {
			*pp = i->next;
			fd = i->fd;
			free(i);
			continue;
		}
		pp = &i->next;
	}
	pthread_mutex_unlock(&c->mu);
	return fd;
}

static void pool_put(struct rpc_client *c, const char *addr, int fd)
{
	struct idle *i = malloc(sizeof(*i)), *it;
	int n = 0;

	if (!i || strlen(addr) > CLUSTER_ADDR_MAX) {
		free(i);
		close(fd);
		return;
	}
	strcpy(i->addr, addr);
	i->fd = fd;
	i->since_ns = cn_mono_ns();
	pthread_mutex_lock(&c->mu);
	for (it = c->idle; it; it = it->next)
		n += strcmp(it->addr, addr) == 0;
	if (n >= RPC_IDLE_PER_ADDR) {
		pthread_mutex_unlock(&c->mu);
		close(fd);
		free(i);
		return;
	}
	i->next = c->idle;
	c->idle = i;
	pthread_mutex_unlock(&c->mu);
}

/* Connects (or takes a pooled connection when reuse) and sends one signed
 * request: *fd and *reused on success. */
static int call_send(struct rpc_client *c, const char *addr, const char *method, const char *target,
		     const void *body, size_t len, int64_t connect_deadline, int64_t deadline,
		     int reuse, int *fd_out, int *reused)
{
	uint8_t sha[32];
	char mac[65];
	int64_t date = cn_now_ns() / 1000000000LL;
	struct cn_buf req;
	int fd = reuse ? pool_take(c, addr) : -1, rc;

	*reused = fd >= 0;
	if (fd < 0) {
		rc = cluster_connect(c->tls, addr, connect_deadline, &fd);
		if (rc)
			return rc;
	}
	cn_sha256(body ? body : "", len, sha);
	rc = cluster_auth_sign(c->secret, c->slen, method, target, c->node, date, sha, mac);
	if (rc)
		goto out_close;
	cn_buf_init(&req);
	cn_buf_printf(&req,
		      "%s %s HTTP/1.1\r\nHost: %s\r\nX-Cairn-Node: %s\r\nX-Cairn-Date: %lld\r\n"
		      "X-Cairn-Auth: %s\r\nContent-Length: %zu\r\n\r\n",
		      method, target, addr, c->node, (long long)date, mac, len);
	if (body && len)
		cn_buf_put(&req, body, len);
	rc = req.err ? req.err : send_all(fd, req.s, req.len, deadline);
	cn_buf_release(&req);
	if (rc)
		goto out_close;
	*fd_out = fd;
	return 0;
out_close:
	close(fd);
	return rc;
}

/* Receives the response to a request sent on fd and gives fd back to the
 * pool (kept alive) or closes it. *stale: it failed before any response
 * byte on a reused connection. */
static int call_recv(struct rpc_client *c, const char *addr, int fd, int reused, int body_fd,
		     void *dst, size_t cap, int64_t deadline, struct rpc_resp *resp, int *stale)
{
	struct parse ps;
	size_t got = 0;
	int rc;

	memset(&ps, 0, sizeof(ps));
	ps.resp = resp;
	ps.body_fd = body_fd;
	ps.dst = dst;
	ps.cap = cap;
	cn_buf_init(&ps.body);
	memset(resp, 0, sizeof(*resp));
	rc = read_response(fd, &ps, deadline, &got);
	if (rc) {
		cn_buf_release(&ps.body);
		*stale = reused && got == 0;
		close(fd);
		return rc;
	}
	resp->body = ps.body.s ? ps.body.s : NULL;
	if (body_fd < 0 && !ps.dst)
		resp->len = ps.body.len;
	if (resp->keep_alive)
		pool_put(c, addr, fd);
	else
		close(fd);
	return 0;
}

static int call_once(struct rpc_client *c, const char *addr, const char *method, const char *target,
		     const void *body, size_t len, int body_fd, void *dst, size_t cap,
		     int64_t deadline, int reuse, struct rpc_resp *resp, int *fresh_failed_early)
{
	int fd, reused, rc;

	*fresh_failed_early = 0;
	rc = call_send(c, addr, method, target, body, len, deadline, deadline, reuse, &fd, &reused);
	if (rc) {
		*fresh_failed_early = reused; /* nothing came back on it */
		return rc;
	}
	return call_recv(c, addr, fd, reused, body_fd, dst, cap, deadline, resp,
			 fresh_failed_early);
}

static int call(struct rpc_client *c, const char *addr, const char *method, const char *target,
		const void *body, size_t len, int body_fd, void *dst, size_t cap,
		unsigned timeout_ms, int idempotent, struct rpc_resp *resp)
{
	int64_t deadline = cn_mono_ns() + (int64_t)timeout_ms * 1000000;
	int stale, rc = call_once(c, addr, method, target, body, len, body_fd, dst, cap, deadline,
				  1, resp, &stale);

	/* A kept-alive connection its server had closed meanwhile. Resent only
	 * when that cannot apply the request twice: an idempotent call, or a
	 * send that failed outright. */
	if (rc && stale && (idempotent || rc == -EPIPE) && body_fd < 0)
		rc = call_once(c, addr, method, target, body, len, body_fd, dst, cap, deadline, 0,
			       resp, &stale);
	return rc;
}

int rpc_call(struct rpc_client *c, const char *addr, const char *method, const char *target,
	     const void *body, size_t len, int body_fd, unsigned timeout_ms, int idempotent,
	     struct rpc_resp *resp)
{
	return call(c, addr, method, target, body, len, body_fd, NULL, 0, timeout_ms, idempotent,
		    resp);
}

int rpc_call_into(struct rpc_client *c, const char *addr, const char *method, const char *target,
		  void *dst, size_t cap, unsigned timeout_ms, struct rpc_resp *resp)
{
	return call(c, addr, method, target, NULL, 0, -1, dst, cap, timeout_ms, 1, resp);
}

struct rpc_call {
	struct rpc_client *c;
	char addr[CLUSTER_ADDR_MAX + 1];
	char *target;
	void *dst;
	size_t cap;
	int fd, reused;
	int64_t deadline;
};

int rpc_start_into(struct rpc_client *c, const char *addr, const char *target, void *dst,
		   size_t cap, unsigned connect_ms, unsigned timeout_ms, struct rpc_call **out)
{
	int64_t now = cn_mono_ns();
	struct rpc_call *k;
	int rc;

	*out = NULL;
	if (strlen(addr) > CLUSTER_ADDR_MAX)
		return CN_EINVAL;
	if (!(k = calloc(1, sizeof(*k))) || !(k->target = strdup(target))) {
		free(k);
		return CN_ENOMEM;
	}
	k->c = c;
	strcpy(k->addr, addr);
	k->dst = dst;
	k->cap = cap;
	k->deadline = now + (int64_t)timeout_ms * 1000000;
	rc = call_send(c, addr, "GET", target, NULL, 0, now + (int64_t)connect_ms * 1000000,
		       k->deadline, 1, &k->fd, &k->reused);
	if (rc && k->reused) /* a pooled connection its server had closed */
		rc = call_send(c, addr, "GET", target, NULL, 0, now + (int64_t)connect_ms * 1000000,
			       k->deadline, 0, &k->fd, &k->reused);
	if (rc) {
		free(k->target);
		free(k);
		return rc;
	}
	*out = k;
	return 0;
}

int rpc_wait(struct rpc_call *k, unsigned wait_ms)
{
	struct pollfd pf = {.fd = k->fd, .events = POLLIN};
	int64_t until = cn_mono_ns() + (int64_t)wait_ms * 1000000;

	if (until > k->deadline)
		until = k->deadline;
	for (;;) {
		int r = poll(&pf, 1, (int)deadline_left(until));
		if (r > 0)
			return 0;
		if (r == 0)
			return CN_ETIMEOUT;
		if (errno != EINTR)
			return -errno;
	}
}

int rpc_finish(struct rpc_call *k, struct rpc_resp *resp)
{
	int stale, rc, fd = k->fd;

	k->fd = -1; /* call_recv pools or closes it */
	rc = call_recv(k->c, k->addr, fd, k->reused, -1, k->dst, k->cap, k->deadline, resp, &stale);
	if (rc && stale) /* idempotent: resent once on a fresh connection */
		rc = call_once(k->c, k->addr, "GET", k->target, NULL, 0, -1, k->dst, k->cap,
			       k->deadline, 0, resp, &stale);
	return rc;
}

void rpc_call_free(struct rpc_call *k)
{
	if (!k)
		return;
	if (k->fd >= 0)
		close(k->fd); /* a reply may still come: never reused */
	free(k->target);
	free(k);
}

const char *rpc_resp_header(const struct rpc_resp *r, const char *name)
{
	for (int i = 0; i < r->n_hdr; i++)
		if (strcasecmp(r->hdr[i].name, name) == 0)
			return r->hdr[i].value;
	return NULL;
}

void rpc_resp_release(struct rpc_resp *r)
{
	free(r->body);
	r->body = NULL;
}
