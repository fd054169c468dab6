/* Unit tests for the cluster map in the metadata store: the codec of
 * META_CMD_NODE_SET / META_CMD_DRIVE_SET and of the map records (round
 * trips, every truncation, flipped bytes, what encode refuses), apply
 * semantics (registration, idempotent re-registration, updates, operator
 * states, epoch bumps only on a real change, tombstones) and replay
 * determinism (the same log gives equal digests). With
 * CAIRN_WRITE_CORPUS=dir it also writes seeds for tests/fuzz/fuzz_meta_codec.c
 * (selector byte + encoding). */
#include "meta_test.h"

#include "data/data.h"
#include "meta/meta_int.h"

static uint32_t rng = 4242;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

static void seed(const char *name, uint8_t sel, const void *p, size_t n)
{
	const char *dir = getenv("CAIRN_WRITE_CORPUS");
	char path[512];
	FILE *f;

	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	fputc(sel, f);
	fwrite(p, 1, n, f);
	fclose(f);
}

static struct meta_cmd node_cmd(uint64_t id, const char *addr, const char *zone, uint8_t state,
				uint32_t weight, uint8_t flags)
{
	struct meta_cmd c;

	memset(&c, 0, sizeof(c));
	c.type = META_CMD_NODE_SET;
	c.map_flags = flags;
	c.node.id = id;
	snprintf(c.node.address, sizeof(c.node.address), "%s", addr);
	snprintf(c.node.zone, sizeof(c.node.zone), "%s", zone);
	c.node.state = state;
	c.node.weight = weight;
	return c;
}

static struct meta_cmd drive_cmd(uint8_t idb, uint64_t node, uint64_t cap, uint8_t state,
				 uint32_t weight, uint8_t flags)
{
	struct meta_cmd c;

	memset(&c, 0, sizeof(c));
	c.type = META_CMD_DRIVE_SET;
	c.map_flags = flags;
	memset(c.drive.id, idb, META_ID_LEN);
	c.drive.node = node;
	c.drive.capacity = cap;
	c.drive.state = state;
	c.drive.weight = weight;
	return c;
}

/* enc decodes to a command that re-encodes to exactly enc; every strict
 * prefix and one byte more are rejected; random flips never crash and
 * what decodes re-encodes to the same bytes. */
static void check_cmd_bytes(const uint8_t *enc, size_t len)
{
	struct meta_cmd d;
	uint8_t *enc2, *buf = malloc(len + 1);
	size_t len2;

	assert_non_null(buf);
	assert_int_equal(meta_cmd_decode(enc, len, &d), 0);
	assert_int_equal(meta_cmd_encode(&d, &enc2, &len2), 0);
	assert_int_equal(len2, len);
	assert_memory_equal(enc2, enc, len);
	free(enc2);
	meta_cmd_release(&d);
	for (size_t n = 0; n < len; n++) {
		memcpy(buf, enc, n);
		assert_int_equal(meta_cmd_decode(buf, n, &d), CN_ECORRUPT);
	}
	memcpy(buf, enc, len);
	buf[len] = 0;
	assert_int_equal(meta_cmd_decode(buf, len + 1, &d), CN_ECORRUPT);
	for (int i = 0; i < 20000; i++) {
		memcpy(buf, enc, len);
		for (int j = 0; j < 2; j++)
			buf[2 + rnd() % (len - 2)] = (uint8_t)rnd(); /* keep version, type */
		if (meta_cmd_decode(buf, len, &d) == 0) {
			assert_int_equal(meta_cmd_encode(&d, &enc2, &len2), 0);
			assert_int_equal(len2, len);
			assert_memory_equal(enc2, buf, len);
			free(enc2);
			meta_cmd_release(&d);
		}
	}
	free(buf);
}

