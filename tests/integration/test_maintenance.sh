#!/usr/bin/env bash
# The maintenance tasks through the real daemon and the CLI: both list the
# same tasks with their schedules and next runs; a task run from REST (with
# the bearer token, refused without), run-all, an emergency run, and a run
# from the CLI all land in one history that `maintenance history` and
# GET /maintenance/history show alike; pause and resume from either side
# are seen by the other; /maintenance/metrics counts the runs; the
# log_rotation task leaves a compressed rotation beside the log. A pause
# carries its end and reason (--for, --until, --reason; the body of the
# REST pause) and ends by itself.
# ck-test: pg
source "$(dirname "$0")/lib.sh"

KEY="sk-maint-1a2b3c4d"
API_TOKEN="maint-token-5e6f7a8b"
start_fake_td "$KEY"
PORT=$(free_port)
API="http://127.0.0.1:$PORT"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_API_TOKEN

{
    daemon_ini_head
    cat <<INI
[jobs]
refresh_candles_M15 = 0 0 1 1 *
detect_outcomes = 0 0 1 1 *
; Only runs the test makes: a scheduled one (health_check every 5 minutes)
; would land in the history between the REST and the CLI reads.
[maintenance]
data_cleanup = 0 0 1 1 *
log_rotation = 15 3 * * *
health_check = 0 0 1 1 *
db_quick_check = 0 0 1 1 *
db_maintenance = 0 0 1 1 *
security_audit = 0 0 1 1 *
[source.$SRC]
kind = twelvedata
api_key = $KEY
base_url = $TD_URL
symbols = BTC/USD
timeframes = M15
calendar = crypto
INI
} >"$T/ck.ini"
export CANDLEKEEP_API_TOKEN=$API_TOKEN
# The file holds the provider's key: private, or the security audit fails.
chmod 0600 "$T/ck.ini"
CFG=(--config "$T/ck.ini")
AUTH=(-H "Authorization: Bearer $API_TOKEN")

ck maintenance schedule --format json "${CFG[@]}"
check "maintenance schedule exits 0" expect_rc 0
cp "$T/out" "$T/cli_schedule.json"
check "the CLI lists the tasks with their schedules and next runs" py "
import json
s={t['id']: t for t in json.load(open('$T/cli_schedule.json'))}
assert s['data_cleanup']['schedule']=='0 0 1 1 *', s
assert s['log_rotation']['schedule']=='15 3 * * *' and s['log_rotation']['next_run'].endswith('T03:15:00Z'), s
assert 'retention' not in s and 'refresh_candles_M15' not in s, s
"

up() { curl -fs "$API/health" >/dev/null 2>&1; }
daemon_start "$T/daemon.out" run "${CFG[@]}"
DPID=$DAEMON_PID
check "the daemon comes up" wait_for 20 up

get() { curl -sS -o "$T/body" -w '%{http_code}' "$@"; }
check "GET /maintenance/tasks answers" test "$(get "$API/maintenance/tasks")" = 200
cp "$T/body" "$T/tasks.json"
check "REST and CLI list the same tasks and schedules" py "
import json
r={t['id']: t for t in json.load(open('$T/tasks.json'))['tasks']}
c={t['id']: t for t in json.load(open('$T/cli_schedule.json'))}
assert sorted(r)==sorted(c), (sorted(r), sorted(c))
for k in r:
    assert r[k]['schedule']==c[k]['schedule'] and r[k]['next_run']==c[k]['next_run'], (r[k], c[k])
    assert r[k]['kind']=='maintenance' and r[k]['scheduled'] is True, r[k]
"
check "a run without the token is refused" test "$(get -X POST "$API/maintenance/tasks/data_cleanup/run")" = 401
check "a job that is no task is not found" \
    test "$(get -X POST "${AUTH[@]}" "$API/maintenance/tasks/retention/run")" = 404
check "a task run is accepted" \
    test "$(get -X POST "${AUTH[@]}" "$API/maintenance/tasks/data_cleanup/run")" = 202

