#!/usr/bin/env bash
# A whole Tusk cluster on this machine.
#
#   scripts/local-cluster.sh start    start whatever is not running, wait until ready
#   scripts/local-cluster.sh stop     stop every daemon this TUSK_HOME started
#   scripts/local-cluster.sh status   each daemon with its pid and address
#
# Environment:
#   TUSK_HOME       state, logs, pid files (default ./.tusk-local)
#   DATANODES       number of datanodes (default 3)
#   TUSK_BASE_PORT  move every port: namenode RPC = B, HTTP = B+1; datanode i
#                   data = B+10*i, HTTP = B+10*i+1. Unset: namenode 9000/9870,
#                   datanode i 19000+10*i / 19001+10*i.
#   TUSK_BIN_DIR    where the binaries are (default: target/release, built if missing)
#   TUSK_READY_TIMEOUT  seconds `start` waits for the cluster (default 60)
#
# Every daemon reads $TUSK_HOME/tusk.toml when it exists. Pid files are
# $TUSK_HOME/pids/<role>[-<i>].pid, logs $TUSK_HOME/logs/<role>[-<i>].log,
# datanode i keeps its blocks under $TUSK_HOME/datanode-<i>/.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

TUSK_HOME=${TUSK_HOME:-./.tusk-local}
mkdir -p "$TUSK_HOME"
TUSK_HOME=$(cd "$TUSK_HOME" && pwd)
DATANODES=${DATANODES:-3}
READY_TIMEOUT=${TUSK_READY_TIMEOUT:-60}
BIN=${TUSK_BIN_DIR:-$repo/target/release}

if [[ -n "${TUSK_BASE_PORT:-}" ]]; then
  NN_RPC_PORT=$TUSK_BASE_PORT
  NN_HTTP_PORT=$((TUSK_BASE_PORT + 1))
  WORKER_BASE=$TUSK_BASE_PORT
else
  NN_RPC_PORT=9000
  NN_HTTP_PORT=9870
  WORKER_BASE=19000
fi

pids=$TUSK_HOME/pids
logs=$TUSK_HOME/logs
mkdir -p "$pids" "$logs"

config_args=()
[[ -f $TUSK_HOME/tusk.toml ]] && config_args=(--config "$TUSK_HOME/tusk.toml")

die() { echo "local-cluster: $*" >&2; exit 1; }

ensure_binaries() {
  local missing=0
  for b in namenode datanode dfs; do [[ -x $BIN/$b ]] || missing=1; done
  if [[ $missing == 1 ]]; then
    if [[ -z "${TUSK_BIN_DIR:-}" ]]; then
      echo "local-cluster: building release binaries..." >&2
      (cd "$repo" && cargo build --release --bins -q) || die "build failed"
    else
      die "missing binaries in $BIN (namenode, datanode, dfs)"
    fi
  fi
}

# running ROLE -> 0 if its pid file names a live process of ours.
running() {
  local f=$pids/$1.pid pid
  [[ -f $f ]] || return 1
  pid=$(cat "$f")
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
  # Guard against pid reuse: the process must be one of our binaries.
  grep -q "$BIN/\|tusk\|namenode\|datanode" "/proc/$pid/cmdline" 2>/dev/null
}

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
nn_http() { echo "127.0.0.1:$NN_HTTP_PORT"; }

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
    --data-addr "127.0.0.1:$((WORKER_BASE + 10 * i))" \
    --http-addr "127.0.0.1:$((WORKER_BASE + 10 * i + 1))" --host 127.0.0.1
}

# metric NAME -> its value from the namenode's /metrics, or "".
# (A namenode not listening yet is not an error: pipefail and set -e would
# otherwise end `start` silently on its first poll.)
nn_metric() {
  { curl -fsS --max-time 2 "http://$(nn_http)/metrics" 2>/dev/null || true; } |
    awk -v m="$1" '$1 == m { print $2; exit }'
}

wait_ready() {
  local deadline=$((SECONDS + READY_TIMEOUT)) live safe
  while ((SECONDS < deadline)); do
    running namenode || die "namenode exited; see $logs/namenode.log"
    for i in $(seq 1 "$DATANODES"); do
      running "datanode-$i" || die "datanode-$i exited; see $logs/datanode-$i.log"
    done
    live=$(nn_metric tusk_namenode_live_datanodes)
    safe=$(nn_metric tusk_namenode_safe_mode)
    if [[ -n $live && $live -ge $DATANODES && $safe == 0 ]]; then
      return 0
    fi
    sleep 0.2
  done
  die "cluster not ready after ${READY_TIMEOUT}s (live datanodes: ${live:-?}/$DATANODES, safe mode: ${safe:-?}); logs in $logs"
}

print_exports() {
  echo "export TUSK_NAMENODE=$(nn_addr) TUSK_NAMENODE_HTTP=$(nn_http) TUSK_HOME=$TUSK_HOME"
}

cmd_start() {
  ensure_binaries
  start_namenode
  for i in $(seq 1 "$DATANODES"); do start_datanode "$i"; done
  wait_ready
  echo "namenode   rpc $(nn_addr)  http $(nn_http)" >&2
  for i in $(seq 1 "$DATANODES"); do
    echo "datanode-$i data 127.0.0.1:$((WORKER_BASE + 10 * i))  http 127.0.0.1:$((WORKER_BASE + 10 * i + 1))" >&2
  done
  print_exports
}

stop_role() {
  local role=$1 f=$pids/$1.pid pid
  [[ -f $f ]] || return 0
  pid=$(cat "$f")
  if running "$role"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "local-cluster: $role (pid $pid) did not stop in 10s; killing" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$f"
}

cmd_stop() {
  local f role
  # Workers first, then the namenode (so datanodes do not log a dead namenode).
  for f in "$pids"/datanode-*.pid; do
    [[ -e $f ]] || continue
    role=$(basename "$f" .pid)
    stop_role "$role"
  done
  stop_role namenode
}

cmd_status() {
  local f role pid state addr rc=0
  printf '%-14s %-8s %-8s %s\n' ROLE PID STATE ADDRESS
  for role in namenode $(for i in $(seq 1 "$DATANODES"); do echo "datanode-$i"; done); do
    f=$pids/$role.pid
    pid=$([[ -f $f ]] && cat "$f" || echo -)
    if running "$role"; then state=running; else state=stopped; rc=3; fi
    if [[ $role == namenode ]]; then
      addr="rpc $(addr_of "$nn_dir/namenode.addr") http $(addr_of "$nn_dir/namenode-http.addr")"
    else
      addr="data $(addr_of "$(dn_dir "${role#datanode-}")/datanode.addr") http $(addr_of "$(dn_dir "${role#datanode-}")/datanode-http.addr")"
    fi
    printf '%-14s %-8s %-8s %s\n' "$role" "$pid" "$state" "$addr"
  done
  return $rc
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 1 ;;
esac
