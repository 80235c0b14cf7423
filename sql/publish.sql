-- publish: binding a table, what the trigger queues, and what drain() sends
-- (run in this session; the background worker serves another database).
SELECT wftest.reset();
\set jobs '''580e63fc8c9a982ac9b8b745'''

CREATE TABLE jobs (id int PRIMARY KEY, name text NOT NULL, url text,
                   department text, internal_note text);

-- binding refuses what would fail later
SELECT wftest.error_of($$SELECT webflow.bind(NULL, '580e63fc8c9a982ac9b8b745')$$);
SELECT wftest.error_of($$SELECT webflow.bind('jobs', 'jobs')$$);
SELECT wftest.error_of($$SELECT webflow.bind('jobs', '580e63fc8c9a982ac9b8b745', '[]')$$);
SELECT * FROM wftest.error_full($$SELECT webflow.bind('jobs', '580e63fc8c9a982ac9b8b745', '{"colour": "red"}')$$);
SELECT wftest.error_of($$SELECT webflow.bind('jobs', '580e63fc8c9a982ac9b8b745', '{"on_delete": "shred"}')$$);
SELECT wftest.error_of($$SELECT webflow.bind('jobs', '580e63fc8c9a982ac9b8b745', '{"live": "yes"}')$$);
SELECT wftest.error_of($$SELECT webflow.bind('jobs', '580e63fc8c9a982ac9b8b745', '{"key": "job_no"}')$$);
SELECT wftest.error_of($$SELECT webflow.bind('jobs', '580e63fc8c9a982ac9b8b799')$$);
-- a column that maps to no field of the collection fails at bind time
SELECT * FROM wftest.error_full($$SELECT webflow.bind('jobs', '580e63fc8c9a982ac9b8b745')$$);
CREATE TABLE no_key (name text);
SELECT * FROM wftest.error_full($$SELECT webflow.bind('no_key', '580e63fc8c9a982ac9b8b745')$$);
CREATE VIEW jobs_view AS SELECT * FROM jobs;
SELECT wftest.error_of($$SELECT webflow.bind('jobs_view', '580e63fc8c9a982ac9b8b745')$$);
SELECT count(*) AS bindings FROM webflow.bindings;

SELECT webflow.bind('jobs', :jobs, '{"exclude": ["internal_note"]}');
SELECT source, collection_id, options, key_columns FROM webflow.bindings;
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'jobs'::regclass;

-- a rolled-back transaction queues nothing
BEGIN;
INSERT INTO jobs VALUES (1, 'Rolled Back', NULL, 'X');
ROLLBACK;
SELECT count(*) AS queued FROM webflow.outbox;

-- each change is one outbox row, in the writer's transaction
INSERT INTO jobs VALUES
  (1, 'Senior Data Analyst', 'https://boards.greenhouse.io/webflow/jobs/26567701', 'Data', 'a'),
  (2, 'Product Manager', 'https://boards.greenhouse.io/webflow/jobs/31234567', 'Product', 'b');
SELECT op, row_key, state, row_image->>'name' AS name FROM webflow.outbox ORDER BY id;
-- updates that change nothing that reaches Webflow queue nothing
UPDATE jobs SET department = department;
UPDATE jobs SET internal_note = 'changed';
SELECT count(*) AS queued FROM webflow.outbox;
-- three updates of one row before a drain: one create with the last values
UPDATE jobs SET department = 'Analytics' WHERE id = 1;
UPDATE jobs SET department = 'Insights' WHERE id = 1;
SELECT count(*) AS queued FROM webflow.outbox;

SELECT wftest.clear_log();
SELECT webflow.drain();
SELECT method, path, items, status FROM wftest.requests();
SELECT count(*) AS queued FROM webflow.outbox;
SELECT source_key, length(item_id) AS id_length, slug FROM webflow.items ORDER BY 1;
SELECT i->'fieldData'->>'name' AS name, i->'fieldData'->>'department' AS department,
       i->'fieldData' ? 'internal-note' AS has_note
FROM webflow.list_live_items(:jobs) i ORDER BY 1;

-- an insert and a delete before a drain send nothing
INSERT INTO jobs VALUES (3, 'Short-lived', NULL, 'None', NULL);
DELETE FROM jobs WHERE id = 3;
SELECT wftest.clear_log();
SELECT webflow.drain();
SELECT count(*) AS requests FROM wftest.requests();

-- an update is a PATCH without the unchanged slug; a delete unpublishes, then deletes
UPDATE jobs SET url = 'https://example.com/pm' WHERE id = 2;
DELETE FROM jobs WHERE id = 1;
SELECT wftest.clear_log();
SELECT webflow.drain();
SELECT method, path, items, status FROM wftest.requests();
SELECT (body->'items'->0->'fieldData') ? 'slug' AS patch_sends_slug
FROM jsonb_array_elements(wftest.admin('GET', '/log')) e, LATERAL (SELECT e->'body' AS body) b
WHERE e->>'method' = 'PATCH';
SELECT source_key FROM webflow.items ORDER BY 1;

-- a new key is a new item; the old one goes
UPDATE jobs SET id = 20 WHERE id = 2;
SELECT op, row_key FROM webflow.outbox ORDER BY id;
SELECT webflow.drain();
SELECT source_key, slug FROM webflow.items ORDER BY 1;
SELECT count(*) AS live FROM webflow.list_live_items(:jobs);

