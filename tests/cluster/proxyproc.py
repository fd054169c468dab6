"""Runs a netproxy.ClusterProxy in its own process (harness.ProcessProxy).

    python3 proxyproc.py      (started by harness.ProcessProxy, never by hand)

Protocol on stdin/stdout: pickled (name, args, kwargs) requests, pickled
("ok", value) / ("err", text) answers; the first answer says whether the
proxy started. EOF on stdin (the test process is gone) stops it.
"""
import os
import pickle
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import netproxy  # noqa: E402


def main():
    rd = sys.stdin.buffer
    wr = sys.stdout.buffer
    sys.stdout = sys.stderr          # nothing else may write to the pipe

    def send(obj):
        pickle.dump(obj, wr)
        wr.flush()

    try:
        nodes = pickle.load(rd)
        proxy = netproxy.ClusterProxy(nodes)
        proxy.start()
    except BaseException as e:  # noqa: BLE001
        send(("err", repr(e)))
        return 1
    send(("ok", os.getpid()))
    try:
        while True:
            try:
                name, args, kw = pickle.load(rd)
            except EOFError:
                break
            if name == "__stop__":
                proxy.stop()
                send(("ok", None))
                return 0
            try:
                send(("ok", getattr(proxy, name)(*args, **kw)))
            except Exception as e:  # noqa: BLE001
                send(("err", "%s: %r" % (name, e)))
    finally:
        try:
            proxy.stop()
        except Exception:  # noqa: BLE001
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
