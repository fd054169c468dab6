/*
 * s3/post.c — POST Object: a browser uploads a file with an HTML form
 * (multipart/form-data), authorized by a signed POST policy (SigV4 or V2)
 * or by the bucket's access rules alone (an anonymous form).
 *
 * The body streams through the form parser (http/formdata.c): the fields
 * before the file are kept (bounded: 64 of at most 20 KiB); when the file
 * part begins, the form's signature and policy are checked
 * (auth/postpolicy.c), the key's ${filename} filled in, the requester
 * authorized for s3:PutObject, and the object writer started; the file's
 * bytes go straight into it (s3_upload_start_fed: the same bounded,
 * backpressured pipeline as PutObject); what follows the file is ignored, as
 * S3 does. The object is committed like a PutObject, then the answer is
 * success_action_redirect (303), or success_action_status 200, 201 (an XML
 * PostResponse) or 204 (the default).
 *
 * Thread rules: loop thread.
 */
#include "s3/s3_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/postpolicy.h"
#include "core/clock.h"
#include "core/err.h"
#include "http/formdata.h"
#include "s3/sse.h"

#define POST_FIELDS FORMDATA_DEFAULT_PARTS

struct post_op {
	struct s3_upload u; /* first: the upload's done gives &u */
	struct s3_req *r;
	struct formdata fd;
	int fd_init;
	struct postpolicy_field f[POST_FIELDS + 2];
	size_t nf;
	const char *filename, *file_ctype;
	size_t filename_len;
	int file_seen, started, file_done, answered;
	int err;
	struct postpolicy *pol;
	uint64_t min_len, max_len, got;
	char *key;
	size_t key_len;
	struct s3_attrs attrs;
	uint8_t *attrs_enc;
	size_t attrs_len;
	struct meta_cmd cmd;
	uint8_t vid[META_ID_LEN];
	char vid_text[META_ID_TEXT];
	char etag[33];
	const char *status_field, *redirect;
	struct s3_sse sse; /* the bucket's default encryption, if any */
};

static const char *field(struct post_op *op, const char *name)
{
	for (size_t i = 0; i < op->nf; i++)
		if (strcasecmp(op->f[i].name, name) == 0)
			return op->f[i].value;
	return NULL;
}

static void finish(struct post_op *op)
{
	postpolicy_free(op->pol);
	op->pol = NULL;
	if (op->fd_init) {
		formdata_release(&op->fd);
		op->fd_init = 0;
	}
}

static void fail(struct post_op *op, int err)
{
	if (op->answered)
		return;
	op->answered = 1;
	finish(op);
	s3_send_error(op->r, err);
}

static int with_msg(struct post_op *op, int rc, const char *msg)
{
	if (msg && msg[0])
		op->r->err_msg = cn_pool_strndup(op->r->pool, msg, strlen(msg));
	return rc;
}

/* ---- the answer ---- */

/* Percent-encodes key onto w: everything but unreserved characters, and
 * '/' too unless keep_slash. */
static void put_key_pct(struct cn_buf *w, const char *key, size_t len, int keep_slash)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)key[i];
		char esc[4];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~' || (c == '/' && keep_slash)) {
			cn_buf_put(w, &key[i], 1);
		} else {
			snprintf(esc, sizeof(esc), "%%%02X", c);
			cn_buf_put(w, esc, 3);
		}
	}
}

/* The new object's URL, as S3 answers it in Location: absolute, the key
 * percent-encoded (a key may hold any UTF-8, even control characters,
 * which a header cannot carry raw). Without a usable Host: the path. */
