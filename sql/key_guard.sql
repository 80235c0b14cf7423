-- key_guard: a bound table's key stays unique.  The order of one key's
-- changes is the order they commit in only when a unique index makes its
-- writers wait for each other: bind() refuses a key without one, and DDL
-- that would leave a key that had one without any is refused
-- (webflow_check_altered_keys).
CREATE TABLE kg (id int PRIMARY KEY, code text NOT NULL, name text);
CREATE UNIQUE INDEX kg_code ON kg (code);
CREATE TRIGGER kg_publish AFTER INSERT OR UPDATE OR DELETE ON kg FOR EACH ROW
    EXECUTE FUNCTION webflow.publish_trigger('5f1e0000000000000000e0a1', '{"key": "code"}');
INSERT INTO kg VALUES (1, 'a', 'Alpha');
SELECT key_columns, key_checked FROM webflow.bindings WHERE source = 'kg'::regclass;

-- the only unique index on the key cannot go, nor be replaced by indexes
-- that do not make the key unique (a wider, a partial one)
CREATE UNIQUE INDEX kg_code_id ON kg (code, id);
CREATE UNIQUE INDEX kg_code_partial ON kg (code) WHERE name IS NOT NULL;
SELECT * FROM wftest.error_full('DROP INDEX kg_code');
SELECT indexrelid::regclass AS index FROM pg_index WHERE indrelid = 'kg'::regclass ORDER BY 1;

-- another unique index on the key lets it go; what is not the key may go
CREATE UNIQUE INDEX kg_code_2 ON kg (code);
SELECT wftest.error_of('DROP INDEX kg_code');
SELECT wftest.error_of('DROP INDEX kg_code_id, kg_code_partial');
SELECT wftest.error_of('ALTER TABLE kg DROP CONSTRAINT kg_pkey');
SELECT wftest.error_of('DROP INDEX kg_code_2');
-- a column's type may change: the index is built again, still unique
SELECT wftest.error_of('ALTER TABLE kg ALTER COLUMN code TYPE varchar(20)');
INSERT INTO kg VALUES (2, 'b', 'Beta');
SELECT op, row_key FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id
WHERE b.source = 'kg'::regclass ORDER BY o.id;

-- DROP INDEX CONCURRENTLY cannot be refused (it commits on the way): it
-- warns, and DDL that holds the table is refused until a unique index is
-- on the key again
DROP INDEX CONCURRENTLY kg_code_2;
SELECT wftest.error_of('ALTER TABLE kg ADD COLUMN note text');
CREATE UNIQUE INDEX kg_code_3 ON kg (code);
SELECT wftest.error_of('ALTER TABLE kg ADD COLUMN note text');

-- a primary key that is the key cannot be dropped either
CREATE TABLE kg_pk (id int PRIMARY KEY, name text);
CREATE TRIGGER kg_pk_publish AFTER INSERT OR UPDATE OR DELETE ON kg_pk FOR EACH ROW
    EXECUTE FUNCTION webflow.publish_trigger('5f1e0000000000000000e0a2', '{}');
INSERT INTO kg_pk VALUES (1, 'One');
SELECT wftest.error_of('ALTER TABLE kg_pk DROP CONSTRAINT kg_pk_pkey');
SELECT wftest.error_of('ALTER TABLE kg_pk DROP CONSTRAINT kg_pk_pkey, ADD PRIMARY KEY (id)');

-- other tables' DDL is not held up
CREATE TABLE kg_other (id int, name text);
CREATE INDEX kg_other_id ON kg_other (id);
SELECT wftest.error_of('DROP INDEX kg_other_id');
SELECT wftest.error_of('ALTER TABLE kg_other ADD COLUMN note text');

-- a trigger made by hand on a key no unique index is on registers its
-- binding as 1.0 did, not guarded: its table's DDL is not refused
CREATE TABLE kg_loose (id int, name text);
CREATE TRIGGER kg_loose_publish AFTER INSERT OR UPDATE OR DELETE ON kg_loose FOR EACH ROW
    EXECUTE FUNCTION webflow.publish_trigger('5f1e0000000000000000e0a3', '{"key": "id"}');
INSERT INTO kg_loose VALUES (1, 'One');
SELECT source, key_checked, key_unique FROM webflow.bindings
WHERE collection_id LIKE '5f1e0000000000000000e0a_' ORDER BY id;
SELECT wftest.error_of('ALTER TABLE kg_loose ADD COLUMN note text');

DROP TABLE kg, kg_pk, kg_other, kg_loose;
SELECT count(*) AS bindings_left FROM webflow.bindings
WHERE collection_id LIKE '5f1e0000000000000000e0a_';
