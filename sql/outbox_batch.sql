-- outbox_batch: the publish trigger's rows of a statement are written
-- together when the statement's triggers are done (outbox_batch.c); what
-- a user sees of the outbox stays what one row at a time gave: a row per
-- committed change, none of a rolled-back one, a key's rows in the order
-- of its changes, its last image the table's row.
CREATE TABLE ob (id int PRIMARY KEY, name text NOT NULL, n int NOT NULL DEFAULT 0);
CREATE TRIGGER ob_publish AFTER INSERT OR UPDATE OR DELETE ON ob FOR EACH ROW
    EXECUTE FUNCTION webflow.publish_trigger('5f1e0000000000000000e002', '{"key": "id"}');
CREATE VIEW ob_queue AS
    SELECT o.id, o.op, o.row_key, o.row_image
    FROM webflow.queue o JOIN webflow.bindings b ON b.id = o.binding_id
    WHERE b.source = 'ob'::regclass;
-- every key's last queued change is the table's row (or its delete)
CREATE VIEW ob_check AS
    SELECT count(*) AS keys,
           count(*) FILTER (WHERE q.op = 'upsert' AND q.row_image = to_jsonb(t)) AS latest,
           count(*) FILTER (WHERE q.op = 'delete' AND t.id IS NULL) AS deleted
    FROM (SELECT DISTINCT ON (row_key) * FROM ob_queue ORDER BY row_key, id DESC) q
    LEFT JOIN ob t ON t.id::text = q.row_key;

-- the sequence hands out blocks: one nextval per 1024 rows of a statement
SELECT increment_by FROM pg_sequences
WHERE schemaname = 'webflow' AND sequencename = 'outbox_id_seq';

-- a statement's rows: ids rising in the order the rows were written
INSERT INTO ob SELECT g, 'row ' || g FROM generate_series(1, 2500) g;
SELECT count(*) AS queued, count(DISTINCT id) AS ids,
       bool_and(row_key::int = rank) AS in_row_order
FROM (SELECT row_key, id, rank() OVER (ORDER BY id) FROM ob_queue) q;
-- written 1000, 1000 and 500 at a time, they are packed (one row each),
-- and webflow.status counts them as pending
SELECT count(*) AS packed_rows, sum(cardinality(ids)) AS changes,
       bool_and(first_id = ids[1]) AS first_id_is_first
FROM webflow.outbox_packed p JOIN webflow.bindings b ON b.id = p.binding_id
WHERE b.source = 'ob'::regclass;
SELECT pending FROM webflow.status WHERE source = 'ob'::regclass;
-- fewer at once are written to the outbox row by row
INSERT INTO ob SELECT g, 'row ' || g FROM generate_series(2501, 2600) g;
SELECT packed, count(*) FROM webflow.queue q JOIN webflow.bindings b ON b.id = q.binding_id
WHERE b.source = 'ob'::regclass AND q.row_key::int > 2500 GROUP BY packed;

-- savepoints: a rolled-back part leaves nothing, the rest is queued
BEGIN;
UPDATE ob SET n = 1 WHERE id <= 3;
SAVEPOINT s1;
UPDATE ob SET n = 2 WHERE id <= 5;
ROLLBACK TO SAVEPOINT s1;
UPDATE ob SET n = 3 WHERE id = 4;
SAVEPOINT s2;
DELETE FROM ob WHERE id = 6;
RELEASE SAVEPOINT s2;
COMMIT;
SELECT row_key, op, row_image->>'n' AS n FROM ob_queue
WHERE id > (SELECT max(id) FROM ob_queue WHERE row_key = '2600') ORDER BY id;

-- a statement that fails in a trigger that fires after the publish
-- trigger queues nothing; a plpgsql EXCEPTION block drops its part only
CREATE FUNCTION ob_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.name = 'refused' THEN
        RAISE EXCEPTION 'row % refused', NEW.id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER zz_refuse AFTER INSERT OR UPDATE ON ob FOR EACH ROW EXECUTE FUNCTION ob_refuse();
