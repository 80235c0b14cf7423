# Fault injection for the Webflow Data API v2 fake: a queue of faults posted to
# POST /_admin/faults; each applies to the next `count` API requests it matches
# (status override, Retry-After, delay, dropped connection, malformed JSON).
import re
import threading

ALLOWED_KEYS = {"match", "count", "status", "body", "raw", "retry_after", "delay_ms",
                "drop", "process", "malformed", "headers", "name", "comment"}


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
    if not isinstance(m, dict) or set(m) - {"method", "path"}:
        raise FaultError("match must be an object with method and/or path")
    try:
        f["_path_re"] = re.compile(m["path"]) if m.get("path") else None
    except re.error as exc:
        raise FaultError("bad match.path regex: %s" % exc)
    f["_method"] = m["method"].upper() if m.get("method") else None
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
    if "process" not in f:
        # by default a fault that replaces the answer skips the real processing;
        # a pure delay or a malformed body keep it (the state changes happen)
        f["process"] = not (f.get("drop") or status is not None or "body" in f or "raw" in f)
    if not f["process"] and not (f.get("drop") or status is not None or "body" in f
                                 or "raw" in f):
        raise FaultError("process=false needs a status, body, raw or drop to answer with")
    return f


def public(f):
    return {k: v for k, v in f.items() if not k.startswith("_")}


class FaultQueue:
    def __init__(self):
        self.lock = threading.Lock()
        self.faults = []

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

    def list(self):
        with self.lock:
            return [public(f) for f in self.faults]

    def take(self, method, path):
        """The first queued fault matching this request (its count is consumed)."""
        with self.lock:
            for f in self.faults:
                if f["_method"] and f["_method"] != method:
                    continue
                if f["_path_re"] and not f["_path_re"].search(path):
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
