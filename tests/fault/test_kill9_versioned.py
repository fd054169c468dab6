"""Kill -9 in a versioned bucket: every acknowledged version or marker is
still listed, in order, as what it was (version or marker); a version or
marker whose request was cut off by the crash is either wholly there (at the
top, a version with its whole body) or absent; a version deleted by id
is gone once acknowledged; GET agrees with the newest entry; and after GC
the shard files on disk are exactly those of the listed versions.

Writers (one thread per disjoint key set) PUT (inline and blob sizes),
DELETE (a marker) and DELETE by version id (one of the key's own versions).
Rounds: CAIRN_FAULT_VROUNDS (default 5 in `make test`; `make fault` sets
more), seed CAIRN_FAULT_SEED.
"""
import hashlib
import os
import random
import threading
import time
import urllib.request
import xml.etree.ElementTree as ET

import boto3
import botocore
import pytest
from botocore.config import Config

from harness import killable_server
from test_kill9 import CUT_OFF, INLINE, MiB, body_for, client, shard_files, tmp_files

ROUNDS = int(os.environ.get("CAIRN_FAULT_VROUNDS", "5"))
THREADS = 4
KEYS_PER_THREAD = 6


class VState:
    """A key's acknowledged versions, oldest first: [vid, sha] (sha None for
    a delete marker), and the one request in flight when the server died:
    ("put", sha) / ("marker", None) / ("delv", vid) / None."""

    def __init__(self):
        self.versions = []
        self.inflight = None


def vwriter(srv, bucket, keys, states, seed):
    r = random.Random(seed)
    s3 = client(srv)
    while True:
        key = r.choice(keys)
        st = states[key]
        op = r.random()
        try:
            if op < 0.6 or not st.versions:
                size = r.choice([0, 100, 4000, INLINE + 1, 300 * 1024, 2 * MiB + 17])
                body = body_for(r.getrandbits(32), size)
                sha = hashlib.sha256(body).hexdigest()
                st.inflight = ("put", sha)
                vid = s3.put_object(Bucket=bucket, Key=key, Body=body)["VersionId"]
                st.versions.append([vid, sha])
            elif op < 0.8:
                st.inflight = ("marker", None)
                resp = s3.delete_object(Bucket=bucket, Key=key)
                assert resp.get("DeleteMarker"), resp
                st.versions.append([resp["VersionId"], None])
            else:
                vid = r.choice(st.versions)[0]
                st.inflight = ("delv", vid)
                s3.delete_object(Bucket=bucket, Key=key, VersionId=vid)
                st.versions = [v for v in st.versions if v[0] != vid]
            st.inflight = None
        except CUT_OFF:
            return  # the server died under us: st.inflight stays
        except botocore.exceptions.ClientError as e:
            if e.response["Error"]["Code"] in ("ServiceUnavailable", "InternalError", "SlowDown"):
                return
            raise


def listed_versions(s3p, bucket, key):
    """The key's versions as the server lists them, oldest first: [vid, etag
    or None for a marker, size]. Read from the XML itself: boto3 splits
    versions and markers into two lists and loses their order. Presigned
    with SigV4: Debian's botocore signs a SigV2 "?versions" URL wrongly
    (its string to sign ends "/bucket?versions?versions")."""
    out = []
    params = {"Bucket": bucket, "Prefix": key}
    while True:
        url = s3p.generate_presigned_url("list_object_versions", Params=params, ExpiresIn=300)
        with urllib.request.urlopen(url, timeout=10) as resp:
            root = ET.fromstring(resp.read())
        ns = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
        for el in root:
            tag = el.tag[len(ns):]
            if tag not in ("Version", "DeleteMarker") or el.findtext(ns + "Key") != key:
                continue
            vid = el.findtext(ns + "VersionId")
            if tag == "Version":
                out.append([vid, el.findtext(ns + "ETag"), int(el.findtext(ns + "Size"))])
            else:
                out.append([vid, None, 0])
        if root.findtext(ns + "IsTruncated") != "true":
            break
        params["KeyMarker"] = root.findtext(ns + "NextKeyMarker")
        params["VersionIdMarker"] = root.findtext(ns + "NextVersionIdMarker")
    return out[::-1]  # listed newest first


