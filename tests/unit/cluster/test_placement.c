/*
 * Unit tests for cluster/placement: the default EC table and the --ec
 * parser; placement rules (distinct nodes, distinct zones when zones allow,
 * nothing ineligible chosen); determinism under input permutations; the
 * statistics of weighted rendezvous hashing (uniformity, weight
 * proportionality) and its movement bounds on adding and removing a node;
 * placement_diff. Bounds are derived next to each test from the binomial
 * model; the hashes are fixed, so a test is exactly reproducible.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cluster/placement.h"
#include "core/err.h"

#define MAXN 64
#define MAXD 256

struct fix {
	struct placement_node nodes[MAXN];
	struct placement_drive drives[MAXD];
	int n_nodes, n_drives;
};

static struct placement_map map_of(const struct fix *f)
{
	return (struct placement_map){.nodes = f->nodes,
				      .n_nodes = f->n_nodes,
				      .drives = f->drives,
				      .n_drives = f->n_drives};
}

/* Node ids 100, 101, ...; drive ids spell (node, index). */
static int add_node(struct fix *f, const char *zone)
{
	struct placement_node *n = &f->nodes[f->n_nodes];

	assert_true(f->n_nodes < MAXN);
	memset(n, 0, sizeof(*n));
	n->id = 100 + (uint64_t)f->n_nodes;
	n->state = PLACEMENT_UP;
	snprintf(n->zone, sizeof(n->zone), "%s", zone ? zone : "");
	return f->n_nodes++;
}

static struct placement_drive *add_drive(struct fix *f, int node, uint32_t weight)
{
	struct placement_drive *d = &f->drives[f->n_drives];

	assert_true(f->n_drives < MAXD);
	memset(d, 0, sizeof(*d));
	d->id[0] = 0xd0;
	d->id[1] = (uint8_t)node;
	d->id[2] = (uint8_t)f->n_drives;
	d->id[15] = (uint8_t)(f->n_drives * 37);
	d->node = f->nodes[node].id;
	d->weight = weight;
	d->state = PLACEMENT_UP;
	f->n_drives++;
	return d;
}

static void build(struct fix *f, int nodes, int drives_per_node, const char *const *zones)
{
	memset(f, 0, sizeof(*f));
	for (int i = 0; i < nodes; i++) {
		int n = add_node(f, zones ? zones[i] : NULL);
		for (int j = 0; j < drives_per_node; j++)
			add_drive(f, n, 1000);
	}
}

static void compute(const struct fix *f, int k, int m, uint32_t pgs,
		    const struct placement_table *prev, struct placement_table *t)
{
	struct placement_map map = map_of(f);

	assert_int_equal(placement_compute(&map, (uint8_t)k, (uint8_t)m, pgs, 7, prev, t), 0);
}

static const struct placement_drive *drive_by_id(const struct fix *f, const uint8_t *id)
{
	for (int i = 0; i < f->n_drives; i++)
		if (memcmp(f->drives[i].id, id, DATA_ID_LEN) == 0)
			return &f->drives[i];
	fail_msg("slot holds a drive that is not in the map");
	return NULL;
}

static const struct placement_node *node_by_id(const struct fix *f, uint64_t id)
{
	for (int i = 0; i < f->n_nodes; i++)
		if (f->nodes[i].id == id)
			return &f->nodes[i];
	fail_msg("drive of an unknown node");
	return NULL;
}

/* Every group: drives eligible, on distinct nodes. */
static void check_rules(const struct fix *f, const struct placement_table *t)
{
	int w = t->k + t->m;

	for (uint32_t pg = 0; pg < t->pg_count; pg++) {
		const uint8_t(*s)[DATA_ID_LEN] = placement_table_pg(t, pg);
		for (int i = 0; i < w; i++) {
			const struct placement_drive *d = drive_by_id(f, s[i]);
			assert_int_equal(d->state, PLACEMENT_UP);
			assert_true(d->weight > 0);
			assert_int_equal(node_by_id(f, d->node)->state, PLACEMENT_UP);
			for (int j = 0; j < i; j++)
				assert_true(drive_by_id(f, s[j])->node != d->node);
		}
	}
}

