-- row_image: the publish trigger's row image is to_jsonb() of the row for
-- every kind of column (row_image.c converts the common ones itself), and
-- the outbox rows it writes without SQL (outbox_write.c) are what an INSERT
-- with the table's defaults would write, with every index entry in place.
CREATE EXTENSION IF NOT EXISTS amcheck;
CREATE TYPE ri_mood AS ENUM ('sad', 'happy');
CREATE TYPE ri_pair AS (a int, b text);
CREATE TYPE ri_flag AS ENUM ('off', 'on');
CREATE FUNCTION ri_flag_json(ri_flag) RETURNS json LANGUAGE sql IMMUTABLE
    AS $$ SELECT CASE WHEN $1 = 'on' THEN 'true'::json ELSE 'false'::json END $$;
CREATE CAST (ri_flag AS json) WITH FUNCTION ri_flag_json(ri_flag);
CREATE DOMAIN ri_text AS text CHECK (VALUE <> '');
CREATE DOMAIN ri_num AS numeric(10, 2);
CREATE TABLE ri (
    id int PRIMARY KEY, gone int, s smallint, b bigint, r real, d double precision,
    n numeric, ok boolean, t text, v varchar(10), c char(5), nm name, u uuid,
    dt date, ts timestamp, tz timestamptz, j json, jb jsonb, arr int[],
    tarr text[], pair ri_pair, mood ri_mood, flag ri_flag, dtext ri_text,
    dnum ri_num, iv interval, by bytea, ip inet
);
ALTER TABLE ri DROP COLUMN gone;
CREATE TRIGGER ri_publish AFTER INSERT OR UPDATE OR DELETE ON ri FOR EACH ROW
    EXECUTE FUNCTION webflow.publish_trigger('5f1e0000000000000000e001', '{"key": "id"}');
INSERT INTO ri VALUES
    (1, 1, 2, 1.5, 0.1, 12.50, true, 'plain', 'var', 'ab', 'nm',
     'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2024-02-29', '2024-02-29 13:14:15.5',
     '2024-02-29 13:14:15.123456+02', '{"a": [1, "x"]}', '{"b": {"c": null}}',
     '{1,2,NULL}', '{"x y",z}', '(7,"q ""r""")', 'happy', 'on', 'dom', 3.14159,
     '1 day 2 hours', '\xdeadbeef', '10.0.0.1/8'),
    (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     NULL, NULL),
    (3, -32768, 9223372036854775807, 'NaN', 'Infinity', 'NaN', false,
     E'quote " backslash \\ tab \t newline \n unicode é ☃', '', 'x', '', NULL,
     'infinity', '-infinity', 'infinity', '"scalar"', '42', '{}', '{}', '(,)',
     'sad', 'off', 'x', -0.005, '-1 mon', '\x', '::1'),
    (4, 0, -1, '-Infinity', -0.0, '-0.00', true, 'a', 'b', 'c', 'd', NULL,
     '0001-01-01 BC', '1999-12-31 23:59:59', '1970-01-01 00:00:00+00', 'null', 'null',
     '{{1,2},{3,4}}', '{NULL}', NULL, NULL, NULL, NULL, 1e5, '0', NULL, NULL);
-- the same image as to_jsonb(row), for each row
SELECT x.id, o.op, o.row_key, o.row_image::text = to_jsonb(x)::text AS same_as_to_jsonb
FROM ri x JOIN webflow.outbox o ON o.row_key = x.id::text
WHERE o.binding_id = (SELECT id FROM webflow.bindings WHERE source = 'ri'::regclass)
ORDER BY o.id;
SELECT o.row_key, o.row_image, to_jsonb(x) FROM ri x JOIN webflow.outbox o ON o.row_key = x.id::text
WHERE o.binding_id = (SELECT id FROM webflow.bindings WHERE source = 'ri'::regclass)
  AND o.row_image::text <> to_jsonb(x)::text;
-- settings that change text output change both alike (the trigger runs
-- in the writer's session)
SET DateStyle = 'SQL, DMY';
SET extra_float_digits = 0;
SET bytea_output = 'escape';
UPDATE ri SET t = coalesce(t, '') || '+' WHERE id IN (1, 3);
SELECT x.id, o.row_image::text = to_jsonb(x)::text AS same_as_to_jsonb
FROM ri x JOIN webflow.outbox o ON o.row_key = x.id::text
WHERE o.binding_id = (SELECT id FROM webflow.bindings WHERE source = 'ri'::regclass)
  AND o.row_image->>'t' LIKE '%+'
ORDER BY o.id;
RESET DateStyle;
RESET extra_float_digits;
RESET bytea_output;

-- the outbox rows have what the table's defaults give; ids keep rising
BEGIN;
UPDATE ri SET n = 1 WHERE id = 2;
DELETE FROM ri WHERE id = 4;
SELECT op, row_key, row_image IS NULL AS no_image, state, attempts, maybe_sent,
       enqueued_at = now() AS enqueued_now, next_attempt_at = now() AS due_now,
       claimed_at, last_error, last_status
FROM webflow.outbox
WHERE binding_id = (SELECT id FROM webflow.bindings WHERE source = 'ri'::regclass)
ORDER BY id DESC LIMIT 2;
COMMIT;
SELECT count(*) = count(DISTINCT id) AS ids_unique,
       max(id) = (SELECT last_value FROM webflow.outbox_id_seq) AS last_id_from_sequence
FROM webflow.outbox;
-- a rolled-back write leaves no row and no index entry behind
BEGIN;
INSERT INTO ri (id, t) VALUES (5, 'gone');
ROLLBACK;
SELECT count(*) AS rolled_back FROM webflow.outbox WHERE row_key = '5';
-- every row is in every index it belongs to (partial ones by their predicate)
SELECT c.relname, bt_index_check(i.indexrelid, true) AS checked
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = 'webflow.outbox'::regclass ORDER BY c.relname;
SET enable_seqscan = off;
SELECT count(*) AS pending_by_index FROM webflow.outbox
WHERE state = 'pending' AND next_attempt_at <= now() AND binding_id = (SELECT id FROM webflow.bindings WHERE source = 'ri'::regclass);
-- a written row is fresh: in outbox_fresh, which the claim reads by id
SELECT count(*) AS fresh_by_index FROM webflow.outbox
WHERE state = 'pending' AND next_attempt_at = enqueued_at
  AND binding_id = (SELECT id FROM webflow.bindings WHERE source = 'ri'::regclass);
RESET enable_seqscan;

-- a new index on the outbox is seen by sessions that wrote before
CREATE INDEX outbox_test_key ON webflow.outbox (row_key);
INSERT INTO ri (id, t) VALUES (6, 'after index');
SELECT bt_index_check('webflow.outbox_test_key'::regclass, true) AS checked;
DROP INDEX webflow.outbox_test_key;
INSERT INTO ri (id, t) VALUES (7, 'after drop');
SELECT count(*) AS after_drop FROM webflow.outbox WHERE row_key = '7';

DROP TABLE ri;
SELECT count(*) AS bindings_left FROM webflow.bindings WHERE collection_id = '5f1e0000000000000000e001';
DROP DOMAIN ri_text;
DROP DOMAIN ri_num;
DROP CAST (ri_flag AS json);
DROP FUNCTION ri_flag_json(ri_flag);
DROP TYPE ri_mood;
DROP TYPE ri_pair;
DROP TYPE ri_flag;
DROP EXTENSION amcheck;