static char *object_url(struct s3_req *r, struct post_op *op)
{
	const char *host = s3_header(r, "host");
	struct cn_buf w;
	char *url;

	cn_buf_init(&w);
	if (host && *host && s3_hdr_value_ok(host, strlen(host)) && !strpbrk(host, "/?#@ ")) {
		cn_buf_put(&w, r->http->tls ? "https://" : "http://", r->http->tls ? 8 : 7);
		cn_buf_put(&w, host, strlen(host));
	}
	if (!r->route.virtual_host) {
		cn_buf_put(&w, "/", 1);
		cn_buf_put(&w, r->route.bucket, strlen(r->route.bucket));
	}
	cn_buf_put(&w, "/", 1);
	put_key_pct(&w, op->key, op->key_len, 0);
	url = w.err ? NULL : cn_pool_strndup(r->pool, (const char *)w.p, w.len);
	cn_buf_release(&w);
	return url;
}

static void committed(struct meta_cmd *cmd, int rc, void *arg)
{
	struct s3_req *r = arg;
	struct post_op *op = (struct post_op *)((char *)cmd - offsetof(struct post_op, cmd));
	struct s3_hdrs h = {0};
	const char *etag = s3_quote_etag(r, op->etag);
	char *loc;
	int st = 204;

	if (rc) {
		s3_upload_discard(r, &op->u);
		fail(op, rc);
		return;
	}
	op->answered = 1;
	finish(op);
	loc = object_url(r, op);
	s3_hdr_add(r, &h, "ETag", etag);
	s3_sse_headers(r, &op->sse, &h);
	s3_hdr_add(r, &h, "Location", loc);
	if (strcmp(op->vid_text, "null") != 0 && op->vid_text[0])
		s3_hdr_add(r, &h, "x-amz-version-id", op->vid_text);
	if (op->redirect) {
		/* S3 appends bucket, key and etag to the redirect */
		char *q = cn_pool_printf(r->pool, "%s%sbucket=%s&key=", op->redirect,
					 strchr(op->redirect, '?') ? "&" : "?", r->route.bucket);
		struct cn_buf w;
		cn_buf_init(&w);
		cn_buf_put(&w, q, strlen(q));
		put_key_pct(&w, op->key, op->key_len, 1);
		cn_buf_put(&w, "&etag=%22", 9);
		cn_buf_put(&w, op->etag, strlen(op->etag));
		cn_buf_put(&w, "%22", 3);
		char *url = w.err ? NULL : cn_pool_strndup(r->pool, (const char *)w.p, w.len);
		cn_buf_release(&w);
		if (url && s3_hdr_value_ok(url, strlen(url))) {
			s3_hdr_set(r, &h, "Location", url);
			s3_send(r, 303, &h, NULL, 0);
			return;
		}
	}
	if (op->status_field)
		st = atoi(op->status_field);
	if (st == 201) {
		struct cn_buf w;
		cn_buf_init(&w);
		xmlw_decl(&w);
		xmlw_open(&w, "PostResponse", NULL);
		if (loc)
			xmlw_elem(&w, "Location", loc);
		xmlw_elem(&w, "Bucket", r->route.bucket);
		xmlw_elem_n(&w, "Key", op->key, op->key_len);
		xmlw_elem(&w, "ETag", etag);
		xmlw_close(&w, "PostResponse");
		s3_send_xml(r, 201, &h, &w);
		return;
	}
	s3_send(r, st == 200 ? 200 : 204, &h, NULL, 0);
}

