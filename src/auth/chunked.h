/*
 * auth/chunked.h — streaming decoder for aws-chunked request bodies
 * (Content-Encoding: aws-chunked), with chunk signatures and trailers.
 *
 * Layer: auth. Wire format (S3 "Transferring Payload in Multiple Chunks"):
 *
 *   chunk   = hex-size [";chunk-signature=" 64HEX] CRLF data CRLF
 *   body    = *chunk last-chunk trailer CRLF
 *   last    = "0" [";chunk-signature=" 64HEX] CRLF
 *   trailer = *( "x-amz-checksum-<alg>:" base64 CRLF )
 *             [ "x-amz-trailer-signature:" 64HEX CRLF ]
 *
 * Invariants: memory is bounded (one header/trailer line of at most
 * AWSCHUNKED_LINE_MAX bytes); payload bytes are handed to the callback as
 * they arrive, never buffered per chunk. Input may be split at any byte.
 * Consequence: bytes are delivered BEFORE their chunk signature (and the
 * trailer checksum) is verified — a caller must treat everything it
 * received as provisional until awschunked_finish() returns 0, and discard
 * it on any error.
 *
 * Thread rules: one decoder is used by one thread at a time; no shared
 * state.
 */
#ifndef CAIRN_AUTH_CHUNKED_H
#define CAIRN_AUTH_CHUNKED_H

#include <stddef.h>
#include <stdint.h>

#include "auth/sigv4.h"
#include "core/digest.h"

#define AWSCHUNKED_LINE_MAX 256

/* Receives decoded payload bytes (borrowed for the call). Returns 0 to go
 * on, or a negative error which awschunked_feed() returns. */
typedef int (*awschunked_data_cb)(void *arg, const char *buf, size_t len);

enum awschunked_trailer_mode {
	AWSCHUNKED_TRAILER_NONE = 0,
	AWSCHUNKED_TRAILER_UNSIGNED,
	AWSCHUNKED_TRAILER_SIGNED,
};

struct awschunked {
	/* configuration, from init */
	int sign_chunks; /* every chunk carries a verified chunk-signature */
	enum awschunked_trailer_mode trailer_mode;
	struct sigv4_result auth;  /* copy of the verified request (signed modes) */
	uint64_t decoded_len;	   /* expected payload length or UINT64_MAX */
	enum cn_checksum_alg want; /* the declared x-amz-trailer checksum */

	/* progress (private) */
	int state;
	int err; /* sticky: once set, every call returns it */
	uint64_t chunk_left;
	char prev_sig[65];
	char claimed_sig[65];
	char line[AWSCHUNKED_LINE_MAX];
	size_t line_len;
	struct cn_digest chunk_hash;
	int chunk_hash_live;
	struct cn_digest payload_hash;
	int payload_hash_live;
	struct cn_digest trailer_hash;
	int trailer_hash_live;
	int got_trailer_sig;

	/* results, for the caller */
	uint64_t total;			       /* decoded payload bytes so far */
	enum cn_checksum_alg checksum_alg;     /* trailer checksum received (NONE if none) */
	char checksum_b64[49];		       /* its value as sent, NUL-terminated */
	uint8_t checksum_raw[CN_CHECKSUM_MAX]; /* decoded big-endian value */
	size_t checksum_len;
};

/* Prepares d (caller-owned storage). auth is the verified request (borrowed,
 * copied) or NULL for an unauthenticated body; its payload mode selects
 * signed chunks and/or a signed or unsigned trailer. decoded_len is
 * x-amz-decoded-content-length or UINT64_MAX. expected_trailer is the
 * x-amz-trailer header value ("x-amz-checksum-crc32c", any case) or NULL;
 * when given, that checksum trailer must arrive and match the payload.
 * Returns 0, CN_EBADARG (unknown trailer name, or a trailer with a mode that
 * has none) or CN_ENOMEM; on error d needs no release. Any thread. */
int awschunked_init(struct awschunked *d, const struct sigv4_result *auth, uint64_t decoded_len,
		    const char *expected_trailer);

/* Consumes len bytes of the encoded body (borrowed) and calls cb with the
 * decoded payload bytes. Returns 0, or CN_EBADCHUNK (framing), CN_EBADSIG
 * (chunk or trailer signature), CN_EBADCHECKSUM (trailer checksum),
 * CN_EBADCKVALUE (a trailer checksum value of the wrong shape),
 * CN_EINCOMPLETE (decoded length short of x-amz-decoded-content-length),
 * CN_ENOMEM, or the callback's error. Errors are sticky. */
int awschunked_feed(struct awschunked *d, const char *buf, size_t len, awschunked_data_cb cb,
		    void *arg);

/* Call at end of input. Returns 0 only if the body ended exactly after its
 * final trailer line and everything verified; CN_EINCOMPLETE if it was cut
 * short; otherwise the sticky error. */
int awschunked_finish(struct awschunked *d);

/* Frees digest state and wipes the copied signing key. Safe after any
 * outcome of feed/finish. */
void awschunked_release(struct awschunked *d);

#endif
