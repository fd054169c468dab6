"""
Authentication through the real front end: SigV4 header and presigned URLs
from boto3, the aws CLI and curl; clock skew; payload hash, Content-MD5 and
aws-chunked streaming signatures; unsigned streaming with checksum trailers.
Every rejected write is checked to have stored nothing.
"""
import base64
import datetime
import hashlib
import hmac
import os
import re
import shutil
import subprocess
import time
import zlib

import botocore
import pytest
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import REGION, _with_clock, make_client, raw_request, sign_headers

import http.client


def _aws_env(server, key=None, secret=None):
    env = dict(os.environ)
    env.update(AWS_ACCESS_KEY_ID=key or server.access_key,
               AWS_SECRET_ACCESS_KEY=secret or server.secret_key,
               AWS_DEFAULT_REGION=REGION, AWS_EC2_METADATA_DISABLED="true",
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
               AWS_RETRY_MODE="standard", AWS_MAX_ATTEMPTS="1")
    return env


def aws(server, *args, key=None, secret=None):
    return subprocess.run(["aws", "--endpoint-url", server.endpoint, *args],
                          env=_aws_env(server, key, secret), capture_output=True,
                          text=True, timeout=60)


def _client(server, key, secret):
    class Creds:
        pass
    c = Creds()
    c.endpoint, c.access_key, c.secret_key = server.endpoint, key, secret
    return make_client(c)


def assert_absent(s3, bucket, key):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.head_object(Bucket=bucket, Key=key)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def err_code(exc):
    return exc.value.response["Error"]["Code"]


# ---- header signatures ----

def test_boto3_good_keys(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"


def test_boto3_bad_access_key(server, bucket):
    c = _client(server, "NOSUCHKEY", server.secret_key)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        c.list_objects_v2(Bucket=bucket)
    assert err_code(e) == "InvalidAccessKeyId"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_boto3_bad_secret(server, s3, bucket):
    c = _client(server, server.access_key, "wrong-secret")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        c.put_object(Bucket=bucket, Key="bad", Body=b"x")
    assert err_code(e) == "SignatureDoesNotMatch"
    assert_absent(s3, bucket, "bad")


def test_unsigned_request_denied(server, bucket):
    r = raw_request(server, "GET", "/%s" % bucket, sign=False)
    assert r.status == 403, r
    assert r.error_code() == "AccessDenied"


@pytest.mark.skipif(shutil.which("aws") is None, reason="aws CLI not installed")
def test_aws_cli_good_and_bad_keys(server, bucket, tmp_path):
    src = tmp_path / "f.txt"
    src.write_bytes(b"from the cli\n")
    r = aws(server, "s3", "cp", str(src), "s3://%s/cli/f.txt" % bucket)
    assert r.returncode == 0, r.stderr
    r = aws(server, "s3", "ls", "s3://%s/cli/" % bucket)
    assert r.returncode == 0 and "f.txt" in r.stdout, r.stderr
    r = aws(server, "s3api", "list-objects-v2", "--bucket", bucket, key="NOSUCHKEY")
    assert r.returncode != 0 and "InvalidAccessKeyId" in r.stderr, r.stderr
    r = aws(server, "s3api", "list-objects-v2", "--bucket", bucket, secret="nope-nope")
    assert r.returncode != 0 and "SignatureDoesNotMatch" in r.stderr, r.stderr


# ---- presigned URLs ----

@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_presigned_get_with_curl_and_expiry(s3, bucket):
    s3.put_object(Bucket=bucket, Key="p/obj", Body=b"presigned body")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p/obj"},
                                    ExpiresIn=300)
    r = subprocess.run(["curl", "-s", "-S", "-f", url], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"presigned body"

    short = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p/obj"},
                                      ExpiresIn=1)
    time.sleep(2.2)  # the expiry itself is what is tested
    r = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", short], capture_output=True,
                       timeout=30)
    body, _, status = r.stdout.rpartition(b"\n")
    assert status == b"403", r.stdout
    assert b"<Code>AccessDenied</Code>" in body


def test_presigned_tampered_fails(s3, bucket, server):
    s3.put_object(Bucket=bucket, Key="p2", Body=b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p2"},
                                    ExpiresIn=300)
    path = url[len(server.endpoint):].replace("/p2?", "/p3?")
    c = http.client.HTTPConnection(server.host, server.port, timeout=10)
    c.request("GET", path)
    resp = c.getresponse()
    body = resp.read()
    c.close()
    assert resp.status == 403 and b"SignatureDoesNotMatch" in body, body


