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
. "$HERE/lib.sh"
bench_init cluster /tmp
CAIRN_CLUSTER_SECRET=$(bench_secret 24)
export CAIRN_CLUSTER_SECRET

# ---- single node ----
SP=$(free_port)
mkdir -p "$TMP/single"
"$CAIRN" server --listen "127.0.0.1:$SP" --quiet "$TMP/single" >"$TMP/single.log" 2>&1 &
SPID=$!
bench_track $SPID
wait_ready "$SP" "$SPID" || { cat "$TMP/single.log" >&2; exit 1; }
SE=http://127.0.0.1:$SP

# ---- three nodes ----
cluster_start "$CAIRN" "$TMP"
log "single $SE; cluster leader $LE, follower $FE; rows of ${SECS}s, $RUNS runs"

N4K=2000
lg fill.single -e "$SE" --create-bucket -b bench -p g4k- -s 4K -c 32 -n $N4K put
lg fill.cluster -e "$LE" --create-bucket -b bench -p g4k- -s 4K -c 32 -n $N4K put
for r in $(seq "$RUNS"); do
	lg put4k.single -e "$SE" -b bench -p "p$r-" -s 4K -c 32 -d "$SECS" --raw put
	lg put4k.leader -e "$LE" -b bench -p "pl$r-" -s 4K -c 32 -d "$SECS" --raw put
	lg put4k.follower -e "$FE" -b bench -p "pf$r-" -s 4K -c 32 -d "$SECS" --raw put
	lg put4kc.single -e "$SE" -b bench -p "pc$r-" -s 4K -c 32 -d "$SECS" put
	lg put4kc.leader -e "$LE" -b bench -p "plc$r-" -s 4K -c 32 -d "$SECS" put
	lg get4k.single -e "$SE" -b bench -p g4k- -s 4K -k $N4K -c 32 -d "$SECS" --raw get
	lg get4k.leader -e "$LE" -b bench -p g4k- -s 4K -k $N4K -c 32 -d "$SECS" --raw get
	lg get4k.follower -e "$FE" -b bench -p g4k- -s 4K -k $N4K -c 32 -d "$SECS" --raw get
done
# large objects: erasure-coded across the nodes (2+1) against one node's own drive
lg fill1m.single -e "$SE" -b bench -p g1m- -s 1M -c 4 -n 64 put
lg fill1m.cluster -e "$LE" -b bench -p g1m- -s 1M -c 4 -n 64 put
lg fill64m.single -e "$SE" -b bench -p g64m- -s 64M -c 1 -n 3 put
lg fill64m.cluster -e "$LE" -b bench -p g64m- -s 64M -c 1 -n 3 put
for r in $(seq "$RUNS"); do
	lg put1m.single -e "$SE" -b bench -p "q$r-" -s 1M -c 4 -d "$SECS" put
	lg put1m.leader -e "$LE" -b bench -p "ql$r-" -s 1M -c 4 -d "$SECS" put
	lg get1m.single -e "$SE" -b bench -p g1m- -s 1M -k 64 -c 8 -d "$SECS" get
	lg get1m.leader -e "$LE" -b bench -p g1m- -s 1M -k 64 -c 8 -d "$SECS" get
	lg put64m.single -e "$SE" -b bench -p "r$r-" -s 64M -c 1 -n 3 put
	lg put64m.leader -e "$LE" -b bench -p "rl$r-" -s 64M -c 1 -n 3 put
	lg get64m.single -e "$SE" -b bench -p g64m- -s 64M -k 3 -c 1 -n 6 get
	lg get64m.leader -e "$LE" -b bench -p g64m- -s 64M -k 3 -c 1 -n 6 get
done

# backfill: a follower misses 1 GiB of writes, then returns; its shards are
# rebuilt from the other two (heal entries). Against dd of the same bytes.
blobs_bytes() { du -sb "$TMP/n$1/blobs" 2>/dev/null | awk '{print $1}'; }
heal_entries() { # from the leader's metrics: cheap enough to poll every 50 ms
	curl -sf "$LE/_cairn/metrics" | awk '$1 == "cairn_heal_entries" { print $2; f = 1 } END { if (!f) print -1 }'
}
BF=$FOLLOWER
kill -9 "${NPID[$BF]}"
wait "${NPID[$BF]}" 2>/dev/null || true
lg bfill.leader -e "$LE" -b bench -p bf- -s 4M -c 4 -n 256 put
before=$(blobs_bytes "$BF")
t0=$(date +%s.%N)
cluster_node_start "$BF"
wait_ready "${S3P[$BF]}" "${NPID[$BF]}" || { cat "$TMP/n$BF.log" >&2; exit 1; }
tr=$(date +%s.%N)
for _ in $(seq 12000); do
	[ "$(heal_entries)" = 0 ] && break
	sleep 0.05
