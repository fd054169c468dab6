/*
 * data/data.h — checksummed, erasure-coded blobs on local drives (DESIGN §5).
 *
 * Layer: data (below s3 and bg, above core). ISA-L (erasure coding) is used
 * only inside src/data/. Every disk call goes through struct data_io so tests
 * can inject faults.
 *
 * A store is a set of drives (data directories), each with a format marker.
 * A blob is cut into blocks; each block is split into k data pieces plus m
 * Reed-Solomon parity pieces, and piece i of every block goes to shard file i
 * on its own drive, each piece preceded by its checksum. The blob's layout
 * (struct blob_layout, encoded opaquely into metadata) says where shards live.
 *
 * Thread rules: all calls are blocking and meant for a thread pool (except
 * a reader's calls in no-wait mode, which an event loop may make). A store
 * may be used by many threads at once; one writer/reader object by one thread
 * at a time. Different blobs never share state except the store's drive
 * flags and heal queue, which are thread-safe.
 *
 * Invariant: a reader never returns bytes whose checksum did not verify;
 * a blob is visible under its final shard names only after its data has been
 * written (and fsynced, by policy).
 */
#ifndef CAIRN_DATA_DATA_H
#define CAIRN_DATA_DATA_H

#include <stddef.h>
#include <stdint.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/uio.h>

#define DATA_ID_LEN 16	     /* blob, drive and deployment ids */
#define DATA_MAX_SHARDS 16   /* k + m */
#define DATA_LAYOUT_MAX 1024 /* blob_layout_encode never needs more */
#define DATA_BLOCK_DEFAULT (1u << 20)
#define DATA_BLOCK_MAX (64u << 20)
#define DATA_BUCKET_MAX 255 /* shard header field limits */
#define DATA_KEY_MAX 1024
#define DATA_VERSION_MAX 255

/* Disk seam. Every function returns >= 0 on success or -errno. ctx is the
 * struct's own ctx field. The default (data_io_posix) calls the OS. */
struct data_io {
	int (*open)(void *ctx, const char *path, int flags, int mode); /* fd */
	int (*close)(void *ctx, int fd);
	ssize_t (*pwrite)(void *ctx, int fd, const void *buf, size_t len, off_t off);
	ssize_t (*pread)(void *ctx, int fd, void *buf, size_t len, off_t off);
	int (*fsync)(void *ctx, int fd);
	int (*rename)(void *ctx, const char *from, const char *to);
	int (*unlink)(void *ctx, const char *path);
	int (*mkdir)(void *ctx, const char *path, int mode);
	int (*statvfs)(void *ctx, const char *path, struct statvfs *st);
	/* Optional pair (NULL: none) for a caller on an event loop, which must
	 * never wait on the disk: open only if the path resolves from the
	 * kernel's caches, and read only what the page cache holds (a prefix
	 * of it, or -EAGAIN when none is). -EAGAIN, or any other error, tells
	 * the caller to do the call with open/pread on a thread instead. */
	int (*open_cached)(void *ctx, const char *path, int flags);
	ssize_t (*pread_nowait)(void *ctx, int fd, void *buf, size_t len, off_t off);
	/* Optional (NULL: never): how many bytes fd holds from off (at most
	 * len, 0 past its end) if all of them are in the page cache now, so a
	 * sendfile(2) of them would not wait on the disk; -EAGAIN if not or
	 * unknown. A file handed out by fd for a zero-copy send goes around
	 * pread, so an io that injects faults leaves this NULL. */
	ssize_t (*resident)(void *ctx, int fd, off_t off, size_t len);
	void *ctx;
};

/* The plain POSIX io. Static, valid forever, any thread. */
const struct data_io *data_io_posix(void);

enum data_fsync {
	DATA_FSYNC_ALWAYS = 0, /* default: durable before finish returns */
	DATA_FSYNC_NEVER = 1,  /* benchmarks only */
};

/* Per-piece checksum algorithm (recorded per blob). */
enum data_cksum {
	DATA_CK_CRC32C = 1, /* 4 bytes, default */
	DATA_CK_XXH3 = 2,   /* 8 bytes, XXH3-64 */
};

