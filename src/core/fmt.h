/*
 * core/fmt.h — numbers and dates written digit by digit, for the paths
 * every request takes (status line, Content-Length, Last-Modified, request
 * id, ETag). snprintf parses its format and walks the locale machinery on
 * each call; a small GET made eight such calls, ~4% of the server's CPU.
 *
 * Each writer stores at d, within the capacity it states, no terminating
 * NUL, and returns the end of what it wrote: callers chain them into a
 * buffer they sized, e.g. d = cn_fmt_u64(cn_fmt_lit(d, "bytes "), n).
 *
 * Thread rules: none (pure functions).
 */
#ifndef CAIRN_CORE_FMT_H
#define CAIRN_CORE_FMT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The most bytes cn_fmt_u64 writes (UINT64_MAX has 20 digits). */
#define CN_FMT_U64_MAX 20
/* What cn_fmt_http_date writes: "Sun, 06 Nov 1994 08:49:37 GMT". */
#define CN_FMT_HTTP_DATE_LEN 29

/* v in decimal, no padding: at most CN_FMT_U64_MAX bytes. */
char *cn_fmt_u64(char *d, uint64_t v);
/* The low n decimal digits of v, zero-padded: exactly n bytes. Inline, so
 * that a constant n (a date's fields) unrolls. */
static inline char *cn_fmt_dec(char *d, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v /= 10)
		d[i] = (char)('0' + v % 10);
	return d + n;
}
/* v as 16 upper-case hex digits: exactly 16 bytes. */
char *cn_fmt_hex16(char *d, uint64_t v);
/* IMF-fixdate (RFC 9110 5.6.7) of the second containing ns (floored, so
 * an instant before 1970 is in the second it lies in): exactly
 * CN_FMT_HTTP_DATE_LEN bytes for any int64_t (years 1677-2262). */
char *cn_fmt_http_date(char *d, int64_t ns);

/* n bytes of s. */
static inline char *cn_fmt_mem(char *d, const void *s, size_t n)
{
	memcpy(d, s, n);
	return d + n;
}
/* A string literal, its length known at compile time. */
#define cn_fmt_lit(d, lit) cn_fmt_mem((d), (lit), sizeof(lit) - 1)

#endif
