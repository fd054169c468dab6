"""
CopyObject through boto3: inline and blob sources, multipart sources, across
buckets, metadata directive COPY/REPLACE, copy onto itself, copy-source
conditions, source version ids, destination conditional writes, encoded
keys, and that a copy owns its data (the source's deletion and GC leave it
intact).
"""
import base64
import datetime
import hashlib
import os
import time
import zlib

import pytest
from botocore.exceptions import ClientError

from conftest import make_client

MiB = 1 << 20


def err(e):
    return e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def md5q(b):
    return '"%s"' % hashlib.md5(b).hexdigest()


def test_copy_small_keeps_attrs(s3, bucket):
    s3.put_object(Bucket=bucket, Key="a", Body=b"hello", ContentType="text/plain",
                  CacheControl="max-age=5", Metadata={"k1": "v1"})
    r = s3.copy_object(Bucket=bucket, Key="b", CopySource={"Bucket": bucket, "Key": "a"})
    assert r["CopyObjectResult"]["ETag"] == md5q(b"hello")
    assert r["CopyObjectResult"]["LastModified"]
    g = s3.get_object(Bucket=bucket, Key="b")
    assert g["Body"].read() == b"hello"
    assert g["ContentType"] == "text/plain" and g["CacheControl"] == "max-age=5"
    assert g["Metadata"] == {"k1": "v1"}
    assert g["ETag"] == md5q(b"hello")


def test_copy_replace_metadata(s3, bucket):
    s3.put_object(Bucket=bucket, Key="a", Body=b"x" * 100, ContentType="text/plain",
                  Metadata={"old": "1"})
    s3.copy_object(Bucket=bucket, Key="b", CopySource="%s/a" % bucket,
                   MetadataDirective="REPLACE", ContentType="application/json",
                   Metadata={"new": "2"})
    h = s3.head_object(Bucket=bucket, Key="b")
    assert h["ContentType"] == "application/json" and h["Metadata"] == {"new": "2"}
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="c", CopySource="%s/a" % bucket,
                       MetadataDirective="BOGUS")
    assert err(e) == ("InvalidArgument", 400)
    assert e.value.response["Error"]["Message"] == "Unknown metadata directive."


def test_copy_onto_itself(s3, bucket):
    s3.put_object(Bucket=bucket, Key="a", Body=b"data", Metadata={"v": "1"})
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="a", CopySource="%s/a" % bucket)
    assert err(e) == ("InvalidRequest", 400)
    s3.copy_object(Bucket=bucket, Key="a", CopySource="%s/a" % bucket,
                   MetadataDirective="REPLACE", Metadata={"v": "2"})
    g = s3.get_object(Bucket=bucket, Key="a")
    assert g["Metadata"] == {"v": "2"} and g["Body"].read() == b"data"


def test_copy_blob_across_buckets(s3, bucket):
    other = bucket + "-dst"
    s3.create_bucket(Bucket=other)
    body = os.urandom(3 * MiB + 123)
    s3.put_object(Bucket=bucket, Key="big", Body=body)
    r = s3.copy_object(Bucket=other, Key="copy/of big", CopySource="%s/big" % bucket)
    assert r["CopyObjectResult"]["ETag"] == md5q(body)
    assert s3.get_object(Bucket=other, Key="copy/of big")["Body"].read() == body
    assert s3.get_object(Bucket=other, Key="copy/of big", Range="bytes=1048570-1048580")[
        "Body"].read() == body[1048570:1048581]


def test_copy_multipart_source_is_single_part(s3, bucket):
    parts = [os.urandom(5 * MiB), os.urandom(MiB + 7)]
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp", Metadata={"m": "p"})["UploadId"]
    done = []
    for i, p in enumerate(parts, 1):
        done.append({"PartNumber": i, "ETag": s3.upload_part(
            Bucket=bucket, Key="mp", UploadId=uid, PartNumber=i, Body=p)["ETag"]})
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid,
                                 MultipartUpload={"Parts": done})
    whole = b"".join(parts)
    r = s3.copy_object(Bucket=bucket, Key="flat", CopySource="%s/mp" % bucket)
    assert r["CopyObjectResult"]["ETag"] == md5q(whole)
    g = s3.get_object(Bucket=bucket, Key="flat")
    assert g["Body"].read() == whole and g["Metadata"] == {"m": "p"}
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="flat", PartNumber=2)
    assert err(e)[1] == 416


def test_copy_missing_source(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="b", CopySource="%s/nope" % bucket)
    assert err(e) == ("NoSuchKey", 404)
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="b", CopySource="no-such-bucket-copy/nope")
    assert err(e) == ("NoSuchBucket", 404)
    s3.put_object(Bucket=bucket, Key="a", Body=b"1")
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket="no-such-bucket-copy", Key="b", CopySource="%s/a" % bucket)
    assert err(e) == ("NoSuchBucket", 404)


