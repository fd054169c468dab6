/*
 * tests/fuzz/fuzz_bodies.c — libFuzzer target for the XML request bodies
 * s3/ handlers read, through the pure parsers they call (s3_int.h, sse.h):
 * no server, one cn_pool per input. The first input byte picks one (modulo
 * 7), the rest is the body; k = byte 0 / 7 (0..36) picks a variant:
 *
 *   0  s3_complete_from_xml(): CompleteMultipartUpload;
 *   1  s3_delete_from_xml(): DeleteObjects' <Delete>;
 *   2  s3_pab_from_xml(): PutPublicAccessBlock;
 *   3  s3_ownership_from_xml(): PutBucketOwnershipControls;
 *   4  s3_versioning_from_xml(): PutBucketVersioning;
 *   5  k odd: s3_enc_conf_decode() of a stored "encryption" document
 *      (exactly len bytes, no terminator); k even:
 *      s3_enc_conf_from_xml(), PutBucketEncryption, with a msg capacity
 *      of k / 2 bytes (0: msg NULL; 17: S3_ENC_MSG_CAP);
 *   6  s3_create_bucket_from_xml(): CreateBucket's body, region us-east-1
 *      (k even) or eu-central-1 (k odd).
 *
 * Invariants (abort), checked against the tree xml_parse() reads from the
 * same bytes. A refused body gets only the codes its handler documents.
 * Complete: 1..META_PARTS_MAX parts, one per <Part>, in order; each number
 * in 1..META_PARTS_MAX and the value of that Part's PartNumber digits; each
 * ETag 1..META_ETAG_MAX bytes inside that Part's ETag text (and inside the
 * input when its text is literal: no '&', CR, NUL, "<!" or "<?" and no
 * element in the ETag); a claim has length cn_checksum_alg_len(alg) and is
 * the decoded text of the Part's one checksum element, a Part without a
 * claim has none. Delete: 1..S3_DELETE_MAX_OBJECTS keys, one per <Object>,
 * each exactly its Key's text (non-empty, and in the input when literal), a
 * version id NULL or non-empty. PublicAccessBlock: exactly 4 bytes of
 * '0'/'1', '1' where the element says true (any case), and the document
 * GetPublicAccessBlock writes reads back to the same 4 bytes. Ownership: the
 * one of the three ObjectOwnership names, and its GetBucketOwnershipControls
 * document reads back to it. Versioning: Enabled or Suspended as Status says
 * (NotImplemented only for MfaDelete Enabled), and its document reads back
 * to it. Encryption: what SSEAlgorithm, KMSMasterKeyID and BucketKeyEnabled
 * say; AES256 or aws:kms, a key id only with aws:kms, under 256 bytes, no
 * newline; the stored document is exactly "1\n%s\n%s\n%d" of them and
 * decodes (s3_enc_conf_decode) to the same algorithm, key id and bucket-key
 * flag, and the GetBucketEncryption document reads back to them; a refusal's
 * message is non-empty exactly for InvalidArgument and
 * KMS.NotFoundException, NUL-terminated within its capacity with nothing
 * written past it, and a prefix of the message the full capacity gets. A
 * decoded stored document encodes to one that decodes the same, and that
 * encoding is the input's prefix when the input's flag byte is '0' or '1'.
 * CreateBucket: an empty body or a CreateBucketConfiguration whose
 * LocationConstraint is absent, empty or the region; InvalidArgument only
 * for another non-empty one, which that region accepts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/digest.h"
#include "core/err.h"
#include "core/pool.h"
#include "s3/s3_int.h"
#include "s3/sse.h"
#include "xml/xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CANARY 0x6b

/* The parser's tree of the same bytes: what each result is checked
 * against. NULL when xml_parse refuses them. */
static struct xml_node *tree(struct cn_pool *pool, const uint8_t *in, size_t len)
{
	struct xml_node *root;

	return xml_parse(pool, (const char *)in, len, &root) == 0 ? root : NULL;
}

/* Is the input's character data its bytes as written: no references, CR
 * normalisation, CDATA, comments or processing instructions, and no NUL
 * (UTF-16, which expat would transcode)? */
