"""Real-process cairn clusters for tests (stdlib + boto3/botocore).

    from cluster_harness import Cluster

    with Cluster(3, base_dir) as c:          # n voters behind a ClusterProxy
        c.wait_ready()                       # every running node answers ready
        n1, n2, n3 = c.nodes
        s3 = c.client(n2)                    # boto3, path style, retries off
        leader = c.leader()                  # Node (from admin cluster status)
        c.kill(leader)                       # SIGKILL by pid; c.restart(leader)
        c.pause(n2); c.resume(n2)            # SIGSTOP / SIGCONT
        c.net.partition(["n1", "n2"], ["n3"]) # the proxy (netproxy.py)
        spare = c.add_node()                 # start a spare slot with --join + admin add
        c.remove_node(n3)                    # admin cluster remove

    Cluster(3, base_dir, tls=(cert, key))    # HTTPS and internal TLS on every node
                                             # (n.tls overrides one node; () = plain)

Every node N advertises 127.0.0.1:P_N (the proxy's port, --node) and listens
for the cluster on 127.0.0.1:B_N (--node-bind); the S3 port is picked by the
kernel on first start (--listen 127.0.0.1:0, read from the log) and reused
on restarts, so clients of a node stay valid across restarts. spares=K
reserves K more proxy slots for nodes added later (add_node / replace).

Only processes this object started are ever signalled, by pid. close()
(also on __exit__) stops every node (SIGTERM, then SIGKILL after a grace
period) and the proxy; on an exception it first prints the tail of every
node's log. The binary comes from $CAIRN_BIN or build/cairn.
"""

import http.client
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
for _d in (HERE, os.path.dirname(HERE)):   # this directory, and tests/ (promtext)
    if _d not in sys.path:
        sys.path.insert(0, _d)

import boto3  # noqa: E402
import botocore.session  # noqa: E402
from botocore.auth import S3SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

import promtext  # noqa: E402
from netproxy import ClusterProxy, free_ports  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
ACCESS_KEY = "cairnclusterkey"
SECRET_KEY = "cairn-cluster-secret-0123456789"
CLUSTER_SECRET = "cairn-test-cluster-secret-0123456789"
REGION = "us-east-1"
HOST = "127.0.0.1"

_client_lock = threading.Lock()
_boto_session = None


def _session():
    """One boto3 session for every client (its loader caches the S3 model)."""
    global _boto_session
    if _boto_session is None:
        _boto_session = boto3.session.Session(botocore_session=botocore.session.Session())
    return _boto_session


def cairn_bin():
    b = os.environ.get("CAIRN_BIN", "build/cairn")
    if not os.path.isabs(b):
        b = os.path.join(REPO, b)
    return b


def _all_threads_stopped(pid):
    """True if every thread of pid is stopped (state T or t) or gone."""
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except FileNotFoundError:
        return True
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                stat = f.read()
        except (FileNotFoundError, ProcessLookupError):
            continue
        # the state follows the command name's closing parenthesis
        if stat[stat.rindex(")") + 2] not in "TtZX":
            return False
    return True


def now():
    return time.monotonic()


class NodeFailed(RuntimeError):
    pass


