#!/usr/bin/env bash
# A whole Tusk cluster on this machine.
#
#   scripts/local-cluster.sh start    start whatever is not running, wait until ready
#   scripts/local-cluster.sh stop     stop every daemon this TUSK_HOME started
#   scripts/local-cluster.sh status   each daemon with its pid and address
#
# Besides the namenode and the datanodes: one resource manager, and one node
# manager beside each datanode (same host identity, so locality is real).
#
# Environment:
#   TUSK_HOME       state, logs, pid files (default ./.tusk-local)
#   DATANODES       number of datanodes, and of node managers (default 3)
#   TUSK_BASE_PORT  move every port: namenode RPC = B, HTTP = B+1; resource
#                   manager RPC = B+2, HTTP = B+3; datanode i data = B+10*i,
#                   HTTP = B+10*i+1; node manager i RPC = B+10*i+2, shuffle =
#                   B+10*i+3, HTTP = B+10*i+4. Unset: namenode 9000/9870,
#                   resource manager 8032/8088, datanode i 19000+10*i /
#                   19001+10*i, node manager i 19002+10*i / 19003+10*i / 19004+10*i.
#   TUSK_HOSTS      "distinct": datanode i and node manager i listen on their
#                   own loopback address 127.0.0.(10+i) and use it as host
#                   identity, so each worker is a host of its own (locality
#                   tests); default: every worker is 127.0.0.1
#   TUSK_BIN_DIR    where the binaries are (default: target/release, built if missing)
#   TUSK_READY_TIMEOUT  seconds `start` waits for the cluster (default 60)
#
# Every daemon reads $TUSK_HOME/tusk.toml when it exists. Pid files are
# $TUSK_HOME/pids/<role>[-<i>].pid, logs $TUSK_HOME/logs/<role>[-<i>].log,
# datanode i keeps its blocks under $TUSK_HOME/datanode-<i>/, node manager i its
# containers' dirs under $TUSK_HOME/nodemanager-<i>/local and their logs under
# $TUSK_HOME/nodemanager-<i>/logs; the resource manager its state under
# $TUSK_HOME/resourcemanager/.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

TUSK_HOME=${TUSK_HOME:-./.tusk-local}
mkdir -p "$TUSK_HOME"
TUSK_HOME=$(cd "$TUSK_HOME" && pwd)
# The daemons find the cluster secret at $TUSK_HOME/cluster.secret unless
# tusk.toml says otherwise ([security] cluster_secret_file).
export TUSK_HOME
DATANODES=${DATANODES:-3}
READY_TIMEOUT=${TUSK_READY_TIMEOUT:-60}
BIN=${TUSK_BIN_DIR:-$repo/target/release}

if [[ -n "${TUSK_BASE_PORT:-}" ]]; then
  NN_RPC_PORT=$TUSK_BASE_PORT
  NN_HTTP_PORT=$((TUSK_BASE_PORT + 1))
  RM_RPC_PORT=$((TUSK_BASE_PORT + 2))
  RM_HTTP_PORT=$((TUSK_BASE_PORT + 3))
  WORKER_BASE=$TUSK_BASE_PORT
else
  NN_RPC_PORT=9000
  NN_HTTP_PORT=9870
  RM_RPC_PORT=8032
  RM_HTTP_PORT=8088
  WORKER_BASE=19000
fi

pids=$TUSK_HOME/pids
logs=$TUSK_HOME/logs
mkdir -p "$pids" "$logs"

config_args=()
[[ -f $TUSK_HOME/tusk.toml ]] && config_args=(--config "$TUSK_HOME/tusk.toml")

SCRIPT=local-cluster
NN_HTTP=127.0.0.1:$NN_HTTP_PORT
RM_HTTP=127.0.0.1:$RM_HTTP_PORT
NODEMANAGERS=$DATANODES
# shellcheck source=scripts/cluster-lib.sh
source "$here/cluster-lib.sh"

# launch ROLE CMD... : start a daemon in its own session, record its pid.
launch() {
  local role=$1; shift
  rm -f "$pids/$role.pid"
  setsid "$@" >>"$logs/$role.log" 2>&1 < /dev/null &
  echo $! > "$pids/$role.pid"
}

addr_of() { # FILE -> the address written by a daemon, or ""
  [[ -f $1 ]] && head -n1 "$1" || true
}

nn_dir=$TUSK_HOME/namenode
dn_dir() { echo "$TUSK_HOME/datanode-$1"; }

nn_addr() { echo "127.0.0.1:$NN_RPC_PORT"; }
rm_addr() { echo "127.0.0.1:$RM_RPC_PORT"; }
rm_dir=$TUSK_HOME/resourcemanager
nm_dir() { echo "$TUSK_HOME/nodemanager-$1"; }
nm_port() { echo $((WORKER_BASE + 10 * $1 + $2)); } # i, offset: 2 rpc, 3 shuffle, 4 http
case ${TUSK_HOSTS:-} in
  distinct) worker_host() { echo "127.0.0.$((10 + $1))"; } ;;
  '' | shared) worker_host() { echo 127.0.0.1; } ;;
  *) echo "local-cluster.sh: TUSK_HOSTS=$TUSK_HOSTS: expected distinct or shared" >&2; exit 2 ;;
esac

start_namenode() {
  running namenode && return 0
  mkdir -p "$nn_dir"
  rm -f "$nn_dir/namenode.addr" "$nn_dir/namenode-http.addr"
  launch namenode "$BIN/namenode" "${config_args[@]}" \
    --name-dir "$nn_dir/name" --state-dir "$nn_dir" \
    --rpc-addr "127.0.0.1:$NN_RPC_PORT" --http-addr "127.0.0.1:$NN_HTTP_PORT"
}

