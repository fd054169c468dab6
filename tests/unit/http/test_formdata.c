/*
 * Unit tests for http/formdata: a form as a browser sends it (WebKit
 * boundary, fields, then the file, then a field S3 ignores) fed in every
 * chunk size from 1 to 64 and at random splits; boundary-like bytes inside a
 * file; every CRLF rule (preamble, padding, epilogue, bare CR/LF); bodies
 * cut at every byte; each limit (header section, part count, value cap)
 * just under and just over; the callbacks' stop and error answers;
 * Content-Type boundary extraction; and a 50 MiB file streamed through in
 * 64 KiB chunks without a byte being copied (hashes and counts compared).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/err.h"
#include "http/formdata.h"

#define BND "----WebKitFormBoundary7MA4YWxkTrZu0gW"

/* ---- a recorder of callbacks ---- */

struct part_rec {
	char *name, *filename, *ct; /* filename/ct NULL when absent */
	size_t index;
	char *data;
	size_t len, cap;
	int ended;
	int buffered; /* the value came whole in part_end */
};

struct rec {
	struct part_rec p[128];
	size_t n;
	int stop_after_file; /* part_end of a part with a filename says STOP */
	int stream_fields;   /* stream every part, not only files */
	int fail_in;	     /* 1: part_begin, 2: part_data, 3: part_end return CN_EIO */
	int stop_in_begin;   /* part_begin of part index stop_in_begin - 1 says STOP */
	/* zero-copy check: the bytes of the current feed */
	const char *feed_lo, *feed_hi;
	const struct formdata *fd;
	size_t copied; /* part_data calls with bytes from neither */
	uint64_t streamed;
	int hashing; /* hash instead of keeping the data */
	struct cn_digest dig;
};

static char *dup_or_null(const char *s)
{
	char *d;
	if (!s)
		return NULL;
	d = strdup(s);
	assert_non_null(d);
	return d;
}

static void append(struct part_rec *p, const void *b, size_t len)
{
	if (len == 0)
		return;
	if (p->len + len > p->cap) {
		p->cap = (p->len + len) * 2 + 16;
		p->data = realloc(p->data, p->cap);
		assert_non_null(p->data);
	}
	memcpy(p->data + p->len, b, len);
	p->len += len;
}

static int on_begin(void *arg, const struct formdata_part *part)
{
	struct rec *r = arg;
	struct part_rec *p;
	assert_true(r->n < 128);
	p = &r->p[r->n++];
	memset(p, 0, sizeof(*p));
	assert_int_equal(strlen(part->name), part->name_len);
	p->name = dup_or_null(part->name);
	p->filename = dup_or_null(part->filename);
	p->ct = dup_or_null(part->content_type);
	if (part->filename)
		assert_int_equal(strlen(part->filename), part->filename_len);
	if (part->content_type)
		assert_int_equal(strlen(part->content_type), part->content_type_len);
	p->index = part->index;
	assert_int_equal(part->index, r->n - 1);
	if (r->fail_in == 1)
		return CN_EIO;
	if (r->stop_in_begin && (size_t)r->stop_in_begin == r->n)
		return FORMDATA_STOP;
	if (part->filename || r->stream_fields)
		return FORMDATA_STREAM;
	p->buffered = 1;
	return FORMDATA_BUFFER;
}

static int on_data(void *arg, const void *b, size_t len)
{
	struct rec *r = arg;
	struct part_rec *p = &r->p[r->n - 1];
	const char *c = b;
	assert_true(len > 0);
	assert_false(p->buffered);
	if (!((c >= r->feed_lo && c + len <= r->feed_hi) ||
	      (c >= r->fd->delim && c + len <= r->fd->delim + sizeof(r->fd->delim)) ||
	      (len == 1 && *c == '-')))
		r->copied++;
	if (r->fail_in == 2)
		return CN_EIO;
	r->streamed += len;
	if (r->hashing)
		cn_digest_update(&r->dig, b, len);
	else
		append(p, b, len);
	return 0;
}

static int on_end(void *arg, const struct formdata_part *part, const char *value, size_t len)
{
	struct rec *r = arg;
	struct part_rec *p = &r->p[r->n - 1];
	assert_string_equal(part->name, p->name);
	assert_int_equal(part->index, r->n - 1);
	p->ended = 1;
	if (p->buffered) {
		assert_non_null(value);
		append(p, value, len);
	} else {
		assert_null(value);
		assert_int_equal(len, 0);
	}
	if (r->fail_in == 3)
		return CN_EIO;
	if (r->stop_after_file && part->filename)
		return FORMDATA_STOP;
	return 0;
}

static const struct formdata_cb rec_cb = {on_begin, on_data, on_end};

static void rec_free(struct rec *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->p[i].name);
		free(r->p[i].filename);
		free(r->p[i].ct);
		free(r->p[i].data);
	}
	r->n = 0;
}

