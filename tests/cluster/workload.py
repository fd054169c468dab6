"""Client workloads for cluster tests, recorded for the linearizability checker.

Workload(cluster, bucket, ...) runs `threads` client threads; each is a
sequential process that picks a random target node per operation and does,
on a few register keys ("r/k0".."r/kN"):
    get                         GetObject (404 -> read None)
    put(v)                      PutObject of a unique small (inline) value
    cas(expect, v)              GetObject, then PutObject If-Match: its ETag
    create(v)                   PutObject If-None-Match: *
    delete                      DeleteObject
plus, outside the register keys:
    list-put / list             PutObject of a fresh never-deleted key "l/..."
                                and ListObjectsV2(prefix "l/"): a LIST that
                                started after a PUT was acknowledged must show
                                the key; a LIST never shows a key nobody wrote
    big-put                     (optional) a blob-sized object "b/..." whose
                                bytes are checked on every node at the end
Results: 2xx -> ok; 404/412 -> the precondition results; 5xx, timeouts and
dropped connections -> unknown (a new process id takes over, Jepsen style);
a connection that could not even be opened -> the op is not recorded (it
was never sent). Anything else (403, 400, a body whose ETag is not its MD5,
a LIST anomaly) is an anomaly that fails the run.

    w = Workload(cluster, bucket, threads=4, keys=5, seed=1)
    w.start(); ...faults...; w.stop()
    w.final_reads(cluster.running_nodes())   # recorded gets on every node
    res = w.check(dump_dir)                  # linearizability + anomalies

CounterWorkload: clients increment one counter with If-Match (read, then put
value+1 with the ETag read; 412 -> read again). check(final) asserts
acked <= final <= acked + unknown.
"""

import hashlib
import json
import os
import random
import sys
import threading
import time
import collections

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from botocore.exceptions import (  # noqa: E402
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
)

import linearizability  # noqa: E402

NOT_SENT = (EndpointConnectionError, ConnectTimeoutError)
ERROR_BACKOFF = 0.1


def md5_etag(data):
    return '"%s"' % hashlib.md5(data).hexdigest()


def err_status(e):
    """(HTTP status, error code) of a ClientError."""
    r = e.response
    return (r.get("ResponseMetadata", {}).get("HTTPStatusCode"),
            r.get("Error", {}).get("Code"))


def thread_client(cluster, node, read_timeout=5, connect_timeout=3):
    """The (shared, thread-safe) boto3 client of node with these timeouts."""
    return cluster.client(node, read_timeout=read_timeout, connect_timeout=connect_timeout)


