/*
 * data/ec.c — Reed-Solomon over GF(2^8) with ISA-L (the only file that
 * includes it). The encode matrix is (k+m) x k with the identity on top
 * (systematic code) and a Cauchy matrix below, so every k x k submatrix is
 * invertible and any k of the k+m pieces rebuild the rest. With k = 1 the
 * parity rows are all 1: the parity shards are exact mirrors.
 *
 * Thread rules: a struct data_ec is used by one thread at a time.
 */
#include "data/data_int.h"

#include "core/err.h"

#include <isa-l/erasure_code.h>
#include <assert.h>
#include <stdlib.h>
#include <string.h>

int data_ec_init(struct data_ec *ec, int k, int m)
{
	memset(ec, 0, sizeof(*ec));
	if (k < 1 || m < 0 || k + m > DATA_MAX_SHARDS)
		return CN_EINVAL;
	ec->k = k;
	ec->m = m;
	if (k == 1) {
		memset(ec->enc, 1, (size_t)(k + m));
	} else {
		gf_gen_cauchy1_matrix(ec->enc, k + m, k);
	}
	if (m == 0)
		return 0;
	ec->tbls = malloc((size_t)32 * k * m);
	if (!ec->tbls)
		return CN_ENOMEM;
	ec_init_tables(k, m, ec->enc + k * k, ec->tbls);
	return 0;
}

void data_ec_release(struct data_ec *ec)
{
	free(ec->tbls);
	ec->tbls = NULL;
}

void data_ec_encode(struct data_ec *ec, size_t len, uint8_t **data, uint8_t **parity)
{
	if (ec->m == 0 || len == 0)
		return;
	ec_encode_data((int)len, ec->k, ec->m, ec->tbls, data, parity);
}

int data_ec_rebuild(struct data_ec *ec, size_t len, uint8_t **pieces, unsigned present,
		    unsigned want)
{
	int k = ec->k, n = ec->k + ec->m;
	uint8_t sub[DATA_MAX_SHARDS * DATA_MAX_SHARDS];
	uint8_t inv[DATA_MAX_SHARDS * DATA_MAX_SHARDS];
	uint8_t dec[DATA_MAX_SHARDS * DATA_MAX_SHARDS];
	uint8_t *src[DATA_MAX_SHARDS], *dst[DATA_MAX_SHARDS];
	int nsrc = 0, ndst = 0;

	want &= ~present & ((1u << n) - 1);
	if (want == 0)
		return 0;
	/* The first k good pieces and their rows of the encode matrix. */
	for (int i = 0; i < n && nsrc < k; i++) {
		if (!(present & (1u << i)))
			continue;
		memcpy(sub + nsrc * k, ec->enc + i * k, (size_t)k);
		src[nsrc++] = pieces[i];
	}
	if (nsrc < k)
		return CN_EDATALOST;
	/* Every k x k submatrix of a Cauchy matrix is invertible. */
	if (gf_invert_matrix(sub, inv, k) != 0) {
		assert(!"Cauchy submatrix not invertible");
		return CN_EINTERNAL;
	}
	/* Row for wanted piece i: enc[i] x inv (data row i of inv when i < k). */
	for (int i = 0; i < n; i++) {
		if (!(want & (1u << i)))
			continue;
		uint8_t *row = dec + ndst * k;
		for (int j = 0; j < k; j++) {
			uint8_t s = 0;
			for (int t = 0; t < k; t++)
				s ^= gf_mul(ec->enc[i * k + t], inv[t * k + j]);
			row[j] = s;
		}
		dst[ndst++] = pieces[i];
	}
	if (len == 0)
		return 0;
	uint8_t *tbls = malloc((size_t)32 * k * ndst);
	if (!tbls)
		return CN_ENOMEM;
	ec_init_tables(k, ndst, dec, tbls);
	ec_encode_data((int)len, k, ndst, tbls, src, dst);
	free(tbls);
	return 0;
}
