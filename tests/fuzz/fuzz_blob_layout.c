/*
 * tests/fuzz/fuzz_blob_layout.c — libFuzzer target for the data module's two
 * parsers of untrusted bytes: blob_layout_decode (bytes from metadata) and
 * the shard header parser (bytes from disk). Both must reject anything
 * malformed without reading out of bounds, and anything they accept must
 * re-encode to exactly the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct blob_layout l;
	uint8_t buf[SHARD_HDR_MAX > DATA_LAYOUT_MAX ? SHARD_HDR_MAX : DATA_LAYOUT_MAX];

	/* Copy so that reads past `size` hit ASan's redzone. */
	uint8_t *in = malloc(size ? size : 1);
	if (!in)
		return 0;
	memcpy(in, data, size);

	if (blob_layout_decode(in, size, &l) == 0) {
		int n = blob_layout_encode(&l, buf, sizeof(buf));
		if (n < 0 || (size_t)n != size || memcmp(buf, in, size) != 0)
			abort();
		(void)layout_nblocks(&l);
	}

	struct shard_header h;
	if (shard_header_decode(in, size, &h) == 0) {
		uint16_t hl = h.hdr_len;
		int n = shard_header_encode(&h, buf, sizeof(buf));
		if (n < 0 || n != hl || memcmp(buf, in, hl) != 0)
			abort();
	}
	free(in);
	return 0;
}
