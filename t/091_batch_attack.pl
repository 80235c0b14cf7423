# t/091_batch_attack.pl: fresh-eyes attacks on the publish trigger's batched
# outbox writes (outbox_batch.c: rows kept in memory while a statement's
# AFTER triggers fire, written at its end or before any other statement,
# utility command, other subtransaction's trigger, or commit; outbox_write.c:
# one table_multi_insert, ids from one nextval per 1024 rows).
#
# Every attempt is one check that a guarantee HOLDS; a failing check is a
# BREAK.  The worker is off: the outbox's contents are the verdict.
#
# Attempts (verdict on main 4228a29):
#   0   plain insert (holds)
#   1   later AFTER trigger catches a unique_violation of an INSERT in an
#       EXCEPTION block: the UPDATE's outbox row is lost (BREAK: the kept
#       row is written by that INSERT's ExecutorStart inside the block's
#       subtransaction, which rolls back; the batch was already forgotten)
#   1b  the same inside BEGIN ... COMMIT with a second UPDATE (BREAK)
#   1c  WITH u AS (UPDATE t) INSERT INTO log; log's trigger swallows an
#       error (BREAK: both rows of t lost)
#   2   earlier-named AFTER trigger: SELECT then RAISE in an EXCEPTION
#       block, three rows: rows 1 and 2 lost (BREAK)
#   3   the same through a utility command (EXECUTE 'SET LOCAL') (BREAK)
#   4   savepoints rolled back / released (holds)
#   5   error in a later trigger after 1000 rows flushed, caught (holds)
#   6   statement_timeout in the trigger phase, caught (holds)
#   7   nested UPDATEs of the same rows from the owner's triggers (holds)
#   8   100k-row statements, 1.3 MB rows (holds)
#   9   two sessions on one key (holds)
#   10  procedure COMMIT/ROLLBACK, PREPARE TRANSACTION (holds)
#   11  SQL default-nextval inserts between kept rows, INCREMENT 1 (holds)
#   12  cached sequence values (CACHE 20) across INCREMENT 1 -> 1024 (holds)
#   13  writer without rights on webflow, SECURITY DEFINER function (holds)
#   14  deferred publish trigger, SET CONSTRAINTS inside a trigger (holds)
#   16  COPY FROM inside a trigger, CTE over two bound tables (holds)
#   17  ALTER TABLE / CREATE INDEX on the outbox between kept rows (holds)
#   18  ALTER SEQUENCE outbox_id_seq INCREMENT BY 1 after a 600-row block:
#       duplicate ids and a key's newer change below its older one (BREAK:
#       id_block trusts the increment at write time; the block reserved
#       before the ALTER is handed out again)
#   19  MERGE, WITH HOLD cursor over a function updating t (holds)
#   15  server log: no crash, no leak warning (holds)
# Since 91a390f (1, 1b, 1c, 2, 3: rows written inside a child
# subtransaction are kept until it commits into theirs, and kept for
# writing again when it aborts) and the id blocks ending at nextval's value
# (18: a block is the values above the nextval before, whatever increment
# a later nextval uses), every attempt holds.
# The end prints "batch-attack: N attempts, M breaks".
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use FindBin;
use lib $FindBin::RealBin;
use WebflowTest;

sub attempt { return attack_attempt(@_); }

my $node = new_node('batch_attack',
	api_url                   => 'http://127.0.0.1:9',
	'webflow.worker_enabled'  => 'off',
	max_prepared_transactions => 5);
sub sql { return $node->safe_psql('postgres', $_[0]); }
# try(SQL): runs SQL, returns "ok" or the error text (does not die)
sub try
{
	my ($ret, $out, $err) = $node->psql('postgres', $_[0]);
	return $ret == 0 ? 'ok' : "error: $err";
}
my $C1 = '580e63fc8c9a982ac9b8b7c1';
my $C2 = '580e63fc8c9a982ac9b8b7c2';

sql(qq{
CREATE ROLE alice LOGIN; CREATE ROLE mallory LOGIN;
GRANT USAGE, CREATE ON SCHEMA public TO alice; GRANT USAGE ON SCHEMA public TO mallory;
CREATE TABLE public.t (id int PRIMARY KEY, v int, note text);
CREATE TRIGGER wf AFTER INSERT OR UPDATE OR DELETE ON public.t FOR EACH ROW
  EXECUTE FUNCTION webflow.publish_trigger('$C1', '{"key":"id"}');
CREATE TABLE public.audit (id int PRIMARY KEY);
});

