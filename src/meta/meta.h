/*
 * meta/meta.h — cairn's metadata engine: the public API (DESIGN §1, §3, §4).
 *
 * Layer: meta sits under s3/ and bg/, over core/. LMDB is reached only through
 * meta/kv.c. Every change is a struct meta_cmd: filled by the caller with all
 * non-deterministic inputs (ids from meta_version_id_new/meta_upload_id_new,
 * `now`), serialisable (meta_cmd_encode/decode, the future Raft entry), and
 * applied deterministically by the metadata thread in a group commit.
 *
 * Thread rules: meta_store_open/close from one owner thread; meta_submit from
 * any thread (the callback runs on the waiter's loop); meta_submit_sync from
 * any thread that is not the metadata thread; every read function from any
 * thread, each in its own short LMDB read transaction (MDB_NOTLS).
 *
 * Ownership: results of reads are owned by the caller and released with the
 * matching _release(); commands borrow every pointer they carry until their
 * callback has run (or meta_submit_sync returned).
 */
#ifndef CAIRN_META_META_H
#define CAIRN_META_META_H

#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <uv.h>

#define META_ID_LEN 16	     /* raw version / upload / blob id */
#define META_ID_TEXT 33	     /* 32 lower-case hex + NUL ("null" for null versions) */
#define META_KEY_MAX 1024    /* S3 object key, bytes */
#define META_BUCKET_MAX 63   /* bucket name, bytes */
#define META_ETAG_MAX 64     /* etag text without quotes: 32 hex or "hex-N" */
#define META_ATTRS_MAX 8192  /* opaque attrs of a version/upload/bucket */
#define META_LAYOUT_MAX 1024 /* opaque data-module layout bytes */
#define META_INLINE_MAX (1u << 20)
#define META_PARTS_MAX 10000
#define META_PART_CK_MAX 32		       /* a part's checksum: up to SHA-256 */
#define META_GC_GRACE_NS (60LL * 1000000000LL) /* GC due time = now + grace */
#define META_FORMAT_VERSION                                                                        \
	4u /* 2: current version in index only; 3: small bodies in records;                        \
	    * 4: split bodies (codec loc 5) */

struct meta_store;

enum meta_versioning {
	META_VERSIONING_OFF = 0, /* never versioned: one "null" version per key */
	META_VERSIONING_ENABLED = 1,
	META_VERSIONING_SUSPENDED = 2,
};

enum meta_loc {
	META_LOC_NONE = 0,   /* delete marker: no data */
	META_LOC_INLINE = 1, /* bytes in the metadata: the inline db, or the record */
	META_LOC_BLOB = 2,   /* one blob: blob_id + layout */
	META_LOC_PARTS = 3,  /* multipart: ordered parts, each a blob */
};

/* Version flags. LATEST is only ever set on read results. */
#define META_VF_DELETE_MARKER 0x1u
#define META_VF_NULL 0x2u
#define META_VF_LATEST 0x4u
/* Read results only (META_GET_VSTATE): a null version whose bucket's
 * versioning is configured (Enabled or Suspended). */
#define META_VF_VERSIONED 0x10u
/* Stored only: the record carries a lock section (codec.c); set by the
 * encoder from the lock fields, never by callers. */
#define META_VF_LOCK 0x8u
#define META_VF_STORED (META_VF_DELETE_MARKER | META_VF_NULL | META_VF_LOCK)

/* Object lock (DESIGN §8) of one version: retention mode and date, legal
 * hold. Enforced inside apply: a version whose retention is in force
 * (until > the command's now) or whose legal hold is ON cannot be removed
 * or replaced; COMPLIANCE never yields, GOVERNANCE only to a command with
 * bypass set. The bucket's configuration document META_BCONF_OBJECT_LOCK
 * marks a bucket with object lock enabled (apply keeps it versioned). */
enum meta_lock_mode {
	META_LOCK_NONE = 0,
	META_LOCK_GOVERNANCE = 1,
	META_LOCK_COMPLIANCE = 2,
};
enum meta_legal_hold {
	META_HOLD_NONE = 0, /* never set */
	META_HOLD_OFF = 1,
	META_HOLD_ON = 2,
};
#define META_BCONF_OBJECT_LOCK "object-lock"

/* Reads the drives of a blob layout's shards (the layout bytes are the data
 * module's, opaque here): writes up to cap drive ids, returns the number of
 * shards, or < 0 when the bytes do not decode. A pure function of the bytes:
 * every replica applies with it (an intent's shards on a leaving node,
 * meta_options.layout_drives). */
typedef int (*meta_layout_drives_fn)(const uint8_t *layout, size_t len,
				     uint8_t (*drive)[META_ID_LEN], int cap);

struct meta_options {
	uint64_t map_size;	/* LMDB map size, bytes; 0 = 64 GiB (sparse) */
	uint16_t node_id;	/* goes into every generated id */
	unsigned max_batch_us;	/* a batch stops taking commands after this; 0 = 5000 */
	size_t max_batch_bytes; /* ... or after this many encoded bytes; 0 = 16 MiB */
	int replicated;		/* cluster mode: commands go through a proposer and
				   are applied with meta_repl_apply (no pipeline thread) */
	int ballast;		/* keep META_BALLAST bytes in DIR/ballast, released
				   when a commit finds the disk full */
	/* replicated: an INTENT_ADD whose layout puts a shard on a draining
	 * or removed node and is wider than the nodes left is refused
	 * (CN_ELEAVING): see `cluster remove` (s3/admin.c). NULL: no check */
	meta_layout_drives_fn layout_drives;
};

/* The ballast: a file of this size beside the store, made at open when the
 * disk has room. A batch whose commit fails for want of space (a disk that
 * another program filled: the drives' reserve keeps cairn's own data below
 * the metadata's room) deletes it and is applied and committed once more, so
 * deletes still go through. In replicated mode a commit cannot be redone
 * (Raft has handed its entries over), so the ballast goes before a commit
 * that finds less than half its size free, half of it at a time (the other
 * half before a commit that finds less than a quarter free: an 8 MiB Raft
 * log segment prepared ahead cannot take a half, as it took the whole). It is
 * made again once the disk has 3x its size free (checked at most every
 * 10 s, after a commit). */
