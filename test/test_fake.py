#!/usr/bin/env python3
# Self-test of the Webflow Data API v2 fake (test/webflow_fake.py): every
# endpoint, validation, slug uniqueness, pagination, faults, rate limiting,
# keep-alive, and (when test/node_modules has Prism) the spec-validating Prism
# proxy in front of the fake. Stdlib only:  python3 test/test_fake.py
# Uses a fake (and Prism) of its own, unless WEBFLOW_FAKE_URL/WEBFLOW_FAKE_ADMIN
# (and WEBFLOW_PRISM_URL) point at running ones, e.g. from `test/services start`.
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(os.path.dirname(HERE), "..", "shared")
SITE = "580e63e98c9a982ac9b8b741"
CAREERS_SITE, POSITIONS = "580e63e98c9a982ac9b8b742", "580e63fc8c9a982ac9b8b749"
JOBS, BOOKS, AUTHORS, TAGS = ("580e63fc8c9a982ac9b8b745", "580e63fc8c9a982ac9b8b746",
                              "580e63fc8c9a982ac9b8b747", "580e63fc8c9a982ac9b8b748")
HITCHHIKER = "42b720ef280c7a7a3be8cabe"
RESTAURANT = "42b720ef280c7a7a3be8cac0"
DOUGLAS, SCIFI, COMEDY = ("62b720ef280c7a7a3be8cab0", "62b720ef280c7a7a3be8cab1",
                          "62b720ef280c7a7a3be8cab2")
FICTION = "62b720ef280c7a7a3be8cabf"
PRIMARY, FRENCH = "653ad57de882f528b32e810e", "653ad57de882f528b32e810f"
DOMAIN = "589a331aa51e760df7ccb89d"
THREAD = "679d2ddb5196117ad04d1f01"
WEBHOOK = "57ca0a9e418c504a6e1acbb6"
ID_RE = re.compile(r"^[0-9a-f]{24}$")
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ITEM_KEYS = {"id", "cmsLocaleId", "lastPublished", "lastUpdated", "createdOn",
             "isArchived", "isDraft", "fieldData"}

FAKE = ADMIN = PRISM = None
_procs = []


def _wait_port(path, proc, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if os.path.exists(path):
            with open(path) as fh:
                text = fh.read().strip()
            if text:
                return int(text)
        if proc.poll() is not None:
            raise RuntimeError("process exited early")
        time.sleep(0.05)
    raise RuntimeError("timed out waiting for " + path)


def setUpModule():
    global FAKE, ADMIN, PRISM
    FAKE, ADMIN = os.environ.get("WEBFLOW_FAKE_URL"), os.environ.get("WEBFLOW_FAKE_ADMIN")
    PRISM = os.environ.get("WEBFLOW_PRISM_URL") or None
    if FAKE and ADMIN:
        return
    tmp = tempfile.mkdtemp(prefix="webflow-fake-test-")
    port_file = os.path.join(tmp, "fake.port")
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "webflow_fake.py"),
                             "--port", "0", "--fixture", os.path.join(HERE, "fixture.json"),
                             "--port-file", port_file], stdout=subprocess.DEVNULL)
    _procs.append(proc)
    port = _wait_port(port_file, proc)
    FAKE, ADMIN = "http://127.0.0.1:%d/v2" % port, "http://127.0.0.1:%d/_admin" % port
    prism = os.path.join(HERE, "node_modules", ".bin", "prism")
    spec = os.path.join(SHARED, "webflow-openapi", "v2.prism-mock.json")
    if PRISM is None and os.path.exists(prism) and os.path.exists(spec):
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            pport = s.getsockname()[1]
        with open(os.path.join(tmp, "prism.log"), "w") as log:
            _procs.append(subprocess.Popen(
                [prism, "proxy", "--errors", "-h", "127.0.0.1", "-p", str(pport), spec,
                 "http://127.0.0.1:%d" % port], stdout=log, stderr=log))
        PRISM = "http://127.0.0.1:%d/v2" % pport


def tearDownModule():
    for p in _procs:
        p.terminate()
        p.wait(10)


def call(method, path, body=None, token="test-token", base=None, raw=None, headers=None):
    """-> (status, headers, parsed JSON body or None)."""
    url = (base or FAKE) + path
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            status, hdrs, text = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        status, hdrs, text = err.code, err.headers, err.read()
    return status, hdrs, (json.loads(text) if text else None)


def admin(method, path, body=None):
    return call(method, path, body, token=None, base=ADMIN)[2]


def job(slug, **extra):
    return dict({"fieldData": {"name": slug.title(), "slug": slug, "department": "Data"}},
                **extra)


class Base(unittest.TestCase):
    def setUp(self):
        admin("POST", "/reset")

    def assertError(self, resp, status, code):
        st, _h, body = resp
        self.assertEqual(st, status, body)
        self.assertEqual(set(body), {"message", "code", "externalReference", "details"})
        self.assertEqual(body["code"], code, body)
        return body

    def assertItem(self, item):
        self.assertEqual(set(item), ITEM_KEYS)
        self.assertRegex(item["id"], ID_RE)
        for key in ("createdOn", "lastUpdated"):
            self.assertRegex(item[key], TS_RE)


