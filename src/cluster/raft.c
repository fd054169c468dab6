/*
 * cluster/raft.c — the metadata store replicated with libraft (DESIGN §6).
 * The only file that calls raft_*.
 *
 * One Raft thread runs a libuv loop with raft_uv (log and snapshot files in
 * opt.dir) over our own transport: a Raft connection is an internal-API
 * request upgraded to a raw stream (POST /_cairn/internal/raft, signed with
 * the cluster secret), so Raft and the internal API share one address.
 * With opt.tls the stream is the plain end of a TLS relay (http/relay.h),
 * a uv_pipe_t on both the dialling and the accepting side.
 *
 * Commands (meta_submit -> cluster_submit, any thread) reach the Raft thread
 * through its inbox:
 *
 *   leader, ready   raft_apply -> fsm_apply (meta_repl_apply) -> apply_cb
 *                   -> early/done list -> after_turn: complete early,
 *                   meta_repl_commit, complete done
 *   leader, !ready  held until the term's first barrier is applied
 *   follower        forwarded to the leader by a forwarding thread
 *                   (POST /_cairn/internal/propose), completed from there
 *
 * Read barriers (META_CMD_BARRIER): on the leader one read round (struct
 * read_round: a majority confirms the leader's term, no log entry) serves
 * every read waiting when it started; on a follower one call to the
 * leader does (joining the leader's next read round, which returns the
 * index of the last write there), then the reads wait until this node
 * applied up to that index. A follower that has not yet been told the index
 * is committed gets an append at once (a barrier entry, lbar_kick) rather
 * than at the next heartbeat. A follower's call for writes alone
 * (ticket=1) is answered at once, without a round, with a write ticket:
 * the last entry that changed more than an object key, and the term
 * (cluster/ticket.h); a follower's round of a given term (term=T) confirms
 * an answer its ticket's entry did not.
 *
 * Results are given out in after_turn (a uv_check handle: after every loop
 * turn): a request's before the batch transaction holding it commits (its
 * entry is committed in the log), a sync submitter's after. Reads are
 * answered only once the batch transaction holding everything they must
 * see has committed (`visible`), so a client that saw its write
 * acknowledged reads it back on the next barrier.
 *
 * Snapshots are a small manifest (the applied index); the store itself
 * moves only when a follower installs one: it fetches a compacting copy of
 * a peer's store (GET /_cairn/internal/snapshot), streamed to a file, and
 * swaps it in (meta_repl_replace).
 */
#include "cluster/cluster.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>
#include <xxhash.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/digest.h"
#include "core/err.h"
#include "core/log.h"
#include "core/thread.h"
#include "cluster/aioreap.h"
#include "cluster/ticket.h"
#include "meta/meta.h"

#define FORWARDERS 8
/* read rounds in flight at once, and confirmation calls per peer: rounds
 * overlap, so a read waits for about one round, not one and a half */
#define READ_ROUNDS 1
#define CONFIRMS_PER_PEER READ_ROUNDS
/* Under load a round per handful of reads costs more CPU than the reads:
 * each round is a call to every free peer and about five thread wake-ups
 * (3-node GET 4 KiB, 32 clients: 3,500 rounds/s carrying 3 reads each, the
 * leader at 77 us of CPU per GET against 24 without rounds). A round that
 * carried READ_PACE_READS reads or more makes the next start no sooner than
 * READ_PACE_MS after it, so the reads arriving meanwhile share one; a reader
 * alone (one read per round) never waits for it. A follower paces its calls
 * for the read index the same way (each joins a leader's round as one). */
#define READ_PACE_READS 4
#define READ_PACE_MS 1
/* The store commits every loop turn while a leader's GETs ask for tickets,
 * and for this long after the last one (commit_now). */
#define READ_QUIET_MS 1000
/* It also commits once its open batch holds this many writes: LMDB keeps a
 * write transaction's dirty pages in memory, and a commit must fit in the
 * room the ballast keeps on a full disk (meta_repl_commit). */
#define STORE_OPEN_WRITES 1024
/* A log entry: u32 LE length of the encoded command, 4 zero bytes, the
 * command, zero padding to a multiple of 8 (raft_uv's rule). A batch
 * entry: u32 LE count, u32 LE ENTRY_BATCH, then per command its u32 LE
 * length and bytes, then the padding. */
#define ENTRY_HDR 8
#define ENTRY_BATCH 1
/* Commands a leader proposes while its previous entry is in flight go out
 * as one batch entry of up to this many (each raft_apply is an
 * AppendEntries message to every follower, their append and their answer:
 * at 32 writers, one per command was most of the Raft threads' system
 * calls; see propose_flush). */
#define PROPOSE_BATCH_MAX CLUSTER_ENTRY_BATCH_MAX
#define PROPOSE_BATCH_BYTES ((size_t)1 << 20)
#define FORWARD_TIMEOUT_MS 10000
/* a Raft connection not upgraded by then is given up (raft retries) */
#define DIAL_TIMEOUT_MS 5000
/* a read on a node cut off from its leader answers 503 after this */
#define BARRIER_TIMEOUT_MS 3000
#define FORWARD_BATCH_MAX 256 /* commands in one forwarded propose call */
#define FORWARD_BATCH_BYTES CLUSTER_PROPOSE_BATCH_BYTES
/* a follower read waits this long to apply up to the leader's commit */
#define READ_WAIT_MS 5000
#define SNAP_MAGIC "CAIRNSN1"

/* ---- inbox messages (any thread -> Raft thread) ---- */

enum msg_type { MSG_CMD, MSG_ACCEPT, MSG_FBAR_DONE, MSG_CONFIRMED, MSG_MEMBER, MSG_STOP };

struct member_req {
	int add; /* 1 add, 0 remove */
	uint64_t id;
	int64_t deadline_ns; /* monotonic: the caller stops waiting then */
	int64_t retry_ns;    /* promotion: not before this */
	char address[CLUSTER_ADDR_MAX + 1];
	struct raft_change change;
	int rc;
	int done;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct cluster *c;
};

struct msg {
	struct msg *next;
	enum msg_type type;
	struct meta_cmd *cmd; /* MSG_CMD */
	int fd;		      /* MSG_ACCEPT */
	uint64_t id;
	char address[CLUSTER_ADDR_MAX + 1];
	uint64_t index;		  /* MSG_FBAR_DONE: leader's index, 0 = failed */
	uint64_t term;		  /* MSG_FBAR_DONE: a ticket's term, 0 = a round */
	struct meta_cmd *waiters; /* MSG_FBAR_DONE */
	struct read_round *round; /* MSG_CONFIRMED (id: the peer; rc: 0 = yes) */
	int rc;
	int batches; /* MSG_CONFIRMED: the peer applies batch entries */
	struct member_req *member;
};

/* ---- forwarding jobs (Raft thread -> forwarding threads) ---- */

enum job_type { JOB_PROPOSE, JOB_BARRIER, JOB_CONFIRM, JOB_ROUND };

struct job {
	struct job *next;
	enum job_type type;
	char leader[CLUSTER_ADDR_MAX + 1]; /* JOB_CONFIRM: the peer asked */
	struct meta_cmd *cmd;		   /* JOB_PROPOSE, JOB_ROUND */
	uint8_t *enc;			   /* its encoding */
	size_t enc_len;
	struct meta_cmd *waiters; /* JOB_BARRIER */
	struct msg *reply;	  /* JOB_CONFIRM: the answer, allocated up front */
	uint64_t term;		  /* JOB_CONFIRM, JOB_ROUND */
	uint64_t known;		  /* JOB_BARRIER, JOB_ROUND: this node's commit index */
	int ticket;		  /* JOB_BARRIER: every waiter takes a write ticket */
};

/* An entry appended to the log by this node: its n commands. */
struct prop {
	struct raft_apply req;
	struct cluster *c;
	struct prop *next; /* FIFO in log order */
	uint64_t term;	   /* the entry's: the leader's term when it appended it */
	unsigned n;
	struct prop_cmd {
		struct meta_cmd *cmd;
		int rc;
		struct meta_cmd_result res;
	} part[];
};

/* A command stamped and encoded, waiting to go into the next batch entry
 * (propose_flush). */
struct pending_prop {
	struct meta_cmd *cmd;
	uint8_t *enc;
	size_t len;
};

struct barrier_round {
	struct raft_barrier req;
	struct cluster *c;
	struct meta_cmd *waiters;
	int term_ready; /* the round that makes a new leader ready */
	int remote;	/* some waiter is a follower's forwarded barrier */
	uint64_t term;
};

/* A leader's read round (Raft's ReadIndex, thesis 6.4): the reads waiting
 * when it starts are served at the commit index of that moment once a
 * majority of voters (this node included) confirm that they are still in
 * this term (cluster_follows). A node that answered had not voted in a
 * later term when it answered (it persists a term, and publishes it,
 * before voting in it), and every later leader needs one of their votes:
 * so none was elected, let alone committed anything, before the reads
 * arrived, and they see every write acknowledged before them. The commit
 * index covers every earlier leader's acknowledged writes because this
 * leader is ready (its own term's barrier committed). A confirmation is one
 * internal call per peer, no log entry and no disk write (a raft_barrier
 * costs both, on a majority). */
struct read_round {
	struct meta_cmd *waiters;
	uint64_t term, index;
	/* followers' reads (read_index) are served at the last write this
	 * leader applied, or its ready barrier if later: every acknowledged
	 * write is at or below it (a result is given out after its apply, and
	 * every earlier term's entries precede the ready barrier), and barrier
	 * entries after it change nothing a read sees, so a follower that has
	 * been told the commit index once needs no append per read */
	uint64_t windex;
	int need;    /* confirmations still wanted */
	int pending; /* calls not back yet: the round is freed at 0 */
	int done;    /* waiters answered */
};

/* When the next read round (or follower read-index call) may start. */
struct read_pace {
	uv_timer_t timer; /* starts it when it is held back; data: this */
	struct cluster *c;
	int64_t start_ns; /* the last one's start (cn_mono_ns) */
	int last_reads;	  /* reads it carried: READ_PACE_READS+ paces */
	void (*start)(struct cluster *c);
};

/* A read waiting until this node applied `index`. */
struct await {
	struct await *next;
	uint64_t index;
	uint64_t deadline_ns; /* then 503: this node is not catching up */
	struct meta_cmd *waiters;
};

/* A Raft connection's stream: TCP, or over TLS the plain end of a relay
 * (http/relay.h) as a pipe. */
union dial_stream {
	uv_tcp_t tcp;
	uv_pipe_t pipe;
};

/* Outbound Raft connection being set up (transport connect). */
struct dialer {
	union dial_stream *tcp; /* raft_malloc'd: raft frees the stream */
	uv_timer_t *timer;	/* gives up on a peer that never answers */
	uv_connect_t conn;
	uv_write_t wr;
	struct raft_uv_connect *req;
	struct cluster *c;
	struct cn_buf out;
	http_parser parser;
	int status; /* 101 seen */
	int done;
	char rbuf[512];
	struct dialer *next, *prev;
	int closing;
};

struct cluster {
	struct cluster_options opt;
	char node[CLUSTER_ADDR_MAX + 1];
	char *secret;
	size_t slen;
	char *dir;
	char **peers;
	uint64_t id;
	struct meta_store *meta;
	struct rpc_client *rpc;

	/* Raft thread */
	uv_loop_t loop;
	uv_thread_t thread;
	uv_async_t wake;
	uv_check_t check;
	struct raft raft;
	struct raft_io io;
	struct raft_fsm fsm;
	struct cluster_fsm cf;
	struct raft_uv_transport transport;
	raft_uv_accept_cb accept_cb;
	struct dialer *dialers;
	struct prop *props_head, *props_tail;
	struct pending_prop pq[PROPOSE_BATCH_MAX]; /* proposals not appended yet */
	unsigned pq_n;
	size_t pq_bytes;
	uint64_t pq_term;			  /* the term pq's commands were stamped in */
	uint64_t entries_proposed, cmds_proposed; /* published */
	struct meta_cmd *done;			  /* results waiting for the commit */
	struct meta_cmd *early;			  /* results given out before it */
	struct meta_cmd *held;			  /* leader not ready yet */
	struct meta_cmd *lbar_waiting;		  /* leader barrier reads not yet in a round */
	struct barrier_round *lbar_inflight;
	/* a round for followers' reads completed: the next append tells them
	 * the new commit index now rather than at the next heartbeat */
	int lbar_kick;
	struct meta_cmd *rr_waiting;		 /* leader reads not yet in a read round */
	struct read_round *rr_live[READ_ROUNDS]; /* rounds whose reads wait */
	int n_rr;
	/* read rounds (a follower's: its calls for the read index), paced */
	struct read_pace rr_pace, fb_pace;
	uint64_t rr_rounds, rr_reads, rr_paced; /* published: both kinds */
	/* confirmation calls out per peer: at most CONFIRMS_PER_PEER, so a
	 * stopped peer holds that many forwarding threads, not one per round */
	struct {
		uint64_t id;
		int n;
	} confirm_out[CLUSTER_MAX_NODES];
	/* peers whose answer to a read round said they apply batch entries: a
	 * leader appends them only when every other member did (a node of an
	 * earlier version would stop on one) */
	uint64_t batch_peers[CLUSTER_MAX_NODES];
	struct meta_cmd *fbar_waiting; /* follower barrier reads not yet asked */
	int fbar_inflight;
	struct await *awaits;
	struct member_req *promote; /* added, to be made a voter */
	uint64_t ready_term;	    /* the term whose first barrier applied (leader) */
	uint64_t ready_index;	    /* that barrier's index */
	uint64_t write_index;	    /* the last command entry applied here */
	/* the last one that changed more than one object key's records (a
	 * bucket, its configuration or policy, identities, the map: what a
	 * PutObject reads; ticket.h) */
	uint64_t more_index;
	/* Raft's last applied index when the store last committed: readers see
	 * every entry up to it (barriers and configuration entries included,
	 * which the store's own applied index does not count) */
	uint64_t visible;
	uint64_t open_since_ns;	 /* when the store's open batch was first left open */
	uint64_t commit_ns;	 /* opt.store_commit_ms */
	uv_timer_t commit_timer; /* ends that wait (after_turn commits) */
	uint64_t store_commits;
	struct read_tickets *tk; /* published for reads its shard reads confirm */
	int prev_role;
	int started;
	int raft_closed;
	int transport_closed;
	int reaping; /* holds an aioreap_start */

