/*
 * s3/s3err.h — the one table mapping cairn error codes to S3 error codes and
 * HTTP statuses.
 *
 * Thread rules: pure, any thread.
 */
#ifndef CAIRN_S3_S3ERR_H
#define CAIRN_S3_S3ERR_H

struct s3_error {
	int status;
	const char *code;
	const char *message;
};

/* Never NULL: unknown codes map to 500 InternalError. */
const struct s3_error *s3_error_lookup(int err);

#endif
