"""Object Lock in a cluster: retention and legal hold are replicated with the
version, enforced inside apply on every replica with the proposer's clock,
and hold through a leader's death.

    /usr/bin/python3 -m pytest -q tests/cluster/test_cluster_objlock.py
"""
import datetime
import uuid

import pytest
from botocore.exceptions import ClientError


def code(e):
    return e.response["Error"]["Code"]


def refused(fn, **kw):
    with pytest.raises(ClientError) as e:
        fn(**kw)
    return code(e.value)


def test_lock_holds_on_every_node_and_after_leader_death(cluster_factory):
    c = cluster_factory(3)
    n1, n2, n3 = c.slots[:3]
    b = "lock-" + uuid.uuid4().hex[:10]
    c.client(n1).create_bucket(Bucket=b, ObjectLockEnabledForBucket=True)
    until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    gov = c.client(n2).put_object(Bucket=b, Key="g", Body=b"governed",
                                  ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until)
    comp = c.client(n3).put_object(Bucket=b, Key="c", Body=b"complied",
                                   ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until)
    held = c.client(n1).put_object(Bucket=b, Key="h", Body=b"held", ObjectLockLegalHoldStatus="ON")
    # every node knows the lock and refuses the delete (or the suspend)
    for n in (n1, n2, n3):
        s3 = c.client(n)
        h = s3.head_object(Bucket=b, Key="g")
        assert h["ObjectLockMode"] == "GOVERNANCE", n.name
        assert refused(s3.delete_object, Bucket=b, Key="g",
                       VersionId=gov["VersionId"]) == "AccessDenied", n.name
        assert refused(s3.delete_object, Bucket=b, Key="c", VersionId=comp["VersionId"],
                       BypassGovernanceRetention=True) == "AccessDenied", n.name
        assert refused(s3.delete_object, Bucket=b, Key="h", VersionId=held["VersionId"],
                       BypassGovernanceRetention=True) == "AccessDenied", n.name
        assert refused(s3.put_bucket_versioning, Bucket=b,
                       VersioningConfiguration={"Status": "Suspended"}) == "InvalidBucketState"
    # the leader dies; the survivors still refuse, and still read the data
    ld = c.leader()
    c.kill(ld)
    rest = [n for n in (n1, n2, n3) if n is not ld]
    c.leader(among=rest, timeout=30)
    for n in rest:
        s3 = c.client(n)
        assert refused(s3.delete_object, Bucket=b, Key="c", VersionId=comp["VersionId"],
                       BypassGovernanceRetention=True) == "AccessDenied", n.name
        assert s3.get_object(Bucket=b, Key="c",
                             VersionId=comp["VersionId"])["Body"].read() == b"complied"
    # a bypass through a follower removes the governed version everywhere
    s3 = c.client(rest[0])
    s3.delete_object(Bucket=b, Key="g", VersionId=gov["VersionId"], BypassGovernanceRetention=True)
    with pytest.raises(ClientError) as e:
        c.client(rest[1]).head_object(Bucket=b, Key="g", VersionId=gov["VersionId"])
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    # the dead node comes back and agrees
    c.restart(ld)
    c.wait_ready()
    s3 = c.client(ld)
    assert refused(s3.delete_object, Bucket=b, Key="h", VersionId=held["VersionId"],
                   BypassGovernanceRetention=True) == "AccessDenied"
    assert s3.get_object_legal_hold(Bucket=b, Key="h",
                                    VersionId=held["VersionId"])["LegalHold"]["Status"] == "ON"
    assert s3.get_object(Bucket=b, Key="h")["Body"].read() == b"held"
