/* Unit tests for remote shard writes (data.h: struct data_remote's w*
 * calls, struct data_placer, data_write_quorum, blob_layout.missing) and
 * their receiving side (data_shard_sink_*), with a realistic in-process
 * "network": three data stores A, B, C on their own temporary drives
 * (A: 1 drive, B: 2, C: 1). Every store's data_remote forwards to the store
 * that owns the target drive (data_shard_sink_* for writes,
 * data_shard_pread for reads), as cluster/shard.c does over sockets; A's
 * placer names drives across the three stores. Faults are injected per
 * drive in wopen / wput / wseal / wwait; a recording mode keeps every
 * record and header the writer streams, which the sink tests replay with
 * modifications. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "data_test.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "data/data_int.h" /* SHARD_HDR_*, shard_header_encode/decode */

#define NNODES 3
#define NDRIVES 4 /* global drive numbers: 0 = A0, 1 = B0, 2 = B1, 3 = C0 */
#define RLOG_MAX 64

struct node {
	struct tdirs t;
	struct data_store *s;
	int nd;
	int g0; /* global number of its first drive */
};

/* What the writer streamed for one shard (recording mode). */
struct rlog {
	uint8_t *rec[RLOG_MAX];
	size_t len[RLOG_MAX];
	int n;
	uint8_t hdr[SHARD_HDR_MAX];
	size_t hdr_len;
};

struct net {
	struct node node[NNODES];
	uint8_t id[NDRIVES][DATA_ID_LEN];
	const char *path[NDRIVES];
	/* placement */
	int no_place;
	uint8_t k, m;
	uint8_t place[DATA_MAX_SHARDS][DATA_ID_LEN];
	/* faults: bit g = drive g */
	unsigned fail_open, fail_put, fail_seal, fail_wait;
	unsigned full_open; /* wopen answers CN_ENOSPACE: the drive is full */
	/* the node of drive g takes everything and never answers (SIGSTOP):
	 * its wwait blocks SILENT_MS, as a socket's ack timeout would */
	unsigned silent;
	long put_after; /* fail_put: records accepted before the failure */
	/* accounting */
	int opened, freed;
	/* bumped by the store's fetch threads as well as the test's: atomic,
	 * or two fetches at once can count as one */
	_Atomic long preads, cached_preads;
	/* split reads (rstart/rfinish): bit g = drive g fails at rstart, never
	 * answers (rfinish times out), or answers with its last byte flipped */
	unsigned r_fail, r_stall, r_flip;
	_Atomic long rstarts, rtimeouts;
	_Atomic int rcalls; /* started and not yet freed */
	int record;
	struct rlog log[DATA_MAX_SHARDS];
};

struct stream {
	struct net *n;
	struct shard_sink *sink;
	int answer[2]; /* a pipe: readable once the answer is in (wfd) */
	int g, shard, seal_rc;
	long nput;
	uint8_t *buf;
	size_t cap;
};

static struct node *owner(struct net *n, const uint8_t id[DATA_ID_LEN], int *g)
{
	for (int i = 0; i < NDRIVES; i++)
		if (memcmp(n->id[i], id, DATA_ID_LEN) == 0) {
			*g = i;
			for (int j = NNODES - 1; j >= 0; j--)
				if (i >= n->node[j].g0)
					return &n->node[j];
		}
	return NULL;
}

static ssize_t r_pread(void *ctx, const uint8_t drive_id[DATA_ID_LEN],
		       const uint8_t blob_id[DATA_ID_LEN], int shard, void *buf, size_t len,
		       uint64_t off)
{
	struct net *n = ctx;
	int g = -1;
	struct node *o = owner(n, drive_id, &g);

	if (!o)
		return CN_EDRIVE;
	n->preads++;
	/* as s3/internal.c serves it: from the caches, else from the disk */
	ssize_t got = data_shard_pread_cached(o->s, drive_id, blob_id, shard, buf, len, off);
	if (got != CN_EWOULDBLOCK) {
		n->cached_preads++;
		return got;
	}
	return data_shard_pread(o->s, drive_id, blob_id, shard, buf, len, off);
}

/* A split read: the request "travels" until rfinish, which serves it. */
struct rcall {
	struct net *n;
	uint8_t drive[DATA_ID_LEN], blob[DATA_ID_LEN];
	int shard, g;
	void *buf;
	size_t len;
	uint64_t off;
};

static int r_rstart(void *ctx, const uint8_t drive_id[DATA_ID_LEN],
		    const uint8_t blob_id[DATA_ID_LEN], int shard, void *buf, size_t len,
		    uint64_t off, unsigned wait_ms, void **h)
{
	struct net *n = ctx;
	struct rcall *c;
	int g = -1;

	*h = NULL;
	assert_true(wait_ms > 0);
	if (!owner(n, drive_id, &g) || (n->r_fail & (1u << g)))
		return CN_EDRIVE;
	assert_non_null(c = calloc(1, sizeof(*c)));
	c->n = n;
	memcpy(c->drive, drive_id, DATA_ID_LEN);
	memcpy(c->blob, blob_id, DATA_ID_LEN);
	c->shard = shard;
	c->g = g;
	c->buf = buf;
	c->len = len;
	c->off = off;
	n->rstarts++;
	n->rcalls++;
	*h = c;
	return 0;
}

static ssize_t r_rfinish(void *h, unsigned wait_ms)
{
	struct rcall *c = h;
	struct net *n = c->n;
	ssize_t got;

	assert_true(wait_ms > 0);
	if (n->r_stall & (1u << c->g)) {
		n->rtimeouts++;
		return CN_ETIMEOUT;
	}
	got = r_pread(n, c->drive, c->blob, c->shard, c->buf, c->len, c->off);
	if (got > 0 && (n->r_flip & (1u << c->g)))
		((uint8_t *)c->buf)[got - 1] ^= 0x40;
	return got;
}

static void r_rfree(void *h)
{
	struct rcall *c = h;
	c->n->rcalls--;
	free(c);
}

static int r_wopen(void *ctx, const uint8_t drive_id[DATA_ID_LEN], const struct blob_layout *l,
		   int shard, uint32_t hdr_len, void **h)
{
	struct net *n = ctx;
	int g = -1, rc;
	struct node *o = owner(n, drive_id, &g);
	struct stream *st;

	if (!o || (n->fail_open & (1u << g)))
		return CN_EDRIVE;
	if (n->full_open & (1u << g))
		return CN_ENOSPACE;
	st = calloc(1, sizeof(*st));
	assert_non_null(st);
	assert_int_equal(pipe(st->answer), 0);
	st->n = n;
	st->g = g;
	st->shard = shard;
	st->cap = data_shard_record_max(l);
	st->buf = malloc(st->cap);
	assert_non_null(st->buf);
	rc = data_shard_sink_open(o->s, drive_id, l, shard, hdr_len, &st->sink);
	if (rc) {
		close(st->answer[0]);
		close(st->answer[1]);
		free(st->buf);
		free(st);
		return rc;
	}
	if (n->record) {
		assert_true(shard < DATA_MAX_SHARDS);
		n->log[shard].n = 0;
	}
	n->opened++;
	*h = st;
	return 0;
}

static int r_wput(void *h, const void *ck, size_t ck_len, const void *piece, size_t len)
{
	struct stream *st = h;
	struct net *n = st->n;

	if ((n->fail_put & (1u << st->g)) && st->nput >= n->put_after)
		return CN_EDRIVE;
	assert_true(ck_len + len <= st->cap);
	memcpy(st->buf, ck, ck_len);
	memcpy(st->buf + ck_len, piece, len);
	if (n->record) {
		struct rlog *lg = &n->log[st->shard];
		assert_true(lg->n < RLOG_MAX);
		lg->rec[lg->n] = malloc(ck_len + len);
		assert_non_null(lg->rec[lg->n]);
		memcpy(lg->rec[lg->n], st->buf, ck_len + len);
		lg->len[lg->n++] = ck_len + len;
	}
	st->nput++;
	return data_shard_sink_put(st->sink, st->buf, ck_len + len);
}

/* Sends the header: the receiving node seals at once (like the real
 * stream, whose receiver seals when the whole stream is in); the answer
 * is what wwait returns. */
static int r_wseal(void *h, const void *hdr, size_t hdr_len)
{
	struct stream *st = h;
	struct net *n = st->n;

	if (n->fail_seal & (1u << st->g))
		return CN_EDRIVE;
	if (n->record) {
		assert_true(hdr_len <= SHARD_HDR_MAX);
		memcpy(n->log[st->shard].hdr, hdr, hdr_len);
		n->log[st->shard].hdr_len = hdr_len;
	}
	st->seal_rc = data_shard_sink_seal(st->sink, hdr, hdr_len);
	if (!(n->silent & (1u << st->g)))
		assert_int_equal(write(st->answer[1], "a", 1), 1);
	return 0;
}

