"""
The web console (issue #18): served by the binary at /_cairn/console/, and
driven in a real headless Chromium.

Serving (plain HTTP, no browser): the embedded files byte for byte with their
content types, the security headers (CSP without inline script, nosniff,
no framing), ETag / If-None-Match 304, HEAD, the redirect, 404 for anything
else, 405 for other methods, --no-console, the access log's op name.

In the browser (Debian's chromium + chromium-driver through python3-selenium;
skipped only where selenium or the browser is not installed; one Chromium for
the module): a wrong secret shows S3's error code; log in; create and delete
buckets; upload a 20 MiB file through the multipart path and see its progress
bar reach 100%; a dropped file, a picked folder, a cancelled upload (aborted
on the server); paging; browse into the prefix; the object's details (size,
ETag, metadata, checksum, tags); download it byte-exact; share a presigned
link and fetch it without the browser; keys with URL-special characters and
with a "." segment; restore an old version; delete one object and then many;
the operations page (drives, background work, request chart, users) and a
rebuild in progress; log out (the secret gone from session storage); a
read-only user's upload and bucket delete refused with AccessDenied shown; a
phone-sized window without horizontal scrolling; the region found from the
server's refusal and a browser clock an hour off; the console over HTTPS.
No page may break its Content-Security-Policy. A screenshot of each page
lands in the tmp dir and in build/test-results/console/.
"""
import base64
import concurrent.futures
import hashlib
import http.client
import os
import re
import shutil
import ssl
import subprocess
import time
import types
import urllib.error
import urllib.request

import pytest

from conftest import REPO, cairn_bin, make_client, spawn

CONSOLE_DIR = os.path.join(REPO, "console")
SHOTS = os.path.join(REPO, "build", "test-results", "console")
ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}


def get(srv, path, method="GET", headers=None):
    c = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        body = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        c.close()


def wait_log(srv, pattern, count=1, timeout=10):
    """Waits for count access-log lines matching pattern: a line is written
    once the response has been sent, so a client can act on the answer
    before the line exists."""
    deadline = time.monotonic() + timeout
    while len(re.findall(pattern, srv.log())) < count:
        assert time.monotonic() < deadline, "no %r in the log:\n%s" % (pattern, srv.log()[-3000:])
        time.sleep(0.05)


def source(name):
    with open(os.path.join(CONSOLE_DIR, name), "rb") as f:
        return f.read()


# ---------------------------------------------------------------- serving

def check_security_headers(h):
    csp = h.get("content-security-policy", "")
    assert "default-src 'self'" in csp, csp
    assert "connect-src 'self'" in csp, csp
    assert "script-src 'self'" in csp, csp
    assert "frame-ancestors 'none'" in csp, csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, csp
    assert h.get("x-content-type-options") == "nosniff"
    assert h.get("x-frame-options") == "DENY"


def test_console_serves_embedded_files(start_server, tmp_path):
    srv = start_server(tmp_path, quiet=False)
    # a query string changes nothing (cache busters)
    assert get(srv, "/_cairn/console/app.js?v=2")[2] == source("app.js")
    for name, ctype in ASSETS.items():
        st, h, body = get(srv, "/_cairn/console/" + name)
        assert st == 200, (name, st, body[:200])
        assert h["content-type"] == ctype
        assert body == source(name), name  # the build embeds the files as they are
        assert int(h["content-length"]) == len(body)
        assert re.fullmatch(r'"[0-9a-f]{32}"', h["etag"]), h["etag"]
        assert h["cache-control"] == "no-cache"
        check_security_headers(h)
        # HEAD: the same headers, no body
        st2, h2, body2 = get(srv, "/_cairn/console/" + name, "HEAD")
        assert (st2, body2) == (200, b"")
        assert h2["etag"] == h["etag"] and h2["content-length"] == h["content-length"]
        assert h2["content-type"] == ctype
        # revalidation: the same tag (strong or weak, alone or in a list) is a 304
        for inm in (h["etag"], "W/" + h["etag"], '"nope", ' + h["etag"], "*"):
            st3, h3, body3 = get(srv, "/_cairn/console/" + name, headers={"If-None-Match": inm})
            assert (st3, body3) == (304, b""), inm
            assert h3["etag"] == h["etag"]
        st4, _, body4 = get(srv, "/_cairn/console/" + name, headers={"If-None-Match": '"other"'})
        assert (st4, body4) == (200, source(name))
    # distinct files, distinct tags; the directory is index.html
    tags = {get(srv, "/_cairn/console/" + n)[1]["etag"] for n in ASSETS}
    assert len(tags) == len(ASSETS)
    st, h, body = get(srv, "/_cairn/console/")
    assert st == 200 and body == source("index.html")
    assert h["content-type"] == ASSETS["index.html"]
    # the bare path moves to the directory, so relative URLs resolve
    st, h, _ = get(srv, "/_cairn/console")
    assert st == 301 and h["location"] == "/_cairn/console/"
    # anything else is a 404, never another file
    for p in ("/_cairn/console/nope.js", "/_cairn/console/sub/index.html",
              "/_cairn/console/..%2Fapp.js", "/_cairn/console/app.js/"):
        st, h, _ = get(srv, p)
        assert st == 404, p
        check_security_headers(h)
    # another /_cairn/ name is not the console (the ops endpoints' own answer)
    st, h, _ = get(srv, "/_cairn/consolex")
    assert st == 501 and "content-security-policy" not in h
    st, h, _ = get(srv, "/_cairn/console/app.js", "POST")
    assert st == 405 and h["allow"] == "GET, HEAD"
    # no credentials needed (the files hold no secret), logged as Console
    wait_log(srv, r"GET /_cairn/console/app\.js 200 .*op=Console")


