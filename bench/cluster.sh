#!/bin/bash
# bench/cluster.sh BUILD_DIR — a 3-node cluster against a single node (part of
# `make bench`; `make bench-cluster` alone).
#
# One single-node server and one 3-node cluster, all durable (--fsync always,
# every Raft entry fsynced by libraft), on this machine, fresh temporary
# directories and free loopback ports. Rows alternate single / cluster-leader /
# cluster-follower run by run (BENCH_RUNS, default 3) so each sees the same
# machine noise; the table quotes medians and the median of the paired
# cluster/single ratios. Three nodes on one machine share its two cores and its
# disk: the ratios price replication's work, not a network.
#
# Knobs: BENCH_SECS (per timed row, 10), BENCH_RUNS (3), BENCH_NO_RESULTS=1.
set -euo pipefail

BUILD=${1:-build}
SECS=${BENCH_SECS:-10}
RUNS=${BENCH_RUNS:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
LG=$BUILD/bench/loadgen
CAIRN=$BUILD/cairn
for f in "$LG" "$CAIRN"; do
	[ -x "$f" ] || { echo "cluster.sh: $f not built (make all bench-bins)" >&2; exit 2; }
done

TMP=$(mktemp -d /tmp/cairn-bench-cluster.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_ready() { # PORT PID
	for _ in $(seq 300); do
		kill -0 "$2" 2>/dev/null || return 1
		curl -sf -o /dev/null "http://127.0.0.1:$1/_cairn/health/ready" && return 0
		sleep 0.1
	done
	return 1
}
log() { echo "== $*" >&2; }

export CAIRN_ROOT_USER=bench
CAIRN_ROOT_PASSWORD=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
CAIRN_CLUSTER_SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
export CAIRN_ROOT_PASSWORD CAIRN_CLUSTER_SECRET

# ---- single node ----
SP=$(free_port)
mkdir -p "$TMP/single"
"$CAIRN" server --listen "127.0.0.1:$SP" --quiet "$TMP/single" >"$TMP/single.log" 2>&1 &
PIDS+=($!)
wait_ready "$SP" "${PIDS[0]}" || { cat "$TMP/single.log" >&2; exit 1; }
SE=http://127.0.0.1:$SP

# ---- three nodes ----
declare -a S3P NP
for i in 0 1 2; do
	S3P[$i]=$(free_port)
	NP[$i]=$(free_port)
done
PEERS="127.0.0.1:${NP[0]},127.0.0.1:${NP[1]},127.0.0.1:${NP[2]}"
for i in 0 1 2; do
	mkdir -p "$TMP/n$i"
	"$CAIRN" server --listen "127.0.0.1:${S3P[$i]}" --node "127.0.0.1:${NP[$i]}" \
		--peers "$PEERS" --quiet "$TMP/n$i" >"$TMP/n$i.log" 2>&1 &
	PIDS+=($!)
done
for i in 0 1 2; do
	wait_ready "${S3P[$i]}" "${PIDS[$((i + 1))]}" || { cat "$TMP/n$i.log" >&2; exit 1; }
done
# which node leads (its status says so)
LEADER=""
for i in 0 1 2; do
	if CAIRN_ENDPOINT="http://127.0.0.1:${S3P[$i]}" "$CAIRN" admin cluster status 2>/dev/null |
		grep -q "\"leader_address\": \"127.0.0.1:${NP[$i]}\""; then
		LEADER=$i
	fi
done
[ -n "$LEADER" ] || { echo "cluster.sh: no leader found" >&2; exit 1; }
FOLLOWER=$(((LEADER + 1) % 3))
LE=http://127.0.0.1:${S3P[$LEADER]}
FE=http://127.0.0.1:${S3P[$FOLLOWER]}
log "single $SE; cluster leader $LE, follower $FE; rows of ${SECS}s, $RUNS runs"

RES=$TMP/results
: >"$RES"
lg() { # LABEL ARGS...
	local label=$1
	shift
	log "$label: loadgen $*"
	"$LG" --label "$label" "$@" 2>"$TMP/lg.err" | tee -a "$RES" >&2 || true
	grep -v '^RESULT' "$TMP/lg.err" | head -5 >&2 || true
}

N4K=2000
lg fill.single -e "$SE" --create-bucket -b bench -p g4k- -s 4K -c 32 -n $N4K put
lg fill.cluster -e "$LE" --create-bucket -b bench -p g4k- -s 4K -c 32 -n $N4K put
for r in $(seq "$RUNS"); do
	lg put4k.single -e "$SE" -b bench -p "p$r-" -s 4K -c 32 -d "$SECS" put
	lg put4k.leader -e "$LE" -b bench -p "pl$r-" -s 4K -c 32 -d "$SECS" put
	lg put4k.follower -e "$FE" -b bench -p "pf$r-" -s 4K -c 32 -d "$SECS" put
	lg get4k.single -e "$SE" -b bench -p g4k- -s 4K -k $N4K -c 32 -d "$SECS" get
	lg get4k.leader -e "$LE" -b bench -p g4k- -s 4K -k $N4K -c 32 -d "$SECS" get
	lg get4k.follower -e "$FE" -b bench -p g4k- -s 4K -k $N4K -c 32 -d "$SECS" get
done

field() {
	awk -v l="$1" -v o="$2" -v k="$3" '$1 == "RESULT" {
		split("", f); for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		if (f["label"] == l && f["op"] == o) print f[k] }' "$RES"
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
med() { field "$1" "$2" "$3" | median; }
sum() { field "$1" "$2" "$3" | awk '{ s += $1 } END { print s + 0 }'; }
ratio() { # ROW OP WHO: median over runs of WHO/single ops_s
	paste <(field "$1.$3" "$2" ops_s) <(field "$1.single" "$2" ops_s) |
		awk '$2 > 0 { printf "%.3f\n", $1 / $2 }' | median
}
fmt() { awk -v v="$1" 'BEGIN { if (v == "-" || v == "") print "-"; else printf "%.1f", v }'; }
fmtms() { awk -v v="$1" 'BEGIN { if (v == "-" || v == "") print "-"; else printf "%.2f", v }'; }
row() { # NAME ROW OP WHO
	local r=$2 o=$3 w=$4
	printf '| %s | %s | %s | %s | %s | %s |\n' "$1" \
		"$(fmt "$(med "$r.$w" "$o" ops_s)")" "$(fmtms "$(med "$r.$w" "$o" p50_ms)")" \
		"$(fmtms "$(med "$r.$w" "$o" p99_ms)")" "$(($(sum "$r.$w" "$o" errors) + $(sum "$r.$w" "$o" verify_fail)))" \
		"$([ "$w" = single ] && echo 1 || echo "**$(ratio "$r" "$o" "$w")×**")"
}

TABLE=$TMP/table
{
	echo "| row | ops/s | p50 ms | p99 ms | errors | vs single node |"
	echo "|---|---:|---:|---:|---:|---:|"
	row "PUT 4 KiB, c=32, single node" put4k put single
	row "PUT 4 KiB, c=32, 3 nodes via the leader" put4k put leader
	row "PUT 4 KiB, c=32, 3 nodes via a follower" put4k put follower
	row "GET 4 KiB, c=32, single node" get4k get single
	row "GET 4 KiB, c=32, 3 nodes via the leader" get4k get leader
	row "GET 4 KiB, c=32, 3 nodes via a follower" get4k get follower
} >"$TABLE"
cat "$TABLE"

if [ "${BENCH_NO_RESULTS:-0}" != 1 ]; then
	{
		echo
		echo "## $(date -u +%Y-%m-%d) — 3-node cluster vs single node (bench/cluster.sh)"
		echo
		echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(uname -sr);" \
			"all four servers and the load generator on this machine (shared, noisy)."
		echo "Command: \`make bench\` (bench/cluster.sh, BENCH_SECS=$SECS, BENCH_RUNS=$RUNS); medians over runs;" \
			"ratio = median of paired cluster/single ops/s. Durable: data fsync always, Raft entries fsynced."
		echo
		cat "$TABLE"
	} >>"$HERE/RESULTS.md"
fi
