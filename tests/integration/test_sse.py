"""Server-side encryption: SSE-S3, SSE-KMS and SSE-C (issue #16).

Every mode reads back byte-exact at the sizes around the inline threshold
and the 64 KiB frame, for every range shape; nothing written encrypted is
found in the data directory (a plain control object is, proving the grep);
SSE-C refuses a missing or wrong key; bucket default encryption applies;
an unknown KMS key is refused; copies move between modes; a flipped byte
in an encrypted shard is repaired from parity; kill -9 loses nothing
acknowledged. The servers run with --allow-insecure-ssec (plain HTTP).
"""
import base64
import glob
import hashlib
import json
import os
import signal
import subprocess
import threading
import time

import botocore
import pytest

from conftest import cairn_bin, make_client, raw_request, spawn

MiB = 1024 * 1024
F = 64 * 1024  # frame size of the sealed format
MASTER = base64.b64encode(bytes(range(32))).decode()


def ssec_key(seed=b"k"):
    return hashlib.sha256(seed).digest()


def ssec_args(key, copy_source=False):
    if copy_source:
        return {"CopySourceSSECustomerAlgorithm": "AES256", "CopySourceSSECustomerKey": key}
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}


def ssec_encoded(key):
    """SSE-C parameters already encoded (botocore encodes a raw key only
    for some operations; GetObjectAttributes is not among them)."""
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": base64.b64encode(key).decode(),
            "SSECustomerKeyMD5": base64.b64encode(hashlib.md5(key).digest()).decode()}


def put_args(mode, key=None):
    if mode == "none":
        return {}
    if mode == "s3":
        return {"ServerSideEncryption": "AES256"}
    if mode == "kms":
        return {"ServerSideEncryption": "aws:kms"}
    if mode == "kms-named":
        return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "ring1"}
    if mode == "c":
        return ssec_args(key or ssec_key())
    raise ValueError(mode)


def get_args(mode, key=None):
    return ssec_args(key or ssec_key()) if mode == "c" else {}


def admin_kms_add(srv, name):
    return raw_request(srv, "POST", "/_cairn/admin/kms/key", query={"op": "add", "name": name})


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = tmp_path_factory.mktemp("sse")
    srv = spawn(str(d / "data"), "--allow-insecure-ssec", env={"CAIRN_KMS_MASTER_KEY": MASTER})
    try:
        r = admin_kms_add(srv, "ring1")
        assert r.status == 200, r
        yield srv, make_client(srv)
    finally:
        assert srv.stop() == 0


@pytest.fixture
def bkt(env):
    srv, s3 = env
    name = "sse-%d" % (time.monotonic_ns() % 10**12)
    s3.create_bucket(Bucket=name)
    return name


MODES = ["s3", "kms", "kms-named", "c"]
SIZES = [0, 1, 1000, F - 1, F, F + 1, 3 * F + 7, 2 * MiB + 3]