static void received(struct s3_req *r, struct s3_upload *u, int err)
{
	struct post_op *op = (struct post_op *)u;
	struct meta_cmd *c = &op->cmd;
	int rc;

	if (err) {
		fail(op, err);
		return;
	}
	rc = op->got < op->min_len ? CN_ETOOSMALL : 0;
	if (!rc) {
		cn_hex(s3_sse_etag_sealed(&op->sse) ? u->sealed_md5 : u->dig.md5, 16, op->etag);
		op->attrs.ck_alg = CN_CK_CRC64NVME;
		op->attrs.ck_len = cn_checksum_raw(CN_CK_CRC64NVME, &u->dig, op->attrs.ck_raw);
		rc = s3_sse_record(r, &op->sse, &op->attrs.sse, &op->attrs.sse_len);
	}
	if (!rc) {
		rc = s3_attrs_encode(r, &op->attrs, &op->attrs_enc, &op->attrs_len);
	}
	if (!rc)
		rc = s3_lock_default(r); /* a form sets no lock; the bucket's default holds */
	if (rc) {
		s3_upload_discard(r, u);
		fail(op, rc);
		return;
	}
	c->type = META_CMD_PUT_VERSION;
	c->now = cn_now_ns();
	c->bucket = r->route.bucket;
	c->bucket_len = strlen(r->route.bucket);
	c->key = op->key;
	c->key_len = op->key_len;
	memcpy(c->vid, op->vid, META_ID_LEN);
	c->attrs = op->attrs_enc;
	c->attrs_len = op->attrs_len;
	c->size = u->size;
	c->etag = op->etag;
	c->etag_len = 32;
	s3_lock_to_cmd(r, c);
	c->loc = META_LOC_BLOB;
	memcpy(c->blob_id, u->layout.id, META_ID_LEN);
	c->layout = u->layout_enc;
	c->layout_len = u->layout_len;
	c->heal_mask = u->layout.missing;
	rc = s3_meta_submit(r, c, committed, r);
	if (rc) {
		s3_upload_discard(r, u);
		fail(op, rc);
	}
}

/* ---- the file begins: everything is known but its bytes ---- */

static int authenticate(struct post_op *op)
{
	struct s3_req *r = op->r;
	struct postpolicy_auth a;
	char ak[SIGV4_MAX_ACCESS_KEY + 1], err[200] = "";
	uint64_t min = 0, max = UINT64_MAX;
	int rc;

	/* only the form's own signature counts */
	memset(&r->ident, 0, sizeof(r->ident));
	rc = postpolicy_auth_from_fields(op->f, op->nf, &a, err, sizeof(err));
	if (rc)
		return with_msg(op, CN_EBADARG, err);
	if (a.kind == POSTPOLICY_V2 && r->srv->cfg.no_sigv2)
		return CN_ESIGV2OFF;
	if (a.kind != POSTPOLICY_ANONYMOUS) {
		if (a.kind == POSTPOLICY_V4)
			rc = postpolicy_verify_v4(&a, r->srv->cfg.region, s3_ident_secret, r, ak,
						  err, sizeof(err));
		else
			rc = postpolicy_verify_v2(&a, s3_ident_secret, r, ak, err, sizeof(err));
		if (rc) {
			memset(&r->ident, 0, sizeof(r->ident));
			return with_msg(op, rc == CN_EBADAUTH ? CN_EBADARG : rc,
					rc == CN_EBADAUTH ? err : NULL);
		}
		r->sigv2 = a.kind == POSTPOLICY_V2;
		if (!a.policy)
			return with_msg(op, CN_EBADARG,
					"Bucket POST must contain a field named 'policy'.");
		rc = postpolicy_parse(a.policy, a.policy_len, (time_t)(cn_now_ns() / 1000000000LL),
				      &op->pol, err, sizeof(err));
		if (rc)
			return with_msg(op, rc == CN_EEXPIRED ? CN_EACCESS : rc, err);
		postpolicy_length_range(op->pol, &min, &max);
	}
	op->min_len = min;
	op->max_len = max < r->srv->cfg.max_put_size ? max : r->srv->cfg.max_put_size;
	return 0;
}

