/*
 * bg/scrub.c — see scrub.h.
 *
 * A pass reads the metadata in pages (ListObjectVersions order) with short
 * read transactions, so it never pins old LMDB pages for long, and looks
 * each version up again right before verifying it: a version deleted in
 * between is simply skipped. Healing rewrites shards in place (tmp + fsync +
 * rename); a heal that would move a shard to another drive is reported and
 * left for a later pass, since committing a new layout needs a metadata
 * command this version does not have yet.
 *
 * A rebuild is the same walk restricted to blobs with a shard on the adopted
 * drive (which kept the failed drive's id, so layouts need no change):
 *
 *   flagged by data_store_open / data_store_drive_replace
 *     ──> rebuild_run: barrier (the store shows what the cluster committed)
 *         ──> load cursor (or start) ──> count what is left (metadata
 *         only) ──> heal each blob after the cursor, cursor saved every second
 *         ──> walk ends: data_store_rebuild_done (flag and cursor cleared)
 *     stop or crash mid-walk: the flag stays, the next start resumes at the
 *     last saved cursor (the blobs after it are healed again: harmless; the
 *     cursor's counts cover the versions up to it only, so they are counted
 *     once).
 * Objects written after the adoption already have their shard on the drive.
 */
#include "bg/scrub.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bg/vpin.h"
#include "core/clock.h"
#include "core/digest.h"
#include "core/err.h"
#include "core/log.h"
#include "core/thread.h"
#include "data/data.h"
#include "meta/meta.h"

struct scrub {
	struct meta_store *meta;
	struct data_store *data;
	struct scrub_options opt;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	int want_pass;
	int want_heal;
	_Atomic int64_t bf_warned_ns;
	int64_t rb_warned_ns; /* scrub thread only */
	struct scrub_progress p;
};

/* What the walk did for some versions: the cursor's share is saved with
 * it, so a resume neither loses nor double-counts a version. */
struct rb_counts {
	uint64_t shards, bytes, rebuilt, lost;
};

/* Where a rebuild walk stands: the last version fully handled, and the
 * counts of every version up to it (none past it). */
struct rb_cursor {
	char bucket[META_BUCKET_MAX + 1]; /* "" = from the start */
	char key[META_KEY_MAX];
	size_t key_len;
	char vid[META_ID_TEXT];
	struct rb_counts n;
};

struct rebuild {
	int drive;
	uint8_t id[DATA_ID_LEN];
	struct rb_cursor at;
	int counting; /* pass 1 counts what is left; pass 2 heals */
	int64_t start_ns, last_save_ns;
	_Atomic uint64_t run_bytes; /* shard bytes handled by this process */
};

static int stopping(struct scrub *s)
{
	int st;
	pthread_mutex_lock(&s->mu);
	st = s->stop;
	pthread_mutex_unlock(&s->mu);
	return st;
}

/* What a blob belongs to, for the operator reading a log line: a version
 * (bucket, key, version id) or an open upload's part; NULL fields: only the
 * blob id is known (a heal a read queued). */
struct blob_owner {
	const char *bucket, *key, *vid;
	size_t key_len;
	const char *label; /* "version" or "upload" */
};

/* "blob <id> of bucket/key version v" into out (cap bytes). */
static void owner_text(const struct blob_layout *l, const struct blob_owner *o, char *out,
		       size_t cap)
{
	char id[2 * DATA_ID_LEN + 1];

	cn_hex(l->id, DATA_ID_LEN, id);
	if (o && o->bucket && o->key)
		snprintf(out, cap, "blob %s of %s/%.*s %s %s", id, o->bucket,
			 (int)(o->key_len > 512 ? 512 : o->key_len), o->key,
			 o->label ? o->label : "version", o->vid ? o->vid : "?");
	else
		snprintf(out, cap, "blob %s", id);
}

/* Verifies (and repairs) one blob; updates counters. */
static void check_blob_of(struct scrub *s, const struct blob_layout *l, int from_queue,
			  const struct blob_owner *own)
{
	char what[700];

	struct blob_layout out;
	unsigned rebuilt = 0;
	int rc;

	if (!data_store_owns(s->data, l))
		return; /* in a cluster, the node holding the blob scrubs it */
	rc = blob_scrub(s->data, l, &out, &rebuilt);
	pthread_mutex_lock(&s->mu);
	if (!from_queue) {
		s->p.blobs_checked++;
		s->p.bytes_checked += l->size;
	} else {
		s->p.queue_healed++;
	}
	if (rc == CN_EDATALOST) {
		s->p.unrecoverable++;
		s->p.blobs_bad++;
	} else if (rebuilt) {
		s->p.blobs_bad++;
		s->p.shards_rebuilt += (uint64_t)__builtin_popcount(rebuilt);
	}
	pthread_mutex_unlock(&s->mu);
	if (rc == CN_EDATALOST || rc)
		owner_text(l, own, what, sizeof(what));
	if (rc == CN_EDATALOST)
		log_error("scrub: %s lost more shards than it has parity; data unrecoverable",
			  what);
	else if (rc)
		log_warn("scrub: heal of %s failed: %s", what, cn_strerror(rc));
	else if (memcmp(&out, l, sizeof(out)) != 0)
		log_warn("scrub: a healed blob moved shards; its new layout is not committed yet");
}

