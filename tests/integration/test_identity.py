"""
Identity and access with AWS's semantics, end to end: users, keys, groups
and policies made with `cairn admin` (the CLI, as an operator would), then
real clients (boto3, curl, urllib, the aws CLI) signing as those users.

 1. a readwrite user and a readonly user: every S3 operation allowed for
    the one it should be and refused (403 AccessDenied, nothing changed)
    for the other
 2. a policy matrix: identity and bucket policies, deny beats allow,
    wildcards, condition keys and operators, groups, detach/replace taking
    effect on the next request
 3. access keys: disable/enable/remove, user disable/remove, a key removed
    in the middle of a multipart upload
 4. anonymous access: public bucket policy and public ACLs through curl and
    urllib; Public Access Block's RestrictPublicBuckets / IgnorePublicAcls
 5. bucket policy / policy status / Public Access Block / ownership
    controls / ACL APIs: exact shapes and errors
 6. SigV2: header and presigned (boto3 'HmacV1', the aws CLI's presign),
    tampering, expiry, --no-sigv2
 7. no secret ever reaches the server's log

Everything runs against a server of this module's own (not the session
server), started without --quiet so that its access log is there to search
in (7). A test during which it dies fails (with the end of its log) and the
next test gets a new one, so one crash fails one test, not the module.
Where AWS and cairn differ, the test asserts AWS's behaviour.
"""
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET

import botocore
import pytest

from conftest import REGION, cairn_bin, make_client, spawn

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
DENIED = "403 AccessDenied"
BADKEY = "403 InvalidAccessKeyId"


# ---- helpers ----

def uid(prefix):
    return "%s%s" % (prefix, uuid.uuid4().hex[:10])


class Keys:
    """What make_client needs: an endpoint and a key pair."""

    def __init__(self, server, access_key, secret_key):
        self.endpoint, self.host, self.port = server.endpoint, server.host, server.port
        self.access_key, self.secret_key = access_key, secret_key


class IAM:
    """The module's server plus `cairn admin` as its root user."""

    def __init__(self, tmpdir):
        self.tmpdir = tmpdir
        self.servers = []  # every server this module started (restarts after a crash)
        self.server = None
        self.root = None
        self.secrets = []  # every user secret handed out (test 7)

    def start(self):
        data = os.path.join(self.tmpdir, "data-%d" % len(self.servers))
        self.server = spawn(data, quiet=False)
        self.servers.append(self.server)
        self.root = make_client(self.server)

    def admin(self, *args, ok=True):
        """Runs `cairn admin --endpoint URL ARGS`; the parsed JSON on success
        (ok=True), else (exit code, stdout, stderr)."""
        env = dict(os.environ, CAIRN_ROOT_USER=self.server.access_key,
                   CAIRN_ROOT_PASSWORD=self.server.secret_key)
        r = subprocess.run([cairn_bin(), "admin", "--endpoint", self.server.endpoint,
                            *args], env=env, capture_output=True, text=True, timeout=30)
        if ok:
            assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
            return json.loads(r.stdout)
        return r.returncode, r.stdout, r.stderr

    def user(self, name, *policies, access_key=None, secret_key=None):
        """A new user with its first key and these policies attached; its
        Keys (with .user, .canonical)."""
        args = ["user", "add", name]
        if access_key:
            args += ["--access-key", access_key, "--secret-key", secret_key]
            self.secrets.append(secret_key)
        out = self.admin(*args)
        assert out["user"] == name
        assert re.fullmatch(r"[0-9a-f]{64}", out["canonical_id"]), out
        if access_key:
            assert (out["access_key"], out["secret_key"]) == (access_key, secret_key)
        self.secrets.append(out["secret_key"])
        for p in policies:
            self.admin("policy", "attach", name, p)
        k = Keys(self.server, out["access_key"], out["secret_key"])
        k.user, k.canonical = name, out["canonical_id"]
        return k

    def key_add(self, name):
        out = self.admin("user", "key", "add", name)
        self.secrets.append(out["secret_key"])
        return Keys(self.server, out["access_key"], out["secret_key"])

    def policy(self, name, doc):
        path = os.path.join(self.tmpdir, "%s.json" % name)
        with open(path, "w") as f:
            json.dump(doc, f)
        return self.admin("policy", "add", name, path)

    def client(self, keys, **config):
        return make_client(keys, **config)

    def bucket(self, **kw):
        name = uid("id-")
        self.root.create_bucket(Bucket=name, **kw)
        return name

    def public_bucket(self, **kw):
        """A bucket whose Public Access Block is gone."""
        b = self.bucket(**kw)
        self.root.delete_public_access_block(Bucket=b)
        return b


@pytest.fixture(scope="module")
def _iam_module():
    base = tempfile.mkdtemp(prefix="cairn-identity-")
    ctx = IAM(base)
    yield ctx
    code = ctx.server.stop() if ctx.server else 0
    if code == 0 and all(s.exit_code == 0 for s in ctx.servers):
        shutil.rmtree(base, ignore_errors=True)
    assert code == 0, "identity server exited with %s:\n%s" % (code, ctx.server.log()[-4000:])


@pytest.fixture
def iam(_iam_module):
    """The module's server; a test during which it dies fails (teardown), and
    the next test gets a new one, so that one crash does not fail them all."""
    ctx = _iam_module
    if ctx.server is None or ctx.server.proc.poll() is not None:
        ctx.start()
    yield ctx
    code = ctx.server.proc.poll()
    if code is not None:
        ctx.server.exit_code = code
        pytest.fail("the server died during this test (exit status %s); its log ends:\n%s"
                    % (code, ctx.server.log()[-3000:]), pytrace=False)


def outcome(fn, *args, **kw):
    """'ok', or 'STATUS Code' of the S3 error."""
    try:
        fn(*args, **kw)
        return "ok"
    except botocore.exceptions.ClientError as e:
        st = e.response["ResponseMetadata"]["HTTPStatusCode"]
        code = e.response["Error"]["Code"]
        if code == str(st):  # HEAD: no body, botocore puts the status there
            code = {403: "AccessDenied", 404: "NotFound"}.get(st, code)
        return "%d %s" % (st, code)


def err(excinfo):
    return "%d %s" % (excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"],
                      excinfo.value.response["Error"]["Code"])


def exists(s3, bucket, key):
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except botocore.exceptions.ClientError as e:
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 404, e.response
        return False


