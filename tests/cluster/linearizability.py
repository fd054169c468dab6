"""Per-key linearizability checker for recorded S3 client histories.

Each S3 key is an independent register (P-compositionality: a history is
linearizable iff every key's sub-history is), so `check` splits the history
by key and checks each part on its own. State of a register: the current
value, or None (absent). Values are assumed unique per write (the workload
writes unique values, so a value/ETag identifies the write); duplicates never
make the checker report a false violation, they only weaken what it can
prove.

Operations and their S3 meaning
  put(v)          PutObject. ok: state := v.
  get() -> r      GetObject. ok: r == state (read None = 404 NoSuchKey).
  cas(expect, v)  PutObject with If-Match: etag(expect). ok: state == expect,
                  state := v. 'fail_mismatch' (412): state is not None and
                  != expect. 'fail_absent' (404): state is None. 'fail':
                  either of the two (state != expect). No effect on failure.
  create(v)       PutObject with If-None-Match: *. ok: state is None,
                  state := v. 'fail' (412; 'fail_mismatch' is accepted as a
                  synonym): state is not None, no effect.
  delete()        DeleteObject. ok: state := None (always succeeds).

History format: a list of dicts (a JSON list from a cluster run loads as-is;
a `History` recorder produces the same dicts):
  {"process": 3,            # any hashable id; a process is sequential
   "key": "k1",             # any hashable; each key checked on its own
   "op": "put" | "get" | "cas" | "create" | "delete",
   "value": "v17",          # put / cas / create: the value written
   "expect": "v12",         # cas: the value If-Match names (never None)
   "start": 12.0031,        # seconds, any clock shared by all processes
   "end": 12.0190,          # seconds; None allowed only for 'unknown'
   "result": "ok" | "fail" | "fail_absent" | "fail_mismatch" | "unknown",
   "read": "v17" | None}    # get with result 'ok': what it returned
Result meanings
  ok        the operation took effect between start and end.
  fail*     a write whose precondition failed inside apply: it did NOT take
            effect (see the table above for what each one says about the
            state). A 'fail' put/delete/get carries no information and is
            ignored (no effect, no constraint).
  unknown   timed out / connection dropped. A write (put, cas, create,
            delete) may take effect at any point after its start -- even
            after the client gave up -- or never. An unknown get carries no
            information and is dropped. For an unknown op, "end" is the time
            the client gave up (optional, None allowed); it is used only to
            check that the process itself was sequential, never as a bound
            on the effect. An unknown op with end None must be the last op
            of its process.
Timestamps that are equal count as overlapping (an op ending at t and one
starting at t are concurrent): the checker never claims an order the clock
cannot prove.

Malformed histories raise MalformedHistory (a ValueError): missing or wrong
fields, a result the op cannot have, end < start, or two ops of one process
that overlap in time (a process must be sequential).

Algorithm, per key
 1. Witnesses (witnesses=True, O(n log n)): for each value with a single
    write, the ops that must see it (its gets, the cas that consumes it)
    pin a time window where it must be current (Gibbons & Korach's zones).
    A state change strictly inside such a window, two such windows
    overlapping, a read that finished before its write started, or two
    successful cas expecting the same value prove a violation at once
    (stale reads, lost writes, non-monotonic reads, duplicated cas...),
    however concurrent the history. See _witness.
 2. Otherwise the exact search: Wing & Gong / Lowe's just-in-time
    linearization as in Porcupine -- a doubly linked list of call/return
    events, an iterative DFS that repeatedly linearizes some op whose call
    precedes every pending return, and a cache of failed configurations
    (linearized ops as an int bitset, register state). Unknown ops never
    block anything (their return is at +infinity) and the search succeeds
    once every known op is linearized; unknown ops left over never took
    effect. Reductions that keep the answer exact (see _search):
      * a legal read-only op (get, failed cas/create) is linearized at once,
        without branching;
      * an unknown op is only placed where it changes the state and is not
        immediately overwritten;
      * ops with identical effects (all deletes, all puts of values nobody
        reads, ...) are not permuted among themselves;
      * leaving a value that a pending op still needs is a dead end
        (values are unique, so it can never come back);
      * a failed configuration also prunes the same one with extra unknown
        ops linearized.
 3. On failure, the explanation names the shortest failing prefix (the ops
    completed by time T, with writes still in flight at T made unknown and
    reads in flight dropped; failing is monotone in T), found from the
    furthest point the search reached plus one search of that prefix (a
    binary search in the rare case it passes), the op completing there, the
    deepest partial linearization of that prefix and why each op that could
    come next cannot.

Cost and limits: a valid history costs about one configuration per op
(2000 ops, 10-100 processes, a few % unknown writes: ~0.02 s, worst seen
~2 s at 100 processes). Proving a violation the witnesses miss (e.g. two
creates both succeeding, a 412 while the value provably equals If-Match, a
404 read with no delete possible) means enumerating every consistent cut
before it: fine up to ~10-20 ops in flight on the key at once (seconds),
hopeless at ~50, where max_configs stops it with SearchLimitExceeded.

API
  check(history, minimize=True, max_configs=2_000_000, witnesses=True)
      -> Result(ok, keys_checked, ops_checked, key, explain, failed_keys,
                failures, stats); history: list of dicts or a History.
  check_file(path, **kw) -> Result      JSON list (or {"ops": [...]})
  History()  thread-safe recorder: invoke / complete / unknown, .ops, dump()
Exceptions: MalformedHistory (ValueError), SearchLimitExceeded (RuntimeError,
when a search of one key needs more than max_configs configurations -- the
check is then inconclusive, never a silent pass).
"""

import bisect
import json
import threading
import time
from dataclasses import dataclass, field

