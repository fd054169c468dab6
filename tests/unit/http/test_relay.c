/*
 * Unit tests for http/relay and the client side of http/tls: two relays
 * over a real loopback TCP connection, one with a server session (the
 * handshake done by the relay itself), one with a client session verifying
 * the server against a CA file, each giving the test a plain socketpair
 * end. Covered: 4 MiB each way at once (more than RELAY_CAP and the socket
 * buffers: backpressure, data intact), closing one plain end closes the
 * other, a certificate that does not name the dialled IP, an untrusted
 * certificate and a plain-HTTP peer all end the client's plain end (EOF, no
 * data, no hang) instead of relaying; the client's CA bundle reloaded
 * (a broken one refused, the old one kept).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/clock.h"
#include "http/relay.h"
#include "http/tls.h"

static char dir[] = "/tmp/cairn-relay-unit-XXXXXX";
static char cert_path[256], key_path[256], other_cert[256], other_key[256];

/* A self-signed P-256 certificate for IP 127.0.0.1, its own CA. */
static void make_pair(const char *cert_file, const char *key_file)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509V3_CTX v3;
	X509_EXTENSION *e;
	FILE *f;

	assert_non_null(pk);
	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, pk);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"cairn relay test", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1");
	assert_non_null(e);
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	e = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:TRUE");
	assert_non_null(e);
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
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

static int listener(int *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* A non-blocking connect, still in progress (the relay finishes it). */
static int dial(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EINPROGRESS);
	return fd;
}

/* Client relay to host (what the certificate must name), trusting ca, to a
 * listener at port; returns the plain end. */
static int client_relay(const char *ca, const char *host, int port)
{
	struct tls_client *tc;
	struct tls_conn *t;
	char why[512];
	int local;

	assert_int_equal(tls_client_new(ca, why, sizeof(why), &tc), 0);
	assert_int_equal(tls_conn_new_client(tc, host, &t), 0);
	tls_client_free(tc); /* the session holds its own reference */
	assert_int_equal(tls_relay_start(t, dial(port), host, &local), 0);
	return local;
}

static int server_relay(struct tls_server *srv, int lfd)
{
	struct tls_conn *t;
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), local;

	assert_true(fd >= 0);
	assert_int_equal(tls_conn_new(srv, &t), 0);
	assert_int_equal(tls_relay_start(t, fd, "client", &local), 0);
	return local;
}

/* Reads until EOF (or 5 s); returns the byte count. */
static size_t read_to_eof(int fd)
{
	int64_t until = cn_mono_ns() + 5000000000LL;
	size_t total = 0;
	char buf[4096];

	while (cn_mono_ns() < until) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0)
			return total;
		if (n < 0 && errno != EAGAIN)
			return total;
		if (n > 0)
			total += (size_t)n;
	}
	fail_msg("no EOF within 5 s");
	return total;
}

/* Sends a to fa and b to fb while receiving fb's and fa's, all at once
 * (one thread, poll), until both arrived or 20 s passed. */
static void exchange(int fa, int fb, const char *a, const char *b, size_t len)
{
	char *ga = malloc(len), *gb = malloc(len);
	size_t sa = 0, sb = 0, ra = 0, rb = 0;
	int64_t until = cn_mono_ns() + 20000000000LL;

	assert_non_null(ga);
	assert_non_null(gb);
	while ((ra < len || rb < len) && cn_mono_ns() < until) {
		struct pollfd p[2] = {{.fd = fa, .events = POLLIN}, {.fd = fb, .events = POLLIN}};
		ssize_t n;
		if (sa < len)
			p[0].events |= POLLOUT;
		if (sb < len)
			p[1].events |= POLLOUT;
		poll(p, 2, 100);
		if ((p[0].revents & POLLOUT) &&
		    (n = send(fa, a + sa, len - sa > 65536 ? 65536 : len - sa, MSG_NOSIGNAL)) > 0)
			sa += (size_t)n;
		if ((p[1].revents & POLLOUT) &&
		    (n = send(fb, b + sb, len - sb > 65536 ? 65536 : len - sb, MSG_NOSIGNAL)) > 0)
			sb += (size_t)n;
		/* fb receives what went into fa, and the other way round */
		if ((p[1].revents & POLLIN) && (n = recv(fb, ga + ra, len - ra, 0)) > 0)
			ra += (size_t)n;
		if ((p[0].revents & POLLIN) && (n = recv(fa, gb + rb, len - rb, 0)) > 0)
			rb += (size_t)n;
	}
	assert_int_equal(ra, len);
	assert_int_equal(rb, len);
	assert_memory_equal(ga, a, len);
	assert_memory_equal(gb, b, len);
	free(ga);
	free(gb);
}

static void test_roundtrip_and_close(void **state)
{
	struct tls_server *srv;
	char why[512];
	size_t len = 4 << 20;
	char *a = malloc(len), *b = malloc(len);
	int port, lfd = listener(&port), cl, sv;
	(void)state;

	assert_int_equal(tls_server_new(cert_path, key_path, why, sizeof(why), &srv), 0);
	cl = client_relay(cert_path, "127.0.0.1", port);
	sv = server_relay(srv, lfd);
	for (size_t i = 0; i < len; i++) {
		a[i] = (char)(i * 7 + 3);
		b[i] = (char)(i * 13 + 1);
	}
	exchange(cl, sv, a, b, len);
	/* the client's consumer closes: close_notify, and the server's plain
	 * end ends too */
	close(cl);
	assert_int_equal(read_to_eof(sv), 0);
	close(sv);
	close(lfd);
	tls_server_free(srv);
	free(a);
	free(b);
}

/* The client refuses the server: its plain end ends with nothing relayed,
 * and what its consumer wrote never reaches the server's. */
