"""
Bucket CORS: Put/Get/DeleteBucketCors (boto3 and the aws CLI), preflights
from a browser-like request sequence (curl with Origin and
Access-Control-Request-* headers), CORS headers on actual requests, and the
configuration's validation errors.
"""
import json
import os
import subprocess

import pytest
from botocore.exceptions import ClientError

RULES = [
    {"ID": "app", "AllowedOrigins": ["https://app.example.com", "https://*.example.org"],
     "AllowedMethods": ["GET", "PUT"], "AllowedHeaders": ["content-type", "x-amz-*"],
     "ExposeHeaders": ["ETag", "x-amz-version-id"], "MaxAgeSeconds": 600},
    {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]},
]


def curl(server, method, path, headers):
    args = ["curl", "-s", "-i", "-X", method]
    for k, v in headers.items():
        args += ["-H", "%s: %s" % (k, v)]
    out = subprocess.run(args + ["http://%s:%d%s" % (server.host, server.port, path)],
                         capture_output=True, timeout=30).stdout.decode("utf-8", "replace")
    head, _, body = out.partition("\r\n\r\n")
    lines = head.split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body


def test_configuration_round_trip_and_errors(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket=bucket)
    assert e.value.response["Error"]["Code"] == "NoSuchCORSConfiguration"
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    got = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert got[0]["AllowedOrigins"] == RULES[0]["AllowedOrigins"]
    assert got[0]["AllowedMethods"] == ["GET", "PUT"]
    assert got[0]["ExposeHeaders"] == ["ETag", "x-amz-version-id"]
    assert got[0]["MaxAgeSeconds"] == 600 and got[0]["ID"] == "app"
    assert got[1]["AllowedOrigins"] == ["*"]
    for bad, code in ((["PATCH"], "InvalidRequest"),):
        with pytest.raises(ClientError) as e:
            s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
                {"AllowedOrigins": ["*"], "AllowedMethods": bad}]})
        assert e.value.response["Error"]["Code"] == code
        assert "PATCH" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
            {"AllowedOrigins": ["https://*.*.example.com"], "AllowedMethods": ["GET"]}]})
    assert e.value.response["Error"]["Code"] == "InvalidRequest"
    # refused configurations changed nothing
    assert len(s3.get_bucket_cors(Bucket=bucket)["CORSRules"]) == 2
    s3.delete_bucket_cors(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket=bucket)
    assert e.value.response["Error"]["Code"] == "NoSuchCORSConfiguration"


def test_preflights(server, s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    path = "/%s/photos/cat.jpg" % bucket
    st, h, _ = curl(server, "OPTIONS", path, {
        "Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "Content-Type, X-Amz-Meta-Who"})
    assert st == 200, h
    assert h["access-control-allow-origin"] == "https://app.example.com"
    assert h["access-control-allow-methods"] == "GET, PUT"
    assert h["access-control-allow-headers"] == "content-type, x-amz-meta-who"
    assert h["access-control-max-age"] == "600"
    assert h["access-control-allow-credentials"] == "true"
    assert "Origin" in h["vary"]
    # a wildcard origin rule
    st, h, _ = curl(server, "OPTIONS", path, {
        "Origin": "https://shop.example.org", "Access-Control-Request-Method": "GET"})
    assert st == 200 and h["access-control-allow-origin"] == "https://shop.example.org", h
    # the catch-all rule answers "*" for GET from anywhere
    st, h, _ = curl(server, "OPTIONS", path, {
        "Origin": "https://elsewhere.test", "Access-Control-Request-Method": "GET"})
    assert st == 200 and h["access-control-allow-origin"] == "*", h
    assert "access-control-allow-credentials" not in h
    # refused: a method no rule allows for that origin, a header not allowed
    for hdrs in ({"Origin": "https://elsewhere.test", "Access-Control-Request-Method": "PUT"},
                 {"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT",
                  "Access-Control-Request-Headers": "authorization-x"},
                 {"Origin": "https://app.example.com", "Access-Control-Request-Method": "DELETE"}):
        st, h, body = curl(server, "OPTIONS", path, hdrs)
        assert st == 403 and "AccessForbidden" in body and "not allowed" in body, (hdrs, body)
        assert "access-control-allow-origin" not in h


def test_actual_requests_carry_cors_headers(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"hello")
    st, h, body = curl(server, "GET", "/%s/k" % bucket, {"Origin": "https://app.example.com"})
    assert st == 403 and "access-control-allow-origin" not in h  # no configuration yet
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    s3.delete_public_access_block(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::%s/*" % bucket}]}))
    st, h, body = curl(server, "GET", "/%s/k" % bucket, {"Origin": "https://app.example.com"})
    assert st == 200 and body == "hello", (st, h)
    assert h["access-control-allow-origin"] == "https://app.example.com"
    assert h["access-control-expose-headers"] == "ETag, x-amz-version-id"
    # an error answer carries them too, so the page can read it
    st, h, body = curl(server, "GET", "/%s/missing" % bucket,
                       {"Origin": "https://app.example.com"})
    assert st == 403 and h["access-control-allow-origin"] == "https://app.example.com"
    # no Origin, or one no rule matches for the method: no CORS headers
    st, h, _ = curl(server, "GET", "/%s/k" % bucket, {})
    assert st == 200 and "access-control-allow-origin" not in h
    st, h, _ = curl(server, "DELETE", "/%s/k" % bucket, {"Origin": "https://elsewhere.test"})
    assert "access-control-allow-origin" not in h


def test_aws_cli_put_bucket_cors(server, bucket, tmp_path):
    if not os.path.exists("/usr/bin/aws"):
        pytest.skip("no aws CLI")
    cfg = tmp_path / "cfg"
    cfg.write_text("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=server.access_key,
               AWS_SECRET_ACCESS_KEY=server.secret_key, AWS_CONFIG_FILE=str(cfg),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), AWS_PAGER="")
    env.pop("PYTHONPATH", None)
    conf = {"CORSRules": [{"AllowedOrigins": ["https://cli.example"],
                           "AllowedMethods": ["GET", "HEAD"]}]}
    p = subprocess.run(["/usr/bin/aws", "--endpoint-url", server.endpoint, "s3api",
                        "put-bucket-cors", "--bucket", bucket, "--cors-configuration",
                        json.dumps(conf)], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    p = subprocess.run(["/usr/bin/aws", "--endpoint-url", server.endpoint, "s3api",
                        "get-bucket-cors", "--bucket", bucket], env=env, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["CORSRules"][0]["AllowedOrigins"] == ["https://cli.example"]
