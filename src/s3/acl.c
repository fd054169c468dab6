/*
 * s3/acl.c — see acl.h.
 *
 * Layer: s3, pure. Invariant: every input — a header value, a request body,
 * an encoded record read back from disk — is validated before it becomes a
 * struct acl; a struct acl this file fills always satisfies the invariants
 * acl.h lists, and acl_encode() refuses one that does not, so what is
 * stored decodes again.
 *
 * Binary encoding, format version 1 (acl_encode / acl_decode):
 *
 *   OFFSET  SIZE  MEANING
 *   0       1     format version (1)
 *   1       32    owner canonical id, raw (its 64 hex digits as 32 bytes)
 *   33      1     n, the number of grants (0..100)
 *   34      ...   n grants, each:
 *                 1   (type << 4) | perm: type 1..4 (enum acl_grantee_type),
 *                     perm 1, 2, 4, 8 or 15 (enum acl_perm)
 *                 32  type 1 (canonical user) only: the grantee's id, raw
 *
 * Nothing follows the last grant. An ACL without grants is 34 bytes, a
 * private one 67, one of 100 user grants 3334.
 */
#include "s3/acl.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/pool.h"
#include "s3/s3_int.h" /* S3_NS */
#include "xml/xml.h"

#define ACL_FORMAT 1
#define RAW_ID 32 /* a canonical id's bytes */
#define XSI_NS "http://www.w3.org/2001/XMLSchema-instance"

