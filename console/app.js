// cairn web console. Plain JavaScript, no framework, no third-party code.
//
// The browser signs every request itself (AWS Signature Version 4 with
// WebCrypto) and calls the ordinary S3 API and the admin API on this same
// origin, so the page can do exactly what the logged-in keys may do. The
// secret lives in sessionStorage (this tab only), never in a cookie or a URL;
// "Log out" forgets it. All text from the server goes into the page through
// textContent, never as HTML.
"use strict";

const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const UNSIGNED = "UNSIGNED-PAYLOAD";
const MP_THRESHOLD = 16 * 1024 * 1024; // bigger files go multipart
const PART_SIZE = 8 * 1024 * 1024;
const PART_PARALLEL = 3; // parts of one file in flight
const FILE_PARALLEL = 2; // files uploading at once
const PAGE_KEYS = 200;
const STORE = "cairn.console.credentials";

const te = new TextEncoder();
const $ = (id) => document.getElementById(id);

let cred = null; // {ak, sk, region}
let skewMs = 0; // server clock minus ours, when they differ by more than a minute
const keyCache = new Map();

// ---------------------------------------------------------------- helpers

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") e.textContent = v;
    else if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k in e && typeof v !== "string") e[k] = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of kids) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function fmtSize(n) {
  n = Number(n);
  if (!isFinite(n)) return "";
  const u = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return (i ? n.toFixed(n < 10 ? 2 : 1) : String(n)) + " " + u[i];
}

