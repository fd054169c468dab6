/*
 * bench/loadgen.c — S3 load generator (benchmarks only; not part of the server
 * and not run by `make test`).
 *
 * Drives an S3 endpoint (SigV4 signed by libcurl; https:// with --cacert for
 * cairn's TLS listener) or a plain HTTP server such
 * as nginx (--no-sign) with one of the workloads put/get/head/list/delete/
 * mixed, from --threads threads each running a libcurl multi handle with its
 * share of --concurrency keep-alive connections. `files` writes the same
 * objects as local files, so nginx can serve exactly what cairn serves.
 *
 * Object bodies are a deterministic pattern of (key, offset): 8-byte word i of
 * the object named K is splitmix64(fnv1a(K) + i * golden), little endian. GET
 * verifies every byte it receives against it, so a GET row proves the bytes
 * are right, not only that something came back.
 *
 * How a PUT sends its body follows the clients: a body of up to 1 MiB is
 * built in memory and sent without "Expect: 100-continue", its headers and a
 * body of up to 64 KiB in one write, as boto3's put_object(Body=bytes) does;
 * a larger one streams after the server's "100 Continue", as the aws CLI and
 * boto3 do for files. --expect streams every PUT that way (one more round trip
 * per PUT, the aws CLI's small-file path).
 *
 * --raw swaps libcurl for loadgen's own HTTP/1.1 client (below: one epoll
 * loop per thread, SigV4 computed with OpenSSL) for the rows of small
 * requests, where libcurl's CPU per request, on the cores the server shares,
 * would be measured along with the server's.
 *
 * Output: a human summary per run on stderr and one machine-readable line on
 * stdout: `RESULT op=get size=4096 conc=32 ops=... ops_s=... mib_s=...
 * p50_ms=... p90_ms=... p99_ms=... max_ms=... errors=... verify_fail=...`.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum op { OP_PUT, OP_GET, OP_HEAD, OP_LIST, OP_DELETE, OP_N };
static const char *op_names[OP_N] = {"put", "get", "head", "list", "delete"};

struct config {
	const char *endpoint; /* http://127.0.0.1:9000 */
	const char *bucket;
	const char *prefix;
	const char *access, *secret, *region;
	const char *dir; /* files: where to write */
	const char *label;
	const char *cacert; /* https: the CA bundle that verifies the server */
	int op;		    /* enum op, or -1 mixed, -2 files */
	int mix[OP_N];	    /* mixed: weights */
	uint64_t size;
	uint64_t keys;	 /* key space for get/head/mixed (default: count or 1000) */
	uint64_t count;	 /* total ops (list: walks); 0 = until duration */
	double duration; /* seconds; 0 = until count */
	int conc, threads;
	int sign, verify, create_bucket;
	int expect;		 /* stream every PUT body after 100 Continue */
	int max_keys;		 /* list page size */
	int raw;		 /* the raw engine instead of libcurl */
	struct sockaddr_in addr; /* raw: where to connect */
	char host[64];		 /* raw: the Host header */
};

static struct config cfg;

/* Largest PUT body sent from memory: curl 7.88 adds "Expect: 100-continue"
 * to a body given as POSTFIELDS only above 1 MiB. */
#define PUT_INMEM_MAX (1u << 20)

/* Shared between threads: the next op number, stop flag, list walk count. */
static atomic_uint_fast64_t next_op;
static atomic_uint_fast64_t walks_done;
static atomic_int first_err_status;
static uint64_t t_start_us, t_deadline_us;

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- the body pattern ---- */

static uint64_t key_seed(const char *key)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *key; key++)
		h = (h ^ (uint8_t)*key) * 0x100000001b3ull;
	return h;
}

