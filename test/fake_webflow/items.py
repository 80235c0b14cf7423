# CMS item endpoints of the Webflow Data API v2 fake: list/get/create/update/
# delete for staged items and live items, multi-locale bulk create, publish.
# Each handler takes (store, req) and returns (status, body); the caller holds
# store.lock. Multi-item requests are all-or-nothing: any invalid item -> 400,
# nothing changed.
from .fields import validate_field_data
from .util import (ApiError, detail, fmt_iso, new_id, now_iso, paginate, parse_iso,
                   query_enum, sort_rows, validation_error)

MAX_ITEMS = 100
SORT_FIELDS = ("createdOn", "lastPublished", "lastUpdated", "name", "slug")
DATE_FILTERS = ("createdOn", "lastPublished", "lastUpdated")


def item_not_found(item_id):
    return ApiError(404, "item_not_found",
                    "Requested resource not found: The item cannot be found",
                    [detail("id", "Item not found: '%s'" % item_id)])


def body_object(body):
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise validation_error([detail("body", "Request body must be a JSON object")])
    return body


def _item_list(body, key="items"):
    items = body.get(key)
    if not isinstance(items, list) or not items:
        raise validation_error([detail(key, "'%s' must be a non-empty array" % key)])
    if len(items) > MAX_ITEMS:
        raise validation_error([detail(key, "At most %d items are allowed per request, got %d"
                                       % (MAX_ITEMS, len(items)))])
    return items


def _check_flags(entry, prefix, details):
    for key in ("isArchived", "isDraft"):
        if key in entry and not isinstance(entry[key], bool):
            details.append(detail(prefix + key, "Value must be a boolean"))


def _locale(store, cid, value, param, details):
    if value is None:
        return store.primary_locale(cid)
    if value not in store.site_locales(store.collections[cid]["siteId"]):
        details.append(detail(param, "Unknown cmsLocaleId: '%s'" % value))
        return None
    return value


def _locales(store, cid, values, param, details):
    """cmsLocaleIds (list) or a comma-separated string -> list, or None for all."""
    if values is None:
        return None
    if isinstance(values, str):
        values = [v for v in values.split(",") if v]
    if not isinstance(values, list):
        details.append(detail(param, "Value must be an array of cmsLocaleIds"))
        return None
    known = store.site_locales(store.collections[cid]["siteId"])
    for v in values:
        if v not in known:
            details.append(detail(param, "Unknown cmsLocaleId: '%s'" % v))
    return values


def _unique_slug_error(prefix, slug):
    return detail(prefix + "slug", "Unique value is already in database: '%s'" % slug)


def _apply_field_data(row, field_data):
    for key, value in field_data.items():
        if value is None:
            row["fieldData"].pop(key, None)
        else:
            row["fieldData"][key] = value


# ---- reads -------------------------------------------------------------
def list_items(store, req, live):
    """Filter, sort and page on the stored rows; only the page is rendered."""
    cid = req.params["collection_id"]
    store.collection(cid)
    q = req.query
    details = []
    locales = _locales(store, cid, q.get("cmsLocaleId") or None, "cmsLocaleId", details)
    if details:
        raise validation_error(details)
    rows = store.rows(cid, locales=locales or [store.primary_locale(cid)])
    if live:
        rows = [r for r in rows if r["live"] is not None]

    def value(row, key):  # the value the rendered item shows
        src = row["live"] if live else row
        if key in ("name", "slug"):
            return src["fieldData"].get(key)
        return src["lastUpdated"] if key == "lastUpdated" else row[key]

    for key in ("name", "slug"):
        if q.get(key):
            rows = [r for r in rows if value(r, key) == q[key]]
    for key in DATE_FILTERS:
        for op in ("gte", "lte"):
            raw = q.get("%s[%s]" % (key, op))
            if not raw:
                continue
            bound = parse_iso(raw)
            if bound is None:
                raise validation_error([detail("%s[%s]" % (key, op),
                                               "Value must be an ISO 8601 date-time")])
            bound = fmt_iso(bound)  # stored timestamps share this format: compare strings
            rows = [r for r in rows if value(r, key) is not None and (
                value(r, key) >= bound if op == "gte" else value(r, key) <= bound)]
    sort_by = query_enum(q, "sortBy", SORT_FIELDS)
    order = query_enum(q, "sortOrder", ("asc", "desc")) or "asc"
    if sort_by or order == "desc":
        key = sort_by or "createdOn"
        rows = sort_rows(rows, lambda r: value(r, key), order)
    page, pagination = paginate(rows, q)
    render = store.live_json if live else store.staged_json
    return 200, {"items": [render(r) for r in page], "pagination": pagination}


def get_item(store, req, live):
    cid, iid = req.params["collection_id"], req.params["item_id"]
    store.collection(cid)
    store.check_id(iid)
    wanted = (req.query.get("cmsLocaleId") or "").split(",")[0] or store.primary_locale(cid)
    row = store.items[cid].get((iid, wanted))
    if row is None and not req.query.get("cmsLocaleId"):
        rows = store.rows(cid, iid)
        row = rows[0] if rows else None
    if row is None or (live and row["live"] is None):
        raise item_not_found(iid)
    return 200, (store.live_json(row) if live else store.staged_json(row))


