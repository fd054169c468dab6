/*
 * http/tls.c — OpenSSL glue for the HTTP front end (see tls.h).
 *
 * Every SSL object sits between two BIOs: the loop feeds what the socket
 * delivered into rbio (a memory BIO) and writes out whatever OpenSSL left
 * in wbio. wbio is our own sink BIO appending to one malloc'd buffer that
 * tls_conn_take_out_buf hands over whole: a response is encrypted straight
 * into the buffer the socket write uses (a memory BIO would cost a zeroed
 * growth, a copy out and a cleanse per write). OpenSSL never sees a
 * descriptor, so no call here can block a loop.
 *
 * The context pointer is the only state shared between threads: a mutex
 * guards it for the instant SSL_new takes its reference and for the swap in
 * reload. SSL_CTX is reference-counted, so the old context lives on exactly
 * as long as the last connection that started with it.
 */
#include "http/tls.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/err.h"

struct tls_server {
	pthread_mutex_t lock; /* guards ctx */
	SSL_CTX *ctx;
	char *cert_file, *key_file;
};

struct tls_client {
	pthread_mutex_t lock; /* guards ctx (as in tls_server) */
	SSL_CTX *ctx;
	char *ca_file;
};

struct tls_conn {
	SSL *ssl;
	BIO *rbio; /* ciphertext from the peer (owned by ssl) */
	BIO *wbio; /* ciphertext for the peer (owned by ssl): appends to out */
	char *out; /* ciphertext for the peer, malloc'd */
	size_t out_len, out_cap;
	int out_failed; /* an append did not fit in memory */
	char err[256];
};

/* ---- the sink BIO behind wbio ---- */

static int out_reserve(struct tls_conn *t, size_t more)
{
	size_t need = t->out_len + more, cap = t->out_cap;
	char *p;

	if (need <= t->out_cap)
		return 0;
	/* A fresh buffer gets what is asked (the writer reserves a whole
	 * piece); only appends to a live one grow it geometrically. */
	if (!cap)
		cap = (need + 4095) & ~(size_t)4095;
	while (cap < need)
		cap *= 2;
	p = realloc(t->out, cap);
	if (!p)
		return CN_ENOMEM;
	t->out = p;
	t->out_cap = cap;
	return 0;
}

static int sink_write(BIO *b, const char *buf, int len)
{
	struct tls_conn *t = BIO_get_data(b);

	if (len <= 0)
		return 0;
	if (out_reserve(t, (size_t)len)) {
		t->out_failed = 1;
		return -1;
	}
	memcpy(t->out + t->out_len, buf, (size_t)len);
	t->out_len += (size_t)len;
	return len;
}

static long sink_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b, (void)num, (void)ptr;
	/* Always flushed; nothing is pending inside the BIO itself. */
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static BIO_METHOD *sink_method;
static pthread_once_t sink_once = PTHREAD_ONCE_INIT;

static void sink_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "cairn-out");

	if (m && BIO_meth_set_write(m, sink_write) && BIO_meth_set_ctrl(m, sink_ctrl))
		sink_method = m;
}

/* TLS 1.2: ECDHE key exchange with AEAD ciphers only (no CBC, no RSA key
 * transport, no DHE). TLS 1.3 suites are all AEAD; the list fixes the order. */
#define TLS12_CIPHERS                                                                              \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                               \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                               \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS13_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

/* Drains OpenSSL's (per-thread) error queue into why: the first entry is
 * the root cause, e.g. "no start line" or "key values mismatch". */