def test_no_console_flag(start_server, tmp_path):
    srv = start_server(tmp_path, "--no-console")
    for p in ("/_cairn/console/", "/_cairn/console/app.js", "/_cairn/console"):
        st, h, body = get(srv, p)
        assert st == 404, (p, st)
        assert "content-security-policy" not in h  # nothing says a console is there
    assert get(srv, "/_cairn/health/live")[0] == 200
    assert "--no-console" in subprocess.run([cairn_bin(), "--help"], capture_output=True,
                                            text=True).stdout


def test_page_has_no_inline_code():
    """The CSP forbids inline script and style: the page must not need them."""
    html = source("index.html").decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
    assert not re.search(r"\son[a-z]+\s*=", html, re.I), "inline event handler"
    assert not re.search(r"\sstyle\s*=", html, re.I), "inline style attribute"
    assert "<style" not in html
    assert not re.search(r"(src|href)\s*=\s*\"(https?:)?//", html), "a file from another host"
    js = source("app.js").decode()
    assert "innerHTML" not in js and "eval(" not in js and "new Function" not in js
    assert "document.cookie" not in js and "localStorage" not in js


# ---------------------------------------------------------------- browser

def _browser_or_skip():
    try:
        from selenium import webdriver  # noqa: F401
    except ImportError:
        pytest.skip("selenium is not installed for this python (scripts/install-deps.sh test)")
    for p in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        if not os.path.exists(p):
            pytest.skip("%s is missing (scripts/install-deps.sh test)" % p)