static void refused(const char *ca, const char *host, const char *srv_cert, const char *srv_key)
{
	struct tls_server *srv;
	char why[512];
	int port, lfd = listener(&port), cl, sv;

	assert_int_equal(tls_server_new(srv_cert, srv_key, why, sizeof(why), &srv), 0);
	cl = client_relay(ca, host, port);
	sv = server_relay(srv, lfd);
	/* (may fail already: the relay can have given up by now) */
	(void)send(cl, "hello", 5, MSG_NOSIGNAL);
	assert_int_equal(read_to_eof(cl), 0);
	assert_int_equal(read_to_eof(sv), 0);
	close(cl);
	close(sv);
	close(lfd);
	tls_server_free(srv);
}

static void test_wrong_ip_refused(void **state)
{
	(void)state;
	/* dialled as 127.0.0.2: the certificate names 127.0.0.1 only */
	refused(cert_path, "127.0.0.2", cert_path, key_path);
}

static void test_untrusted_refused(void **state)
{
	(void)state;
	refused(cert_path, "127.0.0.1", other_cert, other_key);
}

/* Reads once from a relay's plain end: what arrives within 5 s (0 at EOF). */
static ssize_t read_some(int fd, char *buf, size_t cap)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	if (poll(&p, 1, 5000) <= 0)
		return -1;
	return recv(fd, buf, cap, 0);
}

/* A client trusting the wrong certificate is refused; after its bundle
 * file is replaced and reloaded, new sessions succeed; a bad bundle keeps
 * the one in force. */
static void test_client_reload(void **state)
{
	struct tls_server *srv;
	struct tls_client *tc;
	struct tls_conn *t;
	char why[512], ca[300], buf[8];
	int port, lfd = listener(&port), cl, sv;
	FILE *f;
	(void)state;

	snprintf(ca, sizeof(ca), "%s/bundle.pem", dir);
	assert_int_equal(link(other_cert, ca), 0);
	assert_int_equal(tls_server_new(cert_path, key_path, why, sizeof(why), &srv), 0);
	assert_int_equal(tls_client_new(ca, why, sizeof(why), &tc), 0);

	assert_int_equal(tls_conn_new_client(tc, "127.0.0.1", &t), 0);
	assert_int_equal(tls_relay_start(t, dial(port), "old bundle", &cl), 0);
	sv = server_relay(srv, lfd);
	assert_int_equal(read_to_eof(cl), 0);
	close(cl);
	close(sv);

	/* the bundle now names the server's certificate */
	unlink(ca);
	assert_int_equal(link(cert_path, ca), 0);
	assert_int_equal(tls_client_reload(tc, why, sizeof(why)), 0);
	assert_int_equal(tls_conn_new_client(tc, "127.0.0.1", &t), 0);
	assert_int_equal(tls_relay_start(t, dial(port), "new bundle", &cl), 0);
	sv = server_relay(srv, lfd);
	assert_int_equal(send(cl, "ping", 4, MSG_NOSIGNAL), 4);
	assert_int_equal(read_some(sv, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "ping", 4);

	/* a broken bundle: refused, the loaded one stays */
	unlink(ca);
	f = fopen(ca, "w");
	assert_non_null(f);
	fputs("not a certificate\n", f);
	fclose(f);
	assert_int_not_equal(tls_client_reload(tc, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "CA bundle"));
	close(cl);
	close(sv);
	assert_int_equal(tls_conn_new_client(tc, "127.0.0.1", &t), 0);
	assert_int_equal(tls_relay_start(t, dial(port), "kept bundle", &cl), 0);
	sv = server_relay(srv, lfd);
	assert_int_equal(send(sv, "pong", 4, MSG_NOSIGNAL), 4);
	assert_int_equal(read_some(cl, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "pong", 4);
	close(cl);
	close(sv);
	unlink(ca);
	close(lfd);
	tls_client_free(tc);
	tls_server_free(srv);
}

static void test_plain_peer_ends(void **state)
{
	static const char answer[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
	int port, lfd = listener(&port), cl, fd;
	char hello[5];
	(void)state;

	cl = client_relay(cert_path, "127.0.0.1", port);
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);
	/* what a TLS client sends first */
	assert_int_equal(recv(fd, hello, sizeof(hello), MSG_WAITALL), 5);
	assert_true(tls_looks_like_hello(hello, sizeof(hello)));
	assert_int_equal(send(fd, answer, sizeof(answer) - 1, MSG_NOSIGNAL),
			 (ssize_t)sizeof(answer) - 1);
	assert_int_equal(read_to_eof(cl), 0);
	close(fd);
	close(cl);
	close(lfd);
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", dir);
	snprintf(key_path, sizeof(key_path), "%s/key.pem", dir);
	snprintf(other_cert, sizeof(other_cert), "%s/other.pem", dir);
	snprintf(other_key, sizeof(other_key), "%s/other.key", dir);
	make_pair(cert_path, key_path);
	make_pair(other_cert, other_key);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	/* Every test closed its plain ends, so every relay ends (their
	 * sessions freed before the process exits and LeakSanitizer looks). */
	if (tls_relay_drain(10000) != 0) {
		fprintf(stderr, "relays still running 10 s after the last test\n");
		return -1;
	}
	unlink(cert_path);
	unlink(key_path);
	unlink(other_cert);
	unlink(other_key);
	rmdir(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_and_close), cmocka_unit_test(test_wrong_ip_refused),
		cmocka_unit_test(test_untrusted_refused),   cmocka_unit_test(test_client_reload),
		cmocka_unit_test(test_plain_peer_ends),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests_name("http/relay", tests, setup, teardown);
}
