# bench/lib.sh — what the bench scripts share; sourced, never run.
#
#   BUILD=... LG=$BUILD/bench/loadgen CAIRN=$BUILD/cairn
#   . "$HERE/lib.sh"
#   bench_init NAME PARENT_DIR
#
# bench_init checks that $LG and $CAIRN are built, makes $TMP (a fresh
# directory under PARENT_DIR, removed at exit), exports the root credentials
# the servers and loadgen use, and starts $RES, the file every lg() run
# appends its RESULT lines to. Processes handed to bench_track are stopped at
# exit, and only while they are still this shell's children: a pid that has
# exited may already belong to someone else.

log() { echo "== $(date -u +%H:%M:%S) $*" >&2; }

bench_secret() { # BYTES: that many random bytes as hex
	head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'
}

bench_init() { # NAME PARENT_DIR
	local f
	for f in "$LG" "$CAIRN"; do
		[ -x "$f" ] || { echo "$1: $f not built (make all bench-bins)" >&2; exit 2; }
	done
	mkdir -p "$2"
	TMP=$(mktemp -d "$2/cairn-bench-$1.XXXXXX")
	BENCH_PIDS=()
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
	export CAIRN_ROOT_USER=bench
	CAIRN_ROOT_PASSWORD=$(bench_secret 12)
	export CAIRN_ROOT_PASSWORD
	RES=$TMP/results
	: >"$RES"
}

