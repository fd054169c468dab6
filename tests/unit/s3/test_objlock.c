/*
 * Unit tests for s3/objlock: ObjectLockConfiguration bodies as botocore
 * writes them and every shape and value error; GetObjectLockConfiguration
 * XML byte for byte; the stored encoding (exact bytes, round trips, every
 * corruption); default retention arithmetic; Retention and LegalHold
 * bodies; the ISO 8601 dates S3 clients send.
 */
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/pool.h"
#include "meta/meta.h"
#include "s3/objlock.h"

#define NS "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""
#define DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define DAY_NS (86400LL * 1000000000LL)

static int conf(const char *xml, struct objlock_conf *c, char *msg, size_t cap)
{
	struct cn_pool p;
	int rc;

	cn_pool_init(&p);
	rc = objlock_conf_from_xml(&p, xml, strlen(xml), c, msg, cap);
	cn_pool_release(&p);
	return rc;
}

static void test_conf_parse(void **state)
{
	struct objlock_conf c;
	char msg[160];

	(void)state;
	/* boto3's put_object_lock_configuration body */
	assert_int_equal(conf("<ObjectLockConfiguration " NS "><ObjectLockEnabled>Enabled"
			      "</ObjectLockEnabled><Rule><DefaultRetention><Mode>GOVERNANCE</Mode>"
			      "<Days>30</Days></DefaultRetention></Rule></ObjectLockConfiguration>",
			      &c, msg, sizeof(msg)),
			 0);
	assert_int_equal(c.mode, META_LOCK_GOVERNANCE);
	assert_int_equal(c.unit, OBJLOCK_UNIT_DAYS);
	assert_int_equal(c.count, 30);
	assert_int_equal(conf("<ObjectLockConfiguration><ObjectLockEnabled>Enabled"
			      "</ObjectLockEnabled><Rule><DefaultRetention><Years>2</Years>"
			      "<Mode>COMPLIANCE</Mode></DefaultRetention></Rule>"
			      "</ObjectLockConfiguration>",
			      &c, msg, sizeof(msg)),
			 0);
	assert_int_equal(c.mode, META_LOCK_COMPLIANCE);
	assert_int_equal(c.unit, OBJLOCK_UNIT_YEARS);
	assert_int_equal(c.count, 2);
	/* enabled, no rule */
	assert_int_equal(conf("<ObjectLockConfiguration><ObjectLockEnabled>Enabled"
			      "</ObjectLockEnabled></ObjectLockConfiguration>",
			      &c, msg, sizeof(msg)),
			 0);
	assert_int_equal(c.mode, 0);
	assert_int_equal(c.count, 0);
}

