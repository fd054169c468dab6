"""The access log and the server log: the fields of an access-log line (time,
client, request id, user, operation, bucket/key, status, bytes, duration), the
JSON format with escaping, no signature or secret in any log, and the source
of the root credentials logged at start.
"""
import json
import re
import time
import urllib.request

import boto3
from botocore.config import Config

from conftest import SECRET_KEY, make_client, start_server

TEXT_LINE = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) access (?P<method>[A-Z]+) "
    r"(?P<url>\S+) (?P<status>\d{3}) in=(?P<bin>\d+) out=(?P<bout>\d+) us=(?P<us>\d+) "
    r"op=(?P<op>\S+) client=(?P<client>\S+) id=(?P<id>[0-9A-F]{16}) user=(?P<user>\S+)$")


def access_lines(srv, until_op=None):
    """The access lines so far; with until_op, wait (up to 10 s) for a line of
    that operation: a line is written once the response has been sent, so the
    client can read its answer before the server has logged it."""
    deadline = time.monotonic() + 10
    while True:
        lines = [m for m in (TEXT_LINE.match(ln) for ln in srv.log().splitlines()) if m]
        if until_op is None or any(m["op"] == until_op for m in lines) \
                or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_text_access_line_fields(tmp_path, start_server):
    srv = start_server(tmp_path, quiet=False)
    s3 = make_client(srv)
    s3.create_bucket(Bucket="logs")
    s3.put_object(Bucket="logs", Key="dir/obj.txt", Body=b"hello world")
    got = s3.get_object(Bucket="logs", Key="dir/obj.txt")
    rid = got["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]
    assert got["Body"].read() == b"hello world"
    urllib.request.urlopen(srv.endpoint + "/_cairn/health/live").read()
    lines = access_lines(srv, until_op="HealthLive")
    get = [m for m in lines if m["op"] == "GetObject"]
    assert len(get) == 1, srv.log()
    g = get[0]
    assert g["client"] == "127.0.0.1" and g["id"] == rid and g["user"] == srv.access_key
    assert g["method"] == "GET" and g["url"] == "/logs/dir/obj.txt" and g["status"] == "200"
    assert int(g["bout"]) > 11 and int(g["us"]) > 0  # bytes sent: headers and body
    put = [m for m in lines if m["op"] == "PutObject"][0]
    assert put["bin"] == "11" and put["user"] == srv.access_key
    anon = [m for m in lines if m["op"] == "HealthLive"][0]
    assert anon["user"] == "-", anon.group(0)


def test_json_access_and_server_log(tmp_path, start_server):
    srv = start_server(tmp_path, "--log-format", "json", quiet=False)
    s3 = make_client(srv)
    s3.create_bucket(Bucket="jlogs")
    key = 'we"ird\\key\nwith\tcontrols and é ü 日本'
    s3.put_object(Bucket="jlogs", Key=key, Body=b"x" * 5)
    assert s3.get_object(Bucket="jlogs", Key=key)["Body"].read() == b"x" * 5
    deadline = time.monotonic() + 10  # the line follows the response
    while '"op":"GetObject"' not in srv.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    recs = []
    for ln in srv.log().splitlines():
        assert ln.startswith("{") and ln.endswith("}"), "not one JSON object per line: %r" % ln
        recs.append(json.loads(ln))
    assert any(r.get("level") == "info" and "credentials" in r["msg"] for r in recs)
    acc = [r for r in recs if r.get("type") == "access"]
    get = [r for r in acc if r["op"] == "GetObject"]
    assert len(get) == 1, acc
    g = get[0]
    assert g["bucket"] == "jlogs" and g["key"] == key
    assert g["status"] == 200 and g["bytes_out"] > 5 and g["duration_us"] > 0
    assert g["client"] == "127.0.0.1" and g["user"] == srv.access_key
    assert re.fullmatch(r"[0-9A-F]{16}", g["request_id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", g["time"])
    put = [r for r in acc if r["op"] == "PutObject"][0]
    assert put["bytes_in"] == 5 and put["key"] == key


def test_no_signature_or_secret_in_logs(tmp_path, start_server):
    srv = start_server(tmp_path, quiet=False)
    s3 = make_client(srv)
    s3.create_bucket(Bucket="sec")
    s3.put_object(Bucket="sec", Key="k", Body=b"data")
    # presigned, SigV4 and SigV2 (both put the signature in the query)
    v4 = s3.generate_presigned_url("get_object", Params={"Bucket": "sec", "Key": "k"})
    assert "X-Amz-Signature=" in v4
    assert urllib.request.urlopen(v4).read() == b"data"
    v2c = boto3.client("s3", endpoint_url=srv.endpoint, region_name="us-east-1",
                       aws_access_key_id=srv.access_key, aws_secret_access_key=srv.secret_key,
                       config=Config(signature_version="s3", s3={"addressing_style": "path"}))
    v2 = v2c.generate_presigned_url("get_object", Params={"Bucket": "sec", "Key": "k"})
    assert "Signature=" in v2
    assert urllib.request.urlopen(v2).read() == b"data"
    # a bad presigned signature is logged too (as a 403), still without it
    sig = re.search(r"X-Amz-Signature=([0-9a-f]+)", v4).group(1)
    bad = v4.replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
    try:
        urllib.request.urlopen(bad)
        assert False, "forged signature accepted"
    except urllib.error.HTTPError as e:
        assert e.code == 403
    log = srv.log()
    assert len([ln for ln in log.splitlines() if " access " in ln]) >= 6, log
    assert SECRET_KEY not in log
    assert "Signature=" not in log, [ln for ln in log.splitlines() if "Signature=" in ln]
    assert sig not in log


def test_credentials_source_logged(tmp_path, start_server):
    srv = start_server(tmp_path)
    assert "credentials: root access key %s from the environment" % srv.access_key \
        in srv.log(), srv.log()
    assert srv.stop() == 0
    gen = start_server(tmp_path, env={"CAIRN_ROOT_USER": None, "CAIRN_ROOT_PASSWORD": None})
    assert re.search(r"credentials: root access key \S+ generated now, stored in "
                     r"\S+/\.cairn/credentials", gen.log()), gen.log()
    assert gen.stop() == 0
    again = start_server(tmp_path, env={"CAIRN_ROOT_USER": None, "CAIRN_ROOT_PASSWORD": None},
                         data_dir=gen.data_dir)
    assert re.search(r"credentials: root access key \S+ from the file \S+/\.cairn/credentials",
                     again.log()), again.log()
