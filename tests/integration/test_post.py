"""
POST Object: browser-based uploads with an HTML form (multipart/form-data),
signed with a POST policy (SigV4 and SigV2, made by boto3's
generate_presigned_post) or anonymous under the bucket's own rules.

The form is built the way a browser sends it (fields first, the file last,
a WebKit-style boundary) and sent with http.client, so nothing but the
standard library and boto3 is needed. Every policy condition is violated
once; a refused upload leaves no object.
"""
import base64
import datetime
import hashlib
import hmac
import http.client
import json
import os
import subprocess
import urllib.parse

import pytest
from botocore.config import Config

from conftest import cairn_bin, make_client

BOUNDARY = "----WebKitFormBoundary7MA4YWxkTrZu0gW"


def form_body(fields, filename="hello.txt", data=b"hello world", file_type="text/plain",
              with_file=True, after=None):
    """fields: list of (name, value) in order; the file part last."""
    out = []
    for name, value in fields:
        out.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
                    % (BOUNDARY, name, value)).encode())
    if with_file:
        out.append(("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
                    "Content-Type: %s\r\n\r\n" % (BOUNDARY, filename, file_type)).encode())
        out.append(data)
        out.append(b"\r\n")
    for name, value in after or []:
        out.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
                    % (BOUNDARY, name, value)).encode())
    out.append(("--%s--\r\n" % BOUNDARY).encode())
    return b"".join(out)


class Resp:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def code(self):
        import re
        m = re.search(rb"<Code>([^<]*)</Code>", self.body)
        return m.group(1).decode() if m else None

    def message(self):
        import re
        m = re.search(rb"<Message>([^<]*)</Message>", self.body)
        return m.group(1).decode() if m else None

    def __repr__(self):
        return "Resp(%d, %r)" % (self.status, self.body[:400])


def post(server, bucket, body, content_type=None):
    c = http.client.HTTPConnection(server.host, server.port, timeout=30)
    c.request("POST", "/" + bucket, body=body, headers={
        "Content-Type": content_type or "multipart/form-data; boundary=" + BOUNDARY,
        "User-Agent": "Mozilla/5.0 (test)"})
    r = c.getresponse()
    resp = Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    c.close()
    return resp


def presigned(server, bucket, key, fields=None, conditions=None, expires=300, v2=False):
    cl = make_client(server, signature_version="s3" if v2 else "s3v4")
    p = cl.generate_presigned_post(bucket, key, Fields=fields or {},
                                   Conditions=conditions or [], ExpiresIn=expires)
    return list(p["fields"].items())


def test_sigv4_form_upload_201_and_attributes(server, s3, bucket):
    fields = presigned(server, bucket, "up/${filename}",
                       fields={"Content-Type": "text/plain", "success_action_status": "201",
                               "x-amz-meta-origin": "form"},
                       conditions=[{"Content-Type": "text/plain"},
                                   ["starts-with", "$key", "up/"],
                                   {"success_action_status": "201"},
                                   {"x-amz-meta-origin": "form"},
                                   ["content-length-range", 1, 1000]])
    assert any(n == "x-amz-signature" for n, _ in fields), fields
    r = post(server, bucket, form_body(fields, filename="hello.txt"))
    assert r.status == 201, r
    assert b"<Key>up/hello.txt</Key>" in r.body and b"<Bucket>%s</Bucket>" % bucket.encode() in r.body
    etag = '"%s"' % hashlib.md5(b"hello world").hexdigest()
    assert r.headers["etag"] == etag
    o = s3.get_object(Bucket=bucket, Key="up/hello.txt")
    assert o["Body"].read() == b"hello world"
    assert o["ContentType"] == "text/plain"
    assert o["Metadata"] == {"origin": "form"}
    assert o["ETag"] == etag
    # S3's default checksum, of the file (not of the form)
    got = {}
    s3.meta.events.register("after-call.s3.HeadObject", lambda http_response, **_: got.update(
        {k.lower(): v for k, v in http_response.headers.items()}), unique_id="post-ck")
    s3.meta.events.register("before-sign.s3.HeadObject", lambda request, **_: request.headers.
                            __setitem__("x-amz-checksum-mode", "ENABLED"), unique_id="post-ckm")
    try:
        s3.head_object(Bucket=bucket, Key="up/hello.txt")
    finally:
        s3.meta.events.unregister("after-call.s3.HeadObject", unique_id="post-ck")
        s3.meta.events.unregister("before-sign.s3.HeadObject", unique_id="post-ckm")
    assert got.get("x-amz-checksum-crc64nvme") == "jSnVw/bqjr4=", got  # CRC64NVME("hello world")