/* Slots held per drive (indexed like f->drives). */
static void count_slots(const struct fix *f, const struct placement_table *t, int *cnt)
{
	int w = t->k + t->m;

	memset(cnt, 0, sizeof(int) * (size_t)f->n_drives);
	for (uint32_t pg = 0; pg < t->pg_count; pg++)
		for (int i = 0; i < w; i++)
			cnt[drive_by_id(f, placement_table_pg(t, pg)[i]) - f->drives]++;
}

/* ---- default EC and --ec ---- */

static void test_default_ec(void **state)
{
	static const int want[][3] = {
		{0, 1, 0}, {1, 1, 0}, {2, 1, 1}, {3, 2, 1},  {4, 2, 2},	 {5, 3, 2},  {6, 4, 2},
		{7, 4, 2}, {8, 4, 2}, {9, 6, 2}, {11, 6, 2}, {12, 8, 3}, {16, 8, 3}, {100, 8, 3},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		uint8_t k, m;
		placement_default_ec(want[i][0], &k, &m);
		assert_int_equal(k, want[i][1]);
		assert_int_equal(m, want[i][2]);
	}
	/* invariants over a range: fits, distinct nodes, parity from 3 nodes */
	for (int n = 1; n <= 64; n++) {
		uint8_t k, m;
		placement_default_ec(n, &k, &m);
		assert_true(k >= 1);
		assert_true(k + m <= n && k + m <= DATA_MAX_SHARDS);
		if (n >= 3)
			assert_true(m >= 1);
	}
}

static void test_ec_parse(void **state)
{
	static const char *const bad[] = {
		"",	"2",	"2+",	"+1",	  "2-1",  "2+-1",  "a+b", "2+1x",
		" 2+1", "2+1 ", "2 +1", "1234+1", "2++1", "0x2+1", NULL,
	};
	uint8_t k = 9, m = 9;
	const char *why = NULL;

	(void)state;
	assert_int_equal(placement_ec_parse("4+2", 6, &k, &m, &why), 0);
	assert_int_equal(k, 4);
	assert_int_equal(m, 2);
	assert_null(why);
	assert_int_equal(placement_ec_parse("1+0", 1, &k, &m, NULL), 0);
	assert_int_equal(k + m * 10, 1);
	assert_int_equal(placement_ec_parse("08+08", 16, &k, &m, NULL), 0);
	assert_int_equal(k + m, 16);

	for (int i = 0; i < (int)(sizeof(bad) / sizeof(bad[0])); i++) {
		k = m = 9;
		why = NULL;
		assert_int_equal(placement_ec_parse(bad[i], 16, &k, &m, &why), CN_EBADARG);
		assert_non_null(strstr(why, "K+M"));
		assert_int_equal(k, 9); /* untouched on error */
	}
	assert_int_equal(placement_ec_parse("0+2", 16, &k, &m, &why), CN_EBADARG);
	assert_non_null(strstr(why, "at least 1"));
	assert_int_equal(placement_ec_parse("10+7", 20, &k, &m, &why), CN_EBADARG);
	assert_non_null(strstr(why, "DATA_MAX_SHARDS"));
	assert_int_equal(placement_ec_parse("2+2", 3, &k, &m, &why), CN_EBADARG);
	assert_non_null(strstr(why, "eligible nodes"));
	assert_int_equal(placement_ec_parse("2+1", 3, &k, &m, &why), 0);
}

/* ---- pg_of ---- */

static void test_pg_of(void **state)
{
	uint8_t id[DATA_ID_LEN] = {0};
	int hist[256] = {0};

	(void)state;
	/* pinned: a change here moves every blob's group (format) */
	for (int i = 0; i < DATA_ID_LEN; i++)
		id[i] = (uint8_t)i;
	assert_int_equal(placement_pg_of(id, 256), 144);
	assert_int_equal(placement_pg_of(id, 1u << 16), 38800);
	memset(id, 0, sizeof(id));
	for (uint32_t i = 0; i < 65536; i++) {
		uint32_t pg;
		memcpy(id, &i, sizeof(i));
		id[8] = (uint8_t)(i * 7);
		pg = placement_pg_of(id, 256);
		assert_true(pg < 256);
		hist[pg]++;
	}
	/* 256 cells of mean 256, sd 16: 6 sd either side never happens */
	for (int i = 0; i < 256; i++)
		assert_true(hist[i] > 256 - 96 && hist[i] < 256 + 96);
	assert_int_equal(placement_pg_of(id, 1), 0);
}

