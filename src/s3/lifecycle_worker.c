/*
 * s3/lifecycle_worker.c — applies buckets' lifecycle rules.
 *
 * One thread. Every 24th of a "day" (an hour), when
 * this node may (one node; the leader in a cluster), a pass visits every
 * bucket with a lifecycle configuration and walks only the key ranges its
 * enabled rules name (lifecycle_prefixes: the ordered index, never a scan
 * per rule): versions in listing order (per key newest first, so each
 * noncurrent version's successor is the one before it) and incomplete
 * multipart uploads. For what s3/lifecycle.c says is due it proposes the
 * ordinary commands a client would: a current version expires by a delete
 * (a delete marker in a versioned bucket; If-Match its ETag, so a version
 * written meanwhile is not the one expired), a noncurrent version or a
 * lone delete marker is deleted by version id, an upload is aborted. No
 * state is kept across passes: a restarted node (or a new leader) starts
 * the pass again and finds what is still due. Throttled to
 * LC_MAX_PER_SEC commands per second.
 *
 * Thread rules: start/stop on the owner thread; progress from any thread.
 */
#include "s3/s3_int.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/thread.h"
#include "s3/lifecycle.h"
#include "s3/tagging.h"

#define LC_MAX_PER_SEC 500

struct s3_lifecycle {
	struct meta_store *meta;
	int (*active)(void *ctx);
	void *ctx;
	int64_t day_ns;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int quit;
	struct s3_lifecycle_progress p;
	int64_t sec_start;
	unsigned sec_count;
};

static int stopping(struct s3_lifecycle *l)
{
	int q;
	pthread_mutex_lock(&l->mu);
	q = l->quit;
	pthread_mutex_unlock(&l->mu);
	return q || !l->active(l->ctx);
}

static void count(struct s3_lifecycle *l, uint64_t *field)
{
	pthread_mutex_lock(&l->mu);
	(*field)++;
	pthread_mutex_unlock(&l->mu);
}

/* At most LC_MAX_PER_SEC commands a second. */
static void throttle(struct s3_lifecycle *l)
{
	int64_t now = cn_mono_ns();

	if (now - l->sec_start >= 1000000000LL) {
		l->sec_start = now;
		l->sec_count = 0;
	}
	if (++l->sec_count >= LC_MAX_PER_SEC) {
		int64_t left = l->sec_start + 1000000000LL - now;
		if (left > 0)
			usleep((useconds_t)(left / 1000));
		l->sec_start = cn_mono_ns();
		l->sec_count = 0;
	}
}

static int submit(struct s3_lifecycle *l, struct meta_cmd *c)
{
	int rc;

	throttle(l);
	c->now = cn_now_ns();
	rc = meta_submit_sync(l->meta, c);
	/* changed meanwhile (a new version, gone already): not due any more;
	 * locked (object lock, decided in apply): never expired while it is */
	if (rc == CN_EPRECOND || rc == CN_ENOKEY || rc == CN_ENOVERSION || rc == CN_ENOUPLOAD ||
	    rc == CN_ELOCKED)
		return 1;
	if (rc) {
		count(l, &l->p.failed);
		log_warn("lifecycle: %s", cn_strerror(rc));
	}
	return rc;
}

static void del_cmd(struct meta_cmd *c, const char *bucket, const struct meta_entry *e)
{
	memset(c, 0, sizeof(*c));
	c->type = META_CMD_DELETE_OBJECT;
	c->bucket = bucket;
	c->bucket_len = strlen(bucket);
	c->key = e->key;
	c->key_len = e->key_len;
}

/* Is version e under object lock now? Read first, so a bucket full of
 * retained versions costs a read per pass, not a refused proposal (apply
 * refuses it anyway). */
static int locked(struct s3_lifecycle *l, const char *bucket, const struct meta_entry *e,
		  int64_t now)
{
	struct meta_version v;
	int lk;

	if (e->flags & META_VF_DELETE_MARKER)
		return 0;
	if (meta_object_get(l->meta, bucket, e->key, e->key_len, e->vid_text, 0, &v))
		return 0; /* gone or unreadable: the proposal decides */
	lk = v.legal_hold == META_HOLD_ON || (v.lock_mode && v.lock_until > now);
	meta_version_release(&v);
	return lk;
}

