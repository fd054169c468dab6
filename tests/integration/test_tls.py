"""
TLS on the S3 listener (--tls-cert/--tls-key, --listen-plain), with real
clients verifying a CA made here with the openssl CLI: boto3 (verify=CA),
the aws CLI (--ca-bundle), curl (--cacert) and rclone (--ca-cert). Also:
plain HTTP on the TLS port, a TLS hello on the plain port, TLS 1.1 and
non-AEAD suites refused, ALPN, the handshake deadline, pipelining over TLS,
and certificate reload on SIGHUP under load (no request fails; a new
connection sees the new certificate; a bad certificate keeps the old one).
"""
import hashlib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import uuid

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from conftest import REGION, spawn

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="openssl CLI missing "
                                "(scripts/install-deps.sh test)")
CLI_TIMEOUT = 120


def sh(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class PKI:
    """A test CA and server certificates for 127.0.0.1 signed by it."""

    def __init__(self, d):
        self.d = str(d)
        os.makedirs(self.d, exist_ok=True)
        self.ca = os.path.join(self.d, "ca.pem")
        self.ca_key = os.path.join(self.d, "ca.key")
        sh(OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.ca_key,
           "-out", self.ca, "-days", "2", "-subj", "/CN=cairn test CA")

    def server_cert(self, name, serial):
        """Writes NAME.pem (leaf + CA chain) and NAME.key; returns (cert, key)."""
        key = os.path.join(self.d, name + ".key")
        csr = os.path.join(self.d, name + ".csr")
        leaf = os.path.join(self.d, name + ".leaf")
        ext = os.path.join(self.d, name + ".ext")
        cert = os.path.join(self.d, name + ".pem")
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                    "extendedKeyUsage=serverAuth\n")
        sh(OPENSSL, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
           "-subj", "/CN=127.0.0.1")
        sh(OPENSSL, "x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key,
           "-set_serial", str(serial), "-out", leaf, "-days", "2", "-extfile", ext)
        with open(cert, "w") as f:  # full chain: leaf first
            f.write(open(leaf).read() + open(self.ca).read())
        return cert, key


