/*
 * fuzz_headers.c — libFuzzer target for the request-header decoders
 * (Content-MD5, x-amz-checksum-*, x-amz-trailer and aws-chunked lengths,
 * Range, If-* conditionals and their HTTP dates, x-amz-copy-source and its
 * -range / -if-* headers, metadata and tagging directives, x-amz-meta-*, the
 * content-* headers stored and echoed back, response-* overrides) driven
 * through the REAL request path: an in-process cairn server wired as
 * main.c's cmd_server wires it (4 drives, LMDB metadata, gc, one HTTP worker
 * on 127.0.0.1:0), and one SigV4-signed HTTP/1.1 request per input over a
 * keep-alive TCP connection.
 *
 * Server state, made once at start: bucket "src" (versioned; inputs only
 * read it) with small (inline, with attributes), blob (70000 bytes, a 2+2
 * EC blob of 4 KiB blocks), mp (two parts), ver (two versions), empty; and
 * bucket "fuz", the scratch space every write targets, with an open
 * multipart upload on fuz/mp (part 1 uploaded), made again when an input
 * completes or aborts it.
 *
 * Input:
 *   OFFSET SIZE MEANING
 *   0      1    bits 0-3 operation (ops[]); bits 4-5 scratch key fuz/w0..w3 of
 *               writes; bit 6 list templates read "src" instead of "fuz"
 *   1      1    bits 0-1 versionId (none, older id of src/ver, "null",
 *               newest id); bits 2-3 partNumber (see part_modes); bit 4 a
 *               bogus uploadId; bits 5-7 read target and default copy
 *               source (rkeys[])
 *   2      1    bit 0 presigned (Host-only signature) instead of the
 *               Authorization header; bits 1-2 body framing (FR_*); bit 3
 *               add a correct Content-MD5; bit 4 correct trailer checksum
 *               (else corrupted); bits 5-6 aws-chunked chunk size; bit 7
 *               body repeated 16 times
 *   3      ...  pairs: an index byte (dict[], modulo its size) and a value
 *               ending at '\n'; an index byte '\n' ends the pairs
 *   ...    ...  the body (at most MAX_BODY bytes)
 * Values: CR and LF are dropped from header values (they cannot reach a
 * decoder through HTTP); every other byte is kept. "\x01v", "\x01V",
 * "\x01u" and "\x01n" become the older / newest version id of src/ver, the
 * open upload id (random, so seeds cannot spell them) and LF. Entries
 * starting with '?' are query parameters, percent-encoded, so CR and LF do
 * reach the query decoders. Entries ending in '*' take "name=value", the
 * name mapped onto HTTP token characters.
 *
 * Invariants (abort): an answer within RECV_TIMEOUT_S with a well-formed
 * status line; no 5xx but 501 NotImplemented, 503 and 507; no control
 * character (TAB aside) in a response header line; exactly one
 * Content-Length, and exactly that many body bytes with nothing after them.
 * Sanitizers watch the server threads; UBSan reports are fatal here.
 * CAIRN_FUZZ_LOG=debug|info|warn turns the server's log and access log on.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "auth/sigv4.h"
#include "bg/gc.h"
#include "core/digest.h"
#include "core/err.h"
#include "core/log.h"
#include "data/data.h"
#include "http/http.h"
#include "meta/meta.h"
#include "s3/s3.h"

#define AKID "AKIDFUZZHEADERS00000"
#define SECRET "fuzz-headers-secret-0000000000000000000000"
#define REGION "us-east-1"
#define DIR_PREFIX "cairn-fz-headers."
#define N_DRIVES 4
#define MAX_BODY (64 * 1024)
#define MAX_FUZZ_HEADERS 40 /* plus ours stays under SigV4's 64 signed headers */
#define MAX_OWN_HEADERS 10
#define MAX_RESP_HEAD (64 * 1024)
#define RECV_TIMEOUT_S 5 /* a silent server for this long is a hang */
#define XSTR(x) STR(x)
#define STR(x) #x
#define SERVER_TIMEOUT_MS 2000
#define BLOB_SIZE 70000
#define PART_SIZE 2000

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__ubsan_default_options(void);

/* The fuzz build lets UBSan recover; here a report from a server thread
 * must stop the run so libFuzzer keeps the input (UBSAN_OPTIONS still
 * overrides). */
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

/* ---- growable buffer (always NUL-terminated once touched) ---- */

struct sbuf {
	char *p;
	size_t len, cap;
};

static void sb_reserve(struct sbuf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 256;
	char *p;

	if (b->p && b->len + more + 1 <= b->cap)
		return;
	while (cap < b->len + more + 1)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		abort();
	b->p = p;
	b->cap = cap;
	b->p[b->len] = 0;
}

static void sb_put(struct sbuf *b, const void *p, size_t len)
{
	sb_reserve(b, len);
	if (len)
		memcpy(b->p + b->len, p, len);
	b->len += len;
	b->p[b->len] = 0;
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	sb_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static void sb_free(struct sbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

/* Percent-encodes every byte but the SigV4 unreserved set. */
static void sb_pct(struct sbuf *b, const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (unreserved(c))
			sb_put(b, &p[i], 1);
		else
			sb_printf(b, "%%%02X", c);
	}
}

static int is_tchar(unsigned char c)
{
	return c && ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		     strchr("!#$%&'*+-.^_`|~", c));
}

/* ---- global state ---- */

static struct {
	char dir[128];
	struct data_store *data;
	struct meta_store *meta;
	struct s3_server *s3;
	struct gc *gc;
	struct http_server *http;
	struct http_handler handler;
	struct http_options hopt;
	struct s3_config cfg;
	const char *domains[1];
	char host[32]; /* "127.0.0.1:port" */
	int port;
	int fd;		  /* client connection, -1 when closed */
	uint64_t last_ms; /* end of its last exchange */
	char vid_old[META_ID_TEXT], vid_new[META_ID_TEXT];
	char upload[META_ID_TEXT]; /* the open upload on fuz/mp */
	struct sbuf prev;	   /* the previous request as sent, for reports */
	const struct sbuf *cur;	   /* the request being exchanged */
} g = {.fd = -1};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- data directory ---- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

