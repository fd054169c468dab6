/*
 * core/log.c — see log.h. Every line is built in a stack buffer and written
 * with one write(2); a line too long for the buffer is cut (a JSON access
 * record that would lose its closing brace is dropped rather than broken).
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"

static enum cn_log_level min_level = CN_LOG_INFO;
static int access_on = 1;
static enum cn_log_format format = CN_LOG_TEXT;

void cn_log_set_format(enum cn_log_format f)
{
	format = f;
}

void cn_log_set_level(enum cn_log_level lvl)
{
	min_level = lvl;
}

void cn_log_set_access(int on)
{
	access_on = on;
}

int cn_log_access_enabled(void)
{
	return access_on;
}

/* ISO 8601 UTC with milliseconds: 2024-05-01T12:00:00.123Z (24 bytes; the
 * buffer is sized for any int the compiler can imagine). */
static int stamp(char *out, size_t cap)
{
	int64_t now = cn_now_ns();
	time_t sec = (time_t)(now / 1000000000LL);
	struct tm tm;

	gmtime_r(&sec, &tm);
	return snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
			tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			(int)(now % 1000000000LL / 1000000));
}

/* Length of the valid UTF-8 sequence at s (at most len bytes), 0 if none. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
	size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;

	if (n == 0 || n > len || s[0] >= 0xf5)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* A line under construction: appends stop at the capacity (the line is cut,
 * never overrun); one byte stays free for the newline. */
struct line {
	char *b;
	size_t n, cap;
};

static void put(struct line *l, const char *s, size_t len)
{
	if (len > l->cap - 1 - l->n)
		len = l->cap - 1 - l->n;
	memcpy(l->b + l->n, s, len);
	l->n += len;
}

static void putf(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct line *l, const char *fmt, ...)
{
	size_t avail = l->cap - 1 - l->n;
	va_list ap;
	int m;

	if (avail < 2)
		return;
	va_start(ap, fmt);
	m = vsnprintf(l->b + l->n, avail, fmt, ap);
	va_end(ap);
	if (m > 0)
		l->n += (size_t)m < avail ? (size_t)m : avail - 1;
}

/* A JSON string: quotes, backslashes and control characters escaped, bytes
 * that are not UTF-8 replaced by '?' (JSON text must be UTF-8). */
static void put_json(struct line *l, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	char esc[8];

	put(l, "\"", 1);
	for (size_t i = 0; i < len;) {
		if (u[i] == '"' || u[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)u[i];
			put(l, esc, 2);
			i++;
		} else if (u[i] < 0x20 || u[i] == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", u[i]);
			put(l, esc, 6);
			i++;
		} else if (u[i] < 0x80) {
			put(l, s + i, 1);
			i++;
		} else {
			size_t n = utf8_seq(u + i, len - i);
			put(l, n ? s + i : "?", n ? n : 1);
			i += n ? n : 1;
		}
	}
	put(l, "\"", 1);
}

/* Text lines quote keys and names from requests: a control character in one
 * must not forge a line of its own. */
static void scrub_controls(struct line *l, size_t from)
{
	for (size_t i = from; i < l->n; i++)
		if ((unsigned char)l->b[i] < 0x20 || l->b[i] == 0x7f)
			l->b[i] = '?';
}

static void emit(int fd, struct line *l)
{
	l->b[l->n++] = '\n';
	if (write(fd, l->b, l->n) < 0) {
		/* nowhere left to report it */
	}
}

void cn_log(enum cn_log_level lvl, const char *fmt, ...)
{
	static const char *names[] = {"debug", "info", "warn", "error"};
	char buf[2048], msg[2048], ts[80];
	struct line l = {buf, 0, sizeof(buf)};
	va_list ap;
	int m;

	if (lvl < min_level)
		return;
	stamp(ts, sizeof(ts));
	va_start(ap, fmt);
	m = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	m = m < 0 ? 0 : m >= (int)sizeof(msg) ? (int)sizeof(msg) - 1 : m;
	if (format == CN_LOG_JSON) {
		putf(&l, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":", ts, names[lvl]);
		put_json(&l, msg, (size_t)m);
		put(&l, "}", 1);
	} else {
		putf(&l, "%s %s ", ts, names[lvl]);
		put(&l, msg, (size_t)m);
		scrub_controls(&l, 0);
	}
	emit(STDERR_FILENO, &l);
}

void cn_log_access(const struct cn_access *a)
{
	char buf[16384], ts[80];
	struct line l = {buf, 0, sizeof(buf)};
	const char *user = a->user && *a->user ? a->user : "-";
	const char *client = a->client && *a->client ? a->client : "-";
	const char *url = a->url ? a->url : "-";
	size_t url_len = strlen(url), key_len = a->key ? a->key_len : 0;

	if (!access_on)
		return;
	stamp(ts, sizeof(ts));
	url_len = url_len > 2048 ? 2048 : url_len;
	key_len = key_len > 1024 ? 1024 : key_len;
	if (format == CN_LOG_JSON) {
		putf(&l, "{\"time\":\"%s\",\"type\":\"access\",\"client\":", ts);
		put_json(&l, client, strlen(client));
		put(&l, ",\"request_id\":", 14);
		put_json(&l, a->request_id ? a->request_id : "-",
			 strlen(a->request_id ? a->request_id : "-"));
		put(&l, ",\"user\":", 8);
		put_json(&l, user, strlen(user));
		put(&l, ",\"op\":", 6);
		put_json(&l, a->op ? a->op : "-", strlen(a->op ? a->op : "-"));
		put(&l, ",\"method\":", 10);
		put_json(&l, a->method ? a->method : "-", strlen(a->method ? a->method : "-"));
		put(&l, ",\"url\":", 7);
		put_json(&l, url, url_len);
		if (a->bucket) {
			put(&l, ",\"bucket\":", 10);
			put_json(&l, a->bucket, strlen(a->bucket));
		}
		if (a->key) {
			put(&l, ",\"key\":", 7);
			put_json(&l, a->key, key_len);
		}
		putf(&l,
		     ",\"status\":%d,\"bytes_in\":%llu,\"bytes_out\":%llu,\"duration_us\":%llu%s}",
		     a->status, (unsigned long long)a->bytes_in, (unsigned long long)a->bytes_out,
		     (unsigned long long)a->duration_us, a->aborted ? ",\"aborted\":true" : "");
		/* the closing brace must survive a cut: JSON or nothing */
		if (l.b[l.n - 1] != '}')
			return;
	} else {
		/* the URL shows bucket and key (percent-encoded: no spaces) */
		putf(&l, "%s access %s ", ts, a->method ? a->method : "-");
		put(&l, url, url_len);
		putf(&l, " %d in=%llu out=%llu us=%llu op=%s client=%s id=%s user=%s%s", a->status,
		     (unsigned long long)a->bytes_in, (unsigned long long)a->bytes_out,
		     (unsigned long long)a->duration_us, a->op ? a->op : "-", client,
		     a->request_id ? a->request_id : "-", user, a->aborted ? " aborted" : "");
		scrub_controls(&l, 0);
	}
	emit(STDOUT_FILENO, &l);
}
