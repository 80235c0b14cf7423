# t/083_trigger_attack.pl: fault and security attacks on the publish
# trigger of merge12 (row_image.c builds the image, outbox_write.c writes the
# outbox row in C with a per-session cache).  Every ok() asserts that a
# guarantee HOLDS; a failing ok() is a break.  The worker talks to a dead
# port, so that the outbox rows the trigger writes stay where we can read
# them.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use WebflowTest;

my ($attempts, $breaks) = (0, 0);
sub attempt
{
	my ($ok, $name) = @_;
	$attempts++;
	$breaks++ unless $ok;
	ok($ok, $name);
}

my $node = new_node('trigger_attack',
	api_url                   => 'http://127.0.0.1:9',
	'webflow.naptime'         => "'600s'",
	max_prepared_transactions => 5);
sub sql { return $node->safe_psql('postgres', $_[0]); }
my $C1 = '580e63fc8c9a982ac9b8b7a1';
my $C2 = '580e63fc8c9a982ac9b8b7a2';
my $C3 = '580e63fc8c9a982ac9b8b7a3';
my $C4 = '580e63fc8c9a982ac9b8b7a4';
my $C5 = '580e63fc8c9a982ac9b8b7a5';

sql(q{
CREATE EXTENSION amcheck;
CREATE ROLE alice LOGIN; CREATE ROLE mallory LOGIN;
GRANT USAGE, CREATE ON SCHEMA public TO alice; GRANT USAGE ON SCHEMA public TO mallory;
});
sub amcheck_ok
{
	my $bad = sql(q{SELECT count(*) FROM (SELECT bt_index_check(indexrelid, true)
	                 FROM pg_index WHERE indrelid = 'webflow.outbox'::regclass) s});
	my $n = sql(q{SELECT count(*) FROM pg_index WHERE indrelid = 'webflow.outbox'::regclass});
	return $bad eq $n;
}
# queued(TABLE): "op:key" of the outbox rows of the table's binding(s), in order
sub queued
{
	my ($t) = @_;
	return sql(qq{SELECT coalesce(string_agg(o.op || ':' || o.row_key, ',' ORDER BY o.id), '')
	              FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id
	              WHERE b.source = '$t'::regclass});
}

