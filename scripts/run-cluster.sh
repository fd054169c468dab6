#!/bin/sh
# Three local cairn nodes as one cluster (make run-cluster):
#   S3 on 127.0.0.1:9001-9003, cluster (Raft + internal API) on 127.0.0.1:9101-9103,
#   data in ./data/n1..n3, logs in ./data/n1..n3.log.
# The cluster secret and root credentials are made once and kept in
# ./data/cluster.env (mode 0600); the environment overrides them.
# Ctrl-C (or SIGTERM) stops the three nodes.
set -eu

BIN=${CAIRN_BIN:-build/cairn}
DATA=${CAIRN_CLUSTER_DATA:-data}
mkdir -p "$DATA"
chmod 700 "$DATA"

if [ ! -f "$DATA/cluster.env" ]; then
	rnd() { head -c 64 /dev/urandom | od -An -tx1 | tr -d ' \n' | cut -c1-"$1"; }
	umask 077
	{
		echo "CAIRN_CLUSTER_SECRET=$(rnd 40)"
		echo "CAIRN_ROOT_USER=cairn$(rnd 8)"
		echo "CAIRN_ROOT_PASSWORD=$(rnd 40)"
	} >"$DATA/cluster.env"
	umask 022
	made=1
else
	made=0
fi
# the environment wins over the file
env_secret=${CAIRN_CLUSTER_SECRET:-}
env_user=${CAIRN_ROOT_USER:-}
env_pass=${CAIRN_ROOT_PASSWORD:-}
case $DATA in
/*) envfile=$DATA/cluster.env ;;
*) envfile=./$DATA/cluster.env ;;
esac
# shellcheck disable=SC1090
. "$envfile"
CAIRN_CLUSTER_SECRET=${env_secret:-$CAIRN_CLUSTER_SECRET}
CAIRN_ROOT_USER=${env_user:-$CAIRN_ROOT_USER}
CAIRN_ROOT_PASSWORD=${env_pass:-$CAIRN_ROOT_PASSWORD}
export CAIRN_CLUSTER_SECRET CAIRN_ROOT_USER CAIRN_ROOT_PASSWORD

PEERS=127.0.0.1:9101,127.0.0.1:9102,127.0.0.1:9103
pids=""
stop() {
	trap - INT TERM EXIT
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
}
trap stop INT TERM EXIT

for i in 1 2 3; do
	mkdir -p "$DATA/n$i"
	"$BIN" server --listen "127.0.0.1:900$i" --node "127.0.0.1:910$i" --peers "$PEERS" \
		"$DATA/n$i" >>"$DATA/n$i.log" 2>&1 &
	pids="$pids $!"
done

# Wait until every node serves (a leader is elected and known).
i=0
for n in 1 2 3; do
	until curl -sf -o /dev/null "http://127.0.0.1:900$n/_cairn/health/ready"; do
		for p in $pids; do
			if ! kill -0 "$p" 2>/dev/null; then
				echo "run-cluster: a node exited; the end of its log:" >&2
				tail -n 3 "$DATA"/n[123].log >&2
				exit 1
			fi
		done
		i=$((i + 1))
		if [ $i -gt 300 ]; then
			echo "run-cluster: node $n is not ready after 30 s; see $DATA/n$n.log" >&2
			exit 1
		fi
		sleep 0.1
	done
done

echo "cairn cluster: 3 nodes, any of them serves any request"
echo "  S3 endpoints  http://127.0.0.1:9001  http://127.0.0.1:9002  http://127.0.0.1:9003"
echo "  access key    $CAIRN_ROOT_USER"
if [ "$made" = 1 ]; then
	echo "  secret key    $CAIRN_ROOT_PASSWORD   (made now; kept in $DATA/cluster.env)"
else
	echo "  secret key    in $DATA/cluster.env"
fi
echo "  status        CAIRN_ENDPOINT=http://127.0.0.1:9001 $BIN admin cluster status"
echo "                (with the variables of $DATA/cluster.env in the environment)"
echo "  logs          $DATA/n1.log $DATA/n2.log $DATA/n3.log    (Ctrl-C stops the nodes)"
wait
