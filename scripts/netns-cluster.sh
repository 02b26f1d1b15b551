#!/usr/bin/env bash
# A Tusk cluster on one machine with one network namespace per daemon, so a
# test can cut a node or a whole rack off the network and heal the cut.
#
#   scripts/netns-cluster.sh up             create namespaces + links, start every daemon, wait until ready
#   scripts/netns-cluster.sh down           stop the daemons, remove the namespaces, links and bridge
#   scripts/netns-cluster.sh status         each daemon: pid, state, address, rack, link
#   scripts/netns-cluster.sh cut HOST|RACK  link down (datanode-<i>, namenode, an IP, or a rack such as /rack1)
#   scripts/netns-cluster.sh heal HOST|RACK link up again
#
# Layout: a bridge ($PREFIX-br, 10.77.0.1/24) in the root namespace; the
# namenode in namespace $PREFIX-nn at 10.77.0.2 (RPC 9000, HTTP 9870);
# datanode i in $PREFIX-dn<i> at 10.77.0.(10+i) (data 9866, HTTP 9864),
# each joined to the bridge by a veth pair whose root-side end
# ($PREFIX-nn-h, $PREFIX-dn<i>-h) is what `cut` takes down. Datanodes
# 1..N/2 are on /rack1, the others on /rack2 ($TUSK_HOME/racks.txt). All the
# traffic stays inside this machine's own namespaces; nothing is routed out.
#
# Environment:
#   TUSK_HOME         state, logs, pid files (default ./.tusk-netns)
#   DATANODES         number of datanodes (default 4)
#   TUSK_BIN_DIR      where the binaries are (default target/release, built if missing)
#   TUSK_NETNS_PREFIX names of namespaces and links (default tusk; at most 8 characters)
#   TUSK_READY_TIMEOUT  seconds `up` waits for the cluster (default 60)
#
# Every daemon reads $TUSK_HOME/tusk.toml when it exists, with the topology
# file added to its [cluster] section (written to $TUSK_HOME/netns.toml).
# Pid files $TUSK_HOME/pids/<role>.pid, logs $TUSK_HOME/logs/<role>.log as
# in local-cluster.sh. Needs root and iproute2 (`ip`).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

TUSK_HOME=${TUSK_HOME:-./.tusk-netns}
mkdir -p "$TUSK_HOME"
TUSK_HOME=$(cd "$TUSK_HOME" && pwd)
# The daemons find the cluster secret at $TUSK_HOME/cluster.secret.
export TUSK_HOME
DATANODES=${DATANODES:-4}
READY_TIMEOUT=${TUSK_READY_TIMEOUT:-60}
BIN=${TUSK_BIN_DIR:-$repo/target/release}
P=${TUSK_NETNS_PREFIX:-tusk}
BR=$P-br
NET=10.77.0
NN_IP=$NET.2

pids=$TUSK_HOME/pids
logs=$TUSK_HOME/logs
mkdir -p "$pids" "$logs"

SCRIPT=netns-cluster
NN_HTTP=$NN_IP:9870
# shellcheck source=scripts/cluster-lib.sh
source "$here/cluster-lib.sh"

dn_ip() { echo "$NET.$((10 + $1))"; }
dn_rack() { if (($1 <= (DATANODES + 1) / 2)); then echo /rack1; else echo /rack2; fi; }
ns_of() { [[ $1 == namenode ]] && echo "$P-nn" || echo "$P-dn${1#datanode-}"; }
link_of() { echo "$(ns_of "$1")-h"; }

