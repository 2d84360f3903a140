# Shared helpers for integration tests (bash). Source it from a test script.
# Every test gets a temp dir (removed on exit unless CK_KEEP_TMP is set), a
# store URL (SQLite file there, or the PostgreSQL of `make test` when
# CK_TEST_STORE_URL is set) and a unique source name so tests sharing one
# PostgreSQL database never see each other's series.
set -euo pipefail

CK_BIN=${CK_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/candlekeep}
CK_SOURCE_DIR=${CK_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
T=$(mktemp -d /tmp/ckit.XXXXXX)
FAKE_PIDS=()
FAILS=0
PASSES=0
SRC="td$$$RANDOM"

cleanup() {
    for p in "${FAKE_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    if [ -z "${CK_KEEP_TMP:-}" ]; then rm -rf "$T"; else echo "kept $T" >&2; fi
}
trap cleanup EXIT

if [ -n "${CK_TEST_STORE_URL:-}" ]; then
    STORE_URL=$CK_TEST_STORE_URL
else
    STORE_URL="sqlite:$T/candlekeep.db"
fi

# start_fake_td [KEY]: start the fake Twelve Data; sets TD_URL.
start_fake_td() {
    local key=${1:-test-key}
    python3 "$CK_SOURCE_DIR/tests/helpers/fake_twelvedata.py" --port-file "$T/td.port" \
        --api-key "$key" 2>"$T/fake_td.log" &
    FAKE_PIDS+=($!)
    for _ in $(seq 1 100); do [ -s "$T/td.port" ] && break; sleep 0.05; done
    [ -s "$T/td.port" ] || { echo "fake Twelve Data did not start" >&2; cat "$T/fake_td.log" >&2; exit 1; }
    TD_URL="http://127.0.0.1:$(cat "$T/td.port")"
}

# td_control JSON: POST to the fake's control endpoint.
td_control() { curl -fsS -X POST -H 'Content-Type: application/json' -d "$1" "$TD_URL/__control" >/dev/null; }
td_reset() { curl -fsS -X POST "$TD_URL/__reset" >/dev/null; }
td_requests() { curl -fsS "$TD_URL/__requests"; }

# ck ARGS...: run candlekeep with the test config; stdout/stderr in $T/out, $T/err; status in $RC.
ck() {
    set +e
    "$CK_BIN" "$@" >"$T/out" 2>"$T/err"
    RC=$?
    cat "$T/out" "$T/err" >>"$T/all.log"
    set -e
}

pass() { PASSES=$((PASSES + 1)); echo "ok - $1"; }
fail() { FAILS=$((FAILS + 1)); echo "FAIL - $1" >&2; echo "--- stdout:" >&2; cat "$T/out" >&2 2>/dev/null || true; echo "--- stderr:" >&2; cat "$T/err" >&2 2>/dev/null || true; }

# check DESC CMD...: pass if the command succeeds.
check() { local d=$1; shift; if "$@"; then pass "$d"; else fail "$d"; fi; }

expect_rc() { [ "$RC" -eq "$1" ] || { echo "exit $RC, expected $1" >&2; return 1; }; }
out_has() { grep -qF -- "$1" "$T/out" || { echo "stdout lacks: $1" >&2; return 1; }; }
err_has() { grep -qF -- "$1" "$T/err" || { echo "stderr lacks: $1" >&2; return 1; }; }

# py EXPR-SCRIPT: run python3 with the argument as a program (stdlib only).
py() { python3 -c "$@"; }

finish() {
    echo "$PASSES passed, $FAILS failed"
    [ "$FAILS" -eq 0 ]
}
