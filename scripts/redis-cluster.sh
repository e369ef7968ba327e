#!/usr/bin/env bash
# Start or stop a 3-master Redis Cluster on loopback, for tests and benchmarks.
#
#   scripts/redis-cluster.sh start [PORT PORT PORT]   start (or reuse) the cluster; prints its address list
#   scripts/redis-cluster.sh stop  [PORT PORT PORT]   stop it and remove its directory
#   scripts/redis-cluster.sh status [PORT PORT PORT]  exit 0 and print the address list if it is healthy
#
# Ports default to $SLUICE_CLUSTER_PORTS or "7101 7102 7103" (each node also uses PORT+10000 for
# the cluster bus). Data lives in $SLUICE_CLUSTER_DIR or ${TMPDIR:-/tmp}/sluice-redis-cluster-FIRSTPORT,
# nothing is persisted. Only the address list goes to stdout, so a caller can do
#
#   export SLUICE_REDIS_CLUSTER_ADDRS=$(scripts/redis-cluster.sh start)
#
# start is idempotent: if the ports already run a healthy cluster it is reused; if they run
# our own half-started nodes, those are stopped and the cluster is created anew.
set -euo pipefail

cmd=${1:-}
shift || true
if [ $# -gt 0 ]; then ports=("$@"); else read -r -a ports <<<"${SLUICE_CLUSTER_PORTS:-7101 7102 7103}"; fi
[ ${#ports[@]} -ge 3 ] || { echo "redis-cluster.sh: need at least 3 ports, got: ${ports[*]}" >&2; exit 2; }
dir=${SLUICE_CLUSTER_DIR:-${TMPDIR:-/tmp}/sluice-redis-cluster-${ports[0]}}
addrs=$(printf '127.0.0.1:%s,' "${ports[@]}"); addrs=${addrs%,}

log() { echo "redis-cluster.sh: $*" >&2; }
cli() { local p=$1; shift; timeout 5 redis-cli -h 127.0.0.1 -p "$p" "$@" 2>/dev/null; }
up() { [ "$(cli "$1" ping)" = PONG ]; }

# healthy: every node answers, reports cluster_state:ok and knows all the others.
healthy() {
	local p info
	for p in "${ports[@]}"; do
		info=$(cli "$p" cluster info | tr -d '\r') || return 1
		grep -q '^cluster_state:ok$' <<<"$info" || return 1
		grep -q "^cluster_known_nodes:${#ports[@]}\$" <<<"$info" || return 1
	done
}

stop_nodes() {
	local p pid
	for p in "${ports[@]}"; do
		if [ -f "$dir/$p/redis.pid" ]; then
			pid=$(cat "$dir/$p/redis.pid")
			kill "$pid" 2>/dev/null || true
			for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			kill -9 "$pid" 2>/dev/null || true
		elif up "$p" && cli "$p" info cluster | grep -q '^cluster_enabled:1'; then
			# A cluster node on our port without our pid file: a previous
			# run whose directory was removed. Ours by its port.
			cli "$p" shutdown nosave >/dev/null || true
		fi
	done
	rm -rf "$dir"
}

start() {
	command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
		{ log "redis-server and redis-cli are needed (apt-get install redis-server)"; exit 1; }
	if healthy; then
		log "reusing the healthy cluster at $addrs"
		echo "$addrs"
		return
	fi
	stop_nodes
	local p
	for p in "${ports[@]}"; do
		if up "$p"; then
			log "port $p is taken by a Redis that is not a node of this cluster; choose other ports"
			exit 1
		fi
	done
	for p in "${ports[@]}"; do
		mkdir -p "$dir/$p"
		redis-server --port "$p" --bind 127.0.0.1 --daemonize yes \
			--cluster-enabled yes --cluster-config-file "$dir/$p/nodes.conf" --cluster-node-timeout 2000 \
			--dir "$dir/$p" --pidfile "$dir/$p/redis.pid" --logfile "$dir/$p/redis.log" \
			--save '' --appendonly no >/dev/null 9>&-
	done
	for p in "${ports[@]}"; do
		for _ in $(seq 100); do up "$p" && break; sleep 0.1; done
		up "$p" || { log "node on port $p did not start; see $dir/$p/redis.log"; exit 1; }
	done
	local nodes=()
	for p in "${ports[@]}"; do nodes+=("127.0.0.1:$p"); done
	timeout 60 redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$dir/create.log" 2>&1 ||
		{ log "cluster create failed:"; cat "$dir/create.log" >&2; exit 1; }
	for _ in $(seq 300); do healthy && break; sleep 0.1; done
	healthy || { log "cluster did not reach cluster_state:ok in 30s"; exit 1; }
	log "cluster ready at $addrs (data in $dir)"
	echo "$addrs"
}

# One invocation at a time per port set.
exec 9>"${TMPDIR:-/tmp}/sluice-redis-cluster-${ports[0]}.lock"
flock 9

case "$cmd" in
start) start ;;
stop) stop_nodes; log "stopped" ;;
status) healthy && echo "$addrs" ;;
*) echo "usage: $0 start|stop|status [PORT PORT PORT]" >&2; exit 2 ;;
esac