# finished_runs TASK N: the REST history has at least N finished runs of TASK.
finished_runs() {
    [ "$(get "$API/maintenance/history?task=$1&limit=50")" = 200 ] || return 1
    py "import json,sys; d=json.load(open('$T/body')); sys.exit(0 if len([r for r in d['runs'] if r['status']!='running'])>=$2 else 1)"
}
check "the run is in the history" wait_for 30 finished_runs data_cleanup 1
check "run-all is accepted" test "$(get -X POST "${AUTH[@]}" "$API/maintenance/run-all")" = 202
check "run-all queued every task" py "
import json
d=json.load(open('$T/body'))
c=[t['id'] for t in json.load(open('$T/cli_schedule.json'))]
assert sorted(d['queued']+d['already_running'])==sorted(c) and 'data_cleanup' in c, (d, c)
"
check "run-all ran data_cleanup again" wait_for 30 finished_runs data_cleanup 2
check "run-all ran log_rotation" wait_for 30 finished_runs log_rotation 1
check "run-all ran db_quick_check" wait_for 30 finished_runs db_quick_check 1
check "run-all ran db_maintenance" wait_for 30 finished_runs db_maintenance 1
check "run-all ran health_check" wait_for 30 finished_runs health_check 1
check "run-all ran security_audit" wait_for 30 finished_runs security_audit 1
check "GET /health answers with the host" test "$(get "$API/health")" = 200
check "/health shows the host's score and parts" py "
import json
h=json.load(open('$T/body'))['host']
assert 0 <= h['score'] <= 100 and h['at'], h
names=[c['name'] for c in h['components']]
assert names[:4]==['cpu', 'memory', 'load', 'open_files'] and any(n.startswith('disk:') for n in names), h
"
check "GET /metrics answers" test "$(get "$API/metrics")" = 200
check "/metrics has health_score and the host gauges" py "
import re
t=open('$T/body').read()
assert re.search(r'^candlekeep_health_score [0-9.]+$', t, re.M) or re.search(r'^health_score [0-9.]+$', t, re.M), t[-3000:]
assert 'host_memory_percent' in t and 'host_disk_used_percent{path=' in t, t[-3000:]
"
check "an emergency run is accepted" \
    test "$(get -X POST "${AUTH[@]}" "$API/maintenance/emergency?task_name=log_rotation")" = 202
check "the emergency run is in the history" wait_for 30 finished_runs log_rotation 2
check "the emergency run is recorded as such" py "
import json, urllib.request
d=json.load(urllib.request.urlopen('$API/maintenance/history?task=log_rotation&limit=1'))
assert d['runs'][0]['details']['trigger']=='emergency', d
"
check "an emergency run of no task is not found" \
    test "$(get -X POST "${AUTH[@]}" "$API/maintenance/emergency?task_name=digest")" = 404

ck maintenance run data_cleanup "${CFG[@]}"
check "maintenance run exits 0" expect_rc 0
check "it says how it went" out_has "data_cleanup ok: deleted "
ck maintenance run digest "${CFG[@]}"
check "maintenance run of a job that is no task is a usage error" rc_and_err 2 "no task 'digest'"

check "GET /maintenance/history answers" test "$(get "$API/maintenance/history?limit=100")" = 200
cp "$T/body" "$T/rest_history.json"
ck maintenance history --limit 100 --format json "${CFG[@]}"
check "maintenance history exits 0" expect_rc 0
check "REST and CLI show the same history, newest first, with details" py "
import json
r=json.load(open('$T/rest_history.json'))['runs']; c=json.load(open('$T/out'))
assert [x['id'] for x in r]==[x['id'] for x in c], (r, c)
assert len([x for x in r if x['job_id']=='data_cleanup'])==3, r
tasks=[t['id'] for t in json.load(open('$T/cli_schedule.json'))]
assert all(x['job_id'] in tasks for x in r) and len({x['job_id'] for x in r})==len(tasks), r
# A scheduled run that met a running one is skipped: it never ran, and has no details.
assert all('duration_ms' in x['details'] for x in r if x['status'] != 'skipped'), r
assert r[0]['job_id']=='data_cleanup' and r[0]['status']=='ok', r[0]
"
ck maintenance history --task log_rotation --format csv "${CFG[@]}"
check "maintenance history --task exits 0" expect_rc 0
check "history --task shows that task only" py "
import csv
rows=list(csv.DictReader(open('$T/out')))
assert len(rows)==2 and {r['job'] for r in rows}=={'log_rotation'}, rows
"
check "log_rotation left a compressed rotation" py "
import glob
assert glob.glob('$T/daemon.log.*Z.gz'), glob.glob('$T/daemon.log*')
"

