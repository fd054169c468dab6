"""Server-side encryption in a cluster: every node has the same master key
(CAIRN_KMS_MASTER_KEY), so an object sealed through one node opens through
any other, named KMS keys are replicated metadata, and an encrypted object
whose shards span the nodes still reads with a node down.

    /usr/bin/python3 -m pytest -q tests/cluster/test_cluster_sse.py
"""
import base64
import hashlib
import json
import os
import uuid

import pytest
from botocore.exceptions import ClientError


def test_encrypted_objects_across_nodes(cluster_factory, monkeypatch):
    monkeypatch.setenv("CAIRN_KMS_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    c = cluster_factory(3, extra_args=["--allow-insecure-ssec"])
    n1, n2, n3 = c.slots[:3]
    b = "sse-" + uuid.uuid4().hex[:10]
    c.client(n1).create_bucket(Bucket=b)
    big = os.urandom(3 * 1024 * 1024 + 17)
    c.client(n1).put_object(Bucket=b, Key="s3", Body=big, ServerSideEncryption="AES256")
    rc, out = c.admin(n1, "kms", "key", "add", "team")
    assert rc == 0, out
    # the key made through n1 is known to n3 at once
    c.client(n3).put_object(Bucket=b, Key="kms", Body=big[:70000], ServerSideEncryption="aws:kms",
                            SSEKMSKeyId="team")
    key = os.urandom(32)
    ssec = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": base64.b64encode(key).decode(),
            "SSECustomerKeyMD5": base64.b64encode(hashlib.md5(key).digest()).decode()}
    c.client(n2).put_object(Bucket=b, Key="c", Body=big, **ssec)
    for n in (n1, n2, n3):
        s3 = c.client(n)
        r = s3.get_object(Bucket=b, Key="s3")
        assert r["ServerSideEncryption"] == "AES256" and r["Body"].read() == big, n.name
        r = s3.get_object(Bucket=b, Key="kms")
        assert r["ServerSideEncryption"] == "aws:kms", n.name
        assert r["SSEKMSKeyId"].endswith("team") and r["Body"].read() == big[:70000], n.name
        assert s3.get_object(Bucket=b, Key="c", Range="bytes=1048570-1048600",
                             **ssec)["Body"].read() == big[1048570:1048601], n.name
        with pytest.raises(ClientError):
            s3.get_object(Bucket=b, Key="c")  # no key: refused everywhere
        rc, out = c.admin(n, "kms", "key", "list")
        assert rc == 0 and "team" in out, (n.name, out)
    # every node reports the same master key fingerprint
    fps = set()
    for n in (n1, n2, n3):
        rc, out = c.admin(n, "status")
        assert rc == 0, out
        fps.add(json.loads(out)["master_key_fingerprint"])
    assert len(fps) == 1, fps
    # a node down: the sealed shards of the others still open the object
    c.kill(n3)
    c.leader(among=[n1, n2], timeout=30)  # reads wait for a leader (read barrier)
    for n in (n1, n2):
        s3 = c.client(n)
        assert s3.get_object(Bucket=b, Key="s3")["Body"].read() == big, n.name
        assert s3.get_object(Bucket=b, Key="c", **ssec)["Body"].read() == big, n.name