/* Everything recorded, as one comparable string (owned, free() it). */
static char *transcript(const struct rec *r, size_t *out_len)
{
	struct part_rec t = {0};
	for (size_t i = 0; i < r->n; i++) {
		const struct part_rec *p = &r->p[i];
		char h[64];
		append(&t, p->name, strlen(p->name) + 1);
		append(&t, p->filename ? p->filename : "(none)",
		       strlen(p->filename ? p->filename : "(none)") + 1);
		append(&t, p->ct ? p->ct : "(none)", strlen(p->ct ? p->ct : "(none)") + 1);
		snprintf(h, sizeof(h), "%zu/%d/%d:", p->len, p->ended, p->buffered);
		append(&t, h, strlen(h));
		append(&t, p->data ? p->data : "", p->len);
	}
	append(&t, "", 1);
	*out_len = t.len;
	return t.data;
}

/* Feeds body in pieces: chunk > 0 a fixed size, chunk == 0 random splits
 * from *seed. Returns feed's first non-zero answer or finish's. */
static int run(struct rec *r, const struct formdata_limits *lim, const char *bnd, const char *body,
	       size_t len, size_t chunk, unsigned *seed, int *feed_rc)
{
	struct formdata fd;
	size_t off = 0;
	int rc = 0, frc = 0;

	assert_int_equal(formdata_init(&fd, bnd, strlen(bnd), lim, &rec_cb, r), 0);
	r->fd = &fd;
	while (off < len) {
		size_t n = chunk;
		if (chunk == 0) {
			*seed = *seed * 1103515245u + 12345u;
			n = 1 + (*seed >> 8) % 97;
		}
		if (n > len - off)
			n = len - off;
		/* a private copy, so the zero-copy check sees this feed only */
		char *piece = malloc(n);
		assert_non_null(piece);
		memcpy(piece, body + off, n);
		r->feed_lo = piece;
		r->feed_hi = piece + n;
		frc = formdata_feed(&fd, piece, n);
		free(piece);
		off += n;
		if (frc < 0)
			break;
	}
	if (feed_rc)
		*feed_rc = frc;
	rc = frc < 0 ? frc : formdata_finish(&fd);
	/* errors and the end are sticky */
	if (frc < 0)
		assert_int_equal(formdata_feed(&fd, "x", 1), frc);
	formdata_release(&fd);
	return rc;
}

/* ---- the browser form ---- */

/* A file whose bytes look like delimiters without being one: a longer
 * boundary, one dash only, no CRLF before, a CR too many. */
static const char file_bytes[] = "\x89PNG\r\n\x1a\n\0\0"
				 "\r\n--" BND "X"
				 "\r\n-" BND "\r\r\n--\r\n"
				 "x--" BND "\r\n"
				 "\r\n--" BND "-!"
				 "\r\n------WebKit\r\n";
#define FILE_LEN (sizeof(file_bytes) - 1)

static size_t browser_form(char *out, size_t cap)
{
	size_t n = 0;
#define PUT(s, l)                                                                                  \
	do {                                                                                       \
		assert_true(n + (l) <= cap);                                                       \
		memcpy(out + n, s, l);                                                             \
		n += l;                                                                            \
	} while (0)
#define PUTS(s) PUT(s, strlen(s))
	PUTS("--" BND "\r\n"
	     "Content-Disposition: form-data; name=\"key\"\r\n\r\n"
	     "user/user1/${filename}\r\n"
	     "--" BND "\r\n"
	     "Content-Disposition: form-data; name=\"acl\"\r\n\r\n"
	     "public-read\r\n"
	     "--" BND "\r\n"
	     "Content-Disposition: form-data; name=\"Content-Type\"\r\n\r\n"
	     "image/jpeg\r\n"
	     "--" BND "\r\n"
	     "Content-Disposition: form-data; name=\"x-amz-meta-tag\"\r\n\r\n"
	     "\r\n"
	     "--" BND "\r\n"
	     "Content-Disposition: form-data; name=\"x-amz-meta-multi\"\r\n\r\n"
	     "line1\r\nline2\r\n"
	     "--" BND "\r\n"
	     "Content-Disposition: form-data; name=\"file\"; filename=\"photo.png\"\r\n"
	     "Content-Type: image/png\r\n\r\n");
	PUT(file_bytes, FILE_LEN);
	PUTS("\r\n--" BND "\r\n"
	     "Content-Disposition: form-data; name=\"submit\"\r\n\r\n"
	     "Upload to Amazon S3\r\n"
	     "--" BND "--\r\n");
#undef PUTS
#undef PUT
	return n;
}

static void check_browser(const struct rec *r)
{
	static const char *const names[] = {
		"key",	"acl",	 "Content-Type", "x-amz-meta-tag", "x-amz-meta-multi",
		"file", "submit"};
	static const char *const values[] = {"user/user1/${filename}", "public-read", "image/jpeg",
					     "", "line1\r\nline2"};
	assert_int_equal(r->n, 7);
	for (size_t i = 0; i < 7; i++) {
		assert_string_equal(r->p[i].name, names[i]);
		assert_true(r->p[i].ended);
		if (i < 5) {
			assert_null(r->p[i].filename);
			assert_null(r->p[i].ct);
			assert_int_equal(r->p[i].len, strlen(values[i]));
			assert_memory_equal(r->p[i].data ? r->p[i].data : "", values[i],
					    r->p[i].len);
		}
	}
	assert_string_equal(r->p[5].filename, "photo.png");
	assert_string_equal(r->p[5].ct, "image/png");
	assert_int_equal(r->p[5].len, FILE_LEN);
	assert_memory_equal(r->p[5].data, file_bytes, FILE_LEN);
	assert_int_equal(r->p[6].len, 19);
	assert_int_equal(r->copied, 0);
}

