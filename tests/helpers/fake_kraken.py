#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A local fake of Kraken's public OHLC endpoint (GET /0/public/OHLC) for tests.

Python 3 standard library only. Listens on 127.0.0.1 only, on a port chosen
by the kernel, and serves until killed (SIGTERM/SIGINT) or until its parent
process goes away (see --no-parent-watch).

Usage:
    fake_kraken.py --port-file PATH [--verbose] [--no-parent-watch]

The chosen port is written to PATH (atomically) once the socket listens.

GET /0/public/OHLC   (as documented at docs.kraken.com, get-ohlc-data)
    Every answer is HTTP 200 with the envelope {"error": [...], "result": {...}};
    errors are strings in the "error" array ("EQuery:Unknown asset pair"), with
    no "result".
    - A request without a User-Agent header gets HTTP 403 with an HTML page
      (Kraken requires one on every request; its CDN refuses the rest).
    - pair: XBTUSD, ETHUSD, SOLUSD, XBTUSDT, ETHUSDT (or their internal names
      XXBTZUSD, XETHZUSD); anything else: "EQuery:Unknown asset pair". The
      result key is the internal name (XXBTZUSD for XBTUSD; newer pairs such
      as XBTUSDT and SOLUSD keep their own name).
    - interval: minutes, one of 1 5 15 30 60 240 1440 10080 21600 (default
      1); anything else: "EGeneral:Invalid arguments". Periods are aligned
      to the Unix epoch (10080 and 21600 too: Kraken does not document where
      its weeks start; this fake assumes the epoch, a Thursday).
    - since: Unix seconds (an integer); anything else: "EGeneral:Invalid
      arguments". Rows whose period ends after `since` are returned, so the
      period containing `since` comes back too, as the real API does.
    - Only the 720 most recent rows exist, the forming one included,
      whatever `since` says. The last row is always the period still forming
      (open <= now < open + period), whatever `since` says.
    - Rows: [time, open, high, low, close, vwap, volume, count]: time and
      count integers, the rest decimal strings; oldest first. Prices are
      deterministic functions of (pair, interval, open time) with low <=
      open, close <= high.
    - "last": the open time of the newest committed row (an integer).

