#!/bin/sh
# `make run`: the main job on the embedded SQLite default — the daemon,
# with ./candlekeep.ini if there is one (defaults otherwise: SQLite file
# ./candlekeep.db, API on 127.0.0.1:8080, Binance BTC/USDT M15 H1 H4 D1,
# which needs no key, and Twelve Data XAU/USD when TWELVE_DATA_API_KEY is
# set). CANDLEKEEP_BINANCE_URL points the default source at another host.
set -e
BIN=${1:-build/candlekeep}
CONFIG=${2:-candlekeep.ini}
if [ -f "$CONFIG" ]; then
    exec "$BIN" run --config "$CONFIG"
fi
exec "$BIN" run