#define META_BALLAST (8u << 20)
/* 1 while the ballast is given up (the disk filled), 0 while held or when
 * the store keeps none. Any thread. */
int meta_ballast_released(struct meta_store *s);

/* ---- records returned by reads (owned: release with the _release call) ---- */

struct meta_part {
	uint32_t part_no;
	uint64_t size;
	char etag[META_ETAG_MAX + 1];
	uint8_t blob_id[META_ID_LEN];
	const uint8_t *layout; /* points into the owning record's memory */
	size_t layout_len;
	int64_t mtime; /* ns; set for ListParts results, 0 inside a version */
	/* The part's additional checksum, opaque here (the s3 layer's algorithm
	 * number and raw bytes); ck_len 0: none. */
	uint8_t ck_alg;
	uint8_t ck_len;
	uint8_t ck[META_PART_CK_MAX];
};

struct meta_version {
	char *key; /* full object key (not NUL-terminated in general) */
	size_t key_len;
	uint8_t vid[META_ID_LEN];
	char vid_text[META_ID_TEXT]; /* "null" for a null version */
	uint32_t flags;		     /* META_VF_* */
	int64_t mtime;		     /* ns since epoch */
	uint64_t size;
	char etag[META_ETAG_MAX + 1];
	const uint8_t *attrs;
	size_t attrs_len;
	enum meta_loc loc;
	uint64_t inline_len;	    /* LOC_INLINE: byte count */
	const uint8_t *inline_data; /* LOC_INLINE and META_GET_INLINE: the bytes */
	/* internal (codec, apply): LOC_INLINE bytes kept in the version record
	 * itself rather than in the inline db; embed points at them (into mem
	 * after a decode, at the command's bytes before an encode): all of
	 * them (inline_embedded), or the first embed_len, the rest being in
	 * the inline db (a split body, codec loc 5) */
	uint8_t inline_embedded;
	const uint8_t *embed;
	uint32_t embed_len;
	uint8_t blob_id[META_ID_LEN]; /* LOC_BLOB */
	const uint8_t *layout;	      /* LOC_BLOB */
	size_t layout_len;
	struct meta_part *parts; /* LOC_PARTS, ascending part_no */
	uint32_t n_parts;
	uint8_t lock_mode;  /* enum meta_lock_mode */
	uint8_t legal_hold; /* enum meta_legal_hold */
	int64_t lock_until; /* ns; 0 when lock_mode is NONE */
	void *mem;	    /* internal: the one allocation everything above points into */
};

struct meta_bucket {
	char name[META_BUCKET_MAX + 1];
	int64_t created; /* ns */
	enum meta_versioning versioning;
	const uint8_t *attrs;
	size_t attrs_len;
	void *mem;
};

struct meta_upload {
	char *key;
	size_t key_len;
	uint8_t upload_id[META_ID_LEN];
	char upload_id_text[META_ID_TEXT];
	int64_t initiated;
	const uint8_t *attrs;
	size_t attrs_len;
	void *mem;
};

struct meta_stats {
	uint64_t objects;	/* keys whose latest version is not a delete marker */
	uint64_t bytes;		/* sum of their sizes */
	uint64_t versions;	/* version records, delete markers included */
	uint64_t version_bytes; /* sum of all version sizes */
};

/* ---- commands ---- */

enum meta_cmd_type {
	/* bucket, now, attrs; inline_data: the bucket's first configuration
	 * documents (META_CMD_BUCKET_CONF), each (u8 name length, name, u32 LE
	 * value length, value), written with the bucket */
	META_CMD_BUCKET_CREATE = 1,
	META_CMD_BUCKET_DELETE = 2,	/* bucket */
	META_CMD_BUCKET_VERSIONING = 3, /* bucket, versioning */
	META_CMD_PUT_VERSION = 4,	/* bucket key vid now size etag attrs loc+data, conds */
	META_CMD_DELETE_OBJECT = 5,	/* bucket key vid(for a marker) [target], conds */
	META_CMD_UPLOAD_CREATE = 6,	/* bucket key upload_id now attrs */
	META_CMD_UPLOAD_ABORT = 7,	/* bucket key upload_id */
	/* PART_PUT: bucket key upload_id part_no size etag blob layout, attrs =
	 * the part's checksum (1 alg, raw bytes) or empty */
	META_CMD_PART_PUT = 8,
	/* UPLOAD_COMPLETE: bucket key upload_id vid now parts[] min_part_size;
	 * attrs, when not empty, become the version's instead of the upload's */
	META_CMD_UPLOAD_COMPLETE = 9,
	META_CMD_INTENT_ADD = 10,	/* blob_id layout now */
	META_CMD_GC_DONE = 11,		/* gc[]: entries whose blobs were deleted */
	META_CMD_BUCKET_SET_ATTRS = 12, /* bucket attrs */
	META_CMD_INTENT_DROP = 13, /* blob_id: its write failed; the intent becomes a gc entry */
	/* Not a change: completes once every command committed before it was
	 * submitted is visible to this node's reads (a linearizable read
	 * barrier in a cluster; at once on one node). Never encoded. */
	META_CMD_BARRIER = 14,
	META_CMD_NODE_SET = 15,	 /* node (cluster map), map_flags */
	META_CMD_DRIVE_SET = 16, /* drive (cluster map), map_flags */
	/* blob_id, heal_mask: these shards were rebuilt where the blob's
	 * layout puts them; clears them from the blob's heal entry */
	META_CMD_HEAL_DONE = 17,
	/* Rebalance: shards of a committed blob were copied to other drives.
	 * bucket key target_vid (the version), part_no (0: the version's blob;
	 * N: part N of a multipart version) — or, with upload_id not zero, part
	 * part_no of that open upload (CN_EPRECOND once it is completed or
	 * aborted) —, blob_id, layout (the new one),
	 * layout_old (must equal the stored layout: else CN_EPRECOND, nothing
	 * changes), layout_gc (the old layout with only the moved shards'
	 * drives kept: it becomes a gc entry), heal_mask (the moved shards:
	 * cleared from the blob's heal entry, which takes the new layout). In a
	 * cluster the blob's intent (the move's new shards) must stand, and is
	 * cleared. */
	META_CMD_BLOB_MOVE = 18,
	/* A cluster-wide setting (operator state every node must agree on,
	 * such as rebalance control): key = its name (1..META_SETTING_NAME_MAX
	 * of [a-z0-9._-]), attrs = its value (up to META_SETTING_MAX bytes;
	 * empty deletes it). Read back with meta_setting_get. */
	META_CMD_SETTING = 19,
	/* Identity: users, access keys, groups, policies (iam, below). */
	META_CMD_IAM = 20,
	/* A bucket's configuration document `key` (policy, acl, public-access-
	 * block, ownership, ...: [a-z-], up to META_BCONF_NAME_MAX) set to
	 * inline_data (up to META_BCONF_MAX bytes; empty deletes it). The bucket
	 * must exist; deleting the bucket deletes its documents. */
	META_CMD_BUCKET_CONF = 21,
	/* Replaces the attrs of one version (its ACL, later its tags): bucket
	 * key, target (has_target + target_vid, or target_null), attrs; size =
	 * XXH64 (seed 0) of the attrs the writer read: when the stored ones
	 * differ, CN_ECONFLICT and nothing changes (read again, retry).
	 * CN_ENOVERSION when the version is gone, CN_EDELMARKER for a marker. */
	META_CMD_VERSION_ATTRS = 22,
	/* Object lock of one version: bucket key target (as VERSION_ATTRS),
	 * lock.what = META_LOCKSET_RETENTION (lock.mode/until; NONE removes
	 * it) or META_LOCKSET_HOLD (lock.hold OFF/ON), lock.bypass. A retention
	 * in force may only be kept or extended in the same mode, or made
	 * COMPLIANCE; anything else on GOVERNANCE needs bypass and on
	 * COMPLIANCE is CN_ELOCKED. CN_ELOCKNOTENABLED when the bucket has no
	 * object lock, CN_ENOVERSION / CN_EDELMARKER as VERSION_ATTRS. */
	META_CMD_VERSION_LOCK = 23,
};
#define META_LOCKSET_RETENTION 1
#define META_LOCKSET_HOLD 2
#define META_BCONF_NAME_MAX 32
#define META_BCONF_MAX (64 * 1024)
#define META_SETTING_NAME_MAX 32
#define META_SETTING_MAX 1024