	/* inbox */
	pthread_mutex_t mu;
	struct msg *in_head, *in_tail;
	int stopping;
	int wake_closed; /* later posts stay queued (cluster_close drains them) */

	/* the highest term this node has persisted (read rounds, any thread) */
	_Atomic uint64_t term_seen;
	int (*io_set_term)(struct raft_io *io, raft_term term);

	/* forwarding threads */
	pthread_t fwd[FORWARDERS];
	pthread_mutex_t jmu;
	pthread_cond_t jcv;
	struct job *jobs, *jobs_tail;
	int jstop;

	/* published status */
	pthread_mutex_t smu;
	struct cluster_status st;
	_Atomic int atomic_stop; /* seen by a blocking snapshot fetch */
	int rejoin;		 /* a replacement: rejoin.c asks to be let in */
	struct cluster_rejoin *rejoiner;
};

static int raft_err(int rv)
{
	switch (rv) {
	case 0: return 0;
	case RAFT_NOMEM: return CN_ENOMEM;
	case RAFT_NOTLEADER: return CN_ENOTLEADER;
	case RAFT_LEADERSHIPLOST: return CN_EUNCERTAIN;
	case RAFT_SHUTDOWN:
	case RAFT_CANCELED: return CN_ESHUTDOWN;
	case RAFT_NOSPACE: return CN_ENOSPACE;
	case RAFT_IOERR: return CN_EIO;
	case RAFT_BADID:
	case RAFT_DUPLICATEID:
	case RAFT_DUPLICATEADDRESS:
	case RAFT_BADROLE:
	case RAFT_INVALID: return CN_EINVAL;
	case RAFT_CANTCHANGE:
	case RAFT_BUSY: return CN_ECONFLICT;
	case RAFT_NOCONNECTION: return CN_ENOLEADER;
	default: return CN_EINTERNAL;
	}
}

static void list_append(struct meta_cmd **head, struct meta_cmd *cmd)
{
	cmd->next_ = NULL;
	while (*head)
		head = &(*head)->next_;
	*head = cmd;
}

/* Ends every command of list with rc (same index for barriers). */
static void complete_all(struct meta_cmd *list, int rc, uint64_t index)
{
	while (list) {
		struct meta_cmd *n = list->next_;
		list->next_ = NULL;
		list->res.index = index;
		meta_cmd_complete(list, rc);
		list = n;
	}
}

/* ---- forwarding threads ---- */

/* Called with c->mu held. */
static void post_locked(struct cluster *c, struct msg *m)
{
	m->next = NULL;
	if (c->in_tail)
		c->in_tail->next = m;
	else
		c->in_head = m;
	c->in_tail = m;
	/* under mu: the Raft thread closes the handle only after setting
	 * wake_closed under it */
	if (!c->wake_closed)
		uv_async_send(&c->wake);
}

static void post(struct cluster *c, struct msg *m)
{
	pthread_mutex_lock(&c->mu);
	post_locked(c, m);
	pthread_mutex_unlock(&c->mu);
}

static void job_push(struct cluster *c, struct job *j)
{
	pthread_mutex_lock(&c->jmu);
	j->next = NULL;
	if (c->jobs_tail)
		c->jobs_tail->next = j;
	else
		c->jobs = j;
	c->jobs_tail = j;
	pthread_cond_signal(&c->jcv);
	pthread_mutex_unlock(&c->jmu);
}

void cluster_result_decode(const char *s, int *rc, struct meta_cmd_result *res,
			   uint64_t *entry_term)
{
	char vid[40] = "", etag[80] = "", one[256];
	long long r = 0;
	unsigned long long index = 0, size = 0, term = 0;
	const char *nl = s ? strchr(s, '\n') : NULL;
	size_t len = s ? (nl ? (size_t)(nl - s) : strlen(s)) : 0;
	int dm = 0, n = 0;

	*entry_term = 0;
	/* the line alone: sscanf would read a missing term from the next */
	if (s && len < sizeof(one)) {
		memcpy(one, s, len);
		one[len] = 0;
		n = sscanf(one, "%lld %llu %39s %d %llu %79s %llu", &r, &index, vid, &dm, &size,
			   etag, &term);
	}
	if (n != 6 && n != 7) {
		*rc = CN_EUNCERTAIN;
		return;
	}
	*rc = (int)r;
	if (n == 7)
		*entry_term = term;
	res->index = index;
	if (strcmp(vid, "-") != 0 && strlen(vid) < sizeof(res->vid_text)) {
		strcpy(res->vid_text, vid);
		if (strcmp(vid, "null") != 0)
			meta_id_from_text(vid, strlen(vid), res->vid);
	}
	res->delete_marker = dm;
	res->size = size;
	if (strcmp(etag, "-") != 0 && strlen(etag) < sizeof(res->etag))
		strcpy(res->etag, etag);
}

/* One forwarded batch: the commands' encodings as frames (u32 LE length,
 * bytes) in one propose call; the leader answers one result line each, in
 * order. A call that fails leaves every command's outcome unknown. */
static void run_propose(struct cluster *c, struct job **batch, int n)
{
	struct rpc_resp resp;
	struct cn_buf body;
	const char *line;
	int rc;

	cn_buf_init(&body);
	for (int i = 0; i < n; i++) {
		uint8_t len[4];
		for (int b = 0; b < 4; b++)
			len[b] = (uint8_t)(batch[i]->enc_len >> (8 * b));
		cn_buf_put(&body, len, 4);
		cn_buf_put(&body, batch[i]->enc, batch[i]->enc_len);
	}
	rc = body.err ? CN_ENOMEM
		      : rpc_call(c->rpc, batch[0]->leader, "POST", "/_cairn/internal/propose",
				 body.p, body.len, -1, FORWARD_TIMEOUT_MS, 0, &resp);
	cn_buf_release(&body);
	line = !rc && resp.status == 200 ? resp.body : NULL;
	for (int i = 0; i < n; i++) {
		struct meta_cmd *cmd = batch[i]->cmd;
		int r;
		if (rc) {
			/* sent or not, applied or not: unknown (refused: not sent) */
			r = rc == -ECONNREFUSED ? CN_ENOLEADER : CN_EUNCERTAIN;
		} else if (resp.status != 200) {
			/* 503: the leader moved before appending any of them */
			r = resp.status == 503 ? CN_ENOLEADER : CN_EUNCERTAIN;
		} else {
			cluster_result_decode(line, &r, &cmd->res, &cmd->entry_term);
			if (r == CN_ENOTLEADER)
				r = CN_ENOLEADER; /* not appended: the client retries */
			line = line ? strchr(line, '\n') : NULL;
			if (line)
				line++;
		}
		meta_cmd_complete(cmd, r);
		free(batch[i]->enc);
		free(batch[i]);
	}
	if (!rc)
		rpc_resp_release(&resp);
}

int cluster_index_decode(const char *s, uint64_t *index, uint64_t *term)
{
	char *end = NULL;

	*index = *term = 0;
	if (!isdigit((unsigned char)*s))
		return CN_EINVAL;
	*index = strtoull(s, &end, 10);
	if (*end == ' ' && isdigit((unsigned char)end[1]))
		*term = strtoull(end + 1, &end, 10);
	return *end == '\n' || *end == 0 ? 0 : CN_EINVAL;
}

static void run_barrier(struct cluster *c, struct job *j)
{
	struct rpc_resp resp;
	struct msg *m = calloc(1, sizeof(*m));
	uint64_t index = 0, term = 0;
	char target[96];
	int rc;

	snprintf(target, sizeof(target), "/_cairn/internal/barrier?known=%" PRIu64 "%s", j->known,
		 j->ticket ? "&ticket=1" : "");
	rc = rpc_call(c->rpc, j->leader, "POST", target, NULL, 0, -1, BARRIER_TIMEOUT_MS, 1, &resp);
	if (!rc) {
		if (resp.status == 200 && resp.body &&
		    cluster_index_decode(resp.body, &index, &term))
			index = term = 0;
		rpc_resp_release(&resp);
	}
	if (!m) {
		complete_all(j->waiters, CN_ENOMEM, 0);
	} else {
		m->type = MSG_FBAR_DONE;
		m->index = index;
		/* (a leader of an earlier version ignores ticket=1: a round) */
		m->term = j->ticket ? term : 0;
		m->waiters = j->waiters;
		post(c, m);
	}
	free(j);
}

/* A round of term j->term on the leader, for a write that went ahead on a
 * ticket of that term from here (meta_cmd.ask_leader): it passes only if
 * the leader says it ran one in that term (it echoes the term; a leader of
 * an earlier version would run a round of whatever term it is in, and
 * does not echo it). */
static void run_round(struct cluster *c, struct job *j)
{
	struct rpc_resp resp;
	uint64_t index = 0, term = 0;
	char target[96];
	int rc = CN_ENOLEADER;

	snprintf(target, sizeof(target), "/_cairn/internal/barrier?known=%" PRIu64 "&term=%" PRIu64,
		 j->known, j->term);
	if (rpc_call(c->rpc, j->leader, "POST", target, NULL, 0, -1, BARRIER_TIMEOUT_MS, 1,
		     &resp) == 0) {
		if (resp.status == 200 && resp.body &&
		    cluster_index_decode(resp.body, &index, &term) == 0 && index && term == j->term)
			rc = 0;
		rpc_resp_release(&resp);
	}
	meta_cmd_complete(j->cmd, rc);
	free(j);
}

static void run_confirm(struct cluster *c, struct job *j)
{
	char target[96];
	struct rpc_resp resp;
	struct msg *m = j->reply;

	snprintf(target, sizeof(target), "/_cairn/internal/follows?term=%" PRIu64, j->term);
	m->rc = CN_ENOTLEADER;
	if (rpc_call(c->rpc, j->leader, "POST", target, NULL, 0, -1, BARRIER_TIMEOUT_MS, 1,
		     &resp) == 0) {
		if (resp.status == 200)
			m->rc = 0;
		/* (a node of an earlier version answers "yes") */
		m->batches = resp.status == 200 && resp.body &&
			     strncmp(resp.body, CLUSTER_FOLLOWS_BATCHES,
				     strlen(CLUSTER_FOLLOWS_BATCHES)) == 0;
		rpc_resp_release(&resp);
	}
	post(c, m);
	free(j);
}

static void *forwarder(void *arg)
{
	struct cluster *c = arg;
	struct job *batch[FORWARD_BATCH_MAX];

	cn_thread_name("forward");
	pthread_mutex_lock(&c->jmu);
	for (;;) {
		struct job *j;
		size_t bytes;
		int n = 0;
		while (!c->jobs && !c->jstop)
			pthread_cond_wait(&c->jcv, &c->jmu);
		if (!c->jobs)
			break;
		j = c->jobs;
		c->jobs = j->next;
		if (j->type == JOB_PROPOSE) {
			/* the proposals queued behind it for the same leader go
			 * in the same call */
			batch[n++] = j;
			bytes = j->enc_len;
			while (c->jobs && c->jobs->type == JOB_PROPOSE && n < FORWARD_BATCH_MAX &&
			       bytes < FORWARD_BATCH_BYTES &&
			       strcmp(c->jobs->leader, j->leader) == 0) {
				batch[n] = c->jobs;
				bytes += batch[n++]->enc_len;
				c->jobs = c->jobs->next;
			}
		}
		if (!c->jobs)
			c->jobs_tail = NULL;
		pthread_mutex_unlock(&c->jmu);
		if (n)
			run_propose(c, batch, n);
		else if (j->type == JOB_CONFIRM)
			run_confirm(c, j);
		else if (j->type == JOB_ROUND)
			run_round(c, j);
		else
			run_barrier(c, j);
		pthread_mutex_lock(&c->jmu);
	}
	pthread_mutex_unlock(&c->jmu);
	return NULL;
}

/* ---- FSM ---- */

