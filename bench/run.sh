#!/usr/bin/env bash
# Builds rbee-registry and rbee-bench in release mode and runs the comparison against CNCF
# distribution (Debian's docker-registry) and nginx sendfile. Prints a Markdown table.
#
# Usage: bench/run.sh [rbee-bench options]      (e.g. --seconds 5 --large-mib 256)
# Needs: docker-registry, wrk, nginx (apt-get install docker-registry wrk nginx-light).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
for tool in docker-registry wrk; do
  command -v $tool >/dev/null || { echo "bench: $tool is missing (apt-get install $tool)"; exit 2; }
done
nginx=$(command -v nginx || echo /usr/sbin/nginx)
cargo build --release --quiet --bin rbee-registry --bin rbee-bench
exec "$CARGO_TARGET_DIR/release/rbee-bench" --rbee "$CARGO_TARGET_DIR/release/rbee-registry" --nginx "$nginx" "$@"