static void check_blob(struct scrub *s, const struct blob_layout *l, int from_queue)
{
	check_blob_of(s, l, from_queue, NULL);
}

static void drain_queue(struct scrub *s)
{
	struct blob_layout l;

	while (!stopping(s) && data_heal_queue_pop(s->data, &l) == 0) {
		check_blob(s, &l, 1);
		data_unpin(s->data, l.id);
	}
}

/* Sleeps so that `bytes` since `start` stay under `rate` per second. */
static void throttle_at(int64_t start, uint64_t bytes, uint64_t rate)
{
	int64_t want_ns = (int64_t)((double)bytes / (double)rate * 1e9);
	int64_t el = cn_mono_ns() - start;

	if (want_ns > el) {
		struct timespec ts = {.tv_sec = (want_ns - el) / 1000000000LL,
				      .tv_nsec = (want_ns - el) % 1000000000LL};
		if (ts.tv_sec > 1) {
			ts.tv_sec = 1;
			ts.tv_nsec = 0;
		}
		nanosleep(&ts, NULL);
	}
}

/* throttle_at for several threads sharing one byte count: each waits until
 * the shared total is back under the rate (throttle_at sleeps at most a
 * second per call, which would let N threads run N times too fast). */
static void throttle_shared(struct scrub *s, int64_t start, _Atomic uint64_t *bytes, uint64_t rate)
{
	while (!stopping(s)) {
		int64_t want = (int64_t)((double)atomic_load(bytes) / (double)rate * 1e9);
		if (want <= cn_mono_ns() - start)
			return;
		throttle_at(start, atomic_load(bytes), rate);
	}
}

static void throttle(struct scrub *s, int64_t start, uint64_t bytes)
{
	throttle_at(start, bytes, s->opt.bytes_per_sec);
}

static void check_version(struct scrub *s, const char *bucket, const struct meta_entry *e,
			  int64_t start, uint64_t *bytes)
{
	struct meta_version v;
	struct blob_layout l;

	if (e->flags & META_VF_DELETE_MARKER)
		return;
	if (meta_object_get(s->meta, bucket, e->key, e->key_len, e->vid_text, 0, &v) != 0)
		return; /* deleted meanwhile */
	/* Every blob is pinned right after the lookup, before the first
	 * (throttled, possibly long) check: a version overwritten meanwhile
	 * keeps its blobs until the check is done, so a blob GC deletes is
	 * never reported as lost. */
	struct blob_owner own = {bucket, e->key, e->vid_text, e->key_len, "version"};
	if (version_pin(s->data, &v) == 0) {
		if (v.loc == META_LOC_BLOB) {
			if (blob_layout_decode(v.layout, v.layout_len, &l) == 0) {
				check_blob_of(s, &l, 0, &own);
				*bytes += l.size;
			}
		} else if (v.loc == META_LOC_PARTS) {
			for (uint32_t i = 0; i < v.n_parts && !stopping(s); i++) {
				if (blob_layout_decode(v.parts[i].layout, v.parts[i].layout_len,
						       &l) == 0) {
					check_blob_of(s, &l, 0, &own);
					*bytes += l.size;
				}
				throttle(s, start, *bytes);
			}
		}
		version_unpin(s->data, &v);
	}
	meta_version_release(&v);
	throttle(s, start, *bytes);
}

/* The parts of every multipart upload still open: their blobs are no
 * version's yet, and a scrub or a drive rebuild that walks versions only
 * would leave them damaged until the upload completes (then one parity
 * short, with nobody told). fn gets each part's layout with its blob
 * pinned (pin = 0: not pinned, for counting); returns CN_ESHUTDOWN when
 * stopped. Pages of 100 uploads and 1000 parts. */
typedef void (*part_fn)(struct scrub *s, const struct blob_layout *l, const struct blob_owner *own,
			void *arg);

struct upart {
	struct scrub *s;
	int pin;
	part_fn fn;
	void *arg;
};

static int upload_part_one(void *arg, const char *bucket, const struct meta_entry *e,
			   const struct meta_part *pt)
{
	struct upart *u = arg;
	struct blob_owner own = {bucket, e->key, e->vid_text, e->key_len, "upload"};
	struct blob_layout l;

	if (stopping(u->s))
		return CN_ESHUTDOWN;
	if (blob_layout_decode(pt->layout, pt->layout_len, &l) != 0)
		return 0;
	/* pinned right after the lookup, as versions are: a part replaced
	 * meanwhile keeps its blob until the check is done */
	if (u->pin && data_pin(u->s->data, l.id) != 0)
		return 0;
	u->fn(u->s, &l, &own, u->arg);
	if (u->pin)
		data_unpin(u->s->data, l.id);
	return 0;
}

