#!/usr/bin/env bash
# The security_audit task through the CLI: nothing on a clean setup (a
# private umask, the API key from the environment, the API on loopback);
# then each planted problem is found, high ones make `maintenance run
# security_audit` exit 1 and fire security:audit: a secret in a rotated,
# compressed log (named by file and line, never quoted), a configuration
# file readable by others that holds a key, and an API on 0.0.0.0 without
# a token. Cleaned up, the audit passes again and the alert resolves.
source "$(dirname "$0")/lib.sh"

unset DATABASE_URL CANDLEKEEP_API_TOKEN
umask 077
KEY="sk-audit-secret-9f8e7d6c"
export TWELVE_DATA_API_KEY=$KEY
ini() {
    printf '[storage]\nurl = sqlite:%s/ck.db\n[log]\nfile = %s/ck.log\n[api]\nlisten = %s\n' \
        "$T" "$T" "$1"
    [ -z "${2:-}" ] || printf '[source.twelvedata]\napi_key = %s\n' "$2"
}
ini 127.0.0.1:18080 >"$T/ck.ini"
CFG=(--config "$T/ck.ini")

audit_json() {
    ck_out maintenance history --task security_audit --limit 1 --format json "${CFG[@]}" >"$T/audit.json"
}
security_alert() {
    ck_out alerts --format json "${CFG[@]}" >"$T/alerts.json" || return 1
    py "
import json, sys
a = {x['key']: x for x in json.load(open('$T/alerts.json'))}.get('security:audit')
sys.exit(0 if a and a['state'] == '$1' and a['severity'] == 'critical' else 1)
" || { cat "$T/alerts.json" >&2; return 1; }
}

ck maintenance run security_audit "${CFG[@]}"
check "a clean setup passes the audit" expect_rc 0
check "with no finding" out_has "security_audit ok: 0 findings (0 high, 0 medium)"

py "
import gzip
with gzip.open('$T/ck.log.20240101T000000.000Z.gz', 'wt') as f:
    f.write('ts=2024-01-01T00:00:00.000Z level=info msg=\"starting\"\n')
    f.write('ts=2024-01-01T00:00:01.000Z level=warn msg=\"GET /time_series?apikey=$KEY failed\"\n')
"
ck maintenance run security_audit "${CFG[@]}"
check "a secret in a rotated .gz log makes the audit exit 1" expect_rc 1
check "the output never quotes the secret" lacks "$KEY" "$T/out" "$T/err"
check "the history keeps the finding" audit_json
check "the finding names the compressed file and line" py "
import json
f = json.load(open('$T/audit.json'))[0]['details']['findings']
s = [x for x in f if x['check'] == 'secret_in_log']
assert len(s) == 1 and s[0]['severity'] == 'high', f
assert s[0]['subject'].endswith('.000Z.gz:2'), s
assert '$KEY' not in json.dumps(f), f
"
check "security:audit fires" security_alert firing
rm "$T/ck.log.20240101T000000.000Z.gz"

ini 127.0.0.1:18080 "$KEY" >"$T/ck.ini"
chmod 0644 "$T/ck.ini"
ck maintenance run security_audit "${CFG[@]}"
check "a 0644 config holding a key makes the audit exit 1" expect_rc 1
check "the history exits 0 (config)" audit_json
check "the config finding says who can read it" py "
import json
f = json.load(open('$T/audit.json'))[0]['details']['findings']
assert [x for x in f if x['check'] == 'file_permissions' and x['subject'] == '$T/ck.ini' and x['severity'] == 'high' and 'readable by everyone' in x['detail']], f
"
chmod 0600 "$T/ck.ini"
ck maintenance run security_audit "${CFG[@]}"
check "the same config at 0600 passes" expect_rc 0

ini 0.0.0.0:18080 >"$T/ck.ini"
ck maintenance run security_audit "${CFG[@]}"
check "an API on 0.0.0.0 without a token makes the audit exit 1" expect_rc 1
check "the history exits 0 (listener)" audit_json
check "the exposure is named" py "
import json
f = json.load(open('$T/audit.json'))[0]['details']['findings']
assert [x for x in f if x['check'] == 'api_exposed' and x['subject'] == '0.0.0.0:18080'], f
"
CANDLEKEEP_API_TOKEN=audit-token-1234 ck maintenance run security_audit "${CFG[@]}"
check "with a token it passes" expect_rc 0

ini 127.0.0.1:18080 >"$T/ck.ini"
ck maintenance run security_audit "${CFG[@]}"
check "cleaned up, the audit passes" expect_rc 0
check "security:audit resolves" security_alert resolved
finish
