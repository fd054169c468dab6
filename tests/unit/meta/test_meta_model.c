/* Randomised model test of the versioning state machine (store format 2:
 * the newest non-marker version lives in index, every other version in
 * versions). A seeded random walk of PUT, DELETE, DELETE-version, DELETE
 * null, and versioning changes on a few keys (one of them long, sharing its
 * first 200 bytes with another) runs against the engine and a plain model;
 * after every step the engine must agree with the model on: GET current,
 * GET of every version by id, ListObjectVersions whole and paged one entry
 * at a time with key/version-id markers, ListObjectsV2, and stats (also
 * against a recount). Reopens the store midway. */
#include "meta_test.h"

#define NKEYS 4
#define MAXV 64

struct mver {
	char vid[META_ID_TEXT];
	int marker;
	int is_null;
	char etag[33];
};

struct mkey {
	char key[META_KEY_MAX];
	size_t klen;
	struct mver v[MAXV]; /* newest first */
	int n;
};

static struct mkey K[NKEYS];
static int g_vers; /* enum meta_versioning */
static unsigned g_seed;

static unsigned rnd(void)
{
	g_seed = g_seed * 1103515245u + 12345u;
	return (g_seed >> 16) & 0x7fff;
}

static void model_remove(struct mkey *k, int i)
{
	memmove(&k->v[i], &k->v[i + 1], (size_t)(k->n - i - 1) * sizeof(k->v[0]));
	k->n--;
}

static int model_find_null(const struct mkey *k)
{
	for (int i = 0; i < k->n; i++)
		if (k->v[i].is_null)
			return i;
	return -1;
}

static void model_push(struct mkey *k, const char *vid, int marker, const char *etag)
{
	assert_true(k->n < MAXV);
	memmove(&k->v[1], &k->v[0], (size_t)k->n * sizeof(k->v[0]));
	memset(&k->v[0], 0, sizeof(k->v[0]));
	snprintf(k->v[0].vid, sizeof(k->v[0].vid), "%s", vid);
	k->v[0].marker = marker;
	k->v[0].is_null = strcmp(vid, "null") == 0;
	snprintf(k->v[0].etag, sizeof(k->v[0].etag), "%s", etag ? etag : "");
	k->n++;
}

static int cmp_keys(const void *a, const void *b)
{
	const struct mkey *x = a, *y = b;
	size_t n = x->klen < y->klen ? x->klen : y->klen;
	int c = memcmp(x->key, y->key, n);
	return c ? c : (x->klen < y->klen ? -1 : x->klen > y->klen);
}

/* Expected ListObjectVersions order: keys ascending, newest first. */
static int expected(const struct mver **out, const struct mkey **okey, int cap)
{
	int n = 0;
	for (int i = 0; i < NKEYS; i++)
		for (int j = 0; j < K[i].n; j++) {
			assert_true(n < cap);
			out[n] = &K[i].v[j];
			okey[n++] = &K[i];
		}
	return n;
}

static void check_entry(const struct meta_entry *e, const struct mkey *k, const struct mver *v,
			int latest)
{
	assert_int_equal(e->key_len, k->klen);
	assert_memory_equal(e->key, k->key, k->klen);
	assert_string_equal(e->vid_text, v->vid);
	assert_int_equal(!!(e->flags & META_VF_DELETE_MARKER), v->marker);
	assert_int_equal(!!(e->flags & META_VF_LATEST), latest);
	if (!v->marker)
		assert_string_equal(e->etag, v->etag);
}

