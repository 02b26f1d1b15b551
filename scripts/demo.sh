#!/usr/bin/env bash
# Tusk's first command on a fresh clone: build, start a local cluster, store a
# file in it, show it, check it end to end, and stop the cluster.
#
# (The log-analysis job becomes the demo once MapReduce lands; for now the
# demo shows the storage layer: put, ls, checksum against sha256sum, get.)
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

step "Starting a local cluster (3 datanodes) under $TUSK_HOME"
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
