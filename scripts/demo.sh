#!/usr/bin/env bash
# Tusk's first command on a fresh clone: build, start a local cluster (a
# namenode, 3 datanodes, a resource manager, 3 node managers), generate a
# day of web server logs and syslog, store them in Tusk, analyse them with
# `mapred loganalysis` (one MapReduce job, maps beside the blocks), print
# the summary and write an HTML report, then stop the cluster.
#
#   scripts/demo.sh [--keep] [--size SIZE]
#
#   --size SIZE   access logs to generate (default 256MiB, about 1.1 million
#                 lines; e.g. --size 1GiB as in the issue, slower to build
#                 and upload); also DEMO_LOG_SIZE
#   --keep        leave the cluster running (stop it with
#                 TUSK_HOME=.tusk-demo scripts/local-cluster.sh stop)
#
# State lives in $TUSK_HOME (default ./.tusk-demo), ports from
# TUSK_BASE_PORT (default 29000); the report is written to
# $TUSK_HOME/loganalysis-report.html.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"

keep=0
size=${DEMO_LOG_SIZE:-256MiB}
while (($#)); do
  case $1 in
    --keep) keep=1; shift ;;
    --size) size=${2:?demo.sh: --size needs a value like 256MiB}; shift 2 ;;
    -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo.sh: unknown argument $1 (see --help)" >&2; exit 1 ;;
  esac
done

export TUSK_HOME=${TUSK_HOME:-$repo/.tusk-demo}
export TUSK_BASE_PORT=${TUSK_BASE_PORT:-29000}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Building (cargo build --release)"
cargo build --release --bins -q
export TUSK_BIN_DIR=$repo/target/release
dfs=$TUSK_BIN_DIR/dfs
mapred=$TUSK_BIN_DIR/mapred

step "Starting a local cluster (3 datanodes + 3 node managers) under $TUSK_HOME"
eval "$(scripts/local-cluster.sh start)"
work=$(mktemp -d "${TMPDIR:-/tmp}/tusk-demo.XXXXXX")
finish() {
  rm -rf "$work"
  if ((keep)); then
    step "The cluster keeps running (--keep); stop it with: TUSK_HOME=$TUSK_HOME scripts/local-cluster.sh stop"
  else
    step "Stopping the cluster"
    scripts/local-cluster.sh stop
  fi
}
trap finish EXIT

step "Generating $size of access logs and 200,000 syslog lines (scripts/gen-logs)"
time scripts/gen-logs --size "$size" --seed 42 > "$work/access.log"
scripts/gen-logs --format syslog 200000 7 > "$work/syslog.log"
ls -lh "$work" | awk 'NR > 1 {print "  " $5, $NF}'

logs=/user/$(id -un)/logs
out=/user/$(id -un)/loganalysis
step "dfs put: storing the logs in $logs (blocks of 32 MiB, so the job gets several maps)"
"$dfs" mkdir -p "$logs"
"$dfs" rm -r -skipTrash "$out" >/dev/null 2>&1 || true
time "$dfs" -D dfs.block.size=33554432 put -f "$work/access.log" "$work/syslog.log" "$logs/"
"$dfs" ls -h "$logs"

report=$TUSK_HOME/loganalysis-report.html
step "mapred loganalysis $logs $out --report $report"
time "$mapred" loganalysis "$logs" "$out" --top 10 --bucket 1h --report "$report"

step "The results are plain TSV, one directory per section"
"$dfs" ls "$out"
echo
echo "dfs cat $out/status/part-r-*:"
"$dfs" cat "$out/status/part-r-*" | sort -t$'\t' -k2,2nr | head -8 | sed 's/^/  /'

step "Report: $report (one self-contained page: open it in any browser)"
