#!/usr/bin/env bash
# Two daemons on one PostgreSQL; the one running a long job (a D1 refresh
# whose timeout is a day, the provider holding its answer) is killed with
# -9. Its heartbeat (the instance lease, renewed every 3 s for 9 s) lapses,
# and the survivor, at its own next heartbeat, gives up the dead daemon's
# leases and marks its run failed "interrupted: its daemon died": within
# seconds, not the job's day-long timeout. The survivor then runs the job
# itself (not refused as running in another process). The leases name
# their holder: the dead daemon's instance id, its host and pid.
# ck-test: pg-only
source "$(dirname "$0")/lib.sh"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_API_TOKEN

if [[ "$STORE_URL" != postgres* ]]; then
    require_pg
    echo "FAIL - two daemons on one database need PostgreSQL (run under tests/helpers/with_pg.sh)" >&2
    exit 1
fi

KEY="sk-pgtakeover-7e1d3b5a"
start_fake_td "$KEY"
D1="refresh_candles_D1"
PORTS=()
for i in 1 2; do
    port=$(free_port)
    PORTS+=("$port")
    cat >"$T/ck$i.ini" <<INI
[storage]
url = $STORE_URL
[api]
listen = 127.0.0.1:$port
[log]
level = info
file = $T/d$i.log
[jobs]
refresh_candles_D1 = 0 0 1 1 *
refresh_timeout = 24h
[source.$SRC]
kind = twelvedata
api_key = $KEY
base_url = $TD_URL
symbols = BTC/USD
timeframes = D1
calendar = crypto
backfill = 20
INI
done
API1="http://127.0.0.1:${PORTS[0]}"
API2="http://127.0.0.1:${PORTS[1]}"

daemon_start "$T/d1.out" run --config "$T/ck1.ini"
P1=$DAEMON_PID
daemon_start "$T/d2.out" run --config "$T/ck2.ini"
P2=$DAEMON_PID
both_up() { curl -fs "$API1/health" >/dev/null && curl -fs "$API2/health" >/dev/null; }
check "two daemons are up on one database" wait_for 30 both_up
get() { curl -sS -o "$T/body" -w '%{http_code}' "$@"; }
# runs_are API PYEXPR: the job's history (runs, newest first) as API tells it makes PYEXPR true.
runs_are() {
    get "$1/jobs/$D1/runs?limit=10" >/dev/null &&
        py "import json; runs=json.load(open('$T/body'))['runs']; assert ($2), runs" 2>/dev/null
}
requests_at_provider() { [ "$(td_requests | py "import json,sys; print(len(json.load(sys.stdin)))")" -ge 1 ]; }
d1_running() { runs_are "$API2" "len(runs)==1 and runs[0]['status']=='running'" && requests_at_provider; }

# The provider holds its answer: the run is under way when the kill lands.
td_control '{"delay": 120}'
check "the first daemon is asked for a D1 run" test "$(get -X POST "$API1/jobs/$D1/run")" = 202
check "the run is under way on the first daemon" wait_for 20 d1_running
check "the run names its daemon: host and pid" runs_are "$API2" "runs[0]['instance'].split(':')[1]=='$P1'"
ck status --format json --config "$T/ck2.ini"
check "status exits 0" expect_rc 0
check "status counts two daemons alive" py "
import json; d=json.load(open('$T/out')); s=json.dumps(d)
assert s.count(':$P1:') >= 1 and s.count(':$P2:') >= 1, d"
check "while it lives the other daemon refuses the job" test "$(get -X POST "$API2/jobs/$D1/run")" = 202
check "as running in another process" wait_for 20 runs_are "$API2" \
    "runs[0]['status']=='skipped' and 'another process' in runs[0]['message']"

check "kill -9 ends the first daemon" daemon_kill "$P1"
KILLED_AT=$(date +%s)
td_control '{"delay": 0}'
check "within 30 s the survivor marks the killed run failed: its daemon died" wait_for 30 runs_are "$API2" \
    "[x for x in runs if x['instance'].split(':')[1]=='$P1' and x['status']=='failed' and x['message']=='interrupted: its daemon died' and x['finished']]"
TOOK=$(($(date +%s) - KILLED_AT))
echo "# the survivor took over $TOOK s after the kill"
check "it took seconds (a lapsed heartbeat), not the job's timeout" test "$TOOK" -le 20
check "the survivor logs the takeover, naming the dead daemon" grep -q "daemon .*:$P1:.* stopped beating" "$T/d2.log"
check "the survivor runs the job now" test "$(get -X POST "$API2/jobs/$D1/run")" = 202
check "that run succeeds (not refused as running elsewhere)" wait_for 20 runs_are "$API2" \
    "runs[0]['status']=='ok' and 'stored' in runs[0]['message'] and runs[0]['instance'].split(':')[1]=='$P2'"
check "no run is left running" runs_are "$API2" "all(x['status']!='running' for x in runs)"
check "the survivor stops with exit 0" daemon_stop "$P2"
finish
