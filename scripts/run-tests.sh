#!/bin/bash
# run-tests.sh BUILD_DIR [TEST [FILTER]] — run cairn's tests and print one total.
#
# Without TEST, everything:
#   1. unit: each cmocka binary in BUILD_DIR/tests/unit/*/, run with
#      CMOCKA_MESSAGE_OUTPUT=XML; counts come from the JUnit XML it writes.
#      A crash, a timeout, a non-zero exit with no failed case, no XML or an
#      XML with zero cases counts as one failure.
#   1b. hardening: scripts/check-hardening.sh on BUILD_DIR/cairn (canaries,
#      fortify, PIE, full RELRO); one test per property
#   1c. format: scripts/check-format.sh (every tracked C file matches
#      .clang-format); one test
#   2. integration: pytest over tests/integration and tests/fault, then
#      tests/cluster in its own run (3- and 5-node clusters behind proxies)
#      with the Debian python3 + boto3 (/usr/bin/python3),
#      CAIRN_BIN=BUILD_DIR/cairn; counts come from pytest's --junitxml
#   3. integration again with the default `python3` when its boto3 is newer
#      (pytest borrowed from Debian's dist-packages through PYTHONPATH, so the
#      newer boto3/botocore still win)
#   4. fuzz: replay each build/fuzz/fuzz_* over tests/fuzz/corpus/<name>/, plus
#      a short exploration; one test per target (skipped when CAIRN_SANITIZED=1)
#   5. thread sanitizer (make tsan sets CAIRN_TSAN_REPORTS, the directory its
#      TSAN_OPTIONS log_path writes to): every distinct report any process
#      of the run wrote (a unit binary, a server, a CLI call) is one failure;
#      the directory is emptied first and kept for a look
#
# TEST runs one thing instead (make test T=... F=...), never hardening or fuzz:
#   <module>/<test_binary>   that unit binary; FILTER is a cmocka glob over its
#                            case names, handed over as CAIRN_TEST_FILTER
#                            (tests/unit/common/unit.h)
#   integration/<file>.py, fault/<file>.py, cluster/<file>.py, integration,
#   fault, cluster           that pytest file or directory in each python pass
#                            (fault and cluster tests and the suites the second
#                            pass skips run in the first only); FILTER is a -k expression,
#                            or ::<name> appended to the path
#
# The last line is exactly "N passed, N failed". Exit status is non-zero if
# anything failed or nothing ran. JUnit XML files are kept for CI in
# build/test-results/ (build/test-results/<variant>/ for BUILD_DIR=build/<variant>),
# replaced on every run. Environment knobs: CAIRN_TEST_PY (debian or newer: only
# that integration pass), CAIRN_FUZZ_SECONDS (exploration time per target,
# default 10), CAIRN_UNIT_TIMEOUT (seconds per unit binary, default 300),
# CAIRN_IT_TIMEOUT (seconds per pytest run, 1500), CAIRN_JOBS (pytest workers
# for a directory of tests and fuzz targets at once; default the CPU count,
# at most 4).
#
# Why workers: the integration tests wait far more than they compute (fsync,
# process start, elections, client subprocesses): on 2 cores a serial run
# kept the CPUs ~40% busy. pytest-xdist's --dist loadfile keeps each file on
# one worker (module fixtures and test order hold); every test already binds
# its own port and data directory. Past ~4 workers the longest file (the
# aws/rclone client tests, ~80 s) sets the time. A single file or -k filter
# runs in one process, as before, so its output stays in order.
set -uo pipefail

