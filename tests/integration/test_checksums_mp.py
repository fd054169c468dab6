"""
Multipart checksums and GetObjectAttributes through boto3 (1.26 from Debian
and, when run under it, a newer one): every algorithm, COMPOSITE ("checksum
of the part checksums", "-N") and FULL_OBJECT (part CRCs combined) where S3
allows them, per-part checksums checked at Complete (InvalidPart), the
whole-object claim at Complete (BadDigest), GET/HEAD with checksum-mode,
ListParts, and GetObjectAttributes (parts pagination, versions, delete
markers, the aws CLI).

Checksum values are computed here, independently of the server: zlib for
CRC32, crcmod for CRC32C and CRC64NVME (pure Python fallback), hashlib for
SHA. Checksum headers are added by hand and answers read from the raw XML,
so botocore versions that do not know CRC64NVME or ChecksumType still test
the same thing.
"""
import base64
import hashlib
import json
import os
import re
import subprocess
import uuid
import zlib

import pytest
from botocore.exceptions import ClientError

from conftest import make_client
from test_identity import _iam_module, iam  # noqa: F401 (fixtures)

MiB = 1 << 20
ALGS = ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"]
# S3's rules: CRC64NVME is full-object only, SHA full objects do not combine.
VALID = [("CRC32", "COMPOSITE"), ("CRC32", "FULL_OBJECT"), ("CRC32C", "COMPOSITE"),
         ("CRC32C", "FULL_OBJECT"), ("CRC64NVME", "FULL_OBJECT"), ("SHA1", "COMPOSITE"),
         ("SHA256", "COMPOSITE")]


def _crc_table(poly, width):
    tab = []
    mask = (1 << width) - 1
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        tab.append(c & mask)
    return tab


def _mk_crc(poly_refl, width, crcmod_poly):
    try:
        import crcmod
        return crcmod.mkCrcFun(crcmod_poly, initCrc=0, rev=True, xorOut=(1 << width) - 1)
    except ImportError:
        tab, mask = _crc_table(poly_refl, width), (1 << width) - 1

        def crc(data):
            c = mask
            for b in data:
                c = tab[(c ^ b) & 0xff] ^ (c >> 8)
            return c ^ mask
        return crc


crc32c = _mk_crc(0x82F63B78, 32, 0x11EDC6F41)
crc64nvme = _mk_crc(0x9A6C9329AC4BC9B5, 64, 0x1AD93D23594C93659)
assert crc32c(b"123456789") == 0xE3069283
assert crc64nvme(b"123456789") == 0xAE8B14860A799888


def raw(alg, data):
    if alg == "CRC32":
        return (zlib.crc32(data) & 0xffffffff).to_bytes(4, "big")
    if alg == "CRC32C":
        return crc32c(data).to_bytes(4, "big")
    if alg == "CRC64NVME":
        return crc64nvme(data).to_bytes(8, "big")
    return hashlib.new(alg.lower(), data).digest()


def b64(b):
    return base64.b64encode(b).decode()


def obj_checksum(alg, ctype, parts):
    """What S3 reports for a multipart object."""
    if ctype == "FULL_OBJECT":
        return b64(raw(alg, b"".join(parts)))
    return "%s-%d" % (b64(raw(alg, b"".join(raw(alg, p) for p in parts))), len(parts))


@pytest.fixture(scope="module")
def c(server):
    """A client that sends no checksum of its own (newer botocore would add
    CRC32 to every UploadPart): the tests add exactly the headers they mean."""
    try:
        return make_client(server, request_checksum_calculation="when_required",
                           response_checksum_validation="when_required")
    except TypeError:
        return make_client(server)


class Call:
    """s3.<op>(**kw) with extra request headers; keeps the raw answer."""

    def __init__(self, s3):
        self.s3 = s3

    def __call__(self, op, headers=None, **kw):
        ev = op[0].upper() + re.sub(r"_(\w)", lambda m: m.group(1).upper(), op)[1:]
        uid = uuid.uuid4().hex
        got = {}

        def add(request, **_):
            for k, v in (headers or {}).items():
                request.headers[k] = v

        def keep(http_response, model, **_):
            got["headers"] = {k.lower(): v for k, v in http_response.headers.items()}
            if not model.has_streaming_output:
                got["body"] = http_response.content

        self.s3.meta.events.register("before-sign.s3.%s" % ev, add, unique_id="a" + uid)
        self.s3.meta.events.register("after-call.s3.%s" % ev, keep, unique_id="k" + uid)
        try:
            resp = getattr(self.s3, op)(**kw)
        finally:
            self.s3.meta.events.unregister("before-sign.s3.%s" % ev, unique_id="a" + uid)
            self.s3.meta.events.unregister("after-call.s3.%s" % ev, unique_id="k" + uid)
        resp["_headers"] = got.get("headers", {})
        resp["_body"] = got.get("body", b"").decode()
        return resp


