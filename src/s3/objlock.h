/*
 * s3/objlock.h — S3 Object Lock documents: the bucket's configuration
 * (ObjectLockConfiguration, stored as the bucket configuration document
 * META_BCONF_OBJECT_LOCK), a version's Retention and LegalHold bodies, and
 * the dates they carry.
 *
 * Pure functions over bytes (unit tested, no server state); enforcement
 * lives in meta/apply.c, the API in s3/bucket_objlock.c.
 *
 * Ownership: parsers allocate in the caller's pool; writers append to the
 * caller's cn_buf. Thread rules: any thread.
 */
#ifndef CAIRN_S3_OBJLOCK_H
#define CAIRN_S3_OBJLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/pool.h"

/* A default retention longer than this is refused (AWS: 100 years). */
#define OBJLOCK_MAX_DAYS 36500u
#define OBJLOCK_MAX_YEARS 100u
#define OBJLOCK_CONF_LEN 7 /* encoded size */

enum objlock_unit { OBJLOCK_UNIT_NONE = 0, OBJLOCK_UNIT_DAYS = 1, OBJLOCK_UNIT_YEARS = 2 };

struct objlock_conf {
	uint8_t mode;	/* default retention: enum meta_lock_mode, NONE = no rule */
	uint8_t unit;	/* enum objlock_unit; NONE iff mode NONE */
	uint32_t count; /* days or years, 1..OBJLOCK_MAX_* */
};

/* ObjectLockConfiguration XML. CN_EBADXML for a wrong shape (missing
 * ObjectLockEnabled, a Rule without DefaultRetention, Days and Years
 * together...), CN_EBADARG for a period that is not a positive integer or
 * too long (msg: AWS's words). */
int objlock_conf_from_xml(struct cn_pool *pool, const char *body, size_t len,
			  struct objlock_conf *out, char *msg, size_t cap);
void objlock_conf_to_xml(const struct objlock_conf *c, struct cn_buf *w);

/* Stored form: 1 version (1), 1 mode, 1 unit, 4 count (LE). decode:
 * CN_ECORRUPT for anything else. */
void objlock_conf_encode(const struct objlock_conf *c, uint8_t out[OBJLOCK_CONF_LEN]);
int objlock_conf_decode(const void *p, size_t len, struct objlock_conf *out);

/* The retain-until date the bucket's default gives an object created at
 * now (ns); 0 when the configuration has no default rule. A year is 365
 * days, as AWS counts it. */
int64_t objlock_default_until(const struct objlock_conf *c, int64_t now);

/* Retention XML: mode and date together, or neither (an empty Retention:
 * remove). CN_EBADXML otherwise, or for an unknown mode or a bad date. */
int objlock_retention_from_xml(struct cn_pool *pool, const char *body, size_t len, uint8_t *mode,
			       int64_t *until);
void objlock_retention_to_xml(uint8_t mode, int64_t until, struct cn_buf *w);

/* LegalHold XML: Status ON or OFF (META_HOLD_*). CN_EBADXML otherwise. */
int objlock_hold_from_xml(struct cn_pool *pool, const char *body, size_t len, uint8_t *hold);
void objlock_hold_to_xml(uint8_t hold, struct cn_buf *w);

/* "GOVERNANCE" / "COMPLIANCE" (exact case, as S3) -> mode; 0 otherwise. */
uint8_t objlock_mode_parse(const char *s);
const char *objlock_mode_name(uint8_t mode);
/* "ON" / "OFF" -> META_HOLD_ON / _OFF; 0 otherwise. */
uint8_t objlock_hold_parse(const char *s);

/* ISO 8601 UTC "YYYY-MM-DDTHH:MM:SS[.fff...]Z" (or a "+00:00" offset),
 * to ns, milliseconds kept. -1 when it is not one. */
int objlock_parse_date(const char *s, size_t len, int64_t *ns);

#endif