class Console:
    """A headless Chromium on the console of one server."""

    def __init__(self, srv, tmp):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.srv = srv
        self.tmp = tmp
        self.downloads = os.path.join(tmp, "downloads")
        self.shots = os.path.join(tmp, "screenshots")
        os.makedirs(self.downloads, exist_ok=True)
        os.makedirs(self.shots, exist_ok=True)
        o = webdriver.ChromeOptions()
        o.binary_location = "/usr/bin/chromium"
        for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                  "--window-size=1280,720", "--no-first-run", "--disable-extensions"):
            o.add_argument(a)
        o.add_experimental_option("prefs", {"download.default_directory": self.downloads,
                                            "download.prompt_for_download": False})
        o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        o.set_capability("acceptInsecureCerts", True)  # the TLS test's own certificate
        self.d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)
        self.d.execute_cdp_cmd("Browser.setDownloadBehavior",
                               {"behavior": "allow", "downloadPath": self.downloads})
        self.logs = []

    def close(self):
        try:
            self.logs += self.d.get_log("browser")
        finally:
            self.d.quit()

    def url(self, frag=""):
        return "%s/_cairn/console/%s" % (self.srv.endpoint, frag)

    def wait(self, fn, timeout=20, what="condition"):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                v = fn()
                if v:
                    return v
            except Exception as e:  # an element not there yet
                last = e
            time.sleep(0.05)
        self.shot("timeout")
        raise AssertionError("timed out waiting for %s (%r); error banner: %r" %
                             (what, last, self.text("error-text")))

    def click(self, sel, what):
        """Clicks the first element matching sel once there is one. A list
        redrawn between the lookup and the click (a stale element) is looked
        up again rather than failing the test."""
        def go():
            els = self.css(sel)
            if not els:
                return False
            els[0].click()
            return True
        self.wait(go, what=what)

    def by_id(self, i):
        return self.d.find_element("id", i)

    def css(self, sel):
        return self.d.find_elements("css selector", sel)

    def text(self, i):
        try:
            return self.by_id(i).text
        except Exception:
            return None

    def visible(self, i):
        return self.by_id(i).is_displayed()

    def view(self, name):
        self.wait(lambda: self.d.execute_script("return document.body.dataset.view") == name
                  and self.visible("view-" + name), what="view " + name)

    def fill(self, i, value):
        e = self.by_id(i)
        e.clear()
        e.send_keys(value)

    def accept_confirm(self):
        a = self.wait(lambda: self.d.switch_to.alert, what="a confirm dialog")
        a.accept()

    def shot(self, name):
        """The whole page, not just the window (CDP), into both places."""
        p = os.path.join(self.shots, name + ".png")
        try:
            m = self.d.execute_cdp_cmd("Page.getLayoutMetrics", {})
            size = m.get("cssContentSize") or m["contentSize"]
            shot = self.d.execute_cdp_cmd("Page.captureScreenshot", {
                "format": "png", "captureBeyondViewport": True,
                # the window's width: without a scrollbar the page lays out wider
                "clip": {"x": 0, "y": 0, "height": size["height"], "scale": 1,
                         "width": max(size["width"], self.d.execute_script("return innerWidth"))}})
            with open(p, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
        except Exception:
            self.d.save_screenshot(p)
        os.makedirs(SHOTS, exist_ok=True)
        shutil.copy(p, os.path.join(SHOTS, name + ".png"))

    def login(self, ak, sk):
        self.d.get(self.url())
        self.view("login")
        self.fill("login-ak", ak)
        self.fill("login-sk", sk)
        self.by_id("login-btn").click()

    def csp_violations(self):
        self.logs += self.d.get_log("browser")
        return [l for l in self.logs if "Content Security Policy" in l.get("message", "")]


@pytest.fixture(scope="module")
def chrome(tmp_path_factory):
    """One Chromium for the module (starting one takes seconds); each test
    points it at its own server, a fresh origin with empty session storage."""
    _browser_or_skip()
    c = Console(None, str(tmp_path_factory.mktemp("chrome")))
    yield c
    c.close()


@pytest.fixture
def browser_server(tmp_path):
    srv = spawn(os.path.join(str(tmp_path), "data"), quiet=False)
    yield srv
    assert srv.stop() == 0


@pytest.fixture
def console(chrome, browser_server):
    chrome.srv = browser_server
    chrome.logs = []
    yield chrome
    # whatever a failed test left: throttling, a dialog, the page
    try:
        chrome.d.switch_to.alert.dismiss()
    except Exception:
        pass
    chrome.d.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    chrome.d.get("about:blank")


def sha(b):
    return hashlib.sha256(b).hexdigest()


def admin(srv, *args):
    env = dict(os.environ, CAIRN_ROOT_USER=srv.access_key, CAIRN_ROOT_PASSWORD=srv.secret_key)
    r = subprocess.run([cairn_bin(), "admin", "--endpoint", srv.endpoint, *args], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def test_console_in_browser(console, browser_server, tmp_path):
    c, srv = console, browser_server
    s3 = make_client(srv)
    bucket = "console-it"

    # a wrong secret: S3's own error code and message, not a blank page
    c.login(srv.access_key, "not-the-secret")
    c.wait(lambda: c.visible("login-error"), what="the login error")
    assert c.text("login-error").startswith("SignatureDoesNotMatch: "), c.text("login-error")
    assert c.d.execute_script("return sessionStorage.length") == 0
    c.shot("01-login-wrong-secret")

    # log in; the secret stays in this tab's session storage only
    c.fill("login-sk", srv.secret_key)
    c.by_id("login-btn").click()
    c.view("buckets")
    stored = c.d.execute_script("return JSON.stringify(sessionStorage)")
    assert srv.secret_key in stored
    assert c.d.execute_script("return document.cookie") == ""
    assert srv.secret_key not in c.d.current_url

    # create a bucket
    c.fill("bucket-new", bucket)
    c.by_id("bucket-create").click()
    link = c.wait(lambda: c.css('a[data-bucket="%s"]' % bucket), what="the new bucket")[0]
    s3.head_bucket(Bucket=bucket)
    # an empty bucket can go again
    s3.create_bucket(Bucket="console-empty")
    c.d.refresh()
    c.view("buckets")
    c.wait(lambda: c.css('button[data-delete-bucket="console-empty"]'),
           what="the second bucket")[0].click()
    c.accept_confirm()
    c.wait(lambda: not c.css('a[data-bucket="console-empty"]'), what="the bucket to go")
    with pytest.raises(s3.exceptions.ClientError):
        s3.head_bucket(Bucket="console-empty")
    link = c.css('a[data-bucket="%s"]' % bucket)[0]
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    c.shot("02-buckets")

    # into the bucket, then a new folder, and upload 20 MiB there (multipart)
    link.click()
    c.view("objects")
    c.fill("folder-new", "docs")
    c.by_id("folder-new").submit()
    c.wait(lambda: "docs" in c.by_id("crumbs").text, what="the docs/ folder")
    big = os.urandom(20 * 1024 * 1024)
    src = os.path.join(str(tmp_path), "big.bin")
    with open(src, "wb") as f:
        f.write(big)
    c.by_id("file-input").send_keys(src)
    row = c.wait(lambda: c.css('li.upload[data-key="docs/big.bin"]'), what="the upload row")[0]
    c.wait(lambda: row.get_attribute("data-state") in ("done", "failed"), timeout=40,
           what="the upload to end")
    assert row.get_attribute("data-state") == "done", row.text
    assert row.find_element("css selector", "progress").get_attribute("value") == "100"
    assert row.find_element("css selector", ".pct").text == "100%"
    head = s3.head_object(Bucket=bucket, Key="docs/big.bin")
    assert head["ContentLength"] == len(big)
    assert head["ETag"].endswith('-3"'), head["ETag"]  # three 8 MiB parts
    wait_log(srv, r"op=UploadPart ", count=3)
    assert len(re.findall(r"op=UploadPart ", srv.log())) == 3
    c.shot("03-upload-done")

    # a file dropped on the page uploads too (a synthetic drop: selenium
    # cannot drag from the desktop; the handler is the same)
    c.d.execute_script("""
        const dt = new DataTransfer();
        dt.items.add(new File(["dropped bytes"], "dropped.txt", {type: "text/plain"}));
        document.getElementById("drop").dispatchEvent(
            new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));""")
    row = c.wait(lambda: c.css('li.upload[data-key="docs/dropped.txt"][data-state="done"]'),
                 what="the dropped file's upload")
    got = s3.get_object(Bucket=bucket, Key="docs/dropped.txt")
    assert got["Body"].read() == b"dropped bytes" and got["ContentType"] == "text/plain"

    # cancel: a slow multipart upload stopped half way is aborted on the server
    c.d.execute_cdp_cmd("Network.enable", {})
    c.d.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1,
        "uploadThroughput": 4 * 1024 * 1024})
    slow = os.path.join(str(tmp_path), "slow.bin")
    with open(slow, "wb") as f:
        f.write(big)
    c.by_id("file-input").send_keys(slow)
    row = c.wait(lambda: c.css('li.upload[data-key="docs/slow.bin"]'), what="the slow upload")[0]
    c.wait(lambda: int(row.find_element("css selector", "progress").get_attribute("value")) >= 1,
           what="some progress")
    row.find_element("xpath", ".//button[text()='Cancel']").click()
    c.wait(lambda: row.get_attribute("data-state") == "cancelled", what="the cancel")
    c.d.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    wait_log(srv, r"op=AbortMultipartUpload ")
    with pytest.raises(s3.exceptions.ClientError):
        s3.head_object(Bucket=bucket, Key="docs/slow.bin")
    s3.delete_object(Bucket=bucket, Key="docs/dropped.txt")

    # paging: 200 keys a page, continuation tokens behind "Next page"
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda i: s3.put_object(Bucket=bucket, Key="paged/k%04d" % i, Body=b""),
                    range(205)))
    c.d.get(c.url("#/b/%s/paged%%2F" % bucket))
    c.view("objects")
    c.wait(lambda: len(c.css("#object-rows tr")) == 200, what="a first page of 200")
    assert c.by_id("page-next").is_enabled() and not c.by_id("page-first").is_enabled()
    c.by_id("page-next").click()
    c.wait(lambda: len(c.css("#object-rows tr")) == 5, what="the last 5 keys")
    assert c.css('#object-rows a[data-key="paged/k0204"]') and c.text("page-info") == "Page 2"
    assert not c.by_id("page-next").is_enabled()
    c.by_id("page-first").click()
    c.wait(lambda: c.css('#object-rows a[data-key="paged/k0000"]'), what="the first page again")

    # a folder from the folder picker keeps its relative paths
    album = os.path.join(str(tmp_path), "album")
    os.makedirs(os.path.join(album, "inner"))
    for rel, data in (("a.txt", b"A"), ("inner/b.txt", b"BB")):
        with open(os.path.join(album, rel), "wb") as f:
            f.write(data)
    c.by_id("dir-input").send_keys(album)
    for k in ("paged/album/a.txt", "paged/album/inner/b.txt"):
        c.wait(lambda: c.css('li.upload[data-key="%s"][data-state="done"]' % k), what=k)
    assert s3.get_object(Bucket=bucket, Key="paged/album/inner/b.txt")["Body"].read() == b"BB"

    # the bucket list counts objects and bytes (root sees the admin stats)
    total = sum(o["Size"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    count = s3.list_objects_v2(Bucket=bucket)["KeyCount"]
    c.by_id("nav-buckets").click()
    c.view("buckets")
    cells = c.wait(lambda: c.css('a[data-bucket="%s"]' % bucket), what="the bucket row")[0] \
        .find_elements("xpath", "./ancestor::tr/td")
    assert cells[2].text == str(count), (cells[2].text, count)
    assert cells[3].text == "%.1f MiB" % (total / 1048576), (cells[3].text, total)

    # browse: the bucket's root shows the folder; into it, the object
    s3.put_object(Bucket=bucket, Key="docs/meta.txt", Body=b"meta", Metadata={"owner": "ops"},
                  Tagging="team=blue", ChecksumAlgorithm="SHA256")
    c.d.find_element("link text", bucket).click()
    c.click('a[data-folder="docs/"]', what="the docs/ folder row")
    c.wait(lambda: c.css('#object-rows a[data-key="docs/big.bin"]'), what="the object row")
    assert c.css('#object-rows a[data-key="docs/meta.txt"]')
    c.shot("04-folder")

    # details of the big object
    c.click('#object-rows a[data-key="docs/big.bin"]', what="the object row")
    c.view("details")
    c.wait(lambda: "20971520 bytes" in c.text("detail-size"), what="the size")
    assert c.text("detail-etag") == head["ETag"]
    c.wait(lambda: c.css("#version-rows tr"), what="the versions")
    c.shot("05-details")

    # download: the file Chromium saves is the object, byte for byte
    c.by_id("download-btn").click()
    out = os.path.join(c.downloads, "big.bin")
    c.wait(lambda: os.path.exists(out) and os.path.getsize(out) == len(big) and
           not any(n.endswith(".crdownload") for n in os.listdir(c.downloads)),
           timeout=30, what="the download")
    with open(out, "rb") as f:
        assert sha(f.read()) == sha(big)

    # share: a presigned link anyone can fetch, for the chosen time
    from selenium.webdriver.support.ui import Select
    Select(c.by_id("share-expiry")).select_by_value("86400")
    c.by_id("share-btn").click()
    url = c.wait(lambda: c.by_id("share-url").get_attribute("value"), what="the link")
    assert url.startswith(srv.endpoint + "/" + bucket + "/docs/big.bin?")
    assert "X-Amz-Expires=86400" in url and "X-Amz-Signature=" in url
    with urllib.request.urlopen(url, timeout=30) as r:
        assert sha(r.read()) == sha(big)
    c.shot("06-share")

    # metadata, checksum and tags of the small one
    c.d.get(c.url("#/o/%s/%s" % (bucket, "docs%2Fmeta.txt")))
    c.view("details")
    c.wait(lambda: "owner" in c.by_id("details-meta").text, what="the metadata")
    meta = c.by_id("details-meta").text
    assert "ops" in meta and "SHA256 checksum" in meta, meta
    c.wait(lambda: "team" in c.by_id("details-tags").text, what="the tags")
    assert "blue" in c.by_id("details-tags").text

    # a key with characters URLs and SigV4 treat specially
    odd = "docs/sp ace+ü%#?&=;'*(x).txt"
    s3.put_object(Bucket=bucket, Key=odd, Body=b"odd key")
    c.d.find_element("link text", "docs").click()
    c.view("objects")
    c.wait(lambda: [e for e in c.css("#object-rows a[data-key]")
                    if e.get_attribute("data-key") == odd], what="the odd key")[0].click()
    c.view("details")
    c.wait(lambda: "(7 bytes)" in c.text("detail-size"), what="the odd key's size")
    c.by_id("share-btn").click()
    url = c.wait(lambda: c.by_id("share-url").get_attribute("value"), what="the odd link")
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.read() == b"odd key"
    c.wait(lambda: c.css("#version-rows tr"), what="the odd key's versions")
    c.by_id("delete-btn").click()
    c.accept_confirm()
    c.view("objects")
    with pytest.raises(s3.exceptions.ClientError):
        s3.head_object(Bucket=bucket, Key=odd)

    # versions: restore the first one
    s3.put_object(Bucket=bucket, Key="docs/meta.txt", Body=b"meta v2")
    c.d.get(c.url("#/o/%s/%s" % (bucket, "docs%2Fmeta.txt")))
    c.d.refresh()  # a reload keeps the session (sessionStorage)
    c.view("details")
    rows = c.wait(lambda: len(c.css("#version-rows tr")) == 2 and c.css("#version-rows tr"),
                  what="two versions")
    old = rows[1]  # newest first
    old.find_element("xpath", ".//button[text()='Restore']").click()
    c.wait(lambda: len(c.css("#version-rows tr")) == 3, what="the restored version")
    assert s3.get_object(Bucket=bucket, Key="docs/meta.txt")["Body"].read() == b"meta"
    c.shot("07-versions")

    # delete one object from its page
    c.d.get(c.url("#/o/%s/%s" % (bucket, "docs%2Fbig.bin")))
    c.view("details")
    c.wait(lambda: c.text("detail-size"), what="the details")
    c.by_id("delete-btn").click()
    c.accept_confirm()
    c.view("objects")
    c.wait(lambda: not c.css('#object-rows a[data-key="docs/big.bin"]'), what="the row to go")
    with pytest.raises(s3.exceptions.ClientError):
        s3.head_object(Bucket=bucket, Key="docs/big.bin")

    # a key with a "." segment: a browser cannot send its path, and says so
    s3.put_object(Bucket=bucket, Key="docs/x/./dot", Body=b"dot")
    c.d.get(c.url("#/o/%s/%s" % (bucket, "docs%2Fx%2F.%2Fdot")))
    c.wait(lambda: c.visible("error"), what="the error banner")
    assert c.text("error-text").startswith("UnreachableKey: "), c.text("error-text")

    # delete many: everything on the page (DeleteObjects), the folder x/ with
    # what is under it (so the dotted key too: its name travels in the body)
    for i in range(3):
        s3.put_object(Bucket=bucket, Key="docs/many-%d" % i, Body=b"x")
    c.d.get(c.url("#/b/%s/docs%%2F" % bucket))
    c.view("objects")
    c.wait(lambda: len(c.css("#object-rows input.sel")) == 5, what="five rows")
    c.by_id("select-all").click()
    c.by_id("delete-selected").click()
    c.accept_confirm()
    c.wait(lambda: c.visible("objects-empty"), what="an empty folder")
    assert s3.list_objects_v2(Bucket=bucket, Prefix="docs/")["KeyCount"] == 0
    wait_log(srv, r"POST /%s\?delete.* 200 .*op=DeleteObjects " % bucket)

    # operations: the drive, background work, the chart from metric deltas
    c.by_id("nav-ops").click()
    c.view("ops")
    c.wait(lambda: c.css("#drive-rows tr"), what="the drive rows")
    assert "online" in c.by_id("drive-rows").text
    assert "1 of 1 online" in c.text("ops-set")
    assert "Scrub" in c.text("ops-bg")
    c.wait(lambda: "req/s" in c.text("chart-now"), timeout=10, what="a chart sample")
    assert c.by_id("ops-cluster-card").is_displayed() is False  # one node: no cluster
    assert "cairntestkey" not in c.text("user-rows")  # root is not a user
    c.shot("08-operations")
    c.d.execute_cdp_cmd("Emulation.setEmulatedMedia", {
        "features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    c.wait(lambda: len(c.css("#chart")) and c.d.execute_script(
        "return getComputedStyle(document.body).backgroundColor") == "rgb(21, 24, 28)",
        what="the dark theme")
    c.d.execute_script("dispatchEvent(new Event('resize'))")  # the chart redrawn dark
    c.shot("08-operations-dark")
    c.d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})

    # a phone-sized window: nothing wider than the screen
    s3.put_object(Bucket=bucket, Key="docs/a-rather-long-object-name-for-a-small-screen.txt",
                  Body=b"phone")
    c.d.set_window_size(390, 844)
    c.d.get(c.url("#/b/%s/" % bucket))
    c.view("objects")
    c.wait(lambda: c.css('a[data-folder="docs/"]'), what="the folder on a phone")
    over = c.d.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert over <= 1, over
    c.shot("09-phone")
    c.d.get(c.url("#/o/%s/%s" % (bucket, "docs%2Fa-rather-long-object-name-for-a-small-screen.txt")))
    c.view("details")
    c.wait(lambda: c.css("#version-rows tr"), what="the details on a phone")
    assert c.d.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 1
    c.shot("09-phone-details")
    c.by_id("nav-ops").click()
    c.view("ops")
    c.wait(lambda: c.css("#drive-rows tr") and c.css("#user-rows tr"), what="the operations on a phone")
    assert c.d.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 1
    c.shot("09-phone-operations")
    c.d.set_window_size(1280, 720)

    # log out: the secret is gone
    c.by_id("logout").click()
    c.view("login")
    assert c.d.execute_script("return sessionStorage.length") == 0
    assert c.csp_violations() == []


