/*
 * Unit tests for s3/lifecycle: the AWS user guide's example configurations
 * (those with a Transition are refused with the reason, and parse once it
 * is removed); every MalformedXML, InvalidArgument and InvalidRequest case
 * the parser knows; ids given, repeated and generated; the
 * GetBucketLifecycleConfiguration document byte for byte and back; the
 * binary encoding (exact bytes, round trips, every truncation, trailing
 * bytes, non-minimal numbers, bad enums, broken invariants); and the
 * decisions — current expiry with days rounded to the next midnight (a
 * 10 ns "day" and real days against hand-computed dates), Date rules,
 * prefix / tag / size / And filters, disabled rules, the earliest of
 * several rules, noncurrent versions with NewerNoncurrentVersions, delete
 * marker cleanup, multipart upload aborts, the x-amz-expiration value and
 * the minimal prefix set.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "s3/lifecycle.h"
#include "s3/s3err.h"

#define NS "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""
#define DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define DAY LIFECYCLE_DAY_NS
#define SEC INT64_C(1000000000)
/* A 10 ns "day" for the decision tests. */
#define D 10

/* ---- helpers ---- */

/* Returns "<LifecycleConfiguration>rules</LifecycleConfiguration>" on the
 * heap. */
static char *doc(const char *rules)
{
	struct cn_buf b;

	cn_buf_init(&b);
	cn_buf_printf(&b, "<LifecycleConfiguration " NS ">%s</LifecycleConfiguration>", rules);
	assert_int_equal(b.err, 0);
	return cn_buf_take(&b);
}

static int parse(const char *body, struct lifecycle_config **out, char *err, size_t errcap)
{
	int rc = lifecycle_from_xml(body, strlen(body), out, err, errcap);

	if (rc)
		assert_true(err[0] != 0); /* every error says why */
	return rc;
}

/* Parses a whole document that must be accepted. */
static struct lifecycle_config *ok_doc(const char *body)
{
	struct lifecycle_config *c = NULL;
	char err[256] = "";
	int rc = parse(body, &c, err, sizeof(err));

	if (rc)
		fail_msg("refused (%s: %s): %s", cn_errname(rc), err, body);
	return c;
}

/* Parses rules (the inside of LifecycleConfiguration) that must be accepted. */
static struct lifecycle_config *ok(const char *rules)
{
	char *body = doc(rules);
	struct lifecycle_config *c = ok_doc(body);

	free(body);
	return c;
}

/* A whole document must be refused with rc, the reason containing msg. */
static void bad_doc(const char *body, int want, const char *msg)
{
	struct lifecycle_config *c = (struct lifecycle_config *)&c; /* must stay untouched */
	struct lifecycle_config *before = c;
	char err[256] = "";
	int rc = parse(body, &c, err, sizeof(err));

	if (rc != want)
		fail_msg("got %s (%s), want %s: %s", cn_errname(rc), err, cn_errname(want), body);
	if (msg && !strstr(err, msg))
		fail_msg("reason '%s' lacks '%s': %s", err, msg, body);
	assert_ptr_equal(c, before);
}

static void bad(const char *rules, int want, const char *msg)
{
	char *body = doc(rules);

	bad_doc(body, want, msg);
	free(body);
}

static char *render(const struct lifecycle_config *c)
{
	struct cn_buf w;

	cn_buf_init(&w);
	lifecycle_to_xml(c, &w);
	assert_int_equal(w.err, 0);
	return cn_buf_take(&w);
}

/* Renders c, checks the bytes, and checks they parse back to the same
 * document. */
static void renders(const struct lifecycle_config *c, const char *want)
{
	char *got = render(c), *again;
	struct lifecycle_config *c2;

	if (strcmp(got, want) != 0)
		fail_msg("rendered\n%s\nwant\n%s", got, want);
	c2 = ok_doc(got);
	again = render(c2);
	assert_string_equal(again, got);
	free(again);
	free(got);
	lifecycle_config_free(c2);
}

