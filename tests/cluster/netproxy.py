"""A fault-injecting TCP proxy for cairn cluster tests (stdlib only).

Every node N of a test cluster advertises a cluster address host:P_N (its
--node) but listens on a private address host:B_N (its --node-bind). A
ClusterProxy listens on every P_N and forwards each accepted connection to
B_N, byte for byte. It learns who opened a connection from the
`X-Cairn-Node: <sender's advertised address>` header of the connection's
first HTTP request (connections without one belong to the source "client"),
so the test can cut, heal and slow the network between nodes while traffic
flows, with no fault hooks in the product.

    from netproxy import ClusterProxy, free_ports

    ports = free_ports(6)
    nodes = {"n1": (ports[0], ports[1]), "n2": (ports[2], ports[3]),
             "n3": (ports[4], ports[5])}              # name: (P_N, B_N)
    with ClusterProxy(nodes) as net:    # start it before the nodes
        ...  # start node n with --node net.address(n) --node-bind net.bind_address(n)
        net.partition(["n1", "n2"], ["n3"])           # n3 cut off from n1, n2
        net.heal()
        net.block("n1", "n2")                         # n1 <-> n2 cut, both reach n3
        net.isolate("n3", clients=True)               # n3 alone, even for clients
        net.delay("n1", "n2", 0.05)                   # data n1 => n2 late by 50 ms
        print(net.describe())

Model
  A connection has a source (the node that opened it, or "client") and a
  destination (the node whose P_N it reached). A rule blocks the pair
  (source, destination) and so acts on whole connections: block(a, b,
  both_ways=False) cuts the connections a opens to b (a's requests and b's
  answers on them) and leaves the connections b opens to a alone. Nothing is
  known about a connection until the end of its first request's header block
  has arrived (at most header_limit = 64 KiB are read looking for it; past
  that, or at EOF, the connection is a "client" one). A connection that
  starts with a TLS record (a cluster run with --tls-cert) is a "client"
  one at once: node rules cannot cut TLS clusters.

  A cut has a mode:
    "drop"  (default) a partition: an affected open connection stops
            delivering in both directions -- whatever the proxy reads from
            either endpoint is discarded, nothing more is written, both
            sockets stay open so each endpoint only sees silence. A new
            connection for a blocked pair is accepted (TCP handshake done by
            the proxy) and black-holed the same way once its first header
            block is in; the real node never sees it. When the pair is
            unblocked (unblock/heal/a new partition) its black-holed
            connections are closed with RST so both endpoints reconnect:
            their data is lost, they never resume.
    "reset" affected open connections are closed with RST (SO_LINGER 0) on
            both sides at once; new ones are reset once their first header
            block is in.
  The mode is chosen per call (mode=...) or by the proxy default
  (ClusterProxy(mode=...), proxy.mode = ...); a rule keeps the mode it was
  made with. Re-blocking a pair with another mode switches it (a black-holed
  connection under a "reset" rule is reset).

  Source "client" is never cut by node rules: partition/bridge/isolate only
  block node pairs, except isolate(..., clients=True), which also blocks
  ("client", node). block("client", node) works too. A connection whose
  X-Cairn-Node names no configured node gets that header value as its
  source; no rule names it, so it is never blocked (stats count it under
  "unknown_sources").

  partition(), isolate() and bridge() *replace* the whole set of cuts with
  the topology they describe (atomically: a pair cut before and after stays
  cut, its black-holed connections are not closed); block() and unblock()
  add and remove single rules; heal() removes every cut and every delay.

  delay(a, b, s) delays the data flowing from a to b by s seconds, on every
  connection between them (a's requests on connections a opened, a's answers
  on connections b opened); a round trip a -> b -> a pays delay(a, b) +
  delay(b, a). It is a per-chunk latency, not a bandwidth limit; it applies
  to data read after the call; order is always kept.

Control calls are thread-safe and synchronous: when block()/partition()/...
return, the proxy has applied the rule to every open connection (bytes it
already handed to the kernel of the receiving endpoint can still arrive, like
packets in flight).

Implementation: one background thread runs a selectors (epoll) loop; no busy
waiting (the loop sleeps until a socket is ready, a delayed chunk is due or a
control call wakes it). Backpressure: the proxy never holds more than
max_buffer (default 1 MiB) bytes for one direction of one connection -- it
only reads from a side as much as the other side's buffer has room for, and
stops reading while it is full (so stats()["peak_buffered"] <= max_buffer,
or <= header_limit if that is larger, for the first request's head). Sockets
have TCP_NODELAY. The loop shares the GIL with the test process: a test
busy in pure Python slows the proxy down (it still never spins). start() raises the soft RLIMIT_NOFILE (up to 8192, never
above the hard limit): each proxied connection costs the proxy two fds.
"""