/* What data_store_open does when the given directories do not match the
 * recorded drive set (a member missing, a directory missing or unformatted
 * and not adoptable, a drive of another position, a stale or unknown drive,
 * an unreadable marker). A drive of another deployment is always refused,
 * except under DATA_SET_DEGRADED, and a problem with dirs[0] under
 * keep_first is refused even then (the metadata lives there). */
enum data_set_check {
	DATA_SET_LENIENT = 0, /* the drive stays offline (library default) */
	DATA_SET_STRICT,      /* refuse to open (CN_EDRIVE): the server's default */
	DATA_SET_DEGRADED,    /* open without it, foreign drives too (never written) */
};

struct data_options {
	uint32_t block_size;	       /* 0: DATA_BLOCK_DEFAULT */
	uint8_t k, m;		       /* 0,0: chosen from the number of online drives */
	enum data_fsync fsync;	       /* 0: always */
	enum data_cksum cksum;	       /* 0: CRC32C */
	uint64_t reserve_bytes;	       /* keep this much free on every drive */
	int reserve_auto;	       /* and at least DATA_RESERVE_PCT of it (below) */
	size_t heal_queue_cap;	       /* 0: 1024 */
	int format_new;		       /* adopt empty directories in place of missing drives */
	int keep_first;		       /* never adopt dirs[0] (it holds the metadata) */
	enum data_set_check set_check; /* what a drive-set problem at open does */
	const struct data_io *io;      /* NULL: data_io_posix(); borrowed until close */
};

/* Who a blob belongs to; copied into every shard header so a lost metadata
 * store can be rebuilt from the drives. */
struct blob_info {
	uint8_t id[DATA_ID_LEN]; /* random, generated by the caller */
	const char *bucket;	 /* NUL-terminated, <= DATA_BUCKET_MAX */
	const char *key;	 /* <= DATA_KEY_MAX */
	size_t key_len;		 /* 0: key is NUL-terminated (a key may hold NULs) */
	const char *version_id;	 /* may be NULL; <= DATA_VERSION_MAX */
	uint32_t part_number;	 /* 0 for a plain object */
	uint64_t size_hint;	 /* expected size for the free-space check; 0: unknown */
};

/* Where and how a blob is stored. Plain value; copy freely. */
struct blob_layout {
	uint8_t id[DATA_ID_LEN];
	uint8_t k, m;
	uint8_t cksum; /* enum data_cksum */
	uint32_t block_size;
	uint64_t size;
	uint8_t drive[DATA_MAX_SHARDS][DATA_ID_LEN]; /* drive id of shard i */
	/* Set by blob_writer_finish, never encoded: bit i = shard i is not
	 * durable where drive[i] says (its node could not be reached); the
	 * caller records it for healing with the commit (cluster only). */
	uint16_t missing;
};

struct data_store;
struct blob_writer;
struct blob_reader;

/* Opens (first start: creates and formats) the drives `dirs[0..n)`.
 * Borrows dirs and opt (opt->io until close); returns an owned store in *out.
 * Refuses drives of another deployment (CN_EDRIVE) or unknown format version
 * (CN_EFORMAT); a drive that is missing or unformatted on a later start stays
 * offline, unless opt->format_new is set and it is an empty directory in the
 * position of a drive the recorded drive set knows to be missing: then it is
 * adopted as that drive's replacement (same drive id, next incarnation) and
 * flagged for rebuild (see store.c for when adoption is refused). Removes
 * temporary files left by crashed writers. Any thread, once. */
int data_store_open(const char *const *dirs, int n, const struct data_options *opt,
		    struct data_store **out);
/* Frees the store. No writer/reader may be open. NULL is fine. */
void data_store_close(struct data_store *s);

/* Re-probes offline drives and brings back those whose marker matches.
 * Returns the number of online drives. Any thread. */
int data_store_recheck(struct data_store *s);
/* Marks drive `i` offline (done automatically on EIO). Any thread. */
void data_store_drive_offline(struct data_store *s, int i);

/* The reserve under reserve_auto: 1% of the drive, at least 8 MiB, at most
 * 64 MiB, and never more than a quarter of it. New data stops there, so
 * what frees space (deletes, aborts, GC's bookkeeping: metadata commits)
 * still finds room on a disk cairn itself filled; the metadata lives on
 * drive 0. A disk filled by another program takes the reserve too. */