__attribute__((format(printf, 4, 5))) static int fail(int rc, char *err, size_t errcap,
						      const char *fmt, ...)
{
	va_list ap;

	if (err && errcap > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errcap, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int acl_id_valid(const char *s)
{
	if (!s)
		return 0;
	for (int i = 0; i < ACL_ID_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[ACL_ID_LEN] == 0;
}

/* A canonical id as a client may send it: 64 hex digits, either case.
 * Writes the lower-case form to out. Returns 1 or 0. */
static int id_from_text(const char *s, size_t len, char out[ACL_ID_LEN + 1])
{
	if (len != ACL_ID_LEN)
		return 0;
	for (size_t i = 0; i < len; i++) {
		int v = hexval(s[i]);
		if (v < 0)
			return 0;
		out[i] = "0123456789abcdef"[v];
	}
	out[ACL_ID_LEN] = 0;
	return 1;
}

static int id_known(const struct acl_lookup *lk, const char *id)
{
	return !lk || !lk->user_exists || lk->user_exists(lk->arg, id);
}

const char *acl_perm_name(int perm)
{
	switch (perm) {
	case ACL_READ: return "READ";
	case ACL_WRITE: return "WRITE";
	case ACL_READ_ACP: return "READ_ACP";
	case ACL_WRITE_ACP: return "WRITE_ACP";
	case ACL_FULL_CONTROL: return "FULL_CONTROL";
	default: return NULL;
	}
}

static int perm_from_text(const char *s, size_t len)
{
	static const uint8_t perms[] = {ACL_READ, ACL_WRITE, ACL_READ_ACP, ACL_WRITE_ACP,
					ACL_FULL_CONTROL};

	for (size_t i = 0; i < sizeof(perms); i++) {
		const char *name = acl_perm_name(perms[i]);
		if (strlen(name) == len && memcmp(name, s, len) == 0)
			return perms[i];
	}
	return 0;
}

static const char *group_uri(int type)
{
	switch (type) {
	case ACL_GRANTEE_ALL_USERS: return ACL_URI_ALL_USERS;
	case ACL_GRANTEE_AUTH_USERS: return ACL_URI_AUTH_USERS;
	case ACL_GRANTEE_LOG_DELIVERY: return ACL_URI_LOG_DELIVERY;
	default: return NULL;
	}
}

/* The group a URI names, or 0. Exact match: AWS knows no other spelling. */
static int group_from_uri(const char *s, size_t len)
{
	for (int t = ACL_GRANTEE_ALL_USERS; t <= ACL_GRANTEE_LOG_DELIVERY; t++)
		if (strlen(group_uri(t)) == len && memcmp(group_uri(t), s, len) == 0)
			return t;
	return 0;
}

static int perm_valid(int perm)
{
	return acl_perm_name(perm) != NULL;
}

static int grant_valid(const struct acl_grant *g)
{
	if (!perm_valid(g->perm))
		return 0;
	if (g->type == ACL_GRANTEE_USER)
		return acl_id_valid(g->id);
	return group_uri(g->type) != NULL && g->id[0] == 0;
}

static void start(struct acl *out, const char *owner_id)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->owner, owner_id, ACL_ID_LEN + 1);
}

/* Appends a grant; the caller has checked the room. */
static void add(struct acl *a, int type, int perm, const char *id)
{
	struct acl_grant *g = &a->g[a->n++];

	g->type = (uint8_t)type;
	g->perm = (uint8_t)perm;
	if (id)
		memcpy(g->id, id, ACL_ID_LEN + 1);
}

/* ---- canned ACLs ---- */

enum canned_extra {
	X_NONE,
	X_ALL_READ,	  /* public-read */
	X_ALL_READ_WRITE, /* public-read-write */
	X_AUTH_READ,	  /* authenticated-read */
	X_BOWNER_READ,	  /* bucket-owner-read (objects) */
	X_BOWNER_FULL,	  /* bucket-owner-full-control (objects) */
	X_LOG_WRITE,	  /* log-delivery-write */
};

static const struct {
	const char *name;
	enum canned_extra extra;
} canned[] = {
	{"private", X_NONE},
	{"public-read", X_ALL_READ},
	{"public-read-write", X_ALL_READ_WRITE},
	/* AWS grants READ to its EC2 service account; cairn has no such
	 * principal, so only the owner's grant remains. */
	{"aws-exec-read", X_NONE},
	{"authenticated-read", X_AUTH_READ},
	{"bucket-owner-read", X_BOWNER_READ},
	{"bucket-owner-full-control", X_BOWNER_FULL},
	/* AWS documents it for buckets; on an object it grants the same (and
	 * WRITE means nothing there). */
	{"log-delivery-write", X_LOG_WRITE},
};

int acl_canned(const char *name, const char *owner_id, const char *bucket_owner_id, int for_bucket,
	       struct acl *out)
{
	size_t i;
	enum canned_extra x;

	for (i = 0; i < sizeof(canned) / sizeof(canned[0]); i++)
		if (name && strcmp(name, canned[i].name) == 0)
			break;
	if (i == sizeof(canned) / sizeof(canned[0]))
		return CN_EBADARG;
	if (!acl_id_valid(owner_id))
		return CN_EINVAL;
	x = canned[i].extra;
	/* AWS ignores the bucket-owner-* ACLs on buckets. */
	if (for_bucket && (x == X_BOWNER_READ || x == X_BOWNER_FULL))
		x = X_NONE;
	if ((x == X_BOWNER_READ || x == X_BOWNER_FULL) && !acl_id_valid(bucket_owner_id))
		return CN_EINVAL;
	start(out, owner_id);
	add(out, ACL_GRANTEE_USER, ACL_FULL_CONTROL, owner_id);
	switch (x) {
	case X_NONE: break;
	case X_ALL_READ: add(out, ACL_GRANTEE_ALL_USERS, ACL_READ, NULL); break;
	case X_ALL_READ_WRITE:
		add(out, ACL_GRANTEE_ALL_USERS, ACL_READ, NULL);
		add(out, ACL_GRANTEE_ALL_USERS, ACL_WRITE, NULL);
		break;
	case X_AUTH_READ: add(out, ACL_GRANTEE_AUTH_USERS, ACL_READ, NULL); break;
	case X_BOWNER_READ:
	case X_BOWNER_FULL:
		/* The owner's FULL_CONTROL already covers its own bucket. */
		if (strcmp(bucket_owner_id, owner_id) != 0)
			add(out, ACL_GRANTEE_USER, x == X_BOWNER_READ ? ACL_READ : ACL_FULL_CONTROL,
			    bucket_owner_id);
		break;
	case X_LOG_WRITE:
		add(out, ACL_GRANTEE_LOG_DELIVERY, ACL_WRITE, NULL);
		add(out, ACL_GRANTEE_LOG_DELIVERY, ACL_READ_ACP, NULL);
		break;
	}
	return 0;
}

/* ---- x-amz-grant-* headers ---- */

static int is_ws(char c)
{
	return c == ' ' || c == '\t';
}

static const char *skip_ws(const char *p)
{
	while (is_ws(*p))
		p++;
	return p;
}

/* One grantee (type=value) for perm; returns 0 or an error. */
static int header_grantee(const char *hname, const char *t, size_t tl, const char *v, size_t vl,
			  int perm, const struct acl_lookup *lk, struct acl *out, char *err,
			  size_t errcap)
{
	char id[ACL_ID_LEN + 1];
	int type;

	if (out->n >= ACL_MAX_GRANTS)
		return fail(CN_EBADARG, err, errcap, "more than %d grants", ACL_MAX_GRANTS);
	if (tl == 2 && strncasecmp(t, "id", 2) == 0) {
		if (!id_from_text(v, vl, id) || !id_known(lk, id))
			return fail(CN_EBADARG, err, errcap, "%s: invalid id", hname);
		add(out, ACL_GRANTEE_USER, perm, id);
		return 0;
	}
	if (tl == 3 && strncasecmp(t, "uri", 3) == 0) {
		type = group_from_uri(v, vl);
		if (!type)
			return fail(CN_EBADARG, err, errcap, "%s: invalid group uri", hname);
		add(out, type, perm, NULL);
		return 0;
	}
	if (tl == 12 && strncasecmp(t, "emailAddress", 12) == 0)
		return fail(CN_EEMAILGRANT, err, errcap,
			    "%s: grants by email address are not supported", hname);
	return fail(CN_EBADARG, err, errcap, "%s: unknown grantee type (id, uri, emailAddress)",
		    hname);
}

/* The grammar, whitespace being SP or HTAB:
 *   value   = ws grantee ws *( "," ws grantee ws )
 *   grantee = type ws "=" ws ( DQUOTE 1*<not DQUOTE> DQUOTE | 1*<not ws, ","> )
 *   type    = 1*ALPHA */
static int header_list(const char *hname, const char *v, int perm, const struct acl_lookup *lk,
		       struct acl *out, char *err, size_t errcap)
{
	const char *p = v;
	int rc;

	for (;;) {
		const char *t, *val, *q;
		size_t tl, vl;

		p = skip_ws(p);
		t = p;
		while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
			p++;
		tl = (size_t)(p - t);
		p = skip_ws(p);
		if (tl == 0 || *p != '=')
			return fail(CN_EBADARG, err, errcap, "%s: expected type=value", hname);
		p = skip_ws(p + 1);
		if (*p == '"') {
			val = p + 1;
			q = strchr(val, '"');
			if (!q)
				return fail(CN_EBADARG, err, errcap, "%s: unterminated quote",
					    hname);
			vl = (size_t)(q - val);
			p = q + 1;
		} else {
			val = p;
			while (*p && *p != ',' && !is_ws(*p))
				p++;
			vl = (size_t)(p - val);
		}
		if (vl == 0)
			return fail(CN_EBADARG, err, errcap, "%s: empty grantee", hname);
		rc = header_grantee(hname, t, tl, val, vl, perm, lk, out, err, errcap);
		if (rc)
			return rc;
		p = skip_ws(p);
		if (*p == 0)
			return 0;
		if (*p != ',')
			return fail(CN_EBADARG, err, errcap, "%s: expected a comma", hname);
		p++;
	}
}

int acl_from_headers(const struct acl_headers *h, const char *owner_id, const struct acl_lookup *lk,
		     struct acl *out, char *err, size_t errcap)
{
	const struct {
		const char *name, *value;
		int perm;
	} hs[] = {
		{"x-amz-grant-read", h->read, ACL_READ},
		{"x-amz-grant-write", h->write, ACL_WRITE},
		{"x-amz-grant-read-acp", h->read_acp, ACL_READ_ACP},
		{"x-amz-grant-write-acp", h->write_acp, ACL_WRITE_ACP},
		{"x-amz-grant-full-control", h->full_control, ACL_FULL_CONTROL},
	};
	int any = 0, rc;

	if (!acl_id_valid(owner_id))
		return fail(CN_EINVAL, err, errcap, "invalid owner id");
	start(out, owner_id);
	for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
		if (!hs[i].value)
			continue;
		any = 1;
		rc = header_list(hs[i].name, hs[i].value, hs[i].perm, lk, out, err, errcap);
		if (rc)
			return rc;
	}
	return any ? 0 : fail(CN_EINVAL, err, errcap, "no x-amz-grant-* header");
}

