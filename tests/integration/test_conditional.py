"""
Conditional writes: PutObject with If-None-Match: * and If-Match: <etag>,
checked inside apply (DESIGN §1.3), so concurrent writers cannot race past
them. The headers go through a botocore event hook, which works on boto3
1.26 (no IfMatch/IfNoneMatch parameters) and on newer versions alike.

AWS documents (user guide, "How to prevent object overwrites with
conditional writes", Conditional write behavior): If-Match on a key with no
current version (or whose current version is a delete marker) answers
404 NoSuchKey; a mismatching ETag answers 412 PreconditionFailed.
"""
import os
import threading

import pytest
from botocore.exceptions import ClientError

from conftest import make_client, raw_request


def err(e):
    return (e.value.response["Error"]["Code"],
            e.value.response["ResponseMetadata"]["HTTPStatusCode"])


def conditional_client(server, **cfg):
    """A boto3 client whose put_object takes extra headers from a thread-local."""
    c = make_client(server, **cfg)
    local = threading.local()

    def add_headers(request, **_kw):
        for k, v in getattr(local, "headers", {}).items():
            request.headers[k] = v

    c.meta.events.register("before-sign.s3.PutObject", add_headers)

    def put(headers, **kw):
        local.headers = headers
        try:
            return c.put_object(**kw)
        finally:
            local.headers = {}

    return c, put


@pytest.fixture
def cput(server):
    return conditional_client(server)


def test_if_none_match_star(cput, bucket):
    c, put = cput
    r = put({"If-None-Match": "*"}, Bucket=bucket, Key="once", Body=b"first")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(ClientError) as e:
        put({"If-None-Match": "*"}, Bucket=bucket, Key="once", Body=b"second")
    assert err(e) == ("PreconditionFailed", 412)
    assert c.get_object(Bucket=bucket, Key="once")["Body"].read() == b"first"
    # Large body (a blob, not inline): refused, nothing replaced.
    with pytest.raises(ClientError) as e:
        put({"If-None-Match": "*"}, Bucket=bucket, Key="once", Body=os.urandom(300 << 10))
    assert err(e) == ("PreconditionFailed", 412)
    assert c.get_object(Bucket=bucket, Key="once")["Body"].read() == b"first"
    # After a delete the key may be created again.
    c.delete_object(Bucket=bucket, Key="once")
    put({"If-None-Match": "*"}, Bucket=bucket, Key="once", Body=b"third")
    assert c.get_object(Bucket=bucket, Key="once")["Body"].read() == b"third"


def test_if_none_match_star_versioned(cput, bucket):
    c, put = cput
    c.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    put({"If-None-Match": "*"}, Bucket=bucket, Key="k", Body=b"1")
    with pytest.raises(ClientError) as e:
        put({"If-None-Match": "*"}, Bucket=bucket, Key="k", Body=b"2")
    assert err(e) == ("PreconditionFailed", 412)
    # A delete marker as current version counts as absent.
    c.delete_object(Bucket=bucket, Key="k")
    put({"If-None-Match": "*"}, Bucket=bucket, Key="k", Body=b"3")
    assert c.get_object(Bucket=bucket, Key="k")["Body"].read() == b"3"


def test_if_none_match_etag_on_put(server, bucket):
    # An ETag in If-None-Match: the write happens unless the current version
    # has that ETag (test_conditional_mp.py has the refusal); no key: written.
    r = raw_request(server, "PUT", "/%s/k" % bucket, body=b"x",
                    headers={"If-None-Match": '"0123456789abcdef0123456789abcdef"'})
    assert r.status == 200, r
    assert raw_request(server, "HEAD", "/%s/k" % bucket).status == 200


def test_if_match(cput, bucket):
    c, put = cput
    etag = c.put_object(Bucket=bucket, Key="k", Body=b"v1")["ETag"]
    r = put({"If-Match": etag}, Bucket=bucket, Key="k", Body=b"v2")
    etag2 = r["ETag"]
    assert c.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v2"
    # The old ETag no longer matches.
    with pytest.raises(ClientError) as e:
        put({"If-Match": etag}, Bucket=bucket, Key="k", Body=b"v3")
    assert err(e) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as e:
        put({"If-Match": '"00000000000000000000000000000000"'}, Bucket=bucket, Key="k",
            Body=os.urandom(200 << 10))
    assert err(e) == ("PreconditionFailed", 412)
    assert c.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v2"
    # Unquoted ETag matches too.
    put({"If-Match": etag2.strip('"')}, Bucket=bucket, Key="k", Body=b"v4")
    assert c.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v4"


