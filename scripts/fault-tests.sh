#!/usr/bin/env bash
# Fault tests against a real rbee-registry process (release build):
#   1. kill -9 during a large chunked upload, restart: nothing partial is served, the upload
#      resumes from its last complete chunk and finishes with verified bytes;
#   2. kill -9 during a monolithic upload, restart: nothing is served, the sweeper removes
#      the abandoned files;
#   3. kill -9 while manifests are being written, three times: after each restart every tag
#      resolves to a manifest whose bytes hash to its digest, and its blobs are there;
#   4. a full disk (a small tmpfs, needs root): pushes fail cleanly (507 with an OCI error
#      body, no partial blob), reads go on, and space comes back for new pushes.
# Every stored blob file is checked to hash to its name after each step.
#
# Usage: scripts/fault-tests.sh        (CARGO_TARGET_DIR is honoured)
set -Eeuo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release --quiet --bin rbee-registry
binary=$CARGO_TARGET_DIR/release/rbee-registry

work=$(mktemp -d /var/tmp/rbee-faults.XXXXXX)
server=""
cleanup() {
  # Wait for a killed server to be gone before unmounting what it had open.
  [ -n "$server" ] && { kill -9 "$server" 2>/dev/null; wait "$server" 2>/dev/null; } || true
  mountpoint -q "$work/full" 2>/dev/null && umount "$work/full" || true
  rm -rf "$work"
}
trap cleanup EXIT
# A command that fails outside `fail` (say a curl inside $(…) under set -e) still says where.
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND exited with $?"; [ -f "$work/server.log" ] && tail -20 "$work/server.log"' ERR
fail() { echo "FAIL: $*"; [ -f "$work/server.log" ] && tail -20 "$work/server.log"; exit 1; }
pass() { echo "ok: $*"; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port

start() {  # start DATA_DIR [extra args…]
  local data=$1; shift
  # Durability, not access, is under test here: an open registry (auth is in tests/it/auth_*).
  "$binary" serve --listen 127.0.0.1:$port --data-dir "$data" --auth off "$@" >>"$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do curl -sf "$base/v2/" >/dev/null && return 0; sleep 0.05; done
  fail "server did not start"
}
crash() { kill -9 "$server"; wait "$server" 2>/dev/null || true; server=""; }
stop() { kill "$server"; wait "$server" 2>/dev/null || true; server=""; }
sha() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }
header() { tr -d '\r' | awk -F': ' -v h="$1" 'tolower($1)==h{print $2}'; }
# Every file under blobs/ hashes to its name (staging files of interrupted writes aside).
check_blob_files() {
  local root=$1/blobs/blobs/sha256 file
  [ -d "$root" ] || return 0
  while IFS= read -r file; do
    case "$file" in *'#'*) continue ;; esac
    [ "$(sha256sum "$file" | cut -d' ' -f1)" = "$(basename "$file")" ] || fail "stored blob $file does not hash to its name"
  done < <(find "$root" -type f)
}

echo "== 1. kill -9 during a large chunked upload"
data=$work/data1
start "$data"
head -c $((96 * 1024 * 1024)) /dev/urandom >"$work/big"
digest=$(sha "$work/big")
location=$(curl -s -D - -o /dev/null -X POST "$base/v2/faults/big/blobs/uploads/" | header location)
# First chunk completes: 32 MiB.
head -c $((32 * 1024 * 1024)) "$work/big" >"$work/chunk1"
tail -c +$((32 * 1024 * 1024 + 1)) "$work/big" >"$work/chunk2"
location=$(curl -s -D - -o /dev/null -X PATCH -H "Content-Range: 0-$((32 * 1024 * 1024 - 1))" \
  --data-binary @"$work/chunk1" "http://127.0.0.1:$port$location" | header location)
# Second chunk is cut off by kill -9 in the middle (sent slowly).
curl -s -o /dev/null -X PATCH --limit-rate 20M -H "Content-Range: $((32 * 1024 * 1024))-$((96 * 1024 * 1024 - 1))" \
  --data-binary @"$work/chunk2" "http://127.0.0.1:$port$location" &
