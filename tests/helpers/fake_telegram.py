#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A local fake of the Telegram Bot API (sendMessage, sendDocument) for
tests, with a small webhook receiver for the alert webhook channel.

Python 3 standard library only. Listens on 127.0.0.1 only, on a port chosen
by the kernel, and serves until killed (SIGTERM/SIGINT), or until its parent
process goes away (so a crashed test leaves nothing behind; see
--no-parent-watch).

Usage:
    fake_telegram.py --port-file PATH [--token TOKEN] [--verbose] [--no-parent-watch]

The chosen port is written to PATH (atomically: written to PATH.tmp, then
renamed), after the socket is listening. TOKEN defaults to
"123456:TEST-token".

The Bot API: /bot<TOKEN>/<method>
    Every request is checked strictly, in this order, and the first problem
    gets the answer Telegram gives, {"ok": false, "error_code": N,
    "description": "..."} with HTTP status N:
    - a path that is not /bot<something>/<method>: 404 "Not Found";
    - a token other than TOKEN: 401 "Unauthorized";
    - a method other than sendMessage, sendDocument or getUpdates (exactly):
      404 "Not Found" (sendDocument and getUpdates are described after
      sendMessage);
    - parameters come from the query string and from a body in JSON
      (application/json, an object) or a form
      (application/x-www-form-urlencoded); another content type, or a body
      that does not parse: 400 "Bad Request: ...";
    - chat_id missing or empty: 400 "Bad Request: chat_id is empty"; not an
      integer and not an @username: 400 "Bad Request: chat not found";
    - text missing or empty: 400 "Bad Request: message text is empty";
    - parse_mode other than "HTML" (candlekeep always sends HTML, so a
      missing parse_mode is refused too): 400 "Bad Request: unsupported
      parse_mode";
    - link_preview_options, when present, not a LinkPreviewOptions object
      (in a form: the object serialised as JSON) with only its fields
      (is_disabled, url, prefer_small_media, prefer_large_media,
      show_above_text) of their types: 400 "Bad Request: can't parse link
      preview options JSON object"; disable_web_page_preview, which Bot
      API 7.0 replaced with link_preview_options but still takes, when
      present, not a boolean (or "true" / "false" in a form): 400 "Bad
      Request: ...". Both are accepted; the record says which was sent;
    - a chat the bot may not post to (control "chats"): what Telegram
      answers, 403 "Forbidden: bot was kicked from the group chat"
      ("supergroup chat" for a -100... id, "channel chat" for an
      @channel), 403 "Forbidden: bot was blocked by the user", 403
      "Forbidden: user is deactivated", 403 "Forbidden: bot is not a
      member of the channel chat" ("supergroup chat" for a -100... id) or
      400 "Bad Request: chat not found";
    - text that does not parse as Telegram HTML: 400 "Bad Request: can't
      parse entities: <reason>", the reason worded as Telegram words it:
        Unsupported start tag "x" at byte offset N
        Unclosed start tag at byte offset N
        Unclosed end tag at byte offset N
        Unexpected end tag at byte offset N
        Unmatched end tag at byte offset N, expected "</b>", found "</i>"
        Can't find end tag corresponding to start tag "b"
      The tags allowed: b strong i em u ins s strike del a code pre
      tg-spoiler span (only with class="tg-spoiler") blockquote; names are
      case-insensitive; attributes are name=value with the value in double
      or single quotes or bare. The entities allowed: &lt; &gt; &amp;
      &quot; and numeric ones (&#NNN; &#xHHH;) of valid code points.
      Stricter than Telegram, to catch escaping bugs: a bare '&' that does
      not start one of those entities is refused ("Unsupported entity at
      byte offset N"; Telegram would show it as text), and so are tags
      nested inside code or pre (other than <pre><code>), an <a> inside an
      <a> and a blockquote inside a blockquote ("Tag "x" can't be nested
      in "y" at byte offset N"; Telegram would drop the inner entity).
    - the message's length: the text with the tags stripped and the
      entities decoded, as Telegram measures it, counted in UTF-16 code
      units (what Telegram counts); over 4096: 400 "Bad Request: message is
      too long". Whitespace only: 400 "Bad Request: message text is empty".
      The raw length (tags and entities included) is not limited.
    - flood control, as Telegram's FAQ states it: about one message a
      second in a chat, and twenty a minute in a group (a negative chat id
      or an @channel). A message that comes less than 0.75 s (1 s less
      the tolerance) after the last one the chat accepted, or that would
      be a group's 21st accepted in 59.75 s, gets 429 {"ok": false,
      "error_code": 429, "description": "Too Many Requests: retry after
      N", "parameters": {"retry_after": N}}, N the whole seconds until it
      would be taken. Only accepted messages count. Times are the fake's
      clock ("now" below).
    An accepted message answers {"ok": true, "result": {"message_id", "from",
    "chat", "date", "text"}} and is recorded.

    sendDocument, as the Bot API documents it: a file is uploaded only as
    multipart/form-data (a form or JSON body can name a file_id or an
    HTTP URL, which this fake does not know: 400 "Bad Request: wrong file
    identifier/HTTP URL specified"). In this order:
    - a body that is not multipart/form-data, JSON or a form, or a
      multipart body that does not parse: 400 "Bad Request: ...";
    - chat_id as for sendMessage;
    - document missing: 400 "Bad Request: there is no document in the
      request"; a plain field rather than a file: 400 "Bad Request: wrong
      file identifier/HTTP URL specified"; an empty file: 400 "Bad
      Request: file must be non-empty"; over 50 MB: 413 "Request Entity
      Too Large";
    - parse_mode, when present, other than "HTML": 400 "Bad Request:
      unsupported parse_mode"; with HTML the caption must parse as for
      sendMessage ("can't parse entities");
    - caption (optional) over 1024 UTF-16 code units once parsed: 400
      "Bad Request: message caption is too long";
    - the chat's state and flood control as for sendMessage (a document
      is a message of the chat).
    getUpdates, long polling as the Bot API documents it: parameters offset,
    limit (1-100, default 100), timeout (seconds, default 0) and
    allowed_updates, from the query, a form or JSON. An update whose
    update_id is below offset is confirmed and forgotten for good; the
    answer is {"ok": true, "result": [updates with update_id >= offset, at
    most limit]}, at once when there are some, else when one arrives or
    after timeout seconds (an empty list). A second getUpdates while one
    waits: the waiting one answers 409 "Conflict: terminated by other
    getUpdates request" (what Telegram does). Updates come from POST
    /__updates.

    An accepted document answers {"ok": true, "result": {"message_id",
    "from", "chat", "date", "document": {"file_name", "mime_type",
    "file_id", "file_unique_id", "file_size"}, "caption"}} and is recorded.

POST /hook (any path under /hook)
    A webhook receiver: records the headers Content-Type and User-Agent and
    the body (parsed when it is JSON) and answers 200 {"ok": true}. A body
    that is not a JSON object answers 400.

Control API (JSON bodies; every key optional):

    POST /__control
    {
      "fail": [{"target": "telegram",  # or "hook"; default "telegram"
                "kind": "error",       # "error": {"ok":false,...} with HTTP
                                       #   error_code (telegram) or a plain
                                       #   status (hook);
                                       # "429": error 429 with retry_after;
                                       # "html": an nginx-style HTML page;
                                       # "hang": wait `seconds`, then close the
                                       #   connection without an answer;
                                       # "drop": close at once without an answer
                "error_code": 502,     # "error"/"html": the status (default 500)
                "description": "...",  # "error": default per code
                "parameters": {...},   # "error", telegram: the answer's "parameters"
                                       #   (e.g. {"migrate_to_chat_id": -100123})
                "retry_after": 5,      # "429" (default 5); also a "429" hook answer
                "seconds": 3,          # "hang"
                "headers": {"Retry-After": "7"},
                "after": 0,            # let this many requests pass first
                "times": 1}],          # how many requests it answers
                                       # appended to the queue of its target
      "down": true,                    # close every Bot API and hook connection
                                       # without an answer until "down": false
      "chats": {"-100123": "kicked"},  # chats the bot may not post to, by chat_id
                                       # as sent: "kicked", "blocked",
                                       # "deactivated", "not_member", "not_found",
                                       # or "ok" (any chat not named is "ok");
                                       # merged into the chats already named
      "now": 1700000000.5,             # the fake's clock in Unix seconds (a number);
                                       # null (the default) = real time
      "limits": {"chat_interval": 1.0, "group_per_minute": 20, "tolerance": 0.25}
                                       # flood control (default as shown); a key
                                       # left out keeps its default; "unlimited"
                                       # turns flood control off, for a test that
                                       # says it needs that
    }
    Answer: {"ok": true, "control": <queues, down, chats, now and limits>}.

    GET  /__messages   accepted messages, oldest first: {"message_id",
                       "chat_id" (as sent), "text" (as sent), "plain" (parsed
                       text), "parse_mode", "link_preview_options" (the object,
                       or null when not sent), "disable_web_page_preview" (the
                       boolean, or null when not sent), "preview_parameter"
                       ("link_preview_options", "disable_web_page_preview",
                       "both" or null), "time" (the fake's clock)}
    GET  /__documents  accepted documents, oldest first: {"message_id",
                       "chat_id" (as sent), "file_name", "mime_type" (of the
                       part), "size", "content" (the file as UTF-8 text,
                       undecodable bytes replaced), "caption" (as sent, or
                       null), "parse_mode" (or null), "time"}
    GET  /__requests   every Bot API request, oldest first: {"method",
                       "path" (the token shown as "<token>" when right and
                       "<wrong>" otherwise; it is never echoed), "content_type",
                       "time", "status", "reason" (the description of a
                       refusal or a failure mode, "" when accepted)}
    GET  /__hooks      every /hook request: {"path", "content_type",
                       "user_agent", "body" (JSON or text), "time", "status"}
    POST /__updates    {"chat_id": -100123, "text": "/status", "from_id": 7}
                       queue an incoming message as an update (update_id
                       counting up from 1000; "chat_id" an integer, "from_id"
                       default 7); answer {"ok": true, "update_id": N}
    GET  /__updates    the updates not confirmed yet, and "confirmed": the
                       highest update_id confirmed (0: none)
    POST /__reset      clear the queues, "down", "chats", "now", "limits" (back
                       to the defaults), the flood counters and every record
"""

import argparse
import email.parser
import email.policy
import json
import math
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

MAX_LENGTH = 4096
MAX_CAPTION = 1024
MAX_UPLOAD = 50 * 1024 * 1024
ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
                "tg-spoiler", "span", "blockquote"}
NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
ENTITY_RE = re.compile(r"&(?:(lt|gt|amp|quot)|#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6}));")
TAG_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
ATTR_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
STATUS_TEXT = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
               504: "Gateway Timeout", 400: "Bad Request", 401: "Unauthorized",
               403: "Forbidden", 404: "Not Found", 408: "Request Timeout",
               409: "Conflict", 429: "Too Many Requests"}

# Flood control, from the Bot FAQ: about one message a second in a chat, twenty a minute in
# a group. The tolerance absorbs the jitter of a loaded test machine.
DEFAULT_LIMITS = {"chat_interval": 1.0, "group_per_minute": 20, "tolerance": 0.25}
GROUP_WINDOW = 60.0
CHAT_STATES = ("ok", "kicked", "blocked", "deactivated", "not_member", "not_found")
PREVIEW_FIELDS = {"is_disabled": bool, "url": str, "prefer_small_media": bool,
                  "prefer_large_media": bool, "show_above_text": bool}

# What Telegram says for an error code when a failure mode names none.
DEFAULT_DESCRIPTION = {400: "Bad Request: chat not found", 401: "Unauthorized",
                       403: "Forbidden: bot was blocked by the user", 404: "Not Found",
                       409: "Conflict: terminated by other getUpdates request"}


class ParseError(Exception):
    """Text that Telegram refuses with "can't parse entities"."""


def byte_offset(text, i):
    return len(text[:i].encode("utf-8"))


def decode_entity(text, i):
    """The character of the entity at text[i] ('&') and the index after it."""
    m = ENTITY_RE.match(text, i)
    if not m:
        raise ParseError(f"Unsupported entity at byte offset {byte_offset(text, i)}")
    if m.group(1):
        return NAMED_ENTITIES[m.group(1)], m.end()
    cp = int(m.group(2)) if m.group(2) else int(m.group(3), 16)
    if cp == 0 or cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
        raise ParseError(f"Unsupported entity at byte offset {byte_offset(text, i)}")
    return chr(cp), m.end()


def parse_attributes(text, i, begin):
    """Attributes from text[i] up to '>': ({name: value}, index after '>')."""
    attrs = {}
    n = len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            raise ParseError(f"Unclosed start tag at byte offset {byte_offset(text, begin)}")
        if text[i] == ">":
            return attrs, i + 1
        m = ATTR_NAME_RE.match(text, i)
        if not m:
            raise ParseError(f"Unclosed start tag at byte offset {byte_offset(text, begin)}")
        name = m.group(0).lower()
        i = m.end()
        while i < n and text[i].isspace():
            i += 1
        value = ""
        if i < n and text[i] == "=":
            i += 1
            while i < n and text[i].isspace():
                i += 1
            if i >= n:
                raise ParseError(f"Unclosed start tag at byte offset {byte_offset(text, begin)}")
            out = []
            if text[i] in "\"'":
                quote = text[i]
                i += 1
                while i < n and text[i] != quote:
                    if text[i] == "&":
                        ch, i = decode_entity(text, i)
                        out.append(ch)
                    else:
                        out.append(text[i])
                        i += 1
                if i >= n:
                    raise ParseError(
                        f"Unclosed start tag at byte offset {byte_offset(text, begin)}")
                i += 1
            else:
                while i < n and not text[i].isspace() and text[i] != ">":
                    if text[i] in "\"'<=`":
                        raise ParseError(
                            f"Unclosed start tag at byte offset {byte_offset(text, begin)}")
                    out.append(text[i])
                    i += 1
            value = "".join(out)
        attrs[name] = value


def parse_html(text):
    """Telegram's HTML parse mode: the plain text, or ParseError."""
    out = []
    stack = []  # tag names
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "&":
            ch, i = decode_entity(text, i)
            out.append(ch)
            continue
        if c != "<":
            out.append(c)
            i += 1
            continue
        begin = i
        if i + 1 < n and text[i + 1] == "/":
            end = text.find(">", i)
            if end < 0:
                raise ParseError(f"Unclosed end tag at byte offset {byte_offset(text, begin)}")
            name = text[i + 2:end].strip().lower()
            if not stack:
                raise ParseError(f"Unexpected end tag at byte offset {byte_offset(text, begin)}")
            if name != stack[-1]:
                raise ParseError(f"Unmatched end tag at byte offset {byte_offset(text, begin)}, "
                                 f'expected "</{stack[-1]}>", found "</{name}>"')
            stack.pop()
            i = end + 1
            continue
        m = TAG_NAME_RE.match(text, i + 1)
        name = m.group(0).lower() if m else ""
        if name not in ALLOWED_TAGS:
            raise ParseError(f'Unsupported start tag "{name}" at byte offset '
                             f"{byte_offset(text, begin)}")
        attrs, i = parse_attributes(text, m.end(), begin)
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise ParseError(f'Unsupported start tag "span" at byte offset '
                             f"{byte_offset(text, begin)}")
        for depth, outer in enumerate(stack):
            # Only <pre><code class="language-x"> may sit inside code or pre.
            pre_code = outer == "pre" and name == "code" and depth == len(stack) - 1
            if (outer in ("code", "pre") and not pre_code) or \
                    (outer == name and name in ("a", "blockquote")):
                raise ParseError(f'Tag "{name}" can\'t be nested in "{outer}" at byte offset '
                                 f"{byte_offset(text, begin)}")
        stack.append(name)
    if stack:
        raise ParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


def chat_refusal(state, chat_id):
    """(error_code, description) for a chat the bot may not post to."""
    cid = str(chat_id)
    kind = ("channel" if cid.startswith("@") else
            "supergroup" if cid.startswith("-100") else "group")
    if state == "kicked":
        return 403, f"Forbidden: bot was kicked from the {kind} chat"
    if state == "blocked":
        return 403, "Forbidden: bot was blocked by the user"
    if state == "deactivated":
        return 403, "Forbidden: user is deactivated"
    if state == "not_member":
        return 403, ("Forbidden: bot is not a member of the "
                     f"{'supergroup' if kind == 'supergroup' else 'channel'} chat")
    return 400, "Bad Request: chat not found"


def parse_preview_options(v):
    """link_preview_options as sent (an object, or JSON text in a form): the object."""
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except ValueError:
            v = None
    if not isinstance(v, dict) or any(
            k not in PREVIEW_FIELDS or not isinstance(x, PREVIEW_FIELDS[k])
            for k, x in v.items()):
        raise ValueError("Bad Request: can't parse link preview options JSON object")
    return v


def chat_problem(chat_id):
    """What Telegram answers for a chat_id that cannot be one, or None."""
    if chat_id is None or chat_id == "":
        return 400, "Bad Request: chat_id is empty"
    if isinstance(chat_id, bool) or not (
            isinstance(chat_id, int) or re.fullmatch(r"-?[0-9]{1,20}", str(chat_id))
            or re.fullmatch(r"@[A-Za-z][A-Za-z0-9_]{3,31}", str(chat_id))):
        return 400, "Bad Request: chat not found"
    return None


def parse_multipart(content_type, raw):
    """A multipart/form-data body: ({name: text}, {name: {"file_name", "mime_type", "data"}})."""
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\nMIME-Version: 1.0\r\n\r\n" + raw)
    if not msg.is_multipart() or msg.defects:
        raise ValueError("can't parse multipart/form-data request body")
    fields, files = {}, {}
    for part in msg.iter_parts():
        if part.get_content_disposition() != "form-data":
            raise ValueError("a part of the body is not form-data")
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        if name is None:
            raise ValueError("a part of the body has no name")
        if part.get_filename() is not None:
            files[name] = {"file_name": part.get_filename(),
                           "mime_type": part.get_content_type(), "data": data}
        else:
            fields[name] = data.decode("utf-8")
    return fields, files


def utf16_len(s):
    return len(s.encode("utf-16-le")) // 2


def parse_bool_param(v):
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false", "1", "0"):
        return v.lower() in ("true", "1")
    raise ValueError("Bad Request: can't parse disable_web_page_preview as a Boolean")


# ---------------------------------------------------------------- state

class State:
    def __init__(self, token):
        self.token = token
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.fail = {"telegram": [], "hook": []}
        self.down = False
        self.chats = {}
        self.clock = None
        self.limits = dict(DEFAULT_LIMITS)
        self.accepted = {}  # chat_id as a string -> times of its accepted messages
        self.messages = []
        self.documents = []
        self.updates = []
        self.next_update = 1000
        self.confirmed = 0
        self.poll_generation = 0
        self.update_cond = threading.Condition(self.lock)
        self.requests = []
        self.hooks = []
        self.next_id = 1

    def snapshot(self):
        return {"fail": self.fail, "down": self.down, "chats": self.chats, "now": self.clock,
                "limits": self.limits}

    def now(self):
        return time.time() if self.clock is None else self.clock

    def apply(self, body):
        unknown = set(body) - {"fail", "down", "chats", "now", "limits"}
        if unknown:
            raise ValueError(f"unknown control keys: {sorted(unknown)}")
        fails = body.get("fail", [])
        if not isinstance(fails, list):
            raise ValueError("fail is a list")
        checked = []
        for f in fails:
            f = dict(f)
            target = f.get("target", "telegram")
            if target not in ("telegram", "hook"):
                raise ValueError(f"unknown target {target!r}")
            kind = f.get("kind", "error")
            if kind not in ("error", "429", "html", "hang", "drop"):
                raise ValueError(f"unknown kind {kind!r}")
            f["target"], f["kind"] = target, kind
            f["times"] = int(f.get("times", 1))
            f["after"] = int(f.get("after", 0))
            f["error_code"] = int(f.get("error_code", 429 if kind == "429" else 500))
            f["retry_after"] = int(f.get("retry_after", 5))
            f["seconds"] = float(f.get("seconds", 0))
            checked.append(f)
        chats = body.get("chats", {})
        if not isinstance(chats, dict) or any(v not in CHAT_STATES for v in chats.values()):
            raise ValueError(f"chats maps a chat_id to one of {', '.join(CHAT_STATES)}")
        now = body.get("now")
        if now is not None and (isinstance(now, bool) or not isinstance(now, (int, float))):
            raise ValueError("now is Unix seconds (a number) or null")
        limits = body.get("limits", {})
        if limits != "unlimited":
            if not isinstance(limits, dict) or set(limits) - set(DEFAULT_LIMITS) or any(
                    isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0
                    for v in limits.values()):
                raise ValueError('limits is "unlimited" or an object with numbers for '
                                 f"{', '.join(DEFAULT_LIMITS)}")
            limits = dict(DEFAULT_LIMITS, **limits)
        for f in checked:
            self.fail[f["target"]].append(f)
        if "down" in body:
            self.down = bool(body["down"])
        self.chats.update(chats)
        if "now" in body:
            self.clock = now
        if "limits" in body:
            self.limits = limits

    def flood_wait(self, chat_id, now):
        """Seconds until the chat may take another message; 0 when it may now."""
        if self.limits == "unlimited":
            return 0
        times = self.accepted.get(str(chat_id), [])
        tolerance = self.limits["tolerance"]
        wait = 0
        if times:
            wait = max(wait, times[-1] + self.limits["chat_interval"] - tolerance - now)
        group = str(chat_id).startswith(("-", "@"))
        cap = int(self.limits["group_per_minute"])
        if group and len(times) >= cap:
            oldest = times[-cap]
            wait = max(wait, oldest + GROUP_WINDOW - tolerance - now)
        return wait

    def take_failure(self, target):
        """The failure mode that answers this request, if any (call with the lock held)."""
        queue = self.fail[target]
        if not queue:
            return None
        f = queue[0]
        if f["after"] > 0:
            f["after"] -= 1
            return None
        f["times"] -= 1
        if f["times"] <= 0:
            queue.pop(0)
        return f


# ---------------------------------------------------------------- HTTP

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-telegram/1"
    state = None  # set by main()
    verbose = False

    def log_message(self, fmt, *args):
        if self.verbose:
            sys.stderr.write("fake_telegram: " + (fmt % args) + "\n")

    # -- plumbing

    def send(self, status, body, content_type="application/json", headers=None):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def send_json(self, status, obj, headers=None):
        self.send(status, json.dumps(obj), headers=headers)

    def tg_error(self, code, description, parameters=None, headers=None):
        body = {"ok": False, "error_code": code, "description": description}
        if parameters:
            body["parameters"] = parameters
        self.send_json(code, body, headers=headers)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def hang_up(self):
        self.close_connection = True

    # -- dispatch

    def do_GET(self):
        url = urlsplit(self.path)
        st = self.state
        if url.path == "/__updates":
            with st.lock:
                self.send_json(200, {"updates": st.updates, "confirmed": st.confirmed})
            return
        if url.path in ("/__messages", "/__documents", "/__requests", "/__hooks", "/__control"):
            with st.lock:
                obj = {"/__messages": st.messages, "/__documents": st.documents,
                       "/__requests": st.requests, "/__hooks": st.hooks,
                       "/__control": st.snapshot()}[url.path]
                self.send_json(200, obj)
        elif url.path.startswith("/bot"):
            self.bot_api(url, b"")
        else:
            self.tg_error(404, "Not Found")

    def do_POST(self):
        url = urlsplit(self.path)
        raw = self.read_body()
        st = self.state
        if url.path == "/__reset":
            with st.lock:
                st.reset()
            self.send_json(200, {"ok": True})
        elif url.path == "/__control":
            try:
                body = json.loads(raw or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("the control body is a JSON object")
                with st.lock:
                    st.apply(body)
                    snap = st.snapshot()
            except (ValueError, KeyError, TypeError) as e:
                self.send_json(400, {"ok": False, "description": f"bad control: {e}"})
                return
            self.send_json(200, {"ok": True, "control": snap})
        elif url.path == "/__updates":
            try:
                body = json.loads(raw or b"{}")
                chat_id, text = int(body["chat_id"]), str(body["text"])
                from_id = int(body.get("from_id", 7))
            except (ValueError, KeyError, TypeError) as e:
                self.send_json(400, {"ok": False, "description": f"bad update: {e}"})
                return
            with st.lock:
                uid = st.next_update
                st.next_update += 1
                chat = ({"id": chat_id, "type": "private", "first_name": "Operator"}
                        if chat_id > 0 else {"id": chat_id, "type": "supergroup",
                                             "title": "Operators"})
                st.updates.append({"update_id": uid, "message": {
                    "message_id": uid, "date": int(st.now()), "chat": chat, "text": text,
                    "from": {"id": from_id, "is_bot": False, "first_name": "Op"}}})
                st.update_cond.notify_all()
            self.send_json(200, {"ok": True, "update_id": uid})
        elif url.path == "/hook" or url.path.startswith("/hook/"):
            self.hook(url, raw)
        elif url.path.startswith("/bot"):
            self.bot_api(url, raw)
        else:
            self.tg_error(404, "Not Found")

    # -- failure modes shared by the Bot API and the hook

    def failure(self, target, entry):
        """Answer with the queued failure mode or "down"; True when one applied."""
        st = self.state
        with st.lock:
            down = st.down
            f = None if down else st.take_failure(target)
        if down:
            entry["status"], entry["reason"] = 0, "down"
            self.hang_up()
            return True
        if f is None:
            return False
        kind = f["kind"]
        headers = f.get("headers")
        if kind == "hang":
            entry["status"], entry["reason"] = 0, f"hang {f['seconds']}s"
            time.sleep(f["seconds"])
            self.hang_up()
        elif kind == "drop":
            entry["status"], entry["reason"] = 0, "drop"
            self.hang_up()
        elif kind == "html":
            code = f["error_code"]
            text = STATUS_TEXT.get(code, "Error")
            entry["status"], entry["reason"] = code, f"html {code}"
            self.send(code, f"<html>\r\n<head><title>{code} {text}</title></head>\r\n<body>\r\n"
                      f"<center><h1>{code} {text}</h1></center>\r\n<hr><center>nginx</center>\r\n"
                      "</body>\r\n</html>\r\n", content_type="text/html", headers=headers)
        elif kind == "429" or f["error_code"] == 429:
            after = f["retry_after"]
            entry["status"], entry["reason"] = 429, f"429 retry_after {after}"
            if target == "telegram":
                self.tg_error(429, f.get("description") or f"Too Many Requests: retry after {after}",
                              {"retry_after": after}, headers=headers)
            else:
                self.send_json(429, {"error": "rate limited"},
                               headers=headers if headers is not None else {"Retry-After": after})
        else:
            code = f["error_code"]
            desc = f.get("description") or (
                DEFAULT_DESCRIPTION.get(code) if target == "telegram" else None) or \
                STATUS_TEXT.get(code, "Error")
            entry["status"], entry["reason"] = code, desc
            if target == "telegram":
                self.tg_error(code, desc, f.get("parameters"), headers=headers)
            else:
                self.send(code, desc, content_type="text/plain", headers=headers)
        return True

    # -- the Bot API

    def bot_api(self, url, raw):
        st = self.state
        m = re.fullmatch(r"/bot([^/]*)/([^/]*)", url.path)
        shown = url.path
        if m:
            right = m.group(1) == st.token
            shown = f"/bot{'<token>' if right else '<wrong>'}/{m.group(2)}"
        entry = {"method": self.command, "path": shown,
                 "content_type": self.headers.get("Content-Type", ""), "time": time.time(),
                 "status": None, "reason": ""}
        with st.lock:
            st.requests.append(entry)
        if self.failure("telegram", entry):
            return

        def refuse(code, description):
            entry["status"], entry["reason"] = code, description
            self.tg_error(code, description)

        if not m:
            return refuse(404, "Not Found")
        if m.group(1) != st.token:
            return refuse(401, "Unauthorized")
        if m.group(2) == "sendDocument":
            return self.send_document(url, raw, entry, refuse)
        if m.group(2) == "getUpdates":
            return self.get_updates(url, raw, entry, refuse)
        if m.group(2) != "sendMessage":
            return refuse(404, "Not Found")

        params = dict(parse_qsl(url.query, keep_blank_values=True))
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if raw:
            if ctype == "application/json":
                try:
                    body = json.loads(raw)
                except ValueError:
                    return refuse(400, "Bad Request: can't parse JSON request body")
                if not isinstance(body, dict):
                    return refuse(400, "Bad Request: JSON request body is not an object")
                params.update(body)
            elif ctype == "application/x-www-form-urlencoded":
                try:
                    params.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True,
                                            strict_parsing=True))
                except (ValueError, UnicodeDecodeError):
                    return refuse(400, "Bad Request: can't parse form request body")
            else:
                return refuse(400, f"Bad Request: unsupported Content-Type {ctype!r}")

        chat_id = params.get("chat_id")
        if chat_problem(chat_id):
            return refuse(*chat_problem(chat_id))
        text = params.get("text")
        if not isinstance(text, str) or text == "":
            return refuse(400, "Bad Request: message text is empty")
        if params.get("parse_mode") != "HTML":
            return refuse(400, "Bad Request: unsupported parse_mode")
        options = params.get("link_preview_options")
        if options is not None:
            try:
                options = parse_preview_options(options)
            except ValueError as e:
                return refuse(400, str(e))
        preview = params.get("disable_web_page_preview")
        if preview is not None:
            try:
                preview = parse_bool_param(preview)
            except ValueError as e:
                return refuse(400, str(e))
        with st.lock:
            chat_state = st.chats.get(str(chat_id), "ok")
        if chat_state != "ok":
            return refuse(*chat_refusal(chat_state, chat_id))
        try:
            plain = parse_html(text)
        except ParseError as e:
            return refuse(400, f"Bad Request: can't parse entities: {e}")
        if not plain.strip():
            return refuse(400, "Bad Request: message text is empty")
        if utf16_len(plain) > MAX_LENGTH:
            return refuse(400, "Bad Request: message is too long")

        with st.lock:
            now = st.now()
            wait = st.flood_wait(chat_id, now)
            if wait <= 0:
                st.accepted.setdefault(str(chat_id), []).append(now)
                mid = st.next_id
                st.next_id += 1
                used = ("both" if options is not None and preview is not None else
                        "link_preview_options" if options is not None else
                        "disable_web_page_preview" if preview is not None else None)
                st.messages.append({"message_id": mid, "chat_id": chat_id, "text": text,
                                    "plain": plain, "parse_mode": params.get("parse_mode"),
                                    "link_preview_options": options,
                                    "disable_web_page_preview": preview,
                                    "preview_parameter": used, "time": now})
        if wait > 0:
            after = max(1, math.ceil(wait))
            entry["status"], entry["reason"] = 429, f"flood control: retry after {after}"
            return self.tg_error(429, f"Too Many Requests: retry after {after}",
                                 {"retry_after": after})
        entry["status"] = 200
        cid = int(chat_id) if re.fullmatch(r"-?[0-9]+", str(chat_id)) else chat_id
        chat = ({"id": cid, "type": "channel", "username": str(cid)[1:]}
                if isinstance(cid, str) else
                {"id": cid, "type": "private", "first_name": "Operator"} if cid > 0 else
                {"id": cid, "type": "supergroup", "title": "Operators"})
        self.send_json(200, {"ok": True, "result": {
            "message_id": mid,
            "from": {"id": int(st.token.split(":")[0]) if st.token.split(":")[0].isdigit()
                     else 1, "is_bot": True, "first_name": "candlekeep", "username": "ck_bot"},
            "chat": chat, "date": int(now), "text": plain}})

    def chat_object(self, chat_id):
        cid = int(chat_id) if re.fullmatch(r"-?[0-9]+", str(chat_id)) else chat_id
        return ({"id": cid, "type": "channel", "username": str(cid)[1:]}
                if isinstance(cid, str) else
                {"id": cid, "type": "private", "first_name": "Operator"} if cid > 0 else
                {"id": cid, "type": "supergroup", "title": "Operators"})

    def bot_user(self):
        head = self.state.token.split(":")[0]
        return {"id": int(head) if head.isdigit() else 1, "is_bot": True,
                "first_name": "candlekeep", "username": "ck_bot"}

    def get_updates(self, url, raw, entry, refuse):
        """getUpdates (see the module's doc); `entry` is the request's record."""
        st = self.state
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        try:
            if raw and ctype == "application/json":
                params.update(json.loads(raw))
            elif raw:
                params.update(parse_qsl(raw.decode("utf-8"), strict_parsing=True))
            offset = int(params.get("offset", 0))
            limit = int(params.get("limit", 100))
            timeout = float(params.get("timeout", 0))
        except (ValueError, TypeError, UnicodeDecodeError, AttributeError):
            return refuse(400, "Bad Request: can't parse getUpdates parameters")
        if not 1 <= limit <= 100 or timeout < 0:
            return refuse(400, "Bad Request: wrong limit or timeout")
        deadline = time.time() + timeout
        with st.lock:
            if offset:
                st.confirmed = max(st.confirmed, offset - 1)
                st.updates = [u for u in st.updates if u["update_id"] >= offset]
            st.poll_generation += 1
            mine = st.poll_generation
            st.update_cond.notify_all()  # a poll still waiting is now the terminated one
            while True:
                if st.poll_generation != mine:
                    conflict = True
                    break
                ready = [u for u in st.updates if u["update_id"] >= offset][:limit]
                left = deadline - time.time()
                if ready or left <= 0:
                    conflict = False
                    break
                st.update_cond.wait(min(left, 0.2))
            if not conflict:
                st.update_cond.notify_all()
        if conflict:
            return refuse(409, "Conflict: terminated by other getUpdates request")
        entry["status"] = 200
        self.send_json(200, {"ok": True, "result": ready})

    def send_document(self, url, raw, entry, refuse):
        """sendDocument (see the module's doc); `entry` is the request's record."""
        st = self.state
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        files = {}
        full_type = self.headers.get("Content-Type", "")
        ctype = full_type.split(";")[0].strip().lower()
        if raw:
            try:
                if ctype == "multipart/form-data":
                    fields, files = parse_multipart(full_type, raw)
                    params.update(fields)
                elif ctype == "application/json":
                    body = json.loads(raw)
                    if not isinstance(body, dict):
                        return refuse(400, "Bad Request: JSON request body is not an object")
                    params.update(body)
                elif ctype == "application/x-www-form-urlencoded":
                    params.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True,
                                            strict_parsing=True))
                else:
                    return refuse(400, f"Bad Request: unsupported Content-Type {ctype!r}")
            except (ValueError, UnicodeDecodeError) as e:
                return refuse(400, f"Bad Request: {e}")
        chat_id = params.get("chat_id")
        if chat_problem(chat_id):
            return refuse(*chat_problem(chat_id))
        doc = files.get("document")
        if doc is None:
            if params.get("document") not in (None, ""):
                return refuse(400, "Bad Request: wrong file identifier/HTTP URL specified")
            return refuse(400, "Bad Request: there is no document in the request")
        if not doc["data"]:
            return refuse(400, "Bad Request: file must be non-empty")
        if len(doc["data"]) > MAX_UPLOAD:
            return refuse(413, "Request Entity Too Large")
        caption = params.get("caption")
        parse_mode = params.get("parse_mode")
        if parse_mode is not None and parse_mode != "HTML":
            return refuse(400, "Bad Request: unsupported parse_mode")
        plain = caption or ""
        if caption and parse_mode == "HTML":
            try:
                plain = parse_html(caption)
            except ParseError as e:
                return refuse(400, f"Bad Request: can't parse entities: {e}")
        if utf16_len(plain) > MAX_CAPTION:
            return refuse(400, "Bad Request: message caption is too long")
        with st.lock:
            chat_state = st.chats.get(str(chat_id), "ok")
        if chat_state != "ok":
            return refuse(*chat_refusal(chat_state, chat_id))
        with st.lock:
            now = st.now()
            wait = st.flood_wait(chat_id, now)
            if wait <= 0:
                st.accepted.setdefault(str(chat_id), []).append(now)
                mid = st.next_id
                st.next_id += 1
                st.documents.append({"message_id": mid, "chat_id": chat_id,
                                     "file_name": doc["file_name"],
                                     "mime_type": doc["mime_type"], "size": len(doc["data"]),
                                     "content": doc["data"].decode("utf-8", "replace"),
                                     "caption": caption, "parse_mode": parse_mode,
                                     "time": now})
        if wait > 0:
            after = max(1, math.ceil(wait))
            entry["status"], entry["reason"] = 429, f"flood control: retry after {after}"
            return self.tg_error(429, f"Too Many Requests: retry after {after}",
                                 {"retry_after": after})
        entry["status"] = 200
        result = {"message_id": mid, "from": self.bot_user(), "chat": self.chat_object(chat_id),
                  "date": int(now),
                  "document": {"file_name": doc["file_name"], "mime_type": doc["mime_type"],
                               "file_id": f"doc{mid}", "file_unique_id": f"u{mid}",
                               "file_size": len(doc["data"])}}
        if caption:
            result["caption"] = plain
        self.send_json(200, {"ok": True, "result": result})

    # -- the webhook receiver

    def hook(self, url, raw):
        st = self.state
        entry = {"path": url.path, "content_type": self.headers.get("Content-Type", ""),
                 "user_agent": self.headers.get("User-Agent", ""), "body": None,
                 "time": time.time(), "status": None}
        try:
            entry["body"] = json.loads(raw)
        except ValueError:
            entry["body"] = raw.decode("utf-8", "replace")
        with st.lock:
            st.hooks.append(entry)
        if self.failure("hook", entry):
            return
        if not isinstance(entry["body"], dict):
            entry["status"] = 400
            self.send_json(400, {"ok": False, "error": "the body is not a JSON object"})
            return
        entry["status"] = 200
        self.send_json(200, {"ok": True})


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
    ap = argparse.ArgumentParser(description="Local fake of the Telegram Bot API sendMessage.")
    ap.add_argument("--port-file", required=True, help="write the chosen port here")
    ap.add_argument("--token", default="123456:TEST-token")
    ap.add_argument("--verbose", action="store_true", help="log each request to stderr")
    ap.add_argument("--no-parent-watch", action="store_true",
                    help="keep running when the parent process exits")
    args = ap.parse_args()

    Handler.state = State(args.token)
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