def xml_val(body, tag):
    m = re.findall(r"<%s>([^<]*)</%s>" % (tag, tag), body)
    return m


def err(e):
    return e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def mp(call, bucket, key, alg, ctype, parts, send_part_ck=True, **kw):
    """Create (alg, type), upload parts; returns upload id and the parts list
    for Complete (with the per-part checksums the server answered)."""
    h = {}
    if alg:
        h["x-amz-checksum-algorithm"] = alg
    if ctype:
        h["x-amz-checksum-type"] = ctype
    r = call("create_multipart_upload", headers=h, Bucket=bucket, Key=key, **kw)
    if alg:
        assert r["_headers"]["x-amz-checksum-algorithm"] == alg
        assert r["_headers"]["x-amz-checksum-type"] == (ctype or
                                                        ("FULL_OBJECT" if alg == "CRC64NVME"
                                                         else "COMPOSITE"))
    uid = r["UploadId"]
    done = []
    for i, p in enumerate(parts, 1):
        ph = {"x-amz-checksum-%s" % alg.lower(): b64(raw(alg, p))} if alg and send_part_ck \
            else {}
        r = call("upload_part", headers=ph, Bucket=bucket, Key=key, UploadId=uid,
                 PartNumber=i, Body=p)
        entry = {"PartNumber": i, "ETag": r["ETag"]}
        if alg:
            # computed by the server when the client sent none
            assert r["_headers"]["x-amz-checksum-%s" % alg.lower()] == b64(raw(alg, p))
        done.append(entry)
    return uid, done


def complete(call, bucket, key, uid, done, alg=None, parts=None, headers=None):
    """Complete with per-part Checksum<ALG> elements when alg and parts are given."""
    ps = []
    for d in done:
        e = dict(d)
        if alg and parts and alg in ("CRC32", "CRC32C", "SHA1", "SHA256"):
            e["Checksum" + alg] = b64(raw(alg, parts[d["PartNumber"] - 1]))
        ps.append(e)
    return call("complete_multipart_upload", headers=headers, Bucket=bucket, Key=key,
                UploadId=uid, MultipartUpload={"Parts": ps})


PARTS = None


def parts3():
    global PARTS
    if PARTS is None:
        PARTS = [os.urandom(5 * MiB), os.urandom(5 * MiB + 3), os.urandom(12345)]
    return PARTS


@pytest.mark.parametrize("alg,ctype", VALID)
def test_checksum_algorithms_and_types(c, bucket, alg, ctype):
    call = Call(c)
    parts = parts3()
    uid, done = mp(call, bucket, "k", alg, ctype, parts)
    # ListParts: the algorithm, the type and each part's checksum
    lp = call("list_parts", Bucket=bucket, Key="k", UploadId=uid)
    assert xml_val(lp["_body"], "ChecksumAlgorithm") == [alg]
    assert xml_val(lp["_body"], "ChecksumType") == [ctype]
    assert xml_val(lp["_body"], "Checksum" + alg) == [b64(raw(alg, p)) for p in parts]
    want = obj_checksum(alg, ctype, parts)
    r = complete(call, bucket, "k", uid, done, alg, parts)
    assert xml_val(r["_body"], "Checksum" + alg) == [want]
    assert xml_val(r["_body"], "ChecksumType") == [ctype]
    if alg in ("CRC32", "SHA1", "SHA256"):  # known to every botocore
        assert r["Checksum" + alg] == want
    for op in ("head_object", "get_object"):
        g = call(op, headers={"x-amz-checksum-mode": "ENABLED"}, Bucket=bucket, Key="k")
        assert g["_headers"]["x-amz-checksum-%s" % alg.lower()] == want
        assert g["_headers"]["x-amz-checksum-type"] == ctype
        if op == "get_object":
            assert g["Body"].read() == b"".join(parts)
    # without checksum-mode: no checksum
    g = call("head_object", Bucket=bucket, Key="k")
    assert "x-amz-checksum-%s" % alg.lower() not in g["_headers"]
    # one part (?partNumber): a composite object's part checksum; a
    # full-object checksum describes no part
    for op in ("head_object", "get_object"):
        for n in (1, 3):
            g = call(op, headers={"x-amz-checksum-mode": "ENABLED"}, Bucket=bucket, Key="k",
                     PartNumber=n)
            got = g["_headers"].get("x-amz-checksum-%s" % alg.lower())
            if ctype == "COMPOSITE":
                assert got == b64(raw(alg, parts[n - 1]))
                assert g["_headers"]["x-amz-checksum-type"] == "COMPOSITE"
            else:
                assert got is None and "x-amz-checksum-type" not in g["_headers"]
            if op == "get_object":
                assert g["Body"].read() == parts[n - 1]


