#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A local fake of Bybit's V5 market kline API (GET /v5/market/kline) for tests.

Usage: fake_bybit.py --port-file PATH [--verbose] [--no-parent-watch]
(what every venue fake shares, the made-up candles and the control API: see
fakevenue.py).

GET /v5/market/kline
    category  "spot" (Bybit's default is "linear"; this fake has spot markets
              only and answers any other category with retCode 10001)
    symbol    BTCUSDT ETHUSDT SOLUSDT XRPUSDT DOGEUSDT BTCUSDC ETHBTC (upper
              case, as Bybit wants); any other: HTTP 200
              {"retCode":10001,"retMsg":"Not supported symbols","result":{},
               "retExtInfo":{},"time":...}
    interval  1 3 5 15 30 60 120 240 360 720 D W (minutes; D days and W weeks
              from 00:00 UTC, weeks from Monday); anything else (M too, which
              this fake does not make) retCode 10001 "Invalid interval"
    start, end  Unix milliseconds, both inclusive, either optional
    limit     1..1000, default 200; outside: retCode 10001
    The answer holds the newest `limit` candles of the window, newest first,
    the forming one included (its close the last trade):
    {"retCode":0,"retMsg":"OK","result":{"symbol":"BTCUSDT","category":"spot",
     "list":[["1710504000000","67012.34","67100.00","66950.12","67050.55",
              "12.3456","827123.45"], ...]},"retExtInfo":{},"time":1710504045123}
    Rows are [startTime, open, high, low, close, volume, turnover], strings.

Rate limit and ban (real clock)
    At most `per_window` requests (default 600) in any `window_s` seconds
    (default 5) from the IP address. The request over the limit and every
    request for `ban_seconds` after it (default 600, Bybit's "at least 10
    minutes") get HTTP 403 with the text "access too frequent" (Bybit does not
    document the body; the status is what counts). Control:
      "limits": {"per_window": 600, "window_s": 5}
      "ban_seconds": 600
      "ban": 30            start a ban of 30 s now (0 lifts one)
      "usage_headers": false   true: every answer carries X-Bapi-Limit (the
                          limit), X-Bapi-Limit-Status (left in the window) and
                          X-Bapi-Limit-Reset-Timestamp (ms on the fake's clock
                          when the window frees), as Bybit sends with its
                          per-UID limits

