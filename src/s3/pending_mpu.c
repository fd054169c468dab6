/*
 * s3/pending_mpu.c — operations routed but not built yet answer NotImplemented,
 * as S3 does for functionality it does not offer. Each moves to its own
 * file when it lands.
 */
#include "s3/s3_int.h"

#include "core/err.h"

void s3_op_copy_object(struct s3_req *r)
{
	s3_send_error(r, CN_ENOTIMPL);
}

void s3_op_create_multipart(struct s3_req *r)
{
	s3_send_error(r, CN_ENOTIMPL);
}

void s3_op_upload_part(struct s3_req *r)
{
	s3_send_error(r, CN_ENOTIMPL);
}

void s3_op_upload_part_copy(struct s3_req *r)
{
	s3_send_error(r, CN_ENOTIMPL);
}

void s3_op_complete_multipart(struct s3_req *r)
{
	s3_send_error(r, CN_ENOTIMPL);
}

void s3_op_abort_multipart(struct s3_req *r)
{
	s3_send_error(r, CN_ENOTIMPL);
}

void s3_op_list_parts(struct s3_req *r)
{
	s3_send_error(r, CN_ENOTIMPL);
}
