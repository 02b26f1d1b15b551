#!/usr/bin/env bash
# Tusk's first command on a fresh clone: build, start a local cluster (a
# namenode, 3 datanodes, a resource manager, 3 node managers), store a file
# and check it end to end, then analyse a day of web server logs with
# MapReduce jobs on the cluster, and stop the cluster.
#
# (The dedicated log-analysis job, `mapred loganalysis`, replaces the two
# grep jobs below when it lands; they already run as real MapReduce jobs in
# containers beside the data.)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"

export TUSK_HOME=${TUSK_HOME:-$repo/.tusk-demo}
export TUSK_BASE_PORT=${TUSK_BASE_PORT:-29000}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Building (cargo build --release)"
cargo build --release --bins -q
dfs=$repo/target/release/dfs
mapred=$repo/target/release/mapred

step "Starting a local cluster (3 datanodes + 3 node managers) under $TUSK_HOME"
eval "$(scripts/local-cluster.sh start)"
trap 'step "Stopping the cluster"; scripts/local-cluster.sh stop' EXIT

work=$(mktemp -d)
trap 'rm -rf "$work"; step "Stopping the cluster"; scripts/local-cluster.sh stop' EXIT

step "Making a 300 MiB sample file (3 blocks of 128 MiB)"
head -c $((300 << 20)) /dev/urandom > "$work/sample.bin"

step "dfs mkdir -p /user/$(id -un)/demo && dfs put sample.bin"
"$dfs" mkdir -p /user/"$(id -un)"/demo
time "$dfs" put -f "$work/sample.bin" /user/"$(id -un)"/demo/sample.bin

step "dfs ls -R /user"
"$dfs" ls -R /user

step "dfs checksum vs sha256sum"
"$dfs" checksum /user/"$(id -un)"/demo/sample.bin
sha256sum "$work/sample.bin"
remote=$("$dfs" checksum /user/"$(id -un)"/demo/sample.bin | awk '{print $NF}')
local_sum=$(sha256sum "$work/sample.bin" | awk '{print $1}')
[[ $remote == "$local_sum" ]] && echo "checksums agree" || { echo "CHECKSUM MISMATCH" >&2; exit 1; }

step "dfs get and compare"
time "$dfs" get /user/"$(id -un)"/demo/sample.bin "$work/back.bin"
cmp "$work/sample.bin" "$work/back.bin" && echo "round trip is byte-identical"

step "dfs df -h / du -h"
"$dfs" df -h
"$dfs" du -h /user/"$(id -un)"

logs=/user/$(id -un)/logs
step "Generating a day of access logs (scripts/gen-logs, 500,000 lines) and storing them in $logs"
scripts/gen-logs 500000 > "$work/access.log"
ls -lh "$work/access.log" | awk '{print $5, $NF}'
"$dfs" mkdir -p "$logs"
"$dfs" -D dfs.block.size=16777216 put -f "$work/access.log" "$logs/access.log"
"$dfs" -rm -r -skipTrash "$logs-by-status" "$logs-top-urls" >/dev/null 2>&1 || true

step "mapred grep: requests per HTTP status (a MapReduce job, one map per block)"
"$mapred" grep "$logs" "$logs-by-status" '" [1-5][0-9][0-9] '
echo
echo "status   requests"
"$dfs" cat "$logs-by-status/part-r-*" | tr -d '"' | sort -k2 -n -r | awk '{printf "%-8s %8d\n", $1, $2}'

step "mapred grep: the ten most requested URLs"
"$mapred" grep "$logs" "$logs-top-urls" '"(GET|POST|PUT|DELETE|HEAD) [^ ?"]*' 2>&1 | tail -1
"$dfs" cat "$logs-top-urls/part-r-*" | tr -d '"' | sort -t$'\t' -k2 -n -r | awk -F'\t' 'NR <= 10 {printf "%8d  %s\n", $2, $1}'