static void test_browser_form_every_chunking(void **state)
{
	(void)state;
	char body[4096], *want, *got;
	size_t len = browser_form(body, sizeof(body)), want_len, got_len;
	struct rec r = {0};
	unsigned seed = 7;

	assert_int_equal(run(&r, NULL, BND, body, len, len, NULL, NULL), 0);
	check_browser(&r);
	want = transcript(&r, &want_len);
	rec_free(&r);
	for (size_t chunk = 1; chunk <= 64; chunk++) {
		memset(&r, 0, sizeof(r));
		assert_int_equal(run(&r, NULL, BND, body, len, chunk, NULL, NULL), 0);
		check_browser(&r);
		got = transcript(&r, &got_len);
		assert_int_equal(got_len, want_len);
		assert_memory_equal(got, want, want_len);
		free(got);
		rec_free(&r);
	}
	for (int i = 0; i < 300; i++) {
		memset(&r, 0, sizeof(r));
		assert_int_equal(run(&r, NULL, BND, body, len, 0, &seed, NULL), 0);
		got = transcript(&r, &got_len);
		assert_int_equal(got_len, want_len);
		assert_memory_equal(got, want, want_len);
		free(got);
		rec_free(&r);
	}
	free(want);
}

/* S3 ignores what follows the file: the callback stops there, and the rest
 * (even garbage) is never looked at. */
static void test_stop_after_file(void **state)
{
	(void)state;
	char body[4096];
	size_t len = browser_form(body, sizeof(body));
	struct rec r = {0};
	int frc;

	/* cut the close delimiter off and add garbage after the submit part */
	len -= strlen("--" BND "--\r\n");
	memcpy(body + len, "\r\ngarbage\n\n", 11);
	len += 11;
	for (size_t chunk = 1; chunk <= 64; chunk += 9) {
		memset(&r, 0, sizeof(r));
		r.stop_after_file = 1;
		assert_int_equal(run(&r, NULL, BND, body, len, chunk, NULL, &frc), 0);
		assert_int_equal(frc, FORMDATA_DONE);
		assert_int_equal(r.n, 6);
		assert_int_equal(r.p[5].len, FILE_LEN);
		rec_free(&r);
	}
	/* without the stop the same body is truncated */
	memset(&r, 0, sizeof(r));
	assert_int_equal(run(&r, NULL, BND, body, len, 5, NULL, NULL), CN_EINCOMPLETE);
	rec_free(&r);
	/* a stop from part_begin: nothing more is called */
	memset(&r, 0, sizeof(r));
	r.stop_in_begin = 2;
	assert_int_equal(run(&r, NULL, BND, body, len, 3, NULL, &frc), 0);
	assert_int_equal(frc, FORMDATA_DONE);
	assert_int_equal(r.n, 2);
	assert_true(r.p[0].ended);
	assert_false(r.p[1].ended);
	rec_free(&r);
}

static void test_callback_errors(void **state)
{
	(void)state;
	char body[4096];
	size_t len = browser_form(body, sizeof(body));
	for (int where = 1; where <= 3; where++) {
		struct rec r = {0};
		struct formdata fd;
		r.fail_in = where;
		assert_int_equal(formdata_init(&fd, BND, strlen(BND), NULL, &rec_cb, &r), 0);
		r.fd = &fd;
		r.feed_lo = body;
		r.feed_hi = body + len;
		assert_int_equal(formdata_feed(&fd, body, len), CN_EIO);
		assert_int_equal(fd.fail, FORMDATA_FAIL_CALLBACK);
		assert_int_equal(formdata_finish(&fd), CN_EIO);
		assert_int_equal(r.n, where == 1 ? 1 : where == 2 ? 6 : 1);
		formdata_release(&fd);
		rec_free(&r);
	}
}

/* ---- delimiters, CRLF and the file's own bytes ---- */

/* One part named f holding data, with preamble and epilogue; parsed in
 * every chunking; the value must come back byte for byte. */
static void roundtrip(const char *bnd, const char *pre, const void *data, size_t dlen,
		      const char *post)
{
	size_t cap = strlen(pre) + dlen + strlen(post) + 2 * strlen(bnd) + 200, len = 0;
	char *body = malloc(cap);
	assert_non_null(body);
	len += (size_t)snprintf(body, cap,
				"%s--%s\r\nContent-Disposition: form-data; name=\"f\"; "
				"filename=\"a\"\r\n\r\n",
				pre, bnd);
	memcpy(body + len, data, dlen);
	len += dlen;
	len += (size_t)snprintf(body + len, cap - len, "\r\n--%s--%s", bnd, post);
	for (size_t chunk = 1; chunk <= 64; chunk++) {
		struct rec r = {0};
		assert_int_equal(run(&r, NULL, bnd, body, len, chunk, NULL, NULL), 0);
		assert_int_equal(r.n, 1);
		assert_int_equal(r.p[0].len, dlen);
		if (dlen)
			assert_memory_equal(r.p[0].data, data, dlen);
		assert_int_equal(r.copied, 0);
		rec_free(&r);
	}
	free(body);
}

