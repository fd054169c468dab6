/*
 * Unit tests for a leader's write tickets (cluster/ticket.h) and what they
 * are built on, meta_repl_touched:
 * - each applied command reports what it changed: one object key (with
 *   its hash), nothing, or more; a replay changes nothing;
 * - a write's ticket goes ahead while the store's open batch holds only
 *   other keys' writes, and waits when it holds the write's own key,
 *   anything but object keys, or the published commit index is not all
 *   applied; the store's commit (tickets_visible) clears what it held;
 * - a read's ticket always needs the store to show the commit index, and
 *   only reads keep the store committing every turn (tickets_last_read).
 * ticket.c asks raft.c for the node's tickets and whether it follows a
 * term: this file answers both, so raft.c is not linked.
 */
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"
#include "cluster/ticket.h"
#include "core/err.h"
#include "meta/meta.h"

static struct read_tickets *the_tickets;
static int following = 1;

struct read_tickets *cluster_tickets(struct cluster *c)
{
	(void)c;
	return the_tickets;
}

int cluster_follows(struct cluster *c, uint64_t term)
{
	(void)c;
	(void)term;
	return following;
}

/* ---- meta_repl_touched ---- */

struct rs {
	char dir[64];
	struct meta_store *s;
	uint64_t index;
};

static void rs_open(struct rs *r)
{
	struct meta_options o = {.map_size = 1ull << 28, .node_id = 1, .replicated = 1};

	strcpy(r->dir, "/tmp/cairn-ticket-XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	assert_int_equal(meta_store_open(r->dir, &o, &r->s), 0);
	r->index = 0;
}

static void rs_close(struct rs *r)
{
	char cmd[128];

	meta_store_close(r->s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", r->dir);
	assert_int_equal(system(cmd), 0);
}

/* Applies c as the next entry (or as entry `at`, when not 0); returns what
 * it touched, with the hash in *hash. */
static int apply_at(struct rs *r, struct meta_cmd *c, uint64_t at, uint64_t *hash)
{
	uint8_t *enc;
	size_t len;
	int result;

	assert_int_equal(meta_cmd_encode(c, &enc, &len), 0);
	assert_int_equal(meta_repl_apply(r->s, at ? at : ++r->index, enc, len, &result, NULL), 0);
	free(enc);
	return meta_repl_touched(r->s, hash);
}

static int apply(struct rs *r, struct meta_cmd *c, uint64_t *hash)
{
	return apply_at(r, c, 0, hash);
}

static void keyed(struct meta_cmd *c, int type, const char *b, const char *k)
{
	memset(c, 0, sizeof(*c));
	c->type = (uint8_t)type;
	c->now = 1700000000000000000LL;
	c->bucket = b;
	c->bucket_len = strlen(b);
	c->key = k;
	c->key_len = k ? strlen(k) : 0;
}

static void test_touched(void **state)
{
	(void)state;
	struct rs r;
	struct meta_cmd c;
	uint64_t h;

	rs_open(&r);
	keyed(&c, META_CMD_BUCKET_CREATE, "bkt", NULL);
	assert_int_equal(apply(&r, &c, &h), META_TOUCH_MORE);

	keyed(&c, META_CMD_PUT_VERSION, "bkt", "a/key");
	memset(c.vid, 0x11, META_ID_LEN);
	c.size = 3;
	c.etag = "900150983cd24fb0d6963f7d28e17f72";
	c.etag_len = 32;
	c.loc = META_LOC_INLINE;
	c.inline_data = "abc";
	c.inline_len = 3;
	assert_int_equal(apply(&r, &c, &h), META_TOUCH_KEY);
	assert_true(h == meta_key_hash("bkt", 3, "a/key", 5));
	/* a failed precondition still counts its key (nothing is lost by
	 * waiting for it) */
	c.cond = META_COND_IF_NONE_MATCH_STAR;
	memset(c.vid, 0x12, META_ID_LEN);
	assert_int_equal(apply(&r, &c, &h), META_TOUCH_KEY);
	assert_true(h == meta_key_hash("bkt", 3, "a/key", 5));

	keyed(&c, META_CMD_DELETE_OBJECT, "bkt", "other");
	memset(c.vid, 0x13, META_ID_LEN);
	assert_int_equal(apply(&r, &c, &h), META_TOUCH_KEY);
	assert_true(h == meta_key_hash("bkt", 3, "other", 5));
	assert_true(h != meta_key_hash("bkt", 3, "a/key", 5));

	keyed(&c, META_CMD_INTENT_ADD, "", NULL);
	memset(c.blob_id, 0x22, META_ID_LEN);
	c.layout = "\x01\x02\x00layout";
	c.layout_len = 9;
	assert_int_equal(apply(&r, &c, &h), META_TOUCH_NONE);
	assert_true(h == 0);

	keyed(&c, META_CMD_BUCKET_VERSIONING, "bkt", NULL);
	c.versioning = META_VERSIONING_ENABLED;
	assert_int_equal(apply(&r, &c, &h), META_TOUCH_MORE);

	keyed(&c, META_CMD_SETTING, "", "rebalance");
	c.attrs = "paused=1";
	c.attrs_len = 8;
	assert_int_equal(apply(&r, &c, &h), META_TOUCH_MORE);

	/* a replay (at or below what the store holds) changes nothing, even a
	 * bucket's creation */
	assert_int_equal(meta_repl_commit(r.s), 0);
	keyed(&c, META_CMD_BUCKET_CREATE, "bkt", NULL);
	assert_int_equal(apply_at(&r, &c, 1, &h), META_TOUCH_NONE);
	rs_close(&r);

	/* the bucket and the key are kept apart */
	assert_true(meta_key_hash("ab", 2, "c", 1) != meta_key_hash("a", 1, "bc", 2));
	assert_true(meta_key_hash("b", 1, "k", 1) == meta_key_hash("b", 1, "k", 1));
}

/* ---- tickets ---- */

static uint64_t published;

static void publish(uint64_t commit, uint64_t applied, uint64_t visible)
{
	static const char *const voters[] = {"127.0.0.1:1", "127.0.0.1:2"};

	published = commit;
	tickets_publish(the_tickets, 7, commit, applied, visible, voters, 2, 1);
}

static void touch(const char *b, const char *k)
{
	tickets_touch(the_tickets, META_TOUCH_KEY, meta_key_hash(b, strlen(b), k, strlen(k)));
}

static int wt_reads(const char *b, const char *k, int reads_key)
{
	struct cluster_ticket t;
	int rc = cluster_write_ticket(NULL, b, k, strlen(k), reads_key, &t);

	if (rc >= 0) {
		/* the index the write's answer is confirmed against, even
		 * when it went ahead of the store */
		assert_true(t.term == 7);
		assert_true(t.index == published);
	}
	return rc;
}

/* a write that reads its own key (an If-Match delete) */
static int wt(const char *b, const char *k)
{
	return wt_reads(b, k, 1);
}

static void test_write_tickets(void **state)
{
	(void)state;
	struct cluster_ticket t;

	the_tickets = tickets_new();
	assert_non_null(the_tickets);
	following = 1;

	/* the store shows the commit index: every ticket goes ahead */
	publish(10, 10, 10);
	assert_int_equal(wt("b", "k1"), 0);
	assert_int_equal(cluster_read_ticket(NULL, &t), 0);
	assert_true(t.index == 10);

	/* entries 11 and 12 applied in the open batch: they wrote k1 and k2 */
	touch("b", "k1");
	touch("b", "k2");
	publish(12, 12, 10);
	assert_int_equal(wt("b", "k3"), 0);
	assert_int_equal(wt("other", "k1"), 0); /* the same key in another bucket */
	assert_int_equal(wt("b", "k1"), 1);
	assert_int_equal(wt("b", "k2"), 1);
	/* a write that reads nothing of its key (a PutObject) goes ahead of
	 * the open batch's write of that key */
	assert_int_equal(wt_reads("b", "k1", 0), 0);
	assert_int_equal(wt_reads("b", "k2", 0), 0);
	/* a read needs the store to show everything */
	assert_int_equal(cluster_read_ticket(NULL, &t), CN_EAGAIN);

	/* a command of any other kind in the batch: every write waits */
	tickets_touch(the_tickets, META_TOUCH_MORE, 0);
	assert_int_equal(wt("b", "k3"), 1);
	assert_int_equal(wt_reads("b", "k3", 0), 1);
	/* ... and a command that changed nothing adds nothing */
	tickets_visible(the_tickets, 12);
	tickets_touch(the_tickets, META_TOUCH_NONE, meta_key_hash("b", 1, "k3", 2));
	assert_int_equal(wt("b", "k3"), 0);

	/* the commit cleared the batch: k1 and k2 go ahead again, also once
	 * the next batch holds another key */
	assert_int_equal(wt("b", "k1"), 0);
	assert_int_equal(wt("b", "k2"), 0);
	assert_int_equal(cluster_read_ticket(NULL, &t), 0);
	touch("b", "k4");
	publish(13, 13, 12);
	assert_int_equal(wt("b", "k1"), 0);
	assert_int_equal(wt("b", "k2"), 0);
	assert_int_equal(wt("b", "k4"), 1);
	tickets_visible(the_tickets, 13);

	/* committed but not all applied: what the gap holds is unknown */
	touch("b", "k1");
	publish(14, 13, 12);
	assert_int_equal(wt("b", "k3"), 1);
	assert_int_equal(wt_reads("b", "k3", 0), 1);
	publish(14, 14, 12);
	assert_int_equal(wt("b", "k3"), 0);
	assert_int_equal(wt("b", "k1"), 1);

	/* a leader that no longer follows its term gives none */
	following = 0;
	assert_int_equal(wt("b", "k3"), CN_EAGAIN);
	assert_int_equal(cluster_read_ticket(NULL, &t), CN_EAGAIN);
	following = 1;

	/* no term published (not the ready leader): none either */
	tickets_publish(the_tickets, 0, 14, 14, 14, NULL, 0, 1);
	assert_int_equal(wt("b", "k3"), CN_EAGAIN);
	tickets_free(the_tickets);
	the_tickets = NULL;
}

/* Only a read's ticket keeps the store committing every turn. */
static void test_only_reads_are_seen(void **state)
{
	(void)state;
	struct cluster_ticket t;

	the_tickets = tickets_new();
	following = 1;
	publish(10, 10, 10);
	for (int i = 0; i < 100; i++)
		assert_int_equal(wt("b", "k"), 0);
	assert_true(tickets_last_read(the_tickets) == 0);
	assert_int_equal(cluster_read_ticket(NULL, &t), 0);
	assert_true(tickets_last_read(the_tickets) != 0);
	tickets_free(the_tickets);
	the_tickets = NULL;
}

/* Many keys in one batch: a key not written goes ahead unless its bit is
 * shared (the filter may make a write wait, never let one through). */
static void test_many_keys(void **state)
{
	(void)state;
	char k[32];
	int ahead = 0;

	the_tickets = tickets_new();
	following = 1;
	for (int i = 0; i < 1024; i++) {
		snprintf(k, sizeof(k), "w%d", i);
		touch("b", k);
	}
	publish(20, 20, 10);
	for (int i = 0; i < 1024; i++) {
		snprintf(k, sizeof(k), "w%d", i);
		assert_int_equal(wt("b", k), 1);
	}
	for (int i = 0; i < 1000; i++) {
		snprintf(k, sizeof(k), "r%d", i);
		ahead += wt("b", k) == 0;
	}
	/* 1024 bits of 65536 set: about 1.6% of other keys share one */
	assert_true(ahead > 950);
	tickets_free(the_tickets);
	the_tickets = NULL;
}

/* A follower's write past its barrier (tickets_batch_spares): the batch's
 * object writes spare it, unless one is of a key it reads; anything else in
 * the batch does not; the store's commit clears the batch. */
static void test_batch_spares(void **state)
{
	(void)state;
	uint64_t k1 = meta_key_hash("b", 1, "k1", 2), k2 = meta_key_hash("b", 1, "k2", 2);

	the_tickets = tickets_new();
	assert_non_null(the_tickets);
	assert_int_equal(tickets_batch_spares(the_tickets, 1, k1), 1);
	touch("b", "k1");
	assert_int_equal(tickets_batch_spares(the_tickets, 0, k1), 1); /* a PUT of k1 */
	assert_int_equal(tickets_batch_spares(the_tickets, 1, k2), 1);
	assert_int_equal(tickets_batch_spares(the_tickets, 1, k1), 0); /* If-Match DELETE */
	tickets_touch(the_tickets, META_TOUCH_NONE, 0);
	assert_int_equal(tickets_batch_spares(the_tickets, 0, k2), 1);
	tickets_touch(the_tickets, META_TOUCH_MORE, 0); /* e.g. a bucket's configuration */
	assert_int_equal(tickets_batch_spares(the_tickets, 0, k2), 0);
	assert_int_equal(tickets_batch_spares(the_tickets, 1, k2), 0);
	tickets_visible(the_tickets, 30);
	assert_int_equal(tickets_batch_spares(the_tickets, 1, k1), 1);
	assert_int_equal(tickets_batch_spares(the_tickets, 0, k2), 1);
	tickets_free(the_tickets);
	the_tickets = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_touched),
		cmocka_unit_test(test_write_tickets),
		cmocka_unit_test(test_only_reads_are_seen),
		cmocka_unit_test(test_many_keys),
		cmocka_unit_test(test_batch_spares),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
