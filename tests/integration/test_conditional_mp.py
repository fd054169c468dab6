"""
Conditional writes and multipart gaps: If-None-Match with an ETag on
PutObject, a compare-and-swap counter with If-Match from 16 threads that
loses no update, a repeated CompleteMultipartUpload answered like the first,
and GET/HEAD partNumber errors. Headers the Debian boto3 (1.26) cannot send
go through botocore's event hooks, so both client versions run this.
"""
import threading

import pytest
from botocore.exceptions import ClientError

from conftest import make_client, raw_request


def with_headers(client, op, headers):
    """Adds headers to every `op` call of client (before signing)."""
    def add(request, **kw):
        for k, v in headers.items():
            request.headers[k] = v
    client.meta.events.register("before-sign.s3.%s" % op, add)
    return client


def code(e):
    return e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"][
        "HTTPStatusCode"]


def test_if_none_match_etag(server, s3, bucket):
    et = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["ETag"]
    c = with_headers(make_client(server), "PutObject", {"If-None-Match": et})
    with pytest.raises(ClientError) as e:
        c.put_object(Bucket=bucket, Key="k", Body=b"two")
    assert code(e) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"one"
    c2 = with_headers(make_client(server), "PutObject", {"If-None-Match": '"0123"'})
    c2.put_object(Bucket=bucket, Key="k", Body=b"two")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two"
    c2.put_object(Bucket=bucket, Key="new-key", Body=b"x")  # absent key: passes
    # If-Match and an ETag If-None-Match together: not kept, refused
    r = raw_request(server, "PUT", "/%s/k" % bucket, body=b"z",
                    headers={"If-Match": '"a"', "If-None-Match": '"b"'})
    assert r.status == 501, r


def test_cas_counter_16_threads_loses_no_update(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="counter", Body=b"0")
    per_thread = 8
    errors = []

    def worker():
        cl = make_client(server)
        local = threading.local()
        local.etag = None

        def add(request, **kw):
            request.headers["If-Match"] = local.etag
        cl.meta.events.register("before-sign.s3.PutObject", add)
        done = 0
        while done < per_thread:
            try:
                o = cl.get_object(Bucket=bucket, Key="counter")
                n = int(o["Body"].read())
                local.etag = o["ETag"]
                cl.put_object(Bucket=bucket, Key="counter", Body=str(n + 1).encode())
                done += 1
            except ClientError as e:
                if e.response["ResponseMetadata"]["HTTPStatusCode"] not in (409, 412):
                    errors.append(repr(e))
                    return
    ts = [threading.Thread(target=worker) for _ in range(16)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert not errors, errors[:3]
    assert int(s3.get_object(Bucket=bucket, Key="counter")["Body"].read()) == 16 * per_thread


def test_repeated_complete_answers_the_same(s3, bucket):
    u = s3.create_multipart_upload(Bucket=bucket, Key="m")["UploadId"]
    p1 = s3.upload_part(Bucket=bucket, Key="m", UploadId=u, PartNumber=1, Body=b"a" * (5 << 20))
    p2 = s3.upload_part(Bucket=bucket, Key="m", UploadId=u, PartNumber=2, Body=b"b" * 10)
    mp = {"Parts": [{"PartNumber": 1, "ETag": p1["ETag"]}, {"PartNumber": 2, "ETag": p2["ETag"]}]}
    r1 = s3.complete_multipart_upload(Bucket=bucket, Key="m", UploadId=u, MultipartUpload=mp)
    r2 = s3.complete_multipart_upload(Bucket=bucket, Key="m", UploadId=u, MultipartUpload=mp)
    assert r2["ETag"] == r1["ETag"] and r2["Key"] == "m"
    # not the same parts: the upload is gone
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="m", UploadId=u, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": p1["ETag"]}]})
    assert code(e) == ("NoSuchUpload", 404)


def test_part_number_reads(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="single", Body=b"hello")
    r = s3.get_object(Bucket=bucket, Key="single", PartNumber=1)
    assert r["Body"].read() == b"hello"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="single", PartNumber=2)
    assert code(e) == ("InvalidPartNumber", 416)
    u = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    p1 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=u, PartNumber=1, Body=b"a" * (5 << 20))
    p2 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=u, PartNumber=2, Body=b"tail")
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=u, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": p1["ETag"]}, {"PartNumber": 2, "ETag": p2["ETag"]}]})
    r = s3.get_object(Bucket=bucket, Key="mp", PartNumber=2)
    assert r["Body"].read() == b"tail" and r["PartsCount"] == 2
    h = s3.head_object(Bucket=bucket, Key="mp", PartNumber=1)
    assert h["ContentLength"] == 5 << 20 and h["PartsCount"] == 2
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="mp", PartNumber=3)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416
    for bad in ("0", "10001", "x"):
        r = raw_request(server, "GET", "/%s/mp" % bucket, query="partNumber=" + bad)
        assert r.status == 400, (bad, r)