def test_server_computes_part_checksums(c, bucket):
    """FULL_OBJECT: parts sent without a checksum get the upload's, computed here."""
    call = Call(c)
    parts = [os.urandom(5 * MiB), b"tail"]
    uid, done = mp(call, bucket, "k", "CRC32C", "FULL_OBJECT", parts, send_part_ck=False)
    r = complete(call, bucket, "k", uid, done)
    assert xml_val(r["_body"], "ChecksumCRC32C") == [obj_checksum("CRC32C", "FULL_OBJECT",
                                                                  parts)]


def test_refused_combinations(c, bucket):
    call = Call(c)
    for alg, ctype in [("SHA1", "FULL_OBJECT"), ("SHA256", "FULL_OBJECT"),
                       ("CRC64NVME", "COMPOSITE"), (None, "FULL_OBJECT"), ("CRC32", "BOGUS")]:
        h = {"x-amz-checksum-type": ctype}
        if alg:
            h["x-amz-checksum-algorithm"] = alg
        with pytest.raises(ClientError) as e:
            call("create_multipart_upload", headers=h, Bucket=bucket, Key="k")
        assert err(e) == ("InvalidRequest", 400), (alg, ctype)


def test_part_with_other_algorithm_is_refused(c, bucket):
    call = Call(c)
    uid = call("create_multipart_upload", headers={"x-amz-checksum-algorithm": "SHA256"},
               Bucket=bucket, Key="k")["UploadId"]
    with pytest.raises(ClientError) as e:
        call("upload_part", headers={"x-amz-checksum-crc32": b64(raw("CRC32", b"x"))},
             Bucket=bucket, Key="k", UploadId=uid, PartNumber=1, Body=b"x")
    assert err(e) == ("InvalidRequest", 400)
    # a wrong value for the right algorithm: BadDigest, nothing stored
    with pytest.raises(ClientError) as e:
        call("upload_part", headers={"x-amz-checksum-sha256": b64(raw("SHA256", b"y"))},
             Bucket=bucket, Key="k", UploadId=uid, PartNumber=1, Body=b"x")
    assert err(e) == ("BadDigest", 400)
    assert "Parts" not in c.list_parts(Bucket=bucket, Key="k", UploadId=uid)


def test_composite_needs_the_clients_part_checksums(c, bucket):
    """A COMPOSITE checksum is made of the part checksums the client
    computed: S3 refuses a part sent without one, and a Complete that leaves
    one out (InvalidRequest). A FULL_OBJECT upload's parts may come without
    (the server computes them: test_server_computes_part_checksums)."""
    call = Call(c)
    parts = [os.urandom(5 * MiB), b"end"]
    uid = call("create_multipart_upload", headers={"x-amz-checksum-algorithm": "SHA256"},
               Bucket=bucket, Key="k")["UploadId"]
    with pytest.raises(ClientError) as e:
        call("upload_part", Bucket=bucket, Key="k", UploadId=uid, PartNumber=1, Body=parts[0])
    assert err(e) == ("InvalidRequest", 400)
    assert "expected checksum Type: sha256, actual checksum Type: null" in \
        e.value.response["Error"]["Message"]
    assert "Parts" not in c.list_parts(Bucket=bucket, Key="k", UploadId=uid)  # nothing kept
    done = []
    for i, p in enumerate(parts, 1):
        r = call("upload_part", headers={"x-amz-checksum-sha256": b64(raw("SHA256", p))},
                 Bucket=bucket, Key="k", UploadId=uid, PartNumber=i, Body=p)
        done.append({"PartNumber": i, "ETag": r["ETag"]})
    partial = [dict(done[0], ChecksumSHA256=b64(raw("SHA256", parts[0]))), done[1]]
    for listed in (done, partial):
        with pytest.raises(ClientError) as e:
            c.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid,
                                        MultipartUpload={"Parts": listed})
        assert err(e) == ("InvalidRequest", 400)
        assert "It was missing for part %d" % (1 if listed is done else 2) in \
            e.value.response["Error"]["Message"]
    r = complete(call, bucket, "k", uid, done, "SHA256", parts)
    assert xml_val(r["_body"], "ChecksumSHA256") == [obj_checksum("SHA256", "COMPOSITE", parts)]


