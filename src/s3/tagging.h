/*
 * s3/tagging.h — object and bucket tag sets: the Tagging XML document of
 * Put/Get{Object,Bucket}Tagging (both ways), the x-amz-tagging header of
 * PutObject, CopyObject and CreateMultipartUpload (both ways), a compact
 * binary encoding for version and bucket records, and the lookup policy
 * conditions need (s3:ExistingObjectTag/<key>).
 *
 * Layer: s3 (uses xml/ and core/ only). Pure: no metadata or store access.
 *
 * Invariants of every struct tag_set this module fills (and the only sets
 * tagging_encode() accepts): n <= TAGGING_MAX_BUCKET; every key and value
 * is valid UTF-8 of allowed characters only (Unicode letters, numbers and
 * separators, and + - = . _ : / @), NUL-terminated at its length; a key
 * is 1..TAGGING_KEY_MAX_CHARS characters and does not start with "aws:", a
 * value 0..TAGGING_VALUE_MAX_CHARS; keys are unique and in ascending byte
 * order (so a set has one form, and two equal sets encode the same).
 * Characters are counted as S3 counts them, in UTF-16 code units: one for
 * a character of the Basic Multilingual Plane, two above it.
 *
 * Thread rules: every function is pure and may be called from any thread.
 */
#ifndef CAIRN_S3_TAGGING_H
#define CAIRN_S3_TAGGING_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define TAGGING_MAX_OBJECT 10 /* tags on an object */
#define TAGGING_MAX_BUCKET 50 /* tags on a bucket */
#define TAGGING_KEY_MAX_CHARS 128
#define TAGGING_VALUE_MAX_CHARS 256
/* Bytes a key or value may take (NUL excluded): 4 per character bounds
 * UTF-8 whichever way characters are counted (3 suffice for UTF-16 units). */
#define TAGGING_KEY_MAX_BYTES (4 * TAGGING_KEY_MAX_CHARS)
#define TAGGING_VALUE_MAX_BYTES (4 * TAGGING_VALUE_MAX_CHARS)
/* Largest Tagging body tagging_from_xml() reads: 50 tags of the longest
 * keys and values, every character written as a character reference, stay
 * below it. */
#define TAGGING_MAX_XML (256 * 1024)
/* Room tagging_to_header() needs for any set of up to TAGGING_MAX_OBJECT
 * tags (NUL included): every byte percent-encoded, '=' and '&'. */
#define TAGGING_HEADER_CAP                                                                         \
	(TAGGING_MAX_OBJECT * (3 * (TAGGING_KEY_MAX_BYTES + TAGGING_VALUE_MAX_BYTES) + 2))

struct tagging_tag {
	uint16_t key_len, value_len; /* bytes, NUL excluded */
	char key[TAGGING_KEY_MAX_BYTES + 1];
	char value[TAGGING_VALUE_MAX_BYTES + 1];
};

/* Plain data (about 75 KiB): no release, and no allocation behind it, so
 * tagging_decode() cannot run out of memory and a set is copied with
 * memcpy. Too big for a small stack: take it from the request's pool or
 * the heap. Bytes past each length and past t[n - 1] are unspecified:
 * compare sets through their fields, not with memcmp. */
struct tag_set {
	unsigned n;
	struct tagging_tag t[TAGGING_MAX_BUCKET];
};

