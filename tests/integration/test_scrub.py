"""Scrubber, healer and the admin view of the map, on multi-drive servers.

Flip bytes in and delete shard files (up to m per blob): GETs stay
byte-exact throughout, `cairn admin object` shows the damage, and after a
scrub pass every shard file verifies again and is byte-identical to what
was written. One shard more than m: a clean error, never wrong bytes.
"""
import glob
import json
import os
import shutil
import subprocess

import botocore
import pytest

from conftest import cairn_bin, make_client

MiB = 1024 * 1024


def admin(srv, *args):
    env = dict(os.environ, CAIRN_ROOT_USER=srv.access_key, CAIRN_ROOT_PASSWORD=srv.secret_key)
    out = subprocess.run([cairn_bin(), "admin", "--endpoint", srv.endpoint] + list(args),
                         env=env, capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    return json.loads(out.stdout)


def shards_of(dirs, blob_id):
    files = {}
    for d in dirs:
        for f in glob.glob(os.path.join(d, "blobs", blob_id[:2], blob_id[2:4], blob_id + ".*")):
            files[int(f.rsplit(".", 1)[1])] = f
    return files


def health(obj):
    return [s["health"] for s in obj["versions"][0]["layout"]["shards"]]


def flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(16)
        f.seek(offset)
        f.write(bytes(x ^ 0x5A for x in b))


@pytest.mark.parametrize("ndrives,k,m", [(4, 2, 2), (6, 4, 2)])
def test_damage_read_scrub_heal(tmp_path, start_server, ndrives, k, m):
    dirs = [str(tmp_path / f"d{i}") for i in range(ndrives)]
    srv = start_server(tmp_path, *dirs[1:], data_dir=dirs[0])
    s3 = make_client(srv)
    s3.create_bucket(Bucket="scrub")
    body = os.urandom(5 * MiB + 12345)
    s3.put_object(Bucket="scrub", Key="obj", Body=body)
    small = os.urandom(300 * 1024)
    s3.put_object(Bucket="scrub", Key="other", Body=small)

    obj = admin(srv, "object", "scrub/obj")
    lay = obj["versions"][0]["layout"]
    assert (lay["k"], lay["m"]) == (k, m)
    assert health(obj) == ["ok"] * (k + m)
    files = shards_of(dirs, lay["blob"])
    assert sorted(files) == list(range(k + m))
    originals = {i: open(f, "rb").read() for i, f in files.items()}

    # m bad shards: one corrupted in two places, one deleted.
    flip(files[0], 4096)
    flip(files[0], len(originals[0]) - 100)
    os.unlink(files[k])
    h = health(admin(srv, "object", "scrub/obj"))
    assert h[0] == "corrupt" and h[k] == "missing"
    for _ in range(3):
        assert s3.get_object(Bucket="scrub", Key="obj")["Body"].read() == body
    rng = s3.get_object(Bucket="scrub", Key="obj", Range="bytes=1048570-2097200")
    assert rng["Body"].read() == body[1048570:2097201]

    prog = admin(srv, "scrub", "--wait")
    assert prog["running"] is False and prog["passes"] >= 1
    assert prog["unrecoverable"] == 0
    assert health(admin(srv, "object", "scrub/obj")) == ["ok"] * (k + m)
    healed = shards_of(dirs, lay["blob"])
    for i, f in healed.items():
        assert open(f, "rb").read() == originals[i], f"shard {i} differs after heal"
    assert s3.get_object(Bucket="scrub", Key="other")["Body"].read() == small

    status = admin(srv, "status")
    assert len(status["drives"]) == ndrives and all(d["online"] for d in status["drives"])
    b = [x for x in status["buckets"] if x["name"] == "scrub"][0]
    assert b["objects"] == 2 and b["bytes"] == len(body) + len(small)

    # m + 1 shards gone: the read fails cleanly, never returns wrong bytes.
    for i in range(m + 1):
        os.unlink(healed[i])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket="scrub", Key="obj")["Body"].read()
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert admin(srv, "scrub", "--wait")["unrecoverable"] >= 1
    # the log names the object, so that the operator can delete it again
    lost = [ln for ln in srv.log().splitlines() if "scrub:" in ln and "unrecoverable" in ln]
    assert lost and any("of scrub/obj version " in ln for ln in lost), lost


def test_admin_requires_root_credentials(tmp_path, start_server, raw_request):
    srv = start_server(tmp_path)
    r = raw_request(srv, "GET", "/_cairn/admin/status", access_key="nobody",
                    secret_key="wrongwrongwrong")
    assert r.status == 403
    r = raw_request(srv, "GET", "/_cairn/admin/status", sign=False)
    assert r.status == 403
    r = raw_request(srv, "GET", "/_cairn/admin/status")
    assert r.status == 200 and json.loads(r.body)["drives"]
