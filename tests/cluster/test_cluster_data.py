"""Object data across nodes (cluster mode, part 2): real processes behind the
ClusterProxy.

  - blobs are erasure-coded over distinct nodes (2+1 on 3 nodes) and read
    back byte-exact through every node;
  - with one node SIGKILLed, PUT (single and multipart), GET, LIST and DELETE
    keep working through the others; the shards the dead node missed are
    recorded as heal entries in the same command and backfilled when it
    returns, after which the cluster reads everything with a *different*
    node down (so the backfilled shards are real);
  - a delete made while a node was down is collected on that node when it
    returns (nothing deleted comes back), and shard files on every node are
    exactly the referenced set after GC;
  - a node cut off by a partition during PUTs: every PUT either fails or
    succeeded with a write quorum of shards durable;
  - GC collects an object's shards on every node.

    /usr/bin/python3 -m pytest -q tests/cluster/test_cluster_data.py
"""
import os
import random
import re
import sys
import threading
import time
import uuid

import pytest
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import promtext  # noqa: E402
from test_cluster import _internal_request, _own_status  # noqa: E402
from workload import err_status  # noqa: E402

# GC in seconds, not a minute; the backfill runs every second anyway
FAST = ["--gc-grace-ms", "500", "--gc-interval-ms", "200"]
MIB = 1 << 20


def shard_files(node):
    """{blob_hex: {shard_index: path}} of the shard files on node's drives."""
    out = {}
    for d in [node.data_dir] + list(node.extra_dirs):
        for root, _dirs, files in os.walk(os.path.join(d, "blobs")):
            for f in files:
                blob, _, idx = f.partition(".")
                if idx.isdigit():
                    out.setdefault(blob, {})[int(idx)] = os.path.join(root, f)
    return out


def all_shards(cluster, nodes=None, strict=True):
    """{blob_hex: {shard_index: node_name}}; strict: asserts no shard is on
    two nodes (else the copies are {shard_index: [node names]})."""
    out = {}
    for n in nodes or cluster.nodes:
        for blob, shards in shard_files(n).items():
            for idx in shards:
                where = out.setdefault(blob, {})
                if not strict:
                    where.setdefault(idx, []).append(n.name)
                    continue
                assert idx not in where, "shard %d of %s on %s and %s" % (
                    idx, blob, where[idx], n.name)
                where[idx] = n.name
    return out


def tmp_files(node):
    out = []
    for d in [node.data_dir] + list(node.extra_dirs):
        t = os.path.join(d, "tmp")
        out += os.listdir(t) if os.path.isdir(t) else []
    return out


def retry(fn, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except ClientError as e:
            st, _ = err_status(e)
            if st not in (500, 503) or time.monotonic() > deadline:
                raise
        except Exception:  # noqa: BLE001
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def new_bucket(cluster, node):
    name = "d-%s" % uuid.uuid4().hex[:12]
    retry(lambda: cluster.client(node).create_bucket(Bucket=name))
    return name


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last:
                return last
        except Exception as e:  # noqa: BLE001
            last = e
        time.sleep(0.3)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def heal_entries(cluster, node):
    return cluster.status(node).get("heal_entries")


def multipart(client, bucket, key, parts):
    up = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    done = []
    for i, p in enumerate(parts, 1):
        e = client.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=i, Body=p)
        done.append({"PartNumber": i, "ETag": e["ETag"]})
    client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up,
                                     MultipartUpload={"Parts": done})


def read_all(cluster, nodes, bucket, objects):
    for n in nodes:
        c = cluster.client(n)
        for key, data in objects.items():
            got = retry(lambda: c.get_object(Bucket=bucket, Key=key)["Body"].read())
            assert got == data, "%s read through %s differs" % (key, n.name)


def referenced_blobs(cluster, node, bucket, keys):
    """Blob ids (hex) the metadata references for keys, from the admin API."""
    import json
    out = set()
    for k in keys:
        st, body = cluster.signed_request(node, "GET", "/_cairn/admin/object",
                                          query="bucket=%s&key=%s" % (bucket, k))
        assert st == 200, body[:300]
        doc = json.loads(body)

        def walk(v):
            if isinstance(v, dict):
                if "blob" in v and "shards" in v:
                    out.add(v["blob"])
                for x in v.values():
                    walk(x)
            elif isinstance(v, list):
                for x in v:
                    walk(x)
        walk(doc)
    return out


def test_shards_spread_over_nodes_and_read_everywhere(cluster_factory):
    c = cluster_factory(3, extra_args=FAST)
    n1, n2, n3 = c.slots[:3]
    bucket = new_bucket(c, n1)
    rnd = random.Random(7)
    objects = {}
    for i, size in enumerate([20 * 1024, MIB, 5 * MIB + 3, 200 * 1024 + 1]):
        key = "o%d" % i
        objects[key] = rnd.randbytes(size)
        node = (n1, n2, n3)[i % 3]
        retry(lambda: c.client(node).put_object(Bucket=bucket, Key=key, Body=objects[key]))
    parts = [rnd.randbytes(5 * MIB), rnd.randbytes(MIB + 7)]
    retry(lambda: multipart(c.client(n2), bucket, "mp", parts))
    objects["mp"] = b"".join(parts)
    objects["big"] = rnd.randbytes(200 * MIB)   # 200 blocks, one stream
    retry(lambda: c.client(n3, read_timeout=120).put_object(Bucket=bucket, Key="big",
                                                           Body=objects["big"]))

    shards = all_shards(c)
    # 4 plain blobs (20 KiB is above the cluster's 16 KiB inline limit), 2
    # parts and the 200 MiB one
    assert len(shards) == 7, shards
    for blob, where in shards.items():
        assert sorted(where) == [0, 1, 2], (blob, where)      # 2+1
        assert len(set(where.values())) == 3, (blob, where)   # three nodes
    read_all(c, [n1, n2, n3], bucket, objects)
    for n in (n1, n2, n3):
        assert tmp_files(n) == [], (n.name, tmp_files(n))
    assert heal_entries(c, n1) == 0


def connections_accepted(node):
    return node.metrics()["cairn_connections_total"]


def test_remote_reads_reuse_connections(cluster_factory):
    """Every block of a 2+1 object read through one node needs one piece from
    another node; those reads go over kept-alive connections, not one new
    connection per piece (4a02b56: a shard read answered at once used to close
    its connection)."""
    c = cluster_factory(3, extra_args=FAST)
    n1, n2, n3 = c.slots[:3]
    bucket = new_bucket(c, n1)
    body = random.Random(11).randbytes(2 * MIB)   # 2 blocks
    retry(lambda: c.client(n1).put_object(Bucket=bucket, Key="ka", Body=body))
    cl = c.client(n1)
    assert retry(lambda: cl.get_object(Bucket=bucket, Key="ka")["Body"].read()) == body
    before = connections_accepted(n2) + connections_accepted(n3)
    for _ in range(20):
        assert cl.get_object(Bucket=bucket, Key="ka")["Body"].read() == body
    opened = connections_accepted(n2) + connections_accepted(n3) - before
    # 40 remote pieces; the metrics reads themselves are 2 connections
    assert opened <= 6, opened


