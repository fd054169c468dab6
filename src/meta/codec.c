/*
 * meta/codec.c — the one codec for every metadata value and for commands.
 *
 * Layer: meta. Invariant: decoding never trusts its input. Every read is
 * bounds-checked (struct rbuf is sticky-bad), every length and enum is
 * checked against its limit, and trailing bytes are an error. Integers are
 * little-endian in values, big-endian in keys (keys.c). Each value starts
 * with a record version byte; this build writes and reads version 1.
 *
 * Value formats, record version 1, store format 4 (3 is 4 without loc 5,
 * 2 is 3 without loc 4;
 * fk = full object key,
 * present only for long keys, see keys.c):
 *
 *   common head of index / versions / uploads values
 *   OFFSET SIZE  MEANING
 *   0      1     record version (1)
 *   1      2     fklen (0 for short keys, else 201..1024)
 *   3      fklen full key
 *
 *   version record (after head): the value of `versions` (every version but
 *   the newest non-marker one) and of `index` (exactly that newest one, so a
 *   GET and a listing read one record; ver_encode / ver_decode)
 *   16  version id (raw, not inverted)
 *   1   flags (DELETE_MARKER, NULL, LOCK)
 *   8   mtime ns (i64)
 *   8   size
 *   1+n etag (len, bytes)
 *   2+n attrs (len <= 8192, bytes)
 *   only with flag LOCK (0x8): 1 lock mode (0..2), 8 retain-until ns (i64;
 *       0 iff mode 0), 1 legal hold (0 none, 1 off, 2 on); not all zero
 *       (a build older than this section cannot read a version with it)
 *   1   loc (0 none, 1 inline, 2 blob, 3 parts, 4 inline in the record)
 *   loc 1: 4 inline length (the bytes are in the `inline` db, same key)
 *   loc 4: 4 length (== size), then the bytes (written for bodies up to
 *          META_EMBED_MAX; read as LOC_INLINE with inline_embedded; a build
 *          older than this section cannot read a version with it)
 *   loc 5: 4 length (== size), 2 head length n (1..META_EMBED_MAX, less
 *          than length), then the body's first n bytes; the other
 *          length - n are in the `inline` db, same key (written when that
 *          value then fills its LMDB overflow pages exactly, apply.c
 *          version_insert; read as LOC_INLINE with embed_len n; a build older
 *          than this section cannot read a version with it)
 *   loc 2: 16 blob id, 2+n layout
 *   loc 3: 2 nparts, then per part: 2 part no, 8 size, 1+n etag, 16 blob id,
 *          2+n layout; then, only when some part has a checksum, per part:
 *          1 checksum alg (0: none), 1+n checksum (n 0..32)
 *          (versions written before part checksums end after the parts; a
 *          build older than this section cannot read a version with it)
 *
 *   store format 1 only (read by upgrade.c, written by nothing but its
 *   tests): the index value was a summary, the head then 16 version id,
 *   1 flags, 8 mtime, 8 size, 1+n etag (idx_encode / idx_decode)
 *
 *   uploads (after head): 16 upload id, 8 initiated ns, 2+n attrs
 *   parts:    1 ver, 2 part no, 8 size, 1+n etag, 16 blob id, 2+n layout, 8 mtime,
 *             then only with a checksum: 1 checksum alg (1..), 1+n checksum (1..32)
 *   buckets:  1 ver, 8 created ns, 1 versioning (0..2), 2+n attrs
 *   stats:    1 ver, 8 objects, 8 bytes, 8 versions, 8 version bytes
 *   gc/intents: 1 ver, 8 created ns, 2+n layout
 *   heal:     1 ver, 2 missing-shard mask, 2+n layout
 *
 *   map db (cluster map; keys in keys.c):
 *   epoch:  1 ver, 8 epoch
 *   node:   1 ver, 1 state (1..4), 4 weight, 1+n address (1..63 printable
 *           ASCII), 1+n zone (0..63 printable ASCII)
 *   drive:  1 ver, 8 node id, 1 state (1..4), 4 weight, 8 capacity bytes
 *
 * Command format, version 1 (cmd_encode_into / meta_cmd_decode): u8
 * version, u8 type, u64 now, then every input field of struct meta_cmd in
 * declaration order — strings and byte strings as (length, bytes) with the
 * length's width fixed per field (u8 bucket/etag/if-match, u16 key/attrs/
 * layout, u32 inline), ids as 16 raw bytes, arrays as (u32 count, items).
 * The cluster-map commands carry only their own fields after `now`:
 *
 *   NODE_SET (after the 10-byte head)     DRIVE_SET (after the head)
 *   OFFSET SIZE  MEANING                  OFFSET SIZE  MEANING
 *   10     8     node id                  10     16    drive id
 *   18     1     map flags (META_MAP_*)   26     8     node id
 *   19     1     state (1..4)             34     1     map flags
 *   20     4     weight                   35     1     state (1..4)
 *   24     1+n   address (n 1..63)        36     4     weight
 *   ..     1+n   zone (n 0..63)           40     8     capacity bytes
 *
 * A PART_PUT's attrs are empty or its checksum: 1 alg (1..), n raw bytes
 * (n 1..32); apply keeps them in the part record (older builds ignored
 * them, so a command that encodes still decodes everywhere).
 *
 * A PUT_VERSION / PART_PUT with a heal mask and every HEAL_DONE end with a
 * u16 heal mask after the gc array; without one the command ends there (as
 * every command written before heal entries existed). A PUT_VERSION,
 * DELETE_OBJECT, UPLOAD_COMPLETE or VERSION_LOCK whose lock fields are not
 * all zero (always a VERSION_LOCK) then ends with the lock section: 1 'L',
 * 1 what (0..2), 1 mode (0..2), 1 hold (0..2), 1 bypass (0/1), 8 until ns
 * (13 bytes; after the heal mask when both are present). A BLOB_MOVE has the
 * mask (0) and then 2+n layout_old, 2+n layout_gc. A SETTING is the
 * generic command (name in key, value in attrs), a BUCKET_CONF too (name
 * in key, document in inline data). An IAM command carries only its own
 * fields after the head: 1 op, 1 status, 1 to_group, 1+n name, 1+n name2,
 * 1+n secret, 1+n canonical id, 2+n policy document (iam_cmd_valid says
 * which an operation uses; the others are empty).
 *
 * Encoding refuses exactly what decoding rejects (map_valid): a proposal
 * that encodes always decodes on every node.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "core/err.h"
#include "meta/meta_int.h"

#define REC_V1 1
#define REC_LOC_EMBED 4 /* a version's loc byte: inline bytes in the record */
#define REC_LOC_SPLIT 5 /* ... the head of them in the record, the rest in `inline` */
#define CMD_V1 1

/* ---- buffers ---- */

void wb_u8(struct cn_buf *w, uint8_t v)
{
	cn_buf_put(w, &v, 1);
}

void wb_u16(struct cn_buf *w, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	cn_buf_put(w, b, 2);
}

void wb_u32(struct cn_buf *w, uint32_t v)
{
	uint8_t b[4];
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	cn_buf_put(w, b, 4);
}

void wb_u64(struct cn_buf *w, uint64_t v)
{
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	cn_buf_put(w, b, 8);
}