static int literal(const uint8_t *in, size_t len)
{
	return !memchr(in, '&', len) && !memchr(in, '\r', len) && !memchr(in, 0, len) &&
	       !memmem(in, len, "<!", 2) && !memmem(in, len, "<?", 2);
}

/* Does [p, p + n) lie inside text t? As a copy, not an alias: each parse
 * has its own tree. */
static int within(const char *t, size_t tl, const char *p, size_t n)
{
	return n <= tl && memmem(t, tl, p, n) != NULL;
}

static size_t count_children(struct xml_node *n, const char *name)
{
	size_t c = 0;

	for (struct xml_node *k = n->child; k; k = k->next)
		c += strcmp(k->name, name) == 0;
	return c;
}

/* The n-th (from 0) child named name. */
static struct xml_node *nth_child(struct xml_node *n, const char *name, size_t i)
{
	for (struct xml_node *k = n->child; k; k = k->next)
		if (strcmp(k->name, name) == 0 && i-- == 0)
			return k;
	return NULL;
}

/* ---- 0: CompleteMultipartUpload ---- */

static void check_claim(struct xml_node *part, const struct s3_part_claim *pc)
{
	struct xml_node *el = NULL;
	uint8_t raw[CN_CHECKSUM_MAX];
	int n_ck = 0;
	long dl;

	for (struct xml_node *c = part->child; c; c = c->next)
		if (strncmp(c->name, "Checksum", 8) == 0 && c->name[8] &&
		    cn_checksum_alg_parse(c->name + 8, strlen(c->name + 8)) != CN_CK_NONE) {
			n_ck++;
			el = el ? el : c;
		}
	if (pc->alg == CN_CK_NONE) {
		if (n_ck != 0 || pc->len != 0)
			abort();
		return;
	}
	if (n_ck != 1 || pc->len != cn_checksum_alg_len(pc->alg) ||
	    cn_checksum_alg_parse(el->name + 8, strlen(el->name + 8)) != pc->alg)
		abort();
	dl = cn_b64_decode(el->text, el->text_len, raw, sizeof(raw));
	if (dl < 0 || (size_t)dl != pc->len || memcmp(raw, pc->raw, pc->len) != 0)
		abort();
}

static void fuzz_complete(struct cn_pool *pool, const uint8_t *in, size_t len)
{
	struct s3_complete_body b;
	struct xml_node *root;
	int rc = s3_complete_from_xml(pool, (const char *)in, len, &b);
	int lit = literal(in, len);

	if (rc) {
		if (rc != CN_EBADXML && rc != CN_EBADPART && rc != CN_ENOMEM)
			abort();
		return;
	}
	root = tree(pool, in, len);
	if (!root || strcmp(root->name, "CompleteMultipartUpload") != 0 || b.n < 1 ||
	    b.n > META_PARTS_MAX || b.n != count_children(root, "Part"))
		abort();
	for (uint32_t i = 0; i < b.n; i++) {
		const struct meta_part_ref *p = &b.parts[i];
		struct xml_node *part = nth_child(root, "Part", i);
		struct xml_node *pn = part ? xml_child(part, "PartNumber") : NULL;
		struct xml_node *et = part ? xml_child(part, "ETag") : NULL;
		char *end;
		if (!pn || !et || p->part_no < 1 || p->part_no > META_PARTS_MAX)
			abort();
		if (pn->text_len < 1 || pn->text_len > 10 ||
		    strspn(pn->text, "0123456789") != pn->text_len ||
		    strtoull(pn->text, &end, 10) != p->part_no)
			abort();
		if (p->etag_len < 1 || p->etag_len > META_ETAG_MAX ||
		    memchr(p->etag, 0, p->etag_len) ||
		    !within(et->text, et->text_len, p->etag, p->etag_len))
			abort();
		if (lit && !et->child && !memmem(in, len, p->etag, p->etag_len))
			abort();
		check_claim(part, &b.claims[i]);
	}
}

/* ---- 1: DeleteObjects ---- */