#define DATA_RESERVE_PCT 1
#define DATA_RESERVE_MIN (8ull << 20)
#define DATA_RESERVE_MAX (64ull << 20)
/* CN_ENOSPACE unless `need` bytes plus the reserve are free on drive i
 * (what a blob writer checks per shard; the front end asks it for bodies
 * that go into the metadata store, drive 0). One statvfs, unless one made
 * in the last 50 ms left 256 MiB more than need above the reserve (store.c
 * says why). Any thread. */
int data_store_check_space(struct data_store *s, int i, uint64_t need);
/* For a body bound for the metadata store: drive 0 as above, and in a
 * cluster every other node's store too (each keeps a copy of every record:
 * data_remote.meta_full). CN_ENOSPACE or 0. Any thread. */
int data_store_check_meta_space(struct data_store *s, uint64_t need);

struct data_drive_stat {
	const char *path; /* valid until data_store_close */
	uint8_t id[DATA_ID_LEN];
	int online;
	int rebuilding;		    /* an adopted replacement not yet fully rebuilt */
	int pos;		    /* position in the recorded drive set; -1: not a member */
	unsigned incarnation;	    /* 0 for the original drive, +1 per replacement */
	uint64_t total, used, free; /* bytes; 0 when offline */
	const char *problem;	    /* why it was kept offline at open, or NULL */
};
/* Fills up to cap entries; returns the number of drives. Any thread. */
int data_store_stats(struct data_store *s, struct data_drive_stat *out, int cap);
/* The state of the drive set. degraded: a problem was found at open or a
 * member of the set is not online now. */
struct data_set_health {
	int set_n;    /* drives in the recorded set; 0: none recorded (yet) */
	int drives;   /* directories given */
	int online;   /* of those, online */
	int missing;  /* set positions with no online drive (no set: drives - online) */
	int problems; /* problems found at open that still stand (data_store_problems) */
	int degraded;
};
/* Fills *out. Any thread. */
void data_store_health(struct data_store *s, struct data_set_health *out);
/* The problems found at open that still stand (one about a drive that has
 * since been replaced and is online is not), one sentence each, up to cap
 * into out (strings valid until data_store_close); returns how many there
 * are. Any thread. */
int data_store_problems(struct data_store *s, const char **out, int cap);

/* Explicit replacement (`cairn admin drive replace`): adopts the empty
 * directory of offline drive `i` as the replacement of the set's drive at
 * that position, exactly as data_store_open adopts one, at run time. force
 * skips the unmounted-disk check (the missing drive was a mount point, the
 * directory is not). On failure writes a reason for people into why.
 * CN_EBUSY: drive online; CN_EEXIST: not empty or has a marker; CN_EINVAL:
 * no such position or no recorded drive set; CN_EDRIVE: looks like an
 * unmounted disk. Any thread. */
int data_store_drive_replace(struct data_store *s, int i, int force, char *why, size_t cap);

/* Rebuild bookkeeping for adopted drives. rebuild_pending returns the index
 * of the first online drive at or after `from` still flagged for rebuild
 * (its id in id), or -1. save/load keep an opaque cursor (at most 64 KiB) in
 * <drive>/.cairn-rebuild (tmp + fsync + rename); load returns CN_ENOTFOUND
 * when there is none. rebuild_done clears the flag in the drive's marker and
 * removes the cursor. Any thread (one rebuilder per drive). */
int data_store_rebuild_pending(struct data_store *s, int from, uint8_t id[DATA_ID_LEN]);
int data_store_rebuild_save(struct data_store *s, int i, const void *buf, size_t len);
int data_store_rebuild_load(struct data_store *s, int i, void *buf, size_t cap, size_t *len);
int data_store_rebuild_done(struct data_store *s, int i);
/* Bytes one shard file of l holds (pieces and checksums, header excluded). */
uint64_t blob_shard_bytes(const struct blob_layout *l);
/* Index of shard on drive `id` in l, or -1. Pure, any thread. */
int blob_shard_on(const struct blob_layout *l, const uint8_t id[DATA_ID_LEN]);

/* The deployment id shared by all drives. */
void data_store_deployment(const struct data_store *s, uint8_t out[DATA_ID_LEN]);

