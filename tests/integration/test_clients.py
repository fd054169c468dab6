"""
Real S3 clients against cairn: the aws CLI (Debian's /usr/bin/aws and, if
present, a second `aws` earlier on PATH such as pyenv's awscli v1 with a
newer botocore) and rclone. Every transfer is compared byte for byte.
"""
import hashlib
import json
import os
import shutil
import subprocess
import uuid

import pytest

MiB = 1 << 20
CLI_TIMEOUT = 300


def _aws_candidates():
    out = {}
    if os.path.exists("/usr/bin/aws"):
        out["debian"] = "/usr/bin/aws"
    for d in os.environ.get("PATH", "").split(os.pathsep):
        p = os.path.join(d, "aws")
        if os.access(p, os.X_OK) and os.path.realpath(p) != os.path.realpath("/usr/bin/aws"):
            out["path"] = p
            break
    return out


AWS = _aws_candidates()


@pytest.fixture(params=["debian", "path"])
def aws(request, server, tmp_path):
    if request.param not in AWS:
        pytest.skip("no %s aws CLI" % request.param)
    exe = AWS[request.param]
    cfg = tmp_path / "aws-config"
    # signature_version: awscli v1 presigns with SigV2 unless told otherwise.
    cfg.write_text("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n"
                   "    signature_version = s3v4\n")
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the CLI uses its own interpreter's packages
    env.pop("AWS_PROFILE", None)
    env.update(AWS_ACCESS_KEY_ID=server.access_key, AWS_SECRET_ACCESS_KEY=server.secret_key,
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(cfg),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
               AWS_PAGER="", AWS_MAX_ATTEMPTS="1", AWS_EC2_METADATA_DISABLED="true")

    def run(*args, check=True, input=None):
        p = subprocess.run([exe, "--endpoint-url", server.endpoint] + list(args), env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=CLI_TIMEOUT, input=input)
        if check:
            assert p.returncode == 0, "%s %s -> %d\n%s\n%s" % (
                exe, args, p.returncode, p.stdout.decode()[-2000:], p.stderr.decode()[-2000:])
        return p

    return run


def new_bucket():
    return "cli-%s" % uuid.uuid4().hex[:16]


def md5_file(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MiB), b""):
            h.update(chunk)
    return h.hexdigest()


def make_tree(root, n=50):
    """~n files in nested dirs, sizes from 0 to a bit over 1 MiB. Returns rel paths."""
    rels = []
    sizes = [0, 1, 100, 4096, 64 << 10, (64 << 10) + 1, MiB + 3]
    for i in range(n):
        rel = os.path.join("d%d" % (i % 4), "sub%d" % (i % 3), "f%02d.bin" % i)
        if i % 10 == 0:
            rel = "top%02d.txt" % i
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(os.urandom(sizes[i % len(sizes)]))
        rels.append(rel)
    return sorted(rels)


def tree_digest(root):
    out = {}
    for d, _dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            out[os.path.relpath(p, root)] = md5_file(p)
    return out


# ---- aws CLI ----

def test_aws_cp_roundtrip(aws, tmp_path):
    b = new_bucket()
    aws("s3", "mb", "s3://%s" % b)
    small = tmp_path / "small.txt"
    small.write_bytes(b"hello from the aws cli\n")
    aws("s3", "cp", str(small), "s3://%s/dir/small.txt" % b)
    aws("s3", "cp", "s3://%s/dir/small.txt" % b, str(tmp_path / "small.back"))
    assert (tmp_path / "small.back").read_bytes() == small.read_bytes()
    # Stdin/stdout streaming.
    aws("s3", "cp", "-", "s3://%s/stream" % b, input=b"streamed bytes")
    assert aws("s3", "cp", "s3://%s/stream" % b, "-").stdout == b"streamed bytes"
    aws("s3", "rm", "s3://%s/dir/small.txt" % b)
    aws("s3", "rm", "s3://%s/stream" % b)
    aws("s3", "rb", "s3://%s" % b)