def body_of(s3, bucket, key):
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def http_get(url, headers=None):
    """(status, body) of an unsigned GET through urllib."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def curl(url, *args):
    """(status, body) of `curl URL` (plain: no credentials of any kind)."""
    r = subprocess.run(["curl", "-s", "-S", "-g", "-w", "\n%{http_code}", *args, url],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    body, _, status = r.stdout.rpartition(b"\n")
    return int(status), body


def code_of(body):
    m = re.search(rb"<Code>([^<]*)</Code>", body)
    return m.group(1).decode() if m else None


def stmt(effect, action, resource, principal=None, condition=None):
    s = {"Effect": effect, "Action": action, "Resource": resource}
    if principal is not None:
        s["Principal"] = principal
    if condition is not None:
        s["Condition"] = condition
    return s


def doc(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def delete_objects_body(keys):
    body = ("<Delete>%s</Delete>" % "".join("<Object><Key>%s</Key></Object>" % k
                                             for k in keys)).encode()
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    return body, {"Content-MD5": md5, "Content-Type": "application/xml"}


# ---- 1. a readwrite user and a readonly user ----

def test_readwrite_and_readonly_users(iam):
    alice = iam.user(uid("alice-"), "readwrite")
    bob = iam.user(uid("bob-"), "readonly")
    a, b, root = iam.client(alice), iam.client(bob), iam.root

    # CreateBucket: alice yes, bob no (and no bucket appears)
    bob_bucket = uid("id-bob-")
    assert outcome(b.create_bucket, Bucket=bob_bucket) == DENIED
    assert outcome(root.head_bucket, Bucket=bob_bucket) == "404 NotFound"
    bk = uid("id-alice-")
    a.create_bucket(Bucket=bk)
    root.head_bucket(Bucket=bk)

    # objects: alice writes, both read
    a.put_object(Bucket=bk, Key="doc.txt", Body=b"alice's words")
    assert body_of(b, bk, "doc.txt") == b"alice's words"
    assert b.head_object(Bucket=bk, Key="doc.txt")["ContentLength"] == 13
    assert [o["Key"] for o in b.list_objects_v2(Bucket=bk)["Contents"]] == ["doc.txt"]
    assert [o["Key"] for o in b.list_objects(Bucket=bk)["Contents"]] == ["doc.txt"]
    assert bk in [x["Name"] for x in b.list_buckets()["Buckets"]]

    # bob's writes are refused and change nothing
    assert outcome(b.put_object, Bucket=bk, Key="doc.txt", Body=b"bob was here") == DENIED
    assert outcome(b.put_object, Bucket=bk, Key="bob.txt", Body=b"x") == DENIED
    assert body_of(root, bk, "doc.txt") == b"alice's words"
    assert not exists(root, bk, "bob.txt")
    assert outcome(b.delete_object, Bucket=bk, Key="doc.txt") == DENIED
    assert exists(root, bk, "doc.txt")
    assert outcome(b.copy_object, Bucket=bk, Key="bobcopy.txt",
                   CopySource={"Bucket": bk, "Key": "doc.txt"}) == DENIED
    assert not exists(root, bk, "bobcopy.txt")
    assert outcome(b.delete_bucket, Bucket=bk) == DENIED
    root.head_bucket(Bucket=bk)

    # CopyObject: alice
    a.copy_object(Bucket=bk, Key="copy.txt", CopySource={"Bucket": bk, "Key": "doc.txt"})
    assert body_of(b, bk, "copy.txt") == b"alice's words"

    # multipart: bob can neither start, add to, finish nor abort one
    assert outcome(b.create_multipart_upload, Bucket=bk, Key="mp-bob") == DENIED
    assert root.list_multipart_uploads(Bucket=bk).get("Uploads", []) == []
    up = a.create_multipart_upload(Bucket=bk, Key="mp")["UploadId"]
    assert outcome(b.upload_part, Bucket=bk, Key="mp", UploadId=up, PartNumber=1,
                   Body=b"bob's part") == DENIED
    assert root.list_parts(Bucket=bk, Key="mp", UploadId=up).get("Parts", []) == []
    e1 = a.upload_part(Bucket=bk, Key="mp", UploadId=up, PartNumber=1,
                       Body=b"alice's part")["ETag"]
    # readonly has s3:List*: both listings are allowed
    assert [u["UploadId"] for u in b.list_multipart_uploads(Bucket=bk)["Uploads"]] == [up]
    assert [p["PartNumber"] for p in b.list_parts(Bucket=bk, Key="mp", UploadId=up)["Parts"]] \
        == [1]
    parts = {"Parts": [{"PartNumber": 1, "ETag": e1}]}
    assert outcome(b.complete_multipart_upload, Bucket=bk, Key="mp", UploadId=up,
                   MultipartUpload=parts) == DENIED
    assert not exists(root, bk, "mp")
    assert outcome(b.abort_multipart_upload, Bucket=bk, Key="mp", UploadId=up) == DENIED
    assert [u["UploadId"] for u in root.list_multipart_uploads(Bucket=bk)["Uploads"]] == [up]
    a.complete_multipart_upload(Bucket=bk, Key="mp", UploadId=up, MultipartUpload=parts)
    assert body_of(b, bk, "mp") == b"alice's part"
    up2 = a.create_multipart_upload(Bucket=bk, Key="mp2")["UploadId"]
    a.abort_multipart_upload(Bucket=bk, Key="mp2", UploadId=up2)

    # DeleteObjects by alice (bob's: test_delete_objects_checks_each_key)
    r = a.delete_objects(Bucket=bk, Delete={"Objects": [{"Key": "copy.txt"}, {"Key": "mp"}]})
    assert sorted(x["Key"] for x in r["Deleted"]) == ["copy.txt", "mp"]
    assert not r.get("Errors")
    assert not exists(root, bk, "copy.txt")

    # versioning: both read it, only alice sets it
    assert "Status" not in b.get_bucket_versioning(Bucket=bk)
    a.put_bucket_versioning(Bucket=bk, VersioningConfiguration={"Status": "Enabled"})
    assert outcome(b.put_bucket_versioning, Bucket=bk,
                   VersioningConfiguration={"Status": "Suspended"}) == DENIED
    assert b.get_bucket_versioning(Bucket=bk)["Status"] == "Enabled"

    # bucket policy: alice puts one (naming bob: not public), both read it,
    # bob can neither replace nor delete it
    pol = json.dumps(doc(stmt("Allow", "s3:GetObject", "arn:aws:s3:::%s/*" % bk,
                              {"CanonicalUser": bob.canonical})))
    a.put_bucket_policy(Bucket=bk, Policy=pol)
    assert json.loads(b.get_bucket_policy(Bucket=bk)["Policy"]) == json.loads(pol)
    other = json.dumps(doc(stmt("Allow", "s3:*", "arn:aws:s3:::%s/*" % bk,
                                {"CanonicalUser": bob.canonical})))
    assert outcome(b.put_bucket_policy, Bucket=bk, Policy=other) == DENIED
    assert outcome(b.delete_bucket_policy, Bucket=bk) == DENIED
    assert json.loads(root.get_bucket_policy(Bucket=bk)["Policy"]) == json.loads(pol)

    # a user with no policy at all: nothing, not even ListBuckets
    nobody = iam.client(iam.user(uid("nobody-")))
    assert outcome(nobody.list_buckets) == DENIED
    assert outcome(nobody.list_objects_v2, Bucket=bk) == DENIED
    assert outcome(nobody.get_object, Bucket=bk, Key="doc.txt") == DENIED
    assert outcome(nobody.head_object, Bucket=bk, Key="doc.txt") == DENIED
    assert outcome(nobody.head_bucket, Bucket=bk) == DENIED

    # alice deletes what she made
    a.delete_bucket_policy(Bucket=bk)
    a.put_bucket_versioning(Bucket=bk, VersioningConfiguration={"Status": "Suspended"})
    for v in root.list_object_versions(Bucket=bk).get("Versions", []) + \
            root.list_object_versions(Bucket=bk).get("DeleteMarkers", []):
        a.delete_object(Bucket=bk, Key=v["Key"], VersionId=v["VersionId"])
    a.delete_bucket(Bucket=bk)
    assert outcome(root.head_bucket, Bucket=bk) == "404 NotFound"


def test_copy_needs_read_on_the_source(iam):
    """CopyObject / UploadPartCopy need s3:GetObject on the source as well as
    s3:PutObject on the destination (AWS); a writeonly user copies nothing."""
    w = iam.client(iam.user(uid("writer-"), "writeonly"))
    bk = iam.bucket()
    iam.root.put_object(Bucket=bk, Key="secret", Body=b"top secret")
    w.put_object(Bucket=bk, Key="mine", Body=b"written")  # writeonly can write
    assert outcome(w.get_object, Bucket=bk, Key="secret") == DENIED
    assert outcome(w.copy_object, Bucket=bk, Key="leak",
                   CopySource={"Bucket": bk, "Key": "secret"}) == DENIED
    assert not exists(iam.root, bk, "leak")
    up = w.create_multipart_upload(Bucket=bk, Key="leak2")["UploadId"]
    assert outcome(w.upload_part_copy, Bucket=bk, Key="leak2", UploadId=up, PartNumber=1,
                   CopySource={"Bucket": bk, "Key": "secret"}) == DENIED
    assert iam.root.list_parts(Bucket=bk, Key="leak2", UploadId=up).get("Parts", []) == []
    w.abort_multipart_upload(Bucket=bk, Key="leak2", UploadId=up)


def test_copy_source_tags_and_account_principals(iam):
    """A copy reads its source as a GET does: a Deny on the source's
    s3:ExistingObjectTag holds for CopyObject and UploadPartCopy (they read
    it anyway). An account as the principal of a bucket policy's Allow
    delegates to the account: its users still need an identity policy
    (IAM); a Deny naming the account reaches them."""
    rw = iam.client(iam.user(uid("cp-"), "readwrite"))
    bk = iam.bucket()
    iam.root.put_object(Bucket=bk, Key="secret", Body=b"TOPSECRET", Tagging="cls=secret")
    iam.root.put_object(Bucket=bk, Key="open", Body=b"open", Tagging="cls=open")
    iam.root.put_bucket_policy(Bucket=bk, Policy=json.dumps(doc(stmt(
        "Deny", "s3:GetObject", "arn:aws:s3:::%s/*" % bk, "*",
        {"StringEquals": {"s3:ExistingObjectTag/cls": "secret"}}))))
    assert outcome(rw.get_object, Bucket=bk, Key="secret") == DENIED
    assert outcome(rw.copy_object, Bucket=bk, Key="leak", CopySource={"Bucket": bk, "Key": "secret"},
                   TaggingDirective="REPLACE", Tagging="cls=open") == DENIED
    assert not exists(iam.root, bk, "leak")
    up = rw.create_multipart_upload(Bucket=bk, Key="leak2")["UploadId"]
    assert outcome(rw.upload_part_copy, Bucket=bk, Key="leak2", UploadId=up, PartNumber=1,
                   CopySource={"Bucket": bk, "Key": "secret"}) == DENIED
    rw.abort_multipart_upload(Bucket=bk, Key="leak2", UploadId=up)
    rw.copy_object(Bucket=bk, Key="copied", CopySource={"Bucket": bk, "Key": "open"})
    assert body_of(iam.root, bk, "copied") == b"open"

    acct = iam.admin("status")["account"]["id"]
    none = iam.client(iam.user(uid("np-")))   # no identity policy
    bk2 = iam.bucket()
    iam.root.put_object(Bucket=bk2, Key="k", Body=b"k")
    for principal in ({"AWS": "arn:aws:iam::%s:root" % acct}, {"AWS": acct}):
        iam.root.put_bucket_policy(Bucket=bk2, Policy=json.dumps(doc(stmt(
            "Allow", "s3:GetObject", "arn:aws:s3:::%s/*" % bk2, principal))))
        assert outcome(none.get_object, Bucket=bk2, Key="k") == DENIED, principal
        assert body_of(rw, bk2, "k") == b"k"   # the identity policy grants it
        iam.root.put_bucket_policy(Bucket=bk2, Policy=json.dumps(doc(stmt(
            "Deny", "s3:GetObject", "arn:aws:s3:::%s/*" % bk2, principal))))
        assert outcome(rw.get_object, Bucket=bk2, Key="k") == DENIED, principal
    iam.root.delete_bucket_policy(Bucket=bk2)


def _with_header(client, op, name, value):
    def add(request, **_):
        request.headers[name] = value
    client.meta.events.register("before-sign.s3.%s" % op, add)
    return client


def test_request_condition_keys(iam):
    """Condition keys a write's own request supplies: the tags it asks for
    (s3:RequestObjectTagKeys, s3:RequestObjectTag/<key>), its conditional
    header (s3:if-none-match), the bucket's account (s3:ResourceAccount).
    They were accepted in policies and then evaluated as absent."""
    keys = iam.user(uid("rk-"), "readwrite")
    rw = iam.client(keys)
    bk = iam.bucket()
    acct = iam.admin("status")["account"]["id"]
    res = "arn:aws:s3:::%s/*" % bk
    iam.root.put_bucket_policy(Bucket=bk, Policy=json.dumps(doc(
        stmt("Deny", ["s3:PutObject", "s3:PutObjectTagging"], res, "*",
             {"ForAnyValue:StringNotEquals": {"s3:RequestObjectTagKeys": ["project", "owner"]}}),
        stmt("Deny", "s3:PutObject", res, "*",
             {"StringNotEquals": {"s3:RequestObjectTag/project": "apollo"},
              "Null": {"s3:RequestObjectTag/project": "false"}}),
        stmt("Deny", "s3:GetObject", res, "*",
             {"StringNotEquals": {"s3:ResourceAccount": acct}}))))
    assert outcome(rw.put_object, Bucket=bk, Key="a", Body=b"a", Tagging="evil=1") == DENIED
    assert outcome(rw.put_object, Bucket=bk, Key="b", Body=b"b", Tagging="project=gemini") == DENIED
    rw.put_object(Bucket=bk, Key="c", Body=b"c", Tagging="project=apollo&owner=me")
    rw.put_object(Bucket=bk, Key="d", Body=b"d")   # no tags: nothing to refuse
    assert body_of(rw, bk, "c") == b"c"            # the bucket is the account's
    # PutObjectTagging: the tags its body asks for
    assert outcome(rw.put_object_tagging, Bucket=bk, Key="d", Tagging={"TagSet": [
        {"Key": "evil", "Value": "1"}]}) == DENIED
    rw.put_object_tagging(Bucket=bk, Key="d", Tagging={"TagSet": [
        {"Key": "owner", "Value": "me"}]})
    assert iam.root.get_object_tagging(Bucket=bk, Key="d")["TagSet"] == [
        {"Key": "owner", "Value": "me"}]
    # create-only uploads: a PUT without If-None-Match is refused
    iam.root.put_bucket_policy(Bucket=bk, Policy=json.dumps(doc(
        stmt("Deny", "s3:PutObject", res, "*", {"Null": {"s3:if-none-match": "true"}}))))
    assert outcome(rw.put_object, Bucket=bk, Key="e", Body=b"e") == DENIED
    c2 = _with_header(iam.client(keys), "PutObject", "If-None-Match", "*")
    c2.put_object(Bucket=bk, Key="e", Body=b"e")
    assert body_of(rw, bk, "e") == b"e"
    iam.root.delete_bucket_policy(Bucket=bk)


def test_enforce_conditional_writes_policy(iam):
    """AWS's "enforce conditional writes" bucket policy: uploads only with
    If-None-Match, multipart steps exempted through s3:ObjectCreationOperation
    (false for CreateMultipartUpload / UploadPart, true for PutObject and
    CompleteMultipartUpload). The key was refused as unknown, so the policy
    from AWS's guide could not be set."""
    name = uid("cw-")
    keys = iam.user(name)                     # no identity policy: the bucket's grants
    acct = iam.admin("status")["account"]["id"]
    bk = iam.bucket()
    who = {"AWS": "arn:aws:iam::%s:user/%s" % (acct, name)}
    res = "arn:aws:s3:::%s/*" % bk
    iam.root.put_bucket_policy(Bucket=bk, Policy=json.dumps(doc(
        stmt("Allow", "s3:PutObject", res, who, {"Null": {"s3:if-none-match": "false"}}),
        stmt("Allow", "s3:PutObject", res, who,
             {"Bool": {"s3:ObjectCreationOperation": "false"}}))))
    plain = iam.client(keys)
    cond = _with_header(iam.client(keys), "PutObject", "If-None-Match", "*")
    assert outcome(plain.put_object, Bucket=bk, Key="a", Body=b"a") == DENIED
    cond.put_object(Bucket=bk, Key="a", Body=b"a")
    assert outcome(cond.put_object, Bucket=bk, Key="a", Body=b"b") == "412 PreconditionFailed"
    # multipart: the steps pass, the Complete needs the header
    up = plain.create_multipart_upload(Bucket=bk, Key="m")["UploadId"]
    e = plain.upload_part(Bucket=bk, Key="m", UploadId=up, PartNumber=1, Body=b"p")["ETag"]
    parts = {"Parts": [{"PartNumber": 1, "ETag": e}]}
    assert outcome(plain.complete_multipart_upload, Bucket=bk, Key="m", UploadId=up,
                   MultipartUpload=parts) == DENIED
    c2 = _with_header(iam.client(keys), "CompleteMultipartUpload", "If-None-Match", "*")
    c2.complete_multipart_upload(Bucket=bk, Key="m", UploadId=up, MultipartUpload=parts)
    assert body_of(iam.root, bk, "m") == b"p"
    iam.root.delete_bucket_policy(Bucket=bk)


def test_body_condition_keys(iam, raw_request):
    """Condition keys a request's body holds, read before the decision:
    s3:LocationConstraint (CreateBucket's configuration) and
    s3:object-lock-remaining-retention-days (PutObjectRetention's body, or a
    write's retain-until header). Both were evaluated as absent, so a cap on
    retention never applied and a region rule denied every CreateBucket."""
    import datetime
    iam.policy("bodykeys", doc(
        stmt("Allow", "s3:*", "*"),
        stmt("Deny", "s3:CreateBucket", "*",
             condition={"StringNotEquals": {"s3:LocationConstraint": REGION}}),
        stmt("Deny", ["s3:PutObject", "s3:PutObjectRetention"], "*",
             condition={"NumericGreaterThan": {"s3:object-lock-remaining-retention-days": "10"}})))
    keys = iam.user(uid("bk-"), "bodykeys")
    s3 = iam.client(keys)
    # no configuration: the key is absent, StringNotEquals holds: denied
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.create_bucket(Bucket=uid("bk-"))
    assert err(e) == "403 AccessDenied"
    # the region named in the body: allowed
    b = uid("bk-")
    s3.create_bucket(Bucket=b, CreateBucketConfiguration={"LocationConstraint": REGION})
    assert iam.root.head_bucket(Bucket=b)["ResponseMetadata"]["HTTPStatusCode"] == 200
    # a body that does not parse: denied first (the key is absent), not MalformedXML
    r = raw_request(iam.server, "PUT", "/" + uid("bk-"), body=b"<CreateBucketConfiguration>",
                    access_key=keys.access_key, secret_key=keys.secret_key)
    assert (r.status, r.error_code()) == (403, "AccessDenied"), r
    # a malformed body names no region, even with the element in it
    r = raw_request(iam.server, "PUT", "/" + uid("bk-"),
                    body="<CreateBucketConfiguration><LocationConstraint>%s"
                         "</LocationConstraint>" % REGION,
                    access_key=keys.access_key, secret_key=keys.secret_key)
    assert (r.status, r.error_code()) == (403, "AccessDenied"), r

    lb = iam.bucket(ObjectLockEnabledForBucket=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    for days, ok in ((5, True), (10, True), (30, False)):
        until = now + datetime.timedelta(days=days, seconds=-60)
        put = lambda: s3.put_object(Bucket=lb, Key="k%d" % days, Body=b"x",  # noqa: E731
                                    ObjectLockMode="GOVERNANCE",
                                    ObjectLockRetainUntilDate=until)
        ret = lambda: s3.put_object_retention(  # noqa: E731
            Bucket=lb, Key="plain", Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until})
        iam.root.put_object(Bucket=lb, Key="plain", Body=b"p")
        for call in (put, ret):
            if ok:
                call()
            else:
                with pytest.raises(botocore.exceptions.ClientError) as e:
                    call()
                assert err(e) == "403 AccessDenied", days
    # a write without retention: the key is absent, nothing to cap
    s3.put_object(Bucket=lb, Key="free", Body=b"f")


