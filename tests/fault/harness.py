"""A cairn server process the fault tests can SIGKILL and restart."""
import os
import signal
import subprocess
import time
import sys
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))
from netproxy import free_ports  # noqa: E402

BIN = os.environ.get("CAIRN_BIN", os.path.join(ROOT, "build", "cairn"))


def free_port():
    """A free port from below the ephemeral range (see netproxy.free_ports)."""
    return free_ports(1)[0]


def wait_ready(endpoint, proc, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(endpoint + "/_cairn/health/ready", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("server did not become ready")


class Server:
    access_key = "faultkey"
    secret_key = "faultsecret1234"

    def __init__(self, data_dir, port, extra=()):
        self.data_dir = data_dir
        self.port = port
        self.extra = list(extra)
        self.endpoint = f"http://127.0.0.1:{port}"
        self.proc = None
        self.log = open(os.path.join(os.path.dirname(data_dir), "server.log"), "ab")

    def start(self):
        env = dict(os.environ, CAIRN_ROOT_USER=self.access_key,
                   CAIRN_ROOT_PASSWORD=self.secret_key)
        self.proc = subprocess.Popen(
            [BIN, "server", "--listen", f"127.0.0.1:{self.port}", "--quiet"] + self.extra +
            [self.data_dir], stdout=self.log, stderr=self.log, env=env)
        wait_ready(self.endpoint, self.proc)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=30)
        assert rc == 0, f"server exited {rc}"


def killable_server(tmp_path):
    """Body of the fault tests' server fixture (yield from it): GC at once, so
    that the shard files settle to the referenced set quickly. Not a conftest
    fixture: pytest runs tests/fault with tests/integration, whose conftest
    module the integration tests import by name."""
    data = str(tmp_path / "data")
    srv = Server(data, free_port(), extra=["--gc-grace-ms", "0", "--gc-interval-ms", "200"])
    srv.start()
    yield srv
    if srv.proc.poll() is None:  # a failed assertion must not leave it running
        srv.proc.kill()
        srv.proc.wait()