static void test_map_cmd_codec(void **state)
{
	(void)state;
	struct meta_cmd c, d;
	uint8_t *enc;
	size_t len;

	c = node_cmd(0x0102030405060708ull, "127.0.0.1:9100", "zone-a", META_MAP_UP, 100,
		     META_MAP_SELF);
	c.now = 77;
	assert_int_equal(meta_cmd_encode(&c, &enc, &len), 0);
	/* head 10 + id 8 + flags 1 + state 1 + weight 4 + 1+14 + 1+6 */
	assert_int_equal(len, 10 + 8 + 1 + 1 + 4 + 15 + 7);
	seed("cmd_node_set", 0, enc, len);
	assert_int_equal(meta_cmd_decode(enc, len, &d), 0);
	assert_int_equal(d.type, META_CMD_NODE_SET);
	assert_true(d.now == 77);
	assert_true(d.node.id == c.node.id);
	assert_string_equal(d.node.address, "127.0.0.1:9100");
	assert_string_equal(d.node.zone, "zone-a");
	assert_int_equal(d.node.state, META_MAP_UP);
	assert_int_equal(d.node.weight, 100);
	assert_int_equal(d.map_flags, META_MAP_SELF);
	meta_cmd_release(&d);
	check_cmd_bytes(enc, len);
	free(enc);

	c = drive_cmd(0xab, 9, 1ull << 40, META_MAP_DRAINING, 7, 0);
	assert_int_equal(meta_cmd_encode(&c, &enc, &len), 0);
	assert_int_equal(len, 10 + 16 + 8 + 1 + 1 + 4 + 8);
	seed("cmd_drive_set", 0, enc, len);
	assert_int_equal(meta_cmd_decode(enc, len, &d), 0);
	assert_int_equal(d.type, META_CMD_DRIVE_SET);
	assert_memory_equal(d.drive.id, c.drive.id, META_ID_LEN);
	assert_true(d.drive.node == 9);
	assert_true(d.drive.capacity == 1ull << 40);
	assert_int_equal(d.drive.state, META_MAP_DRAINING);
	assert_int_equal(d.drive.weight, 7);
	check_cmd_bytes(enc, len);
	/* bad state / flags in the bytes are rejected */
	enc[10 + 16 + 8 + 1] = 0; /* state */
	assert_int_equal(meta_cmd_decode(enc, len, &d), CN_ECORRUPT);
	enc[10 + 16 + 8 + 1] = 5;
	assert_int_equal(meta_cmd_decode(enc, len, &d), CN_ECORRUPT);
	enc[10 + 16 + 8 + 1] = META_MAP_UP;
	enc[10 + 16 + 8] = 2; /* flags */
	assert_int_equal(meta_cmd_decode(enc, len, &d), CN_ECORRUPT);
	free(enc);
	/* the barrier (14) is never encoded; the next type after the map's is unknown */
	c = drive_cmd(1, 1, 1, META_MAP_UP, 1, 0);
	assert_int_equal(meta_cmd_encode(&c, &enc, &len), 0);
	enc[1] = META_CMD_BARRIER;
	assert_int_equal(meta_cmd_decode(enc, len, &d), CN_ECORRUPT);
	enc[1] = META_CMD_DRIVE_SET + 1;
	assert_int_equal(meta_cmd_decode(enc, len, &d), CN_ECORRUPT);
	free(enc);

	/* encode refuses what decode would reject: a proposal always decodes */
	c = node_cmd(1, "", "", META_MAP_UP, 1, 0);
	assert_int_equal(meta_cmd_encode(&c, &enc, &len), CN_EBADARG);
	c = node_cmd(1, "a b", "", META_MAP_UP, 1, 0);
	assert_int_equal(meta_cmd_encode(&c, &enc, &len), CN_EBADARG);
	c = node_cmd(1, "a", "z\x01", META_MAP_UP, 1, 0);
	assert_int_equal(meta_cmd_encode(&c, &enc, &len), CN_EBADARG);
	c = node_cmd(1, "a", "", 0, 1, 0);
	assert_int_equal(meta_cmd_encode(&c, &enc, &len), CN_EBADARG);
	c = node_cmd(1, "a", "", META_MAP_UP, 1, 0x80);
	assert_int_equal(meta_cmd_encode(&c, &enc, &len), CN_EBADARG);
	c = node_cmd(1, "a", "", META_MAP_UP, 1, 0);
	memset(c.node.address, 'x', sizeof(c.node.address)); /* not terminated */
	assert_int_equal(meta_cmd_encode(&c, &enc, &len), CN_EBADARG);
	c = drive_cmd(1, 1, 1, META_MAP_REMOVED + 1, 1, 0);
	assert_int_equal(meta_cmd_encode(&c, &enc, &len), CN_EBADARG);
	/* a 63-byte address and zone are the maximum */
	c = node_cmd(1, "a", "", META_MAP_UP, 1, 0);
	memset(c.node.address, 'a', META_ADDR_MAX);
	memset(c.node.zone, 'z', META_ZONE_MAX);
	assert_int_equal(meta_cmd_encode(&c, &enc, &len), 0);
	check_cmd_bytes(enc, len);
	free(enc);
}

