"""GETs of erasure-coded objects on multi-drive servers, byte-exact.

A range that lies inside one block of a blob with k > 1 goes out from the
reader's piece buffers in one writev (blob_reader_view) instead of through a
copy into the stream buffer; every other range takes the copying path. Both
must give the same bytes: whole objects of one block and of several, ranges
inside a block, across block and piece boundaries, at the ends, multipart
parts, and a block rebuilt around a damaged shard.

Each read is first tried on the worker's loop, from the kernel's caches
only; a read that would wait on the disk (or finds a bad piece) goes to the
thread pool. The counters in /_cairn/metrics say which path each took.
"""
import ctypes
import glob
import mmap
import os

import pytest
from botocore.exceptions import ClientError

import promtext
from conftest import make_client, metrics

MiB = 1024 * 1024
BLOCK = 1 * MiB  # the default block size


def ranges_for(size):
    half = BLOCK // 2  # a piece, for k = 2
    rs = [(0, size - 1), (0, 0), (size - 1, size - 1), (1, size - 2)]
    for a, b in ((0, half - 1), (half - 10, half + 10), (half, BLOCK - 1),
                 (BLOCK - 5, BLOCK + 5), (BLOCK, 2 * BLOCK - 1),
                 (3 * BLOCK + 17, 3 * BLOCK + 4000), (BLOCK + half - 1, BLOCK + half)):
        if b < size:
            rs.append((a, b))
    return rs


@pytest.mark.parametrize("ndrives", [4, 6])  # 2+2, 4+2 (3 drives mirror: k = 1)
def test_ec_ranges_byte_exact(tmp_path, start_server, ndrives):
    dirs = [str(tmp_path / f"d{i}") for i in range(ndrives)]
    srv = start_server(tmp_path, *dirs[1:], data_dir=dirs[0])
    s3 = make_client(srv)
    s3.create_bucket(Bucket="ecreads")
    bodies = {}
    for size in (65 * 1024 + 3, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 5000):
        key = "o-%d" % size
        bodies[key] = os.urandom(size)
        s3.put_object(Bucket="ecreads", Key=key, Body=bodies[key])
    for key, body in bodies.items():
        assert s3.get_object(Bucket="ecreads", Key=key)["Body"].read() == body, key
        for a, b in ranges_for(len(body)):
            r = s3.get_object(Bucket="ecreads", Key=key, Range="bytes=%d-%d" % (a, b))
            assert r["ContentLength"] == b - a + 1
            assert r["Body"].read() == body[a:b + 1], (key, a, b)
        r = s3.get_object(Bucket="ecreads", Key=key, Range="bytes=-%d" % min(1000, len(body)))
        assert r["Body"].read() == body[-1000:], key
    # a multipart object: each part its own blob, ranges inside and across
    parts = [os.urandom(5 * MiB + 1), os.urandom(700 * 1024)]
    up = s3.create_multipart_upload(Bucket="ecreads", Key="mp")
    etags = []
    for i, p in enumerate(parts):
        etags.append(s3.upload_part(Bucket="ecreads", Key="mp", UploadId=up["UploadId"],
                                    PartNumber=i + 1, Body=p)["ETag"])
    s3.complete_multipart_upload(
        Bucket="ecreads", Key="mp", UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]})
    whole = b"".join(parts)
    assert s3.get_object(Bucket="ecreads", Key="mp")["Body"].read() == whole
    p0 = len(parts[0])
    for a, b in ((p0 - 100, p0 + 100), (p0, len(whole) - 1), (5 * MiB - 3, p0 - 1),
                 (4 * MiB + 1, 4 * MiB + 2)):
        r = s3.get_object(Bucket="ecreads", Key="mp", Range="bytes=%d-%d" % (a, b))
        assert r["Body"].read() == whole[a:b + 1], (a, b)
    assert s3.get_object(Bucket="ecreads", Key="mp", PartNumber=2)["Body"].read() == parts[1]


