#!/bin/sh
# bench/micro.sh — the metadata-engine and data-path micro benchmarks
# (bench/meta_bench.c vs plain LMDB, bench/data_bench.c vs dd), run back to
# back with a machine header, for pasting into bench/RESULTS.md.
#
# usage: bench/micro.sh [BUILD_DIR]     (default: build; binaries from `make bench-bins`)
# env:   META_N     objects per store (default 200000; the issue's full size is 10000000)
#        META_OPS   puts per throughput measurement (default 20000)
#        META_KEYS  random | time | both (default both)
#        DATA_MIB   blob size in MiB (default 1024)
#        REPS       repetitions, medians are reported (default 3)
#        BENCH_DIR  scratch directory on the disk under test (default /work/bench-tmp)
# Read runs drop the page cache when run as root (sync; echo 3 > drop_caches).
set -eu
BUILD=${1:-build}
META_N=${META_N:-200000}
META_OPS=${META_OPS:-20000}
META_KEYS=${META_KEYS:-both}
DATA_MIB=${DATA_MIB:-1024}
REPS=${REPS:-3}
BENCH_DIR=${BENCH_DIR:-/work/bench-tmp}

for b in meta_bench data_bench; do
	if [ ! -x "$BUILD/bench/$b" ]; then
		echo "micro.sh: $BUILD/bench/$b missing; run: make BUILD=$BUILD bench-bins" >&2
		exit 1
	fi
done
mkdir -p "$BENCH_DIR"
echo "# cairn micro benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "# machine: nproc $(nproc), $(lscpu | sed -n 's/^Model name: *//p' | head -1), kernel $(uname -r)"
echo "# disk: $(df -h "$BENCH_DIR" | awk 'NR==2 {print $1, $2}'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
"$BUILD/bench/data_bench" -r "$REPS" -m "$DATA_MIB" -d "$BENCH_DIR/data"
"$BUILD/bench/meta_bench" -n "$META_N" -o "$META_OPS" -r "$REPS" -k "$META_KEYS" -d "$BENCH_DIR/meta"
rm -rf "$BENCH_DIR/data" "$BENCH_DIR/meta"
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
