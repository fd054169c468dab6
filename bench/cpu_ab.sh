#!/bin/bash
# bench/cpu_ab.sh OLD_CAIRN NEW_CAIRN — two builds of the server compared by
# the CPU each spends per request, not only by rate: on this shared 2-core
# machine the rate swings with whatever else runs, while a server's CPU
# time per request (/proc/PID/stat, all threads) moves far less. Per round a
# fresh server of each build (as `make run` starts it, plus --quiet) gets
# 2,000 objects of SIZE, then `loadgen -s SIZE -k 2000 -c 32 -d SECS OP`;
# the order of the two swaps every round. Each round prints both rates and
# CPU per request; the last lines the medians of the paired new/old ratios.
# OP (get; or put), SIZE (4K), SECS (6), ROUNDS (6), LG_ARGS (extra loadgen
# options for the timed run, e.g. --raw). Used for
# bench/RESULTS.md's A/B sections; not part of `make bench`.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
ab_init cpu_ab "$@"
OP=${OP:-get}
SIZE=${SIZE:-4K}
SECS=${SECS:-6}
case "$OP" in
get | put) ;;
*)
	echo "cpu_ab: OP=$OP: use get or put" >&2
	exit 2
	;;
esac
ticks=$(getconf CLK_TCK)

one() { # BIN TAG: "rate us-per-op" of one fresh server into $TMP/TAG
	local s0 s1 ops rate
	ab_server "$1" "$2"
	"$LG" -e "$SRV_EP" --create-bucket -b bench -p p- -s "$SIZE" -c 32 -n 2000 put \
		>/dev/null 2>&1 || { echo "cpu_ab: fill failed" >&2; exit 1; }
	s0=$(awk '{print $14+$15}' /proc/"$SRV_PID"/stat)
	# shellcheck disable=SC2086 # LG_ARGS: loadgen options, split on purpose
	"$LG" -e "$SRV_EP" -b bench -p p- -s "$SIZE" -k 2000 -c 32 -d "$SECS" ${LG_ARGS:-} "$OP" \
		>"$TMP/lg" 2>/dev/null || { echo "cpu_ab: loadgen failed" >&2; exit 1; }
	s1=$(awk '{print $14+$15}' /proc/"$SRV_PID"/stat)
	kill "$SRV_PID" 2>/dev/null
	wait "$SRV_PID" 2>/dev/null
	ops=$(grep -o '^RESULT .* ops=[0-9]*' "$TMP/lg" | grep -o ' ops=[0-9]*' | cut -d= -f2)
	rate=$(grep -o '^RESULT .* ops_s=[0-9.]*' "$TMP/lg" | grep -o 'ops_s=[0-9.]*' | cut -d= -f2)
	[ -n "$ops" ] && [ "$ops" -gt 0 ] || { echo "cpu_ab: no ops" >&2; exit 1; }
	awk -v r="$rate" -v s="$((s1 - s0))" -v t="$ticks" -v n="$ops" \
		'BEGIN { printf "%s %.2f\n", r, s / t * 1e6 / n }' >"$TMP/$2"
}

median() { sort -g | awk '{ v[NR] = $1 } END {
	print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

log "cpu_ab: old $OLD, new $NEW, ${ROUNDS:-6} rounds of $OP $SIZE c=32 ${SECS}s"
: >"$TMP/ratios"
for i in $(seq "${ROUNDS:-6}"); do
	if [ $((i % 2)) -eq 1 ]; then
		one "$OLD" old
		one "$NEW" new
	else
		one "$NEW" new
		one "$OLD" old
	fi
	read -r ro co <"$TMP/old"
	read -r rn cn <"$TMP/new"
	awk -v i="$i" -v ro="$ro" -v rn="$rn" -v co="$co" -v cn="$cn" 'BEGIN {
		printf "round %d: %s/s %.1f us -> %s/s %.1f us per request (rate %.3f, CPU %.3f)\n",
			i, ro, co, rn, cn, rn / ro, cn / co
		print rn / ro, cn / co >> "/dev/stderr" }' 2>>"$TMP/ratios"
done
echo "median paired ratio new/old: rate $(cut -d' ' -f1 "$TMP/ratios" | median)," \
	"server CPU per request $(cut -d' ' -f2 "$TMP/ratios" | median)"