/* Picks a layout for a new blob and opens temporary shard files.
 * Borrows s and info (only during the call); returns an owned writer.
 * CN_ENOSPACE when a chosen drive lacks free space, CN_EDRIVE when too few
 * drives are online, CN_EINVAL on bad info. Thread-pool thread. */
int blob_writer_new(struct data_store *s, const struct blob_info *info, struct blob_writer **out);
/* Appends body bytes (any chunking). Borrows buf. Buffers at most one block
 * plus its parity. After an error (CN_ENOSPACE when a drive fills, -EIO...)
 * every later call returns the same error; finish or abort the writer. */
int blob_writer_append(struct blob_writer *w, const void *buf, size_t len);
/* Flushes, fsyncs (policy), renames shards into place, fsyncs directories,
 * fills *out and frees the writer (even on error: temp files are removed). */
int blob_writer_finish(struct blob_writer *w, struct blob_layout *out);
/* Removes temporary files and frees the writer. NULL is fine. */
void blob_writer_abort(struct blob_writer *w);

/* Versioned, bounds-checked byte string for metadata (<= DATA_LAYOUT_MAX).
 * encode returns the length written or CN_ETOOBIG; decode returns 0 or
 * CN_ECORRUPT / CN_EFORMAT and never reads past len. Pure, any thread. */
int blob_layout_encode(const struct blob_layout *l, uint8_t *buf, size_t cap);
int blob_layout_decode(const uint8_t *buf, size_t len, struct blob_layout *out);
/* The drive ids of the shards of the encoded layout buf: up to cap into
 * drive; returns the number of shards (k + m) or decode's error. Pure, any
 * thread (meta_options.layout_drives). */
int blob_layout_drives(const uint8_t *buf, size_t len, uint8_t (*drive)[DATA_ID_LEN], int cap);

/* Opens a blob for reading. Borrows s and copies *l. Returns an owned reader
 * (no disk I/O yet). */
int blob_reader_open(struct data_store *s, const struct blob_layout *l, struct blob_reader **out);
/* Reads up to len bytes at offset into buf; *got is 0 at or past the end.
 * Reconstructs around bad shards and reports them to the heal queue.
 * CN_EDATALOST when a needed block has more than m bad pieces. */
int blob_reader_read(struct blob_reader *r, uint64_t offset, void *buf, size_t len, size_t *got);
/* Like blob_reader_read, without the copy: when [offset, offset + len) lies
 * in one block and the blob has more than one data piece, loads that block
 * (verified, reconstructed if need be) and points iov[0..*n) at its bytes
 * in the reader's buffers (*got = len). They stay valid until the next call
 * on r or blob_reader_close. CN_EAGAIN when it does not apply (more than one
 * block, k = 1, more than max pieces): the caller uses blob_reader_read. */
int blob_reader_view(struct blob_reader *r, uint64_t offset, size_t len, struct iovec *iov, int max,
		     int *n, size_t *got);
/* No-wait mode, for a caller on an event loop (on = 1) until turned off:
 * blob_reader_read and blob_reader_view then read only this node's data
 * pieces and only what the kernel's caches hold (data_io open_cached and
 * pread_nowait), verify every piece, and never reconstruct. Anything else
 * returns CN_EWOULDBLOCK and records nothing (no bad shard, no drive fault,
 * no heal): the caller repeats the call in normal mode on a thread. Buffers
 * given to a call that failed hold nothing of use. */
void blob_reader_nowait(struct blob_reader *r, int on);
/* Bit i set: shard i was found missing or corrupt by this reader. */
unsigned blob_reader_bad_mask(const struct blob_reader *r);
void blob_reader_close(struct blob_reader *r);

/* Verifies every piece of every shard and rebuilds bad or missing shards
 * (tmp + fsync + rename), relocating shards whose drive is gone to another
 * online drive. In a cluster (a remote is installed) only shards on this
 * node's drives are rebuilt, in place: other nodes' shards are theirs to
 * heal, and nothing is relocated. *out gets the (possibly changed) layout: if it differs from
 * *l the caller must commit it. *rebuilt (may be NULL) gets the bit mask of
 * shards rewritten. CN_EDATALOST if more than m are bad. Thread-pool thread. */
int blob_heal(struct data_store *s, const struct blob_layout *l, struct blob_layout *out,
	      unsigned *rebuilt);