def test_wrong_part_checksum_at_complete(c, bucket):
    call = Call(c)
    parts = [os.urandom(5 * MiB), b"end"]
    uid, done = mp(call, bucket, "k", "CRC32", "COMPOSITE", parts)
    bad = [dict(done[0], ChecksumCRC32=b64(raw("CRC32", b"other"))),
           dict(done[1], ChecksumCRC32=b64(raw("CRC32", parts[1])))]
    with pytest.raises(ClientError) as e:
        c.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid,
                                    MultipartUpload={"Parts": bad})
    assert err(e) == ("InvalidPart", 400)
    # the upload is still there and completes with the right values
    r = complete(call, bucket, "k", uid, done, "CRC32", parts)
    assert xml_val(r["_body"], "ChecksumCRC32") == [obj_checksum("CRC32", "COMPOSITE", parts)]


def test_whole_object_claim_at_complete(c, bucket):
    call = Call(c)
    parts = [os.urandom(5 * MiB), b"end"]
    uid, done = mp(call, bucket, "k", "CRC64NVME", "FULL_OBJECT", parts)
    with pytest.raises(ClientError) as e:
        complete(call, bucket, "k", uid, done,
                 headers={"x-amz-checksum-crc64nvme": b64(raw("CRC64NVME", b"nope")),
                          "x-amz-checksum-type": "FULL_OBJECT"})
    assert err(e) == ("BadDigest", 400)
    good = b64(raw("CRC64NVME", b"".join(parts)))
    r = complete(call, bucket, "k", uid, done,
                 headers={"x-amz-checksum-crc64nvme": good,
                          "x-amz-checksum-type": "FULL_OBJECT"})
    assert xml_val(r["_body"], "ChecksumCRC64NVME") == [good]
    # composite: "value-N" is the claim's form
    uid, done = mp(call, bucket, "k2", "SHA256", None, parts)
    want = obj_checksum("SHA256", "COMPOSITE", parts)
    with pytest.raises(ClientError) as e:
        complete(call, bucket, "k2", uid, done, "SHA256", parts,
                 headers={"x-amz-checksum-type": "FULL_OBJECT"})
    assert err(e) == ("BadDigest", 400)  # a type other than the upload's, as S3
    r = complete(call, bucket, "k2", uid, done, "SHA256", parts,
                 headers={"x-amz-checksum-sha256": want})
    assert xml_val(r["_body"], "ChecksumSHA256") == [want]


def test_upload_without_algorithm_gets_the_default(c, bucket):
    call = Call(c)
    parts = [os.urandom(5 * MiB), b"end"]
    uid, done = mp(call, bucket, "k", None, None, parts)
    r = complete(call, bucket, "k", uid, done)
    want = obj_checksum("CRC64NVME", "FULL_OBJECT", parts)
    assert xml_val(r["_body"], "ChecksumCRC64NVME") == [want], r["_body"]
    g = call("head_object", headers={"x-amz-checksum-mode": "ENABLED"}, Bucket=bucket, Key="k")
    assert [h for h in g["_headers"] if h.startswith("x-amz-checksum-")] == [
        "x-amz-checksum-crc64nvme", "x-amz-checksum-type"], g["_headers"]
    assert g["_headers"]["x-amz-checksum-crc64nvme"] == want


def test_part_copy_gets_the_checksum(c, bucket):
    call = Call(c)
    src = os.urandom(5 * MiB + 100)
    c.put_object(Bucket=bucket, Key="src", Body=src)
    uid = call("create_multipart_upload", headers={"x-amz-checksum-algorithm": "CRC32"},
               Bucket=bucket, Key="k")["UploadId"]
    r = call("upload_part_copy", Bucket=bucket, Key="k", UploadId=uid, PartNumber=1,
             CopySource={"Bucket": bucket, "Key": "src"})
    assert xml_val(r["_body"], "ChecksumCRC32") == [b64(raw("CRC32", src))]
    r2 = call("upload_part", headers={"x-amz-checksum-crc32": b64(raw("CRC32", b"x"))},
              Bucket=bucket, Key="k", UploadId=uid, PartNumber=2, Body=b"x")
    done = [{"PartNumber": 1, "ETag": r["CopyPartResult"]["ETag"]},
            {"PartNumber": 2, "ETag": r2["ETag"]}]
    r = complete(call, bucket, "k", uid, done, "CRC32", [src, b"x"])
    assert xml_val(r["_body"], "ChecksumCRC32") == [obj_checksum("CRC32", "COMPOSITE",
                                                                 [src, b"x"])]


