/*
 * s3/s3err.h — the one table mapping cairn error codes to S3 error codes and
 * HTTP statuses, and the one writer of S3 error documents.
 *
 * Thread rules: pure, any thread.
 */
#ifndef CAIRN_S3_S3ERR_H
#define CAIRN_S3_S3ERR_H

#include <stddef.h>

struct s3_error {
	int status;
	const char *code;
	const char *message;
};

/* Never NULL: unknown codes map to 500 InternalError. */
const struct s3_error *s3_error_lookup(int err);

struct cn_buf;
struct s3_err_field;

/* What an error document says besides code and message; every pointer is
 * borrowed for the call and may be NULL (key: key_len bytes). */
struct s3_error_doc {
	const char *bucket;
	const char *key;
	size_t key_len;
	const char *resource;
	const char *request_id;
	const struct s3_err_field *fields; /* after <Message>, in order */
	int n_fields;
};

/* Writes the S3 <Error> document for e into w (text escaped by the XML
 * writer; w->err reports a failure). The only builder of error XML. */
void s3_error_xml(struct cn_buf *w, const struct s3_error *e, const struct s3_error_doc *d);

#endif
