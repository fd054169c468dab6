#!/bin/bash
# run-fuzz.sh [SECONDS] — explore every libFuzzer target in build/fuzz for
# SECONDS each (default 300), growing its corpus in tests/fuzz/corpus/<name>/.
# A crash leaves its input next to the target (crash-*); turn it into a corpus
# file and a regression test. Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
secs=${1:-300}
[ "$secs" = long ] && secs=${CAIRN_FUZZ_LONG_SECONDS:-300}
pass=0
failn=0
for fz in build/fuzz/fuzz_*; do
	[ -x "$fz" ] || continue
	name=$(basename "$fz")
	corpus=tests/fuzz/corpus/$name
	mkdir -p "$corpus"
	echo "==== $name: ${secs}s ===="
	if "$fz" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix=build/fuzz/"$name"- \
		"$corpus" 2>&1 | tail -15; then
		pass=$((pass + 1))
	else
		failn=$((failn + 1))
	fi
done
[ $((pass + failn)) -eq 0 ] && { echo "no fuzz targets built"; exit 1; }
echo "$pass passed, $failn failed"
[ "$failn" -eq 0 ]
