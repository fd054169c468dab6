/*
 * s3/frontend.c — the S3 http_handler: operations endpoints, routing,
 * SigV4 authentication, dispatch to operation handlers, and the response
 * helpers every handler ends with.
 *
 * Flow per request (loop thread):
 *   on_request -> /_cairn/... ? ops endpoint
 *              -> s3_route_parse -> sigv4_verify -> s3_op_*()
 * A handler owns the request until it calls s3_send_*()/s3_end(). If the
 * connection drops, r->aborted is set; handlers finish their in-flight work
 * and then end the request as usual (writes just fail).
 */
#include "s3/s3_int.h"
#include "s3/sse.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "auth/sigv2.h"
#include "bg/gc.h"
#include "bg/rebalance.h"
#include "bg/scrub.h"
#include "cluster/cluster.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/fmt.h"
#include "core/log.h"
#include "core/metrics.h"
#include "s3/s3err.h"

void s3_random_id(uint8_t out[16])
{
	size_t got = 0;
	while (got < 16) {
		ssize_t n = getrandom(out + got, 16 - got, 0);
		if (n > 0)
			got += (size_t)n;
		else if (n < 0 && errno != EINTR)
			abort(); /* no entropy source means ids could collide */
	}
}

void s3_blob_id_new(struct s3_server *srv, uint8_t out[16])
{
	s3_random_id(out);
	if (srv->cluster) {
		uint32_t tag = cluster_blob_tag(srv->cluster);
		out[0] = (uint8_t)(tag >> 24);
		out[1] = (uint8_t)(tag >> 16);
		out[2] = (uint8_t)(tag >> 8);
		out[3] = (uint8_t)tag;
	}
}

const char *s3_header(struct s3_req *r, const char *name)
{
	const struct http_header *h = http_request_header(r->http, name);
	return h ? h->value : NULL;
}

static int hdr_bytes_ok(const char *v, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 0;
	}
	return 1;
}

int s3_hdr_value_ok(const char *v, size_t len)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	size_t i = 0;

	/* Eight bytes at a time (every response header passes here): a word
	 * with no byte below 0x20 and none equal to 0x7f is clean; one that
	 * may hold such a byte (a tab is allowed) is checked byte by byte.
	 * Both tests are exact as yes/no (bit hacks "hasless" and "haszero"). */
	for (; i + 8 <= len; i += 8) {
		uint64_t w, d;

		memcpy(&w, v + i, 8);
		d = w ^ (0x7f * ones);
		if ((((w - 0x20 * ones) & ~w) | ((d - ones) & ~d)) & highs)
			if (!hdr_bytes_ok(v + i, 8))
				return 0;
	}
	return hdr_bytes_ok(v + i, len - i);
}

static int hdr_grow(struct s3_req *r, struct s3_hdrs *h)
{
	int cap = h->cap ? 2 * h->cap : 16;
	struct http_header *n = cn_pool_alloc(r->pool, sizeof(*n) * (size_t)cap);

	if (!n)
		return CN_ENOMEM;
	if (h->n)
		memcpy(n, h->h, sizeof(*n) * (size_t)h->n);
	h->h = n;
	h->cap = cap;
	return 0;
}

static void hdr_put(struct s3_req *r, struct s3_hdrs *h, const char *name, const char *value,
		    size_t len)
{
	if (!s3_hdr_value_ok(value, len)) {
		log_warn("request %s: refusing to send header %s with a control character",
			 r->request_id, name);
		h->bad = 1;
		return;
	}
	if (h->n == h->cap && hdr_grow(r, h)) {
		h->bad = 1;
		return;
	}
	h->h[h->n].name = name;
	h->h[h->n].name_len = strlen(name);
	h->h[h->n].value = value;
	h->h[h->n].value_len = len;
	h->n++;
}

void s3_hdr_add(struct s3_req *r, struct s3_hdrs *h, const char *name, const char *value)
{
	if (!value)
		return;
	hdr_put(r, h, name, value, strlen(value));
}

int s3_hdr_has(const struct s3_hdrs *h, const char *name)
{
	for (int i = 0; i < h->n; i++)
		if (strcasecmp(h->h[i].name, name) == 0)
			return 1;
	return 0;
}

void s3_hdr_set(struct s3_req *r, struct s3_hdrs *h, const char *name, const char *value)
{
	size_t len = strlen(value);

	for (int i = 0; i < h->n; i++)
		if (strcasecmp(h->h[i].name, name) == 0) {
			if (!s3_hdr_value_ok(value, len)) {
				h->bad = 1;
				return;
			}
			h->h[i].value = value;
			h->h[i].value_len = len;
			return;
		}
	hdr_put(r, h, name, value, len);
}

void s3_hdr_addf(struct s3_req *r, struct s3_hdrs *h, const char *name, const char *fmt, ...)
{
	va_list ap;
	char *v;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !(v = cn_pool_alloc(r->pool, (size_t)n + 1))) {
		h->bad = 1;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(v, (size_t)n + 1, fmt, ap);
	va_end(ap);
	hdr_put(r, h, name, v, (size_t)n);
}

void s3_http_date(int64_t ns, char out[40])
{
	*cn_fmt_http_date(out, ns) = 0;
}

int s3_parse_http_date(const char *s, int64_t *ns)
{
	struct tm tm;
	time_t t;
	const char *end;

	/* RFC 9110 5.6.7: a recipient accepts the two obsolete forms too
	 * (RFC 850, whose two-digit year strptime places in 1969-2068, and
	 * asctime) */
	static const char *const http_forms[] = {
		"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %d %H:%M:%S %Y"};

	end = NULL;
	for (size_t i = 0; i < sizeof(http_forms) / sizeof(http_forms[0]); i++) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, http_forms[i], &tm);
		if (end && !*end)
			break;
	}
	if (!end || *end) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm); /* ISO 8601 */
		if (!end)
			return -1;
		/* a fraction and Z may follow (ignored: the compare is in seconds) */
		if (*end == '.' && end[1] >= '0' && end[1] <= '9')
			for (end++; *end >= '0' && *end <= '9'; end++)
				;
		if (*end == 'Z')
			end++;
		if (*end)
			return -1;
	}
	t = timegm(&tm);
	/* int64 ns end in 2262; a later date compares as the latest time. */
	if (t > INT64_MAX / 1000000000LL)
		*ns = INT64_MAX;
	else if (t < INT64_MIN / 1000000000LL)
		*ns = INT64_MIN;
	else
		*ns = (int64_t)t * 1000000000LL;
	return 0;
}

