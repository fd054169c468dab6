/*
 * core/log.c — see log.h.
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"

static enum cn_log_level min_level = CN_LOG_INFO;
static int access_on = 1;

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

void cn_log(enum cn_log_level lvl, const char *fmt, ...)
{
	static const char *names[] = {"debug", "info", "warn", "error"};
	char line[2048];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n, m;

	if (lvl < min_level)
		return;
	int64_t now = cn_now_ns();
	ts.tv_sec = (time_t)(now / 1000000000LL);
	ts.tv_nsec = (long)(now % 1000000000LL);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     ts.tv_nsec / 1000000, names[lvl]);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	/* Messages quote keys and names from requests: a newline in one must
	 * not forge a log line of its own. */
	for (int i = 0; i < n; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nowhere left to report it */
	}
}

void cn_log_access(const char *line, int len)
{
	char buf[4096];

	if (!access_on)
		return;
	if (len > (int)sizeof(buf) - 1)
		len = sizeof(buf) - 1;
	for (int i = 0; i < len; i++)
		buf[i] = (unsigned char)line[i] < 0x20 || line[i] == 0x7f ? '?' : line[i];
	buf[len] = '\n';
	if (write(STDOUT_FILENO, buf, len + 1) < 0) {
		/* access log is best effort */
	}
}
