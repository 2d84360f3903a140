#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A local fake of a dead man's switch (healthchecks.io style ping URLs) for tests.

Python 3 standard library only. Listens on 127.0.0.1 only, on a port chosen
by the kernel, and serves until killed (SIGTERM/SIGINT), or until its parent
process goes away (see --no-parent-watch).

Usage:
    fake_ping.py --port-file PATH [--no-parent-watch]

The chosen port is written to PATH (atomically: PATH.tmp, then renamed)
after the socket is listening.

Pings: GET or HEAD or POST on any path not starting with /__ is a ping. It
is recorded and answered as healthchecks.io does, 200 with the body "OK",
unless the control says otherwise.

Control API:
    POST /__control {"status": 500}   answer pings with this status from now
                                      on (body "error"); 200 restores
    GET  /__requests                  every ping, oldest first: {"method",
                                      "path", "query" (the raw query string),
                                      "time" (Unix, float), "status" (sent)}
    POST /__reset                     status 200, no pings recorded
"""

import argparse
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.status = 200
        self.pings = []


class Handler(BaseHTTPRequestHandler):
    state = None
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send(self, status, body, content_type="text/plain; charset=utf-8"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def ping(self):
        url = urlsplit(self.path)
        self.read_body()
        with self.state.lock:
            status = self.state.status
            self.state.pings.append({"method": self.command, "path": url.path,
                                     "query": url.query, "time": time.time(),
                                     "status": status})
        self.send(status, "OK" if status == 200 else "error")

    def do_HEAD(self):
        self.ping()

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/__requests":
            with self.state.lock:
                body = json.dumps(self.state.pings)
            self.send(200, body, "application/json")
        elif url.path.startswith("/__"):
            self.send(404, "not found")
        else:
            self.ping()

    def do_POST(self):
        url = urlsplit(self.path)
        if url.path == "/__control":
            try:
                body = json.loads(self.read_body() or b"{}")
                status = int(body.get("status", 200))
                if not 100 <= status <= 599:
                    raise ValueError(f"status {status} out of range")
            except (ValueError, TypeError, AttributeError) as e:
                self.send(400, json.dumps({"ok": False, "error": str(e)}), "application/json")
                return
            with self.state.lock:
                self.state.status = status
            self.send(200, json.dumps({"ok": True, "status": status}), "application/json")
        elif url.path == "/__reset":
            self.read_body()
            with self.state.lock:
                self.state.status = 200
                self.state.pings = []
            self.send(200, json.dumps({"ok": True}), "application/json")
        elif url.path.startswith("/__"):
            self.send(404, "not found")
        else:
            self.ping()


def watch_parent():
    parent = os.getppid()
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


def main():
    ap = argparse.ArgumentParser(description="Local fake of a heartbeat ping endpoint.")
    ap.add_argument("--port-file", required=True, help="write the chosen port here")
    ap.add_argument("--no-parent-watch", action="store_true",
                    help="keep running when the parent process exits")
    args = ap.parse_args()

    Handler.state = State()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
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