#define SILENT_MS 6000

static int r_wwait(void *h)
{
	struct stream *st = h;
	if (st->n->silent & (1u << st->g)) {
		usleep(SILENT_MS * 1000);
		return CN_EDRIVE; /* the socket's ack timeout */
	}
	if (st->n->fail_wait & (1u << st->g))
		return CN_EDRIVE; /* the answer was lost */
	return st->seal_rc;
}

static int r_wfd(void *h)
{
	struct stream *st = h;
	return st->answer[0];
}

static void r_wfree(void *h)
{
	struct stream *st = h;
	close(st->answer[0]);
	close(st->answer[1]);
	st->n->freed++;
	data_shard_sink_free(st->sink);
	free(st->buf);
	free(st);
}

static int r_place(void *ctx, const uint8_t blob_id[DATA_ID_LEN], uint8_t *k, uint8_t *m,
		   uint8_t (*drive)[DATA_ID_LEN])
{
	struct net *n = ctx;
	(void)blob_id;
	if (n->no_place)
		return CN_ENOTFOUND;
	*k = n->k;
	*m = n->m;
	memcpy(drive, n->place, (size_t)(n->k + n->m) * DATA_ID_LEN);
	return 0;
}

/* Opens A, B, C; io0 (NULL: posix) is A's disk io. */
static void net_open_io(struct net *n, uint32_t bs, enum data_cksum ck, const struct data_io *io0)
{
	static const int sizes[NNODES] = {1, 2, 1};
	struct data_remote r = {.pread = r_pread,
				.wopen = r_wopen,
				.wput = r_wput,
				.wseal = r_wseal,
				.wwait = r_wwait,
				.wfd = r_wfd,
				.wfree = r_wfree,
				.rstart = r_rstart,
				.rfinish = r_rfinish,
				.rfree = r_rfree,
				.ctx = n};
	struct data_placer p = {r_place, n};
	int g = 0;

	memset(n, 0, sizeof(*n));
	for (int i = 0; i < NNODES; i++) {
		struct node *o = &n->node[i];
		struct data_options opt = {.block_size = bs, .cksum = ck, .io = i ? NULL : io0};
		struct data_drive_stat st[4];
		tdirs_make(&o->t, sizes[i]);
		o->nd = sizes[i];
		o->g0 = g;
		assert_int_equal(
			data_store_open((const char *const *)o->t.paths, o->nd, &opt, &o->s), 0);
		assert_int_equal(data_store_stats(o->s, st, 4), o->nd);
		uint8_t ids[4][DATA_ID_LEN];
		assert_int_equal(data_store_drive_ids(o->s, ids, 4), o->nd);
		for (int j = 0; j < o->nd; j++, g++) {
			assert_memory_equal(ids[j], st[j].id, DATA_ID_LEN);
			memcpy(n->id[g], ids[j], DATA_ID_LEN);
			n->path[g] = o->t.paths[j];
		}
		data_store_set_remote(o->s, &r);
		data_store_set_placer(o->s, &p);
	}
}

static void net_open(struct net *n, uint32_t bs, enum data_cksum ck)
{
	net_open_io(n, bs, ck, NULL);
}

static void log_clear(struct net *n)
{
	for (int i = 0; i < DATA_MAX_SHARDS; i++) {
		for (int j = 0; j < n->log[i].n; j++)
			free(n->log[i].rec[j]);
		n->log[i].n = 0;
		n->log[i].hdr_len = 0;
	}
}

static void net_close(struct net *n)
{
	assert_int_equal(n->opened, n->freed); /* every stream freed once */
	assert_int_equal(n->rcalls, 0);	       /* every split read too */
	log_clear(n);
	for (int i = 0; i < NNODES; i++) {
		data_store_close(n->node[i].s);
		tdirs_free(&n->node[i].t);
	}
}

/* k+m shards on global drives g[0..k+m) */
static void net_place(struct net *n, int k, int m, const int *g)
{
	n->k = (uint8_t)k;
	n->m = (uint8_t)m;
	for (int i = 0; i < k + m; i++)
		memcpy(n->place[i], n->id[g[i]], DATA_ID_LEN);
}

static void net_faults(struct net *n, unsigned open, unsigned put, long after, unsigned seal,
		       unsigned wait)
{
	n->fail_open = open;
	n->fail_put = put;
	n->put_after = after;
	n->fail_seal = seal;
	n->fail_wait = wait;
}

/* Writes len bytes through node 0's (A's) blob writer in irregular
 * chunks. On an append error aborts the writer and returns the error. */
static int put_blob(struct net *n, const uint8_t *data, size_t len, uint64_t seed,
		    struct blob_layout *l)
{
	struct blob_info info = {
		.bucket = "bkt", .key = "some/key", .version_id = "v1", .size_hint = len};
	struct blob_writer *w;
	uint64_t st = seed + 7;
	size_t off = 0;
	int rc;

	fill(info.id, DATA_ID_LEN, seed);
	if ((rc = blob_writer_new(n->node[0].s, &info, &w)) != 0)
		return rc;
	while (off < len) {
		size_t c = 1 + prng(&st) % 70000;
		if (c > len - off)
			c = len - off;
		if ((rc = blob_writer_append(w, data + off, c)) != 0) {
			blob_writer_abort(w);
			return rc;
		}
		off += c;
	}
	memset(l, 0xEE, sizeof(*l));
	return blob_writer_finish(w, l);
}

/* Reads the whole blob through node `at` in chunk-byte reads. */
static int get_blob(struct net *n, int at, const struct blob_layout *l, uint8_t *out, size_t chunk,
		    unsigned *bad)
{
	struct blob_reader *r;
	uint64_t off = 0;
	int rc = blob_reader_open(n->node[at].s, l, &r);

	if (rc)
		return rc;
	for (;;) {
		size_t got;
		size_t want = l->size - off < chunk ? (size_t)(l->size - off) : chunk;
		rc = blob_reader_read(r, off, out + off, want ? want : 1, &got);
		if (rc || got == 0)
			break;
		off += got;
	}
	if (rc == 0 && off != l->size)
		rc = CN_EINTERNAL;
	if (bad)
		*bad = blob_reader_bad_mask(r);
	blob_reader_close(r);
	return rc;
}

static void check_read(struct net *n, int at, const struct blob_layout *l, const uint8_t *data,
		       unsigned *bad)
{
	uint8_t *out = malloc(l->size + 1);
	assert_non_null(out);
	assert_int_equal(get_blob(n, at, l, out, 65536 + 3, bad), 0);
	if (l->size)
		assert_memory_equal(out, data, l->size);
	free(out);
}

/* On node 0, with a fresh reader each time: block 0 costs one pread per
 * piece it needs from other nodes, k less its own shards (parity counts:
 * decoding is cheaper than a transfer), each piece with its header in one
 * round trip (fetch.c); a read
 * that starts at block 1 reads the headers first, and going back to block
 * 0 afterwards reuses them. */
static void check_fresh_reads(struct net *n, const struct blob_layout *l, const uint8_t *data)
{
	struct data_store *s = n->node[0].s;
	uint32_t bs = l->block_size;
	size_t len = l->size < bs ? (size_t)l->size : bs, got;
	uint8_t *out = malloc(l->size + 1);
	struct blob_reader *r;
	long remote = l->k, pr0;

	assert_non_null(out);
	for (int i = 0; i < l->k + l->m; i++)
		if (remote > 0 && data_store_has_drive(s, l->drive[i]))
			remote--;
	if (l->size == 0)
		goto out;
	pr0 = n->preads;
	assert_int_equal(blob_reader_open(s, l, &r), 0);
	assert_int_equal(blob_reader_read(r, 0, out, len, &got), 0);
	assert_int_equal(got, len);
	assert_memory_equal(out, data, len);
	blob_reader_close(r);
	assert_int_equal(n->preads - pr0, remote);
	if (l->size > bs) {
		assert_int_equal(blob_reader_open(s, l, &r), 0);
		assert_int_equal(blob_reader_read(r, bs, out, l->size - bs, &got), 0);
		assert_int_equal(got, l->size - bs);
		assert_memory_equal(out, data + bs, got);
		assert_int_equal(blob_reader_read(r, 0, out, bs, &got), 0);
		assert_int_equal(got, bs);
		assert_memory_equal(out, data, bs);
		assert_int_equal(blob_reader_bad_mask(r), 0);
		blob_reader_close(r);
	}
out:
	free(out);
}