/* The headers every response carries, then the handler's. */
static int common_headers(struct s3_req *r, struct s3_hdrs *all, const struct s3_hdrs *h)
{
	/* Formatting the date costs more than the rest of a small response's
	 * headers: once per second per worker thread. */
	static __thread time_t last;
	static __thread char cached[40];
	time_t now = (time_t)(cn_now_ns() / 1000000000LL);
	int n = h ? h->n : 0;
	int nc = r->cors ? r->cors->n : 0;

	if (now != last) {
		s3_http_date((int64_t)now * 1000000000LL, cached);
		last = now;
	}
	all->n = 0;
	all->bad = h ? h->bad : 0;
	all->cap = n + nc + 4;
	all->h = cn_pool_alloc(r->pool, sizeof(*all->h) * (size_t)all->cap);
	if (!all->h)
		return CN_ENOMEM;
	s3_hdr_add(r, all, "Server", "cairn");
	s3_hdr_add(r, all, "x-amz-request-id", r->request_id);
	s3_hdr_add(r, all, "x-amz-id-2", r->request_id);
	s3_hdr_add(r, all, "Date", cn_pool_strndup(r->pool, cached, strlen(cached)));
	if (n) {
		memcpy(all->h + all->n, h->h, sizeof(*all->h) * (size_t)n);
		all->n += n;
	}
	if (nc) {
		memcpy(all->h + all->n, r->cors->h, sizeof(*all->h) * (size_t)nc);
		all->n += nc;
	}
	return all->bad ? CN_EINTERNAL : 0;
}

static void confirm_done(struct meta_cmd *cmd, int rc, void *arg)
{
	struct s3_req *r = arg;
	(void)cmd;

	if (r->write_ticket)
		cn_metrics_leader_write(rc ? CN_WRITE_REFUSED : CN_WRITE_ROUND);
	else
		cn_metrics_leader_read(rc ? CN_READ_REFUSED : CN_READ_ROUND);
	http_response_uncork(r->http, rc);
	s3_release(r);
}

/* A GET that went ahead before any read round (unconfirmed) gives its
 * answer only once a majority of voters confirmed this node's term after
 * the request came: its own shard reads usually did; otherwise the answer
 * waits, corked, for a read round (a barrier), and is dropped for a 503 if
 * that fails. */
static int confirm_answer(struct s3_req *r)
{
	struct meta_cmd *b;
	int rc;

	r->unconfirmed = 0;
	if (!r->write_ticket && cluster_ticket_confirmed(r->srv->cluster, &r->ticket)) {
		cn_metrics_leader_read(CN_READ_SHARD);
		return 0;
	}
	b = cn_pool_zalloc(r->pool, sizeof(*b));
	if (!b)
		return CN_ENOMEM;
	b->type = META_CMD_BARRIER;
	/* a round of the ticket's term, on this node as its leader (or on the
	 * leader that gave this follower the ticket): a follower's barrier
	 * would vouch for reads made after it only */
	b->leader_term = r->ticket.term;
	b->ask_leader = (uint8_t)r->follower_ticket;
	rc = s3_meta_submit(r, b, confirm_done, r);
	if (rc)
		return rc;
	/* confirm_done runs from this loop, later: r and the cork wait for it */
	s3_hold(r);
	http_response_cork(r->http);
	return 0;
}

void s3_entry_confirms(struct s3_req *r, const struct meta_cmd *cmd)
{
	if (r->unconfirmed && r->write_ticket && cmd->entry_term &&
	    cmd->entry_term == r->ticket.term) {
		r->unconfirmed = 0;
		cn_metrics_leader_write(CN_WRITE_ENTRY);
	}
}

int s3_send_begin(struct s3_req *r, int status, struct s3_hdrs *h, uint64_t len)
{
	struct s3_hdrs all;
	int rc;

	if (r->unconfirmed && (rc = confirm_answer(r)) != 0)
		return rc;
	rc = common_headers(r, &all, h);

	if (rc) {
		/* A header that cannot be sent, or no memory for the list: the
		 * client gets an error, never a response missing a header. */
		struct s3_hdrs plain = {0};
		if (common_headers(r, &all, &plain) == 0)
			http_response_begin(r->http, 500, all.h, all.n, 0);
		return rc;
	}
	return http_response_begin(r->http, status, all.h, all.n, len);
}

void s3_end(struct s3_req *r)
{
	if (r->done)
		return;
	r->done = 1;
	s3_body_release(r);
	/* Work still queued holds r: the request ends when the last item is back. */
	if (r->n_work == 0)
		http_response_end(r->http);
}

void s3_send(struct s3_req *r, int status, struct s3_hdrs *h, const void *body, size_t len)
{
	if (s3_send_begin(r, status, h, len) == 0 && len && !r->is_head)
		http_response_write_copy(r->http, body, len);
	s3_end(r);
}

