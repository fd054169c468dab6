#!/usr/bin/env python3
"""Long randomized fault runs against a real cairn cluster (not in make test).

    python3 tests/cluster/nemesis.py --nodes 5 --duration 600 --seed 7
    python3 tests/cluster/nemesis.py --nodes 3 --duration 120 --dir /tmp/nem --keep

Runs the cluster in epochs. Each epoch starts a fresh register workload
(workload.Workload: put/get/cas/create/delete/list on a few keys from
several client threads on random nodes) plus a CAS counter, applies one
random nemesis while they run, undoes it (heal, SIGCONT, restart, re-add),
waits until every node is ready again, reads every key on every node, and
checks:
  * the epoch's history is linearizable (linearizability.check);
  * no anomaly (LIST missing an acknowledged key, unexpected errors, ...);
  * every acknowledged list key and blob-sized object is visible on every
    node (convergence after the heal);
  * counter: acked <= final <= acked + unknown;
  * the cluster recovers at all (every node ready within --recover-timeout).
A failing epoch's history is dumped as JSON under the run directory with the
explanation; a cluster that does not recover ends the run.

Nemeses: kill (SIGKILL a node, often the leader, restart it), kill2 (two
nodes at once in a 5-node cluster), pause (SIGSTOP/SIGCONT, often the
leader), partition (a random minority, often with the leader), split (the
leader alone), bridge, isolate (a node cut from peers and clients), delay
(slow links), replace (once the heal queue is empty, kill a node, `cluster
remove` it, start a fresh one at the same address with --join, `cluster add`
it), none. A replace loses a node's drives for good; with m = 1 (3 nodes,
2+1) a blob written while a node was away has no redundancy until the
backfill (docs/ARCHITECTURE.md, write quorum), so the replace waits for the
backfill, as an operator would, and fails the epoch if it does not come.

Prints a summary (JSON after "NEMESIS-SUMMARY "): nemesis counts, ops,
histories checked, unknown ops, failures, unavailability windows (from a
leader kill/pause to the first acknowledged write on another node).
Exit status 0 iff there was no failure. Importable: run(...) -> summary.
"""

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from cluster_harness import Cluster  # noqa: E402
from workload import CounterWorkload, Workload, percentile, wait_write  # noqa: E402

NEMESES = ("kill", "kill2", "pause", "partition", "split", "bridge", "isolate", "delay",
           "replace", "none")
WEIGHTS = {"kill": 3, "kill2": 1, "pause": 2, "partition": 3, "split": 2, "bridge": 2,
           "isolate": 1, "delay": 1, "replace": 1, "none": 1}


class Recovery(Exception):
    """The cluster did not come back: the run cannot go on."""


