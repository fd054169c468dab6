/*
 * main.c — wiring only: parse the command line, open the stores, start the
 * HTTP workers and the background workers, wait for SIGINT/SIGTERM, and shut
 * down in reverse order (stop accepting, finish in-flight requests, stop
 * background work, close metadata, close drives).
 *
 * Layout of the first data directory:
 *   DIR/.cairn-format        drive marker (data/)
 *   DIR/blobs/, DIR/tmp/     shard files (data/)
 *   DIR/.cairn/meta/         LMDB environment (meta/)
 *   DIR/.cairn/credentials   generated root credentials, mode 0600
 *   DIR/.cairn/master.key    SSE master key (core/crypt.h), mode 0600, unless
 *                            CAIRN_KMS_MASTER_KEY is set
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "bg/gc.h"
#include "bg/rebalance.h"
#include "bg/scrub.h"
#include "cluster/cluster.h"
#include "cluster/placement.h"
#include "cli/cli.h"
#include "core/clock.h"
#include "core/crypt.h"
#include "core/err.h"
#include "core/log.h"
#include "core/thread.h"
#include "data/data.h"
#include "http/http.h"
#include "http/relay.h"
#include "http/tls.h"
#include "meta/meta.h"
#include "s3/s3.h"

/* The build defines CAIRN_VERSION (git describe, see the Makefile); this is
 * the fallback outside a git checkout. */
#ifndef CAIRN_VERSION
#define CAIRN_VERSION ""
#endif
#define CAIRN_VERSION_FALLBACK "0.1"

#define MAX_DIRS 64
#define MAX_DOMAINS 8

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cairn server [options] DIR...\n"
		"  --listen ADDR:PORT        listen address (default 127.0.0.1:9000)\n"
		"  --workers N               HTTP worker loops (default: CPUs)\n"
		"  --domain NAME             virtual-host suffix (default: localhost); repeatable\n"
		"  --region NAME             region (default us-east-1)\n"
		"  --no-sigv2                refuse Signature Version 2 (legacy clients)\n"
		"  --allow-insecure-ssec     accept SSE-C keys over plain HTTP (tests, or behind\n"
		"                            a TLS proxy); the master key for SSE is\n"
		"                            CAIRN_KMS_MASTER_KEY or DIR/.cairn/master.key\n"
		"  --lifecycle-day-seconds N a lifecycle rule's \"day\" lasts N seconds (tests;\n"
		"                            default: a real day)\n"
		"  --inline-threshold BYTES  objects up to this size live in metadata (64 KiB;\n"
		"                            16 KiB in a cluster: they ride in the Raft log)\n"
		"  --block-size BYTES        erasure-coding block size (1 MiB)\n"
		"  --fsync always|never      data fsync policy (always; never is for benchmarks)\n"
		"  --max-object-size BYTES   (5 TiB)\n"
		"  --header-timeout-ms N     request line + headers deadline (15000)\n"
		"  --idle-timeout-ms N       keep-alive idle timeout (60000)\n"
		"  --body-timeout-ms N       body/response stall timeout (60000)\n"
		"  --gc-interval-ms N        GC pass interval (1000)\n"
		"  --gc-grace-ms N           minimum age of garbage before deletion (60000)\n"
		"  --max-connections N       open client connections at most (default: half\n"
		"                            the file limit, up to 10000); see docs/SECURITY.md\n"
		"  --quiet                   no access log\n"
		"  --log-format text|json    log and access-log lines as text (default) or one\n"
		"                            JSON object per line\n"
		"  --allow-degraded          serve even when a drive of the set is missing,\n"
		"                            swapped or foreign (it stays offline; logged\n"
		"                            at start and every --degraded-warn-s, 300)\n"
		"  --tls-cert FILE --tls-key FILE  serve HTTPS on --listen (PEM; the\n"
		"                            certificate file holds the chain, leaf first);\n"
		"                            SIGHUP re-reads both (docs/ARCHITECTURE.md, TLS)\n"
		"  --listen-plain ADDR:PORT  also serve plain HTTP there (with --tls-cert)\n"
		"  --tls-ca FILE             in cluster mode with --tls-cert, the cluster port\n"
		"                            speaks TLS too and peers' certificates must chain\n"
		"                            to this PEM bundle and name the peer's address\n"
		"                            (default: the --tls-cert file itself, which suits\n"
		"                            one self-signed certificate shared by all nodes);\n"
		"                            SIGHUP re-reads it too\n"
		"  --no-console              do not serve the web console (/_cairn/console/)\n"
		"  cluster mode (CAIRN_CLUSTER_SECRET, CAIRN_ROOT_USER/PASSWORD on every node):\n"
		"  --node ADDR:PORT          this node's cluster address (one of --peers)\n"
		"  --peers A:P,B:P,...       the first configuration (the same on every node)\n"
		"  --node-bind ADDR:PORT     listen there for the cluster (default: --node)\n"
		"  --join                    a new node: never bootstrap, wait for `cluster add`\n"
		"  --zone NAME               this node's zone in the cluster map (default: none)\n"
		"  --ec K+M                  erasure width of new blobs across nodes (default:\n"
		"                            2+1 on 3 nodes, 2+2 on 4, 4+2 on 6; see "
		"docs/ARCHITECTURE.md,\n"
		"                            Cluster mode)\n"
		"  --raft-heartbeat-ms N     (100)   --raft-election-ms N (1000)\n"
		"  --raft-snapshot-threshold N  entries between snapshots (1024)\n"
		"  --raft-snapshot-trailing N   entries kept after one (4 x threshold)\n"
		"  --raft-log-memory MIB     with neither set: snapshots as often as keeps\n"
		"                            the log's entries in memory within MIB (128)\n"
		"  --raft-store-commit-ms N  while only writes come, commit applied entries\n"
		"                            to the store every N ms, not every loop turn;\n"
		"                            reads make it commit at once (50; 0 = every turn)\n"
		"  --scrub-interval-s N      a scrub pass starts N s after the last one ended\n"
		"                            (86400; 0 = on demand only)\n"
		"  --scrub-rate BYTES        scrub read rate per second (16 MiB)\n"
		"  --rebuild-rate BYTES      replaced-drive rebuild: shard bytes written per\n"
		"                            second (256 MiB)\n"
		"       cairn admin [--endpoint URL] [--dir DIR] status|object B/K|scrub|heal|gc|\n"
		"                                          drive replace DIR [--force]|\n"
		"                                          backup DEST\n"
		"       cairn restore BACKUP --dir DIR... [--force]   (offline)\n"
		"       cairn --version | version\n");
}