def test_console_readonly_user(console, browser_server, tmp_path):
    c, srv = console, browser_server
    s3 = make_client(srv)
    s3.create_bucket(Bucket="ro-bucket")
    s3.put_object(Bucket="ro-bucket", Key="seen.txt", Body=b"hello")
    out = admin(srv, "user", "add", "viewer")
    ak = re.search(r'"access_key":\s*"([^"]+)"', out).group(1)
    sk = re.search(r'"secret_key":\s*"([^"]+)"', out).group(1)
    admin(srv, "policy", "attach", "viewer", "readonly")

    c.login(ak, sk)
    c.view("buckets")
    c.wait(lambda: c.css('a[data-bucket="ro-bucket"]'), what="the bucket")
    # what the keys may not do is refused, and the banner says why
    c.css('button[data-delete-bucket="ro-bucket"]')[0].click()
    c.accept_confirm()
    c.wait(lambda: c.visible("error"), what="the error banner")
    assert c.text("error-text").startswith("AccessDenied: "), c.text("error-text")
    s3.head_bucket(Bucket="ro-bucket")
    c.css('a[data-bucket="ro-bucket"]')[0].click()
    c.view("objects")
    c.wait(lambda: c.css('#object-rows a[data-key="seen.txt"]'), what="the object")
    src = os.path.join(str(tmp_path), "refused.txt")
    with open(src, "wb") as f:
        f.write(b"not allowed")
    c.by_id("file-input").send_keys(src)
    row = c.wait(lambda: c.css('li.upload[data-key="refused.txt"]'), what="the upload row")[0]
    c.wait(lambda: row.get_attribute("data-state") in ("done", "failed"), what="the refusal")
    assert row.get_attribute("data-state") == "failed"
    assert "AccessDenied" in row.text, row.text
    assert "%" not in row.text and not row.find_element("css selector", "progress").is_displayed()
    with pytest.raises(s3.exceptions.ClientError):
        s3.head_object(Bucket="ro-bucket", Key="refused.txt")
    c.shot("10-readonly-refused")
    # the admin API is root's: the operations page says so, the chart still runs
    c.by_id("nav-ops").click()
    c.view("ops")
    c.wait(lambda: c.visible("ops-note"), what="the admin note")
    assert "AccessDenied" in c.text("ops-note")
    c.wait(lambda: "req/s" in c.text("chart-now"), timeout=10, what="a chart sample")
    c.shot("11-readonly-operations")
    assert c.csp_violations() == []


