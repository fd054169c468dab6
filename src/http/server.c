/*
 * http/server.c — worker loops, connections and HTTP/1.1 framing.
 *
 * Each connection owns one read buffer (HTTP_RBUF bytes). http-parser runs
 * over it; the request line and headers are copied into a scratch area as
 * they arrive (they may be split across reads), body bytes are handed to the
 * handler straight from the read buffer. A connection handles one request at
 * a time: after a message completes the parser is paused, so pipelined
 * requests wait in the buffer until the response has been flushed.
 *
 * Backpressure: when the handler pauses a request we stop reading from the
 * socket (and pause the parser mid-buffer); the kernel's receive window then
 * throttles the client. Responses are written with uv_write and the handler
 * is told when each buffer is flushed.
 *
 * Connection memory lives until both the socket is closed and the current
 * request (if any) has been ended by its handler.
 *
 * TLS (opt.tls): a connection from the TLS listener owns a tls_conn. Socket
 * bytes go into it (tls_in), decrypted bytes land in rbuf exactly where a
 * plain read would have put them (tls_pump -> got_plain), so parsing,
 * pausing and keep-alive are the same code for both. Every response write
 * is encrypted into one buffer at once (the handler's buffer is free after
 * that, but its callback still waits for the socket, which keeps the
 * backpressure); handshake output goes out through tls_flush. Ciphertext
 * not yet decrypted stays bounded (about one read): once rbuf is full and
 * the session still holds bytes, reading stops until the parser takes more.
 */
#include "http/http.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/fmt.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/thread.h"
#include "http/relay.h"
#include "http/tls.h"

#define HTTP_RBUF (64 * 1024)
#define MAX_HEADERS 128
#define LINGER_MS 2000

enum conn_state {
	ST_IDLE,    /* between requests */
	ST_HEADERS, /* request started, headers incomplete */
	ST_BODY,    /* handler owns the request, body incoming */
	ST_DONE,    /* body complete, waiting for the response to end */
};

struct http_worker {
	struct http_server *srv;
	int index;
	uv_loop_t loop;
	uv_tcp_t listener;
	uv_tcp_t plain_listener; /* opt.plain_host: plain HTTP beside TLS */
	uv_async_t stop_async;
	uv_timer_t grace_timer;
	uv_thread_t thread;
	int stopping;
	int n_conns;
	int started;
	int worker_stopped;
	struct http_conn *conns; /* intrusive list */
	void *data;
	int listen_fd;
	int plain_fd;
	int start_err;
};

struct http_server {
	struct http_options opt;
	struct http_handler handler;
	struct http_worker *workers;
	int n_workers;
	int port;
	int plain_port;	      /* 0: no plain listener */
	atomic_int n_conns;   /* open client connections, every worker */
	atomic_int n_refused; /* refusals still being written */
};

struct http_conn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	http_parser parser;
	struct http_worker *w;
	struct http_conn *next, *prev;
	enum conn_state state;
	char *rbuf;
	size_t rlen; /* bytes in rbuf */
	size_t roff; /* bytes of rbuf already parsed */
	/* Scratch for the request line and headers of the request being parsed. */
	char *hbuf;
	size_t hlen;
	size_t header_bytes;
	struct {
		size_t name_off, name_len, value_off, value_len;
	} hdr[MAX_HEADERS];
	int n_hdr;
	int last_was_value;
	int cl_again; /* this header's name so far is a second Content-Length */
	int head_err; /* why on_headers_complete refused the request, or 0 */
	size_t url_off, url_len;
	struct http_request *req;
	int reading;
	int in_parser;
	int in_cb;     /* inside a write callback: do not free the request */
	int closing;   /* uv_close issued (or about to be) */
	int closed;    /* close callbacks done */
	char peer[46]; /* the client's address, text ("" unknown) */
	int handles_open;
	int lingering;
	int close_after;
	int detached; /* the socket was handed to someone else (an upgrade) */
	int peer_eof;
	int timer_kind;
	uint64_t deadline;    /* loop ms: when timer_kind's limit runs out */
	struct tls_conn *tls; /* from the TLS listener; NULL on plain HTTP */
	int seen_data;	      /* the first bytes were checked for a protocol mismatch */
	int in_pump;	      /* inside tls_pump (no re-entry) */
};

static atomic_uint_fast64_t req_counter;

void http_options_default(struct http_options *o)
{
	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->port = 9000;
	o->workers = 0;
	o->max_header_bytes = 16 * 1024;
	o->header_timeout_ms = 15000;
	o->idle_timeout_ms = 60000;
	o->body_timeout_ms = 60000;
	o->shutdown_grace_ms = 10000;
}

void *http_worker_data(struct http_worker *w)
{
	return w->data;
}

void http_worker_set_data(struct http_worker *w, void *data)
{
	w->data = data;
}

int http_worker_index(struct http_worker *w)
{
	return w->index;
}

static void conn_close(struct http_conn *c);
static void send_error_and_close(struct http_conn *c, int err);
static void conn_process(struct http_conn *c);
static void conn_maybe_finish(struct http_conn *c);
static void conn_start_reading(struct http_conn *c);
static void worker_maybe_done(struct http_worker *w);

/* ---- timers ---- */

enum { TK_NONE, TK_IDLE, TK_HEADER, TK_BODY, TK_LINGER };

/* A connection has one deadline, moved several times per request (header,
 * body, idle). Moving a uv timer is a heap removal and insertion, so the uv
 * timer is moved only when the deadline comes earlier than it is due; one
 * that fires before the deadline is started again for the rest. */
static void on_timer(uv_timer_t *t)
{
	struct http_conn *c = t->data;
	uint64_t now = uv_now(t->loop);

	if (c->timer_kind == TK_NONE)
		return;
	if (now < c->deadline) {
		uv_timer_start(&c->timer, on_timer, c->deadline - now, 0);
		return;
	}
	switch (c->timer_kind) {
	case TK_IDLE:
	case TK_HEADER:
	case TK_LINGER:
		/* Slow or idle clients lose their connection; nothing else waits. */
		if (c->timer_kind == TK_HEADER)
			log_debug("http: header timeout, closing connection");
		conn_close(c);
		break;
	case TK_BODY:
		log_debug("http: body/write timeout, closing connection");
		/* A body that stalls is answered as S3 answers it (400
		 * RequestTimeout), so it is logged and counted like any
		 * refused request; a response the client stopped reading is
		 * cut, and so is a request this side held paused (the wait
		 * was not the client's). */
		if (c->req && c->state == ST_BODY && !c->req->response_started && !c->req->paused &&
		    !c->closing)
			send_error_and_close(c, CN_ETIMEOUT);
		else
			conn_close(c);
		break;
	default: break;
	}
}

static void arm_timer(struct http_conn *c, int kind, unsigned ms)
{
	if (c->closing)
		return;
	c->timer_kind = kind;
	c->deadline = uv_now(c->timer.loop) + ms;
	if (!uv_is_active((uv_handle_t *)&c->timer) || uv_timer_get_due_in(&c->timer) > ms)
		uv_timer_start(&c->timer, on_timer, ms, 0);
}

/* The uv timer, if active, fires with nothing to do and stops. */
static void disarm_timer(struct http_conn *c)
{
	c->timer_kind = TK_NONE;
}

/* ---- request objects ---- */

static struct http_request *req_new(struct http_conn *c)
{
	struct http_request *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	cn_pool_init(&r->pool);
	r->conn = c;
	r->worker = c->w;
	r->start_us = (uint64_t)(cn_mono_ns() / 1000);
	r->tls = c->tls != NULL;
	r->tls_version = c->tls ? tls_conn_version(c->tls) : NULL;
	r->id = atomic_fetch_add(&req_counter, 1) + 1;
	return r;
}

static void req_log(struct http_request *r)
{
	uint64_t us = (uint64_t)(cn_mono_ns() / 1000) - r->start_us;

	cn_metrics_request(r->op ? r->op : "Unknown", r->status, us, r->bytes_in, r->bytes_out);
	if (!cn_log_access_enabled())
		return;
	struct cn_access a = {
		.client = r->conn->peer,
		.request_id = r->log_id,
		.user = r->log_user,
		.method = r->method_str,
		.url = r->log_url ? r->log_url : r->url,
		.op = r->op,
		.bucket = r->log_bucket,
		.key = r->log_key,
		.key_len = r->log_key_len,
		.status = r->status,
		.bytes_in = r->bytes_in,
		.bytes_out = r->bytes_out,
		.duration_us = us,
		.aborted = r->aborted,
	};
	cn_log_access(&a);
}