/* Seconds since the epoch of a UTC date and time, in ns. */
static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
	/* days_from_civil, independently of the code under test: count the
	 * days month by month from 1970 (dates here are 1969..2100) */
	static const int md[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int64_t days = 0;

	if (y >= 1970) {
		for (int yy = 1970; yy < y; yy++)
			days += 365 + ((yy % 4 == 0 && yy % 100 != 0) || yy % 400 == 0);
	} else {
		for (int yy = y; yy < 1970; yy++)
			days -= 365 + ((yy % 4 == 0 && yy % 100 != 0) || yy % 400 == 0);
	}
	for (int m = 1; m < mo; m++)
		days += md[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
	days += d - 1;
	return ((days * 86400) + h * 3600 + mi * 60 + s) * SEC;
}

/* An object's tags for the callback: pairs of key, value; NULL ends. */
struct tagset {
	const char *const *kv;
	int calls;
	int fail; /* return this error instead */
};

static int get_tag(void *arg, const char *key, size_t key_len, const char **value,
		   size_t *value_len)
{
	struct tagset *t = arg;

	t->calls++;
	if (t->fail)
		return t->fail;
	for (int i = 0; t->kv && t->kv[i]; i += 2)
		if (strlen(t->kv[i]) == key_len && memcmp(t->kv[i], key, key_len) == 0) {
			*value = t->kv[i + 1];
			*value_len = strlen(t->kv[i + 1]);
			return 1;
		}
	return 0;
}

/* Writes n copies of ch and a NUL at s; returns the end. */
static char *fill(char *s, char ch, size_t n)
{
	memset(s, ch, n);
	s[n] = 0;
	return s + n;
}

/* lifecycle_current_expiry() for a key; returns the expiry, or -1 for
 * none; *id gets the rule id. */
static int64_t expiry(const struct lifecycle_config *c, const char *key, uint64_t size,
		      const struct lifecycle_tags *tags, int64_t mtime, int64_t day,
		      const char **id)
{
	int64_t at = -12345;
	const char *rid = NULL;
	int rc = lifecycle_current_expiry(c, key, strlen(key), size, tags, mtime, day, &at, &rid);

	assert_true(rc == 0 || rc == 1);
	if (id)
		*id = rid;
	if (rc == 0) {
		assert_int_equal(at, -12345); /* untouched */
		return -1;
	}
	return at;
}

/* ---- the AWS user guide's examples ---- */

/* Actions the guide elides ("transition/expiration actions") are filled
 * in with this one. */
#define ACT "<Expiration><Days>365</Days></Expiration>"
#define ON "<Status>Enabled</Status>"

static void test_doc_filter_examples(void **state)
{
	struct lifecycle_config *c;
	const struct lifecycle_rule *r;
	(void)state;

	/* a key prefix */
	c = ok("<Rule><Filter><Prefix>logs/</Prefix></Filter>" ON ACT "</Rule>");
	r = &c->rules[0];
	assert_int_equal(c->n, 1);
	assert_int_equal(r->filter.form, LIFECYCLE_FILTER_PREFIX);
	assert_string_equal(r->filter.prefix, "logs/");
	assert_int_equal(r->filter.prefix_len, 5);
	assert_int_equal(r->expiration.kind, LIFECYCLE_EXP_DAYS);
	assert_int_equal(r->expiration.days, 365);
	assert_true(r->enabled);
	assert_string_equal(r->id, "rule-1"); /* none given */
	lifecycle_config_free(c);

	/* two rules, two prefixes */
	c = ok("<Rule><Filter><Prefix>projectA/</Prefix></Filter>" ON ACT "</Rule>"
	       "<Rule><Filter><Prefix>projectB/</Prefix></Filter>" ON ACT "</Rule>");
	assert_int_equal(c->n, 2);
	assert_string_equal(c->rules[1].filter.prefix, "projectB/");
	assert_string_equal(c->rules[1].id, "rule-2");
	lifecycle_config_free(c);

	/* one tag */
	c = ok("<Rule><Filter><Tag><Key>key</Key><Value>value</Value></Tag></Filter>" ON ACT
	       "</Rule>");
	r = &c->rules[0];
	assert_int_equal(r->filter.form, LIFECYCLE_FILTER_TAG);
	assert_int_equal(r->filter.n_tags, 1);
	assert_string_equal(r->filter.tags[0].key, "key");
	assert_string_equal(r->filter.tags[0].value, "value");
	assert_false(r->filter.has_prefix);
	lifecycle_config_free(c);

	/* two tags in And */
	c = ok("<Rule><Filter><And><Tag><Key>key1</Key><Value>value1</Value></Tag>"
	       "<Tag><Key>key2</Key><Value>value2</Value></Tag></And></Filter>" ON ACT "</Rule>");
	r = &c->rules[0];
	assert_int_equal(r->filter.form, LIFECYCLE_FILTER_AND);
	assert_int_equal(r->filter.n_tags, 2);
	assert_string_equal(r->filter.tags[1].value, "value2");
	lifecycle_config_free(c);

	/* a prefix and two tags */
	c = ok("<Rule><Filter><And><Prefix>key-prefix</Prefix>"
	       "<Tag><Key>key1</Key><Value>value1</Value></Tag>"
	       "<Tag><Key>key2</Key><Value>value2</Value></Tag></And></Filter>" ON ACT "</Rule>");
	r = &c->rules[0];
	assert_true(r->filter.has_prefix);
	assert_string_equal(r->filter.prefix, "key-prefix");
	assert_int_equal(r->filter.n_tags, 2);
	lifecycle_config_free(c);

	/* an empty filter, with the guide's whitespace */
	c = ok("<Rule>\n  <Filter>\n  </Filter>\n  " ON ACT "</Rule>");
	assert_int_equal(c->rules[0].filter.form, LIFECYCLE_FILTER_EMPTY);
	assert_int_equal(c->rules[0].filter.prefix_len, 0);
	lifecycle_config_free(c);

	/* a minimum size */
	c = ok("<Rule><Filter><ObjectSizeGreaterThan>500</ObjectSizeGreaterThan></Filter>" ON ACT
	       "</Rule>");
	r = &c->rules[0];
	assert_int_equal(r->filter.form, LIFECYCLE_FILTER_GT);
	assert_true(r->filter.has_gt);
	assert_false(r->filter.has_lt);
	assert_int_equal(r->filter.size_gt, 500);
	lifecycle_config_free(c);

	/* a prefix and a size range */
	c = ok("<Rule><Filter><And><Prefix>key-prefix</Prefix>"
	       "<ObjectSizeGreaterThan>500</ObjectSizeGreaterThan>"
	       "<ObjectSizeLessThan>64000</ObjectSizeLessThan></And></Filter>" ON ACT "</Rule>");
	r = &c->rules[0];
	assert_int_equal(r->filter.size_gt, 500);
	assert_int_equal(r->filter.size_lt, 64000);
	assert_true(r->filter.has_gt && r->filter.has_lt && r->filter.has_prefix);
	lifecycle_config_free(c);
}

/* The guide's "Examples of S3 Lifecycle configuration" (1..9). */
static void test_doc_examples(void **state)
{
	struct lifecycle_config *c;
	const struct lifecycle_rule *r;
	(void)state;

	/* Example 1: transition and expiration for tax/ */
	bad("<Rule><ID>Transition and Expiration Rule</ID><Filter><Prefix>tax/</Prefix></Filter>"
	    "<Status>Enabled</Status><Transition><Days>365</Days>"
	    "<StorageClass>S3 Glacier Flexible Retrieval</StorageClass></Transition>"
	    "<Expiration><Days>3650</Days></Expiration></Rule>",
	    CN_EBADARG, "Transition actions are not supported");
	c = ok("<Rule>\n  <ID>Transition and Expiration Rule</ID>\n  <Filter>\n"
	       "     <Prefix>tax/</Prefix>\n  </Filter>\n  <Status>Enabled</Status>\n"
	       "  <Expiration>\n    <Days>3650</Days>\n  </Expiration>\n</Rule>");
	r = &c->rules[0];
	assert_string_equal(r->id, "Transition and Expiration Rule");
	assert_string_equal(r->filter.prefix, "tax/");
	assert_int_equal(r->expiration.days, 3650);
	lifecycle_config_free(c);

	/* Example 1, an empty prefix with a 0-day transition */
	bad("<Rule><ID>Archive all object same-day upon creation</ID><Filter><Prefix></Prefix>"
	    "</Filter><Status>Enabled</Status><Transition><Days>0</Days>"
	    "<StorageClass>S3 Glacier Flexible Retrieval</StorageClass></Transition></Rule>",
	    CN_EBADARG, "Transition");

	/* Example 2: an enabled and a disabled rule (the second in the legacy
	 * rule-level Prefix form), with expirations for their transitions */
	c = ok("<Rule><ID>Rule1</ID><Filter><Prefix>logs/</Prefix></Filter>"
	       "<Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>"
	       "<Rule><ID>Rule2</ID><Prefix>documents/</Prefix><Status>Disabled</Status>"
	       "<Expiration><Days>1</Days></Expiration></Rule>");
	assert_true(c->rules[0].enabled);
	assert_false(c->rules[1].enabled);
	assert_int_equal(c->rules[1].filter.form, LIFECYCLE_FILTER_LEGACY);
	assert_string_equal(c->rules[1].filter.prefix, "documents/");
	lifecycle_config_free(c);
	bad("<Rule><ID>Rule2</ID><Prefix>documents/</Prefix><Status>Disabled</Status>"
	    "<Transition><Days>0</Days><StorageClass>S3 Glacier Flexible Retrieval"
	    "</StorageClass></Transition></Rule>",
	    CN_EBADARG, "Transition");

	/* Example 3: tiering down (two transitions) */
	bad("<Rule><ID>example-id</ID><Filter><Prefix>logs/</Prefix></Filter>"
	    "<Status>Enabled</Status><Transition><Days>30</Days>"
	    "<StorageClass>STANDARD_IA</StorageClass></Transition><Transition><Days>90</Days>"
	    "<StorageClass>GLACIER</StorageClass></Transition>"
	    "<Expiration><Days>365</Days></Expiration></Rule>",
	    CN_EBADARG, "Transition");

	/* Example 4 without its transitions: two rules */
	c = ok("<Rule><ID>ClassADocRule</ID><Filter><Prefix>classA/</Prefix></Filter>"
	       "<Status>Enabled</Status><Expiration><Days>3650</Days></Expiration></Rule>"
	       "<Rule><ID>ClassBDocRule</ID><Filter><Prefix>classB/</Prefix></Filter>"
	       "<Status>Enabled</Status><Expiration><Days>365</Days></Expiration></Rule>");
	assert_int_equal(c->n, 2);
	assert_int_equal(c->rules[1].expiration.days, 365);
	lifecycle_config_free(c);

	/* Example 5.1: an empty filter expiring after a year (Rule 2's
	 * transition refused) */
	c = ok("<Rule><ID>Rule 1</ID><Filter></Filter><Status>Enabled</Status>"
	       "<Expiration><Days>365</Days></Expiration></Rule>");
	assert_int_equal(c->rules[0].filter.form, LIFECYCLE_FILTER_EMPTY);
	lifecycle_config_free(c);
	/* Example 5.4: two tag rules */
	c = ok("<Rule><ID>Rule 2</ID><Filter><Tag><Key>tag2</Key><Value>value2</Value></Tag>"
	       "</Filter><Status>Enabled</Status><Expiration><Days>14</Days></Expiration></Rule>");
	assert_int_equal(c->rules[0].filter.n_tags, 1);
	lifecycle_config_free(c);

	/* Example 6: versioned bucket (NewerNoncurrentVersions first) */
	bad("<Rule><ID>sample-rule</ID><Filter><Prefix></Prefix></Filter><Status>Enabled</Status>"
	    "<Transition><Days>90</Days><StorageClass>STANDARD_IA</StorageClass></Transition>"
	    "<NoncurrentVersionTransition><NoncurrentDays>30</NoncurrentDays>"
	    "<StorageClass>S3 Glacier Flexible Retrieval</StorageClass>"
	    "</NoncurrentVersionTransition><NoncurrentVersionExpiration>"
	    "<NewerNoncurrentVersions>5</NewerNoncurrentVersions>"
	    "<NoncurrentDays>365</NoncurrentDays></NoncurrentVersionExpiration></Rule>",
	    CN_EBADARG, "Transition");
	bad("<Rule><ID>sample-rule</ID><Filter><Prefix></Prefix></Filter><Status>Enabled</Status>"
	    "<NoncurrentVersionTransition><NoncurrentDays>30</NoncurrentDays>"
	    "<StorageClass>GLACIER</StorageClass></NoncurrentVersionTransition></Rule>",
	    CN_EBADARG, "NoncurrentVersionTransition actions are not supported");
	c = ok("<Rule>\n<ID>sample-rule</ID>\n<Filter>\n<Prefix></Prefix>\n</Filter>\n"
	       "<Status>Enabled</Status>\n<NoncurrentVersionExpiration>     \n"
	       "<NewerNoncurrentVersions>5</NewerNoncurrentVersions>\n"
	       "<NoncurrentDays>365</NoncurrentDays>    \n</NoncurrentVersionExpiration> \n"
	       "</Rule>");
	r = &c->rules[0];
	assert_int_equal(r->noncurrent.days, 365);
	assert_int_equal(r->noncurrent.newer_versions, 5);
	assert_int_equal(r->expiration.kind, LIFECYCLE_EXP_NONE);
	assert_true(r->filter.has_prefix);
	assert_int_equal(r->filter.prefix_len, 0);
	lifecycle_config_free(c);

	/* Example 7: expired object delete markers */
	c = ok("<Rule>\n   <ID>Rule 1</ID>\n    <Filter>\n      <Prefix>logs/</Prefix>\n"
	       "    </Filter>\n    <Status>Enabled</Status>\n    <Expiration>\n"
	       "       <ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker>\n"
	       "    </Expiration>\n    <NoncurrentVersionExpiration>     \n"
	       "        <NewerNoncurrentVersions>10</NewerNoncurrentVersions>\n"
	       "        <NoncurrentDays>30</NoncurrentDays>    \n"
	       "    </NoncurrentVersionExpiration>\n</Rule>");
	r = &c->rules[0];
	assert_int_equal(r->expiration.kind, LIFECYCLE_EXP_MARKER);
	assert_true(r->expiration.marker);
	assert_int_equal(r->noncurrent.newer_versions, 10);
	lifecycle_config_free(c);
	/* Example 7, current versions with a lifecycle (the guide elides the
	 * filter; one is needed beside NewerNoncurrentVersions) */
	c = ok("<Rule><Filter></Filter>" ON "<Expiration><Days>60</Days></Expiration>"
	       "<NoncurrentVersionExpiration><NewerNoncurrentVersions>10</NewerNoncurrentVersions>"
	       "<NoncurrentDays>30</NoncurrentDays></NoncurrentVersionExpiration></Rule>");
	assert_int_equal(c->rules[0].expiration.days, 60);
	lifecycle_config_free(c);

	/* Example 8: abort incomplete multipart uploads ("rule-status" made a
	 * status) */
	c = ok("<Rule>\n<ID>sample-rule</ID>\n<Filter>\n<Prefix>SomeKeyPrefix/</Prefix>\n"
	       "</Filter>\n<Status>Enabled</Status>\n<AbortIncompleteMultipartUpload>\n"
	       "<DaysAfterInitiation>7</DaysAfterInitiation>\n"
	       "</AbortIncompleteMultipartUpload>\n</Rule>");
	assert_int_equal(c->rules[0].abort_mpu_days, 7);
	lifecycle_config_free(c);
	bad("<Rule><ID>sample-rule</ID><Filter><Prefix>SomeKeyPrefix/</Prefix></Filter>"
	    "<Status>rule-status</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>7"
	    "</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>",
	    CN_EBADXML, "Status");

	/* Example 9: size-based (its transition refused; the range parses) */
	bad("<Rule><ID>Transition with a prefix and based on size</ID><Filter><And>"
	    "<Prefix>tax/</Prefix><ObjectSizeGreaterThan>500</ObjectSizeGreaterThan></And>"
	    "</Filter><Status>Enabled</Status><Transition><Days>365</Days>"
	    "<StorageClass>S3 Glacier Flexible Retrieval</StorageClass></Transition></Rule>",
	    CN_EBADARG, "Transition");
	c = ok("<Rule><ID>Transition with a prefix and based on size</ID><Filter><And>"
	       "<Prefix>tax/</Prefix><ObjectSizeGreaterThan>500</ObjectSizeGreaterThan></And>"
	       "</Filter><Status>Enabled</Status><Expiration><Days>365</Days></Expiration></Rule>"
	       "<Rule><Filter><And><ObjectSizeGreaterThan>500</ObjectSizeGreaterThan>"
	       "<ObjectSizeLessThan>64000</ObjectSizeLessThan></And></Filter>" ON ACT "</Rule>");
	assert_int_equal(c->rules[1].filter.size_lt, 64000);
	assert_false(c->rules[1].filter.has_prefix);
	lifecycle_config_free(c);

	/* The API reference's shape: no namespace, a Date, every action */
	c = ok_doc("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LifecycleConfiguration><Rule>"
		   "<Expiration><Date>2030-01-01T00:00:00.000Z</Date></Expiration>"
		   "<ID>TestOnly</ID><Filter><Prefix>documents/</Prefix></Filter>"
		   "<Status>Enabled</Status><NoncurrentVersionExpiration>"
		   "<NoncurrentDays>30</NoncurrentDays></NoncurrentVersionExpiration>"
		   "<AbortIncompleteMultipartUpload><DaysAfterInitiation>2</DaysAfterInitiation>"
		   "</AbortIncompleteMultipartUpload></Rule></LifecycleConfiguration>");
	r = &c->rules[0];
	assert_int_equal(r->expiration.kind, LIFECYCLE_EXP_DATE);
	assert_int_equal(r->expiration.date_ns, utc(2030, 1, 1, 0, 0, 0));
	assert_int_equal(r->noncurrent.days, 30);
	assert_int_equal(r->abort_mpu_days, 2);
	lifecycle_config_free(c);
}

/* What boto3 and the aws CLI send: a declaration, the namespace, Filter
 * with an empty Prefix, a rule without any filter (applies to everything,
 * as AWS takes it today). */
static void test_clients(void **state)
{
	struct lifecycle_config *c;
	(void)state;

	c = ok_doc("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LifecycleConfiguration " NS
		   "><Rule><Expiration><Days>1</Days></Expiration><ID>expire</ID><Filter>"
		   "<Prefix></Prefix></Filter><Status>Enabled</Status></Rule>"
		   "<Rule><Expiration><ExpiredObjectDeleteMarker>false</ExpiredObjectDeleteMarker>"
		   "</Expiration><ID>nofilter</ID><Status>Enabled</Status></Rule>"
		   "</LifecycleConfiguration>");
	assert_int_equal(c->n, 2);
	assert_int_equal(c->rules[0].filter.form, LIFECYCLE_FILTER_PREFIX);
	assert_int_equal(c->rules[1].filter.form, LIFECYCLE_FILTER_NONE);
	assert_int_equal(c->rules[1].expiration.kind, LIFECYCLE_EXP_MARKER);
	assert_false(c->rules[1].expiration.marker);
	lifecycle_config_free(c);

	/* xsd booleans, surrounding whitespace in numbers and Status */
	c = ok("<Rule><Status> Enabled\n</Status><Expiration><ExpiredObjectDeleteMarker> 1 "
	       "</ExpiredObjectDeleteMarker></Expiration></Rule>"
	       "<Rule><Status>Enabled</Status><Expiration><Days>\n 7 </Days></Expiration>"
	       "</Rule>");
	assert_true(c->rules[0].expiration.marker);
	assert_int_equal(c->rules[1].expiration.days, 7);
	lifecycle_config_free(c);

	/* a Tag without Value matches objects whose tag value is empty */
	c = ok("<Rule><Filter><Tag><Key>k</Key></Tag></Filter>" ON ACT "</Rule>");
	assert_string_equal(c->rules[0].filter.tags[0].value, "");
	assert_int_equal(c->rules[0].filter.tags[0].value_len, 0);
	lifecycle_config_free(c);

	/* prefixes and ids keep their bytes, spaces and escapes included */
	c = ok("<Rule><ID> a &amp; b </ID><Filter><Prefix> x&lt;y/&#13;</Prefix></Filter>" ON ACT
	       "</Rule>");
	assert_string_equal(c->rules[0].id, " a & b ");
	assert_string_equal(c->rules[0].filter.prefix, " x<y/\r");
	lifecycle_config_free(c);
}

/* ---- refusals ---- */

static void test_malformed(void **state)
{
	struct cn_buf b;
	(void)state;

	bad_doc("", CN_EBADXML, NULL);
	bad_doc("<LifecycleConfiguration>", CN_EBADXML, NULL);
	bad_doc("not xml", CN_EBADXML, NULL);
	bad_doc("<CORSConfiguration/>", CN_EBADXML, "root");
	bad_doc("<!DOCTYPE x [<!ENTITY a \"b\">]><LifecycleConfiguration/>", CN_EBADXML, NULL);
	bad("", CN_EBADXML, "no <Rule>");
	bad("text", CN_EBADXML, "holds text");
	bad("<Other/>", CN_EBADXML, "unexpected <Other>");
	/* rule shape */
	bad("<Rule>" ACT "</Rule>", CN_EBADXML, "without <Status>");
	bad("<Rule><Status>enabled</Status>" ACT "</Rule>", CN_EBADXML, "Status");
	bad("<Rule><Status></Status>" ACT "</Rule>", CN_EBADXML, "Status");
	bad("<Rule><Status><X/></Status>" ACT "</Rule>", CN_EBADXML, "holds elements");
	bad("<Rule>" ON ON ACT "</Rule>", CN_EBADXML, "more than one <Status>");
	bad("<Rule><ID>a</ID><ID>b</ID>" ON ACT "</Rule>", CN_EBADXML, "more than one <ID>");
	bad("<Rule>" ON ACT ACT "</Rule>", CN_EBADXML, "more than one <Expiration>");
	bad("<Rule>" ON ACT "<Bogus/></Rule>", CN_EBADXML, "unexpected <Bogus>");
	bad("<Rule>" ON ACT "<ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Rule>",
	    CN_EBADXML, "unexpected");
	/* text beside elements: the XML reader refuses mixed content */
	bad("<Rule>" ON ACT "x</Rule>", CN_EBADXML, "not well-formed");
	bad("<Rule>x" ON ACT "</Rule>", CN_EBADXML, "not well-formed");
	bad("<Rule><Prefix>a</Prefix><Filter/>" ON ACT "</Rule>", CN_EBADXML, "Filter and Prefix");
	bad("<Rule><Prefix><a/></Prefix>" ON ACT "</Rule>", CN_EBADXML, "holds elements");
	/* filters */
	bad("<Rule><Filter><Prefix>a</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></Filter>" ON
		    ACT "</Rule>",
	    CN_EBADXML, "Filter element can only have one of Prefix, Tag");
	bad("<Rule><Filter><Prefix>a</Prefix><Prefix>b</Prefix></Filter>" ON ACT "</Rule>",
	    CN_EBADXML, "Filter element can only have one of");
	bad("<Rule><Filter><ObjectSizeGreaterThan>1</ObjectSizeGreaterThan><ObjectSizeLessThan>9"
	    "</ObjectSizeLessThan></Filter>" ON ACT "</Rule>",
	    CN_EBADXML, "Filter element can only have one of");
	bad("<Rule><Filter><Other/></Filter>" ON ACT "</Rule>", CN_EBADXML, "unexpected <Other>");
	bad("<Rule><Filter>x</Filter>" ON ACT "</Rule>", CN_EBADXML, "holds text");
	bad("<Rule><Filter><And><Prefix>a</Prefix></And></Filter>" ON ACT "</Rule>", CN_EBADXML,
	    "at least two");
	bad("<Rule><Filter><And><ObjectSizeGreaterThan>0</ObjectSizeGreaterThan></And></Filter>" ON
		    ACT "</Rule>",
	    CN_EBADXML, "at least two");
	bad("<Rule><Filter><And><Tag><Key>k</Key></Tag></And></Filter>" ON ACT "</Rule>",
	    CN_EBADXML, "at least two");
	bad("<Rule><Filter><And></And></Filter>" ON ACT "</Rule>", CN_EBADXML, "at least two");
	bad("<Rule><Filter><And><Prefix>a</Prefix><Prefix>b</Prefix></And></Filter>" ON ACT
	    "</Rule>",
	    CN_EBADXML, "more than one <Prefix>");
	bad("<Rule><Filter><And><Prefix>a</Prefix><And/></And></Filter>" ON ACT "</Rule>",
	    CN_EBADXML, "unexpected <And>");
	bad("<Rule><Filter><Tag><Value>v</Value></Tag></Filter>" ON ACT "</Rule>", CN_EBADXML,
	    "without <Key>");
	bad("<Rule><Filter><Tag><Key>k</Key><Key>j</Key></Tag></Filter>" ON ACT "</Rule>",
	    CN_EBADXML, "more than one <Key>");
	bad("<Rule><Filter><Tag><Key>k</Key><Color/></Tag></Filter>" ON ACT "</Rule>", CN_EBADXML,
	    "unexpected <Color>");
	bad("<Rule><Filter><ObjectSizeGreaterThan>1k</ObjectSizeGreaterThan></Filter>" ON ACT
	    "</Rule>",
	    CN_EBADXML, "not an integer");
	bad("<Rule><Filter><ObjectSizeGreaterThan>9223372036854775808</ObjectSizeGreaterThan>"
	    "</Filter>" ON ACT "</Rule>",
	    CN_EBADXML, "not an integer");
	/* expiration */
	bad("<Rule>" ON "<Expiration></Expiration></Rule>", CN_EBADXML, "needs Days, Date");
	bad("<Rule>" ON "<Expiration><Days>1</Days><Date>2030-01-01T00:00:00Z</Date></Expiration>"
	    "</Rule>",
	    CN_EBADXML, "only one of Days and Date");
	bad("<Rule>" ON "<Expiration><Days>1</Days><ExpiredObjectDeleteMarker>true"
	    "</ExpiredObjectDeleteMarker></Expiration></Rule>",
	    CN_EBADXML,
	    "ExpiredObjectDeleteMarker cannot be specified with Days or Date in a Lifecycle "
	    "Expiration Policy");
	bad("<Rule>" ON "<Expiration><Date>2030-01-01</Date><ExpiredObjectDeleteMarker>false"
	    "</ExpiredObjectDeleteMarker></Expiration></Rule>",
	    CN_EBADXML, "ExpiredObjectDeleteMarker cannot be specified with Days or Date");
	bad("<Rule>" ON "<Expiration><Days>seven</Days></Expiration></Rule>", CN_EBADXML,
	    "not an integer");
	bad("<Rule>" ON "<Expiration><Days></Days></Expiration></Rule>", CN_EBADXML,
	    "not an integer");
	bad("<Rule>" ON "<Expiration><Days>1.5</Days></Expiration></Rule>", CN_EBADXML,
	    "not an integer");
	bad("<Rule>" ON "<Expiration><Days>2147483648</Days></Expiration></Rule>", CN_EBADXML,
	    "not an integer");
	bad("<Rule>" ON "<Expiration><Days>-</Days></Expiration></Rule>", CN_EBADXML,
	    "not an integer");
	bad("<Rule>" ON "<Expiration><ExpiredObjectDeleteMarker>yes</ExpiredObjectDeleteMarker>"
	    "</Expiration></Rule>",
	    CN_EBADXML, "true or false");
	bad("<Rule>" ON "<Expiration><Hours>1</Hours></Expiration></Rule>", CN_EBADXML,
	    "unexpected <Hours>");
	const char *dates[] = {
		"2030-1-01",
		"2030/01/01",
		"2030-13-01",
		"2030-02-30",
		"2029-02-29",
		"2030-01-01T00:00",
		"2030-01-01T24:00:00Z",
		"2030-01-01T00:00:00.Z",
		"2030-01-01T00:00:00+0000",
		"2030-01-01 00:00:00Z",
		"2030-01-01T00:00:00ZZ",
		"tomorrow",
		"",
	};
	for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
		char rule[256];
		snprintf(rule, sizeof(rule),
			 "<Rule>" ON "<Expiration><Date>%s</Date></Expiration></Rule>", dates[i]);
		bad(rule, CN_EBADXML, "ISO 8601");
	}
	/* noncurrent and abort shapes */
	bad("<Rule>" ON "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>"
	    "<NoncurrentDays>2</NoncurrentDays></NoncurrentVersionExpiration></Rule>",
	    CN_EBADXML, "more than one");
	bad("<Rule>" ON "<NoncurrentVersionExpiration><Days>1</Days>"
	    "</NoncurrentVersionExpiration></Rule>",
	    CN_EBADXML, "unexpected <Days>");
	bad("<Rule>" ON "<NoncurrentVersionExpiration><NoncurrentDays>x</NoncurrentDays>"
	    "</NoncurrentVersionExpiration></Rule>",
	    CN_EBADXML, "not an integer");
	bad("<Rule>" ON "<AbortIncompleteMultipartUpload><Days>1</Days>"
	    "</AbortIncompleteMultipartUpload></Rule>",
	    CN_EBADXML, "unexpected <Days>");

	/* 1001 rules; 1000 are fine */
	cn_buf_init(&b);
	cn_buf_puts(&b, "<LifecycleConfiguration>");
	for (int i = 0; i < LIFECYCLE_MAX_RULES; i++)
		cn_buf_printf(&b, "<Rule><ID>r%d</ID>" ON ACT "</Rule>", i);
	{
		struct cn_buf b2;
		struct lifecycle_config *c;

		cn_buf_init(&b2);
		cn_buf_put(&b2, b.s, b.len);
		cn_buf_puts(&b2, "</LifecycleConfiguration>");
		c = ok_doc(b2.s);
		assert_int_equal(c->n, LIFECYCLE_MAX_RULES);
		assert_string_equal(c->rules[999].id, "r999");
		lifecycle_config_free(c);
		cn_buf_release(&b2);
	}
	cn_buf_puts(&b, "<Rule>" ON ACT "</Rule></LifecycleConfiguration>");
	bad_doc(b.s, CN_EBADXML, "more than 1000 rules");
	cn_buf_release(&b);
}

