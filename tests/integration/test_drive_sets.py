"""Safe drive sets: a start whose directories do not match the recorded drive
set is refused (which drive, how to proceed) and leaves every directory as it
was; --allow-degraded serves anyway and says so in the log, the banner,
`cairn admin status` and the metrics; an EMPTY directory at a known position
is still a replacement (test_drive_replace.py); nothing is written before
the listen port is held.
"""
import json
import os
import shutil
import socket
import subprocess

from conftest import ACCESS_KEY, SECRET_KEY, cairn_bin, make_client, metrics, start_server

ENV = dict(os.environ, CAIRN_ROOT_USER=ACCESS_KEY, CAIRN_ROOT_PASSWORD=SECRET_KEY)


def make_store(tmp_path, start_server, n=4):
    """A 4-drive store with one object; returns dirs in command-line order
    (start_server puts data_dir last: dirs[-1] is the one given as data_dir)."""
    dirs = [str(tmp_path / f"d{i}") for i in range(n)]
    srv = start_server(tmp_path, *dirs[:-1], data_dir=dirs[-1])
    s3 = make_client(srv)
    s3.create_bucket(Bucket="set")
    s3.put_object(Bucket="set", Key="k", Body=os.urandom(300 * 1024))
    assert srv.stop() == 0
    return dirs


def snapshot(dirs):
    out = {}
    for d in dirs:
        if not os.path.exists(d):
            out[d] = None
            continue
        for root, subdirs, files in os.walk(d):
            out[root] = sorted(subdirs)
            for f in files:
                p = os.path.join(root, f)
                st = os.stat(p)
                out[p] = (st.st_mtime_ns, st.st_size, open(p, "rb").read())
    return out


def run(args, timeout=30):
    out = subprocess.run([cairn_bin(), "server", "--listen", "127.0.0.1:0"] + args,
                         env=ENV, capture_output=True, timeout=timeout)
    return out.returncode, out.stderr.decode() + out.stdout.decode()


def refused(dirs, args, *want):
    """Starts on args, expects a refusal naming `want`, nothing written."""
    before = snapshot(dirs)
    rc, msg = run(args)
    assert rc != 0, msg
    assert "refusing to start" in msg and "--allow-degraded" in msg, msg
    for w in want:
        assert w in msg, (w, msg)
    assert snapshot(dirs) == before, "a refused start wrote to a drive"
    return msg


def test_missing_directory_refused(tmp_path, start_server):
    dirs = make_store(tmp_path, start_server)
    shutil.rmtree(dirs[1])
    refused(dirs, dirs, dirs[1], "does not exist")
    assert not os.path.exists(dirs[1]), "the missing directory was created"


def test_left_out_drive_refused(tmp_path, start_server):
    # The case: 4 drives, restarted with only 3 directories.
    dirs = make_store(tmp_path, start_server)
    msg = refused(dirs, dirs[:2] + dirs[3:], "drive 3 of the 4-drive set",
                  "on none of the given directories")
    # The last two given: dirs[3] sits where drive 3 belongs.
    assert dirs[3] in msg and "given as directory 3" in msg, msg


def test_swapped_drives_refused(tmp_path, start_server):
    dirs = make_store(tmp_path, start_server)
    swapped = [dirs[0], dirs[2], dirs[1], dirs[3]]
    refused(dirs, swapped, dirs[1], dirs[2], "give the directories in the set's order")


def test_foreign_drive(tmp_path, start_server):
    dirs = make_store(tmp_path, start_server)
    other = str(tmp_path / "other")
    o = start_server(tmp_path, data_dir=other)
    assert o.stop() == 0
    everything = dirs + [other]
    refused(everything, [dirs[0], other, dirs[2], dirs[3]], other,
            "belongs to another cairn store")
    # Given first, it is still the foreign one (most drives are ours), and
    # the first directory holds the metadata: never served without it.
    before = snapshot(everything)
    rc, msg = run(["--allow-degraded", other, dirs[1], dirs[2], dirs[3]])
    assert rc != 0 and "first directory" in msg and other in msg, msg
    assert snapshot(everything) == before
    # Elsewhere, --allow-degraded serves without it and never touches it.
    theirs = snapshot([other])
    srv = start_server(tmp_path, "--allow-degraded", dirs[0], other, dirs[2], data_dir=dirs[3])
    assert "DEGRADED: 3 of 4 drives online" in srv.log(), srv.log()
    s3 = make_client(srv)
    assert len(s3.get_object(Bucket="set", Key="k")["Body"].read()) == 300 * 1024
    s3.put_object(Bucket="set", Key="new", Body=os.urandom(200 * 1024))
    assert srv.stop() == 0
    assert snapshot([other]) == theirs, "something was written to the foreign drive"


def test_wiped_first_drive_refused(tmp_path, start_server):
    # An empty first directory is never adopted (the metadata lived there).
    dirs = make_store(tmp_path, start_server)
    shutil.rmtree(dirs[0])
    os.mkdir(dirs[0])
    refused(dirs, dirs, dirs[0], "is empty but is not adopted", "first directory")


