#!/bin/bash
# bench/run.sh BUILD_DIR — the standard benchmark matrix (`make bench`).
#
# Starts a fresh cairn server (durable: --fsync always) on a temporary
# directory and a free loopback port, runs the rows below with bench/loadgen,
# then serves the same objects as static files from nginx (worker_processes 2)
# and runs the GET rows against it. GET rows alternate cairn/nginx run by run
# (BENCH_RUNS, default 3) so both see the same machine noise; the table quotes
# medians and the median of the paired cairn/nginx ratios. The table is printed
# and appended to bench/RESULTS.md with the machine and date.
#
# TLS cost: the server also listens with TLS (a throwaway CA and certificate
# made here with the openssl CLI); the plain rows use its --listen-plain
# port, and TLS GET rows (4 KiB, 1 MiB) run in the same alternation against
# the TLS port, reported as a ratio to the plain rows of the same run.
#
# Knobs: BENCH_SECS (per timed row, default 10), BENCH_RUNS (3),
# BENCH_LIST_KEYS (100000), BENCH_BIG (1G), BENCH_NO_RESULTS=1 (do not append).
# Benchmarks are not tests: nothing here is part of `make test`.
set -euo pipefail

BUILD=${1:-build}
SECS=${BENCH_SECS:-10}
RUNS=${BENCH_RUNS:-3}
LIST_KEYS=${BENCH_LIST_KEYS:-100000}
BIG=${BENCH_BIG:-1G}
HERE=$(cd "$(dirname "$0")" && pwd)
LG=$BUILD/bench/loadgen
CAIRN=$BUILD/cairn
. "$HERE/lib.sh"
command -v openssl >/dev/null || { echo "run.sh: openssl CLI missing (scripts/install-deps.sh bench)" >&2; exit 2; }
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "run.sh: nginx missing (scripts/install-deps.sh bench)" >&2; exit 2; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

bench_init run /tmp
chmod 755 "$TMP" # nginx workers run as nobody
CAIRN_PID=""

# ---- cairn ----
# A CA and a server certificate for 127.0.0.1 (P-256, as a production setup
# would likely pick; RSA costs more per handshake, not per byte).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-keyout "$TMP/ca.key" -out "$TMP/ca.pem" -subj "/CN=cairn bench CA" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/tls.key" \
	-out "$TMP/tls.csr" -subj "/CN=127.0.0.1" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$TMP/tls.ext"
openssl x509 -req -in "$TMP/tls.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" -CAcreateserial \
	-days 2 -extfile "$TMP/tls.ext" -out "$TMP/tls.pem" 2>/dev/null
CPORT=$(free_port)
TPORT=$(free_port)
mkdir -p "$TMP/cairn"
"$CAIRN" server --listen "127.0.0.1:$TPORT" --tls-cert "$TMP/tls.pem" --tls-key "$TMP/tls.key" \
	--listen-plain "127.0.0.1:$CPORT" --quiet "$TMP/cairn" >"$TMP/cairn.log" 2>&1 &
CAIRN_PID=$!
bench_track $CAIRN_PID
wait_port "$CPORT" "$CAIRN_PID" || { cat "$TMP/cairn.log" >&2; echo "run.sh: cairn did not start" >&2; exit 1; }
CE=http://127.0.0.1:$CPORT
TE=https://127.0.0.1:$TPORT

# Row objects: g4k- (GET 4 KiB), g1m- (GET 1 MiB), big- (the large object).
N4K=2000
N1M=200
log "cairn $CE, data $TMP/cairn; rows of ${SECS}s, $RUNS GET runs"
lg fill4k -e "$CE" --create-bucket -b bench -p g4k- -s 4K -c 32 -n $N4K put
lg fill1m -e "$CE" -b bench -p g1m- -s 1M -c 8 -n $N1M put

