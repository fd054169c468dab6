/*
 * s3/sse.h — private to src/s3: server-side encryption of object data
 * (SSE-S3, SSE-KMS, SSE-C), on top of core/crypt.
 *
 * A write decides its encryption from its headers or the bucket's default
 * (s3_sse_for_write): a fresh data key, wrapped (SSE-S3: by the master key;
 * SSE-KMS: by a named KMS key) or, for SSE-C, the customer's key itself,
 * checked later against a salted HMAC. The T_SSE record of the version's
 * (or upload's) attrs keeps what a read needs; a read gets the data key
 * back with s3_sse_unlock (SSE-C: from the request's headers).
 *
 * Blob data is a sealed stream (core/crypt.h) whose key is derived from the
 * data key and the blob id; inline objects are sealed whole without
 * expansion, their salt and tag kept in the record, since
 * metadata requires an inline object's stored length to be its size. The
 * version's size stays the plaintext size everywhere S3 shows it.
 *
 * T_SSE record, format 1:
 *   OFFSET SIZE MEANING
 *   0      1    format (1)
 *   1      1    mode: 1 SSE-S3, 2 SSE-KMS, 3 SSE-C
 *   2      1    flags: 1 bucket key enabled, 2 inline seal follows
 *   3      ..   SSE-S3: wrapped data key (60)
 *               SSE-KMS: wrapped data key (60), name length (1), KMS key
 *                 name, context length (2, LE), encryption context (JSON)
 *               SSE-C: salt (16), HMAC-SHA256(salt, customer key) (32)
 *   then, flag 2: inline seal salt (32), tag (16)
 *
 * Thread rules: everything runs on the request's loop, except the
 * reader/writer helpers, which run on the thread pool with the s3_sse they
 * borrow left untouched meanwhile.
 */
#ifndef CAIRN_S3_SSE_H
#define CAIRN_S3_SSE_H

#include "core/crypt.h"
#include "s3/s3_int.h"

enum s3_sse_mode { S3_SSE_NONE = 0, S3_SSE_S3 = 1, S3_SSE_KMS = 2, S3_SSE_C = 3 };

#define S3_KMS_NAME_MAX 28 /* "kms." + name is a setting name */
#define S3_KMS_CTX_MAX 4096

struct s3_sse {
	enum s3_sse_mode mode;
	int bucket_key;
	int unlocked; /* dk holds the data key */
	uint8_t dk[CN_KEY_LEN];
	uint8_t wrapped[CN_WRAP_LEN];	    /* SSE-S3, SSE-KMS */
	char kms_name[S3_KMS_NAME_MAX + 1]; /* SSE-KMS: "aws/s3" or a ring key */
	const char *ctx;		    /* SSE-KMS: context JSON (pool), may be NULL */
	size_t ctx_len;
	uint8_t c_salt[16], c_mac[32]; /* SSE-C */
	const char *c_md5;	       /* SSE-C: the request's key MD5 (echoed) */
	int has_inline;
	uint8_t ihdr[CN_SEAL_HDR], itag[CN_SEAL_TAG];
};

/* The encryption a write asks for (x-amz-server-side-encryption*, the
 * customer-key headers) or, when it names none, the bucket's default;
 * mode NONE when neither. Generates the data key. Errors: CN_EBADARG,
 * CN_EBADSSE (r->err_msg says why), CN_EKMSNOKEY. */
int s3_sse_for_write(struct s3_req *r, struct s3_sse *out);
/* Decodes a T_SSE record (len 0: not encrypted) without the key. */
int s3_sse_decode(struct s3_req *r, const uint8_t *rec, size_t len, struct s3_sse *out);
/* The data key of a decoded record. copy_src: the SSE-C key comes from
 * x-amz-copy-source-server-side-encryption-customer-*; part: a part of an
 * SSE-C upload (a wrong key is InvalidArgument there, as in S3). Also
 * refuses customer-key headers for an object that has no SSE-C. */
int s3_sse_unlock(struct s3_req *r, struct s3_sse *s, int copy_src, int part);
/* Both, from a version's or upload's encoded attrs. */
int s3_sse_for_read(struct s3_req *r, const uint8_t *attrs, size_t attrs_len, int copy_src,
		    struct s3_sse *out);
/* The T_SSE record into pool memory (NULL, 0 for mode NONE). */
int s3_sse_record(struct s3_req *r, const struct s3_sse *s, const uint8_t **out, size_t *len);
/* The response headers that describe s. */
void s3_sse_headers(struct s3_req *r, const struct s3_sse *s, struct s3_hdrs *h);
/* Is the ETag of such an object the MD5 of its sealed bytes (SSE-KMS,
 * SSE-C) rather than of its plaintext (SSE-S3, none), as in S3? */
