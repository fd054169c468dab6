#!/bin/bash
# run-tests.sh BUILD_DIR — run every test cairn has and print one total.
#
#   1. unit: each cmocka binary in BUILD_DIR/tests/unit/*/ (counts parsed from
#      "[  PASSED  ] N test(s)." / "[  FAILED  ] N test(s)"; a crash, a timeout
#      or a non-zero exit with nothing parsed counts as one failure)
#   2. integration: pytest over tests/integration and tests/fault with the
#      Debian python3 + boto3 (/usr/bin/python3), CAIRN_BIN=BUILD_DIR/cairn
#   3. integration again with the default `python3` when its boto3 is newer
#      (pytest borrowed from Debian's dist-packages through PYTHONPATH, so the
#      newer boto3/botocore still win)
#   1b. hardening: scripts/check-hardening.sh on BUILD_DIR/cairn (canaries,
#      fortify, PIE, full RELRO); one test per property
#   4. fuzz: replay each build/fuzz/fuzz_* over tests/fuzz/corpus/<name>/, plus
#      a short exploration; one test per target (skipped when CAIRN_SANITIZED=1)
#
# The last line is exactly "N passed, N failed". Exit status is non-zero if
# anything failed or nothing ran. Environment knobs: CAIRN_FUZZ_SECONDS
# (exploration time per target, default 10), CAIRN_UNIT_TIMEOUT (seconds per
# unit binary, default 300), CAIRN_IT_TIMEOUT (seconds per pytest run, 900).
set -uo pipefail