__all__ = [
    "check",
    "check_file",
    "History",
    "Result",
    "MalformedHistory",
    "SearchLimitExceeded",
]

OPS = ("put", "get", "cas", "create", "delete")
RESULTS = ("ok", "fail", "fail_absent", "fail_mismatch", "unknown")
_WRITES_VALUE = ("put", "cas", "create")

# Results each op may have.
_ALLOWED = {
    "get": ("ok", "fail", "unknown"),
    "put": ("ok", "fail", "unknown"),
    "delete": ("ok", "fail", "unknown"),
    "cas": ("ok", "fail", "fail_absent", "fail_mismatch", "unknown"),
    "create": ("ok", "fail", "fail_mismatch", "unknown"),
}

DEFAULT_MAX_CONFIGS = 2_000_000

# Normalised op kinds. Below 4: read-only (a predicate on the state).
R_EQ = 0  # state == a                (get ok; cas fail_absent with a=None)
R_NE_PRESENT = 1  # state is not None and != a   (cas fail_mismatch)
R_NE = 2  # state != a                (cas fail)
R_PRESENT = 3  # state is not None    (create fail)
W_PUT = 4  # state := b
W_DEL = 5  # state := None
W_CAS = 6  # state == a -> state := b
W_CREATE = 7  # state is None -> state := b


class MalformedHistory(ValueError):
    """The history cannot be checked: bad fields or a non-sequential process."""


class SearchLimitExceeded(RuntimeError):
    """The search for one key needed more configurations than allowed."""


@dataclass
class Result:
    ok: bool
    keys_checked: int = 0
    ops_checked: int = 0
    key: object = None  # first failing key (in order of first appearance)
    explain: str = ""
    failed_keys: list = field(default_factory=list)
    failures: dict = field(default_factory=dict)  # failing key -> its explanation
    stats: dict = field(default_factory=dict)  # configs explored, seconds, ...

    def __str__(self):
        if self.ok:
            return "linearizable: %d keys, %d ops" % (self.keys_checked, self.ops_checked)
        return self.explain


class _Op:
    """One op of a key's sub-history, normalised for the search."""

    __slots__ = ("idx", "rec", "kind", "a", "b", "start", "end", "unknown")

    def __init__(self, idx, rec, kind, a, b, start, end, unknown):
        self.idx = idx  # position in the input history
        self.rec = rec  # the input dict
        self.kind = kind
        self.a = a  # read value / expected value
        self.b = b  # value written
        self.start = start
        self.end = end  # None when unknown
        self.unknown = unknown


# ---------------------------------------------------------------------------
# Validation and normalisation


def _num(x, what, i):
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise MalformedHistory("op #%d: %s must be a number, got %r" % (i, what, x))
    return float(x)


def _hashable(x, what, i):
    try:
        hash(x)
    except TypeError:
        raise MalformedHistory("op #%d: %s %r is not hashable" % (i, what, x)) from None
    return x


def _normalise(i, rec):
    """Validate one record; return an _Op, or None when it carries no information."""
    if not isinstance(rec, dict):
        raise MalformedHistory("op #%d: expected a dict, got %r" % (i, rec))
    for f in ("process", "key", "op", "start", "result"):
        if f not in rec:
            raise MalformedHistory("op #%d: missing field %r: %r" % (i, f, rec))
    _hashable(rec["process"], "process", i)
    _hashable(rec["key"], "key", i)
    op = rec["op"]
    if op not in OPS:
        raise MalformedHistory("op #%d: unknown op %r" % (i, op))
    res = rec["result"]
    if res not in _ALLOWED[op]:
        raise MalformedHistory("op #%d: %s cannot have result %r" % (i, op, res))
    start = _num(rec["start"], "start", i)
    end = rec.get("end")
    if end is None:
        if res != "unknown":
            raise MalformedHistory("op #%d: end is None but result is %r" % (i, res))
    else:
        end = _num(end, "end", i)
        if end < start:
            raise MalformedHistory("op #%d: end %r < start %r" % (i, end, start))
    value = expect = None
    if op in _WRITES_VALUE:
        value = _hashable(rec.get("value"), "value", i)
        if value is None:
            raise MalformedHistory("op #%d: %s needs a non-None value" % (i, op))
    if op == "cas":
        expect = _hashable(rec.get("expect"), "expect", i)
        if expect is None:
            raise MalformedHistory("op #%d: cas needs a non-None expect (If-Match)" % i)
    if op == "get" and res == "ok":
        if "read" not in rec:
            raise MalformedHistory("op #%d: get ok without a 'read' field (use None for 404)" % i)
        _hashable(rec["read"], "read", i)

    unknown = res == "unknown"
    if unknown:
        if op == "get":
            return None
        kind = {"put": W_PUT, "delete": W_DEL, "cas": W_CAS, "create": W_CREATE}[op]
        return _Op(i, rec, kind, expect, value, start, None, True)
    if op == "get":
        if res != "ok":
            return None
        return _Op(i, rec, R_EQ, rec["read"], None, start, end, False)
    if op in ("put", "delete"):
        if res != "ok":
            return None
        kind = W_PUT if op == "put" else W_DEL
        return _Op(i, rec, kind, None, value, start, end, False)
    if op == "cas":
        kind, a = {
            "ok": (W_CAS, expect),
            "fail": (R_NE, expect),
            "fail_mismatch": (R_NE_PRESENT, expect),
            "fail_absent": (R_EQ, None),
        }[res]
        return _Op(i, rec, kind, a, value, start, end, False)
    # create
    if res == "ok":
        return _Op(i, rec, W_CREATE, None, value, start, end, False)
    return _Op(i, rec, R_PRESENT, None, None, start, end, False)


