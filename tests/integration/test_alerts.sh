#!/usr/bin/env bash
# `candlekeep alerts`: the alert rows of the database in three formats,
# filtered by state and limited; usage errors exit 2 naming the option; a
# database that cannot be opened exits 1. The rows are written with
# python's sqlite3 as the alert manager writes them (times in Unix ms).
# ck-test: smoke
source "$(dirname "$0")/lib.sh"
cd "$T"
unset DATABASE_URL CANDLEKEEP_CONFIG
export DATABASE_URL="sqlite:$T/alerts.db"

ck alerts --help
check "alerts --help exits 0" expect_rc 0
check "alerts --help prints usage" out_has "usage: candlekeep alerts"

ck alerts
check "alerts on an empty store exits 0" expect_rc 0
check "the table has a header" out_has "key"
ck alerts --format json
check "alerts json exits 0" expect_rc 0
check "json of no alerts is an empty array" out_has "[]"

py '
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
T0 = 1704153600000  # 2024-01-02T00:00:00Z
rows = [
    ("job:refresh_candles_M15", "critical", "firing", "Candle refresh failing",
     "M15 refresh has failed 3 consecutive times:\nHTTP 500, \"bad gateway\"", "", T0, T0 + 600000,
     None, T0, "firing", 1, T0 + 600000),
    ("breaker:twelvedata", "warning", "resolved", "Circuit open", "closed again", "", T0 - 3600000,
     T0 - 1800000, T0 + 1200000, T0 + 1200000, "resolved", 2, T0 + 1200000),
    ("stale:twelvedata:XAU/USD:H1", "info", "firing", "Stale candles", "", "breaker:twelvedata",
     T0, T0, None, None, "", 0, T0 + 1),
]
c.executemany("INSERT INTO alerts (key, severity, state, title, details, inhibited_by, first_seen, "
              "last_seen, resolved_at, last_notified, notified_state, times_sent, updated_at) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
c.commit()
' "$T/alerts.db"

ck alerts
check "alerts exits 0" expect_rc 0
check "the table lists a firing alert" out_has "job:refresh_candles_M15"
check "the table lists a resolved alert" out_has "breaker:twelvedata"
check "the table shows times in UTC" out_has "2024-01-02T00:20:00Z"
check "the table leaves multi-line details out" lacks 'HTTP 500' "$T/out"
check "newest activity first" test "$(sed -n 2p "$T/out" | cut -d' ' -f1)" = breaker:twelvedata

ck alerts --state firing --format json
check "json exits 0" expect_rc 0
check "json is the API's objects" py '
import json, sys
v = json.load(open(sys.argv[1]))
assert [a["key"] for a in v] == ["job:refresh_candles_M15", "stale:twelvedata:XAU/USD:H1"], v
a, s = v
assert a["state"] == "firing" and a["severity"] == "critical", a
assert a["details"] == "M15 refresh has failed 3 consecutive times:\nHTTP 500, \"bad gateway\"", a
assert a["first_seen"] == "2024-01-02T00:00:00Z" and a["last_seen"] == "2024-01-02T00:10:00Z", a
assert a["resolved_at"] is None and a["inhibited_by"] is None and a["times_sent"] == 1, a
assert s["inhibited_by"] == "breaker:twelvedata" and s["last_notified"] is None, s
' "$T/out"

ck alerts --state resolved --format csv
check "csv exits 0" expect_rc 0
check "csv is one header and one row" py '
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
assert rows[0][:3] == ["key", "severity", "state"], rows
assert len(rows) == 2 and rows[1][0] == "breaker:twelvedata" and rows[1][8] == "2024-01-02T00:20:00Z", rows
' "$T/out"

ck alerts --limit 1 --format json
check "alerts 1 exits 0" expect_rc 0
check "--limit 1 gives one alert" py 'import json,sys; assert len(json.load(open(sys.argv[1]))) == 1' "$T/out"

ck alerts --state open
check "a bad state exits 2" expect_rc 2
check "a bad state is named" err_has "--state 'open' is not firing or resolved"
ck alerts --limit 0
check "a zero limit exits 2" expect_rc 2
check "the limit is named" err_has "--limit"
ck alerts --format xml
check "a bad format exits 2" expect_rc 2
ck alerts extra
check "an extra argument exits 2" expect_rc 2

mkdir "$T/ro"
DATABASE_URL="sqlite:$T/ro/missing/alerts.db" ck alerts
check "a database that cannot be opened exits 1" expect_rc 1

finish
