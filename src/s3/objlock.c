/*
 * s3/objlock.c — see objlock.h. Shapes and messages follow the S3 API
 * reference (PutObjectLockConfiguration, PutObjectRetention,
 * PutObjectLegalHold).
 */
#include "s3/objlock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "meta/meta.h"
#include "xml/xml.h"

#define NS_S3 "http://s3.amazonaws.com/doc/2006-03-01/"
#define DAY_NS (86400LL * 1000000000LL)

uint8_t objlock_mode_parse(const char *s)
{
	if (s && strcmp(s, "GOVERNANCE") == 0)
		return META_LOCK_GOVERNANCE;
	if (s && strcmp(s, "COMPLIANCE") == 0)
		return META_LOCK_COMPLIANCE;
	return META_LOCK_NONE;
}

const char *objlock_mode_name(uint8_t mode)
{
	return mode == META_LOCK_COMPLIANCE ? "COMPLIANCE" : "GOVERNANCE";
}

uint8_t objlock_hold_parse(const char *s)
{
	if (s && strcmp(s, "ON") == 0)
		return META_HOLD_ON;
	if (s && strcmp(s, "OFF") == 0)
		return META_HOLD_OFF;
	return META_HOLD_NONE;
}

static int num(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int objlock_parse_date(const char *s, size_t len, int64_t *ns)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	struct tm tm;
	int y, mo, d, h, mi, se, ms = 0;
	size_t i = 19;
	time_t t;

	if (!s || len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
	    s[13] != ':' || s[16] != ':')
		return -1;
	y = num(s, 4);
	mo = num(s + 5, 2);
	d = num(s + 8, 2);
	h = num(s + 11, 2);
	mi = num(s + 14, 2);
	se = num(s + 17, 2);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h < 0 || h > 23 ||
	    mi < 0 || mi > 59 || se < 0 || se > 59)
		return -1;
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return -1;
	if (s[i] == '.') {
		int digits = 0;
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++)
			if (digits < 3)
				ms = ms * 10 + (s[i] - '0');
		if (!digits)
			return -1;
		for (; digits < 3; digits++)
			ms *= 10;
	}
	/* UTC only: 'Z' or a zero offset */
	if (!(len - i == 1 && (s[i] == 'Z' || s[i] == 'z')) &&
	    !(len - i == 6 && (memcmp(s + i, "+00:00", 6) == 0 || memcmp(s + i, "-00:00", 6) == 0)))
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	t = timegm(&tm);
	if (t < 0 || (int64_t)t > INT64_MAX / 1000000000LL - 1)
		return -1;
	*ns = (int64_t)t * 1000000000LL + (int64_t)ms * 1000000LL;
	return 0;
}

/* ---- bucket configuration ---- */

static int bad_arg(char *msg, size_t cap, const char *m)
{
	if (msg && cap)
		snprintf(msg, cap, "%s", m);
	return CN_EBADARG;
}

/* A period: digits only, 1..max. */
static int period(const char *s, uint32_t max, uint32_t *out, char *msg, size_t cap)
{
	uint64_t v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 12)
		return bad_arg(msg, cap,
			       "Default retention period must be a positive integer value");
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return bad_arg(msg, cap,
				       "Default retention period must be a positive integer value");
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v == 0)
		return bad_arg(msg, cap,
			       "Default retention period must be a positive integer value");
	if (v > max)
		return bad_arg(msg, cap, "Default retention period is too large.");
	*out = (uint32_t)v;
	return 0;
}

int objlock_conf_from_xml(struct cn_pool *pool, const char *body, size_t len,
			  struct objlock_conf *out, char *msg, size_t cap)
{
	struct xml_node *root, *rule, *dr;
	const char *en, *mode, *days, *years;

	memset(out, 0, sizeof(*out));
	if (xml_parse(pool, body, len, &root) || strcmp(root->name, "ObjectLockConfiguration") != 0)
		return CN_EBADXML;
	en = xml_child_text(root, "ObjectLockEnabled");
	if (!en || strcmp(en, "Enabled") != 0)
		return CN_EBADXML;
	rule = xml_child(root, "Rule");
	if (!rule)
		return 0;
	dr = xml_child(rule, "DefaultRetention");
	if (!dr)
		return CN_EBADXML;
	mode = xml_child_text(dr, "Mode");
	days = xml_child_text(dr, "Days");
	years = xml_child_text(dr, "Years");
	out->mode = objlock_mode_parse(mode);
	if (!out->mode || (days && years) || (!days && !years))
		return CN_EBADXML;
	if (days) {
		out->unit = OBJLOCK_UNIT_DAYS;
		return period(days, OBJLOCK_MAX_DAYS, &out->count, msg, cap);
	}
	out->unit = OBJLOCK_UNIT_YEARS;
	return period(years, OBJLOCK_MAX_YEARS, &out->count, msg, cap);
}

