/*
 * s3/s3_int.h — private to src/s3: the per-request context shared by the
 * front end and the operation handlers, and the helpers they share.
 *
 * A struct s3_req lives in its HTTP request's pool and is driven on that
 * request's loop thread. Blocking work (disk) goes to libuv's thread pool
 * via s3_work(); metadata commands complete on the loop via the worker's
 * meta_waiter. Every handler ends by calling one of the s3_send_* helpers,
 * which end the HTTP request exactly once.
 */
#ifndef CAIRN_S3_S3_INT_H
#define CAIRN_S3_S3_INT_H

#include <stdint.h>
#include <uv.h>

#include "auth/sigv4.h"
#include "cluster/cluster.h"
#include "core/digest.h"
#include "data/data.h"
#include "http/http.h"
#include "meta/meta.h"
#include "s3/acl.h"
#include "s3/route.h"
#include "s3/s3.h"
#include "xml/xml.h"

#define S3_NS "http://s3.amazonaws.com/doc/2006-03-01/"
#define S3_MAX_USER_META 2048
/* InvalidArgument's message for a checksum algorithm S3 does not have (headers,
 * trailers, CreateMultipartUpload): S3's own wording. */
#define S3_MSG_CK_UNSUPPORTED                                                                      \
	"Checksum algorithm provided is unsupported. Please try again with any of the valid "      \
	"types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]"

struct cluster;

struct s3_authz;
struct s3_sse;
struct tag_set;
struct s3_lifecycle;

/* What the lifecycle worker did (lifecycle_worker.c). */
struct s3_lifecycle_progress {
	int running;
	char bucket[META_BUCKET_MAX + 1]; /* the one being walked */
	uint64_t passes;
	int64_t last_pass_end_ns;
	uint64_t objects_expired, versions_expired, markers_removed, uploads_aborted, failed;
};

struct s3_server {
	struct s3_config cfg;
	struct s3_authz *authz;		/* compiled-policy cache (authz.c) */
	struct s3_lifecycle *lifecycle; /* the rules' worker, when started */
	int64_t lifecycle_day_ns;	/* a lifecycle "day" (tests shrink it) */
	char account_id[13];		/* the one account (authz.c) */
	char account_canonical[65];
	struct meta_store *meta;
	struct data_store *data;
	struct gc *gc;		 /* may be NULL */
	struct scrub *scrub;	 /* may be NULL */
	struct cluster *cluster; /* cluster mode, else NULL */
	/* cluster mode, else NULL. Set by the main thread after the internal
	 * API's server already answers status requests that read it. */
	_Atomic(struct rebalance *) rebalance;
	_Atomic int ready; /* set by the main or start-up thread, read by loops */
};

/* Per HTTP worker loop. */
/* Streaming buffers (GET reads, upload blocks) are recycled per worker:
 * fresh 1 MiB mallocs are mmaps, and page-faulting them in cost a fifth of
 * a 1 MiB GET. */
#define S3_BIGBUF ((1u << 20) + 64 * 1024)
#define S3_BIGBUF_CACHE 16

struct s3_worker {
	struct s3_server *srv;
	uv_loop_t *loop;
	struct meta_waiter waiter;
	void *free_bufs[S3_BIGBUF_CACHE];
	int n_free;
};

struct s3_req;
typedef void (*s3_work_fn)(struct s3_req *r, void *arg);	      /* pool thread */
typedef void (*s3_after_fn)(struct s3_req *r, int status, void *arg); /* loop */

/* Decoded request body delivery (aws-chunked removed). */
typedef int (*s3_sink_fn)(struct s3_req *r, const char *data, size_t len);
typedef void (*s3_body_done_fn)(struct s3_req *r, int err);

struct awschunked;

struct s3_body {
	uint64_t expected; /* decoded bytes expected, UINT64_MAX if unknown */
	uint64_t received; /* decoded bytes delivered */
	int aws_chunked;
	struct awschunked *dec;
	s3_sink_fn sink;
	s3_body_done_fn done;
	int finished;
	int err;
	/* Content-MD5, decoded and checked for shape before the body is read */
	uint8_t md5[16];
	int has_md5;
	/* checksum the client declared (header or trailer) */
	enum cn_checksum_alg ck_alg;
	uint8_t ck_want[CN_CHECKSUM_MAX]; /* decoded header value, when known up front */
	int ck_have;			  /* ck_want holds cn_checksum_alg_len(ck_alg) bytes */
	int ck_trailer;			  /* value arrives in the trailer */
};

/* Headers of a response under construction: zero-initialise, then add.
 * The array lives in the request's pool and grows as needed, so no header
 * is ever dropped. A value that could split the response (CR, LF, any other
 * control character but TAB) is never added: the list is marked bad and
 * the response becomes a 500, as it does when memory runs out. */
struct s3_hdrs {
	struct http_header *h;
	int n, cap;
	int bad;
};

/* One extra element of an S3 error document (<name>value</name>). */
struct s3_err_field {
	const char *name;
	const char *value;
	size_t len;
};

/* ---- identity and access (authz.c) ---- */

enum s3_principal { S3_PRINCIPAL_ANON = 0, S3_PRINCIPAL_ROOT, S3_PRINCIPAL_USER };

