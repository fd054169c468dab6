/*
 * http/relay.h — a TLS session in front of a plain descriptor: the cluster's
 * internal connections over TLS.
 *
 * Layer: http (uses http/tls.h); included by http/server.c and cluster/.
 *
 * Why a relay. Every user of an internal connection wants a plain
 * descriptor: raft_uv reads and writes a uv_stream_t itself, the shard
 * streams and the RPC client make blocking send/recv/poll calls on their
 * own threads, and the server hands an upgraded socket (Raft, shard-put)
 * to such a consumer. None of them can run on an SSL object. Teaching each
 * one TLS would mean three more I/O paths (one of them inside libraft's
 * loop). Instead each TLS connection gets a socketpair(AF_UNIX): the
 * consumer gets one end and uses it exactly as it used the TCP socket
 * (Raft through uv_pipe_open), and a relay thread moves bytes between the
 * other end and the TCP socket through the session (memory BIOs, so
 * OpenSSL never touches a descriptor). The plain path is untouched: no
 * certificate, no relay.
 *
 * Cost, and why it is acceptable: one small thread and one extra copy per
 * internal TLS connection. Internal connections are few and long-lived
 * (Raft: one per peer and direction; RPC: a bounded idle pool; shard
 * streams: at most 64 received at once), and TLS's own encryption costs
 * more than the copy.
 *
 * Bounds and backpressure: plaintext waiting for the consumer is at most
 * RELAY_CAP bytes (the TCP socket is not read while it is full; undecrypted
 * ciphertext then waits in the kernel), and ciphertext waiting for the peer
 * at most RELAY_CAP plus one record (the consumer's end is not read while
 * it is full). Both sides close together: when the peer ends (close_notify,
 * FIN, an error) the plaintext already decrypted is handed on and the
 * consumer's end closed; when the consumer closes its end (no half-close),
 * close_notify is sent and the TCP socket closed. A handshake that does not
 * complete within RELAY_HANDSHAKE_MS, or a refused certificate, closes both
 * and logs why (a peer's first failure, then one line per 30 s).
 */
#ifndef CAIRN_HTTP_RELAY_H
#define CAIRN_HTTP_RELAY_H

#include "http/tls.h"

#define RELAY_CAP (256 * 1024)
#define RELAY_HANDSHAKE_MS 10000

/* Starts a relay thread (detached) for session t over the TCP socket
 * net_fd, which may still be connecting (a non-blocking connect that
 * returned EINPROGRESS: the relay waits for it, and for a client session
 * then sends the ClientHello). peer names the other side in log lines
 * (copied). Takes t and net_fd in every case (freed and closed on error).
 * Returns 0 with *local_fd, the consumer's end (non-blocking, close-on-exec;
 * the consumer owns it), or an error. Any thread. */
int tls_relay_start(struct tls_conn *t, int net_fd, const char *peer, int *local_fd);
/* Waits up to timeout_ms for running relays to end (their consumers closed
 * their ends: at shutdown, before OpenSSL goes away with the process).
 * Returns how many still run. Main thread. */
int tls_relay_drain(unsigned timeout_ms);

#endif
