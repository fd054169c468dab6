/*
 * cluster/cluster.h — cluster mode (DESIGN §6): the metadata store as a
 * replicated state machine on libraft, the internal API's authentication
 * and its client.
 *
 * Layer: cluster (below s3/, above meta/ and core/). raft.c is the only
 * file that calls raft_*. The internal API's server side lives in
 * s3/internal.c (it needs the HTTP layer) and calls into this module.
 *
 * Model: every metadata change is a struct meta_cmd; meta_submit hands it
 * to the cluster (meta_set_proposer). The leader appends it to the Raft log;
 * a follower forwards it to the leader over the internal API. Committed
 * entries are applied on every node by meta_repl_apply, in batches of one
 * LMDB transaction per loop turn; a submitter learns its result only after
 * that transaction committed, so its next read sees it. A read barrier
 * (META_CMD_BARRIER) completes once this node has applied everything the
 * leader had committed when the barrier was asked: reads after it are
 * linearizable. A barrier with ticket_ok (a follower's object writes) may
 * complete sooner, on a write ticket (ticket_term): the reads it allows
 * are confirmed afterwards (cluster/ticket.h).
 *
 * Threads: one Raft thread (its own libuv loop) owns raft, the FSM and every
 * LMDB write; forwarding threads make blocking calls to the leader. Every
 * public function says which thread may call it.
 */
#ifndef CAIRN_CLUSTER_CLUSTER_H
#define CAIRN_CLUSTER_CLUSTER_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct meta_store;
struct tls_client;

#define CLUSTER_ADDR_MAX 63   /* "a.b.c.d:port" and more */
#define CLUSTER_MAX_NODES 16  /* in one configuration */
#define CLUSTER_AUTH_SKEW 300 /* seconds a signed internal request stays valid */
/* A follower forwards proposals in batches of about this many bytes (one
 * more command may cross it) */
#define CLUSTER_PROPOSE_BATCH_BYTES (1u << 20)
/* commands in one log entry at most (cluster_entry_encode_batch) */
#define CLUSTER_ENTRY_BATCH_MAX 128
/* A follower's yes to a read round (POST /_cairn/internal/follows) that
 * also says it applies batch entries; earlier versions answer "yes". */
#define CLUSTER_FOLLOWS_BATCHES "yes batches"

/* ---- internal API authentication (auth.c) ---- */

/* Signs an internal request: out = hex HMAC-SHA256 (see auth.c for what is
 * covered). Returns 0 or CN_ENOMEM. Any thread. */
int cluster_auth_sign(const char *secret, size_t slen, const char *method, const char *target,
		      const char *node, int64_t date, const uint8_t body_sha[32], char out[65]);
/* Checks the X-Cairn-Node/-Date/-Auth values of a request against its method,
 * target and body hash. 0 or CN_EACCESS. Any thread. */
int cluster_auth_verify(const char *secret, size_t slen, const char *method, const char *target,
			const char *node, const char *date, const char *auth,
			const uint8_t body_sha[32], int64_t now_s);

/* "a.b.c.d:port" (or "localhost:port") into sa. 0 or CN_EINVAL. */
int cluster_addr_parse(const char *addr, struct sockaddr_in *sa);

/* ---- internal API client (rpc.c) ---- */

#define RPC_MAX_HDRS 8
struct rpc_resp {
	int status;
	int keep_alive;
	char *body; /* malloc'd, NUL-terminated; NULL when empty or streamed */
	size_t len; /* body bytes (also when streamed to a file) */
	struct {
		char name[64];
		char value[160];
	} hdr[RPC_MAX_HDRS]; /* the X-Cairn-* headers of the response */
	int n_hdr;
};

struct rpc_client;
/* A client signing as node (its advertised address) with the secret
 * (copied), over TLS when tls is set (borrowed until free; NULL: plain
 * TCP). Any thread. */
int rpc_client_new(const char *secret, size_t slen, const char *node, struct tls_client *tls,
		   struct rpc_client **out);
