/*
 * http/relay.c — a relay thread per internal TLS connection (see relay.h
 * for why). One poll loop over two descriptors:
 *
 *   net (TCP) --recv--> tls_conn_feed --tls_conn_read--> in[] --send--> loc
 *   loc --recv--> tls_conn_write --take_out_buf--> out --send--> net
 *
 * A side is polled for input only while the buffer it fills has room, which
 * is all the backpressure there is: a slow consumer stops the TCP reads, a
 * slow peer stops the consumer's writes (its socket buffer fills, its send
 * blocks or returns EAGAIN as on TCP).
 */
#include "http/relay.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

#define RELAY_IO (16 * 1024) /* one TLS record's worth per recv */
#define RELAY_LINGER_MS 5000 /* to hand on what is left when one side ended */

struct relay {
	struct tls_conn *tls;
	int net, loc;
	int connecting; /* net's non-blocking connect still running */
	int net_done;	/* the peer sent all it will (close_notify or FIN) */
	int loc_done;	/* the consumer closed its end: close_notify queued */
	char peer[64];
	char *in; /* plaintext for the consumer: RELAY_CAP bytes */
	size_t in_off, in_len;
	char *out; /* ciphertext for the peer, from tls_conn_take_out_buf */
	size_t out_off, out_len;
};

static void relay_free(struct relay *r)
{
	if (r->net >= 0)
		close(r->net);
	if (r->loc >= 0)
		close(r->loc);
	tls_conn_free(r->tls);
	free(r->in);
	free(r->out);
	free(r);
}

/* Decrypts what the session holds while the consumer's buffer has room; on
 * a client session before the handshake this also makes the ClientHello.
 * 0, or -1 when the session failed (logged). */
static int relay_decrypt(struct relay *r)
{
	while (!r->net_done && r->in_len < RELAY_CAP) {
		int ready = tls_conn_ready(r->tls);
		int n = tls_conn_read(r->tls, r->in + r->in_len, RELAY_CAP - r->in_len);

		if (n > 0) {
			r->in_len += (size_t)n;
			continue;
		}
		if (n == TLS_WANT_READ)
			return 0;
		if (n == TLS_CLOSED) {
			r->net_done = 1;
			return 0;
		}
		if (ready)
			log_warn("cluster: internal TLS session with %s failed: %s", r->peer,
				 tls_conn_error(r->tls));
		else
			log_warn("cluster: internal TLS handshake with %s failed: %s (every node "
				 "needs --tls-cert, and its certificate must be trusted by "
				 "--tls-ca)",
				 r->peer, tls_conn_error(r->tls));
		return -1;
	}
	return 0;
}

/* Takes the session's ciphertext once the previous piece is gone. */
static void relay_take_out(struct relay *r)
{
	if (r->out_off < r->out_len || tls_conn_out_len(r->tls) == 0)
		return;
	free(r->out);
	r->out = tls_conn_take_out_buf(r->tls, &r->out_len);
	r->out_off = 0;
}

static size_t out_pending(const struct relay *r)
{
	return r->out_len - r->out_off + tls_conn_out_len(r->tls);
}

/* Net readable: ciphertext into the session. 0 or -1 (connection gone). */
static int net_in(struct relay *r)
{
	char buf[RELAY_IO];
	ssize_t n = recv(r->net, buf, sizeof(buf), 0);

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (n == 0) {
		r->net_done = 1; /* a FIN without close_notify: the same end */
		return 0;
	}
	return tls_conn_feed(r->tls, buf, (size_t)n) ? -1 : 0;
}

/* Consumer's end readable: plaintext through the session. */
static int loc_in(struct relay *r)
{
	char buf[RELAY_IO];
	ssize_t n = recv(r->loc, buf, sizeof(buf), 0);

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (n == 0) {
		r->loc_done = 1;
		tls_conn_shutdown(r->tls);
		return 0;
	}
	return tls_conn_write(r->tls, buf, (size_t)n) ? -1 : 0;
}

static int send_some(int fd, const char *p, size_t len, size_t *off)
{
	ssize_t n = send(fd, p + *off, len - *off, MSG_NOSIGNAL);

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	*off += (size_t)n;
	return 0;
}

static int loc_out(struct relay *r)
{
	if (send_some(r->loc, r->in, r->in_len, &r->in_off))
		return -1;
	if (r->in_off == r->in_len)
		r->in_off = r->in_len = 0;
	else if (r->in_off > RELAY_CAP / 2) {
		memmove(r->in, r->in + r->in_off, r->in_len - r->in_off);
		r->in_len -= r->in_off;
		r->in_off = 0;
	}
	return 0;
}

