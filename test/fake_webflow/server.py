# HTTP layer of the Webflow Data API v2 fake: keep-alive HTTP/1.1 server on
# 127.0.0.1, bearer-token auth and scopes, per-token rate limiting with the
# X-RateLimit-* headers, fault injection, the request log, and the /_admin/ API.
#
# Refused connections: while a refusal window is open (a fault with refuse_ms
# was taken, or POST /_admin/refuse), every new connection is reset (RST)
# as soon as its request head arrives, without reading it, and a kept-alive
# connection is reset at its next request; nothing is processed or answered.
# Requests to /_admin/ and requests with the header X-Fake-Actor (the tests'
# own) are let through.
import json
import math
import socket
import struct
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from . import api
from .admin import handle_admin
from .faults import FaultQueue, default_error, request_kind
from .state import Store
from .util import ApiError, error_body, now_iso

API_PREFIX = "/v2"
ADMIN_PREFIX = "/_admin"
LOG_MAX = 20000  # entries kept in the request log


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, fixture, log_file=None, rate_limit=None):
        self.store = Store(fixture)
        self.cli_rate_limit = rate_limit
        if rate_limit is not None:
            self.store.config["rate_limit"] = rate_limit
        self.log_fh = open(log_file, "a", encoding="utf-8") if log_file else None
        self.faults = FaultQueue()
        self.meta = threading.Lock()
        self._reset_counters()
        self.conn_seq = 0
        self.open_connections = 0
        self.refuse_until = 0.0
        super().__init__(address, Handler)

    def _reset_counters(self):
        with self.meta:
            self.epoch = getattr(self, "epoch", 0) + 1
            self.stats = {"connections": 0, "requests": 0, "tcp_connections": 0,
                          "refused_connections": 0}
            self.log = []
            self.log_seq = 0
            self.buckets = {}
            self.refuse_until = 0.0

    def reset(self):
        self.store.reset()
        if self.cli_rate_limit is not None:
            self.store.config["rate_limit"] = self.cli_rate_limit
        self.faults.reset()
        self._reset_counters()

    # ---- refused connections
    def refuse_for(self, ms):
        """Open (or, with 0, close) a refusal window of ms milliseconds from now."""
        with self.meta:
            until = time.monotonic() + ms / 1000.0
            self.refuse_until = max(self.refuse_until, until) if ms > 0 else 0.0

    def refusing_ms(self):
        with self.meta:
            return max(0.0, (self.refuse_until - time.monotonic()) * 1000.0)

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # a client that went away: not worth a traceback
        self.trace("ERROR " + traceback.format_exc())
        super().handle_error(request, client_address)

    def trace(self, line):
        if self.log_fh:
            self.log_fh.write("%s %s\n" % (now_iso(), line))
            self.log_fh.flush()

    # ---- rate limiting: fixed one-minute window per token, started by its first request
    def rate_headers(self, token, count):
        """Count one request for token (if count) -> (allowed, headers)."""
        limit = self.store.config.get("rate_limit") or 0
        shown = limit or self.store.config.get("unlimited_report", 1000000)
        now = time.monotonic()
        with self.meta:
            bucket = self.buckets.get(token)
            if bucket is None or now - bucket[0] >= 60:
                bucket = self.buckets[token] = [now, 0]
            if limit and bucket[1] >= limit:
                wait = max(1, math.ceil(60 - (now - bucket[0])))
                return False, {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": "0",
                               "Retry-After": str(wait)}
            if count:
                bucket[1] += 1
            return True, {"X-RateLimit-Limit": str(shown),
                          "X-RateLimit-Remaining": str(max(0, shown - bucket[1]))}

    def site_of(self, params):
        """The site a request's path names (directly or through a collection), or None."""
        if "site_id" in params:
            # (an unknown site is the handler's 404)
            return params["site_id"] if params["site_id"] in self.store.sites else None
        coll = self.store.collections.get(params.get("collection_id"))
        return coll["siteId"] if coll else None

    # ---- the API pipeline: route, auth, rate limit, scope, site, body, handler
    def call_api(self, method, path, query, raw, auth):
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        route = api.match(method, path[len(API_PREFIX):]) if path.startswith(API_PREFIX + "/") \
            else None
        if route is None:
            return 404, self.rate_headers(token, False)[1], error_body(
                "resource_not_found", "Requested resource not found: no route %s %s"
                % (method, path))
        handler, scope, params = route
        tok = self.store.tokens.get(token) if token else None
        if tok is None:
            return 401, self.rate_headers(token, False)[1], error_body(
                "not_authorized", "Request not authorized")
        allowed, headers = self.rate_headers(token, True)
        if not allowed:
            return 429, headers, error_body("too_many_requests", "Too Many Requests")
        if scope and scope not in tok["scopes"]:
            return 403, headers, error_body(
                "missing_scopes",
                "OAuthForbidden: You are missing the following scopes - %s" % scope,
                [{"param": "scope", "description": scope}])
        site = self.site_of(params)
        if site is not None and site not in api.token_sites(self.store, tok):
            # a site token reaches only its own site
            return 403, headers, error_body(
                "forbidden", "Forbidden: this token is not authorized for site %s" % site)
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            return 400, headers, error_body("bad_request", "Bad Request: Invalid JSON body")
        try:
            with self.store.lock:
                status, payload = handler(self.store, api.Request(params, query, body, tok))
        except ApiError as exc:
            headers.update(exc.headers)
            return exc.status, headers, exc.body()
        return status, headers, payload

    def note_request(self, handler):
        with self.meta:
            self.stats["requests"] += 1
            if handler.counted_epoch != self.epoch:
                handler.counted_epoch = self.epoch
                self.stats["connections"] += 1

    def add_log(self, entry):
        with self.meta:
            self.log_seq += 1
            entry["seq"] = self.log_seq
            self.log.append(entry)
            if len(self.log) > LOG_MAX:
                del self.log[:len(self.log) - LOG_MAX]


