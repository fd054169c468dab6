#!/bin/bash
# bench/scale.sh BUILD_DIR — is the cost of GET/PUT/LIST flat in bucket size?
# (`make bench-scale`; issue #17's "10^7 vs 10^5" row.)
#
# One durable server (the configuration `make run` starts) on a temporary
# directory. Phase 1 fills bucket `scale` with SMALL objects (default 10^5)
# and runs the rows; phase 2 fills the same bucket up to LARGE (default 10^7)
# and runs the same rows again. Rows, each BENCH_SECS long, BENCH_RUNS times:
#   GET   random existing key, c=32, body verified
#   PUT   overwrite of a random existing key, c=32 (durable)
#   LIST  ListObjectsV2 pages of 1000 walked with continuation tokens, c=1
# and the server's memory after each phase: VmHWM (peak RSS), RssAnon (heap:
# what the process owns) and RssFile (LMDB's read-only map: page cache the
# kernel can drop, counted in RSS because the map is shared with it).
#
# Objects are BENCH_SCALE_SIZE bytes (default 64: 10^7 of them fill through
# the S3 front end in ~15-20 minutes here; their size is not what is being
# measured). Keys are o/%08d, filled in order. The ratio large/small is the
# median of the runs of each phase (phases cannot alternate: the small phase
# must run before the fill).
#
# Knobs: BENCH_SECS (8), BENCH_RUNS (3), BENCH_SCALE_SMALL (100000),
# BENCH_SCALE_LARGE (10000000), BENCH_SCALE_SIZE (64), BENCH_SCALE_DIR (a
# directory on the disk under test; default a mktemp dir under /var/tmp),
# BENCH_NO_RESULTS=1 (do not append to bench/RESULTS.md).
set -euo pipefail

BUILD=${1:-build}
SECS=${BENCH_SECS:-8}
RUNS=${BENCH_RUNS:-3}
SMALL=${BENCH_SCALE_SMALL:-100000}
LARGE=${BENCH_SCALE_LARGE:-10000000}
SIZE=${BENCH_SCALE_SIZE:-64}
HERE=$(cd "$(dirname "$0")" && pwd)
LG=$BUILD/bench/loadgen
CAIRN=$BUILD/cairn
. "$HERE/lib.sh"
bench_init scale "${BENCH_SCALE_DIR:-/var/tmp}"

PORT=$(free_port)
mkdir -p "$TMP/data"
"$CAIRN" server --listen "127.0.0.1:$PORT" --quiet "$TMP/data" >"$TMP/cairn.log" 2>&1 &
CAIRN_PID=$!
bench_track $CAIRN_PID
wait_port "$PORT" "$CAIRN_PID" || { cat "$TMP/cairn.log" >&2; exit 1; }
E=http://127.0.0.1:$PORT

mem() { # PHASE: one MEM line from /proc/PID/status (KiB)
	awk -v p="$1" '/^VmHWM:/ {h=$2} /^RssAnon:/ {a=$2} /^RssFile:/ {f=$2}
		END { printf "MEM phase=%s hwm_kb=%d anon_kb=%d file_kb=%d\n", p, h, a, f }' \
		"/proc/$CAIRN_PID/status" | tee -a "$RES" >&2
}
rows() { # PHASE N
	for _ in $(seq "$RUNS"); do
		lg "get.$1" -e "$E" -b scale -p o/ -s "$SIZE" -k "$2" -c 32 -d "$SECS" get
		lg "put.$1" -e "$E" -b scale -p o/ -s "$SIZE" -k "$2" -c 32 -d "$SECS" put
		lg "list.$1" -e "$E" -b scale -p o/ -c 1 -d "$SECS" list
	done
	mem "$1"
}

T0=$(date +%s)
lg fill.small -e "$E" --create-bucket -b scale -p o/ -s "$SIZE" -c 64 -n "$SMALL" put
rows small "$SMALL"
lg fill.large -e "$E" -b scale -p o/ -s "$SIZE" -c 64 -n "$LARGE" put
rows large "$LARGE"
DB_KB=$(du -sk "$TMP/data" | cut -f1)

# ---- table ----
memf() { sed -n "s/^MEM phase=$1 .*$2=\([0-9]*\).*/\1/p" "$RES" | awk '{ printf "%.0f", $1 / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "nan" }'; }
TABLE=$TMP/table
{
	echo "| row | $SMALL objects | $LARGE objects | ratio (target >= 0.9) | p99 ms small / large | errors |"
	echo "|---|---:|---:|---:|---:|---:|"
	for r in "GET $SIZE B random key, c=32:get:get" "PUT $SIZE B overwrite random key, c=32 (durable):put:put" \
		"LIST page of 1000 (continuation walk), c=1:list:list"; do
		IFS=: read -r name l op <<<"$r"
		s=$(med "$l.small" "$op" ops_s)
		L=$(med "$l.large" "$op" ops_s)
		echo "| $name | $s/s | $L/s | **$(ratio "$L" "$s")×** |" \
			"$(med "$l.small" "$op" p99_ms) / $(med "$l.large" "$op" p99_ms) |" \
			"$(($(sum "$l.small" "$op" errors) + $(sum "$l.large" "$op" errors)))|"
	done
	echo "| server memory: peak RSS (VmHWM) | $(memf small hwm_kb) MiB | $(memf large hwm_kb) MiB | | | |"
	echo "| of which heap (RssAnon) at the end of the phase | $(memf small anon_kb) MiB | $(memf large anon_kb) MiB | | | |"
	echo "| of which LMDB map (RssFile, page cache) | $(memf small file_kb) MiB | $(memf large file_kb) MiB | | | |"
	echo
	echo "Fill: $(med fill.small put ops_s) PUT/s to $SMALL, $(med fill.large put ops_s) PUT/s to $LARGE" \
		"(c=64, $SIZE B, errors $(($(sum fill.small put errors) + $(sum fill.large put errors))));" \
		"data directory $((DB_KB / 1024)) MiB at the end; whole run $(($(date +%s) - T0)) s."
	echo "Medians of $RUNS runs of ${SECS}s per row and phase; ratio = large / small."
} >"$TABLE"
cat "$TABLE"

if [ "${BENCH_NO_RESULTS:-0}" != 1 ]; then
	{
		echo
		echo "## $(date -u '+%Y-%m-%d %H:%M UTC') — cost vs bucket size (bench/scale.sh) — $(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null || echo '?')"
		echo
		echo "Machine: $(machine) at the end (shared machine). Command: \`make bench-scale\`" \
			"(BENCH_SECS=$SECS BENCH_RUNS=$RUNS BENCH_SCALE_SMALL=$SMALL BENCH_SCALE_LARGE=$LARGE BENCH_SCALE_SIZE=$SIZE)."
		echo
		cat "$TABLE"
		echo
		raw_results
	} >>"$HERE/RESULTS.md"
	echo "scale.sh: appended to bench/RESULTS.md" >&2
fi