BUILD=${1:-build}
cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
case "$BUILD" in
/*) ;;
*) BUILD="$ROOT/$BUILD" ;;
esac
FUZZ_DIR=${CAIRN_FUZZ_DIR:-$ROOT/build/fuzz}
FUZZ_SECONDS=${CAIRN_FUZZ_SECONDS:-10}
UNIT_TIMEOUT=${CAIRN_UNIT_TIMEOUT:-300}
IT_TIMEOUT=${CAIRN_IT_TIMEOUT:-900}

PASSED=0
FAILED=0
FAILURES=()
TMP=$(mktemp -d /tmp/cairn-tests.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

section() { printf '\n==== %s ====\n' "$*"; }
fail() {
	FAILED=$((FAILED + ${2:-1}))
	FAILURES+=("$1")
}

# ---- 1. unit tests ----
section "unit ($BUILD/tests/unit)"
n_bins=0
for bin in "$BUILD"/tests/unit/*/test_*; do
	[ -f "$bin" ] && [ -x "$bin" ] || continue
	n_bins=$((n_bins + 1))
	name=${bin#"$BUILD"/tests/unit/}
	out="$TMP/unit.out"
	t0=$(date +%s)
	timeout -k 5 "$UNIT_TIMEOUT" "$bin" >"$out" 2>&1
	rc=$?
	secs=$(($(date +%s) - t0))
	p=$(sed -n 's/^\[  PASSED  \] \([0-9][0-9]*\) test(s)\..*/\1/p' "$out" | tail -1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9][0-9]*\) test(s).*/\1/p' "$out" | tail -1)
	p=${p:-0}
	f=${f:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		# crashed, timed out or failed outside a test: the binary failed
		f=1
		if [ "$rc" -ge 124 ]; then
			why="exit $rc (crash/timeout)"
		else
			why="exit $rc"
		fi
	else
		why=""
	fi
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		f=1
		why="ran no tests"
	fi
	PASSED=$((PASSED + p))
	if [ "$f" -gt 0 ]; then
		fail "unit $name${why:+ ($why)}" "$f"
		printf 'FAIL %-40s %d passed, %d failed %s\n' "$name" "$p" "$f" "$why"
		# show what failed, not the whole log
		grep -E '^\[  (FAILED|ERROR)|FAIL|ERROR|Assert|runtime error|Sanitizer|Segmentation' "$out" |
			head -40 | sed 's/^/    /'
		tail -5 "$out" | sed 's/^/    | /'
	else
		printf 'ok   %-40s %d passed (%ds)\n' "$name" "$p" "$secs"
	fi
done
if [ "$n_bins" -eq 0 ]; then
	echo "no unit test binaries in $BUILD/tests/unit"
	fail "unit: no binaries"
fi

# ---- 1b. hardening of the binary (docs/SECURITY.md) ----
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

# ---- 2./3. integration tests ----
# run_pytest LABEL PYTHON PYTHONPATH DIR...
run_pytest() {
	local label=$1 py=$2 pp=$3
	shift 3
	local out="$TMP/pytest.out" rc dirs=()
	section "integration ($label)"
	for d in "$@"; do
		[ -d "$d" ] && dirs+=("$d")
	done
	if [ ${#dirs[@]} -eq 0 ]; then
		echo "no integration test directories"
		fail "integration ($label): ran no tests"
		return
	fi
	CAIRN_BIN="$BUILD/cairn" PYTHONPATH="$pp${PYTHONPATH:+:$PYTHONPATH}" \
		PYTHONDONTWRITEBYTECODE=1 \
		timeout -k 10 "$IT_TIMEOUT" "$py" -m pytest -q -p no:cacheprovider \
		-o console_output_style=classic --durations=8 ${PYTEST_EXTRA:-} "${dirs[@]}" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	# pytest's last line: "3 failed, 40 passed, 1 skipped, 2 errors in 9.1s"
	local summary p f e
	summary=$(grep -E '[0-9]+ (passed|failed|error|errors|skipped|xfailed|xpassed|deselected)|no tests ran' "$out" | tail -1)
	p=$(echo "$summary" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || true)
	f=$(echo "$summary" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' || true)
	e=$(echo "$summary" | grep -oE '[0-9]+ errors?' | grep -oE '[0-9]+' || true)
	xp=$(echo "$summary" | grep -oE '[0-9]+ xpassed' | grep -oE '[0-9]+' || true)
	p=${p:-0}
	f=$((${f:-0} + ${e:-0} + ${xp:-0}))
	PASSED=$((PASSED + p))
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		fail "integration ($label): timed out after ${IT_TIMEOUT}s" $((f > 0 ? f : 1))
	elif [ "$rc" -eq 5 ] || { [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; }; then
		fail "integration ($label): ran no tests (pytest exit $rc)"
	elif [ "$f" -gt 0 ]; then
		fail "integration ($label): $f failed" "$f"
	elif [ "$rc" -ne 0 ]; then
		fail "integration ($label): pytest exit $rc"
	fi
	grep -E '^(FAILED|ERROR) ' "$out" | sed "s|^|  [$label] |" >>"$TMP/it-failures"
}

DEB_PY=/usr/bin/python3
deb_ver=$($DEB_PY -c 'import boto3; print(boto3.__version__)' 2>/dev/null || echo none)
run_pytest "boto3 $deb_ver, $DEB_PY" "$DEB_PY" "" tests/integration tests/fault

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
if [ "$newer" = 1 ] && [ "${CAIRN_SANITIZED:-0}" = 1 ]; then
	# The sanitizer run is about the server's memory safety; the client
	# library's version changes nothing there.
	section "integration (newer boto3)"
	echo "skipped under sanitizers (covered by make test)"
elif [ "$newer" = 1 ]; then
	pp=""
	if ! python3 -c 'import pytest' 2>/dev/null; then
		# Borrow Debian's pytest 7.2 and exactly what it imports; nothing
		# else from dist-packages, so this python's boto3 stays in charge.
		pp="$TMP/pytest-path"
		mkdir -p "$pp"
		for m in pytest _pytest pluggy iniconfig packaging py py.py attr attrs \
			exceptiongroup tomli; do
			[ -e "/usr/lib/python3/dist-packages/$m" ] &&
				ln -s "/usr/lib/python3/dist-packages/$m" "$pp/$m"
		done
		for m in /usr/lib/python3/dist-packages/{pytest,pluggy,iniconfig,attrs,packaging}-*-info; do
			[ -e "$m" ] && ln -s "$m" "$pp/"
		done
	fi
	# Client-side differences only: the fault harness, the CLI tests (aws and
	# rclone run as their own processes) and the admin-CLI scrub tests do
	# not depend on this python's boto3, so they run once (above).
	PYTEST_EXTRA="--ignore=tests/integration/test_clients.py --ignore=tests/integration/test_scrub.py" \
		run_pytest "boto3 $new_ver, $new_py" "$new_py" "$pp" tests/integration
else
	section "integration (newer boto3)"
	echo "skipped: python3 boto3 $new_ver is not newer than Debian's $deb_ver"
fi

# ---- 4. fuzz corpus replay ----
section "fuzz ($FUZZ_DIR)"
if [ "${CAIRN_SANITIZED:-0}" = 1 ]; then
	echo "skipped under sanitizers (CAIRN_SANITIZED=1)"
else
	n_fuzz=0
	for fz in "$FUZZ_DIR"/fuzz_*; do
		[ -f "$fz" ] && [ -x "$fz" ] || continue
		n_fuzz=$((n_fuzz + 1))
		name=$(basename "$fz")
		corpus="$ROOT/tests/fuzz/corpus/$name"
		out="$TMP/fuzz.out"
		if [ ! -d "$corpus" ] || [ -z "$(ls -A "$corpus" 2>/dev/null)" ]; then
			echo "FAIL $name: no corpus in tests/fuzz/corpus/$name"
			fail "fuzz $name: no corpus"
			continue
		fi
		# Replay every corpus file, then explore briefly; new inputs go to
		# a scratch dir so the checked-in corpus changes only by hand.
		scratch="$TMP/corpus-$name"
		mkdir -p "$scratch" "$TMP/art-$name"
		if ! timeout -k 5 120 "$fz" -runs=0 "$corpus" >"$out" 2>&1; then
			echo "FAIL $name: corpus replay"
			tail -30 "$out" | sed 's/^/    | /'
			fail "fuzz $name: corpus replay"
			continue
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
			fail "fuzz $name: crash"
			continue
		fi
		runs=$(grep -oE 'Done [0-9]+ runs' "$out" | tail -1)
		echo "ok   $name ($(ls "$corpus" | wc -l) corpus files; ${runs:-explored})"
		PASSED=$((PASSED + 1))
	done
	if [ "$n_fuzz" -eq 0 ]; then
		echo "no fuzz binaries in $FUZZ_DIR"
		fail "fuzz: no binaries"
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
