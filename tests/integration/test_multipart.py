"""
Multipart upload through real clients: CreateMultipartUpload, UploadPart,
UploadPartCopy, CompleteMultipartUpload, AbortMultipartUpload, ListParts,
GET/HEAD by partNumber, the S3 multipart ETag, x-amz-mp-object-size, space
returned by abort and by unlisted/replaced parts, and an `aws s3 cp` of a
100 MiB file.
"""
import hashlib
import os
import shutil
import subprocess
import time

import pytest
from botocore.exceptions import ClientError

from conftest import make_client

MiB = 1 << 20


def mp_etag(parts):
    """S3's multipart ETag: md5 of the concatenated binary part md5s, '-N'."""
    md5s = b"".join(hashlib.md5(p).digest() for p in parts)
    return '"%s-%d"' % (hashlib.md5(md5s).hexdigest(), len(parts))


def err(e):
    return e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def upload(s3, bucket, key, parts, **kw):
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key, **kw)["UploadId"]
    done = []
    for i, p in enumerate(parts, 1):
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=i, Body=p)
        assert r["ETag"] == '"%s"' % hashlib.md5(p).hexdigest()
        done.append({"PartNumber": i, "ETag": r["ETag"]})
    return uid, done


def blob_files(data_dir):
    n = 0
    for root, _dirs, files in os.walk(os.path.join(data_dir, "blobs")):
        n += len(files)
    return n


def wait_blobs(data_dir, want, timeout=15.0):
    """Polls until the drive holds `want` blob shard files (GC runs every 200 ms)."""
    deadline = time.monotonic() + timeout
    while True:
        n = blob_files(data_dir)
        if n == want or time.monotonic() > deadline:
            return n
        time.sleep(0.05)


def test_roundtrip_etag_attrs_and_part_reads(s3, bucket):
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB + 17), os.urandom(1000)]
    uid, done = upload(s3, bucket, "dir/obj", parts, ContentType="text/x-test",
                       Metadata={"color": "blue"})
    r = s3.complete_multipart_upload(Bucket=bucket, Key="dir/obj", UploadId=uid,
                                     MultipartUpload={"Parts": done})
    assert r["ETag"] == mp_etag(parts)
    assert r["Bucket"] == bucket and r["Key"] == "dir/obj"
    assert "VersionId" not in r
    g = s3.get_object(Bucket=bucket, Key="dir/obj")
    assert g["Body"].read() == b"".join(parts)
    assert g["ETag"] == mp_etag(parts)
    assert g["ContentType"] == "text/x-test"
    assert g["Metadata"] == {"color": "blue"}
    assert g["ContentLength"] == sum(map(len, parts))
    # part reads: 206 with the part's bytes and the part count
    off = 0
    for i, p in enumerate(parts, 1):
        g = s3.get_object(Bucket=bucket, Key="dir/obj", PartNumber=i)
        assert g["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert g["PartsCount"] == 3
        assert g["ContentRange"] == "bytes %d-%d/%d" % (off, off + len(p) - 1,
                                                        sum(map(len, parts)))
        assert g["Body"].read() == p
        h = s3.head_object(Bucket=bucket, Key="dir/obj", PartNumber=i)
        assert h["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert h["PartsCount"] == 3 and h["ContentLength"] == len(p)
        off += len(p)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="dir/obj", PartNumber=4)
    assert err(e)[1] == 416
    # a part number and a range together, or a part number out of 1..10000
    for kw, msg in (({"PartNumber": 1, "Range": "bytes=0-1"},
                     "Cannot specify both Range header and partNumber query parameter"),
                    ({"PartNumber": 10001},
                     "Part number must be an integer between 1 and 10000, inclusive")):
        with pytest.raises(ClientError) as e:
            s3.get_object(Bucket=bucket, Key="dir/obj", **kw)
        assert err(e) == ("InvalidArgument", 400), kw
        assert e.value.response["Error"]["Message"] == msg, kw
    # the upload is gone once completed
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="dir/obj", UploadId=uid)
    assert err(e) == ("NoSuchUpload", 404)