static void req_free(struct http_request *r)
{
	cn_pool_release(&r->pool);
	free(r);
}

/* ---- writing ---- */

struct wreq {
	uv_write_t w;
	struct http_request *req;
	http_write_cb cb;
	void *arg;
	size_t len;
	char *ext;    /* TLS: the ciphertext being written (malloc'd), or NULL */
	char owned[]; /* for copies */
};

static void on_written(uv_write_t *w, int status)
{
	struct wreq *wr = (struct wreq *)w;
	struct http_request *r = wr->req;
	struct http_conn *c = r->conn;

	assert(r->n_pending_writes > 0);
	r->n_pending_writes--;
	if (status == 0)
		r->bytes_out += wr->len;
	if (r->n_pending_writes == 0 && c->timer_kind == TK_BODY && c->state == ST_DONE)
		disarm_timer(c);
	if (wr->cb) {
		/* The callback may end the request: keep it alive until we return. */
		c->in_cb++;
		wr->cb(r, status ? -EPIPE : 0, wr->arg);
		c->in_cb--;
	}
	free(wr->ext);
	free(wr);
	conn_maybe_finish(c);
}

/* Connection-level TLS output (handshake, tickets, alerts, close_notify)
 * written as it comes; a queued one frees itself when written. */
struct owrite {
	uv_write_t w;
	char *data; /* from tls_conn_take_out_buf */
};

static void on_owritten(uv_write_t *w, int status)
{
	struct owrite *o = (struct owrite *)w;
	(void)status;
	free(o->data);
	free(o);
}

static int tls_flush(struct http_conn *c)
{
	struct owrite *o;
	uv_buf_t b;
	size_t n;
	char *data;
	int sent;

	if (tls_conn_out_len(c->tls) == 0 || c->closing)
		return 0;
	data = tls_conn_take_out_buf(c->tls, &n);
	b = uv_buf_init(data, (unsigned)n);
	/* uv_try_write refuses while anything is queued, so order holds. */
	sent = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
	if (sent == (int)n || (sent < 0 && sent != UV_EAGAIN)) {
		free(data);
		return sent < 0 ? sent : 0;
	}
	if (sent > 0) {
		b.base += sent;
		b.len -= (size_t)sent;
	}
	o = malloc(sizeof(*o));
	if (!o) {
		free(data);
		return CN_ENOMEM;
	}
	o->data = data;
	if ((sent = uv_write(&o->w, (uv_stream_t *)&c->tcp, &b, 1, on_owritten)) != 0) {
		free(data);
		free(o);
		return sent;
	}
	return 0;
}

/* Writes the ciphertext of plain bytes just encrypted (taken from the
 * session: no copy), cb (may be NULL) when the socket took it. */
static int send_cipher(struct http_request *r, size_t plain, http_write_cb cb, void *arg)
{
	struct http_conn *c = r->conn;
	size_t n, off = 0;
	struct wreq *wr;
	uv_buf_t out;
	int rc;

	wr = malloc(sizeof(*wr));
	if (!wr)
		return CN_ENOMEM;
	wr->ext = tls_conn_take_out_buf(c->tls, &n);
	wr->req = r;
	wr->cb = cb;
	wr->arg = arg;
	wr->len = plain;
	if (!cb && r->n_pending_writes == 0) {
		/* As on plain sockets: a small response leaves in one syscall. */
		out = uv_buf_init(wr->ext, (unsigned)n);
		int sent = uv_try_write((uv_stream_t *)&c->tcp, &out, 1);
		if (sent == (int)n || (sent < 0 && sent != UV_EAGAIN)) {
			free(wr->ext);
			free(wr);
			if (sent < 0)
				return sent;
			r->bytes_out += plain;
			return 0;
		}
		if (sent > 0)
			off = (size_t)sent;
	}
	out = uv_buf_init(wr->ext + off, (unsigned)(n - off));
	rc = uv_write(&wr->w, (uv_stream_t *)&c->tcp, &out, 1, on_written);
	if (rc) {
		free(wr->ext);
		free(wr);
		return rc;
	}
	r->n_pending_writes++;
	if (c->state == ST_DONE)
		arm_timer(c, TK_BODY, c->w->srv->opt.body_timeout_ms);
	return 0;
}

/* write_buf over TLS: encrypts the buffers now (buf is no longer needed on
 * return), in pieces of TLS_WCHUNK plain bytes, each written as encrypted;
 * cb rides on the last piece, so it still runs when the socket took
 * everything, which paces the handler as on plain sockets. Pieces that
 * size come from malloc's arena and are reused warm: one ciphertext buffer
 * per 1 MiB response was a fresh mmap each time, and its page faults cost
 * more than the encryption. */
#define TLS_WCHUNK (64 * 1024)
static int write_tls(struct http_request *r, uv_buf_t *b, int nb, http_write_cb cb, void *arg)
{
	struct http_conn *c = r->conn;
	size_t off = 0;
	int i = 0, rc;

	do {
		size_t plain = 0;
		while (i < nb && plain < TLS_WCHUNK) {
			size_t take = b[i].len - off;
			if (take > TLS_WCHUNK - plain)
				take = TLS_WCHUNK - plain;
			rc = tls_conn_write(c->tls, b[i].base + off, take);
			if (rc)
				return rc;
			plain += take;
			off += take;
			if (off == b[i].len) {
				i++;
				off = 0;
			}
		}
		rc = send_cipher(r, plain, i == nb ? cb : NULL, i == nb ? arg : NULL);
		if (rc)
			return rc;
	} while (i < nb);
	return 0;
}

/* A write held back by http_response_cork: the arguments of write_bufs,
 * with the headers it would have led with; a copy's bytes in owned. */
struct cork {
	struct cork *next;
	char *hdr; /* pool memory, or NULL */
	size_t hdr_len;
	struct iovec iov[HTTP_WRITEV_MAX];
	int n, copy;
	http_write_cb cb;
	void *arg;
	char owned[];
};

static int cork_add(struct http_request *r, const struct iovec *iov, int n, int copy,
		    http_write_cb cb, void *arg)
{
	struct cork *k = malloc(sizeof(*k) + (copy ? iov[0].iov_len : 0));

	if (!k)
		return CN_ENOMEM;
	k->next = NULL;
	k->hdr = r->hdr_pending;
	k->hdr_len = r->hdr_pending_len;
	r->hdr_pending = NULL;
	memcpy(k->iov, iov, sizeof(*iov) * (size_t)n);
	k->n = n;
	k->copy = copy;
	k->cb = cb;
	k->arg = arg;
	if (copy) {
		memcpy(k->owned, iov[0].iov_base, iov[0].iov_len);
		k->iov[0].iov_base = k->owned;
	}
	*r->cork_tail = k;
	r->cork_tail = &k->next;
	r->n_pending_writes++; /* keeps r until the cork is gone */
	return 0;
}

/* Queues the held-back headers (if any) and iov[0..n) as one write. copy:
 * n is 1 and its bytes are copied (no callback). */
static int write_bufs(struct http_request *r, const struct iovec *iov, int n, int copy,
		      http_write_cb cb, void *arg)
{
	struct http_conn *c = r->conn;
	struct wreq *wr;
	uv_buf_t b[HTTP_WRITEV_MAX + 1];
	int rc, nb = 0, first = 0;
	size_t total = 0;

	if (r->aborted || c->closing || r->cork_failed)
		return -EPIPE;
	if (n < 1 || n > HTTP_WRITEV_MAX || (copy && n != 1))
		return CN_EINVAL;
	if (r->corked)
		return cork_add(r, iov, n, copy, cb, arg);
	/* Response headers wait for the first body bytes so both leave in
	 * one writev: one syscall and one TCP segment for a small object. */
	if (r->hdr_pending) {
		b[nb++] = uv_buf_init(r->hdr_pending, (unsigned)r->hdr_pending_len);
		total += r->hdr_pending_len;
		r->hdr_pending = NULL;
	}
	for (int i = 0; i < n; i++) {
		b[nb++] = uv_buf_init(iov[i].iov_base, (unsigned)iov[i].iov_len);
		total += iov[i].iov_len;
	}
	if (c->tls)
		return write_tls(r, b, nb, cb, arg);
	if (!cb && r->n_pending_writes == 0) {
		/* Nothing queued ahead: try the socket now. A small response
		 * then needs no write request, no copy and no epoll change
		 * (libuv re-arms the watcher after every queued write). */
		int w = uv_try_write((uv_stream_t *)&c->tcp, b, (unsigned)nb);
		size_t sent = w > 0 ? (size_t)w : 0;
		r->bytes_out += sent;
		if (sent == total)
			return 0;
		if (w < 0 && w != UV_EAGAIN)
			return w;
		/* Queue what is left: skip the bytes already sent. */
		total -= sent;
		while (sent >= b[first].len)
			sent -= b[first++].len;
		b[first].base += sent;
		b[first].len -= (unsigned)sent;
	}
	wr = malloc(sizeof(*wr) + (copy ? b[nb - 1].len : 0));
	if (!wr)
		return CN_ENOMEM;
	wr->ext = NULL;
	wr->req = r;
	wr->cb = cb;
	wr->arg = arg;
	wr->len = total;
	if (copy) {
		memcpy(wr->owned, b[nb - 1].base, b[nb - 1].len);
		b[nb - 1].base = wr->owned;
	}
	rc = uv_write(&wr->w, (uv_stream_t *)&c->tcp, b + first, (unsigned)(nb - first),
		      on_written);
	if (rc) {
		free(wr);
		return rc;
	}
	r->n_pending_writes++;
	/* A client that stops reading its response is cut off like a slow sender. */
	if (c->state == ST_DONE)
		arm_timer(c, TK_BODY, c->w->srv->opt.body_timeout_ms);
	return 0;
}

