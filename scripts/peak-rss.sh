#!/usr/bin/env bash
# Pushes and pulls a 1 GiB blob through a release build of rbee-registry and prints the
# server's peak resident memory (VmHWM). Exits non-zero if it reaches the limit.
#
# Usage: scripts/peak-rss.sh [SIZE_MIB] [LIMIT_MIB]     (defaults: 1024 and 100)
set -euo pipefail
size_mib=${1:-1024}
limit_mib=${2:-100}
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release --quiet --bin rbee-registry
binary=$CARGO_TARGET_DIR/release/rbee-registry

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# Memory of the blob path is measured, on an open registry (no token round trips).
"$binary" serve --listen 127.0.0.1:$port --data-dir "$work/data" --auth off >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done

head -c $((size_mib * 1024 * 1024)) /dev/urandom >"$work/blob"
digest=sha256:$(sha256sum "$work/blob" | cut -d' ' -f1)
base=http://127.0.0.1:$port/v2/rss/test

# 1. Streamed monolithic push: POST ?digest= with the whole body.
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/octet-stream' \
  -T "$work/blob" "$base/blobs/uploads?digest=$digest")  # no trailing slash: curl -T would append the file name
[ "$code" = 201 ] || { echo "monolithic push failed: HTTP $code"; exit 1; }

# 2. Chunked push of the same bytes to another repository: four PATCHes, then PUT.
location=$(curl -s -D - -o /dev/null -X POST "http://127.0.0.1:$port/v2/rss/chunked/blobs/uploads/" | tr -d '\r' | awk -F': ' 'tolower($1)=="location"{print $2}')
chunk_mib=$((size_mib / 4)); chunk=$((chunk_mib * 1024 * 1024))
for i in 0 1 2 3; do
  start=$((i * chunk)); end=$((start + chunk - 1))
  location=$(dd if="$work/blob" bs=1M skip=$((i * chunk_mib)) count=$chunk_mib status=none | curl -s -D - -o /dev/null -X PATCH \
    -H "Content-Range: $start-$end" -H 'Content-Type: application/octet-stream' -T - \
    "http://127.0.0.1:$port$location" | tr -d '\r' | awk -F': ' 'tolower($1)=="location"{print $2}')
done
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "http://127.0.0.1:$port$location?digest=$digest")
[ "$code" = 201 ] || { echo "chunked push failed: HTTP $code"; exit 1; }

# 3. Pull it back, twice at once, and check the bytes.
curl -s "$base/blobs/$digest" | sha256sum | cut -d' ' -f1 >"$work/pulled1" &
first_pull=$!
pulled=$(curl -s "http://127.0.0.1:$port/v2/rss/chunked/blobs/$digest" | sha256sum | cut -d' ' -f1)
wait $first_pull
[ "sha256:$pulled" = "$digest" ] && [ "sha256:$(cat "$work/pulled1")" = "$digest" ] || { echo "pulled bytes differ"; exit 1; }

peak_kib=$(awk '/VmHWM/{print $2}' /proc/$server/status)
peak_mib=$((peak_kib / 1024))
echo "pushed (monolithic and 4 chunks) and pulled a ${size_mib} MiB blob; digest verified"
echo "server peak RSS: ${peak_mib} MiB (limit ${limit_mib} MiB)"
[ "$peak_mib" -lt "$limit_mib" ]