static void put_u32(uint8_t *p, size_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static size_t get_u32(const uint8_t *p)
{
	return (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 | (size_t)p[3] << 24;
}

/* The log entry of the n encoded commands in pp (ENTRY_HDR's comment): one
 * command's framing when n is 1, a batch entry's otherwise. */
static int entry_frame(const struct pending_prop *pp, unsigned n, struct raft_buffer *out)
{
	size_t len = ENTRY_HDR, off = ENTRY_HDR;
	uint8_t *b;

	if (n == 0)
		return CN_EINVAL;
	for (unsigned i = 0; i < n; i++)
		len += pp[i].len + (n > 1 ? 4 : 0);
	out->len = (len + 7) & ~(size_t)7;
	out->base = b = raft_calloc(1, out->len);
	if (!b)
		return CN_ENOMEM;
	if (n == 1) {
		put_u32(b, pp[0].len);
		memcpy(b + ENTRY_HDR, pp[0].enc, pp[0].len);
		return 0;
	}
	put_u32(b, n);
	put_u32(b + 4, ENTRY_BATCH);
	for (unsigned i = 0; i < n; i++) {
		put_u32(b + off, pp[i].len);
		memcpy(b + off + 4, pp[i].enc, pp[i].len);
		off += 4 + pp[i].len;
	}
	return 0;
}

/* cmd's encoding into pp (enc malloc'd), its length fit for the framing */
static int encode_one(const struct meta_cmd *cmd, struct pending_prop *pp)
{
	int rc = meta_cmd_encode(cmd, &pp->enc, &pp->len);

	if (!rc && pp->len > UINT32_MAX) {
		free(pp->enc);
		rc = CN_ETOOBIG;
	}
	return rc;
}

int cluster_entry_encode_batch(const struct meta_cmd *cmds, unsigned n, struct raft_buffer *out)
{
	struct pending_prop pp[PROPOSE_BATCH_MAX];
	unsigned k;
	int rc = n && n <= PROPOSE_BATCH_MAX ? 0 : CN_EINVAL;

	for (k = 0; !rc && k < n; k++) {
		rc = encode_one(&cmds[k], &pp[k]);
		if (rc)
			break;
	}
	if (!rc)
		rc = entry_frame(pp, n, out);
	while (k)
		free(pp[--k].enc);
	return rc;
}

int cluster_entry_encode(const struct meta_cmd *cmd, struct raft_buffer *out)
{
	return cluster_entry_encode_batch(cmd, 1, out);
}

static void apply_failed(uint64_t index, int rc)
{
	/* Carrying on would make this store differ from the others'. */
	log_error("cluster: cannot apply log entry %llu: %s; stopping this node",
		  (unsigned long long)index, cn_strerror(rc));
	abort();
}

static void entry_malformed(uint64_t index)
{
	/* every node logged the same bytes: this one reads them wrong */
	log_error("cluster: log entry %llu is malformed; stopping this node",
		  (unsigned long long)index);
	abort();
}

/* Every 64 entries: the threshold that keeps the in-memory log within the
 * budget at the entries' mean size (cluster.h, log_budget). The mean moves
 * by halves, so that one burst of large entries does not swing it. */
static void log_budget_note(struct cluster_fsm *f, size_t len)
{
	uint64_t t;

	f->win_bytes += len;
	if (++f->win_count < 64)
		return;
	t = f->win_bytes / f->win_count;
	f->mean_bytes = f->mean_bytes ? (f->mean_bytes + t) / 2 : t;
	f->win_bytes = f->win_count = 0;
	t = f->log_budget / (5 * f->mean_bytes); /* entries are >= ENTRY_HDR */
	if (t < CLUSTER_SNAPSHOT_MIN)
		t = CLUSTER_SNAPSHOT_MIN;
	if (t > f->snap_max)
		t = f->snap_max;
	/* move only on a change of an eighth: each set is cheap, but a
	 * threshold that never settles makes snapshots hard to follow */
	if (t * 8 < (uint64_t)f->snap_threshold * 7 || t * 8 > (uint64_t)f->snap_threshold * 9) {
		f->snap_threshold = (unsigned)t;
		raft_set_snapshot_threshold(f->raft, f->snap_threshold);
		raft_set_snapshot_trailing(f->raft, 4 * f->snap_threshold);
	}
}

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
	struct cluster_fsm *f = fsm->data;
	uint64_t index = raft_last_applied(f->raft) + 1;
	struct meta_cmd_result res;
	const uint8_t *e = buf->base;
	size_t n = 1, off = ENTRY_HDR, len, framing;
	int rc, r;

	if (buf->len < ENTRY_HDR)
		entry_malformed(index);
	if (f->log_budget)
		log_budget_note(f, buf->len);
	len = get_u32(e);
	framing = get_u32(e + 4);
	if (framing == ENTRY_BATCH) {
		n = len; /* a batch entry: its commands follow, each with its length */
		if (n < 2 || n > PROPOSE_BATCH_MAX)
			entry_malformed(index);
		/* once one is in the log, every node applying it must read
		 * them: any later leader may append more (batches_ok) */
		rc = meta_repl_note_batch(f->meta);
		if (rc)
			apply_failed(index, rc);
	} else if (framing != 0 || len > buf->len - ENTRY_HDR) {
		entry_malformed(index);
	}
	*result = NULL;
	for (size_t i = 0; i < n; i++) {
		if (n > 1) {
			if (buf->len - off < 4)
				entry_malformed(index);
			len = get_u32(e + off);
			off += 4;
		}
		if (len > buf->len - off)
			entry_malformed(index);
		memset(&res, 0, sizeof(res));
		rc = meta_repl_apply_part(f->meta, index, i + 1 == n, e + off, len, &r, &res);
		if (rc)
			apply_failed(index, rc);
		off += len;
		if (f->applied)
			f->applied(f, index, (unsigned)i, r, &res, result);
	}
	return 0;
}

/* The proposal this node made for entry `index`, if any, learns the
 * result of its command `part`. */
static void cluster_applied(struct cluster_fsm *f, uint64_t index, unsigned part, int rc,
			    const struct meta_cmd_result *res, void **result)
{
	struct cluster *c = f->owner;
	struct prop *p = *result;
	uint64_t hash;
	int what = meta_repl_touched(c->meta, &hash);

	tickets_touch(c->tk, what, hash);
	if (index > c->write_index)
		c->write_index = index;
	if (what != META_TOUCH_KEY && what != META_TOUCH_NONE && index > c->more_index)
		c->more_index = index;
	if (part == 0) {
		p = c->props_head;
		while (p && p->req.index < index)
			p = p->next; /* its entry was replaced by another leader's */
		if (!p || p->req.index != index)
			return;
		*result = p;
	}
	if (p && part < p->n) {
		/* (a replay cannot be our own proposal's first apply: if it
		 * ever were, its result is unknown) */
		p->part[part].rc = rc == META_REPL_REPLAYED ? CN_EUNCERTAIN : rc;
		p->part[part].res = *res;
		p->part[part].res.index = index;
	}
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
	struct cluster_fsm *c = fsm->data;
	struct raft_buffer *b;
	uint8_t *p;
	uint64_t applied;
	int rc;

	/* The snapshot point must be durable in the store before Raft may drop
	 * the log entries it covers. */
	rc = meta_repl_commit(c->meta);
	if (!rc)
		rc = meta_repl_sync(c->meta);
	if (rc) {
		log_error("cluster: snapshot: %s", cn_strerror(rc));
		return RAFT_IOERR;
	}
	applied = meta_repl_applied(c->meta);
	b = raft_malloc(sizeof(*b));
	p = raft_malloc(16 + 8);
	if (!b || !p) {
		raft_free(b);
		raft_free(p);
		return RAFT_NOMEM;
	}
	/* manifest: magic, applied index (LE), this node's id (LE) */
	memcpy(p, SNAP_MAGIC, 8);
	for (int i = 0; i < 8; i++) {
		p[8 + i] = (uint8_t)(applied >> (8 * i));
		p[16 + i] = (uint8_t)(c->id >> (8 * i));
	}
	b->base = p;
	b->len = 24;
	*bufs = b;
	*n_bufs = 1;
	log_info("cluster: snapshot at applied index %llu", (unsigned long long)applied);
	return 0;
}

static int fetch_store(struct cluster *c, const char *addr, uint64_t min)
{
	char dir[4200], path[4300], target[96];
	struct rpc_resp resp;
	int fd, rc;

	snprintf(dir, sizeof(dir), "%s/incoming", c->dir);
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -errno;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	snprintf(target, sizeof(target), "/_cairn/internal/snapshot?min=%llu",
		 (unsigned long long)min);
	/* Big stores take a while: the timeout covers the whole transfer. */
	rc = rpc_call(c->rpc, addr, "GET", target, NULL, 0, fd, 3600000, 1, &resp);
	if (!rc && resp.status != 200)
		rc = resp.status == 503 ? CN_EAGAIN : CN_EINTERNAL;
	if (!rc && fsync(fd) != 0)
		rc = -errno;
	close(fd);
	if (!rc) {
		log_info("cluster: fetched a store copy of %zu bytes from %s", resp.len, addr);
		rc = meta_repl_replace(c->meta, dir);
	}
	unlink(path);
	return rc;
}

/* Makes the store reach `index` from a peer's copy. Blocks the Raft loop
 * (this node can do nothing useful until it has the store). */
static int install_store(struct cluster_fsm *f, uint64_t index)
{
	struct cluster *c = f->owner;
	unsigned delay_ms = 200;

	for (int attempt = 0; !atomic_load(&c->atomic_stop); attempt++) {
		raft_id lid = 0;
		const char *laddr = NULL;
		char addrs[CLUSTER_MAX_NODES + 1][CLUSTER_ADDR_MAX + 1];
		int n = 0;

		raft_leader(&c->raft, &lid, &laddr);
		if (laddr && strlen(laddr) <= CLUSTER_ADDR_MAX)
			strcpy(addrs[n++], laddr);
		for (unsigned i = 0; i < c->raft.configuration.n && n <= CLUSTER_MAX_NODES; i++) {
			const struct raft_server *s = &c->raft.configuration.servers[i];
			if (s->id != c->id && s->id != lid &&
			    strlen(s->address) <= CLUSTER_ADDR_MAX)
				strcpy(addrs[n++], s->address);
		}
		for (int i = 0; i < n; i++) {
			int rc = fetch_store(c, addrs[i], index);
			if (rc == 0 && meta_repl_applied(c->meta) >= index) {
				log_info("cluster: installed a store copy at applied index %llu "
					 "(snapshot %llu)",
					 (unsigned long long)meta_repl_applied(c->meta),
					 (unsigned long long)index);
				return 0;
			}
			if (attempt % 10 == 0)
				log_warn("cluster: snapshot copy from %s: %s", addrs[i],
					 cn_strerror(rc ? rc : CN_EAGAIN));
		}
		usleep(delay_ms * 1000);
		if (delay_ms < 2000)
			delay_ms *= 2;
	}
	return CN_ESHUTDOWN;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
	struct cluster_fsm *c = fsm->data;
	const uint8_t *p = buf->base;
	uint64_t index = 0;
	int rc;

	if (buf->len != 24 || memcmp(p, SNAP_MAGIC, 8) != 0) {
		raft_free(buf->base);
		return RAFT_CORRUPT;
	}
	for (int i = 7; i >= 0; i--)
		index = index << 8 | p[8 + i];
	raft_free(buf->base);
	/* Whatever is applied is committed: the batch must not straddle it. */
	rc = meta_repl_commit(c->meta);
	if (rc)
		return RAFT_IOERR;
	if (meta_repl_applied(c->meta) >= index)
		return 0; /* our own snapshot, or we are ahead already */
	log_info("cluster: installing a snapshot at index %llu (this store: %llu)",
		 (unsigned long long)index, (unsigned long long)meta_repl_applied(c->meta));
	rc = c->install(c, index);
	return rc ? RAFT_IOERR : 0;
}

void cluster_fsm_init(struct cluster_fsm *f, struct raft_fsm *out)
{
	memset(out, 0, sizeof(*out));
	out->version = 1;
	out->data = f;
	out->apply = fsm_apply;
	out->snapshot = fsm_snapshot;
	out->restore = fsm_restore;
}

static void guarded_recv(struct raft_io *io, struct raft_message *m)
{
	struct raft *r = io->data;
	struct cluster_fsm *f = r->fsm->data;

	/* legacy.snapshot_taking is in raft.h's frozen v0 ABI: exactly the
	 * window between fsm->snapshot and the end of its snapshot_put */
	if (m->type == RAFT_INSTALL_SNAPSHOT && r->legacy.snapshot_taking) {
		raft_configuration_close(&m->install_snapshot.conf);
		raft_free(m->install_snapshot.data.base);
		f->installs_dropped++;
		log_info("cluster: install snapshot from %llu dropped while taking our own",
			 (unsigned long long)m->server_id);
		return;
	}
	f->recv(io, m);
}

static int guarded_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
			 raft_io_recv_cb recv)
{
	struct raft *r = io->data;
	struct cluster_fsm *f = r->fsm->data;

	f->recv = recv;
	return f->io_start(io, msecs, tick, guarded_recv);
}

/* libraft's v0 layer calls io->truncate with the index of the first of the
 * entries it persists, right before the io->append that persists them. */
static int guarded_truncate(struct raft_io *io, raft_index index)
{
	struct raft *r = io->data;
	struct cluster_fsm *f = r->fsm->data;

	f->append_index = index;
	return f->io_truncate(io, index);
}

/* A follower that receives configuration entries (RAFT_CHANGE) in an
 * AppendEntries batch runs the last of them, but libraft 0.22.1 records
 * the batch's first index as that configuration's (replicationAppend passes
 * the batch's index, not the entry's). Applying the entry at its real index
 * then never commits it: the committed configuration (what snapshots record
 * and a restart from one loads) stays behind, and the stuck uncommitted
 * index refuses membership changes should this node lead. Entries reach
 * io->append before any of them is applied, so the index is set right here:
 * to the last configuration entry's own. */
static int guarded_append(struct raft_io *io, struct raft_io_append *req,
			  const struct raft_entry entries[], unsigned n, raft_io_append_cb cb)
{
	struct raft *r = io->data;
	struct cluster_fsm *f = r->fsm->data;
	unsigned last = 0;

	for (unsigned i = 1; i < n; i++)
		if (entries[i].type == RAFT_CHANGE)
			last = i;
	if (last && r->state == RAFT_FOLLOWER &&
	    r->configuration_uncommitted_index == f->append_index) {
		r->configuration_uncommitted_index = f->append_index + last;
		f->conf_indexes_fixed++;
		log_info("cluster: configuration entry at %llu (libraft recorded %llu)",
			 f->append_index + last, f->append_index);
	}
	return f->io_append(io, req, entries, n, cb);
}

void cluster_fsm_guard_io(struct cluster_fsm *f, struct raft_io *io)
{
	assert(io->start != guarded_start);
	f->io_start = io->start;
	io->start = guarded_start;
	f->io_truncate = io->truncate;
	io->truncate = guarded_truncate;
	f->io_append = io->append;
	io->append = guarded_append;
}

/* Raft persists every new term through io->set_term before it votes or
 * answers anything in it: publishing it here first keeps term_seen at
 * least as new as any vote this node has cast (cluster_follows). */
static int set_term_published(struct raft_io *io, raft_term term)
{
	struct cluster *c = (struct cluster *)((char *)io - offsetof(struct cluster, io));
	uint64_t cur = atomic_load(&c->term_seen);

	while (cur < term && !atomic_compare_exchange_weak(&c->term_seen, &cur, term))
		;
	return c->io_set_term(io, term);
}

int cluster_follows(struct cluster *c, uint64_t term)
{
	return term != 0 && atomic_load(&c->term_seen) == term;
}

struct read_tickets *cluster_tickets(struct cluster *c)
{
	return c->tk;
}

