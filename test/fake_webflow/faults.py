# Fault injection for the Webflow Data API v2 fake: a queue of faults posted to
# POST /_admin/faults; each applies to the next `count` API requests it matches
# (status override, Retry-After, delay, dropped connection, malformed JSON,
# refused connections for a while, the items list of the real answer cut
# short with keep_items).
#
# A fault matches on the method, a regex on the path, a regex on the raw
# query string and/or the request's kind (request_kind() below: get_collection,
# list_items, list_live, lookup_slug, get_item, post_live, post_staged,
# patch_live, patch_staged, delete_live, delete_staged, publish, schema,
# other).  A request that carries the header X-Fake-Actor (the tests' own
# requests: a "Designer" editing items, an oracle reading every page) is
# never matched: faults are for the client under test.
import re
import threading
import time

ALLOWED_KEYS = {"match", "count", "status", "body", "raw", "retry_after", "delay_ms",
                "drop", "process", "malformed", "headers", "name", "comment",
                "refuse_ms", "ttl_ms", "keep_items"}
MATCH_KEYS = {"method", "path", "query", "kind"}
KINDS = ("get_collection", "list_items", "list_live", "lookup_slug", "get_item",
         "post_live", "post_staged", "patch_live", "patch_staged", "delete_live",
         "delete_staged", "publish", "schema", "other")

_ITEMS_RE = re.compile(
    r"^/v2/collections/[^/]+/items(?:/(?P<sub>live|publish|bulk)|/(?P<item>[^/]+)(?P<ilive>/live)?)?/?$")
_COLLECTION_RE = re.compile(r"^/v2/collections/[^/]+/?$")
_FIELDS_RE = re.compile(r"^/v2/(?:collections/[^/]+/fields(?:/[^/]+)?|sites/[^/]+/collections)/?$")
_SLUG_RE = re.compile(r"(?:^|&)slug=")


def request_kind(method, path, query_string=""):
    """The kind of an API request, by what it does: see KINDS."""
    if _COLLECTION_RE.match(path):
        return "get_collection" if method == "GET" else "schema"
    if _FIELDS_RE.match(path):
        return "schema" if method != "GET" else "other"
    m = _ITEMS_RE.match(path)
    if not m:
        return "other"
    sub, item, ilive = m.group("sub"), m.group("item"), m.group("ilive")
    if sub == "publish":
        return "publish" if method == "POST" else "other"
    if sub == "bulk":
        return "post_staged" if method == "POST" else "other"
    live = sub == "live" or bool(ilive)
    if method == "GET":
        if item:
            return "get_item"
        if _SLUG_RE.search(query_string or ""):
            return "lookup_slug"
        return "list_live" if live else "list_items"
    if method == "POST" and not item:
        return "post_live" if live else "post_staged"
    if method == "PATCH":
        return "patch_live" if live else "patch_staged"
    if method == "DELETE":
        return "delete_live" if live else "delete_staged"
    return "other"


class FaultError(ValueError):
    pass


