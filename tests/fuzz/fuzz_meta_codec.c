/*
 * tests/fuzz/fuzz_meta_codec.c — libFuzzer target for the metadata codec
 * (meta/codec.c, meta/keys.c): every decoder of bytes that come from disk or
 * from a (future) Raft log. The first input byte picks the decoder, the rest
 * is its input. Decoders must reject malformed input without reading out of
 * bounds; a command (the cluster-map commands included) that decodes must
 * re-encode to exactly the same bytes, as must a cluster-map record (node,
 * drive), and a version record that decodes must survive encode -> decode.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "meta/meta_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_cmd(const uint8_t *in, size_t len)
{
	struct meta_cmd c;
	uint8_t *enc;
	size_t elen;

	if (meta_cmd_decode(in, len, &c) != 0)
		return;
	if (meta_cmd_encode(&c, &enc, &elen) != 0)
		abort();
	if (elen != len || memcmp(enc, in, len) != 0)
		abort();
	free(enc);
	meta_cmd_release(&c);
}

static void fuzz_version(const uint8_t *in, size_t len)
{
	struct meta_version v, v2;
	struct cn_buf w;
	static const uint8_t key[] = "fuzz/key";

	if (ver_decode(in, len, key, 8, &v) != 0)
		return;
	cn_buf_init(&w);
	if (ver_encode(&w, NULL, 0, &v) != 0)
		abort();
	if (ver_decode(w.p, w.len, key, 8, &v2) != 0)
		abort();
	if (v2.size != v.size || v2.n_parts != v.n_parts || strcmp(v2.etag, v.etag) != 0 ||
	    v2.attrs_len != v.attrs_len || v2.loc != v.loc || v2.flags != v.flags)
		abort();
	meta_version_release(&v2);
	meta_version_release(&v);
	cn_buf_release(&w);
}

/* Cluster map records: what decodes re-encodes to the same bytes. */
static void fuzz_node(const uint8_t *in, size_t len)
{
	struct meta_node n;
	struct cn_buf w;

	if (node_rec_decode(in, len, 1, &n) != 0)
		return;
	cn_buf_init(&w);
	if (node_rec_encode(&w, &n) != 0 || w.len != len || memcmp(w.p, in, len) != 0)
		abort();
	cn_buf_release(&w);
}

static void fuzz_drive(const uint8_t *in, size_t len)
{
	static const uint8_t id[META_ID_LEN];
	struct meta_drive d;
	struct cn_buf w;

	if (drive_rec_decode(in, len, id, &d) != 0)
		return;
	cn_buf_init(&w);
	if (drive_rec_encode(&w, &d) != 0 || w.len != len || memcmp(w.p, in, len) != 0)
		abort();
	cn_buf_release(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	/* Copy so that reads past the end hit ASan's redzone. */
	size_t len = size - 1;
	uint8_t *in = malloc(len ? len : 1);
	if (!in)
		return 0;
	memcpy(in, data + 1, len);
	switch (data[0] % 11) {
	case 0: fuzz_cmd(in, len); break;
	case 1: fuzz_version(in, len); break;
	case 2: {
		struct idx_rec r;
		(void)idx_decode(in, len, &r);
		(void)idx_decode_ex(in, len, &r, 0);
		break;
	}
	case 3: {
		struct meta_upload u;
		if (upload_decode(in, len, (const uint8_t *)"k", 1, &u) == 0)
			meta_upload_release(&u);
		break;
	}
	case 4: {
		struct meta_part p;
		(void)part_decode(in, len, &p);
		break;
	}
	case 5: {
		struct meta_bucket b;
		if (bucket_decode(in, len, "bucket", 6, &b) == 0)
			meta_bucket_release(&b);
		break;
	}
	case 6: {
		struct stats_rec s;
		(void)stats_decode(in, len, &s);
		int64_t created;
		const uint8_t *l;
		size_t ll;
		(void)blobref_decode(in, len, &created, &l, &ll);
		break;
	}
	case 7: {
		/* raw LMDB key of bucket "bkt" */
		uint8_t kbuf[META_KEY_MAX];
		size_t klen, glen, hdr;
		enum key_kind kind;
		if (len >= 4 && memcmp(in, "bkt", 4) == 0 &&
		    key_decode(in, len, 4, kbuf, &klen, &kind, &glen, &hdr) == 0) {
			if (kind == KEY_SHORT) {
				uint8_t enc[KEY_ENC_MAX];
				size_t n = key_encode(enc, "bkt", 3, kbuf, klen);
				if (n != hdr || memcmp(enc, in, n) != 0)
					abort();
			}
		}
		break;
	}
	case 8: {
		const uint8_t *fk;
		size_t fklen;
		(void)val_fullkey(in, len, &fk, &fklen);
		break;
	}
	case 9: fuzz_node(in, len); break;
	case 10: fuzz_drive(in, len); break;
	}
	free(in);
	return 0;
}