def _check_processes(history):
    by_proc = {}
    for i, rec in enumerate(history):
        by_proc.setdefault(rec["process"], []).append(i)
    for proc, idxs in by_proc.items():
        idxs.sort(key=lambda j: (float(history[j]["start"]), j))
        for j, k in zip(idxs, idxs[1:]):
            a, b = history[j], history[k]
            if a.get("end") is None:
                raise MalformedHistory(
                    "process %r: op #%d has no end (unknown) but the process issued "
                    "op #%d after it; give up on a request (record its end) or use a "
                    "new process id" % (proc, j, k)
                )
            if float(b["start"]) < float(a["end"]):
                raise MalformedHistory(
                    "process %r is not sequential: op #%d [%r, %r] overlaps op #%d [%r, %r]"
                    % (proc, j, a["start"], a["end"], k, b["start"], b.get("end"))
                )


# ---------------------------------------------------------------------------
# The search


def _frames(top):
    """[(is_unknown, index)] of a frame stack, oldest first."""
    out = []
    while top is not None:
        out.append((top[0], top[1]))
        top = top[5]
    out.reverse()
    return out


class _Outcome:
    __slots__ = ("ok", "configs", "best_seq", "best_state", "frontier")

    def __init__(self, ok, configs, best_seq=None, best_state=None, frontier=None):
        self.ok = ok
        self.configs = configs
        self.best_seq = best_seq  # [(is_unknown, index)] of the deepest config
        self.best_state = best_state  # (renamed) state there
        self.frontier = frontier  # furthest deadline reached (a time), on failure


