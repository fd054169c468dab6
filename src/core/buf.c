/*
 * core/buf.c — see buf.h.
 */
#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

void cn_buf_init(struct cn_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void cn_buf_init_max(struct cn_buf *b, size_t max)
{
	cn_buf_init(b);
	b->max = max;
}

void cn_buf_release(struct cn_buf *b)
{
	free(b->p);
	cn_buf_init_max(b, b->max);
}

void cn_buf_reset(struct cn_buf *b)
{
	b->len = 0;
	b->err = 0;
	if (b->p)
		b->p[0] = 0;
}

void *cn_buf_grow_slow(struct cn_buf *b, size_t n)
{
	size_t need;
	uint8_t *r;

	if (b->err)
		return NULL;
	if (n > SIZE_MAX - b->len - 1 || (b->max && b->len + n > b->max)) {
		b->err = CN_ETOOBIG;
		return NULL;
	}
	need = b->len + n + 1; /* and the NUL */
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		uint8_t *p;
		while (cap < need)
			cap = cap > SIZE_MAX / 2 ? need : cap * 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->err = CN_ENOMEM;
			return NULL;
		}
		b->p = p;
		b->cap = cap;
	}
	r = b->p + b->len;
	b->len += n;
	b->p[b->len] = 0;
	return r;
}

void cn_buf_reserve(struct cn_buf *b, size_t n)
{
	if (cn_buf_grow(b, n))
		b->len -= n;
	if (b->p)
		b->p[b->len] = 0;
}

void cn_buf_put(struct cn_buf *b, const void *p, size_t n)
{
	void *d = cn_buf_grow(b, n);

	if (d && n)
		memcpy(d, p, n);
}

void cn_buf_putc(struct cn_buf *b, char c)
{
	cn_buf_put(b, &c, 1);
}

void cn_buf_puts(struct cn_buf *b, const char *s)
{
	cn_buf_put(b, s, strlen(s));
}

void cn_buf_printf(struct cn_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *d;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		if (!b->err)
			b->err = CN_EINVAL;
		return;
	}
	d = cn_buf_grow(b, (size_t)n);
	if (!d)
		return;
	va_start(ap, fmt);
	vsnprintf(d, (size_t)n + 1, fmt, ap); /* the +1 is the NUL grow left */
	va_end(ap);
}

char *cn_buf_take(struct cn_buf *b)
{
	char *s = b->s;

	cn_buf_init_max(b, b->max);
	return s;
}
