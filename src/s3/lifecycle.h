/*
 * s3/lifecycle.h — bucket lifecycle configuration: the in-memory form, the
 * LifecycleConfiguration XML (PutBucketLifecycleConfiguration in,
 * GetBucketLifecycleConfiguration out), a compact binary encoding for the
 * bucket's stored document, and the decisions a lifecycle worker asks for
 * (when a current version expires, whether a noncurrent version, a delete
 * marker or an incomplete multipart upload is due, which key ranges to walk).
 *
 * Layer: s3 (uses xml/ and core/ only). Pure: no clock, no store, no
 * randomness. The time ("now") and the length of a day (day_ns) are
 * arguments, so tests can make a day last a second; production passes
 * LIFECYCLE_DAY_NS. Object tags reach the decisions through a callback
 * (struct lifecycle_tags), so this module knows no tag format.
 *
 * Transition and NoncurrentVersionTransition are refused (InvalidArgument):
 * cairn has one storage class, so a transition could never happen, and a
 * configuration that silently did less than it says is worse than one that
 * is refused with the reason.
 *
 * Ownership: a struct lifecycle_config is returned owned by
 * lifecycle_from_xml() and lifecycle_decode() and released with
 * lifecycle_config_free(); every string it points to lives inside it.
 * It is never changed after it is returned. Thread rules: every function is
 * pure; a config may be read from any number of threads at once; callbacks
 * run on the calling thread, during the call.
 */
#ifndef CAIRN_S3_LIFECYCLE_H
#define CAIRN_S3_LIFECYCLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/pool.h"

#define LIFECYCLE_MAX_RULES 1000    /* AWS: not adjustable */
#define LIFECYCLE_ID_MAX 255	    /* characters (UTF-8 code points) */
#define LIFECYCLE_PREFIX_MAX 1024   /* bytes: the longest object key */
#define LIFECYCLE_MAX_TAGS 10	    /* per filter: an object has at most 10 */
#define LIFECYCLE_TAG_KEY_MAX 128   /* characters */
#define LIFECYCLE_TAG_VALUE_MAX 256 /* characters */
#define LIFECYCLE_NEWER_MAX 100	    /* NewerNoncurrentVersions: 1..100 */
/* Largest body lifecycle_from_xml() reads. */
#define LIFECYCLE_MAX_XML (1024 * 1024)
/* A real day. */
#define LIFECYCLE_DAY_NS (86400 * INT64_C(1000000000))
/* Room for any x-amz-expiration value lifecycle_expiration_header() writes
 * (NUL included): a date, and a rule id of 255 characters of up to 4
 * bytes, each percent-encoded (3 bytes). */
#define LIFECYCLE_HEADER_CAP 3136

/* How a rule names its objects, kept so GetBucketLifecycleConfiguration
 * answers in the form the configuration was put in. */
enum lifecycle_filter_form {
	LIFECYCLE_FILTER_NONE = 0, /* neither Filter nor Prefix: every object */
	LIFECYCLE_FILTER_LEGACY,   /* rule-level <Prefix> (the older schema) */
	LIFECYCLE_FILTER_EMPTY,	   /* <Filter/>: every object */
	LIFECYCLE_FILTER_PREFIX,   /* <Filter><Prefix> */
	LIFECYCLE_FILTER_TAG,	   /* <Filter><Tag> */
	LIFECYCLE_FILTER_GT,	   /* <Filter><ObjectSizeGreaterThan> */
	LIFECYCLE_FILTER_LT,	   /* <Filter><ObjectSizeLessThan> */
	LIFECYCLE_FILTER_AND,	   /* <Filter><And>, two predicates or more */
};

enum lifecycle_exp_kind {
	LIFECYCLE_EXP_NONE = 0,
	LIFECYCLE_EXP_DAYS,   /* days after the version's creation */
	LIFECYCLE_EXP_DATE,   /* from a date on (a UTC midnight) */
	LIFECYCLE_EXP_MARKER, /* ExpiredObjectDeleteMarker only */
};