static uint64_t pattern_word(uint64_t seed, uint64_t i)
{
	uint64_t z = seed + (i + 1) * 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Fill buf with the pattern bytes [off, off+len) of the object with seed. */
static void pattern_fill(uint64_t seed, uint64_t off, uint8_t *buf, size_t len)
{
	/* Whole words: the client shares the server's cores, so its bytes
	 * should cost little (the compiler turns the shifts into one store). */
	if (!(off & 7))
		for (; len >= 8; buf += 8, off += 8, len -= 8) {
			uint64_t w = pattern_word(seed, off >> 3);
			for (int j = 0; j < 8; j++)
				buf[j] = (uint8_t)(w >> (8 * j));
		}
	while (len) {
		uint64_t w = pattern_word(seed, off >> 3);
		unsigned skip = off & 7;
		size_t n = 8 - skip;
		uint8_t b[8];

		if (n > len)
			n = len;
		for (int j = 0; j < 8; j++)
			b[j] = (uint8_t)(w >> (8 * j));
		memcpy(buf, b + skip, n);
		buf += n;
		off += n;
		len -= n;
	}
}

static int pattern_check(uint64_t seed, uint64_t off, const uint8_t *buf, size_t len)
{
	uint8_t tmp[16384];

	while (len) {
		size_t n = len < sizeof(tmp) ? len : sizeof(tmp);
		pattern_fill(seed, off, tmp, n);
		if (memcmp(tmp, buf, n) != 0)
			return -1;
		buf += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* ---- per-connection state ---- */

struct lat {
	uint32_t *us;
	size_t n, cap;
};

static void lat_add(struct lat *l, uint64_t us)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4096;
		uint32_t *p = realloc(l->us, cap * sizeof(*p));
		if (!p) {
			fprintf(stderr, "loadgen: out of memory\n");
			exit(1);
		}
		l->us = p;
		l->cap = cap;
	}
	l->us[l->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

struct stats {
	struct lat lat[OP_N];
	uint64_t ops[OP_N], bytes[OP_N], errors[OP_N], misses[OP_N], verify_fail[OP_N];
	uint64_t listed_keys;
	struct lat walk; /* list: whole-walk times */
};

struct conn {
	struct thread *th;
	CURL *easy;
	struct curl_slist *hdrs, *put_hdrs;
	uint8_t *put_body; /* in-memory PUT body (PUT_INMEM_MAX), or NULL */
	int op;
	char key[512];
	char url[4096];
	uint64_t seed, off, t0;
	int bad;    /* verify failed for the current op */
	char *body; /* list / error bodies */
	size_t body_len, body_cap;
	/* list walk */
	int walking;
	uint64_t walk_t0;
	char *token;
	struct raw_conn *raw; /* the raw engine's state, or NULL */
};

struct thread {
	pthread_t tid;
	CURLM *multi;
	int epfd; /* the raw engine's */
	struct conn *conns;
	int nconn;
	uint64_t rng;
	struct stats st;
};

static uint64_t rnd(struct thread *th)
{
	th->rng ^= th->rng << 13;
	th->rng ^= th->rng >> 7;
	th->rng ^= th->rng << 17;
	return th->rng;
}

static void key_name(uint64_t i, char *out, size_t cap)
{
	snprintf(out, cap, "%s%08" PRIu64, cfg.prefix, i);
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct conn *c = arg;
	size_t len = size * nmemb;

	if (len > cfg.size - c->off)
		len = cfg.size - c->off;
	pattern_fill(c->seed, c->off, (uint8_t *)buf, len);
	c->off += len;
	return len;
}

static void body_append(struct conn *c, const char *p, size_t len, size_t limit)
{
	if (c->body_len + len > limit)
		len = limit > c->body_len ? limit - c->body_len : 0;
	if (!len)
		return;
	if (c->body_len + len + 1 > c->body_cap) {
		size_t cap = (c->body_len + len + 1) * 2;
		char *n = realloc(c->body, cap);
		if (!n)
			return;
		c->body = n;
		c->body_cap = cap;
	}
	memcpy(c->body + c->body_len, p, len);
	c->body_len += len;
	c->body[c->body_len] = 0;
}

/* Response body bytes, from either engine: kept (list, errors) or checked
 * against the pattern (GET). */
static void body_bytes(struct conn *c, long status, const char *p, size_t len)
{
	if (c->op == OP_LIST) {
		body_append(c, p, len, 64u << 20);
	} else if (status / 100 != 2) {
		body_append(c, p, len, 1024);
	} else if (c->op == OP_GET && cfg.verify && !c->bad) {
		if (c->off + len > cfg.size || pattern_check(c->seed, c->off, (uint8_t *)p, len))
			c->bad = 1;
	}
	c->off += len;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct conn *c = arg;
	size_t len = size * nmemb;
	long status = 0;

	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	body_bytes(c, status, p, len);
	return len;
}

/* Take the next op number, or return -1 when the run is over. */
static int take_op(uint64_t *n)
{
	if (cfg.duration > 0 && now_us() >= t_deadline_us)
		return -1;
	*n = atomic_fetch_add(&next_op, 1);
	if (cfg.count && *n >= cfg.count)
		return -1;
	return 0;
}

static int pick_mixed(struct thread *th)
{
	int total = 0, r;

	for (int i = 0; i < OP_N; i++)
		total += cfg.mix[i];
	r = (int)(rnd(th) % (uint64_t)total);
	for (int i = 0; i < OP_N; i++) {
		if (r < cfg.mix[i])
			return i;
		r -= cfg.mix[i];
	}
	return OP_GET;
}

static void set_common(struct conn *c)
{
	CURL *e = c->easy;

	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, c->url);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(e, CURLOPT_PRIVATE, c);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->hdrs);
	if (cfg.cacert)
		curl_easy_setopt(e, CURLOPT_CAINFO, cfg.cacert);
	if (cfg.sign) {
		char userpwd[512], prov[128];
		snprintf(userpwd, sizeof(userpwd), "%s:%s", cfg.access, cfg.secret);
		snprintf(prov, sizeof(prov), "aws:amz:%s:s3", cfg.region);
		curl_easy_setopt(e, CURLOPT_AWS_SIGV4, prov);
		curl_easy_setopt(e, CURLOPT_USERPWD, userpwd);
	}
}

static void url_for_key(struct conn *c)
{
	snprintf(c->url, sizeof(c->url), "%s/%s/%s", cfg.endpoint, cfg.bucket, c->key);
}

/* A list page: the first of a walk, or the next one with the saved token.
 * Parameters in SigV4 canonical (sorted) order: curl 7.88 signs the query
 * string as written, it does not sort it. */
static void url_for_list(struct conn *c)
{
	char *tok = c->token ? curl_easy_escape(c->easy, c->token, 0) : NULL;
	char *pre = cfg.prefix[0] ? curl_easy_escape(c->easy, cfg.prefix, 0) : NULL;

	snprintf(c->url, sizeof(c->url), "%s/%s?%s%s%slist-type=2&max-keys=%d%s%s", cfg.endpoint,
		 cfg.bucket, tok ? "continuation-token=" : "", tok ? tok : "", tok ? "&" : "",
		 cfg.max_keys, pre ? "&prefix=" : "", pre ? pre : "");
	curl_free(tok);
	curl_free(pre);
}

/* Pick c's next op and key; returns -1 when there is nothing left to do. */
static int op_next(struct conn *c)
{
	struct thread *th = c->th;
	uint64_t n;

	if (!(c->op == OP_LIST && c->walking)) {
		if (take_op(&n))
			return -1;
		c->op = cfg.op >= 0 ? cfg.op : pick_mixed(th);
		if (c->op == OP_PUT && cfg.op == OP_PUT && (!cfg.keys || cfg.keys == cfg.count))
			key_name(cfg.keys ? n % cfg.keys : n, c->key, sizeof(c->key));
		else if (c->op == OP_DELETE && cfg.op == OP_DELETE)
			key_name(n, c->key, sizeof(c->key));
		else
			key_name(rnd(th) % cfg.keys, c->key, sizeof(c->key));
		if (c->op == OP_LIST) {
			c->walking = 1;
			c->walk_t0 = now_us();
			free(c->token);
			c->token = NULL;
		}
	}
	c->seed = key_seed(c->key);
	c->off = 0;
	c->bad = 0;
	c->body_len = 0;
	return 0;
}

/* Start c's next request; returns -1 when there is nothing left to do. */
static int conn_start(struct conn *c)
{
	struct thread *th = c->th;

	if (op_next(c))
		return -1;
	if (c->op == OP_LIST)
		url_for_list(c);
	else
		url_for_key(c);
	set_common(c);
	switch (c->op) {
	case OP_PUT:
		if (c->put_body) {
			/* curl adds no Expect to a body of up to 1 MiB given this way
			 * and sends up to 64 KiB of it with the headers. */
			pattern_fill(c->seed, 0, c->put_body, cfg.size);
			curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, "PUT");
			curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->put_hdrs);
			curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE,
					 (curl_off_t)cfg.size);
			curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->put_body);
			break;
		}
		curl_easy_setopt(c->easy, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c->easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)cfg.size);
		curl_easy_setopt(c->easy, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c->easy, CURLOPT_READDATA, c);
		break;
	case OP_HEAD: curl_easy_setopt(c->easy, CURLOPT_NOBODY, 1L); break;
	case OP_DELETE: curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, "DELETE"); break;
	default: break;
	}
	c->t0 = now_us();
	curl_multi_add_handle(th->multi, c->easy);
	return 0;
}