static int walk_upload_parts(struct scrub *s, int pin, part_fn fn, void *arg)
{
	struct upart u = {s, pin, fn, arg};
	struct meta_bucket *bk;
	size_t nb;
	int rc = 0;

	if (meta_bucket_list(s->meta, &bk, &nb) != 0)
		return 0;
	for (size_t b = 0; b < nb && !rc; b++)
		rc = meta_upload_parts_each(s->meta, bk[b].name, upload_part_one, &u);
	meta_bucket_list_release(bk, nb);
	return rc;
}

struct scrub_part_arg {
	int64_t start;
	uint64_t *bytes;
};

static void scrub_part(struct scrub *s, const struct blob_layout *l, const struct blob_owner *own,
		       void *arg)
{
	struct scrub_part_arg *a = arg;

	check_blob_of(s, l, 0, own);
	*a->bytes += l->size;
	throttle(s, a->start, *a->bytes);
	drain_queue(s);
}

static void full_pass(struct scrub *s)
{
	struct meta_bucket *bk;
	size_t nb;
	int64_t start = cn_mono_ns();
	uint64_t bytes = 0;

	pthread_mutex_lock(&s->mu);
	s->p.running = 1;
	s->p.blobs_checked = s->p.bytes_checked = 0;
	pthread_mutex_unlock(&s->mu);
	if (meta_bucket_list(s->meta, &bk, &nb) != 0)
		goto done;
	for (size_t b = 0; b < nb && !stopping(s); b++) {
		char key_marker[META_KEY_MAX + 1] = "";
		size_t km_len = 0;
		char id_marker[META_ID_TEXT] = "";
		for (;;) {
			struct meta_list_params lp =
				meta_page_params(key_marker, km_len, id_marker, 1000);
			struct meta_list_result res;
			if (meta_list_versions(s->meta, bk[b].name, &lp, &res) != 0)
				break;
			for (size_t i = 0; i < res.n && !stopping(s); i++) {
				check_version(s, bk[b].name, &res.entries[i], start, &bytes);
				drain_queue(s);
			}
			int more = meta_next_page(&res, key_marker, &km_len, id_marker);
			meta_list_result_release(&res);
			if (!more || stopping(s))
				break;
		}
	}
	meta_bucket_list_release(bk, nb);
	if (!stopping(s)) {
		struct scrub_part_arg pa = {start, &bytes};
		walk_upload_parts(s, 1, scrub_part, &pa);
	}
done:
	pthread_mutex_lock(&s->mu);
	s->p.running = 0;
	s->p.passes++;
	s->p.last_pass_end_ns = cn_now_ns();
	pthread_mutex_unlock(&s->mu);
}

/* ---- rebuild of an adopted drive ---- */

/* Cursor file: bucket len (2), bucket, key len (2), key, vid (33), then
 * shards_done, bytes_done, shards_rebuilt, lost (8 each, little-endian). */
static size_t rb_encode(const struct rb_cursor *c, uint8_t *b)
{
	size_t o = 0, bl = strlen(c->bucket);
	uint64_t v[4] = {c->n.shards, c->n.bytes, c->n.rebuilt, c->n.lost};

	b[o++] = (uint8_t)bl;
	b[o++] = 0;
	memcpy(b + o, c->bucket, bl);
	o += bl;
	b[o++] = (uint8_t)c->key_len;
	b[o++] = (uint8_t)(c->key_len >> 8);
	memcpy(b + o, c->key, c->key_len);
	o += c->key_len;
	memcpy(b + o, c->vid, META_ID_TEXT);
	o += META_ID_TEXT;
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 8; j++)
			b[o++] = (uint8_t)(v[i] >> (8 * j));
	return o;
}

static int rb_decode(const uint8_t *b, size_t len, struct rb_cursor *c)
{
	size_t o = 0, bl, kl;
	uint64_t v[4] = {0};

	if (len < 2 || (bl = b[0] | (size_t)b[1] << 8) > META_BUCKET_MAX || len < 4 + bl)
		return CN_ECORRUPT;
	memcpy(c->bucket, b + 2, bl);
	c->bucket[bl] = 0;
	o = 2 + bl;
	kl = b[o] | (size_t)b[o + 1] << 8;
	o += 2;
	if (kl > META_KEY_MAX || len != o + kl + META_ID_TEXT + 32)
		return CN_ECORRUPT;
	memcpy(c->key, b + o, kl);
	c->key_len = kl;
	o += kl;
	memcpy(c->vid, b + o, META_ID_TEXT);
	c->vid[META_ID_TEXT - 1] = 0;
	o += META_ID_TEXT;
	for (int i = 0; i < 4; i++)
		for (int j = 7; j >= 0; j--)
			v[i] = v[i] << 8 | b[o + (size_t)i * 8 + (size_t)j];
	c->n.shards = v[0];
	c->n.bytes = v[1];
	c->n.rebuilt = v[2];
	c->n.lost = v[3];
	return 0;
}