static void check_all(struct meta_store *s)
{
	static const struct mver *ev[NKEYS * MAXV];
	static const struct mkey *ek[NKEYS * MAXV];
	int n = expected(ev, ek, NKEYS * MAXV);
	struct meta_list_params p = {.max = 1000};
	struct meta_list_result lr;
	struct meta_stats st;
	uint64_t objects = 0, versions = 0;

	/* whole listing */
	assert_int_equal(meta_list_versions(s, "mdl", &p, &lr), 0);
	assert_int_equal(lr.n, (size_t)n);
	for (int i = 0; i < n; i++)
		check_entry(&lr.entries[i], ek[i], ev[i], i == 0 || ek[i - 1] != ek[i]);
	meta_list_result_release(&lr);

	/* one entry per page, resuming from the markers */
	char km[META_KEY_MAX];
	char vm[META_ID_TEXT] = "";
	size_t kml = 0;
	for (int i = 0; i <= n; i++) {
		struct meta_list_params q = {
			.max = 1, .start = km, .start_len = kml, .id_marker = vm};
		assert_int_equal(meta_list_versions(s, "mdl", &q, &lr), 0);
		if (i == n) {
			assert_int_equal(lr.n, 0);
			meta_list_result_release(&lr);
			break;
		}
		assert_int_equal(lr.n, 1);
		check_entry(&lr.entries[0], ek[i], ev[i], i == 0 || ek[i - 1] != ek[i]);
		memcpy(km, lr.next_marker, lr.next_marker_len);
		kml = lr.next_marker_len;
		snprintf(vm, sizeof(vm), "%s", lr.next_id);
		meta_list_result_release(&lr);
	}

	/* ListObjects: keys whose newest version is not a marker */
	assert_int_equal(meta_list_objects(s, "mdl", &p, &lr), 0);
	size_t li = 0;
	for (int i = 0; i < NKEYS; i++) {
		if (!K[i].n || K[i].v[0].marker)
			continue;
		assert_true(li < lr.n);
		assert_int_equal(lr.entries[li].key_len, K[i].klen);
		assert_memory_equal(lr.entries[li].key, K[i].key, K[i].klen);
		assert_string_equal(lr.entries[li].etag, K[i].v[0].etag);
		li++;
		objects++;
	}
	assert_int_equal(lr.n, li);
	meta_list_result_release(&lr);

	/* GETs */
	for (int i = 0; i < NKEYS; i++) {
		struct mkey *k = &K[i];
		struct meta_version v;
		int rc = meta_object_get(s, "mdl", k->key, k->klen, NULL, 0, &v);
		if (!k->n || k->v[0].marker) {
			assert_int_equal(rc, CN_ENOKEY);
			assert_int_equal(!!(v.flags & META_VF_DELETE_MARKER), k->n > 0);
		} else {
			assert_int_equal(rc, 0);
			assert_string_equal(v.vid_text, k->v[0].vid);
			assert_string_equal(v.etag, k->v[0].etag);
			assert_true(v.flags & META_VF_LATEST);
		}
		meta_version_release(&v);
		versions += (uint64_t)k->n;
		for (int j = 0; j < k->n; j++) {
			rc = meta_object_get(s, "mdl", k->key, k->klen, k->v[j].vid,
					     META_GET_INLINE, &v);
			assert_int_equal(rc, k->v[j].marker ? CN_EDELMARKER : 0);
			assert_string_equal(v.vid_text, k->v[j].vid);
			assert_int_equal(!!(v.flags & META_VF_LATEST), j == 0);
			if (!rc) {
				assert_string_equal(v.etag, k->v[j].etag);
				assert_non_null(v.inline_data);
			}
			meta_version_release(&v);
		}
		if (model_find_null(k) < 0) {
			rc = meta_object_get(s, "mdl", k->key, k->klen, "null", 0, &v);
			assert_int_equal(rc, CN_ENOVERSION);
			meta_version_release(&v);
		}
	}
	assert_int_equal(meta_stats_get(s, "mdl", &st), 0);
	assert_true(st.objects == objects);
	assert_true(st.versions == versions);
	check_stats(s, "mdl");
}

