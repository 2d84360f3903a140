#!/bin/sh
# `make run`: the main job on the embedded SQLite default. Until the daemon
# lands this is one incremental fetch of every configured series, then the
# newest stored candles of the first one.
set -e
BIN=${1:-build/candlekeep}
CONFIG=${2:-candlekeep.ini}
set --
[ -f "$CONFIG" ] && set -- --config "$CONFIG"
"$BIN" fetch "$@"
"$BIN" candles M15 --limit 20 "$@"