static void take_error(const char *what, char *why, size_t cap)
{
	unsigned long e = ERR_get_error();
	char buf[128] = "";

	if (!why || !cap) {
		ERR_clear_error();
		return;
	}
	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(why, cap, "%s%s%s", what, e ? ": " : "", buf);
	ERR_clear_error();
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char ours[] = "\x08http/1.1";
	(void)ssl, (void)arg;

	/* A client offering only h2 goes on without ALPN and speaks 1.1. */
	if (SSL_select_next_proto((unsigned char **)out, outlen, ours, sizeof(ours) - 1, in,
				  inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	return SSL_TLSEXT_ERR_OK;
}

static int ctx_load(const char *cert, const char *key, char *why, size_t cap, SSL_CTX **out)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	int rc = CN_EINVAL;

	ERR_clear_error();
	if (!ctx) {
		take_error("cannot create a TLS context", why, cap);
		return CN_ENOMEM;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) ||
	    !SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES)) {
		take_error("TLS policy", why, cap);
		goto fail;
	}
	/* (OpenSSL 3 refuses client-initiated renegotiation unless
	 * SSL_OP_ALLOW_CLIENT_RENEGOTIATION; NO_RENEGOTIATION covers ours.) */
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
					 SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		char what[600];
		snprintf(what, sizeof(what), "certificate %s", cert);
		take_error(what, why, cap);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		char what[600];
		snprintf(what, sizeof(what), "private key %s", key);
		take_error(what, why, cap);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		take_error("the private key does not match the certificate", why, cap);
		goto fail;
	}
	*out = ctx;
	return 0;
fail:
	SSL_CTX_free(ctx);
	return rc;
}

int tls_server_new(const char *cert_file, const char *key_file, char *why, size_t why_cap,
		   struct tls_server **out)
{
	struct tls_server *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return CN_ENOMEM;
	s->cert_file = strdup(cert_file);
	s->key_file = strdup(key_file);
	if (!s->cert_file || !s->key_file) {
		rc = CN_ENOMEM;
		goto fail;
	}
	rc = ctx_load(cert_file, key_file, why, why_cap, &s->ctx);
	if (rc)
		goto fail;
	pthread_mutex_init(&s->lock, NULL);
	*out = s;
	return 0;
fail:
	free(s->cert_file);
	free(s->key_file);
	free(s);
	return rc;
}

int tls_server_reload(struct tls_server *s, char *why, size_t why_cap)
{
	SSL_CTX *ctx, *old;
	int rc = ctx_load(s->cert_file, s->key_file, why, why_cap, &ctx);

	if (rc)
		return rc;
	pthread_mutex_lock(&s->lock);
	old = s->ctx;
	s->ctx = ctx;
	pthread_mutex_unlock(&s->lock);
	SSL_CTX_free(old); /* connections that use it hold their own reference */
	return 0;
}

void tls_server_free(struct tls_server *s)
{
	if (!s)
		return;
	SSL_CTX_free(s->ctx);
	pthread_mutex_destroy(&s->lock);
	free(s->cert_file);
	free(s->key_file);
	free(s);
}

/* A session on *ctx (a reference of its own) between two BIOs. *ctx is
 * read under lock: a reload swaps it and frees the old one, so a pointer
 * read before the lock could be freed before SSL_new takes its reference. */
static int conn_make(SSL_CTX *const *ctx, pthread_mutex_t *lock, struct tls_conn **out)
{
	struct tls_conn *t = calloc(1, sizeof(*t));

	if (!t)
		return CN_ENOMEM;
	pthread_mutex_lock(lock);
	t->ssl = SSL_new(*ctx);
	pthread_mutex_unlock(lock);
	pthread_once(&sink_once, sink_init);
	t->rbio = BIO_new(BIO_s_mem());
	t->wbio = sink_method ? BIO_new(sink_method) : NULL;
	if (!t->ssl || !t->rbio || !t->wbio) {
		BIO_free(t->rbio);
		BIO_free(t->wbio);
		SSL_free(t->ssl);
		free(t);
		ERR_clear_error();
		return CN_ENOMEM;
	}
	/* An empty rbio means "wait for more", never end of stream. */
	BIO_set_mem_eof_return(t->rbio, -1);
	BIO_set_data(t->wbio, t);
	BIO_set_init(t->wbio, 1);
	SSL_set_bio(t->ssl, t->rbio, t->wbio);
	*out = t;
	return 0;
}