/* Fills *out from a PutObjectTagging / PutBucketTagging body:
 * <Tagging><TagSet><Tag><Key/><Value/></Tag>...</TagSet></Tagging>,
 * namespaced or not, an empty TagSet allowed. Key and Value text is taken
 * as it is (spaces are tag characters, so nothing is trimmed). for_bucket
 * (non-zero) applies a bucket's limits, else an object's. Borrows body
 * (len bytes, no NUL needed). Returns 0;
 *   CN_ETOOBIG     len > TAGGING_MAX_XML;
 *   CN_EBADXML     not well-formed, or not the schema's shape: another
 *                  root, not exactly one TagSet, a TagSet child that is not
 *                  a Tag, a Tag without exactly one Key and one Value (and
 *                  nothing else), text or elements where they do not
 *                  belong (MalformedXML);
 *   CN_EBADTAG     a key or value that breaks the limits above (length,
 *                  characters, UTF-8), a key given twice, a key starting
 *                  with "aws:" (objects; buckets: in any case) (InvalidTag);
 *   CN_ETAGCOUNT   more than TAGGING_MAX_OBJECT tags (objects) or
 *                  TAGGING_MAX_BUCKET (buckets) (BadRequest);
 *   CN_ENOMEM.
 * The shape is checked first; then the tags in document order, each for
 * its key, its value, a repeated key, a reserved key; then the count. On
 * error S3's message (NUL-terminated, truncated to errcap) goes to err
 * when errcap > 0, and *out is undefined. */
int tagging_from_xml(const char *body, size_t len, int for_bucket, struct tag_set *out, char *err,
		     size_t errcap);

/* Fills *out from an x-amz-tagging header value (NUL-terminated), the
 * query-string form `k1=v1&k2=v2` with an object's limits: key and value
 * are percent-decoded (%XX, either case) with '+' read as a space; `k`
 * alone and `k=` are a tag with an empty value; empty pairs (`&&`) are
 * skipped, so "" is the empty set. Borrows value. Returns 0;
 *   CN_EBADTAGHDR  a pair with an empty key or a second '=', a bad
 *                  escape, a key or value that does not decode to UTF-8, a
 *                  key given twice (InvalidArgument);
 *   CN_EBADTAG, CN_ETAGCOUNT as for tagging_from_xml();
 *   CN_ENOMEM; CN_EINVAL when value is NULL.
 * Header errors come first, then the tags in header order, then the
 * count. err and *out as for tagging_from_xml(). */
int tagging_from_header(const char *value, struct tag_set *out, char *err, size_t errcap);

/* Appends the GetObjectTagging / GetBucketTagging response document to w:
 * the XML declaration, then
 * <Tagging xmlns="S3"><TagSet><Tag><Key>k</Key><Value>v</Value></Tag>...
 * </TagSet></Tagging> in t's order, on one line, text escaped. Writes
 * what t holds without checking it (lengths are clamped to the arrays).
 * Borrows t; allocation failure is sticky in w->err. */
void tagging_to_xml(const struct tag_set *t, struct cn_buf *w);

/* Appends t's binary encoding (format in tagging.c) to w. Returns 0,
 * CN_EINVAL when t breaks the invariants above (nothing is appended), or
 * w->err. Borrows t. */
int tagging_encode(const struct tag_set *t, struct cn_buf *w);
/* Decodes exactly len bytes at p into *out. Never trusts its input:
 * returns 0, CN_EFORMAT for an unknown format version, CN_ECORRUPT for a
 * truncation, trailing bytes, or a set that breaks the invariants above
 * (*out undefined on error). Borrows p. */
int tagging_decode(const void *p, size_t len, struct tag_set *out);

/* Finds the tag whose key is key (NUL-terminated, compared byte for byte,
 * case-sensitive as S3's keys are): returns 0 with *value pointing at its
 * NUL-terminated value in t (valid while t is) and *len its length (either
 * pointer may be NULL), or CN_ENOTFOUND. t must hold the invariants (keys
 * in order: the search is binary). Borrows t and key. */
int tagging_get(const struct tag_set *t, const char *key, const char **value, size_t *len);

/* Writes t as an x-amz-tagging value, NUL-terminated, to out (cap bytes):
 * `k1=v1&k2=v2` in t's order, every byte but A-Z a-z 0-9 - . _ ~
 * percent-encoded (%XX, upper case; a space as %20), an empty value as
 * `k=`, the empty set as "". tagging_from_header() reads it back to t.
 * Returns 0, or CN_ETOOBIG when cap is too small (out then holds "" if
 * cap > 0); TAGGING_HEADER_CAP always suffices for an object's set.
 * Borrows t. */
int tagging_to_header(const struct tag_set *t, char *out, size_t cap);

#endif
