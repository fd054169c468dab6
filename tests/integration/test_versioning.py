"""
Bucket versioning through boto3: Get/PutBucketVersioning, the version
lifecycle (versions, delete markers, deleting markers and versions by id),
ListObjectVersions with IsLatest, suspended mode and its null version, and
which responses carry x-amz-version-id.
"""
import os

import pytest
from botocore.exceptions import ClientError

from conftest import raw_request


def err(e):
    return (e.value.response["Error"]["Code"],
            e.value.response["ResponseMetadata"]["HTTPStatusCode"])


def hdrs(resp):
    return resp["ResponseMetadata"]["HTTPHeaders"]


def assert_marker_date(r):
    """S3 dates a delete marker on its 405 answer (the marker's own mtime)."""
    lm = r.headers.get("last-modified", "")
    assert lm.endswith(" GMT") and " 1970 " not in lm, r.headers


def set_versioning(s3, bucket, status):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": status})


def versions(s3, bucket, prefix=""):
    """(key, version id, is latest, is delete marker) newest first per key."""
    r = s3.list_object_versions(Bucket=bucket, Prefix=prefix)
    out = [(v["Key"], v["VersionId"], v["IsLatest"], False, v.get("ETag"), v.get("Size"))
           for v in r.get("Versions", [])]
    out += [(d["Key"], d["VersionId"], d["IsLatest"], True, None, None)
            for d in r.get("DeleteMarkers", [])]
    return out