def test_node_down_writes_quorum_then_backfill(cluster_factory):
    c = cluster_factory(3, extra_args=FAST)
    n1, n2, n3 = c.slots[:3]
    bucket = new_bucket(c, n1)
    rnd = random.Random(11)
    before = {"b%d" % i: rnd.randbytes(MIB + i) for i in range(3)}
    for k, v in before.items():
        retry(lambda: c.client(n1).put_object(Bucket=bucket, Key=k, Body=v))

    c.kill(n3)
    live = [n1, n2]
    during = {}
    for i in range(6):
        k, v = "d%d" % i, rnd.randbytes(rnd.choice([64 * 1024, MIB, 3 * MIB + 1]))
        node = live[i % 2]
        retry(lambda: c.client(node).put_object(Bucket=bucket, Key=k, Body=v))
        during[k] = v
    parts = [rnd.randbytes(5 * MIB), rnd.randbytes(12345)]
    retry(lambda: multipart(c.client(n2), bucket, "mp-down", parts))
    during["mp-down"] = b"".join(parts)
    objects = dict(before, **during)

    # reads, listing and deletes keep working with n3 down
    read_all(c, live, bucket, objects)
    listed = retry(lambda: c.client(n1).list_objects_v2(Bucket=bucket))
    assert sorted(o["Key"] for o in listed["Contents"]) == sorted(objects)
    retry(lambda: c.client(n2).delete_object(Bucket=bucket, Key="b0"))
    deleted_blobs = set()
    del objects["b0"]
    missing = heal_entries(c, n1)
    assert missing and missing >= 7, missing   # every blob written while n3 was away
    m = n1.metrics()
    assert m.get("cairn_heal_entries") == missing, m
    assert "cairn_rebalance_running" in m, m

    # the shards n3 missed are nowhere yet; each blob has 2 of 3
    shards = all_shards(c, live)
    assert all(len(w) >= 2 for w in shards.values()), shards

    c.start_node(n3)
    wait_for(lambda: heal_entries(c, n1) == 0, 60, "backfill of n3")
    shards = all_shards(c)
    for blob, where in shards.items():
        assert sorted(where) == [0, 1, 2], (blob, where)
        assert len(set(where.values())) == 3, (blob, where)
    # and a scrub on every node (each checks the shards it holds) finds
    # nothing missing or bad
    import json
    for n in (n1, n2, n3):
        rc, out = c.admin(n, "scrub", "--wait", timeout=60)
        assert rc == 0, out
        doc = json.loads(out[out.index("{"):])
        assert doc.get("blobs_bad") == 0 and doc.get("unrecoverable") == 0, (n.name, doc)
        assert doc.get("blobs_checked", 0) > 0, (n.name, doc)

    # the backfilled shards are real: read everything with n1 down
    c.kill(n1)
    read_all(c, [n2, n3], bucket, objects)
    c.start_node(n1)

    # b0 was deleted while n3 was down: once GC ran on every node, the shard
    # files on disk are exactly the referenced ones
    keys = sorted(objects)
    want = wait_for(lambda: referenced_blobs(c, n2, bucket, keys) or None, 30, "admin object")

    def settled():
        have = set(all_shards(c))
        return have == want or None
    wait_for(settled, 60, "GC of the deleted object's shards on every node")
    assert deleted_blobs.isdisjoint(set(all_shards(c)))


def test_partitioned_node_during_puts(cluster_factory):
    """A node cut off during PUTs: each PUT fails or has a quorum durable."""
    c = cluster_factory(3, extra_args=FAST)
    n1, n2, n3 = c.slots[:3]
    bucket = new_bucket(c, n1)
    rnd = random.Random(5)
    acked = {}
    stop = threading.Event()
    errors = []

    def writer():
        i = 0
        cl = c.client(n1, read_timeout=30)
        while not stop.is_set():
            k, v = "p%d" % i, rnd.randbytes(MIB + i)
            i += 1
            try:
                cl.put_object(Bucket=bucket, Key=k, Body=v)
                acked[k] = v
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

    t = threading.Thread(target=writer)
    t.start()
    time.sleep(1.0)
    c.net.isolate(n3.name)
    time.sleep(4.0)
    c.net.heal()
    time.sleep(1.0)
    stop.set()
    t.join(60)
    assert acked, errors
    # every acknowledged object reads back through the nodes that were up
    read_all(c, [n1, n2], bucket, acked)
    # and once n3 is backfilled, with n1 down too
    wait_for(lambda: heal_entries(c, n1) == 0, 60, "backfill after the partition")
    c.kill(n1)
    read_all(c, [n2, n3], bucket, acked)


def test_gc_removes_shards_on_every_node(cluster_factory):
    c = cluster_factory(3, extra_args=FAST)
    n1, n2, n3 = c.slots[:3]
    bucket = new_bucket(c, n1)
    data = os.urandom(2 * MIB)
    retry(lambda: c.client(n2).put_object(Bucket=bucket, Key="k", Body=data))
    blobs = set(all_shards(c))
    assert len(blobs) == 1
    # overwrite (the old blob becomes garbage), then delete
    retry(lambda: c.client(n3).put_object(Bucket=bucket, Key="k", Body=data[::-1]))
    retry(lambda: c.client(n1).delete_object(Bucket=bucket, Key="k"))
    wait_for(lambda: all_shards(c) == {}, 30, "GC on every node")
    for n in (n1, n2, n3):
        assert tmp_files(n) == []


def test_stopped_node_reads_hedge_and_writes_continue(cluster_factory):
    """SIGSTOP one node: GETs through the others reconstruct around it (a
    slow shard costs the hedge interval, not its timeout) and PUTs keep
    going; after SIGCONT its missed shards are backfilled."""
    c = cluster_factory(3, extra_args=FAST)
    n1, n2, n3 = c.slots[:3]
    bucket = new_bucket(c, n1)
    rnd = random.Random(3)
    objects = {"s%d" % i: rnd.randbytes(4 * MIB + i) for i in range(4)}
    for k, v in objects.items():
        retry(lambda: c.client(n1).put_object(Bucket=bucket, Key=k, Body=v))
    leader = c.leader()
    victim = n3 if leader is not n3 else n2
    live = [n for n in (n1, n2, n3) if n is not victim]
    c.pause(victim)
    try:
        cl = c.client(live[0], read_timeout=60)
        retry(lambda: cl.head_bucket(Bucket=bucket))   # leader settled
        worst = 0.0
        for k, v in objects.items():
            t0 = time.monotonic()
            got = retry(lambda: cl.get_object(Bucket=bucket, Key=k)["Body"].read())
            worst = max(worst, time.monotonic() - t0)
            assert got == v
        # 4 blocks each: without hedging a block waits for the 10 s timeout
        assert worst < 6.0, worst
        more = {"m%d" % i: rnd.randbytes(MIB + i) for i in range(3)}
        for k, v in more.items():
            retry(lambda: cl.put_object(Bucket=bucket, Key=k, Body=v), timeout=60)
        objects.update(more)
    finally:
        c.resume(victim)
    wait_for(lambda: heal_entries(c, live[0]) == 0, 90, "backfill after SIGCONT")
    read_all(c, [victim], bucket, objects)


def test_node_paused_mid_write_costs_a_grace_not_the_ack_timeout(cluster_factory):
    """A node that took its shard stream and then stops answering (SIGSTOP
    mid-body) held the PUT until it came back, up to the 120 s ack timeout:
    longer than the SDKs' 60 s, whose retry (and the writes after it) then
    raced the abandoned attempt committing late. Now the write answers a
    grace after its quorum is durable and the shard is backfilled later."""
    import socket
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    c = cluster_factory(3, extra_args=FAST)
    bucket = new_bucket(c, c.slots[0])
    leader = c.leader()
    writer = [n for n in c.nodes if n is not leader][0]
    victim = [n for n in c.nodes if n is not leader and n is not writer][0]
    body = os.urandom(3 * MIB)
    path = "/%s/paused" % bucket
    req = AWSRequest(method="PUT", url=writer.endpoint + path, headers={
        "x-amz-content-sha256": "UNSIGNED-PAYLOAD", "Content-Length": str(len(body))})
    SigV4Auth(Credentials(c.access_key, c.secret_key), "s3", "us-east-1").add_auth(req)
    head = "PUT %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % (path, writer.s3_port) + "".join(
        "%s: %s\r\n" % (k, v) for k, v in req.headers.items() if k.lower() != "host") + "\r\n"
    sock = socket.create_connection(("127.0.0.1", writer.s3_port), timeout=5)
    try:
        sock.sendall(head.encode() + body[:2 * MIB + 5])
        time.sleep(0.5)   # the shard streams are open and carry the first blocks
        c.pause(victim)
        t0 = time.monotonic()
        sock.sendall(body[2 * MIB + 5:])
        sock.settimeout(30)
        answer = sock.recv(4096)
        took = time.monotonic() - t0
    finally:
        sock.close()
        paused_for = time.monotonic()
    try:
        assert answer.startswith(b"HTTP/1.1 200"), answer
        assert took < 10, took   # the grace (2 s, or twice the quorum's time)
        got = retry(lambda: c.client(leader).get_object(Bucket=bucket, Key="paused")[
            "Body"].read())
        assert got == body
    finally:
        time.sleep(max(0.0, 1.0 - (time.monotonic() - paused_for)))
        c.resume(victim)
    wait_for(lambda: heal_entries(c, leader) == 0, 90, "backfill after SIGCONT")
    read_all(c, [victim], bucket, {"paused": body})