def test_signature_age_condition(iam):
    """s3:signatureAge (ms since the request was signed): the policy AWS
    documents to cap how old a presigned URL may be. It was accepted and
    evaluated as absent, so the Deny never matched. Not signed over TLS
    here, so s3:TlsVersion is absent (a Null check; its value over TLS is
    in test_tls.py)."""
    import datetime
    import http.client
    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from conftest import _with_clock
    keys = iam.user(uid("sa-"), "readwrite")
    bk = iam.bucket()
    iam.root.put_object(Bucket=bk, Key="o", Body=b"aged")
    iam.root.put_bucket_policy(Bucket=bk, Policy=json.dumps(doc(
        stmt("Deny", "s3:GetObject", "arn:aws:s3:::%s/*" % bk, "*",
             {"NumericGreaterThan": {"s3:signatureAge": "600000"}}),
        stmt("Deny", "s3:GetObject", "arn:aws:s3:::%s/tls-only/*" % bk, "*",
             {"Null": {"s3:TlsVersion": "true"}}))))

    def fetch(minutes_ago, key="o"):
        when = datetime.datetime.now(datetime.timezone.utc) - \
            datetime.timedelta(minutes=minutes_ago)
        req = AWSRequest(method="GET", url="%s/%s/%s" % (keys.endpoint, bk, key))
        auth = S3SigV4QueryAuth(Credentials(keys.access_key, keys.secret_key), "s3", REGION,
                                expires=3600)
        _with_clock(when, auth.add_auth, req)
        c = http.client.HTTPConnection(keys.host, keys.port, timeout=10)
        c.request("GET", req.url[len(keys.endpoint):])
        resp = c.getresponse()
        body = resp.read()
        c.close()
        return resp.status, body

    assert fetch(1) == (200, b"aged")
    st, body = fetch(20)      # still within its hour, but signed 20 min ago
    assert st == 403 and b"AccessDenied" in body, (st, body)
    iam.root.put_object(Bucket=bk, Key="tls-only/x", Body=b"t")
    st, body = fetch(0, "tls-only/x")
    assert st == 403, (st, body)
    iam.root.delete_bucket_policy(Bucket=bk)
    assert fetch(20) == (200, b"aged")


def test_delete_objects_checks_each_key(iam):
    """DeleteObjects needs s3:DeleteObject on each key: a readonly user's
    delete removes nothing (AWS: 200 with a per-key AccessDenied; a 403 for
    the whole request refuses too)."""
    bob = iam.client(iam.user(uid("delro-"), "readonly"))
    part = iam.user(uid("delpart-"))
    bk = iam.bucket()
    for k in ("a", "b", "keep/c"):
        iam.root.put_object(Bucket=bk, Key=k, Body=b"x")
    try:
        r = bob.delete_objects(Bucket=bk, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}]})
        assert r.get("Deleted", []) == [], r
        assert sorted((x["Key"], x["Code"]) for x in r["Errors"]) == \
            [("a", "AccessDenied"), ("b", "AccessDenied")], r
    except botocore.exceptions.ClientError as e:
        assert err(e) == DENIED, e.response
    assert exists(iam.root, bk, "a") and exists(iam.root, bk, "b")
    # allowed on some keys only: those go, the others are AccessDenied
    p = uid("delpol-")
    iam.policy(p, doc(stmt("Allow", "s3:DeleteObject", "arn:aws:s3:::%s/keep/*" % bk)))
    iam.admin("policy", "attach", part.user, p)
    r = iam.client(part).delete_objects(Bucket=bk, Delete={"Objects": [{"Key": "a"},
                                                                       {"Key": "keep/c"}]})
    assert [x["Key"] for x in r.get("Deleted", [])] == ["keep/c"], r
    assert [(x["Key"], x["Code"]) for x in r.get("Errors", [])] == [("a", "AccessDenied")], r
    assert exists(iam.root, bk, "a") and not exists(iam.root, bk, "keep/c")


def test_conditional_delete_needs_get_object(iam):
    """A delete conditional on an ETag (If-Match, DeleteObjects' <ETag>)
    tells whether the object has it, so S3 wants s3:GetObject as well as
    s3:DeleteObject; "If-Match: *" only asks whether it exists. A user
    allowed to delete but not to read could learn ETags (204 or 412)."""
    bk = iam.bucket()
    res = "arn:aws:s3:::%s/*" % bk
    del_only, del_get = uid("cdel-"), uid("cdelget-")
    iam.policy(del_only, doc(stmt("Allow", "s3:DeleteObject", res)))
    iam.policy(del_get, doc(stmt("Allow", ["s3:DeleteObject", "s3:GetObject"], res)))
    blind_keys = iam.user(uid("blind-"), del_only)
    reader_keys = iam.user(uid("reader-"), del_get)
    etags = {k: iam.root.put_object(Bucket=bk, Key=k, Body=k.encode())["ETag"]
             for k in ("a", "b", "c", "d")}

    def cond_delete(keys, key, value):
        client = _with_header(iam.client(keys), "DeleteObject", "If-Match", value)
        return outcome(client.delete_object, Bucket=bk, Key=key)
    assert cond_delete(blind_keys, "a", etags["a"]) == DENIED
    assert cond_delete(blind_keys, "a", '"%s"' % ("0" * 32)) == DENIED   # no 412 either
    assert exists(iam.root, bk, "a")
    assert cond_delete(blind_keys, "a", "*") == "ok"
    assert not exists(iam.root, bk, "a")
    assert cond_delete(reader_keys, "b", '"%s"' % ("0" * 32)) == "412 PreconditionFailed"
    assert cond_delete(reader_keys, "b", etags["b"]) == "ok"
    assert not exists(iam.root, bk, "b")
    # DeleteObjects: per key
    body = ("<Delete>%s</Delete>" % "".join(
        "<Object><Key>%s</Key><ETag>%s</ETag></Object>" % (k, etags[k]) for k in ("c", "d")))

    def with_body(client):
        def swap(request, **_):
            request.data = body.encode()
            for h in [h for h in request.headers if h.lower().startswith("x-amz-checksum-")
                      or h.lower() in ("x-amz-sdk-checksum-algorithm", "content-md5",
                                       "content-length")]:
                del request.headers[h]
            md5 = base64.b64encode(hashlib.md5(request.data).digest()).decode()
            request.headers["Content-MD5"] = md5
            request.headers["Content-Length"] = str(len(request.data))
        client.meta.events.register("before-sign.s3.DeleteObjects", swap)
        return client
    r = with_body(iam.client(blind_keys)).delete_objects(Bucket=bk, Delete={"Objects": [{"Key": "c"},
                                                                     {"Key": "d"}]})
    assert r.get("Deleted", []) == [] and sorted(
        (x["Key"], x["Code"]) for x in r["Errors"]) == [("c", "AccessDenied"),
                                                       ("d", "AccessDenied")], r
    assert exists(iam.root, bk, "c") and exists(iam.root, bk, "d")
    r = with_body(iam.client(reader_keys)).delete_objects(Bucket=bk, Delete={"Objects": [{"Key": "c"},
                                                                      {"Key": "d"}]})
    assert sorted(x["Key"] for x in r.get("Deleted", [])) == ["c", "d"], r
    assert not exists(iam.root, bk, "c") and not exists(iam.root, bk, "d")


def test_anonymous_delete_objects_refused(iam, raw_request):
    """A multi-object delete without credentials on a private bucket deletes
    nothing (403 AccessDenied, or per-key AccessDenied)."""
    bk = iam.bucket()
    iam.root.put_object(Bucket=bk, Key="a", Body=b"1")
    iam.root.put_object(Bucket=bk, Key="b", Body=b"2")
    body, hdrs = delete_objects_body(["a", "b"])
    r = raw_request(iam.server, "POST", "/" + bk, headers=hdrs, body=body, query="delete=",
                    sign=False)
    if r.status == 200:
        assert b"<Deleted>" not in r.body, r
        assert r.body.count(b"<Code>AccessDenied</Code>") == 2, r
    else:
        assert (r.status, r.error_code()) == (403, "AccessDenied"), r
    assert exists(iam.root, bk, "a") and exists(iam.root, bk, "b")
    # and a user with no rights gets the same
    nobody = iam.user(uid("nodel-"))
    r = raw_request(iam.server, "POST", "/" + bk, headers=hdrs, body=body, query="delete=",
                    access_key=nobody.access_key, secret_key=nobody.secret_key)
    if r.status == 200:
        assert b"<Deleted>" not in r.body, r
    else:
        assert (r.status, r.error_code()) == (403, "AccessDenied"), r
    assert exists(iam.root, bk, "a") and exists(iam.root, bk, "b")


# ---- 2. the policy matrix ----
#
# Each row: a user with the identity policy (if any) attached, a fresh bucket
# holding objects "pub/a", "priv/b", "home/x" and "file", the bucket policy
# (if any) put by root, then each check: (operation, kwargs, expected) with
# expected "ok" or DENIED. {b} is the bucket, {u} the user name, {c} its
# canonical id. A denied write is checked to have written nothing.

def _row(name, checks, identity=None, bucket=None, attach=()):
    return pytest.param(identity, bucket, list(attach), checks, id=name)


B = "arn:aws:s3:::{b}"
O = "arn:aws:s3:::{b}/*"
ME = {"CanonicalUser": "{c}"}
GET = ("get_object", {"Key": "pub/a"})
GETP = ("get_object", {"Key": "priv/b"})
PUT = ("put_object", {"Key": "new", "Body": b"n"})

