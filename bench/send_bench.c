/*
 * bench/send_bench.c — what sending a verified 1 MiB piece to a TCP socket
 * costs the sender, by method: the GET path's pread + CRC32C + write, against
 * sendfile (what nginx does, unverified) and two ways of verifying before a
 * sendfile (a pread, or a mapping of the page cache). The question it
 * answers: would sendfile take the two copies out of a 1 MiB GET
 * (bench/RESULTS.md, "where #17 stands")?
 *
 * Usage: send_bench [-n ITERS] [-r REPS] FILE   (FILE: at least 1 MiB, read
 * through the page cache; warm it first). A thread on the other end of a
 * loopback TCP connection drains the bytes; only the sending thread's CPU
 * time (RUSAGE_THREAD) is counted. Prints the median over REPS per method.
 *
 * Layer: bench (not a test). It includes data/data_int.h to checksum with
 * piece_cksum exactly as the reader verifies a piece (CRC32C, the default).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/data.h"
#include "data/data_int.h"

#define PIECE (1u << 20)
#define MAXR 15

enum { M_COPY, M_SENDFILE, M_PREAD_SENDFILE, M_MMAP_SENDFILE, M_N };
static const char *names[M_N] = {
	"pread + crc32c + write (cairn)",
	"sendfile, unverified (nginx)",
	"pread + crc32c, then sendfile",
	"mmap + crc32c + munmap, then sendfile",
};

static void *drain(void *arg)
{
	int fd = *(int *)arg;
	char *b = malloc(PIECE);

	while (b && read(fd, b, PIECE) > 0)
		;
	free(b);
	return NULL;
}

static double thread_cpu(void)
{
	struct rusage u;

	getrusage(RUSAGE_THREAD, &u);
	return (double)u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + (double)u.ru_stime.tv_sec +
	       u.ru_stime.tv_usec / 1e6;
}

static int write_all(int s, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(s, p, len);
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int sendfile_all(int s, int fd, off_t off, size_t len)
{
	while (len) {
		ssize_t n = sendfile(s, fd, &off, len);
		if (n <= 0)
			return -1;
		len -= (size_t)n;
	}
	return 0;
}

/* One piece by method m; the CRC goes into *sum so it is not optimised out. */
static int send_one(int m, int s, int fd, off_t off, char *buf, uint64_t *sum)
{
	char *map;

	switch (m) {
	case M_COPY:
		if (pread(fd, buf, PIECE, off) != PIECE)
			return -1;
		*sum += piece_cksum(DATA_CK_CRC32C, 0, 0, buf, PIECE);
		return write_all(s, buf, PIECE);
	case M_SENDFILE: return sendfile_all(s, fd, off, PIECE);
	case M_PREAD_SENDFILE:
		if (pread(fd, buf, PIECE, off) != PIECE)
			return -1;
		*sum += piece_cksum(DATA_CK_CRC32C, 0, 0, buf, PIECE);
		return sendfile_all(s, fd, off, PIECE);
	default:
		map = mmap(NULL, PIECE, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, off);
		if (map == MAP_FAILED)
			return -1;
		*sum += piece_cksum(DATA_CK_CRC32C, 0, 0, map, PIECE);
		munmap(map, PIECE);
		return sendfile_all(s, fd, off, PIECE);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int iters = 2000, reps = 5, opt, fd, l = -1, s[2] = {-1, -1}, rc = 1;
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t al = sizeof(a);
	double ms[M_N][MAXR];
	uint64_t sum = 0;
	pthread_t th;
	struct stat st;
	off_t pieces;
	char *buf = NULL;

	while ((opt = getopt(argc, argv, "n:r:")) != -1) {
		if (opt == 'n')
			iters = atoi(optarg);
		else if (opt == 'r')
			reps = atoi(optarg);
		else
			goto usage;
	}
	if (optind != argc - 1 || iters < 1 || reps < 1 || reps > MAXR)
		goto usage;
	fd = open(argv[optind], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || st.st_size < (off_t)PIECE) {
		fprintf(stderr, "send_bench: %s: not a readable file of 1 MiB or more\n",
			argv[optind]);
		return 1;
	}
	pieces = st.st_size / PIECE;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	s[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || s[0] < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(l, 1) != 0 || getsockname(l, (struct sockaddr *)&a, &al) != 0 ||
	    connect(s[0], (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    (s[1] = accept(l, NULL, NULL)) < 0) {
		fprintf(stderr, "send_bench: loopback connection: %s\n", strerror(errno));
		goto out;
	}
	if (!(buf = malloc(PIECE)) || pthread_create(&th, NULL, drain, &s[1]) != 0)
		goto out;
	/* methods interleaved rep by rep, so machine noise hits all alike */
	for (int r = 0; r < reps; r++)
		for (int m = 0; m < M_N; m++) {
			double c0 = thread_cpu();
			for (int i = 0; i < iters; i++)
				if (send_one(m, s[0], fd, (off_t)(i % pieces) * PIECE, buf, &sum)) {
					fprintf(stderr, "send_bench: %s: %s\n", names[m],
						strerror(errno));
					goto out;
				}
			ms[m][r] = (thread_cpu() - c0) * 1000 / iters;
		}
	printf("sender CPU per 1 MiB piece, median of %d runs of %d (checksum %llu):\n", reps,
	       iters, (unsigned long long)sum);
	for (int m = 0; m < M_N; m++) {
		qsort(ms[m], (size_t)reps, sizeof(double), cmp_double);
		printf("  %-40s %.3f ms\n", names[m], ms[m][reps / 2]);
	}
	rc = 0;
out:
	if (s[0] >= 0)
		shutdown(s[0], SHUT_WR);
	free(buf);
	return rc;
usage:
	fprintf(stderr, "usage: send_bench [-n ITERS] [-r REPS] FILE\n");
	return 2;
}