static int write_buf(struct http_request *r, const void *buf, size_t len, int copy,
		     http_write_cb cb, void *arg)
{
	struct iovec v = {(void *)buf, len};

	return write_bufs(r, &v, 1, copy, cb, arg);
}

/* Sends response headers still held back (a response without a body). */
static void flush_headers(struct http_request *r)
{
	char *h = r->hdr_pending;

	if (!h)
		return;
	r->hdr_pending = NULL;
	write_buf(r, h, r->hdr_pending_len, 0, NULL, NULL);
}

static const char *reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Payload Too Large";
	case 416: return "Requested Range Not Satisfiable";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	case 507: return "Insufficient Storage";
	default: return "Unknown";
	}
}

int http_response_begin(struct http_request *r, int status, const struct http_header *hdrs,
			int n_hdrs, uint64_t content_length)
{
	struct http_conn *c = r->conn;
	/* 256: the status line (at most 46 bytes), Content-Length (38),
	 * Connection: close (19) and the blank line, with room to spare */
	size_t cap = 256, len = 0;
	char *buf;
	int rc, keep;

	if (r->aborted || c->closing)
		return -EPIPE;
	if (r->response_started)
		return CN_EINVAL;
	r->response_started = 1;
	r->status = status;
	/* A response sent before the body was read means the rest of the body
	 * must not be taken as the next request: close after this one. A
	 * declared empty body ("Content-Length: 0", which other nodes' shard
	 * reads send) has no rest, even when the answer comes from the request
	 * callback itself, before the parser saw the message end. */
	keep = r->keep_alive && !c->close_after && !c->w->stopping &&
	       (r->body_done || (!r->has_content_length && !r->chunked) ||
		(r->has_content_length && !r->chunked && r->content_length == 0));
	if (!keep)
		c->close_after = 1;
	for (int i = 0; i < n_hdrs; i++)
		cap += hdrs[i].name_len + hdrs[i].value_len + 4;
	buf = cn_pool_alloc(&r->pool, cap);
	if (!buf)
		return CN_ENOMEM;
	{
		const char *why = reason(status);
		char *d = cn_fmt_lit(buf, "HTTP/1.1 ");
		/* three digits are written whatever status is */
		assert(status >= 100 && status <= 999);
		d = cn_fmt_dec(d, (uint64_t)status, 3);
		*d++ = ' ';
		d = cn_fmt_mem(d, why, strlen(why));
		d = cn_fmt_lit(d, "\r\n");
		len = (size_t)(d - buf);
	}
	for (int i = 0; i < n_hdrs; i++) {
		memcpy(buf + len, hdrs[i].name, hdrs[i].name_len);
		len += hdrs[i].name_len;
		buf[len++] = ':';
		buf[len++] = ' ';
		memcpy(buf + len, hdrs[i].value, hdrs[i].value_len);
		len += hdrs[i].value_len;
		buf[len++] = '\r';
		buf[len++] = '\n';
	}
	{
		char *d = cn_fmt_lit(buf + len, "Content-Length: ");
		d = cn_fmt_lit(cn_fmt_u64(d, content_length), "\r\n");
		if (!keep)
			d = cn_fmt_lit(d, "Connection: close\r\n");
		d = cn_fmt_lit(d, "\r\n");
		len = (size_t)(d - buf);
	}
	/* Held back until the first body write or the end (see write_buf). */
	r->hdr_pending = buf;
	r->hdr_pending_len = len;
	rc = 0;
	if (content_length == 0 || r->method == HTTP_HEAD)
		flush_headers(r);
	return rc;
}

int http_response_write(struct http_request *r, const void *buf, size_t len, http_write_cb cb,
			void *arg)
{
	return write_buf(r, buf, len, 0, cb, arg);
}

int http_response_writev(struct http_request *r, const struct iovec *iov, int n, http_write_cb cb,
			 void *arg)
{
	return write_bufs(r, iov, n, 0, cb, arg);
}

int http_response_write_copy(struct http_request *r, const void *buf, size_t len)
{
	return write_buf(r, buf, len, 1, NULL, NULL);
}

ssize_t http_response_sendfile(struct http_request *r, int fd, uint64_t off, size_t len)
{
	struct http_conn *c = r->conn;
	uv_os_fd_t sock;
	size_t sent = 0;
	ssize_t n;

	if (r->aborted || c->closing)
		return -EPIPE;
	/* Only with nothing queued ahead, which then stays in order. */
	if (r->cork_failed)
		return -EPIPE;
	if (c->tls || r->corked || r->n_pending_writes ||
	    uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) != 0 ||
	    uv_fileno((uv_handle_t *)&c->tcp, &sock) != 0 || off > INT64_MAX)
		return 0;
	if (r->hdr_pending) {
		/* MSG_MORE: the headers go out in the body's first segment */
		do
			n = send(sock, r->hdr_pending, r->hdr_pending_len, MSG_MORE | MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
		r->bytes_out += (size_t)n;
		r->hdr_pending += n;
		r->hdr_pending_len -= (size_t)n;
		if (r->hdr_pending_len)
			return 0; /* the rest leads the next write */
		r->hdr_pending = NULL;
	}
	while (sent < len) {
		off_t o = (off_t)(off + sent);
		n = sendfile(sock, fd, &o, len - sent);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0)
			return -errno;
		if (n == 0)
			break; /* the file ended */
		sent += (size_t)n;
		r->bytes_out += (size_t)n;
	}
	return (ssize_t)sent;
}

void http_response_cork(struct http_request *r)
{
	if (!r->corked && !r->corks)
		r->cork_tail = &r->corks;
	r->corked = 1;
}

void http_response_uncork(struct http_request *r, int err)
{
	struct http_conn *c = r->conn;
	struct cork *k = r->corks;
	int unsent = 1; /* nothing of this response has left */
	int broken = err != 0;

	if (!r->corked)
		return;
	r->corked = 0;
	r->corks = NULL;
	r->cork_tail = &r->corks;
	if (r->bytes_out)
		unsent = 0;
	c->in_cb++; /* a callback may end r: keep it until all ran */
	while (k) {
		struct cork *next = k->next;
		int rc = -EPIPE;
		assert(r->n_pending_writes > 0);
		r->n_pending_writes--;
		if (!broken && !r->aborted && !c->closing) {
			r->hdr_pending = k->hdr;
			r->hdr_pending_len = k->hdr_len;
			rc = write_bufs(r, k->iov, k->n, k->copy, k->cb, k->arg);
			if (rc) {
				/* what follows would leave with a hole before it */
				r->hdr_pending = NULL;
				c->close_after = 1;
				broken = 1;
			}
		}
		if (rc && k->cb)
			k->cb(r, -EPIPE, k->arg);
		free(k);
		k = next;
	}
	if (err) {
		/* An answer that may not be given: the client must see a
		 * failure it retries, never that answer, nor any later part. */
		r->hdr_pending = NULL;
		c->close_after = 1;
		if (unsent && !r->aborted && !c->closing) {
			static const char h503[] = "HTTP/1.1 503 Service Unavailable\r\n"
						   "Server: cairn\r\nContent-Length: 0\r\n"
						   "Connection: close\r\n\r\n";
			r->status = 503;
			write_buf(r, h503, sizeof(h503) - 1, 0, NULL, NULL);
		}
		r->cork_failed = 1;
	}
	c->in_cb--;
	conn_maybe_finish(c);
}

