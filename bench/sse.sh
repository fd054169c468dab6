#!/bin/bash
# bench/sse.sh BUILD_DIR — server-side encryption cost (`make bench`, or
# `make bench-sse` alone): SSE-S3 PUT and GET of 1 MiB and 64 MiB objects
# as a ratio to the same rows unencrypted, on one durable cairn server.
#
# Two buckets: bench-plain, and bench-sse whose default encryption is
# SSE-S3 (so loadgen needs no SSE headers: every PUT into it is sealed,
# every GET opened and verified byte-exact). Rows alternate plain/sse run
# by run (BENCH_RUNS, default 3) so both see the same machine noise; the
# table quotes medians and the median of the paired sse/plain ratios.
# Appended to bench/RESULTS.md unless BENCH_NO_RESULTS=1.
#
# Knobs: BENCH_SECS (per timed row, default 8), BENCH_RUNS (3).
set -euo pipefail

BUILD=${1:-build}
SECS=${BENCH_SECS:-8}
RUNS=${BENCH_RUNS:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
LG=$BUILD/bench/loadgen
CAIRN=$BUILD/cairn
. "$HERE/lib.sh"
bench_init sse /tmp

CPORT=$(free_port)
mkdir -p "$TMP/cairn"
"$CAIRN" server --listen "127.0.0.1:$CPORT" --quiet "$TMP/cairn" >"$TMP/cairn.log" 2>&1 &
CAIRN_PID=$!
bench_track $CAIRN_PID
wait_ready "$CPORT" "$CAIRN_PID" || { cat "$TMP/cairn.log" >&2; exit 1; }
CE=http://127.0.0.1:$CPORT

signed() { # METHOD PATH [curl args...]
	local m=$1 p=$2
	shift 2
	curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$CAIRN_ROOT_USER:$CAIRN_ROOT_PASSWORD" \
		-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -X "$m" "$@" "$CE$p"
}
signed PUT /bench-plain >/dev/null
signed PUT /bench-sse >/dev/null
signed PUT "/bench-sse?encryption=" --data-binary \
	'<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>' >/dev/null
signed GET "/bench-sse?encryption=" | grep -q AES256 || { echo "sse.sh: bucket default encryption not set" >&2; exit 1; }

N1M=100
N64M=6
for b in plain sse; do
	lg fill1m.$b -e "$CE" -b bench-$b -p g1m- -s 1M -c 8 -n $N1M put
	lg fill64m.$b -e "$CE" -b bench-$b -p g64m- -s 64M -c 2 -n $N64M put
done
for i in $(seq "$RUNS"); do
	for b in plain sse; do
		lg put1m.$b -e "$CE" -b bench-$b -p p1m- -s 1M -c 8 -d "$SECS" put
		lg put64m.$b -e "$CE" -b bench-$b -p p64m- -s 64M -c 2 -k 4 -d "$SECS" put
		lg get1m.$b -e "$CE" -b bench-$b -p g1m- -s 1M -k $N1M -c 8 -d "$SECS" get
		lg get64m.$b -e "$CE" -b bench-$b -p g64m- -s 64M -k $N64M -c 2 -d "$SECS" get
	done
done
RSS_KB=$(awk '/^VmHWM:/ {print $2}' "/proc/$CAIRN_PID/status")

ratio() { paired_ratio "$1.sse" "$2" "$1.plain" "$2" mib_s; } # BASE OP: sse/plain MiB/s
fmt() { awk -v v="$1" 'BEGIN { if (v == "-" || v == "") print "-"; else printf "%.1f", v }'; }
fmtms() { awk -v v="$1" 'BEGIN { if (v == "-" || v == "") print "-"; else printf "%.2f", v }'; }
row() { # NAME BASE OP
	local b=$2 o=$3
	printf '| %s | %s | %s | %s | %s | %s | %s | **%s×** |\n' "$1" \
		"$(fmt "$(med "$b.plain" "$o" mib_s)")" "$(fmtms "$(med "$b.plain" "$o" p50_ms)")" \
		"$(fmt "$(med "$b.sse" "$o" mib_s)")" "$(fmtms "$(med "$b.sse" "$o" p50_ms)")" \
		"$(fmtms "$(med "$b.sse" "$o" p99_ms)")" \
		"$(($(sum "$b.sse" "$o" errors) + $(sum "$b.sse" "$o" verify_fail) + $(sum "$b.plain" "$o" errors) + $(sum "$b.plain" "$o" verify_fail)))" \
		"$(ratio "$b" "$o")"
}

TABLE=$TMP/table
{
	echo "| row | plain MiB/s | plain p50 ms | SSE-S3 MiB/s | SSE-S3 p50 ms | SSE-S3 p99 ms | errors | SSE-S3/plain |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|"
	row "PUT 1 MiB, c=8 (durable)" put1m put
	row "GET 1 MiB, c=8" get1m get
	row "PUT 64 MiB, c=2 (durable)" put64m put
	row "GET 64 MiB, c=2" get64m get
	echo
	echo "Median of $RUNS runs alternating plain/SSE-S3, rows of ${SECS}s; ratio = median of paired" \
		"MiB/s ratios. Every GET body verified byte-exact. cairn peak RSS (VmHWM): $((RSS_KB / 1024)) MiB." \
		"AES-NI: $(grep -q -w aes /proc/cpuinfo && echo yes || echo no)."
} >"$TABLE"
echo >&2
cat "$TABLE"

if [ "${BENCH_NO_RESULTS:-0}" != 1 ]; then
	{
		echo
		echo "## SSE $(date -u '+%Y-%m-%d %H:%M UTC') — $(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null || echo '?')"
		echo
		echo "\`bench/sse.sh\` (\`make bench-sse\`). Machine: $(machine) at the end of the run" \
			"(shared machine: only ratios from one run count)."
		echo
		cat "$TABLE"
		echo
		raw_results
	} >>"$HERE/RESULTS.md"
	echo "sse.sh: appended to bench/RESULTS.md" >&2
fi