# ---- 1. row image equals to_jsonb(row) over many types and settings
sql(qq{
CREATE TYPE public.comp AS (a int, b text, c numeric);
CREATE DOMAIN public.intarr AS int[] CHECK (cardinality(VALUE) < 10);
CREATE DOMAIN public.posnum AS numeric CHECK (VALUE > 0);
CREATE TYPE public.color AS ENUM ('red', 'green');
CREATE TABLE public.img (id int PRIMARY KEY, b bool, i2 int2, i8 int8, f4 float4, f8 float8,
  n numeric, pn posnum, t text, vc varchar(5), bc char(4), nm name, u uuid, d date, ts timestamp,
  tz timestamptz, tm time, ttz timetz, iv interval, ba bytea, ia intarr, ca comp[], cp comp,
  j json, jb jsonb, r int4range, mr int4multirange, e color, inet inet, big text, x int,
  g int GENERATED ALWAYS AS (id * 2) STORED);
ALTER TABLE public.img DROP COLUMN x;
ALTER TABLE public.img ADD COLUMN late text DEFAULT 'late default';
CREATE TRIGGER wf AFTER INSERT OR UPDATE OR DELETE ON public.img FOR EACH ROW
  EXECUTE FUNCTION webflow.publish_trigger('$C1');
});
my $rows = q{
INSERT INTO img (id, b, i2, i8, f4, f8, n, pn, t, vc, bc, nm, u, d, ts, tz, tm, ttz, iv, ba, ia, ca, cp, j, jb, r, mr, e, inet, big) VALUES
 (1, true, -32768, 9223372036854775807, '-0', 'NaN', 'Infinity', 1.500, E'tab\there "q" \\ \u00e9', 'ab', 'x', 'nm',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'infinity', '2024-03-31 02:30', '2024-10-27 02:30 Europe/Berlin',
  '24:00', '12:00+05:30', '-1 year 2 mons 3 days 04:05:06.7', '\xdeadbeef', '{1,NULL,3}',
  ARRAY[ROW(1,'a',NULL)::comp, NULL], ROW(NULL, 'x"y', 'NaN'), '{"a":1,"a":2, "b": [1e400]}', '{"z": null}',
  '[1,5)', '{[1,2),[5,9)}', 'green', '::1/128', repeat('y', 300000)),
 (2, NULL, 0, 0, 1e-45, 1.7976931348623157e308, '-0.000', NULL, '', NULL, NULL, NULL, NULL, '-infinity',
  '-infinity', 'infinity', NULL, NULL, 'P1Y', '\x', '{}', '{}', NULL, '"s"', '[]', 'empty', '{}', NULL, NULL,
  (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 3000) i));
};
for my $settings ("SET DateStyle = 'SQL, DMY'; SET TimeZone = 'America/St_Johns'; SET IntervalStyle = 'sql_standard'; SET bytea_output = 'escape'; SET extra_float_digits = -3;",
	"SET DateStyle = 'German'; SET TimeZone = 'UTC'; SET IntervalStyle = 'iso_8601'; SET extra_float_digits = 3; SET default_toast_compression = 'pglz';")
{
	sql('TRUNCATE img; DELETE FROM webflow.outbox;');
	my $diff = sql(qq{$settings $rows
		SELECT count(*) FROM webflow.outbox o JOIN img ON img.id::text = o.row_key
		WHERE o.row_image IS DISTINCT FROM to_jsonb(img);});
	attempt($diff eq '0', "row image equals to_jsonb(row) under: $settings");
}
attempt(amcheck_ok(), 'outbox indexes consistent after toasted images (amcheck heapallindexed)');

# ---- 2. user cast to json runs as the writer, never as another role
sql(q{
CREATE TYPE public.mood AS ENUM ('sad', 'ok');
CREATE FUNCTION public.mood_json(m mood) RETURNS json LANGUAGE sql
  AS $$ SELECT json_build_object('who', current_user::text) $$;
CREATE CAST (mood AS json) WITH FUNCTION public.mood_json(mood);
CREATE TABLE public.moods (id int PRIMARY KEY, m mood);
ALTER TABLE moods OWNER TO alice; ALTER FUNCTION mood_json(mood) OWNER TO alice; ALTER TYPE mood OWNER TO alice;
});
sql(qq{CREATE TRIGGER wf AFTER INSERT OR UPDATE OR DELETE ON public.moods FOR EACH ROW
  EXECUTE FUNCTION webflow.publish_trigger('$C2');});
sql(q{
CREATE FUNCTION public.sd_ins(i int) RETURNS void LANGUAGE sql SECURITY DEFINER AS $$ INSERT INTO public.moods VALUES (i, 'ok') $$;
ALTER FUNCTION sd_ins(int) OWNER TO alice; GRANT EXECUTE ON FUNCTION sd_ins(int) TO mallory;
});
sql(q{SET ROLE alice; INSERT INTO moods VALUES (1, 'sad'); RESET ROLE; SET ROLE mallory; SELECT sd_ins(2);});
my $who = sql(q{SELECT string_agg(row_key || '=' || (row_image->'m'->>'who'), ',' ORDER BY o.id) FROM webflow.outbox o
                JOIN webflow.bindings b ON b.id = o.binding_id WHERE b.source = 'moods'::regclass});
attempt($who eq '1=alice,2=alice', "user cast ran as the writer (alice, also via SECURITY DEFINER): $who");
sql(q{CREATE OR REPLACE FUNCTION public.mood_json(m mood) RETURNS json LANGUAGE plpgsql AS $$
  BEGIN INSERT INTO webflow.outbox (binding_id, op, row_key) VALUES (1, 'delete', 'evil'); RETURN '1'; END $$;});
