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
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/thread.h"

#define RELAY_IO (16 * 1024) /* one TLS record's worth per recv */
#define RELAY_LINGER_MS 5000 /* to hand on what is left when one side ended */
#define RELAY_LOG_EVERY_S 30 /* a failing peer is logged once in this long */
#define RELAY_LOG_PEERS 16

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

/* Raft redials a peer every second or so: a peer whose handshakes keep
 * failing is logged at the first failure, then once every
 * RELAY_LOG_EVERY_S with how many were not. */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char peer[64];
	int64_t at;
	unsigned quiet;
} log_seen[RELAY_LOG_PEERS];

static int log_allowed(const char *peer, unsigned *quiet)
{
	int64_t now = cn_mono_ns();
	int i, slot = 0, ok;

	pthread_mutex_lock(&log_mu);
	for (i = 0; i < RELAY_LOG_PEERS; i++) {
		if (strcmp(log_seen[i].peer, peer) == 0)
			break;
		if (log_seen[i].at < log_seen[slot].at)
			slot = i; /* the stalest, reused for a new peer */
	}
	if (i == RELAY_LOG_PEERS) {
		i = slot;
		snprintf(log_seen[i].peer, sizeof(log_seen[i].peer), "%s", peer);
		log_seen[i].at = 0;
		log_seen[i].quiet = 0;
	}
	ok = !log_seen[i].at || now - log_seen[i].at >= (int64_t)RELAY_LOG_EVERY_S * 1000000000;
	*quiet = log_seen[i].quiet;
	if (ok) {
		log_seen[i].at = now;
		log_seen[i].quiet = 0;
	} else {
		log_seen[i].quiet++;
	}
	pthread_mutex_unlock(&log_mu);
	return ok;
}

static void log_failure(const struct relay *r, const char *what, const char *why, const char *hint)
{
	unsigned quiet;

	if (!log_allowed(r->peer, &quiet))
		return;
	if (quiet)
		log_warn("cluster: internal TLS %s with %s failed: %s (%s; %u more since the last "
			 "such line)",
			 what, r->peer, why, hint, quiet);
	else
		log_warn("cluster: internal TLS %s with %s failed: %s (%s)", what, r->peer, why,
			 hint);
}

static atomic_int running; /* relay threads, for tls_relay_drain */

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
			log_failure(r, "session", tls_conn_error(r->tls), "closed");
		else
			log_failure(r, "handshake", tls_conn_error(r->tls),
				    "every node needs --tls-cert, and its certificate must be "
				    "trusted by --tls-ca and name its --node address");
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
		/* as quiet as a failed connect on the plain path */
		log_debug("cluster: cannot connect to %s: %s", r->peer, strerror(err));
		return -1;
	}
	r->connecting = 0;
	return 0;
}

static void *relay_main(void *arg)
{
	struct relay *r = arg;
	int64_t start = cn_mono_ns(), linger = 0;

	cn_thread_name("relay");
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
				log_failure(r, "handshake", "the peer closed the connection",
					    "a plain-HTTP node, or one that does not trust our "
					    "certificate?");
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
		/* (an ended peer's socket would report POLLHUP over and over) */
		if (!p[0].events && r->net_done)
			p[0].fd = -1;
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
				log_failure(r, "handshake", "timed out",
					    "a plain-HTTP node? every node needs --tls-cert");
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
	atomic_fetch_sub(&running, 1);
	return NULL;
}

int tls_relay_drain(unsigned timeout_ms)
{
	int64_t until = cn_mono_ns() + (int64_t)timeout_ms * 1000000;

	while (atomic_load(&running) > 0 && cn_mono_ns() < until)
		usleep(5000);
	return atomic_load(&running);
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
	atomic_fetch_add(&running, 1);
	rc = pthread_create(&th, &at, relay_main, r);
	pthread_attr_destroy(&at);
	if (rc) {
		atomic_fetch_sub(&running, 1);
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
