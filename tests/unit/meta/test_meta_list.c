/* Unit tests for meta listings: ListObjectsV2/V1 against a brute-force
 * reference model (random keys with bytes 0x00-0xFF, multi-byte UTF-8, long
 * keys sharing long prefixes, multi-character delimiters), paging by token and
 * marker, continuation under concurrent writes, max-keys 0/1/1000, the cost of
 * a delimiter listing, ListObjectVersions and ListMultipartUploads. */
#include "meta_test.h"

#include <uv.h>

struct key {
	uint8_t b[META_KEY_MAX];
	size_t n;
};

static int bcmp_(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	size_t n = an < bn ? an : bn;
	int c = n ? memcmp(a, b, n) : 0;
	return c ? c : (an < bn ? -1 : an > bn);
}

static int key_cmp(const void *x, const void *y)
{
	const struct key *a = x, *b = y;
	return bcmp_(a->b, a->n, b->b, b->n);
}

/* ---- bulk put through the async pipeline (group commit keeps it fast) ---- */

struct bulk {
	int done, failed;
};

static void bulk_cb(struct meta_cmd *c, int rc, void *arg)
{
	struct bulk *b = arg;
	(void)c;
	b->done++;
	if (rc)
		b->failed++;
}

static void bulk_put(struct meta_store *s, const char *bucket, const struct key *keys, size_t n)
{
	uv_loop_t loop;
	struct meta_waiter w;
	struct meta_cmd *cmds = calloc(n, sizeof(*cmds));
	struct bulk b = {0, 0};

	assert_non_null(cmds);
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(meta_waiter_init(&w, &loop), 0);
	for (size_t i = 0; i < n; i++) {
		struct meta_cmd *c = &cmds[i];
		c->type = META_CMD_PUT_VERSION;
		c->bucket = bucket;
		c->bucket_len = strlen(bucket);
		c->key = (const char *)keys[i].b;
		c->key_len = keys[i].n;
		c->now = t_now();
		meta_version_id_new(s, c->vid);
		c->etag = "0123456789abcdef0123456789abcdef";
		c->etag_len = 32;
		c->loc = META_LOC_INLINE;
		c->size = c->inline_len = 1;
		c->inline_data = "x";
		assert_int_equal(meta_submit(s, c, &w, bulk_cb, &b), 0);
	}
	while ((size_t)b.done < n)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(b.failed, 0);
	meta_waiter_close(&w, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	free(cmds);
}

/* ---- reference model ---- */

struct item {
	int is_prefix;
	uint8_t b[META_KEY_MAX];
	size_t n;
};

/* All results of a listing (no max), brute force over sorted keys. */
static size_t ref_list(const struct key *keys, size_t n, const uint8_t *prefix, size_t plen,
		       const uint8_t *delim, size_t dlen, const uint8_t *start, size_t slen,
		       struct item *out)
{
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		const struct key *k = &keys[i];
		if (k->n < plen || (plen && memcmp(k->b, prefix, plen) != 0))
			continue;
		if (start && bcmp_(k->b, k->n, start, slen) <= 0)
			continue;
		size_t cut = 0;
		if (dlen) {
			for (size_t j = plen; j + dlen <= k->n; j++)
				if (memcmp(k->b + j, delim, dlen) == 0) {
					cut = j + dlen;
					break;
				}
		}
		if (cut) {
			if (start && bcmp_(k->b, cut, start, slen) <= 0)
				continue;
			if (m && out[m - 1].is_prefix && out[m - 1].n == cut &&
			    memcmp(out[m - 1].b, k->b, cut) == 0)
				continue;
			out[m].is_prefix = 1;
			memcpy(out[m].b, k->b, cut);
			out[m].n = cut;
		} else {
			out[m].is_prefix = 0;
			memcpy(out[m].b, k->b, k->n);
			out[m].n = k->n;
		}
		m++;
	}
	return m;
}

