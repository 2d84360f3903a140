#!/usr/bin/env bash
# Run the whole suite: the test-suite lint and the rules of the tree
# (tools/check-rules.sh) first, then build, start a
# throwaway PostgreSQL cluster, run every test (SQLite and PostgreSQL
# variants), then the unit tests and a short integration smoke run (the
# multi-daemon and shared-delivery scenarios among them, on PostgreSQL)
# under ASan+UBSan; see tests/CMakeLists.txt. Both builds run every fuzz
# harness once over its seed corpus. Last, the threaded unit tests under
# ThreadSanitizer (tools/tsan.sh; CK_SKIP_TSAN=1 leaves them out). The
# cluster is stopped on every exit path.
#
# Under this script a skipped check is a failure (CK_TEST_STRICT) and so is
# a test that needs PostgreSQL and finds none (CK_TEST_PG_REQUIRED).
# Integration scripts mostly wait on the daemons they drive, so ctest runs
# twice as many tests at once as there are processors (CK_TEST_JOBS).
set -euo pipefail
START=$(date +%s)
BUILD=${1:-build}
ASAN_BUILD=${2:-build-asan}
TSAN_BUILD=${3:-build-tsan}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

echo "== test: lint of the test scripts =="
bash tools/lint-tests.sh
bash tools/lint-tests-selftest.sh
echo "== test: rules of the tree (root files, formatting, include rings, clang) =="
bash tools/check-rules.sh

PGDIR=$(mktemp -d /tmp/ckpg.XXXXXX)
cleanup() { bash tests/helpers/pg_cluster.sh stop "$PGDIR" || true; rm -rf "$PGDIR"; }
trap cleanup EXIT
CK_TEST_PG_URL=$(bash tests/helpers/pg_cluster.sh start "$PGDIR")
# Without a URL every pg test would skip; under `make test` that is a failure.
case $CK_TEST_PG_URL in
    postgresql://* | postgres://*) ;;
    *) echo "test: pg_cluster.sh gave no PostgreSQL URL" >&2; exit 1 ;;
esac
export CK_TEST_PG_URL
export CK_TEST_STRICT=1 CK_TEST_PG_REQUIRED=1
JOBS=${CK_TEST_JOBS:-$(($(nproc) * 2))}
echo "test: PostgreSQL for the pg tests at $(echo "${CK_TEST_PG_URL%%\?*}" | sed -E 's#(://[^:/@]*):[^@]*@#\1:***@#')"

run_suite() {
    local dir=$1; shift
    cmake -S . -B "$dir" "$@" >/dev/null
    cmake --build "$dir" -j "$(nproc)"
    (cd "$dir" && ctest --output-on-failure -j "$JOBS" --timeout 600)
}

echo "== test: release build =="
run_suite "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCK_PG_INTEGRATION=ON -DCK_INTEGRATION=full
if [ -z "${CK_SKIP_ASAN:-}" ]; then
    echo "== test: ASan+UBSan build =="
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    run_suite "$ASAN_BUILD" -DCMAKE_BUILD_TYPE=Debug -DCK_SANITIZE=ON -DCK_PG_INTEGRATION=ON \
        -DCK_INTEGRATION=smoke
fi
if [ -z "${CK_SKIP_TSAN:-}" ]; then
    echo "== test: ThreadSanitizer build of the threaded unit tests =="
    bash tools/tsan.sh "$TSAN_BUILD"
fi
echo "test: all suites passed in $(($(date +%s) - START)) s"