def ranges_for(n):
    """(Range header, expected slice) for every shape that fits n."""
    out = []
    if n == 0:
        return out
    out.append(("bytes=0-0", slice(0, 1)))  # first byte
    out.append(("bytes=%d-%d" % (n - 1, n - 1), slice(n - 1, n)))  # last byte
    out.append(("bytes=-%d" % min(n, 100), slice(max(0, n - 100), n)))  # suffix
    out.append(("bytes=%d-" % (n // 2), slice(n // 2, n)))  # open-ended
    if n > F + 10:
        out.append(("bytes=%d-%d" % (F - 10, F + 9), slice(F - 10, F + 10)))  # across a frame
        out.append(("bytes=%d-%d" % (F, F), slice(F, F + 1)))  # a frame's first byte
    if n > 2 * F:
        out.append(("bytes=%d-%d" % (5, 2 * F + 3), slice(5, 2 * F + 4)))  # several frames
    if n > MiB + 10:
        out.append(("bytes=%d-%d" % (MiB - 3, MiB + 2), slice(MiB - 3, MiB + 3)))
    return out


@pytest.mark.parametrize("mode", MODES)
def test_sizes_and_ranges(env, bkt, mode):
    srv, s3 = env
    for n in SIZES:
        body = os.urandom(n)
        key = "obj-%d" % n
        r = s3.put_object(Bucket=bkt, Key=key, Body=body, **put_args(mode))
        etag = r["ETag"].strip('"')
        if mode == "s3":
            assert r["ServerSideEncryption"] == "AES256"
            assert etag == hashlib.md5(body).hexdigest()  # SSE-S3: the plaintext MD5
        elif mode.startswith("kms"):
            assert r["ServerSideEncryption"] == "aws:kms"
            want = "ring1" if mode == "kms-named" else "aws/s3"
            assert r["SSEKMSKeyId"].endswith(":key/" + want), r["SSEKMSKeyId"]
            assert etag != hashlib.md5(body).hexdigest()
        else:
            assert r["SSECustomerAlgorithm"] == "AES256"
            assert etag != hashlib.md5(body).hexdigest()
        g = s3.get_object(Bucket=bkt, Key=key, **get_args(mode))
        assert g["Body"].read() == body, (mode, n)
        assert g["ETag"].strip('"') == etag
        assert g["ContentLength"] == n
        h = s3.head_object(Bucket=bkt, Key=key, **get_args(mode))
        assert h["ContentLength"] == n
        if mode == "s3":
            assert h["ServerSideEncryption"] == "AES256"
        for rng, sl in ranges_for(n):
            g = s3.get_object(Bucket=bkt, Key=key, Range=rng, **get_args(mode))
            assert g["Body"].read() == body[sl], (mode, n, rng)
    # listings show the plaintext size
    sizes = {o["Key"]: o["Size"] for o in s3.list_objects_v2(Bucket=bkt)["Contents"]}
    assert sizes == {"obj-%d" % n: n for n in SIZES}


def test_blob_small_objects(tmp_path):
    """Objects the inline threshold would keep in metadata, as blobs."""
    srv = spawn(str(tmp_path / "d"), "--allow-insecure-ssec", "--inline-threshold", "1",
                env={"CAIRN_KMS_MASTER_KEY": MASTER})
    try:
        s3 = make_client(srv)
        s3.create_bucket(Bucket="small")
        for mode in ["s3", "c"]:
            for n in [0, 1, 2, F - 1, F, F + 1]:
                body = os.urandom(n)
                s3.put_object(Bucket="small", Key="k", Body=body, **put_args(mode))
                assert s3.get_object(Bucket="small", Key="k",
                                     **get_args(mode))["Body"].read() == body
                for rng, sl in ranges_for(n):
                    g = s3.get_object(Bucket="small", Key="k", Range=rng, **get_args(mode))
                    assert g["Body"].read() == body[sl], (mode, n, rng)
    finally:
        assert srv.stop() == 0


def files_containing(root, needle):
    hits = []
    for dp, _, fns in os.walk(root):
        for fn in fns:
            p = os.path.join(dp, fn)
            try:
                with open(p, "rb") as f:
                    if needle in f.read():
                        hits.append(p)
            except OSError:
                pass
    return hits


def test_nothing_in_clear_on_disk(tmp_path):
    srv = spawn(str(tmp_path / "d"), "--allow-insecure-ssec", env={"CAIRN_KMS_MASTER_KEY": MASTER})
    try:
        s3 = make_client(srv)
        s3.create_bucket(Bucket="grep")
        marker = b"CAIRN-SECRET-MARKER-" + os.urandom(6).hex().encode()
        for mode in ["s3", "kms", "c"]:
            for n in [len(marker) + 10, 300 * 1024]:  # inline and blob
                body = (b"x" * 5 + marker) * (n // (len(marker) + 5))
                s3.put_object(Bucket="grep", Key="%s-%d" % (mode, n), Body=body,
                              **put_args(mode))
        assert files_containing(str(tmp_path / "d"), marker) == []
        # the control: the same marker unencrypted is found (inline and blob)
        control = b"CAIRN-CONTROL-MARKER-" + os.urandom(6).hex().encode()
        s3.put_object(Bucket="grep", Key="plain-small", Body=control)
        assert files_containing(str(tmp_path / "d"), control)
        big = b"y" * 4096 + control + b"y" * (300 * 1024)
        s3.put_object(Bucket="grep", Key="plain-big", Body=big)
        hits = files_containing(str(tmp_path / "d"), control)
        assert any("/blobs/" in h for h in hits), hits
    finally:
        assert srv.stop() == 0


def test_ssec_key_checks(env, bkt):
    srv, s3 = env
    key = ssec_key(b"right")
    body = os.urandom(200 * 1024)
    s3.put_object(Bucket=bkt, Key="c", Body=body, **ssec_args(key))
    s3.put_object(Bucket=bkt, Key="c-small", Body=b"tiny", **ssec_args(key))
    s3.put_object(Bucket=bkt, Key="plain", Body=b"plain")
    for k in ["c", "c-small"]:
        # missing key: 400 InvalidRequest
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3.get_object(Bucket=bkt, Key=k)
        assert e.value.response["Error"]["Code"] == "InvalidRequest"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3.head_object(Bucket=bkt, Key=k)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        # wrong key: 403 AccessDenied
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3.get_object(Bucket=bkt, Key=k, **ssec_args(ssec_key(b"wrong")))
        assert e.value.response["Error"]["Code"] == "AccessDenied"
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3.head_object(Bucket=bkt, Key=k, **ssec_args(ssec_key(b"wrong")))
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        # GetObjectAttributes shows the object's metadata only to its key, as HEAD
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3.get_object_attributes(Bucket=bkt, Key=k, ObjectAttributes=["ETag", "ObjectSize"])
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3.get_object_attributes(Bucket=bkt, Key=k, ObjectAttributes=["ETag", "ObjectSize"],
                                     **ssec_encoded(ssec_key(b"wrong")))
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        a = s3.get_object_attributes(Bucket=bkt, Key=k, ObjectAttributes=["ObjectSize"],
                                     **ssec_encoded(key))
        assert a["ObjectSize"] == (len(body) if k == "c" else 4)
    # the right key's MD5 header wrong: 400 InvalidArgument
    hdrs = {"x-amz-server-side-encryption-customer-algorithm": "AES256",
            "x-amz-server-side-encryption-customer-key": base64.b64encode(key).decode(),
            "x-amz-server-side-encryption-customer-key-MD5":
                base64.b64encode(hashlib.md5(b"other").digest()).decode()}
    r = raw_request(srv, "GET", "/%s/c" % bkt, headers=hdrs)
    assert (r.status, r.error_code()) == (400, "InvalidArgument"), r
    r = raw_request(srv, "PUT", "/%s/c2" % bkt, headers=hdrs, body=b"abc")
    assert (r.status, r.error_code()) == (400, "InvalidArgument"), r
    # a key of the wrong length
    short = os.urandom(16)
    hdrs2 = dict(hdrs)
    hdrs2["x-amz-server-side-encryption-customer-key"] = base64.b64encode(short).decode()
    hdrs2["x-amz-server-side-encryption-customer-key-MD5"] = \
        base64.b64encode(hashlib.md5(short).digest()).decode()
    r = raw_request(srv, "PUT", "/%s/c2" % bkt, headers=hdrs2, body=b"abc")
    assert (r.status, r.error_code()) == (400, "InvalidArgument"), r
    # SSE-C headers for an object without SSE-C
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bkt, Key="plain", **ssec_args(key))
    assert e.value.response["Error"]["Code"] == "InvalidRequest"
    # SSE-C together with x-amz-server-side-encryption
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bkt, Key="both", Body=b"x", ServerSideEncryption="AES256",
                      **ssec_args(key))
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # the right key still works, and the answer names the key's MD5
    g = s3.get_object(Bucket=bkt, Key="c", **ssec_args(key))
    assert g["Body"].read() == body
    assert g["SSECustomerKeyMD5"] == base64.b64encode(hashlib.md5(key).digest()).decode()


def test_ssec_refused_over_plain_http(server, s3, bucket):
    """Without --allow-insecure-ssec, as S3 over HTTP."""
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", **ssec_args(ssec_key()))
    assert e.value.response["Error"]["Code"] == "InvalidRequest"
    assert "secure connection" in e.value.response["Error"]["Message"]
    # SSE-S3 works there (the session server generated its master key)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="AES256")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    assert os.stat(os.path.join(server.data_dir, ".cairn", "master.key")).st_mode & 0o777 == 0o600


def test_sse_header_on_read_refused(server, s3, bucket, raw_request):
    """A GET or HEAD naming SSE-S3/KMS is refused as on S3 (400), not ignored."""
    s3.put_object(Bucket=bucket, Key="r", Body=b"x", ServerSideEncryption="AES256")
    for method in ("GET", "HEAD"):
        r = raw_request(server, method, "/%s/r" % bucket,
                        headers={"x-amz-server-side-encryption": "AES256"})
        assert r.status == 400, (method, r)
        if method == "GET":
            assert r.error_code() == "InvalidArgument", r
    assert s3.get_object(Bucket=bucket, Key="r")["Body"].read() == b"x"


def test_bucket_default_encryption(env, bkt):
    srv, s3 = env
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_bucket_encryption(Bucket=bkt)
    assert e.value.response["Error"]["Code"] == "ServerSideEncryptionConfigurationNotFoundError"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    s3.put_object(Bucket=bkt, Key="before", Body=b"before")
    assert "ServerSideEncryption" not in s3.head_object(Bucket=bkt, Key="before")

    s3.put_bucket_encryption(Bucket=bkt, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    conf = s3.get_bucket_encryption(Bucket=bkt)["ServerSideEncryptionConfiguration"]
    assert conf["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    body = os.urandom(100 * 1024)
    r = s3.put_object(Bucket=bkt, Key="after", Body=body)
    assert r["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bkt, Key="after")["Body"].read() == body
    # multipart and copies get it too
    up = s3.create_multipart_upload(Bucket=bkt, Key="mp")
    assert up["ServerSideEncryption"] == "AES256"
    s3.abort_multipart_upload(Bucket=bkt, Key="mp", UploadId=up["UploadId"])
    r = s3.copy_object(Bucket=bkt, Key="before-copy", CopySource={"Bucket": bkt, "Key": "before"})
    assert r["ServerSideEncryption"] == "AES256"
    # a request's own choice wins over the default
    r = s3.put_object(Bucket=bkt, Key="kms", Body=b"k", ServerSideEncryption="aws:kms")
    assert r["ServerSideEncryption"] == "aws:kms"

    s3.put_bucket_encryption(Bucket=bkt, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms",
                                                          "KMSMasterKeyID": "ring1"},
                   "BucketKeyEnabled": True}]})
    conf = s3.get_bucket_encryption(Bucket=bkt)["ServerSideEncryptionConfiguration"]
    assert conf["Rules"][0]["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == "ring1"
    assert conf["Rules"][0]["BucketKeyEnabled"] is True
    r = s3.put_object(Bucket=bkt, Key="kms2", Body=b"k2")
    assert r["ServerSideEncryption"] == "aws:kms" and r["SSEKMSKeyId"].endswith("/ring1")
    assert s3.get_object(Bucket=bkt, Key="kms2")["Body"].read() == b"k2"

    s3.delete_bucket_encryption(Bucket=bkt)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_bucket_encryption(Bucket=bkt)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert "ServerSideEncryption" not in s3.put_object(Bucket=bkt, Key="plain", Body=b"p")
    # a bad algorithm is refused
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_bucket_encryption(Bucket=bkt, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "DES"}}]})
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize("mode", ["s3", "c"])
def test_attrs_rewrites_keep_encryption(env, bkt, mode):
    """Tags and ACLs replace a version's attrs: its encryption record stays."""
    srv, s3 = env
    for n in [10, 200 * 1024]:
        body = os.urandom(n)
        s3.put_object(Bucket=bkt, Key="t", Body=body, **put_args(mode))
        s3.put_object_tagging(Bucket=bkt, Key="t", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
        s3.delete_object_tagging(Bucket=bkt, Key="t")
        g = s3.get_object(Bucket=bkt, Key="t", **get_args(mode))
        assert g["Body"].read() == body
        if mode == "s3":
            assert g["ServerSideEncryption"] == "AES256"


def test_post_object_gets_bucket_default(env, bkt):
    """A browser form upload into a bucket with default encryption is
    encrypted too (its own SSE fields are refused with 501)."""
    from test_post import form_body, post, presigned
    srv, s3 = env
    s3.put_bucket_encryption(Bucket=bkt, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    fields = presigned(srv, bkt, "form")
    r = post(srv, bkt, form_body(fields, data=b"form bytes"))
    assert r.status == 204, r
    assert r.headers.get("x-amz-server-side-encryption") == "AES256", r.headers
    g = s3.get_object(Bucket=bkt, Key="form")
    assert g["ServerSideEncryption"] == "AES256" and g["Body"].read() == b"form bytes"


def test_kms_keys(env, bkt):
    srv, s3 = env
    # unknown key id: 400 KMS.NotFoundException, as AWS
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bkt, Key="k", Body=b"x", ServerSideEncryption="aws:kms",
                      SSEKMSKeyId="no-such-key")
    assert e.value.response["Error"]["Code"] == "KMS.NotFoundException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # a key id without aws:kms
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bkt, Key="k", Body=b"x", ServerSideEncryption="AES256",
                      SSEKMSKeyId="ring1")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # adding a key twice is refused; the ring lists it and the default
    assert admin_kms_add(srv, "ring1").status == 409
    assert admin_kms_add(srv, "Bad Name").status == 400
    assert admin_kms_add(srv, "ring2").status == 200
    lst = json.loads(raw_request(srv, "GET", "/_cairn/admin/kms/key").body)
    names = [k["name"] for k in lst["keys"]]
    assert names[0] == "aws/s3" and "ring1" in names and "ring2" in names
    arn = [k["arn"] for k in lst["keys"] if k["name"] == "ring2"][0]
    # the name, its ARN and alias/ forms all name the key
    for kid in ["ring2", arn, "alias/ring2"]:
        r = s3.put_object(Bucket=bkt, Key="k", Body=b"data-" + kid.encode(),
                          ServerSideEncryption="aws:kms", SSEKMSKeyId=kid)
        assert r["SSEKMSKeyId"] == arn
        g = s3.get_object(Bucket=bkt, Key="k")
        assert g["Body"].read() == b"data-" + kid.encode()
        assert g["SSEKMSKeyId"] == arn and g["ServerSideEncryption"] == "aws:kms"
    # encryption context: base64 JSON of strings, else 400
    ctx = base64.b64encode(json.dumps({"dept": "a"}).encode()).decode()
    r = s3.put_object(Bucket=bkt, Key="ctx", Body=b"c", ServerSideEncryption="aws:kms",
                      SSEKMSEncryptionContext=ctx, BucketKeyEnabled=True)
    assert r["BucketKeyEnabled"] is True
    assert r["SSEKMSEncryptionContext"] == ctx  # echoed, as S3 answers a write
    g = s3.get_object(Bucket=bkt, Key="ctx")
    assert g["Body"].read() == b"c" and "SSEKMSEncryptionContext" not in g
    up = s3.create_multipart_upload(Bucket=bkt, Key="ctxm", ServerSideEncryption="aws:kms",
                                    SSEKMSEncryptionContext=ctx)
    assert up["SSEKMSEncryptionContext"] == ctx
    s3.abort_multipart_upload(Bucket=bkt, Key="ctxm", UploadId=up["UploadId"])
    for bad in ["not base64 !", base64.b64encode(b"[1,2]").decode(),
                base64.b64encode(b'{"a": 1}').decode()]:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3.put_object(Bucket=bkt, Key="ctx2", Body=b"c", ServerSideEncryption="aws:kms",
                          SSEKMSEncryptionContext=bad)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # the CLI
    cenv = dict(os.environ, CAIRN_ROOT_USER=srv.access_key, CAIRN_ROOT_PASSWORD=srv.secret_key)
    out = subprocess.run([cairn_bin(), "admin", "--endpoint", srv.endpoint, "kms", "key", "add",
                          "cli-key"], env=cenv, capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    out = subprocess.run([cairn_bin(), "admin", "--endpoint", srv.endpoint, "kms", "key", "list"],
                         env=cenv, capture_output=True, timeout=30)
    assert out.returncode == 0 and b"cli-key" in out.stdout, out
    out = subprocess.run([cairn_bin(), "admin", "--endpoint", srv.endpoint, "status"],
                         env=cenv, capture_output=True, timeout=30)
    st = json.loads(out.stdout)
    assert len(st["master_key_fingerprint"]) == 16


@pytest.mark.parametrize("mode", ["none", "s3", "kms", "c"])
def test_multipart(env, bkt, mode):
    srv, s3 = env
    key = ssec_key(b"mp")
    up = s3.create_multipart_upload(Bucket=bkt, Key="mp", **put_args(mode, key))
    uid = up["UploadId"]
    parts_body = [os.urandom(5 * MiB + 17), os.urandom(5 * MiB), os.urandom(777 * 1024 + 3)]
    parts = []
    for i, b in enumerate(parts_body, 1):
        r = s3.upload_part(Bucket=bkt, Key="mp", UploadId=uid, PartNumber=i, Body=b,
                           **get_args(mode, key))
        if mode in ("none", "s3"):
            assert r["ETag"].strip('"') == hashlib.md5(b).hexdigest()
        else:
            assert r["ETag"].strip('"') != hashlib.md5(b).hexdigest()
        parts.append({"PartNumber": i, "ETag": r["ETag"]})
    if mode == "c":
        # a part with another key is refused
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3.upload_part(Bucket=bkt, Key="mp", UploadId=uid, PartNumber=9, Body=b"x",
                           **ssec_args(ssec_key(b"other")))
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3.upload_part(Bucket=bkt, Key="mp", UploadId=uid, PartNumber=9, Body=b"x")
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    r = s3.complete_multipart_upload(Bucket=bkt, Key="mp", UploadId=uid,
                                     MultipartUpload={"Parts": parts})
    if mode == "s3":
        assert r["ServerSideEncryption"] == "AES256"
    whole = b"".join(parts_body)
    g = s3.get_object(Bucket=bkt, Key="mp", **get_args(mode, key))
    assert g["Body"].read() == whole
    b1 = len(parts_body[0])
    for rng, sl in ranges_for(len(whole)) + [
            ("bytes=%d-%d" % (b1 - 5, b1 + 5), slice(b1 - 5, b1 + 6)),
            ("bytes=%d-%d" % (b1 - F - 1, b1 + F + 1), slice(b1 - F - 1, b1 + F + 2))]:
        g = s3.get_object(Bucket=bkt, Key="mp", Range=rng, **get_args(mode, key))
        assert g["Body"].read() == whole[sl], (mode, rng)
    g = s3.get_object(Bucket=bkt, Key="mp", PartNumber=2, **get_args(mode, key))
    assert g["Body"].read() == parts_body[1]


COPY_MODES = ["none", "s3", "kms", "c"]


@pytest.mark.parametrize("src", COPY_MODES)
def test_copy_between_modes(env, bkt, src):
    srv, s3 = env
    k_src, k_dst = ssec_key(b"src"), ssec_key(b"dst")
    for n in [100, 300 * 1024]:  # inline and blob sources
        body = os.urandom(n)
        s3.put_object(Bucket=bkt, Key="src", Body=body, **put_args(src, k_src))
        for dst in COPY_MODES:
            extra = dict(put_args(dst, k_dst))
            if src == "c":
                extra.update(ssec_args(k_src, copy_source=True))
            r = s3.copy_object(Bucket=bkt, Key="dst", CopySource={"Bucket": bkt, "Key": "src"},
                               **extra)
            etag = r["CopyObjectResult"]["ETag"].strip('"')
            if dst in ("none", "s3"):
                assert etag == hashlib.md5(body).hexdigest(), (src, dst, n)
            else:
                assert etag != hashlib.md5(body).hexdigest(), (src, dst, n)
            g = s3.get_object(Bucket=bkt, Key="dst", **get_args(dst, k_dst))
            assert g["Body"].read() == body, (src, dst, n)
            assert g["ETag"].strip('"') == etag
            # an upload part copied from it, into an SSE-S3 upload
            up = s3.create_multipart_upload(Bucket=bkt, Key="pc", ServerSideEncryption="AES256")
            pc = dict(ssec_args(k_dst, copy_source=True)) if dst == "c" else {}
            r = s3.upload_part_copy(Bucket=bkt, Key="pc", UploadId=up["UploadId"], PartNumber=1,
                                    CopySource={"Bucket": bkt, "Key": "dst"},
                                    CopySourceRange="bytes=1-%d" % (n - 2), **pc)
            s3.complete_multipart_upload(
                Bucket=bkt, Key="pc", UploadId=up["UploadId"],
                MultipartUpload={"Parts": [{"PartNumber": 1,
                                            "ETag": r["CopyPartResult"]["ETag"]}]})
            assert s3.get_object(Bucket=bkt, Key="pc")["Body"].read() == body[1:n - 1]
        if src == "c":
            # the source's key is required, and must be right
            with pytest.raises(botocore.exceptions.ClientError) as e:
                s3.copy_object(Bucket=bkt, Key="dst", CopySource={"Bucket": bkt, "Key": "src"})
            assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
            with pytest.raises(botocore.exceptions.ClientError) as e:
                s3.copy_object(Bucket=bkt, Key="dst", CopySource={"Bucket": bkt, "Key": "src"},
                               **ssec_args(ssec_key(b"bad"), copy_source=True))
            assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_copy_onto_itself_changes_encryption(env, bkt):
    srv, s3 = env
    body = os.urandom(200 * 1024)
    s3.put_object(Bucket=bkt, Key="self", Body=body)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.copy_object(Bucket=bkt, Key="self", CopySource={"Bucket": bkt, "Key": "self"})
    assert e.value.response["Error"]["Code"] == "InvalidRequest"
    r = s3.copy_object(Bucket=bkt, Key="self", CopySource={"Bucket": bkt, "Key": "self"},
                       ServerSideEncryption="aws:kms")
    assert r["ServerSideEncryption"] == "aws:kms"
    g = s3.get_object(Bucket=bkt, Key="self")
    assert g["ServerSideEncryption"] == "aws:kms" and g["Body"].read() == body
    key = ssec_key(b"self")
    s3.copy_object(Bucket=bkt, Key="self", CopySource={"Bucket": bkt, "Key": "self"},
                   **ssec_args(key))
    assert s3.get_object(Bucket=bkt, Key="self", **ssec_args(key))["Body"].read() == body
    s3.copy_object(Bucket=bkt, Key="self", CopySource={"Bucket": bkt, "Key": "self"},
                   ServerSideEncryption="AES256", **ssec_args(key, copy_source=True))
    g = s3.get_object(Bucket=bkt, Key="self")
    assert g["ServerSideEncryption"] == "AES256" and g["Body"].read() == body


def test_wrong_master_key_is_an_error_not_bytes(tmp_path):
    d = str(tmp_path / "d")
    srv = spawn(d, env={"CAIRN_KMS_MASTER_KEY": MASTER})
    s3 = make_client(srv)
    s3.create_bucket(Bucket="mkey")
    s3.put_object(Bucket="mkey", Key="big", Body=os.urandom(300 * 1024),
                  ServerSideEncryption="AES256")
    s3.put_object(Bucket="mkey", Key="small", Body=b"s", ServerSideEncryption="aws:kms")
    assert srv.stop() == 0
    other = base64.b64encode(os.urandom(32)).decode()
    srv = spawn(d, env={"CAIRN_KMS_MASTER_KEY": other})
    try:
        s3 = make_client(srv)
        for k in ["big", "small"]:
            with pytest.raises(botocore.exceptions.ClientError) as e:
                s3.get_object(Bucket="mkey", Key=k)
            assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    finally:
        assert srv.stop() == 0


def test_flipped_byte_in_encrypted_shard_repaired(tmp_path):
    dirs = [str(tmp_path / ("d%d" % i)) for i in range(4)]
    srv = spawn(dirs[0], "--allow-insecure-ssec", *dirs[1:], env={"CAIRN_KMS_MASTER_KEY": MASTER})
    try:
        s3 = make_client(srv)
        s3.create_bucket(Bucket="flip")
        body = os.urandom(3 * MiB + 5)
        s3.put_object(Bucket="flip", Key="obj", Body=body, **ssec_args(ssec_key()))
        shards = sorted(f for d in dirs for f in glob.glob(os.path.join(d, "blobs", "*", "*", "*")))
        assert len(shards) == 4, shards
        victim = shards[0]
        before = open(victim, "rb").read()
        with open(victim, "r+b") as f:
            f.seek(len(before) // 2)
            b = f.read(1)
            f.seek(len(before) // 2)
            f.write(bytes([b[0] ^ 0x01]))
        for _ in range(2):
            g = s3.get_object(Bucket="flip", Key="obj", **ssec_args(ssec_key()))
            assert g["Body"].read() == body
        # the scrubber rewrites the shard as it was
        cenv = dict(os.environ, CAIRN_ROOT_USER=srv.access_key,
                    CAIRN_ROOT_PASSWORD=srv.secret_key)
        out = subprocess.run([cairn_bin(), "admin", "--endpoint", srv.endpoint, "scrub", "--wait"],
                             env=cenv, capture_output=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert open(victim, "rb").read() == before
    finally:
        assert srv.stop() == 0


def test_kill9_during_encrypted_puts(tmp_path):
    d = str(tmp_path / "d")
    srv = spawn(d, "--allow-insecure-ssec", env={"CAIRN_KMS_MASTER_KEY": MASTER})
    s3 = make_client(srv)
    s3.create_bucket(Bucket="crash")
    acked = {}
    stop = threading.Event()
    lock = threading.Lock()

    def writer(tid):
        c = make_client(srv)
        i = 0
        while not stop.is_set():
            mode = ["s3", "kms", "c"][i % 3]
            body = os.urandom([100, 70 * 1024, 700 * 1024][(i + tid) % 3])
            key = "t%d-%d" % (tid, i)
            try:
                c.put_object(Bucket="crash", Key=key, Body=body, **put_args(mode))
            except Exception:
                return
            with lock:
                acked[key] = (mode, body)
            i += 1

    ts = [threading.Thread(target=writer, args=(t,)) for t in range(3)]
    for t in ts:
        t.start()
    time.sleep(1.5)
    srv.kill()
    stop.set()
    for t in ts:
        t.join()
    assert len(acked) > 5
    srv = spawn(d, "--allow-insecure-ssec", env={"CAIRN_KMS_MASTER_KEY": MASTER})
    try:
        s3 = make_client(srv)
        for key, (mode, body) in acked.items():
            assert s3.get_object(Bucket="crash", Key=key,
                                 **get_args(mode))["Body"].read() == body, key
    finally:
        assert srv.stop() == 0


@pytest.mark.skipif(not os.environ.get("CAIRN_SLOW_TESTS"),
                    reason="100 MiB multipart: set CAIRN_SLOW_TESTS=1")
def test_multipart_100mib(env, bkt):
    srv, s3 = env
    up = s3.create_multipart_upload(Bucket=bkt, Key="big", ServerSideEncryption="AES256")
    h = hashlib.md5()
    parts = []
    for i in range(1, 11):
        b = os.urandom(10 * MiB)
        h.update(b)
        r = s3.upload_part(Bucket=bkt, Key="big", UploadId=up["UploadId"], PartNumber=i, Body=b)
        parts.append({"PartNumber": i, "ETag": r["ETag"]})
    s3.complete_multipart_upload(Bucket=bkt, Key="big", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": parts})
    g = s3.get_object(Bucket=bkt, Key="big")
    got = hashlib.md5()
    for chunk in iter(lambda: g["Body"].read(MiB), b""):
        got.update(chunk)
    assert got.hexdigest() == h.hexdigest()
