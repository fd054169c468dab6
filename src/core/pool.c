/*
 * core/pool.c — see pool.h. Blocks grow geometrically from 4 KiB; large
 * allocations get a block of their own.
 */
#include "core/pool.h"

#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Under AddressSanitizer every allocation is followed by a poisoned red
 * zone and a block's unused room stays poisoned, so a write past an
 * allocation's length is reported as it would be for malloc; without it,
 * ASan sees one block and misses overflows from one allocation into the
 * next. */
#if defined(__SANITIZE_ADDRESS__)
#define POOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_ASAN 1
#endif
#endif
#ifdef POOL_ASAN
#include <sanitizer/asan_interface.h>
#define POOL_REDZONE 16
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POOL_REDZONE 0
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

struct cn_pool_block {
	struct cn_pool_block *next;
	size_t cap;
	size_t used;
	_Alignas(16) unsigned char data[];
};

void cn_pool_init(struct cn_pool *p)
{
	p->head = NULL;
	p->total = 0;
}

void cn_pool_release(struct cn_pool *p)
{
	struct cn_pool_block *b = p->head, *n;

	while (b) {
		n = b->next;
		UNPOISON(b->data, b->cap);
		free(b);
		b = n;
	}
	p->head = NULL;
	p->total = 0;
}

void *cn_pool_alloc(struct cn_pool *p, size_t len)
{
	struct cn_pool_block *b = p->head;
	size_t need = (len + POOL_REDZONE + 15) & ~(size_t)15;

	if (need < len)
		return NULL;
	if (!b || b->cap - b->used < need) {
		size_t cap = b ? b->cap * 2 : 4096;
		if (cap > 256 * 1024)
			cap = 256 * 1024;
		if (cap < need)
			cap = need;
		b = malloc(sizeof(*b) + cap);
		if (!b)
			return NULL;
		b->cap = cap;
		b->used = 0;
		POISON(b->data, cap);
		/* A big one-off block goes second so the head keeps its room. */
		if (p->head && need > p->head->cap / 2) {
			b->next = p->head->next;
			p->head->next = b;
		} else {
			b->next = p->head;
			p->head = b;
		}
		p->total += cap;
	}
	void *r = b->data + b->used;
	assert(b->cap - b->used >= need && ((uintptr_t)r & 15) == 0);
	b->used += need;
	UNPOISON(r, len);
	return r;
}

void *cn_pool_zalloc(struct cn_pool *p, size_t len)
{
	void *r = cn_pool_alloc(p, len);
	if (r)
		memset(r, 0, len);
	return r;
}

char *cn_pool_strndup(struct cn_pool *p, const char *s, size_t len)
{
	char *r = cn_pool_alloc(p, len + 1);
	if (!r)
		return NULL;
	if (len)
		memcpy(r, s, len);
	r[len] = 0;
	return r;
}

char *cn_pool_printf(struct cn_pool *p, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *r;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	r = cn_pool_alloc(p, (size_t)n + 1);
	if (!r)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(r, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return r;
}
