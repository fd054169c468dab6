/*
 * bg/rebalance.c — see rebalance.h.
 *
 *   STANDBY (not leader) <──> IDLE ──map epoch moved / start──> RUNNING
 *   RUNNING ──pass done──> IDLE          RUNNING ──pause──> PAUSED ──resume──> RUNNING
 *   RUNNING/PAUSED ──stop──> STOPPED ──start or a new epoch──> RUNNING
 *   RUNNING ──epoch moved again──> RUNNING (the pass starts over)
 *
 * Cursor file (tmp + fsync + rename): one line
 *   "<balanced epoch> <pass epoch> <bucket> <hex key> <vid text>"
 * ("-" for an empty bucket/key/vid: the pass starts at the beginning).
 */
#include "bg/rebalance.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bg/vpin.h"
#include "core/clock.h"
#include "core/digest.h"
#include "core/err.h"
#include "core/log.h"
#include "core/thread.h"
#include "data/data.h"
#include "meta/meta.h"

enum pass_end { PASS_DONE, PASS_ABORTED };

#define RETRY_NS (10 * 1000000000LL)

struct rebalance {
	struct meta_store *meta;
	struct data_store *data;
	struct rebalance_hooks h;
	struct rebalance_options opt;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int quit;
	int paused;	     /* operator: pause */
	int stopped;	     /* operator: stop (until start or a new epoch) */
	uint64_t stopped_at; /* the epoch it was stopped at */
	int want_start;	     /* operator: start */
	int ctl_seen;	     /* the replicated control was read once */
	uint64_t ctl_start;  /* its start count when last read */
	int64_t retry_at;    /* monotonic: run again (a pass left blobs); 0: no */
	struct rebalance_progress p;

	/* the pass's cursor: the last version fully handled ("" = none) */
	char bucket[META_BUCKET_MAX + 1];
	char key[META_KEY_MAX];
	size_t key_len;
	char vid[META_ID_TEXT];
	int64_t pass_start_ns, last_save_ns, last_epoch_check_ns;
	uint64_t pass_bytes;
};

const char *rebalance_state_name(enum rebalance_state s)
{
	switch (s) {
	case REBALANCE_STANDBY: return "standby";
	case REBALANCE_IDLE: return "idle";
	case REBALANCE_RUNNING: return "running";
	case REBALANCE_PAUSED: return "paused";
	case REBALANCE_STOPPED: return "stopped";
	}
	return "?";
}

/* ---- cursor file ---- */

