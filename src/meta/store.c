/*
 * meta/store.c — open/close, format version, id generation and the commit
 * pipeline (DESIGN §3 "Metadata thread").
 *
 * Layer: meta. One metadata thread owns every write transaction. Commands
 * queue under s->mu; the thread takes what is waiting, applies each in one
 * batch transaction (preconditions fail before any write; a command that
 * fails after writing makes the batch re-apply with one nested transaction
 * per command, without it), commits the batch once (one durable fsync: group
 * commit), then
 * hands each command to its waiter's loop (uv_async_t) or wakes its sync
 * submitter. A batch stops taking commands after max_batch_us or
 * max_batch_bytes of encoded commands; the rest waits for the next batch.
 *
 * Each command is applied from its encoded form (encode -> decode -> apply),
 * exactly as a Raft follower will, so what is logged is what is applied.
 *
 * system db format: key "format" -> u32 LE format version (1: index held a
 * summary; 2: index holds the newest version's record; 3: a body of up to
 * META_EMBED_MAX bytes lives in its version record, codec loc 4. A format-1
 * store is upgraded in place at open, upgrade.c; a format-2 store is a valid
 * format-3 store and only gets the new number, so that a build that cannot
 * read loc 4 refuses the store at open instead of finding records corrupt).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/thread.h"
#include "meta/meta_int.h"

struct sync_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
};

/* ---- ids ---- */

/* The 4 random bytes only spread ids of one millisecond (uniqueness comes
 * from the HLC and node id), so a PRNG seeded once from getrandom at open
 * serves: a getrandom call per id was 5% of the put path's CPU. */
static uint32_t id_rand(struct meta_store *s)
{
	uint64_t z = (s->rng += 0x9E3779B97F4A7C15ull); /* splitmix64 */
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return (uint32_t)((z ^ (z >> 31)) >> 32);
}

static void id_new(struct meta_store *s, uint8_t out[META_ID_LEN])
{
	uint64_t phys = ((uint64_t)cn_now_ns() / 1000000u) << 16, h;
	uint32_t rnd;

	pthread_mutex_lock(&s->idmu);
	h = phys > s->hlc_last ? phys : s->hlc_last + 1;
	s->hlc_last = h;
	rnd = id_rand(s);
	pthread_mutex_unlock(&s->idmu);
	be64_put(out, h);
	out[8] = (uint8_t)(s->opt.node_id >> 8);
	out[9] = (uint8_t)s->opt.node_id;
	out[10] = 0;
	out[11] = 0;
	out[12] = (uint8_t)(rnd >> 24);
	out[13] = (uint8_t)(rnd >> 16);
	out[14] = (uint8_t)(rnd >> 8);
	out[15] = (uint8_t)rnd;
}

void meta_id_observe(struct meta_store *s, const uint8_t id[META_ID_LEN])
{
	uint64_t h = be64_get(id);

	pthread_mutex_lock(&s->idmu);
	if (h > s->hlc_last)
		s->hlc_last = h;
	pthread_mutex_unlock(&s->idmu);
}

void meta_version_id_new(struct meta_store *s, uint8_t out[META_ID_LEN])
{
	id_new(s, out);
}

void meta_upload_id_new(struct meta_store *s, uint8_t out[META_ID_LEN])
{
	id_new(s, out);
}

void meta_id_to_text(const uint8_t id[META_ID_LEN], char out[META_ID_TEXT])
{
	static const char hx[] = "0123456789abcdef";
	for (int i = 0; i < META_ID_LEN; i++) {
		out[2 * i] = hx[id[i] >> 4];
		out[2 * i + 1] = hx[id[i] & 15];
	}
	out[2 * META_ID_LEN] = 0;
}

int meta_id_from_text(const char *s, size_t len, uint8_t out[META_ID_LEN])
{
	if (len != 2 * META_ID_LEN)
		return CN_EBADVERSIONID;
	for (size_t i = 0; i < len; i += 2) {
		int v[2];
		for (int j = 0; j < 2; j++) {
			char c = s[i + j];
			if (c >= '0' && c <= '9')
				v[j] = c - '0';
			else if (c >= 'a' && c <= 'f')
				v[j] = c - 'a' + 10;
			else
				return CN_EBADVERSIONID;
		}
		out[i / 2] = (uint8_t)(v[0] << 4 | v[1]);
	}
	return 0;
}

/* ---- open / format ---- */