static void rb_save(struct scrub *s, struct rebuild *rb)
{
	uint8_t buf[2 + META_BUCKET_MAX + 2 + META_KEY_MAX + META_ID_TEXT + 32];
	size_t n = rb_encode(&rb->at, buf);
	int rc = data_store_rebuild_save(s->data, rb->drive, buf, n);
	if (rc)
		log_warn("rebuild: cannot save progress: %s", cn_strerror(rc));
	rb->last_save_ns = cn_mono_ns();
}

/* One blob of the walk: counts it (pass 1) or heals it (pass 2), adding
 * to the live progress and to the version's own counts *vn. */
static void rb_blob(struct scrub *s, struct rebuild *rb, const struct blob_layout *l,
		    const struct blob_owner *own, struct rb_counts *vn)
{
	char what[700];
	struct blob_layout out;
	unsigned rebuilt = 0;
	int shard = blob_shard_on(l, rb->id);
	uint64_t bytes;

	if (shard < 0)
		return;
	bytes = blob_shard_bytes(l);
	if (rb->counting) {
		pthread_mutex_lock(&s->mu);
		s->p.rebuild.shards_total++;
		s->p.rebuild.bytes_total += bytes;
		pthread_mutex_unlock(&s->mu);
		return;
	}
	int rc = blob_rebuild_shard(s->data, l, shard, &out, &rebuilt);
	vn->shards++;
	vn->bytes += bytes;
	vn->rebuilt += (rebuilt & (1u << shard)) != 0;
	vn->lost += rc == CN_EDATALOST;
	pthread_mutex_lock(&s->mu);
	s->p.rebuild.shards_done++;
	s->p.rebuild.bytes_done += bytes;
	if (rebuilt & (1u << shard))
		s->p.rebuild.shards_rebuilt++;
	if (rc == CN_EDATALOST)
		s->p.rebuild.lost++;
	else if (rc)
		s->p.rebuild.failed++;
	atomic_fetch_add(&rb->run_bytes, bytes);
	int64_t el = cn_mono_ns() - rb->start_ns;
	if (el > 0) {
		uint64_t bps = (uint64_t)((double)atomic_load(&rb->run_bytes) * 1e9 / (double)el);
		/* The first pages go at full speed before the throttle sleeps:
		 * the rate shown (and the ETA from it) never beats the limit. */
		if (bps > s->opt.rebuild_bytes_per_sec)
			bps = s->opt.rebuild_bytes_per_sec;
		s->p.rebuild.bytes_per_sec = bps;
	}
	uint64_t left = s->p.rebuild.bytes_total > s->p.rebuild.bytes_done
				? s->p.rebuild.bytes_total - s->p.rebuild.bytes_done
				: 0;
	s->p.rebuild.eta_s =
		s->p.rebuild.bytes_per_sec ? (int64_t)(left / s->p.rebuild.bytes_per_sec) : -1;
	pthread_mutex_unlock(&s->mu);
	if (rc)
		owner_text(l, own, what, sizeof(what));
	if (rc == CN_EDATALOST)
		log_error("rebuild: %s lost more shards than it has parity; data unrecoverable",
			  what);
	else if (rc)
		log_warn("rebuild: heal of %s failed: %s (a scrub retries it)", what,
			 cn_strerror(rc));
}

static void rb_version(struct scrub *s, struct rebuild *rb, const char *bucket,
		       const struct meta_entry *e, struct rb_counts *vn)
{
	struct meta_version v;
	struct blob_layout l;
	struct blob_owner own = {bucket, e->key, e->vid_text, e->key_len, "version"};

	if (e->flags & META_VF_DELETE_MARKER)
		return;
	if (meta_object_get(s->meta, bucket, e->key, e->key_len, e->vid_text, 0, &v) != 0)
		return; /* deleted meanwhile: nothing to rebuild */
	if (rb->counting || version_pin(s->data, &v) == 0) {
		if (v.loc == META_LOC_BLOB) {
			if (blob_layout_decode(v.layout, v.layout_len, &l) == 0)
				rb_blob(s, rb, &l, &own, vn);
		} else if (v.loc == META_LOC_PARTS) {
			for (uint32_t i = 0; i < v.n_parts && !stopping(s); i++) {
				/* paced part by part: a 10,000-part object is no
				 * burst past the rate */
				if (i && !rb->counting) {
					throttle_shared(s, rb->start_ns, &rb->run_bytes,
							s->opt.rebuild_bytes_per_sec);
					if (stopping(s))
						break;
				}
				if (blob_layout_decode(v.parts[i].layout, v.parts[i].layout_len,
						       &l) == 0)
					rb_blob(s, rb, &l, &own, vn);
			}
		}
		if (!rb->counting)
			version_unpin(s->data, &v);
	}
	meta_version_release(&v);
}

/* A page of versions rebuilt by RB_THREADS threads: a shard rebuild waits
 * on k reads and its own fsync, so several at once keep the drives busy.
 * Distinct versions name distinct blobs (a blob belongs to one version);
 * the readers' heal queue is drained between pages, never during one. */