def test_empty_directory_is_a_replacement(tmp_path, start_server):
    # The supported flow (see test_drive_replace.py): not a refusal.
    dirs = make_store(tmp_path, start_server)
    shutil.rmtree(dirs[2])
    os.mkdir(dirs[2])
    srv = start_server(tmp_path, *dirs[:-1], data_dir=dirs[-1])
    assert "ADOPTED" in srv.log() and "refusing" not in srv.log()
    assert len(make_client(srv).get_object(Bucket="set", Key="k")["Body"].read()) == 300 * 1024
    assert srv.stop() == 0


def test_allow_degraded_serves_loudly(tmp_path, start_server):
    dirs = make_store(tmp_path, start_server)
    shutil.rmtree(dirs[1])
    srv = start_server(tmp_path, "--allow-degraded", "--degraded-warn-s", "1", *dirs[:-1],
                       data_dir=dirs[-1])
    log = srv.log()
    assert "DEGRADED" in log and "3 of 4 drives online" in log, log
    assert "data: DEGRADED: serving with 1 drive-set problem" in log, log
    assert not os.path.exists(dirs[1])
    s3 = make_client(srv)
    assert len(s3.get_object(Bucket="set", Key="k")["Body"].read()) == 300 * 1024
    out = subprocess.run([cairn_bin(), "admin", "--endpoint", srv.endpoint, "status"],
                         env=ENV, capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    st = json.loads(out.stdout)
    ds = st["drive_set"]
    assert ds["degraded"] is True and ds["size"] == 4 and ds["online"] == 3, ds
    assert ds["missing"] == 1 and len(ds["problems"]) == 1 and dirs[1] in ds["problems"][0]
    gone = [d for d in st["drives"] if d["path"] == dirs[1]][0]
    assert gone["online"] is False and gone["problem"] == "missing"
    m = metrics(srv)
    assert m["cairn_degraded"] == 1 and m["cairn_drives_missing"] == 1, m
    assert m["cairn_drive_set_size"] == 4, m
    # ... and repeats the warning while it lasts.
    import time
    deadline = time.monotonic() + 10
    while srv.log().count("warn DEGRADED:") < 3:
        assert time.monotonic() < deadline, srv.log()
        time.sleep(0.2)
    # replaced: the problem is resolved and status stops listing it
    os.mkdir(dirs[1])
    out = subprocess.run([cairn_bin(), "admin", "--endpoint", srv.endpoint, "drive", "replace",
                          dirs[1]], env=ENV, capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    deadline = time.monotonic() + 30
    while True:
        out = subprocess.run([cairn_bin(), "admin", "--endpoint", srv.endpoint, "status"],
                             env=ENV, capture_output=True, timeout=30)
        ds = json.loads(out.stdout)["drive_set"]
        if ds["online"] == 4:
            break
        assert time.monotonic() < deadline, ds
        time.sleep(0.2)
    assert ds == {"size": 4, "online": 4, "missing": 0, "degraded": False, "problems": []}, ds
    assert srv.stop() == 0


def test_healthy_store_not_degraded(tmp_path, start_server):
    dirs = make_store(tmp_path, start_server)
    srv = start_server(tmp_path, *dirs[:-1], data_dir=dirs[-1])
    assert "(4 drives)" in srv.log() and "DEGRADED" not in srv.log(), srv.log()
    m = metrics(srv)
    assert m["cairn_degraded"] == 0 and m["cairn_drives_online"] == 4, m
    out = subprocess.run([cairn_bin(), "admin", "--endpoint", srv.endpoint, "status"],
                         env=ENV, capture_output=True, timeout=30)
    ds = json.loads(out.stdout)["drive_set"]
    assert ds == {"size": 4, "online": 4, "missing": 0, "degraded": False, "problems": []}
    assert srv.stop() == 0


def busy_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    return s, s.getsockname()[1]


def test_busy_port_writes_nothing(tmp_path):
    hold, port = busy_port()
    try:
        fresh = str(tmp_path / "fresh")
        env = dict(ENV)
        env.pop("CAIRN_ROOT_USER")
        env.pop("CAIRN_ROOT_PASSWORD")  # would generate credentials
        out = subprocess.run([cairn_bin(), "server", "--listen", "127.0.0.1:%d" % port,
                              fresh], env=env, capture_output=True, timeout=30)
        assert out.returncode != 0
        assert "cannot listen" in out.stderr.decode(), out.stderr
        assert not os.path.exists(fresh), os.listdir(fresh)
        os.mkdir(fresh)
        out = subprocess.run([cairn_bin(), "server", "--listen", "127.0.0.1:%d" % port,
                              fresh], env=env, capture_output=True, timeout=30)
        assert out.returncode != 0
        assert os.listdir(fresh) == []
    finally:
        hold.close()


def test_busy_cluster_port_writes_nothing(tmp_path):
    hold, port = busy_port()
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    s3port = free.getsockname()[1]
    free.close()
    try:
        fresh = str(tmp_path / "fresh")
        env = dict(ENV, CAIRN_CLUSTER_SECRET="x" * 32)
        node = "127.0.0.1:%d" % port
        out = subprocess.run([cairn_bin(), "server", "--listen", "127.0.0.1:%d" % s3port,
                              "--node", node, "--peers", node, fresh], env=env,
                             capture_output=True, timeout=30)
        assert out.returncode != 0
        assert "for the cluster" in out.stderr.decode(), out.stderr
        assert not os.path.exists(fresh)
    finally:
        hold.close()