static void test_boundary_like_bytes(void **state)
{
	(void)state;
	static const char *const tricky[] = {
		"",
		"\r",
		"\n",
		"\r\n",
		"\r\n\r\n",
		"\r\r\r\n\n",
		"--" BND "X",	   /* opens the value, a longer boundary: data */
		"--" BND "-",	   /* opens the value, one dash: data */
		"x--" BND "--",	   /* no CRLF before it: data */
		"\r\n--" BND "X",  /* a longer boundary: data */
		"\r\n--" BND "-X", /* one dash: data */
		"\r\n--" BND "-",  /* a dash, then the real delimiter's CR */
		"\r\n------WebKitFormBoundary7MA4YWxkTrZu0g", /* one byte short */
		"\r\n-\r\n--\r\n---\r\n--" BND "x",
	};
	for (size_t i = 0; i < sizeof(tricky) / sizeof(tricky[0]); i++)
		roundtrip(BND, "", tricky[i], strlen(tricky[i]), "");
	/* binary bytes, NULs, high bytes */
	char bin[600];
	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (char)(i * 7 + (i >> 3));
	roundtrip(BND, "", bin, sizeof(bin), "");
	/* boundaries of one byte and of 70, and with spaces inside */
	roundtrip("a", "", "\r\n-a\r\n--b--a", 12, "");
	char b70[71];
	memset(b70, 'z', 70);
	b70[70] = '\0';
	roundtrip(b70, "", "\r\n--zzzz", 8, "");
	roundtrip("a b'()+_,-./:=?c", "", "\r\n--a b", 7, "");
}