# ---- creates -----------------------------------------------------------
def create_items(store, req, live):
    """POST /items and /items/live: a single item, or {"items": [...]}."""
    cid = req.params["collection_id"]
    coll = store.collection(cid)
    body = body_object(req.body)
    multi = "items" in body
    if multi:
        if "fieldData" in body:
            raise validation_error([detail("items", "Send either fieldData or items, not both")])
        entries = _item_list(body)
    else:
        entries = [body]
    details, prepared, pending = [], [], set()
    for i, entry in enumerate(entries):
        prefix = "items[%d]." % i if multi else ""
        if not isinstance(entry, dict):
            details.append(detail(prefix.rstrip(".") or "body", "Item must be an object"))
            continue
        if "fieldData" not in entry:
            details.append(detail(prefix + "fieldData", "Field 'fieldData' is required"))
            continue
        field_data, errs = validate_field_data(store, coll, entry["fieldData"], True,
                                               prefix, prefix + "fieldData.")
        details.extend(errs)
        _check_flags(entry, prefix, details)
        locale = _locale(store, cid, entry.get("cmsLocaleId"), prefix + "cmsLocaleId", details)
        if errs or locale is None:
            continue
        slug = field_data["slug"]
        if store.slug_owner(cid, slug, locale) or (slug, locale) in pending:
            details.append(_unique_slug_error(prefix, slug))
            continue
        pending.add((slug, locale))
        prepared.append((entry, field_data, locale))
    if details:
        raise validation_error(details)
    now = now_iso()
    rows = []
    for entry, field_data, locale in prepared:
        row = {"id": new_id(), "cmsLocaleId": locale, "createdOn": now, "lastUpdated": now,
               "lastPublished": now if live else None,
               "isArchived": entry.get("isArchived", False),
               "isDraft": entry.get("isDraft", not live),
               "fieldData": {k: v for k, v in field_data.items() if v is not None},
               "live": None}
        if live:
            row["live"] = store.snapshot(row)
        store.items[cid][(row["id"], locale)] = row
        rows.append(row)
    store.touch(cid)
    render = store.live_json if live else store.staged_json
    if multi:
        return 202, {"items": [render(r) for r in rows]}
    return 202, render(rows[0])


def create_bulk(store, req):
    """POST /items/bulk: fieldData object or array, created in every cmsLocaleIds
    locale (default: primary); each item keeps one id across its locales."""
    cid = req.params["collection_id"]
    coll = store.collection(cid)
    body = body_object(req.body)
    details = []
    if "fieldData" not in body:
        raise validation_error([detail("fieldData", "Field 'fieldData' is required")])
    multi = isinstance(body["fieldData"], list)
    entries = _item_list(body, "fieldData") if multi else [body["fieldData"]]
    locales = _locales(store, cid, body.get("cmsLocaleIds"), "cmsLocaleIds", details) \
        or [store.primary_locale(cid)]
    _check_flags(body, "", details)
    prepared, pending = [], set()
    for i, fd in enumerate(entries):
        prefix = "fieldData[%d]." % i if multi else ""
        field_data, errs = validate_field_data(store, coll, fd, True, prefix,
                                               prefix if multi else "fieldData.")
        details.extend(errs)
        if errs:
            continue
        slug = field_data["slug"]
        for loc in locales:
            if store.slug_owner(cid, slug, loc) or (slug, loc) in pending:
                details.append(_unique_slug_error(prefix, slug))
                break
            pending.add((slug, loc))
        prepared.append(field_data)
    if details:
        raise validation_error(details)
    now, out = now_iso(), []
    for field_data in prepared:
        iid = new_id()
        for loc in locales:
            row = {"id": iid, "cmsLocaleId": loc, "createdOn": now, "lastUpdated": now,
                   "lastPublished": None, "isArchived": body.get("isArchived", False),
                   "isDraft": body.get("isDraft", True),
                   "fieldData": {k: v for k, v in field_data.items() if v is not None},
                   "live": None}
            store.items[cid][(iid, loc)] = row
            out.append(store.staged_json(row))
    store.touch(cid)
    return 202, {"items": out}