def _search(known, unknown, max_configs):
    """Is there a linearization of all `known` ops plus any subset of `unknown`?

    Configuration: (lin_k: bitset of linearized known ops, lin_u: bitset of
    linearized unknown ops, state, flag: the last op linearized was unknown).
    Values are renamed to small ints; values no op ever compares against
    (never read, never a cas expect) all become one FRESH state.

    The search only looks for "canonical" linearizations; one exists
    whenever any linearization does, and each restriction below is an
    exchange argument on a linearization with the fewest unknown ops:
      R1 if a known read-only candidate is legal in `state`, the first such
         one is the only child (moving a legal read-only op to the front of
         any completion keeps it valid: it changes no state, and being a
         candidate no pending op has to precede it);
      R2 an unknown op is linearized only where it changes the state, and an
         unknown op is never directly followed by a blind write (put/delete
         overwriting it) -- otherwise it could simply be dropped;
      R3 ops with identical effects (same kind, expect and renamed value:
         every delete, every put of a FRESH value, ...) are interchangeable:
         known ones are tried earliest-deadline first (only the candidate
         ending first is a child), unknown ones in start order (so the used
         unknown ops of a class are always a prefix of it).
    Pruning that removes only dead configurations:
      P1 leaving state v when v has a single writer and some pending known
         op still needs v (a get of v, a cas expecting v) -- v can never
         come back;
      P2 a configuration is recorded when all its children failed; a child
         is pruned when a failed configuration has the same lin_k and state,
         a subset of its lin_u (per class: a shorter prefix) and a flag that
         allows at least as much: any canonical completion of the child maps
         to one of the failed configuration.
    Also returns the furthest deadline reached (max over configurations of
    the end of the first pending known op): every prefix of the history
    that ends before it is linearizable.
    """
    nk = len(known)
    nu = len(unknown)
    if nk == 0:
        return _Outcome(True, 0, [], None, None)

    # -- values: observed ones get ids 0..FRESH-1, the rest are FRESH.
    vid = {}
    for o in known + unknown:
        if o.kind in (R_EQ, R_NE_PRESENT, R_NE, W_CAS) and o.a is not None and o.a not in vid:
            vid[o.a] = len(vid)
    FRESH = len(vid)
    writers = [0] * (FRESH + 1)

    def canon(v):
        if v is None:
            return None
        return vid.get(v, FRESH)

    kind = [o.kind for o in known]
    A = [canon(o.a) for o in known]
    B = [canon(o.b) for o in known]
    ukind = [o.kind for o in unknown]
    uA = [canon(o.a) for o in unknown]
    uB = [canon(o.b) for o in unknown]
    for k, b in zip(kind + ukind, B + uB):
        if k in (W_PUT, W_CAS, W_CREATE):
            writers[b] += 1
    uniq = [n == 1 for n in writers]
    uniq[FRESH] = False
    need = [0] * (FRESH + 1)  # pending known ops that need state == v
    req = [-1] * nk
    for i in range(nk):
        if (kind[i] == R_EQ and A[i] is not None) or kind[i] == W_CAS:
            req[i] = A[i]
            need[A[i]] += 1

    # -- event list
    events = []
    for i, op in enumerate(known):
        events.append((op.start, 0, 0, i))
        events.append((op.end, 1, 0, i))
    for u, op in enumerate(unknown):
        events.append((op.start, 0, 1, u))
    events.sort()  # calls before returns at equal times: concurrent

    HEAD = 2 * nk
    nxt = [-1] * (2 * nk + 1)
    prv = [-1] * (2 * nk + 1)
    erank = [0] * (2 * nk)
    UHEAD = nu
    unxt = [-1] * (nu + 1)
    uprv = [-1] * (nu + 1)
    urank = [0] * nu
    last, ulast = HEAD, UHEAD
    for rank, (_, typ, isu, i) in enumerate(events):
        if isu:
            urank[i] = rank
            unxt[ulast] = i
            uprv[i] = ulast
            ulast = i
        else:
            e = 2 * i + typ
            erank[e] = rank
            nxt[last] = e
            prv[e] = last
            last = e

    # -- R3 classes. Known: only classes with two or more members matter.
    classes = {}
    for i in range(nk):
        k = kind[i]
        if (k == W_DEL) or (k in (W_PUT, W_CREATE, W_CAS) and B[i] == FRESH):
            classes.setdefault((k, A[i], B[i]), []).append(i)
    kcls = [-1] * nk
    for c, members in enumerate(m for m in classes.values() if len(m) > 1):
        for i in members:
            kcls[i] = c
    ucls = [0] * nu
    uord = [0] * nu
    uclasses = {}
    u = unxt[UHEAD]
    while u != -1:  # in start order
        members = uclasses.setdefault((ukind[u], uA[u], uB[u]), [])
        ucls[u] = len(uclasses) - 1 if len(members) == 0 else ucls[members[0]]
        uord[u] = len(members)
        members.append(u)
        u = unxt[u]
    cnext = [0] * len(uclasses)

    bit = [1 << i for i in range(nk)]
    ubit = [1 << u for u in range(nu)]

    failed = {}  # (lin_k, state) -> [(lin_u, flag)]

    def dominated(lk, lu, st, fl):
        lst = failed.get((lk, st))
        if lst is None:
            return False
        for m, f in lst:
            if (m & lu) == m and (fl or not f):
                return True
        return False

    def class_best():
        """For each known class, the candidate that ends first."""
        best = {}
        e = nxt[HEAD]
        while not (e & 1):
            i = e >> 1
            c = kcls[i]
            if c >= 0:
                j = best.get(c)
                if j is None or erank[2 * i + 1] < erank[2 * j + 1]:
                    best[c] = i
            e = nxt[e]
        return best

    state = None
    lin_k = 0
    lin_u = 0
    flag = False
    left = nk
    top = None  # stack of frames: (is_unknown, index, prev state, prev flag, forced, below)
    configs = 0
    best = -1  # deepest configuration (most known ops linearized), for explanations
    best_top = None
    best_state = None
    maxdl = -1
    NEW, KNOWN, UNK, BACK = 0, 1, 2, 3
    mode = NEW
    cur = deadline = -1
    cbest = None

    while True:
        if mode == NEW:
            if left == 0:
                return _Outcome(True, configs)
            configs += 1
            if configs > max_configs:
                raise SearchLimitExceeded(
                    "search gave up after %d configurations (%d ops, %d unknown); "
                    "raise max_configs" % (max_configs, nk, nu)
                )
            if nk - left > best:
                best = nk - left
                best_top = top
                best_state = state
            # R1: a legal read-only candidate is linearized at once.
            e = nxt[HEAD]
            while not (e & 1):
                i = e >> 1
                k = kind[i]
                if k < 4:
                    a = A[i]
                    if k == R_EQ:
                        if state == a:
                            break
                    elif k == R_NE_PRESENT:
                        if state is not None and state != a:
                            break
                    elif k == R_NE:
                        if state != a:
                            break
                    elif state is not None:
                        break
                e = nxt[e]
            if not (e & 1):
                i = e >> 1
                nlk = lin_k | bit[i]
                if dominated(nlk, lin_u, state, False):
                    mode = BACK
                    continue
                top = (False, i, state, flag, True, top)
                c, r = e, e + 1
                nxt[prv[c]] = nxt[c]
                prv[nxt[c]] = prv[c]
                nxt[prv[r]] = nxt[r]
                if nxt[r] != -1:
                    prv[nxt[r]] = prv[r]
                if req[i] >= 0:
                    need[req[i]] -= 1
                lin_k = nlk
                left -= 1
                flag = False
                continue
            deadline = erank[e]  # e: the first pending return
            if deadline > maxdl:
                maxdl = deadline
            cur = nxt[HEAD]
            cbest = class_best()
            mode = KNOWN

        if mode == KNOWN:
            e = cur
            while not (e & 1):
                i = e >> 1
                k = kind[i]
                if k >= 4 and (kcls[i] < 0 or cbest[kcls[i]] == i):
                    if k == W_PUT:
                        ns = B[i]
                        legal = not flag
                    elif k == W_DEL:
                        ns = None
                        legal = not flag
                    elif k == W_CAS:
                        ns = B[i]
                        legal = state == A[i]
                    else:
                        ns = B[i]
                        legal = state is None
                    if legal and state is not None and ns != state and uniq[state]:
                        # P1 (a cas needing `state` counts itself)
                        legal = need[state] - (k == W_CAS) <= 0
                    if legal:
                        nlk = lin_k | bit[i]
                        if not dominated(nlk, lin_u, ns, False):
                            top = (False, i, state, flag, False, top)
                            c, r = e, e + 1
                            nxt[prv[c]] = nxt[c]
                            prv[nxt[c]] = prv[c]
                            nxt[prv[r]] = nxt[r]
                            if nxt[r] != -1:
                                prv[nxt[r]] = prv[r]
                            if req[i] >= 0:
                                need[req[i]] -= 1
                            lin_k = nlk
                            left -= 1
                            state = ns
                            flag = False
                            mode = NEW
                            break
                e = nxt[e]
            if mode == NEW:
                continue
            deadline = erank[e]
            cur = unxt[UHEAD]
            mode = UNK

        if mode == UNK:
            u = cur
            while u != -1 and urank[u] < deadline:
                k = ukind[u]
                if uord[u] != cnext[ucls[u]]:
                    u = unxt[u]
                    continue
                if k == W_PUT:
                    ns = uB[u]
                    legal = not flag
                elif k == W_DEL:
                    ns = None
                    legal = not flag
                elif k == W_CAS:
                    ns = uB[u]
                    legal = state == uA[u]
                else:
                    ns = uB[u]
                    legal = state is None
                if legal and ns != state:
                    if state is not None and uniq[state] and need[state] > 0:
                        legal = False  # P1
                    else:
                        nlu = lin_u | ubit[u]
                        if not dominated(lin_k, nlu, ns, True):
                            top = (True, u, state, flag, False, top)
                            unxt[uprv[u]] = unxt[u]
                            if unxt[u] != -1:
                                uprv[unxt[u]] = uprv[u]
                            cnext[ucls[u]] += 1
                            lin_u = nlu
                            state = ns
                            flag = True
                            mode = NEW
                            break
                u = unxt[u]
            if mode == NEW:
                continue
            mode = BACK

        # BACK: the current configuration failed; record it and pop.
        failed.setdefault((lin_k, state), []).append((lin_u, flag))
        while True:
            if top is None:
                return _Outcome(False, configs, _frames(best_top), best_state, events[maxdl][0])
            isu, idx, pstate, pflag, forced, top = top
            if isu:
                unxt[uprv[idx]] = idx
                if unxt[idx] != -1:
                    uprv[unxt[idx]] = idx
                cnext[ucls[idx]] -= 1
                lin_u ^= ubit[idx]
            else:
                c, r = 2 * idx, 2 * idx + 1
                nxt[prv[r]] = r
                if nxt[r] != -1:
                    prv[nxt[r]] = r
                nxt[prv[c]] = c
                prv[nxt[c]] = c
                if req[idx] >= 0:
                    need[req[idx]] += 1
                lin_k ^= bit[idx]
                left += 1
            state = pstate
            flag = pflag
            if not forced:
                break
            failed.setdefault((lin_k, state), []).append((lin_u, flag))
        if isu:
            e = nxt[HEAD]
            while not (e & 1):
                e = nxt[e]
            deadline = erank[e]
            cur = unxt[idx]
            mode = UNK
        else:
            cur = nxt[2 * idx]
            cbest = class_best()
            mode = KNOWN


