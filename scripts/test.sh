#!/usr/bin/env bash
# The whole test suite, with its set-up: installs the third-party clients the tests use
# (skopeo, Debian's docker-registry, the ORAS Python SDK) when missing, checks formatting
# and lints, runs the Rust tests, runs the conformance harness against rbee-registry and
# against CNCF distribution, runs the fault tests (kill -9, full disk), and checks peak
# memory of a 1 GiB push and pull (64 MiB limit). Property tests (proptest) of the parsers
# run with the unit tests; their regressions live in proptest-regressions/.
#
# Usage: scripts/test.sh            (CARGO_TARGET_DIR is honoured)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
step() { printf '\n==> %s\n' "$*"; }

step "prerequisites"
missing_apt=()
command -v skopeo >/dev/null || missing_apt+=(skopeo)
command -v docker-registry >/dev/null || missing_apt+=(docker-registry)
command -v curl >/dev/null || missing_apt+=(curl)
if [ ${#missing_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_apt[@]}" >/dev/null
  else
    echo "missing: ${missing_apt[*]} (install them with apt, or run this script as root)"; exit 1
  fi
fi
python3 -c 'import oras.client' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check oras
echo "skopeo $(skopeo --version | awk '{print $3}'), $(docker-registry --version 2>&1 | head -1), oras-py $(python3 -c 'import importlib.metadata as m; print(m.version("oras"))')"

step "format and lints"
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings

step "unit and integration tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast
else
  cargo test --no-fail-fast
fi

step "conformance harness against CNCF distribution (docker-registry), to check the harness"
# Prefixed so that distribution's own tally (it fails the v1.1 checks) is not read as ours.
cargo build --release --quiet --bins
KNOWN_DEVIATIONS_OK=1 conformance/run-against-distribution.sh "$CARGO_TARGET_DIR/release/rbee-conformance" 2>&1 \
  | sed 's/^/[docker-registry 2.8] /'

step "conformance harness against rbee-registry (SQLite + filesystem)"
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$CARGO_TARGET_DIR/release/rbee-registry" serve --listen "127.0.0.1:$port" --data-dir "$work/data" >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
"$CARGO_TARGET_DIR/release/rbee-conformance" "http://127.0.0.1:$port" --strict
kill $server

step "fault tests: kill -9 during uploads and manifest writes, a full disk"
scripts/fault-tests.sh

step "peak memory of a 1 GiB push and pull"
scripts/peak-rss.sh 1024 64

step "all green"