static void test_invalid_argument(void **state)
{
	char *s, rule[4096];
	struct lifecycle_config *c;
	(void)state;

	/* days */
	bad("<Rule>" ON "<Expiration><Days>0</Days></Expiration></Rule>", CN_EBADARG,
	    "'Days' for Expiration action must be a positive integer");
	bad("<Rule>" ON "<Expiration><Days>-1</Days></Expiration></Rule>", CN_EBADARG,
	    "'Days' for Expiration action must be a positive integer");
	bad("<Rule>" ON "<NoncurrentVersionExpiration><NoncurrentDays>0</NoncurrentDays>"
	    "</NoncurrentVersionExpiration></Rule>",
	    CN_EBADARG,
	    "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive");
	bad("<Rule>" ON "<NoncurrentVersionExpiration></NoncurrentVersionExpiration></Rule>",
	    CN_EBADARG, "'NoncurrentDays'");
	bad("<Rule><Filter/>" ON "<NoncurrentVersionExpiration><NewerNoncurrentVersions>3"
	    "</NewerNoncurrentVersions></NoncurrentVersionExpiration></Rule>",
	    CN_EBADARG, "'NoncurrentDays'");
	bad("<Rule><Filter/>" ON "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>"
	    "<NewerNoncurrentVersions>0</NewerNoncurrentVersions></NoncurrentVersionExpiration>"
	    "</Rule>",
	    CN_EBADARG, "'NewerNoncurrentVersions'");
	bad("<Rule><Filter/>" ON "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>"
	    "<NewerNoncurrentVersions>101</NewerNoncurrentVersions></NoncurrentVersionExpiration>"
	    "</Rule>",
	    CN_EBADARG, "'NewerNoncurrentVersions'");
	c = ok("<Rule><Filter/>" ON
	       "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>"
	       "<NewerNoncurrentVersions>100</NewerNoncurrentVersions>"
	       "</NoncurrentVersionExpiration></Rule>");
	lifecycle_config_free(c);
	bad("<Rule>" ON "<AbortIncompleteMultipartUpload><DaysAfterInitiation>0"
	    "</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>",
	    CN_EBADARG,
	    "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive");
	bad("<Rule>" ON "<AbortIncompleteMultipartUpload></AbortIncompleteMultipartUpload></Rule>",
	    CN_EBADARG, "'DaysAfterInitiation'");
	/* the largest day counts are fine */
	c = ok("<Rule>" ON "<Expiration><Days>2147483647</Days></Expiration>"
	       "<AbortIncompleteMultipartUpload><DaysAfterInitiation>+2147483647"
	       "</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>");
	assert_int_equal(c->rules[0].expiration.days, INT32_MAX);
	lifecycle_config_free(c);

	/* dates */
	bad("<Rule>" ON "<Expiration><Date>2030-01-01T01:00:00Z</Date></Expiration></Rule>",
	    CN_EBADARG, "'Date' must be at midnight GMT");
	bad("<Rule>" ON "<Expiration><Date>2030-01-01T00:00:00.001Z</Date></Expiration></Rule>",
	    CN_EBADARG, "midnight");
	bad("<Rule>" ON "<Expiration><Date>2030-01-01T00:00:00+01:00</Date></Expiration></Rule>",
	    CN_EBADARG, "midnight");
	bad("<Rule>" ON "<Expiration><Date>9999-01-01</Date></Expiration></Rule>", CN_EBADARG,
	    "out of range");

	/* ids */
	s = rule + sprintf(rule, "<Rule><ID>");
	fill(s, 'i', 255);
	strcat(rule, "</ID>" ON ACT "</Rule>");
	c = ok(rule);
	assert_int_equal(c->rules[0].id_len, 255);
	lifecycle_config_free(c);
	s = rule + sprintf(rule, "<Rule><ID>");
	fill(s, 'i', 256);
	strcat(rule, "</ID>" ON ACT "</Rule>");
	bad(rule, CN_EBADARG, "ID length should not exceed allowed limit of 255");
	/* 255 two-byte characters are 255 characters */
	s = rule + sprintf(rule, "<Rule><ID>");
	for (int i = 0; i < 255; i++)
		s += sprintf(s, "\xc3\xa9");
	strcat(rule, "</ID>" ON ACT "</Rule>");
	c = ok(rule);
	assert_int_equal(c->rules[0].id_len, 510);
	lifecycle_config_free(c);
	bad("<Rule><ID>same</ID>" ON ACT "</Rule><Rule><ID>other</ID>" ON ACT
	    "</Rule><Rule><ID>same</ID>" ON ACT "</Rule>",
	    CN_EBADARG, "Rule ID must be unique. Found same ID for more than one rule");

	/* prefixes */
	s = rule + sprintf(rule, "<Rule><Filter><Prefix>");
	fill(s, 'p', 1024);
	strcat(rule, "</Prefix></Filter>" ON ACT "</Rule>");
	c = ok(rule);
	assert_int_equal(c->rules[0].filter.prefix_len, 1024);
	lifecycle_config_free(c);
	s = rule + sprintf(rule, "<Rule><Prefix>");
	fill(s, 'p', 1025);
	strcat(rule, "</Prefix>" ON ACT "</Rule>");
	bad(rule, CN_EBADARG, "longer than maximum allowed key length of 1024");

	/* tags */
	bad("<Rule><Filter><Tag><Key></Key><Value>v</Value></Tag></Filter>" ON ACT "</Rule>",
	    CN_EBADARG, "TagKey");
	s = rule + sprintf(rule, "<Rule><Filter><Tag><Key>");
	fill(s, 'k', 129);
	strcat(rule, "</Key></Tag></Filter>" ON ACT "</Rule>");
	bad(rule, CN_EBADARG, "TagKey");
	s = rule + sprintf(rule, "<Rule><Filter><Tag><Key>k</Key><Value>");
	fill(s, 'v', 257);
	strcat(rule, "</Value></Tag></Filter>" ON ACT "</Rule>");
	bad(rule, CN_EBADARG, "TagValue");
	s = rule + sprintf(rule, "<Rule><Filter><Tag><Key>");
	s = fill(s, 'k', 128);
	s += sprintf(s, "</Key><Value>");
	fill(s, 'v', 256);
	strcat(rule, "</Value></Tag></Filter>" ON ACT "</Rule>");
	c = ok(rule);
	assert_int_equal(c->rules[0].filter.tags[0].value_len, 256);
	lifecycle_config_free(c);
	bad("<Rule><Filter><And><Tag><Key>k</Key><Value>1</Value></Tag><Tag><Key>k</Key>"
	    "<Value>2</Value></Tag></And></Filter>" ON ACT "</Rule>",
	    CN_EBADARG, "Duplicate Tag Keys");
	s = rule + sprintf(rule, "<Rule><Filter><And>");
	for (int i = 0; i < 11; i++)
		s += sprintf(s, "<Tag><Key>k%d</Key></Tag>", i);
	strcat(rule, "</And></Filter>" ON ACT "</Rule>");
	bad(rule, CN_EBADARG, "cannot be greater than 10");
	s = rule + sprintf(rule, "<Rule><Filter><And>");
	for (int i = 0; i < 12; i++)
		s += sprintf(s, "<Tag><Key>k%d</Key></Tag>", i);
	strcat(rule, "</And></Filter>" ON ACT "</Rule>");
	bad(rule, CN_EBADARG, "cannot be greater than 10");
	s = rule + sprintf(rule, "<Rule><Filter><And>");
	for (int i = 0; i < 10; i++)
		s += sprintf(s, "<Tag><Key>k%d</Key></Tag>", i);
	strcat(rule, "</And></Filter>" ON ACT "</Rule>");
	c = ok(rule);
	assert_int_equal(c->rules[0].filter.n_tags, 10);
	lifecycle_config_free(c);

	/* sizes */
	bad("<Rule><Filter><ObjectSizeGreaterThan>-1</ObjectSizeGreaterThan></Filter>" ON ACT
	    "</Rule>",
	    CN_EBADARG, "'ObjectSizeGreaterThan' must be a non-negative integer");
	bad("<Rule><Filter><ObjectSizeLessThan>0</ObjectSizeLessThan></Filter>" ON ACT "</Rule>",
	    CN_EBADARG, "'ObjectSizeLessThan' must be a positive integer");
	bad("<Rule><Filter><And><ObjectSizeGreaterThan>500</ObjectSizeGreaterThan>"
	    "<ObjectSizeLessThan>500</ObjectSizeLessThan></And></Filter>" ON ACT "</Rule>",
	    CN_EBADARG, "'ObjectSizeGreaterThan' must be less than 'ObjectSizeLessThan'");
	bad("<Rule><Filter><And><ObjectSizeLessThan>100</ObjectSizeLessThan>"
	    "<ObjectSizeGreaterThan>500</ObjectSizeGreaterThan></And></Filter>" ON ACT "</Rule>",
	    CN_EBADARG, "must be less than");
	c = ok("<Rule><Filter><And><ObjectSizeGreaterThan>0</ObjectSizeGreaterThan>"
	       "<ObjectSizeLessThan>9223372036854775807</ObjectSizeLessThan></And></Filter>" ON ACT
	       "</Rule>");
	assert_int_equal(c->rules[0].filter.size_lt, INT64_MAX);
	lifecycle_config_free(c);

	/* transitions: refused wherever they are, even beside valid actions */
	bad("<Rule>" ON ACT "<Transition><Days>30</Days><StorageClass>GLACIER</StorageClass>"
	    "</Transition></Rule>",
	    CN_EBADARG, "cairn keeps every object in one storage class");
	bad("<Rule>" ON "<Transition><Date>2030-01-01T00:00:00Z</Date><StorageClass>STANDARD"
	    "</StorageClass></Transition></Rule>",
	    CN_EBADARG, "Transition actions are not supported");
}