def test_default_crc64nvme(c, bucket, server):
    """An object uploaded without a checksum gets S3's default, CRC64NVME of
    the whole object: in the PutObject answer, on HEAD/GET with checksum
    mode, and kept by a copy; an upload that names its own algorithm keeps
    it. A current client validates it on every GET (it asks by default)."""
    call = Call(c)
    body = os.urandom(300 * 1024 + 5)
    want = b64(raw("CRC64NVME", body))
    r = call("put_object", Bucket=bucket, Key="d", Body=body)
    assert r["_headers"].get("x-amz-checksum-crc64nvme") == want, r["_headers"]
    assert r["_headers"].get("x-amz-checksum-type") == "FULL_OBJECT"
    h = call("head_object", headers={"x-amz-checksum-mode": "ENABLED"}, Bucket=bucket, Key="d")
    assert h["_headers"].get("x-amz-checksum-crc64nvme") == want
    h = call("head_object", Bucket=bucket, Key="d")
    assert "x-amz-checksum-crc64nvme" not in h["_headers"]     # only when asked
    # an empty object too
    r = call("put_object", Bucket=bucket, Key="e", Body=b"")
    assert r["_headers"].get("x-amz-checksum-crc64nvme") == b64(raw("CRC64NVME", b""))
    # the client's own choice wins
    r = call("put_object", headers={"x-amz-checksum-sha1": b64(raw("SHA1", body))},
             Bucket=bucket, Key="s", Body=body)
    assert "x-amz-checksum-crc64nvme" not in r["_headers"]
    assert r["_headers"].get("x-amz-checksum-sha1") == b64(raw("SHA1", body))
    # a copy keeps it
    call("copy_object", Bucket=bucket, Key="d2", CopySource={"Bucket": bucket, "Key": "d"})
    h = call("head_object", headers={"x-amz-checksum-mode": "ENABLED"}, Bucket=bucket, Key="d2")
    assert h["_headers"].get("x-amz-checksum-crc64nvme") == want
    # a default client (newer botocore validates what the GET returns)
    s3 = make_client(server)
    assert s3.get_object(Bucket=bucket, Key="d", ChecksumMode="ENABLED")["Body"].read() == body
    # listings name each object's checksum, as S3 does
    up = c.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm="SHA256")["UploadId"]
    ck = b64(raw("SHA256", b"part"))
    p1 = call("upload_part", headers={"x-amz-checksum-sha256": ck}, Bucket=bucket, Key="mp",
              UploadId=up, PartNumber=1, Body=b"part")
    complete(call, bucket, "mp", up, [{"PartNumber": 1, "ETag": p1["ETag"]}], "SHA256", [b"part"])
    want = {"d": ("CRC64NVME", "FULL_OBJECT"), "d2": ("CRC64NVME", "FULL_OBJECT"),
            "e": ("CRC64NVME", "FULL_OBJECT"), "s": ("SHA1", "FULL_OBJECT"),
            "mp": ("SHA256", "COMPOSITE")}
    for op, kw in (("list_objects_v2", {}), ("list_objects", {}), ("list_object_versions", {})):
        r = call(op, Bucket=bucket, **kw)
        body_xml = r["_body"]
        for key, (alg, typ) in want.items():
            m = re.search(r"<Key>%s</Key>(.*?)</(Contents|Version)>" % key, body_xml, re.S)
            assert m, (op, key, body_xml[:500])
            assert "<ChecksumAlgorithm>%s</ChecksumAlgorithm>" % alg in m.group(1), (op, key)
            assert "<ChecksumType>%s</ChecksumType>" % typ in m.group(1), (op, key)
        items = r.get("Contents") or r.get("Versions")
        got = {o["Key"]: o.get("ChecksumAlgorithm") for o in items}
        assert got["d"] == ["CRC64NVME"] and got["s"] == ["SHA1"], (op, got)