/* Strings are NUL-terminated as well as counted. */
struct lifecycle_tag {
	const char *key, *value; /* value "" when the filter gave none */
	size_t key_len, value_len;
};

/* An object matches when its key starts with prefix, its size is above
 * size_gt (when has_gt) and below size_lt (when has_lt), and it carries
 * every tag with exactly that value. */
struct lifecycle_filter {
	uint8_t form;	    /* enum lifecycle_filter_form */
	uint8_t has_prefix; /* the form had a Prefix element (maybe empty) */
	uint8_t has_gt, has_lt;
	const char *prefix; /* "" when none */
	size_t prefix_len;
	uint64_t size_gt, size_lt;
	const struct lifecycle_tag *tags;
	uint32_t n_tags;
};

struct lifecycle_rule {
	const char *id; /* never empty: a rule put without one gets "rule-<n>" */
	size_t id_len;
	uint8_t enabled; /* Status Enabled; a disabled rule decides nothing */
	struct lifecycle_filter filter;
	struct {
		uint8_t kind;	 /* enum lifecycle_exp_kind */
		uint8_t marker;	 /* _MARKER: the ExpiredObjectDeleteMarker value */
		uint32_t days;	 /* _DAYS: 1..INT32_MAX */
		int64_t date_ns; /* _DATE: a UTC midnight, ns since the epoch */
	} expiration;
	struct {
		uint32_t days;		 /* NoncurrentDays; 0: no such action */
		uint32_t newer_versions; /* NewerNoncurrentVersions; 0: not set */
	} noncurrent;
	uint32_t abort_mpu_days; /* DaysAfterInitiation; 0: no such action */
};

/* Invariants of every config this module returns: 1 <= n <=
 * LIFECYCLE_MAX_RULES; ids are unique, 1..LIFECYCLE_ID_MAX characters;
 * each filter is consistent with its form (a TAG form has one tag, an AND
 * form two predicates or more, ...), prefix_len <= LIFECYCLE_PREFIX_MAX,
 * size_gt < size_lt when both are set, size_lt >= 1, tag keys unique; each
 * rule has an action (an expiration, a noncurrent expiration or an upload
 * abort); a rule with tags has neither an upload abort nor
 * ExpiredObjectDeleteMarker; newer_versions <= LIFECYCLE_NEWER_MAX, and is
 * set only beside noncurrent days in a rule with a Filter element; every
 * string is UTF-8 that XML can carry. */
struct lifecycle_config {
	uint32_t n;
	const struct lifecycle_rule *rules;
	struct cn_pool pool; /* private: the memory of everything above */
};

/* What an object's tags are, asked one key at a time. get() returns 1 and
 * points *value / *value_len at the tag's value (read before get() is
 * called again) when the object has a tag key (key_len bytes, not
 * NUL-terminated), 0 when it has not, or a negative error, which the
 * decision returns as is. A NULL struct lifecycle_tags (or get) means the
 * object has no tags. */
struct lifecycle_tags {
	int (*get)(void *arg, const char *key, size_t key_len, const char **value,
		   size_t *value_len);
	void *arg;
};

/* Releases c (NULL is fine). */
void lifecycle_config_free(struct lifecycle_config *c);

