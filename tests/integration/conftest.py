"""
Integration-test fixtures: real cairn servers on loopback, real clients.

Fixtures
  server   session-wide server (object: endpoint, host, port, access_key,
           secret_key, data_dir, proc, log_path, stop(), log())
  s3       boto3 client for `server`: path-style, retries off, region us-east-1
  bucket   a fresh, uniquely named bucket created through `s3` for one test
  start_server  fixture returning start_server(tmp_path, *extra_args, env=None)
           that starts an extra, separately configured server; every server
           it started is stopped (and must exit 0) when the test ends
  raw_request   fixture returning the module function raw_request below

Helpers importable from tests (`from conftest import ...`)
  start_server(tmp_path, *extra_args, env=None, wait=True) -> Server
  raw_request(server, method, path, headers=None, body=b"", sign=True,
              query=None, timeout=10, region="us-east-1", payload_hash=None,
              date=None, access_key=None, secret_key=None) -> Response
  sign_headers(...)  -> dict of headers (SigV4 over exactly what is sent)
  make_client(server, **config) -> boto3 client
  metrics(server)    -> {series: value} of its /_cairn/metrics (promtext.parse)

The binary comes from $CAIRN_BIN (default build/cairn, relative to the repo
root). Servers listen on 127.0.0.1:0 and the real port is read from the
"S3 endpoint" line the server prints, so tests never race for ports.
Server stdout/stderr go to a log file in the data dir's parent, never to a
pipe (a chatty access log must not block on a full pipe).
"""
import datetime
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import types
import urllib.parse
import uuid

import boto3
import botocore
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if os.path.join(REPO, "tests") not in sys.path:
    sys.path.insert(0, os.path.join(REPO, "tests"))
import promtext  # noqa: E402
ACCESS_KEY = "cairntestkey"
SECRET_KEY = "cairn-test-secret-0123456789"
REGION = "us-east-1"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 30.0


def cairn_bin():
    b = os.environ.get("CAIRN_BIN", "build/cairn")
    if not os.path.isabs(b):
        b = os.path.join(REPO, b)
    return b