/* ---- rules ---- */

static void test_determinism_permutations(void **state)
{
	static const char *const zones[] = {"a", "b", "c", "a", "b", "c", "a", ""};
	struct fix f, g;
	struct placement_table t0, t1;
	uint64_t rng = 12345;

	(void)state;
	build(&f, 8, 3, zones);
	f.drives[4].weight = 3000;
	f.drives[9].state = PLACEMENT_DRAINING;
	compute(&f, 4, 2, 256, NULL, &t0);
	check_rules(&f, &t0);
	for (int round = 0; round < 10; round++) {
		g = f;
		/* Fisher-Yates on both arrays; drives keep their node by id */
		for (int i = g.n_nodes - 1; i > 0; i--) {
			rng = rng * 6364136223846793005ull + 1442695040888963407ull;
			int j = (int)((rng >> 33) % (uint64_t)(i + 1));
			struct placement_node x = g.nodes[i];
			g.nodes[i] = g.nodes[j];
			g.nodes[j] = x;
		}
		for (int i = g.n_drives - 1; i > 0; i--) {
			rng = rng * 6364136223846793005ull + 1442695040888963407ull;
			int j = (int)((rng >> 33) % (uint64_t)(i + 1));
			struct placement_drive x = g.drives[i];
			g.drives[i] = g.drives[j];
			g.drives[j] = x;
		}
		compute(&g, 4, 2, 256, NULL, &t1);
		assert_memory_equal(t0.digest, t1.digest, sizeof(t0.digest));
		assert_memory_equal(t0.slot, t1.slot, 256 * 6 * DATA_ID_LEN);
		placement_table_release(&t1);
	}
	placement_table_release(&t0);
}

static void test_distinct_nodes(void **state)
{
	struct fix f;
	struct placement_table t;

	(void)state;
	/* many drives per node, a few heavy ones that would love to double up */
	for (int n = 3; n <= 12; n += 3) {
		build(&f, n, 4, NULL);
		f.drives[0].weight = f.drives[1].weight = 50000;
		uint8_t k, m;
		placement_default_ec(n, &k, &m);
		compute(&f, k, m, 256, NULL, &t);
		assert_int_equal(t.k, k);
		assert_int_equal(t.m, m);
		check_rules(&f, &t);
		placement_table_release(&t);
	}
	/* width equal to the node count: every node in every group */
	build(&f, 6, 2, NULL);
	compute(&f, 4, 2, 64, NULL, &t);
	check_rules(&f, &t);
	placement_table_release(&t);
}

/* Shards per zone of each group: max over groups of (max - min) among
 * zones that still had an unused eligible node, and the distinct count. */
static void zone_stats(const struct fix *f, const struct placement_table *t, int n_zones,
		       const char *const *names, int *min_distinct)
{
	int w = t->k + t->m;

	*min_distinct = 99;
	for (uint32_t pg = 0; pg < t->pg_count; pg++) {
		int cnt[8] = {0}, cap[8] = {0}, distinct = 0, hi = 0, lo = 99;
		for (int i = 0; i < w; i++) {
			const struct placement_drive *d =
				drive_by_id(f, placement_table_pg(t, pg)[i]);
			const struct placement_node *n = node_by_id(f, d->node);
			for (int z = 0; z < n_zones; z++)
				if (strcmp(n->zone, names[z]) == 0)
					cnt[z]++;
		}
		for (int i = 0; i < f->n_nodes; i++)
			for (int z = 0; z < n_zones; z++)
				if (strcmp(f->nodes[i].zone, names[z]) == 0)
					cap[z]++;
		for (int z = 0; z < n_zones; z++) {
			distinct += cnt[z] > 0;
			if (cnt[z] > hi)
				hi = cnt[z];
			if (cnt[z] < cap[z] && cnt[z] < lo) /* zone not exhausted */
				lo = cnt[z];
		}
		/* a zone with nodes left never has 2 fewer than the fullest */
		assert_true(lo == 99 || hi - lo <= 1);
		if (distinct < *min_distinct)
			*min_distinct = distinct;
	}
}

