"""
Metadata backup and restore: `cairn admin backup DEST` (online, streamed,
while writes go on) and `cairn restore BACKUP --dir DIR...` (offline).

Every object acknowledged before a backup started reads back byte-exact
after the backup is restored, whatever happened after it (overwrites,
deletes, new objects); a truncated, corrupted or foreign backup is refused
and changes nothing; a running server is never restored under.
"""
import hashlib
import http.client
import os
import shutil
import subprocess
import threading
import time
import uuid

import pytest

from conftest import cairn_bin, make_client, metrics, sign_headers

KiB = 1024
# grace long enough that nothing deleted after the backup is collected
KEEP = ("--gc-grace-ms", "600000")


def dirs_of(tmp_path, n=2):
    return [os.path.join(str(tmp_path), "d%d" % i) for i in range(n)]


def start(start_server, tmp_path, dirs, *extra):
    # conftest appends data_dir last: the metadata lives in dirs[1:][0] when
    # n > 1. Keep the server's order in one place: order(dirs).
    return start_server(tmp_path, *extra, *dirs[1:], data_dir=dirs[0])


def order(dirs):
    """The directories in the order the server was given them."""
    return dirs[1:] + dirs[:1]


def env_for(srv):
    e = dict(os.environ)
    e["CAIRN_ROOT_USER"] = srv.access_key
    e["CAIRN_ROOT_PASSWORD"] = srv.secret_key
    return e


def backup(srv, dest):
    return subprocess.run([cairn_bin(), "admin", "--endpoint", srv.endpoint, "backup", dest],
                          env=env_for(srv), capture_output=True, text=True, timeout=120)


def restore(backup_path, dirs, *extra):
    return subprocess.run([cairn_bin(), "restore", backup_path, "--dir", *order(dirs), *extra],
                          capture_output=True, text=True, timeout=120)


def meta_file(dirs):
    return os.path.join(order(dirs)[0], ".cairn", "meta", "data.mdb")


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def put_many(s3, bucket, prefix, n, size_of):
    out = {}
    for i in range(n):
        k = "%s/%05d" % (prefix, i)
        body = os.urandom(size_of(i))
        s3.put_object(Bucket=bucket, Key=k, Body=body)
        out[k] = body
    return out


class Load:
    """Writes objects in a thread; records every acknowledged write and when."""

    def __init__(self, srv, bucket):
        self.s3 = make_client(srv)
        self.bucket = bucket
        self.acked = []  # (time acknowledged, key, body)
        self.errors = []
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        i = 0
        while not self.stop.is_set():
            k = "load/%06d" % i
            body = os.urandom(1 * KiB if i % 4 else 40 * KiB)
            try:
                self.s3.put_object(Bucket=self.bucket, Key=k, Body=body)
                self.acked.append((time.monotonic(), k, body))
            except Exception as e:  # noqa: BLE001 - any failure fails the test
                self.errors.append(repr(e))
            i += 1

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *a):
        self.stop.set()
        self.t.join(30)


def assert_reads(s3, bucket, objects):
    for k, body in objects.items():
        got = s3.get_object(Bucket=bucket, Key=k)["Body"].read()
        assert got == body, "%s differs after restore" % k


