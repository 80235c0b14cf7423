-- privileges: a role allowed to publish its own tables never runs its code
-- with the extension owner's rights, and never acts on another's tables.
-- Every planted function records who it ran as in wf_evidence and tries to
-- make its role a superuser.
\set tags '''580e63fc8c9a982ac9b8b748'''
\set authors '''580e63fc8c9a982ac9b8b747'''
SELECT wftest.reset();
-- (earlier tests' tables fed these collections: a superuser hands them over)
DELETE FROM webflow.items WHERE collection_id IN (:tags, :authors);
DELETE FROM webflow.collection_owners WHERE collection_id IN (:tags, :authors);
CREATE TABLE wf_evidence (route text, ran_as name, ran_as_superuser boolean);
GRANT INSERT, SELECT ON wf_evidence TO PUBLIC;
CREATE ROLE wf_mallory LOGIN;
CREATE ROLE wf_alice LOGIN;
GRANT CREATE ON SCHEMA public TO wf_mallory, wf_alice;
GRANT EXECUTE ON FUNCTION webflow.bind(regclass, text, jsonb), webflow.unbind(regclass, text),
      webflow.sync(regclass), webflow.retry(boolean) TO wf_mallory, wf_alice;

-- alice binds a table of hers
SET SESSION AUTHORIZATION wf_alice;
CREATE TABLE alice_authors (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO alice_authors VALUES (1, 'Alice Author');
SELECT webflow.bind('alice_authors', :authors);
RESET SESSION AUTHORIZATION;

-- the route of the report: a cast of mallory's enum to json
SET SESSION AUTHORIZATION wf_mallory;
CREATE TYPE evil AS ENUM ('a');
CREATE FUNCTION evil_json(evil) RETURNS json LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.wf_evidence
    SELECT 'cast', current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user);
    BEGIN
        EXECUTE format('ALTER ROLE %I SUPERUSER', session_user);
    EXCEPTION WHEN OTHERS THEN
        NULL;
    END;
    RETURN '"a"';
END $$;
CREATE CAST (evil AS json) WITH FUNCTION evil_json(evil);
CREATE TABLE tags (id int PRIMARY KEY, name text NOT NULL, description evil);
INSERT INTO tags VALUES (1, 'First Tag', 'a');
-- bind reads a sample row (as the table's owner), the insert computes the
-- image as the writer, sync reads every row as the table's owner
SELECT webflow.bind('tags', :tags);
INSERT INTO tags VALUES (2, 'Second Tag', 'a');
UPDATE tags SET name = 'Second Tag, Renamed' WHERE id = 2;
DELETE FROM tags WHERE id = 2;
SELECT webflow.sync('tags');
RESET SESSION AUTHORIZATION;
SELECT webflow.drain() >= 0 AS drained;
SELECT route, ran_as, ran_as_superuser, count(*) > 0 AS ran
FROM wf_evidence GROUP BY 1, 2, 3 ORDER BY 1, 2;
SELECT rolsuper AS mallory_is_superuser FROM pg_roles WHERE rolname = 'wf_mallory';
SELECT i->'fieldData'->>'name' AS tag, i->'fieldData'->>'description' AS description
FROM webflow.list_live_items(:tags) i ORDER BY 1;

-- a function of mallory's, SECURITY DEFINER, called by alice, cannot act
-- on alice's table: the check is made for the current role (mallory)
SET SESSION AUTHORIZATION wf_mallory;
CREATE FUNCTION innocent() RETURNS text LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    RETURN wftest.error_of($q$SELECT webflow.unbind('alice_authors')$q$) || ' / ' ||
           wftest.error_of($q$SELECT webflow.sync('alice_authors')$q$) || ' / ' ||
           wftest.error_of($q$SELECT webflow.bind('alice_authors', '580e63fc8c9a982ac9b8b748')$q$);
END $$;
GRANT EXECUTE ON FUNCTION innocent() TO wf_alice;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION wf_alice;
SELECT public.innocent();
RESET SESSION AUTHORIZATION;
SELECT source, collection_id FROM webflow.bindings WHERE source = 'alice_authors'::regclass;

-- mallory cannot feed alice's collection, nor bind or retry what is not hers
SET SESSION AUTHORIZATION wf_mallory;
CREATE TABLE authors_too (id int PRIMARY KEY, name text NOT NULL);
SELECT wftest.error_of($$SELECT webflow.bind('authors_too', '580e63fc8c9a982ac9b8b747')$$);
SELECT wftest.error_of($$SELECT webflow.bind('alice_authors', '580e63fc8c9a982ac9b8b748')$$);
SELECT wftest.error_of($$SELECT webflow.bind('pg_class', '580e63fc8c9a982ac9b8b748')$$);
SELECT wftest.error_of($$SELECT webflow._bind('alice_authors', '580e63fc8c9a982ac9b8b748', '{}', 10)$$);
SELECT wftest.error_of($$SELECT * FROM webflow._source_images('alice_authors', '{id}')$$);
RESET SESSION AUTHORIZATION;
-- alice's failed row is requeued by her retry and by a superuser's, not by mallory's
UPDATE webflow.outbox SET state = 'failed' WHERE binding_id =
    (SELECT id FROM webflow.bindings WHERE source = 'alice_authors'::regclass);
INSERT INTO webflow.outbox (binding_id, op, row_key, row_image, state)
SELECT id, 'upsert', '1', '{"id": 1, "name": "Alice Author"}', 'failed'
FROM webflow.bindings WHERE source = 'alice_authors'::regclass;
SET SESSION AUTHORIZATION wf_mallory;
SELECT webflow.retry() AS requeued_by_mallory;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION wf_alice;
SELECT webflow.retry() > 0 AS requeued_by_alice;
RESET SESSION AUTHORIZATION;

-- alice unbinds her table: the collection and its items stay hers, so
-- mallory still may not feed it (her rows would replace or delete them)
SET SESSION AUTHORIZATION wf_alice;
SELECT webflow.unbind('alice_authors');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION wf_mallory;
SELECT wftest.error_of($$SELECT webflow.bind('authors_too', '580e63fc8c9a982ac9b8b747')$$);
-- a temporary table would leave its binding behind when its session ends
CREATE TEMP TABLE passing (id int PRIMARY KEY, name text NOT NULL);
SELECT wftest.error_of($$SELECT webflow.bind('passing', '580e63fc8c9a982ac9b8b749')$$);
RESET SESSION AUTHORIZATION;
SELECT collection_id, owner FROM webflow.collection_owners WHERE collection_id IN (:tags, :authors) ORDER BY 1;

-- the extension's own tables are refused, even to a superuser
SELECT wftest.error_of($$SELECT webflow.bind('webflow.outbox', '580e63fc8c9a982ac9b8b746', '{"key": "id"}')$$);
SELECT wftest.error_of($$SELECT webflow.bind('webflow.items', '580e63fc8c9a982ac9b8b746', '{"key": "item_id"}')$$);
SELECT wftest.error_of($$SELECT webflow.bind('webflow.bindings', '580e63fc8c9a982ac9b8b746')$$);

-- a superuser who writes mallory's table runs her cast as the writer, as
-- with any trigger of the table: PostgreSQL's own rule, shown here
TRUNCATE wf_evidence;
INSERT INTO tags VALUES (3, 'Third Tag', 'a');
SELECT route, ran_as FROM wf_evidence;

-- clean up
SELECT webflow.unbind('tags');
DELETE FROM webflow.outbox;
DELETE FROM webflow.items WHERE collection_id IN (:tags, :authors);
DELETE FROM webflow.collection_owners WHERE collection_id IN (:tags, :authors);
DROP TABLE tags, authors_too, alice_authors, wf_evidence;
DROP FUNCTION innocent();
DROP CAST (evil AS json);
DROP FUNCTION evil_json(evil);
DROP TYPE evil;
REVOKE ALL ON SCHEMA public FROM wf_mallory, wf_alice;
REVOKE ALL ON FUNCTION webflow.bind(regclass, text, jsonb), webflow.unbind(regclass, text),
       webflow.sync(regclass), webflow.retry(boolean) FROM wf_mallory, wf_alice;
DROP ROLE wf_mallory, wf_alice;
SELECT wftest.reset();