def _response_ids(payload):
    """Ids of the items in an answer (what a create made, even if the client never saw it)."""
    if not isinstance(payload, dict):
        return None
    if isinstance(payload.get("items"), list):
        return [i.get("id") for i in payload["items"] if isinstance(i, dict)]
    if isinstance(payload.get("id"), str):
        return [payload["id"]]
    return None


def _reset_socket(sock):
    """Close a connection with a RST (no FIN, no answer)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def _items_in(body):
    if isinstance(body, dict):
        for key in ("items", "itemIds", "fieldData"):
            if isinstance(body.get(key), list):
                return len(body[key])
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "webflow-fake/1.0"
    timeout = 300  # idle keep-alive connections are closed after this

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        srv = self.server
        with srv.meta:
            srv.conn_seq += 1
            srv.stats["tcp_connections"] += 1
            srv.open_connections += 1
            self.connection_id = srv.conn_seq
        self.counted_epoch = None

    def finish(self):
        with self.server.meta:
            self.server.open_connections -= 1
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, fmt, *args):
        self.server.trace("conn=%d %s" % (self.connection_id, fmt % args))

    def handle(self):
        srv = self.server
        if srv.refusing_ms() > 0:
            head = self._peek_head()
            if not self._exempt(head):
                self._refuse_new(head)
                return
        super().handle()

    def _peek_head(self):
        """The first bytes the client sent, left unread (b"" if none came in 0.5 s)."""
        try:
            self.connection.settimeout(0.5)
            return self.connection.recv(8192, socket.MSG_PEEK)
        except OSError:
            return b""
        finally:
            try:
                self.connection.settimeout(self.timeout)
            except OSError:
                pass

    @staticmethod
    def _exempt(head):
        line = head.split(b"\r\n", 1)[0].split(b" ")
        if len(line) >= 2 and line[1].startswith(ADMIN_PREFIX.encode()):
            return True
        return b"\r\nx-fake-actor:" in head.lower()

    def _refuse_new(self, head):
        """A new connection while refusing: log what it was, reset it unread."""
        srv = self.server
        line = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        method = line[0] if len(line) >= 2 else ""
        url = urlsplit(line[1] if len(line) >= 2 else "")
        with srv.meta:
            srv.stats["refused_connections"] += 1
        srv.add_log({"seq": None, "time": now_iso(), "method": method, "path": url.path,
                     "query": {}, "query_string": url.query, "status": None, "body": None,
                     "items_in_body": None, "connection_id": self.connection_id,
                     "kind": request_kind(method, url.path, url.query), "actor": None,
                     "fault": "refused", "refused": "at connect"})
        self.close_connection = True
        _reset_socket(self.connection)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = do_OPTIONS = \
        lambda self: self.dispatch()

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send(self, status, headers, payload=None, raw=None):
        if raw is None:
            raw = b"" if payload is None else json.dumps(payload).encode()
        try:
            self.send_response(status)
            if raw:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            for key, value in headers.items():
                self.send_header(key, str(value))
            self.send_header("Content-Length", str(len(raw)))
            # headers and body in one write (two small writes meet delayed ACKs)
            self._headers_buffer.append(b"\r\n")
            if self.command != "HEAD":
                self._headers_buffer.append(raw)
            self.flush_headers()
        except OSError:
            self.close_connection = True

    def dispatch(self):
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        raw = self._read_body().decode("utf-8", "replace")
        if url.path == ADMIN_PREFIX or url.path.startswith(ADMIN_PREFIX + "/"):
            status, payload = handle_admin(self.server, self.command, url.path, query, raw)
            return self.send(status, {}, payload)
        srv = self.server
        srv.note_request(self)
        body_text = None
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            body, body_text = None, raw[:2000]
        kind = request_kind(self.command, url.path, url.query)
        actor = self.headers.get("X-Fake-Actor") or None
        entry = {"seq": None, "time": now_iso(), "method": self.command, "path": url.path,
                 "query": query, "query_string": url.query, "status": None, "body": body,
                 "items_in_body": _items_in(body), "connection_id": self.connection_id,
                 "kind": kind, "actor": actor, "fault": None}
        if body_text is not None:
            entry["body_text"] = body_text  # what could not be parsed
        if actor is None and srv.refusing_ms() > 0:
            # a kept-alive connection while refusing: reset, nothing done
            entry["fault"], entry["refused"] = "refused", "kept-alive connection"
            with srv.meta:
                srv.stats["refused_connections"] += 1
            srv.add_log(entry)
            self.close_connection = True
            _reset_socket(self.connection)
            return
        fault = None if actor else srv.faults.take(self.command, url.path, url.query, kind)
        status, headers, payload = 200, {}, None
        if fault is None or fault["process"]:
            try:
                status, headers, payload = srv.call_api(
                    self.command, url.path, query, raw, self.headers.get("Authorization", ""))
            except Exception:  # a bug in the fake: answer 500, keep serving
                srv.trace("ERROR " + traceback.format_exc())
                traceback.print_exc(file=sys.stderr)
                status, headers, payload = 500, {}, error_body(
                    "internal_error", "An Internal Error occurred")
            if self.command == "POST" and 200 <= status < 300:
                entry["response_ids"] = _response_ids(payload)
        if fault is None:
            entry["status"] = status
            srv.add_log(entry)
            return self.send(status, headers, payload)
        return self.apply_fault(fault, entry, status, headers, payload)

    def apply_fault(self, fault, entry, status, headers, payload):
        srv = self.server
        entry["fault"] = fault.get("name") or ", ".join(
            k for k in ("drop", "malformed", "status", "delay_ms", "keep_items")
            if fault.get(k) is not None and fault.get(k) is not False)
        if fault.get("keep_items") is not None and isinstance(payload, dict) \
                and isinstance(payload.get("items"), list):
            # a 2xx that lists fewer items than the request made or changed
            payload = dict(payload, items=payload["items"][:fault["keep_items"]])
        if not fault["process"]:
            token = self.headers.get("Authorization", "")[7:].strip()
            headers = srv.rate_headers(token, False)[1]
        if fault.get("refuse_ms"):
            # this request and every new connection for refuse_ms: reset, unanswered
            srv.refuse_for(fault["refuse_ms"])
            entry["refused"] = "opened a refusal window of %d ms" % fault["refuse_ms"]
            with srv.meta:
                srv.stats["refused_connections"] += 1
            srv.add_log(entry)
            self.close_connection = True
            _reset_socket(self.connection)
            return
        if fault.get("delay_ms"):
            time.sleep(fault["delay_ms"] / 1000.0)
        if fault.get("drop"):
            srv.add_log(entry)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        raw = None
        if fault.get("malformed"):
            text = json.dumps(payload) if payload is not None else ""
            raw = (text[:max(1, len(text) // 2)] if len(text) > 2 else '{"items": [').encode()
            status = fault.get("status") or (status if 200 <= status < 300 and status != 204
                                              else 200)
        elif fault.get("status") is not None or "raw" in fault or "body" in fault:
            if fault.get("status") is not None:
                status = fault["status"]
            elif not fault["process"]:
                status = 200
            if "raw" in fault:
                raw = fault["raw"].encode()
            elif "body" in fault:
                payload = fault["body"]
            elif status >= 400:
                payload = default_error(status)
            if status == 429:
                headers["X-RateLimit-Remaining"] = "0"
        if "retry_after" in fault:
            headers["Retry-After"] = str(fault["retry_after"])
        headers.update({k: str(v) for k, v in fault.get("headers", {}).items()})
        entry["status"] = status
        srv.add_log(entry)
        self.send(status, headers, payload, raw)
