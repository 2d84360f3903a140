#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A local fake of Binance's spot market-data API (GET /api/v3/klines) for tests.

Python 3 standard library only. Listens on 127.0.0.1 only, on a port chosen
by the kernel, and serves until killed (SIGTERM/SIGINT), or until its parent
process goes away (see --no-parent-watch).

Usage:
    fake_binance.py --port-file PATH [--verbose] [--no-parent-watch]

The chosen port is written to PATH (atomically: PATH.tmp, then renamed),
after the socket is listening. No key is needed, as on the market-data host
(https://data-api.binance.vision).

GET /api/v3/klines  (binance-spot-api-docs rest-api.md, errors.md)
    Parameters (names case-sensitive): symbol, interval, startTime, endTime,
    limit, timeZone.
    - symbol: required (else 400 {"code":-1102,...}); must match
      ^[A-Z0-9-_.]{1,20}$ (else 400 {"code":-1100,"msg":"Illegal characters
      found in parameter 'symbol'; ..."}), so "BTC/USDT" or "btcusdt" are
      refused as Binance refuses them; an unknown one gets
      400 {"code":-1121,"msg":"Invalid symbol."}. Known: BTCUSDT ETHUSDT
      BNBUSDT SOLUSDT XRPUSDT DOGEUSDT ETHBTC, listed since 2017-08-17 (no
      kline opens earlier).
    - interval: 1s 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w 1M; anything
      else 400 {"code":-1120,"msg":"Invalid interval."}. Periods are aligned
      to UTC: 1w starts on Monday 00:00 UTC, 1M on the first of the month,
      3d counts from the epoch.
    - limit: default 500, 1..1000; outside that the fake answers 400
      {"code":-1130,"msg":"Data sent for parameter 'limit' is not valid."}
      (the documented code for a bad parameter value).
    - startTime / endTime: milliseconds. Neither: the most recent `limit`
      klines. startTime: the oldest `limit` klines whose open time is at or
      after it. endTime alone: the most recent up to it (open time <= it).
      Both: from startTime, up to endTime.
    - timeZone: only "0" / "+00:00" / absent (the fake serves UTC alone;
      other values 400 -1130).
    Rows, oldest first, each an array of 12 as the documentation lists:
      [open time ms, "open", "high", "low", "close", "volume", close time ms
       (open + interval - 1), "quote volume", trades, "taker buy base",
       "taker buy quote", "0"]
    Prices are deterministic functions of (symbol, interval, open time),
    decimal strings with 8 decimals ("43519.34000000"), low <= open,
    close <= high. The last row is the kline still forming (open <= now <
    close) whenever the window reaches now, as Binance sends it; "forming":
    false leaves it out.

Weight and bans (rest-api.md "LIMITS")
    Every klines request costs weight 2 of 6,000 a minute (the minute of the
    fake's clock, starting on the minute). Every answer carries
    X-MBX-USED-WEIGHT-1M (and X-MBX-USED-WEIGHT), the weight used in the
    current minute. A request that would pass the limit costs nothing and
    gets HTTP 429 {"code":-1003,"msg":"Too much request weight used; ..."}
    with Retry-After = seconds to the next minute. A request sent before a
    429's Retry-After has passed is banned: HTTP 418 {"code":-1003,
    "msg":"Way too much request weight used; IP banned until <ms>. ..."}
    with Retry-After = seconds to the ban's end; bans last 120 s, doubling
    for each ban after the first (at most 3 days), and every request during
    a ban gets the 418 again.

The fake's clock: real time, or "now" set by a test, which then advances in
real time from the moment it was set (so waits and bans run out as they do).

Control API (JSON bodies; every key optional; later calls replace the keys
they name and keep the others):

    POST /__control
    {
      "now": "2024-03-15T12:00:05Z",   # the clock, advancing from this; null = real time
      "used_weight": 5997,              # weight already used in the current minute
      "weight_limit": 6000,             # the minute's limit (default 6000)
      "ban": 3600,                      # ban the client now for this many seconds
      "forming": true,                  # include the forming kline (default true)
      "unaligned": false,               # shift every open and close time by 7 minutes
      "delay": 0,                       # seconds before each klines answer
      "holes": [{"symbol": "BTCUSDT", "interval": "1h",         # interval optional
                 "from": "2024-03-14T10:00:00Z", "to": "2024-03-14T11:00:00Z"}],
                                        # klines opening in [from, to) do not exist
      "overrides": [{"symbol": "BTCUSDT", "interval": "1h",
                     "time": "2024-03-15T10:00:00Z", "field": 4,
                     "value": "NaN"}],  # field 0..11 of that row replaced by `value`
                                        # (any JSON value), or by "text" written into
                                        # the body as is ("NaN", "1e999",
                                        # "123456789012345678901234567890"); "remove":
                                        # true shortens the row to `field` fields
      "errors": [{"code": -1121, "msg": "Invalid symbol.", "http_status": 400,
                  "times": 1, "headers": {"Retry-After": "7"}, "delay": 0}],
                                        # queue: the next `times` klines requests get
                                        # {"code","msg"} (msg defaults to the documented
                                        # text of the code; http_status to 400, or 429 for
                                        # -1003)
      "raw": [{"http_status": 502, "body": "<html>...</html>",
               "content_type": "text/html", "times": 1, "headers": {},
               "cut": null, "delay": 0}]
                                        # queue of raw answers; "cut": N sends only the
                                        # first N bytes but announces the full length,
                                        # then closes the connection
    }
    Answer: {"status": "ok", "control": <the current control state>}. The
    queues ("raw" first, then "errors") answer before any check, cost no
    weight, and are appended to by each call. "ban", "used_weight" act when
    given and are not kept.

    GET  /__control    the control state, with "used_weight" (the current
                       minute's) and "banned_for" (seconds left, 0 if none)
    POST /__reset      clear the control state, queues, weight, bans and
                       the request log
    GET  /__requests   [{"method", "path", "query": {name: value}, "time",
                         "answer": HTTP status sent (null while pending),
                         "used_weight": the header value sent (or null)}]
                       for every klines request, oldest first
"""

import calendar as cal
import hashlib
import json
import re
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlsplit

import fakevenue

UTC = timezone.utc
MIN, HOUR, DAY = 60, 3600, 86400
WEEK_ORIGIN = 4 * DAY  # 1970-01-05, a Monday
LISTED = 1502928000  # 2017-08-17T00:00:00Z
WEIGHT_LIMIT = 6000
KLINES_WEIGHT = 2
FIRST_BAN = 120
MAX_BAN = 3 * DAY

INTERVALS = {
    "1s": 1, "1m": MIN, "3m": 3 * MIN, "5m": 5 * MIN, "15m": 15 * MIN, "30m": 30 * MIN,
    "1h": HOUR, "2h": 2 * HOUR, "4h": 4 * HOUR, "6h": 6 * HOUR, "8h": 8 * HOUR,
    "12h": 12 * HOUR, "1d": DAY, "3d": 3 * DAY, "1w": 7 * DAY, "1M": None,
}
# Base price in units of 0.01 of the quote asset.
SYMBOLS = {"BTCUSDT": 4200000, "ETHUSDT": 250000, "BNBUSDT": 40000, "SOLUSDT": 12000,
           "XRPUSDT": 60, "DOGEUSDT": 20, "ETHBTC": 5}
SYMBOL_RE = re.compile(r"^[A-Z0-9\-_.]{1,20}$")

MESSAGES = {
    -1000: "An unknown error occurred while processing the request.",
    -1003: ("Too much request weight used; current limit is 6000 request weight per 1 MINUTE. "
            "Please use WebSocket Streams for live updates to avoid polling the API."),
    -1100: ("Illegal characters found in parameter 'symbol'; legal range is "
            "'^[A-Z0-9-_.]{1,20}$'."),
    -1102: "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
    -1120: "Invalid interval.",
    -1121: "Invalid symbol.",
    -1130: "Data sent for parameter 'limit' is not valid.",
}


class BadRequest(Exception):
    def __init__(self, code, msg=None):
        super().__init__(msg or MESSAGES[code])
        self.code = code
        self.msg = msg or MESSAGES[code]


def parse_iso_utc(s):
    s = s.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


class Interval:
    """Open times of one interval: floor, next, previous."""

    def __init__(self, name):
        self.name = name
        self.secs = INTERVALS[name]

    def floor(self, t):
        if self.secs is None:
            d = datetime.fromtimestamp(t, UTC)
            return cal.timegm((d.year, d.month, 1, 0, 0, 0))
        origin = WEEK_ORIGIN if self.name == "1w" else 0
        return t - (t - origin) % self.secs

    def next(self, o):
        if self.secs is None:
            d = datetime.fromtimestamp(o, UTC)
            y, m = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
            return cal.timegm((y, m, 1, 0, 0, 0))
        return o + self.secs

    def prev(self, o):
        return self.floor(o - 1)


def units(v, dec=2):
    """v in units of 10**-dec, as Binance prints it: 8 decimals."""
    s = f"{v // 10 ** dec}.{v % 10 ** dec:0{dec}d}"
    return s + "0" * (8 - dec)


def kline(symbol, interval, o):
    """The 12 fields of a kline (without overrides)."""
    base = SYMBOLS[symbol]
    h = hashlib.sha256(f"{symbol}|{interval.name}|{o}".encode()).digest()
    n = [int.from_bytes(h[i:i + 4], "big") for i in range(0, 32, 4)]
    phase = (o // DAY) % 200
    center = base + base * (phase if phase < 100 else 200 - phase) // 2000 - base // 40
    span = max(base // 400, 4)
    op = max(center + n[0] % span - span // 2, 1)
    cl = max(center + n[1] % span - span // 2, 1)
    hi = max(op, cl) + n[2] % (span // 2 + 1)
    lo = max(min(op, cl) - n[3] % (span // 2 + 1), 1)
    vol = n[4] % 10 ** 12  # units of 1e-8
    trades = n[5] % 50000
    return [o * 1000, units(op), units(hi), units(lo), units(cl),
            f"{vol // 10 ** 8}.{vol % 10 ** 8:08d}", interval.next(o) * 1000 - 1,
            units(vol * cl // 10 ** 8 // 100 + 1), trades,
            f"{vol // 2 // 10 ** 8}.{vol // 2 % 10 ** 8:08d}",
            units(vol * cl // 2 // 10 ** 8 // 100 + 1), "0"]


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.control = {"now": None, "weight_limit": WEIGHT_LIMIT, "forming": True,
                        "unaligned": False, "delay": 0, "holes": [], "overrides": []}
        self.clock_base = None  # (fake now, real time when set)
        self.weights = {}  # minute -> weight used
        self.limited_until = 0  # a 429's Retry-After runs until then
        self.banned_until = 0
        self.bans = 0
        self.raw, self.errors, self.requests = [], [], []

    def now(self):
        if self.clock_base is None:
            return time.time()
        return self.clock_base[0] + (time.time() - self.clock_base[1])

    def apply(self, body):
        unknown = set(body) - {"now", "used_weight", "weight_limit", "ban", "forming",
                               "unaligned", "delay", "holes", "overrides", "errors", "raw"}
        if unknown:
            raise ValueError(f"unknown control keys: {sorted(unknown)}")
        if "now" in body:
            self.control["now"] = body["now"]
            self.clock_base = None if body["now"] is None else \
                (parse_iso_utc(body["now"]), time.time())
        for k in ("weight_limit", "forming", "unaligned", "delay", "holes", "overrides"):
            if k in body:
                self.control[k] = body[k]
        if "used_weight" in body:
            self.weights[int(self.now()) // MIN] = int(body["used_weight"])
        if "ban" in body:
            self.banned_until = self.now() + float(body["ban"])
        for item in body.get("errors", []):
            self.errors.append(dict(item, times=int(item.get("times", 1))))
        for item in body.get("raw", []):
            self.raw.append(dict(item, times=int(item.get("times", 1))))

    def snapshot(self):
        now = self.now()
        return dict(self.control, used_weight=self.weights.get(int(now) // MIN, 0),
                    banned_for=max(0, int(self.banned_until - now + 0.999)),
                    queued={"raw": len(self.raw), "errors": len(self.errors)})


def pop_queue(queue):
    if not queue:
        return None
    item = queue[0]
    item["times"] -= 1
    if item["times"] <= 0:
        queue.pop(0)
    return item


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-binance/1"
    state = None
    verbose = False

    def log_message(self, fmt, *args):
        if self.verbose:
            sys.stderr.write("fake_binance: " + (fmt % args) + "\n")

    def send(self, status, body, content_type="application/json;charset=UTF-8", headers=None,
             cut=None):
        data = body if isinstance(body, bytes) else body.encode()
        entry = getattr(self, "entry", None)
        if entry is not None:
            with self.state.lock:
                entry["answer"] = status
                entry["used_weight"] = (headers or {}).get("X-MBX-USED-WEIGHT-1M")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        if cut is not None:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data if cut is None else data[:int(cut)])
        self.wfile.flush()

    def send_json(self, status, obj, headers=None):
        self.send(status, json.dumps(obj, separators=(",", ":")), headers=headers)

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/__requests":
            with self.state.lock:
                self.send_json(200, self.state.requests)
        elif url.path == "/__control":
            with self.state.lock:
                self.send_json(200, self.state.snapshot())
        elif url.path == "/api/v3/klines":
            self.klines(url)
        else:
            self.send_json(404, {"code": -1000, "msg": f"path {url.path} not found"})

    def do_POST(self):
        url = urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if url.path == "/__reset":
            with self.state.lock:
                self.state.reset()
            self.send_json(200, {"status": "ok"})
        elif url.path == "/__control":
            try:
                body = json.loads(raw or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("the control body is a JSON object")
                with self.state.lock:
                    self.state.apply(body)
                    snap = self.state.snapshot()
            except (ValueError, KeyError, TypeError) as e:
                self.send_json(400, {"status": "error", "message": f"bad control: {e}"})
                return
            self.send_json(200, {"status": "ok", "control": snap})
        else:
            self.send_json(404, {"code": -1000, "msg": f"path {url.path} not found"})

    # -- /api/v3/klines

    def klines(self, url):
        st = self.state
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        with st.lock:
            entry = {"method": "GET", "path": url.path, "query": params, "time": time.time(),
                     "answer": None, "used_weight": None}
            st.requests.append(entry)
            self.entry = entry
            raw = pop_queue(st.raw)
            err = None if raw else pop_queue(st.errors)
            delay = float(st.control.get("delay") or 0)
        item = raw or err
        if item and item.get("delay") is not None:
            delay = float(item["delay"])
        if delay > 0:
            time.sleep(delay)
        if raw:
            self.send(int(raw.get("http_status", 200)), raw.get("body", ""),
                      content_type=raw.get("content_type", "application/json;charset=UTF-8"),
                      headers=raw.get("headers"), cut=raw.get("cut"))
            return
        if err:
            code = int(err["code"])
            status = int(err.get("http_status", 429 if code == -1003 else 400))
            self.send_json(status, {"code": code, "msg": err.get("msg") or MESSAGES.get(
                code, "An unknown error occurred while processing the request.")},
                headers=err.get("headers"))
            return

        with st.lock:
            refusal = self.charge()
        if refusal:
            status, body, headers = refusal
            self.send_json(status, body, headers=headers)
            return
        headers = self.weight_headers()
        try:
            rows = self.build(params)
        except BadRequest as e:
            self.send_json(400, {"code": e.code, "msg": e.msg}, headers=headers)
            return
        self.send(200, rows, headers=headers)

    def charge(self):
        """Count the request's weight; (status, body, headers) when it is refused."""
        st = self.state
        now = st.now()
        if now < st.banned_until:
            return self.ban_answer(now)
        if now < st.limited_until:
            # Sent before the 429's Retry-After ran out: banned, longer each time.
            st.banned_until = now + min(FIRST_BAN * 2 ** st.bans, MAX_BAN)
            st.bans += 1
            return self.ban_answer(now)
        minute = int(now) // MIN
        used = st.weights.get(minute, 0)
        if used + KLINES_WEIGHT > int(st.control["weight_limit"]):
            st.limited_until = (minute + 1) * MIN
            wait = max(1, int(st.limited_until - now + 0.999))
            return 429, {"code": -1003, "msg": MESSAGES[-1003]}, {
                "Retry-After": wait, "X-MBX-USED-WEIGHT-1M": used, "X-MBX-USED-WEIGHT": used}
        st.weights[minute] = used + KLINES_WEIGHT
        return None

    def ban_answer(self, now):
        st = self.state
        until_ms = int(st.banned_until * 1000)
        used = st.weights.get(int(now) // MIN, 0)
        return 418, {"code": -1003, "msg": (
            f"Way too much request weight used; IP banned until {until_ms}. Please use "
            "WebSocket Streams for live updates to avoid bans.")}, {
            "Retry-After": max(1, int(st.banned_until - now + 0.999)),
            "X-MBX-USED-WEIGHT-1M": used, "X-MBX-USED-WEIGHT": used}

    def weight_headers(self):
        st = self.state
        with st.lock:
            used = st.weights.get(int(st.now()) // MIN, 0)
        return {"X-MBX-USED-WEIGHT-1M": used, "X-MBX-USED-WEIGHT": used}

    def build(self, params):
        """The klines answer as JSON text (overrides may put anything in it)."""
        st = self.state
        symbol = params.get("symbol")
        if not symbol:
            raise BadRequest(-1102)
        if not SYMBOL_RE.match(symbol):
            raise BadRequest(-1100)
        name = params.get("interval")
        if not name:
            raise BadRequest(-1102, "Mandatory parameter 'interval' was not sent, was "
                                    "empty/null, or malformed.")
        if name not in INTERVALS:
            raise BadRequest(-1120)
        if symbol not in SYMBOLS:
            raise BadRequest(-1121)
        if params.get("timeZone", "0") not in ("0", "+00:00", "00:00"):
            raise BadRequest(-1130, "Data sent for parameter 'timeZone' is not valid.")
        try:
            limit = int(params.get("limit", "500"))
            start = int(params["startTime"]) if "startTime" in params else None
            end = int(params["endTime"]) if "endTime" in params else None
        except ValueError:
            raise BadRequest(-1130, "Data sent for parameter 'limit' is not valid.") from None
        if not 1 <= limit <= 1000:
            raise BadRequest(-1130)
        iv = Interval(name)

        with st.lock:
            now = int(st.now())
            control = json.loads(json.dumps(st.control))
        holes = [(parse_iso_utc(h["from"]), parse_iso_utc(h["to"])) for h in control["holes"]
                 if h.get("symbol", symbol) == symbol and h.get("interval", name) == name]
        last = iv.floor(now)
        if not control["forming"]:
            last = iv.prev(last)
        if end is not None:
            last = min(last, iv.floor(end // 1000))

        def exists(o):
            return o >= LISTED and not any(a <= o < b for a, b in holes)

        opens = []
        if start is not None:
            o = max(iv.floor((start + 999) // 1000), iv.floor(LISTED))
            if o * 1000 < start:
                o = iv.next(o)
            while o <= last and len(opens) < limit:
                if exists(o):
                    opens.append(o)
                o = iv.next(o)
        else:
            o = last
            while o >= LISTED and len(opens) < limit:
                if exists(o):
                    opens.append(o)
                o = iv.prev(o)
            opens.reverse()

        overrides = {}
        for ov in control["overrides"]:
            if ov.get("symbol", symbol) == symbol and ov.get("interval", name) == name:
                overrides.setdefault(parse_iso_utc(ov["time"]), []).append(ov)
        shift = 420000 if control["unaligned"] else 0
        out = []
        for o in opens:
            row = kline(symbol, iv, o)
            row[0] += shift
            row[6] += shift
            texts = [json.dumps(v) for v in row]
            for ov in overrides.get(o, []):
                f = int(ov["field"])
                if ov.get("remove"):
                    texts = texts[:f]
                elif "text" in ov:
                    texts[f] = str(ov["text"])
                else:
                    texts[f] = json.dumps(ov["value"])
            out.append("[" + ",".join(texts) + "]")
        return "[" + ",".join(out) + "]"



if __name__ == "__main__":
    fakevenue.serve(Handler, State(), "Local fake of Binance's /api/v3/klines.")