def test_get_put_versioning(s3, bucket, server):
    r = s3.get_bucket_versioning(Bucket=bucket)
    assert "Status" not in r  # never enabled: no Status element
    set_versioning(s3, bucket, "Enabled")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    set_versioning(s3, bucket, "Suspended")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    set_versioning(s3, bucket, "Enabled")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"

    for body in (b"", b"<VersioningConfiguration", b"<Foo/>"):
        r = raw_request(server, "PUT", "/%s" % bucket, query="versioning", body=body)
        assert (r.status, r.error_code()) == (400, "MalformedXML"), (body, r)
    r = raw_request(server, "PUT", "/%s" % bucket, query="versioning",
                    body=b'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                         b"<Status>Sometimes</Status></VersioningConfiguration>")
    assert r.status == 400, r
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"

    with pytest.raises(ClientError) as e:
        s3.get_bucket_versioning(Bucket="no-such-bucket-cairn-v")
    assert err(e) == ("NoSuchBucket", 404)


def test_version_lifecycle(s3, bucket, server):
    set_versioning(s3, bucket, "Enabled")
    b1, b2 = b"version one", os.urandom(200 * 1024)
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b1)["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b2)["VersionId"]
    assert v1 and v2 and v1 != v2 and "null" not in (v1, v2)

    g = s3.get_object(Bucket=bucket, Key="k")
    assert g["Body"].read() == b2 and g["VersionId"] == v2
    for vid, body in ((v1, b1), (v2, b2)):
        g = s3.get_object(Bucket=bucket, Key="k", VersionId=vid)
        assert g["Body"].read() == body and g["VersionId"] == vid
        assert s3.head_object(Bucket=bucket, Key="k", VersionId=vid)["ContentLength"] == len(body)

    # Delete without a version id: a delete marker.
    d = s3.delete_object(Bucket=bucket, Key="k")
    assert d["DeleteMarker"] is True
    dm = d["VersionId"]
    assert dm and dm not in (v1, v2)

    r = raw_request(server, "GET", "/%s/k" % bucket)
    assert (r.status, r.error_code()) == (404, "NoSuchKey"), r
    assert r.headers.get("x-amz-delete-marker") == "true"
    r = raw_request(server, "HEAD", "/%s/k" % bucket)
    assert r.status == 404 and r.body == b""
    assert r.headers.get("x-amz-delete-marker") == "true"

    # The marker itself, by version id: 405.
    r = raw_request(server, "GET", "/%s/k" % bucket, query={"versionId": dm})
    assert (r.status, r.error_code()) == (405, "MethodNotAllowed"), r
    assert r.headers.get("x-amz-delete-marker") == "true"
    assert r.headers.get("x-amz-version-id") == dm
    assert_marker_date(r)
    r = raw_request(server, "HEAD", "/%s/k" % bucket, query={"versionId": dm})
    assert r.status == 405 and r.body == b""
    assert r.headers.get("x-amz-delete-marker") == "true"
    assert_marker_date(r)

    # Older versions are still readable by id.
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=v1)["Body"].read() == b1

    vs = versions(s3, bucket)
    assert sorted((v[1], v[2], v[3]) for v in vs) == sorted(
        [(v1, False, False), (v2, False, False), (dm, True, True)])

    # Delete the marker by version id: v2 is current again.
    d = s3.delete_object(Bucket=bucket, Key="k", VersionId=dm)
    assert d["VersionId"] == dm and d.get("DeleteMarker") is True
    g = s3.get_object(Bucket=bucket, Key="k")
    assert g["Body"].read() == b2 and g["VersionId"] == v2

    # Permanently delete v2: v1 becomes current.
    d = s3.delete_object(Bucket=bucket, Key="k", VersionId=v2)
    assert d["VersionId"] == v2 and not d.get("DeleteMarker")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", VersionId=v2)
    assert err(e) == ("NoSuchVersion", 404)
    g = s3.get_object(Bucket=bucket, Key="k")
    assert g["Body"].read() == b1 and g["VersionId"] == v1
    vs = versions(s3, bucket)
    assert [(v[1], v[2], v[3]) for v in vs] == [(v1, True, False)]

    # Deleting a version that is gone succeeds (204), as in S3.
    d = s3.delete_object(Bucket=bucket, Key="k", VersionId=v2)
    assert d["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_list_object_versions(s3, bucket):
    set_versioning(s3, bucket, "Enabled")
    a = [s3.put_object(Bucket=bucket, Key="a", Body=b"a%d" % i)["VersionId"] for i in range(3)]
    b = s3.put_object(Bucket=bucket, Key="b", Body=b"bb")["VersionId"]
    bdm = s3.delete_object(Bucket=bucket, Key="b")["VersionId"]
    r = s3.list_object_versions(Bucket=bucket)
    got = [(v["Key"], v["VersionId"], v["IsLatest"], v["Size"]) for v in r["Versions"]]
    # Per key newest first.
    assert got == [("a", a[2], True, 2), ("a", a[1], False, 2), ("a", a[0], False, 2),
                   ("b", b, False, 2)]
    assert [(d["Key"], d["VersionId"], d["IsLatest"]) for d in r["DeleteMarkers"]] == \
        [("b", bdm, True)]
    # ListObjectsV2 shows only current, non-deleted objects.
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["a"]
    # Paging through versions with max-keys 1 visits each exactly once.
    seen, kw = [], {}
    for _ in range(20):
        r = s3.list_object_versions(Bucket=bucket, MaxKeys=1, **kw)
        seen += [x["VersionId"] for x in r.get("Versions", []) + r.get("DeleteMarkers", [])]
        if not r["IsTruncated"]:
            break
        kw = dict(KeyMarker=r["NextKeyMarker"], VersionIdMarker=r["NextVersionIdMarker"])
    assert sorted(seen) == sorted(a + [b, bdm])


def _list_delete_list(s3, bucket, page):
    """Empties a versioned bucket the way boto3's object_versions.delete()
    and AWS's own samples do: list a page, delete what it listed, ask for the
    next page from the markers. Returns the number of versions deleted."""
    n, kw = 0, {}
    for _ in range(100):
        r = s3.list_object_versions(Bucket=bucket, MaxKeys=page, **kw)
        objs = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in r.get("Versions", []) + r.get("DeleteMarkers", [])]
        if objs:
            d = s3.delete_objects(Bucket=bucket, Delete={"Objects": objs})
            assert not d.get("Errors"), d
            n += len(objs)
        if not r["IsTruncated"]:
            return n
        kw = dict(KeyMarker=r["NextKeyMarker"], VersionIdMarker=r["NextVersionIdMarker"])
    raise AssertionError("listing did not end")


