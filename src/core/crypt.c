/*
 * core/crypt.c — see crypt.h for the key hierarchy and the sealed stream
 * format (the OFFSET/SIZE/MEANING table lives there).
 *
 * Everything is AES-256-GCM through OpenSSL's EVP interface (AES-NI when
 * the CPU has it). A tag failure is always an error: no byte of a frame
 * whose tag did not verify is ever handed out as plaintext.
 */
#include "core/crypt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/digest.h"
#include "core/err.h"

#define MAGIC "CSE1"

void cn_key_derive(const uint8_t key[CN_KEY_LEN], const char *label, const void *ctx,
		   size_t ctx_len, uint8_t out[CN_KEY_LEN])
{
	size_t ll = strlen(label);
	uint8_t msg[128 + CN_SEAL_HDR];
	uint8_t *m = msg;

	if (ll + ctx_len > sizeof(msg)) {
		m = malloc(ll + ctx_len);
		if (!m) {
			/* cannot happen for our callers (short labels and
			 * contexts); never return a key that is not derived */
			abort();
		}
	}
	memcpy(m, label, ll);
	if (ctx_len)
		memcpy(m + ll, ctx, ctx_len);
	cn_hmac_sha256(key, CN_KEY_LEN, m, ll + ctx_len, out);
	if (m != msg)
		free(m);
	explicit_bzero(msg, sizeof(msg));
}

void cn_key_fingerprint(const uint8_t key[CN_KEY_LEN], char out[CN_FP_LEN + 1])
{
	uint8_t h[32];

	cn_key_derive(key, "cairn key fingerprint", NULL, 0, h);
	cn_hex(h, CN_FP_LEN / 2, out);
	out[CN_FP_LEN] = 0;
}

/* ---- AES-256-GCM, one message ---- */

static int gcm(int enc, EVP_CIPHER_CTX *c, const uint8_t key[CN_KEY_LEN], const uint8_t iv[12],
	       const void *aad, size_t aad_len, const uint8_t *in, size_t len, uint8_t *out,
	       uint8_t tag[16])
{
	int n;

	if (!EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv, enc))
		return CN_EINTERNAL;
	if (aad_len && !EVP_CipherUpdate(c, NULL, &n, aad, (int)aad_len))
		return CN_EINTERNAL;
	if (len && !EVP_CipherUpdate(c, out, &n, in, (int)len))
		return CN_EINTERNAL;
	if (!enc && !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag))
		return CN_EINTERNAL;
	if (!EVP_CipherFinal_ex(c, out + len, &n))
		return enc ? CN_EINTERNAL : CN_EDECRYPT;
	if (enc && !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag))
		return CN_EINTERNAL;
	return 0;
}

int cn_key_wrap(const uint8_t kek[CN_KEY_LEN], const void *aad, size_t aad_len,
		const uint8_t key[CN_KEY_LEN], uint8_t out[CN_WRAP_LEN])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int rc = CN_EINTERNAL;

	if (!c)
		return CN_ENOMEM;
	if (RAND_bytes(out, 12) == 1)
		rc = gcm(1, c, kek, out, aad, aad_len, key, CN_KEY_LEN, out + 12, out + 44);
	EVP_CIPHER_CTX_free(c);
	return rc;
}

int cn_key_unwrap(const uint8_t kek[CN_KEY_LEN], const void *aad, size_t aad_len,
		  const uint8_t in[CN_WRAP_LEN], uint8_t key[CN_KEY_LEN])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	uint8_t tag[16];
	int rc;

	if (!c)
		return CN_ENOMEM;
	memcpy(tag, in + 44, 16);
	rc = gcm(0, c, kek, in, aad, aad_len, in + 12, CN_KEY_LEN, key, tag);
	EVP_CIPHER_CTX_free(c);
	if (rc)
		explicit_bzero(key, CN_KEY_LEN);
	return rc;
}

/* ---- sealed streams ---- */

uint64_t cn_seal_frames(uint64_t n)
{
	return n == 0 ? 1 : (n + CN_SEAL_FRAME - 1) / CN_SEAL_FRAME;
}

uint64_t cn_seal_size(uint64_t n)
{
	return n + CN_SEAL_TAG * cn_seal_frames(n);
}

uint64_t cn_seal_frame_off(uint64_t i)
{
	return i * (uint64_t)CN_SEAL_SLOT;
}

static void frame_iv(uint64_t i, uint8_t iv[12], uint8_t aad[9], int last)
{
	memset(iv, 0, 4);
	for (int b = 0; b < 8; b++)
		iv[4 + b] = aad[b] = (uint8_t)(i >> (56 - 8 * b));
	aad[8] = (uint8_t)(last != 0);
}

static void blob_key(const uint8_t dk[CN_KEY_LEN], const uint8_t id[CN_SEAL_ID],
		     uint8_t out[CN_KEY_LEN])
{
	cn_key_derive(dk, "cairn blob key", id, CN_SEAL_ID, out);
}