static int format_check(struct meta_store *s, const char *dir)
{
	struct kv_txn t;
	const uint8_t *v;
	size_t vlen;
	uint64_t n = 0;
	int rc = kv_txn_begin(s->env, NULL, 0, &t);

	if (rc)
		return rc;
	rc = kv_get(&t, KV_SYSTEM, "format", 6, &v, &vlen);
	if (rc == CN_ENOTFOUND) {
		uint8_t b[4] = {META_FORMAT_VERSION, 0, 0, 0};
		rc = kv_put(&t, KV_SYSTEM, "format", 6, b, 4);
	} else if (rc == 0) {
		uint32_t f =
			vlen == 4 ? (uint32_t)(v[0] | v[1] << 8 | v[2] << 16 | (uint32_t)v[3] << 24)
				  : 0;
		if (f == 1) {
			/* upgrade in place (upgrade.c), then mark the new format */
			uint64_t moved = 0;
			uint8_t b[4] = {META_FORMAT_VERSION, 0, 0, 0};
			kv_txn_abort(&t);
			log_info("meta: upgrading store %s from format 1 to %u", dir,
				 META_FORMAT_VERSION);
			rc = meta_upgrade_v1(s->env, &moved);
			if (!rc)
				rc = kv_txn_begin(s->env, NULL, 0, &t);
			if (rc) {
				log_error("meta: upgrade of %s failed: %s", dir, cn_strerror(rc));
				return rc;
			}
			rc = kv_put(&t, KV_SYSTEM, "format", 6, b, 4);
			if (!rc)
				log_info("meta: upgrade done, %llu records moved",
					 (unsigned long long)moved);
		} else if (f == 2 || f == 3) {
			/* later formats only add record kinds: the number goes up
			 * so that an older build refuses the store at open rather
			 * than meet a record it cannot read */
			uint8_t b[4] = {META_FORMAT_VERSION, 0, 0, 0};
			log_info("meta: store %s: format %u to %u (no record changes)", dir, f,
				 META_FORMAT_VERSION);
			rc = kv_put(&t, KV_SYSTEM, "format", 6, b, 4);
		} else if (f != META_FORMAT_VERSION) {
			log_error("meta: store %s has metadata format version %u; this build reads "
				  "only version %u (upgrade cairn or restore a matching store)",
				  dir, f, META_FORMAT_VERSION);
			rc = CN_EFORMAT;
		}
	}
	/* Startup: no blob write can be in flight, so every intent is an orphan.
	 * Replicated: an old proposal may still commit, so the cluster sweeps
	 * this node's intents through the log instead (cluster/). */
	if (!rc && !s->opt.replicated)
		rc = meta_intents_to_gc(&t, cn_now_ns(), &n);
	if (!rc)
		rc = kv_txn_commit(&t);
	else
		kv_txn_abort(&t);
	if (!rc && n)
		log_info("meta: %llu stale blob intents handed to gc", (unsigned long long)n);
	return rc;
}

static void *meta_thread(void *arg);
static void complete(struct meta_cmd *c);

int meta_store_open(const char *dir, const struct meta_options *opt, struct meta_store **out)
{
	struct meta_store *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return CN_ENOMEM;
	if (opt)
		s->opt = *opt;
	if (!s->opt.map_size)
		s->opt.map_size = 64ull << 30;
	if (!s->opt.max_batch_us)
		s->opt.max_batch_us = 5000;
	if (!s->opt.max_batch_bytes)
		s->opt.max_batch_bytes = 16u << 20;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_mutex_init(&s->idmu, NULL);
	if (getrandom(&s->rng, sizeof(s->rng), 0) != sizeof(s->rng))
		s->rng = (uint64_t)cn_now_ns() ^ ((uint64_t)getpid() << 32);
	rc = kv_env_open(dir, s->opt.map_size,
			 s->opt.replicated ? KV_NOMETASYNC | KV_REPLACEABLE : 0, &s->env);
	if (rc)
		goto fail;
	if (kv_key_max(s->env) < KEY_ENC_MAX) {
		log_error("meta: LMDB max key size %zu < %d needed", kv_key_max(s->env),
			  (int)KEY_ENC_MAX);
		rc = CN_EFORMAT;
		goto fail_env;
	}
	rc = format_check(s, dir);
	if (rc)
		goto fail_env;
	if (s->opt.ballast) {
		size_t n = strlen(dir) + sizeof("/ballast");
		s->ballast_path = malloc(n);
		s->ballast_dir = strdup(dir);
		if (!s->ballast_path || !s->ballast_dir) {
			rc = CN_ENOMEM;
			goto fail_env;
		}
		snprintf(s->ballast_path, n, "%s/ballast", dir);
		ballast_make(s);
		s->ballast_checked = cn_mono_ns();
	}
	if (s->opt.replicated) {
		/* The cluster's Raft thread applies committed entries instead. */
		rc = repl_load(s);
		if (rc)
			goto fail_env;
	} else {
		rc = -pthread_create(&s->thr, NULL, meta_thread, s);
		if (rc)
			goto fail_env;
		s->started = 1;
	}
	*out = s;
	return 0;
fail_env:
	kv_env_close(s->env);
fail:
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->idmu);
	free(s->ballast_path);
	free(s->ballast_dir);
	free(s);
	return rc;
}