class AuthAndSites(Base):
    def test_auth(self):
        body = self.assertError(call("GET", "/sites", token=None), 401, "not_authorized")
        self.assertEqual(body["details"], [])
        self.assertIsNone(body["externalReference"])
        self.assertError(call("GET", "/sites", token="nope"), 401, "not_authorized")
        self.assertEqual(call("GET", "/sites", token="readonly-token")[0], 200)
        body = self.assertError(call("POST", "/collections/%s/items" % JOBS, job("a"),
                                     token="readonly-token"), 403, "missing_scopes")
        self.assertIn("cms:write", body["message"])
        self.assertEqual(body["details"], [{"param": "scope", "description": "cms:write"}])
        self.assertError(call("GET", "/token/authorized_by", token="readonly-token"),
                         403, "missing_scopes")

    def test_token(self):
        st, _h, me = call("GET", "/token/authorized_by")
        self.assertEqual((st, set(me)), (200, {"id", "email", "firstName", "lastName"}))
        st, _h, info = call("GET", "/token/introspect", token="readonly-token")
        self.assertEqual(st, 200)
        self.assertEqual(info["authorization"]["scope"], "sites:read,cms:read")
        self.assertEqual(info["authorization"]["authorizedTo"]["siteIds"], [SITE])

    def test_sites(self):
        st, _h, body = call("GET", "/sites")
        self.assertEqual((st, [s["id"] for s in body["sites"]]), (200, [SITE]))
        st, _h, site = call("GET", "/sites/" + SITE)
        self.assertEqual(site["locales"]["primary"]["cmsLocaleId"], PRIMARY)
        self.assertError(call("GET", "/sites/" + "0" * 24), 404, "resource_not_found")
        self.assertError(call("GET", "/sites/nope"), 400, "validation_error")
        st, _h, doms = call("GET", "/sites/%s/custom_domains" % SITE)
        self.assertEqual(len(doms["customDomains"]), 2)

    def test_site_tokens(self):
        # a site token reaches its own site only (403 forbidden elsewhere)
        st, _h, body = call("GET", "/sites", token="careers-token")
        self.assertEqual((st, [s["id"] for s in body["sites"]]), (200, [CAREERS_SITE]))
        st, _h, info = call("GET", "/token/introspect", token="careers-token")
        self.assertEqual(info["authorization"]["authorizedTo"]["siteIds"], [CAREERS_SITE])
        self.assertError(call("GET", "/collections/" + JOBS, token="careers-token"), 403, "forbidden")
        self.assertError(call("GET", "/collections/%s/items" % JOBS, token="careers-token"),
                         403, "forbidden")
        self.assertError(call("GET", "/collections/" + POSITIONS), 403, "forbidden")
        self.assertError(call("GET", "/sites/%s/collections" % CAREERS_SITE), 403, "forbidden")
        st, _h, coll = call("GET", "/collections/" + POSITIONS, token="careers-token")
        self.assertEqual((st, coll["displayName"]), (200, "Positions"))

    def test_publish_site(self):
        path = "/sites/%s/publish" % SITE
        self.assertError(call("POST", path, {}), 400, "no_domains")
        self.assertError(call("POST", path, {"customDomains": ["0" * 24]}), 400,
                         "invalid_domain")
        call("PATCH", "/collections/%s/items/%s" % (BOOKS, RESTAURANT), {"isDraft": False})
        st, _h, body = call("POST", path, {"customDomains": [DOMAIN],
                                           "publishToWebflowSubdomain": True})
        self.assertEqual(st, 202, body)
        self.assertEqual(body["publishScope"], "site")
        self.assertEqual([d["id"] for d in body["customDomains"]], [DOMAIN])
        # the site publish made the staged, non-draft item live
        self.assertEqual(call("GET", "/collections/%s/items/%s/live"
                              % (BOOKS, RESTAURANT))[0], 200)
        st, hdrs, _b = call("POST", path, {"publishToWebflowSubdomain": True})
        self.assertEqual(st, 429)
        self.assertTrue(1 <= int(hdrs["Retry-After"]) <= 60)
        admin("POST", "/config", {"site_publish_per_minute": 0})
        self.assertEqual(call("POST", path, {"publishToWebflowSubdomain": True})[0], 202)

    def test_collections(self):
        st, _h, body = call("GET", "/sites/%s/collections" % SITE)
        self.assertEqual([c["id"] for c in body["collections"]], [JOBS, BOOKS, AUTHORS, TAGS])
        self.assertNotIn("fields", body["collections"][0])
        st, _h, books = call("GET", "/collections/" + BOOKS)
        self.assertEqual(st, 200)
        for f in books["fields"]:
            self.assertEqual(set(f), {"id", "isRequired", "isEditable", "type", "slug",
                                      "displayName", "helpText", "validations"})
        types = {f["slug"]: f["type"] for f in books["fields"]}
        self.assertEqual(types["tags"], "MultiReference")
        self.assertError(call("GET", "/collections/" + "0" * 24), 404, "collection_not_found")

    def test_unknown_routes(self):
        self.assertError(call("GET", "/nope"), 404, "resource_not_found")
        self.assertError(call("PUT", "/sites/" + SITE, {}), 404, "resource_not_found")
        st, _h, _b = call("GET", "/sites", base=FAKE.replace("/v2", ""))
        self.assertEqual(st, 404)