void rpc_client_free(struct rpc_client *c);
/* One signed request to addr, within timeout_ms. With body_fd >= 0 the
 * response body is written there instead of memory. An idempotent call is
 * resent once on a fresh connection if a kept-alive one had been closed.
 * Returns 0 with *resp filled (any status: check resp->status; release with
 * rpc_resp_release) or an error: CN_ETIMEOUT, CN_EINCOMPLETE, -errno...
 * Blocks; any thread but a libuv loop's. */
int rpc_call(struct rpc_client *c, const char *addr, const char *method, const char *target,
	     const void *body, size_t len, int body_fd, unsigned timeout_ms, int idempotent,
	     struct rpc_resp *resp);
/* An idempotent bodiless request (as rpc_call) whose 2xx response body goes
 * into dst, at most cap bytes (more: CN_ETOOBIG), received there directly
 * when its length is known; resp->len is its length and resp->body stays
 * NULL (other statuses: as rpc_call). For shard reads: no allocation and
 * no copy through a response buffer. */
int rpc_call_into(struct rpc_client *c, const char *addr, const char *method, const char *target,
		  void *dst, size_t cap, unsigned timeout_ms, struct rpc_resp *resp);
/* rpc_call_into in two halves, for a caller with other work while the
 * request travels. rpc_start_into sends the GET (connecting, if no pooled
 * connection is idle, within connect_ms; CN_ETIMEOUT past it); rpc_wait
 * returns 0 once the reply has begun to arrive (or the connection closed),
 * CN_ETIMEOUT if nothing came within wait_ms (the call stays open: wait
 * again or free it); rpc_finish receives the reply into dst as
 * rpc_call_into does (0 or the same errors), resending once on a fresh
 * connection if a kept-alive one had been closed. timeout_ms bounds the
 * whole call. rpc_call_free ends the call, closing its connection if the
 * reply was not received. One thread at a time per call; blocking. */
struct rpc_call;
int rpc_start_into(struct rpc_client *c, const char *addr, const char *target, void *dst,
		   size_t cap, unsigned connect_ms, unsigned timeout_ms, struct rpc_call **out);
int rpc_wait(struct rpc_call *k, unsigned wait_ms);
int rpc_finish(struct rpc_call *k, struct rpc_resp *resp);
void rpc_call_free(struct rpc_call *k);
/* A non-blocking TCP connection to addr (TCP_NODELAY), established before
 * deadline_ns (monotonic). 0, CN_ETIMEOUT or -errno. Any thread. */
int cluster_dial(const char *addr, int64_t deadline_ns, int *out);
/* Internal TLS (http/relay.h): starts a client session to addr (its host is
 * what the peer's certificate must name) over the TCP socket fd, connected
 * or still connecting, and returns the relay's plain end in *out, used as
 * the socket would have been. Takes fd in every case. 0 or an error. Any
 * thread. */
int cluster_tls_wrap(struct tls_client *tls, const char *addr, int fd, int *out);
/* cluster_dial, then cluster_tls_wrap when tls is set. Any thread. */
int cluster_connect(struct tls_client *tls, const char *addr, int64_t deadline_ns, int *out);
/* The value of an X-Cairn-* response header, or NULL. */
const char *rpc_resp_header(const struct rpc_resp *r, const char *name);
void rpc_resp_release(struct rpc_resp *r);

/* ---- the replicated store (raft.c) ---- */

struct cluster_options {
	const char *node;	  /* this node's advertised address (one of peers) */
	const char *const *peers; /* the first configuration */
	int n_peers;
	const char *secret; /* CAIRN_CLUSTER_SECRET */
	size_t secret_len;
	/* Internal connections (Raft, RPC, shard streams) as TLS clients of
	 * peers verified with it; borrowed until cluster_close. NULL: plain
	 * TCP. The internal listener's side is the HTTP server's (main.c). */
	struct tls_client *tls;
	const char *dir;       /* node-local: Raft log, snapshots, node id */
	int join;	       /* never bootstrap: wait to be added (a new or replacement node) */
	unsigned heartbeat_ms; /* 0: 100 */
	unsigned election_ms;  /* 0: 1000 */
	unsigned snapshot_threshold; /* entries between snapshots; 0: 1024 */
	unsigned snapshot_trailing;  /* entries kept after one; 0: 4 x threshold,
					at least 2 x (see cluster_open) */
	/* with neither set: the in-memory log's byte budget in MiB
	 * (cluster_fsm's log_budget); 0: CLUSTER_LOG_BUDGET */
	unsigned log_memory_mib;
	/* how long the store may leave applied entries uncommitted while
	 * nothing reads it (raft.c, commit_now); 0: commit every loop turn */
	unsigned store_commit_ms;
};