class Runner:
    def __init__(self, nodes=5, duration=600, seed=None, base_dir=None, threads=4, keys=5,
                 recover_timeout=60, fault_s=(2.0, 6.0), log=print, nemeses=None, value_pad=0,
                 server_args=()):
        self.n = nodes
        self.server_args = list(server_args)
        self.duration = duration
        self.seed = seed if seed is not None else random.randrange(1 << 30)
        self.rng = random.Random(self.seed)
        self.base_dir = base_dir or tempfile.mkdtemp(prefix="cairn-nemesis-")
        self.threads = threads
        self.keys = keys
        self.value_pad = value_pad
        self.recover_timeout = recover_timeout
        self.fault_s = fault_s
        self.log = log
        self.nemeses = list(nemeses or NEMESES)
        self.counts = {}
        self.failures = []
        self.windows = []
        self.ops = 0
        self.unknown = 0
        self.histories = 0
        self.epochs = 0

    # ------------------------------------------------------------ helpers

    def say(self, msg):
        self.log("[nemesis %7.1fs] %s" % (time.monotonic() - self.t0, msg))

    def leader_or_none(self, c):
        try:
            return c.leader(timeout=10)
        except Exception:  # noqa: BLE001
            return None

    def pick(self, c, leader_bias=0.6):
        nodes = c.running_nodes()
        ld = self.leader_or_none(c)
        if ld is not None and self.rng.random() < leader_bias:
            return ld, True
        nd = self.rng.choice(nodes)
        return nd, nd is ld

    def wait_healed(self, c, timeout=30.0):
        """Every acknowledged blob has all its shards (no heal entry)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            st = c.any_status()
            last = st.get("heal_entries") if st else None
            if last == 0:
                return
            time.sleep(0.2)
        raise AssertionError("the heal queue did not drain within %.0fs (last: %r)" % (
            timeout, last))

    def fault_time(self):
        return self.rng.uniform(*self.fault_s)

    def recover(self, c):
        c.net.heal()
        for nd in c.nodes:
            if nd.paused:
                c.resume(nd)
        for nd in c.nodes:
            if not nd.running and not getattr(nd, "removed", False):
                c.start_node(nd, wait=False)
        try:
            c.wait_ready(timeout=self.recover_timeout)
            c.leader(timeout=self.recover_timeout)
        except Exception as e:  # noqa: BLE001
            raise Recovery("cluster did not recover within %ss: %s" % (
                self.recover_timeout, e)) from e

    # ------------------------------------------------------------ nemeses

    def nemesis(self, c, kind, bucket):
        """Apply one fault and undo it; returns a description."""
        names = [n.name for n in c.running_nodes()]
        if kind == "kill":
            nd, is_leader = self.pick(c)
            others = [n for n in c.running_nodes() if n is not nd]
            t0 = time.monotonic()
            c.kill(nd)
            desc = "kill %s%s" % (nd.name, " (leader)" if is_leader else "")
            if is_leader:
                t_ok, _ = wait_write(c, others, bucket, key="probe", timeout=30)
                self.windows.append(t_ok - t0)
                desc += ", write ok after %.2fs" % (t_ok - t0)
            time.sleep(max(0.0, self.fault_time() - (time.monotonic() - t0)))
            c.start_node(nd, wait=False)
            return desc
        if kind == "kill2":
            if len(names) < 5:
                return self.nemesis(c, "kill", bucket)
            victims = self.rng.sample(c.running_nodes(), 2)
            for nd in victims:
                c.kill(nd)
            time.sleep(self.fault_time())
            for nd in victims:
                c.start_node(nd, wait=False)
            return "kill %s" % ",".join(n.name for n in victims)
        if kind == "pause":
            nd, is_leader = self.pick(c)
            others = [n for n in c.running_nodes() if n is not nd]
            t0 = time.monotonic()
            c.pause(nd)
            desc = "SIGSTOP %s%s" % (nd.name, " (leader)" if is_leader else "")
            if is_leader:
                t_ok, _ = wait_write(c, others, bucket, key="probe", timeout=30)
                self.windows.append(t_ok - t0)
                desc += ", write ok after %.2fs" % (t_ok - t0)
            time.sleep(max(0.0, self.fault_time() - (time.monotonic() - t0)))
            c.resume(nd)
            return desc
        if kind in ("partition", "split"):
            ld = self.leader_or_none(c)
            k = (len(names) - 1) // 2
            if kind == "split" and ld is not None:
                minority = [ld.name]
            else:
                minority = self.rng.sample(names, self.rng.randint(1, k))
                if ld is not None and ld.name not in minority and self.rng.random() < 0.5:
                    minority[0] = ld.name
            majority = [x for x in names if x not in minority]
            c.net.partition(majority, minority)
            time.sleep(self.fault_time())
            c.net.heal()
            return "partition %s | %s" % (majority, minority)
        if kind == "bridge":
            ns = names[:]
            self.rng.shuffle(ns)
            via = ns[0]
            half = (len(ns) - 1) // 2
            left, right = ns[1:1 + half], ns[1 + half:]
            c.net.bridge(left, right, via)
            time.sleep(self.fault_time())
            c.net.heal()
            return "bridge %s <- %s -> %s" % (left, via, right)
        if kind == "isolate":
            nd = self.rng.choice(c.running_nodes())
            c.net.isolate(nd.name, clients=True)
            time.sleep(self.fault_time())
            c.net.heal()
            return "isolate %s (clients too)" % nd.name
        if kind == "delay":
            pairs = []
            for _ in range(self.rng.randint(1, 3)):
                a, b = self.rng.sample(names, 2)
                d = self.rng.uniform(0.02, 0.3)
                c.net.delay(a, b, d, both_ways=True)
                pairs.append("%s<->%s %.0fms" % (a, b, d * 1000))
            time.sleep(self.fault_time())
            c.net.heal()
            return "delay " + ", ".join(pairs)
        if kind == "replace":
            self.wait_healed(c)
            ld = self.leader_or_none(c)
            cands = [n for n in c.running_nodes() if n is not ld]
            nd = self.rng.choice(cands)
            c.kill(nd)
            c.remove_node(nd, timeout=self.recover_timeout)
            time.sleep(self.rng.uniform(0.5, 2.0))
            c.add_node(nd, join=True, fresh=True, timeout=self.recover_timeout)
            return "replace %s by a fresh node" % nd.name
        time.sleep(self.fault_time())
        return "none"

    # ------------------------------------------------------------ epochs

    def epoch(self, c, bucket, cbucket):
        self.epochs += 1
        kind = self.rng.choices(self.nemeses, [WEIGHTS.get(k, 1) for k in self.nemeses])[0]
        self.counts[kind] = self.counts.get(kind, 0) + 1
        w = Workload(c, bucket, threads=self.threads, keys=self.keys,
                     seed=self.rng.randrange(1 << 30), big_every=40,
                     list_prefix="l%d/" % self.epochs, value_pad=self.value_pad)
        w.keys = ["e%d/k%d" % (self.epochs, i) for i in range(self.keys)]
        ctr = CounterWorkload(c, cbucket, key="counter%d" % self.epochs, threads=2,
                              seed=self.rng.randrange(1 << 30))
        ctr.init(c.running_nodes()[0], versioned=False)
        w.start()
        ctr.start()
        desc = "?"
        err = None
        try:
            time.sleep(self.rng.uniform(0.5, 1.5))
            desc = self.nemesis(c, kind, bucket)
            time.sleep(self.rng.uniform(0.5, 1.5))
        except Exception as e:  # noqa: BLE001
            err = "nemesis %s raised: %s" % (kind, traceback.format_exc())
        finally:
            try:
                self.recover(c)
                time.sleep(0.5)
            finally:
                w.stop()
                ctr.stop()
        problems = []
        if err:
            problems.append(err)
        nodes = c.running_nodes()
        unread = w.final_reads(nodes)
        if unread:
            problems.append("keys unreadable for 30 s after the heal: %s" % unread)
        problems += w.check_everywhere(nodes)
        res, path = w.check(self.base_dir, name="epoch%d" % self.epochs)
        self.histories += 1
        ops = w.history()
        self.ops += len(ops)
        self.unknown += sum(1 for o in ops if o["result"] == "unknown")
        if not res.ok:
            problems.append("NOT LINEARIZABLE (%s):\n%s" % (path, res.explain))
        problems += w.anomalies
        try:
            final = ctr.read_final(nodes[0])
            msg = ctr.check(final)
            if msg:
                problems.append(msg)
        except Exception as e:  # noqa: BLE001
            problems.append("counter read failed: %r" % e)
        status = "FAIL" if problems else "ok"
        self.say("epoch %d: %s: %d ops (%d unknown): %s" % (
            self.epochs, desc, len(ops), sum(1 for o in ops if o["result"] == "unknown"),
            status))
        if problems:
            if path is None:
                path = os.path.join(self.base_dir, "epoch%d-history.json" % self.epochs)
                with open(path, "w") as f:
                    json.dump(ops, f)
            self.failures.append({"epoch": self.epochs, "nemesis": desc, "history": path,
                                  "problems": problems})
            for p in problems[:10]:
                self.say("  " + p.replace("\n", "\n    "))

    def run(self):
        self.t0 = time.monotonic()
        self.say("seed %d, %d nodes, %ss, dir %s" % (self.seed, self.n, self.duration,
                                                     self.base_dir))
        c = Cluster(self.n, os.path.join(self.base_dir, "cluster"), spares=0,
                    extra_args=self.server_args)
        fatal = None
        try:
            bucket = self._bucket(c, "nem")
            cbucket = self._bucket(c, "ctr")
            while time.monotonic() - self.t0 < self.duration:
                try:
                    self.epoch(c, bucket, cbucket)
                except Recovery as e:
                    fatal = str(e)
                    self.failures.append({"epoch": self.epochs, "nemesis": "recovery",
                                          "problems": [fatal]})
                    self.say("FATAL: %s" % fatal)
                    break
        except Exception:  # noqa: BLE001
            fatal = traceback.format_exc()
            self.failures.append({"epoch": self.epochs, "nemesis": "harness",
                                  "problems": [fatal]})
            self.say("FATAL: %s" % fatal)
        finally:
            c.close(failed=bool(self.failures))
        return self.summary()

    def _bucket(self, c, prefix):
        name = "%s-%d" % (prefix, self.seed)
        deadline = time.monotonic() + 30
        while True:
            try:
                c.client(c.running_nodes()[0]).create_bucket(Bucket=name)
                return name
            except Exception:  # noqa: BLE001
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def summary(self):
        w = self.windows
        return {
            "seed": self.seed,
            "nodes": self.n,
            "seconds": round(time.monotonic() - self.t0, 1),
            "epochs": self.epochs,
            "nemeses": self.counts,
            "ops": self.ops,
            "histories_checked": self.histories,
            "unknown": self.unknown,
            "failures": len(self.failures),
            "failed_epochs": [{"epoch": f["epoch"], "nemesis": f["nemesis"],
                               "history": f.get("history"),
                               "first_problem": f["problems"][0][:2000]}
                              for f in self.failures],
            "unavailability_s": {
                "count": len(w),
                "p50": round(percentile(w, 50), 3) if w else None,
                "p99": round(percentile(w, 99), 3) if w else None,
                "max": round(max(w), 3) if w else None,
                "all": [round(x, 3) for x in w],
            },
            "dir": self.base_dir,
        }


def run(nodes=5, duration=600, seed=None, base_dir=None, **kw):
    """Run the nemesis loop; returns the summary dict (failures == 0 is a pass)."""
    return Runner(nodes=nodes, duration=duration, seed=seed, base_dir=base_dir, **kw).run()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=5, choices=(3, 5))
    ap.add_argument("--duration", type=float, default=600, help="seconds (default 600)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--dir", default=None, help="run directory (default: a new tmp dir)")
    ap.add_argument("--threads", type=int, default=4, help="client threads per epoch")
    ap.add_argument("--keys", type=int, default=5, help="register keys per epoch")
    ap.add_argument("--nemeses", default=",".join(NEMESES),
                    help="comma-separated subset of: " + ",".join(NEMESES))
    ap.add_argument("--keep", action="store_true", help="keep the run directory on success")
    ap.add_argument("--value-pad", type=int, default=0,
                    help="bytes added to each register value (past the inline threshold a "
                    "register is an erasure-coded blob)")
    ap.add_argument("--server-args", default="",
                    help="more arguments for every node's `cairn server`, e.g. "
                    "'--raft-store-commit-ms 2000' (store batches left open longer)")
    args = ap.parse_args(argv)
    kinds = [k for k in args.nemeses.split(",") if k]
    bad = [k for k in kinds if k not in NEMESES]
    if bad:
        ap.error("unknown nemeses: %s" % bad)
    base = args.dir or tempfile.mkdtemp(prefix="cairn-nemesis-")
    os.makedirs(base, exist_ok=True)
    def on_term(*_a):
        raise KeyboardInterrupt("SIGTERM")   # unwinds through Cluster.close()

    signal.signal(signal.SIGTERM, on_term)
    s = run(nodes=args.nodes, duration=args.duration, seed=args.seed, base_dir=base,
            threads=args.threads, keys=args.keys, nemeses=kinds, value_pad=args.value_pad,
            server_args=args.server_args.split(), log=lambda m: print(m, flush=True))
    print("NEMESIS-SUMMARY " + json.dumps(s, sort_keys=True), flush=True)
    print("%s: %d epochs, %d ops, %d histories checked, %d unknown, %d failures; "
          "unavailability p50 %s s, p99 %s s (%d windows)" % (
              "PASS" if not s["failures"] else "FAIL", s["epochs"], s["ops"],
              s["histories_checked"], s["unknown"], s["failures"],
              s["unavailability_s"]["p50"], s["unavailability_s"]["p99"],
              s["unavailability_s"]["count"]), flush=True)
    if not s["failures"] and not args.keep and not args.dir:
        import shutil
        shutil.rmtree(base, ignore_errors=True)
    return 0 if not s["failures"] else 1


if __name__ == "__main__":
    sys.exit(main())
