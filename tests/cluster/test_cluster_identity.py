"""Identity in a cluster: users, keys and policies are replicated metadata,
and a change made through one node holds on every node from the very next
request (each request passes the read barrier before it is authorized).

    /usr/bin/python3 -m pytest -q tests/cluster/test_cluster_identity.py
"""
import json
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError


def user_client(node, ak, sk):
    return boto3.client("s3", endpoint_url=node.endpoint, region_name="us-east-1",
                        aws_access_key_id=ak, aws_secret_access_key=sk,
                        config=Config(s3={"addressing_style": "path"},
                                      retries={"max_attempts": 0}, connect_timeout=3,
                                      read_timeout=10))


def code(e):
    return e.response["Error"]["Code"]


def test_identity_changes_hold_on_every_node_at_once(cluster_factory):
    c = cluster_factory(3)
    n1, n2, n3 = c.slots[:3]
    bucket = "id-" + uuid.uuid4().hex[:12]
    c.client(n1).create_bucket(Bucket=bucket)
    rc, out = c.admin(n1, "user", "add", "carol")
    assert rc == 0, out
    u = json.loads(out)
    ak, sk = u["access_key"], u["secret_key"]
    # created through n1, known to n3 at once; no policy yet: denied
    with pytest.raises(ClientError) as e:
        user_client(n3, ak, sk).put_object(Bucket=bucket, Key="k", Body=b"1")
    assert code(e.value) == "AccessDenied"
    rc, out = c.admin(n2, "policy", "attach", "carol", "readwrite")
    assert rc == 0, out
    for n in (n1, n2, n3):
        user_client(n, ak, sk).put_object(Bucket=bucket, Key="k-" + n.name, Body=b"1")
    # a key disabled through n1 is refused by n2 and n3 on the next request
    for rounds in range(5):
        rc, out = c.admin(n1, "user", "key", "disable", "carol", ak)
        assert rc == 0, out
        for n in (n2, n3):
            with pytest.raises(ClientError) as e:
                user_client(n, ak, sk).get_object(Bucket=bucket, Key="k-n1")
            assert code(e.value) == "InvalidAccessKeyId", (rounds, n.name)
        rc, out = c.admin(n3, "user", "key", "enable", "carol", ak)
        assert rc == 0, out
        assert user_client(n2, ak, sk).get_object(Bucket=bucket, Key="k-n1")["Body"].read() == b"1"
    # a bucket policy deny put through n2 binds n1 at once
    c.client(n2).put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:GetObject",
                       "Resource": "arn:aws:s3:::%s/*" % bucket,
                       "Condition": {"StringEquals": {"aws:username": "carol"}}}]}))
    with pytest.raises(ClientError) as e:
        user_client(n1, ak, sk).get_object(Bucket=bucket, Key="k-n1")
    assert code(e.value) == "AccessDenied"
    # the root user is not bound by it
    assert c.client(n3).get_object(Bucket=bucket, Key="k-n1")["Body"].read() == b"1"
    # removing the user removes its keys everywhere
    rc, out = c.admin(n3, "user", "remove", "carol")
    assert rc == 0, out
    with pytest.raises(ClientError) as e:
        user_client(n1, ak, sk).list_objects_v2(Bucket=bucket)
    assert code(e.value) == "InvalidAccessKeyId"
    # and a user list through any node agrees
    for n in (n1, n2, n3):
        rc, out = c.admin(n, "user", "list")
        assert rc == 0 and json.loads(out)["users"] == [], out
