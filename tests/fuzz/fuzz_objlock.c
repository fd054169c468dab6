/*
 * tests/fuzz/fuzz_objlock.c — libFuzzer target for s3/objlock.c: the ways
 * untrusted bytes become Object Lock state. The first input byte picks one
 * (modulo 5), the rest is its input:
 *
 *   0  objlock_conf_from_xml(): a PutObjectLockConfiguration body (msg
 *      capacity from bits 4-7 of byte 0: 0, 1, 2, ... 15 bytes, or NULL);
 *   1  objlock_retention_from_xml(): a PutObjectRetention body;
 *   2  objlock_hold_from_xml(): a PutObjectLegalHold body;
 *   3  objlock_parse_date(): an x-amz-object-lock-retain-until-date value
 *      (exactly len bytes, no terminator);
 *   4  objlock_conf_decode(): a stored record.
 *
 * Invariants (abort): an accepted configuration has a mode, unit and count
 * within objlock.h's limits, its XML reads back to the same configuration,
 * its encoding decodes to it, and objlock_default_until() adds exactly the
 * period for every `now` from 0 to 2^62 ns (year 2116) without overflow
 * (UBSan); a decoded record re-encodes to exactly its input; an accepted
 * retention (or date) is after 1970, whole milliseconds, prints back to the
 * same digits and reads back to the same mode and date; a refused
 * configuration writes no byte of msg past its capacity; an accepted legal
 * hold is ON or OFF and its XML reads back the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/pool.h"
#include "meta/meta.h"
#include "s3/objlock.h"
#include "xml/xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DAY_NS (86400LL * 1000000000LL)
#define CANARY 0x5a

static int same(const struct objlock_conf *a, const struct objlock_conf *b)
{
	return a->mode == b->mode && a->unit == b->unit && a->count == b->count;
}

static void check_until(const struct objlock_conf *c, const uint8_t *in, size_t len)
{
	int64_t nows[8] = {0, 1, 1700000000LL * 1000000000LL, (int64_t)1 << 62, 0, 0, 0, 0};
	int64_t days = c->unit == OBJLOCK_UNIT_YEARS ? 365 * (int64_t)c->count : c->count;

	/* a few more from the input's bytes, within [0, 2^62) */
	for (int k = 4; k < 8; k++) {
		uint64_t v = 0;
		for (size_t i = 0; i < 8 && i < len; i++)
			v = v << 8 | in[(i * 7 + (size_t)k) % len];
		nows[k] = (int64_t)(v >> 2);
	}
	for (int k = 0; k < 8; k++) {
		int64_t u = objlock_default_until(c, nows[k]);
		if (c->mode == 0 ? u != 0 : u != nows[k] + days * DAY_NS)
			abort();
	}
}

static void check_conf(const struct objlock_conf *c, const uint8_t *in, size_t len)
{
	uint8_t enc[OBJLOCK_CONF_LEN];
	struct objlock_conf d;
	struct cn_pool pool;
	struct cn_buf w;

	if (c->mode > META_LOCK_COMPLIANCE || c->unit > OBJLOCK_UNIT_YEARS ||
	    (c->mode == 0) != (c->unit == 0) || (c->mode == 0) != (c->count == 0) ||
	    c->count > (c->unit == OBJLOCK_UNIT_YEARS ? OBJLOCK_MAX_YEARS : OBJLOCK_MAX_DAYS))
		abort();
	objlock_conf_encode(c, enc);
	if (objlock_conf_decode(enc, sizeof(enc), &d) != 0 || !same(&d, c))
		abort();
	cn_pool_init(&pool);
	cn_buf_init(&w);
	objlock_conf_to_xml(c, &w);
	if (w.err || objlock_conf_from_xml(&pool, w.s, w.len, &d, NULL, 0) != 0 || !same(&d, c))
		abort();
	cn_buf_release(&w);
	cn_pool_release(&pool);
	check_until(c, in, len);
}