class TLSServer:
    def __init__(self, srv):
        self.srv = srv
        self.tls_port = None
        self.plain_port = None

    def wait(self, ca, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.srv.proc.poll() is not None:
                raise RuntimeError("cairn exited:\n" + self.srv.log())
            log = self.srv.log()
            m = re.search(r"S3 endpoint https://127\.0\.0\.1:(\d+) \(TLS\)", log)
            p = re.search(r"plain-HTTP endpoint http://127\.0\.0\.1:(\d+)", log)
            if m:
                self.tls_port = int(m.group(1))
                self.plain_port = int(p.group(1)) if p else None
                try:
                    st, _ = https_get(self.tls_port, ca, "/_cairn/health/ready")
                    if st == 200:
                        return self
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError("cairn (TLS) not ready:\n" + self.srv.log())

    @property
    def endpoint(self):
        return "https://127.0.0.1:%d" % self.tls_port

    def log(self):
        return self.srv.log()


def client_ctx(ca):
    ctx = ssl.create_default_context(cafile=ca)
    return ctx


def https_get(port, ca, path, ctx=None):
    """One GET on a new TLS connection; returns (status, body)."""
    import http.client
    c = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=ctx or client_ctx(ca))
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def peer_serial(port, ca):
    """The serial number of the certificate a new connection is shown."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with client_ctx(ca).wrap_socket(s, server_hostname="127.0.0.1") as t:
            der = t.getpeercert(binary_form=True)
    p = subprocess.run([OPENSSL, "x509", "-inform", "DER", "-noout", "-serial"], input=der,
                       stdout=subprocess.PIPE, check=True)
    return int(p.stdout.decode().strip().split("=")[1], 16)


def start_tls(tmp, cert, key, *extra, quiet=True):
    data = os.path.join(str(tmp), "data-%s" % uuid.uuid4().hex[:8])
    srv = spawn(data, "--tls-cert", cert, "--tls-key", key, *extra, wait=False, quiet=quiet)
    return TLSServer(srv)


def s3_client(ts, ca, **cfg):
    conf = dict(s3={"addressing_style": "path"}, retries={"max_attempts": 1, "mode": "standard"},
                connect_timeout=5, read_timeout=30, signature_version="s3v4")
    conf.update(cfg)
    return boto3.client("s3", endpoint_url=ts.endpoint, region_name=REGION, verify=ca,
                        aws_access_key_id=ts.srv.access_key,
                        aws_secret_access_key=ts.srv.secret_key, config=Config(**conf))


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return PKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls(pki, tmp_path_factory):
    """A TLS server with a plain listener beside it; access log on."""
    cert, key = pki.server_cert("main", 0x1001)
    ts = start_tls(tmp_path_factory.mktemp("tls"), cert, key, "--listen-plain", "127.0.0.1:0",
                   quiet=False)
    try:
        ts.wait(pki.ca)
    except Exception:
        ts.srv.kill()
        raise
    yield ts
    code = ts.srv.stop()
    assert code == 0, "server exited with %s:\n%s" % (code, ts.log()[-3000:])


@pytest.fixture(scope="module")
def s3(tls, pki):
    return s3_client(tls, pki.ca)


def new_bucket(s3):
    b = "tls-%s" % uuid.uuid4().hex[:16]
    s3.create_bucket(Bucket=b)
    return b


def wait_log(ts, pattern, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if re.search(pattern, ts.log()):
            return True
        time.sleep(0.05)
    return False


# ---- clients ----

def test_boto3_roundtrip(s3):
    b = new_bucket(s3)
    small = os.urandom(4096)
    big = os.urandom(5 * 1024 * 1024 + 123)  # many TLS records, paused body
    s3.put_object(Bucket=b, Key="small", Body=small)
    s3.put_object(Bucket=b, Key="big", Body=big)
    assert s3.get_object(Bucket=b, Key="small")["Body"].read() == small
    got = s3.get_object(Bucket=b, Key="big")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(big).digest()
    r = s3.get_object(Bucket=b, Key="big", Range="bytes=1000000-3000000")
    assert r["Body"].read() == big[1000000:3000001]
    assert s3.head_object(Bucket=b, Key="big")["ContentLength"] == len(big)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=b)["Contents"]]
    assert keys == ["big", "small"]
    for k in keys:
        s3.delete_object(Bucket=b, Key=k)
    s3.delete_bucket(Bucket=b)


def test_ssec_over_tls_accepted_plain_refused(tls, pki, s3):
    """SSE-C keys travel in headers: accepted over TLS without
    --allow-insecure-ssec, refused on the plain listener beside it."""
    import base64
    b = new_bucket(s3)
    key = os.urandom(32)
    args = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": base64.b64encode(key).decode(),
            "SSECustomerKeyMD5": base64.b64encode(hashlib.md5(key).digest()).decode()}
    s3.put_object(Bucket=b, Key="c", Body=b"secret", **args)
    assert s3.get_object(Bucket=b, Key="c", **args)["Body"].read() == b"secret"
    plain = boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % tls.plain_port,
                         region_name="us-east-1", aws_access_key_id=tls.srv.access_key,
                         aws_secret_access_key=tls.srv.secret_key,
                         config=Config(s3={"addressing_style": "path"},
                                       retries={"max_attempts": 0}))
    with pytest.raises(botocore.exceptions.ClientError) as e:
        plain.get_object(Bucket=b, Key="c", **args)
    assert e.value.response["Error"]["Code"] == "InvalidRequest"


def test_secure_transport_condition(tls, pki, s3):
    """aws:SecureTransport is true over TLS, false on the plain listener: a
    public read allowed only over TLS."""
    import json
    import urllib.request
    b = new_bucket(s3)
    s3.put_object(Bucket=b, Key="pub", Body=b"hello")
    s3.delete_public_access_block(Bucket=b)
    s3.put_bucket_policy(Bucket=b, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                       "Resource": "arn:aws:s3:::%s/*" % b,
                       "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]}))
    st, body = https_get(tls.tls_port, pki.ca, "/%s/pub" % b)
    assert st == 200 and body == b"hello", (st, body)
    try:
        urllib.request.urlopen("http://127.0.0.1:%d/%s/pub" % (tls.plain_port, b), timeout=10)
        assert False, "plain anonymous read allowed"
    except urllib.error.HTTPError as e:
        assert e.code == 403


def test_tls_version_condition(tls, pki, s3):
    """s3:TlsVersion is the negotiated protocol ("1.2", "1.3"): the policy
    AWS documents to refuse old TLS (NumericLessThan 1.2) lets a TLS 1.3
    read in, and a floor of 1.4 keeps it out; a plain request has none."""
    import json
    import ssl
    import urllib.request
    b = new_bucket(s3)
    s3.put_object(Bucket=b, Key="pub", Body=b"hello")
    s3.delete_public_access_block(Bucket=b)

    def policy(floor):
        s3.put_bucket_policy(Bucket=b, Policy=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                           "Resource": "arn:aws:s3:::%s/*" % b},
                          {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
                           "Resource": "arn:aws:s3:::%s/*" % b,
                           "Condition": {"NumericLessThan": {"s3:TlsVersion": floor}}}]}))
    policy("1.2")
    st, body = https_get(tls.tls_port, pki.ca, "/%s/pub" % b)
    assert st == 200 and body == b"hello", (st, body)
    # the same floor, a TLS 1.2 client
    ctx = ssl.create_default_context(cafile=pki.ca)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with urllib.request.urlopen("https://127.0.0.1:%d/%s/pub" % (tls.tls_port, b),
                                context=ctx, timeout=10) as r:
        assert r.read() == b"hello"
    policy("1.4")
    st, body = https_get(tls.tls_port, pki.ca, "/%s/pub" % b)
    assert st == 403, (st, body)
    # no TLS: the key is absent, NumericLessThan does not match
    with urllib.request.urlopen("http://127.0.0.1:%d/%s/pub" % (tls.plain_port, b),
                                timeout=10) as r:
        assert r.read() == b"hello"
    s3.delete_bucket_policy(Bucket=b)


def test_boto3_multipart(s3, tmp_path):
    from boto3.s3.transfer import TransferConfig
    b = new_bucket(s3)
    src = tmp_path / "mp.bin"
    src.write_bytes(os.urandom(12 * 1024 * 1024 + 7))
    tc = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024,
                        max_concurrency=3)
    s3.upload_file(str(src), b, "mp", Config=tc)
    back = tmp_path / "mp.back"
    s3.download_file(b, "mp", str(back), Config=tc)
    assert back.read_bytes() == src.read_bytes()
    assert "-" in s3.head_object(Bucket=b, Key="mp")["ETag"]  # really multipart


def test_boto3_refuses_unknown_ca(tls, tmp_path):
    other = PKI(tmp_path)  # a CA that did not sign the server's certificate
    c = s3_client(tls, other.ca)
    with pytest.raises(Exception) as e:
        c.list_buckets()
    assert "CERTIFICATE_VERIFY_FAILED" in str(e.value) or "SSL" in str(e.value)


def _aws_exes():
    out = []
    if os.path.exists("/usr/bin/aws"):
        out.append("/usr/bin/aws")
    p = shutil.which("aws")
    if p and os.path.realpath(p) != os.path.realpath("/usr/bin/aws"):
        out.append(p)
    return out


@pytest.mark.parametrize("exe", _aws_exes() or [None])
def test_aws_cli_ca_bundle(exe, tls, pki, s3, tmp_path):
    if exe is None:
        pytest.skip("aws CLI not installed")
    cfg = tmp_path / "aws-config"
    cfg.write_text("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n"
                   "    signature_version = s3v4\n")
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("AWS_PROFILE", None)
    env.pop("AWS_CA_BUNDLE", None)
    env.update(AWS_ACCESS_KEY_ID=tls.srv.access_key, AWS_SECRET_ACCESS_KEY=tls.srv.secret_key,
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(cfg),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), AWS_PAGER="",
               AWS_MAX_ATTEMPTS="1", AWS_EC2_METADATA_DISABLED="true")

    def aws(*args, ca=pki.ca):
        return subprocess.run([exe, "--endpoint-url", tls.endpoint, "--ca-bundle", ca] +
                              list(args), env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=CLI_TIMEOUT)

    b = "cli-%s" % uuid.uuid4().hex[:12]
    p = aws("s3", "mb", "s3://%s" % b)
    assert p.returncode == 0, p.stderr.decode()[-2000:]
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(9 * 1024 * 1024 + 5))  # over the CLI's 8 MiB: multipart
    assert aws("s3", "cp", str(src), "s3://%s/f.bin" % b).returncode == 0
    back = tmp_path / "f.back"
    p = aws("s3", "cp", "s3://%s/f.bin" % b, str(back))
    assert p.returncode == 0, p.stderr.decode()[-2000:]
    assert back.read_bytes() == src.read_bytes()
    # the wrong CA bundle fails verification
    other = PKI(tmp_path / "other")
    p = aws("s3", "ls", "s3://%s" % b, ca=other.ca)
    assert p.returncode != 0 and b"SSL" in p.stderr, p.stderr.decode()[-2000:]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_cacert_presigned(tls, pki, s3, tmp_path):
    b = new_bucket(s3)
    body = os.urandom(300000)
    s3.put_object(Bucket=b, Key="c", Body=body)
    url = s3.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "c"},
                                    ExpiresIn=300)
    assert url.startswith("https://")
    out = tmp_path / "c.out"
    p = subprocess.run(["curl", "-sS", "--fail", "--cacert", pki.ca, "-o", str(out), url],
                       stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 0, p.stderr.decode()
    assert out.read_bytes() == body
    # TLS 1.2 only, still fine (and an AEAD suite)
    p = subprocess.run(["curl", "-sS", "--fail", "--cacert", pki.ca, "--tls-max", "1.2",
                        "-o", "/dev/null", "-w", "%{http_code}", url],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 0 and p.stdout == b"200", p.stderr.decode()


@pytest.mark.skipif(shutil.which("rclone") is None, reason="rclone not installed")
def test_rclone_ca_cert(tls, pki, s3, tmp_path):
    b = new_bucket(s3)
    conf = tmp_path / "rclone.conf"
    conf.write_text(
        "[cairn]\ntype = s3\nprovider = Other\nenv_auth = false\n"
        "access_key_id = %s\nsecret_access_key = %s\nregion = us-east-1\n"
        "endpoint = %s\nforce_path_style = true\n" % (
            tls.srv.access_key, tls.srv.secret_key, tls.endpoint))
    src = tmp_path / "src"
    for i in range(20):
        d = src / ("d%d" % (i % 3))
        d.mkdir(parents=True, exist_ok=True)
        (d / ("f%d" % i)).write_bytes(os.urandom(1000 * i + 1))
    (src / "big").write_bytes(os.urandom(6 * 1024 * 1024))

    env = dict(os.environ)
    # rclone's S3 SDK would load AWS_CA_BUNDLE itself and fails on rclone's
    # transport; --ca-cert is rclone's own way.
    env.pop("AWS_CA_BUNDLE", None)

    def rclone(*args, check=True):
        p = subprocess.run(["rclone", "--config", str(conf), "--ca-cert", pki.ca,
                            "--retries", "1", "--low-level-retries", "1"] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=CLI_TIMEOUT,
                           env=env)
        if check:
            assert p.returncode == 0, p.stderr.decode()[-3000:]
        return p

    rclone("sync", str(src), "cairn:%s/r" % b)
    rclone("check", "--download", str(src), "cairn:%s/r" % b)
    back = tmp_path / "back"
    rclone("sync", "cairn:%s/r" % b, str(back))
    for p in src.rglob("*"):
        if p.is_file():
            assert (back / p.relative_to(src)).read_bytes() == p.read_bytes()


# ---- protocol mismatches ----

def test_plain_http_on_tls_port_is_answered(tls):
    with socket.create_connection(("127.0.0.1", tls.tls_port), timeout=10) as s:
        s.sendall(b"GET /_cairn/health/ready HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 400 "), data
    assert b"This port speaks TLS" in data
    assert b"Connection: close" in data
    assert wait_log(tls, r"plain HTTP from 127\.0\.0\.1 on the TLS port")


def test_tls_hello_on_plain_port_is_logged(tls, pki):
    assert tls.plain_port
    before = tls.log().count("op=HttpError")
    with socket.create_connection(("127.0.0.1", tls.plain_port), timeout=10) as s:
        with pytest.raises((ssl.SSLError, OSError)):
            client_ctx(pki.ca).wrap_socket(s, server_hostname="127.0.0.1")
    assert wait_log(tls, r"TLS handshake from 127\.0\.0\.1 on a plain-HTTP port")
    time.sleep(0.2)
    assert tls.log().count("op=HttpError") == before  # not a bogus access line


def test_plain_listener_serves_s3(tls, s3):
    b = new_bucket(s3)
    s3.put_object(Bucket=b, Key="k", Body=b"over tls")
    plain = boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % tls.plain_port,
                         region_name=REGION, aws_access_key_id=tls.srv.access_key,
                         aws_secret_access_key=tls.srv.secret_key,
                         config=Config(s3={"addressing_style": "path"},
                                       retries={"max_attempts": 1}))
    assert plain.get_object(Bucket=b, Key="k")["Body"].read() == b"over tls"


# ---- policy ----

def test_tls11_refused(tls, pki):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki.ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client offer 1.1 at all
    with socket.create_connection(("127.0.0.1", tls.tls_port), timeout=10) as s:
        with pytest.raises(ssl.SSLError):
            ctx.wrap_socket(s, server_hostname="127.0.0.1")
    assert wait_log(tls, r"TLS handshake with 127\.0\.0\.1 failed: .*(unsupported protocol|"
                    r"version)")
    if OPENSSL:
        p = subprocess.run([OPENSSL, "s_client", "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0",
                            "-connect", "127.0.0.1:%d" % tls.tls_port],
                           input=b"", stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=30)
        assert p.returncode != 0, p.stdout.decode()[-2000:]


def test_tls12_non_aead_refused_and_aead_preferred(tls, pki):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki.ca)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE-RSA-AES128-SHA:AES128-SHA256")  # CBC only
    with socket.create_connection(("127.0.0.1", tls.tls_port), timeout=10) as s:
        with pytest.raises(ssl.SSLError):
            ctx.wrap_socket(s, server_hostname="127.0.0.1")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki.ca)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    # the client prefers CHACHA20; the server's order (AES-GCM first) wins
    ctx.set_ciphers("ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256")
    with socket.create_connection(("127.0.0.1", tls.tls_port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
            assert t.version() == "TLSv1.2"
            assert t.cipher()[0] == "ECDHE-RSA-AES128-GCM-SHA256"
            assert t.compression() is None


def test_alpn_http11(tls, pki):
    ctx = client_ctx(pki.ca)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", tls.tls_port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
            assert t.selected_alpn_protocol() == "http/1.1"
            assert t.version() == "TLSv1.3"


def test_pipelined_requests_over_tls(tls, pki):
    """Two requests in one TLS write: the second waits in the session and in
    rbuf while the first is answered, then is served without another read."""
    req = b"GET /_cairn/health/ready HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", tls.tls_port), timeout=10) as s:
        with client_ctx(pki.ca).wrap_socket(s, server_hostname="127.0.0.1") as t:
            t.sendall(req * 3)
            data = b""
            deadline = time.monotonic() + 10
            while data.count(b"HTTP/1.1 200") < 3 and time.monotonic() < deadline:
                chunk = t.recv(65536)
                if not chunk:
                    break
                data += chunk
    assert data.count(b"HTTP/1.1 200") == 3, data


def test_handshake_deadline(pki, tmp_path):
    cert, key = pki.server_cert("hs", 0x77)
    ts = start_tls(tmp_path, cert, key, "--header-timeout-ms", "500")
    try:
        ts.wait(pki.ca)
        with socket.create_connection(("127.0.0.1", ts.tls_port), timeout=10) as s:
            t0 = time.monotonic()
            s.sendall(b"\x16\x03\x01")  # a record header, then nothing
            assert s.recv(100) == b""  # closed by the server, not our timeout
            assert time.monotonic() - t0 < 5
    finally:
        assert ts.srv.stop() == 0


def test_bad_certificate_refused_at_start(pki, tmp_path):
    cert, key = pki.server_cert("bad", 0x88)
    other_cert, _ = pki.server_cert("bad2", 0x89)
    ts = start_tls(tmp_path, other_cert, key)  # key does not match
    assert ts.srv.proc.wait(20) == 2
    assert "mismatch" in ts.log() or "does not match" in ts.log()
    assert not os.path.exists(ts.srv.data_dir)  # refused before touching the disk
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    ts = start_tls(tmp_path, str(junk), key)
    assert ts.srv.proc.wait(20) == 2
    assert "certificate %s" % junk in ts.log()


def test_busy_plain_port_writes_nothing(pki, tmp_path):
    """--listen-plain's port is held before anything is written, like --listen's."""
    cert, key = pki.server_cert("busy", 0x90)
    hold = socket.socket()
    hold.bind(("127.0.0.1", 0))
    hold.listen(1)
    try:
        ts = start_tls(tmp_path, cert, key, "--listen-plain",
                       "127.0.0.1:%d" % hold.getsockname()[1])
        assert ts.srv.proc.wait(20) == 2
        assert "cannot listen" in ts.log()
        assert not os.path.exists(ts.srv.data_dir)
    finally:
        hold.close()


# ---- reload ----

def test_reload_under_load(pki, tmp_path):
    cert_a, key_a = pki.server_cert("a", 0xA1)
    cert_b, key_b = pki.server_cert("b", 0xB2)
    live_cert = str(tmp_path / "live.pem")
    live_key = str(tmp_path / "live.key")
    shutil.copy(cert_a, live_cert)
    shutil.copy(key_a, live_key)
    ts = start_tls(tmp_path, live_cert, live_key)
    try:
        ts.wait(pki.ca)
        s3 = s3_client(ts, pki.ca)
        b = new_bucket(s3)
        body = os.urandom(200000)
        s3.put_object(Bucket=b, Key="k", Body=body)
        assert peer_serial(ts.tls_port, pki.ca) == 0xA1

        stop = threading.Event()
        errors, done = [], [0, 0]

        def keepalive_loop():  # one client, connections kept alive across the reload
            c = s3_client(ts, pki.ca)
            while not stop.is_set():
                try:
                    assert c.get_object(Bucket=b, Key="k")["Body"].read() == body
                    done[0] += 1
                except Exception as e:  # noqa: BLE001 - every failure counts
                    errors.append(repr(e))

        def fresh_loop():  # a new TLS connection per request
            while not stop.is_set():
                try:
                    st, _ = https_get(ts.tls_port, pki.ca, "/_cairn/health/ready")
                    assert st == 200
                    done[1] += 1
                except Exception as e:  # noqa: BLE001
                    errors.append(repr(e))

        threads = [threading.Thread(target=keepalive_loop), threading.Thread(target=fresh_loop)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        # replace both files (rename: never a half-written file), then SIGHUP
        shutil.copy(cert_b, live_cert + ".tmp")
        shutil.copy(key_b, live_key + ".tmp")
        os.rename(live_key + ".tmp", live_key)
        os.rename(live_cert + ".tmp", live_cert)
        ts.srv.signal(signal.SIGHUP)
        assert wait_log(ts, r"TLS certificate reloaded")
        time.sleep(0.5)
        assert peer_serial(ts.tls_port, pki.ca) == 0xB2

        # a bad pair keeps the current certificate, and says why
        with open(live_cert, "w") as f:
            f.write("garbage\n")
        ts.srv.signal(signal.SIGHUP)
        assert wait_log(ts, r"TLS reload failed, keeping the old certificate: certificate")
        time.sleep(0.5)
        assert peer_serial(ts.tls_port, pki.ca) == 0xB2
        stop.set()
        for t in threads:
            t.join(30)
        assert not errors, errors[:5]
        assert done[0] > 5 and done[1] > 5, done
    finally:
        code = ts.srv.stop()
    assert code == 0, ts.log()[-3000:]
