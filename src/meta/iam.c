/*
 * meta/iam.c — identity records (db "iam") and bucket configuration
 * documents (db "bconf"): apply of META_CMD_IAM / META_CMD_BUCKET_CONF and
 * their reads. Record formats are in codec.c.
 *
 * iam keys: 'u' user name, 'k' access key id, 'g' group name, 'p' policy
 * name, "G" the generation (raised by every IAM command that changes
 * something). bconf keys: bucket name, 0, document name.
 *
 * Layer: meta. Apply runs inside the store's write transaction (metadata or
 * Raft thread); reads take their own read transaction (any thread).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "meta/meta_int.h"

#define IAM_KMAX (1 + META_IAM_KEY_MAX)

/* A bounded copy: names are checked before they get here. */
static void cpy(char *d, size_t cap, const char *s)
{
	size_t n = strnlen(s, cap - 1);
	memcpy(d, s, n);
	d[n] = 0;
}

static size_t ikey(uint8_t *k, char kind, const char *name)
{
	size_t n = strlen(name);
	k[0] = (uint8_t)kind;
	memcpy(k + 1, name, n);
	return n + 1;
}

static int gen_bump(struct kv_txn *t, struct cn_buf *w)
{
	const uint8_t *v;
	size_t vlen;
	uint64_t g = 0;
	int rc = kv_get(t, KV_IAM, IAM_KEY_GEN, 1, &v, &vlen);

	if (rc == 0 && epoch_rec_decode(v, vlen, &g))
		return CN_ECORRUPT;
	if (rc && rc != CN_ENOTFOUND)
		return rc;
	cn_buf_reset(w);
	rc = epoch_rec_encode(w, g + 1);
	return rc ? rc : kv_put(t, KV_IAM, IAM_KEY_GEN, 1, w->p, w->len);
}

static int user_load(struct kv_txn *t, const char *name, struct meta_iam_user *u)
{
	uint8_t k[IAM_KMAX];
	const uint8_t *v;
	size_t vlen;
	int rc = kv_get(t, KV_IAM, k, ikey(k, 'u', name), &v, &vlen);
	return rc ? rc : iam_user_decode(v, vlen, name, u);
}

static int user_store(struct kv_txn *t, const struct meta_iam_user *u, struct cn_buf *w)
{
	uint8_t k[IAM_KMAX];
	int rc;

	cn_buf_reset(w);
	rc = iam_user_encode(w, u);
	return rc ? rc : kv_put(t, KV_IAM, k, ikey(k, 'u', u->name), w->p, w->len);
}

static int key_load(struct kv_txn *t, const char *id, struct meta_iam_key *kr)
{
	uint8_t k[IAM_KMAX];
	const uint8_t *v;
	size_t vlen;
	int rc = kv_get(t, KV_IAM, k, ikey(k, 'k', id), &v, &vlen);
	return rc ? rc : iam_key_decode(v, vlen, id, kr);
}

static int key_store(struct kv_txn *t, const struct meta_iam_key *kr, struct cn_buf *w)
{
	uint8_t k[IAM_KMAX];
	int rc;

	cn_buf_reset(w);
	rc = iam_key_encode(w, kr);
	return rc ? rc : kv_put(t, KV_IAM, k, ikey(k, 'k', kr->id), w->p, w->len);
}

static int group_load(struct kv_txn *t, const char *name, struct meta_iam_group *g)
{
	uint8_t k[IAM_KMAX];
	const uint8_t *v;
	size_t vlen;
	int rc = kv_get(t, KV_IAM, k, ikey(k, 'g', name), &v, &vlen);
	return rc ? rc : iam_group_decode(v, vlen, name, g);
}

static int group_store(struct kv_txn *t, const struct meta_iam_group *g, struct cn_buf *w)
{
	uint8_t k[IAM_KMAX];
	int rc;

	cn_buf_reset(w);
	rc = iam_group_encode(w, g);
	return rc ? rc : kv_put(t, KV_IAM, k, ikey(k, 'g', g->name), w->p, w->len);
}

static int exists(struct kv_txn *t, char kind, const char *name)
{
	uint8_t k[IAM_KMAX];
	const uint8_t *v;
	size_t vlen;
	int rc = kv_get(t, KV_IAM, k, ikey(k, kind, name), &v, &vlen);
	return rc == 0 ? 1 : rc == CN_ENOTFOUND ? 0 : rc;
}

