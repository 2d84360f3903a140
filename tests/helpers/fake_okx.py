#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A local fake of OKX's V5 candlestick API for tests.

Usage: fake_okx.py --port-file PATH [--verbose] [--no-parent-watch]
(what every venue fake shares, the made-up candles and the control API: see
fakevenue.py).

GET /api/v5/market/candles          the latest 1,440 candles only; limit <= 300
GET /api/v5/market/history-candles  all of them; limit <= 100
    instId  BTC-USDT ETH-USDT SOL-USDT XRP-USDT DOGE-USDT BTC-USDC ETH-BTC;
            missing: HTTP 400 {"code":"50014","msg":"Parameter instId can not be
            empty","data":[]}; unknown: HTTP 200 {"code":"51001","msg":"Instrument
            ID does not exist","data":[]}
    bar     1m 3m 5m 15m 30m 1H 2H 4H (UTC-aligned), 6H 12H 1D 1W (Hong Kong
            time: days open at 16:00 UTC), 6Hutc 12Hutc 1Dutc 1Wutc (UTC; weeks
            from Monday); default 1m; else HTTP 400 {"code":"51000","msg":
            "Parameter bar error","data":[]}
    after   Unix ms: only candles older than it;  before: only newer
    limit   default 100; over the endpoint's most: HTTP 400 code 51000
            "Parameter limit error" (OKX's own handling is not documented; the
            fake is strict so that a client asking too much is caught)
    The answer: the newest `limit` candles of the range, newest first:
    {"code":"0","msg":"","data":[["1710504000000","67012.34","67100.00",
     "66950.12","67050.55","12.3456","12.3456","827123.45","0"], ...]}
    Rows are [ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm], strings;
    confirm "0" for the forming candle, "1" for a closed one.
    Control "confirm_lag": N marks closed candles "0" too for N seconds
    after their close (a venue that has not yet finalised them).

Rate limits (real clock, per IP, per endpoint)
    candles 40 and history-candles 20 requests in any 2 s; over: HTTP 429
    {"code":"50011","msg":"Rate limit reached. Please refer to API documentation
    and throttle requests accordingly","data":[]}. Control:
      "limits": {"candles": 40, "history": 20, "window_s": 2}

Error queue ("errors", see fakevenue.py): each item answers with HTTP
`http_status` (default: 429 for 50011, 400 for 50014 and 51000, else 200) and
{"code": code, "msg": msg, "data": []}, msg defaulting to OKX's text.
"""

import time

import fakevenue
from fakevenue import DAY, MONDAY, WEEK, Period

CANDLES = "/api/v5/market/candles"
HISTORY = "/api/v5/market/history-candles"
HK = 8 * 3600
BARS = {
    "1m": Period(60), "3m": Period(180), "5m": Period(300), "15m": Period(900),
    "30m": Period(1800), "1H": Period(3600), "2H": Period(7200), "4H": Period(14400),
    "6H": Period(21600, -HK), "12H": Period(43200, -HK), "1D": Period(DAY, -HK),
    "1W": Period(WEEK, MONDAY - HK),
    "6Hutc": Period(21600), "12Hutc": Period(43200), "1Dutc": Period(DAY),
    "1Wutc": Period(WEEK, MONDAY),
}
RECENT = 1440
SYMBOLS = {m.replace("/", "-"): m for m in fakevenue.MARKETS}
MESSAGES = {
    "50011": "Rate limit reached. Please refer to API documentation and throttle requests "
             "accordingly",
    "50014": "Parameter instId can not be empty",
    "51000": "Parameter bar error",
    "51001": "Instrument ID does not exist",
    "50001": "Service temporarily unavailable. Please try again later",
}
STATUS = {"50011": 429, "50014": 400, "51000": 400}


class OkxState(fakevenue.State):
    extra = {"limits": {"candles": 40, "history": 20, "window_s": 2}, "confirm_lag": 0}

    def check(self, body):
        if "limits" in body:
            lim = body["limits"]
            if set(lim) - {"candles", "history", "window_s"}:
                raise ValueError("limits: candles, history and window_s only")
            body["limits"] = dict(self.control["limits"], **lim)
        for e in body.get("errors", []):
            str(e["code"])


class OkxHandler(fakevenue.Handler):
    server_version = "fake-okx/1"
    data_paths = (CANDLES, HISTORY)

    def reject(self, code, msg=None, status=None, headers=None):
        code = str(code)
        self.send_json(STATUS.get(code, 200) if status is None else status,
                       {"code": code, "msg": msg or MESSAGES.get(code, "error"), "data": []},
                       headers=headers)

    def data(self, path, params, err):
        st = self.state
        if err:
            self.reject(err["code"], err.get("msg"), err.get("http_status"), err.get("headers"))
            return
        bucket = "history" if path == HISTORY else "candles"
        with st.lock:
            real = time.time()
            lim = st.control["limits"]
            win = st.windows[bucket]
            limited = win.count(float(lim["window_s"]), real) >= int(lim[bucket])
            if not limited:
                win.add(real)
        if limited:
            self.reject("50011")
            return
        try:
            rows = self.candles(params, path == HISTORY)
        except BadParam as e:
            self.reject(e.args[0], e.args[1] if len(e.args) > 1 else None)
            return
        self.send_json(200, {"code": "0", "msg": "", "data": rows})

    def candles(self, params, history):
        st = self.state
        inst = params.get("instId", "")
        if not inst:
            raise BadParam("50014")
        bar = params.get("bar", "1m")
        if bar not in BARS:
            raise BadParam("51000")
        if inst not in SYMBOLS:
            raise BadParam("51001")
        period = BARS[bar]
        try:
            limit = int(params.get("limit", "100"))
            after = int(params["after"]) if params.get("after") else None
            before = int(params["before"]) if params.get("before") else None
        except ValueError:
            raise BadParam("51000", "Parameter after, before or limit error") from None
        if not 1 <= limit <= (100 if history else 300):
            raise BadParam("51000", "Parameter limit error")
        hi = (after - 1) // 1000 if after is not None else 2 ** 62
        lo = before // 1000 + 1 if before is not None else 0
        market = SYMBOLS[inst]
        rows = []
        with st.lock:
            now = st.now()
            if not history:
                lo = max(lo, period.floor(now) - (RECENT - 1) * period.seconds)
            lag = int(st.control["confirm_lag"])
            for o in st.opens(inst, bar, period, lo, hi, limit):
                v = fakevenue.candle(market, bar, o)
                closed = o + period.seconds + lag <= now
                row = [str(o * 1000), *v[:5], v[4], v[5], "1" if closed else "0"]
                rows.append(st.apply_overrides(inst, bar, o, row))
        return rows


class BadParam(Exception):
    """A request OKX answers with an error code: args (code, msg)."""


if __name__ == "__main__":
    fakevenue.serve(OkxHandler, OkxState(), "Local fake of OKX's V5 candlestick API.")