# ---------------------------------------------------------------------------
# Per-key check, shortest failing prefix, explanation


def _prefix(ops, t):
    """The sub-history as seen at time t: ops completed by t keep their
    outcome; writes in flight at t become unknown, reads in flight are
    dropped; ops that start after t are left out."""
    known, unknown = [], []
    for o in ops:
        if o.unknown:
            if o.start <= t:
                unknown.append(o)
        elif o.end <= t:
            known.append(o)
        elif o.start <= t and o.kind >= 4:
            unknown.append(_Op(o.idx, o.rec, o.kind, o.a, o.b, o.start, None, True))
    return known, unknown


def _fmt_val(v):
    return "None" if v is None else repr(v)


def _fmt_op(o):
    rec = o.rec
    op = rec["op"]
    res = rec["result"]
    if op == "get":
        what = "get -> %s" % (_fmt_val(rec.get("read")) + (" (404)" if rec.get("read") is None else ""))
        res = "" if res == "ok" else res
    elif op == "put":
        what = "put %s" % _fmt_val(rec.get("value"))
    elif op == "cas":
        what = "cas %s -> %s" % (_fmt_val(rec.get("expect")), _fmt_val(rec.get("value")))
    elif op == "create":
        what = "create %s" % _fmt_val(rec.get("value"))
    else:
        what = "delete"
    end = rec.get("end")
    times = "[%.6f, %s]" % (float(rec["start"]), "?" if end is None else "%.6f" % float(end))
    s = "#%d p%s %s%s %s" % (o.idx, rec["process"], what, " " + res if res else "", times)
    if o.unknown and rec["result"] != "unknown":
        s += " (in flight at the cut: may take effect or not)"
    return s


def _apply(o, state):
    """New state if `o` can take effect (or hold) in `state`, else _ILLEGAL."""
    k, a = o.kind, o.a
    if k == R_EQ:
        return state if state == a else _ILLEGAL
    if k == R_NE_PRESENT:
        return state if state is not None and state != a else _ILLEGAL
    if k == R_NE:
        return state if state != a else _ILLEGAL
    if k == R_PRESENT:
        return state if state is not None else _ILLEGAL
    if k == W_PUT:
        return o.b
    if k == W_DEL:
        return None
    if k == W_CAS:
        return o.b if state == a else _ILLEGAL
    return o.b if state is None else _ILLEGAL


_ILLEGAL = object()


def _why_not(o, state, pending, writers):
    """Why `o` cannot be the next op after a partial linearization leaving
    `state`, with `pending` known ops left; writers: value -> #writes."""
    k, a = o.kind, o.a
    held = "the register holds %s" % _fmt_val(state)
    nxt = _apply(o, state)
    if nxt is not _ILLEGAL:
        if state is not None and nxt != state and writers.get(state) == 1:
            needers = [p for p in pending if p is not o and p.kind in (R_EQ, W_CAS) and p.a == state]
            if needers:
                return "would overwrite %s for good, but %s still needs it" % (
                    _fmt_val(state),
                    _fmt_op(needers[0]) + (" (and %d more)" % (len(needers) - 1) if len(needers) > 1 else ""),
                )
        return "possible here, but no continuation after it places the rest"
    if k == R_EQ:
        if o.rec["op"] == "cas":
            return "a 404 needs the key absent, but %s" % held
        return "reads %s but %s" % (_fmt_val(a), held)
    if k == R_NE_PRESENT:
        if state is None:
            return "a 412 needs the key present, but it is absent"
        return "a 412 needs a value other than %s, but %s" % (_fmt_val(a), held)
    if k == R_NE:
        return "a failure needs a value other than %s, but %s" % (_fmt_val(a), held)
    if k == R_PRESENT:
        return "a 412 needs the key present, but it is absent"
    if k == W_CAS:
        return "needs %s, but %s" % (_fmt_val(a), held)
    return "needs the key absent, but %s" % held