def test_node_back_from_a_stop_gets_its_shards_at_once(cluster_factory):
    """A node that failed a shard stream is skipped by new writes only while it
    does not answer: once it does, a PUT writes all k+m shards again. (With a
    fixed 10 s skip, writes right after the node came back dropped its shard
    and had no redundancy until the backfill; make nemesis lost objects that
    way when another node was replaced in that window.)"""
    c = cluster_factory(3, extra_args=FAST)
    n1, n2, n3 = c.slots[:3]
    bucket = new_bucket(c, n1)
    leader = c.leader()
    victim = n3 if leader is not n3 else n2
    writer = n1
    rnd = random.Random(8)
    cl = c.client(writer, read_timeout=60)
    retry(lambda: cl.put_object(Bucket=bucket, Key="warm", Body=rnd.randbytes(MIB)))

    c.pause(victim)
    try:
        # the stream to the stopped node times out: its shard is dropped
        retry(lambda: cl.put_object(Bucket=bucket, Key="during", Body=rnd.randbytes(MIB)),
              timeout=60)
        t_mark = time.monotonic()
        assert "failed a shard stream" in writer.log(), writer.log_tail()
    finally:
        c.resume(victim)
    wait_for(lambda: "answers again" in writer.log(), 10, "the prober to see the node back")
    drops = writer.log().count("of a blob dropped")
    data = rnd.randbytes(MIB + 7)
    retry(lambda: cl.put_object(Bucket=bucket, Key="after", Body=data))
    elapsed = time.monotonic() - t_mark
    assert writer.log().count("of a blob dropped") == drops, writer.log_tail()
    blob, = referenced_blobs(c, writer, bucket, ["after"])
    where = all_shards(c).get(blob, {})
    assert sorted(where) == [0, 1, 2] and len(set(where.values())) == 3, (blob, where)
    # within the old fixed skip, so this test tells the two apart
    assert elapsed < 9.0, elapsed
    read_all(c, [n1, n2, n3], bucket, {"after": data})


def rebalance_state(cluster, node):
    st = cluster.status(node)
    return st.get("rebalance") or {}, st


def map_epoch(cluster, node):
    return cluster.status(node).get("map", {}).get("epoch") or 0


def map_state(cluster, node, member):
    """member's state in the cluster map as node sees it."""
    for n in cluster.status(node).get("map", {}).get("nodes", []):
        if n.get("address") == member.address:
            return n.get("state")
    return None


def wait_balanced(cluster, node, timeout=120, after=0):
    """The leader's rebalance is idle, balanced for the map epoch `node`
    sees, which is past `after` (the admin status is node-local: a node may
    not have applied a map change yet)."""
    def done():
        rb, st = rebalance_state(cluster, node)
        epoch = st.get("map", {}).get("epoch") or 0
        return (epoch > after and rb.get("state") == "idle"
                and rb.get("balanced_epoch") == epoch
                and not rb.get("failed") and not rb.get("conflicts")) and rb
    return wait_for(done, timeout, "rebalance to finish")


def test_add_node_under_load_rebalances(cluster_factory):
    c = cluster_factory(3, spares=1, extra_args=FAST)
    n1, n2, n3 = c.slots[:3]
    bucket = new_bucket(c, n1)
    rnd = random.Random(21)
    objects = {}
    for i in range(12):
        k = "r%d" % i
        objects[k] = rnd.randbytes(rnd.choice([100 * 1024, MIB, 2 * MIB + 5]))
        retry(lambda: c.client((n1, n2, n3)[i % 3]).put_object(Bucket=bucket, Key=k,
                                                               Body=objects[k]))
    parts = [rnd.randbytes(5 * MIB), rnd.randbytes(MIB)]
    retry(lambda: multipart(c.client(n1), bucket, "mp", parts))
    objects["mp"] = b"".join(parts)
    wait_balanced(c, n1)

    stop = threading.Event()
    during = {}
    errors = []

    def writer():
        i = 0
        cl = c.client(n2, read_timeout=30)
        while not stop.is_set():
            k, v = "w%d" % i, rnd.randbytes(300 * 1024 + i)
            i += 1
            try:
                cl.put_object(Bucket=bucket, Key=k, Body=v)
                during[k] = v
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))
            time.sleep(0.05)

    t = threading.Thread(target=writer)
    t.start()
    try:
        before = map_epoch(c, n1)
        n4 = c.add_node()
        rb = wait_balanced(c, n1, timeout=180, after=before)
    finally:
        stop.set()
        t.join(60)
    assert during, errors
    objects.update(during)
    assert rb["blobs_moved"] > 0, rb
    # every shard of every blob on its own node, n4 holds some
    shards = all_shards(c, strict=False)   # old copies wait for GC
    assert any(n4.name in ns for w in shards.values() for ns in w.values()), "nothing on n4"
    wait_balanced(c, n1, timeout=60)   # the objects written during the pass too
    read_all(c, [n1, n4], bucket, objects)
    # after GC, the shard files on disk are exactly the referenced ones
    keys = sorted(objects)
    want = referenced_blobs(c, n1, bucket, keys)

    def exact():
        have = all_shards(c, strict=False)
        if set(have) != want:
            return None
        # one copy of each shard, and a blob's shards on distinct nodes
        return all(all(len(ns) == 1 for ns in w.values()) and
                   len({ns[0] for ns in w.values()}) == len(w)
                   for w in have.values()) or None
    wait_for(exact, 60, "GC of the moved shards' old copies")
    # the rebalanced data survives losing the node that received most writes
    c.kill(n2)
    read_all(c, [n4], bucket, objects)


def test_rebalance_control(cluster_factory):
    """Pause, resume, stop and start are one replicated setting: sent to any
    node, followed by the leader, kept by the next leader and across
    restarts; a resume that makes no sense is refused."""
    c = cluster_factory(3, extra_args=FAST)
    n1 = c.slots[0]
    wait_balanced(c, n1)

    def leader_state(want):
        def ok():
            lead = c.leader()
            return rebalance_state(c, lead)[0].get("state") == want and lead
        return wait_for(ok, 20, "rebalance state %s on the leader" % want)
    for op, want in (("pause", "paused"), ("resume", None), ("stop", "stopped"),
                     ("start", None)):
        rc, out = c.admin(n1, "cluster", "rebalance", op)
        assert rc == 0, out
        if want:
            leader_state(want)
    wait_balanced(c, n1)
    rc, out = c.admin(n1, "cluster", "rebalance", "resume")
    assert rc != 0 and "not paused" in out, out
    # paused through a follower; the leader restarts: whoever leads next,
    # and the old leader after its restart, are still paused
    lead = c.leader()
    follower = next(n for n in c.nodes if n is not lead)
    rc, out = c.admin(follower, "cluster", "rebalance", "pause")
    assert rc == 0, out
    leader_state("paused")
    c.stop(lead)
    c.start_node(lead)
    leader_state("paused")
    rc, out = c.admin(lead, "cluster", "rebalance", "resume")
    assert rc == 0, out
    wait_balanced(c, n1)
    rc, out = c.admin(n1, "cluster", "rebalance", "bogus")
    assert rc != 0


def test_remove_dead_node_replaces_its_shards(cluster_factory):
    c = cluster_factory(4, extra_args=FAST + ["--ec", "2+1"])
    n1, n2, n3, n4 = c.slots[:4]
    bucket = new_bucket(c, n1)
    rnd = random.Random(33)
    objects = {"x%d" % i: rnd.randbytes(MIB + 17 * i) for i in range(10)}
    for k, v in objects.items():
        retry(lambda: c.client(n2).put_object(Bucket=bucket, Key=k, Body=v))
    wait_balanced(c, n1)
    on_n4 = [b for b, w in all_shards(c).items() if n4.name in w.values()]
    assert on_n4, "no shard landed on n4"
    c.kill(n4)
    before = map_epoch(c, n1)
    c.remove_node(n4, via=n1)
    wait_balanced(c, n1, timeout=120, after=before)
    live = [n1, n2, n3]
    shards = all_shards(c, live)
    want = referenced_blobs(c, n1, bucket, sorted(objects))
    assert set(shards) == want
    for blob, where in shards.items():
        assert sorted(where) == [0, 1, 2], (blob, where)
        assert len(set(where.values())) == 3, (blob, where)
    # the re-placed shards are real: read with another node down
    c.kill(n1)
    read_all(c, [n2], bucket, objects)