def presigner(srv):
    return boto3.client("s3", endpoint_url=srv.endpoint, region_name="us-east-1",
                        aws_access_key_id=srv.access_key, aws_secret_access_key=srv.secret_key,
                        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))


def body_sha(s3, bucket, key, vid):
    body = s3.get_object(Bucket=bucket, Key=key, VersionId=vid)["Body"].read()
    return hashlib.sha256(body).hexdigest()


def verify_key(s3, s3p, bucket, key, st):
    got = listed_versions(s3p, bucket, key)
    exp = [v[0] for v in st.versions]
    ids = [v[0] for v in got]
    fl = st.inflight
    if ids != exp:
        if fl and fl[0] in ("put", "marker") and ids[:-1] == exp:
            new = got[-1]
            if fl[0] == "marker":
                assert new[1] is None, f"{key}: the cut-off DELETE left a version {new}"
                st.versions.append([new[0], None])
            else:
                assert new[1] is not None, f"{key}: the cut-off PUT left a marker"
                assert body_sha(s3, bucket, key, new[0]) == fl[1], f"{key}: half a version"
                st.versions.append([new[0], fl[1]])
        elif fl and fl[0] == "delv" and ids == [v for v in exp if v != fl[1]]:
            st.versions = [v for v in st.versions if v[0] != fl[1]]
        else:
            raise AssertionError(f"{key}: listed {ids}, acknowledged {exp}, in flight {fl}")
    st.inflight = None
    # Every listed entry is what was acknowledged as that version.
    for (vid, etag, _size), (vid2, sha) in zip(got, st.versions):
        assert vid == vid2
        assert (etag is None) == (sha is None), f"{key} {vid}: marker/version mix-up"
    # GET of the key answers the newest entry.
    try:
        got_sha = hashlib.sha256(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).hexdigest()
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "NoSuchKey", e.response
        got_sha = None
    want = st.versions[-1][1] if st.versions else None
    assert got_sha == want, f"{key}: GET gave {got_sha}, newest version is {want}"
    return got


@pytest.fixture
def fault_server(tmp_path):
    yield from killable_server(tmp_path)


def test_kill9_versioned_rounds(fault_server):
    srv = fault_server
    s3 = client(srv)
    s3p = presigner(srv)
    bucket = "vfault"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    states = {f"t{t}/k{k}": VState() for t in range(THREADS) for k in range(KEYS_PER_THREAD)}
    rng = random.Random(int(os.environ.get("CAIRN_FAULT_SEED", "1234")) + 7)
    for _ in range(ROUNDS):
        threads = []
        for t in range(THREADS):
            keys = [f"t{t}/k{k}" for k in range(KEYS_PER_THREAD)]
            th = threading.Thread(target=vwriter, args=(srv, bucket, keys, states,
                                                        rng.getrandbits(32)))
            th.start()
            threads.append(th)
        time.sleep(rng.uniform(0.3, 2.0))
        srv.kill9()
        for th in threads:
            th.join(timeout=30)
            assert not th.is_alive()
        srv.start()
        for key, st in states.items():
            verify_key(s3, s3p, bucket, key, st)
    # After GC the shard files are exactly the blobs of the listed versions
    # (one each: single drive).
    blobs = 0
    for key, st in states.items():
        for vid, etag, size in verify_key(s3, s3p, bucket, key, st):
            if etag is not None and size > INLINE:
                blobs += 1
    deadline = time.time() + 30
    while True:
        n = len(shard_files(srv.data_dir))
        if n == blobs or time.time() > deadline:
            break
        time.sleep(0.2)
    assert tmp_files(srv.data_dir) == [], "temporary shard files left behind"
    assert n == blobs, f"{n} shard files on disk, {blobs} referenced"
    srv.stop()