/* ---- AccessControlPolicy XML in ---- */

static int xml_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* n's text without surrounding XML whitespace. */
static const char *trimmed(const struct xml_node *n, size_t *len)
{
	const char *s = n->text;
	size_t l = n->text_len;

	while (l && xml_ws(s[0]))
		s++, l--;
	while (l && xml_ws(s[l - 1]))
		l--;
	*len = l;
	return s;
}

/* A container holds elements and whitespace only. */
static int container_ok(const struct xml_node *n)
{
	size_t len;

	trimmed(n, &len);
	return len == 0;
}

/* A leaf holds text only. */
static int leaf_ok(const struct xml_node *n)
{
	return n->child == NULL;
}

enum { K_ID = 1, K_URI, K_EMAIL };

/* A grant as the body spells it, checked for shape only. */
struct raw_grant {
	int kind; /* K_* */
	int perm;
	const char *v;
	size_t len;
};

/* Sets *slot to n unless a sibling of that name came first. */
static int once(struct xml_node **slot, struct xml_node *n)
{
	if (*slot)
		return 0;
	*slot = n;
	return 1;
}

static int shape_grantee(struct xml_node *ge, struct raw_grant *rg)
{
	struct xml_node *id = NULL, *name = NULL, *uri = NULL, *email = NULL, *c;
	struct xml_node *which;

	if (!container_ok(ge))
		return 0;
	for (c = ge->child; c; c = c->next) {
		int ok = strcmp(c->name, "ID") == 0		? once(&id, c)
			 : strcmp(c->name, "DisplayName") == 0	? once(&name, c)
			 : strcmp(c->name, "URI") == 0		? once(&uri, c)
			 : strcmp(c->name, "EmailAddress") == 0 ? once(&email, c)
								: 0;
		if (!ok || !leaf_ok(c))
			return 0;
	}
	if (!!id + !!uri + !!email != 1)
		return 0;
	rg->kind = id ? K_ID : uri ? K_URI : K_EMAIL;
	which = id ? id : uri ? uri : email;
	rg->v = trimmed(which, &rg->len);
	return 1;
}