function fmtDate(s) {
  const d = new Date(s);
  return isNaN(d) ? String(s || "") : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

function fmtEta(s) {
  s = Number(s);
  if (!(s >= 0)) return "unknown";
  if (s < 1) return "< 1 s";
  if (s < 60) return s + " s";
  if (s < 3600) return Math.round(s / 60) + " min";
  return (s / 3600).toFixed(1) + " h";
}

function showError(e) {
  const msg = e && e.code ? e.code + ": " + e.s3message : String((e && e.message) || e);
  $("error-text").textContent = msg;
  $("error").hidden = false;
  console.warn(msg);
}

function clearError() {
  $("error").hidden = true;
  $("error-text").textContent = "";
}

// Runs an async UI action; any failure shows up in the error banner.
function guarded(fn) {
  return async (ev) => {
    if (ev && ev.preventDefault) ev.preventDefault();
    try {
      await fn(ev);
    } catch (e) {
      showError(e);
    }
  };
}

function s3Error(code, message, status, region) {
  const e = new Error(code + ": " + message);
  e.code = code;
  e.s3message = message;
  e.status = status;
  e.region = region || "";
  return e;
}

const STATUS_CODES = {
  400: "BadRequest",
  403: "AccessDenied",
  404: "NotFound",
  405: "MethodNotAllowed",
  409: "Conflict",
  412: "PreconditionFailed",
  416: "InvalidRange",
  500: "InternalError",
  501: "NotImplemented",
  503: "ServiceUnavailable",
};

// An error answer's code and message: S3's XML <Error>, the admin API's JSON,
// or (HEAD, no body) the status alone.
function errorFromText(status, statusText, text) {
  let code = "",
    msg = "",
    region = "";
  text = text || "";
  if (text.trim().startsWith("{")) {
    try {
      const j = JSON.parse(text);
      if (j.message) {
        code = j.error || j.Code || "";
        msg = j.message;
      } else msg = j.error || "";
    } catch (_) {
      /* not JSON after all */
    }
  } else if (text.includes("<Error")) {
    const d = parseXml(text);
    code = first(d, "Code");
    msg = first(d, "Message");
    region = first(d, "Region");
  }
  if (!code) code = STATUS_CODES[status] || "HTTP" + status;
  if (!msg) msg = statusText || "HTTP " + status;
  return s3Error(code, msg, status, region);
}

async function errorOf(resp) {
  let text = "";
  try {
    text = await resp.text();
  } catch (_) {
    /* no body */
  }
  return errorFromText(resp.status, resp.statusText, text);
}

function parseXml(text) {
  return new DOMParser().parseFromString(text, "application/xml");
}

// The text of the first element called tag under node (any depth).
function first(node, tag) {
  const e = node.getElementsByTagName(tag)[0];
  return e ? e.textContent : "";
}

// Direct children of node called tag.
function kids(node, tag) {
  return Array.from(node.children || []).filter((c) => c.localName === tag);
}

function child(node, tag) {
  const c = kids(node, tag)[0];
  return c ? c.textContent : "";
}

function xmlEsc(s) {
  return String(s).replace(/[<>&'"]/g, (c) => "&#" + c.charCodeAt(0) + ";");
}

// ---------------------------------------------------------------- SigV4

function hex(buf) {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
}

function b64(buf) {
  return btoa(String.fromCharCode(...new Uint8Array(buf)));
}

async function sha256(data) {
  return crypto.subtle.digest("SHA-256", typeof data === "string" ? te.encode(data) : data);
}

async function hmac(key, msg) {
  const k = await crypto.subtle.importKey(
    "raw",
    typeof key === "string" ? te.encode(key) : key,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return crypto.subtle.sign("HMAC", k, te.encode(msg));
}

async function signingKey(date) {
  const id = date + "/" + cred.region;
  if (keyCache.has(id)) return keyCache.get(id);
  let k = await hmac("AWS4" + cred.sk, date);
  k = await hmac(k, cred.region);
  k = await hmac(k, "s3");
  k = await hmac(k, "aws4_request");
  keyCache.clear();
  keyCache.set(id, k);
  return k;
}

// RFC 3986 percent-encoding as SigV4 wants it; "/" kept unless slash.
function uriEncode(s, slash) {
  let out = "";
  for (const b of te.encode(String(s))) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-._~]/.test(c) || (c === "/" && !slash)) out += c;
    else out += "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

function canonQuery(q) {
  return Object.entries(q || {})
    .map(([k, v]) => [uriEncode(k, true), uriEncode(v === undefined || v === null ? "" : v, true)])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => k + "=" + v)
    .join("&");
}

function amzDate() {
  return new Date(Date.now() + skewMs).toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
}

// The path of a bucket or an object, path-style and encoded once (the
// server checks the signature over exactly this).
function objPath(bucket, key) {
  // Browsers resolve "." and ".." segments in every URL they send (a "%"
  // of the key is encoded, so only literal dots): such a key cannot be
  // named in a path from here.
  if (key !== undefined && key.split("/").some((p) => p === "." || p === ".."))
    throw s3Error(
      "UnreachableKey",
      `a browser cannot send a path with a . or .. segment (${key}); select it and use Delete selected, ` +
        "or another client",
      0,
    );
  return "/" + uriEncode(bucket, true) + (key === undefined ? "" : "/" + uriEncode(key, false));
}

// Headers to send for one request, Authorization included. Every header
// given is signed; Host is signed but the browser sets it.
async function signHeaders(method, path, query, headers, payloadHash) {
  if (!window.crypto || !crypto.subtle)
    throw s3Error(
      "InsecureContext",
      "this browser gives WebCrypto only to secure pages: open the console over HTTPS or on localhost",
      0,
    );
  const t = amzDate();
  const date = t.slice(0, 8);
  const h = {};
  for (const [k, v] of Object.entries(headers || {})) h[k.toLowerCase()] = String(v).trim();
  h["x-amz-date"] = t;
  h["x-amz-content-sha256"] = payloadHash;
  h.host = location.host;
  const names = Object.keys(h).sort();
  const creq = [
    method,
    path,
    canonQuery(query),
    names.map((n) => n + ":" + h[n] + "\n").join(""),
    names.join(";"),
    payloadHash,
  ].join("\n");
  const scope = date + "/" + cred.region + "/s3/aws4_request";
  const sts = ["AWS4-HMAC-SHA256", t, scope, hex(await sha256(creq))].join("\n");
  const sig = hex(await hmac(await signingKey(date), sts));
  h.authorization =
    `AWS4-HMAC-SHA256 Credential=${cred.ak}/${scope}, SignedHeaders=${names.join(";")}, Signature=${sig}`;
  delete h.host;
  return h;
}

// A presigned URL (query-string SigV4): anyone holding it may do method on
// path until it expires (1 s .. 7 days).
async function presign(method, path, query, expires) {
  const t = amzDate();
  const scope = t.slice(0, 8) + "/" + cred.region + "/s3/aws4_request";
  const q = Object.assign({}, query, {
    "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
    "X-Amz-Credential": cred.ak + "/" + scope,
    "X-Amz-Date": t,
    "X-Amz-Expires": String(expires),
    "X-Amz-SignedHeaders": "host",
  });
  const creq = [method, path, canonQuery(q), "host:" + location.host + "\n", "host", UNSIGNED].join("\n");
  const sts = ["AWS4-HMAC-SHA256", t, scope, hex(await sha256(creq))].join("\n");
  q["X-Amz-Signature"] = hex(await hmac(await signingKey(t.slice(0, 8)), sts));
  return location.origin + path + "?" + canonQuery(q);
}

function noteSkew(resp) {
  const d = Date.parse(resp.headers.get("date") || "");
  if (!isNaN(d) && Math.abs(d - Date.now()) > 60000) skewMs = d - Date.now();
}

// One signed request with fetch; rejects with the S3 error of a non-2xx.
async function s3req(method, path, opts) {
  const o = opts || {};
  let hash = o.hash;
  if (!hash) hash = o.body === undefined || o.body === null ? EMPTY_SHA256 : hex(await sha256(o.body));
  const h = await signHeaders(method, path, o.query, o.headers, hash);
  const qs = canonQuery(o.query);
  let resp;
  try {
    resp = await fetch(path + (qs ? "?" + qs : ""), {
      method,
      headers: h,
      body: o.body,
      cache: "no-store",
      credentials: "omit",
    });
  } catch (e) {
    throw s3Error("NetworkError", "the server did not answer (" + e.message + ")", 0);
  }
  const skew = skewMs;
  noteSkew(resp);
  if (!resp.ok) {
    const e = await errorOf(resp);
    // a wrong clock here: sign again with the server's time, once
    if (e.code === "RequestTimeTooSkewed" && skewMs !== skew && !o.retried)
      return s3req(method, path, Object.assign({}, o, { retried: true }));
    throw e;
  }
  return resp;
}

async function s3xml(method, path, opts) {
  const r = await s3req(method, path, opts);
  const text = await r.text();
  // CompleteMultipartUpload and CopyObject may fail after a 200
  if (/^\s*(<\?xml[^>]*>\s*)?<Error[\s>]/.test(text)) throw errorFromText(500, "", text);
  return parseXml(text);
}

async function adminJson(what) {
  const r = await s3req("GET", "/_cairn/admin/" + what);
  // node ids are 64-bit: as JSON numbers they would lose digits, so they
  // are read as strings
  const text = (await r.text()).replace(/("(?:id|node|node_id|leader_id)"\s*:\s*)(\d{16,})/g, '$1"$2"');
  return JSON.parse(text);
}

// ---------------------------------------------------------------- session

function loadCred() {
  try {
    const c = JSON.parse(sessionStorage.getItem(STORE) || "null");
    if (c && c.ak && c.sk && c.region) return c;
  } catch (_) {
    /* a damaged entry: log in again */
  }
  return null;
}

async function login(ev) {
  ev.preventDefault();
  const err = $("login-error");
  err.hidden = true;
  $("login-btn").disabled = true;
  cred = { ak: $("login-ak").value.trim(), sk: $("login-sk").value, region: $("login-region").value.trim() };
  keyCache.clear();
  try {
    try {
      await s3req("GET", "/");
    } catch (e) {
      // the server names its region when the scope had another one
      if (e.code === "AuthorizationHeaderMalformed" && e.region && e.region !== cred.region) {
        cred.region = e.region;
        $("login-region").value = e.region;
        keyCache.clear();
        await s3req("GET", "/");
      } else if (e.code !== "AccessDenied") throw e; // valid keys without ListBuckets
    }
    sessionStorage.setItem(STORE, JSON.stringify(cred));
    $("login-sk").value = "";
    enterApp();
  } catch (e) {
    cred = null;
    keyCache.clear();
    err.textContent = e.code ? e.code + ": " + e.s3message : String(e.message || e);
    err.hidden = false;
  } finally {
    $("login-btn").disabled = false;
  }
}

function logout() {
  for (const u of uploads) u.cancel();
  sessionStorage.removeItem(STORE);
  cred = null;
  keyCache.clear();
  stopOps();
  ops.noCluster = false;
  $("nav").hidden = true;
  $("who").hidden = true;
  location.hash = "";
  showView("login");
}

function enterApp() {
  $("nav").hidden = false;
  $("who").hidden = false;
  $("who-key").textContent = cred.ak;
  if (!location.hash || location.hash === "#" || location.hash === "#/") location.hash = "#/buckets";
  else route();
}

// ---------------------------------------------------------------- views

function showView(name) {
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== "view-" + name;
  for (const a of document.querySelectorAll("#nav a")) {
    const cur = (name === "ops" && a.id === "nav-ops") || (name !== "ops" && a.id === "nav-buckets");
    if (cur) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.body.dataset.view = name;
  const titles = { login: "Log in", buckets: "Buckets", objects: view.bucket, details: details.key, ops: "Operations" };
  document.title = (titles[name] ? titles[name] + " — " : "") + "cairn console";
}

function hashFor(kind, bucket, rest) {
  return "#/" + kind + "/" + encodeURIComponent(bucket) + "/" + encodeURIComponent(rest || "");
}

async function route() {
  if (!cred) {
    showView("login");
    return;
  }
  clearError();
  const h = location.hash.replace(/^#\/?/, "");
  const parts = h.split("/");
  if (parts[0] !== "ops") stopOps();
  try {
    if (parts[0] === "b" && parts.length >= 2) {
      await openFolder(decodeURIComponent(parts[1]), decodeURIComponent(parts.slice(2).join("/")));
    } else if (parts[0] === "o" && parts.length >= 3) {
      await openDetails(decodeURIComponent(parts[1]), decodeURIComponent(parts.slice(2).join("/")));
    } else if (parts[0] === "ops") {
      startOps();
    } else {
      await showBuckets();
    }
  } catch (e) {
    showError(e);
  }
}

// ---------------------------------------------------------------- buckets

async function showBuckets() {
  showView("buckets");
  const rows = $("bucket-rows");
  let doc;
  try {
    doc = await s3xml("GET", "/");
  } catch (e) {
    rows.replaceChildren();
    $("bucket-empty").hidden = true;
    throw e;
  }
  // counts and sizes come from the admin API: root only, else left blank
  let stats = {};
  try {
    const st = await adminJson("status");
    for (const b of st.buckets || []) stats[b.name] = b;
  } catch (_) {
    stats = {};
  }
  const list = Array.from(doc.getElementsByTagName("Bucket"));
  rows.replaceChildren(
    ...list.map((b) => {
      const name = child(b, "Name");
      const s = stats[name];
      return el(
        "tr",
        {},
        el("td", {}, el("a", { href: hashFor("b", name, ""), "data-bucket": name, text: name })),
        el("td", { text: fmtDate(child(b, "CreationDate")) }),
        el("td", { class: "num", text: s ? String(s.objects) : "—" }),
        el("td", { class: "num", text: s ? fmtSize(s.bytes) : "—" }),
        el(
          "td",
          {},
          el("button", {
            type: "button",
            class: "danger",
            text: "Delete",
            "aria-label": "Delete bucket " + name,
            "data-delete-bucket": name,
            onclick: guarded(async () => {
              if (!confirm("Delete the bucket " + name + "? It must be empty.")) return;
              await s3req("DELETE", objPath(name));
              await showBuckets();
            }),
          }),
        ),
      );
    }),
  );
  $("bucket-empty").hidden = list.length > 0;
}

async function createBucket() {
  const name = $("bucket-new").value.trim();
  if (!name) return;
  await s3req("PUT", objPath(name));
  $("bucket-new").value = "";
  await showBuckets();
}

// ---------------------------------------------------------------- objects

const view = { bucket: "", prefix: "", token: "", prev: [], next: "" };

async function openFolder(bucket, prefix) {
  if (bucket !== view.bucket || prefix !== view.prefix) {
    view.bucket = bucket;
    view.prefix = prefix;
    view.token = "";
    view.prev = [];
  }
  showView("objects");
  crumbs($("crumbs"), bucket, prefix);
  await listPage();
}

function crumbs(nav, bucket, prefix, key) {
  const items = [el("a", { href: "#/buckets", text: "Buckets" }), " / "];
  items.push(el("a", { href: hashFor("b", bucket, ""), text: bucket }));
  let acc = "";
  for (const part of prefix.split("/").filter((p, i, a) => i < a.length - 1 || p)) {
    acc += part + "/";
    items.push(" / ", el("a", { href: hashFor("b", bucket, acc), text: part }));
  }
  if (key !== undefined) items.push(" / ", el("span", { text: key.slice(prefix.length) }));
  nav.replaceChildren(...items);
}

async function listPage() {
  const q = { "list-type": "2", delimiter: "/", "max-keys": String(PAGE_KEYS) };
  if (view.prefix) q.prefix = view.prefix;
  if (view.token) q["continuation-token"] = view.token;
  const { bucket, prefix } = view;
  const doc = await s3xml("GET", objPath(bucket), { query: q });
  if (bucket !== view.bucket || prefix !== view.prefix) return; // navigated away
  const root = doc.documentElement;
  const rows = [];
  for (const cp of kids(root, "CommonPrefixes")) {
    const p = child(cp, "Prefix");
    rows.push(
      el(
        "tr",
        { class: "folder" },
        el("td", {}, el("input", { type: "checkbox", class: "sel", "data-prefix": p, "aria-label": "Select " + p })),
        el(
          "td",
          {},
          el("a", { href: hashFor("b", bucket, p), "data-folder": p, text: p.slice(prefix.length) }),
        ),
        el("td", { class: "num", text: "" }),
        el("td", { text: "folder" }),
        el("td", {}),
      ),
    );
  }
  for (const c of kids(root, "Contents")) {
    const key = child(c, "Key");
    if (key === prefix && key.endsWith("/")) continue; // the folder's own marker
    rows.push(
      el(
        "tr",
        {},
        el("td", {}, el("input", { type: "checkbox", class: "sel", "data-key": key, "aria-label": "Select " + key })),
        el("td", {}, el("a", { href: hashFor("o", bucket, key), "data-key": key, text: key.slice(prefix.length) })),
        el("td", { class: "num", text: fmtSize(child(c, "Size")) }),
        el("td", { text: fmtDate(child(c, "LastModified")) }),
        el(
          "td",
          { class: "actions" },
          el("button", {
            type: "button",
            text: "Download",
            "aria-label": "Download " + key,
            onclick: guarded(() => download(bucket, key)),
          }),
          el("button", {
            type: "button",
            class: "danger",
            text: "Delete",
            "aria-label": "Delete " + key,
            onclick: guarded(async () => {
              if (!confirm("Delete " + key + "?")) return;
              await s3req("DELETE", objPath(bucket, key));
              await listPage();
            }),
          }),
        ),
      ),
    );
  }
  $("object-rows").replaceChildren(...rows);
  $("objects-empty").hidden = rows.length > 0;
  $("select-all").checked = false;
  updateSelection();
  view.next = child(root, "IsTruncated") === "true" ? child(root, "NextContinuationToken") : "";
  $("page-next").disabled = !view.next;
  $("page-first").disabled = !view.token;
  $("page-info").textContent = "Page " + (view.prev.length + 1);
}

function selected() {
  return Array.from(document.querySelectorAll("#object-rows input.sel:checked"));
}

function updateSelection() {
  const n = selected().length;
  $("delete-selected").disabled = n === 0;
  $("delete-selected").textContent = n ? "Delete selected (" + n + ")" : "Delete selected";
}

// Every key under prefix (no delimiter), for deleting a folder.
async function allKeys(bucket, prefix) {
  const keys = [];
  let token = "";
  do {
    const q = { "list-type": "2", prefix, "max-keys": "1000" };
    if (token) q["continuation-token"] = token;
    const root = (await s3xml("GET", objPath(bucket), { query: q })).documentElement;
    for (const c of kids(root, "Contents")) keys.push(child(c, "Key"));
    token = child(root, "IsTruncated") === "true" ? child(root, "NextContinuationToken") : "";
  } while (token);
  return keys;
}

// DeleteObjects, 1000 keys a request. S3 wants the key list's integrity
// proven: WebCrypto has no MD5, so the body carries x-amz-checksum-sha256.
async function deleteKeys(bucket, keys) {
  const failed = [];
  for (let i = 0; i < keys.length; i += 1000) {
    const part = keys.slice(i, i + 1000);
    const body =
      '<?xml version="1.0" encoding="UTF-8"?><Delete><Quiet>true</Quiet>' +
      part.map((k) => "<Object><Key>" + xmlEsc(k) + "</Key></Object>").join("") +
      "</Delete>";
    const sum = await sha256(body);
    const doc = await s3xml("POST", objPath(bucket), {
      query: { delete: "" },
      body,
      hash: hex(sum),
      headers: { "x-amz-checksum-sha256": b64(sum), "content-type": "application/xml" },
    });
    for (const e of doc.getElementsByTagName("Error"))
      failed.push(child(e, "Key") + ": " + child(e, "Code") + " " + child(e, "Message"));
  }
  if (failed.length) throw s3Error("DeleteFailed", failed.length + " not deleted; " + failed.slice(0, 5).join("; "), 0);
}

async function deleteSelected() {
  const sel = selected();
  if (!sel.length) return;
  const bucket = view.bucket;
  const keys = [];
  const folders = [];
  for (const s of sel) {
    if (s.dataset.prefix) folders.push(s.dataset.prefix);
    else keys.push(s.dataset.key);
  }
  const what =
    keys.length + " object(s)" + (folders.length ? ` and ${folders.length} folder(s) with everything in them` : "");
  if (!confirm("Delete " + what + "?")) return;
  for (const f of folders) keys.push(...(await allKeys(bucket, f)));
  await deleteKeys(bucket, keys);
  await listPage();
}

async function download(bucket, key, versionId) {
  // A short-lived presigned link: the browser streams it to disk (no copy
  // of the object in memory), and the secret never leaves this page.
  const q = versionId ? { versionId } : {};
  const url = await presign("GET", objPath(bucket, key), q, 300);
  const a = el("a", { href: url, download: key.split("/").pop() || "download", hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
}

// ---------------------------------------------------------------- uploads

const uploads = new Set();
const queue = [];
let running = 0;

function enqueue(file, bucket, key) {
  const ctrl = {
    xhrs: new Set(),
    cancelled: false,
    cancel() {
      this.cancelled = true;
      for (const x of this.xhrs) x.abort();
    },
  };
  const bar = el("progress", { max: 100, value: 0, "aria-label": "Upload of " + key });
  const state = el("span", { class: "state", text: "waiting" });
  const cancel = el("button", {
    type: "button",
    text: "Cancel",
    "aria-label": "Cancel upload of " + key,
    onclick: () => ctrl.cancel(),
  });
  const li = el(
    "li",
    { class: "upload", "data-key": key, "data-state": "waiting" },
    el("span", { class: "name", text: key }),
    bar,
    el("span", { class: "pct", text: "0%" }),
    state,
    cancel,
  );
  $("uploads").prepend(li);
  const job = {
    file,
    bucket,
    key,
    ctrl,
    cancel: () => ctrl.cancel(),
    progress(frac) {
      const pct = Math.min(100, Math.floor(frac * 100));
      bar.value = pct;
      li.querySelector(".pct").textContent = pct + "%";
    },
    state(s, text) {
      li.dataset.state = s;
      state.textContent = text || s;
      if (s === "done" || s === "failed" || s === "cancelled") cancel.remove();
      if (s === "failed" || s === "cancelled") {
        // bytes sent are not bytes stored: no bar that reads as success
        bar.hidden = true;
        li.querySelector(".pct").textContent = "";
      }
    },
  };
  uploads.add(job);
  queue.push(job);
  pump();
}

function pump() {
  while (running < FILE_PARALLEL && queue.length) {
    const job = queue.shift();
    running++;
    runUpload(job).finally(() => {
      running--;
      uploads.delete(job);
      pump();
    });
  }
}

async function runUpload(job) {
  if (job.ctrl.cancelled) {
    job.state("cancelled");
    return;
  }
  job.state("uploading");
  try {
    if (job.file.size > MP_THRESHOLD) await multipart(job);
    else
      await xhrSend("PUT", objPath(job.bucket, job.key), {}, contentType(job.file), job.file, job.ctrl, (n) =>
        job.progress(job.file.size ? n / job.file.size : 1),
      );
    job.progress(1);
    job.state("done");
    if (view.bucket === job.bucket) refreshSoon();
  } catch (e) {
    if (job.ctrl.cancelled) job.state("cancelled");
    else job.state("failed", e.code ? e.code + ": " + e.s3message : String(e.message || e));
  }
}

// One listing refresh for a burst of finished uploads, not one per file.
let refreshTimer = 0;
function refreshSoon() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = 0;
    if (document.body.dataset.view === "objects") listPage().catch(showError);
  }, 300);
}

function contentType(file) {
  return { "content-type": file.type || "application/octet-stream" };
}

// One signed XMLHttpRequest (fetch reports no upload progress). The body
// is not hashed: x-amz-content-sha256 is UNSIGNED-PAYLOAD, so a big file
// need not be read twice.
async function xhrSend(method, path, query, headers, body, ctrl, onProgress) {
  const h = await signHeaders(method, path, query, headers, UNSIGNED);
  const qs = canonQuery(query);
  return new Promise((resolve, reject) => {
    if (ctrl.cancelled) {
      reject(s3Error("Cancelled", "cancelled", 0));
      return;
    }
    const x = new XMLHttpRequest();
    ctrl.xhrs.add(x);
    x.open(method, path + (qs ? "?" + qs : ""));
    for (const [k, v] of Object.entries(h)) x.setRequestHeader(k, v);
    x.upload.onprogress = (e) => onProgress(e.loaded);
    x.onload = () => {
      ctrl.xhrs.delete(x);
      if (x.status >= 200 && x.status < 300) resolve(x);
      else reject(errorFromText(x.status, x.statusText, x.responseText));
    };
    x.onerror = () => {
      ctrl.xhrs.delete(x);
      reject(s3Error("NetworkError", "the upload connection failed", 0));
    };
    x.onabort = () => {
      ctrl.xhrs.delete(x);
      reject(s3Error("Cancelled", "cancelled", 0));
    };
    x.send(body);
  });
}

async function multipart(job) {
  const { file, bucket, key, ctrl } = job;
  const path = objPath(bucket, key);
  const doc = await s3xml("POST", path, { query: { uploads: "" }, headers: contentType(file) });
  const uploadId = first(doc, "UploadId");
  const n = Math.ceil(file.size / PART_SIZE);
  const loaded = new Array(n).fill(0);
  const etags = new Array(n);
  let next = 0;
  const update = () => job.progress(loaded.reduce((a, b) => a + b, 0) / file.size);
  async function worker() {
    while (next < n && !ctrl.cancelled) {
      const i = next++;
      const blob = file.slice(i * PART_SIZE, Math.min(file.size, (i + 1) * PART_SIZE));
      const x = await xhrSend("PUT", path, { partNumber: String(i + 1), uploadId }, {}, blob, ctrl, (b) => {
        loaded[i] = b;
        update();
      });
      loaded[i] = blob.size;
      etags[i] = x.getResponseHeader("ETag");
      update();
    }
  }
  try {
    await Promise.all(Array.from({ length: Math.min(PART_PARALLEL, n) }, worker));
    if (ctrl.cancelled) throw s3Error("Cancelled", "cancelled", 0);
    const body =
      "<CompleteMultipartUpload>" +
      etags.map((e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${xmlEsc(e)}</ETag></Part>`).join("") +
      "</CompleteMultipartUpload>";
    job.state("uploading", "completing");
    await s3xml("POST", path, { query: { uploadId }, body, headers: { "content-type": "application/xml" } });
  } catch (e) {
    ctrl.cancel(); // the other parts in flight
    try {
      await s3req("DELETE", path, { query: { uploadId } });
    } catch (_) {
      /* the upload may be gone already; the first error is what matters */
    }
    throw e;
  }
}

function uploadFiles(files) {
  for (const f of files) {
    const rel = f.webkitRelativePath || f.relPath || f.name;
    enqueue(f, view.bucket, view.prefix + rel);
  }
}

// Dropped folders: walk them (FileSystemEntry API) and keep relative paths.
async function walkEntry(entry, out) {
  if (entry.isFile) {
    const f = await new Promise((res, rej) => entry.file(res, rej));
    f.relPath = entry.fullPath.replace(/^\//, "");
    out.push(f);
  } else if (entry.isDirectory) {
    const r = entry.createReader();
    for (;;) {
      const batch = await new Promise((res, rej) => r.readEntries(res, rej));
      if (!batch.length) break;
      for (const e of batch) await walkEntry(e, out);
    }
  }
}

async function onDrop(ev) {
  ev.preventDefault();
  $("drop").classList.remove("over");
  const dt = ev.dataTransfer;
  const entries = Array.from(dt.items || [])
    .map((i) => (i.webkitGetAsEntry ? i.webkitGetAsEntry() : null))
    .filter(Boolean);
  if (entries.length) {
    const files = [];
    for (const e of entries) await walkEntry(e, files);
    uploadFiles(files);
  } else uploadFiles(Array.from(dt.files || []));
}

// ---------------------------------------------------------------- details

const details = { bucket: "", key: "" };

function props(dl, pairs) {
  dl.replaceChildren(
    ...pairs.flatMap(([k, v, id]) => [el("dt", { text: k }), el("dd", { text: v, id: id || null })]),
  );
}

async function openDetails(bucket, key) {
  details.bucket = bucket;
  details.key = key;
  showView("details");
  const prefix = key.includes("/") ? key.slice(0, key.lastIndexOf("/") + 1) : "";
  crumbs($("details-crumbs"), bucket, prefix, key);
  $("details-title").textContent = key.slice(prefix.length);
  $("share-url").hidden = true;
  $("share-copy").hidden = true;
  $("share-note").hidden = true;
  for (const id of ["details-props", "details-meta", "details-tags", "version-rows"]) $(id).replaceChildren();
  const r = await s3req("HEAD", objPath(bucket, key), { headers: { "x-amz-checksum-mode": "ENABLED" } });
  const h = r.headers;
  props($("details-props"), [
    ["Size", fmtSize(h.get("content-length")) + " (" + h.get("content-length") + " bytes)", "detail-size"],
    ["Last modified", fmtDate(h.get("last-modified"))],
    ["ETag", h.get("etag") || "", "detail-etag"],
    ["Content-Type", h.get("content-type") || "", "detail-ctype"],
    ["Version", h.get("x-amz-version-id") || "null"],
    ["Storage class", h.get("x-amz-storage-class") || "STANDARD"],
    ["Encryption", h.get("x-amz-server-side-encryption") || "none"],
  ]);
  const meta = [];
  for (const [k, v] of h) {
    if (k.startsWith("x-amz-meta-")) meta.push([k.slice(11), v]);
    else if (k.startsWith("x-amz-checksum-") && k !== "x-amz-checksum-type")
      meta.push([k.slice(15).toUpperCase() + " checksum", v]);
    else if (k === "x-amz-checksum-type") meta.push(["Checksum type", v]);
  }
  props($("details-meta"), meta.length ? meta : [["—", "no user metadata or checksums"]]);
  // Tags and versions need their own permissions: show what is refused.
  try {
    const t = await s3xml("GET", objPath(bucket, key), { query: { tagging: "" } });
    const tags = Array.from(t.getElementsByTagName("Tag")).map((x) => [child(x, "Key"), child(x, "Value")]);
    props($("details-tags"), tags.length ? tags : [["—", "no tags"]]);
  } catch (e) {
    props($("details-tags"), [["error", e.code + ": " + e.s3message]]);
  }
  await showVersions();
}

async function showVersions() {
  const { bucket, key } = details;
  const rows = $("version-rows");
  let doc;
  try {
    doc = await s3xml("GET", objPath(bucket), { query: { versions: "", prefix: key, "max-keys": "100" } });
  } catch (e) {
    rows.replaceChildren(el("tr", {}, el("td", { colspan: "4", text: e.code + ": " + e.s3message })));
    return;
  }
  const list = Array.from(doc.documentElement.children).filter(
    (v) => (v.localName === "Version" || v.localName === "DeleteMarker") && child(v, "Key") === key,
  );
  rows.replaceChildren(
    ...list.map((v) => {
      const vid = child(v, "VersionId");
      const latest = child(v, "IsLatest") === "true";
      const marker = v.localName === "DeleteMarker";
      const label = vid + (latest ? " (latest)" : "") + (marker ? " (delete marker)" : "");
      const acts = [];
      if (!marker)
        acts.push(
          el("button", { type: "button", text: "Download", onclick: guarded(() => download(bucket, key, vid)) }),
        );
      if (!marker && !latest)
        acts.push(
          el("button", {
            type: "button",
            text: "Restore",
            "aria-label": "Restore version " + vid,
            onclick: guarded(async () => {
              // a copy of that version becomes the latest
              const src = objPath(bucket, key) + "?versionId=" + uriEncode(vid, true);
              await s3xml("PUT", objPath(bucket, key), { headers: { "x-amz-copy-source": src } });
              await openDetails(bucket, key);
            }),
          }),
        );
      acts.push(
        el("button", {
          type: "button",
          class: "danger",
          text: "Delete version",
          "aria-label": "Delete version " + vid,
          onclick: guarded(async () => {
            if (!confirm("Delete version " + vid + " for good?")) return;
            await s3req("DELETE", objPath(bucket, key), { query: { versionId: vid } });
            try {
              await openDetails(bucket, key);
            } catch (e) {
              if (e.status === 404) location.hash = hashFor("b", bucket, key.slice(0, key.lastIndexOf("/") + 1));
              else throw e;
            }
          }),
        }),
      );
      return el(
        "tr",
        { "data-version": vid },
        el("td", { text: label }),
        el("td", { text: fmtDate(child(v, "LastModified")) }),
        el("td", { class: "num", text: marker ? "" : fmtSize(child(v, "Size")) }),
        el("td", { class: "actions" }, ...acts),
      );
    }),
  );
}

async function share() {
  const secs = Number($("share-expiry").value);
  const url = await presign("GET", objPath(details.bucket, details.key), {}, secs);
  const out = $("share-url");
  out.value = url;
  out.hidden = false;
  $("share-copy").hidden = false;
  const note = $("share-note");
  note.textContent =
    "Anyone with this link can download the object until " +
    fmtDate(new Date(Date.now() + secs * 1000)) +
    " (or until these keys are removed).";
  note.hidden = false;
  out.focus();
  out.select();
}

// ---------------------------------------------------------------- operations

// noCluster: a single node said so once; not asked again (each refusal
// would show up as an error in the chart).
const ops = { timer: 0, kick: 0, statusTimer: 0, samples: [], last: null, noCluster: false };

function startOps() {
  showView("ops");
  if (ops.timer) return;
  ops.samples = [];
  ops.last = null;
  pollMetrics();
  pollStatus();
  ops.kick = setTimeout(pollMetrics, 1000); // a first rate sooner
  ops.timer = setInterval(pollMetrics, 2000);
  ops.statusTimer = setInterval(pollStatus, 5000);
}

function stopOps() {
  clearTimeout(ops.kick);
  clearInterval(ops.timer);
  clearInterval(ops.statusTimer);
  ops.timer = ops.statusTimer = 0;
}

// Prometheus text: totals of the request counters and latency sums (the
// console's own metric polls left out).
function parseMetrics(text) {
  const m = { req: 0, err: 0, sum: 0, count: 0 };
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#" || line.includes('op="Metrics"')) continue;
    const v = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (!isFinite(v)) continue;
    if (line.startsWith("cairn_requests_total{")) {
      m.req += v;
      const s = /status="(\d+)"/.exec(line);
      if (s && Number(s[1]) >= 400) m.err += v;
    } else if (line.startsWith("cairn_request_duration_seconds_sum")) m.sum += v;
    else if (line.startsWith("cairn_request_duration_seconds_count")) m.count += v;
  }
  return m;
}

async function pollMetrics() {
  try {
    const r = await fetch("/_cairn/metrics", { cache: "no-store", credentials: "omit" });
    if (!r.ok) throw await errorOf(r);
    const m = parseMetrics(await r.text());
    const t = performance.now();
    if (ops.last) {
      const dt = (t - ops.last.t) / 1000;
      const dc = m.count - ops.last.m.count;
      ops.samples.push({
        req: Math.max(0, (m.req - ops.last.m.req) / dt),
        err: Math.max(0, (m.err - ops.last.m.err) / dt),
        lat: dc > 0 ? ((m.sum - ops.last.m.sum) / dc) * 1000 : 0,
      });
      if (ops.samples.length > 90) ops.samples.shift();
    }
    ops.last = { t, m };
    drawChart();
  } catch (e) {
    $("chart-now").textContent = "metrics: " + (e.code ? e.code + ": " + e.s3message : e.message);
  }
}

function drawChart() {
  const c = $("chart");
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(200, Math.floor(c.clientWidth * dpr));
  const h = Math.max(100, Math.floor(c.clientHeight * dpr));
  if (c.width !== w) c.width = w;
  if (c.height !== h) c.height = h;
  const g = c.getContext("2d");
  const cs = getComputedStyle(document.body);
  const color = (name, dflt) => cs.getPropertyValue(name).trim() || dflt; // the theme's
  g.clearRect(0, 0, w, h);
  const s = ops.samples;
  const max = Math.max(1, ...s.map((x) => Math.max(x.req, x.err)));
  const maxLat = Math.max(1, ...s.map((x) => x.lat));
  const pad = 4;
  g.strokeStyle = color("--grid", "#ccc");
  g.lineWidth = 1;
  g.strokeRect(0.5, 0.5, w - 1, h - 1);
  g.fillStyle = color("--fg", "#000");
  g.font = Math.round(12 * dpr) + "px sans-serif";
  g.fillText(max.toFixed(1) + "/s", pad * 2, 14 * dpr);
  const line = (field, scale, color) => {
    if (!s.length) return;
    g.strokeStyle = color;
    g.fillStyle = color;
    if (s.length === 1) {
      // one sample so far: a dot where the line will grow from
      const py = h - pad - (s[0][field] / scale) * (h - 2 * pad);
      g.fillRect(w - pad - 4 * dpr, py - 2 * dpr, 4 * dpr, 4 * dpr);
      return;
    }
    g.lineWidth = Math.max(1.5, w / 500);
    g.beginPath();
    s.forEach((x, i) => {
      const px = w - pad - ((s.length - 1 - i) / 89) * (w - 2 * pad); // newest at the right
      const py = h - pad - (x[field] / scale) * (h - 2 * pad);
      if (i) g.lineTo(px, py);
      else g.moveTo(px, py);
    });
    g.stroke();
  };
  line("lat", maxLat, color("--lat", "gray"));
  line("req", max, color("--req", "blue"));
  line("err", max, color("--err", "red"));
  const cur = s[s.length - 1];
  $("chart-now").textContent = cur
    ? "— now " + cur.req.toFixed(1) + " req/s, " + cur.err.toFixed(1) + " err/s, " + cur.lat.toFixed(1) + " ms"
    : "— collecting…";
}

// One line of the background-work card: a bold label, then text, with a
// progress bar when done/total are given.
function workLine(label, text, done, total) {
  const kids = [el("strong", { text: label + ": " })];
  if (total !== undefined)
    kids.push(el("progress", { max: 100, value: total > 0 ? Math.floor((done / total) * 100) : 0 }), " ");
  kids.push(text);
  return el("p", {}, ...kids);
}

function driveRow(d) {
  const state =
    (d.online ? "online" : "offline") + (d.rebuilding ? ", rebuilding" : "") + (d.problem ? " — " + d.problem : "");
  const used = el("meter", { min: 0, max: 100, value: d.total ? Math.round((d.used / d.total) * 100) : 0 });
  return el(
    "tr",
    { class: d.online ? "" : "bad" },
    el("td", { text: d.path }),
    el("td", { text: state }),
    el("td", {}, used, " " + fmtSize(d.used)),
    el("td", { class: "num", text: fmtSize(d.free) }),
    el("td", { class: "num", text: fmtSize(d.total) }),
  );
}

function backgroundWork(st) {
  const out = [workLine("Heal queue", (st.heal_queue ?? 0) + " blob(s)")];
  const s = st.scrub;
  if (s) {
    const next = s.next_pass_s ? ", next pass " + fmtDate(s.next_pass_s * 1000) : "";
    out.push(
      workLine(
        "Scrub",
        `${s.running ? "running" : "idle"}, ${s.passes} pass(es), ${fmtSize(s.bytes_checked)} checked, ` +
          `${s.blobs_bad} bad blob(s), ${s.shards_rebuilt} shard(s) repaired${next}`,
      ),
    );
  }
  const r = st.rebuild;
  if (r && r.running)
    out.push(
      workLine(
        "Rebuild of " + r.drive,
        `${fmtSize(r.bytes_done)} of ${fmtSize(r.bytes_total)}, ${fmtSize(r.bytes_per_sec)}/s, ETA ${fmtEta(r.eta_s)}`,
        r.bytes_done,
        r.bytes_total,
      ),
    );
  else if (r) out.push(workLine("Rebuild", "none running" + (r.completed ? " (" + r.completed + " completed)" : "")));
  const gc = st.gc;
  if (gc) out.push(workLine("Garbage collection", `${gc.deleted} deleted, ${gc.failed} failed, ${gc.deferred} deferred`));
  const l = st.lifecycle;
  if (l)
    out.push(
      workLine("Lifecycle", `${l.running ? "running" : "idle"}, ${l.passes} pass(es), ${l.objects_expired} object(s) expired`),
    );
  return out;
}

// The cluster card (nodes) and the cluster's lines of background work.
async function clusterWork() {
  const out = [];
  try {
    if (ops.noCluster) throw s3Error("NoCluster", "single node", 400);
    const c = await adminJson("cluster");
    const states = {};
    for (const n of (c.map && c.map.nodes) || []) states[n.id] = n.state + (n.zone ? " (" + n.zone + ")" : "");
    $("node-rows").replaceChildren(
      ...(c.nodes || []).map((n) =>
        el(
          "tr",
          { class: n.reachable ? "" : "bad" },
          el("td", { text: String(n.id) + (n.id === c.leader_id ? " (leader)" : "") }),
          el("td", { text: n.address }),
          el("td", { text: n.role || n.membership || "" }),
          el("td", { text: n.reachable ? "yes" : "no" + (n.error ? " — " + n.error : "") }),
          el("td", { text: states[n.id] || "" }),
        ),
      ),
    );
    $("ops-cluster-card").hidden = false;
    const rb = c.rebalance;
    if (rb && (rb.state === "running" || rb.state === "paused"))
      out.push(
        workLine(
          "Rebalance (" + rb.state + ")",
          `${rb.versions_done} of ${rb.versions_total} versions, ${fmtSize(rb.bytes_moved)} moved, ` +
            `${fmtSize(rb.bytes_per_sec)}/s, ETA ${fmtEta(rb.eta_s)}`,
          rb.versions_done,
          rb.versions_total,
        ),
      );
    else if (rb)
      out.push(workLine("Rebalance", `${rb.state}, ${rb.passes} pass(es), ${fmtSize(rb.bytes_moved)} moved`));
    if (c.heal_entries !== undefined) out.push(workLine("Heal after node outage", c.heal_entries + " blob(s)"));
  } catch (e) {
    if (e.status === 400) ops.noCluster = true; // a single node has no cluster
    $("ops-cluster-card").hidden = true;
  }
  return out;
}

async function pollStatus() {
  let st;
  try {
    st = await adminJson("status");
  } catch (e) {
    const n = $("ops-note");
    n.textContent =
      "Drives, background work, nodes and users come from the admin API, which takes the root " +
      `credentials (${e.code}: ${e.s3message}). The request chart needs none.`;
    n.hidden = false;
    $("ops-iam-card").hidden = true;
    return;
  }
  $("ops-note").hidden = true;
  const set = st.drive_set || {};
  const problems = set.problems || [];
  $("ops-set").textContent =
    `Drive set: ${set.online} of ${set.size} online` +
    (set.degraded ? " — DEGRADED" : "") +
    (problems.length ? " — " + problems.join("; ") : "");
  $("ops-set").className = set.degraded ? "bad" : "";
  $("drive-rows").replaceChildren(...(st.drives || []).map(driveRow));
  const bg = backgroundWork(st).concat(await clusterWork());
  $("ops-bg").replaceChildren(...bg);
  await showIam();
}

async function showIam() {
  $("ops-iam-card").hidden = false;
  const rows = $("user-rows");
  try {
    const [u, g, p] = await Promise.all([adminJson("user"), adminJson("group"), adminJson("policy")]);
    const keys = (x) =>
      (x.keys || []).map((k) => k.access_key + (k.status !== "enabled" ? " (" + k.status + ")" : "")).join(", ");
    rows.replaceChildren(
      ...(u.users || []).map((x) =>
        el(
          "tr",
          {},
          el("td", { text: x.name }),
          el("td", { text: x.status }),
          el("td", { text: keys(x) }),
          el("td", { text: (x.groups || []).join(", ") }),
          el("td", { text: (x.policies || []).join(", ") }),
        ),
      ),
    );
    if (!(u.users || []).length)
      rows.replaceChildren(el("tr", {}, el("td", { colspan: "5", text: "No users besides root." })));
    $("iam-groups").textContent = "Groups: " + ((g.groups || []).map((x) => x.name).join(", ") || "none");
    $("iam-policies").textContent =
      "Policies: " + (p.policies || []).map((x) => x.name + (x.builtin ? " (built-in)" : "")).join(", ");
  } catch (e) {
    rows.replaceChildren(el("tr", {}, el("td", { colspan: "5", text: e.code + ": " + e.s3message })));
  }
}

// ---------------------------------------------------------------- wiring

function init() {
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", logout);
  $("error-close").addEventListener("click", clearError);
  $("bucket-create-form").addEventListener("submit", guarded(createBucket));
  $("bucket-open-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const b = $("bucket-open").value.trim();
    if (b) location.hash = hashFor("b", b, "");
  });
  $("folder-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = $("folder-new").value.trim().replace(/^\/+|\/+$/g, "");
    if (f) location.hash = hashFor("b", view.bucket, view.prefix + f + "/");
    $("folder-new").value = "";
  });
  $("upload-btn").addEventListener("click", () => $("file-input").click());
  $("upload-dir-btn").addEventListener("click", () => $("dir-input").click());
  for (const id of ["file-input", "dir-input"])
    $(id).addEventListener("change", (ev) => {
      uploadFiles(Array.from(ev.target.files));
      ev.target.value = "";
    });
  const drop = $("drop");
  for (const t of ["dragenter", "dragover"])
    drop.addEventListener(t, (ev) => {
      ev.preventDefault();
      drop.classList.add("over");
    });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", guarded(onDrop));
  $("object-rows").addEventListener("change", updateSelection);
  $("select-all").addEventListener("change", (ev) => {
    for (const c of document.querySelectorAll("#object-rows input.sel")) c.checked = ev.target.checked;
    updateSelection();
  });
  $("delete-selected").addEventListener("click", guarded(deleteSelected));
  $("refresh").addEventListener("click", guarded(listPage));
  $("page-next").addEventListener(
    "click",
    guarded(async () => {
      view.prev.push(view.token);
      view.token = view.next;
      await listPage();
    }),
  );
  $("page-first").addEventListener(
    "click",
    guarded(async () => {
      view.token = "";
      view.prev = [];
      await listPage();
    }),
  );
  $("download-btn").addEventListener("click", guarded(() => download(details.bucket, details.key)));
  $("delete-btn").addEventListener(
    "click",
    guarded(async () => {
      if (!confirm("Delete " + details.key + "?")) return;
      await s3req("DELETE", objPath(details.bucket, details.key));
      location.hash = hashFor("b", details.bucket, details.key.slice(0, details.key.lastIndexOf("/") + 1));
    }),
  );
  $("share-form").addEventListener("submit", guarded(share));
  $("share-copy").addEventListener(
    "click",
    guarded(async () => {
      await navigator.clipboard.writeText($("share-url").value);
      $("share-copy").textContent = "Copied";
    }),
  );
  window.addEventListener("hashchange", route);
  window.addEventListener("resize", () => ops.timer && drawChart());
  // an upload in progress would be lost
  window.addEventListener("beforeunload", (ev) => {
    if (uploads.size) ev.preventDefault();
  });
  cred = loadCred();
  if (cred) enterApp();
  else showView("login");
  document.body.dataset.ready = "1";
}

init();
