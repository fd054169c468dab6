/*
 * bench/meta_bench.c — the metadata engine (src/meta/meta.h) measured beside
 * plain LMDB in one run, on the same machine, keys and batch sizes.
 *
 * Layer: bench (not a test; never in `make test`). Plain LMDB is driven with
 * raw mdb_* calls here on purpose: it is the ceiling the engine is compared
 * against. Both environments use durable commits (no NOSYNC/NOMETASYNC).
 *
 * For each key order (random names, time-ordered names) it loads N objects
 * into each store, then measures: durable put throughput (engine: 64
 * meta_submit_sync threads, and meta_submit with a deep window on one uv
 * loop; plain LMDB: one writer at the engine's measured batch size, and at
 * 1000 / 10000 per commit), point lookups/s per thread, a 1000-key cursor
 * page, a 1000-prefix delimiter page, and on-disk bytes per object. The
 * engine's batch size is read from LMDB's transaction id (me_last_txnid)
 * with the store closed, so no engine change is needed to see it.
 *
 * Key names are 47 bytes. Random: "ppp/" + 16 hex of a bijective mix of i +
 * 27 filler letters, ppp in 000..999 (so "/" yields 1000 common prefixes with
 * N/1000 keys each). Time-ordered: "log/2025/" + 20-digit ns + "-" + 17 hex.
 */
#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "core/err.h"
#include "data/data.h"
#include "meta/meta.h"

#define KEYLEN 47
#define BUCKET "bench"
#define MAXT 256

struct cfg {
	uint64_t n;	     /* objects loaded per store */
	uint64_t ops;	     /* puts per throughput measurement */
	int threads;	     /* sync submitters */
	int reps;	     /* repetitions of each paired measurement */
	int pages;	     /* list pages per measurement */
	double secs;	     /* seconds per lookup measurement */
	const char *dir;     /* working directory (same disk as /work) */
	const char *orders;  /* "random", "time" or "both" */
	uint64_t load_batch; /* plain LMDB load batch */
	uint32_t window;     /* engine async window */
	const char *phases;  /* comma list of put,lookup,page,delim (load always) */
};

static struct cfg C = {
	.n = 200000,
	.ops = 20000,
	.threads = 64,
	.reps = 3,
	.pages = 200,
	.secs = 1.0,
	.dir = "/work/bench-tmp/meta",
	.orders = "both",
	.load_batch = 10000,
	.window = 20000,
	.phases = "put,lookup,page,delim",
};

static int phase(const char *name)
{
	const char *p = C.phases;
	size_t n = strlen(name);
	while ((p = strstr(p, name)) != NULL) {
		if ((p == C.phases || p[-1] == ',') && (p[n] == ',' || p[n] == 0))
			return 1;
		p += n;
	}
	return 0;
}

static uint8_t g_layout[DATA_LAYOUT_MAX];
static size_t g_layout_len;
static size_t g_val_len; /* plain LMDB value: the engine record's payload bytes */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "meta_bench: %s: %d (%s)\n", what, rc,
		rc > 0 ? mdb_strerror(rc) : cn_strerror(rc));
	exit(1);
}

static uint64_t mix(uint64_t x) /* splitmix64 finaliser: a bijection */
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static uint64_t rng_next(uint64_t *s)
{
	*s += 0x9E3779B97F4A7C15ULL;
	return mix(*s);
}

/* Key i of an order (0 random, 1 time-ordered) into out[KEYLEN + 1]. */
static void key_make(int order, uint64_t i, char *out)
{
	uint64_t h = mix(i + 1);

	if (order == 0) {
		uint64_t f = mix(h);
		int o = snprintf(out, KEYLEN + 1, "%03u/%016llx", (unsigned)((h >> 40) % 1000),
				 (unsigned long long)h);
		while (o < KEYLEN) {
			out[o++] = (char)('a' + f % 26);
			f = f / 26 ? f / 26 : mix(f + o);
		}
		out[KEYLEN] = 0;
	} else {
		snprintf(out, KEYLEN + 1, "log/2025/%020llu-%017llx",
			 (unsigned long long)(1735689600000000000ULL + i * 1000ULL),
			 (unsigned long long)(h & 0xFFFFFFFFFFFFFULL) | (1ULL << 60));
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i];
}

