#!/bin/bash
# bench/ab_cluster.sh OLD_CAIRN NEW_CAIRN — two builds of the server side by
# side on the 3-node cluster's durable 4 KiB PUT through the leader, at each
# concurrency in CONCS ("32 128"); with OP=get1m, on GETs of 64 objects of
# 1 MiB (2+1 across the nodes) through the leader (CONCS "8"); with OP=get4k,
# on GETs of 1000 objects of 4 KiB (kept in the metadata) through the leader
# (CONCS "32"). A round starts a fresh 3-node cluster of
# one build (bench/lib.sh cluster_start: durable, as `make run` configures a
# node), runs the rows, stops it, then does the same with the other build;
# the order swaps every round. Each row prints PUT/s, p50, and the server
# CPU per PUT (user + system time of all three processes, from
# /proc/PID/stat, over the row); the last lines are the medians of the
# paired new/old ratios. Used for bench/RESULTS.md's A/B sections; not part
# of `make bench`.
# ROUNDS (4), SECS (6 per row), LG_ARGS (extra loadgen options for the
# timed rows, e.g. --raw). The load generator is this tree's (make
# bench-bins), or LG.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
ab_init ab_cluster "$@"
ROUNDS=${ROUNDS:-4}
SECS=${SECS:-6}
OP=${OP:-put4k}
case $OP in
put4k) FILL=(-p f- -s 4K -c 32 -n 300 put) RUN=(-s 4K put) CONCS=${CONCS:-32 128} ;;
get1m) FILL=(-p g- -s 1M -c 4 -n 64 put) RUN=(-p g- -s 1M -k 64 get) CONCS=${CONCS:-8} ;;
get4k) FILL=(-p g- -s 4K -c 32 -n 1000 put) RUN=(-p g- -s 4K -k 1000 get) CONCS=${CONCS:-32} ;;
*) echo "ab_cluster: OP is put4k, get1m or get4k" >&2; exit 2 ;;
esac
CAIRN_CLUSTER_SECRET=$(bench_secret 24)
export CAIRN_CLUSTER_SECRET

cpu_ticks() { # the three nodes' user + system clock ticks
	local p t=0 u s
	for p in "${NPID[@]}"; do
		read -r u s < <(awk '{ print $14, $15 }' "/proc/$p/stat")
		t=$((t + u + s))
	done
	echo "$t"
}

one() { # BIN TAG ROUND: a fresh cluster of BIN, its rows into $TMP/rows
	local c out t0 t1 ops
	mkdir -p "$TMP/$2-$3"
	cluster_start "$1" "$TMP/$2-$3"
	"$LG" -e "$LE" --create-bucket -b bench "${FILL[@]}" >/dev/null 2>&1
	for c in $CONCS; do
		t0=$(cpu_ticks)
		# shellcheck disable=SC2086 # LG_ARGS: loadgen options, split on purpose
		out=$("$LG" -e "$LE" -b bench -p "c$c-" -c "$c" -d "$SECS" ${LG_ARGS:-} "${RUN[@]}" 2>/dev/null |
			grep '^RESULT')
		t1=$(cpu_ticks)
		ops=$(echo "$out" | sed -n 's/.* ops=\([0-9]*\) .*/\1/p')
		echo "$out" | awk -v tag="$2" -v r="$3" -v c="$c" -v t="$((t1 - t0))" -v n="${ops:-0}" \
			-v hz="$(getconf CLK_TCK)" '{
			for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
			printf "%s %s %s %s %s %.0f\n", r, tag, c, f["ops_s"], f["p50_ms"],
				(n > 0 ? t * 1e6 / hz / n : 0) }' >>"$TMP/rows"
	done
	for c in 0 1 2; do
		kill "${NPID[$c]}" 2>/dev/null
		wait "${NPID[$c]}" 2>/dev/null
	done
	rm -rf "${TMP:?}/$2-$3"
}

log "ab_cluster: old $OLD, new $NEW, $ROUNDS rounds, $OP via the leader at c = $CONCS"
: >"$TMP/rows"
for i in $(seq "$ROUNDS"); do
	if [ $((i % 2)) = 1 ]; then
		one "$OLD" old "$i"
		one "$NEW" new "$i"
	else
		one "$NEW" new "$i"
		one "$OLD" old "$i"
	fi
done
echo "round build conc ops/s p50_ms server_cpu_us_per_op"
sort -n -k1,1 -k3,3 "$TMP/rows"
for c in $CONCS; do
	awk -v c="$c" '$3 == c { v[$1 " " $2] = $4; u[$1 " " $2] = $6 }
		END { for (k in v) { split(k, a, " "); if (a[2] == "new" && v[a[1] " old"] > 0)
			print v[k] / v[a[1] " old"], u[k] / u[a[1] " old"] } }' "$TMP/rows" >"$TMP/r$c"
	echo "c=$c median paired new/old: ops/s $(cut -d' ' -f1 "$TMP/r$c" | median)," \
		"CPU per op $(cut -d' ' -f2 "$TMP/r$c" | median)"
done
