/*
 * data/data_int.h — private to src/data/: store and drive structs, the shard
 * header codec, erasure-coding helpers and path helpers.
 *
 * Invariant: struct data_drive fields are immutable after data_store_open
 * except `online`, which is atomic.
 */
#ifndef CAIRN_DATA_DATA_INT_H
#define CAIRN_DATA_DATA_INT_H

#include "data/data.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#define DATA_MARKER ".cairn-format"
#define DATA_TMP "tmp"
#define DATA_BLOBS "blobs"
#define DATA_PATH_MAX 4096

struct data_drive {
	char *path;
	uint8_t id[DATA_ID_LEN];
	atomic_int online;
	atomic_int rebuild;  /* an adopted replacement whose shards are being rebuilt */
	int pos;	     /* position in the drive set, -1 if not a member (yet) */
	int lock_fd;	     /* flock on the marker while open; -1 if none */
	const char *problem; /* static: why it was kept offline at open, or NULL */
	dev_t dev;	     /* root identity at open: an unmount changes it */
	ino_t ino;
	/* the last free-space reading (data_store_check_space): what it left
	 * above the reserve, and when (cn_mono_ns; 0 none). room is stored
	 * before at, at with release. */
	_Atomic uint64_t space_room;
	_Atomic uint64_t space_at;
	/* id again, in words, for the lookups that scan every drive without
	 * a lock (store_drive_index, data_store_drive_ids) while an adoption
	 * or a recheck rewrites an offline drive's id (store.c, set_id) */
	_Atomic uint64_t id_word[DATA_ID_LEN / 8];
};

/* The drive set recorded in every drive's marker (store.c): position i
 * holds drive id e[i].id, incarnation e[i].inc (bumped by each replacement). */
struct set_entry {
	uint8_t id[DATA_ID_LEN];
	uint16_t inc;
	uint16_t flags; /* SLOT_F_* */
};

struct drive_set {
	uint64_t epoch; /* bumped by every change; the highest on any drive wins */
	int n;		/* 0: not recorded (a store made before drive sets) */
	struct set_entry *e;
};

#define REC_CACHE 32 /* record buffers kept, each at most REC_CACHE_MAX */
#define REC_CACHE_MAX (4u << 20)

struct data_store {
	struct data_drive *drives;
	int n;
	pthread_mutex_t set_lock; /* set changes, marker rewrites, adoption */
	struct drive_set set;
	uint8_t deployment[DATA_ID_LEN];
	char **problems;    /* drive-set problems found at open (immutable after) */
	int *problem_drive; /* the drive each is about, or -1 */
	int n_problems;
	struct data_options opt; /* defaults filled in */
	const struct data_io *io;
	atomic_uint tmp_seq;

	pthread_mutex_t hq_lock; /* heal queue ring */
	struct blob_layout *hq;
	size_t hq_cap, hq_head, hq_len;
	uint64_t hq_dropped;

	pthread_mutex_t pin_lock; /* read pins (pin.c) */
	struct pin **pins;

	struct data_remote remote; /* cluster: other nodes' shards (pread NULL: none) */
	struct data_placer placer; /* cluster: where new blobs go (place NULL: here) */
	struct data_fetch *fetch;  /* cluster: remote piece fetchers (fetch.c) */

	/* record buffers kept for reuse (fetch.c, rec_buf_get) */
	pthread_mutex_t rec_lock;
	void *rec_free[REC_CACHE];
	size_t rec_len[REC_CACHE];
	int n_rec_free;
};

/* Before a blob's files go: CN_EBUSY if a reader pins it, else drops it
 * from the heal queue (a healer must not report a deleted blob as lost). */
int store_claim_for_delete(struct data_store *s, const uint8_t id[DATA_ID_LEN]);

/* --- read pins (pin.c) --- */
int pins_init(struct data_store *s);
void pins_release(struct data_store *s);

/* --- io helpers (io.c) --- */
/* Full pwrite/pread loops; a short read returns CN_ECORRUPT-free count. */
int dio_write_all(const struct data_io *io, int fd, const void *buf, size_t len, off_t off);
/* Returns bytes read (< len only at end of file) or -errno. */
ssize_t dio_read_full(const struct data_io *io, int fd, void *buf, size_t len, off_t off);
/* dio_read_full through io->pread_nowait: the bytes, or -EAGAIN as soon as
 * the rest is not in the page cache (-EOPNOTSUPP without pread_nowait). */
ssize_t dio_read_cached(const struct data_io *io, int fd, void *buf, size_t len, off_t off);
/* fsync of a directory by path. */
int dio_fsync_dir(const struct data_io *io, const char *path);
/* mkdir -p of the directories of `path` below `root` (exclusive of the last
 * component); if sync, fsyncs each parent whose entry it created. */
int dio_mkdirs(const struct data_io *io, const char *root, const char *path, int sync);
/* Maps OS errors to the data layer's view: ENOSPC/EDQUOT -> CN_ENOSPACE. */
int dio_err(int err);
/* True for errors that mean the drive itself is failing. */
int dio_is_drive_fault(int err);