#define RB_THREADS 4

struct rb_page_work {
	struct scrub *s;
	struct rebuild *rb;
	const char *bucket;
	const struct meta_list_result *res;
	atomic_size_t next;
	pthread_mutex_t mu; /* done[], n[], prefix, the cursor and its file */
	unsigned char *done;
	struct rb_counts *n; /* per entry, until the cursor passes it */
	size_t prefix;	     /* entries [0, prefix) are done */
};

/* Entry i is done with counts *vn: the cursor moves over every entry done
 * before it, taking their counts (an entry done past the cursor is not in
 * the cursor's counts: a resume does it, and counts it, again), and is
 * saved about every second (a restart resumes there). */
static void rb_entry_done(struct rb_page_work *w, size_t i, const struct rb_counts *vn)
{
	struct rebuild *rb = w->rb;
	size_t before;

	pthread_mutex_lock(&w->mu);
	w->done[i] = 1;
	w->n[i] = *vn;
	before = w->prefix;
	for (; w->prefix < w->res->n && w->done[w->prefix]; w->prefix++) {
		const struct rb_counts *c = &w->n[w->prefix];
		rb->at.n.shards += c->shards;
		rb->at.n.bytes += c->bytes;
		rb->at.n.rebuilt += c->rebuilt;
		rb->at.n.lost += c->lost;
	}
	if (w->prefix > before) {
		const struct meta_entry *e = &w->res->entries[w->prefix - 1];
		snprintf(rb->at.bucket, sizeof(rb->at.bucket), "%s", w->bucket);
		memcpy(rb->at.key, e->key, e->key_len);
		rb->at.key_len = e->key_len;
		memcpy(rb->at.vid, e->vid_text, META_ID_TEXT);
		if (cn_mono_ns() - rb->last_save_ns > 1000000000LL)
			rb_save(w->s, rb);
	}
	pthread_mutex_unlock(&w->mu);
}

static void *rb_worker(void *arg)
{
	struct rb_page_work *w = arg;
	size_t i;

	while ((i = atomic_fetch_add(&w->next, 1)) < w->res->n && !stopping(w->s)) {
		struct rb_counts vn = {0};
		rb_version(w->s, w->rb, w->bucket, &w->res->entries[i], &vn);
		if (stopping(w->s))
			break; /* possibly cut short: not done */
		rb_entry_done(w, i, &vn);
		/* after the entry counts as done: a thread asleep here holds
		 * no entry back from the cursor */
		throttle_shared(w->s, w->rb->start_ns, &w->rb->run_bytes,
				w->s->opt.rebuild_bytes_per_sec);
	}
	return NULL;
}

/* Returns 0 when every entry of the page is done. */
static int rb_page(struct scrub *s, struct rebuild *rb, const char *bucket,
		   const struct meta_list_result *res)
{
	struct rb_page_work w = {.s = s, .rb = rb, .bucket = bucket, .res = res};
	pthread_t th[RB_THREADS];
	int started = 0;

	w.done = calloc(res->n, 1);
	w.n = calloc(res->n, sizeof(*w.n));
	if (!w.done || !w.n) {
		free(w.done);
		free(w.n);
		return CN_ENOMEM;
	}
	pthread_mutex_init(&w.mu, NULL);
	atomic_store(&w.next, 0);
	for (int t = 1; t < RB_THREADS && (size_t)t < res->n; t++)
		if (cn_thread_create(&th[started], "rebuild", rb_worker, &w) == 0)
			started++;
	rb_worker(&w);
	for (int t = 0; t < started; t++)
		pthread_join(th[t], NULL);
	pthread_mutex_destroy(&w.mu);
	free(w.done);
	free(w.n);
	return w.prefix == res->n ? 0 : CN_ESHUTDOWN;
}

/* One open upload's part on the drive being rebuilt (walk_upload_parts). */
static void rb_part(struct scrub *s, const struct blob_layout *l, const struct blob_owner *own,
		    void *arg)
{
	struct rebuild *rb = arg;
	struct rb_counts vn = {0};

	/* the progress counters move in rb_blob; the cursor's own counts
	 * (what a resume starts from) stay those of the versions walked */
	rb_blob(s, rb, l, own, &vn);
	if (!rb->counting) {
		throttle_shared(s, rb->start_ns, &rb->run_bytes, s->opt.rebuild_bytes_per_sec);
		drain_queue(s);
	}
}

/* Walks every version after rb->at; pass 2 moves rb->at along, a page at
 * a time. Returns 0 when the walk reached the end, CN_ESHUTDOWN when
 * stopped. */