class Node:
    """One cluster slot: a name, fixed ports, and the process running there."""

    def __init__(self, cluster, name, index, proxy_port, bind_port):
        self.cluster = cluster
        self.name = name
        self.index = index
        self.proxy_port = proxy_port
        self.bind_port = bind_port
        self.address = "%s:%d" % (HOST, proxy_port)       # advertised (--node)
        self.bind_address = "%s:%d" % (HOST, bind_port)   # --node-bind
        self.generation = 0          # fresh data dirs used in this slot
        self.data_dir = None
        self.log_path = None
        self.log_offset = 0          # where the current process's output starts
        self.proc = None
        self.s3_port = None
        self.join = False
        self.paused = False
        self.extra_args = []
        self.extra_dirs = []   # data directories after the first (shards only)
        self.tls = None        # (cert, key[, ca]) for this node alone (else the cluster's)
        self.history = []            # (event, time) for debugging

    # ---- properties

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    @property
    def tls_files(self):
        """(cert, key, ca or None) this node is started with, or None (plain)."""
        t = self.cluster.tls if self.tls is None else self.tls   # () : plain
        return tuple(t) + (None,) * (3 - len(t)) if t else None

    @property
    def endpoint(self):
        if not self.s3_port:
            return None
        return "%s://%s:%d" % ("https" if self.tls_files else "http", HOST, self.s3_port)

    def connection(self, timeout):
        """An http.client connection to the S3 port (HTTPS verified against
        the node's certificate when it runs TLS)."""
        t = self.tls_files
        if not t:
            return http.client.HTTPConnection(HOST, self.s3_port, timeout=timeout)
        ctx = ssl.create_default_context(cafile=t[0])
        return http.client.HTTPSConnection(HOST, self.s3_port, timeout=timeout, context=ctx)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def __repr__(self):
        return "<Node %s %s pid=%s s3=%s>" % (self.name, self.address, self.pid, self.s3_port)

    # ---- logs

    def log(self, whole=False):
        """The current process's output (whole=True: every incarnation's)."""
        if not self.log_path:
            return ""
        try:
            with open(self.log_path, "rb") as f:
                if not whole:
                    f.seek(self.log_offset)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=40):
        return "\n".join(self.log(whole=True).splitlines()[-n:])

    # ---- HTTP helpers (no auth)

    def ready(self, timeout=2.0):
        """True iff GET /_cairn/health/ready answers 200."""
        if not self.s3_port or not self.running or self.paused:
            return False
        try:
            c = self.connection(timeout)
            try:
                c.request("GET", "/_cairn/health/ready")
                return c.getresponse().status == 200
            finally:
                c.close()
        except (OSError, http.client.HTTPException):
            return False

    def metrics(self, timeout=10.0):
        """The samples of this node's /_cairn/metrics page (promtext.parse)."""
        c = self.connection(timeout)
        try:
            c.request("GET", "/_cairn/metrics")
            r = c.getresponse()
            body = r.read()
        finally:
            c.close()
        assert r.status == 200, body[:500]
        return promtext.parse(body.decode())


class StallMonitor:
    """Notices when this (test) process itself stalls: a thread that sleeps
    20 ms at a time and records every wake-up later than `threshold` s. The
    proxy runs in this process, so a stall here stalls the cluster network
    too (a GIL-bound or CPU-starved test process, not a cairn problem)."""

    def __init__(self, threshold=0.3):
        self.threshold = threshold
        self.stalls = []           # (wall clock time, seconds late)
        self.max_late = 0.0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, name="stall-monitor", daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            t = time.monotonic()
            time.sleep(0.02)
            late = time.monotonic() - t - 0.02
            self.max_late = max(self.max_late, late)
            if late > self.threshold:
                self.stalls.append((time.time(), late))

    def stop(self):
        self._stop.set()

    def describe(self):
        out = "test process: max scheduling delay %.3f s" % self.max_late
        if self.stalls:
            out += "; stalls > %.1f s at: %s" % (self.threshold, ", ".join(
                "%s (%.2f s)" % (time.strftime("%H:%M:%S", time.gmtime(t)) +
                                 ".%03d" % (int(t * 1000) % 1000), d)
                for t, d in self.stalls[-10:]))
        return out