MATRIX = [
    _row("identity-allow+bucket-deny",
         [(GET, DENIED), (("head_object", {"Key": "pub/a"}), DENIED)],
         identity=doc(stmt("Allow", "s3:GetObject", O)),
         bucket=doc(stmt("Deny", "s3:GetObject", O, ME))),
    _row("bucket-allow+identity-deny",
         [(GET, DENIED), (("list_objects_v2", {}), "ok")],
         identity=doc(stmt("Deny", "s3:GetObject", O)),
         bucket=doc(stmt("Allow", ["s3:GetObject", "s3:ListBucket"], [B, O], ME))),
    _row("bucket-allow-alone",
         [(GET, "ok"), (PUT, DENIED), (("list_objects_v2", {}), DENIED)],
         bucket=doc(stmt("Allow", "s3:GetObject", O, ME))),
    _row("deny-beats-allow-within-identity",
         [(GET, "ok"), (PUT, "ok"), (("delete_object", {"Key": "pub/a"}), DENIED)],
         identity=doc(stmt("Allow", "s3:*", "*"),
                      stmt("Deny", "s3:DeleteObject", O))),
    _row("wildcard-action",
         [(GET, "ok"), (GETP, "ok"), (("get_object_acl", {"Key": "pub/a"}), "ok"),
          (PUT, DENIED), (("list_objects_v2", {}), DENIED)],
         identity=doc(stmt("Allow", "s3:Get*", O))),
    _row("wildcard-action-infix",
         [(GET, "ok"), (PUT, "ok"), (("delete_object", {"Key": "pub/a"}), "ok"),
          (("get_object_acl", {"Key": "priv/b"}), DENIED)],
         identity=doc(stmt("Allow", "s3:*Object", O))),
    _row("wildcard-resource-prefix",
         [(GET, "ok"), (GETP, DENIED), (("put_object", {"Key": "pub/n", "Body": b"1"}), "ok"),
          (("put_object", {"Key": "priv/n", "Body": b"1"}), DENIED)],
         identity=doc(stmt("Allow", ["s3:GetObject", "s3:PutObject"],
                           "arn:aws:s3:::{b}/pub/*"))),
    _row("wildcard-resource-qmark",
         [(("get_object", {"Key": "file"}), "ok"), (("get_object", {"Key": "fiile"}), DENIED),
          (GET, DENIED)],
         identity=doc(stmt("Allow", "s3:GetObject", "arn:aws:s3:::{b}/f?le"))),
    _row("other-bucket-resource",
         [(GET, DENIED)],
         identity=doc(stmt("Allow", "s3:*", ["arn:aws:s3:::{b}-other",
                                             "arn:aws:s3:::{b}-other/*"]))),
    _row("s3:prefix-StringLike",
         [(("list_objects_v2", {"Prefix": "home/"}), "ok"),
          (("list_objects_v2", {"Prefix": "home/sub/"}), "ok"),
          (("list_objects", {"Prefix": "home/"}), "ok"),
          (("list_objects_v2", {"Prefix": "priv/"}), DENIED),
          (("list_objects_v2", {}), DENIED)],
         identity=doc(stmt("Allow", "s3:ListBucket", B,
                           condition={"StringLike": {"s3:prefix": ["home/*"]}}))),
    _row("IpAddress-127.0.0.1/32-allows",
         [(GET, "ok")],
         identity=doc(stmt("Allow", "s3:GetObject", O,
                           condition={"IpAddress": {"aws:SourceIp": "127.0.0.1/32"}}))),
    _row("IpAddress-10.0.0.0/8-no-match",
         [(GET, DENIED)],
         identity=doc(stmt("Allow", "s3:GetObject", O,
                           condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))),
    _row("NotIpAddress-deny",
         [(GET, DENIED), (PUT, DENIED)],
         attach=["readwrite"],
         bucket=doc(stmt("Deny", "s3:*", [B, O], "*",
                         {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}}))),
    _row("NotIpAddress-deny-not-matching",
         [(GET, "ok"), (PUT, "ok")],
         attach=["readwrite"],
         bucket=doc(stmt("Deny", "s3:*", [B, O], "*",
                         {"NotIpAddress": {"aws:SourceIp": "127.0.0.0/8"}}))),
    _row("aws:username-home-directory",
         [(("put_object", {"Key": "home/{u}/f", "Body": b"mine"}), "ok"),
          (("get_object", {"Key": "home/{u}/f"}), "ok"),
          (("put_object", {"Key": "home/someone-else/f", "Body": b"x"}), DENIED),
          (("put_object", {"Key": "home/{u}x/f", "Body": b"x"}), DENIED),
          (("put_object", {"Key": "f", "Body": b"x"}), DENIED),
          (("list_objects_v2", {"Prefix": "home/{u}/"}), "ok"),
          (("list_objects_v2", {"Prefix": "home/"}), DENIED)],
         identity=doc(stmt("Allow", ["s3:PutObject", "s3:GetObject"],
                           "arn:aws:s3:::{b}/home/${aws:username}/*"),
                      stmt("Allow", "s3:ListBucket", B,
                           condition={"StringLike": {"s3:prefix":
                                                     "home/${aws:username}/*"}}))),
    _row("Bool-SecureTransport-false-deny",
         [(GET, DENIED), (PUT, DENIED), (("list_objects_v2", {}), DENIED)],
         attach=["readwrite"],
         bucket=doc(stmt("Deny", "s3:*", [B, O], "*",
                         {"Bool": {"aws:SecureTransport": "false"}}))),
    _row("Bool-SecureTransport-true-allow",
         [(GET, DENIED)],
         identity=doc(stmt("Allow", "s3:GetObject", O,
                           condition={"Bool": {"aws:SecureTransport": "true"}}))),
    _row("NumericLessThanEquals-s3:max-keys",
         [(("list_objects_v2", {"MaxKeys": 5}), "ok"),
          (("list_objects_v2", {"MaxKeys": 10}), "ok"),
          (("list_objects", {"MaxKeys": 3}), "ok"),
          (("list_objects_v2", {"MaxKeys": 11}), DENIED),
          (("list_objects_v2", {}), DENIED)],
         identity=doc(stmt("Allow", "s3:ListBucket", B,
                           condition={"NumericLessThanEquals": {"s3:max-keys": "10"}}))),
    _row("Null-x-amz-acl",
         [(PUT, "ok"), (("put_object", {"Key": "n2", "Body": b"n", "ACL": "private"}), DENIED)],
         identity=doc(stmt("Allow", "s3:*", "*"),
                      stmt("Deny", "s3:PutObject", O,
                           condition={"Null": {"s3:x-amz-acl": "false"}}))),
    _row("StringEquals-s3:x-amz-acl-required",
         [(PUT, DENIED),
          (("put_object", {"Key": "n3", "Body": b"n", "ACL": "bucket-owner-full-control"}),
           "ok")],
         identity=doc(stmt("Allow", "s3:PutObject", O,
                           condition={"StringEquals":
                                      {"s3:x-amz-acl": "bucket-owner-full-control"}}))),
    _row("aws:username-StringEquals-bucket-policy",
         [(GET, "ok")],
         bucket=doc(stmt("Allow", "s3:GetObject", O, ME,
                         {"StringEquals": {"aws:username": "{u}"}}))),
    _row("aws:username-StringEquals-other-user",
         [(GET, DENIED)],
         bucket=doc(stmt("Allow", "s3:GetObject", O, ME,
                         {"StringEquals": {"aws:username": "{u}-not"}}))),
    _row("NotAction",
         [(GET, "ok"), (("list_objects_v2", {}), "ok"), (PUT, DENIED)],
         identity=doc({"Effect": "Allow", "NotAction": ["s3:PutObject", "s3:DeleteObject"],
                       "Resource": [B, O]})),
    _row("DateLessThan-aws:CurrentTime",
         [(GET, "ok")],
         identity=doc(stmt("Allow", "s3:GetObject", O,
                           condition={"DateLessThan": {"aws:CurrentTime": "2999-01-01T00:00:00Z"},
                                      "DateGreaterThan":
                                          {"aws:CurrentTime": "2001-01-01T00:00:00Z"}}))),
    _row("DateGreaterThan-aws:CurrentTime-future",
         [(GET, DENIED)],
         identity=doc(stmt("Allow", "s3:GetObject", O,
                           condition={"DateGreaterThan":
                                      {"aws:CurrentTime": "2999-01-01T00:00:00Z"}}))),
    _row("group-attached",
         [(GET, "ok"), (("list_objects_v2", {}), "ok"), (PUT, DENIED)],
         attach=["group:readonly"]),
    _row("group-deny-beats-user-allow",
         [(GET, DENIED), (PUT, "ok")],
         attach=["readwrite", "group:" + json.dumps(doc(stmt("Deny", "s3:GetObject", O)))]),
]


def _fill(v, subst):
    if isinstance(v, str):
        for k, x in subst.items():
            v = v.replace("{%s}" % k, x)
        return v
    if isinstance(v, dict):
        return {_fill(k, subst): _fill(x, subst) for k, x in v.items()}
    if isinstance(v, list):
        return [_fill(x, subst) for x in v]
    return v


@pytest.mark.parametrize("identity,bucket_policy,attach,checks", MATRIX)
def test_policy_matrix(iam, identity, bucket_policy, attach, checks):
    root = iam.root
    bk = iam.bucket()
    for k in ("pub/a", "priv/b", "home/x", "file", "fiile"):
        root.put_object(Bucket=bk, Key=k, Body=k.encode())
    user = iam.user(uid("m-"))
    subst = {"b": bk, "u": user.user, "c": user.canonical}
    if identity is not None:
        p = uid("pol-")
        iam.policy(p, _fill(identity, subst))
        iam.admin("policy", "attach", user.user, p)
    for a in attach:
        if a.startswith("group:"):
            g = uid("grp-")
            iam.admin("group", "add", g)
            what = a[len("group:"):]
            if what.startswith("{"):
                p = uid("gpol-")
                iam.policy(p, _fill(json.loads(what), subst))
                what = p
            iam.admin("policy", "attach", g, what)
            iam.admin("group", "member", "add", g, user.user)
        else:
            iam.admin("policy", "attach", user.user, a)
    if bucket_policy is not None:
        root.put_bucket_policy(Bucket=bk, Policy=json.dumps(_fill(bucket_policy, subst)))
    c = iam.client(user)
    bad = []
    for (op, kw), want in checks:
        kw = _fill(kw, subst)
        before = exists(root, bk, kw["Key"]) if op in ("put_object", "delete_object") else None
        got = outcome(getattr(c, op), Bucket=bk, **kw)
        if got != want:
            bad.append((op, kw, want, got))
        elif got != "ok" and before is not None:
            # a refused write or delete changed nothing
            assert exists(root, bk, kw["Key"]) == before, (op, kw)
    assert not bad, bad


def test_detach_and_replace_take_effect_on_next_request(iam):
    bk = iam.bucket()
    u = iam.user(uid("det-"), "readwrite")
    c = iam.client(u)
    c.put_object(Bucket=bk, Key="k1", Body=b"1")
    iam.admin("policy", "detach", u.user, "readwrite")
    assert outcome(c.put_object, Bucket=bk, Key="k2", Body=b"2") == DENIED
    assert not exists(iam.root, bk, "k2")
    assert outcome(c.get_object, Bucket=bk, Key="k1") == DENIED
    # detaching what is not attached: NoSuchEntity
    rc, out, errtext = iam.admin("policy", "detach", u.user, "readwrite", ok=False)
    assert rc != 0 and "NoSuchEntity" in out + errtext
    # a policy of our own, attached, then replaced by `policy add` again
    p = uid("rep-")
    iam.policy(p, doc(stmt("Allow", "s3:GetObject", "arn:aws:s3:::%s/*" % bk)))
    iam.admin("policy", "attach", u.user, p)
    assert body_of(c, bk, "k1") == b"1"
    iam.policy(p, doc(stmt("Allow", "s3:PutObject", "arn:aws:s3:::%s/*" % bk)))
    assert outcome(c.get_object, Bucket=bk, Key="k1") == DENIED
    c.put_object(Bucket=bk, Key="k3", Body=b"3")
    # an attached policy cannot be removed; detached, it can
    rc, out, errtext = iam.admin("policy", "remove", p, ok=False)
    assert rc != 0 and "DeleteConflict" in out + errtext
    iam.admin("policy", "detach", u.user, p)
    iam.admin("policy", "remove", p)
    assert p not in [x["name"] for x in iam.admin("policy", "list")["policies"]]
    assert outcome(c.put_object, Bucket=bk, Key="k4", Body=b"4") == DENIED
    # group membership: removed from the group, the group's policy goes too
    g = uid("grp-")
    iam.admin("group", "add", g)
    iam.admin("policy", "attach", g, "readonly")
    iam.admin("group", "member", "add", g, u.user)
    assert body_of(c, bk, "k1") == b"1"
    iam.admin("group", "member", "remove", g, u.user)
    assert outcome(c.get_object, Bucket=bk, Key="k1") == DENIED
    iam.admin("group", "member", "add", g, u.user)
    assert body_of(c, bk, "k1") == b"1"
    iam.admin("policy", "detach", g, "readonly")
    assert outcome(c.get_object, Bucket=bk, Key="k1") == DENIED


def test_admin_errors(iam, raw_request):
    name = uid("dup-")
    iam.user(name)
    rc, out, errtext = iam.admin("user", "add", name, ok=False)
    assert rc != 0 and "EntityAlreadyExists" in out + errtext
    rc, out, errtext = iam.admin("user", "remove", uid("ghost-"), ok=False)
    assert rc != 0 and "NoSuchEntity" in out + errtext
    rc, out, errtext = iam.admin("policy", "attach", name, uid("nopolicy-"), ok=False)
    assert rc != 0 and "NoSuchEntity" in out + errtext
    bad = os.path.join(iam.tmpdir, "bad.json")
    with open(bad, "w") as f:
        f.write('{"Version": "2012-10-17", "Statement": [')
    rc, out, errtext = iam.admin("policy", "add", uid("bad-"), bad, ok=False)
    assert rc != 0 and "MalformedPolicyDocument" in out + errtext
    g = uid("g-")
    iam.admin("group", "add", g)
    rc, out, errtext = iam.admin("group", "add", g, ok=False)
    assert rc != 0 and "EntityAlreadyExists" in out + errtext
    # ten keys a user at most
    for _ in range(9):
        iam.key_add(name)
    rc, out, errtext = iam.admin("user", "key", "add", name, ok=False)
    assert rc != 0 and "LimitExceeded" in out + errtext
    listed = [u for u in iam.admin("user", "list")["users"] if u["name"] == name]
    assert len(listed) == 1 and len(listed[0]["keys"]) == 10
    assert "secret" not in json.dumps(listed[0]).lower()
    # the admin API is root's alone: a readwrite user's SigV4 is refused
    u = iam.user(uid("notroot-"), "readwrite")
    r = raw_request(iam.server, "GET", "/_cairn/admin/user", access_key=u.access_key,
                    secret_key=u.secret_key)
    assert r.status == 403, r
    r = raw_request(iam.server, "POST", "/_cairn/admin/user",
                    query={"op": "add", "name": uid("sneaky-")}, access_key=u.access_key,
                    secret_key=u.secret_key)
    assert r.status == 403, r
    r = raw_request(iam.server, "GET", "/_cairn/admin/user", sign=False)
    assert r.status == 403, r
    # root over the API directly
    r = raw_request(iam.server, "GET", "/_cairn/admin/group")
    assert r.status == 200 and g in [x["name"] for x in json.loads(r.body)["groups"]], r


# ---- 3. keys ----