static void test_zones(void **state)
{
	static const char *const z3[] = {"a", "a", "a", "b", "b", "b", "c", "c", "c"};
	static const char *const n3[] = {"a", "b", "c"};
	static const char *const z2[] = {"x", "y", "x", "y", "x", "y", "x", "y"};
	static const char *const n2[] = {"x", "y"};
	static const char *const zu[] = {"p", "q", "q", "q", "q", "q"};
	static const char *const nu[] = {"p", "q"};
	struct fix f;
	struct placement_table t;
	int distinct;

	(void)state;
	/* 3 zones, 2+1: one shard per zone, always */
	build(&f, 9, 2, z3);
	compute(&f, 2, 1, 256, NULL, &t);
	check_rules(&f, &t);
	zone_stats(&f, &t, 3, n3, &distinct);
	assert_int_equal(distinct, 3);
	placement_table_release(&t);
	/* 3 zones, 4+2: two per zone exactly */
	compute(&f, 4, 2, 256, NULL, &t);
	zone_stats(&f, &t, 3, n3, &distinct);
	assert_int_equal(distinct, 3);
	placement_table_release(&t);
	/* 2 zones, 2+1 (odd width): 2 and 1 */
	build(&f, 8, 1, z2);
	compute(&f, 2, 1, 256, NULL, &t);
	zone_stats(&f, &t, 2, n2, &distinct);
	assert_int_equal(distinct, 2);
	placement_table_release(&t);
	/* uneven zones: p has one node, so q takes the rest */
	build(&f, 6, 1, zu);
	compute(&f, 3, 2, 256, NULL, &t);
	zone_stats(&f, &t, 2, nu, &distinct);
	assert_int_equal(distinct, 2);
	check_rules(&f, &t);
	placement_table_release(&t);
}

static void test_ineligible(void **state)
{
	struct fix f;
	struct placement_table t;
	struct placement_map map;
	int cnt[MAXD];

	(void)state;
	build(&f, 8, 2, NULL);
	f.nodes[1].state = PLACEMENT_DOWN;
	f.nodes[2].state = PLACEMENT_DRAINING;
	f.nodes[3].state = PLACEMENT_REMOVED;
	f.drives[8].state = PLACEMENT_DOWN;	 /* node 4 */
	f.drives[10].state = PLACEMENT_DRAINING; /* node 5 */
	f.drives[12].state = PLACEMENT_REMOVED;	 /* node 6 */
	f.drives[14].weight = 0;		 /* node 7 */
	map = map_of(&f);
	assert_int_equal(placement_eligible_nodes(&map), 5);
	compute(&f, 3, 2, 256, NULL, &t);
	check_rules(&f, &t);
	count_slots(&f, &t, cnt);
	assert_true(cnt[0] > 0 && cnt[9] > 0 && cnt[15] > 0);
	placement_table_release(&t);
	/* too few eligible nodes for the width: refused, out untouched */
	memset(&t, 0xab, sizeof(t));
	assert_int_equal(placement_compute(&map, 4, 2, 256, 1, NULL, &t), CN_EINVAL);
	assert_int_equal(t.k, 0xab);
	f.drives[9].state = PLACEMENT_DOWN; /* node 4 loses its last drive */
	map = map_of(&f);
	assert_int_equal(placement_eligible_nodes(&map), 4);
	assert_int_equal(placement_compute(&map, 3, 2, 256, 1, NULL, &t), CN_EINVAL);
}