void s3_send_xml(struct s3_req *r, int status, struct s3_hdrs *h, struct cn_buf *w)
{
	struct s3_hdrs hh = {.n = 0};

	if (w->err) {
		cn_buf_release(w);
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	if (!h)
		h = &hh;
	s3_hdr_add(r, h, "Content-Type", "application/xml");
	if (s3_send_begin(r, status, h, w->len) == 0 && w->len && !r->is_head)
		http_response_write_copy(r->http, w->s, w->len);
	cn_buf_release(w);
	s3_end(r);
}

void s3_send_error_ex(struct s3_req *r, int err, struct s3_hdrs *h, const struct s3_err_field *f,
		      int n)
{
	const struct s3_error *e = s3_error_lookup(err);
	struct s3_error custom;
	struct s3_err_field auto_f[2];
	struct s3_hdrs own = {0};
	struct s3_error_doc d;
	struct cn_buf w;
	char *lname;

	if (r->done)
		return;
	if (!h)
		h = &own;
	if (r->err_msg) {
		/* a handler's more precise wording (a policy's parse error) */
		custom = *e;
		custom.message = r->err_msg;
		e = &custom;
	}
	if (e->status >= 500)
		log_warn("request %s %s %s: %s (%s)", r->request_id, r->http->method_str,
			 r->http->path, cn_strerror(err), cn_errname(err));
	if (err == CN_ENOTMODIFIED) {
		/* 304 carries no body. */
		s3_send_begin(r, 304, h, 0);
		s3_end(r);
		return;
	}
	/* Details S3 attaches to these errors. */
	if (n == 0 && err == CN_EUNSIGNEDHDR && r->auth.unsigned_header) {
		lname = cn_pool_strndup(r->pool, r->auth.unsigned_header,
					r->auth.unsigned_header_len);
		for (char *p = lname; p && *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p + 32);
		if (lname) {
			auto_f[0] = (struct s3_err_field){"HeadersNotSigned", lname, strlen(lname)};
			f = auto_f;
			n = 1;
		}
	} else if (n == 0 && (err == CN_EBADREGION || err == CN_EBADQUERYAUTH)) {
		auto_f[0] = (struct s3_err_field){"Region", r->srv->cfg.region,
						  strlen(r->srv->cfg.region)};
		f = auto_f;
		n = 1;
	}
	if (err == CN_EDELMARKER && !s3_hdr_has(h, "x-amz-delete-marker"))
		s3_hdr_add(r, h, "x-amz-delete-marker", "true");
	if ((err == CN_EBADMETHOD || err == CN_EDELMARKER) && !s3_hdr_has(h, "Allow"))
		s3_hdr_add(r, h, "Allow", "GET, HEAD, PUT, POST, DELETE");
	if (r->is_head) {
		s3_send_begin(r, e->status, h, 0);
		s3_end(r);
		return;
	}
	memset(&d, 0, sizeof(d));
	d.bucket = r->route.bucket;
	d.key = r->route.key;
	d.key_len = r->route.key_len;
	d.resource = r->http->path;
	d.request_id = r->request_id;
	d.fields = f;
	d.n_fields = n;
	cn_buf_init(&w);
	s3_error_xml(&w, e, &d);
	s3_send_xml(r, e->status, h, &w);
}

void s3_send_error(struct s3_req *r, int err)
{
	s3_send_error_ex(r, err, NULL, NULL, 0);
}

/* ---- big buffers ---- */

void *s3_bigbuf_get(struct s3_req *r)
{
	struct s3_worker *wk = r->wk;

	if (wk->n_free > 0)
		return wk->free_bufs[--wk->n_free];
	return malloc(S3_BIGBUF);
}

void s3_bigbuf_put(struct s3_req *r, void *buf)
{
	struct s3_worker *wk = r->wk;

	if (!buf)
		return;
	if (wk->n_free < S3_BIGBUF_CACHE) {
		wk->free_bufs[wk->n_free++] = buf;
		return;
	}
	free(buf);
}

/* ---- thread pool ---- */

struct work {
	uv_work_t w;
	struct s3_req *r;
	s3_work_fn fn;
	s3_after_fn after;
	void *arg;
};

static void work_run(uv_work_t *w)
{
	struct work *wk = (struct work *)w;
	wk->fn(wk->r, wk->arg);
}

static void work_after(uv_work_t *w, int status)
{
	struct work *wk = (struct work *)w;
	struct s3_req *r = wk->r;

	/* This item still counts while after() runs: if after() ends the
	 * request, s3_end must not free it (and r) under our feet. */
	wk->after(r, status, wk->arg);
	free(wk);
	s3_release(r);
}

int s3_work(struct s3_req *r, s3_work_fn fn, s3_after_fn after, void *arg)
{
	struct work *wk = malloc(sizeof(*wk));
	int rc;

	if (!wk)
		return CN_ENOMEM;
	wk->r = r;
	wk->fn = fn;
	wk->after = after;
	wk->arg = arg;
	rc = uv_queue_work(r->wk->loop, &wk->w, work_run, work_after);
	if (rc) {
		free(wk);
		return rc;
	}
	s3_hold(r);
	return 0;
}

void s3_hold(struct s3_req *r)
{
	r->n_work++;
}

void s3_release(struct s3_req *r)
{
	assert(r->n_work > 0);
	if (--r->n_work == 0 && r->done)
		http_response_end(r->http);
}

int s3_meta_submit(struct s3_req *r, struct meta_cmd *cmd, meta_cmd_cb cb, void *arg)
{
	return meta_submit(r->srv->meta, cmd, &r->wk->waiter, cb, arg);
}

/* ---- operations endpoints ---- */

/* Data-plane gauges and counters after the request metrics: scrub, drive
 * rebuild, GC, and in a cluster the backfill and the rebalance. */
static void bg_metrics(struct s3_req *r, struct cn_buf *b)
{
	struct s3_server *srv = r->srv;
	struct data_set_health h;

	data_store_health(srv->data, &h);
	cn_buf_printf(b,
		      "# HELP cairn_degraded 1 while a drive of the set is missing or was "
		      "refused at start (--allow-degraded).\n# TYPE cairn_degraded gauge\n"
		      "cairn_degraded %d\n"
		      "# TYPE cairn_drive_set_size gauge\ncairn_drive_set_size %d\n"
		      "# TYPE cairn_drives_online gauge\ncairn_drives_online %d\n"
		      "# HELP cairn_drives_missing Drive-set positions with no online drive.\n"
		      "# TYPE cairn_drives_missing gauge\ncairn_drives_missing %d\n",
		      h.degraded, h.set_n ? h.set_n : h.drives, h.online, h.missing);
	cn_buf_printf(b,
		      "# HELP cairn_storage_full 1 while small bodies get 507: the metadata "
		      "drive (in a cluster, any node's) is down to its reserve.\n"
		      "# TYPE cairn_storage_full gauge\ncairn_storage_full %d\n"
		      "# HELP cairn_meta_ballast_released 1 while the metadata store's ballast "
		      "is spent on a full disk.\n# TYPE cairn_meta_ballast_released gauge\n"
		      "cairn_meta_ballast_released %d\n",
		      data_store_check_meta_space(srv->data, 0) != 0,
		      meta_ballast_released(srv->meta));
	if (srv->scrub) {
		struct scrub_progress p;
		scrub_progress(srv->scrub, &p);
		cn_buf_printf(
			b,
			"# TYPE cairn_scrub_shards_rebuilt_total counter\n"
			"cairn_scrub_shards_rebuilt_total %llu\n"
			"# TYPE cairn_scrub_unrecoverable_total counter\n"
			"cairn_scrub_unrecoverable_total %llu\n"
			"# TYPE cairn_heal_queue gauge\ncairn_heal_queue %llu\n"
			"# TYPE cairn_rebuild_bytes_remaining gauge\n"
			"cairn_rebuild_bytes_remaining %llu\n"
			"# TYPE cairn_backfill_shards_total counter\n"
			"cairn_backfill_shards_total %llu\n"
			"# TYPE cairn_backfill_failed_total counter\n"
			"cairn_backfill_failed_total %llu\n",
			(unsigned long long)p.shards_rebuilt, (unsigned long long)p.unrecoverable,
			(unsigned long long)p.heal_queue_len,
			(unsigned long long)(p.rebuild.bytes_total > p.rebuild.bytes_done
						     ? p.rebuild.bytes_total - p.rebuild.bytes_done
						     : 0),
			(unsigned long long)p.backfill_shards,
			(unsigned long long)p.backfill_failed);
	}
	if (srv->gc) {
		uint64_t del, failed, deferred;
		gc_stats(srv->gc, &del, &failed, &deferred);
		cn_buf_printf(b,
			      "# TYPE cairn_gc_deleted_total counter\ncairn_gc_deleted_total %llu\n"
			      "# TYPE cairn_gc_failed_total counter\ncairn_gc_failed_total %llu\n",
			      (unsigned long long)del, (unsigned long long)failed);
	}
	if (srv->cluster) {
		uint64_t heal = 0;
		struct cluster_status st;
		if (meta_heal_count(srv->meta, &heal) == 0)
			cn_buf_printf(b,
				      "# HELP cairn_heal_entries Blobs with shards missing since "
				      "their node was down.\n# TYPE cairn_heal_entries gauge\n"
				      "cairn_heal_entries %llu\n",
				      (unsigned long long)heal);
		cluster_status(srv->cluster, &st);
		cn_buf_printf(b,
			      "# HELP cairn_raft_log_aio_destroys_total Raft log segments' kernel "
			      "AIO contexts destroyed off the Raft loop.\n"
			      "# TYPE cairn_raft_log_aio_destroys_total counter\n"
			      "cairn_raft_log_aio_destroys_total %llu\n"
			      "# HELP cairn_raft_log_aio_destroy_max_seconds The longest of those "
			      "destroys.\n# TYPE cairn_raft_log_aio_destroy_max_seconds gauge\n"
			      "cairn_raft_log_aio_destroy_max_seconds %.6f\n",
			      (unsigned long long)st.log_aio_destroys,
			      st.log_aio_destroy_max_ns / 1e9);
	}
	if (srv->rebalance) {
		struct rebalance_progress p;
		rebalance_progress(srv->rebalance, &p);
		cn_buf_printf(b,
			      "# TYPE cairn_rebalance_running gauge\ncairn_rebalance_running %d\n"
			      "# TYPE cairn_rebalance_shards_moved gauge\n"
			      "cairn_rebalance_shards_moved %llu\n"
			      "# TYPE cairn_rebalance_bytes_moved gauge\n"
			      "cairn_rebalance_bytes_moved %llu\n"
			      "# TYPE cairn_rebalance_eta_seconds gauge\n"
			      "cairn_rebalance_eta_seconds %lld\n",
			      p.state == REBALANCE_RUNNING, (unsigned long long)p.shards_moved,
			      (unsigned long long)p.bytes_moved, (long long)p.eta_s);
	}
}

static void send_plain(struct s3_req *r, int status, const char *ctype, const char *body,
		       size_t len)
{
	struct s3_hdrs h = {.n = 0};
	s3_hdr_add(r, &h, "Content-Type", ctype);
	s3_send(r, status, &h, body, len);
}

static void ops_endpoint(struct s3_req *r)
{
	const char *p = r->http->path;

	if (strcmp(p, "/_cairn/health/live") == 0) {
		r->http->op = "HealthLive";
		send_plain(r, 200, "text/plain", "ok\n", 3);
	} else if (strcmp(p, "/_cairn/health/ready") == 0) {
		r->http->op = "HealthReady";
		/* in a cluster: only when linearizable requests can be served */
		if (r->srv->ready && (!r->srv->cluster || cluster_ready(r->srv->cluster)))
			send_plain(r, 200, "text/plain", "ready\n", 6);
		else
			send_plain(r, 503, "text/plain", "not ready\n", 10);
	} else if (strcmp(p, "/_cairn/metrics") == 0) {
		/* Sized, then rendered: an operation first seen in between adds
		 * lines, so render again into a larger buffer until it fits. */
		size_t need = cn_metrics_render(NULL, 0), n = need + 1;
		char *buf = NULL;
		r->http->op = "Metrics";
		for (int tries = 0; tries < 4 && n > need; tries++) {
			need = n + 4096;
			buf = cn_pool_alloc(r->pool, need);
			if (!buf)
				break;
			n = cn_metrics_render(buf, need);
		}
		struct cn_buf all;
		cn_buf_init(&all);
		if (buf && n <= need)
			cn_buf_put(&all, buf, n);
		bg_metrics(r, &all);
		if (!buf || n > need || all.err) {
			cn_buf_release(&all);
			s3_send_error(r, CN_ENOMEM);
			return;
		}
		send_plain(r, 200, "text/plain; version=0.0.4", all.s, all.len);
		cn_buf_release(&all);
	} else {
		r->http->op = "Unknown";
		s3_send_error(r, CN_ENOTIMPL);
	}
}

/* ---- authentication ---- */

static int authenticate(struct s3_req *r)
{
	struct http_request *h = r->http;
	struct sigv4_request sr;
	struct sigv4_header *hs;
	int rc;

	hs = cn_pool_alloc(r->pool, sizeof(*hs) * (size_t)(h->n_headers + 1));
	if (!hs)
		return CN_ENOMEM;
	for (int i = 0; i < h->n_headers; i++) {
		hs[i].name = h->headers[i].name;
		hs[i].name_len = h->headers[i].name_len;
		hs[i].value = h->headers[i].value;
		hs[i].value_len = h->headers[i].value_len;
	}
	memset(&sr, 0, sizeof(sr));
	sr.method = h->method_str;
	sr.path = h->path;
	sr.path_len = h->path_len;
	sr.query = h->query;
	sr.query_len = h->query_len;
	sr.headers = hs;
	sr.n_headers = (size_t)h->n_headers;
	sr.now = (time_t)(cn_now_ns() / 1000000000LL);
	sr.region = r->srv->cfg.region;
	if (sigv2_present(&sr)) {
		struct sigv2_result v2;
		if (r->srv->cfg.no_sigv2)
			return CN_ESIGV2OFF;
		rc = sigv2_verify(&sr, r->route.virtual_host ? r->route.bucket : NULL,
				  s3_ident_secret, r, &v2);
		if (rc) {
			memset(&r->ident, 0, sizeof(r->ident));
			if (rc == CN_EBADQUERYAUTH)
				r->err_msg = "Query-string authentication requires the Signature, "
					     "Expires and AWSAccessKeyId parameters";
			return rc;
		}
		/* the body is not signed in V2 (Content-MD5, when sent, is) */
		memset(&r->auth, 0, sizeof(r->auth));
		r->auth.kind = v2.presigned ? SIGV4_KIND_PRESIGNED : SIGV4_KIND_HEADER;
		r->auth.payload = SIGV4_PAYLOAD_UNSIGNED;
		r->auth.decoded_len = UINT64_MAX;
		r->auth.expires = v2.expires;
		snprintf(r->auth.access_key, sizeof(r->auth.access_key), "%s", v2.access_key);
		r->sigv2 = 1;
		r->presigned = v2.presigned;
		return 0;
	}
	rc = sigv4_verify(&sr, s3_ident_secret, r, &r->auth);
	if (rc == CN_EACCESS) {
		/* no signature at all: an anonymous request, which authorization
		 * refuses unless a bucket policy or an ACL lets everyone in */
		memset(&r->auth, 0, sizeof(r->auth));
		r->auth.payload = SIGV4_PAYLOAD_UNSIGNED;
		r->auth.decoded_len = UINT64_MAX;
		memset(&r->ident, 0, sizeof(r->ident));
		return 0;
	}
	if (rc)
		memset(&r->ident, 0, sizeof(r->ident));
	r->presigned = rc == 0 && r->auth.kind == SIGV4_KIND_PRESIGNED;
	return rc;
}

/* ---- dispatch ---- */

static enum s3_method map_method(const char *m)
{
	if (strcmp(m, "GET") == 0)
		return S3_GET;
	if (strcmp(m, "PUT") == 0)
		return S3_PUT;
	if (strcmp(m, "POST") == 0)
		return S3_POST;
	if (strcmp(m, "DELETE") == 0)
		return S3_DELETE;
	if (strcmp(m, "HEAD") == 0)
		return S3_HEAD;
	return S3_OTHER;
}

static void on_abort(struct http_request *h)
{
	struct s3_req *r = h->data;
	r->aborted = 1;
}

/* Operations that add metadata records and no object bytes: the reserve
 * stops them as it stops bodies, so that the room left on a full drive goes
 * to what frees space (deletes, aborts, GC) and not to a client creating
 * uploads or tags in a loop. Records written for bytes already stored
 * (a blob's version, a part, a complete) still commit. */
static int grows_records(enum s3_op op)
{
	switch (op) {
	case S3_OP_CREATE_BUCKET:
	case S3_OP_CREATE_MULTIPART:
	case S3_OP_PUT_BUCKET_POLICY:
	case S3_OP_PUT_PUBLIC_ACCESS_BLOCK:
	case S3_OP_PUT_OWNERSHIP_CONTROLS:
	case S3_OP_PUT_BUCKET_ACL:
	case S3_OP_PUT_OBJECT_ACL:
	case S3_OP_PUT_OBJECT_TAGGING:
	case S3_OP_PUT_BUCKET_TAGGING:
	case S3_OP_PUT_BUCKET_CORS:
	case S3_OP_PUT_BUCKET_ENCRYPTION:
	case S3_OP_PUT_BUCKET_LIFECYCLE:
	case S3_OP_PUT_OBJECT_LOCK_CONFIG: return 1;
	default: return 0;
	}
}

static void run_op(struct s3_req *r, int rc);

/* The body was read before the decision (its condition keys): decide,
 * then report what reading it found wrong, then run. */
static void authz_body(struct s3_req *r, int err, char *buf, size_t len)
{
	int rc;

	if (!err) {
		r->pre_body = buf;
		r->pre_len = len;
		r->has_pre_body = 1;
		s3_authz_body_keys(r, buf, len);
	}
	rc = s3_authorize(r);
	run_op(r, rc ? rc : err);
}

static void dispatch(struct s3_req *r)
{
	int rc = r->reauth ? authenticate(r) : 0;
	size_t body_max;

	/* a cross-origin request's answer, error or not, carries its CORS
	 * headers (a browser shows the error then) */
	s3_cors_actual(r);
	if (!rc && (body_max = s3_authz_body_max(r)) != 0) {
		s3_body_read_small(r, body_max, authz_body);
		return;
	}
	if (!rc)
		rc = s3_authorize(r);
	run_op(r, rc);
}

static void run_op(struct s3_req *r, int rc)
{
	if (!rc && grows_records(r->route.op))
		rc = data_store_check_meta_space(r->srv->data, 0);
	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	switch (r->route.op) {
	case S3_OP_LIST_BUCKETS: s3_op_list_buckets(r); break;
	case S3_OP_CREATE_BUCKET: s3_op_create_bucket(r); break;
	case S3_OP_DELETE_BUCKET: s3_op_delete_bucket(r); break;
	case S3_OP_HEAD_BUCKET: s3_op_head_bucket(r); break;
	case S3_OP_GET_BUCKET_LOCATION: s3_op_get_bucket_location(r); break;
	case S3_OP_GET_BUCKET_REQUEST_PAYMENT:
	case S3_OP_GET_BUCKET_LOGGING:
	case S3_OP_GET_BUCKET_NOTIFICATION:
	case S3_OP_GET_BUCKET_ACCELERATE:
	case S3_OP_GET_BUCKET_WEBSITE:
	case S3_OP_GET_BUCKET_REPLICATION: s3_op_get_bucket_unconfigured(r); break;
	case S3_OP_GET_BUCKET_VERSIONING: s3_op_get_bucket_versioning(r); break;
	case S3_OP_PUT_BUCKET_VERSIONING: s3_op_put_bucket_versioning(r); break;
	case S3_OP_LIST_OBJECTS:
	case S3_OP_LIST_OBJECTS_V2: s3_op_list_objects(r); break;
	case S3_OP_LIST_OBJECT_VERSIONS: s3_op_list_object_versions(r); break;
	case S3_OP_LIST_MULTIPART_UPLOADS: s3_op_list_multipart_uploads(r); break;
	case S3_OP_DELETE_OBJECTS: s3_op_delete_objects(r); break;
	case S3_OP_PUT_OBJECT: s3_op_put_object(r); break;
	case S3_OP_COPY_OBJECT: s3_op_copy_object(r); break;
	case S3_OP_GET_OBJECT:
	case S3_OP_HEAD_OBJECT: s3_op_get_object(r); break;
	case S3_OP_DELETE_OBJECT: s3_op_delete_object(r); break;
	case S3_OP_CREATE_MULTIPART: s3_op_create_multipart(r); break;
	case S3_OP_UPLOAD_PART: s3_op_upload_part(r); break;
	case S3_OP_UPLOAD_PART_COPY: s3_op_upload_part_copy(r); break;
	case S3_OP_COMPLETE_MULTIPART: s3_op_complete_multipart(r); break;
	case S3_OP_ABORT_MULTIPART: s3_op_abort_multipart(r); break;
	case S3_OP_LIST_PARTS: s3_op_list_parts(r); break;
	case S3_OP_GET_BUCKET_POLICY: s3_op_get_bucket_policy(r); break;
	case S3_OP_PUT_BUCKET_POLICY: s3_op_put_bucket_policy(r); break;
	case S3_OP_DELETE_BUCKET_POLICY: s3_op_delete_bucket_policy(r); break;
	case S3_OP_GET_BUCKET_POLICY_STATUS: s3_op_get_bucket_policy_status(r); break;
	case S3_OP_GET_PUBLIC_ACCESS_BLOCK: s3_op_get_public_access_block(r); break;
	case S3_OP_PUT_PUBLIC_ACCESS_BLOCK: s3_op_put_public_access_block(r); break;
	case S3_OP_DELETE_PUBLIC_ACCESS_BLOCK: s3_op_delete_public_access_block(r); break;
	case S3_OP_GET_OWNERSHIP_CONTROLS: s3_op_get_ownership_controls(r); break;
	case S3_OP_PUT_OWNERSHIP_CONTROLS: s3_op_put_ownership_controls(r); break;
	case S3_OP_DELETE_OWNERSHIP_CONTROLS: s3_op_delete_ownership_controls(r); break;
	case S3_OP_GET_BUCKET_ACL: s3_op_get_bucket_acl(r); break;
	case S3_OP_PUT_BUCKET_ACL: s3_op_put_bucket_acl(r); break;
	case S3_OP_GET_OBJECT_ACL: s3_op_get_object_acl(r); break;
	case S3_OP_PUT_OBJECT_ACL: s3_op_put_object_acl(r); break;
	case S3_OP_POST_OBJECT: s3_op_post_object(r); break;
	case S3_OP_GET_OBJECT_TAGGING: s3_op_get_object_tagging(r); break;
	case S3_OP_GET_OBJECT_ATTRIBUTES: s3_op_get_object_attributes(r); break;
	case S3_OP_PUT_OBJECT_TAGGING: s3_op_put_object_tagging(r); break;
	case S3_OP_DELETE_OBJECT_TAGGING: s3_op_delete_object_tagging(r); break;
	case S3_OP_GET_BUCKET_TAGGING: s3_op_get_bucket_tagging(r); break;
	case S3_OP_PUT_BUCKET_TAGGING: s3_op_put_bucket_tagging(r); break;
	case S3_OP_DELETE_BUCKET_TAGGING: s3_op_delete_bucket_tagging(r); break;
	case S3_OP_GET_BUCKET_CORS: s3_op_get_bucket_cors(r); break;
	case S3_OP_PUT_BUCKET_CORS: s3_op_put_bucket_cors(r); break;
	case S3_OP_DELETE_BUCKET_CORS: s3_op_delete_bucket_cors(r); break;
	case S3_OP_GET_BUCKET_ENCRYPTION: s3_op_get_bucket_encryption(r); break;
	case S3_OP_PUT_BUCKET_ENCRYPTION: s3_op_put_bucket_encryption(r); break;
	case S3_OP_DELETE_BUCKET_ENCRYPTION: s3_op_delete_bucket_encryption(r); break;
	case S3_OP_GET_BUCKET_LIFECYCLE: s3_op_get_bucket_lifecycle(r); break;
	case S3_OP_PUT_BUCKET_LIFECYCLE: s3_op_put_bucket_lifecycle(r); break;
	case S3_OP_GET_OBJECT_LOCK_CONFIG: s3_op_get_object_lock_config(r); break;
	case S3_OP_PUT_OBJECT_LOCK_CONFIG: s3_op_put_object_lock_config(r); break;
	case S3_OP_GET_OBJECT_RETENTION: s3_op_get_object_retention(r); break;
	case S3_OP_PUT_OBJECT_RETENTION: s3_op_put_object_retention(r); break;
	case S3_OP_GET_OBJECT_LEGAL_HOLD: s3_op_get_object_legal_hold(r); break;
	case S3_OP_PUT_OBJECT_LEGAL_HOLD: s3_op_put_object_legal_hold(r); break;
	case S3_OP_DELETE_BUCKET_LIFECYCLE: s3_op_delete_bucket_lifecycle(r); break;
	default: s3_send_error(r, CN_ENOTIMPL); break;
	}
}

/* Unique per process: the request counter, with the worker in the top byte. */
static void request_id(const struct http_request *h, char out[17])
{
	*cn_fmt_hex16(out, h->id ^ ((uint64_t)http_worker_index(h->worker) << 56)) = 0;
}

/* A presigned URL's signature is a bearer token for up to 7 days: the
 * access log shows the request without its value. */
static void redact_log_url(struct http_request *h)
{
	static const char *const secret[] = {"X-Amz-Signature=", "Signature="};
	const char *q = h->query;
	size_t n_params = 1, cap;
	char *out, *o;

	if (!h->query_len || !strcasestr(q, "Signature="))
		return;
	for (size_t i = 0; i < h->query_len; i++)
		n_params += q[i] == '&';
	/* Never longer than the target (redaction only removes bytes). */
	cap = h->path_len + 1 + h->query_len + 8 * n_params + 1;
	out = cn_pool_alloc(&h->pool, cap);
	if (!out) {
		h->log_url = h->path; /* no memory: drop the query rather than leak it */
		return;
	}
	o = out;
	memcpy(o, h->path, h->path_len);
	o += h->path_len;
	*o++ = '?';
	for (size_t pos = 0; pos < h->query_len;) {
		size_t end = pos, hide = 0;
		while (end < h->query_len && q[end] != '&')
			end++;
		for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++) {
			size_t sl = strlen(secret[i]);
			if (end - pos >= sl && strncasecmp(q + pos, secret[i], sl) == 0)
				hide = sl;
		}
		if (hide) {
			/* the name alone: no value, not even a placeholder, so a
			 * search of the logs for "Signature=" finds nothing */
			memcpy(o, q + pos, hide - 1);
			o += hide - 1;
		} else {
			memcpy(o, q + pos, end - pos);
			o += end - pos;
		}
		if (end < h->query_len)
			*o++ = '&';
		pos = end + 1;
	}
	*o = 0;
	h->log_url = out;
}