/* ---- cluster map (DESIGN §6): nodes and drives, changed only by commands ----
 *
 * Records live in the replicated store (db "map", format in codec.c) with
 * the map epoch, which every command that changes a record raises by one
 * (placement keys its layout versions off it); a command that changes
 * nothing is a no-op and leaves the epoch alone. A removed record stays as
 * a tombstone: no command changes it again (CN_EREMOVED).
 *
 * META_MAP_SELF marks a node registering itself and its drives at start:
 * it creates a missing record with the command's values; on an existing
 * one it updates address/zone (node) or node/capacity (drive; capacity 0 =
 * unknown, keep) and moves up/down, but keeps the weight and a draining
 * state, which are the operator's. Without the flag a command writes every
 * value it carries (an operator's change). A drive names an existing node
 * that is not removed. */
#define META_ADDR_MAX 63 /* node address in the map ("a.b.c.d:port") */
#define META_ZONE_MAX 63 /* zone name; "" = none */
#define META_MAP_WEIGHT_DEFAULT 100u
#define META_MAP_SELF 0x1u /* meta_cmd.map_flags */

enum meta_map_state {
	META_MAP_UP = 1,
	META_MAP_DOWN = 2,
	META_MAP_DRAINING = 3,
	META_MAP_REMOVED = 4, /* tombstone: final */
};

struct meta_node {
	uint64_t id;			 /* the node's Raft id, never 0 */
	char address[META_ADDR_MAX + 1]; /* NUL-terminated, printable ASCII, not empty */
	char zone[META_ZONE_MAX + 1];	 /* NUL-terminated, printable ASCII */
	uint8_t state;			 /* enum meta_map_state */
	uint32_t weight;
};

struct meta_drive {
	uint8_t id[META_ID_LEN]; /* the drive's id (data/: its marker) */
	uint64_t node;		 /* owning node's id */
	uint64_t capacity;	 /* bytes */
	uint32_t weight;
	uint8_t state; /* enum meta_map_state */
};

/* ---- identity (DESIGN §8): users, access keys, groups, policies ----
 *
 * Records live in db "iam" (formats in codec.c) and change only through
 * META_CMD_IAM; every change raises the identity generation, which caches
 * of compiled policies key off. Names (users, groups, policies) are 1..64
 * of [A-Za-z0-9+=,.@_-]; access key ids 3..128 of [A-Za-z0-9._-]; secrets
 * 8..128 printable ASCII without space. A user has up to
 * META_IAM_KEYS_PER_USER keys and META_IAM_LIST_MAX groups and attached
 * policies; a group up to META_IAM_LIST_MAX policies. Group membership is
 * kept on the user. Policy documents are stored as given (the proposer
 * validates them; readers must cope with one that does not parse). The
 * built-in policies (readwrite, readonly, writeonly) are attachable and
 * their names reserved.
 *
 * Apply errors: CN_EEXIST (user/group/key exists), CN_ENOTFOUND (a named
 * user/group/key/policy, or a detach of what is not attached), CN_EBUSY
 * (removing a policy still attached), CN_ETOOBIG (a limit), CN_EBADARG. */
#define META_IAM_NAME_MAX 64
#define META_IAM_KEY_MIN 3
#define META_IAM_KEY_MAX 128
#define META_IAM_SECRET_MIN 8
#define META_IAM_SECRET_MAX 128
#define META_IAM_CANON_LEN 64 /* canonical id: lower-case hex */
#define META_IAM_POLICY_MAX 20480
#define META_IAM_LIST_MAX 16
#define META_IAM_KEYS_PER_USER 10

