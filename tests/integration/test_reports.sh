#!/usr/bin/env bash
# Reports end to end: the real daemon and binary, a fake Twelve Data and a
# strict fake Telegram Bot API (with its webhook receiver).
#
#   - a history: two runs of refresh_candles_H1 (one ok, one failed by
#     the provider) and the candles the ok one stored;
#   - `candlekeep report` in html, json and csv: the HTML parses (Python's
#     html.parser, every tag closed), has no script and no external URL,
#     and its tables hold the figures of the job history and the store;
#     the JSON and CSV say the same;
#   - POST /maintenance/reports/generate needs the token, checks its body,
#     writes the report; GET /reports lists it, GET /reports/{id} serves
#     each format, and 404 for another id;
#   - the daily_report job writes the report and sends it: a summary
#     message and the HTML as a document (sendDocument, a multipart upload)
#     on Telegram, the JSON to the alert webhook;
#   - bad input to `candlekeep report` is a usage error naming it.
#
# Jobs are run by hand through the API (their schedules never fire); the
# schedules themselves are checked in tests/unit/test_report.c.
# ck-test: pg
source "$(dirname "$0")/lib.sh"

KEY="sk-report-9f8e7d"
TOKEN="515151:AAE-report-token"
CHAT="-1009876543210"
API_TOKEN="ApiTok-report-$RANDOM"
unset TWELVE_DATA_API_KEY DATABASE_URL MAX_RETRIES CANDLEKEEP_NOW OPS_TELEGRAM_BOT_TOKEN \
    OPS_TELEGRAM_CHAT_ID ALERT_COOLDOWN_MINUTES
export CANDLEKEEP_API_TOKEN=$API_TOKEN RETRY_DELAY_SECONDS=1

start_fake_td "$KEY"
python3 "$CK_SOURCE_DIR/tests/helpers/fake_telegram.py" --port-file "$T/tg.port" --token "$TOKEN" \
    2>"$T/fake_tg.log" &
FAKE_PIDS+=($!)
wait_for 10 test -s "$T/tg.port" || { echo "fake Telegram did not start" >&2; exit 1; }
TG="http://127.0.0.1:$(cat "$T/tg.port")"

PORT=$(free_port)
API="http://127.0.0.1:$PORT"
NEVER="0 0 1 1 *"
RDIR="$T/reports"
{
    daemon_ini_head
    cat <<INI
[jobs]
refresh_candles_H1 = $NEVER
watch_alerts = $NEVER
retention = $NEVER
detect_outcomes = $NEVER
backup = $NEVER
[digest]
schedule = $NEVER
[report]
dir = $RDIR
daily = $NEVER
weekly = $NEVER
[retry]
max_retries = 0
[alerts.telegram]
bot_token = $TOKEN
chat_id = $CHAT
base_url = $TG
[alerts.webhook]
url = $TG/hook/report
[source.$SRC]
kind = twelvedata
api_key = $KEY
base_url = $TD_URL
symbols = BTC/USD
timeframes = H1
calendar = crypto
backfill = 12
timeout = 5s
INI
} >"$T/ck.ini"
CFG=(--config "$T/ck.ini")

# ---- helpers
get() { curl -sS -o "$T/body" -w '%{http_code}' "$@"; }
post() { get -X POST -H "Authorization: Bearer $API_TOKEN" -H 'Content-Type: application/json' "$@"; }
up() { curl -fs "$API/health" >/dev/null 2>&1 || ! kill -0 "$DPID" 2>/dev/null; }
runs_done() {
    curl -fsS "$API/jobs/$1/runs?limit=200" |
        py "import json,sys; print(len([r for r in json.load(sys.stdin)['runs'] if r['status']!='running']))"
}
runs_at_least() { local n; n=$(runs_done "$1") && [ "$n" -ge "$2" ]; }
run_accepted() { [ "$(post "$API/jobs/$1/run")" = 202 ]; }
# run_job JOB: run it now and wait for its row; the row in $T/JOB.run.
run_job() {
    local want
    want=$(($(runs_done "$1") + 1))
    wait_for 5 run_accepted "$1" || { echo "job $1: POST run refused" >&2; return 1; }
    wait_for 60 runs_at_least "$1" "$want" || { echo "job $1: no finished run" >&2; return 1; }
    curl -fsS "$API/jobs/$1/runs?limit=1" | py "import json,sys; print(json.dumps(json.load(sys.stdin)['runs'][0]))" >"$T/$1.run"
}
run_is() { py "import json; r=json.load(open('$T/$1.run')); assert r['status']=='$2', r"; }

# The parser of the HTML: every tag closed in order, the tables as lists of rows.
cat >"$T/html_tables.py" <<'PY'
import json, sys
from html.parser import HTMLParser

VOID = {"meta", "br", "hr", "img", "input", "link", "rect", "polyline"}

