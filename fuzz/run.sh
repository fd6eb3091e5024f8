#!/usr/bin/env bash
# Bounded fuzzing of the loaders and the CLI argument paths with proptest
# (cargo fuzz needs a nightly toolchain). Usage: fuzz/run.sh [CASES]
# Prints, per target, the executions (cases) and the wall time. Any failure
# is shrunk by proptest and printed; keep it as a test in tests/bad_input.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
CASES="${1:-2000}"
CLI_CASES="${CLI_CASES:-$((CASES / 10))}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
cargo test --no-run --test fuzz_loaders --test fuzz_cli >/dev/null 2>&1
run() {
  local test=$1 cases=$2
  local t0 t1
  t0=$(date +%s.%N)
  PROPTEST_CASES=$cases cargo test -q --test "$test" -- --test-threads=1 >"/tmp/fuzz-$test.log" 2>&1 || {
    cat "/tmp/fuzz-$test.log"; echo "FAILED: $test"; exit 1; }
  t1=$(date +%s.%N)
  local props
  props=$(grep -Eo '[0-9]+ passed' "/tmp/fuzz-$test.log" | head -1 | cut -d' ' -f1)
  printf '%-14s %3s properties x %6s cases = %7s executions in %6.1f s\n' \
    "$test" "$props" "$cases" "$((props * cases))" "$(echo "$t1 - $t0" | bc)"
}
run fuzz_loaders "$CASES"
run fuzz_cli "$CLI_CASES"
