#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The rules of the tree that `make test` keeps: entry points only at the
# root, every C file formatted, includes pointing down the ring order, and
# a build that compiles with clang as well as gcc. Each checker names what
# it finds; this script runs them all and fails if any failed.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
status=0
run() {
    local what=$1
    shift
    if "$@"; then
        echo "rules: $what: ok"
    else
        echo "rules: $what: FAILED" >&2
        status=1
    fi
}
run "root files" bash tools/check-root.sh
run "clang-format" bash tools/check-format.sh
run "include rings" python3 tools/check-rings.py src
clang_build() {
    cmake -S . -B build-clang -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug >/dev/null &&
        cmake --build build-clang -j "$(nproc)" --target candlekeep >/dev/null
}
run "clang build" clang_build
exit $status
