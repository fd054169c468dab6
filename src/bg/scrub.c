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
 */
#include "bg/scrub.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bg/vpin.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
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
	struct scrub_progress p;
};

static int stopping(struct scrub *s)
{
	int st;
	pthread_mutex_lock(&s->mu);
	st = s->stop;
	pthread_mutex_unlock(&s->mu);
	return st;
}

/* Verifies (and repairs) one blob; updates counters. */
static void check_blob(struct scrub *s, const struct blob_layout *l, int from_queue)
{
	struct blob_layout out;
	unsigned rebuilt = 0;
	int rc;

	if (!data_store_owns(s->data, l))
		return; /* in a cluster, the node holding the blob scrubs it */
	rc = blob_heal(s->data, l, &out, &rebuilt);
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
	if (rc == CN_EDATALOST)
		log_error("scrub: a blob lost more shards than it has parity; data unrecoverable");
	else if (rc)
		log_warn("scrub: heal failed: %s", cn_strerror(rc));
	else if (memcmp(&out, l, sizeof(out)) != 0)
		log_warn("scrub: a healed blob moved shards; its new layout is not committed yet");
}

static void drain_queue(struct scrub *s)
{
	struct blob_layout l;

	while (!stopping(s) && data_heal_queue_pop(s->data, &l) == 0) {
		check_blob(s, &l, 1);
		data_unpin(s->data, l.id);
	}
}

/* Sleeps so that the pass stays under bytes_per_sec. */
static void throttle(struct scrub *s, int64_t start, uint64_t bytes)
{
	int64_t want_ns = (int64_t)((double)bytes / (double)s->opt.bytes_per_sec * 1e9);
	int64_t el = cn_now_ns() - start;

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
	if (version_pin(s->data, &v) == 0) {
		if (v.loc == META_LOC_BLOB) {
			if (blob_layout_decode(v.layout, v.layout_len, &l) == 0) {
				check_blob(s, &l, 0);
				*bytes += l.size;
			}
		} else if (v.loc == META_LOC_PARTS) {
			for (uint32_t i = 0; i < v.n_parts && !stopping(s); i++) {
				if (blob_layout_decode(v.parts[i].layout, v.parts[i].layout_len,
						       &l) == 0) {
					check_blob(s, &l, 0);
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

static void full_pass(struct scrub *s)
{
	struct meta_bucket *bk;
	size_t nb;
	int64_t start = cn_now_ns();
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
			struct meta_list_params lp;
			struct meta_list_result res;
			memset(&lp, 0, sizeof(lp));
			lp.start = km_len ? key_marker : NULL;
			lp.start_len = km_len;
			lp.id_marker = id_marker[0] ? id_marker : NULL;
			lp.max = 1000;
			if (meta_list_versions(s->meta, bk[b].name, &lp, &res) != 0)
				break;
			for (size_t i = 0; i < res.n && !stopping(s); i++) {
				check_version(s, bk[b].name, &res.entries[i], start, &bytes);
				drain_queue(s);
			}
			int more = res.truncated && res.next_marker &&
				   res.next_marker_len <= META_KEY_MAX;
			if (more) {
				memcpy(key_marker, res.next_marker, res.next_marker_len);
				km_len = res.next_marker_len;
				memcpy(id_marker, res.next_id, sizeof(id_marker));
			}
			meta_list_result_release(&res);
			if (!more || stopping(s))
				break;
		}
	}
	meta_bucket_list_release(bk, nb);
done:
	pthread_mutex_lock(&s->mu);
	s->p.running = 0;
	s->p.passes++;
	s->p.last_pass_end_ns = cn_now_ns();
	pthread_mutex_unlock(&s->mu);
}

static void *scrub_main(void *arg)
{
	struct scrub *s = arg;
	int64_t next_pass = s->opt.interval_s
				    ? cn_now_ns() + (int64_t)s->opt.interval_s * 1000000000LL
				    : INT64_MAX;

	pthread_mutex_lock(&s->mu);
	while (!s->stop) {
		int pass = s->want_pass || cn_now_ns() >= next_pass;
		s->want_pass = 0;
		s->want_heal = 0;
		pthread_mutex_unlock(&s->mu);
		drain_queue(s);
		if (pass) {
			full_pass(s);
			if (s->opt.interval_s)
				next_pass = cn_now_ns() + (int64_t)s->opt.interval_s * 1000000000LL;
		}
		pthread_mutex_lock(&s->mu);
		if (!s->stop && !s->want_pass && !s->want_heal) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1; /* the heal queue is polled at least every second */
			pthread_cond_timedwait(&s->cv, &s->mu, &ts);
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
		s->opt.bytes_per_sec = 64ULL << 20;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
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
