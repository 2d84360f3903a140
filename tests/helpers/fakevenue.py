# SPDX-License-Identifier: MIT
"""What the fakes of the crypto venues share (fake_bybit.py, fake_okx.py).

Python 3 standard library only. A fake listens on 127.0.0.1 only, on a port
chosen by the kernel, writes it to --port-file (atomically, once listening)
and serves until killed or until its parent process goes away.

Made-up candles. Every market is open around the clock; a candle exists for
every period unless a "hole" removes it. Prices are deterministic functions
of (symbol, bar, open time): decimal strings with the symbol's decimals, low
<= open, close <= high, a volume with 4 decimals. The still-forming candle
(open <= now < open + period) exists once its period has begun.

Clock. "now" (control) is the fake's clock for candles (ISO 8601, UTC; null
= real time). Rate limits and bans run on the real clock, as they do at the
venue, whatever "now" says.

Control API (JSON bodies; keys left out keep their values):

    POST /__control
    {
      "now": "2024-03-15T12:00:00Z",
      "holes": [{"symbol": "BTCUSDT", "bar": "60",               # both optional
                 "from": "2024-03-14T10:00:00Z", "to": "2024-03-14T11:00:00Z"}],
                                  # candles opening in [from, to) do not exist
      "overrides": [{"symbol": "BTCUSDT", "bar": "60", "time": "2024-03-15T10:00:00Z",
                     "field": 4, "value": "NaN"}],
                                  # the row's field (an index into the venue's row)
                                  # is replaced by `value` as is (any JSON value);
                                  # "remove": true cuts the row after field-1
      "forming": true,            # include the forming candle (default true)
      "delay": 0,                 # seconds before each data answer
      "limits": {...},            # the venue's rate limits (see the venue's fake)
      "errors": [...],            # queue of the venue's error bodies (ditto)
      "raw": [{"http_status": 502, "body": "<html>...</html>", "content_type": "text/html",
               "headers": {}, "times": 1, "cut": null, "delay": 0}]
                                  # queue of raw answers; "cut": N sends the first N
                                  # bytes but announces the full length, then closes
    }
    plus the venue's own keys. Answer: {"status": "ok", "control": <state>}.
    "errors" and "raw" are appended to their queues; the queues answer data
    requests first ("raw", then "errors"), before any other check.

    GET  /__control    the control state
    POST /__reset      back to the defaults; queues, counters, bans and the
                       request log cleared
    GET  /__requests   [{"method", "path", "query": {name: value}, "time",
                         "answer"}] for every data request, oldest first:
                       "time" is the real Unix time it arrived, "answer" the
                       HTTP status sent (null while pending)
"""

import argparse
import collections
import hashlib
import json
import os
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

UTC = timezone.utc
DAY = 86400
WEEK = 7 * DAY
MONDAY = 4 * DAY  # 1970-01-05, the first Monday after the epoch

# Base price (in units of the last decimal) and decimals of each made-up market.
MARKETS = {
    "BTC/USDT": (6700000, 2), "ETH/USDT": (350000, 2), "SOL/USDT": (15000, 2),
    "XRP/USDT": (6200, 4), "DOGE/USDT": (16000, 5), "BTC/USDC": (6700100, 2),
    "ETH/BTC": (52000, 5),
}


def parse_iso_utc(s):
    """"2024-03-15T12:00:00Z" (or +00:00, or without zone = UTC) -> Unix seconds."""
    s = s.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


class Period:
    """A fixed-length bar whose periods start at `origin` + k * seconds."""

    def __init__(self, seconds, origin=0):
        self.seconds = seconds
        self.origin = origin

    def floor(self, t):
        return t - (t - self.origin) % self.seconds


def fmt_units(units, dec):
    scale = 10 ** dec
    return f"{units // scale}.{units % scale:0{dec}d}"