enum meta_iam_op {
	META_IAM_USER_ADD = 1,	      /* name, status, canonical */
	META_IAM_USER_REMOVE,	      /* name: its keys go too */
	META_IAM_USER_STATUS,	      /* name, status */
	META_IAM_KEY_ADD,	      /* name (key id), name2 (user), secret, status */
	META_IAM_KEY_REMOVE,	      /* name (key id) [, name2: must be its user] */
	META_IAM_KEY_STATUS,	      /* name (key id), status [, name2] */
	META_IAM_GROUP_ADD,	      /* name */
	META_IAM_GROUP_REMOVE,	      /* name: members leave it */
	META_IAM_GROUP_MEMBER_ADD,    /* name (group), name2 (user) */
	META_IAM_GROUP_MEMBER_REMOVE, /* name (group), name2 (user) */
	META_IAM_POLICY_PUT,	      /* name, doc: created or replaced */
	META_IAM_POLICY_REMOVE,	      /* name: not while attached */
	META_IAM_POLICY_ATTACH,	      /* name (user, or group if to_group), name2 (policy) */
	META_IAM_POLICY_DETACH,	      /* same */
};
#define META_IAM_OP_LAST META_IAM_POLICY_DETACH

enum meta_iam_status { META_IAM_ENABLED = 1, META_IAM_DISABLED = 2 };

struct meta_iam {
	uint8_t op;	  /* enum meta_iam_op */
	uint8_t status;	  /* enum meta_iam_status */
	uint8_t to_group; /* ATTACH/DETACH: the target is a group */
	char name[META_IAM_KEY_MAX + 1];
	char name2[META_IAM_NAME_MAX + 1];
	char secret[META_IAM_SECRET_MAX + 1];
	char canonical[META_IAM_CANON_LEN + 1];
	const char *doc; /* POLICY_PUT */
	size_t doc_len;
};

struct meta_iam_user {
	char name[META_IAM_NAME_MAX + 1];
	uint8_t status;
	int64_t created;
	char canonical[META_IAM_CANON_LEN + 1];
	uint8_t n_groups, n_policies;
	char groups[META_IAM_LIST_MAX][META_IAM_NAME_MAX + 1];
	char policies[META_IAM_LIST_MAX][META_IAM_NAME_MAX + 1];
};

struct meta_iam_key {
	char id[META_IAM_KEY_MAX + 1];
	char user[META_IAM_NAME_MAX + 1];
	char secret[META_IAM_SECRET_MAX + 1];
	uint8_t status;
	int64_t created;
};

struct meta_iam_group {
	char name[META_IAM_NAME_MAX + 1];
	int64_t created;
	uint8_t n_policies;
	char policies[META_IAM_LIST_MAX][META_IAM_NAME_MAX + 1];
};

/* 1 for the names of the built-in policies. */
int meta_iam_builtin(const char *name);

/* One part named by CompleteMultipartUpload. */
struct meta_part_ref {
	uint32_t part_no;
	const char *etag; /* without quotes */
	size_t etag_len;
};

/* One gc entry (key of the gc db). */
struct meta_gc_ref {
	int64_t due;
	uint8_t blob_id[META_ID_LEN];
};

/* What apply reports back. Valid in the callback when result == 0. */
struct meta_cmd_result {
	uint8_t vid[META_ID_LEN];     /* version written / deleted / marker created */
	char vid_text[META_ID_TEXT];  /* "null" for null versions; "" if none */
	int delete_marker;	      /* the version written/deleted is a delete marker */
	uint64_t size;		      /* complete: final size */
	char etag[META_ETAG_MAX + 1]; /* complete: "md5hex-N" */
	uint64_t index;		      /* cluster: the entry's log index (a barrier:
					 the leader's index it waited for) */
};

struct meta_cmd;
struct meta_waiter;
/* Runs on the waiter's loop after the durable commit (or after apply failed).
 * result: 0 or a CN_E* / -errno code. */
typedef void (*meta_cmd_cb)(struct meta_cmd *cmd, int result, void *arg);

#define META_COND_IF_NONE_MATCH_STAR 0x1u
/* if_match holds an ETag the current version must NOT have (If-None-Match:
 * "etag"); a missing key passes */
#define META_COND_IF_NONE_MATCH_ETAG 0x2u

struct meta_cmd {
	uint8_t type; /* enum meta_cmd_type */
	int64_t now;  /* ns since epoch: mtime/created/initiated, gc due base */
	const char *bucket;
	size_t bucket_len;
	const char *key;
	size_t key_len;
	uint8_t vid[META_ID_LEN]; /* new version id (put/complete) or marker id (delete) */
	/* delete one version: has_target=1 and target_vid, or target_null=1 */
	uint8_t has_target;
	uint8_t target_null;
	uint8_t target_vid[META_ID_LEN];
	uint8_t upload_id[META_ID_LEN];
	uint32_t cond;	      /* META_COND_* */
	const char *if_match; /* etag without quotes, or NULL */
	size_t if_match_len;
	uint8_t versioning; /* enum meta_versioning */
	const void *attrs;
	size_t attrs_len;
	uint64_t size;
	const char *etag;
	size_t etag_len;
	uint8_t loc; /* enum meta_loc */
	const void *inline_data;
	size_t inline_len;
	uint8_t blob_id[META_ID_LEN];
	const void *layout;
	size_t layout_len;
	uint32_t part_no;
	uint64_t min_part_size; /* complete: 0 = 5 MiB */
	const struct meta_part_ref *parts;
	uint32_t n_parts;
	const struct meta_gc_ref *gc;
	uint32_t n_gc;
	uint8_t map_flags;	 /* NODE_SET / DRIVE_SET: META_MAP_* */
	struct meta_node node;	 /* NODE_SET */
	struct meta_drive drive; /* DRIVE_SET */
	struct meta_iam iam;	 /* IAM */
	/* PUT_VERSION / PART_PUT of a blob: bit i set = shard i of the layout
	 * is not durable (its node was down); the same command records a heal
	 * entry for the blob. HEAL_DONE: the bits healed. */
	uint16_t heal_mask;
	/* Object lock. PUT_VERSION / UPLOAD_COMPLETE: the new version's mode,
	 * until and hold (CN_ELOCKNOTENABLED unless the bucket has object lock;
	 * until must be after now). Any command that removes or replaces a
	 * version: bypass (GOVERNANCE yields). VERSION_LOCK: the change. */
	struct {
		uint8_t what;	/* VERSION_LOCK: META_LOCKSET_* */
		uint8_t mode;	/* enum meta_lock_mode */
		uint8_t hold;	/* enum meta_legal_hold */
		uint8_t bypass; /* 0/1 */
		int64_t until;	/* ns */
	} lock;
	const void *layout_old; /* BLOB_MOVE */
	size_t layout_old_len;
	const void *layout_gc;
	size_t layout_gc_len;

