#!/usr/bin/env bash
# Email alerts end to end: the real daemon, a fake Twelve Data that fails on
# command, a local SMTP server (tests/helpers/fake_smtp.py) and the fake
# Telegram Bot API as the other channel.
#
#   - `candlekeep alert test` sends a test email that parses as MIME with the
#     right headers; with tls = required, a server without STARTTLS is a clear
#     error, and a server with STARTTLS (a self-signed certificate made here,
#     trusted through ca_file) gets the message over TLS;
#   - configuration mistakes are named (tls = off to a remote host, a bad
#     address, ALERT_EMAIL_ENABLED without smtp_url); ALERT_EMAIL_TO names
#     the recipients;
#   - an alert and its resolution arrive as one message each: valid MIME
#     (Python's email package), Date, Message-ID, From, To, Subject,
#     References (the resolution threads under the alert),
#     multipart/alternative with text/plain and text/html, both about the
#     alert (the RFC 2047 subjects are tests/unit/test_email.c's);
#   - a server answering 451 is retried with backoff, then the message is
#     delivered once;
#   - a server answering 550 is not retried: the message is given up and
#     the other channel (Telegram) gets an alert that email lost one;
#   - the digest goes by email when digest = true;
#   - the SMTP password (given as ${ENV}) appears in no output and no log,
#     and `config show` masks it.
# ck-test: smoke
source "$(dirname "$0")/lib.sh"

PY=$(python3 -c 'import sys; print(sys.executable)')
py() { "$PY" -c "$@"; }

KEY="sk-email-77a1b2"
TOKEN="515151:AAE-email-token-q"
CHAT="-1001234567890"
PASSWORD="smtp-SECRET-pw-9f8e7d"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_API_TOKEN MAX_RETRIES CANDLEKEEP_NOW \
    OPS_TELEGRAM_BOT_TOKEN OPS_TELEGRAM_CHAT_ID ALERT_COOLDOWN_MINUTES ALERT_EMAIL_ENABLED \
    ALERT_EMAIL_TO CANDLEKEEP_CONFIG
export CK_SMTP_PASSWORD=$PASSWORD
export RETRY_DELAY_SECONDS=1

# start_fake NAME SCRIPT ARGS...: a fake of its own; its URL in $T/NAME.url.
start_fake() {
    local name=$1 script=$2
    shift 2
    "$PY" "$CK_SOURCE_DIR/tests/helpers/$script" --port-file "$T/$name.port" "$@" 2>"$T/fake_$name.log" &
    FAKE_PIDS+=($!)
    wait_for 10 test -s "$T/$name.port" || { echo "fake $name did not start" >&2; cat "$T/fake_$name.log" >&2; exit 1; }
    echo "http://127.0.0.1:$(cat "$T/$name.port")" >"$T/$name.url"
}
start_fake td fake_twelvedata.py --api-key "$KEY"
start_fake tg fake_telegram.py --token "$TOKEN"
start_fake smtp fake_smtp.py --control-file "$T/smtp.ctl" --user ops --password "$PASSWORD"
TD=$(cat "$T/td.url")
TG=$(cat "$T/tg.url")
SMTP_PORT=$(cat "$T/smtp.port")
SMTP_CTL=$(cat "$T/smtp.ctl")
ctl() { curl -fsS -X POST -H 'Content-Type: application/json' -d "$2" "$1/__control" >/dev/null; }
smtp_ctl() { ctl "$SMTP_CTL" "$1"; }

PORT=$(free_port)
API="http://127.0.0.1:$PORT"
NEVER="0 0 1 1 *"

# email_ini SMTP_URL TLS [EXTRA...]: the [alerts.email] section.
email_ini() {
    local url=$1 tls=$2
    shift 2
    printf '[alerts.email]\nsmtp_url = %s\ntls = %s\nusername = ops\npassword = ${CK_SMTP_PASSWORD}\n' "$url" "$tls"
    printf 'from = Candlekeep Alerts <alerts@ck.example>\nto = ops@example.org, oncall@example.org\n'
    printf '%s\n' "$@"
}

