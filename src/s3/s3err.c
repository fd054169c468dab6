/*
 * s3/s3err.c — see s3err.h. Messages follow the AWS S3 error reference.
 */
#include "s3/s3err.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "core/err.h"
#include "s3/s3_int.h"
#include "xml/xml.h"

static const struct {
	int err;
	struct s3_error e;
} tab[] = {
	{CN_ENOMEM, {503, "SlowDown", "Please reduce your request rate."}},
	{CN_EINVAL, {400, "InvalidArgument", "Invalid Argument"}},
	{CN_EBADARG, {400, "InvalidArgument", "Invalid Argument"}},
	{CN_ECORRUPT, {500, "InternalError", "Stored metadata is corrupt."}},
	{CN_ESHUTDOWN, {503, "ServiceUnavailable", "The server is shutting down."}},
	{CN_EAGAIN, {503, "SlowDown", "Please reduce your request rate."}},
	{CN_EBADREQ, {400, "BadRequest", "Malformed request."}},
	{CN_EBADHOST,
	 {400, "BadRequest", "An HTTP/1.1 request must carry exactly one Host header."}},
	{CN_EBADVERSION,
	 {505, "HttpVersionNotSupported", "The HTTP version of the request is not supported."}},
	{CN_EHDRTOOBIG,
	 {400, "RequestHeaderSectionTooLarge",
	  "Your request header section exceeds the maximum allowed size."}},
	{CN_ETIMEOUT,
	 {400, "RequestTimeout",
	  "Your socket connection to the server was not read from or written to within the timeout "
	  "period."}},
	{CN_EINCOMPLETE,
	 {400, "IncompleteBody",
	  "You did not provide the number of bytes specified by the Content-Length HTTP header."}},
	{CN_ENOTIMPL,
	 {501, "NotImplemented",
	  "A header or query you provided implies functionality that is not implemented."}},
	{CN_EBADMETHOD,
	 {405, "MethodNotAllowed", "The specified method is not allowed against this resource."}},
	{CN_EKEYTOOLONG, {400, "KeyTooLongError", "Your key is too long."}},
	{CN_EBADDIGEST,
	 {400, "BadDigest", "The Content-MD5 you specified did not match what we received."}},
	{CN_EBADMD5HDR, {400, "InvalidDigest", "The Content-MD5 you specified is not valid."}},
	{CN_EMISSINGMD5,
	 {400, "InvalidRequest",
	  "Missing required header for this request: Content-MD5 OR x-amz-checksum-*"}},
	{CN_EBADCKVALUE,
	 {400, "InvalidRequest", "Value for the x-amz-checksum header is invalid."}},
	{CN_EBADCHECKSUM,
	 {400, "BadDigest", "The checksum you specified did not match what we received."}},
	{CN_EMISSINGLEN,
	 {411, "MissingContentLength", "You must provide the Content-Length HTTP header."}},
	{CN_EBADXML,
	 {400, "MalformedXML",
	  "The XML you provided was not well-formed or did not validate against our published "
	  "schema."}},
	{CN_EBADRANGE, {416, "InvalidRange", "The requested range is not satisfiable"}},
	{CN_ETOOSMALL,
	 {400, "EntityTooSmall",
	  "Your proposed upload is smaller than the minimum allowed object size."}},
	{CN_ETOOBIG,
	 {400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed object size."}},
	{CN_EACCESS, {403, "AccessDenied", "Access Denied."}},
	{CN_EEXPIRED, {403, "AccessDenied", "Request has expired."}},
	{CN_EBADKEYID,
	 {403, "InvalidAccessKeyId",
	  "The AWS Access Key Id you provided does not exist in our records."}},
	{CN_EBADSIG,
	 {403, "SignatureDoesNotMatch",
	  "The request signature we calculated does not match the signature you provided. Check "
	  "your key and signing method."}},
	{CN_ESKEW,
	 {403, "RequestTimeTooSkewed",
	  "The difference between the request time and the server's time is too large."}},
	{CN_ESHAMISMATCH,
	 {400, "XAmzContentSHA256Mismatch",
	  "The provided 'x-amz-content-sha256' header does not match what was computed."}},
	{CN_EBADAUTH,
	 {400, "AuthorizationHeaderMalformed", "The authorization header is malformed."}},
	{CN_EUNSIGNEDHDR,
	 {403, "AccessDenied", "There were headers present in the request which were not signed"}},
	{CN_EBADREGION,
	 {400, "AuthorizationHeaderMalformed",
	  "The authorization header is malformed; the region in the credential scope is wrong."}},
	{CN_EBADQUERYAUTH,
	 {400, "AuthorizationQueryParametersError",
	  "Error parsing the X-Amz-Credential parameter; the region is wrong."}},
	{CN_EQUERYPARAMS,
	 {400, "AuthorizationQueryParametersError",
	  "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
	  "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."}},
	{CN_EQUERYEXPIRES,
	 {400, "AuthorizationQueryParametersError",
	  "X-Amz-Expires must be a number of seconds from 1 to 604800 (a week)."}},
	{CN_ETWOAUTH,
	 {400, "InvalidArgument",
	  "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature "
	  "query string parameter or the Authorization header should be specified"}},
	{CN_EBADPOSTPOLICY, {400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON."}},
	{CN_EBADCHUNK, {400, "IncompleteBody", "The aws-chunked body is malformed."}},
	{CN_EBADSHAHDR,
	 {400, "InvalidArgument",
	  "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-* or a valid sha256 value."}},
	{CN_ENOSHAHDR,
	 {400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256"}},
	{CN_ENOTYETVALID, {403, "AccessDenied", "Request is not yet valid"}},
	{CN_EBADDATE,
	 {403, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header"}},
	{CN_ENOBUCKET, {404, "NoSuchBucket", "The specified bucket does not exist"}},
	{CN_ENOKEY, {404, "NoSuchKey", "The specified key does not exist."}},
	{CN_ENOVERSION, {404, "NoSuchVersion", "The specified version does not exist."}},
	{CN_ENOUPLOAD,
	 {404, "NoSuchUpload",
	  "The specified upload does not exist. The upload ID may be invalid, or the upload may "
	  "have been aborted or completed."}},
	{CN_EBUCKETEXISTS,
	 {409, "BucketAlreadyOwnedByYou",
	  "Your previous request to create the named bucket succeeded and you already own it."}},
	{CN_ENOTEMPTY, {409, "BucketNotEmpty", "The bucket you tried to delete is not empty"}},
	{CN_EPRECOND,
	 {412, "PreconditionFailed",
	  "At least one of the pre-conditions you specified did not hold"}},
	{CN_ENOTMODIFIED, {304, "NotModified", "Not Modified"}},
	{CN_EBADPART,
	 {400, "InvalidPart",
	  "One or more of the specified parts could not be found. The part may not have been "
	  "uploaded, or the specified entity tag may not match the part's entity tag."}},
	{CN_EBADPARTORDER,
	 {400, "InvalidPartOrder",
	  "The list of parts was not in ascending order. Parts must be ordered by part number."}},
	{CN_EBADBUCKETNAME, {400, "InvalidBucketName", "The specified bucket is not valid."}},
	{CN_EBADLOCATION,
	 {400, "IllegalLocationConstraintException",
	  "The location constraint is incompatible for the region specific endpoint this request "
	  "was sent to."}},
	{CN_EDELMARKER,
	 {405, "MethodNotAllowed", "The specified method is not allowed against this resource."}},
	{CN_ECONFLICT,
	 {409, "OperationAborted",
	  "A conflicting conditional operation is currently in progress against this resource."}},
	{CN_EBADVERSIONID, {400, "InvalidArgument", "Invalid version id specified"}},
	{CN_EBADTOKEN, {400, "InvalidArgument", "The continuation token provided is incorrect"}},
	{CN_EMETATOOBIG,
	 {400, "MetadataTooLarge",
	  "Your metadata headers exceed the maximum allowed metadata size."}},
	{CN_ECOPYSELF,
	 {400, "InvalidRequest",
	  "This copy request is illegal because it is trying to copy an object to itself without "
	  "changing the object's metadata, storage class, website redirect location or encryption "
	  "attributes."}},
	{CN_EMPSIZE,
	 {400, "InvalidRequest",
	  "The parts listed do not add up to the size given in x-amz-mp-object-size."}},
	{CN_EANONOVERRIDE,
	 {400, "InvalidRequest",
	  "Request specific response headers cannot be used for anonymous GET requests."}},
	{CN_ECKMISMATCH,
	 {400, "InvalidRequest",
	  "The checksum algorithm or type does not match the one the multipart upload was created "
	  "with, or the combination is not supported."}},
	{CN_EBADSTORAGECLASS,
	 {400, "InvalidStorageClass", "The storage class you specified is not valid"}},
	{CN_EBADCOPYSRC,
	 {400, "InvalidArgument",
	  "Copy Source must mention the source bucket and key: sourcebucket/sourcekey."}},
	{CN_EBADACL,
	 {400, "MalformedACLError",
	  "The XML you provided was not well-formed or did not validate against our published "
	  "schema."}},
	{CN_EEMAILGRANT,
	 {400, "UnresolvableGrantByEmailAddress",
	  "The email address you provided does not match any account on record."}},
	{CN_EACLCONFLICT,
	 {400, "InvalidRequest",
	  "Specify an ACL in one way only: a canned ACL, grant headers or a request body."}},
	{CN_ENOPOLICY, {404, "NoSuchBucketPolicy", "The bucket policy does not exist"}},
	{CN_ENOWEBSITE,
	 {404, "NoSuchWebsiteConfiguration",
	  "The specified bucket does not have a website configuration"}},
	{CN_ENOREPLICATION,
	 {404, "ReplicationConfigurationNotFoundError",
	  "The replication configuration was not found"}},
	{CN_EBADPOLICY, {400, "MalformedPolicy", "Policies must be valid JSON."}},
	{CN_ENOPAB,
	 {404, "NoSuchPublicAccessBlockConfiguration",
	  "The public access block configuration was not found"}},
	{CN_ENOOWNERSHIP,
	 {404, "OwnershipControlsNotFoundError", "The bucket ownership controls were not found"}},
	{CN_EACLNOTSUPP, {400, "AccessControlListNotSupported", "The bucket does not allow ACLs"}},
	{CN_EACLOWNERSHIP,
	 {400, "InvalidBucketAclWithObjectOwnership",
	  "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"}},
	{CN_EMALFORMEDPOST,
	 {400, "MalformedPOSTRequest",
	  "The body of your POST request is not well-formed multipart/form-data."}},
	{CN_ENOPOSTFILE,
	 {400, "IncorrectNumberOfFilesInPostRequest",
	  "POST requires exactly one file upload per request."}},
	{CN_EPOSTPREDATA,
	 {400, "MaxPostPreDataLengthExceededError",
	  "Your POST request fields preceeding the upload file was too large."}},
	{CN_EPOSTFIELDS,
	 {400, "MalformedPOSTRequest", "Your POST request has too many form fields."}},
	{CN_EBADPOSTENC,
	 {412, "PreconditionFailed",
	  "Bucket POST must be of the enclosure-type multipart/form-data"}},
	{CN_EBADPARTNUM, {416, "InvalidPartNumber", "The requested partnumber is not satisfiable"}},
	{CN_ECORSOFF,
	 {403, "AccessForbidden", "CORSResponse: CORS is not enabled for this bucket."}},
	{CN_ENOLIFECYCLE,
	 {404, "NoSuchLifecycleConfiguration", "The lifecycle configuration does not exist."}},
	{CN_EBADLIFECYCLE, {400, "InvalidRequest", "The lifecycle configuration is not valid."}},
	/* The request's own message (cors_from_xml()'s err) replaces this one. */
	{CN_EBADCORS, {400, "InvalidRequest", "The CORS configuration is not valid."}},
	{CN_ENOCORS, {404, "NoSuchCORSConfiguration", "The CORS configuration does not exist"}},
	{CN_ELOCKED,
	 {403, "AccessDenied", "Access Denied because object protected by object lock."}},
	{CN_ENOLOCKCONF,
	 {404, "ObjectLockConfigurationNotFoundError",
	  "Object Lock configuration does not exist for this bucket"}},
	{CN_ELOCKNOTENABLED,
	 {400, "InvalidRequest", "Bucket is missing Object Lock Configuration"}},
	{CN_ENORETENTION,
	 {404, "NoSuchObjectLockConfiguration",
	  "The specified object does not have a ObjectLock configuration"}},
	{CN_EBUCKETSTATE,
	 {409, "InvalidBucketState",
	  "The request is not valid with the current state of the bucket."}},
	{CN_EDECRYPT,
	 {500, "InternalError",
	  "The object's data could not be decrypted (a different master key, or damaged data)."}},
	{CN_EBADSSE,
	 {400, "InvalidRequest", "The encryption parameters are not applicable to this object."}},
	{CN_ENOSSECONF,
	 {404, "ServerSideEncryptionConfigurationNotFoundError",
	  "The server side encryption configuration was not found"}},
	{CN_EKMSNOKEY, {400, "KMS.NotFoundException", "Invalid keyId"}},
	{CN_ESIGV2OFF,
	 {400, "InvalidRequest",
	  "The authorization mechanism you have provided is not supported. Please use "
	  "AWS4-HMAC-SHA256."}},
	{CN_EMISSINGSECHDR,
	 {400, "MissingSecurityHeader", "Your request was missing a required header"}},
	{CN_EBADTAG,
	 {400, "InvalidTag",
	  "Your request contains tag input that is not valid. For example, your request might "
	  "contain duplicate keys, keys or values that are too long, or system tags."}},
	/* S3 answers a tag count over the limit with BadRequest, not InvalidTag;
	 * the bucket form says "Bucket tag count cannot be greater than 50". */
	{CN_ETAGCOUNT, {400, "BadRequest", "Object tags cannot be greater than 10"}},
	{CN_EBADTAGHDR,
	 {400, "InvalidArgument",
	  "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query "
	  "parameters without tag name duplicates."}},
	{CN_ENOTAGSET, {404, "NoSuchTagSet", "There is no tag set associated with the bucket."}},
	{CN_EDATALOST,
	 {500, "InternalError", "The object's data could not be read: too many shards are lost."}},
	{CN_ENOSPACE, {507, "InsufficientStorage", "The storage is full."}},
	{-ENOSPC, {507, "InsufficientStorage", "The storage is full."}},
	{CN_EDRIVE, {503, "ServiceUnavailable", "A drive is offline."}},
	/* retryable: SDKs back off and retry a 503 SlowDown */
	{CN_ENOLEADER,
	 {503, "SlowDown", "The cluster has no leader this node can reach now; please retry."}},
	{CN_ENOTLEADER,
	 {503, "SlowDown", "The cluster leader changed while serving the request; please retry."}},
	{CN_ELEAVING,
	 {503, "SlowDown",
	  "A node this write was placed on is leaving the cluster; please retry."}},
	{CN_EUNCERTAIN,
	 {500, "InternalError", "We encountered an internal error. Please try again."}},
};

static const struct s3_error internal = {500, "InternalError",
					 "We encountered an internal error. Please try again."};

const struct s3_error *s3_error_lookup(int err)
{
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (tab[i].err == err)
			return &tab[i].e;
	return &internal;
}

void s3_error_xml(struct cn_buf *w, const struct s3_error *e, const struct s3_error_doc *d)
{
	xmlw_decl(w);
	xmlw_open(w, "Error", NULL);
	xmlw_elem(w, "Code", e->code);
	xmlw_elem(w, "Message", e->message);
	for (int i = 0; i < d->n_fields; i++)
		xmlw_elem_n(w, d->fields[i].name, d->fields[i].value, d->fields[i].len);
	if (d->bucket)
		xmlw_elem(w, "BucketName", d->bucket);
	/* both come from the request; XML cannot carry bytes that are not
	 * UTF-8 (a key refused for being such is the usual case) */
	if (d->key && s3_utf8_valid(d->key, d->key_len))
		xmlw_elem_n(w, "Key", d->key, d->key_len);
	if (d->resource && s3_utf8_valid(d->resource, strlen(d->resource)))
		xmlw_elem(w, "Resource", d->resource);
	if (d->request_id)
		xmlw_elem(w, "RequestId", d->request_id);
	xmlw_close(w, "Error");
}