void meta_store_close(struct meta_store *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = 1;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (s->started)
		pthread_join(s->thr, NULL);
	if (s->repl_open)
		kv_txn_abort(&s->repl_txn);
	cn_buf_release(&s->repl_scratch);
	kv_env_close(s->env);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->idmu);
	free(s->ballast_path);
	free(s->ballast_dir);
	free(s);
}

int meta_store_copy(struct meta_store *s, const char *path)
{
	return kv_env_copy(s->env, path);
}

struct kv_env *meta_store_env(struct meta_store *s)
{
	return s->env;
}

/* ---- waiter ---- */

static void waiter_async_cb(uv_async_t *h)
{
	struct meta_waiter *w = h->data;
	struct meta_cmd *c, *next;

	pthread_mutex_lock(&w->mu);
	c = w->head;
	w->head = w->tail = NULL;
	pthread_mutex_unlock(&w->mu);
	for (; c; c = next) {
		next = c->next_;
		c->next_ = NULL;
		c->cb_(c, c->rc_, c->arg_);
	}
}

int meta_waiter_init(struct meta_waiter *w, uv_loop_t *loop)
{
	int rc;

	memset(w, 0, sizeof(*w));
	rc = uv_async_init(loop, &w->async, waiter_async_cb);
	if (rc)
		return rc; /* libuv returns -errno */
	w->async.data = w;
	pthread_mutex_init(&w->mu, NULL);
	return 0;
}

static void waiter_closed(uv_handle_t *h)
{
	struct meta_waiter *w = h->data;
	pthread_mutex_destroy(&w->mu);
	if (w->close_cb)
		w->close_cb(w);
}

void meta_waiter_close(struct meta_waiter *w, meta_waiter_close_cb cb)
{
	w->close_cb = cb;
	uv_close((uv_handle_t *)&w->async, waiter_closed);
}

/* ---- submit ---- */