enum cluster_role { CLUSTER_NONE = 0, CLUSTER_FOLLOWER, CLUSTER_CANDIDATE, CLUSTER_LEADER };

struct cluster_node {
	uint64_t id;
	char address[CLUSTER_ADDR_MAX + 1];
	int voter; /* 1 voter, 0 stand-by/spare */
};

/* What this node knows, published by the Raft thread after every turn. */
struct cluster_status {
	uint64_t id;
	char address[CLUSTER_ADDR_MAX + 1];
	enum cluster_role role;
	uint64_t leader_id; /* 0: no leader known */
	char leader_address[CLUSTER_ADDR_MAX + 1];
	uint64_t term, commit, applied, last_index;
	int ready; /* a leader is known and this node applied up to its commit */
	/* read rounds this node started as leader (as a follower: its calls
	 * for the read index), the reads they carried, and the times one was
	 * held back so that more reads share it (READ_PACE_* in raft.c) */
	uint64_t read_rounds, read_round_reads, read_rounds_paced;
	/* log entries this node appended as leader and the commands they
	 * carried (what comes while the previous entry is in flight shares
	 * one entry) */
	uint64_t entries_proposed, cmds_proposed;
	uint64_t store_commits; /* the store's commits of applied entries */
	/* the snapshot threshold and trailing in force, and the entries' mean
	 * size they were set from (0: no budget, or no mean yet; log_budget) */
	unsigned snapshot_threshold, snapshot_trailing;
	uint64_t entry_mean_bytes;
	/* the Raft log's AIO contexts destroyed off the Raft loop (this
	 * process's, aioreap.h) and the longest such destroy */
	uint64_t log_aio_destroys, log_aio_destroy_max_ns;
	struct cluster_node nodes[CLUSTER_MAX_NODES];
	int n_nodes;
};

struct cluster;

/* Opens cluster mode over the replicated store m (meta_store_open with
 * replicated=1): loads or bootstraps Raft in opt->dir, starts the Raft and
 * forwarding threads, and installs itself as m's proposer. Borrows m until
 * cluster_close; copies opt. Main thread. */
int cluster_open(const struct cluster_options *opt, struct meta_store *m, struct cluster **out);
/* Stops Raft and the threads; commands still waiting fail with
 * CN_ESHUTDOWN. Main thread. */
void cluster_close(struct cluster *c);

/* Any thread. */
void cluster_status(struct cluster *c, struct cluster_status *out);
int cluster_ready(struct cluster *c);
/* This node's Raft id. */
uint64_t cluster_id(struct cluster *c);
/* A leader's read round asks: is term this node's current term? 1 means
 * this node has voted in no later term (raft.c, struct read_round). */
int cluster_follows(struct cluster *c, uint64_t term);

/* A leader's read confirmed by the shard reads it makes, not by a read
 * round (cluster/ticket.h has the argument). Any thread. */
struct cluster_ticket {
	uint64_t term, seq, gen;
	uint64_t index; /* a write's: the commit index its reads must see */
};
/* 0 and *t when a read arriving now may go ahead before it is confirmed:
 * this node is the ready leader and its store shows its commit index.
 * CN_EAGAIN otherwise (the read takes a barrier first). */