def candle(market, bar, o):
    """(open, high, low, close, volume, quote volume) strings for one candle."""
    base, dec = MARKETS[market]
    h = hashlib.sha256(f"{market}|{bar}|{o}".encode()).digest()
    n = [int.from_bytes(h[i:i + 4], "big") for i in range(0, 32, 4)]
    phase = (o // DAY) % 200
    center = base + base * (phase if phase < 100 else 200 - phase) // 2000 - base // 40
    span = max(base // 400, 4)
    op = center + n[0] % span - span // 2
    cl = center + n[1] % span - span // 2
    hi = max(op, cl) + n[2] % (span // 2 + 1)
    lo = max(min(op, cl) - n[3] % (span // 2 + 1), 1)
    vol = n[4] % 100000000 + 1000
    quote = vol * cl // 10 ** 4  # volume (4 decimals) x close, in units of the last decimal
    return (fmt_units(op, dec), fmt_units(hi, dec), fmt_units(lo, dec), fmt_units(cl, dec),
            fmt_units(vol, 4), fmt_units(quote, dec))


def pop_queue(queue):
    if not queue:
        return None
    item = queue[0]
    item["times"] -= 1
    if item["times"] <= 0:
        queue.pop(0)
    return item


class Window:
    """A sliding-window request counter on the real clock."""

    def __init__(self):
        self.times = collections.deque()

    def count(self, window_s, now):
        while self.times and self.times[0] <= now - window_s:
            self.times.popleft()
        return len(self.times)

    def add(self, now):
        self.times.append(now)


class State:
    """The control state of a fake; a venue's fake adds its own keys in `extra`."""

    extra = {}
    # Control keys that act once and are not kept in the state.
    actions = set()

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.control = {"now": None, "holes": [], "overrides": [], "forming": True, "delay": 0}
        self.control.update(json.loads(json.dumps(self.extra)))
        self.errors = []
        self.raw = []
        self.requests = []
        self.windows = collections.defaultdict(Window)
        self.ban_until = 0.0

    def now(self):
        n = self.control["now"]
        return parse_iso_utc(n) if n else int(time.time())

    def snapshot(self):
        c = dict(self.control)
        c["errors_queued"] = self.errors
        c["raw_queued"] = self.raw
        c["banned_for"] = max(0.0, self.ban_until - time.time())
        return c

    def check(self, body):
        """Raise ValueError for a bad venue-specific control value."""

    def apply(self, body):
        known = {"now", "holes", "overrides", "forming", "delay", "errors", "raw"}
        known |= set(self.extra) | self.actions
        unknown = set(body) - known
        if unknown:
            raise ValueError(f"unknown control keys: {sorted(unknown)}")
        if body.get("now") is not None:
            parse_iso_utc(body["now"])
        for h in body.get("holes", []):
            parse_iso_utc(h["from"]), parse_iso_utc(h["to"])
        for o in body.get("overrides", []):
            parse_iso_utc(o["time"])
            if not isinstance(o.get("field"), int) or ("value" not in o and not o.get("remove")):
                raise ValueError("an override needs a field index and a value (or remove)")
        self.check(body)
        for k in body:
            if k not in ("errors", "raw"):
                self.control[k] = body[k]
        for e in body.get("errors", []):
            self.errors.append(dict(e, times=int(e.get("times", 1))))
        for r in body.get("raw", []):
            self.raw.append(dict(r, times=int(r.get("times", 1))))

    def opens(self, symbol, bar, period, lo, hi, limit):
        """Open times in [lo, hi] that exist, newest first, at most `limit`."""
        now = self.now()
        top = period.floor(now)
        if not self.control["forming"]:
            top -= period.seconds
        hi = min(hi, top)
        holes = [(parse_iso_utc(h["from"]), parse_iso_utc(h["to"])) for h in self.control["holes"]
                 if h.get("symbol", symbol) == symbol and h.get("bar", bar) == bar]
        out = []
        o = period.floor(hi)
        while o >= lo and len(out) < limit and o > 0:
            if not any(a <= o < b for a, b in holes):
                out.append(o)
            o -= period.seconds
        return out

    def apply_overrides(self, symbol, bar, o, row):
        for ov in self.control["overrides"]:
            if ov.get("symbol", symbol) != symbol or ov.get("bar", bar) != bar:
                continue
            if parse_iso_utc(ov["time"]) != o:
                continue
            if ov.get("remove"):
                del row[ov["field"]:]
            else:
                row[ov["field"]] = ov["value"]
        return row


class Handler(BaseHTTPRequestHandler):
    """The plumbing; a venue's handler implements data(path, params) for its paths."""

    protocol_version = "HTTP/1.1"
    state = None
    verbose = False
    data_paths = ()

    def log_message(self, fmt, *args):
        if self.verbose:
            sys.stderr.write(f"{self.server_version}: " + (fmt % args) + "\n")

    def send(self, status, body, content_type="application/json", headers=None, cut=None):
        data = body if isinstance(body, bytes) else body.encode()
        entry = getattr(self, "entry", None)
        if entry is not None:
            with self.state.lock:
                entry["answer"] = status
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
        elif url.path in self.data_paths:
            self.serve_data(url)
        else:
            self.not_found(url.path)

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
            self.not_found(url.path)

    def not_found(self, path):
        self.send_json(404, {"code": 404, "msg": "Not Found", "path": path})

    def serve_data(self, url):
        st = self.state
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        with st.lock:
            self.entry = {"method": "GET", "path": url.path, "query": params,
                          "time": time.time(), "answer": None}
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
            self.send(int(raw.get("http_status", 200)), raw.get("body", ""),
                      content_type=raw.get("content_type", "application/json"),
                      headers=raw.get("headers"), cut=raw.get("cut"))
            return
        self.data(url.path, params, err)

    def data(self, path, params, err):
        raise NotImplementedError


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


def watch_parent():
    parent = os.getppid()
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


def serve(handler, state, description):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--port-file", required=True, help="write the chosen port here")
    ap.add_argument("--verbose", action="store_true", help="log each request to stderr")
    ap.add_argument("--no-parent-watch", action="store_true",
                    help="keep running when the parent process exits")
    args = ap.parse_args()

    handler.state = state
    handler.verbose = args.verbose
    server = Server(("127.0.0.1", 0), handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{server.server_address[1]}\n")
    os.replace(tmp, args.port_file)
    if not args.no_parent_watch:
        threading.Thread(target=watch_parent, daemon=True).start()
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
