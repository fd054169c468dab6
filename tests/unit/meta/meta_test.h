/* Shared helpers for the meta unit tests (header-only, static). */
#ifndef CAIRN_TESTS_META_TEST_H
#define CAIRN_TESTS_META_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/err.h"
#include "meta/meta.h"

struct tstore {
	char dir[64];
	struct meta_store *s;
};

static inline void ts_open(struct tstore *t)
{
	strcpy(t->dir, "/tmp/cairn-meta-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	struct meta_options o = {.map_size = 1ull << 30, .node_id = 7};
	assert_int_equal(meta_store_open(t->dir, &o, &t->s), 0);
}

static inline void ts_reopen(struct tstore *t)
{
	meta_store_close(t->s);
	struct meta_options o = {.map_size = 1ull << 30, .node_id = 7};
	assert_int_equal(meta_store_open(t->dir, &o, &t->s), 0);
}

static inline void ts_close(struct tstore *t)
{
	char cmd[128];
	meta_store_close(t->s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", t->dir);
	assert_int_equal(system(cmd), 0);
}

/* A distinct, rising time for each command, from any thread (several
 * tests submit from threads of their own). */
static inline int64_t t_now(void)
{
	static _Atomic int64_t n = 1700000000000000000LL;
	return n += 1000;
}

static inline int mk_bucket(struct meta_store *s, const char *b)
{
	struct meta_cmd c = {.type = META_CMD_BUCKET_CREATE, .now = t_now()};
	c.bucket = b;
	c.bucket_len = strlen(b);
	return meta_submit_sync(s, &c);
}

static inline int set_versioning(struct meta_store *s, const char *b, int v)
{
	struct meta_cmd c = {.type = META_CMD_BUCKET_VERSIONING, .now = t_now()};
	c.bucket = b;
	c.bucket_len = strlen(b);
	c.versioning = (uint8_t)v;
	return meta_submit_sync(s, &c);
}

static inline void etag_of(const void *d, size_t n, char out[33])
{
	uint8_t md[16];
	cn_md5(d, n, md);
	cn_hex(md, 16, out);
}

/* PUT with inline data; res copied to *res if non-NULL. */
static inline int put_obj(struct meta_store *s, const char *b, const char *k, size_t klen,
			  const char *data, struct meta_cmd_result *res)
{
	char et[33];
	struct meta_cmd c = {.type = META_CMD_PUT_VERSION, .now = t_now()};
	c.bucket = b;
	c.bucket_len = strlen(b);
	c.key = k;
	c.key_len = klen;
	meta_version_id_new(s, c.vid);
	c.size = strlen(data);
	etag_of(data, c.size, et);
	c.etag = et;
	c.etag_len = 32;
	c.loc = META_LOC_INLINE;
	c.inline_data = data;
	c.inline_len = c.size;
	int rc = meta_submit_sync(s, &c);
	if (res)
		*res = c.res;
	return rc;
}

static inline int del_obj(struct meta_store *s, const char *b, const char *k, size_t klen,
			  const char *vid, struct meta_cmd_result *res)
{
	struct meta_cmd c = {.type = META_CMD_DELETE_OBJECT, .now = t_now()};
	c.bucket = b;
	c.bucket_len = strlen(b);
	c.key = k;
	c.key_len = klen;
	meta_version_id_new(s, c.vid);
	if (vid && strcmp(vid, "null") == 0)
		c.target_null = 1;
	else if (vid) {
		c.has_target = 1;
		assert_int_equal(meta_id_from_text(vid, strlen(vid), c.target_vid), 0);
	}
	int rc = meta_submit_sync(s, &c);
	if (res)
		*res = c.res;
	return rc;
}

static inline void check_stats(struct meta_store *s, const char *b)
{
	struct meta_stats a, r;
	assert_int_equal(meta_stats_get(s, b, &a), 0);
	assert_int_equal(meta_stats_recount(s, b, &r), 0);
	assert_true(a.objects == r.objects);
	assert_true(a.bytes == r.bytes);
	assert_true(a.versions == r.versions);
	assert_true(a.version_bytes == r.version_bytes);
}

#endif
