#!/bin/bash
# bench/scale.sh BUILD_DIR — is the cost of GET/PUT/LIST flat in bucket size?
# (`make bench-scale`; issue #17's "10^7 vs 10^5" row.)
#
# Two durable servers (the configuration `make run` starts) on temporary
# directories: one holds a bucket `scale` of SMALL objects (default 10^5),
# the other the same bucket filled to LARGE (default 10^7). The rows then
# alternate between the two run by run, so both see the same machine noise
# (this machine is shared: runs minutes apart differ by more than the effect
# measured). Rows, each BENCH_SECS long, BENCH_RUNS times per server:
#   GET   random existing key, c=32, body verified
#   PUT   overwrite of a random existing key, c=32 (durable)
#   LIST  ListObjectsV2 pages of 1000 walked with continuation tokens, c=1
# the ratio large/small is the median of the paired ratios. Also per row:
# the server's minor page faults per op (first touches of LMDB map pages),
# and each server's memory at the end: VmHWM (peak RSS), RssAnon (heap: what
# the process owns) and RssFile (LMDB's read-only map: page cache the kernel
# can drop, counted in RSS because the map is shared with it).
#
# Objects are BENCH_SCALE_SIZE bytes (default 64: 10^7 of them fill through
# the S3 front end in ~15 minutes here; their size is not what is being
# measured). Keys are o/%08d, filled in order.
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

declare -A PID EP
for ph in small large; do
	port=$(free_port)
	mkdir -p "$TMP/$ph"
	"$CAIRN" server --listen "127.0.0.1:$port" --quiet "$TMP/$ph" >"$TMP/$ph.log" 2>&1 &
	PID[$ph]=$!
	bench_track "${PID[$ph]}"
	wait_port "$port" "${PID[$ph]}" || { cat "$TMP/$ph.log" >&2; exit 1; }
	EP[$ph]=http://127.0.0.1:$port
done
declare -A N=([small]=$SMALL [large]=$LARGE)

mem() { # PHASE: one MEM line from /proc/PID/status (KiB)
	awk -v p="$1" '/^VmHWM:/ {h=$2} /^RssAnon:/ {a=$2} /^RssFile:/ {f=$2}
		END { printf "MEM phase=%s hwm_kb=%d anon_kb=%d file_kb=%d\n", p, h, a, f }' \
		"/proc/${PID[$1]}/status" | tee -a "$RES" >&2
}
# A server's page faults (minor, major) so far: a row's delta says how
# much of it went to mapping LMDB pages the process had not touched yet.
flt() { awk '{ print $10, $12 }' "/proc/${PID[$1]}/stat"; }
row() { # OP PHASE: one run of the row against that phase's server
	local op=$1 ph=$2 f0 f1 args
	case $op in
	get | put) args=(-s "$SIZE" -k "${N[$ph]}" -c 32) ;;
	list) args=(-c 1) ;;
	esac
	f0=$(flt "$ph")
	lg "$op.$ph" -e "${EP[$ph]}" -b scale -p o/ "${args[@]}" -d "$SECS" "$op"
	f1=$(flt "$ph")
	echo "$op.$ph $f0 $f1" | awk '{ printf "FAULTS label=%s minflt=%d majflt=%d\n", $1, $4 - $2, $5 - $3 }' |
		tee -a "$RES" >&2
}

T0=$(date +%s)
lg fill.small -e "${EP[small]}" --create-bucket -b scale -p o/ -s "$SIZE" -c 64 -n "$SMALL" put
lg fill.large -e "${EP[large]}" --create-bucket -b scale -p o/ -s "$SIZE" -c 64 -n "$LARGE" put
for _ in $(seq "$RUNS"); do
	for op in get put list; do
		row "$op" small
		row "$op" large
	done
done
mem small
mem large
DB_KB=$(du -sk "$TMP/large" | cut -f1)

# ---- table ----
memf() { sed -n "s/^MEM phase=$1 .*$2=\([0-9]*\).*/\1/p" "$RES" | awk '{ printf "%.0f", $1 / 1024 }'; }
fpo() { # LABEL OP: the row's minor faults per op, over all its runs
	local n
	n=$(sum "$1" "$2" ops)
	awk -v l="$1" -v n="$n" '$1 == "FAULTS" && $2 == "label=" l { split($3, kv, "="); f += kv[2] }
		END { if (n > 0) printf "%.2f", f / n; else print "-" }' "$RES"
}
TABLE=$TMP/table
{
	echo "| row | $SMALL objects | $LARGE objects | paired ratio (target >= 0.9) | p99 ms small / large | errors |"
	echo "|---|---:|---:|---:|---:|---:|"
	for r in "GET $SIZE B random key, c=32:get:get" "PUT $SIZE B overwrite random key, c=32 (durable):put:put" \
		"LIST page of 1000 (continuation walk), c=1:list:list"; do
		IFS=: read -r name l op <<<"$r"
		echo "| $name | $(med "$l.small" "$op" ops_s)/s | $(med "$l.large" "$op" ops_s)/s |" \
			"**$(paired_ratio "$l.large" "$op" "$l.small" "$op" ops_s)×** |" \
			"$(med "$l.small" "$op" p99_ms) / $(med "$l.large" "$op" p99_ms) |" \
			"$(($(sum "$l.small" "$op" errors) + $(sum "$l.large" "$op" errors)))|"
	done
	for r in GET:get PUT:put LIST:list; do
		IFS=: read -r name l <<<"$r"
		echo "| server minor page faults per $name (first touch of LMDB map pages) |" \
			"$(fpo "$l.small" "$l") | $(fpo "$l.large" "$l") | | | |"
	done
	echo "| server memory: peak RSS (VmHWM) | $(memf small hwm_kb) MiB | $(memf large hwm_kb) MiB | | | |"
	echo "| of which heap (RssAnon) at the end | $(memf small anon_kb) MiB | $(memf large anon_kb) MiB | | | |"
	echo "| of which LMDB map (RssFile, page cache) | $(memf small file_kb) MiB | $(memf large file_kb) MiB | | | |"
	echo
	echo "Fill: $(med fill.small put ops_s) PUT/s to $SMALL, $(med fill.large put ops_s) PUT/s to $LARGE" \
		"(c=64, $SIZE B, errors $(($(sum fill.small put errors) + $(sum fill.large put errors))));" \
		"the large server's data directory $((DB_KB / 1024)) MiB at the end; whole run $(($(date +%s) - T0)) s."
	echo "Two servers, rows alternating small/large run by run; medians of $RUNS runs of ${SECS}s per" \
		"row and server; ratio = median of the paired large/small ratios."
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
