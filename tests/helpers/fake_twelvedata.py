#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A local fake of the Twelve Data REST API (GET /time_series) for tests.

Python 3 standard library only. Listens on 127.0.0.1 only, on a port chosen
by the kernel, and serves until killed (SIGTERM/SIGINT), or until its parent
process goes away (so a crashed test leaves nothing behind; see
--no-parent-watch).

Usage:
    fake_twelvedata.py --port-file PATH [--api-key KEY]... [--verbose] [--no-parent-watch]

The chosen port is written to PATH (atomically: written to PATH.tmp, then
renamed), after the socket is listening.

Authentication
    A request must carry `Authorization: apikey KEY` or the query parameter
    `apikey=KEY` (KEY defaults to "test-key"); otherwise it is answered with
    the documented 401 error body.

GET /time_series
    Parameters (names case-insensitive): symbol, interval, outputsize,
    start_date, end_date, order, timezone, format.
    - interval: 1min 5min 15min 30min 45min 1h 2h 4h 5h 8h 1day 1week 1month;
      anything else gives the documented 400 "Invalid **interval** provided" body.
    - outputsize: 1..5000; default 30 without dates, 5000 with a date; out of
      range gives a 400 error body. When a window holds more rows than
      outputsize, the latest ones are returned (as the real API does).
    - start_date / end_date: "YYYY-MM-DD" or "YYYY-MM-DD HH:MM:SS", in the
      request's time zone; start is inclusive and end exclusive (open times).
    - order: asc | desc, default desc (newest first).
    - timezone: "UTC", an IANA name, or "Exchange" (the default): New York
      for metals and forex, UTC for crypto. Datetimes are printed, and dates
      are read, in that zone, so a client that forgets timezone=UTC sees New
      York times for XAU/USD.
    - format: JSON only (CSV gives a 400 error body).
    Symbols: BTC/USD, ETH/USD and ten more coins against USD (LTC SOL XRP ADA
    DOGE DOT LINK AVAX BCH XLM) (crypto: 24/7, with "volume"); XAU/USD, XAG/USD
    (metals: Sunday 17:00 to Friday 17:00 New York with a daily pause
    17:00-18:00, no volume field); EUR/USD, GBP/USD, USD/CHF (forex: Sunday 17:00 to
    Friday 17:00 New York, no volume). Any other symbol gets the documented
    404 body. A candle exists iff the market is open during any part of its
    period, by the fake's own calendar (see "calendar" below: written apart
    from candlekeep's, so that the two check each other); intraday periods are aligned to UTC
    midnight, 1day to UTC midnight, 1week to Monday 00:00 UTC, 1month to the
    first of the month. Prices are deterministic functions of (symbol,
    interval, open time), decimal strings with 2 decimals (metals, crypto) or
    5 (forex), with low <= open, close <= high; 2h, 4h, 5h, 8h, 1day, 1week
    and 1month bars are built from the 1h bars of their hours in which the
    market is open (open of the first, close of the last, extremes, sum of
    volumes), so they agree with 1h as a venue's do. Intraday datetimes are
    "YYYY-MM-DD HH:MM:SS", 1day/1week/1month "YYYY-MM-DD". The still-forming
    bar (open <= now < open + period) is included, once the market has been
    open during [open, now], unless "forming" is false.
    An empty window gives the documented 400 "No data is available on the
    specified dates. Try setting different start/end dates." body.
    Every successful answer carries `api-credits-used` (credits counted in
    the current minute of the fake's clock) and, under a minute limit,
    `api-credits-left` (the limit minus that).

Credits
    As on the Basic (free) plan, which the real API always enforces: every
    request that passes the key check costs one credit, at most 8 in a
    minute and 800 in a day, counted on the fake's clock ("now" below, when
    a test sets it; minutes and days start on the UTC minute and day). A
    request over a limit costs nothing and gets the documented 429 body
    with HTTP status 429:
      {"code": 429, "message": "You have run out of API credits for the
       current minute. 9 API credits were used, with the current limit
       being 8. Wait for the next minute or consider switching to a higher
       tier plan at https://twelvedata.com/pricing", "status": "error"}
    (the day's text when the day's credits are gone). A test that needs
    more throughput says so: control {"limits": "unlimited"}, or other
    numbers.
    Built-in error bodies are sent with HTTP 200 (the quirk the real API
    shows); control {"error_status": "code"} sends them with their code.

Control API (JSON bodies; every key optional; later calls replace the keys
they name and keep the others):

    POST /__control
    {
      "now": "2024-03-15T12:00:00Z",   # the fake's clock (ISO 8601, UTC); null = real time
      "holes": [{"symbol": "XAU/USD", "interval": "15min",       # interval optional = all
                 "from": "2024-03-14T10:00:00Z", "to": "2024-03-14T11:00:00Z"}],
                                        # rows with open time in [from, to) are omitted
      "holidays": ["2024-12-25"],      # New York dates; each closes the trading day
                                        # ending 17:00 New York on that date (crypto:
                                        # the UTC day)
      "overrides": [{"symbol": "XAU/USD", "interval": "15min",
                     "datetime": "2024-03-15T10:00:00Z", "field": "close",
                     "value": "2070.55"}],
                                        # the row's field is replaced by `value` as is
                                        # (any JSON value: "abc", "NaN", "-1", "1e999",
                                        # null, 5); "remove": true deletes the field
      "errors": [{"code": 429, "kind": "minute", "message": "...",
                  "http_status": 200, "times": 1, "headers": {"Retry-After": "7"},
                  "delay": 0}],
                                        # queue: the next `times` (default 1) requests
                                        # get {"code", "message", "status":"error"};
                                        # message defaults to the documented text for
                                        # the code (429: "kind" minute|day, default
                                        # minute); http_status defaults to 200
      "raw": [{"http_status": 502, "body": "<html>...</html>",
               "content_type": "text/html", "times": 1, "headers": {},
               "cut": null, "delay": 0}],
                                        # queue of raw answers; "cut": N sends only the
                                        # first N bytes of the body but announces the
                                        # full length, then closes the connection
      "replay": [{"symbol": "USD/CHF", "interval": "30min", "file": "/path/x.csv"}],
                                        # serve recorded history instead of made-up
                                        # candles: a CSV with a header line and rows
                                        # "2024-03-15T12:00:00Z,1.0850" (open time in
                                        # UTC, one price: open = high = low = close);
                                        # only its rows exist, whatever the calendar
                                        # says; replaces the list given before
      "forming": true,                 # include the still-forming bar (default true)
      "unaligned": true,               # shift every datetime by 7 minutes
      "delay": 0.5,                    # seconds to wait before each /time_series answer
      "hold": true,                    # hold every /time_series answer until "hold": false
                                       # (at most 300 s); GET /__control shows "held"
      "limits": {"per_minute": 8, "per_day": 800, "http_status": 429},
                                        # the credit limits (default: the free tier, as
                                        # shown); a key left out keeps the free tier's
                                        # value, null lifts that limit; "unlimited"
                                        # lifts both (credits are still counted)
      "error_status": "200"            # "200" (default) or "code": HTTP status of the
                                        # built-in error bodies (auth, 404, 400 ...)
    }
    Answer: {"status": "ok", "control": <the current control state>}.
    The queues ("raw" first, then "errors") answer requests before the
    key is checked. "errors" and "raw" given here are appended to the queues.

    GET  /__control    the current control state, with "credits_used":
                       {"minute", "day"} on the fake's clock
    POST /__reset      clear the control state (back to the free tier's
                       limits), the queues, the credit counters and the
                       request log
    GET  /__requests   [{"method", "path", "query": {name: value},
                         "authorization_present": bool, "time": float,
                         "answer": int}] for every /time_series request,
                       oldest first; an `apikey` query value is shown as
                       "***" (the key is never echoed). "time" is the real
                       Unix time the request arrived (whatever "now" says);
                       "answer" is the error code of the body sent (429 for
                       a credit limit, 0 for data; the HTTP status for a
                       "raw" answer), or null while the answer is pending.
"""

import argparse
import functools
import hashlib
import json
import os
import sys
import threading
import time
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

NY = ZoneInfo("America/New_York")
UTC = timezone.utc
DAY = 86400
WEEK = 7 * DAY
W1_ORIGIN = 4 * DAY  # 1970-01-05, a Monday
MAX_OUTPUTSIZE = 5000
# The Basic (free) plan: what every key gets unless a test asks for more.
FREE_TIER = {"per_minute": 8, "per_day": 800, "http_status": 429}

INTRADAY = {
    "1min": 60, "5min": 300, "15min": 900, "30min": 1800, "45min": 2700,
    "1h": 3600, "2h": 7200, "4h": 14400, "5h": 18000, "8h": 28800,
}
DAILY = ("1day", "1week", "1month")
INTERVAL_LIST = "1min, 5min, 15min, 30min, 45min, 1h, 2h, 4h, 8h, 1day, 1week, 1month"

SYMBOLS = {
    "BTC/USD": {"kind": "crypto", "base": 4200000, "dec": 2, "volume": True,
                "meta": {"currency_base": "Bitcoin", "currency_quote": "US Dollar",
                         "exchange": "Coinbase Pro", "type": "Digital Currency"}},
    "ETH/USD": {"kind": "crypto", "base": 250000, "dec": 2, "volume": True,
                "meta": {"currency_base": "Ethereum", "currency_quote": "US Dollar",
                         "exchange": "Coinbase Pro", "type": "Digital Currency"}},
    **{f"{coin}/USD": {"kind": "crypto", "base": base, "dec": 2, "volume": True,
                       "meta": {"currency_base": coin, "currency_quote": "US Dollar",
                                "exchange": "Coinbase Pro", "type": "Digital Currency"}}
       for coin, base in (("LTC", 9000), ("SOL", 12000), ("XRP", 60), ("ADA", 70),
                          ("DOGE", 20), ("DOT", 900), ("LINK", 1800), ("AVAX", 3900),
                          ("BCH", 30000), ("XLM", 30))},
    "XAU/USD": {"kind": "metals", "base": 206300, "dec": 2, "volume": False,
                "meta": {"currency_base": "Gold Spot", "currency_quote": "US Dollar",
                         "type": "Physical Currency"}},
    "XAG/USD": {"kind": "metals", "base": 2350, "dec": 2, "volume": False,
                "meta": {"currency_base": "Silver Spot", "currency_quote": "US Dollar",
                         "type": "Physical Currency"}},
    "EUR/USD": {"kind": "forex", "base": 108500, "dec": 5, "volume": False,
                "meta": {"currency_base": "Euro", "currency_quote": "US Dollar",
                         "type": "Physical Currency"}},
    "GBP/USD": {"kind": "forex", "base": 127000, "dec": 5, "volume": False,
                "meta": {"currency_base": "British Pound", "currency_quote": "US Dollar",
                         "type": "Physical Currency"}},
    "USD/CHF": {"kind": "forex", "base": 90000, "dec": 5, "volume": False,
                "meta": {"currency_base": "US Dollar", "currency_quote": "Swiss Franc",
                         "type": "Physical Currency"}},
}

MSG_401 = ("**apikey** parameter is incorrect or not specified. You can get your free API key "
           "instantly following this link: https://twelvedata.com/pricing. If you believe that "
           "everything is correct, you can contact us at https://twelvedata.com/contact/customer")
MSG_403 = ("/time_series is not available with your plan. Consider upgrading your API Key now "
           "at https://twelvedata.com/pricing")
MSG_404 = ("**symbol** or **figi** parameter is missing or invalid. Please provide a valid "
           "symbol according to API documentation: https://twelvedata.com/docs#reference-data")
MSG_NO_DATA = ("No data is available on the specified dates. Try setting different "
               "start/end dates.")
MSG_500 = ("We are experiencing an internal server error. Please try again later or contact "
           "us at https://twelvedata.com/contact/customer")


def msg_429(kind, used, limit):
    if kind == "day":
        return (f"You have run out of API credits for the day. {used} API credits were used, "
                f"with the current limit being {limit}. Wait for the next day or consider "
                "switching to a higher tier plan at https://twelvedata.com/pricing")
    return (f"You have run out of API credits for the current minute. {used} API credits were "
            f"used, with the current limit being {limit}. Wait for the next minute or consider "
            "switching to a higher tier plan at https://twelvedata.com/pricing")


def default_message(code, kind="minute"):
    if code == 400:
        return MSG_NO_DATA
    if code == 401:
        return MSG_401
    if code == 403:
        return MSG_403
    if code == 404:
        return MSG_404
    if code == 414:
        return "**symbol** parameter array is too long. Maximum is 120 symbols."
    if code == 429:
        return msg_429(kind, 801 if kind == "day" else 9, 800 if kind == "day" else 8)
    if code >= 500:
        return MSG_500
    return f"Error {code}"


class BadRequest(Exception):
    """A request the real API answers with a 400 error body."""


def parse_iso_utc(s):
    """"2024-03-15T12:00:00Z" (or +00:00, or without zone = UTC) -> Unix seconds."""
    s = s.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


# ---------------------------------------------------------------- calendar
#
# Written from the markets' published hours, on purpose without looking at how
# candlekeep computes them (src/market/calendar.c): a test compares the two, so
# they must not share a mistake. Forex and metals trade from Sunday 17:00 to
# Friday 17:00 New York time; metals also stop every day 17:00-18:00 New York.
#
# An instant's trading date is the New York wall-clock date seven hours later:
# Sunday 17:00 belongs to Monday, Friday 17:00 to Saturday. The market is open
# at an instant iff its trading date is a weekday and not a holiday, and, for
# metals, the New York hour is not 17. Crypto is open unless the UTC date is a
# holiday.
#
# Every change of state falls on a whole New York hour, and New York is a whole
# number of hours from UTC, so every change falls on a whole UTC hour: a
# period [a, b) sees the market open iff it is open at a or at one of the whole
# UTC hours inside it.

HOUR = 3600


def market_open_at(kind, t, holidays):
    """Is the market open at the instant t (Unix seconds)?"""
    if kind == "crypto":
        return datetime.fromtimestamp(t, UTC).date() not in holidays
    wall = datetime.fromtimestamp(t, NY)
    trading_date = (wall.replace(tzinfo=None) + timedelta(hours=7)).date()
    if trading_date.weekday() >= 5 or trading_date in holidays:
        return False
    return not (kind == "metals" and wall.hour == 17)


def market_open_within(kind, start, end, holidays):
    """Is the market open during any part of [start, end)?"""
    if market_open_at(kind, start, holidays):
        return True
    for t in range(start - start % HOUR + HOUR, end, HOUR):
        if market_open_at(kind, t, holidays):
            return True
    return False


# ---------------------------------------------------------------- intervals

class Interval:
    """Open times of one interval: floor, next and previous period starts."""

    def __init__(self, name):
        self.name = name
        self.daily = name in DAILY
        self.seconds = INTRADAY.get(name)

    def floor(self, t):
        if self.name == "1day":
            return t - t % DAY
        if self.name == "1week":
            return t - (t - W1_ORIGIN) % WEEK
        if self.name == "1month":
            d = datetime.fromtimestamp(t, UTC)
            return int(datetime(d.year, d.month, 1, tzinfo=UTC).timestamp())
        day = t - t % DAY
        return day + (t - day) // self.seconds * self.seconds

    def next(self, o):
        if self.name == "1day":
            return o + DAY
        if self.name == "1week":
            return o + WEEK
        if self.name == "1month":
            d = datetime.fromtimestamp(o, UTC)
            y, m = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
            return int(datetime(y, m, 1, tzinfo=UTC).timestamp())
        day = o - o % DAY
        return min(o + self.seconds, day + DAY)

    def prev(self, o):
        return self.floor(o - 1)


# ---------------------------------------------------------------- prices

def fmt_units(units, dec):
    scale = 10 ** dec
    return f"{units // scale}.{units % scale:0{dec}d}"


# Intervals of an hour and longer are built from the 1h candles of their period,
# as a venue builds its bars from one stream of trades: open of the first hour,
# close of the last, the highest high, the lowest low, the sum of the volumes,
# over the hours in which the market is open (up to now for a forming bar).
# So a client that derives 4h, 1day or 1week from the served 1h gets exactly
# the served bar. Shorter intervals are independent of each other and of 1h.
BUILT_FROM_HOURS = ("2h", "4h", "5h", "8h", "1day", "1week", "1month")


@functools.lru_cache(maxsize=1 << 18)
def hour_units(symbol, o):
    """(open, high, low, close, volume) of the 1h candle at o, in units of the last decimal."""
    base = SYMBOLS[symbol]["base"]
    h = hashlib.sha256(f"{symbol}|1h|{o}".encode()).digest()
    return units_from_hash(base, h, o)


def units_from_hash(base, h, o):
    n = [int.from_bytes(h[i:i + 4], "big") for i in range(0, 32, 4)]
    # A slow triangle wave over ~200 days of +-5%, then per-candle noise.
    phase = (o // DAY) % 200
    center = base + base * (phase if phase < 100 else 200 - phase) // 2000 - base // 40
    span = max(base // 400, 4)
    op = center + n[0] % span - span // 2
    cl = center + n[1] % span - span // 2
    hi = max(op, cl) + n[2] % (span // 2 + 1)
    lo = max(min(op, cl) - n[3] % (span // 2 + 1), 1)
    return op, hi, lo, cl, n[4] % 100000000 + 1000


def candle_values(symbol, interval, o, end=None, holidays=frozenset()):
    """Deterministic OHLC(V) strings for (symbol, interval, open time).

    `end` is where the period's hours stop (its end, or just after now for
    a forming bar); needed by the intervals built from hours.
    """
    info = SYMBOLS[symbol]
    units = None
    if interval in BUILT_FROM_HOURS and end is not None:
        always = info["kind"] == "crypto" and not holidays
        hours = [hour_units(symbol, t) for t in range(o, end, HOUR)
                 if always or market_open_within(info["kind"], t, t + HOUR, holidays)]
        if hours:
            units = (hours[0][0], max(x[1] for x in hours), min(x[2] for x in hours),
                     hours[-1][3], sum(x[4] for x in hours))
    if units is None:
        if interval == "1h":
            units = hour_units(symbol, o)
        else:
            h = hashlib.sha256(f"{symbol}|{interval}|{o}".encode()).digest()
            units = units_from_hash(info["base"], h, o)
    op, hi, lo, cl, vol = units
    row = {
        "open": fmt_units(op, info["dec"]),
        "high": fmt_units(hi, info["dec"]),
        "low": fmt_units(lo, info["dec"]),
        "close": fmt_units(cl, info["dec"]),
    }
    if info["volume"]:
        row["volume"] = fmt_units(vol, 3)
    return row


# ---------------------------------------------------------------- state

class State:
    def __init__(self, api_keys):
        self.api_keys = api_keys
        self.released = threading.Event()
        self.released.set()
        self.held = 0
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.control = {
            "now": None, "holes": [], "holidays": [], "overrides": [], "forming": True,
            "unaligned": False, "delay": 0, "limits": dict(FREE_TIER), "error_status": "200",
            "replay": [],
        }
        self.recorded = {}  # (symbol, interval) -> {open time: price} from "replay"
        self.errors = []
        self.raw = []
        self.requests = []
        self.minute_counts = {}
        self.day_counts = {}

    def now(self):
        n = self.control["now"]
        return parse_iso_utc(n) if n else int(time.time())

    def holidays(self):
        return frozenset(date.fromisoformat(d) for d in self.control["holidays"])

    def snapshot(self):
        c = dict(self.control)
        c["held"] = self.held
        c["errors_queued"] = self.errors
        c["raw_queued"] = self.raw
        now = self.now()
        c["credits_used"] = {"minute": self.minute_counts.get(now // 60, 0),
                             "day": self.day_counts.get(now // DAY, 0)}
        return c

    def apply(self, body):
        known = {"now", "holes", "holidays", "overrides", "errors", "raw", "forming",
                 "unaligned", "delay", "limits", "error_status", "replay", "hold"}
        unknown = set(body) - known
        if unknown:
            raise ValueError(f"unknown control keys: {sorted(unknown)}")
        if "now" in body and body["now"] is not None:
            parse_iso_utc(body["now"])
        for h in body.get("holes", []):
            parse_iso_utc(h["from"]), parse_iso_utc(h["to"])
        for d in body.get("holidays", []):
            date.fromisoformat(d)
        for o in body.get("overrides", []):
            parse_iso_utc(o["datetime"])
            if "field" not in o or ("value" not in o and not o.get("remove")):
                raise ValueError("an override needs field and value (or remove)")
        for e in body.get("errors", []):
            int(e["code"])
        if body.get("error_status", "200") not in ("200", "code"):
            raise ValueError('error_status is "200" or "code"')
        if "limits" in body:
            body = dict(body, limits=checked_limits(body["limits"]))
        recorded = {}
        for r in body.get("replay", []):
            if r["symbol"] not in SYMBOLS or r["interval"] not in INTRADAY:
                raise ValueError(f"replay: unknown symbol or intraday interval in {r}")
            recorded[(r["symbol"], r["interval"])] = read_history(r["file"])
        if "replay" in body:
            self.recorded = recorded
        for k in ("now", "holes", "holidays", "overrides", "forming", "unaligned", "delay",
                  "limits", "error_status", "replay"):
            if k in body:
                self.control[k] = body[k]
        if "hold" in body:
            if body["hold"]:
                self.released.clear()
            else:
                self.released.set()
        for e in body.get("errors", []):
            self.errors.append(dict(e, times=int(e.get("times", 1))))
        for r in body.get("raw", []):
            self.raw.append(dict(r, times=int(r.get("times", 1))))


def read_history(path):
    """A recorded history file: {open time: price string}."""
    rows = {}
    with open(path, encoding="utf-8") as f:
        next(f)
        for n, line in enumerate(f, 2):
            line = line.strip()
            if not line:
                continue
            when, price = line.split(",")
            t = parse_iso_utc(when)
            if t in rows:
                raise ValueError(f"{path}:{n}: {when} is there twice")
            float(price)
            rows[t] = price
    return rows


def checked_limits(limits):
    """A "limits" control value, with the free tier's for the keys it leaves out."""
    if limits == "unlimited":
        return limits
    if not isinstance(limits, dict):
        raise ValueError('limits is "unlimited" or an object')
    unknown = set(limits) - set(FREE_TIER)
    if unknown:
        raise ValueError(f"unknown limits keys: {sorted(unknown)}")
    out = dict(FREE_TIER, **limits)
    for k in ("per_minute", "per_day"):
        if out[k] is not None and (isinstance(out[k], bool) or not isinstance(out[k], int)
                                   or out[k] < 0):
            raise ValueError(f"limits.{k} is a count or null")
    int(out["http_status"])
    return out


