"""
`make install` into a temporary root, then the installed binary started the
way the installed systemd unit starts it (its ExecStart line with the
installed environment file's settings) answers its health endpoint.
"""
import http.client
import os
import re
import shutil
import signal
import stat
import subprocess
import time

import pytest

from conftest import REPO, cairn_bin

HARDENING = [
    "ProtectSystem=strict",
    "ReadWritePaths=/var/lib/cairn",
    "NoNewPrivileges=yes",
    "PrivateTmp=yes",
    "ProtectHome=yes",
    "CapabilityBoundingSet=",
    "LimitNOFILE=",
    "Restart=on-failure",
]


def make_install(destdir, *extra):
    r = subprocess.run(["make", "-s", "-C", REPO, "install", "DESTDIR=" + destdir,
                        "BIN=" + cairn_bin(), *extra],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def unit_lines(path):
    with open(path) as f:
        return [l.strip() for l in f if l.strip() and not l.lstrip().startswith("#")]


def env_file(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                k, _, v = line.partition("=")
                env[k] = v
    return env


def exec_argv(execstart, env, root):
    """systemd's expansion: ${X} is one word, $X splits at whitespace."""
    argv = []
    for w in execstart.split():
        m = re.fullmatch(r"\$\{(\w+)\}", w)
        if m:
            argv.append(env[m.group(1)])
            continue
        m = re.fullmatch(r"\$(\w+)", w)
        if m:
            argv += env.get(m.group(1), "").split()
            continue
        argv.append(w)
    argv[0] = root + argv[0]
    return argv


def test_make_install_then_start_installed_binary(tmp_path):
    root = str(tmp_path / "root")
    make_install(root, "PREFIX=/usr")
    binary = os.path.join(root, "usr/bin/cairn")
    unit = os.path.join(root, "usr/lib/systemd/system/cairn.service")
    env_path = os.path.join(root, "etc/cairn/cairn.env")
    for p in (binary, unit, env_path, os.path.join(root, "usr/share/man/man1/cairn.1"),
              os.path.join(root, "usr/share/doc/cairn/cairn-help.txt")):
        assert os.path.isfile(p), p
    assert os.access(binary, os.X_OK)
    assert stat.S_IMODE(os.stat(env_path).st_mode) == 0o600, "the env file may hold secrets"
    with open(os.path.join(root, "usr/share/doc/cairn/cairn-help.txt")) as f:
        assert "cairn server" in f.read()

    lines = unit_lines(unit)
    for h in HARDENING:
        assert any(l.startswith(h) for l in lines), "unit lacks %s" % h
    assert "CapabilityBoundingSet=" in lines  # empty: no capabilities at all
    assert "EnvironmentFile=/etc/cairn/cairn.env" in lines
    execstart = [l for l in lines if l.startswith("ExecStart=")]
    assert len(execstart) == 1
    execstart = execstart[0][len("ExecStart="):]
    assert execstart.startswith("/usr/bin/cairn server")

    env = env_file(env_path)
    for k in ("CAIRN_LISTEN", "CAIRN_DIRS", "CAIRN_OPTS"):
        assert k in env, k
    # the unit's command line, with the installed settings, pointed at loopback
    # port 0 and a temporary data directory
    env["CAIRN_LISTEN"] = "127.0.0.1:0"
    data = str(tmp_path / "data")
    env["CAIRN_DIRS"] = data
    argv = exec_argv(execstart, env, root)
    pe = dict(os.environ, CAIRN_ROOT_USER="installtestkey",
              CAIRN_ROOT_PASSWORD="install-test-secret-0123")
    log = str(tmp_path / "installed.log")
    with open(log, "wb") as lf:
        proc = subprocess.Popen(argv, stdout=lf, stderr=subprocess.STDOUT, env=pe,
                                stdin=subprocess.DEVNULL)
    try:
        port = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and port is None:
            assert proc.poll() is None, open(log).read()
            m = re.search(r"S3 endpoint http://127\.0\.0\.1:(\d+)", open(log).read())
            port = int(m.group(1)) if m else None
            time.sleep(0.05)
        assert port, open(log).read()
        status = None
        while time.monotonic() < deadline and status != 200:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/_cairn/health/live")
                status = c.getresponse().status
                c.close()
            except OSError:
                time.sleep(0.05)
        assert status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(30)
    assert rc == 0, open(log).read()
    assert os.path.isdir(os.path.join(data, ".cairn", "meta"))

    # a second install keeps the operator's settings
    with open(env_path, "a") as f:
        f.write("CAIRN_OPTS=--workers 2\n")
    make_install(root, "PREFIX=/usr")
    assert env_file(env_path)["CAIRN_OPTS"] == "--workers 2"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_installed_unit_verifies(tmp_path):
    """systemd itself parses the unit (installed without DESTDIR into a
    temporary prefix, so the paths it names exist)."""
    prefix = str(tmp_path / "p")
    make_install("", "PREFIX=" + prefix, "SYSCONFDIR=" + str(tmp_path / "etc"))
    unit = os.path.join(prefix, "lib/systemd/system/cairn.service")
    r = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True,
                       timeout=60)
    # only the man: documentation link may be unresolvable here
    problems = [l for l in (r.stdout + r.stderr).splitlines()
                if l.strip() and "man cairn(1)" not in l]
    assert not problems, problems