/* Merges a result page (entries and prefixes, each sorted) into items. */
static size_t page_items(const struct meta_list_result *r, struct item *out)
{
	size_t i = 0, j = 0, m = 0;
	while (i < r->n || j < r->n_prefixes) {
		int take_prefix;
		if (i == r->n)
			take_prefix = 1;
		else if (j == r->n_prefixes)
			take_prefix = 0;
		else
			take_prefix = bcmp_((const uint8_t *)r->prefixes[j].p, r->prefixes[j].len,
					    (const uint8_t *)r->entries[i].key,
					    r->entries[i].key_len) < 0;
		if (take_prefix) {
			out[m].is_prefix = 1;
			memcpy(out[m].b, r->prefixes[j].p, r->prefixes[j].len);
			out[m].n = r->prefixes[j].len;
			j++;
		} else {
			out[m].is_prefix = 0;
			memcpy(out[m].b, r->entries[i].key, r->entries[i].key_len);
			out[m].n = r->entries[i].key_len;
			i++;
		}
		m++;
	}
	return m;
}

static void items_equal(const struct item *a, size_t an, const struct item *b, size_t bn)
{
	assert_int_equal(an, bn);
	for (size_t i = 0; i < an; i++) {
		assert_int_equal(a[i].is_prefix, b[i].is_prefix);
		assert_int_equal(a[i].n, b[i].n);
		assert_memory_equal(a[i].b, b[i].b, a[i].n);
	}
}

/* Lists everything with pages of max; v2 token or v1 marker paging. */
static size_t list_all(struct meta_store *s, const char *bucket, const uint8_t *prefix, size_t plen,
		       const uint8_t *delim, size_t dlen, unsigned max, int v1, struct item *out)
{
	size_t m = 0;
	char *token = NULL;
	uint8_t marker[META_KEY_MAX];
	size_t mlen = 0;
	int pages = 0;
	for (;;) {
		struct meta_list_params p = {.prefix = (const char *)prefix,
					     .prefix_len = plen,
					     .delimiter = (const char *)delim,
					     .delimiter_len = dlen,
					     .max = max};
		struct meta_list_result r;
		if (v1 && mlen) {
			p.start = (const char *)marker;
			p.start_len = mlen;
		}
		p.token = token;
		assert_int_equal(meta_list_objects(s, bucket, &p, &r), 0);
		assert_true(r.n + r.n_prefixes <= max);
		m += page_items(&r, out + m);
		free(token);
		token = NULL;
		pages++;
		assert_true(pages < 100000);
		if (!r.truncated) {
			meta_list_result_release(&r);
			break;
		}
		assert_true(r.n + r.n_prefixes == max);
		assert_non_null(r.next_token);
		token = v1 ? NULL : strdup(r.next_token);
		memcpy(marker, r.next_marker, r.next_marker_len);
		mlen = r.next_marker_len;
		meta_list_result_release(&r);
	}
	return m;
}

static uint32_t rng = 12345;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

static void gen_key(struct key *k, const uint8_t *longbase)
{
	static const char *atoms[] = {"a", "b", "/", "\x00", "\xff", "\xc3\xa9", "-", "ab", "~"};
	k->n = 0;
	if (rnd() % 4 == 0) {
		/* long key: 190..260 bytes of a shared base, then atoms, to 1024 */
		size_t base = 190 + rnd() % 70;
		memcpy(k->b, longbase, base);
		k->n = base;
		size_t target = rnd() % 3 == 0 ? 1024 : base + 1 + rnd() % 12;
		while (k->n < target) {
			const char *a = atoms[rnd() % 9];
			size_t al = a[0] == 0 ? 1 : strlen(a);
			if (k->n + al > target)
				break;
			memcpy(k->b + k->n, a, al);
			k->n += al;
		}
		if (k->n < target)
			memset(k->b + k->n, 'z', target - k->n), k->n = target;
		return;
	}
	size_t len = 1 + rnd() % 6;
	for (size_t i = 0; i < len; i++) {
		const char *a = atoms[rnd() % 9];
		size_t al = a[0] == 0 ? 1 : strlen(a);
		memcpy(k->b + k->n, a, al);
		k->n += al;
	}
}