class ProcessProxy:
    """A ClusterProxy running in a child process (proxyproc.py), same calls.

    The proxy then never stalls when this (test) process does (GC pauses,
    the GIL held by boto3 or the checker): such a stall silences every
    node-to-node link at once and looks like a network fault to cairn.
    Control calls stay synchronous, as with ClusterProxy.
    """

    def __init__(self, nodes, host=HOST):
        self.nodes = {k: tuple(v) for k, v in nodes.items()}
        self.host = host
        self._lock = threading.Lock()
        self.proc = None

    def start(self):
        import pickle
        self._pickle = pickle
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "proxyproc.py")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=None)
        try:
            st, val = self._rpc(self.nodes, timeout=30)
        except BaseException:
            self.proc.kill()
            self.proc.wait(5)
            raise
        if st != "ok":
            self.proc.wait(5)
            raise RuntimeError("proxy process failed to start: %s" % val)
        return self

    def _rpc(self, obj, timeout=30):
        import select
        self._pickle.dump(obj, self.proc.stdin)
        self.proc.stdin.flush()
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not r:
            raise RuntimeError("proxy process did not answer within %ss" % timeout)
        return self._pickle.load(self.proc.stdout)

    def _call(self, name, *args, **kw):
        with self._lock:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError("proxy process not running")
            st, val = self._rpc((name, args, kw))
        if st != "ok":
            raise RuntimeError("proxy: %s" % val)
        return val

    def stop(self, timeout=15):
        if self.proc is None:
            return
        try:
            if self.proc.poll() is None:
                self._call("__stop__")
        except Exception:  # noqa: BLE001
            pass
        finally:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:   # only our own child, by its pid
                self.proc.kill()
                self.proc.wait(5)
            self.proc.stdout.close()
            self.proc = None

    def address(self, node):
        return "%s:%d" % (self.host, self.nodes[node][0])

    def bind_address(self, node):
        return "%s:%d" % (self.host, self.nodes[node][1])

    def port(self, node):
        return self.nodes[node][0]

    def bind_port(self, node):
        return self.nodes[node][1]

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *a, **kw: self._call(name, *a, **kw)


class _NoProxy:
    """Stands in for the ClusterProxy of a direct (unproxied) cluster."""

    def start(self):
        return self

    def stop(self):
        pass

    def heal(self, *a, **kw):
        pass

    def describe(self):
        return "no proxy (direct cluster)"

    def __getattr__(self, name):
        raise RuntimeError("a direct cluster has no proxy: net.%s is not available" % name)