/* What a scrub does to one blob: blob_heal on a single node; in a cluster
 * it verifies only the shards on this node's drives (each node scrubs what
 * it holds) and rebuilds a bad or missing one in place from k others.
 * Same results as blob_heal. Thread-pool or background thread. */
int blob_scrub(struct data_store *s, const struct blob_layout *l, struct blob_layout *out,
	       unsigned *rebuilt);
/* blob_heal for a drive rebuild that knows shard `shard` is the one to
 * write: when its file is absent on its online drive, reads only k shards
 * per block (every piece checked as it is read) and skips the full
 * verification; otherwise (or on any surprise) it is blob_heal. The layout
 * does not change on the fast path. Thread-pool or background thread. */
int blob_rebuild_shard(struct data_store *s, const struct blob_layout *l, int shard,
		       struct blob_layout *out, unsigned *rebuilt);
/* Writes shard i of blob l on drive target[i] for every bit i of mask
 * (rebalance, re-placement), produced from the blob's content through a
 * reader (so a gone or unreachable source is reconstructed); a target on
 * this store goes through a sink, another node's through a shard stream.
 * *out = l with the moved shards' drives replaced, once every one is
 * durable in place. Deletes nothing: the caller commits *out, or hands the
 * new copies to GC. Thread-pool or background thread. */
int blob_move_shards(struct data_store *s, const struct blob_layout *l,
		     const uint8_t (*target)[DATA_ID_LEN], unsigned mask, struct blob_layout *out);
/* Reads and checks every piece of every shard without writing anything.
 * *missing: shards whose file is absent or whose header is wrong; *bad:
 * shards with a corrupt or short piece. Returns 0, or CN_EDATALOST when more
 * than m shards are bad or missing. Thread-pool thread. */
int blob_verify(struct data_store *s, const struct blob_layout *l, unsigned *bad,
		unsigned *missing);
/* The layout a writer chose (size so far); valid before finish, so the
 * caller can record an intent naming the blob's drives. */
void blob_writer_layout(const struct blob_writer *w, struct blob_layout *out);
/* Removes the blob's shard files. Idempotent (missing files are fine);
 * CN_EDRIVE if a shard's drive is offline, CN_EBUSY if a reader has it
 * pinned: GC retries either later. */
int blob_delete(struct data_store *s, const struct blob_layout *l);

/* Is drive id one of this store's (online or not)? Any thread. */
int data_store_has_drive(struct data_store *s, const uint8_t id[DATA_ID_LEN]);
/* Does one of l's shards live on a drive of this store? Any thread. */
int blob_is_local(struct data_store *s, const struct blob_layout *l);

/* Cluster mode: shards on other nodes' drives. Readers fetch the raw bytes
 * of such a shard through pread and verify them exactly as local ones
 * (header, per-piece checksums), so a remote node is trusted for nothing
 * but availability. pread returns the bytes read (fewer only at the end of
 * the file) or an error: CN_ENOTFOUND (no such shard there), CN_EDRIVE (no
 * node has that drive, or it cannot be reached). Blocking; any thread. */