static double median3(double *v, int n)
{
	double t[16];
	memcpy(t, v, sizeof(double) * (size_t)n);
	return pct(t, (size_t)n, 0.5);
}

/* ---------------- plain LMDB ---------------- */

struct plain {
	MDB_env *env;
	MDB_dbi dbi;
	uint64_t next; /* next key index to insert */
};

static void plain_open(struct plain *p, const char *dir)
{
	MDB_txn *t;
	int rc;

	mkdir(dir, 0700);
	if ((rc = mdb_env_create(&p->env)) || (rc = mdb_env_set_mapsize(p->env, 64ull << 30)) ||
	    (rc = mdb_env_set_maxreaders(p->env, 1024)) ||
	    (rc = mdb_env_open(p->env, dir, MDB_NOTLS, 0600)))
		die("plain open", rc);
	if ((rc = mdb_txn_begin(p->env, NULL, 0, &t)) || (rc = mdb_dbi_open(t, NULL, 0, &p->dbi)) ||
	    (rc = mdb_txn_commit(t)))
		die("plain dbi", rc);
}

static void val_make(uint64_t i, uint8_t *v)
{
	uint64_t s = i;
	for (size_t o = 0; o < g_val_len; o += 8) {
		uint64_t r = rng_next(&s);
		memcpy(v + o, &r, g_val_len - o < 8 ? g_val_len - o : 8);
	}
}

/* Inserts count new keys, batch per durable commit. Returns ops/s; commit
 * latencies (s) go to lat if not NULL. */
static double plain_insert(struct plain *p, int order, uint64_t count, uint64_t batch, double *lat,
			   size_t *nlat)
{
	char k[KEYLEN + 1];
	uint8_t v[512];
	double t0 = now_s();
	size_t nl = 0;

	for (uint64_t done = 0; done < count;) {
		MDB_txn *t;
		double c0 = now_s();
		int rc = mdb_txn_begin(p->env, NULL, 0, &t);
		if (rc)
			die("plain begin", rc);
		for (uint64_t j = 0; j < batch && done < count; j++, done++) {
			key_make(order, p->next, k);
			val_make(p->next, v);
			p->next++;
			MDB_val mk = {KEYLEN, k}, mv = {g_val_len, v};
			if ((rc = mdb_put(t, p->dbi, &mk, &mv, 0)))
				die("plain put", rc);
		}
		if ((rc = mdb_txn_commit(t)))
			die("plain commit", rc);
		if (lat)
			lat[nl++] = now_s() - c0;
	}
	if (nlat)
		*nlat = nl;
	return (double)count / (now_s() - t0);
}

/* ---------------- engine ---------------- */

struct eng {
	struct meta_store *s;
	char dir[512];
	uint64_t next;
	atomic_uint_fast64_t anext;
};

static void eng_open(struct eng *e)
{
	int rc = meta_store_open(e->dir, NULL, &e->s);
	if (rc)
		die("meta_store_open", rc);
}

static void cmd_fill(struct meta_store *s, struct meta_cmd *c, char *kbuf, int order, uint64_t i)
{
	static const char etag[] = "0123456789abcdef0123456789abcdef";

	key_make(order, i, kbuf);
	memset(c, 0, sizeof(*c));
	c->type = META_CMD_PUT_VERSION;
	c->now = wall_ns();
	c->bucket = BUCKET;
	c->bucket_len = strlen(BUCKET);
	c->key = kbuf;
	c->key_len = KEYLEN;
	meta_version_id_new(s, c->vid);
	c->size = 1048576 + i % 4096;
	c->etag = etag;
	c->etag_len = 32;
	c->loc = META_LOC_BLOB;
	uint64_t b = mix(i ^ 0xb10b);
	memcpy(c->blob_id, &b, 8);
	memcpy(c->blob_id + 8, &i, 8);
	c->layout = g_layout;
	c->layout_len = g_layout_len;
}

