#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A signal receiver for candlekeep's webhooks, Python standard library only.

candlekeep POSTs every new signal to each [webhook.NAME] url as a Standard
Webhooks message (https://www.standardwebhooks.com/):

    webhook-id:        the delivery's id, the same on every attempt
    webhook-timestamp: Unix seconds of this attempt
    webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">

This receiver checks the signature with the shared secret (constant-time
compare), refuses timestamps more than --tolerance seconds from its own
clock, processes each webhook-id once (a repeat is answered 200 and logged
as a duplicate, so the sender stops retrying), and appends each accepted
signal to --out as one JSON line.

    python3 examples/receiver.py --secret whsec_... --port 9000 --out signals.jsonl

Use verify() in your own receiver; the rest is a demonstration server.
Testing flags: --fail-first N answers 503 to the first N attempts of each
webhook-id, --always-fail STATUS answers STATUS to everything, --delay S
waits S seconds before answering, --port-file writes the bound port.
"""

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE = 5 * 60
MAX_BODY = 1 << 20


class VerifyError(Exception):
    """The message is not authentic (or too old/new); answer 4xx and drop it."""


def secret_key(secret):
    """Key bytes of a secret: whsec_<base64> is decoded; anything else is used as is."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret[len("whsec_"):], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("the text after whsec_ is not valid base64") from None
    return secret.encode()


def sign(key, msg_id, timestamp, body):
    """The v1 signature of body (bytes) as candlekeep computes it."""
    content = msg_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def verify(key, headers, body, now=None, tolerance=TOLERANCE):
    """Check one request; returns (webhook_id, timestamp) or raises VerifyError.

    `headers` is any mapping with case-insensitive get() (http.server's
    message) or a dict with lower-case names; `body` the raw bytes as
    received: never parse and re-serialise the JSON before checking.
    """
    msg_id = headers.get("webhook-id")
    ts_text = headers.get("webhook-timestamp")
    sig_header = headers.get("webhook-signature")
    if not msg_id or not ts_text or not sig_header:
        raise VerifyError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(ts_text)
    except ValueError:
        raise VerifyError("webhook-timestamp is not an integer") from None
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        raise VerifyError("webhook-timestamp is %ds from now" % int(now - timestamp))
    expected = sign(key, msg_id, timestamp, body)
    # Several signatures may be sent (secret rotation): one valid v1 is enough.
    ok = False
    for candidate in sig_header.split(" "):
        if candidate.startswith("v1,") and hmac.compare_digest(candidate, expected):
            ok = True
    if not ok:
        raise VerifyError("no valid v1 signature")
    return msg_id, timestamp


class Receiver:
    def __init__(self, args):
        self.key = secret_key(args.secret)
        self.args = args
        self.lock = threading.Lock()
        self.seen = set()  # webhook-ids processed
        self.tries = {}  # webhook-id -> requests seen
        if args.out:
            open(args.out, "a").close()

    def log(self, **record):
        record["at"] = round(time.time(), 3)
        line = json.dumps(record, sort_keys=True)
        print(line, file=sys.stderr, flush=True)
        if self.args.log:
            with self.lock, open(self.args.log, "a") as fp:
                fp.write(line + "\n")

    def handle(self, headers, body):
        """(status, reply) for one POST."""
        if self.args.delay:
            time.sleep(self.args.delay)
        try:
            msg_id, timestamp = verify(self.key, headers, body, tolerance=self.args.tolerance)
        except VerifyError as e:
            self.log(result="invalid", reason=str(e), webhook_id=headers.get("webhook-id"))
            return 401, {"error": str(e)}
        with self.lock:
            n = self.tries[msg_id] = self.tries.get(msg_id, 0) + 1
        if self.args.always_fail:
            self.log(result="failed", webhook_id=msg_id, attempt=n, status=self.args.always_fail)
            return self.args.always_fail, {"error": "configured to fail"}
        if n <= self.args.fail_first:
            self.log(result="failed", webhook_id=msg_id, attempt=n, status=503)
            return 503, {"error": "failing the first %d attempts" % self.args.fail_first}
        try:
            signal = json.loads(body)
        except ValueError:
            self.log(result="invalid", reason="body is not JSON", webhook_id=msg_id)
            return 400, {"error": "body is not JSON"}
        with self.lock:
            duplicate = msg_id in self.seen
            if not duplicate:
                self.seen.add(msg_id)
                if self.args.out:
                    with open(self.args.out, "a") as fp:
                        fp.write(json.dumps({"webhook_id": msg_id, "timestamp": timestamp,
                                             "signal": signal}, sort_keys=True) + "\n")
        # A repeat is a success for the sender: it was processed before.
        self.log(result="duplicate" if duplicate else "accepted", webhook_id=msg_id, attempt=n,
                 signal=signal.get("id") if isinstance(signal, dict) else None)
        return 200, {"ok": True, "duplicate": duplicate}


def make_handler(receiver):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def reply(self, status, obj):
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                length = -1
            if length < 0 or length > MAX_BODY:
                self.reply(413, {"error": "body too large"})
                return
            body = self.rfile.read(length)
            status, obj = receiver.handle(self.headers, body)
            try:
                self.reply(status, obj)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the sender gave up waiting; it will try again

        def do_GET(self):
            self.reply(405, {"error": "POST signals here"})

        def log_message(self, fmt, *args):
            pass

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--secret", required=True, help="the [webhook.NAME] secret (whsec_... or text)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0: any free port")
    ap.add_argument("--port-file", help="write the bound port here once listening")
    ap.add_argument("--out", help="append accepted signals here, one JSON line each")
    ap.add_argument("--log", help="append one JSON line per request and its result here")
    ap.add_argument("--tolerance", type=int, default=TOLERANCE, help="seconds (default 300)")
    ap.add_argument("--fail-first", type=int, default=0, metavar="N",
                    help="answer 503 to the first N attempts of each webhook-id")
    ap.add_argument("--always-fail", type=int, default=0, metavar="STATUS",
                    help="answer STATUS to every authentic request")
    ap.add_argument("--delay", type=float, default=0.0, help="seconds to wait before answering")
    args = ap.parse_args()
    try:
        receiver = Receiver(args)
    except ValueError as e:
        ap.error("--secret: %s" % e)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(receiver))
    server.daemon_threads = True
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as fp:
            fp.write("%d\n" % server.server_address[1])
        os.replace(tmp, args.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