# queued(): "op:key:v" of t's outbox rows in id order
sub queued
{
	return sql(q{SELECT coalesce(string_agg(o.op || ':' || o.row_key || ':' || coalesce(o.row_image->>'v', '-'), ',' ORDER BY o.id), '')
	             FROM webflow.queue o JOIN webflow.bindings b ON b.id = o.binding_id
	             WHERE b.source = 'public.t'::regclass});
}
# mismatches(): keys of t whose last outbox row does not give the table's row
# (missing, wrong image, or a delete of a row that is there / an upsert of
# one that is not)
sub mismatches
{
	return sql(q{
	WITH o AS (SELECT DISTINCT ON (o.row_key) o.row_key, o.op, o.row_image
	           FROM webflow.queue o JOIN webflow.bindings b ON b.id = o.binding_id
	           WHERE b.source = 'public.t'::regclass ORDER BY o.row_key, o.id DESC)
	SELECT count(*) FROM public.t FULL JOIN o ON o.row_key = t.id::text
	WHERE (t.id IS NOT NULL AND (o.row_key IS NULL OR o.op <> 'upsert' OR o.row_image <> to_jsonb(t.*)))
	   OR (t.id IS NULL AND o.op <> 'delete')});
}
sub dup_ids { return sql(q{SELECT count(*) - count(DISTINCT id) FROM webflow.queue}); }
# reset(): empty table and outbox (the DELETE's own outbox rows removed after)
sub reset_all
{
	sql(q{ALTER TABLE public.t DISABLE TRIGGER USER; DELETE FROM public.t; ALTER TABLE public.t ENABLE TRIGGER USER;
	      DELETE FROM webflow.outbox_packed; DELETE FROM webflow.outbox; DELETE FROM public.audit;});
}

# warm up: learn the row_key format
sql(q{INSERT INTO public.t VALUES (1, 0, 'a')});
my $fmt = queued();
attempt($fmt eq 'upsert:1:0' && mismatches() eq '0', "0: plain insert gives one row ($fmt)");

# ---- 1. a later AFTER trigger (the owner's audit) with an EXCEPTION block
# whose INSERT fails: the kept row of the statement is written inside the
# block's subtransaction, which then rolls back
reset_all();
sql(q{
INSERT INTO public.t VALUES (1, 0, 'a'), (2, 0, 'b');
DELETE FROM webflow.outbox_packed; DELETE FROM webflow.outbox;
INSERT INTO public.audit VALUES (1);
CREATE FUNCTION public.audit_fn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    INSERT INTO public.audit VALUES (NEW.id);
  EXCEPTION WHEN unique_violation THEN NULL;
  END;
  RETURN NULL;
END $$;
CREATE TRIGGER zz_audit AFTER UPDATE ON public.t FOR EACH ROW EXECUTE FUNCTION public.audit_fn();
});
sql(q{UPDATE public.t SET v = 1 WHERE id = 1});
my $q1 = queued();
# (row 2 is not changed until 1b: only row 1's queue is compared here)
attempt($q1 eq 'upsert:1:1',
	"1: UPDATE of a row whose later AFTER trigger catches a unique_violation in an EXCEPTION block: the change's outbox row is there (outbox: '$q1', expected 'upsert:1:1')");

# 1b. the same, committed in an explicit transaction with more work after it
sql(q{DELETE FROM webflow.outbox_packed; DELETE FROM webflow.outbox});
sql(q{BEGIN; UPDATE public.t SET v = 2 WHERE id = 1; UPDATE public.t SET v = 2 WHERE id = 2; COMMIT;});
my $q1b = queued();
attempt($q1b eq 'upsert:1:2,upsert:2:2' && mismatches() eq '0',
	"1b: two such UPDATEs in one transaction (the first's audit insert fails and is caught, the second's succeeds): both rows there (outbox: '$q1b', expected 'upsert:1:2,upsert:2:2')");
sql(q{DROP TRIGGER zz_audit ON public.t});

