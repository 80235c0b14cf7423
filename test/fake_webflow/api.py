# Routes of the Webflow Data API v2 fake (paths relative to /v2) with their
# required OAuth scopes, and the handlers for token, sites, collections (and
# their fields: create a collection, create, update and delete a field, as
# the Designer would), comments and webhooks (item handlers live in items.py).
import collections
import copy
import math
import re
import time

from . import items
from .util import (ApiError, detail, new_id, now_iso, paginate, query_enum,
                   sort_rows, validation_error)

Request = collections.namedtuple("Request", "params query body token")

TRIGGER_TYPES = (
    "form_submission", "site_publish", "page_created", "page_metadata_updated",
    "page_deleted", "ecomm_new_order", "ecomm_order_changed", "ecomm_inventory_changed",
    "collection_item_created", "collection_item_changed", "collection_item_deleted",
    "collection_item_published", "collection_item_unpublished", "comment_created")
MAX_WEBHOOKS_PER_TRIGGER = 75


# ---- token ----------------------------------------------------------------
def token_sites(store, token):
    """The ids of the sites a token reaches: its siteIds (a site token), else all."""
    ids = token.get("siteIds")
    return [s for s in store.sites if ids is None or s in ids]


def authorized_by(store, req):
    return 200, copy.deepcopy(req.token["user"])


def introspect(store, req):
    tok = req.token
    limit = store.config["rate_limit"] or store.config["unlimited_report"]
    return 200, {
        "authorization": {
            "id": tok["authorizationId"], "createdOn": tok.get("createdOn"),
            "lastUsed": now_iso(), "grantType": tok.get("grantType", "authorization_code"),
            "rateLimit": limit, "scope": ",".join(tok["scopes"]),
            "authorizedTo": {"siteIds": token_sites(store, tok),
                             "workspaceIds": sorted({store.sites[s]["workspaceId"]
                                                     for s in token_sites(store, tok)}),
                             "userIds": [tok["user"]["id"]]}},
        "application": copy.deepcopy(store.application)}


# ---- sites ----------------------------------------------------------------
def list_sites(store, req):
    return 200, {"sites": [copy.deepcopy(store.sites[s]) for s in token_sites(store, req.token)]}


def get_site(store, req):
    return 200, copy.deepcopy(store.site(req.params["site_id"]))


def custom_domains(store, req):
    site = store.site(req.params["site_id"])
    return 200, {"customDomains": copy.deepcopy(site.get("customDomains", []))}


def publish_site(store, req):
    site_id = req.params["site_id"]
    site = store.site(site_id)
    body = items.body_object(req.body)
    domains = body.get("customDomains", [])
    to_subdomain = body.get("publishToWebflowSubdomain", False)
    if not isinstance(domains, list) or not all(isinstance(d, str) for d in domains):
        raise validation_error([detail("customDomains", "Value must be an array of ids")])
    if not isinstance(to_subdomain, bool):
        raise validation_error([detail("publishToWebflowSubdomain", "Value must be a boolean")])
    if not domains and not to_subdomain:
        raise ApiError(400, "no_domains", "No domain IDs provided")
    known = {d["id"]: d for d in site.get("customDomains", [])}
    if any(d not in known for d in domains):
        raise ApiError(400, "invalid_domain", "Please send a valid custom domain ID")
    per_minute = store.config.get("site_publish_per_minute", 0)
    stamps = [t for t in store.site_publishes.get(site_id, []) if time.monotonic() - t < 60]
    if per_minute and len(stamps) >= per_minute:
        wait = max(1, math.ceil(60 - (time.monotonic() - stamps[0])))
        raise ApiError(429, "too_many_requests",
                       "Too Many Requests: a site can be published once per minute",
                       headers={"Retry-After": str(wait)})
    store.site_publishes[site_id] = stamps + [time.monotonic()]
    now = now_iso()
    site["lastPublished"] = now
    for d in domains:
        known[d]["lastPublished"] = now
    scope = "page" if body.get("pageId") else "site"
    if scope == "site":  # a site publish also publishes the staged CMS items
        for cid, coll in store.collections.items():
            if coll["siteId"] != site_id:
                continue
            for row in store.rows(cid):
                if row["isDraft"] or row["isArchived"]:
                    row["live"] = None
                else:
                    row["lastPublished"] = now
                    row["live"] = store.snapshot(row)
    return 202, {"customDomains": [copy.deepcopy(known[d]) for d in domains],
                 "publishToWebflowSubdomain": to_subdomain, "publishScope": scope}


# ---- collections ------------------------------------------------------------
COLLECTION_KEYS = ("id", "displayName", "singularName", "slug", "createdOn", "lastUpdated")


