/*
 * cluster/ticket.h — a leader's reads confirmed by the shard reads they make
 * (internal to the cluster module; the callers' API is in cluster.h).
 *
 * A read round (raft.c, struct read_round) costs every read a trip through
 * the Raft thread and one call to each other voter. A GET of an erasure-coded
 * object on the leader already calls another voter for a piece, after the
 * request arrived: that call can carry the question the round asks ("is term
 * T your current term?", cluster_follows) and its answer confirms the read as
 * the round would. The Raft thread publishes what a read needs to start so
 * (tickets_publish); a loop takes a ticket when the read arrives
 * (cluster_read_ticket), shard reads carry the term and a sequence number
 * (cluster_confirm_ask) and note the yeses (cluster_confirm_yes), and before
 * the read's answer is given the loop asks whether a majority confirmed a
 * call made after the ticket (cluster_ticket_confirmed); if not, the answer
 * waits for an ordinary read round.
 *
 * Why a yes on a later call is as good as the round's: the ticket is taken
 * with this node the ready leader of term T, its store showing every entry
 * up to the commit index published before any result was given out (so
 * every write acknowledged before the read arrived, the earlier terms'
 * included: the ready barrier is below it). A peer answering yes had voted
 * in no term after T when it answered, after the read arrived; this node had
 * not either (its term is still T when the answer is checked, and terms only
 * grow). Those are a majority, and any leader of a later term needs one of
 * their votes: none existed before the answers, so no write the read must
 * see was acknowledged elsewhere. The voters counted are the configuration
 * the ticket was taken under; a changed configuration voids the ticket.
 *
 * A write's ticket (cluster_write_ticket: S3 PutObject and DeleteObject on
 * the leader) needs no call at all: the write's own log entry confirms it.
 * The write's reads (the bucket, its policy, its configuration) start once
 * the store shows the commit index published when the ticket was taken
 * (at once, or after the store's next commit: a wait on the Raft thread,
 * no round), and its answer leaves without a round only if its command's
 * entry, appended by this node after the ticket, committed in the
 * ticket's term T (meta_cmd.entry_term). Raft's leader completeness says
 * every leader of a term after T holds that entry; one elected before the
 * entry existed cannot, so no later leader existed before the append, and
 * no write the reads must see was acknowledged elsewhere. An answer with
 * no such entry behind it (an error found before any command, a command
 * that went to another leader) waits for a round of term T, as a GET's
 * does, and is dropped for a 503 if that fails.
 *
 * What "the store shows the commit index" may leave out, for a write: the
 * entries applied but not yet committed to the store (its open batch,
 * raft.c commit_now) that cannot change what the write reads before its
 * command. Those reads are its bucket, the bucket's configuration and
 * policy, identities and settings, and, for an If-Match delete only, its
 * own key (the ETag and ACL); every other key's state, and a PutObject's
 * own (its conditions are part of its command), is decided when its
 * command applies, on every node alike. So the write goes ahead at once
 * when every entry up to the commit index is applied and each command the
 * open batch holds changed one object key (meta_repl_touched), not the
 * write's own if it reads that, or nothing. Each such key sets a bit of
 * its hash (tickets_touch); a bit shared by another key only makes such a
 * write wait. The store's commit clears them (tickets_visible). A write
 * that finds any other command there, or the bit of a key it reads, waits
 * for the next commit as before. So under writes alone the leader's store
 * commits every opt.store_commit_ms, as a follower's does, not every loop
 * turn: overwrites of the same keys included.
 *
 * The same holds for a PutObject or DeleteObject on a follower: once this
 * node applied the index its barrier gave, a store whose open batch holds
 * only other object keys' writes shows it everything it reads
 * (tickets_batch_spares). So writes through a follower leave its store's
 * batch open too.
 *
 * A follower's write ticket. Such a write (not an If-Match DELETE, which
 * reads its key) takes no read round either: its barrier asks the leader
 * for a ticket (barrier?ticket=1), which the ready leader of term T answers
 * at once, from its Raft thread, with T and the last entry it applied that
 * changed more than one object key's records, or its term's first barrier
 * if that is later (raft.c, more_index). What the write reads before its
 * command, only such entries change (as above); every write acknowledged
 * before the request came was applied on the leader before it answered,
 * and one of an earlier term is below the first barrier. The follower
 * reads once it applied that index, forwards its command, and the
 * forward's result line carries the term of the entry that carried it
 * (0: not committed there). An entry committed in T confirms the answer,
 * by the argument above: the leader of T appended it after it answered, so
 * no leader of a later term existed when it answered, and none had
 * acknowledged a write it did not count. Any other answer (an error found
 * before any command, an entry of another term) asks the leader for a
 * round of T (barrier?term=T, meta_cmd.ask_leader): it passes only if that
 * node is still T's leader after the answer was made, which shows the same;
 * else the answer is dropped for a 503. The leader echoes the term with
 * the index; a leader of an earlier version ignores both parameters and
 * answers a plain round, which the follower takes as an ordinary barrier
 * (ticket=1) or as a refusal (term=T). A follower's call carrying any
 * other reads is an ordinary round, which serves the writes with it.
 *
 * Threads: tickets_publish on the Raft thread; the rest any thread (one
 * mutex, held for a few comparisons; cluster_confirm_ask, on every shard
 * call, takes none).
 */
#ifndef CAIRN_CLUSTER_TICKET_H
#define CAIRN_CLUSTER_TICKET_H

#include <stdint.h>

#include "cluster/cluster.h"

struct read_tickets;

struct read_tickets *tickets_new(void);
void tickets_free(struct read_tickets *t);

/* The Raft thread's view after a turn's entries, before it gives out any
 * result: term is its term if it is the ready leader and a voter, else 0;
 * commit its commit index, visible what its store shows; voters the other
 * voters' addresses (n of them) and need how many of them make a majority
 * with this node. */
void tickets_publish(struct read_tickets *t, uint64_t term, uint64_t commit, uint64_t applied,
		     uint64_t visible, const char *const *voters, int n, int need);
/* The store now shows everything up to visible (after its commit): every
 * entry applied so far. */
void tickets_visible(struct read_tickets *t, uint64_t visible);
/* An applied command changed `what` (META_TOUCH_*, and the key's hash):
 * after every command the Raft thread applies, before the turn's
 * tickets_publish. Raft thread. */
#define TICKET_KEY_BITS 65536
void tickets_touch(struct read_tickets *t, int what, uint64_t hash);

/* 1 if every command applied since the store's last commit changed one
 * object key or nothing, and, with reads_key, none of them the key whose
 * meta_key_hash is hash: a write that reads no other record those commands
 * change can read the store as committed (a follower's PutObject, after
 * its barrier's index is applied: raft.c, relax_awaits; a write's ticket
 * on the leader). Any thread. */
int tickets_batch_spares(struct read_tickets *t, int reads_key, uint64_t hash);

/* When a GET last asked this node, as the leader, for a ticket
 * (cluster_read_ticket; cn_mono_ns, 0 never; a write's ticket does not
 * count): the store commits every loop turn while they keep coming
 * (raft.c, commit_now). Any thread, lock-free. */
uint64_t tickets_last_read(struct read_tickets *t);

/* The node's tickets (raft.c). */
struct read_tickets *cluster_tickets(struct cluster *c);

#endif
