"""
The web console's operations page on a 3-node cluster, in headless Chromium
(tests/integration/test_console.py has the single-node scenario): every node
with its role, the leader marked, the rebalance line; a stopped node shows
as unreachable. Skipped only where selenium or Chromium is not installed.
A screenshot goes to build/test-results/console/.
"""
import base64
import os
import shutil
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHOTS = os.path.join(REPO, "build", "test-results", "console")


def browser(tmp):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed for this python (scripts/install-deps.sh test)")
    for p in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        if not os.path.exists(p):
            pytest.skip("%s is missing (scripts/install-deps.sh test)" % p)
    o = webdriver.ChromeOptions()
    o.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1280,900", "--no-first-run", "--disable-extensions"):
        o.add_argument(a)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)


def wait(fn, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception:  # noqa: BLE001 (not rendered yet)
            pass
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def test_console_cluster_nodes(cluster_factory, tmp_path):
    d = browser(str(tmp_path))
    try:
        c = cluster_factory(3)
        leader = c.leader()
        d.get(leader.endpoint + "/_cairn/console/")
        wait(lambda: d.find_element("id", "login-ak").is_displayed(), "the login form")
        d.find_element("id", "login-ak").send_keys(c.access_key)
        d.find_element("id", "login-sk").send_keys(c.secret_key)
        d.find_element("id", "login-btn").click()
        wait(lambda: d.find_element("id", "view-buckets").is_displayed(), "the bucket list")
        d.find_element("id", "nav-ops").click()
        # the leader's rebalancer says standby until its first look after the
        # election; the page polls every 5 s (redrawing the node rows, which
        # are looked up after this)
        wait(lambda: "Rebalance: idle" in d.find_element("id", "ops-bg").text,
             "the leader's rebalancer idle")
        card = wait(lambda: d.find_element("id", "ops-cluster-card").is_displayed() and
                    d.find_element("id", "ops-cluster-card"), "the cluster card")
        rows = wait(lambda: len(d.find_elements("css selector", "#node-rows tr")) == 3 and
                    d.find_elements("css selector", "#node-rows tr"), "three nodes")
        text = card.text
        assert text.count("(leader)") == 1, text
        for n in c.nodes:
            assert n.address in text, (n.address, text)
        assert all(r.find_elements("xpath", "./td")[3].text == "yes" for r in rows), text
        # 64-bit node ids shown exactly (a JSON number in JS would round them)
        st = c.status(leader)
        ids = sorted(str(n["id"]) for n in st["nodes"])
        assert sorted(r.find_elements("xpath", "./td")[0].text.split()[0] for r in rows) == ids
        assert "%d (leader)" % st["leader_id"] in text
        # a stopped follower: unreachable on the next poll (every 5 s)
        gone = next(n for n in c.nodes if n is not leader)
        c.stop(gone)

        def unreachable():
            for r in d.find_elements("css selector", "#node-rows tr"):
                td = r.find_elements("xpath", "./td")
                if td[1].text == gone.address:
                    return td[3].text.startswith("no")
            return False
        wait(unreachable, "the stopped node to show as unreachable")
        p = os.path.join(str(tmp_path), "13-cluster-operations.png")
        m = d.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = m.get("cssContentSize") or m["contentSize"]
        shot = d.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            # the window's width: without a scrollbar the page lays out wider
            "clip": {"x": 0, "y": 0, "height": size["height"], "scale": 1,
                     "width": max(size["width"], d.execute_script("return innerWidth"))}})
        with open(p, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        os.makedirs(SHOTS, exist_ok=True)
        shutil.copy(p, SHOTS)
    finally:
        d.quit()
