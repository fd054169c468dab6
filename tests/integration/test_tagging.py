"""
Object and bucket tagging: Put/Get/DeleteObjectTagging (per version),
Put/Get/DeleteBucketTagging, x-amz-tagging on PutObject, CopyObject
(x-amz-tagging-directive) and CreateMultipartUpload, x-amz-tagging-count on
GET/HEAD, AWS's limits and errors, the aws CLI's s3api commands, and
s3:ExistingObjectTag conditions in policies.
"""
import json
import os
import subprocess
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import cairn_bin


def tagset(d):
    return [{"Key": k, "Value": v} for k, v in d.items()]


def as_dict(ts):
    return {t["Key"]: t["Value"] for t in ts}


def err(fn, **kw):
    with pytest.raises(ClientError) as e:
        fn(**kw)
    return e.value.response["Error"]["Code"], e.value.response["Error"].get("Message", "")


def test_put_with_header_get_count_and_replace(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="project=cairn&team=storage+io")
    assert as_dict(s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"]) == {
        "project": "cairn", "team": "storage io"}
    assert s3.head_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPHeaders"][
        "x-amz-tagging-count"] == "2"
    assert s3.get_object(Bucket=bucket, Key="k")["TagCount"] == 2
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tagset({"a": "1"})})
    assert as_dict(s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"]) == {"a": "1"}
    s3.delete_object_tagging(Bucket=bucket, Key="k")
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []
    h = s3.head_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPHeaders"]
    assert "x-amz-tagging-count" not in h
    # the data is untouched by all of it
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_tags_are_per_version(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"1", Tagging="gen=1")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"2", Tagging="gen=2")["VersionId"]
    r = s3.get_object_tagging(Bucket=bucket, Key="k", VersionId=v1)
    assert as_dict(r["TagSet"]) == {"gen": "1"} and r["VersionId"] == v1
    assert as_dict(s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"]) == {"gen": "2"}
    s3.put_object_tagging(Bucket=bucket, Key="k", VersionId=v1,
                          Tagging={"TagSet": tagset({"gen": "one"})})
    assert as_dict(s3.get_object_tagging(Bucket=bucket, Key="k", VersionId=v1)["TagSet"]) == {
        "gen": "one"}
    assert as_dict(s3.get_object_tagging(Bucket=bucket, Key="k", VersionId=v2)["TagSet"]) == {
        "gen": "2"}
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=v1)["Body"].read() == b"1"
    code, _ = err(s3.get_object_tagging, Bucket=bucket, Key="k",
                  VersionId="0" * 31 + "1")
    assert code in ("NoSuchVersion", "InvalidArgument"), code


@pytest.mark.parametrize("tags,code", [
    ({"k%d" % i: "v" for i in range(11)}, "BadRequest"),
    ({"bad#key": "v"}, "InvalidTag"),
    ({"k" * 129: "v"}, "InvalidTag"),
    ({"k": "v" * 257}, "InvalidTag"),
    ({"aws:reserved": "v"}, "InvalidTag"),
])
def test_limits(s3, bucket, tags, code):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="keep=me")
    c, _ = err(s3.put_object_tagging, Bucket=bucket, Key="k",
               Tagging={"TagSet": tagset(tags)})
    assert c == code
    # nothing changed
    assert as_dict(s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"]) == {"keep": "me"}
    # exactly at the limits is fine
    ok = {"k%d" % i: "v" for i in range(10)}
    ok["k0"] = "é" * 256
    ok["é" * 128] = ""
    del ok["k9"]
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tagset(ok)})
    assert as_dict(s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"]) == ok


def test_duplicate_key_and_bad_header(server, s3, bucket, raw_request):
    body = ("<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag>"
            "<Tag><Key>a</Key><Value>2</Value></Tag></TagSet></Tagging>").encode()
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    import base64
    import hashlib
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    r = raw_request(server, "PUT", "/%s/k" % bucket, query="tagging", body=body,
                    headers={"Content-MD5": md5})
    assert r.status == 400 and r.error_code() == "InvalidTag", r
    r = raw_request(server, "PUT", "/%s/k2" % bucket, body=b"x",
                    headers={"x-amz-tagging": "a=%zz"})
    assert r.status == 400 and r.error_code() == "InvalidArgument", r
    assert s3.list_objects_v2(Bucket=bucket, Prefix="k2").get("KeyCount", 0) == 0


def test_copy_and_multipart(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"data", Tagging="from=src")
    s3.copy_object(Bucket=bucket, Key="c1", CopySource={"Bucket": bucket, "Key": "src"})
    assert as_dict(s3.get_object_tagging(Bucket=bucket, Key="c1")["TagSet"]) == {"from": "src"}
    s3.copy_object(Bucket=bucket, Key="c2", CopySource={"Bucket": bucket, "Key": "src"},
                   TaggingDirective="REPLACE", Tagging="new=1")
    assert as_dict(s3.get_object_tagging(Bucket=bucket, Key="c2")["TagSet"]) == {"new": "1"}
    s3.copy_object(Bucket=bucket, Key="c3", CopySource={"Bucket": bucket, "Key": "src"},
                   TaggingDirective="REPLACE")
    assert s3.get_object_tagging(Bucket=bucket, Key="c3")["TagSet"] == []
    u = s3.create_multipart_upload(Bucket=bucket, Key="mp", Tagging="mp=yes")["UploadId"]
    p = s3.upload_part(Bucket=bucket, Key="mp", UploadId=u, PartNumber=1, Body=b"p" * 100)
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=u, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": p["ETag"]}]})
    assert as_dict(s3.get_object_tagging(Bucket=bucket, Key="mp")["TagSet"]) == {"mp": "yes"}


def test_bucket_tagging(s3, bucket):
    code, _ = err(s3.get_bucket_tagging, Bucket=bucket)
    assert code == "NoSuchTagSet"
    tags = {"k%d" % i: "v%d" % i for i in range(50)}
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tagset(tags)})
    assert as_dict(s3.get_bucket_tagging(Bucket=bucket)["TagSet"]) == tags
    tags["k50"] = "x"
    code, msg = err(s3.put_bucket_tagging, Bucket=bucket, Tagging={"TagSet": tagset(tags)})
    assert code == "BadRequest", (code, msg)
    s3.delete_bucket_tagging(Bucket=bucket)
    code, _ = err(s3.get_bucket_tagging, Bucket=bucket)
    assert code == "NoSuchTagSet"
    code, _ = err(s3.get_bucket_tagging, Bucket="no-such-" + bucket)
    assert code == "NoSuchBucket"


