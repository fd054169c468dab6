/*
 * s3/route.h — S3 request routing: addressing style, bucket and key
 * (percent-decoded, validated), query sub-resources, and the operation.
 *
 * Pure logic over the request line and a few headers, so it is unit tested
 * and fuzzed without sockets. Strings live in the caller's pool.
 */
#ifndef CAIRN_S3_ROUTE_H
#define CAIRN_S3_ROUTE_H

#include <stddef.h>

#include "core/pool.h"

#define S3_MAX_KEY 1024
#define S3_MAX_BUCKET 63

#define S3_OPS(X)                                                                                  \
	X(S3_OP_UNKNOWN, "Unknown")                                                                \
	X(S3_OP_LIST_BUCKETS, "ListBuckets")                                                       \
	X(S3_OP_CREATE_BUCKET, "CreateBucket")                                                     \
	X(S3_OP_DELETE_BUCKET, "DeleteBucket")                                                     \
	X(S3_OP_HEAD_BUCKET, "HeadBucket")                                                         \
	X(S3_OP_GET_BUCKET_LOCATION, "GetBucketLocation")                                          \
	X(S3_OP_GET_BUCKET_VERSIONING, "GetBucketVersioning")                                      \
	X(S3_OP_PUT_BUCKET_VERSIONING, "PutBucketVersioning")                                      \
	X(S3_OP_LIST_OBJECTS, "ListObjects")                                                       \
	X(S3_OP_LIST_OBJECTS_V2, "ListObjectsV2")                                                  \
	X(S3_OP_LIST_OBJECT_VERSIONS, "ListObjectVersions")                                        \
	X(S3_OP_LIST_MULTIPART_UPLOADS, "ListMultipartUploads")                                    \
	X(S3_OP_DELETE_OBJECTS, "DeleteObjects")                                                   \
	X(S3_OP_PUT_OBJECT, "PutObject")                                                           \
	X(S3_OP_COPY_OBJECT, "CopyObject")                                                         \
	X(S3_OP_GET_OBJECT, "GetObject")                                                           \
	X(S3_OP_HEAD_OBJECT, "HeadObject")                                                         \
	X(S3_OP_DELETE_OBJECT, "DeleteObject")                                                     \
	X(S3_OP_CREATE_MULTIPART, "CreateMultipartUpload")                                         \
	X(S3_OP_UPLOAD_PART, "UploadPart")                                                         \
	X(S3_OP_UPLOAD_PART_COPY, "UploadPartCopy")                                                \
	X(S3_OP_COMPLETE_MULTIPART, "CompleteMultipartUpload")                                     \
	X(S3_OP_ABORT_MULTIPART, "AbortMultipartUpload")                                           \
	X(S3_OP_LIST_PARTS, "ListParts")                                                           \
	X(S3_OP_GET_BUCKET_POLICY, "GetBucketPolicy")                                              \
	X(S3_OP_PUT_BUCKET_POLICY, "PutBucketPolicy")                                              \
	X(S3_OP_DELETE_BUCKET_POLICY, "DeleteBucketPolicy")                                        \
	X(S3_OP_GET_BUCKET_POLICY_STATUS, "GetBucketPolicyStatus")                                 \
	X(S3_OP_GET_PUBLIC_ACCESS_BLOCK, "GetPublicAccessBlock")                                   \
	X(S3_OP_PUT_PUBLIC_ACCESS_BLOCK, "PutPublicAccessBlock")                                   \
	X(S3_OP_DELETE_PUBLIC_ACCESS_BLOCK, "DeletePublicAccessBlock")                             \
	X(S3_OP_GET_OWNERSHIP_CONTROLS, "GetBucketOwnershipControls")                              \
	X(S3_OP_PUT_OWNERSHIP_CONTROLS, "PutBucketOwnershipControls")                              \
	X(S3_OP_DELETE_OWNERSHIP_CONTROLS, "DeleteBucketOwnershipControls")                        \
	X(S3_OP_GET_BUCKET_ACL, "GetBucketAcl")                                                    \
	X(S3_OP_PUT_BUCKET_ACL, "PutBucketAcl")                                                    \
	X(S3_OP_GET_OBJECT_ACL, "GetObjectAcl")                                                    \
	X(S3_OP_PUT_OBJECT_ACL, "PutObjectAcl")                                                    \
	X(S3_OP_POST_OBJECT, "PostObject")                                                         \
	X(S3_OP_GET_OBJECT_TAGGING, "GetObjectTagging")                                            \
	X(S3_OP_GET_OBJECT_ATTRIBUTES, "GetObjectAttributes")                                      \
	X(S3_OP_PUT_OBJECT_TAGGING, "PutObjectTagging")                                            \
	X(S3_OP_DELETE_OBJECT_TAGGING, "DeleteObjectTagging")                                      \
	X(S3_OP_GET_BUCKET_TAGGING, "GetBucketTagging")                                            \
	X(S3_OP_PUT_BUCKET_TAGGING, "PutBucketTagging")                                            \
	X(S3_OP_DELETE_BUCKET_TAGGING, "DeleteBucketTagging")                                      \
	X(S3_OP_GET_BUCKET_CORS, "GetBucketCors")                                                  \
	X(S3_OP_PUT_BUCKET_CORS, "PutBucketCors")                                                  \
	X(S3_OP_DELETE_BUCKET_CORS, "DeleteBucketCors")                                            \
	X(S3_OP_GET_BUCKET_ENCRYPTION, "GetBucketEncryption")                                      \
	X(S3_OP_PUT_BUCKET_ENCRYPTION, "PutBucketEncryption")                                      \
	X(S3_OP_DELETE_BUCKET_ENCRYPTION, "DeleteBucketEncryption")                                \
	X(S3_OP_GET_BUCKET_LIFECYCLE, "GetBucketLifecycleConfiguration")                           \
	X(S3_OP_PUT_BUCKET_LIFECYCLE, "PutBucketLifecycleConfiguration")                           \
	X(S3_OP_DELETE_BUCKET_LIFECYCLE, "DeleteBucketLifecycle")                                  \
	X(S3_OP_GET_OBJECT_LOCK_CONFIG, "GetObjectLockConfiguration")                              \
	X(S3_OP_PUT_OBJECT_LOCK_CONFIG, "PutObjectLockConfiguration")                              \
	X(S3_OP_GET_OBJECT_RETENTION, "GetObjectRetention")                                        \
	X(S3_OP_PUT_OBJECT_RETENTION, "PutObjectRetention")                                        \
	X(S3_OP_GET_OBJECT_LEGAL_HOLD, "GetObjectLegalHold")                                       \
	X(S3_OP_PUT_OBJECT_LEGAL_HOLD, "PutObjectLegalHold")                                       \
	X(S3_OP_GET_BUCKET_REQUEST_PAYMENT, "GetBucketRequestPayment")                             \
	X(S3_OP_GET_BUCKET_LOGGING, "GetBucketLogging")                                            \
	X(S3_OP_GET_BUCKET_NOTIFICATION, "GetBucketNotificationConfiguration")                     \
	X(S3_OP_GET_BUCKET_ACCELERATE, "GetBucketAccelerateConfiguration")                         \
	X(S3_OP_GET_BUCKET_WEBSITE, "GetBucketWebsite")                                            \
	X(S3_OP_GET_BUCKET_REPLICATION, "GetBucketReplication")                                    \
	X(S3_OP_NOT_IMPLEMENTED, "NotImplemented")

