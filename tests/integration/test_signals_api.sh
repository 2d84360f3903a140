#!/usr/bin/env bash
# Signals and backtest results end to end: a real daemon on a random port
# and the CLI over one store. Creation through the API and the CLI,
# idempotency, every kind of bad body refused with a 4xx that names the
# problem and nothing stored, list filters, show, cancel, redeliver,
# backtests, and the token rule for the endpoints that change anything.
# ck-test: pg
source "$(dirname "$0")/lib.sh"

PORT=$(free_port)
API="http://127.0.0.1:$PORT"
TOKEN="tok-signals-7c1d2e"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_API_TOKEN

write_config() {
    cat >"$T/ck.ini" <<INI
[storage]
url = $STORE_URL
[api]
listen = 127.0.0.1:$PORT
token = $1
[log]
level = info
file = $T/daemon.log
[jobs]
refresh_candles_M15 = 0 0 1 1 *
refresh_candles_H1 = 0 0 1 1 *
[source.$SRC]
kind = twelvedata
api_key = unused
base_url = http://127.0.0.1:9
symbols = XAU/USD BTC/USD
timeframes = M15 H1
calendar = crypto
[webhook.bot1]
url = http://127.0.0.1:9/one
secret = whsec_b25l
[webhook.bot2]
url = http://127.0.0.1:9/two
secret = whsec_dHdv
INI
}
CFG=(--config "$T/ck.ini")
DPID=""

up() { curl -fs "$API/health" >/dev/null 2>&1 || ! kill -0 "$DPID" 2>/dev/null; }
start_daemon() {
    daemon_start "$T/daemon.out" run "${CFG[@]}"
    DPID=$DAEMON_PID
    if wait_for 20 up && kill -0 "$DPID" 2>/dev/null; then return 0; fi
    echo "daemon did not come up" >&2; cat "$T/daemon.out" "$T/daemon.log" >&2 2>/dev/null
    return 1
}
stop_daemon() { daemon_stop "$DPID"; }
# req METHOD PATH [curl args...]: the status code; the body in $T/body.
req() { local m=$1 p=$2; shift 2; curl -sS -o "$T/body" -w '%{http_code}' -X "$m" "$@" "$API$p"; }
auth=(-H "Authorization: Bearer $TOKEN")
post_signal() { req POST /signals "${auth[@]}" -H 'Content-Type: application/json' "$@"; }
# jq_ EXPR: EXPR over the body (d) must be true (or exit by itself).
jq_() { py "import json,sys; d=json.load(open('$T/body')); r=($1); assert r is True or r is None, (r, d)"; }
# jv EXPR: print EXPR over the body.
jv() { py "import json,sys; d=json.load(open('$T/body')); print($1)"; }
body_has() { grep -qF -- "$1" "$T/body" || { echo "body lacks: $1" >&2; cat "$T/body" >&2; return 1; }; }
# How many signals and backtests the store holds, through the CLI (which must exit 0).
count_of() { ck_out "$1" list "${CFG[@]}" --limit 100000 --format json >"$T/list.json" && py "import json; print(len(json.load(open('$T/list.json'))))"; }
nsignals() { count_of signals; }
nbacktests() { count_of backtests; }
# signals_are N / backtests_are N: the store holds N.
signals_are() { local n; n=$(nsignals) && [ "$n" = "$1" ] || { echo "signals: ${n:-?}, expected $1" >&2; return 1; }; }
backtests_are() { local n; n=$(nbacktests) && [ "$n" = "$1" ] || { echo "backtests: ${n:-?}, expected $1" >&2; return 1; }; }

write_config "$TOKEN"
check "the daemon starts" start_daemon

GOOD='{"symbol":"XAU/USD","timeframe":"M15","direction":"long","entry":"2063.41","stop_loss":2050,"take_profit":"2090.5","ttl":"4h","note":"breakout"}'

