/*
 * cluster/placement.c — placement groups by weighted rendezvous hashing.
 *
 * Layer: cluster, pure. No I/O, no globals, no clock; the only allocations
 * are placement_compute's scratch and the table it returns.
 *
 * Algorithm, per placement group pg:
 *  1. every eligible drive d gets key(pg, d) = -ln(u) / weight, u in (0, 1)
 *     from XXH3-64(pg, drive id): an exponential variable of rate weight, so
 *     the smallest key wins with probability weight / total ("highest random
 *     weight" with weights, Schindelhauer & Schomaker's logarithmic method);
 *  2. a node's key is its best drive's key: the minimum of exponentials is
 *     exponential with the summed rate, so a node competes with the sum of
 *     its drives' weights and its winning drive is weight-proportional;
 *  3. nodes are ranked by key (ties: smaller drive id) and taken in rank
 *     order, at most one per zone per pass (cap 1, then 2, ...) until k+m are
 *     taken. Without zones every node is its own zone, so this is simply the
 *     k+m best nodes. With zones it spreads over distinct zones first and
 *     then as evenly as the zones' node counts allow (water filling: per-zone
 *     counts differ by at most one unless a zone has no node left);
 *  4. slots: a drive the previous table had in this group keeps its slot; a
 *     new drive on the node of a departing one takes that slot (a local
 *     copy); the rest fill the free slots in rank order.
 *
 * Movement (no zones, prev given): adding a node changes a group only if the
 * node ranks among its k+m best, probability ~(k+m)/N of the groups for N
 * nodes after the add; it then displaces exactly one member, so one slot
 * moves, to the new node: ~1/N of all slots, none between old nodes.
 * Removing (or draining, or downing) a node moves exactly the slots it held.
 * With zones, a change in one zone's ranking can also shift which zone gets
 * the extra shard of a partial pass, so a few moves more are possible.
 *
 * Determinism: keys depend only on (pg, drive id, weight); nodes, drives and
 * zones are indexed after sorting by id (zones by first node in id order),
 * never by input or pointer order. -ln() is libm's: the table is computed
 * once by the leader and committed, so another libm differing in the last
 * ulp could only matter to a recomputation, and the digest would show it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "cluster/placement.h"
#include "core/err.h"

/* Seeds keep these hashes independent of other XXH3 uses of the same ids
 * (data/writer.c's start drive). Changing one moves every blob: format. */
#define SEED_PG 0x636169726e2d7067ull  /* "cairn-pg" */
#define SEED_HRW 0x636169726e2d6877ull /* "cairn-hw" */

/* Defaults, by eligible node count. Up to 6 nodes every node holds a shard
 * (the 2+1, 2+2, 4+2; 1+1 mirrors two nodes; 3+2 on 5). From 7 on,
 * one node is left spare so a lost node's shards can be re-placed on a
 * distinct node at once, and width stops at 11: a wider stripe makes every
 * read fan out further and every rebuild read k shards per lost one. */
static const struct {
	int min_nodes;
	uint8_t k, m;
} ec_defaults[] = {
	{1, 1, 0}, {2, 1, 1}, {3, 2, 1}, {4, 2, 2},  {5, 3, 2},
	{6, 4, 2}, {7, 4, 2}, {9, 6, 2}, {12, 8, 3},
};

void placement_default_ec(int n_nodes, uint8_t *k, uint8_t *m)
{
	size_t i = 0;

	while (i + 1 < sizeof(ec_defaults) / sizeof(ec_defaults[0]) &&
	       ec_defaults[i + 1].min_nodes <= n_nodes)
		i++;
	*k = ec_defaults[i].k;
	*m = ec_defaults[i].m;
}

/* Decimal digits up to a delimiter; at most 3 digits so no overflow. */
static const char *parse_num(const char *p, unsigned *out)
{
	unsigned v = 0;
	int n = 0;

	while (*p >= '0' && *p <= '9') {
		if (++n > 3)
			return NULL;
		v = v * 10 + (unsigned)(*p++ - '0');
	}
	if (n == 0)
		return NULL;
	*out = v;
	return p;
}