static void rm_rf(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Directories of earlier runs that died without atexit (a crash or a
 * libFuzzer timeout) carry their pid; remove those whose process is gone. */
static void sweep_stale(void)
{
	DIR *d = opendir("/tmp");
	struct dirent *e;
	char path[300];

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		char *end;
		long pid;
		if (strncmp(e->d_name, DIR_PREFIX, strlen(DIR_PREFIX)) != 0)
			continue;
		pid = strtol(e->d_name + strlen(DIR_PREFIX), &end, 10);
		if (pid <= 0 || *end != '.' || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "/tmp/%s", e->d_name);
		rm_rf(path);
	}
	closedir(d);
}

/* ---- reports ---- */

static void dump(const char *title, const char *p, size_t len, size_t max)
{
	fprintf(stderr, "--- %s (%zu bytes) ---\n", title, len);
	for (size_t i = 0; i < len && i < max; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '\n')
			fputs("\\n\n", stderr);
		else if (c == '\r')
			fputs("\\r", stderr);
		else if (c < 0x20 || c >= 0x7f || c == '\\')
			fprintf(stderr, "\\x%02x", c);
		else
			fputc(c, stderr);
	}
	if (len > max)
		fprintf(stderr, "... (%zu more bytes)", len - max);
	fputs("\n", stderr);
}

struct resp {
	struct sbuf raw; /* everything read for this request */
	size_t head_len; /* the final head, CRLFCRLF included (1xx heads dropped) */
	int status;
	uint64_t content_length;
	int close; /* Connection: close */
};

/* An invariant failed: show the request and what came back, then abort so
 * libFuzzer saves the input. */
__attribute__((noreturn)) static void violation(const char *what, const struct sbuf *req,
						const struct resp *rs)
{
	fprintf(stderr, "\nfuzz_headers: INVARIANT VIOLATED: %s\n", what);
	if (req)
		dump("request", req->p, req->len, 16384);
	if (rs)
		dump("response", rs->raw.p, rs->raw.len, 8192);
	fflush(stderr);
	rm_rf(g.dir);
	abort();
}

/* ---- the client connection ---- */

static void conn_drop(void)
{
	if (g.fd >= 0)
		close(g.fd);
	g.fd = -1;
}

static void conn_open(void)
{
	struct sockaddr_in sa;
	struct timeval tv = {RECV_TIMEOUT_S, 0};
	int one = 1;

	g.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (g.fd < 0)
		abort();
	setsockopt(g.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(g.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(g.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)g.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(g.fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		perror("fuzz_headers: connect");
		violation("cannot connect to the server", g.cur, NULL);
	}
}

/* Makes sure a usable connection is open; returns 1 if it is a new one. A
 * connection idle for half the server's idle timeout is replaced rather
 * than raced. */
static int conn_ready(void)
{
	if (g.fd >= 0 && now_ms() - g.last_ms > SERVER_TIMEOUT_MS / 2)
		conn_drop();
	if (g.fd >= 0) {
		char c;
		ssize_t n = recv(g.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n > 0)
			violation("bytes after the previous response's Content-Length", &g.prev,
				  NULL);
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			conn_drop(); /* the server closed an idle connection */
	}
	if (g.fd >= 0)
		return 0;
	conn_open();
	return 1;
}

/* ---- response checks ---- */

static int ci_prefix(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);
	return len >= n && strncasecmp(line, name, n) == 0;
}

/* Parses and checks the head raw[0, head_len): status line, header lines,
 * Content-Length. 1xx heads need no Content-Length. */
static void check_head(struct resp *rs, const struct sbuf *req)
{
	const char *p = rs->raw.p, *end = p + rs->head_len - 2; /* at the last CRLF */
	int n_cl = 0;

	if (rs->head_len < 14 || memcmp(p, "HTTP/1.1 ", 9) != 0 || p[9] < '1' || p[9] > '5' ||
	    p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9' || p[12] != ' ')
		violation("malformed status line", req, rs);
	rs->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	rs->content_length = 0;
	rs->close = 0;
	for (int first = 1; p < end; first = 0) {
		const char *eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
		size_t len = (size_t)(eol - p);
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)p[i];
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				violation("control character in a response header line", req, rs);
		}
		if (!first) {
			size_t k = 0;
			while (k < len && is_tchar((unsigned char)p[k]))
				k++;
			if (k == 0 || k == len || p[k] != ':')
				violation("malformed response header line", req, rs);
			if (ci_prefix(p, len, "content-length:")) {
				const char *v = p + 15, *ve = p + len;
				uint64_t cl = 0;
				while (v < ve && *v == ' ')
					v++;
				if (v == ve)
					violation("empty Content-Length", req, rs);
				for (; v < ve; v++) {
					if (*v < '0' || *v > '9' || cl > UINT64_MAX / 10 - 1)
						violation("malformed Content-Length", req, rs);
					cl = cl * 10 + (uint64_t)(*v - '0');
				}
				rs->content_length = cl;
				n_cl++;
			} else if (ci_prefix(p, len, "connection:") &&
				   memmem(p, len, "close", 5) != NULL) {
				rs->close = 1;
			}
		}
		p = eol + 2;
	}
	if (rs->status >= 200 && n_cl != 1)
		violation("a response without exactly one Content-Length", req, rs);
}

/* Reads more into rs->raw; returns bytes read, 0 on EOF/reset. A silent
 * server is a hang. */