def test_single_small_part_and_range(s3, bucket):
    uid, done = upload(s3, bucket, "one", [b"just one small part"])
    r = s3.complete_multipart_upload(Bucket=bucket, Key="one", UploadId=uid,
                                     MultipartUpload={"Parts": done})
    assert r["ETag"] == mp_etag([b"just one small part"])
    g = s3.get_object(Bucket=bucket, Key="one", Range="bytes=5-7")
    assert g["Body"].read() == b"one"


def test_invalid_part_etag_and_number(s3, bucket):
    uid, done = upload(s3, bucket, "k", [os.urandom(5 * MiB), b"tail"])
    bad = [dict(done[0]), done[1]]
    bad[0]["ETag"] = '"%s"' % ("0" * 32)
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid,
                                     MultipartUpload={"Parts": bad})
    assert err(e) == ("InvalidPart", 400)
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid,
                                     MultipartUpload={"Parts": [done[0], {"PartNumber": 3,
                                                                        "ETag": done[1]["ETag"]}]})
    assert err(e) == ("InvalidPart", 400)
    # a failed complete leaves the upload usable
    r = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid,
                                     MultipartUpload={"Parts": done})
    assert r["ETag"].endswith('-2"')


def test_invalid_part_order(s3, bucket):
    uid, done = upload(s3, bucket, "k", [os.urandom(5 * MiB), os.urandom(5 * MiB)])
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid,
                                     MultipartUpload={"Parts": [done[1], done[0]]})
    assert err(e) == ("InvalidPartOrder", 400)
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid,
                                     MultipartUpload={"Parts": [done[0], done[0]]})
    assert err(e) == ("InvalidPartOrder", 400)


def test_entity_too_small(s3, bucket):
    uid, done = upload(s3, bucket, "k", [b"a" * 1024, b"b" * 1024])
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid,
                                     MultipartUpload={"Parts": done})
    assert err(e) == ("EntityTooSmall", 400)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k")
    assert err(e)[1] == 404


def test_no_such_upload(s3, bucket):
    fake = "0" * 32
    for call in (
        lambda: s3.upload_part(Bucket=bucket, Key="k", UploadId=fake, PartNumber=1, Body=b"x"),
        lambda: s3.upload_part(Bucket=bucket, Key="k", UploadId="garbage", PartNumber=1,
                               Body=b"x"),
        lambda: s3.list_parts(Bucket=bucket, Key="k", UploadId=fake),
        lambda: s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=fake),
        lambda: s3.complete_multipart_upload(
            Bucket=bucket, Key="k", UploadId=fake,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"%s"' % ("0" * 32)}]}),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert err(e) == ("NoSuchUpload", 404)
    # an upload id is bound to its key
    uid = s3.create_multipart_upload(Bucket=bucket, Key="real")["UploadId"]
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="other", UploadId=uid, PartNumber=1, Body=b"x")
    assert err(e) == ("NoSuchUpload", 404)


def test_complete_retried_and_complete_of_another_upload(s3, bucket):
    """A Complete retried after its answer was lost gets the same answer
    again (checksum included); a Complete naming an upload that was aborted,
    or never existed, is NoSuchUpload even when its parts list equals the
    current version's (it answered 200 with that version's ETag)."""
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    uid = s3.create_multipart_upload(Bucket=bucket, Key="c", ChecksumAlgorithm="CRC32")["UploadId"]
    r = s3.upload_part(Bucket=bucket, Key="c", UploadId=uid, PartNumber=1, Body=b"data",
                       ChecksumAlgorithm="CRC32")
    done = [{"PartNumber": 1, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]}]
    first = s3.complete_multipart_upload(Bucket=bucket, Key="c", UploadId=uid,
                                         MultipartUpload={"Parts": done})
    again = s3.complete_multipart_upload(Bucket=bucket, Key="c", UploadId=uid,
                                         MultipartUpload={"Parts": done})
    for f in ("ETag", "VersionId", "ChecksumCRC32", "ChecksumType"):  # the last: newer boto3
        assert again.get(f) == first.get(f), (f, first, again)
    assert first["ETag"] and first["VersionId"] and first["ChecksumCRC32"]
    # another upload of the same bytes, aborted, then completed
    uid2, done2 = upload(s3, bucket, "c", [b"data"], Metadata={"who": "second"})
    assert [p["ETag"] for p in done2] == [p["ETag"] for p in done]
    s3.abort_multipart_upload(Bucket=bucket, Key="c", UploadId=uid2)
    for u in (uid2, "0" * 32):
        with pytest.raises(ClientError) as e:
            s3.complete_multipart_upload(Bucket=bucket, Key="c", UploadId=u,
                                         MultipartUpload={"Parts": [
                                             {"PartNumber": 1, "ETag": done[0]["ETag"]}]})
        assert err(e) == ("NoSuchUpload", 404)
    h = s3.head_object(Bucket=bucket, Key="c")
    assert h["VersionId"] == first["VersionId"] and h["Metadata"] == {}
    assert len(s3.list_object_versions(Bucket=bucket)["Versions"]) == 1