static void test_invalid_request(void **state)
{
	(void)state;

	bad("<Rule><ID>none</ID><Filter><Prefix>a/</Prefix></Filter>" ON "</Rule>",
	    CN_EBADLIFECYCLE, "At least one action needs to be specified in a rule");
	bad("<Rule><Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter>" ON
	    "<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation>"
	    "</AbortIncompleteMultipartUpload></Rule>",
	    CN_EBADLIFECYCLE, "AbortIncompleteMultipartUpload cannot be specified with Tags");
	bad("<Rule><Filter><And><Prefix>a</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></And>"
	    "</Filter>" ON ACT
	    "<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation>"
	    "</AbortIncompleteMultipartUpload></Rule>",
	    CN_EBADLIFECYCLE, "AbortIncompleteMultipartUpload cannot be specified with Tags");
	bad("<Rule><Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter>" ON
	    "<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>"
	    "</Rule>",
	    CN_EBADLIFECYCLE, "ExpiredObjectDeleteMarker cannot be specified with Tags");
	bad("<Rule><Prefix>a/</Prefix>" ON "<NoncurrentVersionExpiration><NoncurrentDays>1"
	    "</NoncurrentDays><NewerNoncurrentVersions>2</NewerNoncurrentVersions>"
	    "</NoncurrentVersionExpiration></Rule>",
	    CN_EBADLIFECYCLE, "NewerNoncurrentVersions requires a Filter");
	bad("<Rule>" ON "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>"
	    "<NewerNoncurrentVersions>2</NewerNoncurrentVersions></NoncurrentVersionExpiration>"
	    "</Rule>",
	    CN_EBADLIFECYCLE, "NewerNoncurrentVersions requires a Filter");
}

static void test_limits_and_args(void **state)
{
	struct lifecycle_config *c = NULL;
	char big[8] = "";
	char err[4] = "";
	(void)state;

	/* over LIFECYCLE_MAX_XML: refused before it is read */
	assert_int_equal(lifecycle_from_xml(big, LIFECYCLE_MAX_XML + 1, &c, err, sizeof(err)),
			 CN_ETOOBIG);
	assert_null(c);
	/* a short err buffer gets a truncated reason; none at all is fine */
	assert_int_equal(lifecycle_from_xml("<x/>", 4, &c, err, sizeof(err)), CN_EBADXML);
	assert_int_equal(strlen(err), 3);
	assert_int_equal(lifecycle_from_xml("<x/>", 4, &c, NULL, 0), CN_EBADXML);
	lifecycle_config_free(NULL);
}

static void test_generated_ids(void **state)
{
	struct lifecycle_config *c;
	(void)state;

	/* rules 1 and 3 have no id (or an empty one); "rule-1" is taken by
	 * rule 2, so rule 1 becomes "rule-1-1" */
	c = ok("<Rule>" ON ACT "</Rule><Rule><ID>rule-1</ID>" ON ACT "</Rule><Rule><ID></ID>" ON ACT
	       "</Rule><Rule><ID>rule-1-1x</ID>" ON ACT "</Rule>");
	assert_string_equal(c->rules[0].id, "rule-1-1");
	assert_string_equal(c->rules[1].id, "rule-1");
	assert_string_equal(c->rules[2].id, "rule-3");
	assert_int_equal(c->rules[2].id_len, 6);
	lifecycle_config_free(c);
	c = ok("<Rule>" ON ACT "</Rule><Rule><ID>rule-1</ID>" ON ACT
	       "</Rule><Rule><ID>rule-1-1</ID>" ON ACT "</Rule>");
	assert_string_equal(c->rules[0].id, "rule-1-2");
	lifecycle_config_free(c);
	/* two empty ids are not a repeated id */
	c = ok("<Rule><ID></ID>" ON ACT "</Rule><Rule><ID></ID>" ON ACT "</Rule>");
	assert_string_equal(c->rules[1].id, "rule-2");
	lifecycle_config_free(c);
}

/* ---- GetBucketLifecycleConfiguration ---- */

static void test_to_xml(void **state)
{
	struct lifecycle_config *c;
	(void)state;

	c = ok("<Rule><ID>a</ID><Filter><Prefix>logs/</Prefix></Filter>" ON
	       "<Expiration><Days>30</Days></Expiration></Rule>");
	renders(c, DECL "<LifecycleConfiguration " NS "><Rule><ID>a</ID><Filter><Prefix>logs/"
			"</Prefix></Filter><Status>Enabled</Status><Expiration><Days>30</Days>"
			"</Expiration></Rule></LifecycleConfiguration>");
	lifecycle_config_free(c);

	/* every form and action, element order of the input ignored */
	c = ok("<Rule><Status>Disabled</Status><Prefix>old/</Prefix><ID>legacy</ID>"
	       "<Expiration><Date>2030-01-01T05:30:00+05:30</Date></Expiration></Rule>"
	       "<Rule><ID>none</ID>" ON "<Expiration><ExpiredObjectDeleteMarker>true"
	       "</ExpiredObjectDeleteMarker></Expiration></Rule>"
	       "<Rule><ID>empty</ID><Filter/>" ON "<AbortIncompleteMultipartUpload>"
	       "<DaysAfterInitiation>7</DaysAfterInitiation></AbortIncompleteMultipartUpload>"
	       "<NoncurrentVersionExpiration><NewerNoncurrentVersions>3</NewerNoncurrentVersions>"
	       "<NoncurrentDays>30</NoncurrentDays></NoncurrentVersionExpiration></Rule>"
	       "<Rule><ID>tag</ID><Filter><Tag><Value>v&amp;</Value><Key>k\"</Key></Tag></"
	       "Filter>" ON ACT "</Rule>"
	       "<Rule><ID>gt</ID><Filter><ObjectSizeGreaterThan>0</ObjectSizeGreaterThan></"
	       "Filter>" ON ACT "</Rule>"
	       "<Rule><ID>lt</ID><Filter><ObjectSizeLessThan>10</ObjectSizeLessThan></Filter>" ON
		       ACT "</Rule>"
	       "<Rule><ID>and</ID><Filter><And><ObjectSizeLessThan>10</ObjectSizeLessThan>"
	       "<Tag><Key>b</Key></Tag><Prefix></Prefix><Tag><Key>a</Key><Value>1</Value></Tag>"
	       "<ObjectSizeGreaterThan>1</ObjectSizeGreaterThan></And></Filter>" ON
	       "<Expiration><Days>1</Days></Expiration></Rule>"
	       "<Rule><ID>and2</ID><Filter><And><Prefix>p</Prefix><ObjectSizeLessThan>10"
	       "</ObjectSizeLessThan></And></Filter>" ON ACT "</Rule>");
	renders(c,
		DECL "<LifecycleConfiguration " NS ">"
		     "<Rule><ID>legacy</ID><Prefix>old/</Prefix><Status>Disabled</Status>"
		     "<Expiration><Date>2030-01-01T00:00:00.000Z</Date></Expiration></Rule>"
		     "<Rule><ID>none</ID><Status>Enabled</Status><Expiration>"
		     "<ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>"
		     "</Rule>"
		     "<Rule><ID>empty</ID><Filter></Filter><Status>Enabled</Status>"
		     "<NoncurrentVersionExpiration><NoncurrentDays>30</NoncurrentDays>"
		     "<NewerNoncurrentVersions>3</NewerNoncurrentVersions>"
		     "</NoncurrentVersionExpiration><AbortIncompleteMultipartUpload>"
		     "<DaysAfterInitiation>7</DaysAfterInitiation>"
		     "</AbortIncompleteMultipartUpload></Rule>"
		     "<Rule><ID>tag</ID><Filter><Tag><Key>k&quot;</Key><Value>v&amp;</Value></Tag>"
		     "</Filter><Status>Enabled</Status>" ACT "</Rule>"
		     "<Rule><ID>gt</ID><Filter><ObjectSizeGreaterThan>0</ObjectSizeGreaterThan>"
		     "</Filter><Status>Enabled</Status>" ACT "</Rule>"
		     "<Rule><ID>lt</ID><Filter><ObjectSizeLessThan>10</ObjectSizeLessThan>"
		     "</Filter><Status>Enabled</Status>" ACT "</Rule>"
		     "<Rule><ID>and</ID><Filter><And><Prefix></Prefix><Tag><Key>b</Key>"
		     "<Value></Value></Tag><Tag><Key>a</Key><Value>1</Value></Tag>"
		     "<ObjectSizeGreaterThan>1</ObjectSizeGreaterThan><ObjectSizeLessThan>10"
		     "</ObjectSizeLessThan></And></Filter><Status>Enabled</Status><Expiration>"
		     "<Days>1</Days></Expiration></Rule>"
		     "<Rule><ID>and2</ID><Filter><And><Prefix>p</Prefix><ObjectSizeLessThan>10"
		     "</ObjectSizeLessThan></And></Filter><Status>Enabled</Status>" ACT "</Rule>"
		     "</LifecycleConfiguration>");
	lifecycle_config_free(c);

	/* dates far apart: before the epoch, leap days, the last one in range */
	c = ok("<Rule><ID>d1</ID>" ON "<Expiration><Date>1969-12-31</Date></Expiration></Rule>"
	       "<Rule><ID>d2</ID>" ON "<Expiration><Date>2000-02-29T00:00:00Z</Date></Expiration>"
	       "</Rule><Rule><ID>d3</ID>" ON "<Expiration><Date>2262-04-11T00:00:00Z</Date>"
	       "</Expiration></Rule><Rule><ID>d4</ID>" ON "<Expiration>"
	       "<Date>1677-09-22T00:00:00Z</Date></Expiration></Rule>");
	assert_int_equal(c->rules[0].expiration.date_ns, -DAY);
	assert_int_equal(c->rules[1].expiration.date_ns, utc(2000, 2, 29, 0, 0, 0));
	renders(c, DECL "<LifecycleConfiguration " NS ">"
			"<Rule><ID>d1</ID><Status>Enabled</Status><Expiration>"
			"<Date>1969-12-31T00:00:00.000Z</Date></Expiration></Rule>"
			"<Rule><ID>d2</ID><Status>Enabled</Status><Expiration>"
			"<Date>2000-02-29T00:00:00.000Z</Date></Expiration></Rule>"
			"<Rule><ID>d3</ID><Status>Enabled</Status><Expiration>"
			"<Date>2262-04-11T00:00:00.000Z</Date></Expiration></Rule>"
			"<Rule><ID>d4</ID><Status>Enabled</Status><Expiration>"
			"<Date>1677-09-22T00:00:00.000Z</Date></Expiration></Rule>"
			"</LifecycleConfiguration>");
	lifecycle_config_free(c);
	bad("<Rule>" ON "<Expiration><Date>2262-04-12</Date></Expiration></Rule>", CN_EBADARG,
	    "out of range");

	/* control characters and CR survive the trip */
	c = ok("<Rule><ID>&#9;tab&#13;</ID><Prefix>a\nb</Prefix>" ON ACT "</Rule>");
	renders(c, DECL "<LifecycleConfiguration " NS "><Rule><ID>\ttab&#13;</ID><Prefix>a\nb"
			"</Prefix><Status>Enabled</Status>" ACT "</Rule></LifecycleConfiguration>");
	lifecycle_config_free(c);
}

