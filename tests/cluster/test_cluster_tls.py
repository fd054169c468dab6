"""Cluster internal traffic over TLS (issue 19): real processes behind the
ClusterProxy, every node started with --tls-cert/--tls-key.

  - 3 TLS nodes: objects erasure-coded over the three nodes (2+1) written and
    read back through every node (shard streams, remote reads and Raft all
    cross the cluster ports); the leader SIGKILLed, a new one elected and
    writes go on; the cluster port answers a plain-HTTP internal request
    with a refusal, never with the internal API;
  - a node that was down catches up through a snapshot install: the store
    copy streamed over TLS RPC (GET /_cairn/internal/snapshot to a file);
  - a new self-signed certificate (its own CA) swapped in on every node and
    SIGHUP: the listener and the client's bundle reload, and new internal
    connections (shard streams) work with it;
  - an internal client's first bytes are a TLS ClientHello (a fake peer
    records what a node sends it);
  - a node whose certificate the others do not trust is refused both ways,
    and the logs say why ("certificate verify failed");
  - a plain node among TLS nodes: the mismatch is logged on both sides, and
    nothing hangs.

    CAIRN_BIN=build/dev/cairn /usr/bin/python3 -m pytest -q tests/cluster/test_cluster_tls.py
"""
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import cluster_harness as harness  # noqa: E402
from test_cluster_data import all_shards, retry  # noqa: E402

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="openssl CLI missing")
MIB = 1 << 20


def self_signed(d, name):
    """A self-signed certificate for IP 127.0.0.1 (its own CA): (cert, key)."""
    cert, key = os.path.join(str(d), name + ".pem"), os.path.join(str(d), name + ".key")
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=cairn %s" % name,
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return cert, key