void http_request_close_after(struct http_request *r)
{
	r->conn->close_after = 1;
}

struct upgrade {
	http_upgrade_cb cb;
	void *arg;
};

static void upgrade_written(struct http_request *r, int err, void *arg)
{
	struct upgrade *u = arg;
	struct http_conn *c = r->conn;
	uv_os_fd_t fd = -1;
	int dupfd = -1;

	if (!err && uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
		dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	/* Our handle closes (close(2) only: no shutdown, no linger), the
	 * duplicate keeps the socket open for its new owner. */
	c->detached = 1;
	c->close_after = 1;
	if (c->tls && dupfd >= 0) {
		/* The session goes with the socket to a relay (http/relay.h); the
		 * new owner gets the relay's plain end. The peer sends nothing
		 * before our 101, so no input of the stream stayed here. */
		struct tls_conn *t = c->tls;
		int local = -1;

		c->tls = NULL;
		if (tls_relay_start(t, dupfd, c->peer[0] ? c->peer : "?", &local) != 0)
			local = -1;
		dupfd = local;
	}
	u->cb(r, dupfd, u->arg);
}

int http_request_upgrade(struct http_request *r, const struct http_header *hdrs, int n_hdrs,
			 http_upgrade_cb cb, void *arg)
{
	struct http_conn *c = r->conn;
	struct upgrade *u;
	size_t cap = 64, len;
	char *buf;

	if (r->aborted || c->closing || r->response_started || !r->body_done)
		return CN_EINVAL;
	for (int i = 0; i < n_hdrs; i++)
		cap += hdrs[i].name_len + hdrs[i].value_len + 4;
	u = cn_pool_alloc(&r->pool, sizeof(*u));
	buf = cn_pool_alloc(&r->pool, cap);
	if (!u || !buf)
		return CN_ENOMEM;
	u->cb = cb;
	u->arg = arg;
	/* Whatever the peer sends after our answer belongs to the new owner:
	 * not one byte more may be read here. */
	if (c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = 0;
	}
	c->close_after = 1;
	r->response_started = 1;
	r->status = 101;
	len = (size_t)snprintf(buf, cap, "HTTP/1.1 101 Switching Protocols\r\n");
	for (int i = 0; i < n_hdrs; i++) {
		memcpy(buf + len, hdrs[i].name, hdrs[i].name_len);
		len += hdrs[i].name_len;
		buf[len++] = ':';
		buf[len++] = ' ';
		memcpy(buf + len, hdrs[i].value, hdrs[i].value_len);
		len += hdrs[i].value_len;
		buf[len++] = '\r';
		buf[len++] = '\n';
	}
	buf[len++] = '\r';
	buf[len++] = '\n';
	return write_buf(r, buf, len, 0, upgrade_written, u);
}

void http_response_end(struct http_request *r)
{
	struct http_conn *c = r->conn;

	if (r->ended)
		return;
	r->ended = 1;
	if (!r->aborted)
		flush_headers(r);
	if (!r->response_started && !r->aborted) {
		/* A handler that never answered: never leave the client hanging. */
		static const struct http_header h = {"Server", 6, "cairn", 5};
		http_response_begin(r, 500, &h, 1, 0);
	}
	conn_maybe_finish(c);
}

const struct http_header *http_request_header(const struct http_request *r, const char *name)
{
	size_t n = strlen(name);

	/* a request's handlers ask for twenty-odd names among a dozen
	 * headers: the length rules out nearly all before a compare */
	for (int i = 0; i < r->n_headers; i++)
		if (r->headers[i].name_len == n && strcasecmp(r->headers[i].name, name) == 0)
			return &r->headers[i];
	return NULL;
}

void http_request_pause(struct http_request *r)
{
	struct http_conn *c = r->conn;

	r->held = 0;
	if (r->paused)
		return;
	r->paused = 1;
	if (c->in_parser)
		http_parser_pause(&c->parser, 1);
	if (c->reading && !c->closing) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = 0;
	}
}

void http_request_resume(struct http_request *r)
{
	struct http_conn *c = r->conn;

	r->held = 0;
	if (!r->paused)
		return;
	r->paused = 0;
	if (c->closing || r->aborted)
		return;
	if (c->in_parser) {
		http_parser_pause(&c->parser, 0);
		return;
	}
	/* Parse what is buffered, then read more. */
	conn_process(c);
}

void http_request_hold(struct http_request *r)
{
	if (r->paused)
		return;
	http_request_pause(r);
	r->held = 1;
}

void http_request_run_held(struct http_request *r, void (*fn)(void *), void *arg)
{
	struct http_conn *c = r->conn;

	c->in_cb++; /* r stays alive while fn runs, even if fn ends it */
	fn(arg);
	if (r->held)
		http_request_resume(r);
	c->in_cb--;
	conn_maybe_finish(c);
}

/* ---- error responses produced by the HTTP layer itself ---- */

static void send_error_and_close(struct http_conn *c, int err)
{
	const struct http_handler *hd = &c->w->srv->handler;
	struct http_request *r = c->req;
	const char *ctype = NULL, *body = NULL;
	size_t blen = 0;
	int status = 400;

	if (!r) {
		r = req_new(c);
		if (!r) {
			conn_close(c);
			return;
		}
		c->req = r;
		r->method = c->parser.method;
		r->method_str = http_method_str(c->parser.method);
	}
	if (!r->op)
		r->op = "HttpError"; /* a request the handler never saw */
	c->close_after = 1;
	if (hd->on_framing_error)
		status = hd->on_framing_error(r, err, &ctype, &body, &blen, hd->arg);
	if (!r->response_started && !c->closing) {
		struct http_header h[2] = {{"Server", 6, "cairn", 5}};
		int nh = 1;
		if (ctype)
			h[nh++] = (struct http_header){"Content-Type", 12, ctype, strlen(ctype)};
		/* A handler that owns the request may not answer it now. A HEAD
		 * answer carries the length of the body it does not send. */
		if (http_response_begin(r, status, h, nh, blen) == 0 && blen &&
		    r->method != HTTP_HEAD)
			write_buf(r, body, blen, 1, NULL, NULL);
		flush_headers(r);
	}
	if (r->on_body_end && !r->body_done) {
		/* on_body_end may end the request (an inline upload answers its
		 * error at once) and, with its answer already written, free it:
		 * keep it until this function is done with it. Both callers
		 * (the body timer, a framing error after the parser returned)
		 * run outside the parser. */
		r->body_done = 1;
		c->in_cb++;
		r->on_body_end(r, CN_EBADREQ);
		c->in_cb--;
	}
	if (!r->data)
		r->ended = 1; /* no handler owns it */
	disarm_timer(c);
	if (c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = 0;
	}
	conn_maybe_finish(c);
}

/* ---- http-parser callbacks ---- */

static int hb_append(struct http_conn *c, const char *at, size_t len)
{
	size_t max = c->w->srv->opt.max_header_bytes;

	c->header_bytes += len;
	if (c->header_bytes > max)
		return -1;
	memcpy(c->hbuf + c->hlen, at, len);
	c->hlen += len;
	return 0;
}

