/*
 * bg/gc.c — see gc.h.
 */
#include "bg/gc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/thread.h"
#include "data/data.h"
#include "meta/meta.h"

struct gc_item {
	struct meta_gc_ref ref;
	struct blob_layout layout;
	int ok; /* layout decoded */
};

struct gc {
	struct meta_store *meta;
	struct data_store *data;
	struct gc_options opt;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	int kicked;
	int running;
	pthread_mutex_t pass_mu; /* one pass at a time */
	uint64_t deleted, failed, busy;
	struct gc_item *items;
};

struct collect {
	struct gc_item *items;
	unsigned n, cap;
};

static int collect_cb(const struct meta_gc_ref *ref, const uint8_t *layout, size_t layout_len,
		      void *arg)
{
	struct collect *c = arg;
	struct gc_item *it;

	if (c->n == c->cap)
		return 1;
	it = &c->items[c->n++];
	it->ref = *ref;
	it->ok = blob_layout_decode(layout, layout_len, &it->layout) == 0;
	return 0;
}

int gc_run_once(struct gc *g)
{
	struct collect c = {g->items, 0, g->opt.batch};
	struct meta_gc_ref *done;
	struct blob_layout *layouts = NULL;
	uint8_t *peer_ok = NULL;
	unsigned n_done = 0;
	int rc;

	if (g->opt.peers && !g->opt.peers->active(g->opt.peers->ctx))
		return 0; /* the leader collects */
	pthread_mutex_lock(&g->pass_mu);
	/* Entries are due at (retire time + META_GC_GRACE_NS); a shorter
	 * configured grace looks that much further ahead. */
	rc = meta_gc_fetch(g->meta, cn_now_ns() + META_GC_GRACE_NS - g->opt.grace_ns, g->opt.batch,
			   collect_cb, &c);
	if (rc || c.n == 0)
		goto out;
	done = calloc(c.n, sizeof(*done));
	if (!done) {
		rc = CN_ENOMEM;
		goto out;
	}
	if (g->opt.peers) {
		peer_ok = calloc(c.n, 1);
		layouts = calloc(c.n, sizeof(*layouts));
		if (!peer_ok || !layouts) {
			rc = CN_ENOMEM;
			goto free_out;
		}
		for (unsigned i = 0; i < c.n; i++)
			layouts[i] = c.items[i].layout;
		/* undecodable layouts are dropped below without asking anyone */
		if (g->opt.peers->remove(g->opt.peers->ctx, layouts, c.n, peer_ok) != 0)
			memset(peer_ok, 0, c.n);
	}
	for (unsigned i = 0; i < c.n; i++) {
		int drc = 0;
		if (c.items[i].ok)
			drc = blob_delete(g->data, &c.items[i].layout);
		else
			log_warn("gc: undecodable layout for a gc entry; dropping it");
		if (drc == 0 && peer_ok && c.items[i].ok && !peer_ok[i])
			drc = CN_EDRIVE; /* another node still has (or reads) it */
		if (drc == 0) {
			done[n_done++] = c.items[i].ref;
		} else if (drc == CN_EBUSY) {
			/* A reader still streams it: keep the entry for a later pass. */
			g->busy++;
		} else {
			/* A drive is offline: keep the entry, retry next pass. */
			g->failed++;
		}
	}
	if (n_done) {
		struct meta_cmd cmd;
		memset(&cmd, 0, sizeof(cmd));
		cmd.type = META_CMD_GC_DONE;
		cmd.now = cn_now_ns();
		cmd.gc = done;
		cmd.n_gc = n_done;
		rc = meta_submit_sync(g->meta, &cmd);
		if (rc == 0)
			g->deleted += n_done;
	}
free_out:
	free(done);
	free(peer_ok);
	free(layouts);
	if (rc == 0)
		rc = (int)n_done;
out:
	pthread_mutex_unlock(&g->pass_mu);
	return rc;
}

