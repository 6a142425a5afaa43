#!/usr/bin/env bash
# The client-only library (what rbee-hive links to install workers): builds it without the
# server feature, checks that no server dependency is in its tree, and runs the documented
# example (examples/install_worker.rs) against a real registry, end to end.
# Usage: scripts/client-only.sh   (CARGO_TARGET_DIR is honoured; the release binary serves)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}

server_crates='^(sqlx|axum|object_store|gix|maud|ammonia|metrics-exporter-prometheus) '
if cargo tree --no-default-features -e normal --prefix none | grep -E "$server_crates"; then
  echo "a server dependency is in the client-only build (above)"; exit 1
fi
cargo build --quiet --no-default-features --lib --example install_worker
echo "client-only build: $(cargo tree --no-default-features -e normal --prefix none | sort -u | wc -l) crates" \
  "(with the server: $(cargo tree -e normal --prefix none | sort -u | wc -l))"

server_bin=${RBEE_BIN:-$CARGO_TARGET_DIR/release/rbee-registry}
work=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill $server 2>/dev/null; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$server_bin" serve --auth off --listen "127.0.0.1:$port" \
  --data-dir "$work/data" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/v2/" && break; sleep 0.1; done

# A worker package as the publish command takes it: bin/<worker>, metadata.json.
id=llm-worker-rbee-cpu
mkdir -p "$work/pkg/bin"
printf '#!/bin/sh\necho "%s 0.1.0"\n' "$id" >"$work/pkg/bin/$id"
chmod 755 "$work/pkg/bin/$id"
python3 - "$work" "$id" <<'PY'
import json, sys
work, worker = sys.argv[1], sys.argv[2]
metadata = json.load(open(f"tests/fixtures/workers/{worker}.metadata.json"))
metadata["version"] = "0.1.0"
json.dump(metadata, open(f"{work}/metadata.json", "w"))
json.dump(metadata, open(f"{work}/pkg/metadata.json", "w"))
PY
tar -C "$work/pkg" -czf "$work/package.tar.gz" bin metadata.json
platform=$(uname -m | sed 's/x86_64/linux-x86_64/; s/aarch64/linux-aarch64/')
"$server_bin" publish --worker "$id" --version 0.1.0 \
  --metadata "$work/metadata.json" --platform "$platform=$work/package.tar.gz" "http://127.0.0.1:$port" >/dev/null

"$CARGO_TARGET_DIR/debug/examples/install_worker" "http://127.0.0.1:$port" "$id" "$work/prefix"
output=$("$work/prefix/bin/$id")
[ "$output" = "$id 0.1.0" ] || { echo "the installed worker printed: $output"; exit 1; }
echo "the example installed $id 0.1.0 and it runs"