class Items(Base):
    def items(self, cid=JOBS, live=False, query=""):
        return call("GET", "/collections/%s/items%s%s" % (cid, "/live" if live else "", query))

    def test_live_create_get_patch_unpublish(self):
        path = "/collections/%s/items/live" % JOBS
        st, _h, item = call("POST", path, job("senior-data-analyst"))
        self.assertEqual(st, 202, item)
        self.assertItem(item)
        self.assertEqual((item["isDraft"], item["cmsLocaleId"]), (False, PRIMARY))
        self.assertRegex(item["lastPublished"], TS_RE)
        iid = item["id"]
        one = "/collections/%s/items/%s" % (JOBS, iid)
        self.assertEqual(call("GET", one + "/live")[2]["id"], iid)
        self.assertEqual(self.items(live=True)[2]["pagination"]["total"], 1)
        st, _h, upd = call("PATCH", one + "/live", {"fieldData": {"department": "Eng"}})
        self.assertEqual((st, upd["fieldData"]["department"]), (200, "Eng"))
        # re-sending the unchanged slug is rejected (real Webflow quirk) ...
        body = self.assertError(call("PATCH", one + "/live", {"fieldData": {
            "slug": "senior-data-analyst"}}), 400, "validation_error")
        self.assertEqual(body["details"], [{"param": "slug", "description":
                         "Unique value is already in database: 'senior-data-analyst'"}])
        # ... unless strict_patch_slug is off
        admin("POST", "/config", {"strict_patch_slug": False})
        self.assertEqual(call("PATCH", one, {"fieldData": {"slug": "senior-data-analyst"}})[0],
                         200)
        st, _h, bulk = call("PATCH", path, {"items": [{"id": iid, "fieldData": {
            "name": "Lead"}}]})
        self.assertEqual((st, bulk["items"][0]["fieldData"]["name"]), (200, "Lead"))
        st, hdrs, body = call("DELETE", one + "/live")
        self.assertEqual((st, body, hdrs["Content-Length"]), (204, None, "0"))
        self.assertError(call("GET", one + "/live"), 404, "item_not_found")
        self.assertTrue(call("GET", one)[2]["isDraft"])
        self.assertError(call("PATCH", one + "/live", {"isArchived": True}), 409, "conflict")
        self.assertError(call("PATCH", path, {"items": [{"id": "0" * 24}]}), 404,
                         "item_not_found")

    def test_live_multi_create_and_bulk_unpublish(self):
        path = "/collections/%s/items/live" % JOBS
        st, _h, body = call("POST", path, {"items": [job("a"), job("b"), job("c")]})
        self.assertEqual((st, len(body["items"])), (202, 3))
        ids = [i["id"] for i in body["items"]]
        self.assertError(call("DELETE", path, {"items": [{"id": ids[0]}, {"id": "0" * 24}]}),
                         404, "item_not_found")
        self.assertEqual(self.items(live=True)[2]["pagination"]["total"], 3)
        st, _h, _b = call("DELETE", path, {"items": [{"id": ids[0]}, {"id": ids[1]}]})
        self.assertEqual(st, 204)
        self.assertEqual([i["id"] for i in self.items(live=True)[2]["items"]], [ids[2]])
        self.assertEqual(self.items()[2]["pagination"]["total"], 3)

    def test_staged_create_publish_delete(self):
        path = "/collections/%s/items" % JOBS
        st, _h, item = call("POST", path, job("draft-one"))
        self.assertEqual((st, item["isDraft"], item["lastPublished"]), (202, True, None))
        st, _h, multi = call("POST", path, {"items": [job("two"), job("three")]})
        self.assertEqual((st, len(multi["items"])), (202, 2))
        self.assertEqual(self.items(live=True)[2]["items"], [])
        ids = [item["id"]] + [i["id"] for i in multi["items"]]
        st, _h, pub = call("POST", path + "/publish", {"itemIds": ids[:2] + ["0" * 24]})
        self.assertEqual(st, 202)
        self.assertEqual(pub, {"publishedItemIds": ids[:2],
                               "errors": ["Staging item ID %s not found." % ("0" * 24)]})
        st, _h, pub = call("POST", path + "/publish", {"items": [{"id": ids[2]}]})
        self.assertEqual(pub["publishedItemIds"], [ids[2]])
        self.assertEqual(self.items(live=True)[2]["pagination"]["total"], 3)
        st, _h, upd = call("PATCH", path, {"items": [{"id": ids[0], "fieldData": {
            "department": "Ops"}}]})
        self.assertEqual((st, upd["items"][0]["fieldData"]["department"]), (200, "Ops"))
        live = call("GET", "%s/%s/live" % (path, ids[0]))[2]
        self.assertEqual(live["fieldData"]["department"], "Data")  # staged change only
        st, _h, single = call("PATCH", "%s/%s" % (path, ids[1]), {"isArchived": True})
        self.assertEqual((st, single["isArchived"]), (200, True))
        self.assertEqual(call("DELETE", "%s/%s" % (path, ids[0]))[0], 204)
        self.assertError(call("GET", "%s/%s" % (path, ids[0])), 404, "item_not_found")
        self.assertEqual(call("DELETE", path, {"items": [{"id": ids[1]}, {"id": ids[2]}]})[0],
                         204)
        self.assertEqual(self.items()[2]["items"], [])

    def test_bulk_multi_locale(self):
        st, _h, body = call("POST", "/collections/%s/items/bulk" % JOBS, {
            "cmsLocaleIds": [PRIMARY, FRENCH], "isDraft": False,
            "fieldData": [{"name": "A", "slug": "a"}, {"name": "B", "slug": "b"}]})
        self.assertEqual((st, len(body["items"])), (202, 4))
        a_en, a_fr = body["items"][:2]
        self.assertEqual((a_en["id"], a_en["cmsLocaleId"], a_fr["cmsLocaleId"]),
                         (a_fr["id"], PRIMARY, FRENCH))
        self.assertEqual(self.items()[2]["pagination"]["total"], 2)
        fr = self.items(query="?cmsLocaleId=" + FRENCH)[2]
        self.assertEqual(fr["pagination"]["total"], 2)
        st, _h, upd = call("PATCH", "/collections/%s/items/%s" % (JOBS, a_en["id"]),
                           {"cmsLocaleId": FRENCH, "fieldData": {"name": "Le A"}})
        self.assertEqual((st, upd["cmsLocaleId"], upd["fieldData"]["name"]),
                         (200, FRENCH, "Le A"))
        one = call("GET", "/collections/%s/items/%s" % (JOBS, a_en["id"]))[2]
        self.assertEqual(one["fieldData"]["name"], "A")
        body = self.assertError(call("POST", "/collections/%s/items/bulk" % JOBS, {
            "fieldData": {"name": "A", "slug": "a"}}), 400, "validation_error")
        self.assertEqual(body["details"][0]["param"], "slug")

    def test_validation(self):
        path = "/collections/%s/items/live" % JOBS
        body = self.assertError(call("POST", path, {"fieldData": {"name": "x"}}), 400,
                                "validation_error")
        self.assertEqual(body["details"][0]["param"], "fieldData.slug")
        body = self.assertError(call("POST", path, {"fieldData": {
            "name": "x", "slug": "x", "capacity": 3}}), 400, "validation_error")
        self.assertEqual(body["details"], [{"param": "capacity", "description":
                                            "Field not described in schema: undefined"}])
        batch = [job("ok-%d" % i) for i in range(5)]
        batch[3] = {"fieldData": {"name": "no slug"}}
        body = self.assertError(call("POST", path, {"items": batch}), 400, "validation_error")
        self.assertEqual(body["details"][0]["param"], "items[3].fieldData.slug")
        self.assertEqual(self.items()[2]["pagination"]["total"], 0)  # nothing created
        body = self.assertError(call("POST", path, {"items": [job("d"), job("d")]}), 400,
                                "validation_error")
        self.assertEqual(body["details"][0]["param"], "items[1].slug")
        self.assertError(call("POST", path, {"items": [job("n%d" % i) for i in range(101)]}),
                         400, "validation_error")
        self.assertEqual(call("POST", path, {"items": [job("n%d" % i) for i in range(100)]})[0],
                         202)
        body = self.assertError(call("POST", path, job("n7")), 400, "validation_error")
        self.assertEqual(body["details"], [{"param": "slug", "description":
                                            "Unique value is already in database: 'n7'"}])
        self.assertError(call("POST", path, raw=b"{not json"), 400, "bad_request")
        self.assertError(call("POST", path, {"fieldData": {"name": 5, "slug": "q"}}), 400,
                         "validation_error")

    def test_field_types(self):
        path = "/collections/%s/items" % BOOKS
        good = {"name": "Mostly Harmless", "slug": "mostly-harmless",
                "plain-text": "x", "rich-text": "<p>x</p>", "intro-video": "https://v",
                "official-site": "https://x", "contact-email": "a@b.c", "support-phone": "1",
                "answer-to-everything": 0, "price": 12.5, "release-date": "1992-10-01",
                "is-featured": False, "brand-color": "rgba(0, 0, 0, 0.5)",
                "category": FICTION, "author": DOUGLAS, "tags": [SCIFI, COMEDY],
                "main-image": {"url": "https://img/x.png", "alt": "x"},
                "image-gallery": [{"url": "https://img/1.png"}, {"fileId": "a" * 24}],
                "downloadable-asset": {"url": "https://files/x.pdf"}}
        st, _h, item = call("POST", path, {"fieldData": good})
        self.assertEqual(st, 202, item)
        fd = item["fieldData"]
        self.assertEqual(fd["release-date"], "1992-10-01T00:00:00.000Z")
        self.assertRegex(fd["main-image"]["fileId"], ID_RE)
        self.assertEqual(fd["main-image"]["alt"], "x")
        bad = {"plain-text": 1, "answer-to-everything": 1.5, "price": "12",
               "is-featured": "yes", "brand-color": "not-a-colour", "category": "Fiction",
               "author": SCIFI, "tags": [DOUGLAS], "main-image": "https://img/x.png",
               "image-gallery": {"url": "x"}, "release-date": "yesterday",
               "downloadable-asset": {"alt": "x"}, "contact-email": 5}
        for key, value in bad.items():
            body = self.assertError(call("POST", path, {"fieldData": {
                "name": "n", "slug": "s-" + key, key: value}}), 400, "validation_error")
            self.assertEqual(body["details"][0]["param"], "fieldData." + key, key)
        self.assertError(call("POST", path, {"fieldData": {
            "name": "n", "slug": "big", "answer-to-everything": 1000001}}), 400,
            "validation_error")
        # the spec's own example item is already in the fixture -> duplicate slug
        example = call("GET", "/collections/%s/items/%s" % (BOOKS, HITCHHIKER))[2]
        body = self.assertError(call("POST", path + "/live", {"fieldData": example[
            "fieldData"]}), 400, "validation_error")
        self.assertEqual(body["details"][0]["param"], "slug")

    def test_list_pagination_filters(self):
        path = "/collections/%s/items" % JOBS
        for slug in ("c", "a", "e", "b", "d"):
            call("POST", path, job(slug))
        st, _h, page = self.items(query="?offset=1&limit=2")
        self.assertEqual(page["pagination"], {"limit": 2, "offset": 1, "total": 5})
        self.assertEqual([i["fieldData"]["slug"] for i in page["items"]], ["a", "e"])
        st, _h, page = self.items(query="?sortBy=slug&sortOrder=desc")
        self.assertEqual([i["fieldData"]["slug"] for i in page["items"]],
                         ["e", "d", "c", "b", "a"])
        self.assertEqual(self.items(query="?slug=b")[2]["pagination"]["total"], 1)
        self.assertEqual(self.items(query="?name=B")[2]["items"][0]["fieldData"]["slug"], "b")
        for q in ("?limit=0", "?limit=101", "?offset=-1", "?limit=x", "?sortBy=id",
                  "?sortOrder=up", "?lastUpdated%5Bgte%5D=nope"):
            self.assertError(self.items(query=q), 400, "validation_error")
        self.assertEqual(self.items(query="?lastUpdated%5Bgte%5D=2000-01-01T00:00:00Z")[2][
            "pagination"]["total"], 5)
        self.assertEqual(self.items(query="?createdOn[lte]=2000-01-01T00:00:00.000Z")[2][
            "pagination"]["total"], 0)
        self.assertEqual(self.items(BOOKS, True, "?lastPublished[gte]=2000-01-01")[2][
            "pagination"]["total"], 1)


