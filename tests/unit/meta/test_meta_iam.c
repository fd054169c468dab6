/* Unit tests for meta's identity records (META_CMD_IAM) and bucket
 * configuration documents (META_CMD_BUCKET_CONF): the command codec (one
 * encoding per command, every truncation refused), apply on a real store
 * (users, keys, groups, policies and their invariants, the generation),
 * reads and listings, persistence across a reopen. */
#include "meta_test.h"

#define CANON "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static struct meta_cmd iam(uint8_t op, const char *name, const char *name2)
{
	struct meta_cmd c = {.type = META_CMD_IAM, .now = t_now()};
	c.iam.op = op;
	snprintf(c.iam.name, sizeof(c.iam.name), "%s", name);
	snprintf(c.iam.name2, sizeof(c.iam.name2), "%s", name2 ? name2 : "");
	return c;
}

static struct meta_cmd user_add(const char *name)
{
	struct meta_cmd c = iam(META_IAM_USER_ADD, name, NULL);
	c.iam.status = META_IAM_ENABLED;
	snprintf(c.iam.canonical, sizeof(c.iam.canonical), "%s", CANON);
	return c;
}

static struct meta_cmd key_add(const char *id, const char *user, const char *secret)
{
	struct meta_cmd c = iam(META_IAM_KEY_ADD, id, user);
	c.iam.status = META_IAM_ENABLED;
	snprintf(c.iam.secret, sizeof(c.iam.secret), "%s", secret);
	return c;
}

static struct meta_cmd policy_put(const char *name, const char *doc)
{
	struct meta_cmd c = iam(META_IAM_POLICY_PUT, name, NULL);
	c.iam.doc = doc;
	c.iam.doc_len = strlen(doc);
	return c;
}

static struct meta_cmd attach(int op, const char *target, const char *policy, int group)
{
	struct meta_cmd c = iam((uint8_t)op, target, policy);
	c.iam.to_group = (uint8_t)group;
	return c;
}

static int sub(struct meta_store *s, struct meta_cmd c)
{
	return meta_submit_sync(s, &c);
}

static uint64_t gen(struct meta_store *s)
{
	uint64_t g;
	assert_int_equal(meta_iam_generation(s, &g), 0);
	return g;
}

static void roundtrip(const struct meta_cmd *c)
{
	uint8_t *enc, *enc2;
	size_t len, len2;
	struct meta_cmd d;

	assert_int_equal(meta_cmd_encode(c, &enc, &len), 0);
	assert_int_equal(meta_cmd_decode(enc, len, &d), 0);
	assert_int_equal(d.type, META_CMD_IAM);
	assert_int_equal(d.iam.op, c->iam.op);
	assert_int_equal(d.iam.status, c->iam.status);
	assert_int_equal(d.iam.to_group, c->iam.to_group);
	assert_string_equal(d.iam.name, c->iam.name);
	assert_string_equal(d.iam.name2, c->iam.name2);
	assert_string_equal(d.iam.secret, c->iam.secret);
	assert_string_equal(d.iam.canonical, c->iam.canonical);
	assert_int_equal(d.iam.doc_len, c->iam.doc_len);
	if (c->iam.doc_len)
		assert_memory_equal(d.iam.doc, c->iam.doc, c->iam.doc_len);
	assert_int_equal(meta_cmd_encode(&d, &enc2, &len2), 0);
	assert_int_equal(len2, len);
	assert_memory_equal(enc2, enc, len);
	for (size_t n = 0; n < len; n++)
		assert_int_equal(meta_cmd_decode(enc, n, &d), CN_ECORRUPT);
	/* trailing bytes */
	uint8_t *more = malloc(len + 1);
	memcpy(more, enc, len);
	more[len] = 0;
	assert_int_equal(meta_cmd_decode(more, len + 1, &d), CN_ECORRUPT);
	free(more);
	free(enc);
	free(enc2);
}

static void refused(struct meta_cmd c)
{
	uint8_t *enc;
	size_t len;
	assert_int_equal(meta_cmd_encode(&c, &enc, &len), CN_EBADARG);
}