static void test_map_record_codec(void **state)
{
	(void)state;
	struct meta_node n = {.id = 5, .state = META_MAP_DRAINING, .weight = 3}, n2;
	struct meta_drive d = {.node = 5, .capacity = 12345, .weight = 9, .state = META_MAP_UP}, d2;
	struct cn_buf w;
	uint64_t e = 0;

	strcpy(n.address, "10.0.0.1:1");
	strcpy(n.zone, "eu");
	memset(d.id, 0x5a, META_ID_LEN);
	cn_buf_init(&w);
	assert_int_equal(node_rec_encode(&w, &n), 0);
	seed("rec_node", 9, w.p, w.len);
	assert_int_equal(node_rec_decode(w.p, w.len, 5, &n2), 0);
	assert_true(n2.id == 5 && n2.state == n.state && n2.weight == n.weight);
	assert_string_equal(n2.address, n.address);
	assert_string_equal(n2.zone, n.zone);
	for (size_t k = 0; k < w.len; k++)
		assert_int_equal(node_rec_decode(w.p, k, 5, &n2), CN_ECORRUPT);
	cn_buf_reset(&w);
	assert_int_equal(drive_rec_encode(&w, &d), 0);
	seed("rec_drive", 10, w.p, w.len);
	assert_int_equal(drive_rec_decode(w.p, w.len, d.id, &d2), 0);
	assert_memory_equal(d2.id, d.id, META_ID_LEN);
	assert_true(d2.node == d.node && d2.capacity == d.capacity && d2.weight == d.weight &&
		    d2.state == d.state);
	for (size_t k = 0; k < w.len; k++)
		assert_int_equal(drive_rec_decode(w.p, k, d.id, &d2), CN_ECORRUPT);
	cn_buf_put(&w, "", 1);
	assert_int_equal(drive_rec_decode(w.p, w.len, d.id, &d2), CN_ECORRUPT);
	cn_buf_reset(&w);
	assert_int_equal(epoch_rec_encode(&w, 99), 0);
	assert_int_equal(epoch_rec_decode(w.p, w.len, &e), 0);
	assert_true(e == 99);
	assert_int_equal(epoch_rec_decode(w.p, w.len - 1, &e), CN_ECORRUPT);
	cn_buf_release(&w);
	assert_string_equal(meta_map_state_name(META_MAP_REMOVED), "removed");
	assert_string_equal(meta_map_state_name(0), "?");
}

static uint64_t epoch_of(struct meta_store *s)
{
	uint64_t e = 1234;
	assert_int_equal(meta_map_epoch(s, &e), 0);
	return e;
}

static int submit(struct meta_store *s, struct meta_cmd c)
{
	return meta_submit_sync(s, &c);
}