def test_key_disable_enable_remove(iam):
    bk = iam.bucket()
    u = iam.user(uid("keys-"), "readwrite", access_key=uid("AKID").upper(),
                 secret_key="s3cr3t-" + uuid.uuid4().hex)
    c = iam.client(u)
    c.put_object(Bucket=bk, Key="k", Body=b"v")
    iam.admin("user", "key", "disable", u.user, u.access_key)
    assert outcome(c.get_object, Bucket=bk, Key="k") == BADKEY
    assert outcome(c.put_object, Bucket=bk, Key="k", Body=b"changed") == BADKEY
    assert body_of(iam.root, bk, "k") == b"v"
    iam.admin("user", "key", "enable", u.user, u.access_key)
    assert body_of(c, bk, "k") == b"v"

    # a second key; the first removed: refused at once, the second works
    k2 = iam.key_add(u.user)
    c2 = iam.client(k2)
    assert body_of(c2, bk, "k") == b"v"
    iam.admin("user", "key", "remove", u.user, u.access_key)
    assert outcome(c.get_object, Bucket=bk, Key="k") == BADKEY
    assert body_of(c2, bk, "k") == b"v"
    rc, out, errtext = iam.admin("user", "key", "enable", u.user, u.access_key, ok=False)
    assert rc != 0 and "NoSuchEntity" in out + errtext

    # the user disabled: all its keys refused; enabled again: accepted
    iam.admin("user", "disable", u.user)
    assert outcome(c2.list_objects_v2, Bucket=bk) == BADKEY
    iam.admin("user", "enable", u.user)
    assert c2.list_objects_v2(Bucket=bk)["KeyCount"] == 1

    # the user removed: its keys refused (policies detached first, as IAM
    # asks; a server that removes attached ones as well is fine too)
    k3 = iam.client(iam.key_add(u.user))
    assert k3.list_objects_v2(Bucket=bk)["KeyCount"] == 1
    iam.admin("policy", "detach", u.user, "readwrite")
    iam.admin("user", "remove", u.user)
    assert outcome(c2.get_object, Bucket=bk, Key="k") == BADKEY
    assert outcome(k3.put_object, Bucket=bk, Key="k", Body=b"x") == BADKEY
    assert body_of(iam.root, bk, "k") == b"v"
    assert u.user not in [x["name"] for x in iam.admin("user", "list")["users"]]
    # the same name again is a new user: the old keys stay dead
    iam.user(u.user, "readwrite")
    assert outcome(c2.get_object, Bucket=bk, Key="k") == BADKEY


def test_key_removed_during_multipart_upload(iam):
    bk = iam.bucket()
    u = iam.user(uid("mpk-"), "readwrite")
    c = iam.client(u)
    up = c.create_multipart_upload(Bucket=bk, Key="big")["UploadId"]
    part1 = os.urandom(5 << 20)
    e1 = c.upload_part(Bucket=bk, Key="big", UploadId=up, PartNumber=1, Body=part1)["ETag"]
    iam.admin("user", "key", "remove", u.user, u.access_key)
    assert outcome(c.upload_part, Bucket=bk, Key="big", UploadId=up, PartNumber=2,
                   Body=b"tail") == BADKEY
    assert outcome(c.complete_multipart_upload, Bucket=bk, Key="big", UploadId=up,
                   MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}]}) == BADKEY
    assert not exists(iam.root, bk, "big")
    parts = iam.root.list_parts(Bucket=bk, Key="big", UploadId=up).get("Parts", [])
    assert [p["PartNumber"] for p in parts] == [1]
    iam.root.abort_multipart_upload(Bucket=bk, Key="big", UploadId=up)
    assert iam.root.list_objects_v2(Bucket=bk)["KeyCount"] == 0


# ---- 4. anonymous access ----

def _url(iam, bucket, key=None, query=None):
    u = "%s/%s" % (iam.server.endpoint, bucket)
    if key is not None:
        u += "/" + urllib.parse.quote(key)
    if query:
        u += "?" + query
    return u


def test_private_refused_to_anonymous(iam):
    bk = iam.bucket()
    iam.root.put_object(Bucket=bk, Key="private.txt", Body=b"hidden")
    for url in (_url(iam, bk, "private.txt"), _url(iam, bk), _url(iam, bk, None, "list-type=2"),
                _url(iam, bk, "missing")):
        st, body = curl(url)
        assert (st, code_of(body)) == (403, "AccessDenied"), (url, body)
        st, body = http_get(url)
        assert (st, code_of(body)) == (403, "AccessDenied"), (url, body)
    st, body = curl(_url(iam, bk, "anon.txt"), "-X", "PUT", "--data-binary", "anon")
    assert (st, code_of(body)) == (403, "AccessDenied"), body
    assert not exists(iam.root, bk, "anon.txt")
    st, body = curl(iam.server.endpoint + "/")
    assert (st, code_of(body)) == (403, "AccessDenied"), body


def test_public_bucket_policy(iam):
    bk = iam.bucket()
    iam.root.put_object(Bucket=bk, Key="pub/page.html", Body=b"<h1>hello</h1>",
                        ContentType="text/html")
    iam.root.put_object(Bucket=bk, Key="other.txt", Body=b"not public")
    pol = json.dumps(doc(stmt("Allow", "s3:GetObject", "arn:aws:s3:::%s/pub/*" % bk, "*")))
    # every Public Access Block setting starts on: a public policy is refused
    with pytest.raises(botocore.exceptions.ClientError) as e:
        iam.root.put_bucket_policy(Bucket=bk, Policy=pol)
    assert err(e) == DENIED
    assert outcome(iam.root.get_bucket_policy, Bucket=bk) == "404 NoSuchBucketPolicy"
    iam.root.delete_public_access_block(Bucket=bk)
    iam.root.put_bucket_policy(Bucket=bk, Policy=pol)
    assert iam.root.get_bucket_policy_status(Bucket=bk)["PolicyStatus"]["IsPublic"] is True

    st, body = curl(_url(iam, bk, "pub/page.html"))
    assert (st, body) == (200, b"<h1>hello</h1>")
    st, body = http_get(_url(iam, bk, "pub/page.html"))
    assert (st, body) == (200, b"<h1>hello</h1>")
    st, body = curl(_url(iam, bk, "pub/page.html"), "-I")
    assert st == 200 and b"text/html" in body
    # response-* overrides need a signed request: unsigned, anyone could
    # have a public upload served as any type (S3: 400 InvalidRequest)
    for q in ("response-content-type=text/plain",
              "response-content-disposition=attachment",
              "response-cache-control=no-store"):
        st, body = http_get(_url(iam, bk, "pub/page.html", q))
        assert (st, code_of(body)) == (400, "InvalidRequest"), (q, body)
        assert b"anonymous GET" in body
    g = iam.root.get_object(Bucket=bk, Key="pub/page.html", ResponseContentType="text/plain")
    assert g["ContentType"] == "text/plain"
    # outside the policy's resource / action: refused
    st, body = curl(_url(iam, bk, "other.txt"))
    assert (st, code_of(body)) == (403, "AccessDenied")
    st, body = http_get(_url(iam, bk, None, "list-type=2"))
    assert (st, code_of(body)) == (403, "AccessDenied")
    st, body = curl(_url(iam, bk, "pub/new.txt"), "-X", "PUT", "--data-binary", "x")
    assert (st, code_of(body)) == (403, "AccessDenied")
    assert not exists(iam.root, bk, "pub/new.txt")

    # anonymous listing only once the policy allows it
    pol2 = json.dumps(doc(stmt("Allow", "s3:GetObject", "arn:aws:s3:::%s/pub/*" % bk, "*"),
                          stmt("Allow", "s3:ListBucket", "arn:aws:s3:::%s" % bk,
                               {"AWS": "*"})))
    iam.root.put_bucket_policy(Bucket=bk, Policy=pol2)
    st, body = http_get(_url(iam, bk, None, "list-type=2"))
    assert st == 200 and b"<Key>pub/page.html</Key>" in body and b"<Key>other.txt</Key>" in body

    # RestrictPublicBuckets: the public policy grants anonymous nothing now
    iam.root.put_public_access_block(Bucket=bk, PublicAccessBlockConfiguration={
        "BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
        "RestrictPublicBuckets": True})
    st, body = curl(_url(iam, bk, "pub/page.html"))
    assert (st, code_of(body)) == (403, "AccessDenied")
    st, body = http_get(_url(iam, bk, None, "list-type=2"))
    assert (st, code_of(body)) == (403, "AccessDenied")
    assert body_of(iam.root, bk, "pub/page.html") == b"<h1>hello</h1>"
    # ... and lifting it restores anonymous access
    iam.root.delete_public_access_block(Bucket=bk)
    assert curl(_url(iam, bk, "pub/page.html")) == (200, b"<h1>hello</h1>")
    # a policy restricted to a source address is not public
    iam.root.put_bucket_policy(Bucket=bk, Policy=json.dumps(doc(stmt(
        "Allow", "s3:GetObject", "arn:aws:s3:::%s/*" % bk, "*",
        {"IpAddress": {"aws:SourceIp": "127.0.0.1/32"}}))))
    assert iam.root.get_bucket_policy_status(Bucket=bk)["PolicyStatus"]["IsPublic"] is False
    assert curl(_url(iam, bk, "other.txt")) == (200, b"not public")
    iam.root.delete_bucket_policy(Bucket=bk)
    st, body = curl(_url(iam, bk, "pub/page.html"))
    assert (st, code_of(body)) == (403, "AccessDenied")


def test_missing_key_404_only_with_list_permission(iam):
    """AWS: a GET of a key that does not exist is 404 NoSuchKey only for a
    requester allowed s3:ListBucket; anyone else gets 403 AccessDenied and
    learns nothing about what exists."""
    bk = iam.bucket()
    iam.root.delete_public_access_block(Bucket=bk)
    iam.root.put_object(Bucket=bk, Key="pub/there", Body=b"here")
    iam.root.put_bucket_policy(Bucket=bk, Policy=json.dumps(doc(
        stmt("Allow", "s3:GetObject", "arn:aws:s3:::%s/pub/*" % bk, "*"))))
    getter = iam.client(iam.user(uid("getonly-"), "readonly"))  # Get* and List*
    p = uid("getpol-")
    iam.policy(p, doc(stmt("Allow", "s3:GetObject", "arn:aws:s3:::%s/*" % bk)))
    only_get = iam.user(uid("onlyget-"))
    iam.admin("policy", "attach", only_get.user, p)
    og = iam.client(only_get)
    assert body_of(og, bk, "pub/there") == b"here"
    # with s3:ListBucket: 404
    assert outcome(getter.get_object, Bucket=bk, Key="pub/missing") == "404 NoSuchKey"
    # without: 403, anonymous and user alike
    assert curl(_url(iam, bk, "pub/there")) == (200, b"here")
    st, body = curl(_url(iam, bk, "pub/missing"))
    got = {"anonymous GET": "%d %s" % (st, code_of(body)),
           "GetObject-only user GET": outcome(og.get_object, Bucket=bk, Key="pub/missing"),
           "GetObject-only user HEAD": outcome(og.head_object, Bucket=bk, Key="pub/missing")}
    assert {k: v for k, v in got.items() if v != DENIED} == {}
    # once anonymous may list, the anonymous answer is 404
    iam.root.put_bucket_policy(Bucket=bk, Policy=json.dumps(doc(
        stmt("Allow", "s3:GetObject", "arn:aws:s3:::%s/pub/*" % bk, "*"),
        stmt("Allow", "s3:ListBucket", "arn:aws:s3:::%s" % bk, "*"))))
    st, body = curl(_url(iam, bk, "pub/missing"))
    assert (st, code_of(body)) == (404, "NoSuchKey"), body


def test_bucket_access_config_is_read_fresh_every_request(iam):
    """Every request is judged by the bucket's policy / Public Access Block /
    ACL as they are now: switching between two configurations, the request
    right after each change sees the new one, never an earlier request's.
    (Anonymous requests only: nothing here needs a user.)"""
    root = iam.root
    bk = iam.public_bucket(ObjectOwnership="ObjectWriter")
    root.put_object(Bucket=bk, Key="a/k", Body=b"a")
    root.put_object(Bucket=bk, Key="b/k", Body=b"b")
    pol = {p: json.dumps(doc(stmt("Allow", "s3:GetObject", "arn:aws:s3:::%s/%s/*" % (bk, p),
                                  "*")))
           for p in ("a", "b")}
    wrong = []
    for i in range(10):
        for p, other in (("a", "b"), ("b", "a")):
            root.put_bucket_policy(Bucket=bk, Policy=pol[p])
            got = (http_get(_url(iam, bk, p + "/k"))[0], http_get(_url(iam, bk, other + "/k"))[0])
            if got != (200, 403):
                wrong.append((i, "policy on %s/*" % p, got))
    # the Public Access Block switched on and off under a public policy
    restrict = {"BlockPublicAcls": False, "IgnorePublicAcls": False,
                "BlockPublicPolicy": False, "RestrictPublicBuckets": True}
    for i in range(10):
        root.put_public_access_block(Bucket=bk, PublicAccessBlockConfiguration=restrict)
        st = http_get(_url(iam, bk, "b/k"))[0]
        if st != 403:
            wrong.append((i, "restricted", st))
        root.delete_public_access_block(Bucket=bk)
        st = http_get(_url(iam, bk, "b/k"))[0]
        if st != 200:
            wrong.append((i, "unrestricted", st))
    # a public-read bucket ACL on and off (listing)
    root.delete_bucket_policy(Bucket=bk)
    for i in range(10):
        root.put_bucket_acl(Bucket=bk, ACL="public-read")
        st = http_get(_url(iam, bk, None, "list-type=2"))[0]
        if st != 200:
            wrong.append((i, "public-read ACL", st))
        root.put_bucket_acl(Bucket=bk, ACL="private")
        st = http_get(_url(iam, bk, None, "list-type=2"))[0]
        if st != 403:
            wrong.append((i, "private ACL", st))
    assert not wrong, wrong