static struct s3_req *new_req(struct http_request *h, struct s3_server *s)
{
	struct s3_req *r = cn_pool_zalloc(&h->pool, sizeof(*r));

	if (!r)
		return NULL;
	r->http = h;
	r->srv = s;
	r->wk = http_worker_data(h->worker);
	r->pool = &h->pool;
	r->is_head = strcmp(h->method_str, "HEAD") == 0;
	request_id(h, r->request_id);
	h->log_id = r->request_id;
	h->log_user = r->auth.access_key; /* filled by authentication; "" anonymous */
	h->data = r;
	h->on_abort = on_abort;
	redact_log_url(h);
	return r;
}

static void barrier_failed(void *arg)
{
	struct s3_req *r = arg;
	s3_send_error(r, r->barrier_rc);
}

static void barrier_next(void *arg)
{
	struct s3_req *r = arg;
	r->barrier_next(r);
}

static void barrier_passed(struct meta_cmd *cmd, int rc, void *arg)
{
	struct s3_req *r = arg;
	(void)cmd;

	r->barrier_rc = rc ? rc : r->aborted ? CN_EINCOMPLETE : 0;
	http_request_run_held(r->http, r->barrier_rc ? barrier_failed : barrier_next, r);
}

/* Submits the barrier b for r, whose body bytes wait until done runs
 * next (or answers the failure) from this loop. */
