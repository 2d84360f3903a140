#!/usr/bin/env bash
# The health_check task through the CLI against a fake procfs
# (CANDLEKEEP_PROC_ROOT): memory crossing the warn threshold fires
# host:memory once, a second run over it (hysteresis: 84% after 87%) keeps
# the one alert without sending it again, and a healthy reading resolves
# it; status and the digest show the score; disk thresholds the real disk is over make
# the score collapse and run the emergency cleanup, recorded in the run.
source "$(dirname "$0")/lib.sh"

unset DATABASE_URL TWELVE_DATA_API_KEY
P="$T/proc"
mkdir -p "$P/self/fd"
for i in 1 2 3 4 5; do : >"$P/self/fd/$i"; done
printf 'cpu  100 0 0 900 0 0 0 0 0 0\ncpu0 100 0 0 900 0 0 0 0 0 0\n' >"$P/stat"
printf '0.10 0.10 0.10 1/50 999\n' >"$P/loadavg"
printf 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 4096                 files\n' >"$P/self/limits"
memory() { printf 'MemTotal:       1000000 kB\nMemAvailable:   %d kB\n' "$(((100 - $1) * 10000))" >"$P/meminfo"; }
export CANDLEKEEP_PROC_ROOT=$P
printf '[storage]\nurl = sqlite:%s/ck.db\n[log]\nfile = %s/ck.log\n' "$T" "$T" >"$T/ck.ini"
CFG=(--config "$T/ck.ini")

# memory_alert STATE SENT: host:memory is in STATE and was sent SENT times.
memory_alert() {
    ck_out alerts --format json "${CFG[@]}" >"$T/alerts.json" || return 1
    py "
import json, sys
a = {x['key']: x for x in json.load(open('$T/alerts.json'))}.get('host:memory')
sys.exit(0 if a and a['state'] == '$1' and a['times_sent'] == $2 else 1)
" || { cat "$T/alerts.json" >&2; return 1; }
}

memory 30
ck maintenance run health_check "${CFG[@]}"
check "a healthy host: health_check exits 0" expect_rc 0
check "it says the score and each part" out_has "health_check ok: score "
check "memory is read from MemAvailable" out_has "memory 30.0%"
ck status "${CFG[@]}"
check "status exits 1 (no daemon runs here)" expect_rc 1
check "status shows the host's score" out_has "host:      score "

memory 87
ck maintenance run health_check "${CFG[@]}"
check "health_check at 87% memory exits 0" expect_rc 0
check "memory at 87% is high" out_has "memory 87.0%"
check "host:memory fires once" memory_alert firing 1
ck digest --print "${CFG[@]}"
check "digest --print exits 0" expect_rc 0
check "the digest shows the score and the part in trouble" out_has "; memory 87.0% high"
ck maintenance history --task health_check --limit 1 --format json "${CFG[@]}"
check "history exits 0" expect_rc 0
check "the run lists the deduction and caps the score" py "
import json
d = json.load(open('$T/out'))[0]['details']
m = [x for x in d['deductions'] if x['component'] == 'memory']
assert m and m[0]['points'] == 25 and 'memory at 87.0% (high from 85%)' in m[0]['reason'], d
assert d['score'] <= 60, d
"
memory 84
ck maintenance run health_check "${CFG[@]}"
check "health_check at 84% exits 0" expect_rc 0
check "84% after 87% is still high (it clears 10 points lower)" py "
import sys
sys.exit(0 if 'memory 84.0%' in open('$T/out').read() else 1)
"
check "the episode's alert is not sent again" memory_alert firing 1
memory 40
ck maintenance run health_check "${CFG[@]}"
check "health_check at 40% exits 0" expect_rc 0
check "host:memory resolves" memory_alert resolved 1

printf '[storage]\nurl = sqlite:%s/ck.db\n[log]\nfile = %s/ck.log\n[maintenance]\ndisk_thresholds = 1 2 3\n' "$T" "$T" >"$T/full.ini"
ck maintenance run health_check --config "$T/full.ini"
check "health_check with the disk over critical exits 0" expect_rc 0
check "the score collapses and the emergency cleanup runs" out_has "; emergency cleanup run"
ck maintenance history --task health_check --limit 1 --format json --config "$T/full.ini"
check "history exits 0 (emergency)" expect_rc 0
check "the emergency is recorded with what it did" py "
import json
d = json.load(open('$T/out'))[0]['details']
e = d['emergency']
assert d['score'] < 30 and e['score'] == d['score'], d
assert 'tmp_files_deleted' in e['data_cleanup'] and 'rotated' in e['log_rotation'], e
assert e['checkpoint'] is True, e
"
finish
