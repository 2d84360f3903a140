#!/usr/bin/env bash
# `config check` and `config show`: an unknown source kind and an enabled
# source without its API key exit 2 naming file:line; `show` prints every
# section, and no secret (keys, tokens, webhook secrets, URL passwords, ping
# URL paths) appears in its text or JSON output.
source "$(dirname "$0")/lib.sh"
cd "$T"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_CONFIG CANDLEKEEP_API_TOKEN \
    OPS_TELEGRAM_BOT_TOKEN OPS_TELEGRAM_CHAT_ID

# 1. An unknown kind, named at its line with the known kinds.
cat >"$T/kind.ini" <<'INI'
[storage]
url = sqlite:kind.db
[source.venue]
kind = nosuchvenue
symbols = BTC/USD
INI
ck config check --config "$T/kind.ini"
check "an unknown kind exits 2" expect_rc 2
check "an unknown kind is named at its line, with the known kinds" \
    err_has "$T/kind.ini:4: key 'kind': unknown kind 'nosuchvenue' (known kinds: twelvedata, binance, bybit, okx, kraken, coinbase)"
ck candles M15 --config "$T/kind.ini"
check "every command refuses an unknown kind with exit 2" expect_rc 2
check "and says it the same way" err_has "$T/kind.ini:4: key 'kind': unknown kind 'nosuchvenue'"

# A section named after no adapter and without a kind: the name is taken as the kind.
printf '[source.binancex]\nsymbols = BTC/USDT\n' >"$T/named.ini"
ck config check --config "$T/named.ini"
check "a section name that is no kind exits 2" expect_rc 2
check "it is named at the section's line" err_has "$T/named.ini:1: key 'kind': unknown kind 'binancex'"

# 2. An enabled source without the key its kind needs.
cat >"$T/nokey.ini" <<'INI'
[storage]
url = sqlite:nokey.db

[source.gold]
kind = twelvedata
symbols = XAU/USD
[source.off]
kind = twelvedata
enabled = false
INI
ck config check --config "$T/nokey.ini"
check "a source without its key exits 2" expect_rc 2
check "the missing key is named at the source's line with its variable" \
    err_has "$T/nokey.ini:4: key 'api_key': source 'gold' needs a Twelve Data API key: set TWELVE_DATA_API_KEY"
check "a disabled source needs no key" lacks "source 'off'" "$T/err" "$T/out"
check "one problem" err_has "1 problem"
# Bounded, in case run ever starts instead of refusing; it must exit on its own.
set +e
timeout 30 "$CK_BIN" run --config "$T/nokey.ini" >"$T/out" 2>"$T/err"
RC=$?
set -e
check "run refuses it with exit 2" expect_rc 2
check "run says it as config check does" \
    err_has "$T/nokey.ini:4: key 'api_key': source 'gold' needs a Twelve Data API key"
check "run created no database" test ! -e "$T/nokey.db"
TWELVE_DATA_API_KEY=from-the-environment-1 ck config check --config "$T/nokey.ini"
check "the key from TWELVE_DATA_API_KEY satisfies it" expect_rc 0
# Commands that only read stored data do not need the provider's key.
ck candles M15 --config "$T/nokey.ini" --format csv
check "candles works without the key" expect_rc 0

# 3. show: every section, every secret masked.
PG_PW="PgPw-$RANDOM-zz"
KEY="TdKey-$RANDOM-zz"
TOKEN="ApiTok-$RANDOM-zz"
BOT="123456:BotTok-$RANDOM-zz"
HOOKPATH="HookPath-$RANDOM-zz"
HOOKQ="HookQ-$RANDOM-zz"
PING="PingPath-$RANDOM-zz"
WHSEC="WhSecret-$RANDOM-zz"
RECVPW="RecvPw-$RANDOM-zz"
SECRETS=("$PG_PW" "$KEY" "$TOKEN" "BotTok-" "$HOOKPATH" "$HOOKQ" "$PING" "$WHSEC" "$RECVPW")
cat >"$T/all.ini" <<INI
[storage]
url = postgresql://ck:$PG_PW@db.example:5432/candles
[api]
token = $TOKEN
[log]
level = info
[scheduler]
workers = 2
[retry]
max_retries = 4
[retention]
M15 = 30d
[ingest]
gap_window = 3d
[alerts]
failure_threshold = 2
[alerts.telegram]
bot_token = $BOT
chat_id = -1001234
[alerts.webhook]
url = https://hooks.example/services/$HOOKPATH?token=$HOOKQ
[digest]
schedule = 0 7 * * *
[heartbeat]
url = https://hc-ping.example/$PING
[jobs]
retention = 0 4 * * *
[signals]
notify_outcomes = false
[deliver]
attempts = 3
[source.gold]
kind = twelvedata
api_key = $KEY
base_url = https://api.twelvedata.com
[webhook.bot]
url = https://bot:$RECVPW@bot.example/hook
secret = $WHSEC
INI
ck config check --config "$T/all.ini"
check "the full configuration is valid" expect_rc 0
ck config show --config "$T/all.ini"
check "show exits 0" expect_rc 0
for sec in storage api log scheduler retry retention ingest alerts alerts.telegram alerts.webhook \
    digest heartbeat jobs signals deliver source.gold webhook.bot; do
    check "show prints [$sec]" out_has "[$sec]"
done
check "show prints a key of [jobs]" out_has "retention = 0 4 * * *"
check "show prints a key of [deliver]" out_has "attempts = 3"
check "show prints a key of [alerts]" out_has "failure_threshold = 2"
check "show prints the chat id (not a secret)" out_has "chat_id = -1001234"
check "the storage URL keeps its host, masks its password" \
    out_has "url = postgresql://ck:***@db.example:5432/candles"
check "the ping URL keeps its host, masks its path" out_has "url = https://hc-ping.example/***"
check "the API key is masked" out_has "api_key = ***"
check "the webhook secret is masked" out_has "secret = ***"
check "the receiver URL's password is masked" out_has "url = https://bot:***@bot.example/hook"
for s in "${SECRETS[@]}"; do
    check "show never prints '$s'" lacks "$s" "$T/out" "$T/err"
done
cp "$T/out" "$T/show.txt"
ck config show --config "$T/all.ini" --format json
check "show --format json exits 0" expect_rc 0
check "the JSON has every section, integers as numbers" py "
import json; d = json.load(open('$T/out'))
for s in ['storage', 'api', 'alerts', 'alerts.telegram', 'alerts.webhook', 'deliver', 'digest',
          'jobs', 'heartbeat', 'ingest', 'signals', 'source.gold', 'webhook.bot']:
    assert s in d, s
assert d['deliver']['attempts'] == 3 and d['signals']['notify_outcomes'] is False, d
assert d['heartbeat']['url'] == 'https://hc-ping.example/***', d['heartbeat']
"
for s in "${SECRETS[@]}"; do
    check "show --format json never prints '$s'" lacks "$s" "$T/out" "$T/err"
done

# Secrets from the environment are masked as well.
CANDLEKEEP_API_TOKEN="EnvTok-$RANDOM-zz" DATABASE_URL="postgresql://u:EnvPw-zz@h/db" \
    ck config show --config "$T/all.ini"
check "show with secrets from the environment exits 0" expect_rc 0
check "an API token from the environment is masked" lacks "EnvTok-" "$T/out" "$T/err"
check "a database password from the environment is masked" lacks "EnvPw-zz" "$T/out" "$T/err"
check "the environment's database URL is shown" out_has "url = postgresql://u:***@h/db"
finish