	struct meta_cmd_result res; /* out */
	uint8_t local_only;	    /* cluster: forwarded here already; CN_ENOTLEADER
				       rather than forwarding it again */
	/* cluster, a follower's read barrier on the leader (local_only): served
	 * by a read round, not a barrier entry; known_commit is the commit index
	 * the follower knew when it asked (below what it must apply, the leader
	 * sends it the commit index at once) */
	uint8_t read_index;
	uint64_t known_commit;
	/* cluster, a barrier confirming a read already made as the leader of
	 * this term (cluster/ticket.h): only a read round of that term passes
	 * it; anything else (a follower's barrier, a later term) is
	 * CN_ENOLEADER, since it would vouch for reads made after it only */
	uint64_t leader_term;
	/* cluster, with leader_term: a write's ticket (cluster_write_ticket)
	 * waits only until this node, still that term's leader, shows
	 * known_commit in its store: no read round */
	uint8_t local_read;
	/* cluster, a barrier for a PutObject or DeleteObject (key_hash is
	 * meta_key_hash of its key; reads_key: it reads that key before its
	 * command, an If-Match DELETE): passes once this node applied the
	 * index, without waiting for its store's commit, when the store's open
	 * batch holds only other object keys' writes (cluster/ticket.h) */
	uint8_t object_write, reads_key;
	uint64_t key_hash;
	/* cluster, an object_write's barrier that reads not its own key, on a
	 * follower: the leader may answer at once, with no read round, with a
	 * write ticket (cluster/ticket.h): the last entry that changed more
	 * than an object key, and its term; on the leader (local_only,
	 * read_index) the follower asked for that. ticket_term (out): the term
	 * the index was given in when it was so answered, else 0 (a round) */
	uint8_t ticket_ok;
	uint64_t ticket_term;
	/* cluster, with leader_term on a follower: the round of that term is
	 * asked of the leader (confirming a write that went ahead on a
	 * follower's ticket) rather than refused */
	uint8_t ask_leader;
	/* out, cluster: the term of the log entry that carried this command,
	 * when this node appended it as the leader and saw it commit (0
	 * otherwise: forwarded, single node, not committed) */
	uint64_t entry_term;

	/* internal to the pipeline; do not touch */
	struct meta_cmd *next_;
	struct meta_waiter *w_;
	meta_cmd_cb cb_;
	void *arg_;
	void *sync_;
	int rc_;
	int dirty_;
	void *owned_; /* decode: arrays owned by this struct */
	void *owned2_;
};

/* Per-loop completion channel. Init once per libuv loop, on that loop's
 * thread; close on that thread when no submitted command is pending. */
struct meta_waiter {
	uv_async_t async;
	pthread_mutex_t mu;
	struct meta_cmd *head, *tail;
	void (*close_cb)(struct meta_waiter *w);
};
typedef void (*meta_waiter_close_cb)(struct meta_waiter *w);

/* ---- store ---- */

/* Opens (creating if needed) the store in directory dir. Borrows dir and opt
 * (NULL = defaults). Fails with CN_EFORMAT (and a log line) on a store of an
 * unknown format version. Hands stale intents to gc. Starts the metadata
 * thread. Returns *out owned; close with meta_store_close. Any thread. */
int meta_store_open(const char *dir, const struct meta_options *opt, struct meta_store **out);
/* Stops the metadata thread after it has committed every queued command
 * (their callbacks are delivered), closes LMDB and frees. Owner thread. */
void meta_store_close(struct meta_store *s);
/* Copies a consistent snapshot of the store to directory path (must exist,
 * empty). Any thread. */
int meta_store_copy(struct meta_store *s, const char *path);

/* Writes a new id (16 raw bytes): 48-bit ms + 16-bit logical (HLC), node id,
 * 4 random bytes. Strictly increasing per store. Any thread. */
void meta_version_id_new(struct meta_store *s, uint8_t out[META_ID_LEN]);
void meta_upload_id_new(struct meta_store *s, uint8_t out[META_ID_LEN]);
/* Text form (32 hex); parse accepts exactly that. "null" is not an id. */
void meta_id_to_text(const uint8_t id[META_ID_LEN], char out[META_ID_TEXT]);
int meta_id_from_text(const char *s, size_t len, uint8_t out[META_ID_LEN]);

/* ---- submitting commands ---- */

/* Initialises w on loop (call on the loop's thread). */
int meta_waiter_init(struct meta_waiter *w, uv_loop_t *loop);
/* Closes w; cb (may be NULL) runs on the loop when w's memory may be freed. */
void meta_waiter_close(struct meta_waiter *w, meta_waiter_close_cb cb);

/* Queues cmd. Borrows cmd and everything it points at until cb(cmd, rc, arg)
 * runs on w's loop after the batch holding cmd is durably committed: in the
 * store on one node; in the Raft log of a majority in a replicated store,
 * where this node's store may not show it yet (a read after a barrier
 * does). Returns an error (and cb is never called) if the store is
 * closing. Any thread. */
int meta_submit(struct meta_store *s, struct meta_cmd *cmd, struct meta_waiter *w, meta_cmd_cb cb,
		void *arg);
