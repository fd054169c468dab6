#!/bin/bash
# bench/put_cpu.sh [BUILD] — where a small durable PUT's CPU goes: one server
# as `make run` starts it (plus --quiet), 3,000 objects of SIZE, then ROUNDS
# runs of `loadgen -s SIZE -k 3000 -c 32 -d SECS put`, each printing its rate
# and the CPU per PUT of the server (/proc/PID/stat, all threads) and of the
# load generator (/usr/bin/time). The two share this machine's cores, so
# the rate cannot pass cores / (server + loadgen CPU per PUT).
# SIZE (4K), SECS (6), ROUNDS (3). Used for bench/RESULTS.md's probes of the
# PUT 4 KiB row; not part of `make bench`.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${1:-$HERE/../build}
LG=$BUILD/bench/loadgen
CAIRN=$BUILD/cairn
. "$HERE/lib.sh"
bench_init put-cpu "${TMPDIR:-/tmp}"
SIZE=${SIZE:-4K}
P=$(free_port)
mkdir -p "$TMP/d"
"$CAIRN" server --listen 127.0.0.1:"$P" --quiet "$TMP/d" >"$TMP/log" 2>&1 &
SP=$!
bench_track "$SP"
wait_ready "$P" "$SP" || exit 1
"$LG" -e http://127.0.0.1:"$P" --create-bucket -b bench -p p- -s "$SIZE" -c 32 -n 3000 put >/dev/null 2>&1 ||
	{ echo "put_cpu: fill failed" >&2; exit 1; }
ticks=$(getconf CLK_TCK)
cores=$(nproc)
for r in $(seq 1 "${ROUNDS:-3}"); do
	s0=$(awk '{print $14+$15}' /proc/"$SP"/stat)
	/usr/bin/time -f "%U %S" -o "$TMP/lg.time" "$LG" -e http://127.0.0.1:"$P" -b bench -p p- \
		-s "$SIZE" -k 3000 -c 32 -d "${SECS:-6}" put >"$TMP/lg.out" 2>"$TMP/lg.err" ||
		{ echo "put_cpu: loadgen failed" >&2; tail -3 "$TMP/lg.err" >&2; exit 1; }
	s1=$(awk '{print $14+$15}' /proc/"$SP"/stat)
	ops=$(grep -o ' ops=[0-9]*' "$TMP/lg.out" | cut -d= -f2)
	rate=$(grep -o 'ops_s=[0-9.]*' "$TMP/lg.out" | cut -d= -f2)
	read -r lu ls <"$TMP/lg.time"
	awk -v r="$r" -v rate="$rate" -v ops="$ops" -v s="$((s1 - s0))" -v t="$ticks" -v lu="$lu" -v ls="$ls" -v c="$cores" \
		'BEGIN { sv = s / t * 1e6 / ops; lg = (lu + ls) * 1e6 / ops;
		printf "round %d: %.1f PUT/s, server %.1f us/PUT, loadgen %.1f us/PUT, sum %.1f (%d cores: <= %.0f PUT/s)\n",
		r, rate, sv, lg, sv + lg, c, c * 1e6 / (sv + lg) }'
done