class Recorder:
    """Records completed ops as checker dicts; an op never sent is dropped."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ops = []

    def add(self, rec):
        with self.lock:
            self.ops.append(rec)

    def snapshot(self):
        with self.lock:
            return [dict(o) for o in self.ops]


class _Proc:
    def __init__(self, tid):
        self.tid = tid
        self.gen = 0

    @property
    def pid(self):
        return "t%d.%d" % (self.tid, self.gen)

    def crashed(self):
        self.gen += 1


class Workload:
    def __init__(self, cluster, bucket, threads=4, keys=5, seed=None, targets=None,
                 read_timeout=5, big_every=0, big_size=100 * 1024, pause_s=0.0,
                 mix=None, list_prefix="l/", value_pad=0):
        self.cluster = cluster
        self.bucket = bucket
        self.n_threads = threads
        self.keys = ["r/k%d" % i for i in range(keys)]
        self.rng = random.Random(seed)
        self.seed = seed
        self.targets = targets or (lambda: cluster.running_nodes())
        self.read_timeout = read_timeout
        self.big_every = big_every
        self.big_size = big_size
        self.pause_s = pause_s
        self.mix = mix or {"get": 30, "put": 20, "cas": 20, "create": 8, "delete": 8,
                           "list_put": 6, "list": 6}
        self.list_prefix = list_prefix
        # register values padded to this many bytes more (after a newline,
        # dropped again when read): past the size kept in the metadata, a
        # register is an erasure-coded blob, read from other nodes
        self.pad = (b"\n" + b"." * (value_pad - 1)) if value_pad > 0 else b""
        self.rec = Recorder()
        self.anomalies = []
        self.stats = collections.Counter()
        self.errors = collections.Counter()
        self.stop_ev = threading.Event()
        self.threads = []
        self.lock = threading.Lock()
        # list sub-workload
        self.not_sent = []            # ops not recorded: the connection failed
        self.list_attempted = set()
        self.list_acked = {}          # key -> ack time
        # big objects: key -> (md5 hex, size, node name) once acknowledged
        self.big_acked = {}
        self.t0 = None

    # ------------------------------------------------------------ control

    def start(self):
        self.t0 = time.monotonic()
        for i in range(self.n_threads):
            rng = random.Random(self.rng.random())
            t = threading.Thread(target=self._run, args=(i, rng), name="wl-%d" % i, daemon=True)
            self.threads.append(t)
            t.start()
        return self

    def stop(self, timeout=60):
        self.stop_ev.set()
        for t in self.threads:
            t.join(timeout)
            if t.is_alive():
                raise RuntimeError("workload thread %s did not stop" % t.name)

    def run_for(self, seconds):
        self.start()
        time.sleep(seconds)
        self.stop()

    def anomaly(self, msg):
        with self.lock:
            self.anomalies.append("%.3f %s" % (time.monotonic() - (self.t0 or 0), msg))

    # ------------------------------------------------------------ ops

    def _client(self, node):
        return thread_client(self.cluster, node, read_timeout=self.read_timeout)

    def _pick(self, rng):
        nodes = [n for n in self.targets() if n.s3_port]
        return rng.choice(nodes) if nodes else None

    def _run(self, tid, rng):
        proc = _Proc(tid)
        seq = 0
        ops = list(self.mix)
        weights = [self.mix[o] for o in ops]
        while not self.stop_ev.is_set():
            node = self._pick(rng)
            if node is None:
                time.sleep(0.05)
                continue
            seq += 1
            kind = rng.choices(ops, weights)[0]
            if self.big_every and seq % self.big_every == 0:
                kind = "big_put"
            key = rng.choice(self.keys)
            value = "v%d.%d.%d" % (tid, seq, rng.randrange(1 << 30))
            try:
                if kind == "get":
                    self.op_get(proc, node, key)
                elif kind == "put":
                    self.op_put(proc, node, key, value)
                elif kind == "cas":
                    self.op_cas(proc, node, key, value)
                elif kind == "create":
                    self.op_create(proc, node, key, value)
                elif kind == "delete":
                    self.op_delete(proc, node, key)
                elif kind == "list_put":
                    self.op_list_put(node, "%st%d-%d" % (self.list_prefix, tid, seq))
                elif kind == "list":
                    self.op_list(node)
                elif kind == "big_put":
                    self.op_big_put(node, "b/t%d-%d" % (tid, seq), rng)
            except Exception as e:  # noqa: BLE001 - a harness bug: report, keep going
                self.anomaly("workload error %s on %s: %r" % (kind, node.name, e))
                time.sleep(0.1)
            if self.pause_s:
                time.sleep(rng.random() * self.pause_s)

    def _finish(self, proc, rec, result, read=None):
        rec["end"] = time.monotonic()
        rec["result"] = result
        if rec["op"] == "get" and result == "ok":
            rec["read"] = read
        rec["node"] = rec.get("node")
        self.rec.add(rec)
        self.stats["%s:%s" % (rec["op"], result)] += 1
        if result == "unknown":
            proc.crashed()

    def _classify_error(self, e, rec, node):
        """Result for an exception; None = never sent (not recorded)."""
        time.sleep(ERROR_BACKOFF)   # like a real client: do not hammer a failing node
        if isinstance(e, NOT_SENT):
            self.errors["not_sent"] += 1
            r = dict(rec, end=time.monotonic(), error=repr(e))
            with self.lock:
                self.not_sent.append(r)
            return None
        if isinstance(e, ClientError):
            st, code = err_status(e)
            self.errors["%s %s" % (st, code)] += 1
            if st in (500, 503):
                return "unknown"
            self.anomaly("unexpected %s %s for %s %s on %s" % (st, code, rec["op"], rec["key"],
                                                                node.name))
            return "unknown"
        self.errors[type(e).__name__] += 1
        return "unknown"

    def _new(self, proc, node, key, op, value=None, expect=None):
        rec = {"process": proc.pid, "key": key, "op": op, "node": node.name}
        if value is not None:
            rec["value"] = value
        if expect is not None:
            rec["expect"] = expect
        rec["start"] = time.monotonic()
        return rec

    def op_get(self, proc, node, key):
        """Returns (value or None, etag) when ok, else raises nothing: returns False."""
        c = self._client(node)
        rec = self._new(proc, node, key, "get")
        try:
            r = c.get_object(Bucket=self.bucket, Key=key)
            body = r["Body"].read()
        except ClientError as e:
            st, code = err_status(e)
            if st == 404 and code == "NoSuchKey":
                self._finish(proc, rec, "ok", None)
                return (None, None)
            res = self._classify_error(e, rec, node)
            if res is not None:
                self._finish(proc, rec, res)
            return False
        except Exception as e:  # noqa: BLE001
            res = self._classify_error(e, rec, node)
            if res is not None:
                self._finish(proc, rec, res)
            return False
        etag = r.get("ETag")
        if etag != md5_etag(body):
            self.anomaly("get %s on %s: ETag %s is not the MD5 of %r" % (key, node.name, etag,
                                                                        body[:80]))
        if self.pad:
            if not body.endswith(self.pad):
                self.anomaly("get %s on %s: the value's padding is not there: %r" % (
                    key, node.name, body[:80]))
            body = body[:len(body) - len(self.pad)] if body.endswith(self.pad) else body
        v = body.decode("utf-8", "replace")
        self._finish(proc, rec, "ok", v)
        return (v, etag)

    def _write(self, proc, node, rec, fn, fail_map):
        try:
            fn()
        except ClientError as e:
            st, code = err_status(e)
            if (st, code) in fail_map:
                self._finish(proc, rec, fail_map[(st, code)])
                return fail_map[(st, code)]
            res = self._classify_error(e, rec, node)
        except Exception as e:  # noqa: BLE001
            res = self._classify_error(e, rec, node)
        else:
            self._finish(proc, rec, "ok")
            return "ok"
        if res is not None:
            self._finish(proc, rec, res)
        return res

    def op_put(self, proc, node, key, value):
        c = self._client(node)
        rec = self._new(proc, node, key, "put", value=value)
        return self._write(proc, node, rec, lambda: c.put_object(
            Bucket=self.bucket, Key=key, Body=value.encode() + self.pad), {})

    def op_create(self, proc, node, key, value):
        c = self._client(node)
        rec = self._new(proc, node, key, "create", value=value)
        return self._write(proc, node, rec, lambda: c.put_cond(
            {"If-None-Match": "*"}, Bucket=self.bucket, Key=key, Body=value.encode() + self.pad),
            {(412, "PreconditionFailed"): "fail"})

    def op_cas(self, proc, node, key, value):
        got = self.op_get(proc, node, key)
        if got is False:
            return None
        cur, etag = got
        if cur is None:
            return self.op_create(proc, node, key, value)
        c = self._client(node)
        rec = self._new(proc, node, key, "cas", value=value, expect=cur)
        return self._write(proc, node, rec, lambda: c.put_cond(
            {"If-Match": etag}, Bucket=self.bucket, Key=key, Body=value.encode() + self.pad),
            {(412, "PreconditionFailed"): "fail_mismatch", (404, "NoSuchKey"): "fail_absent"})

    def op_delete(self, proc, node, key):
        c = self._client(node)
        rec = self._new(proc, node, key, "delete")
        return self._write(proc, node, rec, lambda: c.delete_object(
            Bucket=self.bucket, Key=key), {})

    def op_list_put(self, node, key):
        c = self._client(node)
        with self.lock:
            self.list_attempted.add(key)
        try:
            c.put_object(Bucket=self.bucket, Key=key, Body=b"l")
        except Exception as e:  # noqa: BLE001
            self._note_error(e, "list-put", node)
            return False
        t = time.monotonic()
        with self.lock:
            self.list_acked[key] = t
        self.stats["list_put:ok"] += 1
        return True

    def _note_error(self, e, what, node):
        time.sleep(ERROR_BACKOFF)
        if isinstance(e, ClientError):
            st, code = err_status(e)
            self.errors["%s %s" % (st, code)] += 1
            if st not in (500, 503):
                self.anomaly("unexpected %s %s for %s on %s" % (st, code, what, node.name))
        else:
            self.errors[type(e).__name__] += 1

    def list_keys(self, node, prefix, client=None):
        c = client or self._client(node)
        keys = []
        kw = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": 1000}
        for _ in range(1000):
            r = c.list_objects_v2(**kw)
            keys += [o["Key"] for o in r.get("Contents", [])]
            if not r.get("IsTruncated"):
                return keys
            kw["ContinuationToken"] = r["NextContinuationToken"]
        raise RuntimeError("LIST did not end")

    def op_list(self, node):
        start = time.monotonic()
        with self.lock:
            must = {k for k, t in self.list_acked.items() if t < start}
        try:
            keys = self.list_keys(node, self.list_prefix)
        except Exception as e:  # noqa: BLE001
            self._note_error(e, "list", node)
            return False
        self.stats["list:ok"] += 1
        got = set(keys)
        with self.lock:
            attempted = set(self.list_attempted)
        missing = must - got
        phantom = got - attempted
        if missing:
            self.anomaly("LIST on %s (started %.3f) misses %d acknowledged keys: %s" % (
                node.name, start - self.t0, len(missing), sorted(missing)[:10]))
        if phantom:
            self.anomaly("LIST on %s shows keys never written: %s" % (node.name,
                                                                     sorted(phantom)[:10]))
        if keys != sorted(keys) or len(keys) != len(got):
            self.anomaly("LIST on %s: keys not sorted/unique" % node.name)
        return True

    def op_big_put(self, node, key, rng):
        data = bytes(rng.getrandbits(8) for _ in range(64)) * (self.big_size // 64)
        c = self._client(node)
        try:
            c.put_object(Bucket=self.bucket, Key=key, Body=data)
        except Exception as e:  # noqa: BLE001
            self._note_error(e, "big-put", node)
            return False
        with self.lock:
            self.big_acked[key] = (hashlib.md5(data).hexdigest(), len(data),
                                   "%s#%d" % (node.name, node.generation))
        self.stats["big_put:ok"] += 1
        return True

    # ------------------------------------------------------------ checks

    def final_reads(self, nodes, timeout=30):
        """A recorded get of every register key on every node (after healing);
        each retried for up to timeout s; returns the (node, key) never read."""
        proc = _Proc(1000)
        unread = []
        for node in nodes:
            for key in self.keys:
                deadline = time.monotonic() + timeout
                while True:
                    got = self.op_get(proc, node, key)
                    if got is not False:
                        break
                    if time.monotonic() > deadline:
                        unread.append((node.name, key))
                        break
                    time.sleep(0.3)
        return unread

    def check_everywhere(self, nodes):
        """Every acknowledged list key and big object is visible on every node
        (a node replaced by a fresh one included: a blob's shards are spread
        over the nodes, and any k of them rebuild it)."""
        problems = []
        with self.lock:
            acked = dict(self.list_acked)
            big = dict(self.big_acked)
        for node in nodes:
            c = self.cluster.client(node, read_timeout=15)
            try:
                keys = set(_retry(lambda: self.list_keys(node, self.list_prefix, client=c)))
            except Exception as e:  # noqa: BLE001
                problems.append("LIST on %s failed: %r" % (node.name, e))
                continue
            miss = set(acked) - keys
            if miss:
                problems.append("%s misses %d acknowledged list keys: %s" % (
                    node.name, len(miss), sorted(miss)[:10]))
            for key, (md5, size, origin) in sorted(big.items()):
                try:
                    body = _retry(lambda: c.get_object(Bucket=self.bucket,
                                                       Key=key)["Body"].read())
                except Exception as e:  # noqa: BLE001
                    problems.append("GET %s (written on %s) on %s: %r" % (key, origin,
                                                                           node.name, e))
                    continue
                if hashlib.md5(body).hexdigest() != md5 or len(body) != size:
                    problems.append("GET %s on %s: %d bytes, wrong content" % (
                        key, node.name, len(body)))
        return problems

    def history(self):
        return self.rec.snapshot()

    def summary(self):
        ops = self.history()
        unknown = sum(1 for o in ops if o["result"] == "unknown")
        return {"ops": len(ops), "unknown": unknown, "stats": dict(self.stats),
                "errors": dict(self.errors), "anomalies": len(self.anomalies),
                "list_acked": len(self.list_acked), "big_acked": len(self.big_acked)}

    def check(self, dump_dir=None, name="history"):
        """Linearizability of the register history; returns (Result, dump path)."""
        ops = self.history()
        res = linearizability.check(ops)
        path = None
        if dump_dir and (not res.ok or os.environ.get("CAIRN_KEEP_HISTORY")):
            path = os.path.join(str(dump_dir), "%s-%d.json" % (name, os.getpid()))
            with open(path, "w") as f:
                json.dump(ops, f)
        return res, path


def assert_workload_ok(w, dump_dir, name="history"):
    """Fail (AssertionError) on anomalies or a non-linearizable history."""
    res, path = w.check(dump_dir, name)
    msgs = []
    if not res.ok:
        msgs.append("NOT LINEARIZABLE (history dumped to %s):\n%s" % (path, res.explain))
        if w.not_sent:
            t0 = w.t0 or 0
            msgs.append("ops not recorded (connection failed):\n  " + "\n  ".join(
                "%s %s %s %s on %s at %.3f: %s" % (o["process"], o["op"], o["key"],
                                                 o.get("value"), o["node"], o["start"] - t0,
                                                 o["error"]) for o in w.not_sent[:20]))
    if w.anomalies:
        msgs.append("anomalies:\n  " + "\n  ".join(w.anomalies[:30]))
    if msgs:
        print("\n".join(msgs))
        raise AssertionError("\n".join(msgs))
    return res


class CounterWorkload:
    """Increment a counter with If-Match from several clients."""

    def __init__(self, cluster, bucket, key="counter", threads=3, seed=None, targets=None,
                 read_timeout=5):
        self.cluster = cluster
        self.bucket = bucket
        self.key = key
        self.n_threads = threads
        self.rng = random.Random(seed)
        self.targets = targets or (lambda: cluster.running_nodes())
        self.read_timeout = read_timeout
        self.acked = 0
        self.unknown = 0
        self.conflicts = 0
        self.errors = collections.Counter()
        self.anomalies = []
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.threads = []
        self.attempts = {}        # tag -> (result, node, start, end, n+1)
        self.seq = 0

    def init(self, node, timeout=30, versioned=True):
        """Create the counter (0); versioned: keep every version for diagnosis."""
        c = self.cluster.client(node)
        deadline = time.monotonic() + timeout
        self.versioned = versioned
        while True:
            try:
                if versioned:
                    c.put_bucket_versioning(Bucket=self.bucket,
                                            VersioningConfiguration={"Status": "Enabled"})
                c.put_object(Bucket=self.bucket, Key=self.key, Body=b"0 init")
                return
            except Exception:  # noqa: BLE001
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def start(self):
        for i in range(self.n_threads):
            t = threading.Thread(target=self._run, args=(random.Random(self.rng.random()),),
                                 name="ctr-%d" % i, daemon=True)
            self.threads.append(t)
            t.start()
        return self

    def stop(self, timeout=60):
        self.stop_ev.set()
        for t in self.threads:
            t.join(timeout)
            if t.is_alive():
                raise RuntimeError("counter thread did not stop")

    def _run(self, rng):
        while not self.stop_ev.is_set():
            nodes = [n for n in self.targets() if n.s3_port]
            if not nodes:
                time.sleep(0.05)
                continue
            node = rng.choice(nodes)
            c = thread_client(self.cluster, node, read_timeout=self.read_timeout)
            try:
                r = c.get_object(Bucket=self.bucket, Key=self.key)
                body = r["Body"].read()
                etag = r["ETag"]
                n = int(body.split()[0])
            except Exception as e:  # noqa: BLE001
                self.errors["get " + _ename(e)] += 1
                time.sleep(ERROR_BACKOFF)
                continue
            with self.lock:
                self.seq += 1
                tag = "w%d" % self.seq
            t_start = time.monotonic()
            res = "?"
            try:
                c.put_cond({"If-Match": etag}, Bucket=self.bucket, Key=self.key,
                           Body=("%d %s" % (n + 1, tag)).encode())
                res = "ok"
            except ClientError as e:
                st, code = err_status(e)
                res = "%s %s" % (st, code)
                self.errors["put %s %s" % (st, code)] += 1
                if st == 412:
                    with self.lock:
                        self.conflicts += 1
                elif st in (500, 503):
                    with self.lock:
                        self.unknown += 1
                else:
                    with self.lock:
                        self.unknown += 1
                        self.anomalies.append("counter put: unexpected %s %s" % (st, code))
                if st != 412:
                    time.sleep(ERROR_BACKOFF)
                continue
            except NOT_SENT as e:
                res = "not sent " + _ename(e)
                self.errors["put " + _ename(e)] += 1
                continue
            except Exception as e:  # noqa: BLE001
                res = _ename(e)
                self.errors["put " + _ename(e)] += 1
                with self.lock:
                    self.unknown += 1
                continue
            finally:
                with self.lock:
                    self.attempts[tag] = (res, node.name, t_start, time.monotonic(), n + 1)
            with self.lock:
                self.acked += 1

    def read_final(self, node, timeout=30):
        c = self.cluster.client(node, read_timeout=10)
        deadline = time.monotonic() + timeout
        while True:
            try:
                return int(c.get_object(Bucket=self.bucket, Key=self.key)["Body"].read().split()[0])
            except Exception:  # noqa: BLE001
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def check(self, final):
        """None if acked <= final <= acked + unknown, else a message."""
        msgs = list(self.anomalies)
        if not (self.acked <= final <= self.acked + self.unknown):
            msgs.append("counter: final %d, acknowledged increments %d, unknown %d "
                        "(need acked <= final <= acked + unknown)"
                        % (final, self.acked, self.unknown))
            msgs.append("errors: %s" % dict(self.errors))
            msgs += self.diagnose()
        return "\n".join(msgs) or None

    def diagnose(self, node=None):
        """Versions of the counter vs what each writer was told (versioned mode)."""
        if not getattr(self, "versioned", False):
            return []
        node = node or self.cluster.running_nodes()[0]
        c = self.cluster.client(node, read_timeout=15)
        out = []
        try:
            vs = []
            kw = {"Bucket": self.bucket, "Prefix": self.key}
            while True:
                r = c.list_object_versions(**kw)
                vs += [v for v in r.get("Versions", []) if v["Key"] == self.key]
                if not r.get("IsTruncated"):
                    break
                kw["KeyMarker"] = r["NextKeyMarker"]
                kw["VersionIdMarker"] = r["NextVersionIdMarker"]
            applied = []
            for v in vs:
                body = c.get_object(Bucket=self.bucket, Key=self.key,
                                    VersionId=v["VersionId"])["Body"].read().decode()
                applied.append(body)
        except Exception as e:  # noqa: BLE001
            return ["diagnosis failed: %r" % e]
        seen = collections.Counter(b.split()[0] for b in applied)
        dup = sorted((int(k), v) for k, v in seen.items() if v > 1)
        if dup:
            out.append("counter values written more than once: %s" % dup[:20])
        t0 = min((a[2] for a in self.attempts.values()), default=0)
        for b in sorted(applied, key=lambda b: int(b.split()[0])):
            parts = b.split()
            if len(parts) < 2:
                continue
            a = self.attempts.get(parts[1])
            if a is None:
                out.append("version %r: no such attempt" % b)
            elif a[0] != "ok":
                out.append("version %r was applied but its writer got %r (node %s, "
                           "%.3f..%.3f s)" % (b, a[0], a[1], a[2] - t0, a[3] - t0))
        return out


def _retry(fn, timeout=30):
    """fn() again while it fails with a 5xx or a timeout (an election may be
    going on: unavailability is allowed, missing data is not)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except ClientError as e:
            if err_status(e)[0] not in (500, 503) or time.monotonic() > deadline:
                raise
        except Exception:  # noqa: BLE001
            if time.monotonic() > deadline:
                raise
        time.sleep(0.3)