static void fuzz_delete(struct cn_pool *pool, const uint8_t *in, size_t len)
{
	struct s3_delete_body b;
	struct xml_node *root;
	const char *q;
	int rc = s3_delete_from_xml(pool, (const char *)in, len, &b);
	int lit = literal(in, len);

	if (rc) {
		if (rc != CN_EBADXML && rc != CN_ENOMEM)
			abort();
		return;
	}
	root = tree(pool, in, len);
	if (!root || strcmp(root->name, "Delete") != 0 || b.n < 1 || b.n > S3_DELETE_MAX_OBJECTS ||
	    b.n != count_children(root, "Object"))
		abort();
	q = xml_child_text(root, "Quiet");
	if (b.quiet != (q && strcasecmp(q, "true") == 0))
		abort();
	for (size_t i = 0; i < b.n; i++) {
		const struct s3_delete_key *k = &b.keys[i];
		struct xml_node *o = nth_child(root, "Object", i);
		struct xml_node *kn = o ? xml_child(o, "Key") : NULL;
		const char *vid = o ? xml_child_text(o, "VersionId") : NULL;
		if (!kn || k->key_len == 0 || k->key_len != kn->text_len ||
		    memcmp(k->key, kn->text, k->key_len) != 0)
			abort();
		if (lit && !kn->child && !memmem(in, len, k->key, k->key_len))
			abort();
		if (k->vid ? !*k->vid || !vid || strcmp(k->vid, vid) != 0 : vid && *vid)
			abort();
	}
}

/* ---- 2, 3, 4: PublicAccessBlock, ownership, versioning ---- */

static const char *const pab_names[4] = {"BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
					 "RestrictPublicBuckets"};

static void fuzz_pab(struct cn_pool *pool, const uint8_t *in, size_t len)
{
	struct xml_node *root;
	struct cn_buf w;
	char *v, *v2;
	int rc = s3_pab_from_xml(pool, (const char *)in, len, &v);

	if (rc) {
		if ((rc != CN_EBADXML && rc != CN_ENOMEM) || v != NULL)
			abort();
		return;
	}
	root = tree(pool, in, len);
	if (!v || !root)
		abort();
	for (int i = 0; i < 4; i++) {
		const char *t = xml_child_text(root, pab_names[i]);
		if (v[i] != (t && strcasecmp(t, "true") == 0 ? '1' : '0'))
			abort();
	}
	/* what GetPublicAccessBlock answers reads back the same */
	cn_buf_init(&w);
	s3_pab_to_xml(v, &w);
	if (w.err || s3_pab_from_xml(pool, w.s, w.len, &v2) != 0 || memcmp(v, v2, 4) != 0)
		abort();
	cn_buf_release(&w);
}

static void fuzz_ownership(struct cn_pool *pool, const uint8_t *in, size_t len)
{
	struct xml_node *root, *rule;
	enum s3_ownership o, o2;
	const char *name;
	struct cn_buf w;
	int rc = s3_ownership_from_xml(pool, (const char *)in, len, &o);

	if (rc) {
		if (rc != CN_EBADXML)
			abort();
		return;
	}
	root = tree(pool, in, len);
	rule = root ? xml_child(root, "Rule") : NULL;
	name = rule ? xml_child_text(rule, "ObjectOwnership") : NULL;
	if (o != S3_OWN_OBJECT_WRITER && o != S3_OWN_PREFERRED && o != S3_OWN_ENFORCED)
		abort();
	if (!name || strcmp(name, s3_ownership_name(o)) != 0)
		abort();
	if ((literal(in, len) &&
	     !memmem(in, len, s3_ownership_name(o), strlen(s3_ownership_name(o)))) ||
	    s3_ownership_parse(s3_ownership_name(o)) != o)
		abort();
	cn_buf_init(&w);
	s3_ownership_to_xml(o, &w);
	if (w.err || s3_ownership_from_xml(pool, w.s, w.len, &o2) != 0 || o2 != o)
		abort();
	cn_buf_release(&w);
}