def list_collections(store, req):
    site_id = req.params["site_id"]
    store.site(site_id)
    return 200, {"collections": [{k: c.get(k) for k in COLLECTION_KEYS}
                                 for c in store.collections.values()
                                 if c["siteId"] == site_id]}


def get_collection(store, req):
    c = store.collection(req.params["collection_id"])
    out = {k: c.get(k) for k in COLLECTION_KEYS}
    out["fields"] = copy.deepcopy(c["fields"])
    return 200, out


FIELD_TYPES = ("PlainText", "RichText", "Image", "MultiImage", "VideoLink", "Link", "Email",
               "Phone", "Number", "DateTime", "Switch", "Color", "Option", "File",
               "Reference", "MultiReference")
STATIC_FIELDS = ("name", "slug")


def _slugify(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _new_field(coll, spec, param=""):
    """A field from a Create Field body (validated; its slug unique in the collection)."""
    if not isinstance(spec, dict):
        raise validation_error([detail(param or "body", "Field must be an object")])
    ftype, name = spec.get("type"), spec.get("displayName")
    details = []
    if ftype not in FIELD_TYPES:
        details.append(detail(param + "type", "Must be one of: " + ", ".join(FIELD_TYPES)))
    if not isinstance(name, str) or not name.strip():
        details.append(detail(param + "displayName", "Value must be a non-empty string"))
    for key in ("isRequired",):
        if key in spec and not isinstance(spec[key], bool):
            details.append(detail(param + key, "Value must be a boolean"))
    if "helpText" in spec and not isinstance(spec["helpText"], str):
        details.append(detail(param + "helpText", "Value must be a string"))
    if spec.get("validations") is not None and not isinstance(spec["validations"], dict):
        details.append(detail(param + "validations", "Value must be an object"))
    if details:
        raise validation_error(details)
    slug = spec.get("slug") or _slugify(name)
    if not isinstance(slug, str) or not re.match(r"^[a-z0-9][a-z0-9-]*$", slug):
        raise validation_error([detail(param + "slug", "Invalid field slug: %r" % (slug,))])
    if any(f["slug"] == slug for f in coll["fields"]):
        raise ApiError(409, "conflict", "Conflict: a field with slug '%s' exists" % slug,
                       [detail(param + "slug", "Field slug already in use: '%s'" % slug)])
    return {"id": new_id(), "isRequired": spec.get("isRequired", False), "isEditable": True,
            "type": ftype, "slug": slug, "displayName": name,
            "helpText": spec.get("helpText", ""), "validations": spec.get("validations")}


def create_collection(store, req):
    """POST /sites/{site_id}/collections: a new, empty collection (with name and slug)."""
    site_id = req.params["site_id"]
    store.site(site_id)
    body = items.body_object(req.body)
    details = []
    for key in ("displayName", "singularName"):
        if not isinstance(body.get(key), str) or not body[key].strip():
            details.append(detail(key, "Value must be a non-empty string"))
    if details:
        raise validation_error(details)
    slug = body.get("slug") or _slugify(body["displayName"])
    if any(c["slug"] == slug and c["siteId"] == site_id for c in store.collections.values()):
        raise ApiError(409, "conflict", "Conflict: a collection with slug '%s' exists" % slug)
    now = now_iso()
    coll = {"id": new_id(), "siteId": site_id, "displayName": body["displayName"],
            "singularName": body["singularName"], "slug": slug, "createdOn": now,
            "lastUpdated": now, "fields": [
                {"id": new_id(), "isRequired": True, "isEditable": True, "type": "PlainText",
                 "slug": "name", "displayName": "Name", "helpText": "", "validations": None},
                {"id": new_id(), "isRequired": True, "isEditable": True, "type": "PlainText",
                 "slug": "slug", "displayName": "Slug", "helpText": "", "validations": None}]}
    for i, spec in enumerate(body.get("fields") or []):
        coll["fields"].append(_new_field(coll, spec, "fields[%d]." % i))
    store.collections[coll["id"]] = coll
    store.items[coll["id"]] = collections.OrderedDict()
    out = {k: coll.get(k) for k in COLLECTION_KEYS}
    out["fields"] = copy.deepcopy(coll["fields"])
    return 200, out


def _field(store, req):
    coll = store.collection(req.params["collection_id"])
    store.check_id(req.params["field_id"])
    for f in coll["fields"]:
        if f["id"] == req.params["field_id"]:
            return coll, f
    raise ApiError(404, "resource_not_found",
                   "Requested resource not found: The field cannot be found")


def create_field(store, req):
    """POST /collections/{id}/fields: add a field (items have no value for it)."""
    coll = store.collection(req.params["collection_id"])
    field = _new_field(coll, items.body_object(req.body))
    coll["fields"].append(field)
    coll["lastUpdated"] = now_iso()
    return 200, copy.deepcopy(field)


def update_field(store, req):
    """PATCH /collections/{id}/fields/{field_id}: isRequired, displayName, helpText."""
    coll, field = _field(store, req)
    body = items.body_object(req.body)
    details = []
    if "isRequired" in body:
        if not isinstance(body["isRequired"], bool):
            details.append(detail("isRequired", "Value must be a boolean"))
        elif field["slug"] in STATIC_FIELDS and not body["isRequired"]:
            details.append(detail("isRequired", "The name and slug fields are always required"))
    for key in ("displayName", "helpText"):
        if key in body and not isinstance(body[key], str):
            details.append(detail(key, "Value must be a string"))
    if details:
        raise validation_error(details)
    for key in ("isRequired", "displayName", "helpText"):
        if key in body:
            field[key] = body[key]
    coll["lastUpdated"] = now_iso()
    return 200, copy.deepcopy(field)


def delete_field(store, req):
    """DELETE /collections/{id}/fields/{field_id}: the field and every item's value of it."""
    coll, field = _field(store, req)
    if field["slug"] in STATIC_FIELDS:
        raise ApiError(400, "validation_error", "The name and slug fields cannot be deleted")
    coll["fields"] = [f for f in coll["fields"] if f["id"] != field["id"]]
    cid = coll["id"]
    for row in store.rows(cid):
        row["fieldData"].pop(field["slug"], None)
        if row["live"] is not None:
            row["live"]["fieldData"].pop(field["slug"], None)
    store.touch(cid)
    coll["lastUpdated"] = now_iso()
    return 204, None


# ---- comments -------------------------------------------------------------
def _thread(store, req):
    site_id = req.params["site_id"]
    store.site(site_id)
    store.check_id(req.params["thread_id"])
    for t in store.comments:
        if t["id"] == req.params["thread_id"] and t["siteId"] == site_id:
            return t
    raise ApiError(404, "resource_not_found",
                   "Requested resource not found: The comment thread cannot be found")


def _comment_page(rows, query):
    if query.get("localeId"):
        rows = [r for r in rows if r.get("localeId") == query["localeId"]]
    sort_by = query_enum(query, "sortBy", ("createdOn", "lastUpdated"))
    order = query_enum(query, "sortOrder", ("asc", "desc")) or "asc"
    if sort_by or order == "desc":
        rows = sort_rows(rows, lambda r: r.get(sort_by or "createdOn"), order)
    page, pagination = paginate(rows, query)
    return {"comments": [copy.deepcopy(r) for r in page], "pagination": pagination}


def _thread_json(t):
    return {k: copy.deepcopy(v) for k, v in t.items() if k != "replies"}


def list_comments(store, req):
    site_id = req.params["site_id"]
    store.site(site_id)
    return 200, _comment_page([_thread_json(t) for t in store.comments
                               if t["siteId"] == site_id], req.query)


def get_comment(store, req):
    return 200, _thread_json(_thread(store, req))


def list_replies(store, req):
    return 200, _comment_page(list(_thread(store, req).get("replies", [])), req.query)


# ---- webhooks ---------------------------------------------------------------
def _webhook(store, req):
    store.check_id(req.params["webhook_id"])
    hook = store.webhooks.get(req.params["webhook_id"])
    if hook is None:
        raise ApiError(404, "resource_not_found",
                       "Requested resource not found: The webhook cannot be found")
    return hook


def list_webhooks(store, req):
    site_id = req.params["site_id"]
    store.site(site_id)
    rows = [copy.deepcopy(w) for w in store.webhooks.values() if w["siteId"] == site_id]
    page, pagination = paginate(rows, req.query)
    return 200, {"webhooks": page, "pagination": pagination}


def create_webhook(store, req):
    site_id = req.params["site_id"]
    site = store.site(site_id)
    body = items.body_object(req.body)
    trigger, url, flt = body.get("triggerType"), body.get("url"), body.get("filter")
    if trigger not in TRIGGER_TYPES:
        raise ApiError(400, "unsupported_webhook_trigger_type",
                       "Unsupported webhook triggerType: %r" % (trigger,),
                       [detail("triggerType", "Must be one of: " + ", ".join(TRIGGER_TYPES))])
    if not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url):
        raise validation_error([detail("url", "Value must be an http(s) URL")])
    if flt is not None:
        if trigger != "form_submission":
            raise ApiError(400, "incompatible_webhook_filter",
                           "Filters are only supported for the form_submission triggerType")
        if not isinstance(flt, dict) or not isinstance(flt.get("name"), str):
            raise validation_error([detail("filter.name", "Value must be a string")])
    same = [w for w in store.webhooks.values()
            if w["siteId"] == site_id and w["triggerType"] == trigger]
    if len(same) >= MAX_WEBHOOKS_PER_TRIGGER:
        raise validation_error([detail("triggerType", "At most %d webhooks per triggerType"
                                       % MAX_WEBHOOKS_PER_TRIGGER)])
    hook = {"id": new_id(), "triggerType": trigger, "url": url,
            "workspaceId": site["workspaceId"], "siteId": site_id,
            "filter": {"name": flt["name"]} if flt else None,
            "lastTriggered": None, "createdOn": now_iso()}
    store.webhooks[hook["id"]] = hook
    return 201, copy.deepcopy(hook)