def test_presigned_parameter_errors(s3, bucket, server):
    """A presigned URL whose parameters are wrong gets S3's codes: 400
    AuthorizationQueryParametersError for X-Amz-Expires past a week or a
    parameter missing, 400 InvalidArgument when an Authorization header
    comes too (not AuthorizationHeaderMalformed: there may be no header)."""
    s3.put_object(Bucket=bucket, Key="pe", Body=b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "pe"},
                                    ExpiresIn=300)
    path = url[len(server.endpoint):]

    def get(p, headers=None):
        c = http.client.HTTPConnection(server.host, server.port, timeout=10)
        c.request("GET", p, headers=headers or {})
        resp = c.getresponse()
        body = resp.read()
        c.close()
        return resp.status, body

    for p, code in ((path.replace("X-Amz-Expires=300", "X-Amz-Expires=604801"),
                     b"AuthorizationQueryParametersError"),
                    (path.replace("X-Amz-Expires=300", "X-Amz-Expires=soon"),
                     b"AuthorizationQueryParametersError"),
                    (re.sub(r"&?X-Amz-Credential=[^&]*", "", path),
                     b"AuthorizationQueryParametersError")):
        status, body = get(p)
        assert status == 400 and b"<Code>" + code + b"</Code>" in body, (p, body)
    status, body = get(path, {"Authorization": "AWS4-HMAC-SHA256 Credential=x"})
    assert status == 400 and b"<Code>InvalidArgument</Code>" in body, body
    assert get(path) == (200, b"x")


def test_presigned_dated_in_the_future(s3, bucket, server):
    """A presigned URL whose X-Amz-Date is further ahead than the allowed
    skew is 403 AccessDenied "Request is not yet valid", as S3 answers (not
    RequestTimeTooSkewed, which is header auth's); a clock ahead by less
    than the skew still works."""
    s3.put_object(Bucket=bucket, Key="pf", Body=b"future")

    def fetch(minutes):
        # botocore's own signer (the CRT one some installs pick for
        # presigning reads its own clock), signing at now + minutes.
        when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=minutes)
        req = AWSRequest(method="GET", url="%s/%s/pf" % (server.endpoint, bucket))
        auth = S3SigV4QueryAuth(Credentials(server.access_key, server.secret_key), "s3", REGION,
                                expires=3600)
        _with_clock(when, auth.add_auth, req)
        assert "X-Amz-Date=" + when.strftime("%Y%m%dT%H%M") in req.url, req.url
        c = http.client.HTTPConnection(server.host, server.port, timeout=10)
        c.request("GET", req.url[len(server.endpoint):])
        resp = c.getresponse()
        body = resp.read()
        c.close()
        return resp.status, body

    status, body = fetch(30)
    assert status == 403, body
    assert b"<Code>AccessDenied</Code>" in body and b"not yet valid" in body, body
    assert fetch(5) == (200, b"future")


def test_presigned_put(s3, bucket, server):
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "pp"},
                                    ExpiresIn=300)
    path = url[len(server.endpoint):]
    c = http.client.HTTPConnection(server.host, server.port, timeout=10)
    c.request("PUT", path, body=b"via presigned put")
    resp = c.getresponse()
    resp.read()
    c.close()
    assert resp.status == 200
    assert s3.get_object(Bucket=bucket, Key="pp")["Body"].read() == b"via presigned put"


# ---- clock skew, payload hash, Content-MD5 ----

def test_request_time_too_skewed(server, bucket, s3):
    off = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)
    r = raw_request(server, "PUT", "/%s/skew" % bucket, body=b"x", date=off)
    assert r.status == 403, r
    assert r.error_code() == "RequestTimeTooSkewed"
    assert_absent(s3, bucket, "skew")
    ahead = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=20)
    r = raw_request(server, "GET", "/%s" % bucket, date=ahead)
    assert r.error_code() == "RequestTimeTooSkewed", r


def test_content_sha256_header_missing(server, bucket, s3):
    """Header auth without x-amz-content-sha256 is 400 InvalidRequest
    naming the header, as S3 answers; nothing is stored."""
    h = sign_headers(server, "PUT", "/%s/nosha" % bucket, body=b"abc")
    h = {k: v for k, v in h.items() if k.lower() != "x-amz-content-sha256"}
    r = raw_request(server, "PUT", "/%s/nosha" % bucket, headers=h, body=b"abc", sign=False)
    assert r.status == 400, r
    assert r.error_code() == "InvalidRequest", r
    assert b"x-amz-content-sha256" in r.body, r
    assert_absent(s3, bucket, "nosha")