def _describe_failure(key, ops, culprit_time, known, unknown, out, n_known_total, shortest=True):
    lines = ["key %r: not linearizable." % (key,)]
    culprits = [o for o in known if o.end == culprit_time]
    lines.append(
        "%s: the ops completed by t=%.6f (%d of %d completed ops on "
        "this key; writes still in flight then count as unknown). Completing there:"
        % ("Shortest failing prefix" if shortest else "A failing prefix", culprit_time, len(known), n_known_total)
    )
    written = {o.b for o in ops if o.kind in (W_PUT, W_CAS, W_CREATE)}
    for o in culprits:
        lines.append("  " + _fmt_op(o))
        if o.kind in (R_EQ, W_CAS) and o.a is not None and o.a not in written:
            lines.append("    (no put/cas/create in the history could have written %s to this key)" % _fmt_val(o.a))
    if out is None or out.best_seq is None:
        return "\n".join(lines)
    seq = [(unknown[i] if isu else known[i]) for isu, i in out.best_seq]
    placed = sum(1 for o in seq if not o.unknown)
    lines.append(
        "Deepest partial linearization of that prefix: %d of %d completed ops placed%s."
        % (placed, len(known), ", plus %d unknown" % (len(seq) - placed) if len(seq) > placed else "")
    )
    state = None
    steps = []
    for o in seq:
        state = _apply(o, state)
        steps.append((o, state))
    SHOW = 12
    if len(steps) > SHOW:
        lines.append("  ... %d earlier ops" % (len(steps) - SHOW))
    for o, st in steps[-SHOW:]:
        lines.append("  %-64s => %s" % (_fmt_op(o), _fmt_val(st)))
    done = {id(o) for o in seq}
    pending = [o for o in known if id(o) not in done]
    first_ret = min(pending, key=lambda o: (o.end, o.idx))
    cands = [o for o in pending if o.start <= first_ret.end]
    cands += [o for o in unknown if id(o) not in done and o.start <= first_ret.end]
    lines.append("Then the register holds %s and no pending op can come next:" % _fmt_val(state))
    writers = {}
    for o in ops:
        if o.kind in (W_PUT, W_CAS, W_CREATE):
            writers[o.b] = writers.get(o.b, 0) + 1
    cands.sort(key=lambda o: (o.start, o.idx))
    SHOW = 16
    for o in cands[:SHOW]:
        lines.append("  %s: %s" % (_fmt_op(o), _why_not(o, state, pending, writers)))
    if len(cands) > SHOW:
        lines.append("  ... and %d more" % (len(cands) - SHOW))
    lines.append("  (%s completed first of the pending ops, so it must be placed before anything that started after it)" % ("#%d" % first_ret.idx))
    return "\n".join(lines)


def _witness(ops):
    """A cheap proof that a key's ops are not linearizable, or None.

    Only values with exactly one write that could have taken effect count.
    For such a value v, its cluster is that write plus the completed ops that
    need state == v (gets of v, successful cas expecting v); in any
    linearization they form one contiguous run where the register holds v
    (v is never written again). If some op of the cluster ends at a before
    another starts at b, the run covers the whole window (a, b) ("forward
    zone"); otherwise all its ops overlap [max start, min end] ("backward
    zone"). Proofs (Gibbons & Korach's zones, extended):
      * two successful cas expecting v: only one can consume it;
      * an op of the cluster ends before v's write starts;
      * two forward zones overlap (two values at once);
      * a completed op that changes the value or cannot see it (a get of
        another value, a 412 whose If-Match is that value, ...), or a whole
        backward zone, lies strictly inside a forward zone.
    And for absence (None is written by every delete, so no zones):
      * an op that needs the key absent (get -> None, 404 cas, successful
        create) starts after a completed write of a value ended, or two
        successful creates overlap, and no delete could come in between;
      * an op that needs the key present (412 cas or create) starts after a
        completed delete ended (or the key was never written), and no write
        could come in between.
    Returns (ops involved, explanation lines).
    """
    writers = {}
    for o in ops:
        if o.kind in (W_PUT, W_CAS, W_CREATE):
            writers.setdefault(o.b, []).append(o)
    clusters = {}
    for o in ops:
        if not o.unknown and o.kind in (R_EQ, W_CAS) and o.a is not None:
            clusters.setdefault(o.a, []).append(o)
    fwd, bwd = [], []
    for v, users in clusters.items():
        ws = writers.get(v, ())
        if len(ws) != 1:
            continue
        w = ws[0]
        cons = [o for o in users if o.kind == W_CAS]
        if len(cons) > 1:
            return [w] + cons[:2], [
                "%s is written once, by %s," % (_fmt_val(v), _fmt_op(w)),
                "but two cas expecting it both succeeded: %s and %s." % (_fmt_op(cons[0]), _fmt_op(cons[1])),
            ]
        for o in users:
            if o.end < w.start:
                return [w, o], [
                    "%s needs %s, which only %s writes," % (_fmt_op(o), _fmt_val(v), _fmt_op(w)),
                    "and it completed before that write started.",
                ]
        members = [w] + users
        x = min(members, key=lambda o: (_end(o), o.idx))
        y = max(members, key=lambda o: (o.start, -o.idx))
        if _end(x) < y.start:
            fwd.append((_end(x), y.start, v, x, y))
        else:
            bwd.append((y.start, _end(x), v, x, y))
    found = _witness_absence(ops)
    if found is not None or not fwd:
        return found
    fwd.sort(key=lambda f: (f[0], f[1]))

    def zone_lines(f):
        a, b, v, x, y = f
        return [
            "the register must hold %s throughout (%.6f, %.6f): %s completed at the start"
            % (_fmt_val(v), a, b, _fmt_op(x)),
            "  of that window and %s started at its end, and %s is written only once;"
            % (_fmt_op(y), _fmt_val(v)),
        ]

    for f1, f2 in zip(fwd, fwd[1:]):
        if f2[0] < f1[1]:
            return [f1[3], f1[4], f2[3], f2[4]], (
                ["Two values must be current at the same time:"]
                + zone_lines(f1)
                + zone_lines(f2)
                + ["  these windows overlap."]
            )
    starts = [f[0] for f in fwd]

    def enclosing(s, e):
        i = bisect.bisect_left(starts, s) - 1  # the zone with the largest start < s
        if i >= 0 and e < fwd[i][1]:
            return fwd[i]
        return None

    for o in sorted(ops, key=lambda o: (_end(o), o.idx)):
        if o.unknown:
            continue
        f = enclosing(o.start, o.end)
        if f is None:
            continue
        if o.kind >= 4:
            return [f[3], f[4], o], (
                ["The value changes where it cannot:"]
                + zone_lines(f)
                + ["  but %s changed it entirely inside that window." % _fmt_op(o)]
            )
        if _apply(o, f[2]) is _ILLEGAL:
            return [f[3], f[4], o], (
                ["An op sees the wrong value:"]
                + zone_lines(f)
                + [
                    "  but %s ran entirely inside that window: %s."
                    % (_fmt_op(o), _why_not(o, f[2], [], {}))
                ]
            )
    for s, e, v, x, y in bwd:
        f = enclosing(s, e)
        if f is not None:
            return [f[3], f[4], x, y], (
                ["Two values must be current at the same time:"]
                + zone_lines(f)
                + [
                    "  but every op of the run holding %s overlaps [%.6f, %.6f] (%s started at the"
                    % (_fmt_val(v), s, e, _fmt_op(y)),
                    "  start and %s completed at the end), which lies inside that window." % _fmt_op(x),
                ]
            )
    return None


