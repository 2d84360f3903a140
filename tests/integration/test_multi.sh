#!/usr/bin/env bash
# Several daemons on one PostgreSQL: three `candlekeep run` share a
# database and a fast schedule; one is killed with SIGKILL in the middle of
# a run. Every fire time must have run exactly once (one ok run in the
# history), none may be lost, and the fake provider must never see more
# requests in a minute than the provider's budget.
# ck-test: pg-only
# ck-test: smoke
source "$(dirname "$0")/lib.sh"

if [[ "$STORE_URL" != postgres* ]]; then
    require_pg
    echo "FAIL - several daemons need the PostgreSQL store (run under tests/helpers/with_pg.sh)" >&2
    exit 1
fi

KEY="sk-multi-1a2b3c4d"
start_fake_td "$KEY"
RATE=4
# Any request beyond the budget would be answered with the documented 429
# and fail its run: the history would show it.
td_control "{\"limits\": {\"per_minute\": $RATE, \"per_day\": 800, \"http_status\": 429}, \"delay\": 5}"

JOB=refresh_candles_M15
PIDS=()
PORTS=()
for i in 1 2 3; do
    port=$(free_port)
    PORTS+=("$port")
    cat >"$T/ck$i.ini" <<INI
[storage]
url = $STORE_URL
[api]
listen = 127.0.0.1:$port
[log]
file = $T/d$i.log
[jobs]
refresh_candles_M15 = * * * * *
refresh_timeout = 12s
[source.$SRC]
kind = twelvedata
api_key = $KEY
base_url = $TD_URL
symbols = BTC/USD ETH/USD
timeframes = M15
calendar = crypto
backfill = 20
rate_per_minute = $RATE
INI
done

for i in 1 2 3; do
    daemon_start "$T/d$i.out" run --config "$T/ck$i.ini"
    PIDS+=("$DAEMON_PID")
done
all_up() { local p; for p in "${PORTS[@]}"; do curl -fs "http://127.0.0.1:$p/health" >/dev/null || return 1; done; }
check "three daemons are up" wait_for 30 all_up

# Wait for the first fire to start somewhere, then kill its runner mid-run.
first_fire=$(( ($(date +%s) / 60 + 1) * 60 ))
# kill_runner: once a run of the first fire is under way (its row says
# running; the fake provider answers each of its two requests after 5 s),
# kill -9 its runner at once; the runner's pid in $T/victim.
kill_runner() {
    curl -fsS "http://127.0.0.1:${PORTS[0]}/jobs/$JOB/runs?limit=5" | py "
import json,sys
for r in json.load(sys.stdin)['runs']:
    if r['status']=='running': print(r['instance'].split(':')[1]); break" >"$T/victim" &&
        [ -s "$T/victim" ] && kill -KILL "$(cat "$T/victim")"
}
check "a daemon in the middle of the first fire is killed" wait_for 100 kill_runner
victim=$(cat "$T/victim")
check "the runner is one of ours" py "assert '$victim' in '${PIDS[*]}'.split(), '$victim'"
check "kill -9 ended the runner" daemon_kill "$victim"
echo "# killed daemon pid $victim during the fire at $first_fire"

# One more fire, and the dead holder's lease lapsed and taken over: both
# fires have an ok run and none is left running.
fires_done() {
    ck_out jobs runs "$JOB" --limit 100 --format json --config "$T/$1.ini" >"$T/runs.json" && py "
import json,datetime
runs=json.load(open('$T/runs.json'))
ts=lambda s: int(datetime.datetime.strptime(s,'%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.timezone.utc).timestamp())
ok={ts(r['scheduled']) for r in runs if r['status']=='ok'}
assert {$first_fire, $first_fire+60} <= ok and not any(r['status']=='running' for r in runs)"
}
for i in 1 2 3; do [ "${PIDS[$((i - 1))]}" != "$victim" ] && CFGN=ck$i; done
check "the first fire is taken over and the next one runs" wait_for 150 fires_done "$CFGN"
for pid in "${PIDS[@]}"; do
    [ "$pid" = "$victim" ] || check "daemon $pid stops with exit 0" daemon_stop "$pid"
done
ck jobs runs "$JOB" --limit 100 --format json --config "$T/ck1.ini"
check "jobs runs exits 0" expect_rc 0
cp "$T/out" "$T/runs.json"
check "every fire from the first on ran exactly once, none lost" py "
import json
runs=json.load(open('$T/runs.json'))
first=$first_fire
fires=sorted({r['scheduled'] for r in runs})
import datetime
def ts(s): return int(datetime.datetime.strptime(s,'%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.timezone.utc).timestamp())
by={}
for r in runs:
    by.setdefault(ts(r['scheduled']),[]).append(r)
expect=[first, first+60]
for f in expect:
    ok=[r for r in by.get(f,[]) if r['status']=='ok']
    assert len(ok)==1, (f, by.get(f))
for f,rs in by.items():
    assert sum(r['status']=='ok' for r in rs)<=1, (f, rs)
    assert not any(r['status']=='running' for r in rs), (f, rs)
"
check "the killed daemon's run is recorded as interrupted, not left running" py "
import json
runs=json.load(open('$T/runs.json'))
killed=[r for r in runs if r['instance'].split(':')[1]=='$victim']
assert killed and all(r['status']!='running' for r in killed), killed
"
check "the first fire was taken over by another instance" py "
import json,datetime
runs=json.load(open('$T/runs.json'))
def ts(s): return int(datetime.datetime.strptime(s,'%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.timezone.utc).timestamp())
ok=[r for r in runs if ts(r['scheduled'])==$first_fire and r['status']=='ok']
assert ok and ok[0]['instance'].split(':')[1]!='$victim', ok
"
check "no run failed on a provider 429 (the budget held across instances)" py "
import json
runs=json.load(open('$T/runs.json'))
assert not any('429' in (r['message'] or '') or 'credits' in (r['message'] or '') for r in runs), runs
"
finish