def test_copy_bad_source_header(s3, bucket, raw_request, server):
    for src in ("", "justbucket", "/%s/" % bucket, "%s/a%%zz" % bucket):
        r = raw_request(server, "PUT", "/%s/b" % bucket, headers={"x-amz-copy-source": src})
        assert r.status == 400, (src, r)


def test_copy_source_conditions(s3, bucket):
    s3.put_object(Bucket=bucket, Key="a", Body=b"cond")
    etag = md5q(b"cond")
    past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    src = "%s/a" % bucket
    failing = [dict(CopySourceIfMatch='"%s"' % ("0" * 32)),
               dict(CopySourceIfNoneMatch=etag),
               dict(CopySourceIfModifiedSince=future),
               dict(CopySourceIfUnmodifiedSince=past)]
    for kw in failing:
        with pytest.raises(ClientError) as e:
            s3.copy_object(Bucket=bucket, Key="b", CopySource=src, **kw)
        assert err(e) == ("PreconditionFailed", 412), kw
    passing = [dict(CopySourceIfMatch=etag),
               dict(CopySourceIfNoneMatch='"%s"' % ("0" * 32)),
               dict(CopySourceIfModifiedSince=past),
               dict(CopySourceIfUnmodifiedSince=future),
               # a true if-match wins over a false if-unmodified-since
               dict(CopySourceIfMatch=etag, CopySourceIfUnmodifiedSince=past)]
    for kw in passing:
        r = s3.copy_object(Bucket=bucket, Key="b", CopySource=src, **kw)
        assert r["CopyObjectResult"]["ETag"] == etag, kw


def test_copy_source_version(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="a", Body=b"one")["VersionId"]
    s3.put_object(Bucket=bucket, Key="a", Body=os.urandom(200 * 1024))
    r = s3.copy_object(Bucket=bucket, Key="b",
                       CopySource={"Bucket": bucket, "Key": "a", "VersionId": v1})
    assert r["CopySourceVersionId"] == v1
    assert r["VersionId"] and r["VersionId"] != v1
    assert s3.get_object(Bucket=bucket, Key="b")["Body"].read() == b"one"
    # restoring an old version onto the same key is allowed
    r = s3.copy_object(Bucket=bucket, Key="a",
                       CopySource={"Bucket": bucket, "Key": "a", "VersionId": v1})
    assert s3.get_object(Bucket=bucket, Key="a")["Body"].read() == b"one"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="c",
                       CopySource={"Bucket": bucket, "Key": "a", "VersionId": "f" * 32})
    assert err(e) == ("NoSuchVersion", 404)


def add_header(s3, op, name, value):
    def hook(request, **kw):
        request.headers[name] = value
    s3.meta.events.register("before-sign.s3.%s" % op, hook)


def test_copy_destination_conditional(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"S")
    s3.put_object(Bucket=bucket, Key="dst", Body=b"D")
    c = make_client(server)
    add_header(c, "CopyObject", "If-None-Match", "*")
    with pytest.raises(ClientError) as e:
        c.copy_object(Bucket=bucket, Key="dst", CopySource="%s/src" % bucket)
    assert err(e) == ("PreconditionFailed", 412)
    c.copy_object(Bucket=bucket, Key="fresh", CopySource="%s/src" % bucket)
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"D"
    c2 = make_client(server)
    add_header(c2, "CopyObject", "If-Match", md5q(b"D"))
    c2.copy_object(Bucket=bucket, Key="dst", CopySource="%s/src" % bucket)
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"S"


def ck_crc32(b):
    return base64.b64encode(zlib.crc32(b).to_bytes(4, "big")).decode()


def ck_sha(name, b):
    return base64.b64encode(hashlib.new(name, b).digest()).decode()


def checksums(s3, bucket, key):
    h = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    return {k: v for k, v in h.items() if k.startswith("Checksum") and k != "ChecksumType"}


