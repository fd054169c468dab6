"""Tests of tests/cluster/netproxy.py alone: small HTTP/echo servers written
here stand in for cairn nodes (no cairn binary needed).

    /usr/bin/python3 -m pytest -q tests/cluster/test_netproxy.py
"""
import contextlib
import hashlib
import http.client
import json
import os
import socket
import sys
import threading
import time
import types

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from netproxy import CLIENT, ClusterProxy, free_ports  # noqa: E402

HOST = "127.0.0.1"
SILENCE = 0.25     # how long "silent" must last
UPGRADE_RESPONSE = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: cairn-raft\r\n"
                    b"Connection: Upgrade\r\n\r\n")
MiB = 1 << 20


# ---------------------------------------------------------------- servers

def read_head(sock, buf):
    """Read until the end of a header block; returns it (buf keeps the rest)."""
    while True:
        i = buf.find(b"\r\n\r\n")
        if i >= 0:
            head = bytes(buf[:i + 4])
            del buf[:i + 4]
            return head
        data = sock.recv(65536)
        if not data:
            return None
        buf += data


def parse_head(head):
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers.setdefault(k.strip().lower(), v.strip())
    return method, path, headers


def serve(sock, rec, backend):
    """A node stand-in: HTTP/1.1 keep-alive; `Upgrade: cairn-raft` -> 101 + echo.

    GET /big/<n> answers n bytes of backend.blob. Every other request
    answers JSON describing what arrived.
    """
    buf = bytearray()
    while True:
        head = read_head(sock, buf)
        if head is None:
            return
        method, path, h = parse_head(head)
        rec["requests"].append((method, path, h, head))
        if h.get("upgrade", "").lower() == "cairn-raft":
            sock.sendall(UPGRADE_RESPONSE)
            data = bytes(buf)
            while True:
                if data:
                    if len(rec["raw"]) < MiB:
                        rec["raw"] += data[:MiB]
                    rec["sha"].update(data)
                    rec["raw_len"] += len(data)
                    sock.sendall(data)
                data = sock.recv(256 * 1024)
                if not data:
                    sock.shutdown(socket.SHUT_WR)
                    return
        n = int(h.get("content-length", "0"))
        while len(buf) < n:
            data = sock.recv(65536)
            if not data:
                return
            buf += data
        body = bytes(buf[:n])
        del buf[:n]
        if path.startswith("/big/"):
            size = int(path[5:])
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
            view = memoryview(backend.blob)[:size]
            for i in range(0, size, MiB):
                sock.sendall(view[i:i + MiB])
            continue
        out = json.dumps({"conn": rec["id"], "n": len(rec["requests"]), "path": path,
                          "node": h.get("x-cairn-node"), "len": len(body),
                          "sha": hashlib.sha256(body).hexdigest()}).encode()
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(out) + out)


class Backend:
    """A threaded server on HOST:port (a node's bind address)."""

    def __init__(self, port):
        self.lsock = socket.create_server((HOST, port), backlog=1024)
        self.lsock.settimeout(0.05)
        self.blob = b""
        self.records = []
        self.socks = []
        self.threads = []
        self.stopping = False
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    @property
    def accepted(self):
        return len(self.records)

    def _accept_loop(self):
        while not self.stopping:
            try:
                s, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            s.settimeout(None)
            rec = {"id": len(self.records) + 1, "requests": [], "raw": bytearray(),
                   "raw_len": 0, "sha": hashlib.sha256(), "closed": None, "error": None}
            t = threading.Thread(target=self._serve, args=(s, rec), daemon=True)
            self.records.append(rec)
            self.socks.append(s)
            self.threads.append(t)
            t.start()

    def _serve(self, s, rec):
        try:
            serve(s, rec, self)
        except OSError as e:
            rec["error"] = e
        finally:
            rec["closed"] = time.monotonic()
            s.close()

    def join_conns(self, timeout=5):
        for t in list(self.threads):
            t.join(timeout)
            assert not t.is_alive(), "backend connection still open"

    def stop(self):
        self.stopping = True
        self.thread.join()
        self.lsock.close()
        for s in self.socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        self.join_conns()