static void test_bad_input(void **state)
{
	struct fix f;
	struct placement_table t = {0};
	struct placement_map map;

	(void)state;
	build(&f, 4, 1, NULL);
	map = map_of(&f);
	assert_int_equal(placement_compute(&map, 2, 1, 100, 1, NULL, &t), CN_EINVAL);
	assert_int_equal(placement_compute(&map, 2, 1, 0, 1, NULL, &t), CN_EINVAL);
	assert_int_equal(placement_compute(&map, 2, 1, 1u << 17, 1, NULL, &t), CN_EINVAL);
	assert_int_equal(placement_compute(&map, 0, 1, 256, 1, NULL, &t), CN_EINVAL);
	assert_int_equal(placement_compute(&map, 10, 7, 256, 1, NULL, &t), CN_EINVAL);
	assert_int_equal(placement_compute(NULL, 2, 1, 256, 1, NULL, &t), CN_EINVAL);
	memcpy(f.drives[3].id, f.drives[2].id, DATA_ID_LEN); /* duplicate drive */
	assert_int_equal(placement_compute(&map, 2, 1, 256, 1, NULL, &t), CN_EINVAL);
	build(&f, 4, 1, NULL);
	f.nodes[3].id = f.nodes[0].id; /* duplicate node (and drive 3 now on node 0) */
	assert_int_equal(placement_compute(&map, 2, 1, 256, 1, NULL, &t), CN_EINVAL);
	build(&f, 4, 1, NULL);
	f.drives[0].node = 999; /* unknown node */
	assert_int_equal(placement_compute(&map, 2, 1, 256, 1, NULL, &t), CN_EINVAL);
	build(&f, 4, 1, NULL);
	memset(f.nodes[0].zone, 'z', sizeof(f.nodes[0].zone)); /* no NUL */
	assert_int_equal(placement_compute(&map, 2, 1, 256, 1, NULL, &t), CN_EINVAL);
	assert_null(t.slot);
	build(&f, 4, 1, NULL);
	assert_int_equal(placement_compute(&map, 2, 1, 1, 1, NULL, &t), 0); /* one group */
	check_rules(&f, &t);
	placement_table_release(&t);
}

/* ---- statistics ---- */

/*
 * 8 nodes x 1 drive, 4+2, 256 groups: a drive is in a group with p = 6/8,
 * so its count is Binomial(256, 0.75): mean 192, sd 6.93. +-15% is 28.8 =
 * 4.2 sd, which a fair hash exceeds with probability ~3e-5 per drive, 2e-4
 * for the eight (with 16 drives at 2+1 the same 15% would be under 1 sd:
 * too tight to mean anything, so that case gets a 4.5 sd bound instead).
 */
static void test_uniformity(void **state)
{
	struct fix f;
	struct placement_table t;
	int cnt[MAXD], hi = 0, lo = 1 << 30;

	(void)state;
	build(&f, 8, 1, NULL);
	compute(&f, 4, 2, 256, NULL, &t);
	count_slots(&f, &t, cnt);
	for (int i = 0; i < f.n_drives; i++) {
		hi = cnt[i] > hi ? cnt[i] : hi;
		lo = cnt[i] < lo ? cnt[i] : lo;
		assert_true(fabs(cnt[i] - 192.0) <= 0.15 * 192);
	}
	print_message("uniformity 8x1 4+2: mean 192, min %d max %d (%.1f%%/+%.1f%%)\n", lo, hi,
		      100.0 * (lo - 192) / 192, 100.0 * (hi - 192) / 192);
	placement_table_release(&t);

	/* 16 nodes x 2 drives, 2+1: p = 3/32, mean 24, sd 4.67 -> 4.5 sd = 21 */
	build(&f, 16, 2, NULL);
	compute(&f, 2, 1, 256, NULL, &t);
	count_slots(&f, &t, cnt);
	hi = 0;
	lo = 1 << 30;
	for (int i = 0; i < f.n_drives; i++) {
		hi = cnt[i] > hi ? cnt[i] : hi;
		lo = cnt[i] < lo ? cnt[i] : lo;
		assert_true(fabs(cnt[i] - 24.0) <= 4.5 * 4.67);
	}
	print_message("uniformity 16x2 2+1: mean 24, min %d max %d\n", lo, hi);
	placement_table_release(&t);
}