static int on_message_begin(http_parser *p)
{
	struct http_conn *c = p->data;

	c->state = ST_HEADERS;
	c->hlen = 0;
	c->header_bytes = 0;
	c->n_hdr = 0;
	c->last_was_value = 0;
	c->head_err = 0;
	c->url_off = c->url_len = 0;
	/* The header deadline runs from the first byte: trickling bytes does
	 * not extend it. */
	arm_timer(c, TK_HEADER, c->w->srv->opt.header_timeout_ms);
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;

	if (c->url_len == 0)
		c->url_off = c->hlen;
	if (hb_append(c, at, len))
		return -1;
	c->url_len += len;
	return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;

	if (c->last_was_value || c->n_hdr == 0) {
		if (c->n_hdr == MAX_HEADERS)
			return -1;
		c->n_hdr++;
		c->hdr[c->n_hdr - 1].name_off = c->hlen;
		c->hdr[c->n_hdr - 1].name_len = 0;
		c->hdr[c->n_hdr - 1].value_off = 0;
		c->hdr[c->n_hdr - 1].value_len = 0;
		c->last_was_value = 0;
		c->cl_again = 0;
	}
	if (hb_append(c, at, len))
		return -1;
	c->hdr[c->n_hdr - 1].name_len += len;
	/* A second Content-Length: http-parser refuses any, while RFC 9112
	 * 6.3 lets a recipient take repeated equal values as one, as S3 does
	 * (rclone's presigned PUT sends the header twice). Its flag is lifted
	 * for this header's value (the parser sets it again there), and
	 * check_head refuses values that differ. The name may arrive in
	 * pieces: if it goes on past "content-length", the flag comes back. */
	{
		size_t nl = c->hdr[c->n_hdr - 1].name_len;
		int is_cl = nl == 14 && strncasecmp(c->hbuf + c->hdr[c->n_hdr - 1].name_off,
						    "content-length", 14) == 0;
		if (c->cl_again && !is_cl) {
			p->flags |= F_CONTENTLENGTH;
			c->cl_again = 0;
		} else if (is_cl && (p->flags & F_CONTENTLENGTH)) {
			p->flags &= (unsigned)~F_CONTENTLENGTH & 0xffu;
			c->cl_again = 1;
		}
	}
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;

	if (c->n_hdr == 0)
		return -1;
	if (!c->last_was_value) {
		c->hdr[c->n_hdr - 1].value_off = c->hlen;
		c->last_was_value = 1;
	}
	if (hb_append(c, at, len))
		return -1;
	c->hdr[c->n_hdr - 1].value_len += len;
	return 0;
}

/* A field name is a token (RFC 9110 5.1): http-parser lets through, for
 * one, a space before the colon ("Content-Length : 5"), which it still
 * frames the body by while a lookup of "content-length" misses it. */
static int tchar(unsigned char ch)
{
	/* letters, digits and '-' make up nearly every real name: decided
	 * without the search, as this runs on every header of every request */
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	    ch == '-')
		return 1;
	return ch && strchr("!#$%&'*+.^_`|~", ch) != NULL;
}

static int name_ok(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!tchar((unsigned char)s[i]))
			return 0;
	return 1;
}

/* The one transfer coding spoken is chunked (RFC 9112 6.1: another one
 * is 501). Anything else would be taken for the object's bytes. */
/* A field value without the optional whitespace around it (RFC 9110 5.5). */
static void trim_ows(const char **v, size_t *n)
{
	while (*n && (**v == ' ' || **v == '\t')) {
		(*v)++;
		(*n)--;
	}
	while (*n && ((*v)[*n - 1] == ' ' || (*v)[*n - 1] == '\t'))
		(*n)--;
}

static int te_ok(const char *v, size_t n)
{
	trim_ows(&v, &n);
	return n == 7 && strncasecmp(v, "chunked", 7) == 0;
}

/* Header i's and j's values, optional whitespace around them aside. */
static int same_value(const struct http_conn *c, int i, int j)
{
	const char *a = c->hbuf + c->hdr[i].value_off, *b = c->hbuf + c->hdr[j].value_off;
	size_t al = c->hdr[i].value_len, bl = c->hdr[j].value_len;

	trim_ows(&a, &al);
	trim_ows(&b, &bl);
	return al == bl && memcmp(a, b, al) == 0;
}

/* Only HTTP/1.x is spoken (a higher minor version reads as 1.1, RFC 9112
 * 2.3). An HTTP/1.1 request carries exactly one Host, and no request two
 * (RFC 9112 3.2): with two, a proxy in front and this server could each
 * take a different authority. Every field name is a token (RFC 9112 5.1:
 * whitespace before the colon is 400), and a transfer coding other than
 * chunked is 501. */
static int check_head(const http_parser *p, const struct http_conn *c)
{
	int hosts = 0, cl = -1;

	if (p->http_major != 1)
		return CN_EBADVERSION;
	for (int i = 0; i < c->n_hdr; i++) {
		const char *nm = c->hbuf + c->hdr[i].name_off;
		size_t nl = c->hdr[i].name_len;
		if (!name_ok(nm, nl))
			return CN_EBADREQ;
		if (nl == 4 && strncasecmp(nm, "host", 4) == 0)
			hosts++;
		if (nl == 14 && strncasecmp(nm, "content-length", 14) == 0) {
			/* repeated: only the same value (the framing is one) */
			if (cl >= 0 && !same_value(c, cl, i))
				return CN_EBADREQ;
			cl = i;
		}
		if (nl == 17 && strncasecmp(nm, "transfer-encoding", 17) == 0 &&
		    !te_ok(c->hbuf + c->hdr[i].value_off, c->hdr[i].value_len))
			return CN_ENOTIMPL;
	}
	if (hosts > 1 || (hosts == 0 && p->http_minor >= 1))
		return CN_EBADHOST;
	return 0;
}

static int on_headers_complete(http_parser *p)
{
	struct http_conn *c = p->data;
	struct http_worker *w = c->w;
	struct http_request *r;
	char *q;

	c->head_err = check_head(p, c);
	if (c->head_err)
		return -1;
	r = req_new(c);
	if (!r)
		return -1;
	c->req = r;
	r->method = p->method;
	r->method_str = http_method_str(p->method);
	r->url = cn_pool_strndup(&r->pool, c->hbuf + c->url_off, c->url_len);
	r->headers = cn_pool_alloc(&r->pool, sizeof(*r->headers) * (c->n_hdr + 1));
	if (!r->url || !r->headers)
		return -1;
	q = memchr(r->url, '?', c->url_len);
	if (q) {
		r->path = cn_pool_strndup(&r->pool, r->url, (size_t)(q - r->url));
		r->path_len = (size_t)(q - r->url);
		r->query = q + 1;
		r->query_len = c->url_len - r->path_len - 1;
	} else {
		r->path = r->url;
		r->path_len = c->url_len;
		r->query = "";
		r->query_len = 0;
	}
	int n = 0, cl_seen = 0;
	for (int i = 0; i < c->n_hdr; i++) {
		const char *v = c->hbuf + c->hdr[i].value_off;
		size_t vl = c->hdr[i].value_len;
		if (c->hdr[i].name_len == 14 &&
		    strncasecmp(c->hbuf + c->hdr[i].name_off, "content-length", 14) == 0 &&
		    cl_seen++)
			continue; /* repeated (equal: check_head): kept once (RFC 9112 6.3) */
		trim_ows(&v, &vl);
		r->headers[n].name =
			cn_pool_strndup(&r->pool, c->hbuf + c->hdr[i].name_off, c->hdr[i].name_len);
		r->headers[n].name_len = c->hdr[i].name_len;
		r->headers[n].value = cn_pool_strndup(&r->pool, v, vl);
		r->headers[n].value_len = vl;
		if (!r->headers[n].name || !r->headers[n].value)
			return -1;
		n++;
	}
	r->n_headers = n;
	r->keep_alive = http_should_keep_alive(p);
	r->chunked = (p->flags & F_CHUNKED) != 0;
	{
		const struct http_header *cl = http_request_header(r, "content-length");
		if (cl) {
			r->has_content_length = 1;
			r->content_length = p->content_length;
		}
		const struct http_header *ex = http_request_header(r, "expect");
		if (ex && strcasecmp(ex->value, "100-continue") == 0)
			r->expect_continue = 1;
	}
	c->state = ST_BODY;
	arm_timer(c, TK_BODY, w->srv->opt.body_timeout_ms);
	w->srv->handler.on_request(r, w->srv->handler.arg);
	if (!r->response_started && r->expect_continue && !r->body_done) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		write_buf(r, cont, sizeof(cont) - 1, 0, NULL, NULL);
	}
	if (r->paused)
		http_parser_pause(p, 1);
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	struct http_request *r = c->req;

	if (!r)
		return -1;
	r->bytes_in += len;
	if (r->on_body && !r->ended) {
		if (r->on_body(r, at, len)) {
			/* The handler will answer; drop the rest of the body. */
			r->on_body = NULL;
		}
	}
	if (r->paused)
		http_parser_pause(p, 1);
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct http_conn *c = p->data;
	struct http_request *r = c->req;

	if (!r)
		return -1;
	r->body_done = 1;
	c->state = ST_DONE;
	disarm_timer(c);
	if (r->on_body_end)
		r->on_body_end(r, 0);
	/* Hold pipelined requests until this response is out. */
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* ---- connection lifecycle ---- */

