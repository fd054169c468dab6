"""
S3 Object Lock end to end, with AWS's semantics:

 1. the DeleteObject matrix: retention mode (GOVERNANCE, COMPLIANCE) x
    bypass header x with/without VersionId x principal (root, a user whose
    policy allows s3:BypassGovernanceRetention, a user whose policy allows
    s3:* but denies it); every refusal leaves the version readable,
    byte-exact, and its retention as it was
 2. retention change rules (extend, shorten, remove, change mode), legal
    hold on/off, the Get* 404s, header validation, DeleteObjects per key,
    the bucket configuration (shapes, default retention on PUT, multipart
    Complete, CopyObject and POST), versioning that cannot be suspended,
    BucketNotEmpty, a retention that has run out
 3. races: 16 concurrent deletes of one version against a retention or
    legal-hold change; the outcomes must be consistent with one order
 4. the aws CLI (put/get-object-retention, put-object-legal-hold,
    delete-object with and without --bypass-governance-retention)
 5. lifecycle: NoncurrentVersionExpiration never takes a locked version

Retentions run an hour ahead unless a test needs one to end; the session
server's data is thrown away, so what stays locked does no harm.
"""
import base64
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
import types
import uuid
import zlib

import botocore
import pytest

from conftest import cairn_bin, make_client, raw_request

DENIED = "403 AccessDenied"
NO_LOCK_CONF = "404 NoSuchObjectLockConfiguration"
PRINCIPALS = ("root", "user-with-bypass", "user-without-bypass")


# ---- helpers ----

def now():
    return datetime.datetime.now(datetime.timezone.utc)


def ahead(seconds=3600):
    return now() + datetime.timedelta(seconds=seconds)


def iso(dt):
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def uid(prefix="ol-"):
    return "%s%s" % (prefix, uuid.uuid4().hex[:16])


def call(fn, **kw):
    """('ok', response) or ('STATUS Code', error response) of one boto3 call."""
    try:
        return "ok", fn(**kw)
    except botocore.exceptions.ClientError as e:
        st = e.response["ResponseMetadata"]["HTTPStatusCode"]
        code = e.response["Error"]["Code"]
        if code == str(st):  # HEAD: no body
            code = {403: "AccessDenied", 404: "NotFound"}.get(st, code)
        return "%d %s" % (st, code), e.response


def outcome(fn, **kw):
    return call(fn, **kw)[0]


def close_to(got, want, slack=2.0):
    return abs((got - want).total_seconds()) <= slack


def md5_b64(b):
    return base64.b64encode(hashlib.md5(b).digest()).decode()


def lock_bucket(s3):
    b = uid()
    s3.create_bucket(Bucket=b, ObjectLockEnabledForBucket=True)
    return b


def put_locked(s3, bucket, key, body, mode="GOVERNANCE", until=None, hold=None):
    kw = dict(Bucket=bucket, Key=key, Body=body)
    if mode:
        kw.update(ObjectLockMode=mode, ObjectLockRetainUntilDate=until or ahead())
    if hold:
        kw["ObjectLockLegalHoldStatus"] = hold
    return s3.put_object(**kw)["VersionId"]


def read(s3, bucket, key, vid=None):
    kw = dict(Bucket=bucket, Key=key)
    if vid:
        kw["VersionId"] = vid
    return s3.get_object(**kw)["Body"].read()


def versions(s3, bucket, key):
    r = s3.list_object_versions(Bucket=bucket, Prefix=key)
    return ([v["VersionId"] for v in r.get("Versions", []) if v["Key"] == key],
            [m["VersionId"] for m in r.get("DeleteMarkers", []) if m["Key"] == key])


def raw_delete(server, bucket, key, vid, bypass=False, **kw):
    h = {"x-amz-bypass-governance-retention": "true"} if bypass else {}
    return raw_request(server, "DELETE", "/%s/%s" % (bucket, key), headers=h,
                       query={"versionId": vid}, **kw)


def raw_lock_conf(server, bucket, xml):
    body = xml.encode()
    return raw_request(server, "PUT", "/%s" % bucket, query="object-lock=",
                       headers={"Content-MD5": md5_b64(body)}, body=body)


@pytest.fixture
def lbucket(s3):
    """A fresh bucket created with object lock enabled."""
    return lock_bucket(s3)


@pytest.fixture(scope="module")
def principals(server, s3, tmp_path_factory):
    """{'root': client, 'user-with-bypass': client, 'user-without-bypass':
    client}: both users may do anything in S3 (s3:*); the second has
    s3:BypassGovernanceRetention explicitly denied."""
    env = dict(os.environ, CAIRN_ROOT_USER=server.access_key,
               CAIRN_ROOT_PASSWORD=server.secret_key)
    tmp = tmp_path_factory.mktemp("objlock-policies")

    def admin(*a):
        p = subprocess.run([cairn_bin(), "admin", "--endpoint", server.endpoint] + list(a),
                           capture_output=True, text=True, env=env, timeout=30)
        assert p.returncode == 0, (a, p.stdout, p.stderr)
        return json.loads(p.stdout) if p.stdout.strip().startswith("{") else p.stdout

    allow_all = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    docs = {
        "user-with-bypass": [allow_all],
        "user-without-bypass": [allow_all, {"Effect": "Deny",
                                            "Action": "s3:BypassGovernanceRetention",
                                            "Resource": "*"}],
    }
    out = {"root": s3}
    made = []
    for who, stmts in docs.items():
        name = uid("ol-%s-" % who.split("-")[1])
        path = tmp / ("%s.json" % name)
        path.write_text(json.dumps({"Version": "2012-10-17", "Statement": stmts}))
        admin("policy", "add", name, str(path))
        u = admin("user", "add", name)
        admin("policy", "attach", name, name)
        made.append(name)
        keys = types.SimpleNamespace(endpoint=server.endpoint, host=server.host,
                                     port=server.port, access_key=u["access_key"],
                                     secret_key=u["secret_key"])
        out[who] = make_client(keys)
        out[who + ":keys"] = keys
    yield out
    for name in made:
        admin("policy", "detach", name, name)
        admin("user", "remove", name)
        admin("policy", "remove", name)


# ---- 1. the DeleteObject matrix ----