class Server:
    """One running cairn process. stop() sends SIGTERM and returns the exit code."""

    def __init__(self, proc, data_dir, log_path, access_key, secret_key):
        self.proc = proc
        self.data_dir = data_dir
        self.log_path = log_path
        self.access_key = access_key
        self.secret_key = secret_key
        self.host = "127.0.0.1"
        self.port = None
        self.endpoint = None
        self.exit_code = None
        self.log_offset = 0  # where this process's output starts in log_path

    def log(self):
        """Everything this server process printed so far (stdout and stderr)."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.log_offset)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_ready(self, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("cairn exited with %s during start:\n%s" %
                                   (self.proc.returncode, self.log()))
            if self.port is None:
                m = re.search(r"S3 endpoint http://([^:\s]+):(\d+)", self.log())
                if m:
                    self.host = m.group(1)
                    self.port = int(m.group(2))
                    self.endpoint = "http://%s:%d" % (self.host, self.port)
            if self.port is not None:
                try:
                    c = http.client.HTTPConnection(self.host, self.port, timeout=2)
                    c.request("GET", "/_cairn/health/ready")
                    st = c.getresponse().status
                    c.close()
                    if st == 200:
                        return
                except OSError:
                    pass
            time.sleep(0.02)
        raise RuntimeError("cairn not ready after %.0fs:\n%s" % (timeout, self.log()))

    def signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, wait, return the exit code (kill -9 if it hangs, then fail)."""
        if self.exit_code is not None:
            return self.exit_code
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.exit_code = self.proc.returncode
                raise RuntimeError("cairn did not stop within %ss after SIGTERM:\n%s"
                                   % (timeout, self.log()[-4000:]))
        self.exit_code = self.proc.returncode
        return self.exit_code

    def kill(self):
        """SIGKILL (crash tests); returns the exit code."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.exit_code = self.proc.returncode
        return self.exit_code


def spawn(data_dir, *extra_args, env=None, quiet=True, log_path=None,
          access_key=ACCESS_KEY, secret_key=SECRET_KEY, wait=True):
    """Start `cairn server` on DATA_DIR; returns a Server (ready when wait=True).

    env: extra environment; a value of None removes that variable (e.g. to
    test generated credentials: env={"CAIRN_ROOT_USER": None, ...}).
    """
    e = dict(os.environ)
    e["CAIRN_ROOT_USER"] = access_key
    e["CAIRN_ROOT_PASSWORD"] = secret_key
    for k, v in (env or {}).items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    args = [cairn_bin(), "server", "--listen", "127.0.0.1:0",
            "--gc-grace-ms", "0", "--gc-interval-ms", "200"]
    if quiet:
        args.append("--quiet")
    args += list(extra_args)
    args.append(str(data_dir))
    if log_path is None:
        log_path = str(data_dir).rstrip("/") + ".log"
    logf = open(log_path, "ab")
    offset = logf.tell()
    try:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=logf,
                                stderr=subprocess.STDOUT, env=e)
    finally:
        logf.close()
    srv = Server(proc, str(data_dir), log_path, e.get("CAIRN_ROOT_USER"),
                 e.get("CAIRN_ROOT_PASSWORD"))
    srv.log_offset = offset
    if wait:
        try:
            srv.wait_ready()
        except Exception:
            srv.kill()
            raise
    return srv


_extra_servers = []


def start_server(tmp_path, *extra_args, env=None, wait=True, quiet=True, data_dir=None):
    """Start an extra server with its own data dir under tmp_path.

    Stopped at the end of the test by the `start_server` fixture (which then
    asserts a clean exit). Pass data_dir to restart on an existing directory.
    """
    if data_dir is None:
        data_dir = os.path.join(str(tmp_path), "data-%s" % uuid.uuid4().hex[:8])
    srv = spawn(data_dir, *extra_args, env=env, wait=wait, quiet=quiet)
    _extra_servers.append(srv)
    return srv


def make_client(server, **config):
    cfg = dict(s3={"addressing_style": "path"},
               retries={"max_attempts": 1, "mode": "standard"},
               connect_timeout=5, read_timeout=30, signature_version="s3v4")
    cfg.update(config)
    return boto3.client("s3", endpoint_url=server.endpoint, region_name=REGION,
                        aws_access_key_id=server.access_key,
                        aws_secret_access_key=server.secret_key,
                        config=Config(**cfg))


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # dict with lower-case names
        self.body = body

    def error_code(self):
        m = re.search(rb"<Code>([^<]*)</Code>", self.body or b"")
        return m.group(1).decode() if m else None

    def error_message(self):
        m = re.search(rb"<Message>([^<]*)</Message>", self.body or b"")
        return m.group(1).decode() if m else None

    def __repr__(self):
        return "Response(%d %s, %r)" % (self.status, self.reason, self.body[:300])


class _Signer(S3SigV4Auth):
    """S3SigV4Auth whose payload hash can be fixed (UNSIGNED-PAYLOAD, STREAMING-...)."""
    fixed_payload = None

    def payload(self, request):
        if self.fixed_payload is not None:
            return self.fixed_payload
        return super().payload(request)


def _with_clock(when, fn, *args):
    """Run fn with botocore's signing clock pinned to `when` (aware UTC datetime)."""
    naive = when.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    real = datetime.datetime

    class Fixed(real):
        @classmethod
        def utcnow(cls):
            return naive

        @classmethod
        def now(cls, tz=None):
            return naive if tz is None else naive.replace(tzinfo=datetime.timezone.utc)

    saved = {}
    if hasattr(botocore.auth, "get_current_datetime"):  # newer botocore
        saved["get_current_datetime"] = botocore.auth.get_current_datetime
        botocore.auth.get_current_datetime = lambda *a, **k: naive
    saved["datetime"] = botocore.auth.datetime
    botocore.auth.datetime = types.SimpleNamespace(datetime=Fixed, timezone=datetime.timezone,
                                                   timedelta=datetime.timedelta)
    try:
        return fn(*args)
    finally:
        for k, v in saved.items():
            setattr(botocore.auth, k, v)