static size_t dedup(struct key *keys, size_t n)
{
	size_t m = 0;
	qsort(keys, n, sizeof(*keys), key_cmp);
	for (size_t i = 0; i < n; i++)
		if (m == 0 || key_cmp(&keys[m - 1], &keys[i]) != 0)
			keys[m++] = keys[i];
	return m;
}

static void test_list_matches_reference(void **state)
{
	(void)state;
	struct tstore t;
	enum { NK = 600 };
	struct key *keys = calloc(NK, sizeof(*keys));
	struct item *want = calloc(NK + 1, sizeof(*want)), *got = calloc(NK + 1, sizeof(*got));
	uint8_t longbase[300];
	size_t n;
	int nonempty = 0;

	for (size_t i = 0; i < sizeof(longbase); i++)
		longbase[i] = (uint8_t)("abc/\xc3\xa9xy"[i % 8]);
	longbase[0] = 'a';
	for (size_t i = 0; i < NK; i++)
		gen_key(&keys[i], longbase);
	/* boundary lengths around the long-key cut */
	for (size_t L = 198; L <= 203; L++) {
		keys[L - 198].n = L;
		memcpy(keys[L - 198].b, longbase, L);
	}
	n = dedup(keys, NK);
	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "lst"), 0);
	bulk_put(t.s, "lst", keys, n);
	check_stats(t.s, "lst");

	struct {
		const char *d;
		size_t dl;
	} delims[] = {{NULL, 0},       {"/", 1},  {"ab", 2},  {"\x00", 1},
		      {"\xc3\xa9", 2}, {"/a", 2}, {"\xff", 1}};
	for (int round = 0; round < 60; round++) {
		uint8_t prefix[META_KEY_MAX];
		size_t plen = 0;
		int pick = rnd() % 4;
		if (pick == 1) {
			const struct key *k = &keys[rnd() % n];
			plen = rnd() % (k->n + 1);
			memcpy(prefix, k->b, plen);
		} else if (pick == 2) {
			plen = 195 + rnd() % 20;
			memcpy(prefix, longbase, plen);
		}
		int di = rnd() % 7;
		unsigned max = (unsigned[]){1, 2, 3, 7, 1000}[rnd() % 5];
		int v1 = rnd() % 2;
		size_t nw = ref_list(keys, n, prefix, plen, (const uint8_t *)delims[di].d,
				     delims[di].dl, NULL, 0, want);
		size_t ng = list_all(t.s, "lst", prefix, plen, (const uint8_t *)delims[di].d,
				     delims[di].dl, max, v1, got);
		items_equal(got, ng, want, nw);
		nonempty += nw > 0;
	}
	assert_true(nonempty > 40); /* the comparisons were not vacuous */
	/* start-after: arbitrary positions, including inside long groups */
	for (int round = 0; round < 40; round++) {
		const struct key *k = &keys[rnd() % n];
		struct meta_list_params p = {.start = (const char *)k->b,
					     .start_len = k->n - (rnd() % 2 ? 0 : k->n / 2),
					     .delimiter = rnd() % 2 ? "/" : NULL,
					     .max = 1000};
		p.delimiter_len = p.delimiter ? 1 : 0;
		struct meta_list_result r;
		assert_int_equal(meta_list_objects(t.s, "lst", &p, &r), 0);
		size_t ng = page_items(&r, got);
		size_t nw = ref_list(keys, n, NULL, 0, (const uint8_t *)p.delimiter,
				     p.delimiter_len, k->b, p.start_len, want);
		if (nw > 1000)
			nw = 1000;
		items_equal(got, ng, want, nw);
		meta_list_result_release(&r);
	}
	ts_close(&t);
	free(keys);
	free(want);
	free(got);
}

