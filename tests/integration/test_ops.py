"""
Operating the server: health and metrics endpoints, the access log, command
line errors, graceful SIGTERM with an upload in flight, generated root
credentials persisted 0600 and reused.
"""
import os
import re
import socket
import stat
import subprocess
import threading
import time

import pytest

from conftest import cairn_bin, make_client, raw_request, sign_headers, spawn


def test_health_unauthenticated(server):
    for path, body in (("/_cairn/health/live", b"ok"), ("/_cairn/health/ready", b"ready")):
        r = raw_request(server, "GET", path, sign=False)
        assert r.status == 200, r
        assert r.body.strip() == body


def test_threads_are_named(server, s3, bucket):
    """top -H, perf and gdb tell the server's threads apart: each long-lived
    one is named for its job (Linux keeps 15 bytes of a name)."""
    body = os.urandom(1 << 20)  # past the inline threshold: data files, pool jobs
    s3.put_object(Bucket=bucket, Key="t", Body=body)
    assert s3.get_object(Bucket=bucket, Key="t")["Body"].read() == body
    task = "/proc/%d/task" % server.proc.pid
    names = []
    for tid in os.listdir(task):
        try:
            with open(os.path.join(task, tid, "comm")) as f:
                names.append(f.read().strip())
        except FileNotFoundError:  # a thread that just ended
            pass
    # one of each (a helper that named the thread it was called on would
    # leave one missing and another doubled)
    for want in ("cairn-meta", "cairn-http0", "cairn-gc", "cairn-scrub", "cairn-lifecycle"):
        assert names.count(want) == 1, (want, sorted(names))
    assert "cairn-pool" in names, sorted(names)
    assert names.count("cairn") >= 1  # the main thread keeps the program's name


def test_metrics(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="m", Body=b"metrics")
    s3.get_object(Bucket=bucket, Key="m")["Body"].read()
    hold = socket.create_connection((server.host, server.port))  # an open connection
    try:
        r = raw_request(server, "GET", "/_cairn/metrics", sign=False)
    finally:
        hold.close()
    assert r.status == 200
    text = r.body.decode()
    assert r.headers["content-type"].startswith("text/plain")
    m = re.search(r'^cairn_requests_total\{op="PutObject",status="200"\} (\d+)$', text, re.M)
    assert m and int(m.group(1)) >= 1, text[:2000]
    assert re.search(r'^cairn_requests_total\{op="GetObject",status="200"\} \d+$', text, re.M)
    assert "# TYPE cairn_request_duration_seconds histogram" in text
    assert re.search(r'^cairn_request_duration_seconds_bucket\{op="PutObject",le="\+Inf"\} \d+$',
                     text, re.M)
    assert re.search(r'^cairn_request_duration_seconds_count\{op="GetObject"\} \d+$', text, re.M)
    m = re.search(r"^cairn_open_connections (\d+)$", text, re.M)
    assert m and int(m.group(1)) >= 2  # the held one and this request's own
    # the background work: scrub, drive rebuild, GC (one node: no cluster lines)
    for name in ("cairn_scrub_shards_rebuilt_total", "cairn_heal_queue",
                 "cairn_rebuild_bytes_remaining", "cairn_gc_deleted_total"):
        assert re.search(r"^%s \d+$" % name, text, re.M), name
    assert "cairn_heal_entries" not in text and "cairn_rebalance" not in text
    # Every sample line is "name{labels} value" or "name value".
    for line in text.splitlines():
        if line and not line.startswith("#"):
            assert re.match(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+0-9.eE]+(Inf)?$', line), line


def test_access_log(start_server, tmp_path):
    srv = start_server(tmp_path, quiet=False)
    c = make_client(srv)
    c.create_bucket(Bucket="logged")
    c.put_object(Bucket="logged", Key="a/b", Body=b"12345")
    assert srv.stop() == 0
    log = srv.log()
    lines = [ln for ln in log.splitlines() if "access" in ln]
    assert any("PUT" in ln and "op=CreateBucket" in ln and " 200 " in ln for ln in lines), log
    assert any("op=PutObject" in ln and "in=5" in ln for ln in lines), log


def test_quiet_has_no_access_log(start_server, tmp_path):
    srv = start_server(tmp_path)
    make_client(srv).list_buckets()
    assert srv.stop() == 0
    assert "op=ListBuckets" not in srv.log()


