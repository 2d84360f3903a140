#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A local fake of Coinbase Exchange's candles endpoint for tests.

Python 3 standard library only. Listens on 127.0.0.1 only, on a port chosen
by the kernel, and serves until killed (SIGTERM/SIGINT) or until its parent
process goes away (see --no-parent-watch).

Usage:
    fake_coinbase.py --port-file PATH [--verbose] [--no-parent-watch]

The chosen port is written to PATH (atomically) once the socket listens.

GET /products/{product_id}/candles?granularity=&start=&end=
    (as documented at docs.cdp.coinbase.com, get-product-candles)
    - product_id: BTC-USD, ETH-USD, SOL-USD, BTC-USDT; anything else gets
      404 {"message":"NotFound"}.
    - granularity: seconds, one of 60 300 900 3600 21600 86400; anything
      else (or none) gets 400 {"message":"Unsupported granularity"}.
    - start, end: ISO 8601 ("2024-03-13T10:45:24Z"; no zone = UTC). When
      either is missing both are ignored and the 300 buckets up to now are
      answered. A value that does not parse gets 400 {"message":"Invalid
      start"} / {"message":"Invalid end"}; end before start gets 400
      {"message":"start must be before end"}.
    - A window of more than 300 buckets ((end - start) / granularity > 300)
      is rejected, not truncated: 400 {"message":"granularity too small for
      the requested time range. Count of aggregations requested exceeds
      300"}.
    - Rows: every bucket whose open time lies in [start floored to the
      granularity, end] and not after now, so the bucket containing `start`
      comes back too ("may precede your declared start") and the bucket
      still forming is included. Buckets without trades (see "holes") are
      absent, not zero-filled. Newest first.
    - A row is [time, low, high, open, close, volume] of JSON numbers,
      printed as exact decimals with no trailing zeros (73241.5, 73455);
      prices are deterministic functions of (product, granularity, time).

Rate limit
    Public calls draw from a token bucket per IP: 10 a second, bursts up to
    15, filled lazily in real time. A call that finds it empty gets 429
    {"message":"Public rate limit exceeded"} (no Retry-After: Coinbase
    documents none).

Control API (JSON bodies; every key optional; later calls replace the keys
they name and keep the others):

    POST /__control
    {
      "now": "2024-03-15T12:00:00Z",   # the fake's clock; null = real time
      "holes": [{"product": "BTC-USD", "granularity": 3600,       # both optional
                 "from": "2024-03-14T10:00:00Z", "to": "2024-03-14T11:00:00Z"}],
                                        # buckets with open time in [from, to) have no row
      "overrides": [{"product": "BTC-USD", "granularity": 3600,
                     "time": "2024-03-15T10:00:00Z", "field": "close", "raw": "NaN"}],
                                        # field: time low high open close volume; "raw" is
                                        # put into the JSON text as is ("NaN", "1e999",
                                        # "\"73000.5\"", "null"); "remove": true drops it
      "errors": [{"status": 429, "message": "Public rate limit exceeded", "times": 1,
                  "headers": {"Retry-After": "7"}, "delay": 0}],
                                        # queue: the next `times` requests get
                                        # {"message": message} with that status
      "raw": [{"http_status": 502, "body": "<html>...</html>",
               "content_type": "text/html", "times": 1, "headers": {},
               "cut": null, "delay": 0}],
      "bucket": {"rate": 10, "burst": 15},   # null: no rate limit
      "delay": 0.5
    }
    Answer: {"status": "ok", "control": <the current control state>}.
    The queues ("raw" first, then "errors") answer before anything else.

    GET  /__control    the current control state
    POST /__reset      clear the control state, the queues, the bucket and the log
    GET  /__requests   [{"method", "path", "product", "query": {name: value},
                         "buckets": int or null, "time": float, "answer": int}]
                       for every candles request, oldest first: "buckets" is
                       (end - start) / granularity, "answer" the HTTP status.
"""

import hashlib
import json
import re
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, unquote, urlsplit

import fakevenue

UTC = timezone.utc
MAX_BUCKETS = 300
GRANULARITIES = (60, 300, 900, 3600, 21600, 86400)
FIELDS = ("time", "low", "high", "open", "close", "volume")
DEFAULT_BUCKET = {"rate": 10, "burst": 15}
MSG_TOO_MANY = ("granularity too small for the requested time range. Count of aggregations "
                "requested exceeds 300")

# product -> base price in cents
PRODUCTS = {"BTC-USD": 7324150, "ETH-USD": 400012, "SOL-USD": 14567, "BTC-USDT": 7325000}
PATH_RE = re.compile(r"^/products/([^/]+)/candles$")


def parse_iso_utc(s):
    s = s.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


def number(units, dec):
    """An exact decimal without trailing zeros, as a JSON number's text."""
    s = f"{units // 10 ** dec}.{units % 10 ** dec:0{dec}d}".rstrip("0").rstrip(".")
    return s


def row_for(product, gran, t):
    base = PRODUCTS[product]
    h = hashlib.sha256(f"{product}|{gran}|{t}".encode()).digest()
    n = [int.from_bytes(h[i:i + 4], "big") for i in range(0, 32, 4)]
    span = max(base // 300, 8)
    op = base + n[0] % span - span // 2
    cl = base + n[1] % span - span // 2
    hi = max(op, cl) + n[2] % (span // 2 + 1)
    lo = max(min(op, cl) - n[3] % (span // 2 + 1), 1)
    return [str(t), number(lo, 2), number(hi, 2), number(op, 2), number(cl, 2),
            number(n[4] % 10000000000 + 1, 8)]


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.control = {"now": None, "holes": [], "overrides": [], "delay": 0,
                        "bucket": dict(DEFAULT_BUCKET)}
        self.errors = []
        self.raw = []
        self.requests = []
        self.tokens = None  # (tokens, real time)

    def now(self):
        if self.control["now"]:
            return parse_iso_utc(self.control["now"])
        return int(time.time())

    def apply(self, body):
        unknown = set(body) - {"now", "holes", "overrides", "errors", "raw", "bucket", "delay"}
        if unknown:
            raise ValueError(f"unknown control keys: {sorted(unknown)}")
        for k in ("now", "holes", "overrides", "bucket", "delay"):
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

    def take_token(self):
        b = self.control.get("bucket")
        if not b:
            return True
        real = time.time()
        rate, burst = float(b.get("rate", 10)), float(b.get("burst", 15))
        tokens, at = self.tokens if self.tokens else (burst, real)
        tokens = min(burst, tokens + (real - at) * rate)
        if tokens < 1:
            self.tokens = (tokens, real)
            return False
        self.tokens = (tokens - 1, real)
        return True


def pop_queue(queue):
    if not queue:
        return None
    item = queue[0]
    item["times"] -= 1
    if item["times"] <= 0:
        queue.pop(0)
    return item


class Refused(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-coinbase/1"
    state = None
    verbose = False

    def log_message(self, fmt, *args):
        if self.verbose:
            sys.stderr.write("fake_coinbase: " + (fmt % args) + "\n")

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
        self.send(status, json.dumps(obj, separators=(",", ":")), headers=headers)

    def do_GET(self):
        url = urlsplit(self.path)
        m = PATH_RE.match(url.path)
        if url.path == "/__requests":
            with self.state.lock:
                self.send_json(200, self.state.requests)
        elif url.path == "/__control":
            with self.state.lock:
                self.send_json(200, self.state.snapshot())
        elif m:
            self.candles(url, unquote(m.group(1)))
        else:
            self.send_json(404, {"message": "NotFound"})

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
            self.send_json(404, {"message": "NotFound"})

    def answered(self, status):
        with self.state.lock:
            self.entry["answer"] = status

    def candles(self, url, product):
        st = self.state
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        with st.lock:
            self.entry = {"method": "GET", "path": url.path, "product": product,
                          "query": params, "buckets": None, "time": time.time(),
                          "answer": None}
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
            self.answered(status)
            self.send(status, raw.get("body", ""),
                      content_type=raw.get("content_type", "application/json; charset=utf-8"),
                      headers=raw.get("headers"), cut=raw.get("cut"))
            return
        if err:
            status = int(err.get("status", 500))
            self.answered(status)
            self.send_json(status, {"message": err.get("message", "Internal server error")},
                           headers=err.get("headers"))
            return
        try:
            body = self.build(product, params)
        except Refused as e:
            self.answered(e.status)
            self.send_json(e.status, {"message": e.message})
            return
        self.answered(200)
        self.send(200, body)

    def build(self, product, params):
        st = self.state
        with st.lock:
            if not st.take_token():
                raise Refused(429, "Public rate limit exceeded")
            now = st.now()
            control = json.loads(json.dumps(st.control))
        if product not in PRODUCTS:
            raise Refused(404, "NotFound")
        try:
            gran = int(params.get("granularity", ""))
        except ValueError:
            gran = 0
        if gran not in GRANULARITIES:
            raise Refused(400, "Unsupported granularity")
        start = end = None
        if params.get("start") and params.get("end"):
            for name in ("start", "end"):
                try:
                    v = parse_iso_utc(params[name])
                except ValueError:
                    raise Refused(400, f"Invalid {name}") from None
                if name == "start":
                    start = v
                else:
                    end = v
            if end < start:
                raise Refused(400, "start must be before end")
            buckets = (end - start) // gran
            with st.lock:
                self.entry["buckets"] = buckets
            if buckets > MAX_BUCKETS:
                raise Refused(400, MSG_TOO_MANY)
        else:
            end = now
            start = now - now % gran - (MAX_BUCKETS - 1) * gran
        holes = [(parse_iso_utc(h["from"]), parse_iso_utc(h["to"])) for h in control["holes"]
                 if h.get("product", product) == product
                 and int(h.get("granularity", gran)) == gran]
        overrides = {}
        for o in control["overrides"]:
            if o.get("product", product) == product and int(o.get("granularity", gran)) == gran:
                overrides.setdefault(parse_iso_utc(o["time"]), []).append(o)
        rows = []
        t = start - start % gran
        while t <= min(end, now):
            if not any(a <= t < b for a, b in holes):
                row = row_for(product, gran, t)
                for ov in overrides.get(t, []):
                    i = FIELDS.index(ov["field"])
                    row[i] = None if ov.get("remove") else str(ov["raw"])
                rows.append("[" + ",".join(v for v in row if v is not None) + "]")
            t += gran
        rows.reverse()
        return "[" + ",".join(rows) + "]"



if __name__ == "__main__":
    fakevenue.serve(Handler, State(), "Local fake of Coinbase Exchange's candles.")