# PUT 4 KiB both ways clients send it (bench/loadgen.c): the body with the
# headers (boto3's put_object) and after "100 Continue" (the aws CLI). The
# client shares the two cores with the server, and libcurl spends more CPU
# per 4 KiB request than cairn does, so the rows of small requests run with
# loadgen's own HTTP client (--raw) and again with libcurl, in turn.
for i in $(seq "$RUNS"); do
	lg put4k -e "$CE" -b bench -p p4k- -s 4K -c 32 -d "$SECS" --raw put
	lg put4k.curl -e "$CE" -b bench -p p4c- -s 4K -c 32 -d "$SECS" put
	lg put4kx -e "$CE" -b bench -p p4x- -s 4K -c 32 -d "$SECS" --expect put
done
lg put1m -e "$CE" -b bench -p p1m- -s 1M -c 8 -d "$SECS" put
lg putbig -e "$CE" -b bench -p big- -s "$BIG" -c 1 -n 1 put

# ---- single-stream durable PUT against dd on the same disk ----
# `dd bs=1M conv=fsync` writes the same number of bytes into the same
# filesystem as cairn's data directory, alternating with the PUT run by run
# so both see the same disk and machine noise. dd's rate is written as a
# RESULT line (label dd<size>) so the table code reads both the same way.
dd_once() { # LABEL BYTES
	local secs
	secs=$(dd_fsync_secs "$2")
	[ -n "$secs" ] || return 0
	awk -v l="$1" -v b="$2" -v s="$secs" 'BEGIN { printf "RESULT label=%s op=dd size=%d secs=%s mib_s=%.2f errors=0\n", l, b, s, b / s / 1048576 }' |
		tee -a "$RES" >&2
}
bytes_of() { numfmt --from=iec "$1"; }
# A large write leaves the disk busy after it returns, and whoever writes
# next pays for it (bench/ab_put.sh: a build against itself read ~0.75x in
# the second slot of each 1 GiB pair). So every run here starts after a sync
# and a pause of 1 s + 1 s per 200 MiB, and the order of the pair swaps run
# by run.
settle() { # BYTES
	sync
	sleep $((1 + $1 / 209715200))
}
for i in $(seq "$RUNS"); do
	for sz in 64M "$BIG"; do
		b=$(bytes_of "$sz")
		if [ $((i % 2)) = 0 ]; then
			settle "$b"
			dd_once "pdd$sz.dd" "$b"
		fi
		settle "$b"
		lg "pdd$sz.cairn" -e "$CE" -b bench -p "pdd$sz-" -s "$sz" -c 1 -n 1 put
		if [ $((i % 2)) = 1 ]; then
			settle "$b"
			dd_once "pdd$sz.dd" "$b"
		fi
	done
done
# The disk's fsync latency, for the durable small-PUT row: 4 KiB writes
# each followed by fdatasync (O_DSYNC), 500 of them.
FSYNC_MS=$(dd if=/dev/zero of="$TMP/fsync.bin" bs=4k count=500 oflag=dsync 2>&1 | tail -1 |
	sed -n 's/.*copied, \([0-9.e+-]*\) s,.*/\1/p' | awk '{ printf "%.3f", $1 * 1000 / 500 }')
rm -f "$TMP/fsync.bin"