static int enqueue(struct meta_store *s, struct meta_cmd *cmd)
{
	pthread_mutex_lock(&s->mu);
	if (s->stopping) {
		pthread_mutex_unlock(&s->mu);
		return CN_ESHUTDOWN;
	}
	cmd->next_ = NULL;
	if (s->qtail)
		s->qtail->next_ = cmd;
	else
		s->qhead = cmd;
	s->qtail = cmd;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

int meta_submit(struct meta_store *s, struct meta_cmd *cmd, struct meta_waiter *w, meta_cmd_cb cb,
		void *arg)
{
	if (!w || !cb)
		return CN_EINVAL;
	cmd->w_ = w;
	cmd->cb_ = cb;
	cmd->arg_ = arg;
	cmd->sync_ = NULL;
	cmd->rc_ = 0;
	if (s->proposer.submit)
		return s->proposer.submit(s->proposer.arg, cmd);
	if (cmd->type == META_CMD_BARRIER) {
		/* one node: every committed command is already visible */
		complete(cmd);
		return 0;
	}
	return enqueue(s, cmd);
}

int meta_submit_sync(struct meta_store *s, struct meta_cmd *cmd)
{
	struct sync_wait sw;
	int rc;

	if (!s->proposer.submit && cmd->type == META_CMD_BARRIER)
		return 0; /* one node: as in meta_submit */
	pthread_mutex_init(&sw.mu, NULL);
	pthread_cond_init(&sw.cv, NULL);
	sw.done = 0;
	cmd->w_ = NULL;
	cmd->cb_ = NULL;
	cmd->sync_ = &sw;
	cmd->rc_ = 0;
	rc = s->proposer.submit ? s->proposer.submit(s->proposer.arg, cmd) : enqueue(s, cmd);
	if (!rc) {
		pthread_mutex_lock(&sw.mu);
		while (!sw.done)
			pthread_cond_wait(&sw.cv, &sw.mu);
		pthread_mutex_unlock(&sw.mu);
		rc = cmd->rc_;
	}
	pthread_mutex_destroy(&sw.mu);
	pthread_cond_destroy(&sw.cv);
	return rc;
}

void meta_cmd_complete(struct meta_cmd *c, int rc)
{
	c->rc_ = rc;
	complete(c);
}

static void complete(struct meta_cmd *c)
{
	if (c->sync_) {
		struct sync_wait *sw = c->sync_;
		pthread_mutex_lock(&sw->mu);
		sw->done = 1;
		pthread_cond_signal(&sw->cv);
		pthread_mutex_unlock(&sw->mu);
		return;
	}
	struct meta_waiter *w = c->w_;
	c->next_ = NULL;
	pthread_mutex_lock(&w->mu);
	if (w->tail)
		w->tail->next_ = c;
	else
		w->head = c;
	w->tail = c;
	pthread_mutex_unlock(&w->mu);
	uv_async_send(&w->async);
}

/* Applies one command from its encoded form. nested: in a child txn of
 * batch, so a failure rolls back alone. Otherwise straight in batch (no
 * child txn to allocate and merge: LMDB's main per-command cost); then
 * *dirty says whether a failing command had already written, which leaves
 * batch unusable (LMDB poisons a txn whose write failed). enc and scratch
 * are the metadata thread's buffers, reused for every command. */
static int apply_one(struct kv_txn *batch, struct meta_cmd *c, int nested, int *dirty,
		     size_t *bytes, struct cn_buf *enc, struct cn_buf *scratch)
{
	struct meta_cmd dec;
	struct kv_txn child;
	unsigned long w0 = batch->writes;
	int rc;

	*dirty = 0;
	cn_buf_reset(enc);
	rc = cmd_encode_into(c, enc);
	if (rc)
		return rc;
	*bytes += enc->len;
	rc = meta_cmd_decode(enc->p, enc->len, &dec);
	if (rc)
		return rc;
	if (!nested) {
		rc = meta_apply(batch, &dec, &c->res, scratch, 0, NULL);
		*dirty = rc && batch->writes != w0;
	} else {
		rc = kv_txn_begin(batch->env, batch, 0, &child);
		if (!rc) {
			rc = meta_apply(&child, &dec, &c->res, scratch, 0, NULL);
			if (rc)
				kv_txn_abort(&child);
			else
				rc = kv_txn_commit(&child);
		}
	}
	meta_cmd_release(&dec);
	return rc;
}

/* ---- the ballast (meta.h) ---- */

uint64_t ballast_room(const struct meta_store *s)
{
	struct statvfs st;

	if (statvfs(s->ballast_dir, &st) != 0)
		return UINT64_MAX;
	return (uint64_t)st.f_bavail * st.f_frsize;
}

void ballast_make(struct meta_store *s)
{
	struct stat sb;
	uint64_t room;
	int fd, rc;

	if (stat(s->ballast_path, &sb) == 0 && (uint64_t)sb.st_blocks * 512 >= META_BALLAST) {
		s->ballast_held = 2; /* kept from an earlier run */
		return;
	}
	room = ballast_room(s);
	if (room == UINT64_MAX || room < 3ull * META_BALLAST)
		return; /* too little room to set any aside now */
	fd = open(s->ballast_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	rc = posix_fallocate(fd, 0, META_BALLAST);
	if (rc == 0 && fdatasync(fd) != 0)
		rc = errno;
	close(fd);
	if (rc) {
		unlink(s->ballast_path);
		log_warn("meta: cannot keep a %u MiB ballast in %s: %s", META_BALLAST >> 20,
			 s->ballast_path, strerror(rc));
		return;
	}
	s->ballast_held = 2;
}

int meta_ballast_released(struct meta_store *s)
{
	return s->ballast_path && atomic_load(&s->ballast_held) < 2;
}

/* Deletes the ballast; 0 if there was one to give up. */
int ballast_release(struct meta_store *s)
{
	if (!s->ballast_held)
		return -1;
	s->ballast_held = 0;
	s->ballast_checked = cn_mono_ns();
	if (unlink(s->ballast_path) != 0)
		return -1;
	log_warn("meta: the disk is full: released the %u MiB ballast (%s) so that metadata "
		 "commits, deletes among them, go on; new data is refused until space is freed",
		 META_BALLAST >> 20, s->ballast_path);
	return 0;
}

/* Why halves: in a cluster the Raft log shares the filesystem, and libraft
 * prepares its log segments ahead, 8 MiB each (META_BALLAST): one that
 * failed for want of room and is retried once the whole ballast is freed
 * takes all of it, and the store's next commit fails and stops the node.
 * Half the ballast is too small for a segment (meta_repl_commit gives up
 * the other half when a quarter is left). */
int ballast_release_half(struct meta_store *s)
{
	int held = s->ballast_held;

	if (held == 2) {
		s->ballast_held = 1;
		s->ballast_checked = cn_mono_ns();
		if (truncate(s->ballast_path, META_BALLAST / 2) != 0)
			return -1;
		log_warn("meta: the disk is full: released %u MiB of the %u MiB ballast (%s) so "
			 "that metadata commits, deletes among them, go on; new data is refused "
			 "until space is freed",
			 META_BALLAST >> 21, META_BALLAST >> 20, s->ballast_path);
		return 0;
	}
	if (held != 1)
		return -1;
	s->ballast_held = 0;
	s->ballast_checked = cn_mono_ns();
	if (unlink(s->ballast_path) != 0)
		return -1;
	log_warn("meta: the disk is still full: released the last %u MiB of the %u MiB ballast "
		 "(%s)",
		 META_BALLAST >> 21, META_BALLAST >> 20, s->ballast_path);
	return 0;
}

static void *meta_thread(void *arg)
{
	struct meta_store *s = arg;
	struct cn_buf enc, scratch;

	cn_thread_name("meta");
	cn_buf_init(&enc);
	cn_buf_init(&scratch);
	for (;;) {
		struct meta_cmd *list, *list_tail, *done = NULL, **dtail = &done, *c;
		struct kv_txn t;
		size_t bytes = 0;
		int64_t t0;
		int rc, redo = 0;

		pthread_mutex_lock(&s->mu);
		while (!s->qhead && !s->stopping)
			pthread_cond_wait(&s->cv, &s->mu);
		if (!s->qhead && s->stopping) {
			pthread_mutex_unlock(&s->mu);
			break;
		}
		list = s->qhead;
		list_tail = s->qtail;
		s->qhead = s->qtail = NULL;
		pthread_mutex_unlock(&s->mu);

		t0 = (cn_mono_ns() / 1000);
		rc = kv_txn_begin(s->env, NULL, 0, &t);
		while (list) {
			c = list;
			/* bound the batch by latency and size, not by count */
			if (done && ((cn_mono_ns() / 1000) - t0 > (int64_t)s->opt.max_batch_us ||
				     bytes > s->opt.max_batch_bytes))
				break;
			list = c->next_;
			c->next_ = NULL;
			c->dirty_ = 0;
			c->rc_ = rc ? rc : apply_one(&t, c, 0, &c->dirty_, &bytes, &enc, &scratch);
			*dtail = c;
			dtail = &c->next_;
			if (c->dirty_) {
				redo = 1;
				break;
			}
		}
		if (!rc && redo) {
			/* A command failed after writing (a storage error, not a
			 * precondition: those are checked before any write). Apply
			 * the batch again, each command in its own nested txn, and
			 * leave that one out with its error. apply is
			 * deterministic, so this is the batch without it. */
			kv_txn_abort(&t);
			rc = kv_txn_begin(s->env, NULL, 0, &t);
			for (c = done; c && !rc; c = c->next_) {
				int dirty;
				if (!c->dirty_)
					c->rc_ =
						apply_one(&t, c, 1, &dirty, &bytes, &enc, &scratch);
			}
		}
		if (list) {
			/* put the rest back at the head of the queue (the tail is
			 * remembered: walking a deep queue per batch was the
			 * thread's main cost under load) */
			struct meta_cmd *last = list_tail;
			pthread_mutex_lock(&s->mu);
			last->next_ = s->qhead;
			s->qhead = list;
			if (!s->qtail)
				s->qtail = last;
			pthread_mutex_unlock(&s->mu);
		}
		if (!rc) {
			rc = kv_txn_commit(&t);
			if (rc == -ENOSPC && ballast_release(s) == 0) {
				/* Once more with the ballast's room: each command in
				 * its own nested txn, as a redo (apply is
				 * deterministic). */
				rc = kv_txn_begin(s->env, NULL, 0, &t);
				if (!rc) {
					for (c = done; c; c = c->next_) {
						int dirty;
						if (!c->dirty_)
							c->rc_ = apply_one(&t, c, 1, &dirty, &bytes,
									   &enc, &scratch);
					}
					rc = kv_txn_commit(&t);
				}
			}
			if (rc)
				log_error("meta: batch commit failed: %s", cn_strerror(rc));
			else if (s->ballast_path && s->ballast_held < 2 &&
				 cn_mono_ns() - s->ballast_checked > 10 * 1000000000LL) {
				s->ballast_checked = cn_mono_ns();
				ballast_make(s);
			}
		}
		for (c = done; c;) {
			struct meta_cmd *next = c->next_;
			if (rc && c->rc_ == 0)
				c->rc_ = rc;
			complete(c);
			c = next;
		}
	}
	cn_buf_release(&enc);
	cn_buf_release(&scratch);
	return NULL;
}