class CommentsAndWebhooks(Base):
    def test_comments(self):
        st, _h, body = call("GET", "/sites/%s/comments?limit=2" % SITE)
        self.assertEqual((st, body["pagination"]), (200, {"limit": 2, "offset": 0, "total": 3}))
        self.assertNotIn("replies", body["comments"][0])
        st, _h, thread = call("GET", "/sites/%s/comments/%s" % (SITE, THREAD))
        self.assertEqual((st, thread["id"]), (200, THREAD))
        st, _h, replies = call("GET", "/sites/%s/comments/%s/replies?sortOrder=desc"
                               % (SITE, THREAD))
        self.assertEqual(replies["pagination"]["total"], 2)
        self.assertEqual(replies["comments"][0]["commentId"], THREAD)
        self.assertError(call("GET", "/sites/%s/comments/%s" % (SITE, "0" * 24)), 404,
                         "resource_not_found")
        self.assertError(call("GET", "/sites/%s/comments" % SITE, token="readonly-token"),
                         403, "missing_scopes")

    def test_webhooks(self):
        path = "/sites/%s/webhooks" % SITE
        st, _h, body = call("GET", path)
        self.assertEqual((st, [w["id"] for w in body["webhooks"]]), (200, [WEBHOOK]))
        self.assertEqual(body["pagination"]["total"], 1)
        st, _h, hook = call("POST", path, {"triggerType": "collection_item_created",
                                           "url": "https://example.com/hook"})
        self.assertEqual(st, 201, hook)
        self.assertEqual(set(hook), {"id", "triggerType", "url", "workspaceId", "siteId",
                                     "filter", "lastTriggered", "createdOn"})
        self.assertError(call("POST", path, {"triggerType": "collection_item_created",
                                             "url": "https://x", "filter": {"name": "f"}}),
                         400, "incompatible_webhook_filter")
        self.assertEqual(call("POST", path, {"triggerType": "form_submission",
                                             "url": "https://x", "filter": {"name": "f"}})[0],
                         201)
        self.assertError(call("POST", path, {"triggerType": "nope", "url": "https://x"}),
                         400, "unsupported_webhook_trigger_type")
        self.assertEqual(call("GET", "/webhooks/" + hook["id"])[2], hook)
        self.assertEqual(call("DELETE", "/webhooks/" + hook["id"])[0], 204)
        self.assertError(call("GET", "/webhooks/" + hook["id"]), 404, "resource_not_found")


