#!/usr/bin/env bash
# `candlekeep alert test` against the fake Telegram Bot API and its webhook
# receiver: both channels deliver; one failing channel makes exit 1 with its
# error and the other still delivers; nothing configured is a clear exit 1;
# a refused token is an error that never shows the token, nor does any
# other output.
# ck-test: smoke
source "$(dirname "$0")/lib.sh"
cd "$T"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_CONFIG OPS_TELEGRAM_BOT_TOKEN OPS_TELEGRAM_CHAT_ID

TOKEN="777001:AAH-alert_cli-SECRET-token"
WRONG="777001:AAH-wrong-SECRET-token"
HOOK_SECRET="hook-SECRET-4711"

python3 "$CK_SOURCE_DIR/tests/helpers/fake_telegram.py" --port-file "$T/tg.port" \
    --token "$TOKEN" 2>"$T/fake_tg.log" &
FAKE_PIDS+=($!)
wait_for 10 test -s "$T/tg.port" || :
[ -s "$T/tg.port" ] || { echo "fake Telegram did not start" >&2; cat "$T/fake_tg.log" >&2; exit 1; }
TG_URL="http://127.0.0.1:$(cat "$T/tg.port")"

tg_control() { curl -fsS -X POST -H 'Content-Type: application/json' -d "$1" "$TG_URL/__control" >/dev/null; }
tg_reset() { curl -fsS -X POST "$TG_URL/__reset" >/dev/null; }
tg_get() { curl -fsS "$TG_URL/$1"; }

# config FILE TOKEN CHAT [HOOK_URL]: a configuration with the given channels.
config() {
    {
        echo "[storage]"
        echo "url = $STORE_URL"
        if [ -n "$2$3" ]; then
            echo "[alerts.telegram]"
            [ -n "$2" ] && echo "bot_token = $2"
            [ -n "$3" ] && echo "chat_id = $3"
            echo "base_url = $TG_URL"
        fi
        if [ -n "${4:-}" ]; then
            echo "[alerts.webhook]"
            echo "url = $4"
        fi
    } >"$1"
}

no_secret() {
    if grep -qF -e "$TOKEN" -e "$WRONG" -e "SECRET" "$T/out" "$T/err"; then
        echo "a secret is in the output" >&2
        return 1
    fi
}

ck alert --help
check "alert --help exits 0" expect_rc 0
check "alert --help prints usage" out_has "usage: candlekeep alert test"
ck alert frob
check "an unknown action exits 2" expect_rc 2
check "an unknown action is named" err_has "unknown action 'frob'"

# Nothing configured.
config "$T/none.ini" "" ""
ck alert test --config "$T/none.ini"
check "no channel exits 1" expect_rc 1
check "no channel says what to set" err_has "no alert channel is configured"

# Both channels deliver.
config "$T/both.ini" "$TOKEN" "-1001234567890" "$TG_URL/hook/ops?token=$HOOK_SECRET"
ck alert test --config "$T/both.ini"
check "both channels: exit 0" expect_rc 0
check "telegram: ok" out_has "telegram: ok"
check "webhook: ok" out_has "webhook: ok"
check "no secret in the output" no_secret
tg_get __messages >"$T/messages.json"
check "one Telegram message, a test in HTML for the chat" py '
import json, sys
m = json.load(open(sys.argv[1]))
assert len(m) == 1, m
m = m[0]
assert m["chat_id"] == -1001234567890, m
assert m["parse_mode"] == "HTML", m
assert "<b>TEST</b> [info] candlekeep test message" in m["text"], m["text"]
assert "key alert:test" in m["plain"], m["plain"]
' "$T/messages.json"
tg_get __hooks >"$T/hooks.json"
check "one webhook body with the test fields" py '
import json, re, sys
h = json.load(open(sys.argv[1]))
assert len(h) == 1, h
b = h[0]["body"]
assert b["state"] == "test" and b["severity"] == "info" and b["key"] == "alert:test", b
assert b["title"] == "candlekeep test message", b
assert "TEST [info] candlekeep test message" in b["text"], b
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", b["time"]), b
' "$T/hooks.json"

# One channel failing: exit 1, its error on its line, the other still delivered.
tg_reset
tg_control '{"fail": [{"target": "hook", "error_code": 500, "times": 5}]}'
ck alert test --config "$T/both.ini"
check "one failing channel: exit 1" expect_rc 1
check "telegram still ok" out_has "telegram: ok"
check "the webhook's error is printed" out_has "webhook: failed: HTTP 500 (receiver failure)"
check "the failure count is on stderr" err_has "1 of 2 channels failed"
check "no secret in the output of a failure" no_secret
check "the message still reached Telegram" test "$(tg_get __messages | py 'import json,sys; print(len(json.load(sys.stdin)))')" = 1

# Telegram down: a network error, named by host only.
tg_reset
tg_control '{"down": true}'
config "$T/tg.ini" "$TOKEN" "12345"
ck alert test --config "$T/tg.ini"
check "Telegram down: exit 1" expect_rc 1
check "Telegram down: the error names the host" out_has "telegram: failed: 127.0.0.1"
check "no secret when Telegram is down" no_secret
tg_control '{"down": false}'

# A token Telegram refuses.
tg_reset
config "$T/wrong.ini" "$WRONG" "12345"
ck alert test --config "$T/wrong.ini"
check "a refused token: exit 1" expect_rc 1
check "a refused token is reported" out_has "telegram: failed: bot token refused (HTTP 401): Unauthorized"
check "the refused token is not shown" no_secret

# The same through the environment.
printf '[storage]\nurl = %s\n[alerts.telegram]\nbase_url = %s\n' "$STORE_URL" "$TG_URL" >"$T/envonly.ini"
OPS_TELEGRAM_BOT_TOKEN=$TOKEN OPS_TELEGRAM_CHAT_ID=@candlekeep_ops ck alert test --config "$T/envonly.ini"
check "the environment's token and chat: exit 0" expect_rc 0
check "the environment's channel delivered" out_has "telegram: ok"

# Half a Telegram configuration is a configuration error naming the missing key.
config "$T/half.ini" "$TOKEN" ""
ck alert test --config "$T/half.ini"
check "half a Telegram configuration: exit 2" expect_rc 2
check "the missing key is named" err_has "[alerts.telegram] chat_id is missing"
check "no secret in the configuration error" no_secret
ck config check --config "$T/half.ini"
check "config check refuses it too" expect_rc 2
check "config check names the missing key" err_has "[alerts.telegram] chat_id is missing"

# A configured token that could never be one: refused without quoting it.
config "$T/badtoken.ini" "777001:AAH/SECRET?x" "12345"
ck alert test --config "$T/badtoken.ini"
check "a malformed token: exit 2" expect_rc 2
check "a malformed token is explained" err_has "key 'bot_token': may contain only letters"
check "a malformed token is not shown" no_secret

finish