int tls_conn_new(struct tls_server *s, struct tls_conn **out)
{
	int rc = conn_make(&s->ctx, &s->lock, out);

	if (!rc)
		SSL_set_accept_state((*out)->ssl);
	return rc;
}

static int client_ctx_load(const char *ca_file, char *why, size_t why_cap, SSL_CTX **out)
{
	static const unsigned char alpn[] = "\x08http/1.1";
	SSL_CTX *ctx;

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		take_error("cannot create a TLS context", why, why_cap);
		return CN_ENOMEM;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) ||
	    !SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES) ||
	    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1) != 0) {
		take_error("TLS policy", why, why_cap);
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
		char what[600];
		snprintf(what, sizeof(what), "CA bundle %s", ca_file);
		take_error(what, why, why_cap);
		goto fail;
	}
	/* The handshake fails unless the chain ends at a certificate of the
	 * bundle (and, per session, names the address dialled). */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	*out = ctx;
	return 0;
fail:
	SSL_CTX_free(ctx);
	return CN_EINVAL;
}

int tls_client_new(const char *ca_file, char *why, size_t why_cap, struct tls_client **out)
{
	struct tls_client *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return CN_ENOMEM;
	c->ca_file = strdup(ca_file);
	if (!c->ca_file) {
		free(c);
		return CN_ENOMEM;
	}
	rc = client_ctx_load(ca_file, why, why_cap, &c->ctx);
	if (rc) {
		free(c->ca_file);
		free(c);
		return rc;
	}
	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return 0;
}

int tls_client_reload(struct tls_client *c, char *why, size_t why_cap)
{
	SSL_CTX *ctx, *old;
	int rc = client_ctx_load(c->ca_file, why, why_cap, &ctx);

	if (rc)
		return rc;
	pthread_mutex_lock(&c->lock);
	old = c->ctx;
	c->ctx = ctx;
	pthread_mutex_unlock(&c->lock);
	SSL_CTX_free(old); /* sessions made from it hold their own reference */
	return 0;
}

void tls_client_free(struct tls_client *c)
{
	if (!c)
		return;
	SSL_CTX_free(c->ctx);
	pthread_mutex_destroy(&c->lock);
	free(c->ca_file);
	free(c);
}

int tls_conn_new_client(struct tls_client *c, const char *host, struct tls_conn **out)
{
	unsigned char bin[16];
	X509_VERIFY_PARAM *vp;
	int is_ip, rc = conn_make(&c->ctx, &c->lock, out);

	if (rc)
		return rc;
	is_ip = inet_pton(AF_INET, host, bin) == 1 || inet_pton(AF_INET6, host, bin) == 1;
	vp = SSL_get0_param((*out)->ssl);
	/* An address is checked against the certificate's IP SANs, a name
	 * against its DNS names (and is sent as SNI). */
	if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1
		  : (X509_VERIFY_PARAM_set1_host(vp, host, 0) != 1 ||
		     SSL_set_tlsext_host_name((*out)->ssl, host) != 1)) {
		ERR_clear_error();
		tls_conn_free(*out);
		*out = NULL;
		return CN_EINVAL;
	}
	SSL_set_connect_state((*out)->ssl);
	return 0;
}

void tls_conn_free(struct tls_conn *t)
{
	if (!t)
		return;
	SSL_free(t->ssl); /* frees both BIOs */
	free(t->out);
	free(t);
}

int tls_conn_feed(struct tls_conn *t, const void *buf, size_t len)
{
	while (len > 0) {
		int n = BIO_write(t->rbio, buf, len > INT_MAX ? INT_MAX : (int)len);
		if (n <= 0) {
			ERR_clear_error();
			return CN_ENOMEM;
		}
		buf = (const char *)buf + n;
		len -= (size_t)n;
	}
	return 0;
}