static int connected(struct relay *r)
{
	int err = 0;
	socklen_t el = sizeof(err);

	if (getsockopt(r->net, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
		err = errno;
	if (err) {
		log_warn("cluster: cannot connect to %s: %s", r->peer, strerror(err));
		return -1;
	}
	r->connecting = 0;
	return 0;
}

static void *relay_main(void *arg)
{
	struct relay *r = arg;
	int64_t start = cn_mono_ns(), linger = 0;

	for (;;) {
		struct pollfd p[2] = {{.fd = r->net}, {.fd = r->loc}};
		int64_t until = 0;
		int rc, ms = -1;

		if (!r->connecting && relay_decrypt(r))
			break;
		relay_take_out(r);
		/* Ends: everything the peer sent went to the consumer, or our
		 * close_notify (after all the consumer wrote) went to the peer. */
		if (r->net_done && r->in_off == r->in_len) {
			if (!tls_conn_ready(r->tls))
				log_warn("cluster: internal TLS handshake with %s failed: the peer "
					 "closed the connection (a plain-HTTP node, or one that "
					 "does not trust our certificate?)",
					 r->peer);
			break;
		}
		if (r->loc_done && out_pending(r) == 0)
			break;
		if ((r->net_done || r->loc_done) && !linger)
			linger = cn_mono_ns() + (int64_t)RELAY_LINGER_MS * 1000000;

		if (r->connecting) {
			p[0].events = POLLOUT;
		} else {
			if (!r->net_done && r->in_len < RELAY_CAP)
				p[0].events |= POLLIN;
			if (r->out_off < r->out_len)
				p[0].events |= POLLOUT;
		}
		if (r->in_off < r->in_len)
			p[1].events |= POLLOUT;
		if (!r->loc_done && !r->net_done && tls_conn_ready(r->tls) &&
		    out_pending(r) < RELAY_CAP)
			p[1].events |= POLLIN;

		if (!tls_conn_ready(r->tls))
			until = start + (int64_t)RELAY_HANDSHAKE_MS * 1000000;
		if (linger && (!until || linger < until))
			until = linger;
		if (until) {
			int64_t left = (until - cn_mono_ns()) / 1000000;
			ms = left < 0 ? 0 : (int)left;
		}
		rc = poll(p, 2, ms);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			break;
		if (rc == 0) {
			if (!tls_conn_ready(r->tls))
				log_warn("cluster: internal TLS handshake with %s timed out (is it "
					 "a plain-HTTP node? every node needs --tls-cert)",
					 r->peer);
			break;
		}
		if (r->connecting) {
			if (p[0].revents && connected(r))
				break;
			continue;
		}
		if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) && !r->net_done && net_in(r))
			break;
		if ((p[0].revents & POLLOUT) && send_some(r->net, r->out, r->out_len, &r->out_off))
			break;
		if ((p[1].revents & POLLOUT) && loc_out(r))
			break;
		if (p[1].revents & POLLIN) {
			if (loc_in(r))
				break;
		} else if (p[1].revents & (POLLHUP | POLLERR)) {
			/* The consumer is gone while we held its input back:
			 * nothing left can reach it. */
			break;
		}
	}
	relay_free(r);
	return NULL;
}

int tls_relay_start(struct tls_conn *t, int net_fd, const char *peer, int *local_fd)
{
	struct relay *r = calloc(1, sizeof(*r));
	int sv[2] = {-1, -1}, fl, rc;
	pthread_attr_t at;
	pthread_t th;

	if (!r) {
		tls_conn_free(t);
		close(net_fd);
		return CN_ENOMEM;
	}
	r->tls = t;
	r->net = net_fd;
	r->loc = -1;
	snprintf(r->peer, sizeof(r->peer), "%s", peer);
	r->in = malloc(RELAY_CAP);
	if (!r->in) {
		rc = CN_ENOMEM;
		goto fail;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) != 0) {
		rc = -errno;
		goto fail;
	}
	r->loc = sv[0];
	fl = fcntl(net_fd, F_GETFL);
	if (fl < 0 || fcntl(net_fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		rc = -errno;
		goto fail;
	}
	{
		/* A peer that vanishes without a word is noticed in seconds, as
		 * on the plain path's Raft streams (raft_uv sees only our end). */
		int one = 1, idle = 5, cnt = 3;
		setsockopt(net_fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
		setsockopt(net_fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
		setsockopt(net_fd, IPPROTO_TCP, TCP_KEEPINTVL, &idle, sizeof(idle));
		setsockopt(net_fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	}
	/* Still connecting, or connected: the first writability says which
	 * (SO_ERROR), and costs nothing on a connected socket. */
	r->connecting = 1;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, 256 * 1024);
	rc = pthread_create(&th, &at, relay_main, r);
	pthread_attr_destroy(&at);
	if (rc) {
		rc = -rc;
		goto fail;
	}
	*local_fd = sv[1];
	return 0;
fail:
	if (sv[1] >= 0)
		close(sv[1]);
	relay_free(r);
	return rc;
}