Throttling
    As Kraken counts public calls per IP and pair: each call adds one to the
    pair's counter, which decays by `decay` a second (real time); a call that
    finds it at `max` or above is answered {"error":["EGeneral:Too many
    requests"]} with HTTP 200 (not 429) and counts nothing. Defaults: max 15,
    decay 1 (Kraken: "1 per second ... would remain within the rate limits").

Control API (JSON bodies; every key optional; later calls replace the keys
they name and keep the others):

    POST /__control
    {
      "now": "2024-03-15T12:00:00Z",   # the fake's clock (ISO 8601, UTC); null = real time
      "holes": [{"pair": "XBTUSD", "interval": 60,                 # both optional = all
                 "from": "2024-03-14T10:00:00Z", "to": "2024-03-14T11:00:00Z"}],
                                        # periods with open time in [from, to) have no row
                                        # (no trades)
      "overrides": [{"pair": "XBTUSD", "interval": 60, "time": "2024-03-15T10:00:00Z",
                     "field": "close", "value": "NaN"}],
                                        # field: time open high low close vwap volume count;
                                        # value: any JSON value, put in as is;
                                        # "remove": true deletes the field (a short row)
      "errors": [{"error": "EGeneral:Too many requests", "times": 1,
                  "http_status": 200, "headers": {}, "delay": 0}],
                                        # queue: the next `times` requests are answered
                                        # {"error": [error]} (a list is taken as the array)
      "raw": [{"http_status": 502, "body": "<html>...</html>",
               "content_type": "text/html", "times": 1, "headers": {},
               "cut": null, "delay": 0}],
                                        # queue of raw answers; "cut": N sends only the
                                        # first N bytes but announces the full length
      "throttle": {"max": 15, "decay": 1},   # null: no throttling
      "delay": 0.5                     # seconds to wait before each answer
    }
    Answer: {"status": "ok", "control": <the current control state>}.
    The queues ("raw" first, then "errors") answer before anything else is
    looked at, the User-Agent included. They are appended to, not replaced.

    GET  /__control    the current control state
    POST /__reset      clear the control state, the queues, the counters and
                       the request log
    GET  /__requests   [{"method", "path", "query": {name: value},
                         "user_agent": str or null, "time": float,
                         "answer": str}] for every OHLC request, oldest first;
                       "answer" is "ok", the first error string sent, or
                       "HTTP <status>" for a raw or refused answer.
"""

import hashlib
import json
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlsplit

import fakevenue

UTC = timezone.utc
MAX_ROWS = 720
INTERVALS = (1, 5, 15, 30, 60, 240, 1440, 10080, 21600)
FIELDS = ("time", "open", "high", "low", "close", "vwap", "volume", "count")
DEFAULT_THROTTLE = {"max": 15, "decay": 1}
REMOVED = object()

# altname -> (internal name, base price in tenths of a dollar)
PAIRS = {
    "XBTUSD": ("XXBTZUSD", 420000),
    "ETHUSD": ("XETHZUSD", 25000),
    "SOLUSD": ("SOLUSD", 1200),
    "XBTUSDT": ("XBTUSDT", 420100),
    "ETHUSDT": ("ETHUSDT", 25010),
}
INTERNAL = {v[0]: k for k, v in PAIRS.items()}


def parse_iso_utc(s):
    s = s.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


def tenths(v):
    return f"{v // 10}.{v % 10}"


def row_for(pair, minutes, o):
    """The deterministic row of (pair, interval, open time)."""
    base = PAIRS[pair][1]
    h = hashlib.sha256(f"{pair}|{minutes}|{o}".encode()).digest()
    n = [int.from_bytes(h[i:i + 4], "big") for i in range(0, 32, 4)]
    span = max(base // 300, 6)
    op = base + n[0] % span - span // 2
    cl = base + n[1] % span - span // 2
    hi = max(op, cl) + n[2] % (span // 2 + 1)
    lo = max(min(op, cl) - n[3] % (span // 2 + 1), 1)
    vw = (op + cl) // 2
    vol = n[4] % 10000000000 + 1000
    return [o, tenths(op), tenths(hi), tenths(lo), tenths(cl), tenths(vw),
            f"{vol // 100000000}.{vol % 100000000:08d}", n[5] % 900 + 1]


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.control = {"now": None, "holes": [], "overrides": [], "delay": 0,
                        "throttle": dict(DEFAULT_THROTTLE)}
        self.errors = []
        self.raw = []
        self.requests = []
        self.counters = {}  # pair -> (value, real time of the value)

    def now(self):
        if self.control["now"]:
            return parse_iso_utc(self.control["now"])
        return int(time.time())

    def apply(self, body):
        unknown = set(body) - {"now", "holes", "overrides", "errors", "raw", "throttle",
                               "delay"}
        if unknown:
            raise ValueError(f"unknown control keys: {sorted(unknown)}")
        for k in ("now", "holes", "overrides", "throttle", "delay"):
            if k in body:
                self.control[k] = body[k]
        if self.control["now"]:
            parse_iso_utc(self.control["now"])
        for item in body.get("errors", []):
            item = dict(item)
            item["times"] = int(item.get("times", 1))
            self.errors.append(item)
        for item in body.get("raw", []):
            item = dict(item)
            item["times"] = int(item.get("times", 1))
            self.raw.append(item)

    def snapshot(self):
        return dict(self.control, errors=self.errors, raw=self.raw)

    def throttled(self, pair):
        """Count one call on the pair's counter; True when it is over the limit."""
        t = self.control.get("throttle")
        if not t:
            return False
        real = time.time()
        value, at = self.counters.get(pair, (0.0, real))
        value = max(0.0, value - (real - at) * float(t.get("decay", 1)))
        if value >= float(t.get("max", 15)):
            self.counters[pair] = (value, real)
            return True
        self.counters[pair] = (value + 1, real)
        return False


def pop_queue(queue):
    if not queue:
        return None
    item = queue[0]
    item["times"] -= 1
    if item["times"] <= 0:
        queue.pop(0)
    return item


class Invalid(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-kraken/1"
    state = None
    verbose = False

    def log_message(self, fmt, *args):
        if self.verbose:
            sys.stderr.write("fake_kraken: " + (fmt % args) + "\n")

    def send(self, status, body, content_type="application/json", headers=None, cut=None):
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
        self.send(status, json.dumps(obj, separators=(",", ":")), headers=headers)

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/__requests":
            with self.state.lock:
                self.send_json(200, self.state.requests)
        elif url.path == "/__control":
            with self.state.lock:
                self.send_json(200, self.state.snapshot())
        elif url.path == "/0/public/OHLC":
            self.ohlc(url)
        else:
            self.send_json(404, {"error": ["EGeneral:Unknown method"]})

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
            self.send_json(404, {"error": ["EGeneral:Unknown method"]})

    def answered(self, what):
        with self.state.lock:
            self.entry["answer"] = what

    def error(self, msg, status=200, headers=None):
        self.answered(msg if isinstance(msg, str) else msg[0])
        self.send_json(status, {"error": [msg] if isinstance(msg, str) else msg},
                       headers=headers)

    def ohlc(self, url):
        st = self.state
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        ua = self.headers.get("User-Agent")
        with st.lock:
            self.entry = {"method": "GET", "path": url.path, "query": params,
                          "user_agent": ua, "time": time.time(), "answer": None}
            st.requests.append(self.entry)
            raw = pop_queue(st.raw)
            err = None if raw else pop_queue(st.errors)
            delay = float(st.control.get("delay") or 0)
        item = raw or err
        if item and item.get("delay") is not None:
            delay = float(item["delay"])
        if delay > 0:
            time.sleep(delay)
        if raw:
            status = int(raw.get("http_status", 200))
            self.answered(f"HTTP {status}")
            self.send(status, raw.get("body", ""),
                      content_type=raw.get("content_type", "application/json"),
                      headers=raw.get("headers"), cut=raw.get("cut"))
            return
        if err:
            self.error(err["error"], int(err.get("http_status", 200)), err.get("headers"))
            return
        if not ua:
            self.answered("HTTP 403")
            self.send(403, "<html><body><h1>403 Forbidden</h1></body></html>",
                      content_type="text/html")
            return
        try:
            result = self.build(params)
        except LookupError:
            self.error("EQuery:Unknown asset pair")
            return
        except Invalid:
            self.error("EGeneral:Invalid arguments")
            return
        if result is None:
            self.error("EGeneral:Too many requests")
            return
        self.answered("ok")
        self.send_json(200, {"error": [], "result": result})

    def build(self, params):
        st = self.state
        pair = params.get("pair", "").upper()
        pair = INTERNAL.get(pair, pair)
        if pair not in PAIRS:
            raise LookupError(pair)
        try:
            minutes = int(params.get("interval", "1"))
            since = int(params["since"]) if "since" in params else None
        except ValueError:
            raise Invalid() from None
        if minutes not in INTERVALS:
            raise Invalid()
        with st.lock:
            if st.throttled(pair):
                return None
            now = st.now()
            control = json.loads(json.dumps(st.control))
        p = minutes * 60
        current = now - now % p
        holes = [(parse_iso_utc(h["from"]), parse_iso_utc(h["to"])) for h in control["holes"]
                 if h.get("pair", pair).upper() in (pair, PAIRS[pair][0])
                 and int(h.get("interval", minutes)) == minutes]
        overrides = {}
        for o in control["overrides"]:
            if o.get("pair", pair).upper() in (pair, PAIRS[pair][0]) and \
                    int(o.get("interval", minutes)) == minutes:
                overrides.setdefault(parse_iso_utc(o["time"]), []).append(o)
        rows = []
        for o in range(current - (MAX_ROWS - 1) * p, current + 1, p):
            # The forming row is always there; a finished period without trades is not.
            if o != current and any(a <= o < b for a, b in holes):
                continue
            if since is not None and o + p <= since and o != current:
                continue
            row = row_for(pair, minutes, o)
            for ov in overrides.get(o, []):
                i = FIELDS.index(ov["field"])
                row[i] = REMOVED if ov.get("remove") else ov["value"]
            rows.append([v for v in row if v is not REMOVED])
        return {PAIRS[pair][0]: rows, "last": current - p}



if __name__ == "__main__":
    fakevenue.serve(Handler, State(), "Local fake of Kraken's OHLC endpoint.")