def test_list_delete_list_leaves_nothing(s3, bucket):
    """A version-id-marker names a place among the key's versions. Deleting
    the page it ended (the newest versions) makes an older version the
    newest; the next page must still list it (it was skipped: the bucket
    could not be emptied)."""
    set_versioning(s3, bucket, "Enabled")
    ids = [s3.put_object(Bucket=bucket, Key="x", Body=b"%d" % i)["VersionId"] for i in range(5)]
    p = s3.list_object_versions(Bucket=bucket, MaxKeys=2)
    assert [v["VersionId"] for v in p["Versions"]] == [ids[4], ids[3]]
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "x", "VersionId": v["VersionId"]} for v in p["Versions"]]})
    p2 = s3.list_object_versions(Bucket=bucket, MaxKeys=2, KeyMarker="x",
                                 VersionIdMarker=p["NextVersionIdMarker"])
    assert [(v["VersionId"], v["IsLatest"]) for v in p2["Versions"]] == \
        [(ids[2], True), (ids[1], False)]
    # Unchanged between pages: the newest version is not listed twice.
    p3 = s3.list_object_versions(Bucket=bucket, MaxKeys=1, KeyMarker="x",
                                 VersionIdMarker=ids[2])
    assert [(v["VersionId"], v["IsLatest"]) for v in p3["Versions"]] == [(ids[1], False)]

    # Whole loops: many versions of one key, delete markers on page edges,
    # several keys, and a null version that the loop deletes.
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "x", "VersionId": v} for v in ids[:3]]})
    for i in range(23):
        s3.put_object(Bucket=bucket, Key="k%d" % (i % 3), Body=b"v%d" % i)
        if i % 4 == 0:
            s3.delete_object(Bucket=bucket, Key="k%d" % (i % 3))
    set_versioning(s3, bucket, "Suspended")
    s3.put_object(Bucket=bucket, Key="k1", Body=b"null")
    set_versioning(s3, bucket, "Enabled")
    for i in range(4):
        s3.put_object(Bucket=bucket, Key="k1", Body=b"after%d" % i)
    total = len(versions(s3, bucket))
    assert total == 23 + 6 + 1 + 4
    for page in (2, 3):
        deleted = _list_delete_list(s3, bucket, page)
        assert deleted >= total and versions(s3, bucket) == [], (page, versions(s3, bucket))
        if page == 2:
            for i in range(7):
                s3.put_object(Bucket=bucket, Key="k1", Body=b"w%d" % i)
            set_versioning(s3, bucket, "Suspended")
            s3.put_object(Bucket=bucket, Key="k1", Body=b"null")
            set_versioning(s3, bucket, "Enabled")
            s3.put_object(Bucket=bucket, Key="k1", Body=b"top")
            total = 9
    s3.delete_bucket(Bucket=bucket)


def test_null_marker_of_a_deleted_null_version(s3, bucket):
    """version-id-marker=null after the null version was deleted: the key's
    remaining versions are listed again, none skipped."""
    s3.put_object(Bucket=bucket, Key="n", Body=b"null")
    set_versioning(s3, bucket, "Enabled")
    ids = [s3.put_object(Bucket=bucket, Key="n", Body=b"%d" % i)["VersionId"] for i in range(2)]
    s3.delete_object(Bucket=bucket, Key="n", VersionId="null")
    r = s3.list_object_versions(Bucket=bucket, KeyMarker="n", VersionIdMarker="null")
    assert [v["VersionId"] for v in r.get("Versions", [])] == [ids[1], ids[0]]


def test_version_id_header_only_when_enabled(s3, bucket, server):
    r = s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert "x-amz-version-id" not in hdrs(r)
    r = s3.delete_object(Bucket=bucket, Key="k")
    assert "x-amz-version-id" not in hdrs(r)
    assert "x-amz-delete-marker" not in hdrs(r)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert "x-amz-version-id" not in hdrs(s3.get_object(Bucket=bucket, Key="k"))
    set_versioning(s3, bucket, "Enabled")
    r = s3.put_object(Bucket=bucket, Key="k", Body=b"y")
    assert hdrs(r).get("x-amz-version-id")
    g = s3.get_object(Bucket=bucket, Key="k")
    assert hdrs(g)["x-amz-version-id"] == r["VersionId"]