def test_reuploaded_and_out_of_order_parts(s3, bucket):
    """Parts uploaded in any order, one of them uploaded twice: Complete takes
    the parts it names, in part-number order, with the newest upload of each."""
    u = s3.create_multipart_upload(Bucket=bucket, Key="o")["UploadId"]
    p3 = s3.upload_part(Bucket=bucket, Key="o", UploadId=u, PartNumber=3, Body=b"c" * 7)
    p1_old = s3.upload_part(Bucket=bucket, Key="o", UploadId=u, PartNumber=1,
                            Body=b"x" * (5 << 20))
    p2 = s3.upload_part(Bucket=bucket, Key="o", UploadId=u, PartNumber=2, Body=b"b" * (5 << 20))
    p1 = s3.upload_part(Bucket=bucket, Key="o", UploadId=u, PartNumber=1, Body=b"a" * (5 << 20))
    assert p1["ETag"] != p1_old["ETag"]
    # the replaced upload of part 1 is no longer a part
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="o", UploadId=u, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": p1_old["ETag"]},
                      {"PartNumber": 2, "ETag": p2["ETag"]},
                      {"PartNumber": 3, "ETag": p3["ETag"]}]})
    assert code(e) == ("InvalidPart", 400)
    # out of order in the request: refused as S3 does
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="o", UploadId=u, MultipartUpload={
            "Parts": [{"PartNumber": 2, "ETag": p2["ETag"]},
                      {"PartNumber": 1, "ETag": p1["ETag"]}]})
    assert code(e) == ("InvalidPartOrder", 400)
    s3.complete_multipart_upload(Bucket=bucket, Key="o", UploadId=u, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": p1["ETag"]}, {"PartNumber": 2, "ETag": p2["ETag"]},
                  {"PartNumber": 3, "ETag": p3["ETag"]}]})
    body = s3.get_object(Bucket=bucket, Key="o")["Body"].read()
    assert body == b"a" * (5 << 20) + b"b" * (5 << 20) + b"c" * 7


def test_complete_with_if_match_is_a_compare_and_swap(server, s3, bucket):
    et = s3.put_object(Bucket=bucket, Key="cas", Body=b"v1")["ETag"]

    def complete(if_match):
        c = with_headers(make_client(server), "CompleteMultipartUpload", {"If-Match": if_match})
        u = c.create_multipart_upload(Bucket=bucket, Key="cas")["UploadId"]
        p = c.upload_part(Bucket=bucket, Key="cas", UploadId=u, PartNumber=1, Body=b"v2")
        return c.complete_multipart_upload(Bucket=bucket, Key="cas", UploadId=u, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": p["ETag"]}]})
    with pytest.raises(ClientError) as e:
        complete('"00000000000000000000000000000000"')
    assert code(e) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket=bucket, Key="cas")["Body"].read() == b"v1"
    complete(et)
    assert s3.get_object(Bucket=bucket, Key="cas")["Body"].read() == b"v2"