/* Index of name in a list, or -1. */
static int find(const char (*l)[META_IAM_NAME_MAX + 1], uint8_t n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(l[i], name) == 0)
			return i;
	return -1;
}

static int list_add(char (*l)[META_IAM_NAME_MAX + 1], uint8_t *n, const char *name)
{
	if (find(l, *n, name) >= 0)
		return 1; /* already there */
	if (*n >= META_IAM_LIST_MAX)
		return CN_ETOOBIG;
	cpy(l[*n], META_IAM_NAME_MAX + 1, name);
	(*n)++;
	return 0;
}

static int list_del(char (*l)[META_IAM_NAME_MAX + 1], uint8_t *n, const char *name)
{
	int i = find(l, *n, name);
	if (i < 0)
		return CN_ENOTFOUND;
	for (int j = i; j + 1 < *n; j++)
		memcpy(l[j], l[j + 1], META_IAM_NAME_MAX + 1);
	(*n)--;
	return 0;
}

/* Visits every record of one kind ('u', 'k', 'g', 'p') in name order. The
 * callback gets the name (NUL-terminated) and the value; non-zero stops
 * (returned). Writing to db iam from inside is not allowed: callers that
 * change records collect names first. */
typedef int (*each_cb)(void *arg, const char *name, const uint8_t *v, size_t vlen);

static int each(struct kv_txn *t, char kind, each_cb cb, void *arg)
{
	struct kv_cursor c;
	struct kv_item it;
	uint8_t seek = (uint8_t)kind;
	char name[META_IAM_KEY_MAX + 1];
	int rc = kv_cursor_open(t, KV_IAM, &c);

	if (rc)
		return rc;
	for (rc = kv_cursor_seek(&c, &seek, 1, &it); !rc; rc = kv_cursor_next(&c, &it)) {
		if (it.klen < 2 || it.k[0] != (uint8_t)kind)
			break;
		if (it.klen - 1 > META_IAM_KEY_MAX) {
			rc = CN_ECORRUPT;
			break;
		}
		memcpy(name, it.k + 1, it.klen - 1);
		name[it.klen - 1] = 0;
		rc = cb(arg, name, it.v, it.vlen);
		if (rc)
			break;
	}
	kv_cursor_close(&c);
	return rc == CN_ENOTFOUND ? 0 : rc;
}

/* ---- apply ---- */

struct names {
	char (*v)[META_IAM_KEY_MAX + 1];
	size_t n, cap;
	const char *match; /* keys: of this user; users: in this group / with this policy */
	int err;
};

static int names_add(struct names *ns, const char *name)
{
	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? ns->cap * 2 : 16;
		void *p = realloc(ns->v, cap * sizeof(*ns->v));
		if (!p)
			return CN_ENOMEM;
		ns->v = p;
		ns->cap = cap;
	}
	cpy(ns->v[ns->n++], META_IAM_KEY_MAX + 1, name);
	return 0;
}

static int keys_of_user(void *arg, const char *id, const uint8_t *v, size_t vlen)
{
	struct names *ns = arg;
	struct meta_iam_key k;
	int rc = iam_key_decode(v, vlen, id, &k);
	if (rc)
		return rc;
	return strcmp(k.user, ns->match) == 0 ? names_add(ns, id) : 0;
}

static int users_in_group(void *arg, const char *name, const uint8_t *v, size_t vlen)
{
	struct names *ns = arg;
	struct meta_iam_user u;
	int rc = iam_user_decode(v, vlen, name, &u);
	if (rc)
		return rc;
	return find(u.groups, u.n_groups, ns->match) >= 0 ? names_add(ns, name) : 0;
}

static int user_has_policy(void *arg, const char *name, const uint8_t *v, size_t vlen)
{
	struct names *ns = arg;
	struct meta_iam_user u;
	int rc = iam_user_decode(v, vlen, name, &u);
	if (rc)
		return rc;
	return find(u.policies, u.n_policies, ns->match) >= 0 ? CN_EBUSY : 0;
}

static int group_has_policy(void *arg, const char *name, const uint8_t *v, size_t vlen)
{
	struct names *ns = arg;
	struct meta_iam_group g;
	int rc = iam_group_decode(v, vlen, name, &g);
	if (rc)
		return rc;
	return find(g.policies, g.n_policies, ns->match) >= 0 ? CN_EBUSY : 0;
}