class FaultsAndLimits(Base):
    def test_rate_limit(self):
        st, hdrs, _b = call("GET", "/sites")
        self.assertEqual(hdrs["X-RateLimit-Limit"], "1000000")
        self.assertEqual(hdrs["X-RateLimit-Remaining"], "999999")
        admin("POST", "/config", {"rate_limit": 3})
        remaining = [call("GET", "/sites")[1]["X-RateLimit-Remaining"] for _ in range(3)]
        self.assertEqual(remaining, ["2", "1", "0"])
        st, hdrs, body = call("GET", "/sites")
        self.assertEqual(st, 429)
        self.assertEqual(body, {"message": "Too Many Requests", "code": "too_many_requests",
                                "externalReference": None, "details": []})
        self.assertTrue(1 <= int(hdrs["Retry-After"]) <= 60)
        self.assertEqual(hdrs["X-RateLimit-Limit"], "3")
        self.assertEqual(call("GET", "/sites", token="readonly-token")[0], 200)  # per token

    def test_status_faults(self):
        admin("POST", "/faults", [
            {"match": {"method": "GET", "path": "/sites$"}, "count": 2, "status": 500},
            {"match": {"path": "/custom_domains"}, "status": 429, "retry_after": 7},
            {"match": {"path": "/collections$"}, "status": 503, "raw": "<html>down</html>"}])
        self.assertEqual(len(admin("GET", "/faults")), 3)
        self.assertError(call("GET", "/sites"), 500, "internal_error")
        self.assertError(call("GET", "/sites"), 500, "internal_error")
        self.assertEqual(call("GET", "/sites")[0], 200)
        st, hdrs, body = call("GET", "/sites/%s/custom_domains" % SITE)
        self.assertEqual((st, hdrs["Retry-After"], body["code"]), (429, "7", "too_many_requests"))
        req = urllib.request.Request(FAKE + "/sites/%s/collections" % SITE)
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(req)
        self.assertEqual((cm.exception.code, cm.exception.read()), (503, b"<html>down</html>"))
        admin("POST", "/faults", {"status": 500})
        self.assertEqual(admin("DELETE", "/faults"), {"cleared": 1})
        self.assertEqual(call("GET", "/sites")[0], 200)
        st, _h, err = call("POST", "/faults", {"statuz": 500}, token=None, base=ADMIN)
        self.assertEqual(st, 400)

    def test_process_then_fail(self):
        admin("POST", "/faults", {"match": {"method": "POST"}, "status": 500, "process": True})
        self.assertEqual(call("POST", "/collections/%s/items/live" % JOBS, job("x"))[0], 500)
        self.assertEqual(len(admin("GET", "/items?collection=" + JOBS)), 1)

    def _raw_request(self, method, path, body):
        """-> (status, headers, body bytes) over a fresh http.client connection."""
        conn = http.client.HTTPConnection(FAKE.split("/")[2], timeout=10)
        try:
            conn.request(method, "/v2" + path, json.dumps(body), {
                "Authorization": "Bearer test-token", "Content-Type": "application/json"})
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read()
        finally:
            conn.close()

    def test_drop(self):
        path = "/collections/%s/items/live" % JOBS
        admin("POST", "/faults", [{"drop": True}, {"drop": True, "process": True}])
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self._raw_request("POST", path, job("lost"))
        self.assertEqual(admin("GET", "/items?collection=" + JOBS), [])
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self._raw_request("POST", path, job("made"))
        items = admin("GET", "/items?collection=" + JOBS)
        self.assertEqual([(i["fieldData"]["slug"], i["isLive"]) for i in items],
                         [("made", True)])
        self.assertEqual([e["status"] for e in admin("GET", "/log")], [None, None])

    def test_delay_and_malformed(self):
        admin("POST", "/faults", [{"match": {"path": "/sites$"}, "delay_ms": 300},
                                  {"match": {"method": "POST"}, "malformed": True}])
        t0 = time.time()
        self.assertEqual(call("GET", "/sites")[0], 200)
        self.assertGreaterEqual(time.time() - t0, 0.3)
        status, hdrs, text = self._raw_request("POST", "/collections/%s/items/live" % JOBS,
                                               job("m"))
        self.assertEqual(status, 202)
        self.assertEqual(int(hdrs["Content-Length"]), len(text))
        with self.assertRaises(ValueError):
            json.loads(text)
        self.assertEqual(len(admin("GET", "/items?collection=" + JOBS)), 1)  # processed

    def test_log_stats_keepalive(self):
        host = FAKE.split("/")[2]
        conn = http.client.HTTPConnection(host, timeout=10)
        hdrs = {"Authorization": "Bearer test-token", "Content-Type": "application/json"}
        conn.request("GET", "/v2/sites", headers=hdrs)
        self.assertEqual(conn.getresponse().read()[:9], b'{"sites":')
        conn.request("POST", "/v2/collections/%s/items" % JOBS,
                     json.dumps({"items": [job("k1"), job("k2")]}), hdrs)
        self.assertEqual(conn.getresponse().status, 202)
        conn.close()
        stats = admin("GET", "/stats")
        self.assertEqual((stats["connections"], stats["requests"]), (1, 2))
        log = admin("GET", "/log")
        self.assertEqual([(e["seq"], e["method"], e["status"]) for e in log],
                         [(1, "GET", 200), (2, "POST", 202)])
        self.assertEqual(log[0]["connection_id"], log[1]["connection_id"])
        self.assertEqual((log[1]["items_in_body"], log[0]["items_in_body"]), (2, None))
        self.assertEqual(log[1]["body"]["items"][0]["fieldData"]["slug"], "k1")
        self.assertEqual(len(admin("GET", "/log?since=1")), 1)
        call("GET", "/sites?limit=5")
        self.assertEqual(admin("GET", "/log")[-1]["query"], {"limit": "5"})
        self.assertEqual(admin("GET", "/stats")["connections"], 2)
        self.assertEqual(admin("DELETE", "/log"), {"cleared": 3})
        self.assertEqual(admin("GET", "/log"), [])

    def test_admin_items_and_reset(self):
        items = admin("GET", "/items?collection=" + BOOKS)
        self.assertEqual([(i["id"], i["isLive"]) for i in items],
                         [(HITCHHIKER, True), (RESTAURANT, False)])
        call("DELETE", "/collections/%s/items/%s" % (BOOKS, HITCHHIKER))
        self.assertEqual(len(admin("GET", "/items?collection=" + BOOKS)), 1)
        admin("POST", "/reset")
        self.assertEqual(len(admin("GET", "/items?collection=" + BOOKS)), 2)
        self.assertEqual(admin("GET", "/stats")["requests"], 0)


