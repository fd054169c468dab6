"""
Bucket lifecycle: Put/Get/DeleteBucketLifecycleConfiguration (boto3 and the
aws CLI), x-amz-expiration on PUT/HEAD, and the worker end to end with a
shortened day (--lifecycle-day-seconds): current versions, noncurrent
versions, expired delete markers and stale multipart uploads go on
schedule, nothing else does, and the worker resumes after kill -9.
"""
import json
import os
import subprocess
import time

import pytest
from botocore.exceptions import ClientError

from conftest import cairn_bin, make_client

DAY = 2  # seconds


def wait_for(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.25)
    raise AssertionError("timed out waiting for " + what)


def keys(s3, bucket, prefix=""):
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
                  .get("Contents", []))


def test_configuration_round_trip_and_errors(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert e.value.response["Error"]["Code"] == "NoSuchLifecycleConfiguration"
    rules = [{"ID": "logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled",
              "Expiration": {"Days": 30}},
             {"ID": "tmp", "Filter": {"And": {"Prefix": "tmp/", "Tags": [
                 {"Key": "k", "Value": "v"}], "ObjectSizeGreaterThan": 10}},
              "Status": "Disabled", "NoncurrentVersionExpiration": {"NoncurrentDays": 3}},
             {"ID": "mpu", "Filter": {"Prefix": "up/"}, "Status": "Enabled",
              "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}}]
    s3.put_bucket_lifecycle_configuration(Bucket=bucket,
                                          LifecycleConfiguration={"Rules": rules})
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert got[0]["ID"] == "logs" and got[0]["Expiration"] == {"Days": 30}
    assert got[0]["Filter"] == {"Prefix": "logs/"}
    assert got[1]["Status"] == "Disabled"
    assert got[1]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 3
    for bad in ({"ID": "x", "Filter": {"Prefix": ""}, "Status": "Enabled",
                 "Expiration": {"Days": 0}},
                {"ID": "x", "Filter": {"Prefix": ""}, "Status": "Enabled",
                 "Transitions": [{"Days": 1, "StorageClass": "GLACIER"}]},
                {"ID": "x", "Filter": {"Prefix": ""}, "Status": "Enabled"}):
        with pytest.raises(ClientError) as e:
            s3.put_bucket_lifecycle_configuration(Bucket=bucket,
                                                  LifecycleConfiguration={"Rules": [bad]})
        assert e.value.response["Error"]["Code"] in (
            "InvalidArgument", "InvalidRequest", "MalformedXML"), bad
    # the refused ones changed nothing
    assert len(s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]) == 3
    s3.delete_bucket_lifecycle(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert e.value.response["Error"]["Code"] == "NoSuchLifecycleConfiguration"


def test_expiration_header(s3, bucket):
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        {"ID": "old-logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled",
         "Expiration": {"Days": 7}}]})
    r = s3.put_object(Bucket=bucket, Key="logs/a", Body=b"x")
    assert 'rule-id="old-logs"' in r["Expiration"], r
    h = s3.head_object(Bucket=bucket, Key="logs/a")
    assert 'rule-id="old-logs"' in h["Expiration"] and "expiry-date=" in h["Expiration"]
    assert "Expiration" not in s3.put_object(Bucket=bucket, Key="other", Body=b"y")
    assert "Expiration" not in s3.head_object(Bucket=bucket, Key="other")
    # CopyObject and CompleteMultipartUpload answer it too (API reference)
    r = s3.copy_object(Bucket=bucket, Key="logs/copy", CopySource="%s/other" % bucket)
    assert 'rule-id="old-logs"' in r.get("Expiration", ""), r
    assert "Expiration" not in s3.copy_object(Bucket=bucket, Key="other2",
                                              CopySource="%s/logs/a" % bucket)
    up = s3.create_multipart_upload(Bucket=bucket, Key="logs/mp")["UploadId"]
    p = s3.upload_part(Bucket=bucket, Key="logs/mp", UploadId=up, PartNumber=1, Body=b"z")
    r = s3.complete_multipart_upload(Bucket=bucket, Key="logs/mp", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": p["ETag"]}]})
    assert 'rule-id="old-logs"' in r.get("Expiration", ""), r
    # the rule id is URL-encoded (S3: "The value of the rule-id is URL-encoded")
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        {"ID": "my rule/\u00e9", "Filter": {"Prefix": "logs/"}, "Status": "Enabled",
         "Expiration": {"Days": 7}}]})
    h = s3.head_object(Bucket=bucket, Key="logs/a")
    assert 'rule-id="my%20rule%2F%C3%A9"' in h["Expiration"], h["Expiration"]


def test_abort_date_headers(s3, bucket):
    """CreateMultipartUpload and ListParts name the AbortIncompleteMultipartUpload
    rule that will abort the upload, and when (x-amz-abort-date/-rule-id)."""
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        {"ID": "abort-up", "Filter": {"Prefix": "up/"}, "Status": "Enabled",
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}]})
    up = s3.create_multipart_upload(Bucket=bucket, Key="up/x")
    assert up["AbortRuleId"] == "abort-up" and up["AbortDate"], up
    lp = s3.list_parts(Bucket=bucket, Key="up/x", UploadId=up["UploadId"])
    assert lp["AbortRuleId"] == "abort-up" and lp["AbortDate"] == up["AbortDate"], lp
    import datetime
    days = (up["AbortDate"] - datetime.datetime.now(datetime.timezone.utc)).days
    assert 6 <= days <= 8, up["AbortDate"]
    other = s3.create_multipart_upload(Bucket=bucket, Key="elsewhere")
    assert "AbortDate" not in other and "AbortRuleId" not in other
    assert "AbortDate" not in s3.list_parts(Bucket=bucket, Key="elsewhere",
                                            UploadId=other["UploadId"])


