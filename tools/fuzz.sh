#!/usr/bin/env bash
# Runs the libFuzzer targets in fuzz/ (the multipart splitter, the OAuth
# header parser, the constraint language) for a bounded time each, starting
# from the checked-in seeds in fuzz/corpus/<target>/. A crash, a failed
# assertion or a leak fails the script and leaves the input under
# fuzz/artifacts/<target>/.
#
#   tools/fuzz.sh                 every target, FUZZ_SECONDS (default 30) each
#   tools/fuzz.sh constraints     one target
#
# cargo fuzz needs nightly flags (-Zsanitizer); on a stable toolchain
# RUSTC_BOOTSTRAP=1 allows them. Builds go to $CARGO_TARGET_DIR/fuzz (or
# target/fuzz): the sanitizer build never mixes with the normal one.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if ! command -v cargo-fuzz >/dev/null; then
  echo "tools/fuzz.sh: installing cargo-fuzz (cargo install cargo-fuzz --locked)" >&2
  if ! cargo install cargo-fuzz --locked >/tmp/cargo-fuzz-install.log 2>&1; then
    tail -n 20 /tmp/cargo-fuzz-install.log >&2
    echo "tools/fuzz.sh: could not install cargo-fuzz (log above, full log in /tmp/cargo-fuzz-install.log)." >&2
    echo "  It needs crates.io and a C++ compiler (libFuzzer is built from source): apt-get install g++" >&2
    exit 1
  fi
fi

SECONDS_EACH=${FUZZ_SECONDS:-30}
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/fuzz"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(multipart oauth_header constraints)
export RUSTC_BOOTSTRAP=1

cd fuzz
for t in "${targets[@]}"; do
  # New inputs go to a scratch directory, so the checked-in seeds stay as
  # they are; the seeds are read as a second corpus.
  work=$(mktemp -d "/tmp/ironpool-fuzz-$t.XXXXXX")
  echo "== fuzz $t for ${SECONDS_EACH}s"
  start=$(date +%s)
  log="$work.log"
  status=0
  cargo fuzz run --debug-assertions --target-dir "$TARGET_DIR" "$t" "$work" "corpus/$t" -- \
    -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  grep -E '^(stat::number_of_executed_units|stat::new_units_added|INFO: Seed|SUMMARY)|panicked|ERROR|^error' "$log" || true
  [ "$status" -eq 0 ] || tail -n 40 "$log" >&2
  rm -f "$log"
  rm -rf "$work"
  if [ "$status" -ne 0 ]; then
    echo "tools/fuzz.sh: target $t failed (exit $status); the input is in fuzz/artifacts/$t/" >&2
    exit "$status"
  fi
  echo "== fuzz $t passed in $(( $(date +%s) - start ))s (build included)"
done