/* P(a weight-2 node is among the first w of an exponential race with
 * `light` weight-1 nodes): the exact target for the across-node ratio, which
 * is below 2 because a node holds at most one shard of a group. */
static double heavy_share(int light, int w)
{
	double p = 0, none = 1;

	for (int j = 0; j < w; j++) {
		double rest = 2.0 + light - j;
		p += none * 2.0 / rest;
		none *= (light - j) / rest;
	}
	return p;
}

/*
 * Within a node (4096 groups, the node is in every group of a 4+2 on 6
 * nodes): its drives of weight 2000 and 1000 get a share p = 2/3 of 4096,
 * sd(p) = 0.0074, so the ratio p/(1-p) = 2 has sd 9 * 0.0074 = 0.066; +-0.3
 * is 4.5 sd. Across nodes (16 nodes, 2+1, 4096 groups): the heavy node's
 * expected count is heavy_share() * 4096 = 1355 (ratio 1.86 to a light
 * node, not 2: see heavy_share); sd ~30, bound 4.5 sd.
 */
static void test_weight_proportional(void **state)
{
	struct fix f;
	struct placement_table t;
	int cnt[MAXD];
	double ratio, want, light = 0;

	(void)state;
	build(&f, 6, 2, NULL);
	f.drives[0].weight = 2000; /* node 0: 2000 + 1000 */
	compute(&f, 4, 2, 4096, NULL, &t);
	count_slots(&f, &t, cnt);
	assert_int_equal(cnt[0] + cnt[1], 4096);
	ratio = (double)cnt[0] / cnt[1];
	print_message("within a node, weight 2:1 -> slots %d:%d (%.3f)\n", cnt[0], cnt[1], ratio);
	assert_true(fabs(ratio - 2.0) <= 0.3);
	placement_table_release(&t);

	build(&f, 16, 1, NULL);
	f.drives[0].weight = 2000;
	compute(&f, 2, 1, 4096, NULL, &t);
	count_slots(&f, &t, cnt);
	want = heavy_share(15, 3) * 4096;
	for (int i = 1; i < 16; i++)
		light += cnt[i] / 15.0;
	print_message("across nodes, weight 2:1 -> slots %d : %.1f mean (%.3f, expected %.0f : "
		      "%.1f = %.3f)\n",
		      cnt[0], light, cnt[0] / light, want, (3 * 4096 - want) / 15,
		      want / ((3 * 4096 - want) / 15));
	assert_true(fabs(cnt[0] - want) <= 4.5 * sqrt(want * (1 - want / 4096)));
	assert_true(cnt[0] / light > 1.6);
	placement_table_release(&t);
}

/* ---- movement and diff ---- */

struct moves {
	const struct fix *f;
	uint64_t to_node, from_node; /* 0: any */
	int n, wrong;
};

static int on_move(void *arg, uint32_t pg, unsigned slot, const uint8_t from[DATA_ID_LEN],
		   const uint8_t to[DATA_ID_LEN])
{
	struct moves *mv = arg;

	(void)pg;
	(void)slot;
	mv->n++;
	if (mv->to_node && drive_by_id(mv->f, to)->node != mv->to_node)
		mv->wrong++;
	if (mv->from_node && drive_by_id(mv->f, from)->node != mv->from_node)
		mv->wrong++;
	return 0;
}

/*
 * Adding a 9th node to 8 (4+2, 256 groups): the new node joins a group with
 * p = 6/9, Binomial(256, 2/3): mean 170.7, sd 7.5. Each join moves exactly
 * one slot, to the new node; bound 170.7 + 4.5 sd = 205 moves of 1536 slots
 * (13.3%). Nothing may move between old nodes.
 */