/* ---- transport: Raft connections over the internal API ---- */

/* raft_uv keeps its own pointer in t->data: the cluster is found from the
 * embedded transport instead. */
static struct cluster *of_transport(struct raft_uv_transport *t)
{
	return (struct cluster *)((char *)t - offsetof(struct cluster, transport));
}

static int transport_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
	(void)t, (void)id, (void)address;
	return 0;
}

static int transport_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
	struct cluster *c = of_transport(t);
	c->accept_cb = cb;
	return 0;
}

static void dialer_unlink(struct dialer *d)
{
	struct cluster *c = d->c;

	if (d->prev)
		d->prev->next = d->next;
	else if (c->dialers == d)
		c->dialers = d->next;
	if (d->next)
		d->next->prev = d->prev;
	d->next = d->prev = NULL;
}

static void dialer_free_cb(uv_handle_t *h)
{
	struct dialer *d = h->data;
	raft_free(d->tcp);
	cn_buf_release(&d->out);
	free(d);
}

static void dial_timer_closed(uv_handle_t *h)
{
	free(h);
}

/* Ends a connect: hands the stream to raft, or reports the failure. */
static void dialer_finish(struct dialer *d, int status)
{
	struct raft_uv_connect *req = d->req;

	if (d->done)
		return;
	d->done = 1;
	dialer_unlink(d);
	if (d->timer) {
		uv_timer_stop(d->timer);
		uv_close((uv_handle_t *)d->timer, dial_timer_closed);
		d->timer = NULL;
	}
	if (status == 0) {
		uv_read_stop((uv_stream_t *)d->tcp);
		((uv_handle_t *)d->tcp)->data = NULL;
		req->cb(req, (uv_stream_t *)d->tcp, 0); /* raft owns the stream now */
		d->tcp = NULL;
		cn_buf_release(&d->out);
		free(d);
		return;
	}
	req->cb(req, NULL, status);
	((uv_handle_t *)d->tcp)->data = d;
	uv_close((uv_handle_t *)d->tcp, dialer_free_cb);
}

static int dial_on_headers(http_parser *p)
{
	struct dialer *d = p->data;
	d->status = (int)p->status_code;
	http_parser_pause(p, 1);
	return 1; /* no body follows a 101 */
}

static const http_parser_settings dial_settings = {
	.on_headers_complete = dial_on_headers,
};

static void dial_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct dialer *d = h->data;
	(void)suggested;
	*buf = uv_buf_init(d->rbuf, sizeof(d->rbuf));
}

static void dial_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct dialer *d = s->data;
	size_t used;

	if (n == 0)
		return;
	if (n < 0) {
		dialer_finish(d, RAFT_NOCONNECTION);
		return;
	}
	/* The answer is a header block and nothing more: the peer sends no
	 * Raft bytes on a connection it accepted. */
	used = http_parser_execute(&d->parser, &dial_settings, buf->base, (size_t)n);
	(void)used;
	if (d->status == 101 && (HTTP_PARSER_ERRNO(&d->parser) == HPE_PAUSED ||
				 HTTP_PARSER_ERRNO(&d->parser) == HPE_OK)) {
		if (HTTP_PARSER_ERRNO(&d->parser) == HPE_PAUSED)
			dialer_finish(d, 0);
		return;
	}
	if (HTTP_PARSER_ERRNO(&d->parser) != HPE_OK || (d->status && d->status != 101)) {
		if (d->status && d->status != 101)
			log_warn("cluster: raft connection refused by peer: HTTP %d", d->status);
		dialer_finish(d, RAFT_NOCONNECTION);
	}
}

static void dial_written(uv_write_t *w, int status)
{
	struct dialer *d = w->data;

	if (d->done)
		return;
	if (status) {
		dialer_finish(d, RAFT_NOCONNECTION);
		return;
	}
	if (uv_read_start((uv_stream_t *)d->tcp, dial_alloc, dial_read) != 0)
		dialer_finish(d, RAFT_NOCONNECTION);
}

/* Sends the upgrade request. 0 or a RAFT_* error (the caller finishes). */
static int dial_request(struct dialer *d)
{
	struct cluster *c = d->c;
	uint8_t sha[32];
	char mac[65];
	const char *target = "/_cairn/internal/raft";
	int64_t date = cn_now_ns() / 1000000000LL;
	uv_buf_t b;

	cn_sha256("", 0, sha);
	cluster_auth_sign(c->secret, c->slen, "POST", target, c->node, date, sha, mac);
	cn_buf_printf(
		&d->out,
		"POST %s HTTP/1.1\r\nHost: x\r\nUpgrade: cairn-raft\r\nConnection: Upgrade\r\n"
		"X-Cairn-Node: %s\r\nX-Cairn-Id: %llu\r\nX-Cairn-Date: %lld\r\n"
		"X-Cairn-Auth: %s\r\nContent-Length: 0\r\n\r\n",
		target, c->node, (unsigned long long)c->id, (long long)date, mac);
	if (d->out.err)
		return RAFT_NOMEM;
	b = uv_buf_init(d->out.s, (unsigned)d->out.len);
	d->wr.data = d;
	if (uv_write(&d->wr, (uv_stream_t *)d->tcp, &b, 1, dial_written) != 0)
		return RAFT_NOCONNECTION;
	return 0;
}

static void dial_connected(uv_connect_t *conn, int status)
{
	struct dialer *d = conn->data;

	if (d->done)
		return;
	if (status || (status = dial_request(d)) != 0)
		dialer_finish(d, status ? status : RAFT_NOCONNECTION);
}

/* Over TLS: a non-blocking connect handed to a relay; the stream is the
 * relay's plain end, on which the upgrade request goes at once (the relay
 * holds it until the handshake is done). 0, or non-zero when it failed (the
 * caller closes d->tcp if its data was set, i.e. the handle is live). */
static int dial_tls(struct dialer *d, const char *address, const struct sockaddr_in *sa)
{
	struct cluster *c = d->c;
	int fd, local, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return RAFT_NOCONNECTION;
	/* (the relay turns keepalive on) */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0 && errno != EINPROGRESS) {
		close(fd);
		return RAFT_NOCONNECTION;
	}
	if (cluster_tls_wrap(c->opt.tls, address, fd, &local) != 0)
		return RAFT_NOCONNECTION;
	if (uv_pipe_init(&c->loop, &d->tcp->pipe, 0) != 0) {
		close(local);
		return RAFT_NOCONNECTION;
	}
	((uv_handle_t *)d->tcp)->data = d;
	if (uv_pipe_open(&d->tcp->pipe, local) != 0) {
		close(local);
		return RAFT_NOCONNECTION;
	}
	return 0;
}

static void dial_timeout(uv_timer_t *t)
{
	dialer_finish(t->data, RAFT_NOCONNECTION);
}

static int transport_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
			     const char *address, raft_uv_connect_cb cb)
{
	struct cluster *c = of_transport(t);
	struct sockaddr_in sa;
	struct dialer *d;
	(void)id;

	req->cb = cb;
	if (cluster_addr_parse(address, &sa))
		return RAFT_NOCONNECTION;
	d = calloc(1, sizeof(*d));
	if (!d)
		return RAFT_NOMEM;
	d->tcp = raft_malloc(sizeof(*d->tcp));
	if (!d->tcp) {
		free(d);
		return RAFT_NOMEM;
	}
	memset(d->tcp, 0, sizeof(*d->tcp));
	d->c = c;
	d->req = req;
	cn_buf_init(&d->out);
	http_parser_init(&d->parser, HTTP_RESPONSE);
	d->parser.data = d;
	d->conn.data = d;
	if (c->opt.tls) {
		int rc = dial_tls(d, address, &sa);
		if (rc == 0)
			rc = dial_request(d);
		if (rc) {
			if (((uv_handle_t *)d->tcp)->data == d) {
				uv_close((uv_handle_t *)d->tcp, dialer_free_cb);
			} else {
				raft_free(d->tcp);
				cn_buf_release(&d->out);
				free(d);
			}
			return RAFT_NOCONNECTION;
		}
	} else {
		uv_tcp_init(&c->loop, &d->tcp->tcp);
		uv_tcp_nodelay(&d->tcp->tcp, 1);
		/* a peer that vanishes without a word is noticed in seconds */
		uv_tcp_keepalive(&d->tcp->tcp, 1, 5);
		((uv_handle_t *)d->tcp)->data = d;
		if (uv_tcp_connect(&d->conn, &d->tcp->tcp, (struct sockaddr *)&sa,
				   dial_connected) != 0) {
			uv_close((uv_handle_t *)d->tcp, dialer_free_cb);
			return RAFT_NOCONNECTION;
		}
	}
	d->timer = malloc(sizeof(*d->timer));
	if (d->timer) {
		uv_timer_init(&c->loop, d->timer);
		d->timer->data = d;
		uv_timer_start(d->timer, dial_timeout, DIAL_TIMEOUT_MS, 0);
	}
	d->next = c->dialers;
	if (c->dialers)
		c->dialers->prev = d;
	c->dialers = d;
	return 0;
}

static void transport_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
	struct cluster *c = of_transport(t);

	c->accept_cb = NULL;
	while (c->dialers)
		dialer_finish(c->dialers, RAFT_CANCELED);
	c->transport_closed = 1;
	cb(t);
}

/* A connection the internal API accepted, handed over to raft: a TCP
 * socket, or over TLS the plain end of a relay (a Unix socket: a pipe). */
static void accept_conn(struct cluster *c, struct msg *m)
{
	union dial_stream *st;
	int domain = AF_INET;
	socklen_t dl = sizeof(domain);

	if (!c->accept_cb || c->stopping) {
		close(m->fd);
		return;
	}
	getsockopt(m->fd, SOL_SOCKET, SO_DOMAIN, &domain, &dl);
	st = raft_malloc(sizeof(*st));
	if (!st) {
		close(m->fd);
		return;
	}
	if (domain == AF_UNIX) {
		if (uv_pipe_init(&c->loop, &st->pipe, 0) != 0) {
			raft_free(st);
			close(m->fd);
			return;
		}
		if (uv_pipe_open(&st->pipe, m->fd) != 0) {
			close(m->fd);
			uv_close((uv_handle_t *)st, (uv_close_cb)raft_free);
			return;
		}
	} else {
		if (uv_tcp_init(&c->loop, &st->tcp) != 0) {
			raft_free(st);
			close(m->fd);
			return;
		}
		if (uv_tcp_open(&st->tcp, m->fd) != 0) {
			close(m->fd);
			uv_close((uv_handle_t *)st, (uv_close_cb)raft_free);
			return;
		}
		uv_tcp_nodelay(&st->tcp, 1);
		uv_tcp_keepalive(&st->tcp, 1, 5);
	}
	c->accept_cb(&c->transport, m->id, m->address, (uv_stream_t *)st);
}

/* ---- proposals and barriers (Raft thread) ---- */

static int role_of(struct cluster *c)
{
	switch (raft_state(&c->raft)) {
	case RAFT_LEADER: return CLUSTER_LEADER;
	case RAFT_CANDIDATE: return CLUSTER_CANDIDATE;
	case RAFT_FOLLOWER: return CLUSTER_FOLLOWER;
	default: return CLUSTER_NONE;
	}
}

static int leader_ready(struct cluster *c)
{
	return role_of(c) == CLUSTER_LEADER && c->ready_term == raft_current_term(&c->raft);
}

/* The ready leader's index that a follower's read must see: the last
 * command entry applied here, or the term's first barrier (every entry of
 * an earlier term, commands applied before a restart included). */
static uint64_t write_index_now(const struct cluster *c)
{
	return c->write_index > c->ready_index ? c->write_index : c->ready_index;
}

static void apply_cb(struct raft_apply *req, int status, void *result)
{
	struct prop *p = req->data;
	struct cluster *c = p->c;
	struct prop **pp;

	/* out of the FIFO (results come in log order: p is usually the head) */
	struct prop *prev = NULL;
	for (pp = &c->props_head; *pp && *pp != p; pp = &(*pp)->next)
		prev = *pp;
	if (*pp) {
		*pp = p->next;
		if (c->props_tail == p)
			c->props_tail = prev;
	}
	for (unsigned i = 0; i < p->n; i++) {
		struct meta_cmd *cmd = p->part[i].cmd;
		if (status == 0 && result == p) {
			cmd->res = p->part[i].res;
			cmd->rc_ = p->part[i].rc;
			cmd->entry_term = p->term;
		} else {
			/* Leadership lost: the entry may still commit under the
			 * next leader, or vanish. */
			cmd->rc_ = status == 0 ? CN_EINTERNAL : raft_err(status);
		}
		/* a request's result goes out before the batch holding it
		 * commits, a sync submitter's after (after_turn) */
		list_append(meta_cmd_is_sync(cmd) ? &c->done : &c->early, cmd);
	}
	free(p);
}

/* Fills in what a command's log entry must carry from the leader: the
 * version id (so version order follows the log) and the time. */
static void leader_stamp(struct cluster *c, struct meta_cmd *cmd)
{
	if (cmd->type == META_CMD_PUT_VERSION || cmd->type == META_CMD_DELETE_OBJECT ||
	    cmd->type == META_CMD_UPLOAD_COMPLETE)
		meta_version_id_new(c->meta, cmd->vid);
	cmd->now = cn_now_ns();
}

/* Whether every other member has said it applies batch entries, or the
 * log already holds one (then a node that cannot read them stops on that
 * one anyway: this is what keeps a leader elected while a member is down
 * batching). */
static int batches_ok(struct cluster *c)
{
	const struct raft_configuration *cf = &c->raft.configuration;

	if (meta_repl_batches(c->meta))
		return 1;
	for (unsigned i = 0; i < cf->n; i++) {
		int known = cf->servers[i].id == c->id;
		for (int k = 0; k < CLUSTER_MAX_NODES && !known; k++)
			known = c->batch_peers[k] == cf->servers[i].id;
		if (!known)
			return 0;
	}
	return 1;
}

