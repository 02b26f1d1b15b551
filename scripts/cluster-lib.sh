# Shared by local-cluster.sh and netns-cluster.sh (sourced, not run).
#
# The sourcing script sets: SCRIPT (its name, for messages), repo, BIN, pids,
# logs, DATANODES, READY_TIMEOUT, and NN_HTTP (the namenode's HTTP "ip:port").
# Optionally RM_HTTP (the resource manager's HTTP "ip:port") and NODEMANAGERS:
# then wait_ready also waits for the resource manager and for that many node
# managers to have registered with it.

die() { echo "$SCRIPT: $*" >&2; exit 1; }

# ensure_binaries [EXTRA...]: namenode, datanode, dfs and EXTRA must be in $BIN
# (built when TUSK_BIN_DIR is not set).
ensure_binaries() {
  local missing=0 b
  for b in namenode datanode dfs "$@"; do [[ -x $BIN/$b ]] || missing=1; done
  if [[ $missing == 1 ]]; then
    if [[ -z "${TUSK_BIN_DIR:-}" ]]; then
      echo "$SCRIPT: building release binaries..." >&2
      (cd "$repo" && cargo build --release --bins -q) || die "build failed"
    else
      die "missing binaries in $BIN (namenode, datanode, dfs $*)"
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
  grep -q "$BIN/\|tusk\|namenode\|datanode\|resourcemanager\|nodemanager" "/proc/$pid/cmdline" 2>/dev/null
}

# stop_role ROLE: SIGTERM, then SIGKILL after 10 s; removes the pid file.
stop_role() {
  local role=$1 f=$pids/$1.pid pid
  [[ -f $f ]] || return 0
  pid=$(cat "$f")
  if running "$role"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "$SCRIPT: $role (pid $pid) did not stop in 10s; killing" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$f"
}

# daemon_get HOST:PORT/PATH: GET from a daemon's HTTP server; https
# checked against the cluster CA when TUSK_TLS_CA is set ([tls] on).
daemon_get() {
  if [[ -n ${TUSK_TLS_CA:-} ]]; then
    curl -fsS --max-time 2 --cacert "$TUSK_TLS_CA" "https://$1"
  else
    curl -fsS --max-time 2 "http://$1"
  fi
}

# nn_metric NAME -> its value from the namenode's /metrics, or "".
# (curl fails while the namenode is not listening yet; under pipefail that
# would otherwise end the caller silently on its first poll.)
nn_metric() {
  { daemon_get "$NN_HTTP/metrics" 2>/dev/null || true; } |
    awk -v m="$1" '$1 == m { print $2; exit }'
}

# rm_metric NAME -> its value from the resource manager's /metrics, or "".
rm_metric() {
  { daemon_get "$RM_HTTP/metrics" 2>/dev/null || true; } |
    awk -v m="$1" '$1 == m { print $2; exit }'
}

# wait_ready: until every datanode is live and safe mode is off (and, with
# RM_HTTP set, every node manager registered with the resource manager), or die.
wait_ready() {
  local deadline=$((SECONDS + READY_TIMEOUT)) live safe i nms=${NODEMANAGERS:-0} active=
  [[ -n ${RM_HTTP:-} ]] || nms=0
  while ((SECONDS < deadline)); do
    running namenode || die "namenode exited; see $logs/namenode.log"
    for i in $(seq 1 "$DATANODES"); do
      running "datanode-$i" || die "datanode-$i exited; see $logs/datanode-$i.log"
    done
    if ((nms > 0)); then
      running resourcemanager || die "resourcemanager exited; see $logs/resourcemanager.log"
      for i in $(seq 1 "$nms"); do
        running "nodemanager-$i" || die "nodemanager-$i exited; see $logs/nodemanager-$i.log"
      done
      active=$(rm_metric tusk_resourcemanager_active_nodes)
    fi
    live=$(nn_metric tusk_namenode_live_datanodes)
    safe=$(nn_metric tusk_namenode_safe_mode)
    if [[ -n $live && $live -ge $DATANODES && $safe == 0 ]] &&
      { ((nms == 0)) || [[ -n $active && $active -ge $nms ]]; }; then
      return 0
    fi
    sleep 0.2
  done
  if ((nms > 0)); then
    die "cluster not ready after ${READY_TIMEOUT}s (live datanodes: ${live:-?}/$DATANODES, safe mode: ${safe:-?}, node managers registered: ${active:-?}/$nms); logs in $logs"
  fi
  die "cluster not ready after ${READY_TIMEOUT}s (live datanodes: ${live:-?}/$DATANODES, safe mode: ${safe:-?}); logs in $logs"
}

# ensure_secret: the cluster secret ($TUSK_SECRET_FILE, else
# $TUSK_HOME/cluster.secret; a tusk.toml cluster_secret_file is the
# operator's to provide) is made here, before any daemon starts, so node
# managers and datanodes (which only read it) never race the namenode and
# resource manager (which would create it) at the first start.
ensure_secret() {
  local f=${TUSK_SECRET_FILE:-$TUSK_HOME/cluster.secret} tmp
  [[ -e $f ]] && return 0
  tmp=$f.tmp.$$
  (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$tmp" && echo >>"$tmp")
  ln "$tmp" "$f" 2>/dev/null || true # link(2): the first creator wins
  rm -f "$tmp"
}