enum s3_op {
#define S3_X(name, str) name,
	S3_OPS(S3_X)
#undef S3_X
};

struct s3_param {
	char *name;  /* decoded */
	char *value; /* decoded, "" when absent */
	int has_value;
};

struct s3_route {
	enum s3_op op;
	const char *op_name;
	char *bucket; /* NULL for the service (ListBuckets) */
	char *key;    /* decoded, NULL for bucket operations */
	size_t key_len;
	int virtual_host;
	struct s3_param *params;
	int n_params;
};

/* Methods (http-parser numbering is not assumed). */
enum s3_method { S3_GET, S3_PUT, S3_POST, S3_DELETE, S3_HEAD, S3_OTHER };

struct s3_route_input {
	enum s3_method method;
	const char *path; /* raw, percent-encoded */
	size_t path_len;
	const char *query; /* raw, without '?' */
	size_t query_len;
	const char *host;	    /* Host header or NULL */
	const char *const *domains; /* suffixes for virtual-host style */
	int n_domains;
	int has_copy_source; /* x-amz-copy-source present */
};

/* Fills out from in, allocating in pool. Returns 0, CN_EKEYTOOLONG,
 * CN_EBADREQ (bad percent-encoding, invalid UTF-8, a path not starting with
 * '/'), CN_EBADMETHOD, or CN_ENOMEM. op may be S3_OP_NOT_IMPLEMENTED. */
int s3_route_parse(struct cn_pool *pool, const struct s3_route_input *in, struct s3_route *out);

/* Decoded value of a query parameter, or NULL when absent. */
const char *s3_route_param(const struct s3_route *r, const char *name);
int s3_route_has(const struct s3_route *r, const char *name);

/* Percent-decodes src into dst (which holds len+1 bytes); '+' becomes a
 * space when plus_space. Returns the decoded length or -1 on a bad escape. */
long s3_percent_decode(const char *src, size_t len, char *dst, int plus_space);
/* Returns 1 when buf is valid UTF-8 (no overlongs, no surrogates). */
int s3_utf8_valid(const char *buf, size_t len);

#endif