# 1c. the common audit pattern on another table: a CTE's UPDATE of t feeds
# an INSERT into a log whose AFTER trigger swallows an error
sql(q{
CREATE TABLE public.log (id int, note text);
CREATE FUNCTION public.log_fn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    INSERT INTO public.audit VALUES (NEW.id);
  EXCEPTION WHEN unique_violation THEN NULL;
  END;
  RETURN NULL;
END $$;
CREATE TRIGGER log_after AFTER INSERT ON public.log FOR EACH ROW EXECUTE FUNCTION public.log_fn();
INSERT INTO public.audit VALUES (1), (2) ON CONFLICT DO NOTHING;
DELETE FROM webflow.outbox_packed; DELETE FROM webflow.outbox;
});
sql(q{WITH u AS (UPDATE public.t SET v = 3 RETURNING id) INSERT INTO public.log SELECT id, 'changed' FROM u});
my $q1c = queued();
attempt($q1c eq 'upsert:1:3,upsert:2:3' && mismatches() eq '0',
	"1c: WITH u AS (UPDATE t ...) INSERT INTO log ...; log's AFTER trigger catches an error in an EXCEPTION block: both rows there (outbox: '$q1c', expected 'upsert:1:3,upsert:2:3')");

# ---- 2. an owner's trigger that fires BEFORE the publish trigger (name
# order) with an EXCEPTION block that runs a query and raises: on a
# three-row UPDATE, rows 1 and 2 are kept when rows 2 and 3 run the block
reset_all();
sql(q{
INSERT INTO public.t VALUES (1, 0, 'a'), (2, 0, 'b'), (3, 0, 'c');
DELETE FROM webflow.outbox_packed; DELETE FROM webflow.outbox;
CREATE FUNCTION public.check_fn() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE n int;
BEGIN
  BEGIN
    SELECT count(*) INTO n FROM public.audit WHERE id = NEW.id;
    IF n = 0 THEN RAISE EXCEPTION 'not audited'; END IF;
  EXCEPTION WHEN raise_exception THEN NULL;
  END;
  RETURN NULL;
END $$;
CREATE TRIGGER aa_check AFTER UPDATE ON public.t FOR EACH ROW EXECUTE FUNCTION public.check_fn();
});
sql(q{UPDATE public.t SET v = 5});
my $q2 = sql(q{SELECT string_agg(row_key, ',' ORDER BY row_key) FROM webflow.queue}) // '';
attempt($q2 eq '1,2,3' && mismatches() eq '0',
	"2: three-row UPDATE, an earlier-named AFTER trigger runs a SELECT then RAISEs inside an EXCEPTION block: all three keys queued (outbox keys: '$q2', expected '1,2,3')");
sql(q{DROP TRIGGER aa_check ON public.t});

# ---- 3. the same door through a utility command (EXECUTE 'SET LOCAL ...')
reset_all();
sql(q{
INSERT INTO public.t VALUES (1, 0, 'a'), (2, 0, 'b');
DELETE FROM webflow.outbox_packed; DELETE FROM webflow.outbox;
CREATE FUNCTION public.util_fn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    EXECUTE 'SET LOCAL work_mem = ''8MB''';
    RAISE EXCEPTION 'undo the setting';
  EXCEPTION WHEN raise_exception THEN NULL;
  END;
  RETURN NULL;
END $$;
CREATE TRIGGER zz_util AFTER UPDATE ON public.t FOR EACH ROW EXECUTE FUNCTION public.util_fn();
});
sql(q{UPDATE public.t SET v = 7});
my $q3 = sql(q{SELECT string_agg(row_key, ',' ORDER BY row_key) FROM webflow.queue}) // '';
attempt($q3 eq '1,2' && mismatches() eq '0',
	"3: two-row UPDATE, a later AFTER trigger runs a utility command then RAISEs in an EXCEPTION block: both keys queued (outbox keys: '$q3', expected '1,2')");
sql(q{DROP TRIGGER zz_util ON public.t});

# ---- 4. savepoints: a rolled-back UPDATE leaves nothing, a kept one stays
reset_all();
sql(q{INSERT INTO public.t VALUES (1, 0, 'a'), (2, 0, 'b'); DELETE FROM webflow.outbox_packed; DELETE FROM webflow.outbox;});
sql(q{BEGIN; SAVEPOINT a; UPDATE public.t SET v = 9; ROLLBACK TO a; UPDATE public.t SET v = 3 WHERE id = 2;
      SAVEPOINT b; UPDATE public.t SET v = 4 WHERE id = 1; RELEASE b; COMMIT;});