int s3_sse_etag_sealed(const struct s3_sse *s);
/* Do the request's headers name an encryption (for a copy onto itself)? */
int s3_sse_requested(struct s3_req *r);

/* Inline objects: seals buf (len bytes) in place, keeping header and tag in
 * s; md5 = MD5 of header, sealed bytes and tag. Loop thread. */
int s3_sse_seal_inline(struct s3_sse *s, uint8_t *buf, size_t len, uint8_t md5[16]);
/* Opens len sealed bytes into out (may equal in). */
int s3_sse_open_inline(const struct s3_sse *s, const uint8_t *in, size_t len, uint8_t *out);

/* Reading a sealed blob whose plaintext is `size` bytes. Pool thread. */
struct s3_sse_reader {
	const struct s3_sse *s;
	uint8_t id[CN_SEAL_ID]; /* the blob's id: set it when the blob changes */
	struct cn_opener o;
	int open;
};
/* Forgets the blob (the next read opens another). */
void s3_sse_reader_reset(struct s3_sse_reader *sr);
/* Plaintext from offset off, at most want bytes, into buf (cap bytes, at
 * least one 64 KiB slot): the bytes start at buf + *skip, *got of them
 * (> 0 unless an error). A read stops at a 16-frame (1 MiB) boundary, so
 * sequential reads ask the data path for whole blocks. CN_EDECRYPT on a
 * tag failure, CN_ECORRUPT when the blob is shorter than its size says. */
int s3_sse_read(struct s3_sse_reader *sr, struct blob_reader *br, uint64_t size, uint64_t off,
		uint8_t *buf, size_t cap, size_t want, size_t *skip, size_t *got);

/* Writing a sealed blob: plaintext in, sealed bytes to the writer. */
struct s3_sse_writer {
	struct cn_sealer seal;
	struct blob_writer *w;
	struct cn_digest md5; /* of the sealed bytes, when they make the ETag */
	int want_md5;
	int init;
};
/* For the new blob `id` (blob_info.id). */
int s3_sse_writer_init(struct s3_sse_writer *sw, const struct s3_sse *s,
		       const uint8_t id[CN_SEAL_ID]);
int s3_sse_writer_append(struct s3_sse_writer *sw, const void *p, size_t len);
/* Seals the last frame; md5 = MD5 of every sealed byte (SSE-KMS and
 * SSE-C, whose ETag it is; zeros otherwise). */
int s3_sse_writer_final(struct s3_sse_writer *sw, uint8_t md5[16]);
void s3_sse_writer_release(struct s3_sse_writer *sw);

/* ---- bucket default encryption (?encryption), KMS keys ---- */

/* The bucket's default, stored as its configuration document
 * "encryption": "1\n<alg>\n<key id or empty>\n<0|1>" (format 1; the key
 * id as the client gave it, no newline in it). */
struct s3_enc_conf {
	char alg[16]; /* "AES256" or "aws:kms" */
	char kid[256];
	int bucket_key;
};
/* A message s3_enc_conf_from_xml writes fits (a 255-byte key id in it). */
#define S3_ENC_MSG_CAP 320

/* A ServerSideEncryptionConfiguration body: the configuration and its
 * stored document (*doc, pool memory). CN_EBADXML for a wrong shape;
 * CN_EBADARG for an algorithm other than AES256 or aws:kms, or a key id
 * that is not allowed (not aws:kms, 256 bytes or more, a newline);
 * CN_EKMSNOKEY for a key id that names no possible key; msg (cap bytes,
 * NUL-terminated, truncated to fit) then holds the S3 message, else "".
 * Pure: no server state, any thread (tests/fuzz/fuzz_bodies.c). */
int s3_enc_conf_from_xml(struct cn_pool *pool, const char *body, size_t len,
			 struct s3_enc_conf *conf, char **doc, char *msg, size_t cap);
/* The stored document (len bytes; a NUL ends it early) back to the
 * configuration. CN_ECORRUPT when it is not format 1. Any thread. */
int s3_enc_conf_decode(const char *doc, size_t len, struct s3_enc_conf *out);
/* GetBucketEncryption's document of c, appended to w. Any thread. */
void s3_enc_conf_to_xml(const struct s3_enc_conf *c, struct cn_buf *w);
void s3_op_get_bucket_encryption(struct s3_req *r);
void s3_op_put_bucket_encryption(struct s3_req *r);
void s3_op_delete_bucket_encryption(struct s3_req *r);
/* /_cairn/admin/kms/key: GET lists the ring, POST ?op=add&name=N adds a
 * key (root only). */
void s3_admin_kms(struct s3_req *r, int post);

#endif