static void conn_free(struct http_conn *c)
{
	struct http_worker *w = c->w;

	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c->rbuf);
	free(c->hbuf);
	tls_conn_free(c->tls);
	free(c);
	assert(w->n_conns > 0);
	w->n_conns--;
	atomic_fetch_sub(&w->srv->n_conns, 1);
	cn_metrics_conn(-1);
	worker_maybe_done(w);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct http_conn *c = h->data;

	if (--c->handles_open > 0)
		return;
	c->closed = 1;
	if (!c->req)
		conn_free(c);
}

static void conn_close(struct http_conn *c)
{
	struct http_request *r = c->req;

	if (c->closing)
		return;
	if (c->tls && !c->detached && !c->lingering) {
		/* close_notify, best effort: the write queue dies with the handle */
		tls_conn_shutdown(c->tls);
		tls_flush(c);
	}
	c->closing = 1;
	c->reading = 0;
	if (r && !r->aborted) {
		r->aborted = 1;
		/* on_body_end may end (and so free) the request, e.g. an inline
		 * upload answering its error at once: keep it alive until both
		 * callbacks ran, then free it through conn_maybe_finish. */
		c->in_cb++;
		if (!r->body_done && r->on_body_end) {
			r->body_done = 1;
			r->on_body_end(r, CN_EINCOMPLETE);
		}
		if (r->on_abort)
			r->on_abort(r);
		if (!r->data && !r->response_started)
			r->ended = 1; /* nobody owns it */
		c->in_cb--;
		conn_maybe_finish(c);
	}
	uv_close((uv_handle_t *)&c->timer, on_handle_closed);
	uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

static void on_shutdown(uv_shutdown_t *s, int status)
{
	(void)status;
	free(s);
}

/* Called whenever the current request may have become finished: ended by
 * its handler, all its writes flushed, and the parser not running. */
static void conn_maybe_finish(struct http_conn *c)
{
	struct http_request *r = c->req;

	if (!r || !r->ended || r->n_pending_writes > 0 || c->in_parser || c->in_cb)
		return;
	assert(c->in_cb == 0 && r->n_pending_writes == 0);
	if (!r->aborted || r->response_started)
		req_log(r);
	c->req = NULL;
	req_free(r);
	if (c->closing) {
		if (c->closed)
			conn_free(c);
		return;
	}
	if (c->close_after || c->peer_eof || c->w->stopping) {
		if (c->state != ST_DONE && c->state != ST_IDLE && !c->peer_eof && !c->detached) {
			/* The client may still be sending a body we did not read:
			 * half-close and drain briefly so our response is not lost
			 * to a reset. */
			uv_shutdown_t *s = malloc(sizeof(*s));
			if (c->tls) {
				tls_conn_shutdown(c->tls); /* queued before the FIN */
				tls_flush(c);
			}
			if (s && uv_shutdown(s, (uv_stream_t *)&c->tcp, on_shutdown) == 0) {
				c->lingering = 1;
				arm_timer(c, TK_LINGER, LINGER_MS);
				conn_start_reading(c);
				return;
			}
			free(s);
		}
		conn_close(c);
		return;
	}
	/* Keep-alive: reset for the next (possibly already buffered) request. */
	c->state = ST_IDLE;
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	arm_timer(c, TK_IDLE, c->w->srv->opt.idle_timeout_ms);
	conn_process(c);
}

static void conn_process(struct http_conn *c)
{
	while (!c->closing && c->roff < c->rlen) {
		struct http_request *r = c->req;
		size_t n;
		enum http_errno e;

		if (r && (r->paused || c->state == ST_DONE))
			break;
		c->in_parser = 1;
		n = http_parser_execute(&c->parser, &settings, c->rbuf + c->roff,
					c->rlen - c->roff);
		c->in_parser = 0;
		c->roff += n;
		e = HTTP_PARSER_ERRNO(&c->parser);
		if (e == HPE_PAUSED) {
			http_parser_pause(&c->parser, 0);
			/* The request may have been ended inside the parser. */
			r = c->req;
			if (r && r->ended) {
				conn_maybe_finish(c);
				return;
			}
			if (c->req && (c->req->paused || c->state == ST_DONE))
				break;
			continue;
		}
		if (e != HPE_OK) {
			if (c->header_bytes > c->w->srv->opt.max_header_bytes)
				send_error_and_close(c, CN_EHDRTOOBIG);
			else if (c->head_err)
				send_error_and_close(c, c->head_err);
			else if (c->state == ST_HEADERS || c->state == ST_IDLE)
				send_error_and_close(c, CN_EBADREQ);
			else
				send_error_and_close(c, CN_EBADCHUNK);
			return;
		}
		if (c->req && c->req->ended) {
			conn_maybe_finish(c);
			return;
		}
	}
	if (c->closing)
		return;
	/* Compact so the next read appends after what is left. */
	if (c->roff > 0) {
		memmove(c->rbuf, c->rbuf + c->roff, c->rlen - c->roff);
		c->rlen -= c->roff;
		c->roff = 0;
	}
	if (c->req && c->req->ended) {
		conn_maybe_finish(c);
		return;
	}
	if (!c->req || (!c->req->paused && c->state != ST_DONE))
		conn_start_reading(c);
	else if (c->reading && c->req && c->req->paused) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = 0;
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	/* Ciphertext goes straight into the session's BIO: one buffer per loop. */
	static __thread char tls_in_buf[HTTP_RBUF];
	struct http_conn *c = h->data;
	(void)suggested;

	if (c->lingering) {
		/* Discarding: reuse the whole buffer. */
		*buf = uv_buf_init(c->rbuf, HTTP_RBUF);
		return;
	}
	if (c->tls) {
		*buf = uv_buf_init(tls_in_buf, sizeof(tls_in_buf));
		return;
	}
	*buf = uv_buf_init(c->rbuf + c->rlen, (unsigned)(HTTP_RBUF - c->rlen));
}

/* The peer closed its side (or the read failed): answer what is complete. */
static void conn_eof(struct http_conn *c, ssize_t nread)
{
	uv_stream_t *s = (uv_stream_t *)&c->tcp;

	if (c->req && c->req->body_done && !c->req->ended && nread == UV_EOF) {
		/* Half-closed peer with a full request: answer, then close. */
		c->peer_eof = 1;
		c->close_after = 1;
		uv_read_stop(s);
		c->reading = 0;
		return;
	}
	if (c->req && !c->req->body_done && !c->req->ended && nread == UV_EOF &&
	    c->state == ST_BODY && c->req->on_body_end) {
		/* Half-closed peer inside a body: everything buffered is
		 * parsed (we only read while not paused), so the body is
		 * short. The handler answers (400 IncompleteBody) to a
		 * client that may still be reading; then close. */
		struct http_request *r = c->req;
		c->peer_eof = 1;
		c->close_after = 1;
		uv_read_stop(s);
		c->reading = 0;
		r->body_done = 1;
		c->in_cb++;
		r->on_body_end(r, CN_EINCOMPLETE);
		c->in_cb--;
		conn_maybe_finish(c);
		return;
	}
	conn_close(c);
}

/* n request bytes arrived at rbuf + rlen (read, or decrypted). */
static void got_plain(struct http_conn *c, size_t n)
{
	c->rlen += n;
	if (c->state == ST_BODY)
		arm_timer(c, TK_BODY, c->w->srv->opt.body_timeout_ms);
	else if (c->state == ST_IDLE)
		disarm_timer(c); /* on_message_begin arms the header deadline */
	conn_process(c);
	if (!c->closing && c->rlen == HTTP_RBUF && c->roff == 0 && c->reading) {
		if (c->req && (c->req->paused || c->state == ST_DONE)) {
			/* Pipelined requests behind one still being answered:
			 * the parser takes them after it, so stop reading until
			 * it does (conn_process starts again when it needs more). */
			uv_read_stop((uv_stream_t *)&c->tcp);
			c->reading = 0;
			return;
		}
		/* Buffer full and nothing parsable: only oversized headers do this. */
		send_error_and_close(c, CN_EHDRTOOBIG);
	}
}

/* Decrypts what the session holds into rbuf while there is room, handing
 * each piece to the parser. Called after new ciphertext and whenever the
 * parser may take more (conn_start_reading). */
static void tls_pump(struct http_conn *c)
{
	if (c->in_pump)
		return; /* the outer loop goes on */
	c->in_pump = 1;
	while (!c->closing && !c->lingering && c->rlen < HTTP_RBUF) {
		int was_ready = tls_conn_ready(c->tls);
		int n = tls_conn_read(c->tls, c->rbuf + c->rlen, HTTP_RBUF - c->rlen);

		if (tls_flush(c)) {
			conn_close(c);
			break;
		}
		if (!was_ready && tls_conn_ready(c->tls) && c->state == ST_IDLE)
			arm_timer(c, TK_IDLE, c->w->srv->opt.idle_timeout_ms);
		if (n > 0) {
			got_plain(c, (size_t)n);
			continue;
		}
		if (n == TLS_WANT_READ)
			break;
		if (n == TLS_CLOSED) {
			conn_eof(c, UV_EOF);
			break;
		}
		log_info("http: TLS %s with %s failed: %s", was_ready ? "session" : "handshake",
			 c->peer[0] ? c->peer : "?", tls_conn_error(c->tls));
		conn_close(c);
		break;
	}
	c->in_pump = 0;
}

#define TLS_ONLY_BODY "This port speaks TLS: use https:// to reach it.\n"
static const char tls_only_msg[] = "HTTP/1.1 400 Bad Request\r\nServer: cairn\r\n"
				   "Content-Type: text/plain\r\nConnection: close\r\n"
				   "Content-Length: 48\r\n\r\n" TLS_ONLY_BODY;
_Static_assert(sizeof(TLS_ONLY_BODY) - 1 == 48, "Content-Length of the TLS-only answer");

/* Plain HTTP on the TLS port (nginx answers such clients with its 497
 * page): say so in plain text, half-close, drain briefly, close. */
static void answer_plain_on_tls(struct http_conn *c)
{
	uv_buf_t b = uv_buf_init((char *)tls_only_msg, sizeof(tls_only_msg) - 1);
	uv_shutdown_t *s = malloc(sizeof(*s));

	log_info("http: plain HTTP from %s on the TLS port: answered 400 \"This port "
		 "speaks TLS\"",
		 c->peer[0] ? c->peer : "?");
	uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
	if (!s || uv_shutdown(s, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
		free(s);
		conn_close(c);
		return;
	}
	c->lingering = 1;
	arm_timer(c, TK_LINGER, LINGER_MS);
}

static void tls_in(struct http_conn *c, const char *buf, size_t len)
{
	if (!c->seen_data) {
		c->seen_data = 1;
		/* A TLS record starts 0x16 0x03; a request line with a letter. */
		if (!tls_looks_like_hello(buf, len) &&
		    ((buf[0] >= 'A' && buf[0] <= 'Z') || (buf[0] >= 'a' && buf[0] <= 'z'))) {
			answer_plain_on_tls(c);
			return;
		}
	}
	if (tls_conn_feed(c->tls, buf, len)) {
		conn_close(c);
		return;
	}
	tls_pump(c);
	if (!c->closing && c->reading && tls_conn_pending(c->tls) && c->rlen == HTTP_RBUF) {
		/* The parser is not taking more (paused, or a response is
		 * going out): stop reading until conn_start_reading. */
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = 0;
	}
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct http_conn *c = s->data;

	if (c->lingering) {
		if (nread < 0)
			conn_close(c);
		return;
	}
	if (nread == 0)
		return;
	if (nread < 0) {
		conn_eof(c, nread);
		return;
	}
	if (c->tls) {
		tls_in(c, buf->base, (size_t)nread);
		return;
	}
	if (!c->seen_data) {
		c->seen_data = 1;
		if (c->rlen == 0 && tls_looks_like_hello(c->rbuf, (size_t)nread)) {
			/* Would otherwise be parsed as a broken request line. */
			log_info("http: TLS handshake from %s on a plain-HTTP port (a client "
				 "using https:// here?); closing",
				 c->peer[0] ? c->peer : "?");
			conn_close(c);
			return;
		}
	}
	got_plain(c, (size_t)nread);
}

static void conn_start_reading(struct http_conn *c)
{
	if (c->closing)
		return;
	if (c->tls && !c->in_pump && tls_conn_pending(c->tls)) {
		/* Decrypted or fed bytes wait in the session: no read event
		 * will announce them. */
		tls_pump(c);
		if (c->closing || c->rlen == HTTP_RBUF)
			return;
	}
	if (c->reading)
		return;
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
		c->reading = 1;
}

/* ---- connection cap ---- */

/* A connection refused at the cap: no parser, no buffers, just the socket
 * until the canned answer is out and the client's bytes are drained. */
struct refused {
	uv_tcp_t tcp;
	uv_timer_t timer;
	struct http_server *srv;
	int open;
};

#define REFUSE_BODY                                                                                \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>"                 \
	"<Message>Please reduce your request rate.</Message></Error>"
static const char refuse_msg[] = "HTTP/1.1 503 Service Unavailable\r\nServer: cairn\r\n"
				 "Content-Type: application/xml\r\nConnection: "
				 "close\r\nContent-Length: 126\r\n\r\n" REFUSE_BODY;
_Static_assert(sizeof(REFUSE_BODY) - 1 == 126, "Content-Length of the refusal matches its body");

static void refused_closed(uv_handle_t *h)
{
	struct refused *x = h->data;

	if (--x->open == 0) {
		atomic_fetch_sub(&x->srv->n_refused, 1);
		free(x);
	}
}

static void refused_close(struct refused *x)
{
	if (!uv_is_closing((uv_handle_t *)&x->tcp)) {
		uv_close((uv_handle_t *)&x->timer, refused_closed);
		uv_close((uv_handle_t *)&x->tcp, refused_closed);
	}
}

static void refused_timeout(uv_timer_t *t)
{
	refused_close(t->data);
}

static void refused_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	static __thread char sink[4096]; /* discarded bytes */
	(void)h, (void)suggested;
	*buf = uv_buf_init(sink, sizeof(sink));
}

static void refused_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	(void)buf;
	if (nread < 0)
		refused_close(s->data);
}