static void test_list_long_keys(void **state)
{
	(void)state;
	struct tstore t;
	enum { NK = 64 };
	struct key keys[NK];
	struct item want[NK + 1], got[NK + 1];

	/* 1024-byte keys sharing 900 bytes, delimiters inside the long part */
	for (int i = 0; i < NK; i++) {
		memset(keys[i].b, 'p', 1024);
		keys[i].b[100] = '/';
		keys[i].b[900] = (uint8_t)('a' + i % 4);
		keys[i].b[950] = '/';
		keys[i].b[1000] = (uint8_t)('A' + i / 4);
		keys[i].b[1001] = i % 3 == 0 ? 0 : '/';
		keys[i].n = i % 5 == 0 ? 1001 + (size_t)(i % 3) : 1024;
	}
	size_t n = dedup(keys, NK);
	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "lng"), 0);
	bulk_put(t.s, "lng", keys, n);
	uint8_t prefix[1024];
	memset(prefix, 'p', sizeof(prefix));
	prefix[100] = '/';
	size_t plens[] = {0, 50, 101, 500, 900, 901, 951, 1000};
	for (size_t pi = 0; pi < sizeof(plens) / sizeof(plens[0]); pi++) {
		for (unsigned max = 1; max <= 1000; max = max * 3 + 1) {
			size_t plen = plens[pi];
			if (plen > 900)
				prefix[900] = 'b';
			if (plen > 950)
				prefix[950] = '/';
			size_t nw = ref_list(keys, n, prefix, plen, (const uint8_t *)"/", 1, NULL,
					     0, want);
			size_t ng = list_all(t.s, "lng", prefix, plen, (const uint8_t *)"/", 1, max,
					     0, got);
			items_equal(got, ng, want, nw);
			nw = ref_list(keys, n, prefix, plen, NULL, 0, NULL, 0, want);
			ng = list_all(t.s, "lng", prefix, plen, NULL, 0, max, 1, got);
			items_equal(got, ng, want, nw);
		}
	}
	/* every long key reads back by its full key; delete works */
	for (size_t i = 0; i < n; i++) {
		struct meta_version v;
		assert_int_equal(meta_object_get(t.s, "lng", (const char *)keys[i].b, keys[i].n,
						 NULL, 0, &v),
				 0);
		assert_int_equal(v.key_len, keys[i].n);
		assert_memory_equal(v.key, keys[i].b, keys[i].n);
		meta_version_release(&v);
	}
	assert_int_equal(del_obj(t.s, "lng", (const char *)keys[3].b, keys[3].n, NULL, NULL), 0);
	struct meta_version v;
	assert_int_equal(
		meta_object_get(t.s, "lng", (const char *)keys[3].b, keys[3].n, NULL, 0, &v),
		CN_ENOKEY);
	check_stats(t.s, "lng");
	char big[1025];
	memset(big, 'q', sizeof(big));
	assert_int_equal(put_obj(t.s, "lng", big, 1025, "x", NULL), CN_EKEYTOOLONG);
	ts_close(&t);
}

