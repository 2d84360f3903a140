#!/usr/bin/env bash
# The web dashboard in a real browser. A daemon on the fake Twelve Data
# serves it; headless Chromium, driven over the DevTools protocol
# (tests/helpers/cdp.py), opens it and the test asserts what a person would
# see: the chart drawn (the canvas has candles on it) with the latest
# close exactly as the API returns it, a band for the gap planted in the
# history at the gap's place (no candle drawn inside it, candles beside
# it), every job of GET /jobs in the table, the buttons disabled with the
# reason shown until a token is given, a wrong token refused, Run now with
# the token starting a run that then appears in the table, Pause and
# Resume; the backups and maintenance panels filled from GET /backups and
# GET /maintenance/status; no console error; no request to anything
# but the daemon. The page's files come with a Content-Security-Policy.
#
# A second series of 5,000 candles measures the first render (a benchmark
# line, not a timed assertion). A screenshot is kept in the build tree
# (test-artifacts/dashboard.png) or in $T.
source "$(dirname "$0")/lib.sh"

if ! command -v chromium >/dev/null 2>&1; then
    platform_skip "the dashboard in a browser" "chromium is not installed (make deps installs it)"
    finish
    exit
fi

KEY="sk-dash-5e6f7a8b"
TOKEN="dash-token-$RANDOM$RANDOM"
SRC2="${SRC}b"
start_fake_td "$KEY"
td_control '{"limits": "unlimited"}'
PORT=$(free_port)
API="http://127.0.0.1:$PORT"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_API_TOKEN