static void hold_for_barrier(struct s3_req *r, struct meta_cmd *b, meta_cmd_cb done,
			     void (*next)(struct s3_req *))
{
	int rc;

	b->type = META_CMD_BARRIER;
	r->barrier_next = next;
	http_request_hold(r->http);
	rc = s3_meta_submit(r, b, done, r);
	if (rc) {
		r->barrier_rc = rc;
		http_request_run_held(r->http, barrier_failed, r);
	}
}

/* 1 if r is a PutObject or DeleteObject, whose reads before its command
 * an open store batch of other object keys' writes cannot change
 * (cluster/ticket.h). */
static int object_write(const struct s3_req *r)
{
	return !r->reauth &&
	       ((r->route.op == S3_OP_PUT_OBJECT && strcmp(r->http->method_str, "PUT") == 0) ||
		(r->route.op == S3_OP_DELETE_OBJECT && strcmp(r->http->method_str, "DELETE") == 0));
}

/* Whether that write reads its own key before its command: only a
 * DeleteObject's If-Match does (s3_authz_delete_etag). */
static int write_reads_key(struct s3_req *r)
{
	return r->route.op == S3_OP_DELETE_OBJECT && s3_header(r, "if-match");
}

/* An object_write's barrier on a follower that the leader answered with a
 * write ticket (meta_cmd.ticket_term): the write went ahead without a read
 * round, and is confirmed as a leader's write is (s3_entry_confirms, else
 * confirm_answer asks the leader for a round of that term). */