def test_remove_moves_the_parts_of_open_uploads(cluster_factory):
    """The rebalance after a remove re-places the shards of open multipart
    uploads' parts too: it walked versions only, so a part's shard stayed
    on the removed node, and the object completed later ran one shard
    short (a pass runs once per map epoch)."""
    c = cluster_factory(4, extra_args=FAST + ["--ec", "2+1"])
    n1, n2, n3, n4 = c.slots[:4]
    bucket = new_bucket(c, n1)
    cl = c.client(n2)
    rnd = random.Random(36)
    parts = [rnd.randbytes(5 * MIB + 11 * i) for i in range(6)]
    up = cl.create_multipart_upload(Bucket=bucket, Key="open")["UploadId"]
    etags = [retry(lambda: cl.upload_part(Bucket=bucket, Key="open", UploadId=up,
                                          PartNumber=i + 1, Body=p))["ETag"]
             for i, p in enumerate(parts)]
    wait_balanced(c, n1)
    before_all = set(all_shards(c))
    on_n4 = [b for b, w in all_shards(c).items() if n4.name in w.values()]
    assert on_n4, "no part shard landed on n4"
    c.kill(n4)
    before = map_epoch(c, n1)
    c.remove_node(n4, via=n1)       # dead: removed without the width check
    rb = wait_balanced(c, n1, timeout=120, after=before)
    assert rb["unplaced"] == 0, rb
    live = [n1, n2, n3]
    shards = all_shards(c, live)
    for blob in before_all:
        where = shards.get(blob, {})
        assert sorted(where) == [0, 1, 2] and len(set(where.values())) == 3, (blob, where)
    retry(lambda: cl.complete_multipart_upload(
        Bucket=bucket, Key="open", UploadId=up,
        MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e}
                                   for i, e in enumerate(etags)]}))
    # the re-placed shards are real: read with another node down
    c.kill(n1)
    read_all(c, [n2], bucket, {"open": b"".join(parts)})


def test_shrinking_below_a_blobs_width_is_refused_or_reported(cluster_factory):
    """Removing a running node from 3 leaves 2+1 blobs nowhere to go on
    distinct nodes: an operator who then stopped the removed node lost
    them. The remove is refused (409, naming a blob), changing nothing;
    forced, the rebalance leaves them in place and says so (status
    rebalance.unplaced, a warning)."""
    c = cluster_factory(3, extra_args=FAST + ["--ec", "2+1"])
    n1, n2, n3 = c.slots[:3]
    bucket = new_bucket(c, n1)
    rnd = random.Random(44)
    objects = {"w%d" % i: rnd.randbytes(MIB + i) for i in range(4)}
    for k, v in objects.items():
        retry(lambda: c.client(n1).put_object(Bucket=bucket, Key=k, Body=v))
    wait_balanced(c, n1)
    victim = [n for n in (n1, n2, n3) if n is not c.leader()][0]
    live = [n for n in (n1, n2, n3) if n is not victim]
    before = map_epoch(c, live[0])
    rc, out = c.admin(live[0], "cluster", "remove", victim.address, timeout=60)
    assert rc != 0 and "HTTP 409" in out, out
    assert "would leave 2 node(s)" in out and "2+1" in out and bucket in out, out
    # an open upload's part counts too (a bucket listed before the other)
    ub = "a-%s" % uuid.uuid4().hex[:12]
    cl = c.client(live[0])
    retry(lambda: cl.create_bucket(Bucket=ub))
    up = cl.create_multipart_upload(Bucket=ub, Key="open")["UploadId"]
    cl.upload_part(Bucket=ub, Key="open", UploadId=up, PartNumber=1, Body=rnd.randbytes(MIB))
    rc, out = c.admin(live[0], "cluster", "remove", victim.address, timeout=60)
    assert rc != 0 and "a part of %s/open, upload %s" % (ub, up) in out, out
    st = c.status(live[0])
    assert victim.address in [x["address"] for x in st["nodes"]], st["nodes"]
    # drained for the check, then given back its state
    wait_for(lambda: map_state(c, live[0], victim) == "up", 10, "the node back up")
    before = map_epoch(c, live[0])
    c.remove_node(victim, via=live[0], force=True)
    rb = wait_balanced(c, live[0], timeout=120, after=before)
    assert rb["unplaced"] >= len(objects), rb
    leader = c.leader()
    assert "wider than the cluster stay where they are" in leader.log(), leader.log_tail()
    read_all(c, live, bucket, objects)   # the removed node still serves its shards


def test_shrink_check_sees_writes_in_flight(cluster_factory):
    """The shrink check and the remove were two steps: a wide blob written
    while the check walked (or placed just before it and committed after)
    was not seen, and stayed stranded on the removed node. The node is now
    drained first (nothing new is placed on it) and the check reads the
    intents of writes in flight: a 2+1 write streaming onto the 3 nodes
    makes the remove refused, naming it; the node is then given back its
    state, and the write completes."""
    import http.client
    import urllib.parse
    c = cluster_factory(3, extra_args=FAST + ["--ec", "2+1"])
    n1, n2, n3 = c.slots[:3]
    bucket = new_bucket(c, n1)
    victim = [n for n in (n1, n2, n3) if n is not c.leader()][0]
    live = [n for n in (n1, n2, n3) if n is not victim]
    body = random.Random(47).randbytes(4 * MIB)
    url = c.client(live[0]).generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "slow"}, ExpiresIn=600)
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    conn.putrequest("PUT", u.path + "?" + u.query, skip_accept_encoding=True)
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders()
    conn.send(body[:MIB])       # the write is placed, its shards stream

    def streaming():
        for root, _d, files in os.walk(os.path.join(victim.data_dir, "tmp")):
            if files:
                return True
        return None
    wait_for(streaming, 20, "a shard streaming onto %s" % victim.name)
    time.sleep(1)               # its intent commits with the first bytes
    rc, out = c.admin(live[0], "cluster", "remove", victim.address, timeout=60)
    assert rc != 0 and "HTTP 409" in out, out
    assert "a blob being written now" in out and "2+1" in out, out
    wait_for(lambda: map_state(c, live[0], victim) == "up", 10, "the node back up")
    conn.send(body[MIB:])
    resp = conn.getresponse()
    assert resp.status == 200, (resp.status, resp.read())
    conn.close()
    read_all(c, live, bucket, {"slow": body})
    # the committed blob stops the next attempt the same way (the check
    # before this change)
    rc, out = c.admin(live[0], "cluster", "remove", victim.address, timeout=60)
    assert rc != 0 and "%s/slow" % bucket in out, out


def test_wiped_drive_of_a_node_is_rebuilt(cluster_factory):
    """Two drives per node; a node restarts with its shard drive replaced by
    an empty directory: the drive is adopted and every shard that belonged
    there is rebuilt from the other nodes."""
    import shutil
    c = cluster_factory(3, drives=2, extra_args=FAST)
    n1, n2, n3 = c.slots[:3]
    bucket = new_bucket(c, n1)
    rnd = random.Random(44)
    objects = {"z%d" % i: rnd.randbytes(MIB + i) for i in range(12)}
    for k, v in objects.items():
        retry(lambda: c.client(n1).put_object(Bucket=bucket, Key=k, Body=v))
    victim_dir = n3.extra_dirs[0]
    before = sum(len(w) for w in shard_files(n3).values())

    def on_drive():
        n = 0
        for _root, _d, files in os.walk(os.path.join(victim_dir, "blobs")):
            n += len(files)
        return n
    lost = on_drive()
    assert lost > 0, "no shard on the second drive"
    names = sorted(f for _r, _d, fs in os.walk(os.path.join(victim_dir, "blobs")) for f in fs)
    c.stop(n3)
    shutil.rmtree(victim_dir)
    os.makedirs(victim_dir)
    c.start_node(n3)
    try:
        wait_for(lambda: on_drive() == lost or None, 30, "rebuild of the replaced drive")
    except AssertionError:
        now = sorted(f for _r, _d, fs in os.walk(os.path.join(victim_dir, "blobs")) for f in fs)
        raise AssertionError("before %s after %s referenced %s" % (
            names, now, referenced_blobs(c, n1, bucket, sorted(objects))))
    assert sum(len(w) for w in shard_files(n3).values()) == before
    # the rebuilt shards are real: read with another node down
    c.kill(n1)
    read_all(c, [n3], bucket, objects)