static void batch_peer_set(struct cluster *c, uint64_t id, int yes)
{
	int free_slot = -1;

	for (int k = 0; k < CLUSTER_MAX_NODES; k++) {
		if (c->batch_peers[k] == id) {
			if (!yes)
				c->batch_peers[k] = 0;
			return;
		}
		if (!c->batch_peers[k] && free_slot < 0)
			free_slot = k;
	}
	if (yes && free_slot >= 0)
		c->batch_peers[free_slot] = id;
}

/* Appends pp[0..n) to the log as one entry. */
static void append_entry(struct cluster *c, const struct pending_prop *pp, unsigned n)
{
	struct raft_buffer b;
	struct prop *p = NULL;
	int rc = entry_frame(pp, n, &b);

	if (!rc) {
		p = calloc(1, sizeof(*p) + n * sizeof(p->part[0]));
		if (!p) {
			raft_free(b.base);
			rc = CN_ENOMEM;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		free(pp[i].enc);
		if (p)
			p->part[i].cmd = pp[i].cmd;
		else
			meta_cmd_complete(pp[i].cmd, rc);
	}
	if (!p)
		return;
	p->c = c;
	p->n = n;
	p->term = raft_current_term(&c->raft);
	p->req.data = p;
	rc = raft_apply(&c->raft, &p->req, &b, 1, apply_cb);
	if (rc) {
		/* libraft may already have released b.base on some failure
		 * paths: never free it here (a leak of one entry at worst). */
		log_warn("cluster: append failed: %s (%s)", raft_strerror(rc),
			 raft_errmsg(&c->raft));
		for (unsigned i = 0; i < n; i++)
			meta_cmd_complete(p->part[i].cmd,
					  rc == RAFT_NOTLEADER ? CN_ENOLEADER : raft_err(rc));
		free(p);
		return;
	}
	c->entries_proposed++;
	c->cmds_proposed += n;
	if (c->props_tail)
		c->props_tail->next = p;
	else
		c->props_head = p;
	c->props_tail = p;
}

static void drop_pending(struct cluster *c, int rc);

/* Appends the proposals (c->pq): one batch entry, or one entry each while
 * some member has not said it applies batch entries. Called at the end of
 * every loop turn, and at once when pq is full.
 * While an entry this leader appended is still in flight (not applied
 * yet), the turn's proposals wait for it and join the next turns' in one
 * entry: a group commit. Every entry costs each node a log write and its
 * fsync, a message and an answer, and the Raft threads' wake-ups on a
 * shared machine; appended every turn, entries queued behind each other
 * in those writes anyway. At 32 writers through the leader of 3 nodes
 * that made ~4.5 commands per entry and ~3.5 ms from append to apply; with
 * one in flight, ~14.5 commands and ~2.2 ms, and more PUTs a second at 8,
 * 32 and 128 clients (bench/RESULTS.md, 2026-12-06 16:40). A lone write
 * finds nothing in flight and goes at once. */
static void propose_flush(struct cluster *c)
{
	unsigned n = c->pq_n;

	if (n == 0 || !leader_ready(c))
		return;
	if (c->pq_term != raft_current_term(&c->raft)) {
		/* stamped by this node as leader of an earlier term: its
		 * version ids may be below what that term's end applied */
		drop_pending(c, CN_ENOLEADER);
		return;
	}
	if (c->props_head && n < PROPOSE_BATCH_MAX && c->pq_bytes < PROPOSE_BATCH_BYTES)
		return; /* apply_cb empties the FIFO; the turn's end comes here */
	c->pq_n = 0;
	c->pq_bytes = 0;
	if (batches_ok(c)) {
		append_entry(c, c->pq, n);
		return;
	}
	for (unsigned i = 0; i < n; i++)
		append_entry(c, &c->pq[i], 1);
}

/* Stamps and encodes cmd for the next batch entry (propose_flush). */
static void propose(struct cluster *c, struct meta_cmd *cmd)
{
	struct pending_prop *pp;
	int rc;

	if (c->pq_n == PROPOSE_BATCH_MAX)
		propose_flush(c);
	if (c->pq_n == PROPOSE_BATCH_MAX) {
		meta_cmd_complete(cmd, CN_ENOLEADER);
		return;
	}
	if (c->pq_n == 0)
		c->pq_term = raft_current_term(&c->raft);
	leader_stamp(c, cmd);
	pp = &c->pq[c->pq_n];
	rc = encode_one(cmd, pp);
	if (rc) {
		meta_cmd_complete(cmd, rc);
		return;
	}
	pp->cmd = cmd;
	c->pq_n++;
	c->pq_bytes += pp->len;
	if (c->pq_bytes >= PROPOSE_BATCH_BYTES)
		propose_flush(c);
}

static void forward(struct cluster *c, struct meta_cmd *cmd)
{
	raft_id lid = 0;
	const char *laddr = NULL;
	struct job *j;
	int rc;

	raft_leader(&c->raft, &lid, &laddr);
	if (cmd->local_only || !laddr || lid == c->id) {
		meta_cmd_complete(cmd, cmd->local_only ? CN_ENOTLEADER : CN_ENOLEADER);
		return;
	}
	j = calloc(1, sizeof(*j));
	if (!j || strlen(laddr) > CLUSTER_ADDR_MAX) {
		free(j);
		meta_cmd_complete(cmd, CN_ENOMEM);
		return;
	}
	rc = meta_cmd_encode(cmd, &j->enc, &j->enc_len);
	if (rc) {
		free(j);
		meta_cmd_complete(cmd, rc);
		return;
	}
	j->type = JOB_PROPOSE;
	j->cmd = cmd;
	strcpy(j->leader, laddr);
	job_push(c, j);
}

static void barrier_cb(struct raft_barrier *req, int status);

/* One raft_barrier for every leader read waiting now (and the new leader's
 * own, making it ready). */
static void start_leader_barrier(struct cluster *c, int term_ready)
{
	struct barrier_round *b;
	int rc;

	if (c->lbar_inflight)
		return;
	if (!c->lbar_waiting && !term_ready && !c->lbar_kick)
		return;
	c->lbar_kick = 0;
	b = calloc(1, sizeof(*b));
	if (!b) {
		complete_all(c->lbar_waiting, CN_ENOMEM, 0);
		c->lbar_waiting = NULL;
		return;
	}
	b->c = c;
	b->waiters = c->lbar_waiting;
	b->term_ready = term_ready;
	b->term = raft_current_term(&c->raft);
	b->req.data = b;
	for (struct meta_cmd *w = b->waiters; w; w = w->next_)
		b->remote |= w->local_only;
	c->lbar_waiting = NULL;
	rc = raft_barrier(&c->raft, &b->req, barrier_cb);
	if (rc) {
		complete_all(b->waiters, CN_ENOLEADER, 0);
		free(b);
		return;
	}
	c->lbar_inflight = b;
}

static void barrier_cb(struct raft_barrier *req, int status)
{
	struct barrier_round *b = req->data;
	struct cluster *c = b->c;
	struct meta_cmd *w;

	c->lbar_inflight = NULL;
	if (status == 0 && b->remote)
		c->lbar_kick = 1;
	if (status == 0 && b->term_ready && b->term == raft_current_term(&c->raft)) {
		c->ready_term = b->term;
		c->ready_index = req->index;
		log_info("cluster: leader for term %llu, ready at index %llu",
			 (unsigned long long)b->term, (unsigned long long)req->index);
	}
	/* the reads, after the commit of everything up to the barrier */
	for (w = b->waiters; w;) {
		struct meta_cmd *n = w->next_;
		w->res.index = req->index;
		w->rc_ = status == 0 ? 0 : CN_ENOLEADER;
		list_append(&c->done, w);
		w = n;
	}
	free(b);
	/* held proposals and the next round start in after_turn: raft must
	 * not be called from inside its own callbacks */
}

static void on_read_pace(uv_timer_t *t)
{
	struct read_pace *p = t->data;

	p->last_reads = 0; /* its pause is served */
	p->start(p->c);
}

/* 1 if the next read round must wait (READ_PACE_*): p's timer starts it. */
static int read_held(struct cluster *c, struct read_pace *p)
{
	int64_t wait;

	if (p->last_reads < READ_PACE_READS || c->stopping)
		return 0;
	wait = p->start_ns + READ_PACE_MS * 1000000LL - cn_mono_ns();
	if (wait <= 0)
		return 0;
	if (!uv_is_active((uv_handle_t *)&p->timer)) {
		uv_timer_start(&p->timer, on_read_pace, (uint64_t)(wait + 999999) / 1000000, 0);
		c->rr_paced++;
	}
	return 1;
}

/* A read round (or read-index call) starts now, carrying waiters. */
static void read_started(struct cluster *c, struct read_pace *p, const struct meta_cmd *waiters)
{
	p->last_reads = 0;
	for (const struct meta_cmd *w = waiters; w; w = w->next_)
		p->last_reads++;
	c->rr_rounds++;
	c->rr_reads += (uint64_t)p->last_reads;
	p->start_ns = cn_mono_ns();
	uv_timer_stop(&p->timer); /* a pause that ran out before its timer */
}

/* A call of this follower's to the leader: a job of type with the
 * leader's address and this node's commit index, or NULL (no leader
 * known, or no memory). */
static struct job *leader_job(struct cluster *c, enum job_type type)
{
	raft_id lid = 0;
	const char *laddr = NULL;
	struct job *j;

	raft_leader(&c->raft, &lid, &laddr);
	if (!laddr || lid == c->id || strlen(laddr) > CLUSTER_ADDR_MAX ||
	    !(j = calloc(1, sizeof(*j))))
		return NULL;
	j->type = type;
	j->known = raft_commit_index(&c->raft);
	strcpy(j->leader, laddr);
	return j;
}

static void start_follower_barrier(struct cluster *c)
{
	struct job *j;
	int ticket = 1;

	if (c->fbar_inflight || !c->fbar_waiting)
		return;
	/* writes alone need no round: a ticket (ticket.h), which costs the
	 * leader no call out, so it is not paced */
	for (const struct meta_cmd *w = c->fbar_waiting; w && ticket; w = w->next_)
		ticket = w->ticket_ok;
	if (!ticket && read_held(c, &c->fb_pace))
		return;
	if (!(j = leader_job(c, JOB_BARRIER))) {
		complete_all(c->fbar_waiting, CN_ENOLEADER, 0);
		c->fbar_waiting = NULL;
		return;
	}
	j->waiters = c->fbar_waiting;
	if (!ticket)
		read_started(c, &c->fb_pace, j->waiters);
	j->ticket = ticket;
	c->fbar_waiting = NULL;
	c->fbar_inflight = 1;
	job_push(c, j);
}

/* Answers reads once this node applied index: now, or from after_turn. */
static void read_at(struct cluster *c, struct meta_cmd *waiters, uint64_t index)
{
	struct await *a;

	if (c->visible >= index) {
		complete_all(waiters, 0, index);
	} else if ((a = calloc(1, sizeof(*a))) != NULL) {
		a->index = index;
		a->deadline_ns = cn_mono_ns() + (uint64_t)READ_WAIT_MS * 1000000;
		a->waiters = waiters;
		a->next = c->awaits;
		c->awaits = a;
	} else {
		complete_all(waiters, CN_ENOMEM, 0);
	}
}

/* Calls out to peer id, after adding delta. */
static int confirms_out(struct cluster *c, uint64_t id, int delta)
{
	int free_slot = -1;

	for (int i = 0; i < CLUSTER_MAX_NODES; i++) {
		if (c->confirm_out[i].n && c->confirm_out[i].id == id) {
			c->confirm_out[i].n += delta;
			return c->confirm_out[i].n;
		}
		if (!c->confirm_out[i].n && free_slot < 0)
			free_slot = i;
	}
	if (delta > 0 && free_slot >= 0) {
		c->confirm_out[free_slot].id = id;
		c->confirm_out[free_slot].n = delta;
		return delta;
	}
	return 0;
}

static void read_round_end(struct cluster *c, struct read_round *rr, int rc)
{
	rr->done = 1;
	for (int i = 0; i < c->n_rr; i++)
		if (c->rr_live[i] == rr) {
			c->rr_live[i] = c->rr_live[--c->n_rr];
			break;
		}
	if (rc) {
		complete_all(rr->waiters, rc, 0);
	} else {
		struct meta_cmd *local = NULL, *remote = NULL, *other = NULL;
		struct meta_cmd **lt = &local, **rt = &remote, **ot = &other;
		for (struct meta_cmd *w = rr->waiters; w; w = w->next_) {
			if (w->leader_term && w->leader_term != rr->term) {
				/* a read made in another term: not this round's */
				*ot = w;
				ot = &w->next_;
			} else if (w->read_index) {
				/* a follower waits until it applied windex; if it
				 * has not been told that it is committed, the next
				 * append tells it now rather than at a heartbeat */
				if (w->known_commit < rr->windex)
					c->lbar_kick = 1;
				*rt = w;
				rt = &w->next_;
			} else {
				*lt = w;
				lt = &w->next_;
			}
		}
		*lt = *rt = *ot = NULL;
		complete_all(other, CN_ENOLEADER, 0);
		complete_all(remote, 0, rr->windex);
		if (local)
			read_at(c, local, rr->index);
	}
	rr->waiters = NULL;
}

/* One read round for every leader read waiting now (see struct read_round).
 * The round asks every voter without a call out; it waits while fewer than
 * it needs are free (a busy one answers within BARRIER_TIMEOUT_MS), and a
 * leader that lost its majority steps down, which fails the waiting reads.
 * Starting later than the reads arrived is always safe: a round only has to
 * start after them. */
static void start_leader_read(struct cluster *c)
{
	const struct raft_configuration *cf = &c->raft.configuration;
	struct job *jobs[CLUSTER_MAX_NODES];
	int voters = 0, self = 0, n = 0;
	struct read_round *rr;

	if (c->n_rr >= READ_ROUNDS || !c->rr_waiting || !leader_ready(c))
		return; /* not ready: after_turn tries again once it is */
	for (unsigned i = 0; i < cf->n; i++)
		if (cf->servers[i].role == RAFT_VOTER) {
			voters++;
			self |= cf->servers[i].id == c->id;
		}
	if (!self) {
		/* a leader being removed: the barrier entry still works */
		while (c->rr_waiting) {
			struct meta_cmd *w = c->rr_waiting;
			c->rr_waiting = w->next_;
			list_append(&c->lbar_waiting, w);
		}
		start_leader_barrier(c, 0);
		return;
	}
	if (read_held(c, &c->rr_pace))
		return;
	if (!(rr = calloc(1, sizeof(*rr)))) {
		complete_all(c->rr_waiting, CN_ENOMEM, 0);
		c->rr_waiting = NULL;
		return;
	}
	rr->term = raft_current_term(&c->raft);
	rr->index = raft_commit_index(&c->raft);
	rr->windex = write_index_now(c);
	rr->need = voters / 2; /* a majority, less this node */
	for (unsigned i = 0; i < cf->n && n < CLUSTER_MAX_NODES; i++) {
		const struct raft_server *sv = &cf->servers[i];
		struct job *j;
		if (sv->role != RAFT_VOTER || sv->id == c->id ||
		    confirms_out(c, sv->id, 0) >= CONFIRMS_PER_PEER ||
		    strlen(sv->address) > CLUSTER_ADDR_MAX)
			continue;
		if (!(j = calloc(1, sizeof(*j))) || !(j->reply = calloc(1, sizeof(*j->reply)))) {
			free(j);
			break;
		}
		j->type = JOB_CONFIRM;
		j->term = rr->term;
		strcpy(j->leader, sv->address);
		j->reply->type = MSG_CONFIRMED;
		j->reply->round = rr;
		j->reply->id = sv->id;
		jobs[n++] = j;
	}
	if (n < rr->need) {
		/* too few free to make a majority: wait for one to come back */
		for (int i = 0; i < n; i++) {
			free(jobs[i]->reply);
			free(jobs[i]);
		}
		free(rr);
		return;
	}
	rr->waiters = c->rr_waiting;
	c->rr_waiting = NULL;
	read_started(c, &c->rr_pace, rr->waiters);
	if (rr->need == 0) {
		/* the only voter: no calls, nothing to pace */
		c->rr_pace.last_reads = 0;
		read_round_end(c, rr, 0);
		free(rr);
		return;
	}
	for (int i = 0; i < n; i++) {
		confirms_out(c, jobs[i]->reply->id, 1);
		rr->pending++;
		job_push(c, jobs[i]);
	}
	c->rr_live[c->n_rr++] = rr;
}

static void on_confirmed(struct cluster *c, struct msg *m)
{
	struct read_round *rr = m->round;

	confirms_out(c, m->id, -1);
	if (m->rc == 0)
		batch_peer_set(c, m->id, m->batches);
	rr->pending--;
	if (!rr->done) {
		if (m->rc == 0)
			rr->need--;
		if (rr->need <= 0)
			/* still this term's leader: otherwise a later one may
			 * already have committed what these reads must see */
			read_round_end(c, rr,
				       leader_ready(c) && raft_current_term(&c->raft) == rr->term
					       ? 0
					       : CN_ENOLEADER);
		else if (rr->pending < rr->need)
			read_round_end(c, rr, CN_ENOLEADER);
	}
	if (rr->pending == 0)
		free(rr);
	start_leader_read(c);
}

/* A round of cmd->leader_term asked of the leader (meta_cmd.ask_leader). */
static void follower_round(struct cluster *c, struct meta_cmd *cmd)
{
	struct job *j = leader_job(c, JOB_ROUND);

	if (!j) {
		meta_cmd_complete(cmd, CN_ENOLEADER);
		return;
	}
	j->cmd = cmd;
	j->term = cmd->leader_term;
	job_push(c, j);
}

static void on_cmd(struct cluster *c, struct meta_cmd *cmd)
{
	int role = role_of(c);

	if (cmd->type == META_CMD_BARRIER) {
		if (cmd->leader_term && cmd->ask_leader && role != CLUSTER_LEADER) {
			follower_round(c, cmd);
		} else if (cmd->leader_term && (role != CLUSTER_LEADER ||
						raft_current_term(&c->raft) != cmd->leader_term)) {
			meta_cmd_complete(cmd, CN_ENOLEADER);
		} else if (cmd->ticket_ok && cmd->read_index && leader_ready(c)) {
			/* a follower's writes: the index their reads must see
			 * (the last entry that changed more than an object key),
			 * and the term it was given in, at once (ticket.h) */
			uint64_t index =
				c->more_index > c->ready_index ? c->more_index : c->ready_index;
			if (cmd->known_commit < index)
				c->lbar_kick = 1;
			cmd->ticket_term = raft_current_term(&c->raft);
			complete_all(cmd, 0, index);
		} else if (cmd->leader_term && cmd->local_read) {
			/* a write's ticket: its own entry confirms it later */
			cmd->next_ = NULL;
			read_at(c, cmd, cmd->known_commit);
		} else if (role == CLUSTER_LEADER && (!cmd->local_only || cmd->read_index)) {
			list_append(&c->rr_waiting, cmd);
			start_leader_read(c);
		} else if (role == CLUSTER_LEADER) {
			/* a follower of an earlier version: a barrier entry, whose
			 * append also tells the followers the commit index at once
			 * (lbar_kick) */
			list_append(&c->lbar_waiting, cmd);
			start_leader_barrier(c, 0);
		} else if (cmd->local_only) {
			meta_cmd_complete(cmd, CN_ENOTLEADER);
		} else {
			list_append(&c->fbar_waiting, cmd);
			start_follower_barrier(c);
		}
		return;
	}
	if (role == CLUSTER_LEADER) {
		if (leader_ready(c))
			propose(c, cmd);
		else
			list_append(&c->held, cmd);
		return;
	}
	forward(c, cmd);
}

static void on_fbar_done(struct cluster *c, struct msg *m)
{
	struct await *a;

	c->fbar_inflight = 0;
	for (struct meta_cmd *w = m->waiters; w; w = w->next_)
		w->ticket_term = m->term;
	if (!m->index) {
		complete_all(m->waiters, CN_ENOLEADER, 0);
	} else if (c->visible >= m->index) {
		complete_all(m->waiters, 0, m->index);
	} else if ((a = calloc(1, sizeof(*a))) != NULL) {
		a->index = m->index;
		a->deadline_ns = cn_mono_ns() + (uint64_t)READ_WAIT_MS * 1000000;
		a->waiters = m->waiters;
		a->next = c->awaits;
		c->awaits = a;
	} else {
		complete_all(m->waiters, CN_ENOMEM, 0);
	}
	start_follower_barrier(c);
}

static void member_done(struct member_req *r, int rc)
{
	pthread_mutex_lock(&r->mu);
	r->rc = rc;
	r->done = 1;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

static void member_assigned(struct raft_change *req, int status)
{
	struct member_req *r = req->data;
	int64_t now = cn_mono_ns();

	/* libraft gives up promoting a node that did not catch up within a few
	 * rounds; one installing a big store copy needs longer: it stays a
	 * stand-by and is tried again until the caller's deadline */
	if (status == RAFT_NOCONNECTION && now + 1000000000ll < r->deadline_ns &&
	    role_of(r->c) == CLUSTER_LEADER && !r->c->stopping) {
		log_info("cluster: %s (%llu) is still catching up", r->address,
			 (unsigned long long)r->id);
		r->retry_ns = now + 1000000000ll;
		r->c->promote = r;
		return;
	}
	if (status)
		log_warn("cluster: promoting %llu to voter: %s", (unsigned long long)r->id,
			 raft_strerror(status));
	else
		log_info("cluster: %s (%llu) is a voter", r->address, (unsigned long long)r->id);
	member_done(r, raft_err(status));
}

static void member_added(struct raft_change *req, int status)
{
	struct member_req *r = req->data;

	if (status) {
		member_done(r, raft_err(status));
		return;
	}
	log_info("cluster: added %s (%llu); catching it up", r->address, (unsigned long long)r->id);
	/* promoted in after_turn (not from inside a raft callback); libraft
	 * catches the new node up before the vote is its */
	r->c->promote = r;
}

static void member_removed(struct raft_change *req, int status)
{
	struct member_req *r = req->data;
	if (!status)
		log_info("cluster: removed node %llu", (unsigned long long)r->id);
	member_done(r, raft_err(status));
}

static void on_member(struct cluster *c, struct member_req *r)
{
	int rc;

	r->change.data = r;
	if (role_of(c) != CLUSTER_LEADER) {
		member_done(r, CN_ENOTLEADER);
		return;
	}
	if (r->add && c->promote && c->promote->id != r->id) {
		/* another node's add is not finished (it waits to be made a
		 * voter): one change at a time, the caller asks again */
		member_done(r, CN_EAGAIN);
		return;
	}
	if (r->add) {
		/* asked again (a caller that gave up waiting, a rejoining node):
		 * a voter is done; a stand-by left over by a change the previous
		 * leader did not finish is promoted */
		for (unsigned i = 0; i < c->raft.configuration.n; i++) {
			const struct raft_server *sv = &c->raft.configuration.servers[i];
			if (sv->id != r->id)
				continue;
			if (sv->role == RAFT_VOTER)
				member_done(r, 0);
			else if (c->promote)
				member_done(r, CN_EAGAIN);
			else
				c->promote = r;
			return;
		}
		rc = raft_add(&c->raft, &r->change, r->id, r->address, member_added);
	} else
		rc = raft_remove(&c->raft, &r->change, r->id, member_removed);
	if (rc)
		member_done(r, raft_err(rc));
}

/* Fails what only a leader can do, after losing (or never having) the lead. */
/* Proposals not yet appended are answered rc (nothing happened). */
static void drop_pending(struct cluster *c, int rc)
{
	for (unsigned i = 0; i < c->pq_n; i++) {
		free(c->pq[i].enc);
		meta_cmd_complete(c->pq[i].cmd, rc);
	}
	c->pq_n = 0;
	c->pq_bytes = 0;
}

static void drop_leader_work(struct cluster *c)
{
	drop_pending(c, CN_ENOLEADER);
	complete_all(c->held, CN_ENOLEADER, 0);
	c->held = NULL;
	complete_all(c->lbar_waiting, CN_ENOLEADER, 0);
	c->lbar_waiting = NULL;
	c->lbar_kick = 0;
	complete_all(c->rr_waiting, CN_ENOLEADER, 0);
	c->rr_waiting = NULL;
	while (c->n_rr) /* each is freed when its last call returns */
		read_round_end(c, c->rr_live[0], CN_ENOLEADER);
	if (c->promote) {
		/* added as a stand-by; the next leader does not know of this call */
		member_done(c->promote, CN_ENOLEADER);
		c->promote = NULL;
	}
}

static void publish(struct cluster *c)
{
	struct cluster_status *s;
	raft_id lid = 0;
	const char *laddr = NULL;
	int role = role_of(c);

	raft_leader(&c->raft, &lid, &laddr);
	pthread_mutex_lock(&c->smu);
	s = &c->st;
	s->role = role;
	s->leader_id = lid;
	snprintf(s->leader_address, sizeof(s->leader_address), "%s", laddr ? laddr : "");
	s->term = raft_current_term(&c->raft);
	s->commit = raft_commit_index(&c->raft);
	s->last_index = raft_last_index(&c->raft);
	s->applied = c->visible;
	s->read_rounds = c->rr_rounds;
	s->read_round_reads = c->rr_reads;
	s->read_rounds_paced = c->rr_paced;
	s->entries_proposed = c->entries_proposed;
	s->cmds_proposed = c->cmds_proposed;
	s->store_commits = c->store_commits;
	s->snapshot_threshold = c->cf.snap_threshold;
	s->snapshot_trailing =
		c->cf.log_budget ? 4 * c->cf.snap_threshold : c->opt.snapshot_trailing;
	s->entry_mean_bytes = c->cf.mean_bytes;
	s->ready = 0;
	s->n_nodes = 0;
	for (unsigned i = 0; i < c->raft.configuration.n && s->n_nodes < CLUSTER_MAX_NODES; i++) {
		const struct raft_server *sv = &c->raft.configuration.servers[i];
		struct cluster_node *n = &s->nodes[s->n_nodes++];
		n->id = sv->id;
		snprintf(n->address, sizeof(n->address), "%s", sv->address);
		n->voter = sv->role == RAFT_VOTER;
		/* a node removed from the configuration serves nothing; a
		 * follower is ready once it applied (not yet visible: a batch
		 * left open commits within opt.store_commit_ms, or at once
		 * for a read) up to its commit index */
		if (sv->id == c->id)
			s->ready = lid != 0 && (role == CLUSTER_LEADER
							? leader_ready(c)
							: raft_last_applied(&c->raft) >= s->commit);
	}
	pthread_mutex_unlock(&c->smu);
}

/* Ends every command of list with its own result. */
static void complete_each(struct meta_cmd *list)
{
	while (list) {
		struct meta_cmd *n = list->next_;
		list->next_ = NULL;
		meta_cmd_complete(list, list->rc_);
		list = n;
	}
}

/* What a loop needs to start a read its shard reads confirm (ticket.h):
 * before this turn's results are given out, so that the commit index
 * covers every write acknowledged so far. */
static void tickets_update(struct cluster *c)
{
	const struct raft_configuration *cf = &c->raft.configuration;
	const char *voters[CLUSTER_MAX_NODES];
	uint64_t term = 0;
	int n = 0, all = 0, self = 0;

	if (leader_ready(c)) {
		for (unsigned i = 0; i < cf->n; i++) {
			if (cf->servers[i].role != RAFT_VOTER)
				continue;
			all++;
			if (cf->servers[i].id == c->id)
				self = 1;
			else if (n < CLUSTER_MAX_NODES)
				voters[n++] = cf->servers[i].address;
		}
		if (self && n == all - 1)
			term = raft_current_term(&c->raft);
	}
	if (!term)
		n = 0;
	tickets_publish(c->tk, term, raft_commit_index(&c->raft), raft_last_applied(&c->raft),
			c->visible, voters, n, all / 2);
}

static void commit_due(uv_timer_t *t)
{
	(void)t; /* after_turn, which runs after this turn, commits */
}

/* 1 if after_turn commits the store's open batch now, 0 if it stays open
 * for the next turns' entries (then commit_timer ends the wait).
 * While only writes come, nothing needs the store to show a write at
 * once: each result is given out before the commit anyway (its entry is
 * in a majority's logs, and this node's log replays it after a crash). A
 * commit per turn then costs an fdatasync and the pages of every turn's
 * leaf and branch path, on the Raft loop, on each node. So the batch
 * stays open for up to opt.store_commit_ms, unless something reads the
 * store: a sync submitter (c->done) or a read past its barrier waiting
 * for `visible` once its index is applied (c->awaits: every S3 request on
 * a follower but a write whose reads the open batch cannot change, which
 * relax_awaits passed first, and a leader's write whose ticket needs what
 * the open batch holds: a key it reads, or anything but object keys;
 * ticket.h), or a leader's GET asked
 * for a ticket in the last READ_QUIET_MS (a GET's ticket needs the store
 * to show the commit index; without one the GET takes a barrier, which
 * costs a round). */
static int commit_now(struct cluster *c)
{
	size_t open = meta_repl_open(c->meta);
	uint64_t now, applied = raft_last_applied(&c->raft);
	int awaited = 0;

	if (!open)
		return 1; /* (visible catches up with configuration entries) */
	/* (an await whose index is not applied yet gains nothing by a commit
	 * now: the turn that applies it decides) */
	for (const struct await *a = c->awaits; a && !awaited; a = a->next)
		awaited = a->index <= applied;
	if (!c->commit_ns || c->done || awaited || c->stopping || open > STORE_OPEN_WRITES)
		goto now;
	now = cn_mono_ns();
	if (now - tickets_last_read(c->tk) < (uint64_t)READ_QUIET_MS * 1000000)
		goto now;
	if (!c->open_since_ns)
		c->open_since_ns = now;
	if (now - c->open_since_ns >= c->commit_ns)
		goto now;
	if (!uv_is_active((uv_handle_t *)&c->commit_timer))
		uv_timer_start(&c->commit_timer, commit_due,
			       (c->open_since_ns + c->commit_ns - now + 999999) / 1000000, 0);
	return 0;
now:
	c->open_since_ns = 0;
	uv_timer_stop(&c->commit_timer);
	c->store_commits++;
	return 1;
}

/* Passes the awaiting writes that need no commit of the store's open batch
 * (meta_cmd.object_write; ticket.h): their index is applied and the batch
 * holds nothing they read. Before commit_now, so that a turn whose awaits
 * are all such writes leaves the batch open. */
static void relax_awaits(struct cluster *c)
{
	uint64_t applied = raft_last_applied(&c->raft);
	struct await **ap, *a;

	for (ap = &c->awaits; (a = *ap) != NULL;) {
		struct meta_cmd **wp = &a->waiters, *w;
		while (applied >= a->index && (w = *wp) != NULL) {
			if (w->object_write &&
			    tickets_batch_spares(c->tk, w->reads_key, w->key_hash)) {
				*wp = w->next_;
				w->next_ = NULL;
				complete_all(w, 0, a->index);
			} else {
				wp = &w->next_;
			}
		}
		if (!a->waiters) {
			*ap = a->next;
			free(a);
		} else {
			ap = &a->next;
		}
	}
}

/* After every loop turn: give out the requests' results, commit what was
 * applied (unless commit_now leaves the batch open), then give out the
 * rest.
 * A request's result needs no local commit: its entry is committed in the
 * log on a majority, so the result stands if this node stops before its
 * store commits (the log replays the entry, with the same result), and
 * every read waits for `visible`, which only the commit moves, so a read
 * that starts after the answer sees the write. The fdatasync of the commit
 * (~1 ms) is then off the request's path. A sync submitter (a background
 * worker: gc, rebalance, lifecycle, the map) reads its own write back from
 * the store at once, without a barrier, so its result waits. */
static void after_turn(uv_check_t *h)
{
	struct cluster *c = h->data;
	struct meta_cmd *done;
	struct await **ap, *a;
	uint64_t applied, now;
	int role;

	if (!c->started)
		return;
	tickets_update(c);
	done = c->early;
	c->early = NULL;
	complete_each(done);
	if (c->awaits)
		relax_awaits(c);
	if (commit_now(c)) {
		if (meta_repl_commit(c->meta)) {
			log_error("cluster: cannot commit applied entries; stopping this node");
			abort();
		}
		c->visible = raft_last_applied(&c->raft);
		tickets_visible(c->tk, c->visible);
	}
	done = c->done;
	c->done = NULL;
	complete_each(done);
	applied = c->visible;
	now = c->awaits ? cn_mono_ns() : 0;
	for (ap = &c->awaits; (a = *ap) != NULL;) {
		if (applied >= a->index || now > a->deadline_ns) {
			*ap = a->next;
			complete_all(a->waiters, applied >= a->index ? 0 : CN_ENOLEADER, a->index);
			free(a);
		} else {
			ap = &a->next;
		}
	}
	if (c->promote && cn_mono_ns() >= c->promote->retry_ns) {
		struct member_req *r = c->promote;
		int rc;
		c->promote = NULL;
		rc = raft_assign(&c->raft, &r->change, r->id, RAFT_VOTER, member_assigned);
		if (rc)
			member_done(r, raft_err(rc));
	}
	role = role_of(c);
	if (role == CLUSTER_LEADER && leader_ready(c) && c->held) {
		struct meta_cmd *held = c->held;
		c->held = NULL;
		while (held) {
			struct meta_cmd *n = held->next_;
			held->next_ = NULL;
			propose(c, held);
			held = n;
		}
	}
	if (role == CLUSTER_LEADER)
		propose_flush(c);
	if (role == CLUSTER_LEADER) {
		start_leader_barrier(c, 0);
		start_leader_read(c);
	}
	if (role != c->prev_role) {
		if (c->prev_role == CLUSTER_LEADER)
			drop_leader_work(c);
		if (role == CLUSTER_LEADER)
			start_leader_barrier(c, 1);
		log_info("cluster: %s in term %llu",
			 role == CLUSTER_LEADER	     ? "leader"
			 : role == CLUSTER_FOLLOWER  ? "follower"
			 : role == CLUSTER_CANDIDATE ? "candidate"
						     : "unavailable",
			 (unsigned long long)raft_current_term(&c->raft));
		c->prev_role = role;
	} else if (role == CLUSTER_LEADER && !leader_ready(c) && !c->lbar_inflight) {
		start_leader_barrier(c, 1); /* a new term while leading */
	}
	publish(c);
}

static void raft_closed_cb(struct raft *r)
{
	struct cluster *c = r->data;
	c->raft_closed = 1;
}

static void on_wake(uv_async_t *h)
{
	struct cluster *c = h->data;
	struct msg *m, *n;

	pthread_mutex_lock(&c->mu);
	m = c->in_head;
	c->in_head = c->in_tail = NULL;
	pthread_mutex_unlock(&c->mu);
	for (; m; m = n) {
		n = m->next;
		switch (m->type) {
		case MSG_CMD:
			if (c->stopping)
				meta_cmd_complete(m->cmd, CN_ESHUTDOWN);
			else
				on_cmd(c, m->cmd);
			break;
		case MSG_ACCEPT: accept_conn(c, m); break;
		case MSG_FBAR_DONE: on_fbar_done(c, m); break;
		case MSG_CONFIRMED: on_confirmed(c, m); break;
		case MSG_MEMBER: on_member(c, m->member); break;
		case MSG_STOP:
			if (!c->stopping) {
				pthread_mutex_lock(&c->mu);
				c->wake_closed = 1;
				pthread_mutex_unlock(&c->mu);
				c->stopping = 1;
				drop_pending(c, CN_ESHUTDOWN);
				drop_leader_work(c);
				complete_all(c->fbar_waiting, CN_ESHUTDOWN, 0);
				c->fbar_waiting = NULL;
				raft_close(&c->raft, raft_closed_cb);
				uv_close((uv_handle_t *)&c->check, NULL);
				uv_close((uv_handle_t *)&c->wake, NULL);
				uv_close((uv_handle_t *)&c->rr_pace.timer, NULL);
				uv_close((uv_handle_t *)&c->fb_pace.timer, NULL);
				uv_close((uv_handle_t *)&c->commit_timer, NULL);
			}
			break;
		}
		free(m);
	}
	propose_flush(c);
}

static void raft_thread(void *arg)
{
	struct cluster *c = arg;

	cn_thread_name("raft");
	uv_run(&c->loop, UV_RUN_DEFAULT);
	/* Whatever raft still had queued was failed by raft_close: give the
	 * submitters their answer (CN_ESHUTDOWN / CN_EUNCERTAIN). */
	meta_repl_commit(c->meta);
	while (c->done) {
		struct meta_cmd *d = c->done;
		c->done = d->next_;
		d->next_ = NULL;
		meta_cmd_complete(d, d->rc_);
	}
	while (c->awaits) {
		struct await *a = c->awaits;
		c->awaits = a->next;
		complete_all(a->waiters, CN_ESHUTDOWN, 0);
		free(a);
	}
}

/* ---- proposer (any thread) ---- */

static int submit(void *arg, struct meta_cmd *cmd)
{
	struct cluster *c = arg;
	struct msg *m = calloc(1, sizeof(*m));

	if (!m)
		return CN_ENOMEM;
	m->type = MSG_CMD;
	m->cmd = cmd;
	pthread_mutex_lock(&c->mu);
	if (c->wake_closed) {
		pthread_mutex_unlock(&c->mu);
		free(m);
		return CN_ESHUTDOWN;
	}
	post_locked(c, m); /* checked and queued at once: never left unread */
	pthread_mutex_unlock(&c->mu);
	return 0;
}

/* ---- open / close ---- */

/* The id of a node of the first configuration: derived from its address,
 * so every node computes the same configuration from the same --peers. */
static uint64_t addr_id(const char *address)
{
	uint64_t h = XXH64(address, strlen(address), 0x6361697261667421ull) & 0x7fffffffffffffffull;
	return h ? h : 1;
}

/* The node id, kept in dir/id: chosen at the first start (from the address
 * for a first-configuration node, random for one that joins later). */
static int load_id(struct cluster *c, int *fresh)
{
	char path[4200], buf[32];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "%s/id", c->dir);
	f = fopen(path, "r");
	if (f) {
		int ok = fgets(buf, sizeof(buf), f) != NULL;
		fclose(f);
		c->id = ok ? strtoull(buf, NULL, 10) : 0;
		*fresh = 0;
		return c->id ? 0 : CN_ECORRUPT;
	}
	if (errno != ENOENT)
		return -errno;
	*fresh = 1;
	if (c->opt.join) {
		/* Never the id of the node this one may replace at the same
		 * address: that one voted in terms this one knows nothing of. */
		uint64_t r = 0;
		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			r = (uint64_t)cn_now_ns() ^ ((uint64_t)getpid() << 32);
		c->id = r & 0x7fffffffffffffffull;
		if (!c->id || c->id == addr_id(c->node))
			c->id ^= 0x5a5a5a5a;
	} else {
		c->id = addr_id(c->node);
	}
	snprintf(buf, sizeof(buf), "%llu\n", (unsigned long long)c->id);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, strlen(buf)) != (ssize_t)strlen(buf) || fsync(fd) != 0) {
		int e = -errno;
		close(fd);
		return e ? e : -EIO;
	}
	close(fd);
	return 0;
}