def test_if_match_missing_key(cput, bucket):
    """AWS: If-Match on a key without a current version -> 404 NoSuchKey."""
    c, put = cput
    with pytest.raises(ClientError) as e:
        put({"If-Match": '"0123456789abcdef0123456789abcdef"'}, Bucket=bucket, Key="nokey",
            Body=b"x")
    assert err(e) == ("NoSuchKey", 404)
    assert c.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    # Same after a delete.
    etag = c.put_object(Bucket=bucket, Key="gone", Body=b"x")["ETag"]
    c.delete_object(Bucket=bucket, Key="gone")
    with pytest.raises(ClientError) as e:
        put({"If-Match": etag}, Bucket=bucket, Key="gone", Body=b"y")
    assert err(e) == ("NoSuchKey", 404)


def test_if_match_on_delete(server, s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["ETag"]
    r = raw_request(server, "DELETE", "/%s/k" % bucket, headers={"If-Match": '"beef"'})
    assert (r.status, r.error_code()) == (412, "PreconditionFailed"), r
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    r = raw_request(server, "DELETE", "/%s/k" % bucket, headers={"If-Match": etag})
    assert r.status == 204, r
    assert raw_request(server, "HEAD", "/%s/k" % bucket).status == 404


def test_if_match_star_and_missing_key_on_delete(server, s3, bucket):
    """If-Match: * deletes only a key that has a current version; with any
    If-Match, a key with none (never written, deleted, or a delete marker on
    top) is 404 NoSuchKey and nothing is written (user guide, "How to
    perform conditional deletes"). Without If-Match a missing key is 204."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    r = raw_request(server, "DELETE", "/%s/k" % bucket, headers={"If-Match": "*"})
    assert r.status == 204, r
    assert raw_request(server, "HEAD", "/%s/k" % bucket).status == 404
    for im in ("*", '"0123456789abcdef0123456789abcdef"'):
        r = raw_request(server, "DELETE", "/%s/k" % bucket, headers={"If-Match": im})
        assert (r.status, r.error_code()) == (404, "NoSuchKey"), r
    assert raw_request(server, "DELETE", "/%s/k" % bucket).status == 204
    # versioned: a delete marker on top is no current version, and the
    # refused delete writes no second marker
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="v", Body=b"y")
    r = raw_request(server, "DELETE", "/%s/v" % bucket, headers={"If-Match": "*"})
    assert r.status == 204 and r.headers.get("x-amz-delete-marker") == "true", r
    r = raw_request(server, "DELETE", "/%s/v" % bucket, headers={"If-Match": "*"})
    assert (r.status, r.error_code()) == (404, "NoSuchKey"), r
    vs = s3.list_object_versions(Bucket=bucket, Prefix="v")
    assert len(vs.get("Versions", [])) == 1 and len(vs.get("DeleteMarkers", [])) == 1


def test_if_none_match_race(server, bucket):
    """16 writers race to create one key: exactly one wins."""
    n = 16
    barrier = threading.Barrier(n)
    results = [None] * n
    bodies = [("writer %d " % i).encode() * 50 for i in range(n)]

    def worker(i):
        c, put = conditional_client(server)
        barrier.wait(timeout=30)
        try:
            put({"If-None-Match": "*"}, Bucket=bucket, Key="race", Body=bodies[i])
            results[i] = 200
        except ClientError as e:
            results[i] = (e.response["ResponseMetadata"]["HTTPStatusCode"],
                          e.response["Error"]["Code"])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    winners = [i for i, r in enumerate(results) if r == 200]
    assert len(winners) == 1, results
    # S3 may also answer 409 ConditionalRequestConflict to a racing writer.
    assert all(r == 200 or r in ((412, "PreconditionFailed"),
                                 (409, "ConditionalRequestConflict"),
                                 (409, "OperationAborted")) for r in results), results
    s3 = make_client(server)
    assert s3.get_object(Bucket=bucket, Key="race")["Body"].read() == bodies[winners[0]]


def test_if_match_counter_no_lost_update(server, bucket):
    """8 threads do compare-and-swap increments; 200 increments -> exactly 200."""
    s3 = make_client(server)
    s3.put_object(Bucket=bucket, Key="counter", Body=b"0")
    total, n = 200, 8
    per = [total // n + (1 if i < total % n else 0) for i in range(n)]
    errors = []
    conflicts = [0]
    lock = threading.Lock()

    def worker(count):
        c, put = conditional_client(server)
        done = 0
        tries = 0
        while done < count and tries < 20000:
            tries += 1
            g = c.get_object(Bucket=bucket, Key="counter")
            val = int(g["Body"].read())
            try:
                put({"If-Match": g["ETag"]}, Bucket=bucket, Key="counter",
                    Body=str(val + 1).encode())
                done += 1
            except ClientError as e:
                code = e.response["ResponseMetadata"]["HTTPStatusCode"]
                if code not in (409, 412):
                    with lock:
                        errors.append(e.response["Error"])
                    return
                with lock:
                    conflicts[0] += 1
        if done < count:
            with lock:
                errors.append("gave up after %d tries" % tries)

    threads = [threading.Thread(target=worker, args=(p,)) for p in per]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors
    assert int(s3.get_object(Bucket=bucket, Key="counter")["Body"].read()) == total