int cluster_read_ticket(struct cluster *c, struct cluster_ticket *t);
/* A write's ticket (S3 PutObject/DeleteObject on the leader): the write
 * goes ahead without a read round and is confirmed by its own log entry
 * committing in t->term (meta_cmd.entry_term; cluster/ticket.h has the
 * argument). 0 when its reads may start now, 1 when they must wait until
 * the store shows t->index (a META_CMD_BARRIER with leader_term and
 * local_read: no round, only the store's next commit), CN_EAGAIN when this
 * node is not the ready leader (the write takes a barrier first).
 * reads_key: whether the write reads its own key before its command (a
 * DeleteObject's If-Match: its ETag and ACL); a PutObject reads nothing
 * of it (its conditions are decided when its command applies), so a write
 * of the same key in the store's open batch does not hold it back. */
int cluster_write_ticket(struct cluster *c, const char *bucket, const char *key, size_t key_len,
			 int reads_key, struct cluster_ticket *t);
/* 1 if enough voters to make a majority with this node said yes to t's
 * term on calls made after t was taken, and this node is still in it. The
 * read's answer may then be given; otherwise it waits for a barrier. */
int cluster_ticket_confirmed(struct cluster *c, const struct cluster_ticket *t);
/* For a call to another node that asks, with its answer, whether the node
 * follows: the term to ask about (0: none, this node is no ready leader)
 * and the call's number into *seq. */
uint64_t cluster_confirm_ask(struct cluster *c, uint64_t *seq);
/* The node at addr said yes (cluster_follows) to term on call seq. */
void cluster_confirm_yes(struct cluster *c, const char *addr, uint64_t term, uint64_t seq);
/* The first 4 bytes of the blob ids this node makes (from its Raft id):
 * who wrote a blob, for reclaiming unfinished uploads after a restart. */
uint32_t cluster_blob_tag(struct cluster *c);
/* The secret the internal API is signed with (borrowed, valid until close). */
const char *cluster_secret(struct cluster *c, size_t *len);
/* This node's cluster directory (<data>/.cairn/raft): node-local files,
 * such as a store copy being sent, go there (never /tmp, which may be RAM). */
const char *cluster_dir(struct cluster *c);
/* The internal connections' TLS client (NULL: plain TCP). */
struct tls_client *cluster_tls(struct cluster *c);
/* The internal API client of this node (for s3/: cluster status). */
struct rpc_client *cluster_rpc(struct cluster *c);

/* A Raft connection accepted by the internal API (after authentication):
 * takes fd (a connected TCP socket; closed on any error). Any thread. */
void cluster_raft_accept(struct cluster *c, int fd, uint64_t id, const char *address);

/* Membership change, run on the leader (CN_ENOTLEADER elsewhere): add a
 * node (it catches up as a stand-by, then becomes a voter) or remove one.
 * Blocks up to timeout_ms; returns 0 or an error. Not on a libuv loop. */
int cluster_member_add(struct cluster *c, uint64_t id, const char *address, unsigned timeout_ms);
int cluster_member_remove(struct cluster *c, uint64_t id, unsigned timeout_ms);

/* Streams a store copy at an applied index >= min_index into fd, for a
 * node installing a snapshot (the internal API's GET .../snapshot). Returns
 * 0 and the copy's applied index, CN_EAGAIN when this node is behind, or an
 * error. Blocks; not on a libuv loop. */
int cluster_snapshot_copy(struct cluster *c, uint64_t min_index, int fd, uint64_t *applied);

/* ---- a first-configuration node that lost its state (rejoin.c) ---- */

/* Asks the other peers of opt whether the cluster already exists (a log
 * past the bootstrap entry); 1 and the peer's address if so. Blocks up to
 * ~1.5 s per silent peer. Main thread, before bootstrapping. */
int cluster_probe_established(const struct cluster_options *opt, char *peer, size_t cap);
struct cluster_rejoin;
/* A thread that asks the leader (found through peers, borrowed until stop)
 * to replace the member at this node's address by this node, until it is a
 * voter. Started and stopped by raft.c. */
int cluster_rejoin_start(struct cluster *c, const char *const *peers, int n_peers,
			 struct cluster_rejoin **out);
void cluster_rejoin_stop(struct cluster_rejoin *j);

/* ---- cluster map registration (map.c) ---- */

