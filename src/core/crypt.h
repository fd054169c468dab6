/*
 * core/crypt.h — the cryptography of server-side encryption (DESIGN §8):
 * the master key, key wrapping, and the sealed stream format that object
 * data is stored in. AES-256-GCM through OpenSSL; nothing here knows of S3,
 * blobs or metadata.
 *
 * Key hierarchy (docs/ARCHITECTURE.md, "Encryption"):
 *   master key (a 0600 file or CAIRN_KMS_MASTER_KEY, never in metadata)
 *     wraps: SSE-S3 data keys, the material of named KMS keys
 *   KMS key material wraps SSE-KMS data keys
 *   data key (one per object or multipart upload; SSE-C: the customer's key)
 *     -> stream key = HMAC-SHA256(data key, "cairn blob key" || blob id)
 *        encrypts one blob; an inline object's uses a random salt instead
 * A data key never encrypts data itself: every blob has its own key (blob
 * ids are random and never reused), so a nonce (the frame index) never
 * repeats under one key even when one data key encrypts many parts.
 *
 * Sealed stream, format 2 (what a blob of an encrypted object holds). No
 * header: the stream key comes from the blob id, and every frame fills a
 * 64 KiB slot, so frames line up with the data path's blocks (1 MiB = 16
 * slots) and a sequential read of 16 frames is one whole block, read
 * straight into the caller's buffer.
 *   OFFSET         SIZE  MEANING
 *   i * 65536      n_i   frame i: ciphertext of plaintext bytes
 *                        [i*F, i*F + n_i), F = 65520, n_i = F but the last
 *   ... + n_i      16    its GCM tag
 * Nonce of frame i: 4 zero bytes + i (u64 big-endian). AAD: i (u64 BE) and
 * a byte, 1 for the last frame: a reordered, dropped or truncated frame
 * fails its tag. A stream always has at least one frame (an empty one for
 * an empty plaintext), so cutting a stream short is always detected.
 * Plaintext of n bytes seals to n + 16 * max(1, ceil(n / F)) bytes.
 *
 * Thread rules: every function is pure or works on its caller's struct;
 * one sealer/opener is used by one thread at a time.
 */
#ifndef CAIRN_CORE_CRYPT_H
#define CAIRN_CORE_CRYPT_H

#include <stddef.h>
#include <stdint.h>

#define CN_KEY_LEN 32
#define CN_WRAP_LEN 60 /* nonce 12, wrapped key 32, tag 16 */
#define CN_SEAL_HDR 32 /* an inline seal's salt */
#define CN_SEAL_TAG 16
#define CN_SEAL_SLOT (64u * 1024)		   /* a frame and its tag */
#define CN_SEAL_FRAME (CN_SEAL_SLOT - CN_SEAL_TAG) /* plaintext per frame */
#define CN_SEAL_ID 16				   /* blob id length */
#define CN_FP_LEN 16				   /* hex characters of a fingerprint */

/* The master key: CAIRN_KMS_MASTER_KEY (base64 of 32 bytes) when set, else
 * DIR/.cairn/master.key (base64, mode 0600), generated on first start
 * (O_EXCL, file and directory fsynced). *source: 0 environment, 1 file,
 * 2 generated now. CN_EINVAL (with a line on stderr) when the variable or
 * the file is malformed; -errno when the file cannot be read or written.
 * Main thread, at start-up. */
int cn_master_key_load(const char *dir, uint8_t key[CN_KEY_LEN], int *source);
/* A key's fingerprint, for operators comparing nodes: 16 hex characters of
 * HMAC-SHA256(key, "cairn key fingerprint"); reveals nothing of the key. */
void cn_key_fingerprint(const uint8_t key[CN_KEY_LEN], char out[CN_FP_LEN + 1]);
/* out = HMAC-SHA256(key, label || ctx): a key derived for one purpose. */
void cn_key_derive(const uint8_t key[CN_KEY_LEN], const char *label, const void *ctx,
		   size_t ctx_len, uint8_t out[CN_KEY_LEN]);

/* Wraps a 32-byte key under kek (AES-256-GCM, random nonce, aad binds the
 * purpose). 0 or CN_EINTERNAL. */
