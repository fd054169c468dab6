/*
 * http/formdata.h — a streaming push parser for multipart/form-data bodies
 * (RFC 7578 over the multipart grammar of RFC 2046 §5.1.1), for S3 POST
 * Object (browser uploads).
 *
 * Layer: http (below s3/, which drives it). Pure logic: no sockets, no
 * clock; the caller pushes body bytes as they arrive, in any chunking (one
 * byte at a time included), and the parser calls back per part.
 *
 * Invariants: memory is fixed at formdata_init() (one allocation: a header
 * buffer of FORMDATA_MAX_HEADER bytes, its decoded copy, and the value
 * buffer of value_cap bytes); nothing is allocated or copied per byte of a
 * streamed part: its bytes reach part_data as slices of the caller's buffer,
 * or, for the few bytes that looked like the start of a delimiter and were
 * not, from the parser's copy of the delimiter. Every limit breach is an
 * error, never a truncation. After an error or a stop no callback runs again.
 *
 * States (formdata_feed() moves them; a full delimiter is "\r\n--" boundary):
 *
 *   PREAMBLE --delimiter line--> HEADER --blank line / part_begin--> BODY
 *       |                          ^                                   |
 *       |                          +----delimiter line / part_end------+
 *       +--"--" boundary "--"--> DONE <--close delimiter / part_end----+
 *   any --malformed / limit / callback error--> ERROR
 *   any --callback returns FORMDATA_STOP--> DONE
 *
 * An S3 POST handler: formdata_boundary() on the Content-Type; part_begin
 * answers FORMDATA_STREAM for the part named "file" (its bytes go to the
 * blob writer; pause the request when that pushes back) and FORMDATA_BUFFER
 * for the others (their values arrive whole in part_end); part_end of
 * "file" answers FORMDATA_STOP, since S3 ignores what follows the file.
 *
 * Thread rules: one struct formdata is used by one thread at a time.
 */
#ifndef CAIRN_HTTP_FORMDATA_H
#define CAIRN_HTTP_FORMDATA_H

#include <stddef.h>
#include <stdint.h>

#define FORMDATA_MAX_BOUNDARY 70     /* RFC 2046: 1 to 70 characters */
#define FORMDATA_MAX_HEADER 8192     /* a part's header section, CRLFs included */
#define FORMDATA_DEFAULT_PARTS 64    /* max_parts when the limits say 0 */
#define FORMDATA_DEFAULT_VALUE 20480 /* value_cap when the limits say 0 */

/* What part_begin wants done with the part's bytes; also the "stop" answer
 * every callback may give. */
enum formdata_action {
	FORMDATA_BUFFER = 0, /* collect the value (at most value_cap bytes) for part_end */
	FORMDATA_STREAM = 1, /* hand the bytes to part_data as they come, unbounded */
	FORMDATA_SKIP = 2,   /* drop the bytes; part_end still runs */
	FORMDATA_STOP = 3,   /* stop parsing: the rest of the body is ignored */
};

/* formdata_feed() and formdata_finish(): the body is complete (the close
 * delimiter was seen, or a callback stopped the parser). */
#define FORMDATA_DONE 1

/* Which rule an error broke (struct formdata.fail), for the S3 error a
 * handler answers: the codes alone do not tell the limits apart. */
enum formdata_fail {
	FORMDATA_OK = 0,
	FORMDATA_FAIL_SYNTAX,	 /* CN_EBADREQ: not multipart/form-data as RFC 2046/7578 say */
	FORMDATA_FAIL_HEADER,	 /* CN_ETOOBIG: a part's headers exceed FORMDATA_MAX_HEADER */
	FORMDATA_FAIL_PARTS,	 /* CN_ETOOBIG: more than max_parts parts */
	FORMDATA_FAIL_VALUE,	 /* CN_ETOOBIG: a buffered value exceeds value_cap */
	FORMDATA_FAIL_TRUNCATED, /* CN_EINCOMPLETE: the body ended before the close delimiter */
	FORMDATA_FAIL_CALLBACK,	 /* a callback's own error, passed through */
};

/* One part as its headers describe it. Strings are NUL-terminated copies
 * (quoted-string escapes \" and \\ undone, percent-escapes left as sent)
 * owned by the parser, valid until part_end returns. */
struct formdata_part {
	const char *name; /* Content-Disposition name="..." (always present) */
	size_t name_len;
	const char *filename; /* filename="...", NULL when the part has none */
	size_t filename_len;
	const char *content_type; /* Content-Type, trimmed; NULL when absent */
	size_t content_type_len;
	size_t index; /* 0 for the first part */
};

/* Callbacks; each may be NULL (part_begin NULL means FORMDATA_BUFFER). They
 * run on the thread calling formdata_feed(). A negative return is an error
 * that formdata_feed() returns as is (fail = FORMDATA_FAIL_CALLBACK). */