int cn_sealer_init(struct cn_sealer *s, const uint8_t dk[CN_KEY_LEN], const uint8_t id[CN_SEAL_ID])
{
	memset(s, 0, sizeof(*s));
	blob_key(dk, id, s->key);
	s->ctx = EVP_CIPHER_CTX_new();
	s->pend = malloc(CN_SEAL_FRAME);
	s->out = malloc(CN_SEAL_FRAME + CN_SEAL_TAG);
	if (!s->ctx || !s->pend || !s->out) {
		cn_sealer_release(s);
		return CN_ENOMEM;
	}
	return 0;
}

static int seal_frame(struct cn_sealer *s, const uint8_t *p, size_t n, int last, cn_emit_fn emit,
		      void *arg)
{
	uint8_t iv[12], aad[9];
	int rc;

	frame_iv(s->frame, iv, aad, last);
	rc = gcm(1, s->ctx, s->key, iv, aad, sizeof(aad), p, n, s->out, s->out + n);
	if (rc)
		return rc;
	s->frame++;
	return emit(arg, s->out, n + CN_SEAL_TAG);
}

int cn_sealer_update(struct cn_sealer *s, const void *p, size_t len, cn_emit_fn emit, void *arg)
{
	const uint8_t *in = p;
	int rc;

	while (len > 0) {
		size_t take;
		if (s->pend_len == CN_SEAL_FRAME) {
			/* more bytes follow: this frame is not the last */
			rc = seal_frame(s, s->pend, CN_SEAL_FRAME, 0, emit, arg);
			if (rc)
				return rc;
			s->pend_len = 0;
		}
		if (s->pend_len == 0 && len > CN_SEAL_FRAME) {
			/* a whole frame with bytes after it: seal it in place */
			rc = seal_frame(s, in, CN_SEAL_FRAME, 0, emit, arg);
			if (rc)
				return rc;
			in += CN_SEAL_FRAME;
			len -= CN_SEAL_FRAME;
			continue;
		}
		take = CN_SEAL_FRAME - s->pend_len;
		if (take > len)
			take = len;
		memcpy(s->pend + s->pend_len, in, take);
		s->pend_len += take;
		in += take;
		len -= take;
	}
	return 0;
}

int cn_sealer_final(struct cn_sealer *s, cn_emit_fn emit, void *arg)
{
	int rc = seal_frame(s, s->pend, s->pend_len, 1, emit, arg);

	s->pend_len = 0;
	return rc;
}

void cn_sealer_release(struct cn_sealer *s)
{
	EVP_CIPHER_CTX_free(s->ctx);
	free(s->pend);
	free(s->out);
	explicit_bzero(s, sizeof(*s));
}

int cn_opener_init(struct cn_opener *o, const uint8_t dk[CN_KEY_LEN], const uint8_t id[CN_SEAL_ID],
		   uint64_t size)
{
	memset(o, 0, sizeof(*o));
	o->frame_size = CN_SEAL_FRAME;
	o->size = size;
	blob_key(dk, id, o->key);
	o->ctx = EVP_CIPHER_CTX_new();
	return o->ctx ? 0 : CN_ENOMEM;
}

int cn_opener_frames(struct cn_opener *o, uint64_t first, uint8_t *buf, size_t len, size_t *out)
{
	uint64_t nf = cn_seal_frames(o->size), i = first;
	size_t off = 0, pos = 0;
	int rc;

	*out = 0;
	while (off < len) {
		uint8_t iv[12], aad[9];
		uint64_t fs = i * (uint64_t)CN_SEAL_FRAME;
		size_t n;
		if (i >= nf)
			return CN_EINVAL;
		n = (size_t)(o->size - fs < CN_SEAL_FRAME ? o->size - fs : CN_SEAL_FRAME);
		if (len - off < n + CN_SEAL_TAG)
			return CN_EINVAL;
		frame_iv(i, iv, aad, i == nf - 1);
		rc = gcm(0, o->ctx, o->key, iv, aad, sizeof(aad), buf + off, n, buf + off,
			 buf + off + n);
		if (rc) {
			/* never leave a half-decrypted buffer that looks like data */
			explicit_bzero(buf, len);
			return rc;
		}
		if (pos != off)
			memmove(buf + pos, buf + off, n);
		pos += n;
		off += n + CN_SEAL_TAG;
		i++;
	}
	*out = pos;
	return 0;
}

void cn_opener_release(struct cn_opener *o)
{
	EVP_CIPHER_CTX_free(o->ctx);
	explicit_bzero(o, sizeof(*o));
}

/* The inline form: a key derived from a random salt, one frame whose
 * index is all ones and whose tag is stored apart. */