BUILD=${1:-build}
TEST=${2:-}
FILTER=${3:-}
cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
case "$BUILD" in
/*) ;;
*) BUILD="$ROOT/$BUILD" ;;
esac
BUILD=${BUILD%/}
FUZZ_DIR=${CAIRN_FUZZ_DIR:-$ROOT/build/fuzz}
FUZZ_SECONDS=${CAIRN_FUZZ_SECONDS:-10}
UNIT_TIMEOUT=${CAIRN_UNIT_TIMEOUT:-300}
IT_TIMEOUT=${CAIRN_IT_TIMEOUT:-1500}
TEST_PY=${CAIRN_TEST_PY:-}
DEB_PY=/usr/bin/python3
JOBS=${CAIRN_JOBS:-$(nproc 2>/dev/null || echo 1)}
case "$JOBS" in
'' | *[!0-9]*)
	echo "run-tests.sh: CAIRN_JOBS=$JOBS: use a number" >&2
	exit 2
	;;
esac
[ "$JOBS" -lt 1 ] && JOBS=1
[ "$JOBS" -gt 4 ] && JOBS=4

case "$TEST" in
"") KIND=all ;;
integration | integration/* | fault | fault/* | cluster | cluster/*.py*) KIND=pytest ;;
*) KIND=unit ;;
esac
if [ -n "$FILTER" ] && [ "$KIND" = all ]; then
	echo "run-tests.sh: FILTER needs TEST" >&2
	exit 2
fi
case "$TEST_PY" in
"" | debian | newer) ;;
*)
	echo "run-tests.sh: CAIRN_TEST_PY=$TEST_PY: use debian or newer" >&2
	exit 2
	;;
esac

case "$BUILD" in
"$ROOT/build") RESULTS=$ROOT/build/test-results ;;
"$ROOT"/build/*) RESULTS=$ROOT/build/test-results/${BUILD#"$ROOT"/build/} ;;
*) RESULTS=$BUILD/test-results ;;
esac
mkdir -p "$RESULTS" || exit 2
rm -f "$RESULTS"/*.xml

PASSED=0
FAILED=0
FAILURES=()
if [ -n "${CAIRN_TSAN_REPORTS:-}" ]; then
	rm -rf "$CAIRN_TSAN_REPORTS" && mkdir -p "$CAIRN_TSAN_REPORTS" || exit 2
fi
TMP=$(mktemp -d /tmp/cairn-tests.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

section() { printf '\n==== %s ====\n' "$*"; }
fail() {
	FAILED=$((FAILED + ${2:-1}))
	FAILURES+=("$1")
}

# junit XML: print "PASSED FAILED SKIPPED" (one line), then one indented
# line per failed case with its message. A case with a <failure> or <error>
# failed, one with <skipped> was skipped, any other passed. Exit 3 when the
# file is missing, 4 when it holds no test case, 5 when it does not parse.
cat >"$TMP/junit.py" <<'EOF'
import os
import sys
import xml.etree.ElementTree as ET

try:
    root = ET.parse(sys.argv[1]).getroot()
except OSError as e:
    print("0 0 0")
    print("    no JUnit XML written (%s)" % e.strerror)
    sys.exit(3)
except ET.ParseError as e:
    print("0 0 0")
    print("    unreadable JUnit XML: %s" % e)
    sys.exit(5)
passed = failed = skipped = 0
lines = []
for case in root.iter("testcase"):
    bad = [c for c in case if c.tag in ("failure", "error")]
    if case.find("skipped") is not None and not bad:
        skipped += 1
        continue
    if not bad:
        passed += 1
        continue
    failed += 1
    name = case.get("name", "?")
    if case.get("classname"):  # pytest: back to a node id, to paste into F=
        parts = case.get("classname").split(".")
        for i in range(len(parts), 0, -1):
            if os.path.isfile("/".join(parts[:i]) + ".py"):
                parts = ["/".join(parts[:i]) + ".py"] + parts[i:]
                break
        name = "::".join(parts + [name])
    for b in bad:
        kind = "FAILED" if b.tag == "failure" else "ERROR"
        if b.get("message"):  # pytest: the traceback is on the console
            text = b.get("message").strip().splitlines()[:1]
        else:  # cmocka: the text is all there is
            text = (b.text or "").strip().splitlines()[:10]
        if len(text) == 1 and len(text[0]) < 160:
            lines.append("    %s %s - %s" % (kind, name, text[0]))
        else:
            lines.append("    %s %s" % (kind, name))
            lines += ["        " + t[:300] for t in text]
print(passed, failed, skipped)
if lines:
    print("\n".join(lines))
sys.exit(0 if passed + failed + skipped else 4)
EOF
junit() { "$DEB_PY" "$TMP/junit.py" "$1"; }

# ---- 1. unit tests ----
# run_unit BINARY: run one cmocka binary, count its cases from its XML
run_unit() {
	local bin=$1 name xml out="$TMP/unit.out" t0 rc secs jrc p f s why=""
	name=${bin#"$BUILD"/tests/unit/}
	xml="$RESULTS/unit-${name//\//-}.xml"
	# cmocka 1.1.5 writes CMOCKA_XML_FILE only if it does not exist yet
	# (else the XML goes to stderr); one group per binary, so no "%g".
	rm -f "$xml"
	t0=$(date +%s)
	CAIRN_TEST_FILTER="$FILTER" CMOCKA_MESSAGE_OUTPUT=XML CMOCKA_XML_FILE="$xml" \
		timeout -k 5 "$UNIT_TIMEOUT" "$bin" >"$out" 2>&1
	rc=$?
	secs=$(($(date +%s) - t0))
	junit "$xml" >"$TMP/junit.out"
	jrc=$?
	read -r p f s <"$TMP/junit.out"
	if [ "$jrc" -eq 3 ]; then
		f=1
		if [ "$rc" -ge 124 ]; then
			why="exit $rc (crash/timeout), no results"
		else
			why="exit $rc, no results"
		fi
	elif [ "$jrc" -eq 4 ]; then
		f=1
		why="ran no tests${FILTER:+ (no case matches F=$FILTER)}"
	elif [ "$jrc" -ne 0 ]; then
		f=1
		why="unreadable results"
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		# failed outside a test (a leak report at exit, a crash in teardown)
		f=1
		why="exit $rc"
	fi
	PASSED=$((PASSED + p))
	if [ "$f" -gt 0 ]; then
		fail "unit $name${why:+ ($why)}" "$f"
		printf 'FAIL %-40s %d passed, %d failed %s\n' "$name" "$p" "$f" "$why"
		tail -n +2 "$TMP/junit.out" | head -60
		# what the binary itself printed: sanitizer reports, crashes
		if [ -s "$out" ]; then
			grep -E 'runtime error|Sanitizer|Segmentation|Assert|ERROR' "$out" |
				head -20 | sed 's/^/    /'
			tail -5 "$out" | sed 's/^/    | /'
		fi
	else
		printf 'ok   %-40s %d passed%s (%ds)\n' "$name" "$p" \
			"$([ "$s" -gt 0 ] && echo ", $s skipped")" "$secs"
	fi
}

if [ "$KIND" = all ] || [ "$KIND" = unit ]; then
	section "unit ($BUILD/tests/unit)"
	if [ "$KIND" = unit ]; then
		bin="$BUILD/tests/unit/$TEST"
		if [ -f "$bin" ] && [ -x "$bin" ]; then
			run_unit "$bin"
		else
			echo "FAIL $TEST: no unit test binary $bin"
			fail "unit $TEST: not built"
		fi
	else
		n_bins=0
		for bin in "$BUILD"/tests/unit/*/test_*; do
			[ -f "$bin" ] && [ -x "$bin" ] || continue
			n_bins=$((n_bins + 1))
			run_unit "$bin"
		done
		if [ "$n_bins" -eq 0 ]; then
			echo "no unit test binaries in $BUILD/tests/unit"
			fail "unit: no binaries"
		fi
	fi
