#!/bin/bash
# bench/ab_put.sh OLD_CAIRN NEW_CAIRN — two builds of the server side by side
# on the single-stream durable PUT (`loadgen -s SIZE -c 1 -n 1 put`), with
# `dd bs=1M conv=fsync` of the same bytes into the same filesystem after
# each pair. Both servers run at once (as `make run` starts them, plus
# --quiet); the pair's order swaps every round, and every run starts after a
# sync and a pause, because a large write leaves the disk busy for a while
# after it returns and slows whoever writes next (a build against itself
# read 0.75x in the second slot of each pair without the swap). Each round
# prints the three rates and new/old; the last line is the median of the
# paired ratios. Used for bench/RESULTS.md's A/B sections; not part of
# `make bench`.
# SIZE (64M), ROUNDS (7), PAUSE (1 s; 6 s for 1G: a shorter pause still
# favoured the first of each pair). The load generator is this tree's
# (make bench-bins).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
ab_init ab_put "$@"
SIZE=${SIZE:-64M}
ROUNDS=${ROUNDS:-7}
PAUSE=${PAUSE:-1}
BYTES=$(numfmt --from=iec "$SIZE")

start() { # BIN TAG: a server, its endpoint in EP_TAG
	ab_server "$1" "$2"
	declare -g "EP_$2=$SRV_EP"
	"$LG" -e "$SRV_EP" --create-bucket -b bench -p x- -s 4K -c 1 -n 1 put >/dev/null 2>&1
}

put() { # TAG ROUND: MiB/s of one PUT
	sync
	sleep "$PAUSE"
	local ep=EP_$1
	"$LG" -e "${!ep}" -b bench -p "r$2-" -s "$SIZE" -c 1 -n 1 put 2>/dev/null |
		grep -o 'mib_s=[0-9.]*' | cut -d= -f2
}

dd_rate() {
	local s
	sync
	sleep "$PAUSE"
	s=$(dd_fsync_secs "$BYTES")
	awk -v b="$BYTES" -v s="$s" 'BEGIN { printf "%.1f", (s > 0 ? b / s / 1048576 : 0) }'
}

start "$OLD" old
start "$NEW" new
log "ab_put: old $OLD, new $NEW, $ROUNDS rounds of one $SIZE PUT each"
: >"$TMP/ratios"
for i in $(seq "$ROUNDS"); do
	if [ $((i % 2)) = 1 ]; then
		o=$(put old "$i")
		n=$(put new "$i")
	else
		n=$(put new "$i")
		o=$(put old "$i")
	fi
	d=$(dd_rate)
	awk -v i="$i" -v o="${o:-0}" -v n="${n:-0}" -v d="$d" 'BEGIN {
		printf "round %d: old %s MiB/s (%.3fx dd)  new %s MiB/s (%.3fx dd)  dd %s MiB/s  new/old %.3f\n",
			i, o, (d > 0 ? o / d : 0), n, (d > 0 ? n / d : 0), d, (o > 0 ? n / o : 0) }'
	awk -v o="${o:-0}" -v n="${n:-0}" 'BEGIN { if (o > 0) print n / o }' >>"$TMP/ratios"
done
echo "median paired ratio new/old, PUT $SIZE: $(median <"$TMP/ratios")"