{
    daemon_ini_head
    cat <<INI
[scheduler]
workers = 2
[retry]
max_retries = 5
base_delay = 1s
max_delay = 2s
[jobs]
refresh_candles_M15 = $NEVER
refresh_candles_H1 = $NEVER
refresh_candles_H4 = $NEVER
refresh_candles_D1 = $NEVER
watch_alerts = $NEVER
refresh_timeout = 60s
[digest]
schedule = $NEVER
[alerts]
failure_threshold = 1
cooldown = 0s
repeat_interval = 0
[alerts.telegram]
bot_token = $TOKEN
chat_id = $CHAT
base_url = $TG
[source.$SRC]
kind = twelvedata
api_key = $KEY
base_url = $TD
symbols = BTC/USD
timeframes = M15
calendar = crypto
backfill = 10
rate_per_minute = 100
daily_quota = 800
timeout = 5s
breaker_failures = 100
INI
    email_ini "smtp://127.0.0.1:$SMTP_PORT" off "min_severity = warning" "digest = true"
} >"$T/ck.ini"
CFG=(--config "$T/ck.ini")

# ---- helpers
# The accepted emails, parsed: mails PYTHON runs PYTHON with `msgs`, a list of
# (record, email.message.EmailMessage) pairs, and fails when it raises.
mails() {
    curl -fsS "$SMTP_CTL/__messages" >"$T/mails.json" || return 1
    py "
import json, email, sys
from email import policy
msgs = [(r, email.message_from_string(r['data'], policy=policy.default))
        for r in json.load(open('$T/mails.json'))]
$1"
}
# mail_count STATE KEY: how many emails about KEY are in STATE (X-Candlekeep-State).
mail_count() {
    mails "print(len([m for r, m in msgs if m['X-Candlekeep-State'] == '$1' and m['X-Candlekeep-Alert'] == '$2']))"
}
mail_count_is() { [ "$(mail_count "$1" "$2")" = "$3" ]; }
tg_msgs() { curl -fsS "$TG/__messages"; }
tg_has() { tg_msgs | py "import json,sys; sys.exit(0 if any(sys.argv[1] in m['plain'] for m in json.load(sys.stdin)) else 1)" "$1"; }

up() { curl -fs "$API/health" >/dev/null 2>&1 || ! kill -0 "$DPID" 2>/dev/null; }
start_daemon() {
    daemon_start "$T/daemon.out" run "${CFG[@]}"
    DPID=$DAEMON_PID
    if wait_for 20 up && kill -0 "$DPID" 2>/dev/null; then return 0; fi
    echo "daemon did not come up" >&2; cat "$T/daemon.out" "$T/daemon.log" >&2 2>/dev/null
    return 1
}
runs_done() {
    curl -fsS "$API/jobs/$1/runs?limit=200" |
        py "import json,sys; print(len([r for r in json.load(sys.stdin)['runs'] if r['status']!='running']))"
}
run_accepted() { curl -s -o /dev/null -w '%{http_code}' -X POST "$API/jobs/$1/run" >"$T/post.code"; [ "$(cat "$T/post.code")" = 202 ]; }
runs_at_least() { local n; n=$(runs_done "$1") && [ "$n" -ge "$2" ]; }
# run_job JOB STATUS: run it now through the API, wait for its row, check its status.
run_job() {
    local want
    want=$(($(runs_done "$1") + 1))
    wait_for 5 run_accepted "$1" || { echo "job $1: POST run answered $(cat "$T/post.code")" >&2; return 1; }
    wait_for 60 runs_at_least "$1" "$want" || { echo "job $1: no finished run" >&2; return 1; }
    curl -fsS "$API/jobs/$1/runs?limit=1" |
        py "import json,sys; r=json.load(sys.stdin)['runs'][0]; assert r['status']=='$2', r"
}
no_password() {
    local f
    for f in "$@"; do
        [ -f "$f" ] || continue
        if grep -qF -e "$PASSWORD" "$f"; then echo "the SMTP password is in $f" >&2; return 1; fi
    done
}

# ---- 1. Configuration.
ck config show "${CFG[@]}"
check "config show exits 0" expect_rc 0
check "config show has the email section" out_has "[alerts.email]"
check "config show masks the password" out_has "password = ***"
check "config show never shows the password" no_password "$T/out" "$T/err"

email_ini "smtp://mail.example.org:25" off >"$T/remote.ini"
ck config check --config "$T/remote.ini"
check "tls = off to a remote host is refused" expect_rc 2
check "it says why, naming the key" err_has "key 'smtp_url': tls = off is only for a relay on the loopback"

email_ini "smtp://127.0.0.1:$SMTP_PORT" off | sed 's/^to = .*/to = ops@example.org, not-an-address/' >"$T/badto.ini"
ck config check --config "$T/badto.ini"
check "a bad recipient is refused" expect_rc 2
check "it names the address" err_has "'not-an-address' is not an email address"

printf '[storage]\nurl = %s\n' "$STORE_URL" >"$T/plain.ini"
ALERT_EMAIL_ENABLED=true ck config check --config "$T/plain.ini"
check "ALERT_EMAIL_ENABLED without smtp_url is refused" expect_rc 2
check "it says what is missing" err_has "no smtp_url is set"

