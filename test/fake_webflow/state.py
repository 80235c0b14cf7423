# In-memory state of the Webflow Data API v2 fake, loaded from test/fixture.json:
# tokens, sites, collections, items (one row per item id and CMS locale, with a
# staged version and an optional live snapshot), comments, webhooks, config.
import copy
import json
import threading
from collections import OrderedDict

from .util import ApiError, OBJECTID_RE, now_iso

DEFAULT_CONFIG = {
    # requests per minute and token; 0 = unlimited
    "rate_limit": 0,
    # value reported in X-RateLimit-Limit while rate_limit is 0
    "unlimited_report": 1000000,
    # reject a PATCH that re-sends the item's own unchanged slug (real Webflow quirk)
    "strict_patch_slug": True,
    # successful site publishes allowed per minute and site; 0 = unlimited
    "site_publish_per_minute": 1,
}

ITEM_KEYS = ("id", "cmsLocaleId", "lastPublished", "lastUpdated", "createdOn",
             "isArchived", "isDraft", "fieldData")


class Store:
    """All mutable state; every access happens under self.lock."""

    def __init__(self, fixture_path):
        self.fixture_path = fixture_path
        self.lock = threading.RLock()
        self.reset()

    # ---- loading -------------------------------------------------------
    def reset(self):
        with open(self.fixture_path, encoding="utf-8") as fh:
            fx = json.load(fh)
        with self.lock:
            self.tokens = copy.deepcopy(fx["tokens"])
            self.application = copy.deepcopy(fx.get("application", {}))
            self.config = dict(DEFAULT_CONFIG)
            self.config.update(fx.get("config", {}))
            self.sites = OrderedDict((s["id"], copy.deepcopy(s)) for s in fx["sites"])
            self.collections = OrderedDict()
            self.items = {}
            for c in fx["collections"]:
                self.collections[c["id"]] = copy.deepcopy(c)
                self.items[c["id"]] = OrderedDict()
            for it in fx.get("items", []):
                self._load_item(copy.deepcopy(it))
            self.comments = [copy.deepcopy(t) for t in fx.get("comments", [])]
            self.webhooks = OrderedDict((w["id"], copy.deepcopy(w))
                                        for w in fx.get("webhooks", []))
            self.site_publishes = {}
            self._slug_index = {}

    def _load_item(self, it):
        cid = it.pop("collectionId")
        now = now_iso()
        row = {
            "id": it["id"],
            "cmsLocaleId": it.get("cmsLocaleId") or self.primary_locale(cid),
            "createdOn": it.get("createdOn", now),
            "lastUpdated": it.get("lastUpdated", now),
            "lastPublished": it.get("lastPublished"),
            "isArchived": it.get("isArchived", False),
            "isDraft": it.get("isDraft", False),
            "fieldData": it["fieldData"],
            "live": None,
        }
        if it.get("live"):
            row["lastPublished"] = row["lastPublished"] or row["lastUpdated"]
            row["live"] = self.snapshot(row)
        self.items[cid][(row["id"], row["cmsLocaleId"])] = row

    # ---- lookups (raise 404s with the spec's codes) -----------------------
    @staticmethod
    def check_id(value):
        if not OBJECTID_RE.match(value):
            raise ApiError(400, "validation_error",
                           "Validation Error: Provided ID is invalid",
                           [{"param": "id", "description": "Provided ID is invalid: '%s'"
                             % value}])

    def site(self, site_id):
        self.check_id(site_id)
        s = self.sites.get(site_id)
        if s is None:
            raise ApiError(404, "resource_not_found",
                           "Requested resource not found: The site cannot be found")
        return s

    def collection(self, cid):
        self.check_id(cid)
        c = self.collections.get(cid)
        if c is None:
            raise ApiError(404, "collection_not_found",
                           "Requested resource not found: The collection cannot be found")
        return c

    def site_locales(self, site_id):
        loc = self.sites[site_id].get("locales") or {}
        out = [loc["primary"]["cmsLocaleId"]] if loc.get("primary") else []
        return out + [x["cmsLocaleId"] for x in loc.get("secondary") or []]

    def primary_locale(self, cid):
        return self.site_locales(self.collections[cid]["siteId"])[0]

    def rows(self, cid, item_id=None, locales=None):
        """Rows of a collection (all, or one item's), in the given locales (None: all)."""
        if item_id is not None:  # direct lookups: collections may hold many items
            site_locales = self.site_locales(self.collections[cid]["siteId"])
            return [self.items[cid][(item_id, loc)] for loc in site_locales
                    if (locales is None or loc in locales) and (item_id, loc) in self.items[cid]]
        return [row for (_iid, loc), row in self.items[cid].items()
                if locales is None or loc in locales]

    def item_exists(self, cid, item_id):
        return cid in self.items and bool(self.rows(cid, item_id))

    def touch(self, cid):
        """Call after changing a collection's items: drops its slug index."""
        self._slug_index.pop(cid, None)

    def slug_owner(self, cid, slug, locale):
        """Id of the item that has this slug (staged) in that locale, or None."""
        index = self._slug_index.get(cid)
        if index is None:
            index = self._slug_index[cid] = {
                (row["fieldData"].get("slug"), loc): iid
                for (iid, loc), row in self.items[cid].items()}
        return index.get((slug, locale))

    # ---- serialization -------------------------------------------------
    @staticmethod
    def snapshot(row):
        return {"fieldData": copy.deepcopy(row["fieldData"]),
                "isArchived": row["isArchived"], "isDraft": row["isDraft"],
                "lastUpdated": row["lastUpdated"]}

    @staticmethod
    def staged_json(row):
        return {k: copy.deepcopy(row[k]) for k in ITEM_KEYS}

    @staticmethod
    def live_json(row):
        live = row["live"]
        out = Store.staged_json(row)
        out.update({"fieldData": copy.deepcopy(live["fieldData"]),
                    "isArchived": live["isArchived"], "isDraft": live["isDraft"],
                    "lastUpdated": live["lastUpdated"]})
        return out

    @staticmethod
    def admin_json(row, cid):
        out = Store.staged_json(row)
        out["collectionId"] = cid
        out["isLive"] = row["live"] is not None
        out["liveFieldData"] = copy.deepcopy(row["live"]["fieldData"]) if row["live"] else None
        return out