def _ename(e):
    if isinstance(e, ClientError):
        st, code = err_status(e)
        return "%s %s" % (st, code)
    return type(e).__name__


def wait_write(cluster, nodes, bucket, key="probe", timeout=60, read_timeout=2):
    """PUT on every given node in parallel, again and again, until one succeeds.

    Returns (monotonic time of the first acknowledged PUT, its node).
    """
    deadline = time.monotonic() + timeout
    done = threading.Event()
    first = []
    lock = threading.Lock()

    def probe(node):
        cl = cluster.client(node, read_timeout=read_timeout, connect_timeout=1)
        while not done.is_set() and time.monotonic() < deadline:
            try:
                cl.put_object(Bucket=bucket, Key=key, Body=b"p")
            except Exception:  # noqa: BLE001
                time.sleep(0.02)
                continue
            t = time.monotonic()
            with lock:
                first.append((t, node))
            done.set()
            return

    threads = [threading.Thread(target=probe, args=(n,), daemon=True) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()) + read_timeout + 2)
    done.set()
    if not first:
        raise TimeoutError("no write succeeded on %s within %.0fs" % (
            [n.name for n in nodes], timeout))
    return min(first, key=lambda x: x[0])


def wait_write_each(cluster, nodes, bucket, key="probe", timeout=60, read_timeout=2):
    """PUT on every node in parallel until each one has acknowledged one.

    Returns {node name: monotonic time of its first acknowledged PUT or None}.
    """
    deadline = time.monotonic() + timeout
    got = {}

    def probe(node):
        cl = cluster.client(node, read_timeout=read_timeout, connect_timeout=1)
        while time.monotonic() < deadline:
            try:
                cl.put_object(Bucket=bucket, Key="%s-%s" % (key, node.name), Body=b"p")
            except Exception:  # noqa: BLE001
                time.sleep(0.02)
                continue
            got[node.name] = time.monotonic()
            return

    threads = [threading.Thread(target=probe, args=(n,), daemon=True) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()) + read_timeout + 2)
    return {n.name: got.get(n.name) for n in nodes}


def percentile(xs, p):
    xs = sorted(xs)
    if not xs:
        return None
    k = (len(xs) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)
