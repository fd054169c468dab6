/*
 * http/http.h — the HTTP/1.1 front end: worker threads with one libuv loop
 * each, all accepting on one port (SO_REUSEPORT), http-parser for framing,
 * keep-alive and pipelining, streaming bodies with backpressure, timeouts and
 * one access-log line per request.
 *
 * Layer: http. It knows nothing of S3: a struct http_handler receives each
 * request once its headers are complete and drives the response, and says
 * how framing errors found here are answered.
 *
 * Request lifecycle (all on the connection's loop thread):
 *
 *   headers complete --handler->on_request--> handler owns req
 *   body bytes       --req->on_body-->        (handler may http_request_pause)
 *   body complete    --req->on_body_end(req, 0)
 *   connection lost  --req->on_body_end(req, err) if the body was not done,
 *                      then req->on_abort(req) if set; writes then fail
 *   handler          --http_response_begin/_write/_end--> response
 *
 * The handler calls http_response_end() exactly once, even after an abort;
 * only then does the request's memory go away. Everything here runs on the
 * loop that owns the connection; nothing is thread-safe across loops except
 * http_server_stop().
 */
#ifndef CAIRN_HTTP_HTTP_H
#define CAIRN_HTTP_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <uv.h>

#include "core/pool.h"

struct http_conn;
struct http_request;
struct http_worker;
struct tls_server;

struct http_header {
	const char *name; /* NUL-terminated, as received */
	size_t name_len;
	const char *value; /* NUL-terminated, leading/trailing space trimmed */
	size_t value_len;
};

/* Called with body bytes (borrowed until return). Return 0, or an error to
 * stop reading (the handler then responds). */
typedef int (*http_body_cb)(struct http_request *req, const char *data, size_t len);
/* err == 0: the body ended as declared; else the connection broke first. */
typedef void (*http_body_end_cb)(struct http_request *req, int err);
typedef void (*http_abort_cb)(struct http_request *req);
/* A response write completed (err 0) or failed; the buffer is free again. */
typedef void (*http_write_cb)(struct http_request *req, int err, void *arg);

struct http_request {
	struct http_conn *conn;
	struct http_worker *worker;
	struct cn_pool pool;
	int method;		/* enum http_method from http-parser */
	const char *method_str; /* "GET", ... */
	char *url;		/* raw request target, NUL-terminated */
	char *path;		/* raw path (percent-encoded), NUL-terminated */
	size_t path_len;
	char *query; /* raw query string without '?', "" when none */
	size_t query_len;
	struct http_header *headers;
	int n_headers;
	uint64_t content_length; /* valid when has_content_length */
	int has_content_length;
	int chunked;	     /* Transfer-Encoding: chunked */
	int expect_continue; /* Expect: 100-continue */
	int keep_alive;	     /* the client allows keep-alive */
	int body_done;	     /* the whole body has been received */
	int aborted;	     /* the connection is gone */
	int response_started;
	int ended;
	int tls;		 /* arrived over TLS (the --tls-cert listener), not plain HTTP */
	const char *tls_version; /* "1.2", "1.3" (static) when tls; else NULL */

	/* Set by the handler in on_request. */
	http_body_cb on_body;
	http_body_end_cb on_body_end;
	http_abort_cb on_abort;
	void *data;	     /* handler state */
	const char *op;	     /* operation name for logs/metrics (static) */
	const char *log_url; /* the target as the access log shows it, when it
				must differ from url (secrets redacted); pool */
	/* More for the access log, set by the handler (pool or static memory;
	 * NULL: unknown). log_user is read when the request ends, so it may
	 * point at a buffer filled in later (by authentication). */
	const char *log_id;   /* request id */
	const char *log_user; /* access key id; "" anonymous */
	const char *log_bucket;
	const char *log_key; /* log_key_len bytes */
	size_t log_key_len;

	/* Accounting. */
	uint64_t start_us;
	uint64_t bytes_in;
	uint64_t bytes_out;
	int status;
	int paused;
	int held; /* paused by http_request_hold, not yet taken over */
	int n_pending_writes;
	char *hdr_pending; /* formatted headers not yet written (pool memory) */
	size_t hdr_pending_len;
	int corked;			 /* writes wait in corks (http_response_cork) */
	int cork_failed;		 /* uncorked with an error: no more output */
	struct cork *corks, **cork_tail; /* in order; each counts in n_pending_writes */
	uint64_t id;			 /* per-process request counter */
};

struct http_handler {
	/* Headers are complete. The handler now owns req (see above). */
	void (*on_request)(struct http_request *req, void *arg);
	/* A framing error the HTTP layer answers itself, then closes:
	 * CN_EBADREQ (malformed request line or headers), CN_EHDRTOOBIG,
	 * CN_EBADCHUNK (broken body framing). The handler says what the answer
	 * is: returns the status and sets *ctype and *body (len bytes, memory
	 * of req's pool or static). May be NULL: a bare 400. Loop thread. */
	int (*on_framing_error)(struct http_request *req, int err, const char **ctype,
				const char **body, size_t *len, void *arg);
	/* Per-worker set-up and tear-down, on the worker's loop thread. */
	int (*on_worker_start)(struct http_worker *w, uv_loop_t *loop, void *arg);
	void (*on_worker_stop)(struct http_worker *w, uv_loop_t *loop, void *arg);
	void *arg;
};