static void xml_unescape(char *s)
{
	static const struct {
		const char *ent;
		char ch;
	} ents[] = {
		{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
	char *w = s;

	while (*s) {
		int hit = 0;
		for (size_t i = 0; *s == '&' && i < sizeof(ents) / sizeof(ents[0]); i++) {
			size_t l = strlen(ents[i].ent);
			if (strncmp(s, ents[i].ent, l) == 0) {
				*w++ = ents[i].ch;
				s += l;
				hit = 1;
				break;
			}
		}
		if (!hit)
			*w++ = *s++;
	}
	*w = 0;
}

/* After a 200 list page: count keys, keep the token, say if the walk ended. */
static int list_page_done(struct conn *c)
{
	const char *p = c->body ? c->body : "";
	const char *tag = "<NextContinuationToken>";
	const char *t, *end;
	uint64_t keys = 0;

	for (const char *k = p; (k = strstr(k, "<Key>")); k += 5)
		keys++;
	c->th->st.listed_keys += keys;
	free(c->token);
	c->token = NULL;
	if (!strstr(p, "<IsTruncated>true</IsTruncated>"))
		return 1;
	t = strstr(p, tag);
	if (!t || !(end = strstr(t, "</NextContinuationToken>")))
		return -1;
	t += strlen(tag);
	c->token = strndup(t, (size_t)(end - t));
	if (!c->token)
		return -1;
	xml_unescape(c->token);
	return 0;
}

/* Count c's finished op: xerr is a transport error (no status), else the
 * response's status. */
static void op_done(struct conn *c, const char *xerr, long status)
{
	struct stats *st = &c->th->st;
	uint64_t t = now_us(), us = t - c->t0;
	int op = c->op, err = 0;

	if (xerr) {
		err = 1;
		fprintf(stderr, "loadgen: %s %s: %s\n", op_names[op], c->key, xerr);
	} else if (status == 404 && cfg.op < 0) {
		st->misses[op]++; /* mixed: a deleted key is not an error */
	} else if (status / 100 != 2) {
		int zero = 0;
		err = 1;
		if (atomic_compare_exchange_strong(&first_err_status, &zero, (int)status))
			fprintf(stderr, "loadgen: %s %s: HTTP %ld: %.400s\n", op_names[op], c->key,
				status, c->body ? c->body : "");
	} else if (op == OP_GET && cfg.verify && (c->bad || c->off != cfg.size)) {
		st->verify_fail[op]++;
		if (st->verify_fail[op] <= 3)
			fprintf(stderr,
				"loadgen: GET %s: body mismatch (%" PRIu64 " of %" PRIu64
				" bytes)\n",
				c->key, c->off, cfg.size);
	}
	if (err) {
		st->errors[op]++;
		c->walking = 0;
		return;
	}
	st->ops[op]++;
	lat_add(&st->lat[op], us);
	if (op == OP_GET || op == OP_PUT)
		st->bytes[op] += op == OP_GET ? c->off : cfg.size;
	if (op == OP_LIST && status / 100 == 2) {
		int r = list_page_done(c);
		if (r != 0) {
			if (r < 0) {
				st->errors[op]++;
				fprintf(stderr, "loadgen: list: truncated page without token\n");
			} else {
				lat_add(&st->walk, t - c->walk_t0);
				atomic_fetch_add(&walks_done, 1);
			}
			c->walking = 0;
		} else if (cfg.duration > 0 && t >= t_deadline_us) {
			c->walking = 0; /* cut short: not a full walk */
		}
	}
}

static void conn_done(struct conn *c, CURLcode res)
{
	long status = 0;

	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	op_done(c, res != CURLE_OK ? curl_easy_strerror(res) : NULL, status);
}

/* ---- the raw engine (--raw) ----
 *
 * The same requests as the libcurl engine, written by hand: HTTP/1.1
 * keep-alive over one socket per connection, one epoll per thread, SigV4
 * computed here with OpenSSL (signing key cached per day). It exists because
 * the client shares this machine's two cores with the server: libcurl spends
 * more CPU per 4 KiB request than the server does (bench/RESULTS.md), so a
 * row measured with it is partly a measure of the client. It speaks only
 * what the rows need: plain http to a loopback address, put/get/head/delete,
 * Content-Length bodies (a chunked or unframed response is an error). */

#define RAW_CHUNK (64u << 10)
#define RAW_RBUF (64u << 10)

struct raw_conn {
	int fd;
	int reused;	/* the socket has carried a request before */
	int retried;	/* this op was resent once on a fresh socket */
	char req[2048]; /* request head */
	size_t req_len, req_off;
	uint8_t *chunk; /* body bytes [body_gen - chunk_len, body_gen) */
	size_t chunk_len, chunk_off;
	uint64_t body_gen; /* body bytes generated so far */
	int sending;	   /* request not fully written */
	int want_out;	   /* EPOLLOUT registered */
	char rbuf[RAW_RBUF];
	size_t rlen; /* bytes in rbuf */
	int in_body; /* head parsed */
	long status;
	uint64_t clen, got; /* body length, body bytes seen */
	int close_after;    /* Connection: close, or a response before the body went */
};

/* SigV4's signing key for the day of amz_date (YYYYMMDD...), cached. */
static void raw_signing_key(const char *amz_date, uint8_t key[32])
{
	static __thread char day[9];
	static __thread uint8_t cached[32];
	char k0[256];
	unsigned int n = 32;

	if (memcmp(day, amz_date, 8) != 0) {
		uint8_t a[32], b[32];
		snprintf(k0, sizeof(k0), "AWS4%s", cfg.secret);
		HMAC(EVP_sha256(), k0, (int)strlen(k0), (const uint8_t *)amz_date, 8, a, &n);
		HMAC(EVP_sha256(), a, 32, (const uint8_t *)cfg.region, strlen(cfg.region), b, &n);
		HMAC(EVP_sha256(), b, 32, (const uint8_t *)"s3", 2, a, &n);
		HMAC(EVP_sha256(), a, 32, (const uint8_t *)"aws4_request", 12, cached, &n);
		memcpy(day, amz_date, 8);
	}
	memcpy(key, cached, 32);
}

static void hex32(const uint8_t in[32], char out[65])
{
	static const char d[] = "0123456789abcdef";

	for (int i = 0; i < 32; i++) {
		out[2 * i] = d[in[i] >> 4];
		out[2 * i + 1] = d[in[i] & 15];
	}
	out[64] = 0;
}

/* S3's URI encoding of a path: everything but unreserved bytes and '/'. */
static int raw_path(char *out, size_t cap, const char *bucket, const char *key)
{
	static const char d[] = "0123456789ABCDEF";
	size_t o = 0;
	const char *parts[2] = {bucket, key};

	for (int i = 0; i < 2; i++) {
		if (o + 1 >= cap)
			return -1;
		out[o++] = '/';
		for (const unsigned char *p = (const unsigned char *)parts[i]; *p; p++) {
			if (o + 4 >= cap)
				return -1;
			if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' ||
			    *p == '~' || (*p == '/' && i == 1)) {
				out[o++] = (char)*p;
			} else {
				out[o++] = '%';
				out[o++] = d[*p >> 4];
				out[o++] = d[*p & 15];
			}
		}
	}
	out[o] = 0;
	return 0;
}

/* Write c's request head into c->raw->req. */
static int raw_head(struct conn *c)
{
	static const char *methods[OP_N] = {"PUT", "GET", "HEAD", "GET", "DELETE"};
	struct raw_conn *r = c->raw;
	const char *m = methods[c->op];
	char path[1600], date[17], auth[512] = "", extra[96] = "";
	time_t now = time(NULL);
	struct tm tm;
	int n;

	if (raw_path(path, sizeof(path), cfg.bucket, c->key))
		return -1;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%Y%m%dT%H%M%SZ", &tm);
	if (cfg.sign) {
		char creq[2048], sts[256], hash[65], sig[65];
		uint8_t key[32], md[32];
		unsigned int mdn = 32;
		int cl = snprintf(creq, sizeof(creq),
				  "%s\n%s\n\nhost:%s\nx-amz-content-sha256:UNSIGNED-PAYLOAD\n"
				  "x-amz-date:%s\n\nhost;x-amz-content-sha256;x-amz-date\n"
				  "UNSIGNED-PAYLOAD",
				  m, path, cfg.host, date);
		if (cl < 0 || (size_t)cl >= sizeof(creq))
			return -1;
		SHA256((const uint8_t *)creq, (size_t)cl, md);
		hex32(md, hash);
		int sl = snprintf(sts, sizeof(sts),
				  "AWS4-HMAC-SHA256\n%s\n%.8s/%s/s3/aws4_request\n%s", date, date,
				  cfg.region, hash);
		raw_signing_key(date, key);
		HMAC(EVP_sha256(), key, 32, (const uint8_t *)sts, (size_t)sl, md, &mdn);
		hex32(md, sig);
		snprintf(auth, sizeof(auth),
			 "Authorization: AWS4-HMAC-SHA256 Credential=%s/%.8s/%s/s3/aws4_request, "
			 "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=%s\r\n",
			 cfg.access, date, cfg.region, sig);
	}
	if (c->op == OP_PUT)
		snprintf(extra, sizeof(extra),
			 "Content-Type: application/octet-stream\r\nContent-Length: %" PRIu64
			 "\r\n",
			 cfg.size);
	n = snprintf(r->req, sizeof(r->req),
		     "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: loadgen-raw\r\nAccept: */*\r\n"
		     "x-amz-content-sha256: UNSIGNED-PAYLOAD\r\nx-amz-date: %s\r\n%s%s\r\n",
		     m, path, cfg.host, date, auth, extra);
	if (n < 0 || (size_t)n >= sizeof(r->req))
		return -1;
	r->req_len = (size_t)n;
	return 0;
}

static void raw_close(struct conn *c)
{
	struct raw_conn *r = c->raw;

	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	r->want_out = 0;
}

static int raw_connect(struct conn *c)
{
	struct raw_conn *r = c->raw;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
	int one = 1;

	r->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (r->fd < 0)
		return -1;
	/* Loopback: a blocking connect returns at once. */
	if (connect(r->fd, (struct sockaddr *)&cfg.addr, sizeof(cfg.addr)) ||
	    setsockopt(r->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ||
	    fcntl(r->fd, F_SETFL, O_NONBLOCK) ||
	    epoll_ctl(c->th->epfd, EPOLL_CTL_ADD, r->fd, &ev)) {
		raw_close(c);
		return -1;
	}
	r->reused = 0;
	return 0;
}

static void raw_want_out(struct conn *c, int on)
{
	struct raw_conn *r = c->raw;
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};

	if (r->want_out != on && epoll_ctl(c->th->epfd, EPOLL_CTL_MOD, r->fd, &ev) == 0)
		r->want_out = on;
}

/* Write what the socket takes of the request; 0 when all of it or blocked,
 * -1 on a socket error. */
static int raw_send(struct conn *c)
{
	struct raw_conn *r = c->raw;
	uint64_t body = c->op == OP_PUT ? cfg.size : 0;

	while (r->sending) {
		struct iovec iov[2];
		int cnt = 0;
		ssize_t n;

		if (r->chunk_off == r->chunk_len && r->body_gen < body) {
			size_t len =
				body - r->body_gen < RAW_CHUNK ? body - r->body_gen : RAW_CHUNK;
			pattern_fill(c->seed, r->body_gen, r->chunk, len);
			r->body_gen += len;
			r->chunk_len = len;
			r->chunk_off = 0;
		}
		if (r->req_off < r->req_len)
			iov[cnt++] = (struct iovec){r->req + r->req_off, r->req_len - r->req_off};
		if (r->chunk_off < r->chunk_len)
			iov[cnt++] = (struct iovec){r->chunk + r->chunk_off,
						    r->chunk_len - r->chunk_off};
		if (!cnt) {
			r->sending = 0;
			break;
		}
		n = writev(r->fd, iov, cnt);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				raw_want_out(c, 1);
				return 0;
			}
			if (errno == EINTR)
				continue;
			return -1;
		}
		size_t h =
			r->req_len - r->req_off < (size_t)n ? r->req_len - r->req_off : (size_t)n;
		r->req_off += h;
		r->chunk_off += (size_t)n - h;
	}
	raw_want_out(c, 0);
	return 0;
}