static int del(struct kv_txn *t, char kind, const char *name)
{
	uint8_t k[IAM_KMAX];
	return kv_del(t, KV_IAM, k, ikey(k, kind, name));
}

static int user_remove(struct kv_txn *t, const char *name)
{
	struct names ns = {.match = name};
	int rc = exists(t, 'u', name);

	if (rc <= 0)
		return rc ? rc : CN_ENOTFOUND;
	rc = each(t, 'k', keys_of_user, &ns);
	for (size_t i = 0; i < ns.n && !rc; i++)
		rc = del(t, 'k', ns.v[i]);
	if (!rc)
		rc = del(t, 'u', name);
	free(ns.v);
	return rc;
}

static int key_add(struct kv_txn *t, const struct meta_cmd *c, struct cn_buf *w)
{
	const struct meta_iam *m = &c->iam;
	struct meta_iam_key kr;
	struct names ns = {.match = m->name2};
	int rc = exists(t, 'u', m->name2);

	if (rc <= 0)
		return rc ? rc : CN_ENOTFOUND;
	rc = exists(t, 'k', m->name);
	if (rc)
		return rc > 0 ? CN_EEXIST : rc;
	rc = each(t, 'k', keys_of_user, &ns);
	free(ns.v);
	if (rc)
		return rc;
	if (ns.n >= META_IAM_KEYS_PER_USER)
		return CN_ETOOBIG;
	memset(&kr, 0, sizeof(kr));
	cpy(kr.id, sizeof(kr.id), m->name);
	cpy(kr.user, sizeof(kr.user), m->name2);
	cpy(kr.secret, sizeof(kr.secret), m->secret);
	kr.status = m->status;
	kr.created = c->now;
	return key_store(t, &kr, w);
}

static int key_change(struct kv_txn *t, const struct meta_iam *m, struct cn_buf *w)
{
	struct meta_iam_key kr;
	int rc = key_load(t, m->name, &kr);

	if (rc)
		return rc;
	if (m->name2[0] && strcmp(m->name2, kr.user) != 0)
		return CN_ENOTFOUND; /* not this user's key */
	if (m->op == META_IAM_KEY_REMOVE)
		return del(t, 'k', m->name);
	if (kr.status == m->status)
		return 1; /* unchanged */
	kr.status = m->status;
	return key_store(t, &kr, w);
}

static int group_remove(struct kv_txn *t, const char *name, struct cn_buf *w)
{
	struct names ns = {.match = name};
	int rc = exists(t, 'g', name);

	if (rc <= 0)
		return rc ? rc : CN_ENOTFOUND;
	rc = each(t, 'u', users_in_group, &ns);
	for (size_t i = 0; i < ns.n && !rc; i++) {
		struct meta_iam_user u;
		rc = user_load(t, ns.v[i], &u);
		if (!rc)
			rc = list_del(u.groups, &u.n_groups, name);
		if (!rc)
			rc = user_store(t, &u, w);
	}
	if (!rc)
		rc = del(t, 'g', name);
	free(ns.v);
	return rc;
}

static int member(struct kv_txn *t, const struct meta_iam *m, struct cn_buf *w)
{
	struct meta_iam_user u;
	int rc = exists(t, 'g', m->name);

	if (rc <= 0)
		return rc ? rc : CN_ENOTFOUND;
	rc = user_load(t, m->name2, &u);
	if (rc)
		return rc;
	rc = m->op == META_IAM_GROUP_MEMBER_ADD ? list_add(u.groups, &u.n_groups, m->name)
						: list_del(u.groups, &u.n_groups, m->name);
	return rc ? rc : user_store(t, &u, w);
}

static int policy_put(struct kv_txn *t, const struct meta_cmd *c, struct cn_buf *w)
{
	uint8_t k[IAM_KMAX];
	int rc;

	cn_buf_reset(w);
	rc = iam_policy_encode(w, c->now, c->iam.doc, c->iam.doc_len);
	return rc ? rc : kv_put(t, KV_IAM, k, ikey(k, 'p', c->iam.name), w->p, w->len);
}