static void test_conf_errors(void **state)
{
	static const struct {
		const char *xml;
		int rc;
	} cases[] = {
		{"<ObjectLockConfiguration/>", CN_EBADXML},
		{"<ObjectLockConfiguration><ObjectLockEnabled>Disabled</ObjectLockEnabled>"
		 "</ObjectLockConfiguration>",
		 CN_EBADXML},
		{"<Other><ObjectLockEnabled>Enabled</ObjectLockEnabled></Other>", CN_EBADXML},
		{"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule/>"
		 "</ObjectLockConfiguration>",
		 CN_EBADXML},
		{"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule>"
		 "<DefaultRetention><Days>1</Days></DefaultRetention></Rule>"
		 "</ObjectLockConfiguration>",
		 CN_EBADXML},
		{"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule>"
		 "<DefaultRetention><Mode>governance</Mode><Days>1</Days></DefaultRetention></Rule>"
		 "</ObjectLockConfiguration>",
		 CN_EBADXML},
		{"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule>"
		 "<DefaultRetention><Mode>GOVERNANCE</Mode><Days>1</Days><Years>1</Years>"
		 "</DefaultRetention></Rule></ObjectLockConfiguration>",
		 CN_EBADXML},
		{"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule>"
		 "<DefaultRetention><Mode>GOVERNANCE</Mode></DefaultRetention></Rule>"
		 "</ObjectLockConfiguration>",
		 CN_EBADXML},
		{"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule>"
		 "<DefaultRetention><Mode>GOVERNANCE</Mode><Days>0</Days></DefaultRetention></Rule>"
		 "</ObjectLockConfiguration>",
		 CN_EBADARG},
		{"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule>"
		 "<DefaultRetention><Mode>GOVERNANCE</Mode><Days>-1</Days></DefaultRetention>"
		 "</Rule></ObjectLockConfiguration>",
		 CN_EBADARG},
		{"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule>"
		 "<DefaultRetention><Mode>GOVERNANCE</Mode><Days>36501</Days></DefaultRetention>"
		 "</Rule></ObjectLockConfiguration>",
		 CN_EBADARG},
		{"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule>"
		 "<DefaultRetention><Mode>COMPLIANCE</Mode><Years>101</Years></DefaultRetention>"
		 "</Rule></ObjectLockConfiguration>",
		 CN_EBADARG},
		{"<ObjectLockConfiguration><ObjectLockEnabled>Enabled", CN_EBADXML},
	};
	struct objlock_conf c;
	char msg[160];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;
		msg[0] = 0;
		rc = conf(cases[i].xml, &c, msg, sizeof(msg));
		if (rc != cases[i].rc)
			fail_msg("case %zu: want %s got %s", i, cn_errname(cases[i].rc),
				 cn_errname(rc));
		if (rc == CN_EBADARG)
			assert_true(msg[0] != 0); /* AWS's words for a value error */
	}
	assert_int_equal(conf("<ObjectLockConfiguration><ObjectLockEnabled>Enabled"
			      "</ObjectLockEnabled><Rule><DefaultRetention><Mode>GOVERNANCE</Mode>"
			      "<Days>0</Days></DefaultRetention></Rule></ObjectLockConfiguration>",
			      &c, msg, sizeof(msg)),
			 CN_EBADARG);
	assert_string_equal(msg, "Default retention period must be a positive integer value");
}

static void test_conf_xml(void **state)
{
	struct objlock_conf c = {META_LOCK_COMPLIANCE, OBJLOCK_UNIT_YEARS, 3};
	struct cn_buf w;

	(void)state;
	cn_buf_init(&w);
	objlock_conf_to_xml(&c, &w);
	assert_int_equal(w.err, 0);
	assert_int_equal(w.len,
			 strlen(DECL "<ObjectLockConfiguration " NS
				     "><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule>"
				     "<DefaultRetention><Mode>COMPLIANCE</Mode><Years>3</Years>"
				     "</DefaultRetention></Rule></ObjectLockConfiguration>"));
	assert_memory_equal(w.p,
			    DECL "<ObjectLockConfiguration " NS
				 "><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule>"
				 "<DefaultRetention><Mode>COMPLIANCE</Mode><Years>3</Years>"
				 "</DefaultRetention></Rule></ObjectLockConfiguration>",
			    w.len);
	cn_buf_release(&w);
	memset(&c, 0, sizeof(c));
	cn_buf_init(&w);
	objlock_conf_to_xml(&c, &w);
	assert_memory_equal(w.p,
			    DECL "<ObjectLockConfiguration " NS
				 "><ObjectLockEnabled>Enabled</ObjectLockEnabled>"
				 "</ObjectLockConfiguration>",
			    w.len);
	cn_buf_release(&w);
}