/* Answers 503 SlowDown, half-closes, and drains the request for a moment so
 * the answer is not lost to a reset. Too many refusals at once: just close. */
static void refuse(struct http_worker *w, uv_stream_t *server)
{
	struct http_server *srv = w->srv;
	struct refused *x = NULL;
	uv_buf_t b = uv_buf_init((char *)refuse_msg, sizeof(refuse_msg) - 1);
	/* A TLS client could not read a plain answer: it is just closed. */
	int plain_answer = !(srv->opt.tls && server == (uv_stream_t *)&w->listener);

	if (plain_answer && atomic_fetch_add(&srv->n_refused, 1) < (int)srv->opt.max_connections)
		x = calloc(1, sizeof(*x));
	if (!x) {
		uv_tcp_t *t = malloc(sizeof(*t));
		if (plain_answer)
			atomic_fetch_sub(&srv->n_refused, 1);
		else
			cn_metrics_refused();
		if (t && uv_tcp_init(&w->loop, t) == 0) {
			if (uv_accept(server, (uv_stream_t *)t) == 0 && plain_answer)
				uv_try_write((uv_stream_t *)t, &b, 1);
			uv_close((uv_handle_t *)t, (uv_close_cb)free);
		} else {
			free(t);
		}
		return;
	}
	x->srv = srv;
	x->open = 2;
	uv_tcp_init(&w->loop, &x->tcp);
	uv_timer_init(&w->loop, &x->timer);
	x->tcp.data = x;
	x->timer.data = x;
	if (uv_accept(server, (uv_stream_t *)&x->tcp) != 0) {
		refused_close(x);
		return;
	}
	cn_metrics_refused();
	uv_try_write((uv_stream_t *)&x->tcp, &b, 1);
	uv_shutdown_t *sh = malloc(sizeof(*sh));
	if (!sh || uv_shutdown(sh, (uv_stream_t *)&x->tcp, on_shutdown) != 0)
		free(sh);
	uv_read_start((uv_stream_t *)&x->tcp, refused_alloc, refused_read);
	uv_timer_start(&x->timer, refused_timeout, 1000, 0);
}

/* At the cap: closes this worker's oldest connection with no request in
 * progress. Returns 1 if one was closed. */
static int evict_idle(struct http_worker *w)
{
	struct http_conn *c, *victim = NULL;

	for (c = w->conns; c; c = c->next) /* newest first: the last match is the oldest */
		if (!c->closing && (c->lingering || !c->req || c->state == ST_HEADERS))
			victim = c;
	if (!victim)
		return 0;
	log_debug("http: connection cap reached, closing an idle connection");
	cn_metrics_evicted();
	conn_close(victim);
	return 1;
}