/* ---- binary encoding ---- */

static void encode(const struct lifecycle_config *c, struct cn_buf *w)
{
	cn_buf_init(w);
	assert_int_equal(lifecycle_encode(c, w), 0);
}

/* c encodes, decodes to a config that renders and re-encodes the same. */
static void round_trip(const struct lifecycle_config *c)
{
	struct cn_buf w, w2;
	struct lifecycle_config *d = NULL;
	char *x1, *x2;

	encode(c, &w);
	assert_int_equal(lifecycle_decode(w.p, w.len, &d), 0);
	encode(d, &w2);
	assert_int_equal(w2.len, w.len);
	assert_memory_equal(w2.p, w.p, w.len);
	x1 = render(c);
	x2 = render(d);
	assert_string_equal(x1, x2);
	assert_int_equal(d->n, c->n);
	for (uint32_t i = 0; i < c->n; i++) {
		const struct lifecycle_rule *a = &c->rules[i], *b = &d->rules[i];
		assert_int_equal(a->expiration.date_ns, b->expiration.date_ns);
		assert_int_equal(a->filter.size_gt, b->filter.size_gt);
		assert_int_equal(a->filter.size_lt, b->filter.size_lt);
	}
	/* every truncation is refused (of a long record: every 61st, and the
	 * last 300) */
	for (size_t n = 0; n < w.len; n += w.len < 4096 || n + 300 >= w.len ? 1 : 61) {
		struct lifecycle_config *t = NULL;
		int rc = lifecycle_decode(w.p, n, &t);
		if (rc != CN_ECORRUPT)
			fail_msg("truncated to %zu of %zu: %s", n, w.len, cn_errname(rc));
		assert_null(t);
	}
	/* and so is a byte too many */
	cn_buf_putc(&w, 0);
	assert_int_equal(lifecycle_decode(w.p, w.len, &d), CN_ECORRUPT);
	free(x1);
	free(x2);
	cn_buf_release(&w);
	cn_buf_release(&w2);
	lifecycle_config_free(d);
}

static void test_encode_bytes(void **state)
{
	struct lifecycle_config *c;
	struct cn_buf w;
	static const uint8_t want[] = {
		1,			 /* format */
		1,			 /* one rule */
		0x03,			 /* enabled, has a Prefix */
		LIFECYCLE_FILTER_PREFIX, /* form */
		1,
		'r', /* id */
		2,
		'a',
		'/', /* prefix */
		0,   /* tags */
		1,
		1, /* Days 1 */
		0,
		0,
		0, /* noncurrent days, newer, abort */
	};
	(void)state;

	c = ok("<Rule><ID>r</ID><Filter><Prefix>a/</Prefix></Filter>" ON
	       "<Expiration><Days>1</Days></Expiration></Rule>");
	encode(c, &w);
	assert_int_equal(w.len, sizeof(want));
	assert_memory_equal(w.p, want, sizeof(want));
	cn_buf_release(&w);
	lifecycle_config_free(c);

	/* a date before the epoch, sizes and many-byte numbers */
	c = ok("<Rule><ID>x</ID><Filter><And><ObjectSizeGreaterThan>300</ObjectSizeGreaterThan>"
	       "<ObjectSizeLessThan>9223372036854775807</ObjectSizeLessThan></And></Filter>"
	       "<Status>Disabled</Status><Expiration><Date>1969-12-31</Date></Expiration></Rule>");
	encode(c, &w);
	static const uint8_t want2[] = {
		1,    1,    0x0c, LIFECYCLE_FILTER_AND,
		1,    'x',  0,	  0xac,
		0x02, /* 300 */
		0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff,
		0x7f,	 /* INT64_MAX */
		0,	 /* tags */
		2,    1, /* day -1 */
		0,    0,    0,
	};
	assert_int_equal(w.len, sizeof(want2));
	assert_memory_equal(w.p, want2, sizeof(want2));
	cn_buf_release(&w);
	lifecycle_config_free(c);
}

static void test_encode_round_trip(void **state)
{
	struct lifecycle_config *c;
	struct cn_buf b;
	(void)state;

	c = ok("<Rule><ID>legacy</ID><Prefix>old/</Prefix><Status>Disabled</Status>"
	       "<Expiration><Date>2030-01-01</Date></Expiration></Rule>"
	       "<Rule><ID>none</ID>" ON "<Expiration><ExpiredObjectDeleteMarker>true"
	       "</ExpiredObjectDeleteMarker></Expiration></Rule>"
	       "<Rule><ID>empty</ID><Filter/>" ON "<AbortIncompleteMultipartUpload>"
	       "<DaysAfterInitiation>7</DaysAfterInitiation></AbortIncompleteMultipartUpload>"
	       "<NoncurrentVersionExpiration><NewerNoncurrentVersions>3</NewerNoncurrentVersions>"
	       "<NoncurrentDays>30</NoncurrentDays></NoncurrentVersionExpiration></Rule>"
	       "<Rule><ID>tag</ID><Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter>" ON ACT
	       "</Rule>"
	       "<Rule><ID>and</ID><Filter><And><Prefix></Prefix><Tag><Key>b</Key></Tag>"
	       "<ObjectSizeGreaterThan>1</ObjectSizeGreaterThan></And></Filter>" ON
	       "<NoncurrentVersionExpiration><NoncurrentDays>4</NoncurrentDays>"
	       "<NewerNoncurrentVersions>100</NewerNoncurrentVersions>"
	       "</NoncurrentVersionExpiration></Rule>"
	       "<Rule><ID>eodm-false</ID>" ON "<Expiration><ExpiredObjectDeleteMarker>false"
	       "</ExpiredObjectDeleteMarker></Expiration></Rule>"
	       "<Rule><ID>\xc3\xa9t\xc3\xa9</ID><Filter><ObjectSizeLessThan>1</ObjectSizeLessThan>"
	       "</Filter>" ON "<Expiration><Days>2147483647</Days></Expiration></Rule>");
	round_trip(c);
	lifecycle_config_free(c);

	/* 1000 rules with long ids and prefixes */
	cn_buf_init(&b);
	for (int i = 0; i < LIFECYCLE_MAX_RULES; i++)
		cn_buf_printf(&b,
			      "<Rule><ID>rule number %04d with a longer id</ID><Filter><Prefix>"
			      "some/prefix/%d/</Prefix></Filter>" ON ACT "</Rule>",
			      i, i);
	c = ok(b.s);
	round_trip(c);
	lifecycle_config_free(c);
	cn_buf_release(&b);
}

static void test_decode_rejects(void **state)
{
	struct lifecycle_config *c = NULL;
	/* the one-rule record of test_encode_bytes, then broken copies */
	static const uint8_t good[] = {1, 1, 3, 3, 1, 'r', 2, 'a', '/', 0, 1, 1, 0, 0, 0};
	uint8_t b[64];
	(void)state;

	assert_int_equal(lifecycle_decode(good, sizeof(good), &c), 0);
	lifecycle_config_free(c);
	c = NULL;
#define TRY(rc, ...)                                                                               \
	do {                                                                                       \
		const uint8_t v_[] = {__VA_ARGS__};                                                \
		assert_int_equal(lifecycle_decode(v_, sizeof(v_), &c), (rc));                      \
		assert_null(c);                                                                    \
	} while (0)
	assert_int_equal(lifecycle_decode(b, 0, &c), CN_ECORRUPT);
	TRY(CN_EFORMAT, 2, 1, 3, 3, 1, 'r', 2, 'a', '/', 0, 1, 1, 0, 0, 0);
	TRY(CN_EFORMAT, 0);
	TRY(CN_ECORRUPT, 1, 0);		 /* no rules */
	TRY(CN_ECORRUPT, 1, 0xe9, 0x07); /* 1001 rules */
	TRY(CN_ECORRUPT, 1, 0x81, 0x00, 3, 3, 1, 'r', 2, 'a', '/', 0, 1, 1, 0, 0, 0); /* padded 1 */
	TRY(CN_ECORRUPT, 1, 1, 0x13, 3, 1, 'r', 2, 'a', '/', 0, 1, 1, 0, 0, 0); /* unknown flag */
	TRY(CN_ECORRUPT, 1, 1, 3, 8, 1, 'r', 2, 'a', '/', 0, 1, 1, 0, 0, 0);	/* form 8 */
	TRY(CN_ECORRUPT, 1, 1, 3, 4, 1, 'r', 2, 'a', '/', 0, 1, 1, 0, 0, 0);	/* TAG, no tag */
	TRY(CN_ECORRUPT, 1, 1, 1, 3, 1, 'r', 2, 'a', '/', 0, 1, 1, 0, 0, 0);  /* prefix, no flag */
	TRY(CN_ECORRUPT, 1, 1, 3, 3, 0, 2, 'a', '/', 0, 1, 1, 0, 0, 0);	      /* empty id */
	TRY(CN_ECORRUPT, 1, 1, 3, 3, 1, 0, 2, 'a', '/', 0, 1, 1, 0, 0, 0);    /* NUL id */
	TRY(CN_ECORRUPT, 1, 1, 3, 3, 1, 0xff, 2, 'a', '/', 0, 1, 1, 0, 0, 0); /* not UTF-8 */
	TRY(CN_ECORRUPT, 1, 1, 3, 3, 1, 'r', 2, 'a', '/', 0, 5, 0, 0, 0);     /* expiration 5 */
	TRY(CN_ECORRUPT, 1, 1, 3, 3, 1, 'r', 2, 'a', '/', 0, 1, 0, 0, 0, 0);  /* Days 0 */
	TRY(CN_ECORRUPT, 1, 1, 3, 3, 1, 'r', 2, 'a', '/', 0, 1, 0x80, 0x80, 0x80, 0x80, 0x08, 0, 0,
	    0);								  /* Days 2^31 */
	TRY(CN_ECORRUPT, 1, 1, 3, 3, 1, 'r', 2, 'a', '/', 0, 0, 0, 0, 0); /* no action */
	TRY(CN_ECORRUPT, 1, 1, 3, 2, 1, 'r', 2, 'a', '/', 0, 0, 1, 2, 0); /* newer, legacy form */
	TRY(CN_ECORRUPT, 1, 1, 3, 3, 1, 'r', 2, 'a', '/', 0, 1, 1, 0, 2, 0); /* newer, no days */
	TRY(CN_ECORRUPT, 1, 1, 3, 3, 1, 'r', 2, 'a', '/', 0, 0, 1, 101, 0);  /* newer 101 */
	/* a date past the ns range */
	TRY(CN_ECORRUPT, 1, 1, 3, 3, 1, 'r', 2, 'a', '/', 0, 2, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0,
	    0);
	/* an 11-byte number */
	TRY(CN_ECORRUPT, 1, 1, 3, 3, 1, 'r', 2, 'a', '/', 0, 1, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80,
	    0x80, 0x80, 0x80, 0x80, 0x00, 0, 0, 0);
	/* two rules, one id */
	TRY(CN_ECORRUPT, 1, 2, 3, 3, 1, 'r', 2, 'a', '/', 0, 1, 1, 0, 0, 0, 3, 3, 1, 'r', 2, 'a',
	    '/', 0, 1, 1, 0, 0, 0);
	/* a string longer than what is left */
	TRY(CN_ECORRUPT, 1, 1, 3, 3, 0x7f, 'r');
	/* the Tag form with a tag whose key repeats in an And */
	TRY(CN_ECORRUPT, 1, 1, 1, 7, 1, 'r', 0, 2, 1, 'k', 0, 1, 'k', 0, 1, 1, 0, 0, 0);
	TRY(CN_ECORRUPT, 1, 1, 1, 7, 1, 'r', 0, 1, 1, 'k', 0, 1, 1, 0, 0, 0); /* And of 1 */
	/* a tag with an abort */
	TRY(CN_ECORRUPT, 1, 1, 1, 4, 1, 'r', 0, 1, 1, 'k', 0, 0, 0, 0, 1);
#undef TRY
	/* the tag form is fine with Days, and so is newer in the Prefix form */
	{
		const uint8_t v[] = {1, 1, 1, 4, 1, 'r', 0, 1, 1, 'k', 0, 1, 1, 0, 0, 0};
		const uint8_t v2[] = {1, 1, 3, 3, 1, 'r', 2, 'a', '/', 0, 0, 1, 2, 0};
		assert_int_equal(lifecycle_decode(v, sizeof(v), &c), 0);
		assert_int_equal(c->rules[0].filter.form, LIFECYCLE_FILTER_TAG);
		lifecycle_config_free(c);
		assert_int_equal(lifecycle_decode(v2, sizeof(v2), &c), 0);
		assert_int_equal(c->rules[0].noncurrent.newer_versions, 2);
		lifecycle_config_free(c);
	}
	memcpy(b, good, sizeof(good));
	b[10] = 3; /* marker false: valid */
	b[11] = 0; /* ...and its stray byte becomes the noncurrent days */
	assert_int_equal(lifecycle_decode(b, sizeof(good) - 1, &c), 0);
	assert_int_equal(c->rules[0].expiration.kind, LIFECYCLE_EXP_MARKER);
	lifecycle_config_free(c);
}