static void test_movement_add_node(void **state)
{
	struct fix f;
	struct placement_table t0, t1, t2;
	struct moves mv = {0};
	int cnt[MAXD], on_new = 0;

	(void)state;
	build(&f, 8, 2, NULL);
	compute(&f, 4, 2, 256, NULL, &t0);
	int n = add_node(&f, NULL);
	add_drive(&f, n, 1000);
	add_drive(&f, n, 1000);
	compute(&f, 4, 2, 256, &t0, &t1);
	check_rules(&f, &t1);
	count_slots(&f, &t1, cnt);
	on_new = cnt[16] + cnt[17];
	mv.f = &f;
	mv.to_node = f.nodes[n].id;
	assert_int_equal(placement_diff(&t0, &t1, on_move, &mv), on_new);
	print_message("add node 9 to 8 (4+2): %d of 1536 slots moved (%.1f%%, expected %.1f), "
		      "%d not to the new node\n",
		      mv.n, 100.0 * mv.n / 1536, 256 * 6.0 / 9, mv.wrong);
	assert_int_equal(mv.wrong, 0);
	assert_true(mv.n <= 205);
	assert_true(mv.n >= 136); /* and it does take its share */

	/* without the previous table, slots are in rank order: far more moves,
	 * which is why the layout is derived from the one in force */
	compute(&f, 4, 2, 256, NULL, &t2);
	print_message("  (recomputed without prev: %d moves)\n",
		      placement_diff(&t0, &t2, NULL, NULL));
	assert_true(placement_diff(&t0, &t2, NULL, NULL) > mv.n);
	placement_table_release(&t2);
	placement_table_release(&t1);
	placement_table_release(&t0);
}

/* Removing (or draining) a node moves exactly the slots it held, from it. */
static void test_movement_remove_node(void **state)
{
	struct fix f;
	struct placement_table t0, t1, t2;
	struct moves mv = {0};
	int cnt[MAXD];

	(void)state;
	build(&f, 9, 2, NULL);
	compute(&f, 4, 2, 256, NULL, &t0);
	count_slots(&f, &t0, cnt);
	f.nodes[3].state = PLACEMENT_REMOVED;
	compute(&f, 4, 2, 256, &t0, &t1);
	check_rules(&f, &t1);
	mv.f = &f;
	mv.from_node = f.nodes[3].id;
	assert_int_equal(placement_diff(&t0, &t1, on_move, &mv), cnt[6] + cnt[7]);
	assert_int_equal(mv.wrong, 0);
	print_message("remove 1 of 9 nodes (4+2): %d slots moved, all from it\n", mv.n);

	/* draining one drive: only its slots move, to the other drive of the
	 * same node where that node stays chosen (a local copy) */
	f.nodes[3].state = PLACEMENT_UP;
	f.drives[0].state = PLACEMENT_DRAINING;
	compute(&f, 4, 2, 256, &t0, &t2);
	check_rules(&f, &t2);
	memset(&mv, 0, sizeof(mv));
	mv.f = &f;
	assert_int_equal(placement_diff(&t0, &t2, on_move, &mv), cnt[0]);
	placement_table_release(&t2);
	placement_table_release(&t1);
	placement_table_release(&t0);
}

/*
 * With zones whose count divides the width (3 zones, 2+1) a group takes the
 * best node of each zone, so a node added to zone a can only take zone a's
 * shard: every move goes to the new node, in ~1/4 of the groups (it is one
 * of 4 nodes in a): Binomial(256, 1/4), mean 64, sd 6.9, bound 64 + 4.5 sd.
 */
static void test_movement_zones(void **state)
{
	static const char *const z[] = {"a", "b", "c", "a", "b", "c", "a", "b", "c"};
	struct fix f;
	struct placement_table t0, t1;
	struct moves mv = {0};

	(void)state;
	build(&f, 9, 1, z);
	compute(&f, 2, 1, 256, NULL, &t0);
	int n = add_node(&f, "a");
	add_drive(&f, n, 1000);
	compute(&f, 2, 1, 256, &t0, &t1);
	mv.f = &f;
	mv.to_node = f.nodes[n].id;
	assert_true(placement_diff(&t0, &t1, on_move, &mv) >= 0);
	print_message("add a node to zone a (3 zones, 2+1): %d of 768 slots moved\n", mv.n);
	assert_int_equal(mv.wrong, 0);
	assert_true(mv.n > 0 && mv.n <= 95);
	placement_table_release(&t1);
	placement_table_release(&t0);
}