static size_t fill(struct resp *rs, const struct sbuf *req)
{
	ssize_t n;

	sb_reserve(&rs->raw, 65536);
	do
		n = recv(g.fd, rs->raw.p + rs->raw.len, rs->raw.cap - rs->raw.len - 1, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		violation("no answer within " XSTR(RECV_TIMEOUT_S) " s (server hang)", req, rs);
	if (n <= 0)
		return 0;
	rs->raw.len += (size_t)n;
	rs->raw.p[rs->raw.len] = 0;
	return (size_t)n;
}

/* One request/response on the open connection. Returns -1 when the
 * connection died before a single response byte (the caller retries once
 * on a new connection), else 0 with *rs checked. */
static int exchange(const struct sbuf *req, int is_head, struct resp *rs)
{
	size_t off = 0, want;

	/* Write all of it; an early answer may close the socket under a long
	 * body, which is fine: its answer is read below. */
	while (off < req->len) {
		ssize_t n = send(g.fd, req->p + off, req->len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			violation(
				"server stopped reading the request for " XSTR(RECV_TIMEOUT_S) " s",
				req, NULL);
		break;
	}
	for (;;) {
		char *e = rs->raw.len ? memmem(rs->raw.p, rs->raw.len, "\r\n\r\n", 4) : NULL;
		if (e) {
			rs->head_len = (size_t)(e - rs->raw.p) + 4;
			check_head(rs, req);
			if (rs->status >= 200)
				break;
			/* 100 Continue: drop it, the real answer follows. */
			memmove(rs->raw.p, rs->raw.p + rs->head_len, rs->raw.len - rs->head_len);
			rs->raw.len -= rs->head_len;
			continue;
		}
		if (rs->raw.len > MAX_RESP_HEAD)
			violation("response head over 64 KiB", req, rs);
		if (fill(rs, req) == 0) {
			if (rs->raw.len == 0)
				return -1;
			violation("connection closed inside a response head", req, rs);
		}
	}
	want = rs->head_len;
	if (!is_head && rs->status != 204 && rs->status != 304) {
		if (rs->content_length > MAX_RESP_HEAD + (uint64_t)16 * 1024 * 1024)
			violation("absurd Content-Length", req, rs);
		want += (size_t)rs->content_length;
	}
	while (rs->raw.len < want)
		if (fill(rs, req) == 0)
			violation("body shorter than Content-Length", req, rs);
	if (rs->raw.len > want)
		violation("bytes after Content-Length", req, rs);
	if (rs->close) {
		/* Nothing may follow before the server closes. */
		while (fill(rs, req) > 0)
			violation("bytes after Content-Length on a closing connection", req, rs);
		conn_drop();
	}
	return 0;
}

/* Sends req and checks the answer; the previous request is kept for the
 * "bytes after Content-Length" report of the next round. */
static void roundtrip(struct sbuf *req, int is_head, struct resp *rs)
{
	int fresh;

	g.cur = req;
	fresh = conn_ready();
	if (exchange(req, is_head, rs) != 0) {
		conn_drop();
		if (fresh)
			violation("connection closed without an answer", req, rs);
		conn_ready();
		if (exchange(req, is_head, rs) != 0)
			violation("connection closed without an answer", req, rs);
	}
	if (rs->status >= 500 && rs->status != 501 && rs->status != 503 && rs->status != 507)
		violation(rs->status == 500 ? "500 InternalError" : "unexpected 5xx status", req,
			  rs);
	g.last_ms = now_ms();
	sb_free(&g.prev);
	g.prev = *req;
	memset(req, 0, sizeof(*req));
	g.cur = NULL;
}

static void resp_free(struct resp *rs)
{
	sb_free(&rs->raw);
	memset(rs, 0, sizeof(*rs));
}

/* Copies response header `name` (trimmed) into out; 0 if present. */
static int resp_header(const struct resp *rs, const char *name, char *out, size_t cap)
{
	const char *p = rs->raw.p, *end = p + rs->head_len;
	size_t nl = strlen(name);

	while (p < end) {
		const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		if (!eol)
			break;
		if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (v < eol && *v == ' ')
				v++;
			size_t vl = (size_t)(eol - v);
			if (vl >= cap)
				return -1;
			memcpy(out, v, vl);
			out[vl] = 0;
			return 0;
		}
		p = eol + 2;
	}
	return -1;
}

/* ---- requests ---- */

enum { FR_UNSIGNED, FR_SIGNED_SHA, FR_CHUNKED_SIGNED, FR_CHUNKED_UNSIGNED };
static const size_t chunk_sizes[4] = {MAX_BODY, 1024, 100, 8192};

struct hdr {
	struct sbuf name, value;
};

struct req {
	const char *method;
	struct sbuf path;  /* "/bucket/key", as sent */
	struct sbuf query; /* percent-encoded, without '?' */
	struct hdr own[MAX_OWN_HEADERS];
	int n_own; /* ours, sent first (Host leads) */
	struct hdr fz[MAX_FUZZ_HEADERS];
	int n_fz;	  /* the input's, in its order */
	struct sbuf body; /* the payload before any framing */
	int presigned, framing, auto_md5, good_trailer;
	size_t chunk;
	struct sbuf wire; /* the request as sent */
};

static void req_init(struct req *q, const char *method, const char *path)
{
	memset(q, 0, sizeof(*q));
	q->method = method;
	sb_str(&q->path, path);
	sb_reserve(&q->query, 0);
	sb_reserve(&q->body, 0);
	q->chunk = MAX_BODY;
}

static void req_free(struct req *q)
{
	for (int i = 0; i < q->n_own; i++) {
		sb_free(&q->own[i].name);
		sb_free(&q->own[i].value);
	}
	for (int i = 0; i < q->n_fz; i++) {
		sb_free(&q->fz[i].name);
		sb_free(&q->fz[i].value);
	}
	sb_free(&q->path);
	sb_free(&q->query);
	sb_free(&q->body);
	sb_free(&q->wire);
}

static void own_add(struct req *q, const char *name, const char *value)
{
	struct hdr *h;

	if (q->n_own == MAX_OWN_HEADERS)
		abort();
	h = &q->own[q->n_own++];
	sb_str(&h->name, name);
	sb_str(&h->value, value);
}

/* The input's first header called name, or NULL. */
static const struct hdr *fz_find(const struct req *q, const char *name)
{
	for (int i = 0; i < q->n_fz; i++)
		if (strcasecmp(q->fz[i].name.p, name) == 0)
			return &q->fz[i];
	return NULL;
}

static void query_add(struct req *q, const char *name, const char *value)
{
	if (q->query.len)
		sb_put(&q->query, "&", 1);
	sb_str(&q->query, name);
	if (value) {
		sb_put(&q->query, "=", 1);
		sb_pct(&q->query, value, strlen(value));
	}
}

static void trimmed(const struct sbuf *v, const char **p, size_t *len)
{
	*p = v->p;
	*len = v->len;
	while (*len && (**p == ' ' || **p == '\t')) {
		(*p)++;
		(*len)--;
	}
	while (*len && ((*p)[*len - 1] == ' ' || (*p)[*len - 1] == '\t'))
		(*len)--;
}

/* The trailer line for x-amz-trailer `name`: its checksum over the payload
 * (corrupted unless good_trailer), or a dummy value for an unknown name. */
static void trailer_line(const struct req *q, const char *name, size_t nl, struct sbuf *out)
{
	enum cn_checksum_alg a = CN_CK_NONE;
	char b64[64] = "AAAAAA==";

	if (nl > 15 && strncasecmp(name, "x-amz-checksum-", 15) == 0)
		a = cn_checksum_alg_parse(name + 15, nl - 15);
	if (a != CN_CK_NONE) {
		struct cn_digest d;
		struct cn_digest_result r;
		uint8_t raw[CN_CHECKSUM_MAX];
		size_t rl;
		if (cn_digest_init(&d, cn_checksum_alg_digest(a)) != 0)
			abort();
		cn_digest_update(&d, q->body.p, q->body.len);
		cn_digest_final(&d, &r);
		cn_digest_release(&d);
		rl = cn_checksum_raw(a, &r, raw);
		if (!q->good_trailer)
			raw[0] ^= 1;
		cn_b64_encode(raw, rl, b64, sizeof(b64));
	}
	sb_put(out, name, nl);
	sb_put(out, ":", 1);
	sb_str(out, b64);
}

/* The aws-chunked body (auth/chunked.h): chunk signatures chained from
 * chain's seed in FR_CHUNKED_SIGNED, then the trailer. With chain NULL the
 * signatures are placeholders of the same length, to size Content-Length
 * before the request is signed. */
static void encode_chunked(const struct req *q, const struct sigv4_result *chain, struct sbuf *out)
{
	int sign = q->framing == FR_CHUNKED_SIGNED;
	const struct hdr *t = fz_find(q, "x-amz-trailer");
	char prev[65], sig[65];
	uint8_t h[32];
	size_t off = 0;

	memset(sig, '0', 64);
	sig[64] = 0;
	if (chain)
		memcpy(prev, chain->seed_signature, sizeof(prev));
	for (;;) {
		size_t n = q->body.len - off < q->chunk ? q->body.len - off : q->chunk;
		sb_printf(out, "%zx", n);
		if (sign) {
			if (chain) {
				cn_sha256(q->body.p + off, n, h);
				sigv4_chunk_sign(chain, prev, h, sig);
				memcpy(prev, sig, sizeof(prev));
			}
			sb_printf(out, ";chunk-signature=%s", sig);
		}
		sb_put(out, "\r\n", 2);
		if (n == 0)
			break;
		sb_put(out, q->body.p + off, n);
		sb_put(out, "\r\n", 2);
		off += n;
	}
	if (t) {
		struct sbuf line = {0};
		const char *name;
		size_t nl;
		trimmed(&t->value, &name, &nl);
		trailer_line(q, name, nl, &line);
		sb_put(out, line.p, line.len);
		sb_put(out, "\r\n", 2);
		if (sign) {
			if (chain) {
				sb_put(&line, "\n", 1);
				cn_sha256(line.p, line.len, h);
				sigv4_trailer_sign(chain, prev, h, sig);
			}
			sb_printf(out, "x-amz-trailer-signature:%s\r\n", sig);
		}
		sb_free(&line);
	}
	sb_put(out, "\r\n", 2);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "a;b;c": every header name, lower-case, sorted, once. */
static void signed_names(const struct sigv4_header *hs, size_t n, struct sbuf *out)
{
	char *names[MAX_OWN_HEADERS + MAX_FUZZ_HEADERS + 1];

	for (size_t i = 0; i < n; i++) {
		names[i] = strndup(hs[i].name, hs[i].name_len);
		if (!names[i])
			abort();
		for (char *c = names[i]; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
	}
	qsort(names, n, sizeof(names[0]), cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || strcmp(names[i], names[i - 1]) != 0) {
			if (out->len)
				sb_put(out, ";", 1);
			sb_str(out, names[i]);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
}

static void wire_header(struct sbuf *w, const char *name, size_t nl, const char *v, size_t vl)
{
	sb_put(w, name, nl);
	sb_put(w, ": ", 2);
	sb_put(w, v, vl);
	sb_put(w, "\r\n", 2);
}

/* Adds our headers, frames the body, signs (Authorization header or
 * presigned query) and writes q->wire. */
static void req_finish(struct req *q)
{
	struct sigv4_header hs[MAX_OWN_HEADERS + MAX_FUZZ_HEADERS + 1];
	struct sigv4_creds cr = {AKID, SECRET, REGION};
	struct sigv4_result chain;
	struct sigv4_request sr;
	struct sbuf payload_hash = {0}, body = {0}, names = {0}, query = {0}, auth = {0};
	const struct hdr *sha = fz_find(q, "x-amz-content-sha256");
	int chunked = !q->presigned &&
		      (q->framing == FR_CHUNKED_SIGNED || q->framing == FR_CHUNKED_UNSIGNED);
	char amz[17], clen[24];
	size_t n = 0;
	time_t now = time(NULL);

	sigv4_format_amz_date(now, amz);
	/* Host leads, as own[0] is added by every template. */
	if (q->auto_md5 && !fz_find(q, "content-md5")) {
		uint8_t md5[16];
		char b64[32];
		cn_md5(q->body.p, q->body.len, md5);
		cn_b64_encode(md5, 16, b64, sizeof(b64));
		own_add(q, "Content-MD5", b64);
	}
	if (!q->presigned) {
		own_add(q, "x-amz-date", amz);
		if (sha) {
			const char *v;
			size_t vl;
			trimmed(&sha->value, &v, &vl);
			sb_put(&payload_hash, v, vl);
		} else if (chunked) {
			sb_str(&payload_hash,
			       q->framing == FR_CHUNKED_UNSIGNED ? SIGV4_STREAMING_UNSIGNED_TRAILER
			       : fz_find(q, "x-amz-trailer")	 ? SIGV4_STREAMING_PAYLOAD_TRAILER
								 : SIGV4_STREAMING_PAYLOAD);
		} else if (q->framing == FR_SIGNED_SHA) {
			uint8_t h[32];
			char hex[65];
			cn_sha256(q->body.p, q->body.len, h);
			cn_hex(h, 32, hex);
			sb_str(&payload_hash, hex);
		} else {
			sb_str(&payload_hash, SIGV4_UNSIGNED_PAYLOAD);
		}
		if (!sha)
			own_add(q, "x-amz-content-sha256", payload_hash.p);
	}
	if (chunked) {
		char dl[24];
		snprintf(dl, sizeof(dl), "%zu", q->body.len);
		if (!fz_find(q, "content-encoding"))
			own_add(q, "Content-Encoding", "aws-chunked");
		if (!fz_find(q, "x-amz-decoded-content-length"))
			own_add(q, "x-amz-decoded-content-length", dl);
		encode_chunked(q, NULL, &body);
	} else {
		sb_put(&body, q->body.p, q->body.len);
	}
	snprintf(clen, sizeof(clen), "%zu", body.len);

	for (int i = 0; i < q->n_own; i++)
		hs[n++] = (struct sigv4_header){q->own[i].name.p, q->own[i].name.len,
						q->own[i].value.p, q->own[i].value.len};
	for (int i = 0; i < q->n_fz; i++)
		hs[n++] = (struct sigv4_header){q->fz[i].name.p, q->fz[i].name.len,
						q->fz[i].value.p, q->fz[i].value.len};
	hs[n++] = (struct sigv4_header){"Content-Length", 14, clen, strlen(clen)};
	memset(&sr, 0, sizeof(sr));
	sr.method = q->method;
	sr.path = q->path.p;
	sr.path_len = q->path.len;
	sr.query = q->query.p;
	sr.query_len = q->query.len;
	sr.headers = hs;
	sr.n_headers = n;
	sr.now = now;
	if (q->presigned) {
		sb_reserve(&query, q->query.len + 1024);
		if (sigv4_presign(&sr, &cr, amz, 300, query.p, query.cap) == 0)
			query.len = strlen(query.p);
		else
			sb_put(&query, q->query.p, q->query.len);
	} else {
		sb_put(&query, q->query.p, q->query.len);
		signed_names(hs, n, &names);
		sb_reserve(&auth, names.len + 512);
		if (sigv4_sign_header(&sr, &cr, amz, names.p, payload_hash.p, auth.p, auth.cap,
				      &chain) == 0) {
			auth.len = strlen(auth.p);
			if (q->framing == FR_CHUNKED_SIGNED && chunked) {
				size_t len = body.len;
				body.len = 0;
				encode_chunked(q, &chain, &body);
				if (body.len != len)
					abort(); /* the placeholders sized it wrong */
			}
		}
	}

	sb_printf(&q->wire, "%s %s%s%s HTTP/1.1\r\n", q->method, q->path.p, query.len ? "?" : "",
		  query.p);
	for (size_t i = 0; i < n; i++)
		wire_header(&q->wire, hs[i].name, hs[i].name_len, hs[i].value, hs[i].value_len);
	if (auth.len)
		wire_header(&q->wire, "Authorization", 13, auth.p, auth.len);
	sb_put(&q->wire, "\r\n", 2);
	sb_put(&q->wire, body.p, body.len);
	sb_free(&payload_hash);
	sb_free(&body);
	sb_free(&names);
	sb_free(&query);
	sb_free(&auth);
}

/* ---- set-up: the server state inputs work against ---- */

/* A request of the harness's own: signed, UNSIGNED-PAYLOAD, and it must
 * answer `want`. hdrs: n_hdrs name/value pairs. */
static void setup_call(const char *method, const char *path, const char *query,
		       const char *const (*hdrs)[2], int n_hdrs, const void *body, size_t len,
		       int want, struct resp *rs)
{
	struct req q;

	req_init(&q, method, path);
	own_add(&q, "Host", g.host);
	if (query)
		sb_str(&q.query, query);
	for (int i = 0; i < n_hdrs; i++)
		own_add(&q, hdrs[i][0], hdrs[i][1]);
	sb_put(&q.body, body, len);
	req_finish(&q);
	memset(rs, 0, sizeof(*rs));
	roundtrip(&q.wire, strcmp(method, "HEAD") == 0, rs);
	if (rs->status != want) {
		fprintf(stderr, "fuzz_headers: set-up %s %s?%s answered %d, not %d\n", method, path,
			query ? query : "", rs->status, want);
		dump("response", rs->raw.p, rs->raw.len, 4096);
		exit(1);
	}
	req_free(&q);
}

/* Text of the first <tag> in the response body. */
static void xml_text(const struct resp *rs, const char *tag, char *out, size_t cap)
{
	char open[64];
	const char *p, *e;

	snprintf(open, sizeof(open), "<%s>", tag);
	p = strstr(rs->raw.p + rs->head_len, open);
	e = p ? strstr(p, "</") : NULL;
	if (!p || !e || (size_t)(e - p) - strlen(open) >= cap) {
		fprintf(stderr, "fuzz_headers: set-up: no <%s> in the answer\n", tag);
		exit(1);
	}
	p += strlen(open);
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = 0;
}

static void want_header(const struct resp *rs, const char *name, char *out, size_t cap)
{
	if (resp_header(rs, name, out, cap) != 0) {
		fprintf(stderr, "fuzz_headers: set-up: no %s in the answer\n", name);
		exit(1);
	}
}

/* Opens the upload on fuz/mp that UploadPart/ListParts/Complete/Abort use,
 * with part 1 (PART_SIZE bytes of 'p') in it. */
static void make_upload(void)
{
	static char part[PART_SIZE];
	struct resp rs;
	char q[128];

	memset(part, 'p', sizeof(part));
	setup_call("POST", "/fuz/mp", "uploads", NULL, 0, NULL, 0, 200, &rs);
	xml_text(&rs, "UploadId", g.upload, sizeof(g.upload));
	resp_free(&rs);
	snprintf(q, sizeof(q), "partNumber=1&uploadId=%s", g.upload);
	setup_call("PUT", "/fuz/mp", q, NULL, 0, part, sizeof(part), 200, &rs);
	resp_free(&rs);
}

static void make_state(void)
{
	static const char versioning[] =
		"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>";
	static const char small[] = "cairn fuzz_headers: a small inline object\n";
	static const char *const small_hdrs[][2] = {
		{"Content-Type", "text/plain; charset=utf-8"},
		{"Cache-Control", "no-cache"},
		{"Content-Disposition", "inline"},
		{"x-amz-meta-color", "blue"},
		{"x-amz-sdk-checksum-algorithm", "CRC32"},
		{"x-amz-checksum-crc32", "n8lRSg=="}, /* CRC32 of small[] */
	};
	uint8_t *blob = malloc(BLOB_SIZE);
	struct resp rs;
	struct sbuf xml = {0};
	char id[META_ID_TEXT], q[128], etag[2][64];

	if (!blob)
		abort();
	for (size_t i = 0; i < BLOB_SIZE; i++)
		blob[i] = (uint8_t)(i * 131 + 7);
	setup_call("PUT", "/src", NULL, NULL, 0, NULL, 0, 200, &rs);
	resp_free(&rs);
	setup_call("PUT", "/src", "versioning", NULL, 0, versioning, strlen(versioning), 200, &rs);
	resp_free(&rs);
	setup_call("PUT", "/fuz", NULL, NULL, 0, NULL, 0, 200, &rs);
	resp_free(&rs);
	setup_call("PUT", "/src/small", NULL, small_hdrs,
		   (int)(sizeof(small_hdrs) / sizeof(small_hdrs[0])), small, strlen(small), 200,
		   &rs);
	resp_free(&rs);
	setup_call("PUT", "/src/blob", NULL, NULL, 0, blob, BLOB_SIZE, 200, &rs);
	resp_free(&rs);
	setup_call("PUT", "/src/empty", NULL, NULL, 0, NULL, 0, 200, &rs);
	resp_free(&rs);
	setup_call("PUT", "/src/ver", NULL, NULL, 0, "version one", 11, 200, &rs);
	want_header(&rs, "x-amz-version-id", g.vid_old, sizeof(g.vid_old));
	resp_free(&rs);
	setup_call("PUT", "/src/ver", NULL, NULL, 0, "version two, longer", 19, 200, &rs);
	want_header(&rs, "x-amz-version-id", g.vid_new, sizeof(g.vid_new));
	resp_free(&rs);

	/* src/mp: parts of 3000 and 1500 bytes (min_part_size is lowered). */
	setup_call("POST", "/src/mp", "uploads", NULL, 0, NULL, 0, 200, &rs);
	xml_text(&rs, "UploadId", id, sizeof(id));
	resp_free(&rs);
	for (int i = 0; i < 2; i++) {
		snprintf(q, sizeof(q), "partNumber=%d&uploadId=%s", i + 1, id);
		setup_call("PUT", "/src/mp", q, NULL, 0, blob + 3000 * i, i ? 1500 : 3000, 200,
			   &rs);
		want_header(&rs, "ETag", etag[i], sizeof(etag[i]));
		resp_free(&rs);
	}
	sb_printf(
		&xml,
		"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>%s</ETag></Part>"
		"<Part><PartNumber>2</PartNumber><ETag>%s</ETag></Part></CompleteMultipartUpload>",
		etag[0], etag[1]);
	snprintf(q, sizeof(q), "uploadId=%s", id);
	setup_call("POST", "/src/mp", q, NULL, 0, xml.p, xml.len, 200, &rs);
	resp_free(&rs);
	sb_free(&xml);

	setup_call("PUT", "/fuz/w0", NULL, NULL, 0, "scratch zero", 12, 200, &rs);
	resp_free(&rs);
	setup_call("PUT", "/fuz/w1", NULL, NULL, 0, blob, 3000, 200, &rs);
	resp_free(&rs);
	make_upload();
	free(blob);
}

/* ---- input decoding ---- */

enum { TG_WKEY, TG_RKEY, TG_UPLOAD, TG_LIST, TG_SCRATCH };
enum {
	O_VID = 1,	   /* versionId from byte 1 */
	O_READPART = 2,	   /* partNumber from read_parts */
	O_PART = 4,	   /* partNumber from part_modes */
	O_UPLOAD = 8,	   /* uploadId of fuz/mp */
	O_COPY = 16,	   /* a default x-amz-copy-source */
	O_ENDS_UPLOAD = 32 /* success closes fuz/mp's upload: open another */
};

static const struct op {
	const char *method;
	int target;
	const char *query; /* sub-resource, already encoded */
	unsigned flags;
} ops[16] = {
	{"PUT", TG_WKEY, NULL, 0},			       /* PutObject */
	{"GET", TG_RKEY, NULL, O_VID | O_READPART},	       /* GetObject */
	{"HEAD", TG_RKEY, NULL, O_VID | O_READPART},	       /* HeadObject */
	{"PUT", TG_WKEY, NULL, O_COPY},			       /* CopyObject */
	{"PUT", TG_UPLOAD, NULL, O_PART | O_UPLOAD | O_COPY},  /* UploadPartCopy */
	{"POST", TG_WKEY, "uploads", 0},		       /* CreateMultipartUpload */
	{"PUT", TG_UPLOAD, NULL, O_PART | O_UPLOAD},	       /* UploadPart */
	{"POST", TG_UPLOAD, NULL, O_UPLOAD | O_ENDS_UPLOAD},   /* CompleteMultipartUpload */
	{"POST", TG_SCRATCH, "delete", 0},		       /* DeleteObjects */
	{"DELETE", TG_WKEY, NULL, O_VID},		       /* DeleteObject */
	{"GET", TG_LIST, "list-type=2", 0},		       /* ListObjectsV2 */
	{"GET", TG_LIST, NULL, 0},			       /* ListObjects */
	{"GET", TG_LIST, "versions", 0},		       /* ListObjectVersions */
	{"GET", TG_UPLOAD, NULL, O_UPLOAD},		       /* ListParts */
	{"DELETE", TG_UPLOAD, NULL, O_UPLOAD | O_ENDS_UPLOAD}, /* AbortMultipartUpload */
	{"GET", TG_LIST, "uploads", 0},			       /* ListMultipartUploads */
};

static const char *const rkeys[8] = {"/src/small", "/src/blob", "/src/mp", "/src/ver",
				     "/src/empty", "/fuz/w0",	"/fuz/w1", "/src/missing"};
static const char *const part_modes[4] = {"2", "3", "10000", "10001"};
static const char *const read_parts[4] = {NULL, "1", "2", "0"};

/* Header names; '?' = query parameter, trailing '*' = "name=value". */
static const char *const dict[] = {
	"content-md5",
	"x-amz-checksum-crc32",
	"x-amz-checksum-crc32c",
	"x-amz-checksum-crc64nvme",
	"x-amz-checksum-sha1",
	"x-amz-checksum-sha256",
	"x-amz-sdk-checksum-algorithm",
	"x-amz-checksum-algorithm",
	"x-amz-trailer",
	"x-amz-decoded-content-length",
	"date", /* index 10 is '\n', the end of the pairs: least useful here */
	"range",
	"if-match",
	"if-none-match",
	"if-modified-since",
	"if-unmodified-since",
	"x-amz-copy-source",
	"x-amz-copy-source-range",
	"x-amz-copy-source-if-match",
	"x-amz-copy-source-if-none-match",
	"x-amz-copy-source-if-modified-since",
	"x-amz-copy-source-if-unmodified-since",
	"x-amz-metadata-directive",
	"x-amz-meta-*",
	"x-amz-tagging",
	"x-amz-tagging-directive",
	"content-type",
	"content-disposition",
	"content-encoding",
	"content-language",
	"cache-control",
	"expires",
	"x-amz-content-sha256",
	"x-amz-checksum-mode",
	"x-amz-checksum-type",
	"x-amz-checksum-*",
	"x-amz-*",
	"expect",
	"x-amz-acl",
	"x-amz-storage-class",
	"x-amz-server-side-encryption",
	"x-amz-object-lock-mode",
	"x-amz-website-redirect-location",
	"x-amz-grant-read",
	"?response-content-type",
	"?response-content-language",
	"?response-expires",
	"?response-cache-control",
	"?response-content-disposition",
	"?response-content-encoding",
	"?versionId",
	"?partNumber",
	"?uploadId",
	"?prefix",
	"?delimiter",
	"?max-keys",
	"?continuation-token",
	"?start-after",
	"?encoding-type",
	"?fetch-owner",
	"?marker",
	"?key-marker",
	"?version-id-marker",
	"?upload-id-marker",
	"?max-uploads",
	"?max-parts",
	"?part-number-marker",
	"?*",
};
#define N_DICT (sizeof(dict) / sizeof(dict[0]))

static const char *vid_mode(unsigned m)
{
	switch (m) {
	case 1: return g.vid_old;
	case 2: return "null";
	case 3: return g.vid_new;
	default: return NULL;
	}
}

/* Appends a value with the \x01 escapes expanded; CR and LF are dropped
 * unless keep_crlf (query values, which are percent-encoded). */
static void expand_value(struct sbuf *out, const uint8_t *p, size_t len, int keep_crlf)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] == 0x01 && i + 1 < len) {
			const char *sub = p[i + 1] == 'v'   ? g.vid_old
					  : p[i + 1] == 'V' ? g.vid_new
					  : p[i + 1] == 'u' ? g.upload
					  : p[i + 1] == 'n' ? "\n"
							    : NULL;
			if (sub) {
				if (keep_crlf || *sub != '\n')
					sb_str(out, sub);
				i++;
				continue;
			}
		}
		if (!keep_crlf && (p[i] == '\r' || p[i] == '\n'))
			continue;
		sb_put(out, &p[i], 1);
	}
}