class ChaosFaults(Base):
    """Faults by request kind and query, refused connections, fault expiry,
    the tests' own requests (X-Fake-Actor) passing faults by, and the
    Designer's schema changes (Create Collection, Create/Update/Delete Field)."""

    def _fails(self, method, path, body=None, headers=None):
        with self.assertRaises((urllib.error.URLError, ConnectionError,
                                http.client.HTTPException)):
            call(method, path, body, headers=headers)

    def test_request_kinds(self):
        sys.dont_write_bytecode = True
        sys.path.insert(0, HERE)
        from fake_webflow.faults import request_kind
        c, i = "/v2/collections/" + JOBS, "/v2/collections/%s/items/%s" % (JOBS, "a" * 24)
        for method, path, query, kind in [
                ("GET", c, "", "get_collection"),
                ("GET", c + "/items", "offset=100&limit=100", "list_items"),
                ("GET", c + "/items/live", "limit=100", "list_live"),
                ("GET", c + "/items", "slug=x", "lookup_slug"),
                ("GET", c + "/items/live", "limit=1&slug=x", "lookup_slug"),
                ("GET", i, "", "get_item"), ("GET", i + "/live", "", "get_item"),
                ("POST", c + "/items/live", "skipInvalidFiles=true", "post_live"),
                ("POST", c + "/items", "", "post_staged"),
                ("POST", c + "/items/bulk", "", "post_staged"),
                ("PATCH", c + "/items/live", "", "patch_live"),
                ("PATCH", i + "/live", "", "patch_live"),
                ("PATCH", c + "/items", "", "patch_staged"), ("PATCH", i, "", "patch_staged"),
                ("DELETE", c + "/items/live", "", "delete_live"),
                ("DELETE", i + "/live", "", "delete_live"),
                ("DELETE", c + "/items", "", "delete_staged"), ("DELETE", i, "", "delete_staged"),
                ("POST", c + "/items/publish", "", "publish"),
                ("POST", c + "/fields", "", "schema"),
                ("POST", "/v2/sites/%s/collections" % SITE, "", "schema"),
                ("GET", "/v2/sites", "", "other")]:
            self.assertEqual(request_kind(method, path, query), kind, (method, path, query))

    def test_match_kind_and_query(self):
        c = "/collections/" + JOBS
        call("POST", c + "/items/live", job("k1"))
        admin("POST", "/faults", [{"match": {"kind": "lookup_slug"}, "status": 503},
                                  {"match": {"kind": ["publish", "get_item"]}, "status": 502},
                                  {"match": {"query": "(^|&)offset=7"}, "status": 500}])
        self.assertEqual(call("GET", c + "/items")[0], 200)
        self.assertEqual(call("GET", c + "/items?slug=k1")[0], 503)
        self.assertEqual(call("GET", c + "/items?slug=k1")[0], 200)
        self.assertEqual(call("GET", c + "/items?offset=7")[0], 500)
        self.assertEqual(call("POST", c + "/items/publish", {"itemIds": ["a" * 24]})[0], 502)
        log = admin("GET", "/log")
        self.assertEqual([(e["kind"], e["fault"] is not None) for e in log[1:]],
                         [("list_items", False), ("lookup_slug", True), ("lookup_slug", False),
                          ("list_items", True), ("publish", True)])
        self.assertEqual(log[0]["response_ids"], [call("GET", c + "/items")[2]["items"][0]["id"]])
        st, _h, err = call("POST", "/faults", {"match": {"kind": "nope"}, "status": 500},
                           token=None, base=ADMIN)
        self.assertEqual(st, 400, err)

    def test_actor_passes_faults_by(self):
        admin("POST", "/faults", {"status": 500})
        st, _h, _b = call("GET", "/sites", headers={"X-Fake-Actor": "designer"})
        self.assertEqual(st, 200)
        self.assertEqual(len(admin("GET", "/faults")), 1)
        self.assertEqual(call("GET", "/sites")[0], 500)
        self.assertEqual([(e["actor"], e["fault"]) for e in admin("GET", "/log")],
                         [("designer", None), (None, "status")])

    def test_ttl(self):
        admin("POST", "/faults", {"status": 500, "ttl_ms": 150, "name": "short"})
        self.assertEqual(len(admin("GET", "/faults")), 1)
        time.sleep(0.3)
        self.assertEqual(call("GET", "/sites")[0], 200)
        self.assertEqual(admin("GET", "/faults"), [])
        self.assertEqual([f["name"] for f in admin("GET", "/faults?expired=1")], ["short"])
        self.assertEqual(admin("GET", "/stats")["faults_expired"], 1)

    def test_refuse(self):
        c = "/collections/%s/items/live" % JOBS
        admin("POST", "/faults", {"match": {"kind": "post_live"}, "refuse_ms": 700,
                                  "name": "refused@post_live"})
        self.assertEqual(call("GET", "/sites")[0], 200)
        self._fails("POST", c, job("never"))
        self._fails("GET", "/sites")                  # a new connection: reset
        self.assertGreater(admin("GET", "/stats")["refusing_ms"], 0)   # admin is let in
        self.assertEqual(call("GET", "/sites", headers={"X-Fake-Actor": "t"})[0], 200)
        time.sleep(0.8)
        self.assertEqual(call("GET", "/sites")[0], 200)
        self.assertEqual(admin("GET", "/items?collection=" + JOBS), [])  # not processed
        log = admin("GET", "/log")
        self.assertEqual([(e["kind"], e["fault"], e["status"]) for e in log],
                         [("other", None, 200), ("post_live", "refused@post_live", None),
                          ("other", "refused", None), ("other", None, 200),
                          ("other", None, 200)])
        self.assertEqual(admin("GET", "/stats")["refused_connections"], 2)
        self.assertEqual(admin("POST", "/refuse", {"ms": 5000})["refusing_ms"] > 4000, True)
        self._fails("GET", "/sites")
        self.assertEqual(admin("POST", "/refuse", {"ms": 0}), {"refusing_ms": 0})
        self.assertEqual(call("GET", "/sites")[0], 200)
        # a kept-alive connection is reset at its next request
        host = FAKE.split("/")[2]
        conn = http.client.HTTPConnection(host, timeout=10)
        hdrs = {"Authorization": "Bearer test-token"}
        conn.request("GET", "/v2/sites", headers=hdrs)
        self.assertEqual(conn.getresponse().status, 200)
        admin("POST", "/refuse", {"ms": 2000})
        with self.assertRaises((ConnectionError, http.client.HTTPException)):
            conn.request("GET", "/v2/sites", headers=hdrs)
            conn.getresponse().read()
        conn.close()
        admin("POST", "/refuse", {"ms": 0})
        st, _h, err = call("POST", "/faults", {"refuse_ms": 10, "process": True},
                           token=None, base=ADMIN)
        self.assertEqual(st, 400)

    def test_phases_of_bad_bodies(self):
        c = "/collections/%s/items/live" % JOBS
        admin("POST", "/faults", [
            {"match": {"kind": "post_live"}, "malformed": True, "process": False},
            {"match": {"kind": "post_live"}, "status": 200, "raw": "<html>ok</html>",
             "process": True}])
        st, _h, text = FaultsAndLimits._raw_request(self, "POST", c, job("m1"))
        self.assertEqual((st, text), (200, b'{"items": ['))
        self.assertEqual(admin("GET", "/items?collection=" + JOBS), [])
        st, _h, text = FaultsAndLimits._raw_request(self, "POST", c, job("m2"))
        self.assertEqual((st, text), (200, b"<html>ok</html>"))
        self.assertEqual([i["fieldData"]["slug"] for i in admin("GET", "/items?collection=" + JOBS)],
                         ["m2"])

    def test_schema_changes(self):
        st, _h, coll = call("POST", "/sites/%s/collections" % SITE,
                            {"displayName": "Notes", "singularName": "Note",
                             "fields": [{"type": "PlainText", "displayName": "Body"}]})
        self.assertEqual(st, 200, coll)
        cid = coll["id"]
        self.assertEqual([f["slug"] for f in coll["fields"]], ["name", "slug", "body"])
        self.assertEqual(call("GET", "/collections/" + cid)[2]["fields"], coll["fields"])
        self.assertEqual(call("POST", "/sites/%s/collections" % SITE,
                              {"displayName": "Notes", "singularName": "Note"})[0], 409)
        c = "/collections/%s/items/live" % cid
        st, _h, item = call("POST", c, {"fieldData": {"name": "A", "slug": "a", "body": "b"}})
        self.assertEqual(st, 202, item)
        st, _h, field = call("POST", "/collections/%s/fields" % cid,
                             {"type": "PlainText", "displayName": "Designer note"})
        self.assertEqual((st, field["slug"], field["isRequired"]), (200, "designer-note", False))
        self.assertEqual(call("POST", "/collections/%s/fields" % cid,
                              {"type": "PlainText", "displayName": "Designer note"})[0], 409)
        self.assertEqual(call("PATCH", "/collections/%s/items/%s/live" % (cid, item["id"]),
                              {"fieldData": {"designer-note": "x"}})[0], 200)
        st, _h, upd = call("PATCH", "/collections/%s/fields/%s" % (cid, field["id"]),
                           {"isRequired": True})
        self.assertEqual((st, upd["isRequired"]), (200, True))
        self.assertError(call("POST", c, {"fieldData": {"name": "B", "slug": "b"}}),
                         400, "validation_error")
        call("PATCH", "/collections/%s/fields/%s" % (cid, field["id"]), {"isRequired": False})
        self.assertEqual(call("POST", c, {"fieldData": {"name": "B", "slug": "b"}})[0], 202)
        self.assertEqual(call("DELETE", "/collections/%s/fields/%s" % (cid, field["id"]))[0],
                         204)
        got = call("GET", "/collections/%s/items/%s/live" % (cid, item["id"]))[2]
        self.assertEqual(got["fieldData"], {"name": "A", "slug": "a", "body": "b"})
        self.assertEqual(call("DELETE", "/collections/%s/fields/%s"
                              % (cid, coll["fields"][0]["id"]))[0], 400)
        self.assertEqual(call("DELETE", "/collections/%s/fields/%s" % (cid, "f" * 24))[0], 404)
        self.assertEqual(call("POST", "/collections/%s/fields" % cid, {"type": "Nope",
                                                                       "displayName": "x"})[0],
                         400)
        admin("POST", "/reset")
        self.assertEqual(call("GET", "/collections/" + cid)[0], 404)


