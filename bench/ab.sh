#!/bin/bash
# bench/ab.sh OLD_CAIRN NEW_CAIRN — two builds of the server side by side on
# the small-request paths a change may touch: per run a fresh server (as
# `make run` starts it, plus --quiet) serves 2,000 objects of 4 KiB, then
# `loadgen -s 4K -k 2000 -c 32 get` and the same `put`, then 100,000 empty
# objects listed a page of 1,000 at a time (`loadgen -c 1 list`). Runs
# alternate old and new; each row prints the pair's rates and their ratio,
# and the last lines the median of the paired ratios (the machine is shared:
# only ratios measured in one run count). Used for bench/RESULTS.md's A/B
# sections; not part of `make bench`.
# PAIRS (3), SECS (8), LIST_KEYS (100000; 0 skips the list row). The load
# generator is this tree's (make bench-bins).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
ab_init ab "$@"
SECS=${SECS:-8}
LIST_KEYS=${LIST_KEYS:-100000}

rate() { grep -o '^RESULT .* ops_s=[0-9.]*' "$1" | grep -o 'ops_s=[0-9.]*' | head -1 | cut -d= -f2; }

one() { # BIN TAG: one server, its three rates into $TMP/TAG
	ab_server "$1" "$2"
	local e=$SRV_EP sp=$SRV_PID
	"$LG" -e "$e" --create-bucket -b bench -p p- -s 4K -c 32 -n 2000 put >/dev/null 2>&1
	"$LG" -e "$e" -b bench -p p- -s 4K -k 2000 -c 32 -d "$SECS" get >"$TMP/g" 2>/dev/null
	"$LG" -e "$e" -b bench -p p- -s 4K -k 2000 -c 32 -d "$SECS" put >"$TMP/p" 2>/dev/null
	local l=-
	if [ "$LIST_KEYS" -gt 0 ]; then
		"$LG" -e "$e" --create-bucket -b benchlist -p l/ -s 0 -c 64 -n "$LIST_KEYS" put \
			>/dev/null 2>&1
		"$LG" -e "$e" -b benchlist -p '' -c 1 -d "$SECS" list >"$TMP/l" 2>/dev/null
		l=$(rate "$TMP/l")
	fi
	kill "$sp" 2>/dev/null
	wait "$sp" 2>/dev/null
	echo "$(rate "$TMP/g") $(rate "$TMP/p") $l" >"$TMP/$2"
}

log "ab: old $OLD, new $NEW, ${PAIRS:-3} pairs of ${SECS}s rows"
: >"$TMP/ratios"
for i in $(seq "${PAIRS:-3}"); do
	one "$OLD" old
	one "$NEW" new
	read -r go po lo <"$TMP/old"
	read -r gn pn ln <"$TMP/new"
	awk -v i="$i" -v go="$go" -v gn="$gn" -v po="$po" -v pn="$pn" -v lo="$lo" -v ln="$ln" \
		'function r(a, b) { return (a > 0 && b != "-") ? b / a : 0 }
		BEGIN { printf "pair %d: GET 4K %s -> %s (%.3f)  PUT 4K %s -> %s (%.3f)  list %s -> %s (%.3f)\n",
			i, go, gn, r(go, gn), po, pn, r(po, pn), lo, ln, r(lo, ln) }'
	awk -v go="$go" -v gn="$gn" -v po="$po" -v pn="$pn" -v lo="$lo" -v ln="$ln" \
		'function r(a, b) { return (a > 0 && b != "-") ? b / a : 0 }
		BEGIN { print r(go, gn), r(po, pn), r(lo, ln) }' >>"$TMP/ratios"
done
for c in 1 2 3; do
	m=$(cut -d' ' -f"$c" "$TMP/ratios" | sort -g | awk '{ v[NR] = $1 } END {
		print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
	echo "median paired ratio new/old, $(echo "GET-4K PUT-4K list" | cut -d' ' -f"$c"): $m"
done