static int shard_exists(struct net *n, int g, const uint8_t *id, int i, off_t *size)
{
	char p[512];
	struct stat st;

	shard_file(n->path[g], id, i, p, sizeof(p));
	if (stat(p, &st) != 0)
		return 0;
	if (size)
		*size = st.st_size;
	return 1;
}

/* Drives (bit g) holding a file of shard i of blob id. */
static unsigned shard_where(struct net *n, const uint8_t *id, int i)
{
	unsigned w = 0;
	for (int g = 0; g < NDRIVES; g++)
		if (shard_exists(n, g, id, i, NULL))
			w |= 1u << g;
	return w;
}

static int count_all(struct net *n, const char *sub)
{
	int c = 0;
	for (int i = 0; i < NNODES; i++)
		c += count_files(&n->node[i].t, sub);
	return c;
}

/* Every shard of l is a file on the drive its layout names and nowhere
 * else, of the size a shard of l has, and no tmp file is left anywhere. */
static void check_placed(struct net *n, const struct blob_layout *l)
{
	for (int i = 0; i < l->k + l->m; i++) {
		int g = -1;
		off_t sz = 0;
		assert_non_null(owner(n, l->drive[i], &g));
		assert_memory_equal(l->drive[i], n->place[i], DATA_ID_LEN);
		assert_int_equal(shard_where(n, l->id, i), 1u << g);
		assert_true(shard_exists(n, g, l->id, i, &sz));
		assert_true((uint64_t)sz > blob_shard_bytes(l));
		assert_true((uint64_t)sz - blob_shard_bytes(l) >= SHARD_HDR_FIXED);
	}
	assert_int_equal(count_all(n, "tmp"), 0);
}

static void test_write_quorum(void **state)
{
	(void)state;
	assert_int_equal(data_write_quorum(1, 0), 1);
	assert_int_equal(data_write_quorum(2, 1), 2);
	assert_int_equal(data_write_quorum(2, 2), 3);
	assert_int_equal(data_write_quorum(4, 2), 5);
	assert_int_equal(data_write_quorum(1, 1), 1);
	assert_int_equal(data_write_quorum(3, 1), 3);
	assert_int_equal(data_write_quorum(6, 3), 7);
}

struct rt_case {
	uint32_t bs;
	enum data_cksum ck;
	int k, m;
	int g[DATA_MAX_SHARDS];
	size_t sizes[8];
	int nsizes;
	int one_remote; /* A needs one remote piece per block: read by the reader itself */
};

static void test_remote_roundtrip(void **state)
{
	(void)state;
	const size_t MiB = 1u << 20;
	const struct rt_case cases[] = {
		/* default block size, A holds shard 0 */
		{0, DATA_CK_CRC32C, 2, 1, {0, 1, 3}, {1, MiB - 1, MiB, 3 * MiB + 17}, 4, 1},
		/* many small blocks, A's shard in the middle, 2+2 */
		{4096,
		 DATA_CK_CRC32C,
		 2,
		 2,
		 {2, 0, 3, 1},
		 {1, 4095, 4096, 4097, 3 * 4096 + 17, 100000, MiB + 17},
		 7,
		 1},
		/* 8-byte checksums, a block size k does not divide, A last */
		{4096, DATA_CK_XXH3, 3, 1, {3, 1, 2, 0}, {1, 5000, 3 * 4096 + 17, 250001}, 4, 0},
		/* no shard on the writer's node: everything goes out (and a
		 * blob of no bytes) */
		{4096, DATA_CK_CRC32C, 1, 1, {1, 3}, {0, 1, 4096, 9999}, 4, 1},
	};
	uint8_t *data = malloc(3 * MiB + 17);
	struct net n;
	int files = 0;

	assert_non_null(data);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const struct rt_case *tc = &cases[c];
		net_open(&n, tc->bs, tc->ck);
		net_place(&n, tc->k, tc->m, tc->g);
		files = 0;
		for (int s = 0; s < tc->nsizes; s++) {
			size_t len = tc->sizes[s];
			uint64_t seed = 1000 * c + (uint64_t)s + 1;
			struct blob_layout l;
			unsigned bad = 99, vbad = 99, vmiss = 99;
			fill(data, len, seed);
			long pr0 = n.preads, rs0 = n.rstarts;
			assert_int_equal(put_blob(&n, data, len, seed, &l), 0);
			assert_int_equal(l.missing, 0);
			assert_int_equal(l.k, tc->k);
			assert_int_equal(l.m, tc->m);
			assert_int_equal(l.size, len);
			assert_int_equal(l.block_size, tc->bs ? tc->bs : DATA_BLOCK_DEFAULT);
			assert_int_equal(l.cksum, tc->ck);
			check_placed(&n, &l);
			files += tc->k + tc->m;
			assert_int_equal(count_all(&n, "blobs"), files);
			/* read back on A (remote shards through pread) ... */
			check_read(&n, 0, &l, data, &bad);
			assert_int_equal(bad, 0);
			if (len) {
				assert_true(n.preads > pr0);	  /* data came from remote */
				assert_true(n.cached_preads > 0); /* just written: cached */
				/* one missing piece: the reader asks for it itself;
				 * two or more: the fetch threads do */
				if (tc->one_remote)
					assert_true(n.rstarts > rs0);
				else
					assert_int_equal(n.rstarts, rs0);
			}
			check_fresh_reads(&n, &l, data);
			/* ... and on C, which holds a shard or none */
			check_read(&n, 2, &l, data, &bad);
			assert_int_equal(bad, 0);
			assert_int_equal(blob_verify(n.node[0].s, &l, &vbad, &vmiss), 0);
			assert_int_equal(vbad, 0);
			assert_int_equal(vmiss, 0);
			/* the layout a writer reports round-trips through its
			 * encoding (missing is never encoded) */
			uint8_t enc[DATA_LAYOUT_MAX];
			struct blob_layout dl;
			int el = blob_layout_encode(&l, enc, sizeof(enc));
			assert_true(el > 0);
			assert_int_equal(blob_layout_decode(enc, (size_t)el, &dl), 0);
			assert_memory_equal(dl.drive, l.drive, sizeof(l.drive[0]) * (l.k + l.m));
		}
		assert_true(n.opened > 0);
		net_close(&n);
	}
	free(data);
}

static void unlink_shard(struct net *n, int g, const uint8_t *id, int i)
{
	char p[512];
	shard_file(n->path[g], id, i, p, sizeof(p));
	unlink(p);
}

/* A reader that needs one piece from another node asks for it itself
 * (rstart, rfinish). When that node fails, answers wrong bytes or does not
 * answer in time, the read still returns the right bytes, from the other
 * shards: a failed or wrong answer marks the shard bad (heal), a late one
 * only slow, and the piece is then asked through the fetch threads. */
static void test_split_reads(void **state)
{
	(void)state;
	const int g[] = {0, 1, 3}; /* 2+1: A has shard 0, B0 shard 1, C0 shard 2 */
	const size_t len = 5 * 4096 + 17;
	const struct {
		unsigned fail, stall, flip, bad;
		int fetched;   /* some piece came through the fetch threads */
		long timeouts; /* split reads that timed out (-1: some) */
		int lose_own;  /* A's own shard 0 is gone */
	} cases[] = {
		{0, 0, 0, 0, 0, 0, 0},
		/* B0 refuses: shard 1 bad, parity from C0 (itself, next block) */
		{1u << 1, 0, 0, 1u << 1, 1, 0, 0},
		/* B0's bytes are wrong: its checksum catches them */
		{0, 0, 1u << 1, 1u << 1, 1, 0, 0},
		/* B0 is slow: not bad; C0's parity, asked by the fetch threads
		 * for that block, by the reader itself for the next ones (B0 is
		 * not asked again) */
		{0, 1u << 1, 0, 0, 1, 1, 0},
		/* B0 and C0 slow for the reader's own requests: blocks go
		 * through the fetch threads (which still reach them) */
		{0, (1u << 1) | (1u << 3), 0, 0, 1, -1, 0},
		/* A's own piece is gone after it asked B0: B0's piece is kept
		 * and the fetch threads ask C0 for the one still missing */
		{0, 0, 0, 1u << 0, 1, 0, 1},
	};
	uint8_t *data = malloc(len), *out = malloc(len);
	struct blob_layout l;
	struct net n;

	assert_non_null(data);
	assert_non_null(out);
	fill(data, len, 77);
	net_open(&n, 4096, DATA_CK_CRC32C);
	net_place(&n, 2, 1, g);
	assert_int_equal(put_blob(&n, data, len, 77, &l), 0);
	assert_int_equal(l.missing, 0);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		unsigned bad = 99;
		long rs0 = n.rstarts, rt0 = n.rtimeouts, pr0 = n.preads;
		n.r_fail = cases[c].fail;
		n.r_stall = cases[c].stall;
		n.r_flip = cases[c].flip;
		if (cases[c].lose_own)
			unlink_shard(&n, 0, l.id, 0);
		memset(out, 0, len);
		assert_int_equal(get_blob(&n, 0, &l, out, 3000, &bad), 0);
		assert_memory_equal(out, data, len);
		assert_int_equal(bad, cases[c].bad);
		assert_true(n.rstarts > rs0 || cases[c].fail);
		if (cases[c].timeouts >= 0)
			assert_int_equal(n.rtimeouts - rt0, cases[c].timeouts);
		else
			assert_true(n.rtimeouts > rt0);
		/* pieces served without a split read: the fetch threads' */
		long split = n.rstarts - rs0 - (n.rtimeouts - rt0);
		assert_int_equal(n.preads - pr0 > split, cases[c].fetched);
		assert_int_equal(n.rcalls, 0);
	}
	n.r_fail = n.r_stall = n.r_flip = 0;
	net_close(&n);
	free(data);
	free(out);
}

