"""
Listing: ListObjectsV2, ListObjects (v1), ListObjectVersions,
ListMultipartUploads.

Small cases check the exact response shapes (raw XML where boto3 would hide
a detail, e.g. absent vs empty elements, or percent-encoding it undoes);
a 20,000-key bucket is listed page by page with several prefixes and
delimiters and compared with a sorted model computed here.
"""
import concurrent.futures as cf
import datetime
import hashlib
import hmac
import http.client
import threading
import urllib.parse
import xml.etree.ElementTree as ET

import pytest
from botocore.exceptions import ClientError

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def put_keys(s3, bucket, keys, body=b"x"):
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=body)


def xml_get(raw_request, server, bucket, query):
    r = raw_request(server, "GET", "/" + bucket, query=query)
    assert r.status == 200, r
    return ET.fromstring(r.body)


def _ns(path):
    return "/".join(NS + p for p in path.split("/"))


def error_code(e):
    return e.value.response["Error"]["Code"]


# ---- a sorted model of S3 listing ----

def model_list(keys, prefix="", delimiter="", start_after=""):
    """Entries ('K', key) / ('P', common prefix) in listing order."""
    out, seen = [], set()
    for k in sorted(keys):  # code-point order == UTF-8 byte order
        if not k.startswith(prefix):
            continue
        if delimiter:
            i = k.find(delimiter, len(prefix))
            if i >= 0:
                cp = k[:i + len(delimiter)]
                if cp not in seen:
                    seen.add(cp)
                    if not start_after or cp > start_after:
                        out.append(("P", cp))
                continue
        if start_after and k <= start_after:
            continue
        out.append(("K", k))
    return out


def page_v2(s3, bucket, prefix, delimiter, max_keys, start_after=""):
    """All entries through ListObjectsV2 pages; checks each page's shape."""
    got, token, pages = [], None, 0
    while True:
        kw = dict(Bucket=bucket, Prefix=prefix, MaxKeys=max_keys)
        if delimiter:
            kw["Delimiter"] = delimiter
        if token:
            kw["ContinuationToken"] = token
        elif start_after:
            kw["StartAfter"] = start_after
        r = s3.list_objects_v2(**kw)
        pages += 1
        ents = [("K", c["Key"]) for c in r.get("Contents", [])]
        ents += [("P", p["Prefix"]) for p in r.get("CommonPrefixes", [])]
        # keys and prefixes interleave in order; restore it for the model
        ents.sort(key=lambda e: e[1])
        assert r["KeyCount"] == len(ents)
        assert len(ents) <= max_keys
        assert r["MaxKeys"] == max_keys
        if token:
            assert r["ContinuationToken"] == token
        got += ents
        if not r["IsTruncated"]:
            assert "NextContinuationToken" not in r
            return got, pages
        assert len(ents) == max_keys
        token = r["NextContinuationToken"]
        assert pages < 10000


def page_v1(s3, bucket, prefix, delimiter, max_keys):
    got, marker = [], ""
    while True:
        kw = dict(Bucket=bucket, Prefix=prefix, MaxKeys=max_keys, Marker=marker)
        if delimiter:
            kw["Delimiter"] = delimiter
        r = s3.list_objects(**kw)
        ents = [("K", c["Key"]) for c in r.get("Contents", [])]
        ents += [("P", p["Prefix"]) for p in r.get("CommonPrefixes", [])]
        ents.sort(key=lambda e: e[1])
        assert len(ents) <= max_keys
        got += ents
        if not r["IsTruncated"]:
            return got
        if delimiter:
            marker = r["NextMarker"]
            assert marker == ents[-1][1]
        else:
            assert "NextMarker" not in r
            marker = ents[-1][1]


# ---- ListObjectsV2 ----