def test_console_region_and_clock(chrome, tmp_path):
    """The login finds the server's region by itself (S3 names it in
    AuthorizationHeaderMalformed), and a browser clock an hour off still
    signs (the page takes the server's Date after RequestTimeTooSkewed)."""
    srv = spawn(os.path.join(str(tmp_path), "data"), "--region", "eu-test-1", quiet=False)
    c = chrome
    c.srv = srv
    c.logs = []
    script = None
    try:
        script = c.d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": """
            const realNow = Date.now;
            Date.now = () => realNow() - 3600 * 1000;"""})
        # the clock first: the right region typed, the first request refused
        c.d.get(c.url())
        c.view("login")
        c.fill("login-region", "eu-test-1")
        c.fill("login-ak", srv.access_key)
        c.fill("login-sk", srv.secret_key)
        c.by_id("login-btn").click()
        c.view("buckets")
        assert c.d.execute_script("return Date.now() < new Date().getTime() - 3000000")
        wait_log(srv, r"GET / 403 .*op=ListBuckets")  # refused once, then signed right
        wait_log(srv, r"GET / 200 .*op=ListBuckets")
        c.fill("bucket-new", "clock-ok")
        c.by_id("bucket-create").click()
        c.wait(lambda: c.css('a[data-bucket="clock-ok"]'), what="the bucket")
        # then the region: left at the default, found from the refusal
        c.by_id("logout").click()
        c.view("login")
        c.fill("login-region", "us-east-1")
        c.fill("login-ak", srv.access_key)
        c.fill("login-sk", srv.secret_key + "\n")  # Enter submits: the keyboard is enough
        c.view("buckets")
        assert c.by_id("login-region").get_attribute("value") == "eu-test-1"
        assert "eu-test-1" in c.d.execute_script("return sessionStorage.getItem("
                                                 "'cairn.console.credentials')")
        wait_log(srv, r"GET / 400 .*op=ListBuckets")
        c.wait(lambda: c.css('a[data-bucket="clock-ok"]'), what="the bucket list")
        c.shot("12-region-and-clock")
        assert c.csp_violations() == []
    finally:
        if script:
            c.d.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument",
                                {"identifier": script["identifier"]})
        c.d.get("about:blank")
        assert srv.stop() == 0


def test_console_over_tls(chrome, tmp_path):
    """Over HTTPS (the way to reach it from another machine: WebCrypto needs
    a secure page) the same bytes and headers, and a login that works."""
    d = str(tmp_path)
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    srv = spawn(os.path.join(d, "data"), "--tls-cert", cert, "--tls-key", key, wait=False)
    try:
        port = None
        deadline = time.monotonic() + 20
        while port is None and time.monotonic() < deadline:
            assert srv.proc.poll() is None, srv.log()
            m = re.search(r"S3 endpoint https://127\.0\.0\.1:(\d+)", srv.log())
            port = int(m.group(1)) if m else None
            time.sleep(0.05)
        assert port, srv.log()
        ctx = ssl.create_default_context(cafile=cert)
        conn = None
        deadline = time.monotonic() + 20
        while True:
            try:
                conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=ctx)
                conn.request("GET", "/_cairn/console/app.js")
                r = conn.getresponse()
                body = r.read()
                break
            except OSError:
                conn.close()
                assert time.monotonic() < deadline, srv.log()
                time.sleep(0.1)
        conn.close()
        assert r.status == 200 and body == source("app.js")
        check_security_headers({k.lower(): v for k, v in r.getheaders()})

        c = chrome
        c.srv = types.SimpleNamespace(endpoint="https://127.0.0.1:%d" % port)
        c.logs = []
        c.login(srv.access_key, srv.secret_key)
        c.view("buckets")
        assert c.d.execute_script("return window.isSecureContext") is True
        assert c.csp_violations() == []
        c.d.get("about:blank")
    finally:
        assert srv.stop() == 0


def test_console_rebuild_progress(chrome, start_server, tmp_path):
    """A replaced drive being rebuilt: the operations page shows the drive
    as rebuilding and the rebuild's progress bar, rate and ETA."""
    dirs = [str(tmp_path / ("d%d" % i)) for i in range(4)]
    srv = start_server(tmp_path, *dirs[1:], data_dir=dirs[0])
    s3 = make_client(srv)
    s3.create_bucket(Bucket="rebuild")
    for i in range(12):
        s3.put_object(Bucket="rebuild", Key="o%d" % i, Body=os.urandom(2 * 1024 * 1024))
    assert srv.stop() == 0
    shutil.rmtree(dirs[2])
    os.mkdir(dirs[2])
    # 256 KiB/s of shard bytes: the rebuild lasts far longer than the test
    srv = start_server(tmp_path, "--rebuild-rate", str(256 * 1024), *dirs[1:], data_dir=dirs[0])
    c = chrome
    c.srv = srv
    c.logs = []
    c.login(srv.access_key, srv.secret_key)
    c.view("buckets")
    c.by_id("nav-ops").click()
    c.view("ops")
    bg = c.wait(lambda: "Rebuild of " + dirs[2] in c.text("ops-bg") and c.text("ops-bg"),
                what="the rebuild line")
    assert re.search(r"Rebuild of %s: .* of .*, .*/s, ETA (< 1 s|\d+ s|\d+ min)" % re.escape(dirs[2]),
                     bg), bg
    bar = c.css("#ops-bg progress")[0]
    assert 0 <= int(bar.get_attribute("value")) < 100
    row = [r for r in c.css("#drive-rows tr") if r.text.startswith(dirs[2])][0]
    assert "online, rebuilding" in row.text, row.text
    c.shot("14-rebuild")
    assert c.csp_violations() == []
    c.d.get("about:blank")
    t = time.monotonic()
    assert srv.stop() == 0  # a rebuild in progress does not hold up a stop
    assert time.monotonic() - t < 10