def test_public_acls(iam):
    bk = iam.bucket(ObjectOwnership="ObjectWriter")
    root = iam.root
    root.put_object(Bucket=bk, Key="private.txt", Body=b"private")
    # BlockPublicAcls (on by default) refuses a public ACL, 403
    assert outcome(root.put_object, Bucket=bk, Key="pub.txt", Body=b"x",
                   ACL="public-read") == DENIED
    assert not exists(root, bk, "pub.txt")
    assert outcome(root.put_object_acl, Bucket=bk, Key="private.txt",
                   ACL="public-read") == DENIED
    root.delete_public_access_block(Bucket=bk)
    root.put_object(Bucket=bk, Key="pub.txt", Body=b"for everyone", ACL="public-read")
    assert curl(_url(iam, bk, "pub.txt")) == (200, b"for everyone")
    assert http_get(_url(iam, bk, "pub.txt")) == (200, b"for everyone")
    st, body = curl(_url(iam, bk, "private.txt"))
    assert (st, code_of(body)) == (403, "AccessDenied")
    # the object ACL is not a bucket grant: no anonymous listing
    st, body = curl(_url(iam, bk, None, "list-type=2"))
    assert (st, code_of(body)) == (403, "AccessDenied")
    # a public-read bucket ACL allows listing (not reading objects)
    root.put_bucket_acl(Bucket=bk, ACL="public-read")
    st, body = curl(_url(iam, bk, None, "list-type=2"))
    assert st == 200 and b"<Key>private.txt</Key>" in body
    st, body = curl(_url(iam, bk, "private.txt"))
    assert (st, code_of(body)) == (403, "AccessDenied")
    # PutObjectAcl later: private.txt becomes public, then private again
    root.put_object_acl(Bucket=bk, Key="private.txt", ACL="public-read")
    assert curl(_url(iam, bk, "private.txt")) == (200, b"private")
    root.put_object_acl(Bucket=bk, Key="private.txt", ACL="private")
    st, body = curl(_url(iam, bk, "private.txt"))
    assert (st, code_of(body)) == (403, "AccessDenied")
    # IgnorePublicAcls: public grants count for nothing
    root.put_public_access_block(Bucket=bk, PublicAccessBlockConfiguration={
        "BlockPublicAcls": False, "IgnorePublicAcls": True, "BlockPublicPolicy": False,
        "RestrictPublicBuckets": False})
    st, body = curl(_url(iam, bk, "pub.txt"))
    assert (st, code_of(body)) == (403, "AccessDenied")
    st, body = http_get(_url(iam, bk, None, "list-type=2"))
    assert (st, code_of(body)) == (403, "AccessDenied")
    assert body_of(root, bk, "pub.txt") == b"for everyone"
    # ownership BucketOwnerEnforced later: ACLs are off altogether
    root.delete_public_access_block(Bucket=bk)
    assert curl(_url(iam, bk, "pub.txt")) == (200, b"for everyone")
    root.put_bucket_acl(Bucket=bk, ACL="private")
    root.put_bucket_ownership_controls(Bucket=bk, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    st, body = curl(_url(iam, bk, "pub.txt"))
    assert (st, code_of(body)) == (403, "AccessDenied")


def test_acl_grant_to_a_user(iam):
    """An ACL grant to a user's canonical id allows what its policies do not
    (ACLs enabled); with BucketOwnerEnforced the grant counts for nothing."""
    bk = iam.bucket(ObjectOwnership="BucketOwnerPreferred")
    u = iam.user(uid("grantee-"))
    c = iam.client(u)
    iam.root.put_object(Bucket=bk, Key="shared", Body=b"shared",
                        GrantRead='id="%s"' % u.canonical)
    iam.root.put_object(Bucket=bk, Key="unshared", Body=b"no")
    assert body_of(c, bk, "shared") == b"shared"
    assert outcome(c.get_object, Bucket=bk, Key="unshared") == DENIED
    assert outcome(c.list_objects_v2, Bucket=bk) == DENIED
    iam.root.put_bucket_acl(Bucket=bk, GrantRead='id="%s"' % u.canonical,
                            GrantFullControl='id="%s"' % iam.root.get_bucket_acl(
                                Bucket=bk)["Owner"]["ID"])
    assert c.list_objects_v2(Bucket=bk)["KeyCount"] == 2
    assert outcome(c.put_object, Bucket=bk, Key="w", Body=b"w") == DENIED
    iam.root.put_bucket_acl(Bucket=bk, GrantWrite='id="%s"' % u.canonical)
    c.put_object(Bucket=bk, Key="w", Body=b"w")
    assert exists(iam.root, bk, "w")
    # ACLs disabled: the grants mean nothing
    iam.root.put_bucket_acl(Bucket=bk, ACL="private")
    iam.root.put_bucket_ownership_controls(Bucket=bk, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    assert outcome(c.get_object, Bucket=bk, Key="shared") == DENIED


# ---- 5. bucket API round trips ----

def _grants(acl):
    out = []
    for g in acl["Grants"]:
        gr = g["Grantee"]
        out.append((gr["Type"], gr.get("ID") or gr.get("URI"), g["Permission"]))
    return sorted(out)


def test_policy_and_policy_status_round_trip(iam, raw_request):
    root = iam.root
    bk = iam.bucket()
    u = iam.user(uid("ps-"))
    assert outcome(root.get_bucket_policy, Bucket=bk) == "404 NoSuchBucketPolicy"
    assert outcome(root.get_bucket_policy_status, Bucket=bk) == "404 NoSuchBucketPolicy"
    assert outcome(root.delete_bucket_policy, Bucket=bk) == "ok"  # nothing there: 204 still
    pol = doc(stmt("Allow", ["s3:GetObject"], "arn:aws:s3:::%s/*" % bk,
                   {"CanonicalUser": u.canonical}))
    r = raw_request(iam.server, "PUT", "/" + bk, query="policy=", body=json.dumps(pol))
    assert r.status == 204, r
    got = root.get_bucket_policy(Bucket=bk)
    assert json.loads(got["Policy"]) == pol
    assert root.get_bucket_policy_status(Bucket=bk)["PolicyStatus"] == {"IsPublic": False}
    r = raw_request(iam.server, "GET", "/" + bk, query="policyStatus=")
    assert r.status == 200 and re.search(rb"<PolicyStatus[^>]*><IsPublic>false</IsPublic>"
                                         rb"</PolicyStatus>", r.body), r
    root.delete_public_access_block(Bucket=bk)
    pub = doc(stmt("Allow", "s3:GetObject", "arn:aws:s3:::%s/*" % bk, {"AWS": "*"}))
    root.put_bucket_policy(Bucket=bk, Policy=json.dumps(pub))
    assert root.get_bucket_policy_status(Bucket=bk)["PolicyStatus"] == {"IsPublic": True}
    # a Deny to everyone is not public
    root.put_bucket_policy(Bucket=bk, Policy=json.dumps(doc(stmt(
        "Deny", "s3:DeleteObject", "arn:aws:s3:::%s/*" % bk, "*"))))
    assert root.get_bucket_policy_status(Bucket=bk)["PolicyStatus"] == {"IsPublic": False}
    r = raw_request(iam.server, "DELETE", "/" + bk, query="policy=")
    assert r.status == 204, r
    assert outcome(root.get_bucket_policy, Bucket=bk) == "404 NoSuchBucketPolicy"

    bad = [
        "{not json",
        json.dumps({"Version": "2012-10-17"}),  # no Statement
        json.dumps(doc({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"})),
        json.dumps(doc(stmt("Permit", "s3:GetObject", "arn:aws:s3:::%s/*" % bk, "*"))),
        json.dumps(doc(stmt("Allow", "s3:NoSuchAction", "arn:aws:s3:::%s/*" % bk, "*"))),
        # another bucket's resource
        json.dumps(doc(stmt("Allow", "s3:GetObject", "arn:aws:s3:::%s-x/*" % bk, "*"))),
        # a bucket policy must name a principal
        json.dumps(doc(stmt("Allow", "s3:GetObject", "arn:aws:s3:::%s/*" % bk))),
        json.dumps(doc(stmt("Allow", "s3:GetObject", "arn:aws:s3:::%s/*" % bk,
                            condition={"NoSuchOperator": {"aws:SourceIp": "1.2.3.4"}},
                            principal="*"))),
        # an action that applies to none of the statement's resources
        json.dumps(doc(stmt("Allow", "s3:ListBucket", "arn:aws:s3:::%s/*" % bk, "*"))),
        json.dumps(doc(stmt("Allow", "s3:GetObject", "arn:aws:s3:::%s" % bk, "*"))),
    ]
    for p in bad:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            root.put_bucket_policy(Bucket=bk, Policy=p)
        assert err(e) == "400 MalformedPolicy", p
    with pytest.raises(botocore.exceptions.ClientError) as e:
        root.put_bucket_policy(Bucket=bk, Policy=bad[-1])
    assert e.value.response["Error"]["Message"] == \
        "Action does not apply to any resource(s) in statement"
    assert outcome(root.get_bucket_policy, Bucket=bk) == "404 NoSuchBucketPolicy"
    assert outcome(root.put_bucket_policy, Bucket=uid("id-none-"),
                   Policy=json.dumps(pub)) == "404 NoSuchBucket"


def test_public_access_block_round_trip(iam, raw_request):
    root = iam.root
    bk = iam.bucket()
    assert root.get_public_access_block(Bucket=bk)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True}
    cfg = {"BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
           "RestrictPublicBuckets": True}
    r = root.put_public_access_block(Bucket=bk, PublicAccessBlockConfiguration=cfg)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert root.get_public_access_block(Bucket=bk)["PublicAccessBlockConfiguration"] == cfg
    r = raw_request(iam.server, "GET", "/" + bk, query="publicAccessBlock=")
    assert r.status == 200
    root_el = ET.fromstring(r.body)
    assert root_el.tag.endswith("PublicAccessBlockConfiguration")
    assert [(c.tag.split("}")[-1], c.text) for c in root_el] == [
        ("BlockPublicAcls", "true"), ("IgnorePublicAcls", "false"),
        ("BlockPublicPolicy", "false"), ("RestrictPublicBuckets", "true")]
    # missing elements mean false
    r = raw_request(iam.server, "PUT", "/" + bk, query="publicAccessBlock=",
                    body='<PublicAccessBlockConfiguration xmlns="http://s3.amazonaws.com/doc/'
                         '2006-03-01/"><BlockPublicPolicy>true</BlockPublicPolicy>'
                         '</PublicAccessBlockConfiguration>')
    assert r.status == 200, r
    assert root.get_public_access_block(Bucket=bk)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": True,
        "RestrictPublicBuckets": False}
    r = raw_request(iam.server, "PUT", "/" + bk, query="publicAccessBlock=",
                    body="<PublicAccessBlockConfiguration><BlockPublicAcls>maybe"
                         "</BlockPublicAcls></PublicAccessBlockConfiguration>")
    assert (r.status, r.error_code()) == (400, "MalformedXML"), r
    r = raw_request(iam.server, "DELETE", "/" + bk, query="publicAccessBlock=")
    assert r.status == 204, r
    assert outcome(root.get_public_access_block, Bucket=bk) == \
        "404 NoSuchPublicAccessBlockConfiguration"
    # a user needs s3:GetBucketPublicAccessBlock / s3:PutBucketPublicAccessBlock
    ro = iam.client(iam.user(uid("pabro-"), "readonly"))
    assert outcome(ro.put_public_access_block, Bucket=bk,
                   PublicAccessBlockConfiguration=cfg) == DENIED
    assert outcome(ro.delete_public_access_block, Bucket=bk) == DENIED
    assert outcome(ro.get_public_access_block, Bucket=bk) == \
        "404 NoSuchPublicAccessBlockConfiguration"


def test_unconfigured_subresources_need_their_actions(iam):
    """Each configuration read is its own IAM action (as in S3): a user
    allowed s3:GetBucketLogging reads logging and nothing else; another
    account's user reads none of them; readonly reads them all."""
    b = iam.bucket()
    pname = uid("log-")
    iam.policy(pname, doc(stmt("Allow", "s3:GetBucketLogging", "arn:aws:s3:::%s" % b)))
    only_logging = iam.client(iam.user(uid("ul-"), pname))
    nobody = iam.client(iam.user(uid("un-")))
    reader = iam.client(iam.user(uid("ur-"), "readonly"))
    calls = [("get_bucket_logging", "ok"), ("get_bucket_request_payment", "ok"),
             ("get_bucket_notification_configuration", "ok"),
             ("get_bucket_accelerate_configuration", "ok"),
             ("get_bucket_website", "404 NoSuchWebsiteConfiguration"),
             ("get_bucket_replication", "404 ReplicationConfigurationNotFoundError")]
    for name, allowed in calls:
        assert outcome(getattr(iam.root, name), Bucket=b) == allowed, name
        assert outcome(getattr(reader, name), Bucket=b) == allowed, name
        assert outcome(getattr(nobody, name), Bucket=b) == "403 AccessDenied", name
        want = allowed if name == "get_bucket_logging" else "403 AccessDenied"
        assert outcome(getattr(only_logging, name), Bucket=b) == want, name


def test_ownership_controls_round_trip(iam):
    root = iam.root
    bk = iam.bucket()

    def own(b):
        return [r["ObjectOwnership"] for r in
                root.get_bucket_ownership_controls(Bucket=b)["OwnershipControls"]["Rules"]]

    assert own(bk) == ["BucketOwnerEnforced"]
    root.put_bucket_ownership_controls(Bucket=bk, OwnershipControls={
        "Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    assert own(bk) == ["ObjectWriter"]
    root.put_bucket_ownership_controls(Bucket=bk, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]})
    assert own(bk) == ["BucketOwnerPreferred"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        root.put_bucket_ownership_controls(Bucket=bk, OwnershipControls={
            "Rules": [{"ObjectOwnership": "Whoever"}]})
    assert err(e) == "400 MalformedXML"
    assert own(bk) == ["BucketOwnerPreferred"]
    root.delete_bucket_ownership_controls(Bucket=bk)
    assert outcome(root.get_bucket_ownership_controls, Bucket=bk) == \
        "404 OwnershipControlsNotFoundError"
    b2 = iam.bucket(ObjectOwnership="ObjectWriter")
    assert own(b2) == ["ObjectWriter"]
    # ACLs cannot be switched off while the bucket ACL grants someone else
    root.delete_public_access_block(Bucket=b2)
    root.put_bucket_acl(Bucket=b2, ACL="public-read")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        root.put_bucket_ownership_controls(Bucket=b2, OwnershipControls={
            "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    assert err(e) == "400 InvalidBucketAclWithObjectOwnership"
    assert own(b2) == ["ObjectWriter"]


def test_acl_round_trips(iam, raw_request):
    root = iam.root
    bk = iam.bucket()
    u = iam.user(uid("aclu-"))
    acl = root.get_bucket_acl(Bucket=bk)
    owner = acl["Owner"]["ID"]
    assert re.fullmatch(r"[0-9a-f]{64}", owner), acl
    assert owner != u.canonical
    assert _grants(acl) == [("CanonicalUser", owner, "FULL_CONTROL")]
    assert acl["Grants"][0]["Grantee"]["ID"] == owner
    r = raw_request(iam.server, "GET", "/" + bk, query="acl=")
    x = ET.fromstring(r.body)
    assert x.tag.endswith("AccessControlPolicy")
    ns = {"s": "http://s3.amazonaws.com/doc/2006-03-01/",
          "xsi": "http://www.w3.org/2001/XMLSchema-instance"}
    assert x.find("s:Owner/s:ID", ns).text == owner
    g = x.findall("s:AccessControlList/s:Grant", ns)
    assert len(g) == 1
    assert g[0].find("s:Grantee", ns).get("{%s}type" % ns["xsi"]) == "CanonicalUser"
    # ACLs are disabled (BucketOwnerEnforced): only "private" is accepted
    root.put_bucket_acl(Bucket=bk, ACL="private")
    for kw in ({"ACL": "public-read"}, {"GrantRead": 'id="%s"' % u.canonical}):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            root.put_bucket_acl(Bucket=bk, **kw)
        assert err(e) == "400 AccessControlListNotSupported"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        root.put_object(Bucket=bk, Key="o", Body=b"o", ACL="public-read")
    assert err(e) == "400 AccessControlListNotSupported"
    assert not exists(root, bk, "o")
    root.put_object(Bucket=bk, Key="o", Body=b"o", ACL="bucket-owner-full-control")
    assert _grants(root.get_object_acl(Bucket=bk, Key="o")) == \
        [("CanonicalUser", owner, "FULL_CONTROL")]

    # ACLs enabled: canned, grant headers, an AccessControlPolicy body
    b2 = iam.bucket(ObjectOwnership="ObjectWriter")
    root.delete_public_access_block(Bucket=b2)
    root.put_bucket_acl(Bucket=b2, ACL="public-read")
    assert _grants(root.get_bucket_acl(Bucket=b2)) == sorted([
        ("CanonicalUser", owner, "FULL_CONTROL"), ("Group", ALL_USERS, "READ")])
    root.put_bucket_acl(Bucket=b2, GrantRead='id="%s", uri="%s"' % (u.canonical, ALL_USERS),
                        GrantFullControl='id="%s"' % owner)
    assert _grants(root.get_bucket_acl(Bucket=b2)) == sorted([
        ("CanonicalUser", owner, "FULL_CONTROL"), ("CanonicalUser", u.canonical, "READ"),
        ("Group", ALL_USERS, "READ")])
    got = root.get_bucket_acl(Bucket=b2)
    names = {g["Grantee"].get("ID"): g["Grantee"].get("DisplayName") for g in got["Grants"]}
    assert names[u.canonical] == u.user
    root.put_bucket_acl(Bucket=b2, AccessControlPolicy={
        "Owner": {"ID": owner},
        "Grants": [
            {"Grantee": {"Type": "CanonicalUser", "ID": owner}, "Permission": "FULL_CONTROL"},
            {"Grantee": {"Type": "CanonicalUser", "ID": u.canonical}, "Permission": "WRITE"},
            {"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ_ACP"}]})
    assert _grants(root.get_bucket_acl(Bucket=b2)) == sorted([
        ("CanonicalUser", owner, "FULL_CONTROL"), ("CanonicalUser", u.canonical, "WRITE"),
        ("Group", ALL_USERS, "READ_ACP")])

    root.put_object(Bucket=b2, Key="o", Body=b"o", ACL="public-read")
    assert _grants(root.get_object_acl(Bucket=b2, Key="o")) == sorted([
        ("CanonicalUser", owner, "FULL_CONTROL"), ("Group", ALL_USERS, "READ")])
    root.put_object_acl(Bucket=b2, Key="o", ACL="private")
    assert _grants(root.get_object_acl(Bucket=b2, Key="o")) == \
        [("CanonicalUser", owner, "FULL_CONTROL")]
    root.put_object_acl(Bucket=b2, Key="o", GrantFullControl='id="%s"' % u.canonical)
    assert _grants(root.get_object_acl(Bucket=b2, Key="o")) == \
        [("CanonicalUser", u.canonical, "FULL_CONTROL")]
    assert root.get_object_acl(Bucket=b2, Key="o")["Owner"]["ID"] == owner
    root.put_object_acl(Bucket=b2, Key="o", AccessControlPolicy={
        "Owner": {"ID": owner},
        "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": owner},
                    "Permission": "FULL_CONTROL"},
                   {"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"}]})
    assert curl(_url(iam, b2, "o")) == (200, b"o")
    # ACL on copy and on multipart uploads
    root.copy_object(Bucket=b2, Key="c", CopySource={"Bucket": b2, "Key": "o"},
                     ACL="public-read")
    assert ("Group", ALL_USERS, "READ") in _grants(root.get_object_acl(Bucket=b2, Key="c"))
    up = root.create_multipart_upload(Bucket=b2, Key="m", ACL="public-read")["UploadId"]
    e1 = root.upload_part(Bucket=b2, Key="m", UploadId=up, PartNumber=1, Body=b"mm")["ETag"]
    root.complete_multipart_upload(Bucket=b2, Key="m", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e1}]})
    assert ("Group", ALL_USERS, "READ") in _grants(root.get_object_acl(Bucket=b2, Key="m"))
    assert curl(_url(iam, b2, "m")) == (200, b"mm")


