#!/bin/bash
# bench/rebuild.sh BUILD_DIR — rebuild of a replaced drive vs the disk (part of
# `make bench`; `make bench-rebuild` alone).
#
# A single durable server with 4 drive directories on the disk under test
# (BENCH_DIR) is filled with BENCH_REBUILD_OBJS objects of 64 MiB, stopped; one
# drive directory (not the first: it holds the metadata) is replaced by an
# empty one and the server started again: it adopts the directory and rebuilds
# every shard that was there (reading the surviving shards, reconstructing,
# writing, fsyncing). The rebuild runs unthrottled (--rebuild-rate 1 TiB/s); its
# rate (shard bytes written per second, from `cairn admin status`) is compared
# with `dd bs=1M conv=fsync` writing the same number of bytes to the same disk
# in the same run, and with `dd` reading one surviving drive's shards (what a
# rebuild must also read, k of them per block). Results are printed and
# appended to bench/RESULTS.md unless BENCH_NO_RESULTS=1.
#
# Rebuild and dd alternate BENCH_RUNS times (3); medians are quoted, the
# ratio is the median of the paired ratios.
# Knobs: BENCH_REBUILD_OBJS (16), BENCH_RUNS (3), BENCH_DIR (/work/bench-tmp),
# BENCH_NO_RESULTS.
set -euo pipefail
BUILD=${1:-build}
OBJS=${BENCH_REBUILD_OBJS:-16}
REPS=${BENCH_RUNS:-3}
BENCH_DIR=${BENCH_DIR:-/work/bench-tmp}
HERE=$(cd "$(dirname "$0")" && pwd)
LG=$BUILD/bench/loadgen
CAIRN=$BUILD/cairn
. "$HERE/lib.sh"
bench_init rebuild "$BENCH_DIR"
PORT=$(free_port)
EP=http://127.0.0.1:$PORT
DIRS=("$TMP/d0" "$TMP/d1" "$TMP/d2" "$TMP/d3")
VICTIM=${DIRS[2]}

start() {
	"$CAIRN" server --listen "127.0.0.1:$PORT" --quiet --rebuild-rate 1099511627776 "${DIRS[@]}" \
		>>"$TMP/cairn.log" 2>&1 &
	PID=$!
	bench_track $PID
	wait_ready "$PORT" "$PID" 100 && return 0
	cat "$TMP/cairn.log" >&2
	echo "rebuild.sh: cairn did not start" >&2
	exit 1
}
stop() {
	kill "$PID"
	wait "$PID" || true
	PID=""
}
status() { "$CAIRN" admin --endpoint "$EP" status; }

log "fill: $OBJS x 64 MiB into 4 drives under $TMP"
start
"$LG" -e "$EP" --create-bucket -b rebuild -p o- -s 64M -c 2 -n "$OBJS" put >/dev/null 2>"$TMP/lg.err" ||
	{ cat "$TMP/lg.err" >&2; exit 1; }
stop
victim_bytes=$(du -sb "$VICTIM/blobs" | cut -f1)
survivor_bytes=$(du -sb "${DIRS[1]}/blobs" | cut -f1)

rebuild_once() { # -> "bytes seconds rate"
	rm -rf "$VICTIM"
	mkdir "$VICTIM"
	sync
	echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
	start
	local st done_ lost
	while :; do
		st=$(status)
		done_=$(python3 -c 'import json,sys; r=json.loads(sys.argv[1])["rebuild"]; print(1 if r["completed"] > 0 and not r["running"] else 0)' "$st")
		[ "$done_" = 1 ] && break
		kill -0 "$PID" 2>/dev/null || { cat "$TMP/cairn.log" >&2; exit 1; }
		sleep 0.2
	done
	stop
	lost=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["rebuild"]["unrecoverable"])' "$st")
	[ "$lost" = 0 ] || { echo "rebuild.sh: $lost blobs unrecoverable" >&2; exit 1; }
	python3 -c '
import json, sys
r = json.loads(sys.argv[1])["rebuild"]
print(r["last_bytes"], round(r["last_seconds"], 2), r["last_bytes_per_sec"])' "$st"
}
dd_once() { # BYTES -> MB/s
	local out
	out=$(dd if=/dev/zero of="$TMP/dd.out" bs=1M count=$((($1 + 1048575) / 1048576)) conv=fsync 2>&1 |
		awk '/copied/ {print $(NF-1), $NF}')
	rm -f "$TMP/dd.out"
	python3 -c 'import sys; v, u = sys.argv[1], sys.argv[2]; print(round(float(v) * (1000 if u.startswith("G") else 1), 1))' $out
}

# Rebuild and dd alternate, REPS times, so both see the same disk noise.
rb_rates=() dd_rates=() ratios=()
for rep in $(seq "$REPS"); do
	log "rep $rep: replace $VICTIM ($victim_bytes bytes of shards) by an empty directory"
	read -r rb_bytes rb_secs rb_rate < <(rebuild_once)
	rb_mb=$(python3 -c "print(round($rb_rate / 1e6, 1))")
	dd_mb=$(dd_once "$rb_bytes")
	log "rep $rep: rebuild $rb_mb MB/s ($rb_bytes bytes, $rb_secs s), dd $dd_mb MB/s"
	rb_rates+=("$rb_mb")
	dd_rates+=("$dd_mb")
	ratios+=("$(python3 -c "print(round($rb_mb / $dd_mb, 3))")")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
rb_mb=$(median "${rb_rates[@]}")
dd_mb=$(median "${dd_rates[@]}")
ratio=$(median "${ratios[@]}")

sync
echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
t1=$(date +%s.%N)
find "${DIRS[1]}/blobs" -type f -exec cat {} + >/dev/null
rd_secs=$(python3 -c "import time; print(time.time() - $t1)")

rd_mb=$(python3 -c "print(round($survivor_bytes / $rd_secs / 1e6, 1))")
table=$(
	cat <<EOF
| row | MB/s | vs dd write |
|---|---:|---:|
| rebuild of one of 4 drives ($rb_bytes shard bytes; runs ${rb_rates[*]}) | $rb_mb | **${ratio}×** (runs ${ratios[*]}) |
| dd bs=1M conv=fsync, same bytes, same disk (runs ${dd_rates[*]}) | $dd_mb | 1 |
| reading one surviving drive's shards (cold cache) | $rd_mb | — |
EOF
)
echo "$table"
if [ "${BENCH_NO_RESULTS:-}" != 1 ]; then
	{
		echo
		echo "## $(date -u '+%Y-%m-%d %H:%M UTC') — drive rebuild vs dd (bench/rebuild.sh)"
		echo
		echo "Machine: $(machine); data on $(df -h "$BENCH_DIR" | awk 'NR==2 {print $1}') ($BENCH_DIR)."
		echo "Command: \`bench/rebuild.sh\` ($OBJS × 64 MiB, 4 drives, unthrottled, $REPS alternating runs, medians)."
		echo
		echo "$table"
	} >>"$HERE/RESULTS.md"
fi