import collections
import errno
import itertools
import logging
import os
import random
import socket
import struct
import threading
import time
from concurrent.futures import Future
import selectors

__all__ = ["ClusterProxy", "free_ports", "CLIENT", "DROP", "RESET"]

CLIENT = "client"
DROP = "drop"
RESET = "reset"
MODES = (DROP, RESET)

HEADER_LIMIT = 64 * 1024
MAX_BUFFER = 1 << 20
CHUNK = 256 * 1024

log = logging.getLogger("cairn.netproxy")

_R = selectors.EVENT_READ
_W = selectors.EVENT_WRITE

# connection states
HEADER = "header"          # reading the first request's header block
CONNECTING = "connecting"  # classified, connecting to the node's bind address
OPEN = "open"              # copying both ways
BLACKHOLE = "blackhole"    # cut in drop mode: reading and discarding
CLOSED = "closed"

_LINGER0 = struct.pack("ii", 1, 0)
_WAKER = object()


def _family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _fmt(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
        return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


# its own generator: tests that seed `random` (the nemesis) must not make two
# concurrent runs pick the same ports
_port_rng = random.Random(int.from_bytes(os.urandom(8), "little"))


def free_ports(n, host="127.0.0.1"):
    """n distinct TCP ports that are free on host right now.

    Ports come from below the kernel's ephemeral range (ip_local_port_range):
    a port there is never handed to an outgoing connection, so between this
    check and the caller's bind only another explicit binder (another test
    run picking at random from the same ~20,000 ports) can take it. A port
    from the ephemeral range (binding port 0) lost that race to ordinary
    client connections on this shared machine. If the range leaves too little
    room below it, falls back to letting the kernel pick.
    """
    lo, _ = _ephemeral_range()
    first = 10000
    socks = []
    try:
        if lo - first >= 1000:
            tried = 0
            while len(socks) < n and tried < 50 * n + 1000:
                tried += 1
                port = _port_rng.randrange(first, lo)
                s = socket.socket(_family(host), socket.SOCK_STREAM)
                try:
                    s.bind((host, port))
                except OSError:
                    s.close()
                    continue
                socks.append(s)
        while len(socks) < n:
            s = socket.socket(_family(host), socket.SOCK_STREAM)
            socks.append(s)
            s.bind((host, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _raise_fd_limit(want=8192):
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY:
            want = min(want, hard)
        if soft != resource.RLIM_INFINITY and soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ImportError, ValueError, OSError):
        pass


def _check_mode(mode):
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    return mode


class _Side:
    """One socket of a proxied connection and the bytes queued for it."""
    __slots__ = ("conn", "sock", "peer", "events", "closed", "rd_eof", "wr_shut",
                 "out", "out_bytes", "fwd_key")

    def __init__(self, conn, sock):
        self.conn = conn
        self.sock = sock
        self.peer = None
        self.events = 0          # events registered with the selector
        self.closed = False
        self.rd_eof = False      # read EOF from this socket
        self.wr_shut = False     # shut down writing to this socket
        self.out = collections.deque()  # [release_time or 0, bytes|memoryview]
        self.out_bytes = 0
        self.fwd_key = None      # (from, to) of the data read from this socket


class _Conn:
    __slots__ = ("id", "src", "dst", "state", "a", "b", "hbuf", "since", "peer_addr")

    def __init__(self, cid, dst, peer_addr):
        self.id = cid
        self.src = None
        self.dst = dst
        self.state = HEADER
        self.a = None   # the accepted socket (the sender's end)
        self.b = None   # the socket to the node's bind address
        self.hbuf = bytearray()
        self.since = time.monotonic()
        self.peer_addr = peer_addr


class ClusterProxy:
    """Proxies host:P_N -> host:B_N for every node, with cuts and delays.

    nodes: {name: (proxy_port, bind_port)}; host: the address of both.
    mode: default cut mode ("drop" or "reset"). max_buffer: bound of the
    bytes held for one direction of one connection. header_limit: how much
    of a connection's start is read looking for the first header block.
    """

    def __init__(self, nodes, host="127.0.0.1", mode=DROP, max_buffer=MAX_BUFFER,
                 header_limit=HEADER_LIMIT, chunk_size=CHUNK, backlog=1024):
        if not nodes:
            raise ValueError("no nodes")
        self.nodes = {}
        for name, ports in nodes.items():
            if not isinstance(name, str) or not name or name == CLIENT:
                raise ValueError(f"bad node name {name!r}")
            proxy_port, bind_port = ports
            self.nodes[name] = (int(proxy_port), int(bind_port))
        pports = [p for p, _ in self.nodes.values()]
        bports = [b for _, b in self.nodes.values()]
        if len(set(pports + bports)) != 2 * len(self.nodes):
            raise ValueError("proxy and bind ports must all differ")
        self.host = host
        self._family = _family(host)
        self._mode = _check_mode(mode)
        self.max_buffer = int(max_buffer)
        self.header_limit = int(header_limit)
        self.chunk_size = int(chunk_size)
        self.backlog = int(backlog)
        if self.max_buffer <= 0 or self.header_limit <= 0 or self.chunk_size <= 0:
            raise ValueError("max_buffer, header_limit and chunk_size must be > 0")
        self._by_addr = {}
        for name, (p, _) in self.nodes.items():
            self._by_addr[_fmt(host, p)] = name
            self._by_addr[name] = name
        self._by_port = {p: name for name, (p, _) in self.nodes.items()}

        self._lock = threading.Lock()
        self._cmds = collections.deque()
        self._thread = None
        self._running = False
        self._stopping = False
        self._error = None
        self._sel = None
        self._listeners = {}
        self._waker_r = self._waker_w = None
        self._accept_paused_until = 0.0
        self._accept_warned = -1e9

        # loop-owned state (touched by the loop thread only, or under
        # self._lock while the loop is not running)
        self._rules = {}     # (src, dst) -> mode; connections src opens to dst
        self._delays = {}    # (from, to) -> seconds; data flowing from -> to
        self._conns = {}
        self._ids = itertools.count(1)
        self._delayed = set()
        self._buffered = 0
        self._peak_buffered = 0
        self._bytes = collections.Counter()
        self._dropped = collections.Counter()
        self._opened = collections.Counter()   # (src, dst) -> connections classified
        self._counts = collections.Counter()
        self._unknown = collections.Counter()

    # ------------------------------------------------------------ addresses

    def address(self, node):
        """The advertised cluster address of node ("127.0.0.1:P_N")."""
        return _fmt(self.host, self.nodes[node][0])

    def bind_address(self, node):
        """The private address node must listen on ("127.0.0.1:B_N")."""
        return _fmt(self.host, self.nodes[node][1])

    def port(self, node):
        return self.nodes[node][0]

    def bind_port(self, node):
        return self.nodes[node][1]

    # ------------------------------------------------------------ lifecycle

    def start(self):
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("proxy already started")
        _raise_fd_limit()
        listeners = {}
        sel = None
        r = w = None
        try:
            for name, (p, _) in self.nodes.items():
                s = socket.socket(self._family, socket.SOCK_STREAM)
                listeners[name] = s
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((self.host, p))
                s.listen(self.backlog)
                s.setblocking(False)
            r, w = socket.socketpair()
            r.setblocking(False)
            w.setblocking(False)
            sel = selectors.DefaultSelector()
            sel.register(r, _R, _WAKER)
            for name, s in listeners.items():
                sel.register(s, _R, name)
        except BaseException:
            for s in listeners.values():
                s.close()
            for s in (r, w):
                if s is not None:
                    s.close()
            if sel is not None:
                sel.close()
            raise
        self._sel = sel
        self._listeners = listeners
        self._waker_r, self._waker_w = r, w
        self._stopping = False
        self._error = None
        self._accept_paused_until = 0.0
        t = threading.Thread(target=self._run, name="cairn-netproxy", daemon=True)
        with self._lock:
            self._thread = t
            self._running = True
        t.start()
        return self

    def stop(self, timeout=10.0):
        """Close every listener and connection (with RST) and join the thread."""
        with self._lock:
            t = self._thread
            if t is None:
                return
            self._stopping = True
        self._wake()
        t.join(timeout)
        if t.is_alive():
            raise RuntimeError("netproxy thread did not stop")
        with self._lock:
            self._thread = None
        if self._error is not None:
            err, self._error = self._error, None
            raise RuntimeError("netproxy loop failed") from err

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def running(self):
        return self._running

    @property
    def thread(self):
        """The loop thread while started (for debugging), else None."""
        return self._thread

    # ------------------------------------------------------------ faults

    @property
    def mode(self):
        """Default cut mode for calls that pass no mode=."""
        return self._mode

    @mode.setter
    def mode(self, mode):
        self._mode = _check_mode(mode)

    def _name(self, name, allow_client=True):
        if name in self.nodes or (allow_client and name == CLIENT):
            return name
        raise ValueError(f"unknown node {name!r}")

    def _groups(self, groups):
        out = []
        for g in groups:
            g = [g] if isinstance(g, str) else list(g)
            out.append({self._name(n, allow_client=False) for n in g})
        return out

    def _topology(self, groups, mode):
        """Cut rules for groups: two nodes talk iff some group holds both."""
        member = {n: set() for n in self.nodes}
        for i, g in enumerate(groups):
            for n in g:
                member[n].add(i)
        extra = len(groups)
        for n in self.nodes:
            if not member[n]:
                member[n].add(extra)   # not listed: a group of its own
                extra += 1
        return {(x, y): mode for x in self.nodes for y in self.nodes
                if x != y and not member[x] & member[y]}

    def partition(self, *groups, mode=None):
        """Replace all cuts: nodes talk only within a group.

        partition(["n1", "n2"], ["n3"]); a group may be a single name; an
        unlisted node is a group of its own; groups may overlap (a node in
        two groups talks to both, see bridge). No groups = heal the cuts.
        """
        mode = _check_mode(mode or self._mode)
        rules = self._topology(self._groups(groups), mode) if groups else {}
        self._call(lambda: self._set_rules(rules))

    def isolate(self, *nodes, clients=False, mode=None):
        """Replace all cuts: each node given alone, the others together.

        clients=True also cuts the connections of source "client" to them.
        """
        if not nodes:
            raise ValueError("isolate what?")
        mode = _check_mode(mode or self._mode)
        alone = [{self._name(n, allow_client=False)} for n in nodes]
        rest = set(self.nodes) - set().union(*alone)
        rules = self._topology(alone + ([rest] if rest else []), mode)
        if clients:
            for g in alone:
                for n in g:
                    rules[(CLIENT, n)] = mode
        self._call(lambda: self._set_rules(rules))

    def bridge(self, left, right, via, mode=None):
        """Replace all cuts: left and right cannot talk; via talks to both.

        bridge(["n1"], ["n2"], "n3") is the nontransitive partition where
        n1 -/- n2 but n1 - n3 - n2. Nodes in none of them are alone.
        """
        via = [via] if isinstance(via, str) else list(via)
        left = [left] if isinstance(left, str) else list(left)
        right = [right] if isinstance(right, str) else list(right)
        self.partition(left + via, right + via, mode=mode)

    def block(self, src, dst, both_ways=True, mode=None):
        """Cut the connections src opens to dst (and dst to src if both_ways)."""
        mode = _check_mode(mode or self._mode)
        pairs = [(self._name(src), self._name(dst))]
        if both_ways:
            pairs.append((pairs[0][1], pairs[0][0]))

        def apply():
            rules = dict(self._rules)
            for p in pairs:
                rules[p] = mode
            self._set_rules(rules)
        self._call(apply)

    def unblock(self, src, dst, both_ways=True):
        """Remove the cut of src -> dst (and dst -> src if both_ways)."""
        pairs = [(self._name(src), self._name(dst))]
        if both_ways:
            pairs.append((pairs[0][1], pairs[0][0]))

        def apply():
            rules = dict(self._rules)
            for p in pairs:
                rules.pop(p, None)
            self._set_rules(rules)
        self._call(apply)

    def heal(self, delays=True):
        """Remove every cut (and every delay unless delays=False)."""
        def apply():
            if delays:
                self._delays = {}
            self._set_rules({})
        self._call(apply)

    def delay(self, src, dst, seconds, both_ways=False):
        """Delay data flowing src -> dst by seconds (0 or None removes)."""
        seconds = float(seconds or 0)
        if seconds < 0:
            raise ValueError("negative delay")
        pairs = [(self._name(src), self._name(dst))]
        if both_ways:
            pairs.append((pairs[0][1], pairs[0][0]))

        def apply():
            delays = dict(self._delays)
            for p in pairs:
                if seconds:
                    delays[p] = seconds
                else:
                    delays.pop(p, None)
            self._delays = delays
        self._call(apply)

    def blocked(self, src, dst):
        """The mode of the cut of src -> dst connections, or None."""
        return self._call(lambda: self._rules.get((src, dst)))

    # ------------------------------------------------------------ statistics

    def stats(self):
        """A snapshot (dict) of counters and current state.

        bytes/dropped: {(from, to): n} by the direction the data flowed
        (forwarded = written to the receiving endpoint); open: {(src, dst):
        n} open connections by who opened them (src None while the first
        header block is still being read); opened: connections classified
        per (src, dst) since start; buffered: bytes held now;
        peak_buffered: the most ever held for one direction of one
        connection.
        """
        return self._call(self._snapshot)

    def connections(self, src=None, dst=None):
        """Open connections as dicts (id, src, dst, state, buffered, age)."""
        def get():
            now = time.monotonic()
            out = []
            for c in self._conns.values():
                if src is not None and c.src != src:
                    continue
                if dst is not None and c.dst != dst:
                    continue
                out.append({"id": c.id, "src": c.src, "dst": c.dst, "state": c.state,
                            "peer": c.peer_addr, "age": now - c.since,
                            "buffered": sum(s.out_bytes for s in (c.a, c.b)
                                            if s is not None and not s.closed)})
            return out
        return self._call(get)

    def describe(self):
        """A human-readable summary of nodes, cuts, delays and traffic."""
        st = self.stats()

        def pair(k, sep):
            return f"{k[0]}{sep}{k[1]}"

        lines = [f"ClusterProxy on {self.host}: {'running' if st['running'] else 'stopped'}, "
                 f"default mode {self._mode}, max_buffer {self.max_buffer}"]
        for n in self.nodes:
            lines.append(f"  {n}: {self.address(n)} -> {self.bind_address(n)}")
        cuts = ", ".join(f"{pair(k, '->')} {m}" for k, m in sorted(st["rules"].items()))
        lines.append(f"  cuts (connections src->dst): {cuts or 'none'}")
        if st["delays"]:
            lines.append("  delays (data from=>to): " + ", ".join(
                f"{pair(k, '=>')} {v * 1000:.0f}ms" for k, v in sorted(st["delays"].items())))
        opened = ", ".join(f"{pair(k, '->')} {v}" for k, v in sorted(
            st["open"].items(), key=lambda kv: (str(kv[0][0]), kv[0][1])))
        lines.append(f"  open connections: {st['connections_open']}"
                     f" (blackholed {st['blackholed']}){': ' + opened if opened else ''}")
        lines.append(f"  accepted {st['accepted']}, reset {st['reset']}, "
                     f"connect failures {st['connect_failed']}, buffered {st['buffered']} B "
                     f"(peak {st['peak_buffered']} B)")
        for what in ("bytes", "dropped"):
            if st[what]:
                lines.append(f"  {what} (from=>to): " + ", ".join(
                    f"{pair(k, '=>')} {v}" for k, v in sorted(st[what].items())))
        if st["unknown_sources"]:
            lines.append(f"  unknown X-Cairn-Node values: {dict(st['unknown_sources'])}")
        return "\n".join(lines)

    def __repr__(self):
        return f"<ClusterProxy {self.host} {sorted(self.nodes)} running={self._running}>"

    def _snapshot(self):
        open_ = collections.Counter()
        blackholed = 0
        for c in self._conns.values():
            open_[(c.src, c.dst)] += 1
            if c.state == BLACKHOLE:
                blackholed += 1
        return {
            "running": self._running,
            "connections_open": len(self._conns),
            "open": dict(open_),
            "blackholed": blackholed,
            "opened": dict(self._opened),
            "accepted": self._counts["accepted"],
            "reset": self._counts["reset"],
            "healed_closed": self._counts["healed_closed"],
            "connect_failed": self._counts["connect_failed"],
            "aborted": self._counts["aborted"],
            "bytes": dict(self._bytes),
            "dropped": dict(self._dropped),
            "buffered": self._buffered,
            "peak_buffered": self._peak_buffered,
            "max_buffer": self.max_buffer,
            "rules": dict(self._rules),
            "delays": dict(self._delays),
            "unknown_sources": dict(self._unknown),
        }

    # ------------------------------------------------------------ plumbing

    def _wake(self, locked=False):
        if not locked:
            with self._lock:
                return self._wake(locked=True)
        # under self._lock: the loop closes the waker under it too
        if self._waker_w is None:
            return
        try:
            self._waker_w.send(b"\0")
        except (BlockingIOError, InterruptedError):
            pass   # the pipe is full: the loop has wake-ups pending anyway

    def _call(self, fn, timeout=10.0):
        """Run fn in the loop thread (or here if the loop is not running)."""
        with self._lock:
            if not self._running:
                return fn()
            if threading.current_thread() is self._thread:
                return fn()
            fut = Future()
            self._cmds.append((fn, fut))
            self._wake(locked=True)
        return fut.result(timeout)

    def _run_commands(self):
        while True:
            with self._lock:
                if not self._cmds:
                    return
                fn, fut = self._cmds.popleft()
            try:
                fut.set_result(fn())
            except BaseException as e:   # handed to the caller
                fut.set_exception(e)

    def _run(self):
        try:
            while True:
                self._run_commands()
                if self._stopping:
                    break
                events = self._sel.select(self._next_timeout())
                for key, mask in events:
                    d = key.data
                    if d.__class__ is _Side:
                        if not d.closed:
                            self._side_event(d, mask)
                    elif d is _WAKER:
                        try:
                            while self._waker_r.recv(4096):
                                pass
                        except (BlockingIOError, InterruptedError):
                            pass
                    else:
                        self._accept(d)
                if self._delayed:
                    self._release_delayed()
                if self._accept_paused_until and time.monotonic() >= self._accept_paused_until:
                    self._accept_paused_until = 0.0
                    for name, s in self._listeners.items():
                        self._sel.register(s, _R, name)
        except BaseException as e:
            log.exception("netproxy loop failed")
            self._error = e
        finally:
            self._shutdown_loop()

    def _shutdown_loop(self):
        for conn in list(self._conns.values()):
            try:
                self._close_conn(conn, rst=True)
            except Exception:
                log.exception("closing connection %s", conn.id)
        for s in self._listeners.values():
            s.close()
        self._listeners = {}
        with self._lock:
            self._running = False
            pending = list(self._cmds)
            self._cmds.clear()
            # a control call queued while stopping still takes effect
            for fn, fut in pending:
                try:
                    fut.set_result(fn())
                except BaseException as e:
                    fut.set_exception(e)
            for s in (self._waker_r, self._waker_w):
                s.close()
            self._waker_r = self._waker_w = None
            self._sel.close()
            self._sel = None
            self._delayed.clear()

    def _next_timeout(self):
        timeout = None
        now = None
        if self._delayed:
            now = time.monotonic()
            due = None
            for s in self._delayed:
                if s.closed or not s.out or not s.out[0][0]:
                    due = now
                    break
                r = s.out[0][0]
                if due is None or r < due:
                    due = r
            timeout = max(0.0, due - now)
        if self._accept_paused_until:
            now = now or time.monotonic()
            t = max(0.0, self._accept_paused_until - now)
            timeout = t if timeout is None else min(timeout, t)
        return timeout

    def _release_delayed(self):
        now = time.monotonic()
        for s in list(self._delayed):
            if s.closed or not s.out or not s.out[0][0] or s.out[0][0] <= now:
                self._delayed.discard(s)
                if not s.closed:
                    self._update(s)

    def _update(self, side):
        """Register side for exactly the events it needs now."""
        if side.closed:
            return
        conn = side.conn
        st = conn.state
        ev = 0
        if st == OPEN:
            if not side.rd_eof and side.peer.out_bytes < self.max_buffer:
                ev = _R
            if side.out and not side.wr_shut:
                rel = side.out[0][0]
                if rel and rel > time.monotonic():
                    self._delayed.add(side)
                else:
                    ev |= _W
        elif st == BLACKHOLE or st == HEADER:
            if not side.rd_eof:
                ev = _R
        elif st == CONNECTING:
            if side is conn.b:
                ev = _W
            elif not side.rd_eof and conn.b.out_bytes < self.max_buffer:
                ev = _R
        if ev != side.events:
            if side.events == 0:
                self._sel.register(side.sock, ev, side)
            elif ev == 0:
                self._sel.unregister(side.sock)
            else:
                self._sel.modify(side.sock, ev, side)
            side.events = ev

    def _side_event(self, side, mask):
        conn = side.conn
        try:
            if mask & _W:
                if conn.state == CONNECTING and side is conn.b:
                    self._connected(conn)
                elif conn.state == OPEN:
                    self._flush(side)
            if mask & _R and not side.closed:
                st = conn.state
                if st == OPEN or st == CONNECTING:
                    self._read(side)
                elif st == HEADER:
                    self._read_header(conn)
                elif st == BLACKHOLE:
                    self._discard(side)
        except Exception:
            log.exception("netproxy connection %s (%s -> %s)", conn.id, conn.src, conn.dst)
            self._abort(conn)

    # ---- accepting and classifying

    def _accept(self, name):
        lsock = self._listeners[name]
        for _ in range(64):
            try:
                s, addr = lsock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EPERM):
                    continue
                # out of fds (or worse): stop accepting for a moment rather
                # than spin on a listener that stays readable
                now = time.monotonic()
                if now - self._accept_warned >= 5:
                    self._accept_warned = now
                    log.warning("netproxy: accept on %s: %s; pausing accepts", name, e)
                if not self._accept_paused_until:
                    for ls in self._listeners.values():
                        self._sel.unregister(ls)
                self._accept_paused_until = time.monotonic() + 0.1
                return
            s.setblocking(False)
            try:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            conn = _Conn(next(self._ids), name, addr[:2])
            conn.a = _Side(conn, s)
            self._conns[conn.id] = conn
            self._counts["accepted"] += 1
            self._update(conn.a)

    def _read_header(self, conn):
        a = conn.a
        try:
            data = a.sock.recv(self.header_limit - len(conn.hbuf))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close_conn(conn, rst=True)
            return
        if not data:
            a.rd_eof = True
            if not conn.hbuf:
                self._close_conn(conn, rst=False)
            else:
                self._classify(conn, None)
            return
        hbuf = conn.hbuf
        old = len(hbuf)
        hbuf += data
        if hbuf[:1] == b"\x16":
            # a TLS handshake (--tls-cert clusters): no header block to read
            # before the server answers, and none readable at all; the
            # connection is forwarded at once as a "client" one
            self._classify(conn, None)
            return
        end = None
        i = hbuf.find(b"\r\n\r\n", max(0, old - 3))
        if i >= 0:
            end = i + 4
        i = hbuf.find(b"\n\n", max(0, old - 1))
        if i >= 0 and (end is None or i + 2 < end):
            end = i + 2
        if end is not None or len(hbuf) >= self.header_limit:
            self._classify(conn, end)

    def _identify(self, head):
        """The source named by a header block's X-Cairn-Node, or "client"."""
        if not head:
            return CLIENT
        for line in head.split(b"\n")[1:]:
            name, sep, value = line.partition(b":")
            if sep and name.strip().lower() == b"x-cairn-node":
                raw = value.strip().decode("latin-1")
                if not raw:
                    return CLIENT
                node = self._by_addr.get(raw)
                if node is None:
                    host, _, port = raw.rpartition(":")
                    if host.strip("[]") in (self.host, "localhost", "127.0.0.1", "::1") \
                            and port.isdigit():
                        node = self._by_port.get(int(port))
                if node is None:
                    if not self._unknown[raw]:
                        log.warning("netproxy: X-Cairn-Node %r names no configured node", raw)
                    self._unknown[raw] += 1
                    return raw
                return node
        return CLIENT

    def _classify(self, conn, end):
        a = conn.a
        data = bytes(conn.hbuf)
        conn.hbuf = None
        src = self._identify(data[:end] if end else b"")
        conn.src = src
        a.fwd_key = (src, conn.dst)
        self._opened[(src, conn.dst)] += 1
        mode = self._rules.get((src, conn.dst))
        if mode == RESET:
            self._counts["reset"] += 1
            self._close_conn(conn, rst=True)
            return
        if mode == DROP:
            conn.state = BLACKHOLE
            self._dropped[a.fwd_key] += len(data)
            self._update(a)
            return
        try:
            b = socket.socket(self._family, socket.SOCK_STREAM)
        except OSError as e:   # out of fds: the sender sees a reset
            self._connect_failed(conn, e.errno)
            return
        b.setblocking(False)
        try:
            b.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        bs = _Side(conn, b)
        bs.fwd_key = (conn.dst, src)
        bs.peer, a.peer = a, bs
        conn.b = bs
        conn.state = CONNECTING
        err = b.connect_ex((self.host, self.nodes[conn.dst][1]))
        if err not in (0, errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK):
            self._connect_failed(conn, err)
            return
        self._queue(a, bs, data)
        self._update(bs)
        self._update(a)

    def _connected(self, conn):
        err = conn.b.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._connect_failed(conn, err)
            return
        conn.state = OPEN
        self._flush(conn.b)
        self._update(conn.a)

    def _connect_failed(self, conn, err):
        # the node is not listening: the sender sees its connection reset
        self._counts["connect_failed"] += 1
        log.debug("netproxy: %s -> %s: connect to %s failed: %s", conn.src, conn.dst,
                  self.bind_address(conn.dst), errno.errorcode.get(err, err))
        self._close_conn(conn, rst=True)

    # ---- copying

    def _queue(self, src_side, dst_side, data):
        d = self._delays.get(src_side.fwd_key, 0) if self._delays else 0
        dst_side.out.append([time.monotonic() + d if d else 0, data])
        n = len(data)
        dst_side.out_bytes += n
        self._buffered += n
        if dst_side.out_bytes > self._peak_buffered:
            self._peak_buffered = dst_side.out_bytes

    def _read(self, side):
        conn = side.conn
        peer = side.peer
        room = self.max_buffer - peer.out_bytes
        if room <= 0:
            self._update(side)
            return
        try:
            data = side.sock.recv(min(self.chunk_size, room))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._abort(conn)
            return
        if not data:
            side.rd_eof = True
            if conn.state == OPEN and not peer.out:
                self._shut_wr(peer)
            self._update(side)
            self._maybe_done(conn)
            return
        if conn.state == OPEN and not peer.out and not (
                self._delays and self._delays.get(side.fwd_key)):
            # fast path: write straight through
            try:
                n = peer.sock.send(data)
            except (BlockingIOError, InterruptedError):
                n = 0
            except OSError:
                self._abort(conn)
                return
            if n:
                self._bytes[side.fwd_key] += n
            if n == len(data):
                return   # interests unchanged: still reading side, nothing queued
            data = memoryview(data)[n:]
        self._queue(side, peer, data)
        self._update(peer)
        self._update(side)

    def _flush(self, side):
        conn = side.conn
        out = side.out
        key = side.peer.fwd_key
        now = None
        while out:
            item = out[0]
            if item[0]:
                if now is None:
                    now = time.monotonic()
                if item[0] > now:
                    break
            data = item[1]
            try:
                n = side.sock.send(data)
            except (BlockingIOError, InterruptedError):
                n = 0
            except OSError:
                self._abort(conn)
                return
            if n:
                side.out_bytes -= n
                self._buffered -= n
                self._bytes[key] += n
            if n < len(data):
                item[0] = 0
                item[1] = (data if isinstance(data, memoryview) else memoryview(data))[n:]
                break
            out.popleft()
        if not out and side.peer.rd_eof and not side.wr_shut:
            self._shut_wr(side)
        self._update(side)
        self._update(side.peer)
        self._maybe_done(conn)

    def _shut_wr(self, side):
        side.wr_shut = True
        try:
            side.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass   # the endpoint is gone; its read side reports it

    def _maybe_done(self, conn):
        a, b = conn.a, conn.b
        if conn.state == OPEN and a.rd_eof and b.rd_eof and a.wr_shut and b.wr_shut:
            self._close_conn(conn, rst=False)

    # ---- cuts

    def _discard(self, side):
        conn = side.conn
        try:
            data = side.sock.recv(self.chunk_size)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close_side(side, rst=True)
            if all(s is None or s.closed for s in (conn.a, conn.b)):
                self._close_conn(conn, rst=True)
            return
        if data:
            self._dropped[side.fwd_key] += len(data)
        else:
            side.rd_eof = True   # keep the socket: the other end hears nothing
            self._update(side)

    def _blackhole(self, conn):
        if conn.state == CONNECTING:
            self._close_side(conn.b, rst=True)
        conn.state = BLACKHOLE
        for s in (conn.a, conn.b):
            if s is not None and not s.closed:
                if s.out_bytes:
                    self._dropped[s.peer.fwd_key] += s.out_bytes
                self._drop_out(s)
                self._update(s)

    def _set_rules(self, rules):
        self._rules = rules
        if self._sel is None:
            return
        for conn in list(self._conns.values()):
            st = conn.state
            if st == HEADER or st == CLOSED:
                continue
            mode = rules.get((conn.src, conn.dst))
            if st == BLACKHOLE:
                if mode is None:
                    self._counts["healed_closed"] += 1
                    self._close_conn(conn, rst=True)
                elif mode == RESET:
                    self._counts["reset"] += 1
                    self._close_conn(conn, rst=True)
            elif mode == RESET:
                self._counts["reset"] += 1
                self._close_conn(conn, rst=True)
            elif mode == DROP:
                self._blackhole(conn)

    # ---- closing

    def _drop_out(self, side):
        self._buffered -= side.out_bytes
        side.out.clear()
        side.out_bytes = 0
        self._delayed.discard(side)

    def _close_side(self, side, rst):
        if side is None or side.closed:
            return
        if side.events:
            self._sel.unregister(side.sock)
            side.events = 0
        if rst:
            try:
                side.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER0)
            except OSError:
                pass
        side.sock.close()
        side.closed = True
        self._drop_out(side)

    def _close_conn(self, conn, rst):
        self._close_side(conn.a, rst)
        self._close_side(conn.b, rst)
        conn.state = CLOSED
        self._conns.pop(conn.id, None)

    def _abort(self, conn):
        """An endpoint failed: reset both ends, as a broken path would."""
        if conn.state != CLOSED:
            self._counts["aborted"] += 1
            self._close_conn(conn, rst=True)
