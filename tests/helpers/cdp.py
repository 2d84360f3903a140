#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Drive headless Chromium over the DevTools protocol, for browser tests.

Python 3 standard library only: the WebSocket the protocol runs on is the
small client below (RFC 6455: handshake, masked text frames out, text and
continuation frames in, ping answered), enough for one DevTools session.

    from cdp import Browser
    with Browser(profile_dir) as b:
        b.goto("http://127.0.0.1:8080/")
        b.wait("document.querySelector('#x') !== null", timeout=10)
        value = b.eval("document.title")
        b.screenshot("page.png")
        b.console_errors()   # console.error calls, uncaught exceptions, log errors
        b.requests()         # every URL the page asked for

Chromium is started with a fresh profile, no sandbox (tests run as root in
containers), and a host resolver that resolves nothing but 127.0.0.1, so a
page that tried to reach the internet would fail loudly (and show in
requests()). The browser is killed when the `with` block ends.
"""
import base64
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import threading
import time
import urllib.request


def find_chromium():
    """The Chromium binary on PATH, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class WebSocket:
    """A minimal WebSocket client: text messages only."""

    def __init__(self, url, timeout=30):
        m = re.match(r"ws://([^/:]+):(\d+)(/.*)", url)
        if not m:
            raise ValueError(f"not a ws:// URL: {url}")
        self.sock = socket.create_connection((m[1], int(m[2])), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {m[3]} HTTP/1.1\r\nHost: {m[1]}:{m[2]}\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        self.buf = bytearray()
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        end = self.buf.index(b"\r\n\r\n")
        status = bytes(self.buf[:end]).split(b"\r\n")[0]
        del self.buf[:end + 4]
        if b" 101 " not in status:
            raise ConnectionError(f"WebSocket handshake refused: {status!r}")

    def _fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise EOFError("the browser closed the DevTools connection")
        self.buf += chunk

    def _read(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def _send_frame(self, opcode, data):
        head = bytearray([0x80 | opcode])
        n = len(data)
        if n < 126:
            head.append(0x80 | n)
        elif n < 1 << 16:
            head.append(0x80 | 126)
            head += struct.pack(">H", n)
        else:
            head.append(0x80 | 127)
            head += struct.pack(">Q", n)
        mask = os.urandom(4)
        head += mask
        masked = bytes(b ^ mask[i & 3] for i, b in enumerate(data))
        self.sock.sendall(bytes(head) + masked)

    def send(self, text):
        self._send_frame(0x1, text.encode())

    def recv(self):
        message = bytearray()
        while True:
            b0, b1 = self._read(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            payload = self._read(n)
            if mask:
                payload = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
            if opcode == 0x8:
                raise EOFError("the browser closed the DevTools connection")
            if opcode == 0x9:
                self._send_frame(0xA, payload)
                continue
            if opcode == 0xA:
                continue
            message += payload
            if b0 & 0x80:
                return message.decode()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Browser:
    """One headless Chromium with one page, driven over DevTools."""

    def __init__(self, profile_dir, width=1280, height=1700):
        self.profile_dir = profile_dir
        self.size = (width, height)
        self.proc = None
        self.ws = None
        self.next_id = 0
        self.events = []

    def __enter__(self):
        exe = find_chromium()
        if not exe:
            raise FileNotFoundError("chromium is not installed")
        args = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--disable-sync",
                "--disable-background-networking", "--disable-component-update",
                "--disable-dev-shm-usage", "--remote-debugging-port=0",
                f"--user-data-dir={self.profile_dir}",
                f"--window-size={self.size[0]},{self.size[1]}",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "about:blank"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        port = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if m:
                port = int(m[1])
                break
        if port is None:
            self.__exit__(None, None, None)
            raise RuntimeError("chromium did not start its DevTools listener")
        # Drain the rest of stderr so the browser never blocks on a full pipe.
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            targets = json.load(r)
        page = next(t for t in targets if t.get("type") == "page")
        self.ws = WebSocket(page["webSocketDebuggerUrl"])
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.call(f"{domain}.enable")
        return self

    def __exit__(self, *exc):
        if self.ws:
            self.ws.close()
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        return False

    def call(self, method, **params):
        """Send one command; its result (events seen meanwhile are kept)."""
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def eval(self, expr):
        """The value of JavaScript `expr` (awaited if a promise); raises on an exception."""
        r = self.call("Runtime.evaluate", expression=expr, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            text = d.get("exception", {}).get("description") or d.get("text")
            raise RuntimeError(f"evaluating {expr[:80]!r}: {text}")
        return r.get("result", {}).get("value")

    def wait(self, expr, timeout=10.0):
        """Poll `expr` until it is truthy; its value, or None when `timeout` seconds pass."""
        deadline = time.monotonic() + timeout
        while True:
            v = self.eval(expr)
            if v:
                return v
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)

    def goto(self, url, timeout=15.0):
        """Navigate and wait for the load event."""
        self.call("Page.navigate", url=url)
        self.wait("document.readyState === 'complete' && location.href !== 'about:blank'", timeout)

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def console_errors(self, ignore=()):
        """Console errors, uncaught exceptions and error log entries, as text; those
        containing one of the strings in `ignore` left out."""
        out = []
        for e in self.events:
            m, p = e["method"], e.get("params", {})
            text = None
            if m == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                text = "exception: " + (d.get("exception", {}).get("description") or d.get("text", ""))
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                text = "console.error: " + " ".join(str(a.get("value", a.get("description", "")))
                                                    for a in p.get("args", []))
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                entry = p["entry"]
                text = f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}"
            if text and not any(s in text for s in ignore):
                out.append(text)
        return out

    def requests(self):
        """Every URL the page requested, in order."""
        return [e["params"]["request"]["url"] for e in self.events
                if e["method"] == "Network.requestWillBeSent"]