/* A header name suffix: token characters kept, others mapped onto them. */
static void put_token(struct sbuf *out, const char *p, size_t len)
{
	static const char tok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "0123456789!#$%&'*+-.^_`|~";

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		sb_put(out, is_tchar(c) ? &p[i] : &tok[c % (sizeof(tok) - 1)], 1);
	}
}

static void add_entry(struct req *q, const char *entry, const uint8_t *v, size_t vl)
{
	size_t el = strlen(entry);
	int wild = entry[el - 1] == '*', is_query = entry[0] == '?';
	struct sbuf val = {0};
	const char *name, *rest, *eq;
	size_t nl, rl;

	expand_value(&val, v, vl, is_query);
	sb_reserve(&val, 0);
	name = rest = val.p;
	nl = 0;
	rl = val.len;
	eq = NULL;
	if (wild) {
		eq = memchr(val.p, '=', val.len);
		nl = eq ? (size_t)(eq - val.p) : val.len;
		rest = eq ? eq + 1 : val.p + val.len;
		rl = val.len - (size_t)(rest - val.p);
	}
	if (is_query) {
		if (q->query.len)
			sb_put(&q->query, "&", 1);
		if (wild) {
			sb_pct(&q->query, name, nl);
		} else {
			sb_put(&q->query, entry + 1, el - 1);
			eq = rest;
		}
		if (eq) {
			sb_put(&q->query, "=", 1);
			sb_pct(&q->query, rest, rl);
		}
	} else if (q->n_fz < MAX_FUZZ_HEADERS) {
		struct hdr *h = &q->fz[q->n_fz++];
		sb_put(&h->name, entry, el - (size_t)wild);
		if (wild)
			put_token(&h->name, name, nl);
		sb_put(&h->value, rest, rl);
	}
	sb_free(&val);
}