void objlock_conf_to_xml(const struct objlock_conf *c, struct cn_buf *w)
{
	xmlw_decl(w);
	xmlw_open(w, "ObjectLockConfiguration", NS_S3);
	xmlw_elem(w, "ObjectLockEnabled", "Enabled");
	if (c->mode) {
		xmlw_open(w, "Rule", NULL);
		xmlw_open(w, "DefaultRetention", NULL);
		xmlw_elem(w, "Mode", objlock_mode_name(c->mode));
		xmlw_elem_u64(w, c->unit == OBJLOCK_UNIT_YEARS ? "Years" : "Days", c->count);
		xmlw_close(w, "DefaultRetention");
		xmlw_close(w, "Rule");
	}
	xmlw_close(w, "ObjectLockConfiguration");
}

void objlock_conf_encode(const struct objlock_conf *c, uint8_t out[OBJLOCK_CONF_LEN])
{
	out[0] = 1;
	out[1] = c->mode;
	out[2] = c->unit;
	for (int i = 0; i < 4; i++)
		out[3 + i] = (uint8_t)(c->count >> (8 * i));
}

int objlock_conf_decode(const void *p, size_t len, struct objlock_conf *out)
{
	const uint8_t *b = p;

	memset(out, 0, sizeof(*out));
	if (len != OBJLOCK_CONF_LEN || b[0] != 1)
		return CN_ECORRUPT;
	out->mode = b[1];
	out->unit = b[2];
	out->count =
		(uint32_t)b[3] | (uint32_t)b[4] << 8 | (uint32_t)b[5] << 16 | (uint32_t)b[6] << 24;
	if (out->mode > META_LOCK_COMPLIANCE || out->unit > OBJLOCK_UNIT_YEARS ||
	    (out->mode == 0) != (out->unit == 0) || (out->mode == 0) != (out->count == 0) ||
	    out->count > (out->unit == OBJLOCK_UNIT_YEARS ? OBJLOCK_MAX_YEARS : OBJLOCK_MAX_DAYS))
		return CN_ECORRUPT;
	return 0;
}

int64_t objlock_default_until(const struct objlock_conf *c, int64_t now)
{
	int64_t span;

	if (!c->mode)
		return 0;
	span = (int64_t)c->count * (c->unit == OBJLOCK_UNIT_YEARS ? 365 : 1) * DAY_NS;
	/* 100 years past a clock after ~2162 is past int64 ns: the latest time */
	return now > INT64_MAX - span ? INT64_MAX : now + span;
}

/* ---- a version's retention and legal hold ---- */

int objlock_retention_from_xml(struct cn_pool *pool, const char *body, size_t len, uint8_t *mode,
			       int64_t *until)
{
	struct xml_node *root;
	const char *m, *d;

	*mode = 0;
	*until = 0;
	if (xml_parse(pool, body, len, &root) || strcmp(root->name, "Retention") != 0)
		return CN_EBADXML;
	m = xml_child_text(root, "Mode");
	d = xml_child_text(root, "RetainUntilDate");
	if (!m && !d)
		return 0;
	if (!m || !d)
		return CN_EBADXML;
	*mode = objlock_mode_parse(m);
	if (!*mode || objlock_parse_date(d, strlen(d), until))
		return CN_EBADXML;
	return 0;
}

void objlock_retention_to_xml(uint8_t mode, int64_t until, struct cn_buf *w)
{
	xmlw_decl(w);
	xmlw_open(w, "Retention", NS_S3);
	xmlw_elem(w, "Mode", objlock_mode_name(mode));
	xmlw_elem_time(w, "RetainUntilDate", (uint64_t)until);
	xmlw_close(w, "Retention");
}

int objlock_hold_from_xml(struct cn_pool *pool, const char *body, size_t len, uint8_t *hold)
{
	struct xml_node *root;

	if (xml_parse(pool, body, len, &root) || strcmp(root->name, "LegalHold") != 0)
		return CN_EBADXML;
	*hold = objlock_hold_parse(xml_child_text(root, "Status"));
	return *hold ? 0 : CN_EBADXML;
}

void objlock_hold_to_xml(uint8_t hold, struct cn_buf *w)
{
	xmlw_decl(w);
	xmlw_open(w, "LegalHold", NS_S3);
	xmlw_elem(w, "Status", hold == META_HOLD_ON ? "ON" : "OFF");
	xmlw_close(w, "LegalHold");
}
