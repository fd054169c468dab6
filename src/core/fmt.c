/*
 * core/fmt.c — see fmt.h.
 */
#include "core/fmt.h"

#include "core/clock.h"

char *cn_fmt_u64(char *d, uint64_t v)
{
	char b[CN_FMT_U64_MAX];
	size_t n = sizeof(b);

	do
		b[--n] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	return cn_fmt_mem(d, b + n, sizeof(b) - n);
}

char *cn_fmt_hex16(char *d, uint64_t v)
{
	static const char hx[] = "0123456789ABCDEF";

	for (int i = 15; i >= 0; i--, v >>= 4)
		d[i] = hx[v & 15];
	return d + 16;
}

char *cn_fmt_http_date(char *d, int64_t ns)
{
	static const char days[] = "SunMonTueWedThuFriSat";
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	struct cn_utc t;

	cn_utc_of(ns / 1000000000LL - (ns % 1000000000LL < 0), &t);
	d = cn_fmt_mem(d, days + 3 * t.wday, 3);
	d = cn_fmt_lit(d, ", ");
	d = cn_fmt_dec(d, t.day, 2);
	*d++ = ' ';
	d = cn_fmt_mem(d, months + 3 * (t.mon - 1), 3);
	*d++ = ' ';
	/* an int64_t of ns spans the years 1677-2262: four digits */
	d = cn_fmt_dec(d, (uint64_t)t.year, 4);
	*d++ = ' ';
	d = cn_fmt_dec(d, t.hour, 2);
	*d++ = ':';
	d = cn_fmt_dec(d, t.min, 2);
	*d++ = ':';
	d = cn_fmt_dec(d, t.sec, 2);
	return cn_fmt_lit(d, " GMT");
}