my $q4 = queued();
attempt($q4 eq 'upsert:2:3,upsert:1:4' && mismatches() eq '0', "4: savepoint rolled back / released (outbox: '$q4')");

# ---- 5. error in a later trigger after 1000 rows were flushed, caught by a
# function's EXCEPTION block: nothing of that UPDATE
reset_all();
sql(q{
INSERT INTO public.t SELECT g, 0, 'x' FROM generate_series(1, 1500) g;
DELETE FROM webflow.outbox_packed; DELETE FROM webflow.outbox;
CREATE FUNCTION public.fail_fn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF NEW.id = 1400 AND NEW.v = 1 THEN RAISE EXCEPTION 'late failure'; END IF; RETURN NULL; END $$;
CREATE TRIGGER zz_fail AFTER UPDATE ON public.t FOR EACH ROW EXECUTE FUNCTION public.fail_fn();
CREATE FUNCTION public.guarded(newv int) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  UPDATE public.t SET v = newv;
  RETURN 'done';
EXCEPTION WHEN raise_exception THEN RETURN 'caught';
END $$;
});
my $r5 = sql(q{SELECT public.guarded(1)});
my $n5 = sql(q{SELECT count(*) FROM webflow.queue});
sql(q{SELECT public.guarded(2)});
my $n5b = sql(q{SELECT count(*) FROM webflow.queue});
attempt($r5 eq 'caught' && $n5 eq '0' && $n5b eq '1500' && mismatches() eq '0' && dup_ids() eq '0',
	"5: 1500-row UPDATE failing in a later trigger at row 1400, caught: nothing queued ($n5), then a good one: 1500 ($n5b)");
sql(q{DROP TRIGGER zz_fail ON public.t});

# ---- 6. statement_timeout during the trigger phase, caught by a function's
# EXCEPTION block (1000 rows already flushed)
sql(q{
CREATE FUNCTION public.slow_fn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF NEW.id = 1300 THEN PERFORM pg_sleep(3); END IF; RETURN NULL; END $$;
CREATE TRIGGER zz_slow AFTER UPDATE ON public.t FOR EACH ROW EXECUTE FUNCTION public.slow_fn();
CREATE FUNCTION public.guarded2(newv int) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  UPDATE public.t SET v = newv;
  RETURN 'done';
EXCEPTION WHEN query_canceled THEN RETURN 'timed out';
END $$;
});
sql(q{DELETE FROM webflow.outbox_packed; DELETE FROM webflow.outbox});
my $r6 = sql(q{SET statement_timeout = '1s'; SELECT public.guarded2(3)});
my $n6 = sql(q{SELECT count(*) FROM webflow.queue});
attempt($r6 eq 'timed out' && $n6 eq '0',
	"6: statement_timeout in the trigger phase after 1000 rows flushed, caught: nothing queued ($r6, $n6 rows)");
sql(q{DROP TRIGGER zz_slow ON public.t});

# ---- 7. the owner's trigger updates the same row again (nested statement),
# before and after the publish trigger in name order; last image = row
reset_all();
sql(q{
INSERT INTO public.t VALUES (1, 0, 'a'), (2, 0, 'b'), (3, 0, 'c');
DELETE FROM webflow.outbox_packed; DELETE FROM webflow.outbox;
CREATE FUNCTION public.bump_fn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.v < 100 THEN UPDATE public.t SET v = NEW.v + 100 WHERE id = NEW.id; END IF;
  IF NEW.id = 1 AND NEW.v < 100 THEN UPDATE public.t SET v = v + 1000 WHERE id = 3; END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER aa_bump AFTER UPDATE ON public.t FOR EACH ROW EXECUTE FUNCTION public.bump_fn();
});
sql(q{UPDATE public.t SET v = v + 1});
my $m7 = mismatches();
sql(q{ALTER TRIGGER aa_bump ON public.t RENAME TO zz_bump});
sql(q{UPDATE public.t SET v = 1});
my $m7b = mismatches();
attempt($m7 eq '0' && $m7b eq '0' && dup_ids() eq '0',
	"7: nested UPDATEs of the same rows from the owner's trigger (before and after the publish trigger): last image = row ($m7, $m7b mismatches; " . queued() . ")");