static int bad_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "cairn: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	return 2;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static int mkdir_p(const char *dir)
{
	char buf[4096];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, dir, len + 1);
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != 0)
			continue;
		char save = *p;
		*p = 0;
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return -errno;
		*p = save;
		if (!save)
			break;
	}
	struct stat st;
	if (stat(dir, &st) != 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (access(dir, R_OK | W_OK | X_OK) != 0)
		return -errno;
	return 0;
}

static void random_token(char *out, size_t len, const char *alphabet)
{
	size_t n = strlen(alphabet);
	uint8_t b[64];

	if (getrandom(b, len, 0) != (ssize_t)len)
		abort();
	for (size_t i = 0; i < len; i++)
		out[i] = alphabet[b[i] % n];
	out[len] = 0;
}

/* Raises the soft file limit to the hard one (sockets, shard files and
 * LMDB share it) and returns the connection cap: the one asked for, else
 * half the file limit, at most 10000. */
static unsigned connection_cap(unsigned asked)
{
	struct rlimit rl;
	rlim_t files = 1024;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		if (rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max > (1u << 20) ? (1u << 20) : rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
			getrlimit(RLIMIT_NOFILE, &rl);
		}
		files = rl.rlim_cur;
	}
	if (asked)
		return asked;
	files /= 2;
	return files > 10000 ? 10000 : files < 64 ? 64 : (unsigned)files;
}

/* Holds HOST:PORT from before anything is written until the HTTP server has
 * bound it. A plain bind first fails on any live listener (as the server's
 * own probe does); then a bound, not listening socket with SO_REUSEADDR and
 * SO_REUSEPORT keeps other programs off the port while the server's sockets
 * (which set both) can still bind it. Port 0 picks a free port, written
 * back. Returns the fd or -errno. */
static int reserve_port(const char *host, int *port)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int one = 1, fd = -1, rc;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)*port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -EINVAL;
	/* The plain bind (port 0: the kernel's pick of a port nobody uses,
	 * which a SO_REUSEPORT bind might share with another of our sockets). */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
			     getsockname(fd, (struct sockaddr *)&sa, &sl) == 0
		     ? 0
		     : -errno;
	close(fd);
	if (rc)
		return rc;
	sl = sizeof(sa);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

/* A data directory that exists must be a directory we may use; one that
 * does not is created only by a first start (data/store.c). Reads only. */
static int check_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	return access(dir, R_OK | W_OK | X_OK) == 0 ? 0 : -errno;
}

/* Logs the degraded state of the drive set (start-up and every period). */
static void log_degraded(struct data_store *data)
{
	struct data_set_health h;

	data_store_health(data, &h);
	if (h.degraded)
		log_warn("DEGRADED: %d of %d drive%s online, %d set position%s without a drive "
			 "(%d problem%s at start; see `cairn admin status`)",
			 h.online, h.set_n ? h.set_n : h.drives,
			 (h.set_n ? h.set_n : h.drives) > 1 ? "s" : "", h.missing,
			 h.missing == 1 ? "" : "s", h.problems, h.problems == 1 ? "" : "s");
}

static int json_log; /* --log-format json: the banner goes through the log */

/* A start-up banner line: plain text on stdout, or a log line when every
 * line must be JSON. */