/* --- store helpers (store.c) --- */
/* Index of the drive with this id, or -1. */
int store_drive_index(const struct data_store *s, const uint8_t id[DATA_ID_LEN]);
int store_drive_online(struct data_store *s, int i);
/* Marks the drive offline if err is a drive fault; returns err. */
int store_fault(struct data_store *s, int i, int err);
/* <drive>/blobs/ab/cd/<hex>.<shard> */
int store_shard_path(const struct data_store *s, int drive, const uint8_t id[DATA_ID_LEN],
		     int shard, char *out, size_t cap);
/* <drive>/tmp/<hex>.<shard>.<seq>.<pid> */
int store_tmp_path(struct data_store *s, int drive, const uint8_t id[DATA_ID_LEN], int shard,
		   char *out, size_t cap);
/* stat of the drive root still matches the one at open (not unmounted). */
int store_drive_check(struct data_store *s, int i);

/* --- shard header (layout.c) --- */
#define SHARD_MAGIC "CAIRNSHD"
#define SHARD_VERSION 1
#define SHARD_HDR_FIXED 54
#define SHARD_HDR_MAX (SHARD_HDR_FIXED + DATA_BUCKET_MAX + DATA_KEY_MAX + DATA_VERSION_MAX + 4)

struct shard_header {
	uint8_t blob_id[DATA_ID_LEN];
	uint8_t shard, k, m, cksum;
	uint32_t block_size;
	uint64_t size;
	uint32_t part_number;
	uint16_t bucket_len, key_len, version_len;
	char bucket[DATA_BUCKET_MAX + 1];
	char key[DATA_KEY_MAX + 1];
	char version[DATA_VERSION_MAX + 1];
	uint16_t hdr_len; /* total encoded length, set by encode/decode */
};

/* Encodes into buf (cap >= SHARD_HDR_MAX suffices); returns the length or
 * CN_ETOOBIG. Sets h->hdr_len. */
int shard_header_encode(struct shard_header *h, uint8_t *buf, size_t cap);
/* Parses buf[0..len); returns 0, CN_ECORRUPT, CN_EFORMAT or CN_EAGAIN when
 * len is shorter than the header says (h->hdr_len then holds the length). */
int shard_header_decode(const uint8_t *buf, size_t len, struct shard_header *h);
/* The header matches the layout (blob id, k, m, sizes, alg, shard index). */
int shard_header_matches(const struct shard_header *h, const struct blob_layout *l, int shard);

/* --- geometry (layout.c) --- */
uint32_t layout_ck_len(const struct blob_layout *l);
uint64_t layout_nblocks(const struct blob_layout *l);
/* Bytes of body in block b, and the piece length of block b. */
uint32_t layout_block_len(const struct blob_layout *l, uint64_t b);
uint32_t layout_piece_len(const struct blob_layout *l, uint64_t b);
/* Offset of block b's [checksum, piece] record in a shard file after a
 * header of hdr_len bytes. */
uint64_t layout_piece_off(const struct blob_layout *l, uint64_t b, uint32_t hdr_len);
/* Checksum of a piece, seeded with its position so a misplaced piece fails. */
uint64_t piece_cksum(int alg, uint64_t block, int shard, const void *buf, size_t len);
void piece_cksum_put(int alg, uint64_t v, uint8_t *out);
uint64_t piece_cksum_get(int alg, const uint8_t *in);

/* --- shard sources (reader.c): one shard file of a blob being read --- */
struct shard_src {
	int drive;  /* index in the store, -1 if unknown */
	int fd;	    /* -1 until opened */
	int remote; /* on another node's drive: read through s->remote */
	int bad;    /* missing, unreadable header or drive fault: skip for good */
	uint32_t hdr_len;
};
void shard_src_init(struct shard_src *src);
/* Opens shard i and validates its header against l; on failure sets bad.
 * If hdr is not NULL it receives the parsed header. */
int shard_src_open(struct data_store *s, const struct blob_layout *l, int i, struct shard_src *src,
		   struct shard_header *hdr);
/* Reads and verifies block b's record of shard i into rec (cklen + piece
 * length bytes; the piece starts at rec + cklen). CN_ECORRUPT on a short
 * record or checksum mismatch. */
int shard_src_read(struct data_store *s, const struct blob_layout *l, int i, struct shard_src *src,
		   uint64_t b, uint8_t *rec);
void shard_src_close(struct data_store *s, struct shard_src *src);

/* --- shard outputs (sink.c): one shard being written, here or elsewhere ---
 * The one interface writers use for a shard: on a drive of this store it is
 * a file (tmp/, renamed into place at seal, after fsync by policy); on
 * another node's drive a shard stream (s->remote.w*). put takes the records
 * in block order; seal writes the header (and, remote, ends the stream);
 * wait returns 0 once the shard is durable in place (local: at seal). free
 * with discard=1 also removes a sealed local shard (a write that failed). */
