-- key_ddl: DDL that would leave a bound table's key gone or of a type whose
-- text does not identify a row is refused (webflow_check_altered_keys),
-- also when it reaches the key from another object (a domain, a collation
-- dropped with CASCADE); a binding whose key was broken where event
-- triggers do not look holds up its own table's DDL only.
CREATE SCHEMA kd_types;
CREATE DOMAIN kd_types.code AS text;
CREATE COLLATION kd_types.c FROM "C";
CREATE TABLE kd (id kd_types.code PRIMARY KEY, name text);
CREATE TABLE kd_coll (id text COLLATE kd_types.c PRIMARY KEY, name text);
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
SELECT wftest.error_of('ALTER TABLE kd RENAME COLUMN id TO code');
SELECT attname FROM pg_attribute WHERE attrelid = 'kd'::regclass AND attnum > 0 ORDER BY attnum;

-- where event triggers do not fire, the key column can still go; then
-- that table's own DDL is refused, and no other table's
SET session_replication_role = replica;
DROP COLLATION kd_types.c CASCADE;
RESET session_replication_role;
SELECT wftest.error_of('ALTER TABLE kd_coll ADD COLUMN note text');
CREATE TABLE kd_other (id int PRIMARY KEY);
SELECT wftest.error_of('ALTER TABLE kd_other ADD COLUMN note text');
SELECT wftest.error_of('ALTER TABLE kd ADD COLUMN note text');
CREATE SCHEMA kd_other_s;
SELECT wftest.error_of('DROP SCHEMA kd_other_s');
-- unbinding the broken table lets its DDL through again
SELECT webflow.unbind('kd_coll');
SELECT wftest.error_of('ALTER TABLE kd_coll ADD COLUMN note text');

DROP TABLE kd, kd_coll, kd_other;
DROP SCHEMA kd_types CASCADE;
SELECT count(*) AS bindings_left FROM webflow.bindings
WHERE collection_id LIKE '5f1e0000000000000000e0b_';
