-- api_staged: staged items: create (drafts), list, get, update, publish,
-- delete, and the multi-shape responses.
SELECT wftest.reset();
\set jobs '''580e63fc8c9a982ac9b8b745'''

CREATE TEMP TABLE staged AS
SELECT * FROM webflow.create_items(:jobs,
  (SELECT jsonb_agg(jsonb_build_object('fieldData',
            jsonb_build_object('name', 'Draft ' || g, 'slug', 'draft-' || g)))
   FROM generate_series(1, 120) g)) AS item;
SELECT count(*), bool_and((item->>'isDraft')::boolean) AS all_drafts FROM staged;

-- staged items are not live
SELECT count(*) AS live FROM webflow.list_live_items(:jobs);
SELECT count(*) AS staged FROM webflow.list_items(:jobs);
SELECT count(*) FROM webflow.list_items(:jobs, '{"name": "Draft 7"}');

SELECT webflow.get_item(:jobs, item->>'id')->'fieldData'->>'name' AS name
FROM staged WHERE item->'fieldData'->>'slug' = 'draft-3';

-- update two, leaving the slug out of the body
SELECT u->'fieldData'->>'name' AS name
FROM webflow.update_items(:jobs,
  (SELECT jsonb_agg(jsonb_build_object('id', item->>'id', 'isDraft', false,
                                       'fieldData', jsonb_build_object('name', upper(item->'fieldData'->>'name'))))
   FROM staged WHERE item->'fieldData'->>'slug' IN ('draft-1', 'draft-2'))) u
ORDER BY 1;

-- publish 110 items: two requests, every id reported published
SELECT wftest.clear_log();
SELECT jsonb_array_length(p->'publishedItemIds') AS published, p->'errors' AS errors
FROM webflow.publish_items(:jobs,
  ARRAY(SELECT item->>'id' FROM staged ORDER BY item->'fieldData'->>'slug' LIMIT 110)) p;
SELECT method, path, items, status FROM wftest.requests();
SELECT count(*) AS live FROM webflow.list_live_items(:jobs);

-- delete ten staged items
SELECT webflow.delete_items(:jobs,
  ARRAY(SELECT item->>'id' FROM staged ORDER BY item->'fieldData'->>'slug' DESC LIMIT 10));
SELECT count(*) AS staged FROM webflow.list_items(:jobs);

-- skip_invalid_files is passed on as the query parameter
SELECT wftest.clear_log();
SELECT count(*) FROM webflow.create_items(:jobs, '{"isDraft": true, "fieldData": {"name": "F", "slug": "f"}}', false);
SELECT method, query FROM wftest.requests();

-- errors
SELECT wftest.error_of($$SELECT webflow.get_item('580e63fc8c9a982ac9b8b745', NULL)$$);
SELECT wftest.error_of($$SELECT webflow.delete_items('580e63fc8c9a982ac9b8b745', ARRAY['42b720ef280c7a7a3be8ca99'])$$);
SELECT wftest.error_of($$SELECT webflow.publish_items('580e63fc8c9a982ac9b8b745', NULL)$$);
SELECT wftest.error_of($$SELECT webflow.update_items('580e63fc8c9a982ac9b8b745', '{"id": "42b720ef280c7a7a3be8ca99", "fieldData": {"name": "x"}}')$$);