static void test_list_edge_cases(void **state)
{
	(void)state;
	struct tstore t;
	struct meta_list_result r;
	struct meta_list_params p = {.max = 1000};

	ts_open(&t);
	assert_int_equal(meta_list_objects(t.s, "nob", &p, &r), CN_ENOBUCKET);
	assert_int_equal(mk_bucket(t.s, "edg"), 0);
	assert_int_equal(meta_list_objects(t.s, "edg", &p, &r), 0); /* empty bucket */
	assert_int_equal(r.n, 0);
	assert_false(r.truncated);
	meta_list_result_release(&r);
	const char *ks[] = {"a/", "a/b", "a/b/", "b", "c//d", "c/"};
	for (int i = 0; i < 6; i++)
		assert_int_equal(put_obj(t.s, "edg", ks[i], strlen(ks[i]), "1", NULL), 0);
	/* delimiter at the end of a key: "a/" is a prefix, not a key */
	p.delimiter = "/";
	p.delimiter_len = 1;
	assert_int_equal(meta_list_objects(t.s, "edg", &p, &r), 0);
	assert_int_equal(r.n, 1);
	assert_memory_equal(r.entries[0].key, "b", 1);
	assert_int_equal(r.n_prefixes, 2);
	assert_memory_equal(r.prefixes[0].p, "a/", 2);
	assert_memory_equal(r.prefixes[1].p, "c/", 2);
	assert_true(r.steps < 10);
	meta_list_result_release(&r);
	/* with prefix "a/": key "a/" itself is listed, "a/b/" is a prefix */
	p.prefix = "a/";
	p.prefix_len = 2;
	assert_int_equal(meta_list_objects(t.s, "edg", &p, &r), 0);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.entries[0].key_len, 2);
	assert_int_equal(r.entries[1].key_len, 3);
	assert_int_equal(r.n_prefixes, 1);
	assert_int_equal(r.prefixes[0].len, 4);
	assert_int_equal(r.entries[0].size, 1);
	assert_string_equal(r.entries[0].vid_text, "null");
	meta_list_result_release(&r);
	/* max-keys 0 and 1 */
	p.prefix = NULL;
	p.prefix_len = 0;
	p.max = 0;
	assert_int_equal(meta_list_objects(t.s, "edg", &p, &r), 0);
	assert_int_equal(r.n + r.n_prefixes, 0);
	assert_false(r.truncated);
	meta_list_result_release(&r);
	p.max = 1;
	assert_int_equal(meta_list_objects(t.s, "edg", &p, &r), 0);
	assert_int_equal(r.n_prefixes, 1);
	assert_true(r.truncated);
	assert_memory_equal(r.next_marker, "a/", 2);
	char *tok = strdup(r.next_token);
	meta_list_result_release(&r);
	p.token = tok;
	assert_int_equal(meta_list_objects(t.s, "edg", &p, &r), 0);
	assert_int_equal(r.n, 1);
	assert_memory_equal(r.entries[0].key, "b", 1);
	meta_list_result_release(&r);
	free(tok);
	p.token = "!!notbase64";
	assert_int_equal(meta_list_objects(t.s, "edg", &p, &r), CN_EBADTOKEN);
	p.token = "AmFi"; /* version byte 2 */
	assert_int_equal(meta_list_objects(t.s, "edg", &p, &r), CN_EBADTOKEN);
	ts_close(&t);
}

static void test_list_max_1000_and_cost(void **state)
{
	(void)state;
	struct tstore t;
	enum { NK = 3000 };
	struct key *keys = calloc(NK + 10, sizeof(*keys));
	struct meta_list_result r;

	for (int i = 0; i < NK; i++)
		keys[i].n = (size_t)snprintf((char *)keys[i].b, 32, "d/%06d", i);
	for (int i = 0; i < 10; i++)
		keys[NK + i].n = (size_t)snprintf((char *)keys[NK + i].b, 32, "e%d/x", i);
	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "big"), 0);
	bulk_put(t.s, "big", keys, NK + 10);
	struct meta_list_params p = {.max = 5000};
	assert_int_equal(meta_list_objects(t.s, "big", &p, &r), 0);
	assert_int_equal(r.n, 1000);
	assert_true(r.truncated);
	char *tok = strdup(r.next_token);
	meta_list_result_release(&r);
	p.token = tok;
	p.max = 1000;
	assert_int_equal(meta_list_objects(t.s, "big", &p, &r), 0);
	assert_int_equal(r.n, 1000);
	assert_memory_equal(r.entries[0].key, "d/001000", 8);
	meta_list_result_release(&r);
	free(tok);
	/* delimiter: 3000 keys under d/ cost one seek, not 3000 steps */
	struct meta_list_params q = {.max = 1000, .delimiter = "/", .delimiter_len = 1};
	assert_int_equal(meta_list_objects(t.s, "big", &q, &r), 0);
	assert_int_equal(r.n_prefixes, 11);
	assert_int_equal(r.n, 0);
	assert_false(r.truncated);
	assert_true(r.steps < 30);
	meta_list_result_release(&r);
	ts_close(&t);
	free(keys);
}

