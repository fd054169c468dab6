"""
Objects and buckets through boto3 (and raw SigV4 requests where a boto3
version cannot send what is needed): content headers and user metadata,
Content-MD5 and x-amz-checksum-* verification, sizes around the inline
threshold and the 1 MiB stripe, ranges, response-* overrides, read
conditionals and their precedence, key encoding, and bucket operations.
"""
import base64
import datetime
import email.header
import hashlib
import http.client
import os
import random
import socket
import time
import urllib.parse
import zlib

import pytest
from botocore.exceptions import ClientError

from conftest import raw_request, sign_headers

KiB = 1 << 10
MiB = 1 << 20


def err(e):
    return (e.value.response["Error"]["Code"],
            e.value.response["ResponseMetadata"]["HTTPStatusCode"])


def quote_key(key):
    return urllib.parse.quote(key, safe="/~")


def obj_path(bucket, key):
    return "/%s/%s" % (bucket, quote_key(key))


# ---- checksums computed independently of the server and of boto3 ----

def _crc_table(poly, width):
    tab = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        tab.append(c)
    return tab, (1 << width) - 1


_CRC32C = _crc_table(0x82F63B78, 32)
_CRC64NVME = _crc_table(0x9A6C9329AC4BC9B5, 64)


def _crc(tabmask, data):
    tab, mask = tabmask
    c = mask
    for b in data:
        c = tab[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ mask


def checksum_b64(alg, data):
    if alg == "crc32":
        raw = (zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "big")
    elif alg == "crc32c":
        raw = _crc(_CRC32C, data).to_bytes(4, "big")
    elif alg == "crc64nvme":
        raw = _crc(_CRC64NVME, data).to_bytes(8, "big")
    elif alg == "sha1":
        raw = hashlib.sha1(data).digest()
    else:
        raw = hashlib.sha256(data).digest()
    return base64.b64encode(raw).decode()


def test_checksum_helpers_known_vectors():
    # The catalogue check values ("123456789") of each algorithm.
    assert _crc(_CRC32C, b"123456789") == 0xE3069283
    assert _crc(_CRC64NVME, b"123456789") == 0xAE8B14860A799888


# ---- content headers and user metadata ----

def test_content_headers_and_user_metadata(s3, bucket):
    expires = datetime.datetime(2031, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc)
    s3.put_object(Bucket=bucket, Key="doc", Body=b"hello",
                  ContentType="text/x-cairn; charset=utf-8", ContentEncoding="identity",
                  ContentDisposition='attachment; filename="a b.txt"',
                  ContentLanguage="de-CH", CacheControl="max-age=60, private",
                  Expires=expires, Metadata={"color": "blue", "Mixed-Case": "Value 1"})
    for resp in (s3.get_object(Bucket=bucket, Key="doc"),
                 s3.head_object(Bucket=bucket, Key="doc")):
        assert resp["ContentType"] == "text/x-cairn; charset=utf-8"
        assert resp["ContentEncoding"] == "identity"
        assert resp["ContentDisposition"] == 'attachment; filename="a b.txt"'
        assert resp["ContentLanguage"] == "de-CH"
        assert resp["CacheControl"] == "max-age=60, private"
        assert resp["Expires"] == expires
        # S3 lower-cases metadata names.
        assert resp["Metadata"] == {"color": "blue", "mixed-case": "Value 1"}
        assert resp["ContentLength"] == 5
        assert resp["ETag"] == '"%s"' % hashlib.md5(b"hello").hexdigest()
    assert s3.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"hello"


def test_default_content_type(s3, bucket, server):
    r = raw_request(server, "PUT", obj_path(bucket, "plain"), body=b"x")
    assert r.status == 200, r
    h = s3.head_object(Bucket=bucket, Key="plain")
    assert h["ContentType"]  # S3 answers binary/octet-stream; something must be set


def test_metadata_too_large(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="big-meta", Body=b"x",
                      Metadata={"a": "v" * 1100, "b": "w" * 1100})
    assert err(e) == ("MetadataTooLarge", 400)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="big-meta")
    assert err(e)[1] == 404
    # Just under 2 KB of user metadata is fine.
    s3.put_object(Bucket=bucket, Key="ok-meta", Body=b"x", Metadata={"a": "v" * 1900})
    assert s3.head_object(Bucket=bucket, Key="ok-meta")["Metadata"]["a"] == "v" * 1900


# ---- Content-MD5 ----

def test_content_md5(s3, bucket, server):
    good = base64.b64encode(hashlib.md5(b"v1").digest()).decode()
    s3.put_object(Bucket=bucket, Key="k", Body=b"v1", ContentMD5=good)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v1"

    wrong = base64.b64encode(hashlib.md5(b"something else").digest()).decode()
    r = raw_request(server, "PUT", obj_path(bucket, "k"), body=b"v2",
                    headers={"Content-MD5": wrong})
    assert (r.status, r.error_code()) == (400, "BadDigest"), r
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v1"

    r = raw_request(server, "PUT", obj_path(bucket, "new"), body=b"v2",
                    headers={"Content-MD5": wrong})
    assert (r.status, r.error_code()) == (400, "BadDigest"), r
    assert raw_request(server, "HEAD", obj_path(bucket, "new")).status == 404

    for bad in ("not base64!", base64.b64encode(b"short").decode()):
        r = raw_request(server, "PUT", obj_path(bucket, "k"), body=b"v3",
                        headers={"Content-MD5": bad})
        assert (r.status, r.error_code()) == (400, "InvalidDigest"), (bad, r)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v1"