static void banner(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void banner(const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (json_log)
		log_info("%s", line);
	else
		printf("cairn: %s\n", line);
}

enum cred_source { CRED_ENV, CRED_FILE, CRED_GENERATED };

/* Root credentials: environment, else the stored file. CN_ENOTFOUND when
 * neither exists: generate_credentials makes them, once nothing else can
 * refuse the start. Reads only. */
static int load_credentials(const char *dir, char *user, size_t ucap, char *pass, size_t pcap,
			    enum cred_source *src)
{
	const char *eu = getenv("CAIRN_ROOT_USER"), *ep = getenv("CAIRN_ROOT_PASSWORD");
	char path[4096], buf[512];
	FILE *f;

	*src = CRED_ENV;
	if (eu && ep && *eu && *ep) {
		if (strlen(eu) >= ucap || strlen(ep) >= pcap || strlen(eu) < 3 || strlen(ep) < 8) {
			fprintf(stderr,
				"cairn: CAIRN_ROOT_USER must be 3-%zu chars and "
				"CAIRN_ROOT_PASSWORD 8-%zu chars\n",
				ucap - 1, pcap - 1);
			return -EINVAL;
		}
		strcpy(user, eu);
		strcpy(pass, ep);
		return 0;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/.cairn/credentials", dir) >= sizeof(path))
		return -ENAMETOOLONG;
	f = fopen(path, "r");
	if (f) {
		int ok = fgets(buf, sizeof(buf), f) != NULL;
		fclose(f);
		char *sp = ok ? strchr(buf, ' ') : NULL;
		if (sp) {
			*sp = 0;
			char *nl = strchr(sp + 1, '\n');
			if (nl)
				*nl = 0;
			if (strlen(buf) < ucap && strlen(sp + 1) < pcap && *buf && sp[1]) {
				strcpy(user, buf);
				strcpy(pass, sp + 1);
				explicit_bzero(buf, sizeof(buf));
				*src = CRED_FILE;
				return 0;
			}
		}
		fprintf(stderr, "cairn: %s is malformed\n", path);
		return -EINVAL;
	}
	if (errno != ENOENT) {
		/* Unreadable is not absent: never replace the keys clients hold. */
		int e = -errno;
		fprintf(stderr, "cairn: cannot read %s: %s\n", path, strerror(-e));
		return e;
	}
	return CN_ENOTFOUND;
}

/* Generated root credentials, stored 0600 in DIR/.cairn/credentials
 * (written to a temporary name, fsynced, renamed). */
static int generate_credentials(const char *dir, char *user, char *pass, enum cred_source *src)
{
	char path[4096], tmp[4200], buf[512];
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/.cairn/credentials", dir) >= sizeof(path))
		return -ENAMETOOLONG;
	random_token(user, 20, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
	random_token(pass, 40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int n = snprintf(buf, sizeof(buf), "%s %s\n", user, pass);
	if (write(fd, buf, (size_t)n) != n || fsync(fd) != 0) {
		int e = -errno;
		close(fd);
		unlink(tmp);
		return e ? e : -EIO;
	}
	close(fd);
	explicit_bzero(buf, sizeof(buf));
	if (rename(tmp, path) != 0)
		return -errno;
	*src = CRED_GENERATED;
	return 0;
}

/* Cluster start-up: once the node can serve linearizable requests, reclaim
 * what its previous life left unfinished, register the node and its drives
 * in the cluster map, then open for S3. Registration is tried once before
 * S3 opens (so a serving node is normally in the map) but never keeps it
 * closed: a failure is logged and retried every second until it succeeds. */
struct startup {
	struct cluster *cluster;
	struct meta_store *meta;
	struct data_store *data;
	struct s3_server *s3;
	struct scrub *scrub;
	const char *zone;
	pthread_t thread;
	_Atomic int stop;
};

/* One registration attempt; 1 when there is nothing more to do. */
static int startup_register(struct startup *st, int *logged)
{
	int rc = cluster_map_register(st->cluster, st->meta, st->data, st->zone);

	if (rc == CN_EREMOVED) {
		log_warn("cluster: this node is removed from the cluster map; not registering");
		return 1;
	}
	if (rc && !(*logged)++)
		log_warn("cluster: registration in the cluster map: %s (retrying)",
			 cn_strerror(rc));
	return rc == 0;
}

/* The rebalancer's view of the cluster: leadership and placement. */
struct rb_glue {
	struct cluster_remote *remote;
	struct cluster_placer *placer;
};

/* Does this node apply lifecycle rules? One node: yes; a cluster: its
 * leader, once it serves. */
static int lc_active(void *ctx)
{
	struct cluster_status st;

	if (!ctx)
		return 1;
	cluster_status(ctx, &st);
	return st.role == CLUSTER_LEADER && st.ready;
}

static int cluster_is_ready(void *ctx)
{
	return cluster_ready(ctx);
}

static int rb_active(void *ctx)
{
	return cluster_gc_active(((struct rb_glue *)ctx)->remote);
}

static int rb_target(void *ctx, const uint8_t blob_id[16], uint8_t k, uint8_t m,
		     uint8_t (*drive)[16], uint64_t *epoch)
{
	return cluster_placer_target(((struct rb_glue *)ctx)->placer, blob_id, k, m, drive, epoch);
}

/* How often a node that is not serving yet logs why. */
#define STARTUP_SAY_NS (10LL * 1000 * 1000 * 1000)

static void *startup_main(void *arg)
{
	struct startup *st = arg;
	int logged = 0, reg_logged = 0, registered = 0;
	int64_t t0 = cn_mono_ns(), say_ns = t0 + STARTUP_SAY_NS;

	cn_thread_name("startup");

	uint32_t t = cluster_blob_tag(st->cluster);
	const uint8_t tag[4] = {(uint8_t)(t >> 24), (uint8_t)(t >> 16), (uint8_t)(t >> 8),
				(uint8_t)t};

	while (!atomic_load(&st->stop)) {
		int ready = cluster_ready(st->cluster);
		int rc = ready ? gc_reclaim_local_intents(st->meta, st->data, tag) : CN_ENOLEADER;
		if (rc < 0 && cn_mono_ns() >= say_ns) {
			/* a node that stays out says why, now and then */
			struct cluster_status cs;
			cluster_status(st->cluster, &cs);
			log_info("cluster: not serving S3 yet after %llds: %s (applied %llu of "
				 "commit %llu, leader %s)",
				 (long long)((cn_mono_ns() - t0) / 1000000000LL),
				 ready ? cn_strerror(rc) : "not caught up with a leader",
				 (unsigned long long)cs.applied, (unsigned long long)cs.commit,
				 cs.leader_address[0] ? cs.leader_address : "unknown");
			say_ns = cn_mono_ns() + STARTUP_SAY_NS;
		}
		if (rc >= 0) {
			registered = startup_register(st, &reg_logged);
			s3_server_set_ready(st->s3, 1);
			log_info("cluster: serving S3");
			/* caught up: the backfill of what this node missed starts now */
			scrub_heal_now(st->scrub);
			break;
		}
		if (rc != CN_ENOLEADER && rc != CN_ENOTLEADER && !logged++)
			log_warn("cluster: start-up reclaim: %s (retrying)", cn_strerror(rc));
		usleep(100 * 1000);
	}
	while (!registered && !atomic_load(&st->stop)) {
		for (int i = 0; i < 10 && !atomic_load(&st->stop); i++)
			usleep(100 * 1000);
		if (!atomic_load(&st->stop))
			registered = startup_register(st, &reg_logged);
	}
	return NULL;
}

static int cmd_server(int argc, char **argv)
{
	static const struct option opts[] = {
		{"listen", required_argument, 0, 'l'},
		{"workers", required_argument, 0, 'w'},
		{"domain", required_argument, 0, 'd'},
		{"region", required_argument, 0, 'r'},
		{"inline-threshold", required_argument, 0, 'i'},
		{"block-size", required_argument, 0, 'b'},
		{"fsync", required_argument, 0, 'f'},
		{"max-object-size", required_argument, 0, 'm'},
		{"header-timeout-ms", required_argument, 0, 'H'},
		{"idle-timeout-ms", required_argument, 0, 'I'},
		{"body-timeout-ms", required_argument, 0, 'B'},
		{"gc-interval-ms", required_argument, 0, 'g'},
		{"gc-grace-ms", required_argument, 0, 'G'},
		{"scrub-interval-s", required_argument, 0, 'S'},
		{"scrub-rate", required_argument, 0, 'R'},
		{"rebuild-rate", required_argument, 0, 1005},
		{"max-connections", required_argument, 0, 'C'},
		{"node", required_argument, 0, 'N'},
		{"node-bind", required_argument, 0, 'n'},
		{"peers", required_argument, 0, 'P'},
		{"join", no_argument, 0, 'J'},
		{"zone", required_argument, 0, 1006},
		{"ec", required_argument, 0, 1007},
		{"raft-heartbeat-ms", required_argument, 0, 1001},
		{"raft-election-ms", required_argument, 0, 1002},
		{"raft-snapshot-threshold", required_argument, 0, 1003},
		{"raft-snapshot-trailing", required_argument, 0, 1004},
		{"raft-store-commit-ms", required_argument, 0, 1014},
		{"raft-log-memory", required_argument, 0, 1041},
		{"no-sigv2", no_argument, 0, 1008},
		{"allow-insecure-ssec", no_argument, 0, 1020},
		{"lifecycle-day-seconds", required_argument, 0, 1009},
		{"tls-cert", required_argument, 0, 1010},
		{"tls-key", required_argument, 0, 1011},
		{"listen-plain", required_argument, 0, 1012},
		{"tls-ca", required_argument, 0, 1013},
		{"quiet", no_argument, 0, 'q'},
		{"allow-degraded", no_argument, 0, 1030},
		{"no-console", no_argument, 0, 1040},
		{"log-format", required_argument, 0, 1032},
		{"degraded-warn-s", required_argument, 0, 1031},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	struct http_options hopt;
	struct s3_config cfg;
	struct data_options dopt;
	struct gc_options gopt;
	const char *domains[MAX_DOMAINS];
	int n_domains = 0;
	char host[256] = "127.0.0.1";
	char user[129], pass[129], metadir[4200];
	struct data_store *data = NULL;
	struct meta_store *meta = NULL;
	struct s3_server *s3 = NULL;
	struct http_server *http = NULL;
	struct http_handler handler;
	struct gc *gc = NULL;
	struct scrub_options sopt;
	struct scrub *scrub = NULL;
	/* cluster mode */
	struct cluster_options copt;
	struct cluster *cluster = NULL;
	struct cluster_remote *remote = NULL;
	struct http_server *ihttp = NULL;
	struct http_options iopt;
	struct http_handler ihandler;
	const char *node_bind = NULL, *peers_arg = NULL, *zone = "";
	uint8_t ec_k = 0, ec_m = 0;
	struct gc_peers gc_peers = {0};
	struct rb_glue rb_glue = {0};
	struct rebalance *rebalance = NULL;
	char rb_cursor[4200];
	struct cluster_placer *placer = NULL;
	char *peers_buf = NULL;
	const char *peers[CLUSTER_MAX_NODES];
	char raftdir[4200], ihost[256];
	static struct startup startup;
	int startup_started = 0;
	enum cred_source cred_src;
	int key_src = 0;
	char key_fp[CN_FP_LEN + 1];
	int cred_rc, allow_degraded = 0, listen_fd = -1, plain_fd = -1, node_fd = -1, node_port = 0;
	unsigned degraded_warn_s = 300;
	const char *tls_cert = NULL, *tls_key = NULL;
	char plain_host[256] = "";
	struct tls_server *tls = NULL;
	const char *tls_ca = NULL;
	struct tls_client *itls = NULL; /* the cluster's internal connections */
	int c, rc, ret = 1;
	uint64_t v;
	sigset_t sigs;

	/* Every request's pool blocks are freed when it ends. With glibc's
	 * default trim threshold the loop threads' arenas gave that memory back
	 * (madvise) and faulted it in again on the next request: 6% of server
	 * CPU in a 4 KiB PUT profile, +14% PUT/s once kept (bench/RESULTS.md).
	 * 4 MiB of free top per arena stays bounded (arenas <= 8 per core).
	 * Setting any threshold turns off glibc's sliding mmap threshold, so
	 * it is set too: at its 128 KiB default every block and piece buffer
	 * of a large GET (0.5-1.5 MiB) was a fresh mmap, faulted in page by
	 * page and unmapped after use, and a 3-node 1 MiB GET ran at a fifth
	 * of its speed. Below 4 MiB they come from the arenas and are reused. */
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
	mallopt(M_TRIM_THRESHOLD, 4 << 20);
	http_options_default(&hopt);
	memset(&cfg, 0, sizeof(cfg));
	memset(&dopt, 0, sizeof(dopt));
	memset(&gopt, 0, sizeof(gopt));
	memset(&sopt, 0, sizeof(sopt));
	dopt.reserve_auto = 1;	 /* room for deletes on a full disk (data.h) */
	sopt.interval_s = 86400; /* every shard re-read about daily, gently (scrub.h) */
	memset(&copt, 0, sizeof(copt));
	copt.store_commit_ms = 50;
	gopt.grace_ns = -1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'l': {
			const char *colon = strrchr(optarg, ':');
			if (!colon || colon == optarg || (size_t)(colon - optarg) >= sizeof(host) ||
			    parse_u64(colon + 1, &v) || v > 65535)
				return bad_usage("--listen wants ADDR:PORT, got '%s'", optarg);
			memcpy(host, optarg, (size_t)(colon - optarg));
			host[colon - optarg] = 0;
			hopt.port = (int)v;
			break;
		}
		case 'w':
			if (parse_u64(optarg, &v) || v < 1 || v > 256)
				return bad_usage("--workers wants 1..256, got '%s'", optarg);
			hopt.workers = (int)v;
			break;
		case 'd':
			if (n_domains == MAX_DOMAINS)
				return bad_usage("too many --domain values (%s)", optarg);
			domains[n_domains++] = optarg;
			break;
		case 'r': cfg.region = optarg; break;
		case 1008: cfg.no_sigv2 = 1; break;
		case 1020: cfg.allow_insecure_ssec = 1; break;
		case 1009:
			if (parse_u64(optarg, &v) || v < 1 || v > 86400)
				return bad_usage("--lifecycle-day-seconds wants 1..86400, got '%s'",
						 optarg);
			cfg.lifecycle_day_seconds = (uint32_t)v;
			break;
		case 'i':
			if (parse_u64(optarg, &v) || v > META_INLINE_MAX)
				return bad_usage("--inline-threshold wants 0..1048576, got '%s'",
						 optarg);
			cfg.inline_threshold = (uint32_t)(v ? v : 1);
			break;
		case 'b':
			if (parse_u64(optarg, &v) || v < 4096 || v > DATA_BLOCK_MAX)
				return bad_usage("--block-size wants 4096..64 MiB, got '%s'",
						 optarg);
			dopt.block_size = (uint32_t)v;
			break;
		case 'f':
			if (strcmp(optarg, "always") == 0)
				dopt.fsync = DATA_FSYNC_ALWAYS;
			else if (strcmp(optarg, "never") == 0)
				dopt.fsync = DATA_FSYNC_NEVER;
			else
				return bad_usage("--fsync wants always|never, got '%s'", optarg);
			break;
		case 'm':
			if (parse_u64(optarg, &v) || v == 0)
				return bad_usage("--max-object-size wants a byte count, got '%s'",
						 optarg);
			cfg.max_object_size = v;
			break;
		case 'H':
		case 'I':
		case 'B':
		case 'g':
		case 'G':
			if (parse_u64(optarg, &v) || v > 86400000 || (c != 'G' && v == 0))
				return bad_usage("bad millisecond value '%s'", optarg);
			if (c == 'H')
				hopt.header_timeout_ms = (unsigned)v;
			else if (c == 'I')
				hopt.idle_timeout_ms = (unsigned)v;
			else if (c == 'B')
				hopt.body_timeout_ms = (unsigned)v;
			else if (c == 'g')
				gopt.interval_ms = (unsigned)v;
			else
				gopt.grace_ns = (int64_t)v * 1000000LL;
			break;
		case 'S':
			if (parse_u64(optarg, &v) || v > 86400 * 365)
				return bad_usage("--scrub-interval-s wants seconds, got '%s'",
						 optarg);
			sopt.interval_s = (unsigned)v;
			break;
		case 'R':
			if (parse_u64(optarg, &v) || v == 0)
				return bad_usage("--scrub-rate wants bytes per second, got '%s'",
						 optarg);
			sopt.bytes_per_sec = v;
			break;
		case 1005:
			if (parse_u64(optarg, &v) || v == 0)
				return bad_usage("--rebuild-rate wants bytes per second, got '%s'",
						 optarg);
			sopt.rebuild_bytes_per_sec = v;
			break;
		case 'C':
			if (parse_u64(optarg, &v) || v < 1 || v > 1000000)
				return bad_usage("--max-connections wants 1..1000000, got '%s'",
						 optarg);
			hopt.max_connections = (unsigned)v;
			break;
		case 'N': copt.node = optarg; break;
		case 'n': node_bind = optarg; break;
		case 'P': peers_arg = optarg; break;
		case 'J': copt.join = 1; break;
		case 1006:
			/* printable and unquoted: the map stores it, the status shows it */
			if (strlen(optarg) > META_ZONE_MAX ||
			    strspn(optarg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					   "0123456789._-") != strlen(optarg))
				return bad_usage(
					"--zone wants up to 63 of [A-Za-z0-9._-], got '%s'",
					optarg);
			zone = optarg;
			break;
		case 1007: {
			const char *why;
			/* the node count is checked when the layout is computed */
			if (placement_ec_parse(optarg, DATA_MAX_SHARDS, &ec_k, &ec_m, &why))
				return bad_usage("--ec: %s", why);
			break;
		}
		case 1001:
		case 1002:
		case 1003:
		case 1004:
			if (parse_u64(optarg, &v) || v == 0 || v > 10000000)
				return bad_usage("bad Raft setting '%s'", optarg);
			if (c == 1001)
				copt.heartbeat_ms = (unsigned)v;
			else if (c == 1002)
				copt.election_ms = (unsigned)v;
			else if (c == 1003)
				copt.snapshot_threshold = (unsigned)v;
			else
				copt.snapshot_trailing = (unsigned)v;
			break;
		case 1014:
			if (parse_u64(optarg, &v) || v > 10000)
				return bad_usage(
					"--raft-store-commit-ms wants 0 to 10000, got '%s'",
					optarg);
			copt.store_commit_ms = (unsigned)v;
			break;
		case 1041:
			if (parse_u64(optarg, &v) || v < 1 || v > 65536)
				return bad_usage(
					"--raft-log-memory wants 1 to 65536 (MiB), got '%s'",
					optarg);
			copt.log_memory_mib = (unsigned)v;
			break;
		case 1010: tls_cert = optarg; break;
		case 1011: tls_key = optarg; break;
		case 1013: tls_ca = optarg; break;
		case 1012: {
			const char *colon = strrchr(optarg, ':');
			if (!colon || colon == optarg ||
			    (size_t)(colon - optarg) >= sizeof(plain_host) ||
			    parse_u64(colon + 1, &v) || v > 65535)
				return bad_usage("--listen-plain wants ADDR:PORT, got '%s'",
						 optarg);
			memcpy(plain_host, optarg, (size_t)(colon - optarg));
			plain_host[colon - optarg] = 0;
			hopt.plain_port = (int)v;
			break;
		}
		case 'q': cn_log_set_access(0); break;
		case 1030: allow_degraded = 1; break;
		case 1040: cfg.no_console = 1; break;
		case 1032:
			if (strcmp(optarg, "json") == 0) {
				cn_log_set_format(CN_LOG_JSON);
				json_log = 1;
			} else if (strcmp(optarg, "text") == 0)
				cn_log_set_format(CN_LOG_TEXT);
			else
				return bad_usage("--log-format wants text|json, got '%s'", optarg);
			break;
		case 1031:
			if (parse_u64(optarg, &v) || v == 0 || v > 86400)
				return bad_usage("--degraded-warn-s wants 1..86400, got '%s'",
						 optarg);
			degraded_warn_s = (unsigned)v;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (argc - optind > MAX_DIRS)
		return bad_usage("at most 64 data directories (%s...)", argv[optind]);
	if (ec_k && !peers_arg && !copt.node && !copt.join)
		return bad_usage("%s", "--ec is for cluster mode (--node, --peers); one node "
				       "chooses from its own drives");
	if (zone[0] && !peers_arg && !copt.node && !copt.join)
		return bad_usage("--zone is for cluster mode (--node, --peers), got '%s'", zone);
	if (peers_arg || copt.node || copt.join) {
		/* Cluster mode: every node gets the same --peers and environment. */
		struct sockaddr_in sa;
		const char *secret = getenv("CAIRN_CLUSTER_SECRET");
		if (!peers_arg || !copt.node)
			return bad_usage("cluster mode needs --node and --peers (%s)",
					 copt.node ? copt.node : "no --node");
		if (!secret || strlen(secret) < 16)
			return bad_usage("%s",
					 "cluster mode needs CAIRN_CLUSTER_SECRET (16+ chars)");
		if (!getenv("CAIRN_ROOT_USER") || !getenv("CAIRN_ROOT_PASSWORD"))
			return bad_usage("%s", "cluster mode needs CAIRN_ROOT_USER and "
					       "CAIRN_ROOT_PASSWORD (the same on every node)");
		if (cluster_addr_parse(copt.node, &sa) ||
		    (node_bind && cluster_addr_parse(node_bind, &sa)))
			return bad_usage("--node/--node-bind want IPv4:PORT, got '%s'", copt.node);
		peers_buf = strdup(peers_arg);
		if (!peers_buf)
			return 1;
		for (char *tok = strtok(peers_buf, ","); tok; tok = strtok(NULL, ",")) {
			if (copt.n_peers == CLUSTER_MAX_NODES || cluster_addr_parse(tok, &sa)) {
				free(peers_buf);
				return bad_usage("--peers wants up to 16 IPv4:PORT, got '%s'",
						 peers_arg);
			}
			peers[copt.n_peers++] = tok;
		}
		copt.peers = peers;
		copt.secret = secret;
		copt.secret_len = strlen(secret);
	}
	if (!tls_cert != !tls_key)
		return bad_usage("%s", "--tls-cert and --tls-key go together");
	if (plain_host[0] && !tls_cert)
		return bad_usage("--listen-plain %s is for beside --tls-cert (--listen is plain "
				 "HTTP already)",
				 plain_host);
	if (tls_cert) {
		/* Before anything touches a drive: a bad certificate is a clean
		 * start-up error. */
		char why[512];
		rc = tls_server_new(tls_cert, tls_key, why, sizeof(why), &tls);
		if (rc) {
			fprintf(stderr, "cairn: TLS: %s\n", why);
			return 2;
		}
		hopt.tls = tls;
		hopt.plain_host = plain_host[0] ? plain_host : NULL;
		/* Cluster mode: the internal API is TLS as well, both ways. */
		if (copt.node &&
		    tls_client_new(tls_ca ? tls_ca : tls_cert, why, sizeof(why), &itls) != 0) {
			fprintf(stderr, "cairn: TLS (--tls-ca): %s\n", why);
			tls_server_free(tls);
			return 2;
		}
		copt.tls = itls;
	} else if (tls_ca) {
		return bad_usage("%s", "--tls-ca is for beside --tls-cert (cluster mode)");
	}
	/* Nothing is written anywhere until the ports are held and every check
	 * passed: a start that fails leaves the directories as they were. */
	for (int i = optind; i < argc; i++) {
		rc = check_dir(argv[i]);
		if (rc) {
			fprintf(stderr, "cairn: data directory %s: %s\n", argv[i], cn_strerror(rc));
			free(peers_buf);
			tls_server_free(tls);
			tls_client_free(itls);
			return 2;
		}
	}
	/* Block before any thread exists (every thread inherits the mask): a
	 * SIGTERM during start-up or shutdown then waits for sigwait instead of
	 * killing the process half-way. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP); /* TLS certificate reload */
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Everything under a data directory is the server's alone; the modes
	 * given to open/mkdir say so too, this catches any that do not. */
	umask(077);
	hopt.max_connections = connection_cap(hopt.max_connections);
	hopt.host = host;
	if (n_domains == 0)
		domains[n_domains++] = "localhost";
	cfg.domains = domains;
	cfg.n_domains = n_domains;
	/* Disk work runs on libuv's pool; the default 4 threads are too few for
	 * many concurrent streams. Must be set before the pool starts. */
	setenv("UV_THREADPOOL_SIZE", "32", 0);
	rc = cn_thread_pool_start();
	if (rc) {
		fprintf(stderr, "cairn: cannot start the thread pool: %s\n", uv_strerror(rc));
		ret = 1;
		goto out;
	}

	listen_fd = reserve_port(host, &hopt.port);
	if (listen_fd < 0) {
		fprintf(stderr, "cairn: cannot listen on %s:%d: %s\n", host, hopt.port,
			cn_strerror(listen_fd));
		ret = 2;
		goto out;
	}
	if (hopt.plain_host) {
		plain_fd = reserve_port(hopt.plain_host, &hopt.plain_port);
		if (plain_fd < 0) {
			fprintf(stderr, "cairn: cannot listen on %s:%d: %s\n", hopt.plain_host,
				hopt.plain_port, cn_strerror(plain_fd));
			ret = 2;
			goto out;
		}
	}
	if (copt.node) {
		const char *ia = node_bind ? node_bind : copt.node;
		const char *colon = strrchr(ia, ':');
		snprintf(ihost, sizeof(ihost), "%.*s", (int)(colon - ia), ia);
		node_port = atoi(colon + 1);
		node_fd = reserve_port(ihost, &node_port);
		if (node_fd < 0) {
			fprintf(stderr, "cairn: cannot listen on %s for the cluster: %s\n", ia,
				cn_strerror(node_fd));
			ret = 2;
			goto out;
		}
	}
	cred_rc = load_credentials(argv[optind], user, sizeof(user), pass, sizeof(pass), &cred_src);
	if (cred_rc && cred_rc != CN_ENOTFOUND) {
		fprintf(stderr, "cairn: credentials: %s\n", cn_strerror(cred_rc));
		ret = 2;
		goto out;
	}

	/* An empty directory where the recorded drive set misses a drive is
	 * adopted and rebuilt (data/store.c says when it is not); the first
	 * directory never is: the metadata lived there. */
	dopt.format_new = 1;
	dopt.keep_first = 1;
	dopt.set_check = allow_degraded ? DATA_SET_DEGRADED : DATA_SET_STRICT;
	rc = data_store_open((const char *const *)&argv[optind], argc - optind, &dopt, &data);
	if (rc) {
		fprintf(stderr, "cairn: cannot open drives: %s\n", cn_strerror(rc));
		ret = 2;
		goto out;
	}
	snprintf(metadir, sizeof(metadir), "%s/.cairn/meta", argv[optind]);
	rc = mkdir_p(metadir);
	if (rc == 0) {
		/* Older stores made .cairn 0755; it holds the credentials and
		 * the metadata (bucket and key names). */
		char cdir[4200];
		snprintf(cdir, sizeof(cdir), "%s/.cairn", argv[optind]);
		if (chmod(cdir, 0700) != 0 || chmod(metadir, 0700) != 0)
			rc = -errno;
	}
	if (rc) {
		fprintf(stderr, "cairn: %s: %s\n", metadir, cn_strerror(rc));
		ret = 2;
		goto out;
	}
	if (cred_rc == CN_ENOTFOUND) {
		rc = generate_credentials(argv[optind], user, pass, &cred_src);
		if (rc) {
			fprintf(stderr, "cairn: credentials: %s\n", cn_strerror(rc));
			ret = 2;
			goto out;
		}
	}
	rc = cn_master_key_load(argv[optind], cfg.master_key, &key_src);
	if (rc) {
		fprintf(stderr, "cairn: master key: %s\n", cn_strerror(rc));
		ret = 2;
		goto out;
	}
	if (cred_src == CRED_ENV)
		log_info("credentials: root access key %s from the environment "
			 "(CAIRN_ROOT_USER, CAIRN_ROOT_PASSWORD)",
			 user);
	else
		log_info("credentials: root access key %s %s %s/.cairn/credentials", user,
			 cred_src == CRED_FILE ? "from the file" : "generated now, stored in",
			 argv[optind]);
	{
		struct meta_options mopt;
		memset(&mopt, 0, sizeof(mopt));
		if (copt.node) {
			/* Inline objects are copied into Raft entries, and libraft
			 * keeps up to threshold + trailing entries in memory:
			 * 16 KiB x (1024 + 4096) bounds that near 80 MiB. */
			if (!cfg.inline_threshold)
				cfg.inline_threshold = 16 * 1024;
			mopt.replicated = 1;
			mopt.layout_drives = blob_layout_drives;
			/* ids carry 16 bits of the node (the leader makes version ids) */
			mopt.node_id = (uint16_t)XXH32(copt.node, strlen(copt.node), 0);
		}
		mopt.ballast = 1; /* room for deletes on a full disk (meta.h) */
		rc = meta_store_open(metadir, &mopt, &meta);
	}
	if (rc) {
		fprintf(stderr, "cairn: cannot open metadata in %s: %s\n", metadir,
			cn_strerror(rc));
		ret = 2;
		goto out;
	}
	cfg.access_key = user;
	cfg.secret_key = pass;
	rc = s3_server_new(&cfg, meta, data, &s3);
	if (rc)
		goto out;
	if (copt.node) {
		const char *ia = node_bind ? node_bind : copt.node;
		snprintf(raftdir, sizeof(raftdir), "%s/.cairn/raft", argv[optind]);
		copt.dir = raftdir;
		rc = cluster_open(&copt, meta, &cluster);
		if (rc) {
			fprintf(stderr, "cairn: cluster: %s\n", cn_strerror(rc));
			ret = 2;
			goto out;
		}
		s3_server_set_cluster(s3, cluster);
		rc = cluster_remote_new(cluster, &remote);
		if (rc)
			goto out;
		rc = cluster_placer_new(meta, ec_k, ec_m, &placer);
		if (rc)
			goto out;
		{
			/* shards on other nodes' drives are read and written there */
			struct data_remote dr = {.pread = cluster_remote_pread,
						 .wopen = cluster_shard_wopen,
						 .wput = cluster_shard_wput,
						 .wseal = cluster_shard_wseal,
						 .wwait = cluster_shard_wwait,
						 .wfd = cluster_shard_wfd,
						 .wfree = cluster_shard_wfree,
						 .rstart = cluster_remote_rstart,
						 .rfinish = cluster_remote_rfinish,
						 .rfree = cluster_remote_rfree,
						 .meta_full = cluster_remote_meta_full,
						 .ctx = remote};
			struct data_placer dp = {.place = cluster_placer_place, .ctx = placer};
			cluster_remote_set_meta(remote, meta);
			data_store_set_remote(data, &dr);
			data_store_set_placer(data, &dp);
		}
		/* The internal API (Raft included) on the cluster address. */
		http_options_default(&iopt);
		iopt.host = ihost;
		iopt.port = node_port;
		iopt.workers = 1;
		iopt.max_connections = hopt.max_connections;
		iopt.tls = tls; /* the same certificate (and SIGHUP reload) */
		s3_server_internal_handler(s3, &ihandler);
		rc = http_server_start(&iopt, &ihandler, &ihttp);
		if (rc) {
			fprintf(stderr, "cairn: cannot listen on %s for the cluster: %s\n", ia,
				cn_strerror(rc));
			ret = 2;
			goto out;
		}
		if (itls)
			log_info("cluster: internal traffic over TLS, peers verified against %s",
				 tls_ca ? tls_ca : tls_cert);
		close(node_fd); /* the server's sockets hold the port now */
		node_fd = -1;
		/* The leader collects, on every node. */
		gc_peers.active = cluster_gc_active;
		gc_peers.remove = cluster_gc_remove;
		gc_peers.ctx = remote;
		gopt.peers = &gc_peers;
	}
	rc = gc_start(meta, data, &gopt, &gc);
	if (rc)
		goto out;
	if (cluster) {
		sopt.ready = cluster_is_ready;
		sopt.ready_ctx = cluster;
	}
	rc = scrub_start(meta, data, &sopt, &scrub);
	if (rc)
		goto out;
	if (cluster) {
		struct rebalance_hooks rh = {rb_active, rb_target, &rb_glue};
		struct rebalance_options ro = {.bytes_per_sec = sopt.rebuild_bytes_per_sec,
					       .cursor_path = rb_cursor};
		rb_glue.remote = remote;
		rb_glue.placer = placer;
		snprintf(rb_cursor, sizeof(rb_cursor), "%s/rebalance.cursor", cluster_dir(cluster));
		rc = rebalance_start(meta, data, &rh, &ro, &rebalance);
		if (rc)
			goto out;
		s3_server_set_rebalance(s3, rebalance);
	}
	/* lifecycle rules: one node applies them (the leader, in a cluster) */
	rc = s3_server_lifecycle_start(s3, lc_active, cluster);
	if (rc)
		goto out;
	s3_server_set_bg(s3, gc, scrub);
	s3_server_handler(s3, &handler);
	rc = http_server_start(&hopt, &handler, &http);
	if (rc) {
		fprintf(stderr, "cairn: cannot listen on %s:%d: %s\n", host, hopt.port,
			cn_strerror(rc));
		ret = 2;
		goto out;
	}
	close(listen_fd);
	listen_fd = -1;
	if (plain_fd >= 0)
		close(plain_fd);
	plain_fd = -1;
	if (cluster) {
		startup.cluster = cluster;
		startup.meta = meta;
		startup.data = data;
		startup.s3 = s3;
		startup.scrub = scrub;
		startup.zone = zone;
		rc = pthread_create(&startup.thread, NULL, startup_main, &startup);
		if (rc) {
			rc = -rc;
			goto out;
		}
		startup_started = 1;
	} else {
		s3_server_set_ready(s3, 1);
	}
	if (tls) {
		banner("S3 endpoint https://%s:%d (TLS)", host, http_server_port(http));
		if (hopt.plain_host)
			banner("plain-HTTP endpoint http://%s:%d", hopt.plain_host,
			       http_server_plain_port(http));
	} else {
		banner("S3 endpoint http://%s:%d", host, http_server_port(http));
	}
	{
		struct data_set_health dh;
		data_store_health(data, &dh);
		int n = dh.set_n ? dh.set_n : dh.drives;
		if (dh.degraded)
			banner("region %s, data %s (DEGRADED: %d of %d drive%s online)",
			       cfg.region ? cfg.region : "us-east-1", argv[optind], dh.online, n,
			       n > 1 ? "s" : "");
		else
			banner("region %s, data %s (%d drive%s)",
			       cfg.region ? cfg.region : "us-east-1", argv[optind], n,
			       n > 1 ? "s" : "");
	}
	banner("access key %s", user);
	/* The secret is shown once, when it is made; after that it lives in the
	 * environment or in a 0600 file, never in logs that outlive it. */
	if (cred_src == CRED_GENERATED)
		/* stdout, never the log: this once, for the person starting it */
		printf("cairn: secret key %s   (generated now; stored in %s/.cairn/credentials, "
		       "shown only this once)\n",
		       pass, argv[optind]);
	else if (cred_src == CRED_ENV)
		banner("secret key from CAIRN_ROOT_PASSWORD (not shown)");
	else
		banner("secret key in %s/.cairn/credentials (not shown)", argv[optind]);
	/* Losing the master key loses every encrypted object: say where it is. */
	cn_key_fingerprint(cfg.master_key, key_fp);
	banner("SSE master key %s (%s)", key_fp,
	       key_src == 0   ? "from CAIRN_KMS_MASTER_KEY"
	       : key_src == 1 ? "in DIR/.cairn/master.key"
			      : "generated now in DIR/.cairn/master.key: back it up");
	fflush(stdout);

	log_degraded(data);
	int sig;
	for (;;) {
		struct timespec to = {.tv_sec = degraded_warn_s};
		char why[512];
		sig = sigtimedwait(&sigs, NULL, &to);
		if (sig < 0) {
			log_degraded(data); /* EAGAIN: a period passed (EINTR: harmless) */
			continue;
		}
		if (sig != SIGHUP)
			break;
		if (!tls)
			log_info("received SIGHUP: nothing to reload (no --tls-cert)");
		else if (tls_server_reload(tls, why, sizeof(why)) == 0)
			log_info("received SIGHUP: TLS certificate reloaded from %s", tls_cert);
		else
			log_error("received SIGHUP: TLS reload failed, keeping the old "
				  "certificate: %s",
				  why);
		/* The bundle too: a self-signed certificate is its own (default) CA. */
		if (itls && tls_client_reload(itls, why, sizeof(why)) == 0)
			log_info("received SIGHUP: cluster CA bundle reloaded from %s",
				 tls_ca ? tls_ca : tls_cert);
		else if (itls)
			log_error("received SIGHUP: cluster CA bundle reload failed, keeping the "
				  "old one: %s",
				  why);
	}
	log_info("received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
	if (startup_started) {
		atomic_store(&startup.stop, 1);
		pthread_join(startup.thread, NULL);
		startup_started = 0;
	}
	s3_server_set_ready(s3, 0);
	http_server_stop(http);
	if (ihttp)
		http_server_stop(ihttp);
	ret = 0;
out:
	if (listen_fd >= 0)
		close(listen_fd);
	if (plain_fd >= 0)
		close(plain_fd);
	if (node_fd >= 0)
		close(node_fd);
	if (startup_started) {
		atomic_store(&startup.stop, 1);
		pthread_join(startup.thread, NULL);
	}
	if (http)
		http_server_free(http);
	/* (again, for a start that failed: idempotent) before the workers go:
	 * its status answers read the rebalance worker; and nothing reads
	 * shards for others now */
	if (ihttp)
		http_server_stop(ihttp);
	if (s3)
		s3_server_lifecycle_stop(s3);
	rebalance_stop(rebalance);
	scrub_stop(scrub);
	gc_stop(gc);
	if (cluster && cluster_shard_recv_drain(15000))
		log_warn("cluster: shard streams still running at shutdown");
	data_store_remote_stop(data); /* no fetch may outlive the remote */
	cluster_remote_free(remote);
	cluster_placer_free(placer);
	cluster_close(cluster);
	if (ihttp)
		http_server_free(ihttp);
	free(peers_buf);
	if (meta)
		meta_store_close(meta);
	s3_server_free(s3);
	data_store_close(data);
	tls_server_free(tls);		   /* after the listener: connections used it */
	if (itls && tls_relay_drain(2000)) /* the cluster closed their ends */
		log_warn("cluster: internal TLS relays still running at shutdown");
	tls_client_free(itls); /* after the cluster: its connections used it */
	if (ret == 1 && rc)
		fprintf(stderr, "cairn: %s\n", cn_strerror(rc));
	return ret;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "server") == 0)
		return cmd_server(argc - 1, argv + 1);
	if (strcmp(argv[1], "admin") == 0)
		return cli_admin(argc - 1, argv + 1);
	if (strcmp(argv[1], "restore") == 0)
		return cli_restore(argc - 1, argv + 1);
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("cairn %s\n", CAIRN_VERSION[0] ? CAIRN_VERSION : CAIRN_VERSION_FALLBACK);
		return 0;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "cairn: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