static void free_cluster(struct cluster *c)
{
	if (!c)
		return;
	if (c->peers)
		for (int i = 0; i < c->opt.n_peers; i++)
			free(c->peers[i]);
	free(c->peers);
	if (c->secret)
		explicit_bzero(c->secret, c->slen);
	free(c->secret);
	free(c->dir);
	rpc_client_free(c->rpc);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->jmu);
	pthread_cond_destroy(&c->jcv);
	pthread_mutex_destroy(&c->smu);
	tickets_free(c->tk);
	if (c->reaping)
		aioreap_stop();
	free(c);
}

int cluster_open(const struct cluster_options *opt, struct meta_store *m, struct cluster **out)
{
	struct cluster *c = calloc(1, sizeof(*c));
	struct meta_proposer prop;
	int fresh = 0, rc, in_peers = 0;

	if (!c)
		return CN_ENOMEM;
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->jmu, NULL);
	pthread_cond_init(&c->jcv, NULL);
	pthread_mutex_init(&c->smu, NULL);
	c->opt = *opt;
	c->meta = m;
	if (!(c->tk = tickets_new())) {
		rc = CN_ENOMEM;
		goto fail;
	}
	if (!opt->node || strlen(opt->node) > CLUSTER_ADDR_MAX || opt->n_peers < 1 ||
	    opt->n_peers > CLUSTER_MAX_NODES || !opt->secret || !opt->secret_len) {
		rc = CN_EINVAL;
		goto fail;
	}
	strcpy(c->node, opt->node);
	c->secret = malloc(opt->secret_len + 1);
	c->dir = strdup(opt->dir);
	c->peers = calloc((size_t)opt->n_peers, sizeof(*c->peers));
	if (!c->secret || !c->dir || !c->peers) {
		rc = CN_ENOMEM;
		goto fail;
	}
	memcpy(c->secret, opt->secret, opt->secret_len);
	c->secret[opt->secret_len] = 0;
	c->slen = opt->secret_len;
	for (int i = 0; i < opt->n_peers; i++) {
		if (!(c->peers[i] = strdup(opt->peers[i]))) {
			rc = CN_ENOMEM;
			goto fail;
		}
		in_peers |= strcmp(opt->peers[i], opt->node) == 0;
	}
	if (!in_peers && !opt->join) {
		log_error("cluster: --node %s is not one of --peers (use --join for a new node)",
			  opt->node);
		rc = CN_EINVAL;
		goto fail;
	}
	if (!c->opt.heartbeat_ms)
		c->opt.heartbeat_ms = 100;
	if (!c->opt.election_ms)
		c->opt.election_ms = 1000;
	/* A snapshot is cheap here (the store is the snapshot: commit and sync),
	 * so take them often; keep a long trail. libraft 0.22.1 crashes a node
	 * that receives an InstallSnapshot while it persists a snapshot of its
	 * own (found by tests/unit/cluster/test_raft_sim.c against a debug
	 * build): cluster_fsm_guard_io drops such an install, and a trail
	 * several times the threshold makes one rare (a follower only gets an
	 * install when it is more than `trailing` entries behind, and then it
	 * is seldom applying, so seldom taking snapshots). */
	/* neither set: the log's memory is bounded by bytes (log_budget) */
	if (!c->opt.snapshot_threshold && !c->opt.snapshot_trailing)
		c->cf.log_budget = c->opt.log_memory_mib ? (uint64_t)c->opt.log_memory_mib << 20
							 : CLUSTER_LOG_BUDGET;
	if (!c->opt.snapshot_threshold)
		c->opt.snapshot_threshold = 1024;
	if (!c->opt.snapshot_trailing)
		c->opt.snapshot_trailing = 4 * c->opt.snapshot_threshold;
	if (c->opt.snapshot_trailing < 2 * c->opt.snapshot_threshold) {
		log_warn("cluster: --raft-snapshot-trailing %u raised to %u (twice the threshold)",
			 c->opt.snapshot_trailing, 2 * c->opt.snapshot_threshold);
		c->opt.snapshot_trailing = 2 * c->opt.snapshot_threshold;
	}
	if (mkdir(c->dir, 0700) != 0 && errno != EEXIST) {
		rc = -errno;
		goto fail;
	}
	if (!c->opt.join) {
		/* no state, yet the cluster exists: this node's disks were wiped
		 * or replaced, and its old id must never vote again (rejoin.c) */
		char idp[4200], peer[CLUSTER_ADDR_MAX + 1];
		snprintf(idp, sizeof(idp), "%s/id", c->dir);
		if (access(idp, F_OK) != 0 && errno == ENOENT &&
		    cluster_probe_established(opt, peer, sizeof(peer))) {
			log_warn(
				"cluster: no Raft state here, but %s has the cluster's log: if "
				"this node's state was lost, it rejoins under a new id in place of "
				"the old member at its address",
				peer);
			c->opt.join = 1;
			c->rejoin = 1;
		}
	}
	rc = load_id(c, &fresh);
	if (rc)
		goto fail;
	rc = rpc_client_new(c->secret, c->slen, c->node, c->opt.tls, &c->rpc);
	if (rc)
		goto fail;
	c->st.id = c->id;
	strcpy(c->st.address, c->node);

	uv_loop_init(&c->loop);
	uv_async_init(&c->loop, &c->wake, on_wake);
	c->wake.data = c;
	uv_check_init(&c->loop, &c->check);
	c->check.data = c;
	uv_check_start(&c->check, after_turn);
	uv_unref((uv_handle_t *)&c->check);
	uv_timer_init(&c->loop, &c->rr_pace.timer);
	c->rr_pace.timer.data = &c->rr_pace;
	c->rr_pace.c = c;
	c->rr_pace.start = start_leader_read;
	uv_timer_init(&c->loop, &c->fb_pace.timer);
	c->fb_pace.timer.data = &c->fb_pace;
	uv_timer_init(&c->loop, &c->commit_timer);
	c->commit_timer.data = c;
	c->commit_ns = (uint64_t)c->opt.store_commit_ms * 1000000;
	c->fb_pace.c = c;
	c->fb_pace.start = start_follower_barrier;

	c->transport.version = 1;
	c->transport.init = transport_init;
	c->transport.listen = transport_listen;
	c->transport.connect = transport_connect;
	c->transport.close = transport_close;
	/* libraft's log writer destroys a segment's AIO context on this loop
	 * (aioreap.h); without the reaper it still works, with that stall */
	if (aioreap_start() == 0)
		c->reaping = 1;
	else
		log_warn("cluster: no thread for the Raft log's AIO contexts; "
			 "destroying them on the Raft loop");
	rc = raft_uv_init(&c->io, &c->loop, c->dir, &c->transport);
	if (rc) {
		log_error("cluster: raft io in %s: %s", c->dir, raft_strerror(rc));
		rc = CN_EIO;
		goto fail_loop;
	}
	c->cf.meta = m;
	c->cf.raft = &c->raft;
	c->cf.id = c->id;
	c->cf.install = install_store;
	c->cf.applied = cluster_applied;
	c->cf.owner = c;
	cluster_fsm_init(&c->cf, &c->fsm);
	rc = raft_init(&c->raft, &c->io, &c->fsm, c->id, c->node);
	if (rc) {
		log_error("cluster: raft init: %s", raft_strerror(rc));
		rc = CN_EINTERNAL;
		goto fail_io;
	}
	c->raft.data = c;
	cluster_fsm_guard_io(&c->cf, &c->io);
	c->io_set_term = c->io.set_term;
	c->io.set_term = set_term_published;
	raft_set_heartbeat_timeout(&c->raft, c->opt.heartbeat_ms);
	raft_set_election_timeout(&c->raft, c->opt.election_ms);
	raft_set_pre_vote(&c->raft, true);
	raft_set_snapshot_threshold(&c->raft, c->opt.snapshot_threshold);
	raft_set_snapshot_trailing(&c->raft, c->opt.snapshot_trailing);
	c->cf.snap_max = c->cf.snap_threshold = c->opt.snapshot_threshold;
	if (fresh && !c->opt.join) {
		struct raft_configuration conf;
		raft_configuration_init(&conf);
		rc = 0;
		for (int i = 0; i < opt->n_peers && !rc; i++)
			rc = raft_configuration_add(&conf, addr_id(c->peers[i]), c->peers[i],
						    RAFT_VOTER);
		if (!rc)
			rc = raft_bootstrap(&c->raft, &conf);
		raft_configuration_close(&conf);
		if (rc && rc != RAFT_CANTBOOTSTRAP) {
			log_error("cluster: bootstrap: %s", raft_strerror(rc));
			rc = CN_EINTERNAL;
			goto fail_raft;
		}
		log_info("cluster: bootstrapped a %d-node configuration as node %llu", opt->n_peers,
			 (unsigned long long)c->id);
	} else if (fresh && !c->rejoin) {
		log_info("cluster: node %llu (%s) waits to be added: cairn admin cluster add %s",
			 (unsigned long long)c->id, c->node, c->node);
	}
	prop.submit = submit;
	prop.arg = c;
	meta_set_proposer(m, &prop);
	for (int i = 0; i < FORWARDERS; i++)
		if (pthread_create(&c->fwd[i], NULL, forwarder, c) != 0) {
			rc = CN_EINTERNAL;
			goto fail_raft; /* (no thread started past this one) */
		}
	c->started = 1;
	rc = raft_start(&c->raft);
	if (rc) {
		log_error("cluster: raft start: %s (%s)", raft_strerror(rc), raft_errmsg(&c->raft));
		c->started = 0;
		rc = CN_EINTERNAL;
		goto fail_raft;
	}
	c->prev_role = CLUSTER_NONE;
	atomic_store(&c->term_seen, raft_current_term(&c->raft)); /* as loaded */
	publish(c);
	if (uv_thread_create(&c->thread, raft_thread, c) != 0) {
		rc = CN_EINTERNAL;
		goto fail_raft;
	}
	log_info("cluster: node %llu at %s, %d peers", (unsigned long long)c->id, c->node,
		 opt->n_peers);
	if (c->rejoin &&
	    cluster_rejoin_start(c, (const char *const *)c->peers, opt->n_peers, &c->rejoiner))
		log_warn("cluster: cannot start rejoining; add this node by hand: cairn admin "
			 "cluster add %s",
			 c->node);
	*out = c;
	return 0;
