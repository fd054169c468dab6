/*
 * bench/data_bench.c — the data path (src/data/data.h) measured beside its
 * ceilings in one run: ISA-L erasure coding through the data module's EC
 * helpers, the per-piece checksums, and a whole blob written and read through
 * blob_writer/blob_reader next to `dd` moving the same number of bytes with
 * the same fsync policy (conv=fsync) on the same disk.
 *
 * Layer: bench (not a test). It includes data/data_int.h on purpose, to time
 * data_ec_encode/data_ec_rebuild and piece_cksum exactly as the writer and
 * reader call them. Read runs start from a cold page cache
 * (sync; echo 3 > /proc/sys/vm/drop_caches, needs root; skipped and said so
 * otherwise). Results are medians over -r repetitions, interleaved with dd so
 * that load from other processes hits both sides alike.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/digest.h"
#include "core/err.h"
#include "data/data.h"
#include "data/data_int.h"

#define MAXR 16

static int reps = 3;
static uint64_t blob_mib = 1024;
static double secs = 1.0;
static const char *dir = "/work/bench-tmp/data";
static int can_drop = 1;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "data_bench: %s: %d (%s)\n", what, rc, cn_strerror(rc));
	exit(1);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
	double t[MAXR];
	memcpy(t, v, sizeof(double) * (size_t)n);
	qsort(t, (size_t)n, sizeof(double), cmp_double);
	return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static void fill_random(uint8_t *p, size_t len, uint64_t seed)
{
	for (size_t i = 0; i + 8 <= len; i += 8) {
		seed += 0x9E3779B97F4A7C15ULL;
		uint64_t x = seed;
		x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
		x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
		x ^= x >> 31;
		memcpy(p + i, &x, 8);
	}
}

static int sh(const char *fmt, const char *a)
{
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), fmt, a, a, a);
	return system(cmd);
}

static void drop_caches(void)
{
	if (!can_drop || system("sync") != 0)
		return;
	FILE *f = fopen("/proc/sys/vm/drop_caches", "w");
	if (!f || fputs("3\n", f) < 0 || fclose(f) != 0) {
		if (can_drop)
			printf("NOTE cannot drop the page cache: reads are warm\n");
		can_drop = 0;
	}
}

/* ---- erasure coding and checksums, one core ---- */

static void bench_ec(int k, int m)
{
	struct data_ec ec;
	const size_t block = DATA_BLOCK_DEFAULT, len = block / (size_t)k;
	uint8_t *buf = malloc(block + (size_t)m * len);
	uint8_t *pieces[DATA_MAX_SHARDS];
	double enc[MAXR], dec[MAXR];
	unsigned all = (1u << (k + m)) - 1, lost = (1u << m) - 1; /* first m data pieces */
	int rc = data_ec_init(&ec, k, m);

	if (rc || !buf)
		die("ec init", rc ? rc : CN_ENOMEM);
	fill_random(buf, block + (size_t)m * len, (uint64_t)k * 31 + (uint64_t)m);
	for (int i = 0; i < k + m; i++)
		pieces[i] = buf + (size_t)i * len;
	for (int r = 0; r < reps; r++) {
		uint64_t n = 0;
		double t0 = now_s(), t;
		do {
			for (int j = 0; j < 16; j++)
				data_ec_encode(&ec, len, pieces, pieces + k);
			n += 16;
		} while ((t = now_s() - t0) < secs);
		enc[r] = (double)n * (double)(len * (size_t)k) / t / 1e9;
		n = 0;
		t0 = now_s();
		do {
			for (int j = 0; j < 16; j++) {
				rc = data_ec_rebuild(&ec, len, pieces, all & ~lost, lost);
				if (rc)
					die("ec rebuild", rc);
			}
			n += 16;
		} while ((t = now_s() - t0) < secs);
		dec[r] = (double)n * (double)(len * (size_t)k) / t / 1e9;
	}
	printf("SUMMARY ec %d+%d (1 MiB blocks, %zu-byte pieces): encode %.2f GB/s, decode "
	       "(%d data pieces lost) %.2f GB/s of data, per core\n",
	       k, m, len, median(enc, reps), m, median(dec, reps));
	data_ec_release(&ec);
	free(buf);
}

static void bench_cksum(int alg, const char *name)
{
	const size_t len = DATA_BLOCK_DEFAULT / 4; /* a 4+2 piece */
	uint8_t *buf = malloc(len);
	double gbs[MAXR];
	volatile uint64_t sink = 0;

	fill_random(buf, len, 7);
	for (int r = 0; r < reps; r++) {
		uint64_t n = 0;
		double t0 = now_s(), t;
		do {
			for (int j = 0; j < 64; j++)
				sink += piece_cksum(alg, n + (uint64_t)j, 0, buf, len);
			n += 64;
		} while ((t = now_s() - t0) < secs);
		gbs[r] = (double)n * (double)len / t / 1e9;
	}
	(void)sink;
	printf("SUMMARY checksum %s (%zu-byte pieces): %.2f GB/s per core\n", name, len,
	       median(gbs, reps));
	free(buf);
}