static void fuzz_versioning(struct cn_pool *pool, const uint8_t *in, size_t len)
{
	struct xml_node *root;
	const char *st, *mfa;
	struct cn_buf w;
	uint8_t s, s2;
	int rc = s3_versioning_from_xml(pool, (const char *)in, len, &s);

	root = tree(pool, in, len);
	st = root ? xml_child_text(root, "Status") : NULL;
	mfa = root ? xml_child_text(root, "MfaDelete") : NULL;
	if (rc == CN_ENOTIMPL) {
		if (!root || strcmp(root->name, "VersioningConfiguration") != 0 || !mfa ||
		    strcmp(mfa, "Enabled") != 0)
			abort();
		return;
	}
	if (rc) {
		if (rc != CN_EBADXML)
			abort();
		return;
	}
	if (!root || strcmp(root->name, "VersioningConfiguration") != 0 || !st)
		abort();
	if (s == META_VERSIONING_ENABLED     ? strcmp(st, "Enabled") != 0
	    : s == META_VERSIONING_SUSPENDED ? strcmp(st, "Suspended") != 0
					     : 1)
		abort();
	cn_buf_init(&w);
	s3_versioning_to_xml(s, &w);
	if (w.err || s3_versioning_from_xml(pool, w.s, w.len, &s2) != 0 || s2 != s)
		abort();
	cn_buf_release(&w);
}

/* ---- 5: PutBucketEncryption and its stored document ---- */

static int same_enc(const struct s3_enc_conf *a, const struct s3_enc_conf *b)
{
	return strcmp(a->alg, b->alg) == 0 && strcmp(a->kid, b->kid) == 0 &&
	       a->bucket_key == b->bucket_key;
}

static void check_enc(struct cn_pool *pool, const struct s3_enc_conf *c, const char *doc)
{
	struct s3_enc_conf d;
	struct cn_buf w;
	char want[300], msg[S3_ENC_MSG_CAP], *doc2;
	int kms = strcmp(c->alg, "aws:kms") == 0;

	if ((!kms && strcmp(c->alg, "AES256") != 0) || (c->kid[0] && !kms) ||
	    strnlen(c->kid, sizeof(c->kid)) == sizeof(c->kid) || strchr(c->kid, '\n') ||
	    (c->bucket_key != 0 && c->bucket_key != 1))
		abort();
	snprintf(want, sizeof(want), "1\n%s\n%s\n%d", c->alg, c->kid, c->bucket_key);
	if (!doc || strcmp(doc, want) != 0)
		abort();
	if (s3_enc_conf_decode(doc, strlen(doc), &d) != 0 || !same_enc(&d, c))
		abort();
	/* what GetBucketEncryption answers reads back the same */
	cn_buf_init(&w);
	s3_enc_conf_to_xml(c, &w);
	if (w.err || s3_enc_conf_from_xml(pool, w.s, w.len, &d, &doc2, msg, sizeof(msg)) != 0 ||
	    !same_enc(&d, c) || strcmp(doc2, doc) != 0)
		abort();
	cn_buf_release(&w);
}

/* An accepted configuration is what its elements say. */
static void check_enc_tree(const struct s3_enc_conf *c, struct xml_node *root)
{
	struct xml_node *rule = root ? xml_child(root, "Rule") : NULL;
	struct xml_node *def = rule ? xml_child(rule, "ApplyServerSideEncryptionByDefault") : NULL;
	const char *alg = def ? xml_child_text(def, "SSEAlgorithm") : NULL;
	const char *kid = def ? xml_child_text(def, "KMSMasterKeyID") : NULL;
	const char *bk = rule ? xml_child_text(rule, "BucketKeyEnabled") : NULL;

	if (!alg || strcmp(alg, c->alg) != 0 || strcmp(kid ? kid : "", c->kid) != 0 ||
	    c->bucket_key != (bk && strcmp(bk, "true") == 0))
		abort();
}