static int shape_grant(struct xml_node *gr, struct raw_grant *rg)
{
	struct xml_node *ge = NULL, *perm = NULL, *c;
	const char *s;
	size_t len;

	if (strcmp(gr->name, "Grant") != 0 || !container_ok(gr))
		return 0;
	for (c = gr->child; c; c = c->next) {
		int ok = strcmp(c->name, "Grantee") == 0      ? once(&ge, c)
			 : strcmp(c->name, "Permission") == 0 ? once(&perm, c) && leaf_ok(c)
							      : 0;
		if (!ok)
			return 0;
	}
	if (!ge || !perm || !shape_grantee(ge, rg))
		return 0;
	s = trimmed(perm, &len);
	rg->perm = perm_from_text(s, len);
	return rg->perm != 0;
}

/* Checks the document's shape; fills owner/ownerlen and up to
 * ACL_MAX_GRANTS raw grants. Returns 0 or CN_EBADACL. */
static int shape_policy(struct xml_node *root, const char **owner, size_t *ownerlen,
			struct raw_grant *rg, int *n, char *err, size_t errcap)
{
	struct xml_node *ow = NULL, *list = NULL, *oid = NULL, *oname = NULL, *c;

	if (strcmp(root->name, "AccessControlPolicy") != 0 || !container_ok(root))
		return fail(CN_EBADACL, err, errcap, "the root is not AccessControlPolicy");
	for (c = root->child; c; c = c->next) {
		int ok = strcmp(c->name, "Owner") == 0		     ? once(&ow, c)
			 : strcmp(c->name, "AccessControlList") == 0 ? once(&list, c)
								     : 0;
		if (!ok || !container_ok(c))
			return fail(CN_EBADACL, err, errcap, "unexpected <%s>", c->name);
	}
	if (!ow)
		return fail(CN_EBADACL, err, errcap, "no Owner");
	for (c = ow->child; c; c = c->next) {
		int ok = strcmp(c->name, "ID") == 0	       ? once(&oid, c)
			 : strcmp(c->name, "DisplayName") == 0 ? once(&oname, c)
							       : 0;
		if (!ok || !leaf_ok(c))
			return fail(CN_EBADACL, err, errcap, "unexpected <%s> in Owner", c->name);
	}
	if (!oid)
		return fail(CN_EBADACL, err, errcap, "no Owner/ID");
	*owner = trimmed(oid, ownerlen);
	*n = 0;
	/* No AccessControlList: no grants (the schema makes the list optional). */
	for (c = list ? list->child : NULL; c; c = c->next) {
		if (*n == ACL_MAX_GRANTS)
			return fail(CN_EBADACL, err, errcap, "more than %d grants", ACL_MAX_GRANTS);
		if (!shape_grant(c, &rg[*n]))
			return fail(CN_EBADACL, err, errcap, "grant %d is malformed", *n + 1);
		(*n)++;
	}
	return 0;
}