struct data_store;
/* Proposes this node (address, zone, state up) and each of its drives (id,
 * capacity; down when offline) to the cluster map as self-registration
 * (META_MAP_SELF, see meta.h: an operator's weight and draining stay; a
 * removed node gets CN_EREMOVED). Through meta_submit_sync, so it reaches
 * the leader from any node. Returns 0 or the first error; running it again
 * repeats what succeeded as no-ops. Blocks; not on a libuv loop. */
int cluster_map_register(struct cluster *c, struct meta_store *m, struct data_store *d,
			 const char *zone);
/* Marks node id (at address) removed in the cluster map, with its drives
 * (one command; tombstones), an operator's change after `cluster remove`
 * took it out of the Raft configuration. A node the map never had gets a
 * tombstone too, so its registration can no longer land. Blocks; not on a
 * libuv loop. */
int cluster_map_remove_node(struct meta_store *m, uint64_t id, const char *address);
/* Sets node id's state in the cluster map (`cluster remove` drains a node
 * first, and gives it back its state when the removal does not happen);
 * *was (when not NULL) gets the state it had, 0 when the map has no record
 * of it (a node that never registered holds no shards). A removed node
 * stays removed. Blocks; not on a libuv loop. */
int cluster_map_set_state(struct meta_store *m, uint64_t id, uint8_t state, uint8_t *was);

/* ---- the state machine alone (raft.c; deterministic simulation tests) ---- */

struct raft;
struct raft_io;
struct raft_io_append;
struct raft_entry;
struct raft_message;
struct raft_fsm;
struct raft_buffer;
struct meta_cmd;
struct meta_cmd_result;

/* libraft's FSM over a replicated store: entries are applied with
 * meta_repl_apply (a failure that is not the command's result stops the
 * node), a snapshot is a manifest naming the store's applied index (the
 * store is synced first), restore brings the store to at least that index
 * through install. The caller commits applied batches (meta_repl_commit)
 * when it likes; a snapshot or restore commits first. Raft thread. */
struct cluster_fsm {
	struct meta_store *meta;
	struct raft *raft; /* entries are numbered by its last applied index */
	uint64_t id;	   /* written into snapshot manifests */
	/* make meta's applied index >= index (a copy from a peer); 0 or error */
	int (*install)(struct cluster_fsm *f, uint64_t index);
	/* optional: command `part` of entry index (0 for an entry of one
	 * command; a batch entry's are 0..n-1, in order) applied with result
	 * rc; may set *result, which it is given again for the later parts */
	void (*applied)(struct cluster_fsm *f, uint64_t index, unsigned part, int rc,
			const struct meta_cmd_result *res, void **result);
	void *owner;
	/* set by cluster_fsm_guard_io */
	int (*io_start)(struct raft_io *io, unsigned msecs, void (*tick)(struct raft_io *),
			void (*recv)(struct raft_io *, struct raft_message *));
	void (*recv)(struct raft_io *io, struct raft_message *m);
	int (*io_truncate)(struct raft_io *io, unsigned long long index);
	int (*io_append)(struct raft_io *io, struct raft_io_append *req,
			 const struct raft_entry *entries, unsigned n,
			 void (*cb)(struct raft_io_append *req, int status));
	unsigned long long append_index; /* the last io->truncate's */
	unsigned long installs_dropped;
	unsigned long conf_indexes_fixed;
	/* The in-memory log's byte budget (log_budget, 0: off). libraft keeps
	 * every entry since the snapshot before last in memory, up to
	 * threshold + trailing entries, and counts them, not bytes: at 32
	 * writers of 4 KiB a batch entry is ~60 KiB and the log held ~290 MiB
	 * on every node, and entries of up to 1 MiB could hold GiBs. fsm_apply
	 * measures the entries' mean size and sets the threshold to what keeps
	 * threshold + trailing (4 x threshold) entries within the budget,
	 * between CLUSTER_SNAPSHOT_MIN and snap_max. Raft thread. */
	uint64_t log_budget;
	unsigned snap_max;	       /* the threshold without a budget */
	unsigned snap_threshold;       /* what raft was last given; trailing is 4 x */
	uint64_t win_bytes, win_count; /* entries applied since the last look */
	uint64_t mean_bytes;	       /* their running mean, 0 until the first look */
};
#define CLUSTER_LOG_BUDGET (128ull << 20)
#define CLUSTER_SNAPSHOT_MIN 16u
void cluster_fsm_init(struct cluster_fsm *f, struct raft_fsm *out);
/* Wrap io (after raft_init gave it to the raft whose fsm is f's, before
 * raft_start) around two defects of libraft 0.22.1:
 *  - an InstallSnapshot arriving while that raft persists a snapshot of its
 *    own is dropped, as a lost message: libraft moves its log past the
 *    install at once, and the snapshot it was taking then names an entry
 *    that is gone (assertion in TrailSnapshot, a segfault in release
 *    builds). The leader sends the install again.
 *  - a follower given configuration entries past the first of an
 *    AppendEntries batch records the wrong index for them, so its committed
 *    configuration (the one its snapshots carry) never advances: a node
 *    restarted from such a snapshot may not find itself in it. The index is
 *    corrected as the entries are persisted, before any is applied. */