client=$!
sleep 1
crash
wait $client 2>/dev/null || true
start "$data"
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/v2/faults/big/blobs/$digest")
[ "$code" = 404 ] || fail "a blob whose upload was cut off is served (HTTP $code)"
range=$(curl -s -D - -o /dev/null "http://127.0.0.1:$port$location" | header range)
[ "$range" = "0-$((32 * 1024 * 1024 - 1))" ] || fail "after the crash the session holds $range, not the first chunk"
check_blob_files "$data"
location=$(curl -s -D - -o /dev/null -X PATCH -H "Content-Range: $((32 * 1024 * 1024))-$((96 * 1024 * 1024 - 1))" \
  --data-binary @"$work/chunk2" "http://127.0.0.1:$port$location" | header location)
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "http://127.0.0.1:$port$location?digest=$digest")
[ "$code" = 201 ] || fail "finishing the resumed upload: HTTP $code"
pulled=$(curl -s "$base/v2/faults/big/blobs/$digest" | sha256sum | cut -d' ' -f1)
[ "sha256:$pulled" = "$digest" ] || fail "the resumed blob's bytes differ"
leftover=$(find "$data/blobs/uploads" -mindepth 1 2>/dev/null | wc -l)
[ "$leftover" = 0 ] || fail "finishing left $leftover files under uploads/ (staging files of the cut chunk?)"
check_blob_files "$data"
pass "cut chunk not counted, upload resumed from 32 MiB, 96 MiB blob verified, no upload files left"
stop

echo "== 2. kill -9 during a monolithic upload"
start "$data"
curl -s -o /dev/null -X POST --limit-rate 20M -H 'Content-Type: application/octet-stream' \
  --data-binary @"$work/chunk2" "$base/v2/faults/mono/blobs/uploads/?digest=$(sha "$work/chunk2")" &
client=$!
sleep 1
crash
wait $client 2>/dev/null || true
[ "$(find "$data/blobs/uploads" -mindepth 1 -type d | wc -l)" -ge 1 ] || fail "expected the cut upload's files"
start "$data" --upload-session-ttl-secs 1
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/v2/faults/mono/blobs/$(sha "$work/chunk2")")
[ "$code" = 404 ] || fail "a cut monolithic upload is served (HTTP $code)"
for _ in $(seq 60); do
  [ "$(find "$data/blobs/uploads" -mindepth 1 | wc -l)" = 0 ] && break
  sleep 0.1
done
[ "$(find "$data/blobs/uploads" -mindepth 1 | wc -l)" = 0 ] || fail "the sweeper left the abandoned upload's files"
check_blob_files "$data"
pass "nothing served, abandoned files swept"
stop

echo "== 3. kill -9 while manifests are written"
data=$work/data3
start "$data"
python3 - "$base" "$work/facts.json" <<'PY'
import hashlib, json, sys, urllib.request
base = sys.argv[1]
def push(repo, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    req = urllib.request.Request(f"{base}/v2/{repo}/blobs/uploads/?digest={digest}", data=data, method="POST")
    assert urllib.request.urlopen(req).status == 201
    return digest
config = b'{"architecture":"amd64","os":"linux"}'
layers = [bytes([i]) * 1000 for i in range(8)]
descs = [push("faults/manifests", l) for l in layers]
cfg = push("faults/manifests", config)
json.dump({"config": cfg, "layers": descs}, open(sys.argv[2], "w"))
PY
for round in 1 2 3; do
  # A writer that PUTs manifests as fast as it can, under many tags.
  python3 - "$base" "$round" "$work/facts.json" <<'PY' &
import hashlib, json, sys, urllib.request, itertools
base, round_ = sys.argv[1], sys.argv[2]
facts = json.load(open(sys.argv[3]))
for i in itertools.count():
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": facts["config"], "size": 37},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": 1000} for d in facts["layers"][: 1 + i % 8]],
        "annotations": {"round": round_, "i": str(i)}}
    body = json.dumps(manifest).encode()
    req = urllib.request.Request(f"{base}/v2/faults/manifests/manifests/r{round_}-{i}", data=body, method="PUT",
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    try:
        urllib.request.urlopen(req)
    except Exception:
        break
PY
  writer=$!
  sleep 1.5
  crash
  wait $writer 2>/dev/null || true
  start "$data"
  python3 - "$base" <<'PY' || fail "a manifest is corrupt after kill -9"
import hashlib, json, sys, urllib.request
base = sys.argv[1]
tags = json.load(urllib.request.urlopen(f"{base}/v2/faults/manifests/tags/list"))["tags"] or []
# Every manifest's bytes against its digest; the blobs of the newest 20 (written last, so
# nearest to the crash).
for n, tag in enumerate(sorted(tags, key=lambda t: int(t.split("-")[1]))[::-1]):
    r = urllib.request.urlopen(urllib.request.Request(f"{base}/v2/faults/manifests/manifests/{tag}",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}))
    body = r.read()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    assert r.headers["Docker-Content-Digest"] == digest, (tag, "digest header does not match the bytes")
    for layer in (json.loads(body)["layers"] if n < 20 else []):
        b = urllib.request.urlopen(f"{base}/v2/faults/manifests/blobs/{layer['digest']}").read()
        assert "sha256:" + hashlib.sha256(b).hexdigest() == layer["digest"], (tag, "blob bytes")
