/*
 * core/err.h — cairn's error codes.
 *
 * Every function returns int: 0 on success, -errno for an OS error, or one of
 * the CN_E* codes below (a reserved negative range well below any errno).
 * Foreign codes (MDB_*, http-parser, ISA-L) are translated at their module
 * boundary. s3/s3err.c holds the single table that maps a code to an S3 error
 * code and HTTP status.
 *
 * Thread rules: everything here is pure and callable from any thread.
 */
#ifndef CAIRN_CORE_ERR_H
#define CAIRN_CORE_ERR_H

#define CN_ERR_BASE (-100000)

/* X(name, offset, message). Offsets are stable; append, never renumber.
 * Sections per module keep concurrent edits apart. */
#define CN_ERRORS(X)                                                                               \
	/* core / generic */                                                                       \
	X(CN_EINTERNAL, 1, "internal error")                                                       \
	X(CN_ENOMEM, 2, "out of memory")                                                           \
	X(CN_EINVAL, 3, "invalid argument")                                                        \
	X(CN_ECORRUPT, 4, "stored data is corrupt")                                                \
	X(CN_EFORMAT, 5, "unsupported on-disk format version")                                     \
	X(CN_ENOTFOUND, 6, "not found")                                                            \
	X(CN_EEXIST, 7, "already exists")                                                          \
	X(CN_ETOOBIG, 8, "too large")                                                              \
	X(CN_ESHUTDOWN, 9, "shutting down")                                                        \
	X(CN_EAGAIN, 10, "try again")                                                              \
	X(CN_EBUSY, 11, "in use")                                                                  \
	X(CN_EWOULDBLOCK, 12, "would wait for the disk")                                           \
	/* http / request syntax */                                                                \
	X(CN_EBADREQ, 100, "malformed request")                                                    \
	X(CN_EHDRTOOBIG, 101, "request header too large")                                          \
	X(CN_ETIMEOUT, 102, "request timed out")                                                   \
	X(CN_EINCOMPLETE, 103, "request body shorter than declared")                               \
	X(CN_ENOTIMPL, 104, "not implemented")                                                     \
	X(CN_EBADMETHOD, 105, "method not allowed")                                                \
	X(CN_EKEYTOOLONG, 106, "key too long")                                                     \
	X(CN_EBADDIGEST, 107, "content-md5 mismatch")                                              \
	X(CN_EBADCHECKSUM, 108, "checksum mismatch")                                               \
	X(CN_EMISSINGLEN, 109, "missing content-length")                                           \
	X(CN_EBADARG, 110, "invalid argument value")                                               \
	X(CN_EBADXML, 111, "malformed xml")                                                        \
	X(CN_EBADRANGE, 112, "range not satisfiable")                                              \
	X(CN_ETOOSMALL, 113, "entity too small")                                                   \
	X(CN_EBADMD5HDR, 114, "invalid content-md5")                                               \
	X(CN_EBADCKVALUE, 115, "invalid checksum value")                                           \
	X(CN_EMISSINGMD5, 116, "content-md5 or checksum required")                                 \
	X(CN_EBADHOST, 117, "missing or repeated host header")                                     \
	X(CN_EBADVERSION, 118, "http version not supported")                                       \
	/* auth */                                                                                 \
	X(CN_EACCESS, 200, "access denied")                                                        \
	X(CN_EBADKEYID, 201, "unknown access key")                                                 \
	X(CN_EBADSIG, 202, "signature does not match")                                             \
	X(CN_ESKEW, 203, "request time too skewed")                                                \
	X(CN_ESHAMISMATCH, 204, "x-amz-content-sha256 mismatch")                                   \
	X(CN_EEXPIRED, 205, "request has expired")                                                 \
	X(CN_EBADAUTH, 206, "malformed authorization")                                             \
	X(CN_EBADCHUNK, 207, "malformed aws-chunked body")                                         \
	X(CN_EBADSHAHDR, 208, "invalid x-amz-content-sha256")                                      \
	X(CN_EBADDATE, 209, "invalid x-amz-date")                                                  \
	X(CN_EUNSIGNEDHDR, 210, "x-amz-* header not signed")                                       \
	X(CN_EBADREGION, 211, "credential scope names another region")                             \
	X(CN_EBADQUERYAUTH, 212, "malformed presigned credential")                                 \
	X(CN_EQUERYPARAMS, 213, "presigned query parameters missing or malformed")                 \
	X(CN_EQUERYEXPIRES, 214, "presigned X-Amz-Expires out of range")                           \
	X(CN_ETWOAUTH, 215, "more than one auth mechanism")                                        \
	X(CN_ENOSHAHDR, 216, "x-amz-content-sha256 missing")                                       \
	X(CN_ENOTYETVALID, 217, "presigned URL dated in the future")                               \
	/* auth / POST policy (browser uploads) */                                                 \
	X(CN_EBADPOSTPOLICY, 220, "invalid POST policy document")                                  \
	/* meta / S3 semantics decided in apply */                                                 \
	X(CN_ENOBUCKET, 300, "no such bucket")                                                     \
	X(CN_ENOKEY, 301, "no such key")                                                           \
	X(CN_ENOVERSION, 302, "no such version")                                                   \
	X(CN_ENOUPLOAD, 303, "no such upload")                                                     \
	X(CN_EBUCKETEXISTS, 304, "bucket already owned by you")                                    \
	X(CN_ENOTEMPTY, 305, "bucket not empty")                                                   \
	X(CN_EPRECOND, 306, "precondition failed")                                                 \
	X(CN_EBADPART, 307, "invalid part")                                                        \
	X(CN_EBADPARTORDER, 308, "invalid part order")                                             \
	X(CN_EBADBUCKETNAME, 309, "invalid bucket name")                                           \
	X(CN_EBADLOCATION, 316, "location constraint is not this region")                          \
	X(CN_EDELMARKER, 310, "version is a delete marker")                                        \
	X(CN_ECONFLICT, 311, "conflicting concurrent operation")                                   \
	X(CN_ENOTMODIFIED, 312, "not modified")                                                    \
	X(CN_EBADVERSIONID, 313, "invalid version id")                                             \
	X(CN_EBADTOKEN, 314, "invalid continuation token")                                         \
	X(CN_EMETATOOBIG, 315, "metadata too large")                                               \
	X(CN_ECOPYSELF, 330, "copy onto itself without changes")                                   \
	X(CN_EBADSTORAGECLASS, 332, "invalid storage class")                                       \
	X(CN_EBADCOPYSRC, 331, "invalid copy source")                                              \
	X(CN_ECKMISMATCH, 333, "checksum algorithm or type differs from the upload's")             \
	X(CN_EMPSIZE, 334, "parts do not add up to x-amz-mp-object-size")                          \
	X(CN_EANONOVERRIDE, 335, "response header overrides on an anonymous request")              \
	/* data path */                                                                            \
	X(CN_EDATALOST, 400, "too many shards lost to reconstruct")                                \
	X(CN_ENOSPACE, 401, "storage full")                                                        \
	X(CN_EDRIVE, 402, "drive offline or foreign")                                              \
	X(CN_EIO, 403, "i/o error")                                                                \
	/* cluster */                                                                              \
	X(CN_ENOLEADER, 500, "no cluster leader reachable")                                        \
	X(CN_ENOTLEADER, 501, "this node is not the leader")                                       \
	X(CN_EUNCERTAIN, 502, "outcome unknown (leader changed or lost)")                          \
	X(CN_EABANDONED, 503, "upload abandoned (its node restarted and reclaimed the blob)")      \
	X(CN_EREMOVED, 504, "removed from the cluster map")                                        \
	X(CN_ELEAVING, 505, "a shard placed on a node leaving the cluster")                        \
	/* s3 access control lists (s3/acl.c) */                                                   \
	X(CN_EBADACL, 600, "malformed access control list")                                        \
	X(CN_EEMAILGRANT, 601, "grant by email address cannot be resolved")                        \
	X(CN_EACLCONFLICT, 602, "an ACL given in more than one way")                               \
	/* access configuration (s3/access.c) */                                                   \
	X(CN_ENOPOLICY, 610, "no bucket policy")                                                   \
	X(CN_EBADPOLICY, 611, "malformed policy")                                                  \
	X(CN_ENOPAB, 612, "no public access block configuration")                                  \
	X(CN_ENOOWNERSHIP, 613, "no ownership controls")                                           \
	X(CN_EACLNOTSUPP, 614, "the bucket does not allow ACLs")                                   \
	X(CN_EACLOWNERSHIP, 615, "ACLs conflict with BucketOwnerEnforced")                         \
	X(CN_EMISSINGSECHDR, 616, "missing a required header")                                     \
	X(CN_ESIGV2OFF, 617, "signature version 2 is turned off")                                  \
	/* POST Object (s3/post.c) */                                                              \
	X(CN_EMALFORMEDPOST, 620, "malformed multipart/form-data")                                 \
	X(CN_ENOPOSTFILE, 621, "a POST without exactly one file")                                  \
	X(CN_EPOSTPREDATA, 622, "POST fields before the file too large")                           \
	X(CN_EPOSTFIELDS, 623, "too many POST fields")                                             \
	X(CN_EBADPOSTENC, 624, "POST not multipart/form-data")                                     \
	X(CN_ECORSOFF, 625, "CORS is not enabled for this bucket")                                 \
	X(CN_EBADPARTNUM, 626, "part number not satisfiable")                                      \
	X(CN_ENOWEBSITE, 627, "no website configuration")                                          \
	X(CN_ENOREPLICATION, 628, "no replication configuration")                                  \
	/* server-side encryption (core/crypt.c, s3/sse.c) */                                      \
	X(CN_EDECRYPT, 740, "data or key failed authenticated decryption")                         \
	X(CN_EBADSSE, 741, "invalid server-side encryption parameters")                            \
	X(CN_ENOSSECONF, 742, "no server-side encryption configuration")                           \
	X(CN_EKMSNOKEY, 743, "no such KMS key")                                                    \
	/* object and bucket tags (s3/tagging.c) */                                                \
	X(CN_EBADTAG, 710, "invalid tag")                                                          \
	X(CN_ETAGCOUNT, 711, "more tags than a tag set may hold")                                  \
	X(CN_EBADTAGHDR, 712, "malformed x-amz-tagging header")                                    \
	X(CN_ENOTAGSET, 713, "no tag set")                                                         \
	/* bucket lifecycle configuration (s3/lifecycle.c) */                                      \
	X(CN_ENOLIFECYCLE, 720, "no lifecycle configuration")                                      \
	X(CN_EBADLIFECYCLE, 721, "lifecycle rule not allowed")                                     \
	/* bucket CORS configuration (s3/cors.c) */                                                \
	X(CN_EBADCORS, 700, "invalid CORS configuration")                                          \
	X(CN_ENOCORS, 701, "no CORS configuration")                                                \
	X(CN_ELOCKED, 730, "protected by object lock")                                             \
	X(CN_ENOLOCKCONF, 731, "no object lock configuration")                                     \
	X(CN_ELOCKNOTENABLED, 732, "object lock is not enabled on the bucket")                     \
	X(CN_ENORETENTION, 733, "no retention or legal hold on the version")                       \
	X(CN_EBUCKETSTATE, 734, "not allowed in the bucket's state")

enum cn_err {
#define CN_X(name, off, msg) name = CN_ERR_BASE - (off),
	CN_ERRORS(CN_X)
#undef CN_X
};

/* Returns a static string for any code (cairn code or -errno). Any thread. */
const char *cn_strerror(int err);

/* Returns the code's symbolic name ("CN_ENOKEY", "ENOENT"...). Any thread. */
const char *cn_errname(int err);

#endif