def test_ec_view_with_damaged_shard(tmp_path, start_server):
    dirs = [str(tmp_path / f"d{i}") for i in range(4)]  # 2+2
    srv = start_server(tmp_path, *dirs[1:], data_dir=dirs[0])
    s3 = make_client(srv)
    s3.create_bucket(Bucket="ecreads")
    body = os.urandom(BLOCK)
    s3.put_object(Bucket="ecreads", Key="one", Body=body)
    shard0 = [f for d in dirs for f in glob.glob(os.path.join(d, "blobs", "*", "*", "*.0"))]
    assert len(shard0) == 1
    with open(shard0[0], "r+b") as f:  # past the header, inside the piece
        f.seek(5000)
        b = f.read(64)
        f.seek(5000)
        f.write(bytes(x ^ 0xFF for x in b))
    for _ in range(3):
        assert s3.get_object(Bucket="ecreads", Key="one")["Body"].read() == body
        r = s3.get_object(Bucket="ecreads", Key="one", Range="bytes=100-200000")
        assert r["Body"].read() == body[100:200001]


def reads(srv):
    got = promtext.family(metrics(srv), "cairn_object_reads_total", "where")
    return got["loop"], got["pool"]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                       ctypes.c_int, ctypes.c_long)
_libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
_libc.mincore.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)


def drop_cache(dirs):
    """Drops the page cache of every shard file; False if some page stayed
    resident (tmpfs keeps them)."""
    cold = True
    for path in (f for d in dirs for f in glob.glob(os.path.join(d, "blobs", "*", "*", "*"))):
        with open(path, "rb") as f:
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
            size = os.fstat(f.fileno()).st_size
            addr = _libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, f.fileno(), 0)
            assert addr not in (None, ctypes.c_void_p(-1).value)
            vec = (ctypes.c_ubyte * ((size + mmap.PAGESIZE - 1) // mmap.PAGESIZE))()
            rc = _libc.mincore(addr, size, vec)
            _libc.munmap(addr, size)
            cold = cold and rc == 0 and not any(v & 1 for v in vec)
    return cold


@pytest.mark.parametrize("ndrives", [1, 4])  # k = 1 (read_direct), 2+2 (pieces, views)
def test_reads_on_loop_then_pool(tmp_path, start_server, ndrives):
    dirs = [str(tmp_path / f"d{i}") for i in range(ndrives)]
    srv = start_server(tmp_path, *dirs[1:], data_dir=dirs[0])
    s3 = make_client(srv)
    s3.create_bucket(Bucket="hot")
    body = os.urandom(3 * BLOCK + 5000)
    s3.put_object(Bucket="hot", Key="o", Body=body)
    # just written: in the page cache, every read on the loop
    loop0, pool0 = reads(srv)
    assert s3.get_object(Bucket="hot", Key="o")["Body"].read() == body
    r = s3.get_object(Bucket="hot", Key="o", Range="bytes=%d-%d" % (BLOCK - 7, BLOCK + 9))
    assert r["Body"].read() == body[BLOCK - 7:BLOCK + 10]
    loop1, pool1 = reads(srv)
    assert (loop1 - loop0, pool1 - pool0) == (4 + 1, 0)
    # cold: the first read goes to the pool, the bytes are the same. A
    # refused no-wait read starts read-ahead, which can finish before the
    # kernel looks again (test_blob.c, test_nowait_cached): one of three
    # cold GETs must go to the pool.
    for _ in range(3):
        if not drop_cache(dirs):
            pytest.skip("page cache not droppable here (tmpfs?)")
        assert s3.get_object(Bucket="hot", Key="o")["Body"].read() == body
        loop2, pool2 = reads(srv)
        assert (loop2 - loop1) + (pool2 - pool1) == 4
        if pool2 > pool1:
            break
        loop1, pool1 = loop2, pool2
    assert pool2 > pool1
    # a damaged data piece in the cache is not sent from the loop: the pool
    # read finds it, rebuilds (2+2) or answers 500 (k = 1, nothing to rebuild)
    shard0 = [f for d in dirs for f in glob.glob(os.path.join(d, "blobs", "*", "*", "*.0"))]
    assert len(shard0) == 1
    with open(shard0[0], "r+b") as f:
        f.seek(5000)
        b = f.read(64)
        f.seek(5000)
        f.write(bytes(x ^ 0xFF for x in b))
    if ndrives == 4:
        r = s3.get_object(Bucket="hot", Key="o", Range="bytes=0-99")
        assert r["Body"].read() == body[:100]
    else:
        with pytest.raises(ClientError) as e:
            s3.get_object(Bucket="hot", Key="o", Range="bytes=0-99")
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    loop3, pool3 = reads(srv)
    assert loop3 == loop2 and pool3 > pool2  # (the client may retry a 500)