def test_copy_does_not_carry_the_source_acl(iam):
    """AWS: CopyObject does not copy the source's ACL; without x-amz-acl /
    x-amz-grant-* the copy is private (a public object's copy is not public)."""
    root = iam.root
    bk = iam.public_bucket(ObjectOwnership="ObjectWriter")
    owner = root.get_bucket_acl(Bucket=bk)["Owner"]["ID"]
    root.put_object(Bucket=bk, Key="public", Body=b"p", ACL="public-read")
    assert curl(_url(iam, bk, "public")) == (200, b"p")
    root.copy_object(Bucket=bk, Key="copy", CopySource={"Bucket": bk, "Key": "public"})
    assert _grants(root.get_object_acl(Bucket=bk, Key="copy")) == \
        [("CanonicalUser", owner, "FULL_CONTROL")]
    st, body = curl(_url(iam, bk, "copy"))
    assert (st, code_of(body)) == (403, "AccessDenied"), body
    # copied onto itself (metadata replaced): private again as well
    root.copy_object(Bucket=bk, Key="public", CopySource={"Bucket": bk, "Key": "public"},
                     MetadataDirective="REPLACE", Metadata={"m": "1"})
    st, body = curl(_url(iam, bk, "public"))
    assert (st, code_of(body)) == (403, "AccessDenied"), body


def test_owner_is_the_canonical_id_everywhere(iam):
    """The account's canonical id that ACLs show is the Owner ID of
    ListBuckets (and of the objects in a fetch-owner listing) too."""
    root = iam.root
    bk = iam.bucket()
    root.put_object(Bucket=bk, Key="k", Body=b"v")
    owner = root.get_bucket_acl(Bucket=bk)["Owner"]["ID"]
    seen = {
        "GetObjectAcl": root.get_object_acl(Bucket=bk, Key="k")["Owner"].get("ID"),
        "ListBuckets": root.list_buckets()["Owner"].get("ID"),
        "ListObjectsV2 fetch-owner": root.list_objects_v2(
            Bucket=bk, FetchOwner=True)["Contents"][0].get("Owner", {}).get("ID"),
        "ListObjects": root.list_objects(Bucket=bk)["Contents"][0].get("Owner", {}).get("ID"),
    }
    assert {k: v for k, v in seen.items() if v != owner} == {}, owner


def test_acl_errors(iam, raw_request):
    root = iam.root
    b2 = iam.bucket(ObjectOwnership="ObjectWriter")
    root.delete_public_access_block(Bucket=b2)
    root.put_object(Bucket=b2, Key="o", Body=b"o")
    before = _grants(root.get_bucket_acl(Bucket=b2))
    # MalformedACLError: a body that is no AccessControlPolicy
    for body in ("<AccessControlPolicy><Owner>", "<NotAnAcl/>",
                 "<AccessControlPolicy><AccessControlList/></AccessControlPolicy>"):
        r = raw_request(iam.server, "PUT", "/" + b2, query="acl=", body=body)
        assert (r.status, r.error_code()) == (400, "MalformedACLError"), (body, r)
        r = raw_request(iam.server, "PUT", "/%s/o" % b2, query="acl=", body=body)
        assert (r.status, r.error_code()) == (400, "MalformedACLError"), (body, r)
    # UnresolvableGrantByEmailAddress
    with pytest.raises(botocore.exceptions.ClientError) as e:
        root.put_bucket_acl(Bucket=b2, GrantRead='emailAddress="nobody@example.com"')
    assert err(e) == "400 UnresolvableGrantByEmailAddress"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        root.put_object_acl(Bucket=b2, Key="o", GrantRead='emailAddress="nobody@example.com"')
    assert err(e) == "400 UnresolvableGrantByEmailAddress"
    # MissingSecurityHeader: PutBucketAcl / PutObjectAcl with nothing at all
    r = raw_request(iam.server, "PUT", "/" + b2, query="acl=")
    assert (r.status, r.error_code()) == (400, "MissingSecurityHeader"), r
    r = raw_request(iam.server, "PUT", "/%s/o" % b2, query="acl=")
    assert (r.status, r.error_code()) == (400, "MissingSecurityHeader"), r
    # an unknown canned ACL
    r = raw_request(iam.server, "PUT", "/" + b2, query="acl=", headers={"x-amz-acl": "sorta"})
    assert r.status == 400 and r.error_code() in ("InvalidArgument", "MalformedACLError"), r
    # a canned ACL and grant headers at once
    r = raw_request(iam.server, "PUT", "/" + b2, query="acl=",
                    headers={"x-amz-acl": "private", "x-amz-grant-read": 'uri="%s"' % ALL_USERS})
    assert (r.status, r.error_code()) == (400, "InvalidRequest"), r
    assert _grants(root.get_bucket_acl(Bucket=b2)) == before
    # InvalidBucketAclWithObjectOwnership: a public canned ACL on a new bucket
    # with the default ownership (BucketOwnerEnforced)
    nb = uid("id-acl-")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        root.create_bucket(Bucket=nb, ACL="public-read")
    assert err(e) == "400 InvalidBucketAclWithObjectOwnership"
    assert outcome(root.head_bucket, Bucket=nb) == "404 NotFound"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        root.create_bucket(Bucket=nb, ACL="public-read", ObjectOwnership="BucketOwnerEnforced")
    assert err(e) == "400 InvalidBucketAclWithObjectOwnership"
    # ... private is fine
    root.create_bucket(Bucket=nb, ACL="private")
    r = raw_request(iam.server, "PUT", "/" + uid("id-own-"),
                    headers={"x-amz-object-ownership": "Anybody"})
    assert (r.status, r.error_code()) == (400, "InvalidArgument"), r


