"""
Bucket basics as S3 has them: re-creating a bucket you own (200 in
us-east-1, 409 BucketAlreadyOwnedByYou elsewhere), ListBuckets pagination
(max-buckets, continuation-token, prefix, bucket-region), a location
constraint of another region, and the
delete-marker header of DELETE (only when a marker is involved).
"""
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import make_client, raw_request


def test_recreate_owned_bucket_elsewhere_is_409(start_server, tmp_path):
    srv = start_server(tmp_path, "--region", "eu-west-1")
    s3 = make_client(srv, region_name="eu-west-1")
    s3.create_bucket(Bucket="mine", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket="mine",
                         CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert e.value.response["Error"]["Code"] == "BucketAlreadyOwnedByYou"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409


def test_location_constraint_of_another_region(server, s3):
    """A LocationConstraint naming another region than the server's is 400
    IllegalLocationConstraintException, as S3 answers on a regional
    endpoint, naming the region asked for; no bucket is made. A name that
    is not region-shaped is not echoed."""
    name = "loc-" + uuid.uuid4().hex[:12]
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
    err = e.value.response["Error"]
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err["Code"] == "IllegalLocationConstraintException", err
    assert err["Message"].startswith("The eu-west-3 location constraint is incompatible"), err
    body = ('<CreateBucketConfiguration><LocationConstraint>&lt;x y="z"&gt;'
            '</LocationConstraint></CreateBucketConfiguration>')
    r = raw_request(server, "PUT", "/" + name, body=body)
    assert r.status == 400 and r.error_code() == "IllegalLocationConstraintException", r
    assert b"<Message>The location constraint is incompatible" in r.body, r
    assert raw_request(server, "HEAD", "/" + name).status == 404
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-east-1"})
    s3.head_bucket(Bucket=name)
    s3.delete_bucket(Bucket=name)


def _list(server, **q):
    import re
    import urllib.parse
    r = raw_request(server, "GET", "/", query=urllib.parse.urlencode(q))
    assert r.status == 200, r
    names = re.findall(rb"<Name>([^<]*)</Name>", r.body)
    tok = re.search(rb"<ContinuationToken>([^<]*)</ContinuationToken>", r.body)
    pre = re.search(rb"<Prefix>([^<]*)</Prefix>", r.body)
    regions = re.findall(rb"<BucketRegion>([^<]*)</BucketRegion>", r.body)
    return ([n.decode() for n in names], tok.group(1).decode() if tok else None,
            pre.group(1).decode() if pre else None, regions)


def test_list_buckets_pagination(server, s3):
    tag = uuid.uuid4().hex[:8]
    names = sorted("pg-%s-%02d" % (tag, i) for i in range(7))
    for n in names:
        s3.create_bucket(Bucket=n)
    prefix = "pg-%s-" % tag
    got, token, pages = [], None, 0
    while True:
        q = {"max-buckets": "3", "prefix": prefix}
        if token:
            q["continuation-token"] = token
        page, token, pre, regions = _list(server, **q)
        assert pre == prefix and all(x == b"us-east-1" for x in regions)
        got += page
        pages += 1
        if not token:
            break
    assert got == names and pages == 3
    assert _list(server, prefix=prefix, **{"bucket-region": "eu-central-1"})[0] == []
    assert _list(server, prefix=prefix, **{"bucket-region": "us-east-1"})[0] == names
    # the client sees the same (newer botocore parses the new fields too)
    assert [b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith(prefix)] \
        == names
    for bad in ("0", "10001", "x"):
        st = raw_request(server, "GET", "/", query="max-buckets=" + bad)
        assert st.status == 400 and st.error_code() == "InvalidArgument", (bad, st)
    st = raw_request(server, "GET", "/", query="continuation-token=zz")
    assert st.status == 400, st
    for n in names:
        s3.delete_bucket(Bucket=n)


def test_delete_marker_header_only_with_markers(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    r = s3.delete_object(Bucket=bucket, Key="k")
    assert "x-amz-delete-marker" not in r["ResponseMetadata"]["HTTPHeaders"], r
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="v", Body=b"x")
    r = s3.delete_object(Bucket=bucket, Key="v")
    assert r["DeleteMarker"] is True and r["VersionId"], r
    # deleting the marker itself says so too
    r2 = s3.delete_object(Bucket=bucket, Key="v", VersionId=r["VersionId"])
    assert r2["DeleteMarker"] is True and r2["VersionId"] == r["VersionId"]


def test_empty_delimiter_and_token(server, s3, bucket):
    for k in ("a/1", "a/2", "b"):
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    # an empty delimiter is no delimiter: every key, no common prefixes
    r = raw_request(server, "GET", "/" + bucket, query="list-type=2&delimiter=")
    assert r.status == 200, r
    assert r.body.count(b"<Key>") == 3 and b"<CommonPrefixes>" not in r.body, r
    r = raw_request(server, "GET", "/" + bucket, query="delimiter=")
    assert r.status == 200 and r.body.count(b"<Key>") == 3, r
    # an empty continuation token is not a token
    r = raw_request(server, "GET", "/" + bucket, query="list-type=2&continuation-token=")
    assert r.status == 400 and r.error_code() == "InvalidArgument", r