def test_aws_cli(server, bucket, tmp_path):
    if not os.path.exists("/usr/bin/aws"):
        pytest.skip("no aws CLI")
    cfg = tmp_path / "cfg"
    cfg.write_text("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=server.access_key,
               AWS_SECRET_ACCESS_KEY=server.secret_key, AWS_CONFIG_FILE=str(cfg),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), AWS_PAGER="")
    env.pop("PYTHONPATH", None)
    conf = {"Rules": [{"ID": "cli", "Filter": {"Prefix": "c/"}, "Status": "Enabled",
                       "Expiration": {"Days": 5}}]}
    p = subprocess.run(["/usr/bin/aws", "--endpoint-url", server.endpoint, "s3api",
                        "put-bucket-lifecycle-configuration", "--bucket", bucket,
                        "--lifecycle-configuration", json.dumps(conf)],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    p = subprocess.run(["/usr/bin/aws", "--endpoint-url", server.endpoint, "s3api",
                        "get-bucket-lifecycle-configuration", "--bucket", bucket],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and json.loads(p.stdout)["Rules"][0]["ID"] == "cli", p.stderr


def _admin_status(srv):
    env = dict(os.environ, CAIRN_ROOT_USER=srv.access_key, CAIRN_ROOT_PASSWORD=srv.secret_key)
    p = subprocess.run([cairn_bin(), "admin", "--endpoint", srv.endpoint, "status"],
                       capture_output=True, text=True, env=env, timeout=30)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_worker_applies_rules_on_schedule(start_server, tmp_path):
    srv = start_server(tmp_path, "--lifecycle-day-seconds", str(DAY))
    s3 = make_client(srv)
    s3.create_bucket(Bucket="plain")
    s3.create_bucket(Bucket="vers")
    s3.put_bucket_versioning(Bucket="vers", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_lifecycle_configuration(Bucket="plain", LifecycleConfiguration={"Rules": [
        {"ID": "logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled",
         "Expiration": {"Days": 1}},
        {"ID": "tagged", "Filter": {"Tag": {"Key": "ttl", "Value": "short"}},
         "Status": "Enabled", "Expiration": {"Days": 1}},
        {"ID": "mpu", "Filter": {"Prefix": ""}, "Status": "Enabled",
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
        {"ID": "off", "Filter": {"Prefix": "keep/"}, "Status": "Disabled",
         "Expiration": {"Days": 1}}]})
    s3.put_bucket_lifecycle_configuration(Bucket="vers", LifecycleConfiguration={"Rules": [
        {"ID": "cur", "Filter": {"Prefix": "v/"}, "Status": "Enabled",
         "Expiration": {"Days": 1}, "NoncurrentVersionExpiration": {"NoncurrentDays": 1}},
        {"ID": "markers", "Filter": {"Prefix": "v/"}, "Status": "Enabled",
         "Expiration": {"ExpiredObjectDeleteMarker": True}}]})
    for k in ("logs/a", "logs/b", "keep/c", "other"):
        s3.put_object(Bucket="plain", Key=k, Body=b"x")
    s3.put_object(Bucket="plain", Key="t/short", Body=b"x", Tagging="ttl=short")
    s3.put_object(Bucket="plain", Key="t/long", Body=b"x", Tagging="ttl=long")
    up = s3.create_multipart_upload(Bucket="plain", Key="big")["UploadId"]
    s3.put_object(Bucket="vers", Key="v/k", Body=b"1")
    s3.put_object(Bucket="vers", Key="v/k", Body=b"2")
    s3.put_object(Bucket="vers", Key="w/k", Body=b"stays")
    # due within two "days" (rounded to the next day boundary)
    wait_for(lambda: keys(s3, "plain") == ["keep/c", "other", "t/long"], 6 * DAY + 10,
             "plain bucket expiry")
    # the same pass aborts the upload just after the bucket's keys (per
    # bucket, versions then uploads: seen between the two under ASan)
    wait_for(lambda: s3.list_multipart_uploads(Bucket="plain").get("Uploads", []) == [],
             2 * DAY + 10, "stale upload %s aborted" % up)
    # versioned: the current version gets a marker, the noncurrent ones go,
    # then the lone marker goes too: nothing left of v/k at all
    def vers_empty():
        r = s3.list_object_versions(Bucket="vers", Prefix="v/")
        return not r.get("Versions") and not r.get("DeleteMarkers")
    wait_for(vers_empty, 8 * DAY + 15, "versioned expiry")
    assert keys(s3, "vers") == ["w/k"]
    assert s3.get_object(Bucket="vers", Key="w/k")["Body"].read() == b"stays"
    st = _admin_status(srv)["lifecycle"]
    assert st["passes"] >= 1 and st["objects_expired"] >= 4, st
    assert st["uploads_aborted"] == 1 and st["delete_markers_removed"] >= 1, st
    assert st["failed"] == 0, st
    # kill -9, restart: what becomes due later is still applied
    s3.put_object(Bucket="plain", Key="logs/late", Body=b"x")
    srv.kill()
    srv2 = start_server(tmp_path, "--lifecycle-day-seconds", str(DAY), data_dir=srv.data_dir)
    s3b = make_client(srv2)
    wait_for(lambda: "logs/late" not in keys(s3b, "plain"), 6 * DAY + 10, "expiry after restart")
    assert keys(s3b, "plain") == ["keep/c", "other", "t/long"]