static void step(struct meta_store *s)
{
	struct mkey *k = &K[rnd() % NKEYS];
	struct meta_cmd_result r;
	unsigned op = rnd() % 100;
	int rc;

	if (op < 40) {
		char data[32], et[33];
		snprintf(data, sizeof(data), "d%u", rnd());
		etag_of(data, strlen(data), et);
		assert_int_equal(put_obj(s, "mdl", k->key, k->klen, data, &r), 0);
		if (g_vers != META_VERSIONING_ENABLED) {
			int ni = model_find_null(k);
			if (ni >= 0)
				model_remove(k, ni);
		}
		model_push(k, r.vid_text, 0, et);
	} else if (op < 60) {
		assert_int_equal(del_obj(s, "mdl", k->key, k->klen, NULL, &r), 0);
		if (g_vers == META_VERSIONING_OFF) {
			int ni = model_find_null(k);
			if (ni >= 0)
				model_remove(k, ni);
		} else {
			if (g_vers == META_VERSIONING_SUSPENDED) {
				int ni = model_find_null(k);
				if (ni >= 0)
					model_remove(k, ni);
			}
			assert_int_equal(r.delete_marker, 1);
			model_push(k, r.vid_text, 1, NULL);
		}
	} else if (op < 85) {
		if (!k->n) {
			char fake[META_ID_TEXT];
			uint8_t id[META_ID_LEN];
			meta_version_id_new(s, id);
			meta_id_to_text(id, fake);
			assert_int_equal(del_obj(s, "mdl", k->key, k->klen, fake, &r),
					 CN_ENOVERSION);
			return;
		}
		int j = (int)(rnd() % (unsigned)k->n);
		rc = del_obj(s, "mdl", k->key, k->klen, k->v[j].vid, &r);
		assert_int_equal(rc, 0);
		assert_string_equal(r.vid_text, k->v[j].vid);
		assert_int_equal(r.delete_marker, k->v[j].marker);
		model_remove(k, j);
	} else if (op < 92) {
		int ni = model_find_null(k);
		rc = del_obj(s, "mdl", k->key, k->klen, "null", &r);
		assert_int_equal(rc, ni >= 0 ? 0 : CN_ENOVERSION);
		if (ni >= 0)
			model_remove(k, ni);
	} else {
		int want = rnd() % 2 ? META_VERSIONING_ENABLED : META_VERSIONING_SUSPENDED;
		assert_int_equal(set_versioning(s, "mdl", want), 0);
		g_vers = want;
	}
}

static void run_seed(unsigned seed, int steps)
{
	struct tstore t;

	memset(K, 0, sizeof(K));
	g_seed = seed;
	g_vers = META_VERSIONING_OFF;
	/* a, a/b, and two long keys that share their first 300 bytes */
	strcpy(K[0].key, "a");
	strcpy(K[1].key, "a/b");
	for (int i = 2; i < 4; i++) {
		memset(K[i].key, 'L', 300);
		K[i].key[300] = (char)('x' + i);
		K[i].key[301] = 0;
	}
	for (int i = 0; i < NKEYS; i++)
		K[i].klen = strlen(K[i].key);
	qsort(K, NKEYS, sizeof(K[0]), cmp_keys);
	ts_open(&t);
	assert_int_equal(mk_bucket(t.s, "mdl"), 0);
	for (int i = 0; i < steps; i++) {
		step(t.s);
		check_all(t.s);
		if (i == steps / 2) {
			ts_reopen(&t);
			check_all(t.s);
		}
	}
	/* the bucket empties only when every version is gone */
	for (int i = 0; i < NKEYS; i++)
		while (K[i].n) {
			assert_int_equal(mk_bucket(t.s, "mdl"), CN_EBUCKETEXISTS);
			struct meta_cmd c = {.type = META_CMD_BUCKET_DELETE,
					     .now = t_now(),
					     .bucket = "mdl",
					     .bucket_len = 3};
			assert_int_equal(meta_submit_sync(t.s, &c), CN_ENOTEMPTY);
			assert_int_equal(
				del_obj(t.s, "mdl", K[i].key, K[i].klen, K[i].v[0].vid, NULL), 0);
			model_remove(&K[i], 0);
			check_all(t.s);
		}
	struct meta_cmd c = {
		.type = META_CMD_BUCKET_DELETE, .now = t_now(), .bucket = "mdl", .bucket_len = 3};
	assert_int_equal(meta_submit_sync(t.s, &c), 0);
	ts_close(&t);
}

static void test_versioning_model(void **state)
{
	(void)state;
	for (unsigned seed = 1; seed <= 12; seed++)
		run_seed(seed, 150);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_versioning_model),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