def test_aws_cp_100mib_multipart(aws, tmp_path):
    b = new_bucket()
    aws("s3", "mb", "s3://%s" % b)
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        for _ in range(100):
            f.write(os.urandom(MiB))
    aws("s3", "cp", str(big), "s3://%s/big.bin" % b)
    head = json.loads(aws("s3api", "head-object", "--bucket", b, "--key", "big.bin").stdout)
    assert head["ContentLength"] == 100 * MiB
    assert head["ETag"].strip('"').endswith(tuple("-%d" % i for i in range(2, 10001)))
    back = tmp_path / "big.back"
    aws("s3", "cp", "s3://%s/big.bin" % b, str(back))
    assert md5_file(back) == md5_file(big)
    aws("s3", "rb", "--force", "s3://%s" % b)


def test_aws_sync_ls_rm(aws, tmp_path):
    b = new_bucket()
    src, dst = tmp_path / "src", tmp_path / "dst"
    rels = make_tree(str(src))
    aws("s3", "mb", "s3://%s" % b)
    aws("s3", "sync", str(src), "s3://%s/tree" % b)
    aws("s3", "sync", "s3://%s/tree" % b, str(dst))
    assert tree_digest(str(dst)) == tree_digest(str(src))
    # A second sync finds nothing to do.
    assert aws("s3", "sync", str(src), "s3://%s/tree" % b).stdout.strip() == b""

    out = aws("s3", "ls", "--recursive", "s3://%s/" % b).stdout.decode()
    listed = sorted(line.split(None, 3)[3] for line in out.splitlines() if line.strip())
    assert listed == sorted("tree/" + r for r in rels)
    out = aws("s3", "ls", "--recursive", "s3://%s/tree/d1/" % b).stdout.decode()
    listed = sorted(line.split(None, 3)[3] for line in out.splitlines() if line.strip())
    assert listed == sorted("tree/" + r for r in rels if r.startswith("d1/"))
    # Non-recursive: common prefixes show as PRE.
    out = aws("s3", "ls", "s3://%s/tree/" % b).stdout.decode()
    pres = sorted(line.split()[1] for line in out.splitlines() if line.split()[0] == "PRE")
    assert pres == ["d0/", "d1/", "d2/", "d3/"]

    # Local change and delete, then sync --delete.
    os.remove(os.path.join(str(src), rels[1]))
    with open(os.path.join(str(src), rels[2]), "wb") as f:
        f.write(b"changed content, different size")
    aws("s3", "sync", "--delete", str(src), "s3://%s/tree" % b)
    dst2 = tmp_path / "dst2"
    aws("s3", "sync", "s3://%s/tree" % b, str(dst2))
    assert tree_digest(str(dst2)) == tree_digest(str(src))

    aws("s3", "rm", "--recursive", "s3://%s/tree" % b)
    assert aws("s3", "ls", "--recursive", "s3://%s/" % b, check=False).stdout.strip() == b""
    aws("s3", "rb", "s3://%s" % b)