def test_copy_checksum_algorithm(server, s3, bucket):
    """x-amz-checksum-algorithm on CopyObject (API reference): the copy gets
    that checksum, computed over the bytes copied (inline and blob sources,
    a multipart source, and in place: S3's way to give an object another
    checksum); CopyObjectResult names it. Without the header the source's
    full-object checksum is kept, and a composite one's algorithm is
    computed over the copy; an unknown algorithm is 400."""
    small = b"hello, checksum"
    big = os.urandom(3 * MiB + 17)
    s3.put_object(Bucket=bucket, Key="small", Body=small, ChecksumAlgorithm="SHA256")
    s3.put_object(Bucket=bucket, Key="big", Body=big)
    r = s3.copy_object(Bucket=bucket, Key="c1", CopySource="%s/small" % bucket,
                       ChecksumAlgorithm="CRC32")
    assert r["CopyObjectResult"]["ChecksumCRC32"] == ck_crc32(small)
    assert checksums(s3, bucket, "c1") == {"ChecksumCRC32": ck_crc32(small)}
    r = s3.copy_object(Bucket=bucket, Key="c2", CopySource="%s/big" % bucket,
                       ChecksumAlgorithm="SHA256")
    assert r["CopyObjectResult"]["ChecksumSHA256"] == ck_sha("sha256", big)
    assert checksums(s3, bucket, "c2") == {"ChecksumSHA256": ck_sha("sha256", big)}
    assert s3.get_object(Bucket=bucket, Key="c2")["Body"].read() == big
    # no header: the source's checksum travels, and the result says so
    r = s3.copy_object(Bucket=bucket, Key="c3", CopySource="%s/small" % bucket)
    assert r["CopyObjectResult"]["ChecksumSHA256"] == ck_sha("sha256", small)
    # in place: allowed when it names an algorithm, and replaces the checksum
    s3.copy_object(Bucket=bucket, Key="small", CopySource="%s/small" % bucket,
                   ChecksumAlgorithm="SHA1")
    assert checksums(s3, bucket, "small") == {"ChecksumSHA1": ck_sha("sha1", small)}
    assert s3.get_object(Bucket=bucket, Key="small")["Body"].read() == small
    # a composite multipart source gets a full-object checksum of its bytes
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm="CRC32")
    p1, p2 = os.urandom(5 * MiB), b"tail"
    parts = []
    for i, body in enumerate((p1, p2), 1):
        pr = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=i,
                            Body=body, ChecksumAlgorithm="CRC32")
        parts.append({"PartNumber": i, "ETag": pr["ETag"], "ChecksumCRC32": pr["ChecksumCRC32"]})
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": parts})
    s3.copy_object(Bucket=bucket, Key="c4", CopySource="%s/mp" % bucket,
                   ChecksumAlgorithm="CRC32")
    assert checksums(s3, bucket, "c4") == {"ChecksumCRC32": ck_crc32(p1 + p2)}
    # ... and without the header too: S3 carries the source's algorithm over
    r = s3.copy_object(Bucket=bucket, Key="c6", CopySource="%s/mp" % bucket)
    assert r["CopyObjectResult"]["ChecksumCRC32"] == ck_crc32(p1 + p2)
    assert checksums(s3, bucket, "c6") == {"ChecksumCRC32": ck_crc32(p1 + p2)}
    c = make_client(server)
    add_header(c, "CopyObject", "x-amz-checksum-algorithm", "BOGUS")
    with pytest.raises(ClientError) as e:
        c.copy_object(Bucket=bucket, Key="c5", CopySource="%s/small" % bucket)
    assert err(e)[1] == 400
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="c5")


def test_copy_encoded_keys(s3, bucket):
    keys = ["sp ace/plus+sign", "q?mark&amp=1", "unicodé/ключ/鍵", "pct%2Fliteral", "a" * 1024]
    for i, k in enumerate(keys):
        body = ("body-%d" % i).encode()
        s3.put_object(Bucket=bucket, Key=k, Body=body)
        s3.copy_object(Bucket=bucket, Key="dst/%d" % i, CopySource={"Bucket": bucket, "Key": k})
        assert s3.get_object(Bucket=bucket, Key="dst/%d" % i)["Body"].read() == body
        # and onto a long key
        s3.copy_object(Bucket=bucket, Key=k[:1000] + "-copy",
                       CopySource={"Bucket": bucket, "Key": k})
        assert s3.get_object(Bucket=bucket, Key=k[:1000] + "-copy")["Body"].read() == body


def blob_files(data_dir):
    return sum(len(f) for _r, _d, f in os.walk(os.path.join(data_dir, "blobs")))


def test_copy_owns_its_data(start_server, tmp_path):
    srv = start_server(tmp_path)
    s3 = make_client(srv)
    s3.create_bucket(Bucket="own")
    body = os.urandom(2 * MiB)
    s3.put_object(Bucket="own", Key="src", Body=body)
    n1 = blob_files(srv.data_dir)
    s3.copy_object(Bucket="own", Key="dst", CopySource="own/src")
    assert blob_files(srv.data_dir) == 2 * n1  # a new blob, not a shared one
    s3.delete_object(Bucket="own", Key="src")
    deadline = time.monotonic() + 15
    while blob_files(srv.data_dir) != n1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert blob_files(srv.data_dir) == n1
    assert s3.get_object(Bucket="own", Key="dst")["Body"].read() == body