def test_backup_under_load_then_restore(tmp_path, start_server):
    dirs = dirs_of(tmp_path)
    srv = start(start_server, tmp_path, dirs, *KEEP)
    s3 = make_client(srv)
    b = "bk-" + uuid.uuid4().hex[:8]
    s3.create_bucket(Bucket=b)
    # inline objects (in LMDB) and blobs (shards on both drives)
    before = put_many(s3, b, "small", 400, lambda i: 1 + (i * 97) % (30 * KiB))
    before.update(put_many(s3, b, "big", 12, lambda i: 200 * KiB + i))
    dest = os.path.join(str(tmp_path), "meta.backup")
    with Load(srv, b) as load:
        time.sleep(0.5)
        t0 = time.monotonic()
        r = backup(srv, dest)
        t1 = time.monotonic()
        time.sleep(0.3)
    assert r.returncode == 0, r.stderr
    assert "backup written" in r.stdout and "format" in r.stdout
    assert not load.errors, load.errors[:3]
    during = [a for a in load.acked if t0 <= a[0] <= t1]
    assert during, "no write was acknowledged while the backup ran"
    # acknowledged before the backup started: must be in it
    before.update({k: body for (t, k, body) in load.acked if t < t0})
    assert not os.path.exists(dest + ".partial")

    # after the backup: overwrite, delete, add
    after = put_many(s3, b, "after", 20, lambda i: 1000 if i % 2 else 150 * KiB)
    changed = sorted(before)[::7]
    for k in changed[: len(changed) // 2]:
        s3.put_object(Bucket=b, Key=k, Body=b"overwritten after the backup")
    for k in changed[len(changed) // 2:]:
        s3.delete_object(Bucket=b, Key=k)
    assert srv.stop() == 0

    r = restore(dest, dirs)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "restored" in r.stdout
    kept = [f for f in os.listdir(os.path.join(order(dirs)[0], ".cairn"))
            if f.startswith("meta-before-restore-")]
    assert len(kept) == 1, "the replaced store is kept aside"

    srv = start(start_server, tmp_path, dirs, *KEEP)
    s3 = make_client(srv)
    assert_reads(s3, b, before)
    for k in after:
        with pytest.raises(s3.exceptions.NoSuchKey):
            s3.get_object(Bucket=b, Key=k)
    # the restored store takes writes
    s3.put_object(Bucket=b, Key="post-restore", Body=b"x")
    assert s3.get_object(Bucket=b, Key="post-restore")["Body"].read() == b"x"
    log = srv.log()
    assert "cannot open" not in log and "corrupt" not in log.lower()


def test_writes_go_on_while_a_slow_reader_streams_a_backup(tmp_path, start_server):
    """The backup stream is read slowly (backpressure); writes keep being
    acknowledged meanwhile, and the slowly read file restores."""
    dirs = dirs_of(tmp_path, 1)
    srv = start_server(tmp_path, *KEEP, data_dir=dirs[0])
    s3 = make_client(srv)
    b = "bk-" + uuid.uuid4().hex[:8]
    s3.create_bucket(Bucket=b)
    before = put_many(s3, b, "small", 300, lambda i: 20 * KiB + i)  # ~6 MB of metadata
    dest = os.path.join(str(tmp_path), "slow.backup")
    with Load(srv, b) as load:
        h = sign_headers(srv, "GET", "/_cairn/admin/backup")
        c = http.client.HTTPConnection(srv.host, srv.port, timeout=60)
        c.request("GET", "/_cairn/admin/backup", headers=h)
        resp = c.getresponse()
        assert resp.status == 200
        n_before = len(load.acked)
        with open(dest, "wb") as f:
            while True:
                chunk = resp.read(256 * KiB)
                if not chunk:
                    break
                f.write(chunk)
                time.sleep(0.05)
        n_during = len(load.acked) - n_before
        c.close()
    assert not load.errors, load.errors[:3]
    assert n_during >= 10, "writes stalled while the backup streamed (%d)" % n_during
    assert srv.stop() == 0
    r = restore(dest, dirs)
    assert r.returncode == 0, r.stdout + r.stderr
    srv = start_server(tmp_path, *KEEP, data_dir=dirs[0])
    assert_reads(make_client(srv), b, before)


def test_bad_backups_are_refused_and_change_nothing(tmp_path, start_server):
    dirs = dirs_of(tmp_path)
    srv = start(start_server, tmp_path, dirs)
    s3 = make_client(srv)
    b = "bk-" + uuid.uuid4().hex[:8]
    s3.create_bucket(Bucket=b)
    put_many(s3, b, "k", 50, lambda i: 100 + i)
    good = os.path.join(str(tmp_path), "good.backup")
    r = backup(srv, good)
    assert r.returncode == 0, r.stderr
    # a backup never overwrites an existing file
    r = backup(srv, good)
    assert r.returncode != 0 and "exists" in r.stderr
    # offline only: refused while the server holds the drives
    r = restore(good, dirs)
    assert r.returncode != 0 and "running server" in r.stderr
    s3.put_object(Bucket=b, Key="after", Body=b"after the backup")
    assert srv.stop() == 0

    data = open(good, "rb").read()
    size = len(data)
    bad = {
        "truncated": data[: size - 1000],
        "truncated-in-head": data[:10],
        "flipped-in-copy": data[: size // 2] + bytes([data[size // 2] ^ 1]) + data[size // 2 + 1:],
        "flipped-checksum": data[:-1] + bytes([data[-1] ^ 0x80]),
        "extended": data + b"\0",
        "not-a-backup": b"SQLite format 3\0" + data[16:],
    }
    meta_before = sha(meta_file(dirs))
    for name, content in bad.items():
        p = os.path.join(str(tmp_path), name)
        with open(p, "wb") as f:
            f.write(content)
        r = restore(p, dirs)
        assert r.returncode != 0, "%s was accepted: %s" % (name, r.stdout)
        assert "refused" in r.stderr, (name, r.stderr)
        assert sha(meta_file(dirs)) == meta_before, "%s changed the store" % name
    assert not [f for f in os.listdir(os.path.join(order(dirs)[0], ".cairn"))
                if f.startswith(("restore-", "meta-before-restore-"))]
    # nothing changed: the write after the backup is still there
    srv = start(start_server, tmp_path, dirs)
    s3 = make_client(srv)
    assert s3.get_object(Bucket=b, Key="after")["Body"].read() == b"after the backup"


def test_foreign_drives_refused_unless_forced(tmp_path, start_server):
    a_dirs = dirs_of(tmp_path / "a")
    b_dirs = dirs_of(tmp_path / "b")
    os.makedirs(str(tmp_path / "a"))
    os.makedirs(str(tmp_path / "b"))
    a = start(start_server, tmp_path, a_dirs)
    s3 = make_client(a)
    s3.create_bucket(Bucket="from-a")
    s3.put_object(Bucket="from-a", Key="k", Body=b"a")
    dest = os.path.join(str(tmp_path), "a.backup")
    assert backup(a, dest).returncode == 0
    assert a.stop() == 0
    bsrv = start(start_server, tmp_path, b_dirs)
    assert bsrv.stop() == 0
    before = sha(meta_file(b_dirs))
    r = restore(dest, b_dirs)
    assert r.returncode != 0
    assert "deployment" in r.stderr and "refused" in r.stderr
    assert sha(meta_file(b_dirs)) == before
    # a directory that is no cairn drive at all
    empty = os.path.join(str(tmp_path), "empty")
    os.makedirs(empty)
    r = subprocess.run([cairn_bin(), "restore", dest, "--dir", empty], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0 and "not a usable cairn drive" in r.stderr
    r = restore(dest, b_dirs, "--force")
    assert r.returncode == 0, r.stderr
    assert sha(meta_file(b_dirs)) != before


def test_directories_in_the_servers_order_and_all_of_them(tmp_path, start_server):
    """The metadata is restored into the first directory: given in another
    order it landed in a drive the server never reads it from, and restore
    said it was done; a subset of the set was taken as well."""
    dirs = dirs_of(tmp_path, 3)
    srv = start(start_server, tmp_path, dirs)
    s3 = make_client(srv)
    s3.create_bucket(Bucket="ord")
    dest = os.path.join(str(tmp_path), "ord.backup")
    assert backup(srv, dest).returncode == 0
    assert srv.stop() == 0
    srv_order = order(dirs)
    metas = [os.path.join(d, ".cairn", "meta", "data.mdb") for d in srv_order]
    before = [sha(m) if os.path.exists(m) else None for m in metas]
    for given in ([srv_order[1], srv_order[0], srv_order[2]], srv_order[::-1]):
        r = subprocess.run([cairn_bin(), "restore", dest, "--dir", *given],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and "server's order" in r.stderr, (given, r.stderr)
        r = subprocess.run([cairn_bin(), "restore", dest, "--dir", *given, "--force"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and "server's order" in r.stderr, (given, r.stderr)
    r = subprocess.run([cairn_bin(), "restore", dest, "--dir", *srv_order[:2]],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "3 drives, 2 given" in r.stderr, r.stderr
    assert [sha(m) if os.path.exists(m) else None for m in metas] == before
    r = restore(dest, dirs)
    assert r.returncode == 0, r.stderr


def test_blob_deleted_and_collected_after_backup_fails_cleanly(tmp_path, start_server):
    """Restoring old metadata over newer data: an object deleted after the
    backup whose blob GC already removed cannot be read; its GET fails with
    an error and the server goes on serving everything else."""
    dirs = dirs_of(tmp_path, 1)
    srv = start_server(tmp_path, data_dir=dirs[0])  # conftest: gc grace 0
    s3 = make_client(srv)
    b = "bk-" + uuid.uuid4().hex[:8]
    s3.create_bucket(Bucket=b)
    keep = put_many(s3, b, "keep", 5, lambda i: 100 * KiB + i)
    s3.put_object(Bucket=b, Key="gone", Body=os.urandom(300 * KiB))
    s3.put_object(Bucket=b, Key="inline-gone", Body=b"small and inline")
    dest = os.path.join(str(tmp_path), "b.backup")
    assert backup(srv, dest).returncode == 0
    s3.delete_object(Bucket=b, Key="gone")
    s3.delete_object(Bucket=b, Key="inline-gone")
    blobs = os.path.join(dirs[0], "blobs")

    def nshards():
        return sum(len(f) for _, _, f in os.walk(blobs))
    deadline = time.monotonic() + 20
    while nshards() > len(keep) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert nshards() == len(keep), "GC did not collect the deleted blob"
    assert srv.stop() == 0
    assert restore(dest, dirs).returncode == 0
    srv = start_server(tmp_path, data_dir=dirs[0])
    s3 = make_client(srv)
    # inline data lives in the metadata: it comes back whole
    assert s3.get_object(Bucket=b, Key="inline-gone")["Body"].read() == b"small and inline"
    # the listing shows the object again, but its data is gone
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=b)["Contents"]]
    assert "gone" in keys
    with pytest.raises(s3.exceptions.ClientError) as ei:
        s3.get_object(Bucket=b, Key="gone")["Body"].read()
    assert ei.value.response["Error"]["Code"] == "InternalError", repr(ei.value)
    assert_reads(s3, b, keep)
    # it can be deleted again; collecting its absent blob is no failure
    s3.delete_object(Bucket=b, Key="gone")
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=b, Key="gone")
    time.sleep(1.0)  # a few GC passes (interval 200 ms)
    failed = {k: v for k, v in metrics(srv).items() if k.startswith("cairn_gc_failed_total")}
    assert failed and not any(failed.values()), failed


def test_lost_first_drive_restored_from_backup(tmp_path, start_server):
    """The first drive (the metadata's) lost and replaced by an empty
    directory: `cairn restore` verifies the whole backup first (a bad one
    leaves the directory empty), adopts the directory as the set's first
    drive, restores the metadata there, and the server rebuilds the drive's
    shards from the others: every object reads back, and once rebuilt the
    store survives losing another drive."""
    from test_drive_replace import admin, check_all, put_objects, shard_files, wait_rebuilt
    dirs = dirs_of(tmp_path, 3)
    first = order(dirs)[0]
    srv = start(start_server, tmp_path, dirs, *KEEP)
    s3 = make_client(srv)
    s3.create_bucket(Bucket="lost")
    want = put_objects(s3, "lost", [100, 20 * KiB, 300 * KiB, 2 * 1024 * KiB + 5], 7)
    old = {d["path"]: d["id"] for d in admin(srv, "status")["drives"]}
    before = {os.path.relpath(f, first): open(f, "rb").read() for f in shard_files(first)}
    assert before, "the first drive holds shards"
    dest = os.path.join(str(tmp_path), "meta.backup")
    r = backup(srv, dest)
    assert r.returncode == 0, r.stderr
    assert srv.stop() == 0

    shutil.rmtree(first)
    os.mkdir(first)
    # a bad backup is refused before the empty directory is touched
    data = open(dest, "rb").read()
    for name, content in (("truncated", data[:-100]),
                          ("flipped", data[:len(data) // 2] + bytes([data[len(data) // 2] ^ 1]) +
                           data[len(data) // 2 + 1:])):
        p = os.path.join(str(tmp_path), name)
        with open(p, "wb") as f:
            f.write(content)
        r = restore(p, dirs)
        assert r.returncode != 0 and "refused" in r.stderr, (name, r.stdout, r.stderr)
        assert os.listdir(first) == [], (name, os.listdir(first))
    # so is a drive list short of the backup's set
    r = restore(dest, dirs[:2])
    assert r.returncode != 0 and os.listdir(first) == [], r.stderr

    r = restore(dest, dirs)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "adopted" in r.stdout and "restored" in r.stdout, r.stdout
    assert "master.key" in r.stdout
    srv = start(start_server, tmp_path, dirs, *KEEP)
    s3 = make_client(srv)
    st = admin(srv, "status")
    assert {d["path"]: d["id"] for d in st["drives"]} == old
    check_all(s3, "lost", want)
    wait_rebuilt(srv)
    after = {os.path.relpath(f, first): open(f, "rb").read() for f in shard_files(first)}
    assert after == before
    assert srv.stop() == 0
    # the rebuilt first drive carries its shards: lose another drive now
    other = order(dirs)[1]
    shutil.rmtree(other)
    os.mkdir(other)
    srv = start(start_server, tmp_path, dirs, *KEEP)
    check_all(make_client(srv), "lost", want)