def get_webhook(store, req):
    return 200, copy.deepcopy(_webhook(store, req))


def delete_webhook(store, req):
    del store.webhooks[_webhook(store, req)["id"]]
    return 204, None


# ---- routing ----------------------------------------------------------------
def _items(fn, **kw):
    return lambda store, req: fn(store, req, **kw)


_ID = r"(?P<%s>[^/]+)"
_ITEM = r"(?P<item_id>(?!live$|bulk$|publish$)[^/]+)"
_C = "/collections/" + _ID % "collection_id"
_S = "/sites/" + _ID % "site_id"

# (method, path regex relative to /v2, handler, required scope or None)
ROUTES = [
    ("GET", "/token/authorized_by", authorized_by, "authorized_user:read"),
    ("GET", "/token/introspect", introspect, None),
    ("GET", "/sites", list_sites, "sites:read"),
    ("GET", _S, get_site, "sites:read"),
    ("GET", _S + "/custom_domains", custom_domains, "sites:read"),
    ("POST", _S + "/publish", publish_site, "sites:write"),
    ("GET", _S + "/collections", list_collections, "cms:read"),
    ("GET", _S + "/comments", list_comments, "comments:read"),
    ("GET", _S + "/comments/" + _ID % "thread_id", get_comment, "comments:read"),
    ("GET", _S + "/comments/" + _ID % "thread_id" + "/replies", list_replies,
     "comments:read"),
    ("GET", _S + "/webhooks", list_webhooks, "sites:read"),
    ("POST", _S + "/webhooks", create_webhook, "sites:write"),
    ("GET", "/webhooks/" + _ID % "webhook_id", get_webhook, "sites:read"),
    ("DELETE", "/webhooks/" + _ID % "webhook_id", delete_webhook, "sites:write"),
    ("GET", _C, get_collection, "cms:read"),
    ("POST", _S + "/collections", create_collection, "cms:write"),
    ("POST", _C + "/fields", create_field, "cms:write"),
    ("PATCH", _C + "/fields/" + _ID % "field_id", update_field, "cms:write"),
    ("DELETE", _C + "/fields/" + _ID % "field_id", delete_field, "cms:write"),
    ("GET", _C + "/items", _items(items.list_items, live=False), "cms:read"),
    ("POST", _C + "/items", _items(items.create_items, live=False), "cms:write"),
    ("PATCH", _C + "/items", _items(items.update_items, live=False), "cms:write"),
    ("DELETE", _C + "/items", _items(items.delete_items, live=False), "cms:write"),
    ("GET", _C + "/items/live", _items(items.list_items, live=True), "cms:read"),
    ("POST", _C + "/items/live", _items(items.create_items, live=True), "cms:write"),
    ("PATCH", _C + "/items/live", _items(items.update_items, live=True), "cms:write"),
    ("DELETE", _C + "/items/live", _items(items.delete_items, live=True), "cms:write"),
    ("POST", _C + "/items/bulk", items.create_bulk, "cms:write"),
    ("POST", _C + "/items/publish", items.publish_items, "cms:write"),
    ("GET", _C + "/items/" + _ITEM, _items(items.get_item, live=False), "cms:read"),
    ("PATCH", _C + "/items/" + _ITEM, _items(items.update_items, live=False, single=True),
     "cms:write"),
    ("DELETE", _C + "/items/" + _ITEM, _items(items.delete_items, live=False, single=True),
     "cms:write"),
    ("GET", _C + "/items/" + _ITEM + "/live", _items(items.get_item, live=True), "cms:read"),
    ("PATCH", _C + "/items/" + _ITEM + "/live",
     _items(items.update_items, live=True, single=True), "cms:write"),
    ("DELETE", _C + "/items/" + _ITEM + "/live",
     _items(items.delete_items, live=True, single=True), "cms:write"),
]
_COMPILED = [(m, re.compile("^" + p + "/?$"), h, s) for m, p, h, s in ROUTES]


def match(method, path):
    """Find the route for a path relative to /v2: (handler, scope, params) or None."""
    for m, rx, handler, scope in _COMPILED:
        if m == method:
            hit = rx.match(path)
            if hit:
                return handler, scope, hit.groupdict()
    return None