static void test_encode_rejects(void **state)
{
	struct lifecycle_rule r[2];
	struct lifecycle_config c;
	struct cn_buf w;
	(void)state;

	memset(r, 0, sizeof(r));
	memset(&c, 0, sizeof(c));
	r[0].id = "a";
	r[0].id_len = 1;
	r[0].enabled = 1;
	r[0].filter.prefix = "";
	r[0].expiration.kind = LIFECYCLE_EXP_DAYS;
	r[0].expiration.days = 1;
	r[1] = r[0];
	c.rules = r;
	c.n = 1;
	cn_buf_init(&w);
	assert_int_equal(lifecycle_encode(&c, &w), 0); /* a hand-built config is fine */
	cn_buf_reset(&w);
	c.n = 2; /* same id twice */
	assert_int_equal(lifecycle_encode(&c, &w), CN_EINVAL);
	assert_int_equal(w.len, 0);
	r[1].id = "b";
	assert_int_equal(lifecycle_encode(&c, &w), 0);
	cn_buf_reset(&w);
	r[1].expiration.date_ns = 5; /* a stray field */
	assert_int_equal(lifecycle_encode(&c, &w), CN_EINVAL);
	r[1].expiration.date_ns = 0;
	r[1].filter.form = LIFECYCLE_FILTER_PREFIX; /* no has_prefix */
	assert_int_equal(lifecycle_encode(&c, &w), CN_EINVAL);
	r[1].filter.form = LIFECYCLE_FILTER_NONE;
	r[1].expiration.kind = LIFECYCLE_EXP_DATE;
	r[1].expiration.days = 0;
	r[1].expiration.date_ns = DAY + 1; /* not a midnight */
	assert_int_equal(lifecycle_encode(&c, &w), CN_EINVAL);
	c.n = 0;
	assert_int_equal(lifecycle_encode(&c, &w), CN_EINVAL);
	assert_int_equal(w.len, 0);
	cn_buf_release(&w);
}

/* ---- decisions ---- */

static void test_expiry_rounding_small_day(void **state)
{
	struct lifecycle_config *c;
	const char *id;
	(void)state;

	c = ok("<Rule><ID>three</ID>" ON "<Expiration><Days>3</Days></Expiration></Rule>");
	/* day = 10 ns: 15 + 30 = 45, the next day boundary after it is 50 */
	assert_int_equal(expiry(c, "k", 0, NULL, 15, D, &id), 50);
	assert_string_equal(id, "three");
	/* a version made on a boundary: 20 + 30 = 50 moves on to 60 */
	assert_int_equal(expiry(c, "k", 0, NULL, 20, D, NULL), 60);
	assert_int_equal(expiry(c, "k", 0, NULL, 29, D, NULL), 60);
	assert_int_equal(expiry(c, "k", 0, NULL, 0, D, NULL), 40);
	/* before the epoch */
	assert_int_equal(expiry(c, "k", 0, NULL, -1, D, NULL), 30);
	assert_int_equal(expiry(c, "k", 0, NULL, -10, D, NULL), 30);
	assert_int_equal(expiry(c, "k", 0, NULL, -11, D, NULL), 20);
	/* a one-second day, as a test server would use */
	assert_int_equal(expiry(c, "k", 0, NULL, 2 * SEC + 500, SEC, NULL), 6 * SEC);
	/* past the range: never */
	assert_int_equal(expiry(c, "k", 0, NULL, INT64_MAX - 5, D, NULL), INT64_MAX);
	lifecycle_config_free(c);
	c = ok("<Rule><ID>max</ID>" ON "<Expiration><Days>2147483647</Days></Expiration></Rule>");
	assert_int_equal(expiry(c, "k", 0, NULL, 0, DAY, NULL), INT64_MAX);
	assert_int_equal(expiry(c, "k", 0, NULL, 0, 1, NULL), INT64_C(2147483648));
	lifecycle_config_free(c);
}

static void test_expiry_real_days(void **state)
{
	struct lifecycle_config *c;
	char h[LIFECYCLE_HEADER_CAP];
	const char *id;
	int64_t at;
	(void)state;

	c = ok("<Rule><ID>three</ID>" ON "<Expiration><Days>3</Days></Expiration></Rule>"
	       "<Rule><ID>picture-deletion-rule</ID><Filter><Prefix>pictures/</Prefix></Filter>" ON
	       "<Expiration><Days>2</Days></Expiration></Rule>"
	       "<Rule><ID>one</ID><Filter><Prefix>daily/</Prefix></Filter>" ON
	       "<Expiration><Days>1</Days></Expiration></Rule>");
	/* the guide: created 1/15/2014 10:30 UTC, 3 days: 1/19/2014 00:00 UTC */
	assert_int_equal(expiry(c, "doc", 0, NULL, utc(2014, 1, 15, 10, 30, 0), DAY, NULL),
			 utc(2014, 1, 19, 0, 0, 0));
	/* created at midnight: still the 19th (the next midnight after the 18th) */
	assert_int_equal(expiry(c, "doc", 0, NULL, utc(2014, 1, 15, 0, 0, 0), DAY, NULL),
			 utc(2014, 1, 19, 0, 0, 0));
	assert_int_equal(expiry(c, "doc", 0, NULL, utc(2014, 1, 15, 23, 59, 59), DAY, NULL),
			 utc(2014, 1, 19, 0, 0, 0));
	/* x-amz-expiration for a picture put on 2012-12-20 10:00 with 2 days */
	at = expiry(c, "pictures/cat.jpg", 0, NULL, utc(2012, 12, 20, 10, 0, 0), DAY, &id);
	assert_int_equal(at, utc(2012, 12, 23, 0, 0, 0));
	assert_string_equal(id, "picture-deletion-rule");
	/* (the S3 docs print this date as "Fri"; 23 Dec 2012 was a Sunday) */
	assert_int_equal(lifecycle_expiration_header(at, id, h), 76);
	assert_string_equal(
		h,
		"expiry-date=\"Sun, 23 Dec 2012 00:00:00 GMT\", rule-id=\"picture-deletion-rule\"");
	assert_int_equal(strlen(h), 76);
	/* across a leap day and a year end */
	assert_int_equal(expiry(c, "daily/x", 0, NULL, utc(2024, 2, 28, 12, 0, 0), DAY, NULL),
			 utc(2024, 3, 1, 0, 0, 0));
	assert_int_equal(expiry(c, "daily/x", 0, NULL, utc(2023, 2, 28, 12, 0, 0), DAY, NULL),
			 utc(2023, 3, 2, 0, 0, 0));
	assert_int_equal(expiry(c, "daily/x", 0, NULL, utc(2023, 12, 31, 23, 59, 59), DAY, NULL),
			 utc(2024, 1, 2, 0, 0, 0));
	assert_int_equal(expiry(c, "daily/x", 0, NULL, utc(1969, 12, 31, 12, 0, 0), DAY, NULL),
			 utc(1970, 1, 2, 0, 0, 0));
	assert_int_equal(utc(1970, 1, 2, 0, 0, 0), 86400 * SEC); /* the helper itself */
	assert_int_equal(utc(2014, 1, 19, 0, 0, 0), INT64_C(1390089600) * SEC);
	lifecycle_config_free(c);
}

static void test_date_rules(void **state)
{
	struct lifecycle_config *c;
	const char *id;
	(void)state;

	c = ok("<Rule><ID>date</ID>" ON "<Expiration><Date>2030-01-01T00:00:00Z</Date>"
	       "</Expiration></Rule>");
	/* the date, whenever the object was made (after it: due at once) */
	assert_int_equal(expiry(c, "k", 0, NULL, utc(2020, 6, 1, 0, 0, 0), DAY, &id),
			 utc(2030, 1, 1, 0, 0, 0));
	assert_string_equal(id, "date");
	assert_int_equal(expiry(c, "k", 0, NULL, utc(2031, 6, 1, 0, 0, 0), DAY, NULL),
			 utc(2030, 1, 1, 0, 0, 0));
	/* the day length does not move a date */
	assert_int_equal(expiry(c, "k", 0, NULL, 0, D, NULL), utc(2030, 1, 1, 0, 0, 0));
	lifecycle_config_free(c);

	/* the spellings of one date */
	const char *same[] = {"2030-01-01",
			      "2030-01-01T00:00:00Z",
			      "2030-01-01T00:00:00.000Z",
			      "2030-01-01T00:00:00",
			      "2030-01-01T05:30:00+05:30",
			      "2029-12-31T19:00:00-05:00",
			      " 2030-01-01T00:00:00.000000Z\n",
			      "2030-01-01T00:00:00+00:00"};
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		char rule[256];
		snprintf(rule, sizeof(rule),
			 "<Rule>" ON "<Expiration><Date>%s</Date></Expiration></Rule>", same[i]);
		c = ok(rule);
		assert_int_equal(c->rules[0].expiration.date_ns, utc(2030, 1, 1, 0, 0, 0));
		lifecycle_config_free(c);
	}
}

