/*
 * Unit tests for http/tls: the server session driven through its memory
 * interface against an in-process OpenSSL client (also on memory BIOs), no
 * sockets. Certificates are made here (self-signed P-256, a chosen serial)
 * and written to temporary files. Covered: handshake, ALPN and version,
 * 1 MiB each way, TLS 1.1 refused, a CBC-only client refused, close_notify,
 * reload (new connections see the new certificate, a connection made
 * before keeps working, a bad pair keeps the old one), reloads while
 * another thread makes sessions, start-up refusals,
 * and the TLS record sniffing helper.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "http/tls.h"

static char dir[] = "/tmp/cairn-tls-unit-XXXXXX";
static char cert_path[256], key_path[256];

/* A self-signed certificate with this serial, written as the live pair. */
static void make_pair(long serial, const char *cert_file, const char *key_file)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	FILE *f;

	assert_non_null(pk);
	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, pk);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"127.0.0.1", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	assert_true(X509_sign(x, pk, EVP_sha256()) > 0);
	f = fopen(cert_file, "w");
	assert_non_null(f);
	PEM_write_X509(f, x);
	fclose(f);
	f = fopen(key_file, "w");
	assert_non_null(f);
	PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(pk);
}

struct client {
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *rbio, *wbio;
};

static void client_init(struct client *c, int max_version, const char *ciphers)
{
	c->ctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(c->ctx);
	if (max_version) {
		SSL_CTX_set_min_proto_version(c->ctx, TLS1_VERSION);
		SSL_CTX_set_max_proto_version(c->ctx, max_version);
	}
	if (ciphers)
		assert_int_equal(SSL_CTX_set_cipher_list(c->ctx, ciphers), 1);
	SSL_CTX_set_alpn_protos(c->ctx, (const unsigned char *)"\x02h2\x08http/1.1", 12);
	c->ssl = SSL_new(c->ctx);
	c->rbio = BIO_new(BIO_s_mem());
	c->wbio = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(c->rbio, -1);
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
	SSL_set_connect_state(c->ssl);
}

static void client_free(struct client *c)
{
	SSL_free(c->ssl);
	SSL_CTX_free(c->ctx);
}

/* Moves bytes both ways until neither side has anything new to say.
 * Plaintext the server decrypts is appended to got (cap bytes). */
static int shuttle(struct client *c, struct tls_conn *s, char *got, size_t cap, size_t *got_len)
{
	static char buf[256 * 1024];
	int last = 0;

	for (int round = 0; round < 1000; round++) {
		int moved = 0;
		int n;

		if (!SSL_is_init_finished(c->ssl))
			SSL_do_handshake(c->ssl);
		while ((n = BIO_read(c->wbio, buf, sizeof(buf))) > 0) {
			assert_int_equal(tls_conn_feed(s, buf, (size_t)n), 0);
			moved = 1;
		}
		for (;;) {
			if (got && *got_len == cap)
				break;
			last = tls_conn_read(s, got ? got + *got_len : buf,
					     got ? cap - *got_len : sizeof(buf));
			if (last <= 0)
				break;
			if (got)
				*got_len += (size_t)last;
			moved = 1;
		}
		size_t out;
		while ((out = tls_conn_take_out(s, buf, sizeof(buf))) > 0) {
			BIO_write(c->rbio, buf, (int)out);
			moved = 1;
		}
		if (last == TLS_FAILED)
			return last;
		if (!moved)
			break;
	}
	return last;
}

static long peer_serial(struct client *c)
{
	X509 *x = SSL_get1_peer_certificate(c->ssl);
	long v;

	assert_non_null(x);
	v = ASN1_INTEGER_get(X509_get_serialNumber(x));
	X509_free(x);
	return v;
}

static struct tls_server *server_new(void)
{
	struct tls_server *s = NULL;
	char why[512];

	assert_int_equal(tls_server_new(cert_path, key_path, why, sizeof(why), &s), 0);
	return s;
}