def test_content_md5_large_blob(s3, bucket, server):
    body = os.urandom(2 * MiB + 3)
    s3.put_object(Bucket=bucket, Key="big", Body=body)
    wrong = base64.b64encode(hashlib.md5(b"x").digest()).decode()
    r = raw_request(server, "PUT", obj_path(bucket, "big"), body=os.urandom(2 * MiB),
                    headers={"Content-MD5": wrong}, timeout=30)
    assert (r.status, r.error_code()) == (400, "BadDigest"), r
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == body


# ---- x-amz-checksum-* ----

ALGS = ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"]


def put_with_checksum_boto(s3, bucket, key, body, alg):
    """PutObject with boto3's ChecksumAlgorithm; None if this boto3 cannot."""
    try:
        return s3.put_object(Bucket=bucket, Key=key, Body=body, ChecksumAlgorithm=alg.upper())
    except Exception as e:  # old botocore: no CRC64NVME / CRC32C without awscrt
        name = type(e).__name__
        if name in ("ParamValidationError", "MissingDependencyException",
                    "FlexibleChecksumError") or "CRC64NVME" in str(e) \
                or "awscrt" in str(e).lower():
            return None
        raise


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("size", [1000, 200 * KiB])
def test_checksum_stored_and_returned(s3, bucket, server, alg, size):
    body = os.urandom(size)
    want = checksum_b64(alg, body)
    hdr = "x-amz-checksum-%s" % alg

    # Explicit header through a raw request (every client version can do this).
    r = raw_request(server, "PUT", obj_path(bucket, "raw"), body=body, headers={hdr: want})
    assert r.status == 200, r
    assert r.headers.get(hdr) == want
    assert r.headers.get("x-amz-checksum-type") == "FULL_OBJECT"

    # Through boto3's own flexible-checksum support where it has the algorithm.
    if put_with_checksum_boto(s3, bucket, "boto", body, alg) is not None:
        keys = ["raw", "boto"]
    else:
        keys = ["raw"]
    for key in keys:
        for method in ("GET", "HEAD"):
            r = raw_request(server, method, obj_path(bucket, key),
                            headers={"x-amz-checksum-mode": "ENABLED"})
            assert r.status == 200, r
            assert r.headers.get(hdr) == want, (key, method, r.headers)
            if method == "GET":
                assert r.body == body
        # Without checksum mode the checksum is not sent.
        r = raw_request(server, "HEAD", obj_path(bucket, key))
        assert hdr not in r.headers
        # boto3 validates the returned checksum itself when asked to.
        got = s3.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        assert got["Body"].read() == body
        h = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        if alg != "crc64nvme" or "ChecksumCRC64NVME" in h:
            assert h.get("Checksum" + alg.upper()) == want


@pytest.mark.parametrize("alg", ALGS)
def test_checksum_wrong_is_bad_digest(s3, bucket, server, alg):
    s3.put_object(Bucket=bucket, Key="k", Body=b"original")
    body = os.urandom(70 * KiB)
    wrong = checksum_b64(alg, body + b"!")
    r = raw_request(server, "PUT", obj_path(bucket, "k"), body=body,
                    headers={"x-amz-checksum-%s" % alg: wrong})
    assert (r.status, r.error_code()) == (400, "BadDigest"), r
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"original"
    r = raw_request(server, "PUT", obj_path(bucket, "fresh"), body=b"abc",
                    headers={"x-amz-checksum-%s" % alg: checksum_b64(alg, b"abd")})
    assert (r.status, r.error_code()) == (400, "BadDigest"), r
    assert raw_request(server, "HEAD", obj_path(bucket, "fresh")).status == 404


def test_checksum_malformed_value(s3, bucket, server):
    r = raw_request(server, "PUT", obj_path(bucket, "k"), body=b"abc",
                    headers={"x-amz-checksum-crc32": "!!notbase64"})
    assert r.status == 400, r
    assert raw_request(server, "HEAD", obj_path(bucket, "k")).status == 404


# ---- sizes ----

@pytest.mark.parametrize("size", [0, 1, 64 * KiB, 64 * KiB + 1, MiB - 1, MiB, MiB + 1,
                                  3 * MiB + 17])
def test_sizes_byte_exact(s3, bucket, size):
    body = os.urandom(size)
    r = s3.put_object(Bucket=bucket, Key="obj", Body=body)
    assert r["ETag"] == '"%s"' % hashlib.md5(body).hexdigest()
    got = s3.get_object(Bucket=bucket, Key="obj")
    assert got["ContentLength"] == size
    assert got["Body"].read() == body
    assert s3.head_object(Bucket=bucket, Key="obj")["ContentLength"] == size