struct rec {
	int n;
	uint32_t pg[8];
	unsigned slot[8];
	uint8_t from[8], to[8];
};

static int record(void *arg, uint32_t pg, unsigned slot, const uint8_t from[DATA_ID_LEN],
		  const uint8_t to[DATA_ID_LEN])
{
	struct rec *r = arg;

	if (r->n == 3)
		return CN_EBUSY;
	r->pg[r->n] = pg;
	r->slot[r->n] = slot;
	r->from[r->n] = from[15];
	r->to[r->n] = to[15];
	r->n++;
	return 0;
}

static void test_diff(void **state)
{
	struct fix f;
	struct placement_table a, b, c, d, d2;
	struct rec r = {0};
	uint8_t save[DATA_ID_LEN];

	(void)state;
	build(&f, 5, 1, NULL);
	compute(&f, 2, 1, 16, NULL, &a);
	compute(&f, 2, 1, 16, NULL, &b);
	b.epoch = 99;
	/* same layout, another epoch: same digest, no moves */
	assert_memory_equal(a.digest, b.digest, 16);
	assert_int_equal(placement_diff(&a, &b, record, &r), 0);
	assert_int_equal(r.n, 0);

	/* hand-made changes at (3, 1) and (9, 0) and (9, 2) */
	memcpy(save, b.slot[3 * 3 + 1], DATA_ID_LEN);
	memset(b.slot[3 * 3 + 1], 0xee, DATA_ID_LEN);
	memset(b.slot[9 * 3 + 0], 0xe1, DATA_ID_LEN);
	memset(b.slot[9 * 3 + 2], 0xe2, DATA_ID_LEN);
	assert_int_equal(placement_diff(&a, &b, record, &r), 3);
	assert_int_equal(r.pg[0], 3);
	assert_int_equal(r.slot[0], 1);
	assert_int_equal(r.from[0], save[15]);
	assert_int_equal(r.to[0], 0xee);
	assert_int_equal(r.pg[1], 9);
	assert_int_equal(r.slot[1], 0);
	assert_int_equal(r.to[1], 0xe1);
	assert_int_equal(r.pg[2], 9);
	assert_int_equal(r.slot[2], 2);
	assert_int_equal(r.to[2], 0xe2);
	/* a fourth move is stopped by the callback's code */
	memset(b.slot[15 * 3], 0xe3, DATA_ID_LEN);
	r.n = 0;
	assert_int_equal(placement_diff(&a, &b, record, &r), CN_EBUSY);
	assert_int_equal(placement_diff(&a, &b, NULL, NULL), 4);

	/* shapes that cannot be compared */
	compute(&f, 3, 1, 16, NULL, &c);
	compute(&f, 2, 1, 32, NULL, &d);
	assert_int_equal(placement_diff(&a, &c, NULL, NULL), CN_EINVAL);
	assert_int_equal(placement_diff(&a, &d, NULL, NULL), CN_EINVAL);
	assert_memory_not_equal(a.digest, c.digest, 16);

	/* any change of layout changes the digest; the epoch rides beside it */
	f.drives[2].weight = 3000;
	compute(&f, 2, 1, 16, NULL, &d2);
	assert_true(placement_diff(&a, &d2, NULL, NULL) > 0);
	assert_memory_not_equal(a.digest, d2.digest, 16);
	assert_int_equal(a.epoch, 7);
	placement_table_release(&d2);
	placement_table_release(&d);
	placement_table_release(&c);
	placement_table_release(&b);
	placement_table_release(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_ec),
		cmocka_unit_test(test_ec_parse),
		cmocka_unit_test(test_pg_of),
		cmocka_unit_test(test_determinism_permutations),
		cmocka_unit_test(test_distinct_nodes),
		cmocka_unit_test(test_zones),
		cmocka_unit_test(test_ineligible),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_uniformity),
		cmocka_unit_test(test_weight_proportional),
		cmocka_unit_test(test_movement_add_node),
		cmocka_unit_test(test_movement_remove_node),
		cmocka_unit_test(test_movement_zones),
		cmocka_unit_test(test_diff),
	};

	unit_filter_from_env();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