# ---- updates -----------------------------------------------------------
def update_items(store, req, live, single=False):
    """PATCH /items, /items/live (bulk {"items": [...]}) and /items/{id}[/live]."""
    cid = req.params["collection_id"]
    coll = store.collection(cid)
    body = body_object(req.body)
    if single:
        store.check_id(req.params["item_id"])
        entries = [dict(body, id=req.params["item_id"])]
    else:
        entries = _item_list(body)
    strict = store.config.get("strict_patch_slug", True)
    details, plan, pending = [], [], set()
    for i, entry in enumerate(entries):
        prefix = "" if single else "items[%d]." % i
        if not isinstance(entry, dict):
            details.append(detail(prefix.rstrip("."), "Item must be an object"))
            continue
        iid = entry.get("id")
        if not isinstance(iid, str) or not iid:
            details.append(detail(prefix + "id", "Field 'id' is required"))
            continue
        _check_flags(entry, prefix, details)
        locale = _locale(store, cid, entry.get("cmsLocaleId"), prefix + "cmsLocaleId", details)
        if locale is None:
            continue
        row = store.items[cid].get((iid, locale))
        if row is None:
            others = store.rows(cid, iid)
            if not others:
                raise item_not_found(iid)
            # first write of a secondary-locale version: start from the primary one
            base = store.items[cid].get((iid, store.primary_locale(cid))) or others[0]
            row = dict(store.staged_json(base), cmsLocaleId=locale, live=None,
                       lastPublished=None)
        if live and row["live"] is None:
            raise ApiError(409, "conflict",
                           "Conflict: Conflict with server data: Live PATCH updates can't be "
                           "applied to items that have never been published",
                           [detail(prefix + "id", "Item not published: '%s'" % iid)])
        field_data = {}
        if "fieldData" in entry:
            field_data, errs = validate_field_data(store, coll, entry["fieldData"], False,
                                                   prefix, prefix + "fieldData.")
            details.extend(errs)
            if errs:
                continue
            slug = field_data.get("slug")
            if slug is not None:
                owner = store.slug_owner(cid, slug, locale)
                if (owner and (owner != iid or strict)) or (slug, locale) in pending:
                    details.append(_unique_slug_error(prefix, slug))
                    continue
                pending.add((slug, locale))
        plan.append((row, entry, field_data))
    if details:
        raise validation_error(details)
    now = now_iso()
    out = []
    for row, entry, field_data in plan:
        _apply_field_data(row, field_data)
        for key in ("isArchived", "isDraft"):
            if key in entry:
                row[key] = entry[key]
        row["lastUpdated"] = now
        if live:
            row["lastPublished"] = now
            row["live"] = store.snapshot(row)
        store.items[cid][(row["id"], row["cmsLocaleId"])] = row
        out.append(store.live_json(row) if live else store.staged_json(row))
    store.touch(cid)
    if single:
        return 200, out[0]
    if live:
        return 200, {"items": out}
    return 200, {"items": out, "pagination": {"limit": len(out), "offset": 0,
                                              "total": len(out)}}


# ---- deletes / unpublish -------------------------------------------------
def delete_items(store, req, live, single=False):
    """DELETE /items, /items/live ({"items": [{id, cmsLocaleIds?}]}) and
    /items/{id}[/live] (query cmsLocaleId). live=True unpublishes (isDraft=true)."""
    cid = req.params["collection_id"]
    store.collection(cid)
    details, targets = [], []
    if single:
        iid = req.params["item_id"]
        store.check_id(iid)
        entries = [{"id": iid, "cmsLocaleIds": req.query.get("cmsLocaleId") or None}]
    else:
        entries = _item_list(body_object(req.body))
    for i, entry in enumerate(entries):
        prefix = "" if single else "items[%d]." % i
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            details.append(detail(prefix + "id", "Field 'id' is required"))
            continue
        locales = _locales(store, cid, entry.get("cmsLocaleIds"), prefix + "cmsLocaleIds",
                           details)
        targets.append((entry["id"], locales))
    if details:
        raise validation_error(details)
    for iid, locales in targets:
        if not store.rows(cid, iid, locales):
            raise item_not_found(iid)
    now = now_iso()
    for iid, locales in targets:
        for row in store.rows(cid, iid, locales):
            if live:
                row["live"] = None
                row["isDraft"] = True
                row["lastUpdated"] = now
            else:
                del store.items[cid][(row["id"], row["cmsLocaleId"])]
    store.touch(cid)
    return 204, None


def publish_items(store, req):
    """POST /items/publish: {"itemIds": [...]} or {"items": [{id, cmsLocaleIds?}]}."""
    cid = req.params["collection_id"]
    store.collection(cid)
    body = body_object(req.body)
    details, targets = [], []
    if ("itemIds" in body) == ("items" in body):
        raise validation_error([detail("itemIds", "Send either itemIds or items")])
    if "itemIds" in body:
        for i, iid in enumerate(_item_list(body, "itemIds")):
            if not isinstance(iid, str):
                details.append(detail("itemIds[%d]" % i, "Value must be an item id"))
            targets.append((iid, None))
    else:
        for i, entry in enumerate(_item_list(body)):
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                details.append(detail("items[%d].id" % i, "Field 'id' is required"))
                continue
            targets.append((entry["id"], _locales(store, cid, entry.get("cmsLocaleIds"),
                                                  "items[%d].cmsLocaleIds" % i, details)))
    if details:
        raise validation_error(details)
    now, published, errors = now_iso(), [], []
    for iid, locales in targets:
        rows = store.rows(cid, iid, locales) if isinstance(iid, str) else []
        if not rows:
            errors.append("Staging item ID %s not found." % iid)
            continue
        for row in rows:
            row["isDraft"] = False
            row["lastPublished"] = now
            row["live"] = store.snapshot(row)
        if iid not in published:
            published.append(iid)
    return 202, {"publishedItemIds": published, "errors": errors}