/* A write that loses its quorum with a full drive among the causes is
 * CN_ENOSPACE (507, which clients do not retry) whichever shard failed
 * last; one full drive within the quorum is a dropped shard. */
static void test_full_drive_fails_as_full(void **state)
{
	(void)state;
	const size_t len = 200003;
	uint8_t *data = malloc(len);
	struct net n;
	struct blob_layout l;

	assert_non_null(data);
	net_open(&n, 65536, DATA_CK_CRC32C);
	net_place(&n, 2, 1, (const int[]){0, 1, 3});
	fill(data, len, 7);

	n.full_open = 1u << 1; /* B0, shard 1 */
	assert_int_equal(put_blob(&n, data, len, 1, &l), 0);
	assert_int_equal(l.missing, 1u << 1);

	/* shard 1 full, then shard 2 unreachable: was CN_EDRIVE (503) */
	n.fail_open = 1u << 3;
	assert_int_equal(put_blob(&n, data, len, 2, &l), CN_ENOSPACE);
	/* shard 1 unreachable, then shard 2 full */
	n.fail_open = 1u << 1;
	n.full_open = 1u << 3;
	assert_int_equal(put_blob(&n, data, len, 3, &l), CN_ENOSPACE);
	/* no full drive: still CN_EDRIVE */
	n.fail_open = 1u << 1 | 1u << 3;
	n.full_open = 0;
	assert_int_equal(put_blob(&n, data, len, 4, &l), CN_EDRIVE);
	assert_int_equal(count_all(&n, "tmp"), 0);
	net_close(&n);
	free(data);
}