def test_sigv2_form_and_default_204(server, s3, bucket):
    fields = presigned(server, bucket, "v2/obj", v2=True)
    assert any(n == "signature" for n, _ in fields), fields
    r = post(server, bucket, form_body(fields, data=b"v2 data"))
    assert r.status == 204 and r.body == b"", r
    assert r.headers.get("location") == "http://%s:%d/%s/v2%%2Fobj" % (
        server.host, server.port, bucket), r.headers
    assert s3.get_object(Bucket=bucket, Key="v2/obj")["Body"].read() == b"v2 data"


def test_success_action_redirect_and_200(server, s3, bucket):
    fields = presigned(server, bucket, "r/obj",
                       fields={"success_action_redirect": "http://example.test/done?x=1"},
                       conditions=[{"success_action_redirect": "http://example.test/done?x=1"}])
    r = post(server, bucket, form_body(fields))
    assert r.status == 303, r
    loc = urllib.parse.urlparse(r.headers["location"])
    q = urllib.parse.parse_qs(loc.query)
    assert loc.netloc == "example.test" and q["x"] == ["1"]
    assert q["bucket"] == [bucket] and q["key"] == ["r/obj"]
    assert q["etag"] == ['"%s"' % hashlib.md5(b"hello world").hexdigest()]
    fields = presigned(server, bucket, "r/two", fields={"success_action_status": "200"},
                       conditions=[{"success_action_status": "200"}])
    r = post(server, bucket, form_body(fields))
    assert r.status == 200 and r.body == b"", r


def test_location_of_any_key(server, s3, bucket):
    """Location is the object's absolute URL with the key percent-encoded:
    a key with a control character was stored and then answered 500 (the
    raw key could not go in a header), a non-ASCII key went out raw."""
    for key, status in (("a b/\u00fc\x01.txt", "201"), ("cr\r\nX-Injected: 1", "204"),
                        ("plain/k~_.-", "204")):
        fields = presigned(server, bucket, key, fields={"success_action_status": status},
                           conditions=[{"success_action_status": status}])
        r = post(server, bucket, form_body(fields, data=b"any key"))
        assert r.status == int(status), (key, r)
        want = "http://%s:%d/%s/%s" % (server.host, server.port, bucket,
                                        urllib.parse.quote(key.encode(), safe="-_.~"))
        assert r.headers["location"] == want and "x-injected" not in r.headers, r.headers
        if status == "201":
            assert ("<Location>%s</Location>" % want).encode() in r.body, r.body
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"any key"


def test_filename_in_every_field(server, s3, bucket):
    """${filename} is replaced in every form field, not only in key."""
    fields = presigned(server, bucket, "fn/${filename}",
                       fields={"Content-Disposition": 'attachment; filename="${filename}"',
                               "x-amz-meta-orig": "${filename}",
                               "success_action_redirect": "http://example.test/ok?f=${filename}"},
                       conditions=[["starts-with", "$Content-Disposition", "attachment"],
                                   ["starts-with", "$x-amz-meta-orig", ""],
                                   ["starts-with", "$success_action_redirect",
                                    "http://example.test/"],
                                   ["starts-with", "$key", "fn/"]])
    r = post(server, bucket, form_body(fields, filename="C:\\docs\\report.pdf"))
    assert r.status == 303, r
    q = urllib.parse.parse_qs(urllib.parse.urlparse(r.headers["location"]).query)
    assert q["f"] == ["report.pdf"] and q["key"] == ["fn/report.pdf"], q
    o = s3.head_object(Bucket=bucket, Key="fn/report.pdf")
    assert o["ContentDisposition"] == 'attachment; filename="report.pdf"'
    assert o["Metadata"] == {"orig": "report.pdf"}