void cluster_fsm_guard_io(struct cluster_fsm *f, struct raft_io *io);
/* cmd's log entry (framed, 8-byte padded) in raft_malloc'd out->base. */
int cluster_entry_encode(const struct meta_cmd *cmd, struct raft_buffer *out);
/* One log entry carrying cmds[0..n), 1 <= n <= CLUSTER_ENTRY_BATCH_MAX, applied in order as
 * one entry, each command with its own result; n == 1 is
 * cluster_entry_encode's entry. */
int cluster_entry_encode_batch(const struct meta_cmd *cmds, unsigned n, struct raft_buffer *out);
/* The first line of s, a forwarded propose's result: "<rc> <index>
 * <vid_text|-> <delete_marker> <size> <etag|-> [<entry term>]" into *rc,
 * *res and *entry_term (0 without the term: a leader of an earlier
 * version; the next line's fields never count); *rc CN_EUNCERTAIN if it
 * is not such a line. Any thread. */
void cluster_result_decode(const char *s, int *rc, struct meta_cmd_result *res,
			   uint64_t *entry_term);
/* A barrier call's answer: "<index>" after a round, "<index> <term>" when
 * the index was given in that term (a write ticket, or a round of the term
 * asked for; *term 0 otherwise). 0, or CN_EINVAL. Any thread. */
int cluster_index_decode(const char *s, uint64_t *index, uint64_t *term);

/* ---- other nodes' shards (remote.c) ---- */

struct cluster_remote;
/* Reads of shards on other nodes' drives for the data layer: install with
 * data_store_set_remote({cluster_remote_pread, r}). Free it after every
 * reader stopped and before cluster_close. Main thread. */
int cluster_remote_new(struct cluster *c, struct cluster_remote **out);
void cluster_remote_free(struct cluster_remote *r);
/* struct data_remote's pread (see data/data.h). Blocking; any thread. */
ssize_t cluster_remote_pread(void *ctx, const uint8_t drive_id[16], const uint8_t blob_id[16],
			     int shard, void *buf, size_t len, uint64_t off);
/* struct data_remote's rstart, rfinish and rfree: pread split around the
 * network round trip (rpc_start_into). Blocking; any thread. */
int cluster_remote_rstart(void *ctx, const uint8_t drive_id[16], const uint8_t blob_id[16],
			  int shard, void *buf, size_t len, uint64_t off, unsigned wait_ms,
			  void **h);
ssize_t cluster_remote_rfinish(void *h, unsigned wait_ms);
void cluster_remote_rfree(void *h);
/* The cluster r serves. Any thread. */
struct cluster *cluster_remote_cluster(struct cluster_remote *r);
/* Internal address of the node that has drive id (from the cluster map,
 * else the nodes' own status), into addr (CLUSTER_ADDR_MAX + 1 bytes).
 * for_write: CN_EDRIVE while the node is cooling down after a failure
 * (cluster_remote_mark_bad). 0, CN_EDRIVE. Blocking; any thread. */
int cluster_remote_address(struct cluster_remote *r, const uint8_t id[16], int for_write,
			   char *addr);
