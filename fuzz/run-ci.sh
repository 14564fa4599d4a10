#!/usr/bin/env bash
# Bounded fuzzing for CI (called by .ci/run after the tests): build every
# cargo-fuzz target once, then run each for FUZZ_SECONDS (default 20) from
# the corpus kept in fuzz/corpus/<target>. A crash, a timeout (an input
# slower than FUZZ_TIMEOUT seconds, default 10) or a memory blow-up fails
# the run; the input is left in fuzz/artifacts/<target>/ and the command
# to replay it is printed.
#
# Build choices (see fuzz/README.md for the measurements):
# - no sanitizer: the targets are safe Rust over safe Rust crates, and
#   AddressSanitizer would double the build and halve the executions;
#   the long runs on a developer machine use it (`cargo fuzz run` default);
# - release with debug assertions and overflow checks (cargo-fuzz's
#   default), so arithmetic mistakes panic;
# - cargo-fuzz itself is installed as a debug build when missing: it only
#   drives cargo, and builds in half the time.
set -euo pipefail
cd "$(dirname "$0")"

secs=${FUZZ_SECONDS:-20}
timeout=${FUZZ_TIMEOUT:-10}
toolchain=${FUZZ_TOOLCHAIN:-nightly}
# cargo-fuzz passes unstable flags. Where no nightly toolchain is installed
# (a machine with only rustup's stable), stable is told to accept them.
if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
  echo "fuzz: no $toolchain toolchain; using stable with RUSTC_BOOTSTRAP=1"
  toolchain=stable
  export RUSTC_BOOTSTRAP=1
fi
if [ "$toolchain" = stable ]; then export RUSTC_BOOTSTRAP=1; fi
flags=(--sanitizer none)

if ! cargo "+$toolchain" fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --locked --debug --quiet
fi

start=$(date +%s)
cargo "+$toolchain" fuzz build "${flags[@]}"
echo "fuzz: built in $(($(date +%s) - start)) s"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for target in $(cargo "+$toolchain" fuzz list); do
  # New inputs go to a scratch directory: the kept corpus only changes
  # by hand (cargo fuzz cmin), so CI never dirties the checkout.
  mkdir -p "$work/$target"
  t0=$(date +%s)
  if ! cargo "+$toolchain" fuzz run "${flags[@]}" "$target" "$work/$target" "corpus/$target" -- \
      -max_total_time="$secs" -timeout="$timeout" -rss_limit_mb=2048 \
      -print_final_stats=1 >"$work/$target.log" 2>&1; then
    tail -n 60 "$work/$target.log"
    echo "fuzz: target $target FAILED; replay with:"
    echo "  cd fuzz && cargo +$toolchain fuzz run ${flags[*]} $target artifacts/$target/<file>"
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$target.log")
  echo "fuzz: $target ok, ${runs:-?} inputs in $(($(date +%s) - t0)) s"
done
echo "fuzz: all targets ok in $(($(date +%s) - start)) s"