/* The object's attributes from the form (headers do not apply here). */
static int form_attrs(struct post_op *op)
{
	struct s3_req *r = op->r;
	struct s3_attrs *a = &op->attrs;
	static const char *const unkept[] = {"x-amz-server-side-encryption",
					     "x-amz-server-side-encryption-aws-kms-key-id",
					     "x-amz-server-side-encryption-customer-algorithm",
					     "x-amz-object-lock-mode",
					     "x-amz-object-lock-retain-until-date",
					     "x-amz-object-lock-legal-hold",
					     "x-amz-website-redirect-location"};
	const char **strs[6] = {&a->content_type,     &a->content_encoding, &a->content_disposition,
				&a->content_language, &a->cache_control,    &a->expires};
	static const char *const names[6] = {"Content-Type",	    "Content-Encoding",
					     "Content-Disposition", "Content-Language",
					     "Cache-Control",	    "Expires"};
	const char *sc = field(op, "x-amz-storage-class");
	size_t meta_bytes = 0;
	int n = 0;

	for (size_t i = 0; i < sizeof(unkept) / sizeof(unkept[0]); i++)
		if (field(op, unkept[i]))
			return CN_ENOTIMPL;
	if (sc && strcmp(sc, "STANDARD") != 0)
		return CN_EBADSTORAGECLASS;
	memset(a, 0, sizeof(*a));
	for (int i = 0; i < 6; i++) {
		*strs[i] = field(op, names[i]);
		if (*strs[i] && !s3_hdr_value_ok(*strs[i], strlen(*strs[i])))
			return CN_EBADARG;
	}
	if (!a->content_type && op->file_ctype)
		a->content_type = op->file_ctype;
	for (size_t i = 0; i < op->nf; i++)
		if (op->f[i].name_len > 11 && strncasecmp(op->f[i].name, "x-amz-meta-", 11) == 0) {
			meta_bytes += op->f[i].name_len - 11 + op->f[i].value_len;
			if (meta_bytes > S3_MAX_USER_META)
				return CN_EMETATOOBIG;
			if (!s3_hdr_value_ok(op->f[i].value, op->f[i].value_len))
				return CN_EBADARG;
			n++;
		}
	if (n) {
		a->meta_names = cn_pool_alloc(r->pool, sizeof(*a->meta_names) * (size_t)n);
		a->meta_values = cn_pool_alloc(r->pool, sizeof(*a->meta_values) * (size_t)n);
		if (!a->meta_names || !a->meta_values)
			return CN_ENOMEM;
		for (size_t i = 0; i < op->nf; i++) {
			if (op->f[i].name_len <= 11 ||
			    strncasecmp(op->f[i].name, "x-amz-meta-", 11) != 0)
				continue;
			char *nm = cn_pool_strndup(r->pool, op->f[i].name + 11,
						   op->f[i].name_len - 11);
			if (!nm)
				return CN_ENOMEM;
			for (char *p = nm; *p; p++)
				if (*p >= 'A' && *p <= 'Z')
					*p = (char)(*p + 32);
			a->meta_names[a->n_meta] = nm;
			a->meta_values[a->n_meta++] = op->f[i].value;
		}
	}
	r->form_acl = field(op, "acl");
	r->form_tagging = field(op, "tagging");
	int rc = s3_tags_for_write(r, a);
	return rc ? rc : s3_acl_for_write(r, a);
}

/* "${filename}" in the fields the object and the answer are made of
 * (S3: "recognized by all form fields"), after the policy check, which
 * sees them as sent (the key's is checked as stored, above). The
 * signature's own fields are left alone. */
static int subst_fields(struct post_op *op)
{
	static const char *const skip[] = {"key",
					   "policy",
					   "signature",
					   "x-amz-signature",
					   "awsaccesskeyid",
					   "x-amz-credential",
					   "x-amz-algorithm",
					   "x-amz-date",
					   "x-amz-security-token"};
	static const char var[] = "${filename}";

	for (size_t i = 0; i < op->nf; i++) {
		struct postpolicy_field *f = &op->f[i];
		size_t n = 0, cap, len;
		char *out;
		int rc;

		for (size_t j = 0; j < sizeof(skip) / sizeof(skip[0]); j++)
			if (strcasecmp(f->name, skip[j]) == 0)
				goto next;
		for (const char *p = f->value; (p = memmem(p, f->value_len - (size_t)(p - f->value),
							   var, sizeof(var) - 1)) != NULL;
		     p += sizeof(var) - 1)
			n++;
		if (!n)
			continue;
		cap = f->value_len + n * op->filename_len + 1;
		out = cn_pool_alloc(op->r->pool, cap);
		if (!out)
			return CN_ENOMEM;
		rc = postpolicy_key_subst(f->value, f->value_len, op->filename, op->filename_len,
					  out, cap, &len);
		if (rc)
			return rc;
		f->value = out;
		f->value_len = len;
	next:;
	}
	return 0;
}

