/*
 * bench/combine_bench.c — what CompleteMultipartUpload spends combining the
 * parts' CRCs into a FULL_OBJECT checksum (the multipart default is
 * CRC64NVME): N combines of parts of about S bytes, per algorithm, median of
 * REPS runs.
 *
 * Usage: combine_bench [-n PARTS] [-s PART_BYTES] [-r REPS]
 * (defaults: 10000 parts, S3's limit; 8 MiB; 5 repetitions).
 *
 * Layer: bench (not a test); uses core/digest.h only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/digest.h"

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static const enum cn_checksum_alg algs[] = {CN_CK_CRC32, CN_CK_CRC32C, CN_CK_CRC64NVME};
	unsigned long parts = 10000, reps = 5;
	unsigned long long size = 8ull << 20;
	double t[64];
	int o;

	while ((o = getopt(argc, argv, "n:s:r:")) != -1) {
		switch (o) {
		case 'n': parts = strtoul(optarg, NULL, 10); break;
		case 's': size = strtoull(optarg, NULL, 10); break;
		case 'r': reps = strtoul(optarg, NULL, 10); break;
		default:
			fprintf(stderr,
				"usage: combine_bench [-n PARTS] [-s PART_BYTES] [-r REPS]\n");
			return 2;
		}
	}
	if (reps == 0 || reps > 64)
		reps = 5;
	for (size_t k = 0; k < sizeof(algs) / sizeof(algs[0]); k++) {
		uint8_t acc[CN_CHECKSUM_MAX] = {1, 2, 3, 4, 5, 6, 7, 8};
		uint8_t b[CN_CHECKSUM_MAX] = {8, 7, 6, 5, 4, 3, 2, 1};
		for (unsigned long r = 0; r < reps; r++) {
			double t0 = now_ms();
			for (unsigned long i = 1; i < parts; i++)
				if (cn_checksum_combine(algs[k], acc, b, size + i) != 0)
					return 1;
			t[r] = now_ms() - t0;
		}
		qsort(t, reps, sizeof(t[0]), cmp);
		printf("RESULT op=combine alg=%s parts=%lu part_bytes=%llu ms=%.2f (%02x)\n",
		       cn_checksum_alg_name(algs[k]), parts, size, t[reps / 2], acc[0]);
	}
	return 0;
}
