/*
 * meta/backup.h — the metadata backup file (`cairn admin backup`, `cairn
 * restore`): its format, the consistent store copy it carries, and the checks
 * a restore makes on it.
 *
 * Backup file, format version 1 (integers little-endian):
 *   OFFSET     SIZE  MEANING
 *   0          8     magic "CAIRNBAK"
 *   8          4     backup format version (1)
 *   12         4     manifest length M (1 .. META_BACKUP_MANIFEST_MAX)
 *   16         8     store copy length N
 *   24         M     manifest: JSON object (see below)
 *   24+M       N     store copy: a compacted LMDB data.mdb, from one read
 *                    snapshot (mdb_env_copyfd2, MDB_CP_COMPACT)
 *   24+M+N     32    SHA-256 of bytes [0, 24+M+N)
 * The checksum trails the copy so the server streams it while hashing: the
 * copy is never read twice and never held in memory.
 *
 * Manifest keys: "format" (metadata store format version of the copy),
 * "deployment" (hex deployment id of the drive set), "drives" (array of
 * {"id": hex, "pos": n}: the drives of the set the server had), "node_id",
 * "cluster" (bool), "applied" (cluster: the Raft index the copy reflects),
 * "time" (RFC 3339 UTC), "time_ns", "bytes" (N).
 *
 * Thread rules: meta_backup_copy blocks for the whole copy: a worker thread,
 * never an event loop. The rest are pure or touch only their arguments.
 */
#ifndef CAIRN_META_BACKUP_H
#define CAIRN_META_BACKUP_H

#include <stdint.h>

#include "meta/meta.h"

#define META_BACKUP_MAGIC "CAIRNBAK"
#define META_BACKUP_VERSION 1u
#define META_BACKUP_HEAD 24
#define META_BACKUP_SUM 32
#define META_BACKUP_MANIFEST_MAX (64u * 1024)

/* Writes a compacting copy of s, from one read snapshot, into a new unlinked
 * file in tmpdir (on the store's filesystem, so /tmp's size does not matter).
 * Returns *fd owned (the caller closes it: its space goes back then) and the
 * copy's length. Writers go on meanwhile (LMDB MVCC). Worker thread. */
int meta_backup_copy(struct meta_store *s, const char *tmpdir, int *fd, uint64_t *len);

/* The fixed head for a manifest of mlen bytes and a copy of len bytes. */
void meta_backup_head_encode(uint8_t out[META_BACKUP_HEAD], uint32_t mlen, uint64_t len);
/* Checks magic, version and bounds: CN_ECORRUPT (not a backup) or
 * CN_EFORMAT (a newer backup format). */
int meta_backup_head_decode(const uint8_t in[META_BACKUP_HEAD], uint32_t *mlen, uint64_t *len);

/* Opens the store copy dir/data.mdb (a directory holding only it) and reads
 * its metadata format version. Leaves dir/lock.mdb behind (remove it).
 * CN_ECORRUPT / CN_EFORMAT when LMDB refuses it. Offline use only. */
int meta_backup_inspect(const char *dir, uint32_t *format);

#endif
