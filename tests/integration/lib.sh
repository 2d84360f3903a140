# Shared helpers for integration tests (bash). Source it from a test script.
# Every test gets a temp dir (removed on exit unless CK_KEEP_TMP is set), a
# store URL (SQLite file there, or the PostgreSQL of `make test` when
# CK_TEST_STORE_URL is set) and a unique source name so tests sharing one
# PostgreSQL database never see each other's series.
#
# The rules the helpers keep (tools/lint-tests.sh checks the scripts for
# the rest):
#   - a check is `check DESC CMD...`: CMD (a function or a command) exits
#     non-zero when the check fails, and `finish` fails the script when any
#     check did;
#   - every `ck` run has its exit status checked (`expect_rc`, or `ck_ok`);
#     a run left unchecked is reported as a failure by the next `ck` or by
#     `finish`;
#   - every daemon started with `daemon_start` is stopped with
#     `daemon_stop` (or `daemon_kill`), which asserts its exit status; one
#     still running at `finish` is a failure;
#   - waits go through `wait_for SECONDS CMD...` (poll until CMD succeeds,
#     with a deadline), never a fixed sleep;
#   - `skip DESC WHY` under `make test` (CK_TEST_STRICT=1) is a failure;
#     only `platform_skip DESC WHY` (a tool this machine lacks) is not.
set -euo pipefail