class Cluster:
    """n voters (names n1..nN) plus `spares` reserved slots, behind a ClusterProxy."""

    def __init__(self, n, base_dir, spares=0, heartbeat_ms=100, election_ms=1000,
                 snapshot_threshold=None, snapshot_trailing=None, extra_args=(),
                 start=True, wait=True, start_timeout=30.0, quiet=True, direct=None,
                 proxy=None, drives=1, tls=None):
        self.base_dir = str(base_dir)
        # tls=(cert, key[, ca]): every node runs --tls-cert/--tls-key (and
        # --tls-ca), on its S3 port and the cluster's; Node.tls overrides
        self.tls = tls
        os.makedirs(self.base_dir, exist_ok=True)
        self.n_initial = n
        self.heartbeat_ms = heartbeat_ms
        self.election_ms = election_ms
        self.snapshot_threshold = snapshot_threshold
        self.snapshot_trailing = snapshot_trailing
        self.extra_args = list(extra_args)
        self.drives = drives
        self.quiet = quiet
        self.access_key = ACCESS_KEY
        self.secret_key = SECRET_KEY
        self.secret = CLUSTER_SECRET
        self.procs = []              # every Popen ever started (for teardown)
        self._clients = {}
        self.closed = False
        total = n + spares
        ports = free_ports(2 * total)
        self.slots = []
        for i in range(total):
            self.slots.append(Node(self, "n%d" % (i + 1), i, ports[2 * i], ports[2 * i + 1]))
        if direct is None:   # CAIRN_CLUSTER_DIRECT=1: diagnose without the proxy
            direct = os.environ.get("CAIRN_CLUSTER_DIRECT") == "1"
        if direct:
            # no proxy: nodes advertise their bind address (no network faults)
            for s in self.slots:
                s.proxy_port = s.bind_port
                s.address = s.bind_address
            self.net = _NoProxy()
        else:
            # the proxy runs in a child process by default (proxy="process");
            # proxy="thread" (or CAIRN_CLUSTER_PROXY=thread) keeps it in this one
            proxy = proxy or os.environ.get("CAIRN_CLUSTER_PROXY", "process")
            ports = {s.name: (s.proxy_port, s.bind_port) for s in self.slots}
            self.net = ProcessProxy(ports) if proxy == "process" else ClusterProxy(ports)
        self.net.start()
        self.monitor = StallMonitor()
        self.peers = ",".join(s.address for s in self.slots[:n])
        try:
            if start:
                for s in self.slots[:n]:
                    self.start_node(s, wait=False)
                if wait:
                    self.wait_ready(timeout=start_timeout)
        except BaseException:
            self.close(failed=True)
            raise

    # ------------------------------------------------------------ nodes

    @property
    def nodes(self):
        """Slots with a process started at least once (running or not)."""
        return [s for s in self.slots if s.proc is not None]

    def running_nodes(self):
        return [s for s in self.slots if s.running]

    def node(self, name_or_addr):
        for s in self.slots:
            if name_or_addr in (s.name, s.address):
                return s
        raise KeyError(name_or_addr)

    def _args(self, node, listen_port):
        a = [cairn_bin(), "server", "--listen", "%s:%d" % (HOST, listen_port),
             "--node", node.address, "--node-bind", node.bind_address,
             "--peers", self.peers,
             "--raft-heartbeat-ms", str(self.heartbeat_ms),
             "--raft-election-ms", str(self.election_ms)]
        if self.snapshot_threshold is not None:
            a += ["--raft-snapshot-threshold", str(self.snapshot_threshold)]
        if self.snapshot_trailing is not None:
            a += ["--raft-snapshot-trailing", str(self.snapshot_trailing)]
        if node.join:
            a.append("--join")
        if self.quiet:
            a.append("--quiet")
        t = node.tls_files
        if t:
            a += ["--tls-cert", t[0], "--tls-key", t[1]] + (["--tls-ca", t[2]] if t[2] else [])
        a += self.extra_args + node.extra_args
        a.append(node.data_dir)
        a += node.extra_dirs
        return a

    def _env(self):
        e = dict(os.environ)
        e["CAIRN_CLUSTER_SECRET"] = self.secret
        e["CAIRN_ROOT_USER"] = self.access_key
        e["CAIRN_ROOT_PASSWORD"] = self.secret_key
        return e

    def start_node(self, node, join=None, fresh=False, wait=True, timeout=30.0):
        """Start the process of slot `node` (a fresh data dir if fresh or first)."""
        if node.running:
            raise RuntimeError("%s is already running" % node.name)
        if join is not None:
            node.join = join
        if fresh or node.data_dir is None:
            node.generation += 1
            node.data_dir = os.path.join(self.base_dir, "%s-data%d" % (node.name, node.generation))
            node.extra_dirs = ["%s-d%d" % (node.data_dir, j) for j in range(2, self.drives + 1)]
            node.s3_port = None
        node.log_path = os.path.join(self.base_dir, "%s.log" % node.name)
        for attempt in range(3):
            listen = node.s3_port or 0
            logf = open(node.log_path, "ab")
            try:
                logf.write(("\n===== harness: start %s (%s) gen %d at %.3f =====\n" % (
                    node.name, "join" if node.join else "member", node.generation,
                    time.time())).encode())
                logf.flush()
                node.log_offset = logf.tell()
                proc = subprocess.Popen(self._args(node, listen), stdin=subprocess.DEVNULL,
                                        stdout=logf, stderr=subprocess.STDOUT, env=self._env())
            finally:
                logf.close()
            self.procs.append(proc)
            node.proc = proc
            node.paused = False
            node.history.append(("start", now()))
            try:
                self._wait_port(node, timeout=min(timeout, 15.0))
                break
            except NodeFailed:
                log = node.log()
                if listen and "in use" in log.lower() and attempt < 2:
                    node.s3_port = None    # our old S3 port was taken: a new one
                    continue
                raise
        if wait:
            self.wait_ready([node], timeout=timeout)
        return node

    def _wait_port(self, node, timeout):
        deadline = now() + timeout
        while now() < deadline:
            if node.proc.poll() is not None:
                raise NodeFailed("%s exited with %s during start:\n%s" % (
                    node.name, node.proc.returncode, node.log()[-3000:]))
            m = re.search(r"S3 endpoint https?://[^:\s]+:(\d+)", node.log())
            if m:
                node.s3_port = int(m.group(1))
                return
            time.sleep(0.02)
        raise NodeFailed("%s printed no S3 endpoint within %.0fs:\n%s" % (
            node.name, timeout, node.log()[-3000:]))

    def wait_ready(self, nodes=None, timeout=30.0):
        """Wait until every given node (default: every running one) is ready."""
        nodes = self.running_nodes() if nodes is None else list(nodes)
        deadline = now() + timeout
        pending = list(nodes)
        while pending:
            for nd in list(pending):
                if not nd.running:
                    raise NodeFailed("%s is not running (exit %s):\n%s" % (
                        nd.name, nd.proc.poll() if nd.proc else None, nd.log()[-3000:]))
                if nd.ready():
                    pending.remove(nd)
            if not pending:
                break
            if now() > deadline:
                raise TimeoutError("not ready after %.0fs: %s\nstatus: %s" % (
                    timeout, [n.name for n in pending], self._status_summary()))
            time.sleep(0.05)

    def _status_summary(self):
        out = []
        for nd in self.running_nodes():
            try:
                st = self.status(nd, timeout=3)
                out.append("%s: leader=%s term=%s ready=%s nodes=%s" % (
                    nd.name, st.get("leader_address"), st.get("term"), st.get("ready"),
                    [(x.get("address"), x.get("membership"), x.get("state"),
                      x.get("commit"), x.get("applied")) for x in st.get("nodes", [])]))
            except Exception as e:  # noqa: BLE001 - diagnostics only
                out.append("%s: status failed: %s" % (nd.name, e))
        return "; ".join(out)

    def kill(self, node, sig=signal.SIGKILL, wait=True):
        """Signal the node's process (default SIGKILL) and wait for it to exit."""
        if not node.running:
            return node.proc.returncode if node.proc else None
        if node.paused and sig != signal.SIGCONT:
            node.proc.send_signal(sig)
            node.proc.send_signal(signal.SIGCONT)
            node.paused = False
        else:
            node.proc.send_signal(sig)
        node.history.append(("signal %d" % sig, now()))
        if wait:
            try:
                node.proc.wait(30)
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait(10)
                raise NodeFailed("%s did not exit within 30 s of signal %d" % (node.name, sig))
        return node.proc.returncode

    def stop(self, node, timeout=20.0):
        """SIGTERM and wait; returns the exit code (SIGKILL + error if it hangs)."""
        if not node.running:
            return node.proc.returncode if node.proc else None
        if node.paused:
            self.resume(node)
        node.proc.send_signal(signal.SIGTERM)
        node.history.append(("stop", now()))
        try:
            return node.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            node.proc.kill()
            node.proc.wait(10)
            raise NodeFailed("%s did not stop within %.0fs of SIGTERM:\n%s" % (
                node.name, timeout, node.log()[-3000:]))

    def pause(self, node, timeout=10.0):
        """SIGSTOP, and wait until every thread of the process has stopped.

        kill() returns once the signal is queued; the other threads stop only
        after the one that takes it runs and starts the group stop. On a busy
        machine that is milliseconds, in which the node still answers calls
        (a read round's confirmation, say) that came after pause returned."""
        node.proc.send_signal(signal.SIGSTOP)
        node.paused = True
        node.history.append(("pause", now()))
        end = time.monotonic() + timeout
        while not _all_threads_stopped(node.proc.pid):
            if time.monotonic() > end:
                raise NodeFailed("%s: threads still running %.0fs after SIGSTOP" % (
                    node.name, timeout))
            time.sleep(0.001)

    def resume(self, node):
        node.proc.send_signal(signal.SIGCONT)
        node.paused = False
        node.history.append(("resume", now()))

    def restart(self, node, wait=True, timeout=30.0, sig=None):
        """(Kill with sig if given and running,) start again: same data dir and ports."""
        if node.running:
            if sig is None:
                self.stop(node)
            else:
                self.kill(node, sig)
        return self.start_node(node, wait=wait, timeout=timeout)

    # ------------------------------------------------------------ membership

    def spare(self):
        for s in self.slots:
            if s.proc is None:
                return s
        raise RuntimeError("no spare slot left (Cluster(spares=...))")

    def add_node(self, node=None, via=None, join=True, fresh=True, timeout=60.0,
                 wait_voter=True):
        """Start a node with --join (a spare slot by default) and `cluster add` it."""
        node = node or self.spare()
        self.start_node(node, join=join, fresh=fresh, wait=False)
        self.admin_cluster("add", node.address, via=via, timeout=timeout)
        if wait_voter:
            self.wait_voter(node, timeout=timeout)
            self.wait_ready([node], timeout=timeout)
        return node

    def remove_node(self, node, via=None, timeout=30.0, force=False):
        return self.admin_cluster("remove", node.address, via=via, timeout=timeout,
                                  force=force)

    def admin_cluster(self, op, address, via=None, timeout=30.0, force=False):
        """`cairn admin cluster add|remove ADDR [--force]` through some ready
        node, retried on 503."""
        deadline = now() + timeout
        last = None
        while True:
            cands = [via] if via else [n for n in self.running_nodes() if not n.paused]
            for nd in cands:
                if nd is None or not nd.running:
                    continue
                # a change can outlast one election on a loaded (ASan) run:
                # give the call what is left of the deadline, and retry
                left = max(15.0, deadline - now())
                try:
                    rc, out = self.admin(nd, "cluster", op, address,
                                         *(["--force"] if force else []), timeout=left)
                except subprocess.TimeoutExpired:
                    last = (nd.name, "timeout", "")
                    continue
                last = (nd.name, rc, out)
                if rc == 0:
                    try:
                        return json.loads(out)
                    except ValueError:
                        return out
                if op == "remove" and "no such member" in out:
                    return {}  # a retry of a remove that already happened
            if now() > deadline:
                raise RuntimeError("cluster %s %s failed: %r; %s" % (
                    op, address, last, self._status_summary()))
            time.sleep(0.5)

    def admin(self, node, *args, timeout=20):
        """Run `cairn admin --endpoint <node> ARGS`; returns (exit code, stdout+stderr)."""
        env = self._env()
        p = subprocess.run([cairn_bin(), "admin", "--endpoint", node.endpoint] + list(args),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=env, timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace")

    def wait_voter(self, node, timeout=60.0):
        """Wait until some node's status lists node as a voter."""
        deadline = now() + timeout
        while True:
            st = self.any_status()
            if st:
                for x in st.get("nodes", []):
                    if x.get("address") == node.address and x.get("membership") == "voter":
                        return st
            if now() > deadline:
                raise TimeoutError("%s not a voter after %.0fs: %s" % (
                    node.name, timeout, self._status_summary()))
            time.sleep(0.2)

    # ------------------------------------------------------------ status

    def status(self, node, timeout=5.0, cli=False):
        """Admin cluster status (JSON dict) as node sees it."""
        if cli:
            rc, out = self.admin(node, "cluster", "status", timeout=timeout + 10)
            if rc != 0:
                raise RuntimeError("cluster status on %s: exit %d: %s" % (node.name, rc, out))
            return json.loads(out)
        st, body = self.signed_request(node, "GET", "/_cairn/admin/cluster", timeout=timeout)
        if st != 200:
            raise RuntimeError("cluster status on %s: HTTP %d %r" % (node.name, st, body[:300]))
        return json.loads(body)

    def any_status(self, nodes=None, timeout=5.0):
        """The status from the first node that answers with a known leader (or None)."""
        for nd in (nodes or self.running_nodes()):
            if nd.paused or not nd.running:
                continue
            try:
                st = self.status(nd, timeout=timeout)
            except Exception:  # noqa: BLE001
                continue
            if st.get("leader_id"):
                return st
        return None

    def leader(self, timeout=15.0, among=None):
        """The leader's Node: a leader every asked running node agrees on."""
        deadline = now() + timeout
        while True:
            cands = among or [n for n in self.running_nodes() if not n.paused]
            seen = set()
            for nd in cands:
                try:
                    st = self.status(nd, timeout=3)
                except Exception:  # noqa: BLE001
                    continue
                addr = st.get("leader_address")
                if st.get("leader_id") and addr:
                    seen.add(addr)
            if len(seen) == 1:
                addr = seen.pop()
                try:
                    ld = self.node(addr)
                except KeyError:
                    ld = None
                if ld is not None and ld.running and not ld.paused:
                    return ld
            if now() > deadline:
                raise TimeoutError("no agreed leader after %.0fs: %s" % (
                    timeout, self._status_summary()))
            time.sleep(0.1)

    def signed_request(self, node, method, path, query="", body=b"", headers=None,
                       timeout=5.0):
        """A SigV4-signed (root credentials) request to node's S3 port: (status, body)."""
        url = "%s%s%s" % (node.endpoint, path, "?" + query if query else "")
        req = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
        S3SigV4Auth(Credentials(self.access_key, self.secret_key), "s3", REGION).add_auth(req)
        hdrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in req.headers.items()}
        c = node.connection(timeout)
        try:
            c.request(method, path + ("?" + query if query else ""), body=body or None,
                      headers=hdrs)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    # ------------------------------------------------------------ clients

    def client(self, node, connect_timeout=3, read_timeout=5, cached=True):
        """A boto3 S3 client for node (path style, us-east-1, no retries at all).

        Shared by every thread (botocore clients are thread-safe; put_cond's
        extra headers are per thread) and cached per (node incarnation,
        timeouts): few clients, so a small heap and short GC pauses in this
        process -- which also runs the proxy. c.put_cond(headers, **kw) is a
        put_object with extra headers (If-Match, If-None-Match) added before
        signing (works on boto3 1.26 too).
        """
        key = (node.name, node.generation, node.s3_port, connect_timeout, read_timeout)
        with _client_lock:
            c = self._clients.get(key) if cached else None
            if c is not None:
                return c
            cfg = Config(s3={"addressing_style": "path"},
                         retries={"max_attempts": 0, "mode": "standard"},  # no retry at all
                         connect_timeout=connect_timeout, read_timeout=read_timeout,
                         signature_version="s3v4", max_pool_connections=32)
            t = node.tls_files
            c = _session().client("s3", endpoint_url=node.endpoint, region_name=REGION,
                                  verify=t[0] if t else None,
                                  aws_access_key_id=self.access_key,
                                  aws_secret_access_key=self.secret_key, config=cfg)
            local = threading.local()

            def add_headers(request, **_kw):
                for k, v in getattr(local, "headers", {}).items():
                    request.headers[k] = v

            c.meta.events.register("before-sign.s3.PutObject", add_headers)

            def put_cond(headers, **kw):
                local.headers = headers
                try:
                    return c.put_object(**kw)
                finally:
                    local.headers = {}

            c.put_cond = put_cond
            if cached:
                self._clients[key] = c
            return c

    # ------------------------------------------------------------ teardown

    def dump_logs(self, lines=60, out=None):
        out = out or sys.stderr
        for s in self.slots:
            if s.log_path:
                out.write("\n----- %s (%s) log tail: %s -----\n%s\n" % (
                    s.name, s.address, s.log_path, s.log_tail(lines)))
        try:
            out.write("\n" + self.net.describe() + "\n")
            out.write(self.monitor.describe() + "\n")
        except Exception:  # noqa: BLE001
            pass
        out.flush()

    def close(self, failed=False, check_exit=False):
        """Stop every process started here (by pid) and the proxy.

        failed: print every log tail first. check_exit: raise if a node that
        was running did not exit 0 on SIGTERM.
        """
        if self.closed:
            return
        self.closed = True
        if failed:
            self.dump_logs()
        try:
            self.net.heal()
        except Exception:  # noqa: BLE001
            pass
        bad = []
        live = [p for p in self.procs if p.poll() is None]
        for p in live:
            try:
                p.send_signal(signal.SIGCONT)
                p.send_signal(signal.SIGTERM)
            except OSError:
                pass
        deadline = now() + 15
        for p in live:
            try:
                p.wait(max(0.1, deadline - now()))
            except subprocess.TimeoutExpired:
                bad.append((p.pid, "no exit 15 s after SIGTERM"))
                p.kill()
                p.wait(10)
            else:
                if p.returncode != 0:
                    bad.append((p.pid, "exit %s" % p.returncode))
        for p in self.procs:   # anything left (should be none)
            if p.poll() is None:
                p.kill()
                p.wait(10)
        try:
            self.net.stop()
        except Exception:  # noqa: BLE001
            pass
        self.monitor.stop()
        if bad and check_exit:
            self.dump_logs()
            raise NodeFailed("nodes did not stop cleanly: %r" % bad)
        return bad

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        self.close(failed=et is not None)
        return False
