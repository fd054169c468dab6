/*
 * cluster/rejoin.c — a first-configuration node that lost its state.
 *
 * A node of --peers whose Raft directory is empty would bootstrap with the
 * id derived from its address: the id it had before its disks were wiped or
 * replaced. That node voted in terms it no longer remembers, so coming back
 * under the same id could elect two leaders in one term. Before it
 * bootstraps, it asks the other peers: if one of them has a log past the
 * bootstrap entry, the cluster exists and this node is a replacement. It
 * then takes a fresh random id (as --join does) and this module's thread
 * asks the leader, until it is a voter, to remove the member at its address
 * (that also marks the old node removed in the cluster map, which re-places
 * its shards, onto this node once it registers its new drives) and to add
 * it under the new id.
 *
 * Only a replacement is let in this way: when the leader's configuration
 * has no member at this address (a node never added, or one taken out by
 * `cluster remove`), the thread asks for nothing and stops, and the node
 * waits for `cairn admin cluster add` like a --join node. Naming a node in
 * --peers is not an operator's decision to grow the cluster.
 *
 * When no peer answers, the node cannot tell a first start from a lost
 * state and bootstraps as before (docs/ARCHITECTURE.md: limits). The
 * converse: a first start after the other peers elected a leader looks
 * like a replacement, and joins under a random id (a tombstone for the
 * derived id, which never registered a drive, stays in the map).
 *
 * Threads: cluster_probe_established runs on the main thread inside
 * cluster_open; the rejoin thread is started and joined by raft.c.
 */
#include "cluster/cluster.h"

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/thread.h"

#define PROBE_TIMEOUT_MS 1500
#define REJOIN_STATUS_MS 3000
/* The leader waits for a catching-up node up to 10 min; this thread asks
 * again instead of waiting that long, so a stopping node is never held. */
#define REJOIN_CALL_MS 20000

static json_t *status_of(struct rpc_client *rpc, const char *addr, unsigned timeout_ms)
{
	struct rpc_resp resp;
	json_t *doc = NULL;

	if (rpc_call(rpc, addr, "GET", "/_cairn/internal/status", NULL, 0, -1, timeout_ms, 1,
		     &resp))
		return NULL;
	if (resp.status == 200 && resp.body)
		doc = json_loads(resp.body, 0, NULL);
	rpc_resp_release(&resp);
	if (doc && !json_is_object(doc)) {
		json_decref(doc);
		doc = NULL;
	}
	return doc;
}

static uint64_t jint(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v)
							       : 0;
}

int cluster_probe_established(const struct cluster_options *opt, char *peer, size_t cap)
{
	struct rpc_client *rpc;
	int found = 0;

	if (rpc_client_new(opt->secret, opt->secret_len, opt->node, opt->tls, &rpc))
		return 0;
	for (int i = 0; i < opt->n_peers && !found; i++) {
		if (strcmp(opt->peers[i], opt->node) == 0)
			continue;
		json_t *doc = status_of(rpc, opt->peers[i], PROBE_TIMEOUT_MS);
		/* entry 1 is the bootstrap configuration every node writes
		 * alone; anything past it was appended by a leader */
		if (doc && jint(doc, "last_index") > 1) {
			snprintf(peer, cap, "%s", opt->peers[i]);
			found = 1;
		}
		json_decref(doc);
	}
	rpc_client_free(rpc);
	return found;
}

struct cluster_rejoin {
	struct cluster *c;
	const char *const *peers;
	int n_peers;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	/* an old member at this address was found and its removal asked: the
	 * add that follows may be retried after the old member is gone (the
	 * remove may have been applied even when its answer was lost) */
	int replacing;
};

/* This node is a voter in its own configuration. */
static int is_voter(struct cluster *c)
{
	struct cluster_status *st = malloc(sizeof(*st));
	int yes = 0;

	if (!st)
		return 0;
	cluster_status(c, st);
	for (int i = 0; i < st->n_nodes; i++)
		if (st->nodes[i].id == st->id && st->nodes[i].voter)
			yes = 1;
	free(st);
	return yes;
}

static int post(struct cluster *c, const char *leader, const char *target)
{
	struct rpc_resp resp;
	int rc = rpc_call(cluster_rpc(c), leader, "POST", target, NULL, 0, -1, REJOIN_CALL_MS, 0,
			  &resp);
	if (rc)
		return rc;
	rc = resp.status == 200 ? 0 : CN_EAGAIN;
	rpc_resp_release(&resp);
	return rc;
}

/* One attempt: find the leader through the peers, take the old member at
 * this address out, put this node in. 0 once asked successfully;
 * CN_ENOTFOUND when this address never was (or no longer is) a member and
 * this thread did not take it out: nothing is asked. */
