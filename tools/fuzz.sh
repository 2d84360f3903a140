#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make fuzz`: build the libFuzzer harnesses of tests/fuzz with clang
# (-fsanitize=fuzzer,address,undefined; CMake option CK_FUZZ) and run each
# for FUZZ_SECONDS (60) from its seed corpus in tests/fuzz/corpus/<name>/.
# New inputs are kept in BUILD/corpus/<name>/ (not in the tree: copy an
# interesting one into the seed corpus by hand); a crash is written to
# BUILD/crashes/ and fails the run, after every harness has had its turn.
# Usage: tools/fuzz.sh [BUILD_DIR] [SECONDS]; FUZZ_JOBS harnesses at once
# (1), FUZZ_ONLY=name runs one.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build-fuzz}
SECONDS_EACH=${2:-${FUZZ_SECONDS:-60}}
cd "$ROOT"
command -v clang >/dev/null || { echo "fuzz: clang is needed (make deps)" >&2; exit 1; }

cmake -S . -B "$BUILD" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCK_FUZZ=ON >/dev/null
cmake --build "$BUILD" -j "$(nproc)" 2>&1 | grep -E 'error:|warning:' || :
mkdir -p "$BUILD/crashes"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
failed=()
for src in tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    short=${name#fuzz_}
    [ -z "${FUZZ_ONLY:-}" ] || [ "$FUZZ_ONLY" = "$short" ] || continue
    bin=$(find "$BUILD" -name "$name" -type f -perm -u+x | head -1)
    [ -n "$bin" ] || { echo "fuzz: $name was not built" >&2; exit 1; }
    mkdir -p "$BUILD/corpus/$short"
    echo "== fuzz: $short for $SECONDS_EACH s =="
    if ! "$bin" "$BUILD/corpus/$short" "tests/fuzz/corpus/$short" \
        -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$BUILD/crashes/$short-" -print_final_stats=1 \
        >"$BUILD/$short.log" 2>&1; then
        failed+=("$short")
        tail -40 "$BUILD/$short.log" >&2
    fi
    grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$BUILD/$short.log" | tr '\n' ' '
    echo
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]} (inputs in $BUILD/crashes/)" >&2
    exit 1
fi
echo "fuzz: every harness ran $SECONDS_EACH s without a finding"
