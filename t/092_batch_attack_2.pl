# t/092_batch_attack_2.pl: a second fresh-eyes attack on the publish
# trigger's batched outbox writes (outbox_batch.c), aimed at what
# t/091_batch_attack.pl did not try: the RowsWritten bookkeeping under
# nested, sibling and repeated subtransactions, errors raised by the flush
# itself (a lock_timeout, a unique index, at the PRE_COMMIT_SUB of a
# block), code that the flush itself runs, what the flush's statement sees,
# and three sessions at once.
#
# Every change in these attempts adds exactly 1 to column v of its row (and
# rows start at v = 0 with no outbox row), so the outbox must hold, per
# key, exactly v upsert rows (nothing lost, nothing of a rolled-back change,
# nothing twice), their images' v never going down as the id rises (order),
# the last one equal to to_jsonb of the row; and ids unique.  verdict()
# checks all of that for every bound table at once.  The worker is off.
#
# Attempts (verdict on main 5eca836):
#   0   plain UPDATEs: the verdict itself (holds)
#   1   three nested EXCEPTION blocks per row, 8 commit/abort combinations,
#       handlers writing; trigger before and after the publish trigger;
#       in a transaction with a rolled-back savepoint (holds)
#   2   1500-row UPDATEs, four sibling blocks (abort, abort, commit,
#       query+abort): the same kept rows put back twice (holds)
#   3   depth-1 rows written in a block, depth-2 rows in its rows' blocks,
#       an error leaving the depth-2 statement, an outer abort (holds)
#   4a  COPY inside a trigger's block: rows kept for the block, written at
#       its PRE_COMMIT_SUB or dropped (holds)
#   4b  that PRE_COMMIT_SUB flush failing on a unique index, caught (holds)
#   5   the flush in an owner's block hits lock_timeout, caught (holds)
#   6   deferred rows fired by SET CONSTRAINTS in a block that aborts (holds)
#   7   CALL between savepoints; a procedure with blocks, COMMIT, ROLLBACK
#       (holds)
#   8   FOR loop over UPDATE ... RETURNING with a block per row (holds)
#   10  a later AFTER trigger reads webflow.outbox for its row: BREAK, the
#       kept row is written by that query's ExecutorStart with the query's
#       own command id, after its snapshot: the query cannot see it (the
#       row-by-row write, COPY, is seen).  Since documented (README,
#       publish_trigger): the check is that the rows are there after it.
#   11  three sessions, bulk increments of overlapping keys, savepoints,
#       an owner's blocks (holds)
#   13  (outbox.c, not the batch) a hand-made trigger's first row rolled
#       back: the session keeps the rolled-back binding's id, later rows
#       name a binding that does not exist (BREAK)
#   14  a later trigger sets transaction_read_only in a PL/pgSQL expression:
#       the kept row's nextval fails, the UPDATE fails (BREAK; row by row
#       the row was written before)
#   12  server log: no crash, leak or webflow warning up to here (holds)
#   9   an expression index on the outbox over a non-inlinable SQL
#       function: the batch's write evaluates it, its query's ExecutorStart
#       hook calls batch_write again with the same rows: endless recursion,
#       SIGSEGV (BREAK; COPY, row by row, works)
#   9b  the same with one query once per session: the nested write clears
#       the writer's slots under the outer one: SIGSEGV (BREAK)
# Fixed after this run: 9, 9b (a write is not entered again while one is
# under way: a statement an index expression runs leaves the kept rows
# alone, a write it would make is refused); 14 (kept rows are written even
# if the transaction turned read-only since their changes); 13 (a trigger
# state built in a (sub)transaction that aborts is built again); 10 is
# documented.  Every attempt holds since.
# The end prints "batch-attack-2: N attempts, M breaks".
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use FindBin;
use lib $FindBin::RealBin;
use WebflowTest;

sub attempt { return attack_attempt(@_); }

my $node = new_node('batch_attack_2',
	api_url                  => 'http://127.0.0.1:9',
	'webflow.worker_enabled' => 'off');
sub sql { return $node->safe_psql('postgres', $_[0]); }
# try(SQL): runs SQL, returns "ok: output" or "error: text" (does not die)
sub try
{
	my ($ret, $out, $err) = $node->psql('postgres', $_[0]);
	return $ret == 0 ? "ok: $out" : "error: $err";
}

my $GOOD = 'mismatch=0 count=0 order=0 dup=0';
my $copyfile = $node->basedir . '/copy_u.txt';