@pytest.mark.parametrize("principal", PRINCIPALS)
@pytest.mark.parametrize("with_vid", [True, False], ids=["version-id", "no-version-id"])
@pytest.mark.parametrize("bypass", [False, True], ids=["no-bypass", "bypass"])
@pytest.mark.parametrize("mode", ["GOVERNANCE", "COMPLIANCE"])
def test_delete_matrix(principals, s3, lbucket, mode, bypass, with_vid, principal):
    body = os.urandom(4096) + mode.encode()
    until = ahead(3600)
    vid = put_locked(s3, lbucket, "k", body, mode, until)
    kw = dict(Bucket=lbucket, Key="k")
    if with_vid:
        kw["VersionId"] = vid
    if bypass:
        kw["BypassGovernanceRetention"] = True
    got, resp = call(principals[principal].delete_object, **kw)

    if not with_vid:
        # no version named: a delete marker on top, the locked version stays
        assert got == "ok", resp
        assert resp["DeleteMarker"] is True and resp["VersionId"] != vid, resp
        assert outcome(s3.get_object, Bucket=lbucket, Key="k") == "404 NoSuchKey"
        vs, markers = versions(s3, lbucket, "k")
        assert vs == [vid] and markers == [resp["VersionId"]]
    elif mode == "GOVERNANCE" and bypass and principal != "user-without-bypass":
        assert got == "ok", resp
        assert resp["VersionId"] == vid, resp
        assert outcome(s3.get_object, Bucket=lbucket, Key="k",
                       VersionId=vid) == "404 NoSuchVersion"
        assert versions(s3, lbucket, "k") == ([], [])
        return
    else:
        assert got == DENIED, resp
        assert read(s3, lbucket, "k") == body  # still the current version
        assert versions(s3, lbucket, "k") == ([vid], [])
    # refused, or a marker put on top: the version is there, byte-exact,
    # with its retention unchanged
    assert read(s3, lbucket, "k", vid) == body
    h = s3.head_object(Bucket=lbucket, Key="k", VersionId=vid)
    assert h["ObjectLockMode"] == mode and close_to(h["ObjectLockRetainUntilDate"], until, 1)
    r = s3.get_object_retention(Bucket=lbucket, Key="k", VersionId=vid)["Retention"]
    assert r["Mode"] == mode and close_to(r["RetainUntilDate"], until, 1)


def test_bypass_needs_the_right(server, s3, lbucket, principals):
    """Bypass is its own action: a user allowed s3:* but denied
    s3:BypassGovernanceRetention gets 403 with the header, over raw HTTP as
    through boto3, and cannot shorten or remove a retention either."""
    vid = put_locked(s3, lbucket, "k", b"listed")
    c = principals["user-without-bypass"]
    assert outcome(c.delete_object, Bucket=lbucket, Key="k", VersionId=vid,
                   BypassGovernanceRetention=True) == DENIED
    # the same request by raw HTTP, signed as that user
    keys = principals["user-without-bypass:keys"]
    r = raw_delete(server, lbucket, "k", vid, bypass=True, access_key=keys.access_key,
                   secret_key=keys.secret_key)
    assert (r.status, r.error_code()) == (403, "AccessDenied"), r
    assert read(s3, lbucket, "k", vid) == b"listed"
    # and it cannot shorten or remove the retention either
    assert outcome(c.put_object_retention, Bucket=lbucket, Key="k", VersionId=vid,
                   BypassGovernanceRetention=True, Retention={}) == DENIED
    assert outcome(c.put_object_retention, Bucket=lbucket, Key="k", VersionId=vid,
                   BypassGovernanceRetention=True,
                   Retention={"Mode": "GOVERNANCE", "RetainUntilDate": ahead(60)}) == DENIED
    # the user with the right can
    w = principals["user-with-bypass"]
    assert outcome(w.put_object_retention, Bucket=lbucket, Key="k", VersionId=vid,
                   BypassGovernanceRetention=True, Retention={}) == "ok"
    assert outcome(s3.get_object_retention, Bucket=lbucket, Key="k",
                   VersionId=vid) == NO_LOCK_CONF
    assert outcome(c.delete_object, Bucket=lbucket, Key="k", VersionId=vid) == "ok"


# ---- 2. retention and legal hold ----

def test_retention_change_rules(server, principals, s3, lbucket):
    b = lbucket
    t1 = ahead(3600)
    vid = put_locked(s3, b, "k", b"gov", "GOVERNANCE", t1)

    def ret(**kw):
        return outcome(s3.put_object_retention, Bucket=b, Key="k", VersionId=vid, **kw)

    def current():
        r = s3.get_object_retention(Bucket=b, Key="k", VersionId=vid)["Retention"]
        return r["Mode"], r["RetainUntilDate"]

    # GOVERNANCE: extend without bypass
    t2 = ahead(7200)
    assert ret(Retention={"Mode": "GOVERNANCE", "RetainUntilDate": t2}) == "ok"
    m, d = current()
    assert m == "GOVERNANCE" and close_to(d, t2, 1)
    # the same date again is fine too
    assert ret(Retention={"Mode": "GOVERNANCE", "RetainUntilDate": t2}) == "ok"
    # shorten: only with bypass
    assert ret(Retention={"Mode": "GOVERNANCE", "RetainUntilDate": t1}) == DENIED
    assert close_to(current()[1], t2, 1)
    assert ret(Retention={"Mode": "GOVERNANCE", "RetainUntilDate": t1},
               BypassGovernanceRetention=True) == "ok"
    assert close_to(current()[1], t1, 1)
    # remove: only with bypass
    assert ret(Retention={}) == DENIED
    assert current()[0] == "GOVERNANCE"
    assert ret(Retention={}, BypassGovernanceRetention=True) == "ok"
    assert outcome(s3.get_object_retention, Bucket=b, Key="k", VersionId=vid) == NO_LOCK_CONF
    assert "ObjectLockMode" not in s3.head_object(Bucket=b, Key="k", VersionId=vid)
    # none in force: any retention may be set, without bypass
    assert ret(Retention={"Mode": "GOVERNANCE", "RetainUntilDate": t1}) == "ok"
    # GOVERNANCE -> COMPLIANCE (same date) without bypass
    assert ret(Retention={"Mode": "COMPLIANCE", "RetainUntilDate": t1}) == "ok"
    assert current()[0] == "COMPLIANCE"
    # COMPLIANCE: extend yes; shorten, remove, back to GOVERNANCE never,
    # not even root with bypass
    assert ret(Retention={"Mode": "COMPLIANCE", "RetainUntilDate": t2}) == "ok"
    for bp in (False, True):
        extra = {"BypassGovernanceRetention": True} if bp else {}
        assert ret(Retention={"Mode": "COMPLIANCE", "RetainUntilDate": t1}, **extra) == DENIED
        assert ret(Retention={}, **extra) == DENIED
        assert ret(Retention={"Mode": "GOVERNANCE", "RetainUntilDate": t2}, **extra) == DENIED
        assert ret(Retention={"Mode": "GOVERNANCE", "RetainUntilDate": ahead(9000)},
                   **extra) == DENIED
    m, d = current()
    assert m == "COMPLIANCE" and close_to(d, t2, 1)
    # a date in the past is refused (400 InvalidArgument) whatever the state
    assert ret(Retention={"Mode": "COMPLIANCE",
                          "RetainUntilDate": now() - datetime.timedelta(days=1)}
               ) == "400 InvalidArgument"
    # a malformed body
    body = b"<Retention><Mode>FOREVER</Mode><RetainUntilDate>2099-01-01T00:00:00Z" \
           b"</RetainUntilDate></Retention>"
    r = raw_request(server, "PUT", "/%s/k" % b,
                    query={"retention": "", "versionId": vid},
                    headers={"Content-MD5": md5_b64(body)}, body=body)
    assert (r.status, r.error_code()) == (400, "MalformedXML"), r
    assert current()[0] == "COMPLIANCE"
    # the current version is the default target
    vid2 = s3.put_object(Bucket=b, Key="k", Body=b"second")["VersionId"]
    assert outcome(s3.get_object_retention, Bucket=b, Key="k") == NO_LOCK_CONF
    assert outcome(s3.put_object_retention, Bucket=b, Key="k",
                   Retention={"Mode": "GOVERNANCE", "RetainUntilDate": t1}) == "ok"
    assert s3.get_object_retention(Bucket=b, Key="k", VersionId=vid2)["Retention"][
        "Mode"] == "GOVERNANCE"
    assert current()[0] == "COMPLIANCE"