/* Send c's current op (a fresh socket if it has none). */
static int raw_issue(struct conn *c)
{
	struct raw_conn *r = c->raw;

	if (r->fd < 0 && raw_connect(c))
		return -1;
	r->req_off = 0;
	r->chunk_len = r->chunk_off = 0;
	r->body_gen = 0;
	r->sending = 1;
	r->rlen = 0;
	r->in_body = 0;
	r->status = 0;
	r->clen = r->got = 0;
	r->close_after = 0;
	c->off = 0;
	c->bad = 0;
	c->body_len = 0;
	return raw_send(c);
}

/* Start c's next op; -1 when there is nothing left to do. */
static int raw_start(struct conn *c)
{
	for (;;) {
		if (op_next(c))
			return -1;
		c->raw->retried = 0;
		c->t0 = now_us();
		if (raw_head(c) == 0 && raw_issue(c) == 0)
			return 0;
		op_done(c, "cannot send the request", 0);
		raw_close(c);
	}
}

/* Case-insensitive header lookup in a parsed head; returns its value. */
static const char *raw_header(const char *head, const char *name)
{
	size_t nl = strlen(name);

	for (const char *p = strstr(head, "\r\n"); p && p[2] != '\r'; p = strstr(p + 2, "\r\n"))
		if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':') {
			const char *v = p + 3 + nl;
			while (*v == ' ' || *v == '\t')
				v++;
			return v;
		}
	return NULL;
}

