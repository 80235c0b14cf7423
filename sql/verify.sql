-- verify: what a site visitor sees, compared with the table; and sync(),
-- which repairs what was changed in Webflow behind the extension's back.
\set tags '''580e63fc8c9a982ac9b8b748'''
SELECT wftest.reset();
-- the fixture's tags are items no row feeds
CREATE TABLE vtags (id int PRIMARY KEY, name text NOT NULL, description text);
INSERT INTO vtags VALUES (1, 'Verified One', 'first'), (2, 'Verified Two', 'second'),
                         (3, 'Verified Three', 'third');
SELECT webflow.bind('vtags', :tags);
SELECT webflow.sync('vtags') AS queued;
SELECT webflow.drain() AS sent;

-- in step: only the fixture's items differ (no row explains them)
SELECT difference, row_key, fields FROM webflow.verify('vtags');

-- Webflow changes behind our back: one item edited in the Designer, one
-- unpublished, one deleted; and one made by hand with a row's name
SELECT webflow.update_live_items(:tags, jsonb_build_array(jsonb_build_object(
         'id', (SELECT item_id FROM webflow.items WHERE collection_id = :tags AND source_key = '1'),
         'fieldData', jsonb_build_object('description', 'edited in the Designer'))))
       IS NOT NULL AS edited;
SELECT webflow.unpublish_live_items(:tags, ARRAY[
         (SELECT item_id FROM webflow.items WHERE collection_id = :tags AND source_key = '2')])
       IS NULL AS unpublished;
SELECT webflow.delete_items(:tags, ARRAY[
         (SELECT item_id FROM webflow.items WHERE collection_id = :tags AND source_key = '3')])
       IS NULL AS deleted;
SELECT webflow.create_live_items(:tags, '[{"fieldData": {"name": "Verified One", "slug": "verified-one-copy"}}]')
       IS NOT NULL AS copied;
SELECT difference, row_key, fields FROM webflow.verify('vtags');
-- the table's own rows did not change: sync repairs the site all the same
SELECT webflow.sync('vtags') AS queued;
SELECT op, row_key FROM webflow.outbox ORDER BY id;
SELECT webflow.drain() AS sent;
SELECT difference, row_key, fields FROM webflow.verify('vtags');
SELECT i->'fieldData'->>'name' AS name, i->'fieldData'->>'description' AS description
FROM webflow.list_live_items(:tags) i ORDER BY 1;

-- a row deleted while its delete never reached Webflow: extra, then repaired
ALTER TABLE vtags DISABLE TRIGGER USER;
DELETE FROM vtags WHERE id = 2;
ALTER TABLE vtags ENABLE TRIGGER USER;
SELECT difference, row_key, fields FROM webflow.verify('vtags') WHERE row_key IS NOT NULL;
SELECT webflow.sync('vtags') AS queued;
SELECT webflow.drain() AS sent;
SELECT difference, row_key, fields FROM webflow.verify('vtags') WHERE row_key IS NOT NULL;

-- when Webflow cannot be read, sync says so and queues what differs from
-- what was last sent; verify fails
SELECT wftest.fault('{"match": {"method": "GET", "path": "/items/live"}, "status": 503, "count": 5}');
UPDATE vtags SET description = 'changed in the table' WHERE id = 1;
DELETE FROM webflow.outbox;
SELECT webflow.sync('vtags') AS queued;
SELECT wftest.error_of($$SELECT * FROM webflow.verify('vtags')$$);
SELECT wftest.clear_faults();

-- only the table's owner verifies
CREATE ROLE wf_verifier LOGIN;
GRANT EXECUTE ON FUNCTION webflow.verify(regclass) TO wf_verifier;
SET SESSION AUTHORIZATION wf_verifier;
SELECT wftest.error_of($$SELECT * FROM webflow.verify('vtags')$$);
RESET SESSION AUTHORIZATION;
REVOKE EXECUTE ON FUNCTION webflow.verify(regclass) FROM wf_verifier;
DROP ROLE wf_verifier;
SELECT wftest.error_of($$SELECT * FROM webflow.verify('pg_class')$$);

SELECT webflow.unbind('vtags');
DELETE FROM webflow.outbox;
DELETE FROM webflow.items WHERE collection_id = :tags;
DELETE FROM webflow.collection_owners WHERE collection_id = :tags;
DROP TABLE vtags;
SELECT wftest.reset();