done
t1=$(date +%s.%N)
after=$(blobs_bytes "$BF")
BF_BYTES=$((after - before))
BF_MBS=$(awk -v b="$BF_BYTES" -v a="$t0" -v z="$t1" 'BEGIN { printf "%.1f", b / (z - a) / 1048576 }')
BF_READY_MBS=$(awk -v b="$BF_BYTES" -v a="$tr" -v z="$t1" 'BEGIN { printf "%.1f", b / (z - a) / 1048576 }')
DD_MBS=$(dd if=/dev/zero of="$TMP/dd.bin" bs=1M count=$((BF_BYTES / 1048576 + 1)) conv=fsync 2>&1 |
	awk '/copied/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9.]+$/ && $(i + 1) ~ /^(MB|GB|kB)\/s/) {
		v = $i; u = $(i + 1) } } END { if (u ~ /^GB/) v *= 1000; if (u ~ /^kB/) v /= 1000; printf "%.1f", v * 1e6 / 1048576 }')
rm -f "$TMP/dd.bin"
log "backfill: $BF_BYTES bytes in $(awk -v a="$t0" -v z="$t1" 'BEGIN { printf "%.2f", z - a }') s (restart included): $BF_MBS MiB/s, $BF_READY_MBS MiB/s from ready; dd $DD_MBS MiB/s"

ratio() { paired_ratio "$1.$3" "$2" "$1.single" "$2" ops_s; } # ROW OP WHO: WHO/single ops_s
fmt() { awk -v v="$1" 'BEGIN { if (v == "-" || v == "") print "-"; else printf "%.1f", v }'; }
mibs() { # ROW.WHO OP SIZE_MIB: median MiB/s
	field "$1" "$2" ops_s | awk -v s="$3" '{ printf "%.1f\n", $1 * s }' | median
}
mbrow() { # NAME ROW OP WHO SIZE_MIB
	local r=$2 o=$3 w=$4
	printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$(mibs "$r.$w" "$o" "$5") MiB/s" \
		"$(fmtms "$(med "$r.$w" "$o" p50_ms)")" "$(fmtms "$(med "$r.$w" "$o" p99_ms)")" \
		"$(($(sum "$r.$w" "$o" errors) + $(sum "$r.$w" "$o" verify_fail)))" \
		"$([ "$w" = single ] && echo 1 || echo "**$(ratio "$r" "$o" "$w")×**")"
}
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
	row "PUT 4 KiB, c=32, single node, libcurl client" put4kc put single
	row "PUT 4 KiB, c=32, 3 nodes via the leader, libcurl client" put4kc put leader
	row "GET 4 KiB, c=32, single node" get4k get single
	row "GET 4 KiB, c=32, 3 nodes via the leader" get4k get leader
	row "GET 4 KiB, c=32, 3 nodes via a follower" get4k get follower
	mbrow "PUT 1 MiB, c=4, single node" put1m put single 1
	mbrow "PUT 1 MiB, c=4, 3 nodes (2+1 across nodes)" put1m put leader 1
	mbrow "GET 1 MiB, c=8, single node" get1m get single 1
	mbrow "GET 1 MiB, c=8, 3 nodes (2+1 across nodes)" get1m get leader 1
	mbrow "PUT 64 MiB, one stream, single node" put64m put single 64
	mbrow "PUT 64 MiB, one stream, 3 nodes" put64m put leader 64
	mbrow "GET 64 MiB, one stream, single node" get64m get single 64
	mbrow "GET 64 MiB, one stream, 3 nodes" get64m get leader 64
	printf '| backfill of a returning node (%s MiB of shards), from its restart | %s MiB/s | | | | **%s× dd** (%s MiB/s) |\n' \
		"$((BF_BYTES / 1048576))" "$BF_MBS" \
		"$(awk -v a="$BF_MBS" -v b="$DD_MBS" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')" "$DD_MBS"
	printf '| same, from the node being ready (50 ms polls) | %s MiB/s | | | | **%s× dd** |\n' \
		"$BF_READY_MBS" \
		"$(awk -v a="$BF_READY_MBS" -v b="$DD_MBS" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
} >"$TABLE"
cat "$TABLE"

if [ "${BENCH_NO_RESULTS:-0}" != 1 ]; then
	{
		echo
		echo "## $(date -u '+%Y-%m-%d %H:%M UTC') — 3-node cluster vs single node (bench/cluster.sh, $(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null || echo '?'))"
		echo
		echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(uname -sr);" \
			"all four servers and the load generator on this machine (shared, noisy)."
		echo "Command: \`make bench\` (bench/cluster.sh, BENCH_SECS=$SECS, BENCH_RUNS=$RUNS); medians over runs;" \
			"ratio = median of paired cluster/single ops/s. Durable: data fsync always, Raft entries fsynced." \
			"4 KiB rows: loadgen's own HTTP client (\`--raw\`) unless the row says libcurl; larger objects: libcurl."
		echo
		cat "$TABLE"
	} >>"$HERE/RESULTS.md"
fi