# ---- nginx over the same objects ----
log "writing the same objects as files for nginx"
mkdir -p "$TMP/www" "$TMP/nginx-tmp"
"$LG" files --dir "$TMP/www" -b bench -p g4k- -s 4K -n $N4K
"$LG" files --dir "$TMP/www" -b bench -p g1m- -s 1M -n $N1M
"$LG" files --dir "$TMP/www" -b bench -p big- -s "$BIG" -n 1
chmod -R a+rX "$TMP/www"
NPORT=$(free_port)
cat >"$TMP/nginx.conf" <<EOF
worker_processes 2;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	tcp_nodelay on;
	keepalive_timeout 60s;
	keepalive_requests 1000000;
	open_file_cache max=10000 inactive=60s;
	default_type application/octet-stream;
	client_body_temp_path $TMP/nginx-tmp/body;
	proxy_temp_path $TMP/nginx-tmp/proxy;
	fastcgi_temp_path $TMP/nginx-tmp/fastcgi;
	uwsgi_temp_path $TMP/nginx-tmp/uwsgi;
	scgi_temp_path $TMP/nginx-tmp/scgi;
	server {
		listen 127.0.0.1:$NPORT;
		root $TMP/www;
	}
}
EOF
"$NGINX" -p "$TMP" -c "$TMP/nginx.conf" -g 'daemon off;' 2>"$TMP/nginx.stderr" &
NGINX_PID=$!
bench_track $NGINX_PID
wait_port "$NPORT" "$NGINX_PID" || { cat "$TMP/nginx.stderr" "$TMP/nginx-error.log" >&2; echo "run.sh: nginx did not start" >&2; exit 1; }
NE=http://127.0.0.1:$NPORT

# GET rows, cairn and nginx alternating. nginx requests carry the same SigV4
# headers (nginx ignores them): the single-threaded client then does the same
# work per request for both servers, so the ratio compares servers, not the
# client's signing cost (unsigned nginx runs left the client, not cairn, as
# the bottleneck of the cairn rows: 1 core of loadgen vs 0.6 of cairn).
# The 4 KiB and 1 MiB pairs run with both clients (--raw and libcurl, as the
# PUT rows); the TLS rows need libcurl and compare with its plain rows.
for i in $(seq "$RUNS"); do
	lg get4k.cairn -e "$CE" -b bench -p g4k- -s 4K -k $N4K -c 32 -d "$SECS" --raw get
	lg get4k.nginx -e "$NE" -b bench -p g4k- -s 4K -k $N4K -c 32 -d "$SECS" --raw get
	lg get1m.cairn -e "$CE" -b bench -p g1m- -s 1M -k $N1M -c 8 -d "$SECS" --raw get
	lg get1m.nginx -e "$NE" -b bench -p g1m- -s 1M -k $N1M -c 8 -d "$SECS" --raw get
	lg get4kc.cairn -e "$CE" -b bench -p g4k- -s 4K -k $N4K -c 32 -d "$SECS" get
	lg get4kc.nginx -e "$NE" -b bench -p g4k- -s 4K -k $N4K -c 32 -d "$SECS" get
	lg get1mc.cairn -e "$CE" -b bench -p g1m- -s 1M -k $N1M -c 8 -d "$SECS" get
	lg get1mc.nginx -e "$NE" -b bench -p g1m- -s 1M -k $N1M -c 8 -d "$SECS" get
	lg get4kc.tls -e "$TE" --cacert "$TMP/ca.pem" -b bench -p g4k- -s 4K -k $N4K -c 32 -d "$SECS" get
	lg get1mc.tls -e "$TE" --cacert "$TMP/ca.pem" -b bench -p g1m- -s 1M -k $N1M -c 8 -d "$SECS" get
	lg getbig.cairn -e "$CE" -b bench -p big- -s "$BIG" -k 1 -c 1 -n 1 get
	lg getbig.nginx -e "$NE" -b bench -p big- -s "$BIG" -k 1 -c 1 -n 1 get
done

# ---- listing: probe first, fill only if ListObjectsV2 answers ----
LIST_NOTE=""
lg listprobe -e "$CE" --create-bucket -b benchlist -p '' -c 1 -n 1 list
if grep -q '^RESULT label=listprobe op=list .* errors=0 ' "$RES"; then
	lg listfill -e "$CE" -b benchlist -p l/ -s 0 -c 64 -n "$LIST_KEYS" put
	lg list -e "$CE" -b benchlist -p '' -c 1 -d "$SECS" list
else
	LIST_NOTE="n/a (not implemented at time of run)"
fi

RSS_KB=$(awk '/^VmHWM:/ {print $2}' "/proc/$CAIRN_PID/status")