void be64_put(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

uint64_t be64_get(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/* (u8 len, bytes) etag into a NUL-terminated buffer. */
static void rb_etag(struct rbuf *r, char out[META_ETAG_MAX + 1])
{
	uint8_t n = rb_u8(r);
	const uint8_t *p;

	out[0] = 0;
	if (n > META_ETAG_MAX) {
		r->bad = 1;
		return;
	}
	p = rb_bytes(r, n);
	if (!p)
		return;
	if (!etag_valid((const char *)p, n)) {
		r->bad = 1;
		return;
	}
	memcpy(out, p, n);
	out[n] = 0;
}

static void wb_etag(struct cn_buf *w, const char *etag)
{
	size_t n = strlen(etag);
	wb_u8(w, (uint8_t)n);
	cn_buf_put(w, etag, n);
}

/* (u16 len, bytes) with a maximum. */
static const uint8_t *rb_blob16(struct rbuf *r, size_t max, size_t *len)
{
	uint16_t n = rb_u16(r);
	if (n > max) {
		r->bad = 1;
		return NULL;
	}
	*len = n;
	return rb_bytes(r, n);
}

/* Printable ASCII without quotes; empty allowed (a delete marker has none). */
bool etag_valid(const char *s, size_t len)
{
	size_t i = 0;

	if (len > META_ETAG_MAX)
		return false;
#ifdef __SSE2__
	/* every listed record's ETag is checked: sixteen bytes a step */
	const __m128i lo = _mm_set1_epi8(0x20), hi = _mm_set1_epi8(0x7f), q = _mm_set1_epi8('"');
	for (; i + 16 <= len; i += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
		/* signed compares: a byte >= 0x80 is negative, so not > 0x20 */
		__m128i ok = _mm_and_si128(_mm_cmpgt_epi8(x, lo), _mm_cmplt_epi8(x, hi));
		ok = _mm_andnot_si128(_mm_cmpeq_epi8(x, q), ok);
		if (_mm_movemask_epi8(ok) != 0xffff)
			return false;
	}
#endif
	for (; i < len; i++)
		if (s[i] < 0x21 || s[i] > 0x7e || s[i] == '"')
			return false;
	return true;
}

static int fin(struct rbuf *r)
{
	return (r->bad || r->off != r->len) ? CN_ECORRUPT : 0;
}

/* ---- common head ---- */

static void head_encode(struct cn_buf *w, const uint8_t *fk, size_t fklen)
{
	wb_u8(w, REC_V1);
	wb_u16(w, (uint16_t)fklen);
	cn_buf_put(w, fk, fklen);
}

static int head_decode(struct rbuf *r, const uint8_t **fk, size_t *fklen)
{
	if (rb_u8(r) != REC_V1) {
		r->bad = 1;
		return CN_ECORRUPT;
	}
	uint16_t n = rb_u16(r);
	if (n > META_KEY_MAX || (n != 0 && n <= KEY_HEAD)) {
		r->bad = 1;
		return CN_ECORRUPT;
	}
	*fklen = n;
	*fk = rb_bytes(r, n);
	if (n == 0)
		*fk = NULL;
	return r->bad ? CN_ECORRUPT : 0;
}

int val_fullkey(const uint8_t *p, size_t len, const uint8_t **fk, size_t *fklen)
{
	struct rbuf r;
	rb_init(&r, p, len);
	if (head_decode(&r, fk, fklen) || *fklen == 0)
		return CN_ECORRUPT;
	return 0;
}

/* ---- index ---- */

int idx_encode(struct cn_buf *w, const uint8_t *fkey, size_t fklen, const struct meta_version *v)
{
	head_encode(w, fkey, fklen);
	cn_buf_put(w, v->vid, META_ID_LEN);
	wb_u8(w, (uint8_t)(v->flags & (META_VF_DELETE_MARKER | META_VF_NULL)));
	wb_u64(w, (uint64_t)v->mtime);
	wb_u64(w, v->size);
	wb_etag(w, v->etag);
	return w->err;
}

/* The versions value starts with the same fields as the index value, so one
 * parser reads both: exact=0 stops after the etag. */
int idx_decode_ex(const uint8_t *p, size_t len, struct idx_rec *out, int exact)
{
	struct rbuf r;
	const uint8_t *vid;

	memset(out, 0, sizeof(*out));
	rb_init(&r, p, len);
	if (head_decode(&r, &out->fkey, &out->fklen))
		return CN_ECORRUPT;
	vid = rb_bytes(&r, META_ID_LEN);
	if (vid)
		memcpy(out->vid, vid, META_ID_LEN);
	out->flags = rb_u8(&r);
	out->mtime = (int64_t)rb_u64(&r);
	out->size = rb_u64(&r);
	rb_etag(&r, out->etag);
	if (out->flags & ~META_VF_STORED)
		return CN_ECORRUPT;
	out->flags &= ~META_VF_LOCK;
	return exact ? fin(&r) : (r.bad ? CN_ECORRUPT : 0);
}

int idx_decode(const uint8_t *p, size_t len, struct idx_rec *out)
{
	return idx_decode_ex(p, len, out, 1);
}

/* ---- versions ---- */

static void part_body_encode(struct cn_buf *w, const struct meta_part *pt)
{
	wb_u16(w, (uint16_t)pt->part_no);
	wb_u64(w, pt->size);
	wb_etag(w, pt->etag);
	cn_buf_put(w, pt->blob_id, META_ID_LEN);
	wb_u16(w, (uint16_t)pt->layout_len);
	cn_buf_put(w, pt->layout, pt->layout_len);
}

static void part_body_decode(struct rbuf *r, struct meta_part *pt)
{
	const uint8_t *b;

	pt->part_no = rb_u16(r);
	pt->size = rb_u64(r);
	rb_etag(r, pt->etag);
	b = rb_bytes(r, META_ID_LEN);
	if (b)
		memcpy(pt->blob_id, b, META_ID_LEN);
	pt->layout = rb_blob16(r, META_LAYOUT_MAX, &pt->layout_len);
	if (pt->part_no < 1 || pt->part_no > META_PARTS_MAX)
		r->bad = 1;
}

static void part_ck_encode(struct cn_buf *w, const struct meta_part *pt)
{
	wb_u8(w, pt->ck_len ? pt->ck_alg : 0);
	wb_u8(w, pt->ck_len);
	cn_buf_put(w, pt->ck, pt->ck_len);
}

static void part_ck_decode(struct rbuf *r, struct meta_part *pt)
{
	const uint8_t *b;

	pt->ck_alg = rb_u8(r);
	pt->ck_len = rb_u8(r);
	if (pt->ck_len > META_PART_CK_MAX || (pt->ck_len == 0) != (pt->ck_alg == 0)) {
		r->bad = 1;
		pt->ck_len = 0;
		return;
	}
	b = rb_bytes(r, pt->ck_len);
	if (b)
		memcpy(pt->ck, b, pt->ck_len);
}

/* A version's lock fields: mode 0..2 with a date iff a mode, hold 0..2. */
static bool lock_valid(uint8_t mode, int64_t until, uint8_t hold)
{
	return mode <= META_LOCK_COMPLIANCE && hold <= META_HOLD_ON &&
	       (mode == 0) == (until == 0) && until >= 0;
}

int ver_encode(struct cn_buf *w, const uint8_t *fkey, size_t fklen, const struct meta_version *v)
{
	bool has_lock;

	if (v->attrs_len > META_ATTRS_MAX || v->layout_len > META_LAYOUT_MAX ||
	    v->n_parts > META_PARTS_MAX || strlen(v->etag) > META_ETAG_MAX)
		return CN_EMETATOOBIG;
	head_encode(w, fkey, fklen);
	cn_buf_put(w, v->vid, META_ID_LEN);
	if (!lock_valid(v->lock_mode, v->lock_until, v->legal_hold))
		return CN_EINVAL;
	has_lock = v->lock_mode || v->legal_hold;
	wb_u8(w, (uint8_t)((v->flags & (META_VF_DELETE_MARKER | META_VF_NULL)) |
			   (has_lock ? META_VF_LOCK : 0)));
	wb_u64(w, (uint64_t)v->mtime);
	wb_u64(w, v->size);
	wb_etag(w, v->etag);
	wb_u16(w, (uint16_t)v->attrs_len);
	cn_buf_put(w, v->attrs, v->attrs_len);
	if (has_lock) {
		wb_u8(w, v->lock_mode);
		wb_u64(w, (uint64_t)v->lock_until);
		wb_u8(w, v->legal_hold);
	}
	if (v->loc == META_LOC_INLINE &&
	    (v->inline_len > META_INLINE_MAX ||
	     (v->inline_embedded && v->inline_len && !v->embed) ||
	     (!v->inline_embedded && v->embed_len &&
	      (v->embed_len > META_EMBED_MAX || v->embed_len >= v->inline_len || !v->embed))))
		return CN_EINVAL;
	if (v->loc != META_LOC_INLINE)
		wb_u8(w, (uint8_t)v->loc);
	else
		wb_u8(w, v->inline_embedded ? REC_LOC_EMBED
			 : v->embed_len	    ? REC_LOC_SPLIT
					    : (uint8_t)META_LOC_INLINE);
	switch (v->loc) {
	case META_LOC_NONE: break;
	case META_LOC_INLINE:
		wb_u32(w, (uint32_t)v->inline_len);
		if (v->inline_embedded) {
			cn_buf_put(w, v->embed, v->inline_len);
		} else if (v->embed_len) {
			wb_u16(w, (uint16_t)v->embed_len);
			cn_buf_put(w, v->embed, v->embed_len);
		}
		break;
	case META_LOC_BLOB:
		cn_buf_put(w, v->blob_id, META_ID_LEN);
		wb_u16(w, (uint16_t)v->layout_len);
		cn_buf_put(w, v->layout, v->layout_len);
		break;
	case META_LOC_PARTS:
		wb_u16(w, (uint16_t)v->n_parts);
		for (uint32_t i = 0; i < v->n_parts; i++)
			part_body_encode(w, &v->parts[i]);
		for (uint32_t i = 0; i < v->n_parts; i++) {
			if (!v->parts[i].ck_len)
				continue;
			for (uint32_t j = 0; j < v->n_parts; j++)
				part_ck_encode(w, &v->parts[j]);
			break;
		}
		break;
	default: return CN_EINVAL;
	}
	return w->err;
}

int ver_decode(const uint8_t *p, size_t len, const uint8_t *key, size_t klen,
	       struct meta_version *out)
{
	struct rbuf r;
	const uint8_t *fk, *b;
	size_t fklen;
	uint8_t *mem, loc;

	memset(out, 0, sizeof(*out));
	if (klen > META_KEY_MAX)
		return CN_ECORRUPT;
	/* Own a copy: everything below points into it. */
	mem = malloc(len + klen + 1);
	if (!mem)
		return CN_ENOMEM;
	memcpy(mem, p, len);
	if (klen)
		memcpy(mem + len, key, klen);
	mem[len + klen] = 0;
	out->mem = mem;
	out->key = (char *)mem + len;
	out->key_len = klen;
	rb_init(&r, mem, len);
	if (head_decode(&r, &fk, &fklen))
		goto bad;
	b = rb_bytes(&r, META_ID_LEN);
	if (b)
		memcpy(out->vid, b, META_ID_LEN);
	out->flags = rb_u8(&r);
	out->mtime = (int64_t)rb_u64(&r);
	out->size = rb_u64(&r);
	rb_etag(&r, out->etag);
	out->attrs = rb_blob16(&r, META_ATTRS_MAX, &out->attrs_len);
	if (out->flags & META_VF_LOCK) {
		out->lock_mode = rb_u8(&r);
		out->lock_until = (int64_t)rb_u64(&r);
		out->legal_hold = rb_u8(&r);
		if (!lock_valid(out->lock_mode, out->lock_until, out->legal_hold) ||
		    (!out->lock_mode && !out->legal_hold))
			goto bad;
	}
	loc = rb_u8(&r);
	if (out->flags & ~META_VF_STORED)
		goto bad;
	out->flags &= ~META_VF_LOCK;
	out->inline_embedded = loc == REC_LOC_EMBED;
	out->loc = loc == REC_LOC_EMBED || loc == REC_LOC_SPLIT ? META_LOC_INLINE : loc;
	switch (out->loc) {
	case META_LOC_NONE: break;
	case META_LOC_INLINE:
		out->inline_len = rb_u32(&r);
		if (out->inline_len > META_INLINE_MAX || out->inline_len != out->size)
			goto bad;
		if (out->inline_embedded) {
			out->embed = rb_bytes(&r, (size_t)out->inline_len);
			out->embed_len = (uint32_t)out->inline_len;
		} else if (loc == REC_LOC_SPLIT) {
			out->embed_len = rb_u16(&r);
			if (out->embed_len == 0 || out->embed_len > META_EMBED_MAX ||
			    out->embed_len >= out->inline_len)
				goto bad;
			out->embed = rb_bytes(&r, out->embed_len);
		}
		break;
	case META_LOC_BLOB:
		b = rb_bytes(&r, META_ID_LEN);
		if (b)
			memcpy(out->blob_id, b, META_ID_LEN);
		out->layout = rb_blob16(&r, META_LAYOUT_MAX, &out->layout_len);
		break;
	case META_LOC_PARTS: {
		uint16_t n = rb_u16(&r);
		if (n == 0 || n > META_PARTS_MAX)
			goto bad;
		out->parts = calloc(n, sizeof(*out->parts));
		if (!out->parts) {
			meta_version_release(out);
			return CN_ENOMEM;
		}
		out->n_parts = n;
		for (uint16_t i = 0; i < n && !r.bad; i++) {
			part_body_decode(&r, &out->parts[i]);
			if (i > 0 && out->parts[i].part_no <= out->parts[i - 1].part_no)
				goto bad;
		}
		if (!r.bad && r.off < r.len)
			for (uint16_t i = 0; i < n && !r.bad; i++)
				part_ck_decode(&r, &out->parts[i]);
		break;
	}
	default: goto bad;
	}
	if ((out->flags & META_VF_DELETE_MARKER) && out->loc != META_LOC_NONE)
		goto bad;
	if (fin(&r))
		goto bad;
	if (out->flags & META_VF_NULL)
		strcpy(out->vid_text, "null");
	else
		meta_id_to_text(out->vid, out->vid_text);
	return 0;
bad:
	meta_version_release(out);
	return CN_ECORRUPT;
}

void meta_version_release(struct meta_version *v)
{
	if (!v)
		return;
	free(v->mem);
	free(v->parts);
	free((void *)v->inline_data);
	memset(v, 0, sizeof(*v));
}

/* ---- uploads, parts ---- */

int upload_encode(struct cn_buf *w, const uint8_t *fkey, size_t fklen,
		  const uint8_t id[META_ID_LEN], int64_t initiated, const void *attrs,
		  size_t attrs_len)
{
	if (attrs_len > META_ATTRS_MAX)
		return CN_EMETATOOBIG;
	head_encode(w, fkey, fklen);
	cn_buf_put(w, id, META_ID_LEN);
	wb_u64(w, (uint64_t)initiated);
	wb_u16(w, (uint16_t)attrs_len);
	cn_buf_put(w, attrs, attrs_len);
	return w->err;
}

int upload_decode(const uint8_t *p, size_t len, const uint8_t *key, size_t klen,
		  struct meta_upload *out)
{
	struct rbuf r;
	const uint8_t *fk, *b;
	size_t fklen;
	uint8_t *mem;

	memset(out, 0, sizeof(*out));
	if (klen > META_KEY_MAX)
		return CN_ECORRUPT;
	mem = malloc(len + klen + 1);
	if (!mem)
		return CN_ENOMEM;
	memcpy(mem, p, len);
	if (klen)
		memcpy(mem + len, key, klen);
	mem[len + klen] = 0;
	out->mem = mem;
	out->key = (char *)mem + len;
	out->key_len = klen;
	rb_init(&r, mem, len);
	if (head_decode(&r, &fk, &fklen))
		goto bad;
	b = rb_bytes(&r, META_ID_LEN);
	if (b)
		memcpy(out->upload_id, b, META_ID_LEN);
	out->initiated = (int64_t)rb_u64(&r);
	out->attrs = rb_blob16(&r, META_ATTRS_MAX, &out->attrs_len);
	if (fin(&r))
		goto bad;
	meta_id_to_text(out->upload_id, out->upload_id_text);
	return 0;
bad:
	meta_upload_release(out);
	return CN_ECORRUPT;
}

void meta_upload_release(struct meta_upload *u)
{
	if (!u)
		return;
	free(u->mem);
	memset(u, 0, sizeof(*u));
}

int part_encode(struct cn_buf *w, const struct meta_part *pt)
{
	if (pt->layout_len > META_LAYOUT_MAX || pt->ck_len > META_PART_CK_MAX ||
	    (pt->ck_len && !pt->ck_alg))
		return CN_EMETATOOBIG;
	wb_u8(w, REC_V1);
	part_body_encode(w, pt);
	wb_u64(w, (uint64_t)pt->mtime);
	if (pt->ck_len)
		part_ck_encode(w, pt);
	return w->err;
}

int part_decode(const uint8_t *p, size_t len, struct meta_part *pt)
{
	struct rbuf r;

	memset(pt, 0, sizeof(*pt));
	rb_init(&r, p, len);
	if (rb_u8(&r) != REC_V1)
		return CN_ECORRUPT;
	part_body_decode(&r, pt);
	pt->mtime = (int64_t)rb_u64(&r);
	if (!r.bad && r.off < r.len) {
		part_ck_decode(&r, pt);
		if (!pt->ck_len)
			r.bad = 1; /* written only with a checksum */
	}
	return fin(&r);
}

/* ---- buckets, stats, gc/intents ---- */

int bucket_encode(struct cn_buf *w, int64_t created, uint8_t versioning, const void *attrs,
		  size_t attrs_len)
{
	if (attrs_len > META_ATTRS_MAX)
		return CN_EMETATOOBIG;
	wb_u8(w, REC_V1);
	wb_u64(w, (uint64_t)created);
	wb_u8(w, versioning);
	wb_u16(w, (uint16_t)attrs_len);
	cn_buf_put(w, attrs, attrs_len);
	return w->err;
}

int bucket_versioning_of(const uint8_t *p, size_t len, uint8_t *state)
{
	/* REC_V1, created (8), versioning: the rest is not read */
	if (len < 10 || p[0] != REC_V1 || p[9] > META_VERSIONING_SUSPENDED)
		return CN_ECORRUPT;
	*state = p[9];
	return 0;
}

int bucket_decode(const uint8_t *p, size_t len, const char *name, size_t nlen,
		  struct meta_bucket *out)
{
	struct rbuf r;
	const uint8_t *a;
	size_t alen = 0;

	memset(out, 0, sizeof(*out));
	if (nlen > META_BUCKET_MAX)
		return CN_ECORRUPT;
	memcpy(out->name, name, nlen);
	out->name[nlen] = 0;
	rb_init(&r, p, len);
	if (rb_u8(&r) != REC_V1)
		return CN_ECORRUPT;
	out->created = (int64_t)rb_u64(&r);
	out->versioning = rb_u8(&r);
	a = rb_blob16(&r, META_ATTRS_MAX, &alen);
	if (fin(&r) || out->versioning > META_VERSIONING_SUSPENDED)
		return CN_ECORRUPT;
	if (alen) {
		out->mem = malloc(alen);
		if (!out->mem)
			return CN_ENOMEM;
		memcpy(out->mem, a, alen);
	}
	out->attrs = out->mem;
	out->attrs_len = alen;
	return 0;
}

void meta_bucket_release(struct meta_bucket *b)
{
	if (!b)
		return;
	free(b->mem);
	memset(b, 0, sizeof(*b));
}

int stats_encode(struct cn_buf *w, const struct stats_rec *s)
{
	wb_u8(w, REC_V1);
	wb_u64(w, s->objects);
	wb_u64(w, s->bytes);
	wb_u64(w, s->versions);
	wb_u64(w, s->version_bytes);
	return w->err;
}

int stats_decode(const uint8_t *p, size_t len, struct stats_rec *s)
{
	struct rbuf r;

	rb_init(&r, p, len);
	if (rb_u8(&r) != REC_V1)
		return CN_ECORRUPT;
	s->objects = rb_u64(&r);
	s->bytes = rb_u64(&r);
	s->versions = rb_u64(&r);
	s->version_bytes = rb_u64(&r);
	return fin(&r);
}

int blobref_encode(struct cn_buf *w, int64_t created, const void *layout, size_t layout_len)
{
	if (layout_len > META_LAYOUT_MAX)
		return CN_EMETATOOBIG;
	wb_u8(w, REC_V1);
	wb_u64(w, (uint64_t)created);
	wb_u16(w, (uint16_t)layout_len);
	cn_buf_put(w, layout, layout_len);
	return w->err;
}

int blobref_decode(const uint8_t *p, size_t len, int64_t *created, const uint8_t **layout,
		   size_t *layout_len)
{
	struct rbuf r;

	rb_init(&r, p, len);
	if (rb_u8(&r) != REC_V1)
		return CN_ECORRUPT;
	*created = (int64_t)rb_u64(&r);
	*layout = rb_blob16(&r, META_LAYOUT_MAX, layout_len);
	return fin(&r);
}

int healrec_encode(struct cn_buf *w, uint16_t mask, const void *layout, size_t layout_len)
{
	if (layout_len > META_LAYOUT_MAX)
		return CN_EMETATOOBIG;
	wb_u8(w, REC_V1);
	wb_u16(w, mask);
	wb_u16(w, (uint16_t)layout_len);
	cn_buf_put(w, layout, layout_len);
	return w->err;
}

int healrec_decode(const uint8_t *p, size_t len, uint16_t *mask, const uint8_t **layout,
		   size_t *layout_len)
{
	struct rbuf r;

	rb_init(&r, p, len);
	if (rb_u8(&r) != REC_V1)
		return CN_ECORRUPT;
	*mask = rb_u16(&r);
	*layout = rb_blob16(&r, META_LAYOUT_MAX, layout_len);
	return fin(&r);
}

/* ---- cluster map ---- */

/* Printable ASCII (no NUL, no space): what the map stores as text. */
static bool map_text_valid(const char *s, size_t len, size_t min, size_t max)
{
	if (len < min || len > max)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	return true;
}

static bool map_state_valid(uint8_t st)
{
	return st >= META_MAP_UP && st <= META_MAP_REMOVED;
}

static bool node_valid(const struct meta_node *n)
{
	return map_state_valid(n->state) &&
	       map_text_valid(n->address, strnlen(n->address, sizeof(n->address)), 1,
			      META_ADDR_MAX) &&
	       map_text_valid(n->zone, strnlen(n->zone, sizeof(n->zone)), 0, META_ZONE_MAX);
}

/* (u8 len, text) into a NUL-terminated buffer of max + 1 bytes. */
static void rb_text(struct rbuf *r, char *out, size_t min, size_t max)
{
	uint8_t n = rb_u8(r);
	const uint8_t *p = rb_bytes(r, n);

	out[0] = 0;
	if (!p || !map_text_valid((const char *)p, n, min, max)) {
		r->bad = 1;
		return;
	}
	memcpy(out, p, n);
	out[n] = 0;
}

static void wb_text(struct cn_buf *w, const char *s)
{
	size_t n = strlen(s);
	wb_u8(w, (uint8_t)n);
	cn_buf_put(w, s, n);
}

int node_rec_encode(struct cn_buf *w, const struct meta_node *n)
{
	if (!node_valid(n))
		return CN_EBADARG;
	wb_u8(w, REC_V1);
	wb_u8(w, n->state);
	wb_u32(w, n->weight);
	wb_text(w, n->address);
	wb_text(w, n->zone);
	return w->err;
}

int node_rec_decode(const uint8_t *p, size_t len, uint64_t id, struct meta_node *out)
{
	struct rbuf r;

	memset(out, 0, sizeof(*out));
	rb_init(&r, p, len);
	if (rb_u8(&r) != REC_V1)
		return CN_ECORRUPT;
	out->id = id;
	out->state = rb_u8(&r);
	out->weight = rb_u32(&r);
	rb_text(&r, out->address, 1, META_ADDR_MAX);
	rb_text(&r, out->zone, 0, META_ZONE_MAX);
	if (!map_state_valid(out->state))
		return CN_ECORRUPT;
	return fin(&r);
}

int drive_rec_encode(struct cn_buf *w, const struct meta_drive *d)
{
	if (!map_state_valid(d->state))
		return CN_EBADARG;
	wb_u8(w, REC_V1);
	wb_u64(w, d->node);
	wb_u8(w, d->state);
	wb_u32(w, d->weight);
	wb_u64(w, d->capacity);
	return w->err;
}

int drive_rec_decode(const uint8_t *p, size_t len, const uint8_t id[META_ID_LEN],
		     struct meta_drive *out)
{
	struct rbuf r;

	memset(out, 0, sizeof(*out));
	rb_init(&r, p, len);
	if (rb_u8(&r) != REC_V1)
		return CN_ECORRUPT;
	memcpy(out->id, id, META_ID_LEN);
	out->node = rb_u64(&r);
	out->state = rb_u8(&r);
	out->weight = rb_u32(&r);
	out->capacity = rb_u64(&r);
	if (!map_state_valid(out->state))
		return CN_ECORRUPT;
	return fin(&r);
}

int epoch_rec_encode(struct cn_buf *w, uint64_t epoch)
{
	wb_u8(w, REC_V1);
	wb_u64(w, epoch);
	return w->err;
}

int epoch_rec_decode(const uint8_t *p, size_t len, uint64_t *epoch)
{
	struct rbuf r;

	rb_init(&r, p, len);
	if (rb_u8(&r) != REC_V1)
		return CN_ECORRUPT;
	*epoch = rb_u64(&r);
	return fin(&r);
}

const char *meta_map_state_name(uint8_t state)
{
	switch (state) {
	case META_MAP_UP: return "up";
	case META_MAP_DOWN: return "down";
	case META_MAP_DRAINING: return "draining";
	case META_MAP_REMOVED: return "removed";
	default: return "?";
	}
}

static bool is_map_cmd(uint8_t type)
{
	return type == META_CMD_NODE_SET || type == META_CMD_DRIVE_SET;
}

/* The body of a map command (format above); the head is written. */
static int map_cmd_encode(const struct meta_cmd *c, struct cn_buf *w)
{
	if (c->map_flags & ~META_MAP_SELF)
		return CN_EBADARG;
	if (c->type == META_CMD_NODE_SET) {
		if (!node_valid(&c->node))
			return CN_EBADARG;
		wb_u64(w, c->node.id);
		wb_u8(w, c->map_flags);
		wb_u8(w, c->node.state);
		wb_u32(w, c->node.weight);
		wb_text(w, c->node.address);
		wb_text(w, c->node.zone);
	} else {
		if (!map_state_valid(c->drive.state))
			return CN_EBADARG;
		cn_buf_put(w, c->drive.id, META_ID_LEN);
		wb_u64(w, c->drive.node);
		wb_u8(w, c->map_flags);
		wb_u8(w, c->drive.state);
		wb_u32(w, c->drive.weight);
		wb_u64(w, c->drive.capacity);
	}
	return w->err;
}

static void map_cmd_decode(struct rbuf *r, struct meta_cmd *c)
{
	if (c->type == META_CMD_NODE_SET) {
		c->node.id = rb_u64(r);
		c->map_flags = rb_u8(r);
		c->node.state = rb_u8(r);
		c->node.weight = rb_u32(r);
		rb_text(r, c->node.address, 1, META_ADDR_MAX);
		rb_text(r, c->node.zone, 0, META_ZONE_MAX);
		if (!map_state_valid(c->node.state))
			r->bad = 1;
	} else {
		const uint8_t *id = rb_bytes(r, META_ID_LEN);
		if (id)
			memcpy(c->drive.id, id, META_ID_LEN);
		c->drive.node = rb_u64(r);
		c->map_flags = rb_u8(r);
		c->drive.state = rb_u8(r);
		c->drive.weight = rb_u32(r);
		c->drive.capacity = rb_u64(r);
		if (!map_state_valid(c->drive.state))
			r->bad = 1;
	}
	if (c->map_flags & ~META_MAP_SELF)
		r->bad = 1;
}

/* ---- identity (db "iam") ---- */

static bool iam_name_ok(const char *s, size_t n)
{
	if (n < 1 || n > META_IAM_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("+=,.@_-", c)))
			return false;
	}
	return true;
}