class ThroughPrism(Base):
    """Valid requests pass Prism's request and response validation (--errors)."""

    @classmethod
    def setUpClass(cls):
        if not PRISM:
            raise unittest.SkipTest("no Prism (test/node_modules missing or WITHOUT_PRISM)")
        deadline = time.time() + 30
        while True:
            try:
                call("GET", "/sites", base=PRISM)
                return
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)

    def ok(self, method, path, body=None, expect=None, token="test-token"):
        st, hdrs, resp = call(method, path, body, token=token, base=PRISM)
        self.assertNotIn("sl-violations", hdrs, "%s %s: %s" % (method, path,
                                                              hdrs.get("sl-violations")))
        if expect:
            self.assertEqual(st, expect, "%s %s -> %s %s" % (method, path, st, resp))
        return resp

    def test_all_endpoints(self):
        c, s = "/collections/" + JOBS, "/sites/" + SITE
        self.ok("GET", "/token/authorized_by", expect=200)
        self.ok("GET", "/token/introspect", expect=200)
        self.ok("GET", "/sites", expect=200)
        self.ok("GET", s, expect=200)
        self.ok("GET", s + "/custom_domains", expect=200)
        self.ok("POST", s + "/publish", {"customDomains": [DOMAIN]}, 202)
        self.ok("GET", s + "/collections", expect=200)
        self.ok("GET", "/collections/" + BOOKS, expect=200)
        self.ok("GET", "/collections/%s/items/live?limit=10&sortBy=name&sortOrder=asc"
                % BOOKS, expect=200)
        one = self.ok("POST", c + "/items/live", job("p1"), 202)
        self.ok("POST", c + "/items/live", {"items": [job("p2"), job("p3")]}, 202)
        self.ok("GET", c + "/items/live?offset=0&limit=100", expect=200)
        self.ok("GET", "%s/items/%s/live" % (c, one["id"]), expect=200)
        self.ok("PATCH", "%s/items/%s/live" % (c, one["id"]), {"fieldData": {"name": "P"}},
                200)
        self.ok("PATCH", c + "/items/live", {"items": [{"id": one["id"], "fieldData": {
            "department": "D"}}]}, 200)
        staged = self.ok("POST", c + "/items", job("s1"), 202)
        self.ok("POST", c + "/items", {"items": [job("s2")]}, 202)
        self.ok("POST", c + "/items/bulk", {"cmsLocaleIds": [PRIMARY, FRENCH],
                                            "fieldData": {"name": "B", "slug": "b"}}, 202)
        self.ok("GET", c + "/items?slug=s1", expect=200)
        self.ok("GET", "%s/items/%s" % (c, staged["id"]), expect=200)
        self.ok("PATCH", "%s/items/%s" % (c, staged["id"]), {"isArchived": False}, 200)
        self.ok("PATCH", c + "/items", {"items": [{"id": staged["id"], "fieldData": {
            "name": "S"}}]}, 200)
        self.ok("POST", c + "/items/publish", {"itemIds": [staged["id"]]}, 202)
        self.ok("POST", c + "/items/publish", {"items": [{"id": staged["id"]}]}, 202)
        self.ok("DELETE", "%s/items/%s/live" % (c, staged["id"]), expect=204)
        self.ok("DELETE", c + "/items/live", {"items": [{"id": one["id"]}]}, 204)
        self.ok("DELETE", "%s/items/%s" % (c, staged["id"]), expect=204)
        self.ok("DELETE", c + "/items", {"items": [{"id": one["id"]}]}, 204)
        self.ok("GET", s + "/comments", expect=200)
        self.ok("GET", "%s/comments/%s" % (s, THREAD), expect=200)
        self.ok("GET", "%s/comments/%s/replies" % (s, THREAD), expect=200)
        self.ok("GET", s + "/webhooks", expect=200)
        hook = self.ok("POST", s + "/webhooks", {"triggerType": "collection_item_changed",
                                                 "url": "https://example.com/h"}, 201)
        self.ok("GET", "/webhooks/" + hook["id"], expect=200)
        self.ok("DELETE", "/webhooks/" + hook["id"], expect=204)
        book = call("GET", "/collections/%s/items/%s" % (BOOKS, HITCHHIKER))[2]["fieldData"]
        book = dict(book, slug="hitchhikers-guide-2", name="Copy")
        self.ok("POST", "/collections/%s/items/live" % BOOKS, {"fieldData": book}, 202)
        # the fake's own error bodies pass too
        self.ok("POST", c + "/items/live", job("p2"), 400)
        self.ok("GET", "/collections/%s/items/%s" % (JOBS, "0" * 24), expect=404)
        self.ok("GET", "/sites", token="nope", expect=401)

    def test_invalid_requests_are_rejected(self):
        # prism proxy --errors answers an invalid request itself (not forwarded):
        # 422 application/problem+json with the violations in "validation"
        for path, body, word in [
                ("/collections/%s/items/live" % JOBS, {"fieldData": {"name": "x"}}, "slug"),
                ("/collections/%s/items" % JOBS, {"items": [{"fieldData": {"slug": "x"}}]},
                 "name"),
                ("/sites/%s/webhooks" % SITE, {"triggerType": "nope", "url": "https://x"},
                 "triggerType")]:
            st, hdrs, resp = call("POST", path, body, base=PRISM)
            self.assertEqual(st, 422, resp)
            self.assertEqual(hdrs["Content-Type"], "application/problem+json")
            self.assertIn(word, json.dumps(resp["validation"]))
        self.assertEqual(admin("GET", "/log"), [])  # none reached the fake

if __name__ == "__main__":
    unittest.main(verbosity=2)