/* The digests a PUT body goes through (the ETag's MD5, and whichever
 * x-amz-checksum-* the client sent), fed in 256 KiB slices as the body
 * path does. */
static void bench_digest(unsigned alg, const char *name)
{
	const size_t len = 64u << 20, slice = 256u << 10;
	uint8_t *buf = malloc(len);
	double gbs[MAXR];
	volatile uint64_t sink = 0;

	if (!buf)
		die("malloc", CN_ENOMEM);
	fill_random(buf, len, 11);
	for (int r = 0; r < reps; r++) {
		uint64_t n = 0;
		double t0 = now_s(), t;
		do {
			struct cn_digest d;
			struct cn_digest_result res;
			if (cn_digest_init(&d, alg) != 0)
				die("cn_digest_init", CN_ENOMEM);
			for (size_t o = 0; o < len; o += slice)
				cn_digest_update(&d, buf + o, slice);
			cn_digest_final(&d, &res);
			cn_digest_release(&d);
			sink += res.len + res.md5[0] + res.crc64nvme;
			n++;
		} while ((t = now_s() - t0) < secs);
		gbs[r] = (double)n * (double)len / t / 1e9;
	}
	(void)sink;
	printf("SUMMARY body digest %s (64 MiB in 256 KiB slices): %.2f GB/s per core\n", name,
	       median(gbs, reps));
	free(buf);
}

/* ---- blobs vs dd ---- */

struct io_res {
	double w, r; /* seconds */
};

static struct io_res dd_run(const char *d)
{
	char path[700], cmd[2048];
	struct io_res res;
	double t0;

	snprintf(path, sizeof(path), "%s/dd.bin", d);
	unlink(path);
	if (system("sync") != 0)
		die("sync", CN_EINTERNAL);
	snprintf(cmd, sizeof(cmd),
		 "dd if=/dev/zero of='%s' bs=1M count=%llu conv=fsync status=none", path,
		 (unsigned long long)blob_mib);
	t0 = now_s();
	if (system(cmd) != 0)
		die("dd write", CN_EINTERNAL);
	res.w = now_s() - t0;
	drop_caches();
	snprintf(cmd, sizeof(cmd), "dd if='%s' of=/dev/null bs=1M status=none", path);
	t0 = now_s();
	if (system(cmd) != 0)
		die("dd read", CN_EINTERNAL);
	res.r = now_s() - t0;
	unlink(path);
	return res;
}

static struct io_res blob_run(struct data_store *s, const uint8_t *src, size_t src_len,
			      uint64_t seed, int verify)
{
	struct blob_info info = {
		.bucket = "bench", .key = "big", .version_id = NULL, .size_hint = blob_mib << 20};
	struct blob_writer *w;
	struct blob_reader *rd;
	struct blob_layout l;
	struct io_res res;
	const size_t chunk = 1u << 20;
	uint8_t *buf = malloc(chunk);
	uint64_t total = blob_mib << 20, off;
	double t0;
	int rc;

	fill_random(info.id, DATA_ID_LEN, seed);
	if (system("sync") != 0)
		die("sync", CN_EINTERNAL);
	t0 = now_s();
	if ((rc = blob_writer_new(s, &info, &w)))
		die("blob_writer_new", rc);
	for (off = 0; off < total; off += chunk)
		if ((rc = blob_writer_append(w, src + off % src_len, chunk)))
			die("blob_writer_append", rc);
	if ((rc = blob_writer_finish(w, &l)))
		die("blob_writer_finish", rc);
	res.w = now_s() - t0;

	drop_caches();
	t0 = now_s();
	if ((rc = blob_reader_open(s, &l, &rd)))
		die("blob_reader_open", rc);
	for (off = 0; off < total;) {
		size_t got = 0;
		if ((rc = blob_reader_read(rd, off, buf, chunk, &got)))
			die("blob_reader_read", rc);
		if (got == 0)
			die("short blob", CN_ECORRUPT);
		if (verify && memcmp(buf, src + off % src_len, got) != 0)
			die("blob bytes differ", CN_ECORRUPT);
		off += got;
	}
	res.r = now_s() - t0;
	if (blob_reader_bad_mask(rd))
		die("bad shards", CN_ECORRUPT);
	blob_reader_close(rd);
	if ((rc = blob_delete(s, &l)))
		die("blob_delete", rc);
	free(buf);
	return res;
}

