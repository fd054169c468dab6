"""Replacing a failed drive on a single node.

Stop a multi-drive server, put an empty directory where one drive was, start
it: the empty directory is adopted in the failed drive's place (the drive
set recorded in every drive's marker says that drive is missing) and every
shard that was on it is rebuilt, while GETs under load stay byte-exact. A
drive of another store in that place is refused and left untouched. A
rebuild killed with SIGKILL resumes at the next start.
"""
import glob
import hashlib
import json
import os
import shutil
import subprocess
import threading
import time

import pytest

from conftest import cairn_bin, make_client, start_server

MiB = 1024 * 1024


def admin(srv, *args, check=True):
    env = dict(os.environ, CAIRN_ROOT_USER=srv.access_key, CAIRN_ROOT_PASSWORD=srv.secret_key)
    out = subprocess.run([cairn_bin(), "admin", "--endpoint", srv.endpoint] + list(args),
                         env=env, capture_output=True, timeout=120)
    if check:
        assert out.returncode == 0, out.stderr.decode()
        return json.loads(out.stdout)
    return out


def drive_of(st, path):
    # start_server puts data_dir (dirs[0]) last: dirs[1] is the first
    # directory, which holds the metadata.
    return [d for d in st["drives"] if d["path"] == path][0]


def shard_files(d):
    return sorted(glob.glob(os.path.join(d, "blobs", "*", "*", "*.*")))


