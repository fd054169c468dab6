"""A/B: multipart upload without a checksum algorithm (Debian boto3 1.26 sends
none), 64 MiB in 8 MiB parts, two builds alternating. Ad hoc, not part of
`make bench`: usage: /usr/bin/python3 bench/mp_default_ab.py OLD_CAIRN NEW_CAIRN"""
import os, shutil, signal, socket, statistics, subprocess, sys, time
import boto3
from botocore.config import Config

BINS = {"old": sys.argv[1], "new": sys.argv[2]}
MiB = 1 << 20
data = os.urandom(64 * MiB)
parts = [data[i:i + 8 * MiB] for i in range(0, len(data), 8 * MiB)]

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def run(binary):
    d = "/tmp/mpab-data"
    shutil.rmtree(d, ignore_errors=True)
    port = free_port()
    env = dict(os.environ, CAIRN_ROOT_USER="abkey", CAIRN_ROOT_PASSWORD="absecret123456")
    p = subprocess.Popen([binary, "server", "--listen", "127.0.0.1:%d" % port, "--quiet", d],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    try:
        c = boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % port,
                         aws_access_key_id="abkey", aws_secret_access_key="absecret123456",
                         region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
        for _ in range(100):
            try:
                c.list_buckets(); break
            except Exception:
                time.sleep(0.1)
        c.create_bucket(Bucket="abbench")
        totals, completes = [], []
        for i in range(4):
            t0 = time.monotonic()
            up = c.create_multipart_upload(Bucket="abbench", Key="k%d" % i)["UploadId"]
            done = []
            for n, body in enumerate(parts, 1):
                e = c.upload_part(Bucket="abbench", Key="k%d" % i, UploadId=up, PartNumber=n, Body=body)
                done.append({"PartNumber": n, "ETag": e["ETag"]})
            t1 = time.monotonic()
            c.complete_multipart_upload(Bucket="abbench", Key="k%d" % i, UploadId=up,
                                        MultipartUpload={"Parts": done})
            t2 = time.monotonic()
            totals.append(t2 - t0)
            completes.append(t2 - t1)
        return 64 / statistics.median(totals), statistics.median(completes) * 1000
    finally:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(30)

ratios, res = [], {"old": [], "new": []}
for rnd in range(5):
    order = ["old", "new"] if rnd % 2 == 0 else ["new", "old"]
    got = {}
    for k in order:
        got[k] = run(BINS[k])
        res[k].append(got[k])
    ratios.append(got["new"][0] / got["old"][0])
    print("round %d: old %.1f MiB/s (complete %.1f ms), new %.1f MiB/s (complete %.1f ms)" % (
        rnd, got["old"][0], got["old"][1], got["new"][0], got["new"][1]), flush=True)
for k in ("old", "new"):
    print("%s: median %.1f MiB/s, complete median %.1f ms" % (
        k, statistics.median(x[0] for x in res[k]), statistics.median(x[1] for x in res[k])))
print("median paired ratio new/old: %.3f" % statistics.median(ratios))
