/*
 * core/pool.h — a per-request arena. Allocations live until the pool is
 * released; nothing is freed individually. Requests allocate headers, parsed
 * query parameters and response scratch here, so a request's memory dies
 * with it.
 *
 * Ownership: struct cn_pool is embedded (_init/_release). Thread rules: a
 * pool is used by one thread at a time.
 */
#ifndef CAIRN_CORE_POOL_H
#define CAIRN_CORE_POOL_H

#include <stddef.h>

struct cn_pool_block;

struct cn_pool {
	struct cn_pool_block *head;
	size_t total;
};

void cn_pool_init(struct cn_pool *p);
/* Frees every allocation of the pool; the pool may be reused after. */
void cn_pool_release(struct cn_pool *p);
/* Returns owned-by-pool memory (16-byte aligned), or NULL when out of memory. */
void *cn_pool_alloc(struct cn_pool *p, size_t len);
void *cn_pool_zalloc(struct cn_pool *p, size_t len);
/* Copies len bytes and appends a NUL. */
char *cn_pool_strndup(struct cn_pool *p, const char *s, size_t len);
/* printf into the pool. */
char *cn_pool_printf(struct cn_pool *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
