/*
 * core/metrics.c — see metrics.h. Per-thread counters, summed at scrape time.
 *
 * Every thread that records owns one `struct tmet`, found through a
 * thread-local pointer and registered once in the global list `tables` under
 * `mu`. The hot path never locks and never compares text: op names have
 * static lifetime, so a per-thread open-addressing hash maps the pointer to a
 * slot; text is compared only the first time a thread sees a pointer (the
 * same name may live at two addresses, one per translation unit).
 *
 * Invariants:
 *  - only the owning thread writes a table's counters (relaxed load + store,
 *    no read-modify-write); scrapers read them with relaxed loads;
 *  - ops[] and series[] entries are written once, then published by a
 *    release store of n_ops / n_series (series after the op it names);
 *  - tables are never freed: an exited thread's table goes back to the list
 *    and the next new thread adopts it, so counts never vanish and memory is
 *    bounded by the number of threads recording at once.
 */
#include "core/metrics.h"

#include <assert.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Caps per thread, and on the merged output, as the old global table had. */
#define MAX_OPS 128
#define MAX_SERIES 512
/* Pointer hash: aliases of one name take slots too; filled to 3/4 at most so
 * probing always finds an empty slot. */
#define PTR_BITS 9
#define PTR_SLOTS (1u << PTR_BITS)
#define PTR_FILL (PTR_SLOTS / 4 * 3)
/* (op, status) hash: at most MAX_SERIES keys in twice as many slots. */
#define SER_BITS 10
#define SER_SLOTS (1u << SER_BITS)
#define OP_NONE 0xff /* pointer seen, but its name did not fit in ops[] */

static const uint64_t bucket_us[] = {100,     250,     500,	1000,	 2500,	 5000,
				     10000,   25000,   50000,	100000,	 250000, 500000,
				     1000000, 2500000, 5000000, 10000000};
#define NBUCKETS (sizeof(bucket_us) / sizeof(bucket_us[0]))

struct op_stat {
	const char *name; /* the first pointer this thread saw with this text */
	uint32_t hash;	  /* of the text, so merging rarely needs strcmp */
	/* Not cumulative: one bucket per request, [NBUCKETS] = slower than the
	 * last bound. Summed into cumulative buckets when rendering. */
	_Atomic uint64_t buckets[NBUCKETS + 1];
	_Atomic uint64_t sum_us;
};

struct series_stat {
	uint8_t op; /* index into ops[] */
	int status;
	_Atomic uint64_t count;
};

/* (op, status) -> series index; key 0 marks an empty slot. */
struct series_index {
	uint64_t key[SER_SLOTS];
	uint16_t val[SER_SLOTS];
};

struct tmet {
	/* Read by scrapers. */
	struct op_stat ops[MAX_OPS];
	struct series_stat series[MAX_SERIES];
	atomic_int n_ops, n_series;
	_Atomic uint64_t bytes_in, bytes_out, conns_total, refused, evicted;
	_Atomic uint64_t reads_loop, reads_pool;
	_Atomic uint64_t shard_serves[CN_SHARD_NHOW];
	_Atomic uint64_t leader_reads[CN_READ_NHOW];
	_Atomic uint64_t leader_writes[CN_WRITE_NHOW];
	/* This thread's share of the gauge; the sum is exact when a connection
	 * opens and closes on one thread, as http workers do. */
	_Atomic int64_t open_conns;
	/* Owner only. */
	const char *ptr_key[PTR_SLOTS];
	uint8_t ptr_val[PTR_SLOTS];
	unsigned n_ptrs;
	struct series_index sidx;
	/* Under mu. */
	struct tmet *next;
	int in_use;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct tmet *tables; /* every table ever made, under mu */
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t key;
static int key_ok;
static _Thread_local struct tmet *self;

/* Single writer, so a plain add suffices; the atomics only make the
 * scraper's concurrent read well defined. */
static inline void bump(_Atomic uint64_t *c, uint64_t d)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + d,
			      memory_order_relaxed);
}