def test_expected_bucket_owner(iam):
    root = iam.root
    bk = iam.bucket()
    root.put_object(Bucket=bk, Key="k", Body=b"v")
    alice = iam.client(iam.user(uid("ebo-"), "readwrite"))
    for i, c in enumerate((root, alice)):
        ck = "c%d" % i
        assert outcome(c.get_object, Bucket=bk, Key="k",
                       ExpectedBucketOwner="111122223333") == DENIED
        assert outcome(c.list_objects_v2, Bucket=bk, ExpectedBucketOwner="111122223333") == DENIED
        assert outcome(c.put_object, Bucket=bk, Key="k", Body=b"changed",
                       ExpectedBucketOwner="111122223333") == DENIED
        assert outcome(c.get_bucket_acl, Bucket=bk, ExpectedBucketOwner="111122223333") == DENIED
        # a copy whose source bucket is expected to be another account's
        src = {"Bucket": bk, "Key": "k"}
        assert outcome(c.copy_object, Bucket=bk, Key=ck, CopySource=src,
                       ExpectedSourceBucketOwner="111122223333") == DENIED
        up = c.create_multipart_upload(Bucket=bk, Key=ck)["UploadId"]
        assert outcome(c.upload_part_copy, Bucket=bk, Key=ck, UploadId=up, PartNumber=1,
                       CopySource=src, ExpectedSourceBucketOwner="111122223333") == DENIED
        c.abort_multipart_upload(Bucket=bk, Key=ck, UploadId=up)
        assert outcome(c.head_object, Bucket=bk, Key=ck) == "404 NotFound"
        assert outcome(c.copy_object, Bucket=bk, Key=ck, CopySource=src) == "ok"
        assert outcome(c.get_object, Bucket=bk, Key="k") == "ok"
    assert body_of(root, bk, "k") == b"v"


# ---- 6. SigV2 ----

def test_sigv2_header_and_presigned(iam):
    root = iam.root
    bk = iam.bucket()
    u = iam.user(uid("v2-"), "readwrite")
    ro = iam.user(uid("v2ro-"), "readonly")
    for who in (iam.server, u):
        c = make_client(who, signature_version="s3")
        c.put_object(Bucket=bk, Key="v2/%s" % who.access_key, Body=b"signed with v2",
                     Metadata={"who": "v2"})
        got = c.get_object(Bucket=bk, Key="v2/%s" % who.access_key)
        assert got["Body"].read() == b"signed with v2"
        assert got["Metadata"] == {"who": "v2"}
        keys = [o["Key"] for o in c.list_objects(Bucket=bk, Prefix="v2/")["Contents"]]
        assert "v2/%s" % who.access_key in keys
        # (not list_objects_v2: botocore signs its path-style "?list-type=2"
        # into the V2 string to sign, which S3 does not: boto/boto3#4433)
    # a V2 user is authorized like any other: readonly cannot write
    c = make_client(ro, signature_version="s3")
    assert c.get_object(Bucket=bk, Key="v2/%s" % u.access_key)["Body"].read() == \
        b"signed with v2"
    assert outcome(c.put_object, Bucket=bk, Key="v2/ro", Body=b"x") == DENIED
    assert not exists(root, bk, "v2/ro")
    # a wrong secret
    bad = make_client(Keys(iam.server, u.access_key, "not-the-secret"), signature_version="s3")
    assert outcome(bad.get_object, Bucket=bk, Key="v2/%s" % u.access_key) == \
        "403 SignatureDoesNotMatch"
    assert outcome(bad.put_object, Bucket=bk, Key="v2/bad", Body=b"x") == \
        "403 SignatureDoesNotMatch"
    assert not exists(root, bk, "v2/bad")
    unknown = make_client(Keys(iam.server, "NOSUCHV2KEY", "x"), signature_version="s3")
    assert outcome(unknown.list_objects, Bucket=bk) == BADKEY

    # presigned V2 GET through urllib
    key = "v2/%s" % u.access_key
    pc = make_client(u, signature_version="s3")
    url = pc.generate_presigned_url("get_object", Params={"Bucket": bk, "Key": key},
                                    ExpiresIn=300)
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert set(q) == {"AWSAccessKeyId", "Signature", "Expires"}, url
    assert http_get(url) == (200, b"signed with v2")
    assert curl(url) == (200, b"signed with v2")
    # tampered: another key, another signature
    st, body = http_get(url.replace(urllib.parse.quote(key, safe="/"), "v2/other"))
    assert (st, code_of(body)) == (403, "SignatureDoesNotMatch"), body
    sig = q["Signature"][0]
    forged = ("A" if sig[0] != "A" else "B") + sig[1:]
    st, body = http_get(url.replace("Signature=" + urllib.parse.quote(sig, safe=""),
                                    "Signature=" + urllib.parse.quote(forged, safe="")))
    assert (st, code_of(body)) == (403, "SignatureDoesNotMatch"), body
    # expiry moved later by hand: the signature no longer matches
    exp = q["Expires"][0]
    st, body = http_get(url.replace("Expires=" + exp, "Expires=%d" % (int(exp) + 3600)))
    assert (st, code_of(body)) == (403, "SignatureDoesNotMatch"), body
    # expired (signed for a time already past)
    old = pc.generate_presigned_url("get_object", Params={"Bucket": bk, "Key": key},
                                    ExpiresIn=-60)
    assert int(urllib.parse.parse_qs(urllib.parse.urlsplit(old).query)["Expires"][0]) < \
        time.time()
    st, body = http_get(old)
    assert (st, code_of(body)) == (403, "AccessDenied"), body
    # presigned PUT (V2) by a readonly user: refused, nothing written
    purl = make_client(ro, signature_version="s3").generate_presigned_url(
        "put_object", Params={"Bucket": bk, "Key": "v2/presigned-ro"}, ExpiresIn=300)
    st, body = curl(purl, "-X", "PUT", "-H", "Content-Type:", "--data-binary", "x")
    assert (st, code_of(body)) == (403, "AccessDenied"), body
    assert not exists(root, bk, "v2/presigned-ro")
    # presigned PUT (V2) by the readwrite user
    purl = pc.generate_presigned_url("put_object", Params={"Bucket": bk, "Key": "v2/put"},
                                     ExpiresIn=300)
    st, body = curl(purl, "-X", "PUT", "-H", "Content-Type:", "--data-binary",
                    "put via v2 url")
    assert st == 200, body
    assert body_of(root, bk, "v2/put") == b"put via v2 url"
    # a disabled key is refused with V2 as well
    iam.admin("user", "key", "disable", u.user, u.access_key)
    st, body = http_get(url)
    assert (st, code_of(body)) == (403, "InvalidAccessKeyId"), body
    iam.admin("user", "key", "enable", u.user, u.access_key)
    assert http_get(url) == (200, b"signed with v2")


def test_sigv2_tampered_header_signature(iam, raw_request):
    bk = iam.bucket()
    iam.root.put_object(Bucket=bk, Key="k", Body=b"v")
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
    r = raw_request(iam.server, "GET", "/%s/k" % bk, sign=False, headers={
        "Date": date, "Authorization": "AWS %s:%s" % (iam.server.access_key,
                                                      base64.b64encode(b"x" * 20).decode())})
    assert (r.status, r.error_code()) == (403, "SignatureDoesNotMatch"), r
    r = raw_request(iam.server, "PUT", "/%s/k" % bk, sign=False, body=b"overwritten",
                    headers={"Date": date, "Authorization": "AWS %s:%s" % (
                        iam.server.access_key, base64.b64encode(b"y" * 20).decode())})
    assert (r.status, r.error_code()) == (403, "SignatureDoesNotMatch"), r
    assert body_of(iam.root, bk, "k") == b"v"


@pytest.mark.skipif(shutil.which("aws") is None, reason="aws CLI not installed")
def test_aws_cli_presign_v2_with_curl(iam):
    bk = iam.bucket()
    u = iam.user(uid("cli-"), "readonly")
    iam.root.put_object(Bucket=bk, Key="cli/obj.txt", Body=b"presigned by the aws cli")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=u.access_key, AWS_SECRET_ACCESS_KEY=u.secret_key,
               AWS_DEFAULT_REGION=REGION, AWS_EC2_METADATA_DISABLED="true",
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    r = subprocess.run(["aws", "s3", "presign", "s3://%s/cli/obj.txt" % bk, "--endpoint-url",
                        iam.server.endpoint, "--expires-in", "300"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    url = r.stdout.strip()
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    if "AWSAccessKeyId" not in q:
        pytest.skip("this aws CLI presigns with SigV4: %s" % url)
    assert q["AWSAccessKeyId"] == [u.access_key]
    assert curl(url) == (200, b"presigned by the aws cli")
    st, body = curl(url.replace("cli/obj.txt", "cli/OBJ.txt"))
    assert (st, code_of(body)) == (403, "SignatureDoesNotMatch"), body


def _aws(iam, keys, *args):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=keys.access_key,
               AWS_SECRET_ACCESS_KEY=keys.secret_key, AWS_DEFAULT_REGION=REGION,
               AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_RETRY_MODE="standard",
               AWS_MAX_ATTEMPTS="1")
    return subprocess.run(["aws", "--endpoint-url", iam.server.endpoint, *args], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(shutil.which("aws") is None, reason="aws CLI not installed")
def test_aws_cli_as_users(iam, tmp_path):
    """The aws CLI (its own, newer botocore: checksums, multipart) signing as a
    readwrite and a readonly user."""
    alice = iam.user(uid("clia-"), "readwrite")
    bob = iam.user(uid("clib-"), "readonly")
    bk = iam.bucket()
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(9 << 20))  # over the CLI's 8 MiB multipart threshold
    r = _aws(iam, alice, "s3", "cp", str(big), "s3://%s/cli/big.bin" % bk)
    assert r.returncode == 0, r.stderr
    assert iam.root.head_object(Bucket=bk, Key="cli/big.bin")["ContentLength"] == 9 << 20
    r = _aws(iam, bob, "s3", "ls", "s3://%s/cli/" % bk)
    assert r.returncode == 0 and "big.bin" in r.stdout, r.stderr
    out = tmp_path / "back.bin"
    r = _aws(iam, bob, "s3", "cp", "s3://%s/cli/big.bin" % bk, str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == big.read_bytes()
    r = _aws(iam, bob, "s3", "cp", str(big), "s3://%s/cli/bob-big.bin" % bk)  # multipart
    assert r.returncode != 0 and "AccessDenied" in r.stderr, (r.stdout, r.stderr)
    assert iam.root.list_multipart_uploads(Bucket=bk).get("Uploads", []) == []
    r = _aws(iam, bob, "s3", "rm", "s3://%s/cli/big.bin" % bk)
    assert r.returncode != 0 and "AccessDenied" in r.stderr, (r.stdout, r.stderr)
    assert exists(iam.root, bk, "cli/big.bin")


def test_no_sigv2_server(start_server, tmp_path):
    srv = start_server(tmp_path, "--no-sigv2")
    v4 = make_client(srv)
    v4.create_bucket(Bucket="nov2")
    v4.put_object(Bucket="nov2", Key="k", Body=b"v4 only")
    v2 = make_client(srv, signature_version="s3")
    assert outcome(v2.get_object, Bucket="nov2", Key="k") == "400 InvalidRequest"
    assert outcome(v2.put_object, Bucket="nov2", Key="k", Body=b"v2") == "400 InvalidRequest"
    assert outcome(v2.list_objects, Bucket="nov2") == "400 InvalidRequest"
    url = v2.generate_presigned_url("get_object", Params={"Bucket": "nov2", "Key": "k"},
                                    ExpiresIn=300)
    st, body = http_get(url)
    assert (st, code_of(body)) == (400, "InvalidRequest"), body
    assert v4.get_object(Bucket="nov2", Key="k")["Body"].read() == b"v4 only"
    url4 = v4.generate_presigned_url("get_object", Params={"Bucket": "nov2", "Key": "k"},
                                     ExpiresIn=300)
    assert http_get(url4) == (200, b"v4 only")


# ---- 7. secrets never in logs ----

def test_zz_no_secret_in_server_log(iam):
    """Runs last in this module (by name): by now the logs hold every request
    above, the admin calls that created keys among them. No user secret (nor
    the root's) is in any of them."""
    # one more round of everything that carries a secret, so that this test
    # stands on its own as well: given and generated keys, a refused
    # duplicate (the secret in the body of a failing admin call), good and
    # bad V4 and V2 signatures
    secret = "log-secret-" + uuid.uuid4().hex
    u = iam.user(uid("logu-"), "readwrite", access_key=uid("LOGKEY").upper(),
                 secret_key=secret)
    dup_secret = "dup-secret-" + uuid.uuid4().hex
    iam.secrets.append(dup_secret)
    rc, _, _ = iam.admin("user", "add", u.user, "--access-key", uid("DUP").upper(),
                         "--secret-key", dup_secret, ok=False)
    assert rc != 0
    k2 = iam.key_add(u.user)
    bk = iam.bucket()
    make_client(u).put_object(Bucket=bk, Key="k", Body=b"v")
    make_client(k2, signature_version="s3").get_object(Bucket=bk, Key="k")
    for sv in ("s3v4", "s3"):
        bad = make_client(Keys(iam.server, u.access_key, "wrong-" + secret), signature_version=sv)
        assert outcome(bad.get_object, Bucket=bk, Key="k") == "403 SignatureDoesNotMatch"
    assert iam.secrets
    logs = [srv.log() for srv in iam.servers]
    assert logs[-1].strip(), "the server printed nothing: nothing to check"
    assert "/%s/k" % bk in logs[-1]  # the access log is on: requests are in it
    for s in iam.secrets + [iam.server.secret_key]:
        for log in logs:
            assert s not in log, "a secret key is in the server log"
