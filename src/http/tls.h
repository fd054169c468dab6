/*
 * http/tls.h — TLS for the HTTP front end: OpenSSL behind memory BIOs, so the
 * libuv loop owns the socket and OpenSSL never blocks or touches an fd.
 *
 * Layer: http; cluster/ includes it for the client side of the internal
 * API (tls_client, through http/relay.h). SSL_* and BIO_* live in tls.c only.
 *
 *   struct tls_server  the configuration: certificate chain + key (PEM) in an
 *                      SSL_CTX. Replaced as a whole by tls_server_reload; a
 *                      connection keeps the context it started with (SSL_new
 *                      holds a reference), so a reload drops nobody.
 *   struct tls_client  the cluster's client side: the CA bundle peers are
 *                      verified against, shared by every thread; replaced
 *                      as a whole by tls_client_reload, like tls_server.
 *   struct tls_conn    one TLS session per TCP connection, used by one thread
 *                      at a time (a loop's, or a relay's: http/relay.h).
 *
 * Data flow (all on the connection's loop thread):
 *
 *   socket bytes --tls_conn_feed--> [rbio] --tls_conn_read--> plaintext
 *   plaintext --tls_conn_write--> [out buffer] --tls_conn_take_out_buf--> socket
 *
 * tls_conn_read also drives the handshake; whatever it or tls_conn_write
 * produced for the peer (handshake records, alerts, session tickets, the
 * encrypted response) waits in the output until tls_conn_take_out, and the
 * caller writes it in order. Policy: TLS 1.2 and 1.3 only, AEAD suites only
 * with the server's preference, no compression, no renegotiation, ALPN
 * http/1.1.
 */
#ifndef CAIRN_HTTP_TLS_H
#define CAIRN_HTTP_TLS_H

#include <stddef.h>

struct tls_server;
struct tls_conn;

/* Loads cert_file (PEM: the leaf first, then intermediates) and key_file.
 * Borrows the paths for the call only (reload re-reads the same paths: it
 * keeps copies). On error *why (why_cap bytes) says what was wrong, from
 * OpenSSL's error queue. Any thread; blocking file reads (start-up). */
int tls_server_new(const char *cert_file, const char *key_file, char *why, size_t why_cap,
		   struct tls_server **out);
/* Re-reads the files into a new context and swaps it in for new
 * connections. A bad pair keeps the old context and returns an error with
 * *why. Any thread except a loop (blocking file reads); safe while loops
 * accept connections. */
int tls_server_reload(struct tls_server *s, char *why, size_t why_cap);
/* After every connection made from it is freed. */
void tls_server_free(struct tls_server *s);

/* A session for one accepted connection, using the current context.
 * Loop thread; any loop may create sessions concurrently with reload. */
int tls_conn_new(struct tls_server *s, struct tls_conn **out);
void tls_conn_free(struct tls_conn *t);

/* The client side of the cluster's internal connections: TLS 1.2+ with the
 * server's policy, ALPN http/1.1, the peer's chain verified against the PEM
 * bundle ca_file (a self-signed certificate given as its own bundle trusts
 * exactly itself). Borrows ca_file for the call (keeps a copy for reload).
 * Any thread; blocking file read. */
struct tls_client;
int tls_client_new(const char *ca_file, char *why, size_t why_cap, struct tls_client **out);
/* Re-reads the bundle for new sessions (open ones keep theirs). A bad
 * bundle keeps the old one and returns an error with *why. Any thread but
 * a loop's (blocking file read). */
int tls_client_reload(struct tls_client *c, char *why, size_t why_cap);
/* After every session made from it is freed. */
void tls_client_free(struct tls_client *c);
/* A client session to host: an IP literal must be one of the certificate's
 * IP SANs, a name one of its DNS names (and goes out as SNI). The first
 * tls_conn_read produces the ClientHello. Any thread. */
int tls_conn_new_client(struct tls_client *c, const char *host, struct tls_conn **out);

/* Queues len ciphertext bytes received from the socket (copied). */
int tls_conn_feed(struct tls_conn *t, const void *buf, size_t len);

/* Results of tls_conn_read besides a byte count. */
enum {
	TLS_WANT_READ = 0, /* nothing (more) until the peer sends */
	TLS_CLOSED = -1,   /* the peer sent close_notify */
	TLS_FAILED = -2,   /* handshake or protocol failure: close */
};
/* Advances the handshake and decrypts up to cap plaintext bytes into buf.
 * Returns a count > 0, or one of the values above. Check tls_conn_out_len
 * afterwards: even a read can have produced bytes for the peer. */
int tls_conn_read(struct tls_conn *t, void *buf, size_t cap);
/* 1 once the handshake is complete. */
int tls_conn_ready(const struct tls_conn *t);
/* The negotiated protocol as IAM's s3:TlsVersion spells it ("1.2",
 * "1.3"), a static string; NULL before the handshake completes. */
const char *tls_conn_version(const struct tls_conn *t);
/* 1 when fed ciphertext or decrypted plaintext is waiting for a read. */
int tls_conn_pending(const struct tls_conn *t);
/* Encrypts all of buf (the handshake must be complete). 0 or an error. */
int tls_conn_write(struct tls_conn *t, const void *buf, size_t len);
/* Bytes waiting for the peer; tls_conn_take_out copies up to cap of them to
 * out and returns how many. */
size_t tls_conn_out_len(const struct tls_conn *t);
size_t tls_conn_take_out(struct tls_conn *t, void *out, size_t cap);
/* All bytes waiting for the peer, without a copy: returns the buffer
 * (owned by the caller: free()) and its length in *len, NULL when empty. */
char *tls_conn_take_out_buf(struct tls_conn *t, size_t *len);
/* Queues close_notify (then take the output). */
void tls_conn_shutdown(struct tls_conn *t);
/* The last failure, for a log line ("" when none); a refused certificate
 * says why ("certificate verify failed (self-signed certificate)"). */
const char *tls_conn_error(const struct tls_conn *t);

/* Does a connection's first data look like a TLS record (a handshake
 * record header 0x16 0x03)? len >= 2 needed for a yes. Pure. */
int tls_looks_like_hello(const void *buf, size_t len);

#endif
