/*
 * s3/console.c — serves the web console (console/ in the source tree,
 * compiled in by tools/embed.c) at /_cairn/console/ on the S3 port.
 *
 * The files are static and hold no secret, so they are served without
 * authentication; the page itself signs every S3 and admin request with
 * the user's keys (SigV4 in the browser), so it can do exactly what those
 * keys may do. Every answer carries a strict Content-Security-Policy
 * (same-origin scripts, styles and connections; no inline script; no
 * framing) and nosniff, so an object served by this origin can never run
 * as the console's script, and the console can talk to no other host.
 *
 * Thread rules: runs on an HTTP worker loop; reads only the constant
 * asset table and the request. Ends the request exactly once.
 */
#include "s3/console_assets.h"
#include "s3/s3_int.h"

#include <string.h>

#include "core/err.h"

#define CONSOLE_PREFIX "/_cairn/console"
#define CONSOLE_CSP                                                                                \
	"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "    \
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "             \
	"frame-ancestors 'none'"

const struct s3_console_asset *s3_console_asset_find(const char *name, size_t name_len)
{
	for (size_t i = 0; i < s3_console_n_assets; i++) {
		const struct s3_console_asset *a = &s3_console_assets[i];
		if (strlen(a->name) == name_len && memcmp(a->name, name, name_len) == 0)
			return a;
	}
	return NULL;
}

/* If-None-Match: "*" or a comma-separated list of entity tags, compared
 * weakly (RFC 9110 13.1.2), so W/"x" matches "x". */
static int etag_listed(const char *list, const char *etag)
{
	size_t elen = strlen(etag);
	const char *p = list;

	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return 1;
		if (p[0] == 'W' && p[1] == '/')
			p += 2;
		const char *end = p;
		if (*p == '"') {
			end = strchr(p + 1, '"');
			if (!end)
				return 0;
			end++;
		} else {
			while (*end && *end != ',')
				end++;
		}
		if ((size_t)(end - p) == elen && memcmp(p, etag, elen) == 0)
			return 1;
		p = end;
		while (*p && *p != ',')
			p++;
	}
	return 0;
}

/* Headers every console answer carries, errors included. */
static void security_headers(struct s3_req *r, struct s3_hdrs *h)
{
	s3_hdr_add(r, h, "Content-Security-Policy", CONSOLE_CSP);
	s3_hdr_add(r, h, "X-Content-Type-Options", "nosniff");
	s3_hdr_add(r, h, "X-Frame-Options", "DENY");
	/* a presigned link the page shows must not leak through Referer */
	s3_hdr_add(r, h, "Referrer-Policy", "no-referrer");
}

static void send_text(struct s3_req *r, int status, struct s3_hdrs *h, const char *msg)
{
	s3_hdr_add(r, h, "Content-Type", "text/plain; charset=utf-8");
	s3_hdr_add(r, h, "Cache-Control", "no-store");
	s3_send(r, status, h, msg, strlen(msg));
}

void s3_console(struct s3_req *r)
{
	struct http_request *h = r->http;
	const char *rest = h->path + strlen(CONSOLE_PREFIX);
	const struct s3_console_asset *a;
	const char *inm;
	struct s3_hdrs hd = {0};

	h->op = "Console";
	if (r->srv->cfg.no_console) {
		/* as if there were no console: a plain miss, nothing to probe */
		send_text(r, 404, &hd, "not found\n");
		return;
	}
	security_headers(r, &hd);
	if (strcmp(h->method_str, "GET") != 0 && strcmp(h->method_str, "HEAD") != 0) {
		s3_hdr_add(r, &hd, "Allow", "GET, HEAD");
		send_text(r, 405, &hd, "method not allowed\n");
		return;
	}
	if (*rest == '\0') {
		/* relative URLs in the page resolve against the directory */
		s3_hdr_add(r, &hd, "Location", CONSOLE_PREFIX "/");
		send_text(r, 301, &hd, "moved to " CONSOLE_PREFIX "/\n");
		return;
	}
	if (*rest != '/') {
		send_text(r, 404, &hd, "not found\n");
		return;
	}
	rest++;
	if (*rest == '\0')
		rest = "index.html";
	/* one flat directory: a name with '/' (or "..") is never an asset */
	a = strchr(rest, '/') ? NULL : s3_console_asset_find(rest, strlen(rest));
	if (!a) {
		send_text(r, 404, &hd, "not found\n");
		return;
	}
	s3_hdr_add(r, &hd, "ETag", a->etag);
	/* names are not versioned: revalidate every time, a 304 is cheap */
	s3_hdr_add(r, &hd, "Cache-Control", "no-cache");
	inm = s3_header(r, "if-none-match");
	if (inm && etag_listed(inm, a->etag)) {
		s3_send_begin(r, 304, &hd, 0);
		s3_end(r);
		return;
	}
	s3_hdr_add(r, &hd, "Content-Type", a->ctype);
	/* the table is constant: written without a copy, no callback needed */
	if (s3_send_begin(r, 200, &hd, a->len) == 0 && !r->is_head && a->len)
		http_response_write(h, a->data, a->len, NULL, NULL);
	s3_end(r);
}