# A hole of four M15 candles about a day back: the ledger's open gap.
read -r HOLE_FROM HOLE_TO HOLE_LAST < <(py "
import time, datetime
t = int(time.time()) // 900 * 900 - 20 * 3600
f = lambda s: datetime.datetime.fromtimestamp(s, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
print(f(t), f(t + 3600), f(t + 2700))")
td_control "{\"holes\": [{\"symbol\": \"BTC/USD\", \"interval\": \"15min\", \"from\": \"$HOLE_FROM\", \"to\": \"$HOLE_TO\"}]}"

cat >"$T/ck.ini" <<INI
[storage]
url = $STORE_URL
[api]
listen = 127.0.0.1:$PORT
token = $TOKEN
[log]
level = info
file = $T/daemon.log
[jobs]
refresh_candles_M15 = 0 0 1 1 *
refresh_candles_H1 = 0 0 1 1 *
[source.$SRC]
kind = twelvedata
api_key = $KEY
base_url = $TD_URL
symbols = BTC/USD
timeframes = M15 H1
calendar = crypto
backfill = 300
[source.$SRC2]
kind = twelvedata
api_key = $KEY
base_url = $TD_URL
symbols = ETH/USD
timeframes = M15
calendar = crypto
backfill = 5000
INI
CFG=(--config "$T/ck.ini")

ck fetch --source "$SRC" --timeframe M15 "${CFG[@]}"
check "fetching over the hole exits 0" expect_rc 0
check "the hole is one open gap" out_has "open gaps 1 (new 1"
ck fetch --source "$SRC2" "${CFG[@]}"
check "fetching 5,000 candles exits 0" expect_rc 0

up() { curl -fs "$API/health" >/dev/null 2>&1; }
daemon_start "$T/daemon.out" run "${CFG[@]}"
DPID=$DAEMON_PID
check "the daemon comes up" wait_for 20 up

# ---- the files ----
get() { curl -sS -D "$T/headers" -o "$T/body" -w '%{http_code}' "$@"; }
header_has() { grep -qiF -- "$1" "$T/headers" || { echo "headers lack: $1" >&2; cat "$T/headers" >&2; return 1; }; }
check "GET / answers 200" test "$(get "$API/")" = 200
check "the page is HTML" header_has "Content-Type: text/html"
check "the page has a Content-Security-Policy of its own origin" \
    header_has "Content-Security-Policy: default-src 'none'; script-src 'self'"
check "the page has no inline script" lacks_re '<script>|<script [^>]*>[^<]' "$T/body"
cp "$T/body" "$T/root.html"
check "GET /dashboard answers 200" test "$(get "$API/dashboard")" = 200
check "/ and /dashboard are the same page" cmp -s "$T/body" "$T/root.html"
check "the script is served" test "$(get "$API/dashboard/dashboard.js")" = 200
check "the script is JavaScript" header_has "Content-Type: text/javascript"
check "an unknown file is 404" test "$(get "$API/dashboard/nothing.js")" = 404
check "GET /deliveries answers 200" test "$(get "$API/deliveries")" = 200
check "the outbox is empty" py "
import json; d=json.load(open('$T/body'))
assert d=={'pending':0,'delivered':0,'dead':0,'oldest_pending':None,
           'oldest_pending_age_seconds':None,'next_due':None}, d"
check "GET /jobs answers 200" test "$(get "$API/jobs")" = 200
cp "$T/body" "$T/jobs.json"
check "GET /candles/M15 answers 200" test "$(get "$API/candles/M15?source=$SRC&symbol=BTC/USD&limit=1")" = 200
cp "$T/body" "$T/latest.json"

check "the embedded files add under 300 KB" py "
import os; d='$CK_SOURCE_DIR/src/api/web'; n=sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
assert 0 < n < 300 * 1024, n"

# ---- the page in Chromium ----
ARTIFACTS=${CK_BUILD_DIR:+$CK_BUILD_DIR/test-artifacts}
ARTIFACTS=${ARTIFACTS:-$T}
mkdir -p "$ARTIFACTS"
SHOT="$ARTIFACTS/dashboard.png"
rm -f "$SHOT"

cat >"$T/browse.py" <<'PY'
import json, os, sys
sys.path.insert(0, os.path.join(os.environ["CK_SOURCE_DIR"], "tests", "helpers"))
from cdp import Browser

api, src, src2, token, shot, out, profile = sys.argv[1:8]
r = {}
# Candle-coloured pixels on the canvas: all of them, inside the open gap's
# band, and in a strip as wide just before it. Counted on a chart drawn for
# the box it is in: when a panel below fills in and a scrollbar takes the
# page's width, the canvas is stretched to the new box until the resize
# observer draws it again before the next paint, and a count taken in
# between (after the layout, before that frame) would set the band against
# stretched candles. So the count waits two frames, and is null (asked
# again) while the canvas does not match its box.
INK = """(async () => {
  const frame = () => new Promise((done) => { requestAnimationFrame(() => done()); setTimeout(done, 250); });
  await frame();
  await frame();
  const c = document.getElementById('chart'), ctx = c.getContext('2d');
  const band = document.querySelector('.gap-band.gap-open');
  if (!band || c.width !== Math.round(c.clientWidth * (window.devicePixelRatio || 1))) return null;
  const k = c.width / c.clientWidth, left = parseFloat(band.style.left);
  const x0 = Math.ceil(left * k) + 1, x1 = Math.floor((left + parseFloat(band.style.width)) * k) - 1;
  const img = ctx.getImageData(0, 0, c.width, c.height).data;
  const near = (i, rgb) => Math.abs(img[i] - rgb[0]) < 30 && Math.abs(img[i + 1] - rgb[1]) < 30 &&
    Math.abs(img[i + 2] - rgb[2]) < 30 && img[i + 3] > 200;
  let total = 0, inside = 0, before = 0;
  for (let y = 0; y < c.height; y++)
    for (let x = 0; x < c.width; x++) {
      const i = (y * c.width + x) * 4;
      if (!near(i, [0x26, 0xa6, 0x9a]) && !near(i, [0xef, 0x53, 0x50])) continue;
      total++;
      if (x >= x0 && x <= x1) inside++;
      else if (x < x0 - 2 && x >= x0 - 2 - (x1 - x0 + 1)) before++;
    }
  return {total, inside, before, x0, x1};
})()"""
BUTTONS = "[...document.querySelectorAll('#jobs-table button')]"
ROW = "document.querySelector('tr[data-job=refresh_candles_H1]')"
text = lambda sel: "(e => e ? e.textContent : null)(document.querySelector(%s))" % json.dumps(sel)

def set_token(b, value):
    b.eval("document.getElementById('token-input').value = %s;"
           "document.getElementById('token-save').click(); true" % json.dumps(value))

def click(b, action):
    b.eval("document.querySelector('button[data-action=%s][data-job=refresh_candles_H1]').click(); true"
           % action)

with Browser(profile) as b:
    b.goto(f"{api}/?source={src}&symbol=BTC%2FUSD&tf=M15&refresh=1")
    r["filled"] = bool(b.wait(
        "Number(document.getElementById('chart').dataset.candles) > 0 &&"
        " document.querySelectorAll('#jobs-table tr[data-job]').length > 0 &&"
        " document.querySelectorAll('#providers-table tbody tr').length > 0 &&"
        " document.querySelector('#deliveries dd') !== null &&"
        " document.querySelector('#backups-panel').dataset.available !== undefined &&"
        " document.querySelector('#maintenance-panel').dataset.available !== undefined", 10))
    r["status"] = b.eval(text("#health-status"))
    r["latest_close"] = b.eval("document.getElementById('chart-latest').dataset.close")
    r["latest_time"] = b.eval("document.getElementById('chart-latest').dataset.time")
    r["candles_drawn"] = b.eval("Number(document.getElementById('chart').dataset.candles)")
    r["bands"] = b.eval("[...document.querySelectorAll('.gap-band')].map(e => "
                        "({first: e.dataset.first, last: e.dataset.last, state: e.dataset.state}))")
    r["ink"] = b.wait(INK, 10)
    r["jobs"] = b.eval("[...document.querySelectorAll('#jobs-table tr[data-job]')].map(e => e.dataset.job)")
    r["buttons"] = b.eval(BUTTONS + ".length")
    r["disabled_without_token"] = b.eval(BUTTONS + ".every(x => x.disabled && x.title.includes('token'))")
    r["token_reason"] = b.eval(text("#token-reason"))
    r["providers"] = b.eval(text("#providers-table tbody"))
    r["deliveries"] = b.eval(text("#deliveries"))
    r["backups"] = b.eval(text("#backups-panel .optional-body"))
    r["backups_available"] = b.eval("document.querySelector('#backups-panel').dataset.available")
    r["maintenance"] = b.eval(text("#maintenance-panel .optional-body"))
    r["maintenance_available"] = b.eval("document.querySelector('#maintenance-panel').dataset.available")
    r["url_series"] = b.eval("document.getElementById('series-select').selectedOptions[0].textContent")
    b.screenshot(shot)

    set_token(b, "not-the-token")
    r["enabled_with_token"] = bool(b.wait(BUTTONS + ".every(x => !x.disabled)", 5))
    click(b, "pause")
    r["wrong_token"] = b.wait("(t => t.includes('refused') && t)(%s)" % text("#job-message"), 5)

    set_token(b, token)
    r["token_kept"] = b.eval("sessionStorage.getItem('candlekeep.token') === %s" % json.dumps(token))
    click(b, "run")
    r["run_message"] = b.wait("(t => t.includes('started') && t)(%s)" % text("#job-message"), 5)
    r["run_shown"] = b.wait("(c => c && /^ok /.test(c.textContent) && c.textContent)"
                            "(%s.querySelector('td.last-run'))" % ROW, 20)
    click(b, "pause")
    r["paused_shown"] = bool(b.wait(
        ROW + ".textContent.includes('paused') && !!document.querySelector("
        "'button[data-action=resume][data-job=refresh_candles_H1]')", 10))
    click(b, "resume")
    r["resumed_shown"] = bool(b.wait(
        "!!document.querySelector('button[data-action=pause][data-job=refresh_candles_H1]')", 10))

    b.goto(f"{api}/?source={src2}&symbol=ETH%2FUSD&tf=M15&refresh=0")
    r["big_candles"] = b.wait(
        "(n => n >= 4990 && n)(Number(document.getElementById('chart').dataset.candles))", 15)
    r["first_render_ms"] = b.eval("Number(document.getElementById('chart').dataset.firstRenderMs)")
    r["draw_ms"] = b.eval("Number(document.getElementById('chart').dataset.drawMs)")

    # The 401 of the wrong token is the page working as meant.
    r["console_errors"] = b.console_errors(ignore=[
        f"401 (Unauthorized) {api}/jobs/refresh_candles_H1/pause"])
    r["requests"] = b.requests()
with open(out, "w") as f:
    json.dump(r, f, indent=1)
PY
browse() {
    CK_SOURCE_DIR=$CK_SOURCE_DIR python3 "$T/browse.py" "$API" "$SRC" "$SRC2" "$TOKEN" "$SHOT" "$T/browser.json" "$T/chrome"
}
check "the browser session runs" browse
R="$T/browser.json"
# rq EXPR: a check on the browser's observations, `r` in EXPR.
rq() { py "import json,sys; r=json.load(open('$R')); ok=($1); ok or print(r, file=sys.stderr); sys.exit(0 if ok else 1)"; }

check "every panel fills in" rq "r['filled']"
check "the health header shows the status" rq "r['status']=='ok'"
check "the series of the URL is shown" rq "r['url_series']=='$SRC \u00b7 BTC/USD'"
check "the chart draws the stored candles" rq "r['candles_drawn']>=290 and r['ink'] and r['ink']['total']>1000"
check "the latest close is the API's string" py "
import json; r=json.load(open('$R')); c=json.load(open('$T/latest.json'))['candles'][0]
assert (r['latest_close'], r['latest_time'])==(c['close'], c['time']), (r['latest_close'], c)"
check "the planted gap is one open band at its times" \
    rq "r['bands']==[{'first':'$HOLE_FROM','last':'$HOLE_LAST','state':'open'}]"
check "no candle is drawn inside the band, candles are drawn beside it" \
    rq "r['ink']['inside']==0 and r['ink']['before']>0"
check "the job table lists every job of GET /jobs" py "
import json; r=json.load(open('$R')); j=[x['id'] for x in json.load(open('$T/jobs.json'))['jobs']]
assert r['jobs']==j and len(j)>=2, (r['jobs'], j)"
check "two buttons per job" rq "r['buttons']==2*len(r['jobs'])"
check "without a token the buttons are disabled and say why" rq "r['disabled_without_token']"
check "the reason is shown" rq "'need the API token' in r['token_reason']"
check "the providers panel lists both sources" rq "'$SRC' in r['providers'] and '$SRC2' in r['providers'] and 'closed' in r['providers']"
check "the delivery panel shows the outbox" rq "'outbox (pending)0' in r['deliveries'] and 'dead letters0' in r['deliveries']"
check "backups: the panel reads GET /backups" rq "r['backups_available'] == 'yes' and 'not available' not in r['backups']"
check "maintenance: the panel reads GET /maintenance/status" rq "r['maintenance_available'] == 'yes' and 'not available' not in r['maintenance']"
check "a token enables the buttons" rq "r['enabled_with_token']"
check "a wrong token is refused and said so" rq "bool(r['wrong_token'])"
check "the token is kept in session storage" rq "r['token_kept']"
check "Run now starts the job" rq "bool(r['run_message'])"
check "the run then appears in the table" rq "bool(r['run_shown'])"
check "Pause pauses, the row says so" rq "r['paused_shown']"
check "Resume resumes" rq "r['resumed_shown']"
check "the 5,000-candle series draws" rq "r['big_candles']"
check "no console errors" rq "r['console_errors']==[]"
check "every request goes to the daemon" rq "all(u.startswith('$API/') for u in r['requests']) and len(r['requests'])>10"
check "a screenshot is kept" test -s "$SHOT"
check "the run is in the job's history" py "
import json, urllib.request
runs=json.load(urllib.request.urlopen('$API/jobs/refresh_candles_H1/runs?limit=5'))['runs']
assert any(x['status']=='ok' for x in runs), runs"
check "the job is not left paused" py "
import json, urllib.request
j=json.load(urllib.request.urlopen('$API/jobs/refresh_candles_H1'))
assert j['paused'] is False, j"
[ -s "$R" ] && py "import json; r=json.load(open('$R')); print('bench: dashboard first render, %d candles: %.0f ms after navigation (chart drawn in %.1f ms); screenshot %s' % (r['big_candles'] or 0, r['first_render_ms'] or -1, r['draw_ms'] or -1, '$SHOT'))"

check "the daemon stops cleanly" daemon_stop "$DPID"
finish
