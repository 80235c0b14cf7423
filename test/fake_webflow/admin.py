# The /_admin/ API of the Webflow Data API v2 fake (no auth, not under /v2).
# Every answer is JSON with status 200 (400 {"error": ...} for a bad request).
#
#   GET    /_admin/health             {"ok": true}
#   GET    /_admin/stats              {"connections": N,  # TCP connections that carried
#                                                         # an API request since start/reset
#                                      "requests": N,     # API (/v2) requests since then
#                                      "tcp_connections": N, "open_connections": N,
#                                      "refused_connections": N, "refusing_ms": N,
#                                      "faults_pending": N, "faults_expired": N}
#   POST   /_admin/reset              fixture state, config (+ --rate-limit), empty log,
#                                     no faults, counters 0 -> {"reset": true}
#   POST   /_admin/faults             a fault object or a list of them -> {"queued", "pending"}
#   GET    /_admin/faults             pending faults (with "remaining")
#   GET    /_admin/faults?expired=1   faults whose ttl_ms passed before a request took
#                                     them (the last 2000)
#   DELETE /_admin/faults             {"cleared": N}
#   POST   /_admin/refuse             {"ms": N}: refuse API connections for N ms from
#                                     now (0 ends a window) -> {"refusing_ms": N}
#   GET    /_admin/log[?since=SEQ]    [{"seq", "time", "method", "path", "query" (dict),
#                                       "query_string", "status" (null if dropped),
#                                       "body" (parsed JSON or null), "items_in_body"
#                                       (length of items/itemIds/fieldData array or null),
#                                       "connection_id", "kind" (faults.request_kind),
#                                       "actor" (X-Fake-Actor or null), "fault",
#                                       "response_ids" (POST: ids of the items the
#                                       answer carried, even when the client did not
#                                       get it), "refused"}, ...]   (last 20000)
#   DELETE /_admin/log                {"cleared": N}
#   POST   /_admin/tokens             {"token": T, "like": T0}: T becomes a valid token
#                                     with the scopes and user of T0 (until reset)
#                                     -> {"token": T}
#   GET    /_admin/config             {"rate_limit", "strict_patch_slug",
#                                      "site_publish_per_minute", "unlimited_report"}
#   POST   /_admin/config             set any of those keys -> the whole config
#   GET    /_admin/items?collection=CID[&id=IID]   [{item fields, "collectionId",
#                                       "isLive", "liveFieldData"}, ...] (all locales)
#
# A fault (faults.py): {"match": {"method": "POST", "path": "<regex on the path>",
#   "query": "<regex on the query string>", "kind": "post_live" | [...]},
#   "count": 1, "status": 500, "body": {...} | "raw": "text", "retry_after": 7,
#   "headers": {...}, "delay_ms": 2000, "drop": true, "malformed": true,
#   "refuse_ms": 800, "ttl_ms": 8000, "keep_items": N, "process": true|false,
#   "name": "..."}; the
#   first queued fault that matches a request applies to it (requests with an
#   X-Fake-Actor header are never matched). "process" (run the real request, so
#   state changes happen) defaults to false when the fault answers by itself
#   (status/body/raw/drop/refuse_ms) and to true for a bare delay or a
#   malformed body. "keep_items": the answer's "items" list keeps its first N
#   entries (a 2xx that lists fewer items than were made). "refuse_ms": the
#   request is reset unanswered and unprocessed
#   and new API connections are refused for that long. "ttl_ms": the fault is
#   dropped if no request took it within that time.
import copy
import json

from .faults import FaultError

CONFIG_TYPES = {"rate_limit": int, "strict_patch_slug": bool,
                "site_publish_per_minute": int, "unlimited_report": int}


def _body(raw):
    return json.loads(raw) if raw.strip() else None


def _config(server, body):
    if not isinstance(body, dict):
        return 400, {"error": "config must be a JSON object"}
    for key, value in body.items():
        want = CONFIG_TYPES.get(key)
        if want is None:
            return 400, {"error": "unknown config key: %s" % key}
        if type(value) is not want or (want is int and value < 0):
            return 400, {"error": "%s must be a %s" % (key, want.__name__)}
    with server.store.lock:
        server.store.config.update(body)
        config = dict(server.store.config)
    if "rate_limit" in body:
        with server.meta:
            server.buckets = {}  # a new limit starts a fresh window
    return 200, config


def _items(server, query):
    store = server.store
    with store.lock:
        cids = [query["collection"]] if query.get("collection") else list(store.items)
        if any(cid not in store.items for cid in cids):
            return 404, {"error": "unknown collection"}
        return 200, [store.admin_json(row, cid) for cid in cids
                     for row in store.items[cid].values()
                     if not query.get("id") or row["id"] == query["id"]]


def handle_admin(server, method, path, query, raw):
    """-> (status, JSON payload)."""
    route = path[len("/_admin"):].rstrip("/") or "/"
    try:
        body = _body(raw)
    except ValueError:
        return 400, {"error": "invalid JSON body"}
    if route == "/health" and method == "GET":
        return 200, {"ok": True}
    if route == "/stats" and method == "GET":
        pending, expired = len(server.faults.list()), len(server.faults.list(expired=True))
        refusing = int(server.refusing_ms())
        with server.meta:
            return 200, dict(server.stats, open_connections=server.open_connections,
                             faults_pending=pending, faults_expired=expired,
                             refusing_ms=refusing)
    if route == "/refuse" and method == "POST":
        ms = body.get("ms") if isinstance(body, dict) else None
        if not isinstance(ms, (int, float)) or isinstance(ms, bool) or ms < 0:
            return 400, {"error": "refuse takes {\"ms\": N >= 0}"}
        server.refuse_for(ms)
        return 200, {"refusing_ms": int(server.refusing_ms())}
    if route == "/reset" and method == "POST":
        server.reset()
        return 200, {"reset": True}
    if route == "/faults":
        if method == "GET":
            return 200, server.faults.list(expired=query.get("expired") in ("1", "true"))
        if method == "DELETE":
            return 200, {"cleared": server.faults.clear()}
        if method == "POST":
            try:
                added, pending = server.faults.add(body)
            except FaultError as exc:
                return 400, {"error": str(exc)}
            return 200, {"queued": added, "pending": pending}
    if route == "/log":
        with server.meta:
            if method == "GET":
                since = int(query.get("since") or 0)
                return 200, [e for e in server.log if e["seq"] > since]
            if method == "DELETE":
                n = len(server.log)
                server.log = []
                return 200, {"cleared": n}
    if route == "/config":
        if method == "GET":
            return 200, dict(server.store.config)
        if method == "POST":
            return _config(server, body)
    if route == "/tokens" and method == "POST":
        if not isinstance(body, dict) or not isinstance(body.get("token"), str) \
                or not body["token"] or not isinstance(body.get("like"), str):
            return 400, {"error": "tokens takes {\"token\": T, \"like\": T0}"}
        with server.store.lock:
            like = server.store.tokens.get(body["like"])
            if like is None:
                return 400, {"error": "unknown token: %s" % body["like"]}
            server.store.tokens[body["token"]] = copy.deepcopy(like)
        return 200, {"token": body["token"]}
    if route == "/items" and method == "GET":
        return _items(server, query)
    return 404, {"error": "no admin route %s %s" % (method, path)}