int placement_ec_parse(const char *s, int n_nodes, uint8_t *k, uint8_t *m, const char **why)
{
	const char *msg = NULL;
	unsigned kv = 0, mv = 0;
	const char *p = s ? parse_num(s, &kv) : NULL;

	if (p == NULL || *p != '+' || (p = parse_num(p + 1, &mv)) == NULL || *p != '\0')
		msg = "expected K+M, two decimal numbers such as 4+2";
	else if (kv < 1)
		msg = "K (data shards) must be at least 1";
	else if (kv + mv > DATA_MAX_SHARDS)
		msg = "K+M exceeds the data layer's limit of DATA_MAX_SHARDS (16) shards";
	else if ((int)(kv + mv) > n_nodes)
		msg = "K+M exceeds the number of eligible nodes (every shard needs its own node)";
	if (why)
		*why = msg;
	if (msg)
		return CN_EBADARG;
	*k = (uint8_t)kv;
	*m = (uint8_t)mv;
	return 0;
}

uint32_t placement_pg_of(const uint8_t blob_id[DATA_ID_LEN], uint32_t pg_count)
{
	return (uint32_t)XXH3_64bits_withSeed(blob_id, DATA_ID_LEN, SEED_PG) & (pg_count - 1);
}

/* ---- compute ---- */

struct pnode {
	const struct placement_node *n;
	int zone;     /* index of the first node (in id order) with this zone */
	int eligible; /* has an eligible drive */
};

struct pdrive {
	const struct placement_drive *d;
	int node; /* index into the sorted nodes */
};

struct cand {
	double key;
	int node;
	int drive; /* index into the sorted eligible drives: the tie-break */
};

struct scratch {
	struct pnode *nodes;  /* sorted by id */
	struct pdrive *all;   /* every drive, sorted by id */
	struct pdrive *elig;  /* eligible drives, sorted by id */
	double *best;	      /* per node: its best key in this group */
	int *bestd;	      /* per node: that drive (index into elig) */
	struct cand *cand;    /* ranked nodes of this group */
	int *zcount;	      /* per zone: shards taken in this group */
	unsigned char *taken; /* per cand */
	int n_nodes, n_all, n_elig, n_cand;
};

static int cmp_node(const void *a, const void *b)
{
	uint64_t x = ((const struct pnode *)a)->n->id, y = ((const struct pnode *)b)->n->id;
	return x < y ? -1 : x > y;
}

static int cmp_drive(const void *a, const void *b)
{
	return memcmp(((const struct pdrive *)a)->d->id, ((const struct pdrive *)b)->d->id,
		      DATA_ID_LEN);
}

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->drive - y->drive;
}