static int policy(struct xml_node *root, const char *owner_id, const struct acl_lookup *lk,
		  struct acl *out, char *err, size_t errcap)
{
	struct raw_grant rg[ACL_MAX_GRANTS];
	const char *owner = NULL;
	size_t ownerlen = 0;
	char id[ACL_ID_LEN + 1];
	int n, rc, type;

	rc = shape_policy(root, &owner, &ownerlen, rg, &n, err, errcap);
	if (rc)
		return rc;
	if (ownerlen != ACL_ID_LEN || strncasecmp(owner, owner_id, ACL_ID_LEN) != 0)
		return fail(CN_EACCESS, err, errcap, "Owner/ID is not the current owner");
	start(out, owner_id);
	for (int i = 0; i < n; i++) {
		switch (rg[i].kind) {
		case K_ID:
			if (!id_from_text(rg[i].v, rg[i].len, id) || !id_known(lk, id))
				return fail(CN_EBADARG, err, errcap, "grant %d: invalid id", i + 1);
			add(out, ACL_GRANTEE_USER, rg[i].perm, id);
			break;
		case K_URI:
			type = group_from_uri(rg[i].v, rg[i].len);
			if (!type)
				return fail(CN_EBADARG, err, errcap, "grant %d: invalid group uri",
					    i + 1);
			add(out, type, rg[i].perm, NULL);
			break;
		default:
			return fail(CN_EEMAILGRANT, err, errcap,
				    "grant %d: grants by email address are not supported", i + 1);
		}
	}
	return 0;
}

int acl_from_xml(const char *body, size_t len, const char *owner_id, const struct acl_lookup *lk,
		 struct acl *out, char *err, size_t errcap)
{
	struct cn_pool pool;
	struct xml_node *root;
	int rc;