# ---- table ----
# Paired ratios of cairn/nginx KEY, run by run, then their median.
ratio() { paired_ratio "$1.cairn" get "$1.nginx" get "$2"; }
fmt() { awk -v v="$1" 'BEGIN { if (v == "-" || v == "") print "-"; else printf "%.1f", v }'; }
fmtms() { awk -v v="$1" 'BEGIN { if (v == "-" || v == "") print "-"; else printf "%.2f", v }'; }

row_put() { # NAME LABEL
	printf '| %s | %s | %s | %s | %s | %s | — | — | — |\n' "$1" \
		"$(fmt "$(med "$2" put ops_s)")" "$(fmt "$(med "$2" put mib_s)")" \
		"$(fmtms "$(med "$2" put p50_ms)")" "$(fmtms "$(med "$2" put p99_ms)")" \
		"$(sum "$2" put errors)"
}
row_get() { # NAME BASE
	local b=$2 vf
	vf=$(($(sum "$b.cairn" get verify_fail) + $(sum "$b.nginx" get verify_fail)))
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | **%s×** |\n' "$1" \
		"$(fmt "$(med "$b.cairn" get ops_s)")" "$(fmt "$(med "$b.cairn" get mib_s)")" \
		"$(fmtms "$(med "$b.cairn" get p50_ms)")" "$(fmtms "$(med "$b.cairn" get p99_ms)")" \
		"$(($(sum "$b.cairn" get errors) + vf))" \
		"$(fmt "$(med "$b.nginx" get ops_s)")" "$(fmt "$(med "$b.nginx" get mib_s)")" \
		"$(ratio "$b" "$3")"
}

# TLS rows: paired TLS/plain ratios of KEY, run by run (plain = the cairn
# run just before, on the --listen-plain port of the same server).
tls_ratio() { paired_ratio "$1.tls" get "$1.cairn" get "$2"; }
row_tls() { # NAME BASE KEY
	local b=$2
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | **%s×** |\n' "$1" \
		"$(fmt "$(med "$b.cairn" get ops_s)")" "$(fmt "$(med "$b.cairn" get mib_s)")" \
		"$(fmt "$(med "$b.tls" get ops_s)")" "$(fmt "$(med "$b.tls" get mib_s)")" \
		"$(fmtms "$(med "$b.tls" get p50_ms)")" "$(fmtms "$(med "$b.tls" get p99_ms)")" \
		"$(($(sum "$b.tls" get errors) + $(sum "$b.tls" get verify_fail)))" \
		"$(tls_ratio "$b" "$3")"
}