/* Parse the head at the start of rbuf (NUL-terminated by the caller); the
 * length of the head, 0 when incomplete, -1 when malformed. */
static long raw_parse_head(struct conn *c)
{
	struct raw_conn *r = c->raw;
	char *end = strstr(r->rbuf, "\r\n\r\n"), *e;
	const char *v;

	if (!end)
		return r->rlen >= RAW_RBUF - 1 ? -1 : 0;
	end[2] = 0; /* the head ends with its last header's CRLF */
	if (strncmp(r->rbuf, "HTTP/1.1 ", 9) != 0)
		return -1;
	r->status = strtol(r->rbuf + 9, &e, 10);
	if (e != r->rbuf + 12)
		return -1;
	if ((v = raw_header(r->rbuf, "Transfer-Encoding")) && strncasecmp(v, "identity", 8) != 0)
		return -1;
	if ((v = raw_header(r->rbuf, "Connection")) && strncasecmp(v, "close", 5) == 0)
		r->close_after = 1;
	v = raw_header(r->rbuf, "Content-Length");
	if (c->op == OP_HEAD || r->status == 204 || r->status == 304 || r->status / 100 == 1)
		r->clen = 0;
	else if (v)
		r->clen = strtoull(v, NULL, 10);
	else
		return -1; /* unframed: the rows never see one */
	return end + 4 - r->rbuf;
}

/* Bytes arrived on c's socket: consume them; 1 when the response is
 * complete, 0 when more is needed, -1 on a protocol error. */
static int raw_consume(struct conn *c)
{
	struct raw_conn *r = c->raw;

	if (!r->in_body) {
		long h;

		r->rbuf[r->rlen] = 0;
		h = raw_parse_head(c);
		if (h <= 0)
			return (int)h;
		if (r->status == 100) { /* not asked for; skip it */
			memmove(r->rbuf, r->rbuf + h, r->rlen - (size_t)h);
			r->rlen -= (size_t)h;
			return r->rlen ? raw_consume(c) : 0;
		}
		r->in_body = 1;
		memmove(r->rbuf, r->rbuf + h, r->rlen - (size_t)h);
		r->rlen -= (size_t)h;
	}
	size_t take = r->clen - r->got < r->rlen ? (size_t)(r->clen - r->got) : r->rlen;
	if (take)
		body_bytes(c, r->status, r->rbuf, take);
	r->got += take;
	if (take < r->rlen)
		return -1; /* bytes after the response: nothing was pipelined */
	r->rlen = 0;
	return r->got == r->clen;
}

static void raw_event(struct conn *c, uint32_t events)
{
	struct raw_conn *r = c->raw;
	const char *err = NULL;
	int done = 0;

	if ((events & EPOLLOUT) && r->sending && raw_send(c))
		err = "write failed";
	while (!err && !done && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
		ssize_t n = read(r->fd, r->rbuf + r->rlen, RAW_RBUF - 1 - r->rlen);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* A kept-alive socket the server closed before answering:
			 * resend once on a fresh one, as curl does. */
			if (n == 0 && r->reused && !r->in_body && !r->rlen && !r->retried) {
				r->retried = 1;
				raw_close(c);
				if (raw_issue(c) == 0)
					return;
			}
			err = n == 0 ? "connection closed" : "read failed";
			break;
		}
		r->rlen += (size_t)n;
		int rc = raw_consume(c);
		if (rc < 0)
			err = "bad response";
		done = rc > 0;
	}
	if (!err && !done)
		return;
	if (err) {
		op_done(c, err, 0);
		raw_close(c);
	} else {
		op_done(c, NULL, r->status);
		if (r->close_after || r->sending)
			raw_close(c); /* answered before the body went: not reusable */
		else
			r->reused = 1;
	}
	if (raw_start(c) != 0) {
		raw_close(c);
		c->op = -1;
	}
}

static void *raw_thread_main(void *arg)
{
	struct thread *th = arg;
	struct epoll_event evs[64];
	int active = 0;

	for (int i = 0; i < th->nconn; i++)
		if (raw_start(&th->conns[i]) == 0)
			active++;
		else
			th->conns[i].op = -1;
	while (active) {
		int n = epoll_wait(th->epfd, evs, 64, 100);
		for (int i = 0; i < n; i++)
			raw_event(evs[i].data.ptr, evs[i].events);
		active = 0;
		for (int i = 0; i < th->nconn; i++)
			active += th->conns[i].op >= 0;
	}
	return NULL;
}

