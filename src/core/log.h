/*
 * core/log.h — leveled logging to stderr and the access log to stdout, one
 * line per call, as text (ISO 8601 UTC time with milliseconds first) or as
 * one JSON object per line (--log-format json).
 *
 * Thread rules: callable from any thread; each line is written with a single
 * write(2) so lines from different threads never interleave.
 */
#ifndef CAIRN_CORE_LOG_H
#define CAIRN_CORE_LOG_H

#include <stddef.h>
#include <stdint.h>

enum cn_log_level { CN_LOG_DEBUG, CN_LOG_INFO, CN_LOG_WARN, CN_LOG_ERROR };

/* Messages below this level are dropped. Set once at start (main thread). */
void cn_log_set_level(enum cn_log_level lvl);
/* Access log on/off (default on). Set once at start. */
void cn_log_set_access(int on);
int cn_log_access_enabled(void);

enum cn_log_format { CN_LOG_TEXT = 0, CN_LOG_JSON };
/* Set once at start (main thread), before any other thread logs. */
void cn_log_set_format(enum cn_log_format f);

void cn_log(enum cn_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One request, as the access log shows it. Every field is borrowed for the
 * call; NULL or "" where unknown. Nothing secret belongs here: url is the
 * redacted target (no signature), user the access key id. */
struct cn_access {
	const char *client;	/* the peer's address */
	const char *request_id; /* the x-amz-request-id sent */
	const char *user;	/* access key id; NULL or "": anonymous ("-") */
	const char *method;
	const char *url; /* raw target, signatures redacted */
	const char *op;	 /* operation name */
	const char *bucket;
	const char *key; /* decoded, key_len bytes (may hold any byte) */
	size_t key_len;
	int status;
	uint64_t bytes_in, bytes_out, duration_us;
	int aborted;
};
/* Writes the access-log line of one request to stdout (text: TIME access
 * METHOD URL STATUS in=N out=N us=N op=OP client=ADDR id=REQUEST_ID
 * user=KEY [aborted]; JSON: the same fields plus bucket and key). Any
 * thread. */
void cn_log_access(const struct cn_access *a);

#define log_debug(...) cn_log(CN_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) cn_log(CN_LOG_INFO, __VA_ARGS__)
#define log_warn(...) cn_log(CN_LOG_WARN, __VA_ARGS__)
#define log_error(...) cn_log(CN_LOG_ERROR, __VA_ARGS__)

#endif