TABLE=$TMP/table
{
	echo "| row | cairn ops/s | cairn MiB/s | p50 ms | p99 ms | errors | nginx ops/s | nginx MiB/s | cairn/nginx |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	row_put "PUT 4 KiB, c=32 (durable; body with the headers, as boto3 put_object)" put4k
	row_put "same, libcurl client" put4k.curl
	row_put "PUT 4 KiB, c=32 (durable; Expect: 100-continue, as the aws CLI; libcurl)" put4kx
	row_put "PUT 1 MiB, c=8 (durable)" put1m
	row_put "PUT $BIG ×1" putbig
	row_get "GET 4 KiB, c=32" get4k ops_s
	row_get "GET 1 MiB, c=8" get1m mib_s
	row_get "GET 4 KiB, c=32, libcurl client" get4kc ops_s
	row_get "GET 1 MiB, c=8, libcurl client" get1mc mib_s
	row_get "GET $BIG ×1" getbig mib_s
	if [ -n "$LIST_NOTE" ]; then
		echo "| ListObjectsV2, $LIST_KEYS keys, pages of 1000 | $LIST_NOTE | | | | | | | |"
	else
		printf '| ListObjectsV2 page (1000 of %s keys), c=1 | %s pages/s | — | %s | %s | %s | — | — | — |\n' \
			"$LIST_KEYS" "$(fmt "$(med list list ops_s)")" "$(fmtms "$(med list list p50_ms)")" \
			"$(fmtms "$(med list list p99_ms)")" "$(sum list list errors)"
		printf '| ListObjectsV2 full walk of %s keys | %s walks, %s keys listed | — | %s (walk) | | | | | |\n' \
			"$LIST_KEYS" "$(field list listwalk walks)" "$(field list listwalk keys_listed)" \
			"$(fmtms "$(field list listwalk walk_p50_ms)")"
	fi
	echo
	echo "Single-stream durable PUT against \`dd bs=1M conv=fsync\` of the same bytes into the same" \
		"filesystem, alternating run by run ($RUNS runs; the pair's order swapped each run, every run after a sync and" \
		"a pause of 1 s + 1 s per 200 MiB); ratio = median of paired ratios." \
		"Disk fsync latency (4 KiB O_DSYNC writes, mean of 500): ${FSYNC_MS:-?} ms."
	echo
	echo "| row | cairn MiB/s | cairn p50 ms | dd MiB/s | errors | cairn/dd |"
	echo "|---|---:|---:|---:|---:|---:|"
	for sz in 64M "$BIG"; do
		printf '| PUT %s ×1 (durable) | %s | %s | %s | %s | **%s×** |\n' "$sz" \
			"$(fmt "$(med "pdd$sz.cairn" put mib_s)")" "$(fmtms "$(med "pdd$sz.cairn" put p50_ms)")" \
			"$(fmt "$(med "pdd$sz.dd" dd mib_s)")" "$(sum "pdd$sz.cairn" put errors)" \
			"$(paired_ratio "pdd$sz.cairn" put "pdd$sz.dd" dd mib_s)"
	done
	echo
	echo "TLS cost (same server, same run: plain rows on its --listen-plain port; TLS 1.3," \
		"$(openssl version | cut -d' ' -f1-2), P-256 certificate, keep-alive connections):"
	echo
	echo "| row | plain ops/s | plain MiB/s | TLS ops/s | TLS MiB/s | TLS p50 ms | TLS p99 ms | TLS errors | TLS/plain |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	row_tls "GET 4 KiB, c=32" get4kc ops_s
	row_tls "GET 1 MiB, c=8" get1mc mib_s
	echo
	echo "cairn peak RSS (VmHWM): $((RSS_KB / 1024)) MiB."
	echo "GET rows: median of $RUNS runs alternating cairn/nginx; ratio = median of paired ratios" \
		"(ops/s for 4 KiB, MiB/s otherwise). Rows of ${SECS}s. Every GET body verified byte-exact;" \
		"errors column counts HTTP errors + verify failures."
	echo "Client: loadgen's own HTTP/1.1 client (\`--raw\`: SigV4 by OpenSSL, one epoll loop) unless" \
		"a row says libcurl; the expect-100 PUT and the TLS rows need libcurl, and the rows of large objects" \
		"and of listing keep it (a few requests: the client's cost per request does not count there)."
	echo "Fill for the list row: $(fmt "$(med listfill put ops_s)") PUT/s of empty objects at c=64" \
		"(errors: $(sum listfill put errors))."
} >"$TABLE"
echo >&2
cat "$TABLE"

if [ "${BENCH_NO_RESULTS:-0}" != 1 ]; then
	{
		echo
		echo "## $(date -u '+%Y-%m-%d %H:%M UTC') — $(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null || echo '?')"
		echo
		echo "Machine: $(machine) at the end of the run" \
			"(shared machine: only ratios from one run count). cairn and loadgen -O2, nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///')."
		echo
		cat "$TABLE"
		echo
		echo "nginx GETs are signed like cairn's (nginx ignores the headers), so the client's per-request work is equal."
		echo
		raw_results
	} >>"$HERE/RESULTS.md"
	echo "run.sh: appended to bench/RESULTS.md" >&2
fi

# metadata-engine and data-path micro benchmarks (bench/micro.sh; BENCH_MICRO=0 skips)
if [ "${BENCH_MICRO:-1}" = 1 ]; then "$HERE/micro.sh" "$BUILD"; fi