my ($rc, $out, $err) = $node->psql('postgres', q{SET ROLE alice; INSERT INTO moods VALUES (3, 'sad');});
attempt($err =~ /permission denied for table outbox/ &&
	sql(q{SELECT count(*) FROM webflow.outbox WHERE row_key IN ('evil', '3')}) eq '0',
	'a cast that writes webflow.outbox is refused (it runs as the writer) and nothing is queued');

# ---- 3. transactions: only committed changes are queued
sql(qq{CREATE TABLE public.tx (id int PRIMARY KEY, v text);
  CREATE TRIGGER wf AFTER INSERT OR UPDATE OR DELETE ON public.tx FOR EACH ROW EXECUTE FUNCTION webflow.publish_trigger('$C3');
  INSERT INTO tx VALUES (0, 'warm');});
sql(q{BEGIN; INSERT INTO tx VALUES (1, 'a'); SAVEPOINT s; INSERT INTO tx VALUES (2, 'b'); ROLLBACK TO s; COMMIT;});
sql(q{DO $$ BEGIN BEGIN INSERT INTO tx VALUES (3, 'c'); RAISE EXCEPTION 'boom'; EXCEPTION WHEN others THEN NULL; END; END $$;});
$node->psql('postgres', q{BEGIN; INSERT INTO tx VALUES (4, 'd'); SELECT 1/0; COMMIT;});
sql(q{BEGIN; INSERT INTO tx VALUES (5, 'e'); PREPARE TRANSACTION 'p5';});
sql(q{BEGIN; INSERT INTO tx VALUES (6, 'f'); PREPARE TRANSACTION 'p6';});
sql(q{ROLLBACK PREPARED 'p5'; COMMIT PREPARED 'p6';});
sql(q{INSERT INTO tx VALUES (7, 'g') ON CONFLICT (id) DO NOTHING; INSERT INTO tx VALUES (7, 'h') ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v;});
sql(q{INSERT INTO tx VALUES (7, 'h') ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v;});   # no-op update
sql(q{UPDATE tx SET id = 8 WHERE id = 7;});                                          # key change
my $q = queued('tx');
attempt($q eq 'upsert:0,upsert:1,upsert:6,upsert:7,upsert:7,delete:7,upsert:8',
	"only committed changes queued, no-op update silent, key change = delete+create, in order: $q");

# ---- 4. warm cache vs DDL from another session (row table and outbox)
my $s = $node->background_psql('postgres', on_error_stop => 0);
$s->query_safe(qq{CREATE TABLE public.ddl (id int PRIMARY KEY, v int, w text);
  CREATE TRIGGER wf AFTER INSERT OR UPDATE OR DELETE ON public.ddl FOR EACH ROW EXECUTE FUNCTION webflow.publish_trigger('$C4');
  INSERT INTO ddl VALUES (1, 10, 'a');});
sql(q{ALTER TABLE ddl ALTER COLUMN v TYPE text USING 'v' || v; ALTER TABLE ddl ADD COLUMN z numeric DEFAULT 2.5;
      CREATE INDEX CONCURRENTLY outbox_attack ON webflow.outbox (row_key) WHERE op = 'delete';
      ALTER TABLE webflow.outbox ADD COLUMN attack_note text;});
$s->query_safe(q{INSERT INTO ddl VALUES (2, 20, 'b'); DELETE FROM ddl WHERE id = 2;});
sql(q{REINDEX TABLE CONCURRENTLY webflow.outbox; VACUUM FULL webflow.outbox; CREATE INDEX outbox_cluster ON webflow.outbox (id); CLUSTER webflow.outbox USING outbox_cluster;});
$s->query_safe(q{INSERT INTO ddl VALUES (3, 30, 'c'); DELETE FROM ddl WHERE id = 3;});
$s->quit;
my $eq = sql(q{SELECT count(*) FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id JOIN ddl ON ddl.id::text = o.row_key
               WHERE b.source = 'ddl'::regclass AND o.op = 'upsert' AND o.row_image = to_jsonb(ddl)});