def _witness_absence(ops):
    """The absence/presence proofs of _witness."""
    inf = float("inf")
    deletes = [o for o in ops if o.kind == W_DEL]  # could take effect (known or unknown)
    setters = [o for o in ops if o.kind in (W_PUT, W_CAS, W_CREATE)]
    known_setters = sorted((o for o in setters if not o.unknown), key=lambda o: (o.end, o.idx))
    known_deletes = sorted((o for o in deletes if not o.unknown), key=lambda o: (o.end, o.idx))

    def latest_before(sorted_by_end, t):
        """The op with the latest start among those ending before t."""
        best = None
        for o in sorted_by_end:
            if o.end >= t:
                break
            if best is None or o.start > best.start:
                best = o
        return best

    def possible_between(cands, a_start, b_end):
        """The ops of cands that could be linearized between an op a (starting
        at a_start) and an op b (ending at b_end) that follows it: those not
        surely before a (ended before a started) nor surely after b."""
        return [x for x in cands if x.start <= b_end and (x.unknown or x.end >= a_start)]

    for r in sorted(ops, key=lambda o: (o.end if o.end is not None else inf, o.idx)):
        if r.unknown:
            continue
        if (r.kind == R_EQ and r.a is None) or r.kind == W_CREATE:
            w = latest_before(known_setters, r.start)
            if w is not None and not possible_between(deletes, w.start, r.end):
                return [w, r], [
                    "%s needs the key absent, but %s completed before it started"
                    % (_fmt_op(r), _fmt_op(w)),
                    "and no delete in the history could come in between.",
                ]
        elif r.kind in (R_PRESENT, R_NE_PRESENT):
            d = latest_before(known_deletes, r.start)
            if not possible_between(setters, d.start if d is not None else -inf, r.end):
                return [r] + ([d] if d else []), [
                    "%s needs the key present (412), but %s"
                    % (_fmt_op(r), ("%s completed before it started" % _fmt_op(d)) if d else "it starts absent"),
                    "and no put/cas/create in the history could come in between.",
                ]
    creates = sorted((o for o in known_setters if o.kind == W_CREATE), key=lambda o: (o.start, o.idx))
    for i, c1 in enumerate(creates):
        for c2 in creates[i + 1 :]:
            if c2.start > c1.end:
                break
            lo, hi = min(c1.start, c2.start), max(c1.end, c2.end)
            if not possible_between(deletes, lo, hi):
                return [c1, c2], [
                    "%s and %s both created the key, so a delete must come between them," % (_fmt_op(c1), _fmt_op(c2)),
                    "but no delete in the history could.",
                ]
    return None


def _end(o):
    return float("inf") if o.end is None else o.end


def _check_key(key, ops, max_configs, minimize, witnesses):
    """None if the key's ops are linearizable, else an explanation; plus configs used."""
    known = [o for o in ops if not o.unknown]
    unknown = [o for o in ops if o.unknown]
    # Cheap, conclusive pre-check: a read (or a successful cas) of a value no
    # write that could have taken effect ever wrote.
    written = {o.b for o in ops if o.kind in (W_PUT, W_CAS, W_CREATE)}
    bad = [o for o in known if o.kind in (R_EQ, W_CAS) and o.a is not None and o.a not in written]
    if bad:
        first = min(bad, key=lambda o: (o.end, o.idx))
        kn, un = _prefix(ops, first.end)
        return _describe_failure(key, ops, first.end, kn, un, None, len(known)), 0
    if witnesses:
        found = _witness(ops)
        if found is not None:
            involved, text = found
            return "\n".join(["key %r: not linearizable." % (key,)] + text), 0
    out = _search(known, unknown, max_configs)
    configs = out.configs
    if out.ok:
        return None, configs
    # The shortest failing prefix ends at t_min >= the furthest deadline the
    # search reached (it linearized every op completed before it, and cutting
    # such a partial linearization gives one of the shorter prefix). Prefixes
    # that pass are cheap to check and failing ones are not, so gallop up
    # from there until one fails, then bisect.
    ends = sorted({o.end for o in known})
    lo = ends.index(out.frontier) - 1 if out.frontier is not None else -1  # up to ends[lo] pass
    hi = len(ends) - 1  # prefix(ends[hi]) fails; the last one is the whole history
    found = {hi: (known, unknown, out)}
    step = 1
    galloping = True
    try:
        while hi - lo > 1:
            mid = min(lo + step, hi - 1) if galloping else (lo + hi) // 2
            kn, un = _prefix(ops, ends[mid])
            o = _search(kn, un, max_configs)
            configs += o.configs
            if o.ok:
                lo = mid
                step *= 2
            else:
                hi = mid
                found[hi] = (kn, un, o)
                galloping = False
            if not minimize:
                break
    except SearchLimitExceeded:
        pass  # keep the shortest failing prefix found so far
    kn, un, o = found[hi]
    return _describe_failure(key, ops, ends[hi], kn, un, o, len(known), shortest=hi == lo + 1), configs