/* Last committed top-level txn id and used bytes of the engine's store,
 * read with raw LMDB while the store is closed (one env per process). */
struct eng_info {
	size_t txnid;
	uint64_t used_bytes;
	uint64_t db_bytes[16];
	uint64_t db_entries[16];
};

static const char *const eng_dbs[] = {"index",	 "versions", "stats",	"buckets", "gc",
				      "intents", "inline",   "uploads", "parts",   "system"};
#define N_ENG_DBS (sizeof(eng_dbs) / sizeof(eng_dbs[0]))

static void env_info_raw(const char *dir, int named, struct eng_info *out)
{
	MDB_env *env;
	MDB_envinfo info;
	MDB_stat st;
	MDB_txn *t;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_maxdbs(env, 32)) ||
	    (rc = mdb_env_set_mapsize(env, 64ull << 30)) ||
	    (rc = mdb_env_open(env, dir, MDB_NOTLS | MDB_RDONLY, 0600)))
		die("raw open", rc);
	mdb_env_info(env, &info);
	mdb_env_stat(env, &st);
	out->txnid = info.me_last_txnid;
	out->used_bytes = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
	if (named && !mdb_txn_begin(env, NULL, MDB_RDONLY, &t)) {
		for (size_t i = 0; i < N_ENG_DBS; i++) {
			MDB_dbi d;
			if (mdb_dbi_open(t, eng_dbs[i], 0, &d) || mdb_stat(t, d, &st))
				continue;
			out->db_bytes[i] = (uint64_t)(st.ms_branch_pages + st.ms_leaf_pages +
						      st.ms_overflow_pages) *
					   st.ms_psize;
			out->db_entries[i] = st.ms_entries;
		}
		mdb_txn_abort(t);
	}
	mdb_env_close(env);
}

static void eng_info(struct eng *e, struct eng_info *out)
{
	meta_store_close(e->s);
	e->s = NULL;
	env_info_raw(e->dir, 1, out);
	eng_open(e);
}

/* --- async submit with a window, on one uv loop --- */
struct slot {
	struct meta_cmd cmd;
	char key[KEYLEN + 1];
	double t0;
	struct actx *a;
};

struct actx {
	struct eng *e;
	int order;
	uint64_t remaining, inflight;
	struct slot *slots;
	double *lat;
	size_t nlat;
	int err;
	struct meta_waiter *w;
};

static void async_issue(struct actx *a, struct slot *sl);

static void async_cb(struct meta_cmd *cmd, int result, void *arg)
{
	struct slot *sl = arg;
	struct actx *a = sl->a;

	(void)cmd;
	if (result && !a->err)
		a->err = result;
	a->lat[a->nlat++] = now_s() - sl->t0;
	a->inflight--;
	if (a->remaining)
		async_issue(a, sl);
}

static void async_issue(struct actx *a, struct slot *sl)
{
	cmd_fill(a->e->s, &sl->cmd, sl->key, a->order, a->e->next++);
	sl->a = a;
	sl->t0 = now_s();
	a->remaining--;
	a->inflight++;
	int rc = meta_submit(a->e->s, &sl->cmd, a->w, async_cb, sl);
	if (rc)
		die("meta_submit", rc);
}

static void waiter_closed(struct meta_waiter *w)
{
	(void)w;
}

/* Puts count new objects with `window` commands in flight. Returns ops/s. */
static double eng_async(struct eng *e, int order, uint64_t count, uint32_t window, double *lat)
{
	uv_loop_t loop;
	struct meta_waiter w;
	struct actx a = {.e = e, .order = order, .remaining = count, .lat = lat};
	double t0;
	int rc;

	a.slots = calloc(window, sizeof(*a.slots));
	uv_loop_init(&loop);
	if ((rc = meta_waiter_init(&w, &loop)))
		die("waiter", rc);
	a.w = &w;
	t0 = now_s();
	for (uint32_t i = 0; i < window && a.remaining; i++)
		async_issue(&a, &a.slots[i]);
	while (a.inflight)
		uv_run(&loop, UV_RUN_ONCE);
	t0 = now_s() - t0;
	meta_waiter_close(&w, waiter_closed);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	free(a.slots);
	if (a.err)
		die("async put", a.err);
	return (double)count / t0;
}