/* Faults in wopen: a dropped shard leaves nothing anywhere. */
static void test_wopen_fails(void **state)
{
	(void)state;
	const size_t len = 300001;
	uint8_t *data = malloc(len);
	struct net n;
	struct blob_layout l;
	unsigned bad, vbad, vmiss;
	uint8_t id[DATA_ID_LEN];

	assert_non_null(data);
	net_open(&n, 65536, DATA_CK_CRC32C);

	/* 2+1 (quorum 2): B0 (shard 1, data) unreachable */
	net_place(&n, 2, 1, (const int[]){0, 1, 3});
	net_faults(&n, 1u << 1, 0, 0, 0, 0);
	fill(data, len, 1);
	assert_int_equal(put_blob(&n, data, len, 1, &l), 0);
	assert_int_equal(l.missing, 1u << 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(shard_where(&n, l.id, i), i == 1   ? 0u
							   : i == 0 ? 1u << 0
								    : 1u << 3);
	assert_int_equal(count_all(&n, "tmp"), 0);
	check_read(&n, 0, &l, data, &bad); /* reconstructed */
	assert_int_equal(bad, 1u << 1);
	assert_int_equal(blob_verify(n.node[0].s, &l, &vbad, &vmiss), 0);
	assert_int_equal(vmiss, 1u << 1);
	assert_int_equal(vbad, 0);

	/* 2+1: C0 (shard 2, parity) unreachable */
	net_faults(&n, 1u << 3, 0, 0, 0, 0);
	fill(data, len, 2);
	assert_int_equal(put_blob(&n, data, len, 2, &l), 0);
	assert_int_equal(l.missing, 1u << 2);
	assert_int_equal(shard_where(&n, l.id, 2), 0);
	assert_int_equal(count_all(&n, "tmp"), 0);
	check_read(&n, 0, &l, data, &bad);

	/* 2+1 with two unreachable: below quorum, refused up front */
	net_faults(&n, 1u << 1 | 1u << 3, 0, 0, 0, 0);
	assert_int_equal(put_blob(&n, data, len, 3, &l), CN_EDRIVE);
	fill(id, DATA_ID_LEN, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(shard_where(&n, id, i), 0);
	assert_int_equal(count_all(&n, "tmp"), 0);

	/* 2+2 (quorum 3): one unreachable is fine */
	net_place(&n, 2, 2, (const int[]){0, 1, 2, 3});
	net_faults(&n, 1u << 2, 0, 0, 0, 0);
	fill(data, len, 4);
	assert_int_equal(put_blob(&n, data, len, 4, &l), 0);
	assert_int_equal(l.missing, 1u << 2);
	assert_int_equal(shard_where(&n, l.id, 2), 0);
	assert_int_equal(shard_where(&n, l.id, 3), 1u << 3);
	assert_int_equal(count_all(&n, "tmp"), 0);
	check_read(&n, 0, &l, data, &bad);
	assert_int_equal(bad, 0); /* parity: a reader needs only the data shards */
	assert_int_equal(blob_verify(n.node[0].s, &l, &vbad, &vmiss), 0);
	assert_int_equal(vmiss, 1u << 2);

	/* 2+2 with two unreachable: fails; the stream opened on B0 and A's
	 * local tmp file are removed */
	int before = count_all(&n, "blobs");
	net_faults(&n, 1u << 2 | 1u << 3, 0, 0, 0, 0);
	assert_int_equal(put_blob(&n, data, len, 5, &l), CN_EDRIVE);
	assert_int_equal(count_all(&n, "tmp"), 0);
	assert_int_equal(count_all(&n, "blobs"), before);
	assert_int_equal(n.opened, n.freed);

	/* a remote with no write calls: other nodes' drives count as missing
	 * at placement, so a 2+1 over three nodes cannot be written */
	struct data_remote ro = {.pread = r_pread, .ctx = &n};
	data_store_set_remote(n.node[0].s, &ro);
	net_place(&n, 2, 1, (const int[]){0, 1, 3});
	net_faults(&n, 0, 0, 0, 0, 0);
	assert_int_equal(put_blob(&n, data, len, 6, &l), CN_EDRIVE);
	assert_int_equal(count_all(&n, "tmp"), 0);
	/* ... while a placer with no layout yet leaves the writer to A's own
	 * drive (1 drive: 1+0) */
	n.no_place = 1;
	fill(data, len, 7);
	assert_int_equal(put_blob(&n, data, len, 7, &l), 0);
	assert_int_equal(l.k, 1);
	assert_int_equal(l.m, 0);
	assert_int_equal(l.missing, 0);
	assert_memory_equal(l.drive[0], n.id[0], DATA_ID_LEN);
	assert_int_equal(shard_where(&n, l.id, 0), 1u << 0);
	check_read(&n, 0, &l, data, &bad);

	net_close(&n);
	free(data);
}

/* Faults in wput, mid-stream. */
static void test_wput_fails_midstream(void **state)
{
	(void)state;
	const size_t len = 20 * 4096 + 17; /* 21 blocks */
	uint8_t *data = malloc(len);
	struct net n;
	struct blob_layout l;
	unsigned bad;
	uint8_t id[DATA_ID_LEN];

	assert_non_null(data);
	net_open(&n, 4096, DATA_CK_CRC32C);

	/* 2+1: B0 fails after 5 records, and at once */
	net_place(&n, 2, 1, (const int[]){0, 1, 3});
	for (long after = 0; after <= 20; after += 5) {
		uint64_t seed = 10 + (uint64_t)after;
		net_faults(&n, 0, 1u << 1, after, 0, 0);
		fill(data, len, seed);
		assert_int_equal(put_blob(&n, data, len, seed, &l), 0);
		assert_int_equal(l.missing, 1u << 1);
		assert_int_equal(shard_where(&n, l.id, 1), 0);
		assert_int_equal(shard_where(&n, l.id, 0), 1u << 0);
		assert_int_equal(shard_where(&n, l.id, 2), 1u << 3);
		assert_int_equal(count_all(&n, "tmp"), 0);
		check_read(&n, 0, &l, data, &bad);
		assert_int_equal(bad, 1u << 1);
		check_read(&n, 2, &l, data, NULL);
	}
	/* the failure on the last record (flushed by finish) */
	net_faults(&n, 0, 1u << 3, 20, 0, 0);
	fill(data, len, 40);
	assert_int_equal(put_blob(&n, data, len, 40, &l), 0);
	assert_int_equal(l.missing, 1u << 2);
	assert_int_equal(shard_where(&n, l.id, 2), 0);
	assert_int_equal(count_all(&n, "tmp"), 0);
	check_read(&n, 0, &l, data, NULL);

	/* 2+2: one failing mid-way is fine, two fail the write */
	net_place(&n, 2, 2, (const int[]){0, 1, 2, 3});
	net_faults(&n, 0, 1u << 3, 3, 0, 0);
	fill(data, len, 41);
	assert_int_equal(put_blob(&n, data, len, 41, &l), 0);
	assert_int_equal(l.missing, 1u << 3);
	assert_int_equal(shard_where(&n, l.id, 3), 0);
	check_read(&n, 0, &l, data, NULL);
	int before = count_all(&n, "blobs");
	net_faults(&n, 0, 1u << 1 | 1u << 3, 7, 0, 0);
	assert_int_equal(put_blob(&n, data, len, 42, &l), CN_EDRIVE);
	fill(id, DATA_ID_LEN, 42);
	for (int i = 0; i < 4; i++)
		assert_int_equal(shard_where(&n, id, i), 0);
	assert_int_equal(count_all(&n, "tmp"), 0);
	assert_int_equal(count_all(&n, "blobs"), before);
	assert_int_equal(n.opened, n.freed);

	net_close(&n);
	free(data);
}

/* Faults after the data is out: in wseal and in wwait. What stays behind
 * when such a write fails: shards their node sealed are in place there
 * (GC's, through the blob's intent, which names every drive of the
 * placement); the writer's own shard and every unsealed stream leave
 * nothing. */
static void test_seal_and_wait_fail(void **state)
{
	(void)state;
	const size_t len = 5 * 4096 + 3;
	uint8_t *data = malloc(len);
	struct net n;
	struct blob_layout l;
	uint8_t id[DATA_ID_LEN];
	unsigned bad;

	assert_non_null(data);
	net_open(&n, 4096, DATA_CK_CRC32C);

	/* 2+1, C0's seal does not get through: dropped, nothing there */
	net_place(&n, 2, 1, (const int[]){0, 1, 3});
	net_faults(&n, 0, 0, 0, 1u << 3, 0);
	fill(data, len, 50);
	assert_int_equal(put_blob(&n, data, len, 50, &l), 0);
	assert_int_equal(l.missing, 1u << 2);
	assert_int_equal(shard_where(&n, l.id, 2), 0);
	assert_int_equal(count_all(&n, "tmp"), 0);
	check_read(&n, 0, &l, data, NULL);

	/* 2+1, C0 sealed but its answer was lost: reported missing (the
	 * writer cannot know), while the shard is in fact in place and good */
	net_faults(&n, 0, 0, 0, 0, 1u << 3);
	fill(data, len, 51);
	assert_int_equal(put_blob(&n, data, len, 51, &l), 0);
	assert_int_equal(l.missing, 1u << 2);
	assert_int_equal(shard_where(&n, l.id, 2), 1u << 3);
	assert_int_equal(count_all(&n, "tmp"), 0);
	check_read(&n, 0, &l, data, &bad);
	assert_int_equal(bad, 0);

	/* 2+2, seals of B1 and C0 fail: the write fails. B0 (shard 1) was
	 * sealed before the failures: its shard stays; nothing else does. */
	net_place(&n, 2, 2, (const int[]){0, 1, 2, 3});
	net_faults(&n, 0, 0, 0, 1u << 2 | 1u << 3, 0);
	fill(data, len, 52);
	assert_int_equal(put_blob(&n, data, len, 52, &l), CN_EDRIVE);
	fill(id, DATA_ID_LEN, 52);
	assert_int_equal(shard_where(&n, id, 0), 0);
	assert_int_equal(shard_where(&n, id, 1), 1u << 1);
	assert_int_equal(shard_where(&n, id, 2), 0);
	assert_int_equal(shard_where(&n, id, 3), 0);
	assert_int_equal(count_all(&n, "tmp"), 0);

	/* 2+2, B1's and C0's answers lost: the write fails, the three remote
	 * shards are in place on their nodes, A's own shard is removed */
	net_faults(&n, 0, 0, 0, 0, 1u << 2 | 1u << 3);
	fill(data, len, 53);
	assert_int_equal(put_blob(&n, data, len, 53, &l), CN_EDRIVE);
	fill(id, DATA_ID_LEN, 53);
	assert_int_equal(shard_where(&n, id, 0), 0);
	assert_int_equal(shard_where(&n, id, 1), 1u << 1);
	assert_int_equal(shard_where(&n, id, 2), 1u << 2);
	assert_int_equal(shard_where(&n, id, 3), 1u << 3);
	assert_int_equal(count_all(&n, "tmp"), 0);
	assert_int_equal(n.opened, n.freed);

	net_close(&n);
	free(data);
}

/* No-wait mode (the event loop's first try) takes only this node's data
 * pieces. When one of them lives on another node the read must go to a
 * thread anyway, so it gives up before touching A's disk or the network:
 * a local piece read and verified here would be read and verified there
 * again. With every data piece on A it reads them, and only them. */
static void test_nowait_remote_piece(void **state)
{
	(void)state;
	const size_t len = 3 * 65536 + 5;
	const struct {
		int k, m, g[3];
		int local; /* every data shard on A: the no-wait read succeeds */
	} cases[] = {
		{2, 1, {0, 1, 3}, 0}, /* A has data shard 0, B0 shard 1 */
		{2, 1, {1, 0, 3}, 0}, /* A has data shard 1 */
		{2, 1, {1, 3, 0}, 0}, /* A has the parity */
		{1, 1, {0, 1, 0}, 1}, /* A has the one data shard */
	};
	uint8_t *data = malloc(len), *out = malloc(len);
	struct fault f;
	struct net n;

	assert_non_null(data);
	assert_non_null(out);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct blob_layout l;
		struct blob_reader *r;
		size_t got = 0;
		uint64_t seed = 90 + c;

		fault_init(&f);
		fault_nowait(&f);
		net_open_io(&n, 65536, DATA_CK_CRC32C, &f.io);
		net_place(&n, cases[c].k, cases[c].m, cases[c].g);
		fill(data, len, seed);
		assert_int_equal(put_blob(&n, data, len, seed, &l), 0);
		long pr0 = n.preads, rs0 = n.rstarts;
		f.ops = F_OPEN | F_PREAD | F_OPEN_CACHED | F_PREAD_NOWAIT; /* counted */
		f.calls = 0;
		assert_int_equal(blob_reader_open(n.node[0].s, &l, &r), 0);
		blob_reader_nowait(r, 1);
		int rc = blob_reader_read(r, 65536, out, 65536, &got);
		if (cases[c].local) {
			assert_int_equal(rc, 0);
			assert_int_equal(got, 65536);
			assert_memory_equal(out, data + 65536, 65536);
			assert_true(f.calls > 0);
		} else {
			assert_int_equal(rc, CN_EWOULDBLOCK);
			assert_int_equal(f.calls, 0);
		}
		assert_int_equal(n.preads, pr0);
		assert_int_equal(n.rstarts, rs0);
		/* the thread's read that follows gets everything */
		blob_reader_nowait(r, 0);
		assert_int_equal(blob_reader_read(r, 65536, out, 65536, &got), 0);
		assert_int_equal(got, 65536);
		assert_memory_equal(out, data + 65536, 65536);
		assert_int_equal(blob_reader_bad_mask(r), 0);
		blob_reader_close(r);
		f.ops = 0;
		net_close(&n);
	}
	free(data);
	free(out);
}

/* The writer's own shard fails in a placed blob: it is dropped like a
 * remote one (missing bit, its tmp file removed) and the write goes on. */
/* A node that takes the whole stream and then never answers (SIGSTOP, a
 * hung disk) costs a write the grace after its quorum, not the ack
 * timeout: its shard is dropped as missing, healed later. Below the
 * quorum the write still waits for the answers it needs. */
static void test_silent_node_after_quorum(void **state)
{
	(void)state;
	const size_t len = 5 * 4096 + 3;
	uint8_t *data = malloc(len);
	struct net n;
	struct blob_layout l;
	int64_t t;

	assert_non_null(data);
	net_open(&n, 4096, DATA_CK_CRC32C);
	/* 2+1 on A0, B0, C0: C0 silent; quorum 2 is A0 and B0 */
	net_place(&n, 2, 1, (const int[]){0, 1, 3});
	n.silent = 1u << 3;
	fill(data, len, 60);
	t = cn_mono_ns();
	assert_int_equal(put_blob(&n, data, len, 60, &l), 0);
	t = (cn_mono_ns() - t) / 1000000;
	assert_true(t >= 1500 && t < SILENT_MS - 1500);
	assert_int_equal(l.missing, 1u << 2);
	check_read(&n, 0, &l, data, NULL);
	/* every node answers: no wait beyond the answers */
	n.silent = 0;
	fill(data, len, 61);
	t = cn_mono_ns();
	assert_int_equal(put_blob(&n, data, len, 61, &l), 0);
	assert_true((cn_mono_ns() - t) / 1000000 < 1000);
	assert_int_equal(l.missing, 0);
	/* 2+2 on A0, B0, B1, C0, quorum 3: C0 silent, B1 answers */
	net_place(&n, 2, 2, (const int[]){0, 1, 2, 3});
	n.silent = 1u << 3;
	fill(data, len, 62);
	assert_int_equal(put_blob(&n, data, len, 62, &l), 0);
	assert_int_equal(l.missing, 1u << 3);
	check_read(&n, 0, &l, data, NULL);
	n.silent = 0;
	net_close(&n);
	free(data);
}

static void test_local_shard_fails(void **state)
{
	(void)state;
	const size_t len = 3 * 65536 + 5;
	uint8_t *data = malloc(len);
	struct fault f;
	struct net n;
	struct blob_layout l;
	unsigned bad, vbad, vmiss;
	const struct {
		unsigned op;
		long nth;
	} fl[] = {{F_OPEN, 1}, {F_PWRITE, 2}, {F_PWRITE, 5}, {F_FSYNC, 1}, {F_RENAME, 1}};

	assert_non_null(data);
	fault_init(&f);
	net_open_io(&n, 65536, DATA_CK_CRC32C, &f.io);
	net_place(&n, 2, 1, (const int[]){0, 1, 3});
	for (size_t i = 0; i < sizeof(fl) / sizeof(fl[0]); i++) {
		uint64_t seed = 80 + i;
		f.calls = 0;
		f.fired = 0;
		f.err = EIO;
		f.nth = fl[i].nth;
		f.ops = fl[i].op;
		fill(data, len, seed);
		assert_int_equal(put_blob(&n, data, len, seed, &l), 0);
		f.ops = 0;
		assert_true(f.fired);
		assert_int_equal(l.missing, 1u << 0);
		assert_int_equal(shard_where(&n, l.id, 0), 0);
		assert_int_equal(shard_where(&n, l.id, 1), 1u << 1);
		assert_int_equal(shard_where(&n, l.id, 2), 1u << 3);
		assert_int_equal(count_all(&n, "tmp"), 0);
		/* EIO took A's drive offline; A reads from B and C */
		check_read(&n, 0, &l, data, &bad);
		assert_int_equal(bad, 1u << 0);
		assert_int_equal(data_store_recheck(n.node[0].s), 1);
		check_read(&n, 2, &l, data, NULL);
		assert_int_equal(blob_verify(n.node[0].s, &l, &vbad, &vmiss), 0);
		assert_int_equal(vmiss, 1u << 0);
	}
	/* A's drive offline before the write: missing from the start */
	data_store_drive_offline(n.node[0].s, 0);
	fill(data, len, 90);
	assert_int_equal(put_blob(&n, data, len, 90, &l), 0);
	assert_int_equal(l.missing, 1u << 0);
	assert_int_equal(shard_where(&n, l.id, 0), 0);
	check_read(&n, 0, &l, data, NULL);
	/* ... and with one remote unreachable too: below quorum */
	net_faults(&n, 1u << 3, 0, 0, 0, 0);
	assert_int_equal(put_blob(&n, data, len, 91, &l), CN_EDRIVE);
	assert_int_equal(count_all(&n, "tmp"), 0);
	assert_int_equal(data_store_recheck(n.node[0].s), 1);
	net_close(&n);
	free(data);
}

/* ---- the sink, fed recorded streams ---- */

struct capture {
	struct blob_layout l;
	struct rlog log[DATA_MAX_SHARDS]; /* moved out of the net */
};

static void capture_blob(struct net *n, size_t len, uint64_t seed, struct capture *c)
{
	uint8_t *data = malloc(len);
	assert_non_null(data);
	fill(data, len, seed);
	log_clear(n);
	n->record = 1;
	assert_int_equal(put_blob(n, data, len, seed, &c->l), 0);
	n->record = 0;
	assert_int_equal(c->l.missing, 0);
	memcpy(c->log, n->log, sizeof(c->log));
	memset(n->log, 0, sizeof(n->log));
	free(data);
}

static void capture_free(struct capture *c)
{
	for (int i = 0; i < DATA_MAX_SHARDS; i++)
		for (int j = 0; j < c->log[i].n; j++)
			free(c->log[i].rec[j]);
}

static struct shard_sink *sink_on(struct net *n, int g, const struct blob_layout *l, int shard,
				  uint32_t hdr_len)
{
	struct shard_sink *k = NULL;
	int gg = -1;
	struct node *o = owner(n, n->id[g], &gg);
	assert_int_equal(data_shard_sink_open(o->s, n->id[g], l, shard, hdr_len, &k), 0);
	assert_non_null(k);
	return k;
}

/* Puts records [0, nrec) of lg; returns the first error. */
static int put_recs(struct shard_sink *k, const struct rlog *lg, int nrec)
{
	for (int i = 0; i < nrec; i++) {
		int rc = data_shard_sink_put(k, lg->rec[i], lg->len[i]);
		if (rc)
			return rc;
	}
	return 0;
}

/* The header h with its size (or id, or shard) changed, re-encoded. */
static size_t hdr_variant(const struct rlog *lg, uint8_t *out, int64_t dsize, int id_flip,
			  int shard)
{
	struct shard_header h;
	assert_int_equal(shard_header_decode(lg->hdr, lg->hdr_len, &h), 0);
	h.size = (uint64_t)((int64_t)h.size + dsize);
	h.blob_id[0] ^= (uint8_t)id_flip;
	if (shard >= 0)
		h.shard = (uint8_t)shard;
	int n = shard_header_encode(&h, out, SHARD_HDR_MAX);
	assert_int_equal((size_t)n, lg->hdr_len);
	return (size_t)n;
}

static void test_sink_replay(void **state)
{
	(void)state;
	struct net n;
	struct capture x, s;
	uint8_t hdr[SHARD_HDR_MAX];
	struct shard_sink *k;
	size_t len;

	net_open(&n, 4096, DATA_CK_CRC32C);
	net_place(&n, 2, 1, (const int[]){0, 1, 3});
	/* X: 4 blocks, the last 101 bytes (pieces 2048, 2048, 2048, 51);
	 * S: one short block of 100 bytes (piece 50) */
	capture_blob(&n, 3 * 4096 + 101, 60, &x);
	capture_blob(&n, 100, 61, &s);
	const struct rlog *x1 = &x.log[1], *x2 = &x.log[2], *s1 = &s.log[1];
	assert_int_equal(x1->n, 4);
	assert_int_equal(x1->len[0], 4 + 2048);
	assert_int_equal(x1->len[3], 4 + 51);
	assert_int_equal(s1->n, 1);
	assert_int_equal(s1->len[0], 4 + 50);
	const uint32_t hl = (uint32_t)x1->hdr_len;
	assert_true(hl >= SHARD_HDR_FIXED);

	/* a faithful replay rebuilds the very file the writer's stream made */
	size_t orig_len, again_len;
	char path[512];
	shard_file(n.path[1], x.l.id, 1, path, sizeof(path));
	uint8_t *orig = read_file(path, &orig_len);
	assert_non_null(orig);
	unlink(path);
	k = sink_on(&n, 1, &x.l, 1, hl);
	assert_int_equal(count_all(&n, "tmp"), 1);
	assert_int_equal(put_recs(k, x1, 4), 0);
	assert_int_equal(data_shard_sink_seal(k, x1->hdr, hl), 0);
	/* sealed: no more records, no second seal */
	assert_int_equal(data_shard_sink_put(k, x1->rec[0], x1->len[0]), CN_ECORRUPT);
	assert_int_equal(data_shard_sink_seal(k, x1->hdr, hl), CN_ECORRUPT);
	data_shard_sink_free(k);
	uint8_t *again = read_file(path, &again_len);
	assert_non_null(again);
	assert_int_equal(again_len, orig_len);
	assert_memory_equal(again, orig, orig_len);
	free(again);
	free(orig);
	assert_int_equal(count_all(&n, "tmp"), 0);

	/* from here on X's shard 1 file is absent, so a final file would
	 * show (and C0's shard 2 too for the shard tests) */
	unlink_shard(&n, 1, x.l.id, 1);
	uint8_t *bad = malloc(4 + 2048);
	assert_non_null(bad);

	/* a flipped byte in a piece, in a checksum */
	k = sink_on(&n, 1, &x.l, 1, hl);
	assert_int_equal(put_recs(k, x1, 2), 0);
	memcpy(bad, x1->rec[2], x1->len[2]);
	bad[4 + 1000] ^= 0x20;
	assert_int_equal(data_shard_sink_put(k, bad, x1->len[2]), CN_ECORRUPT);
	data_shard_sink_free(k);
	k = sink_on(&n, 1, &x.l, 1, hl);
	memcpy(bad, x1->rec[0], x1->len[0]);
	bad[1] ^= 0x01;
	assert_int_equal(data_shard_sink_put(k, bad, x1->len[0]), CN_ECORRUPT);
	data_shard_sink_free(k);
	assert_int_equal(count_all(&n, "tmp"), 0);
	assert_int_equal(shard_where(&n, x.l.id, 1), 0);

	/* a record of another shard, records out of order, one twice */
	k = sink_on(&n, 1, &x.l, 1, hl);
	assert_int_equal(data_shard_sink_put(k, x2->rec[0], x2->len[0]), CN_ECORRUPT);
	assert_int_equal(data_shard_sink_put(k, x1->rec[1], x1->len[1]), CN_ECORRUPT);
	assert_int_equal(data_shard_sink_put(k, x1->rec[0], x1->len[0]), 0);
	assert_int_equal(data_shard_sink_put(k, x1->rec[0], x1->len[0]), CN_ECORRUPT);
	data_shard_sink_free(k);

	/* a short record that is not the last: S's only record is a valid
	 * block 0 of shard 1 (checksums are seeded by position, not blob),
	 * so it is taken; the next record is not */
	k = sink_on(&n, 1, &x.l, 1, hl);
	assert_int_equal(data_shard_sink_put(k, s1->rec[0], s1->len[0]), 0);
	assert_int_equal(data_shard_sink_put(k, x1->rec[1], x1->len[1]), CN_ECORRUPT);
	data_shard_sink_free(k);
	assert_int_equal(count_all(&n, "tmp"), 0);

	/* headers that do not match what was received: seal fails, and free
	 * leaves neither a tmp nor a final file */
	struct {
		int nrec;
		int64_t dsize;
		int id_flip, shard;
		int raw; /* 1: x2's header as is; 2: a flipped byte; 3: short */
	} hv[] = {
		{3, 0, 0, -1, 0},	       /* one record missing */
		{4, 4096, 0, -1, 0},	       /* one block more */
		{4, -1, 0, -1, 0},	       /* same blocks, last piece 50 */
		{4, -(int64_t)4096, 0, -1, 0}, /* one block fewer */
		{4, 0, 0x80, -1, 0},	       /* another blob's id */
		{4, 0, 0, 2, 0},	       /* another shard's index */
		{4, 0, 0, -1, 1},	       /* x2's real header */
		{4, 0, 0, -1, 2},	       /* header crc broken */
		{4, 0, 0, -1, 3},	       /* header cut short */
		{0, 0, 0, -1, 0},	       /* nothing received */
	};
	for (size_t v = 0; v < sizeof(hv) / sizeof(hv[0]); v++) {
		k = sink_on(&n, 1, &x.l, 1, hl);
		assert_int_equal(put_recs(k, x1, hv[v].nrec), 0);
		len = hl;
		if (hv[v].raw == 1) {
			memcpy(hdr, x2->hdr, hl);
		} else if (hv[v].raw) {
			memcpy(hdr, x1->hdr, hl);
			if (hv[v].raw == 2)
				hdr[20] ^= 0x40;
			else
				len = hl - 1;
		} else {
			len = hdr_variant(x1, hdr, hv[v].dsize, hv[v].id_flip, hv[v].shard);
		}
		int rc = data_shard_sink_seal(k, hdr, len);
		if (rc != CN_ECORRUPT)
			fail_msg("header variant %zu: seal returned %d", v, rc);
		assert_int_equal(count_all(&n, "tmp"), 1);
		data_shard_sink_free(k);
		assert_int_equal(count_all(&n, "tmp"), 0);
		assert_int_equal(shard_where(&n, x.l.id, 1), 0);
	}

	/* records longer than a full piece, empty ones, nothing at all */
	const size_t rmax = data_shard_record_max(&x.l);
	assert_int_equal(rmax, 4 + 2048);
	uint8_t *big = calloc(1, rmax + 1);
	assert_non_null(big);
	memcpy(big, x1->rec[0], x1->len[0]);
	k = sink_on(&n, 1, &x.l, 1, hl);
	assert_int_equal(data_shard_sink_put(k, big, rmax + 1), CN_ECORRUPT);
	assert_int_equal(data_shard_sink_put(k, big, 4), CN_ECORRUPT);
	assert_int_equal(data_shard_sink_put(k, big, 0), CN_ECORRUPT);
	/* none of that was taken: the real stream still goes through */
	assert_int_equal(put_recs(k, x1, 4), 0);
	assert_int_equal(data_shard_sink_seal(k, x1->hdr, hl), 0);
	data_shard_sink_free(k);
	assert_int_equal(shard_where(&n, x.l.id, 1), 1u << 1);
	free(big);
	struct blob_layout xx = x.l;
	xx.cksum = DATA_CK_XXH3;
	xx.k = 3;
	assert_int_equal(data_shard_record_max(&xx), 8 + 1366);

	/* a sink abandoned before its seal leaves nothing */
	unlink_shard(&n, 1, x.l.id, 1);
	k = sink_on(&n, 1, &x.l, 1, hl);
	assert_int_equal(put_recs(k, x1, 4), 0);
	data_shard_sink_free(k);
	data_shard_sink_free(NULL);
	assert_int_equal(count_all(&n, "tmp"), 0);
	assert_int_equal(shard_where(&n, x.l.id, 1), 0);

	free(bad);
	capture_free(&x);
	capture_free(&s);
	net_close(&n);
}

static void test_sink_open_checks(void **state)
{
	(void)state;
	struct net n;
	struct shard_sink *k;
	struct blob_layout l, b;
	struct data_store *B;
	uint8_t nobody[DATA_ID_LEN];

	net_open(&n, 4096, DATA_CK_CRC32C);
	B = n.node[1].s;
	memset(&l, 0, sizeof(l));
	fill(l.id, DATA_ID_LEN, 70);
	l.k = 2;
	l.m = 1;
	l.cksum = DATA_CK_CRC32C;
	l.block_size = 4096;
	const uint32_t hl = SHARD_HDR_FIXED + 20;

	/* drives B does not have: unknown, and A's */
	fill(nobody, DATA_ID_LEN, 71);
	assert_int_equal(data_shard_sink_open(B, nobody, &l, 0, hl, &k), CN_EDRIVE);
	assert_int_equal(data_shard_sink_open(B, n.id[0], &l, 0, hl, &k), CN_EDRIVE);
	assert_int_equal(data_shard_sink_open(B, n.id[3], &l, 0, hl, &k), CN_EDRIVE);
	/* B's own, offline */
	data_store_drive_offline(B, 1);
	assert_int_equal(data_shard_sink_open(B, n.id[2], &l, 0, hl, &k), CN_EDRIVE);
	assert_int_equal(data_store_recheck(B), 2);
	assert_int_equal(data_shard_sink_open(B, n.id[2], &l, 0, hl, &k), 0);
	data_shard_sink_free(k);

	/* bad geometry */
	struct {
		uint8_t k, m, ck;
		uint32_t bs;
		int shard;
		uint32_t hl;
	} bad[] = {
		{0, 1, DATA_CK_CRC32C, 4096, 0, hl},		      /* k = 0 */
		{8, 9, DATA_CK_CRC32C, 4096, 0, hl},		      /* k + m = 17 */
		{17, 0, DATA_CK_CRC32C, 4096, 0, hl},		      /* k = 17 */
		{2, 1, DATA_CK_CRC32C, 0, 0, hl},		      /* no block size */
		{2, 1, DATA_CK_CRC32C, DATA_BLOCK_MAX + 1, 0, hl},    /* too big */
		{2, 1, 0, 4096, 0, hl},				      /* no checksum alg */
		{2, 1, 3, 4096, 0, hl},				      /* unknown alg */
		{2, 1, DATA_CK_CRC32C, 4096, -1, hl},		      /* shard < 0 */
		{2, 1, DATA_CK_CRC32C, 4096, 3, hl},		      /* shard >= k+m */
		{2, 1, DATA_CK_CRC32C, 4096, 0, 0},		      /* no header */
		{2, 1, DATA_CK_CRC32C, 4096, 0, SHARD_HDR_FIXED - 1}, /* too small */
		{2, 1, DATA_CK_CRC32C, 4096, 0, SHARD_HDR_MAX + 1},   /* too big */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b = l;
		b.k = bad[i].k;
		b.m = bad[i].m;
		b.cksum = bad[i].ck;
		b.block_size = bad[i].bs;
		int rc = data_shard_sink_open(B, n.id[1], &b, bad[i].shard, bad[i].hl, &k);
		if (rc != CN_EINVAL)
			fail_msg("geometry case %zu: open returned %d", i, rc);
	}
	/* the limits themselves are fine */
	b = l;
	b.k = 15;
	b.m = 1;
	b.cksum = DATA_CK_XXH3;
	assert_int_equal(data_shard_sink_open(B, n.id[1], &b, 15, SHARD_HDR_MAX, &k), 0);
	data_shard_sink_free(k);
	b.block_size = DATA_BLOCK_MAX;
	assert_int_equal(data_shard_sink_open(B, n.id[1], &b, 0, SHARD_HDR_FIXED, &k), 0);
	data_shard_sink_free(k);
	assert_int_equal(count_all(&n, "tmp"), 0);
	assert_int_equal(count_all(&n, "blobs"), 0);

	/* pread of a shard that is not there / on a drive B does not have */
	uint8_t buf[64];
	assert_int_equal(data_shard_pread(B, n.id[1], l.id, 0, buf, sizeof(buf), 0), CN_ENOTFOUND);
	assert_int_equal(data_shard_pread(B, nobody, l.id, 0, buf, sizeof(buf), 0), CN_EDRIVE);
	assert_int_equal(data_shard_pread(B, n.id[1], l.id, -1, buf, sizeof(buf), 0), CN_EINVAL);
	/* the no-wait one leaves all that to the thread */
	assert_int_equal(data_shard_pread_cached(B, n.id[1], l.id, 0, buf, sizeof(buf), 0),
			 CN_EWOULDBLOCK);
	assert_int_equal(data_shard_pread_cached(B, nobody, l.id, 0, buf, sizeof(buf), 0),
			 CN_EWOULDBLOCK);
	assert_int_equal(data_shard_pread_cached(B, n.id[1], l.id, -1, buf, sizeof(buf), 0),
			 CN_EINVAL);
	net_close(&n);
}

/* Does the page cache hold every page of the file now? (the test's own
 * probe, to tell a filesystem whose pages cannot be dropped) */
static int all_cached(const char *path)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	unsigned char vec[1024];
	int ok = 1;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	size_t pages = ((size_t)st.st_size + 4095) / 4096;
	assert_true(pages <= sizeof(vec));
	void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(m != MAP_FAILED);
	assert_int_equal(mincore(m, (size_t)st.st_size, vec), 0);
	for (size_t i = 0; i < pages; i++)
		ok &= vec[i] & 1;
	munmap(m, (size_t)st.st_size);
	close(fd);
	return ok;
}