def _resp_len(resp):
    """Head plus Content-Length of a response whose head is in resp."""
    head, _, _ = resp.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + 4 + int(value)
    return len(head) + 4


def _recv_until(sock, done):
    """What sock brings until done(bytes so far) or the peer closes."""
    data = b""
    while not done(data):
        got = sock.recv(65536)
        if not got:
            break
        data += got
    return data


def _put_head(server, path, headers):
    """The head of a PUT with an unsigned payload, signed, as raw bytes."""
    hdrs = sign_headers(server, "PUT", path, headers, payload_hash="UNSIGNED-PAYLOAD")
    return ("PUT %s HTTP/1.1\r\nHost: %s:%d\r\n" % (path, server.host, server.port) + "".join(
        "%s: %s\r\n" % (k, v) for k, v in hdrs.items() if k.lower() != "host") +
        "\r\n").encode()


def _paced_put(server, path, body, headers, rnd):
    """PUT body over a raw socket in bursts of uneven size with short
    pauses between some of them; returns (status, response)."""
    head = _put_head(server, path, dict(headers, **{"Content-Length": str(len(body))}))
    sock = socket.create_connection((server.host, server.port), timeout=30)
    try:
        sock.sendall(head)
        off = 0
        while off < len(body):
            n = rnd.choice((1, 700, 4 * KiB, 64 * KiB, 300 * KiB, MiB + 13))
            sock.sendall(body[off:off + n])
            off += n
            if rnd.random() < 0.3:
                time.sleep(rnd.choice((0.001, 0.005, 0.02)))
        resp = _recv_until(sock, lambda d: b"\r\n\r\n" in d and len(d) >= _resp_len(d))
    finally:
        sock.close()
    status = int(resp.split(b" ", 2)[1]) if resp.startswith(b"HTTP/1.1 ") else 0
    return status, resp.decode(errors="replace")


