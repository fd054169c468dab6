"""GETs of erasure-coded objects on multi-drive servers, byte-exact.

A range that lies inside one block of a blob with k > 1 goes out from the
reader's piece buffers in one writev (blob_reader_view) instead of through a
copy into the stream buffer; every other range takes the copying path. Both
must give the same bytes: whole objects of one block and of several, ranges
inside a block, across block and piece boundaries, at the ends, multipart
parts, and a block rebuilt around a damaged shard.
"""
import glob
import os

import pytest

from conftest import make_client

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