check_tools() {
  [[ $(id -u) == 0 ]] || die "needs root (network namespaces)"
  command -v ip >/dev/null || die "needs iproute2 (ip)"
  ((${#P} <= 8)) || die "TUSK_NETNS_PREFIX must be at most 8 characters (link names are limited to 15)"
}

# The config every daemon reads: tusk.toml plus the topology.
write_config() {
  local i user=$TUSK_HOME/tusk.toml out=$TUSK_HOME/netns.toml
  : > "$TUSK_HOME/racks.txt"
  for i in $(seq 1 "$DATANODES"); do
    echo "$(dn_ip "$i") $(dn_rack "$i")" >> "$TUSK_HOME/racks.txt"
  done
  if [[ -f $user ]] && grep -q '^\[cluster\]' "$user"; then
    grep -v '^topology *=' "$user" |
      awk -v t="topology = \"$TUSK_HOME/racks.txt\"" '{ print } /^\[cluster\]/ { print t }' > "$out.tmp"
  else
    { echo "[cluster]"; echo "topology = \"$TUSK_HOME/racks.txt\""; echo
      if [[ -f $user ]]; then cat "$user"; fi; } > "$out.tmp"
  fi
  mv "$out.tmp" "$out"
}

# netns NAME IP LINK: a namespace joined to the bridge (idempotent).
make_ns() {
  local ns=$1 addr=$2 host=$3
  ip netns list | grep -qw "^$ns" || ip netns add "$ns"
  # A host end left from an earlier namespace (the kernel frees a deleted
  # namespace, and the veth peer in it, asynchronously) is replaced.
  if ! ip -n "$ns" link show eth0 >/dev/null 2>&1; then
    ip link del "$host" 2>/dev/null || true
  fi
  if ! ip link show "$host" >/dev/null 2>&1; then
    ip link add "$host" type veth peer name eth0 netns "$ns"
    ip link set "$host" master "$BR"
    ip link set "$host" up
  fi
  ip -n "$ns" link set lo up
  ip -n "$ns" addr replace "$addr/24" dev eth0
  ip -n "$ns" link set eth0 up
}

make_net() {
  if ! ip link show "$BR" >/dev/null 2>&1; then
    ip link add "$BR" type bridge
  fi
  ip addr replace "$NET.1/24" dev "$BR"
  ip link set "$BR" up
  make_ns "$P-nn" "$NN_IP" "$P-nn-h"
  for i in $(seq 1 "$DATANODES"); do
    make_ns "$P-dn$i" "$(dn_ip "$i")" "$P-dn$i-h"
  done
}

# launch ROLE NS CMD...: start a daemon inside namespace NS in its own session.
launch() {
  local role=$1 ns=$2; shift 2
  rm -f "$pids/$role.pid"
  setsid ip netns exec "$ns" "$@" >>"$logs/$role.log" 2>&1 < /dev/null &
  echo $! > "$pids/$role.pid"
}

start_daemons() {
  local i d
  ensure_secret
  if ! running namenode; then
    mkdir -p "$TUSK_HOME/namenode"
    launch namenode "$P-nn" "$BIN/namenode" --config "$TUSK_HOME/netns.toml" \
      --name-dir "$TUSK_HOME/namenode/name" --state-dir "$TUSK_HOME/namenode" \
      --rpc-addr "$NN_IP:9000" --http-addr "$NN_IP:9870"
  fi
  for i in $(seq 1 "$DATANODES"); do
    running "datanode-$i" && continue
    d=$TUSK_HOME/datanode-$i
    mkdir -p "$d/data"
    launch "datanode-$i" "$P-dn$i" "$BIN/datanode" --config "$TUSK_HOME/netns.toml" \
      --namenode "$NN_IP:9000" --data-dir "$d/data" --state-dir "$d" \
      --data-addr "$(dn_ip "$i"):9866" --http-addr "$(dn_ip "$i"):9864" --host "$(dn_ip "$i")"
  done
}

cmd_up() {
  check_tools
  ensure_binaries
  write_config
  make_net
  start_daemons
  wait_ready
  echo "namenode   $NN_IP rpc :9000 http :9870 (netns $P-nn)" >&2
  for i in $(seq 1 "$DATANODES"); do
    echo "datanode-$i $(dn_ip "$i") data :9866 http :9864 rack $(dn_rack "$i") (netns $P-dn$i)" >&2
  done
  echo "export TUSK_NAMENODE=$NN_IP:9000 TUSK_NAMENODE_HTTP=$NN_IP:9870 TUSK_HOME=$TUSK_HOME"
}

cmd_down() {
  check_tools
  local f ns
  # Heal every cut first: a daemon cut off stops slowly (it waits on dead peers).
  for f in "$pids"/*.pid; do
    [[ -e $f ]] || continue
    ip link set "$(link_of "$(basename "$f" .pid)")" up 2>/dev/null || true
  done
  # Datanodes together, then the namenode.
  for f in "$pids"/datanode-*.pid; do
    [[ -e $f ]] || continue
    stop_role "$(basename "$f" .pid)" &
  done
  wait
  stop_role namenode
  # Deleting a veth end removes the pair at once (a namespace goes later).
  for f in $(ip -o link show | awk -F': ' '{ print $2 }' | grep -E "^$P-(nn|dn[0-9]+)-h(@|$)" | cut -d@ -f1 || true); do
    ip link del "$f" 2>/dev/null || true
  done
  for ns in $(ip netns list | awk '{ print $1 }' | grep -E "^$P-(nn|dn[0-9]+)$" || true); do
    ip netns del "$ns" 2>/dev/null || true
  done
  ip link del "$BR" 2>/dev/null || true
}

# targets SPEC -> roles: datanode-<i>, namenode, an IP, or a rack.
targets() {
  local spec=$1 i found=0
  if [[ $spec == namenode || $spec == "$NN_IP" ]]; then echo namenode; return; fi
  for i in $(seq 1 "$DATANODES"); do
    if [[ $spec == "datanode-$i" || $spec == "$(dn_ip "$i")" || $spec == "$(dn_rack "$i")" ]]; then
      echo "datanode-$i"; found=1
    fi
  done
  ((found)) || die "no host or rack named $spec (datanode-<i>, namenode, 10.77.0.x, /rack1, /rack2)"
}

cmd_link() {
  local state=$1 spec=$2 role
  check_tools
  for role in $(targets "$spec"); do
    ip link set "$(link_of "$role")" "$state"
    echo "$role $(link_of "$role") $state"
  done
}

cmd_status() {
  local role pid state ip rack link rc=0
  printf '%-12s %-8s %-8s %-12s %-7s %s\n' ROLE PID STATE ADDRESS RACK LINK
  for role in namenode $(for i in $(seq 1 "$DATANODES"); do echo "datanode-$i"; done); do
    pid=$([[ -f $pids/$role.pid ]] && cat "$pids/$role.pid" || echo -)
    if running "$role"; then state=running; else state=stopped; rc=3; fi
    if [[ $role == namenode ]]; then ip=$NN_IP rack=-; else ip=$(dn_ip "${role#datanode-}") rack=$(dn_rack "${role#datanode-}"); fi
    if ip -o link show "$(link_of "$role")" 2>/dev/null | grep -q '[<,]UP[,>]'; then link=up; else link=down; fi
    printf '%-12s %-8s %-8s %-12s %-7s %s\n' "$role" "$pid" "$state" "$ip" "$rack" "$link"
  done
  return $rc
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  cut) [[ -n ${2:-} ]] || die "usage: $0 cut HOST|RACK"; cmd_link down "$2" ;;
  heal) [[ -n ${2:-} ]] || die "usage: $0 heal HOST|RACK"; cmd_link up "$2" ;;
  *) echo "usage: $0 up|down|status|cut HOST|RACK|heal HOST|RACK" >&2; exit 1 ;;
esac