def pop_queue(queue):
    if not queue:
        return None
    item = queue[0]
    item["times"] -= 1
    if item["times"] <= 0:
        queue.pop(0)
    return item


# ---------------------------------------------------------------- HTTP

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-twelvedata/1"
    state = None  # set by main()
    verbose = False

    def log_message(self, fmt, *args):
        if self.verbose:
            sys.stderr.write("fake_twelvedata: " + (fmt % args) + "\n")

    # -- plumbing

    def send(self, status, body, content_type="application/json; charset=utf-8",
             headers=None, cut=None):
        data = body if isinstance(body, bytes) else body.encode()
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
        self.send(status, json.dumps(obj), headers=headers)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    # -- dispatch

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/__requests":
            with self.state.lock:
                self.send_json(200, self.state.requests)
        elif url.path == "/__control":
            with self.state.lock:
                self.send_json(200, self.state.snapshot())
        elif url.path == "/time_series":
            self.time_series(url)
        else:
            self.send_json(404, {"code": 404, "message": f"path {url.path} not found",
                                 "status": "error"})

    def do_POST(self):
        url = urlsplit(self.path)
        raw = self.read_body()
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
            self.send_json(404, {"code": 404, "message": f"path {url.path} not found",
                                 "status": "error"})

    # -- /time_series

    def answered(self, code):
        entry = getattr(self, "entry", None)
        if entry is not None:
            with self.state.lock:
                entry["answer"] = code

    def error_body(self, code, message, http_status=None, headers=None):
        st = self.state
        self.answered(code)
        if http_status is None:
            http_status = code if st.control["error_status"] == "code" else 200
        self.send_json(http_status, {"code": code, "message": message, "status": "error"},
                       headers=headers)

    def time_series(self, url):
        st = self.state
        params = {}
        for k, v in parse_qsl(url.query, keep_blank_values=True):
            params[k.lower()] = v
        auth = self.headers.get("Authorization")
        with st.lock:
            logged = dict(params)
            if "apikey" in logged:
                logged["apikey"] = "***"
            entry = {"method": "GET", "path": url.path, "query": logged,
                     "authorization_present": auth is not None, "time": time.time(),
                     "answer": None}
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
        if not st.released.is_set():
            with st.lock:
                st.held += 1
            st.released.wait(300)
            with st.lock:
                st.held -= 1
        if raw:
            self.answered(int(raw.get("http_status", 200)))
            self.send(int(raw.get("http_status", 200)), raw.get("body", ""),
                      content_type=raw.get("content_type", "application/json; charset=utf-8"),
                      headers=raw.get("headers"), cut=raw.get("cut"))
            return
        if err:
            code = int(err["code"])
            msg = err.get("message") or default_message(code, err.get("kind", "minute"))
            self.error_body(code, msg, int(err.get("http_status", 200)), err.get("headers"))
            return

        key_ok = any((auth is not None and auth.strip() == f"apikey {k}") or
                     params.get("apikey") == k for k in st.api_keys)
        if not key_ok:
            self.error_body(401, MSG_401)
            return

        with st.lock:
            limited = self.count_credits()
        if limited:
            code, msg, status = limited
            self.error_body(code, msg, status)
            return
        try:
            body = self.build_series(params)
        except BadRequest as e:
            self.error_body(400, str(e))
            return
        except LookupError:
            self.error_body(404, MSG_404)
            return
        if body is None:
            self.error_body(400, MSG_NO_DATA)
            return
        self.answered(0)
        self.send_json(200, body, headers=self.credit_headers())

    def count_credits(self):
        """Count one credit; returns (code, message, http_status) when over a limit."""
        st = self.state
        now = st.now()
        minute, day = now // 60, now // DAY
        limits = st.control["limits"]
        if limits == "unlimited":
            limits = {}
        used_m = st.minute_counts.get(minute, 0)
        used_d = st.day_counts.get(day, 0)
        status = int(limits.get("http_status", 429))
        if limits.get("per_day") is not None and used_d >= int(limits["per_day"]):
            return 429, msg_429("day", used_d + 1, int(limits["per_day"])), status
        if limits.get("per_minute") is not None and used_m >= int(limits["per_minute"]):
            return 429, msg_429("minute", used_m + 1, int(limits["per_minute"])), status
        st.minute_counts[minute] = used_m + 1
        st.day_counts[day] = used_d + 1
        return None

    def credit_headers(self):
        st = self.state
        with st.lock:
            limits = st.control["limits"]
            limit = None if limits == "unlimited" else limits.get("per_minute")
            used = st.minute_counts.get(st.now() // 60, 0)
        headers = {"api-credits-used": used}
        if limit is not None:
            headers["api-credits-left"] = max(limit - used, 0)
        return headers

    def build_series(self, params):
        st = self.state
        symbol = params.get("symbol", "").strip().upper()
        if symbol not in SYMBOLS:
            raise LookupError(symbol)
        info = SYMBOLS[symbol]
        name = params.get("interval", "")
        if name not in INTRADAY and name not in DAILY:
            raise BadRequest(f"Invalid **interval** provided: {name}. Supported intervals: "
                             f"{INTERVAL_LIST}")
        iv = Interval(name)
        if params.get("format", "JSON").upper() != "JSON":
            raise BadRequest("**format** parameter is not supported by this fake: only JSON")
        order = params.get("order", "desc").lower()
        if order not in ("asc", "desc"):
            raise BadRequest(f"**order** parameter is incorrect: {order}. Supported: asc, desc")
        tzname = params.get("timezone", "Exchange")
        if tzname.lower() == "exchange":
            tz = NY if info["kind"] in ("metals", "forex") else UTC
        elif tzname.upper() == "UTC":
            tz = UTC
        else:
            try:
                tz = ZoneInfo(tzname)
            except (ZoneInfoNotFoundError, ValueError):
                raise BadRequest(f"Invalid **timezone** provided: {tzname}") from None

        start = self.parse_date(params, "start_date", tz)
        end = self.parse_date(params, "end_date", tz)
        has_dates = start is not None or end is not None
        size = params.get("outputsize")
        if size is None or size == "":
            outputsize = MAX_OUTPUTSIZE if has_dates else 30
        else:
            try:
                outputsize = int(size)
            except ValueError:
                outputsize = -1
            if not 1 <= outputsize <= MAX_OUTPUTSIZE:
                raise BadRequest("**outputsize** parameter is incorrect. It must be an integer "
                                 f"between 1 and {MAX_OUTPUTSIZE}")

        with st.lock:
            now = st.now()
            control = json.loads(json.dumps(st.control))
            holidays = st.holidays()
            recorded = st.recorded.get((symbol, name))
        upper = iv.floor(now)
        if not control["forming"] and iv.next(upper) > now:
            upper = iv.prev(upper)
        if end is not None:
            upper = min(upper, iv.floor(end - 1))
        holes = [(parse_iso_utc(h["from"]), parse_iso_utc(h["to"])) for h in control["holes"]
                 if h.get("symbol", symbol).upper() == symbol
                 and h.get("interval", name) == name]
        overrides = {}
        for o in control["overrides"]:
            if o.get("symbol", symbol).upper() == symbol and o.get("interval", name) == name:
                overrides.setdefault(parse_iso_utc(o["datetime"]), []).append(o)

        opens = []
        o, steps = upper, 0
        if recorded is not None:
            opens = sorted((t for t in recorded
                            if t <= upper and (start is None or t >= start)
                            and not any(a <= t < b for a, b in holes)),
                           reverse=True)[:outputsize]
            o = 0
        while len(opens) < outputsize and o > 0 and steps < 2000000:
            if start is not None and o < start:
                break
            steps += 1
            # A forming bar exists once trading has happened in it, not merely because
            # its period has begun (a daily bar on Sunday morning has no trades yet).
            if market_open_within(info["kind"], o, min(iv.next(o), now + 1), holidays) and \
                    not any(a <= o < b for a, b in holes):
                opens.append(o)
            o = iv.prev(o)
        if not opens:
            return None
        if order == "asc":
            opens.reverse()

        shift = 420 if control["unaligned"] else 0
        fmt = "%Y-%m-%d" if iv.daily else "%Y-%m-%d %H:%M:%S"
        values = []
        for t in opens:
            row = {"datetime": datetime.fromtimestamp(t + shift, tz).strftime(fmt)}
            if recorded is not None:
                row.update(dict.fromkeys(("open", "high", "low", "close"), recorded[t]))
            else:
                row.update(candle_values(symbol, name, t, min(iv.next(t), now + 1), holidays))
            for ov in overrides.get(t, []):
                if ov.get("remove"):
                    row.pop(ov["field"], None)
                else:
                    row[ov["field"]] = ov["value"]
            values.append(row)
        meta = {"symbol": symbol, "interval": name}
        meta.update(info["meta"])
        return {"meta": meta, "values": values, "status": "ok"}

    @staticmethod
    def parse_date(params, name, tz):
        s = params.get(name)
        if s is None or s == "":
            return None
        s = s.strip()
        for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
            try:
                dt = datetime.strptime(s, fmt)
            except ValueError:
                continue
            return int(dt.replace(tzinfo=tz).timestamp())
        raise BadRequest(f"**{name}** parameter is incorrect: {s}. Use YYYY-MM-DD or "
                         "YYYY-MM-DD HH:MM:SS")


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that gave up (a timeout test) is expected; anything else is reported.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


def watch_parent():
    parent = os.getppid()
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


def main():
    ap = argparse.ArgumentParser(description="Local fake of the Twelve Data time_series API.")
    ap.add_argument("--port-file", required=True, help="write the chosen port here")
    ap.add_argument("--api-key", action="append",
                    help="a key the fake accepts (several allowed; default test-key)")
    ap.add_argument("--verbose", action="store_true", help="log each request to stderr")
    ap.add_argument("--no-parent-watch", action="store_true",
                    help="keep running when the parent process exits")
    args = ap.parse_args()

    Handler.state = State(args.api_key or ["test-key"])
    Handler.verbose = args.verbose
    server = Server(("127.0.0.1", 0), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{server.server_address[1]}\n")
    os.replace(tmp, args.port_file)
    if not args.no_parent_watch:
        threading.Thread(target=watch_parent, daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    main()
