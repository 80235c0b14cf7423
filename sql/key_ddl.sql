-- key_ddl: DDL that would leave a bound table's key gone or of a type whose
-- text does not identify a row is refused (webflow_check_altered_keys,
-- webflow_check_dropped_keys), also when it reaches the key from another
-- object (a domain, a collation, a generated column's function dropped
-- with CASCADE); a binding whose key was broken where event triggers do
-- not look holds up its own table's DDL only.
CREATE SCHEMA kd_types;
CREATE DOMAIN kd_types.code AS text;
CREATE COLLATION kd_types.c FROM "C";
CREATE TABLE kd (id kd_types.code PRIMARY KEY, name text);
CREATE TABLE kd_coll (id text COLLATE kd_types.c PRIMARY KEY, name text);
CREATE FUNCTION kd_types.twice(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 2';
CREATE TABLE kd_gen (a int NOT NULL, k int GENERATED ALWAYS AS (kd_types.twice(a)) STORED UNIQUE, name text);
CREATE TRIGGER kd_gen_publish AFTER INSERT OR UPDATE OR DELETE ON kd_gen FOR EACH ROW
    EXECUTE FUNCTION webflow.publish_trigger('5f1e0000000000000000e0b3', '{"key": "k"}');
INSERT INTO kd_gen (a, name) VALUES (1, 'One');
CREATE TRIGGER kd_publish AFTER INSERT OR UPDATE OR DELETE ON kd FOR EACH ROW
    EXECUTE FUNCTION webflow.publish_trigger('5f1e0000000000000000e0b1', '{}');
CREATE TRIGGER kd_coll_publish AFTER INSERT OR UPDATE OR DELETE ON kd_coll FOR EACH ROW
    EXECUTE FUNCTION webflow.publish_trigger('5f1e0000000000000000e0b2', '{}');
INSERT INTO kd VALUES ('a', 'Alpha');
INSERT INTO kd_coll VALUES ('a', 'Alpha');
SELECT source, key_columns, key_checked FROM webflow.bindings
WHERE collection_id LIKE '5f1e0000000000000000e0b_' ORDER BY id;

-- dropping what the key column is made of would drop the key column
SELECT wftest.error_of('DROP SCHEMA kd_types CASCADE');
SELECT wftest.error_of('DROP DOMAIN kd_types.code CASCADE');
SELECT wftest.error_of('DROP COLLATION kd_types.c CASCADE');
SELECT wftest.error_of('DROP FUNCTION kd_types.twice(int) CASCADE');
SELECT wftest.error_of('ALTER TABLE kd DROP COLUMN id');
SELECT wftest.error_of('ALTER TABLE kd RENAME COLUMN id TO code');
-- what is not the key may go
SELECT wftest.error_of('ALTER TABLE kd_gen DROP COLUMN name');
SELECT attname FROM pg_attribute WHERE attrelid = 'kd'::regclass AND attnum > 0 ORDER BY attnum;

-- where event triggers do not fire, the key column can still go; then
-- that table's own DDL is refused, and no other table's, nor a drop that
-- takes another of its columns
CREATE SCHEMA kd_other_s;
CREATE DOMAIN kd_other_s.note AS text;
ALTER TABLE kd_coll ADD COLUMN note kd_other_s.note;
SET session_replication_role = replica;
DROP COLLATION kd_types.c CASCADE;
RESET session_replication_role;
SELECT wftest.error_of('ALTER TABLE kd_coll ADD COLUMN other text');
CREATE TABLE kd_other (id int PRIMARY KEY);
SELECT wftest.error_of('ALTER TABLE kd_other ADD COLUMN note text');
SELECT wftest.error_of('ALTER TABLE kd ADD COLUMN note text');
SELECT wftest.error_of('DROP SCHEMA kd_other_s CASCADE');
CREATE TYPE kd_mood AS ENUM ('sad', 'happy');
CREATE FUNCTION kd_mood_int(kd_mood) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 1';
SELECT wftest.error_of('CREATE CAST (kd_mood AS int) WITH FUNCTION kd_mood_int(kd_mood)');
-- unbinding the broken table lets its DDL through again
SELECT webflow.unbind('kd_coll');
SELECT wftest.error_of('ALTER TABLE kd_coll ADD COLUMN other text');

DROP TABLE kd, kd_coll, kd_gen, kd_other;
DROP CAST (kd_mood AS int);
DROP FUNCTION kd_mood_int(kd_mood);
DROP TYPE kd_mood;
DROP SCHEMA kd_types CASCADE;
SELECT count(*) AS bindings_left FROM webflow.bindings
WHERE collection_id LIKE '5f1e0000000000000000e0b_';