def test_rebuild_walks_a_store_that_shows_the_cluster(cluster_factory):
    """A follower is killed right after a burst of writes whose shards it
    holds, its shard drive is replaced, and it restarts. Its store shows
    the burst's versions only once the open batch they were applied to
    commits: --raft-store-commit-ms keeps that batch open for seconds, the
    window in which a rebuild walking the store as soon as the node was
    ready missed them (and then declared the drive rebuilt). The walk must
    first take a barrier, which shows it everything the cluster committed."""
    import shutil
    c = cluster_factory(3, drives=2, extra_args=FAST)
    leader = c.leader()
    victim = [n for n in c.slots[:3] if n is not leader][0]
    c.stop(victim)
    victim.extra_args = victim.extra_args + ["--raft-store-commit-ms", "10000"]
    c.start_node(victim)
    bucket = new_bucket(c, leader)
    rnd = random.Random(46)
    objects = {"r%d" % i: rnd.randbytes(MIB + i) for i in range(12)}
    for k, v in objects.items():
        retry(lambda: c.client(leader).put_object(Bucket=bucket, Key=k, Body=v))
    commit = _own_status(c, leader)["commit"]

    def burst_left_open():
        st = _own_status(c, victim)
        return st["commit"] >= commit and st["applied"] < commit or None
    wait_for(burst_left_open, 4, "the burst committed on the victim, left in its open batch")
    victim_dir = victim.extra_dirs[0]

    def on_drive():
        return sum(len(fs) for _r, _d, fs in os.walk(os.path.join(victim_dir, "blobs")))
    lost = on_drive()
    assert lost > 0, "no shard on the second drive"
    c.kill(victim)     # the burst is in its log, not yet in its store
    shutil.rmtree(victim_dir)
    os.makedirs(victim_dir)
    # what the victim sends the leader is late: its registration in the map
    # (a write it waits to see, which commits the open batch) comes seconds
    # after it is ready, and a walk started when ready would miss the burst
    c.net.delay(victim.name, leader.name, 2.0)
    c.start_node(victim, wait=False)
    started = wait_for(lambda: re.search(r"rebuild: drive \w+: starting, (\d+) shard",
                                         victim.log()), 60, "the rebuild's start")
    c.net.heal()       # the walk has counted; its shard reads need not wait
    assert int(started.group(1)) == lost, victim.log_tail()
    wait_for(lambda: on_drive() == lost or None, 30, "rebuild of the replaced drive")
    c.wait_ready([victim])
    c.kill(leader)
    read_all(c, [victim], bucket, objects)


def test_wiped_node_rejoins_and_is_rebuilt(cluster_factory):
    """A node of the first configuration restarts with all its directories
    wiped (same command line, no --join): it must not come back under its
    old Raft id (that id voted in terms it no longer remembers). It rejoins
    under a new id in place of the old member, and the shards it had are
    rebuilt on its new drives."""
    c = cluster_factory(3, extra_args=FAST)
    n1, n2, n3 = c.slots[:3]
    bucket = new_bucket(c, n1)
    rnd = random.Random(45)
    objects = {"w%d" % i: rnd.randbytes(MIB + 3 * i) for i in range(10)}
    for k, v in objects.items():
        retry(lambda: c.client(n1).put_object(Bucket=bucket, Key=k, Body=v))
    old_id = c.status(n3)["node_id"]
    assert len(shard_files(n3)) == 10
    epoch = map_epoch(c, n1)
    c.stop(n3)
    c.start_node(n3, join=False, fresh=True, wait=False)

    def rejoined():
        st = c.status(n1)
        conf = {x["address"]: x for x in st.get("nodes", [])}
        me = conf.get(n3.address)
        return me and me["id"] != old_id and me.get("membership") == "voter" and st
    st = wait_for(rejoined, 60, "the wiped node to rejoin under a new id")
    assert old_id not in [x["id"] for x in st["nodes"]]
    assert "rejoins under a new id" in n3.log(whole=True)
    wait_for(lambda: len(shard_files(n3)) == 10 or None, 120, "the wiped node's shards rebuilt")
    wait_balanced(c, n1, timeout=120, after=epoch)
    shards = all_shards(c)
    assert set(shards) == referenced_blobs(c, n1, bucket, sorted(objects))
    for blob, where in shards.items():
        assert sorted(where) == [0, 1, 2] and len(set(where.values())) == 3, (blob, where)
    m = c.status(n1)["map"]
    assert [x["state"] for x in m["nodes"] if x["id"] == old_id] == ["removed"], m
    # the rebuilt shards are real: read through the new node with another down
    c.kill(n1)
    read_all(c, [n3], bucket, objects)


def test_peer_never_a_member_waits_for_add(cluster_factory):
    """A node whose --peers names its own address, but which never was a
    member, must not let itself in: naming it in --peers is not `cluster
    add`. It waits, says how to add it, and joins when added."""
    c = cluster_factory(3, spares=1, extra_args=FAST)
    n1 = c.slots[0]
    n4 = c.slots[3]
    c.peers = c.peers + "," + n4.address     # the new node's own list
    c.start_node(n4, join=False, fresh=True, wait=False)
    wait_for(lambda: "does not join on its own" in n4.log(whole=True) or None, 30,
             "the new node to say it waits for cluster add")
    time.sleep(3)   # an auto-join asks within a second of starting
    st = c.status(n1)
    assert n4.address not in [x["address"] for x in st["nodes"]], st["nodes"]
    assert len(st["nodes"]) == 3
    c.admin_cluster("add", n4.address)
    c.wait_voter(n4)
    bucket = new_bucket(c, n1)
    retry(lambda: c.client(n4).put_object(Bucket=bucket, Key="k", Body=b"x" * 1000))
    assert c.client(n1).get_object(Bucket=bucket, Key="k")["Body"].read() == b"x" * 1000


def test_six_nodes_two_killed_during_io(cluster_factory):
    """4+2 over 6 nodes: SIGKILL two nodes while PUTs and GETs run; every
    acknowledged object reads back byte-exact through every survivor."""
    c = cluster_factory(6, extra_args=FAST)
    nodes = c.slots[:6]
    bucket = new_bucket(c, nodes[0])
    rnd = random.Random(66)
    acked = {}
    errors = []
    stop = threading.Event()
    leader = c.leader()
    victims = [n for n in nodes if n is not leader][-2:]
    entry = [n for n in nodes if n not in victims]

    def writer(node, prefix):
        cl = c.client(node, read_timeout=30)
        i = 0
        while not stop.is_set():
            k = "%s%d" % (prefix, i)
            v = rnd.randbytes(rnd.choice([40 * 1024, MIB, 3 * MIB + 1]))
            i += 1
            try:
                cl.put_object(Bucket=bucket, Key=k, Body=v)
                acked[k] = v
                got = cl.get_object(Bucket=bucket, Key=k)["Body"].read()
                if got != v:
                    errors.append("read-back of %s differs" % k)
            except Exception as e:  # noqa: BLE001
                if "differs" in repr(e):
                    errors.append(repr(e))

    ts = [threading.Thread(target=writer, args=(n, "p%d-" % j))
          for j, n in enumerate(entry[:2])]
    for t in ts:
        t.start()
    time.sleep(2.0)
    for v in victims:
        c.kill(v)
        time.sleep(0.5)
    time.sleep(3.0)
    stop.set()
    for t in ts:
        t.join(60)
    assert not errors, errors[:5]
    assert len(acked) > 5, len(acked)
    shards = all_shards(c)
    assert all(len(set(w.values())) == len(w) for w in shards.values())
    read_all(c, entry, bucket, acked)


def _sign_internal(secret, method, target, node, date):
    import hashlib
    import hmac
    msg = "cairn-internal-v1\n%s\n%s\n%s\n%d\n%s" % (
        method, target, node, date, hashlib.sha256(b"").hexdigest())
    return hmac.new(secret.encode(), msg.encode(), hashlib.sha256).hexdigest()