SELECT count(*) AS before FROM ob_queue \gset
INSERT INTO ob VALUES (3001, 'kept'), (3002, 'refused'), (3003, 'kept too');
SELECT count(*) - :before AS queued_by_failed_statement FROM ob_queue;
DO $$
BEGIN
    INSERT INTO ob VALUES (3004, 'outer');
    BEGIN
        INSERT INTO ob VALUES (3005, 'inner'), (3006, 'refused');
    EXCEPTION WHEN raise_exception THEN
        RAISE NOTICE 'inner part refused';
    END;
    INSERT INTO ob VALUES (3007, 'after');
END $$;
SELECT row_key, row_image->>'name' AS name FROM ob_queue WHERE row_key::int > 3000 ORDER BY id;

-- an AFTER trigger of the table's owner that fires before the publish
-- trigger and writes other rows again: each key's changes stay in order
CREATE FUNCTION ob_touch_previous() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ob SET n = n + 100 WHERE id = NEW.id - 1;
    RETURN NULL;
END $$;
CREATE TRIGGER aa_touch AFTER INSERT ON ob FOR EACH ROW EXECUTE FUNCTION ob_touch_previous();
INSERT INTO ob SELECT g, 'touched ' || g FROM generate_series(4001, 4005) g;
SELECT row_key, op, row_image->>'n' AS n FROM ob_queue WHERE row_key::int > 4000 ORDER BY id;
DROP TRIGGER aa_touch ON ob;

-- an AFTER trigger that fires after the publish trigger and runs a
-- statement in a PL/pgSQL block with EXCEPTION (a subtransaction) that
-- fails: the rows queued before it stay queued (they are written inside
-- that block and taken back with it, then written again)
CREATE FUNCTION ob_try() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        PERFORM 1 / (NEW.id % 2);
    EXCEPTION WHEN division_by_zero THEN
        NULL;
    END;
    BEGIN
        INSERT INTO ob VALUES (NEW.id + 100, 'inside ' || NEW.id);
        PERFORM 1 / 0;
    EXCEPTION WHEN division_by_zero THEN
        NULL;
    END;
    RETURN NULL;
END $$;
CREATE TRIGGER zz_try AFTER INSERT ON ob FOR EACH ROW WHEN (NEW.id BETWEEN 4101 AND 4104)
    EXECUTE FUNCTION ob_try();
INSERT INTO ob SELECT g, 'tried ' || g FROM generate_series(4101, 4104) g;
SELECT row_key, op, row_image->>'name' AS name FROM ob_queue
WHERE row_key::int BETWEEN 4101 AND 4300 ORDER BY id;

DROP TRIGGER zz_try ON ob;
DROP FUNCTION ob_try();

-- COPY fires the triggers itself: its rows are written one by one
COPY ob (id, name) FROM stdin;
5001	copied one
5002	copied two
\.
SELECT row_key, row_image->>'name' AS name FROM ob_queue WHERE row_key::int > 5000 ORDER BY id;

-- a CTE that writes the table twice over, and a key change
WITH gone AS (DELETE FROM ob WHERE id = 5001 RETURNING id)
INSERT INTO ob SELECT id + 1000, 'moved' FROM gone;
UPDATE ob SET id = 7002 WHERE id = 5002;
SELECT row_key, op FROM ob_queue WHERE row_key::int > 5000 ORDER BY id;

-- an error in a later statement of the transaction takes everything back
BEGIN;
UPDATE ob SET name = 'lost' WHERE id <= 10;
UPDATE ob SET name = 'refused' WHERE id = 11;
ROLLBACK;
SELECT count(*) AS lost FROM ob_queue WHERE row_image->>'name' = 'lost';

SELECT * FROM ob_check;
SELECT count(*) - count(DISTINCT id) AS duplicate_ids FROM webflow.queue;

DROP TABLE ob CASCADE;
DROP FUNCTION ob_refuse();
DROP FUNCTION ob_touch_previous();