def wait_log(node, pattern, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(pattern, node.log())
        if m:
            return m
        time.sleep(0.1)
    raise AssertionError("%s: no /%s/ in its log:\n%s" % (node.name, pattern,
                                                          node.log()[-3000:]))


def wait_any_log(nodes, pattern, timeout=15):
    """The first of nodes whose log matches pattern (the leader is the one
    that dials everyone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for n in nodes:
            if re.search(pattern, n.log()):
                return n
        time.sleep(0.1)
    raise AssertionError("no /%s/ in the logs of %s:\n%s" % (
        pattern, [n.name for n in nodes], "\n".join(n.log()[-1500:] for n in nodes)))


def plain_internal_request(node):
    """A plain-HTTP internal request on node's cluster port: what comes back."""
    with socket.create_connection(("127.0.0.1", node.bind_port), timeout=5) as s:
        s.sendall(b"GET /_cairn/internal/status HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        try:
            while True:
                b = s.recv(4096)
                if not b:
                    break
                got += b
        except socket.timeout:
            pass
    return got


def test_tls_cluster_data_and_failover(cluster_factory, tmp_path):
    cert, key = self_signed(tmp_path, "cluster")
    c = cluster_factory(3, tls=(cert, key), extra_args=["--gc-grace-ms", "500"])
    n1, n2, n3 = c.slots[:3]
    for n in (n1, n2, n3):
        assert n.endpoint.startswith("https://")
        wait_log(n, r"internal traffic over TLS, peers verified against " + re.escape(cert))
        # the cluster port is TLS only: a plain internal request is refused
        # (a plain-text 400 saying so), never served
        got = plain_internal_request(n)
        assert got.startswith(b"HTTP/1.1 400"), got[:200]
        assert b"speaks TLS" in got and b"leader" not in got, got[:400]

    bucket = "tls-" + uuid.uuid4().hex[:8]
    retry(lambda: c.client(n1).create_bucket(Bucket=bucket))
    rnd = random.Random(19)
    objects = {}
    for i, node in enumerate((n1, n2, n3)):
        key_ = "o%d" % i
        objects[key_] = rnd.randbytes(3 * MIB + i)
        retry(lambda: c.client(node, read_timeout=30).put_object(Bucket=bucket, Key=key_,
                                                                 Body=objects[key_]))
    # every blob 2+1 over the three nodes: two shards of each went to other
    # nodes over TLS shard streams
    shards = all_shards(c)
    assert len(shards) == 3, shards
    for blob, where in shards.items():
        assert sorted(where) == [0, 1, 2] and len(set(where.values())) == 3, (blob, where)
    for node in (n1, n2, n3):      # remote shard reads over TLS RPC
        for k, v in objects.items():
            got = c.client(node, read_timeout=30).get_object(Bucket=bucket, Key=k)["Body"].read()
            assert got == v, (node.name, k)

    # the leader dies: Raft over TLS elects another, writes go on through it
    leader = c.leader()
    c.kill(leader)
    rest = [n for n in (n1, n2, n3) if n is not leader]
    new = c.leader(timeout=20, among=rest)
    assert new is not leader
    c.wait_ready(rest)
    for node in rest:
        k, v = "after-" + node.name, rnd.randbytes(MIB + 5)
        retry(lambda: c.client(node, read_timeout=30).put_object(Bucket=bucket, Key=k, Body=v))
        objects[k] = v
    for node in rest:
        for k, v in objects.items():
            got = retry(lambda: c.client(node, read_timeout=30).get_object(
                Bucket=bucket, Key=k)["Body"].read())
            assert got == v, (node.name, k)
    for node in rest:
        assert "certificate verify failed" not in node.log(), node.log()[-2000:]


def test_snapshot_install_over_tls(cluster_factory, tmp_path):
    cert, key = self_signed(tmp_path, "cluster")
    c = cluster_factory(3, tls=(cert, key), snapshot_threshold=32, snapshot_trailing=8)
    bucket = "snap-" + uuid.uuid4().hex[:8]
    retry(lambda: c.client(c.slots[0]).create_bucket(Bucket=bucket))
    leader = c.leader()
    lag, other = [n for n in c.slots[:3] if n is not leader]
    assert c.stop(lag) == 0
    expect = {}
    for i in range(150):
        k, v = "s/%03d" % i, ("value-%d" % i).encode()
        node = (leader, other)[i % 2]
        retry(lambda: c.client(node).put_object(Bucket=bucket, Key=k, Body=v), timeout=10)
        expect[k] = v
    c.restart(lag, timeout=30)
    log = lag.log()
    assert "installing a snapshot" in log or "installed a store copy" in log, log[-3000:]
    s3 = c.client(lag)
    for k, v in sorted(expect.items()):
        assert retry(lambda: s3.get_object(Bucket=bucket, Key=k)["Body"].read()) == v, k


def test_certificate_rotation_with_sighup(cluster_factory, tmp_path):
    """Self-signed: the certificate is its own CA bundle, so a renewal must
    reload both. New files on every node, SIGHUP, and writes that open new
    shard streams (fresh handshakes) go on."""
    cert, key = self_signed(tmp_path, "cluster")
    c = cluster_factory(3, tls=(cert, key))
    n1, n2, n3 = c.slots[:3]
    bucket = "rot-" + uuid.uuid4().hex[:8]
    retry(lambda: c.client(n1).create_bucket(Bucket=bucket))
    before = os.urandom(2 * MIB)
    retry(lambda: c.client(n2, read_timeout=30).put_object(Bucket=bucket, Key="before",
                                                           Body=before))
    new_dir = tmp_path / "new"
    new_dir.mkdir()
    ncert, nkey = self_signed(new_dir, "cluster")
    os.replace(nkey, key)
    os.replace(ncert, cert)
    for n in (n1, n2, n3):
        os.kill(n.pid, signal.SIGHUP)
    for n in (n1, n2, n3):
        wait_log(n, r"cluster CA bundle reloaded from " + re.escape(cert))
    objects = {"before": before}
    for n in (n1, n2, n3):
        k, v = "after-" + n.name, os.urandom(2 * MIB + 1)
        retry(lambda: c.client(n, read_timeout=30, cached=False).put_object(
            Bucket=bucket, Key=k, Body=v))
        objects[k] = v
    shards = all_shards(c)   # every shard stream worked: 2+1 on three nodes each
    assert len(shards) == 4, shards
    for blob, where in shards.items():
        assert sorted(where) == [0, 1, 2] and len(set(where.values())) == 3, (blob, where)
    for n in (n1, n2, n3):
        s3 = c.client(n, read_timeout=30, cached=False)
        for k, v in objects.items():
            assert s3.get_object(Bucket=bucket, Key=k)["Body"].read() == v, (n.name, k)


def test_internal_client_sends_tls_client_hello(tmp_path):
    """A fake peer records the first bytes a TLS node sends it (its Raft
    dialer and its probe of the peers): a TLS handshake record, 0x16 0x03."""
    harness_bin = harness.cairn_bin()
    if not os.path.exists(harness_bin):
        pytest.skip("no cairn binary")
    cert, key = self_signed(tmp_path, "solo")
    fake = socket.socket()
    fake.bind(("127.0.0.1", 0))
    fake.listen(8)
    fake.settimeout(15)
    fport = fake.getsockname()[1]
    me = socket.socket()
    me.bind(("127.0.0.1", 0))
    mport = me.getsockname()[1]
    me.close()
    firsts = []

    def accept():
        try:
            while len(firsts) < 2:
                conn, _ = fake.accept()
                conn.settimeout(5)
                try:
                    firsts.append(conn.recv(16))
                except OSError:
                    firsts.append(b"")
                conn.close()
        except OSError:
            pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    env = dict(os.environ, CAIRN_CLUSTER_SECRET=harness.CLUSTER_SECRET,
               CAIRN_ROOT_USER=harness.ACCESS_KEY, CAIRN_ROOT_PASSWORD=harness.SECRET_KEY)
    log = open(os.path.join(str(tmp_path), "solo.log"), "wb")
    p = subprocess.Popen([harness_bin, "server", "--listen", "127.0.0.1:0", "--quiet",
                          "--node", "127.0.0.1:%d" % mport,
                          "--peers", "127.0.0.1:%d,127.0.0.1:%d" % (mport, fport),
                          "--tls-cert", cert, "--tls-key", key, str(tmp_path / "data")],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        t.join(20)
    finally:
        p.kill()
        p.wait()
        log.close()
        fake.close()
    assert firsts, open(os.path.join(str(tmp_path), "solo.log")).read()[-2000:]
    for b in firsts:
        assert b[:2] == b"\x16\x03", firsts


def test_untrusted_node_refused(cluster_factory, tmp_path):
    """n3 presents a certificate n1 and n2 do not trust (and trusts only its
    own): it never joins, and both sides log why."""
    cert, key = self_signed(tmp_path, "cluster")
    other = self_signed(tmp_path, "stranger")
    c = cluster_factory(3, tls=(cert, key), start=False)
    n1, n2, n3 = c.slots[:3]
    n3.tls = other
    for n in (n1, n2, n3):
        c.start_node(n, wait=False)
    c.wait_ready([n1, n2], timeout=30)
    # the trusted pair (its leader) refuses n3's certificate when it dials it...
    wait_any_log([n1, n2], r"internal TLS handshake with %s failed: .*certificate verify "
                 r"failed" % re.escape(n3.address), timeout=20)
    # ...and n3 refuses theirs
    wait_log(n3, r"internal TLS handshake with 127\.0\.0\.1:\d+ failed: "
             r".*certificate verify failed", timeout=20)
    assert not n3.ready(), "n3 joined with an untrusted certificate"
    bucket = "tls-" + uuid.uuid4().hex[:8]
    retry(lambda: c.client(n1).create_bucket(Bucket=bucket))
    retry(lambda: c.client(n2).put_object(Bucket=bucket, Key="k", Body=b"v" * 1000))
    assert c.client(n1).get_object(Bucket=bucket, Key="k")["Body"].read() == b"v" * 1000
    assert not n3.ready()


def test_plain_node_among_tls_nodes_logged(cluster_factory, tmp_path):
    """A node started without --tls-cert among TLS nodes: each side says what
    is wrong, within seconds, and the TLS majority serves on."""
    cert, key = self_signed(tmp_path, "cluster")
    c = cluster_factory(3, tls=(cert, key), start=False)
    n1, n2, n3 = c.slots[:3]
    n3.tls = ()          # plain
    for n in (n1, n2, n3):
        c.start_node(n, wait=False)
    c.wait_ready([n1, n2], timeout=30)
    # TLS nodes dialling the plain one: their handshake gets plain HTTP back
    wait_any_log([n1, n2], r"internal TLS handshake with %s failed" % re.escape(n3.address),
                 timeout=20)
    # the plain node dialling TLS ones: refused with the TLS port's 400
    wait_log(n3, r"raft connection refused by peer: HTTP 400", timeout=20)
    assert not n3.ready()