fi

# ---- 1b. hardening of the binary (docs/SECURITY.md) ----
if [ "$KIND" = all ]; then
	section "hardening ($BUILD/cairn)"
	if [ "${CAIRN_SANITIZED:-0}" = 1 ]; then
		echo "skipped under sanitizers (the sanitizer build drops fortify by design)"
	else
		out="$TMP/harden.out"
		scripts/check-hardening.sh "$BUILD/cairn" >"$out" 2>&1
		cat "$out"
		hp=$(grep -c '^ok ' "$out")
		hf=$(grep -c '^FAIL' "$out")
		PASSED=$((PASSED + hp))
		if [ "$hf" -gt 0 ] || [ "$hp" -eq 0 ]; then
			fail "hardening: $hf propert(ies) missing" $((hf > 0 ? hf : 1))
		fi
	fi
fi

# ---- 1c. source formatting (.clang-format; fix with make format) ----
if [ "$KIND" = all ] && [ "${CAIRN_SANITIZED:-0}" != 1 ]; then
	section "format"
	if scripts/check-format.sh >"$TMP/format.out" 2>&1; then
		tail -1 "$TMP/format.out"
		PASSED=$((PASSED + 1))
	else
		cat "$TMP/format.out"
		fail "format: files differ from .clang-format (make format)"
	fi