fail_raft:
	/* Not reached with a running loop: tear down synchronously. */
	raft_close(&c->raft, NULL);
	uv_run(&c->loop, UV_RUN_NOWAIT);
fail_io:
	raft_uv_close(&c->io);
fail_loop:
	uv_close((uv_handle_t *)&c->wake, NULL);
	uv_close((uv_handle_t *)&c->check, NULL);
	uv_close((uv_handle_t *)&c->rr_pace.timer, NULL);
	uv_close((uv_handle_t *)&c->fb_pace.timer, NULL);
	uv_close((uv_handle_t *)&c->commit_timer, NULL);
	uv_run(&c->loop, UV_RUN_DEFAULT);
	uv_loop_close(&c->loop);
fail:
	free_cluster(c);
	return rc;
}

void cluster_close(struct cluster *c)
{
	struct msg *m;

	if (!c)
		return;
	cluster_rejoin_stop(c->rejoiner);
	atomic_store(&c->atomic_stop, 1);
	m = calloc(1, sizeof(*m));
	if (m) {
		m->type = MSG_STOP;
		post(c, m);
	}
	uv_thread_join(&c->thread);
	raft_uv_close(&c->io);
	uv_loop_close(&c->loop);
	pthread_mutex_lock(&c->jmu);
	c->jstop = 1;
	pthread_cond_broadcast(&c->jcv);
	pthread_mutex_unlock(&c->jmu);
	for (int i = 0; i < FORWARDERS; i++)
		pthread_join(c->fwd[i], NULL);
	/* Answers that came after the Raft thread stopped reading: a read
	 * round's (its reads were failed at stop) frees it with its last. */
	while ((m = c->in_head) != NULL) {
		c->in_head = m->next;
		if (m->type == MSG_CONFIRMED && --m->round->pending == 0)
			free(m->round);
		free(m);
	}
	c->in_tail = NULL;
	free_cluster(c);
}