def test_legal_hold(server, principals, s3, lbucket):
    b = lbucket
    vid = s3.put_object(Bucket=b, Key="k", Body=b"held")["VersionId"]
    # neither retention nor hold yet
    assert outcome(s3.get_object_legal_hold, Bucket=b, Key="k", VersionId=vid) == NO_LOCK_CONF
    assert outcome(s3.get_object_retention, Bucket=b, Key="k", VersionId=vid) == NO_LOCK_CONF
    h = s3.head_object(Bucket=b, Key="k")
    assert "ObjectLockLegalHoldStatus" not in h and "ObjectLockMode" not in h
    assert s3.put_object_legal_hold(Bucket=b, Key="k", VersionId=vid,
                                    LegalHold={"Status": "ON"})["ResponseMetadata"][
        "HTTPStatusCode"] == 200
    assert s3.get_object_legal_hold(Bucket=b, Key="k", VersionId=vid)["LegalHold"] == {
        "Status": "ON"}
    assert s3.head_object(Bucket=b, Key="k")["ObjectLockLegalHoldStatus"] == "ON"
    assert s3.get_object(Bucket=b, Key="k")["ObjectLockLegalHoldStatus"] == "ON"
    # a hold without any retention: nobody deletes the version, bypass or not
    for who in PRINCIPALS:
        for bp in (False, True):
            extra = {"BypassGovernanceRetention": True} if bp else {}
            assert outcome(principals[who].delete_object, Bucket=b, Key="k", VersionId=vid,
                           **extra) == DENIED, (who, bp)
    assert read(s3, b, "k", vid) == b"held"
    # a hold over a GOVERNANCE retention: bypass passes the retention, not the hold
    assert outcome(s3.put_object_retention, Bucket=b, Key="k", VersionId=vid,
                   Retention={"Mode": "GOVERNANCE", "RetainUntilDate": ahead()}) == "ok"
    assert outcome(s3.delete_object, Bucket=b, Key="k", VersionId=vid,
                   BypassGovernanceRetention=True) == DENIED
    assert outcome(s3.put_object_retention, Bucket=b, Key="k", VersionId=vid,
                   Retention={}, BypassGovernanceRetention=True) == "ok"
    assert outcome(s3.delete_object, Bucket=b, Key="k", VersionId=vid) == DENIED
    # OFF: deletable again
    s3.put_object_legal_hold(Bucket=b, Key="k", VersionId=vid, LegalHold={"Status": "OFF"})
    assert s3.get_object_legal_hold(Bucket=b, Key="k", VersionId=vid)["LegalHold"] == {
        "Status": "OFF"}
    assert s3.head_object(Bucket=b, Key="k", VersionId=vid)["ObjectLockLegalHoldStatus"] == "OFF"
    assert outcome(principals["user-without-bypass"].delete_object, Bucket=b, Key="k",
                   VersionId=vid) == "ok"
    assert outcome(s3.get_object, Bucket=b, Key="k", VersionId=vid) == "404 NoSuchVersion"
    # the version gone: 404 NoSuchVersion for every lock call that names it
    for fn, extra in ((s3.get_object_legal_hold, {}), (s3.get_object_retention, {}),
                      (s3.put_object_legal_hold, {"LegalHold": {"Status": "ON"}}),
                      (s3.put_object_retention, {"Retention": {
                          "Mode": "GOVERNANCE", "RetainUntilDate": ahead()}})):
        assert outcome(fn, Bucket=b, Key="k", VersionId=vid, **extra) == "404 NoSuchVersion", fn
    # hold set by the PUT itself, and a bad status value
    vid = put_locked(s3, b, "h2", b"put-held", mode=None, hold="ON")
    assert s3.get_object_legal_hold(Bucket=b, Key="h2", VersionId=vid)["LegalHold"] == {
        "Status": "ON"}
    assert outcome(s3.delete_object, Bucket=b, Key="h2", VersionId=vid,
                   BypassGovernanceRetention=True) == DENIED
    body = b"<LegalHold><Status>MAYBE</Status></LegalHold>"
    r = raw_request(server, "PUT", "/%s/h2" % b, query={"legal-hold": "",
                                                                "versionId": vid},
                    headers={"Content-MD5": md5_b64(body)}, body=body)
    assert (r.status, r.error_code()) == (400, "MalformedXML"), r
    assert s3.get_object_legal_hold(Bucket=b, Key="h2")["LegalHold"] == {"Status": "ON"}