-- a row Webflow rejects fails alone, with Webflow's words
INSERT INTO jobs VALUES (4, 'Good One', NULL, 'Ops', NULL), (5, 'Bad One', NULL, 'Ops', NULL);
SELECT wftest.fault('{"match": {"method": "POST"}, "count": 3, "status": 400, "body": {"message": "Validation Error", "code": "validation_error", "externalReference": null, "details": [{"param": "url", "description": "Invalid URL"}]}}');
SELECT webflow.drain();
SELECT row_key, state, attempts, last_status, last_error FROM webflow.outbox ORDER BY id;
SELECT pending, failed, last_error IS NOT NULL AS has_error FROM webflow.status;
-- requeued, it goes through once Webflow accepts it
SELECT webflow.retry();
SELECT webflow.drain();
SELECT count(*) AS queued FROM webflow.outbox;
SELECT source_key FROM webflow.items ORDER BY 1;

-- sync queues only rows whose item differs from what Webflow has
SELECT webflow.sync('jobs');
UPDATE webflow.items SET payload_hash = 'stale' WHERE source_key = '4';
DELETE FROM webflow.items WHERE source_key = '5';
SELECT webflow.sync('jobs');
SELECT op, row_key FROM webflow.outbox ORDER BY id;
SELECT webflow.drain();
SELECT count(*) AS live, count(DISTINCT i->'fieldData'->>'slug') AS slugs
FROM webflow.list_live_items(:jobs) i;

-- status, and errors of the other functions
SELECT source, pending, sending, failed, last_success IS NOT NULL AS succeeded FROM webflow.status;
SELECT s ? 'pid' AND s ? 'state' AND s ? 'pausedBecause' AS has_keys FROM webflow.worker_status() s;
SELECT wftest.error_of($$SELECT webflow.drain(0)$$);
SELECT wftest.error_of($$SELECT webflow.sync('no_key')$$);
SELECT wftest.error_of($$SELECT webflow.sync(NULL)$$);

-- a writer without rights on schema webflow can still write a bound table
CREATE ROLE wf_writer LOGIN;
GRANT INSERT, UPDATE, DELETE, SELECT ON jobs TO wf_writer;
SET ROLE wf_writer;
INSERT INTO jobs VALUES (6, 'Written By A Plain Role', NULL, 'Ops', NULL);
SELECT wftest.error_of($$SELECT count(*) FROM webflow.outbox$$);
SELECT wftest.error_of($$DELETE FROM webflow.outbox$$);
SELECT wftest.error_of($$SELECT count(*) FROM webflow.items$$);
SELECT wftest.error_of($$SELECT webflow.bind('jobs', '580e63fc8c9a982ac9b8b745')$$);
SELECT wftest.error_of($$SELECT webflow.drain()$$);
RESET ROLE;
SELECT op, row_key FROM webflow.outbox;
SELECT webflow.drain();

-- only the table's owner binds, even with EXECUTE granted (the check is on
-- the current role)
GRANT EXECUTE ON FUNCTION webflow.bind(regclass, text, jsonb) TO wf_writer;
SET SESSION AUTHORIZATION wf_writer;
SELECT wftest.error_of($$SELECT webflow.bind('jobs', '580e63fc8c9a982ac9b8b745')$$);
RESET SESSION AUTHORIZATION;
REVOKE ALL ON jobs FROM wf_writer;
REVOKE EXECUTE ON FUNCTION webflow.bind(regclass, text, jsonb) FROM wf_writer;
DROP ROLE wf_writer;

-- TRUNCATE deletes the items of the table's rows, including rows still
-- queued; items no row fed stay
INSERT INTO jobs VALUES (9, 'Queued Then Truncated', NULL, 'T', NULL);
SELECT i->'fieldData'->>'slug' AS made_by_hand
FROM webflow.create_live_items(:jobs, '[{"fieldData": {"name": "Made By Hand", "slug": "made-by-hand"}}]') i;
SELECT count(*) AS mapped_before FROM webflow.items WHERE collection_id = :jobs \gset
SELECT count(*) AS live_before FROM webflow.list_live_items(:jobs) \gset
TRUNCATE jobs;
SELECT op, count(*) FROM webflow.outbox GROUP BY op ORDER BY op;
SELECT wftest.clear_log();
SELECT webflow.drain();
SELECT method, path, status FROM wftest.requests();
SELECT count(*) AS mapped FROM webflow.items WHERE collection_id = :jobs;
SELECT :live_before - count(*) = :mapped_before AS removed_what_was_mapped,
       string_agg(i->'fieldData'->>'slug', ',') AS left_alone
FROM webflow.list_live_items(:jobs) i;
SELECT count(*) AS queued FROM webflow.outbox;

-- when another table feeds the collection too, TRUNCATE only warns
CREATE TABLE jobs_too (id int PRIMARY KEY, name text NOT NULL);
SELECT webflow.bind('jobs_too', :jobs);
TRUNCATE jobs;
SELECT count(*) AS queued FROM webflow.outbox;
SELECT webflow.unbind('jobs_too');
DROP TABLE jobs_too;

-- unbinding drops the triggers and the binding; items stay in Webflow
SELECT webflow.unbind('jobs');
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'jobs'::regclass;
SELECT count(*) AS bindings FROM webflow.bindings;
INSERT INTO jobs VALUES (7, 'Not Published', NULL, NULL, NULL);
SELECT count(*) AS queued FROM webflow.outbox;
SELECT wftest.error_of($$SELECT webflow.unbind('jobs')$$);

-- a dropped table takes its binding with it
SELECT webflow.bind('jobs', :jobs, '{"exclude": ["internal_note"]}');
DROP TABLE jobs CASCADE;
SELECT count(*) AS bindings FROM webflow.bindings;
DROP TABLE no_key;