static void test_continuation_under_writes(void **state)
{
	(void)state;
	struct tstore t;
	enum { NK = 200 };
	struct key *keys = calloc(NK, sizeof(*keys));
	char seen[NK];
	int removed[NK];

	memset(seen, 0, sizeof(seen));
	memset(removed, 0, sizeof(removed));
	for (int i = 0; i < NK; i++)
		keys[i].n = (size_t)snprintf((char *)keys[i].b, 32, "k%04d", i * 2);
	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "cnt"), 0);
	bulk_put(t.s, "cnt", keys, NK);
	char *tok = NULL;
	uint8_t last[64];
	size_t lastn = 0;
	int pages = 0;
	for (;;) {
		struct meta_list_params p = {.max = 7, .token = tok};
		struct meta_list_result r;
		assert_int_equal(meta_list_objects(t.s, "cnt", &p, &r), 0);
		for (size_t i = 0; i < r.n; i++) {
			/* strictly increasing across pages: no duplicates, no going back */
			assert_true(bcmp_((const uint8_t *)r.entries[i].key, r.entries[i].key_len,
					  last, lastn) > 0);
			memcpy(last, r.entries[i].key, r.entries[i].key_len);
			lastn = r.entries[i].key_len;
			char nb[8] = {0};
			assert_int_equal(r.entries[i].key_len, 5);
			memcpy(nb, r.entries[i].key + 1, 4); /* keys are not NUL-terminated */
			int num = atoi(nb);
			if (num % 2 == 0)
				seen[num / 2] = 1;
		}
		free(tok);
		tok = r.truncated ? strdup(r.next_token) : NULL;
		meta_list_result_release(&r);
		if (!tok)
			break;
		/* between pages: insert odd keys, delete some even ones */
		char k[16];
		int ins = (int)(rnd() % (NK * 2)) | 1;
		snprintf(k, sizeof(k), "k%04d", ins);
		assert_int_equal(put_obj(t.s, "cnt", k, strlen(k), "n", NULL), 0);
		int del = (int)(rnd() % NK);
		if (!removed[del]) {
			removed[del] = 1;
			assert_int_equal(del_obj(t.s, "cnt", (const char *)keys[del].b, keys[del].n,
						 NULL, NULL),
					 0);
		}
		pages++;
	}
	assert_true(pages > 20);
	/* every key present throughout was returned exactly once */
	for (int i = 0; i < NK; i++)
		if (!removed[i])
			assert_true(seen[i]);
	check_stats(t.s, "cnt");
	ts_close(&t);
	free(keys);
}