def test_lock_calls_on_plain_bucket(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert outcome(s3.get_object_retention, Bucket=bucket, Key="k") == "400 InvalidRequest"
    assert outcome(s3.get_object_legal_hold, Bucket=bucket, Key="k") == "400 InvalidRequest"
    assert outcome(s3.put_object_retention, Bucket=bucket, Key="k", Retention={
        "Mode": "GOVERNANCE", "RetainUntilDate": ahead()}) == "400 InvalidRequest"
    assert outcome(s3.put_object_legal_hold, Bucket=bucket, Key="k",
                   LegalHold={"Status": "ON"}) == "400 InvalidRequest"
    assert outcome(s3.put_object, Bucket=bucket, Key="k2", Body=b"y", ObjectLockMode="GOVERNANCE",
                   ObjectLockRetainUntilDate=ahead()) == "400 InvalidRequest"
    assert outcome(s3.create_multipart_upload, Bucket=bucket, Key="k2",
                   ObjectLockLegalHoldStatus="ON") == "400 InvalidRequest"
    assert outcome(s3.copy_object, Bucket=bucket, Key="k2",
                   CopySource={"Bucket": bucket, "Key": "k"}, ObjectLockMode="COMPLIANCE",
                   ObjectLockRetainUntilDate=ahead()) == "400 InvalidRequest"
    assert outcome(s3.head_object, Bucket=bucket, Key="k2") == "404 NotFound"
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    h = s3.head_object(Bucket=bucket, Key="k")
    assert "ObjectLockMode" not in h and "ObjectLockLegalHoldStatus" not in h


def test_write_header_validation(server, s3, lbucket):
    b = lbucket
    for kw, want in (
            ({"ObjectLockMode": "GOVERNANCE"}, "400 InvalidArgument"),
            ({"ObjectLockRetainUntilDate": ahead()}, "400 InvalidArgument"),
            ({"ObjectLockMode": "FOREVER", "ObjectLockRetainUntilDate": ahead()},
             "400 InvalidArgument"),
            ({"ObjectLockMode": "governance", "ObjectLockRetainUntilDate": ahead()},
             "400 InvalidArgument"),
            ({"ObjectLockMode": "GOVERNANCE",
              "ObjectLockRetainUntilDate": now() - datetime.timedelta(seconds=30)},
             "400 InvalidArgument"),
            ({"ObjectLockLegalHoldStatus": "MAYBE"}, "400 InvalidArgument")):
        assert outcome(s3.put_object, Bucket=b, Key="bad", Body=b"x", **kw) == want, kw
        assert outcome(s3.create_multipart_upload, Bucket=b, Key="bad", **kw) == want, kw
    assert outcome(s3.head_object, Bucket=b, Key="bad") == "404 NotFound"
    assert s3.list_multipart_uploads(Bucket=b).get("Uploads", []) == []
    # a date that is not ISO 8601
    md5 = md5_b64(b"x")
    r = raw_request(server, "PUT", "/%s/bad" % b, body=b"x", headers={
        "Content-MD5": md5, "x-amz-object-lock-mode": "GOVERNANCE",
        "x-amz-object-lock-retain-until-date": "tomorrow"})
    assert (r.status, r.error_code()) == (400, "InvalidArgument"), r
    # lock headers need Content-MD5 or an x-amz-checksum-*
    until = iso(ahead())
    lock_h = {"x-amz-object-lock-mode": "GOVERNANCE",
              "x-amz-object-lock-retain-until-date": until}
    for h in (lock_h, {"x-amz-object-lock-legal-hold": "ON"}):
        r = raw_request(server, "PUT", "/%s/nomd5" % b, body=b"x", headers=dict(h))
        assert (r.status, r.error_code()) == (400, "InvalidRequest"), (h, r)
    assert outcome(s3.head_object, Bucket=b, Key="nomd5") == "404 NotFound"
    # ... either one will do
    crc = base64.b64encode(zlib.crc32(b"x").to_bytes(4, "big")).decode()
    r = raw_request(server, "PUT", "/%s/crc" % b, body=b"x",
                    headers=dict(lock_h, **{"x-amz-checksum-crc32": crc}))
    assert r.status == 200, r
    r = raw_request(server, "PUT", "/%s/md5" % b, body=b"x",
                    headers=dict(lock_h, **{"Content-MD5": md5}))
    assert r.status == 200, r
    for k in ("crc", "md5"):
        h = s3.head_object(Bucket=b, Key=k)
        assert h["ObjectLockMode"] == "GOVERNANCE", h
        assert h["ObjectLockRetainUntilDate"].strftime("%Y-%m-%dT%H:%M:%S") == until[:19]
    # a PUT without any lock header needs no digest
    r = raw_request(server, "PUT", "/%s/plain" % b, body=b"x")
    assert r.status == 200, r
    assert "ObjectLockMode" not in s3.head_object(Bucket=b, Key="plain")


def test_put_headers_multipart_and_copy_set_lock(s3, lbucket):
    b = lbucket
    t = ahead(5000)
    # PUT: mode, date and hold together
    vid = put_locked(s3, b, "p", b"p", "COMPLIANCE", t, hold="ON")
    h = s3.head_object(Bucket=b, Key="p", VersionId=vid)
    assert (h["ObjectLockMode"], h["ObjectLockLegalHoldStatus"]) == ("COMPLIANCE", "ON")
    assert close_to(h["ObjectLockRetainUntilDate"], t, 1)
    g = s3.get_object(Bucket=b, Key="p")
    assert g["ObjectLockMode"] == "COMPLIANCE" and close_to(g["ObjectLockRetainUntilDate"], t, 1)
    # multipart: asked at Create, applied at Complete
    part = os.urandom(5 << 20)
    up = s3.create_multipart_upload(Bucket=b, Key="mp", ObjectLockMode="GOVERNANCE",
                                    ObjectLockRetainUntilDate=t,
                                    ObjectLockLegalHoldStatus="ON")["UploadId"]
    e1 = s3.upload_part(Bucket=b, Key="mp", UploadId=up, PartNumber=1, Body=part)["ETag"]
    e2 = s3.upload_part(Bucket=b, Key="mp", UploadId=up, PartNumber=2, Body=b"tail")["ETag"]
    mvid = s3.complete_multipart_upload(Bucket=b, Key="mp", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})["VersionId"]
    h = s3.head_object(Bucket=b, Key="mp", VersionId=mvid)
    assert (h["ObjectLockMode"], h["ObjectLockLegalHoldStatus"]) == ("GOVERNANCE", "ON")
    assert close_to(h["ObjectLockRetainUntilDate"], t, 1)
    assert outcome(s3.delete_object, Bucket=b, Key="mp", VersionId=mvid,
                   BypassGovernanceRetention=True) == DENIED
    assert read(s3, b, "mp", mvid) == part + b"tail"
    # copy: the source's lock is not copied; the request's is applied
    c = s3.copy_object(Bucket=b, Key="cp-plain", CopySource={"Bucket": b, "Key": "p"})
    h = s3.head_object(Bucket=b, Key="cp-plain", VersionId=c["VersionId"])
    assert "ObjectLockMode" not in h and "ObjectLockLegalHoldStatus" not in h
    c = s3.copy_object(Bucket=b, Key="cp-locked", CopySource={"Bucket": b, "Key": "p"},
                       ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=t)
    h = s3.head_object(Bucket=b, Key="cp-locked", VersionId=c["VersionId"])
    assert h["ObjectLockMode"] == "GOVERNANCE" and close_to(h["ObjectLockRetainUntilDate"], t, 1)
    assert outcome(s3.delete_object, Bucket=b, Key="cp-locked",
                   VersionId=c["VersionId"]) == DENIED
    assert read(s3, b, "cp-locked", c["VersionId"]) == b"p"


