"""
DeleteObjects (POST /bucket?delete): per-key results, quiet mode, versioned
buckets (delete markers, deleting versions and markers by id), request
limits and validation (MalformedXML, Content-MD5), keys XML must escape.
"""
import base64
import hashlib
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

import pytest
from botocore.exceptions import ClientError

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def keys_of(s3, bucket):
    r = s3.list_objects_v2(Bucket=bucket)
    return [c["Key"] for c in r.get("Contents", [])]


def delete_body(objs, quiet=None):
    parts = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">']
    if quiet is not None:
        parts.append("<Quiet>%s</Quiet>" % quiet)
    for o in objs:
        if isinstance(o, tuple):
            parts.append("<Object><Key>%s</Key><VersionId>%s</VersionId></Object>"
                         % (escape(o[0]), o[1]))
        else:
            parts.append("<Object><Key>%s</Key></Object>" % escape(o))
    parts.append("</Delete>")
    return "".join(parts).encode()


def post_delete(raw_request, server, bucket, body, md5=True, headers=None):
    h = dict(headers or {})
    if md5:
        h["Content-MD5"] = base64.b64encode(hashlib.md5(body).digest()).decode()
    return raw_request(server, "POST", "/" + bucket, query="delete=", body=body, headers=h)


def test_basic(s3, bucket):
    for k in ["a", "b", "c", "keep"]:
        s3.put_object(Bucket=bucket, Key=k, Body=b"data")
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "a"}, {"Key": "b"}, {"Key": "missing"}, {"Key": "c"}]})
    assert [d["Key"] for d in r["Deleted"]] == ["a", "b", "missing", "c"]
    assert "Errors" not in r
    for d in r["Deleted"]:
        assert "DeleteMarker" not in d and "VersionId" not in d
    assert keys_of(s3, bucket) == ["keep"]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="a")
    assert e.value.response["Error"]["Code"] == "NoSuchKey"


def test_quiet(s3, bucket):
    s3.put_object(Bucket=bucket, Key="x", Body=b"1")
    s3.put_object(Bucket=bucket, Key="y", Body=b"2")
    r = s3.delete_objects(Bucket=bucket, Delete={"Quiet": True, "Objects": [
        {"Key": "x"}, {"Key": "y", "VersionId": "not-a-version"}]})
    assert "Deleted" not in r
    assert [(e["Key"], e["Code"]) for e in r["Errors"]] == [("y", "InvalidArgument")]
    assert r["Errors"][0]["VersionId"] == "not-a-version"
    assert keys_of(s3, bucket) == ["y"]


def test_versioned(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"1")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"22")["VersionId"]
    o1 = s3.put_object(Bucket=bucket, Key="other", Body=b"o")["VersionId"]

    # without a version id: a delete marker per key
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k"}]})
    (d,) = r["Deleted"]
    assert d["Key"] == "k" and d["DeleteMarker"] is True
    dm = d["DeleteMarkerVersionId"]
    assert dm not in (v1, v2, "null")
    assert "VersionId" not in d
    assert keys_of(s3, bucket) == ["other"]
    lv = s3.list_object_versions(Bucket=bucket, Prefix="k")
    assert [(m["VersionId"], m["IsLatest"]) for m in lv["DeleteMarkers"]] == [(dm, True)]
    assert [v["VersionId"] for v in lv["Versions"]] == [v2, v1]

    # by id: a version, the marker (which brings k back), a missing version
    missing = "0" * 32
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "k", "VersionId": v1}, {"Key": "k", "VersionId": dm},
        {"Key": "other", "VersionId": missing}]})
    assert "Errors" not in r
    got = {(d["Key"], d["VersionId"]): d for d in r["Deleted"]}
    assert set(got) == {("k", v1), ("k", dm), ("other", missing)}
    assert "DeleteMarker" not in got[("k", v1)]
    assert got[("k", dm)]["DeleteMarker"] is True
    assert got[("k", dm)]["DeleteMarkerVersionId"] == dm
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"22"
    lv = s3.list_object_versions(Bucket=bucket)
    assert [(v["Key"], v["VersionId"]) for v in lv["Versions"]] == [("k", v2), ("other", o1)]
    assert "DeleteMarkers" not in lv


