#!/usr/bin/env bash
# `candlekeep dashboard`, the terminal dashboard. With no daemon running it
# reads the database: --once (and any run whose stdout is not a terminal)
# prints one plain frame with every panel (health, jobs, series with the
# planted open gap, alerts, signal delivery, providers, and backups and
# maintenance "not available"), the same text twice on a pinned clock.
# Under tmux it draws full screen: the panels show, `r` redraws with what
# changed in the database since, a narrower terminal gets every line cut
# to its width, `q` quits with status 0, and so does Ctrl-C. Bad options
# are usage errors; an unreachable database is shown and exits 1 (--once).
source "$(dirname "$0")/lib.sh"

KEY="sk-dash-tui-9c8d7e6f"
start_fake_td "$KEY"
td_control '{"limits": "unlimited"}'
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_API_TOKEN
PORT=$(free_port)

read -r PIN HOLE_FROM HOLE_TO < <(py "
import time, datetime
now = int(time.time())
t = now // 900 * 900 - 20 * 3600
f = lambda s: datetime.datetime.fromtimestamp(s, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
print(f(now + 60), f(t), f(t + 3600))")
td_control "{\"holes\": [{\"symbol\": \"BTC/USD\", \"interval\": \"15min\", \"from\": \"$HOLE_FROM\", \"to\": \"$HOLE_TO\"}]}"

{
    daemon_ini_head
    cat <<INI
[source.$SRC]
kind = twelvedata
api_key = $KEY
base_url = $TD_URL
symbols = BTC/USD
timeframes = M15 H1
calendar = crypto
backfill = 200
INI
} >"$T/ck.ini"
CFG=(--config "$T/ck.ini")
export CANDLEKEEP_NOW=$PIN

ck fetch --timeframe M15 "${CFG[@]}"
check "fetching over the hole exits 0" expect_rc 0
check "the hole is one open gap" out_has "open gaps 1 (new 1"

# ---- one plain frame ----
ck dashboard --once "${CFG[@]}"
check "dashboard --once exits 0" expect_rc 0
cp "$T/out" "$T/once1"
for text in "candlekeep dashboard  status no daemon running" "database reachable (sqlite)" \
    "JOBS" "refresh_candles_M15" "refresh_candles_H1" "SERIES" "$SRC BTC/USD M15" \
    "ALERTS  firing 0" "SIGNAL DELIVERY  pending 0 (oldest none)   dead letters 0" \
    "PROVIDERS" "$SRC" "circuit " "BACKUPS      not available" "MAINTENANCE  not available"; do
    check "--once shows '$text'" file_has "$T/once1" "$text"
done
check "--once shows the series' open gap" py "
import re; rows=[l for l in open('$T/once1') if l.startswith('  $SRC BTC/USD M15 ')]
assert len(rows)==1 and rows[0].split()[-1]=='1', rows"
check "--once is plain text (no escape sequences)" lacks $'\x1b' "$T/once1"
ck dashboard --once "${CFG[@]}"
check "dashboard --once exits 0" expect_rc 0
check "--once prints the same text again" cmp "$T/once1" "$T/out"
ck dashboard "${CFG[@]}"
check "dashboard with stdout not a terminal exits 0" expect_rc 0
check "and prints the same frame" cmp "$T/once1" "$T/out"

ck dashboard --refresh 0 "${CFG[@]}"
check "--refresh 0 is a usage error" rc_and_err 2 "--refresh '0' is not a number from 1 to 3600"
ck dashboard --bogus "${CFG[@]}"
check "an unknown option is a usage error" rc_and_err 2 "usage: candlekeep dashboard"
ck dashboard extra "${CFG[@]}"
check "an extra argument is a usage error" rc_and_err 2 "unexpected argument 'extra'"
sed "s|^url = .*|url = sqlite:$T/no/such/dir/ck.db|" "$T/ck.ini" >"$T/bad.ini"
ck dashboard --once --config "$T/bad.ini"
check "an unreachable database exits 1" expect_rc 1
check "and is shown" out_has "database unreachable (sqlite)"

# ---- full screen under tmux ----
if ! command -v tmux >/dev/null 2>&1; then
    platform_skip "the dashboard under tmux" "tmux is not installed (make deps installs it)"
    finish
    exit
fi
SOCK="$T/tmux.sock"
trap 'tmux -S "$SOCK" kill-server 2>/dev/null || :; cleanup' EXIT
# tui NAME: start the dashboard full screen in tmux session NAME; its exit
# status lands in $T/NAME.rc.
tui() {
    tmux -S "$SOCK" new-session -d -s "$1" -x 150 -y 50 \
        "CANDLEKEEP_NOW=$PIN '$CK_BIN' dashboard --refresh 3600 --config '$T/ck.ini'; echo \$? >'$T/$1.rc'"
}
pane() { tmux -S "$SOCK" capture-pane -p -J -t "$1" >"$T/pane"; }
# pane_has NAME TEXT: the screen of session NAME shows TEXT.
pane_has() { pane "$1" && grep -qF -- "$2" "$T/pane"; }
# row_has NAME JOB TEXT: JOB's row on the screen of NAME holds TEXT.
row_has() { pane "$1" && grep -E "^  $2 " "$T/pane" | grep -qF -- "$3"; }
# pane_within NAME COLS: every line of NAME's screen (wrapped lines joined)
# is at most COLS wide, and the header is on it.
pane_within() {
    pane "$1" && grep -qF "candlekeep dashboard" "$T/pane" &&
        py "import sys; w=max(len(l.rstrip('\n')) for l in open('$T/pane')); sys.exit(0 if w<=$2 else 1)"
}
rc_is() { [ -f "$T/$1.rc" ] && [ "$(cat "$T/$1.rc")" = "$2" ]; }

tui main
check "the dashboard draws its header" wait_for 10 pane_has main "candlekeep dashboard  status"
check "it says how to quit" pane_has main "(q quit, r refresh, every 3600 s)"
for text in "JOBS" "SERIES" "$SRC BTC/USD M15" "SIGNAL DELIVERY" "PROVIDERS" "BACKUPS"; do
    check "the screen shows '$text'" pane_has main "$text"
done
check "the job is not paused yet" row_has main refresh_candles_H1 " ok "

ck jobs pause refresh_candles_H1 "${CFG[@]}"
check "jobs pause exits 0" expect_rc 0
tmux -S "$SOCK" send-keys -t main r
check "r redraws with the paused job" wait_for 10 row_has main refresh_candles_H1 "paused"

tmux -S "$SOCK" resize-window -t main -x 70 -y 30
check "a narrower terminal gets lines cut to its width" wait_for 10 pane_within main 70
check "and still the panels" pane_has main "JOBS"

tmux -S "$SOCK" send-keys -t main q
check "q quits" wait_for 10 test -f "$T/main.rc"
check "q exits 0" rc_is main 0

tui intr
check "a second dashboard draws" wait_for 10 pane_has intr "candlekeep dashboard  status"
tmux -S "$SOCK" send-keys -t intr C-c
check "Ctrl-C quits" wait_for 10 test -f "$T/intr.rc"
check "Ctrl-C exits 0" rc_is intr 0

finish