static void test_codec_ops(void **state)
{
	(void)state;
	struct meta_cmd c = user_add("alice");

	roundtrip(&c);
	c = key_add("AKIAALICE01", "alice", "s3cr3t/with+chars");
	roundtrip(&c);
	c = iam(META_IAM_KEY_REMOVE, "AKIAALICE01", NULL);
	roundtrip(&c);
	c = iam(META_IAM_KEY_STATUS, "AKIAALICE01", "alice");
	c.iam.status = META_IAM_DISABLED;
	roundtrip(&c);
	c = iam(META_IAM_GROUP_MEMBER_ADD, "devs", "alice");
	roundtrip(&c);
	c = policy_put("p1", "{\"Version\":\"2012-10-17\",\"Statement\":[]}");
	roundtrip(&c);
	c = attach(META_IAM_POLICY_ATTACH, "devs", "readonly", 1);
	roundtrip(&c);

	/* what decoding would reject, encoding refuses */
	c = user_add("bad name");
	refused(c);
	c = user_add("alice");
	c.iam.canonical[3] = 'G';
	refused(c);
	c = user_add("alice");
	c.iam.status = 3;
	refused(c);
	c = user_add("alice");
	snprintf(c.iam.secret, sizeof(c.iam.secret), "stray1234");
	refused(c); /* a field the operation does not use */
	c = key_add("AK", "alice", "secret123");
	refused(c); /* key id too short */
	c = key_add("AK/EY", "alice", "secret123");
	refused(c);
	c = key_add("AKIAX", "alice", "short");
	refused(c);
	c = key_add("AKIAX", "alice", "has space");
	refused(c);
	c = key_add("AKIAX", "", "secret123");
	refused(c);
	c = policy_put("readwrite", "{}");
	refused(c); /* built-in names are reserved */
	c = policy_put("p", "");
	refused(c);
	c = iam(META_IAM_USER_REMOVE, "alice", NULL);
	c.iam.to_group = 1;
	refused(c);
	c = iam(99, "alice", NULL);
	refused(c);
}

static void test_users_and_keys(void **state)
{
	(void)state;
	struct tstore t;
	struct meta_iam_key k;
	struct meta_iam_user u;
	uint64_t g0, g;
	char id[16];

	ts_open(&t);
	g0 = gen(t.s);
	assert_int_equal(sub(t.s, key_add("AKIA1", "alice", "secret123")), CN_ENOTFOUND);
	assert_int_equal(sub(t.s, user_add("alice")), 0);
	assert_int_equal(sub(t.s, user_add("alice")), CN_EEXIST);
	assert_int_equal(sub(t.s, user_add("bob")), 0);
	assert_int_equal(sub(t.s, key_add("AKIA1", "alice", "secret123")), 0);
	assert_int_equal(sub(t.s, key_add("AKIA1", "bob", "secret456")), CN_EEXIST);
	g = gen(t.s);
	assert_true(g > g0);
	assert_int_equal(meta_iam_key_get(t.s, "AKIA1", &k, &u, &g0), 0);
	assert_string_equal(k.user, "alice");
	assert_string_equal(k.secret, "secret123");
	assert_int_equal(k.status, META_IAM_ENABLED);
	assert_string_equal(u.name, "alice");
	assert_string_equal(u.canonical, CANON);
	assert_true(g0 == g);
	assert_int_equal(meta_iam_key_get(t.s, "AKIA2", &k, NULL, NULL), CN_ENOTFOUND);
	assert_int_equal(meta_iam_key_get(t.s, "", &k, NULL, NULL), CN_ENOTFOUND);

	/* status: a change raises the generation, a repeat does not */
	struct meta_cmd c = iam(META_IAM_KEY_STATUS, "AKIA1", NULL);
	c.iam.status = META_IAM_DISABLED;
	assert_int_equal(sub(t.s, c), 0);
	assert_int_equal(meta_iam_key_get(t.s, "AKIA1", &k, NULL, NULL), 0);
	assert_int_equal(k.status, META_IAM_DISABLED);
	g = gen(t.s);
	c.now = t_now();
	assert_int_equal(sub(t.s, c), 0);
	assert_true(gen(t.s) == g);
	/* a key named for another user is not found */
	c = iam(META_IAM_KEY_REMOVE, "AKIA1", "bob");
	assert_int_equal(sub(t.s, c), CN_ENOTFOUND);

	/* at most META_IAM_KEYS_PER_USER keys */
	for (int i = 2; i <= META_IAM_KEYS_PER_USER; i++) {
		snprintf(id, sizeof(id), "AKIA%d", i);
		assert_int_equal(sub(t.s, key_add(id, "alice", "secret123")), 0);
	}
	assert_int_equal(sub(t.s, key_add("AKIAMORE", "alice", "secret123")), CN_ETOOBIG);
	assert_int_equal(sub(t.s, key_add("AKIAB1", "bob", "secret123")), 0);

	/* removing a user takes its keys, and only its keys */
	assert_int_equal(sub(t.s, iam(META_IAM_USER_REMOVE, "alice", NULL)), 0);
	assert_int_equal(meta_iam_key_get(t.s, "AKIA1", &k, NULL, NULL), CN_ENOTFOUND);
	assert_int_equal(meta_iam_key_get(t.s, "AKIA5", &k, NULL, NULL), CN_ENOTFOUND);
	assert_int_equal(meta_iam_key_get(t.s, "AKIAB1", &k, NULL, NULL), 0);
	assert_int_equal(sub(t.s, iam(META_IAM_USER_REMOVE, "alice", NULL)), CN_ENOTFOUND);
	/* the key id is free again */
	assert_int_equal(sub(t.s, key_add("AKIA1", "bob", "secret789")), 0);

	ts_reopen(&t);
	assert_int_equal(meta_iam_key_get(t.s, "AKIA1", &k, &u, NULL), 0);
	assert_string_equal(k.user, "bob");
	assert_string_equal(k.secret, "secret789");
	c = iam(META_IAM_USER_STATUS, "bob", NULL);
	c.iam.status = META_IAM_DISABLED;
	assert_int_equal(sub(t.s, c), 0);
	assert_int_equal(meta_iam_user_get(t.s, "bob", &u), 0);
	assert_int_equal(u.status, META_IAM_DISABLED);
	ts_close(&t);
}