def test_delete_objects_per_key(principals, s3, lbucket):
    b = lbucket
    vids = {"gov": put_locked(s3, b, "gov", b"g", "GOVERNANCE"),
            "comp": put_locked(s3, b, "comp", b"c", "COMPLIANCE"),
            "hold": put_locked(s3, b, "hold", b"h", mode=None, hold="ON"),
            "free": s3.put_object(Bucket=b, Key="free", Body=b"f")["VersionId"]}
    objs = [{"Key": k, "VersionId": v} for k, v in vids.items()]
    r = s3.delete_objects(Bucket=b, Delete={"Objects": objs})
    assert sorted(d["Key"] for d in r.get("Deleted", [])) == ["free"], r
    errs = {e["Key"]: (e["Code"], e.get("VersionId")) for e in r.get("Errors", [])}
    assert errs == {"gov": ("AccessDenied", vids["gov"]), "comp": ("AccessDenied", vids["comp"]),
                    "hold": ("AccessDenied", vids["hold"])}, r
    # bypass: the GOVERNANCE one goes, the others stay; the user without
    # the right to bypass gets nothing
    rest = objs[:3]
    r = principals["user-without-bypass"].delete_objects(
        Bucket=b, Delete={"Objects": rest}, BypassGovernanceRetention=True)
    assert r.get("Deleted", []) == [] and len(r["Errors"]) == 3, r
    assert {e["Code"] for e in r["Errors"]} == {"AccessDenied"}
    r = principals["user-with-bypass"].delete_objects(
        Bucket=b, Delete={"Objects": rest}, BypassGovernanceRetention=True)
    assert [d["Key"] for d in r.get("Deleted", [])] == ["gov"], r
    assert sorted(e["Key"] for e in r["Errors"]) == ["comp", "hold"], r
    assert {e["Code"] for e in r["Errors"]} == {"AccessDenied"}
    # no version named: markers, locked or not
    r = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "comp"}, {"Key": "hold"}]})
    assert sorted(d["Key"] for d in r["Deleted"]) == ["comp", "hold"], r
    assert all(d["DeleteMarker"] for d in r["Deleted"]) and not r.get("Errors"), r
    assert read(s3, b, "comp", vids["comp"]) == b"c"
    assert read(s3, b, "hold", vids["hold"]) == b"h"
    assert outcome(s3.get_object, Bucket=b, Key="gov", VersionId=vids["gov"]) == \
        "404 NoSuchVersion"


def test_retention_that_ran_out(s3, lbucket):
    """Once the date has passed the version is an ordinary one again, and
    any retention may be set on it without bypass."""
    b = lbucket
    until = ahead(3)  # slack for a slow (sanitizer) build to make the three PUTs
    vg = put_locked(s3, b, "g", b"g", "GOVERNANCE", until)
    vc = put_locked(s3, b, "c", b"c", "COMPLIANCE", until)
    vr = put_locked(s3, b, "r", b"r", "COMPLIANCE", until)
    assert outcome(s3.delete_object, Bucket=b, Key="c", VersionId=vc) == DENIED
    time.sleep(max(0.0, (until - now()).total_seconds()) + 0.3)
    # the mode and date still show, as in S3
    assert s3.head_object(Bucket=b, Key="c", VersionId=vc)["ObjectLockMode"] == "COMPLIANCE"
    assert outcome(s3.delete_object, Bucket=b, Key="g", VersionId=vg) == "ok"
    assert outcome(s3.delete_object, Bucket=b, Key="c", VersionId=vc) == "ok"
    assert versions(s3, b, "g") == ([], []) and versions(s3, b, "c") == ([], [])
    # an expired COMPLIANCE retention may be lowered to GOVERNANCE
    assert outcome(s3.put_object_retention, Bucket=b, Key="r", VersionId=vr, Retention={
        "Mode": "GOVERNANCE", "RetainUntilDate": ahead()}) == "ok"
    assert outcome(s3.delete_object, Bucket=b, Key="r", VersionId=vr,
                   BypassGovernanceRetention=True) == "ok"


# ---- the bucket's configuration ----

def test_bucket_configuration(server, s3, bucket, lbucket):
    assert s3.get_object_lock_configuration(Bucket=lbucket)["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled"}
    assert s3.get_bucket_versioning(Bucket=lbucket)["Status"] == "Enabled"
    # a plain bucket
    assert outcome(s3.get_object_lock_configuration, Bucket=bucket) == \
        "404 ObjectLockConfigurationNotFoundError"
    conf = {"ObjectLockEnabled": "Enabled"}
    assert outcome(s3.put_object_lock_configuration, Bucket=bucket,
                   ObjectLockConfiguration=conf) == "409 InvalidBucketState"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert outcome(s3.put_object_lock_configuration, Bucket=bucket,
                   ObjectLockConfiguration=conf) == "409 InvalidBucketState"
    assert outcome(s3.get_object_lock_configuration, Bucket=bucket) == \
        "404 ObjectLockConfigurationNotFoundError"
    # versioned: lock may be turned on, and then versioning stays Enabled
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert outcome(s3.put_object_lock_configuration, Bucket=bucket,
                   ObjectLockConfiguration=conf) == "ok"
    assert s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"] == conf
    for b in (bucket, lbucket):
        assert outcome(s3.put_bucket_versioning, Bucket=b, VersioningConfiguration={
            "Status": "Suspended"}) == "409 InvalidBucketState", b
        assert s3.get_bucket_versioning(Bucket=b)["Status"] == "Enabled"
    vid = put_locked(s3, bucket, "k", b"late-lock", "COMPLIANCE")
    assert outcome(s3.delete_object, Bucket=bucket, Key="k", VersionId=vid,
                   BypassGovernanceRetention=True) == DENIED
    # shapes
    rule = {"ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Years": 2}}}
    s3.put_object_lock_configuration(Bucket=lbucket, ObjectLockConfiguration=rule)
    assert s3.get_object_lock_configuration(Bucket=lbucket)["ObjectLockConfiguration"] == rule
    ns = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
    for xml, want in (
            ("<ObjectLockConfiguration %s><ObjectLockEnabled>Enabled</ObjectLockEnabled>"
             "<Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Days>1</Days><Years>1</Years>"
             "</DefaultRetention></Rule></ObjectLockConfiguration>", (400, "MalformedXML")),
            ("<ObjectLockConfiguration %s><ObjectLockEnabled>Enabled</ObjectLockEnabled>"
             "<Rule><DefaultRetention><Days>1</Days></DefaultRetention></Rule>"
             "</ObjectLockConfiguration>", (400, "MalformedXML")),
            ("<ObjectLockConfiguration %s><ObjectLockEnabled>Enabled</ObjectLockEnabled>"
             "<Rule><DefaultRetention><Mode>GOVERNANCE</Mode></DefaultRetention></Rule>"
             "</ObjectLockConfiguration>", (400, "MalformedXML")),
            ("<ObjectLockConfiguration %s><Rule><DefaultRetention><Mode>GOVERNANCE</Mode>"
             "<Days>1</Days></DefaultRetention></Rule></ObjectLockConfiguration>",
             (400, "MalformedXML")),
            ("<ObjectLockConfiguration %s><ObjectLockEnabled>Enabled</ObjectLockEnabled>"
             "<Rule><DefaultRetention><Mode>FOREVER</Mode><Days>1</Days>"
             "</DefaultRetention></Rule></ObjectLockConfiguration>", (400, "MalformedXML")),
            ("<ObjectLockConfiguration %s><ObjectLockEnabled>Enabled</ObjectLockEnabled>"
             "<Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Days>0</Days>"
             "</DefaultRetention></Rule></ObjectLockConfiguration>", (400, "InvalidArgument")),
            ("<ObjectLockConfiguration %s><ObjectLockEnabled>Enabled", (400, "MalformedXML"))):
        r = raw_lock_conf(server, lbucket, xml.replace("%s", ns))
        assert (r.status, r.error_code()) == want, (xml, r)
    # refused ones changed nothing
    assert s3.get_object_lock_configuration(Bucket=lbucket)["ObjectLockConfiguration"] == rule
    # the body needs a digest
    body = ("<ObjectLockConfiguration %s><ObjectLockEnabled>Enabled</ObjectLockEnabled>"
            "</ObjectLockConfiguration>" % ns).encode()
    r = raw_request(server, "PUT", "/%s" % lbucket, query="object-lock=", body=body)
    assert (r.status, r.error_code()) == (400, "InvalidRequest"), r
    # and the rule can be taken away again (lock itself stays)
    r = raw_lock_conf(server, lbucket, body.decode())
    assert r.status == 200, r
    assert s3.get_object_lock_configuration(Bucket=lbucket)["ObjectLockConfiguration"] == conf