sql(q{
CREATE TABLE public.t (id int PRIMARY KEY, v int NOT NULL DEFAULT 0, note text);
CREATE TABLE public.u (id int PRIMARY KEY, v int NOT NULL DEFAULT 0, note text);
CREATE TABLE public.d (id int PRIMARY KEY, v int NOT NULL DEFAULT 0, note text);
CREATE TRIGGER wf AFTER INSERT OR UPDATE OR DELETE ON public.t FOR EACH ROW
  EXECUTE FUNCTION webflow.publish_trigger('580e63fc8c9a982ac9b8b7d1', '{"key":"id"}');
CREATE TRIGGER wf AFTER INSERT OR UPDATE OR DELETE ON public.u FOR EACH ROW
  EXECUTE FUNCTION webflow.publish_trigger('580e63fc8c9a982ac9b8b7d2', '{"key":"id"}');
CREATE CONSTRAINT TRIGGER wf AFTER INSERT OR UPDATE ON public.d DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION webflow.publish_trigger('580e63fc8c9a982ac9b8b7d3', '{"key":"id"}');
CREATE TABLE public.audit (n serial, what text);
INSERT INTO public.d VALUES (0, 0, 'registers the binding');

-- verdict(): the guarantees, for the rows of t, u and d (see the top)
CREATE FUNCTION public.verdict() RETURNS text LANGUAGE sql AS $$
WITH o AS (SELECT b.source::oid AS src, o.id, o.op, o.row_key, o.row_image
           FROM webflow.queue o JOIN webflow.bindings b ON b.id = o.binding_id),
tt AS (SELECT 'public.t'::regclass::oid AS src, x.id::text AS k, to_jsonb(x.*) AS img, x.v FROM public.t x
       UNION ALL SELECT 'public.u'::regclass::oid, x.id::text, to_jsonb(x.*), x.v FROM public.u x
       UNION ALL SELECT 'public.d'::regclass::oid, x.id::text, to_jsonb(x.*), x.v FROM public.d x),
last AS (SELECT DISTINCT ON (src, row_key) src, row_key, op, row_image FROM o ORDER BY src, row_key, id DESC),
cnt AS (SELECT src, row_key, count(*) AS n FROM o WHERE op = 'upsert' GROUP BY 1, 2)
SELECT format('mismatch=%s count=%s order=%s dup=%s',
  (SELECT count(*) FROM tt FULL JOIN last l ON l.src = tt.src AND l.row_key = tt.k
   WHERE (tt.k IS NOT NULL AND tt.v > 0 AND (l.row_key IS NULL OR l.op <> 'upsert' OR l.row_image <> tt.img))
      OR (tt.k IS NULL AND l.op <> 'delete')),
  (SELECT count(*) FROM tt FULL JOIN cnt c ON c.src = tt.src AND c.row_key = tt.k
   WHERE coalesce(c.n, 0) <> coalesce(tt.v, -1)),
  (SELECT count(*) FROM (SELECT (row_image->>'v')::int AS v,
                                lag((row_image->>'v')::int) OVER (PARTITION BY src, row_key ORDER BY id) AS pv
                         FROM o WHERE op = 'upsert') s WHERE s.v < s.pv),
  (SELECT count(*) - count(DISTINCT id) FROM webflow.queue))
$$;
-- details(): the keys that fail, for the report
CREATE FUNCTION public.details() RETURNS text LANGUAGE sql AS $$
WITH o AS (SELECT b.source::regclass::text AS src, o.id, o.op, o.row_key, o.row_image->>'v' AS v
           FROM webflow.queue o JOIN webflow.bindings b ON b.id = o.binding_id),
tt AS (SELECT 't' AS src, id::text AS k, v FROM public.t UNION ALL SELECT 'u', id::text, v FROM public.u
       UNION ALL SELECT 'd', id::text, v FROM public.d),
per AS (SELECT src, row_key, string_agg(op || ':' || coalesce(v, '-'), ',' ORDER BY id) AS q, count(*) AS n FROM o GROUP BY 1, 2)
SELECT coalesce(string_agg(format('%s.%s v=%s outbox=[%s]', tt.src, tt.k, tt.v, coalesce(per.q, '')), '; '), '')
FROM tt LEFT JOIN per ON per.src = tt.src AND per.row_key = tt.k
WHERE coalesce(per.n, 0) <> tt.v
$$;
-- reset(nt, nu): t has keys 1..nt, u keys 1..nu, d none, all at v = 0; no outbox rows
CREATE FUNCTION public.reset(nt int, nu int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  ALTER TABLE public.t DISABLE TRIGGER USER; ALTER TABLE public.u DISABLE TRIGGER USER;
  ALTER TABLE public.d DISABLE TRIGGER USER;
  DELETE FROM public.t; DELETE FROM public.u; DELETE FROM public.d;
  INSERT INTO public.t SELECT g, 0, 'x' FROM generate_series(1, nt) g;
  INSERT INTO public.u SELECT g, 0, 'x' FROM generate_series(1, nu) g;
  ALTER TABLE public.t ENABLE TRIGGER USER; ALTER TABLE public.u ENABLE TRIGGER USER;
  ALTER TABLE public.d ENABLE TRIGGER USER;
  DELETE FROM webflow.outbox_packed; DELETE FROM webflow.outbox; DELETE FROM public.audit;
END $$;
});
sql(qq{COPY (SELECT g, 1, 'copied' FROM generate_series(5001, 6200) g) TO '$copyfile'});
sub verdict { my $v = sql('SELECT public.verdict()'); return $v eq $GOOD ? $v : $v . ' {' . sql('SELECT public.details()') . '}'; }

# ---- 0. warm-up: the verdict itself on a plain statement
sql(q{SELECT public.reset(3, 3)});
sql(q{UPDATE public.t SET v = v + 1; UPDATE public.t SET v = v + 1 WHERE id = 2});
my $v0 = verdict();
attempt($v0 eq $GOOD, "0: plain UPDATEs, verdict: $v0");

# ---- 1. three levels of EXCEPTION blocks in an owner's AFTER trigger, each
# writing u (and its handler writing u too, in the parent), every
# combination of levels that commit and abort across eight rows; the
# trigger named before and after the publish trigger
sql(q{
CREATE FUNCTION public.nest3() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE b int := NEW.id - 1;
BEGIN
  IF NEW.note <> 'n3' THEN RETURN NULL; END IF;
  BEGIN  -- level 1
    UPDATE public.u SET v = v + 1 WHERE id = 100 + NEW.id;
    BEGIN  -- level 2
      UPDATE public.u SET v = v + 1 WHERE id = 200 + NEW.id;
      BEGIN  -- level 3
        UPDATE public.u SET v = v + 1 WHERE id = 300 + NEW.id;
        IF b & 4 <> 0 THEN RAISE EXCEPTION 'l3'; END IF;
      EXCEPTION WHEN raise_exception THEN
        UPDATE public.u SET v = v + 1 WHERE id = 1300 + NEW.id;
      END;
      IF b & 2 <> 0 THEN RAISE EXCEPTION 'l2'; END IF;
    EXCEPTION WHEN raise_exception THEN
      UPDATE public.u SET v = v + 1 WHERE id = 1200 + NEW.id;
    END;
    IF b & 1 <> 0 THEN RAISE EXCEPTION 'l1'; END IF;
  EXCEPTION WHEN raise_exception THEN
    UPDATE public.u SET v = v + 1 WHERE id = 1100 + NEW.id;
  END;
  RETURN NULL;
END $$;
});
for my $trg ('aa_nest3', 'zz_nest3')
{
	sql(q{SELECT public.reset(20, 2000)});
	sql(qq{CREATE TRIGGER $trg AFTER UPDATE ON public.t FOR EACH ROW EXECUTE FUNCTION public.nest3()});
	my $r = try(q{UPDATE public.t SET v = v + 1, note = 'n3' WHERE id <= 8});
	sql(q{UPDATE public.t SET v = v + 1, note = 'x' WHERE id <= 4});
	my $r2 = try(q{BEGIN; UPDATE public.t SET v = v + 1, note = 'n3' WHERE id BETWEEN 3 AND 8; SAVEPOINT s;
	               UPDATE public.t SET v = v + 1, note = 'n3' WHERE id <= 8; ROLLBACK TO s;
	               UPDATE public.t SET v = v + 1, note = 'x' WHERE id = 1; COMMIT;});
	my $v = verdict();
	my $u = sql(q{SELECT count(*) FILTER (WHERE v > 0) FROM public.u});
	attempt($r =~ /^ok/ && $r2 =~ /^ok/ && $v eq $GOOD,
		"1 ($trg): three nested EXCEPTION blocks per row (8 commit/abort combinations, handlers writing), in a statement, then in a transaction with a rolled-back savepoint: $v ($u u rows changed; $r; $r2)");
	sql(qq{DROP TRIGGER $trg ON public.t});
}

# ---- 2. sibling blocks: the kept rows written in a block that aborts, put
# back, written in a second that aborts, put back again, written in a
# third that commits; then a block with a query only that aborts; 1500 rows
# (so 500 kept at the moment the blocks start, after a flush of 1000)
sql(q{
CREATE FUNCTION public.sibs() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE n int;
BEGIN
  IF NEW.note <> 'sib' OR NEW.id % 100 <> 0 THEN RETURN NULL; END IF;
  BEGIN UPDATE public.u SET v = v + 1, note = 'in' WHERE id = NEW.id; RAISE EXCEPTION 'a';
  EXCEPTION WHEN raise_exception THEN NULL; END;
  BEGIN UPDATE public.u SET v = v + 1, note = 'in' WHERE id = NEW.id; RAISE EXCEPTION 'b';
  EXCEPTION WHEN raise_exception THEN NULL; END;
  BEGIN UPDATE public.u SET v = v + 1, note = 'in' WHERE id = NEW.id;
  EXCEPTION WHEN raise_exception THEN NULL; END;
  BEGIN SELECT count(*) INTO n FROM public.audit; RAISE EXCEPTION 'd';
  EXCEPTION WHEN raise_exception THEN NULL; END;
  RETURN NULL;
END $$;
CREATE TRIGGER zz_sibs AFTER UPDATE ON public.t FOR EACH ROW EXECUTE FUNCTION public.sibs();
CREATE TRIGGER zz_sibs AFTER UPDATE ON public.u FOR EACH ROW EXECUTE FUNCTION public.sibs();
});
sql(q{SELECT public.reset(2500, 2500)});
my $r2 = try(q{UPDATE public.t SET v = v + 1, note = 'sib' WHERE id <= 1500});
my $r2b = try(q{UPDATE public.u SET v = v + 1, note = 'sib' WHERE id > 1000});
my $v2 = verdict();
attempt($r2 =~ /^ok/ && $r2b =~ /^ok/ && $v2 eq $GOOD,
	"2: 1500-row UPDATEs whose trigger runs four sibling blocks every 100 rows (abort, abort, commit, query+abort), on t and on u itself: $v2");
sql(q{DROP TRIGGER zz_sibs ON public.t; DROP TRIGGER zz_sibs ON public.u});

# ---- 3. two statement depths: t's trigger runs, in a block, an UPDATE of
# other rows of t (depth 2) whose own trigger runs blocks that abort and
# commit, and for one row raises an error that leaves the depth-2
# statement; the outer block then commits or aborts
sql(q{
CREATE FUNCTION public.deep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.note = 'outer' THEN
    BEGIN
      UPDATE public.t SET v = v + 1, note = 'inner' WHERE id BETWEEN 10 * NEW.id AND 10 * NEW.id + 4;
      IF NEW.id = 2 THEN RAISE EXCEPTION 'outer abort'; END IF;
    EXCEPTION WHEN raise_exception OR division_by_zero THEN
      UPDATE public.u SET v = v + 1 WHERE id = NEW.id;
    END;
  ELSIF NEW.note = 'inner' THEN
    BEGIN
      UPDATE public.u SET v = v + 1 WHERE id = 100 + NEW.id;
      IF NEW.id % 2 = 0 THEN RAISE EXCEPTION 'inner abort'; END IF;
    EXCEPTION WHEN raise_exception THEN NULL;
    END;
    IF NEW.id = 34 THEN PERFORM 1 / 0; END IF;   -- leaves the depth-2 statement
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER zz_deep AFTER UPDATE ON public.t FOR EACH ROW EXECUTE FUNCTION public.deep();
});
sql(q{SELECT public.reset(60, 200)});
my $r3 = try(q{UPDATE public.t SET v = v + 1, note = 'outer' WHERE id <= 4});
my $v3 = verdict();
attempt($r3 =~ /^ok/ && $v3 eq $GOOD,
	"3: rows of depth 1 written inside a block, a depth-2 statement's rows written in its rows' blocks (abort/commit), an error leaving the depth-2 statement caught by the outer block, an outer block that aborts: $v3");
sql(q{DROP TRIGGER zz_deep ON public.t});

# ---- 4. COPY FROM inside a block of a trigger: its rows are kept for the
# block (depth 1, the block's subtransaction) and written when the block
# commits (PRE_COMMIT_SUB), or dropped when it aborts; then a unique index
# a superuser put on the outbox makes that PRE_COMMIT_SUB flush fail, and
# the block catches it
sql(qq{
CREATE FUNCTION public.copyblk() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
  IF NEW.note = 'copy-commit' THEN
    BEGIN
      EXECUTE format('COPY public.u FROM %L', '$copyfile');
    EXCEPTION WHEN unique_violation THEN INSERT INTO public.audit (what) VALUES ('copy refused');
    END;
  ELSIF NEW.note = 'copy-abort' THEN
    BEGIN
      EXECUTE format('COPY public.u FROM %L', '$copyfile');
      RAISE EXCEPTION 'undo the copy';
    EXCEPTION WHEN raise_exception THEN NULL;
    END;
  END IF;
  RETURN NULL;
END \$\$;
CREATE TRIGGER zz_copyblk AFTER UPDATE ON public.t FOR EACH ROW EXECUTE FUNCTION public.copyblk();
});
sql(q{SELECT public.reset(5, 10)});
my $r4a = try(q{UPDATE public.t SET v = v + 1, note = 'copy-abort' WHERE id = 1});
my $r4b = try(q{UPDATE public.t SET v = v + 1, note = 'copy-commit' WHERE id = 2});
my $v4a = verdict();
my $n4 = sql(q{SELECT count(*) FROM public.u WHERE id > 5000});
attempt($r4a =~ /^ok/ && $r4b =~ /^ok/ && $v4a eq $GOOD && $n4 eq '1200',
	"4a: COPY of 1200 rows inside a trigger's block, rolled back, then committed (the last 200 written at the block's commit): $v4a, $n4 copied rows");
# the flush at the block's commit fails: key 6150 already has an outbox row,
# and a partial unique index says it may have one only
sql(q{SELECT public.reset(5, 10)});
sql(q{INSERT INTO webflow.outbox (binding_id, op, row_key) VALUES (-1, 'delete', '6150');
      CREATE UNIQUE INDEX outbox_uq_attack ON webflow.outbox (row_key) WHERE row_key = '6150';});
my $r4c = try(q{UPDATE public.t SET v = v + 1, note = 'copy-commit' WHERE id = 3; SELECT string_agg(what, ',') FROM public.audit});
sql(q{DROP INDEX webflow.outbox_uq_attack; DELETE FROM webflow.outbox WHERE binding_id = -1});
my $v4c = verdict();
my $n4c = sql(q{SELECT count(*) FROM public.u WHERE id > 5000});
attempt($r4c =~ /^ok/ && $v4c eq $GOOD && $n4c eq '0',
	"4b: that COPY's block whose PRE_COMMIT_SUB flush hits a unique index of the outbox, caught by the block: $v4c, $n4c copied rows left ($r4c)");
sql(q{DROP TRIGGER zz_copyblk ON public.t});

# ---- 5. the flush itself fails inside an owner's block: another session
# holds a lock on the outbox, the kept row's write (at the block's first
# query) waits and hits lock_timeout, the owner's handler (meant for its
# own work) catches it; the trigger then waits (a simple expression: no
# query) until the lock is gone, and the statement ends
sql(q{
CREATE FUNCTION public.lt() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE x text;
BEGIN
  IF NEW.note <> 'lt' THEN RETURN NULL; END IF;
  BEGIN
    PERFORM 1;
  EXCEPTION WHEN lock_not_available THEN
    x := set_config('wfatk.seen', 'timed out', false);
  END;
  x := pg_sleep(2)::text;
  RETURN NULL;
END $$;
CREATE TRIGGER zz_lt AFTER UPDATE ON public.t FOR EACH ROW EXECUTE FUNCTION public.lt();
});
sql(q{SELECT public.reset(5, 5)});
my $r5;
{
	my ($in, $out, $err) = ('', '', '');
	my $b = IPC::Run::start([ 'psql', '-X', '-qAt', '-d', $node->connstr('postgres') ],
		'<', \$in, '>', \$out, '2>', \$err, IPC::Run::timeout(60));
	$in .= "BEGIN; LOCK TABLE webflow.outbox IN SHARE MODE; SELECT 'locked'; SELECT pg_sleep(1.2); COMMIT; SELECT 'released';\n";
	$b->pump until $out =~ /locked/;
	$r5 = try(q{SET lock_timeout = '300ms'; UPDATE public.t SET v = v + 1, note = 'lt' WHERE id = 1;
	            SELECT current_setting('wfatk.seen', true)});
	$b->pump until $out =~ /released/;
	$in .= "\\q\n";
	$b->finish;
}
my $v5 = verdict();
attempt($r5 =~ /timed out/ && $v5 eq $GOOD,
	"5: the kept row's write in an owner's block hits lock_timeout (outbox locked by another session) and the owner's handler catches it; the statement goes on: $v5 ($r5)");
sql(q{DROP TRIGGER zz_lt ON public.t});

# ---- 6. deferred publish triggers fired by SET CONSTRAINTS inside a block
# that aborts (their events are fired again at commit), outside and inside
# the trigger phase of a statement
sql(q{
CREATE FUNCTION public.setc_block() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    SET CONSTRAINTS ALL IMMEDIATE;
    UPDATE public.u SET v = v + 1 WHERE id = 1;
    RAISE EXCEPTION 'undo';
  EXCEPTION WHEN raise_exception THEN NULL;
  END;
  SET CONSTRAINTS ALL DEFERRED;
  RETURN 'done';
END $$;
CREATE FUNCTION public.setc_trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.note = 'setc' THEN PERFORM public.setc_block(); END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER zz_setc AFTER UPDATE ON public.t FOR EACH ROW EXECUTE FUNCTION public.setc_trg();
});
sql(q{SELECT public.reset(5, 5)});
my $r6 = try(q{BEGIN; INSERT INTO public.d VALUES (1, 1, 'a'), (2, 1, 'b'); SELECT public.setc_block();
               UPDATE public.d SET v = v + 1 WHERE id = 1;
               UPDATE public.t SET v = v + 1, note = 'setc' WHERE id <= 2; COMMIT;});
my $v6 = verdict();
attempt($r6 =~ /^ok/ && $v6 eq $GOOD,
	"6: deferred publish rows fired by SET CONSTRAINTS ALL IMMEDIATE in a block that aborts (at depth 0 and inside a trigger), fired again at commit: $v6");
sql(q{DROP TRIGGER zz_setc ON public.t});

# ---- 7. procedures: CALL inside a transaction with savepoints around it,
# and a non-atomic procedure looping over blocks and COMMITs
sql(q{
CREATE PROCEDURE public.p7(k int) LANGUAGE plpgsql AS $$
BEGIN
  UPDATE public.t SET v = v + 1 WHERE id <= 3;
  BEGIN
    UPDATE public.u SET v = v + 1 WHERE id = k;
    RAISE EXCEPTION 'x';
  EXCEPTION WHEN raise_exception THEN UPDATE public.t SET v = v + 1 WHERE id = k;
  END;
END $$;
CREATE PROCEDURE public.p7loop() LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1..5 LOOP
    UPDATE public.t SET v = v + 1 WHERE id <= 4;
    BEGIN
      UPDATE public.u SET v = v + 1 WHERE id <= 4;
      IF i % 2 = 0 THEN RAISE EXCEPTION 'y'; END IF;
    EXCEPTION WHEN raise_exception THEN NULL;
    END;
    IF i = 3 THEN ROLLBACK; ELSE COMMIT; END IF;
  END LOOP;
END $$;
});
sql(q{SELECT public.reset(5, 5)});
my $r7 = try(q{BEGIN; SAVEPOINT a; CALL public.p7(1); SAVEPOINT b; CALL public.p7(2); ROLLBACK TO b;
               CALL public.p7(3); RELEASE a; SAVEPOINT c; CALL public.p7(4); ROLLBACK TO c; COMMIT;});
my $r7b = try(q{CALL public.p7loop()});
my $v7 = verdict();
attempt($r7 =~ /^ok/ && $r7b =~ /^ok/ && $v7 eq $GOOD,
	"7: CALLs of a procedure with a block between savepoints rolled back and released; a procedure looping over blocks, COMMIT and ROLLBACK: $v7");

# ---- 8. a FOR loop over UPDATE ... RETURNING in a trigger, with a block per
# returned row (half of them aborting) and a query in the loop
sql(q{
CREATE FUNCTION public.forloop() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  IF NEW.note <> 'loop' THEN RETURN NULL; END IF;
  FOR r IN UPDATE public.u SET v = v + 1 WHERE id BETWEEN 10 * NEW.id AND 10 * NEW.id + 5 RETURNING id LOOP
    BEGIN
      UPDATE public.u SET v = v + 1 WHERE id = r.id + 500;
      IF r.id % 2 = 0 THEN RAISE EXCEPTION 'z'; END IF;
    EXCEPTION WHEN raise_exception THEN
      UPDATE public.t SET v = v + 1 WHERE id = 100 + r.id % 3;
    END;
  END LOOP;
  RETURN NULL;
END $$;
CREATE TRIGGER zz_loop AFTER UPDATE ON public.t FOR EACH ROW EXECUTE FUNCTION public.forloop();
});
sql(q{SELECT public.reset(110, 700)});
my $r8 = try(q{UPDATE public.t SET v = v + 1, note = 'loop' WHERE id <= 6});
my $v8 = verdict();
attempt($r8 =~ /^ok/ && $v8 eq $GOOD, "8: FOR loop over UPDATE ... RETURNING in a trigger, a block per row: $v8");
sql(q{DROP TRIGGER zz_loop ON public.t});

# ---- 10. what a later AFTER trigger of the same statement sees: the owner
# reads the outbox for the change its statement just queued (its first
# query is the one whose ExecutorStart writes the kept row)
sql(q{
CREATE FUNCTION public.peek() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE n int;
BEGIN
  SELECT count(*) INTO n FROM webflow.outbox WHERE row_key = NEW.id::text AND row_image->>'v' = NEW.v::text;
  INSERT INTO public.audit (what) VALUES (NEW.id || ':' || n);
  RETURN NULL;
END $$;
CREATE TRIGGER zz_peek AFTER INSERT OR UPDATE ON public.t FOR EACH ROW EXECUTE FUNCTION public.peek();
});
sql(q{SELECT public.reset(5, 5)});
# the direct path (COPY: each row written when its trigger fires) for contrast
my $copy10 = $node->basedir . '/copy10.csv';
open(my $fh10, '>', $copy10) or die; print $fh10 "20,1,c\n21,1,c\n"; close $fh10;
sql(qq{COPY public.t FROM '$copy10' CSV});
my $seen10c = sql(q{SELECT string_agg(what, ',' ORDER BY n) FROM public.audit});
sql(q{DELETE FROM public.audit});
sql(q{UPDATE public.t SET v = v + 1 WHERE id <= 2});
my $seen10 = sql(q{SELECT string_agg(what, ',' ORDER BY n) FROM public.audit});
my $v10 = verdict();
# (documented since: a statement's outbox rows are in webflow.outbox when
# its triggers are done, not to a query of a later trigger of the same
# statement; what must hold is that they are there after it)
note("10: a later AFTER trigger's query saw '$seen10' (batched UPDATE), '$seen10c' (COPY, row by row)");
attempt($seen10 eq '1:0,2:0' && $v10 eq $GOOD,
	"10: a later AFTER trigger of the statement reads webflow.outbox for the change it fires for: the batched UPDATE's rows are there after the statement ($v10), not yet to that trigger ('$seen10', as documented)");
sql(q{DROP TRIGGER zz_peek ON public.t});

# ---- 11. three sessions at once on overlapping keys: bulk increments,
# savepoints rolled back and released, an owner's trigger with blocks;
# retried on deadlock.  Per key, the ids must follow the increments.
sql(q{
CREATE FUNCTION public.conc() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.id % 7 = 0 THEN
    BEGIN
      UPDATE public.u SET v = v + 1 WHERE id = NEW.id % 50 + 1;
      IF NEW.v % 2 = 0 THEN RAISE EXCEPTION 'c'; END IF;
    EXCEPTION WHEN raise_exception THEN NULL;
    END;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER zz_conc AFTER UPDATE ON public.t FOR EACH ROW EXECUTE FUNCTION public.conc();
});
sql(q{SELECT public.reset(1500, 60)});
{
	my @h;
	for my $s (0 .. 2)
	{
		my $script = '';
		for my $i (1 .. 12)
		{
			my $lo = ($s * 300 + $i * 37) % 1200 + 1;
			my $hi = $lo + 300;
			my $what = ($i + $s) % 3 == 0 ? 'ROLLBACK TO s' : 'RELEASE s';
			$script .= "BEGIN; UPDATE public.t SET v = v + 1 WHERE id BETWEEN $lo AND $hi;"
			  . " SAVEPOINT s; UPDATE public.t SET v = v + 1 WHERE id % 3 = $s; $what;"
			  . " UPDATE public.t SET v = v + 1 WHERE id BETWEEN " . ($hi - 100) . " AND " . ($hi + 50) . "; COMMIT;\n";
		}
		my ($out, $err) = ('', '');
		push @h, [ IPC::Run::start([ 'psql', '-X', '-qAt', '-v', 'ON_ERROR_STOP=0', '-d', $node->connstr('postgres') ],
			'<', \$script, '>', \$out, '2>', \$err, IPC::Run::timeout(120)), \$err ];
	}
	$_->[0]->finish for @h;
	my $errs = join('', map { ${ $_->[1] } } @h);
	my @other = grep { !/deadlock|current transaction is aborted|^\s*$|DETAIL|HINT|CONTEXT|Process \d+|SQL statement|PL\/pgSQL/ } split /\n/, $errs;
	my $v11 = verdict();
	my $n11 = sql(q{SELECT count(*) FROM webflow.outbox});
	attempt(!@other && $v11 eq $GOOD,
		"11: three sessions, 12 transactions each of bulk increments of overlapping keys with savepoints and an owner's blocks: $v11 ($n11 outbox rows" . (@other ? "; error: $other[0]" : '') . ")");
}
sql(q{DROP TRIGGER zz_conc ON public.t});

# ---- 13. (not the batch: outbox.c) a trigger made by hand registers its
# binding in webflow.bindings at its first row; when that row's
# transaction rolls back, the session keeps the binding's id: its later
# rows name a binding that does not exist, and no pass ever sends them
sql(q{CREATE TABLE public.h (id int PRIMARY KEY, v int);
      CREATE TRIGGER wf AFTER INSERT OR UPDATE OR DELETE ON public.h FOR EACH ROW
        EXECUTE FUNCTION webflow.publish_trigger('580e63fc8c9a982ac9b8b7d5', '{"key":"id"}');});
my $r13 = try(q{BEGIN; INSERT INTO public.h VALUES (1, 1); ROLLBACK; INSERT INTO public.h VALUES (2, 2);});
my $o13 = sql(q{SELECT string_agg(o.row_key || '@binding ' || o.binding_id || CASE WHEN b.id IS NULL THEN ' (no such binding)' ELSE '' END, ', ')
                FROM webflow.outbox o LEFT JOIN webflow.bindings b ON b.id = o.binding_id
                WHERE o.binding_id NOT IN (SELECT x.id FROM webflow.bindings x
                                           WHERE x.source IN ('public.t'::regclass, 'public.u'::regclass, 'public.d'::regclass))});
my $b13 = sql(q{SELECT count(*) FROM webflow.bindings WHERE source = 'public.h'::regclass});
attempt($r13 =~ /^ok/ && $o13 !~ /no such binding/ && $b13 eq '1',
	"13: (outbox.c, not the batch) a hand-made trigger's first row rolled back, then a row committed in the same session: its outbox row: '$o13', bindings of h: $b13");

# ---- 14. a later AFTER trigger makes the rest of the transaction read-only
# (set_config in a PL/pgSQL expression: no query, no utility command, so
# nothing writes the kept row first); the kept row is written after that,
# and its nextval refuses a read-only transaction.  Row by row, the row
# was written before the trigger ran, and the UPDATE succeeded.
sql(q{
CREATE FUNCTION public.ro() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE x text;
BEGIN
  IF NEW.note = 'ro' THEN x := set_config('transaction_read_only', 'on', true); END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER zz_ro AFTER INSERT OR UPDATE ON public.t FOR EACH ROW EXECUTE FUNCTION public.ro();
});
sql(q{SELECT public.reset(5, 5)});
my $copy14 = $node->basedir . '/copy14.csv';
open(my $fh14, '>', $copy14) or die; print $fh14 "30,1,ro\n"; close $fh14;
my $r14c = try(qq{COPY public.t FROM '$copy14' CSV});
$r14c =~ s/\n.*//s;
my $r14 = try(q{UPDATE public.t SET v = v + 1, note = 'ro' WHERE id = 1});
$r14 =~ s/\n.*//s;
my $v14 = verdict();
attempt($r14 =~ /^ok/ && $v14 eq $GOOD,
	"14: a later AFTER trigger sets transaction_read_only (a PL/pgSQL expression): COPY (direct): $r14c; UPDATE (batched): $r14; $v14");
sql(q{DROP TRIGGER zz_ro ON public.t});

# ---- 12. the server log: no crash, no leak warning, no webflow warning
my $log = slurp_file($node->logfile);
my @bad = grep { /leak|was not closed|TRAP|terminated by signal|server process .* was terminated|WARNING:  webflow/ } split /\n/, $log;
attempt(!@bad, '12: no crash, leak or webflow warning in the server log' . (@bad ? ": $bad[0]" : ''));

# ---- 9. an expression index on the outbox (a superuser's, on a
# normalising SQL function that PostgreSQL cannot inline): the writer
# evaluates it while it writes the kept rows; the function's query starts
# an executor (ExecutorStart hook) in the middle of the batch's own write
sql(q{
CREATE FUNCTION public.norm_key(k text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT lower(k) LIMIT 1 $$;
CREATE INDEX outbox_norm_attack ON webflow.outbox (public.norm_key(row_key));
});
sql(q{SELECT public.reset(5, 5)});
my $logpos9 = -s $node->logfile;
# the direct path (COPY: rows written one by one at once) with the index
my $copy9 = $node->basedir . '/copy9.csv';
open(my $fh9, '>', $copy9) or die; print $fh9 "9,1,copied\n"; close $fh9;
my $r9c = try(qq{COPY public.t FROM '$copy9' CSV});
$r9c =~ s/\n.*//s;
# the batched path: a one-row, then a three-row UPDATE
my $r9a = try(q{UPDATE public.t SET v = v + 1 WHERE id = 1});
$r9a =~ s/\n.*//s;
$node->poll_query_until('postgres', 'SELECT true') or die 'server did not come back';
my $r9 = try(q{UPDATE public.t SET v = v + 1 WHERE id <= 3});
$r9 =~ s/\n.*//s;
$node->poll_query_until('postgres', 'SELECT true') or die 'server did not come back';
my $v9 = verdict();
my $crash9 = (substr(slurp_file($node->logfile), $logpos9) =~ /(terminated by signal \d+: [^\n]*)/) ? $1 : 'no crash';
attempt($crash9 eq 'no crash' && $r9c =~ /^ok/ && $r9a =~ /^ok/ && $r9 =~ /^ok/ && $v9 eq $GOOD,
	"9: expression index on webflow.outbox over a non-inlinable IMMUTABLE SQL function: COPY (direct write): $r9c; one-row UPDATE (batched): $r9a; three-row UPDATE: $r9; $v9; server: $crash9");
# (after a crash the server restarts: wait for it, then clean up)
$node->poll_query_until('postgres', 'SELECT true') or die 'server did not come back';
sql(q{DROP INDEX webflow.outbox_norm_attack});

# 9b. not the endless recursion: an index function that runs one query
# once per session (a flag set in a PL/pgSQL expression first) re-enters
# the batch's write once; the outer write then goes on with the writer's
# slots the inner one cleared
sql(q{
CREATE FUNCTION public.norm_once(k text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE x text;
BEGIN
  IF coalesce(current_setting('wfatk.once', true), '') = '' THEN
    x := set_config('wfatk.once', 'done', false);
    PERFORM 1;
  END IF;
  RETURN lower(k);
END $$;
CREATE INDEX outbox_once_attack ON webflow.outbox (public.norm_once(row_key));
});
sql(q{SELECT public.reset(5, 5)});
my $logpos9b = -s $node->logfile;
my $r9b = try(q{UPDATE public.t SET v = v + 1 WHERE id <= 3});
$r9b =~ s/\n.*//s;
$node->poll_query_until('postgres', 'SELECT true') or die 'server did not come back';
my $v9b = verdict();
my $crash9b = (substr(slurp_file($node->logfile), $logpos9b) =~ /(terminated by signal \d+: [^\n]*)/) ? $1 : 'no crash';
attempt($crash9b eq 'no crash' && $r9b =~ /^ok/ && $v9b eq $GOOD,
	"9b: expression index whose PL/pgSQL function runs one query once per session: three-row UPDATE: $r9b; $v9b; server: $crash9b");
sql(q{DROP INDEX webflow.outbox_once_attack});

attack_summary('batch-attack-2');
done_testing();