static int policy_remove(struct kv_txn *t, const char *name)
{
	struct names ns = {.match = name};
	int rc = exists(t, 'p', name);

	if (rc <= 0)
		return rc ? rc : CN_ENOTFOUND;
	rc = each(t, 'u', user_has_policy, &ns);
	if (!rc)
		rc = each(t, 'g', group_has_policy, &ns);
	return rc ? rc : del(t, 'p', name);
}

static int attach(struct kv_txn *t, const struct meta_iam *m, struct cn_buf *w)
{
	int attach = m->op == META_IAM_POLICY_ATTACH, rc;

	if (attach && !meta_iam_builtin(m->name2)) {
		rc = exists(t, 'p', m->name2);
		if (rc <= 0)
			return rc ? rc : CN_ENOTFOUND;
	}
	if (m->to_group) {
		struct meta_iam_group g;
		rc = group_load(t, m->name, &g);
		if (!rc)
			rc = attach ? list_add(g.policies, &g.n_policies, m->name2)
				    : list_del(g.policies, &g.n_policies, m->name2);
		return rc ? rc : group_store(t, &g, w);
	}
	struct meta_iam_user u;
	rc = user_load(t, m->name, &u);
	if (!rc)
		rc = attach ? list_add(u.policies, &u.n_policies, m->name2)
			    : list_del(u.policies, &u.n_policies, m->name2);
	return rc ? rc : user_store(t, &u, w);
}

int iam_apply(struct kv_txn *t, const struct meta_cmd *c, struct cn_buf *w)
{
	const struct meta_iam *m = &c->iam;
	int rc;

	if (!iam_cmd_valid(m))
		return CN_EBADARG;
	switch (m->op) {
	case META_IAM_USER_ADD: {
		struct meta_iam_user u;
		rc = exists(t, 'u', m->name);
		if (rc)
			return rc > 0 ? CN_EEXIST : rc;
		memset(&u, 0, sizeof(u));
		cpy(u.name, sizeof(u.name), m->name);
		cpy(u.canonical, sizeof(u.canonical), m->canonical);
		u.status = m->status;
		u.created = c->now;
		rc = user_store(t, &u, w);
		break;
	}
	case META_IAM_USER_REMOVE: rc = user_remove(t, m->name); break;
	case META_IAM_USER_STATUS: {
		struct meta_iam_user u;
		rc = user_load(t, m->name, &u);
		if (rc)
			return rc;
		if (u.status == m->status)
			return 0;
		u.status = m->status;
		rc = user_store(t, &u, w);
		break;
	}
	case META_IAM_KEY_ADD: rc = key_add(t, c, w); break;
	case META_IAM_KEY_REMOVE:
	case META_IAM_KEY_STATUS: rc = key_change(t, m, w); break;
	case META_IAM_GROUP_ADD: {
		struct meta_iam_group g;
		rc = exists(t, 'g', m->name);
		if (rc)
			return rc > 0 ? CN_EEXIST : rc;
		memset(&g, 0, sizeof(g));
		cpy(g.name, sizeof(g.name), m->name);
		g.created = c->now;
		rc = group_store(t, &g, w);
		break;
	}
	case META_IAM_GROUP_REMOVE: rc = group_remove(t, m->name, w); break;
	case META_IAM_GROUP_MEMBER_ADD:
	case META_IAM_GROUP_MEMBER_REMOVE: rc = member(t, m, w); break;
	case META_IAM_POLICY_PUT: rc = policy_put(t, c, w); break;
	case META_IAM_POLICY_REMOVE: rc = policy_remove(t, m->name); break;
	case META_IAM_POLICY_ATTACH:
	case META_IAM_POLICY_DETACH: rc = attach(t, m, w); break;
	default: return CN_EBADARG;
	}
	if (rc == 1)
		return 0; /* nothing changed: the generation stays */
	return rc ? rc : gen_bump(t, w);
}

/* ---- bucket configuration documents ---- */

static size_t bkey(uint8_t *k, const char *bucket, size_t blen, const char *name, size_t nlen)
{
	memcpy(k, bucket, blen);
	k[blen] = 0;
	memcpy(k + blen + 1, name, nlen);
	return blen + 1 + nlen;
}

static bool bconf_name_ok(const char *s, size_t n)
{
	if (n < 1 || n > META_BCONF_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '-'))
			return false;
	return true;
}