def test_suspended_null_marker(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    s3.put_object(Bucket=bucket, Key="s", Body=b"s")
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "s"}]})
    (d,) = r["Deleted"]
    assert d["DeleteMarker"] is True and d["DeleteMarkerVersionId"] == "null"
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "s", "VersionId": "null"}]})
    (d,) = r["Deleted"]
    assert d["VersionId"] == "null" and d["DeleteMarker"] is True
    assert "Versions" not in s3.list_object_versions(Bucket=bucket)
    assert "DeleteMarkers" not in s3.list_object_versions(Bucket=bucket)


ODD = ["a b", "amp&lt<gt>\"'", "caf\u00e9/\u65e5\u672c", "tab\tin", "nl\nin", "plus+%25"]


def test_odd_keys(s3, bucket):
    for k in ODD:
        s3.put_object(Bucket=bucket, Key=k, Body=b"")
    s3.put_object(Bucket=bucket, Key="stay", Body=b"")
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in ODD]})
    assert sorted(d["Key"] for d in r["Deleted"]) == sorted(ODD)
    assert keys_of(s3, bucket) == ["stay"]


def test_thousand_keys(s3, bucket, server, raw_request):
    keys = ["many/%04d" % i for i in range(1000)]
    import concurrent.futures as cf
    with cf.ThreadPoolExecutor(16) as ex:
        list(ex.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=b""), keys[:200]))
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert [d["Key"] for d in r["Deleted"]] == keys
    assert keys_of(s3, bucket) == []
    # 1001 is one too many
    resp = post_delete(raw_request, server, bucket, delete_body(keys + ["one-more"]))
    assert resp.status == 400 and resp.error_code() == "MalformedXML", resp


@pytest.mark.parametrize("body", [
    b"",
    b"not xml at all",
    b"<Delete></Delete>",
    b"<Delete><Quiet>true</Quiet></Delete>",
    b"<Remove><Object><Key>a</Key></Object></Remove>",
    b"<Delete><Object><VersionId>null</VersionId></Object></Delete>",
    b"<Delete><Object><Key></Key></Object></Delete>",
    b"<Delete><Object><Key>a</Key></Object>",
])
def test_malformed(s3, bucket, server, raw_request, body):
    s3.put_object(Bucket=bucket, Key="a", Body=b"")
    resp = post_delete(raw_request, server, bucket, body)
    assert resp.status == 400 and resp.error_code() == "MalformedXML", resp
    assert keys_of(s3, bucket) == ["a"]


def test_checksums(s3, bucket, server, raw_request):
    s3.put_object(Bucket=bucket, Key="a", Body=b"")
    s3.put_object(Bucket=bucket, Key="b", Body=b"")
    body = delete_body(["a"])
    bad = base64.b64encode(hashlib.md5(b"something else").digest()).decode()
    resp = post_delete(raw_request, server, bucket, body, md5=False,
                       headers={"Content-MD5": bad})
    assert resp.status == 400 and resp.error_code() == "BadDigest", resp
    assert keys_of(s3, bucket) == ["a", "b"]
    # neither Content-MD5 nor a checksum: refused, as S3 does, nothing deleted
    resp = post_delete(raw_request, server, bucket, body, md5=False)
    assert resp.status == 400 and resp.error_code() == "InvalidRequest", resp
    assert keys_of(s3, bucket) == ["a", "b"]
    # a malformed Content-MD5 (not 16 bytes) is InvalidDigest, before the body
    resp = post_delete(raw_request, server, bucket, body, md5=False,
                       headers={"Content-MD5": "AAAA" * 6})
    assert resp.status == 400 and resp.error_code() == "InvalidDigest", resp
    resp = post_delete(raw_request, server, bucket, body)
    assert resp.status == 200, resp
    root = ET.fromstring(resp.body)
    assert root.tag == NS + "DeleteResult"
    assert [e.text for e in root.findall(NS + "Deleted/" + NS + "Key")] == ["a"]
    # an x-amz-checksum-sha256 instead of Content-MD5
    body = delete_body(["b"], quiet="true")
    ck = base64.b64encode(hashlib.sha256(body).digest()).decode()
    resp = post_delete(raw_request, server, bucket, body, md5=False,
                       headers={"x-amz-checksum-sha256": ck})
    assert resp.status == 200, resp
    assert ET.fromstring(resp.body).find(NS + "Deleted") is None
    assert keys_of(s3, bucket) == []