# --- create through the API ---
check "POST /signals is 201" test "$(post_signal -H 'Idempotency-Key: key-1' -d "$GOOD")" = 201
ID1=$(jv "d['id']")
check "the signal comes back with exact prices and the receivers' deliveries" \
    jq_ "(d['id'].startswith('sig_') and len(d['id'])==30 and d['entry']=='2063.41' and d['stop_loss']=='2050' and d['take_profit']=='2090.5' and d['status']=='active' and d['source']=='$SRC' and d['note']=='breakout' and d['expires_at'] and sorted(x['receiver'] for x in d['deliveries'])==['bot1','bot2'] and all(x['status']=='pending' and x['webhook_id']==d['id']+'.'+x['receiver'] for x in d['deliveries']) and d['outcome'] is None) or sys.exit(d)"
check "the creation is logged" grep -q "signal $ID1 created" "$T/daemon.log"

# --- idempotency ---
SAME_REORDERED='{"note":"breakout","ttl":"240m","take_profit":2090.50,"stop_loss":"2050.0","entry":2063.41,"direction":"long","timeframe":"M15","symbol":"XAU/USD"}'
check "the same key and the same request (keys reordered) is 200 with the stored signal" \
    test "$(post_signal -H 'Idempotency-Key: key-1' -d "$SAME_REORDERED")" = 200
check "it is the first signal" jq_ "d['id']=='$ID1' or sys.exit(d)"
check "the same key with another body is 409" \
    test "$(post_signal -H 'Idempotency-Key: key-1' -d "${GOOD/2063.41/2063.42}")" = 409
check "the 409 names the key" body_has "key-1"
check "one signal stored so far" signals_are 1
check "an Idempotency-Key over 200 characters is 400" \
    test "$(post_signal -H "Idempotency-Key: $(printf 'k%.0s' $(seq 1 201))" -d "$GOOD")" = 400
check "the 400 names the header" body_has "Idempotency-Key"

# --- every bad body: 4xx naming the problem, nothing stored ---
BEFORE=$(nsignals)
# refused CODE NEEDLE BODY: POST /signals with BODY is CODE, the answer names NEEDLE.
refused() {
    local code=$1 needle=$2 body=$3 got
    got=$(post_signal -d "$body")
    [ "$got" = "$code" ] && grep -qF -- "$needle" "$T/body" ||
        { echo "got $got: $(cat "$T/body"); wanted $code with '$needle'" >&2; return 1; }
}
bad() { check "bad body ($2) is $1" refused "$@"; }
bad 422 "symbol: missing" '{"timeframe":"M15","direction":"long","entry":"1","stop_loss":"0.5","take_profit":"2"}'
bad 422 "timeframe: missing" '{"symbol":"XAU/USD","direction":"long","entry":"1","stop_loss":"0.5","take_profit":"2"}'
bad 422 "direction: missing" '{"symbol":"XAU/USD","timeframe":"M15","entry":"1","stop_loss":"0.5","take_profit":"2"}'
bad 422 "entry: missing" '{"symbol":"XAU/USD","timeframe":"M15","direction":"long","stop_loss":"0.5","take_profit":"2"}'
bad 422 "take_profit: missing" '{"symbol":"XAU/USD","timeframe":"M15","direction":"long","entry":"1","stop_loss":"0.5"}'
bad 422 "entry: must be a decimal string or number, not an array" '{"symbol":"XAU/USD","timeframe":"M15","direction":"long","entry":[1],"stop_loss":"0.5","take_profit":"2"}'
bad 422 "symbol: must be a string, not a number" '{"symbol":5,"timeframe":"M15","direction":"long","entry":"1","stop_loss":"0.5","take_profit":"2"}'
bad 422 "direction: must be" '{"symbol":"XAU/USD","timeframe":"M15","direction":"up","entry":"1","stop_loss":"0.5","take_profit":"2"}'
bad 422 "stop_loss: must be below entry for a long signal" '{"symbol":"XAU/USD","timeframe":"M15","direction":"long","entry":"2063","stop_loss":"2070","take_profit":"2090"}'
bad 422 "take_profit: must be above entry for a long signal" '{"symbol":"XAU/USD","timeframe":"M15","direction":"long","entry":"2063","stop_loss":"2050","take_profit":"2000"}'
bad 422 "stop_loss: must be above entry for a short signal" '{"symbol":"XAU/USD","timeframe":"M15","direction":"short","entry":"2063","stop_loss":"2050","take_profit":"2000"}'
bad 422 "take_profit: must be below entry for a short signal" '{"symbol":"XAU/USD","timeframe":"M15","direction":"short","entry":"2063","stop_loss":"2070","take_profit":"2080"}'
bad 422 "symbol: no enabled source lists 'EUR/JPY'" '{"symbol":"EUR/JPY","timeframe":"M15","direction":"long","entry":"1","stop_loss":"0.5","take_profit":"2"}'
bad 422 "timeframe: source '$SRC' does not keep D1" '{"symbol":"XAU/USD","timeframe":"D1","direction":"long","entry":"1","stop_loss":"0.5","take_profit":"2"}'
bad 422 "source: no source 'elsewhere'" '{"source":"elsewhere","symbol":"XAU/USD","timeframe":"M15","direction":"long","entry":"1","stop_loss":"0.5","take_profit":"2"}'
bad 422 "expires_at: 2020-01-01T00:00:00Z is not in the future" '{"symbol":"XAU/USD","timeframe":"M15","direction":"long","entry":"1","stop_loss":"0.5","take_profit":"2","expires_at":"2020-01-01T00:00:00Z"}'
bad 422 "entry: must be greater than 0" '{"symbol":"XAU/USD","timeframe":"M15","direction":"long","entry":"0","stop_loss":"0.5","take_profit":"2"}'
bad 422 "entry: '1e3' is not a plain decimal" '{"symbol":"XAU/USD","timeframe":"M15","direction":"long","entry":1e3,"stop_loss":"0.5","take_profit":"2000"}'
bad 422 "colour: unknown field" '{"symbol":"XAU/USD","timeframe":"M15","direction":"long","entry":"1","stop_loss":"0.5","take_profit":"2","colour":"red"}'
bad 400 "invalid JSON at line 1, column" '{"symbol":"XAU/USD",'
bad 400 "invalid JSON" 'not json'
bad 400 "the body must be a JSON object" '["XAU/USD"]'
bad 400 "needs a JSON body" ''
head -c 1048576 /dev/zero | tr '\0' 'x' >"$T/big.json"
check "a 1 MB body is 413" test "$(post_signal --data-binary @"$T/big.json")" = 413
check "the 413 says why" body_has "larger than 65536 bytes"
check "nothing was stored by any refused request" signals_are "$BEFORE"

