/*
 * s3/copy_int.h — private to src/s3: the server-side copy engine shared by
 * CopyObject (copy.c) and UploadPartCopy (multipart.c).
 *
 * A copy source is parsed from x-amz-copy-source, opened (its metadata read
 * into an owned struct meta_version), checked against the
 * x-amz-copy-source-if-* conditions, and its byte range streamed into a new
 * blob on the thread pool through blob_reader -> blob_writer in 1 MiB pieces
 * (bounded memory; blobs are never shared between versions, so GC can delete
 * per version).
 *
 * Thread rules: everything here runs on the request's loop except the copy
 * work itself, which s3_copy_blob_start queues on the thread pool.
 */
#ifndef CAIRN_S3_COPY_INT_H
#define CAIRN_S3_COPY_INT_H

#include "s3/s3_int.h"

struct s3_copy_src {
	char *bucket; /* pool memory */
	char *key;    /* pool memory, decoded */
	size_t key_len;
	const char *vid; /* versionId text or NULL */
	struct meta_version v;
	int have_v;
	struct data_store *pinned; /* v's blobs are pinned in this store */
};

/* Parses the x-amz-copy-source header of r ("[/]bucket/key[?versionId=v]",
 * percent-encoded) into src (strings in r's pool). Returns 0,
 * CN_EBADCOPYSRC, CN_EKEYTOOLONG or CN_ENOMEM. Loop thread. */
int s3_copy_source_parse(struct s3_req *r, struct s3_copy_src *src);
/* Reads the source version (inline bytes included) into src->v, owned until
 * s3_copy_source_close. Returns 0, CN_ENOBUCKET, CN_ENOKEY, CN_ENOVERSION,
 * CN_EBADARG (a delete marker named by version id), ... Loop thread. */
int s3_copy_source_open(struct s3_req *r, struct s3_copy_src *src);
/* Evaluates x-amz-copy-source-if-match / -if-none-match /
 * -if-modified-since / -if-unmodified-since. 0 or CN_EPRECOND. */
int s3_copy_source_check(struct s3_req *r, const struct s3_copy_src *src);
/* Releases src->v. Idempotent. */
void s3_copy_source_close(struct s3_copy_src *src);

/* One byte range of a source written into a new blob. */
struct s3_copy_blob;
typedef void (*s3_copy_done_fn)(struct s3_req *r, struct s3_copy_blob *cb, int err);
struct s3_copy_blob {
	/* in */
	const struct meta_version *v; /* borrowed until done runs */
	uint64_t start, len;	      /* byte range of v */
	uint32_t part_no;	      /* for the shard headers (0: object) */
	const char *version_text;     /* new version / upload id, for shard headers */
	s3_copy_done_fn done;
	enum cn_checksum_alg ck_alg; /* also compute this checksum (NONE: none) */
	/* encryption of the source (read through it) and of the new blob
	 * (written through it); NULL or mode NONE: none. Unlocked, borrowed
	 * until done runs. */
	const struct s3_sse *src_sse, *dst_sse;
	/* out, valid in done(err == 0): the blob is durable and must be
	 * committed or handed to s3_copy_blob_discard */
	struct blob_layout layout;
	uint8_t layout_enc[DATA_LAYOUT_MAX];
	size_t layout_len;
	uint8_t md5[16];		 /* of the plaintext */
	uint8_t sealed_md5[16];		 /* of the stored bytes, when dst_sse seals them */
	uint8_t ck_raw[CN_CHECKSUM_MAX]; /* ck_len bytes of ck_alg's checksum */
	size_t ck_len;
	/* internal */
	int rc;
	int have_blob;
};
/* Queues the copy on the thread pool; done runs on the loop. Borrows cb
 * (keep it in pool memory) until done. Returns an error without calling done
 * when the work cannot be queued. */
int s3_copy_blob_start(struct s3_req *r, struct s3_copy_blob *cb);
/* Deletes a copied blob that will not be committed (fire and forget). */
void s3_copy_blob_discard(struct s3_req *r, struct s3_copy_blob *cb);

#endif