/* A stream to addr failed: new writes skip it until it answers a probe
 * again (every 0.5 s), at most 10 s. Any thread. */
void cluster_remote_mark_bad(struct cluster_remote *r, const char *addr);
/* Looks drives up in the replicated cluster map of m first (optional;
 * before the store is shared between threads). Main thread. */
void cluster_remote_set_meta(struct cluster_remote *r, struct meta_store *m);
/* struct data_remote's meta_full: 1 if another node said, in the last
 * round (every 2 s, a thread of r's own), that its metadata drive is down
 * to its reserve. Any thread; no round trip. */
int cluster_remote_meta_full(void *ctx);

/* ---- shard streams between nodes (shard.c) ---- */

struct blob_layout;
/* struct data_remote's w* functions; ctx is a struct cluster_remote. */
int cluster_shard_wopen(void *ctx, const uint8_t drive_id[16], const struct blob_layout *l,
			int shard, uint32_t hdr_len, void **h);
int cluster_shard_wput(void *h, const void *ck, size_t ck_len, const void *piece, size_t len);
int cluster_shard_wseal(void *h, const void *hdr, size_t hdr_len);
int cluster_shard_wwait(void *h);
int cluster_shard_wfd(void *h);
void cluster_shard_wfree(void *h);

/* What a signed shard-put request names (s3/internal.c parses it). */
struct cluster_shard_params {
	uint8_t blob[16], drive[16];
	uint8_t k, m, cksum;
	uint32_t block_size, hdr_len;
	int shard;
	char auth[65]; /* the request's X-Cairn-Auth: the stream MAC binds to it */
};
/* Takes a receiving slot before the 101 answer: 0, or CN_EAGAIN when
 * SHARD_RECV_MAX streams are running (answer 503). Any thread. */
int cluster_shard_recv_reserve(void);
void cluster_shard_recv_unreserve(void);
/* Runs the receiving end of a stream on the upgraded socket fd (owned) on
 * a thread of its own; releases the reserved slot when done. Any thread. */
void cluster_shard_accept(struct cluster *c, struct data_store *d, int fd,
			  const struct cluster_shard_params *p);
/* Waits up to timeout_ms for running receivers to end (before the data
 * store closes). Returns how many are still running. Main thread. */
int cluster_shard_recv_drain(unsigned timeout_ms);

/* struct gc_peers (bg/gc.h) over the internal API; ctx is a struct
 * cluster_remote. active: this node leads. remove: POST /_cairn/internal/gc
 * to every other node of the configuration. Blocking; any thread. */
int cluster_gc_active(void *ctx);
int cluster_gc_remove(void *ctx, const struct blob_layout *l, unsigned n, uint8_t *ok);

/* ---- placement of new blobs (place.c) ---- */

struct cluster_placer;
/* A placer over m's cluster map: k+m from ec_k/ec_m when ec_k > 0, else
 * placement_default_ec of the eligible nodes. The table is recomputed when
 * the map epoch changes. Main thread. */
int cluster_placer_new(struct meta_store *m, uint8_t ec_k, uint8_t ec_m,
		       struct cluster_placer **out);
void cluster_placer_free(struct cluster_placer *p);
/* struct data_placer's place: CN_ENOTFOUND while fewer than 2 nodes are
 * eligible (the writer keeps blobs on this node). Any thread. */
int cluster_placer_place(void *ctx, const uint8_t blob_id[16], uint8_t *k, uint8_t *m,
			 uint8_t (*drive)[16]);
/* Where blob_id's k+m shards belong under the map in force (rebalance):
 * the drives into drive, the map epoch into *epoch. CN_ENOTFOUND when the
 * map cannot place that width. Any thread. */
int cluster_placer_target(struct cluster_placer *p, const uint8_t blob_id[16], uint8_t k, uint8_t m,
			  uint8_t (*drive)[16], uint64_t *epoch);
/* The table in force (epoch, k, m, digest) for status; 0 or CN_ENOTFOUND. */
int cluster_placer_info(struct cluster_placer *p, uint64_t *epoch, uint8_t *k, uint8_t *m,
			uint8_t digest[16]);

#endif