my $dels = sql(q{SET enable_seqscan = off; SELECT string_agg(row_key, ',' ORDER BY row_key) FROM webflow.outbox WHERE op = 'delete' AND row_key IN ('2', '3')});
attempt(defined $dels && $dels eq '2,3', "deletes written after CREATE INDEX CONCURRENTLY / REINDEX / VACUUM FULL are found through the new partial index: " . ($dels // ''));
attempt(amcheck_ok(), 'outbox indexes consistent after DDL with a warm writer cache (amcheck heapallindexed)');
my $imgs = sql(q{SELECT string_agg(row_image::text, ';' ORDER BY id) FROM webflow.outbox WHERE op = 'upsert' AND row_key = '2'
                 AND binding_id = (SELECT id FROM webflow.bindings WHERE source = 'ddl'::regclass)});
attempt(defined $imgs && $imgs eq '{"v": "20", "w": "b", "z": 2.5, "id": 2}',
	"image of a row written after ALTER COLUMN TYPE in another session uses the new type: " . ($imgs // ''));

# ---- 5. crash right after commit: the row and its index entries survive
sql(q{INSERT INTO tx VALUES (100, 'crash')});
$node->stop('immediate');
$node->start;
attempt(queued('tx') =~ /upsert:100$/, 'a row committed before an immediate stop is in the outbox after recovery');
attempt(amcheck_ok(), 'outbox indexes consistent after crash recovery (amcheck heapallindexed)');

# ---- 6. the draft column, excluded from the fields: a change of it alone
sql(qq{CREATE TABLE public.posts (id int PRIMARY KEY, name text, hidden boolean NOT NULL DEFAULT false);
  CREATE TRIGGER wf AFTER INSERT OR UPDATE OR DELETE ON public.posts FOR EACH ROW
    EXECUTE FUNCTION webflow.publish_trigger('$C5', '{"exclude": ["hidden"], "draft": "hidden"}');
  INSERT INTO posts VALUES (1, 'p', false);});
my $before = queued('posts');
sql(q{UPDATE posts SET hidden = true WHERE id = 1});
my $after = queued('posts');
my $payload = sql(q{SELECT webflow.item_payload(to_jsonb(p), '{"exclude": ["hidden"], "draft": "hidden"}')->>'isDraft' FROM posts p});
attempt($after ne $before,
	"UPDATE of the draft column alone (excluded from fields; payload isDraft now $payload) queues a change: before '$before', after '$after'");

# ---- 7. ALTER TABLE ... DROP COLUMN of a bound table keeps its binding and queue
sql(q{INSERT INTO tx VALUES (200, 'queued before drop column'); ALTER TABLE tx ADD COLUMN junk int;});
my $q1 = queued('tx');
my $b1 = sql(q{SELECT id FROM webflow.bindings WHERE source = 'tx'::regclass});
sql(q{ALTER TABLE tx DROP COLUMN junk});
my $q2 = queued('tx');
my $b2 = sql(q{SELECT coalesce(string_agg(id::text, ','), 'none') FROM webflow.bindings WHERE source = 'tx'::regclass});
attempt($q2 eq $q1 && $b2 eq $b1,
	"DROP COLUMN of a bound table keeps the binding ($b1 -> $b2) and its queued changes (" .
	scalar(split(/,/, $q1)) . ' -> ' . scalar(split(/,/, $q2)) . ')');

# ---- 8. the outbox is locked once per transaction: indexes made and
# dropped inside the writing transaction, around savepoints, and a TRUNCATE
# of the outbox between two writes of one transaction
sql(qq{CREATE TABLE public.tx8 (id int PRIMARY KEY, v text);
  CREATE TRIGGER wf AFTER INSERT OR UPDATE OR DELETE ON public.tx8 FOR EACH ROW EXECUTE FUNCTION webflow.publish_trigger('$C3');});
sql(q{BEGIN;
  INSERT INTO tx8 VALUES (1, 'a');
  SAVEPOINT s1; INSERT INTO tx8 VALUES (2, 'rolled back'); ROLLBACK TO s1;
  CREATE INDEX outbox_same_tx ON webflow.outbox (row_key, id);
  INSERT INTO tx8 VALUES (3, 'b');
  SAVEPOINT s2; DROP INDEX webflow.outbox_same_tx; INSERT INTO tx8 VALUES (4, 'c'); RELEASE s2;
  SAVEPOINT s3; CREATE INDEX outbox_same_tx2 ON webflow.outbox (op, row_key); INSERT INTO tx8 VALUES (5, 'gone'); ROLLBACK TO s3;
  INSERT INTO tx8 VALUES (6, 'd');
  COMMIT;});
my $q8 = queued('tx8');
attempt($q8 eq 'upsert:1,upsert:3,upsert:4,upsert:6',
	"writes around CREATE/DROP INDEX on the outbox and savepoints in one transaction: $q8");
attempt(amcheck_ok(), 'outbox indexes consistent after indexes made and dropped inside the writing transaction (amcheck heapallindexed)');
sql(q{BEGIN; INSERT INTO tx8 VALUES (7, 'e'); SAVEPOINT s; INSERT INTO tx8 VALUES (8, 'f'); RELEASE s;
      PREPARE TRANSACTION 'p8';});
sql(q{COMMIT PREPARED 'p8'; BEGIN; INSERT INTO tx8 VALUES (9, 'g'); TRUNCATE webflow.outbox; INSERT INTO tx8 VALUES (10, 'h'); COMMIT;});
$q8 = queued('tx8');
attempt($q8 eq 'upsert:10' && amcheck_ok(),
	"a write after TRUNCATE of the outbox in the same transaction is queued alone: $q8");

# ---- 9. one index entry per written row (outbox_fresh); rows claimed and put
# back (the dead port makes every pass wait) move to outbox_row/outbox_due,
# and a key's older rows put back are claimed with its newer fresh row
# (the worker is off: only drain() passes, when the test says)
sql(q{ALTER SYSTEM SET webflow.worker_enabled = off; SELECT pg_reload_conf();});
my $fresh_sql = q{SELECT coalesce(string_agg(o.row_key || '=' || (o.next_attempt_at = o.enqueued_at)::text, ',' ORDER BY o.id), '')
	             FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id WHERE b.source = 'ord'::regclass};
sub fresh_of { return sql($fresh_sql); }
my $f0 = sql(qq{TRUNCATE webflow.outbox; CREATE TABLE public.ord (id int PRIMARY KEY, v text);
  CREATE TRIGGER wf AFTER INSERT OR UPDATE OR DELETE ON public.ord FOR EACH ROW EXECUTE FUNCTION webflow.publish_trigger('$C5');
  INSERT INTO ord VALUES (1, 'a'), (2, 'a'); $fresh_sql});
sql(q{SELECT webflow.drain(100)});
my $f1 = fresh_of();
attempt($f0 eq '1=true,2=true' && $f1 eq '1=false,2=false' && amcheck_ok(),
	"written rows are fresh, a pass that puts them back moves them out of outbox_fresh: $f0 / $f1");
sql(q{UPDATE ord SET v = 'b' WHERE id = 1; INSERT INTO ord VALUES (3, 'a');});
# key 1: the older row waits (not due), the newer is fresh: a pass takes both
sql(q{SELECT webflow.drain(100)});
my $k1 = sql(q{SELECT count(DISTINCT o.next_attempt_at) || ':' || count(*) || ':' || bool_and(o.next_attempt_at <> o.enqueued_at)
               FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id
               WHERE b.source = 'ord'::regclass AND o.row_key = '1'});
attempt($k1 eq '1:2:true' && amcheck_ok(),
	"a key's older row that waits is claimed (and put back) with its newer fresh row: $k1");
# many fresh rows and one due row put back: a pass of 1 takes the lowest id
sql(q{UPDATE webflow.outbox SET next_attempt_at = now() - interval '1 hour' WHERE row_key = '2'
      AND binding_id = (SELECT id FROM webflow.bindings WHERE source = 'ord'::regclass);
      INSERT INTO ord SELECT i, 'x' FROM generate_series(10, 40) i;});
my $fresh_before = sql(q{SELECT string_agg(o.row_key, ',' ORDER BY o.id) FROM webflow.outbox o
                   WHERE o.next_attempt_at = o.enqueued_at});
sql(q{SELECT webflow.drain(1)});
my $fresh_after = sql(q{SELECT string_agg(o.row_key, ',' ORDER BY o.id) FROM webflow.outbox o
                  WHERE o.next_attempt_at = o.enqueued_at});
my $due2 = sql(q{SELECT (o.next_attempt_at > now())::text FROM webflow.outbox o
                 JOIN webflow.bindings b ON b.id = o.binding_id WHERE b.source = 'ord'::regclass AND o.row_key = '2'});
attempt($fresh_after eq $fresh_before && $due2 eq 'true' && amcheck_ok(),
	"a pass of one row takes the oldest due row (a row put back, older than every fresh one), no fresh row: $due2");
sql(q{SELECT webflow.retry(false)});
attempt(amcheck_ok(), 'outbox indexes consistent after retry() (amcheck heapallindexed)');

# ---- 10. a partial index whose predicate reads only what a transaction's
# rows share (the times, state) is decided once per transaction; one that
# reads op per row.  A warm writer in one session, the predicate's time
# between two of its transactions; both directions checked (heap -> index by
# amcheck, index -> heap by counting through the index)
my $T = sql(q{SELECT (now() + interval '2 seconds')::text});
sql(qq{CREATE INDEX outbox_later ON webflow.outbox (id) WHERE enqueued_at > '$T';
       CREATE INDEX outbox_dels ON webflow.outbox (id) WHERE op = 'delete' AND state = 'pending';});
my $w = $node->background_psql('postgres', on_error_stop => 0);
$w->query_safe(q{BEGIN; INSERT INTO ord VALUES (100, 'early'); DELETE FROM ord WHERE id = 100; INSERT INTO ord VALUES (101, 'early'); COMMIT;});
sleep 3;
$w->query_safe(q{BEGIN; INSERT INTO ord VALUES (102, 'late'); DELETE FROM ord WHERE id = 102; INSERT INTO ord VALUES (103, 'late'); COMMIT;});
$w->quit;
sub through_index
{
	my ($index, $cond) = @_;
	my $by_index = sql(qq{SET enable_seqscan = off; SET enable_bitmapscan = off;
	                      SELECT count(*) FROM webflow.outbox WHERE $cond});
	my $by_heap = sql(qq{SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off;
	                     SELECT count(*) FROM webflow.outbox WHERE $cond});
	return "$by_index/$by_heap";
}
my $later = through_index('outbox_later', qq{enqueued_at > '$T'});
my $pending_dels = through_index('outbox_dels', q{op = 'delete' AND state = 'pending'});
my ($lb, $lh) = split m{/}, $later;
my ($db, $dh) = split m{/}, $pending_dels;
attempt($lb eq $lh && $lh eq '3' && $db eq $dh && $dh >= 2 && amcheck_ok(),
	"partial indexes decided per transaction (time) and per row (op) hold exactly their rows: later $later, deletes $pending_dels");
sql(q{DROP INDEX webflow.outbox_later; DROP INDEX webflow.outbox_dels;});

diag("trigger-attack: $attempts attempts, $breaks breaks");
done_testing();