# --- the CLI writes the same rows ---
ck signals add "${CFG[@]}" --symbol BTC/USD --timeframe H1 --direction short --entry 42000.5 \
    --stop-loss 43000 --take-profit 0.00000001 --expires 2099-01-01T00:00:00Z --id cli-1
check "signals add exits 0" expect_rc 0
ID2=$(awk '{print $1}' "$T/out")
check "signals add says what it queued" out_has "2 deliveries queued"
check "GET /signals/{id} shows the CLI's signal" test "$(req GET "/signals/$ID2")" = 200
check "its fields are those given" \
    jq_ "(d['direction']=='short' and d['entry']=='42000.5' and d['take_profit']=='0.00000001' and d['expires_at']=='2099-01-01T00:00:00Z' and d['idempotency_key']=='cli-1' and len(d['deliveries'])==2) or sys.exit(d)"
ck signals add "${CFG[@]}" --symbol BTC/USD --timeframe H1 --direction short --entry 42000.5 \
    --stop-loss 43000 --take-profit 0.00000001 --expires 2099-01-01T00:00:00Z --id cli-1
check "the same CLI add again exits 0" expect_rc 0
check "the same CLI add again is the same signal" out_has "$ID2 exists already"
ck signals add "${CFG[@]}" --symbol BTC/USD --timeframe H1 --direction short --entry 42000.5 \
    --stop-loss 41000 --take-profit 0.1
check "a CLI stop-loss on the wrong side exits 2" expect_rc 2
check "and names the option" err_has "--stop-loss: must be above entry for a short signal"
ck signals add "${CFG[@]}" --symbol BTC/USD --timeframe H1 --direction long --entry 1 \
    --stop-loss 0.5 --take-profit 2 --ttl 4h --expires 2099-01-01T00:00:00Z