static int rb_walk(struct scrub *s, struct rebuild *rb)
{
	struct meta_bucket *bk;
	struct rb_cursor at = rb->at;
	size_t nb;
	int rc = 0;

	if ((rc = meta_bucket_list(s->meta, &bk, &nb)) != 0)
		return rc;
	for (size_t b = 0; b < nb && !rc; b++) {
		int cmp = strcmp(bk[b].name, at.bucket);
		if (cmp < 0)
			continue; /* done before the cursor */
		char key_marker[META_KEY_MAX];
		size_t km_len = 0;
		char id_marker[META_ID_TEXT] = "";
		if (cmp == 0 && at.key_len) {
			memcpy(key_marker, at.key, at.key_len);
			km_len = at.key_len;
			memcpy(id_marker, at.vid, META_ID_TEXT);
		}
		for (;;) {
			struct meta_list_params lp =
				meta_page_params(key_marker, km_len, id_marker, 100);
			struct meta_list_result res;
			if (meta_list_versions(s->meta, bk[b].name, &lp, &res) != 0)
				break; /* bucket deleted meanwhile */
			if (rb->counting) {
				for (size_t i = 0; i < res.n && !rc; i++) {
					if (stopping(s))
						rc = CN_ESHUTDOWN;
					else
						rb_version(s, rb, bk[b].name, &res.entries[i],
							   &(struct rb_counts){0});
				}
			} else if (res.n) {
				/* the cursor moves as entries are done (rb_entry_done) */
				if ((rc = rb_page(s, rb, bk[b].name, &res)) == 0)
					drain_queue(s);
			}
			int more = !rc && meta_next_page(&res, key_marker, &km_len, id_marker);
			meta_list_result_release(&res);
			if (!more)
				break;
		}
	}
	meta_bucket_list_release(bk, nb);
	/* then the open uploads' parts: not in the cursor (a resume walks
	 * them again; they are few), counted and rebuilt like versions' */
	if (!rc)
		rc = walk_upload_parts(s, !rb->counting, rb_part, rb);
	return rc;
}

static void rebuild_run(struct scrub *s)
{
	struct rebuild rb;
	struct meta_cmd barrier;
	struct scrub_rebuild *p = &s->p.rebuild;
	uint8_t buf[2 + META_BUCKET_MAX + 2 + META_KEY_MAX + META_ID_TEXT + 32];
	char hex[2 * DATA_ID_LEN + 1];
	size_t len;
	int rc;

	memset(&rb, 0, sizeof(rb));
	rb.drive = data_store_rebuild_pending(s->data, 0, rb.id);
	if (rb.drive < 0)
		return;
	cn_hex(rb.id, DATA_ID_LEN, hex);
	/* The walk reads the store as it is, and a version it does not see
	 * has its shard left out for good. A cluster node that is "ready" may
	 * not show everything yet: entries applied to a batch left open, or
	 * (just restarted) a commit index behind the leader's. A barrier shows
	 * it all; one node's completes at once. Not caught up: next round. */
	memset(&barrier, 0, sizeof(barrier));
	barrier.type = META_CMD_BARRIER;
	rc = meta_submit_sync(s->meta, &barrier);
	if (rc) {
		if (cn_mono_ns() - s->rb_warned_ns > 60 * 1000000000LL) {
			s->rb_warned_ns = cn_mono_ns(); /* once a minute, not per retry */
			log_warn("rebuild: drive %s waits for the metadata to catch up: %s", hex,
				 cn_strerror(rc));
		}
		return;
	}
	pthread_mutex_lock(&s->mu);
	uint64_t completed = p->completed, last_bytes = p->last_bytes;
	double last_seconds = p->last_seconds;
	memset(p, 0, sizeof(*p));
	p->drive = rb.drive;
	p->eta_s = -1;
	p->completed = completed;
	p->last_bytes = last_bytes;
	p->last_seconds = last_seconds;
	rc = data_store_rebuild_load(s->data, rb.drive, buf, sizeof(buf), &len);
	if (rc == 0)
		rc = rb_decode(buf, len, &rb.at);
	if (rc != 0 && rc != CN_ENOTFOUND)
		log_warn("rebuild: progress of drive %s unreadable (%s); starting over", hex,
			 cn_strerror(rc));
	if (rc != 0)
		memset(&rb.at, 0, sizeof(rb.at));
	p->shards_done = rb.at.n.shards;
	p->bytes_done = rb.at.n.bytes;
	p->shards_rebuilt = rb.at.n.rebuilt;
	p->lost = rb.at.n.lost;
	p->shards_total = p->shards_done;
	p->bytes_total = p->bytes_done;
	pthread_mutex_unlock(&s->mu);

	rb.counting = 1;
	rc = rb_walk(s, &rb);
	if (rc == 0) {
		rb.counting = 0;
		log_warn("rebuild: drive %s: %s %" PRIu64 " shard(s), %" PRIu64
			 " MiB left to rebuild (at most %" PRIu64 " MiB/s)",
			 hex, rc == 0 && p->shards_done ? "resuming," : "starting,",
			 p->shards_total - p->shards_done, (p->bytes_total - p->bytes_done) >> 20,
			 s->opt.rebuild_bytes_per_sec >> 20);
		rb.start_ns = rb.last_save_ns = cn_mono_ns();
		rc = rb_walk(s, &rb);
	}
	if (rc != 0) {
		if (!rb.counting)
			rb_save(s, &rb);
		pthread_mutex_lock(&s->mu);
		p->drive = -1;
		pthread_mutex_unlock(&s->mu);
		if (rc != CN_ESHUTDOWN)
			log_warn("rebuild: drive %s: %s; retrying later", hex, cn_strerror(rc));
		return;
	}
	double secs = (double)(cn_mono_ns() - rb.start_ns) / 1e9;
	rc = data_store_rebuild_done(s->data, rb.drive);
	pthread_mutex_lock(&s->mu);
	if (rc == 0) {
		p->completed++;
		p->last_bytes = rb.run_bytes;
		p->last_seconds = secs;
		p->drive = -1;
		p->eta_s = 0;
	}
	pthread_mutex_unlock(&s->mu);
	if (rc != 0) {
		log_warn("rebuild: drive %s: cannot record completion: %s", hex, cn_strerror(rc));
		return;
	}
	log_warn("rebuild: drive %s done: %" PRIu64 " shard(s) checked, %" PRIu64
		 " rebuilt, %" PRIu64 " unrecoverable, %" PRIu64 " failed; %.1f MiB in %.1f s "
		 "(%.1f MiB/s)",
		 hex, p->shards_done, p->shards_rebuilt, p->lost, p->failed,
		 (double)rb.run_bytes / 1048576.0, secs,
		 secs > 0 ? (double)rb.run_bytes / 1048576.0 / secs : 0.0);
}