def test_tagging_field(server, s3, bucket):
    """The tagging field holds a Tagging XML document (S3's POST Object
    form fields); a bad one is refused and stores nothing."""
    doc = ("<Tagging><TagSet><Tag><Key>team</Key><Value>blue</Value></Tag>"
           "<Tag><Key>tier</Key><Value>hot</Value></Tag></TagSet></Tagging>")
    fields = presigned(server, bucket, "tg/ok", fields={"tagging": doc},
                       conditions=[{"tagging": doc}])
    r = post(server, bucket, form_body(fields))
    assert r.status == 204, r
    assert s3.get_object_tagging(Bucket=bucket, Key="tg/ok")["TagSet"] == [
        {"Key": "team", "Value": "blue"}, {"Key": "tier", "Value": "hot"}]
    assert s3.head_object(Bucket=bucket, Key="tg/ok")["ResponseMetadata"][
        "HTTPHeaders"]["x-amz-tagging-count"] == "2"
    for bad, code in (("<Tagging><TagSet><Tag><Key>a</Key></Tag></TagSet></Tagging>",
                       "MalformedXML"),
                      ("<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag>"
                       "<Tag><Key>a</Key><Value>2</Value></Tag></TagSet></Tagging>", "InvalidTag")):
        fields = presigned(server, bucket, "tg/bad", fields={"tagging": bad},
                           conditions=[{"tagging": bad}])
        r = post(server, bucket, form_body(fields))
        assert (r.status, r.code()) == (400, code), r
        assert _absent(s3, bucket, "tg/bad")


def test_large_file_streams(server, s3, bucket):
    data = os.urandom(12 << 20) + b"\r\n--" + BOUNDARY.encode()[:10] + b"tail"
    fields = presigned(server, bucket, "big")
    r = post(server, bucket, form_body(fields, data=data))
    assert r.status == 204, r
    got = s3.get_object(Bucket=bucket, Key="big")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()


def sign_v4(server, policy, when=None):
    """The SigV4 fields of a form whose policy (base64) is `policy`."""
    now = when or datetime.datetime.utcnow()
    date = now.strftime("%Y%m%d")
    cred = "%s/%s/us-east-1/s3/aws4_request" % (server.access_key, date)

    def h(k, m):
        return hmac.new(k, m.encode(), hashlib.sha256).digest()
    k = h(h(h(h(("AWS4" + server.secret_key).encode(), date), "us-east-1"), "s3"),
          "aws4_request")
    return {"x-amz-algorithm": "AWS4-HMAC-SHA256", "x-amz-credential": cred,
            "x-amz-date": now.strftime("%Y%m%dT%H%M%SZ"), "policy": policy,
            "x-amz-signature": hmac.new(k, policy.encode(), hashlib.sha256).hexdigest()}


def _absent(s3, bucket, key):
    r = s3.list_objects_v2(Bucket=bucket, Prefix=key)
    return r.get("KeyCount", 0) == 0


@pytest.mark.parametrize("case", [
    "eq", "starts-with", "extra-field", "missing-field", "too-small", "too-large", "expired",
    "bad-signature", "bad-policy", "no-key", "no-file", "not-multipart", "malformed",
    "truncated"])
def test_refusals_leave_nothing(server, s3, bucket, case):
    key = "refused/" + case
    conds = [["starts-with", "$key", "refused/"], {"Content-Type": "text/plain"},
             ["content-length-range", 5, 20]]
    fields = presigned(server, bucket, key, fields={"Content-Type": "text/plain"},
                       conditions=conds, expires=-10 if case == "expired" else 300)
    f = dict(fields)
    data = b"hello world"
    body = None
    ctype = None
    want = (403, "AccessDenied")
    if case == "eq":
        f["Content-Type"] = "image/png"
    elif case == "starts-with":
        f["key"] = "elsewhere/x"
        key = "elsewhere/x"
    elif case == "extra-field":
        f["x-amz-meta-extra"] = "1"
    elif case == "missing-field":
        del f["Content-Type"]
    elif case == "too-small":
        data = b"abc"
        want = (400, "EntityTooSmall")
    elif case == "too-large":
        data = b"x" * 21
        want = (400, "EntityTooLarge")
    elif case == "expired":
        pass
    elif case == "bad-signature":
        f["x-amz-signature"] = "0" * 64
        want = (403, "SignatureDoesNotMatch")
    elif case == "bad-policy":
        # well signed, but not a policy
        bad = base64.b64encode(b'{"expiration": "nope", "conditions": []}').decode()
        f.update(sign_v4(server, bad))
        want = (400, "InvalidPolicyDocument")
    elif case == "no-key":
        del f["key"]
        want = (400, "InvalidArgument")
    elif case == "no-file":
        body = form_body(list(f.items()), with_file=False)
        want = (400, "IncorrectNumberOfFilesInPostRequest")
    elif case == "not-multipart":
        body = urllib.parse.urlencode(f).encode()
        ctype = "application/x-www-form-urlencoded"
        want = (412, "PreconditionFailed")
    elif case == "malformed":
        body = b"--" + BOUNDARY.encode() + b"\r\nno-colon-header\r\n\r\nx\r\n--" + \
            BOUNDARY.encode() + b"--\r\n"
        want = (400, "MalformedPOSTRequest")
    elif case == "truncated":
        body = form_body(list(f.items()), data=b"hello world")[:-40]
        want = (400, None)
    if body is None:
        body = form_body(list(f.items()), data=data)
    r = post(server, bucket, body, content_type=ctype)
    assert r.status == want[0], (case, r)
    if want[1]:
        assert r.code() == want[1], (case, r)
    if case == "expired":
        assert "expired" in (r.message() or ""), r
    if case in ("eq", "starts-with", "extra-field", "missing-field"):
        assert (r.message() or "").startswith("Invalid according to Policy"), r
    assert _absent(s3, bucket, key), case
    assert _absent(s3, bucket, "refused/"), case