static void test_handshake_and_data(void **state)
{
	struct tls_server *srv = server_new();
	struct tls_conn *s;
	struct client c;
	const unsigned char *alpn;
	unsigned alpn_len;
	size_t big = 1 << 20, got_len = 0;
	char *up = malloc(big), *got = malloc(big), *down = malloc(big);
	(void)state;

	assert_int_equal(tls_conn_new(srv, &s), 0);
	client_init(&c, 0, NULL);
	assert_int_equal(shuttle(&c, s, NULL, 0, NULL), TLS_WANT_READ);
	assert_true(SSL_is_init_finished(c.ssl));
	assert_true(tls_conn_ready(s));
	assert_int_equal(SSL_version(c.ssl), TLS1_3_VERSION);
	SSL_get0_alpn_selected(c.ssl, &alpn, &alpn_len);
	assert_int_equal(alpn_len, 8);
	assert_memory_equal(alpn, "http/1.1", 8);
	assert_int_equal(peer_serial(&c), 1);

	/* client -> server, 1 MiB */
	for (size_t i = 0; i < big; i++)
		up[i] = (char)(i * 7 + 3);
	assert_int_equal(SSL_write(c.ssl, up, (int)big), (int)big);
	shuttle(&c, s, got, big, &got_len);
	assert_int_equal(got_len, big);
	assert_memory_equal(got, up, big);
	assert_false(tls_conn_pending(s));

	/* server -> client, 1 MiB, taken out in odd-sized pieces */
	for (size_t i = 0; i < big; i++)
		down[i] = (char)(i * 13 + 1);
	assert_int_equal(tls_conn_write(s, down, big), 0);
	assert_true(tls_conn_out_len(s) > big);
	{
		char piece[4093];
		size_t n;
		while ((n = tls_conn_take_out(s, piece, sizeof(piece))) > 0)
			BIO_write(c.rbio, piece, (int)n);
	}
	size_t off = 0;
	while (off < big) {
		int n = SSL_read(c.ssl, got + off, (int)(big - off));
		assert_true(n > 0);
		off += (size_t)n;
	}
	assert_memory_equal(got, down, big);

	/* close_notify from the client reads as TLS_CLOSED */
	SSL_shutdown(c.ssl);
	assert_int_equal(shuttle(&c, s, NULL, 0, NULL), TLS_CLOSED);

	tls_conn_free(s);
	client_free(&c);
	tls_server_free(srv);
	free(up);
	free(got);
	free(down);
}