/* --- sync submitters --- */
struct sctx {
	struct eng *e;
	int order;
	uint64_t limit;
	double *lat;
	atomic_size_t nlat;
	atomic_int err;
};

static void *sync_thread(void *arg)
{
	struct sctx *x = arg;
	struct meta_cmd c;
	char k[KEYLEN + 1];

	for (;;) {
		uint64_t i = atomic_fetch_add(&x->e->anext, 1);
		if (i >= x->limit)
			break;
		cmd_fill(x->e->s, &c, k, x->order, i);
		double t0 = now_s();
		int rc = meta_submit_sync(x->e->s, &c);
		if (rc)
			atomic_store(&x->err, rc);
		x->lat[atomic_fetch_add(&x->nlat, 1)] = now_s() - t0;
	}
	return NULL;
}

static double eng_sync(struct eng *e, int order, uint64_t count, int threads, double *lat,
		       size_t *nlat)
{
	pthread_t th[MAXT];
	struct sctx x = {.e = e, .order = order, .lat = lat};
	double t0;

	atomic_store(&e->anext, e->next);
	x.limit = e->next + count;
	t0 = now_s();
	for (int i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, sync_thread, &x);
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	t0 = now_s() - t0;
	e->next = x.limit;
	if (atomic_load(&x.err))
		die("sync put", atomic_load(&x.err));
	*nlat = atomic_load(&x.nlat);
	return (double)count / t0;
}

/* ---------------- lookups ---------------- */
struct lctx {
	int engine;
	struct plain *p;
	struct eng *e;
	int order;
	uint64_t n;
	double secs;
	uint64_t seed;
	uint64_t ops;
	int err;
};

static void *lookup_thread(void *arg)
{
	struct lctx *x = arg;
	char k[KEYLEN + 1];
	uint64_t s = x->seed, ops = 0;
	double end = now_s() + x->secs;

	while ((ops & 255) || now_s() < end) {
		key_make(x->order, rng_next(&s) % x->n, k);
		if (x->engine) {
			struct meta_version v;
			int rc = meta_object_get(x->e->s, BUCKET, k, KEYLEN, NULL, 0, &v);
			if (rc)
				x->err = rc;
			else
				meta_version_release(&v);
		} else {
			MDB_txn *t;
			MDB_val mk = {KEYLEN, k}, mv;
			int rc = mdb_txn_begin(x->p->env, NULL, MDB_RDONLY, &t);
			if (!rc) {
				rc = mdb_get(t, x->p->dbi, &mk, &mv);
				mdb_txn_abort(t);
			}
			if (rc)
				x->err = rc;
		}
		ops++;
	}
	x->ops = ops;
	return NULL;
}

