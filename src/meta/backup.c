/*
 * meta/backup.c — the store copy inside a backup file, and the head codec
 * (format table in backup.h).
 *
 * Layer: meta. The copy goes through the kv seam (kv_env_copy_fd), which
 * holds one LMDB read transaction for its duration: the metadata thread keeps
 * committing meanwhile, and the copy is the store as of that snapshot.
 */
#include "meta/backup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "meta/meta_int.h"

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

int meta_backup_copy(struct meta_store *s, const char *tmpdir, int *fd, uint64_t *len)
{
	char path[4096];
	struct stat st;
	int f, rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/backup-XXXXXX", tmpdir) >= sizeof(path))
		return CN_ETOOBIG;
	f = mkostemp(path, O_CLOEXEC);
	if (f < 0)
		return -errno;
	/* unlinked at once: a failed or abandoned backup leaves nothing */
	unlink(path);
	rc = kv_env_copy_fd(s->env, f);
	if (!rc && fstat(f, &st) != 0)
		rc = -errno;
	if (rc) {
		close(f);
		return rc;
	}
	*fd = f;
	*len = (uint64_t)st.st_size;
	return 0;
}

void meta_backup_head_encode(uint8_t out[META_BACKUP_HEAD], uint32_t mlen, uint64_t len)
{
	memcpy(out, META_BACKUP_MAGIC, 8);
	put_le(out + 8, META_BACKUP_VERSION, 4);
	put_le(out + 12, mlen, 4);
	put_le(out + 16, len, 8);
}

int meta_backup_head_decode(const uint8_t in[META_BACKUP_HEAD], uint32_t *mlen, uint64_t *len)
{
	if (memcmp(in, META_BACKUP_MAGIC, 8) != 0)
		return CN_ECORRUPT;
	if (get_le(in + 8, 4) != META_BACKUP_VERSION)
		return CN_EFORMAT;
	*mlen = (uint32_t)get_le(in + 12, 4);
	*len = get_le(in + 16, 8);
	if (*mlen == 0 || *mlen > META_BACKUP_MANIFEST_MAX || *len > (UINT64_C(1) << 50))
		return CN_ECORRUPT;
	return 0;
}

int meta_backup_inspect(const char *dir, uint32_t *format)
{
	struct kv_env *e = NULL;
	struct kv_txn t;
	const uint8_t *v;
	size_t vlen;
	int rc = kv_env_open(dir, 64ull << 30, 0, &e);

	if (rc)
		return rc;
	rc = kv_txn_begin(e, NULL, 1, &t);
	if (rc)
		goto out;
	rc = kv_get(&t, KV_SYSTEM, "format", 6, &v, &vlen);
	if (rc == CN_ENOTFOUND || (!rc && vlen != 4))
		rc = CN_ECORRUPT; /* every opened store records its format */
	if (!rc)
		*format = (uint32_t)get_le(v, 4);
	kv_txn_abort(&t);
out:
	kv_env_close(e);
	return rc;
}