def node_drive(cluster, asked, node):
    """The id (hex) of node's drive, from asked's view of the cluster map;
    None until node has registered it (not at once on a slow run)."""
    m = cluster.status(asked).get("map", {})
    ids = [x["id"] for x in m.get("nodes", []) if x["address"] == node.address]
    return next((d["id"] for d in m.get("drives", []) if ids and d["node"] == ids[0]), None)


def labelled(node, family, label):
    """{label value: count} of the counter family on node's metrics."""
    return promtext.family(node.metrics(), family, label)


def shard_serves(node):
    return labelled(node, "cairn_shard_serves_total", "how")


def _read_response(s):
    """(status line, body) of one HTTP response read from socket s."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        assert chunk, buf
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    length = next(int(x.split(":", 1)[1]) for x in lines
                  if x.lower().startswith("content-length:"))
    while len(body) < length:
        chunk = s.recv(min(1 << 20, length - len(body)))
        assert chunk, (lines[0], len(body), length)
        body += chunk
    assert len(body) == length, (len(body), length)   # nothing past the body
    return lines[0], body


def test_shard_reads_leave_by_sendfile_byte_exact(cluster_factory):
    """Another node's shard reads are sent from the page cache by sendfile:
    byte-exact for any range (clamped at the file's end), on a kept-alive
    connection, when the reader is too slow for the socket to take it all at
    once (the rest is copied: "partial"), and for two requests pipelined
    behind such a one."""
    import socket
    from cluster_harness import CLUSTER_SECRET
    c = cluster_factory(3, extra_args=FAST)
    n1, n2 = c.slots[:2]
    bucket = new_bucket(c, n1)
    body = random.Random(23).randbytes(8 * MIB + 5)   # 9 blocks: ~4.5 MiB shards
    retry(lambda: c.client(n1).put_object(Bucket=bucket, Key="sf", Body=body))
    drive = wait_for(lambda: node_drive(c, n1, n2), 30, "n2's drive in the map")
    (blob, where), = shard_files(n2).items()
    (shard, path), = where.items()
    with open(path, "rb") as f:
        data = f.read()
    size = len(data)
    host, port = n2.bind_address.rsplit(":", 1)

    def request(off, length, blob=blob, shard=shard, secret=CLUSTER_SECRET):
        target = "/_cairn/internal/shard?drive=%s&blob=%s&shard=%d&off=%d&len=%d" % (
            drive, blob, shard, off, length)
        now = int(time.time())
        return ("GET %s HTTP/1.1\r\nHost: x\r\nX-Cairn-Node: %s\r\nX-Cairn-Date: %d\r\n"
                "X-Cairn-Auth: %s\r\n\r\n" % (
                    target, n1.address, now,
                    _sign_internal(secret, "GET", target, n1.address, now))).encode()

    def expect(s, ranges):
        for off, length in ranges:
            status, got = _read_response(s)
            assert status == "HTTP/1.1 200 OK", status
            assert got == data[off:off + length], (off, length, len(got))

    before = shard_serves(n2)
    s = socket.create_connection((host, int(port)), timeout=30)
    for r in [(0, size), (1000, 70000), (size - 10, 100), (size, 10), (3, size + 1000)]:
        s.sendall(request(*r))
        expect(s, [r])
    s.close()
    after = shard_serves(n2)
    # every range with bytes in it starts by sendfile (the shard was just
    # written, so it is cached); under load a reader this slow may fill the
    # socket, and the rest is then copied ("partial")
    zero_copy = lambda m: m["sendfile"] + m["partial"]   # noqa: E731
    assert zero_copy(after) - zero_copy(before) >= 4, (before, after)

    # bad input: a forged signature, a blob not there, a shard index out of
    # range, a length over the limit: each its own status, no body sent
    for req, want in [(request(0, 10, secret="not-the-cluster-secret-0123"), "403"),
                      (request(0, 10, blob=uuid.uuid4().hex), "404"),
                      (request(0, 10, shard=99), "400"),
                      (request(0, (64 << 20) + 65), "400")]:
        s = socket.create_connection((host, int(port)), timeout=30)
        s.sendall(req)
        status, _ = _read_response(s)
        assert status.split()[1] == want, (status, want)
        s.close()

    # a reader with a small window: the socket fills, the rest is copied;
    # then two more pipelined behind a third such one, all in order
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(30)
    s.connect((host, int(port)))
    before = after
    s.sendall(request(0, size))
    time.sleep(0.5)
    expect(s, [(0, size)])
    piped = [(0, size), (7, 100000), (size - 3, 3)]
    s.sendall(b"".join(request(*r) for r in piped))
    time.sleep(0.5)
    expect(s, piped)
    s.close()
    after = shard_serves(n2)
    assert after["partial"] - before["partial"] >= 1, (before, after)
    # and the object still reads back whole through every node
    for n in (n1, n2, c.slots[2]):
        assert c.client(n).get_object(Bucket=bucket, Key="sf")["Body"].read() == body


def leader_reads(node):
    return labelled(node, "cairn_leader_reads_total", "confirmed_by")


def own_rounds(cluster, node):
    """The read rounds node started (its own entry of the cluster status)."""
    st = cluster.status(node)
    return next(x for x in st["nodes"] if x["id"] == st["node_id"])["read_rounds"]["started"]


def test_leader_gets_confirmed_by_their_own_shard_reads(cluster_factory):
    """A GET of an erasure-coded object on the leader needs no read round: its
    shard read to another voter asks that node whether it still follows the
    leader's term (&term=T), and the yes, given after the GET arrived,
    confirms it as a round would (cluster/ticket.h). GETs of 2+1 objects
    through the leader start no round and count as confirmed by "shard";
    a GET with no remote piece (a small object kept in the metadata, a
    missing key) waits for a round before its answer leaves ("round"), and
    every answer is the right one. On the peer: yes only for its own term,
    none without the question, 400 for a malformed one."""
    import socket
    from cluster_harness import CLUSTER_SECRET
    c = cluster_factory(3, extra_args=FAST)
    leader = c.leader()
    bucket = new_bucket(c, leader)
    cl = c.client(leader)
    bodies = {"big-%d" % i: random.Random(i).randbytes(MIB + 1000 * i) for i in range(4)}
    for k, b in bodies.items():
        retry(lambda k=k, b=b: cl.put_object(Bucket=bucket, Key=k, Body=b))
    retry(lambda: cl.put_object(Bucket=bucket, Key="small", Body=b"s" * 100))
    # every node holds one piece of each 2+1 object: a GET on the leader
    # reads at least one data piece from another voter
    assert all(len(w) == 3 for w in all_shards(c).values()), all_shards(c)

    # (after writes alone the store may have left them uncommitted for a
    # while, raft.c commit_now: the first GET then takes a round; GETs keep
    # the store committing every turn for a second after them)
    assert cl.get_object(Bucket=bucket, Key="big-0")["Body"].read() == bodies["big-0"]
    m0, r0 = leader_reads(leader), own_rounds(c, leader)
    for _ in range(3):
        for k, b in bodies.items():
            assert cl.get_object(Bucket=bucket, Key=k)["Body"].read() == b
    m1, r1 = leader_reads(leader), own_rounds(c, leader)
    assert m1["shard"] - m0["shard"] == 12 and m1["round"] == m0["round"], (m0, m1)
    assert m1["none"] == m0["none"], (m0, m1)
    # background work (gc, the map) may take a barrier now and then: far
    # fewer rounds than GETs, where each GET used to start its own
    assert r1 - r0 < 6, (r0, r1)

    # no remote piece: the answer waits for a round, then leaves
    assert cl.get_object(Bucket=bucket, Key="small")["Body"].read() == b"s" * 100
    with pytest.raises(ClientError) as e:
        cl.get_object(Bucket=bucket, Key="missing")
    assert err_status(e.value) == (404, "NoSuchKey"), err_status(e.value)
    m2 = leader_reads(leader)
    assert m2["round"] - m1["round"] == 2 and m2["none"] == m1["none"], (m1, m2)
    assert own_rounds(c, leader) - r1 >= 2
    # ranges and HEADs (HEAD takes its round first, as before)
    got = cl.get_object(Bucket=bucket, Key="big-1", Range="bytes=1000-600999")["Body"].read()
    assert got == bodies["big-1"][1000:601000]
    assert cl.head_object(Bucket=bucket, Key="big-2")["ContentLength"] == len(bodies["big-2"])

    # the peer's side: a shard read that asks about term T
    peer = next(n for n in c.nodes if n is not leader)
    drive = wait_for(lambda: node_drive(c, leader, peer), 30, "the peer's drive in the map")
    blob, where = next(iter(shard_files(peer).items()))
    shard = next(iter(where))
    term = c.status(leader)["term"]
    host, port = peer.bind_address.rsplit(":", 1)

    def shard_read(extra):
        target = "/_cairn/internal/shard?drive=%s&blob=%s&shard=%d&off=0&len=100%s" % (
            drive, blob, shard, extra)
        now = int(time.time())
        s = socket.create_connection((host, int(port)), timeout=30)
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nX-Cairn-Node: %s\r\nX-Cairn-Date: %d\r\n"
                   "X-Cairn-Auth: %s\r\n\r\n" % (
                       target, leader.address, now,
                       _sign_internal(CLUSTER_SECRET, "GET", target, leader.address,
                                      now))).encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            assert chunk, buf
            buf += chunk
        s.close()
        head = buf.partition(b"\r\n\r\n")[0].decode().lower()
        return head.split("\r\n")[0].split()[1], "x-cairn-follows: 1" in head

    assert shard_read("&term=%d" % term) == ("200", True)
    for extra in ("", "&term=%d" % (term + 1), "&term=%d" % (term - 1), "&term=0"):
        assert shard_read(extra) == ("200", False), extra
    for extra in ("&term=", "&term=-1", "&term=12x", "&term=+3"):
        assert shard_read(extra)[0] == "400", extra


def leader_writes(node):
    return labelled(node, "cairn_leader_writes_total", "confirmed_by")


def _presigned_put(c, node, bucket, key):
    url = c.client(node).generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=600)
    return url.split("127.0.0.1:%d" % node.s3_port, 1)[1]


def test_leader_writes_are_confirmed_by_their_own_entries(cluster_factory):
    """A PutObject or DeleteObject on the leader takes no read round: it
    goes ahead once the store shows the commit index published when it came,
    and its own log entry, committed in the leader's term, confirms it (no
    later leader can have committed anything before that entry existed:
    cluster/ticket.h). Writes through the leader start no rounds and count as
    confirmed by "entry"; an answer with no entry behind it (NoSuchBucket)
    waits for a round. A stopped old leader that runs again answers no write
    from its stale store: a PUT into a bucket created meanwhile through the
    new leader is never a 404, whatever the old leader's store says; and a
    write whose ticket wait fails there (the node heard of the new term)
    keeps its body for the ordinary barrier it takes instead (the nemesis,
    seed 1604, found it answered 400 IncompleteBody: the build before the
    fix fails this test 4 runs of 4)."""
    c = cluster_factory(3, extra_args=FAST + ["--raft-store-commit-ms", "10000"])
    leader = c.leader()
    bucket = new_bucket(c, leader)
    cl = c.client(leader)
    reader = c.client(next(n for n in c.nodes if n is not leader))
    retry(lambda: cl.put_object(Bucket=bucket, Key="warm", Body=b"w"))
    w0, r0 = leader_writes(leader), own_rounds(c, leader)
    for i in range(40):
        cl.put_object(Bucket=bucket, Key="k%d" % i, Body=b"v%d" % i)
        # read back through a follower at once: its barrier sees the write
        assert reader.get_object(Bucket=bucket, Key="k%d" % i)["Body"].read() == b"v%d" % i
    for i in range(10):
        cl.delete_object(Bucket=bucket, Key="k%d" % i)
    w1, r1 = leader_writes(leader), own_rounds(c, leader)
    assert w1["entry"] - w0["entry"] == 50 and w1["round"] == w0["round"], (w0, w1)
    assert w1["none"] == w0["none"], (w0, w1)
    # the follower's GETs each ask the leader for a round; a write used to
    # start one of its own too
    assert r1 - r0 < 40 + 10, (r0, r1)
    with pytest.raises(ClientError) as e:
        reader.head_object(Bucket=bucket, Key="k3")
    assert err_status(e.value)[0] == 404
    # no entry behind the answer: it waits for a round
    with pytest.raises(ClientError) as e:
        cl.put_object(Bucket="no-such-bucket-%s" % uuid.uuid4().hex[:8], Key="k", Body=b"x")
    assert err_status(e.value) == (404, "NoSuchBucket"), err_status(e.value)
    w2 = leader_writes(leader)
    assert w2["round"] - w1["round"] == 1 and w2["entry"] == w1["entry"], (w1, w2)

    # The old leader stopped; through the new one a bucket appears and a key
    # goes. Writes queued on the old leader run against its old store when
    # it runs again, in its old term: their entries cannot commit, and an
    # answer without one waits for a round of that term, which fails. Its
    # store batch is left open first (a write through a follower, after a
    # second without tickets: raft.c commit_now), so that their tickets
    # wait for the store, and the wait fails once the node hears of the new
    # term: each such write then takes an ordinary barrier, its body still
    # held back (it was lost before: 400 IncompleteBody).
    old = leader
    others = [n for n in c.nodes if n is not old]
    fresh = "fresh-%s" % uuid.uuid4().hex[:8]
    time.sleep(1.2)
    reader.put_object(Bucket=bucket, Key="opens-the-batch", Body=b"o")
    c.pause(old)
    try:
        new = c.leader(among=others, timeout=30)
        retry(lambda: c.client(new).create_bucket(Bucket=fresh), timeout=20)
        retry(lambda: c.client(new).put_object(Bucket=bucket, Key="k20", Body=b"new"),
              timeout=20)
        jobs = [("PUT", _presigned_put(c, old, fresh, "x%d" % i), b"into-fresh")
                for i in range(6)]
        jobs += [("PUT", _presigned_put(c, old, bucket, "k20"), b"stale-put")
                 for _ in range(14)]
        results = []

        def late(method, target, body):
            try:
                results.append((method, target, _internal_request(
                    method, old.s3_port, target, {}, timeout=60, body=body)))
            except Exception as e:  # noqa: BLE001
                results.append((method, target, ("exc", repr(e))))

        threads = [threading.Thread(target=late, args=j) for j in jobs]
        for t in threads:
            t.start()
        time.sleep(0.5)
    finally:
        c.resume(old)
    for t in threads:
        t.join(90)
    assert len(results) == len(jobs), results
    for method, target, (st, body) in results:
        assert st != 404, ("a stale NoSuchBucket from the resumed old leader", results)
        assert st in (200, 500, 503, "exc"), results
    c.wait_ready(c.nodes, timeout=30)
    lead = c.client(c.leader())
    got = lead.get_object(Bucket=bucket, Key="k20")["Body"].read()
    assert got in (b"new", b"stale-put"), got
    for method, target, (st, body) in results:
        if st == 200 and "/%s/" % fresh in target:
            key = target.split("?", 1)[0].rsplit("/", 1)[1]
            assert lead.get_object(Bucket=fresh, Key=key)["Body"].read() == b"into-fresh"


def _barrier_call(leader_of_call, caller, query):
    """POST /_cairn/internal/barrier?QUERY to leader_of_call, signed as
    caller: (status, body)."""
    from cluster_harness import CLUSTER_SECRET
    host, port = leader_of_call.bind_address.rsplit(":", 1)
    target = "/_cairn/internal/barrier?" + query
    now = int(time.time())
    return _internal_request("POST", int(port), target, {
        "X-Cairn-Node": caller.address, "X-Cairn-Date": str(now),
        "X-Cairn-Auth": _sign_internal(CLUSTER_SECRET, "POST", target, caller.address, now)},
        timeout=10, body=b"")


def test_follower_writes_go_ahead_on_the_leaders_ticket(cluster_factory):
    """A PutObject or DeleteObject through a follower takes no read round:
    its barrier asks the leader for a write ticket (barrier?ticket=1), which
    the ready leader answers at once with its write index and term; the
    follower reads once it applied that index, forwards its command, and the
    command's entry committing in that term (the 7th field of the forward's
    result line) confirms the answer, as a leader's own write is confirmed
    (cluster/ticket.h). An answer without such an entry (NoSuchBucket) asks
    the leader for a round of the ticket's term (barrier?term=T), which
    passes only while the leader is still in it."""
    c = cluster_factory(3, extra_args=FAST)
    leader = c.leader()
    f, other = [n for n in c.nodes if n is not leader]
    bucket = new_bucket(c, leader)
    fc = c.client(f)
    retry(lambda: fc.put_object(Bucket=bucket, Key="warm", Body=b"w"))
    w0, r0 = leader_writes(f), own_rounds(c, leader)
    for i in range(40):
        fc.put_object(Bucket=bucket, Key="k%d" % i, Body=b"v%d" % i)
    for i in range(10):
        fc.delete_object(Bucket=bucket, Key="k%d" % i)
    w1, r1 = leader_writes(f), own_rounds(c, leader)
    assert w1["entry"] - w0["entry"] == 50 and w1["round"] == w0["round"], (w0, w1)
    assert w1["none"] == w0["none"], (w0, w1)
    # each of the 50 took a round of the leader's before
    assert r1 - r0 < 10, (r0, r1)
    # every write is seen at once, through the leader and the other follower
    for cl in (c.client(leader), c.client(other)):
        for i in range(40):
            if i < 10:
                with pytest.raises(ClientError) as e:
                    cl.head_object(Bucket=bucket, Key="k%d" % i)
                assert err_status(e.value)[0] == 404
            else:
                assert cl.get_object(Bucket=bucket, Key="k%d" % i)["Body"].read() == \
                    b"v%d" % i
    # no entry behind the answer: a round of the ticket's term, on the leader
    r2 = own_rounds(c, leader)
    with pytest.raises(ClientError) as e:
        fc.put_object(Bucket="no-such-bucket-%s" % uuid.uuid4().hex[:8], Key="k", Body=b"x")
    assert err_status(e.value) == (404, "NoSuchBucket"), err_status(e.value)
    w2 = leader_writes(f)
    assert w2["round"] - w1["round"] == 1 and w2["entry"] == w1["entry"], (w1, w2)
    assert own_rounds(c, leader) > r2

    # the calls themselves, as the follower makes them
    term = c.status(leader)["term"]
    r3 = own_rounds(c, leader)
    st, body = _barrier_call(leader, f, "known=0&ticket=1")
    assert st == 200, (st, body)
    index, got = body.decode().split()
    assert int(index) > 0 and int(got) == term, body
    assert own_rounds(c, leader) == r3  # a ticket is no round
    st, body = _barrier_call(leader, f, "known=0")
    assert st == 200 and len(body.split()) == 1, (st, body)  # a round: no term
    st, body = _barrier_call(leader, f, "known=0&term=%d" % term)
    assert st == 200 and body.decode().split()[1] == str(term), (st, body)
    assert own_rounds(c, leader) >= r3 + 2
    for t in (term + 1, term - 1):
        st, body = _barrier_call(leader, f, "known=0&term=%d" % t)
        assert st == 503, (t, st, body)
    for q in ("known=0&term=0", "known=0&term=", "known=0&term=-1", "known=0&term=2x",
              "known=0&ticket=2", "known=0&ticket=", "known=x&ticket=1"):
        st, body = _barrier_call(leader, f, q)
        assert st == 400, (q, st, body)
    # a follower gives no ticket
    st, body = _barrier_call(other, f, "known=0&ticket=1")
    assert st != 200, (st, body)


def test_shard_stream_bad_input_leaves_nothing(cluster_factory):
    """The receiving end of a shard stream: a forged request is refused
    before any byte is written; a piece whose checksum is wrong, a stream
    cut mid-frame and an unknown frame each end it with an error and leave
    no file, temporary or final."""
    import socket
    import struct
    from cluster_harness import CLUSTER_SECRET
    c = cluster_factory(3, extra_args=FAST)
    n1, n2 = c.slots[:2]
    host, port = n2.bind_address.rsplit(":", 1)

    drive = wait_for(lambda: node_drive(c, n1, n2), 30, "n2's drive in the map")

    def open_stream(secret=CLUSTER_SECRET):
        blob = uuid.uuid4().hex
        target = ("/_cairn/internal/shard-put?blob=%s&bs=1048576&ck=1&drive=%s&hdr=94"
                  "&k=2&m=1&shard=1" % (blob, drive))
        now = int(time.time())
        s = socket.create_connection((host, int(port)), timeout=10)
        s.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nUpgrade: cairn-shard\r\n"
                   "Connection: Upgrade\r\nX-Cairn-Node: %s\r\nX-Cairn-Date: %d\r\n"
                   "X-Cairn-Auth: %s\r\nContent-Length: 0\r\n\r\n" % (
                       target, n1.address, now,
                       _sign_internal(secret, "POST", target, n1.address, now))).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                break
            head += chunk
        return s, blob, head

    def answer(s):
        s.settimeout(10)
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(256)
            if not chunk:
                break
            data += chunk
        return data.decode().strip()

    def no_files(blob):
        return not any(blob in f for f in tmp_files(n2)) and blob not in shard_files(n2)

    # forged: 403, no upgrade
    s, blob, head = open_stream(secret="not-the-cluster-secret-0123")
    assert head.startswith(b"HTTP/1.1 403"), head
    s.close()
    # a record whose checksum does not match its piece
    s, blob, head = open_stream()
    assert head.startswith(b"HTTP/1.1 101"), head
    rec = b"\0\0\0\0" + os.urandom(1000)
    s.sendall(b"R" + struct.pack("<I", len(rec)) + rec)
    assert answer(s) == "CN_ECORRUPT"
    s.close()
    assert no_files(blob)
    # an unknown frame type
    s, blob, head = open_stream()
    s.sendall(b"X" + struct.pack("<I", 4) + b"abcd")
    assert answer(s) == "CN_EBADREQ"
    s.close()
    assert no_files(blob)
    # cut mid-frame: the receiver gives up, nothing stays
    s, blob, head = open_stream()
    s.sendall(b"R" + struct.pack("<I", 5000) + b"\0" * 100)
    s.close()
    wait_for(lambda: no_files(blob), 10, "the cut stream's temporary file to go")
    # the node still takes real writes
    data = os.urandom(MIB)
    bucket = new_bucket(c, n1)
    retry(lambda: c.client(n1).put_object(Bucket=bucket, Key="after", Body=data))
    read_all(c, [n2], bucket, {"after": data})


def test_multipart_checksums_on_every_node(cluster_factory):
    """Part checksums travel in PART_PUT, the object's in UPLOAD_COMPLETE:
    every replica answers the same checksum and per-part checksums."""
    import base64
    import hashlib
    c = cluster_factory(3, extra_args=FAST)
    n1, n2, n3 = c.slots[:3]
    bucket = new_bucket(c, n1)
    rnd = random.Random(11)
    parts = [rnd.randbytes(5 * MIB), rnd.randbytes(1000)]
    sha = [hashlib.sha256(p).digest() for p in parts]
    want = base64.b64encode(hashlib.sha256(b"".join(sha)).digest()).decode()

    def upload():
        cl = c.client(n2)
        up = cl.create_multipart_upload(Bucket=bucket, Key="ck",
                                        ChecksumAlgorithm="SHA256")["UploadId"]
        done = []
        for i, p in enumerate(parts, 1):
            e = cl.upload_part(Bucket=bucket, Key="ck", UploadId=up, PartNumber=i, Body=p,
                               ChecksumSHA256=base64.b64encode(sha[i - 1]).decode())
            done.append({"PartNumber": i, "ETag": e["ETag"],
                         "ChecksumSHA256": base64.b64encode(sha[i - 1]).decode()})
        r = cl.complete_multipart_upload(Bucket=bucket, Key="ck", UploadId=up,
                                         MultipartUpload={"Parts": done})
        assert r["ChecksumSHA256"] == "%s-2" % want
        return True
    retry(upload)
    for n in (n1, n2, n3):
        cl = c.client(n)
        h = retry(lambda: cl.head_object(Bucket=bucket, Key="ck", ChecksumMode="ENABLED"))
        assert h["ChecksumSHA256"] == "%s-2" % want, n.name
        a = cl.get_object_attributes(Bucket=bucket, Key="ck",
                                     ObjectAttributes=["Checksum", "ObjectParts"])
        assert a["Checksum"]["ChecksumSHA256"] == want, n.name
        assert [p["ChecksumSHA256"] for p in a["ObjectParts"]["Parts"]] == \
            [base64.b64encode(s).decode() for s in sha], n.name