static int start_file(struct post_op *op)
{
	struct s3_req *r = op->r;
	const char *key = field(op, "key");
	char *k;
	size_t klen, i;
	char err[200] = "";
	int rc;

	rc = authenticate(op);
	if (rc)
		return rc;
	if (!key)
		return with_msg(op, CN_EBADARG, "Bucket POST must contain a field named 'key'.");
	k = cn_pool_alloc(r->pool, S3_MAX_KEY + 1);
	if (!k)
		return CN_ENOMEM;
	rc = postpolicy_key_subst(key, strlen(key), op->filename, op->filename_len, k,
				  S3_MAX_KEY + 1, &klen);
	if (rc == CN_ETOOBIG)
		return CN_EKEYTOOLONG;
	if (rc)
		return rc;
	if (!klen)
		return with_msg(op, CN_EBADARG, "User key must have a length greater than 0.");
	if (!s3_utf8_valid(k, klen) || memchr(k, 0, klen))
		return CN_EBADREQ;
	op->key = k;
	op->key_len = klen;
	r->route.key = k;
	r->route.key_len = klen;
	if (op->pol) {
		/* the conditions see the key as stored and the bucket of the URL */
		for (i = 0; i < op->nf; i++)
			if (strcasecmp(op->f[i].name, "key") == 0) {
				op->f[i].value = k;
				op->f[i].value_len = klen;
			}
		op->f[op->nf++] = (struct postpolicy_field){"bucket", 6, r->route.bucket,
							    strlen(r->route.bucket)};
		rc = postpolicy_check(op->pol, op->f, op->nf, err, sizeof(err));
		op->nf--;
		if (rc)
			return with_msg(op, rc, err);
	}
	rc = subst_fields(op);
	if (rc)
		return rc;
	/* the policies see the tags the form asks for (s3:RequestObjectTag/) */
	r->form_tagging = field(op, "tagging");
	rc = s3_authz_check(r, "s3:PutObject", r->route.bucket, k, klen, ACL_WRITE);
	if (rc)
		return rc;
	rc = form_attrs(op);
	if (rc)
		return rc;
	op->status_field = field(op, "success_action_status");
	op->redirect = field(op, "success_action_redirect");
	if (!op->redirect)
		op->redirect = field(op, "redirect"); /* the older name */
	if (op->redirect && !*op->redirect)
		op->redirect = NULL;
	/* the form's SSE fields are refused above: this is the bucket's
	 * default encryption, when it has one */
	rc = s3_sse_for_write(r, &op->sse);
	if (rc)
		return rc;
	meta_version_id_new(r->srv->meta, op->vid);
	meta_id_to_text(op->vid, op->vid_text);
	op->u.version_text = op->vid_text;
	op->u.sse = &op->sse;
	op->u.done = received;
	rc = s3_upload_start_fed(r, &op->u);
	if (rc)
		return rc;
	op->started = 1;
	return 0;
}

/* ---- form callbacks ---- */

static int part_begin(void *arg, const struct formdata_part *part)
{
	struct post_op *op = arg;
	int rc;

	if (op->file_seen)
		return FORMDATA_STOP; /* S3 ignores what follows the file */
	if (strcmp(part->name, "file") != 0) {
		if (op->nf >= POST_FIELDS)
			return op->err = CN_EPOSTFIELDS;
		return FORMDATA_BUFFER;
	}
	op->file_seen = 1;
	if (part->filename) {
		op->filename = cn_pool_strndup(op->r->pool, part->filename, part->filename_len);
		op->filename_len = part->filename_len;
	}
	if (part->content_type)
		op->file_ctype =
			cn_pool_strndup(op->r->pool, part->content_type, part->content_type_len);
	rc = start_file(op);
	if (rc)
		return op->err = rc;
	return FORMDATA_STREAM;
}