struct shard_out;
int shard_out_open(struct data_store *s, const uint8_t drive[DATA_ID_LEN],
		   const struct blob_layout *l, int shard, uint32_t hdr_len,
		   struct shard_out **out);
int shard_out_local(const struct shard_out *o);
int shard_out_put(struct shard_out *o, const uint8_t *ck, const uint8_t *piece, uint32_t len);
int shard_out_seal(struct shard_out *o, const uint8_t *hdr, size_t len);
int shard_out_wait(struct shard_out *o);
/* A remote shard's answer descriptor to poll (data_remote.wfd), or -1:
 * local, or no descriptor (shard_out_wait then answers in its own time). */
int shard_out_fd(const struct shard_out *o);
void shard_out_free(struct shard_out *o, int discard);

/* --- remote fetches (fetch.c) --- */
struct data_fetch;
/* Starts the fetch threads (with the remote). 0 or CN_ENOMEM. */
int fetch_start(struct data_store *s);
/* A len-byte buffer for records: one kept from an earlier read when there
 * is one of that length (its pages are mapped and likely cached: a fresh
 * 0.5 MiB buffer per read cost more in page faults than its checksum), else
 * malloc'd. rec_buf_put keeps or frees it. Any thread. */
void *rec_buf_get(struct data_store *s, size_t len);
void rec_buf_put(struct data_store *s, void *p, size_t len);
void rec_bufs_release(struct data_store *s);
/* A record buffer as fetches fill and swap them: room for a header (block 0
 * is read with it, one round trip) and the longest record (checksum + piece). */
size_t fetch_rec_cap(const struct blob_layout *l);
/* Reading good pieces of block b from other nodes' shards, trying the shards
 * in order[0..n_order) (data shards first, slow ones last). fetch_begin asks
 * the first `need` at once and returns; the caller reads its own pieces
 * meanwhile, then fetch_finish waits for `need` good ones (which may be more
 * than asked at first: it asks as many more when some fail, and one more per
 * hedge interval when some are slow). Good records (checksum + piece) are
 * not copied: mem[i], a rec_buf_get buffer of fetch_rec_cap bytes, is
 * swapped with the fetch's (the old one is put back with the batch) and rec[i] set to
 * where the record is in it. hdr_len[i] caches shard i's header length (0 = unknown; filled
 * in). *good, *failed and *slow (still running when it returned) are shard
 * bit masks. fetch_finish always ends the batch. Both return 0 (check *good)
 * or CN_ENOMEM / CN_EDRIVE (no fetch threads). fetch_finish blocks. */
struct fetch_batch;
int fetch_begin(struct data_store *s, const struct blob_layout *l, uint64_t b, const int *order,
		int n_order, int need, const uint32_t *hdr_len, struct fetch_batch **out);
int fetch_finish(struct fetch_batch *bt, int need, uint32_t *hdr_len, uint8_t **mem, uint8_t **rec,
		 unsigned *good, unsigned *failed, unsigned *slow);

/* One remote piece read by the reader's own thread (data_remote rstart and
 * rfinish), when it needs exactly one: fetch_inline_start sends the request
 * for shard's piece of block b into mem (a fetch_rec_cap buffer) and
 * returns, the reader reads its own pieces, then fetch_inline_finish waits
 * for the reply (up to the hedge interval for it to begin), checks it as a
 * fetch does and ends the request. This saves the two thread crossings of
 * a fetch. Start: CN_EAGAIN when the remote has no rstart or the piece
 * needs two round trips (header length unknown past block 0): use
 * fetch_begin; other errors as finish's. Finish: 0 with *rec (where the
 * record is in mem) and *hdr_len set, CN_ETIMEOUT (slow: hedge through
 * fetch_begin), or another error (the shard failed). Blocking. */
int fetch_inline_start(struct data_store *s, const struct blob_layout *l, uint64_t b, int shard,
		       uint32_t hdr_len, uint8_t *mem, void **h);
int fetch_inline_finish(struct data_store *s, const struct blob_layout *l, uint64_t b, int shard,
			uint8_t *mem, void *h, uint32_t *hdr_len, uint8_t **rec);

/* --- erasure coding (ec.c) --- */
struct data_ec {
	int k, m;
	uint8_t enc[DATA_MAX_SHARDS * DATA_MAX_SHARDS]; /* (k+m) x k, top k = identity */
	uint8_t *tbls;					/* 32*k*m encode tables */
};
int data_ec_init(struct data_ec *ec, int k, int m);
void data_ec_release(struct data_ec *ec);
/* Computes the m parity pieces from the k data pieces. */
void data_ec_encode(struct data_ec *ec, size_t len, uint8_t **data, uint8_t **parity);
/* pieces[0..k+m) of len bytes each; bit i of `present` set means pieces[i] is
 * good. Fills every piece whose bit is clear and whose bit is set in `want`.
 * CN_EDATALOST if fewer than k are present. */
int data_ec_rebuild(struct data_ec *ec, size_t len, uint8_t **pieces, unsigned present,
		    unsigned want);

#endif