static void on_connection(uv_stream_t *server, int status)
{
	struct http_worker *w = server->data;
	struct http_conn *c;
	unsigned cap = w->srv->opt.max_connections;
	int use_tls;

	if (status < 0)
		return;
	use_tls = w->srv->opt.tls && server == (uv_stream_t *)&w->listener;
	if (cap && atomic_load(&w->srv->n_conns) >= (int)cap && !evict_idle(w)) {
		refuse(w, server);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->rbuf = malloc(HTTP_RBUF);
	c->hbuf = malloc(w->srv->opt.max_header_bytes + 1);
	if (!c->rbuf || !c->hbuf || (use_tls && tls_conn_new(w->srv->opt.tls, &c->tls) != 0)) {
		free(c->rbuf);
		free(c->hbuf);
		free(c);
		return;
	}
	c->w = w;
	uv_tcp_init(&w->loop, &c->tcp);
	uv_timer_init(&w->loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	c->handles_open = 2;
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->n_conns++;
	atomic_fetch_add(&w->srv->n_conns, 1);
	cn_metrics_conn(1);
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
		conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	{
		struct sockaddr_storage ss;
		int sl = sizeof(ss);
		if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
			if (ss.ss_family == AF_INET)
				uv_ip4_name((struct sockaddr_in *)&ss, c->peer, sizeof(c->peer));
			else if (ss.ss_family == AF_INET6)
				uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer, sizeof(c->peer));
		}
	}
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	c->state = ST_IDLE;
	/* The handshake has the header deadline; idle starts after it. */
	if (c->tls)
		arm_timer(c, TK_HEADER, w->srv->opt.header_timeout_ms);
	else
		arm_timer(c, TK_IDLE, w->srv->opt.idle_timeout_ms);
	conn_start_reading(c);
}

/* ---- workers ---- */

static void worker_maybe_done(struct http_worker *w)
{
	if (!w->stopping || w->n_conns > 0 || w->worker_stopped)
		return;
	w->worker_stopped = 1;
	uv_close((uv_handle_t *)&w->grace_timer, NULL);
	uv_close((uv_handle_t *)&w->stop_async, NULL);
	if (w->srv->handler.on_worker_stop)
		w->srv->handler.on_worker_stop(w, &w->loop, w->srv->handler.arg);
}

static void on_grace(uv_timer_t *t)
{
	struct http_worker *w = t->data;
	struct http_conn *c, *n;

	for (c = w->conns; c; c = n) {
		n = c->next;
		conn_close(c);
	}
}

static void on_stop(uv_async_t *a)
{
	struct http_worker *w = a->data;
	struct http_conn *c, *n;

	if (w->stopping)
		return;
	w->stopping = 1;
	uv_close((uv_handle_t *)&w->listener, NULL);
	if (w->srv->plain_port)
		uv_close((uv_handle_t *)&w->plain_listener, NULL);
	for (c = w->conns; c; c = n) {
		n = c->next;
		if (!c->req)
			conn_close(c);
		else
			c->close_after = 1;
	}
	uv_timer_start(&w->grace_timer, on_grace, w->srv->opt.shutdown_grace_ms, 0);
	worker_maybe_done(w);
}

static void worker_main(void *arg)
{
	struct http_worker *w = arg;

	cn_thread_name_n("http", w->index);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	/* Drain close callbacks of anything left. */
	uv_run(&w->loop, UV_RUN_DEFAULT);
}

static int bind_reuseport(const char *host, int port, int *out_fd, int *out_port)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd, one = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -EINVAL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl)) {
		int e = -errno;
		close(fd);
		return e;
	}
	*out_fd = fd;
	*out_port = ntohs(sa.sin_port);
	return 0;
}

static int probe_port(const char *host, int port)
{
	struct sockaddr_in sa;
	int fd, one = 1, rc = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -EINVAL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* SO_REUSEADDR only skips TIME_WAIT leftovers, never a live listener. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		rc = -errno;
	close(fd);
	return rc;
}

int http_server_start(const struct http_options *opt, const struct http_handler *handler,
		      struct http_server **out)
{
	struct http_server *s;
	int rc = 0, n;

	s = calloc(1, sizeof(*s));
	if (!s)
		return CN_ENOMEM;
	s->opt = *opt;
	s->handler = *handler;
	n = opt->workers > 0 ? opt->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	if (n > 256)
		n = 256;
	s->workers = calloc((size_t)n, sizeof(*s->workers));
	if (!s->workers) {
		free(s);
		return CN_ENOMEM;
	}
	s->n_workers = n;
	s->port = opt->port;
	/* SO_REUSEPORT would let a second server join a port already in use
	 * and silently split its traffic: probe the port with a plain bind
	 * first, which fails if anyone holds it. */
	for (int i = 0; i < n; i++)
		s->workers[i].listen_fd = s->workers[i].plain_fd = -1;
	if (s->port != 0) {
		rc = probe_port(opt->host, s->port);
		if (rc)
			goto fail;
	}
	if (opt->plain_host && opt->plain_port != 0) {
		rc = probe_port(opt->plain_host, opt->plain_port);
		if (rc)
			goto fail;
	}
	/* Bind every socket before any thread runs, so a port conflict is a
	 * clean start-up error. */
	for (int i = 0; i < n; i++) {
		struct http_worker *w = &s->workers[i];
		w->srv = s;
		w->index = i;
		w->listen_fd = -1;
		rc = bind_reuseport(opt->host, s->port, &w->listen_fd, &s->port);
		if (rc)
			goto fail;
		if (opt->plain_host) {
			int pp = s->plain_port ? s->plain_port : opt->plain_port;
			rc = bind_reuseport(opt->plain_host, pp, &w->plain_fd, &s->plain_port);
			if (rc)
				goto fail;
		}
	}
	for (int i = 0; i < n; i++) {
		struct http_worker *w = &s->workers[i];
		uv_loop_init(&w->loop);
		uv_async_init(&w->loop, &w->stop_async, on_stop);
		w->stop_async.data = w;
		uv_timer_init(&w->loop, &w->grace_timer);
		w->grace_timer.data = w;
		uv_tcp_init(&w->loop, &w->listener);
		w->listener.data = w;
		rc = uv_tcp_open(&w->listener, w->listen_fd);
		if (rc == 0)
			rc = uv_listen((uv_stream_t *)&w->listener, 1024, on_connection);
		if (s->plain_port) {
			uv_tcp_init(&w->loop, &w->plain_listener);
			w->plain_listener.data = w;
			if (rc == 0)
				rc = uv_tcp_open(&w->plain_listener, w->plain_fd);
			if (rc == 0)
				rc = uv_listen((uv_stream_t *)&w->plain_listener, 1024,
					       on_connection);
			else
				close(w->plain_fd);
		}
		if (rc == 0 && handler->on_worker_start)
			rc = handler->on_worker_start(w, &w->loop, handler->arg);
		if (rc) {
			log_error("http: worker %d: %s", i, cn_strerror(rc));
			/* Loops already set up are torn down by stop. */
			s->n_workers = i + 1;
			w->started = 1;
			uv_thread_create(&w->thread, worker_main, w);
			http_server_stop(s);
			http_server_free(s);
			return rc;
		}
		w->started = 1;
		if (uv_thread_create(&w->thread, worker_main, w) != 0) {
			rc = CN_EINTERNAL;
			s->n_workers = i;
			http_server_stop(s);
			http_server_free(s);
			return rc;
		}
	}
	*out = s;
	return 0;
fail:
	for (int i = 0; i < n; i++) {
		if (s->workers[i].listen_fd >= 0)
			close(s->workers[i].listen_fd);
		if (s->workers[i].plain_fd >= 0)
			close(s->workers[i].plain_fd);
	}
	free(s->workers);
	free(s);
	return rc;
}

int http_server_port(const struct http_server *s)
{
	return s->port;
}

int http_server_plain_port(const struct http_server *s)
{
	return s->plain_port;
}

void http_server_stop(struct http_server *s)
{
	for (int i = 0; i < s->n_workers; i++)
		if (s->workers[i].started)
			uv_async_send(&s->workers[i].stop_async);
	for (int i = 0; i < s->n_workers; i++) {
		if (!s->workers[i].started)
			continue;
		uv_thread_join(&s->workers[i].thread);
		s->workers[i].started = 0;
	}
}

void http_server_free(struct http_server *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->n_workers; i++)
		uv_loop_close(&s->workers[i].loop);
	free(s->workers);
	free(s);
}

const char *http_request_peer(const struct http_request *req)
{
	return req->conn ? req->conn->peer : "";
}