def test_aws_s3api(aws, tmp_path):
    b = new_bucket()
    aws("s3api", "create-bucket", "--bucket", b)
    body = tmp_path / "body"
    data = os.urandom(300 * 1024)
    body.write_bytes(data)
    put = json.loads(aws("s3api", "put-object", "--bucket", b, "--key", "a/b c+d",
                         "--body", str(body), "--content-type", "application/x-test",
                         "--metadata", "k1=v1").stdout)
    assert put["ETag"] == '"%s"' % hashlib.md5(data).hexdigest()
    head = json.loads(aws("s3api", "head-object", "--bucket", b, "--key", "a/b c+d").stdout)
    assert head["ContentLength"] == len(data)
    assert head["ContentType"] == "application/x-test"
    assert head["Metadata"] == {"k1": "v1"}
    out = tmp_path / "out"
    got = json.loads(aws("s3api", "get-object", "--bucket", b, "--key", "a/b c+d",
                         "--range", "bytes=10-99", str(out)).stdout)
    assert got["ContentRange"] == "bytes 10-99/%d" % len(data)
    assert out.read_bytes() == data[10:100]
    aws("s3api", "get-object", "--bucket", b, "--key", "a/b c+d", str(out))
    assert out.read_bytes() == data
    lst = json.loads(aws("s3api", "list-objects-v2", "--bucket", b).stdout)
    assert [(o["Key"], o["Size"]) for o in lst["Contents"]] == [("a/b c+d", len(data))]
    missing = aws("s3api", "head-object", "--bucket", b, "--key", "nope", check=False)
    assert missing.returncode != 0 and b"404" in missing.stderr
    aws("s3api", "delete-object", "--bucket", b, "--key", "a/b c+d")
    lst = json.loads(aws("s3api", "list-objects-v2", "--bucket", b).stdout or b"{}")
    assert lst.get("KeyCount", 0) == 0
    aws("s3api", "delete-bucket", "--bucket", b)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_aws_presign_curl(aws, tmp_path):
    b = new_bucket()
    aws("s3", "mb", "s3://%s" % b)
    data = os.urandom(100 * 1024)
    aws("s3", "cp", "-", "s3://%s/p/obj name" % b, input=data)
    url = aws("s3", "presign", "--expires-in", "300", "s3://%s/p/obj name" % b).stdout
    url = url.decode().strip()
    assert "X-Amz-Signature=" in url
    p = subprocess.run(["curl", "-sS", "-f", "-o", "-", url], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout == data
    # A tampered signature is refused.
    bad = url[:-1] + ("0" if url[-1] != "0" else "1")
    p = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", bad],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert p.stdout == b"403"
    aws("s3", "rb", "--force", "s3://%s" % b)


# ---- rclone ----

@pytest.fixture
def rclone(server, tmp_path):
    exe = shutil.which("rclone")
    if exe is None:
        pytest.skip("rclone not installed")
    conf = tmp_path / "rclone.conf"
    conf.write_text(
        "[cairn]\ntype = s3\nprovider = Other\nenv_auth = false\n"
        "access_key_id = %s\nsecret_access_key = %s\nregion = us-east-1\n"
        "endpoint = %s\nforce_path_style = true\n" % (
            server.access_key, server.secret_key, server.endpoint))

    env = dict(os.environ)
    # rclone refuses a CA bundle on its plain-HTTP transport.
    env.pop("AWS_CA_BUNDLE", None)

    def run(*args, check=True):
        p = subprocess.run([exe, "--config", str(conf), "--retries", "1",
                            "--low-level-retries", "1"] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=CLI_TIMEOUT, env=env)
        if check:
            assert p.returncode == 0, "rclone %s -> %d\n%s" % (
                args, p.returncode, p.stderr.decode()[-3000:])
        return p

    return run


def test_rclone_sync_check_lsjson(rclone, s3, tmp_path):
    b = new_bucket()
    s3.create_bucket(Bucket=b)
    src, back = tmp_path / "src", tmp_path / "back"
    files = {
        "empty.txt": b"",
        "one": b"1",
        "nested/a/b/c/deep.bin": os.urandom(70 * 1024),
        "nested/a/sibling.txt": b"sibling\n",
        "big/five-mib.bin": os.urandom(5 * MiB + 123),
        "\u00fcnic\u00f6de/\u65e5\u672c\u8a9e \u0444\u0430\u0439\u043b.txt": "unicode".encode(),
        "spaces in name/file (1).txt": b"spaces",
    }
    for rel, data in files.items():
        p = src / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)

    rclone("sync", str(src), "cairn:%s/r" % b)
    rclone("check", str(src), "cairn:%s/r" % b)  # exit 0: sizes and hashes agree
    rclone("sync", "cairn:%s/r" % b, str(back))
    assert tree_digest(str(back)) == tree_digest(str(src))
    rclone("check", "--download", str(src), "cairn:%s/r" % b)

    listed = json.loads(rclone("lsjson", "-R", "--files-only", "--hash",
                               "cairn:%s/r" % b).stdout)
    got = {e["Path"]: e["Size"] for e in listed}
    assert got == {rel: len(data) for rel, data in files.items()}
    for e in listed:
        md5 = e.get("Hashes", {}).get("md5")
        if md5:  # rclone reports the ETag-derived md5 of single-part objects
            assert md5 == hashlib.md5(files[e["Path"]]).hexdigest()

    # A change on the source is detected by check and repaired by sync.
    (src / "one").write_bytes(b"2")
    assert rclone("check", str(src), "cairn:%s/r" % b, check=False).returncode != 0
    rclone("sync", str(src), "cairn:%s/r" % b)
    rclone("check", str(src), "cairn:%s/r" % b)
    assert s3.get_object(Bucket=b, Key="r/one")["Body"].read() == b"2"

    rclone("purge", "cairn:%s" % b)
    with pytest.raises(Exception):
        s3.head_bucket(Bucket=b)