static void ticket_passed(struct meta_cmd *cmd, int rc, void *arg)
{
	struct s3_req *r = arg;

	if (!rc && !r->aborted && cmd->ticket_term) {
		r->unconfirmed = 1;
		r->write_ticket = 1;
		r->follower_ticket = 1;
		r->ticket.term = cmd->ticket_term;
	}
	barrier_passed(cmd, rc, arg);
}

/* Cluster: runs next once the request sees every write acknowledged before
 * it arrived, whichever node took that write (one barrier round serves all
 * requests waiting for it); body bytes wait for it. An object_write need
 * not wait for this node's store to commit what the open batch holds of
 * other object keys (meta_cmd.object_write), and on a follower it may go
 * ahead on a write ticket instead of a round (ticket_passed). */
static void after_barrier(struct s3_req *r, void (*next)(struct s3_req *))
{
	struct meta_cmd *b = cn_pool_zalloc(r->pool, sizeof(*b));

	if (!b) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	if (r->srv->cluster && object_write(r)) {
		b->object_write = 1;
		b->reads_key = (uint8_t)write_reads_key(r);
		b->key_hash = meta_key_hash(r->route.bucket, strlen(r->route.bucket), r->route.key,
					    r->route.key_len);
		/* (an If-Match DELETE reads its key: a round) */
		b->ticket_ok = !b->reads_key;
	}
	hold_for_barrier(r, b, b->ticket_ok ? ticket_passed : barrier_passed, next);
}