/* Queues cmd and blocks until it is committed, in a replicated store also
 * in this node's store (a read right after it sees it); returns the apply
 * result. Any thread except the metadata thread. */
int meta_submit_sync(struct meta_store *s, struct meta_cmd *cmd);
/* Was cmd queued by meta_submit_sync? (cluster/ keeps its result until this
 * node's store shows it.) */
static inline int meta_cmd_is_sync(const struct meta_cmd *cmd)
{
	return cmd->sync_ != NULL;
}

/* Serialises cmd's inputs. *out is malloc'd (owned by the caller). */
int meta_cmd_encode(const struct meta_cmd *cmd, uint8_t **out, size_t *out_len);
/* Parses buf into *out (zeroed first). out borrows buf for every string and
 * owns its arrays: call meta_cmd_release(out). Never trusts buf. */
int meta_cmd_decode(const void *buf, size_t len, struct meta_cmd *out);
void meta_cmd_release(struct meta_cmd *cmd);

/* ---- replication (cluster mode; cluster/ drives these) ---- */

/* Where meta_submit hands commands in a replicated store: submit takes cmd
 * (its waiter and callback already set) and must end it exactly once with
 * meta_cmd_complete, unless it returns an error. Any thread. */
struct meta_proposer {
	int (*submit)(void *arg, struct meta_cmd *cmd);
	void *arg;
};
/* Installs the proposer (before any submit). Owner thread. */
void meta_set_proposer(struct meta_store *s, const struct meta_proposer *p);
/* Ends cmd with result rc: its callback runs on its waiter's loop (or its
 * sync submitter wakes). Any thread. */
void meta_cmd_complete(struct meta_cmd *cmd, int rc);

/* FSM apply of the committed log entry at index (buf: meta_cmd_encode's
 * bytes, borrowed) in the open replication batch, which it opens when
 * needed. Entries at or below the store's applied index are skipped
 * (replayed after a restart or a snapshot install): *result is then
 * META_REPL_REPLAYED, their result being unknown here. Returns 0 and the
 * command's own result in *result (a failed precondition is a result, the
 * same on every node), or a storage error: the node must stop, since its
 * store would diverge. res (may be NULL) gets what apply reports. Raft
 * thread only. */
#define META_REPL_REPLAYED 1
int meta_repl_apply(struct meta_store *s, uint64_t index, const void *buf, size_t len, int *result,
		    struct meta_cmd_result *res);
/* One command of a batch entry (several commands in one log entry, applied
 * in order, each with its own result): as meta_repl_apply, but the store
 * counts entry index applied only at its last command (last != 0), so a
 * replay skips all of an entry or none of it. */
int meta_repl_apply_part(struct meta_store *s, uint64_t index, int last, const void *buf,
			 size_t len, int *result, struct meta_cmd_result *res);
/* What the last meta_repl_apply(_part) changed of what a request reads
 * before it submits its command (a leader's write tickets, cluster/
 * ticket.h): META_TOUCH_NONE (nothing: a replay, an intent, a barrier),
 * META_TOUCH_KEY (one object key, and only it: a version put, a delete, a
 * version's attributes or lock; *hash is meta_key_hash of it), or
 * META_TOUCH_MORE (anything else: buckets, their configuration,
 * identities, settings, uploads). Raft thread only. */
#define META_TOUCH_NONE 0
#define META_TOUCH_KEY 1
#define META_TOUCH_MORE 2
int meta_repl_touched(struct meta_store *s, uint64_t *hash);
/* The hash meta_repl_touched gives for a key of a bucket. Any thread. */
uint64_t meta_key_hash(const char *bucket, size_t bucket_len, const char *key, size_t key_len);
/* Records in the open replication batch (opening it when needed) that the
 * log holds a batch entry; 0 or a storage error (the node must stop).
 * meta_repl_batches: whether this store has such a record (a copy
 * installed from a peer carries it). Raft thread only. */
int meta_repl_note_batch(struct meta_store *s);
int meta_repl_batches(struct meta_store *s);
/* Commits the open batch, recording the last applied index in it; readers
 * see the entries from now on. 0 when nothing is open. Raft thread. */
int meta_repl_commit(struct meta_store *s);
/* 0 when no batch is open, else 1 + the writes the open batch holds
 * (applied entries not yet committed). Raft thread. */
size_t meta_repl_open(struct meta_store *s);
/* The applied index readers see (committed). Any thread. */
uint64_t meta_repl_applied(struct meta_store *s);
/* Makes everything committed durable (a Raft snapshot point). Raft thread. */
int meta_repl_sync(struct meta_store *s);
/* Streams a compacting copy of the store (at its current applied index) to
 * fd. Any thread. */
int meta_repl_copy_fd(struct meta_store *s, int fd);
/* Swaps in the store copy at dir/data.mdb (durable, complete) and adopts
 * its applied index. Raft thread, no batch open. */
int meta_repl_replace(struct meta_store *s, const char *dir);
/* Raises the id clock above the id's time (ids a leader generates must
 * follow every id already in the log). Any thread. */
void meta_id_observe(struct meta_store *s, const uint8_t id[META_ID_LEN]);

/* ---- reads (any thread; each in one short read transaction) ---- */

#define META_GET_INLINE 0x1u /* also return inline bytes in out->inline_data */
/* for a null version, also read its bucket's versioning state (sets
 * META_VF_VERSIONED): one more lookup, so only when asked */
#define META_GET_VSTATE 0x2u

/* Current version (vid NULL/empty), or the version named by vid text (32 hex or
 * "null"). Returns *out owned (meta_version_release). Errors: CN_ENOBUCKET,
 * CN_ENOKEY, CN_ENOVERSION, CN_EBADVERSIONID; CN_ENOKEY when the latest is a
 * delete marker and CN_EDELMARKER when vid names one: then out->flags and
 * out->vid/vid_text are set (nothing to release, but release is harmless). */
int meta_object_get(struct meta_store *s, const char *bucket, const char *key, size_t key_len,
		    const char *vid, unsigned flags, struct meta_version *out);
