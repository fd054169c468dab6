/*
 * meta/repl.c — the store as a replicated state machine (cluster mode): the
 * FSM side of DESIGN §6. The cluster's Raft thread applies committed log
 * entries here, in batches: one LMDB write transaction holds every entry
 * applied in a loop turn (or in several: raft.c commit_now) and commits
 * once, recording the index of the last one, so replaying the log after a
 * crash skips what the store already has.
 *
 *   meta_repl_apply (opens repl_txn) ... meta_repl_apply
 *   -> meta_repl_commit: "applied" = repl_index, commit, publish
 *
 * system db: key "applied" -> u64 LE, the last log index whose command is
 * in the store (absent: 0). Written in the same transaction as the entries.
 * Key "entry_batches" -> "1" once a batch entry was applied (absent: never):
 * every node that applies the log from then on must read them.
 *
 * Invariant: the same entries applied in the same order give the same store
 * on every node. So a failure that is not the command's own result (a
 * storage error, no memory, a corrupt record) stops the node: carrying on
 * would make its store differ from the others'.
 */
#include <stdatomic.h>
#include <string.h>
#include <xxhash.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "meta/meta_int.h"

static const char applied_key[] = "applied";
static const char batches_key[] = "entry_batches";

/* Results every node computes alike (preconditions, client errors)
 * versus failures of this node. */
