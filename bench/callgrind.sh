#!/bin/bash
# bench/callgrind.sh [TREE...] — instructions the server executes per small
# request, counted by valgrind's callgrind: the same count for the same
# binary and requests whatever else this shared machine is doing, so a
# change of a few percent in per-request CPU shows where a rate A/B drowns
# in noise. For each git work tree given (default: this one) a copy of its
# files is built with the LMDB map at 4 GiB instead of 64 (valgrind cannot
# map 64 GiB; nothing else differs), started under callgrind, given 2,000
# objects of 4 KiB, and counted over N (20000) `loadgen -c 32` GETs and then
# N PUTs (overwrites), each from zeroed counters. Prints one line per tree
# and request: total instructions and instructions per request; the
# callgrind files stay in OUT (default $TMPDIR) for callgrind_annotate.
#
# What it does not see: the kernel (syscalls, TCP), and valgrind's CPU is
# not this one: SHA-256 runs without the SHA extensions (~20k of a GET's
# instructions that take ~3k here) and `rep stosb` counts one per byte.
# Used for bench/RESULTS.md; not part of `make bench`.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$HERE/../build
LG=$BUILD/bench/loadgen
CAIRN=$BUILD/cairn
. "$HERE/lib.sh"
command -v valgrind >/dev/null || { echo "callgrind: valgrind missing (make bench-deps)" >&2; exit 2; }
bench_init callgrind "${TMPDIR:-/tmp}"
N=${N:-20000}
OUT=${OUT:-${TMPDIR:-/tmp}}
[ $# -gt 0 ] || set -- "$HERE/.."

count() { # FILE: total instructions in a callgrind dump
	callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'
}

i=0
for tree in "$@"; do
	i=$((i + 1))
	src=$TMP/src-$i
	mkdir -p "$src"
	(cd "$tree" && git ls-files -co --exclude-standard | tar -cf - -T -) | tar -xf - -C "$src" ||
		{ echo "callgrind: cannot copy $tree" >&2; exit 1; }
	grep -q '64ull << 30;' "$src/src/meta/store.c" ||
		{ echo "callgrind: $tree: the map size line moved (src/meta/store.c)" >&2; exit 1; }
	sed -i 's/64ull << 30;/4ull << 30;/' "$src/src/meta/store.c"
	make -s -j"$(nproc)" -C "$src" BUILD="$TMP/b-$i" "$TMP/b-$i/cairn" >"$TMP/make-$i" 2>&1 ||
		{ tail -5 "$TMP/make-$i" >&2; echo "callgrind: $tree does not build" >&2; exit 1; }
	rev=$(cd "$tree" && git rev-parse --short HEAD)
	[ -z "$(cd "$tree" && git status --porcelain --untracked-files=no)" ] || rev="$rev+changes"
	p=$(free_port)
	mkdir -p "$TMP/d-$i"
	cg=$OUT/callgrind-$rev-$$.out
	valgrind --tool=callgrind --callgrind-out-file="$cg" "$TMP/b-$i/cairn" server \
		--listen 127.0.0.1:"$p" --quiet "$TMP/d-$i" >"$TMP/vg-$i" 2>&1 &
	vp=$!
	bench_track "$vp"
	wait_ready "$p" "$vp" 600 || { tail -5 "$TMP/vg-$i" >&2; exit 1; }
	e=http://127.0.0.1:$p
	"$LG" -e "$e" --create-bucket -b bench -p p- -s 4K -c 32 -n 2000 put >/dev/null 2>&1 ||
		{ echo "callgrind: fill failed" >&2; exit 1; }
	for op in get put; do
		callgrind_control -z "$vp" >/dev/null 2>&1
		"$LG" -e "$e" -b bench -p p- -s 4K -k 2000 -c 32 -n "$N" "$op" >"$TMP/lg" 2>&1 ||
			{ echo "callgrind: loadgen $op failed" >&2; exit 1; }
		callgrind_control -d "$vp" >/dev/null 2>&1
		f=$(ls -t "$cg".* | head -1)
		mv "$f" "$cg.$op"
		awk -v t="$(count "$cg.$op")" -v n="$N" -v r="$rev" -v op="$op" -v f="$cg.$op" \
			'BEGIN { printf "%s %s 4K c=32: %.0f instructions, %.0f per request (%s)\n",
				r, op, t, t / n, f }'
	done
	kill "$vp" 2>/dev/null
	wait "$vp" 2>/dev/null
done
