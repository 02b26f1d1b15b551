#!/usr/bin/env bash
# Everything the test suite needs on a fresh machine, then the tests.
# .ci/run calls this; README's second command is this.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"

need_apt=()
command -v curl >/dev/null || need_apt+=(curl)
command -v ip >/dev/null || need_apt+=(iproute2)  # scripts/netns-cluster.sh (tests/tests/netns.rs)
command -v fusermount3 >/dev/null || need_apt+=(fuse3)  # dfs-fuse (tests/tests/fuse.rs)
command -v rsync >/dev/null || need_apt+=(rsync)  # tests/tests/fuse.rs
command -v chromium >/dev/null || need_apt+=(chromium)  # the loganalysis HTML report (tests/tests/loganalysis.rs)
command -v gzip >/dev/null || need_apt+=(gzip)
command -v openssl >/dev/null || need_apt+=(openssl)  # openssl s_client on a TLS cluster (tests/tests/tls.rs)
command -v python3 >/dev/null || need_apt+=(python3)  # streaming scripts (tests/tests/streaming.rs), tests/data/loganalysis/reference.py
# The virtualenv of the Python WebHDFS clients (tests/tests/webhdfs_clients.rs); Debian splits venv/ensurepip out of python3.
{ command -v python3 >/dev/null && python3 -c 'import ensurepip, venv' 2>/dev/null; } || need_apt+=(python3-venv)
if ((${#need_apt[@]})); then
  echo "test.sh: installing ${need_apt[*]}" >&2
  if [[ $(id -u) == 0 ]]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
  fi
fi

# A clean checkout gains nothing from incremental state, and it costs GBs of disk.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
avail_kb=$(df -Pk "$repo" | awk 'NR==2 {print $4}')
if ((avail_kb < 6 * 1024 * 1024)); then
  echo "test.sh: warning: only $((avail_kb / 1024)) MiB free under $repo; a clean build and the test clusters need about 6 GiB" >&2
fi

# The multi-process tests drive the real binaries through scripts/local-cluster.sh.
cargo build --bins
export TUSK_BIN_DIR=$repo/target/debug

# Two test threads: this is a 2-core machine and every test runs a cluster.
cargo test --workspace -- --test-threads=2 "$@"