static void test_crlf_rules(void **state)
{
	(void)state;
	struct rec r = {0};
	int frc;
	/* preamble and epilogue are ignored, the preamble may mention the
	 * boundary without a CRLF before it */
	roundtrip(BND, "This is a preamble --" BND " with words\r\n", "v", 1,
		  "\r\nepilogue\r\n--" BND "--\r\n");
	roundtrip(BND, "\r\n", "v", 1, "");
	/* transport padding after delimiters */
	const char *pad = "--b \t \r\nContent-Disposition: form-data; name=a\r\n\r\n1"
			  "\r\n--b\t\r\nContent-Disposition: form-data; name=b\r\n\r\n"
			  "\r\n--b--  trailing junk";
	for (size_t chunk = 1; chunk < 8; chunk++) {
		memset(&r, 0, sizeof(r));
		assert_int_equal(run(&r, NULL, "b", pad, strlen(pad), chunk, NULL, &frc), 0);
		assert_int_equal(frc, FORMDATA_DONE);
		assert_int_equal(r.n, 2);
		assert_string_equal(r.p[0].name, "a");
		assert_int_equal(r.p[0].len, 1);
		assert_int_equal(r.p[1].len, 0); /* an empty value */
		rec_free(&r);
	}
	/* RFC 2046: body-part := headers [CRLF *OCTET]. The blank line's CRLF
	 * may be the delimiter's: a part with no body. Otherwise what follows
	 * the blank line is data, even when it starts like a boundary. */
	static const struct {
		const char *body, *a, *c;
	} nobody[] = {
		{"--b\r\nContent-Disposition: form-data; name=a\r\n\r\n--b\r\n"
		 "Content-Disposition: form-data; name=c\r\n\r\n--b--",
		 "", ""},
		{"--b\r\nContent-Disposition: form-data; name=a\r\n\r\n--bX\r\n--b\r\n"
		 "Content-Disposition: form-data; name=c\r\n\r\n--b-X\r\n--b--",
		 "--bX", "--b-X"},
		{"--b\r\nContent-Disposition: form-data; name=a\r\n\r\n-\r\n--b\r\n"
		 "Content-Disposition: form-data; name=c\r\n\r\n\r\n\r\n--b--",
		 "-", "\r\n"},
	};
	for (size_t i = 0; i < sizeof(nobody) / sizeof(nobody[0]); i++) {
		for (size_t chunk = 1; chunk < 8; chunk++) {
			memset(&r, 0, sizeof(r));
			assert_int_equal(run(&r, NULL, "b", nobody[i].body, strlen(nobody[i].body),
					     chunk, NULL, &frc),
					 0);
			assert_int_equal(r.n, 2);
			assert_int_equal(r.p[0].len, strlen(nobody[i].a));
			assert_memory_equal(r.p[0].data ? r.p[0].data : "", nobody[i].a,
					    r.p[0].len);
			assert_int_equal(r.p[1].len, strlen(nobody[i].c));
			assert_memory_equal(r.p[1].data ? r.p[1].data : "", nobody[i].c,
					    r.p[1].len);
			assert_int_equal(r.copied, 0);
			rec_free(&r);
		}
	}
	/* a part with no headers at all has no name */
	static const struct {
		const char *body;
		int rc;
		enum formdata_fail fail;
	} bad[] = {
		{"--b\r\n\r\nv\r\n--b--", CN_EBADREQ, FORMDATA_FAIL_SYNTAX},
		/* LF alone after the delimiter */
		{"--b\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--b--", CN_EBADREQ,
		 FORMDATA_FAIL_SYNTAX},
		/* CR not followed by LF after the delimiter */
		{"--b\r\rContent-Disposition: form-data; name=a\r\n\r\nv\r\n--b--", CN_EBADREQ,
		 FORMDATA_FAIL_SYNTAX},
		/* padding then something else */
		{"--b  x\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--b--", CN_EBADREQ,
		 FORMDATA_FAIL_SYNTAX},
		/* bare LF and bare CR inside the headers */
		{"--b\r\nContent-Disposition: form-data; name=a\n\r\nv\r\n--b--", CN_EBADREQ,
		 FORMDATA_FAIL_SYNTAX},
		{"--b\r\nContent-Disposition: form-data; name=a\r\r\n\r\nv\r\n--b--", CN_EBADREQ,
		 FORMDATA_FAIL_SYNTAX},
		/* header folding is not accepted */
		{"--b\r\nContent-Disposition: form-data;\r\n name=a\r\n\r\nv\r\n--b--", CN_EBADREQ,
		 FORMDATA_FAIL_SYNTAX},
		/* no delimiter at all, or an empty body */
		{"just text", CN_EBADREQ, FORMDATA_FAIL_SYNTAX},
		{"", CN_EBADREQ, FORMDATA_FAIL_SYNTAX},
		{"--", CN_EBADREQ, FORMDATA_FAIL_SYNTAX},
		/* the boundary without CRLF before it does not end a part */
		{"--b\r\nContent-Disposition: form-data; name=a\r\n\r\nv--b--", CN_EINCOMPLETE,
		 FORMDATA_FAIL_TRUNCATED},
		/* the final boundary missing */
		{"--b\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n", CN_EINCOMPLETE,
		 FORMDATA_FAIL_TRUNCATED},
		{"--b\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--b\r\n",
		 CN_EINCOMPLETE, FORMDATA_FAIL_TRUNCATED},
		{"--b\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--b-", CN_EINCOMPLETE,
		 FORMDATA_FAIL_TRUNCATED},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (size_t chunk = 1; chunk <= 3; chunk++) {
			struct formdata fd;
			size_t len = strlen(bad[i].body), off = 0;
			int rc = 0;
			memset(&r, 0, sizeof(r));
			assert_int_equal(formdata_init(&fd, "b", 1, NULL, &rec_cb, &r), 0);
			r.fd = &fd;
			r.feed_lo = bad[i].body;
			r.feed_hi = bad[i].body + len;
			for (; off < len && rc >= 0; off += chunk)
				rc = formdata_feed(&fd, bad[i].body + off,
						   chunk < len - off ? chunk : len - off);
			if (rc >= 0)
				rc = formdata_finish(&fd);
			if (rc != bad[i].rc)
				print_error("case %zu chunk %zu: %d\n", i, chunk, rc);
			assert_int_equal(rc, bad[i].rc);
			assert_int_equal(fd.fail, bad[i].fail);
			formdata_release(&fd);
			rec_free(&r);
		}
	}
	/* zero parts, then the close delimiter: a complete, empty form */
	memset(&r, 0, sizeof(r));
	assert_int_equal(run(&r, NULL, "b", "--b--", 5, 1, NULL, &frc), 0);
	assert_int_equal(frc, FORMDATA_DONE);
	assert_int_equal(r.n, 0);
}

/* Cut the browser form at every length: finish never says 0 before the
 * close delimiter, and says CN_EINCOMPLETE once the first delimiter was
 * whole. */
static void test_truncated_everywhere(void **state)
{
	(void)state;
	char body[4096];
	size_t len = browser_form(body, sizeof(body));
	size_t first = strlen("--" BND);     /* the first delimiter, without its CRLF */
	size_t close = len - strlen("\r\n"); /* after "--" BND "--" */
	for (size_t cut = 0; cut < len; cut++) {
		struct rec r = {0};
		int rc = run(&r, NULL, BND, body, cut, cut % 7 + 1, NULL, NULL);
		if (cut >= close)
			assert_int_equal(rc, 0);
		else if (cut >= first)
			assert_int_equal(rc, CN_EINCOMPLETE);
		else
			assert_int_equal(rc, CN_EBADREQ);
		/* no part ends before its delimiter is certain */
		for (size_t i = 0; i < r.n; i++)
			if (r.p[i].ended && !r.p[i].buffered && strcmp(r.p[i].name, "file") == 0)
				assert_int_equal(r.p[i].len, FILE_LEN);
		rec_free(&r);
	}
}

/* ---- part headers ---- */

static int one_part(const char *headers, struct rec *r)
{
	char body[16384];
	int n = snprintf(body, sizeof(body), "--b\r\n%s\r\n\r\nv\r\n--b--", headers);
	assert_true(n > 0 && (size_t)n < sizeof(body));
	memset(r, 0, sizeof(*r));
	return run(r, NULL, "b", body, (size_t)n, 1, NULL, NULL);
}