void meta_version_release(struct meta_version *v);
/* Copies the inline bytes of version vid (raw id, from meta_object_get) into
 * buf (cap bytes); *len = their length. CN_ENOVERSION if that version is gone
 * (overwritten since), CN_ETOOBIG if cap is short. Any thread. */
int meta_object_read_inline(struct meta_store *s, const char *bucket, const char *key,
			    size_t key_len, const uint8_t vid[META_ID_LEN], void *buf, size_t cap,
			    size_t *len);

int meta_bucket_get(struct meta_store *s, const char *bucket, struct meta_bucket *out);
void meta_bucket_release(struct meta_bucket *b);
/* All buckets in name order; *out is an owned array; free with
 * meta_bucket_list_release(*out, n). */
int meta_bucket_list(struct meta_store *s, struct meta_bucket **out, size_t *n);
void meta_bucket_list_release(struct meta_bucket *b, size_t n);

int meta_upload_get(struct meta_store *s, const char *bucket, const char *key, size_t key_len,
		    const uint8_t upload_id[META_ID_LEN], struct meta_upload *out);
void meta_upload_release(struct meta_upload *u);

int meta_stats_get(struct meta_store *s, const char *bucket, struct meta_stats *out);
/* Recounts stats by scanning the bucket (O(bucket)); for tests and fsck. */
int meta_stats_recount(struct meta_store *s, const char *bucket, struct meta_stats *out);

/* ---- listing ---- */

struct meta_list_params {
	const char *prefix;
	size_t prefix_len;
	const char *delimiter; /* any length; NULL/0 = none */
	size_t delimiter_len;
	/* exclusive start: start-after / marker / key-marker */
	const char *start;
	size_t start_len;
	/* ListObjectsV2 continuation token (overrides start), NUL-terminated */
	const char *token;
	/* versions: version-id-marker; uploads: upload-id-marker (text) */
	const char *id_marker;
	unsigned max; /* 0..1000, larger is clamped; pass 1000 when the request has none */
	/* objects and versions: called with each listed version's attrs (the
	 * caller's opaque bytes, valid only during the call) to fill the
	 * entry's peek; NULL: peek is zero */
	void (*peek)(const uint8_t *attrs, size_t len, uint8_t out[2]);
};

/* One listed entry. For ListMultipartUploads vid is the upload id and mtime
 * the initiation time. */
struct meta_entry {
	const char *key; /* points into the result's memory */
	size_t key_len;
	uint8_t vid[META_ID_LEN];
	char vid_text[META_ID_TEXT];
	uint32_t flags;	 /* META_VF_*; LATEST set in version listings */
	uint8_t peek[2]; /* what meta_list_params.peek took from the attrs */
	int64_t mtime;
	uint64_t size;
	char etag[META_ETAG_MAX + 1];
};

struct meta_prefix {
	const char *p;
	size_t len;
};

struct meta_list_result {
	struct meta_entry *entries;
	size_t n;
	struct meta_prefix *prefixes;
	size_t n_prefixes;
	int truncated;
	/* last key or common prefix returned (v1 NextMarker, NextKeyMarker) */
	const char *next_marker;
	size_t next_marker_len;
	/* NextVersionIdMarker / NextUploadIdMarker ("" if last was a prefix) */
	char next_id[META_ID_TEXT];
	/* v2 NextContinuationToken, NUL-terminated base64, NULL unless truncated */
	const char *next_token;
	unsigned long steps; /* cursor seeks + steps spent (cost, for tests/metrics) */
	void *mem;	     /* internal */
};

/* ListObjectsV2 / V1. Returns *out owned (meta_list_result_release). Errors:
 * CN_ENOBUCKET, CN_EBADTOKEN, CN_EINVAL. */
int meta_list_objects(struct meta_store *s, const char *bucket, const struct meta_list_params *p,
		      struct meta_list_result *out);
/* ListObjectVersions: start/id_marker are key-marker/version-id-marker. */
int meta_list_versions(struct meta_store *s, const char *bucket, const struct meta_list_params *p,
		       struct meta_list_result *out);
/* ListMultipartUploads: start/id_marker are key-marker/upload-id-marker. */
int meta_list_uploads(struct meta_store *s, const char *bucket, const struct meta_list_params *p,
		      struct meta_list_result *out);
void meta_list_result_release(struct meta_list_result *r);

struct meta_part_list {
	struct meta_part *parts;
	size_t n;
	int truncated;
	uint32_t next_marker; /* NextPartNumberMarker */
	void *mem;
};
/* ListParts: parts with part_no > marker, at most max (0..1000). */
int meta_list_parts(struct meta_store *s, const char *bucket, const char *key, size_t key_len,
		    const uint8_t upload_id[META_ID_LEN], uint32_t marker, unsigned max,
		    struct meta_part_list *out);
void meta_part_list_release(struct meta_part_list *l);

/* ---- walks over a bucket, page by page (background workers) ---- */

/* The parameters of the page that starts after the markers (key_marker of
 * km_len bytes, id_marker text; "" / 0: the first page). */
struct meta_list_params meta_page_params(const char *key_marker, size_t km_len,
					 const char *id_marker, unsigned max);
/* A listing's next page: copies res's markers out (the caller then releases
 * res); 0 when res was the last page. key_marker holds META_KEY_MAX bytes,
 * id_marker META_ID_TEXT. */
int meta_next_page(const struct meta_list_result *res, char *key_marker, size_t *km_len,
		   char *id_marker);
/* Calls fn for every part of every open multipart upload of bucket, in
 * key, upload, part order, each from its own short read (an upload
 * completed or aborted meanwhile ends early). fn returns 0 to go on; a
 * non-zero value stops the walk and is returned. 0 when the walk ends (a
 * bucket deleted meanwhile too). */
typedef int (*meta_part_fn)(void *arg, const char *bucket, const struct meta_entry *upload,
			    const struct meta_part *part);
int meta_upload_parts_each(struct meta_store *s, const char *bucket, meta_part_fn fn, void *arg);

/* ---- cluster map ---- */