	if (!acl_id_valid(owner_id))
		return fail(CN_EINVAL, err, errcap, "invalid owner id");
	if (len > ACL_MAX_XML)
		return fail(CN_ETOOBIG, err, errcap, "ACL document over %d bytes", ACL_MAX_XML);
	cn_pool_init(&pool);
	rc = xml_parse(&pool, body, len, &root);
	if (rc == CN_EBADXML)
		rc = fail(CN_EBADACL, err, errcap, "not well-formed XML");
	else if (rc)
		rc = fail(rc, err, errcap, "%s", cn_strerror(rc));
	else
		rc = policy(root, owner_id, lk, out, err, errcap);
	cn_pool_release(&pool);
	return rc;
}

/* ---- one request's inputs ---- */

int acl_from_request(const struct acl_request *rq, struct acl *out, char *err, size_t errcap)
{
	const struct acl_headers *h = &rq->grants;
	int grants = h->read || h->write || h->read_acp || h->write_acp || h->full_control;
	int body = rq->body && rq->body_len > 0;
	int rc;

	if (rq->canned && grants)
		return fail(CN_EACLCONFLICT, err, errcap,
			    "Specifying both Canned ACLs and Header Grants is not allowed");
	if ((rq->canned || grants) && body)
		return fail(CN_EACLCONFLICT, err, errcap,
			    "Specifying an ACL both in headers and in the body is not allowed");
	if (rq->canned) {
		rc = acl_canned(rq->canned, rq->owner_id, rq->bucket_owner_id, rq->for_bucket, out);
		if (rc == CN_EBADARG)
			return fail(rc, err, errcap, "x-amz-acl: unknown canned ACL");
		return rc ? fail(rc, err, errcap, "invalid owner id") : 0;
	}
	if (grants)
		return acl_from_headers(h, rq->owner_id, rq->lk, out, err, errcap);
	if (body)
		return acl_from_xml(rq->body, rq->body_len, rq->owner_id, rq->lk, out, err, errcap);
	return fail(CN_ENOTFOUND, err, errcap, "no ACL in the request");
}

/* ---- AccessControlPolicy XML out ---- */

static void display_name(struct cn_buf *w, const struct acl_lookup *lk, const char *id)
{
	char name[ACL_NAME_CAP];

	if (!lk || !lk->display_name)
		return;
	name[0] = 0;
	if (lk->display_name(lk->arg, id, name, sizeof(name)) == 1) {
		name[sizeof(name) - 1] = 0; /* a callback that forgot the NUL */
		xmlw_elem(w, "DisplayName", name);
	}
}

void acl_to_xml(const struct acl *a, struct cn_buf *w, const struct acl_lookup *lk)
{
	xmlw_decl(w);
	xmlw_open(w, "AccessControlPolicy", S3_NS);
	xmlw_open(w, "Owner", NULL);
	xmlw_elem(w, "ID", a->owner);
	display_name(w, lk, a->owner);
	xmlw_close(w, "Owner");
	xmlw_open(w, "AccessControlList", NULL);
	for (unsigned i = 0; i < a->n && i < ACL_MAX_GRANTS; i++) {
		const struct acl_grant *g = &a->g[i];
		int user = g->type == ACL_GRANTEE_USER;

		xmlw_open(w, "Grant", NULL);
		cn_buf_puts(w, "<Grantee xmlns:xsi=\"" XSI_NS "\" xsi:type=\"");
		cn_buf_puts(w, user ? "CanonicalUser\">" : "Group\">");
		if (user) {
			xmlw_elem(w, "ID", g->id);
			display_name(w, lk, g->id);
		} else {
			xmlw_elem(w, "URI", group_uri(g->type));
		}
		xmlw_close(w, "Grantee");
		xmlw_elem(w, "Permission", acl_perm_name(g->perm));
		xmlw_close(w, "Grant");
	}
	xmlw_close(w, "AccessControlList");
	xmlw_close(w, "AccessControlPolicy");
}

/* ---- binary encoding ---- */

static void put_id(struct cn_buf *w, const char *id)
{
	uint8_t raw[RAW_ID];

	for (int i = 0; i < RAW_ID; i++)
		raw[i] = (uint8_t)(hexval(id[2 * i]) << 4 | hexval(id[2 * i + 1]));
	cn_buf_put(w, raw, sizeof(raw));
}