static void test_map_apply(void **state)
{
	(void)state;
	struct tstore t;
	struct meta_map m;

	ts_open(&t);
	assert_int_equal(epoch_of(t.s), 0);
	assert_int_equal(meta_map_get(t.s, &m), 0);
	assert_int_equal(m.n_nodes + m.n_drives, 0);
	meta_map_release(&m);

	/* a drive needs its node; bad values change nothing */
	assert_int_equal(submit(t.s, drive_cmd(1, 10, 1000, META_MAP_UP, 100, META_MAP_SELF)),
			 CN_EBADARG);
	assert_int_equal(submit(t.s, node_cmd(0, "a:1", "", META_MAP_UP, 100, 0)), CN_EBADARG);
	assert_int_equal(
		submit(t.s, node_cmd(10, "a:1", "", META_MAP_DRAINING, 100, META_MAP_SELF)),
		CN_EBADARG);
	assert_int_equal(epoch_of(t.s), 0);

	/* registration, then the same again: a no-op */
	assert_int_equal(submit(t.s, node_cmd(10, "a:1", "z1", META_MAP_UP, 100, META_MAP_SELF)),
			 0);
	assert_int_equal(epoch_of(t.s), 1);
	assert_int_equal(submit(t.s, node_cmd(10, "a:1", "z1", META_MAP_UP, 100, META_MAP_SELF)),
			 0);
	assert_int_equal(epoch_of(t.s), 1);
	assert_int_equal(submit(t.s, drive_cmd(1, 10, 1000, META_MAP_UP, 100, META_MAP_SELF)), 0);
	assert_int_equal(submit(t.s, drive_cmd(2, 10, 2000, META_MAP_UP, 100, META_MAP_SELF)), 0);
	assert_int_equal(epoch_of(t.s), 3);
	assert_int_equal(submit(t.s, drive_cmd(1, 10, 1000, META_MAP_UP, 100, META_MAP_SELF)), 0);
	assert_int_equal(epoch_of(t.s), 3);
	/* a changed capacity or address updates */
	assert_int_equal(submit(t.s, drive_cmd(1, 10, 1500, META_MAP_UP, 100, META_MAP_SELF)), 0);
	assert_int_equal(epoch_of(t.s), 4);
	assert_int_equal(submit(t.s, node_cmd(10, "a:2", "z1", META_MAP_UP, 100, META_MAP_SELF)),
			 0);
	assert_int_equal(epoch_of(t.s), 5);
	/* offline at start: down, capacity unknown (0) keeps the last one */
	assert_int_equal(submit(t.s, drive_cmd(2, 10, 0, META_MAP_DOWN, 100, META_MAP_SELF)), 0);
	assert_int_equal(epoch_of(t.s), 6);
	assert_int_equal(meta_map_get(t.s, &m), 0);
	assert_int_equal(m.n_drives, 2);
	assert_true(m.drives[1].capacity == 2000);
	assert_int_equal(m.drives[1].state, META_MAP_DOWN);
	meta_map_release(&m);
	assert_int_equal(submit(t.s, drive_cmd(2, 10, 2000, META_MAP_UP, 100, META_MAP_SELF)), 0);
	assert_int_equal(epoch_of(t.s), 7);

	/* the operator's weight and draining state survive re-registration */
	assert_int_equal(submit(t.s, node_cmd(10, "a:2", "z1", META_MAP_DRAINING, 40, 0)), 0);
	assert_int_equal(submit(t.s, drive_cmd(1, 10, 1500, META_MAP_UP, 5, 0)), 0);
	assert_int_equal(epoch_of(t.s), 9);
	assert_int_equal(submit(t.s, node_cmd(10, "a:2", "z1", META_MAP_UP, 100, META_MAP_SELF)),
			 0);
	assert_int_equal(submit(t.s, drive_cmd(1, 10, 1500, META_MAP_UP, 100, META_MAP_SELF)), 0);
	assert_int_equal(epoch_of(t.s), 9);
	assert_int_equal(meta_map_get(t.s, &m), 0);
	assert_int_equal(m.n_nodes, 1);
	assert_int_equal(m.nodes[0].state, META_MAP_DRAINING);
	assert_int_equal(m.nodes[0].weight, 40);
	assert_string_equal(m.nodes[0].address, "a:2");
	assert_string_equal(m.nodes[0].zone, "z1");
	assert_int_equal(m.drives[0].weight, 5);
	assert_true(m.epoch == 9);
	meta_map_release(&m);
	/* ... but not an operator's own change */
	assert_int_equal(submit(t.s, node_cmd(10, "a:2", "z1", META_MAP_UP, 40, 0)), 0);
	assert_int_equal(epoch_of(t.s), 10);

	/* a second node; removal leaves tombstones that nothing changes */
	assert_int_equal(submit(t.s, node_cmd(3, "b:1", "", META_MAP_UP, 100, META_MAP_SELF)), 0);
	assert_int_equal(submit(t.s, drive_cmd(3, 3, 10, META_MAP_UP, 100, META_MAP_SELF)), 0);
	assert_int_equal(submit(t.s, drive_cmd(4, 3, 10, META_MAP_UP, 100, META_MAP_SELF)), 0);
	assert_int_equal(submit(t.s, drive_cmd(3, 3, 10, META_MAP_REMOVED, 100, 0)), 0);
	/* the node's removal takes drive 4 with it, in the same command (one
	 * epoch) */
	assert_int_equal(submit(t.s, node_cmd(3, "b:1", "", META_MAP_REMOVED, 100, 0)), 0);
	assert_int_equal(epoch_of(t.s), 15);
	assert_int_equal(submit(t.s, node_cmd(3, "b:1", "", META_MAP_UP, 100, META_MAP_SELF)),
			 CN_EREMOVED);
	assert_int_equal(submit(t.s, node_cmd(3, "b:1", "", META_MAP_UP, 100, 0)), CN_EREMOVED);
	assert_int_equal(submit(t.s, node_cmd(3, "b:1", "", META_MAP_REMOVED, 100, 0)),
			 CN_EREMOVED);
	assert_int_equal(submit(t.s, drive_cmd(3, 10, 10, META_MAP_UP, 100, 0)), CN_EREMOVED);
	assert_int_equal(submit(t.s, drive_cmd(4, 3, 10, META_MAP_UP, 100, META_MAP_SELF)),
			 CN_EREMOVED);
	assert_int_equal(epoch_of(t.s), 15);

	/* the map survives a reopen; nodes and drives come in id order */
	ts_reopen(&t);
	assert_int_equal(meta_map_get(t.s, &m), 0);
	assert_true(m.epoch == 15);
	assert_int_equal(m.n_nodes, 2);
	assert_true(m.nodes[0].id == 3 && m.nodes[1].id == 10);
	assert_int_equal(m.nodes[0].state, META_MAP_REMOVED);
	assert_int_equal(m.n_drives, 4);
	assert_int_equal(m.drives[0].id[0], 1);
	assert_int_equal(m.drives[2].id[0], 3);
	assert_int_equal(m.drives[2].state, META_MAP_REMOVED);
	assert_true(m.drives[2].node == 3);
	assert_int_equal(m.drives[3].id[0], 4);
	assert_int_equal(m.drives[3].state, META_MAP_REMOVED);
	meta_map_release(&m);
	ts_close(&t);
}

