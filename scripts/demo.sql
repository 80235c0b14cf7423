-- scripts/demo.sql: the webflow extension at work.  scripts/demo runs it
-- with psql in a throwaway database where the extension is created and
-- webflow.api_url / webflow.token are set, against the local Webflow fake or
-- the real API.
--
-- psql variables (scripts/demo sets them):
--   collection   the CMS collection the items are created in (the fixture's
--                Jobs collection 580e63fc8c9a982ac9b8b745, or WEBFLOW_COLLECTION_ID)
--   site         a site id (optional: WEBFLOW_SITE_ID against the real API;
--                when unset, the site's collections are not listed)
--   slug_suffix  appended to every slug the demo creates: '' against the fake,
--                '-demo-<random>' against the real API, so that the demo never
--                collides with an existing item and scripts/demo can find and
--                remove exactly what it created
--
-- Every statement is echoed before its result.  Later sections go at the
-- end; whatever they create in Webflow must carry :slug_suffix in its slug.

\set ON_ERROR_STOP on
\set ECHO queries

\echo
\echo '== 1. The sites the token reaches'
SELECT s->>'id' AS site_id, s->>'displayName' AS name, s->>'shortName' AS short_name,
       s->>'lastPublished' AS last_published
FROM webflow.list_sites() s
ORDER BY 2;

\if :{?site}
\echo
\echo '== ... and the CMS collections of the site'
SELECT c->>'id' AS collection_id, c->>'displayName' AS name, c->>'slug' AS slug
FROM webflow.list_collections(:'site') c
ORDER BY 2;
\endif

\echo
\echo '== 2. The collection and its schema (field slugs and types)'
SELECT c->>'displayName' AS collection, c->>'singularName' AS singular,
       jsonb_array_length(c->'fields') AS fields
FROM webflow.get_collection(:'collection') c;

CREATE TABLE demo_fields AS
SELECT f->>'slug' AS slug, f->>'type' AS type, (f->>'isRequired')::boolean AS required
FROM jsonb_array_elements(webflow.get_collection(:'collection')->'fields')
     WITH ORDINALITY AS t(f, n)
ORDER BY n;
TABLE demo_fields;

\echo
\echo '== 3. Two rows become two live items (webflow.item_payload, webflow.create_live_items)'
-- the two jobs of Webflow's Create Live Items example
CREATE TABLE demo_jobs (name text, slug text, url text, department text);
INSERT INTO demo_jobs VALUES
  ('Senior Data Analyst', 'senior-data-analyst' || :'slug_suffix',
   'https://boards.greenhouse.io/webflow/jobs/26567701', 'Data'),
  ('Product Manager', 'product-manager' || :'slug_suffix',
   'https://boards.greenhouse.io/webflow/jobs/31234567', 'Product');

-- webflow.item_payload turns each row into an item (isArchived, isDraft,
-- fieldData), here with the columns the collection has a field for; one
-- request creates and publishes both
CREATE TABLE demo_items (id text PRIMARY KEY, name text, slug text, last_published text);
WITH created AS (
  SELECT item
  FROM webflow.create_live_items(:'collection',
         (SELECT jsonb_agg(webflow.item_payload(
                   (SELECT jsonb_object_agg(key, value)
                    FROM jsonb_each(to_jsonb(j))
                    WHERE key IN (SELECT slug FROM demo_fields))))
          FROM demo_jobs j)) AS item
)
INSERT INTO demo_items
SELECT item->>'id', item->'fieldData'->>'name', item->'fieldData'->>'slug',
       item->>'lastPublished'
FROM created
RETURNING *;

\echo
\echo '== 4. They are live (webflow.list_live_items follows pagination to the end)'
SELECT i->>'id' AS item_id, i->'fieldData'->>'name' AS name,
       i->'fieldData'->>'department' AS department, i->'fieldData'->>'url' AS url
FROM webflow.list_live_items(:'collection') i
WHERE i->>'id' IN (SELECT id FROM demo_items)
ORDER BY 2;

\echo
\echo '== 5. Unpublish one (webflow.unpublish_live_items)'
SELECT webflow.unpublish_live_items(:'collection',
         ARRAY(SELECT id FROM demo_items WHERE name = 'Product Manager')) AS unpublished;

\echo
\echo '== 6. The live site has one left'
SELECT i->>'id' AS item_id, i->'fieldData'->>'name' AS name,
       i->'fieldData'->>'department' AS department, i->'fieldData'->>'url' AS url
FROM webflow.list_live_items(:'collection') i
WHERE i->>'id' IN (SELECT id FROM demo_items)
ORDER BY 2;

\echo
\echo '== 7. This session''s HTTP client: one connection, kept alive'
SELECT s->'requests' AS requests, s->'connections' AS connections,
       s->'rateLimitRemaining' AS rate_limit_remaining
FROM webflow.http_stats() s;

\echo
\echo '== 8. Bind a table: its changes reach Webflow through the outbox and the worker'
CREATE TABLE demo_board (
    id         serial PRIMARY KEY,
    name       text NOT NULL,
    slug       text,
    url        text,
    department text
);
-- columns the collection has no field for stay out of the items
SELECT jsonb_build_object('exclude', coalesce(jsonb_agg(col), '[]')) AS bind_options
FROM unnest(ARRAY['url', 'department']) AS col
WHERE col NOT IN (SELECT slug FROM demo_fields) \gset
SELECT webflow.bind('demo_board', :'collection', :'bind_options');

\echo
\echo '== 9. Insert the two jobs: the commit wakes the worker, which creates both in one request'
INSERT INTO demo_board (name, slug, url, department) VALUES
  ('Senior Data Analyst', 'senior-data-analyst-board' || :'slug_suffix',
   'https://boards.greenhouse.io/webflow/jobs/26567701', 'Data'),
  ('Product Manager', 'product-manager-board' || :'slug_suffix',
   'https://boards.greenhouse.io/webflow/jobs/31234567', 'Product');
-- wait (at most 30 s) until the worker has sent them
DO $$
BEGIN
    FOR i IN 1..150 LOOP
        EXIT WHEN (SELECT pending + sending = 0 FROM webflow.status WHERE source = 'demo_board'::regclass);
        PERFORM pg_sleep(0.2);
    END LOOP;
END $$;
SELECT source, pending, sending, failed, last_success IS NOT NULL AS published FROM webflow.status;
SELECT b.name, i.item_id, i.slug
FROM demo_board b JOIN webflow.items i ON i.source_key = b.id::text AND i.collection_id = :'collection'
ORDER BY b.id;

\echo
\echo '== 10. Update one, delete the other'
UPDATE demo_board SET name = 'Senior Data Analyst (Remote)' WHERE slug LIKE 'senior-data-analyst-board%';
DELETE FROM demo_board WHERE slug LIKE 'product-manager-board%';
DO $$
BEGIN
    FOR i IN 1..150 LOOP
        EXIT WHEN (SELECT pending + sending = 0 FROM webflow.status WHERE source = 'demo_board'::regclass);
        PERFORM pg_sleep(0.2);
    END LOOP;
END $$;
SELECT source, pending, sending, failed FROM webflow.status;

\echo
\echo '== 11. The live site: the update is there, the deleted job is gone'
SELECT i->'fieldData'->>'name' AS name, i->'fieldData'->>'slug' AS slug
FROM webflow.list_live_items(:'collection') i
WHERE i->'fieldData'->>'slug' LIKE '%-board' || :'slug_suffix'
ORDER BY 1;

\echo
\echo '== 12. The worker'
SELECT s->>'state' AS state, s->'rowsDone' AS rows_done, s->'requests' AS requests,
       s->'pausedBecause' AS paused_because
FROM webflow.worker_status() s;
SELECT webflow.unbind('demo_board');

\if :{?careers_collection}
\echo
\echo '== 13. A second site with its own token: a named connection (SQL/MED)'
-- a foreign server of the webflow wrapper says where requests go and at
-- what rate; a user mapping holds the token (here the fake's site token of
-- its second site, which the default token cannot reach)
SELECT format('CREATE SERVER careers FOREIGN DATA WRAPPER webflow OPTIONS (api_url %L, rate_limit %L)',
              current_setting('webflow.api_url'), '120') \gexec
CREATE USER MAPPING FOR CURRENT_USER SERVER careers OPTIONS (token :'careers_token');
SET webflow.connection = 'careers';
SELECT s->>'displayName' AS careers_token_reaches FROM webflow.list_sites() s;
RESET webflow.connection;

\echo
\echo '== 14. Two tables, two sites: each binding publishes over its own connection'
CREATE TABLE demo_openings (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE demo_positions (id int PRIMARY KEY, name text NOT NULL);
SELECT webflow.bind('demo_openings', :'collection');
SELECT webflow.bind('demo_positions', :'careers_collection', '{"connection": "careers"}');
SELECT source, coalesce(connection, '(default)') AS connection, bound_by FROM webflow.bindings ORDER BY id;
-- one transaction writes to both; the worker sends each row to its site
BEGIN;
INSERT INTO demo_openings VALUES (1, 'Heart of Gold Navigator'), (2, 'Improbability Engineer');
INSERT INTO demo_positions VALUES (1, 'Deep Thought Operator'), (2, 'Fjord Designer');
COMMIT;
DO $$
BEGIN
    FOR i IN 1..150 LOOP
        EXIT WHEN (SELECT sum(pending + sending) = 0 FROM webflow.status);
        PERFORM pg_sleep(0.2);
    END LOOP;
END $$;
SELECT source, connection, pending, failed, rate_limit, requests_last_minute, paused_because
FROM webflow.status ORDER BY binding_id;
SELECT i->'fieldData'->>'name' AS on_the_first_site
FROM webflow.list_live_items(:'collection') i
WHERE i->'fieldData'->>'slug' IN ('heart-of-gold-navigator', 'improbability-engineer') ORDER BY 1;
SET webflow.connection = 'careers';
SELECT i->'fieldData'->>'name' AS on_the_careers_site
FROM webflow.list_live_items(:'careers_collection') i ORDER BY 1;
RESET webflow.connection;

\echo
\echo '== 15. Each connection has its own request budget'
SELECT coalesce(nullif(connection, ''), '(default)') AS connection, rate_limit, requests,
       paused_because
FROM webflow.connections() ORDER BY 1;
SELECT webflow.unbind('demo_openings'), webflow.unbind('demo_positions');
\endif
