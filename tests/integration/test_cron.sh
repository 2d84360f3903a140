#!/usr/bin/env bash
# A cron job fires on time on SQLite: with `* * * * *` the daemon runs the
# job at the next minute by itself (no manual run), records the fire time
# (a whole minute) and starts within a few seconds of it; the run is ok and
# the job's next_run moves on to the minute after. The test waits for the
# run's row with a deadline, not for the clock.
#
# On PostgreSQL the scheduler's database-away behaviour follows: the
# database refuses connections (ALLOW_CONNECTIONS false, sessions ended),
# a scheduled fire is skipped and says so, /health answers 503 naming the
# database, the daemon stays up; once the database is back a later fire
# runs ok and /health is 200 again.
# ck-test: pg
source "$(dirname "$0")/lib.sh"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_API_TOKEN CANDLEKEEP_NOW

PORT=$(free_port)
API="http://127.0.0.1:$PORT"
{
    daemon_ini_head
    cat <<INI
[jobs]
refresh_candles_H1 = 0 0 1 1 *
watch_alerts = * * * * *
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
up() { curl -fs "$API/health" >/dev/null 2>&1; }
daemon_start "$T/daemon.out" run --config "$T/ck.ini"
DPID=$DAEMON_PID
STARTED=$(date -u +%s)
check "the daemon comes up" wait_for 20 up
# fired: watch_alerts has a finished run; it in $T/run.json.
fired() {
    curl -fsS "$API/jobs/watch_alerts/runs?limit=5" | py "
import json,sys
r=[x for x in json.load(sys.stdin)['runs'] if x['status']!='running']
assert r
json.dump(r[-1], open('$T/run.json','w'))"  2>/dev/null
}
check "the every-minute job fires by itself within 75 s" wait_for 75 fired
check "the fire is the first whole minute after the start, started within 5 s of it" py "
import json,datetime
r=json.load(open('$T/run.json'))
ts=lambda s: datetime.datetime.strptime(s,'%Y-%m-%dT%H:%M:%S%z').timestamp() if s.endswith('+0000') else datetime.datetime.strptime(s,'%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.timezone.utc).timestamp()
sch,st=ts(r['scheduled']),ts(r['started'])
assert sch % 60 == 0, r
assert $STARTED < sch <= $STARTED + 60, (r, $STARTED)
assert 0 <= st - sch <= 5, r
assert r['status']=='ok', r"
check "next_run is the minute after" py "
import json,urllib.request,datetime
j=json.load(urllib.request.urlopen('$API/jobs/watch_alerts'))
r=json.load(open('$T/run.json'))
nr=datetime.datetime.strptime(j['next_run'],'%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.timezone.utc).timestamp()
sch=datetime.datetime.strptime(r['scheduled'],'%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.timezone.utc).timestamp()
assert nr == sch + 60, (j, r)"
check "the never-firing job did not run" test "$(curl -fsS "$API/jobs/refresh_candles_H1/runs?limit=5" | py "import json,sys; print(len(json.load(sys.stdin)['runs']))")" = 0

if [ -n "${CK_TEST_STORE_URL:-}" ]; then
    PSQL=$(command -v psql 2>/dev/null || ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | tail -n 1)
    admin_sql() { "$PSQL" "$CK_TEST_PG_URL" -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"; }
    PGDB=$("$PSQL" "$STORE_URL" -X -q -A -t -c "SELECT current_database()")
    db_back() { admin_sql "ALTER DATABASE \"$PGDB\" ALLOW_CONNECTIONS true" >/dev/null; }
    trap 'db_back 2>/dev/null || :; cleanup' EXIT
    check "the database refuses connections" admin_sql "ALTER DATABASE \"$PGDB\" ALLOW_CONNECTIONS false"
    check "its sessions are ended" admin_sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$PGDB' AND pid <> pg_backend_pid()"
    AWAY=$(date -u +%s)
    check "a scheduled fire is skipped while the database is away, and says so" \
        wait_for 75 grep -q 'job watch_alerts skipped this cycle: database unavailable' "$T/daemon.log"
    status_is() { [ "$(curl -s -o "$T/body" -w '%{http_code}' "$API/health")" = "$1" ]; }
    check "/health answers 503" wait_for 20 status_is 503
    check "/health says the database is unreachable" py "
import json; d=json.load(open('$T/body')); assert not d['database']['reachable'] and d['database']['error'], d"
    check "the daemon stays up" kill -0 "$DPID"
    check "the database takes connections again" db_back
    # ok_after T: a scheduled watch_alerts run after T ended ok.
    ok_after() {
        curl -fsS "$API/jobs/watch_alerts/runs?limit=10" 2>/dev/null | py "
import json,sys,datetime
ts=lambda s: datetime.datetime.strptime(s,'%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.timezone.utc).timestamp()
assert [r for r in json.load(sys.stdin)['runs'] if r['status']=='ok' and ts(r['scheduled']) > $1]" 2>/dev/null
    }
    check "a later fire runs ok once it is back" wait_for 75 ok_after "$AWAY"
    check "/health is 200 again" wait_for 20 status_is 200
fi
check "the daemon stops with exit 0" daemon_stop "$DPID"
finish