/* 1 if r is a GET of an object on the ready leader, which goes ahead at
 * once and is confirmed before its answer is given (confirm_answer): the
 * shard reads of an erasure-coded object to other voters carry the question
 * a read round would ask. */
static int leader_get(struct s3_req *r)
{
	if (r->route.op != S3_OP_GET_OBJECT || strcmp(r->http->method_str, "GET") != 0 ||
	    r->reauth || cluster_read_ticket(r->srv->cluster, &r->ticket))
		return 0;
	r->unconfirmed = 1;
	return 1;
}

/* A write's ticket: the store showed the commit index the ticket needs,
 * or the wait failed (this node stopped leading that term, or 5 s went
 * by): then the write takes an ordinary barrier, as if it had no ticket.
 * r stays held meanwhile: holding it again from a held run would not keep
 * its body back (http_request_run_held resumes after the call). */
static void ticket_waited(struct meta_cmd *cmd, int rc, void *arg)
{
	struct s3_req *r = arg;
	struct meta_cmd *b;

	if (!rc || r->aborted) {
		barrier_passed(cmd, rc, arg);
		return;
	}
	r->unconfirmed = 0;
	r->write_ticket = 0;
	b = cn_pool_zalloc(r->pool, sizeof(*b));
	rc = b ? 0 : CN_ENOMEM;
	if (b) {
		b->type = META_CMD_BARRIER;
		rc = s3_meta_submit(r, b, barrier_passed, r);
	}
	if (rc) {
		r->barrier_rc = rc;
		http_request_run_held(r->http, barrier_failed, r);
	}
}

/* 1 if r is a PutObject or DeleteObject on the ready leader, which goes
 * ahead without a read round (dispatch, once the store shows what its
 * reads need of the commit index published when it came: all of it, or
 * none of an open batch of other keys' writes) and is confirmed by its own
 * log entry committing in the ticket's term (s3_entry_confirms; the
 * argument is in cluster/ticket.h): a leader of a later term cannot have
 * committed anything before that entry was appended, so the reads it made
 * saw every write acknowledged before it came. An answer without such an
 * entry (an error found first, a leader change) waits for a round
 * (confirm_answer). */
static int leader_write(struct s3_req *r, void (*next)(struct s3_req *))
{
	struct meta_cmd *b;
	int rc;

	if (!object_write(r))
		return 0;
	rc = cluster_write_ticket(r->srv->cluster, r->route.bucket, r->route.key, r->route.key_len,
				  write_reads_key(r), &r->ticket);
	if (rc < 0)
		return 0;
	r->unconfirmed = 1;
	r->write_ticket = 1;
	if (rc == 0) {
		next(r);
		return 1;
	}
	b = cn_pool_zalloc(r->pool, sizeof(*b));
	if (!b) {
		s3_send_error(r, CN_ENOMEM);
		return 1;
	}
	b->leader_term = r->ticket.term;
	b->local_read = 1;
	b->known_commit = r->ticket.index;
	hold_for_barrier(r, b, ticket_waited, next);
	return 1;
}

/* Admin calls that read or change replicated state (identities, objects,
 * KMS keys): in a cluster they see every acknowledged write, as S3 requests
 * do. Status, cluster membership and the local data path answer without a
 * leader; a backup takes its own barrier. */
static int admin_needs_barrier(const char *p)
{
	static const char *const which[] = {"user", "group", "policy", "object", "kms/key"};
	for (size_t i = 0; i < sizeof(which) / sizeof(which[0]); i++)
		if (strcmp(p, which[i]) == 0)
			return 1;
	return 0;
}

/* A CORS preflight (OPTIONS): unauthenticated, as browsers send it. A
 * bucket without a CORS configuration allows no cross-origin request:
 * 403, as S3 answers, so a browser sees S3's behaviour. */
static void preflight(struct s3_req *r)
{
	struct http_request *h = r->http;
	struct s3_route_input in;
	const char *origin = s3_header(r, "origin");
	const char *method = s3_header(r, "access-control-request-method");
	struct meta_bucket b;
	int rc;

	h->op = "PreflightRequest";
	memset(&in, 0, sizeof(in));
	in.method = S3_HEAD; /* only the bucket is wanted */
	in.path = h->path;
	in.path_len = h->path_len;
	in.host = s3_header(r, "host");
	in.domains = r->srv->cfg.domains;
	in.n_domains = r->srv->cfg.n_domains;
	rc = s3_route_parse(r->pool, &in, &r->route);
	if (!rc && !origin) {
		r->err_msg = "Insufficient information. Origin request header needed.";
		rc = CN_EBADREQ;
	}
	if (!rc &&
	    (!method || (strcmp(method, "GET") && strcmp(method, "PUT") && strcmp(method, "POST") &&
			 strcmp(method, "DELETE") && strcmp(method, "HEAD")))) {
		r->err_msg = cn_pool_printf(
			r->pool, "Invalid Access-Control-Request-Method: %s",
			method && s3_hdr_value_ok(method, strlen(method)) ? method : "null");
		rc = CN_EBADREQ;
	}
	if (!rc && !r->route.bucket)
		rc = CN_ECORSOFF;
	if (!rc && (rc = meta_bucket_get(r->srv->meta, r->route.bucket, &b)) == 0)
		meta_bucket_release(&b);
	if (!rc) {
		rc = s3_cors_preflight(r, origin, method);
		if (!rc)
			return; /* answered */
	}
	s3_send_error(r, rc);
}

