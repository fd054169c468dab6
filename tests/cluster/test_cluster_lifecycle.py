"""Lifecycle in a cluster: only the leader's worker applies the rules (the
followers' stay idle), and its deletes are ordinary replicated commands that
every node then agrees on.

    /usr/bin/python3 -m pytest -q tests/cluster/test_cluster_lifecycle.py
"""
import json
import time
import uuid


def test_only_the_leader_applies_lifecycle(cluster_factory):
    c = cluster_factory(3, extra_args=["--lifecycle-day-seconds", "2"])
    n1, n2, n3 = c.slots[:3]
    bucket = "lc-" + uuid.uuid4().hex[:10]
    s3 = c.client(n1)
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        {"ID": "tmp", "Filter": {"Prefix": "tmp/"}, "Status": "Enabled",
         "Expiration": {"Days": 1}}]})
    for i in range(5):
        c.client((n1, n2, n3)[i % 3]).put_object(Bucket=bucket, Key="tmp/%d" % i, Body=b"x")
    c.client(n2).put_object(Bucket=bucket, Key="keep", Body=b"k")
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        left = [o["Key"] for o in c.client(n3).list_objects_v2(Bucket=bucket)
                .get("Contents", [])]
        if left == ["keep"]:
            break
        time.sleep(0.5)
    assert left == ["keep"], left
    lead = c.leader()
    expired, passes = 0, {}
    for n in (n1, n2, n3):
        rc, out = c.admin(n, "status")
        assert rc == 0, out
        lc = json.loads(out)["lifecycle"]
        expired += lc["objects_expired"]
        passes[n.name] = lc["passes"]
    # each object expired once, by whoever led (the leader, unless the
    # lead moved during the test), and the leader's worker runs
    assert expired == 5 and passes[lead.name] >= 1, (expired, passes)
    assert sum(1 for v in passes.values() if v) <= 2, passes
    # every node agrees
    for n in (n1, n2, n3):
        assert [o["Key"] for o in c.client(n).list_objects_v2(Bucket=bucket)["Contents"]] == \
            ["keep"]