static int part_data(void *arg, const void *p, size_t len)
{
	struct post_op *op = arg;
	int rc;

	op->got += len;
	if (op->got > op->max_len)
		return op->err = CN_ETOOBIG;
	rc = s3_upload_feed(op->r, p, len);
	return rc ? (op->err = rc) : 0;
}

static int part_end(void *arg, const struct formdata_part *part, const char *value, size_t len)
{
	struct post_op *op = arg;
	struct s3_req *r = op->r;

	if (op->file_seen) {
		op->file_done = 1;
		s3_upload_end(r, 0);
		return FORMDATA_STOP;
	}
	char *n = cn_pool_strndup(r->pool, part->name, part->name_len);
	char *v = cn_pool_strndup(r->pool, value ? value : "", value ? len : 0);
	if (!n || !v)
		return op->err = CN_ENOMEM;
	op->f[op->nf++] = (struct postpolicy_field){n, part->name_len, v, value ? len : 0};
	return 0;
}

static const struct formdata_cb callbacks = {
	.part_begin = part_begin,
	.part_data = part_data,
	.part_end = part_end,
};

/* ---- the HTTP body ---- */

static int map_form_error(struct post_op *op, int rc)
{
	if (op->err)
		return op->err;
	if (rc == CN_ETOOBIG)
		return op->fd.fail == FORMDATA_FAIL_PARTS ? CN_EPOSTFIELDS : CN_EPOSTPREDATA;
	return CN_EMALFORMEDPOST;
}

static int sink(struct s3_req *r, const char *data, size_t len)
{
	struct post_op *op = r->form;
	int rc;

	if (op->file_done || op->answered)
		return 0; /* the rest of the form: ignored */
	rc = formdata_feed(&op->fd, data, len);
	if (rc < 0)
		return map_form_error(op, rc);
	return 0;
}

static void body_done(struct s3_req *r, int err)
{
	struct post_op *op = r->form;

	if (op->file_done)
		return; /* the upload answers */
	if (!err && !op->answered) {
		int rc = formdata_finish(&op->fd);
		err = rc < 0 ? map_form_error(op, rc) : CN_ENOPOSTFILE;
	}
	if (op->started) {
		/* the body stopped inside the file: the upload fails and answers */
		op->file_done = 1;
		s3_upload_end(r, err ? err : CN_EINCOMPLETE);
		return;
	}
	fail(op, err);
}

void s3_op_post_object(struct s3_req *r)
{
	const char *ct = s3_header(r, "content-type");
	struct post_op *op = cn_pool_zalloc(r->pool, sizeof(*op));
	struct formdata_limits lim = {.max_parts = POST_FIELDS + 1, .value_cap = 20 * 1024};
	struct meta_bucket b;
	char boundary[FORMDATA_MAX_BOUNDARY + 1];
	uint64_t len;
	int rc;

	if (!op) {
		s3_send_error(r, CN_ENOMEM);
		return;
	}
	op->r = r;
	r->post_form = 1;
	if (!ct || formdata_boundary(ct, strlen(ct), boundary, sizeof(boundary))) {
		r->err_msg = "Bucket POST must be of the enclosure-type multipart/form-data";
		s3_send_error(r, CN_EBADPOSTENC);
		return;
	}
	rc = meta_bucket_get(r->srv->meta, r->route.bucket, &b);
	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	meta_bucket_release(&b);
	rc = s3_body_prepare(r, &len);
	if (!rc) {
		/* digests of the whole form say nothing about the file */
		r->body.has_md5 = 0;
		r->body.ck_alg = CN_CK_CRC64NVME; /* S3's default, of the file */
		r->body.ck_have = 0;
		r->body.ck_trailer = 0;
		rc = formdata_init(&op->fd, boundary, strlen(boundary), &lim, &callbacks, op);
	}
	if (rc) {
		s3_send_error(r, rc);
		return;
	}
	op->fd_init = 1;
	r->form = op;
	s3_body_start(r, sink, body_done);
}