static void test_part_headers(void **state)
{
	(void)state;
	struct rec r;

	/* a Windows path as IE sends it, an escaped quote, a UTF-8 name */
	assert_int_equal(
		one_part("content-disposition:FORM-DATA;NAME=file;  "
			 "filename=\"C:\\dir\\a\\\"b.txt\"\r\n"
			 "Content-Type:   text/plain; charset=utf-8  \r\nX-Other: whatever",
			 &r),
		0);
	assert_string_equal(r.p[0].name, "file");
	assert_string_equal(r.p[0].filename, "C:\\dir\\a\"b.txt");
	assert_string_equal(r.p[0].ct, "text/plain; charset=utf-8");
	rec_free(&r);
	assert_int_equal(one_part("Content-Disposition: form-data; name=\"\xc3\xa9t\xc3\xa9\"; "
				  "filename=\"\"; filename*=UTF-8''x",
				  &r),
			 0);
	assert_string_equal(r.p[0].name, "\xc3\xa9t\xc3\xa9");
	assert_string_equal(r.p[0].filename, "");
	rec_free(&r);
	assert_int_equal(one_part("Content-Disposition: form-data; name=\"a\\\\b\";", &r), 0);
	assert_string_equal(r.p[0].name, "a\\b");
	rec_free(&r);

	static const char *const bad[] = {
		"Content-Type: text/plain",			  /* no Content-Disposition */
		"Content-Disposition: attachment; name=a",	  /* not form-data */
		"Content-Disposition: form-data",		  /* no name */
		"Content-Disposition: form-data; filename=x",	  /* no name */
		"Content-Disposition: form-data; name=a; name=b", /* name twice */
		"Content-Disposition: form-data; name=a; filename=x; filename=y",
		"Content-Disposition: form-data; name=\"a", /* unterminated */
		"Content-Disposition: form-data; name=",    /* empty token */
		"Content-Disposition: form-data; name a",   /* no '=' */
		"Content-Disposition: form-data, name=a",   /* ',' is not ';' */
		"Content-Disposition: form-data; name=a\r\nContent-Disposition: form-data; name=b",
		"Content-Disposition: form-data; name=a\r\nContent-Type: a\r\nContent-Type: b",
		"Content-Disposition : form-data; name=a",	     /* space before ':' */
		"Content-Disposition: form-data; name=a\r\nNoColon", /* not a header */
		"Content-Disposition: form-data; name=\"a\x01\"",    /* a control byte */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = one_part(bad[i], &r);
		if (rc != CN_EBADREQ)
			print_error("case %zu: %d\n", i, rc);
		assert_int_equal(rc, CN_EBADREQ);
		rec_free(&r);
	}
}

/* ---- limits ---- */

static void test_header_limit(void **state)
{
	(void)state;
	/* "Content-Disposition: form-data; name=a\r\nX: ...\r\n\r\n" */
	const char *cd = "Content-Disposition: form-data; name=a\r\n";
	for (int over = 0; over <= 1; over++) {
		struct rec r = {0};
		size_t fill =
			FORMDATA_MAX_HEADER - strlen(cd) - strlen("X: \r\n\r\n") + (size_t)over;
		char *body = malloc(FORMDATA_MAX_HEADER + 100);
		size_t n = 0;
		assert_non_null(body);
		n += (size_t)sprintf(body, "--b\r\n%sX: ", cd);
		memset(body + n, 'h', fill);
		n += fill;
		n += (size_t)sprintf(body + n, "\r\n\r\nv\r\n--b--");
		assert_int_equal(n - strlen("--b\r\n") - strlen("v\r\n--b--"),
				 FORMDATA_MAX_HEADER + (size_t)over);
		struct formdata fd;
		assert_int_equal(formdata_init(&fd, "b", 1, NULL, &rec_cb, &r), 0);
		r.fd = &fd;
		r.feed_lo = body;
		r.feed_hi = body + n;
		int rc = formdata_feed(&fd, body, n);
		if (over) {
			assert_int_equal(rc, CN_ETOOBIG);
			assert_int_equal(fd.fail, FORMDATA_FAIL_HEADER);
			assert_int_equal(r.n, 0);
		} else {
			assert_int_equal(rc, FORMDATA_DONE);
			assert_int_equal(r.n, 1);
		}
		formdata_release(&fd);
		free(body);
		rec_free(&r);
	}
}