static int attempt(struct cluster_rejoin *j)
{
	struct cluster *c = j->c;
	struct cluster_status *st = malloc(sizeof(*st));
	char leader[CLUSTER_ADDR_MAX + 1] = "", self[CLUSTER_ADDR_MAX + 1], target[256];
	uint64_t me = cluster_id(c), old = 0;
	json_t *doc, *n;
	size_t i;
	int rc, mine = 0;

	if (!st)
		return CN_ENOMEM;
	cluster_status(c, st);
	snprintf(self, sizeof(self), "%s", st->address);
	free(st);
	for (int p = 0; p < j->n_peers && !leader[0]; p++) {
		if (strcmp(j->peers[p], self) == 0)
			continue;
		json_t *d = status_of(cluster_rpc(c), j->peers[p], REJOIN_STATUS_MS);
		json_t *la = d ? json_object_get(d, "leader_address") : NULL;
		if (json_is_string(la) && json_string_length(la) &&
		    json_string_length(la) <= CLUSTER_ADDR_MAX)
			snprintf(leader, sizeof(leader), "%s", json_string_value(la));
		json_decref(d);
	}
	/* a peer may still name this address's old process as the leader */
	if (!leader[0] || strcmp(leader, self) == 0)
		return CN_ENOLEADER;
	/* the leader's configuration is the one that counts: a node that no
	 * longer leads may not have the latest */
	doc = status_of(cluster_rpc(c), leader, REJOIN_STATUS_MS);
	if (!doc)
		return CN_ENOLEADER;
	if (!json_is_string(json_object_get(doc, "state")) ||
	    strcmp(json_string_value(json_object_get(doc, "state")), "leader") != 0) {
		json_decref(doc);
		return CN_ENOLEADER;
	}
	json_array_foreach(json_object_get(doc, "configuration"), i, n)
	{
		const char *a = json_string_value(json_object_get(n, "address"));
		uint64_t id = jint(n, "id");
		if (a && strcmp(a, self) == 0 && id && id != me)
			old = id;
		if (id && id == me)
			mine = 1;
	}
	json_decref(doc);
	if (mine && !old)
		return CN_EAGAIN; /* being added: is_voter tells when it is done */
	if (!old && !j->replacing) {
		log_warn("cluster: rejoin: no member of the cluster has the address %s: this "
			 "node is not a replacement and does not join on its own; add it: cairn "
			 "admin cluster add %s",
			 self, self);
		return CN_ENOTFOUND;
	}
	if (old) {
		j->replacing = 1;
		log_warn("cluster: rejoin: asking the leader %s to remove node %" PRIu64
			 " (this address; its state is lost)",
			 leader, old);
		snprintf(target, sizeof(target), "/_cairn/internal/member?op=remove&id=%" PRIu64,
			 old);
		rc = post(c, leader, target);
		if (rc)
			return rc;
	}
	log_info("cluster: rejoin: asking the leader %s to add this node as %" PRIu64, leader, me);
	snprintf(target, sizeof(target), "/_cairn/internal/member?op=add&id=%" PRIu64 "&address=%s",
		 me, self);
	return post(c, leader, target);
}

static void *rejoin_main(void *arg)
{
	struct cluster_rejoin *j = arg;
	int logged = 0;

	cn_thread_name("rejoin");
	pthread_mutex_lock(&j->mu);
	while (!j->stop) {
		pthread_mutex_unlock(&j->mu);
		int done = is_voter(j->c);
		if (!done) {
			int rc = attempt(j);
			if (rc == CN_ENOTFOUND) {
				pthread_mutex_lock(&j->mu);
				break;
			}
			if (rc && !logged++)
				log_warn("cluster: rejoin: %s (retrying)", cn_strerror(rc));
		}
		pthread_mutex_lock(&j->mu);
		if (done) {
			log_info("cluster: rejoined as node %" PRIu64, cluster_id(j->c));
			break;
		}
		if (!j->stop)
			cn_cond_wait_until(&j->cv, &j->mu, cn_mono_ns() + 1000000000LL);
	}
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

int cluster_rejoin_start(struct cluster *c, const char *const *peers, int n_peers,
			 struct cluster_rejoin **out)
{
	struct cluster_rejoin *j = calloc(1, sizeof(*j));

	if (!j)
		return CN_ENOMEM;
	j->c = c;
	j->peers = peers;
	j->n_peers = n_peers;
	pthread_mutex_init(&j->mu, NULL);
	if (cn_cond_init_mono(&j->cv) != 0) {
		pthread_mutex_destroy(&j->mu);
		free(j);
		return CN_ENOMEM;
	}
	if (pthread_create(&j->thread, NULL, rejoin_main, j) != 0) {
		pthread_mutex_destroy(&j->mu);
		pthread_cond_destroy(&j->cv);
		free(j);
		return CN_EINTERNAL;
	}
	*out = j;
	return 0;
}

void cluster_rejoin_stop(struct cluster_rejoin *j)
{
	if (!j)
		return;
	pthread_mutex_lock(&j->mu);
	j->stop = 1;
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mu);
	pthread_join(j->thread, NULL);
	pthread_mutex_destroy(&j->mu);
	pthread_cond_destroy(&j->cv);
	free(j);
}