/* ---- backfill (cluster): shards missing since their node was down ---- */

#define BF_BATCH 64

struct bf_item {
	uint8_t id[META_ID_LEN];
	uint16_t mask; /* missing shards on this node's drives */
	struct blob_layout l;
};

struct bf_collect {
	struct scrub *s;
	struct bf_item *it;
	unsigned n;
	uint8_t last[META_ID_LEN]; /* cursor: the last entry visited */
};

static int bf_cb(const uint8_t blob_id[META_ID_LEN], uint16_t mask, const uint8_t *layout,
		 size_t layout_len, void *arg)
{
	struct bf_collect *c = arg;
	struct bf_item *it = &c->it[c->n];

	memcpy(c->last, blob_id, META_ID_LEN);
	if (blob_layout_decode(layout, layout_len, &it->l) != 0)
		return 0;
	it->mask = 0;
	for (int i = 0; i < it->l.k + it->l.m; i++)
		if ((mask & (1u << i)) && data_store_has_drive(c->s->data, it->l.drive[i]))
			it->mask |= (uint16_t)(1u << i);
	if (it->mask) {
		memcpy(it->id, blob_id, META_ID_LEN);
		c->n++;
	}
	return 0;
}

/* Rebuilds the shards of one entry that belong on this node's drives and
 * clears them from the entry. Pinned meanwhile: GC (which removes the
 * entry when it retires the blob) cannot delete the blob under us. */
static void bf_item(struct scrub *s, const struct bf_item *it, int64_t start,
		    _Atomic uint64_t *bytes)
{
	uint16_t done = 0;
	int failed = 0;

	if (data_pin(s->data, it->id) != 0)
		return;
	for (int i = 0; i < it->l.k + it->l.m && !stopping(s); i++) {
		struct blob_layout out;
		unsigned r = 0;
		if (!(it->mask & (1u << i)))
			continue;
		int rc = blob_rebuild_shard(s->data, &it->l, i, &out, &r);
		if (rc == 0) {
			done |= (uint16_t)(1u << i);
			atomic_fetch_add(bytes, blob_shard_bytes(&it->l));
		} else {
			failed++;
			if (cn_now_ns() - s->bf_warned_ns > 60 * 1000000000LL) {
				s->bf_warned_ns = cn_now_ns(); /* once a minute, not per retry */
				log_warn("scrub: backfilling a shard failed: %s (retried every "
					 "second)",
					 cn_strerror(rc));
			}
		}
	}
	data_unpin(s->data, it->id);
	if (done) {
		struct meta_cmd cmd;
		memset(&cmd, 0, sizeof(cmd));
		cmd.type = META_CMD_HEAL_DONE;
		cmd.now = cn_now_ns();
		memcpy(cmd.blob_id, it->id, META_ID_LEN);
		cmd.heal_mask = done;
		if (meta_submit_sync(s->meta, &cmd) != 0)
			failed++;
	}
	pthread_mutex_lock(&s->mu);
	s->p.backfill_shards += (uint64_t)__builtin_popcount(done);
	s->p.backfill_failed += (uint64_t)failed;
	pthread_mutex_unlock(&s->mu);
	throttle_shared(s, start, bytes, s->opt.rebuild_bytes_per_sec);
}

/* One sweep over the heal entries, in pages. Entries of other nodes'
 * drives are skipped (their nodes backfill them). */
/* A page of entries is worked by BF_THREADS threads: a shard rebuild
 * waits mostly on other nodes (k remote reads per block) and on its own
 * fsync, so several at once use the disk and the network better. Each
 * entry is a different blob; the scrub thread waits for the page, so a
 * heal from the readers' queue never overlaps one of these. */