# ---- 2. `candlekeep alert test`.
ck alert test "${CFG[@]}"
check "alert test: exit 0" expect_rc 0
check "alert test: email ok" out_has "email: ok"
check "alert test: telegram ok" out_has "telegram: ok"
check "the test email parses as MIME with the right headers" mails "
assert len(msgs) == 1, len(msgs)
r, m = msgs[0]
assert r['rcpt_to'] == ['<ops@example.org>', '<oncall@example.org>'], r['rcpt_to']
assert r['mail_from'].startswith('<alerts@ck.example>'), r['mail_from']
assert r['auth_user'] == 'ops', r
assert m['From'].addresses[0].addr_spec == 'alerts@ck.example', m['From']
assert m['From'].addresses[0].display_name == 'Candlekeep Alerts', m['From']
assert [a.addr_spec for a in m['To'].addresses] == ['ops@example.org', 'oncall@example.org'], m['To']
assert m['Subject'] == '[candlekeep] TEST [info] candlekeep test message', m['Subject']
assert m['Date'].datetime is not None and m['Date'].datetime.utcoffset() is not None, m['Date']
assert m['Message-ID'].startswith('<') and m['Message-ID'].endswith('@ck.example>'), m['Message-ID']
assert m['MIME-Version'] == '1.0'
assert m.get_content_type() == 'multipart/alternative', m.get_content_type()
parts = list(m.iter_parts())
assert [p.get_content_type() for p in parts] == ['text/plain', 'text/html'], parts
assert 'candlekeep test message' in parts[0].get_content()
assert '<h2' in parts[1].get_content() and 'candlekeep test message' in parts[1].get_content()
assert not m.defects and not any(p.defects for p in parts), (m.defects, [p.defects for p in parts])
"

# ALERT_EMAIL_TO replaces the recipients.
# (Email only: the fake Telegram allows one message a second to the chat.)
curl -fsS -X POST "$SMTP_CTL/__reset" >/dev/null
email_ini "smtp://127.0.0.1:$SMTP_PORT" off >"$T/email_only.ini"
ALERT_EMAIL_TO="env-one@example.org env-two@example.org" ck alert test --config "$T/email_only.ini"
check "ALERT_EMAIL_TO: exit 0" expect_rc 0
check "ALERT_EMAIL_TO names the recipients" mails "
assert [r['rcpt_to'] for r, m in msgs] == [['<env-one@example.org>', '<env-two@example.org>']], msgs
"

ALERT_EMAIL_ENABLED=false ck alert test --config "$T/email_only.ini"
check "ALERT_EMAIL_ENABLED=false turns email off" rc_and_err 1 "no alert channel is configured"
check "and nothing is sent" mails "assert len(msgs) == 1, len(msgs)"

# tls = required against a server without STARTTLS.
email_ini "smtp://127.0.0.1:$SMTP_PORT" required >"$T/tls.ini"
ck alert test --config "$T/tls.ini"
check "tls required, no STARTTLS: exit 1" expect_rc 1
check "tls required, no STARTTLS: a clear error" out_has "email: failed: to 127.0.0.1:$SMTP_PORT: the server does not offer STARTTLS, and [alerts.email] tls = required"
check "tls required, no STARTTLS: nothing sent" mails "assert len(msgs) == 1, len(msgs)"

# tls = required against a server with STARTTLS and a certificate made here.
if openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 2 \
    -subj /CN=127.0.0.1 -addext "subjectAltName=IP:127.0.0.1" 2>"$T/openssl.log"; then
    start_fake tls fake_smtp.py --control-file "$T/tls.ctl" --tls-cert "$T/cert.pem" --tls-key "$T/key.pem" \
        --user ops --password "$PASSWORD"
    email_ini "smtp://127.0.0.1:$(cat "$T/tls.port")" required "ca_file = $T/cert.pem" >"$T/starttls.ini"
    ck alert test --config "$T/starttls.ini"
    check "STARTTLS: exit 0" expect_rc 0
    check "STARTTLS: the message went over TLS" py "
import json, urllib.request
m = json.load(urllib.request.urlopen('$(cat "$T/tls.ctl")/__messages'))
assert len(m) == 1 and m[0]['tls'] and m[0]['auth_user'] == 'ops', m"
    email_ini "smtp://127.0.0.1:$(cat "$T/tls.port")" required >"$T/untrusted.ini"
    ck alert test --config "$T/untrusted.ini"
    check "STARTTLS, certificate not trusted: exit 1" expect_rc 1
    check "STARTTLS, certificate not trusted: says so" out_has "certificate is not trusted"
