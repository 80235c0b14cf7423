-- api_items: live items: create (one, many, chunked), list with filters and
-- pagination, get, update, unpublish, and the errors of each.
SELECT wftest.reset();
\set jobs '''580e63fc8c9a982ac9b8b745'''

-- the two jobs of the Webflow documentation example, created live
CREATE TEMP TABLE created AS
SELECT * FROM webflow.create_live_items(:jobs, $$[
  {"isArchived": false, "isDraft": false,
   "fieldData": {"name": "Senior Data Analyst", "slug": "senior-data-analyst",
                 "url": "https://boards.greenhouse.io/webflow/jobs/26567701", "department": "Data"}},
  {"isArchived": false, "isDraft": false,
   "fieldData": {"name": "Product Manager", "slug": "product-manager",
                 "url": "https://boards.greenhouse.io/webflow/jobs/31234567", "department": "Product"}}
]$$) AS item;
SELECT item->'fieldData'->>'name' AS name, item->>'isDraft' AS draft,
       length(item->>'id') AS id_length, item->>'lastPublished' IS NOT NULL AS published
FROM created ORDER BY 1;

-- a single object is sent in the single-item shape and returns one row
SELECT item->'fieldData'->>'slug' AS slug
FROM webflow.create_live_items(:jobs, '{"fieldData": {"name": "Designer", "slug": "designer"}}') item;

-- list, filter, get
SELECT i->'fieldData'->>'name' AS name FROM webflow.list_live_items(:jobs) i ORDER BY 1;
SELECT i->'fieldData'->>'name' AS name
FROM webflow.list_live_items(:jobs, '{"slug": "product-manager"}') i;
SELECT i->'fieldData'->>'name' AS name
FROM webflow.list_live_items(:jobs, '{"sortBy": "name", "sortOrder": "desc"}') i;
SELECT count(*) FROM webflow.list_live_items(:jobs, '{"lastUpdated": {"gte": "2000-01-01T00:00:00.000Z"}}');
SELECT count(*) FROM webflow.list_live_items(:jobs, '{"createdOn": {"lte": "2000-01-01T00:00:00.000Z"}}');
SELECT webflow.get_live_item(:jobs, item->>'id')->'fieldData'->>'department' AS department
FROM created ORDER BY 1;

-- update: new department for one job
SELECT u->'fieldData'->>'department' AS department
FROM webflow.update_live_items(:jobs,
  (SELECT jsonb_agg(jsonb_build_object('id', item->>'id',
                                       'fieldData', jsonb_build_object('department', 'Analytics')))
   FROM created WHERE item->'fieldData'->>'slug' = 'senior-data-analyst')) u;

-- unpublish one: it leaves the live list
SELECT webflow.unpublish_live_items(:jobs,
  ARRAY(SELECT item->>'id' FROM created WHERE item->'fieldData'->>'slug' = 'product-manager'));
SELECT i->'fieldData'->>'name' AS name FROM webflow.list_live_items(:jobs) i ORDER BY 1;

-- 250 items go out as 100 + 100 + 50, and all 250 come back
SELECT wftest.clear_log();
SELECT count(*) FROM webflow.create_live_items(:jobs,
  (SELECT jsonb_agg(jsonb_build_object('fieldData',
            jsonb_build_object('name', 'Job ' || g, 'slug', 'job-' || g)))
   FROM generate_series(1, 250) g));
SELECT method, items, status FROM wftest.requests();

-- pagination is followed to the end: 252 live items in pages of 100
SELECT wftest.clear_log();
SELECT count(*), count(DISTINCT i->>'id') FROM webflow.list_live_items(:jobs) i;
SELECT method, query->>'offset' AS "offset", query->>'limit' AS "limit", status FROM wftest.requests();

-- an empty array sends nothing
SELECT wftest.clear_log();
SELECT count(*) FROM webflow.create_live_items(:jobs, '[]');
SELECT webflow.unpublish_live_items(:jobs, '{}');
SELECT count(*) FROM wftest.requests();

-- Webflow's own validation errors come back verbatim
SELECT * FROM wftest.error_full($$SELECT webflow.create_live_items('580e63fc8c9a982ac9b8b745', '{"fieldData": {"name": "Designer", "slug": "designer"}}')$$);
SELECT * FROM wftest.error_full($$SELECT webflow.create_live_items('580e63fc8c9a982ac9b8b745', '{"fieldData": {"name": "X", "slug": "x", "salary": 5}}')$$);
-- a failing chunk says which items were sent already
SELECT count(*) FROM webflow.create_live_items('580e63fc8c9a982ac9b8b745',
  (SELECT jsonb_agg(jsonb_build_object('fieldData', jsonb_build_object('name', 'Dup ' || g, 'slug', CASE WHEN g = 150 THEN 'job-1' ELSE 'dup-' || g END)))
   FROM generate_series(1, 200) g));