def _run(args, env=None, timeout=20):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([cairn_bin()] + args, capture_output=True, text=True,
                          timeout=timeout, env=e)


@pytest.mark.parametrize("args", [
    ["server", "--no-such-flag", "DIR"],
    ["server", "--listen", "nonsense", "DIR"],
    ["server", "--workers", "0", "DIR"],
    ["server", "--fsync", "sometimes", "DIR"],
    ["server"],
    ["frobnicate"],
])
def test_bad_command_line_exits_2(tmp_path, args):
    args = [str(tmp_path / "d") if a == "DIR" else a for a in args]
    r = _run(args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.strip(), "no error message"
    assert not (tmp_path / "d").exists()


def test_unusable_data_dir_exits_2(tmp_path):
    f = tmp_path / "file"
    f.write_text("not a directory")
    r = _run(["server", "--listen", "127.0.0.1:0", str(f / "sub")])
    assert r.returncode == 2, (r.returncode, r.stderr)
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and str(f / "sub") in err[0], r.stderr


def test_port_in_use_exits_2(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        r = _run(["server", "--listen", "127.0.0.1:%d" % port, str(tmp_path / "d")],
                 env={"CAIRN_ROOT_USER": "user1", "CAIRN_ROOT_PASSWORD": "password123"})
    finally:
        s.close()
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "listen" in r.stderr


def test_sigterm_lets_slow_upload_finish(start_server, tmp_path):
    srv = start_server(tmp_path)
    c = make_client(srv)
    c.create_bucket(Bucket="graceful")
    data = os.urandom(256 * 1024)
    path = "/graceful/slow"
    h = sign_headers(srv, "PUT", path, body=data)
    head = ["PUT %s HTTP/1.1" % path, "Content-Length: %d" % len(data),
            "Host: %s:%d" % (srv.host, srv.port)]
    head += ["%s: %s" % kv for kv in h.items()]
    sock = socket.create_connection((srv.host, srv.port), timeout=20)
    result = {}

    def upload():
        try:
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            step = 16 * 1024
            for i in range(0, len(data), step):
                sock.sendall(data[i:i + step])
                if i == 4 * step:
                    started.set()
                time.sleep(0.05)
            resp = b""
            while b"\r\n\r\n" not in resp:
                d = sock.recv(4096)
                if not d:
                    break
                resp += d
            result["resp"] = resp
        except OSError as e:
            result["err"] = e
        finally:
            started.set()

    started = threading.Event()
    t = threading.Thread(target=upload)
    t.start()
    assert started.wait(10)
    srv.signal(15)  # SIGTERM mid-body
    t.join(30)
    sock.close()
    # No second SIGTERM: the first one alone must bring the server down.
    code = srv.proc.wait(30)
    srv.exit_code = code
    assert "err" not in result, (result, srv.log())
    assert result["resp"].startswith(b"HTTP/1.1 200"), result["resp"][:200]
    assert code == 0, srv.log()
    # The acknowledged upload survives a restart.
    again = spawn(srv.data_dir)
    try:
        got = make_client(again).get_object(Bucket="graceful", Key="slow")["Body"].read()
        assert got == data
    finally:
        assert again.stop() == 0


def test_generated_credentials_persist(start_server, tmp_path):
    no_env = {"CAIRN_ROOT_USER": None, "CAIRN_ROOT_PASSWORD": None}
    d = str(tmp_path / "gen")
    srv = start_server(tmp_path, env=no_env, data_dir=d)
    cred = os.path.join(d, ".cairn", "credentials")
    st = os.stat(cred)
    assert stat.S_IMODE(st.st_mode) == 0o600
    log = srv.log()
    key = re.search(r"access key (\S+)", log).group(1)
    secret = re.search(r"secret key (\S+)", log).group(1)
    assert key and secret and key != "cairntestkey"
    srv.access_key, srv.secret_key = key, secret
    make_client(srv).create_bucket(Bucket="gen-bucket")
    assert srv.stop() == 0
    content = open(cred).read()
    assert key in content and secret in content

    again = start_server(tmp_path, env=no_env, data_dir=d)
    again.access_key, again.secret_key = key, secret
    names = [b["Name"] for b in make_client(again).list_buckets()["Buckets"]]
    assert "gen-bucket" in names
    assert stat.S_IMODE(os.stat(cred).st_mode) == 0o600
    r = raw_request(again, "GET", "/", access_key="cairntestkey",
                    secret_key="cairn-test-secret-0123456789")
    assert r.status == 403