static void test_part_limit(void **state)
{
	(void)state;
	char body[8192];
	struct formdata_limits lim = {.max_parts = 3, .value_cap = 0};
	for (size_t parts = 1; parts <= 5; parts++) {
		size_t n = 0;
		struct rec r = {0};
		for (size_t i = 0; i < parts; i++)
			n += (size_t)sprintf(
				body + n,
				"--b\r\nContent-Disposition: form-data; name=f%zu\r\n\r\n"
				"v\r\n",
				i);
		n += (size_t)sprintf(body + n, "--b--");
		struct formdata fd;
		assert_int_equal(formdata_init(&fd, "b", 1, &lim, &rec_cb, &r), 0);
		r.fd = &fd;
		int rc = formdata_feed(&fd, body, n);
		if (parts <= 3) {
			assert_int_equal(rc, FORMDATA_DONE);
			assert_int_equal(r.n, parts);
		} else {
			assert_int_equal(rc, CN_ETOOBIG);
			assert_int_equal(fd.fail, FORMDATA_FAIL_PARTS);
			assert_int_equal(r.n, 3);
		}
		formdata_release(&fd);
		rec_free(&r);
	}
	/* the default is FORMDATA_DEFAULT_PARTS */
	size_t n = 0;
	struct rec r = {0};
	char *big = malloc(100 * (FORMDATA_DEFAULT_PARTS + 1) + 10);
	assert_non_null(big);
	for (size_t i = 0; i <= FORMDATA_DEFAULT_PARTS; i++)
		n += (size_t)sprintf(
			big + n, "--b\r\nContent-Disposition: form-data; name=f%zu\r\n\r\nv\r\n",
			i);
	n += (size_t)sprintf(big + n, "--b--");
	assert_int_equal(run(&r, NULL, "b", big, n, 64, NULL, NULL), CN_ETOOBIG);
	assert_int_equal(r.n, FORMDATA_DEFAULT_PARTS);
	rec_free(&r);
	free(big);
}

static void test_value_cap(void **state)
{
	(void)state;
	struct formdata_limits lim = {.max_parts = 0, .value_cap = 16};
	char body[256];
	for (size_t vlen = 14; vlen <= 18; vlen++) {
		struct rec r = {0};
		struct formdata fd;
		int n = snprintf(body, sizeof(body),
				 "--b\r\nContent-Disposition: form-data; name=policy\r\n\r\n"
				 "%.*s\r\n--b--",
				 (int)vlen, "\r\n--b-\r\n--x\r\n--abcdefghijkl");
		assert_int_equal(formdata_init(&fd, "b", 1, &lim, &rec_cb, &r), 0);
		r.fd = &fd;
		int rc = 0;
		for (int i = 0; i < n && rc >= 0; i++)
			rc = formdata_feed(&fd, body + i, 1);
		if (vlen <= 16) {
			assert_int_equal(rc, FORMDATA_DONE);
			assert_int_equal(r.p[0].len, vlen);
		} else {
			assert_int_equal(rc, CN_ETOOBIG);
			assert_int_equal(fd.fail, FORMDATA_FAIL_VALUE);
			assert_false(r.p[0].ended);
		}
		formdata_release(&fd);
		rec_free(&r);
	}
	/* streamed parts have no cap */
	struct rec r = {0};
	r.stream_fields = 1;
	int n = snprintf(body, sizeof(body),
			 "--b\r\nContent-Disposition: form-data; name=policy\r\n\r\n"
			 "%s\r\n--b--",
			 "0123456789abcdefghijklmnopqrstuvwxyz");
	assert_int_equal(run(&r, &lim, "b", body, (size_t)n, 1, NULL, NULL), 0);
	assert_int_equal(r.p[0].len, 36);
	rec_free(&r);
}

static void test_init_and_boundary(void **state)
{
	(void)state;
	char out[FORMDATA_MAX_BOUNDARY + 1], b71[72];
	struct formdata fd;

	assert_int_equal(formdata_init(&fd, "", 0, NULL, &rec_cb, NULL), CN_EBADREQ);
	assert_int_equal(formdata_init(&fd, "a\rb", 3, NULL, &rec_cb, NULL), CN_EBADREQ);
	assert_int_equal(formdata_init(&fd, "ab ", 3, NULL, &rec_cb, NULL), CN_EBADREQ);
	memset(b71, 'x', 71);
	b71[71] = '\0';
	assert_int_equal(formdata_init(&fd, b71, 71, NULL, &rec_cb, NULL), CN_EBADREQ);
	assert_int_equal(formdata_init(&fd, b71, 70, NULL, &rec_cb, NULL), 0);
	formdata_release(&fd);

	static const struct {
		const char *ct, *want;
		int rc;
	} cases[] = {
		{"multipart/form-data; boundary=" BND, BND, 0},
		{"Multipart/Form-Data;boundary=\"" BND "\"", BND, 0},
		{"  multipart/form-data ; charset=utf-8; BOUNDARY=abc ; x=\"y;z\"", "abc", 0},
		{"multipart/form-data; boundary=\"a b\\\"c\"", NULL, CN_EBADREQ}, /* '"' */
		{"multipart/form-data; boundary=\"a b\\:c\"", "a b:c", 0},
		{"multipart/form-data; boundary=\"abc \"", NULL, CN_EBADREQ}, /* ends in SP */
		{"multipart/form-data; boundary=a=b/c:d?", "a=b/c:d?", 0},
		{"multipart/form-data; boundary=", NULL, CN_EBADREQ},
		{"multipart/form-data; boundary=\"\"", NULL, CN_EBADREQ},
		{"multipart/form-data", NULL, CN_EBADREQ},
		{"multipart/form-data; charset=utf-8", NULL, CN_EBADREQ},
		{"multipart/form-data; boundary=a; boundary=a", NULL, CN_EBADREQ},
		{"multipart/mixed; boundary=a", NULL, CN_EBADREQ},
		{"application/x-www-form-urlencoded", NULL, CN_EBADREQ},
		{"multipart/form-data; boundary=\"abc", NULL, CN_EBADREQ},
		{"multipart/form-data; boundary=a\x01", NULL, CN_EBADREQ},
		{"multipart/form-data boundary=a", NULL, CN_EBADREQ},
		{"", NULL, CN_EBADREQ},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = formdata_boundary(cases[i].ct, strlen(cases[i].ct), out, sizeof(out));
		if (rc != cases[i].rc)
			print_error("case %zu: %d\n", i, rc);
		assert_int_equal(rc, cases[i].rc);
		if (rc == 0)
			assert_string_equal(out, cases[i].want);
	}
	/* 70 is the longest, and out must hold it */
	char ct[128];
	snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%.70s", b71);
	assert_int_equal(formdata_boundary(ct, strlen(ct), out, sizeof(out)), 0);
	assert_int_equal(strlen(out), 70);
	assert_int_equal(formdata_boundary(ct, strlen(ct), out, 70), CN_ETOOBIG);
	snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%s", b71);
	assert_int_equal(formdata_boundary(ct, strlen(ct), out, sizeof(out)), CN_EBADREQ);
	snprintf(ct, sizeof(ct), "multipart/form-data; boundary=\"%s\"", b71);
	assert_int_equal(formdata_boundary(ct, strlen(ct), out, sizeof(out)), CN_EBADREQ);
}