struct data_remote {
	ssize_t (*pread)(void *ctx, const uint8_t drive_id[DATA_ID_LEN],
			 const uint8_t blob_id[DATA_ID_LEN], int shard, void *buf, size_t len,
			 uint64_t off);
	/* Writing shard `shard` of the blob laid out as l (k, m, cksum,
	 * block_size, id) to another node's drive as one stream: wopen starts
	 * it (hdr_len: the encoded shard header's length, fixed for the
	 * blob), wput sends the next piece record (its checksum, then the
	 * piece), wseal sends the header (which holds the final size) and
	 * ends the stream, wwait returns 0 once the shard is durable and in
	 * place on that node; wfree ends it (a stream freed before it was
	 * sealed leaves nothing behind there; one sealed but not acknowledged
	 * may have left its shard, which GC finds through the blob's intent). Errors: CN_EDRIVE
	 * (unreachable, timed out), CN_ENOSPACE, ... All optional (NULL: no remote writes). */
	int (*wopen)(void *ctx, const uint8_t drive_id[DATA_ID_LEN], const struct blob_layout *l,
		     int shard, uint32_t hdr_len, void **h);
	int (*wput)(void *h, const void *ck, size_t ck_len, const void *piece, size_t len);
	int (*wseal)(void *h, const void *hdr, size_t hdr_len);
	int (*wwait)(void *h);
	void (*wfree)(void *h);
	/* Optional: the descriptor wwait reads its answer from (readable:
	 * wwait will not wait for the node), or -1 when wwait would answer at
	 * once. With it a write waits for several nodes at a time, and for the
	 * last ones only a grace after its quorum is durable (blob_writer_finish);
	 * NULL: wwait each in turn. */
	int (*wfd)(void *h);
	/* pread split around the round trip, for a reader with its own pieces
	 * to read meanwhile (optional: NULL, every remote piece goes through
	 * the fetch threads). rstart sends the request for len bytes at off
	 * into buf and returns (*h: the request in flight) or fails: CN_EDRIVE,
	 * or CN_ETIMEOUT when even connecting takes longer than wait_ms.
	 * rfinish waits up to wait_ms for the reply to begin (CN_ETIMEOUT if it
	 * has not: the node is slow) and then returns what pread would. rfree
	 * ends the request, abandoning it if unfinished; always called. */
	int (*rstart)(void *ctx, const uint8_t drive_id[DATA_ID_LEN],
		      const uint8_t blob_id[DATA_ID_LEN], int shard, void *buf, size_t len,
		      uint64_t off, unsigned wait_ms, void **h);
	ssize_t (*rfinish)(void *h, unsigned wait_ms);
	void (*rfree)(void *h);
	/* 1 if some other node lately said its metadata drive is down to its
	 * reserve (optional; cheap: no round trip, any thread). */
	int (*meta_full)(void *ctx);
	void *ctx;
};

/* Cluster mode: where a new blob's shards go. place fills k, m and the k+m
 * drive ids (distinct nodes) for blob_id, or returns an error to let the
 * writer choose among this store's own drives (CN_ENOTFOUND: no cluster
 * layout yet). Any thread. */
struct data_placer {
	int (*place)(void *ctx, const uint8_t blob_id[DATA_ID_LEN], uint8_t *k, uint8_t *m,
		     uint8_t (*drive)[DATA_ID_LEN]);
	void *ctx;
};
/* Installs p (copied) before the store is shared between threads. */
void data_store_set_placer(struct data_store *s, const struct data_placer *p);

/* Write quorum of a k+m blob whose shards go to distinct nodes: a write
 * succeeds with at least this many shards durable (docs/ARCHITECTURE.md,
 * Cluster mode part 2):
 * k + 1 when m >= 2, else k (so a 2+1 cluster writes with a node down). */
int data_write_quorum(int k, int m);

/* The receiving side of a remote shard write: a shard of the blob laid
 * out as l (geometry and id; drive ids unused) arriving for drive_id of
 * this store. put takes the records in order and checks each piece's
 * checksum as it comes (CN_ECORRUPT), seal takes the header, checks it
 * against the records received, writes it, fsyncs (policy), renames the
 * shard into place and fsyncs the directory: then the shard is durable.
 * abort (or free after a failure) removes the temporary file. CN_EDRIVE:
 * no such drive here, or offline. Thread-pool or a dedicated thread, one
 * call at a time per sink; with fsync always, put flushes every 8 MiB on a
 * helper thread of the sink's own, which the next such put, seal and free
 * join. */
struct shard_sink;
int data_shard_sink_open(struct data_store *s, const uint8_t drive_id[DATA_ID_LEN],
			 const struct blob_layout *l, int shard, uint32_t hdr_len,
			 struct shard_sink **out);
int data_shard_sink_put(struct shard_sink *k, const void *rec, size_t len);
int data_shard_sink_seal(struct shard_sink *k, const void *hdr, size_t len);
/* Frees the sink; removes the temporary file unless seal succeeded. */
void data_shard_sink_free(struct shard_sink *k);
/* Largest record a sink of l accepts (checksum + one full piece). */
size_t data_shard_record_max(const struct blob_layout *l);
/* Is l this store's to verify and heal: always on a single node; in a
 * cluster only when one of its shards is on this node's drives (each node
 * scrubs and heals its own). Any thread. */