def _post_form(server, bucket, key, data):
    """A browser-form POST (presigned by boto3); (status, body)."""
    import http.client
    p = make_client(server).generate_presigned_post(bucket, key, ExpiresIn=300)
    bnd = "----objlock%s" % uuid.uuid4().hex
    parts = [("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
              % (bnd, k, v)).encode() for k, v in p["fields"].items()]
    parts.append(("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n"
                  "Content-Type: application/octet-stream\r\n\r\n" % bnd).encode() + data +
                 b"\r\n" + ("--%s--\r\n" % bnd).encode())
    c = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        c.request("POST", "/" + bucket, body=b"".join(parts),
                  headers={"Content-Type": "multipart/form-data; boundary=" + bnd})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


@pytest.mark.parametrize("unit", ["Days", "Years"])
def test_default_retention(server, s3, lbucket, unit):
    b = lbucket
    n, span = (3, 3 * 86400) if unit == "Days" else (1, 365 * 86400)
    s3.put_object_lock_configuration(Bucket=b, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", unit: n}}})
    want = ahead(span)

    def check(key, vid, mode="GOVERNANCE", until=None):
        h = s3.head_object(Bucket=b, Key=key, VersionId=vid)
        assert h["ObjectLockMode"] == mode, (key, h)
        assert close_to(h["ObjectLockRetainUntilDate"], until or want, 60), (key, h)
        assert outcome(s3.delete_object, Bucket=b, Key=key, VersionId=vid) == DENIED, key
    # PUT
    vid = s3.put_object(Bucket=b, Key="put", Body=b"put")["VersionId"]
    check("put", vid)
    # an explicit retention wins over the default
    t = ahead(4000)
    check("explicit", put_locked(s3, b, "explicit", b"e", "COMPLIANCE", t), "COMPLIANCE", t)
    # a legal hold alone still gets the default retention
    vid = put_locked(s3, b, "held", b"h", mode=None, hold="ON")
    check("held", vid)
    assert s3.head_object(Bucket=b, Key="held")["ObjectLockLegalHoldStatus"] == "ON"
    # multipart Complete
    up = s3.create_multipart_upload(Bucket=b, Key="mp")["UploadId"]
    e = s3.upload_part(Bucket=b, Key="mp", UploadId=up, PartNumber=1, Body=b"mp")["ETag"]
    vid = s3.complete_multipart_upload(Bucket=b, Key="mp", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e}]})["VersionId"]
    check("mp", vid)
    # CopyObject destination
    vid = s3.copy_object(Bucket=b, Key="cp", CopySource={"Bucket": b, "Key": "put"})["VersionId"]
    check("cp", vid)
    # POST (a browser form)
    st, body = _post_form(server, b, "post", b"form data")
    assert st in (200, 204), body
    h = s3.head_object(Bucket=b, Key="post")
    check("post", h["VersionId"])
    # the default changes: new objects follow, old ones keep theirs
    s3.put_object_lock_configuration(Bucket=b, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled"})
    vid = s3.put_object(Bucket=b, Key="after", Body=b"a")["VersionId"]
    assert "ObjectLockMode" not in s3.head_object(Bucket=b, Key="after", VersionId=vid)
    assert outcome(s3.delete_object, Bucket=b, Key="after", VersionId=vid) == "ok"
    assert s3.head_object(Bucket=b, Key="put")["ObjectLockMode"] == "GOVERNANCE"


def test_default_retention_needs_a_digest(server, s3, lbucket):
    """Under the bucket's default retention a PutObject or UploadPart
    without Content-MD5 or an x-amz-checksum-* is 400 InvalidRequest, as
    S3 answers (the body will be kept that long: it must be the one sent);
    either header will do; CreateMultipartUpload and CopyObject carry no
    body and need none; a part of an upload that asked for a lock needs one
    without a default too."""
    b = lbucket
    s3.put_object_lock_configuration(Bucket=b, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    r = raw_request(server, "PUT", "/%s/nod" % b, body=b"x")
    assert (r.status, r.error_code()) == (400, "InvalidRequest"), r
    assert b"Content-MD5 OR x-amz-checksum-" in r.body, r
    assert outcome(s3.head_object, Bucket=b, Key="nod") == "404 NotFound"
    crc = base64.b64encode(zlib.crc32(b"x").to_bytes(4, "big")).decode()
    for h in ({"Content-MD5": md5_b64(b"x")}, {"x-amz-checksum-crc32": crc}):
        r = raw_request(server, "PUT", "/%s/withd" % b, body=b"x", headers=h)
        assert r.status == 200, (h, r)
    assert s3.head_object(Bucket=b, Key="withd")["ObjectLockMode"] == "GOVERNANCE"
    up = s3.create_multipart_upload(Bucket=b, Key="mpd")["UploadId"]
    q = "partNumber=1&uploadId=" + up
    r = raw_request(server, "PUT", "/%s/mpd" % b, query=q, body=b"part")
    assert (r.status, r.error_code()) == (400, "InvalidRequest"), r
    assert s3.list_parts(Bucket=b, Key="mpd", UploadId=up).get("Parts", []) == []
    r = raw_request(server, "PUT", "/%s/mpd" % b, query=q, body=b"part",
                    headers={"Content-MD5": md5_b64(b"part")})
    assert r.status == 200, r
    s3.abort_multipart_upload(Bucket=b, Key="mpd", UploadId=up)
    vid = s3.copy_object(Bucket=b, Key="cpd", CopySource={"Bucket": b, "Key": "withd"})
    assert s3.head_object(Bucket=b, Key="cpd")["ObjectLockMode"] == "GOVERNANCE", vid
    # no default: a plain part needs nothing, a locked upload's part does
    s3.put_object_lock_configuration(Bucket=b, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled"})
    assert raw_request(server, "PUT", "/%s/plain" % b, body=b"x").status == 200
    up = s3.create_multipart_upload(Bucket=b, Key="mpl", ObjectLockLegalHoldStatus="ON")["UploadId"]
    r = raw_request(server, "PUT", "/%s/mpl" % b, query="partNumber=1&uploadId=" + up,
                    body=b"part")
    assert (r.status, r.error_code()) == (400, "InvalidRequest"), r
    s3.abort_multipart_upload(Bucket=b, Key="mpl", UploadId=up)
    up = s3.create_multipart_upload(Bucket=b, Key="mpp")["UploadId"]
    r = raw_request(server, "PUT", "/%s/mpp" % b, query="partNumber=1&uploadId=" + up,
                    body=b"part")
    assert r.status == 200, r
    s3.abort_multipart_upload(Bucket=b, Key="mpp", UploadId=up)


def test_bucket_not_empty_while_locked(s3, lbucket):
    b = lbucket
    vid = put_locked(s3, b, "k", b"x", "GOVERNANCE")
    assert outcome(s3.delete_bucket, Bucket=b) == "409 BucketNotEmpty"
    m = s3.delete_object(Bucket=b, Key="k")["VersionId"]  # a marker on top
    assert outcome(s3.delete_bucket, Bucket=b) == "409 BucketNotEmpty"
    assert outcome(s3.delete_object, Bucket=b, Key="k", VersionId=m) == "ok"
    assert outcome(s3.delete_object, Bucket=b, Key="k", VersionId=vid) == DENIED
    assert outcome(s3.delete_bucket, Bucket=b) == "409 BucketNotEmpty"
    assert read(s3, b, "k") == b"x"
    # bypass empties it; then it goes
    assert outcome(s3.delete_object, Bucket=b, Key="k", VersionId=vid,
                   BypassGovernanceRetention=True) == "ok"
    assert outcome(s3.delete_bucket, Bucket=b) == "ok"
    assert outcome(s3.head_bucket, Bucket=b) == "404 NotFound"


# ---- 3. races ----

NTHREADS = 16
LAGS = (0.0, 0.0, 0.0, 0.001, 0.002, 0.01)  # the deleters' late start, per round


def _race(server, bucket, key, vid, bypass, change, rounds=3, lag=0.0):
    """NTHREADS threads each send `rounds` DeleteObject(versionId) while one
    more thread runs change() once, all released by one barrier; the
    deleters start `lag` seconds late (so that across calls either side
    gets to go first). Returns (deletes: [(t_start, t_end, status, code)],
    change: (t_start, t_end, outcome))."""
    barrier = threading.Barrier(NTHREADS + 1)
    deletes, lock = [], threading.Lock()
    result = {}
    errors = []

    def deleter():
        try:
            barrier.wait(10)
            if lag:
                time.sleep(lag)
            for _ in range(rounds):
                t0 = time.monotonic()
                r = raw_delete(server, bucket, key, vid, bypass=bypass, timeout=30)
                t1 = time.monotonic()
                with lock:
                    deletes.append((t0, t1, r.status, r.error_code()))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    def changer():
        try:
            barrier.wait(10)
            t0 = time.monotonic()
            out = change()
            result["change"] = (t0, time.monotonic(), out)
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    ts = [threading.Thread(target=deleter) for _ in range(NTHREADS)]
    ts.append(threading.Thread(target=changer))
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not errors, errors
    assert len(deletes) == NTHREADS * rounds
    return deletes, result["change"]


def test_race_deletes_without_bypass_vs_compliance(server, s3, lbucket):
    """Deletes without bypass never pass GOVERNANCE, nor the COMPLIANCE that
    replaces it meanwhile: every one is 403 and the version stays."""
    b = lbucket
    body = os.urandom(2 << 20)
    vid = put_locked(s3, b, "k", body, "GOVERNANCE", ahead(3600))
    t2 = ahead(7200)
    deletes, (_, _, out) = _race(server, b, "k", vid, False, lambda: outcome(
        thread_client(server).put_object_retention, Bucket=b, Key="k", VersionId=vid,
        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": t2}))
    assert out == "ok"
    got = sorted({(st, code) for _, _, st, code in deletes})
    assert got == [(403, "AccessDenied")], got
    assert read(s3, b, "k", vid) == body
    r = s3.get_object_retention(Bucket=b, Key="k", VersionId=vid)["Retention"]
    assert r["Mode"] == "COMPLIANCE" and close_to(r["RetainUntilDate"], t2, 1)
    assert versions(s3, b, "k") == ([vid], [])


def _check_race(s3, b, key, vid, body, deletes, change, locked_state):
    """One order explains everything: either a delete came first (the version
    is gone, the change found no version, no delete was refused), or the
    change came first (it succeeded, no delete succeeded, the version is
    there byte-exact and locked)."""
    t0c, t1c, out = change
    statuses = [(st, code) for _, _, st, code in deletes]
    if out == "ok":
        bad = [d for d in deletes if d[2] != 403]
        assert not bad, ("a delete passed a version whose lock change succeeded", bad,
                         "change ran %.4f..%.4f" % (t0c, t1c))
        assert all(code == "AccessDenied" for _, code in statuses)
        assert read(s3, b, key, vid) == body
        assert locked_state()
        return "change-first"
    assert out == "404 NoSuchVersion", out
    assert (204, None) in statuses, statuses
    assert all(st == 204 for st, _ in statuses), (
        "a delete was refused although the lock change never applied", statuses)
    assert outcome(s3.get_object, Bucket=b, Key=key, VersionId=vid) == "404 NoSuchVersion"
    assert versions(s3, b, key) == ([], [])
    return "delete-first"


def test_race_bypass_deletes_vs_legal_hold(server, s3, lbucket):
    """Deletes with bypass (root: allowed) against a legal hold set at the
    same time. A delete applied before the hold removes the version (the
    hold then gets 404 NoSuchVersion, later deletes 204 on nothing); a hold
    applied first refuses every delete. A 204 beside a successful hold, or
    a 403 beside a failed one, is a lost race. Rounds with the deleters
    starting slightly late make both orders happen."""
    b = lbucket
    seen = []
    for i in range(len(LAGS)):
        key = "k%d" % i
        body = os.urandom(64 << 10) + bytes([i])
        vid = put_locked(s3, b, key, body, "GOVERNANCE", ahead(3600))

        def hold(key=key, vid=vid):
            return outcome(thread_client(server).put_object_legal_hold, Bucket=b, Key=key,
                           VersionId=vid, LegalHold={"Status": "ON"})

        def held(key=key, vid=vid):
            return s3.get_object_legal_hold(Bucket=b, Key=key, VersionId=vid)[
                "LegalHold"]["Status"] == "ON"
        deletes, change = _race(server, b, key, vid, True, hold, rounds=2, lag=LAGS[i])
        seen.append(_check_race(s3, b, key, vid, body, deletes, change, held))
    print("legal-hold race outcomes:", seen)


def test_race_bypass_deletes_vs_compliance(server, s3, lbucket):
    """As above, with GOVERNANCE -> COMPLIANCE (which bypass cannot pass)
    as the change."""
    b = lbucket
    seen = []
    for i in range(len(LAGS)):
        key = "k%d" % i
        body = os.urandom(64 << 10) + bytes([i])
        vid = put_locked(s3, b, key, body, "GOVERNANCE", ahead(3600))
        t2 = ahead(7200)

        def comply(key=key, vid=vid):
            return outcome(thread_client(server).put_object_retention, Bucket=b, Key=key,
                           VersionId=vid,
                           Retention={"Mode": "COMPLIANCE", "RetainUntilDate": t2})

        def compliant(key=key, vid=vid):
            return s3.get_object_retention(Bucket=b, Key=key, VersionId=vid)[
                "Retention"]["Mode"] == "COMPLIANCE"
        deletes, change = _race(server, b, key, vid, True, comply, rounds=2, lag=LAGS[i])
        seen.append(_check_race(s3, b, key, vid, body, deletes, change, compliant))
    print("compliance race outcomes:", seen)


_thread_clients = {}


def thread_client(server):
    """A boto3 client of this thread's own (the session's `s3` belongs to
    the main thread)."""
    k = (threading.get_ident(), server.endpoint)
    if k not in _thread_clients:
        _thread_clients[k] = make_client(server)
    return _thread_clients[k]


# ---- 4. the aws CLI ----

def _aws_exe():
    if os.path.exists("/usr/bin/aws"):
        return "/usr/bin/aws"
    return shutil.which("aws")


def test_aws_cli(server, s3, tmp_path):
    exe = _aws_exe()
    if not exe:
        pytest.skip("no aws CLI")
    cfg = tmp_path / "aws-config"
    cfg.write_text("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n"
                   "    signature_version = s3v4\n")
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("AWS_PROFILE", None)
    env.update(AWS_ACCESS_KEY_ID=server.access_key, AWS_SECRET_ACCESS_KEY=server.secret_key,
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(cfg),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
               AWS_PAGER="", AWS_MAX_ATTEMPTS="1", AWS_EC2_METADATA_DISABLED="true")

    def aws(*calls):
        """Runs the CLI calls [(ok, args...), ...] side by side (each start
        of the CLI costs seconds); their parsed JSON output (ok) or stderr."""
        procs = [subprocess.Popen([exe, "--endpoint-url", server.endpoint, "s3api"] +
                                  list(c[1:]), env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for c in calls]
        out = []
        for c, p in zip(calls, procs):
            so, se = p.communicate(timeout=120)
            if c[0]:
                assert p.returncode == 0, (c, p.returncode, so, se)
                out.append(json.loads(so) if so.strip() else {})
            else:
                assert p.returncode != 0, (c, so)
                out.append(se)
        return out

    # the bucket and objects come from boto3: "r" gets its retention and
    # "h" its hold from the CLI, "g" has a GOVERNANCE retention to bypass
    b = lock_bucket(s3)
    vr = s3.put_object(Bucket=b, Key="r", Body=b"r")["VersionId"]
    vh = put_locked(s3, b, "h", b"h", "GOVERNANCE")
    vg = put_locked(s3, b, "g", b"g", "GOVERNANCE")
    until = iso(ahead())
    aws((True, "put-object-retention", "--bucket", b, "--key", "r", "--version-id", vr,
         "--retention", json.dumps({"Mode": "GOVERNANCE", "RetainUntilDate": until})),
        (True, "put-object-legal-hold", "--bucket", b, "--key", "h", "--version-id", vh,
         "--legal-hold", "Status=ON"))
    assert s3.get_object_legal_hold(Bucket=b, Key="h", VersionId=vh)["LegalHold"] == {
        "Status": "ON"}
    assert s3.get_object_retention(Bucket=b, Key="r", VersionId=vr)["Retention"][
        "Mode"] == "GOVERNANCE"
    got, held, g_bypass = aws(
        (True, "get-object-retention", "--bucket", b, "--key", "r", "--version-id", vr),
        (False, "delete-object", "--bucket", b, "--key", "h", "--version-id", vh,
         "--bypass-governance-retention"),
        (True, "delete-object", "--bucket", b, "--key", "g", "--version-id", vg,
         "--bypass-governance-retention"))
    assert got["Retention"]["Mode"] == "GOVERNANCE", got
    assert got["Retention"]["RetainUntilDate"][:19] == until[:19], got
    assert "AccessDenied" in held, held
    assert outcome(s3.delete_object, Bucket=b, Key="r", VersionId=vr) == DENIED
    assert g_bypass["VersionId"] == vg, g_bypass
    assert read(s3, b, "h", vh) == b"h" and read(s3, b, "r", vr) == b"r"
    assert outcome(s3.get_object, Bucket=b, Key="g", VersionId=vg) == "404 NoSuchVersion"


# ---- 5. lifecycle ----

def test_lifecycle_keeps_locked_noncurrent_versions(start_server, tmp_path):
    srv = start_server(tmp_path, "--lifecycle-day-seconds", "1")
    s3 = make_client(srv)
    b = lock_bucket(s3)
    s3.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={"Rules": [
        {"ID": "nc", "Filter": {"Prefix": ""}, "Status": "Enabled",
         "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}]})
    v = {}
    v["gov"] = put_locked(s3, b, "k", b"gov", "GOVERNANCE", ahead(3600))
    v["free1"] = s3.put_object(Bucket=b, Key="k", Body=b"free1")["VersionId"]
    v["comp"] = put_locked(s3, b, "k", b"comp", "COMPLIANCE", ahead(3600))
    v["hold"] = put_locked(s3, b, "k", b"hold", mode=None, hold="ON")
    v["free2"] = s3.put_object(Bucket=b, Key="k", Body=b"free2")["VersionId"]
    v["cur"] = s3.put_object(Bucket=b, Key="k", Body=b"cur")["VersionId"]
    keep = {v["gov"], v["comp"], v["hold"], v["cur"]}

    deadline = time.monotonic() + 12
    while time.monotonic() < deadline:
        left = set(versions(s3, b, "k")[0])
        if left == keep:
            break
        assert keep <= left, ("a locked version was expired", sorted(keep - left))
        time.sleep(0.2)
    else:
        pytest.fail("unlocked noncurrent versions not expired: %r" % sorted(
            set(versions(s3, b, "k")[0]) - keep))
    time.sleep(1.5)  # more passes, more than a "day": the locked ones stay
    assert set(versions(s3, b, "k")[0]) == keep
    for name in ("gov", "comp", "hold", "cur"):
        assert read(s3, b, "k", v[name]) == name.encode()
    p = subprocess.run([cairn_bin(), "admin", "--endpoint", srv.endpoint, "status"],
                       capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, CAIRN_ROOT_USER=srv.access_key,
                                CAIRN_ROOT_PASSWORD=srv.secret_key))
    assert p.returncode == 0, p.stderr
    st = json.loads(p.stdout)["lifecycle"]
    assert st["failed"] == 0 and st["versions_expired"] >= 2, st