check "--ttl with --expires exits 2 naming --ttl" rc_and_err 2 "--ttl: give expires_at or ttl"
ck signals add "${CFG[@]}" --symbol BTC/USD --timeframe H1 --direction long --entry 1 \
    --stop-loss 0.5 --take-profit 2 --id cli-1
check "a CLI --id reused for another request exits 1" expect_rc 1
check "and names --id" err_has "--id:"
ck signals add "${CFG[@]}" --symbol BTC/USD --timeframe H1 --direction long --entry abc \
    --stop-loss 0.5 --take-profit 2
check "a CLI price that is not a number exits 2" expect_rc 2
check "a CLI price that is not a number names --entry" err_has "--entry: 'abc' is not a plain decimal"
ck signals list "${CFG[@]}" --status nope
check "signals list --status nope exits 2 naming --status" rc_and_err 2 "--status 'nope'"
check "two signals stored" signals_are 2

# --- list and filters ---
check "GET /signals lists both, newest first" test "$(req GET /signals)" = 200
check "newest first" jq_ "([s['id'] for s in d['signals']]==['$ID2','$ID1'] and d['count']==2) or sys.exit(d)"
check "limit=1 is 200" test "$(req GET '/signals?limit=1')" = 200
check "limit=1 gives the newest" jq_ "[s['id'] for s in d['signals']]==['$ID2'] or sys.exit(d)"
check "since in the future lists none" test "$(req GET '/signals?since=2099-01-01T00:00:00Z')" = 200
check "none" jq_ "d['count']==0 or sys.exit(d)"
check "a bad status is 400 naming it" test "$(req GET '/signals?status=open')" = 400
check "the 400 names status" body_has "parameter 'status'"
check "a bad since is 400 naming it" test "$(req GET '/signals?since=yesterday')" = 400
check "the 400 names since" body_has "parameter 'since'"
check "a bad limit is 400 naming it" test "$(req GET '/signals?limit=0')" = 400
check "the 400 names limit" body_has "parameter 'limit'"

# --- cancel ---
check "POST cancel is 200" test "$(req POST "/signals/$ID1/cancel" "${auth[@]}")" = 200
check "the signal is cancelled" jq_ "d['status']=='cancelled' or sys.exit(d)"
check "a second cancel is 409" test "$(req POST "/signals/$ID1/cancel" "${auth[@]}")" = 409
check "the 409 says why" body_has "is cancelled, not active"
check "cancel of an unknown signal is 404" test "$(req POST /signals/sig_none/cancel "${auth[@]}")" = 404
check "status=cancelled lists it alone" test "$(req GET '/signals?status=cancelled')" = 200
check "only the cancelled one" jq_ "[s['id'] for s in d['signals']]==['$ID1'] or sys.exit(d)"
check "status=active lists the other" test "$(req GET '/signals?status=active')" = 200
check "only the active one" jq_ "[s['id'] for s in d['signals']]==['$ID2'] or sys.exit(d)"
ck signals cancel "$ID1" "${CFG[@]}"
check "CLI cancel of a cancelled signal exits 1" expect_rc 1
check "and says why" err_has "is cancelled, not active"
ck signals cancel "$ID2" "${CFG[@]}"
check "CLI cancel exits 0" expect_rc 0
ck signals list "${CFG[@]}" --status cancelled --format csv
check "CLI list --status cancelled exits 0" expect_rc 0
check "CLI list --status cancelled shows both" test "$(grep -c '^sig_' "$T/out")" = 2

# --- show and redeliver ---
ck signals show "$ID1" "${CFG[@]}"
check "CLI show exits 0" expect_rc 0
check "CLI show prints the deliveries" out_has "deliveries (2)"
check "CLI show prints the outcome" out_has "outcome          none yet"
ck signals show "$ID1" "${CFG[@]}" --format json
check "CLI show --format json exits 0" expect_rc 0
check "CLI show --format json is the API's object" \
    py "import json; d=json.load(open('$T/out')); assert d['id']=='$ID1' and len(d['deliveries'])==2 and d['outcome'] is None, d"
