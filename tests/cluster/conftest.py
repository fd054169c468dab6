"""Fixtures for the real-process cluster tests (tests/cluster/test_cluster*.py).

  cluster_factory   make(n, **Cluster kwargs) -> a started harness.Cluster under
                    the test's tmp dir; every cluster is closed at the end of
                    the test (and every node's log tail printed if it failed)
  metrics           record(name, **values): writes <tmp>/metrics.json and a
                    "CLUSTER-METRIC {json}" line shown in pytest's summary
                    (carried in the test's report, so it also arrives from
                    pytest-xdist workers; also a property in the JUnit XML)

The cairn binary: $CAIRN_BIN or build/cairn (tests are skipped if missing).
"""
import json
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import cluster_harness as harness  # noqa: E402

_METRIC_LINES = []


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def pytest_runtest_logreport(report):
    # Runs where the summary is printed (the controller under pytest-xdist):
    # the teardown report carries every property the test recorded.
    if report.when != "teardown":
        return
    for key, value in report.user_properties:
        if key == "cluster-metric":
            _METRIC_LINES.append(value)


def pytest_terminal_summary(terminalreporter):
    if _METRIC_LINES:
        terminalreporter.section("cluster metrics")
        for line in _METRIC_LINES:
            terminalreporter.write_line(line)


def need_binary():
    if not os.path.exists(harness.cairn_bin()):
        pytest.skip("no cairn binary at %s (make build/cairn)" % harness.cairn_bin())


@pytest.fixture
def cluster_factory(request, tmp_path):
    need_binary()
    made = []

    def make(n=3, name=None, **kw):
        base = tmp_path / (name or "cluster%d" % len(made))
        c = harness.Cluster(n, base, **kw)
        made.append(c)
        return c

    yield make
    failed = any(getattr(request.node, "rep_" + w, None) is not None
                 and getattr(request.node, "rep_" + w).failed for w in ("setup", "call"))
    for c in made:
        c.close(failed=failed)


@pytest.fixture
def metrics(request, tmp_path):
    path = tmp_path / "metrics.json"
    data = {}

    def record(name, **values):
        data[name] = values
        with open(path, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        line = "CLUSTER-METRIC %s" % json.dumps(dict(name=name, file=str(path), **values),
                                                sort_keys=True)
        request.node.user_properties.append(("cluster-metric", line))
        print(line)
        return path

    return record
