#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make tsan`: the unit tests that start threads (the scheduler and its
# worker pool, the background services: alert sender, heartbeat, database
# watch; the API's server threads; the store's concurrent claims; the
# metrics registry, breakers and rate budgets shared between threads),
# built with ThreadSanitizer (CMake option CK_TSAN) and run on SQLite, and
# the API's also on PostgreSQL when there is one. A report fails the test
# that made it.
# Usage: tools/tsan.sh [BUILD_DIR]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build-tsan}
cd "$ROOT"
TESTS=(test_sched test_alert test_api test_heartbeat test_watch test_metrics test_breaker
    test_ratelimit test_signals_store test_store_open test_http)

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCK_TSAN=ON -DCK_PG_INTEGRATION=OFF >/dev/null
cmake --build "$BUILD" -j "$(nproc)" --target "${TESTS[@]}" 2>&1 | grep -E 'error:|warning:' || :
# halt_on_error: the first race ends the test with a failure, not a warning.
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 history_size=4 ${TSAN_OPTIONS:-}"
re=$(IFS='|'; echo "${TESTS[*]}")
# With a PostgreSQL (make test starts one), the API's tests also run on it:
# there each server thread reads the database's stamp for the requests it defers.
[ -n "${CK_TEST_PG_URL:-}" ] && re_pg='|^pg\.test_api$' || re_pg=
(cd "$BUILD" && ctest --output-on-failure -j "$(nproc)" -R "^unit\.($re)\$$re_pg")