ck signals show sig_nothing "${CFG[@]}"
check "CLI show of an unknown signal exits 1" expect_rc 1
check "GET of an unknown signal is 404" test "$(req GET /signals/sig_nothing)" = 404
check "redeliver with nothing dead is 200 with 0" test "$(req POST "/signals/$ID1/redeliver" "${auth[@]}")" = 200
check "requeued 0" jq_ "d['requeued']==0 or sys.exit(d)"
check "redeliver of an unknown signal is 404" test "$(req POST /signals/sig_none/redeliver "${auth[@]}")" = 404
ck signals redeliver "$ID1" "${CFG[@]}" --receiver bot1
check "CLI redeliver exits 0" expect_rc 0
check "and says nothing was dead" out_has "no dead deliveries for receiver bot1"

# --- backtests ---
check "POST /backtests is 201" \
    test "$(req POST /backtests "${auth[@]}" -d '{"name":"macd-h1","params":{"fast":12,"slow":26},"metrics":{"sharpe":1.42,"trades":310}}')" = 201
check "the result comes back with its metrics as sent" \
    jq_ "(d['name']=='macd-h1' and d['params']=={'fast':12,'slow':26} and d['metrics']['sharpe']==1.42 and d['id']>0) or sys.exit(d)"
check "the metric reads 1.42 in the body, not 1.4199999999999999" body_has '"sharpe":1.42'
check "a backtest with params not an object is 422" \
    test "$(req POST /backtests "${auth[@]}" -d '{"name":"x","params":[1],"metrics":{}}')" = 422
check "the 422 names params" body_has "params: must be a JSON object"
check "a backtest that is not JSON is 400" test "$(req POST /backtests "${auth[@]}" -d '{"name":')" = 400
ck backtests add "${CFG[@]}" --name rsi --params '{"period": 14}' --metrics '{"win_rate": 0.55}'
check "CLI backtests add exits 0" expect_rc 0
ck backtests add "${CFG[@]}" --name rsi --params '{"period": 14' --metrics '{}'
check "CLI backtests add with bad --params exits 2 naming it" rc_and_err 2 "--params: invalid JSON"
check "GET /backtests lists both, newest first" test "$(req GET /backtests)" = 200
check "newest first, the CLI's metrics intact" \
    jq_ "([b['name'] for b in d['backtests']]==['rsi','macd-h1'] and d['backtests'][0]['metrics']=={'win_rate':0.55}) or sys.exit(d)"
check "GET /backtests?since= in the future lists none" test "$(req GET '/backtests?since=2099-01-01T00:00:00Z')" = 200
check "none" jq_ "d['count']==0 or sys.exit(d)"
check "two backtests stored" backtests_are 2

# --- the token rule ---
N=$(nsignals)
check "POST /signals without a token is 401" test "$(req POST /signals -d "$GOOD")" = 401
check "with a wrong token is 401" test "$(req POST /signals -H 'Authorization: Bearer nope' -d "$GOOD")" = 401
check "the 401 does not echo the token" lacks "$TOKEN" "$T/body"
check "POST /backtests without a token is 401" test "$(req POST /backtests -d '{}')" = 401
check "cancel without a token is 401" test "$(req POST "/signals/$ID2/cancel")" = 401
check "GET /signals needs no token" test "$(req GET /signals)" = 200
check "nothing stored without the token" signals_are "$N"
check "the token is in no log" lacks "$TOKEN" "$T/daemon.log" "$T/daemon.out"
check "the daemon stops with exit 0" stop_daemon

# Without a token, on loopback: allowed (the rule); on a wildcard address: 403.
write_config ""
check "the daemon starts without a token" start_daemon
check "without a token on loopback POST /signals is 201" \
    test "$(req POST /signals -d "${GOOD/breakout/loopback}")" = 201
check "that daemon stops with exit 0" stop_daemon
sed -i "s/^listen = 127.0.0.1:/listen = 0.0.0.0:/" "$T/ck.ini"
check "the daemon starts on 0.0.0.0" start_daemon
check "without a token on 0.0.0.0 POST /signals is 403" test "$(req POST /signals -d "$GOOD")" = 403
check "the 403 says how to allow it" body_has "api.token"
check "the last daemon stops with exit 0" stop_daemon

finish