def test_blob_digests_follow_the_body_in_order(s3, bucket, server):
    """A body of many upload buffers arriving in uneven bursts, so that at
    times both buffers are still being hashed and written and the bytes the
    parser hands over past the pause wait for one: the ETag (MD5, computed
    by the digest chain), the CRC32 (computed beside the writes) and the
    stored bytes are the body's; a wrong CRC32 on such a body stores
    nothing."""
    rnd = random.Random(11)
    for i, size in enumerate((9 * MiB + 7, 2 * MiB, 3 * MiB + 300 * KiB)):
        body = rnd.randbytes(size)
        path = obj_path(bucket, "paced%d" % i)
        status, resp = _paced_put(server, path, body, {
            "x-amz-checksum-crc32": checksum_b64("crc32", body),
            "Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()}, rnd)
        assert status == 200, resp
        assert 'ETag: "%s"' % hashlib.md5(body).hexdigest() in resp, resp
        r = raw_request(server, "GET", path, headers={"x-amz-checksum-mode": "ENABLED"},
                        timeout=30)
        assert r.status == 200, r
        assert r.headers.get("x-amz-checksum-crc32") == checksum_b64("crc32", body)
        assert r.body == body
    body = rnd.randbytes(5 * MiB + 1)
    status, resp = _paced_put(server, obj_path(bucket, "wrong"), body, {
        "x-amz-checksum-crc32": checksum_b64("crc32", body[:-1] + b"\0")}, rnd)
    assert status == 400 and "BadDigest" in resp, resp
    assert raw_request(server, "HEAD", obj_path(bucket, "wrong")).status == 404


def test_overwrite_blob_with_inline_and_back(s3, bucket):
    for body in (os.urandom(MiB + 5), b"small", os.urandom(100 * KiB), b""):
        s3.put_object(Bucket=bucket, Key="o", Body=body)
        assert s3.get_object(Bucket=bucket, Key="o")["Body"].read() == body


# ---- ranges ----

@pytest.fixture(params=[100, 64 * KiB + 1, 2 * MiB + 10], ids=["inline", "blob", "stripes"])
def ranged(request, s3, bucket):
    body = os.urandom(request.param)
    s3.put_object(Bucket=bucket, Key="r", Body=body)
    return bucket, body


def get_range(s3, bucket, rng):
    g = s3.get_object(Bucket=bucket, Key="r", Range=rng)
    return g["ResponseMetadata"]["HTTPStatusCode"], g.get("ContentRange"), g["Body"].read()


def test_range_forms(s3, ranged):
    bucket, body = ranged
    n = len(body)
    assert get_range(s3, bucket, "bytes=0-0") == (206, "bytes 0-0/%d" % n, body[:1])
    assert get_range(s3, bucket, "bytes=10-20") == (206, "bytes 10-20/%d" % n, body[10:21])
    assert get_range(s3, bucket, "bytes=%d-" % (n - 7)) == \
        (206, "bytes %d-%d/%d" % (n - 7, n - 1, n), body[-7:])
    assert get_range(s3, bucket, "bytes=-5") == \
        (206, "bytes %d-%d/%d" % (n - 5, n - 1, n), body[-5:])
    # Suffix longer than the object: the whole object as a 206.
    assert get_range(s3, bucket, "bytes=-%d" % (n + 100)) == \
        (206, "bytes 0-%d/%d" % (n - 1, n), body)
    # End beyond the object: clipped.
    assert get_range(s3, bucket, "bytes=5-%d" % (n + 1000)) == \
        (206, "bytes 5-%d/%d" % (n - 1, n), body[5:])
    if n > MiB:
        lo, hi = MiB - 3, MiB + 3  # across a stripe boundary
        assert get_range(s3, bucket, "bytes=%d-%d" % (lo, hi))[2] == body[lo:hi + 1]


def test_range_unsatisfiable(server, ranged):
    bucket, body = ranged
    for rng in ("bytes=%d-" % len(body), "bytes=%d-%d" % (len(body) + 5, len(body) + 10)):
        r = raw_request(server, "GET", obj_path(bucket, "r"), headers={"Range": rng})
        assert (r.status, r.error_code()) == (416, "InvalidRange"), r
        assert r.headers.get("content-range") == "bytes */%d" % len(body)


def test_range_multiple_and_malformed_serve_whole(server, ranged):
    bucket, body = ranged
    for rng in ("bytes=0-1,3-4", "bytes=abc", "items=0-5"):
        r = raw_request(server, "GET", obj_path(bucket, "r"), headers={"Range": rng},
                        timeout=30)
        assert r.status == 200, (rng, r)
        assert r.body == body
        assert "content-range" not in r.headers


def test_range_on_empty_object(s3, bucket, server):
    s3.put_object(Bucket=bucket, Key="e", Body=b"")
    r = raw_request(server, "GET", obj_path(bucket, "e"), headers={"Range": "bytes=0-"})
    assert r.status == 416, r
    assert r.headers.get("content-range") == "bytes */0"


# ---- response-* overrides ----

def test_response_overrides(s3, bucket):
    s3.put_object(Bucket=bucket, Key="o", Body=b"data", ContentType="text/plain",
                  CacheControl="no-cache")
    exp = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    g = s3.get_object(Bucket=bucket, Key="o", ResponseContentType="application/x-over",
                      ResponseContentDisposition='inline; filename="x"',
                      ResponseContentEncoding="gzip", ResponseContentLanguage="fr",
                      ResponseCacheControl="max-age=5", ResponseExpires=exp)
    assert g["ContentType"] == "application/x-over"
    assert g["ContentDisposition"] == 'inline; filename="x"'
    assert g["ContentEncoding"] == "gzip"
    assert g["ContentLanguage"] == "fr"
    assert g["CacheControl"] == "max-age=5"
    assert g["Expires"] == exp
    assert g["Body"].read() == b"data"
    # Stored values are untouched.
    h = s3.head_object(Bucket=bucket, Key="o")
    assert h["ContentType"] == "text/plain" and h["CacheControl"] == "no-cache"


# ---- read conditionals ----

@pytest.fixture
def cond_obj(s3, bucket):
    s3.put_object(Bucket=bucket, Key="c", Body=b"conditional body")
    h = s3.head_object(Bucket=bucket, Key="c")
    return bucket, h["ETag"], h["LastModified"]


def status_of(fn, **kw):
    try:
        r = fn(**kw)
        if "Body" in r:
            r["Body"].read()
        return r["ResponseMetadata"]["HTTPStatusCode"]
    except ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"]


DAY = datetime.timedelta(days=1)


@pytest.mark.parametrize("op", ["get_object", "head_object"])
def test_read_conditionals(s3, cond_obj, op):
    bucket, etag, lm = cond_obj
    fn = getattr(s3, op)
    base = dict(Bucket=bucket, Key="c")
    assert status_of(fn, **base, IfMatch=etag) == 200
    assert status_of(fn, **base, IfMatch=etag.strip('"')) == 200
    assert status_of(fn, **base, IfMatch='"0123"') == 412
    assert status_of(fn, **base, IfMatch='"0123", %s' % etag) == 200
    assert status_of(fn, **base, IfMatch="*") == 200
    assert status_of(fn, **base, IfNoneMatch=etag) == 304
    assert status_of(fn, **base, IfNoneMatch="*") == 304
    assert status_of(fn, **base, IfNoneMatch='"0123"') == 200
    assert status_of(fn, **base, IfModifiedSince=lm) == 304
    assert status_of(fn, **base, IfModifiedSince=lm - DAY) == 200
    # A date later than now is not a valid If-Modified-Since (RFC 7232
    # section 3.3): ignored, as S3 ignores it, so the object is sent.
    assert status_of(fn, **base, IfModifiedSince=lm + DAY) == 200
    assert status_of(fn, **base, IfUnmodifiedSince=lm) == 200
    assert status_of(fn, **base, IfUnmodifiedSince=lm + DAY) == 200
    assert status_of(fn, **base, IfUnmodifiedSince=lm - DAY) == 412
    # Precedence (RFC 7232 section 6, as S3 documents it):
    # If-Match true + If-Unmodified-Since false -> 200.
    assert status_of(fn, **base, IfMatch=etag, IfUnmodifiedSince=lm - DAY) == 200
    # If-None-Match false + If-Modified-Since true -> 304.
    assert status_of(fn, **base, IfNoneMatch=etag, IfModifiedSince=lm - DAY) == 304
    # If-Match false wins over anything else -> 412.
    assert status_of(fn, **base, IfMatch='"nope"', IfNoneMatch='"other"') == 412


def test_conditionals_obsolete_date_forms(server, s3, bucket):
    """RFC 9110 5.6.7: a recipient accepts the HTTP date in its two
    obsolete forms too (RFC 850 and asctime), not only IMF-fixdate."""
    s3.put_object(Bucket=bucket, Key="od", Body=b"dates")
    lm = s3.head_object(Bucket=bucket, Key="od")["LastModified"]
    earlier = lm - datetime.timedelta(days=1)
    for when, hdr, want in ((lm, "If-Modified-Since", 304), (earlier, "If-Modified-Since", 200),
                            (earlier, "If-Unmodified-Since", 412),
                            (lm, "If-Unmodified-Since", 200)):
        for form in ("%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"):
            v = when.strftime(form)
            r = raw_request(server, "GET", "/%s/od" % bucket, headers={hdr: v})
            assert r.status == want, (hdr, v, r)


def test_non_ascii_metadata_encoded_word(s3, bucket, server):
    """User metadata that is not US-ASCII goes back out as one RFC 2047
    encoded-word over its UTF-8 bytes, as S3 returns it (user guide, "Working
    with object metadata"), never as raw bytes in a header; ASCII values go
    back as they came."""
    value = "h\u00e9llo \u2713"
    # boto3 refuses such metadata itself; raw clients send the UTF-8 bytes
    path = obj_path(bucket, "meta")
    h = sign_headers(server, "PUT", path, headers={"x-amz-meta-uni": value,
                                                   "x-amz-meta-plain": "just ascii"}, body=b"x")
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    conn.putrequest("PUT", path, skip_host=True, skip_accept_encoding=True)
    if "host" not in {k.lower() for k in h}:
        conn.putheader("Host", "%s:%d" % (server.host, server.port))
    for k, v in h.items():
        conn.putheader(k, v.encode())
    conn.putheader("Content-Length", "1")
    conn.endheaders(b"x")
    resp = conn.getresponse()
    assert resp.status == 200, resp.read()
    conn.close()
    want = "=?UTF-8?B?%s?=" % base64.b64encode(value.encode()).decode()
    for method in ("GET", "HEAD"):
        r = raw_request(server, method, obj_path(bucket, "meta"))
        assert r.status == 200, r
        assert r.headers.get("x-amz-meta-uni") == want, r.headers
        assert r.headers.get("x-amz-meta-plain") == "just ascii"
    got = s3.head_object(Bucket=bucket, Key="meta")["Metadata"]
    assert got["uni"] == want and got["plain"] == "just ascii"
    word = email.header.decode_header(got["uni"])
    assert word[0][0].decode(word[0][1]) == value


def test_read_conditional_responses(server, cond_obj):
    bucket, etag, lm = cond_obj
    r = raw_request(server, "GET", obj_path(bucket, "c"), headers={"If-None-Match": etag})
    assert r.status == 304 and r.body == b""
    assert r.headers.get("etag") == etag
    r = raw_request(server, "GET", obj_path(bucket, "c"), headers={"If-Match": '"x"'})
    assert (r.status, r.error_code()) == (412, "PreconditionFailed"), r
    r = raw_request(server, "HEAD", obj_path(bucket, "c"), headers={"If-Match": '"x"'})
    assert r.status == 412 and r.body == b""
    # An unparseable date is ignored, as by S3.
    r = raw_request(server, "GET", obj_path(bucket, "c"),
                    headers={"If-Modified-Since": "yesterday-ish"})
    assert r.status == 200 and r.body == b"conditional body"


# ---- missing things ----

def test_missing_key_and_bucket(s3, bucket, server):
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="nope")
    assert err(e) == ("NoSuchKey", 404)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="no-such-bucket-cairn-x", Key="nope")
    assert err(e) == ("NoSuchBucket", 404)
    r = raw_request(server, "HEAD", obj_path(bucket, "nope"))
    assert r.status == 404 and r.body == b""
    r = raw_request(server, "HEAD", "/no-such-bucket-cairn-x/k")
    assert r.status == 404 and r.body == b""
    r = s3.delete_object(Bucket=bucket, Key="nope")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket="no-such-bucket-cairn-x", Key="nope")
    assert err(e) == ("NoSuchBucket", 404)


