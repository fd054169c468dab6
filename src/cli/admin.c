/*
 * cli/admin.c — `cairn admin ...`: a small SigV4-signing HTTP client for the
 * live server's /_cairn/admin/ endpoints. It never opens the stores itself:
 * what it prints is what the running server knows.
 */
#include "cli/cli.h"
#include "cli/cli_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth/sigv4.h"
#include "core/digest.h"
#include "core/err.h"

static int parse_endpoint(const char *url, struct endpoint *e)
{
	const char *p = url, *colon, *slash;

	if (strncmp(p, "http://", 7) == 0)
		p += 7;
	slash = strchr(p, '/');
	size_t hl = slash ? (size_t)(slash - p) : strlen(p);
	if (hl == 0 || hl >= sizeof(e->hostport))
		return -1;
	memcpy(e->hostport, p, hl);
	e->hostport[hl] = 0;
	colon = strrchr(e->hostport, ':');
	if (colon) {
		size_t n = (size_t)(colon - e->hostport);
		if (n >= sizeof(e->host) || strlen(colon + 1) >= sizeof(e->port))
			return -1;
		memcpy(e->host, e->hostport, n);
		e->host[n] = 0;
		strcpy(e->port, colon + 1);
	} else {
		if (hl >= sizeof(e->host))
			return -1;
		memcpy(e->host, e->hostport, hl + 1);
		strcpy(e->port, "80");
	}
	return 0;
}

/* Percent-encodes s for a query value (SigV4 rules). */
static void qenc(const char *s, char *out, size_t cap)
{
	static const char hx[] = "0123456789ABCDEF";
	size_t o = 0;
	for (; *s && o + 4 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hx[c >> 4];
			out[o++] = hx[c & 15];
		}
	}
	out[o] = 0;
}

int cli_request_send(const struct endpoint *e, const char *user, const char *pass,
		     const char *method, const char *path, const char *query, const char *body,
		     size_t body_len, int *fd_out)
{
	struct sigv4_header hs[3];
	struct sigv4_request req;
	struct sigv4_creds cr = {user, pass, "us-east-1"};
	char amz[17], auth[1024], reqbuf[8192], sha[65];
	struct addrinfo hints, *ai = NULL;
	int fd = -1, rc;
	uint8_t md[32];

	cn_sha256(body, body_len, md);
	cn_hex(md, 32, sha);
	sigv4_format_amz_date(time(NULL), amz);
	hs[0] = (struct sigv4_header){"host", 4, e->hostport, strlen(e->hostport)};
	hs[1] = (struct sigv4_header){"x-amz-content-sha256", 20, sha, 64};
	hs[2] = (struct sigv4_header){"x-amz-date", 10, amz, 16};
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = path;
	req.path_len = strlen(path);
	req.query = query;
	req.query_len = strlen(query);
	req.headers = hs;
	req.n_headers = 3;
	req.now = time(NULL);
	rc = sigv4_sign_header(&req, &cr, amz, "host;x-amz-content-sha256;x-amz-date", sha, auth,
			       sizeof(auth), NULL);
	if (rc)
		return rc;
	int n = snprintf(reqbuf, sizeof(reqbuf),
			 "%s %s%s%s HTTP/1.1\r\nHost: %s\r\nx-amz-date: %s\r\n"
			 "x-amz-content-sha256: %s\r\nAuthorization: %s\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			 method, path, *query ? "?" : "", query, e->hostport, amz, sha, auth,
			 body_len);
	if (n <= 0 || (size_t)n >= sizeof(reqbuf))
		return CN_ETOOBIG;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(e->host, e->port, &hints, &ai) != 0 || !ai)
		return -EHOSTUNREACH;
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		rc = -errno;
		goto out;
	}
	if (write(fd, reqbuf, (size_t)n) != n ||
	    (body_len && write(fd, body, body_len) != (ssize_t)body_len)) {
		rc = -EIO;
		goto out;
	}
	*fd_out = fd;
	fd = -1;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (ai)
		freeaddrinfo(ai);
	return rc;
}