static void on_request(struct http_request *h, void *arg)
{
	struct s3_server *s = arg;
	struct s3_req *r;
	struct s3_route_input in;
	int rc;

	r = new_req(h, s);
	if (!r) {
		http_response_end(h);
		return;
	}

	if (strncmp(h->path, "/_cairn/admin/", 14) == 0) {
		h->op = "Admin";
		rc = authenticate(r);
		/* A presigned URL is a bearer token that travels in links and
		 * logs; the root-only admin API takes signed headers only. */
		if (rc == 0 &&
		    (r->auth.kind != SIGV4_KIND_HEADER || r->ident.kind != S3_PRINCIPAL_ROOT))
			rc = CN_EACCESS;
		if (rc) {
			s3_send_error(r, rc);
			return;
		}
		if (s->cluster && admin_needs_barrier(h->path + 14))
			after_barrier(r, s3_admin);
		else
			s3_admin(r);
		return;
	}
	if (strncmp(h->path, "/_cairn/console", 15) == 0 &&
	    (h->path[15] == '\0' || h->path[15] == '/')) {
		s3_console(r); /* static files, no authentication */
		return;
	}
	if (strncmp(h->path, "/_cairn/", 8) == 0) {
		ops_endpoint(r);
		return;
	}
	if (strcmp(h->method_str, "OPTIONS") == 0) {
		/* the bucket's CORS rules as the last write left them, on every
		 * node (a browser's upload right after PutBucketCors) */
		if (s->cluster)
			after_barrier(r, preflight);
		else
			preflight(r);
		return;
	}
	memset(&in, 0, sizeof(in));
	in.method = map_method(h->method_str);
	in.path = h->path;
	in.path_len = h->path_len;
	in.query = h->query;
	in.query_len = h->query_len;
	in.host = s3_header(r, "host");
	in.domains = s->cfg.domains;
	in.n_domains = s->cfg.n_domains;
	in.has_copy_source = s3_header(r, "x-amz-copy-source") != NULL;
	rc = s3_route_parse(r->pool, &in, &r->route);
	h->op = r->route.op_name;
	h->log_bucket = r->route.bucket;
	h->log_key = r->route.key;
	h->log_key_len = r->route.key_len;
	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	rc = authenticate(r);
	if (rc == CN_EBADKEYID && s->cluster) {
		/* a key created through another node may not be applied here
		 * yet: look again after the read barrier */
		r->reauth = 1;
		rc = 0;
	}
	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	if (!s->ready) {
		/* a cluster node still starting (no leader yet, or reclaiming)
		 * is as good as one without a leader: retry */
		s3_send_error(r, s->cluster ? CN_ENOLEADER : CN_ESHUTDOWN);
		return;
	}
	if (s->cluster && leader_get(r))
		dispatch(r); /* linearizable: confirm_answer */
	else if (s->cluster && leader_write(r, dispatch))
		; /* linearizable: s3_entry_confirms, else confirm_answer */
	else if (s->cluster)
		after_barrier(r, dispatch); /* linearizable */
	else
		dispatch(r);
}

/* The internal API's requests (second HTTP server, cluster address). */
static void on_internal_request(struct http_request *h, void *arg)
{
	struct s3_req *r = new_req(h, arg);

	if (!r) {
		http_response_end(h);
		return;
	}
	s3_internal(r);
}

/* ---- workers ---- */

static int worker_start(struct http_worker *w, uv_loop_t *loop, void *arg)
{
	struct s3_worker *wk = calloc(1, sizeof(*wk));
	int rc;

	if (!wk)
		return CN_ENOMEM;
	wk->srv = arg;
	wk->loop = loop;
	rc = meta_waiter_init(&wk->waiter, loop);
	if (rc) {
		free(wk);
		return rc;
	}
	http_worker_set_data(w, wk);
	return 0;
}

static void waiter_closed(struct meta_waiter *mw)
{
	struct s3_worker *wk =
		(struct s3_worker *)((char *)mw - offsetof(struct s3_worker, waiter));
	free(wk);
}

static void worker_stop(struct http_worker *w, uv_loop_t *loop, void *arg)
{
	struct s3_worker *wk = http_worker_data(w);
	(void)loop, (void)arg;

	if (!wk)
		return;
	while (wk->n_free > 0)
		free(wk->free_bufs[--wk->n_free]);
	http_worker_set_data(w, NULL);
	meta_waiter_close(&wk->waiter, waiter_closed);
}

int s3_server_new(const struct s3_config *cfg, struct meta_store *meta, struct data_store *data,
		  struct s3_server **out)
{
	struct s3_server *s = calloc(1, sizeof(*s));

	if (!s)
		return CN_ENOMEM;
	s->cfg = *cfg;
	if (!s->cfg.region)
		s->cfg.region = "us-east-1";
	if (!s->cfg.max_object_size)
		s->cfg.max_object_size = 5ULL << 40;
	if (!s->cfg.max_put_size)
		s->cfg.max_put_size = 5ULL << 30;
	if (!s->cfg.min_part_size)
		s->cfg.min_part_size = 5ULL << 20;
	if (!s->cfg.inline_threshold)
		s->cfg.inline_threshold = 64 * 1024;
	s->meta = meta;
	s->data = data;
	s->lifecycle_day_ns = s->cfg.lifecycle_day_seconds
				      ? (int64_t)s->cfg.lifecycle_day_seconds * 1000000000LL
				      : 86400LL * 1000000000LL;
	if (s3_authz_new(s->cfg.access_key, &s->authz, s->account_id, s->account_canonical)) {
		free(s);
		return CN_EINTERNAL;
	}
	*out = s;
	return 0;
}

int s3_server_lifecycle_start(struct s3_server *s, int (*active)(void *ctx), void *ctx)
{
	return s3_lifecycle_start(s->meta, s->lifecycle_day_ns, active, ctx, &s->lifecycle);
}

void s3_server_lifecycle_stop(struct s3_server *s)
{
	s3_lifecycle_stop(s->lifecycle);
	s->lifecycle = NULL;
}

void s3_server_free(struct s3_server *s)
{
	if (s)
		s3_authz_free(s->authz);
	free(s);
}

void s3_server_set_bg(struct s3_server *s, struct gc *gc, struct scrub *scrub)
{
	s->gc = gc;
	s->scrub = scrub;
}

void s3_server_set_rebalance(struct s3_server *s, struct rebalance *r)
{
	s->rebalance = r;
}

void s3_server_set_ready(struct s3_server *s, int ready)
{
	s->ready = ready;
}

void s3_server_set_cluster(struct s3_server *s, struct cluster *c)
{
	s->cluster = c;
}

void s3_server_internal_handler(struct s3_server *s, struct http_handler *out)
{
	s3_server_handler(s, out);
	out->on_request = on_internal_request;
}

/* The HTTP layer's framing errors, answered as S3 errors too. */
static int framing_error(struct http_request *h, int err, const char **ctype, const char **body,
			 size_t *len, void *arg)
{
	const struct s3_error *e = s3_error_lookup(err);
	struct s3_error_doc d;
	struct cn_buf w;
	char id[17];
	(void)arg;

	request_id(h, id);
	memset(&d, 0, sizeof(d));
	d.request_id = id;
	cn_buf_init(&w);
	s3_error_xml(&w, e, &d);
	*body = w.err ? NULL : cn_pool_strndup(&h->pool, w.s, w.len);
	*len = *body ? w.len : 0;
	*ctype = *body ? "application/xml" : NULL;
	cn_buf_release(&w);
	return e->status;
}

void s3_server_handler(struct s3_server *s, struct http_handler *out)
{
	memset(out, 0, sizeof(*out));
	out->on_request = on_request;
	out->on_framing_error = framing_error;
	out->on_worker_start = worker_start;
	out->on_worker_stop = worker_stop;
	out->arg = s;
}