def test_rclone_presigned_request(rclone, s3, tmp_path):
    """rclone --s3-use-presigned-request PUTs through a presigned URL and
    sends Content-Length twice (same value): it was refused as malformed
    HTTP, then failed its signature."""
    b = "rcp-%s" % uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=b)
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(300000))
    rclone("--s3-use-presigned-request", "copy", str(src), "cairn:%s/p" % b)
    rclone("check", str(src.parent), "cairn:%s/p" % b, "--include", "f.bin")
    assert s3.get_object(Bucket=b, Key="p/f.bin")["Body"].read() == src.read_bytes()


@pytest.mark.parametrize("v2", [True, False], ids=["sigv2", "sigv4"])
def test_s3cmd_roundtrip_and_signurl(server, tmp_path, v2):
    """s3cmd (Debian's) in its SigV2 mode and its SigV4 mode: make a bucket,
    put, list, get, delete; and a `signurl` (always SigV2) fetched by curl."""
    if not shutil.which("s3cmd"):
        pytest.skip("s3cmd not installed")
    hostport = "%s:%d" % (server.host, server.port)
    cfg = tmp_path / "s3cfg"
    cfg.write_text("[default]\naccess_key = %s\nsecret_key = %s\nhost_base = %s\n"
                   "host_bucket = %s\nuse_https = False\nsignature_v2 = %s\n"
                   "bucket_location = us-east-1\n"
                   % (server.access_key, server.secret_key, hostport, hostport,
                      "True" if v2 else "False"))
    bucket = "s3cmd-%s" % uuid.uuid4().hex[:12]

    def run(*args):
        p = subprocess.run(["s3cmd", "-c", str(cfg), "--no-progress"] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=CLI_TIMEOUT)
        assert p.returncode == 0, "s3cmd %s -> %d\n%s\n%s" % (
            args, p.returncode, p.stdout.decode()[-2000:], p.stderr.decode()[-2000:])
        return p.stdout.decode()
    src = tmp_path / "src.bin"
    data = os.urandom(3 * MiB + 17)
    src.write_bytes(data)
    run("mb", "s3://" + bucket)
    run("put", str(src), "s3://%s/dir/obj.bin" % bucket)
    assert "dir/obj.bin" in run("ls", "-r", "s3://" + bucket)
    out = tmp_path / "out.bin"
    run("get", "s3://%s/dir/obj.bin" % bucket, str(out))
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(data).digest()
    url = run("signurl", "s3://%s/dir/obj.bin" % bucket, "+120").strip().splitlines()[-1]
    assert "Signature=" in url and "AWSAccessKeyId=" in url, url
    got = subprocess.run(["curl", "-s", "-f", url], stdout=subprocess.PIPE, timeout=60)
    assert got.returncode == 0 and hashlib.sha256(got.stdout).digest() == \
        hashlib.sha256(data).digest()
    bad = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                          url.replace("Signature=", "Signature=x")],
                         stdout=subprocess.PIPE, timeout=60)
    assert bad.stdout == b"403", bad.stdout
    run("del", "s3://%s/dir/obj.bin" % bucket)
    run("rb", "s3://" + bucket)