/* The whole map as of one read transaction (so the epoch names exactly
 * these records): nodes in id order, drives in id order, tombstones
 * included. Returns *out owned (meta_map_release). A store that never saw a
 * map command (one node) has epoch 0 and no records. Any thread. */
struct meta_map {
	uint64_t epoch;
	struct meta_node *nodes;
	size_t n_nodes;
	struct meta_drive *drives;
	size_t n_drives;
};
int meta_map_get(struct meta_store *s, struct meta_map *out);
void meta_map_release(struct meta_map *m);
/* The map epoch alone (0: no map yet). Any thread. */
int meta_map_epoch(struct meta_store *s, uint64_t *epoch);
/* ---- identity reads (any thread) ---- */

/* The access key id's record, its user's, and the identity generation, from
 * one snapshot. CN_ENOTFOUND when the key is unknown (or, never expected,
 * its user is gone). user may be NULL. */
int meta_iam_key_get(struct meta_store *s, const char *id, struct meta_iam_key *key,
		     struct meta_iam_user *user, uint64_t *gen);
int meta_iam_user_get(struct meta_store *s, const char *name, struct meta_iam_user *out);
int meta_iam_group_get(struct meta_store *s, const char *name, struct meta_iam_group *out);
/* A policy document: *doc malloc'd (NUL-terminated; free it). */
int meta_iam_policy_get(struct meta_store *s, const char *name, char **doc, size_t *len,
			int64_t *updated);
int meta_iam_generation(struct meta_store *s, uint64_t *gen);
/* Listings in name order; the callback returns non-zero to stop. keys:
 * every key, or a user's when user is not NULL. */
int meta_iam_users_each(struct meta_store *s, int (*cb)(void *, const struct meta_iam_user *),
			void *arg);
int meta_iam_keys_each(struct meta_store *s, const char *user,
		       int (*cb)(void *, const struct meta_iam_key *), void *arg);
int meta_iam_groups_each(struct meta_store *s, int (*cb)(void *, const struct meta_iam_group *),
			 void *arg);
int meta_iam_policies_each(struct meta_store *s,
			   int (*cb)(void *, const char *name, const char *doc, size_t len,
				     int64_t updated),
			   void *arg);

/* A bucket's configuration document (META_CMD_BUCKET_CONF) into *out
 * (malloc'd, NUL-terminated). CN_ENOTFOUND when unset, CN_ENOBUCKET. */
int meta_bucket_conf_get(struct meta_store *s, const char *bucket, const char *name, char **out,
			 size_t *len);
/* The same; bucket_found says the request has already found its bucket (a
 * GET's object, a PUT's bucket check): then one lookup fewer, and
 * CN_ENOTFOUND also when the bucket has gone since. */
int meta_bucket_conf_read(struct meta_store *s, const char *bucket, const char *name,
			  int bucket_found, char **out, size_t *len);

/* The value of setting name (META_CMD_SETTING) into out (cap bytes, NUL
 * added: cap must exceed META_SETTING_MAX to hold any); CN_ENOTFOUND when
 * unset, CN_ETOOBIG when out is too small. Any thread. */
int meta_setting_get(struct meta_store *s, const char *name, char *out, size_t cap);
/* Calls cb(arg, name, value) for every setting whose name starts with
 * prefix, in name order (value NUL-terminated, both valid for the call);
 * a non-zero return from cb stops the walk and is returned. Any thread. */
int meta_setting_each(struct meta_store *s, const char *prefix,
		      int (*cb)(void *arg, const char *name, const char *value), void *arg);
/* "up", "down", "draining", "removed" ("?" for anything else). */
const char *meta_map_state_name(uint8_t state);

/* ---- gc ---- */

/* Called for each due gc entry; layout borrowed for the call only. Return
 * non-zero to stop. */
typedef int (*meta_gc_cb)(const struct meta_gc_ref *ref, const uint8_t *layout, size_t layout_len,
			  void *arg);
/* Visits up to max gc entries with due <= now, oldest first. Any thread.
 * Remove visited entries after deleting their blobs with META_CMD_GC_DONE. */
int meta_gc_fetch(struct meta_store *s, int64_t now, unsigned max, meta_gc_cb cb, void *arg);

/* ---- heal entries (cluster: blobs written while a shard's node was down) ----
 * One per blob, keyed by blob id: the shards still missing (bit i = shard i)
 * and the blob's layout. Created by the PUT_VERSION / PART_PUT that commits
 * the blob (heal_mask), shrunk by HEAL_DONE and BLOB_MOVE, removed when the
 * blob is retired to gc (so nobody heals a blob GC may be deleting). */
typedef int (*meta_heal_cb)(const uint8_t blob_id[META_ID_LEN], uint16_t mask,
			    const uint8_t *layout, size_t layout_len, void *arg);
/* Visits up to max entries with blob id > after (NULL: from the start), in
 * id order; everything borrowed for the call only; cb returns non-zero to
 * stop. Returns the number visited or an error. Any thread. */
int meta_heal_each(struct meta_store *s, const uint8_t *after, unsigned max, meta_heal_cb cb,
		   void *arg);
/* 1 if blob_id has a heal entry, 0 if not, or an error. Any thread. */
int meta_heal_has(struct meta_store *s, const uint8_t blob_id[META_ID_LEN]);
/* Number of heal entries (status, tests). Any thread. */
int meta_heal_count(struct meta_store *s, uint64_t *n);
/* Number of intents currently recorded (tests, metrics). */
int meta_intent_count(struct meta_store *s, uint64_t *n);
/* Visits every intent (blob being written); blob_id and layout borrowed for
 * the call only. Return non-zero to stop. Any thread. */
typedef int (*meta_intent_cb)(const uint8_t *blob_id, int64_t created, const uint8_t *layout,
			      size_t layout_len, void *arg);
int meta_intent_each(struct meta_store *s, meta_intent_cb cb, void *arg);
/* A digest of the store's whole content (every table, keys and values):
 * replicas that applied the same log hold equal digests. Reads everything in
 * one read transaction: for tests and checks, not the request path. */
int meta_store_digest(struct meta_store *s, uint8_t out[16]);

#endif