static void test_old_protocols_and_ciphers_refused(void **state)
{
	struct tls_server *srv = server_new();
	struct tls_conn *s;
	struct client c;
	(void)state;

	assert_int_equal(tls_conn_new(srv, &s), 0);
	client_init(&c, TLS1_1_VERSION, "DEFAULT:@SECLEVEL=0");
	assert_int_equal(shuttle(&c, s, NULL, 0, NULL), TLS_FAILED);
	assert_false(tls_conn_ready(s));
	assert_non_null(strstr(tls_conn_error(s), "protocol"));
	tls_conn_shutdown(s); /* after a fatal error: a no-op, no crash */
	tls_conn_free(s);
	client_free(&c);

	assert_int_equal(tls_conn_new(srv, &s), 0);
	client_init(&c, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384");
	assert_int_equal(shuttle(&c, s, NULL, 0, NULL), TLS_FAILED);
	tls_conn_free(s);
	client_free(&c);

	/* TLS 1.2 with an AEAD suite: fine */
	assert_int_equal(tls_conn_new(srv, &s), 0);
	client_init(&c, TLS1_2_VERSION, NULL);
	shuttle(&c, s, NULL, 0, NULL);
	assert_true(tls_conn_ready(s));
	assert_non_null(strstr(SSL_get_cipher_name(c.ssl), "GCM"));
	tls_conn_free(s);
	client_free(&c);
	tls_server_free(srv);
}

static void test_reload(void **state)
{
	struct tls_server *srv = server_new();
	struct tls_conn *before, *after, *bad;
	struct client c1, c2, c3;
	char why[512] = "", got[16];
	size_t got_len = 0;
	FILE *f;
	(void)state;

	assert_int_equal(tls_conn_new(srv, &before), 0);
	client_init(&c1, 0, NULL);
	shuttle(&c1, before, NULL, 0, NULL);
	assert_int_equal(peer_serial(&c1), 1);

	make_pair(2, cert_path, key_path);
	assert_int_equal(tls_server_reload(srv, why, sizeof(why)), 0);
	assert_int_equal(tls_conn_new(srv, &after), 0);
	client_init(&c2, 0, NULL);
	shuttle(&c2, after, NULL, 0, NULL);
	assert_int_equal(peer_serial(&c2), 2);

	/* the connection made before the reload still works */
	assert_int_equal(SSL_write(c1.ssl, "still here", 10), 10);
	shuttle(&c1, before, got, sizeof(got), &got_len);
	assert_int_equal(got_len, 10);
	assert_memory_equal(got, "still here", 10);

	/* a broken certificate file: reload fails, the current pair stays */
	f = fopen(cert_path, "w");
	fputs("not a certificate\n", f);
	fclose(f);
	assert_int_not_equal(tls_server_reload(srv, why, sizeof(why)), 0);
	assert_non_null(strstr(why, cert_path));
	assert_int_equal(tls_conn_new(srv, &bad), 0);
	client_init(&c3, 0, NULL);
	shuttle(&c3, bad, NULL, 0, NULL);
	assert_int_equal(peer_serial(&c3), 2);

	tls_conn_free(before);
	tls_server_free(srv); /* before the connections: they hold their context */
	assert_int_equal(SSL_write(c2.ssl, "x", 1), 1);
	got_len = 0;
	shuttle(&c2, after, got, sizeof(got), &got_len);
	assert_int_equal(got_len, 1);
	tls_conn_free(after);
	tls_conn_free(bad);
	client_free(&c1);
	client_free(&c2);
	client_free(&c3);
	make_pair(1, cert_path, key_path);
}

struct reloader {
	struct tls_server *srv;
	int n, failed;
};

static void *reload_main(void *arg)
{
	struct reloader *rl = arg;
	char why[512];

	for (int i = 0; i < rl->n; i++)
		rl->failed += tls_server_reload(rl->srv, why, sizeof(why)) != 0;
	return NULL;
}

/* Loops make sessions while SIGHUP reloads on the main thread: a session
 * must take its context under the lock a reload swaps it under, or the
 * context it read could be freed before SSL_new takes a reference (a
 * use-after-free ThreadSanitizer reported as a race; asan sees the double
 * free when the window is hit). */
static void test_reload_while_connecting(void **state)
{
	struct tls_server *srv = server_new();
	struct reloader rl = {.srv = srv, .n = 200};
	pthread_t th;
	(void)state;

	assert_int_equal(pthread_create(&th, NULL, reload_main, &rl), 0);
	for (;;) {
		struct tls_conn *t[8];
		for (int i = 0; i < 8; i++)
			assert_int_equal(tls_conn_new(srv, &t[i]), 0);
		for (int i = 0; i < 8; i++)
			tls_conn_free(t[i]);
		if (pthread_tryjoin_np(th, NULL) == 0)
			break; /* the reloads are done */
	}
	assert_int_equal(rl.failed, 0);
	tls_server_free(srv);
}

static void test_start_refusals(void **state)
{
	struct tls_server *srv = NULL;
	char why[512], other_cert[300], other_key[300];
	(void)state;

	snprintf(other_cert, sizeof(other_cert), "%s/other.pem", dir);
	snprintf(other_key, sizeof(other_key), "%s/other.key", dir);
	make_pair(9, other_cert, other_key);
	assert_int_not_equal(tls_server_new(cert_path, other_key, why, sizeof(why), &srv), 0);
	assert_non_null(strstr(why, "mismatch"));
	assert_int_not_equal(tls_server_new("/nonexistent.pem", key_path, why, sizeof(why), &srv),
			     0);
	assert_non_null(strstr(why, "/nonexistent.pem"));
	assert_null(srv);
}

static void test_looks_like_hello(void **state)
{
	(void)state;
	assert_true(tls_looks_like_hello("\x16\x03\x01\x02\x00", 5));
	assert_false(tls_looks_like_hello("\x16", 1));
	assert_false(tls_looks_like_hello("GET / HTTP/1.1\r\n", 16));
	assert_false(tls_looks_like_hello("\x17\x03\x03", 3));
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", dir);
	snprintf(key_path, sizeof(key_path), "%s/key.pem", dir);
	make_pair(1, cert_path, key_path);
	return 0;
}

static int teardown(void **state)
{
	char p[300];
	(void)state;
	unlink(cert_path);
	unlink(key_path);
	snprintf(p, sizeof(p), "%s/other.pem", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/other.key", dir);
	unlink(p);
	rmdir(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_and_data),
		cmocka_unit_test(test_old_protocols_and_ciphers_refused),
		cmocka_unit_test(test_reload),
		cmocka_unit_test(test_reload_while_connecting),
		cmocka_unit_test(test_start_refusals),
		cmocka_unit_test(test_looks_like_hello),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests_name("http/tls", tests, setup, teardown);
}
