/* Crash test for meta: a child process commits batches through the async
 * pipeline and reports each submission and each acknowledgement over a pipe;
 * the parent SIGKILLs it at a random point, reopens the store and checks that
 * every acknowledged command is present, nothing that was never submitted
 * appeared, and stats equal a recount. Several rounds reuse one store. */
#include "meta_test.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define MAXN 200000
#define INFLIGHT 64

struct rec {
	char kind; /* P/p put submitted/acked, D/d delete submitted/acked */
	char pad[3];
	uint32_t seq;
};

struct child {
	struct meta_store *s;
	struct meta_waiter w;
	int fd;
	int round;
	uint32_t next;
	uint32_t nacked;
	uint32_t *acked; /* acked put seqs, candidates for deletion */
	uint8_t *deleted;
};

struct op {
	struct meta_cmd c;
	struct child *ch;
	char key[32];
	char data[32];
	uint32_t seq;
	int is_del;
};

static void emit(int fd, char kind, uint32_t seq)
{
	struct rec r = {kind, {0, 0, 0}, seq};
	if (write(fd, &r, sizeof(r)) != sizeof(r))
		_exit(3);
}

static void submit_next(struct child *ch);

static void op_cb(struct meta_cmd *c, int rc, void *arg)
{
	struct op *o = arg;
	struct child *ch = o->ch;
	(void)c;
	if (rc)
		_exit(4); /* nothing here may fail */
	emit(ch->fd, o->is_del ? 'd' : 'p', o->seq);
	if (!o->is_del)
		ch->acked[ch->nacked++] = o->seq;
	free(o);
	submit_next(ch);
}

static void submit_next(struct child *ch)
{
	struct op *o;
	if (ch->next >= MAXN)
		return;
	o = calloc(1, sizeof(*o));
	if (!o)
		_exit(5);
	o->ch = ch;
	o->c.bucket = "crash";
	o->c.bucket_len = 5;
	o->c.now = t_now();
	meta_version_id_new(ch->s, o->c.vid);
	if (ch->nacked > 10 && ch->next % 4 == 3) {
		uint32_t victim = ch->acked[rand() % ch->nacked];
		if (!ch->deleted[victim]) {
			ch->deleted[victim] = 1;
			o->is_del = 1;
			o->seq = victim;
		}
	}
	if (!o->is_del)
		o->seq = ch->next++;
	snprintf(o->key, sizeof(o->key), "r%d-%06u", ch->round, o->seq);
	snprintf(o->data, sizeof(o->data), "v%u", o->seq);
	o->c.key = o->key;
	o->c.key_len = strlen(o->key);
	if (o->is_del) {
		o->c.type = META_CMD_DELETE_OBJECT;
	} else {
		o->c.type = META_CMD_PUT_VERSION;
		o->c.etag = "0123456789abcdef0123456789abcdef";
		o->c.etag_len = 32;
		o->c.loc = META_LOC_INLINE;
		o->c.size = o->c.inline_len = strlen(o->data);
		o->c.inline_data = o->data;
	}
	emit(ch->fd, o->is_del ? 'D' : 'P', o->seq);
	if (meta_submit(ch->s, &o->c, &ch->w, op_cb, o) != 0)
		_exit(6);
}