static void test_conf_codec(void **state)
{
	struct objlock_conf c = {META_LOCK_GOVERNANCE, OBJLOCK_UNIT_DAYS, 0x01020304 & 0x7fff}, d;
	uint8_t enc[OBJLOCK_CONF_LEN], bad[OBJLOCK_CONF_LEN];
	const uint8_t want[OBJLOCK_CONF_LEN] = {1, 1, 1, 0x04, 0x03, 0, 0};

	(void)state;
	c.count = 0x0304;
	objlock_conf_encode(&c, enc);
	assert_memory_equal(enc, want, sizeof(want));
	assert_int_equal(objlock_conf_decode(enc, sizeof(enc), &d), 0);
	assert_int_equal(d.mode, c.mode);
	assert_int_equal(d.unit, c.unit);
	assert_int_equal(d.count, c.count);
	/* every truncation and a trailing byte */
	for (size_t n = 0; n < sizeof(enc); n++)
		assert_int_equal(objlock_conf_decode(enc, n, &d), CN_ECORRUPT);
	{
		uint8_t longer[OBJLOCK_CONF_LEN + 1] = {0};
		memcpy(longer, enc, sizeof(enc));
		assert_int_equal(objlock_conf_decode(longer, sizeof(longer), &d), CN_ECORRUPT);
	}
	/* version, mode, unit, count out of range or inconsistent */
	static const uint8_t bads[][OBJLOCK_CONF_LEN] = {
		{2, 1, 1, 1, 0, 0, 0}, {1, 3, 1, 1, 0, 0, 0},	{1, 1, 3, 1, 0, 0, 0},
		{1, 1, 0, 1, 0, 0, 0}, {1, 0, 1, 1, 0, 0, 0},	{1, 1, 1, 0, 0, 0, 0},
		{1, 0, 0, 1, 0, 0, 0}, {1, 1, 2, 102, 0, 0, 0}, {1, 1, 1, 0xa5, 0x8e, 0, 0},
	};
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		memcpy(bad, bads[i], sizeof(bad));
		if (objlock_conf_decode(bad, sizeof(bad), &d) != CN_ECORRUPT)
			fail_msg("bad encoding %zu accepted", i);
	}
	/* the empty configuration (enabled, no rule) */
	memset(&c, 0, sizeof(c));
	objlock_conf_encode(&c, enc);
	assert_int_equal(objlock_conf_decode(enc, sizeof(enc), &d), 0);
	assert_int_equal(d.mode, 0);
}

static void test_default_until(void **state)
{
	struct objlock_conf none = {0}, days = {META_LOCK_GOVERNANCE, OBJLOCK_UNIT_DAYS, 7},
			    years = {META_LOCK_COMPLIANCE, OBJLOCK_UNIT_YEARS, 2};
	int64_t now = 1700000000LL * 1000000000LL;

	(void)state;
	assert_int_equal(objlock_default_until(&none, now), 0);
	assert_int_equal(objlock_default_until(&days, now), now + 7 * DAY_NS);
	assert_int_equal(objlock_default_until(&years, now), now + 730 * DAY_NS);
	/* past int64 ns (a clock after ~2162 with 100 years): the latest time */
	years.count = OBJLOCK_MAX_YEARS;
	assert_int_equal(objlock_default_until(&years, INT64_MAX - DAY_NS), INT64_MAX);
	assert_int_equal(objlock_default_until(&days, INT64_MAX - 7 * DAY_NS), INT64_MAX);
	assert_int_equal(objlock_default_until(&days, INT64_MAX - 8 * DAY_NS), INT64_MAX - DAY_NS);
}