int bconf_has(struct kv_txn *t, const char *bucket, size_t blen, const char *name)
{
	uint8_t k[META_BUCKET_MAX + 2 + META_BCONF_NAME_MAX];
	const uint8_t *v;
	size_t vlen;
	int rc;

	if (blen > META_BUCKET_MAX || strlen(name) > META_BCONF_NAME_MAX)
		return CN_EINVAL;
	rc = kv_get(t, KV_BCONF, k, bkey(k, bucket, blen, name, strlen(name)), &v, &vlen);
	if (rc == CN_ENOTFOUND)
		return 0;
	return rc ? rc : 1;
}

int bconf_packed_has(const uint8_t *p, size_t len, const char *name)
{
	size_t off = 0, want = strlen(name);

	while (len - off >= 5) {
		size_t nl = p[off], vl;
		if (len - off < 1 + nl + 4)
			break;
		vl = (size_t)p[off + 1 + nl] | (size_t)p[off + 2 + nl] << 8 |
		     (size_t)p[off + 3 + nl] << 16 | (size_t)p[off + 4 + nl] << 24;
		if (nl == want && memcmp(p + off + 1, name, nl) == 0)
			return 1;
		if (vl > len - off - 5 - nl)
			break;
		off += 5 + nl + vl;
	}
	return 0;
}

/* Object lock, once enabled, stays, and needs a versioned bucket (the
 * versioning state cannot leave Enabled while it stands: apply.c). */
static int object_lock_check(const struct meta_cmd *c, const uint8_t *bv, size_t bvlen)
{
	struct meta_bucket b;
	int rc;

	if (c->key_len != strlen(META_BCONF_OBJECT_LOCK) ||
	    memcmp(c->key, META_BCONF_OBJECT_LOCK, c->key_len) != 0)
		return 0;
	if (!c->inline_len)
		return CN_EBUCKETSTATE;
	rc = bucket_decode(bv, bvlen, c->bucket, c->bucket_len, &b);
	if (rc)
		return rc;
	rc = b.versioning == META_VERSIONING_ENABLED ? 0 : CN_EBUCKETSTATE;
	meta_bucket_release(&b);
	return rc;
}

int bconf_apply(struct kv_txn *t, const struct meta_cmd *c)
{
	uint8_t k[META_BUCKET_MAX + 2 + META_BCONF_NAME_MAX];
	const uint8_t *v;
	size_t vlen, kl;
	int rc;

	if (!bconf_name_ok(c->key, c->key_len) || !bucket_name_valid(c->bucket, c->bucket_len))
		return CN_EBADARG;
	if (c->inline_len > META_BCONF_MAX)
		return CN_EMETATOOBIG;
	rc = kv_get(t, KV_BUCKETS, c->bucket, c->bucket_len, &v, &vlen);
	if (rc)
		return rc == CN_ENOTFOUND ? CN_ENOBUCKET : rc;
	rc = object_lock_check(c, v, vlen);
	if (rc)
		return rc;
	kl = bkey(k, c->bucket, c->bucket_len, c->key, c->key_len);
	if (!c->inline_len) {
		rc = kv_del(t, KV_BCONF, k, kl);
		return rc == CN_ENOTFOUND ? 0 : rc;
	}
	return kv_put(t, KV_BCONF, k, kl, c->inline_data, c->inline_len);
}

int bconf_put_packed(struct kv_txn *t, const char *bucket, size_t blen, const uint8_t *p,
		     size_t len)
{
	uint8_t k[META_BUCKET_MAX + 2 + META_BCONF_NAME_MAX];
	size_t off = 0;
	int rc = 0;

	while (off < len && !rc) {
		size_t nl = p[off], vl;
		const char *name = (const char *)p + off + 1;
		if (len - off < 1 + nl + 4 || !bconf_name_ok(name, nl))
			return CN_EBADARG;
		off += 1 + nl;
		vl = (size_t)p[off] | (size_t)p[off + 1] << 8 | (size_t)p[off + 2] << 16 |
		     (size_t)p[off + 3] << 24;
		off += 4;
		if (vl < 1 || vl > META_BCONF_MAX || vl > len - off)
			return CN_EBADARG;
		rc = kv_put(t, KV_BCONF, k, bkey(k, bucket, blen, name, nl), p + off, vl);
		off += vl;
	}
	return rc;
}