def _admin(server, *args):
    env = dict(os.environ, CAIRN_ROOT_USER=server.access_key,
               CAIRN_ROOT_PASSWORD=server.secret_key)
    out = subprocess.run([cairn_bin(), "admin", "--endpoint", server.endpoint] + list(args),
                         capture_output=True, text=True, env=env, timeout=30)
    return out.returncode, out.stdout + out.stderr


def test_anonymous_form_follows_bucket_rules(server, s3, bucket):
    body = form_body([("key", "anon/${filename}")], filename="a.txt", data=b"anon")
    r = post(server, bucket, body)
    assert r.status == 403 and r.code() == "AccessDenied", r
    assert _absent(s3, bucket, "anon/")
    s3.delete_public_access_block(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject",
                       "Resource": "arn:aws:s3:::%s/anon/*" % bucket}]}))
    r = post(server, bucket, body)
    assert r.status == 204, r
    assert s3.get_object(Bucket=bucket, Key="anon/a.txt")["Body"].read() == b"anon"
    # the policy's resource is anon/*: elsewhere stays closed
    r = post(server, bucket, form_body([("key", "other")], data=b"x"))
    assert r.status == 403, r


def test_form_signed_by_a_user_is_authorized_as_that_user(server, s3, bucket):
    rc, out = _admin(server, "user", "add", "poster")
    assert rc == 0, out
    u = json.loads(out)
    import boto3
    uc = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                      aws_access_key_id=u["access_key"], aws_secret_access_key=u["secret_key"],
                      config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    p = uc.generate_presigned_post(bucket, "byuser", ExpiresIn=300)
    r = post(server, bucket, form_body(list(p["fields"].items())))
    assert r.status == 403 and r.code() == "AccessDenied", r
    rc, out = _admin(server, "policy", "attach", "poster", "writeonly")
    assert rc == 0, out
    r = post(server, bucket, form_body(list(p["fields"].items())))
    assert r.status == 204, r
    # a disabled key signs nothing
    rc, out = _admin(server, "user", "key", "disable", "poster", u["access_key"])
    assert rc == 0, out
    r = post(server, bucket, form_body(list(p["fields"].items())))
    assert r.status == 403 and r.code() == "InvalidAccessKeyId", r
    _admin(server, "user", "remove", "poster")


def test_manual_v4_form_with_fields_after_the_file_ignored(server, s3, bucket):
    """A form built by hand (as a web page's JavaScript would), with a field
    after the file that S3 ignores."""
    now = datetime.datetime.utcnow()
    date = now.strftime("%Y%m%d")
    amz = now.strftime("%Y%m%dT%H%M%SZ")
    cred = "%s/%s/us-east-1/s3/aws4_request" % (server.access_key, date)
    policy = base64.b64encode(json.dumps({
        "expiration": (now + datetime.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "conditions": [{"bucket": bucket}, ["starts-with", "$key", "m/"],
                       {"x-amz-algorithm": "AWS4-HMAC-SHA256"}, {"x-amz-credential": cred},
                       {"x-amz-date": amz}]}).encode()).decode()
    fields = [("key", "m/${filename}")] + list(sign_v4(server, policy, now).items())
    r = post(server, bucket, form_body(fields, filename="C:\\Users\\me\\pic.jpg",
                                       after=[("ignored", "after the file")]))
    assert r.status == 204, r
    assert s3.get_object(Bucket=bucket, Key="m/pic.jpg")["Body"].read() == b"hello world"
    # the same form for another bucket: the policy names this one
    s3.create_bucket(Bucket=bucket + "-b")
    r = post(server, bucket + "-b", form_body(fields))
    assert r.status == 403, r
