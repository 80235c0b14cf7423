# Shared helpers of the Webflow Data API v2 fake (test/webflow_fake.py):
# the API error type with the spec's error body, ids, timestamps, pagination.
import datetime
import os
import re
import threading

OBJECTID_RE = re.compile(r"^[0-9a-f]{24}$")

_id_lock = threading.Lock()
_id_counter = int.from_bytes(os.urandom(3), "big")


class ApiError(Exception):
    """An error answered with the spec's error body
    {"message", "code", "externalReference": null, "details": [...]}."""

    def __init__(self, status, code, message, details=None, headers=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.headers = headers or {}

    def body(self):
        return error_body(self.code, self.message, self.details)


def error_body(code, message, details=None):
    return {"message": message, "code": code, "externalReference": None,
            "details": details or []}


def validation_error(details, message="Validation Error"):
    return ApiError(400, "validation_error", message, details)


def detail(param, description):
    return {"param": param, "description": description}


def new_id():
    """A fresh MongoDB-style ObjectId: 24 lowercase hex (time, random, counter)."""
    global _id_counter
    with _id_lock:
        _id_counter = (_id_counter + 1) & 0xFFFFFF
        counter = _id_counter
    ts = int(datetime.datetime.now(datetime.timezone.utc).timestamp())
    return "%08x%s%06x" % (ts & 0xFFFFFFFF, os.urandom(5).hex(), counter)


def now_iso():
    return fmt_iso(datetime.datetime.now(datetime.timezone.utc))


def fmt_iso(dt):
    dt = dt.astimezone(datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


_ISO_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|[+-]\d{2}:?\d{2})?)?$")


def parse_iso(value):
    """Parse an ISO 8601 date or date-time; returns an aware datetime or None."""
    if not isinstance(value, str):
        return None
    m = _ISO_RE.match(value.strip())
    if not m:
        return None
    y, mo, d, h, mi, s, frac, tz = m.groups()
    try:
        micro = int((frac or "0")[:6].ljust(6, "0"))
        tzinfo = datetime.timezone.utc
        if tz and tz != "Z":
            sign = -1 if tz[0] == "-" else 1
            digits = tz[1:].replace(":", "")
            tzinfo = datetime.timezone(sign * datetime.timedelta(
                hours=int(digits[:2]), minutes=int(digits[2:])))
        return datetime.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0),
                                 int(s or 0), micro, tzinfo=tzinfo)
    except ValueError:
        return None


def query_int(query, name, default, minimum, maximum=None):
    """Read an integer query parameter; 400 validation_error when invalid."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise validation_error([detail(name, "must be an integer")])
    if value < minimum or (maximum is not None and value > maximum):
        bound = "between %d and %d" % (minimum, maximum) if maximum is not None \
            else ">= %d" % minimum
        raise validation_error([detail(name, "must be %s" % bound)])
    return value


def query_enum(query, name, allowed):
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    if raw not in allowed:
        raise validation_error([detail(name, "must be one of: %s" % ", ".join(allowed))])
    return raw


def paginate(rows, query):
    """Apply offset/limit (limit max 100, default 100) to rows;
    returns (page, {"limit", "offset", "total"})."""
    offset = query_int(query, "offset", 0, 0)
    limit = query_int(query, "limit", 100, 1, 100)
    return rows[offset:offset + limit], {"limit": limit, "offset": offset,
                                         "total": len(rows)}


def sort_rows(rows, key_fn, order):
    """Stable sort; rows whose key is None go last."""
    present = [r for r in rows if key_fn(r) is not None]
    missing = [r for r in rows if key_fn(r) is None]
    present.sort(key=key_fn, reverse=(order == "desc"))
    return present + missing