static void get_id(const uint8_t *raw, char out[ACL_ID_LEN + 1])
{
	for (int i = 0; i < RAW_ID; i++) {
		out[2 * i] = "0123456789abcdef"[raw[i] >> 4];
		out[2 * i + 1] = "0123456789abcdef"[raw[i] & 15];
	}
	out[ACL_ID_LEN] = 0;
}

int acl_encode(const struct acl *a, struct cn_buf *w)
{
	uint8_t head[2] = {ACL_FORMAT, 0};

	if (!acl_id_valid(a->owner) || a->n > ACL_MAX_GRANTS)
		return CN_EINVAL;
	for (unsigned i = 0; i < a->n; i++)
		if (!grant_valid(&a->g[i]))
			return CN_EINVAL;
	cn_buf_put(w, head, 1);
	put_id(w, a->owner);
	head[1] = (uint8_t)a->n;
	cn_buf_put(w, head + 1, 1);
	for (unsigned i = 0; i < a->n; i++) {
		uint8_t b = (uint8_t)(a->g[i].type << 4 | a->g[i].perm);
		cn_buf_put(w, &b, 1);
		if (a->g[i].type == ACL_GRANTEE_USER)
			put_id(w, a->g[i].id);
	}
	return w->err;
}

int acl_decode(const void *p, size_t len, struct acl *out)
{
	const uint8_t *b = p;
	size_t off = 0;
	unsigned n;

	if (len < 1)
		return CN_ECORRUPT;
	if (b[0] != ACL_FORMAT)
		return CN_EFORMAT;
	if (len < 1 + RAW_ID + 1)
		return CN_ECORRUPT;
	memset(out, 0, sizeof(*out));
	get_id(b + 1, out->owner);
	n = b[1 + RAW_ID];
	if (n > ACL_MAX_GRANTS)
		return CN_ECORRUPT;
	off = 2 + RAW_ID;
	for (unsigned i = 0; i < n; i++) {
		struct acl_grant *g = &out->g[i];
		if (off >= len)
			return CN_ECORRUPT;
		g->type = b[off] >> 4;
		g->perm = b[off] & 15;
		off++;
		if (g->type == ACL_GRANTEE_USER) {
			if (len - off < RAW_ID)
				return CN_ECORRUPT;
			get_id(b + off, g->id);
			off += RAW_ID;
		}
		if (!grant_valid(g))
			return CN_ECORRUPT;
	}
	if (off != len)
		return CN_ECORRUPT;
	out->n = (uint16_t)n;
	return 0;
}

/* ---- checks ---- */

int acl_allows(const struct acl *a, const char *canonical_id, int authenticated, enum acl_perm perm)
{
	const char *me = authenticated ? canonical_id : NULL;
	unsigned have = 0, want = (unsigned)perm;

	if (want < 1 || want > ACL_FULL_CONTROL)
		return 0;
	/* AWS: the owner may always read and replace the ACL, so an owner
	 * who granted itself nothing can still repair it. */
	if (me && strcmp(me, a->owner) == 0)
		have |= ACL_READ_ACP | ACL_WRITE_ACP;
	for (unsigned i = 0; i < a->n && i < ACL_MAX_GRANTS; i++) {
		const struct acl_grant *g = &a->g[i];
		int match = 0;

		switch (g->type) {
		case ACL_GRANTEE_ALL_USERS: match = 1; break;
		case ACL_GRANTEE_AUTH_USERS: match = authenticated; break;
		case ACL_GRANTEE_USER: match = me && strcmp(g->id, me) == 0; break;
		default: break; /* LogDelivery: no requester is in it */
		}
		if (match)
			have |= g->perm;
	}
	return (have & want) == want;
}

int acl_is_public(const struct acl *a)
{
	for (unsigned i = 0; i < a->n && i < ACL_MAX_GRANTS; i++)
		if (a->g[i].type == ACL_GRANTEE_ALL_USERS || a->g[i].type == ACL_GRANTEE_AUTH_USERS)
			return 1;
	return 0;
}
