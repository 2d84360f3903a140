#!/usr/bin/env bash
# The rules of the integration scripts that a reader can miss, checked:
#
#   - no `|| true` (or `|| :`) after a candlekeep run (`ck`, "$CK_BIN",
#     candlekeep): its exit status is the test;
#   - no `wait ... || true`: a daemon's exit status is asserted;
#   - no bare `sleep` as a wait: waits poll for an event with a deadline
#     (lib.sh's wait_for; its poll interval is marked `# ck-lint: poll`);
#   - a check is a function or a command: no `check DESC bash -c "..."`
#     (a program in a string, whose failures can go unseen), and only
#     lib.sh calls pass and fail.
#
#   lint-tests.sh [FILE...]   (default: tests/integration/*.sh, tests/faults/*.sh)
#
# Prints FILE:LINE: RULE for each violation; exits 1 when there is one.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -eq 0 ]; then
    set -- "$ROOT"/tests/integration/*.sh "$ROOT"/tests/faults/*.sh
fi
exec python3 - "$@" <<'PY'
import os, re, sys

CK = r'''(?:(?<![\w-])ck(?:_ok|_out)?\s|\$\{?CK_BIN\b|(?<![\w/.-])candlekeep\s)'''
rules = [
    (re.compile(CK + r'''.*\|\|\s*(?:true|:)\s*(?:$|[;#)])'''),
     "'|| true' after a candlekeep run throws its exit status away"),
    (re.compile(r'''(?<![\w-])wait\b[^|]*\|\|\s*(?:true|:)\s*(?:$|[;#)])'''),
     "'wait ... || true' throws a daemon's exit status away: assert it (daemon_stop)"),
    (re.compile(r'''(?:^|[;&|({]|\bdo|\bthen|\belse)\s*sleep\s'''),
     "a fixed sleep as a wait: poll for the event with a deadline (wait_for)"),
    (re.compile(r'''(?<![\w-])check\s+("[^"]*"|'[^']*'|\S+)\s+(?:bash|sh)\s+-c\b'''),
     "a check written as a program in a string: make it a function"),
]
passfail = re.compile(r'''(?:^|[;&|{]|\bthen|\belse|\bdo)\s*(?:pass|fail)\s''')

bad = 0
for path in sys.argv[1:]:
    name = os.path.basename(path)
    with open(path, encoding='utf-8') as f:
        raw = f.read().split('\n')
    # Join continuation lines; report at the first line of the statement.
    i = 0
    while i < len(raw):
        start = i
        text = raw[i]
        while text.endswith('\\') and i + 1 < len(raw):
            i += 1
            text = text[:-1] + ' ' + raw[i]
        i += 1
        code = text.split(' #', 1)[0] if not text.lstrip().startswith('#') else ''
        if not code.strip():
            continue
        for rx, why in rules:
            if rx.search(code):
                if 'sleep' in why and 'ck-lint: poll' in text:
                    continue
                print('%s:%d: %s' % (path, start + 1, why))
                bad += 1
        if name != 'lib.sh' and passfail.search(code):
            print('%s:%d: %s' % (path, start + 1,
                  "pass/fail called directly: write the check as a function for check()"))
            bad += 1
if bad:
    print('lint-tests: %d problem(s)' % bad, file=sys.stderr)
    sys.exit(1)
PY