def test_delete_then_get(s3, bucket):
    s3.put_object(Bucket=bucket, Key="d", Body=os.urandom(100 * KiB))
    assert s3.delete_object(Bucket=bucket, Key="d")["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="d")
    assert err(e) == ("NoSuchKey", 404)


def test_put_to_missing_bucket_answers_before_body(server):
    """The server must refuse without reading the (never sent) body."""
    path = "/no-such-bucket-cairn-y/key"
    s = socket.create_connection((server.host, server.port), timeout=10)
    try:
        s.sendall(_put_head(server, path, {"Content-Length": str(10 * MiB)}))
        data = _recv_until(s, lambda d: b"</Error>" in d)
    finally:
        s.close()
    assert data.startswith(b"HTTP/1.1 404"), data[:200]
    assert b"<Code>NoSuchBucket</Code>" in data


# ---- keys ----

KEYS = ["unicode/\u00e9t\u00e9/\u6f22\u5b57/\U0001F600", "with space/and  two", "plus+sign",
        "percent%20literal%", "double//slash", "/leading-slash", "trailing/", "q?a=b&c#frag",
        "tilde~star*paren()", "x" * 1024, ("\u00e9" * 512)]


@pytest.mark.parametrize("key", KEYS, ids=range(len(KEYS)))
def test_key_roundtrip(s3, bucket, key):
    body = key.encode()[:100] + b"-body"
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(body)
    listed = s3.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in listed.get("Contents", [])] == [key]
    s3.delete_object(Bucket=bucket, Key=key)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_similar_keys_are_distinct(s3, bucket):
    keys = ["a b", "a+b", "a%20b", "a%2Bb", "a/b", "a//b"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    for k in keys:
        assert s3.get_object(Bucket=bucket, Key=k)["Body"].read() == k.encode()


def test_key_too_long(s3, bucket):
    for key in ("y" * 1025, "\u00e9" * 513):
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=bucket, Key=key, Body=b"x")
        assert err(e) == ("KeyTooLongError", 400)