static void test_list_versions(void **state)
{
	(void)state;
	struct tstore t;
	struct meta_cmd_result r;
	struct meta_list_result lr;

	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "ver"), 0);
	assert_int_equal(put_obj(t.s, "ver", "a", 1, "0", NULL), 0); /* null version */
	assert_int_equal(set_versioning(t.s, "ver", META_VERSIONING_ENABLED), 0);
	char vids[4][33];
	for (int i = 0; i < 3; i++) {
		assert_int_equal(put_obj(t.s, "ver", "a", 1, "v", &r), 0);
		strcpy(vids[i], r.vid_text);
	}
	assert_int_equal(del_obj(t.s, "ver", "a", 1, NULL, &r), 0);
	strcpy(vids[3], r.vid_text);
	assert_int_equal(put_obj(t.s, "ver", "b/x", 3, "v", NULL), 0);
	assert_int_equal(put_obj(t.s, "ver", "c", 1, "v", NULL), 0);
	/* a: marker, v2, v1, v0, null; b/ prefix; c */
	struct meta_list_params p = {.max = 1000, .delimiter = "/", .delimiter_len = 1};
	assert_int_equal(meta_list_versions(t.s, "ver", &p, &lr), 0);
	assert_int_equal(lr.n, 6);
	assert_int_equal(lr.n_prefixes, 1);
	assert_string_equal(lr.entries[0].vid_text, vids[3]);
	assert_true(lr.entries[0].flags & META_VF_DELETE_MARKER);
	assert_true(lr.entries[0].flags & META_VF_LATEST);
	assert_string_equal(lr.entries[1].vid_text, vids[2]);
	assert_false(lr.entries[1].flags & META_VF_LATEST);
	assert_string_equal(lr.entries[3].vid_text, vids[0]);
	assert_string_equal(lr.entries[4].vid_text, "null");
	assert_memory_equal(lr.entries[5].key, "c", 1);
	assert_true(lr.entries[5].flags & META_VF_LATEST);
	meta_list_result_release(&lr);
	/* paging with key-marker + version-id-marker, one at a time */
	const char *order[] = {vids[3], vids[2], vids[1], vids[0], "null"};
	char km[64] = "", vm[40] = "";
	size_t kml = 0;
	for (int i = 0;; i++) {
		struct meta_list_params q = {.max = 1,
					     .start = km,
					     .start_len = kml,
					     .id_marker = vm,
					     .prefix = "a",
					     .prefix_len = 1};
		assert_int_equal(meta_list_versions(t.s, "ver", &q, &lr), 0);
		if (i < 5) {
			assert_int_equal(lr.n, 1);
			assert_string_equal(lr.entries[0].vid_text, order[i]);
			assert_int_equal(!!(lr.entries[0].flags & META_VF_LATEST), i == 0);
		} else {
			assert_int_equal(lr.n, 0);
			assert_false(lr.truncated);
			meta_list_result_release(&lr);
			break;
		}
		assert_int_equal(lr.truncated, i < 4);
		memcpy(km, lr.next_marker, lr.next_marker_len);
		kml = lr.next_marker_len;
		strcpy(vm, lr.next_id);
		meta_list_result_release(&lr);
	}
	/* id marker without key marker is an error */
	struct meta_list_params bad = {.max = 10, .id_marker = vids[0]};
	assert_int_equal(meta_list_versions(t.s, "ver", &bad, &lr), CN_EBADARG);
	check_stats(t.s, "ver");
	ts_close(&t);
}

static void test_list_uploads(void **state)
{
	(void)state;
	struct tstore t;
	struct meta_list_result lr;
	uint8_t ids[3][16];
	const char *keys[3] = {"x/1", "y", "y"};

	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "upl"), 0);
	for (int i = 0; i < 3; i++) {
		struct meta_cmd u = {.type = META_CMD_UPLOAD_CREATE,
				     .bucket = "upl",
				     .bucket_len = 3,
				     .key = keys[i],
				     .key_len = strlen(keys[i]),
				     .now = t_now()};
		meta_upload_id_new(t.s, ids[i]);
		memcpy(u.upload_id, ids[i], 16);
		assert_int_equal(meta_submit_sync(t.s, &u), 0);
	}
	struct meta_list_params p = {.max = 1000};
	assert_int_equal(meta_list_uploads(t.s, "upl", &p, &lr), 0);
	assert_int_equal(lr.n, 3);
	assert_memory_equal(lr.entries[1].key, "y", 1);
	assert_memory_equal(lr.entries[1].vid, ids[1], 16);
	assert_memory_equal(lr.entries[2].vid, ids[2], 16);
	meta_list_result_release(&lr);
	char idt[33];
	meta_id_to_text(ids[1], idt);
	struct meta_list_params q = {.max = 1000,
				     .start = "y",
				     .start_len = 1,
				     .id_marker = idt,
				     .delimiter = "/",
				     .delimiter_len = 1};
	assert_int_equal(meta_list_uploads(t.s, "upl", &q, &lr), 0);
	assert_int_equal(lr.n, 1);
	assert_memory_equal(lr.entries[0].vid, ids[2], 16);
	meta_list_result_release(&lr);
	q.start = NULL;
	q.start_len = 0;
	q.id_marker = NULL;
	assert_int_equal(meta_list_uploads(t.s, "upl", &q, &lr), 0);
	assert_int_equal(lr.n, 2);
	assert_int_equal(lr.n_prefixes, 1);
	meta_list_result_release(&lr);
	ts_close(&t);
}