/* Sends one signed request; *body_out gets the response body (owned).
 * Returns the HTTP status or a negative error. */
static int admin_call_body(const struct endpoint *e, const char *user, const char *pass,
			   const char *method, const char *path, const char *query,
			   const char *body, size_t body_len, char **body_out)
{
	int fd = -1, rc, status = -1;
	size_t len = 0, cap = 65536;
	char *resp = NULL;

	rc = cli_request_send(e, user, pass, method, path, query, body, body_len, &fd);
	if (rc)
		return rc;
	resp = malloc(cap + 1);
	if (!resp) {
		rc = CN_ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t got;
		if (len == cap) {
			char *nr = realloc(resp, cap * 2 + 1);
			if (!nr) {
				rc = CN_ENOMEM;
				goto out;
			}
			resp = nr;
			cap *= 2;
		}
		got = read(fd, resp + len, cap - len);
		if (got < 0) {
			rc = -errno;
			goto out;
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}
	resp[len] = 0;
	if (sscanf(resp, "HTTP/1.1 %d", &status) != 1) {
		rc = CN_EBADREQ;
		goto out;
	}
	char *b = strstr(resp, "\r\n\r\n");
	*body_out = strdup(b ? b + 4 : "");
	rc = status;
out:
	close(fd);
	free(resp);
	return rc;
}

static int admin_call(const struct endpoint *e, const char *user, const char *pass,
		      const char *method, const char *path, const char *query, char **body_out)
{
	return admin_call_body(e, user, pass, method, path, query, "", 0, body_out);
}

/* Indents JSON for people; strings are copied verbatim. */
static void pretty(const char *s)
{
	int depth = 0, in_str = 0;

	for (; *s; s++) {
		char c = *s;
		if (in_str) {
			putchar(c);
			if (c == '\\' && s[1]) {
				putchar(*++s);
			} else if (c == '"') {
				in_str = 0;
			}
			continue;
		}
		switch (c) {
		case '"':
			in_str = 1;
			putchar(c);
			break;
		case '{':
		case '[':
			depth++;
			printf("%c\n%*s", c, depth * 2, "");
			break;
		case '}':
		case ']':
			depth--;
			printf("\n%*s%c", depth * 2, "", c);
			break;
		case ',': printf(",\n%*s", depth * 2, ""); break;
		case ':': printf(": "); break;
		case '\n': break;
		default: putchar(c);
		}
	}
	putchar('\n');
}

/* One pair of environment variables, when both are set and not empty. */
static int env_creds(const char *uvar, const char *pvar, char *user, size_t ucap, char *pass,
		     size_t pcap)
{
	const char *eu = getenv(uvar), *ep = getenv(pvar);

	if (!eu || !ep || !*eu || !*ep || strlen(eu) >= ucap || strlen(ep) >= pcap)
		return 0;
	strcpy(user, eu);
	strcpy(pass, ep);
	return 1;
}

/* The root credentials, found as the server finds them: the environment
 * (CAIRN_ROOT_USER/PASSWORD), else DIR/.cairn/credentials (which exists
 * only when the server generated them). AWS_ACCESS_KEY_ID/SECRET_ACCESS_KEY
 * come between: the shell a quick start sets up for the aws CLI has them. */
static int read_creds(const char *dir, char *user, size_t ucap, char *pass, size_t pcap)
{
	char path[4096], line[512];
	FILE *f;

	if (env_creds("CAIRN_ROOT_USER", "CAIRN_ROOT_PASSWORD", user, ucap, pass, pcap) ||
	    env_creds("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", user, ucap, pass, pcap))
		return 0;
	if ((size_t)snprintf(path, sizeof(path), "%s/.cairn/credentials", dir) >= sizeof(path))
		return -ENAMETOOLONG;
	f = fopen(path, "r");
	if (!f)
		return -errno;
	int ok = fgets(line, sizeof(line), f) != NULL;
	fclose(f);
	char *sp = ok ? strchr(line, ' ') : NULL;
	if (!sp)
		return CN_EINVAL;
	*sp = 0;
	char *nl = strchr(sp + 1, '\n');
	if (nl)
		*nl = 0;
	if (strlen(line) >= ucap || strlen(sp + 1) >= pcap)
		return CN_EINVAL;
	strcpy(user, line);
	strcpy(pass, sp + 1);
	explicit_bzero(line, sizeof(line));
	return 0;
}

static void admin_usage(FILE *f);

/* The body {"access_key","secret_key"} from --access-key/--secret-key
 * options in argv[from..]; "" when neither is given. 0 or 2 (usage). */
static int key_body(int argc, char **argv, int from, char *out, size_t cap)
{
	const char *ak = NULL, *sk = NULL;

	for (int i = from; i < argc; i += 2) {
		if (i + 1 >= argc)
			return 2;
		if (strcmp(argv[i], "--access-key") == 0)
			ak = argv[i + 1];
		else if (strcmp(argv[i], "--secret-key") == 0)
			sk = argv[i + 1];
		else
			return 2;
	}
	out[0] = 0;
	if (!ak && !sk)
		return 0;
	/* both are plain printable ASCII (the server refuses anything else);
	 * a quote or backslash would need escaping: refuse it here */
	if ((ak && strpbrk(ak, "\"\\")) || (sk && strpbrk(sk, "\"\\")))
		return 2;
	snprintf(out, cap, "{%s%s%s%s%s%s%s}", ak ? "\"access_key\":\"" : "", ak ? ak : "",
		 ak ? "\"" : "", ak && sk ? "," : "", sk ? "\"secret_key\":\"" : "", sk ? sk : "",
		 sk ? "\"" : "");
	return 0;
}

/* `user ...`, `group ...`, `policy ...` (argv[0] is the noun). Returns the
 * HTTP status, a negative error, or 2 for a usage error (no body). */
static int iam_command(const struct endpoint *e, const char *user, const char *pass, int argc,
		       char **argv, char **body)
{
	char q[2048], a[512], b[512], kb[600];
	const char *noun = argv[0], *verb = argc > 1 ? argv[1] : "";
	char path[64];
	int rc;

	snprintf(path, sizeof(path), "/_cairn/admin/%s", noun);
	if (strcmp(verb, "list") == 0 && argc == 2)
		return admin_call(e, user, pass, "GET", path, "", body);
	if (strcmp(noun, "user") == 0) {
		if (strcmp(verb, "add") == 0 && argc >= 3) {
			if (key_body(argc, argv, 3, kb, sizeof(kb)))
				goto usage;
			qenc(argv[2], a, sizeof(a));
			snprintf(q, sizeof(q), "name=%s&op=add", a);
			return admin_call_body(e, user, pass, "POST", path, q, kb, strlen(kb),
					       body);
		}
		if ((strcmp(verb, "remove") == 0 || strcmp(verb, "disable") == 0 ||
		     strcmp(verb, "enable") == 0) &&
		    argc == 3) {
			qenc(argv[2], a, sizeof(a));
			snprintf(q, sizeof(q), "name=%s&op=%s", a, verb);
			return admin_call(e, user, pass, "POST", path, q, body);
		}
		if (strcmp(verb, "key") == 0 && argc >= 4) {
			const char *kv = argv[2];
			qenc(argv[3], a, sizeof(a));
			if (strcmp(kv, "add") == 0) {
				if (key_body(argc, argv, 4, kb, sizeof(kb)))
					goto usage;
				snprintf(q, sizeof(q), "name=%s&op=key-add", a);
				return admin_call_body(e, user, pass, "POST", path, q, kb,
						       strlen(kb), body);
			}
			if ((strcmp(kv, "remove") == 0 || strcmp(kv, "disable") == 0 ||
			     strcmp(kv, "enable") == 0) &&
			    argc == 5) {
				qenc(argv[4], b, sizeof(b));
				snprintf(q, sizeof(q), "access_key=%s&name=%s&op=key-%s", b, a, kv);
				return admin_call(e, user, pass, "POST", path, q, body);
			}
		}
	} else if (strcmp(noun, "group") == 0) {
		if ((strcmp(verb, "add") == 0 || strcmp(verb, "remove") == 0) && argc == 3) {
			qenc(argv[2], a, sizeof(a));
			snprintf(q, sizeof(q), "name=%s&op=%s", a, verb);
			return admin_call(e, user, pass, "POST", path, q, body);
		}
		if (strcmp(verb, "member") == 0 && argc == 5 &&
		    (strcmp(argv[2], "add") == 0 || strcmp(argv[2], "remove") == 0)) {
			qenc(argv[3], a, sizeof(a));
			qenc(argv[4], b, sizeof(b));
			snprintf(q, sizeof(q), "name=%s&op=member-%s&user=%s", a, argv[2], b);
			return admin_call(e, user, pass, "POST", path, q, body);
		}
	} else if (strcmp(noun, "policy") == 0) {
		if (strcmp(verb, "add") == 0 && argc == 4) {
			FILE *f = fopen(argv[3], "rb");
			char *doc;
			size_t n;
			if (!f) {
				fprintf(stderr, "cairn admin: %s: %s\n", argv[3], strerror(errno));
				return 2;
			}
			doc = malloc(64 * 1024);
			n = doc ? fread(doc, 1, 64 * 1024, f) : 0;
			fclose(f);
			if (!doc)
				return CN_ENOMEM;
			qenc(argv[2], a, sizeof(a));
			snprintf(q, sizeof(q), "name=%s&op=add", a);
			rc = admin_call_body(e, user, pass, "POST", path, q, doc, n, body);
			free(doc);
			return rc;
		}
		if (strcmp(verb, "remove") == 0 && argc == 3) {
			qenc(argv[2], a, sizeof(a));
			snprintf(q, sizeof(q), "name=%s&op=remove", a);
			return admin_call(e, user, pass, "POST", path, q, body);
		}
		if ((strcmp(verb, "attach") == 0 || strcmp(verb, "detach") == 0) && argc == 4) {
			qenc(argv[3], a, sizeof(a));
			qenc(argv[2], b, sizeof(b));
			snprintf(q, sizeof(q), "name=%s&op=%s&target=%s", a, verb, b);
			return admin_call(e, user, pass, "POST", path, q, body);
		}
	}
usage:
	admin_usage(stderr);
	return 2;
}

static void admin_usage(FILE *f)
{
	fprintf(f,
		"usage: cairn admin [--endpoint URL] [--dir DATA_DIR] COMMAND\n"
		"  status                 drives, buckets, heal queue, gc and scrub\n"
		"  object BUCKET/KEY      every version, layout and shard health\n"
		"  scrub [--wait]         start a scrub pass (and wait for it)\n"
		"  heal                   drain the heal queue now\n"
		"  gc                     run garbage collection now\n"
		"  drive replace DIR [--force]\n"
		"                         adopt the empty directory DIR (an offline drive's\n"
		"                         path on the server) as the replacement of the\n"
		"                         drive that was there, and rebuild its shards;\n"
		"                         --force: even though the old drive was a mount\n"
		"                         point and DIR is not\n"
		"  cluster status         every node: role, term, commit/applied index, reachable\n"
		"                         and the cluster map (nodes, drives, epoch)\n"
		"  cluster add ADDR       add the node whose cluster address is ADDR (started\n"
		"                         with --join); it catches up, then votes\n"
		"  cluster remove ADDR [--force]\n"
		"                         remove the member at ADDR; refused when blobs\n"
		"                         with a shard on it are wider than the nodes left\n"
		"                         (--force: remove it anyway, e.g. a dead node)\n"
		"  cluster rebalance pause|resume|stop|start\n"
		"                         control the rebalance (progress: cluster status)\n"
		"  backup DEST            a consistent copy of the metadata (with the format\n"
		"                         version and drive-set identity) into the file DEST;\n"
		"                         restore it offline with `cairn restore`\n"
		"  user add NAME [--access-key K --secret-key S]\n"
		"                         a user and its first key (generated unless given);\n"
		"                         prints the secret, the only time it is shown\n"
		"  user list | remove NAME | disable NAME | enable NAME\n"
		"  user key add NAME [--access-key K --secret-key S]\n"
		"  user key remove|disable|enable NAME ACCESS_KEY\n"
		"  group add|remove NAME | group list\n"
		"  group member add|remove GROUP USER\n"
		"  policy add NAME FILE   an IAM policy document (JSON)\n"
		"  policy remove NAME | policy list\n"
		"  policy attach|detach USER|GROUP NAME\n"
		"                         (built-in: readwrite, readonly, writeonly)\n"
		"  kms key add NAME       a named SSE-KMS key (1-28 of [a-z0-9._-]), wrapped by\n"
		"                         the master key and shared by the cluster\n"
		"  kms key list           the key ring (aws/s3, the default, and named keys)\n"
		"credentials (root): CAIRN_ROOT_USER/CAIRN_ROOT_PASSWORD, else\n"
		"  AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, else DIR/.cairn/credentials\n"
		"  (--dir, default ./data; written by the server only when it generated them)\n");
}

int cli_admin(int argc, char **argv)
{
	const char *endpoint = getenv("CAIRN_ENDPOINT"), *dir = "./data";
	struct endpoint e;
	char user[129], pass[129], q[8192], *body = NULL;
	int i = 1, rc, wait = 0;

	if (!endpoint)
		endpoint = "http://127.0.0.1:9000";
	while (i < argc && strncmp(argv[i], "--", 2) == 0) {
		if (strcmp(argv[i], "--endpoint") == 0 && i + 1 < argc)
			endpoint = argv[i + 1];
		else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			dir = argv[i + 1];
		else {
			admin_usage(stderr);
			return 2;
		}
		i += 2;
	}
	if (i >= argc) {
		admin_usage(stderr);
		return 2;
	}
	if (parse_endpoint(endpoint, &e)) {
		fprintf(stderr, "cairn admin: bad endpoint '%s'\n", endpoint);
		return 2;
	}
	rc = read_creds(dir, user, sizeof(user), pass, sizeof(pass));
	if (rc) {
		fprintf(stderr,
			"cairn admin: no credentials: CAIRN_ROOT_USER/CAIRN_ROOT_PASSWORD and "
			"AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not set, and %s/.cairn/"
			"credentials: %s (it exists only when the server generated the "
			"credentials; give --dir DATA_DIR, or set the variables the server was "
			"started with)\n",
			dir, cn_strerror(rc));
		return 2;
	}
	const char *cmd = argv[i];
	if (strcmp(cmd, "status") == 0) {
		rc = admin_call(&e, user, pass, "GET", "/_cairn/admin/status", "", &body);
	} else if (strcmp(cmd, "object") == 0 && i + 1 < argc) {
		const char *slash = strchr(argv[i + 1], '/');
		char b[256], k[2048], bk[1024], kk[4096];
		if (!slash || slash == argv[i + 1] || (size_t)(slash - argv[i + 1]) >= sizeof(b) ||
		    strlen(slash + 1) >= sizeof(k) / 2) {
			fprintf(stderr, "cairn admin: object wants BUCKET/KEY\n");
			return 2;
		}
		memcpy(b, argv[i + 1], (size_t)(slash - argv[i + 1]));
		b[slash - argv[i + 1]] = 0;
		strcpy(k, slash + 1);
		qenc(b, bk, sizeof(bk));
		qenc(k, kk, sizeof(kk));
		snprintf(q, sizeof(q), "bucket=%s&key=%s", bk, kk);
		rc = admin_call(&e, user, pass, "GET", "/_cairn/admin/object", q, &body);
	} else if (strcmp(cmd, "scrub") == 0) {
		wait = i + 1 < argc && strcmp(argv[i + 1], "--wait") == 0;
		rc = admin_call(&e, user, pass, "POST", "/_cairn/admin/scrub", "", &body);
		while (wait && rc == 200) {
			/* Poll until the pass we started has finished. */
			usleep(200000);
			free(body);
			body = NULL;
			rc = admin_call(&e, user, pass, "GET", "/_cairn/admin/scrub", "", &body);
			if (rc == 200 && strstr(body, "\"running\":false"))
				break;
		}
	} else if (strcmp(cmd, "heal") == 0) {
		rc = admin_call(&e, user, pass, "POST", "/_cairn/admin/heal", "", &body);
	} else if (strcmp(cmd, "gc") == 0) {
		rc = admin_call(&e, user, pass, "POST", "/_cairn/admin/gc", "", &body);
	} else if (strcmp(cmd, "drive") == 0 && i + 2 < argc &&
		   strcmp(argv[i + 1], "replace") == 0) {
		char a[4096];
		int force = i + 3 < argc && strcmp(argv[i + 3], "--force") == 0;
		qenc(argv[i + 2], a, sizeof(a));
		snprintf(q, sizeof(q), "%sop=replace&path=%s", force ? "force=1&" : "", a);
		rc = admin_call(&e, user, pass, "POST", "/_cairn/admin/drive", q, &body);
	} else if (strcmp(cmd, "cluster") == 0 && i + 1 < argc &&
		   strcmp(argv[i + 1], "status") == 0) {
		rc = admin_call(&e, user, pass, "GET", "/_cairn/admin/cluster", "", &body);
	} else if (strcmp(cmd, "cluster") == 0 && i + 2 < argc &&
		   (strcmp(argv[i + 1], "add") == 0 || strcmp(argv[i + 1], "remove") == 0)) {
		char a[256];
		int force = strcmp(argv[i + 1], "remove") == 0 && i + 3 < argc &&
			    strcmp(argv[i + 3], "--force") == 0;
		qenc(argv[i + 2], a, sizeof(a));
		snprintf(q, sizeof(q), "address=%s%s&op=%s", a, force ? "&force=1" : "",
			 argv[i + 1]);
		rc = admin_call(&e, user, pass, "POST", "/_cairn/admin/cluster", q, &body);
	} else if (strcmp(cmd, "cluster") == 0 && i + 2 < argc &&
		   strcmp(argv[i + 1], "rebalance") == 0 &&
		   (strcmp(argv[i + 2], "pause") == 0 || strcmp(argv[i + 2], "resume") == 0 ||
		    strcmp(argv[i + 2], "stop") == 0 || strcmp(argv[i + 2], "start") == 0)) {
		snprintf(q, sizeof(q), "op=rebalance-%s", argv[i + 2]);
		rc = admin_call(&e, user, pass, "POST", "/_cairn/admin/cluster", q, &body);
	} else if (strcmp(cmd, "backup") == 0 && i + 2 == argc) {
		return cli_backup(&e, user, pass, argv[i + 1]);
	} else if (strcmp(cmd, "kms") == 0 && i + 2 < argc && strcmp(argv[i + 1], "key") == 0 &&
		   strcmp(argv[i + 2], "list") == 0) {
		rc = admin_call(&e, user, pass, "GET", "/_cairn/admin/kms/key", "", &body);
	} else if (strcmp(cmd, "kms") == 0 && i + 3 < argc && strcmp(argv[i + 1], "key") == 0 &&
		   strcmp(argv[i + 2], "add") == 0) {
		char a[256];
		qenc(argv[i + 3], a, sizeof(a));
		snprintf(q, sizeof(q), "name=%s&op=add", a);
		rc = admin_call(&e, user, pass, "POST", "/_cairn/admin/kms/key", q, &body);
	} else if (strcmp(cmd, "user") == 0 || strcmp(cmd, "group") == 0 ||
		   strcmp(cmd, "policy") == 0) {
		rc = iam_command(&e, user, pass, argc - i, argv + i, &body);
		if (rc == 2 && !body)
			return 2;
	} else {
		admin_usage(stderr);
		return 2;
	}
	if (rc < 0) {
		fprintf(stderr, "cairn admin: %s: %s\n", endpoint, cn_strerror(rc));
		return 1;
	}
	if (rc != 200) {
		fprintf(stderr, "cairn admin: HTTP %d\n%s\n", rc, body ? body : "");
		free(body);
		return 1;
	}
	pretty(body);
	free(body);
	return 0;
}