# ---- buckets ----

@pytest.mark.parametrize("name", ["UpperCase", "ab", "a" * 64, "192.168.5.4", "a..b",
                                  "-leading", "trailing-", "under_score", "dot-.dash"])
def test_invalid_bucket_names(s3, name):
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=name)
    assert err(e) == ("InvalidBucketName", 400)


@pytest.mark.parametrize("name", ["xn--abc", "sthree-abc", "sthree-configurator-a",
                                  "amzn-s3-demo-abc", "abc-s3alias", "abc--ol-s3", "abc.mrap",
                                  "abc--x-s3", "abc--table-s3"])
def test_reserved_bucket_names(server, name):
    """The prefixes and suffixes S3 reserves are InvalidBucketName (sent
    raw: boto3 would treat a "--x-s3" name as a directory bucket); a name
    that only contains one is fine."""
    r = raw_request(server, "PUT", "/" + name)
    assert (r.status, r.error_code()) == (400, "InvalidBucketName"), (name, r)
    assert raw_request(server, "HEAD", "/" + name).status == 404
    ok = "x" + name.replace(".", "-") + "-ok"
    assert raw_request(server, "PUT", "/" + ok).status == 200, ok
    assert raw_request(server, "DELETE", "/" + ok).status == 204, ok


def test_bucket_lifecycle(s3, server):
    name = "b-life-%s" % os.urandom(4).hex()
    s3.create_bucket(Bucket=name)
    # us-east-1: S3 answers the owner's re-create with 200 (test_bucket_basics
    # has the other regions' 409)
    assert s3.create_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    loc = s3.get_bucket_location(Bucket=name)
    assert loc.get("LocationConstraint") in (None, "", "us-east-1")
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert name in names
    assert names == sorted(names)
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=name)
    assert err(e)[1] == 404
    r = raw_request(server, "HEAD", "/" + name)
    assert r.status == 404 and r.body == b""
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=name)
    assert err(e) == ("NoSuchBucket", 404)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_location(Bucket=name)
    assert err(e) == ("NoSuchBucket", 404)
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_delete_bucket_not_empty_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert err(e) == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket=bucket, Key="k")
    s3.delete_bucket(Bucket=bucket)


def test_delete_bucket_not_empty_versions(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["VersionId"]
    dm = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    # Only a noncurrent version and a delete marker remain.
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert err(e) == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket=bucket, Key="k", VersionId=v)
    # Only the delete marker remains.
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert err(e) == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket=bucket, Key="k", VersionId=dm)
    s3.delete_bucket(Bucket=bucket)


def test_delete_bucket_not_empty_upload(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert err(e) == ("BucketNotEmpty", 409)
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid)
    s3.delete_bucket(Bucket=bucket)


# ---- more edges ----

def test_head_with_range(s3, bucket, server):
    body = os.urandom(100 * KiB)
    s3.put_object(Bucket=bucket, Key="h", Body=body)
    r = raw_request(server, "HEAD", obj_path(bucket, "h"), headers={"Range": "bytes=10-19"})
    assert r.status == 206 and r.body == b""
    assert r.headers.get("content-range") == "bytes 10-19/%d" % len(body)
    assert r.headers.get("content-length") == "10"


