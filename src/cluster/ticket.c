/*
 * cluster/ticket.c — a leader's reads confirmed by the shard reads they make
 * (see ticket.h for the argument).
 */
#include "cluster/ticket.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "meta/meta.h"

struct ticket_key {
	const char *bucket;
	size_t bucket_len;
	const char *key; /* NULL: the write reads nothing of its own key */
	size_t key_len;
};

struct read_tickets {
	pthread_mutex_t mu;
	/* 0: no tickets. Written under mu; atomic so that a shard call reads
	 * it without the lock (cluster_confirm_ask) */
	_Atomic uint64_t term;
	uint64_t commit, visible;
	uint64_t gen; /* bumped when the voters change */
	int need, n;
	char voter[CLUSTER_MAX_NODES][CLUSTER_ADDR_MAX + 1];
	/* the newest yes of each node that gave one */
	struct {
		char addr[CLUSTER_ADDR_MAX + 1];
		uint64_t term, seq;
	} yes[CLUSTER_MAX_NODES];
	int n_yes;
	_Atomic uint64_t seq;	  /* calls numbered so far */
	_Atomic uint64_t read_ns; /* read_seen */
	/* What the entries applied since the store's last commit changed
	 * (tickets_touch): `more` if anything but object keys, else a bit per
	 * key hash in `keys`. Set by the Raft thread without mu, cleared
	 * under it (tickets_visible); read under it. */
	uint64_t applied; /* the Raft thread's last applied index, published */
	_Atomic int more;
	int any_key;
	_Atomic uint64_t keys[TICKET_KEY_BITS / 64];
};

struct read_tickets *tickets_new(void)
{
	struct read_tickets *t = calloc(1, sizeof(*t));

	if (t)
		pthread_mutex_init(&t->mu, NULL);
	return t;
}

void tickets_free(struct read_tickets *t)
{
	if (!t)
		return;
	pthread_mutex_destroy(&t->mu);
	free(t);
}

void tickets_publish(struct read_tickets *t, uint64_t term, uint64_t commit, uint64_t applied,
		     uint64_t visible, const char *const *voters, int n, int need)
{
	int same;

	if (n > CLUSTER_MAX_NODES)
		term = 0, n = 0;
	same = n == t->n;
	pthread_mutex_lock(&t->mu);
	for (int i = 0; same && i < n; i++)
		same = strcmp(t->voter[i], voters[i]) == 0;
	if (!same) {
		t->gen++;
		for (int i = 0; i < n; i++)
			strcpy(t->voter[i], voters[i]);
		t->n = n;
	}
	t->term = term;
	t->commit = commit;
	t->applied = applied;
	t->visible = visible;
	t->need = need;
	pthread_mutex_unlock(&t->mu);
}

void tickets_visible(struct read_tickets *t, uint64_t visible)
{
	pthread_mutex_lock(&t->mu);
	t->visible = visible;
	/* every touch so far is at or below visible: the store shows it */
	atomic_store_explicit(&t->more, 0, memory_order_relaxed);
	if (t->any_key) {
		for (size_t i = 0; i < TICKET_KEY_BITS / 64; i++)
			atomic_store_explicit(&t->keys[i], 0, memory_order_relaxed);
		t->any_key = 0;
	}
	pthread_mutex_unlock(&t->mu);
}

int tickets_batch_spares(struct read_tickets *t, int reads_key, uint64_t hash)
{
	uint64_t bit = hash % TICKET_KEY_BITS;

	if (atomic_load_explicit(&t->more, memory_order_relaxed))
		return 0;
	return !reads_key ||
	       !(atomic_load_explicit(&t->keys[bit / 64], memory_order_relaxed) >> (bit % 64) & 1);
}

void tickets_touch(struct read_tickets *t, int what, uint64_t hash)
{
	uint64_t bit = hash % TICKET_KEY_BITS;

	if (what == META_TOUCH_KEY) {
		atomic_fetch_or_explicit(&t->keys[bit / 64], (uint64_t)1 << (bit % 64),
					 memory_order_relaxed);
		t->any_key = 1;
	} else if (what != META_TOUCH_NONE) {
		atomic_store_explicit(&t->more, 1, memory_order_relaxed);
	}
}

static void read_seen(struct read_tickets *t)
{
	uint64_t now = cn_mono_ns();

	/* (written at most once a millisecond: every GET on every loop
	 * comes here, and the line is the Raft thread's to read) */
	if (now - atomic_load_explicit(&t->read_ns, memory_order_relaxed) > 1000000)
		atomic_store_explicit(&t->read_ns, now, memory_order_relaxed);
}

uint64_t tickets_last_read(struct read_tickets *t)
{
	return atomic_load_explicit(&t->read_ns, memory_order_relaxed);
}