-- updating an item that is not live: 409
SELECT wftest.error_of($$SELECT webflow.update_live_items('580e63fc8c9a982ac9b8b746', '[{"id": "42b720ef280c7a7a3be8cac0", "fieldData": {"name": "Restaurant"}}]')$$);
SELECT wftest.error_of($$SELECT webflow.get_live_item('580e63fc8c9a982ac9b8b745', '42b720ef280c7a7a3be8ca99')$$);

-- refused before any request
SELECT wftest.clear_log();
SELECT wftest.error_of($$SELECT webflow.create_live_items('580e63fc8c9a982ac9b8b745', NULL)$$);
SELECT wftest.error_of($$SELECT webflow.create_live_items('580e63fc8c9a982ac9b8b745', '"text"')$$);
SELECT wftest.error_of($$SELECT webflow.create_live_items('580e63fc8c9a982ac9b8b745', '42')$$);
SELECT wftest.error_of($$SELECT webflow.create_live_items('580e63fc8c9a982ac9b8b745', '[{"fieldData": {"name": "a", "slug": "a"}}, 7]')$$);
SELECT wftest.error_of($$SELECT webflow.create_live_items('580e63fc8c9a982ac9b8b745', '[{"name": "a", "slug": "a"}]')$$);
SELECT wftest.error_of($$SELECT webflow.update_live_items('580e63fc8c9a982ac9b8b745', '[{"fieldData": {"name": "a"}}]')$$);
SELECT wftest.error_of($$SELECT webflow.update_live_items('580e63fc8c9a982ac9b8b745', '[{"id": "nope", "fieldData": {"name": "a"}}]')$$);
SELECT wftest.error_of($$SELECT webflow.create_live_items(NULL, '[]')$$);
SELECT wftest.error_of($$SELECT webflow.unpublish_live_items('580e63fc8c9a982ac9b8b745', NULL)$$);
SELECT wftest.error_of($$SELECT webflow.unpublish_live_items('580e63fc8c9a982ac9b8b745', ARRAY['x'])$$);
SELECT wftest.error_of($$SELECT webflow.unpublish_live_items('580e63fc8c9a982ac9b8b745', ARRAY[NULL])$$);
SELECT wftest.error_of($$SELECT webflow.unpublish_live_items('580e63fc8c9a982ac9b8b745', '{{a,b},{c,d}}')$$);
SELECT wftest.error_of($$SELECT webflow.list_live_items('580e63fc8c9a982ac9b8b745', '{"limit": 5}')$$);
SELECT wftest.error_of($$SELECT webflow.list_live_items('580e63fc8c9a982ac9b8b745', '[]')$$);
SELECT wftest.error_of($$SELECT webflow.list_live_items('580e63fc8c9a982ac9b8b745', '{"sortBy": "price"}')$$);
SELECT wftest.error_of($$SELECT webflow.list_live_items('580e63fc8c9a982ac9b8b745', '{"sortOrder": "up"}')$$);
SELECT wftest.error_of($$SELECT webflow.list_live_items('580e63fc8c9a982ac9b8b745', '{"slug": 5}')$$);
SELECT wftest.error_of($$SELECT webflow.list_live_items('580e63fc8c9a982ac9b8b745', '{"lastUpdated": "2024-01-01"}')$$);
SELECT wftest.error_of($$SELECT webflow.list_live_items('580e63fc8c9a982ac9b8b745', '{"lastUpdated": {"after": "2024-01-01"}}')$$);
SELECT count(*) AS requests_sent FROM wftest.requests();

-- NULL filter means no filter
SELECT count(*) FROM webflow.list_live_items(:jobs, NULL);

-- rows straight from a table, turned into items by item_payload options
CREATE TEMP TABLE job_rows (id int, name text, department text);
INSERT INTO job_rows VALUES (1, 'Row One', 'Ops'), (2, 'Row Two', 'Ops');
SELECT i->'fieldData'->>'slug' AS slug, i->'fieldData'->>'department' AS department
FROM webflow.create_live_items(:jobs, (SELECT jsonb_agg(to_jsonb(j)) FROM job_rows j),
                               options => '{"exclude": ["id"]}') i ORDER BY 1;
-- updated from rows that carry the item id in "id"
SELECT u->'fieldData'->>'name' AS name, u->'fieldData'->>'department' AS department
FROM webflow.update_live_items(:jobs,
  (SELECT jsonb_agg(jsonb_build_object('id', i->>'id', 'name', i->'fieldData'->>'name',
                                       'department', 'Platform'))
   FROM webflow.list_live_items(:jobs, '{"name": "Row One"}') i),
  options => '{}') u;
SELECT wftest.error_of($$SELECT webflow.update_live_items('580e63fc8c9a982ac9b8b745', '[{"name": "x"}]', options => '{}')$$);
SELECT wftest.error_of($$SELECT webflow.create_live_items('580e63fc8c9a982ac9b8b745', '[{"title": "x", "salary": 1}]', options => '{}')$$);
SELECT wftest.error_of($$SELECT webflow.create_live_items('580e63fc8c9a982ac9b8b745', '[1]', options => '{}')$$);
SELECT wftest.error_of($$SELECT webflow.create_live_items('580e63fc8c9a982ac9b8b745', '[]', options => '[]')$$);