struct http_options {
	const char *host;
	int port;
	int workers;
	size_t max_header_bytes;    /* request line + headers (default 16 KiB) */
	unsigned header_timeout_ms; /* from first byte to end of headers */
	unsigned idle_timeout_ms;   /* keep-alive idle */
	unsigned body_timeout_ms;   /* no body bytes for this long */
	unsigned shutdown_grace_ms; /* in-flight deadline on stop */
	/* At most this many open client connections (0: no cap). At the cap a
	 * new connection makes room by closing the oldest one that has no
	 * request in progress (idle keep-alive, or headers still arriving);
	 * when every connection is serving a request, the newcomer gets
	 * 503 SlowDown and is closed. */
	unsigned max_connections;
	/* TLS on host:port when set (borrowed until http_server_free; see
	 * http/tls.h). Connections then get the handshake deadline of
	 * header_timeout_ms, and plain HTTP sent to that port is answered with
	 * a plain-text 400 saying so. */
	struct tls_server *tls;
	/* A second listener speaking plain HTTP on the same worker loops (NULL:
	 * none; port 0 picks a free one). Meant for use beside tls. */
	const char *plain_host;
	int plain_port;
};

void http_options_default(struct http_options *o);

struct http_server;

/* Binds (port 0 picks a free one) and starts the worker threads. Borrows opt
 * and handler until http_server_free. Main thread. */
int http_server_start(const struct http_options *opt, const struct http_handler *handler,
		      struct http_server **out);
/* The bound port (useful with port 0). */
int http_server_port(const struct http_server *s);
/* The plain-HTTP listener's bound port; 0 when there is none. */
int http_server_plain_port(const struct http_server *s);
/* Stops accepting, finishes in-flight requests up to the grace deadline,
 * then closes everything and joins the workers. Main thread. */
void http_server_stop(struct http_server *s);
void http_server_free(struct http_server *s);

/* Per-worker slot for the handler's state; set in on_worker_start. */
void *http_worker_data(struct http_worker *w);
void http_worker_set_data(struct http_worker *w, void *data);
int http_worker_index(struct http_worker *w);

/* Header lookup, case-insensitive; NULL when absent. Loop thread. */
const struct http_header *http_request_header(const struct http_request *req, const char *name);
/* Stop / restart delivering body bytes (backpressure). Loop thread. */
/* The client's address as text ("127.0.0.1", "::1"; "" when unknown).
 * Valid while the request lives. Loop thread. */
const char *http_request_peer(const struct http_request *req);
void http_request_pause(struct http_request *req);
void http_request_resume(struct http_request *req);
/* Hold the body while the request waits before its handler runs (a cluster
 * read barrier). http_request_run_held runs fn(arg) (which may answer and end
 * req), then resumes the body unless fn paused or resumed it itself (fn then
 * owns the pause state); req may be gone when it returns. Loop thread. */
void http_request_hold(struct http_request *req);
void http_request_run_held(struct http_request *req, void (*fn)(void *), void *arg);

/* Starts the response. headers are copied. content_length is always sent
 * (S3 responses know their length); for HEAD pass the object's length and
 * write no body. Returns 0 or an error (connection gone). */
int http_response_begin(struct http_request *req, int status, const struct http_header *hdrs,
			int n_hdrs, uint64_t content_length);
/* Queues body bytes. buf is borrowed until cb runs. If this returns an
 * error, cb is never called. */
int http_response_write(struct http_request *req, const void *buf, size_t len, http_write_cb cb,
			void *arg);
/* Same as write, for iov[0..n) (n <= HTTP_WRITEV_MAX) in one write: every
 * buffer is borrowed until cb runs. */
#define HTTP_WRITEV_MAX 16
int http_response_writev(struct http_request *req, const struct iovec *iov, int n, http_write_cb cb,
			 void *arg);
/* Same as write, but copies buf; no callback. */
int http_response_write_copy(struct http_request *req, const void *buf, size_t len);
/* Sends body bytes [off, off + len) of fd by sendfile(2), with the headers
 * still held back, for as long as the socket takes them now: never waits.
 * Returns the body bytes sent, which may be 0 or short (the socket is full,
 * the file ends, a TLS connection, writes already queued); the rest then
 * goes by http_response_write. Negative: the connection broke. fd's pages
 * must be in the page cache (data_shard_open_resident): sendfile on the
 * loop would wait on the disk for any that are not. fd stays the caller's. */
ssize_t http_response_sendfile(struct http_request *req, int fd, uint64_t off, size_t len);
/* Holds the response back: what the handler writes from now on (headers
 * included) waits, in order, and nothing of it reaches the socket until
 * http_response_uncork. With err 0 it all goes out as written; otherwise
 * none of it does: write callbacks get -EPIPE, the client gets a bare 503
 * if nothing of the response had left yet, and the connection closes. For
 * an answer computed before it may be given (a cluster read waiting for its
 * confirmation). The request stays alive while corked. Loop thread. */
void http_response_cork(struct http_request *req);
void http_response_uncork(struct http_request *req, int err);
/* Finishes the request: the handler gives req back. Exactly once. */
void http_response_end(struct http_request *req);
/* Asks for the connection to close after this response. */
void http_request_close_after(struct http_request *req);

/* Answers 101 Switching Protocols (with hdrs, copied) to a request whose
 * body is complete, stops reading the connection, and once the answer is written calls cb with a
 * duplicate of the socket's descriptor (the caller owns it; -1 if the write failed). Over TLS the
 * descriptor is the plain end of a relay that carries the session on (http/relay.h): the caller
 * uses it as it would the socket. The handler then ends the request as usual: the connection
 * closes its own descriptor without a shutdown, so the socket lives on in the duplicate.
 * Loop thread. */
typedef void (*http_upgrade_cb)(struct http_request *req, int fd, void *arg);
int http_request_upgrade(struct http_request *req, const struct http_header *hdrs, int n_hdrs,
			 http_upgrade_cb cb, void *arg);

#endif