# ---------------------------------------------------------------- clients

def upgrade_request(proxy, src, dst):
    node = f"X-Cairn-Node: {proxy.address(src)}\r\n" if src != CLIENT else ""
    return (f"GET /_cairn/raft HTTP/1.1\r\nHost: {proxy.address(dst)}\r\n"
            f"Upgrade: cairn-raft\r\nConnection: Upgrade\r\n{node}\r\n").encode()


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        data = sock.recv(min(n - len(buf), MiB))
        if not data:
            raise EOFError(f"EOF after {len(buf)} of {n} bytes")
        buf += data
    return bytes(buf)


def recv_head(sock):
    buf = bytearray()
    while b"\r\n\r\n" not in buf:
        data = sock.recv(1)
        if not data:
            raise EOFError(bytes(buf))
        buf += data
    return bytes(buf)


def roundtrip(sock, payload=b"ping", timeout=3):
    sock.settimeout(timeout)
    start = time.monotonic()
    sock.sendall(payload)
    assert recv_exact(sock, len(payload)) == payload
    return time.monotonic() - start


def echo_check(sock, data, timeout=20):
    """Send data from a thread while reading the echo here; returns seconds."""
    sock.settimeout(timeout)
    err = []

    def send():
        try:
            sock.sendall(data)
        except OSError as e:
            err.append(e)
    start = time.monotonic()
    t = threading.Thread(target=send)
    t.start()
    h = hashlib.sha256()
    got = 0
    while got < len(data):
        chunk = sock.recv(MiB)
        if not chunk:
            break
        h.update(chunk)
        got += len(chunk)
    elapsed = time.monotonic() - start
    t.join()
    assert not err, err
    assert got == len(data)
    assert h.digest() == hashlib.sha256(data).digest()
    return elapsed


def assert_silent(sock, payload=b"lost?", wait=SILENCE):
    """Data goes out, nothing comes back, and the connection stays open."""
    sock.settimeout(wait)
    if payload:
        sock.sendall(payload)
    with pytest.raises(socket.timeout):
        data = sock.recv(1)
        pytest.fail(f"expected silence, got {'EOF' if not data else data!r}")


def assert_closed(sock, wait=3):
    """The connection ends (RST or EOF) within wait; returns which."""
    sock.settimeout(wait)
    try:
        while True:
            if not sock.recv(65536):
                return "eof"
    except (ConnectionResetError, BrokenPipeError):
        return "reset"