class P(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.tables, self.table, self.row, self.cell = [], {}, None, None, None
        self.svgs = 0
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k, v in attrs:
            assert not k.startswith("on"), f"event handler attribute {k}"
            assert not (v or "").lower().startswith(("http:", "https:", "//", "javascript:")), v
        assert tag not in ("script", "link", "img", "iframe", "object"), tag
        if tag == "svg":
            self.svgs += 1
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "table":
            self.table = self.tables.setdefault(a.get("id", ""), [])
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th"):
            self.cell = ""
    def handle_startendtag(self, tag, attrs):
        assert tag in VOID, tag
    def handle_endtag(self, tag):
        if tag in VOID:
            return
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()
        if tag in ("td", "th"):
            self.row.append(self.cell.strip())
            self.cell = None
        elif tag == "tr":
            self.table.append(self.row)
    def handle_data(self, d):
        if self.cell is not None:
            self.cell += d

text = open(sys.argv[1], encoding="utf-8").read()
assert text.startswith("<!DOCTYPE html>")
assert "http://" not in text and "https://" not in text, "an external URL"
p = P()
p.feed(text)
p.close()
assert not p.stack, f"unclosed {p.stack}"
assert p.svgs == 2, p.svgs
print(json.dumps(p.tables))
PY

# agree HTML JSON CSV JOB SERIES_SOURCE: the three renderings hold the same figures,
# and the job's runs are those of $T/runs.json (its history from the API).
cat >"$T/agree.py" <<'PY'
import csv, json, subprocess, sys
html, js, cs, job, src, runs = sys.argv[1:7]
t = json.loads(subprocess.check_output([sys.executable, sys.argv[7], html]))
j = json.load(open(js))
rows = list(csv.DictReader(open(cs, newline="")))
hist = [r for r in json.load(open(runs))["runs"]]
ok = len([r for r in hist if r["status"] == "ok"])
failed = len([r for r in hist if r["status"] in ("failed", "timed_out")])
assert ok == 1 and failed == 1, hist

jj = [x for x in j["jobs"] if x["id"] == job][0]
assert (jj["runs"], jj["ok"], jj["failed"]) == (2, ok, failed), jj
assert jj["success_rate"] == 50.0, jj
assert jj["longest_streak"] == 1, jj
hj = [r for r in t["jobs"] if r and r[0] == job][0]
assert hj[1:5] == [str(jj["runs"]), str(jj["ok"]), str(jj["failed"]), str(jj["skipped"])], hj
assert hj[5] == "50.0" and hj[6:10] == [str(jj["p50_ms"]), str(jj["p95_ms"]), str(jj["max_ms"]), "1"], hj
cj = [r for r in rows if r["kind"] == "job" and r["name"] == job][0]
assert (cj["runs"], cj["ok"], cj["failed"], cj["success_rate"], cj["p95_ms"]) == \
    ("2", str(ok), str(failed), "50.0", str(jj["p95_ms"])), cj

js_ = [x for x in j["series"] if x["source"] == src][0]
assert js_["candles"] > 0 and js_["total"] >= js_["candles"], js_
hs = [r for r in t["series"] if r and r[0] == src][0]
assert hs[1:5] == ["BTC/USD", "H1", str(js_["candles"]), str(js_["total"])], hs
cs_ = [r for r in rows if r["kind"] == "series" and r["name"] == f"{src} BTC/USD H1"][0]
assert (cs_["candles"], cs_["total"], cs_["rejected"]) == \
    (str(js_["candles"]), str(js_["total"]), str(js_["rejected"])), cs_

jp = [x for x in j["providers"] if x["source"] == src][0]
assert jp["fetches"] == 2 and jp["failed"] == 1, jp
cp = [r for r in rows if r["kind"] == "provider" and r["name"] == src][0]
assert (cp["fetches"], cp["fetch_failures"]) == ("2", "1"), cp
hp = [r for r in t["providers"] if r and r[0] == src][0]
assert hp[1:3] == ["2", "1"], hp
print("agree")
PY

# ---- the history
daemon_start "$T/daemon.out" run "${CFG[@]}"
DPID=$DAEMON_PID
wait_for 20 up || { cat "$T/daemon.out" "$T/daemon.log" >&2; }
check "the daemon is up" kill -0 "$DPID"

H1=refresh_candles_H1
check "an ok refresh run stores candles" run_job $H1
check "  it ended ok" run_is $H1 ok
td_control '{"errors": [{"code": 400, "message": "symbol rejected by test", "times": 5}]}'
check "a refresh run the provider refuses" run_job $H1
check "  it failed" run_is $H1 failed
curl -fsS "$API/jobs/$H1/runs?limit=50" >"$T/runs.json"

# ---- the command, three formats
ck report --type daily --format html --out "$T/r.html" "${CFG[@]}"
check "report --format html writes the file" expect_rc 0
check "  and names it" out_has "written to $T/r.html"
ck report "${CFG[@]}" --type daily --format json
check "report --format json prints to stdout" expect_rc 0
cp "$T/out" "$T/r.json"
ck report --format csv --type daily "${CFG[@]}"
check "report --format csv" expect_rc 0
cp "$T/out" "$T/r.csv"
html_ok() { python3 "$T/html_tables.py" "$1" >"$T/tables.json"; }
check "the HTML parses, is self-contained and has its two charts" html_ok "$T/r.html"
agree() {
    python3 "$T/agree.py" "$T/r.html" "$T/r.json" "$T/r.csv" "$H1" "$SRC" "$T/runs.json" \
        "$T/html_tables.py"
}
check "HTML, JSON and CSV hold the job history's and the store's figures" agree

ck report --type monthly "${CFG[@]}"
check "report --type monthly is a usage error naming it" rc_and_err 2 "--type 'monthly'"
ck report --type weekly --date 2024-13-45 "${CFG[@]}"
check "report --date 2024-13-45 is a usage error naming it" rc_and_err 2 "--date '2024-13-45'"
ck report --type daily --format pdf "${CFG[@]}"
check "report --format pdf is a usage error naming it" rc_and_err 2 "--format 'pdf'"

# ---- the API
check "POST /maintenance/reports/generate without the token is 401" \
    test "$(get -X POST -d '{"report_type":"daily"}' "$API/maintenance/reports/generate")" = 401
check "an unknown report_type is 400" \
    test "$(post -d '{"report_type":"hourly"}' "$API/maintenance/reports/generate")" = 400
body_has() { grep -qF -- "$1" "$T/body"; }
check "  naming it" body_has hourly
check "POST /maintenance/reports/generate is 201" \
    test "$(post -d '{"report_type":"weekly","format_type":"html"}' "$API/maintenance/reports/generate")" = 201
WID=$(py "import json; print(json.load(open('$T/body'))['id'])")
url_is() { py "import json; b=json.load(open('$T/body')); assert b['url']=='/reports/$WID?format=html', b"; }
check "  with the id and the url of its HTML" url_is
check "GET /reports is 200" test "$(get "$API/reports")" = 200
listed() {
    py "import json; b=json.load(open('$T/body')); r=[x for x in b['reports'] if x['id']=='$WID'];
assert r and r[0]['type']=='weekly' and r[0]['formats']==['html','json','csv'] and r[0]['bytes']>0, b"
}
check "  it lists the report in three formats" listed
check "GET /reports/{id}?format=html is 200" test "$(get "$API/reports/$WID?format=html")" = 200
check "  an HTML file that parses" html_ok "$T/body"
check "GET /reports/{id} serves the JSON" test "$(get "$API/reports/$WID")" = 200
json_id() { py "import json; b=json.load(open('$T/body')); assert b['id']=='$WID' and b['type']=='weekly', b"; }
check "  of that report" json_id
check "GET /reports/{id}?format=csv is 200" test "$(get "$API/reports/$WID?format=csv")" = 200
check "  with the CSV header" body_has "kind,name,runs,ok,failed"
check "GET /reports/{id} of another id is 404" test "$(get "$API/reports/daily-20000101T0000Z")" = 404
check "GET /reports/{id} of a path is 404" test "$(get "$API/reports/..%2F..%2Fck.ini")" = 404

# ---- the scheduled job sends it
check "the daily_report job runs" run_job daily_report
check "  and ends ok" run_is daily_report ok
sent_summary() {
    curl -fsS "$TG/__messages" | py "import json,sys
m=[x for x in json.load(sys.stdin) if 'REPORT' in x['plain'].split('\n',1)[0]]
assert len(m)==1 and 'Jobs: ' in m[0]['plain'] and str(m[0]['chat_id'])=='$CHAT', m"
}
check "Telegram got one summary message" sent_summary
sent_document() {
    curl -fsS "$TG/__documents" >"$T/docs.json"
    py "import json
d=json.load(open('$T/docs.json'))
assert len(d)==1, d
d=d[0]
assert d['file_name'].startswith('daily-') and d['file_name'].endswith('.html'), d['file_name']
assert d['mime_type']=='text/html' and d['chat_id']=='$CHAT', d
open('$T/doc.html','w').write(d['content'])"
}
check "Telegram got the HTML as a document (sendDocument)" sent_document
check "  which parses and is self-contained" html_ok "$T/doc.html"
doc_has_job() { grep -qF "<td>$H1</td>" "$T/doc.html"; }
check "  and has the refresh job's row" doc_has_job
multipart() {
    curl -fsS "$TG/__requests" | py "import json,sys
r=[x for x in json.load(sys.stdin) if x['path'].endswith('/sendDocument')]
assert len(r)==1 and r[0]['content_type'].startswith('multipart/form-data') and r[0]['status']==200, r"
}
check "  uploaded as multipart/form-data" multipart
hooked() {
    curl -fsS "$TG/__hooks" | py "import json,sys
h=[x for x in json.load(sys.stdin) if x['path']=='/hook/report']
assert len(h)==1 and h[0]['status']==200, h
b=h[0]['body']
assert b['type']=='daily' and b['id'].startswith('daily-') and any(j['id']=='$H1' for j in b['jobs']), b
assert b['text'].startswith('Daily report '), b['text']"
}
check "the alert webhook got the JSON" hooked
files_written() { ls "$RDIR" | grep -q '^daily-.*\.html$' && ls "$RDIR" | grep -q '^daily-.*\.csv$'; }
check "the job wrote the report's files to [report] dir" files_written

check "the daemon stops cleanly" daemon_stop "$DPID"
finish