static void *thread_main(void *arg)
{
	struct thread *th = arg;
	int running = 0, active = 0;

	for (int i = 0; i < th->nconn; i++)
		if (conn_start(&th->conns[i]) == 0)
			active++;
	while (active) {
		CURLMsg *m;
		int left;

		curl_multi_perform(th->multi, &running);
		while ((m = curl_multi_info_read(th->multi, &left))) {
			struct conn *c;
			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
			curl_multi_remove_handle(th->multi, c->easy);
			conn_done(c, m->data.result);
			if (conn_start(c) != 0)
				active--;
		}
		if (active)
			curl_multi_poll(th->multi, NULL, 0, 100, NULL);
	}
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static double pct_ms(const struct lat *l, double p)
{
	size_t i;

	if (!l->n)
		return 0;
	i = (size_t)(p * (double)(l->n - 1) + 0.5);
	return l->us[i] / 1000.0;
}

static void merge(struct lat *dst, const struct lat *src)
{
	for (size_t i = 0; i < src->n; i++)
		lat_add(dst, src->us[i]);
}

static void report(const char *name, struct lat *l, uint64_t ops, uint64_t bytes, uint64_t errors,
		   uint64_t misses, uint64_t vfail, double secs)
{
	if (l->n) /* qsort takes no NULL array, even empty */
		qsort(l->us, l->n, sizeof(l->us[0]), cmp_u32);
	double ops_s = secs > 0 ? (double)ops / secs : 0;
	double mib_s = secs > 0 ? (double)bytes / secs / 1048576.0 : 0;
	fprintf(stderr,
		"%-8s %10" PRIu64 " ops %10.1f ops/s %9.2f MiB/s  p50 %8.3f  p90 %8.3f  p99 "
		"%8.3f  max %8.3f ms  errors %" PRIu64 " verify_fail %" PRIu64 "\n",
		name, ops, ops_s, mib_s, pct_ms(l, 0.5), pct_ms(l, 0.9), pct_ms(l, 0.99),
		pct_ms(l, 1.0), errors, vfail);
	printf("RESULT label=%s op=%s size=%" PRIu64 " conc=%d ops=%" PRIu64 " secs=%.3f "
	       "ops_s=%.1f mib_s=%.2f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f "
	       "errors=%" PRIu64 " misses=%" PRIu64 " verify_fail=%" PRIu64 " first_err=%d\n",
	       cfg.label, name, cfg.size, cfg.conc, ops, secs, ops_s, mib_s, pct_ms(l, 0.5),
	       pct_ms(l, 0.9), pct_ms(l, 0.99), pct_ms(l, 1.0), errors, misses, vfail,
	       atomic_load(&first_err_status));
}

static int mkdir_parents(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		int rc = mkdir(path, 0755);
		*p = '/';
		if (rc && errno != EEXIST)
			return -errno;
	}
	return 0;
}

/* `files`: write the objects as DIR/BUCKET/KEY for a static web server. */
static int write_files(void)
{
	static uint8_t buf[1 << 20];
	char path[4096], key[512];
	uint64_t n = cfg.count ? cfg.count : cfg.keys;

	for (uint64_t i = 0; i < n; i++) {
		uint64_t seed, off = 0;
		int fd;

		key_name(i, key, sizeof(key));
		seed = key_seed(key);
		snprintf(path, sizeof(path), "%s/%s/%s", cfg.dir, cfg.bucket, key);
		if (mkdir_parents(path))
			goto fail;
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			goto fail;
		while (off < cfg.size) {
			size_t len = cfg.size - off < sizeof(buf) ? cfg.size - off : sizeof(buf);
			pattern_fill(seed, off, buf, len);
			if (write(fd, buf, len) != (ssize_t)len) {
				close(fd);
				goto fail;
			}
			off += len;
		}
		if (close(fd))
			goto fail;
	}
	return 0;
fail:
	fprintf(stderr, "loadgen: %s: %s\n", path, strerror(errno));
	return 1;
}

static size_t on_write_discard(char *p, size_t size, size_t nmemb, void *arg)
{
	(void)p;
	(void)arg;
	return size * nmemb;
}

static int create_bucket(void)
{
	CURL *e = curl_easy_init();
	struct curl_slist *hdrs = curl_slist_append(NULL, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
	char url[2048], userpwd[512], prov[128];
	long status = 0;
	CURLcode res;

	snprintf(url, sizeof(url), "%s/%s", cfg.endpoint, cfg.bucket);
	snprintf(userpwd, sizeof(userpwd), "%s:%s", cfg.access, cfg.secret);
	snprintf(prov, sizeof(prov), "aws:amz:%s:s3", cfg.region);
	curl_easy_setopt(e, CURLOPT_URL, url);
	if (cfg.cacert)
		curl_easy_setopt(e, CURLOPT_CAINFO, cfg.cacert);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
	curl_easy_setopt(e, CURLOPT_AWS_SIGV4, prov);
	curl_easy_setopt(e, CURLOPT_USERPWD, userpwd);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write_discard);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	res = curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(e);
	curl_slist_free_all(hdrs);
	if (res != CURLE_OK || (status / 100 != 2 && status != 409)) {
		fprintf(stderr, "loadgen: create bucket %s: %s HTTP %ld\n", cfg.bucket,
			curl_easy_strerror(res), status);
		return -1;
	}
	return 0;
}

static uint64_t parse_size(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	uint64_t mul = 1;

	switch (*end) {
	case 'k':
	case 'K':
		mul = 1ull << 10;
		end++;
		break;
	case 'm':
	case 'M':
		mul = 1ull << 20;
		end++;
		break;
	case 'g':
	case 'G':
		mul = 1ull << 30;
		end++;
		break;
	default: break;
	}
	if (*end == 'i' || *end == 'B')
		end++;
	if (*end == 'B')
		end++;
	if (*end || v < 0) {
		fprintf(stderr, "loadgen: bad size '%s'\n", s);
		exit(2);
	}
	return (uint64_t)(v * (double)mul);
}