def wait_for(pred, timeout=3, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


class Net(types.SimpleNamespace):
    def connect(self, src, dst, upgrade=True):
        s = socket.create_connection((HOST, self.proxy.port(dst)), timeout=3)
        self.socks.append(s)
        if upgrade:
            s.sendall(upgrade_request(self.proxy, src, dst))
            assert recv_head(s) == UPGRADE_RESPONSE
        return s

    def connect_silent(self, src, dst):
        """A new connection for a cut pair: accepted, then nothing."""
        s = socket.create_connection((HOST, self.proxy.port(dst)), timeout=3)
        self.socks.append(s)
        s.sendall(upgrade_request(self.proxy, src, dst))
        assert_silent(s, payload=None)
        return s

    def http(self, dst):
        c = http.client.HTTPConnection(HOST, self.proxy.port(dst), timeout=3)
        self.socks.append(c)
        return c


def make_net(n=3, **kw):
    ports = free_ports(2 * n)
    nodes = {f"n{i + 1}": (ports[2 * i], ports[2 * i + 1]) for i in range(n)}
    backends = {name: Backend(b) for name, (_, b) in nodes.items()}
    proxy = ClusterProxy(nodes, **kw).start()
    return Net(proxy=proxy, b=backends, socks=[])


def close_net(net):
    for s in net.socks:
        s.close()
    try:
        net.proxy.stop()
    finally:
        for b in net.b.values():
            b.stop()


@pytest.fixture
def net():
    net = make_net()
    try:
        yield net
    finally:
        close_net(net)


# ---------------------------------------------------------------- tests

def test_free_ports():
    ports = free_ports(8)
    assert len(set(ports)) == 8
    socks = []
    try:
        for p in ports:
            s = socket.socket()
            socks.append(s)
            s.bind((HOST, p))
            s.listen()
    finally:
        for s in socks:
            s.close()


def test_config_and_validation():
    with pytest.raises(ValueError):
        ClusterProxy({"n1": (1000, 1000)})
    with pytest.raises(ValueError):
        ClusterProxy({"client": (1000, 1001)})
    with pytest.raises(ValueError):
        ClusterProxy({"n1": (1000, 1001)}, mode="explode")
    p = ClusterProxy({"n1": (1000, 1001), "n2": (1002, 1003)})
    assert p.address("n1") == "127.0.0.1:1000"
    assert p.bind_address("n2") == "127.0.0.1:1003"
    with pytest.raises(ValueError):
        p.block("n1", "n9")
    # rules can be set before start (and are kept)
    p.block("n1", "n2", both_ways=False)
    assert p.stats()["rules"] == {("n1", "n2"): "drop"}
    p.heal()
    assert p.stats()["rules"] == {}


def test_upgrade_forwarding_is_byte_exact(net):
    p = net.proxy
    s = net.connect("n1", "n2")
    payloads = [bytes(range(256)) * 4, b"\0", os.urandom(70000),
                b"\r\n\r\nHTTP/1.1 200 OK\r\nX-Cairn-Node: 127.0.0.1:1\r\n\r\n",
                os.urandom(3 * MiB + 17)]
    for data in payloads:
        echo_check(s, data)
    rec = net.b["n2"].records[0]
    method, path, h, head = rec["requests"][0]
    assert head == upgrade_request(p, "n1", "n2")       # the server saw exactly what we sent
    assert h["x-cairn-node"] == p.address("n1")
    allbytes = b"".join(payloads)
    assert rec["raw_len"] == len(allbytes)
    assert rec["sha"].digest() == hashlib.sha256(allbytes).digest()
    assert bytes(rec["raw"][:1024]) == payloads[0]
    [c] = p.connections()
    assert (c["src"], c["dst"], c["state"]) == ("n1", "n2", "open")
    st = p.stats()
    assert st["bytes"][("n1", "n2")] == len(upgrade_request(p, "n1", "n2")) + len(allbytes)
    assert st["bytes"][("n2", "n1")] == len(UPGRADE_RESPONSE) + len(allbytes)
    assert st["open"] == {("n1", "n2"): 1}
    # half-close travels: our FIN reaches the server, whose FIN comes back
    s.shutdown(socket.SHUT_WR)
    assert s.recv(10) == b""
    wait_for(lambda: p.stats()["connections_open"] == 0, what="connection closed")
    text = p.describe()
    assert "n1=>n2" in text and p.address("n1") in text


def test_keepalive_and_source_identification(net):
    p = net.proxy
    c = net.http("n2")
    for i in range(5):
        body = os.urandom(i * 1000)
        c.request("POST", f"/r{i}", body=body, headers={"X-Cairn-Node": p.address("n1")})
        r = c.getresponse()
        j = json.loads(r.read())
        assert r.status == 200
        assert (j["conn"], j["n"], j["path"]) == (1, i + 1, f"/r{i}")
        assert j["sha"] == hashlib.sha256(body).hexdigest()
        assert j["node"] == p.address("n1")
    assert net.b["n2"].accepted == 1
    assert p.stats()["opened"] == {("n1", "n2"): 1}

    # no header: "client"; a header on a later request does not count
    c2 = net.http("n2")
    c2.request("GET", "/a")
    c2.getresponse().read()
    c2.request("GET", "/b", headers={"X-Cairn-Node": p.address("n3")})
    assert json.loads(c2.getresponse().read())["n"] == 2

    # lower-case name, "localhost", the head dribbled a byte at a time
    s = socket.create_connection((HOST, p.port("n2")), timeout=3)
    net.socks.append(s)
    req = (f"GET /x HTTP/1.1\r\nHost: h\r\nx-cairn-node:   localhost:{p.port('n3')}  \r\n"
           "\r\n").encode()
    for i in range(len(req)):
        s.sendall(req[i:i + 1])
    head = recv_head(s)
    assert head.startswith(b"HTTP/1.1 200 OK")

    # a head longer than 64 KiB: "client", forwarded intact anyway
    s = socket.create_connection((HOST, p.port("n1")), timeout=3)
    net.socks.append(s)
    big = ("GET /big-head HTTP/1.1\r\nHost: h\r\nX-Filler: " + "f" * 70000 +
           f"\r\nX-Cairn-Node: {p.address('n3')}\r\n\r\n").encode()
    s.sendall(big)
    assert recv_head(s).startswith(b"HTTP/1.1 200 OK")
    assert net.b["n1"].records[0]["requests"][0][3] == big

    # an address that is no configured node keeps its own label
    s = socket.create_connection((HOST, p.port("n1")), timeout=3)
    net.socks.append(s)
    s.sendall(b"GET /u HTTP/1.1\r\nX-Cairn-Node: 10.9.9.9:1\r\n\r\n")
    assert recv_head(s).startswith(b"HTTP/1.1 200 OK")

    st = p.stats()
    assert st["opened"] == {("n1", "n2"): 1, (CLIENT, "n2"): 1, ("n3", "n2"): 1,
                            (CLIENT, "n1"): 1, ("10.9.9.9:1", "n1"): 1}
    assert st["unknown_sources"] == {"10.9.9.9:1": 1}


def test_partition_drop(net):
    p = net.proxy
    s12, s13, s23, s31 = (net.connect(a, b) for a, b in
                          [("n1", "n2"), ("n1", "n3"), ("n2", "n3"), ("n3", "n1")])
    c2 = net.connect(CLIENT, "n2")
    for s in (s12, s13, s23, s31, c2):
        roundtrip(s)
    accepted = {n: b.accepted for n, b in net.b.items()}

    p.partition(["n1", "n3"], ["n2"])
    for s in (s13, s31, c2):                 # same side, and clients: unaffected
        roundtrip(s)
    assert_silent(s12, b"lost-12")
    assert_silent(s23, b"lost-23")
    new12 = net.connect_silent("n1", "n2")   # accepted by the proxy, never delivered
    new32 = net.connect_silent("n3", "n2")
    assert net.b["n2"].accepted == accepted["n2"]
    rec12 = net.b["n2"].records[0]
    assert b"lost" not in rec12["raw"] and rec12["closed"] is None
    st = p.stats()
    assert st["blackholed"] == 4
    assert st["dropped"][("n1", "n2")] >= len(b"lost-12")
    assert set(st["rules"]) == {("n1", "n2"), ("n2", "n1"), ("n3", "n2"), ("n2", "n3")}

    p.heal()
    for s in (s12, s23, new12, new32):       # black-holed: closed so endpoints reconnect
        assert assert_closed(s) == "reset"
    wait_for(lambda: rec12["closed"] is not None, what="server side of s12 closed")
    s = net.connect("n1", "n2")
    roundtrip(s, b"after heal")
    roundtrip(s13)
    assert p.stats()["blackholed"] == 0


def test_reset_mode(net):
    p = net.proxy
    s12, s13, s21 = net.connect("n1", "n2"), net.connect("n1", "n3"), net.connect("n2", "n1")
    p.block("n1", "n2", mode="reset")
    for s in (s12, s21):
        s.settimeout(3)
        with pytest.raises(ConnectionResetError):
            s.recv(1)
    roundtrip(s13)
    # a new connection is accepted, then reset once its first head is in
    s = socket.create_connection((HOST, p.port("n2")), timeout=3)
    net.socks.append(s)
    with pytest.raises((ConnectionResetError, BrokenPipeError)):
        s.sendall(upgrade_request(p, "n1", "n2"))
        s.recv(1)
    # default mode switched to reset; re-blocking a black-holed pair resets it
    s32 = net.connect("n3", "n2")
    p.block("n3", "n2")                       # drop
    assert_silent(s32)
    p.mode = "reset"
    p.block("n3", "n2")
    assert assert_closed(s32) == "reset"
    p.isolate("n3")
    assert assert_closed(s13) == "reset"
    assert p.stats()["reset"] >= 5
    p.heal()
    roundtrip(net.connect("n1", "n2"))


def test_block_one_direction(net):
    p = net.proxy
    s12, s21 = net.connect("n1", "n2"), net.connect("n2", "n1")
    p.block("n1", "n2", both_ways=False)
    assert p.blocked("n1", "n2") == "drop" and p.blocked("n2", "n1") is None
    assert_silent(s12)
    roundtrip(s21)
    roundtrip(net.connect("n2", "n1"))
    net.connect_silent("n1", "n2")
    p.unblock("n1", "n2", both_ways=False)
    assert assert_closed(s12) == "reset"
    roundtrip(net.connect("n1", "n2"))
    roundtrip(s21)                            # never touched


def test_isolate_with_and_without_clients(net):
    p = net.proxy
    c3, c1 = net.connect(CLIENT, "n3"), net.connect(CLIENT, "n1")
    s13, s12 = net.connect("n1", "n3"), net.connect("n1", "n2")
    p.isolate("n3")
    roundtrip(c3)
    roundtrip(s12)
    assert_silent(s13)
    p.isolate("n3", clients=True)             # replaces the cuts; s13 stays cut, not closed
    assert_silent(c3)
    assert_silent(s13, payload=None)
    roundtrip(c1)
    roundtrip(s12)
    net.connect_silent(CLIENT, "n3")
    h = net.http("n1")
    h.request("GET", "/still-fine")
    assert h.getresponse().status == 200
    p.heal()
    assert assert_closed(c3) == "reset"
    roundtrip(net.connect(CLIENT, "n3"))


def test_bridge_is_nontransitive(net):
    p = net.proxy
    socks = {(a, b): net.connect(a, b) for a in p.nodes for b in p.nodes if a != b}
    p.bridge(["n1"], ["n2"], "n3")
    assert p.stats()["rules"] == {("n1", "n2"): "drop", ("n2", "n1"): "drop"}
    for (a, b), s in socks.items():
        if {a, b} == {"n1", "n2"}:
            assert_silent(s)
        else:
            roundtrip(s)


def test_delay(net):
    p = net.proxy
    s12, s21, s13 = net.connect("n1", "n2"), net.connect("n2", "n1"), net.connect("n1", "n3")
    p.delay("n1", "n2", 0.2)
    assert roundtrip(s12) >= 0.2              # n1's requests are late
    assert roundtrip(s21) >= 0.2              # n1's answers to n2 too
    fast = roundtrip(s13)
    assert fast < 0.2
    p.delay("n2", "n1", 0.1)
    assert roundtrip(s12) >= 0.3
    # order is kept while delayed data is queued
    data = os.urandom(200000)
    echo_check(s12, data)
    p.heal()
    assert roundtrip(s12) < 0.2
    assert p.stats()["delays"] == {}


def test_many_connections(net):
    p = net.proxy
    pairs = [("n1", "n2"), ("n2", "n3"), ("n3", "n1"), (CLIENT, "n1")]
    socks = [(pairs[i % 4], net.connect(*pairs[i % 4])) for i in range(240)]
    for i, (_, s) in enumerate(socks):
        s.sendall(b"conn %d\n" % i)
    for i, (_, s) in enumerate(socks):
        assert recv_exact(s, len(b"conn %d\n" % i)) == b"conn %d\n" % i
    st = p.stats()
    assert st["connections_open"] == 240
    assert st["open"] == {pair: 60 for pair in pairs}
    p.isolate("n1")
    for pair, s in socks[:8]:
        if "n1" in pair and CLIENT not in pair:
            assert_silent(s, wait=0.1)
        else:
            roundtrip(s)
    assert p.stats()["blackholed"] == 120
    p.heal()
    assert p.stats()["connections_open"] == 120


def test_large_transfer_bounded_buffering(net):
    p = net.proxy
    size = 50 * MiB
    blob = os.urandom(size)
    net.b["n1"].blob = blob
    s = socket.create_connection((HOST, p.port("n1")), timeout=10)
    net.socks.append(s)
    s.sendall(b"GET /big/%d HTTP/1.1\r\nHost: h\r\n\r\n" % size)
    # the reader sleeps: the proxy fills its buffer to the bound and stops reading
    wait_for(lambda: p.stats()["buffered"] >= p.max_buffer // 2, what="proxy buffer filling")
    time.sleep(0.3)
    st = p.stats()
    assert st["buffered"] <= p.max_buffer
    sent_so_far = st["bytes"].get(("n1", CLIENT), 0)
    time.sleep(0.2)
    assert p.stats()["bytes"].get(("n1", CLIENT), 0) == sent_so_far   # stalled, not buffering
    head = recv_head(s)
    assert head == b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size
    h = hashlib.sha256()
    got = 0
    # a slow reader for a while
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        chunk = s.recv(32768)
        h.update(chunk)
        got += len(chunk)
        time.sleep(0.005)
        assert p.stats()["buffered"] <= p.max_buffer
    # then a fast one
    start, start_got = time.monotonic(), got
    while got < size:
        chunk = s.recv(MiB)
        assert chunk
        h.update(chunk)
        got += len(chunk)
    elapsed = time.monotonic() - start
    assert h.digest() == hashlib.sha256(blob).digest()
    st = p.stats()
    assert p.max_buffer // 2 <= st["peak_buffered"] <= p.max_buffer
    mbps = (got - start_got) / MiB / elapsed
    print(f"\n50 MiB download through the proxy: {mbps:.0f} MiB/s (reader side, incl. sha256)")
    assert mbps > 10


def test_echo_throughput_both_ways(net):
    s = net.connect("n1", "n2")
    data = os.urandom(50 * MiB)
    elapsed = echo_check(s, data)
    rate = len(data) / MiB / elapsed
    print(f"\n50 MiB echoed n1->n2->n1 through the proxy: {rate:.0f} MiB/s each way")
    assert rate > 10
    assert net.proxy.stats()["peak_buffered"] <= net.proxy.max_buffer


def test_control_calls_while_traffic_flows(net):
    p = net.proxy
    s13 = net.connect("n1", "n3")
    c2 = net.connect(CLIENT, "n2")
    stop = threading.Event()
    errors = []
    calls = [0]

    def flip():
        try:
            while not stop.is_set():
                p.block("n1", "n2")
                p.delay("n2", "n3", 0.001)
                p.partition(["n1", "n3"], ["n2"])
                p.unblock("n1", "n2")
                p.stats()
                p.heal()
                calls[0] += 1
        except Exception as e:   # reported below
            errors.append(e)
    threads = [threading.Thread(target=flip) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        echo_check(s13, os.urandom(8 * MiB))
        echo_check(c2, os.urandom(8 * MiB))
        time.sleep(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors
    assert calls[0] > 10
    roundtrip(s13)
    roundtrip(net.connect("n1", "n2"))


def thread_cpu_ticks(thread):
    with open(f"/proc/self/task/{thread.native_id}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])     # utime + stime


def test_idle_proxy_does_not_spin(net):
    """Open, black-holed, half-closed, delayed and half-read connections: no busy loop."""
    p = net.proxy
    roundtrip(net.connect("n1", "n2"))
    s13 = net.connect("n1", "n3")
    p.block("n1", "n3", both_ways=False)
    s13.shutdown(socket.SHUT_WR)                # EOF into a black hole
    s21 = net.connect("n2", "n1")
    p.delay("n2", "n1", 30)
    s21.sendall(b"x" * 100)                     # the answer sits in the proxy
    s = socket.create_connection((HOST, p.port("n3")))
    net.socks.append(s)
    s.sendall(b"GET / HTTP/1.1\r\n")             # head not finished
    c = net.connect(CLIENT, "n2")
    c.setblocking(False)                        # nobody reads the echo: backpressure
    chunk = os.urandom(256 * 1024)
    deadline = time.monotonic() + 5
    while p.stats()["buffered"] < p.max_buffer + 100:
        assert time.monotonic() < deadline, "proxy buffers did not fill"
        try:
            c.send(chunk)
        except BlockingIOError:
            time.sleep(0.01)
    time.sleep(0.05)
    before = thread_cpu_ticks(p.thread)
    time.sleep(0.5)
    used = thread_cpu_ticks(p.thread) - before
    assert used <= 2, f"proxy thread used {used} clock ticks in 0.5 s while idle"
    assert p.stats()["connections_open"] == 5


def test_node_down_resets_sender():
    ports = free_ports(2)
    with ClusterProxy({"n1": (ports[0], ports[1])}) as p:   # nothing on n1's bind port
        s = socket.create_connection((HOST, p.port("n1")), timeout=3)
        with s:
            s.sendall(b"GET / HTTP/1.1\r\n\r\n")
            assert assert_closed(s) == "reset"
        wait_for(lambda: p.stats()["connect_failed"] == 1, what="connect failure")


def fd_count():
    return len(os.listdir("/proc/self/fd"))


def test_stop_leaves_no_threads_or_sockets():
    threads0 = threading.active_count()
    ports = free_ports(4)
    nodes = {"n1": (ports[0], ports[1]), "n2": (ports[2], ports[3])}
    backends = [Backend(ports[1]), Backend(ports[3])]
    fds0 = fd_count()
    p = ClusterProxy(nodes)
    socks = []
    with p:
        assert threading.active_count() == threads0 + 3
        net = Net(proxy=p, socks=socks)
        roundtrip(net.connect("n1", "n2"))
        roundtrip(net.connect(CLIENT, "n1"))
        p.block("n1", "n2", both_ways=False)
        net.connect_silent("n1", "n2")        # black-holed at stop
        s = net.connect("n2", "n1")
        p.delay("n2", "n1", 5)
        s.sendall(b"delayed at stop")
        h = net.http("n2")
        h.request("GET", "/")
        h.getresponse().read()
    assert not p.running
    assert not [t for t in threading.enumerate() if t.name == "cairn-netproxy"]
    p.stop()                                  # idempotent
    for name in nodes:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((HOST, p.port(name)), timeout=1).close()
        # nothing listens there any more
        with socket.create_server((HOST, p.port(name))):
            pass
    for s in socks:
        if isinstance(s, socket.socket):
            assert assert_closed(s) in ("reset", "eof")
        s.close()
    for b in backends:
        b.join_conns()
    assert fd_count() == fds0
    # a stopped proxy starts again (its rules survive until healed)
    p.heal()
    with p:
        roundtrip(Net(proxy=p, socks=socks).connect("n1", "n2"))
        socks[-1].close()
    for b in backends:
        b.stop()
    assert threading.active_count() == threads0