/* Parses a PutBucketLifecycleConfiguration body (namespaced or not; element
 * order free) into a new config, returned owned in *out. Borrows body (len
 * bytes, no NUL needed). Returns 0 or:
 *   CN_ETOOBIG        len > LIFECYCLE_MAX_XML;
 *   CN_EBADXML        not well-formed, or not the schema (MalformedXML):
 *                     another root, no rule or more than 1000, an unknown
 *                     or repeated element, a Tag without Key, text in a
 *                     container, a Status other than Enabled or
 *                     Disabled, both Filter and Prefix, a Filter with more
 *                     than one child, an And with fewer than two
 *                     predicates, an Expiration with none or both of Days
 *                     and Date, ExpiredObjectDeleteMarker beside Days or
 *                     Date, a number or date that is not one;
 *   CN_EBADARG        a value out of range (InvalidArgument): Days,
 *                     NoncurrentDays, DaysAfterInitiation not positive,
 *                     NewerNoncurrentVersions outside 1..100, a Date not at
 *                     midnight UTC or outside 1677-09-22..2262-04-11
 *                     (the int64 ns range), an id over 255 characters,
 *                     a repeated id, a prefix over 1024 bytes, a bad or
 *                     repeated tag key, more than 10 tags, negative sizes,
 *                     ObjectSizeGreaterThan >= ObjectSizeLessThan, and any
 *                     Transition or NoncurrentVersionTransition (cairn has
 *                     one storage class);
 *   CN_EBADLIFECYCLE  a rule S3 refuses as a request (InvalidRequest): no
 *                     action, AbortIncompleteMultipartUpload or
 *                     ExpiredObjectDeleteMarker with a tag filter,
 *                     NewerNoncurrentVersions without a Filter element;
 *   CN_ENOMEM.
 * On error a reason in S3's words (NUL-terminated, truncated to errcap) goes
 * to err when errcap > 0, and *out is left alone. Any thread. */
int lifecycle_from_xml(const char *body, size_t len, struct lifecycle_config **out, char *err,
		       size_t errcap);

/* Appends the GetBucketLifecycleConfiguration document to w: the XML
 * declaration, then LifecycleConfiguration (S3 namespace) with each Rule's
 * ID, filter (in its form), Status, Expiration, NoncurrentVersionExpiration
 * and AbortIncompleteMultipartUpload, in that order and rule order; no
 * whitespace between elements. The same config always gives the same bytes,
 * and they parse back to it. Borrows c, which holds the invariants above;
 * allocation failure is sticky in w->err. */
void lifecycle_to_xml(const struct lifecycle_config *c, struct cn_buf *w);

/* Appends c's binary encoding (format in lifecycle.c) to w. Returns 0,
 * CN_EINVAL when c breaks the invariants above (nothing is appended), or
 * w->err. Borrows c. */
int lifecycle_encode(const struct lifecycle_config *c, struct cn_buf *w);
/* Decodes exactly len bytes at p into a new config, returned owned in
 * *out. Never trusts its input: returns 0, CN_EFORMAT for an unknown format
 * version, CN_ECORRUPT for a truncation, trailing bytes, a non-minimal
 * number, a bad enum, or any broken invariant, CN_ENOMEM; *out is left
 * alone on error. Borrows p. */
int lifecycle_decode(const void *p, size_t len, struct lifecycle_config **out);

/* ---- decisions ----
 * Common to all: c, key (klen bytes) and tags are borrowed for the call;
 * only enabled rules count; *rule_id (when rule_id is not NULL) is set to
 * the deciding rule's id, NUL-terminated, valid as long as c. Times are ns
 * since the epoch. "d days after t" is S3's rounding: t + d * day_ns, moved
 * on to the next multiple of day_ns (the next UTC midnight for a real day)
 * strictly after it, so 10:30 on the 15th plus 3 days is the 19th at
 * midnight and midnight on the 15th plus 3 days is midnight on the 19th.
 * Sums past INT64_MAX stay at INT64_MAX (never, in practice). Each returns
 * CN_EINVAL when day_ns <= 0, or a tag callback's negative error. */

/* When the current version of key (size bytes, created or last replaced at
 * mtime_ns) expires: 1 with the earliest time any matching Days or Date
 * rule gives in *expire_at_ns (ties: the first rule), 0 when no rule
 * expires it. A Date rule's time is its date, even when that is before
 * mtime_ns (the object is due at once). What the worker compares with now,
 * and what x-amz-expiration reports. */
int lifecycle_current_expiry(const struct lifecycle_config *c, const char *key, size_t klen,
			     uint64_t size, const struct lifecycle_tags *tags, int64_t mtime_ns,
			     int64_t day_ns, int64_t *expire_at_ns, const char **rule_id);