def _check(fault):
    if not isinstance(fault, dict):
        raise FaultError("a fault must be an object")
    unknown = set(fault) - ALLOWED_KEYS
    if unknown:
        raise FaultError("unknown fault keys: %s" % ", ".join(sorted(unknown)))
    f = dict(fault)
    m = f.get("match") or {}
    if not isinstance(m, dict) or set(m) - MATCH_KEYS:
        raise FaultError("match must be an object with method, path, query and/or kind")
    for key in ("path", "query"):
        try:
            f["_%s_re" % key] = re.compile(m[key]) if m.get(key) else None
        except re.error as exc:
            raise FaultError("bad match.%s regex: %s" % (key, exc))
    f["_method"] = m["method"].upper() if m.get("method") else None
    kinds = m.get("kind")
    if isinstance(kinds, str):
        kinds = [kinds]
    if kinds is not None and (not isinstance(kinds, list)
                              or any(k not in KINDS for k in kinds)):
        raise FaultError("match.kind must be one of (or a list of): %s" % ", ".join(KINDS))
    f["_kinds"] = set(kinds) if kinds else None
    count = f.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise FaultError("count must be an integer >= 1")
    f["remaining"] = count
    status = f.get("status")
    if status is not None and (not isinstance(status, int) or not 100 <= status <= 599):
        raise FaultError("status must be an HTTP status code")
    delay = f.get("delay_ms", 0)
    if not isinstance(delay, (int, float)) or isinstance(delay, bool) or delay < 0:
        raise FaultError("delay_ms must be a number >= 0")
    if "raw" in f and not isinstance(f["raw"], str):
        raise FaultError("raw must be a string")
    if "headers" in f and not isinstance(f["headers"], dict):
        raise FaultError("headers must be an object")
    for key in ("drop", "process", "malformed"):
        if key in f and not isinstance(f[key], bool):
            raise FaultError("%s must be a boolean" % key)
    keep = f.get("keep_items")
    if keep is not None and (not isinstance(keep, int) or isinstance(keep, bool) or keep < 0):
        raise FaultError("keep_items must be an integer >= 0")
    for key in ("refuse_ms", "ttl_ms"):
        value = f.get(key)
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)
                                  or value <= 0):
            raise FaultError("%s must be a number > 0" % key)
    if f.get("refuse_ms"):
        # the request never gets in: nothing is processed, nothing answered
        if f.get("process"):
            raise FaultError("refuse_ms cannot be combined with process=true")
        f["process"] = False
    if "process" not in f:
        # by default a fault that replaces the answer skips the real processing;
        # a pure delay or a malformed body keep it (the state changes happen)
        f["process"] = not (f.get("drop") or status is not None or "body" in f or "raw" in f)
    if not f["process"] and not (f.get("drop") or status is not None or "body" in f
                                 or "raw" in f or f.get("malformed") or f.get("refuse_ms")):
        raise FaultError("process=false needs a status, body, raw, malformed, drop or "
                         "refuse_ms to answer with")
    f["_queued"] = time.monotonic()
    return f


def public(f):
    return {k: v for k, v in f.items() if not k.startswith("_")}


class FaultQueue:
    EXPIRED_MAX = 2000  # expired faults kept for GET /_admin/faults?expired=1

    def __init__(self):
        self.lock = threading.Lock()
        self.faults = []
        self.expired = []

    def add(self, spec):
        specs = spec if isinstance(spec, list) else [spec]
        checked = [_check(s) for s in specs]
        with self.lock:
            self.faults.extend(checked)
            return len(checked), len(self.faults)

    def clear(self):
        with self.lock:
            n = len(self.faults)
            self.faults = []
            return n

    def reset(self):
        with self.lock:
            self.faults = []
            self.expired = []

    def _expire(self):
        """Drop the faults whose ttl_ms passed without a request taking them."""
        now = time.monotonic()
        keep = []
        for f in self.faults:
            if f.get("ttl_ms") and (now - f["_queued"]) * 1000.0 >= f["ttl_ms"]:
                self.expired.append(public(f))
            else:
                keep.append(f)
        self.faults = keep
        del self.expired[:max(0, len(self.expired) - self.EXPIRED_MAX)]

    def list(self, expired=False):
        with self.lock:
            self._expire()
            return list(self.expired) if expired else [public(f) for f in self.faults]

    def take(self, method, path, query_string="", kind=None):
        """The first queued fault matching this request (its count is consumed)."""
        with self.lock:
            self._expire()
            for f in self.faults:
                if f["_method"] and f["_method"] != method:
                    continue
                if f["_path_re"] and not f["_path_re"].search(path):
                    continue
                if f["_query_re"] and not f["_query_re"].search(query_string or ""):
                    continue
                if f["_kinds"] and (kind or request_kind(method, path, query_string)) \
                        not in f["_kinds"]:
                    continue
                f["remaining"] -= 1
                if f["remaining"] <= 0:
                    self.faults.remove(f)
                return f
        return None


DEFAULT_ERRORS = {
    400: ("bad_request", "Bad Request: Request is malformed"),
    401: ("not_authorized", "Request not authorized"),
    403: ("forbidden", "User is not authorized to perform this action"),
    404: ("resource_not_found", "Requested resource not found"),
    409: ("conflict", "Conflict: Conflict with server data"),
    429: ("too_many_requests", "Too Many Requests"),
    500: ("internal_error", "An Internal Error occurred"),
    503: ("service_unavailable", "Service temporarily unavailable. Please try again later."),
}


def default_error(status):
    code, message = DEFAULT_ERRORS.get(
        status, ("internal_error" if status >= 500 else "bad_request",
                 "Injected fault: HTTP %d" % status))
    return {"message": message, "code": code, "externalReference": None, "details": []}