static void cursor_save(struct rebalance *r)
{
	char tmp[4096], line[2 * META_KEY_MAX + META_BUCKET_MAX + 128], *p;
	int fd, n;

	if (!r->opt.cursor_path)
		return;
	n = snprintf(line, sizeof(line), "%" PRIu64 " %" PRIu64 " %s ", r->p.balanced_epoch,
		     r->p.epoch, r->bucket[0] ? r->bucket : "-");
	p = line + n;
	if (r->key_len) {
		cn_hex((const uint8_t *)r->key, r->key_len, p);
		p += 2 * r->key_len;
	} else {
		*p++ = '-';
	}
	n = (int)(p - line);
	n += snprintf(p, sizeof(line) - (size_t)n, " %s\n", r->vid[0] ? r->vid : "-");
	snprintf(tmp, sizeof(tmp), "%s.tmp", r->opt.cursor_path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (write(fd, line, (size_t)n) == n && fsync(fd) == 0) {
		close(fd);
		if (rename(tmp, r->opt.cursor_path) != 0)
			unlink(tmp);
		return;
	}
	close(fd);
	unlink(tmp);
}

/* Loads the balanced epoch, and the cursor if its pass was for `epoch`. */
static void cursor_load(struct rebalance *r)
{
	char line[2 * META_KEY_MAX + META_BUCKET_MAX + 128], b[META_BUCKET_MAX + 2],
		k[2 * META_KEY_MAX + 2], v[META_ID_TEXT + 2];
	unsigned long long be, pe;
	FILE *f;

	if (!r->opt.cursor_path || !(f = fopen(r->opt.cursor_path, "r")))
		return;
	if (fgets(line, sizeof(line), f) &&
	    sscanf(line, "%llu %llu %64s %2048s %34s", &be, &pe, b, k, v) == 5) {
		size_t kl = strcmp(k, "-") ? strlen(k) / 2 : 0;
		int ok = strlen(b) <= META_BUCKET_MAX && strlen(v) < META_ID_TEXT;
		for (size_t i = 0; ok && i < kl; i++) {
			int hi = cn_hexval(k[2 * i]), lo = cn_hexval(k[2 * i + 1]);
			ok = hi >= 0 && lo >= 0;
			r->key[i] = (char)(hi << 4 | (lo & 15));
		}
		if (ok) {
			r->p.balanced_epoch = be;
			r->p.epoch = pe;
			size_t bl = strcmp(b, "-") ? strlen(b) : 0,
			       vl = strcmp(v, "-") ? strlen(v) : 0;
			memcpy(r->bucket, b, bl); /* lengths checked above */
			r->bucket[bl] = 0;
			r->key_len = kl;
			memcpy(r->vid, v, vl);
			r->vid[vl] = 0;
		}
	}
	fclose(f);
}

static void cursor_reset(struct rebalance *r)
{
	r->bucket[0] = 0;
	r->key_len = 0;
	r->vid[0] = 0;
}

/* ---- operator control: a replicated setting, so every node (and the
 * next leader, and this one after a restart) agrees on it ---- */

#define CTL_SETTING "rebalance"

struct ctl {
	int paused;
	uint64_t stopped_at; /* the map epoch it was stopped at; 0: not stopped */
	uint64_t start;	     /* counts `start` commands */
};

static int ctl_read(struct rebalance *r, struct ctl *c)
{
	char v[META_SETTING_MAX + 1];
	unsigned long long at, st;
	int p, rc = meta_setting_get(r->meta, CTL_SETTING, v, sizeof(v));

	memset(c, 0, sizeof(*c));
	if (rc == CN_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (sscanf(v, "paused=%d stopped_at=%llu start=%llu", &p, &at, &st) != 3)
		return CN_ECORRUPT;
	c->paused = p != 0;
	c->stopped_at = at;
	c->start = st;
	return 0;
}

static int ctl_write(struct rebalance *r, const struct ctl *c)
{
	char v[96];
	struct meta_cmd cmd;

	memset(&cmd, 0, sizeof(cmd));
	snprintf(v, sizeof(v), "paused=%d stopped_at=%llu start=%llu", c->paused,
		 (unsigned long long)c->stopped_at, (unsigned long long)c->start);
	cmd.type = META_CMD_SETTING;
	cmd.now = cn_now_ns();
	cmd.key = CTL_SETTING;
	cmd.key_len = strlen(CTL_SETTING);
	cmd.attrs = v;
	cmd.attrs_len = strlen(v);
	return meta_submit_sync(r->meta, &cmd);
}

/* Takes the replicated control into r (under r->mu): a stop holds until
 * the map moves on; a new start count asks for a pass. */
static void ctl_take(struct rebalance *r, const struct ctl *c, uint64_t epoch)
{
	r->paused = c->paused;
	r->stopped = c->stopped_at && c->stopped_at == epoch;
	r->stopped_at = c->stopped_at;
	if (r->ctl_seen && c->start != r->ctl_start)
		r->want_start = 1;
	r->ctl_seen = 1;
	r->ctl_start = c->start;
}

/* ---- one blob ---- */

/* Should the pass go on? Checked between blobs. */
static int keep_going(struct rebalance *r, uint64_t epoch)
{
	int go;
	int64_t now = cn_mono_ns();

	pthread_mutex_lock(&r->mu);
	go = !r->quit && !r->paused && !r->stopped;
	pthread_mutex_unlock(&r->mu);
	if (go && now - r->last_epoch_check_ns > 500 * 1000000LL) {
		uint64_t e;
		struct ctl c;
		r->last_epoch_check_ns = now;
		go = r->h.active(r->h.ctx) && meta_map_epoch(r->meta, &e) == 0 && e == epoch;
		if (go && ctl_read(r, &c) == 0) {
			pthread_mutex_lock(&r->mu);
			ctl_take(r, &c, epoch);
			go = !r->paused && !r->stopped;
			pthread_mutex_unlock(&r->mu);
		}
	}
	return go;
}

static void count(struct rebalance *r, uint64_t *field, uint64_t n)
{
	pthread_mutex_lock(&r->mu);
	*field += n;
	pthread_mutex_unlock(&r->mu);
}

static int submit_intent(struct rebalance *r, int type, const uint8_t id[16], const uint8_t *lay,
			 size_t len)
{
	struct meta_cmd c;

	memset(&c, 0, sizeof(c));
	c.type = (uint8_t)type;
	c.now = cn_now_ns();
	memcpy(c.blob_id, id, META_ID_LEN);
	c.layout = lay;
	c.layout_len = len;
	return meta_submit_sync(r->meta, &c);
}

static void throttle(struct rebalance *r)
{
	int64_t want = (int64_t)((double)r->pass_bytes / (double)r->opt.bytes_per_sec * 1e9);
	int64_t el = cn_mono_ns() - r->pass_start_ns;

	if (want > el) {
		int64_t d = want - el > 1000000000LL ? 1000000000LL : want - el;
		struct timespec ts = {.tv_sec = d / 1000000000LL, .tv_nsec = d % 1000000000LL};
		nanosleep(&ts, NULL);
	}
}

/* The blob of layout enc: of version vid of bucket/key (part part_no of it,
 * 0 for its own blob), or, with upload set, part part_no of that open
 * upload. */
struct blob_of {
	const char *bucket, *key;
	size_t key_len;
	const uint8_t *vid;    /* a version's */
	const uint8_t *upload; /* or an open upload's */
	uint32_t part_no;
};

static void move_blob(struct rebalance *r, const struct blob_of *o, const uint8_t *enc,
		      size_t enc_len)
{
	struct blob_layout l, nl, gl, il, out;
	uint8_t target[DATA_MAX_SHARDS][16], to[DATA_MAX_SHARDS][16];
	uint8_t nenc[DATA_LAYOUT_MAX], genc[DATA_LAYOUT_MAX], ienc[DATA_LAYOUT_MAX];
	static const uint8_t zero[16];
	unsigned mask = 0;
	uint64_t epoch;
	int n, rc, nlen, glen, ilen, fresh = 0;

	if (blob_layout_decode(enc, enc_len, &l) != 0)
		return;
	count(r, &r->p.blobs_checked, 1);
	n = l.k + l.m;
	if (r->h.target(r->h.ctx, l.id, l.k, l.m, target, &epoch) != 0) {
		count(r, &r->p.unplaced, 1);
		return;
	}
	/* as sets: a drive still chosen keeps its shard; each shard on a drive
	 * no longer chosen goes to a chosen drive the blob does not use yet */
	for (int i = 0; i < n; i++) {
		int kept = 0;
		for (int j = 0; j < n; j++)
			kept |= memcmp(l.drive[i], target[j], 16) == 0;
		if (kept)
			continue;
		for (; fresh < n; fresh++) {
			int used = 0;
			for (int j = 0; j < n; j++)
				used |= memcmp(target[fresh], l.drive[j], 16) == 0;
			if (!used)
				break;
		}
		if (fresh == n)
			return; /* cannot happen with n distinct targets */
		memcpy(to[i], target[fresh++], 16);
		mask |= 1u << i;
	}
	if (!mask)
		return;
	nl = gl = il = l;
	for (int i = 0; i < n; i++) {
		if (mask & (1u << i)) {
			memcpy(nl.drive[i], to[i], 16);
			memcpy(il.drive[i], to[i], 16);
		} else {
			memcpy(gl.drive[i], zero, 16); /* only moved shards are garbage */
			memcpy(il.drive[i], zero, 16);
		}
	}
	nlen = blob_layout_encode(&nl, nenc, sizeof(nenc));
	glen = blob_layout_encode(&gl, genc, sizeof(genc));
	ilen = blob_layout_encode(&il, ienc, sizeof(ienc));
	if (nlen < 0 || glen < 0 || ilen < 0)
		return;
	if (data_pin(r->data, l.id) != 0)
		return;
	/* the new copies are covered before the first byte is written */
	rc = submit_intent(r, META_CMD_INTENT_ADD, l.id, ienc, (size_t)ilen);
	if (rc) {
		count(r, &r->p.failed, 1);
		goto out;
	}
	rc = blob_move_shards(r->data, &l, (const uint8_t(*)[16])to, mask, &out);
	if (rc == 0) {
		struct meta_cmd c;
		memset(&c, 0, sizeof(c));
		c.type = META_CMD_BLOB_MOVE;
		c.now = cn_now_ns();
		c.bucket = o->bucket;
		c.bucket_len = strlen(o->bucket);
		c.key = o->key;
		c.key_len = o->key_len;
		if (o->upload) {
			memcpy(c.upload_id, o->upload, META_ID_LEN);
		} else {
			c.has_target = 1;
			memcpy(c.target_vid, o->vid, META_ID_LEN);
		}
		c.part_no = o->part_no;
		memcpy(c.blob_id, l.id, META_ID_LEN);
		c.layout = nenc;
		c.layout_len = (size_t)nlen;
		c.layout_old = enc;
		c.layout_old_len = enc_len;
		c.layout_gc = genc;
		c.layout_gc_len = (size_t)glen;
		c.heal_mask = (uint16_t)mask; /* rewritten: not missing any more */
		rc = meta_submit_sync(r->meta, &c);
	}
	if (rc == 0) {
		uint64_t bytes = (uint64_t)__builtin_popcount(mask) * blob_shard_bytes(&l);
		pthread_mutex_lock(&r->mu);
		r->p.blobs_moved++;
		r->p.shards_moved += (uint64_t)__builtin_popcount(mask);
		r->p.bytes_moved += bytes;
		pthread_mutex_unlock(&r->mu);
		r->pass_bytes += bytes;
	} else {
		count(r, rc == CN_EPRECOND || rc == CN_EABANDONED ? &r->p.conflicts : &r->p.failed,
		      1);
		if (rc != CN_EPRECOND && rc != CN_EABANDONED)
			log_warn(
				"rebalance: moving shards of a blob failed: %s (retried next pass)",
				cn_strerror(rc));
		/* whatever was written of the new copies goes to GC */
		submit_intent(r, META_CMD_INTENT_DROP, l.id, NULL, 0);
	}
out:
	data_unpin(r->data, l.id);
	throttle(r);
}

static void do_version(struct rebalance *r, const char *bucket, const struct meta_entry *e)
{
	struct meta_version v;

	if (e->flags & META_VF_DELETE_MARKER)
		return;
	if (meta_object_get(r->meta, bucket, e->key, e->key_len, e->vid_text, 0, &v) != 0)
		return; /* gone meanwhile */
	if (version_pin(r->data, &v) == 0) {
		struct blob_of o = {bucket, v.key, v.key_len, v.vid, NULL, 0};
		if (v.loc == META_LOC_BLOB)
			move_blob(r, &o, v.layout, v.layout_len);
		for (uint32_t i = 0; v.loc == META_LOC_PARTS && i < v.n_parts; i++) {
			o.part_no = v.parts[i].part_no;
			move_blob(r, &o, v.parts[i].layout, v.parts[i].layout_len);
		}
		version_unpin(r->data, &v);
	}
	meta_version_release(&v);
}

/* ---- a pass ---- */

static uint64_t versions_total(struct rebalance *r, struct meta_bucket *bk, size_t nb)
{
	uint64_t n = 0;
	for (size_t b = 0; b < nb; b++) {
		struct meta_stats st;
		if (meta_stats_get(r->meta, bk[b].name, &st) == 0)
			n += st.versions;
	}
	return n;
}

static void update_rate(struct rebalance *r)
{
	double el = (double)(cn_mono_ns() - r->pass_start_ns) / 1e9;

	pthread_mutex_lock(&r->mu);
	r->p.bytes_per_sec = el > 0 ? (uint64_t)((double)r->pass_bytes / el) : 0;
	if (r->p.versions_done && r->p.versions_total > r->p.versions_done && el > 0)
		r->p.eta_s = (int64_t)(el * (double)(r->p.versions_total - r->p.versions_done) /
				       (double)r->p.versions_done);
	else
		r->p.eta_s = r->p.versions_total <= r->p.versions_done ? 0 : -1;
	pthread_mutex_unlock(&r->mu);
}

/* The parts of a bucket's open uploads: their blobs are no version's yet,
 * and left out they would keep shards on a removed node after the upload
 * completes (a pass runs once per map epoch). Not in the cursor: a
 * resumed pass walks them again (a part already in place moves nothing). */
struct upass {
	struct rebalance *r;
	uint64_t epoch;
};

static int upload_part_move(void *arg, const char *bucket, const struct meta_entry *e,
			    const struct meta_part *pt)
{
	struct upass *u = arg;
	struct blob_of o = {bucket, e->key, e->key_len, NULL, e->vid, pt->part_no};

	if (!keep_going(u->r, u->epoch))
		return 1;
	move_blob(u->r, &o, pt->layout, pt->layout_len);
	return 0;
}

static enum pass_end do_uploads(struct rebalance *r, uint64_t epoch, const char *bucket)
{
	struct upass u = {r, epoch};
	return meta_upload_parts_each(r->meta, bucket, upload_part_move, &u) ? PASS_ABORTED
									     : PASS_DONE;
}

static enum pass_end run_pass(struct rebalance *r, uint64_t epoch)
{
	struct meta_bucket *bk;
	size_t nb;
	enum pass_end end = PASS_DONE;

	if (meta_bucket_list(r->meta, &bk, &nb) != 0)
		return PASS_ABORTED;
	pthread_mutex_lock(&r->mu);
	r->p.versions_total = versions_total(r, bk, nb);
	pthread_mutex_unlock(&r->mu);
	for (size_t b = 0; b < nb && end == PASS_DONE; b++) {
		char key_marker[META_KEY_MAX + 1];
		size_t km_len = 0;
		char id_marker[META_ID_TEXT] = "";
		if (r->bucket[0] && strcmp(bk[b].name, r->bucket) < 0)
			continue; /* done before the restart */
		if (r->bucket[0] && strcmp(bk[b].name, r->bucket) == 0 && r->key_len) {
			memcpy(key_marker, r->key, r->key_len);
			km_len = r->key_len;
			snprintf(id_marker, sizeof(id_marker), "%s", r->vid);
		}
		for (;;) {
			struct meta_list_params lp =
				meta_page_params(key_marker, km_len, id_marker, 256);
			struct meta_list_result res;
			if (meta_list_versions(r->meta, bk[b].name, &lp, &res) != 0) {
				end = PASS_ABORTED;
				break;
			}
			for (size_t i = 0; i < res.n; i++) {
				if (!keep_going(r, epoch)) {
					end = PASS_ABORTED;
					break;
				}
				do_version(r, bk[b].name, &res.entries[i]);
				snprintf(r->bucket, sizeof(r->bucket), "%s", bk[b].name);
				memcpy(r->key, res.entries[i].key, res.entries[i].key_len);
				r->key_len = res.entries[i].key_len;
				snprintf(r->vid, sizeof(r->vid), "%s", res.entries[i].vid_text);
				count(r, &r->p.versions_done, 1);
				if (cn_mono_ns() - r->last_save_ns > 1000000000LL) {
					r->last_save_ns = cn_mono_ns();
					cursor_save(r);
					update_rate(r);
				}
			}
			int more = end == PASS_DONE &&
				   meta_next_page(&res, key_marker, &km_len, id_marker);
			meta_list_result_release(&res);
			if (!more)
				break;
		}
	}
	/* then every bucket's open uploads (a resumed pass too) */
	for (size_t b = 0; b < nb && end == PASS_DONE; b++)
		end = do_uploads(r, epoch, bk[b].name);
	meta_bucket_list_release(bk, nb);
	update_rate(r);
	return end;
}

/* ---- before a removal: what it would strand ---- */

struct shrink {
	const uint8_t (*drives)[16];
	size_t n_drives;
	unsigned nodes_left;
	int *found;
	struct rebalance_stranded *out;
};

/* 1 when the blob of layout enc is stranded (and *out is filled). */
static int stranded(struct shrink *sh, const uint8_t *enc, size_t len, const char *bucket,
		    const char *key, size_t key_len, const char *vid, int upload)
{
	struct blob_layout l;
	int on = 0;

	if (blob_layout_decode(enc, len, &l) != 0 || (unsigned)(l.k + l.m) <= sh->nodes_left)
		return 0;
	for (int i = 0; i < l.k + l.m && !on; i++)
		for (size_t d = 0; d < sh->n_drives && !on; d++)
			on = memcmp(l.drive[i], sh->drives[d], 16) == 0;
	if (!on)
		return 0;
	*sh->found = 1;
	snprintf(sh->out->bucket, sizeof(sh->out->bucket), "%s", bucket);
	if (key_len > META_KEY_MAX)
		key_len = META_KEY_MAX;
	memcpy(sh->out->key, key, key_len);
	sh->out->key[key_len] = 0;
	snprintf(sh->out->vid, sizeof(sh->out->vid), "%s", vid);
	sh->out->upload = upload;
	sh->out->k = l.k;
	sh->out->m = l.m;
	return 1;
}

static int shrink_versions(struct meta_store *m, struct shrink *sh, const char *bucket)
{
	char key_marker[META_KEY_MAX + 1], id_marker[META_ID_TEXT] = "";
	size_t km_len = 0;

	for (;;) {
		struct meta_list_params lp = meta_page_params(key_marker, km_len, id_marker, 1000);
		struct meta_list_result res;
		if (meta_list_versions(m, bucket, &lp, &res) != 0)
			return 0; /* deleted meanwhile */
		for (size_t i = 0; i < res.n && !*sh->found; i++) {
			const struct meta_entry *e = &res.entries[i];
			struct meta_version v;
			if (e->flags & META_VF_DELETE_MARKER ||
			    meta_object_get(m, bucket, e->key, e->key_len, e->vid_text, 0, &v) != 0)
				continue;
			if (v.loc == META_LOC_BLOB)
				stranded(sh, v.layout, v.layout_len, bucket, e->key, e->key_len,
					 e->vid_text, 0);
			for (uint32_t p = 0;
			     v.loc == META_LOC_PARTS && p < v.n_parts && !*sh->found; p++)
				stranded(sh, v.parts[p].layout, v.parts[p].layout_len, bucket,
					 e->key, e->key_len, e->vid_text, 0);
			meta_version_release(&v);
		}
		int more = !*sh->found && meta_next_page(&res, key_marker, &km_len, id_marker);
		meta_list_result_release(&res);
		if (!more)
			return 0;
	}
}

static int shrink_part(void *arg, const char *bucket, const struct meta_entry *e,
		       const struct meta_part *pt)
{
	return stranded(arg, pt->layout, pt->layout_len, bucket, e->key, e->key_len, e->vid_text,
			1);
}

/* A write in flight: its blob commits later, where the walk above is past */
static int shrink_intent(const uint8_t *blob_id, int64_t created, const uint8_t *layout,
			 size_t layout_len, void *arg)
{
	struct shrink *sh = arg;
	char id[META_ID_TEXT];

	meta_id_to_text(blob_id, id);
	if (!stranded(sh, layout, layout_len, "", "", 0, id, 2))
		return 0;
	sh->out->created = created;
	return 1;
}

int rebalance_shrink_check(struct meta_store *m, const uint8_t (*drives)[16], size_t n_drives,
			   unsigned nodes_left, int *found, struct rebalance_stranded *out)
{
	struct shrink sh = {drives, n_drives, nodes_left, found, out};
	struct meta_bucket *bk;
	size_t nb;
	int rc;

	*found = 0;
	if (!n_drives)
		return 0; /* no drives registered: no shards */
	rc = meta_bucket_list(m, &bk, &nb);
	if (rc)
		return rc;
	for (size_t b = 0; b < nb && !*found && !rc; b++) {
		rc = shrink_versions(m, &sh, bk[b].name);
		if (!rc && !*found)
			meta_upload_parts_each(m, bk[b].name, shrink_part, &sh);
	}
	meta_bucket_list_release(bk, nb);
	if (!rc && !*found)
		rc = meta_intent_each(m, shrink_intent, &sh);
	return rc;
}

static void *rebalance_main(void *arg)
{
	struct rebalance *r = arg;

	cn_thread_name("rebalance");
	pthread_mutex_lock(&r->mu);
	while (!r->quit) {
		uint64_t epoch = 0;
		int start, run;

		pthread_mutex_unlock(&r->mu);
		int active = r->h.active(r->h.ctx);
		int have_epoch = meta_map_epoch(r->meta, &epoch) == 0 && epoch > 0;
		struct ctl ctl;
		int have_ctl = ctl_read(r, &ctl) == 0;
		pthread_mutex_lock(&r->mu);
		if (have_ctl)
			ctl_take(r, &ctl, epoch);
		else if (r->stopped && epoch != r->stopped_at)
			r->stopped = 0; /* the map moved on: balance for it */
		start = r->want_start;
		r->want_start = 0;
		if (start) {
			r->stopped = 0;
			r->paused = 0;
		}
		run = active && have_epoch && !r->paused && !r->stopped &&
		      (start || epoch != r->p.balanced_epoch);
		r->p.state = !active	  ? REBALANCE_STANDBY
			     : r->paused  ? REBALANCE_PAUSED
			     : r->stopped ? REBALANCE_STOPPED
			     : run	  ? REBALANCE_RUNNING
					  : REBALANCE_IDLE;
		if (run) {
			if (r->p.epoch != epoch || start) {
				/* a new pass (a resumed one keeps its cursor) */
				cursor_reset(r);
				r->p.versions_done = r->p.blobs_checked = r->p.blobs_moved = 0;
				r->p.shards_moved = r->p.bytes_moved = r->p.conflicts = 0;
				r->p.failed = r->p.unplaced = 0;
			}
			r->p.epoch = epoch;
			pthread_mutex_unlock(&r->mu);
			r->pass_start_ns = cn_mono_ns();
			r->pass_bytes = 0;
			r->last_epoch_check_ns = 0;
			log_info("rebalance: pass for map epoch %" PRIu64 " started", epoch);
			enum pass_end end = run_pass(r, epoch);
			pthread_mutex_lock(&r->mu);
			if (end == PASS_DONE) {
				r->p.balanced_epoch = epoch;
				r->p.passes++;
				r->p.state = REBALANCE_IDLE;
				cursor_reset(r);
				log_info("rebalance: map epoch %" PRIu64 " balanced: %" PRIu64
					 " blob(s) moved, %" PRIu64 " shard(s), %" PRIu64
					 " bytes, %" PRIu64 " failed",
					 epoch, r->p.blobs_moved, r->p.shards_moved,
					 r->p.bytes_moved, r->p.failed);
				if (r->p.unplaced)
					log_warn("rebalance: map epoch %" PRIu64 ": %" PRIu64
						 " blob(s) wider than the cluster stay where they "
						 "are; a removed node holding their shards must "
						 "keep running, or they are lost",
						 epoch, r->p.unplaced);
			}
			if (r->stopped)
				cursor_reset(r); /* a stopped pass is not resumed */
			if (end == PASS_DONE && (r->p.failed || r->p.conflicts))
				r->retry_at = cn_mono_ns() + RETRY_NS;
			pthread_mutex_unlock(&r->mu);
			cursor_save(r);
			pthread_mutex_lock(&r->mu);
		}
		if (r->quit)
			break;
		cn_cond_wait_until(&r->cv, &r->mu, cn_mono_ns() + 1000000000LL);
		/* a pass that left blobs (failed moves, or blobs that changed
		 * under a move: their new layout is looked at again) runs
		 * again a little later, until nothing is left */
		if (r->retry_at && cn_mono_ns() >= r->retry_at) {
			r->retry_at = 0;
			if (r->p.balanced_epoch == epoch && !r->paused && !r->stopped)
				r->want_start = 1;
		}
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

int rebalance_start(struct meta_store *m, struct data_store *d, const struct rebalance_hooks *h,
		    const struct rebalance_options *opt, struct rebalance **out)
{
	struct rebalance *r = calloc(1, sizeof(*r));

	if (!r)
		return CN_ENOMEM;
	r->meta = m;
	r->data = d;
	r->h = *h;
	if (opt)
		r->opt = *opt;
	if (!r->opt.bytes_per_sec)
		r->opt.bytes_per_sec = 128ULL << 20;
	r->p.eta_s = -1;
	cursor_load(r);
	pthread_mutex_init(&r->mu, NULL);
	if (cn_cond_init_mono(&r->cv) != 0) {
		pthread_mutex_destroy(&r->mu);
		free(r);
		return CN_ENOMEM;
	}
	if (pthread_create(&r->thread, NULL, rebalance_main, r) != 0) {
		pthread_mutex_destroy(&r->mu);
		pthread_cond_destroy(&r->cv);
		free(r);
		return CN_EINTERNAL;
	}
	*out = r;
	return 0;
}

int rebalance_control(struct rebalance *r, enum rebalance_op op)
{
	struct meta_cmd barrier = {.type = META_CMD_BARRIER};
	struct ctl c;
	uint64_t epoch = 0;
	/* read the control as the cluster has it now, not as this node last
	 * applied it (a start sent through another node a moment ago) */
	int rc = meta_submit_sync(r->meta, &barrier);

	if (!rc)
		rc = ctl_read(r, &c);
	if (!rc)
		rc = meta_map_epoch(r->meta, &epoch);
	if (rc)
		return rc;
	switch (op) {
	case REBALANCE_PAUSE:
		if (c.stopped_at && c.stopped_at == epoch)
			return CN_EINVAL;
		c.paused = 1;
		break;
	case REBALANCE_RESUME:
		if (!c.paused)
			return CN_EINVAL;
		c.paused = 0;
		break;
	case REBALANCE_STOP:
		c.stopped_at = epoch ? epoch : 1;
		c.paused = 0;
		break;
	case REBALANCE_START:
		c.start++;
		c.paused = 0;
		c.stopped_at = 0;
		break;
	}
	rc = ctl_write(r, &c);
	if (rc)
		return rc;
	/* this node's thread looks at once (the leader's, if this is it) */
	pthread_mutex_lock(&r->mu);
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return 0;
}

void rebalance_progress(struct rebalance *r, struct rebalance_progress *out)
{
	pthread_mutex_lock(&r->mu);
	*out = r->p;
	pthread_mutex_unlock(&r->mu);
}

void rebalance_stop(struct rebalance *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	r->quit = 1;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->thread, NULL);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r);
}