/* Writes the x-amz-expiration value for an expiry from
 * lifecycle_current_expiry() to out, NUL-terminated:
 *   expiry-date="Fri, 23 Dec 2012 00:00:00 GMT", rule-id="picture-deletion-rule"
 * (the date to the second, rounded down). rule_id (NUL-terminated,
 * borrowed) is URL-encoded, as S3 sends it: every byte but A-Z a-z 0-9
 * - _ . ~ as %XX, so the value is always a valid header field of ASCII
 * (a space, a quote, UTF-8 included). Returns the length, or
 * CN_EINVAL when rule_id is over LIFECYCLE_ID_MAX characters. */
int lifecycle_expiration_header(int64_t expire_at_ns, const char *rule_id,
				char out[LIFECYCLE_HEADER_CAP]);

/* Whether a noncurrent version of key (size bytes; a noncurrent delete
 * marker passes 0) is due for NoncurrentVersionExpiration: 1 when a
 * matching rule's NoncurrentDays have passed since became_noncurrent_ns
 * (the creation of its successor), rounded as above, at now, and — when the
 * rule sets NewerNoncurrentVersions N — at least N noncurrent versions of
 * the key are newer than this one (newer_count, delete markers not
 * counted: S3 retains the N newest); else 0. */
int lifecycle_noncurrent_expired(const struct lifecycle_config *c, const char *key, size_t klen,
				 uint64_t size, const struct lifecycle_tags *tags,
				 int64_t became_noncurrent_ns, unsigned newer_count, int64_t now,
				 int64_t day_ns, const char **rule_id);

/* Whether the current delete marker of key (created at marker_mtime_ns)
 * may be removed: 1 when no noncurrent version of the key is left
 * (noncurrent_count == 0: an "expired object delete marker") and a matching
 * rule says ExpiredObjectDeleteMarker true, or a matching Days or Date rule
 * has come due for it (S3 cleans such markers up under those rules too);
 * else 0. A marker has no tags and no size: a rule with tags never matches
 * it, size bounds are not applied. */
int lifecycle_marker_expired(const struct lifecycle_config *c, const char *key, size_t klen,
			     unsigned noncurrent_count, int64_t marker_mtime_ns, int64_t now,
			     int64_t day_ns, const char **rule_id);

/* When an incomplete multipart upload of key, initiated at initiated_ns, is
 * to be aborted: 1 with the earliest time a matching
 * AbortIncompleteMultipartUpload rule gives (DaysAfterInitiation, rounded
 * as above) in *abort_at_ns, for the worker and for x-amz-abort-date; 0
 * when no rule aborts it. Uploads match by prefix only: those rules have no
 * tags, and an upload has no size yet. */
int lifecycle_upload_abort_at(const struct lifecycle_config *c, const char *key, size_t klen,
			      int64_t initiated_ns, int64_t day_ns, int64_t *abort_at_ns,
			      const char **rule_id);
/* 1 when that time has come at now, else 0. */
int lifecycle_upload_expired(const struct lifecycle_config *c, const char *key, size_t klen,
			     int64_t initiated_ns, int64_t now, int64_t day_ns,
			     const char **rule_id);

/* One key range to walk: the keys that start with s (len bytes, borrowed
 * from the config). */
struct lifecycle_prefix {
	const char *s;
	size_t len;
};

/* The smallest set of prefixes that covers every object, version and
 * upload an enabled rule can act on, in ascending byte order: a prefix that
 * another one in the set starts is dropped, so ranges never overlap; a set
 * of one "" means the whole bucket; none means no enabled rule. Writes up
 * to cap entries to out and the set's size to *n. Returns 0, CN_ETOOBIG
 * when *n > cap (cap >= c->n always suffices), CN_ENOMEM. */
int lifecycle_prefixes(const struct lifecycle_config *c, struct lifecycle_prefix *out, size_t cap,
		       size_t *n);

#endif
