#!/usr/bin/env bash
# `candlekeep run` with no configuration file and no key: the built-in
# default is Binance's BTC/USDT (M15 H1 H4 D1, crypto calendar), which needs
# no key. The daemon starts, lists the Binance source in /health, and
# refreshes from a fake Binance named by CANDLEKEEP_BINANCE_URL. With
# TWELVE_DATA_API_KEY set, Twelve Data's XAU/USD joins it. A source the
# configuration names explicitly without its key stays a start-up error.
source "$(dirname "$0")/lib.sh"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_CONFIG CANDLEKEEP_API_TOKEN CANDLEKEEP_NOW

start_fake bn fake_binance.py
export CANDLEKEEP_BINANCE_URL
CANDLEKEEP_BINANCE_URL=$(cat "$T/bn.url")
PORT=$(free_port)
export CANDLEKEEP_LISTEN="127.0.0.1:$PORT"
API="http://127.0.0.1:$PORT"

# No configuration file anywhere: run in an empty directory (the default
# database is ./candlekeep.db there).
mkdir "$T/home"
cd "$T/home" || exit 1

ck config show --format json
check "config show works with no file and no key" expect_rc 0
check "the only source is Binance's BTC/USDT, keyless, on the crypto calendar" py "
import json; d=json.load(open('$T/out'))
src=[v for k, v in d.items() if k.startswith('source.')]
assert [k for k in d if k.startswith('source.')] == ['source.binance'], list(d)
s=src[0]
assert s['kind']=='binance' and s['symbols']=='BTC/USDT' and s['calendar']=='crypto', s
assert s['timeframes']=='M15 H1 H4 D1' and s['rate_limit']=='3000/1m', s"

up() { curl -fs "$API/health" >/dev/null 2>&1; }
finished_runs() {
    curl -fsS "$API/jobs/refresh_candles_H1/runs?limit=5" |
        py "import json,sys; print(len([r for r in json.load(sys.stdin)['runs'] if r['status']!='running']))"
}
one_finished() { [ "$(finished_runs)" -ge 1 ]; }

daemon_start "$T/daemon.out" run
DPID=$DAEMON_PID
check "the daemon starts with no configuration and no key" wait_for 20 up
check "and keeps running" kill -0 "$DPID"
check "/health lists the Binance source with its per-IP budget" py "
import json,urllib.request
d=json.load(urllib.request.urlopen('$API/health'))
p=[x for x in d['providers'] if x['source']=='binance']
assert len(p)==1 and p[0]['budget'].startswith('binance:ip'), d['providers']"
check "a refresh can be started" test "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$API/jobs/refresh_candles_H1/run")" = 202
check "it finishes" wait_for 60 one_finished
check "it stored BTC/USDT H1 candles from the fake Binance" py "
import json,urllib.request
# A scheduled refresh may follow the one asked for and find nothing new.
rs=[r for r in json.load(urllib.request.urlopen('$API/jobs/refresh_candles_H1/runs?limit=5'))['runs'] if r['status']!='running']
assert rs and all(r['status']=='ok' for r in rs) and any(r['details']['stored'] > 0 for r in rs), rs
c=json.load(urllib.request.urlopen('$API/candles/H1?symbol=BTC/USDT&source=binance&limit=3'))
assert len(c['candles'])==3, c"
check "the fake saw klines requests for BTCUSDT 1h" py "
import json,urllib.request
log=json.load(urllib.request.urlopen('$CANDLEKEEP_BINANCE_URL/__requests'))
reqs=log['requests'] if isinstance(log, dict) else log
assert any(r['query'].get('symbol')=='BTCUSDT' and r['query'].get('interval')=='1h' for r in reqs), reqs[:3]"
check "SIGTERM stops the daemon with exit 0" daemon_stop "$DPID"
check "the database is the default ./candlekeep.db" test -s "$T/home/candlekeep.db"

# With Twelve Data's key set, XAU/USD joins the default.
export TWELVE_DATA_API_KEY="td-default-4c3b2a1f"
ck config show --format json
check "config show with the key exits 0" expect_rc 0
check "Twelve Data's XAU/USD joins, on the metals calendar, its key masked" py "
import json; d=json.load(open('$T/out'))
assert [k for k in d if k.startswith('source.')] == ['source.binance', 'source.twelvedata'], list(d)
t=d['source.twelvedata']
assert t['symbols']=='XAU/USD' and t['calendar']=='metals' and t['api_key']=='***', t"
check "the key never appears in the output" lacks "$TWELVE_DATA_API_KEY" "$T/out"
unset TWELVE_DATA_API_KEY

# A source configured explicitly without its key is still a start-up error.
printf '[source.gold]\nkind = twelvedata\n' >"$T/home/candlekeep.ini"
ck run
check "an explicit Twelve Data source without a key stops the start with exit 2" expect_rc 2
check "naming the key and where to set it" err_has "TWELVE_DATA_API_KEY"
finish