static int find_node(const struct scratch *w, uint64_t id)
{
	int lo = 0, hi = w->n_nodes;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		if (w->nodes[mid].n->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < w->n_nodes && w->nodes[lo].n->id == id ? lo : -1;
}

/* Node index of a drive id anywhere in the map, or -1. */
static int drive_node(const struct scratch *w, const uint8_t id[DATA_ID_LEN])
{
	int lo = 0, hi = w->n_all;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		int c = memcmp(w->all[mid].d->id, id, DATA_ID_LEN);
		if (c == 0)
			return w->all[mid].node;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static void scratch_release(struct scratch *w)
{
	free(w->nodes);
	free(w->all);
	free(w->elig);
	free(w->best);
	free(w->bestd);
	free(w->cand);
	free(w->zcount);
	free(w->taken);
}

/* Sorts and checks the map, numbers zones and picks the eligible drives.
 * Returns the number of eligible nodes or an error. */
static int scratch_init(struct scratch *w, const struct placement_map *map)
{
	int nn, nd, zoned = 0, n_ok = 0;
	size_t cn, cd;

	memset(w, 0, sizeof(*w));
	if (!map || map->n_nodes < 0 || map->n_drives < 0 || (map->n_nodes && !map->nodes) ||
	    (map->n_drives && !map->drives))
		return CN_EINVAL;
	nn = map->n_nodes;
	nd = map->n_drives;
	cn = nn > 0 ? (size_t)nn : 1;
	cd = nd > 0 ? (size_t)nd : 1;
	w->nodes = calloc(cn, sizeof(*w->nodes));
	w->all = calloc(cd, sizeof(*w->all));
	w->elig = calloc(cd, sizeof(*w->elig));
	w->best = calloc(cn, sizeof(*w->best));
	w->bestd = calloc(cn, sizeof(*w->bestd));
	w->cand = calloc(cn, sizeof(*w->cand));
	w->zcount = calloc(cn, sizeof(*w->zcount));
	w->taken = calloc(cn, sizeof(*w->taken));
	if (!w->nodes || !w->all || !w->elig || !w->best || !w->bestd || !w->cand || !w->zcount ||
	    !w->taken)
		return CN_ENOMEM;
	w->n_nodes = nn;
	w->n_all = nd;

	for (int i = 0; i < nn; i++) {
		const struct placement_node *n = &map->nodes[i];
		if (memchr(n->zone, '\0', sizeof(n->zone)) == NULL)
			return CN_EINVAL;
		zoned |= n->zone[0] != '\0';
		w->nodes[i].n = n;
	}
	qsort(w->nodes, (size_t)nn, sizeof(*w->nodes), cmp_node);
	for (int i = 0; i < nn; i++) {
		if (i > 0 && w->nodes[i].n->id == w->nodes[i - 1].n->id)
			return CN_EINVAL;
		/* without zones every node is a zone of its own */
		w->nodes[i].zone = i;
		for (int j = 0; zoned && j < i; j++)
			if (strcmp(w->nodes[j].n->zone, w->nodes[i].n->zone) == 0) {
				w->nodes[i].zone = w->nodes[j].zone;
				break;
			}
	}

	for (int i = 0; i < nd; i++)
		w->all[i].d = &map->drives[i];
	qsort(w->all, (size_t)nd, sizeof(*w->all), cmp_drive);
	for (int i = 0; i < nd; i++) {
		struct pdrive *d = &w->all[i];
		if (i > 0 && cmp_drive(d, d - 1) == 0)
			return CN_EINVAL;
		if ((d->node = find_node(w, d->d->node)) < 0)
			return CN_EINVAL;
		if (d->d->state != PLACEMENT_UP || d->d->weight == 0 ||
		    w->nodes[d->node].n->state != PLACEMENT_UP)
			continue;
		w->elig[w->n_elig++] = *d;
		n_ok += !w->nodes[d->node].eligible;
		w->nodes[d->node].eligible = 1;
	}
	return n_ok;
}

static double drive_key(uint32_t pg, const struct placement_drive *d)
{
	uint8_t buf[4 + DATA_ID_LEN];
	uint64_t h;
	double u;

	buf[0] = (uint8_t)pg;
	buf[1] = (uint8_t)(pg >> 8);
	buf[2] = (uint8_t)(pg >> 16);
	buf[3] = (uint8_t)(pg >> 24);
	memcpy(buf + 4, d->id, DATA_ID_LEN);
	h = XXH3_64bits_withSeed(buf, sizeof(buf), SEED_HRW);
	u = ((double)(h >> 11) + 0.5) * 0x1p-53; /* in (0, 1): log is finite */
	return -log(u) / (double)d->weight;
}

/* Steps 1-3: the w chosen eligible drives of group pg, in rank order. */
static void choose(struct scratch *s, uint32_t pg, int w, int *chosen)
{
	int n_chosen = 0;

	for (int i = 0; i < s->n_nodes; i++) {
		s->best[i] = INFINITY;
		s->bestd[i] = -1;
	}
	for (int i = 0; i < s->n_elig; i++) {
		double key = drive_key(pg, s->elig[i].d);
		int n = s->elig[i].node;
		if (key < s->best[n]) { /* a tie keeps the smaller id */
			s->best[n] = key;
			s->bestd[n] = i;
		}
	}
	s->n_cand = 0;
	for (int i = 0; i < s->n_nodes; i++)
		if (s->bestd[i] >= 0)
			s->cand[s->n_cand++] =
				(struct cand){.key = s->best[i], .node = i, .drive = s->bestd[i]};
	qsort(s->cand, (size_t)s->n_cand, sizeof(*s->cand), cmp_cand);

	/* water filling over zones; ends since n_cand >= w (checked) */
	memset(s->taken, 0, (size_t)s->n_cand);
	for (int cap = 1; n_chosen < w; cap++)
		for (int i = 0; i < s->n_cand && n_chosen < w; i++) {
			int z = s->nodes[s->cand[i].node].zone;
			if (s->taken[i] || s->zcount[z] >= cap)
				continue;
			s->taken[i] = 1;
			s->zcount[z]++;
			chosen[n_chosen++] = s->cand[i].drive;
		}
	for (int i = 0; i < s->n_cand; i++)
		s->zcount[s->nodes[s->cand[i].node].zone] = 0;
}

/* Step 4: chosen drives into slots, keeping what old (may be NULL) had. */
static void assign(const struct scratch *s, const int *chosen, int w,
		   const uint8_t (*old)[DATA_ID_LEN], uint8_t (*slot)[DATA_ID_LEN])
{
	int at[DATA_MAX_SHARDS], placed[DATA_MAX_SHARDS] = {0};

	for (int j = 0; j < w; j++)
		at[j] = -1;
	for (int i = 0; old && i < w; i++)
		for (int j = 0; j < w; j++)
			if (at[j] < 0 &&
			    memcmp(old[j], s->elig[chosen[i]].d->id, DATA_ID_LEN) == 0) {
				at[j] = chosen[i];
				placed[i] = 1;
				break;
			}
	for (int i = 0; old && i < w; i++)
		for (int j = 0; j < w && !placed[i]; j++)
			if (at[j] < 0 && drive_node(s, old[j]) == s->elig[chosen[i]].node) {
				at[j] = chosen[i];
				placed[i] = 1;
			}
	for (int i = 0, j = 0; i < w; i++) {
		if (placed[i])
			continue;
		while (at[j] >= 0)
			j++;
		at[j] = chosen[i];
	}
	for (int j = 0; j < w; j++)
		memcpy(slot[j], s->elig[at[j]].d->id, DATA_ID_LEN);
}

static void table_digest(struct placement_table *t)
{
	size_t len = (size_t)t->pg_count * (t->k + t->m) * DATA_ID_LEN;
	uint64_t seed = (uint64_t)t->pg_count << 16 | (uint64_t)t->k << 8 | t->m;
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits_withSeed(t->slot, len, seed));
	memcpy(t->digest, c.digest, sizeof(t->digest));
}

int placement_compute(const struct placement_map *map, uint8_t k, uint8_t m, uint32_t pg_count,
		      uint64_t epoch, const struct placement_table *prev,
		      struct placement_table *out)
{
	struct scratch s;
	struct placement_table t = {.epoch = epoch, .pg_count = pg_count, .k = k, .m = m};
	int w = k + m, rc, chosen[DATA_MAX_SHARDS];
	int reuse =
		prev && prev->slot && prev->pg_count == pg_count && prev->k == k && prev->m == m;

	memset(&s, 0, sizeof(s));
	if (k < 1 || w > DATA_MAX_SHARDS || pg_count == 0 || pg_count > PLACEMENT_PG_MAX ||
	    (pg_count & (pg_count - 1)) != 0) {
		rc = CN_EINVAL;
		goto out;
	}
	rc = scratch_init(&s, map);
	if (rc < 0)
		goto out;
	if (rc < w) {
		rc = CN_EINVAL;
		goto out;
	}
	t.slot = calloc((size_t)pg_count * (size_t)w, DATA_ID_LEN);
	if (!t.slot) {
		rc = CN_ENOMEM;
		goto out;
	}
	for (uint32_t pg = 0; pg < pg_count; pg++) {
		choose(&s, pg, w, chosen);
		assign(&s, chosen, w, reuse ? placement_table_pg(prev, pg) : NULL,
		       t.slot + (size_t)pg * w);
	}
	table_digest(&t);
	*out = t;
	t.slot = NULL;
	rc = 0;
out:
	free(t.slot);
	scratch_release(&s);
	return rc;
}

void placement_table_release(struct placement_table *t)
{
	free(t->slot);
	t->slot = NULL;
}

const uint8_t (*placement_table_pg(const struct placement_table *t, uint32_t pg))[DATA_ID_LEN]
{
	return (const uint8_t(*)[DATA_ID_LEN])t->slot + (size_t)pg * (t->k + t->m);
}

int placement_eligible_nodes(const struct placement_map *map)
{
	struct scratch s;
	int rc = scratch_init(&s, map);

	scratch_release(&s);
	return rc;
}

int placement_diff(const struct placement_table *old_t, const struct placement_table *new_t,
		   placement_move_cb cb, void *arg)
{
	int w = new_t->k + new_t->m, n = 0;

	if (old_t->pg_count != new_t->pg_count || old_t->k != new_t->k || old_t->m != new_t->m)
		return CN_EINVAL;
	for (uint32_t pg = 0; pg < new_t->pg_count; pg++) {
		const uint8_t(*a)[DATA_ID_LEN] = placement_table_pg(old_t, pg);
		const uint8_t(*b)[DATA_ID_LEN] = placement_table_pg(new_t, pg);
		for (int j = 0; j < w; j++) {
			int rc;
			if (memcmp(a[j], b[j], DATA_ID_LEN) == 0)
				continue;
			n++;
			if (cb && (rc = cb(arg, pg, (unsigned)j, a[j], b[j])) != 0)
				return rc;
		}
	}
	return n;
}