static void fuzz_enc_xml(struct cn_pool *pool, const uint8_t *in, size_t len, size_t capsel)
{
	size_t cap = capsel == 17 ? S3_ENC_MSG_CAP : capsel;
	char msg[S3_ENC_MSG_CAP + 16], full[S3_ENC_MSG_CAP], *doc, *doc2;
	struct s3_enc_conf c, c2;
	int rc, rc2;

	memset(msg, CANARY, sizeof(msg));
	rc = s3_enc_conf_from_xml(pool, (const char *)in, len, &c, &doc, cap ? msg : NULL, cap);
	for (size_t i = cap; i < sizeof(msg); i++)
		if ((uint8_t)msg[i] != CANARY)
			abort(); /* wrote past cap */
	/* the full capacity: the same answer, msg its prefix */
	rc2 = s3_enc_conf_from_xml(pool, (const char *)in, len, &c2, &doc2, full, sizeof(full));
	if (rc2 != rc || strnlen(full, sizeof(full)) == sizeof(full))
		abort();
	if (cap && (strnlen(msg, cap) == cap || strncmp(msg, full, strlen(msg)) != 0 ||
		    strlen(msg) != (strlen(full) < cap ? strlen(full) : cap - 1)))
		abort();
	if (rc == 0) {
		if (full[0] || !same_enc(&c, &c2) || !doc2 || strcmp(doc, doc2) != 0)
			abort();
		check_enc_tree(&c, tree(pool, in, len));
		check_enc(pool, &c, doc);
		return;
	}
	if (doc != NULL)
		abort();
	if (rc == CN_EBADARG || rc == CN_EKMSNOKEY) {
		if (!full[0])
			abort(); /* says why */
	} else if (rc != CN_EBADXML && rc != CN_ENOMEM) {
		abort();
	} else if (full[0]) {
		abort(); /* S3's standard message */
	}
}

static void fuzz_enc_doc(const uint8_t *in, size_t len)
{
	/* an exact-size copy: ASan sees a read past len */
	char *doc = malloc(len ? len : 1);
	struct s3_enc_conf c, d;
	char enc[300];
	size_t el, n;

	if (!doc)
		return;
	memcpy(doc, in, len);
	if (s3_enc_conf_decode(doc, len, &c) != 0)
		goto out;
	if (strnlen(c.alg, sizeof(c.alg)) == sizeof(c.alg) ||
	    strnlen(c.kid, sizeof(c.kid)) == sizeof(c.kid) || (c.bucket_key & ~1))
		abort();
	el = (size_t)snprintf(enc, sizeof(enc), "1\n%s\n%s\n%d", c.alg, c.kid, c.bucket_key);
	if (el >= sizeof(enc) || s3_enc_conf_decode(enc, el, &d) != 0 || !same_enc(&c, &d))
		abort();
	/* a document as written is read back byte for byte */
	n = strnlen(doc, len);
	if (el <= n && (doc[el - 1] == '0' || doc[el - 1] == '1') && memcmp(enc, doc, el) != 0)
		abort();
out:
	free(doc);
}

/* ---- 6: CreateBucket ---- */

static void fuzz_create(struct cn_pool *pool, const uint8_t *in, size_t len, const char *region)
{
	const char *bad = NULL;
	int rc = s3_create_bucket_from_xml(pool, (const char *)in, len, region, &bad);
	struct xml_node *root = len ? tree(pool, in, len) : NULL;
	const char *loc = root ? xml_child_text(root, "LocationConstraint") : NULL;

	if (rc == 0) {
		if (len && (!root || strcmp(root->name, "CreateBucketConfiguration") != 0 ||
			    (loc && *loc && strcmp(loc, region) != 0)))
			abort();
	} else if (rc == CN_EBADLOCATION) {
		if (!loc || !*loc || strcmp(loc, region) == 0 || !bad || strcmp(bad, loc) != 0 ||
		    s3_create_bucket_from_xml(pool, (const char *)in, len, loc, NULL) != 0)
			abort();
	} else if (rc != CN_EBADXML || len == 0) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *in = data + 1;
	size_t len = size - 1, k;
	struct cn_pool pool;

	if (size < 1)
		return 0;
	k = data[0] / 7;
	cn_pool_init(&pool);
	switch (data[0] % 7) {
	case 0: fuzz_complete(&pool, in, len); break;
	case 1: fuzz_delete(&pool, in, len); break;
	case 2: fuzz_pab(&pool, in, len); break;
	case 3: fuzz_ownership(&pool, in, len); break;
	case 4: fuzz_versioning(&pool, in, len); break;
	case 5:
		if (k & 1)
			fuzz_enc_doc(in, len);
		else
			fuzz_enc_xml(&pool, in, len, k / 2);
		break;
	default: fuzz_create(&pool, in, len, k & 1 ? "eu-central-1" : "us-east-1"); break;
	}
	cn_pool_release(&pool);
	return 0;
}