def test_v2_delimiter_and_prefixes(s3, bucket):
    keys = ["a/1", "a/2", "a/b/3", "b", "c/d", "c/e/f", "d"]
    put_keys(s3, bucket, keys)
    r = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [c["Key"] for c in r["Contents"]] == ["b", "d"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["a/", "c/"]
    assert r["KeyCount"] == 4
    assert r["Delimiter"] == "/"
    assert r["Prefix"] == ""
    assert r["MaxKeys"] == 1000
    assert r["IsTruncated"] is False
    r = s3.list_objects_v2(Bucket=bucket, Prefix="a/", Delimiter="/")
    assert [c["Key"] for c in r["Contents"]] == ["a/1", "a/2"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["a/b/"]
    r = s3.list_objects_v2(Bucket=bucket, Prefix="c")
    assert [c["Key"] for c in r["Contents"]] == ["c/d", "c/e/f"]
    assert "CommonPrefixes" not in r and "Delimiter" not in r
    # a multi-byte delimiter
    r = s3.list_objects_v2(Bucket=bucket, Delimiter="/e/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["c/e/"]
    assert [c["Key"] for c in r["Contents"]] == ["a/1", "a/2", "a/b/3", "b", "c/d", "d"]


def test_v2_contents_fields(s3, bucket):
    s3.put_object(Bucket=bucket, Key="obj", Body=b"hello")
    head = s3.head_object(Bucket=bucket, Key="obj")
    r = s3.list_objects_v2(Bucket=bucket)
    (c,) = r["Contents"]
    assert c["Key"] == "obj"
    assert c["Size"] == 5
    assert c["ETag"] == '"%s"' % hashlib.md5(b"hello").hexdigest()
    assert c["ETag"] == head["ETag"]
    assert c["StorageClass"] == "STANDARD"
    assert abs((c["LastModified"] - head["LastModified"]).total_seconds()) < 1
    assert "Owner" not in c
    r = s3.list_objects_v2(Bucket=bucket, FetchOwner=True)
    assert r["Contents"][0]["Owner"]["ID"]


def test_v2_pages_and_start_after(s3, bucket):
    keys = ["k%02d" % i for i in range(25)]
    put_keys(s3, bucket, keys, b"")
    got, pages = page_v2(s3, bucket, "", "", 7)
    assert [k for _, k in got] == keys
    assert pages == 4
    r = s3.list_objects_v2(Bucket=bucket, StartAfter="k10", MaxKeys=3)
    assert [c["Key"] for c in r["Contents"]] == ["k11", "k12", "k13"]
    assert r["StartAfter"] == "k10"
    assert r["IsTruncated"] is True
    # the token wins over start-after
    r2 = s3.list_objects_v2(Bucket=bucket, StartAfter="k00",
                            ContinuationToken=r["NextContinuationToken"], MaxKeys=2)
    assert [c["Key"] for c in r2["Contents"]] == ["k14", "k15"]
    # start-after past everything, and between keys
    r = s3.list_objects_v2(Bucket=bucket, StartAfter="z")
    assert "Contents" not in r and r["KeyCount"] == 0
    r = s3.list_objects_v2(Bucket=bucket, StartAfter="k235")
    assert [c["Key"] for c in r["Contents"]] == ["k24"]


def test_v2_token_stable_under_writes(s3, bucket):
    put_keys(s3, bucket, ["a", "c", "e", "g"], b"")
    r = s3.list_objects_v2(Bucket=bucket, MaxKeys=2)
    assert [c["Key"] for c in r["Contents"]] == ["a", "c"]
    s3.put_object(Bucket=bucket, Key="b", Body=b"")  # before the cursor
    s3.put_object(Bucket=bucket, Key="d", Body=b"")  # after it
    s3.delete_object(Bucket=bucket, Key="e")
    r = s3.list_objects_v2(Bucket=bucket, ContinuationToken=r["NextContinuationToken"])
    assert [c["Key"] for c in r["Contents"]] == ["d", "g"]


def test_v2_max_keys_values(s3, bucket, server, raw_request):
    put_keys(s3, bucket, ["a", "b"], b"")
    r = s3.list_objects_v2(Bucket=bucket, MaxKeys=0)
    assert "Contents" not in r and r["KeyCount"] == 0
    r = s3.list_objects_v2(Bucket=bucket, MaxKeys=5000)
    assert r["MaxKeys"] == 1000 and len(r["Contents"]) == 2
    for bad in ("-1", "abc", "1.5", "", "99999999999999999999"):
        resp = raw_request(server, "GET", "/" + bucket,
                           query={"list-type": "2", "max-keys": bad})
        assert resp.status == 400, (bad, resp)
        assert resp.error_code() == "InvalidArgument", bad
        assert resp.error_message() == ("Provided max-keys not an integer or within "
                                        "integer range"), (bad, resp)


def test_v2_bad_token_and_encoding(s3, bucket, server, raw_request):
    for tok in ("not-a-token!", "AAAA", "", "%%%"):
        resp = raw_request(server, "GET", "/" + bucket,
                           query={"list-type": "2", "continuation-token": tok})
        assert resp.status == 400 and resp.error_code() == "InvalidArgument", (tok, resp)
    resp = raw_request(server, "GET", "/" + bucket,
                       query={"list-type": "2", "encoding-type": "base64"})
    assert resp.status == 400 and resp.error_code() == "InvalidArgument"
    assert resp.error_message() == "Invalid Encoding Method specified in Request", resp
    # ListObjectVersions: a version-id-marker needs a key-marker, and must be an id
    for q, msg in (({"version-id-marker": "null"},
                    "A version-id marker cannot be specified without a key marker."),
                   ({"key-marker": "a", "version-id-marker": "zz"},
                    "Invalid version id specified")):
        resp = raw_request(server, "GET", "/" + bucket, query=dict(q, versions=""))
        assert resp.status == 400 and resp.error_code() == "InvalidArgument", (q, resp)
        assert resp.error_message() == msg, (q, resp)


def test_params_not_utf8(s3, bucket, server, raw_request):
    """A listing echoes prefix, delimiter and markers into its XML, which
    cannot carry bytes that are not UTF-8: such a parameter is 400
    InvalidArgument, not a malformed answer. The same goes for ListBuckets'
    prefix; an error about a key that is not UTF-8 leaves out <Key>."""
    s3.put_object(Bucket=bucket, Key="\u00e9t\u00e9", Body=b"x")
    for q in ("list-type=2&prefix=%C3", "prefix=%FF", "list-type=2&delimiter=%C3%28",
              "list-type=2&start-after=%ED%A0%80", "marker=%C0%AF", "versions=&key-marker=%FE",
              "uploads=&prefix=%C3", "list-type=2&prefix=%C3%A9"):
        resp = raw_request(server, "GET", "/" + bucket, query=q)
        ET.fromstring(resp.body)  # well-formed either way
        if q.endswith("%C3%A9"):  # valid UTF-8: the listing
            assert resp.status == 200 and "\u00e9t\u00e9".encode() in resp.body, resp
        else:
            assert (resp.status, resp.error_code()) == (400, "InvalidArgument"), (q, resp)
            assert resp.error_message().endswith("is not valid UTF-8"), (q, resp)
    resp = raw_request(server, "GET", "/", query="prefix=%FF")
    assert (resp.status, resp.error_code()) == (400, "InvalidArgument"), resp
    resp = raw_request(server, "PUT", "/%s/%%FF" % bucket, body=b"x")
    assert resp.status == 400, resp
    root = ET.fromstring(resp.body)
    assert root.find("Key") is None and root.find("Code").text, resp


def test_no_such_bucket(s3):
    for call in (lambda: s3.list_objects_v2(Bucket="no-such-bucket-here"),
                 lambda: s3.list_objects(Bucket="no-such-bucket-here"),
                 lambda: s3.list_object_versions(Bucket="no-such-bucket-here"),
                 lambda: s3.list_multipart_uploads(Bucket="no-such-bucket-here")):
        with pytest.raises(ClientError) as e:
            call()
        assert error_code(e) == "NoSuchBucket"


ODD_KEYS = [
    "with space", "plus+sign", "per%cent", "amp&er<sand>\"'", "tab\tkey",
    "ctl\x01\x02\x1f", "nl\nkey", "cr\rkey", "caf\u00e9/cr\u00e8me", "\u65e5\u672c/\u8a9e",
    "emoji\U0001F600", "dir with space/x", "q?mark#hash", "tilde~dash-dot.under_",
]


def test_encoding_type_url_raw(s3, bucket, server, raw_request):
    put_keys(s3, bucket, ODD_KEYS, b"")
    root = xml_get(raw_request, server, bucket, {"list-type": "2", "encoding-type": "url"})
    assert root.find(NS + "EncodingType").text == "url"
    enc = [e.text for e in root.findall(_ns("Contents/Key"))]
    # only unreserved bytes and '/' go out as themselves
    for k in enc:
        assert all(ch.isalnum() or ch in "%-_.~/" for ch in k), k
    assert [urllib.parse.unquote_plus(k) for k in enc] == sorted(ODD_KEYS)
    # Prefix, Delimiter, StartAfter and CommonPrefixes are encoded too
    root = xml_get(raw_request, server, bucket,
                   {"list-type": "2", "encoding-type": "url", "prefix": "dir with",
                    "delimiter": " ", "start-after": "dir with"})
    assert root.find(NS + "Prefix").text == "dir%20with"
    assert root.find(NS + "Delimiter").text == "%20"
    assert root.find(NS + "StartAfter").text == "dir%20with"
    assert [e.text for e in root.findall(_ns("CommonPrefixes/Prefix"))] == ["dir%20with%20"]
    # v1, versions: the same encoding
    root = xml_get(raw_request, server, bucket,
                   {"encoding-type": "url", "marker": "plus+sign", "delimiter": "/"})
    assert root.find(NS + "Marker").text == "plus%2Bsign"
    assert root.find(NS + "Delimiter").text == "/"
    assert root.find(NS + "EncodingType").text == "url"
    root = xml_get(raw_request, server, bucket,
                   {"versions": "", "encoding-type": "url", "prefix": "with "})
    assert [e.text for e in root.findall(_ns("Version/Key"))] == ["with%20space"]
    # without encoding-type the text is plain (escaped XML)
    root = xml_get(raw_request, server, bucket, {"list-type": "2", "prefix": "amp"})
    assert [e.text for e in root.findall(_ns("Contents/Key"))] == ["amp&er<sand>\"'"]
    assert root.find(NS + "EncodingType") is None


def test_encoding_type_url_boto(s3, bucket):
    # boto3 asks for encoding-type=url itself and decodes the answer
    put_keys(s3, bucket, ODD_KEYS, b"")
    r = s3.list_objects_v2(Bucket=bucket)
    assert [c["Key"] for c in r["Contents"]] == sorted(ODD_KEYS)
    got, _ = page_v2(s3, bucket, "", "/", 3)
    assert got == model_list(ODD_KEYS, "", "/")
    assert page_v1(s3, bucket, "", "/", 4) == model_list(ODD_KEYS, "", "/")
    for k in ODD_KEYS:
        r = s3.list_objects_v2(Bucket=bucket, Prefix=k)
        assert [c["Key"] for c in r["Contents"]] == [k]
        v = s3.list_object_versions(Bucket=bucket, Prefix=k)
        assert [x["Key"] for x in v["Versions"]] == [k]


# ---- ListObjects v1 ----

def test_v1_shape(s3, bucket, server, raw_request):
    put_keys(s3, bucket, ["a/1", "a/2", "b", "c", "d/1"], b"")
    root = xml_get(raw_request, server, bucket, {"max-keys": "2"})
    assert root.tag == NS + "ListBucketResult"
    assert root.find(NS + "Marker") is not None and not root.find(NS + "Marker").text
    assert root.find(NS + "IsTruncated").text == "true"
    assert root.find(NS + "NextMarker") is None  # only with a delimiter
    assert root.find(NS + "KeyCount") is None
    assert root.find(NS + "Delimiter") is None
    assert [e.text for e in root.findall(_ns("Contents/Key"))] == ["a/1", "a/2"]
    assert all(e.find(NS + "Owner/" + NS + "ID") is not None
               for e in root.findall(NS + "Contents"))
    root = xml_get(raw_request, server, bucket, {"max-keys": "2", "delimiter": "/"})
    assert [e.text for e in root.findall(_ns("CommonPrefixes/Prefix"))] == ["a/"]
    assert [e.text for e in root.findall(_ns("Contents/Key"))] == ["b"]
    assert root.find(NS + "NextMarker").text == "b"
    root = xml_get(raw_request, server, bucket,
                   {"max-keys": "2", "delimiter": "/", "marker": "b"})
    assert [e.text for e in root.findall(_ns("Contents/Key"))] == ["c"]
    assert [e.text for e in root.findall(_ns("CommonPrefixes/Prefix"))] == ["d/"]
    assert root.find(NS + "Marker").text == "b"
    assert root.find(NS + "IsTruncated").text == "false"
    assert root.find(NS + "NextMarker") is None
    # a marker inside a common prefix does not repeat it
    r = s3.list_objects(Bucket=bucket, Delimiter="/", Marker="a/1")
    assert [p["Prefix"] for p in r.get("CommonPrefixes", [])] == ["d/"]
    assert [c["Key"] for c in r["Contents"]] == ["b", "c"]


# ---- ListObjectVersions ----

def test_versions_interleaved(s3, bucket, server, raw_request):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    a1 = s3.put_object(Bucket=bucket, Key="a", Body=b"1")["VersionId"]
    a2 = s3.put_object(Bucket=bucket, Key="a", Body=b"22")["VersionId"]
    adm = s3.delete_object(Bucket=bucket, Key="a")["VersionId"]
    a3 = s3.put_object(Bucket=bucket, Key="a", Body=b"333")["VersionId"]
    b1 = s3.put_object(Bucket=bucket, Key="b", Body=b"b")["VersionId"]
    bdm = s3.delete_object(Bucket=bucket, Key="b")["VersionId"]
    want = [("V", "a", a3, True), ("D", "a", adm, False), ("V", "a", a2, False),
            ("V", "a", a1, False), ("D", "b", bdm, True), ("V", "b", b1, False)]

    root = xml_get(raw_request, server, bucket, {"versions": ""})
    assert root.tag == NS + "ListVersionsResult"
    got = []
    for e in root:
        if e.tag in (NS + "Version", NS + "DeleteMarker"):
            got.append(("V" if e.tag == NS + "Version" else "D", e.find(NS + "Key").text,
                        e.find(NS + "VersionId").text,
                        e.find(NS + "IsLatest").text == "true"))
            if e.tag == NS + "DeleteMarker":
                assert e.find(NS + "Size") is None and e.find(NS + "ETag") is None
            else:
                assert e.find(NS + "ETag").text.startswith('"')
    assert got == want
    # sizes line up with the versions
    r = s3.list_object_versions(Bucket=bucket)
    assert [v["Size"] for v in r["Versions"]] == [3, 2, 1, 1]

    # one entry per page, following NextKeyMarker / NextVersionIdMarker
    paged, km, vm = [], None, None
    for _ in range(20):
        kw = dict(Bucket=bucket, MaxKeys=1)
        if km is not None:
            kw.update(KeyMarker=km, VersionIdMarker=vm)
        r = s3.list_object_versions(**kw)
        for v in r.get("Versions", []):
            paged.append(("V", v["Key"], v["VersionId"], v["IsLatest"]))
        for d in r.get("DeleteMarkers", []):
            paged.append(("D", d["Key"], d["VersionId"], d["IsLatest"]))
        if not r["IsTruncated"]:
            break
        km, vm = r["NextKeyMarker"], r["NextVersionIdMarker"]
        assert (km, vm) == paged[-1][1:3]
    assert paged == want
    # a key-marker alone skips every version of that key
    r = s3.list_object_versions(Bucket=bucket, KeyMarker="a")
    assert [v["VersionId"] for v in r["Versions"]] == [b1]
    assert [d["VersionId"] for d in r["DeleteMarkers"]] == [bdm]


def test_versions_null_and_prefixes(s3, bucket, server, raw_request):
    put_keys(s3, bucket, ["p/1", "p/2", "q"], b"")
    r = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in r["Versions"]] == \
        [("q", "null", True)]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["p/"]
    r = s3.list_object_versions(Bucket=bucket, KeyMarker="p/1", VersionIdMarker="null")
    assert [v["Key"] for v in r["Versions"]] == ["p/2", "q"]
    # truncated on a common prefix
    r = s3.list_object_versions(Bucket=bucket, Delimiter="/", MaxKeys=1)
    assert r["IsTruncated"] and r["NextKeyMarker"] == "p/"
    r = s3.list_object_versions(Bucket=bucket, Delimiter="/", MaxKeys=1,
                                KeyMarker=r["NextKeyMarker"])
    assert [v["Key"] for v in r["Versions"]] == ["q"] and "CommonPrefixes" not in r
    # a version-id-marker needs a key-marker; ids are checked
    for q in ({"versions": "", "version-id-marker": "null"},
              {"versions": "", "key-marker": "q", "version-id-marker": "zzz"},
              {"versions": "", "max-keys": "-3"}):
        resp = raw_request(server, "GET", "/" + bucket, query=q)
        assert resp.status == 400 and resp.error_code() == "InvalidArgument", (q, resp)


# ---- ListMultipartUploads ----

def _create_upload(s3, bucket, key):
    return s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]


def test_list_multipart_uploads(s3, bucket, server, raw_request):
    ups = []
    for k in ["x/1", "x/1", "x/2", "y", "z z"]:
        ups.append((k, _create_upload(s3, bucket, k)))
    r = s3.list_multipart_uploads(Bucket=bucket)
    assert r["Bucket"] == bucket
    assert [(u["Key"], u["UploadId"]) for u in r["Uploads"]] == ups
    u = r["Uploads"][0]
    assert u["Initiator"]["ID"] and u["Owner"]["ID"]
    assert u["StorageClass"] == "STANDARD"
    assert isinstance(u["Initiated"], datetime.datetime)
    r = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["x/"]
    assert [u["Key"] for u in r["Uploads"]] == ["y", "z z"]
    r = s3.list_multipart_uploads(Bucket=bucket, Prefix="x/")
    assert [u["Key"] for u in r["Uploads"]] == ["x/1", "x/1", "x/2"]
    # pages of two through the markers
    paged, km, um = [], None, None
    for _ in range(10):
        kw = dict(Bucket=bucket, MaxUploads=2)
        if km is not None:
            kw.update(KeyMarker=km, UploadIdMarker=um)
        r = s3.list_multipart_uploads(**kw)
        assert r["MaxUploads"] == 2
        paged += [(u["Key"], u["UploadId"]) for u in r.get("Uploads", [])]
        if not r["IsTruncated"]:
            break
        km, um = r["NextKeyMarker"], r["NextUploadIdMarker"]
    assert paged == ups
    root = xml_get(raw_request, server, bucket, {"uploads": "", "encoding-type": "url"})
    assert [e.text for e in root.findall(_ns("Upload/Key"))][-1] == "z%20z"
    s3.abort_multipart_upload(Bucket=bucket, Key="y", UploadId=ups[3][1])
    r = s3.list_multipart_uploads(Bucket=bucket)
    assert ("y", ups[3][1]) not in [(u["Key"], u["UploadId"]) for u in r["Uploads"]]
    resp = raw_request(server, "GET", "/" + bucket, query={"uploads": "", "max-uploads": "x"})
    assert resp.status == 400 and resp.error_code() == "InvalidArgument"


# ---- a 20,000-key bucket against the model ----

class FastPut:
    """Empty-body PUTs over keep-alive connections, signed here with
    UNSIGNED-PAYLOAD: boto3's per-call cost would dominate 20k small PUTs."""

    def __init__(self, server):
        self.server = server
        self.local = threading.local()
        self.keys = {}

    def _signing_key(self, date):
        k = self.keys.get(date)
        if k is None:
            k = hmac.new(("AWS4" + self.server.secret_key).encode(), date.encode(),
                         hashlib.sha256).digest()
            for m in ("us-east-1", "s3", "aws4_request"):
                k = hmac.new(k, m.encode(), hashlib.sha256).digest()
            self.keys[date] = k
        return k

    def put(self, bucket, key):
        srv = self.server
        path = "/%s/%s" % (bucket, urllib.parse.quote(key.encode(), safe="/-_.~"))
        host = "%s:%d" % (srv.host, srv.port)
        amz = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        scope = amz[:8] + "/us-east-1/s3/aws4_request"
        signed = "host;x-amz-content-sha256;x-amz-date"
        creq = "\n".join(["PUT", path, "", "host:" + host,
                          "x-amz-content-sha256:UNSIGNED-PAYLOAD", "x-amz-date:" + amz, "",
                          signed, "UNSIGNED-PAYLOAD"])
        sts = "\n".join(["AWS4-HMAC-SHA256", amz, scope,
                         hashlib.sha256(creq.encode()).hexdigest()])
        sig = hmac.new(self._signing_key(amz[:8]), sts.encode(), hashlib.sha256).hexdigest()
        hdrs = {"Host": host, "x-amz-date": amz, "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
                "Content-Length": "0",
                "Authorization": "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, "
                                 "Signature=%s" % (srv.access_key, scope, signed, sig)}
        c = getattr(self.local, "c", None)
        if c is None:
            c = self.local.c = http.client.HTTPConnection(srv.host, srv.port, timeout=30)
        try:
            c.request("PUT", path, headers=hdrs)
            resp = c.getresponse()
            resp.read()
        except Exception:
            self.local.c = None
            c.close()
            raise
        assert resp.status == 200, (resp.status, key)


def big_keys():
    keys = []
    for i in range(20000):
        g = i % 10
        if g < 5:
            keys.append("logs/%04d/%02d/%02d/event-%06d" % (2020 + i % 4, i % 12 + 1,
                                                             i % 28 + 1, i))
        elif g < 7:
            keys.append("img/%s/%06d.jpg" % ("abcdefghij"[i % 10], i))
        elif g < 8:
            keys.append("flat-%06d" % i)
        elif g < 9:
            keys.append("caf\u00e9/%d/x y %06d" % (i % 7, i))
        else:
            # 1024-byte keys sharing a 700-byte prefix (long-key groups)
            head = "long/" + "L" * 695 + "/%03d/" % (i % 37)
            keys.append(head + ("%06d" % i) * 60)
            keys[-1] = keys[-1][:1024]
    assert len(set(keys)) == len(keys)
    return keys


@pytest.fixture(scope="module")
def big_bucket(s3, server):
    name = "t-big-%s" % hashlib.md5(str(id(server)).encode()).hexdigest()[:12]
    s3.create_bucket(Bucket=name)
    keys = big_keys()
    fp = FastPut(server)
    with cf.ThreadPoolExecutor(48) as ex:
        for f in [ex.submit(fp.put, name, k) for k in keys]:
            f.result(timeout=120)
    return name, keys


@pytest.mark.parametrize("prefix,delimiter,max_keys", [
    ("", "", 1000),
    ("", "/", 1000),
    ("logs/", "/", 1),
    ("logs/2021/", "/", 7),
    ("logs/2022/03/", "", 250),
    ("img/", "/", 3),
    ("img/c/", "", 999),
    ("caf\u00e9/", "/", 2),
    ("long/", "/", 10),
    ("long/" + "L" * 695 + "/", "/", 5),
    ("long/" + "L" * 695 + "/012/", "", 100),
    ("", "0", 500),
    ("f", "-0", 1000),
    ("nothing-here/", "/", 10),
])
def test_big_v2_against_model(s3, big_bucket, prefix, delimiter, max_keys):
    name, keys = big_bucket
    got, _ = page_v2(s3, name, prefix, delimiter, max_keys)
    assert got == model_list(keys, prefix, delimiter)


def test_big_v1_and_start_after(s3, big_bucket):
    name, keys = big_bucket
    assert page_v1(s3, name, "", "/", 1000) == model_list(keys, "", "/")
    assert page_v1(s3, name, "img/", "", 777) == model_list(keys, "img/", "")
    sa = sorted(keys)[12345]
    got, _ = page_v2(s3, name, "", "", 1000, start_after=sa)
    assert got == model_list(keys, "", "", sa)
    got, _ = page_v2(s3, name, "logs/", "/", 1, start_after="logs/2021/")
    assert got == model_list(keys, "logs/", "/", "logs/2021/")


def test_big_versions_pages(s3, big_bucket):
    name, keys = big_bucket
    want = [k for t, k in model_list(keys, "img/", "") if t == "K"]
    got, km, vm = [], None, None
    while True:
        kw = dict(Bucket=name, Prefix="img/", MaxKeys=600)
        if km is not None:
            kw.update(KeyMarker=km, VersionIdMarker=vm)
        r = s3.list_object_versions(**kw)
        for v in r.get("Versions", []):
            assert v["VersionId"] == "null" and v["IsLatest"]
            got.append(v["Key"])
        if not r["IsTruncated"]:
            break
        km, vm = r["NextKeyMarker"], r["NextVersionIdMarker"]
    assert got == want