else
    platform_skip "STARTTLS with a certificate made here" "openssl req failed: $(head -c 200 "$T/openssl.log")"
fi
curl -fsS -X POST "$SMTP_CTL/__reset" >/dev/null

# ---- 3. The daemon: an alert and its resolution.
KEYM="job:refresh_candles_M15"
check "the daemon starts" start_daemon
ctl "$TD" '{"errors": [{"code": 400, "message": "BTC/USD is not available", "times": 1}]}'
check "a failing refresh" run_job refresh_candles_M15 failed
check "the firing email arrives" wait_for 30 mail_count_is firing "$KEYM" 1
check "the firing email is valid MIME about the alert" mails "
from email.header import decode_header
(r, m), = [(r, m) for r, m in msgs if m['X-Candlekeep-State'] == 'firing']
subj = m['Subject']
assert subj.startswith('[candlekeep] FIRING [warning] '), subj
assert m.get_content_type() == 'multipart/alternative'
text, html = [p.get_content() for p in m.iter_parts()]
assert '$KEYM' in text and '$KEYM' in html, (text, html)
assert 'not available' in text, text
assert m['Message-ID'] and m['Date'] and m['References'], m
assert not m.defects and not any(p.defects for p in m.iter_parts())
"
check "the firing alert also went to Telegram" wait_for 20 tg_has "FIRING"

ctl "$TD" '{"errors": []}'
check "a good refresh" run_job refresh_candles_M15 ok
check "the resolved email arrives" wait_for 30 mail_count_is resolved "$KEYM" 1
check "the resolved email threads under the firing one" mails "
f = [m for r, m in msgs if m['X-Candlekeep-State'] == 'firing'][0]
s = [m for r, m in msgs if m['X-Candlekeep-State'] == 'resolved'][0]
assert s['Subject'].startswith('[candlekeep] RESOLVED '), s['Subject']
assert s['References'] == f['References'], (s['References'], f['References'])
assert s['Message-ID'] != f['Message-ID']
"
check "one email per message" mails "assert len(msgs) == 2, [m['Subject'] for r, m in msgs]"

# ---- 4. 451: retried, then delivered once.
smtp_ctl '{"stage": "end", "reply": "451 4.3.0 mailbox busy, try later", "times": 2}'
ctl "$TD" '{"errors": [{"code": 400, "message": "second failure", "times": 1}]}'
check "a failing refresh again" run_job refresh_candles_M15 failed
check "after two 451s the firing email is delivered" wait_for 40 mail_count_is firing "$KEYM" 2
check "the 451s were logged as retries" grep -q "alert: email message .* failed (attempt 2), retry in" "$T/daemon.log"
two_451() {
    curl -fsS "$SMTP_CTL/__sessions" | py "
import json, sys
n = sum(1 for s in json.load(sys.stdin) for r in s['replies'] if r.startswith('451'))
assert n == 2, n"
}
check "the server answered 451 twice" two_451

# ---- 5. 550: given up at once, and Telegram hears of it.
smtp_ctl '{"stage": "rcpt", "reply": "550 5.1.1 no such mailbox", "times": 0}'
ctl "$TD" '{"errors": []}'
check "a good refresh again" run_job refresh_candles_M15 ok
check "the email is given up after one attempt" wait_for 30 grep -q "alert: email message .* given up after 1 attempt: email: to 127.0.0.1:$SMTP_PORT: permanent failure (SMTP 550)" "$T/daemon.log"
check "Telegram hears that an email was lost" wait_for 30 tg_has "Alert message not delivered by email"
check "and that it was the resolved message" tg_has "(SMTP 550)"
check "no resolved email for it" mail_count_is resolved "$KEYM" 1

# ---- 6. The digest by email.
curl -fsS -X POST "$SMTP_CTL/__reset" >/dev/null
check "the digest job runs" run_job digest ok
check "the digest arrives by email" wait_for 30 mails "
d = [m for r, m in msgs if m['X-Candlekeep-State'] == 'digest']
assert len(d) == 1, len(d)
assert d[0].get_content_type() == 'multipart/alternative'
"

check "the daemon stops cleanly" daemon_stop "$DPID"

# ---- 7. The password is nowhere.
check "the password is in no output or log" no_password "$T/all.log" "$T/daemon.out" "$T/daemon.log" "$T/out" "$T/err"
if [ -f "$T/candlekeep.db" ]; then
    check "the password is not in the database" lacks "$PASSWORD" "$T/candlekeep.db"
fi

finish