/* ---- one key's versions ---- */

struct tagsrc {
	struct meta_store *meta;
	const char *bucket;
	const struct meta_entry *e;
	int loaded;
	struct tag_set *set;
};

static int tag_get(void *arg, const char *key, size_t key_len, const char **value,
		   size_t *value_len)
{
	struct tagsrc *t = arg;
	char k[TAGGING_KEY_MAX_BYTES + 1];

	if (!t->loaded) {
		struct meta_version v;
		const uint8_t *tags;
		size_t tl;
		t->loaded = 1;
		if (meta_object_get(t->meta, t->bucket, t->e->key, t->e->key_len, t->e->vid_text, 0,
				    &v) != 0)
			return 0;
		if (s3_attrs_tags(v.attrs, v.attrs_len, &tags, &tl) == 0 && tl &&
		    (t->set = malloc(sizeof(*t->set))) != NULL &&
		    tagging_decode(tags, tl, t->set) != 0) {
			free(t->set);
			t->set = NULL;
		}
		meta_version_release(&v);
	}
	if (!t->set || key_len > TAGGING_KEY_MAX_BYTES)
		return 0;
	memcpy(k, key, key_len);
	k[key_len] = 0;
	return tagging_get(t->set, k, value, value_len) == 0;
}

struct keystate {
	char key[META_KEY_MAX];
	size_t key_len;
	int have;
	int64_t prev_mtime;   /* the newer version's creation */
	unsigned noncurrent;  /* noncurrent versions seen (newest first) */
	int marker;	      /* the current version is a delete marker */
	struct meta_entry mk; /* it */
	char mk_key[META_KEY_MAX];
};

static void key_end(struct s3_lifecycle *l, const struct lifecycle_config *c, const char *bucket,
		    struct keystate *ks, int64_t now)
{
	struct meta_cmd cmd;
	const char *rule;

	if (!ks->have || !ks->marker)
		return;
	if (lifecycle_marker_expired(c, ks->key, ks->key_len, ks->noncurrent, ks->mk.mtime, now,
				     l->day_ns, &rule) != 1)
		return;
	ks->mk.key = ks->mk_key;
	del_cmd(&cmd, bucket, &ks->mk);
	cmd.has_target = 1;
	memcpy(cmd.target_vid, ks->mk.vid, META_ID_LEN);
	if (submit(l, &cmd) == 0)
		count(l, &l->p.markers_removed);
}

static void version(struct s3_lifecycle *l, const struct lifecycle_config *c, const char *bucket,
		    int versioned, struct keystate *ks, const struct meta_entry *e, int64_t now)
{
	struct tagsrc ts = {.meta = l->meta, .bucket = bucket, .e = e};
	struct lifecycle_tags lt = {.get = tag_get, .arg = &ts};
	struct meta_cmd cmd;
	const char *rule;
	int64_t at;

	if (!ks->have || ks->key_len != e->key_len || memcmp(ks->key, e->key, e->key_len) != 0) {
		key_end(l, c, bucket, ks, now);
		memset(ks, 0, sizeof(*ks));
		memcpy(ks->key, e->key, e->key_len);
		ks->key_len = e->key_len;
		ks->have = 1;
	}
	if (e->flags & META_VF_LATEST) {
		if (e->flags & META_VF_DELETE_MARKER) {
			ks->marker = 1;
			ks->mk = *e;
			memcpy(ks->mk_key, e->key, e->key_len);
		} else if (lifecycle_current_expiry(c, e->key, e->key_len, e->size, &lt, e->mtime,
						    l->day_ns, &at, &rule) == 1 &&
			   at <= now) {
			del_cmd(&cmd, bucket, e);
			if (versioned) {
				/* a delete marker on top, unless a newer version
				 * arrived meanwhile */
				meta_version_id_new(l->meta, cmd.vid);
				cmd.if_match = e->etag;
				cmd.if_match_len = strlen(e->etag);
			} else {
				cmd.has_target = 1;
				memcpy(cmd.target_vid, e->vid, META_ID_LEN);
			}
			if (submit(l, &cmd) == 0)
				count(l, &l->p.objects_expired);
		}
	} else {
		if (lifecycle_noncurrent_expired(
			    c, e->key, e->key_len, (e->flags & META_VF_DELETE_MARKER) ? 0 : e->size,
			    &lt, ks->prev_mtime, ks->noncurrent, now, l->day_ns, &rule) == 1) {
			del_cmd(&cmd, bucket, e);
			cmd.has_target = 1;
			memcpy(cmd.target_vid, e->vid, META_ID_LEN);
			if (!locked(l, bucket, e, now) && submit(l, &cmd) == 0)
				count(l, &l->p.versions_expired);
		}
		ks->noncurrent++;
	}
	ks->prev_mtime = e->mtime;
	free(ts.set);
}