def test_per_key_errors(s3, bucket, server, raw_request):
    s3.put_object(Bucket=bucket, Key="ok", Body=b"")
    long_key = "L" * 1025
    resp = post_delete(raw_request, server, bucket,
                       delete_body([long_key, "ok", ("ok2", "bogus")]))
    assert resp.status == 200, resp
    root = ET.fromstring(resp.body)
    errs = [(e.find(NS + "Key").text, e.find(NS + "Code").text)
            for e in root.findall(NS + "Error")]
    assert errs == [(long_key, "KeyTooLongError"), ("ok2", "InvalidArgument")]
    assert [e.text for e in root.findall(NS + "Deleted/" + NS + "Key")] == ["ok"]
    assert keys_of(s3, bucket) == []


def test_no_such_bucket(s3):
    with pytest.raises(ClientError) as e:
        s3.delete_objects(Bucket="no-such-bucket-del", Delete={"Objects": [{"Key": "a"}]})
    assert e.value.response["Error"]["Code"] == "NoSuchBucket"


def test_conditional_etag(s3, bucket, server, raw_request):
    """<ETag> in an <Object> makes that key's delete conditional, as If-Match
    on DeleteObject (user guide, "How to perform conditional deletes"): a
    mismatch or a key with no current version is that key's <Error>, and the
    object stays; a match deletes it. boto3 1.26 has no ETag member, so the
    body goes raw."""
    keep = s3.put_object(Bucket=bucket, Key="keep", Body=b"1")["ETag"]
    gone = s3.put_object(Bucket=bucket, Key="gone", Body=b"2")["ETag"]
    s3.put_object(Bucket=bucket, Key="plain", Body=b"3")
    body = ('<Delete><Object><Key>keep</Key><ETag>"0123456789abcdef0123456789abcdef"</ETag>'
            '</Object><Object><Key>gone</Key><ETag>%s</ETag></Object>'
            '<Object><Key>never</Key><ETag>%s</ETag></Object>'
            '<Object><Key>plain</Key></Object>'
            '<Object><Key>absent</Key></Object></Delete>'
            % (escape(gone), escape(keep))).encode()
    resp = post_delete(raw_request, server, bucket, body)
    assert resp.status == 200, resp
    root = ET.fromstring(resp.body)
    errs = [(e.find(NS + "Key").text, e.find(NS + "Code").text)
            for e in root.findall(NS + "Error")]
    assert errs == [("keep", "PreconditionFailed"), ("never", "NoSuchKey")]
    assert [e.text for e in root.findall(NS + "Deleted/" + NS + "Key")] == \
        ["gone", "plain", "absent"]
    assert keys_of(s3, bucket) == ["keep"]
    assert s3.get_object(Bucket=bucket, Key="keep")["ETag"] == keep
    # An unquoted ETag is the same condition.
    body = ('<Delete><Object><Key>keep</Key><ETag>%s</ETag></Object></Delete>'
            % keep.strip('"')).encode()
    resp = post_delete(raw_request, server, bucket, body)
    assert resp.status == 200 and b"<Error>" not in resp.body, resp
    assert keys_of(s3, bucket) == []


def test_conditional_etag_versioned(s3, bucket, server, raw_request):
    """In a versioned bucket the condition is on the current version: a
    matching ETag writes a delete marker; once the marker is current the key
    has no current version, so the same condition is NoSuchKey."""
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    etag = s3.put_object(Bucket=bucket, Key="v", Body=b"x")["ETag"]
    body = ('<Delete><Object><Key>v</Key><ETag>%s</ETag></Object></Delete>'
            % escape(etag)).encode()
    resp = post_delete(raw_request, server, bucket, body)
    assert resp.status == 200, resp
    root = ET.fromstring(resp.body)
    assert root.find(NS + "Deleted/" + NS + "DeleteMarker").text == "true"
    resp = post_delete(raw_request, server, bucket, body)
    root = ET.fromstring(resp.body)
    assert [e.find(NS + "Code").text for e in root.findall(NS + "Error")] == ["NoSuchKey"]
    vs = s3.list_object_versions(Bucket=bucket)
    assert len(vs.get("Versions", [])) == 1 and len(vs.get("DeleteMarkers", [])) == 1