fi

# ---- 2./3. integration tests ----
# run_pytest LABEL SUITE PYTHON PYTHONPATH [PYTEST_ARG...] -- PATH...
# Results go to RESULTS/SUITE.xml. PATHs that do not exist are dropped; none
# left is a failure.
run_pytest() {
	local label=$1 suite=$2 xml="$RESULTS/$2.xml" py=$3 pp=$4
	shift 4
	local out="$TMP/pytest.out" rc jrc p f s args=() paths=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		args+=("$1")
		shift
	done
	[ $# -gt 0 ] && shift
	for d in "$@"; do
		[ -e "${d%%::*}" ] && paths+=("$d")
	done
	section "integration ($label)"
	if [ ${#paths[@]} -eq 0 ]; then
		echo "no integration tests at $*"
		fail "integration ($label): ran no tests"
		return
	fi
	rm -f "$xml"
	# Workers for whole directories only (see CAIRN_JOBS above).
	local par=() whole=1
	for d in "${paths[@]}"; do
		[ -d "$d" ] || whole=0
	done
	for d in "${args[@]+"${args[@]}"}"; do
		[ "$d" = -k ] && whole=0
	done
	if [ "$JOBS" -gt 1 ] && [ "$whole" = 1 ]; then
		if PYTHONPATH="$pp${PYTHONPATH:+:$PYTHONPATH}" "$py" -c 'import xdist' 2>/dev/null; then
			par=(-n "$JOBS" --dist loadfile)
			echo "($JOBS workers, one file each at a time)"
		else
			echo "(pytest-xdist missing for $py: one process; scripts/install-deps.sh test installs it)"
		fi
	fi
	# shellcheck disable=SC2086 # PYTEST_EXTRA is a list of options
	CAIRN_BIN="$BUILD/cairn" PYTHONPATH="$pp${PYTHONPATH:+:$PYTHONPATH}" \
		PYTHONDONTWRITEBYTECODE=1 \
		timeout -k 10 "$IT_TIMEOUT" "$py" -m pytest -q -p no:cacheprovider \
		-o console_output_style=classic --durations=8 --junitxml="$xml" -o junit_suite_name="$suite" \
		"${par[@]+"${par[@]}"}" ${PYTEST_EXTRA:-} "${args[@]+"${args[@]}"}" "${paths[@]}" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	junit "$xml" >"$TMP/junit.out"
	jrc=$?
	read -r p f s <"$TMP/junit.out"
	PASSED=$((PASSED + p))
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		fail "integration ($label): timed out after ${IT_TIMEOUT}s" $((f > 0 ? f : 1))
	elif [ "$jrc" -eq 3 ]; then
		fail "integration ($label): no results (pytest exit $rc)"
	elif [ "$jrc" -eq 5 ]; then
		fail "integration ($label): unreadable results (pytest exit $rc)"
	elif [ "$rc" -eq 5 ] || [ "$jrc" -eq 4 ] || { [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; }; then
		fail "integration ($label): ran no tests (pytest exit $rc)"
	elif [ "$f" -gt 0 ]; then
		fail "integration ($label): $f failed" "$f"
	elif [ "$rc" -ne 0 ]; then
		fail "integration ($label): pytest exit $rc"
	fi
	tail -n +2 "$TMP/junit.out" | sed "s|^ *|  [$label] |" >>"$TMP/it-failures"
}

# What pytest runs: everything, or TEST narrowed by FILTER.
if [ "$KIND" = pytest ]; then
	it_args=()
	it_paths=("tests/$TEST")
	case "$FILTER" in
	"") ;;
	::*) it_paths=("tests/$TEST$FILTER") ;;
	*) it_args=(-k "$FILTER") ;;
	esac
fi
# The second pass covers client-side differences only: the fault harness, the
# CLI tests (aws and rclone run as their own processes), the admin-CLI scrub
# tests and the web console's browser tests (selenium is Debian's) do not
# depend on this python's boto3, so they run once (first pass). Nor do drive
# replacement and backup/restore (80 s of the second pass): boto3 only writes
# and reads objects through them, and what the server stores of a PUT (its
# default CRC64NVME among it) does not depend on the client.
NEWER_SKIP=(tests/integration/test_clients.py tests/integration/test_scrub.py
	tests/integration/test_console.py tests/integration/test_drive_replace.py
	tests/integration/test_backup.py)

if [ "$KIND" = all ] || [ "$KIND" = pytest ]; then
	deb_ver=$($DEB_PY -c 'import boto3; print(boto3.__version__)' 2>/dev/null || echo none)
	deb_label="boto3 $deb_ver, $DEB_PY"
	if [ "$TEST_PY" = newer ]; then
		section "integration ($deb_label)"
		echo "skipped: CAIRN_TEST_PY=newer"
	elif [ "$KIND" = all ]; then
		run_pytest "$deb_label" integration-debian "$DEB_PY" "" -- tests/integration tests/fault
		# its own run: tests/cluster has a conftest.py of its own, and the
		# integration tests import theirs by module name
		run_pytest "cluster, $deb_label" cluster-debian "$DEB_PY" "" -- tests/cluster
	else
		run_pytest "$deb_label" integration-debian "$DEB_PY" "" "${it_args[@]+"${it_args[@]}"}" \
			-- "${it_paths[@]}"
	fi

	# A newer boto3 on the default python3 sends what current clients send
	# (CRC trailers, conditional headers); run the same tests with it.
	new_py=$(command -v python3 || true)
	new_ver=$(python3 -c 'import boto3; print(boto3.__version__)' 2>/dev/null || echo none)
	newer=0
	if [ -n "$new_py" ] && [ "$new_ver" != none ] && [ "$deb_ver" != none ] &&
		[ "$(readlink -f "$new_py")" != "$(readlink -f $DEB_PY)" ]; then
		newer=$(python3 -c '
import sys
def v(s): return tuple(int(x) for x in s.split(".")[:3] if x.isdigit())
print(1 if v(sys.argv[1]) > v(sys.argv[2]) else 0)' "$new_ver" "$deb_ver")
	fi
	once=""
	if [ "$KIND" = pytest ]; then
		case "$TEST" in
		fault | fault/* | cluster | cluster/*) once=1 ;;
		esac
		for t in "${NEWER_SKIP[@]}"; do
			[ "tests/$TEST" = "$t" ] && once=1
		done
	fi
	if [ "$TEST_PY" = debian ]; then
		section "integration (newer boto3)"
		echo "skipped: CAIRN_TEST_PY=debian"
	elif [ "$newer" = 1 ] && [ "${CAIRN_SANITIZED:-0}" = 1 ]; then
		# The sanitizer run is about the server's memory safety; the client
		# library's version changes nothing there.
		section "integration (newer boto3)"
		echo "skipped under sanitizers (covered by make test)"
	elif [ "$newer" = 1 ] && [ -n "$once" ]; then
		section "integration (newer boto3)"
		echo "skipped: tests/$TEST runs in the Debian pass only"
	elif [ "$newer" = 1 ]; then
		pp=""
		if ! python3 -c 'import pytest' 2>/dev/null; then
			# Borrow Debian's pytest 7.2 and exactly what it imports; nothing
			# else from dist-packages, so this python's boto3 stays in charge.
			pp="$TMP/pytest-path"
			mkdir -p "$pp"
			for m in pytest _pytest pluggy iniconfig packaging py py.py attr attrs \
				exceptiongroup tomli xdist execnet; do
				[ -e "/usr/lib/python3/dist-packages/$m" ] &&
					ln -s "/usr/lib/python3/dist-packages/$m" "$pp/$m"
			done
			for m in /usr/lib/python3/dist-packages/{pytest,pluggy,iniconfig,attrs,packaging,pytest_xdist,execnet}-*-info; do
				[ -e "$m" ] && ln -s "$m" "$pp/"
			done
		fi
		ignores=()
		for t in "${NEWER_SKIP[@]}"; do
			ignores+=("--ignore=$t")
		done
		if [ "$KIND" = all ]; then
			run_pytest "boto3 $new_ver, $new_py" integration-newer "$new_py" "$pp" \
				"${ignores[@]}" -- tests/integration
		else
			run_pytest "boto3 $new_ver, $new_py" integration-newer "$new_py" "$pp" \
				"${ignores[@]}" "${it_args[@]+"${it_args[@]}"}" -- "${it_paths[@]}"
		fi
	else
		section "integration (newer boto3)"
		echo "skipped: python3 boto3 $new_ver is not newer than Debian's $deb_ver"
	fi
fi

# ---- 4. fuzz corpus replay ----
# fuzz_one BINARY: replay its corpus, then explore briefly; new inputs go to a
# scratch dir so the checked-in corpus changes only by hand. Writes what it
# has to say to $TMP/fuzz-NAME.out and its verdict (ok, or the failure) as
# the first line of $TMP/fuzz-NAME.verdict, so JOBS of them can run at once
# (each target is one single-threaded process) and report in name order.
fuzz_one() {
	local fz=$1 name corpus out scratch runs
	name=$(basename "$fz")
	corpus="$ROOT/tests/fuzz/corpus/$name"
	out="$TMP/fuzz-$name.log"
	exec >"$TMP/fuzz-$name.out" 2>&1
	if [ ! -d "$corpus" ] || [ -z "$(ls -A "$corpus" 2>/dev/null)" ]; then
		echo "FAIL $name: no corpus in tests/fuzz/corpus/$name"
		echo "fuzz $name: no corpus" >"$TMP/fuzz-$name.verdict"
		return
	fi
	scratch="$TMP/corpus-$name"
	mkdir -p "$scratch" "$TMP/art-$name"
	if ! timeout -k 5 120 "$fz" -runs=0 "$corpus" >"$out" 2>&1; then
		echo "FAIL $name: corpus replay"
		tail -30 "$out" | sed 's/^/    | /'
		echo "fuzz $name: corpus replay" >"$TMP/fuzz-$name.verdict"
		return
	fi
	if ! timeout -k 5 $((FUZZ_SECONDS + 60)) "$fz" -max_total_time="$FUZZ_SECONDS" \
		-timeout=10 -rss_limit_mb=2048 -artifact_prefix="$TMP/art-$name/" \
		"$scratch" "$corpus" >"$out" 2>&1; then
		echo "FAIL $name: exploration found a crash"
		tail -40 "$out" | sed 's/^/    | /'
		ls "$TMP/art-$name" | sed 's/^/    artifact: /'
		mkdir -p "$ROOT/build/fuzz-artifacts"
		cp "$TMP/art-$name"/* "$ROOT/build/fuzz-artifacts/" 2>/dev/null &&
			echo "    (saved under build/fuzz-artifacts/)"
		echo "fuzz $name: crash" >"$TMP/fuzz-$name.verdict"
		return
	fi
	runs=$(grep -oE 'Done [0-9]+ runs' "$out" | tail -1)
	echo "ok   $name ($(ls "$corpus" | wc -l) corpus files; ${runs:-explored})"
	echo ok >"$TMP/fuzz-$name.verdict"
}

if [ "$KIND" = all ]; then
	section "fuzz ($FUZZ_DIR)"
	if [ "${CAIRN_SANITIZED:-0}" = 1 ]; then
		echo "skipped under sanitizers (CAIRN_SANITIZED=1)"
	else
		fuzzers=()
		for fz in "$FUZZ_DIR"/fuzz_*; do
			[ -f "$fz" ] && [ -x "$fz" ] && fuzzers+=("$fz")
		done
		running=0
		for fz in "${fuzzers[@]+"${fuzzers[@]}"}"; do
			if [ "$running" -ge "$JOBS" ]; then
				wait -n
				running=$((running - 1))
			fi
			fuzz_one "$fz" &
			running=$((running + 1))
		done
		wait
		for fz in "${fuzzers[@]+"${fuzzers[@]}"}"; do
			name=$(basename "$fz")
			cat "$TMP/fuzz-$name.out" 2>/dev/null
			verdict=$(head -1 "$TMP/fuzz-$name.verdict" 2>/dev/null)
			if [ "$verdict" = ok ]; then
				PASSED=$((PASSED + 1))
			else
				[ -n "$verdict" ] || echo "FAIL $name: no verdict (the runner died)"
				fail "${verdict:-fuzz $name: no verdict}"
			fi
		done
		if [ ${#fuzzers[@]} -eq 0 ]; then
			echo "no fuzz binaries in $FUZZ_DIR"
			fail "fuzz: no binaries"
		fi
	fi
fi

# ---- 5. thread sanitizer reports (make tsan) ----
# A race in a server does not fail the request that met it, so the reports
# are the verdict: one failure per distinct SUMMARY line (its first frame of
# ours), with the first report of each printed. Suppressed ones
# (tests/tsan.supp) never reach the files.
if [ -n "${CAIRN_TSAN_REPORTS:-}" ]; then
	section "thread sanitizer ($CAIRN_TSAN_REPORTS)"
	files=$(find "$CAIRN_TSAN_REPORTS" -type f | sort)
	if [ -z "$files" ]; then
		echo "no reports"
		PASSED=$((PASSED + 1))
	else
		# shellcheck disable=SC2086 # one file name per word
		grep -h '^SUMMARY: ThreadSanitizer' $files | sort | uniq -c | sort -rn >"$TMP/tsan.sum"
		cat "$TMP/tsan.sum"
		# shellcheck disable=SC2086
		awk '/^WARNING: ThreadSanitizer/ { n++ } n == 1' $files | head -60
		k=$(wc -l <"$TMP/tsan.sum")
		[ "$k" -gt 0 ] || k=1 # a file without a SUMMARY line: a report cut short
		fail "thread sanitizer: $k distinct report(s) in $(echo "$files" | wc -l) process(es)" "$k"
	fi
fi

section "summary"
if [ -s "$TMP/it-failures" ]; then
	head -60 "$TMP/it-failures"
	n=$(wc -l <"$TMP/it-failures")
	[ "$n" -gt 60 ] && echo "  ... and $((n - 60)) more"
fi
for f in "${FAILURES[@]+"${FAILURES[@]}"}"; do
	echo "  failed: $f"
done
echo "$PASSED passed, $FAILED failed"
if [ "$FAILED" -ne 0 ] || [ "$PASSED" -eq 0 ]; then
	exit 1
fi
exit 0