def check(history, minimize=True, max_configs=DEFAULT_MAX_CONFIGS, witnesses=True):
    """Check a history (list of dicts, or a History) key by key.

    minimize: on failure, find the shortest failing prefix for the
    explanation: one more search of that key, rarely a binary search
    (minimize=False: at most one more search, the prefix may not be the
    shortest). max_configs: configurations allowed per search of a key
    before SearchLimitExceeded. witnesses: first look for a cheap proof of
    a violation (see _witness: stale reads, lost writes, reads from the
    future, duplicated cas, ...), which needs no search at all; False makes
    every verdict come from the search.
    """
    t0 = time.monotonic()
    if isinstance(history, History):
        history = history.ops
    if not isinstance(history, (list, tuple)):
        raise MalformedHistory("a history is a list of dicts, got %r" % type(history).__name__)
    history = list(history)
    per_key = {}
    dropped = unknown = 0
    for i, rec in enumerate(history):
        o = _normalise(i, rec)
        ops = per_key.setdefault(rec["key"], [])
        if o is None:
            dropped += 1
        else:
            unknown += o.unknown
            ops.append(o)
    _check_processes(history)
    failures = {}
    configs = 0
    for key, ops in per_key.items():
        explain, n = _check_key(key, ops, max_configs, minimize, witnesses)
        configs += n
        if explain is not None:
            failures[key] = explain
    stats = {
        "configs": configs,
        "seconds": time.monotonic() - t0,
        "dropped_ops": dropped,
        "unknown_ops": unknown,
    }
    res = Result(ok=not failures, keys_checked=len(per_key), ops_checked=len(history), stats=stats)
    if failures:
        res.failed_keys = list(failures)
        res.failures = failures
        res.key = res.failed_keys[0]
        res.explain = failures[res.key]
        if len(failures) > 1:
            res.explain += "\nOther keys that are not linearizable: %s" % ", ".join(
                repr(k) for k in res.failed_keys[1:]
            )
    return res


def check_file(path, **kw):
    """check() a JSON file: a list of op dicts (or an object with an "ops" list)."""
    with open(path) as f:
        data = json.load(f)
    if isinstance(data, dict) and "ops" in data:
        data = data["ops"]
    return check(data, **kw)


# ---------------------------------------------------------------------------
# Recorder


class History:
    """Thread-safe history recorder (time.monotonic() timestamps by default).

        h = History()
        t = h.invoke(process, key, "cas", value="v9", expect="v8")
        ...send the request...
        h.complete(t, "ok")            # or "fail_mismatch", "fail_absent", ...
        h.complete(t2, "ok", read=v)   # a get; read=None for 404
        h.unknown(t3)                  # timed out / connection dropped
        check(h) / h.ops / h.dump(path)

    invoke() takes the start time before returning, complete()/unknown() take
    the end time when called: call them just before sending and just after
    the response. A process may have one op in flight at a time. Ops still
    in flight when .ops is read are reported as unknown with end None.
    """

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._ops = []
        self._busy = {}

    def invoke(self, process, key, op, value=None, expect=None):
        if op not in OPS:
            raise ValueError("unknown op %r" % (op,))
        if op in _WRITES_VALUE and value is None:
            raise ValueError("%s needs a value" % op)
        if op == "cas" and expect is None:
            raise ValueError("cas needs expect")
        rec = {"process": process, "key": key, "op": op}
        if op in _WRITES_VALUE:
            rec["value"] = value
        if op == "cas":
            rec["expect"] = expect
        rec["result"] = None
        with self._lock:
            if process in self._busy:
                raise ValueError(
                    "process %r already has op #%d in flight" % (process, self._busy[process])
                )
            rec["start"] = self._clock()
            rec["end"] = None
            token = len(self._ops)
            self._ops.append(rec)
            self._busy[process] = token
        return token

    def _finish(self, token, result, read):
        end = self._clock()
        with self._lock:
            rec = self._ops[token]
            if rec["result"] is not None:
                raise ValueError("op #%d already completed" % token)
            if result not in _ALLOWED[rec["op"]]:
                raise ValueError("%s cannot have result %r" % (rec["op"], result))
            rec["end"] = end
            rec["result"] = result
            if rec["op"] == "get" and result == "ok":
                rec["read"] = read
            del self._busy[rec["process"]]

    def complete(self, token, result, read=None):
        self._finish(token, result, read)

    def unknown(self, token):
        """The outcome is unknown; end records when the client gave up."""
        self._finish(token, "unknown", None)

    @property
    def ops(self):
        with self._lock:
            out = []
            for rec in self._ops:
                d = dict(rec)
                if d["result"] is None:
                    d["result"] = "unknown"
                    d["end"] = None
                out.append(d)
            return out

    def __len__(self):
        with self._lock:
            return len(self._ops)

    def dump(self, path):
        with open(path, "w") as f:
            json.dump(self.ops, f)