static int count_user(void *arg, const struct meta_iam_user *u)
{
	(void)u;
	(*(int *)arg)++;
	return 0;
}

static int count_key(void *arg, const struct meta_iam_key *k)
{
	(void)k;
	(*(int *)arg)++;
	return 0;
}

static int count_group(void *arg, const struct meta_iam_group *g)
{
	(void)g;
	(*(int *)arg)++;
	return 0;
}

static int count_policy(void *arg, const char *name, const char *doc, size_t len, int64_t up)
{
	(void)name;
	(void)doc;
	(void)up;
	assert_true(len > 0);
	(*(int *)arg)++;
	return 0;
}

static void test_groups_and_policies(void **state)
{
	(void)state;
	struct tstore t;
	struct meta_iam_user u;
	struct meta_iam_group g;
	char *doc;
	size_t len;
	int n;

	ts_open(&t);
	assert_int_equal(sub(t.s, user_add("alice")), 0);
	assert_int_equal(sub(t.s, user_add("bob")), 0);
	assert_int_equal(sub(t.s, iam(META_IAM_GROUP_ADD, "devs", NULL)), 0);
	assert_int_equal(sub(t.s, iam(META_IAM_GROUP_ADD, "devs", NULL)), CN_EEXIST);
	assert_int_equal(sub(t.s, iam(META_IAM_GROUP_MEMBER_ADD, "devs", "alice")), 0);
	assert_int_equal(sub(t.s, iam(META_IAM_GROUP_MEMBER_ADD, "devs", "alice")), 0);
	assert_int_equal(sub(t.s, iam(META_IAM_GROUP_MEMBER_ADD, "devs", "carol")), CN_ENOTFOUND);
	assert_int_equal(sub(t.s, iam(META_IAM_GROUP_MEMBER_ADD, "ops", "alice")), CN_ENOTFOUND);
	assert_int_equal(meta_iam_user_get(t.s, "alice", &u), 0);
	assert_int_equal(u.n_groups, 1);
	assert_string_equal(u.groups[0], "devs");

	/* policies: attach needs one that exists (or a built-in one) */
	assert_int_equal(sub(t.s, attach(META_IAM_POLICY_ATTACH, "alice", "p1", 0)), CN_ENOTFOUND);
	assert_int_equal(sub(t.s, policy_put("p1", "{\"v\":1}")), 0);
	assert_int_equal(sub(t.s, policy_put("p1", "{\"v\":2}")), 0); /* replaced */
	assert_int_equal(meta_iam_policy_get(t.s, "p1", &doc, &len, NULL), 0);
	assert_string_equal(doc, "{\"v\":2}");
	free(doc);
	assert_int_equal(sub(t.s, attach(META_IAM_POLICY_ATTACH, "alice", "p1", 0)), 0);
	assert_int_equal(sub(t.s, attach(META_IAM_POLICY_ATTACH, "devs", "readonly", 1)), 0);
	assert_int_equal(sub(t.s, attach(META_IAM_POLICY_ATTACH, "devs", "p1", 1)), 0);
	assert_int_equal(sub(t.s, attach(META_IAM_POLICY_ATTACH, "nobody", "p1", 0)), CN_ENOTFOUND);
	assert_int_equal(meta_iam_group_get(t.s, "devs", &g), 0);
	assert_int_equal(g.n_policies, 2);
	/* not while attached (to a user or a group) */
	assert_int_equal(sub(t.s, iam(META_IAM_POLICY_REMOVE, "p1", NULL)), CN_EBUSY);
	assert_int_equal(sub(t.s, attach(META_IAM_POLICY_DETACH, "alice", "p1", 0)), 0);
	assert_int_equal(sub(t.s, attach(META_IAM_POLICY_DETACH, "alice", "p1", 0)), CN_ENOTFOUND);
	assert_int_equal(sub(t.s, iam(META_IAM_POLICY_REMOVE, "p1", NULL)), CN_EBUSY);
	assert_int_equal(sub(t.s, attach(META_IAM_POLICY_DETACH, "devs", "p1", 1)), 0);
	assert_int_equal(sub(t.s, iam(META_IAM_POLICY_REMOVE, "p1", NULL)), 0);
	assert_int_equal(meta_iam_policy_get(t.s, "p1", &doc, &len, NULL), CN_ENOTFOUND);
	assert_int_equal(sub(t.s, iam(META_IAM_POLICY_REMOVE, "p1", NULL)), CN_ENOTFOUND);

	/* at most META_IAM_LIST_MAX attached */
	for (int i = 0; i < META_IAM_LIST_MAX; i++) {
		char name[16];
		snprintf(name, sizeof(name), "q%d", i);
		assert_int_equal(sub(t.s, policy_put(name, "{}")), 0);
		assert_int_equal(sub(t.s, attach(META_IAM_POLICY_ATTACH, "bob", name, 0)), 0);
	}
	assert_int_equal(sub(t.s, attach(META_IAM_POLICY_ATTACH, "bob", "readonly", 0)),
			 CN_ETOOBIG);

	/* removing a group takes it off its members */
	assert_int_equal(sub(t.s, iam(META_IAM_GROUP_REMOVE, "devs", NULL)), 0);
	assert_int_equal(meta_iam_user_get(t.s, "alice", &u), 0);
	assert_int_equal(u.n_groups, 0);
	assert_int_equal(meta_iam_group_get(t.s, "devs", &g), CN_ENOTFOUND);

	n = 0;
	assert_int_equal(meta_iam_users_each(t.s, count_user, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(sub(t.s, key_add("AKIAB", "bob", "secret123")), 0);
	assert_int_equal(sub(t.s, key_add("AKIAA", "alice", "secret123")), 0);
	n = 0;
	assert_int_equal(meta_iam_keys_each(t.s, "bob", count_key, &n), 0);
	assert_int_equal(n, 1);
	n = 0;
	assert_int_equal(meta_iam_keys_each(t.s, NULL, count_key, &n), 0);
	assert_int_equal(n, 2);
	n = 0;
	assert_int_equal(meta_iam_groups_each(t.s, count_group, &n), 0);
	assert_int_equal(n, 0);
	n = 0;
	assert_int_equal(meta_iam_policies_each(t.s, count_policy, &n), 0);
	assert_int_equal(n, META_IAM_LIST_MAX);
	ts_close(&t);
}

static struct meta_cmd bconf(const char *bucket, const char *name, const char *value)
{
	struct meta_cmd c = {.type = META_CMD_BUCKET_CONF, .now = t_now()};
	c.bucket = bucket;
	c.bucket_len = strlen(bucket);
	c.key = name;
	c.key_len = strlen(name);
	c.inline_data = value;
	c.inline_len = strlen(value);
	return c;
}

static void test_bucket_conf(void **state)
{
	(void)state;
	struct tstore t;
	char *v;
	size_t len;

	ts_open(&t);
	assert_int_equal(sub(t.s, bconf("bkt1", "policy", "{}")), CN_ENOBUCKET);
	assert_int_equal(mk_bucket(t.s, "bkt1"), 0);
	assert_int_equal(mk_bucket(t.s, "bkt10"), 0);
	assert_int_equal(sub(t.s, bconf("bkt1", "policy", "{\"a\":1}")), 0);
	assert_int_equal(sub(t.s, bconf("bkt1", "acl", "xyz")), 0);
	assert_int_equal(sub(t.s, bconf("bkt10", "policy", "ten")), 0);
	assert_int_equal(sub(t.s, bconf("bkt1", "Policy", "x")), CN_EBADARG);
	assert_int_equal(sub(t.s, bconf("bkt1", "", "x")), CN_EBADARG);
	assert_int_equal(meta_bucket_conf_get(t.s, "bkt1", "policy", &v, &len), 0);
	assert_string_equal(v, "{\"a\":1}");
	free(v);
	assert_int_equal(meta_bucket_conf_get(t.s, "bkt1", "cors", &v, &len), CN_ENOTFOUND);
	assert_int_equal(meta_bucket_conf_get(t.s, "nob", "cors", &v, &len), CN_ENOBUCKET);
	/* with bucket_found: the same document, one lookup fewer, a missing bucket as a
	 * missing document */
	assert_int_equal(meta_bucket_conf_read(t.s, "bkt1", "policy", 1, &v, &len), 0);
	assert_string_equal(v, "{\"a\":1}");
	assert_int_equal(len, 7);
	free(v);
	assert_int_equal(meta_bucket_conf_read(t.s, "bkt1", "cors", 1, &v, &len), CN_ENOTFOUND);
	assert_null(v);
	assert_int_equal(meta_bucket_conf_read(t.s, "nob", "cors", 1, &v, &len), CN_ENOTFOUND);
	assert_int_equal(meta_bucket_conf_read(t.s, "bkt1", "Policy", 1, &v, &len), CN_EINVAL);
	/* empty deletes */
	assert_int_equal(sub(t.s, bconf("bkt1", "acl", "")), 0);
	assert_int_equal(meta_bucket_conf_get(t.s, "bkt1", "acl", &v, &len), CN_ENOTFOUND);
	/* deleting the bucket deletes its documents, not its neighbour's */
	assert_int_equal(sub(t.s, (struct meta_cmd){.type = META_CMD_BUCKET_DELETE,
						    .now = t_now(),
						    .bucket = "bkt1",
						    .bucket_len = 4}),
			 0);
	/* what bucket_found relies on: no document outlives its bucket */
	assert_int_equal(meta_bucket_conf_read(t.s, "bkt1", "policy", 1, &v, &len), CN_ENOTFOUND);
	assert_int_equal(meta_bucket_conf_get(t.s, "bkt1", "policy", &v, &len), CN_ENOBUCKET);
	assert_int_equal(mk_bucket(t.s, "bkt1"), 0);
	assert_int_equal(meta_bucket_conf_get(t.s, "bkt1", "policy", &v, &len), CN_ENOTFOUND);
	assert_int_equal(meta_bucket_conf_get(t.s, "bkt10", "policy", &v, &len), 0);
	assert_string_equal(v, "ten");
	free(v);
	ts_close(&t);
}

int main(void)
{
	unit_filter_from_env();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codec_ops),
		cmocka_unit_test(test_users_and_keys),
		cmocka_unit_test(test_groups_and_policies),
		cmocka_unit_test(test_bucket_conf),
	};
	return cmocka_run_group_tests_name("meta_iam", tests, NULL, NULL);
}
