#!/usr/bin/env bash
# Whole-system benchmarks. Every figure is printed beside a baseline measured
# in the same run, as a ratio, because this machine is shared and noisy.
#
#   scripts/bench.sh storage    dfs put/get (replication 1 and 3) vs cp/cat,
#                               namenode ops/s with 8 clients beside a gRPC
#                               echo on the same server stack, the puts again
#                               with drop_behind_writes, namenode start-up and
#                               memory with 1,000,000 files
#   scripts/bench.sh healing    4 datanodes, dead_after 5s: put BENCH_SIZE_MB at
#                               replication 3, kill -9 one datanode, time from its
#                               death being declared to every block back at 3
#                               live replicas; re-replication MB/s beside put MB/s
#   scripts/bench.sh mapreduce  on the local 3-node cluster: an empty job
#                               (submission to _SUCCESS); wordcount of generated
#                               access logs at BENCH_MR_SIZES MiB beside awk over
#                               the local file, with seconds per GiB at each size
#                               (scaling); terasort of BENCH_TERA_MB beside
#                               LC_ALL=C sort of the same records (hex lines);
#                               each job also with the CPU seconds the cluster's
#                               processes spent on it (robust to other load)
#   scripts/bench.sh streaming  on the local 3-node cluster: Hadoop Streaming word
#                               count of BENCH_STREAM_MB MiB of generated access logs
#                               with the python3 mapper, combiner and reducer of
#                               tests/data/streaming, beside the same scripts run
#                               locally as mapper | LC_ALL=C sort | reducer
#   scripts/bench.sh loganalysis  on the local 3-node cluster: `mapred loganalysis`
#                               of BENCH_LOG_MB of generated combined logs (all
#                               sections) beside single-process baselines over
#                               the local file: awk | sort | uniq -c for the status
#                               distribution and the top URLs, and one awk pass
#                               with hash tables computing the same two
#   scripts/bench.sh fuse       on the local 3-node cluster, through a dfs-fuse mount:
#                               sequential write and read of BENCH_SIZE_MB beside
#                               dfs put/get of the same file, and create, stat and
#                               delete of BENCH_FUSE_FILES (default 10000) small
#                               files beside the same on a local directory
#   scripts/bench.sh fuzz       every target of tusk-fuzz (path, webhdfs, rpc-decode,
#                               rpc-namenode) for BENCH_FUZZ_SECS (default 60) each:
#                               executions, executions/s and crashes, each crash
#                               with its input and replay command; exit 1 on a crash
#   scripts/bench.sh load       tusk-load: a local 3-node cluster, 64 concurrent clients
#                               (LOAD_CLIENTS) for LOAD_SECONDS (default 180) doing a
#                               mix of metadata and data operations, beside the same
#                               mix with 1 client for LOAD_BASELINE_SECONDS (default
#                               30): ops/s, p50/p99 ms per operation and the scaling
#                               ratio; then fsck HEALTHY, every file's SHA-256 as
#                               written, no unexpected error (exit 1 otherwise).
#                               LOAD_CONFIG: a tusk.toml for the cluster
#   scripts/bench.sh tls        two local 3-node clusters side by side, one with
#                               [tls] on (a CA and certificate made with openssl):
#                               dfs put and get (replication 3, short-circuit reads
#                               off) of BENCH_TLS_MB (default 256), alternating
#                               plain and TLS, best of 3 each, MB/s and the CPU
#                               seconds of the client and of the daemons
#
# Environment: BENCH_SIZE_MB (default 1024), BENCH_NN_OPS (default 40000),
# BENCH_FILES (default 1000000), BENCH_MR_SIZES (default "256 1024 2048"),
# BENCH_TERA_MB (default 1024), BENCH_STREAM_MB (default 256),
# BENCH_LOG_MB (default 1024), BENCH_FUZZ_SECS (default 60), BENCH_FUZZ_SEED
# (default: the clock), TUSK_BASE_PORT (default 31000).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"

what=${1:-storage}
[[ $what == storage || $what == healing || $what == mapreduce || $what == streaming || $what == loganalysis || $what == fuse || $what == fuzz || $what == tls || $what == load ]] ||
  { echo "usage: $0 storage|healing|mapreduce|streaming|loganalysis|fuse|fuzz|tls|load" >&2; exit 1; }

# fuzz: no cluster, only the fuzzer (its own in-process namesystem). The
# debug build on purpose: its overflow checks and debug assertions turn
# arithmetic bugs into panics the fuzzer reports (dependencies are still
# optimized, see [profile.dev.package."*"]).
if [[ $what == fuzz ]]; then
  cargo build -q -p tusk-fuzz
  exec "$repo/target/debug/tusk-fuzz" --seconds "${BENCH_FUZZ_SECS:-60}" \
    --seed "${BENCH_FUZZ_SEED:-$(date +%s)}"
fi

