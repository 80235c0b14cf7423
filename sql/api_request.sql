-- api_request: the generic webflow.request() escape hatch.
SELECT wftest.reset();

SELECT jsonb_array_length(webflow.request('GET', '/sites')->'sites') AS sites;
SELECT webflow.request('get', '/collections/580e63fc8c9a982ac9b8b745')->>'slug' AS slug;
SELECT jsonb_array_length(r->'items') AS items, r->'pagination'->>'limit' AS "limit"
FROM webflow.request('GET', '/collections/580e63fc8c9a982ac9b8b746/items/live',
                     query => '{"limit": 1, "offset": 0}') r;
SELECT r->>'id' IS NOT NULL AS created
FROM webflow.request('POST', '/collections/580e63fc8c9a982ac9b8b745/items/live',
                     '{"fieldData": {"name": "Via request", "slug": "via-request"}}') r;
-- 204 returns NULL
SELECT webflow.request('DELETE', '/collections/580e63fc8c9a982ac9b8b745/items/live',
                       jsonb_build_object('items', jsonb_build_array(jsonb_build_object('id',
                         (SELECT i->>'id' FROM webflow.list_live_items('580e63fc8c9a982ac9b8b745') i))))) IS NULL AS no_content;
-- deepObject query parameters
SELECT wftest.clear_log();
SELECT jsonb_array_length(webflow.request('GET', '/collections/580e63fc8c9a982ac9b8b746/items',
         query => '{"lastUpdated": {"gte": "2000-01-01T00:00:00.000Z"}, "sortBy": "name"}')->'items') AS items;
SELECT path, query FROM wftest.requests();

-- refused before any request
SELECT wftest.error_of($$SELECT webflow.request('FETCH', '/sites')$$);
SELECT wftest.error_of($$SELECT webflow.request(NULL, '/sites')$$);
SELECT wftest.error_of($$SELECT webflow.request('GET', NULL)$$);
SELECT wftest.error_of($$SELECT webflow.request('GET', 'sites')$$);
SELECT wftest.error_of($$SELECT webflow.request('GET', '/../admin')$$);
SELECT wftest.error_of($$SELECT webflow.request('GET', '/sites/./x')$$);
SELECT wftest.error_of($$SELECT webflow.request('GET', '/sites//x')$$);
SELECT wftest.error_of($$SELECT webflow.request('GET', '/sites?x=1')$$);
SELECT wftest.error_of($$SELECT webflow.request('GET', '/sites#top')$$);
SELECT wftest.error_of($$SELECT webflow.request('GET', '/sites/%2e%2e')$$);
SELECT wftest.error_of($$SELECT webflow.request('GET', E'/sites\n')$$);
SELECT wftest.error_of($$SELECT webflow.request('GET', '/sites', '{}')$$);
SELECT wftest.error_of($$SELECT webflow.request('GET', '/sites', NULL, '[1]')$$);
SELECT wftest.error_of($$SELECT webflow.request('GET', '/sites', NULL, '{"a": {"b": {"c": 1}}}')$$);