/* ---- any thread ---- */

void cluster_status(struct cluster *c, struct cluster_status *out)
{
	struct aioreap_stats a;

	pthread_mutex_lock(&c->smu);
	*out = c->st;
	pthread_mutex_unlock(&c->smu);
	aioreap_stats(&a);
	out->log_aio_destroys = a.deferred;
	out->log_aio_destroy_max_ns = a.max_ns;
}

int cluster_ready(struct cluster *c)
{
	int r;
	pthread_mutex_lock(&c->smu);
	r = c->st.ready;
	pthread_mutex_unlock(&c->smu);
	return r;
}

uint64_t cluster_id(struct cluster *c)
{
	return c->id;
}

uint32_t cluster_blob_tag(struct cluster *c)
{
	uint64_t id = cluster_id(c);
	return (uint32_t)(id ^ (id >> 32));
}

const char *cluster_secret(struct cluster *c, size_t *len)
{
	*len = c->slen;
	return c->secret;
}

const char *cluster_dir(struct cluster *c)
{
	return c->dir;
}

struct tls_client *cluster_tls(struct cluster *c)
{
	return c->opt.tls;
}

struct rpc_client *cluster_rpc(struct cluster *c)
{
	return c->rpc;
}

void cluster_raft_accept(struct cluster *c, int fd, uint64_t id, const char *address)
{
	struct msg *m = calloc(1, sizeof(*m));

	if (!m || strlen(address) > CLUSTER_ADDR_MAX) {
		free(m);
		close(fd);
		return;
	}
	m->type = MSG_ACCEPT;
	m->fd = fd;
	m->id = id;
	strcpy(m->address, address);
	post(c, m);
}

static int member_change(struct cluster *c, int add, uint64_t id, const char *address,
			 unsigned timeout_ms)
{
	struct member_req *r = calloc(1, sizeof(*r));
	struct msg *m = calloc(1, sizeof(*m));
	int rc;

	if (!r || !m || (address && strlen(address) > CLUSTER_ADDR_MAX)) {
		free(r);
		free(m);
		return CN_ENOMEM;
	}
	if (cn_cond_init_mono(&r->cv) != 0) {
		free(r);
		free(m);
		return CN_ENOMEM;
	}
	pthread_mutex_init(&r->mu, NULL);
	r->add = add;
	r->id = id;
	r->c = c;
	r->deadline_ns = cn_mono_ns() + (int64_t)timeout_ms * 1000000ll;
	if (address)
		strcpy(r->address, address);
	int done, waited = 0;
	for (;;) {
		m->type = MSG_MEMBER;
		m->member = r;
		post(c, m);
		pthread_mutex_lock(&r->mu);
		while (!r->done)
			if (cn_cond_wait_until(&r->cv, &r->mu, r->deadline_ns) == CN_ETIMEOUT)
				break;
		rc = r->done ? r->rc : CN_ETIMEOUT;
		done = r->done;
		r->done = 0;
		pthread_mutex_unlock(&r->mu);
		/* Another membership change is under way (libraft runs one at a
		 * time; an add lasts until its node is a voter): wait for it
		 * rather than fail a second operator's command. */
		if (!done || (rc != CN_ECONFLICT && rc != CN_EAGAIN) ||
		    cn_mono_ns() + 250000000ll >= r->deadline_ns)
			break;
		if (!waited++)
			log_info("cluster: another membership change is under way; %s of %llu "
				 "waits for it",
				 add ? "the add" : "the removal", (unsigned long long)id);
		usleep(200 * 1000);
		m = calloc(1, sizeof(*m));
		if (!m) {
			rc = CN_ENOMEM;
			break;
		}
	}
	/* Still running: the Raft thread owns r until it finishes (a leak of one
	 * small struct per timed-out change, rather than a use after free). */
	if (done) {
		pthread_mutex_destroy(&r->mu);
		pthread_cond_destroy(&r->cv);
		free(r);
	}
	return rc;
}

int cluster_member_add(struct cluster *c, uint64_t id, const char *address, unsigned timeout_ms)
{
	return member_change(c, 1, id, address, timeout_ms);
}

int cluster_member_remove(struct cluster *c, uint64_t id, unsigned timeout_ms)
{
	return member_change(c, 0, id, NULL, timeout_ms);
}

int cluster_snapshot_copy(struct cluster *c, uint64_t min_index, int fd, uint64_t *applied)
{
	uint64_t a = meta_repl_applied(c->meta);

	if (a < min_index)
		return CN_EAGAIN;
	*applied = a;
	return meta_repl_copy_fd(c->meta, fd);
}