static int is_node_failure(int rc)
{
	switch (rc) {
	case CN_ENOMEM:
	case CN_EIO:
	case CN_ECORRUPT:
	case CN_EFORMAT:
	case CN_ENOSPACE:
	case CN_EINTERNAL:
	case CN_EAGAIN: return 1;
	default: return rc < 0 && rc > CN_ERR_BASE; /* -errno */
	}
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* The system records this file keeps, from one read transaction. */
int repl_load(struct meta_store *s)
{
	struct kv_txn t;
	const uint8_t *v;
	size_t vlen;
	uint64_t a = 0;
	int rc = kv_txn_begin(s->env, NULL, 1, &t);

	if (rc)
		return rc;
	rc = kv_get(&t, KV_SYSTEM, applied_key, sizeof(applied_key) - 1, &v, &vlen);
	if (rc == 0 && vlen != 8)
		rc = CN_ECORRUPT;
	if (rc == 0)
		a = get_u64(v);
	if (rc == 0 || rc == CN_ENOTFOUND)
		rc = kv_get(&t, KV_SYSTEM, batches_key, sizeof(batches_key) - 1, &v, &vlen);
	s->repl_batches = rc == 0;
	if (rc == CN_ENOTFOUND)
		rc = 0;
	kv_txn_abort(&t);
	if (rc)
		return rc;
	atomic_store(&s->repl_applied, a);
	s->repl_index = a;
	return 0;
}

void meta_set_proposer(struct meta_store *s, const struct meta_proposer *p)
{
	s->proposer = *p;
}

uint64_t meta_repl_applied(struct meta_store *s)
{
	return atomic_load(&s->repl_applied);
}

uint64_t meta_key_hash(const char *bucket, size_t bucket_len, const char *key, size_t key_len)
{
	return XXH3_64bits_withSeed(key, key_len, XXH3_64bits(bucket, bucket_len));
}

/* Sets what the command about to be applied changes (meta_repl_touched).
 * An unknown command type counts as changing more than one key. */
static void touch_of(struct meta_store *s, const struct meta_cmd *c)
{
	switch (c->type) {
	case META_CMD_PUT_VERSION:
	case META_CMD_DELETE_OBJECT:
	case META_CMD_VERSION_ATTRS:
	case META_CMD_VERSION_LOCK:
		s->repl_touch = META_TOUCH_KEY;
		s->repl_touch_hash = meta_key_hash(c->bucket, c->bucket_len, c->key, c->key_len);
		break;
	case META_CMD_INTENT_ADD:
	case META_CMD_INTENT_DROP:
	case META_CMD_BARRIER: s->repl_touch = META_TOUCH_NONE; break;
	default: s->repl_touch = META_TOUCH_MORE; break;
	}
}

int meta_repl_touched(struct meta_store *s, uint64_t *hash)
{
	*hash = s->repl_touch == META_TOUCH_KEY ? s->repl_touch_hash : 0;
	return s->repl_touch;
}

static int repl_txn_open(struct meta_store *s)
{
	int rc;

	if (s->repl_open)
		return 0;
	rc = kv_txn_begin(s->env, NULL, 0, &s->repl_txn);
	if (!rc)
		s->repl_open = 1;
	return rc;
}

int meta_repl_apply(struct meta_store *s, uint64_t index, const void *buf, size_t len, int *result,
		    struct meta_cmd_result *res)
{
	return meta_repl_apply_part(s, index, 1, buf, len, result, res);
}

int meta_repl_apply_part(struct meta_store *s, uint64_t index, int last, const void *buf,
			 size_t len, int *result, struct meta_cmd_result *res)
{
	struct meta_cmd_result scratch_res;
	struct meta_cmd dec;
	unsigned long w0;
	int rc;

	*result = 0;
	s->repl_touch = META_TOUCH_NONE;
	if (index <= s->repl_index) {
		*result = META_REPL_REPLAYED; /* already in the store */
		return 0;
	}
	rc = repl_txn_open(s);
	if (rc)
		return rc;
	rc = meta_cmd_decode(buf, len, &dec);
	if (rc) {
		/* Every node logged the same bytes: this one reads them wrong. */
		log_error("meta: log entry %llu does not decode: %s", (unsigned long long)index,
			  cn_strerror(rc));
		return CN_ECORRUPT;
	}
	if (dec.vid[0] || dec.vid[1])
		meta_id_observe(s, dec.vid);
	touch_of(s, &dec);
	w0 = s->repl_txn.writes;
	rc = meta_apply(&s->repl_txn, &dec, res ? res : &scratch_res, &s->repl_scratch,
			META_APPLY_REPLICATED, s->opt.layout_drives);
	meta_cmd_release(&dec);
	if (rc && (is_node_failure(rc) || s->repl_txn.writes != w0)) {
		log_error("meta: applying log entry %llu failed on this node: %s",
			  (unsigned long long)index, cn_strerror(rc));
		return rc ? rc : CN_EINTERNAL;
	}
	*result = rc;
	/* (a batch entry's earlier commands leave repl_index below index: its
	 * later ones are not taken for a replay, and a commit never falls
	 * inside an entry, since fsm_apply returns only after its last) */
	if (last)
		s->repl_index = index;
	return 0;
}

int meta_repl_batches(struct meta_store *s)
{
	return s->repl_batches;
}

int meta_repl_note_batch(struct meta_store *s)
{
	int rc;

	if (s->repl_batches)
		return 0;
	rc = repl_txn_open(s);
	if (rc)
		return rc;
	rc = kv_put(&s->repl_txn, KV_SYSTEM, batches_key, sizeof(batches_key) - 1, "1", 1);
	/* (a failed commit stops the node: no need to wait for it) */
	if (!rc)
		s->repl_batches = 1;
	return rc;
}

int meta_repl_commit(struct meta_store *s)
{
	uint8_t v[8];
	int rc;

	if (!s->repl_open)
		return 0;
	for (int i = 0; i < 8; i++)
		v[i] = (uint8_t)(s->repl_index >> (8 * i));
	/* The ballast goes before a commit that might not fit, not after one
	 * that failed: the batch's entries are gone from here by then (Raft
	 * counts them applied), and the node would have to stop. Half at a
	 * time (ballast_release_half says why): the second half once the
	 * first's room is half gone too. */
	if (s->ballast_held) {
		int held = s->ballast_held;
		uint64_t room = ballast_room(s);
		if (room < (held == 2 ? META_BALLAST / 2 : META_BALLAST / 4))
			ballast_release_half(s);
	}
	rc = kv_put(&s->repl_txn, KV_SYSTEM, applied_key, sizeof(applied_key) - 1, v, 8);
	if (rc == 0)
		rc = kv_txn_commit(&s->repl_txn);
	else
		kv_txn_abort(&s->repl_txn);
	s->repl_open = 0;
	if (rc) {
		log_error("meta: commit of applied entries up to %llu failed: %s",
			  (unsigned long long)s->repl_index, cn_strerror(rc));
		return rc;
	}
	atomic_store(&s->repl_applied, s->repl_index);
	if (s->ballast_path && s->ballast_held < 2 &&
	    cn_mono_ns() - s->ballast_checked > 10 * 1000000000LL) {
		s->ballast_checked = cn_mono_ns();
		ballast_make(s);
	}
	return 0;
}

size_t meta_repl_open(struct meta_store *s)
{
	return s->repl_open ? 1 + (size_t)s->repl_txn.writes : 0;
}

int meta_repl_sync(struct meta_store *s)
{
	return kv_env_sync(s->env);
}

int meta_repl_copy_fd(struct meta_store *s, int fd)
{
	return kv_env_copy_fd(s->env, fd);
}

int meta_repl_replace(struct meta_store *s, const char *dir)
{
	int rc;

	if (s->repl_open)
		return CN_EINVAL;
	rc = kv_env_replace(s->env, dir);
	if (rc)
		return rc;
	return repl_load(s);
}