static void *gc_main(void *arg)
{
	struct gc *g = arg;

	cn_thread_name("gc");
	pthread_mutex_lock(&g->mu);
	while (!g->stop) {
		int rc;

		pthread_mutex_unlock(&g->mu);
		do {
			rc = gc_run_once(g);
		} while (rc == (int)g->opt.batch && !g->stop);
		if (rc < 0)
			log_warn("gc: pass failed: %s", cn_strerror(rc));
		pthread_mutex_lock(&g->mu);
		if (g->stop)
			break;
		if (!g->kicked) {
			cn_cond_wait_until(&g->cv, &g->mu,
					   cn_mono_ns() + (int64_t)g->opt.interval_ms * 1000000LL);
		}
		g->kicked = 0;
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

int gc_start(struct meta_store *m, struct data_store *d, const struct gc_options *opt,
	     struct gc **out)
{
	struct gc *g = calloc(1, sizeof(*g));

	if (!g)
		return CN_ENOMEM;
	g->meta = m;
	g->data = d;
	if (opt)
		g->opt = *opt;
	if (!g->opt.interval_ms)
		g->opt.interval_ms = 1000;
	if (!g->opt.batch)
		g->opt.batch = 256;
	if (!opt)
		g->opt.grace_ns = -1;
	if (g->opt.grace_ns < 0)
		g->opt.grace_ns = META_GC_GRACE_NS;
	g->items = calloc(g->opt.batch, sizeof(*g->items));
	if (!g->items) {
		free(g);
		return CN_ENOMEM;
	}
	pthread_mutex_init(&g->mu, NULL);
	pthread_mutex_init(&g->pass_mu, NULL);
	if (cn_cond_init_mono(&g->cv) != 0) {
		free(g->items);
		free(g);
		return CN_ENOMEM;
	}
	if (pthread_create(&g->thread, NULL, gc_main, g) != 0) {
		free(g->items);
		free(g);
		return CN_EINTERNAL;
	}
	g->running = 1;
	*out = g;
	return 0;
}

void gc_kick(struct gc *g)
{
	pthread_mutex_lock(&g->mu);
	g->kicked = 1;
	pthread_cond_signal(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

void gc_stats(struct gc *g, uint64_t *deleted, uint64_t *failed, uint64_t *deferred)
{
	pthread_mutex_lock(&g->pass_mu);
	*deleted = g->deleted;
	*failed = g->failed;
	*deferred = g->busy;
	pthread_mutex_unlock(&g->pass_mu);
}

void gc_stop(struct gc *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->mu);
	g->stop = 1;
	pthread_cond_signal(&g->cv);
	pthread_mutex_unlock(&g->mu);
	if (g->running)
		pthread_join(g->thread, NULL);
	pthread_mutex_destroy(&g->mu);
	pthread_mutex_destroy(&g->pass_mu);
	pthread_cond_destroy(&g->cv);
	free(g->items);
	free(g);
}

struct reclaim {
	struct data_store *data;
	const uint8_t *tag; /* 4 bytes; NULL: every blob on this node's drives */
	uint8_t (*ids)[META_ID_LEN];
	size_t n, cap;
	int rc;
};

static int reclaim_cb(const uint8_t *blob_id, int64_t created, const uint8_t *layout,
		      size_t layout_len, void *arg)
{
	struct reclaim *r = arg;
	struct blob_layout l;
	(void)created;

	if (r->tag ? memcmp(blob_id, r->tag, 4) != 0
		   : blob_layout_decode(layout, layout_len, &l) != 0 || !blob_is_local(r->data, &l))
		return 0;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		void *p = realloc(r->ids, cap * sizeof(*r->ids));
		if (!p) {
			r->rc = CN_ENOMEM;
			return 1;
		}
		r->ids = p;
		r->cap = cap;
	}
	memcpy(r->ids[r->n++], blob_id, META_ID_LEN);
	return 0;
}

int gc_reclaim_local_intents(struct meta_store *m, struct data_store *d, const uint8_t *tag)
{
	struct reclaim r = {.data = d, .tag = tag};
	struct meta_cmd cmd;
	int rc;

	memset(&cmd, 0, sizeof(cmd));
	cmd.type = META_CMD_BARRIER;
	rc = meta_submit_sync(m, &cmd);
	if (!rc)
		rc = meta_intent_each(m, reclaim_cb, &r);
	if (!rc)
		rc = r.rc;
	for (size_t i = 0; !rc && i < r.n; i++) {
		memset(&cmd, 0, sizeof(cmd));
		cmd.type = META_CMD_INTENT_DROP;
		cmd.now = cn_now_ns();
		memcpy(cmd.blob_id, r.ids[i], META_ID_LEN);
		rc = meta_submit_sync(m, &cmd);
	}
	free(r.ids);
	if (!rc && r.n)
		log_info("gc: %zu unfinished upload%s of an earlier run reclaimed", r.n,
			 r.n == 1 ? "" : "s");
	return rc ? rc : (int)(r.n > INT32_MAX ? INT32_MAX : r.n);
}