struct s3_ident {
	enum s3_principal kind;
	char user[META_IAM_NAME_MAX + 1];
	char canonical[META_IAM_CANON_LEN + 1];
	char access_key[META_IAM_KEY_MAX + 1];
	uint8_t secret_fp[32]; /* SHA-256 of the secret the request was signed with */
};

struct s3_pab {
	int block_public_acls, ignore_public_acls, block_public_policy, restrict_public_buckets;
};

enum s3_ownership { S3_OWN_OBJECT_WRITER = 0, S3_OWN_PREFERRED, S3_OWN_ENFORCED };

/* A bucket's access configuration, read once per request. */
struct s3_baccess {
	int loaded;
	char bucket[META_BUCKET_MAX + 1];
	char *policy; /* pool memory, or NULL */
	size_t policy_len;
	int has_acl;
	struct acl acl;
	struct s3_pab pab;
	enum s3_ownership ownership;
};

struct s3_req {
	struct http_request *http;
	struct s3_server *srv;
	struct s3_worker *wk;
	struct cn_pool *pool;
	struct s3_route route;
	struct sigv4_result auth;
	char request_id[17];
	int is_head;
	int aborted;
	int done;	/* a response has been ended */
	int n_work;	/* thread-pool items in flight */
	int barrier_rc; /* cluster read barrier outcome (frontend) */
	/* what runs after the barrier (frontend) */
	void (*barrier_next)(struct s3_req *);
	struct s3_body body;
	void *op; /* the handler's own state */
	struct s3_ident ident;
	int sigv2;     /* signed with SigV2 */
	int presigned; /* the signature is in the query */
	int post_form; /* a browser form upload */
	int reauth;    /* cluster: authenticate again after the read barrier */
	/* cluster leader: a GET that went ahead before any read round, its
	 * answer held until ticket is confirmed (frontend, cluster/ticket.h);
	 * write: a PutObject/DeleteObject doing so, confirmed by its own log
	 * entry (s3_entry_confirms) */
	int unconfirmed;
	int write_ticket;
	int follower_ticket; /* the ticket is the leader's, given to this follower */
	struct cluster_ticket ticket;
	int authz_object_perm;	   /* an object ACL permission the handler must check */
	struct s3_baccess *bacc;   /* pool memory, once needed (authz.c) */
	const char *err_msg;	   /* replaces the S3 error's standard message */
	void *form;		   /* POST Object's state (post.c) */
	void *aux;		   /* a handler's state while r->op is taken (small bodies) */
	const char *form_acl;	   /* POST Object's acl field (an x-amz-acl) */
	const char *form_tagging;  /* its tagging field (a Tagging XML document), or NULL */
	struct tag_set *body_tags; /* PutObjectTagging: the set its body asks for, once read */
	/* s3:ExistingObjectTag/<key>: the version's tags once read, whether a
	 * policy asked for them before, and the action to decide again then */
	struct tag_set *vtags;
	int tags_asked;
	const char *recheck_action;
	struct s3_hdrs *cors; /* an actual cross-origin request's CORS headers */
	/* A small body read before authorization because condition keys come
	 * from it (CreateBucket: s3:LocationConstraint; PutObjectRetention:
	 * s3:object-lock-remaining-retention-days): s3_body_read_small hands
	 * it to the handler instead of reading again. */
	char *pre_body;
	size_t pre_len;
	int has_pre_body;
	const char *cond_location; /* the body's LocationConstraint, NULL: none */
	int64_t cond_until;	   /* the body's RetainUntilDate (ns), 0: none */
	/* the object lock a write gives its new version (s3_lock_for_write) */
	struct {
		uint8_t mode, hold; /* enum meta_lock_mode, enum meta_legal_hold */
		int64_t until;
	} wlock;
};

/* ---- front end helpers (frontend.c) ---- */

/* Appends a header; NULL value adds nothing. name and value are borrowed
 * until the response is sent (pool memory or static). Loop thread. */