def test_dot_segments_are_not_normalized(s3, bucket, server):
    keys = ["dots/./x", "dots/../y", "dots/a/..", "..", "."]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    for k in keys:
        assert s3.get_object(Bucket=bucket, Key=k)["Body"].read() == k.encode()
    got = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert got == sorted(keys)


def test_two_checksum_headers_rejected(s3, bucket, server):
    body = b"two checksums"
    r = raw_request(server, "PUT", obj_path(bucket, "k"), body=body,
                    headers={"x-amz-checksum-crc32": checksum_b64("crc32", body),
                             "x-amz-checksum-sha256": checksum_b64("sha256", body)})
    assert r.status == 400 and r.error_code() == "InvalidArgument", r
    assert r.error_message() == ("Expecting a single x-amz-checksum- header. Multiple checksum "
                                 "Types are not allowed."), r
    assert raw_request(server, "HEAD", obj_path(bucket, "k")).status == 404
    # an algorithm S3 does not have, by header or by the SDK's announcement
    for h in ({"x-amz-checksum-md5": "AAAA"}, {"x-amz-sdk-checksum-algorithm": "MD5"}):
        r = raw_request(server, "PUT", obj_path(bucket, "k"), body=body, headers=h)
        assert r.status == 400 and r.error_code() == "InvalidArgument", (h, r)
        assert r.error_message().startswith("Checksum algorithm provided is unsupported"), r
    assert raw_request(server, "HEAD", obj_path(bucket, "k")).status == 404
    # CreateMultipartUpload says it in the same words
    r = raw_request(server, "POST", obj_path(bucket, "k"), query="uploads",
                    headers={"x-amz-checksum-algorithm": "MD5"})
    assert r.status == 400 and r.error_code() == "InvalidArgument", r
    assert r.error_message().startswith("Checksum algorithm provided is unsupported"), r


def test_sdk_checksum_algorithm_must_match(s3, server, bucket):
    """x-amz-sdk-checksum-algorithm names the checksum the request carries,
    as S3 checks: announced and not sent, or sent under another algorithm
    (header or trailer), is 400 InvalidRequest and stores nothing."""
    body = b"announced"
    path = obj_path(bucket, "sdk")
    r = raw_request(server, "PUT", path, body=body,
                    headers={"x-amz-sdk-checksum-algorithm": "CRC32"})
    assert (r.status, r.error_code()) == (400, "InvalidRequest"), r
    assert r.error_message() == ("x-amz-sdk-checksum-algorithm specified, but no corresponding "
                                 "x-amz-checksum-* or x-amz-trailer headers were found."), r
    r = raw_request(server, "PUT", path, body=body,
                    headers={"x-amz-sdk-checksum-algorithm": "SHA256",
                             "x-amz-checksum-crc32": checksum_b64("crc32", body)})
    assert (r.status, r.error_code()) == (400, "InvalidRequest"), r
    assert r.error_message() == "Value for x-amz-sdk-checksum-algorithm header is invalid.", r
    # a trailer of another algorithm than announced; then announced right
    # (in the case SDKs send it), stored
    chunked = b"%x\r\n%s\r\n0\r\nx-amz-checksum-crc32:%s\r\n\r\n" % (
        len(body), body, checksum_b64("crc32", body).encode())
    for announced, want in (("CRC64NVME", 400), ("crc32", 200)):
        r = raw_request(server, "PUT", path, body=chunked,
                        headers={"Content-Encoding": "aws-chunked",
                                 "x-amz-decoded-content-length": str(len(body)),
                                 "x-amz-trailer": "x-amz-checksum-crc32",
                                 "x-amz-sdk-checksum-algorithm": announced},
                        payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
        assert r.status == want, (announced, r)
        if want == 400:
            assert r.error_code() == "InvalidRequest", r
            assert raw_request(server, "HEAD", path).status == 404
    r = raw_request(server, "PUT", path, body=body,
                    headers={"x-amz-sdk-checksum-algorithm": "CRC32",
                             "x-amz-checksum-crc32": checksum_b64("crc32", body)})
    assert r.status == 200, r
    assert s3.get_object(Bucket=bucket, Key="sdk")["Body"].read() == body
    # and boto3's own ChecksumAlgorithm parameter (which sends the header)
    s3.put_object(Bucket=bucket, Key="sdk2", Body=body, ChecksumAlgorithm="SHA256")
    h = s3.head_object(Bucket=bucket, Key="sdk2", ChecksumMode="ENABLED")
    assert h["ResponseMetadata"]["HTTPHeaders"]["x-amz-checksum-sha256"] == \
        checksum_b64("sha256", body)


def test_entity_too_large_answers_before_body(server, bucket):
    """5 GiB + 1 in one PUT is refused from the headers alone."""
    path = obj_path(bucket, "huge")
    hdrs = sign_headers(server, "PUT", path,
                        headers={"Content-Length": str(5 * (1 << 30) + 1)},
                        payload_hash="UNSIGNED-PAYLOAD")
    s = socket.create_connection((server.host, server.port), timeout=10)
    try:
        req = "PUT %s HTTP/1.1\r\nHost: %s:%d\r\n" % (path, server.host, server.port)
        for k, v in hdrs.items():
            if k.lower() != "host":
                req += "%s: %s\r\n" % (k, v)
        s.sendall((req + "\r\n").encode())
        data = _recv_until(s, lambda d: b"</Error>" in d)
    finally:
        s.close()
    assert data.startswith(b"HTTP/1.1 400"), data[:300]
    assert b"<Code>EntityTooLarge</Code>" in data
    assert raw_request(server, "HEAD", path).status == 404


def test_recreated_bucket_is_empty(s3):
    name = "b-again-%s" % os.urandom(4).hex()
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    v = s3.put_object(Bucket=name, Key="k", Body=b"old")["VersionId"]
    s3.delete_object(Bucket=name, Key="k", VersionId=v)
    s3.delete_bucket(Bucket=name)
    s3.create_bucket(Bucket=name)
    assert s3.list_objects_v2(Bucket=name)["KeyCount"] == 0
    assert "Versions" not in s3.list_object_versions(Bucket=name)
    assert "Status" not in s3.get_bucket_versioning(Bucket=name)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=name, Key="k")
    assert err(e) == ("NoSuchKey", 404)
    s3.delete_bucket(Bucket=name)