/* Builds the request an input describes; returns its ops[] index. */
static int decode(struct req *q, const uint8_t *d, size_t size)
{
	int opi = d[0] & 15;
	const struct op *op = &ops[opi];
	unsigned pmode = (d[1] >> 2) & 3, rk = d[1] >> 5;
	const char *vid = vid_mode(d[1] & 3);
	char path[32];
	size_t i = 3, body;

	switch (op->target) {
	case TG_WKEY: snprintf(path, sizeof(path), "/fuz/w%d", (d[0] >> 4) & 3); break;
	case TG_RKEY: snprintf(path, sizeof(path), "%s", rkeys[rk]); break;
	case TG_UPLOAD: snprintf(path, sizeof(path), "/fuz/mp"); break;
	case TG_LIST: snprintf(path, sizeof(path), "%s", (d[0] & 0x40) ? "/src" : "/fuz"); break;
	default: snprintf(path, sizeof(path), "/fuz"); break;
	}
	req_init(q, op->method, path);
	own_add(q, "Host", g.host);
	if (op->query)
		sb_str(&q->query, op->query);
	if (op->flags & O_PART)
		query_add(q, "partNumber", part_modes[pmode]);
	if (op->flags & O_UPLOAD)
		query_add(q, "uploadId",
			  (d[1] & 0x10) ? "0123456789abcdef0123456789abcdef" : g.upload);
	if ((op->flags & O_READPART) && read_parts[pmode])
		query_add(q, "partNumber", read_parts[pmode]);
	if ((op->flags & O_VID) && vid)
		query_add(q, "versionId", vid);
	q->presigned = d[2] & 1;
	q->framing = (d[2] >> 1) & 3;
	q->auto_md5 = (d[2] >> 3) & 1;
	q->good_trailer = (d[2] >> 4) & 1;
	q->chunk = chunk_sizes[(d[2] >> 5) & 3];

	while (i < size) {
		uint8_t idx = d[i++];
		size_t start = i;
		if (idx == '\n')
			break;
		while (i < size && d[i] != '\n')
			i++;
		add_entry(q, dict[idx % N_DICT], d + start, i - start);
		if (i < size)
			i++;
	}
	if ((op->flags & O_COPY) && !fz_find(q, "x-amz-copy-source")) {
		struct sbuf cs = {0};
		sb_str(&cs, rkeys[rk]);
		if (vid)
			sb_printf(&cs, "?versionId=%s", vid);
		own_add(q, "x-amz-copy-source", cs.p);
		sb_free(&cs);
	}
	body = size - i;
	for (int r = 0; r < ((d[2] & 0x80) ? 16 : 1) && q->body.len < MAX_BODY; r++)
		sb_put(&q->body, d + i,
		       body < MAX_BODY - q->body.len ? body : MAX_BODY - q->body.len);
	return opi;
}