void s3_hdr_add(struct s3_req *r, struct s3_hdrs *h, const char *name, const char *value);
void s3_hdr_addf(struct s3_req *r, struct s3_hdrs *h, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Replaces the value of header name (any case), or appends it. */
void s3_hdr_set(struct s3_req *r, struct s3_hdrs *h, const char *name, const char *value);
/* Is name (any case) in h? */
int s3_hdr_has(const struct s3_hdrs *h, const char *name);
/* Can v (len bytes) be sent as a header value: no control character but
 * TAB (so no CR/LF that would split the response)? */
int s3_hdr_value_ok(const char *v, size_t len);
/* Sends an S3 XML error for err (a CN_E* or -errno) and ends the request.
 * Details S3 attaches to some errors (HeadersNotSigned, Region, the delete
 * marker headers) are added here. */
void s3_send_error(struct s3_req *r, int err);
/* The same with extra response headers h (may be NULL; borrowed) and extra
 * elements f[0..n) placed after <Message>. The one way every S3 error
 * leaves cairn. */
void s3_send_error_ex(struct s3_req *r, int err, struct s3_hdrs *h, const struct s3_err_field *f,
		      int n);
/* Sends status with headers h (may be NULL) and the XML body in w (released
 * here), then ends the request. */
void s3_send_xml(struct s3_req *r, int status, struct s3_hdrs *h, struct cn_buf *w);
/* Sends status, headers and an optional copied body, then ends. */
void s3_send(struct s3_req *r, int status, struct s3_hdrs *h, const void *body, size_t len);
/* Starts a streamed response: status, headers, content length. */
int s3_send_begin(struct s3_req *r, int status, struct s3_hdrs *h, uint64_t len);
void s3_end(struct s3_req *r);
/* A S3_BIGBUF-byte buffer from this worker's cache (or malloc); NULL when
 * out of memory. Give it back with s3_bigbuf_put on the same loop. */
void *s3_bigbuf_get(struct s3_req *r);
void s3_bigbuf_put(struct s3_req *r, void *buf);
/* Runs fn on the thread pool, then after on the loop. Returns 0 or error
 * (then after is never called). */
int s3_work(struct s3_req *r, s3_work_fn fn, s3_after_fn after, void *arg);
/* Keeps r alive past s3_end until as many s3_release calls (a libuv
 * handle of the request's, until its close callback). Loop. */
void s3_hold(struct s3_req *r);
void s3_release(struct s3_req *r);
/* Submits a metadata command; cb runs on this loop. */
int s3_meta_submit(struct s3_req *r, struct meta_cmd *cmd, meta_cmd_cb cb, void *arg);
/* A write that went ahead on a ticket is confirmed once its command's log
 * entry committed in the ticket's term: its answer then needs no round.
 * Call from the command's callback, before answering. Loop thread. */
void s3_entry_confirms(struct s3_req *r, const struct meta_cmd *cmd);
/* Sets the request's bucket's configuration document NAME (a literal) to
 * V (empty removes it; V lives in the request's pool or is static), then
 * answers STATUS with no body, or the command's error (access.c). */
void s3_bucket_conf_put(struct s3_req *r, const char *name, const void *v, size_t len, int status);
/* Request header value (NUL-terminated) or NULL. */
const char *s3_header(struct s3_req *r, const char *name);
/* Fills 16 random bytes. */
void s3_random_id(uint8_t out[16]);
/* A new blob id: random; in a cluster its first 4 bytes are this node's
 * writer tag (cluster_blob_tag), so a restarting node reclaims only the
 * intents of uploads it was writing itself. */
void s3_blob_id_new(struct s3_server *srv, uint8_t out[16]);

/* ---- body (body.c) ---- */

/* Sets up decoded-body delivery for the request (aws-chunked decoding,
 * length checks). expected is written to *len_out (UINT64_MAX if unknown).
 * Returns 0 or an S3 error code (missing length, bad headers). */
int s3_body_prepare(struct s3_req *r, uint64_t *len_out);
/* Starts delivering: sink gets decoded bytes, done gets the outcome once. */
void s3_body_start(struct s3_req *r, s3_sink_fn sink, s3_body_done_fn done);
/* Frees the aws-chunked decoder, if any. Idempotent. */
void s3_body_release(struct s3_req *r);
/* Does the request declare a digest of its body (Content-MD5, an
 * x-amz-checksum-* header or a checksum trailer)? */
int s3_body_declares_digest(struct s3_req *r);
/* Which digests the verification of this body needs (CN_DIG_* bits). */
unsigned s3_body_digests(struct s3_req *r);
/* Checks Content-MD5, signed-payload SHA-256 and x-amz-checksum-* against
 * the computed digests. Returns 0, CN_EBADDIGEST, CN_ESHAMISMATCH or
 * CN_EBADCHECKSUM. */
int s3_body_verify(struct s3_req *r, const struct cn_digest_result *d);
/* Reads a whole small body (XML) into pool memory, at most max bytes (a
 * body read before authorization, r->pre_body, is handed over at once). */
typedef void (*s3_small_body_fn)(struct s3_req *r, int err, char *buf, size_t len);
void s3_body_read_small(struct s3_req *r, size_t max, s3_small_body_fn cb);

/* ---- object attributes (attrs.c) ---- */

/* What a version stores besides size/etag: content headers, user metadata
 * and the additional checksum, encoded as one opaque byte string. */
struct s3_attrs {
	const char *content_type, *content_encoding, *content_disposition;
	const char *content_language, *cache_control, *expires;
	const char **meta_names; /* n_meta entries each, pool memory */
	const char **meta_values;
	int n_meta;
	enum cn_checksum_alg ck_alg;
	uint8_t ck_raw[32];
	size_t ck_len;
	int ck_composite; /* multipart: checksum of checksums, "-N" suffix */
	uint32_t ck_parts;
	/* an upload's checksum choice (CreateMultipartUpload): algorithm and
	 * type (1 COMPOSITE, 2 FULL_OBJECT); CN_CK_NONE: none */
	enum cn_checksum_alg mp_ck_alg;
	int mp_ck_type;
	const uint8_t *acl; /* the object's ACL (acl_encode), NULL: private */
	size_t acl_len;
	const uint8_t *tags; /* the object's tag set (tagging_encode), NULL: none */
	size_t tags_len;
	/* an upload's object lock, for the version Complete makes */
	uint8_t lock_mode, lock_hold;
	int64_t lock_until;
	const uint8_t *sse; /* server-side encryption (s3/sse.h), NULL: none */
	size_t sse_len;
	/* CompleteMultipartUpload: the upload id (META_ID_LEN bytes) the
	 * version records; encoded only, s3_attrs_decode leaves it NULL */
	const uint8_t *upload_id;
};

/* PutObject, CopyObject, CreateMultipartUpload: refuses headers that ask
 * for what cairn does not do yet (object lock, website redirects:
 * CN_ENOTIMPL) and storage classes other than STANDARD
 * (CN_EBADSTORAGECLASS), instead of ignoring them. */
int s3_write_headers_check(struct s3_req *r);
/* The ACL a write asks for (x-amz-acl, x-amz-grant-*) into a->acl, checked
 * against the bucket's ownership controls and Public Access Block and the
 * requester's s3:PutObjectAcl; none asked: a->acl NULL. access.c. */
int s3_acl_for_write(struct s3_req *r, struct s3_attrs *a);
/* The T_ACL / T_TAGS record of encoded attrs, without decoding the rest. */
int s3_attrs_acl(const uint8_t *buf, size_t len, const uint8_t **acl, size_t *acl_len);
int s3_attrs_tags(const uint8_t *buf, size_t len, const uint8_t **tags, size_t *tags_len);
int s3_attrs_sse(const uint8_t *buf, size_t len, const uint8_t **sse, size_t *sse_len);
/* 1 when encoded attrs record that CompleteMultipartUpload of upload id
 * made the version, else 0. */
int s3_attrs_completed_from(const uint8_t *buf, size_t len, const uint8_t id[META_ID_LEN]);
/* The tag set a write asks for (x-amz-tagging) into a->tags, and the
 * requester's s3:PutObjectTagging for it; none asked: a->tags NULL.
 * tags.c. */
int s3_tags_for_write(struct s3_req *r, struct s3_attrs *a);
/* CreateBucket's first configuration documents, packed for the command
 * (ownership, Public Access Block, the ACL asked for). access.c. */
int s3_bucket_initial_conf(struct s3_req *r, void **out, size_t *len);
/* 1 when the route's bucket exists; otherwise answers the error (NoSuchBucket,
 * or what the read failed with) and returns 0. Loop thread. */
int s3_bucket_exists(struct s3_req *r);
/* The bucket's access configuration for this request (authz.c); NULL when
 * memory ran out. */
struct s3_baccess *s3_bucket_access(struct s3_req *r, const char *bucket);
/* The version a request names (versionId or the current one), as GET
 * would find it (META_GET_VSTATE). object.c. */
int s3_version_for_request(struct s3_req *r, struct meta_version *v);
/* x-amz-version-id of a version read (v from a META_GET_VSTATE read): its
 * id; for the null version "null" wherever versions show (its bucket's
 * versioning is configured, it is a delete marker, or the request named
 * it), none in a bucket never versioned. object.c. */
void s3_version_header(struct s3_req *r, struct s3_hdrs *h, const struct meta_version *v);
/* Stores acl as version v's ACL (META_CMD_VERSION_ATTRS), answers the
 * request, releases v. access.c/object.c. */
void s3_put_version_acl(struct s3_req *r, struct meta_version *v, struct s3_attrs *at,
			const struct acl *acl);
/* The same for its tag set (tags NULL: none), answering status. */
void s3_put_version_tags(struct s3_req *r, struct meta_version *v, struct s3_attrs *at,
			 const uint8_t *tags, size_t tags_len, int status);
/* From request headers (Content-Type, x-amz-meta-*...). CN_EMETATOOBIG when
 * user metadata exceeds 2 KB; CN_EBADARG when a value holds a control
 * character (it would be sent back as a header). Strings borrowed from the
 * request. */
int s3_attrs_from_request(struct s3_req *r, struct s3_attrs *a);
/* Encodes into pool memory. */
int s3_attrs_encode(struct s3_req *r, const struct s3_attrs *a, uint8_t **out, size_t *len);
/* Decodes; strings point into pool copies. Returns 0 or CN_ECORRUPT. */
int s3_attrs_decode(struct s3_req *r, const uint8_t *buf, size_t len, struct s3_attrs *a);
/* Adds Content-Type & co, x-amz-meta-* and (when want_ck) the checksum header. */
void s3_attrs_to_headers(struct s3_req *r, const struct s3_attrs *a, struct s3_hdrs *h,
			 int want_ck);
/* An upload's checksum choice (T_CKSPEC) without decoding the rest:
 * CN_CK_NONE and 0 when it has none; type 1 COMPOSITE, 2 FULL_OBJECT. */
int s3_attrs_ckspec(const uint8_t *buf, size_t len, enum cn_checksum_alg *alg, int *type);
/* A version's checksum for a listing (meta_list_params.peek): out[0] the
 * algorithm (CN_CK_NONE: none), out[1] 1 FULL_OBJECT, 2 COMPOSITE. */
void s3_attrs_ck_peek(const uint8_t *buf, size_t len, uint8_t out[2]);
/* Writes <Checksum<ALG>>base64[-parts]</...> (parts 0: no suffix). */
void s3_checksum_xml(struct cn_buf *w, enum cn_checksum_alg a, const uint8_t *raw, size_t len,
		     uint32_t parts);

/* ---- object lock (bucket_objlock.c) ---- */

/* The lock a write (PUT, COPY, POST, CreateMultipartUpload) asks for in
 * x-amz-object-lock-* headers, or the bucket's default retention, into
 * r->wlock; the requester's s3:PutObjectRetention / s3:PutObjectLegalHold
 * for what the headers ask. Errors as S3 (r->err_msg set): a bucket
 * without object lock, a lone mode or date, a date not ahead, a request
 * without Content-MD5 or a checksum (a PutObject also when the bucket's
 * default retention applies). */
int s3_lock_for_write(struct s3_req *r);
/* Only the bucket's default retention into r->wlock (none: zero). */
int s3_lock_default(struct s3_req *r);
/* UploadPart: an upload whose version will be locked (its own lock
 * request, or the bucket's default retention) takes only parts that carry
 * Content-MD5 or a checksum, as S3; CN_EMISSINGMD5 (r->err_msg set). ua:
 * the upload's attrs. */
int s3_lock_part_check(struct s3_req *r, const struct s3_attrs *ua);
/* Copies r->wlock into a command. */
void s3_lock_to_cmd(const struct s3_req *r, struct meta_cmd *c);
/* 1 when the request asks to bypass GOVERNANCE retention and may, for key. */
int s3_lock_bypass(struct s3_req *r, const char *key, size_t klen);
/* x-amz-object-lock-* answer headers of version v (those the requester
 * may read). */
void s3_lock_headers(struct s3_req *r, const struct meta_version *v, struct s3_hdrs *h);

/* ---- admin endpoints (admin.c): /_cairn/admin/..., root credentials ---- */
void s3_admin(struct s3_req *r);
/* The web console's static files at /_cairn/console/ (console.c). */
void s3_console(struct s3_req *r);
/* authz.c. The account's ids come from the root access key. */
int s3_authz_new(const char *root_key, struct s3_authz **out, char account_id[13],
		 char canonical[65]);
void s3_authz_free(struct s3_authz *a);
/* sigv4_secret_cb: the root's or a user's secret; records who in r->ident. */
int s3_ident_secret(void *arg, const char *access_key, char *secret_out, size_t cap);
/* After authentication (and the cluster read barrier): 0 when r may run,
 * CN_EACCESS, CN_EBADKEYID (a key disabled meanwhile) or an error. May
 * leave an object ACL check to the handler (r->authz_object_perm). */
int s3_authorize(struct s3_req *r);
/* Condition keys a request's body holds: how much of the body to read
 * before s3_authorize (0: none is needed, or the principal is the root),
 * and the keys' values from it into r (cond_location, cond_until; a body
 * that does not parse leaves them unset, for the handler to refuse). */
size_t s3_authz_body_max(const struct s3_req *r);
#define S3_CREATE_BUCKET_BODY_MAX (64 * 1024)
#define S3_OBJLOCK_BODY_MAX 4096 /* retention, legal hold, lock configuration */
void s3_authz_body_keys(struct s3_req *r, const char *buf, size_t len);
/* One more action on bucket[/key] for this requester (DeleteObjects' keys,
 * a copy source): 0 or CN_EACCESS. bucket_perm: an ACL permission on the
 * bucket that also allows it (0 none). */
int s3_authz_check(struct s3_req *r, const char *action, const char *bucket, const char *key,
		   size_t klen, int bucket_perm);
/* The deferred object ACL check, with the version's stored ACL (absent:
 * private). 0 when nothing was deferred. */
int s3_authz_object(struct s3_req *r, const void *acl, size_t acl_len);
/* What a handler calls once it has read the version (its encoded attrs):
 * the policies again when they asked for the object's tags
 * (s3:ExistingObjectTag), and the deferred object ACL check. 0 or
 * CN_EACCESS. */
int s3_authz_version(struct s3_req *r, const uint8_t *attrs, size_t attrs_len);
/* Reading a copy source (CopyObject, UploadPartCopy): the policies'
 * s3:GetObject(Version) on it, else its object ACL's READ (attrs of the
 * version, found = it exists). 0 or CN_EACCESS. */
int s3_authz_source(struct s3_req *r, const char *bucket, const char *key, size_t klen,
		    int versioned, const uint8_t *attrs, size_t attrs_len, int found);
/* A delete conditional on an ETag (If-Match, DeleteObjects' <ETag>) tells
 * whether the current version has it, so S3 also wants s3:GetObject on it
 * (its policies, else its object ACL's READ); "*" asks only whether it
 * exists. 0 or CN_EACCESS. */
int s3_authz_delete_etag(struct s3_req *r, const char *key, size_t klen, const char *etag);
int s3_pab_parse(const char *v, size_t len, struct s3_pab *out);
enum s3_ownership s3_ownership_parse(const char *v);
const char *s3_ownership_name(enum s3_ownership o);

struct json_t;
/* Sends doc (a json_t, taken) as a one-line JSON answer. */
void s3_send_json(struct s3_req *r, int status, struct json_t *doc);
/* /_cairn/admin/user|group|policy (admin_iam.c): what is 'u', 'g' or 'p'. */
void s3_admin_iam(struct s3_req *r, char what, int post);
/* GET /_cairn/admin/backup (admin_backup.c): the metadata backup stream. */
void s3_admin_backup(struct s3_req *r);

/* ---- internal API (internal.c): node-to-node, cluster secret ---- */
void s3_internal(struct s3_req *r);
struct cluster_status;
struct json_t;
/* A node's status as JSON (jansson, owned). */
struct json_t *s3_cluster_status_json(const struct cluster_status *st);
struct rebalance;
/* This node's rebalancer as JSON (admin.c); NULL without one. */
struct json_t *s3_rebalance_json(struct rebalance *rb);

/* ---- operations ---- */

void s3_op_list_buckets(struct s3_req *r);
void s3_op_create_bucket(struct s3_req *r);
void s3_op_delete_bucket(struct s3_req *r);
void s3_op_head_bucket(struct s3_req *r);
void s3_op_get_bucket_location(struct s3_req *r);
/* GetBucketRequestPayment, -Logging, -NotificationConfiguration,
 * -AccelerateConfiguration, -Website, -Replication: what S3 answers for a
 * bucket where none is set, the only state cairn has. */
void s3_op_get_bucket_unconfigured(struct s3_req *r);
void s3_op_get_bucket_versioning(struct s3_req *r);
void s3_op_put_bucket_versioning(struct s3_req *r);
void s3_op_put_object(struct s3_req *r);
void s3_op_get_object(struct s3_req *r);
void s3_op_delete_object(struct s3_req *r);
void s3_op_copy_object(struct s3_req *r);
void s3_op_delete_objects(struct s3_req *r);
void s3_op_list_objects(struct s3_req *r);
void s3_op_list_object_versions(struct s3_req *r);
void s3_op_list_multipart_uploads(struct s3_req *r);
void s3_op_create_multipart(struct s3_req *r);
void s3_op_upload_part(struct s3_req *r);
void s3_op_upload_part_copy(struct s3_req *r);
void s3_op_complete_multipart(struct s3_req *r);
void s3_op_abort_multipart(struct s3_req *r);
void s3_op_list_parts(struct s3_req *r);
/* access.c */
void s3_op_get_bucket_policy(struct s3_req *r);
void s3_op_put_bucket_policy(struct s3_req *r);
void s3_op_delete_bucket_policy(struct s3_req *r);
void s3_op_get_bucket_policy_status(struct s3_req *r);
void s3_op_get_public_access_block(struct s3_req *r);
void s3_op_put_public_access_block(struct s3_req *r);
void s3_op_delete_public_access_block(struct s3_req *r);
void s3_op_get_ownership_controls(struct s3_req *r);
void s3_op_put_ownership_controls(struct s3_req *r);
void s3_op_delete_ownership_controls(struct s3_req *r);
void s3_op_get_bucket_acl(struct s3_req *r);
void s3_op_put_bucket_acl(struct s3_req *r);
void s3_op_get_object_acl(struct s3_req *r);
void s3_op_put_object_acl(struct s3_req *r);
void s3_op_post_object(struct s3_req *r); /* post.c */
/* bucket_lifecycle.c, lifecycle_worker.c */
struct lifecycle_config;
void s3_op_get_bucket_lifecycle(struct s3_req *r);
void s3_op_put_bucket_lifecycle(struct s3_req *r);
/* Object Lock (bucket_objlock.c). */
void s3_op_get_object_lock_config(struct s3_req *r);
void s3_op_put_object_lock_config(struct s3_req *r);
void s3_op_get_object_retention(struct s3_req *r);
void s3_op_put_object_retention(struct s3_req *r);
void s3_op_get_object_legal_hold(struct s3_req *r);
void s3_op_put_object_legal_hold(struct s3_req *r);
void s3_op_delete_bucket_lifecycle(struct s3_req *r);
/* The bucket's lifecycle configuration (owned: lifecycle_config_free), or
 * NULL with *rc (CN_ENOTFOUND: none; CN_ENOBUCKET unless found, which says
 * the caller has found the bucket: meta_bucket_conf_read). Any thread. */
struct lifecycle_config *s3_lifecycle_load(struct meta_store *m, const char *bucket, int found,
					   int *rc);
/* Adds x-amz-expiration for a current version of key when a rule expires
 * it. tags: the version's encoded tag set (may be NULL). */
void s3_expiration_header(struct s3_req *r, struct s3_hdrs *h, const char *key, size_t klen,
			  uint64_t size, int64_t mtime_ns, const uint8_t *tags, size_t tags_len);
/* Adds x-amz-abort-date and x-amz-abort-rule-id for an upload of key
 * initiated at initiated_ns when an AbortIncompleteMultipartUpload rule
 * will abort it (CreateMultipartUpload, ListParts). */
void s3_abort_date_headers(struct s3_req *r, struct s3_hdrs *h, const char *key, size_t klen,
			   int64_t initiated_ns);
int s3_lifecycle_start(struct meta_store *m, int64_t day_ns, int (*active)(void *ctx), void *ctx,
		       struct s3_lifecycle **out);
void s3_lifecycle_stop(struct s3_lifecycle *l);
void s3_lifecycle_progress(struct s3_lifecycle *l, struct s3_lifecycle_progress *out);
/* bucket_cors.c */
void s3_op_get_bucket_cors(struct s3_req *r);
void s3_op_put_bucket_cors(struct s3_req *r);
void s3_op_delete_bucket_cors(struct s3_req *r);
/* A preflight for r->route.bucket: answers 200 with the matching rule's
 * headers and returns 0, or returns the error to answer (CN_ECORSOFF...). */
int s3_cors_preflight(struct s3_req *r, const char *origin, const char *method);
/* An actual request with an Origin: the CORS headers its answer carries
 * (r->cors), when the bucket's configuration allows it. */
void s3_cors_actual(struct s3_req *r);
/* tags.c */
void s3_op_get_object_tagging(struct s3_req *r);
/* GetObjectAttributes (objattrs.c). */
void s3_op_get_object_attributes(struct s3_req *r);
void s3_op_put_object_tagging(struct s3_req *r);
void s3_op_delete_object_tagging(struct s3_req *r);
void s3_op_get_bucket_tagging(struct s3_req *r);
void s3_op_put_bucket_tagging(struct s3_req *r);
void s3_op_delete_bucket_tagging(struct s3_req *r);

/* Shared by PutObject and UploadPart: stream the body into an inline buffer
 * or a blob, verify, then call done on the loop. */
struct s3_upload;
typedef void (*s3_upload_done_fn)(struct s3_req *r, struct s3_upload *u, int err);
struct s3_upload {
	uint64_t size; /* decoded length */
	int is_inline;
	char *inline_buf; /* pool memory when inline */
	struct blob_layout layout;
	uint8_t layout_enc[DATA_LAYOUT_MAX];
	size_t layout_len;
	struct cn_digest_result dig;
	uint32_t part_no;
	int force_blob;		      /* never inline (multipart parts are always blobs) */
	enum cn_checksum_alg ck_need; /* the upload's algorithm: computed when the
					 request names none, refused when it names another */
	int ck_sent_only;	      /* ...and refused when it names none (COMPOSITE) */
	int ck_default;		      /* no algorithm: S3's default (CRC64NVME) when the
				       * client names none */
	const char *version_text;     /* for shard headers */
	/* encryption (s3/sse.h), NULL or mode NONE: stored as sent. Borrowed
	 * until done; an inline body is sealed into inline_buf and s gets its
	 * seal. sealed_md5: MD5 of the stored bytes (the ETag of SSE-KMS and
	 * SSE-C objects). */
	struct s3_sse *sse;
	uint8_t sealed_md5[16];
	s3_upload_done_fn done;
	void *priv; /* upload.c's state */
};
/* Starts receiving the body. On done(err==0) the data is durable (blob) or in
 * u->inline_buf; with a blob the caller must commit or hand it to GC.
 * Returns an error without calling done when it cannot start. */
int s3_upload_start(struct s3_req *r, struct s3_upload *u, uint32_t part_no);
/* The same for a body the caller delivers (a form's file part): always a
 * blob; bytes through s3_upload_feed (an error stops the caller's body),
 * the end (or the body's error) through s3_upload_end, once. The caller's
 * HTTP body is paused and resumed here as buffers fill. r->op is taken. */
int s3_upload_start_fed(struct s3_req *r, struct s3_upload *u);
int s3_upload_feed(struct s3_req *r, const char *data, size_t len);
void s3_upload_end(struct s3_req *r, int err);
/* ---- blob intents (intent.c) ---- */

/* A new blob's intent: committed (add) before its shards are renamed into
 * place, turned into a gc entry (drop) when the blob will not be committed.
 * Embed it in the request's state; it is borrowed until done runs. */
enum s3_intent_state {
	S3_INTENT_IDLE,
	S3_INTENT_ADDING,
	S3_INTENT_ADDED,
	S3_INTENT_DROPPING,
	S3_INTENT_DROPPED,
};
struct s3_intent;
typedef void (*s3_intent_fn)(struct s3_req *r, struct s3_intent *in, int rc);
struct s3_intent {
	struct meta_cmd cmd;
	uint8_t layout[DATA_LAYOUT_MAX];
	uint8_t blob_id[META_ID_LEN];
	enum s3_intent_state state;
	s3_intent_fn done;
};
/* Submits the intent of the blob laid out as l; done(rc) runs on this loop
 * (state ADDED whatever rc). Returns an error without calling done when it
 * cannot submit. */
int s3_intent_add(struct s3_req *r, struct s3_intent *in, const struct blob_layout *l,
		  s3_intent_fn done);
/* Turns an ADDED intent into a gc entry due now; same contract. */
int s3_intent_drop(struct s3_req *r, struct s3_intent *in, s3_intent_fn done);
/* Hands a durable blob that will not be committed to GC (its intent
 * becomes a gc entry). Fire and forget; loop thread. */
void s3_blob_drop(struct s3_req *r, const uint8_t blob_id[META_ID_LEN]);
/* Same, for an upload's blob (no-op for inline bodies). */
void s3_upload_discard(struct s3_req *r, struct s3_upload *u);

/* A write's If-None-Match (only *) / If-Match into cmd; buf (cap bytes)
 * holds the unquoted If-Match ETag. Returns 0 or CN_ENOTIMPL. */
int s3_write_conditions(struct s3_req *r, struct meta_cmd *c, char *buf, size_t cap);
/* ETag header value: "\"etag\"" in pool memory. */
const char *s3_quote_etag(struct s3_req *r, const char *etag);
/* Strips quotes (and a W/ prefix) from an If-Match style header value; writes
 * NUL-terminated into out (cap). */
void s3_unquote_etag(const char *in, char *out, size_t cap);
/* HTTP date (RFC 1123) from ns. */
void s3_http_date(int64_t ns, char out[40]);
/* Parses an HTTP date; returns 0 and *ns or -1. */
int s3_parse_http_date(const char *s, int64_t *ns);
/* Bucket naming rules; returns 0 or CN_EBADBUCKETNAME. */
int s3_bucket_name_check(const char *name);

/* ---- request bodies, parsed without server state ----
 * Each reads a whole XML body (borrowed for the call) into a result whose
 * pointers are pool memory, valid until the pool is released; nothing else
 * is touched, so any thread may call them. The handler that owns the
 * operation does the store's part. The codes are the S3 errors the handler
 * answers. Fuzzed together by tests/fuzz/fuzz_bodies.c. */

/* A checksum the client named for one part in CompleteMultipartUpload. */
struct s3_part_claim {
	enum cn_checksum_alg alg; /* NONE: no claim */
	uint8_t raw[CN_CHECKSUM_MAX];
	size_t len; /* cn_checksum_alg_len(alg) */
};

struct s3_complete_body {
	struct meta_part_ref *parts;  /* n, in document order; etags unquoted */
	struct s3_part_claim *claims; /* one per parts[] entry */
	uint32_t n;		      /* 1..META_PARTS_MAX */
};

/* <CompleteMultipartUpload><Part>... (multipart.c). CN_EBADXML for a wrong
 * shape (no Part, more than META_PARTS_MAX, a Part without PartNumber or
 * ETag, a number that is not one, two checksums in one Part); CN_EBADPART
 * for a number outside 1..META_PARTS_MAX, an empty or too long ETag, or a
 * claimed checksum that cannot be one (bad base64, wrong length);
 * CN_ENOMEM. */
int s3_complete_from_xml(struct cn_pool *pool, const char *body, size_t len,
			 struct s3_complete_body *out);

#define S3_DELETE_MAX_OBJECTS 1000 /* keys in one DeleteObjects */

struct s3_delete_key {
	const char *key; /* 1.. bytes, not checked against S3_MAX_KEY here */
	size_t key_len;
	const char *vid; /* as given, or NULL (absent or empty) */
	char *etag;	 /* <ETag> unquoted, at most META_ETAG_MAX bytes, or NULL */
};

struct s3_delete_body {
	struct s3_delete_key *keys; /* n, in document order */
	size_t n;		    /* 1..S3_DELETE_MAX_OBJECTS */
	int quiet;
};

/* <Delete> of DeleteObjects (delete.c). CN_EBADXML (no Object, too many, an
 * Object without a Key or with an empty one) or CN_ENOMEM. */
int s3_delete_from_xml(struct cn_pool *pool, const char *body, size_t len,
		       struct s3_delete_body *out);

/* PublicAccessBlockConfiguration (access.c): *v is the stored "pab"
 * document, 4 pool bytes of '0'/'1' (access.c's header). CN_EBADXML for
 * another root or a value other than true/false (any case); CN_ENOMEM. */
int s3_pab_from_xml(struct cn_pool *pool, const char *body, size_t len, char **v);
/* GetPublicAccessBlock's document of the 4 stored bytes v, appended to w. */
void s3_pab_to_xml(const char *v, struct cn_buf *w);

/* OwnershipControls/Rule/ObjectOwnership (access.c); CN_EBADXML unless it
 * is one of the three names. */
int s3_ownership_from_xml(struct cn_pool *pool, const char *body, size_t len,
			  enum s3_ownership *out);
/* GetBucketOwnershipControls' document of o, appended to w. */
void s3_ownership_to_xml(enum s3_ownership o, struct cn_buf *w);

/* VersioningConfiguration (bucket.c): *state META_VERSIONING_ENABLED or
 * _SUSPENDED. CN_ENOTIMPL when MfaDelete is Enabled, else CN_EBADXML when
 * Status is neither. */
int s3_versioning_from_xml(struct cn_pool *pool, const char *body, size_t len, uint8_t *state);
/* GetBucketVersioning's document of state (no Status when never set),
 * appended to w. */
void s3_versioning_to_xml(uint8_t state, struct cn_buf *w);

/* CreateBucketConfiguration (bucket.c); len 0: none, accepted. CN_EBADXML
 * for another root, CN_EBADLOCATION when LocationConstraint is set and is
 * not region (*loc then points at it, in pool; loc may be NULL). */
int s3_create_bucket_from_xml(struct cn_pool *pool, const char *body, size_t len,
			      const char *region, const char **loc);

#endif