int bconf_drop_bucket(struct kv_txn *t, const char *bucket, size_t blen)
{
	uint8_t pfx[META_BUCKET_MAX + 1];
	struct kv_cursor c;
	struct kv_item it;
	int rc = kv_cursor_open(t, KV_BCONF, &c);

	if (rc)
		return rc;
	memcpy(pfx, bucket, blen);
	pfx[blen] = 0;
	for (;;) {
		rc = kv_cursor_seek(&c, pfx, blen + 1, &it);
		if (rc || it.klen < blen + 1 || memcmp(it.k, pfx, blen + 1) != 0)
			break;
		rc = kv_cursor_del(&c);
		if (rc)
			break;
	}
	kv_cursor_close(&c);
	return rc == CN_ENOTFOUND ? 0 : rc;
}

/* ---- reads ---- */

static int rtxn(struct meta_store *s, struct kv_txn *t)
{
	return kv_read_begin(meta_store_env(s), t);
}

static int gen_read(struct kv_txn *t, uint64_t *gen)
{
	const uint8_t *v;
	size_t vlen;
	int rc = kv_get(t, KV_IAM, IAM_KEY_GEN, 1, &v, &vlen);

	*gen = 0;
	if (rc == CN_ENOTFOUND)
		return 0;
	return rc ? rc : epoch_rec_decode(v, vlen, gen);
}

int meta_iam_key_get(struct meta_store *s, const char *id, struct meta_iam_key *key,
		     struct meta_iam_user *user, uint64_t *gen)
{
	struct kv_txn t;
	int rc;

	if (!id[0] || strlen(id) > META_IAM_KEY_MAX)
		return CN_ENOTFOUND;
	rc = rtxn(s, &t);
	if (rc)
		return rc;
	rc = key_load(&t, id, key);
	if (!rc && user)
		rc = user_load(&t, key->user, user);
	if (!rc && gen)
		rc = gen_read(&t, gen);
	kv_read_end(&t);
	return rc;
}

int meta_iam_user_get(struct meta_store *s, const char *name, struct meta_iam_user *out)
{
	struct kv_txn t;
	int rc;

	if (!name[0] || strlen(name) > META_IAM_NAME_MAX)
		return CN_ENOTFOUND;
	rc = rtxn(s, &t);
	if (rc)
		return rc;
	rc = user_load(&t, name, out);
	kv_read_end(&t);
	return rc;
}

int meta_iam_group_get(struct meta_store *s, const char *name, struct meta_iam_group *out)
{
	struct kv_txn t;
	int rc;

	if (!name[0] || strlen(name) > META_IAM_NAME_MAX)
		return CN_ENOTFOUND;
	rc = rtxn(s, &t);
	if (rc)
		return rc;
	rc = group_load(&t, name, out);
	kv_read_end(&t);
	return rc;
}

int meta_iam_policy_get(struct meta_store *s, const char *name, char **doc, size_t *len,
			int64_t *updated)
{
	uint8_t k[IAM_KMAX];
	const uint8_t *v;
	const char *d;
	size_t vlen, dlen;
	int64_t up;
	struct kv_txn t;
	int rc;

	*doc = NULL;
	if (!name[0] || strlen(name) > META_IAM_NAME_MAX)
		return CN_ENOTFOUND;
	rc = rtxn(s, &t);
	if (rc)
		return rc;
	rc = kv_get(&t, KV_IAM, k, ikey(k, 'p', name), &v, &vlen);
	if (!rc)
		rc = iam_policy_decode(v, vlen, &up, &d, &dlen);
	if (!rc && !(*doc = malloc(dlen + 1)))
		rc = CN_ENOMEM;
	if (!rc) {
		memcpy(*doc, d, dlen);
		(*doc)[dlen] = 0;
		*len = dlen;
		if (updated)
			*updated = up;
	}
	kv_read_end(&t);
	return rc;
}

int meta_iam_generation(struct meta_store *s, uint64_t *gen)
{
	struct kv_txn t;
	int rc = rtxn(s, &t);

	if (rc)
		return rc;
	rc = gen_read(&t, gen);
	kv_read_end(&t);
	return rc;
}

struct list_ctx {
	int (*user_cb)(void *, const struct meta_iam_user *);
	int (*key_cb)(void *, const struct meta_iam_key *);
	int (*group_cb)(void *, const struct meta_iam_group *);
	int (*policy_cb)(void *, const char *, const char *, size_t, int64_t);
	const char *user;
	void *arg;
};