def test_default_crc64nvme_multipart(c, bucket, server):
    """An upload created without an algorithm gets S3's default as well:
    every part a CRC64NVME (uploaded or copied), the object their
    combination, a FULL_OBJECT checksum, in Complete's answer, on HEAD with
    checksum mode and checked by a Complete that claims it. A part carrying
    another algorithm the client chose leaves the object without one."""
    call = Call(c)
    src = os.urandom(5 * MiB + 7)
    c.put_object(Bucket=bucket, Key="dsrc", Body=src)
    parts = [os.urandom(5 * MiB + 1), src, os.urandom(3333)]
    whole = b"".join(parts)
    want = b64(raw("CRC64NVME", whole))

    def upload(key):
        uid = call("create_multipart_upload", Bucket=bucket, Key=key)["UploadId"]
        r1 = call("upload_part", Bucket=bucket, Key=key, UploadId=uid, PartNumber=1,
                  Body=parts[0])
        assert r1["_headers"].get("x-amz-checksum-crc64nvme") == b64(raw("CRC64NVME", parts[0]))
        r2 = call("upload_part_copy", Bucket=bucket, Key=key, UploadId=uid, PartNumber=2,
                  CopySource={"Bucket": bucket, "Key": "dsrc"})
        assert xml_val(r2["_body"], "ChecksumCRC64NVME") == [b64(raw("CRC64NVME", src))]
        r3 = call("upload_part", Bucket=bucket, Key=key, UploadId=uid, PartNumber=3,
                  Body=parts[2])
        lp = call("list_parts", Bucket=bucket, Key=key, UploadId=uid)
        assert xml_val(lp["_body"], "ChecksumCRC64NVME") == [b64(raw("CRC64NVME", p))
                                                             for p in parts], lp["_body"]
        assert "<ChecksumAlgorithm>" not in lp["_body"]   # the upload named none
        return uid, [{"PartNumber": 1, "ETag": r1["ETag"]},
                     {"PartNumber": 2, "ETag": r2["CopyPartResult"]["ETag"]},
                     {"PartNumber": 3, "ETag": r3["ETag"]}]

    uid, done = upload("dm")
    r = complete(call, bucket, "dm", uid, done)
    assert xml_val(r["_body"], "ChecksumCRC64NVME") == [want], r["_body"]
    assert xml_val(r["_body"], "ChecksumType") == ["FULL_OBJECT"]
    h = call("head_object", headers={"x-amz-checksum-mode": "ENABLED"}, Bucket=bucket, Key="dm")
    assert h["_headers"].get("x-amz-checksum-crc64nvme") == want
    assert h["_headers"].get("x-amz-checksum-type") == "FULL_OBJECT"
    assert make_client(server).get_object(Bucket=bucket, Key="dm",
                                           ChecksumMode="ENABLED")["Body"].read() == whole
    # a Complete that claims the object's checksum: checked
    uid, done = upload("dm2")
    bad = b64(raw("CRC64NVME", whole + b"x"))
    with pytest.raises(ClientError) as e:
        complete(call, bucket, "dm2", uid, done, headers={"x-amz-checksum-crc64nvme": bad})
    assert err(e) == ("BadDigest", 400)
    r = complete(call, bucket, "dm2", uid, done, headers={"x-amz-checksum-crc64nvme": want})
    assert xml_val(r["_body"], "ChecksumCRC64NVME") == [want]
    # a part with the client's own algorithm: no object checksum to combine
    uid = call("create_multipart_upload", Bucket=bucket, Key="dm3")["UploadId"]
    p = call("upload_part", headers={"x-amz-checksum-crc32": b64(raw("CRC32", b"abc"))},
             Bucket=bucket, Key="dm3", UploadId=uid, PartNumber=1, Body=b"abc")
    r = complete(call, bucket, "dm3", uid, [{"PartNumber": 1, "ETag": p["ETag"]}])
    assert "<ChecksumCRC64NVME>" not in r["_body"] and "<ChecksumType>" not in r["_body"]
    h = call("head_object", headers={"x-amz-checksum-mode": "ENABLED"}, Bucket=bucket, Key="dm3")
    assert not [k for k in h["_headers"] if k.startswith("x-amz-checksum-")], h["_headers"]


# ---- GetObjectAttributes ----

ALL_ATTRS = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]


def test_attributes_single_part(c, bucket):
    call = Call(c)
    body = os.urandom(3000)
    r = call("put_object", headers={"x-amz-checksum-sha256": b64(raw("SHA256", body))},
             Bucket=bucket, Key="one", Body=body)
    a = call("get_object_attributes", Bucket=bucket, Key="one", ObjectAttributes=ALL_ATTRS)
    assert a["ETag"] == hashlib.md5(body).hexdigest() == r["ETag"].strip('"')
    assert "<ETag>%s</ETag>" % a["ETag"] in a["_body"]  # no quotes
    assert a["ObjectSize"] == 3000
    assert a["StorageClass"] == "STANDARD"
    assert a["Checksum"]["ChecksumSHA256"] == b64(raw("SHA256", body))
    assert xml_val(a["_body"], "ChecksumType") == ["FULL_OBJECT"]
    assert "ObjectParts" not in a
    assert "last-modified" in a["_headers"] and "x-amz-version-id" not in a["_headers"]
    # only what was asked for
    a = call("get_object_attributes", Bucket=bucket, Key="one", ObjectAttributes=["ObjectSize"])
    assert a["ObjectSize"] == 3000 and "ETag" not in a and "Checksum" not in a
    # a PUT without a checksum: S3's default, CRC64NVME of the whole object
    c.put_object(Bucket=bucket, Key="plain", Body=b"abc")
    a = call("get_object_attributes", Bucket=bucket, Key="plain", ObjectAttributes=ALL_ATTRS)
    assert xml_val(a["_body"], "ChecksumCRC64NVME") == [b64(raw("CRC64NVME", b"abc"))], a
    assert xml_val(a["_body"], "ChecksumType") == ["FULL_OBJECT"] and a["ObjectSize"] == 3
    # an upload created without a checksum gets the default too
    up = c.create_multipart_upload(Bucket=bucket, Key="mpplain")["UploadId"]
    e = c.upload_part(Bucket=bucket, Key="mpplain", UploadId=up, PartNumber=1, Body=b"xyz")
    c.complete_multipart_upload(Bucket=bucket, Key="mpplain", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e["ETag"]}]})
    a = call("get_object_attributes", Bucket=bucket, Key="mpplain", ObjectAttributes=ALL_ATTRS)
    ck = b64(raw("CRC64NVME", b"xyz"))
    # the object's, then its one part's (S3 lists parts of such an object)
    assert xml_val(a["_body"], "ChecksumCRC64NVME") == [ck, ck], a["_body"]
    assert xml_val(a["_body"], "ChecksumType") == ["FULL_OBJECT"] and a["ObjectSize"] == 3