ab_init() { # NAME OLD_CAIRN NEW_CAIRN: the arguments of bench/NAME.sh, an A/B
	# of two server builds; sets OLD, NEW, CAIRN (the old one, for
	# bench_init's check) and this tree's LG (unless LG is set), then
	# bench_init NAME.
	[ $# -eq 3 ] || { echo "usage: bench/$1.sh OLD_CAIRN NEW_CAIRN" >&2; exit 2; }
	OLD=$2
	NEW=$3
	CAIRN=$OLD
	LG=${LG:-$HERE/../build/bench/loadgen}
	[ -x "$NEW" ] || { echo "$1: $NEW not built" >&2; exit 2; }
	bench_init "$1" "${TMPDIR:-/tmp}"
}

ab_server() { # BIN TAG: a fresh server of BIN as `make run` starts it (plus
	# --quiet), data in $TMP/data-TAG; sets SRV_EP and SRV_PID.
	local p d=$TMP/data-$2
	rm -rf "$d"
	mkdir -p "$d"
	p=$(free_port)
	"$1" server --listen 127.0.0.1:"$p" --quiet "$d" >"$TMP/log-$2" 2>&1 &
	SRV_PID=$!
	bench_track "$SRV_PID"
	wait_ready "$p" "$SRV_PID" || { echo "$1 did not start" >&2; exit 1; }
	SRV_EP=http://127.0.0.1:$p
}

cluster_start() { # BIN DIR: a 3-node cluster of BIN (durable, as `make run`
	# configures a node), node I's data in DIR/nI and its log in DIR/nI.log;
	# CAIRN_CLUSTER_SECRET must be exported. Sets S3P[] and NP[] (ports),
	# NPID[], LEADER and FOLLOWER (node numbers), LE and FE (endpoints).
	local i
	CL_BIN=$1
	CL_DIR=$2
	S3P=() NP=() NPID=()
	for i in 0 1 2; do
		S3P[$i]=$(free_port)
		NP[$i]=$(free_port)
	done
	CL_PEERS="127.0.0.1:${NP[0]},127.0.0.1:${NP[1]},127.0.0.1:${NP[2]}"
	for i in 0 1 2; do
		mkdir -p "$CL_DIR/n$i"
		cluster_node_start "$i"
	done
	for i in 0 1 2; do
		wait_ready "${S3P[$i]}" "${NPID[$i]}" || { cat "$CL_DIR/n$i.log" >&2; exit 1; }
	done
	# which node leads (its status says so); asked again for up to 10 s, as
	# a first election can still move the lead after every node said it
	# was ready
	LEADER=""
	for _ in $(seq 50); do
		for i in 0 1 2; do
			if CAIRN_ENDPOINT="http://127.0.0.1:${S3P[$i]}" "$CL_BIN" admin cluster status 2>/dev/null |
				grep -q "\"leader_address\": \"127.0.0.1:${NP[$i]}\""; then
				LEADER=$i
			fi
		done
		[ -n "$LEADER" ] && break
		sleep 0.2
	done
	[ -n "$LEADER" ] || { echo "no leader found" >&2; exit 1; }
	FOLLOWER=$(((LEADER + 1) % 3))
	LE=http://127.0.0.1:${S3P[$LEADER]}
	FE=http://127.0.0.1:${S3P[$FOLLOWER]}
}

cluster_node_start() { # I: (re)start node I of cluster_start's cluster
	"$CL_BIN" server --listen "127.0.0.1:${S3P[$1]}" --node "127.0.0.1:${NP[$1]}" \
		--peers "$CL_PEERS" --quiet "$CL_DIR/n$1" >>"$CL_DIR/n$1.log" 2>&1 &
	NPID[$1]=$!
	bench_track "${NPID[$1]}"
}

dd_fsync_secs() { # BYTES: seconds `dd bs=1M conv=fsync` takes to write that many
	# bytes into $TMP (the same filesystem as the servers' data); nothing
	# printed, and dd's last line logged, when dd says something else.
	local out secs
	out=$(dd if=/dev/zero of="$TMP/dd.bin" bs=1M count=$(($1 / 1048576)) conv=fsync 2>&1 | tail -1)
	rm -f "$TMP/dd.bin"
	secs=$(echo "$out" | sed -n 's/.*copied, \([0-9.e+-]*\) s,.*/\1/p')
	[ -n "$secs" ] || log "dd: unexpected output: $out"
	echo "$secs"
}

bench_track() { BENCH_PIDS+=("$1"); } # PID: stop it at exit

bench_cleanup() {
	local p
	set +e # the scripts run with -e: a failed kill or wait must not skip the rest
	for p in "${BENCH_PIDS[@]}"; do
		[ "$(awk '{ print $4 }' "/proc/$p/stat" 2>/dev/null)" = "$$" ] && kill "$p" 2>/dev/null
	done
	for p in "${BENCH_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$TMP"
}

# A port free right now, from below the kernel's ephemeral range so that no
# outgoing connection takes it before the server binds it.
free_port() {
	python3 -c 'import sys; sys.path.insert(0, sys.argv[1])
from netproxy import free_ports
print(free_ports(1)[0])' "$HERE/../tests/cluster"
}

wait_ready() { # PORT PID [TRIES]: until GET /_cairn/health/ready (or / for nginx) answers
	local i
	for i in $(seq "${3:-300}"); do
		kill -0 "$2" 2>/dev/null || return 1
		curl -sf -o /dev/null "http://127.0.0.1:$1/_cairn/health/ready" && return 0
		sleep 0.1
	done
	return 1
}

wait_port() { # PORT PID: until anything answers HTTP on PORT
	local i
	for i in $(seq 100); do
		kill -0 "$2" 2>/dev/null || return 1
		curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
		sleep 0.1
	done
	return 1
}

lg() { # LABEL ARGS...: one loadgen run, its RESULT lines into $RES
	local label=$1
	shift
	log "$label: loadgen $*"
	"$LG" --label "$label" "$@" 2>"$TMP/lg.err" | tee -a "$RES" >&2 || true
	grep -v '^RESULT' "$TMP/lg.err" | head -5 >&2 || true
}

# field LABEL OP KEY: values of KEY over all RESULT lines with that label+op.
field() {
	awk -v l="$1" -v o="$2" -v k="$3" '$1 == "RESULT" {
		split("", f); for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		if (f["label"] == l && f["op"] == o) print f[k] }' "$RES"
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
med() { field "$1" "$2" "$3" | median; }
sum() { field "$1" "$2" "$3" | awk '{ s += $1 } END { print s + 0 }'; }
# paired_ratio LABEL_A OP_A LABEL_B OP_B KEY: A/B run by run, then the median
paired_ratio() {
	paste <(field "$1" "$2" "$5") <(field "$3" "$4" "$5") |
		awk '$2 > 0 { printf "%.3f\n", $1 / $2 }' | median
}

machine() { # one line: CPUs, model, kernel, RAM, load
	echo "$(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p' | head -1)," \
		"kernel $(uname -r), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM;" \
		"load average $(cut -d' ' -f1-3 /proc/loadavg)"
}

raw_results() { # the RESULT lines, folded, for RESULTS.md
	echo "<details><summary>raw RESULT lines</summary>"
	echo
	echo '```'
	cat "$RES"
	echo '```'
	echo "</details>"
}