def test_aws_cli_s3api(server, bucket, tmp_path):
    aws = "/usr/bin/aws" if os.path.exists("/usr/bin/aws") else None
    if not aws:
        pytest.skip("no aws CLI")
    cfg = tmp_path / "cfg"
    cfg.write_text("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=server.access_key,
               AWS_SECRET_ACCESS_KEY=server.secret_key, AWS_CONFIG_FILE=str(cfg),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), AWS_PAGER="")
    env.pop("PYTHONPATH", None)

    def run(*args):
        p = subprocess.run([aws, "--endpoint-url", server.endpoint, "s3api"] + list(args),
                           env=env, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, (args, p.stdout, p.stderr)
        return json.loads(p.stdout) if p.stdout.strip() else None
    run("put-object", "--bucket", bucket, "--key", "cli", "--body", str(cfg))
    run("put-object-tagging", "--bucket", bucket, "--key", "cli", "--tagging",
        '{"TagSet":[{"Key":"via","Value":"cli"}]}')
    assert run("get-object-tagging", "--bucket", bucket, "--key", "cli")["TagSet"] == [
        {"Key": "via", "Value": "cli"}]
    run("put-bucket-tagging", "--bucket", bucket, "--tagging",
        '{"TagSet":[{"Key":"b","Value":"1"}]}')
    assert run("get-bucket-tagging", "--bucket", bucket)["TagSet"] == [
        {"Key": "b", "Value": "1"}]


def test_existing_object_tag_condition(server, s3, bucket):
    """A user may read only objects tagged classification=public; a Deny on
    a tag holds even though the request carries no tags itself."""
    env = dict(os.environ, CAIRN_ROOT_USER=server.access_key,
               CAIRN_ROOT_PASSWORD=server.secret_key)

    def admin(*a):
        p = subprocess.run([cairn_bin(), "admin", "--endpoint", server.endpoint] + list(a),
                           capture_output=True, text=True, env=env, timeout=30)
        assert p.returncode == 0, p.stdout + p.stderr
        return p.stdout
    name = "tagreader-" + uuid.uuid4().hex[:6]
    u = json.loads(admin("user", "add", name))
    pol = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectTagging"],
         "Resource": "arn:aws:s3:::%s/*" % bucket,
         "Condition": {"StringEquals": {"s3:ExistingObjectTag/classification": "public"}}},
        {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::%s/*" % bucket,
         "Condition": {"StringEquals": {"s3:ExistingObjectTag/hold": "yes"}}},
        # a negated condition is decided on the object's tags too (before they
        # were read, an absent tag made this Deny hold for every object)
        {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::%s/*" % bucket,
         "Condition": {"StringNotEquals": {"s3:ExistingObjectTag/classification": "public"}}}]}
    f = os.path.join(os.path.dirname(server.data_dir), "pol-%s.json" % name)
    with open(f, "w") as fh:
        json.dump(pol, fh)
    admin("policy", "add", name, f)
    admin("policy", "attach", name, name)
    uc = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                      aws_access_key_id=u["access_key"], aws_secret_access_key=u["secret_key"],
                      config=Config(s3={"addressing_style": "path"},
                                    retries={"max_attempts": 1}))
    s3.put_object(Bucket=bucket, Key="pub", Body=b"p", Tagging="classification=public")
    s3.put_object(Bucket=bucket, Key="priv", Body=b"s", Tagging="classification=secret")
    s3.put_object(Bucket=bucket, Key="held", Body=b"h",
                  Tagging="classification=public&hold=yes")
    s3.put_object(Bucket=bucket, Key="none", Body=b"n")
    assert uc.get_object(Bucket=bucket, Key="pub")["Body"].read() == b"p"
    assert as_dict(uc.get_object_tagging(Bucket=bucket, Key="pub")["TagSet"]) == {
        "classification": "public"}
    for k in ("priv", "held", "none"):
        code, _ = err(uc.get_object, Bucket=bucket, Key=k)
        assert code == "AccessDenied", k
    # retagging the object changes the answer on the next request
    s3.put_object_tagging(Bucket=bucket, Key="priv",
                          Tagging={"TagSet": tagset({"classification": "public"})})
    assert uc.get_object(Bucket=bucket, Key="priv")["Body"].read() == b"s"
    admin("policy", "detach", name, name)
    admin("user", "remove", name)
    admin("policy", "remove", name)