/* ---- a 50 MiB file, 64 KiB at a time ---- */

static uint64_t xs = 88172645463325252ull;
static uint8_t next_byte(void)
{
	xs ^= xs << 13;
	xs ^= xs >> 7;
	xs ^= xs << 17;
	return (uint8_t)xs;
}

static void test_large_file_streamed(void **state)
{
	(void)state;
	const size_t file_len = 50u << 20, chunk = 64u << 10;
	const char *head = "--" BND "\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n"
			   "--" BND "\r\nContent-Disposition: form-data; name=\"file\"; "
			   "filename=\"big.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n";
	const char *tail = "\r\n--" BND "--\r\n";
	struct rec r = {0};
	struct formdata fd;
	struct cn_digest want;
	struct cn_digest_result wr, gr;
	char *buf = malloc(chunk);
	const char *near = "\r\n--" BND "Z";
	/* carry: how much of near the previous chunk ended with */
	size_t sent = 0, carry = strlen(near);
	int rc;

	assert_non_null(buf);
	r.hashing = 1;
	assert_int_equal(cn_digest_init(&r.dig, CN_DIG_SHA256), 0);
	assert_int_equal(cn_digest_init(&want, CN_DIG_SHA256), 0);
	assert_int_equal(formdata_init(&fd, BND, strlen(BND), NULL, &rec_cb, &r), 0);
	r.fd = &fd;
	r.feed_lo = head;
	r.feed_hi = head + strlen(head);
	assert_int_equal(formdata_feed(&fd, head, strlen(head)), 0);
	while (sent < file_len) {
		size_t n = file_len - sent < chunk ? file_len - sent : chunk;
		for (size_t i = 0; i < n; i++)
			buf[i] = (char)next_byte();
		/* near-delimiters now and then, some across chunk edges */
		memcpy(buf, near + carry, strlen(near) - carry);
		carry = 0;
		if ((sent / chunk) % 3 == 0) {
			memcpy(buf + 100, near, strlen(near));
			if (n == chunk && (sent / chunk) % 2) {
				carry = 20; /* the rest opens the next chunk */
				memcpy(buf + n - carry, near, carry);
			}
		}
		cn_digest_update(&want, buf, n);
		r.feed_lo = buf;
		r.feed_hi = buf + n;
		assert_int_equal(formdata_feed(&fd, buf, n), 0);
		sent += n;
	}
	r.feed_lo = tail;
	r.feed_hi = tail + strlen(tail);
	rc = formdata_feed(&fd, tail, strlen(tail));
	assert_int_equal(rc, FORMDATA_DONE);
	assert_int_equal(formdata_finish(&fd), 0);
	cn_digest_final(&want, &wr);
	cn_digest_final(&r.dig, &gr);
	cn_digest_release(&want);
	cn_digest_release(&r.dig);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.p[0].len, 1);
	assert_int_equal(r.streamed, file_len);
	assert_int_equal(gr.len, file_len);
	assert_memory_equal(gr.sha256, wr.sha256, 32);
	assert_int_equal(r.copied, 0); /* every byte came from the feed or the delimiter */
	assert_true(r.p[1].ended);
	formdata_release(&fd);
	rec_free(&r);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_browser_form_every_chunking),
		cmocka_unit_test(test_stop_after_file),
		cmocka_unit_test(test_callback_errors),
		cmocka_unit_test(test_boundary_like_bytes),
		cmocka_unit_test(test_crlf_rules),
		cmocka_unit_test(test_truncated_everywhere),
		cmocka_unit_test(test_part_headers),
		cmocka_unit_test(test_header_limit),
		cmocka_unit_test(test_part_limit),
		cmocka_unit_test(test_value_cap),
		cmocka_unit_test(test_init_and_boundary),
		cmocka_unit_test(test_large_file_streamed),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests_name("http/formdata", tests, NULL, NULL);
}