static void test_filters(void **state)
{
	struct lifecycle_config *c;
	const char *const red[] = {"color", "red", "shape", "", NULL};
	const char *const blue[] = {"color", "blue", NULL};
	const char *const none[] = {NULL};
	const char *const shape[] = {"shape", "", "color", "green", NULL};
	struct tagset ts_shape = {shape, 0, 0};
	struct lifecycle_tags t_shape = {get_tag, &ts_shape};
	struct tagset ts_red = {red, 0, 0}, ts_blue = {blue, 0, 0}, ts_none = {none, 0, 0};
	struct tagset ts_err = {red, 0, CN_ECORRUPT};
	struct lifecycle_tags t_red = {get_tag, &ts_red}, t_blue = {get_tag, &ts_blue};
	struct lifecycle_tags t_none = {get_tag, &ts_none}, t_err = {get_tag, &ts_err};
	struct lifecycle_tags t_nofn = {NULL, NULL};
	int64_t at;
	(void)state;

	c = ok("<Rule><ID>p</ID><Filter><Prefix>logs/</Prefix></Filter>" ON
	       "<Expiration><Days>1</Days></Expiration></Rule>"
	       "<Rule><ID>t</ID><Filter><Tag><Key>color</Key><Value>red</Value></Tag></Filter>" ON
	       "<Expiration><Days>2</Days></Expiration></Rule>"
	       "<Rule><ID>gt</ID><Filter><ObjectSizeGreaterThan>100</ObjectSizeGreaterThan></"
	       "Filter>" ON "<Expiration><Days>3</Days></Expiration></Rule>"
	       "<Rule><ID>lt</ID><Filter><ObjectSizeLessThan>10</ObjectSizeLessThan></Filter>" ON
	       "<Expiration><Days>4</Days></Expiration></Rule>"
	       "<Rule><ID>and</ID><Filter><And><Prefix>tmp/</Prefix><Tag><Key>shape</Key></Tag>"
	       "<ObjectSizeGreaterThan>10</ObjectSizeGreaterThan>"
	       "<ObjectSizeLessThan>20</ObjectSizeLessThan></And></Filter>" ON
	       "<Expiration><Days>5</Days></Expiration></Rule>");
	/* prefix (sizes 50: neither size rule) */
	assert_int_equal(expiry(c, "logs/a", 50, NULL, 0, D, NULL), 20);
	assert_int_equal(expiry(c, "logs/", 50, NULL, 0, D, NULL), 20);
	assert_int_equal(expiry(c, "logs", 50, NULL, 0, D, NULL), -1);
	assert_int_equal(expiry(c, "Logs/a", 50, NULL, 0, D, NULL), -1);
	assert_int_equal(expiry(c, "", 50, NULL, 0, D, NULL), -1);
	/* tag: exact value; no tags, no callback, another value: no */
	assert_int_equal(expiry(c, "x", 50, &t_red, 0, D, NULL), 30);
	assert_int_equal(expiry(c, "x", 50, &t_blue, 0, D, NULL), -1);
	assert_int_equal(expiry(c, "x", 50, &t_none, 0, D, NULL), -1);
	assert_int_equal(expiry(c, "x", 50, &t_nofn, 0, D, NULL), -1);
	assert_int_equal(expiry(c, "x", 50, NULL, 0, D, NULL), -1);
	/* sizes: strictly greater / less */
	assert_int_equal(expiry(c, "x", 100, NULL, 0, D, NULL), -1);
	assert_int_equal(expiry(c, "x", 101, NULL, 0, D, NULL), 40);
	assert_int_equal(expiry(c, "x", UINT64_MAX, NULL, 0, D, NULL), 40);
	assert_int_equal(expiry(c, "x", 10, NULL, 0, D, NULL), -1);
	assert_int_equal(expiry(c, "x", 9, NULL, 0, D, NULL), 50);
	assert_int_equal(expiry(c, "x", 0, NULL, 0, D, NULL), 50);
	/* And: all of prefix, tag with an empty value, size range */
	assert_int_equal(expiry(c, "tmp/a", 15, &t_shape, 0, D, NULL), 60);
	assert_int_equal(expiry(c, "tmp/a", 15, &t_blue, 0, D, NULL), -1); /* no shape */
	assert_int_equal(expiry(c, "tmp/a", 20, &t_red, 0, D, NULL), 30);  /* rule t only */
	assert_int_equal(expiry(c, "tmp/a", 10, &t_blue, 0, D, NULL), -1);
	assert_int_equal(expiry(c, "tm/a", 15, &t_blue, 0, D, NULL), -1);
	/* a tag callback's error is returned as is */
	assert_int_equal(lifecycle_current_expiry(c, "tmp/a", 5, 15, &t_err, 0, D, &at, NULL),
			 CN_ECORRUPT);
	/* the callback is not asked when prefix or size rule a rule out */
	ts_red.calls = 0;
	assert_int_equal(expiry(c, "logs/x", 50, &t_red, 0, D, NULL), 20);
	assert_int_equal(ts_red.calls, 1); /* rule t only */
	/* keys are bytes, not C strings */
	assert_int_equal(lifecycle_current_expiry(c, "logs/\0x", 7, 50, NULL, 0, D, &at, NULL), 1);
	assert_int_equal(lifecycle_current_expiry(c, "logs/", 4, 50, NULL, 0, D, &at, NULL), 0);
	lifecycle_config_free(c);

	/* a tag filter with two tags needs both */
	c = ok("<Rule><ID>two</ID><Filter><And><Tag><Key>color</Key><Value>red</Value></Tag>"
	       "<Tag><Key>shape</Key><Value></Value></Tag></And></Filter>" ON ACT "</Rule>"
	       "<Rule><ID>empty-needs-empty</ID><Filter><Tag><Key>color</Key></Tag></Filter>" ON
	       "<Expiration><Days>1</Days></Expiration></Rule>");
	assert_int_equal(expiry(c, "x", 0, &t_red, 0, DAY, NULL), 365 * DAY + DAY);
	assert_int_equal(expiry(c, "x", 0, &t_blue, 0, DAY, NULL), -1);
	lifecycle_config_free(c);
}

static void test_disabled_and_earliest(void **state)
{
	struct lifecycle_config *c;
	const char *id;
	int64_t at;
	size_t n;
	struct lifecycle_prefix p[8];
	(void)state;

	c = ok("<Rule><ID>off</ID><Filter/><Status>Disabled</Status>"
	       "<Expiration><Days>1</Days></Expiration>"
	       "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>"
	       "</"
	       "NoncurrentVersionExpiration><AbortIncompleteMultipartUpload><DaysAfterInitiation>1"
	       "</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>"
	       "<Rule><ID>off-marker</ID><Status>Disabled</Status><Expiration>"
	       "<ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration></Rule>");
	assert_int_equal(expiry(c, "k", 0, NULL, 0, D, NULL), -1);
	assert_int_equal(
		lifecycle_noncurrent_expired(c, "k", 1, 0, NULL, 0, 99, INT64_MAX, D, NULL), 0);
	assert_int_equal(lifecycle_marker_expired(c, "k", 1, 0, 0, INT64_MAX, D, NULL), 0);
	assert_int_equal(lifecycle_upload_expired(c, "k", 1, 0, INT64_MAX, D, NULL), 0);
	assert_int_equal(lifecycle_upload_abort_at(c, "k", 1, 0, D, &at, NULL), 0);
	assert_int_equal(lifecycle_prefixes(c, p, 8, &n), 0);
	assert_int_equal(n, 0);
	lifecycle_config_free(c);

	/* several rules match: the earliest wins, the first of equals */
	c = ok("<Rule><ID>ten</ID>" ON "<Expiration><Days>10</Days></Expiration></Rule>"
	       "<Rule><ID>logs-five</ID><Filter><Prefix>logs/</Prefix></Filter>" ON
	       "<Expiration><Days>5</Days></Expiration></Rule>"
	       "<Rule><ID>logs-five-again</ID><Filter><Prefix>logs/</Prefix></Filter>" ON
	       "<Expiration><Days>5</Days></Expiration></Rule>"
	       "<Rule><ID>date</ID><Filter><Prefix>logs/old/</Prefix></Filter>" ON
	       "<Expiration><Date>1970-01-04</Date></Expiration></Rule>"
	       "<Rule><ID>off-one</ID><Status>Disabled</Status><Expiration><Days>1</Days>"
	       "</Expiration></Rule>");
	assert_int_equal(expiry(c, "x", 0, NULL, 0, DAY, &id), 11 * DAY);
	assert_string_equal(id, "ten");
	assert_int_equal(expiry(c, "logs/x", 0, NULL, 0, DAY, &id), 6 * DAY);
	assert_string_equal(id, "logs-five");
	assert_int_equal(expiry(c, "logs/old/x", 0, NULL, 0, DAY, &id), 3 * DAY);
	assert_string_equal(id, "date");
	/* a Date after the Days time loses */
	assert_int_equal(expiry(c, "logs/old/x", 0, NULL, -10 * DAY, DAY, &id), -4 * DAY);
	assert_string_equal(id, "logs-five");
	lifecycle_config_free(c);
}

static void test_noncurrent(void **state)
{
	struct lifecycle_config *c;
	const char *const tmp[] = {"kind", "tmp", NULL};
	struct tagset ts = {tmp, 0, 0};
	struct lifecycle_tags t = {get_tag, &ts};
	const char *id = NULL;
	(void)state;

	c = ok("<Rule><ID>keep3</ID><Filter><Prefix>docs/</Prefix></Filter>" ON
	       "<NoncurrentVersionExpiration><NoncurrentDays>2</NoncurrentDays>"
	       "<NewerNoncurrentVersions>3</NewerNoncurrentVersions></NoncurrentVersionExpiration>"
	       "</Rule>"
	       "<Rule><ID>big</ID><Filter><ObjectSizeGreaterThan>1000</ObjectSizeGreaterThan>"
	       "</Filter>" ON "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>"
	       "</NoncurrentVersionExpiration></Rule>"
	       "<Rule><ID>tmp</ID><Filter><Tag><Key>kind</Key><Value>tmp</Value></Tag></Filter>" ON
	       "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>"
	       "</NoncurrentVersionExpiration></Rule>"
	       "<Rule><ID>current-only</ID>" ON "<Expiration><Days>1</Days></Expiration></Rule>");
	/* docs/: noncurrent since 15 (day 10): due from 15 + 20 -> 40 */
	assert_int_equal(lifecycle_noncurrent_expired(c, "docs/a", 6, 0, NULL, 15, 3, 39, D, &id),
			 0);
	assert_int_equal(lifecycle_noncurrent_expired(c, "docs/a", 6, 0, NULL, 15, 3, 40, D, &id),
			 1);
	assert_string_equal(id, "keep3");
	/* ...but the 3 newest noncurrent versions are kept, however old */
	for (unsigned newer = 0; newer < 3; newer++)
		assert_int_equal(lifecycle_noncurrent_expired(c, "docs/a", 6, 0, NULL, 15, newer,
							      INT64_MAX, D, NULL),
				 0);
	assert_int_equal(
		lifecycle_noncurrent_expired(c, "docs/a", 6, 0, NULL, 15, 4, INT64_MAX, D, NULL),
		1);
	/* the guide's example: noncurrent on 1/2/2014 11:30, 5 days -> 1/8 00:00 */
	{
		struct lifecycle_config *c5 =
			ok("<Rule><ID>five</ID>" ON "<NoncurrentVersionExpiration><NoncurrentDays>5"
			   "</NoncurrentDays></NoncurrentVersionExpiration></Rule>");
		int64_t became = utc(2014, 1, 2, 11, 30, 0);
		assert_int_equal(lifecycle_noncurrent_expired(c5, "photo.gif", 9, 0, NULL, became,
							      0, utc(2014, 1, 8, 0, 0, 0) - 1, DAY,
							      NULL),
				 0);
		assert_int_equal(lifecycle_noncurrent_expired(c5, "photo.gif", 9, 0, NULL, became,
							      0, utc(2014, 1, 8, 0, 0, 0), DAY,
							      NULL),
				 1);
		/* and the transition example: successor on 1/15 10:30, 3 days -> 1/19 */
		lifecycle_config_free(c5);
	}
	/* sizes and tags of the noncurrent version count */
	assert_int_equal(lifecycle_noncurrent_expired(c, "x", 1, 1000, NULL, 0, 0, 20, D, &id), 0);
	assert_int_equal(lifecycle_noncurrent_expired(c, "x", 1, 1001, NULL, 0, 0, 20, D, &id), 1);
	assert_string_equal(id, "big");
	assert_int_equal(lifecycle_noncurrent_expired(c, "x", 1, 5, &t, 0, 0, 20, D, &id), 1);
	assert_string_equal(id, "tmp");
	assert_int_equal(lifecycle_noncurrent_expired(c, "x", 1, 5, NULL, 0, 0, 20, D, &id), 0);
	ts.fail = CN_EIO;
	assert_int_equal(lifecycle_noncurrent_expired(c, "x", 1, 5, &t, 0, 0, 20, D, &id), CN_EIO);
	/* not yet due: the callback is not even asked */
	ts.calls = 0;
	assert_int_equal(lifecycle_noncurrent_expired(c, "x", 1, 5, &t, 0, 0, 19, D, &id), 0);
	assert_int_equal(ts.calls, 0);
	lifecycle_config_free(c);
}

