#!/usr/bin/env python3
"""Hostile slow HTTP clients (python3 standard library only).

Keeps COUNT connections to 127.0.0.1:PORT, spread round-robin over the
given loopback source addresses (all of 127.0.0.0/8 is loopback on Linux).
On each it sends a request line, then one more header line every INTERVAL
seconds, never finishing the request. A connection the server closes is
opened again in the next wave of reconnections (every WAVE seconds), so
the pressure stays on as an attacker's would.

Runs until SIGTERM; then writes a JSON summary to --stats:
  opened   connections established
  closed   established connections the server closed
  got_408  closed connections that had received a 408 status line
  failed   connection attempts that failed
"""
import argparse
import errno
import json
import selectors
import signal
import socket
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--addrs", default="127.0.0.1", help="comma-separated source addresses")
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--wave", type=float, default=0.5, help="seconds between reconnection waves")
    ap.add_argument("--stats", required=True)
    args = ap.parse_args()
    addrs = args.addrs.split(",")
    stats = {"opened": 0, "closed": 0, "got_408": 0, "failed": 0}
    sel = selectors.DefaultSelector()
    conns = {}  # socket -> state
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    seq = [0]

    def open_one():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.bind((addrs[seq[0] % len(addrs)], 0))
            seq[0] += 1
            rc = s.connect_ex(("127.0.0.1", args.port))
        except OSError:
            rc = -1
        if rc not in (0, errno.EINPROGRESS):
            s.close()
            stats["failed"] += 1
            return
        conns[s] = {"up": False, "next": 0.0, "n": 0, "buf": b"", "t0": time.monotonic()}
        sel.register(s, selectors.EVENT_WRITE)

    def drop(s):
        c = conns.pop(s)
        sel.unregister(s)
        s.close()
        if not c["up"]:
            stats["failed"] += 1
            return
        stats["closed"] += 1
        if c["buf"].startswith(b"HTTP/1.1 408"):
            stats["got_408"] += 1

    next_wave = 0.0
    while not stop:
        now = time.monotonic()
        if len(conns) < args.count and now >= next_wave:
            next_wave = now + args.wave
            for _ in range(args.count - len(conns)):
                open_one()
        for s, c in list(conns.items()):
            if c["up"] and c["next"] <= now:
                c["n"] += 1
                c["next"] = now + args.interval
                try:
                    s.send(b"X-Slow-%d: %d\r\n" % (c["n"], c["n"]))
                except OSError:
                    pass  # the server closed it; the read says so
            elif not c["up"] and now - c["t0"] > 5:
                drop(s)  # a connection attempt left unanswered
        for key, ev in sel.select(timeout=0.05):
            s = key.fileobj
            c = conns[s]
            if not c["up"]:
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    drop(s)
                    continue
                c["up"] = True
                c["next"] = now + args.interval
                stats["opened"] += 1
                try:
                    s.send(b"GET /health HTTP/1.1\r\nHost: flood\r\n")
                except OSError:
                    pass
                sel.modify(s, selectors.EVENT_READ)
                continue
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if data:
                c["buf"] += data
            else:
                drop(s)
    for s in list(conns):
        s.close()
    with open(args.stats, "w") as f:
        json.dump(stats, f)


if __name__ == "__main__":
    main()