static bool iam_keyid_ok(const char *s, size_t n)
{
	if (n < META_IAM_KEY_MIN || n > META_IAM_KEY_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static bool iam_secret_ok(const char *s, size_t n)
{
	return n >= META_IAM_SECRET_MIN && map_text_valid(s, n, 1, META_IAM_SECRET_MAX);
}

static bool iam_canon_ok(const char *s, size_t n)
{
	if (n != META_IAM_CANON_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int meta_iam_builtin(const char *name)
{
	return strcmp(name, "readwrite") == 0 || strcmp(name, "readonly") == 0 ||
	       strcmp(name, "writeonly") == 0;
}

static bool iam_status_ok(uint8_t st)
{
	return st == META_IAM_ENABLED || st == META_IAM_DISABLED;
}

/* What each operation carries, exactly: a field an operation does not use
 * must be empty, so a command has one encoding. */
bool iam_cmd_valid(const struct meta_iam *m)
{
	size_t n1 = strnlen(m->name, sizeof(m->name)), n2 = strnlen(m->name2, sizeof(m->name2));
	size_t ns = strnlen(m->secret, sizeof(m->secret));
	size_t nc = strnlen(m->canonical, sizeof(m->canonical));
	bool status = false, name2 = false, opt_name2 = false, to_group = false, doc = false;
	bool ok;

	if (n1 == sizeof(m->name) || n2 == sizeof(m->name2) || ns == sizeof(m->secret) ||
	    nc == sizeof(m->canonical))
		return false;
	switch (m->op) {
	case META_IAM_USER_ADD:
		ok = iam_name_ok(m->name, n1) && iam_canon_ok(m->canonical, nc);
		status = true;
		break;
	case META_IAM_USER_REMOVE:
	case META_IAM_GROUP_ADD:
	case META_IAM_GROUP_REMOVE: ok = iam_name_ok(m->name, n1); break;
	case META_IAM_USER_STATUS:
		ok = iam_name_ok(m->name, n1);
		status = true;
		break;
	case META_IAM_KEY_ADD:
		ok = iam_keyid_ok(m->name, n1) && iam_secret_ok(m->secret, ns);
		status = name2 = true;
		break;
	case META_IAM_KEY_REMOVE:
		ok = iam_keyid_ok(m->name, n1);
		opt_name2 = true;
		break;
	case META_IAM_KEY_STATUS:
		ok = iam_keyid_ok(m->name, n1);
		status = opt_name2 = true;
		break;
	case META_IAM_GROUP_MEMBER_ADD:
	case META_IAM_GROUP_MEMBER_REMOVE:
		ok = iam_name_ok(m->name, n1);
		name2 = true;
		break;
	case META_IAM_POLICY_PUT:
		ok = iam_name_ok(m->name, n1) && !meta_iam_builtin(m->name);
		doc = true;
		break;
	case META_IAM_POLICY_REMOVE:
		ok = iam_name_ok(m->name, n1) && !meta_iam_builtin(m->name);
		break;
	case META_IAM_POLICY_ATTACH:
	case META_IAM_POLICY_DETACH:
		ok = iam_name_ok(m->name, n1);
		name2 = to_group = true;
		break;
	default: return false;
	}
	if (!ok)
		return false;
	if (status ? !iam_status_ok(m->status) : m->status != 0)
		return false;
	if (name2 || (opt_name2 && n2) ? !iam_name_ok(m->name2, n2) : n2 != 0)
		return false;
	if (m->op != META_IAM_KEY_ADD && ns)
		return false;
	if (m->op != META_IAM_USER_ADD && nc)
		return false;
	if (to_group ? m->to_group > 1 : m->to_group != 0)
		return false;
	if (doc ? (m->doc_len < 1 || m->doc_len > META_IAM_POLICY_MAX) : m->doc_len != 0)
		return false;
	return true;
}

static int iam_cmd_encode(const struct meta_iam *m, struct cn_buf *w)
{
	if (!iam_cmd_valid(m))
		return CN_EBADARG;
	wb_u8(w, m->op);
	wb_u8(w, m->status);
	wb_u8(w, m->to_group);
	wb_text(w, m->name);
	wb_text(w, m->name2);
	wb_text(w, m->secret);
	wb_text(w, m->canonical);
	wb_u16(w, (uint16_t)m->doc_len);
	cn_buf_put(w, m->doc, m->doc_len);
	return w->err;
}

/* (u8 len, bytes) into a NUL-terminated buffer of cap bytes; the command's
 * validity is checked as a whole afterwards. */
static void rb_str0(struct rbuf *r, char *out, size_t cap)
{
	uint8_t n = rb_u8(r);
	const uint8_t *p = rb_bytes(r, n);

	out[0] = 0;
	if (!p || n >= cap) {
		r->bad = 1;
		return;
	}
	memcpy(out, p, n);
	out[n] = 0;
	if (strlen(out) != n)
		r->bad = 1; /* a NUL inside */
}

static void iam_cmd_decode(struct rbuf *r, struct meta_iam *m)
{
	uint16_t n;

	m->op = rb_u8(r);
	m->status = rb_u8(r);
	m->to_group = rb_u8(r);
	rb_str0(r, m->name, sizeof(m->name));
	rb_str0(r, m->name2, sizeof(m->name2));
	rb_str0(r, m->secret, sizeof(m->secret));
	rb_str0(r, m->canonical, sizeof(m->canonical));
	n = rb_u16(r);
	m->doc = (const char *)rb_bytes(r, n);
	m->doc_len = m->doc ? n : 0;
	if (!r->bad && !iam_cmd_valid(m))
		r->bad = 1;
}

/*   iam db records (keys: 'u' name, 'k' key id, 'g' name, 'p' name, "G")
 *   user:   1 ver, 1 status, 8 created ns, 1+64 canonical id, 1 n + n x
 *           (1+n group), 1 n + n x (1+n policy)
 *   key:    1 ver, 1 status, 8 created ns, 1+n user, 1+n secret
 *   group:  1 ver, 8 created ns, 1 n + n x (1+n policy)
 *   policy: 1 ver, 8 updated ns, 2+n document
 *   G:      1 ver, 8 generation */

static void wb_names(struct cn_buf *w, const char (*names)[META_IAM_NAME_MAX + 1], uint8_t n)
{
	wb_u8(w, n);
	for (uint8_t i = 0; i < n; i++)
		wb_text(w, names[i]);
}

static void rb_names(struct rbuf *r, char (*names)[META_IAM_NAME_MAX + 1], uint8_t *n)
{
	*n = rb_u8(r);
	if (*n > META_IAM_LIST_MAX) {
		r->bad = 1;
		*n = 0;
		return;
	}
	for (uint8_t i = 0; i < *n && !r->bad; i++) {
		rb_str0(r, names[i], META_IAM_NAME_MAX + 1);
		if (!r->bad && !iam_name_ok(names[i], strlen(names[i])))
			r->bad = 1;
	}
}

int iam_user_encode(struct cn_buf *w, const struct meta_iam_user *u)
{
	if (!iam_status_ok(u->status) || !iam_canon_ok(u->canonical, strlen(u->canonical)) ||
	    u->n_groups > META_IAM_LIST_MAX || u->n_policies > META_IAM_LIST_MAX)
		return CN_EBADARG;
	wb_u8(w, REC_V1);
	wb_u8(w, u->status);
	wb_u64(w, (uint64_t)u->created);
	wb_text(w, u->canonical);
	wb_names(w, u->groups, u->n_groups);
	wb_names(w, u->policies, u->n_policies);
	return w->err;
}

int iam_user_decode(const uint8_t *p, size_t len, const char *name, struct meta_iam_user *u)
{
	struct rbuf r;

	memset(u, 0, sizeof(*u));
	snprintf(u->name, sizeof(u->name), "%s", name);
	rb_init(&r, p, len);
	if (rb_u8(&r) != REC_V1)
		return CN_ECORRUPT;
	u->status = rb_u8(&r);
	u->created = (int64_t)rb_u64(&r);
	rb_str0(&r, u->canonical, sizeof(u->canonical));
	rb_names(&r, u->groups, &u->n_groups);
	rb_names(&r, u->policies, &u->n_policies);
	if (!r.bad &&
	    (!iam_status_ok(u->status) || !iam_canon_ok(u->canonical, strlen(u->canonical))))
		r.bad = 1;
	return fin(&r);
}

int iam_key_encode(struct cn_buf *w, const struct meta_iam_key *k)
{
	if (!iam_status_ok(k->status) || !iam_name_ok(k->user, strlen(k->user)) ||
	    !iam_secret_ok(k->secret, strlen(k->secret)))
		return CN_EBADARG;
	wb_u8(w, REC_V1);
	wb_u8(w, k->status);
	wb_u64(w, (uint64_t)k->created);
	wb_text(w, k->user);
	wb_text(w, k->secret);
	return w->err;
}

int iam_key_decode(const uint8_t *p, size_t len, const char *id, struct meta_iam_key *k)
{
	struct rbuf r;

	memset(k, 0, sizeof(*k));
	snprintf(k->id, sizeof(k->id), "%s", id);
	rb_init(&r, p, len);
	if (rb_u8(&r) != REC_V1)
		return CN_ECORRUPT;
	k->status = rb_u8(&r);
	k->created = (int64_t)rb_u64(&r);
	rb_str0(&r, k->user, sizeof(k->user));
	rb_str0(&r, k->secret, sizeof(k->secret));
	if (!r.bad && (!iam_status_ok(k->status) || !iam_name_ok(k->user, strlen(k->user)) ||
		       !iam_secret_ok(k->secret, strlen(k->secret))))
		r.bad = 1;
	return fin(&r);
}

int iam_group_encode(struct cn_buf *w, const struct meta_iam_group *g)
{
	if (g->n_policies > META_IAM_LIST_MAX)
		return CN_EBADARG;
	wb_u8(w, REC_V1);
	wb_u64(w, (uint64_t)g->created);
	wb_names(w, g->policies, g->n_policies);
	return w->err;
}

int iam_group_decode(const uint8_t *p, size_t len, const char *name, struct meta_iam_group *g)
{
	struct rbuf r;

	memset(g, 0, sizeof(*g));
	snprintf(g->name, sizeof(g->name), "%s", name);
	rb_init(&r, p, len);
	if (rb_u8(&r) != REC_V1)
		return CN_ECORRUPT;
	g->created = (int64_t)rb_u64(&r);
	rb_names(&r, g->policies, &g->n_policies);
	return fin(&r);
}

int iam_policy_encode(struct cn_buf *w, int64_t updated, const char *doc, size_t len)
{
	if (len < 1 || len > META_IAM_POLICY_MAX)
		return CN_EBADARG;
	wb_u8(w, REC_V1);
	wb_u64(w, (uint64_t)updated);
	wb_u16(w, (uint16_t)len);
	cn_buf_put(w, doc, len);
	return w->err;
}

int iam_policy_decode(const uint8_t *p, size_t len, int64_t *updated, const char **doc,
		      size_t *doc_len)
{
	struct rbuf r;
	uint16_t n;

	rb_init(&r, p, len);
	if (rb_u8(&r) != REC_V1)
		return CN_ECORRUPT;
	*updated = (int64_t)rb_u64(&r);
	n = rb_u16(&r);
	*doc = (const char *)rb_bytes(&r, n);
	*doc_len = n;
	if (!r.bad && (n < 1 || n > META_IAM_POLICY_MAX))
		r.bad = 1;
	return fin(&r);
}

/* ---- commands ---- */

#define LOCK_SECTION 13

static bool cmd_has_lock(const struct meta_cmd *c)
{
	return c->type == META_CMD_VERSION_LOCK || c->lock.what || c->lock.mode || c->lock.hold ||
	       c->lock.bypass || c->lock.until;
}

static bool lock_cmd_valid(const struct meta_cmd *c)
{
	uint8_t t = c->type;

	if (t != META_CMD_PUT_VERSION && t != META_CMD_DELETE_OBJECT &&
	    t != META_CMD_UPLOAD_COMPLETE && t != META_CMD_VERSION_LOCK)
		return false;
	if ((t == META_CMD_VERSION_LOCK) != (c->lock.what != 0) ||
	    c->lock.what > META_LOCKSET_HOLD || c->lock.bypass > 1)
		return false;
	/* only the fields the command uses: one encoding per meaning */
	if (t == META_CMD_DELETE_OBJECT && (c->lock.mode || c->lock.hold))
		return false;
	if (c->lock.what == META_LOCKSET_RETENTION && c->lock.hold)
		return false;
	if (c->lock.what == META_LOCKSET_HOLD && (c->lock.mode || c->lock.until))
		return false;
	return lock_valid(c->lock.mode, c->lock.until, c->lock.hold);
}

int cmd_encode_into(const struct meta_cmd *c, struct cn_buf *w)
{

	if (c->key_len > META_KEY_MAX)
		return CN_EKEYTOOLONG;
	if (c->bucket_len > META_BUCKET_MAX || c->if_match_len > META_ETAG_MAX ||
	    c->attrs_len > META_ATTRS_MAX || c->etag_len > META_ETAG_MAX ||
	    c->inline_len > META_INLINE_MAX || c->layout_len > META_LAYOUT_MAX ||
	    c->n_parts > META_PARTS_MAX || c->n_gc > 100000)
		return CN_EMETATOOBIG;
	wb_u8(w, CMD_V1);
	wb_u8(w, c->type);
	wb_u64(w, (uint64_t)c->now);
	if (is_map_cmd(c->type))
		return map_cmd_encode(c, w);
	if (c->type == META_CMD_IAM)
		return iam_cmd_encode(&c->iam, w);
	wb_u8(w, (uint8_t)c->bucket_len);
	cn_buf_put(w, c->bucket, c->bucket_len);
	wb_u16(w, (uint16_t)c->key_len);
	cn_buf_put(w, c->key, c->key_len);
	cn_buf_put(w, c->vid, META_ID_LEN);
	wb_u8(w, c->has_target);
	wb_u8(w, c->target_null);
	cn_buf_put(w, c->target_vid, META_ID_LEN);
	cn_buf_put(w, c->upload_id, META_ID_LEN);
	wb_u32(w, c->cond);
	wb_u8(w, c->if_match ? 1 : 0);
	wb_u8(w, (uint8_t)c->if_match_len);
	cn_buf_put(w, c->if_match, c->if_match_len);
	wb_u8(w, c->versioning);
	wb_u16(w, (uint16_t)c->attrs_len);
	cn_buf_put(w, c->attrs, c->attrs_len);
	wb_u64(w, c->size);
	wb_u8(w, (uint8_t)c->etag_len);
	cn_buf_put(w, c->etag, c->etag_len);
	wb_u8(w, c->loc);
	wb_u32(w, (uint32_t)c->inline_len);
	cn_buf_put(w, c->inline_data, c->inline_len);
	cn_buf_put(w, c->blob_id, META_ID_LEN);
	wb_u16(w, (uint16_t)c->layout_len);
	cn_buf_put(w, c->layout, c->layout_len);
	wb_u32(w, c->part_no);
	wb_u64(w, c->min_part_size);
	wb_u32(w, c->n_parts);
	for (uint32_t i = 0; i < c->n_parts; i++) {
		if (c->parts[i].etag_len > META_ETAG_MAX) {
			return CN_EMETATOOBIG;
		}
		wb_u32(w, c->parts[i].part_no);
		wb_u8(w, (uint8_t)c->parts[i].etag_len);
		cn_buf_put(w, c->parts[i].etag, c->parts[i].etag_len);
	}
	wb_u32(w, c->n_gc);
	for (uint32_t i = 0; i < c->n_gc; i++) {
		wb_u64(w, (uint64_t)c->gc[i].due);
		cn_buf_put(w, c->gc[i].blob_id, META_ID_LEN);
	}
	if (c->heal_mask && c->type != META_CMD_PUT_VERSION && c->type != META_CMD_PART_PUT &&
	    c->type != META_CMD_HEAL_DONE && c->type != META_CMD_BLOB_MOVE)
		return CN_EINVAL; /* decoding would refuse it */
	if (c->heal_mask || c->type == META_CMD_HEAL_DONE || c->type == META_CMD_BLOB_MOVE)
		wb_u16(w, c->heal_mask);
	if (c->type == META_CMD_BLOB_MOVE) {
		if (c->layout_old_len > META_LAYOUT_MAX || c->layout_gc_len > META_LAYOUT_MAX)
			return CN_EMETATOOBIG;
		wb_u16(w, (uint16_t)c->layout_old_len);
		cn_buf_put(w, c->layout_old, c->layout_old_len);
		wb_u16(w, (uint16_t)c->layout_gc_len);
		cn_buf_put(w, c->layout_gc, c->layout_gc_len);
	}
	if (cmd_has_lock(c)) {
		if (!lock_cmd_valid(c))
			return CN_EINVAL; /* decoding would refuse it */
		wb_u8(w, 'L');
		wb_u8(w, c->lock.what);
		wb_u8(w, c->lock.mode);
		wb_u8(w, c->lock.hold);
		wb_u8(w, c->lock.bypass);
		wb_u64(w, (uint64_t)c->lock.until);
	}
	return w->err;
}

int meta_cmd_encode(const struct meta_cmd *c, uint8_t **out, size_t *out_len)
{
	struct cn_buf w;
	int rc;

	cn_buf_init(&w);
	rc = cmd_encode_into(c, &w);
	if (rc) {
		cn_buf_release(&w);
		return rc;
	}
	*out = w.p;
	*out_len = w.len;
	return 0;
}

static const char *rb_str(struct rbuf *r, size_t n, size_t max, size_t *len)
{
	if (n > max) {
		r->bad = 1;
		return NULL;
	}
	*len = n;
	return (const char *)rb_bytes(r, n);
}

static void rb_id(struct rbuf *r, uint8_t out[META_ID_LEN])
{
	const uint8_t *p = rb_bytes(r, META_ID_LEN);
	if (p)
		memcpy(out, p, META_ID_LEN);
}

int meta_cmd_decode(const void *buf, size_t len, struct meta_cmd *c)
{
	struct rbuf r;
	uint8_t has_if_match;
	uint32_t n;

	memset(c, 0, sizeof(*c));
	rb_init(&r, buf, len);
	if (rb_u8(&r) != CMD_V1)
		return CN_ECORRUPT;
	c->type = rb_u8(&r);
	if ((c->type < META_CMD_BUCKET_CREATE || c->type > META_CMD_INTENT_DROP) &&
	    !is_map_cmd(c->type) && c->type != META_CMD_HEAL_DONE &&
	    c->type != META_CMD_BLOB_MOVE && c->type != META_CMD_SETTING &&
	    c->type != META_CMD_IAM && c->type != META_CMD_BUCKET_CONF &&
	    c->type != META_CMD_VERSION_ATTRS && c->type != META_CMD_VERSION_LOCK)
		return CN_ECORRUPT;
	c->now = (int64_t)rb_u64(&r);
	if (is_map_cmd(c->type)) {
		map_cmd_decode(&r, c);
		return fin(&r);
	}
	if (c->type == META_CMD_IAM) {
		iam_cmd_decode(&r, &c->iam);
		return fin(&r);
	}
	c->bucket = rb_str(&r, rb_u8(&r), META_BUCKET_MAX, &c->bucket_len);
	c->key = rb_str(&r, rb_u16(&r), META_KEY_MAX, &c->key_len);
	rb_id(&r, c->vid);
	c->has_target = rb_u8(&r);
	c->target_null = rb_u8(&r);
	rb_id(&r, c->target_vid);
	rb_id(&r, c->upload_id);
	c->cond = rb_u32(&r);
	has_if_match = rb_u8(&r);
	c->if_match = rb_str(&r, rb_u8(&r), META_ETAG_MAX, &c->if_match_len);
	if (has_if_match > 1)
		r.bad = 1;
	if (!has_if_match) {
		if (c->if_match_len)
			r.bad = 1;
		c->if_match = NULL;
	}
	c->versioning = rb_u8(&r);
	c->attrs = rb_str(&r, rb_u16(&r), META_ATTRS_MAX, &c->attrs_len);
	c->size = rb_u64(&r);
	c->etag = rb_str(&r, rb_u8(&r), META_ETAG_MAX, &c->etag_len);
	c->loc = rb_u8(&r);
	c->inline_data = rb_str(&r, rb_u32(&r), META_INLINE_MAX, &c->inline_len);
	rb_id(&r, c->blob_id);
	c->layout = rb_str(&r, rb_u16(&r), META_LAYOUT_MAX, &c->layout_len);
	c->part_no = rb_u32(&r);
	c->min_part_size = rb_u64(&r);
	n = rb_u32(&r);
	if (r.bad || n > META_PARTS_MAX || (size_t)n * 5 > len - r.off)
		goto bad;
	if (n) {
		struct meta_part_ref *pr = calloc(n, sizeof(*pr));
		if (!pr)
			return CN_ENOMEM;
		c->owned_ = pr;
		c->parts = pr;
		c->n_parts = n;
		for (uint32_t i = 0; i < n && !r.bad; i++) {
			pr[i].part_no = rb_u32(&r);
			pr[i].etag = rb_str(&r, rb_u8(&r), META_ETAG_MAX, &pr[i].etag_len);
		}
	}
	n = rb_u32(&r);
	if (r.bad || (size_t)n * 24 > len - r.off)
		goto bad;
	if (n) {
		struct meta_gc_ref *g = calloc(n, sizeof(*g));
		if (!g) {
			meta_cmd_release(c);
			return CN_ENOMEM;
		}
		c->owned2_ = g;
		c->gc = g;
		c->n_gc = n;
		for (uint32_t i = 0; i < n; i++) {
			g[i].due = (int64_t)rb_u64(&r);
			rb_id(&r, g[i].blob_id);
		}
	}
	if (c->type == META_CMD_HEAL_DONE || c->type == META_CMD_BLOB_MOVE) {
		c->heal_mask = rb_u16(&r);
	} else if (r.off < len && len - r.off != LOCK_SECTION &&
		   (c->type == META_CMD_PUT_VERSION || c->type == META_CMD_PART_PUT)) {
		/* present only when not 0: one encoding per command */
		c->heal_mask = rb_u16(&r);
		if (!c->heal_mask)
			r.bad = 1;
	}
	if (c->type == META_CMD_BLOB_MOVE) {
		c->layout_old = rb_str(&r, rb_u16(&r), META_LAYOUT_MAX, &c->layout_old_len);
		c->layout_gc = rb_str(&r, rb_u16(&r), META_LAYOUT_MAX, &c->layout_gc_len);
	}
	if (!r.bad && (r.off < len || c->type == META_CMD_VERSION_LOCK)) {
		/* the lock section: present only when not all zero */
		if (rb_u8(&r) != 'L')
			r.bad = 1;
		c->lock.what = rb_u8(&r);
		c->lock.mode = rb_u8(&r);
		c->lock.hold = rb_u8(&r);
		c->lock.bypass = rb_u8(&r);
		c->lock.until = (int64_t)rb_u64(&r);
		if (!cmd_has_lock(c) || !lock_cmd_valid(c))
			r.bad = 1;
	}
	if (fin(&r))
		goto bad;
	return 0;
bad:
	meta_cmd_release(c);
	return CN_ECORRUPT;
}

void meta_cmd_release(struct meta_cmd *c)
{
	if (!c)
		return;
	free(c->owned_);
	free(c->owned2_);
	c->owned_ = NULL;
	c->owned2_ = NULL;
	c->parts = NULL;
	c->gc = NULL;
	c->n_parts = 0;
	c->n_gc = 0;
}