start_datanode() {
  local i=$1 d
  running "datanode-$i" && return 0
  d=$(dn_dir "$i")
  mkdir -p "$d/data"
  rm -f "$d/datanode.addr" "$d/datanode-http.addr"
  launch "datanode-$i" "$BIN/datanode" "${config_args[@]}" \
    --namenode "$(nn_addr)" --data-dir "$d/data" --state-dir "$d" \
    --data-addr "$(worker_host "$i"):$((WORKER_BASE + 10 * i))" \
    --http-addr "$(worker_host "$i"):$((WORKER_BASE + 10 * i + 1))" --host "$(worker_host "$i")"
}

start_resourcemanager() {
  running resourcemanager && return 0
  mkdir -p "$rm_dir"
  rm -f "$rm_dir/resourcemanager.addr" "$rm_dir/resourcemanager-http.addr"
  # The web UI reads finished jobs' history from the file system.
  TUSK_NAMENODE="$(nn_addr)" launch resourcemanager "$BIN/resourcemanager" "${config_args[@]}" \
    --state-dir "$rm_dir" --rpc-addr "$(rm_addr)" --http-addr "$RM_HTTP"
}

# Node manager i sits beside datanode i: same host identity.
start_nodemanager() {
  local i=$1 d
  running "nodemanager-$i" && return 0
  d=$(nm_dir "$i")
  mkdir -p "$d/local" "$d/logs"
  rm -f "$d/nodemanager.addr" "$d/nodemanager-shuffle.addr" "$d/nodemanager-http.addr"
  launch "nodemanager-$i" "$BIN/nodemanager" "${config_args[@]}" \
    --rm "$(rm_addr)" --namenode "$(nn_addr)" \
    --local-dir "$d/local" --log-dir "$d/logs" --state-dir "$d" \
    --rpc-addr "$(worker_host "$i"):$(nm_port "$i" 2)" \
    --shuffle-addr "$(worker_host "$i"):$(nm_port "$i" 3)" \
    --http-addr "$(worker_host "$i"):$(nm_port "$i" 4)" --host "$(worker_host "$i")"
}

print_exports() {
  echo "export TUSK_NAMENODE=$(nn_addr) TUSK_NAMENODE_HTTP=$NN_HTTP TUSK_RM=$(rm_addr) TUSK_RM_HTTP=$RM_HTTP TUSK_HOME=$TUSK_HOME"
}

cmd_start() {
  local h
  ensure_binaries resourcemanager nodemanager
  ensure_secret
  start_namenode
  for i in $(seq 1 "$DATANODES"); do start_datanode "$i"; done
  start_resourcemanager
  for i in $(seq 1 "$DATANODES"); do start_nodemanager "$i"; done
  wait_ready
  echo "namenode   rpc $(nn_addr)  http $NN_HTTP" >&2
  echo "resourcemanager rpc $(rm_addr)  http $RM_HTTP" >&2
  for i in $(seq 1 "$DATANODES"); do
    h=$(worker_host "$i")
    echo "datanode-$i data $h:$((WORKER_BASE + 10 * i))  http $h:$((WORKER_BASE + 10 * i + 1))" >&2
    echo "nodemanager-$i rpc $h:$(nm_port "$i" 2)  shuffle $h:$(nm_port "$i" 3)  http $h:$(nm_port "$i" 4)" >&2
  done
  print_exports
}

cmd_stop() {
  local f role
  # Node managers first (they kill their containers), then the resource
  # manager, then datanodes, then the namenode (so no daemon logs a dead
  # master). Workers of one kind stop in parallel.
  for f in "$pids"/nodemanager-*.pid; do
    [[ -e $f ]] || continue
    role=$(basename "$f" .pid)
    stop_role "$role" &
  done
  wait
  stop_role resourcemanager
  for f in "$pids"/datanode-*.pid; do
    [[ -e $f ]] || continue
    role=$(basename "$f" .pid)
    stop_role "$role" &
  done
  wait
  stop_role namenode
}

cmd_status() {
  local f role pid state addr d rc=0
  printf '%-15s %-8s %-8s %s\n' ROLE PID STATE ADDRESS
  for role in namenode resourcemanager $(for i in $(seq 1 "$DATANODES"); do echo "datanode-$i nodemanager-$i"; done); do
    f=$pids/$role.pid
    pid=$([[ -f $f ]] && cat "$f" || echo -)
    if running "$role"; then state=running; else state=stopped; rc=3; fi
    if [[ $role == namenode ]]; then
      addr="rpc $(addr_of "$nn_dir/namenode.addr") http $(addr_of "$nn_dir/namenode-http.addr")"
    elif [[ $role == resourcemanager ]]; then
      addr="rpc $(addr_of "$rm_dir/resourcemanager.addr") http $(addr_of "$rm_dir/resourcemanager-http.addr")"
    elif [[ $role == nodemanager-* ]]; then
      d=$(nm_dir "${role#nodemanager-}")
      addr="rpc $(addr_of "$d/nodemanager.addr") shuffle $(addr_of "$d/nodemanager-shuffle.addr") http $(addr_of "$d/nodemanager-http.addr")"
    else
      addr="data $(addr_of "$(dn_dir "${role#datanode-}")/datanode.addr") http $(addr_of "$(dn_dir "${role#datanode-}")/datanode-http.addr")"
    fi
    printf '%-15s %-8s %-8s %s\n' "$role" "$pid" "$state" "$addr"
  done
  return $rc
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 1 ;;
esac