check "a pause over REST is accepted" \
    test "$(get -X POST "${AUTH[@]}" "$API/maintenance/schedule/log_rotation/pause")" = 200
ck maintenance schedule --format json "${CFG[@]}"
check "maintenance schedule exits 0 (paused)" expect_rc 0
check "the CLI sees the pause" py "
import json
s={t['id']: t for t in json.load(open('$T/out'))}
assert s['log_rotation']['paused']=='true' and s['data_cleanup']['paused']=='false', s
"
ck maintenance resume log_rotation "${CFG[@]}"
check "maintenance resume exits 0" expect_rc 0
check "GET /maintenance/schedule answers" test "$(get "$API/maintenance/schedule")" = 200
check "REST sees the resume" py "
import json
s={t['id']: t for t in json.load(open('$T/body'))['schedule']}
assert s['log_rotation']['paused'] is False, s
"
ck maintenance pause log_rotation --for 2h --reason "disk work" "${CFG[@]}"
check "maintenance pause --for exits 0" expect_rc 0
check "it says until when and why" py "
import re
out=open('$T/out').read()
assert re.fullmatch(r'log_rotation paused until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ: disk work\n', out), out
"
check "GET /maintenance/schedule answers (paused for 2h)" test "$(get "$API/maintenance/schedule")" = 200
check "REST shows the pause's end, reason and author" py "
import json, datetime
s={t['id']: t for t in json.load(open('$T/body'))['schedule']}
l=s['log_rotation']
assert l['paused'] is True and l['pause_reason']=='disk work' and l['paused_by'].startswith('cli:'), l
end=datetime.datetime.strptime(l['paused_until'], '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.timezone.utc)
left=(end-datetime.datetime.now(datetime.timezone.utc)).total_seconds()
assert 7100 < left <= 7200, left
"
ck maintenance pause log_rotation --for 1h --until 2030-01-01T00:00:00Z "${CFG[@]}"
check "--for and --until together are a usage error" rc_and_err 2 "--for or --until, not both"
ck maintenance pause log_rotation --until 2001-01-01T00:00:00Z "${CFG[@]}"
check "a pause ending in the past is refused" rc_and_err 1 "not after now"
ck maintenance resume log_rotation "${CFG[@]}"
check "maintenance resume exits 0 (after --for)" expect_rc 0
check "a bad pause body is refused" test "$(get -X POST "${AUTH[@]}" -d '{"for":"soon"}' \
    "$API/maintenance/schedule/data_cleanup/pause")" = 400
check "it names the field" grep -q "'for': 'soon' is not a duration" "$T/body"
check "a REST pause for 2 seconds is accepted" test "$(get -X POST "${AUTH[@]}" \
    -d '{"for":"2s","reason":"short"}' "$API/maintenance/schedule/data_cleanup/pause")" = 200
check "the answer has its end" py "
import json
d=json.load(open('$T/body'))
assert d['paused'] is True and d['paused_until'] and d['pause_reason']=='short', d
"
check "the daemon ends the pause by itself" wait_for 30 file_has "$T/daemon.log" "job data_cleanup: pause ended"
check "GET /maintenance/status answers" test "$(get "$API/maintenance/status")" = 200
check "status counts the tasks" py "
import json, urllib.request
d=json.load(open('$T/body'))
failed=[]
if d.get('failing'):
    # Which task failed, and why: the runs that failed, for the report.
    h=json.load(urllib.request.urlopen('$API/maintenance/history?limit=200'))
    failed=[r for r in h['runs'] if r.get('status')=='failed']
assert d['tasks']==len(json.load(open('$T/cli_schedule.json'))) and d['paused']==0 and d['failing']==0 and d['scheduler'] is True, (d, failed)
"
check "GET /maintenance/metrics answers" \
    test "$(get "$API/maintenance/metrics?task_name=data_cleanup")" = 200
check "metrics count the runs by status" py "
import json
d=json.load(open('$T/body'))['tasks']
assert len(d)==1 and d[0]['task']=='data_cleanup' and d[0]['by_status']=={'ok': 3}, d
assert d[0]['last_success'] and d[0]['avg_duration_ms'] is not None, d
"

check "the daemon stops with exit 0" daemon_stop "$DPID"
finish