/* A replicated store of its own, fed log entries as Raft would. */
struct rstore {
	char dir[64];
	struct meta_store *s;
	uint64_t index;
};

static void rs_open_with(struct rstore *r, meta_layout_drives_fn drives)
{
	struct meta_options o = {
		.map_size = 1ull << 30, .node_id = 1, .replicated = 1, .layout_drives = drives};

	strcpy(r->dir, "/tmp/cairn-map-XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	assert_int_equal(meta_store_open(r->dir, &o, &r->s), 0);
	r->index = 0;
}

static void rs_open(struct rstore *r)
{
	rs_open_with(r, NULL);
}

static void rs_close(struct rstore *r)
{
	char cmd[128];

	meta_store_close(r->s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", r->dir);
	assert_int_equal(system(cmd), 0);
}

static int rs_apply(struct rstore *r, const uint8_t *enc, size_t len)
{
	int result = 0;

	assert_int_equal(meta_repl_apply(r->s, ++r->index, enc, len, &result, NULL), 0);
	return result;
}

static void test_map_replay_deterministic(void **state)
{
	(void)state;
	enum { N = 400 };
	struct rstore a, b;
	uint8_t *enc[N], da[16], db[16];
	size_t len[N];
	int results[N];

	/* a random sequence of registrations and operator changes over a few
	 * nodes and drives, failures (unknown node, tombstones) included */
	for (int i = 0; i < N; i++) {
		struct meta_cmd c;
		uint8_t flags = rnd() % 2 ? META_MAP_SELF : 0;
		uint8_t st = (uint8_t)(1 + rnd() % (flags ? 2 : 4));
		if (rnd() % 3 == 0) {
			char addr[16], zone[8];
			snprintf(addr, sizeof(addr), "n%u:%u", rnd() % 5, rnd() % 2);
			snprintf(zone, sizeof(zone), "z%u", rnd() % 2);
			c = node_cmd(1 + rnd() % 5, addr, zone, st, 50 + rnd() % 2 * 50, flags);
		} else {
			c = drive_cmd((uint8_t)(rnd() % 8), 1 + rnd() % 5, rnd() % 3 * 1000, st,
				      100, flags);
		}
		c.now = 1000 + i;
		assert_int_equal(meta_cmd_encode(&c, &enc[i], &len[i]), 0);
	}
	rs_open(&a);
	rs_open(&b);
	/* a applies in one batch per 7 entries, b commits after each */
	for (int i = 0; i < N; i++) {
		results[i] = rs_apply(&a, enc[i], len[i]);
		if (i % 7 == 6)
			assert_int_equal(meta_repl_commit(a.s), 0);
	}
	assert_int_equal(meta_repl_commit(a.s), 0);
	int changed = 0, failed = 0;
	uint64_t prev = 0, e;
	for (int i = 0; i < N; i++) {
		assert_int_equal(rs_apply(&b, enc[i], len[i]), results[i]);
		assert_int_equal(meta_repl_commit(b.s), 0);
		e = epoch_of(b.s);
		assert_true(e == prev || (e == prev + 1 && results[i] == 0));
		changed += e != prev;
		failed += results[i] != 0;
		prev = e;
	}
	assert_true(changed > 20 && failed > 20); /* the sequence exercised both */
	assert_int_equal(meta_store_digest(a.s, da), 0);
	assert_int_equal(meta_store_digest(b.s, db), 0);
	assert_memory_equal(da, db, 16);
	assert_true(epoch_of(a.s) == prev);
	/* a replay (entries at or below the applied index) changes nothing */
	int result;
	assert_int_equal(meta_repl_apply(a.s, 1, enc[0], len[0], &result, NULL), 0);
	assert_int_equal(result, META_REPL_REPLAYED);
	assert_int_equal(meta_store_digest(a.s, da), 0);
	assert_memory_equal(da, db, 16);
	rs_close(&a);
	rs_close(&b);
	for (int i = 0; i < N; i++)
		free(enc[i]);
}

/* The two stores hold the same map (their system records may differ). */
static void maps_equal(struct meta_store *a, struct meta_store *b)
{
	struct meta_map ma, mb;

	assert_int_equal(meta_map_get(a, &ma), 0);
	assert_int_equal(meta_map_get(b, &mb), 0);
	assert_true(ma.epoch == mb.epoch && ma.epoch > 0);
	assert_int_equal(ma.n_nodes, mb.n_nodes);
	assert_int_equal(ma.n_drives, mb.n_drives);
	for (size_t i = 0; i < ma.n_nodes; i++) {
		assert_true(ma.nodes[i].id == mb.nodes[i].id);
		assert_string_equal(ma.nodes[i].address, mb.nodes[i].address);
		assert_int_equal(ma.nodes[i].state, mb.nodes[i].state);
		assert_int_equal(ma.nodes[i].weight, mb.nodes[i].weight);
	}
	for (size_t i = 0; i < ma.n_drives; i++) {
		assert_memory_equal(ma.drives[i].id, mb.drives[i].id, META_ID_LEN);
		assert_true(ma.drives[i].node == mb.drives[i].node);
		assert_int_equal(ma.drives[i].state, mb.drives[i].state);
	}
	meta_map_release(&ma);
	meta_map_release(&mb);
}

/* A batch entry's commands (meta_repl_apply_part) give the results and the
 * store that the same commands as entries of their own give; the entry
 * counts as applied only after its last command, and a replay skips every
 * command of it. The record that the log held a batch entry survives a
 * reopen. */
static void test_batch_entry_parts(void **state)
{
	(void)state;
	enum { N = 60, PER = 3 };
	struct rstore a, b;
	struct meta_options o = {.map_size = 1ull << 30, .node_id = 1, .replicated = 1};
	uint8_t *enc[N];
	size_t len[N];
	int ra[N], rb[N], result;

	for (int i = 0; i < N; i++) {
		struct meta_cmd c =
			i % 2 ? drive_cmd((uint8_t)(rnd() % 6), 1 + rnd() % 3, 1000, 1, 100, 0)
			      : node_cmd(1 + rnd() % 3, "n:1", "z", 1, 100, 0);
		c.now = 1000 + i;
		assert_int_equal(meta_cmd_encode(&c, &enc[i], &len[i]), 0);
	}
	rs_open(&a);
	rs_open(&b);
	assert_false(meta_repl_batches(a.s));
	/* a: entries of PER commands; b: one command each */
	for (int i = 0; i < N; i++) {
		uint64_t index = (uint64_t)i / PER + 1;
		if (i % PER == 0)
			assert_int_equal(meta_repl_note_batch(a.s), 0);
		assert_int_equal(meta_repl_apply_part(a.s, index, i % PER == PER - 1, enc[i],
						      len[i], &ra[i], NULL),
				 0);
		assert_int_not_equal(ra[i], META_REPL_REPLAYED);
		rb[i] = rs_apply(&b, enc[i], len[i]);
		assert_int_equal(ra[i], rb[i]);
		if (i % PER == PER - 1 && i % (2 * PER) == PER - 1)
			assert_int_equal(meta_repl_commit(a.s), 0);
	}
	assert_int_equal(meta_repl_commit(a.s), 0);
	assert_int_equal(meta_repl_commit(b.s), 0);
	assert_true(meta_repl_applied(a.s) == N / PER);
	assert_true(meta_repl_batches(a.s));
	assert_false(meta_repl_batches(b.s));
	maps_equal(a.s, b.s);
	/* a replayed entry: every command of it is skipped */
	for (int i = 0; i < PER; i++) {
		assert_int_equal(meta_repl_apply_part(a.s, 2, i == PER - 1, enc[PER + i],
						      len[PER + i], &result, NULL),
				 0);
		assert_int_equal(result, META_REPL_REPLAYED);
	}
	assert_int_equal(meta_repl_commit(a.s), 0);
	assert_true(meta_repl_applied(a.s) == N / PER);
	/* the record survives a reopen */
	meta_store_close(a.s);
	assert_int_equal(meta_store_open(a.dir, &o, &a.s), 0);
	assert_true(meta_repl_batches(a.s));
	assert_true(meta_repl_applied(a.s) == N / PER);
	rs_close(&a);
	rs_close(&b);
	for (int i = 0; i < N; i++)
		free(enc[i]);
}

static int rs_cmd(struct rstore *r, struct meta_cmd c)
{
	uint8_t *enc;
	size_t len;
	int result;

	c.now = 1000 + (int64_t)r->index;
	assert_int_equal(meta_cmd_encode(&c, &enc, &len), 0);
	result = rs_apply(r, enc, len);
	free(enc);
	assert_int_equal(meta_repl_commit(r->s), 0);
	return result;
}

/* An intent for blob `blob` whose shards are on drives[0..k+m) (drive ids
 * of one repeated byte, as drive_cmd makes them). */
static int rs_intent(struct rstore *r, uint8_t blob, uint8_t k, uint8_t m, const uint8_t *drives)
{
	struct blob_layout l;
	struct meta_cmd c;
	uint8_t enc[META_LAYOUT_MAX];
	int n;

	memset(&l, 0, sizeof(l));
	memset(l.id, blob, sizeof(l.id));
	l.k = k;
	l.m = m;
	l.cksum = DATA_CK_CRC32C;
	l.block_size = 1u << 20;
	l.size = 3u << 20;
	for (int i = 0; i < k + m; i++)
		memset(l.drive[i], drives[i], DATA_ID_LEN);
	n = blob_layout_encode(&l, enc, sizeof(enc));
	assert_true(n > 0);
	memset(&c, 0, sizeof(c));
	c.type = META_CMD_INTENT_ADD;
	memcpy(c.blob_id, l.id, META_ID_LEN);
	c.layout = enc;
	c.layout_len = (size_t)n;
	return rs_cmd(r, c);
}

/* `cluster remove` drains the node, then checks what is committed: an
 * intent committed after that with a shard on a draining (or removed)
 * node, in a blob wider than the nodes left, is refused (no rebalance
 * could re-place it); narrower ones, or any while no node leaves, stand.
 * A store without the layout reader (one node) checks nothing. */
static void test_intent_on_leaving_node(void **state)
{
	(void)state;
	struct rstore r, plain;
	const uint8_t d123[] = {0x11, 0x22, 0x33}, d13[] = {0x11, 0x33},
		      d124[] = {0x11, 0x22, 0x44};
	uint64_t n;

	rs_open_with(&r, blob_layout_drives);
	rs_open(&plain);
	for (uint8_t i = 1; i <= 3; i++) {
		char addr[16];
		snprintf(addr, sizeof(addr), "n%u:1", i);
		assert_int_equal(rs_cmd(&r, node_cmd(i, addr, "", META_MAP_UP, 100, 0)), 0);
		assert_int_equal(
			rs_cmd(&r, drive_cmd((uint8_t)(0x11 * i), i, 1000, META_MAP_UP, 100, 0)),
			0);
		assert_int_equal(rs_cmd(&plain, node_cmd(i, addr, "", META_MAP_UP, 100, 0)), 0);
		assert_int_equal(rs_cmd(&plain, drive_cmd((uint8_t)(0x11 * i), i, 1000, META_MAP_UP,
							  100, 0)),
				 0);
	}
	assert_int_equal(rs_intent(&r, 1, 2, 1, d123), 0); /* no node leaves */
	assert_int_equal(rs_cmd(&r, node_cmd(3, "n3:1", "", META_MAP_DRAINING, 100, 0)), 0);
	assert_int_equal(rs_cmd(&plain, node_cmd(3, "n3:1", "", META_MAP_DRAINING, 100, 0)), 0);
	assert_int_equal(rs_intent(&r, 2, 2, 1, d123), CN_ELEAVING);
	assert_int_equal(rs_intent(&plain, 2, 2, 1, d123), 0);
	assert_int_equal(rs_intent(&r, 3, 1, 1, d13), 0); /* 2 wide: fits the 2 left */
	assert_int_equal(meta_intent_count(r.s, &n), 0);
	assert_int_equal(n, 2); /* the refused one left nothing */
	/* a fourth node: three left, the 3-wide blob fits */
	assert_int_equal(rs_cmd(&r, node_cmd(4, "n4:1", "", META_MAP_UP, 100, 0)), 0);
	assert_int_equal(rs_cmd(&r, drive_cmd(0x44, 4, 1000, META_MAP_UP, 100, 0)), 0);
	assert_int_equal(rs_intent(&r, 4, 2, 1, d123), 0);
	/* removed (its drives with it): two left again */
	assert_int_equal(rs_cmd(&r, node_cmd(4, "n4:1", "", META_MAP_REMOVED, 100, 0)), 0);
	assert_int_equal(rs_intent(&r, 5, 2, 1, d124), CN_ELEAVING);
	/* given back its state, the draining node takes new blobs again */
	assert_int_equal(rs_cmd(&r, node_cmd(3, "n3:1", "", META_MAP_UP, 100, 0)), 0);
	assert_int_equal(rs_intent(&r, 6, 2, 1, d123), 0);
	rs_close(&r);
	rs_close(&plain);
}

static struct meta_cmd setting_cmd(const char *name, const char *value)
{
	struct meta_cmd c = {.type = META_CMD_SETTING, .now = t_now()};
	c.key = name;
	c.key_len = strlen(name);
	c.attrs = value;
	c.attrs_len = strlen(value);
	return c;
}

/* META_CMD_SETTING: codec round trip; set, overwrite, read back (also after
 * a reopen), delete; names and sizes refused as documented, nothing
 * written by a refused command. */
static void test_settings(void **state)
{
	(void)state;
	struct tstore t;
	struct meta_cmd c = setting_cmd("rebalance", "paused=1 stopped_at=0 start=2"), d;
	char out[META_SETTING_MAX + 1], big[META_SETTING_MAX + 2];
	uint8_t *enc;
	size_t len;

	assert_int_equal(meta_cmd_encode(&c, &enc, &len), 0);
	assert_int_equal(meta_cmd_decode(enc, len, &d), 0);
	assert_int_equal(d.type, META_CMD_SETTING);
	assert_int_equal(d.key_len, 9);
	assert_memory_equal(d.key, "rebalance", 9);
	assert_int_equal(d.attrs_len, c.attrs_len);
	assert_memory_equal(d.attrs, c.attrs, c.attrs_len);
	meta_cmd_release(&d);
	/* every truncation is refused */
	for (size_t n = 0; n < len; n++)
		assert_int_equal(meta_cmd_decode(enc, n, &d), CN_ECORRUPT);
	free(enc);

	ts_open(&t);
	assert_int_equal(meta_setting_get(t.s, "rebalance", out, sizeof(out)), CN_ENOTFOUND);
	assert_int_equal(submit(t.s, c), 0);
	assert_int_equal(meta_setting_get(t.s, "rebalance", out, sizeof(out)), 0);
	assert_string_equal(out, "paused=1 stopped_at=0 start=2");
	assert_int_equal(meta_setting_get(t.s, "rebalance", out, 5), CN_ETOOBIG);
	assert_int_equal(submit(t.s, setting_cmd("rebalance", "paused=0 stopped_at=7 start=2")), 0);
	ts_reopen(&t);
	assert_int_equal(meta_setting_get(t.s, "rebalance", out, sizeof(out)), 0);
	assert_string_equal(out, "paused=0 stopped_at=7 start=2");
	/* refused: empty, long or odd names; a value over the limit */
	assert_int_equal(submit(t.s, setting_cmd("", "x")), CN_EBADARG);
	assert_int_equal(submit(t.s, setting_cmd("Rebalance", "x")), CN_EBADARG);
	assert_int_equal(submit(t.s, setting_cmd("a/b", "x")), CN_EBADARG);
	assert_int_equal(submit(t.s, setting_cmd("abcdefghijklmnopqrstuvwxyz0123456", "x")),
			 CN_EBADARG);
	memset(big, 'v', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	assert_int_equal(submit(t.s, setting_cmd("rebalance", big)), CN_EMETATOOBIG);
	assert_int_equal(meta_setting_get(t.s, "rebalance", out, sizeof(out)), 0);
	assert_string_equal(out, "paused=0 stopped_at=7 start=2");
	big[META_SETTING_MAX] = 0; /* exactly the limit */
	assert_int_equal(submit(t.s, setting_cmd("other.one", big)), 0);
	assert_int_equal(meta_setting_get(t.s, "other.one", out, sizeof(out)), 0);
	assert_int_equal(strlen(out), META_SETTING_MAX);
	/* an empty value deletes; deleting what is not there is fine */
	assert_int_equal(submit(t.s, setting_cmd("rebalance", "")), 0);
	assert_int_equal(meta_setting_get(t.s, "rebalance", out, sizeof(out)), CN_ENOTFOUND);
	assert_int_equal(submit(t.s, setting_cmd("rebalance", "")), 0);
	assert_int_equal(meta_setting_get(t.s, "other.one", out, sizeof(out)), 0);
	ts_close(&t);
}

int main(void)
{
	unit_filter_from_env();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map_cmd_codec),
		cmocka_unit_test(test_map_record_codec),
		cmocka_unit_test(test_map_apply),
		cmocka_unit_test(test_map_replay_deterministic),
		cmocka_unit_test(test_batch_entry_parts),
		cmocka_unit_test(test_intent_on_leaving_node),
		cmocka_unit_test(test_settings),
	};
	return cmocka_run_group_tests_name("meta_map", tests, NULL, NULL);
}
