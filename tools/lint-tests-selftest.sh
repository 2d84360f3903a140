#!/usr/bin/env bash
# The test-suite lint catches what it is for: each planted violation makes
# tools/lint-tests.sh exit non-zero naming the line, and a clean script
# passes.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
D=$(mktemp -d /tmp/cklint.XXXXXX)
trap 'rm -rf "$D"' EXIT
FAILS=0

# planted NAME EXPECTED-TEXT LINE...: a script of these lines must be refused
# with EXPECTED-TEXT on its line 2.
planted() {
    local name=$1 want=$2 rc=0
    shift 2
    printf '%s\n' 'source lib.sh' "$@" 'finish' >"$D/$name.sh"
    bash "$ROOT/tools/lint-tests.sh" "$D/$name.sh" >"$D/$name.out" 2>&1 || rc=$?
    if [ "$rc" -ne 1 ] || ! grep -qF -- "$name.sh:2: $want" "$D/$name.out"; then
        echo "FAIL - the lint let '$*' through (exit $rc):" >&2
        cat "$D/$name.out" >&2
        FAILS=$((FAILS + 1))
    else
        echo "ok - the lint refuses: $*"
    fi
}
planted ck_true "'|| true' after a candlekeep run" 'ck migrate --from a --to b || true'
planted bin_true "'|| true' after a candlekeep run" '"$CK_BIN" run --config x >out 2>&1 || true'
planted bin_colon "'|| true' after a candlekeep run" '"$CK_BIN" fetch \' '    --symbol X || :'
planted wait_true "'wait ... || true'" 'wait "$DPID" || true'
planted sleep_bare "a fixed sleep as a wait" 'sleep 2'
planted sleep_loop "a fixed sleep as a wait" 'for _ in 1 2 3; do grep -q x f && break; sleep 0.05; done'
planted bash_c "a check written as a program in a string" 'check "no key" bash -c "! grep -q k f"'
planted pass_direct "pass/fail called directly" 'if grep -q x f; then pass "x"; else fail "x"; fi'

printf '%s\n' 'source lib.sh' 'ck jobs list' 'check "jobs exits 0" expect_rc 0' \
    'check "it comes up" wait_for 10 up' 'py "import time; time.sleep(0.1)"' \
    'check "stops" daemon_stop "$DPID"' 'finish' >"$D/clean.sh"
if bash "$ROOT/tools/lint-tests.sh" "$D/clean.sh" >"$D/clean.out" 2>&1; then
    echo "ok - a clean script passes"
else
    echo "FAIL - the lint refused a clean script:" >&2
    cat "$D/clean.out" >&2
    FAILS=$((FAILS + 1))
fi
[ "$FAILS" -eq 0 ]