/* Lookups per second per thread with `threads` threads. */
static double lookups(int engine, struct plain *p, struct eng *e, int order, int threads)
{
	pthread_t th[MAXT];
	struct lctx x[MAXT];
	double t0 = now_s(), total = 0;

	for (int i = 0; i < threads; i++) {
		x[i] = (struct lctx){.engine = engine,
				     .p = p,
				     .e = e,
				     .order = order,
				     .n = C.n,
				     .secs = C.secs,
				     .seed = (uint64_t)i * 7919 + 1};
		pthread_create(&th[i], NULL, lookup_thread, &x[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		if (x[i].err)
			die("lookup", x[i].err);
		total += (double)x[i].ops;
	}
	return total / (now_s() - t0) / threads;
}

/* ---------------- listing ---------------- */

/* One 1000-entry page from a random start; returns seconds. */
static double page_plain(struct plain *p, int order, uint64_t *seed)
{
	char k[KEYLEN + 1], last[KEYLEN + 1];
	MDB_txn *t;
	MDB_cursor *cur;
	MDB_val mk, mv;
	size_t got = 0, sum = 0;
	double t0 = now_s();

	key_make(order, rng_next(seed) % C.n, k);
	mk.mv_size = KEYLEN;
	mk.mv_data = k;
	mdb_txn_begin(p->env, NULL, MDB_RDONLY, &t);
	mdb_cursor_open(t, p->dbi, &cur);
	int rc = mdb_cursor_get(cur, &mk, &mv, MDB_SET_RANGE);
	while (!rc && got < 1000) {
		memcpy(last, mk.mv_data, mk.mv_size < KEYLEN ? mk.mv_size : KEYLEN);
		sum += ((const uint8_t *)mv.mv_data)[0];
		got++;
		rc = mdb_cursor_get(cur, &mk, &mv, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(t);
	(void)sum;
	return now_s() - t0;
}

static double page_eng(struct eng *e, int order, uint64_t *seed, size_t *n)
{
	char k[KEYLEN + 1];
	struct meta_list_params lp = {.start = k, .start_len = KEYLEN, .max = 1000};
	struct meta_list_result r;
	double t0 = now_s();

	key_make(order, rng_next(seed) % C.n, k);
	int rc = meta_list_objects(e->s, BUCKET, &lp, &r);
	if (rc)
		die("meta_list_objects", rc);
	t0 = now_s() - t0;
	*n = r.n;
	meta_list_result_release(&r);
	return t0;
}

/* 1000 common prefixes ("ppp/") of the random key set, seeking past each. */
static double delim_plain(struct plain *p, int seek, size_t *n)
{
	uint8_t seekk[KEYLEN + 1];
	MDB_txn *t;
	MDB_cursor *cur;
	MDB_val mk = {0, NULL}, mv;
	size_t got = 0;
	double t0 = now_s();
	int rc;

	mdb_txn_begin(p->env, NULL, MDB_RDONLY, &t);
	mdb_cursor_open(t, p->dbi, &cur);
	rc = mdb_cursor_get(cur, &mk, &mv, MDB_FIRST);
	while (!rc && got < 1000) {
		const uint8_t *kp = mk.mv_data;
		uint8_t *d = memchr(kp, '/', mk.mv_size);
		if (!d) { /* no delimiter: a plain key */
			got++;
			rc = mdb_cursor_get(cur, &mk, &mv, MDB_NEXT);
			continue;
		}
		size_t plen = (size_t)(d - kp) + 1;
		got++;
		memcpy(seekk, kp, plen);
		if (seek) {
			seekk[plen - 1] = '/' + 1; /* successor of the common prefix */
			mk.mv_size = plen;
			mk.mv_data = seekk;
			rc = mdb_cursor_get(cur, &mk, &mv, MDB_SET_RANGE);
		} else {
			do
				rc = mdb_cursor_get(cur, &mk, &mv, MDB_NEXT);
			while (!rc && mk.mv_size >= plen && memcmp(mk.mv_data, seekk, plen) == 0);
		}
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(t);
	*n = got;
	return now_s() - t0;
}

static double delim_eng(struct eng *e, size_t *n)
{
	struct meta_list_params lp = {.delimiter = "/", .delimiter_len = 1, .max = 1000};
	struct meta_list_result r;
	double t0 = now_s();
	int rc = meta_list_objects(e->s, BUCKET, &lp, &r);

	if (rc)
		die("meta_list_objects delim", rc);
	t0 = now_s() - t0;
	*n = r.n + r.n_prefixes;
	meta_list_result_release(&r);
	return t0;
}

/* ---------------- driver ---------------- */

static void rmrf(const char *path)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "meta_bench: %s failed\n", cmd);
}

static void run_order(int order)
{
	const char *oname = order == 0 ? "random" : "time-ordered";
	char pdir[512];
	struct plain p = {0};
	struct eng e = {0};
	struct eng_info ei0, ei1, pinfo;
	size_t lat_cap = C.ops * 4 + C.n + C.window + 16, nl;
	double *lat = malloc(lat_cap * sizeof(double));
	double t;

	snprintf(pdir, sizeof(pdir), "%s/plain-%d", C.dir, order);
	snprintf(e.dir, sizeof(e.dir), "%s/meta-%d", C.dir, order);
	rmrf(pdir);
	rmrf(e.dir);
	printf("\n== %s names, N=%llu objects, %zu-byte keys, %zu-byte plain values ==\n", oname,
	       (unsigned long long)C.n, (size_t)KEYLEN, g_val_len);

	/* load */
	plain_open(&p, pdir);
	t = plain_insert(&p, order, C.n, C.load_batch, NULL, NULL);
	printf("load   plain LMDB %llu/commit: %.0f puts/s\n", (unsigned long long)C.load_batch, t);
	eng_open(&e);
	{
		struct meta_cmd bc = {.type = META_CMD_BUCKET_CREATE,
				      .now = wall_ns(),
				      .bucket = BUCKET,
				      .bucket_len = strlen(BUCKET)};
		int rc = meta_submit_sync(e.s, &bc);
		if (rc)
			die("bucket create", rc);
	}
	eng_info(&e, &ei0);
	t = eng_async(&e, order, C.n, C.window, lat);
	eng_info(&e, &ei1);
	printf("load   engine async window %u: %.0f puts/s, %.0f per commit (%zu commits)\n",
	       C.window, t, (double)C.n / (double)(ei1.txnid - ei0.txnid), ei1.txnid - ei0.txnid);

	/* bytes per object, right after the load */
	mdb_env_sync(p.env, 1);
	{
		MDB_envinfo info;
		MDB_stat st;
		mdb_env_info(p.env, &info);
		mdb_env_stat(p.env, &st);
		pinfo.used_bytes = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
		double pb = (double)pinfo.used_bytes / (double)C.n;
		double eb = (double)ei1.used_bytes / (double)C.n;
		printf("bytes/object: plain %.1f, engine %.1f (ratio %.2fx; target <= 1.3x)\n", pb,
		       eb, eb / pb);
		printf("  engine by db:");
		for (size_t i = 0; i < N_ENG_DBS; i++)
			if (ei1.db_bytes[i] > 8192)
				printf(" %s %.1f B/obj (%llu entries)", eng_dbs[i],
				       (double)ei1.db_bytes[i] / (double)C.n,
				       (unsigned long long)ei1.db_entries[i]);
		printf("\n  plain tree: %.1f B/obj (branch %zu leaf %zu pages)\n",
		       (double)(st.ms_branch_pages + st.ms_leaf_pages) * st.ms_psize / (double)C.n,
		       st.ms_branch_pages, st.ms_leaf_pages);
	}

	/* durable puts: engine (sync x64, async deep) vs plain at the same batch */
	double r_sync[16], r_async[16], e_sync[16], p_sync[16], e_async[16], p_async[16];
	double b_sync = 0, b_async = 0, p50s = 0, p99s = 0, p50a = 0, p99a = 0, p1k[16], p10k[16];
	for (int r = 0; r < C.reps && phase("put"); r++) {
		eng_info(&e, &ei0);
		e_sync[r] = eng_sync(&e, order, C.ops, C.threads, lat, &nl);
		eng_info(&e, &ei1);
		b_sync = (double)C.ops / (double)(ei1.txnid - ei0.txnid);
		p50s = pct(lat, nl, 0.5) * 1e3;
		p99s = pct(lat, nl, 0.99) * 1e3;
		p_sync[r] = plain_insert(&p, order, C.ops, (uint64_t)(b_sync + 0.5), NULL, NULL);
		r_sync[r] = e_sync[r] / p_sync[r];
		printf("put    rep %d: engine %d sync submitters %.0f/s (%.1f per commit, p50 %.2f "
		       "ms p99 %.2f ms) | plain @%.0f/commit %.0f/s | ratio %.2f\n",
		       r, C.threads, e_sync[r], b_sync, p50s, p99s, b_sync, p_sync[r], r_sync[r]);

		uint64_t aops = C.ops * 4;
		eng_info(&e, &ei0);
		e_async[r] = eng_async(&e, order, aops, C.window, lat);
		eng_info(&e, &ei1);
		b_async = (double)aops / (double)(ei1.txnid - ei0.txnid);
		p50a = pct(lat, aops, 0.5) * 1e3;
		p99a = pct(lat, aops, 0.99) * 1e3;
		p_async[r] = plain_insert(&p, order, aops, (uint64_t)(b_async + 0.5), NULL, NULL);
		r_async[r] = e_async[r] / p_async[r];
		printf("put    rep %d: engine async window %u %.0f/s (%.0f per commit, p50 %.1f ms "
		       "p99 %.1f ms) | plain @%.0f/commit %.0f/s | ratio %.2f\n",
		       r, C.window, e_async[r], b_async, p50a, p99a, b_async, p_async[r],
		       r_async[r]);
		p1k[r] = plain_insert(&p, order, aops, 1000, NULL, NULL);
		p10k[r] = plain_insert(&p, order, aops, 10000, NULL, NULL);
		printf("put    rep %d: plain @1000/commit %.0f/s, @10000/commit %.0f/s\n", r,
		       p1k[r], p10k[r]);
	}
	if (phase("put"))
		printf("SUMMARY %s put sync x%d: engine %.0f/s vs plain %.0f/s at %.1f/commit, "
		       "ratio "
		       "%.2f (target >= 0.8)\n",
		       oname, C.threads, median3(e_sync, C.reps), median3(p_sync, C.reps), b_sync,
		       median3(r_sync, C.reps));
	if (phase("put"))
		printf("SUMMARY %s put async: engine %.0f/s vs plain %.0f/s at %.0f/commit, ratio "
		       "%.2f; "
		       "plain @1000 %.0f/s @10000 %.0f/s\n",
		       oname, median3(e_async, C.reps), median3(p_async, C.reps), b_async,
		       median3(r_async, C.reps), median3(p1k, C.reps), median3(p10k, C.reps));

	/* point lookups */
	for (int th = 1; th <= 2 && phase("lookup"); th++) {
		double el[16], pl[16], rl[16];
		for (int r = 0; r < C.reps; r++) {
			pl[r] = lookups(0, &p, &e, order, th);
			el[r] = lookups(1, &p, &e, order, th);
			rl[r] = el[r] / pl[r];
		}
		printf("SUMMARY %s lookups %d thread(s): engine %.0f/s/thread vs plain "
		       "%.0f/s/thread, "
		       "ratio %.2f (target >= 0.8)\n",
		       oname, th, median3(el, C.reps), median3(pl, C.reps), median3(rl, C.reps));
	}

	/* 1000-key pages */
	{
		double *pe = malloc(sizeof(double) * (size_t)C.pages);
		double *pp = malloc(sizeof(double) * (size_t)C.pages);
		uint64_t s1 = 42, s2 = 42;
		size_t n = 0;
		for (int i = 0; i < C.pages && phase("page"); i++) {
			pp[i] = page_plain(&p, order, &s1);
			pe[i] = page_eng(&e, order, &s2, &n);
		}
		if (phase("page"))
			printf("SUMMARY %s list page 1000: engine p50 %.0f us p99 %.0f us | plain "
			       "p50 %.0f "
			       "us p99 %.0f us (target p99 <= 500 us)\n",
			       oname, pct(pe, (size_t)C.pages, 0.5) * 1e6,
			       pct(pe, (size_t)C.pages, 0.99) * 1e6,
			       pct(pp, (size_t)C.pages, 0.5) * 1e6,
			       pct(pp, (size_t)C.pages, 0.99) * 1e6);
		if (order == 0 && phase("delim")) {
			size_t ne = 0, np = 0;
			for (int i = 0; i < C.pages; i++) {
				pp[i] = delim_plain(&p, 1, &np);
				pe[i] = delim_eng(&e, &ne);
			}
			double step = 0;
			for (int i = 0; i < 3; i++) {
				double x = delim_plain(&p, 0, &n);
				step = i == 0 || x < step ? x : step;
			}
			printf("SUMMARY %s delimiter page (%zu prefixes, ~%llu keys each): engine "
			       "p50 "
			       "%.2f ms p99 %.2f ms | plain seek p50 %.2f ms p99 %.2f ms, plain "
			       "step %.1f ms (target p99 <= 3 ms)\n",
			       oname, ne, (unsigned long long)(C.n / 1000),
			       pct(pe, (size_t)C.pages, 0.5) * 1e3,
			       pct(pe, (size_t)C.pages, 0.99) * 1e3,
			       pct(pp, (size_t)C.pages, 0.5) * 1e3,
			       pct(pp, (size_t)C.pages, 0.99) * 1e3, step * 1e3);
			if (np != ne)
				printf("NOTE prefix count differs: engine %zu plain %zu\n", ne, np);
		}
		free(pe);
		free(pp);
	}

	meta_store_close(e.s);
	mdb_env_close(p.env);
	free(lat);
	fflush(stdout);
	if (!getenv("META_BENCH_KEEP")) {
		rmrf(pdir);
		rmrf(e.dir);
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: meta_bench [-n objects] [-o ops] [-t threads] [-r reps] "
			"[-p pages] [-s secs] [-w window] [-k random|time|both] [-d dir]\n"
			"                  [-x put,lookup,page,delim]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int opt;

	setvbuf(stdout, NULL, _IOLBF, 0); /* progress lines show up under tee */

	while ((opt = getopt(argc, argv, "n:o:t:r:p:s:w:k:d:x:")) != -1) {
		switch (opt) {
		case 'n': C.n = strtoull(optarg, NULL, 10); break;
		case 'o': C.ops = strtoull(optarg, NULL, 10); break;
		case 't': C.threads = atoi(optarg); break;
		case 'r': C.reps = atoi(optarg); break;
		case 'p': C.pages = atoi(optarg); break;
		case 's': C.secs = atof(optarg); break;
		case 'w': C.window = (uint32_t)atoi(optarg); break;
		case 'k': C.orders = optarg; break;
		case 'd': C.dir = optarg; break;
		case 'x': C.phases = optarg; break;
		default: usage();
		}
	}
	if (C.n < 1000 || C.threads < 1 || C.threads > MAXT || C.reps < 1 || C.reps > 16 ||
	    C.pages < 1 || C.window < 1)
		usage();
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", C.dir);
	if (system(cmd) != 0)
		usage();

	/* a realistic 1+0 layout, so engine records carry what a real PUT stores */
	struct blob_layout l = {.k = 1,
				.m = 0,
				.cksum = DATA_CK_CRC32C,
				.block_size = DATA_BLOCK_DEFAULT,
				.size = 1048576};
	int len = blob_layout_encode(&l, g_layout, sizeof(g_layout));
	if (len < 0)
		die("layout", len);
	g_layout_len = (size_t)len;
	/* vid + mtime + size + etag + blob id + layout */
	g_val_len = 16 + 8 + 8 + 32 + 16 + g_layout_len;
	if (g_val_len > 512)
		die("value", CN_EINVAL);

	printf("meta_bench: N=%llu ops=%llu threads=%d reps=%d window=%u dir=%s\n",
	       (unsigned long long)C.n, (unsigned long long)C.ops, C.threads, C.reps, C.window,
	       C.dir);
	if (!strcmp(C.orders, "random") || !strcmp(C.orders, "both"))
		run_order(0);
	if (!strcmp(C.orders, "time") || !strcmp(C.orders, "both"))
		run_order(1);
	return 0;
}
