/*
 * core/buf.h — the one growable byte buffer: XML and JSON documents, the
 * SigV4 canonical request, metadata records and listing arenas are all
 * written into a struct cn_buf.
 *
 * Invariants: the bytes are always followed by a NUL (p[len] == 0 once
 * anything was written), so text users may treat s as a C string; errors
 * are sticky (the first CN_ENOMEM, or CN_ETOOBIG past max, stays in err and
 * later writes do nothing), so a writer checks once at the end.
 *
 * Ownership: embedded by the caller (_init/_release); the buffer owns its
 * heap bytes until released (cn_buf_take hands them over). Thread rules: one
 * thread at a time.
 */
#ifndef CAIRN_CORE_BUF_H
#define CAIRN_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

struct cn_buf {
	union {
		char *s;    /* text view */
		uint8_t *p; /* byte view */
	};
	size_t len, cap;
	size_t max; /* 0: no limit but memory; else CN_ETOOBIG beyond */
	int err;    /* sticky: 0, CN_ENOMEM or CN_ETOOBIG */
};

void cn_buf_init(struct cn_buf *b);
/* Same, refusing to grow past max bytes of content. */
void cn_buf_init_max(struct cn_buf *b, size_t max);
void cn_buf_release(struct cn_buf *b);
/* Empties the buffer (and clears err), keeping its memory. */
void cn_buf_reset(struct cn_buf *b);
/* Room for n more bytes: returns where to write them (len is advanced by
 * n) or NULL after an error. */
void *cn_buf_grow_slow(struct cn_buf *b, size_t n);
static inline void *cn_buf_grow(struct cn_buf *b, size_t n)
{
	uint8_t *r;

	/* inline when it fits: a listing grows its document ~30 times per
	 * entry, a SigV4 canonical request (which has a max) ~80 times per
	 * request (len + n cannot wrap once it is below cap) */
	if (b->err || n >= b->cap - b->len || (b->max && b->len + n > b->max))
		return cn_buf_grow_slow(b, n);
	r = b->p + b->len;
	b->len += n;
	b->p[b->len] = 0;
	return r;
}
/* Makes room for n more bytes without writing them, so that a document
 * of known size is not copied by each doubling on the way. An error stays
 * sticky as for grow. */
void cn_buf_reserve(struct cn_buf *b, size_t n);
void cn_buf_put(struct cn_buf *b, const void *p, size_t n);
void cn_buf_putc(struct cn_buf *b, char c);
void cn_buf_puts(struct cn_buf *b, const char *s);
void cn_buf_printf(struct cn_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the bytes to the caller (free() them; NULL if none) and empties b. */
char *cn_buf_take(struct cn_buf *b);

#endif