def test_attributes_multipart_pages(c, bucket):
    call = Call(c)
    parts = parts3()
    uid, done = mp(call, bucket, "m", "CRC32C", "COMPOSITE", parts)
    complete(call, bucket, "m", uid, done, "CRC32C", parts)
    comp = obj_checksum("CRC32C", "COMPOSITE", parts)
    a = call("get_object_attributes", Bucket=bucket, Key="m", ObjectAttributes=ALL_ATTRS,
             MaxParts=2)
    assert a["ETag"].endswith("-3") and not a["ETag"].startswith('"')
    assert a["ObjectSize"] == sum(len(p) for p in parts)
    # the part count is TotalPartsCount, not a "-N" suffix here
    assert xml_val(a["_body"], "ChecksumCRC32C")[0] == comp.rsplit("-", 1)[0]
    assert xml_val(a["_body"], "ChecksumType") == ["COMPOSITE"]
    op = a["ObjectParts"]
    assert op["TotalPartsCount"] == 3 and op["MaxParts"] == 2 and op["IsTruncated"] is True
    assert int(op["NextPartNumberMarker"]) == 2 and int(op["PartNumberMarker"]) == 0
    assert [(p["PartNumber"], p["Size"]) for p in op["Parts"]] == [(1, len(parts[0])),
                                                                  (2, len(parts[1]))]
    assert [p["ChecksumCRC32C"] for p in op["Parts"]] == [b64(raw("CRC32C", p))
                                                          for p in parts[:2]]
    a = c.get_object_attributes(Bucket=bucket, Key="m", ObjectAttributes=["ObjectParts"],
                                MaxParts=2, PartNumberMarker=2)
    op = a["ObjectParts"]
    assert op["IsTruncated"] is False and [p["PartNumber"] for p in op["Parts"]] == [3]
    assert op["Parts"][0]["Size"] == len(parts[2])
    # without an object checksum S3 lists no parts, only their count (an
    # upload without an algorithm whose parts carry the client's CRC32s
    # has none: they do not combine into the default)
    uid = call("create_multipart_upload", Bucket=bucket, Key="plain")["UploadId"]
    done = []
    for i, p in enumerate(parts, 1):
        r = call("upload_part", headers={"x-amz-checksum-crc32": b64(raw("CRC32", p))},
                 Bucket=bucket, Key="plain", UploadId=uid, PartNumber=i, Body=p)
        done.append({"PartNumber": i, "ETag": r["ETag"]})
    complete(call, bucket, "plain", uid, done)
    a = call("get_object_attributes", Bucket=bucket, Key="plain",
             ObjectAttributes=["ObjectParts"], MaxParts=2)
    assert a["ObjectParts"]["TotalPartsCount"] == 3 and "Parts" not in a["ObjectParts"]
    assert "<Part>" not in a["_body"]