#define BF_THREADS 4

struct bf_page {
	struct scrub *s;
	struct bf_item *items;
	unsigned n;
	atomic_uint next;
	int64_t start;
	_Atomic uint64_t *bytes;
};

static void *bf_worker(void *arg)
{
	struct bf_page *pg = arg;
	unsigned i;

	while ((i = atomic_fetch_add(&pg->next, 1)) < pg->n && !stopping(pg->s))
		bf_item(pg->s, &pg->items[i], pg->start, pg->bytes);
	return NULL;
}

static void backfill_run(struct scrub *s)
{
	struct bf_item items[BF_BATCH];
	struct bf_collect c = {.s = s, .it = items};
	_Atomic uint64_t bytes = 0;
	int first = 1, rc;

	do {
		struct bf_page pg = {
			.s = s, .items = items, .start = cn_mono_ns(), .bytes = &bytes};
		pthread_t th[BF_THREADS];
		int started = 0;
		c.n = 0;
		rc = meta_heal_each(s->meta, first ? NULL : c.last, BF_BATCH, bf_cb, &c);
		first = 0;
		pg.n = c.n;
		atomic_store(&pg.next, 0);
		for (int t = 1; t < BF_THREADS && (unsigned)t < c.n; t++)
			if (cn_thread_create(&th[started], "backfill", bf_worker, &pg) == 0)
				started++;
		bf_worker(&pg);
		for (int t = 0; t < started; t++)
			pthread_join(th[t], NULL);
		atomic_store(&bytes, 0); /* the throttle counts per page */
	} while (rc == BF_BATCH && !stopping(s));
}

static void *scrub_main(void *arg)
{
	struct scrub *s = arg;
	int64_t next_pass = s->opt.interval_s
				    ? cn_now_ns() + (int64_t)s->opt.interval_s * 1000000000LL
				    : INT64_MAX;
	int deferred = 0; /* a pass asked for while the replica was behind */

	cn_thread_name("scrub");
	pthread_mutex_lock(&s->mu);
	while (!s->stop) {
		s->p.next_pass_ns = next_pass == INT64_MAX ? 0 : next_pass;
		int pass = deferred || s->want_pass || cn_now_ns() >= next_pass;
		s->want_pass = 0;
		s->want_heal = 0;
		pthread_mutex_unlock(&s->mu);
		drain_queue(s);
		/* a replica that is behind would miss the newest blobs */
		int ready = !s->opt.ready || s->opt.ready(s->opt.ready_ctx);
		if (ready) {
			rebuild_run(s);
			backfill_run(s);
		}
		deferred = pass && !ready;
		if (pass && ready) {
			full_pass(s);
			if (s->opt.interval_s)
				next_pass = cn_now_ns() + (int64_t)s->opt.interval_s * 1000000000LL;
		}
		pthread_mutex_lock(&s->mu);
		if (!s->stop && !s->want_pass && !s->want_heal) {
			/* the heal queue is polled at least every second */
			cn_cond_wait_until(&s->cv, &s->mu, cn_mono_ns() + 1000000000LL);
		}
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

int scrub_start(struct meta_store *m, struct data_store *d, const struct scrub_options *opt,
		struct scrub **out)
{
	struct scrub *s = calloc(1, sizeof(*s));

	if (!s)
		return CN_ENOMEM;
	s->meta = m;
	s->data = d;
	if (opt)
		s->opt = *opt;
	if (!s->opt.bytes_per_sec)
		s->opt.bytes_per_sec = 16ULL << 20; /* gentle: it runs by default */
	if (!s->opt.rebuild_bytes_per_sec)
		s->opt.rebuild_bytes_per_sec = 256ULL << 20;
	s->p.rebuild.drive = -1;
	s->p.rebuild.eta_s = -1;
	pthread_mutex_init(&s->mu, NULL);
	if (cn_cond_init_mono(&s->cv) != 0) {
		pthread_mutex_destroy(&s->mu);
		free(s);
		return CN_ENOMEM;
	}
	if (pthread_create(&s->thread, NULL, scrub_main, s) != 0) {
		pthread_mutex_destroy(&s->mu);
		pthread_cond_destroy(&s->cv);
		free(s);
		return CN_EINTERNAL;
	}
	*out = s;
	return 0;
}

void scrub_trigger(struct scrub *s)
{
	pthread_mutex_lock(&s->mu);
	if (!s->p.running)
		s->want_pass = 1;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

void scrub_heal_now(struct scrub *s)
{
	pthread_mutex_lock(&s->mu);
	s->want_heal = 1;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

void scrub_progress(struct scrub *s, struct scrub_progress *out)
{
	pthread_mutex_lock(&s->mu);
	*out = s->p;
	out->heal_queue_len = data_heal_queue_len(s->data);
	out->interval_s = s->opt.interval_s;
	out->bytes_per_sec = s->opt.bytes_per_sec;
	pthread_mutex_unlock(&s->mu);
}

void scrub_stop(struct scrub *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}