def test_part_number_read_of_an_empty_part(s3, bucket):
    """The last part may be empty; reading it by partNumber answered 500
    (GET) and a Content-Range ending before it began (HEAD)."""
    big = os.urandom(5 << 20)
    uid, done = upload(s3, bucket, "e", [big, b""])
    s3.complete_multipart_upload(Bucket=bucket, Key="e", UploadId=uid,
                                 MultipartUpload={"Parts": done})
    g = s3.get_object(Bucket=bucket, Key="e", PartNumber=1)
    assert g["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert g["ContentRange"] == "bytes 0-%d/%d" % (len(big) - 1, len(big))
    assert g["Body"].read() == big and g["PartsCount"] == 2
    for call in (s3.get_object, s3.head_object):
        r = call(Bucket=bucket, Key="e", PartNumber=2)
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 200, r
        assert r["ContentLength"] == 0 and r["PartsCount"] == 2 and "ContentRange" not in r
        if call is s3.get_object:
            assert r["Body"].read() == b""
    # an object of one empty part
    uid, done = upload(s3, bucket, "z", [b""])
    s3.complete_multipart_upload(Bucket=bucket, Key="z", UploadId=uid,
                                 MultipartUpload={"Parts": done})
    for call in (s3.get_object, s3.head_object):
        r = call(Bucket=bucket, Key="z", PartNumber=1)
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 200 and r["ContentLength"] == 0
        assert "ContentRange" not in r
    assert s3.get_object(Bucket=bucket, Key="e")["Body"].read() == big


def test_no_such_bucket(s3):
    with pytest.raises(ClientError) as e:
        s3.create_multipart_upload(Bucket="no-such-bucket-mpu", Key="k")
    assert err(e) == ("NoSuchBucket", 404)


def test_part_number_range(s3, bucket, raw_request, server):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    for n in ("0", "10001", "x", "-1"):
        r = raw_request(server, "PUT", "/%s/k" % bucket, body=b"data",
                        query={"partNumber": n, "uploadId": uid})
        assert r.status == 400 and r.error_code() == "InvalidArgument", (n, r)
        assert r.error_message() == ("Part number must be an integer between 1 and 10000, "
                                     "inclusive"), (n, r)
    r = s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=10000, Body=b"last")
    assert r["ETag"] == '"%s"' % hashlib.md5(b"last").hexdigest()


def test_complete_malformed(s3, bucket, raw_request, server):
    uid, done = upload(s3, bucket, "k", [b"x"])
    for body in (b"<CompleteMultipartUpload></CompleteMultipartUpload>",
                 b"<CompleteMultipartUpload",
                 b"<Other><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></Other>",
                 b"<CompleteMultipartUpload><Part><ETag>x</ETag></Part>"
                 b"</CompleteMultipartUpload>"):
        r = raw_request(server, "POST", "/%s/k" % bucket, body=body, query={"uploadId": uid})
        assert r.status == 400 and r.error_code() == "MalformedXML", (body, r)
    # still completes afterwards
    s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid,
                                 MultipartUpload={"Parts": done})