def test_suspended_null_version(s3, bucket):
    # A pre-versioning object is the null version.
    s3.put_object(Bucket=bucket, Key="k", Body=b"null-0")
    set_versioning(s3, bucket, "Enabled")
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"real-1")["VersionId"]
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"null-0"
    set_versioning(s3, bucket, "Suspended")
    r = s3.put_object(Bucket=bucket, Key="k", Body=b"null-1")
    assert r.get("VersionId") in (None, "null")
    r = s3.put_object(Bucket=bucket, Key="k", Body=b"null-2")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"null-2"
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"null-2"
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=v1)["Body"].read() == b"real-1"
    vs = versions(s3, bucket)
    # The null version was overwritten in place: one null, one real version.
    assert sorted((v[1], v[2], v[3]) for v in vs) == sorted(
        [("null", True, False), (v1, False, False)])
    # A delete in suspended mode replaces the null version by a null marker.
    d = s3.delete_object(Bucket=bucket, Key="k")
    assert d.get("DeleteMarker") is True and d.get("VersionId") == "null"
    vs = versions(s3, bucket)
    assert sorted((v[1], v[2], v[3]) for v in vs) == sorted(
        [("null", True, True), (v1, False, False)])
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k")
    assert err(e) == ("NoSuchKey", 404)
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=v1)["Body"].read() == b"real-1"
    # Deleting the null marker brings the real version back.
    s3.delete_object(Bucket=bucket, Key="k", VersionId="null")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"real-1"


def test_null_version_id_header(s3, bucket):
    """The null version says "null" where versions show: GET/HEAD (and
    GetObjectTagging, GetObjectAttributes) of an object written before
    versioning was enabled, or while it is suspended, and of one named
    ?versionId=null; a bucket never versioned answers none, and a PUT while
    suspended none (S3's samples). It was never sent."""
    def vid(call, **kw):
        return hdrs(call(Bucket=bucket, **kw)).get("x-amz-version-id")
    s3.put_object(Bucket=bucket, Key="old", Body=b"0")
    assert vid(s3.get_object, Key="old") is None
    assert vid(s3.head_object, Key="old") is None
    assert vid(s3.get_object, Key="old", VersionId="null") == "null"
    assert vid(s3.head_object, Key="old", VersionId="null") == "null"
    set_versioning(s3, bucket, "Enabled")
    for call in (s3.get_object, s3.head_object, s3.get_object_tagging):
        assert vid(call, Key="old") == "null", call
    a = s3.get_object_attributes(Bucket=bucket, Key="old", ObjectAttributes=["ETag"])
    assert a.get("VersionId") == "null"
    set_versioning(s3, bucket, "Suspended")
    r = s3.put_object(Bucket=bucket, Key="new", Body=b"1")
    assert "x-amz-version-id" not in hdrs(r)
    assert vid(s3.head_object, Key="new") == "null"
    d = s3.delete_object(Bucket=bucket, Key="new")
    assert hdrs(d).get("x-amz-version-id") == "null"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="new")
    h = e.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert h.get("x-amz-delete-marker") == "true" and h.get("x-amz-version-id") == "null", h


def test_invalid_version_id(s3, bucket, server):
    set_versioning(s3, bucket, "Enabled")
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    for bad in ("not-a-version", "", "0" * 200):
        for method in ("GET", "DELETE"):
            r = raw_request(server, method, "/%s/k" % bucket, query={"versionId": bad})
            assert r.status == 400, (bad, method, r)
            assert r.error_code() == "InvalidArgument", (bad, method, r)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_unknown_version_of_existing_key(s3, bucket):
    set_versioning(s3, bucket, "Enabled")
    v = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["VersionId"]
    s3.delete_object(Bucket=bucket, Key="k", VersionId=v)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", VersionId=v)
    assert err(e) == ("NoSuchVersion", 404)