/* data_shard_open_resident, the zero-copy send's source (s3/internal.c):
 * the fd reads the shard file's own bytes, *avail is clamped at the file's
 * end, and a range whose pages are not all in the page cache, a missing
 * shard or a drive not here is CN_EWOULDBLOCK. */
static void test_open_resident(void **state)
{
	(void)state;
	const size_t len = (1u << 20) + 17;
	uint8_t *data = malloc(len), *file = NULL, *got = NULL, nobody[DATA_ID_LEN] = {7};
	struct net n;
	struct blob_layout l;
	const int g3[] = {0, 1, 3};
	size_t avail;
	char path[512];

	assert_non_null(data);
	net_open(&n, 0, DATA_CK_CRC32C);
	net_place(&n, 2, 1, g3);
	fill(data, len, 4242);
	assert_int_equal(put_blob(&n, data, len, 4242, &l), 0);
	for (int i = 0; i < 3; i++) {
		int g = -1;
		struct node *o = owner(&n, l.drive[i], &g);
		struct stat st;
		FILE *f;

		assert_non_null(o);
		shard_file(n.path[g], l.id, i, path, sizeof(path));
		assert_int_equal(stat(path, &st), 0);
		size_t size = (size_t)st.st_size;
		assert_non_null(file = realloc(file, size));
		assert_non_null(got = realloc(got, size));
		assert_non_null(f = fopen(path, "rb"));
		assert_int_equal(fread(file, 1, size, f), size);
		fclose(f);
		/* ranges: the whole file, a middle, one that runs past the end,
		 * one at the end, one beyond it */
		const struct {
			uint64_t off;
			size_t len, avail;
		} r[] = {{0, size, size}, {100, 5000, 5000}, {size - 10, 100, 10},
			 {size, 10, 0},	  {size + 5, 10, 0}, {1, size + 99, size - 1}};
		for (size_t j = 0; j < sizeof(r) / sizeof(r[0]); j++) {
			int fd = data_shard_open_resident(o->s, l.drive[i], l.id, i, r[j].off,
							  r[j].len, &avail);
			assert_true(fd >= 0);
			assert_int_equal(avail, r[j].avail);
			assert_int_equal(pread(fd, got, avail, (off_t)r[j].off), (ssize_t)avail);
			if (avail)
				assert_memory_equal(got, file + r[j].off, avail);
			data_shard_close(o->s, fd);
		}
		/* not here: nothing opened, nothing recorded */
		assert_int_equal(data_shard_open_resident(o->s, nobody, l.id, i, 0, 10, &avail),
				 CN_EWOULDBLOCK);
		assert_int_equal(
			data_shard_open_resident(o->s, l.drive[i], nobody, i, 0, 10, &avail),
			CN_EWOULDBLOCK);
		assert_int_equal(
			data_shard_open_resident(o->s, l.drive[i], l.id, -1, 0, 10, &avail),
			CN_EINVAL);
		/* pages dropped from the cache: refused, so the loop never
		 * waits on the disk; read again, taken again */
		int fd = open(path, O_RDONLY);
		assert_true(fd >= 0);
		assert_int_equal(fdatasync(fd), 0);
		assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
		close(fd);
		if (all_cached(path)) {
			print_message("  (shard %d: this filesystem keeps its pages; the "
				      "not-cached case is not checked)\n",
				      i);
		} else {
			assert_int_equal(data_shard_open_resident(o->s, l.drive[i], l.id, i, 0,
								  size, &avail),
					 CN_EWOULDBLOCK);
			/* the pages past a range do not matter */
			assert_int_equal(data_shard_open_resident(o->s, l.drive[i], l.id, i, size,
								  10, &avail) >= 0,
					 1);
		}
		assert_non_null(f = fopen(path, "rb"));
		assert_int_equal(fread(got, 1, size, f), size);
		fclose(f);
		fd = data_shard_open_resident(o->s, l.drive[i], l.id, i, 0, size, &avail);
		assert_true(fd >= 0);
		assert_int_equal(avail, size);
		data_shard_close(o->s, fd);
	}
	net_close(&n);
	free(file);
	free(got);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_quorum),
		cmocka_unit_test(test_remote_roundtrip),
		cmocka_unit_test(test_split_reads),
		cmocka_unit_test(test_full_drive_fails_as_full),
		cmocka_unit_test(test_wopen_fails),
		cmocka_unit_test(test_wput_fails_midstream),
		cmocka_unit_test(test_seal_and_wait_fail),
		cmocka_unit_test(test_local_shard_fails),
		cmocka_unit_test(test_silent_node_after_quorum),
		cmocka_unit_test(test_nowait_remote_piece),
		cmocka_unit_test(test_sink_replay),
		cmocka_unit_test(test_sink_open_checks),
		cmocka_unit_test(test_open_resident),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests_name("data_shard_sink", tests, NULL, NULL);
}
