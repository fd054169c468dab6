"""
A data directory whose filesystem fills up: a small tmpfs mounted for each
test (needs root and permission to mount; skipped where there is neither).
DESIGN §1.4: the client gets 507 InsufficientStorage promptly, nothing
unacknowledged becomes visible, no temp file or blob is left behind, and the
server writes again once there is room.

Space is taken either by uploads (which stop at the drive's reserve) or by
a filler file beside the data directory, on the same filesystem, often while
an upload streams: what a disk shared with other writers does (it takes the
reserve too; the single node's 8 MiB ballast then lets a delete through).
docs/ARCHITECTURE.md "A full disk". GC runs every 200 ms with no grace
(conftest), so leftovers would be temp files or unreferenced blobs, and both
are counted.
"""
import errno
import os
import socket
import subprocess
import time

import pytest
from botocore.exceptions import ClientError

from conftest import make_client, metrics, sign_headers
from test_interrupted import head_status as interrupted_head_status
from test_interrupted import open_request, read_response, wait_files, wait_growth

MiB = 1 << 20
FS_SIZE = 48 * MiB


@pytest.fixture
def fs(tmp_path):
    mnt = str(tmp_path / "fs")
    os.mkdir(mnt)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d,mode=0700" % FS_SIZE, "tmpfs",
                        mnt], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s" % (r.stderr.strip() or r.returncode))
    yield mnt
    if subprocess.run(["umount", mnt], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", mnt], capture_output=True)


@pytest.fixture
def env(request, fs, start_server, tmp_path):
    # A test may keep garbage for a while (its indirect parameter, in ms):
    # GC freeing the blob of a delete changes how full the disk is.
    grace = getattr(request, "param", 0)
    srv = start_server(tmp_path, "--gc-grace-ms", str(grace), data_dir=os.path.join(fs, "data"))
    s3 = make_client(srv)
    s3.create_bucket(Bucket="full")
    keep = os.urandom(2 * MiB + 7)
    s3.put_object(Bucket="full", Key="keep", Body=keep)
    base = wait_files(srv.data_dir, None, timeout=0)
    yield srv, s3, keep, base, os.path.join(fs, "filler")
    # Stopped here, before the fixture unmounts its filesystem.
    assert srv.stop() == 0, srv.log()[-3000:]


def fill(path):
    """Takes every free byte of path's filesystem; returns the bytes written."""
    n = 0
    with open(path, "wb", buffering=0) as f:
        for size in (MiB, 4096, 1):
            chunk = b"\0" * size
            while True:
                try:
                    n += f.write(chunk)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
    return n


def status_code(resp):
    line = resp.split(b"\r\n", 1)[0]
    return int(line.split()[1]) if line.startswith(b"HTTP/1.1 ") else None


def head_status(s3, key):
    return interrupted_head_status(s3, key, bucket="full")


def check_clean(srv, s3, keep, base):
    got = wait_files(srv.data_dir, base)
    assert got == base, "leaked: %s, missing: %s" % (sorted(got - base), sorted(base - got))
    assert s3.get_object(Bucket="full", Key="keep")["Body"].read() == keep


def test_disk_fills_while_body_streams(env):
    """The filesystem fills between two buffers of a streaming PUT. The
    client then sends as fast as it can, so the server holds one full buffer
    while the other is being written when the write fails: the failure must
    answer at once, not when the body times out (60 s) with the request's
    temp files held until then."""
    srv, s3, keep, base, filler = env
    total = 16 * MiB
    body = os.urandom(total)
    hdrs = sign_headers(srv, "PUT", "/full/obj", headers={"Content-Length": str(total)},
                        payload_hash="UNSIGNED-PAYLOAD")
    s = open_request(srv, "PUT", "/full/obj", hdrs)
    first = 3 * MiB // 2
    s.sendall(body[:first])
    assert wait_growth(srv.data_dir, base)
    time.sleep(0.2)  # the first buffer is on disk
    assert fill(filler) > 0
    t0 = time.monotonic()
    s.settimeout(20)
    try:
        s.sendall(body[first:])
    except (BrokenPipeError, ConnectionResetError):
        pass  # answered and closed before the body's end
    except socket.timeout:
        pytest.fail("the server stopped reading the body and did not answer")
    resp = read_response(s, timeout=20)
    s.close()
    took = time.monotonic() - t0
    assert status_code(resp) == 507, resp[:400]
    assert b"<Code>InsufficientStorage</Code>" in resp, resp[:600]
    assert took < 15, "answered after %.1f s" % took
    assert head_status(s3, "obj") == 404
    check_clean(srv, s3, keep, base)
    # Room again: the same key is written and read back whole.
    os.unlink(filler)
    s3.put_object(Bucket="full", Key="obj", Body=body)
    assert s3.get_object(Bucket="full", Key="obj")["Body"].read() == body


def late_full_put(srv, filler, key, body):
    """PUTs a body kept in the metadata store; the disk fills (a few pages
    left) after the request's space check, before its commit."""
    hdrs = sign_headers(srv, "PUT", "/full/" + key, headers={"Content-Length": str(len(body))},
                        payload_hash="UNSIGNED-PAYLOAD")
    s = open_request(srv, "PUT", "/full/" + key, hdrs)
    s.sendall(body[:1000])
    time.sleep(0.3)  # the request is past its space check
    n = fill(filler)
    os.truncate(filler, n - 24 * 1024)  # room for a few pages, not the body
    s.sendall(body[1000:])
    resp = read_response(s, timeout=20)
    s.close()
    return resp


def test_disk_fills_before_metadata_commit(env):
    """A body kept in the metadata store passes the space check when its
    headers arrive; the disk fills before its commit, leaving a few pages.
    The first time, the commit releases the ballast and goes through (200,
    and the object reads back). The second time there is no ballast: the
    commit's write comes back short, which LMDB reports as EIO, and the
    client must hear 507 InsufficientStorage (it got 500 before)."""
    srv, s3, keep, base, filler = env
    body = os.urandom(60000)
    resp = late_full_put(srv, filler, "first", body)
    assert status_code(resp) == 200, resp[:400]
    assert "released the 8 MiB ballast" in srv.log()
    assert s3.get_object(Bucket="full", Key="first")["Body"].read() == body
    os.unlink(filler)
    resp = late_full_put(srv, filler, "small", body)
    assert status_code(resp) == 507, resp[:400]
    assert b"<Code>InsufficientStorage</Code>" in resp, resp[:600]
    assert head_status(s3, "small") == 404
    assert not [f for f in wait_files(srv.data_dir, None, timeout=0) if f.startswith("tmp")]
    os.unlink(filler)
    s3.put_object(Bucket="full", Key="small", Body=body)
    assert s3.get_object(Bucket="full", Key="small")["Body"].read() == body


def ballast(srv):
    p = os.path.join(srv.data_dir, ".cairn", "meta", "ballast")
    try:
        return os.stat(p).st_blocks * 512
    except FileNotFoundError:
        return 0


def gauges(srv):
    """The full-disk gauges of /_cairn/metrics."""
    m = metrics(srv)
    return {k: m[k] for k in ("cairn_storage_full", "cairn_meta_ballast_released") if k in m}


@pytest.mark.parametrize("env", [3000], indirect=True)
def test_filled_by_another_program_deletes_still_work(env, start_server, tmp_path):
    """Another program takes every free byte, the drive's reserve included.
    A delete's commit then finds no room, releases the 8 MiB ballast kept
    beside the metadata store and goes through; new data stays refused
    (the reserve); after a restart with room the ballast is back. The
    metrics say so (cairn_storage_full, cairn_meta_ballast_released).

    GC keeps the deleted object's blob for 3 s: once it goes, its 2 MiB
    beside the released 8 MiB leave more room than the reserve, and new
    data is rightly taken again (a loaded machine, where the checks below
    took longer than one 200 ms GC round, saw exactly that)."""
    srv, s3, keep, base, filler = env
    assert ballast(srv) >= 8 * MiB
    assert gauges(srv) == {"cairn_storage_full": 0, "cairn_meta_ballast_released": 0}
    fill(filler)
    assert gauges(srv) == {"cairn_storage_full": 1, "cairn_meta_ballast_released": 0}
    s3.delete_object(Bucket="full", Key="keep")
    assert head_status(s3, "keep") == 404
    assert "released the 8 MiB ballast" in srv.log()
    assert ballast(srv) == 0
    assert gauges(srv) == {"cairn_storage_full": 1, "cairn_meta_ballast_released": 1}
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="full", Key="new", Body=b"x" * 3000)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 507
    # GC removes the deleted object's blob: the disk holds only the start's files
    got = wait_files(srv.data_dir, set(f for f in base if not f.startswith("blobs")))
    assert not [f for f in got if f.startswith("blobs")], got
    os.unlink(filler)
    s3.put_object(Bucket="full", Key="new", Body=b"y" * 3000)
    assert gauges(srv)["cairn_storage_full"] == 0
    assert srv.stop() == 0
    srv2 = start_server(tmp_path, data_dir=srv.data_dir)
    assert ballast(srv2) >= 8 * MiB
    s3b = make_client(srv2)
    assert s3b.get_object(Bucket="full", Key="new")["Body"].read() == b"y" * 3000
    assert srv2.stop() == 0