def sign_headers(server, method, path, headers=None, body=b"", query=None,
                 region=REGION, payload_hash=None, date=None, access_key=None,
                 secret_key=None, host=None):
    """SigV4-sign a request exactly as it will be sent; returns the header dict.

    path is the raw (already percent-encoded) path; query a dict or list of
    pairs, or a raw string. payload_hash overrides X-Amz-Content-SHA256 (e.g.
    'UNSIGNED-PAYLOAD' or a streaming marker); date (datetime, UTC) overrides
    the signing clock (for skew tests).
    """
    headers = dict(headers or {})
    if isinstance(query, (dict, list)):
        qs = urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
    else:
        qs = query or ""
    url = "http://%s%s%s" % (host or "%s:%d" % (server.host, server.port), path,
                             "?" + qs if qs else "")
    creds = Credentials(access_key or server.access_key, secret_key or server.secret_key)
    req = AWSRequest(method=method, url=url, data=body, headers=headers)
    if host:
        req.headers["Host"] = host
    auth = _Signer(creds, "s3", region)
    auth.fixed_payload = payload_hash
    if date is None:
        auth.add_auth(req)
    else:
        _with_clock(date, auth.add_auth, req)
    out = {}
    for k, v in req.headers.items():
        out[k] = v.decode() if isinstance(v, bytes) else v
    return out


def raw_request(server, method, path, headers=None, body=b"", sign=True, query=None,
                timeout=10, region=REGION, payload_hash=None, date=None,
                access_key=None, secret_key=None, host=None):
    """Send one request over http.client, SigV4-signed by hand unless sign=False.

    Lets tests send headers or bodies a given boto3 cannot. Returns a
    Response(status, reason, headers{lower-case}, body bytes).
    """
    if isinstance(body, str):
        body = body.encode()
    if isinstance(query, (dict, list)):
        qs = urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
    else:
        qs = query or ""
    if sign:
        hdrs = sign_headers(server, method, path, headers, body, qs, region,
                            payload_hash, date, access_key, secret_key, host)
    else:
        hdrs = dict(headers or {})
        if host:
            hdrs["Host"] = host
    conn = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    try:
        target = path + ("?" + qs if qs else "")
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        names = {k.lower() for k in hdrs}
        if "host" not in names:
            conn.putheader("Host", "%s:%d" % (server.host, server.port))
        if body and "content-length" not in names and "transfer-encoding" not in names:
            conn.putheader("Content-Length", str(len(body)))
        elif not body and method in ("PUT", "POST") and "content-length" not in names \
                and "transfer-encoding" not in names:
            conn.putheader("Content-Length", "0")
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders(body if body else None)
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, resp.reason,
                        {k.lower(): v for k, v in resp.getheaders()}, data)
    finally:
        conn.close()


# ---- fixtures ----

@pytest.fixture(scope="session")
def server():
    base = tempfile.mkdtemp(prefix="cairn-it-")
    srv = spawn(os.path.join(base, "data"))
    yield srv
    code = srv.stop()
    assert code == 0, "server exited with %s:\n%s" % (code, srv.log()[-4000:])
    # kept for a look when the server failed; ~450 MB after a full run
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def s3(server):
    return make_client(server)


@pytest.fixture
def bucket(s3):
    name = "t-%s" % uuid.uuid4().hex[:20]
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture(name="start_server")
def start_server_fixture():
    first = len(_extra_servers)
    yield start_server
    mine = _extra_servers[first:]
    del _extra_servers[first:]
    bad = []
    for srv in mine:
        if srv.exit_code is not None:
            continue  # the test stopped or killed it and judged the result
        code = srv.stop()
        if code != 0:
            bad.append((code, srv.log()[-2000:]))
    assert not bad, "extra server(s) exited uncleanly: %r" % bad


def metrics(server):
    """The samples of server's /_cairn/metrics page (unsigned, as a scraper asks)."""
    r = raw_request(server, "GET", "/_cairn/metrics", sign=False)
    assert r.status == 200, r.body[:500]
    return promtext.parse(r.body.decode())


@pytest.fixture(name="raw_request")
def raw_request_fixture():
    return raw_request