def test_content_sha256_mismatch(server, bucket, s3):
    body = b"the body that was signed"
    h = sign_headers(server, "PUT", "/%s/shamis" % bucket, body=body)
    sent = b"a different body, same len!"[:len(body)]
    r = raw_request(server, "PUT", "/%s/shamis" % bucket, headers=h, body=sent, sign=False)
    assert r.status == 400, r
    assert r.error_code() == "XAmzContentSHA256Mismatch"
    assert_absent(s3, bucket, "shamis")


def test_content_sha256_mismatch_large(server, bucket, s3):
    # Large enough to go to a blob rather than inline metadata.
    body = os.urandom(300 * 1024)
    h = sign_headers(server, "PUT", "/%s/shabig" % bucket, body=body)
    sent = body[:-1] + bytes([body[-1] ^ 1])
    r = raw_request(server, "PUT", "/%s/shabig" % bucket, headers=h, body=sent, sign=False)
    assert r.error_code() == "XAmzContentSHA256Mismatch", r
    assert_absent(s3, bucket, "shabig")


def test_unsigned_payload_accepted(server, bucket, s3):
    r = raw_request(server, "PUT", "/%s/unsigned" % bucket, body=b"abc",
                    payload_hash="UNSIGNED-PAYLOAD")
    assert r.status == 200, r
    assert s3.get_object(Bucket=bucket, Key="unsigned")["Body"].read() == b"abc"


@pytest.mark.parametrize("wire,key", [("a%2Fb", "a/b"), ("%7Euser", "~user"),
                                      ("c%2fd%c3%a9", "c/d\u00e9"), ("e%41f", "eAf")])
def test_path_signed_as_sent(server, bucket, s3, wire, key):
    """botocore signs the path exactly as it sends it (S3's rule: encoded
    once, never normalised); a key encoded other than canonically still
    verifies, names the decoded key, and a signature does not carry over to
    another encoding of a different key."""
    body = ("body of " + key).encode()
    r = raw_request(server, "PUT", "/%s/%s" % (bucket, wire), body=body)
    assert r.status == 200, r
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    r = raw_request(server, "GET", "/%s/%s" % (bucket, wire))
    assert r.status == 200 and r.body == body, r
    signed = sign_headers(server, "GET", "/%s/%s" % (bucket, wire))
    r = raw_request(server, "GET", "/%s/%sX" % (bucket, wire), sign=False, headers=signed)
    assert r.status == 403 and r.error_code() == "SignatureDoesNotMatch", r


@pytest.mark.parametrize("query", ["prefix=sent/", "prefix=sent%2fq", "list-type=2&prefix=%73ent/",
                                   "prefix=sent&delimiter=/"])
def test_query_signed_as_sent(server, bucket, s3, query):
    """botocore signs a query given in the URL as it stands (sorted, not
    re-encoded); a raw '/' or lower-case hex in a value still verifies."""
    s3.put_object(Bucket=bucket, Key="sent/q", Body=b"q")
    r = raw_request(server, "GET", "/%s" % bucket, query=query)
    assert r.status == 200, r
    assert b"<Key>sent/q</Key>" in r.body or b"<Prefix>sent/</Prefix>" in r.body, r.body
    signed = sign_headers(server, "GET", "/%s" % bucket, query=query)
    r = raw_request(server, "GET", "/%s" % bucket, query=query + "&max-keys=1", sign=False,
                    headers=signed)
    assert r.status == 403 and r.error_code() == "SignatureDoesNotMatch", r


def test_content_md5(server, bucket, s3):
    body = b"md5 checked body"
    good = base64.b64encode(hashlib.md5(body).digest()).decode()
    r = raw_request(server, "PUT", "/%s/md5ok" % bucket, headers={"Content-MD5": good},
                    body=body)
    assert r.status == 200, r
    bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    r = raw_request(server, "PUT", "/%s/md5bad" % bucket, headers={"Content-MD5": bad},
                    body=body)
    assert r.status == 400 and r.error_code() == "BadDigest", r
    assert_absent(s3, bucket, "md5bad")
    r = raw_request(server, "PUT", "/%s/md5junk" % bucket,
                    headers={"Content-MD5": "not base64!"}, body=body)
    assert r.status == 400 and r.error_code() == "InvalidDigest", r
    assert_absent(s3, bucket, "md5junk")


# ---- aws-chunked streaming ----

def _hmac(key, msg):
    return hmac.new(key, msg.encode() if isinstance(msg, str) else msg,
                    hashlib.sha256).digest()