def test_copy_into_the_metadata_store_stops_at_the_reserve(env):
    """A CopyObject of a small object puts new bytes into the metadata store
    just as a PUT does: on a full disk it is 507 too, and the ballast stays
    for the deletes (before, the copy's commit spent it and succeeded)."""
    srv, s3, keep, base, filler = env
    s3.put_object(Bucket="full", Key="small", Body=b"s" * 2000)
    fill(filler)
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket="full", Key="copy", CopySource={"Bucket": "full", "Key": "small"})
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 507
    assert e.value.response["Error"]["Code"] == "InsufficientStorage"
    assert head_status(s3, "copy") == 404
    assert ballast(srv) >= 8 * MiB
    assert "released the 8 MiB ballast" not in srv.log()
    s3.delete_object(Bucket="full", Key="small")
    assert head_status(s3, "small") == 404
    os.unlink(filler)
    s3.put_object(Bucket="full", Key="small", Body=b"t" * 2000)
    s3.copy_object(Bucket="full", Key="copy", CopySource={"Bucket": "full", "Key": "small"})
    assert s3.get_object(Bucket="full", Key="copy")["Body"].read() == b"t" * 2000


def test_records_without_bytes_stop_at_the_reserve(env):
    """Operations that only add records (a bucket, an upload, tags, a bucket
    configuration) get 507 on a full drive too, so that a client creating
    them in a loop cannot spend the room kept for deletes; what removes
    records (DeleteObjectTagging, aborts, deletes) still goes through."""
    srv, s3, keep, base, filler = env
    up = s3.create_multipart_upload(Bucket="full", Key="mp")["UploadId"]
    s3.put_object_tagging(Bucket="full", Key="keep", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    fill(filler)
    tags = {"TagSet": [{"Key": "t", "Value": "v" * 200}]}
    refused = [
        lambda: s3.create_bucket(Bucket="another"),
        lambda: s3.create_multipart_upload(Bucket="full", Key="mp2"),
        lambda: s3.put_object_tagging(Bucket="full", Key="keep", Tagging=tags),
        lambda: s3.put_bucket_tagging(Bucket="full", Tagging=tags),
        lambda: s3.put_bucket_cors(Bucket="full", CORSConfiguration={"CORSRules": [
            {"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}]}),
    ]
    for call in refused:
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 507
        assert e.value.response["Error"]["Code"] == "InsufficientStorage"
    s3.delete_object_tagging(Bucket="full", Key="keep")
    s3.abort_multipart_upload(Bucket="full", Key="mp", UploadId=up)
    assert ballast(srv) >= 8 * MiB, srv.log()[-2000:]
    s3.delete_object(Bucket="full", Key="keep")
    assert head_status(s3, "keep") == 404
    os.unlink(filler)
    s3.create_bucket(Bucket="another")
    s3.put_bucket_tagging(Bucket="full", Tagging=tags)


@pytest.mark.parametrize("size", [3000, 5 * MiB], ids=["metadata", "blob"])
def test_full_disk_refuses_and_recovers(env, size):
    """With no byte free, a small PUT (its body in the metadata store) and a
    streamed one both get 507, and so does an overwrite (which leaves the old
    version); reads go on, and writes work again once space is back."""
    srv, s3, keep, base, filler = env
    fill(filler)
    ok, err = [], None
    # The metadata store may have free pages inside its file for the first
    # few small commits.
    for i in range(20):
        try:
            s3.put_object(Bucket="full", Key="new%d" % i, Body=os.urandom(size))
            ok.append("new%d" % i)
        except ClientError as e:
            err = e.response
            break
    assert err is not None, "20 PUTs of %d bytes fitted on a full disk" % size
    assert (err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"]) == \
        (507, "InsufficientStorage")
    assert head_status(s3, "new%d" % i) == 404
    assert all(head_status(s3, k) == 200 for k in ok)
    want = os.urandom(size)
    try:
        s3.put_object(Bucket="full", Key="keep", Body=want)
    except ClientError as e:
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 507
        want = keep
    assert s3.get_object(Bucket="full", Key="keep")["Body"].read() == want
    got = wait_files(srv.data_dir, base)
    if not ok and want is keep:
        assert got == base, "leaked: %s" % sorted(got - base)
    assert not [f for f in got if f.startswith("tmp")], got
    os.unlink(filler)
    body = os.urandom(size)
    s3.put_object(Bucket="full", Key="after", Body=body)
    assert s3.get_object(Bucket="full", Key="after")["Body"].read() == body


def put_until_full(s3, prefix, body, limit):
    """PUTs prefix0, prefix1, ... until one is refused; returns the keys
    stored and the refusal's (status, code)."""
    keys = []
    for i in range(limit):
        try:
            s3.put_object(Bucket="full", Key="%s%d" % (prefix, i), Body=body)
        except ClientError as e:
            return keys, (e.response["ResponseMetadata"]["HTTPStatusCode"],
                          e.response["Error"]["Code"])
        keys.append("%s%d" % (prefix, i))
    pytest.fail("%d PUTs of %d bytes fitted on a %d MiB disk" % (limit, len(body),
                                                                 FS_SIZE // MiB))


def test_filled_by_uploads_deletes_still_work(env):
    """Uploads alone fill the disk. Blobs and bodies kept in the metadata
    store both stop at the drive's reserve (8 MiB of this 48 MiB disk), so
    deletes, which need metadata commits, still work, and GC gives the
    space back. Without the reserve the disk reached 100% and every DELETE
    was 507 too: no way to free space through S3."""
    srv, s3, keep, base, filler = env
    blobs, err = put_until_full(s3, "big", os.urandom(4 * MiB), 20)
    assert err == (507, "InsufficientStorage") and len(blobs) >= 5, (blobs, err)
    smalls, err = put_until_full(s3, "small", os.urandom(60000), 400)
    assert err == (507, "InsufficientStorage"), err
    st = os.statvfs(os.path.dirname(filler))
    assert st.f_bavail * st.f_frsize >= 6 * MiB  # the reserve held
    # Metadata-only changes go on while new data is refused.
    s3.put_object_tagging(Bucket="full", Key="keep",
                          Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    for k in blobs[:2] + smalls[:2]:
        s3.delete_object(Bucket="full", Key=k)
    rest = blobs[2:] + smalls[2:]
    for i in range(0, len(rest), 1000):
        r = s3.delete_objects(Bucket="full", Delete={
            "Objects": [{"Key": k} for k in rest[i:i + 1000]], "Quiet": True})
        assert not r.get("Errors"), r["Errors"][:3]
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket="full").get("Contents", [])]
    assert listed == ["keep"]
    check_clean(srv, s3, keep, base)
    body = os.urandom(4 * MiB)
    s3.put_object(Bucket="full", Key="after", Body=body)
    assert s3.get_object(Bucket="full", Key="after")["Body"].read() == body