def put_objects(s3, bucket, sizes, seed):
    """PUT one object per size plus a 3-part multipart one; returns {key: sha256}."""
    want = {}
    for i, size in enumerate(sizes):
        body = hashlib.sha256(b"%d-%d" % (seed, i)).digest() * (size // 32 + 1)
        body = body[:size]
        key = "obj-%d-%d" % (i, size)
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        want[key] = (hashlib.sha256(body).hexdigest(), size)
    up = s3.create_multipart_upload(Bucket=bucket, Key="multi")
    parts, h, total = [], hashlib.sha256(), 0
    for n, size in enumerate([5 * MiB, 5 * MiB, 1234567], start=1):
        body = os.urandom(size)
        h.update(body)
        total += size
        r = s3.upload_part(Bucket=bucket, Key="multi", UploadId=up["UploadId"], PartNumber=n,
                           Body=body)
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    s3.complete_multipart_upload(Bucket=bucket, Key="multi", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": parts})
    want["multi"] = (h.hexdigest(), total)
    return want


def check_all(s3, bucket, want):
    for key, (digest, size) in want.items():
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert len(body) == size and hashlib.sha256(body).hexdigest() == digest, key


def scrub_clean(srv, nblobs=None):
    """A full scrub pass finds nothing missing or bad (its counters are
    cumulative: reads healed during the rebuild count too, so compare)."""
    pre = admin(srv, "scrub")
    prog = admin(srv, "scrub", "--wait")
    assert prog["passes"] > pre["passes"]
    assert prog["blobs_bad"] == pre["blobs_bad"], (pre, prog)
    assert prog["shards_rebuilt"] == pre["shards_rebuilt"], (pre, prog)
    assert prog["unrecoverable"] == 0
    if nblobs is not None:
        assert prog["blobs_checked"] == nblobs


def wait_rebuilt(srv, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = admin(srv, "status")
        if st["rebuild"]["completed"] >= 1 and not any(d["rebuilding"] for d in st["drives"]):
            return st
        time.sleep(0.2)
    raise AssertionError("rebuild did not finish: %r" % admin(srv, "status")["rebuild"])


SIZES = [65 * 1024, 200 * 1024, 1 * MiB, 3 * MiB + 17, 8 * MiB + 1]


@pytest.mark.parametrize("ndrives,victim", [(4, 2), (6, 0)])
def test_replace_drive_rebuilds_under_load(tmp_path, start_server, ndrives, victim):
    dirs = [str(tmp_path / f"d{i}") for i in range(ndrives)]
    srv = start_server(tmp_path, *dirs[1:], data_dir=dirs[0])
    s3 = make_client(srv)
    s3.create_bucket(Bucket="rep")
    want = put_objects(s3, "rep", SIZES * 4, 1)
    before = {os.path.relpath(f, dirs[victim]): open(f, "rb").read()
              for f in shard_files(dirs[victim])}
    assert len(before) == len(want) + 2  # one shard per blob (3 parts, not 1, for "multi")
    old_id = drive_of(admin(srv, "status"), dirs[victim])["id"]
    assert srv.stop() == 0

    shutil.rmtree(dirs[victim])
    os.mkdir(dirs[victim])
    t0 = time.monotonic()
    srv = start_server(tmp_path, "--rebuild-rate", str(64 * MiB), *dirs[1:], data_dir=dirs[0])
    s3 = make_client(srv)
    # Reads under load while the rebuild runs: every byte exact.
    errors = []

    def reader():
        c = make_client(srv)
        try:
            for _ in range(3):
                check_all(c, "rep", want)
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    st = admin(srv, "status")
    new = drive_of(st, dirs[victim])
    assert new["id"] == old_id and new["online"] is True and new["incarnation"] == 1
    for t in threads:
        t.join()
    assert not errors, errors
    st = wait_rebuilt(srv)
    secs = time.monotonic() - t0
    rb = st["rebuild"]
    assert rb["unrecoverable"] == 0 and rb["failed"] == 0
    assert rb["shards_done"] == rb["shards_total"] == len(before)
    assert rb["bytes_remaining"] == 0
    assert "ADOPTED %s" % dirs[victim] in srv.log()
    print("REBUILD-METRIC " + json.dumps({
        "drives": ndrives, "shards": rb["shards_total"], "bytes": rb["bytes_total"],
        "rebuild_mb_s": round(rb["last_bytes_per_sec"] / 1e6, 1),
        "rate_limit_mb_s": round(64 * MiB / 1e6, 1),
        "wall_s_incl_start": round(secs, 2)}))

    # Every shard that was on the failed drive is back, byte-identical.
    after = {os.path.relpath(f, dirs[victim]): open(f, "rb").read()
             for f in shard_files(dirs[victim])}
    assert after == before
    scrub_clean(srv, len(want) + 2)
    check_all(s3, "rep", want)
    assert "heal failed" not in srv.log()
    # Restart: adopted drive is a plain member now, nothing to rebuild.
    assert srv.stop() == 0
    srv = start_server(tmp_path, *dirs[1:], data_dir=dirs[0])
    st = admin(srv, "status")
    assert all(d["online"] and not d["rebuilding"] for d in st["drives"])
    assert st["rebuild"]["running"] is False
    check_all(make_client(srv), "rep", want)


def test_open_uploads_parts_rebuilt_and_scrubbed(tmp_path, start_server):
    """The parts of a multipart upload still open are blobs too: a drive
    rebuild restores their shards and a scrub pass checks them (both walked
    object versions only: the rebuild said done, and the completed object
    was one parity short)."""
    dirs = [str(tmp_path / f"d{i}") for i in range(4)]
    victim = 2
    srv = start_server(tmp_path, *dirs[1:], data_dir=dirs[0])
    s3 = make_client(srv)
    s3.create_bucket(Bucket="upl")
    s3.put_object(Bucket="upl", Key="plain", Body=os.urandom(300 * 1024))
    up = s3.create_multipart_upload(Bucket="upl", Key="open")["UploadId"]
    bodies = [os.urandom(5 * MiB), os.urandom(200 * 1024)]
    parts = []
    for n, body in enumerate(bodies, start=1):
        r = s3.upload_part(Bucket="upl", Key="open", UploadId=up, PartNumber=n, Body=body)
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    scrub_clean(srv, 3)  # the object's blob and the two parts'
    before = {os.path.relpath(f, dirs[victim]): open(f, "rb").read()
              for f in shard_files(dirs[victim])}
    assert len(before) == 3
    assert srv.stop() == 0
    shutil.rmtree(dirs[victim])
    os.mkdir(dirs[victim])
    srv = start_server(tmp_path, *dirs[1:], data_dir=dirs[0])
    st = wait_rebuilt(srv)
    assert st["rebuild"]["shards_done"] == st["rebuild"]["shards_total"] == 3
    after = {os.path.relpath(f, dirs[victim]): open(f, "rb").read()
             for f in shard_files(dirs[victim])}
    assert after == before
    s3 = make_client(srv)
    s3.complete_multipart_upload(Bucket="upl", Key="open", UploadId=up,
                                 MultipartUpload={"Parts": parts})
    assert s3.get_object(Bucket="upl", Key="open")["Body"].read() == b"".join(bodies)
    scrub_clean(srv, 3)


def test_foreign_drive_refused(tmp_path, start_server):
    dirs = [str(tmp_path / f"d{i}") for i in range(4)]
    srv = start_server(tmp_path, *dirs[1:], data_dir=dirs[0])
    s3 = make_client(srv)
    s3.create_bucket(Bucket="ffff")
    want = put_objects(s3, "ffff", [100 * 1024, 2 * MiB], 2)
    assert srv.stop() == 0
    # Another server's one-drive store, with an object of its own.
    other = str(tmp_path / "other")
    o = start_server(tmp_path, data_dir=other)
    make_client(o).create_bucket(Bucket="theirs")
    make_client(o).put_object(Bucket="theirs", Key="k", Body=os.urandom(300 * 1024))
    assert o.stop() == 0
    snapshot = {}
    for root, _, files in os.walk(other):
        for f in files:
            p = os.path.join(root, f)
            snapshot[p] = (os.stat(p).st_mtime_ns, open(p, "rb").read())
    shutil.rmtree(dirs[2])
    args = [cairn_bin(), "server", "--listen", "127.0.0.1:0", dirs[1], other, dirs[3], dirs[0]]
    env = dict(os.environ, CAIRN_ROOT_USER="cairntestkey",
               CAIRN_ROOT_PASSWORD="cairn-test-secret-0123456789")
    out = subprocess.run(args, env=env, capture_output=True, timeout=30)
    assert out.returncode != 0
    msg = out.stderr.decode() + out.stdout.decode()
    assert "belongs to another cairn store" in msg and other in msg, msg
    after = {}
    for root, _, files in os.walk(other):
        for f in files:
            p = os.path.join(root, f)
            after[p] = (os.stat(p).st_mtime_ns, open(p, "rb").read())
    assert after == snapshot, "something was written to the foreign drive"
    # The foreign store still works on its own.
    o = start_server(tmp_path, data_dir=other)
    assert len(make_client(o).get_object(Bucket="theirs", Key="k")["Body"].read()) == 300 * 1024
    assert o.stop() == 0


def test_rebuild_resumes_after_kill9(tmp_path, start_server):
    dirs = [str(tmp_path / f"d{i}") for i in range(4)]
    srv = start_server(tmp_path, *dirs[1:], data_dir=dirs[0])
    s3 = make_client(srv)
    s3.create_bucket(Bucket="kill9")
    want = put_objects(s3, "kill9", [2 * MiB] * 12, 3)
    n_shards = len(shard_files(dirs[2]))
    assert srv.stop() == 0
    shutil.rmtree(dirs[2])
    os.mkdir(dirs[2])
    # 1 MiB/s of shard bytes: ~14 MiB of shards take many seconds.
    srv = start_server(tmp_path, "--rebuild-rate", str(MiB), *dirs[1:], data_dir=dirs[0])
    deadline = time.monotonic() + 60
    while True:
        rb = admin(srv, "status")["rebuild"]
        if rb["running"] and rb["shards_done"] >= 3 and \
                os.path.exists(os.path.join(dirs[2], ".cairn-rebuild")):
            break
        assert time.monotonic() < deadline, rb
        time.sleep(0.1)
    assert rb["shards_done"] < rb["shards_total"]
    assert rb["bytes_per_sec"] > 0 and rb["eta_s"] >= 0
    # the rate shown is the paced one (the first pages go at full speed)
    # and the ETA follows from it: the rest cannot be done sooner
    assert rb["bytes_per_sec"] <= MiB, rb
    assert rb["eta_s"] >= rb["bytes_remaining"] // MiB - 1, rb
    srv.kill()
    assert 0 < len(shard_files(dirs[2])) < n_shards
    srv = start_server(tmp_path, *dirs[1:], data_dir=dirs[0])
    # the scrub thread logs it, possibly just after the server is ready
    deadline = time.monotonic() + 10
    while "resuming" not in srv.log():
        assert time.monotonic() < deadline, srv.log()
        time.sleep(0.05)
    check_all(make_client(srv), "kill9", want)
    st = wait_rebuilt(srv)
    rb = st["rebuild"]
    assert rb["shards_done"] == rb["shards_total"] == n_shards
    assert rb["unrecoverable"] == 0
    assert len(shard_files(dirs[2])) == n_shards
    assert not os.path.exists(os.path.join(dirs[2], ".cairn-rebuild"))
    assert "ADOPTED" not in srv.log()  # adopted once, in the first life
    scrub_clean(srv, n_shards)


def put_multipart(s3, bucket, key, nparts, part_size):
    up = s3.create_multipart_upload(Bucket=bucket, Key=key)
    parts, h = [], hashlib.sha256()
    for n in range(1, nparts + 1):
        body = os.urandom(part_size)
        h.update(body)
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=n,
                           Body=body)
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": parts})
    return h.hexdigest(), nparts * part_size


def test_rebuild_counts_exact_across_stops(tmp_path, start_server):
    """Stopped while its threads are between the parts of multipart objects
    (the rebuild is paced part by part) and between versions done out of
    order, a rebuild resumed twice still counts every shard exactly once:
    the saved counts are those of the versions up to the saved cursor."""
    dirs = [str(tmp_path / f"d{i}") for i in range(4)]
    srv = start_server(tmp_path, *dirs[1:], data_dir=dirs[0])
    s3 = make_client(srv)
    s3.create_bucket(Bucket="stops")
    want = {"mp-%d" % i: put_multipart(s3, "stops", "mp-%d" % i, 6, 5 * MiB) for i in range(6)}
    n_shards = len(shard_files(dirs[2]))
    assert srv.stop() == 0
    shutil.rmtree(dirs[2])
    os.mkdir(dirs[2])
    for life in range(2):
        # 2 MiB/s: each part's shard (~1.7 MiB) is followed by a pause
        srv = start_server(tmp_path, "--rebuild-rate", str(2 * MiB), *dirs[1:],
                           data_dir=dirs[0])
        deadline = time.monotonic() + 60
        while True:
            rb = admin(srv, "status")["rebuild"]
            if rb["running"] and rb["shards_done"] >= (life + 1) * 6 and \
                    os.path.exists(os.path.join(dirs[2], ".cairn-rebuild")):
                break
            assert time.monotonic() < deadline, rb
            time.sleep(0.1)
        assert rb["shards_done"] < rb["shards_total"] == n_shards, rb
        assert srv.stop() == 0
    srv = start_server(tmp_path, *dirs[1:], data_dir=dirs[0])
    st = wait_rebuilt(srv)
    rb = st["rebuild"]
    assert rb["shards_done"] == rb["shards_total"] == n_shards, rb
    assert rb["unrecoverable"] == 0
    assert len(shard_files(dirs[2])) == n_shards
    check_all(make_client(srv), "stops", want)
    scrub_clean(srv, n_shards)
