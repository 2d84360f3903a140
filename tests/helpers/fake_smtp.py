#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A small SMTP server for the tests (Python standard library only).

It speaks EHLO/HELO, optional STARTTLS (with --tls-cert/--tls-key), AUTH
PLAIN and AUTH LOGIN (with --user/--password), MAIL, RCPT, DATA, RSET,
NOOP and QUIT on 127.0.0.1, and keeps every message it accepted. It
exits when its parent process goes away.

A control endpoint (HTTP on another port, its URL in --control-file):

    GET  /__messages   the accepted messages, JSON: [{mail_from, rcpt_to,
                       data, tls, auth_user, time}], data as received
                       (dot-stuffing undone, CRLF kept)
    GET  /__sessions   every session: [{tls, auth_user, commands, replies}]
                       (AUTH arguments are not kept)
    POST /__control    {"stage": "mail"|"rcpt"|"data"|"end"|"auth",
                        "reply": "451 4.3.0 try later", "times": N}
                       answers `reply` at that stage for the next N
                       transactions (0: from now on); several rules stack,
                       the oldest first
    POST /__reset      forget messages, sessions and rules
"""
import argparse
import base64
import json
import os
import socket
import socketserver
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
MESSAGES = []
SESSIONS = []
RULES = []  # dicts: stage, reply, left (None: forever)
ARGS = None


def rule_reply(stage):
    """The reply a rule sets for `stage`, consuming one use; None when none applies."""
    with LOCK:
        for r in RULES:
            if r["stage"] == stage and (r["left"] is None or r["left"] > 0):
                if r["left"] is not None:
                    r["left"] -= 1
                return r["reply"]
    return None


class SMTPHandler(socketserver.StreamRequestHandler):
    timeout = 30

    def setup(self):
        super().setup()
        self.tls = False
        self.auth_user = None
        self.session = {"tls": False, "auth_user": None, "commands": [], "replies": []}
        with LOCK:
            SESSIONS.append(self.session)

    def reply(self, line):
        self.session["replies"].append(line)
        self.wfile.write((line + "\r\n").encode())
        self.wfile.flush()

    def readline(self):
        line = self.rfile.readline(65536)
        if not line:
            return None
        return line.decode("utf-8", "replace").rstrip("\r\n")

    def ehlo_lines(self):
        lines = ["localhost fake smtp", "8BITMIME", "SIZE 10485760"]
        if ARGS.tls_cert and not self.tls:
            lines.append("STARTTLS")
        if ARGS.user:
            lines.append("AUTH PLAIN LOGIN")
        return lines

    def starttls(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(ARGS.tls_cert, ARGS.tls_key)
        self.wfile.flush()
        conn = ctx.wrap_socket(self.request, server_side=True)
        self.request = conn
        self.connection = conn
        self.rfile = conn.makefile("rb")
        self.wfile = conn.makefile("wb")
        self.tls = True
        self.session["tls"] = True

    def check_auth(self, user, password):
        if user == ARGS.user and password == ARGS.password:
            self.auth_user = user
            self.session["auth_user"] = user
            self.reply("235 2.7.0 authenticated")
        else:
            self.reply("535 5.7.8 authentication failed")

    def auth(self, arg):
        parts = arg.split(" ", 1)
        mech = parts[0].upper()
        forced = rule_reply("auth")
        if forced:
            self.reply(forced)
            return
        if mech == "PLAIN":
            blob = parts[1] if len(parts) > 1 else None
            if blob is None:
                self.reply("334 ")
                blob = self.readline() or ""
            try:
                _, user, password = base64.b64decode(blob).decode().split("\0")
            except Exception:
                self.reply("501 5.5.2 bad PLAIN")
                return
            self.check_auth(user, password)
        elif mech == "LOGIN":
            if len(parts) > 1:
                user = base64.b64decode(parts[1]).decode()
            else:
                self.reply("334 VXNlcm5hbWU6")
                user = base64.b64decode(self.readline() or "").decode()
            self.reply("334 UGFzc3dvcmQ6")
            password = base64.b64decode(self.readline() or "").decode()
            self.check_auth(user, password)
        else:
            self.reply("504 5.5.4 mechanism not supported")

    def handle(self):
        self.reply("220 localhost fake smtp ready")
        mail_from = None
        rcpts = []
        while True:
            line = self.readline()
            if line is None:
                return
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            self.session["commands"].append(verb if verb == "AUTH" else line)
            if verb == "EHLO":
                lines = self.ehlo_lines()
                for l in lines[:-1]:
                    self.reply("250-" + l)
                self.reply("250 " + lines[-1])
            elif verb == "HELO":
                self.reply("250 localhost")
            elif verb == "STARTTLS" and ARGS.tls_cert and not self.tls:
                self.reply("220 2.0.0 ready to start TLS")
                try:
                    self.starttls()
                except (ssl.SSLError, OSError) as e:
                    print("fake smtp: TLS handshake failed: %s" % e, file=sys.stderr)
                    return
                mail_from, rcpts = None, []
            elif verb == "AUTH" and ARGS.user:
                self.auth(arg)
            elif verb == "MAIL":
                if ARGS.user and not self.auth_user:
                    self.reply("530 5.7.0 authentication required")
                    continue
                forced = rule_reply("mail")
                if forced:
                    self.reply(forced)
                    continue
                mail_from = arg.split(":", 1)[1].strip() if ":" in arg else arg
                rcpts = []
                self.reply("250 2.1.0 ok")
            elif verb == "RCPT":
                if mail_from is None:
                    self.reply("503 5.5.1 MAIL first")
                    continue
                forced = rule_reply("rcpt")
                if forced:
                    self.reply(forced)
                    continue
                rcpts.append(arg.split(":", 1)[1].strip() if ":" in arg else arg)
                self.reply("250 2.1.5 ok")
            elif verb == "DATA":
                if not rcpts:
                    self.reply("503 5.5.1 RCPT first")
                    continue
                forced = rule_reply("data")
                if forced:
                    self.reply(forced)
                    continue
                self.reply("354 end with <CRLF>.<CRLF>")
                data = []
                while True:
                    raw = self.rfile.readline(1 << 20)
                    if not raw:
                        return
                    if raw in (b".\r\n", b".\n"):
                        break
                    if raw.startswith(b".."):
                        raw = raw[1:]
                    data.append(raw)
                body = b"".join(data).decode("utf-8", "replace")
                forced = rule_reply("end")
                if forced:
                    self.reply(forced)
                else:
                    with LOCK:
                        MESSAGES.append({
                            "mail_from": mail_from,
                            "rcpt_to": rcpts,
                            "data": body,
                            "tls": self.tls,
                            "auth_user": self.auth_user,
                            "time": time.time(),
                        })
                    self.reply("250 2.0.0 queued")
                mail_from, rcpts = None, []
            elif verb == "RSET":
                mail_from, rcpts = None, []
                self.reply("250 2.0.0 ok")
            elif verb == "NOOP":
                self.reply("250 2.0.0 ok")
            elif verb == "QUIT":
                self.reply("221 2.0.0 bye")
                return
            else:
                self.reply("502 5.5.2 command not recognised")


class SMTPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class Control(BaseHTTPRequestHandler):
    def log_message(self, fmt, *a):
        pass

    def send_json(self, obj, code=200):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with LOCK:
            if self.path == "/__messages":
                self.send_json(MESSAGES)
            elif self.path == "/__sessions":
                self.send_json(SESSIONS)
            else:
                self.send_json({"error": "not found"}, 404)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if self.path == "/__reset":
            with LOCK:
                MESSAGES.clear()
                SESSIONS.clear()
                RULES.clear()
            self.send_json({"ok": True})
        elif self.path == "/__control":
            req = json.loads(raw or b"{}")
            times = int(req.get("times", 0))
            with LOCK:
                RULES.append({"stage": req["stage"], "reply": req["reply"],
                              "left": times if times > 0 else None})
            self.send_json({"ok": True})
        else:
            self.send_json({"error": "not found"}, 404)


def watch_parent(ppid):
    """Exit when the process that started us is gone: a crashed test leaves nothing behind."""
    while os.getppid() == ppid:
        time.sleep(1)
    os._exit(0)


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--control-file", required=True, help="where to write the control URL")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--user")
    ap.add_argument("--password")
    ARGS = ap.parse_args()

    smtp = SMTPServer(("127.0.0.1", 0), SMTPHandler)
    ctl = ThreadingHTTPServer(("127.0.0.1", 0), Control)
    threading.Thread(target=ctl.serve_forever, daemon=True).start()
    write_atomic(ARGS.control_file, "http://127.0.0.1:%d" % ctl.server_address[1])
    write_atomic(ARGS.port_file, str(smtp.server_address[1]))
    threading.Thread(target=watch_parent, args=(os.getppid(),), daemon=True).start()
    try:
        smtp.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
