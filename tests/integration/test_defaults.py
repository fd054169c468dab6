"""Defaults an operator gets without asking: `cairn --version`, a periodic
gentle scrub, and `cairn admin` finding the root credentials the way the
server does (the README's quick start: server started with credentials in
the environment, admin run from another shell).
"""
import json
import os
import re
import subprocess
import time

from conftest import ACCESS_KEY, SECRET_KEY, cairn_bin, start_server


def clean_env(**extra):
    e = {k: v for k, v in os.environ.items()
         if k not in ("CAIRN_ROOT_USER", "CAIRN_ROOT_PASSWORD", "AWS_ACCESS_KEY_ID",
                      "AWS_SECRET_ACCESS_KEY")}
    e.update(extra)
    return e


def admin(srv, *args, env, d=None):
    cmd = [cairn_bin(), "admin", "--endpoint", srv.endpoint]
    if d:
        cmd += ["--dir", d]
    return subprocess.run(cmd + list(args), env=env, capture_output=True, timeout=30)


def test_version():
    for arg in ("--version", "version"):
        out = subprocess.run([cairn_bin(), arg], capture_output=True, timeout=10)
        assert out.returncode == 0
        assert re.fullmatch(rb"cairn \S+\n", out.stdout), out.stdout


def test_periodic_scrub_on_by_default(tmp_path, start_server):
    srv = start_server(tmp_path)
    out = admin(srv, "scrub", env=clean_env(CAIRN_ROOT_USER=ACCESS_KEY,
                                            CAIRN_ROOT_PASSWORD=SECRET_KEY))
    assert out.returncode == 0, out.stderr
    st = json.loads(out.stdout)
    assert st["interval_s"] == 86400 and st["rate_bytes_per_sec"] == 16 << 20, st
    assert 0 < st["next_pass_s"] - time.time() <= 86400 + 5, st
    assert srv.stop() == 0
    off = start_server(tmp_path, "--scrub-interval-s", "0")
    st = json.loads(admin(off, "scrub", env=clean_env(CAIRN_ROOT_USER=ACCESS_KEY,
                                                      CAIRN_ROOT_PASSWORD=SECRET_KEY)).stdout)
    assert st["interval_s"] == 0 and st["next_pass_s"] == 0, st


def test_admin_credentials_like_the_server(tmp_path, start_server):
    # The server got its credentials from the environment: no file exists.
    srv = start_server(tmp_path)
    assert not os.path.exists(os.path.join(srv.data_dir, ".cairn", "credentials"))
    root = clean_env(CAIRN_ROOT_USER=ACCESS_KEY, CAIRN_ROOT_PASSWORD=SECRET_KEY)
    out = admin(srv, "status", env=root, d=srv.data_dir)
    assert out.returncode == 0, out.stderr
    assert "drives" in json.loads(out.stdout)
    # The quick start's other shell: set up for the aws CLI.
    aws = clean_env(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
    out = admin(srv, "status", env=aws, d=srv.data_dir)
    assert out.returncode == 0, out.stderr
    # Neither: a message that says where it looked and what to do.
    out = admin(srv, "status", env=clean_env(), d=srv.data_dir)
    assert out.returncode != 0
    msg = out.stderr.decode()
    assert "CAIRN_ROOT_USER" in msg and "AWS_ACCESS_KEY_ID" in msg and srv.data_dir in msg, msg
    assert srv.stop() == 0
    # Generated credentials: the file in the data directory.
    gen = start_server(tmp_path, env={"CAIRN_ROOT_USER": None, "CAIRN_ROOT_PASSWORD": None})
    out = admin(gen, "status", env=clean_env(), d=gen.data_dir)
    assert out.returncode == 0, out.stderr
    # The environment comes first, as in the server.
    out = admin(gen, "status", env=clean_env(CAIRN_ROOT_USER="nobodyhere",
                                             CAIRN_ROOT_PASSWORD="wrong-password"),
                d=gen.data_dir)
    assert out.returncode != 0