print(f"   {len(tags)} tags checked")
PY
  check_blob_files "$data"
done
pass "three crashes while writing manifests: every tag resolves to intact content"
stop

echo "== 4. full disk"
if [ "$(id -u)" != 0 ]; then
  echo "skipped: mounting a small tmpfs needs root"
else
  mkdir -p "$work/full"
  mount -t tmpfs -o size=24m tmpfs "$work/full"
  data=$work/full/data
  start "$data"
  echo -n '{"architecture":"amd64","os":"linux"}' >"$work/config.json"
  head -c 100000 /dev/urandom >"$work/small"
  for f in config.json small; do
    curl -sf -o /dev/null -X POST --data-binary @"$work/$f" "$base/v2/faults/full/blobs/uploads/?digest=$(sha "$work/$f")" \
      || fail "pushing a small blob before the disk fills"
  done
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":100000}]}' \
    "$(sha "$work/config.json")" "$(stat -c %s "$work/config.json")" "$(sha "$work/small")" >"$work/manifest.json"
  curl -sf -o /dev/null -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary @"$work/manifest.json" "$base/v2/faults/full/manifests/v1" || fail "pushing the manifest"
  head -c $((40 * 1024 * 1024)) /dev/urandom >"$work/huge"
  for mode in monolithic chunked; do
    if [ $mode = monolithic ]; then
      code=$(curl -s -o "$work/error.json" -w '%{http_code}' -X POST --data-binary @"$work/huge" \
        "$base/v2/faults/full/blobs/uploads/?digest=$(sha "$work/huge")")
    else
      location=$(curl -s -D - -o /dev/null -X POST "$base/v2/faults/full/blobs/uploads/" | header location)
      code=$(curl -s -o "$work/error.json" -w '%{http_code}' -X PATCH --data-binary @"$work/huge" "http://127.0.0.1:$port$location")
    fi
    [ "$code" = 507 ] || fail "$mode push onto a full disk: HTTP $code, expected 507: $(cat "$work/error.json")"
    python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["errors"][0]; assert e["code"] and e["message"]' "$work/error.json" \
      || fail "$mode: the 507 has no OCI error body"
    code=$(curl -s -o /dev/null -w '%{http_code}' "$base/v2/faults/full/blobs/$(sha "$work/huge")")
    [ "$code" = 404 ] || fail "$mode: a blob that did not fit is served (HTTP $code)"
    pulled=$(curl -sf "$base/v2/faults/full/blobs/$(sha "$work/small")" | sha256sum | cut -d' ' -f1)
    [ "sha256:$pulled" = "$(sha "$work/small")" ] || fail "$mode: reads stopped working on a full disk"
    curl -sf -o /dev/null -H 'Accept: application/vnd.oci.image.manifest.v1+json' "$base/v2/faults/full/manifests/v1" \
      || fail "$mode: manifest reads stopped working on a full disk"
    check_blob_files "$data"
  done
  # The failed writes gave their space back: a new small push works.
  head -c 200000 /dev/urandom >"$work/after"
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @"$work/after" \
    "$base/v2/faults/full/blobs/uploads/?digest=$(sha "$work/after")")
  [ "$code" = 201 ] || fail "after the failed pushes a small push gets HTTP $code"
  pass "507 with an OCI error body, nothing partial stored, reads served, space recovered"
  stop
  umount "$work/full"
fi
echo "fault tests: all passed"