/* ---- one bucket ---- */

static void walk_versions(struct s3_lifecycle *l, const struct lifecycle_config *c,
			  const char *bucket, int versioned, const struct lifecycle_prefix *pf)
{
	char km[META_KEY_MAX + 1], im[META_ID_TEXT] = "";
	size_t km_len = 0;
	struct keystate *ks = calloc(1, sizeof(*ks));

	if (!ks)
		return;
	while (!stopping(l)) {
		struct meta_list_params lp;
		struct meta_list_result res;
		int64_t now = cn_now_ns();
		memset(&lp, 0, sizeof(lp));
		lp.prefix = pf->s;
		lp.prefix_len = pf->len;
		lp.start = km_len ? km : NULL;
		lp.start_len = km_len;
		lp.id_marker = im[0] ? im : NULL;
		lp.max = 200;
		if (meta_list_versions(l->meta, bucket, &lp, &res) != 0)
			break;
		for (size_t i = 0; i < res.n && !stopping(l); i++)
			version(l, c, bucket, versioned, ks, &res.entries[i], now);
		int more = res.truncated && res.next_marker_len <= META_KEY_MAX;
		if (more) {
			memcpy(km, res.next_marker, res.next_marker_len);
			km_len = res.next_marker_len;
			snprintf(im, sizeof(im), "%s", res.next_id);
		}
		meta_list_result_release(&res);
		if (!more) {
			key_end(l, c, bucket, ks, cn_now_ns());
			break;
		}
	}
	free(ks);
}

static void walk_uploads(struct s3_lifecycle *l, const struct lifecycle_config *c,
			 const char *bucket, const struct lifecycle_prefix *pf)
{
	char km[META_KEY_MAX + 1], im[META_ID_TEXT] = "";
	size_t km_len = 0;

	while (!stopping(l)) {
		struct meta_list_params lp;
		struct meta_list_result res;
		int64_t now = cn_now_ns();
		const char *rule;
		memset(&lp, 0, sizeof(lp));
		lp.prefix = pf->s;
		lp.prefix_len = pf->len;
		lp.start = km_len ? km : NULL;
		lp.start_len = km_len;
		lp.id_marker = im[0] ? im : NULL;
		lp.max = 200;
		if (meta_list_uploads(l->meta, bucket, &lp, &res) != 0)
			break;
		for (size_t i = 0; i < res.n && !stopping(l); i++) {
			const struct meta_entry *e = &res.entries[i];
			struct meta_cmd cmd;
			if (lifecycle_upload_expired(c, e->key, e->key_len, e->mtime, now,
						     l->day_ns, &rule) != 1)
				continue;
			memset(&cmd, 0, sizeof(cmd));
			cmd.type = META_CMD_UPLOAD_ABORT;
			cmd.bucket = bucket;
			cmd.bucket_len = strlen(bucket);
			cmd.key = e->key;
			cmd.key_len = e->key_len;
			memcpy(cmd.upload_id, e->vid, META_ID_LEN);
			if (submit(l, &cmd) == 0)
				count(l, &l->p.uploads_aborted);
		}
		int more = res.truncated && res.next_marker_len <= META_KEY_MAX;
		if (more) {
			memcpy(km, res.next_marker, res.next_marker_len);
			km_len = res.next_marker_len;
			snprintf(im, sizeof(im), "%s", res.next_id);
		}
		meta_list_result_release(&res);
		if (!more)
			break;
	}
}