static int fail_with(struct tls_conn *t, int sslerr)
{
	unsigned long e = ERR_get_error();

	long v = SSL_get_verify_result(t->ssl);

	if (e)
		ERR_error_string_n(e, t->err, sizeof(t->err));
	else
		snprintf(t->err, sizeof(t->err), "SSL error %d", sslerr);
	/* Why the peer's certificate was refused, which the queue's entry
	 * ("certificate verify failed") does not say. */
	if (v != X509_V_OK) {
		size_t n = strlen(t->err);
		snprintf(t->err + n, sizeof(t->err) - n, " (%s)", X509_verify_cert_error_string(v));
	}
	ERR_clear_error();
	return TLS_FAILED;
}

int tls_conn_read(struct tls_conn *t, void *buf, size_t cap)
{
	int n, e;

	ERR_clear_error();
	if (!SSL_is_init_finished(t->ssl)) {
		n = SSL_do_handshake(t->ssl);
		if (n != 1) {
			e = SSL_get_error(t->ssl, n);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				return TLS_WANT_READ;
			return fail_with(t, e);
		}
	}
	n = SSL_read(t->ssl, buf, cap > INT_MAX ? INT_MAX : (int)cap);
	if (n > 0)
		return n;
	e = SSL_get_error(t->ssl, n);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return TLS_WANT_READ;
	if (e == SSL_ERROR_ZERO_RETURN)
		return TLS_CLOSED;
	return fail_with(t, e);
}

int tls_conn_ready(const struct tls_conn *t)
{
	return SSL_is_init_finished(t->ssl);
}

const char *tls_conn_version(const struct tls_conn *t)
{
	if (!SSL_is_init_finished(t->ssl))
		return NULL;
	switch (SSL_version(t->ssl)) {
	case TLS1_VERSION: return "1.0";
	case TLS1_1_VERSION: return "1.1";
	case TLS1_2_VERSION: return "1.2";
	case TLS1_3_VERSION: return "1.3";
	default: return NULL;
	}
}

int tls_conn_pending(const struct tls_conn *t)
{
	return SSL_has_pending(t->ssl) || BIO_ctrl_pending(t->rbio) > 0;
}

int tls_conn_write(struct tls_conn *t, const void *buf, size_t len)
{
	/* Room for the records' framing too (TLS 1.2 GCM: 29 bytes per 16 KiB
	 * record, TLS 1.3: 22), so encrypting never reallocates. */
	if (out_reserve(t, len + (len / 16384 + 1) * 64))
		return CN_ENOMEM;
	ERR_clear_error();
	while (len > 0) {
		/* Memory BIOs grow: a complete write never waits. */
		int n = SSL_write(t->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
		if (n <= 0 || t->out_failed) {
			fail_with(t, SSL_get_error(t->ssl, n));
			return t->out_failed ? CN_ENOMEM : -EPIPE;
		}
		buf = (const char *)buf + n;
		len -= (size_t)n;
	}
	return 0;
}

size_t tls_conn_out_len(const struct tls_conn *t)
{
	return t->out_len;
}

size_t tls_conn_take_out(struct tls_conn *t, void *out, size_t cap)
{
	size_t n = t->out_len < cap ? t->out_len : cap;

	memcpy(out, t->out, n);
	memmove(t->out, t->out + n, t->out_len - n);
	t->out_len -= n;
	return n;
}

char *tls_conn_take_out_buf(struct tls_conn *t, size_t *len)
{
	char *p = t->out;

	*len = t->out_len;
	if (!p)
		return NULL;
	t->out = NULL;
	t->out_len = t->out_cap = 0;
	return p;
}

void tls_conn_shutdown(struct tls_conn *t)
{
	/* Never after a fatal error: OpenSSL forbids it (and it is moot). */
	if (!SSL_is_init_finished(t->ssl) || t->err[0])
		return;
	ERR_clear_error();
	SSL_shutdown(t->ssl);
	ERR_clear_error();
}

const char *tls_conn_error(const struct tls_conn *t)
{
	return t->err;
}

int tls_looks_like_hello(const void *buf, size_t len)
{
	const unsigned char *p = buf;

	return len >= 2 && p[0] == 0x16 && p[1] == 0x03;
}