/* --mix put=20,get=70,head=5,delete=5 */
static int parse_mix(const char *s)
{
	char buf[256], *save = NULL, *tok;

	memset(cfg.mix, 0, sizeof(cfg.mix));
	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		int found = 0;
		if (!eq)
			return -1;
		*eq = 0;
		for (int i = 0; i < OP_N; i++)
			if (strcmp(tok, op_names[i]) == 0) {
				cfg.mix[i] = atoi(eq + 1);
				found = 1;
			}
		if (!found || cfg.mix[OP_LIST])
			return -1;
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: loadgen [options] put|get|head|list|delete|mixed|files\n"
		"  -e, --endpoint URL     http://127.0.0.1:9000 (loopback only; or https://)\n"
		"      --cacert FILE      CA bundle verifying an https:// endpoint\n"
		"  -b, --bucket NAME      bucket (default bench)\n"
		"  -p, --prefix P         key prefix (default obj-); keys are P%%08d\n"
		"  -s, --size N[KMG]      object size (default 4K)\n"
		"  -c, --concurrency N    connections in flight (default 8)\n"
		"  -t, --threads N        client threads (default 1)\n"
		"  -d, --duration SEC     run time (default 10 unless --count)\n"
		"  -n, --count N          number of ops (list: pages); put/delete use keys 0..N-1\n"
		"  -k, --keys N           key space for get/head/mixed and put wrap-around\n"
		"      --mix put=W,get=W,head=W,delete=W   weights for mixed (20,70,5,5)\n"
		"      --max-keys N       list page size (1000)\n"
		"      --no-sign          plain HTTP (nginx); default signs with SigV4\n"
		"      --no-verify        do not check GET bodies\n"
		"      --expect           stream every PUT body after 100 Continue (aws CLI);\n"
		"                         default: bodies up to 1 MiB sent from memory (boto3)\n"
		"      --create-bucket    PUT the bucket first (409 is fine)\n"
		"      --dir D            files: write D/BUCKET/KEY\n"
		"      --label L          tag for the RESULT line\n"
		"      --raw              hand-written HTTP/1.1 client instead of libcurl\n"
		"                         (http only; put/get/head/delete/mixed)\n"
		"  credentials: CAIRN_ROOT_USER/CAIRN_ROOT_PASSWORD or AWS_ACCESS_KEY_ID/"
		"AWS_SECRET_ACCESS_KEY\n");
	exit(2);
}

static const char *env2(const char *a, const char *b, const char *def)
{
	const char *v = getenv(a);

	if (!v || !*v)
		v = getenv(b);
	return v && *v ? v : def;
}

static void parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
		{"endpoint", 1, 0, 'e'},  {"bucket", 1, 0, 'b'},      {"prefix", 1, 0, 'p'},
		{"size", 1, 0, 's'},	  {"concurrency", 1, 0, 'c'}, {"threads", 1, 0, 't'},
		{"duration", 1, 0, 'd'},  {"count", 1, 0, 'n'},	      {"keys", 1, 0, 'k'},
		{"mix", 1, 0, 'M'},	  {"max-keys", 1, 0, 'K'},    {"no-sign", 0, 0, 'S'},
		{"no-verify", 0, 0, 'V'}, {"expect", 0, 0, 'X'},      {"create-bucket", 0, 0, 'C'},
		{"dir", 1, 0, 'D'},	  {"label", 1, 0, 'L'},	      {"cacert", 1, 0, 'A'},
		{"raw", 0, 0, 'R'},	  {"help", 0, 0, 'h'},	      {0, 0, 0, 0}};
	const char *w;
	int ch;

	cfg.endpoint = "http://127.0.0.1:9000";
	cfg.bucket = "bench";
	cfg.prefix = "obj-";
	cfg.region = env2("AWS_DEFAULT_REGION", "AWS_REGION", "us-east-1");
	cfg.access = env2("CAIRN_ROOT_USER", "AWS_ACCESS_KEY_ID", NULL);
	cfg.secret = env2("CAIRN_ROOT_PASSWORD", "AWS_SECRET_ACCESS_KEY", NULL);
	cfg.label = "-";
	cfg.size = 4096;
	cfg.conc = 8;
	cfg.threads = 1;
	cfg.sign = 1;
	cfg.verify = 1;
	cfg.max_keys = 1000;
	parse_mix("put=20,get=70,head=5,delete=5");
	while ((ch = getopt_long(argc, argv, "e:b:p:s:c:t:d:n:k:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'e': cfg.endpoint = optarg; break;
		case 'A': cfg.cacert = optarg; break;
		case 'b': cfg.bucket = optarg; break;
		case 'p': cfg.prefix = optarg; break;
		case 's': cfg.size = parse_size(optarg); break;
		case 'c': cfg.conc = atoi(optarg); break;
		case 't': cfg.threads = atoi(optarg); break;
		case 'd': cfg.duration = atof(optarg); break;
		case 'n': cfg.count = strtoull(optarg, NULL, 10); break;
		case 'k': cfg.keys = strtoull(optarg, NULL, 10); break;
		case 'M':
			if (parse_mix(optarg))
				usage();
			break;
		case 'K': cfg.max_keys = atoi(optarg); break;
		case 'S': cfg.sign = 0; break;
		case 'V': cfg.verify = 0; break;
		case 'X': cfg.expect = 1; break;
		case 'C': cfg.create_bucket = 1; break;
		case 'D': cfg.dir = optarg; break;
		case 'L': cfg.label = optarg; break;
		case 'R': cfg.raw = 1; break;
		default: usage();
		}
	}
	if (optind != argc - 1)
		usage();
	w = argv[optind];
	cfg.op = strcmp(w, "mixed") == 0 ? -1 : strcmp(w, "files") == 0 ? -2 : -3;
	for (int i = 0; i < OP_N; i++)
		if (strcmp(w, op_names[i]) == 0)
			cfg.op = i;
	if (cfg.op == -3 || cfg.conc < 1 || cfg.threads < 1 || cfg.max_keys < 1)
		usage();
	if (cfg.threads > cfg.conc)
		cfg.threads = cfg.conc;
	if (!cfg.count && cfg.duration <= 0)
		cfg.duration = 10;
	if (!cfg.keys)
		cfg.keys = cfg.count ? cfg.count : 1000;
	if (cfg.op == -2 && !cfg.dir)
		usage();
	if ((cfg.sign || cfg.create_bucket) && cfg.op != -2 && (!cfg.access || !cfg.secret)) {
		fprintf(stderr, "loadgen: no credentials (see --help)\n");
		exit(2);
	}
	/* The benchmark rules: traffic only to loopback. */
	const char *host = strncmp(cfg.endpoint, "https://", 8) == 0  ? cfg.endpoint + 8
			   : strncmp(cfg.endpoint, "http://", 7) == 0 ? cfg.endpoint + 7
								      : "";
	if (strncmp(host, "127.", 4) != 0 && strncmp(host, "localhost", 9) != 0 &&
	    strncmp(host, "[::1]", 5) != 0) {
		fprintf(stderr, "loadgen: endpoint must be a loopback address\n");
		exit(2);
	}
	if (cfg.raw && cfg.op != -2) {
		const char *port = strrchr(host, ':');
		char ip[32];
		size_t n = port ? (size_t)(port - host) : 0;

		if (host == cfg.endpoint + 8 || cfg.expect || cfg.op == OP_LIST ||
		    (cfg.op == -1 && cfg.mix[OP_LIST]) || !port || n >= sizeof(ip)) {
			fprintf(stderr, "loadgen: --raw takes http://127.x.x.x:PORT and put, get, "
					"head, delete or mixed, without --expect\n");
			exit(2);
		}
		memcpy(ip, host, n);
		ip[n] = 0;
		if (strcmp(ip, "localhost") == 0)
			snprintf(ip, sizeof(ip), "127.0.0.1");
		cfg.addr.sin_family = AF_INET;
		cfg.addr.sin_port = htons((uint16_t)atoi(port + 1));
		if (inet_pton(AF_INET, ip, &cfg.addr.sin_addr) != 1 || !cfg.addr.sin_port) {
			fprintf(stderr, "loadgen: --raw: bad endpoint %s\n", cfg.endpoint);
			exit(2);
		}
		snprintf(cfg.host, sizeof(cfg.host), "%s", host);
		cfg.host[strcspn(cfg.host, "/")] = 0;
	}
}