sql(q{DROP TRIGGER zz_bump ON public.t});

# ---- 8. 100k-row statements and rows over 1 MB
reset_all();
my $t8 = time;
sql(q{INSERT INTO public.t SELECT g, 0, NULL FROM generate_series(1, 100000) g});
sql(q{UPDATE public.t SET v = 1 WHERE id % 2 = 0});
sql(q{UPDATE public.t SET note = (SELECT string_agg(md5(g::text || id::text), '') FROM generate_series(1, 40000) g) WHERE id <= 3});
sql(q{DELETE FROM public.t WHERE id > 99990});
my $n8 = sql(q{SELECT count(*) FROM webflow.queue});
my $m8 = mismatches();
attempt($n8 eq '150013' && $m8 eq '0' && dup_ids() eq '0',
	sprintf("8: 100k insert, 50k update, three 1.3 MB rows, 10 deletes: %s rows (expected 150013), %s mismatches, %.1f s", $n8, $m8, time - $t8));

# ---- 9. two sessions on one key: ids in commit order
reset_all();
sql(q{INSERT INTO public.t VALUES (1, 0, 'a'); DELETE FROM webflow.outbox_packed; DELETE FROM webflow.outbox;});
{
	my ($in, $out, $err) = ('', '', '');
	my $a = IPC::Run::start([ 'psql', '-X', '-qAt', '-d', $node->connstr('postgres') ],
		'<', \$in, '>', \$out, '2>', \$err, IPC::Run::timeout(60));
	$in .= "BEGIN; UPDATE public.t SET v = 1 WHERE id = 1; SELECT 'a1';\n";
	$a->pump until $out =~ /a1/;
	my ($o2, $e2) = ('', '');
	my $b = IPC::Run::start([ 'psql', '-X', '-qAt', '-d', $node->connstr('postgres'), '-c',
		'UPDATE public.t SET v = 2 WHERE id = 1' ], '>', \$o2, '2>', \$e2, IPC::Run::timeout(60));
	wait_until(sub { sql(q{SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'}) ne '0' }, 10, 0.05);
	$in .= "UPDATE public.t SET v = 3 WHERE id = 1; COMMIT; SELECT 'a2';\n";
	$a->pump until $out =~ /a2/;
	$b->finish;
	$in .= "\\q\n";
	$a->finish;
}
my $q9 = queued();
attempt($q9 eq 'upsert:1:1,upsert:1:3,upsert:1:2' && mismatches() eq '0', "9: two sessions on one key: '$q9'");

# ---- 10. procedure with COMMIT and ROLLBACK inside, PREPARE TRANSACTION
reset_all();
sql(q{
INSERT INTO public.t VALUES (1, 0, 'a'), (2, 0, 'b'); DELETE FROM webflow.outbox_packed; DELETE FROM webflow.outbox;
CREATE PROCEDURE public.p() LANGUAGE plpgsql AS $$
BEGIN
  UPDATE public.t SET v = 10 WHERE id = 1; COMMIT;
  UPDATE public.t SET v = 20 WHERE id = 2; ROLLBACK;
  UPDATE public.t SET v = 30 WHERE id = 2; COMMIT;
END $$;
});
sql(q{CALL public.p()});
sql(q{BEGIN; UPDATE public.t SET v = 40; PREPARE TRANSACTION 'x10';});
sql(q{COMMIT PREPARED 'x10'});
my $q10 = queued();
attempt($q10 eq 'upsert:1:10,upsert:2:30,upsert:1:40,upsert:2:40' && mismatches() eq '0', "10: procedure COMMIT/ROLLBACK, 2PC: '$q10'");

# ---- 11. SQL inserts into the outbox (default nextval) inside the trigger
# phase, with the sequence at INCREMENT 1 (a partial upgrade) and at 1024
reset_all();
sql(q{
INSERT INTO public.t SELECT g, 0, 'x' FROM generate_series(1, 50) g; DELETE FROM webflow.outbox_packed; DELETE FROM webflow.outbox;
CREATE FUNCTION public.sqlins_fn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO webflow.outbox (binding_id, op, row_key) VALUES (-1, 'delete', 'sql' || NEW.id);
  RETURN NULL;
END $$;
CREATE TRIGGER zz_sqlins AFTER UPDATE ON public.t FOR EACH ROW EXECUTE FUNCTION public.sqlins_fn();
});
sql(q{UPDATE public.t SET v = 1});
sql(q{ALTER SEQUENCE webflow.outbox_id_seq INCREMENT BY 1});
sql(q{UPDATE public.t SET v = 2});
sql(q{DROP TRIGGER zz_sqlins ON public.t});
sql(q{UPDATE public.t SET v = 3});
sql(q{ALTER SEQUENCE webflow.outbox_id_seq INCREMENT BY 1024});
sql(q{UPDATE public.t SET v = 4});
my $d11 = dup_ids();
my $n11 = sql(q{SELECT count(*) FROM webflow.queue});
attempt($d11 eq '0' && $n11 eq '300' && mismatches() eq '0', "11: SQL default-nextval inserts between kept rows, INCREMENT 1 and back to 1024: $d11 duplicate ids, $n11 rows (expected 300)");
sql(q{DELETE FROM webflow.outbox_packed; DELETE FROM webflow.outbox WHERE binding_id = -1});

# ---- 12. a session holds cached values of outbox_id_seq (CACHE 20,
# INCREMENT 1, as after a partial upgrade); the upgrade's ALTER SEQUENCE
# INCREMENT BY 1024 then runs in another session
reset_all();
sql(q{INSERT INTO public.t SELECT g, 0, 'x' FROM generate_series(1, 5) g; DELETE FROM webflow.outbox_packed; DELETE FROM webflow.outbox;});
sql(q{ALTER SEQUENCE webflow.outbox_id_seq INCREMENT BY 1 CACHE 20});
{
	my ($in, $out, $err) = ('', '', '');
	my $a = IPC::Run::start([ 'psql', '-X', '-qAt', '-d', $node->connstr('postgres') ],
		'<', \$in, '>', \$out, '2>', \$err, IPC::Run::timeout(60));
	$in .= "UPDATE public.t SET v = 1 WHERE id = 1; SELECT 'a1';\n";
	$a->pump until $out =~ /a1/;
	sql(q{ALTER SEQUENCE webflow.outbox_id_seq INCREMENT BY 1024});
	$in .= "UPDATE public.t SET v = 2 WHERE id <= 5; UPDATE public.t SET v = 3 WHERE id <= 5; SELECT 'a2';\n";
	$a->pump until $out =~ /a2/;
	$in .= "\\q\n";
	$a->finish;
}
sql(q{UPDATE public.t SET v = 4 WHERE id <= 5});
my $d12 = dup_ids();
my $ids12 = sql(q{SELECT string_agg(id::text, ',' ORDER BY id) FROM webflow.queue});
attempt($d12 eq '0' && mismatches() eq '0', "12: cached sequence values across the INCREMENT change: $d12 duplicate ids ($ids12)");
sql(q{ALTER SEQUENCE webflow.outbox_id_seq INCREMENT BY 1024 CACHE 1});

# ---- 13. a writer without rights on the webflow schema, in a SECURITY
# DEFINER function of alice's with an EXCEPTION block
reset_all();
sql(qq{
SET ROLE alice;
CREATE TABLE public.at (id int PRIMARY KEY, v int);
CREATE FUNCTION public.at_upd(newv int) RETURNS text LANGUAGE plpgsql SECURITY DEFINER AS \$\$
BEGIN
  BEGIN
    UPDATE public.at SET v = newv;
    IF newv < 0 THEN RAISE EXCEPTION 'negative'; END IF;
  EXCEPTION WHEN raise_exception THEN RETURN 'undone';
  END;
  RETURN 'done';
END \$\$;
RESET ROLE;
CREATE TRIGGER wf AFTER INSERT OR UPDATE OR DELETE ON public.at FOR EACH ROW
  EXECUTE FUNCTION webflow.publish_trigger('$C2', '{"key":"id"}');
GRANT SELECT, UPDATE ON public.at TO mallory;
INSERT INTO public.at VALUES (1, 0), (2, 0);
DELETE FROM webflow.outbox_packed; DELETE FROM webflow.outbox;
});
my $r13 = $node->safe_psql('postgres', q{SET ROLE mallory; SELECT public.at_upd(5); SELECT public.at_upd(-1); UPDATE public.at SET v = 6 WHERE id = 2;});
my $q13 = sql(q{SELECT string_agg(row_key || ':' || (row_image->>'v'), ',' ORDER BY id) FROM webflow.queue});
attempt($q13 eq '1:5,2:5,2:6', "13: mallory (no rights on webflow) through a SECURITY DEFINER function and directly: '$q13' ($r13)");

# ---- 14. deferred publish trigger and SET CONSTRAINTS inside a trigger
reset_all();
sql(qq{
INSERT INTO public.t VALUES (1, 0, 'a'), (2, 0, 'b'); DELETE FROM webflow.outbox_packed; DELETE FROM webflow.outbox;
CREATE TABLE public.dt (id int PRIMARY KEY, v int);
CREATE CONSTRAINT TRIGGER wfd AFTER INSERT OR UPDATE ON public.dt DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION webflow.publish_trigger('580e63fc8c9a982ac9b8b7c3', '{"key":"id"}');
CREATE FUNCTION public.setc_fn() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN SET CONSTRAINTS ALL IMMEDIATE; SET CONSTRAINTS ALL DEFERRED; RETURN NULL; END \$\$;
CREATE TRIGGER zz_setc AFTER UPDATE ON public.t FOR EACH ROW EXECUTE FUNCTION public.setc_fn();
});
sql(q{BEGIN; INSERT INTO public.dt VALUES (1, 1); UPDATE public.t SET v = 1; UPDATE public.dt SET v = 2; COMMIT;});
my $q14 = sql(q{SELECT string_agg(row_key || ':' || (row_image->>'v'), ',' ORDER BY id) FROM webflow.queue});
attempt($q14 eq '1:1,1:1,2:1,1:2' && dup_ids() eq '0', "14: deferred publish trigger fired by SET CONSTRAINTS inside a trigger and at commit: '$q14'");
sql(q{DROP TRIGGER zz_setc ON public.t});

# ---- 16. COPY FROM a file inside an AFTER trigger (rows kept at the
# trigger's depth), a CTE writing two bound tables, webflow.sync() inside a
# trigger
reset_all();
my $copyfile = $node->basedir . '/copy16.txt';
sql(qq{
INSERT INTO public.t VALUES (1, 0, 'a'); DELETE FROM webflow.outbox_packed; DELETE FROM webflow.outbox;
COPY (SELECT g, g, 'copied' FROM generate_series(10, 1209) g) TO '$copyfile';
CREATE FUNCTION public.copy_fn() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN IF NEW.id = 1 AND NEW.v = 1 THEN EXECUTE format('COPY public.t FROM %L', '$copyfile'); UPDATE public.t SET v = 2 WHERE id = 10; END IF; RETURN NULL; END \$\$;
CREATE TRIGGER zz_copy AFTER UPDATE ON public.t FOR EACH ROW EXECUTE FUNCTION public.copy_fn();
});
sql(q{UPDATE public.t SET v = 1 WHERE id = 1});
my $n16 = sql(q{SELECT count(*) FROM webflow.queue});
my $m16 = mismatches();
sql(q{DROP TRIGGER zz_copy ON public.t});
sql(q{WITH a AS (UPDATE public.t SET v = 5 WHERE id <= 20 RETURNING id), b AS (UPDATE public.at SET v = 7 RETURNING id) SELECT count(*) FROM a, b});
my $m16b = mismatches();
my $at16 = sql(q{SELECT string_agg(row_key || ':' || (row_image->>'v'), ',' ORDER BY o.id) FROM webflow.queue o JOIN webflow.bindings b ON b.id = o.binding_id WHERE b.source = 'public.at'::regclass});
attempt($n16 eq '1202' && $m16 eq '0' && $m16b eq '0' && $at16 =~ /1:7/ && $at16 =~ /2:7/ && dup_ids() eq '0',
	"16: COPY FROM inside an AFTER trigger then an UPDATE of a copied row ($n16 rows, expected 1202; $m16 mismatches), CTE over two bound tables ($m16b mismatches, at: $at16)");

# ---- 17. the outbox altered (column, partial index) between kept rows of
# one statement
reset_all();
sql(q{
INSERT INTO public.t SELECT g, 0, 'x' FROM generate_series(1, 3) g; DELETE FROM webflow.outbox_packed; DELETE FROM webflow.outbox;
CREATE FUNCTION public.alter_fn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.id = 2 THEN
    ALTER TABLE webflow.outbox ADD COLUMN extra17 text;
    CREATE INDEX outbox_extra17 ON webflow.outbox (row_key) WHERE op = 'upsert' AND row_key <> '';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER zz_alter AFTER UPDATE ON public.t FOR EACH ROW EXECUTE FUNCTION public.alter_fn();
});
my $r17 = try(q{UPDATE public.t SET v = 1});
my $q17 = queued();
my $ix17 = sql(q{SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT count(*) FROM webflow.queue WHERE op = 'upsert' AND row_key <> '' AND row_key IN ('1','2','3')});
attempt($r17 eq 'ok' && $q17 eq 'upsert:1:1,upsert:2:1,upsert:3:1' && $ix17 eq '3',
	"17: ALTER TABLE webflow.outbox ADD COLUMN and CREATE INDEX between kept rows: $r17, '$q17', $ix17 rows through the new index");
sql(q{DROP TRIGGER zz_alter ON public.t; DROP INDEX webflow.outbox_extra17; ALTER TABLE webflow.outbox DROP COLUMN extra17;});

# ---- 18. a superuser sets the sequence back to INCREMENT BY 1 (undoing a
# partial upgrade, say) after a statement wrote a block of ids: nextval
# then hands out values inside the block already written
reset_all();
sql(q{INSERT INTO public.t SELECT g, 0, 'x' FROM generate_series(1, 600) g});
my $v18 = sql(q{SELECT min(id) FROM webflow.queue});
sql(q{ALTER SEQUENCE webflow.outbox_id_seq INCREMENT BY 1});
sql(q{UPDATE public.t SET v = 1 WHERE id >= 598});
my $d18 = dup_ids();
my $m18 = mismatches();
my $ids18 = sql(q{SELECT string_agg(row_key || '@' || id, ',' ORDER BY row_key::int, id) FROM webflow.queue WHERE row_key IN ('2', '598')});
attempt($d18 eq '0' && $m18 eq '0',
	"18: 600-row INSERT (one block from $v18), ALTER SEQUENCE INCREMENT BY 1, 3-row UPDATE of keys 598..600: $d18 duplicate ids, $m18 keys whose last outbox row is not the row ($ids18)");
sql(q{ALTER SEQUENCE webflow.outbox_id_seq INCREMENT BY 1024});

# ---- 19. MERGE, and a WITH HOLD cursor whose function updates t
reset_all();
sql(q{
INSERT INTO public.t SELECT g, 0, 'x' FROM generate_series(1, 5) g; DELETE FROM webflow.outbox_packed; DELETE FROM webflow.outbox;
CREATE FUNCTION public.bumpf(k int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN UPDATE public.t SET v = v + 1 WHERE id = k; UPDATE public.t SET v = v + 10 WHERE id = k; RETURN k; END $$;
});
sql(q{MERGE INTO public.t USING (SELECT g FROM generate_series(3, 7) g) s ON t.id = s.g
      WHEN MATCHED AND s.g = 5 THEN DELETE WHEN MATCHED THEN UPDATE SET v = 50 WHEN NOT MATCHED THEN INSERT VALUES (s.g, 60, 'm')});
sql(q{BEGIN; DECLARE c CURSOR WITH HOLD FOR SELECT public.bumpf(g) FROM generate_series(1, 4) g; FETCH 2 FROM c; COMMIT; FETCH ALL FROM c; CLOSE c;});
my $m19 = mismatches();
my $q19 = queued();
attempt($m19 eq '0' && dup_ids() eq '0', "19: MERGE and a WITH HOLD cursor over a function updating t: $m19 mismatches ($q19)");

# ---- 15. the server log: no crash, no leak warning
my $log = slurp_file($node->logfile);
my @bad = grep { /leak|was not closed|TRAP|terminated by signal|server process .* was terminated/ } split /\n/, $log;
attempt(!@bad, '15: no crash or leak warning in the server log' . (@bad ? ": $bad[0]" : ''));

attack_summary('batch-attack');
done_testing();