static void bench_blob(int ndrives, const uint8_t *src, size_t src_len)
{
	char root[512], d[DATA_MAX_SHARDS][600];
	const char *dirs[DATA_MAX_SHARDS];
	struct data_options opt = {.fsync = DATA_FSYNC_ALWAYS};
	struct data_store *s;
	double bw[MAXR], br[MAXR], dw[MAXR], dr[MAXR], rw[MAXR], rr[MAXR];
	double mib = (double)blob_mib;
	uint8_t k, m;
	int rc;

	snprintf(root, sizeof(root), "%s/drives-%d", dir, ndrives);
	sh("rm -rf '%s' && mkdir -p '%s'", root);
	for (int i = 0; i < ndrives; i++) {
		snprintf(d[i], sizeof(d[i]), "%s/d%d", root, i);
		if (mkdir(d[i], 0700) != 0 && errno != EEXIST)
			die("mkdir", -errno);
		dirs[i] = d[i];
	}
	if ((rc = data_store_open(dirs, ndrives, &opt, &s)))
		die("data_store_open", rc);
	data_layout_default(ndrives, &k, &m);
	for (int r = 0; r < reps; r++) {
		struct io_res x = dd_run(root);
		struct io_res b = blob_run(s, src, src_len, (uint64_t)r + 1, r == 0);
		dw[r] = mib / x.w;
		dr[r] = mib / x.r;
		bw[r] = mib / b.w;
		br[r] = mib / b.r;
		rw[r] = bw[r] / dw[r];
		rr[r] = br[r] / dr[r];
		printf("blob   rep %d, %d drive(s) %u+%u: write %.0f MiB/s (dd %.0f) read %.0f "
		       "MiB/s "
		       "(dd %.0f)\n",
		       r, ndrives, k, m, bw[r], dw[r], br[r], dr[r]);
	}
	printf("SUMMARY blob %llu MiB, %d drive dir(s), %u+%u, fsync always: write %.0f MiB/s vs "
	       "dd "
	       "%.0f MiB/s (ratio %.2f), %s read %.0f MiB/s vs dd %.0f MiB/s (ratio %.2f); "
	       "physical bytes written %.2fx the body\n",
	       (unsigned long long)blob_mib, ndrives, k, m, median(bw, reps), median(dw, reps),
	       median(rw, reps), can_drop ? "cold" : "warm", median(br, reps), median(dr, reps),
	       median(rr, reps), (double)(k + m) / k);
	data_store_close(s);
	sh("rm -rf '%s'", root);
}

static void usage(void)
{
	fprintf(stderr, "usage: data_bench [-r reps] [-m blob MiB] [-s secs] [-d dir] "
			"[-x ec|blob|all] [-c: no cache drop]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *what = "all";
	int opt;

	setvbuf(stdout, NULL, _IOLBF, 0); /* progress lines show up under tee */

	while ((opt = getopt(argc, argv, "r:m:s:d:x:c")) != -1) {
		switch (opt) {
		case 'r': reps = atoi(optarg); break;
		case 'm': blob_mib = strtoull(optarg, NULL, 10); break;
		case 's': secs = atof(optarg); break;
		case 'd': dir = optarg; break;
		case 'x': what = optarg; break;
		case 'c': /* keep the page cache (quick runs) */ can_drop = 0; break;
		default: usage();
		}
	}
	if (reps < 1 || reps > MAXR || blob_mib < 1 || secs <= 0)
		usage();
	if (sh("mkdir -p '%s'", dir) != 0)
		usage();
	printf("data_bench: reps=%d blob=%llu MiB secs=%.1f dir=%s\n", reps,
	       (unsigned long long)blob_mib, secs, dir);
	if (!strcmp(what, "ec") || !strcmp(what, "all")) {
		bench_ec(4, 2);
		bench_ec(8, 4);
		bench_cksum(DATA_CK_CRC32C, "CRC32C");
		bench_cksum(DATA_CK_XXH3, "XXH3-64");
		bench_digest(CN_DIG_MD5, "MD5");
		bench_digest(CN_DIG_SHA256, "SHA256");
		bench_digest(CN_DIG_SHA1, "SHA1");
		bench_digest(CN_DIG_CRC32, "CRC32");
		bench_digest(CN_DIG_CRC32C, "CRC32C");
		bench_digest(CN_DIG_CRC64NVME, "CRC64NVME");
	}
	if (!strcmp(what, "blob") || !strcmp(what, "all")) {
		size_t src_len = 64u << 20; /* a RAM source, like a socket buffer */
		uint8_t *src = malloc(src_len);
		if (!src)
			die("malloc", CN_ENOMEM);
		fill_random(src, src_len, 99);
		bench_blob(1, src, src_len);
		bench_blob(6, src, src_len);
		free(src);
	}
	return 0;
}