CK_BIN=${CK_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/candlekeep}
CK_SOURCE_DIR=${CK_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
T=$(mktemp -d /tmp/ckit.XXXXXX)
FAKE_PIDS=()
DAEMON_PIDS=()
FAILS=0
PASSES=0
SKIPS=0
RC=0
RC_PENDING=""
SRC="td$$$RANDOM"

cleanup() {
    local p
    for p in "${DAEMON_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || :; done
    for p in "${FAKE_PIDS[@]}"; do kill "$p" 2>/dev/null || :; done
    if [ -z "${CK_KEEP_TMP:-}" ]; then rm -rf "$T"; else echo "kept $T" >&2; fi
}
trap cleanup EXIT

# The health_check task reads a quiet host (tests/fixtures/proc-quiet), so
# that a busy test machine's load does not raise host alerts among the ones
# a scenario counts; test_host_health.sh sets a /proc of its own.
export CANDLEKEEP_PROC_ROOT="$CK_SOURCE_DIR/tests/fixtures/proc-quiet"

if [ -n "${CK_TEST_STORE_URL:-}" ]; then
    STORE_URL=$CK_TEST_STORE_URL
else
    STORE_URL="sqlite:$T/candlekeep.db"
fi

# require_pg: this script needs PostgreSQL (CK_TEST_PG_URL). Without one it
# skips (exit 77), except under `make test` (CK_TEST_PG_REQUIRED=1): a failure.
require_pg() {
    [ -n "${CK_TEST_PG_URL:-}" ] && return 0
    if [ -n "${CK_TEST_PG_REQUIRED:-}" ]; then
        echo "FAIL - $(basename "$0") needs PostgreSQL and CK_TEST_PG_URL is not set" >&2
        exit 1
    fi
    echo "skipped: $(basename "$0") needs PostgreSQL (CK_TEST_PG_URL; make test provides one)" >&2
    exit 77
}

# wait_for SECONDS CMD...: poll CMD until it succeeds; 1 when SECONDS pass first.
wait_for() {
    local deadline=$(($(date +%s%N) / 1000000 + ${1%.*} * 1000))
    shift
    while :; do
        "$@" && return 0
        [ "$(($(date +%s%N) / 1000000))" -lt "$deadline" ] || break
        sleep 0.1 # ck-lint: poll
    done
    "$@"
}

# file_has FILE TEXT: FILE exists and holds TEXT (a fixed string).
file_has() { [ -f "$1" ] && grep -qF -- "$2" "$1"; }
# lacks TEXT FILE...: every FILE exists and none holds TEXT (a fixed string).
# (A bare `! grep -q` passes when the file is missing.)
lacks() {
    local text=$1 f
    shift
    for f in "$@"; do
        [ -f "$f" ] || { echo "no file $f" >&2; return 1; }
        if grep -qF -- "$text" "$f"; then echo "$f holds '$text'" >&2; return 1; fi
    done
}
# lacks_re REGEX FILE...: as lacks, for an extended regular expression.
lacks_re() {
    local re=$1 f
    shift
    for f in "$@"; do
        [ -f "$f" ] || { echo "no file $f" >&2; return 1; }
        if grep -qE -- "$re" "$f"; then echo "$f matches '$re'" >&2; return 1; fi
    done
}

# start_fake_td [KEY...]: start the fake Twelve Data accepting the keys; sets TD_URL.
start_fake_td() {
    local keys=() k
    for k in "${@:-test-key}"; do keys+=(--api-key "$k"); done
    python3 "$CK_SOURCE_DIR/tests/helpers/fake_twelvedata.py" --port-file "$T/td.port" \
        "${keys[@]}" 2>"$T/fake_td.log" &
    FAKE_PIDS+=($!)
    wait_for 10 test -s "$T/td.port" || { echo "fake Twelve Data did not start" >&2; cat "$T/fake_td.log" >&2; exit 1; }
    TD_URL="http://127.0.0.1:$(cat "$T/td.port")"
}

# free_port: a loopback port nothing listens on, for a daemon to bind later.
# It is drawn from below the kernel's ephemeral range (32768 and up), where
# the outgoing connections of the tests running beside this one take their
# local ports: a port the kernel picked for a bind of port 0 is one of those,
# and a curl elsewhere could take it before the daemon binds.
free_port() {
    python3 -c '
import random, socket
for _ in range(500):
    p = random.randint(20000, 32000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break
else:
    raise SystemExit("no free port")'
}

# start_fake NAME SCRIPT ARGS...: start tests/helpers/SCRIPT as a fake of its
# own (several of one kind may run); its URL in $T/NAME.url.
start_fake() {
    local name=$1 script=$2
    shift 2
    python3 "$CK_SOURCE_DIR/tests/helpers/$script" --port-file "$T/$name.port" "$@" 2>"$T/fake_$name.log" &
    FAKE_PIDS+=($!)
    wait_for 10 test -s "$T/$name.port" || { echo "fake $name did not start" >&2; cat "$T/fake_$name.log" >&2; exit 1; }
    echo "http://127.0.0.1:$(cat "$T/$name.port")" >"$T/$name.url"
}
# fake_ctl URL JSON: POST JSON to the control endpoint of the fake at URL.
fake_ctl() { curl -fsS -X POST -H 'Content-Type: application/json' -d "$2" "$1/__control" >/dev/null; }

# td_control JSON: POST to the fake's control endpoint.
td_control() { curl -fsS -X POST -H 'Content-Type: application/json' -d "$1" "$TD_URL/__control" >/dev/null; }
td_reset() { curl -fsS -X POST "$TD_URL/__reset" >/dev/null; }
td_requests() { curl -fsS "$TD_URL/__requests"; }

# daemon_ini_head: the sections every daemon scenario's config starts with:
# the test's store, the API on $PORT, an info log in $T/daemon.log.
daemon_ini_head() {
    printf '[storage]\nurl = %s\n[api]\nlisten = 127.0.0.1:%s\n[log]\nlevel = info\nfile = %s\n' \
        "$STORE_URL" "$PORT" "$T/daemon.log"
}

# ck ARGS...: run candlekeep; stdout/stderr in $T/out, $T/err; status in $RC.
# The status must be looked at (expect_rc) before the next ck or finish.
ck() {
    rc_unchecked
    set +e
    "$CK_BIN" "$@" >"$T/out" 2>"$T/err"
    RC=$?
    set -e
    cat "$T/out" "$T/err" >>"$T/all.log"
    RC_PENDING="candlekeep $*"
}
# rc_unchecked: the last ck run's status was never checked: a failure.
rc_unchecked() {
    if [ -n "$RC_PENDING" ]; then
        local what=$RC_PENDING
        RC_PENDING=""
        FAILS=$((FAILS + 1))
        echo "FAIL - the exit status ($RC) of '${what:0:120}' was not checked" >&2
    fi
}
# ck_ok ARGS...: run candlekeep and check that it exits 0.
ck_ok() {
    ck "$@"
    check "candlekeep $(printf '%s ' "${@:1:3}")exits 0" expect_rc 0
}
# ck_out ARGS...: candlekeep's stdout; returns its exit status (for $(...)
# inside a check function, where the status is seen).
ck_out() { "$CK_BIN" "$@"; }

pass() { PASSES=$((PASSES + 1)); echo "ok - $1"; }
fail() { FAILS=$((FAILS + 1)); echo "FAIL - $1" >&2; echo "--- stdout:" >&2; cat "$T/out" >&2 2>/dev/null || :; echo "--- stderr:" >&2; cat "$T/err" >&2 2>/dev/null || :; }

# skip DESC WHY: a check not made. Under `make test` (CK_TEST_STRICT=1) a failure.
skip() {
    if [ -n "${CK_TEST_STRICT:-}" ]; then
        FAILS=$((FAILS + 1))
        echo "FAIL - $1: skipped ($2), and a skip is a failure under make test" >&2
    else
        SKIPS=$((SKIPS + 1))
        echo "ok - $1 # SKIP $2"
    fi
}
# platform_skip DESC WHY: a check this machine cannot make (a missing tool).
platform_skip() { SKIPS=$((SKIPS + 1)); echo "ok - $1 # SKIP (platform) $2"; }

# check DESC CMD...: pass if the command succeeds.
check() {
    local d=$1
    shift
    if "$@"; then pass "$d"; else fail "$d"; fi
}

expect_rc() {
    RC_PENDING=""
    [ "$RC" -eq "$1" ] || { echo "exit $RC, expected $1" >&2; return 1; }
}
out_has() { grep -qF -- "$1" "$T/out" || { echo "stdout lacks: $1" >&2; return 1; }; }
err_has() { grep -qF -- "$1" "$T/err" || { echo "stderr lacks: $1" >&2; return 1; }; }
# rc_and_err CODE TEXT: the last ck exited CODE and said TEXT on stderr.
rc_and_err() { expect_rc "$1" && err_has "$2"; }

# py EXPR-SCRIPT: run python3 with the argument as a program (stdlib only).
py() { python3 -c "$@"; }

# daemon_start LOGFILE ARGS...: start `candlekeep ARGS...` in the background
# (its output appended to LOGFILE); its pid in $DAEMON_PID.
daemon_start() {
    local log=$1
    shift
    "$CK_BIN" "$@" >>"$log" 2>&1 &
    DAEMON_PID=$!
    DAEMON_PIDS+=("$DAEMON_PID")
}
daemon_forget() {
    local p keep=()
    for p in "${DAEMON_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    DAEMON_PIDS=("${keep[@]}")
}
# daemon_stop PID [SIGNAL]: send SIGNAL (TERM) and wait; its exit status in
# $DAEMON_RC; returns 1 unless it is 0 (under ASan a leak or a crash at
# shutdown is a non-zero exit).
daemon_stop() {
    local pid=$1 sig=${2:-TERM}
    DAEMON_RC=0
    kill -"$sig" "$pid" 2>/dev/null || :
    wait "$pid" || DAEMON_RC=$?
    daemon_forget "$pid"
    [ "$DAEMON_RC" -eq 0 ] || { echo "daemon $pid exited $DAEMON_RC after SIG$sig" >&2; return 1; }
}
# daemon_kill PID: kill -9 and reap; returns 1 unless it died of SIGKILL (137).
daemon_kill() {
    local pid=$1
    DAEMON_RC=0
    kill -KILL "$pid" 2>/dev/null || :
    wait "$pid" || DAEMON_RC=$?
    daemon_forget "$pid"
    [ "$DAEMON_RC" -eq 137 ] || { echo "daemon $pid exited $DAEMON_RC, not killed by SIGKILL" >&2; return 1; }
}

finish() {
    rc_unchecked
    local p
    for p in "${DAEMON_PIDS[@]}"; do
        FAILS=$((FAILS + 1))
        echo "FAIL - daemon $p was started and never stopped with its status checked" >&2
    done
    echo "$PASSES passed, $FAILS failed, $SKIPS skipped"
    [ "$FAILS" -eq 0 ]
}
