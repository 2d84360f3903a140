#!/usr/bin/env bash
# /health and `candlekeep status` say 503 / exit 1 while the database
# answers reads but takes no writes, and name the reason; both are back to
# 200 / exit 0 once it takes writes again. SQLite: the database file is
# made read-only while the daemon runs. Its open connections keep their
# descriptors and can still take the write lock, which is all the check
# used to ask; but every connection opened since (a job's after a failure,
# the next daemon's, `status`) is refused, and the log cannot be
# checkpointed into the file. Root ignores file modes, so as root the file
# is made immutable with chattr +i, which root cannot write through
# either; the test skips, saying so, on a file system without that flag.
# (On PostgreSQL the same check asks whether the server is a read-only
# standby; test_resilience covers a server that goes away.)
source "$(dirname "$0")/lib.sh"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_API_TOKEN CANDLEKEEP_NOW

DB=${STORE_URL#sqlite:}
PORT=$(free_port)
API="http://127.0.0.1:$PORT"
{
    daemon_ini_head
    cat <<INI
[jobs]
refresh_candles_H1 = 0 0 1 1 *
[digest]
schedule = 0 0 1 1 *
[source.$SRC]
kind = twelvedata
api_key = unused
base_url = http://127.0.0.1:9
symbols = XAU/USD
timeframes = H1
calendar = crypto
INI
} >"$T/ck.ini"
CFG=(--config "$T/ck.ini")

# The files made read-only, made writable again (also on the way out, or the
# temporary directory could not be removed).
RO_FILES=()
writable_again() {
    local f
    for f in "${RO_FILES[@]}"; do
        if [ "$(id -u)" -eq 0 ]; then chattr -i "$f"; else chmod 0644 "$f"; fi
    done
    RO_FILES=()
}
trap 'writable_again 2>/dev/null || :; cleanup' EXIT
read_only() {
    local f
    for f in "$@"; do
        if [ "$(id -u)" -eq 0 ]; then chattr +i "$f" 2>>"$T/chattr.err" || return 1
        else chmod 0444 "$f"; fi
        RO_FILES+=("$f")
    done
}

# burst: /health from 16 clients at once, so that each of the API's
# threads (one per processor) has opened its connection to the database.
burst() {
    py "
import concurrent.futures as cf, urllib.request
def get(_): return urllib.request.urlopen('$API/health', timeout=10).status
with cf.ThreadPoolExecutor(16) as ex: codes=list(ex.map(get, range(64)))
assert codes == [200] * 64, codes"
}
# always_503: ten probes in a row answer 503 (whichever thread takes them).
always_503() {
    local i
    for i in $(seq 10); do health_is 503 || { echo "probe $i: $(cat "$T/body")" >&2; return 1; }; done
}
health_is() { [ "$(curl -s -o "$T/body" -w '%{http_code}' "$API/health")" = "$1" ]; }
body() { py "import json; d=json.load(open('$T/body')); $1"; }

daemon_start "$T/daemon.out" run "${CFG[@]}"
DPID=$DAEMON_PID
check "the daemon comes up healthy" wait_for 20 health_is 200
check "/health says the database is reachable" body "assert d['database']['reachable'] and 'error' not in d['database'], d"
ck status "${CFG[@]}"
check "status exits 0 while the database takes writes" expect_rc 0
check "every API thread has its database connection open" burst

if ! read_only "$DB"; then
    writable_again
    platform_skip "a read-only database file" "cannot make $DB read-only here: $(cat "$T/chattr.err")"
else
    check "/health answers 503 once the file is read-only" wait_for 10 health_is 503
    check "and keeps answering 503 on every thread" always_503
    check "/health says the database is unavailable, and why" body "
db=d['database']
assert d['status']=='unavailable' and not db['reachable'], d
assert 'read-only' in db['error'] and '$DB' in db['error'], db"
    check "the scheduler still runs (the 503 is the database's)" body "assert d['scheduler']['running'], d"
    ck status "${CFG[@]}"
    check "status exits 1 while the database takes no writes" expect_rc 1
    check "status says the database is unreachable and read-only" out_has "read-only"
    check "status says unavailable" out_has "unavailable"
    ck status --format json "${CFG[@]}"
    check "status --format json exits 1 too" expect_rc 1
    check "status --format json gives the reason" py "
import json; d=json.load(open('$T/out')); db=d['database']
assert d['status']=='unavailable' and not db['reachable'] and 'read-only' in db['error'], d"
    check "the daemon stays up" kill -0 "$DPID"

    writable_again
    check "/health answers 200 again once the file takes writes" wait_for 10 health_is 200
    check "/health says the database is reachable again" body "assert d['database']['reachable'] and 'error' not in d['database'], d"
    ck status "${CFG[@]}"
    check "status exits 0 again" expect_rc 0
    check "status says the database is reachable" out_has "reachable (sqlite)"
fi
check "the daemon stops cleanly" daemon_stop "$DPID"
finish