static int list_user(void *arg, const char *name, const uint8_t *v, size_t vlen)
{
	struct list_ctx *l = arg;
	struct meta_iam_user u;
	int rc = iam_user_decode(v, vlen, name, &u);
	return rc ? rc : l->user_cb(l->arg, &u);
}

static int list_key(void *arg, const char *id, const uint8_t *v, size_t vlen)
{
	struct list_ctx *l = arg;
	struct meta_iam_key k;
	int rc = iam_key_decode(v, vlen, id, &k);
	if (rc)
		return rc;
	if (l->user && strcmp(l->user, k.user) != 0)
		return 0;
	return l->key_cb(l->arg, &k);
}

static int list_group(void *arg, const char *name, const uint8_t *v, size_t vlen)
{
	struct list_ctx *l = arg;
	struct meta_iam_group g;
	int rc = iam_group_decode(v, vlen, name, &g);
	return rc ? rc : l->group_cb(l->arg, &g);
}

static int list_policy(void *arg, const char *name, const uint8_t *v, size_t vlen)
{
	struct list_ctx *l = arg;
	const char *d;
	size_t dlen;
	int64_t up;
	int rc = iam_policy_decode(v, vlen, &up, &d, &dlen);
	return rc ? rc : l->policy_cb(l->arg, name, d, dlen, up);
}

static int list(struct meta_store *s, char kind, each_cb cb, struct list_ctx *l)
{
	struct kv_txn t;
	int rc = rtxn(s, &t);

	if (rc)
		return rc;
	rc = each(&t, kind, cb, l);
	kv_read_end(&t);
	return rc;
}

int meta_iam_users_each(struct meta_store *s, int (*cb)(void *, const struct meta_iam_user *),
			void *arg)
{
	struct list_ctx l = {.user_cb = cb, .arg = arg};
	return list(s, 'u', list_user, &l);
}

int meta_iam_keys_each(struct meta_store *s, const char *user,
		       int (*cb)(void *, const struct meta_iam_key *), void *arg)
{
	struct list_ctx l = {.key_cb = cb, .arg = arg, .user = user};
	return list(s, 'k', list_key, &l);
}

int meta_iam_groups_each(struct meta_store *s, int (*cb)(void *, const struct meta_iam_group *),
			 void *arg)
{
	struct list_ctx l = {.group_cb = cb, .arg = arg};
	return list(s, 'g', list_group, &l);
}

int meta_iam_policies_each(struct meta_store *s,
			   int (*cb)(void *, const char *name, const char *doc, size_t len,
				     int64_t updated),
			   void *arg)
{
	struct list_ctx l = {.policy_cb = cb, .arg = arg};
	return list(s, 'p', list_policy, &l);
}

/* Without the bucket's lookup a found document still means the bucket
 * exists: a bucket's documents go with it (bconf_drop_bucket, in the same
 * transaction). */
int meta_bucket_conf_read(struct meta_store *s, const char *bucket, const char *name,
			  int bucket_found, char **out, size_t *len)
{
	uint8_t k[META_BUCKET_MAX + 2 + META_BCONF_NAME_MAX];
	size_t blen = strlen(bucket), nlen = strlen(name), vlen;
	const uint8_t *v;
	struct kv_txn t;
	int rc;

	*out = NULL;
	if (!bucket_name_valid(bucket, blen))
		return CN_ENOBUCKET;
	if (!bconf_name_ok(name, nlen))
		return CN_EINVAL;
	rc = rtxn(s, &t);
	if (rc)
		return rc;
	if (!bucket_found) {
		rc = kv_get(&t, KV_BUCKETS, bucket, blen, &v, &vlen);
		if (rc == CN_ENOTFOUND)
			rc = CN_ENOBUCKET;
	}
	if (!rc)
		rc = kv_get(&t, KV_BCONF, k, bkey(k, bucket, blen, name, nlen), &v, &vlen);
	if (!rc && !(*out = malloc(vlen + 1)))
		rc = CN_ENOMEM;
	if (!rc) {
		memcpy(*out, v, vlen);
		(*out)[vlen] = 0;
		*len = vlen;
	}
	kv_read_end(&t);
	return rc;
}

int meta_bucket_conf_get(struct meta_store *s, const char *bucket, const char *name, char **out,
			 size_t *len)
{
	return meta_bucket_conf_read(s, bucket, name, 0, out, len);
}