SIZE_MB=${BENCH_SIZE_MB:-1024}
NN_OPS=${BENCH_NN_OPS:-40000}
FILES=${BENCH_FILES:-1000000}
export TUSK_BASE_PORT=${TUSK_BASE_PORT:-31000}

cargo build --release --bins -q
bin=$repo/target/release

# load: tusk-load starts (and stops) its own local cluster of these binaries.
if [[ $what == load ]]; then
  TUSK_BIN_DIR=$bin exec "$bin/tusk-load" --clients "${LOAD_CLIENTS:-64}"
fi
dfs=$bin/dfs

work=$(mktemp -d "${TMPDIR:-/tmp}/tusk-bench.XXXXXX")
# Node managers that run containers as users (as root) need every ancestor
# of their dirs traversable; mktemp -d makes 0700.
chmod 755 "$work"
export TUSK_HOME=$work/cluster
export TUSK_BIN_DIR=$bin
# The RPC floor's echo server (storage benchmark).
echo_addr=127.0.0.1:$((TUSK_BASE_PORT + 70))
cleanup() {
  scripts/local-cluster.sh stop >/dev/null 2>&1 || true
  pkill -f "$work/nn1m" 2>/dev/null || true
  pkill -f "tusk-bench echo-server --addr $echo_addr" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
# secs START END
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
mbps() { awk -v mb="$SIZE_MB" -v s="$1" 'BEGIN { printf "%.0f", mb / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# timed CMD... -> seconds of the second of two runs (the first warms memory,
# which this VM hands back to its host when idle).
timed() {
  local t0 t1
  "$@" >/dev/null
  t0=$(now); "$@" >/dev/null; t1=$(now)
  secs "$t0" "$t1"
}

# metric NAME -> the namenode's gauge from /metrics.
metric() {
  { curl -fsS --max-time 2 "http://$TUSK_NAMENODE_HTTP/metrics" 2>/dev/null || true; } |
    awk -v m="tusk_namenode_$1" '$1 == m { print $2; exit }'
}

bench_healing() {
  echo "# healing benchmark, $(date -u +%F), $(nproc) cores, ${SIZE_MB} MiB at replication 3, 4 datanodes"
  mkdir -p "$TUSK_HOME"
  printf '[cluster]\nheartbeat_interval = "1s"\ndead_after = "5s"\n\n[namenode]\nreplication_interval = "500ms"\n' \
    > "$TUSK_HOME/tusk.toml"
  eval "$(DATANODES=4 scripts/local-cluster.sh start)"
  local src=$work/src.bin t0 t1 put_s victim_bytes dead_at done_at heal_s
  head -c $((SIZE_MB << 20)) /dev/urandom > "$src"
  cat "$src" > /dev/null
  t0=$(now); "$dfs" -D dfs.replication=3 put "$src" /heal.bin; t1=$(now)
  put_s=$(secs "$t0" "$t1")
  until [[ $(metric under_replicated_blocks) == 0 && $(metric pending_replication_blocks) == 0 ]]; do sleep 0.2; done
  # The bytes the dead node held are what must be copied again.
  victim_bytes=$(find "$TUSK_HOME/datanode-1/data" -name 'blk_*' ! -name '*.meta' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
  kill -9 "$(cat "$TUSK_HOME/pids/datanode-1.pid")"
  until [[ $(metric dead_datanodes) -ge 1 ]]; do sleep 0.05; done
  dead_at=$(now)
  until [[ $(metric under_replicated_blocks) == 0 && $(metric pending_replication_blocks) == 0 ]]; do sleep 0.1; done
  done_at=$(now)
  heal_s=$(secs "$dead_at" "$done_at")
  "$dfs" fsck /heal.bin | tail -1
  local put_mbps heal_mbps
  put_mbps=$(mbps "$put_s")
  heal_mbps=$(awk -v b="$victim_bytes" -v s="$heal_s" 'BEGIN { printf "%.0f", b / 1048576 / s }')
  printf '%-44s %8s MB/s  (%s s)\n' "dfs put, replication 3" "$put_mbps" "$put_s"
  printf '%-44s %8s MB/s  (%s MiB in %s s)  %sx put\n' "re-replication after a declared death" "$heal_mbps" \
    "$((victim_bytes >> 20))" "$heal_s" "$(ratio "$heal_mbps" "$put_mbps")"
}

# tls: see the header.
bench_tls() {
  local mb=${BENCH_TLS_MB:-256} tls=$work/tls src=$work/src.bin plain_home=$TUSK_HOME
  local tls_port=$((TUSK_BASE_PORT + 200))
  tls_home=$work/cluster-tls  # global: the EXIT trap stops that cluster
  echo "# tls benchmark, $(date -u +%F), $(nproc) cores, ${mb} MiB, replication 3, short-circuit reads off"
  mkdir -p "$tls" "$plain_home" "$tls_home"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=bench CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=tusk" \
    -keyout "$tls/d.key" -out "$tls/d.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > "$tls/d.ext"
  openssl x509 -req -in "$tls/d.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial -days 2 \
    -extfile "$tls/d.ext" -out "$tls/d.pem" 2>/dev/null
  printf '[tls]\nenabled = true\ncert_file = "%s"\nkey_file = "%s"\nca_file = "%s"\n' \
    "$tls/d.pem" "$tls/d.key" "$tls/ca.pem" > "$tls_home/tusk.toml"
  eval "$(scripts/local-cluster.sh start || echo exit 1)"
  local plain_nn=$TUSK_NAMENODE
  trap 'TUSK_HOME=$tls_home scripts/local-cluster.sh stop >/dev/null 2>&1 || true; cleanup' EXIT
  TUSK_HOME=$tls_home TUSK_BASE_PORT=$tls_port TUSK_TLS_CA=$tls/ca.pem scripts/local-cluster.sh start >/dev/null 2>&1 ||
    { echo "bench: the TLS cluster did not start:" >&2; tail -n 5 "$tls_home"/logs/*.log >&2; exit 1; }
  head -c $((mb << 20)) /dev/urandom > "$src"
  export TUSK_SHORTCIRCUIT=0
  # run MODE OP -> "wall client_cpu daemons_cpu" seconds of one put or get.
  run() {
    local home=$plain_home nn=$plain_nn ca= c0 c1 out
    if [[ $1 == tls ]]; then home=$tls_home nn=127.0.0.1:$tls_port ca=$tls/ca.pem; fi
    c0=$(TUSK_HOME=$home cluster_cpu)
    if [[ $2 == put ]]; then
      out=$( { TIMEFORMAT='%R %U %S'; time TUSK_TLS_CA=$ca "$dfs" --namenode "$nn" put -f "$src" /t.bin; } 2>&1)
    else
      rm -f "$work/get.bin"
      out=$( { TIMEFORMAT='%R %U %S'; time TUSK_TLS_CA=$ca "$dfs" --namenode "$nn" get /t.bin "$work/get.bin"; } 2>&1)
      cmp -s "$src" "$work/get.bin" || { echo "bench: $1 get differs from the source" >&2; exit 1; }
    fi
    c1=$(TUSK_HOME=$home cluster_cpu)
    awk -v o="$out" -v a="$c0" -v b="$c1" 'BEGIN { split(o, t, " "); printf "%s %.2f %.1f", t[1], t[2] + t[3], b - a }'
  }
  local op mode i r best
  declare -A best_wall best_client best_daemons
  for op in put get; do
    for i in 1 2 3; do
      for mode in plain tls; do
        read -r -a r <<<"$(run "$mode" "$op")"
        best=${best_wall[$op$mode]:-}
        if [[ -z $best ]] || awk -v a="${r[0]}" -v b="$best" 'BEGIN { exit !(a < b) }'; then
          best_wall[$op$mode]=${r[0]} best_client[$op$mode]=${r[1]} best_daemons[$op$mode]=${r[2]}
        fi
      done
    done
    printf '%-8s plain %5s MB/s  tls %5s MB/s  tls/plain %s   CPU s client %s -> %s, daemons %s -> %s\n' "dfs $op" \
      "$(awk -v m="$mb" -v s="${best_wall[${op}plain]}" 'BEGIN { printf "%.0f", m / s }')" \
      "$(awk -v m="$mb" -v s="${best_wall[${op}tls]}" 'BEGIN { printf "%.0f", m / s }')" \
      "$(ratio "${best_wall[${op}plain]}" "${best_wall[${op}tls]}")" \
      "${best_client[${op}plain]}" "${best_client[${op}tls]}" "${best_daemons[${op}plain]}" "${best_daemons[${op}tls]}"
  done
  rm -f "$src" "$work/get.bin"
}

# cluster_cpu -> CPU seconds used so far by the cluster's daemons and the
# task processes they have reaped (utime + stime + cutime + cstime): a
# figure the other load on this shared machine does not inflate.
cluster_cpu() {
  local f total=0
  for f in "$TUSK_HOME"/pids/*.pid; do
    total=$((total + $(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$(cat "$f")/stat" 2>/dev/null || echo 0)))
  done
  awk -v t="$total" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t / hz }'
}

# mapreduce: see the header.
bench_mapreduce() {
  local mapred=$bin/mapred sizes=${BENCH_MR_SIZES:-256 1024 2048} tera_mb=${BENCH_TERA_MB:-1024}
  local t0 t1 best s mr_s awk_s lines rows sort_s c0 c1
  echo "# mapreduce benchmark, $(date -u +%F), $(nproc) cores"
  eval "$(scripts/local-cluster.sh start)"
  "$dfs" mkdir -p /mr
  # Empty job: one tiny file, submission to _SUCCESS; best of three.
  echo "hello tusk" > "$work/tiny.txt"
  "$dfs" put "$work/tiny.txt" /mr/tiny.txt
  best=999
  for i in 1 2 3; do
    t0=$(now); "$mapred" wordcount /mr/tiny.txt /mr/tiny-out$i >/dev/null 2>&1; t1=$(now)
    s=$(secs "$t0" "$t1"); best=$(awk -v a="$best" -v b="$s" 'BEGIN { print (b < a) ? b : a }')
  done
  printf '%-44s %8s s  (best of 3)\n' "empty job, submission to _SUCCESS" "$best"
  # wordcount of access logs (~155 bytes a line) at each size, beside awk.
  for mb in $sizes; do
    lines=$((mb * 1048576 / 155))
    scripts/gen-logs "$lines" 11 > "$work/logs.txt"
    "$dfs" put -f "$work/logs.txt" /mr/logs-$mb.txt
    # The first run warms memory this VM hands back when idle.
    "$mapred" wordcount /mr/logs-$mb.txt /mr/wc-warm-$mb >/dev/null 2>&1
    c0=$(cluster_cpu); t0=$(now)
    "$mapred" wordcount /mr/logs-$mb.txt /mr/wc-$mb >/dev/null 2>&1
    t1=$(now); c1=$(cluster_cpu)
    mr_s=$(secs "$t0" "$t1")
    awk_s=$(timed awk '{for(i=1;i<=NF;i++)c[$i]++} END {for(w in c) print w, c[w]}' "$work/logs.txt")
    printf '%-44s %8s s  %6s MB/s  %6s s/GiB  cluster CPU %6s s  awk %7s s  %5sx awk\n' \
      "wordcount ${mb} MiB" "$mr_s" \
      "$(awk -v m="$mb" -v s="$mr_s" 'BEGIN { printf "%.0f", m / s }')" \
      "$(awk -v m="$mb" -v s="$mr_s" 'BEGIN { printf "%.2f", s * 1024 / m }')" \
      "$(secs "$c0" "$c1")" "$awk_s" "$(ratio "$awk_s" "$mr_s")"
    rm -f "$work/logs.txt"
    # Free the cluster's disk before the next size.
    "$dfs" rm -r -skipTrash /mr/logs-$mb.txt /mr/wc-warm-$mb /mr/wc-$mb >/dev/null 2>&1 || true
  done
  # terasort, beside LC_ALL=C sort of the same records as hex lines.
  rows=$((tera_mb * 1048576 / 100))
  "$mapred" teragen "$rows" /mr/tera-in >/dev/null 2>&1
  c0=$(cluster_cpu); t0=$(now)
  "$mapred" terasort /mr/tera-in /mr/tera-out >/dev/null 2>&1
  t1=$(now); c1=$(cluster_cpu)
  mr_s=$(secs "$t0" "$t1")
  "$mapred" teravalidate /mr/tera-out /mr/tera-report >/dev/null 2>&1 ||
    { echo "bench: teravalidate failed" >&2; exit 1; }
  "$dfs" cat '/mr/tera-in/part-*' | od -An -v -tx1 -w100 | tr -d ' ' > "$work/tera.hex"
  sort_s=$(timed env LC_ALL=C sort -o "$work/tera.sorted" "$work/tera.hex")
  rm -f "$work/tera.hex" "$work/tera.sorted"
  printf '%-44s %8s s  cluster CPU %6s s  sort %7s s  %5sx sort\n' "terasort ${tera_mb} MiB (${rows} records)" \
    "$mr_s" "$(secs "$c0" "$c1")" "$sort_s" "$(ratio "$sort_s" "$mr_s")"
  scripts/local-cluster.sh stop >/dev/null
}

# streaming: see the header.
bench_streaming() {
  local mb=${BENCH_STREAM_MB:-256} d=$repo/tests/data/streaming py lines t0 t1 mr_s local_s
  # The interpreter itself, not a version manager's shim, on both sides.
  py=$(python3 -c 'import sys; print(sys.executable)')
  echo "# streaming benchmark, $(date -u +%F), $(nproc) cores, ${mb} MiB of access logs, $("$py" --version)"
  eval "$(scripts/local-cluster.sh start)"
  lines=$((mb * 1048576 / 155))
  scripts/gen-logs "$lines" 11 > "$work/logs.txt"
  "$dfs" mkdir -p /st
  "$dfs" put -f "$work/logs.txt" /st/logs.txt
  stream() {
    "$bin/mapred" streaming -input /st/logs.txt -output "$1" -mapper "$py $d/wc_mapper.py" \
      -combiner "$py $d/wc_reducer.py" -reducer "$py $d/wc_reducer.py" >/dev/null 2>&1 ||
      { echo "bench: the streaming job failed" >&2; exit 1; }
  }
  # The first run warms memory this VM hands back when idle.
  stream /st/wc-warm
  t0=$(now); stream /st/wc; t1=$(now)
  mr_s=$(secs "$t0" "$t1")
  t0=$(now)
  "$py" "$d/wc_mapper.py" < "$work/logs.txt" 2>/dev/null | LC_ALL=C sort | "$py" "$d/wc_reducer.py" > "$work/local.out"
  t1=$(now)
  local_s=$(secs "$t0" "$t1")
  # Same counts, or the figure means nothing.
  "$dfs" cat '/st/wc/part-*' | LC_ALL=C sort > "$work/cluster.sorted"
  LC_ALL=C sort "$work/local.out" | cmp -s - "$work/cluster.sorted" ||
    { echo "bench: streaming output differs from the local pipeline" >&2; exit 1; }
  printf '%-44s %8s s  %6s MB/s  local %7s s  %5sx local\n' "streaming wordcount ${mb} MiB (python3)" "$mr_s" \
    "$(awk -v m="$mb" -v s="$mr_s" 'BEGIN { printf "%.0f", m / s }')" "$local_s" "$(ratio "$local_s" "$mr_s")"
  rm -f "$work/logs.txt" "$work/local.out" "$work/cluster.sorted"
  scripts/local-cluster.sh stop >/dev/null
}

# loganalysis: see the header.
bench_loganalysis() {
  local mb=${BENCH_LOG_MB:-1024} f=$work/access.log t0 t1 mr_s sort_s awk_s
  echo "# loganalysis benchmark, $(date -u +%F), $(nproc) cores, ${mb} MiB of combined-format logs"
  eval "$(scripts/local-cluster.sh start)"
  scripts/gen-logs --size "${mb}MiB" --seed 11 > "$f"
  "$dfs" mkdir -p /la
  "$dfs" put -f "$f" /la/access.log
  # The first run warms memory this VM hands back when idle.
  "$bin/mapred" loganalysis /la /la-warm --format combined >/dev/null 2>&1 ||
    { echo "bench: the loganalysis job failed" >&2; exit 1; }
  t0=$(now)
  "$bin/mapred" loganalysis /la /la-out --format combined > "$work/summary.txt" 2>/dev/null ||
    { echo "bench: the loganalysis job failed" >&2; exit 1; }
  t1=$(now)
  mr_s=$(secs "$t0" "$t1")
  # What an operator types: status distribution, then the ten top URLs.
  cat "$f" > /dev/null
  t0=$(now)
  awk '{print $9}' "$f" | LC_ALL=C sort | LC_ALL=C uniq -c > "$work/status.txt"
  awk '{split($7, a, "?"); print a[1]}' "$f" | LC_ALL=C sort | LC_ALL=C uniq -c | sort -rn | sed -n 1,10p > "$work/urls.txt"
  t1=$(now)
  sort_s=$(secs "$t0" "$t1")
  t0=$(now)
  awk '{s[$9]++; split($7, a, "?"); u[a[1]]++} END {for (k in s) print s[k], k; for (k in u) print u[k], k > "/dev/stderr"}' \
    "$f" > "$work/status2.txt" 2> "$work/urls2.txt"
  sort -rn "$work/urls2.txt" | sed -n 1,10p > /dev/null
  t1=$(now)
  awk_s=$(secs "$t0" "$t1")
  # The job's status figures equal the baseline's (both count field 9 of
  # well-formed lines; the baseline also counts garbage lines' field 9).
  local job_200 base_200
  job_200=$("$dfs" cat '/la-out/status/part-r-*' | awk -F'\t' '$1 == 200 {print $2}')
  base_200=$(awk '$2 == 200 {print $1}' "$work/status.txt")
  [[ $job_200 == "$base_200" ]] ||
    { echo "bench: status 200: job $job_200, awk $base_200" >&2; exit 1; }
  printf '%-44s %8s s  %6s MB/s\n' "mapred loganalysis ${mb} MiB (all sections)" "$mr_s" \
    "$(awk -v m="$mb" -v s="$mr_s" 'BEGIN { printf "%.0f", m / s }')"
  printf '%-44s %8s s  job %5sx faster\n' "awk | sort | uniq -c (status, top URLs)" "$sort_s" "$(ratio "$sort_s" "$mr_s")"
  printf '%-44s %8s s  job %5sx faster\n' "awk hash tables, one pass (status, URLs)" "$awk_s" "$(ratio "$awk_s" "$mr_s")"
  rm -f "$f" "$work"/status*.txt "$work"/urls*.txt
  scripts/local-cluster.sh stop >/dev/null
}

# fuse: see the header.
bench_fuse() {
  local nfiles=${BENCH_FUSE_FILES:-10000} src=$work/src.bin
  mnt=$work/mnt  # global: the EXIT trap unmounts it
  local put_s get_s mw_s mr_s lw_s lr_s
  echo "# fuse benchmark, $(date -u +%F), $(nproc) cores, ${SIZE_MB} MiB file, ${nfiles} small files"
  eval "$(scripts/local-cluster.sh start)"
  mkdir -p "$mnt" "$work/local"
  "$bin/dfs-fuse" "$mnt" --namenode "$TUSK_NAMENODE" --log-file "$work/fuse.log"
  trap 'if grep -qs " $mnt " /proc/mounts; then fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" || true; fi; cleanup' EXIT
  head -c $((SIZE_MB << 20)) /dev/urandom > "$src"
  # Sequential: the mount beside dfs put/get (cluster default replication
  # both ways) and a local directory.
  put_s=$(timed "$dfs" put -f "$src" /put.bin)
  mw_s=$(timed cp "$src" "$mnt/mount.bin")
  lw_s=$(timed cp "$src" "$work/local/w.bin")
  get_s=$(timed bash -c "rm -f '$work/get.bin'; '$dfs' get /put.bin '$work/get.bin'")
  mr_s=$(timed bash -c "rm -f '$work/get.bin'; cp '$mnt/mount.bin' '$work/get.bin'")
  lr_s=$(timed bash -c "rm -f '$work/get.bin'; cp '$work/local/w.bin' '$work/get.bin'")
  cmp -s "$src" "$work/get.bin" || { echo "bench: the file read through the mount differs" >&2; exit 1; }
  rm -f "$work/get.bin" "$work/local/w.bin" "$src"
  printf '%-44s %8s MB/s  dfs put %6s MB/s  %5sx put  (local cp %s MB/s)\n' "write through the mount (cp)" \
    "$(mbps "$mw_s")" "$(mbps "$put_s")" "$(ratio "$put_s" "$mw_s")" "$(mbps "$lw_s")"
  printf '%-44s %8s MB/s  dfs get %6s MB/s  %5sx get  (local cp %s MB/s)\n' "read through the mount (cp)" \
    "$(mbps "$mr_s")" "$(mbps "$get_s")" "$(ratio "$get_s" "$mr_s")" "$(mbps "$lr_s")"
  # Small files: create (open/close), stat, delete, in one shell each.
  small() { # DIR OP -> seconds
    local d=$1 t0 t1
    t0=$(now)
    case $2 in
      create) for ((i = 0; i < nfiles; i++)); do : > "$d/f$i"; done ;;
      stat) for ((i = 0; i < nfiles; i++)); do [[ -e $d/f$i ]] || exit 1; done ;;
      delete) find "$d" -maxdepth 1 -type f -delete ;;
    esac
    t1=$(now)
    secs "$t0" "$t1"
  }
  mkdir -p "$mnt/small" "$work/local/small"
  local op m l
  for op in create stat delete; do
    m=$(small "$mnt/small" $op)
    l=$(small "$work/local/small" $op)
    printf '%-44s %8s ops/s  local %8s ops/s  %5sx local\n' "$op ${nfiles} small files through the mount" \
      "$(awk -v n="$nfiles" -v s="$m" 'BEGIN { printf "%.0f", n / s }')" \
      "$(awk -v n="$nfiles" -v s="$l" 'BEGIN { printf "%.0f", n / s }')" "$(ratio "$l" "$m")"
  done
  fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt"
  scripts/local-cluster.sh stop >/dev/null
}

if [[ $what == fuse ]]; then
  bench_fuse
  exit 0
fi
if [[ $what == loganalysis ]]; then
  bench_loganalysis
  exit 0
fi
if [[ $what == streaming ]]; then
  bench_streaming
  exit 0
fi
if [[ $what == tls ]]; then
  bench_tls
  exit 0
fi
if [[ $what == healing ]]; then
  bench_healing
  exit 0
fi
if [[ $what == mapreduce ]]; then
  bench_mapreduce
  exit 0
fi

echo "# storage benchmark, $(date -u +%F), $(nproc) cores, ${SIZE_MB} MiB file"
eval "$(scripts/local-cluster.sh start)"

src=$work/src.bin
head -c $((SIZE_MB << 20)) /dev/urandom > "$src"

cp_s=$(timed cp "$src" "$work/cp.bin")
# cp into a new file while the previous copy stays: fresh page-cache pages,
# as a datanode writing a new replica gets (the cp above overwrites its
# target, so its truncate frees the pages it then reuses at once; on this VM
# fresh pages cost the host, see docs/BENCHMARKS.md).
cp "$src" "$work/cpnew1.bin"
t0=$(now); cp "$src" "$work/cpnew2.bin"; t1=$(now)
cpnew_s=$(secs "$t0" "$t1")
rm -f "$work/cpnew1.bin" "$work/cpnew2.bin"
cpsync_s=$(timed bash -c "cp '$src' '$work/cp.bin' && sync '$work/cp.bin'")
cat_s=$(timed bash -c "cat '$src' > /dev/null")
catf_s=$(timed bash -c "rm -f '$work/cat.bin'; cat '$src' > '$work/cat.bin'")
rm -f "$work/cat.bin"
sha_s=$(timed sha256sum "$src")
rm -f "$work/cp.bin"
printf '%-34s %8s MB/s\n' "baseline cp" "$(mbps "$cp_s")"
printf '%-34s %8s MB/s\n' "baseline cp to a new file" "$(mbps "$cpnew_s")"
printf '%-34s %8s MB/s\n' "baseline cp + sync" "$(mbps "$cpsync_s")"
printf '%-34s %8s MB/s\n' "baseline cat > /dev/null" "$(mbps "$cat_s")"
printf '%-34s %8s MB/s\n' "baseline cat > local file" "$(mbps "$catf_s")"
printf '%-34s %8s MB/s\n' "baseline sha256sum" "$(mbps "$sha_s")"

# The source stays in the page cache for every run (the baselines read it too).
"$dfs" mkdir -p /bench
for r in 1 3; do
  put_s=$(timed "$dfs" -D dfs.replication=$r put -f "$src" /bench/r$r)
  cat_dfs_s=$(timed bash -c "'$dfs' cat /bench/r$r > /dev/null")
  get_s=$(timed bash -c "rm -f '$work/get.bin'; '$dfs' get /bench/r$r '$work/get.bin'")
  cmp -s "$src" "$work/get.bin" || { echo "bench: get of /bench/r$r differs from the source" >&2; exit 1; }
  rm -f "$work/get.bin"
  # The same get with short-circuit local reads off (every byte through the
  # datanode's ReadBlock stream); get_s above used the default (on).
  getnet_s=$(timed bash -c "rm -f '$work/get.bin'; TUSK_SHORTCIRCUIT=0 '$dfs' get /bench/r$r '$work/get.bin'")
  cmp -s "$src" "$work/get.bin" || { echo "bench: get of /bench/r$r differs from the source" >&2; exit 1; }
  rm -f "$work/get.bin"
  eval "put$r=$(mbps "$put_s")"
  printf '%-34s %8s MB/s  %5sx cp  %5sx cp to a new file  %5sx cp+sync\n' "dfs put, replication $r" "$(mbps "$put_s")" \
    "$(ratio "$cp_s" "$put_s")" "$(ratio "$cpnew_s" "$put_s")" "$(ratio "$cpsync_s" "$put_s")"
  printf '%-34s %8s MB/s  %5sx cat>file  %5sx cat>/dev/null\n' "dfs get (to a local file), repl. $r" "$(mbps "$get_s")" \
    "$(ratio "$catf_s" "$get_s")" "$(ratio "$cat_s" "$get_s")"
  printf '%-34s %8s MB/s  %5sx cat>file  short-circuit on: %5sx faster\n' "dfs get, short-circuit off, repl. $r" \
    "$(mbps "$getnet_s")" "$(ratio "$catf_s" "$getnet_s")" "$(ratio "$getnet_s" "$get_s")"
  printf '%-34s %8s MB/s  %5sx cat\n' "dfs cat > /dev/null, repl. $r" "$(mbps "$cat_dfs_s")" "$(ratio "$cat_s" "$cat_dfs_s")"
done
printf '%-34s %8s\n' "put replication 3 / replication 1" "$(ratio "$put3" "$put1")"

echo
echo "# namenode operations over RPC, 8 concurrent clients, ${NN_OPS} ops per phase"
# The baseline: a unary call that only returns its body, on the namenode's
# tonic server stack and runtime (tusk-bench echo-server), measured first
# with the same clients; each phase then prints its share of that floor.
"$bin/tusk-bench" echo-server --addr "$echo_addr" >/dev/null &
echo_pid=$!
"$bin/tusk-bench" nn --namenode "$TUSK_NAMENODE" --clients 8 --ops "$NN_OPS" \
  --namenode-pid "$(cat "$TUSK_HOME/pids/namenode.pid")" \
  --echo "$echo_addr" --echo-pid "$echo_pid"
kill "$echo_pid"; wait "$echo_pid" 2>/dev/null || true

# The puts again with [datanode] drop_behind_writes: each datanode drops what
# it wrote from the page cache, so the next writes reuse those pages. Fresh
# page-cache pages are what replication 3 needs three times as many of, and
# on this VM each one first touched costs the host (see docs/BENCHMARKS.md).
scripts/local-cluster.sh stop >/dev/null
printf '[datanode]\ndrop_behind_writes = true\n' > "$TUSK_HOME/tusk.toml"
eval "$(scripts/local-cluster.sh start)"
echo
echo "# dfs put with drop_behind_writes = true"
for r in 1 3; do
  put_s=$(timed "$dfs" -D dfs.replication=$r put -f "$src" /bench/r$r)
  eval "dput$r=$(mbps "$put_s")"
  printf '%-34s %8s MB/s  %5sx cp  %5sx cp to a new file\n' "dfs put, replication $r" "$(mbps "$put_s")" \
    "$(ratio "$cp_s" "$put_s")" "$(ratio "$cpnew_s" "$put_s")"
done
printf '%-34s %8s\n' "put replication 3 / replication 1" "$(ratio "$dput3" "$dput1")"
rm -f "$TUSK_HOME/tusk.toml"

scripts/local-cluster.sh stop >/dev/null

echo
echo "# namenode start-up and memory with $((FILES / 4)) and ${FILES} files"
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/ { print $2 }' "/proc/$1/status"; }
# nn_files HTTP_PORT: the files gauge of the namenode serving HTTP there.
nn_files() {
  { curl -fsS --max-time 2 "http://127.0.0.1:$1/metrics" 2>/dev/null || true; } |
    awk '$1 == "tusk_namenode_files" { print $2; exit }'
}
# start_nn DIR PORT: sets nn_pid and nn_secs (seconds until it answers).
start_nn() {
  local t0 t1
  t0=$(now)
  "$bin/namenode" --name-dir "$1" --rpc-addr "127.0.0.1:$2" --http-addr "127.0.0.1:$(($2 + 1))" \
    >"$1.log" 2>&1 &
  nn_pid=$!
  until "$dfs" --namenode "127.0.0.1:$2" test -d / 2>/dev/null; do sleep 0.05; done
  t1=$(now)
  nn_secs=$(secs "$t0" "$t1")
}
mkdir -p "$work/nn-empty"
start_nn "$work/nn-empty/name" $((TUSK_BASE_PORT + 50)); empty_s=$nn_secs
"$dfs" --namenode "127.0.0.1:$((TUSK_BASE_PORT + 50))" ls / >/dev/null
empty_rss=$(rss_kb "$nn_pid")
kill "$nn_pid"; wait "$nn_pid" 2>/dev/null || true

# Two namespace sizes, so the figure shows how memory grows with the files:
# resident memory after start + one listing, and after `count` walked every
# inode.
for n in $((FILES / 4)) "$FILES"; do
  rm -rf "$work/nn1m"; mkdir -p "$work/nn1m"
  t0=$(now)
  "$bin/namenode" --name-dir "$work/nn1m/name" --generate-files "$n" >/dev/null 2>&1
  t1=$(now)
  printf '%-34s %8s s\n' "generate ${n} files" "$(secs "$t0" "$t1")"
  du_mb=$(du -sm "$work/nn1m/name" | awk '{print $1}')
  start_nn "$work/nn1m/name" $((TUSK_BASE_PORT + 60)); big_s=$nn_secs
  "$dfs" --namenode "127.0.0.1:$((TUSK_BASE_PORT + 60))" ls /bench/d000000 >/dev/null
  start_rss=$(rss_kb "$nn_pid")
  t0=$(now)
  "$dfs" --namenode "127.0.0.1:$((TUSK_BASE_PORT + 60))" count /bench >/dev/null
  t1=$(now)
  walk_s=$(secs "$t0" "$t1")
  walk_rss=$(rss_kb "$nn_pid")
  walk_hwm=$(hwm_kb "$nn_pid")
  # Delete everything: acknowledged once the tree is detached, then purged
  # in the background (the files gauge falls to 0); peak memory over both.
  t0=$(now)
  "$dfs" --namenode "127.0.0.1:$((TUSK_BASE_PORT + 60))" rm -r -skipTrash /bench >/dev/null
  t1=$(now)
  deadline=$(( $(date +%s) + 600 ))
  until [ "$(nn_files $((TUSK_BASE_PORT + 61)))" = 0 ] || [ "$(date +%s)" -gt "$deadline" ]; do sleep 0.05; done
  t2=$(now)
  del_hwm=$(hwm_kb "$nn_pid")
  kill "$nn_pid"; wait "$nn_pid" 2>/dev/null || true
  printf '%-34s %8s s   (empty namespace: %s s)\n' "start-up to first answer, ${n} files" "$big_s" "$empty_s"
  printf '%-34s %8s MiB (empty namespace: %s MiB; store on disk: %s MiB)\n' "resident after start, ${n} files" \
    "$((start_rss / 1024))" "$((empty_rss / 1024))" "$du_mb"
  printf '%-34s %8s MiB (count of every inode: %s s)\n' "resident after a walk, ${n} files" \
    "$((walk_rss / 1024))" "$walk_s"
  printf '%-34s %8s s   (purged %s s later; peak resident %s MiB, before the delete %s MiB)\n' \
    "rm -r -skipTrash of ${n} files" "$(secs "$t0" "$t1")" "$(secs "$t1" "$t2")" \
    "$((del_hwm / 1024))" "$((walk_hwm / 1024))"
done