def test_null_version_id_on_unversioned_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"plain")
    g = s3.get_object(Bucket=bucket, Key="k", VersionId="null")
    assert g["Body"].read() == b"plain"
    s3.delete_object(Bucket=bucket, Key="k", VersionId="null")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k")
    assert err(e) == ("NoSuchKey", 404)


def test_concurrent_overwrites_and_readers(server, bucket):
    """Writers overwrite one key with blob-sized bodies while readers GET it
    (GC runs every 200 ms with no grace): every GET returns one complete
    written body whose MD5 is its ETag, never a mix or a short read."""
    import threading
    from conftest import make_client
    bodies = [os.urandom(200 * KiB + i) for i in range(6)]
    by_md5 = {hashlib.md5(b).hexdigest(): b for b in bodies}
    make_client(server).put_object(Bucket=bucket, Key="hot", Body=bodies[0])
    stop = threading.Event()
    problems = []
    reads = [0]

    def writer(i):
        c = make_client(server)
        for n in range(15):
            c.put_object(Bucket=bucket, Key="hot", Body=bodies[(i + n) % len(bodies)])

    def reader():
        c = make_client(server)
        while not stop.is_set():
            g = c.get_object(Bucket=bucket, Key="hot")
            data = g["Body"].read()
            etag = g["ETag"].strip('"')
            if etag not in by_md5 or by_md5[etag] != data:
                problems.append((etag, len(data)))
            reads[0] += 1

    ws = [threading.Thread(target=writer, args=(i,)) for i in range(3)]
    rs = [threading.Thread(target=reader) for _ in range(3)]
    for t in ws + rs:
        t.start()
    for t in ws:
        t.join(120)
    stop.set()
    for t in rs:
        t.join(60)
    assert not any(t.is_alive() for t in ws + rs)
    assert not problems, problems[:5]
    assert reads[0] > 0


@pytest.mark.parametrize("alg", ["crc32", "crc32c", "crc64nvme", "sha256"])
def test_checksum_trailer_unsigned_chunked(s3, bucket, server, alg):
    """aws-chunked with an unsigned payload and the checksum in a trailer, as
    current SDKs send by default: right value stored, wrong -> BadDigest."""
    data = os.urandom(150 * KiB)

    def encode(value):
        out = b""
        for i in range(0, len(data), 64 * KiB):
            piece = data[i:i + 64 * KiB]
            out += b"%x\r\n" % len(piece) + piece + b"\r\n"
        return out + b"0\r\nx-amz-checksum-%s:%s\r\n\r\n" % (alg.encode(), value.encode())

    hdr = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data)),
           "x-amz-trailer": "x-amz-checksum-%s" % alg}
    good = checksum_b64(alg, data)
    r = raw_request(server, "PUT", obj_path(bucket, "t"), body=encode(good), headers=hdr,
                    payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    assert r.status == 200, r
    r = raw_request(server, "HEAD", obj_path(bucket, "t"),
                    headers={"x-amz-checksum-mode": "ENABLED"})
    assert r.headers.get("x-amz-checksum-%s" % alg) == good
    assert s3.get_object(Bucket=bucket, Key="t")["Body"].read() == data

    bad = checksum_b64(alg, data + b"x")
    r = raw_request(server, "PUT", obj_path(bucket, "t"), body=encode(bad), headers=hdr,
                    payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    assert (r.status, r.error_code()) == (400, "BadDigest"), r
    assert s3.get_object(Bucket=bucket, Key="t")["Body"].read() == data