def test_attributes_versions_and_delete_marker(c, bucket, raw_request, server):
    c.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = c.put_object(Bucket=bucket, Key="v", Body=b"first")["VersionId"]
    v2 = c.put_object(Bucket=bucket, Key="v", Body=b"second!")["VersionId"]
    call = Call(c)
    a = call("get_object_attributes", Bucket=bucket, Key="v", ObjectAttributes=["ObjectSize"])
    assert a["ObjectSize"] == 7 and a["VersionId"] == v2
    a = call("get_object_attributes", Bucket=bucket, Key="v", VersionId=v1,
             ObjectAttributes=["ObjectSize", "ETag"])
    assert a["ObjectSize"] == 5 and a["VersionId"] == v1
    assert a["ETag"] == hashlib.md5(b"first").hexdigest()
    dm = c.delete_object(Bucket=bucket, Key="v")["VersionId"]
    with pytest.raises(ClientError) as e:
        c.get_object_attributes(Bucket=bucket, Key="v", ObjectAttributes=["ObjectSize"])
    assert err(e) == ("NoSuchKey", 404)
    hd = e.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert hd["x-amz-delete-marker"] == "true" and hd["x-amz-version-id"] == dm
    with pytest.raises(ClientError) as e:
        c.get_object_attributes(Bucket=bucket, Key="v", VersionId=dm,
                                ObjectAttributes=["ObjectSize"])
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    # the older versions are still there
    a = c.get_object_attributes(Bucket=bucket, Key="v", VersionId=v1,
                                ObjectAttributes=["ObjectSize"])
    assert a["ObjectSize"] == 5
    with pytest.raises(ClientError) as e:
        c.get_object_attributes(Bucket=bucket, Key="nope", ObjectAttributes=["ObjectSize"])
    assert err(e) == ("NoSuchKey", 404)
    # the attribute list is required and checked
    for h in ({}, {"x-amz-object-attributes": ""}, {"x-amz-object-attributes": "ETag,Bogus"}):
        r = raw_request(server, "GET", "/%s/v" % bucket, headers=h,
                        query=[("attributes", ""), ("versionId", v1)])
        assert r.status == 400 and r.error_code() == "InvalidArgument", (h, r)


def test_attributes_aws_cli(c, bucket, server):
    if not os.path.exists("/usr/bin/aws"):
        pytest.skip("no /usr/bin/aws")
    from test_auth import _aws_env
    c.put_object(Bucket=bucket, Key="cli", Body=b"hello cli")
    p = subprocess.run(["/usr/bin/aws", "--endpoint-url", server.endpoint, "s3api",
                        "get-object-attributes", "--bucket", bucket, "--key", "cli",
                        "--object-attributes", "ETag", "ObjectSize", "StorageClass"],
                       env=_aws_env(server), capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["ETag"] == hashlib.md5(b"hello cli").hexdigest()
    assert out["ObjectSize"] == 9 and out["StorageClass"] == "STANDARD"


def test_attributes_permissions(iam):
    """s3:GetObjectAttributes (s3:GetObjectVersionAttributes with a
    versionId) is its own action; readonly's s3:Get* covers it."""
    from test_identity import DENIED, doc, outcome, stmt, uid
    b = iam.bucket()
    iam.root.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    vid = iam.root.put_object(Bucket=b, Key="k", Body=b"data")["VersionId"]
    pname = uid("attrs-")
    iam.policy(pname, doc(stmt("Allow", "s3:GetObjectAttributes", "arn:aws:s3:::%s/*" % b)))
    only_attrs = iam.client(iam.user(uid("ua-"), pname))
    reader = iam.client(iam.user(uid("ur-"), "readonly"))
    writer = iam.client(iam.user(uid("uw-"), "writeonly"))
    kw = dict(Bucket=b, Key="k", ObjectAttributes=["ObjectSize"])
    assert outcome(only_attrs.get_object_attributes, **kw) == "ok"
    assert outcome(only_attrs.get_object, Bucket=b, Key="k") == DENIED
    assert outcome(only_attrs.get_object_attributes, VersionId=vid, **kw) == DENIED
    assert outcome(reader.get_object_attributes, VersionId=vid, **kw) == "ok"
    assert outcome(writer.get_object_attributes, **kw) == DENIED


def test_list_uploads_shows_checksum_choice(c, bucket):
    call = Call(c)
    call("create_multipart_upload", headers={"x-amz-checksum-algorithm": "CRC64NVME"},
         Bucket=bucket, Key="a")
    call("create_multipart_upload", headers={"x-amz-checksum-algorithm": "SHA1"},
         Bucket=bucket, Key="b")
    c.create_multipart_upload(Bucket=bucket, Key="c")
    r = call("list_multipart_uploads", Bucket=bucket)
    ups = re.findall(r"<Upload>(.*?)</Upload>", r["_body"])
    assert len(ups) == 3
    assert xml_val(ups[0], "ChecksumAlgorithm") == ["CRC64NVME"]
    assert xml_val(ups[0], "ChecksumType") == ["FULL_OBJECT"]
    assert xml_val(ups[1], "ChecksumAlgorithm") == ["SHA1"]
    assert xml_val(ups[1], "ChecksumType") == ["COMPOSITE"]
    assert "Checksum" not in ups[2]