struct formdata_cb {
	/* The part's headers are complete. Returns an enum formdata_action or
	 * a negative error. */
	int (*part_begin)(void *arg, const struct formdata_part *part);
	/* FORMDATA_STREAM parts only: the next bytes of the value, borrowed for
	 * the call. Returns 0, FORMDATA_STOP or a negative error. */
	int (*part_data)(void *arg, const void *p, size_t len);
	/* The part ended at a delimiter. value/len: the collected value of a
	 * FORMDATA_BUFFER part (not NUL-terminated, may hold any byte; borrowed
	 * for the call), NULL/0 otherwise. Returns 0, FORMDATA_STOP or a
	 * negative error. A part cut short by an error gets no part_end. */
	int (*part_end)(void *arg, const struct formdata_part *part, const char *value, size_t len);
};

struct formdata_limits {
	size_t max_parts; /* parts the body may hold; 0: FORMDATA_DEFAULT_PARTS */
	size_t value_cap; /* largest FORMDATA_BUFFER value; 0: FORMDATA_DEFAULT_VALUE */
};

/* Private state, exposed only so the struct can be embedded. */
enum formdata_state {
	FORMDATA_S_PREAMBLE = 0,
	FORMDATA_S_HEADER,
	FORMDATA_S_BODY,
	FORMDATA_S_BOUNDARY, /* a whole delimiter matched: the next byte decides */
	FORMDATA_S_DASH,     /* delimiter then '-': a second '-' closes */
	FORMDATA_S_PADDING,  /* transport padding (SP / HT) before CRLF */
	FORMDATA_S_LF,	     /* CR after the delimiter; LF must follow */
	FORMDATA_S_DONE,
	FORMDATA_S_ERROR,
};

struct formdata {
	const struct formdata_cb *cb;
	void *arg;
	char delim[4 + FORMDATA_MAX_BOUNDARY]; /* "\r\n--" boundary */
	size_t delim_len;
	size_t max_parts;
	size_t value_cap;
	enum formdata_state state;
	enum formdata_fail fail;     /* why the parser is in FORMDATA_S_ERROR */
	int err;		     /* the code formdata_feed() keeps returning then */
	size_t match;		     /* bytes of delim matched so far */
	size_t phantom;		     /* of those, the leading CRLF never read as data (0 or 2) */
	enum formdata_action action; /* of the current part */
	size_t n_parts;		     /* parts begun (header section started) */
	char *hdr;		     /* FORMDATA_MAX_HEADER bytes */
	size_t hdr_len;
	size_t line_start; /* offset in hdr of the current header line */
	char *meta;	   /* decoded name, filename, content type */
	char *value;	   /* value_cap bytes */
	size_t value_len;
	struct formdata_part part;
};

/* Prepares fd to parse a body whose delimiter is boundary (len bytes, no
 * quotes: see formdata_boundary()). Borrows cb and arg until
 * formdata_release(); copies boundary; lim may be NULL (defaults). Returns
 * 0, CN_EBADREQ (boundary empty, longer than 70 bytes or holding a byte
 * RFC 2046 does not allow) or CN_ENOMEM; on error nothing needs releasing.
 * Any thread. */
int formdata_init(struct formdata *fd, const char *boundary, size_t len,
		  const struct formdata_limits *lim, const struct formdata_cb *cb, void *arg);

/* Pushes the next len bytes of the body (borrowed for the call). Returns 0
 * (more is expected), FORMDATA_DONE (complete or stopped; further bytes are
 * accepted and ignored), or an error that every later call returns again:
 * CN_EBADREQ, CN_ETOOBIG (fd->fail tells which limit) or a callback's.
 * The thread that owns fd. */
int formdata_feed(struct formdata *fd, const void *p, size_t len);

/* The body has ended. Returns 0 when it was complete (or stopped),
 * CN_EINCOMPLETE when it ended inside a part or a delimiter, CN_EBADREQ when
 * it never held a delimiter, or the error already returned by
 * formdata_feed(). Calls no callback. The thread that owns fd. */
int formdata_finish(struct formdata *fd);

/* Frees what formdata_init() allocated; fd may then be initialised again.
 * The thread that owns fd. */
void formdata_release(struct formdata *fd);

/* Extracts the boundary parameter from a Content-Type header value (len
 * bytes, borrowed) that must name multipart/form-data (any case). The value
 * may be a token or a quoted-string. Writes it NUL-terminated into out (cap
 * bytes; FORMDATA_MAX_BOUNDARY + 1 always suffices). Returns 0, CN_EBADREQ
 * (another media type, no or a repeated boundary parameter, or a boundary
 * RFC 2046 does not allow) or CN_ETOOBIG (cap too small). Any thread. */
int formdata_boundary(const char *content_type, size_t len, char *out, size_t cap);

#endif