def test_complete_etag_without_quotes(s3, bucket):
    uid, done = upload(s3, bucket, "k", [b"abc"])
    done[0]["ETag"] = done[0]["ETag"].strip('"')
    r = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid,
                                     MultipartUpload={"Parts": done})
    assert r["ETag"] == mp_etag([b"abc"])


def add_header(s3, op, name, value):
    def hook(request, **kw):
        request.headers[name] = value
    s3.meta.events.register("before-sign.s3.%s" % op, hook)
    return hook


def test_complete_conditional_write(server, bucket):
    s3 = make_client(server)
    add_header(s3, "CompleteMultipartUpload", "If-None-Match", "*")
    uid, done = upload(s3, bucket, "k", [b"first"])
    s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid,
                                 MultipartUpload={"Parts": done})
    uid, done = upload(s3, bucket, "k", [b"second"])
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid,
                                     MultipartUpload={"Parts": done})
    assert err(e) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"first"
    # If-Match with the current ETag succeeds, a stale one fails
    cur = s3.head_object(Bucket=bucket, Key="k")["ETag"]
    s3b = make_client(server)
    add_header(s3b, "CompleteMultipartUpload", "If-Match", '"%s"' % ("1" * 32))
    with pytest.raises(ClientError) as e:
        s3b.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid,
                                      MultipartUpload={"Parts": done})
    assert err(e) == ("PreconditionFailed", 412)
    s3c = make_client(server)
    add_header(s3c, "CompleteMultipartUpload", "If-Match", cur)
    s3c.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid,
                                  MultipartUpload={"Parts": done})
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"second"


def test_complete_mp_object_size(server, bucket):
    """x-amz-mp-object-size (boto3's MpuObjectSize) must be the listed
    parts' total: another number is 400 InvalidRequest, a value that is not
    a number 400 InvalidArgument, and the upload stays to be completed; with
    and without a checksum algorithm (the parts are read on either path)."""
    parts = [os.urandom(5 * MiB), b"tail"]
    total = 5 * MiB + 4
    for alg in (None, "CRC32"):
        key = "sz-%s" % alg
        kw = {"ChecksumAlgorithm": alg} if alg else {}
        s3 = make_client(server)
        uid = s3.create_multipart_upload(Bucket=bucket, Key=key, **kw)["UploadId"]
        done = []
        for i, p in enumerate(parts, 1):
            r = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=i, Body=p, **kw)
            done.append({"PartNumber": i, "ETag": r["ETag"]})
            if alg:  # a composite checksum is made of the parts' (S3 requires them)
                done[-1]["ChecksumCRC32"] = r["ChecksumCRC32"]
        for value, code in ((str(total + 1), "InvalidRequest"), (str(total - 4), "InvalidRequest"),
                            ("12x", "InvalidArgument"), ("", "InvalidArgument"),
                            ("-1", "InvalidArgument"), ("9" * 20, "InvalidArgument")):
            bad = make_client(server)
            add_header(bad, "CompleteMultipartUpload", "x-amz-mp-object-size", value)
            with pytest.raises(ClientError) as e:
                bad.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid,
                                              MultipartUpload={"Parts": done})
            assert err(e) == (code, 400), (alg, value, e.value.response)
        assert len(s3.list_parts(Bucket=bucket, Key=key, UploadId=uid)["Parts"]) == 2
        good = make_client(server)
        add_header(good, "CompleteMultipartUpload", "x-amz-mp-object-size", str(total))
        good.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid,
                                       MultipartUpload={"Parts": done})
        assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == total


