/*
 * s3/pending_list.c — operations routed but not built yet answer NotImplemented,
 * as S3 does for functionality it does not offer. Each moves to its own
 * file when it lands.
 */
#include "s3/s3_int.h"

#include "core/err.h"

void s3_op_delete_objects(struct s3_req *r)
{
	s3_send_error(r, CN_ENOTIMPL);
}

void s3_op_list_objects(struct s3_req *r)
{
	s3_send_error(r, CN_ENOTIMPL);
}

void s3_op_list_object_versions(struct s3_req *r)
{
	s3_send_error(r, CN_ENOTIMPL);
}

void s3_op_list_multipart_uploads(struct s3_req *r)
{
	s3_send_error(r, CN_ENOTIMPL);
}