int cn_key_wrap(const uint8_t kek[CN_KEY_LEN], const void *aad, size_t aad_len,
		const uint8_t key[CN_KEY_LEN], uint8_t out[CN_WRAP_LEN]);
/* 0, or CN_EDECRYPT when kek, aad or the wrapped bytes are not the ones
 * it was wrapped with. */
int cn_key_unwrap(const uint8_t kek[CN_KEY_LEN], const void *aad, size_t aad_len,
		  const uint8_t in[CN_WRAP_LEN], uint8_t key[CN_KEY_LEN]);

/* ---- sealed streams ---- */

/* Sealed length of n plaintext bytes. */
uint64_t cn_seal_size(uint64_t n);
/* Number of frames of n plaintext bytes (at least 1). */
uint64_t cn_seal_frames(uint64_t n);
/* Offset of frame i in the sealed stream. */
uint64_t cn_seal_frame_off(uint64_t i);

/* Where sealed bytes go: 0 or an error that stops the stream. */
typedef int (*cn_emit_fn)(void *arg, const void *p, size_t len);

struct cn_sealer {
	void *ctx; /* EVP_CIPHER_CTX */
	uint8_t key[CN_KEY_LEN];
	uint64_t frame;
	uint8_t *pend; /* CN_SEAL_FRAME bytes: the frame being gathered */
	size_t pend_len;
	uint8_t *out; /* CN_SEAL_FRAME + CN_SEAL_TAG */
};

/* The stream of blob `id` (unique: a blob id is never written twice)
 * sealed under data key dk. Owns memory (two frame buffers) until
 * _release. 0 or CN_ENOMEM. */
int cn_sealer_init(struct cn_sealer *s, const uint8_t dk[CN_KEY_LEN], const uint8_t id[CN_SEAL_ID]);
/* Seals plaintext (any chunking) and hands sealed bytes to emit. A frame is
 * sealed once the byte after it arrives (the last one is only known at
 * _final), so emit sees whole frames. */
int cn_sealer_update(struct cn_sealer *s, const void *p, size_t len, cn_emit_fn emit, void *arg);
/* Seals the last frame (empty for an empty stream). */
int cn_sealer_final(struct cn_sealer *s, cn_emit_fn emit, void *arg);
void cn_sealer_release(struct cn_sealer *s);

struct cn_opener {
	void *ctx;
	uint8_t key[CN_KEY_LEN];
	uint64_t size; /* plaintext size */
	uint32_t frame_size;
};

/* Opens the stream of blob `id`, plaintext size `size`, sealed under dk.
 * 0 or CN_ENOMEM. */
int cn_opener_init(struct cn_opener *o, const uint8_t dk[CN_KEY_LEN], const uint8_t id[CN_SEAL_ID],
		   uint64_t size);
/* buf holds the sealed frames first, first+1, ... (len bytes, whole
 * frames). Decrypts them in place and moves the plaintext to the start of
 * buf; *out = plaintext bytes. CN_EDECRYPT on a tag failure (nothing in buf
 * is plaintext then), CN_EINVAL when len is not whole frames. */
int cn_opener_frames(struct cn_opener *o, uint64_t first, uint8_t *buf, size_t len, size_t *out);
void cn_opener_release(struct cn_opener *o);

/* One-shot sealing of a whole small plaintext without expansion (inline
 * objects: metadata requires their stored length to be their size): a
 * random salt ("CSE1", 4 zero bytes, 24 random bytes; the stream key is
 * derived from it) and the tag are returned apart, to be stored beside the
 * ciphertext. out may equal in. 0, CN_ENOMEM or CN_EINTERNAL. */
int cn_seal_whole(const uint8_t dk[CN_KEY_LEN], const uint8_t *in, size_t len, uint8_t *out,
		  uint8_t hdr[CN_SEAL_HDR], uint8_t tag[CN_SEAL_TAG]);
/* Its inverse; CN_EDECRYPT when anything differs. out may equal in. */
int cn_open_whole(const uint8_t dk[CN_KEY_LEN], const uint8_t *in, size_t len, uint8_t *out,
		  const uint8_t hdr[CN_SEAL_HDR], const uint8_t tag[CN_SEAL_TAG]);

#endif
