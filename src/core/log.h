/*
 * core/log.h — leveled logging to stderr, one line per call.
 *
 * Thread rules: callable from any thread; each line is written with a single
 * write(2) so lines from different threads never interleave.
 */
#ifndef CAIRN_CORE_LOG_H
#define CAIRN_CORE_LOG_H

enum cn_log_level { CN_LOG_DEBUG, CN_LOG_INFO, CN_LOG_WARN, CN_LOG_ERROR };

/* Messages below this level are dropped. Set once at start (main thread). */
void cn_log_set_level(enum cn_log_level lvl);
/* Access log on/off (default on). Set once at start. */
void cn_log_set_access(int on);
int cn_log_access_enabled(void);

void cn_log(enum cn_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes one access-log line (already formatted, no newline) to stdout. */
void cn_log_access(const char *line, int len);

#define log_debug(...) cn_log(CN_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) cn_log(CN_LOG_INFO, __VA_ARGS__)
#define log_warn(...) cn_log(CN_LOG_WARN, __VA_ARGS__)
#define log_error(...) cn_log(CN_LOG_ERROR, __VA_ARGS__)

#endif