static int whole(int enc, const uint8_t dk[CN_KEY_LEN], const uint8_t *in, size_t len, uint8_t *out,
		 const uint8_t hdr[CN_SEAL_HDR], uint8_t tag[CN_SEAL_TAG])
{
	EVP_CIPHER_CTX *c;
	uint8_t key[CN_KEY_LEN], iv[12], aad[9];
	int rc;

	if (len > INT32_MAX - 64)
		return CN_EINVAL;
	c = EVP_CIPHER_CTX_new();
	if (!c)
		return CN_ENOMEM;
	cn_key_derive(dk, "cairn inline key", hdr, CN_SEAL_HDR, key);
	frame_iv(UINT64_MAX, iv, aad, 1);
	rc = gcm(enc, c, key, iv, aad, sizeof(aad), in, len, out, tag);
	EVP_CIPHER_CTX_free(c);
	explicit_bzero(key, sizeof(key));
	return rc;
}

int cn_seal_whole(const uint8_t dk[CN_KEY_LEN], const uint8_t *in, size_t len, uint8_t *out,
		  uint8_t hdr[CN_SEAL_HDR], uint8_t tag[CN_SEAL_TAG])
{
	memcpy(hdr, MAGIC, 4);
	memset(hdr + 4, 0, 4); /* frame size 0: the inline form */
	if (RAND_bytes(hdr + 8, CN_SEAL_HDR - 8) != 1)
		return CN_EINTERNAL;
	return whole(1, dk, in, len, out, hdr, tag);
}

int cn_open_whole(const uint8_t dk[CN_KEY_LEN], const uint8_t *in, size_t len, uint8_t *out,
		  const uint8_t hdr[CN_SEAL_HDR], const uint8_t tag[CN_SEAL_TAG])
{
	uint8_t t[CN_SEAL_TAG];
	int rc;

	if (memcmp(hdr, MAGIC, 4) != 0 || memcmp(hdr + 4, "\0\0\0\0", 4) != 0)
		return CN_EDECRYPT;
	memcpy(t, tag, sizeof(t));
	rc = whole(0, dk, in, len, out, hdr, t);
	if (rc)
		explicit_bzero(out, len);
	return rc;
}

/* ---- the master key ---- */

static int parse_b64_key(const char *s, size_t n, uint8_t key[CN_KEY_LEN])
{
	uint8_t tmp[CN_KEY_LEN + 8];
	long got;

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		n--;
	got = cn_b64_decode(s, n, tmp, sizeof(tmp));
	if (got != CN_KEY_LEN) {
		explicit_bzero(tmp, sizeof(tmp));
		return CN_EINVAL;
	}
	memcpy(key, tmp, CN_KEY_LEN);
	explicit_bzero(tmp, sizeof(tmp));
	return 0;
}

static int fsync_dir(const char *path)
{
	char dir[4200];
	const char *slash = strrchr(path, '/');
	int fd, rc = 0;

	if (!slash || (size_t)(slash - path) >= sizeof(dir))
		return 0;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = 0;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) != 0)
		rc = -errno;
	close(fd);
	return rc;
}

int cn_master_key_load(const char *dir, uint8_t key[CN_KEY_LEN], int *source)
{
	const char *env = getenv("CAIRN_KMS_MASTER_KEY");
	char path[4200], buf[128];
	ssize_t n;
	int fd, rc;

	if (env && *env) {
		*source = 0;
		if (parse_b64_key(env, strlen(env), key)) {
			fprintf(stderr, "cairn: CAIRN_KMS_MASTER_KEY must be the base64 of 32 "
					"bytes\n");
			return CN_EINVAL;
		}
		return 0;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/.cairn/master.key", dir) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		rc = n < 0 ? -errno : 0;
		close(fd);
		if (rc)
			return rc;
		*source = 1;
		rc = parse_b64_key(buf, (size_t)n, key);
		explicit_bzero(buf, sizeof(buf));
		if (rc)
			fprintf(stderr, "cairn: %s is malformed (want the base64 of 32 bytes)\n",
				path);
		return rc;
	}
	if (errno != ENOENT) {
		/* Unreadable is not absent: a new key would orphan every
		 * encrypted object. */
		rc = -errno;
		fprintf(stderr, "cairn: cannot read %s: %s\n", path, strerror(-rc));
		return rc;
	}
	if (RAND_bytes(key, CN_KEY_LEN) != 1)
		return CN_EINTERNAL;
	n = (ssize_t)cn_b64_encode(key, CN_KEY_LEN, buf, sizeof(buf));
	buf[n++] = '\n';
	/* O_EXCL: two processes starting at once must not each write a key */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		explicit_bzero(buf, sizeof(buf));
		return rc;
	}
	rc = 0;
	if (write(fd, buf, (size_t)n) != n || fsync(fd) != 0)
		rc = errno ? -errno : -EIO;
	close(fd);
	explicit_bzero(buf, sizeof(buf));
	if (!rc)
		rc = fsync_dir(path);
	if (rc) {
		unlink(path);
		return rc;
	}
	*source = 2;
	return 0;
}