def _signing_key(secret, date, region=REGION):
    k = _hmac(("AWS4" + secret).encode(), date)
    k = _hmac(k, region)
    k = _hmac(k, "s3")
    return _hmac(k, "aws4_request")


def _chunk_lens(sizes):
    """Encoded length of aws-chunked signed chunks of these sizes (+ final 0)."""
    total = 0
    for n in list(sizes) + [0]:
        total += len("%x" % n) + len(";chunk-signature=") + 64 + 2 + n + 2
    return total


def streaming_put(server, bucket, key, data, chunk=8192, tamper=None):
    """PUT with STREAMING-AWS4-HMAC-SHA256-PAYLOAD, signing each chunk.

    tamper: index of a chunk whose signature is corrupted (or None).
    """
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)]
    path = "/%s/%s" % (bucket, key)
    headers = {
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data)),
        "Content-Length": str(_chunk_lens(len(p) for p in pieces)),
    }
    h = sign_headers(server, "PUT", path, headers=headers,
                     payload_hash="STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    amz_date = h["X-Amz-Date"]
    seed = h["Authorization"].rsplit("Signature=", 1)[1].strip()
    scope = "%s/%s/s3/aws4_request" % (amz_date[:8], REGION)
    key_bytes = _signing_key(server.secret_key, amz_date[:8])
    empty = hashlib.sha256(b"").hexdigest()
    prev = seed
    out = bytearray()
    for i, p in enumerate(pieces + [b""]):
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, prev, empty,
                         hashlib.sha256(p).hexdigest()])
        sig = hmac.new(key_bytes, sts.encode(), hashlib.sha256).hexdigest()
        prev = sig
        if tamper is not None and i == tamper:
            sig = ("0" if sig[0] != "0" else "1") + sig[1:]
        out += b"%x;chunk-signature=%s\r\n" % (len(p), sig.encode())
        out += p + b"\r\n"
    assert len(out) == int(headers["Content-Length"])
    return raw_request(server, "PUT", path, headers=h, body=bytes(out), sign=False)


def test_streaming_signed_upload(server, bucket, s3):
    data = os.urandom(70000)
    r = streaming_put(server, bucket, "stream", data, chunk=16384)
    assert r.status == 200, r
    got = s3.get_object(Bucket=bucket, Key="stream")
    assert got["Body"].read() == data
    assert got["ContentLength"] == len(data)
    assert got["ETag"].strip('"') == hashlib.md5(data).hexdigest()


def test_streaming_signed_small_inline(server, bucket, s3):
    r = streaming_put(server, bucket, "tiny", b"hello, chunks", chunk=5)
    assert r.status == 200, r
    assert s3.get_object(Bucket=bucket, Key="tiny")["Body"].read() == b"hello, chunks"


@pytest.mark.parametrize("which", [0, 2, 5])
def test_streaming_tampered_chunk_signature(server, bucket, s3, which):
    data = os.urandom(5 * 8192)  # chunks 0..4 carry data, 5 is the final one
    r = streaming_put(server, bucket, "tampered", data, chunk=8192, tamper=which)
    assert r.status == 403, r
    assert r.error_code() == "SignatureDoesNotMatch"
    assert_absent(s3, bucket, "tampered")


def _unsigned_trailer_body(data, checksum_b64, chunk=4096):
    out = bytearray()
    for i in range(0, len(data), chunk):
        p = data[i:i + chunk]
        out += b"%x\r\n" % len(p) + p + b"\r\n"
    out += b"0\r\n"
    out += b"x-amz-checksum-crc32:" + checksum_b64.encode() + b"\r\n\r\n"
    return bytes(out)


def _crc32_b64(data):
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


@pytest.mark.parametrize("size", [1000, 200 * 1024])
def test_streaming_unsigned_trailer(server, bucket, s3, size):
    data = os.urandom(size)
    body = _unsigned_trailer_body(data, _crc32_b64(data))
    headers = {"Content-Encoding": "aws-chunked",
               "x-amz-decoded-content-length": str(len(data)),
               "x-amz-trailer": "x-amz-checksum-crc32",
               "Content-Length": str(len(body))}
    r = raw_request(server, "PUT", "/%s/trail" % bucket, headers=headers, body=body,
                    payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    assert r.status == 200, r
    assert s3.get_object(Bucket=bucket, Key="trail")["Body"].read() == data

    bad = _unsigned_trailer_body(data, _crc32_b64(data + b"x"))
    r = raw_request(server, "PUT", "/%s/trailbad" % bucket, headers=headers, body=bad,
                    payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    assert r.status == 400, r
    assert r.error_code() == "BadDigest"
    assert_absent(s3, bucket, "trailbad")