static void run_child(const char *dir, int fd, int round)
{
	struct child ch = {0};
	uv_loop_t loop;
	struct meta_options opt = {.map_size = 1ull << 30, .node_id = 1};

	srand((unsigned)getpid());
	if (meta_store_open(dir, &opt, &ch.s) != 0)
		_exit(2);
	ch.fd = fd;
	ch.round = round;
	ch.acked = calloc(MAXN, sizeof(*ch.acked));
	ch.deleted = calloc(MAXN, 1);
	uv_loop_init(&loop);
	meta_waiter_init(&ch.w, &loop);
	for (int i = 0; i < INFLIGHT; i++)
		submit_next(&ch);
	uv_run(&loop, UV_RUN_DEFAULT);
	for (;;)
		pause();
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct state {
	uint8_t put_sub[MAXN], put_ack[MAXN], del_sub[MAXN], del_ack[MAXN];
};

static ssize_t drain(int fd, struct state *st, size_t *nrec)
{
	static uint8_t buf[1 << 16];
	static size_t have = 0;
	ssize_t n = read(fd, buf + have, sizeof(buf) - have);
	if (n <= 0)
		return n;
	have += (size_t)n;
	size_t i = 0;
	for (; i + sizeof(struct rec) <= have; i += sizeof(struct rec)) {
		struct rec r;
		memcpy(&r, buf + i, sizeof(r));
		assert_true(r.seq < MAXN);
		switch (r.kind) {
		case 'P': st->put_sub[r.seq] = 1; break;
		case 'p':
			assert_true(st->put_sub[r.seq]);
			st->put_ack[r.seq] = 1;
			break;
		case 'D':
			assert_true(st->put_ack[r.seq]);
			st->del_sub[r.seq] = 1;
			break;
		case 'd':
			assert_true(st->del_sub[r.seq]);
			st->del_ack[r.seq] = 1;
			break;
		default: fail();
		}
		(*nrec)++;
	}
	memmove(buf, buf + i, have - i);
	have -= i;
	return n;
}

static void test_sigkill_rounds(void **state)
{
	(void)state;
	struct tstore t;
	static struct state st;
	int rounds = getenv("CAIRN_CRASH_ROUNDS") ? atoi(getenv("CAIRN_CRASH_ROUNDS")) : 6;
	uint64_t total_acked = 0;

	srand((unsigned)time(NULL));
	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "crash"), 0);
	meta_store_close(t.s);
	t.s = NULL;
	for (int round = 0; round < rounds; round++) {
		int p[2];
		size_t nrec = 0;
		assert_int_equal(pipe(p), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			run_child(t.dir, p[1], round);
		}
		close(p[1]);
		memset(&st, 0, sizeof(st));
		int64_t deadline = mono_ms() + 100 + rand() % 500;
		while (mono_ms() < deadline) {
			struct pollfd pfd = {p[0], POLLIN, 0};
			if (poll(&pfd, 1, 5) > 0)
				drain(p[0], &st, &nrec);
		}
		assert_int_equal(kill(pid, SIGKILL), 0);
		int status;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status)); /* it did not die on its own */
		/* the child is dead: read what it wrote up to EOF */
		while (drain(p[0], &st, &nrec) > 0)
			;
		close(p[0]);

		/* reopen and check */
		struct meta_options o = {.map_size = 1ull << 30, .node_id = 7};
		assert_int_equal(meta_store_open(t.dir, &o, &t.s), 0);
		uint64_t acked = 0, present = 0;
		for (uint32_t seq = 0; seq < MAXN; seq++) {
			if (!st.put_sub[seq])
				continue;
			char key[32], data[32];
			snprintf(key, sizeof(key), "r%d-%06u", round, seq);
			snprintf(data, sizeof(data), "v%u", seq);
			struct meta_version v;
			int rc = meta_object_get(t.s, "crash", key, strlen(key), NULL,
						 META_GET_INLINE, &v);
			if (rc == 0) {
				present++;
				assert_false(st.del_ack[seq]);
				assert_int_equal(v.size, strlen(data));
				assert_memory_equal(v.inline_data, data, v.size);
				meta_version_release(&v);
			} else {
				assert_int_equal(rc, CN_ENOKEY);
				/* an acknowledged put may only be gone through a delete */
				if (st.put_ack[seq])
					assert_true(st.del_sub[seq]);
			}
			acked += st.put_ack[seq];
		}
		total_acked += acked;
		/* nothing else appeared: every listed key of this round was submitted */
		char prefix[16];
		snprintf(prefix, sizeof(prefix), "r%d-", round);
		struct meta_list_params lp = {
			.prefix = prefix, .prefix_len = strlen(prefix), .max = 1000};
		char *tok = NULL;
		uint64_t listed = 0;
		for (;;) {
			struct meta_list_result r;
			lp.token = tok;
			assert_int_equal(meta_list_objects(t.s, "crash", &lp, &r), 0);
			for (size_t i = 0; i < r.n; i++) {
				char num[16] = {0};
				size_t nl = r.entries[i].key_len - strlen(prefix);
				assert_true(nl < sizeof(num));
				memcpy(num, r.entries[i].key + strlen(prefix),
				       nl); /* not NUL-terminated */
				unsigned seq = (unsigned)atoi(num);
				assert_true(seq < MAXN && st.put_sub[seq]);
				listed++;
			}
			free(tok);
			tok = r.truncated ? strdup(r.next_token) : NULL;
			meta_list_result_release(&r);
			if (!tok)
				break;
		}
		assert_int_equal(listed, present);
		check_stats(t.s, "crash");
		meta_store_close(t.s);
		t.s = NULL;
		print_message("round %d: %zu records, %llu acked puts, %llu present\n", round, nrec,
			      (unsigned long long)acked, (unsigned long long)present);
	}
	assert_true(total_acked > 0);
	struct meta_options o = {.map_size = 1ull << 30, .node_id = 7};
	assert_int_equal(meta_store_open(t.dir, &o, &t.s), 0);
	ts_close(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sigkill_rounds),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests_name("meta_crash", tests, NULL, NULL);
}