Error queue ("errors", see fakevenue.py): each item answers one request (or
"times") with HTTP `http_status` (default 200) and
{"retCode": retCode, "retMsg": retMsg, "result": {}, "retExtInfo": {}, "time": ...};
retMsg defaults to Bybit's text for the code (10001 "Not supported symbols",
10006 "Too many visits!", 10016 "Internal server error.", 10000 "Server
Timeout", 170121 "Invalid symbol."). A 10006 carries X-Bapi-Limit,
X-Bapi-Limit-Status: 0 and X-Bapi-Limit-Reset-Timestamp `reset_ms` (default
2000) after the fake's "now", unless "headers" replaces them.
"""

import time

import fakevenue
from fakevenue import DAY, MONDAY, WEEK, Period

PATH = "/v5/market/kline"
INTERVALS = {
    "1": Period(60), "3": Period(180), "5": Period(300), "15": Period(900),
    "30": Period(1800), "60": Period(3600), "120": Period(7200), "240": Period(14400),
    "360": Period(21600), "720": Period(43200), "D": Period(DAY), "W": Period(WEEK, MONDAY),
}
SYMBOLS = {m.replace("/", ""): m for m in fakevenue.MARKETS}
MESSAGES = {10000: "Server Timeout", 10001: "Not supported symbols", 10006: "Too many visits!",
            10016: "Internal server error.", 170121: "Invalid symbol."}


class BybitState(fakevenue.State):
    extra = {"limits": {"per_window": 600, "window_s": 5}, "ban_seconds": 600,
             "usage_headers": False}
    actions = {"ban"}

    def check(self, body):
        if "limits" in body:
            lim = body["limits"]
            if set(lim) - {"per_window", "window_s"}:
                raise ValueError("limits: per_window and window_s only")
            body["limits"] = dict(self.control["limits"], **lim)
        for e in body.get("errors", []):
            int(e["retCode"])
        if "ban" in body:
            self.ban_until = time.time() + float(body.pop("ban"))


class BybitHandler(fakevenue.Handler):
    server_version = "fake-bybit/1"
    data_paths = (PATH,)

    def envelope(self, code, msg, result=None):
        return {"retCode": code, "retMsg": msg, "result": {} if result is None else result,
                "retExtInfo": {}, "time": self.state.now() * 1000 + 123}

    def usage(self, left):
        st = self.state
        lim = st.control["limits"]
        return {"X-Bapi-Limit": lim["per_window"], "X-Bapi-Limit-Status": max(left, 0),
                "X-Bapi-Limit-Reset-Timestamp": (st.now() + int(lim["window_s"])) * 1000}

    def reject(self, code, msg=None, status=200, headers=None):
        self.send_json(status, self.envelope(code, msg or MESSAGES.get(code, "error")),
                       headers=headers)

    def data(self, path, params, err):
        st = self.state
        if err:
            code = int(err["retCode"])
            headers = err.get("headers")
            if headers is None and code == 10006:
                with st.lock:
                    lim = st.control["limits"]["per_window"]
                    reset = st.now() * 1000 + int(err.get("reset_ms", 2000))
                headers = {"X-Bapi-Limit": lim, "X-Bapi-Limit-Status": 0,
                           "X-Bapi-Limit-Reset-Timestamp": reset}
            self.reject(code, err.get("retMsg"), int(err.get("http_status", 200)), headers)
            return
        with st.lock:
            real = time.time()
            lim = st.control["limits"]
            win = st.windows["ip"]
            banned = real < st.ban_until
            if not banned and win.count(float(lim["window_s"]), real) >= int(lim["per_window"]):
                st.ban_until = real + float(st.control["ban_seconds"])
                banned = True
            if not banned:
                win.add(real)
            left = int(lim["per_window"]) - win.count(float(lim["window_s"]), real)
            usage = self.usage(left) if st.control["usage_headers"] else None
        if banned:
            self.send(403, "access too frequent", content_type="text/plain")
            return
        try:
            body = self.kline(params)
        except BadParam as e:
            self.send_json(200, self.envelope(10001, str(e)), headers=usage)
            return
        self.send_json(200, body, headers=usage)

    def kline(self, params):
        st = self.state
        if params.get("category", "linear") != "spot":
            raise BadParam("this fake serves category=spot only")
        symbol = params.get("symbol", "")
        if symbol not in SYMBOLS:
            raise BadParam("Not supported symbols")
        interval = params.get("interval", "")
        if interval not in INTERVALS:
            raise BadParam("Invalid interval")
        period = INTERVALS[interval]
        try:
            limit = int(params.get("limit", "200"))
            start = int(params["start"]) if "start" in params else 0
            end = int(params["end"]) if "end" in params else 2 ** 62
        except ValueError:
            raise BadParam("params error: limit, start and end are integers") from None
        if not 1 <= limit <= 1000:
            raise BadParam("params error: limit must be between 1 and 1000")
        lo = (start + 999) // 1000
        hi = end // 1000
        market = SYMBOLS[symbol]
        rows = []
        with st.lock:
            for o in st.opens(symbol, interval, period, lo, hi, limit):
                v = fakevenue.candle(market, interval, o)
                rows.append(st.apply_overrides(symbol, interval, o, [str(o * 1000), *v]))
        return self.envelope(0, "OK", {"symbol": symbol, "category": "spot", "list": rows})


class BadParam(Exception):
    """A request Bybit answers with retCode 10001."""


if __name__ == "__main__":
    fakevenue.serve(BybitHandler, BybitState(), "Local fake of Bybit's V5 kline API.")