def test_versioned_complete(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    uid, done = upload(s3, bucket, "v", [b"one"])
    r1 = s3.complete_multipart_upload(Bucket=bucket, Key="v", UploadId=uid,
                                      MultipartUpload={"Parts": done})
    uid, done = upload(s3, bucket, "v", [b"two"])
    r2 = s3.complete_multipart_upload(Bucket=bucket, Key="v", UploadId=uid,
                                      MultipartUpload={"Parts": done})
    assert r1["VersionId"] and r2["VersionId"] and r1["VersionId"] != r2["VersionId"]
    assert s3.get_object(Bucket=bucket, Key="v", VersionId=r1["VersionId"])["Body"].read() \
        == b"one"
    assert s3.get_object(Bucket=bucket, Key="v")["Body"].read() == b"two"


def test_list_parts_paging(s3, bucket):
    parts = [("part-%d" % i).encode() * (i + 1) for i in range(7)]
    uid, done = upload(s3, bucket, "k", parts)
    seen, marker, pages = [], 0, 0
    while True:
        r = s3.list_parts(Bucket=bucket, Key="k", UploadId=uid, MaxParts=3,
                          PartNumberMarker=marker)
        pages += 1
        assert r["UploadId"] == uid and r["MaxParts"] == 3
        for p in r.get("Parts", []):
            seen.append(p)
        if not r["IsTruncated"]:
            break
        assert r["NextPartNumberMarker"] == seen[-1]["PartNumber"]
        marker = r["NextPartNumberMarker"]
    assert pages == 3
    assert [p["PartNumber"] for p in seen] == list(range(1, 8))
    assert [p["Size"] for p in seen] == [len(p) for p in parts]
    assert [p["ETag"] for p in seen] == [d["ETag"] for d in done]
    assert all(p["LastModified"] for p in seen)
    r = s3.list_parts(Bucket=bucket, Key="k", UploadId=uid, PartNumberMarker=7)
    assert r.get("Parts", []) == [] and not r["IsTruncated"]


def test_replace_part(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=1, Body=b"old")
    e = s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=1, Body=b"new!")["ETag"]
    parts = s3.list_parts(Bucket=bucket, Key="k", UploadId=uid)["Parts"]
    assert len(parts) == 1 and parts[0]["ETag"] == e and parts[0]["Size"] == 4
    s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e}]})
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"new!"


def test_abort(s3, bucket):
    uid, done = upload(s3, bucket, "k", [b"x" * 100])
    r = s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=uid)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="k", UploadId=uid)
    assert err(e) == ("NoSuchUpload", 404)
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid,
                                     MultipartUpload={"Parts": done})
    assert err(e) == ("NoSuchUpload", 404)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k")
    assert err(e)[1] == 404


def test_space_returned(start_server, tmp_path):
    """Abort, replaced parts and parts left out of the complete all go to GC."""
    srv = start_server(tmp_path)
    s3 = make_client(srv)
    s3.create_bucket(Bucket="space")
    base = blob_files(srv.data_dir)
    uid, done = upload(s3, "space", "a", [b"1" * 10, b"2" * 10])
    assert blob_files(srv.data_dir) == base + 2  # small parts are blobs too
    s3.abort_multipart_upload(Bucket="space", Key="a", UploadId=uid)
    assert wait_blobs(srv.data_dir, base) == base
    uid, done = upload(s3, "space", "b", [os.urandom(5 * MiB), b"x", b"y"])
    s3.upload_part(Bucket="space", Key="b", UploadId=uid, PartNumber=1,
                   Body=os.urandom(5 * MiB))  # replaces part 1
    p1 = s3.list_parts(Bucket="space", Key="b", UploadId=uid)["Parts"][0]["ETag"]
    s3.complete_multipart_upload(Bucket="space", Key="b", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": p1}, done[2]]})
    assert wait_blobs(srv.data_dir, base + 2) == base + 2
    assert s3.get_object(Bucket="space", Key="b")["ContentLength"] == 5 * MiB + 1
    s3.delete_object(Bucket="space", Key="b")
    assert wait_blobs(srv.data_dir, base) == base


def test_upload_part_copy(s3, bucket):
    src = os.urandom(6 * MiB + 5)
    s3.put_object(Bucket=bucket, Key="src", Body=src)
    s3.put_object(Bucket=bucket, Key="small", Body=b"tiny source")
    uid = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    r1 = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "src"},
                             CopySourceRange="bytes=1-%d" % (5 * MiB))
    assert r1["CopyPartResult"]["ETag"] == '"%s"' % hashlib.md5(src[1:5 * MiB + 1]).hexdigest()
    assert r1["CopyPartResult"]["LastModified"]
    r2 = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=2,
                             CopySource="%s/src" % bucket)
    assert r2["CopyPartResult"]["ETag"] == '"%s"' % hashlib.md5(src).hexdigest()
    r3 = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=3,
                             CopySource="%s/small" % bucket)
    outside = "Range specified is not valid for source object of size: %d" % len(src)
    form = "The x-amz-copy-source-range value must be of the form bytes=first-last"
    for rng, msg in (("bytes=0-%d" % len(src), outside), ("bytes=5-4", outside),
                     ("bytes=-5", form), ("items=0-1", form), ("bytes=0-1,3-4", form),
                     ("bytes=0-", form)):
        with pytest.raises(ClientError) as e:
            s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=4,
                                CopySource="%s/src" % bucket, CopySourceRange=rng)
        assert err(e) == ("InvalidArgument", 400), rng
        assert e.value.response["Error"]["Message"].startswith(msg), (rng, e.value.response)
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=4,
                            CopySource="%s/nope" % bucket)
    assert err(e) == ("NoSuchKey", 404)
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=4,
                            CopySource="%s/src" % bucket, CopySourceIfMatch='"%s"' % ("0" * 32))
    assert err(e) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId="0" * 32, PartNumber=1,
                            CopySource="%s/src" % bucket)
    assert err(e) == ("NoSuchUpload", 404)
    r = s3.complete_multipart_upload(Bucket=bucket, Key="dst", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": r1["CopyPartResult"]["ETag"]},
                  {"PartNumber": 2, "ETag": r2["CopyPartResult"]["ETag"]},
                  {"PartNumber": 3, "ETag": r3["CopyPartResult"]["ETag"]}]})
    want = src[1:5 * MiB + 1] + src + b"tiny source"
    assert r["ETag"] == mp_etag([src[1:5 * MiB + 1], src, b"tiny source"])
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == want