static void test_dates(void **state)
{
	int64_t ns;

	(void)state;
	assert_int_equal(objlock_parse_date("2030-01-02T03:04:05Z", 20, &ns), 0);
	assert_int_equal(ns, 1893553445LL * 1000000000LL);
	assert_int_equal(objlock_parse_date("2030-01-02T03:04:05.123Z", 24, &ns), 0);
	assert_int_equal(ns, 1893553445LL * 1000000000LL + 123000000LL);
	assert_int_equal(objlock_parse_date("2030-01-02T03:04:05.1Z", 22, &ns), 0);
	assert_int_equal(ns, 1893553445LL * 1000000000LL + 100000000LL);
	assert_int_equal(objlock_parse_date("2030-01-02T03:04:05.123456789Z", 30, &ns), 0);
	assert_int_equal(ns, 1893553445LL * 1000000000LL + 123000000LL);
	assert_int_equal(objlock_parse_date("2030-01-02T03:04:05+00:00", 25, &ns), 0);
	assert_int_equal(ns, 1893553445LL * 1000000000LL);
	assert_int_equal(objlock_parse_date("2028-02-29T00:00:00Z", 20, &ns), 0);
	static const char *const bad[] = {
		"2030-01-02T03:04:05",
		"2030-01-02 03:04:05Z",
		"2030-13-02T03:04:05Z",
		"2030-01-32T03:04:05Z",
		"2029-02-29T00:00:00Z",
		"2030-01-02T24:00:00Z",
		"2030-01-02T03:60:00Z",
		"2030-01-02T03:04:05+01:00",
		"2030-01-02T03:04:05.Z",
		"1969-12-31T23:59:59Z",
		"2030-1-02T03:04:05Z",
		"2030-01-02T03:04:05ZZ",
		"x030-01-02T03:04:05Z",
		"",
		"2030-01-02",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (objlock_parse_date(bad[i], strlen(bad[i]), &ns) != -1)
			fail_msg("accepted %s", bad[i]);
	assert_int_equal(objlock_parse_date(NULL, 0, &ns), -1);
}

static void test_retention_and_hold(void **state)
{
	struct cn_pool p;
	struct cn_buf w;
	uint8_t mode, hold;
	int64_t until;

	(void)state;
	cn_pool_init(&p);
#define RET(x) objlock_retention_from_xml(&p, x, strlen(x), &mode, &until)
	assert_int_equal(RET("<Retention " NS "><Mode>COMPLIANCE</Mode><RetainUntilDate>"
			     "2030-01-02T03:04:05Z</RetainUntilDate></Retention>"),
			 0);
	assert_int_equal(mode, META_LOCK_COMPLIANCE);
	assert_int_equal(until, 1893553445LL * 1000000000LL);
	/* empty: remove */
	assert_int_equal(RET("<Retention/>"), 0);
	assert_int_equal(mode, 0);
	assert_int_equal(until, 0);
	assert_int_equal(RET("<Retention><Mode>COMPLIANCE</Mode></Retention>"), CN_EBADXML);
	assert_int_equal(RET("<Retention><RetainUntilDate>2030-01-02T03:04:05Z</RetainUntilDate>"
			     "</Retention>"),
			 CN_EBADXML);
	assert_int_equal(RET("<Retention><Mode>LOCKED</Mode><RetainUntilDate>2030-01-02T03:04:05Z"
			     "</RetainUntilDate></Retention>"),
			 CN_EBADXML);
	assert_int_equal(RET("<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>soon"
			     "</RetainUntilDate></Retention>"),
			 CN_EBADXML);
	assert_int_equal(RET("<LegalHold/>"), CN_EBADXML);
#undef RET
#define HOLD(x) objlock_hold_from_xml(&p, x, strlen(x), &hold)
	assert_int_equal(HOLD("<LegalHold " NS "><Status>ON</Status></LegalHold>"), 0);
	assert_int_equal(hold, META_HOLD_ON);
	assert_int_equal(HOLD("<LegalHold><Status>OFF</Status></LegalHold>"), 0);
	assert_int_equal(hold, META_HOLD_OFF);
	assert_int_equal(HOLD("<LegalHold><Status>on</Status></LegalHold>"), CN_EBADXML);
	assert_int_equal(HOLD("<LegalHold/>"), CN_EBADXML);
	assert_int_equal(HOLD("<Retention><Status>ON</Status></Retention>"), CN_EBADXML);
#undef HOLD
	cn_pool_release(&p);

	cn_buf_init(&w);
	objlock_retention_to_xml(META_LOCK_GOVERNANCE, 1893553445LL * 1000000000LL + 5000000, &w);
	assert_memory_equal(w.p,
			    DECL "<Retention " NS "><Mode>GOVERNANCE</Mode><RetainUntilDate>"
				 "2030-01-02T03:04:05.005Z</RetainUntilDate></Retention>",
			    w.len);
	cn_buf_release(&w);
	cn_buf_init(&w);
	objlock_hold_to_xml(META_HOLD_ON, &w);
	assert_memory_equal(w.p, DECL "<LegalHold " NS "><Status>ON</Status></LegalHold>", w.len);
	cn_buf_release(&w);
	assert_int_equal(objlock_mode_parse("GOVERNANCE"), META_LOCK_GOVERNANCE);
	assert_int_equal(objlock_mode_parse("COMPLIANCE"), META_LOCK_COMPLIANCE);
	assert_int_equal(objlock_mode_parse("Compliance"), 0);
	assert_int_equal(objlock_mode_parse(NULL), 0);
	assert_int_equal(objlock_hold_parse("OFF"), META_HOLD_OFF);
	assert_int_equal(objlock_hold_parse(""), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conf_parse),	   cmocka_unit_test(test_conf_errors),
		cmocka_unit_test(test_conf_xml),	   cmocka_unit_test(test_conf_codec),
		cmocka_unit_test(test_default_until),	   cmocka_unit_test(test_dates),
		cmocka_unit_test(test_retention_and_hold),
	};

	unit_filter_from_env();
	return cmocka_run_group_tests_name("s3/test_objlock", tests, NULL, NULL);
}