/* Fills *out from the published view when this node is the ready leader
 * of a term it still follows, and *shows with whether its store shows
 * what the request reads before its command; 0 or CN_EAGAIN. For a read
 * (key NULL) that is everything up to the commit index. For a write, the
 * entries up to the commit index that the store does not show yet (its
 * open batch) may be left out when every one of them is applied and
 * changed object keys only, none of them the write's own if it reads it
 * (ticket.h). */
static int take_ticket(struct cluster *c, const struct ticket_key *key, struct cluster_ticket *out,
		       int *shows)
{
	struct read_tickets *t = cluster_tickets(c);
	uint64_t hash = key && key->key ? meta_key_hash(key->bucket, key->bucket_len, key->key,
							key->key_len)
					: 0;
	int rc = CN_EAGAIN;

	/* (the store commits every turn while reads ask for tickets: their
	 * answers need it to show the commit index) */
	if (!key && atomic_load_explicit(&t->term, memory_order_relaxed))
		read_seen(t);
	pthread_mutex_lock(&t->mu);
	if (t->term && t->need > 0 && cluster_follows(c, t->term)) {
		out->term = t->term;
		out->gen = t->gen;
		/* calls numbered after this one were made after the request came */
		out->seq = atomic_load(&t->seq);
		out->index = t->commit;
		*shows = t->visible >= t->commit;
		if (!*shows && key && t->applied >= t->commit)
			*shows = tickets_batch_spares(t, key->key != NULL, hash);
		rc = 0;
	}
	pthread_mutex_unlock(&t->mu);
	return rc;
}

int cluster_read_ticket(struct cluster *c, struct cluster_ticket *out)
{
	int shows = 0;
	int rc = take_ticket(c, NULL, out, &shows);

	return rc ? rc : shows ? 0 : CN_EAGAIN;
}

int cluster_write_ticket(struct cluster *c, const char *bucket, const char *key, size_t key_len,
			 int reads_key, struct cluster_ticket *out)
{
	struct ticket_key k = {bucket, strlen(bucket), reads_key ? key : NULL, key_len};
	int shows = 0;
	int rc = take_ticket(c, &k, out, &shows);

	return rc ? rc : shows ? 0 : 1;
}

int cluster_ticket_confirmed(struct cluster *c, const struct cluster_ticket *tk)
{
	struct read_tickets *t = cluster_tickets(c);
	int got = 0, need = 1;

	pthread_mutex_lock(&t->mu);
	if (t->term == tk->term && t->gen == tk->gen) {
		need = t->need;
		for (int i = 0; i < t->n; i++)
			for (int j = 0; j < t->n_yes; j++)
				if (t->yes[j].term == tk->term && t->yes[j].seq > tk->seq &&
				    strcmp(t->yes[j].addr, t->voter[i]) == 0) {
					got++;
					break;
				}
	}
	pthread_mutex_unlock(&t->mu);
	/* this node's own part: it has voted in no later term, up to now */
	return got >= need && cluster_follows(c, tk->term);
}

uint64_t cluster_confirm_ask(struct cluster *c, uint64_t *seq)
{
	struct read_tickets *t = cluster_tickets(c);
	/* the term needs no order with the number: a yes counts only for a
	 * ticket of the term it was asked with and a number taken after it */
	uint64_t term = atomic_load_explicit(&t->term, memory_order_relaxed);

	*seq = term ? atomic_fetch_add(&t->seq, 1) + 1 : 0;
	return term;
}

void cluster_confirm_yes(struct cluster *c, const char *addr, uint64_t term, uint64_t seq)
{
	struct read_tickets *t = cluster_tickets(c);
	int i, oldest = 0;

	if (!term || strlen(addr) > CLUSTER_ADDR_MAX)
		return;
	pthread_mutex_lock(&t->mu);
	for (i = 0; i < t->n_yes; i++) {
		if (strcmp(t->yes[i].addr, addr) == 0)
			break;
		if (t->yes[i].term < t->yes[oldest].term)
			oldest = i;
	}
	if (i == t->n_yes) {
		/* a node not seen yet: a free slot, else the stalest one */
		if (t->n_yes < CLUSTER_MAX_NODES)
			t->n_yes++;
		else
			i = oldest;
		strcpy(t->yes[i].addr, addr);
		t->yes[i].term = 0;
		t->yes[i].seq = 0;
	}
	if (term > t->yes[i].term) {
		t->yes[i].term = term;
		t->yes[i].seq = seq;
	} else if (term == t->yes[i].term && seq > t->yes[i].seq) {
		t->yes[i].seq = seq;
	}
	pthread_mutex_unlock(&t->mu);
}