/* Versions of 1024-byte keys in one long-key group, paged one by one. */
static void test_list_versions_long_keys(void **state)
{
	(void)state;
	struct tstore t;
	enum { NK = 6, NV = 3 };
	struct key keys[NK];
	char vids[NK][NV][33];

	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "lvk"), 0);
	assert_int_equal(set_versioning(t.s, "lvk", META_VERSIONING_ENABLED), 0);
	for (int i = 0; i < NK; i++) {
		memset(keys[i].b, 'h', 1024);
		keys[i].b[950] = (uint8_t)('z' - i); /* hash order != key order */
		keys[i].n = 1024;
	}
	/* versions interleaved across keys so ids do not follow key order */
	for (int v = 0; v < NV; v++)
		for (int i = 0; i < NK; i++) {
			struct meta_cmd_result r;
			if (v == NV - 1 && i % 2)
				assert_int_equal(del_obj(t.s, "lvk", (const char *)keys[i].b, 1024,
							 NULL, &r),
						 0);
			else
				assert_int_equal(
					put_obj(t.s, "lvk", (const char *)keys[i].b, 1024, "v", &r),
					0);
			strcpy(vids[i][v], r.vid_text);
		}
	qsort(keys, NK, sizeof(keys[0]), key_cmp); /* 'u'..'z' ascending */
	char km[META_KEY_MAX], vm[40] = "";
	size_t kml = 0;
	for (int step = 0; step < NK * NV; step++) {
		struct meta_list_params q = {
			.max = 1, .start = km, .start_len = kml, .id_marker = vm};
		struct meta_list_result lr;
		assert_int_equal(meta_list_versions(t.s, "lvk", &q, &lr), 0);
		assert_int_equal(lr.n, 1);
		int ki = step / NV, v = NV - 1 - step % NV; /* newest first */
		int orig = 'z' - keys[ki].b[950];
		assert_int_equal(lr.entries[0].key_len, 1024);
		assert_memory_equal(lr.entries[0].key, keys[ki].b, 1024);
		assert_string_equal(lr.entries[0].vid_text, vids[orig][v]);
		assert_int_equal(!!(lr.entries[0].flags & META_VF_LATEST), v == NV - 1);
		assert_int_equal(!!(lr.entries[0].flags & META_VF_DELETE_MARKER),
				 v == NV - 1 && orig % 2);
		assert_int_equal(lr.truncated, step + 1 < NK * NV);
		memcpy(km, lr.next_marker, lr.next_marker_len);
		kml = lr.next_marker_len;
		strcpy(vm, lr.next_id);
		meta_list_result_release(&lr);
	}
	/* current objects: only the keys whose latest is not a marker */
	struct meta_list_params p = {.max = 1000};
	struct meta_list_result lr;
	assert_int_equal(meta_list_objects(t.s, "lvk", &p, &lr), 0);
	assert_int_equal(lr.n, NK / 2);
	meta_list_result_release(&lr);
	check_stats(t.s, "lvk");
	ts_close(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_matches_reference),
		cmocka_unit_test(test_list_long_keys),
		cmocka_unit_test(test_list_edge_cases),
		cmocka_unit_test(test_list_max_1000_and_cost),
		cmocka_unit_test(test_continuation_under_writes),
		cmocka_unit_test(test_list_versions),
		cmocka_unit_test(test_list_uploads),
		cmocka_unit_test(test_list_versions_long_keys),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests_name("meta_list", tests, NULL, NULL);
}