static void test_markers(void **state)
{
	struct lifecycle_config *c;
	const char *id = NULL;
	(void)state;

	c = ok("<Rule><ID>eodm</ID><Filter><Prefix>logs/</Prefix></Filter>" ON
	       "<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker>"
	       "</Expiration></Rule>"
	       "<Rule><ID>eodm-false</ID><Filter><Prefix>keep/</Prefix></Filter>" ON
	       "<Expiration><ExpiredObjectDeleteMarker>false</ExpiredObjectDeleteMarker>"
	       "</Expiration></Rule>"
	       "<Rule><ID>days</ID><Filter><And><Prefix>old/</Prefix><ObjectSizeGreaterThan>100"
	       "</ObjectSizeGreaterThan></And></Filter>" ON
	       "<Expiration><Days>2</Days></Expiration></Rule>"
	       "<Rule><ID>date</ID><Filter><Prefix>dated/</Prefix></Filter>" ON
	       "<Expiration><Date>1970-01-03</Date></Expiration></Rule>"
	       "<Rule><ID>tagged</ID><Filter><Tag><Key>k</Key></Tag></Filter>" ON
	       "<Expiration><Days>1</Days></Expiration></Rule>");
	/* a marker with no noncurrent version left goes at once */
	assert_int_equal(lifecycle_marker_expired(c, "logs/a", 6, 0, 0, 0, D, &id), 1);
	assert_string_equal(id, "eodm");
	/* ...not while versions remain */
	assert_int_equal(lifecycle_marker_expired(c, "logs/a", 6, 1, 0, INT64_MAX, D, NULL), 0);
	/* false means no action */
	assert_int_equal(lifecycle_marker_expired(c, "keep/a", 6, 0, 0, INT64_MAX, D, NULL), 0);
	/* a Days rule cleans it up once it is old enough (sizes not applied) */
	assert_int_equal(lifecycle_marker_expired(c, "old/a", 5, 0, 5, 29, D, NULL), 0);
	assert_int_equal(lifecycle_marker_expired(c, "old/a", 5, 0, 5, 30, D, &id), 1);
	assert_string_equal(id, "days");
	/* a Date rule once the date has come */
	assert_int_equal(lifecycle_marker_expired(c, "dated/a", 7, 0, 0, 2 * DAY - 1, D, NULL), 0);
	assert_int_equal(lifecycle_marker_expired(c, "dated/a", 7, 0, 0, 2 * DAY, D, &id), 1);
	assert_string_equal(id, "date");
	/* a tag rule never matches a marker; no rule for the key: no */
	assert_int_equal(lifecycle_marker_expired(c, "other", 5, 0, 0, INT64_MAX, D, NULL), 0);
	assert_int_equal(lifecycle_marker_expired(c, "logs/a", 6, 0, 0, 0, 0, NULL), CN_EINVAL);
	lifecycle_config_free(c);
}

static void test_uploads(void **state)
{
	struct lifecycle_config *c;
	const char *id = NULL;
	int64_t at = -1;
	(void)state;

	c = ok("<Rule><ID>seven</ID><Filter><Prefix>SomeKeyPrefix/</Prefix></Filter>" ON
	       "<AbortIncompleteMultipartUpload><DaysAfterInitiation>7</DaysAfterInitiation>"
	       "</AbortIncompleteMultipartUpload></Rule>"
	       "<Rule><ID>two</ID><Filter><And><Prefix>SomeKeyPrefix/fast/</Prefix>"
	       "<ObjectSizeGreaterThan>5</ObjectSizeGreaterThan></And></Filter>" ON
	       "<AbortIncompleteMultipartUpload><DaysAfterInitiation>2</DaysAfterInitiation>"
	       "</AbortIncompleteMultipartUpload></Rule>"
	       "<Rule><ID>expire-only</ID>" ON "<Expiration><Days>1</Days></Expiration></Rule>");
	assert_int_equal(lifecycle_upload_abort_at(c, "SomeKeyPrefix/a", 15,
						   utc(2024, 5, 1, 8, 0, 0), DAY, &at, &id),
			 1);
	assert_int_equal(at, utc(2024, 5, 9, 0, 0, 0));
	assert_string_equal(id, "seven");
	assert_int_equal(lifecycle_upload_expired(c, "SomeKeyPrefix/a", 15,
						  utc(2024, 5, 1, 8, 0, 0),
						  utc(2024, 5, 8, 23, 59, 59), DAY, NULL),
			 0);
	assert_int_equal(lifecycle_upload_expired(c, "SomeKeyPrefix/a", 15,
						  utc(2024, 5, 1, 8, 0, 0),
						  utc(2024, 5, 9, 0, 0, 0), DAY, &id),
			 1);
	/* the earlier of two (the size bound does not apply to uploads) */
	assert_int_equal(lifecycle_upload_abort_at(c, "SomeKeyPrefix/fast/a", 20, 3, D, &at, &id),
			 1);
	assert_int_equal(at, 30);
	assert_string_equal(id, "two");
	/* no abort rule for the key */
	at = -1;
	assert_int_equal(lifecycle_upload_abort_at(c, "other", 5, 0, D, &at, NULL), 0);
	assert_int_equal(at, -1);
	assert_int_equal(lifecycle_upload_expired(c, "other", 5, 0, INT64_MAX, D, NULL), 0);
	assert_int_equal(lifecycle_upload_expired(c, "other", 5, 0, 0, -1, NULL), CN_EINVAL);
	lifecycle_config_free(c);
}

static void test_expiration_header(void **state)
{
	char h[LIFECYCLE_HEADER_CAP], id[LIFECYCLE_ID_MAX * 4 + 2];
	int n;
	(void)state;

	n = lifecycle_expiration_header(utc(2030, 1, 1, 0, 0, 0), "r", h);
	assert_string_equal(h, "expiry-date=\"Tue, 01 Jan 2030 00:00:00 GMT\", rule-id=\"r\"");
	assert_int_equal(n, (int)strlen(h));
	/* not a midnight (a short test day), rounded down to the second */
	lifecycle_expiration_header(utc(2000, 2, 29, 13, 14, 15) + 999999999, "a\"b\\c\r\nd\x7f",
				    h);
	assert_string_equal(h, "expiry-date=\"Tue, 29 Feb 2000 13:14:15 GMT\", "
			       "rule-id=\"a%22b%5Cc%0D%0Ad%7F\"");
	/* URL-encoded, as S3 sends it: no raw UTF-8 or space in a header */
	lifecycle_expiration_header(-1, "my rule/\xc3\xa9-_.~", h);
	assert_string_equal(h, "expiry-date=\"Wed, 31 Dec 1969 23:59:59 GMT\", "
			       "rule-id=\"my%20rule%2F%C3%A9-_.~\"");
	lifecycle_expiration_header(INT64_MAX, "never", h);
	assert_string_equal(h, "expiry-date=\"Fri, 11 Apr 2262 23:47:16 GMT\", rule-id=\"never\"");
	/* the longest ids fit */
	memset(id, '"', LIFECYCLE_ID_MAX);
	id[LIFECYCLE_ID_MAX] = 0;
	n = lifecycle_expiration_header(0, id, h);
	assert_int_equal(n, 54 + 3 * LIFECYCLE_ID_MAX + 1);
	for (int i = 0; i < LIFECYCLE_ID_MAX; i++)
		memcpy(id + 4 * i, "\xf0\x9f\x98\x80", 4);
	id[4 * LIFECYCLE_ID_MAX] = 0;
	n = lifecycle_expiration_header(0, id, h);
	assert_int_equal(n, 54 + 12 * LIFECYCLE_ID_MAX + 1);
	assert_true(n < LIFECYCLE_HEADER_CAP);
	/* longer ones are refused */
	memset(id, 'x', LIFECYCLE_ID_MAX + 1);
	id[LIFECYCLE_ID_MAX + 1] = 0;
	assert_int_equal(lifecycle_expiration_header(0, id, h), CN_EINVAL);
	memset(id, 0x80, LIFECYCLE_ID_MAX * 4 + 1); /* no characters, too many bytes */
	id[LIFECYCLE_ID_MAX * 4 + 1] = 0;
	assert_int_equal(lifecycle_expiration_header(0, id, h), CN_EINVAL);
}

static void expect_prefixes(const char *rules, const char *const *want, size_t nwant)
{
	struct lifecycle_config *c = ok(rules);
	struct lifecycle_prefix p[16];
	size_t n = 99;

	assert_int_equal(lifecycle_prefixes(c, p, 16, &n), 0);
	if (n != nwant)
		fail_msg("%zu prefixes, want %zu", n, nwant);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(p[i].len, strlen(want[i]));
		assert_memory_equal(p[i].s, want[i], p[i].len);
	}
	lifecycle_config_free(c);
}

#define RULE_P(p) "<Rule><Filter><Prefix>" p "</Prefix></Filter>" ON ACT "</Rule>"

static void test_prefixes(void **state)
{
	struct lifecycle_config *c;
	struct lifecycle_prefix p[4];
	size_t n;
	(void)state;

	{
		const char *const want[] = {"a", "b", "logs/"};
		expect_prefixes(RULE_P("logs/") RULE_P("logs/2020/") RULE_P("b") RULE_P("ab")
					RULE_P("a") RULE_P("logs/") RULE_P("bz"),
				want, 3);
	}
	{
		const char *const want[] = {""};
		expect_prefixes(RULE_P("logs/") RULE_P("") RULE_P("x"), want, 1);
		/* an empty filter or none at all is the whole bucket too */
		expect_prefixes(RULE_P("logs/") "<Rule><Filter/>" ON ACT "</Rule>", want, 1);
		expect_prefixes(RULE_P("logs/") "<Rule>" ON ACT "</Rule>", want, 1);
		/* a tag or size filter has no prefix: the whole bucket */
		expect_prefixes(RULE_P("logs/") "<Rule><Filter><ObjectSizeLessThan>5"
						"</ObjectSizeLessThan></Filter>" ON ACT "</Rule>",
				want, 1);
	}
	{
		/* prefixes of every kind of rule; a disabled one does not count;
		 * "a/" sorts before "a0" and "a", a prefix of both, drops them */
		const char *const want[] = {"a/", "a0", "legacy/", "tmp/"};
		expect_prefixes(RULE_P("a0") RULE_P("a/") "<Rule><Prefix>legacy/</Prefix>" ON ACT
							  "</Rule><Rule><Filter><And><Prefix>tmp/</"
							  "Prefix><Tag><Key>k</Key>"
							  "</Tag></And></Filter>" ON ACT "</Rule>"
							  "<Rule><Filter><Prefix></Prefix></"
							  "Filter><Status>Disabled</Status>" ACT
							  "</Rule>",
				want, 4);
		const char *const want2[] = {"a"};
		expect_prefixes(RULE_P("a0") RULE_P("a/") RULE_P("a"), want2, 1);
	}
	/* too little room: the size, and CN_ETOOBIG */
	c = ok(RULE_P("a") RULE_P("b") RULE_P("c"));
	n = 0;
	assert_int_equal(lifecycle_prefixes(c, p, 2, &n), CN_ETOOBIG);
	assert_int_equal(n, 3);
	assert_memory_equal(p[0].s, "a", 1);
	assert_memory_equal(p[1].s, "b", 1);
	assert_int_equal(lifecycle_prefixes(c, NULL, 0, &n), CN_ETOOBIG);
	assert_int_equal(n, 3);
	lifecycle_config_free(c);
}

static void test_bad_day(void **state)
{
	struct lifecycle_config *c = ok("<Rule>" ON ACT "</Rule>");
	int64_t at;
	(void)state;

	assert_int_equal(lifecycle_current_expiry(c, "k", 1, 0, NULL, 0, 0, &at, NULL), CN_EINVAL);
	assert_int_equal(lifecycle_current_expiry(c, "k", 1, 0, NULL, 0, -DAY, &at, NULL),
			 CN_EINVAL);
	assert_int_equal(lifecycle_noncurrent_expired(c, "k", 1, 0, NULL, 0, 0, 0, 0, NULL),
			 CN_EINVAL);
	assert_int_equal(lifecycle_upload_abort_at(c, "k", 1, 0, 0, &at, NULL), CN_EINVAL);
	lifecycle_config_free(c);
}

/* The codes this module adds reach clients as AWS names them. */
static void test_error_mapping(void **state)
{
	const struct s3_error *e;
	(void)state;

	e = s3_error_lookup(CN_ENOLIFECYCLE);
	assert_int_equal(e->status, 404);
	assert_string_equal(e->code, "NoSuchLifecycleConfiguration");
	e = s3_error_lookup(CN_EBADLIFECYCLE);
	assert_int_equal(e->status, 400);
	assert_string_equal(e->code, "InvalidRequest");
	assert_string_equal(s3_error_lookup(CN_EBADXML)->code, "MalformedXML");
	assert_string_equal(s3_error_lookup(CN_EBADARG)->code, "InvalidArgument");
	assert_string_equal(cn_errname(CN_ENOLIFECYCLE), "CN_ENOLIFECYCLE");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doc_filter_examples),
		cmocka_unit_test(test_doc_examples),
		cmocka_unit_test(test_clients),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_invalid_argument),
		cmocka_unit_test(test_invalid_request),
		cmocka_unit_test(test_limits_and_args),
		cmocka_unit_test(test_generated_ids),
		cmocka_unit_test(test_to_xml),
		cmocka_unit_test(test_encode_bytes),
		cmocka_unit_test(test_encode_round_trip),
		cmocka_unit_test(test_decode_rejects),
		cmocka_unit_test(test_encode_rejects),
		cmocka_unit_test(test_expiry_rounding_small_day),
		cmocka_unit_test(test_expiry_real_days),
		cmocka_unit_test(test_date_rules),
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_disabled_and_earliest),
		cmocka_unit_test(test_noncurrent),
		cmocka_unit_test(test_markers),
		cmocka_unit_test(test_uploads),
		cmocka_unit_test(test_expiration_header),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_bad_day),
		cmocka_unit_test(test_error_mapping),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests_name("s3/test_lifecycle", tests, NULL, NULL);
}