static inline uint64_t peek(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static inline unsigned mix(uint64_t x, unsigned bits)
{
	return (unsigned)((x * 0x9E3779B97F4A7C15ull) >> (64 - bits));
}

static uint32_t text_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

/* ---- thread tables ---- */

/* Runs at thread exit: the table returns to the list for the next thread. */
static void detach(void *p)
{
	struct tmet *t = p;

	pthread_mutex_lock(&mu);
	t->in_use = 0;
	pthread_mutex_unlock(&mu);
	self = NULL;
}

static void key_make(void)
{
	key_ok = pthread_key_create(&key, detach) == 0;
}

/* Once per thread: adopt a table left by an exited thread, or make one.
 * NULL when out of memory (the caller drops the sample and tries again on
 * its next call). */
static struct tmet *attach(void)
{
	struct tmet *t;

	pthread_once(&key_once, key_make);
	pthread_mutex_lock(&mu);
	for (t = tables; t && t->in_use; t = t->next)
		;
	if (!t) {
		t = calloc(1, sizeof(*t));
		if (t) {
			t->next = tables;
			tables = t;
		}
	}
	if (t)
		t->in_use = 1;
	pthread_mutex_unlock(&mu);
	/* Without the key (or if setspecific fails) the table is simply never
	 * recycled: one table per thread, still bounded by thread count. */
	if (t && key_ok)
		pthread_setspecific(key, t);
	self = t;
	return t;
}

/* ---- per-thread lookups (owner only) ---- */

/* Slow path: the first call with this pointer in this thread. */
static int op_intern(struct tmet *t, const char *op, unsigned slot)
{
	int n = atomic_load_explicit(&t->n_ops, memory_order_relaxed);
	uint32_t h = text_hash(op);
	int i;

	for (i = 0; i < n; i++)
		if (t->ops[i].hash == h && strcmp(t->ops[i].name, op) == 0)
			break;
	if (i == n && n < MAX_OPS) {
		t->ops[n].name = op;
		t->ops[n].hash = h;
		atomic_store_explicit(&t->n_ops, n + 1, memory_order_release);
	}
	if (i == MAX_OPS)
		i = OP_NONE;
	/* Remember the pointer (an unknown one too, so a dropped op costs one
	 * probe); past PTR_FILL every new pointer takes this path each time. */
	if (t->n_ptrs < PTR_FILL) {
		t->ptr_key[slot] = op;
		t->ptr_val[slot] = (uint8_t)i;
		t->n_ptrs++;
	}
	return i == OP_NONE ? -1 : i;
}

static inline int op_find(struct tmet *t, const char *op)
{
	unsigned i = mix((uintptr_t)op, PTR_BITS);

	for (;; i = (i + 1) & (PTR_SLOTS - 1)) {
		if (t->ptr_key[i] == op)
			return t->ptr_val[i] == OP_NONE ? -1 : t->ptr_val[i];
		if (!t->ptr_key[i])
			return op_intern(t, op, i);
	}
}

static inline uint64_t series_key(int op, int status)
{
	return ((uint64_t)(op + 1) << 32) | (uint32_t)status;
}

/* Returns the value stored for key, or -1 with *slot = where it would go.
 * Terminates because the index is never more than half full. */
static inline int sidx_find(const struct series_index *x, uint64_t k, unsigned *slot)
{
	unsigned i = mix(k, SER_BITS);

	for (; x->key[i]; i = (i + 1) & (SER_SLOTS - 1))
		if (x->key[i] == k)
			return x->val[i];
	*slot = i;
	return -1;
}

static inline int series_find(struct tmet *t, int op, int status)
{
	uint64_t k = series_key(op, status);
	unsigned slot;
	int s = sidx_find(&t->sidx, k, &slot);

	if (s >= 0)
		return s;
	s = atomic_load_explicit(&t->n_series, memory_order_relaxed);
	if (s == MAX_SERIES)
		return -1;
	t->series[s].op = (uint8_t)op;
	t->series[s].status = status;
	atomic_store_explicit(&t->n_series, s + 1, memory_order_release);
	t->sidx.key[slot] = k;
	t->sidx.val[slot] = (uint16_t)s;
	return s;
}

static inline struct tmet *mine(void)
{
	return self ? self : attach();
}

/* ---- recording ---- */

void cn_metrics_request(const char *op, int status, uint64_t usec, uint64_t bytes_in,
			uint64_t bytes_out)
{
	struct tmet *t = mine();
	size_t b;
	int o, s;

	if (!t)
		return;
	if (!op)
		op = "Unknown";
	bump(&t->bytes_in, bytes_in);
	bump(&t->bytes_out, bytes_out);
	o = op_find(t, op);
	if (o < 0)
		return;
	for (b = 0; b < NBUCKETS && usec > bucket_us[b]; b++)
		;
	bump(&t->ops[o].buckets[b], 1);
	bump(&t->ops[o].sum_us, usec);
	s = series_find(t, o, status);
	if (s >= 0)
		bump(&t->series[s].count, 1);
}

void cn_metrics_refused(void)
{
	struct tmet *t = mine();

	if (t)
		bump(&t->refused, 1);
}

void cn_metrics_evicted(void)
{
	struct tmet *t = mine();

	if (t)
		bump(&t->evicted, 1);
}

void cn_metrics_object_read(int on_loop)
{
	struct tmet *t = mine();

	if (t)
		bump(on_loop ? &t->reads_loop : &t->reads_pool, 1);
}

void cn_metrics_shard_serve(enum cn_shard_serve how)
{
	struct tmet *t = mine();

	if (t && how < CN_SHARD_NHOW)
		bump(&t->shard_serves[how], 1);
}

void cn_metrics_leader_read(enum cn_leader_read how)
{
	struct tmet *t = mine();

	if (t && how < CN_READ_NHOW)
		bump(&t->leader_reads[how], 1);
}

void cn_metrics_leader_write(enum cn_leader_write how)
{
	struct tmet *t = mine();

	if (t && how < CN_WRITE_NHOW)
		bump(&t->leader_writes[how], 1);
}

void cn_metrics_conn(int delta)
{
	struct tmet *t = mine();

	if (!t)
		return;
	atomic_store_explicit(&t->open_conns,
			      atomic_load_explicit(&t->open_conns, memory_order_relaxed) + delta,
			      memory_order_relaxed);
	if (delta > 0)
		bump(&t->conns_total, (uint64_t)delta);
}

/* ---- scraping: merge every table by name, under mu ---- */

/* Merge space is static (mu guards it): a scrape allocates nothing. */
struct merged_op {
	const char *name;
	uint32_t hash;
	uint64_t buckets[NBUCKETS + 1];
	uint64_t sum_us;
};
struct merged_series {
	int op; /* index into m_ops */
	int status;
	uint64_t count;
};
static struct merged_op m_ops[MAX_OPS];
static struct merged_series m_series[MAX_SERIES];
static struct series_index m_sidx;
static int m_nops, m_nseries;
static int m_rank[MAX_OPS];  /* m_ops index -> position by name */
static int m_order[MAX_OPS]; /* position by name -> m_ops index */
static struct {
	uint64_t bytes_in, bytes_out, conns_total, refused, evicted;
	uint64_t reads_loop, reads_pool;
	uint64_t shard_serves[CN_SHARD_NHOW];
	uint64_t leader_reads[CN_READ_NHOW];
	uint64_t leader_writes[CN_WRITE_NHOW];
	int64_t open_conns;
} m_tot;

static int merge_op(const struct op_stat *op)
{
	int i;

	for (i = 0; i < m_nops; i++)
		if (m_ops[i].hash == op->hash &&
		    (m_ops[i].name == op->name || strcmp(m_ops[i].name, op->name) == 0))
			return i;
	if (m_nops == MAX_OPS)
		return -1;
	memset(&m_ops[i], 0, sizeof(m_ops[i]));
	m_ops[i].name = op->name;
	m_ops[i].hash = op->hash;
	m_nops++;
	return i;
}

static int merge_series(int mop, int status)
{
	uint64_t k = series_key(mop, status);
	unsigned slot;
	int s = sidx_find(&m_sidx, k, &slot);

	if (s >= 0 || m_nseries == MAX_SERIES)
		return s;
	s = m_nseries++;
	m_series[s].op = mop;
	m_series[s].status = status;
	m_series[s].count = 0;
	m_sidx.key[slot] = k;
	m_sidx.val[slot] = (uint16_t)s;
	return s;
}

/* Past the caps, names and series beyond MAX_OPS / MAX_SERIES are left out
 * of the output, as the old single table dropped them. */
static void merge_table(struct tmet *t)
{
	/* n_series first: its release store followed the one of every op a
	 * published series names, so the ops read below cover them all. */
	int ns = atomic_load_explicit(&t->n_series, memory_order_acquire);
	int no = atomic_load_explicit(&t->n_ops, memory_order_acquire);
	int map[MAX_OPS];
	size_t b;

	for (int i = 0; i < no; i++) {
		struct op_stat *op = &t->ops[i];
		int m = map[i] = merge_op(op);

		if (m < 0)
			continue;
		for (b = 0; b <= NBUCKETS; b++)
			m_ops[m].buckets[b] += peek(&op->buckets[b]);
		m_ops[m].sum_us += peek(&op->sum_us);
	}
	for (int i = 0; i < ns; i++) {
		struct series_stat *s = &t->series[i];
		int m;

		assert(s->op < no);
		if (map[s->op] < 0)
			continue;
		m = merge_series(map[s->op], s->status);
		if (m >= 0)
			m_series[m].count += peek(&s->count);
	}
	m_tot.bytes_in += peek(&t->bytes_in);
	m_tot.bytes_out += peek(&t->bytes_out);
	m_tot.conns_total += peek(&t->conns_total);
	m_tot.refused += peek(&t->refused);
	m_tot.evicted += peek(&t->evicted);
	m_tot.reads_loop += peek(&t->reads_loop);
	m_tot.reads_pool += peek(&t->reads_pool);
	for (int i = 0; i < CN_SHARD_NHOW; i++)
		m_tot.shard_serves[i] += peek(&t->shard_serves[i]);
	for (int i = 0; i < CN_READ_NHOW; i++)
		m_tot.leader_reads[i] += peek(&t->leader_reads[i]);
	for (int i = 0; i < CN_WRITE_NHOW; i++)
		m_tot.leader_writes[i] += peek(&t->leader_writes[i]);
	m_tot.open_conns += atomic_load_explicit(&t->open_conns, memory_order_relaxed);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(m_ops[*(const int *)a].name, m_ops[*(const int *)b].name);
}

static int by_name_status(const void *a, const void *b)
{
	const struct merged_series *x = a, *y = b;

	if (x->op != y->op)
		return m_rank[x->op] < m_rank[y->op] ? -1 : 1;
	return (x->status > y->status) - (x->status < y->status);
}

/* Output order: by op name, then status, so a scrape is stable. */
static void merge_all(void)
{
	struct tmet *t;

	m_nops = m_nseries = 0;
	memset(&m_sidx, 0, sizeof(m_sidx));
	memset(&m_tot, 0, sizeof(m_tot));
	for (t = tables; t; t = t->next)
		merge_table(t);
	for (int i = 0; i < m_nops; i++)
		m_order[i] = i;
	qsort(m_order, (size_t)m_nops, sizeof(m_order[0]), by_name);
	for (int i = 0; i < m_nops; i++)
		m_rank[m_order[i]] = i;
	qsort(m_series, (size_t)m_nseries, sizeof(m_series[0]), by_name_status);
}

/* ---- rendering ---- */

struct out {
	char *buf;
	size_t cap, len;
};

/* Appends what fits. Every piece ends in '\n' (asserted): vsnprintf spends
 * the last byte of the room on a NUL, so when a piece fits the caller's
 * buffer exactly that '\n' is put back and the text is whole. */
__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
	size_t room = o->len < o->cap ? o->cap - o->len : 0;
	char *dst = room ? o->buf + o->len : NULL;
	va_list ap;
	int n;

	assert(fmt[0] && fmt[strlen(fmt) - 1] == '\n');
	va_start(ap, fmt);
	n = vsnprintf(dst, room, fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	if ((size_t)n == room)
		dst[n - 1] = '\n';
	o->len += (size_t)n;
}

static void render_requests(struct out *o)
{
	put(o, "# HELP cairn_requests_total S3 requests by operation and status.\n"
	       "# TYPE cairn_requests_total counter\n");
	for (int i = 0; i < m_nseries; i++)
		put(o, "cairn_requests_total{op=\"%s\",status=\"%d\"} %llu\n",
		    m_ops[m_series[i].op].name, m_series[i].status,
		    (unsigned long long)m_series[i].count);
}

static void render_latency(struct out *o)
{
	put(o, "# HELP cairn_request_duration_seconds Request latency.\n"
	       "# TYPE cairn_request_duration_seconds histogram\n");
	for (int i = 0; i < m_nops; i++) {
		const struct merged_op *l = &m_ops[m_order[i]];
		uint64_t cum = 0;
		size_t b;

		for (b = 0; b < NBUCKETS; b++) {
			cum += l->buckets[b];
			put(o, "cairn_request_duration_seconds_bucket{op=\"%s\",le=\"%g\"} %llu\n",
			    l->name, bucket_us[b] / 1e6, (unsigned long long)cum);
		}
		/* +Inf and _count are the bucket total, not a separate counter,
		 * so they agree even with writers running. */
		cum += l->buckets[NBUCKETS];
		put(o, "cairn_request_duration_seconds_bucket{op=\"%s\",le=\"+Inf\"} %llu\n",
		    l->name, (unsigned long long)cum);
		put(o, "cairn_request_duration_seconds_sum{op=\"%s\"} %.6f\n", l->name,
		    l->sum_us / 1e6);
		put(o, "cairn_request_duration_seconds_count{op=\"%s\"} %llu\n", l->name,
		    (unsigned long long)cum);
	}
}

size_t cn_metrics_render(char *buf, size_t cap)
{
	struct out o = {buf, cap, 0};

	pthread_mutex_lock(&mu);
	merge_all();
	render_requests(&o);
	render_latency(&o);
	put(&o,
	    "# HELP cairn_bytes_received_total Request body bytes received.\n"
	    "# TYPE cairn_bytes_received_total counter\n"
	    "cairn_bytes_received_total %llu\n",
	    (unsigned long long)m_tot.bytes_in);
	put(&o,
	    "# HELP cairn_bytes_sent_total Response bytes sent.\n"
	    "# TYPE cairn_bytes_sent_total counter\n"
	    "cairn_bytes_sent_total %llu\n",
	    (unsigned long long)m_tot.bytes_out);
	put(&o,
	    "# HELP cairn_open_connections Open client connections.\n"
	    "# TYPE cairn_open_connections gauge\n"
	    "cairn_open_connections %lld\n",
	    (long long)m_tot.open_conns);
	put(&o,
	    "# HELP cairn_connections_total Accepted client connections.\n"
	    "# TYPE cairn_connections_total counter\n"
	    "cairn_connections_total %llu\n",
	    (unsigned long long)m_tot.conns_total);
	put(&o,
	    "# HELP cairn_connections_refused_total Connections answered 503 at the connection "
	    "cap.\n"
	    "# TYPE cairn_connections_refused_total counter\n"
	    "cairn_connections_refused_total %llu\n",
	    (unsigned long long)m_tot.refused);
	put(&o,
	    "# HELP cairn_connections_evicted_total Idle connections closed to make room at the "
	    "cap.\n"
	    "# TYPE cairn_connections_evicted_total counter\n"
	    "cairn_connections_evicted_total %llu\n",
	    (unsigned long long)m_tot.evicted);
	put(&o,
	    "# HELP cairn_object_reads_total Object body reads (up to 1 MiB each) done on an "
	    "event loop from the kernel's caches, or on the thread pool.\n"
	    "# TYPE cairn_object_reads_total counter\n"
	    "cairn_object_reads_total{where=\"loop\"} %llu\n"
	    "cairn_object_reads_total{where=\"pool\"} %llu\n",
	    (unsigned long long)m_tot.reads_loop, (unsigned long long)m_tot.reads_pool);
	put(&o,
	    "# HELP cairn_shard_serves_total Shard reads answered for other nodes: by "
	    "sendfile from the page cache, sendfile and then a copy, a copy from the page "
	    "cache on an event loop, or a read on the thread pool.\n"
	    "# TYPE cairn_shard_serves_total counter\n"
	    "cairn_shard_serves_total{how=\"sendfile\"} %llu\n"
	    "cairn_shard_serves_total{how=\"partial\"} %llu\n"
	    "cairn_shard_serves_total{how=\"loop\"} %llu\n"
	    "cairn_shard_serves_total{how=\"pool\"} %llu\n",
	    (unsigned long long)m_tot.shard_serves[CN_SHARD_SENDFILE],
	    (unsigned long long)m_tot.shard_serves[CN_SHARD_PARTIAL],
	    (unsigned long long)m_tot.shard_serves[CN_SHARD_LOOP],
	    (unsigned long long)m_tot.shard_serves[CN_SHARD_POOL]);
	put(&o,
	    "# HELP cairn_leader_reads_total A cluster leader's GETs that went ahead before "
	    "a read round: confirmed by their own shard reads to other voters, by a read "
	    "round once their answer was ready, or by neither (answered 503).\n"
	    "# TYPE cairn_leader_reads_total counter\n"
	    "cairn_leader_reads_total{confirmed_by=\"shard\"} %llu\n"
	    "cairn_leader_reads_total{confirmed_by=\"round\"} %llu\n"
	    "cairn_leader_reads_total{confirmed_by=\"none\"} %llu\n",
	    (unsigned long long)m_tot.leader_reads[CN_READ_SHARD],
	    (unsigned long long)m_tot.leader_reads[CN_READ_ROUND],
	    (unsigned long long)m_tot.leader_reads[CN_READ_REFUSED]);
	put(&o,
	    "# HELP cairn_leader_writes_total PutObject and DeleteObject requests that went "
	    "ahead before a read round on a write ticket of the leader's term (taken on the "
	    "leader, or given by it to this follower): confirmed by their own log entry "
	    "committing in that term, by a read round of it once their answer was ready "
	    "(an answer without an entry), or by neither (answered 503).\n"
	    "# TYPE cairn_leader_writes_total counter\n"
	    "cairn_leader_writes_total{confirmed_by=\"entry\"} %llu\n"
	    "cairn_leader_writes_total{confirmed_by=\"round\"} %llu\n"
	    "cairn_leader_writes_total{confirmed_by=\"none\"} %llu\n",
	    (unsigned long long)m_tot.leader_writes[CN_WRITE_ENTRY],
	    (unsigned long long)m_tot.leader_writes[CN_WRITE_ROUND],
	    (unsigned long long)m_tot.leader_writes[CN_WRITE_REFUSED]);
	pthread_mutex_unlock(&mu);
	return o.len;
}