def test_upload_part_copy_from_multipart_source(s3, bucket):
    parts = [os.urandom(5 * MiB), os.urandom(3 * MiB)]
    uid, done = upload(s3, bucket, "mp", parts)
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid,
                                 MultipartUpload={"Parts": done})
    whole = b"".join(parts)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    # a range spanning the boundary between the source's two parts
    lo, hi = 5 * MiB - 1000, 6 * MiB
    r = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=1,
                            CopySource="%s/mp" % bucket, CopySourceRange="bytes=%d-%d" % (lo, hi))
    s3.complete_multipart_upload(Bucket=bucket, Key="dst", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": r["CopyPartResult"]["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == whole[lo:hi + 1]


@pytest.mark.skipif(shutil.which("aws") is None, reason="aws CLI not installed")
def test_aws_cli_100mib(server, bucket, tmp_path):
    src = tmp_path / "big.bin"
    chunk = os.urandom(MiB)
    with open(src, "wb") as f:
        for i in range(100):
            f.write(bytes([i]) + chunk[1:])
    cfg = tmp_path / "awsconfig"
    cfg.write_text("[default]\nregion = us-east-1\ns3 =\n  multipart_threshold = 8MB\n"
                   "  multipart_chunksize = 8MB\n")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=server.access_key,
               AWS_SECRET_ACCESS_KEY=server.secret_key, AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE=str(cfg), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "nocreds"))
    base = ["aws", "--endpoint-url", server.endpoint]
    subprocess.run(base + ["s3", "cp", str(src), "s3://%s/big.bin" % bucket], env=env,
                   check=True, timeout=300, capture_output=True)
    s3 = make_client(server)
    h = s3.head_object(Bucket=bucket, Key="big.bin")
    assert h["ContentLength"] == 100 * MiB
    assert h["ETag"].endswith('-13"')  # 12 x 8 MiB + 4 MiB
    out = tmp_path / "back.bin"
    subprocess.run(base + ["s3", "cp", "s3://%s/big.bin" % bucket, str(out)], env=env,
                   check=True, timeout=300, capture_output=True)

    def digest(p):
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for b in iter(lambda: f.read(MiB), b""):
                h.update(b)
        return h.hexdigest()
    assert digest(out) == digest(src)
