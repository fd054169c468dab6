"""What the kill -9 tests share: a server to kill (GC at once, so that the
shard files settle to the referenced set quickly)."""
import pytest

from harness import Server, free_port


@pytest.fixture
def fault_server(tmp_path):
    data = str(tmp_path / "data")
    srv = Server(data, free_port(), extra=["--gc-grace-ms", "0", "--gc-interval-ms", "200"])
    srv.start()
    yield srv
    if srv.proc.poll() is None:  # a failed assertion must not leave it running
        srv.proc.kill()
        srv.proc.wait()
