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

-- a key of one integer or text column is made from its value, not from
-- the image: the same text as webflow._row_key of the image, which sync()
-- and the worker use, for every such type (domains too), for upserts,
-- deletes and key changes
CREATE DOMAIN ri_int AS bigint CHECK (VALUE <> 13);
CREATE DOMAIN ri_code AS varchar(8);
CREATE TABLE rk_i2 (k smallint PRIMARY KEY, x text);
CREATE TABLE rk_i4 (k int PRIMARY KEY, x text);
CREATE TABLE rk_i8 (k bigint PRIMARY KEY, x text);
CREATE TABLE rk_dint (k ri_int PRIMARY KEY, x text);
CREATE TABLE rk_t (k text PRIMARY KEY, x text);
CREATE TABLE rk_v (k varchar(12) PRIMARY KEY, x text);
CREATE TABLE rk_c (k char(6) PRIMARY KEY, x text);
CREATE TABLE rk_dtext (k ri_code PRIMARY KEY, x text);
CREATE TABLE rk_num (k numeric PRIMARY KEY, x text);
CREATE TABLE rk_two (a int, b text, x text, PRIMARY KEY (a, b));
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['rk_i2', 'rk_i4', 'rk_i8', 'rk_dint', 'rk_t', 'rk_v',
                             'rk_c', 'rk_dtext', 'rk_num', 'rk_two'] LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %I FOR EACH ROW
                        EXECUTE FUNCTION webflow.publish_trigger(%L, %L)',
                       t || '_publish', t, '5f1e0000000000000000e001', '{}');
    END LOOP;
END
$$;
INSERT INTO rk_i2 VALUES (-32768, 'a'), (0, 'b'), (32767, 'c');
INSERT INTO rk_i4 VALUES (-2147483648, 'a'), (7, 'b'), (2147483647, 'c');
INSERT INTO rk_i8 VALUES (-9223372036854775808, 'a'), (-1, 'b'), (9223372036854775807, 'c');
INSERT INTO rk_dint VALUES (-5, 'a'), (12, 'b'), (1000000000000, 'c');
INSERT INTO rk_t VALUES ('plain', 'a'), (E'quote " backslash \\ tab \t nl \n', 'b'),
    ('unicode é ☃ 𝄞', 'c'), ('', 'd'), ('  spaced  ', 'e'), ('[1, 2]', 'f'), ('42', 'g');
INSERT INTO rk_v VALUES ('v1', 'a'), ('é☃', 'b'), ('trail ', 'c');
INSERT INTO rk_c VALUES ('ab', 'a'), ('abcdef', 'b'), ('é', 'c');
INSERT INTO rk_dtext VALUES ('d1', 'a'), ('', 'b');
INSERT INTO rk_num VALUES (1.50, 'a'), (-0.0, 'b'), (10, 'c');
INSERT INTO rk_two VALUES (1, 'x', 'a'), (-2, 'é "q"', 'b');
UPDATE rk_i8 SET x = 'changed' WHERE k = -1;
UPDATE rk_t SET k = 'renamed' WHERE k = 'plain';
UPDATE rk_c SET k = 'xy' WHERE k = 'ab';
DELETE FROM rk_i4 WHERE k = 7;
DELETE FROM rk_v WHERE k = 'trail ';
DELETE FROM rk_c WHERE k = 'é';
DELETE FROM rk_two WHERE a = -2;
-- each queued row's key is what _row_key makes of its image (upserts), or
-- of the image the deleted row had (deletes, whose image is not kept)
CREATE TEMP TABLE rk_rows (t text, image jsonb, key text);
INSERT INTO rk_rows (t, image)
SELECT 'rk_i2', to_jsonb(rw) FROM rk_i2 rw
UNION ALL SELECT 'rk_i4', to_jsonb(rw) FROM rk_i4 rw
UNION ALL SELECT 'rk_i8', to_jsonb(rw) FROM rk_i8 rw
UNION ALL SELECT 'rk_dint', to_jsonb(rw) FROM rk_dint rw
UNION ALL SELECT 'rk_t', to_jsonb(rw) FROM rk_t rw
UNION ALL SELECT 'rk_v', to_jsonb(rw) FROM rk_v rw
UNION ALL SELECT 'rk_c', to_jsonb(rw) FROM rk_c rw
UNION ALL SELECT 'rk_dtext', to_jsonb(rw) FROM rk_dtext rw
UNION ALL SELECT 'rk_num', to_jsonb(rw) FROM rk_num rw
UNION ALL SELECT 'rk_two', to_jsonb(rw) FROM rk_two rw
UNION ALL SELECT 'rk_i8', '{"k": -1, "x": "b"}'
UNION ALL SELECT 'rk_i4', '{"k": 7, "x": "b"}'
UNION ALL SELECT 'rk_v', '{"k": "trail ", "x": "c"}'
UNION ALL SELECT 'rk_c', '{"k": "é     ", "x": "c"}'
UNION ALL SELECT 'rk_c', '{"k": "ab    ", "x": "a"}'
UNION ALL SELECT 'rk_t', '{"k": "plain", "x": "a"}'
UNION ALL SELECT 'rk_two', '{"a": -2, "b": "é \"q\"", "x": "b"}';
UPDATE rk_rows SET key = webflow._row_key(image, ARRAY['a', 'b']) WHERE t = 'rk_two';
UPDATE rk_rows SET key = webflow._row_key(image, ARRAY['k']) WHERE t <> 'rk_two';
SELECT b.source::regclass AS t, o.op, o.row_key,
       (SELECT count(*) FROM rk_rows r
        WHERE r.t = b.source::regclass::text AND r.key = o.row_key
          AND (o.row_image IS NULL OR o.row_image = r.image)) AS rows_with_key_and_image
FROM webflow.outbox o
JOIN webflow.bindings b ON b.id = o.binding_id
WHERE b.source::regclass::text LIKE 'rk\_%'
ORDER BY o.id;
-- a NULL or too long key is refused as before
CREATE TABLE rk_u (k text UNIQUE, x text);
CREATE TRIGGER rk_u_publish AFTER INSERT OR UPDATE OR DELETE ON rk_u FOR EACH ROW
    EXECUTE FUNCTION webflow.publish_trigger('5f1e0000000000000000e001', '{"key": "k"}');
SELECT webflow._row_key('{"k": null}', ARRAY['k']);
INSERT INTO rk_u VALUES (NULL, 'null key');
SELECT webflow._row_key(jsonb_build_object('k', repeat('k', 2001)), ARRAY['k']);
INSERT INTO rk_u VALUES (repeat('k', 2001), 'long key');
INSERT INTO rk_u VALUES (repeat('k', 2000), 'longest key');
SELECT length(row_key) FROM webflow.outbox WHERE row_key LIKE 'kkk%';
DROP TABLE rk_i2, rk_i4, rk_i8, rk_dint, rk_t, rk_v, rk_c, rk_dtext, rk_num, rk_two, rk_u;
DROP DOMAIN ri_int;
DROP DOMAIN ri_code;

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