static void pass(struct s3_lifecycle *l)
{
	struct meta_bucket *bk;
	size_t nb;

	if (meta_bucket_list(l->meta, &bk, &nb) != 0)
		return;
	pthread_mutex_lock(&l->mu);
	l->p.running = 1;
	pthread_mutex_unlock(&l->mu);
	for (size_t b = 0; b < nb && !stopping(l); b++) {
		struct lifecycle_prefix *pf;
		struct lifecycle_config *c;
		size_t n = 0;
		int rc;
		c = s3_lifecycle_load(l->meta, bk[b].name, 0, &rc);
		if (!c)
			continue;
		pthread_mutex_lock(&l->mu);
		snprintf(l->p.bucket, sizeof(l->p.bucket), "%s", bk[b].name);
		pthread_mutex_unlock(&l->mu);
		pf = calloc(c->n ? c->n : 1, sizeof(*pf));
		if (pf && lifecycle_prefixes(c, pf, c->n ? c->n : 1, &n) == 0)
			for (size_t i = 0; i < n && !stopping(l); i++) {
				walk_versions(l, c, bk[b].name,
					      bk[b].versioning != META_VERSIONING_OFF, &pf[i]);
				walk_uploads(l, c, bk[b].name, &pf[i]);
			}
		free(pf);
		lifecycle_config_free(c);
	}
	meta_bucket_list_release(bk, nb);
	pthread_mutex_lock(&l->mu);
	l->p.running = 0;
	l->p.bucket[0] = 0;
	l->p.passes++;
	l->p.last_pass_end_ns = cn_now_ns();
	pthread_mutex_unlock(&l->mu);
}

static void *main_loop(void *arg)
{
	struct s3_lifecycle *l = arg;
	/* a pass every 24th of a day (an hour for real days: S3 itself acts
	 * on rules once a day, and a pass over a rule for "" walks the whole
	 * bucket), at least 100 ms apart */
	int64_t every = l->day_ns / 24;

	cn_thread_name("lifecycle");
	if (every < 100 * 1000000LL)
		every = 100 * 1000000LL;
	pthread_mutex_lock(&l->mu);
	while (!l->quit) {
		pthread_mutex_unlock(&l->mu);
		if (l->active(l->ctx))
			pass(l);
		pthread_mutex_lock(&l->mu);
		if (l->quit)
			break;
		cn_cond_wait_until(&l->cv, &l->mu, cn_mono_ns() + every);
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

int s3_lifecycle_start(struct meta_store *m, int64_t day_ns, int (*active)(void *ctx), void *ctx,
		       struct s3_lifecycle **out)
{
	struct s3_lifecycle *l = calloc(1, sizeof(*l));

	if (!l)
		return CN_ENOMEM;
	l->meta = m;
	l->day_ns = day_ns > 0 ? day_ns : LIFECYCLE_DAY_NS;
	l->active = active;
	l->ctx = ctx;
	pthread_mutex_init(&l->mu, NULL);
	if (cn_cond_init_mono(&l->cv) != 0) {
		pthread_mutex_destroy(&l->mu);
		free(l);
		return CN_ENOMEM;
	}
	if (pthread_create(&l->thread, NULL, main_loop, l) != 0) {
		pthread_mutex_destroy(&l->mu);
		pthread_cond_destroy(&l->cv);
		free(l);
		return CN_EINTERNAL;
	}
	*out = l;
	return 0;
}

void s3_lifecycle_stop(struct s3_lifecycle *l)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->mu);
	l->quit = 1;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
	pthread_join(l->thread, NULL);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	free(l);
}

void s3_lifecycle_progress(struct s3_lifecycle *l, struct s3_lifecycle_progress *out)
{
	pthread_mutex_lock(&l->mu);
	*out = l->p;
	pthread_mutex_unlock(&l->mu);
}