/* ---- start and stop ---- */

static void teardown(void)
{
	conn_drop();
	if (g.s3)
		s3_server_set_ready(g.s3, 0);
	if (g.http) {
		http_server_stop(g.http);
		http_server_free(g.http);
	}
	gc_stop(g.gc);
	if (g.meta)
		meta_store_close(g.meta);
	s3_server_free(g.s3);
	data_store_close(g.data);
	sb_free(&g.prev);
	if (g.dir[0])
		rm_rf(g.dir);
}

static void must(int rc, const char *what)
{
	if (rc == 0)
		return;
	fprintf(stderr, "fuzz_headers: %s: %s\n", what, cn_strerror(rc));
	exit(1); /* atexit removes what was made */
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char drive[N_DRIVES][200], metadir[220];
	const char *drives[N_DRIVES];
	struct data_options dopt;
	struct gc_options gopt;
	const char *log_env;
	(void)argc, (void)argv;

	signal(SIGPIPE, SIG_IGN);
	cn_log_set_access(0);
	/* Quiet per input (the server warns on every 5xx, 501 included);
	 * CAIRN_FUZZ_LOG=debug|info|warn, with the access log, for triage. */
	log_env = getenv("CAIRN_FUZZ_LOG");
	cn_log_set_level(!log_env			 ? CN_LOG_ERROR
			 : strcmp(log_env, "debug") == 0 ? CN_LOG_DEBUG
			 : strcmp(log_env, "info") == 0	 ? CN_LOG_INFO
							 : CN_LOG_WARN);
	if (log_env)
		cn_log_set_access(1);
	setenv("UV_THREADPOOL_SIZE", "8", 0);
	sweep_stale();
	snprintf(g.dir, sizeof(g.dir), "/tmp/" DIR_PREFIX "%ld.XXXXXX", (long)getpid());
	if (!mkdtemp(g.dir)) {
		perror("fuzz_headers: mkdtemp");
		exit(1);
	}
	/* OpenSSL registers its own atexit cleanup on first use; used first
	 * here, it runs after teardown() has joined the server threads (else
	 * their per-thread OpenSSL state is orphaned and LSan reports it). */
	{
		uint8_t h[32];
		cn_hmac_sha256("k", 1, "m", 1, h);
	}
	atexit(teardown);
	for (int i = 0; i < N_DRIVES; i++) {
		snprintf(drive[i], sizeof(drive[i]), "%s/d%d", g.dir, i);
		must(mkdir(drive[i], 0700) ? -errno : 0, "mkdir");
		drives[i] = drive[i];
	}
	memset(&dopt, 0, sizeof(dopt));
	dopt.block_size = 4096; /* a 70000-byte blob spans many stripes */
	dopt.fsync = DATA_FSYNC_NEVER;
	must(data_store_open(drives, N_DRIVES, &dopt, &g.data), "data_store_open");
	snprintf(metadir, sizeof(metadir), "%s/.cairn", drive[0]);
	must(mkdir(metadir, 0700) ? -errno : 0, "mkdir .cairn");
	snprintf(metadir, sizeof(metadir), "%s/.cairn/meta", drive[0]);
	must(mkdir(metadir, 0700) ? -errno : 0, "mkdir .cairn/meta");
	must(meta_store_open(metadir, NULL, &g.meta), "meta_store_open");

	g.cfg.access_key = AKID;
	g.cfg.secret_key = SECRET;
	g.cfg.region = REGION;
	g.domains[0] = "localhost";
	g.cfg.domains = g.domains;
	g.cfg.n_domains = 1;
	g.cfg.inline_threshold = 1024; /* bodies over 1 KiB take the blob path */
	g.cfg.min_part_size = 1024;
	must(s3_server_new(&g.cfg, g.meta, g.data, &g.s3), "s3_server_new");
	memset(&gopt, 0, sizeof(gopt));
	gopt.interval_ms = 200; /* overwritten blobs go soon: the disk stays small */
	gopt.grace_ns = 100 * 1000000LL;
	must(gc_start(g.meta, g.data, &gopt, &g.gc), "gc_start");
	s3_server_set_bg(g.s3, g.gc, NULL);
	s3_server_handler(g.s3, &g.handler);
	http_options_default(&g.hopt);
	g.hopt.host = "127.0.0.1";
	g.hopt.port = 0;
	g.hopt.workers = 1;
	g.hopt.header_timeout_ms = SERVER_TIMEOUT_MS;
	g.hopt.idle_timeout_ms = SERVER_TIMEOUT_MS;
	g.hopt.body_timeout_ms = SERVER_TIMEOUT_MS;
	g.hopt.shutdown_grace_ms = 1000;
	g.hopt.max_connections = 64;
	must(http_server_start(&g.hopt, &g.handler, &g.http), "http_server_start");
	s3_server_set_ready(g.s3, 1);
	g.port = http_server_port(g.http);
	snprintf(g.host, sizeof(g.host), "127.0.0.1:%d", g.port);
	make_state();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct req q;
	struct resp rs;
	int opi;

	if (size < 3 || g.port == 0)
		return 0;
	opi = decode(&q, data, size);
	req_finish(&q);
	memset(&rs, 0, sizeof(rs));
	roundtrip(&q.wire, strcmp(q.method, "HEAD") == 0, &rs);
	if ((ops[opi].flags & O_ENDS_UPLOAD) && rs.status >= 200 && rs.status < 300)
		make_upload();
	resp_free(&rs);
	req_free(&q);
	return 0;
}
