#!/usr/bin/env bash
# Coverage-guided fuzzing of the input parsers (fuzz/: cargo-fuzz targets, libFuzzer, built
# with nightly Rust): manifest/index inspection, names/references/digests and the /v2 path
# parser, Range/Content-Range, tar extraction, the worker format (metadata.json, platforms,
# worker index and manifest checks), the client's Bearer challenge parser, and the server's
# scope grammar and token verification.
#
# Installs cargo-fuzz (and the nightly toolchain) when missing, builds every target into
# $CARGO_TARGET_DIR/fuzz (so a cached target directory keeps it warm), then runs each target
# for SECONDS from the committed seeds in fuzz/corpus/<target>/. The committed corpus is only
# read: what libFuzzer finds goes to a scratch directory that is removed afterwards. Prints
# per target how many inputs ran and how fast; on a crash it stops, exits non-zero, keeps
# the scratch directory and prints the crashing input (base64) and how to reproduce it.
#
# Usage: scripts/fuzz.sh [SECONDS]          (default 20 per target)
#        FUZZ_TARGETS="names ranges" scripts/fuzz.sh 300
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
fuzz_target_dir=$CARGO_TARGET_DIR/fuzz
# No sanitizer: the code under test is safe Rust, and ASan would double the build time and
# halve the speed. Overflow checks and debug assertions stay on (-a).
build_flags=(--sanitizer none --debug-assertions --codegen-units 16 --target-dir "$fuzz_target_dir")
step() { printf '\n==> %s\n' "$*"; }

if ! cargo +nightly --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

targets=${FUZZ_TARGETS:-$(cargo fuzz list --fuzz-dir fuzz)}
step "building fuzz targets: $(echo $targets)"
started=$(date +%s)
cargo +nightly fuzz build --fuzz-dir fuzz "${build_flags[@]}"
echo "built in $(($(date +%s) - started)) s"

triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
scratch=$(mktemp -d)
# The unpack target creates and removes files for every input: on tmpfs it runs several
# times faster than on a disk mounted with `discard`.
sandboxes=$(mktemp -d -p /dev/shm 2>/dev/null || mktemp -d)
failed=
cleanup() {
  rm -rf "$sandboxes"
  [ -n "$failed" ] || rm -rf "$scratch"
}
trap cleanup EXIT
summary=()
for target in $targets; do
  step "fuzzing $target for ${seconds}s"
  binary=$fuzz_target_dir/$triple/release/$target
  mkdir -p "$scratch/$target/corpus" "$scratch/$target/artifacts" "$sandboxes/$target"
  log=$scratch/$target/log
  status=0
  # The first directory is where new inputs go; the committed one is only read.
  TMPDIR=$sandboxes/$target "$binary" "$scratch/$target/corpus" "fuzz/corpus/$target" \
    -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$scratch/$target/artifacts/" >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  found=$(ls "$scratch/$target/corpus" | wc -l)
  if [ "$status" != 0 ]; then
    failed=1
    grep -v '^#' "$log" | tail -40
    for artifact in "$scratch/$target/artifacts"/*; do
      [ -e "$artifact" ] || continue
      echo "crashing input $artifact (base64):"
      base64 "$artifact"
      echo "reproduce: cargo +nightly fuzz run --fuzz-dir fuzz ${build_flags[*]} $target <file>"
    done
    echo "fuzz target $target failed (exit $status); scratch directory kept: $scratch"
    exit 1
  fi
  line="$target: ${runs:-?} inputs in ${seconds}s (${speed:-?}/s), corpus grew by $found"
  echo "$line"
  summary+=("$line")
done
step "fuzzing summary"
printf '%s\n' "${summary[@]}"