int data_store_owns(struct data_store *s, const struct blob_layout *l);
/* Installs r (copied) before the store is shared between threads, and
 * starts the threads that fetch remote pieces in parallel. */
void data_store_set_remote(struct data_store *s, const struct data_remote *r);
/* Stops the remote fetch threads (waiting for running fetches) and
 * uninstalls the remote: call before freeing what r->ctx points at, with
 * no reader or writer running. NULL is fine. Owner thread. */
void data_store_remote_stop(struct data_store *s);
/* The serving side: raw bytes of shard `shard` of a blob on this store's
 * drive drive_id, as data_remote.pread returns them. Any thread. */
ssize_t data_shard_pread(struct data_store *s, const uint8_t drive_id[DATA_ID_LEN],
			 const uint8_t blob_id[DATA_ID_LEN], int shard, void *buf, size_t len,
			 uint64_t off);
/* The same for an event loop: only from the kernel's caches (data_io
 * open_cached and pread_nowait), recording nothing. CN_EWOULDBLOCK for
 * anything else (not cached, missing, a fault): then data_shard_pread on a
 * thread. */
ssize_t data_shard_pread_cached(struct data_store *s, const uint8_t drive_id[DATA_ID_LEN],
				const uint8_t blob_id[DATA_ID_LEN], int shard, void *buf,
				size_t len, uint64_t off);
/* For a zero-copy send on an event loop: the shard's file, opened from the
 * kernel's caches (data_io open_cached), if what it holds of [off, off + len)
 * is all in the page cache (data_io resident). Returns the fd, to close with
 * data_shard_close, and sets *avail to the bytes from off (at most len, 0
 * past the file's end). CN_EWOULDBLOCK for anything else, recording
 * nothing: then data_shard_pread_cached, or data_shard_pread on a thread.
 * The bytes are raw: the reader verifies them, as with data_shard_pread. */
int data_shard_open_resident(struct data_store *s, const uint8_t drive_id[DATA_ID_LEN],
			     const uint8_t blob_id[DATA_ID_LEN], int shard, uint64_t off,
			     size_t len, size_t *avail);
void data_shard_close(struct data_store *s, int fd);
/* This store's drive ids (up to max); returns how many. Any thread. */
int data_store_drive_ids(struct data_store *s, uint8_t (*ids)[DATA_ID_LEN], int max);
/* Offline tools (`cairn restore`): reads dir's drive marker and locks it as
 * an open store does, so no server opens the drive meanwhile. Returns the
 * deployment and drive ids and *lock_fd (owned: close it to unlock).
 * CN_EBUSY: a running server holds the drive; CN_ENOTFOUND: no marker;
 * CN_ECORRUPT: a damaged marker; CN_EFORMAT: an unknown marker version. */
int data_drive_claim(const char *dir, uint8_t dep[DATA_ID_LEN], uint8_t id[DATA_ID_LEN],
		     int *lock_fd);

/* Read pins. A reader pins every blob it will read right after the metadata
 * lookup that named them (the same loop turn, so far inside the GC grace
 * period: a blob found referenced cannot be due yet) and unpins when done;
 * blob_delete refuses a pinned blob. Counted: pin twice, unpin twice.
 * data_pin returns 0 or CN_ENOMEM. Any thread. */
int data_pin(struct data_store *s, const uint8_t id[DATA_ID_LEN]);
void data_unpin(struct data_store *s, const uint8_t id[DATA_ID_LEN]);
int data_pinned(struct data_store *s, const uint8_t id[DATA_ID_LEN]);

/* Heal queue: bounded, de-duplicated by blob id, thread-safe. Readers push;
 * a background healer pops. pop returns 0 with the blob pinned (data_unpin
 * it when done: GC cannot delete it mid-heal), CN_ENOTFOUND when empty, or
 * CN_ENOMEM. blob_delete drops a blob's entry, so a healer never sees a
 * blob GC deleted. */
int data_heal_queue_push(struct data_store *s, const struct blob_layout *l);
int data_heal_queue_pop(struct data_store *s, struct blob_layout *out);
size_t data_heal_queue_len(struct data_store *s);

/* Default (k, m) for n online drives (1+0, 1+1, 1+2, 2+2, 3+2, 4+2, 4+2, 6+2). */
void data_layout_default(int n, uint8_t *k, uint8_t *m);

#endif