int main(int argc, char **argv)
{
	struct thread *ths;
	struct stats all;
	double secs;
	int rc = 0;

	parse_args(argc, argv);
	if (cfg.op == -2)
		return write_files();
	curl_global_init(CURL_GLOBAL_ALL);
	if (cfg.create_bucket && create_bucket())
		return 1;
	ths = calloc((size_t)cfg.threads, sizeof(*ths));
	if (!ths)
		return 1;
	for (int i = 0; i < cfg.threads; i++) {
		struct thread *th = &ths[i];
		th->nconn = cfg.conc / cfg.threads + (i < cfg.conc % cfg.threads);
		th->conns = calloc((size_t)th->nconn, sizeof(*th->conns));
		th->multi = curl_multi_init();
		th->rng = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1) ^ (uint64_t)getpid();
		th->epfd = cfg.raw ? epoll_create1(EPOLL_CLOEXEC) : -1;
		if (!th->conns || !th->multi || (cfg.raw && th->epfd < 0))
			return 1;
		curl_multi_setopt(th->multi, CURLMOPT_MAXCONNECTS, (long)th->nconn * 2);
		for (int j = 0; j < th->nconn; j++) {
			struct conn *c = &th->conns[j];
			c->th = th;
			if (cfg.raw) {
				c->raw = calloc(1, sizeof(*c->raw));
				if (!c->raw || !(c->raw->chunk = malloc(RAW_CHUNK)))
					return 1;
				c->raw->fd = -1;
			}
			c->easy = curl_easy_init();
			/* curl signs the payload as given here (the body streams). No
			 * "Expect:" override: curl 7.88 would sign the removed header. */
			c->hdrs = NULL;
			if (cfg.sign)
				c->hdrs = curl_slist_append(
					NULL, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
			else
				c->hdrs = curl_slist_append(NULL, "Accept: */*");
			if (!c->easy || !c->hdrs)
				return 1;
			if (!cfg.expect && cfg.size <= PUT_INMEM_MAX &&
			    (cfg.op == OP_PUT || (cfg.op == -1 && cfg.mix[OP_PUT]))) {
				/* curl sends application/x-www-form-urlencoded for a
				 * body given as POSTFIELDS unless told otherwise */
				c->put_hdrs = curl_slist_append(
					NULL, "Content-Type: application/octet-stream");
				if (c->put_hdrs && cfg.sign)
					c->put_hdrs = curl_slist_append(
						c->put_hdrs,
						"x-amz-content-sha256: UNSIGNED-PAYLOAD");
				c->put_body = malloc(cfg.size ? cfg.size : 1);
				if (!c->put_hdrs || !c->put_body)
					return 1;
			}
		}
	}
	t_start_us = now_us();
	t_deadline_us = t_start_us + (uint64_t)(cfg.duration * 1e6);
	for (int i = 0; i < cfg.threads; i++)
		if (pthread_create(&ths[i].tid, NULL, cfg.raw ? raw_thread_main : thread_main,
				   &ths[i]))
			return 1;
	for (int i = 0; i < cfg.threads; i++)
		pthread_join(ths[i].tid, NULL);
	secs = (double)(now_us() - t_start_us) / 1e6;

	memset(&all, 0, sizeof(all));
	for (int i = 0; i < cfg.threads; i++) {
		struct stats *st = &ths[i].st;
		for (int o = 0; o < OP_N; o++) {
			merge(&all.lat[o], &st->lat[o]);
			all.ops[o] += st->ops[o];
			all.bytes[o] += st->bytes[o];
			all.errors[o] += st->errors[o];
			all.misses[o] += st->misses[o];
			all.verify_fail[o] += st->verify_fail[o];
		}
		merge(&all.walk, &st->walk);
		all.listed_keys += st->listed_keys;
	}
	if (cfg.op >= 0) {
		int o = cfg.op;
		report(op_names[o], &all.lat[o], all.ops[o], all.bytes[o], all.errors[o],
		       all.misses[o], all.verify_fail[o], secs);
		if (all.errors[o] || all.verify_fail[o])
			rc = 1;
	} else {
		struct lat sum = {0};
		uint64_t ops = 0, bytes = 0, errors = 0, misses = 0, vf = 0;
		for (int o = 0; o < OP_N; o++) {
			if (!all.ops[o] && !all.errors[o])
				continue;
			merge(&sum, &all.lat[o]);
			ops += all.ops[o];
			bytes += all.bytes[o];
			errors += all.errors[o];
			misses += all.misses[o];
			vf += all.verify_fail[o];
			report(op_names[o], &all.lat[o], all.ops[o], all.bytes[o], all.errors[o],
			       all.misses[o], all.verify_fail[o], secs);
		}
		report("mixed", &sum, ops, bytes, errors, misses, vf, secs);
		if (errors || vf)
			rc = 1;
	}
	if (cfg.op == OP_LIST) {
		if (all.walk.n)
			qsort(all.walk.us, all.walk.n, sizeof(all.walk.us[0]), cmp_u32);
		fprintf(stderr,
			"list     %zu full walks, %" PRIu64 " keys listed, walk p50 %.1f ms\n",
			all.walk.n, all.listed_keys, pct_ms(&all.walk, 0.5));
		printf("RESULT label=%s op=listwalk walks=%zu keys_listed=%" PRIu64
		       " walk_p50_ms=%.1f walk_max_ms=%.1f\n",
		       cfg.label, all.walk.n, all.listed_keys, pct_ms(&all.walk, 0.5),
		       pct_ms(&all.walk, 1.0));
	}
	return rc;
}