static void fuzz_conf(const uint8_t *in, size_t len, int capsel)
{
	char msg[32];
	size_t cap = capsel == 15 ? 0 : (size_t)capsel;
	char *m = capsel == 15 ? NULL : msg;
	struct objlock_conf c;
	struct cn_pool pool;
	int rc;

	memset(msg, CANARY, sizeof(msg));
	cn_pool_init(&pool);
	rc = objlock_conf_from_xml(&pool, (const char *)in, len, &c, m, cap);
	cn_pool_release(&pool);
	for (size_t i = cap; i < sizeof(msg); i++)
		if ((uint8_t)msg[i] != CANARY)
			abort(); /* wrote past cap */
	if (rc == 0)
		check_conf(&c, in, len);
	else if (rc != CN_EBADXML && rc != CN_EBADARG)
		abort();
	else if (rc == CN_EBADARG && cap > 1 && msg[0] == '\0')
		abort(); /* a value error says why */
}

/* The date an accepted value stands for, as S3 prints it, agrees with the
 * digits of the value: same second, same first three fraction digits. */
static void check_date(const char *s, size_t len, int64_t ns)
{
	char out[32], want[32];
	size_t i = 20;

	if (ns < 0 || ns % 1000000 != 0)
		abort();
	xml_time_iso((uint64_t)ns, out);
	memcpy(want, s, 19);
	want[10] = 'T';
	memcpy(want + 19, ".000Z", 6);
	if (s[19] == '.')
		for (int k = 0; k < 3 && i < len && s[i] >= '0' && s[i] <= '9'; k++, i++)
			want[20 + k] = s[i];
	if (memcmp(out, want, 24) != 0)
		abort();
}

static void fuzz_retention(const uint8_t *in, size_t len)
{
	struct cn_pool pool;
	struct cn_buf w;
	uint8_t mode, mode2;
	int64_t until, until2;

	cn_pool_init(&pool);
	if (objlock_retention_from_xml(&pool, (const char *)in, len, &mode, &until) != 0)
		goto out;
	if (mode == 0) {
		if (until != 0)
			abort();
		goto out;
	}
	if (mode != META_LOCK_GOVERNANCE && mode != META_LOCK_COMPLIANCE)
		abort();
	cn_buf_init(&w);
	objlock_retention_to_xml(mode, until, &w);
	if (w.err || objlock_retention_from_xml(&pool, w.s, w.len, &mode2, &until2) != 0 ||
	    mode2 != mode || until2 != until)
		abort();
	cn_buf_release(&w);
out:
	cn_pool_release(&pool);
}

static void fuzz_hold(const uint8_t *in, size_t len)
{
	struct cn_pool pool;
	struct cn_buf w;
	uint8_t hold, hold2;

	cn_pool_init(&pool);
	if (objlock_hold_from_xml(&pool, (const char *)in, len, &hold) == 0) {
		if (hold != META_HOLD_ON && hold != META_HOLD_OFF)
			abort();
		cn_buf_init(&w);
		objlock_hold_to_xml(hold, &w);
		if (w.err || objlock_hold_from_xml(&pool, w.s, w.len, &hold2) != 0 || hold2 != hold)
			abort();
		cn_buf_release(&w);
	}
	cn_pool_release(&pool);
}

static void fuzz_date(const uint8_t *in, size_t len)
{
	/* an exact-size copy: ASan sees a read past len */
	char *s = malloc(len ? len : 1);
	int64_t ns;

	if (!s)
		return;
	memcpy(s, in, len);
	if (objlock_parse_date(s, len, &ns) == 0)
		check_date(s, len, ns);
	free(s);
}

static void fuzz_record(const uint8_t *in, size_t len)
{
	uint8_t enc[OBJLOCK_CONF_LEN];
	struct objlock_conf c;

	if (objlock_conf_decode(in, len, &c) != 0)
		return;
	objlock_conf_encode(&c, enc);
	if (len != sizeof(enc) || memcmp(enc, in, len) != 0)
		abort();
	check_conf(&c, in, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 5) {
	case 0: fuzz_conf(data + 1, size - 1, data[0] >> 4); break;
	case 1: fuzz_retention(data + 1, size - 1); break;
	case 2: fuzz_hold(data + 1, size - 1); break;
	case 3: fuzz_date(data + 1, size - 1); break;
	default: fuzz_record(data + 1, size - 1); break;
	}
	return 0;
}
